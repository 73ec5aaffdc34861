/*
 * backends/cpu/optim/simd.h - the optimizer kernels written once for the
 * x86 SIMD variants, bit-identical to ref/optim.c. Included by avx2_optim.c
 * and avx512_optim.c after they define the vector vocabulary:
 *
 *   W lanes; V (fp32 vector), M (lane mask), VI (int32 vector)
 *   VSET1 VADD VSUB VMUL VDIV VSQRT VABS; VLT VGT VEQ VLE (ordered compares);
 *   VMAX(a, b) = a > b ? a : b (x86 maxps: b when either is NaN)
 *   MAND MANDNOT(a, b) = a & ~b, MOR, MXOR, MZERO, MALL, MANY (any lane set);
 *   VSEL(m, a, b) = m ? a : b
 *   VLOADF VSTOREF (fp32), VLOADT VSTORET (F32/F16/BF16; VSTORET only stores
 *   values already of that dtype), VRT (round to T)
 *   VI_SET1 VI_ADD VI_SUB VI_AND VI_XOR VI_OR VI_SRAI VI_SRLI VI_SEL VI_GT
 *   VI_LOAD_U8 VI_STORE_U8 (the low byte of each lane) VGATHER (fp32 table)
 *   VI_GATHER (uint32 table) MSIGN(v) (sign bit of each lane) MODD(vi) (lane
 *   is odd) VI_TESTZ(vi, c) (vi & c == 0) VI_ADD_MASKED(m, a, b) = m ? a + b : a
 *
 * and, optionally, a whole-block decoder of 8-bit states for CPUs where
 * gathers are slow: VLUT (a type holding the tables of both maps),
 * VLUT_INIT(lut, op) (from op->qmap1 and, when set, op->qmap2) and
 * VLUT_BLOCK(table, codes, out) (out[i] = map[codes[i]], i < BLK, with
 * table &lut->map1 or &lut->map2). Without it each vector gathers. With it,
 * also optionally VLUT_REQUANTIZE(s, absmax, table, search, sign_fix, neg,
 * q): a block's requantize (as vrequantize) for plans with search tables.
 *
 * Every lane computes exactly the reference's expression, with the same
 * operand order and the same roundings; the reference's per-element branches
 * (skip_zeros, non-finite gradients) become masks. Full 256-element blocks
 * run here; a partial last block runs the reference itself.
 */
#ifndef KBIT_CPU_X86_OPTIM_SIMD_H
#define KBIT_CPU_X86_OPTIM_SIMD_H

#include <math.h>

#include "optim.h"

#define BLK KBIT_OPTIM_BLOCK

#ifdef VLUT
typedef VLUT vlut;
#else
typedef struct vlut {
    int unused;
} vlut;
#define VLUT_INIT(lut, op) ((void)(lut), (void)(op))
#endif

/* Bytes per element of a float dtype, folded when dtype is a constant. */
KBIT_INLINE size_t kbit_dtype_size_const(kbit_dtype dtype)
{
    return dtype == KBIT_F32 ? 4 : 2;
}

/* Scalars of an op, hoisted (each is the value the reference computes per
 * element: the same fp32 operations on the same operands). */
typedef struct consts {
    V gs, b1, b2, b3, omb1, omb2, omb3, lr, neg_lr, eps, wd, decay, alpha, c1, c2;
    V us, us_ss, eps_c2, c2_eps, ss, one, zero;
} consts;

KBIT_INLINE void consts_init(consts *k, const kbit_op_optimizer *op)
{
    k->gs = VSET1(op->gnorm_scale);
    k->b1 = VSET1(op->beta1), k->b2 = VSET1(op->beta2), k->b3 = VSET1(op->beta3);
    k->omb1 = VSET1(1.0f - op->beta1), k->omb2 = VSET1(1.0f - op->beta2);
    k->omb3 = VSET1(1.0f - op->beta3);
    k->lr = VSET1(op->lr), k->neg_lr = VSET1(-op->lr), k->eps = VSET1(op->eps);
    k->wd = VSET1(op->weight_decay), k->decay = VSET1(1.0f - op->lr * op->weight_decay);
    k->alpha = VSET1(op->alpha), k->c1 = VSET1(op->c1), k->c2 = VSET1(op->c2);
    k->us = VSET1(op->update_scale), k->us_ss = VSET1(op->update_scale * op->step_size);
    k->eps_c2 = VSET1(op->eps * op->c2), k->c2_eps = VSET1(op->c2 * op->eps);
    k->ss = VSET1(op->step_size), k->one = VSET1(1.0f), k->zero = VSET1(0.0f);
}

