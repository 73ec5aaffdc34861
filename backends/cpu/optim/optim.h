/*
 * backends/cpu/optim/optim.h - the optimizers on the CPU (doc/numerics.md 6):
 * steps and norm leaves over blocks of KBIT_OPTIM_BLOCK (256) elements, the
 * 8-bit state blocks.
 */
#ifndef KBIT_CPU_OPTIM_H
#define KBIT_CPU_OPTIM_H

#include "numerics/optim.h"
#include "backends/optim_params.h"
#include "../quant8/quant8.h"

/* The 8-bit optimizer's encoders, prepared once per op (ops.c): plan1 for
 * the signed map of state1, plan2 for the unsigned map of state2, and
 * neg1 = the number of leading qmap1 entries with the sign bit set when those
 * are exactly the entries with it (so signbit(qmap1[c]) is c < neg1), else -1. */
typedef struct kbit_optim_plans {
    kbit_enc8_plan plan1, plan2;
    int neg1;
} kbit_optim_plans;

/* The op with its device-side scales read into the host fields (host
 * memory is the device memory of a CPU driver), so kernels read only
 * gnorm_scale and update_scale. */
static inline kbit_op_optimizer kbit_optim_resolved(const kbit_op_optimizer *op)
{
    kbit_op_optimizer r = *op;
    if (op->scales != NULL) {
        r.gnorm_scale = op->scales[KBIT_OPTSCALE_GNORM];
        r.update_scale = op->scales[KBIT_OPTSCALE_UPDATE];
        r.scales = NULL;
    }
    return r;
}

typedef struct kbit_cpu_optim {
    /* plans: NULL for 32-bit states. The op's scales are resolved (NULL):
     * kernels read gnorm_scale and update_scale. */
    void (*step)(const kbit_op_optimizer *op, const kbit_optim_plans *plans,
                 int64_t block_begin, int64_t block_end);
    void (*sums)(const kbit_op_optimizer_sums *op, int64_t block_begin, int64_t block_end);
} kbit_cpu_optim;

extern const kbit_cpu_optim kbit_cpu_optim_scalar;
extern const kbit_cpu_optim kbit_cpu_optim_avx2;   /* KBIT_HAVE_AVX2 */
extern const kbit_cpu_optim kbit_cpu_optim_avx512; /* KBIT_HAVE_AVX512 */
/* The zen4 tuning's (isa.c; KBIT_HAVE_AVX512VBMI): 8-bit states decoded by table lookups. */
extern const kbit_cpu_optim kbit_cpu_optim_avx512vbmi;

/* The reference (ref.c); these two resolve the op's scales themselves. */
void kbit_ref_optimizer_step(const kbit_op_optimizer *op, int64_t block_begin,
                             int64_t block_end);
void kbit_ref_optimizer_sums(const kbit_op_optimizer_sums *op, int64_t block_begin,
                             int64_t block_end);
/* The optimizer_scales op: numerics/optim_scales.h with the op's fields. */
void kbit_ref_optimizer_scales(const kbit_op_optimizer_scales *op);
/* Requantize count new 8-bit optimizer state values (numerics 6.5): codes q. */
void kbit_ref_optim_requantize(const float *s, int64_t count, float absmax, const float *map,
                               const float *mid, int sign_fix, uint8_t *q);

/* AVX2 (avx2.c) and AVX-512 (avx512.c), both from simd.h. */
void kbit_avx2_optimizer_step(const kbit_op_optimizer *op, const kbit_optim_plans *plans,
                              int64_t block_begin, int64_t block_end);
void kbit_avx512_optimizer_step(const kbit_op_optimizer *op, const kbit_optim_plans *plans,
                                int64_t block_begin, int64_t block_end);
/* AVX512_VBMI (avx512vbmi.c): simd.h with the VLUT decoder. */
void kbit_avx512vbmi_optimizer_step(const kbit_op_optimizer *op, const kbit_optim_plans *plans,
                                    int64_t block_begin, int64_t block_end);

#endif /* KBIT_CPU_OPTIM_H */
