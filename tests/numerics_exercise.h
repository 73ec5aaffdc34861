/*
 * tests/numerics_exercise.h - one call of every function of numerics/, as a
 * rule itself (KBIT_NUM_FN, address-space macros on every pointer), so that
 * the same body compiles as C11, as CUDA/HIP device and host code and as
 * OpenCL C, and runs on the host and on PoCL with the results compared bit
 * for bit (tests/test_numerics_opencl.c; tests/test-numerics-compile.sh
 * builds it for each compiler).
 *
 * kbit_exercise(i, ...) reads the KBIT_EXERCISE_IN inputs in[i * IN ..] and
 * writes KBIT_EXERCISE_OUT bit patterns to out[i * OUT ..]; the kind of
 * optimizer kernel, the dtype and the flags cycle with i. scratch and
 * dscratch are KBIT_EXERCISE_SCRATCH floats and KBIT_EXERCISE_DSCRATCH
 * doubles of its own (they hold tensors the rules read and write). map and
 * mid: a 256-entry signed code map and its 255 midpoints.
 */
#ifndef KBIT_TESTS_NUMERICS_EXERCISE_H
#define KBIT_TESTS_NUMERICS_EXERCISE_H

#include "numerics/numerics.h"

#define KBIT_EXERCISE_IN 8
#define KBIT_EXERCISE_OUT 96
#define KBIT_EXERCISE_SCRATCH 512
#define KBIT_EXERCISE_DSCRATCH 64

/* Results as bit patterns. Floating results write every NaN as one
 * pattern: neither the sign nor the payload of a NaN is part of the
 * contract (doc/determinism.md 1), and devices differ there (x86's default
 * NaN has the sign bit set, other targets' has not). d: a variable. */
#define KBIT_EX_F(v) (out[n++] = kbit_ex_f32_bits(v))
#define KBIT_EX_U(v) (out[n++] = (uint32_t)(v))
#define KBIT_EX_D(d) (out[n++] = (uint32_t)kbit_ex_f64_bits(d), \
                      out[n++] = (uint32_t)(kbit_ex_f64_bits(d) >> 32))

KBIT_NUM_FN uint32_t kbit_ex_f32_bits(float v)
{
    return v != v ? 0x7fc00000u : kbit_f32_to_bits(v);
}

KBIT_NUM_FN uint64_t kbit_ex_f64_bits(double d)
{
    return d != d ? (uint64_t)0x7ff8000000000000ull : kbit_f64_to_bits(d);
}