/* sgn(x) = (x > 0) - (x < 0) as fp32 (0 for +-0 and NaN). */
KBIT_INLINE V vsgn(const consts *k, V x)
{
    return VSEL(VGT(x, k->zero), k->one, VSEL(VLT(x, k->zero), VSUB(k->zero, k->one), k->zero));
}

/* Lanes where skip_zeros holds and x == 0. */
KBIT_INLINE M skip_mask(const kbit_op_optimizer *op, const consts *k, V x)
{
    return op->skip_zeros ? VEQ(x, k->zero) : MZERO;
}

/* Prefetch every stream of element i KBIT_PREFETCH_BYTES ahead (common.h:
 * one thread's hardware prefetchers alone fall short of the bandwidth).
 * state_size: 4 (fp32 states) or 1 (8-bit codes). */
KBIT_INLINE void prefetch_streams(const kbit_op_optimizer *op, int64_t i, kbit_dtype PT,
                                  kbit_dtype GT, int64_t state_size)
{
    kbit_cpu_prefetch(op->p, i * (int64_t)kbit_dtype_size_const(PT));
    kbit_cpu_prefetch(op->g, i * (int64_t)kbit_dtype_size_const(GT));
    kbit_cpu_prefetch(op->state1, i * state_size);
    if (op->state2)
        kbit_cpu_prefetch(op->state2, i * state_size);
}

/* ------------------------------------------------------------------ */
/* 32-bit states                                                        */

KBIT_INLINE void block32(const kbit_op_optimizer *op, const consts *k, int64_t start,
                         kbit_dtype PT, kbit_dtype GT)
{
    const int wdp = op->weight_decay > 0.0f;
    float *s1 = (float *)op->state1 + start;
    float *s2 = op->state2 ? (float *)op->state2 + start : NULL;
    float *s3 = (float *)op->state1 + op->n + start; /* ADEMAMIX m2 */
    for (int64_t i = 0; i < BLK; i += W) {
        prefetch_streams(op, start + i, PT, GT, 4);
        V p = VLOADT(op->p, PT, start + i);
        V g = VRT(PT, VMUL(k->gs, VLOADT(op->g, GT, start + i)));
        V s = VLOADF(s1 + i), pn;
        switch (op->kernel) {
        case KBIT_OPTK_ADAM: {
            M skip = skip_mask(op, k, g);
            V v = VLOADF(s2 + i);
            V m1 = VADD(VMUL(s, k->b1), VMUL(k->omb1, g));
            V v1 = VADD(VMUL(v, k->b2), VMUL(k->omb2, VMUL(g, g)));
            pn = VRT(PT, VADD(p, VMUL(k->us_ss, VDIV(m1, VADD(VSQRT(v1), k->eps_c2)))));
            if (wdp)
                pn = VRT(PT, VMUL(pn, k->decay));
            VSTOREF(s1 + i, VSEL(skip, s, m1));
            VSTOREF(s2 + i, VSEL(skip, v, v1));
            pn = VSEL(skip, p, pn);
            break;
        }
        case KBIT_OPTK_ADEMAMIX: {
            V v = VLOADF(s2 + i), m2 = VLOADF(s3 + i);
            V m1 = VADD(VMUL(s, k->b1), VMUL(k->omb1, g));
            V n2 = VADD(VMUL(m2, k->b3), VMUL(k->omb3, g));
            V v1 = VADD(VMUL(v, k->b2), VMUL(VMUL(k->omb2, g), g));
            V num = VADD(VDIV(m1, k->c1), VMUL(k->alpha, n2));
            pn = VRT(PT, VSUB(p, VMUL(k->lr, VDIV(num, VADD(VDIV(VSQRT(v1), k->c2), k->eps)))));
            if (wdp)
                pn = VRT(PT, VMUL(pn, k->decay));
            VSTOREF(s1 + i, m1);
            VSTOREF(s2 + i, v1);
            VSTOREF(s3 + i, n2);
            break;
        }
        default: { /* 1-state */
            if (wdp && op->kernel != KBIT_OPTK_LION)
                g = VRT(PT, VADD(g, VMUL(p, k->wd)));
            M skip = skip_mask(op, k, g);
            V sn;
            if (op->kernel == KBIT_OPTK_MOMENTUM) {
                sn = op->step == 1 ? g : VADD(VMUL(s, k->b1), g);
                pn = VRT(PT, VADD(p, VMUL(k->us, VMUL(k->neg_lr, sn))));
            } else if (op->kernel == KBIT_OPTK_LION) {
                V pw = wdp ? VRT(PT, VMUL(p, k->decay)) : p;
                V dir = vsgn(k, VADD(VMUL(s, k->b1), VMUL(k->omb1, g)));
                pn = VRT(PT, VSUB(pw, VMUL(k->us, VMUL(k->lr, dir))));
                sn = VADD(VMUL(s, k->b2), VMUL(k->omb2, g));
            } else if (op->kernel == KBIT_OPTK_RMSPROP) {
                sn = VADD(VMUL(s, k->b1), VMUL(VMUL(k->omb1, g), g));
                V u = VDIV(g, VADD(VSQRT(sn), k->eps));
                pn = VRT(PT, VSUB(p, VMUL(k->us, VMUL(k->lr, u))));
            } else { /* ADAGRAD */
                sn = VADD(s, VMUL(g, g));
                pn = VRT(PT, VSUB(p, VMUL(k->lr, VDIV(g, VADD(VSQRT(sn), k->eps)))));
            }
            VSTOREF(s1 + i, VSEL(skip, s, sn));
            pn = VSEL(skip, p, pn);
            break;
        }
        }
        VSTORET(op->p, PT, start + i, pn);
    }
}

