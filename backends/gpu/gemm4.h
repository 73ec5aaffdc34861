/*
 * backends/gpu/gemm4.h - the bodies of the 4-bit matrix products (GEMM4,
 * doc/numerics.md 5, doc/determinism.md 3), forward and backward, for NF4/FP4,
 * every blocksize 32..4096 and the dtypes F32, F16, BF16.
 *
 * Every output is one dot32 (numerics/dot32.h), the arithmetic of
 * backends/cpu/gemm4/ref.c statement for statement:
 *   forward   out[m,n] = T(dot32_k(f32(A[m,k]), W[n,k]) + f32(bias[n]))
 *   backward  dA[m,k]  = T(dot32_n(f32(dOut[m,n]), W[n,k]))
 * with W[n,k] = DEC[q] * absmax[(n*K+k) >> log2(blocksize)], one fp32
 * multiply (kbit_4bit_value).
 *
 * Work split (backends/gpu/split.h, "dot32"): one result is done by the
 * KBIT_DOT32_LANES items of a slot of the group, item `lane` running lane
 * `lane` of the rule: its chunks c = lane, lane + 32, ... in increasing c,
 * the 8 elements of a chunk in increasing index, one fma each, the padding
 * elements of the last chunk included (they turn a -0.0 lane into +0.0).
 * The lane sums meet in work-group memory and one item folds them with
 * kbit_dot32_fold, the rule's own fold. So the launch size changes only
 * which group does a result, never its bits.
 *
 * Both directions are one body over the reduction index j (k forward, n
 * backward) and the output index o (n forward, k backward): W is read at
 * flat index o * so + j * sj, the activation row m at m * L + j, and the
 * result goes to out[m * O + o]. Results are numbered d = o * M + m, so the
 * slots of a group share a weight row (column) when M > 1 and read
 * neighbouring weights when M is small.
 */
#ifndef KBIT_GPU_GEMM4_H
#define KBIT_GPU_GEMM4_H

#include "backends/gpu/defs.h"
#include "numerics/numerics.h"
#include "backends/gpu/split.h"

/* The weight element of flat index i (numerics 1.9: high nibble first). */
KBIT_GPU_FN float kbit_gk_gemm4_weight(kbit_quant_type type, KBIT_GLOBAL const uint8_t *packed,
                                       KBIT_GLOBAL const float *absmax, int32_t log2_blocksize,
                                       int64_t i)
{
    return kbit_4bit_value(type, kbit_4bit_code(packed[i >> 1], i), absmax[i >> log2_blocksize]);
}

/* Lane `lane` of the dot32 of result (m, o) over L elements: step 2 of the
 * rule (kbit_dot32_add / kbit_dot32_finish for this lane's chunks; an
 * element j >= L of the last chunk is the padding +0.0, +0.0). */
KBIT_GPU_FN float kbit_gk_gemm4_lane(kbit_quant_type type, kbit_dtype dtype,
                                     KBIT_GLOBAL const void *a, KBIT_GLOBAL const uint8_t *packed,
                                     KBIT_GLOBAL const float *absmax, int32_t log2_blocksize,
                                     int64_t L, int64_t m, int64_t o, int64_t so, int64_t sj,
                                     int lane)
{
    const int64_t chunks = (L + KBIT_DOT32_CHUNK - 1) / KBIT_DOT32_CHUNK;
    float s = 0.0f;
    for (int64_t c = lane; c < chunks; c += KBIT_DOT32_LANES) {
        for (int e = 0; e < KBIT_DOT32_CHUNK; e++) {
            const int64_t j = c * KBIT_DOT32_CHUNK + e;
            float w = 0.0f, x = 0.0f;
            if (j < L) {
                w = kbit_gk_gemm4_weight(type, packed, absmax, log2_blocksize, o * so + j * sj);
                x = kbit_dtype_load(dtype, a, m * L + j);
            }
            s = KBIT_FMA(w, x, s);
        }
    }
    return s;
}

/* The forward (backward == 0: L = K, O = N, bias when has_bias) or the
 * backward (backward == 1: L = N, O = K, no bias) of a [M, L] activation
 * `a` in dtype against the weight [N, K]; out is [M, O] in dtype. lanes:
 * KBIT_GPU_GROUP floats of work-group memory. packed/absmax may be unused
 * (NULL) when N * K == 0. Launch: kbit_split_dot_groups(M * O) groups (any
 * count gives the same bits). */
KBIT_GPU_FN void kbit_gk_gemm_4bit(int backward, kbit_quant_type type, kbit_dtype dtype,
                                   KBIT_GLOBAL const void *a, int64_t M, int64_t N, int64_t K,
                                   KBIT_GLOBAL const uint8_t *packed,
                                   KBIT_GLOBAL const float *absmax, int32_t log2_blocksize,
                                   KBIT_GLOBAL const void *bias, int has_bias,
                                   KBIT_GLOBAL void *out, KBIT_LOCAL float *lanes)
{
    const int64_t L = backward ? N : K; /* reduction length */
    const int64_t O = backward ? K : N; /* results per activation row */
    const int64_t so = backward ? 1 : K, sj = backward ? K : 1;
    const int64_t dots = M * O;
    const int64_t units = kbit_split_dot_units(dots);
    const int lid = KBIT_LID;
    const int lane = lid % KBIT_DOT32_LANES, slot = lid / KBIT_DOT32_LANES;
    /* The bound is the same for every item, so all reach every barrier. */
    for (int64_t u = KBIT_GROUP; u < units; u += KBIT_NGROUPS) {
        const int64_t d = u * KBIT_GPU_DOTS + slot;
        const int64_t o = d / M, m = d % M;
        lanes[lid] = d < dots ? kbit_gk_gemm4_lane(type, dtype, a, packed, absmax,
                                                   log2_blocksize, L, m, o, so, sj, lane)
                              : 0.0f;
        KBIT_BARRIER();
        if (lane == 0 && d < dots) {
            /* Step 3 on a private copy of the slot's 32 lane sums. */
            float s[KBIT_DOT32_LANES];
            for (int l = 0; l < KBIT_DOT32_LANES; l++)
                s[l] = lanes[lid + l];
            float r = kbit_dot32_fold(s);
            if (has_bias)
                r = KBIT_FADD(r, kbit_dtype_load(dtype, bias, o));
            kbit_dtype_store(dtype, out, m * O + o, r);
        }
        KBIT_BARRIER(); /* the fold has read lanes before the next round writes it */
    }
}

#endif /* KBIT_GPU_GEMM4_H */
