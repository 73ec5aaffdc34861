/* tests/gpu-emu/cases-gemm4.cc - TEST ONLY: GEMM4 in the emulation test: the
 * 4-bit matmul forward (with and without bias) and backward, NF4 and FP4,
 * every dtype, odd M, N, K with K not a multiple of 32 (the last dot32
 * chunk padded, quantization blocks across weight rows), N * K odd (the
 * last packed byte half used), several groups of dot32 slots. */
#include "check.h"

#include <cstring>
#include <utility>

#include "backends/cuda/gpu-kernels.h"

#include "ref.h"

namespace {

struct shape {
    int64_t M, N, K;
    int32_t blocksize;
};

/* The weight: random codes, absmax from emu_input (edge classes included). */
void make_weight(const shape &s, uint64_t seed, emu_bytes &packed, emu_bytes &absmax)
{
    const int64_t nk = s.N * s.K;
    packed.assign((size_t)((nk + 1) / 2), 0);
    emu_rng r(seed);
    for (unsigned char &b : packed)
        b = (unsigned char)r.next();
    absmax = emu_input(KBIT_F32, (nk + s.blocksize - 1) / s.blocksize, seed + 1);
}

std::string run_one(const shape &s, kbit_quant_type type, kbit_dtype dtype, int bias,
                    int backward, uint64_t seed)
{
    emu_bytes packed, absmax;
    make_weight(s, seed, packed, absmax);
    const int64_t L = backward ? s.N : s.K, O = backward ? s.K : s.N;
    emu_bytes a = emu_input(dtype, s.M * L, seed + 2);
    emu_bytes b = emu_input(dtype, s.N, seed + 3);
    emu_bytes out((size_t)(s.M * O) * emu_dtype_size(dtype)), out_ref = out;
    kbit_op_gemm_4bit op = {};
    op.struct_size = sizeof op;
    op.type = type;
    op.dtype = dtype;
    op.M = s.M;
    op.N = s.N;
    op.K = s.K;
    op.packed = packed.data();
    op.absmax = (const float *)absmax.data();
    op.blocksize = s.blocksize;
    op.a = a.data();
    op.bias = bias ? b.data() : nullptr;
    op.out = out_ref.data();
    if (backward)
        kbit_ref_gemm_4bit_backward(&op, nullptr, 0, s.K);
    else
        kbit_ref_gemm_4bit(&op, nullptr, 0, s.N);
    op.out = out.data();
    return emu_run({{&out, &out_ref, emu_elem_of(dtype)}}, [&] {
        return backward ? kbit_cuda_gemm_4bit_backward(&op, nullptr)
                        : kbit_cuda_gemm_4bit(&op, nullptr);
    });
}

} // namespace

void kbit_emu_family_gemm4()
{
    /* M x N x K of the forward: a single result; K = 45 and 77 (not
     * multiples of 32: a padded chunk; quantization blocks across weight
     * rows); K = 300 (more chunks than the 32 lanes: lane c also does chunk
     * c + 32); M * N above the 8 dot32 slots of a group. The backward
     * reduces over N: the same with N and K swapped (so its M * K results
     * stay few: every group of 256 items is a pool of threads here). */
    std::vector<shape> shapes = {{1, 1, 45, 32}, {3, 7, 77, 64}, {2, 5, 300, 128}};
    if (emu_full())
        shapes.push_back({5, 13, 1029, 256});
    if (emu_quick())
        shapes = {{3, 7, 77, 64}};
    static const kbit_dtype dtypes[] = {KBIT_F32, KBIT_F16, KBIT_BF16};
    static const kbit_quant_type types[] = {KBIT_NF4, KBIT_FP4};
    int variant = 0;
    for (int t = 0; t < 2; t++) {
        for (int j = 0; j < 3; j++) {
            for (int dir = 0; dir < 3; dir++) { /* forward, forward + bias, backward */
                std::string bad;
                for (size_t i = 0; i < shapes.size(); i++) {
                    /* by default one shape a case, in turn: every shape
                     * with every type and direction, over the dtypes */
                    if (!emu_full() && !emu_quick() && i != (size_t)(t + j + dir) % shapes.size())
                        continue;
                    shape s = shapes[i];
                    if (dir == 2)
                        std::swap(s.N, s.K);
                    bad = run_one(s, types[t], dtypes[j], dir == 1, dir == 2,
                                  (uint64_t)(s.M * 1000003 + s.N * 1009 + s.K) + variant);
                    if (!bad.empty()) {
                        bad = "M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) +
                              " K=" + std::to_string(s.K) + ": " + bad;
                        break;
                    }
                }
                variant++;
                static const char *const dirs[] = {"forward", "forward bias", "backward"};
                emu_tap(bad.empty(), std::string("gemm4 ") + (t ? "fp4 " : "nf4 ") +
                                         emu_dtype_name(dtypes[j]) + " " + dirs[dir] +
                                         (bad.empty() ? "" : ": " + bad));
            }
        }
    }
}
