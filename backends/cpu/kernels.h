/*
 * backends/cpu/kernels.h - what the kernels of every family share.
 *
 * A kernel handles a range of independent outputs of a validated op (whole
 * blocks, rows or columns), so the one splitter (split.c) can hand ranges
 * to threads. Each family directory declares its kernels and its table of
 * them in its own header (quant4/quant4.h, ...); a CPU variant is one table
 * per family (cpu.h). Every kernel gives the reference's bits for every
 * input.
 */
#ifndef KBIT_CPU_KERNELS_H
#define KBIT_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kbit-driver.h"

/* Dequantize kernels write an output of at least this many bytes with
 * non-temporal stores (when it is 64-byte aligned): it would not stay in the
 * caches anyway, and streaming skips reading every line before writing it. */
#define KBIT_CPU_STREAM_MIN_BYTES ((int64_t)16 << 20)

static inline int kbit_cpu_stream_output(const void *out, int64_t bytes)
{
    return bytes >= KBIT_CPU_STREAM_MIN_BYTES && ((uintptr_t)out & 63) == 0;
}

/* Bytes rounded up to 64: parts of a workspace start on cache lines. */
static inline size_t kbit_cpu_align64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

#endif /* KBIT_CPU_KERNELS_H */