KBIT_NUM_FN void kbit_exercise(int64_t i, KBIT_GLOBAL const float *in_all,
                               KBIT_TABLE const float *map, KBIT_TABLE const float *mid,
                               KBIT_GLOBAL float *scratch_all, KBIT_GLOBAL double *dscratch_all,
                               KBIT_GLOBAL uint32_t *out_all)
{
    KBIT_GLOBAL const float *in = in_all + i * KBIT_EXERCISE_IN;
    KBIT_GLOBAL float *scratch = scratch_all + i * KBIT_EXERCISE_SCRATCH;
    KBIT_GLOBAL double *dscratch = dscratch_all + i * KBIT_EXERCISE_DSCRATCH;
    KBIT_GLOBAL uint32_t *out = out_all + i * KBIT_EXERCISE_OUT;
    int n = 0;
    const float x = in[0], y = in[1], z = in[2], w = in[3];
    const kbit_dtype dtype = (kbit_dtype)(i % 3); /* F32, F16, BF16 */
    const kbit_quant_type qtype = (i & 1) ? KBIT_NF4 : KBIT_FP4;

    /* platform.h, tables.h, half.h */
    KBIT_EX_U(kbit_f32_to_bits(kbit_f32_from_bits(kbit_f32_to_bits(x))));
    KBIT_EX_F(kbit_fabs(y));
    KBIT_EX_U(kbit_signbit(z));
    KBIT_EX_U(kbit_isfinite(w));
    KBIT_EX_F(kbit_nf4_value((unsigned)(i & 15)));
    KBIT_EX_F(kbit_nf4_threshold_at((int)(i % 15)));
    KBIT_EX_F(kbit_fp4_magnitude_at((unsigned)(i & 7)));
    KBIT_EX_F(kbit_fp4_threshold_at((int)(i % 7)));
    KBIT_EX_U(kbit_f32_to_f16(x));
    KBIT_EX_U(kbit_f32_to_bf16(x));
    KBIT_EX_F(kbit_f16_to_f32((uint16_t)kbit_f32_to_bits(y)));
    KBIT_EX_F(kbit_bf16_to_f32((uint16_t)kbit_f32_to_bits(y)));
    KBIT_EX_F(kbit_through_f16(z));
    KBIT_EX_F(kbit_through_bf16(z));

    /* dtype.h: a tensor of 16 elements in scratch[0..16) */
    for (int e = 0; e < 16; e++)
        kbit_dtype_store(dtype, scratch, e, KBIT_FMUL(in[e % KBIT_EXERCISE_IN], (float)(e + 1)));
    KBIT_EX_F(kbit_dtype_load(dtype, scratch, 5));
    KBIT_EX_F(kbit_dtype_round(dtype, w));
    float v[16];
    kbit_load_f32(scratch, dtype, 0, 16, v);
    kbit_store_f32(scratch, dtype, 16, 16, v);
    KBIT_EX_F(kbit_dtype_load(dtype, scratch, 16 + 15));

    /* encode.h */
    KBIT_EX_U(kbit_block_count(1000 + i, 64, (1000 + i) / 64));
    float m = kbit_absmax(v, 16);
    KBIT_EX_F(m);
    KBIT_EX_F(kbit_absmax_combine(kbit_absmax_step(0.0f, x), kbit_absmax_step(0.0f, y)));
    float r = kbit_block_recip(m);
    KBIT_EX_F(r);
    KBIT_EX_U(kbit_nf4_encode(KBIT_FMUL(x, r)));
    KBIT_EX_U(kbit_fp4_encode(KBIT_FMUL(y, r)));
    KBIT_EX_U(kbit_4bit_encode(qtype, KBIT_FMUL(z, r)));
    uint8_t byte = kbit_4bit_pack(qtype, x, (i & 2) ? y : 0.0f, r);
    KBIT_EX_U(byte);
    KBIT_EX_U(kbit_4bit_code(byte, i));
    KBIT_EX_F(kbit_4bit_decode(qtype, (unsigned)(i & 15)));
    KBIT_EX_F(kbit_4bit_value(qtype, kbit_4bit_code(byte, i + 1), m));
    KBIT_EX_U(kbit_enc8_count(KBIT_FMUL(x, r), mid));
    KBIT_EX_U(kbit_enc8_sorted(KBIT_FMUL(y, r), mid));
    KBIT_EX_U(kbit_enc8(KBIT_FMUL(z, r), mid, (int)(i & 1)));
    KBIT_EX_U(kbit_mid_sorted(mid));
    uint8_t q8 = kbit_8bit_encode(w, r, mid, 1);
    KBIT_EX_U(q8);
    KBIT_EX_F(kbit_nested_uncenter(kbit_8bit_value(map[q8], m), y));
    KBIT_EX_F(kbit_nested_center(x, y));

    /* dot32.h: 3 + i % 260 elements of scratch */
    const int64_t K = 3 + i % 260;
    KBIT_GLOBAL float *da = scratch + 64, *dw = scratch + 64 + 224;
    const int64_t Kc = K < 224 ? K : 224;
    for (int64_t k = 0; k < Kc; k++) {
        da[k] = in[k % KBIT_EXERCISE_IN];
        dw[k] = KBIT_FMUL(in[(k + 3) % KBIT_EXERCISE_IN], (k & 1) ? -1e-30f : 1.5f);
    }
    KBIT_EX_F(kbit_dot32(da, dw, Kc));
    kbit_dot32_acc acc;
    kbit_dot32_init(&acc);
    for (int64_t k = 0; k < Kc; k++)
        kbit_dot32_add(&acc, k, dw[k], da[k]);
    KBIT_EX_F(kbit_dot32_finish(&acc, Kc));
    float lanes[32];
    for (int l = 0; l < 32; l++)
        lanes[l] = in[l % KBIT_EXERCISE_IN];
    KBIT_EX_F(kbit_dot32_fold(lanes));
    KBIT_EX_U(kbit_dot32_lane(K));
    KBIT_EX_U(kbit_dot32_lanes_used(K));
    KBIT_EX_U(kbit_dot32_needs_plus_zero(K));

    /* pairsum.h: a leaf over the 224 activations, a tree over 2 + i % 50 leaves */
    double leaf = kbit_pairsum_leaf(da, Kc, 0);
    KBIT_EX_D(leaf);
    const int64_t nleaves = 2 + i % 50;
    for (int64_t b = 0; b < nleaves; b++)
        dscratch[b] = kbit_pairsum_add(kbit_pairsum_square(in[b % KBIT_EXERCISE_IN]), (double)b);
    double total = kbit_pairsum_result(kbit_pairsum_tree(dscratch, nleaves), 3.0);
    KBIT_EX_D(total);

    /* int8.h */
    const float thr = 6.0f, sca = kbit_fabs(x);
    KBIT_EX_U(kbit_int8_eligible(y, (int)(i & 1), thr));
    KBIT_EX_U(kbit_int8_is_outlier(y, (int)(i & 1), thr));
    float s8 = kbit_int8_row_scale(sca);
    KBIT_EX_F(s8);
    KBIT_EX_U((uint8_t)kbit_int8_code(y, s8));
    KBIT_EX_U((uint8_t)kbit_int8_quant_elem(z, sca, s8, (int)(i & 1), thr));
    int8_t cb = (int8_t)((int)(i % 255) - 127);
    KBIT_EX_F(kbit_int8_weight_of(cb, kbit_fabs(w)));
    KBIT_EX_F(kbit_int8_outlier_weight(cb, kbit_fabs(w), dtype));
    KBIT_EX_F(kbit_int8_mm_dequant_elem((int32_t)(i * 977) - 40000, sca, kbit_fabs(w),
                                        (int)(i % 3), z));
    KBIT_EX_F(kbit_int8_outlier_out(x, y));

    /* optim.h: the kernel and its flags cycle with i; states from the inputs */
    kbit_optim_params k;
    k.kernel_id = (kbit_optim_kernel)(i % 6);
    k.param_dtype = dtype;
    k.step = 1 + i % 3;
    k.lr = 1e-3f, k.beta1 = 0.9f, k.beta2 = 0.999f, k.beta3 = 0.9999f, k.alpha = 5.0f;
    k.eps = 1e-8f, k.weight_decay = (i & 4) ? 0.01f : 0.0f;
    k.gnorm_scale = (i & 8) ? 0.5f : 1.0f, k.update_scale = (i & 16) ? 0.25f : 1.0f;
    k.c1 = 0.1f, k.c2 = 0.0316f, k.step_size = -0.01f, k.c1p = 10.0f, k.c2p = 1000.0f;
    k.skip_zeros = (int32_t)((i >> 5) & 1);
    float g = (i & 32) && (i & 64) ? 0.0f : x;
    float s1 = kbit_fabs(y), s2 = kbit_fabs(z), s3 = w, p = kbit_dtype_round(dtype, in[4]);
    KBIT_EX_F(kbit_optim_sgn(x));
    KBIT_EX_F(kbit_optim_ema(s1, k.beta1, g));
    KBIT_EX_F(kbit_optim_decay(&k, p));
    KBIT_EX_F(kbit_optim_update_term(&k, g, s1, s2));
    KBIT_EX_D(kbit_optim_update_leaf_term(&k, g, s1, s2));
    {
        float a1 = s1, a2 = s3, a3 = s2, pp = p;
        kbit_optim32_step2(&k, g, &a1, &a2, &a3, &pp);
        KBIT_EX_F(a1), KBIT_EX_F(a2), KBIT_EX_F(a3), KBIT_EX_F(pp);
    }
    {
        float a1 = s3, pp = p;
        kbit_optim32_step1(&k, g, &a1, &pp);
        KBIT_EX_F(a1), KBIT_EX_F(pp);
    }
    {
        float a1 = s3, a2 = s2, a3 = s1, pp = p;
        int go = kbit_optim8_states2(&k, g, &a1, &a2, &a3);
        KBIT_EX_U(go);
        KBIT_EX_F(a1), KBIT_EX_F(a2), KBIT_EX_F(a3);
        KBIT_EX_F(kbit_optim8_param2(&k, a1, a2, a3, pp));
    }
    {
        float a1 = s3, pp = p, d = 0.0f;
        int go = kbit_optim8_state1(&k, g, &a1, &pp, &d);
        KBIT_EX_U(go);
        KBIT_EX_F(a1), KBIT_EX_F(pp), KBIT_EX_F(d);
        KBIT_EX_F(kbit_optim8_param1(&k, g, a1, d, pp));
        KBIT_EX_U(kbit_optim8_requant(a1, kbit_absmax_step(kbit_fabs(a1), in[5]), map, mid, 1));
        KBIT_EX_U(kbit_optim8_requant(s2, kbit_fabs(in[6]), map, mid, 0));
    }

    /* optim_scales.h: a history of 100 norms in scratch, 5 scales after it */
    KBIT_GLOBAL float *history = scratch + 32, *scales = history + KBIT_OPTIM_HISTORY;
    for (int h = 0; h < KBIT_OPTIM_HISTORY; h++)
        history[h] = kbit_fabs(in[h % KBIT_EXERCISE_IN]) * (float)(h + 1);
    dscratch[0] = (double)kbit_fabs(x) + 1.0;
    dscratch[1] = (double)kbit_fabs(y);
    KBIT_EX_U(kbit_optim_norm_before(x, y));
    kbit_optim_scales_clip(dscratch, history, scales, 1 + i % 200, (int32_t)(i % 100), 0.5f);
    for (int c = 0; c < KBIT_OPTSCALE_COUNT; c++)
        KBIT_EX_F(scales[c]);
    kbit_optim_scales_unorm(dscratch, scales, (int32_t)(i & 1), 0.5f, 0.01f, 1e-8f,
                            (int32_t)((i >> 1) & 1));
    for (int c = 0; c < KBIT_OPTSCALE_COUNT; c++)
        KBIT_EX_F(scales[c]);
    KBIT_EX_F(history[(1 + i % 200) % 100]);

    while (n < KBIT_EXERCISE_OUT)
        out[n++] = 0xdeadbeefu;
}

#endif /* KBIT_TESTS_NUMERICS_EXERCISE_H */
