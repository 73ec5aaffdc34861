/* tests/gpu-emu/cases-optim.cc - TEST ONLY: the optimizers in the emulation
 * test: a 32-bit and an 8-bit step of every kernel (ADAM and ADEMAMIX with
 * two states, MOMENTUM, RMSPROP, ADAGRAD, LION with one), fp32 and bf16
 * params (fp16 with --full), gradients of the param dtype or fp32, host
 * scalars and device scales, skip_zeros; the norm leaves (param, gradient,
 * update squares) and the scales of percentile clipping and max_unorm.
 * Sizes end in a partial 256-element block over several groups. */
#include "check.h"

#include <cmath>
#include <cstring>

#include "backends/cuda/gpu-kernels.h"

#include "ref.h"

namespace {

const uint32_t signed_bits[256] = {KBIT_DYNAMIC_SIGNED_BITS_INIT};
const uint32_t unsigned_bits[256] = {KBIT_DYNAMIC_UNSIGNED_BITS_INIT};

struct qmap {
    float code[256], mid[255];
    explicit qmap(const uint32_t *bits)
    {
        memcpy(code, bits, sizeof code);
        for (int i = 0; i < 255; i++)
            mid[i] = (code[i] + code[i + 1]) * 0.5f; /* include/kbit-driver.h */
    }
};

const char *const kind_names[] = {"adam", "ademamix", "momentum", "rmsprop", "adagrad", "lion"};

emu_bytes floats(int64_t n, float lo, float hi, uint64_t seed)
{
    emu_bytes b((size_t)n * 4);
    emu_rng r(seed);
    for (int64_t i = 0; i < n; i++) {
        float v = r.uniform(lo, hi);
        memcpy(b.data() + 4 * i, &v, 4);
    }
    return b;
}

emu_bytes codes(int64_t n, uint64_t seed)
{
    emu_bytes b((size_t)n);
    emu_rng r(seed);
    for (unsigned char &c : b)
        c = (unsigned char)r.next();
    return b;
}

/* The state of one step: what the op reads and writes in place. */
struct state {
    emu_bytes p, s1, s2, a1, a2;
};

/* The step's scalars (any values give a bit-exact comparison; these are
 * those of a step 3 of bitsandbytes' defaults). */
void scalars(kbit_op_optimizer &op, kbit_optim_kernel kind)
{
    const double b1 = 0.9, b2 = 0.999, t = 3.0;
    op.step = 3;
    op.lr = 1e-3f;
    op.beta1 = (float)b1;
    op.beta2 = (float)b2;
    op.beta3 = 0.9999f;
    op.alpha = 5.0f;
    op.eps = 1e-8f;
    op.weight_decay = kind == KBIT_OPTK_ADAGRAD ? 0.0f : 0.01f;
    op.gnorm_scale = 0.8f;
    op.update_scale = 0.9f;
    const double p1 = pow(b1, t), p2 = pow(b2, t);
    op.c1 = (float)(1.0 - p1);
    op.c2 = (float)sqrt(1.0 - p2);
    op.step_size = (float)(-1e-3 * sqrt(1.0 - p2) / (1.0 - p1));
    op.c1p = (float)(1.0 / (1.0 - p1));
    op.c2p = (float)(1.0 / (1.0 - p2));
}

std::string step(kbit_optim_kernel kind, int bits, kbit_dtype pd, kbit_dtype gd, int has_scales,
                 int skip_zeros, int64_t n, uint64_t seed)
{
    static const qmap map1(signed_bits), map2(unsigned_bits);
    const bool two = kind == KBIT_OPTK_ADAM || kind == KBIT_OPTK_ADEMAMIX;
    const int64_t n1 = kind == KBIT_OPTK_ADEMAMIX ? 2 * n : n; /* m1 then m2 */
    const int64_t nb = (n + KBIT_OPTIM_BLOCK - 1) / KBIT_OPTIM_BLOCK;
    state init;
    init.p = emu_input(pd, n, seed);
    emu_bytes g = emu_input(gd, n, seed + 1);
    if (skip_zeros) /* some exact zeros the step must leave alone */
        for (int64_t i = 0; i < n; i += 7)
            memset(g.data() + i * emu_dtype_size(gd), 0, emu_dtype_size(gd));
    if (bits == 32) {
        init.s1 = floats(n1, -1.0f, 1.0f, seed + 2);
        init.s2 = two ? floats(n, 0.0f, 1.0f, seed + 3) : emu_bytes();
    } else {
        init.s1 = codes(n1, seed + 2);
        init.s2 = two ? codes(n, seed + 3) : emu_bytes();
        init.a1 = floats(kind == KBIT_OPTK_ADEMAMIX ? 2 * nb : nb, 0.0f, 2.0f, seed + 4);
        init.a2 = two ? floats(nb, 0.0f, 2.0f, seed + 5) : emu_bytes();
    }
    const float dev_scales[KBIT_OPTSCALE_COUNT] = {0.5f, 0.75f, 0.5f, 3.0f, 2.0f};
    kbit_op_optimizer op = {};
    op.struct_size = sizeof op;
    op.kernel = kind;
    op.state_bits = bits;
    op.param_dtype = pd;
    op.grad_dtype = gd;
    op.g = g.data();
    op.n = n;
    op.qmap1 = bits == 8 ? map1.code : nullptr;
    op.mid1 = bits == 8 ? map1.mid : nullptr;
    op.qmap2 = bits == 8 && two ? map2.code : nullptr;
    op.mid2 = bits == 8 && two ? map2.mid : nullptr;
    op.map1_id = KBIT_MAP_ID_SIGNED;
    op.map2_id = KBIT_MAP_ID_UNSIGNED;
    scalars(op, kind);
    op.scales = has_scales ? dev_scales : nullptr;
    op.skip_zeros = skip_zeros;
    auto point = [&](state &s) {
        op.p = s.p.data();
        op.state1 = s.s1.data();
        op.state2 = two ? s.s2.data() : nullptr;
        op.absmax1 = bits == 8 ? (float *)s.a1.data() : nullptr;
        op.absmax2 = bits == 8 && two ? (float *)s.a2.data() : nullptr;
    };
    state want = init, got = init;
    point(want);
    kbit_ref_optimizer_step(&op, 0, nb);
    point(got);
    const emu_elem se = bits == 32 ? EMU_F32 : EMU_RAW;
    return emu_run({{&got.p, &want.p, emu_elem_of(pd)},
                    {&got.s1, &want.s1, se},
                    {&got.s2, &want.s2, se},
                    {&got.a1, &want.a1, EMU_F32},
                    {&got.a2, &want.a2, EMU_F32}},
                   [&] {
                       got = init; /* updated in place */
                       point(got);
                       return kbit_cuda_optimizer_step(&op, nullptr);
                   });
}

std::string sums(kbit_optim_kernel kind, kbit_optim_sum which, kbit_dtype pd, int has_scales,
                 int64_t n, uint64_t seed)
{
    const bool two = kind == KBIT_OPTK_ADAM;
    emu_bytes p = emu_input(pd, n, seed), g = emu_input(pd, n, seed + 1);
    emu_bytes s1 = floats(n, -1.0f, 1.0f, seed + 2), s2 = floats(n, 0.0f, 1.0f, seed + 3);
    const float dev_scales[KBIT_OPTSCALE_COUNT] = {0.5f, 0.75f, 0.5f, 3.0f, 2.0f};
    kbit_op_optimizer st = {};
    st.struct_size = sizeof st;
    st.kernel = kind;
    st.state_bits = 32;
    st.param_dtype = pd;
    st.grad_dtype = pd;
    st.p = p.data();
    st.g = g.data();
    st.n = n;
    st.state1 = s1.data();
    st.state2 = two ? s2.data() : nullptr;
    scalars(st, kind);
    st.scales = has_scales ? dev_scales : nullptr;
    const int64_t nb = (n + KBIT_OPTIM_BLOCK - 1) / KBIT_OPTIM_BLOCK;
    emu_bytes leaves((size_t)nb * 8), leaves_ref = leaves;
    kbit_op_optimizer_sums op = {};
    op.struct_size = sizeof op;
    op.step = &st;
    op.which = which;
    op.leaves = (double *)leaves_ref.data();
    kbit_ref_optimizer_sums(&op, 0, nb);
    op.leaves = (double *)leaves.data();
    return emu_run({{&leaves, &leaves_ref, EMU_F64}},
                   [&] { return kbit_cuda_optimizer_sums(&op, nullptr); });
}

std::string scales(kbit_optim_scale_phase phase, int64_t stepno, int clipped, int add_eps,
                   uint64_t seed)
{
    emu_rng r(seed);
    const double sums[2] = {(double)r.uniform(0.5f, 40.0f), (double)r.uniform(0.5f, 40.0f)};
    const emu_bytes hist0 = floats(100, 0.5f, 7.0f, seed + 1);
    const emu_bytes sc0 = floats(KBIT_OPTSCALE_COUNT, 0.25f, 2.0f, seed + 2);
    emu_bytes hist = hist0, hist_ref = hist0, sc = sc0, sc_ref = sc0;
    kbit_op_optimizer_scales op = {};
    op.struct_size = sizeof op;
    op.phase = phase;
    op.sums = sums;
    op.history = (float *)hist_ref.data();
    op.scales = (float *)sc_ref.data();
    op.step = stepno;
    op.percentile = 10;
    op.clipped = clipped;
    op.gnorm_scale = 0.8f;
    op.max_unorm = 1.0f;
    op.eps = 1e-8f;
    op.add_eps = add_eps;
    kbit_ref_optimizer_scales(&op);
    op.history = (float *)hist.data();
    op.scales = (float *)sc.data();
    return emu_run({{&hist, &hist_ref, EMU_F32}, {&sc, &sc_ref, EMU_F32}}, [&] {
        hist = hist0; /* read and written */
        sc = sc0;
        return kbit_cuda_optimizer_scales(&op, nullptr);
    });
}

} // namespace

