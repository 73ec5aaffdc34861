/* lib/checkpoint/checkpoint.h - the checkpoint reader's internals, shared by
 * checkpoint.c (open, look up, load) and convert.c (whole-checkpoint
 * quantize / dequantize). */
#ifndef KBIT_LIB_CHECKPOINT_H
#define KBIT_LIB_CHECKPOINT_H

#include "checkpoint/bnb.h"
#include "kbit.h"
#include "checkpoint/safetensors.h"

/* One logical tensor: a plain tensor, or a quantized weight with the
 * auxiliary tensors that belong to it. */
typedef struct ck_entry {
    const char *name;
    int shard;                 /* index into kbit_checkpoint.shards */
    kbit_tensor_info info;
    const kbit_st_tensor *t;   /* the stored tensor under `name` */
    /* 4-bit */
    const kbit_st_tensor *absmax, *quant_map, *nested_absmax, *nested_quant_map, *blob;
    kbit_bnb_qs qs;
    /* 8-bit */
    const kbit_st_tensor *scb, *format;
} ck_entry;

struct kbit_checkpoint {
    char *dir;             /* the directory, NULL for a single file */
    char *config;          /* config.json text, NULL if none */
    char *index_name;      /* "model.safetensors.index.json" when sharded, else NULL */
    kbit_st_file **shards;
    char **shard_names;    /* file names inside dir (the path for a single file) */
    size_t nshards;
    ck_entry *e;           /* sorted by name */
    size_t count;
};

/* "dir/name" in a new string (NULL when out of memory). */
char *kbit_ck_join(const char *dir, const char *name);

/* The entry of a logical tensor, NULL if absent. */
const ck_entry *kbit_ck_find(const kbit_checkpoint *ck, const char *name);

/* Copy n bytes from a (possibly unaligned) mapped tensor to device memory
 * allocated here (kbit_malloc). */
kbit_status kbit_ck_upload(kbit_device *dev, const kbit_st_tensor *t, void **out);

#endif
