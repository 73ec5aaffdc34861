/*
 * backends/cuda/gpu-blocks.h - how the kernels split the work, and what one
 * thread does between two barriers. Host-callable, so the host can replay a
 * whole launch thread by thread and compare it with the scalar reference.
 *
 * Blockwise quantize kernels: a CTA of KBIT_GPU_THREADS threads handles one
 * "tile" of quantization blocks at a time (grid-stride over tiles). Each
 * quantization block of B elements gets a group of G = min(B/2, THREADS)
 * threads (a power of two), so a tile holds THREADS/G blocks. Thread `lane`
 * of a group owns the element pairs p = lane + k*G (k < B/(2G) <= 8) of its
 * block, i.e. elements 2p and 2p+1 - one packed 4-bit byte per pair, and
 * consecutive threads touch consecutive memory.
 *   1. load:   each thread loads its pairs into registers and takes the
 *              max |v| of them (kbit_absmax_step);
 *   2. reduce: the group's partial maxima are combined in shared memory
 *              (the kernel; exact, any order gives the same bits);
 *   3. store:  each thread encodes its elements with r = 1/absmax.
 * Every element rule is the one of numerics/ (the same functions the CPU
 * reference runs); this file only says which thread does what.
 * Elementwise kernels (dequantize, block sums) are plain grid-stride loops
 * over bytes, elements or 256-element leaves.
 *
 * Sizes are int64_t throughout (n may exceed 2^31).
 */
#ifndef KBIT_GPU_BLOCKS_H
#define KBIT_GPU_BLOCKS_H

#include "gpu-compat.h"
#include "kbit-formats.h"
#include "numerics/numerics.h"

#define KBIT_GPU_THREADS 256  /* threads per CTA, every kernel */
#define KBIT_GPU_MAX_PAIRS 8  /* pairs per thread: 4096 / (2 * KBIT_GPU_THREADS) */

/* ------------------------------------------------------------------ */
/* Kernel arguments (passed by value: host tables travel with the launch, so
 * no device copy can race with another stream)                         */

typedef struct kbit_gpu_q4_args {
    const void *x;
    int64_t n, nblocks;
    int blocksize;
    kbit_dtype dtype;
    kbit_quant_type type;
    uint8_t *packed;
    float *absmax;
} kbit_gpu_q4_args;

typedef struct kbit_gpu_q8_args {
    const void *x;
    int64_t n, nblocks;
    int blocksize;
    kbit_dtype dtype;
    int center;           /* quantize x - *offset (fp32) instead of x */
    const float *offset;  /* device: one value, written by an earlier op */
    int sorted;           /* mid is non-decreasing without NaN: binary search */
    uint8_t *q;
    float *absmax;
    const float *mid;     /* device: 255 midpoints */
} kbit_gpu_q8_args;

typedef struct kbit_gpu_d4_args {
    const uint8_t *packed;
    const float *absmax;
    int64_t n;
    int log2_blocksize;
    kbit_quant_type type;
    kbit_dtype out_dtype;
    void *out;
} kbit_gpu_d4_args;

typedef struct kbit_gpu_d8_args {
    const uint8_t *q;
    const float *absmax;
    int64_t n;
    int log2_blocksize;
    int add_offset;
    float offset;
    kbit_dtype out_dtype;
    void *out;
    const float *code;    /* device: 256 entries */
} kbit_gpu_d8_args;

/* ------------------------------------------------------------------ */
/* Blockwise geometry                                                   */

typedef struct kbit_gpu_geometry {
    int group;   /* G: threads per quantization block */
    int groups;  /* quantization blocks per tile */
    int pairs;   /* element pairs per thread */
} kbit_gpu_geometry;

/* blocksize: a power of two from 32 to 4096. */
KBIT_HD kbit_gpu_geometry kbit_gpu_geometry_of(int blocksize)
{
    kbit_gpu_geometry g;
    g.group = blocksize / 2 < KBIT_GPU_THREADS ? blocksize / 2 : KBIT_GPU_THREADS;
    g.groups = KBIT_GPU_THREADS / g.group;
    g.pairs = blocksize / (2 * g.group);
    return g;
}

/* The part of a tile that thread `tid` works on. */
typedef struct kbit_gpu_part {
    int64_t block;  /* quantization block index */
    int64_t start;  /* its first element */
    int64_t count;  /* its element count; 0 if the tile runs past the last block */
    int lane;       /* thread index within the group */
} kbit_gpu_part;

KBIT_HD kbit_gpu_part kbit_gpu_part_of(kbit_gpu_geometry g, int64_t tile, int tid, int64_t n,
                                       int blocksize, int64_t nblocks)
{
    kbit_gpu_part p;
    p.lane = tid % g.group;
    p.block = tile * g.groups + tid / g.group;
    p.start = p.block * blocksize;
    p.count = p.block < nblocks ? (n - p.start < blocksize ? n - p.start : blocksize) : 0;
    return p;
}