/* ------------------------------------------------------------------ */
/* 8-bit states                                                         */

/* Running max of |x| over lanes, NaN ignored (as kbit_absmax): acc is
 * never NaN, and VMAX returns it when |x| is. */
KBIT_INLINE V vmax_abs(V acc, V x)
{
    return VMAX(VABS(x), acc);
}

KBIT_INLINE float hmax(V acc)
{
    float lanes[W];
    VSTOREF(lanes, acc);
    float m = 0.0f;
    for (int i = 0; i < W; i++)
        if (lanes[i] > m)
            m = lanes[i];
    return m;
}

/* enc8 (numerics 2.4) of a finite or NaN x (a state over its block's absmax
 * always is): with the plan's bucket table (enc8_plan.c explains it), one
 * table read and one integer comparison; else a branch-free binary search
 * over the midpoints padded with a NaN at 255, then the tie rule, as
 * kbit_enc8_sorted. */
KBIT_INLINE VI venc8(V x, const kbit_enc8_plan *plan)
{
    if (plan->buckets) {
        VI bits = VI_CAST(x);
        VI key = VI_XOR(bits, VI_OR(VI_SRAI(bits, 31), VI_SET1((int)0x80000000u)));
        VI e = VI_GATHER(plan->buckets, VI_SRLI(key, 16));
        VI j_lo = VI_AND(e, VI_SET1(0xff));
        M above = VI_GT(VI_AND(key, VI_SET1(0xffff)), VI_SRAI(e, 8));
        return VI_SEL(above, VI_ADD(j_lo, VI_SET1(1)), j_lo);
    }
    const float *mid_pad = plan->mid_pad;
    VI pos = VI_SET1(0);
    for (int h = 128; h > 0; h >>= 1) {
        V m = VGATHER(mid_pad, VI_ADD(pos, VI_SET1(h - 1)));
        pos = VI_SEL(VLT(m, x), VI_ADD(pos, VI_SET1(h)), pos);
    }
    M tie = MAND(VEQ(VGATHER(mid_pad, pos), x), MODD(pos));
    return VI_SEL(tie, VI_ADD(pos, VI_SET1(1)), pos);
}

/* Keys closer than this to a bucket's threshold or edge take the division. */
#define NEAR_KEYS 8

/* enc8(x / a) without the division where that is safe: y = x * (1/a) is
 * within 4 representable floats of the quotient (two roundings of 2^-24
 * relative each; |x| <= a), so when y's key is more than NEAR_KEYS away from
 * its bucket's edges and threshold, the quotient lies in the same bucket on
 * the same side and has the same code. A vector with a lane too close divides
 * (rare: about 16 x 64 / 65536 of the vectors). Needs the bucket table and a
 * finite, positive 1/a. */
