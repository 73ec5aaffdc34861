/* tests/gpu-emu/cases-quant8.cc - TEST ONLY: QUANT8 in the emulation test:
 * 8-bit blockwise quantize and dequantize, every data dtype and blocksize
 * 64..4096, the signed and the unsigned dynamic map and a map whose
 * midpoints are not sorted (-inf next to +inf: the literal count), with
 * and without the centring / offset of the nested absmax. */
#include "check.h"

#include <cmath>
#include <cstring>

#include "backends/cuda/gpu-kernels.h"

#include "ref.h"

#include "backends/gpu/split.h"

namespace {

const uint32_t signed_bits[256] = {KBIT_DYNAMIC_SIGNED_BITS_INIT};
const uint32_t unsigned_bits[256] = {KBIT_DYNAMIC_UNSIGNED_BITS_INIT};

struct map {
    const char *name;
    kbit_map_id id;
    float code[256], mid[255];
};

void make_map(map &m, const uint32_t *bits)
{
    for (int i = 0; i < 256; i++) {
        if (bits != nullptr)
            memcpy(&m.code[i], &bits[i], 4);
        else
            m.code[i] = i < 128 ? -INFINITY : INFINITY;
    }
    for (int i = 0; i < 255; i++)
        m.mid[i] = (m.code[i] + m.code[i + 1]) * 0.5f; /* include/kbit-driver.h */
}

} // namespace

void kbit_emu_family_quant8()
{
    static map maps[3];
    make_map(maps[0], signed_bits);
    maps[0].name = "signed";
    maps[0].id = KBIT_MAP_ID_SIGNED;
    make_map(maps[1], unsigned_bits);
    maps[1].name = "unsigned";
    maps[1].id = KBIT_MAP_ID_UNSIGNED;
    make_map(maps[2], nullptr);
    maps[2].name = "unsorted midpoints";
    maps[2].id = KBIT_MAP_ID_CUSTOM;
    static const kbit_dtype dtypes[] = {KBIT_F32, KBIT_F16, KBIT_BF16};
    int which = 0, bs_index = 0;
    for (int32_t bs = 64; bs <= 4096; bs *= 2, bs_index++) {
        for (int j = 0; j < 3; j++) {
            const kbit_dtype dtype = dtypes[j];
            for (int center = 0; center < 2; center++) {
                if (!emu_pick_dtype(j, bs_index, center) || (emu_quick() && bs != 256))
                    continue;
                const map &m = maps[which++ % 3];
                const int64_t two_groups = 2 * (int64_t)kbit_split_tile_blocks(bs) * bs + 1;
                const std::vector<int64_t> sizes = emu_sizes(bs, 64, two_groups);
                std::string bad;
                for (int64_t n : sizes) {
                    const int64_t nblocks = (n + bs - 1) / bs;
                    emu_bytes x = emu_input(dtype, n, (uint64_t)n * 17 + bs + center);
                    const float offset = center ? 0.375f : 0.0f;
                    emu_bytes q((size_t)n), absmax((size_t)nblocks * 4);
                    emu_bytes q_ref = q, absmax_ref = absmax;
                    kbit_op_quantize_8bit op = {};
                    op.struct_size = sizeof op;
                    op.dtype = dtype;
                    op.x = x.data();
                    op.n = n;
                    op.blocksize = bs;
                    op.code = m.code;
                    op.mid = m.mid;
                    op.map_id = m.id;
                    op.center = center;
                    op.offset = &offset;
                    op.q = q_ref.data();
                    op.absmax = (float *)absmax_ref.data();
                    kbit_ref_quantize_8bit(&op, 0, nblocks);
                    op.q = q.data();
                    op.absmax = (float *)absmax.data();
                    bad = emu_run({{&q, &q_ref}, {&absmax, &absmax_ref}},
                                  [&] { return kbit_cuda_quantize_8bit(&op, nullptr); });
                    if (!bad.empty()) {
                        bad = "quantize n=" + std::to_string(n) + ": " + bad;
                        break;
                    }

                    const kbit_dtype out_dtype = center ? KBIT_F32 : dtype;
                    emu_bytes out((size_t)n * emu_dtype_size(out_dtype)), out_ref = out;
                    kbit_op_dequantize_8bit d = {};
                    d.struct_size = sizeof d;
                    d.q = q_ref.data();
                    d.absmax = (const float *)absmax_ref.data();
                    d.n = n;
                    d.blocksize = bs;
                    d.code = m.code;
                    d.add_offset = center;
                    d.offset = offset;
                    d.out_dtype = out_dtype;
                    d.out = out_ref.data();
                    kbit_ref_dequantize_8bit(&d, 0, nblocks);
                    d.out = out.data();
                    bad = emu_run({{&out, &out_ref}},
                                  [&] { return kbit_cuda_dequantize_8bit(&d, nullptr); });
                    if (!bad.empty()) {
                        bad = "dequantize n=" + std::to_string(n) + ": " + bad;
                        break;
                    }
                }
                emu_tap(bad.empty(), std::string("quant8 ") + emu_dtype_name(dtype) +
                                         " blocksize " + std::to_string(bs) + " map " + m.name +
                                         (center ? " centred" : "") +
                                         (bad.empty() ? "" : ": " + bad));
            }
        }
    }
}
