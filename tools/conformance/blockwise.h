/* tools/conformance/blockwise.h - the runner of the element-wise cases (the
 * quant4 and quant8 families): one case runs on the reference and on every
 * target that implements the family, with outputs pre-filled with different
 * bytes on the two sides (0xa5 and 0x5a), so that an element either leaves
 * unwritten shows up as a mismatch; every output is compared bit for bit. */
#ifndef KBIT_CONFORMANCE_BLOCKWISE_H
#define KBIT_CONFORMANCE_BLOCKWISE_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "numbers.h"

typedef struct bw_case {
    int op;                /* the family's op number (its run function switches on it) */
    char desc[200];
    kbit_quant_type type;
    kbit_dtype dtype;      /* input dtype (quantize) */
    kbit_dtype out_dtype;  /* output dtype (dequantize) */
    int64_t n;             /* elements (nblocks for the nested ops) */
    int blocksize;
    const float *code;     /* 8-bit map / code2; NULL = default */
    float offset;          /* nested dequantize */
    int nested;            /* quant state */
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    void *in[3];           /* host inputs (freed by bw_everywhere) */
    size_t in_bytes[3];
} bw_case;

typedef struct bw_out {
    const char *name;
    int dtype;             /* tap_cmp_dtype code */
    size_t n;
    void *host;
} bw_out;

typedef struct bw_result {
    kbit_status st;
    char err[512];
    int nout;
    bw_out out[8];
} bw_result;

/* Run one case on dev, outputs pre-filled with fill; set res->st and add
 * every output (bw_add_out) whether or not the call succeeded. */
typedef void (*bw_run_fn)(kbit_device *dev, const bw_case *c, unsigned char fill,
                          bw_result *res);

typedef struct bw_runner {
    conf_run *run;
    bw_run_fn fn;
    rng r;                 /* the family's random inputs */
    conf_tally tally[CONF_MAX_TARGETS];
} bw_runner;

/* Start a family's runner: its run function, and its random inputs seeded
 * with conf_seed(run, default_seed) (inputs_init included). */
void bw_start(bw_runner *b, conf_run *run, bw_run_fn fn, uint64_t default_seed);
/* Run c on the reference and every target of the family; frees c's inputs. */
void bw_everywhere(bw_runner *b, bw_case *c);
/* One TAP line per target for `check`, then clear the tallies. */
void bw_report(bw_runner *b, const char *check);

/* For run functions: an output downloaded from dev_ptr (n elements of elem
 * bytes; nothing is downloaded when res->st failed), a host output (fp32),
 * a device buffer of `bytes` filled with `fill` (NULL when empty), input i
 * of the case on the device (NULL when empty). */
void bw_add_out(bw_result *res, kbit_device *dev, const char *name, int dtype, size_t n,
                size_t elem, const void *dev_ptr);
void bw_add_host_out(bw_result *res, const char *name, size_t n, const float *src);
void *bw_out_alloc(kbit_device *dev, size_t bytes, unsigned char fill);
void *bw_in_upload(kbit_device *dev, const bw_case *c, int i);
/* The tap_cmp_dtype code of a float dtype. */
int bw_cmp_code(kbit_dtype d);

/* Case lists: the float dtypes; the sizes n for blocksize B (1, 2, 3, B-1,
 * B, B+1, 2B+1, 3B+2, 7B+5; quick: 1, B+1, 3B+2; and 0 for B = 64) into out
 * (16 entries), returns the count; sizes between 64 Ki and 256 Ki elements,
 * odd and even (k-th). */
extern const kbit_dtype bw_float_dtypes[3];
int bw_sizes_for(int B, int quick, int64_t *out);
int64_t bw_medium_n(int k);

#endif
