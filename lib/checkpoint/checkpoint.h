/* lib/checkpoint/checkpoint.h - the checkpoint reader's internals, shared by
 * checkpoint.c (open, look up, load) and convert.c (whole-checkpoint
 * quantize / dequantize). */
#ifndef KBIT_LIB_CHECKPOINT_H
#define KBIT_LIB_CHECKPOINT_H

#include "checkpoint/bnb.h"
#include "checkpoint/jsonload.h"
#include "kbit.h"
#include "checkpoint/safetensors.h"
#include "runtime/device.h"

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
    size_t config_len;
    char *index_name;      /* "model.safetensors.index.json" (diffusers:
                              "diffusion_pytorch_model.safetensors.index.json") when
                              sharded, else NULL */
    int diffusers;         /* a diffusers model folder (diffusion_pytorch_model*) */
    kbit_st_file **shards;
    char **shard_names;    /* file names inside dir (the path for a single file) */
    size_t nshards;
    ck_entry *e;           /* sorted by name */
    size_t count;
};

/* Parse config.json as Python's json.loads does (jsonload.h): a JSON object
 * or KBIT_EFORMAT naming `where` and the real reason (KBIT_ENOMEM). With out,
 * the tree (and its raw nodes in raw) is returned. */
kbit_status kbit_ck_parse_config(const char *where, const char *text, size_t len, json_t **out,
                                 kbit_json_raw *raw);

/* "dir/name" in a new string (NULL when out of memory). */
char *kbit_ck_join(const char *dir, const char *name);

/* The entry of a logical tensor, NULL if absent. */
const ck_entry *kbit_ck_find(const kbit_checkpoint *ck, const char *name);

/* A stored tensor's bytes, read from its file into device memory: dst (its
 * nbytes), or a new kbit_malloc'd buffer (upload). KBIT_EIO when the file
 * cannot be read or has become shorter. */
kbit_status kbit_ck_read_to_device(kbit_device *dev, const kbit_st_tensor *t, void *dst);
kbit_status kbit_ck_upload(kbit_device *dev, const kbit_st_tensor *t, void **out);
/* Whether device memory is host memory (the CPU driver). */
int kbit_ck_device_is_host(const kbit_device *dev);

#endif