KBIT_INLINE VI venc8_quotient(V x, V a, V r, const kbit_enc8_plan *plan)
{
    VI bits = VI_CAST(VMUL(x, r));
    VI key = VI_XOR(bits, VI_OR(VI_SRAI(bits, 31), VI_SET1((int)0x80000000u)));
    VI e = VI_GATHER(plan->buckets, VI_SRLI(key, 16));
    VI d = VI_SUB(VI_AND(key, VI_SET1(0xffff)), VI_SRAI(e, 8)); /* low - thr */
    /* Near, in two tests of 4 x NEAR_KEYS keys each (windows that hold the
     * exact ones, fewer operations than bounds on both sides): d in
     * [-NEAR_KEYS, 3 NEAR_KEYS - 1], or the low key bits within 2 NEAR_KEYS
     * of either end of the bucket. */
    M near = MOR(VI_TESTZ(VI_ADD(d, VI_SET1(NEAR_KEYS)), ~(4 * NEAR_KEYS - 1)),
                 VI_TESTZ(VI_ADD(key, VI_SET1(2 * NEAR_KEYS)), 0xffff & ~(4 * NEAR_KEYS - 1)));
    if (MANY(near))
        return venc8(VDIV(x, a), plan);
    return VI_ADD_MASKED(VI_GT(d, VI_SET1(0)), VI_AND(e, VI_SET1(0xff)), VI_SET1(1));
}

/* kbit_ref_optim_requantize for a whole block, with the choices made by the
 * caller (constants here): by_product (venc8_quotient, else the division),
 * sign_fix, and neg_prefix (map_neg is code < neg, else the map's sign). */
KBIT_INLINE void vrequantize_as(const float *s, V a, V r, const float *map,
                                const kbit_enc8_plan *plan, int by_product, int sign_fix,
                                int neg_prefix, int neg, uint8_t *q)
{
    const V zero = VSET1(0.0f);
    const VI negv = VI_SET1(neg), plus1 = VI_SET1(1), minus1 = VI_SET1(-1);
    for (int64_t i = 0; i < BLK; i += W) {
        V x = VLOADF(s + i);
        VI code = by_product ? venc8_quotient(x, a, r, plan) : venc8(VDIV(x, a), plan);
        if (sign_fix) {
            M map_neg = neg_prefix ? VI_GT(negv, code) : MSIGN(VGATHER(map, code));
            M differ = MXOR(map_neg, MSIGN(x));
            VI step = VI_SEL(VGT(x, zero), plus1, minus1);
            code = VI_ADD_MASKED(differ, code, step); /* 0 - 1 stores as 255 */
        }
        VI_STORE_U8(q + i, code);
    }
}

/* kbit_ref_optim_requantize for a whole block: one copy per variant (it
 * depends on no dtype or kernel), its loop compiled for each case so that
 * no per-vector test remains. */
static void vrequantize(const float *s, float absmax, const float *map,
                        const kbit_enc8_plan *plan, int sign_fix, int neg, uint8_t *q)
{
    const kbit_enc8_plan plan_copy = *plan; /* not reloaded after each store */
    plan = &plan_copy;
    V a = VSET1(absmax);
    float rs = 1.0f / absmax;
    V r = VSET1(rs);
    if (plan->buckets == NULL || !(rs > 0.0f && rs < INFINITY))
        vrequantize_as(s, a, r, map, plan, 0, sign_fix, neg >= 0, neg, q);
    else if (!sign_fix)
        vrequantize_as(s, a, r, map, plan, 1, 0, 0, neg, q);
    else if (neg >= 0)
        vrequantize_as(s, a, r, map, plan, 1, 1, 1, neg, q);
    else
        vrequantize_as(s, a, r, map, plan, 1, 1, 0, neg, q);
}

/* A vector's new parameters from its new states s, v (state 2), m2 (AdEMAMix
 * state 3) and, for Lion, the decayed parameter pw and the step. */
