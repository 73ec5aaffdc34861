/* bench/cases.h - the operations `kbit bench quant` times: what each reads
 * and writes, how to prepare its input, and how kbit runs it. */
#ifndef KBIT_BENCH_CASES_H
#define KBIT_BENCH_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"
#include "rotation.h"

typedef enum bench_kind {
    BENCH_COPY,       /* the baseline: copy the fp32 tensor (copy.h) */
    BENCH_MEMCPY,     /* the same copy with plain memcpy, for information */
    BENCH_READ,       /* a read of the fp32 tensor (bench_read): the read bandwidth */
    BENCH_QUANT4,     /* fp32 -> packed 4-bit + absmax */
    BENCH_DEQUANT4,   /* packed 4-bit + absmax -> out_dtype */
    BENCH_QUANT8,     /* fp32 -> 8-bit codes + absmax */
    BENCH_DEQUANT8    /* 8-bit codes + absmax -> out_dtype */
} bench_kind;

typedef struct bench_case {
    const char *key;        /* name used by --ops and in the table */
    bench_kind kind;
    kbit_quant_type qtype;  /* 4-bit cases */
    kbit_dtype out_dtype;   /* dequantize cases */
    int blocksize;
    double target;          /* aimed-at fraction of copy bandwidth (0: none) */
    const char *bnb_symbol; /* the same op in libbitsandbytes_cpu, or NULL */
    const char *bnb_none;   /* why bitsandbytes has no counterpart */
} bench_case;

extern const bench_case bench_cases[];
extern const int bench_case_count;

/* Bytes of each slot buffer, and bytes read + written by one run. */
size_t bench_case_src_bytes(const bench_case *c, int64_t n);
size_t bench_case_absmax_bytes(const bench_case *c, int64_t n);
size_t bench_case_dst_bytes(const bench_case *c, int64_t n);
size_t bench_case_moved_bytes(const bench_case *c, int64_t n);

/* Fill a slot's input from x (n fp32 values in device memory): a copy for
 * quantize cases, kbit's quantization of x for dequantize cases. */
kbit_status bench_case_prepare(const bench_case *c, kbit_device *device, const bench_slot *s,
                               const float *x, int64_t n);

/* The two copies (not kbit ops). */
int bench_case_is_copy(const bench_case *c);

/* Run the case once with kbit (the copies: see copy.h). */
kbit_status bench_case_run(const bench_case *c, kbit_device *device, const bench_slot *s,
                           int64_t n);

#endif
