/* tests/ckutil.h - small checkpoints and file-system checks for the tests of
 * the conversion paths (test_errors, test_ckhostile, test_signals). */
#ifndef KBIT_TESTS_CKUTIL_H
#define KBIT_TESTS_CKUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint/safetensors.h"
#include "kbit.h"
#include "tap.h"

/* A model directory made with the public writer: config.json,
 * `shards` shard files (1: model.safetensors; more: an index too),
 * tokenizer.json and 1_Pooling/config.json. Its tensors: an embedding,
 * per layer q_proj [hidden, hidden], up_proj [2*hidden, hidden] with a bias,
 * a norm, and lm_head, in dtype (F16, BF16 or F32); values from seed.
 * Returns 0, or -1 with the error printed as a TAP diagnostic. */
int ck_write_model(const char *dir, int layers, int hidden, int shards, kbit_dtype dtype,
                   uint64_t seed);

/* One .safetensors file of `count` tiny plain tensors ("t.<i>.bias", F32 [1]),
 * written directly (not through the writer). Returns 0 or -1. */
int ck_write_many(const char *path, int64_t count);

/* A .safetensors file with this header text (padded to 8) and data_len data
 * bytes (data, or zeros when NULL). Returns 0 or -1. */
int ck_write_st(const char *path, const char *header, const void *data, size_t data_len);

/* A whole file as a NUL-terminated malloc'd string (*len its length); NULL if
 * it cannot be read. */
char *ck_read_file(const char *path, size_t *len);
/* Write text to path (replacing it); returns 0 or -1. */
int ck_write_file(const char *path, const void *data, size_t len);

/* Write a NUL-terminated text to path (replacing it); bails out on failure. */
void ck_write_text(const char *path, const char *text);
/* "root/" followed by the printf-formatted rest, in one of 8 buffers used in
 * turn (valid until 8 more calls). */
char *ck_path(const char *root, const char *fmt, ...) TAP_PRINTF(2, 3);

/* Whether a path exists (lstat). */
int ck_exists(const char *path);
/* Whether two files can both be read and hold the same bytes. */
int ck_same_file(const char *a, const char *b);
/* Whether anything matches the shell pattern (a temporary left behind). */
int ck_any_match(const char *pattern);
/* Entries of dir (not . and ..) whose name starts with prefix (0 if the directory cannot be
 * read); the first one's name into first (size len) when given. */
int ck_count_prefix(const char *dir, const char *prefix, char *first, size_t len);
/* rm -rf (ignores errors). */
void ck_rm_rf(const char *path);
/* A new empty directory under the current one, named after tag: its path
 * (static storage, one per call site is fine). */
char *ck_scratch_dir(const char *tag);

/* A stored tensor's bytes (read from its file into one of 16 buffers used
 * in turn: valid until 16 more calls); NULL if they cannot be read. */
const void *ck_tensor_bytes(const kbit_st_tensor *t);

/* Seconds on the monotonic clock. */
double ck_now(void);

#endif