KBIT_INLINE V param_new(const consts *k, kbit_optim_kernel kernel, int wdp, kbit_dtype PT, V p,
                        V graw, V s, V v, V m2, V pw, V step)
{
    V pn;
    switch (kernel) {
    case KBIT_OPTK_ADAM: pn = VRT(PT, VADD(p, VMUL(k->ss, VDIV(s, VADD(VSQRT(v), k->c2_eps))))); break;
    case KBIT_OPTK_ADEMAMIX: {
        V num = VADD(VDIV(s, k->c1), VMUL(k->alpha, m2));
        pn = VRT(PT, VSUB(p, VMUL(k->lr, VDIV(num, VADD(VDIV(VSQRT(v), k->c2), k->eps)))));
        break;
    }
    case KBIT_OPTK_MOMENTUM: return VRT(PT, VSUB(p, VMUL(k->lr, s)));
    case KBIT_OPTK_LION: return VRT(PT, VSUB(pw, step));
    default: return VRT(PT, VSUB(p, VMUL(k->lr, VDIV(graw, VADD(VSQRT(s), k->eps)))));
    }
    return wdp ? VRT(PT, VMUL(pn, k->decay)) : pn;
}

KBIT_INLINE void block8(const kbit_op_optimizer *op, const consts *k, const kbit_optim_plans *pl,
                        const vlut *lut, int64_t b, kbit_optim_kernel kernel, int wdp,
                        kbit_dtype PT, kbit_dtype GT)
{
    /* A local copy, which the stores to p cannot alias: its fields (tables,
     * pointers, flags) stay in registers instead of being reloaded for every
     * vector. */
    const kbit_op_optimizer op_copy = *op;
    op = &op_copy;
    const int64_t start = b * BLK;
    const int64_t nblocks = (op->n + BLK - 1) / BLK;
    const int two = kernel == KBIT_OPTK_ADAM || kernel == KBIT_OPTK_ADEMAMIX;
    const int ademamix = kernel == KBIT_OPTK_ADEMAMIX;
    uint8_t *q1 = (uint8_t *)op->state1 + start;
    uint8_t *q2 = two ? (uint8_t *)op->state2 + start : NULL;
    uint8_t *q3 = (uint8_t *)op->state1 + op->n + start;
    _Alignas(64) float s1[BLK], s2[BLK], s3[BLK], go_f[BLK], pw_f[BLK], step_f[BLK];
    V a1 = VSET1(op->absmax1[b]);
    V a2 = VSET1(two ? op->absmax2[b] : 0.0f);
    V a3 = VSET1(ademamix ? op->absmax1[nblocks + b] : 0.0f);
    V mx1 = k->zero, mx2 = k->zero, mx3 = k->zero;
    const V fmax = VSET1(3.40282347e38f);
    /* fp32 parameters are updated in the states' pass (they need the new
     * states, not their absmax). With 16-bit parameters that one loop ran
     * slower than two (measured: 2.2 against 1.55 ns per parameter for 8-bit
     * AdamW bf16, hot caches), so they keep a second pass. */
    const int fused = PT == KBIT_F32;

    /* The old states' map values (times the absmax in pass 1): the whole
     * block at once where the variant has a table decoder, else a gather
     * per vector. */
#ifdef VLUT
    _Alignas(64) float d1[BLK], d2[BLK], d3[BLK];
    VLUT_BLOCK(&lut->map1, q1, d1);
    if (two)
        VLUT_BLOCK(&lut->map2, q2, d2);
    if (ademamix)
        VLUT_BLOCK(&lut->map1, q3, d3);
#define DECODED(buf, map, q) VLOADF((buf) + i)
#else
    (void)lut;
#define DECODED(buf, map, q) VGATHER(map, VI_LOAD_U8((q) + i))
#endif

    /* pass 1: new states (and, fused, parameters) */
    for (int64_t i = 0; i < BLK; i += W) {
        /* Every line of every stream: a vector of fp32 parameters is a whole
         * line, and prefetching them only with the codes (once per 64
         * elements) left three lines in four to the hardware (measured, 16 Mi
         * parameters, 1 thread: 8-bit Lion f32 18.9 -> 14.5 ms, AdamW f32
         * 28.5 -> 25.7 ms). */
        kbit_cpu_prefetch(op->p, (start + i) * (int64_t)kbit_dtype_size_const(PT));
        kbit_cpu_prefetch(op->g, (start + i) * (int64_t)kbit_dtype_size_const(GT));
        if (i % 64 == 0) { /* the codes: one line per 64 elements */
            kbit_cpu_prefetch(q1, i);
            if (two)
                kbit_cpu_prefetch(q2, i);
            if (ademamix)
                kbit_cpu_prefetch(q3, i);
        }
        V p = VLOADT(op->p, PT, start + i);
        V graw = VLOADT(op->g, GT, start + i);
        V gv = VMUL(graw, k->gs);
        M skip = skip_mask(op, k, graw), go;
        V o1 = VMUL(DECODED(d1, op->qmap1, q1), a1), n1, s;
        V v = k->zero, m2 = k->zero, step = k->zero, pw = p;
        if (two) {
            V o2 = VMUL(DECODED(d2, op->qmap2, q2), a2);
            M fin = VLE(VABS(gv), fmax);
            M zap = MANDNOT(MANDNOT(MALL, fin), skip); /* not finite, not skipped: reset */
            go = MANDNOT(fin, skip);                   /* finite, not skipped: update */
            V n2 = VADD(VMUL(o2, k->b2), VMUL(VMUL(k->omb2, gv), gv));
            n1 = VADD(VMUL(o1, k->b1), VMUL(k->omb1, gv));
            s = VSEL(go, n1, VSEL(zap, k->zero, o1));
            v = VSEL(go, n2, VSEL(zap, k->zero, o2));
            VSTOREF(s2 + i, v);
            mx2 = vmax_abs(mx2, v);
            if (ademamix) {
                V o3 = VMUL(DECODED(d3, op->qmap1, q3), a3);
                V n3 = VADD(VMUL(o3, k->b3), VMUL(k->omb3, gv));
                m2 = VSEL(go, n3, VSEL(zap, k->zero, o3));
                VSTOREF(s3 + i, m2);
                mx3 = vmax_abs(mx3, m2);
            }
            if (!fused)
                VSTOREF(go_f + i, VSEL(go, k->one, k->zero));
        } else {
            if (wdp && kernel != KBIT_OPTK_LION)
                gv = VADD(gv, VMUL(p, k->wd));
            switch (kernel) {
            case KBIT_OPTK_MOMENTUM: n1 = op->step == 1 ? gv : VADD(VMUL(o1, k->b1), gv); break;
            case KBIT_OPTK_LION: {
                V dir = vsgn(k, VADD(VMUL(o1, k->b1), VMUL(k->omb1, gv)));
                step = VRT(PT, VMUL(k->lr, dir));
                pw = wdp ? VRT(PT, VMUL(p, k->decay)) : p; /* decayed p */
                n1 = VADD(VMUL(o1, k->b2), VMUL(k->omb2, gv));
                if (!fused) {
                    VSTOREF(step_f + i, step);
                    VSTOREF(pw_f + i, pw);
                }
                break;
            }
            case KBIT_OPTK_RMSPROP: n1 = VADD(VMUL(o1, k->b1), VMUL(k->omb1, VMUL(gv, gv))); break;
            default: n1 = VADD(o1, VMUL(gv, gv)); break; /* ADAGRAD */
            }
            s = VSEL(skip, o1, n1);
            go = MANDNOT(MALL, skip);
        }
        VSTOREF(s1 + i, s);
        mx1 = vmax_abs(mx1, s);
        if (fused)
            VSTORET(op->p, PT, start + i,
                    VSEL(go, param_new(k, kernel, wdp, PT, p, graw, s, v, m2, pw, step), p));
    }
#undef DECODED
    float n1 = hmax(mx1), n2 = two ? hmax(mx2) : 0.0f, n3 = ademamix ? hmax(mx3) : 0.0f;

    /* pass 1b, 16-bit parameters: the parameters */
    for (int64_t i = 0; i < BLK && !fused; i += W) {
        V p = VLOADT(op->p, PT, start + i);
        V graw = VLOADT(op->g, GT, start + i);
        M go = two ? VEQ(VLOADF(go_f + i), k->one) : MANDNOT(MALL, skip_mask(op, k, graw));
        V v = two ? VLOADF(s2 + i) : k->zero, m2 = ademamix ? VLOADF(s3 + i) : k->zero;
        V pw = kernel == KBIT_OPTK_LION ? VLOADF(pw_f + i) : p;
        V step = kernel == KBIT_OPTK_LION ? VLOADF(step_f + i) : k->zero;
        V pn = param_new(k, kernel, wdp, PT, p, graw, VLOADF(s1 + i), v, m2, pw, step);
        VSTORET(op->p, PT, start + i, VSEL(go, pn, p));
    }

    /* pass 2: requantize (by the variant's search where it has one) */
#ifdef VLUT_REQUANTIZE
#define REQUANTIZE(s, a, map, table, plan, sign_fix, neg, q)                    \
    ((plan)->search ? VLUT_REQUANTIZE(s, a, table, (plan)->search, sign_fix, neg, q) \
                    : vrequantize(s, a, map, plan, sign_fix, neg, q))
#else
#define REQUANTIZE(s, a, map, table, plan, sign_fix, neg, q) \
    vrequantize(s, a, map, plan, sign_fix, neg, q)
#endif
    op->absmax1[b] = n1;
    REQUANTIZE(s1, n1, op->qmap1, &lut->map1, &pl->plan1, 1, pl->neg1, q1);
    if (two) {
        op->absmax2[b] = n2;
        REQUANTIZE(s2, n2, op->qmap2, &lut->map2, &pl->plan2, 0, -1, q2);
    }
    if (ademamix) {
        op->absmax1[nblocks + b] = n3;
        REQUANTIZE(s3, n3, op->qmap1, &lut->map1, &pl->plan1, 1, pl->neg1, q3);
    }
#undef REQUANTIZE
}

