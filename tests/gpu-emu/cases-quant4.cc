/* tests/gpu-emu/cases-quant4.cc - TEST ONLY: QUANT4 in the emulation test:
 * 4-bit quantize and dequantize, NF4 and FP4, every data dtype and every
 * blocksize 32..4096, with n = 1, one block and one element (odd), and
 * enough blocks for two groups and an odd end. */
#include "check.h"

#include "backends/cuda/gpu-kernels.h"

#include "ref.h"

#include "backends/gpu/split.h"

void kbit_emu_family_quant4()
{
    static const kbit_quant_type types[] = {KBIT_NF4, KBIT_FP4};
    static const kbit_dtype dtypes[] = {KBIT_F32, KBIT_F16, KBIT_BF16};
    for (int t = 0; t < 2; t++) {
        const kbit_quant_type type = types[t];
        int bs_index = 0;
        for (int32_t bs = 32; bs <= 4096; bs *= 2, bs_index++) {
            for (int j = 0; j < 3; j++) {
                const kbit_dtype dtype = dtypes[j];
                if (!emu_pick_dtype(j, bs_index, t) || (emu_quick() && bs != 256))
                    continue;
                const int64_t two_groups = 2 * (int64_t)kbit_split_tile_blocks(bs) * bs + 3;
                const std::vector<int64_t> sizes = emu_sizes(bs, 32, two_groups);
                std::string bad;
                for (int64_t n : sizes) {
                    const int64_t nblocks = (n + bs - 1) / bs;
                    emu_bytes x = emu_input(dtype, n, (uint64_t)n * 131 + bs + type);
                    emu_bytes packed((size_t)(n + 1) / 2), absmax((size_t)nblocks * 4);
                    emu_bytes packed_ref = packed, absmax_ref = absmax;
                    kbit_op_quantize_4bit q = {};
                    q.struct_size = sizeof q;
                    q.type = type;
                    q.dtype = dtype;
                    q.x = x.data();
                    q.n = n;
                    q.blocksize = bs;
                    q.packed = packed_ref.data();
                    q.absmax = (float *)absmax_ref.data();
                    kbit_ref_quantize_4bit(&q, 0, nblocks);
                    q.packed = packed.data();
                    q.absmax = (float *)absmax.data();
                    bad = emu_run({{&packed, &packed_ref}, {&absmax, &absmax_ref}},
                                  [&] { return kbit_cuda_quantize_4bit(&q, nullptr); });
                    if (!bad.empty()) {
                        bad = "quantize n=" + std::to_string(n) + ": " + bad;
                        break;
                    }

                    emu_bytes out((size_t)n * emu_dtype_size(dtype)), out_ref = out;
                    kbit_op_dequantize_4bit d = {};
                    d.struct_size = sizeof d;
                    d.type = type;
                    d.packed = packed_ref.data();
                    d.absmax = (const float *)absmax_ref.data();
                    d.n = n;
                    d.blocksize = bs;
                    d.out_dtype = dtype;
                    d.out = out_ref.data();
                    kbit_ref_dequantize_4bit(&d, 0, nblocks);
                    d.out = out.data();
                    bad = emu_run({{&out, &out_ref}},
                                  [&] { return kbit_cuda_dequantize_4bit(&d, nullptr); });
                    if (!bad.empty()) {
                        bad = "dequantize n=" + std::to_string(n) + ": " + bad;
                        break;
                    }
                }
                emu_tap(bad.empty(), std::string("quant4 ") + (type == KBIT_NF4 ? "nf4" : "fp4") +
                                         " " + emu_dtype_name(dtype) + " blocksize " +
                                         std::to_string(bs) + (bad.empty() ? "" : ": " + bad));
            }
        }
    }
}