void kbit_emu_family_optim()
{
    const bool full = emu_full(), quick = emu_quick();
    /* 2 full blocks and a partial one: 3 groups (one per block or per 256
     * elements), several blocks per group when capped */
    const int64_t n = 2 * KBIT_OPTIM_BLOCK + 77;
    static const kbit_dtype pdts[] = {KBIT_F32, KBIT_BF16, KBIT_F16};
    for (int kind = KBIT_OPTK_ADAM; kind <= KBIT_OPTK_LION; kind++) {
        for (int bits = 32; bits >= 8; bits -= 24) {
            if (quick && kind != KBIT_OPTK_ADAM)
                continue;
            std::string bad;
            for (int v = 0; v < (full ? 6 : 1) && bad.empty(); v++) {
                /* by default one variant per kernel and width, in turn:
                 * param dtype, fp32 gradient, device scales, skip_zeros */
                const int w = full ? v : kind + (bits == 8 ? 1 : 0);
                const kbit_dtype pd = pdts[full ? v % 3 : w % 2];
                const kbit_dtype gd = (w / 2) % 2 ? KBIT_F32 : pd;
                const int has_scales = w % 3 == 1, skip = w % 4 == 3;
                bad = step((kbit_optim_kernel)kind, bits, pd, gd, has_scales, skip,
                           full && v == 5 ? 1 : n, 700 + (uint64_t)(kind * 50 + bits + v));
                if (!bad.empty())
                    bad = std::string(emu_dtype_name(pd)) + " grad " + emu_dtype_name(gd) +
                          (has_scales ? " scales" : "") + (skip ? " skip_zeros" : "") + ": " +
                          bad;
            }
            emu_tap(bad.empty(), std::string("optim step") + std::to_string(bits) + " " +
                                     kind_names[kind] + (bad.empty() ? "" : ": " + bad));
        }
    }

    std::string bad;
    static const kbit_optim_sum whichs[] = {KBIT_OPTSUM_PARAM_SQ, KBIT_OPTSUM_GRAD_SQ,
                                           KBIT_OPTSUM_UPDATE_SQ};
    static const char *const which_names[] = {"param", "grad", "update"};
    for (int k = 0; k < 2 && bad.empty(); k++) {
        const kbit_optim_kernel kind = k ? KBIT_OPTK_MOMENTUM : KBIT_OPTK_ADAM;
        for (int w = 0; w < 3 && bad.empty(); w++) {
            if (quick && w != 2)
                continue;
            bad = sums(kind, whichs[w], pdts[(k + w) % 2], (k + w) % 2, n, 900 + k * 3 + w);
            if (!bad.empty())
                bad = std::string(kind_names[kind]) + " " + which_names[w] + ": " + bad;
        }
    }
    if (bad.empty() && full)
        bad = sums(KBIT_OPTK_ADAM, KBIT_OPTSUM_UPDATE_SQ, KBIT_F16, 0, 1, 950);
    emu_tap(bad.empty(), "optim sums" + (bad.empty() ? "" : ": " + bad));

    bad.clear();
    struct {
        kbit_optim_scale_phase phase;
        int64_t step;
        int clipped, add_eps;
    } sc[] = {{KBIT_OPTSCALE_PHASE_CLIP, 5, 0, 0},
              {KBIT_OPTSCALE_PHASE_CLIP, 150, 0, 0},
              {KBIT_OPTSCALE_PHASE_UNORM, 3, 0, 0},
              {KBIT_OPTSCALE_PHASE_UNORM, 3, 1, 1}};
    for (auto &c : sc) {
        bad = scales(c.phase, c.step, c.clipped, c.add_eps, 1000 + (uint64_t)c.step + c.clipped);
        if (!bad.empty()) {
            bad = std::string(c.phase == KBIT_OPTSCALE_PHASE_CLIP ? "clip" : "unorm") +
                  " step " + std::to_string(c.step) + ": " + bad;
            break;
        }
    }
    emu_tap(bad.empty(), "optim scales" + (bad.empty() ? "" : ": " + bad));
}