/* block8 compiled for each kernel and weight-decay case, so that the
 * per-vector choices between them are made once, here. */
KBIT_INLINE void block8_kernel(const kbit_op_optimizer *op, const consts *k,
                               const kbit_optim_plans *pl, const vlut *lut, int64_t b,
                               kbit_dtype PT, kbit_dtype GT)
{
    const int wdp = op->weight_decay > 0.0f;
#define BLOCK8_CASE(kern)                                   \
    case kern:                                              \
        if (wdp)                                            \
            block8(op, k, pl, lut, b, kern, 1, PT, GT);     \
        else                                                \
            block8(op, k, pl, lut, b, kern, 0, PT, GT);     \
        break;
    switch (op->kernel) {
        BLOCK8_CASE(KBIT_OPTK_ADAM)
        BLOCK8_CASE(KBIT_OPTK_ADEMAMIX)
        BLOCK8_CASE(KBIT_OPTK_MOMENTUM)
        BLOCK8_CASE(KBIT_OPTK_RMSPROP)
        BLOCK8_CASE(KBIT_OPTK_ADAGRAD)
        BLOCK8_CASE(KBIT_OPTK_LION)
    }
#undef BLOCK8_CASE
}

/* Every full block of [b0, b1) with constant dtypes; the reference does a
 * partial last block. */