/* Element offset (within the block) of the first element of pair k. */
KBIT_HD int64_t kbit_gpu_pair_offset(kbit_gpu_geometry g, const kbit_gpu_part *p, int k)
{
    return 2 * ((int64_t)p->lane + (int64_t)k * g.group);
}

/* ------------------------------------------------------------------ */
/* Phase 1: load a thread's elements (optionally centred) into v[], return
 * their absmax (0 if none / all NaN).                                  */

KBIT_HD float kbit_gpu_load_part(const void *x, kbit_dtype dtype, kbit_gpu_geometry g,
                                 const kbit_gpu_part *p, int center, float offset,
                                 float v[2 * KBIT_GPU_MAX_PAIRS])
{
    float m = 0.0f;
KBIT_GPU_UNROLL
    for (int k = 0; k < KBIT_GPU_MAX_PAIRS; k++) {
        v[2 * k] = 0.0f;
        v[2 * k + 1] = 0.0f;
        if (k >= g.pairs)
            continue;
        int64_t e = kbit_gpu_pair_offset(g, p, k);
        for (int h = 0; h < 2; h++) {
            if (e + h < p->count) {
                float t = kbit_dtype_load(dtype, x, p->start + e + h);
                if (center) /* nested absmax: centre in fp32 first (numerics 3) */
                    t = kbit_nested_center(t, offset);
                v[2 * k + h] = t;
                m = kbit_absmax_step(m, t);
            }
        }
    }
    return m;
}

/* ------------------------------------------------------------------ */
/* Phase 3: encode                                                      */

/* 4-bit: one packed byte per pair, high nibble = even element. A pair
 * whose odd element lies past n (odd n, last block) gets the padding code
 * of +0.0 * r (numerics 1.8). */
KBIT_HD void kbit_gpu_store_part_4bit(kbit_quant_type type, kbit_gpu_geometry g,
                                      const kbit_gpu_part *p, float r,
                                      const float v[2 * KBIT_GPU_MAX_PAIRS], uint8_t *packed)
{
KBIT_GPU_UNROLL
    for (int k = 0; k < KBIT_GPU_MAX_PAIRS; k++) {
        if (k >= g.pairs)
            continue;
        int64_t e = kbit_gpu_pair_offset(g, p, k);
        if (e >= p->count)
            continue;
        float odd = e + 1 < p->count ? v[2 * k + 1] : 0.0f;
        packed[(p->start + e) / 2] = kbit_4bit_pack(type, v[2 * k], odd, r);
    }
}

/* 8-bit: one code per element. */
KBIT_HD void kbit_gpu_store_part_8bit(const float *mid, int sorted, kbit_gpu_geometry g,
                                      const kbit_gpu_part *p, float r,
                                      const float v[2 * KBIT_GPU_MAX_PAIRS], uint8_t *q)
{
KBIT_GPU_UNROLL
    for (int k = 0; k < KBIT_GPU_MAX_PAIRS; k++) {
        if (k >= g.pairs)
            continue;
        int64_t e = kbit_gpu_pair_offset(g, p, k);
        for (int h = 0; h < 2; h++)
            if (e + h < p->count)
                q[p->start + e + h] = kbit_8bit_encode(v[2 * k + h], r, mid, sorted);
    }
}

/* ------------------------------------------------------------------ */
/* Elementwise work items                                               */

/* 4-bit dequantize of packed byte j (elements 2j and 2j+1 < n):
 * out = T(DEC[q] * absmax[i / B]), kbit_4bit_value with dec: the 16 DEC
 * values (kbit_4bit_decode) staged in shared memory by the kernel. */
KBIT_HD void kbit_gpu_dequant4_byte(const kbit_gpu_d4_args *a, const float *dec, int64_t j)
{
    uint8_t byte = a->packed[j];
    int64_t i = 2 * j;
    kbit_dtype_store(a->out_dtype, a->out, i,
                     KBIT_FMUL(dec[kbit_4bit_code(byte, i)], a->absmax[i >> a->log2_blocksize]));
    if (i + 1 < a->n)
        kbit_dtype_store(a->out_dtype, a->out, i + 1,
                         KBIT_FMUL(dec[kbit_4bit_code(byte, i + 1)],
                                   a->absmax[(i + 1) >> a->log2_blocksize]));
}

/* 8-bit dequantize of element i: out = T(code[q] * absmax[i / B]), plus a
 * second, separately rounded add of the offset for the nested absmax. */
KBIT_HD void kbit_gpu_dequant8_elem(const kbit_gpu_d8_args *a, const float *code, int64_t i)
{
    float v = kbit_8bit_value(code[a->q[i]], a->absmax[i >> a->log2_blocksize]);
    if (a->add_offset)
        v = kbit_nested_uncenter(v, a->offset);
    kbit_dtype_store(a->out_dtype, a->out, i, v);
}

#endif /* KBIT_GPU_BLOCKS_H */