KBIT_INLINE void optim_blocks(const kbit_op_optimizer *op, const kbit_optim_plans *pl, int64_t b0,
                              int64_t b1,
                              kbit_dtype PT, kbit_dtype GT)
{
    consts k;
    consts_init(&k, op);
    vlut lut;
    if (op->state_bits == 8)
        VLUT_INIT(&lut, op);
    const int64_t full = op->n / BLK;
    int64_t b = b0;
    for (; b < b1 && b < full; b++) {
        if (op->state_bits == 32)
            block32(op, &k, b * BLK, PT, GT);
        else
            block8_kernel(op, &k, pl, &lut, b, PT, GT);
    }
    if (b < b1)
        kbit_ref_optimizer_step(op, b, b1);
}

/* The variant's entry point: dispatch on the (param, grad) dtypes so that
 * each combination is compiled with constant dtypes. */
#define KBIT_DEFINE_OPTIMIZER_STEP(name)                                                  \
    void name(const kbit_op_optimizer *op, const kbit_optim_plans *pl, int64_t b0, int64_t b1) \
    {                                                                                     \
        kbit_dtype pt = op->param_dtype, gt = op->grad_dtype;                             \
        if (pt == KBIT_F32)                                                               \
            optim_blocks(op, pl, b0, b1, KBIT_F32, KBIT_F32);                             \
        else if (pt == KBIT_F16 && gt == KBIT_F16)                                        \
            optim_blocks(op, pl, b0, b1, KBIT_F16, KBIT_F16);                             \
        else if (pt == KBIT_F16)                                                          \
            optim_blocks(op, pl, b0, b1, KBIT_F16, KBIT_F32);                             \
        else if (gt == KBIT_BF16)                                                         \
            optim_blocks(op, pl, b0, b1, KBIT_BF16, KBIT_BF16);                           \
        else                                                                              \
            optim_blocks(op, pl, b0, b1, KBIT_BF16, KBIT_F32);                            \
    }

#endif /* KBIT_CPU_X86_OPTIM_SIMD_H */
