/* tests/gpu-emu/cases-sums.cc - TEST ONLY: the canonical fp64 sum in the
 * emulation test: block_sums (leaves of 256 elements, a partial last leaf,
 * two groups) and the pairsum tree (counts around the group size and
 * powers of two, a mean divisor, with and without the fp32 copy). */
#include "check.h"

#include <cstring>

#include "backends/cuda/gpu-kernels.h"

#include "ref.h"

void kbit_emu_family_sums()
{
    std::vector<int64_t> sizes = {1, 255, 256, 257, 256 * 300 + 5};
    if (!emu_full())
        sizes = {1, 257, 256 * 300 + 5};
    if (emu_quick())
        sizes = {256 * 300 + 5};
    std::string bad;
    for (int64_t n : sizes) {
        const int64_t count = (n + 255) / 256;
        emu_bytes x = emu_input(KBIT_F32, n, (uint64_t)n * 7 + 1);
        emu_bytes leaves((size_t)count * 8), leaves_ref = leaves;
        kbit_op_block_sums b = {};
        b.struct_size = sizeof b;
        b.x = (const float *)x.data();
        b.n = n;
        b.leaves = (double *)leaves_ref.data();
        kbit_ref_block_sums(&b, 0, count);
        b.leaves = (double *)leaves.data();
        bad = emu_run({{&leaves, &leaves_ref}},
                      [&] { return kbit_cuda_block_sums(&b, nullptr); });
        if (!bad.empty()) {
            bad = "n=" + std::to_string(n) + ": " + bad;
            break;
        }
    }
    emu_tap(bad.empty(), "sums block_sums" + (bad.empty() ? "" : ": " + bad));

    std::vector<int64_t> counts = {1, 2, 3, 255, 256, 257, 511, 1000, 4099};
    if (!emu_full())
        counts = {1, 3, 256, 257, 1000, 4099};
    if (emu_quick())
        counts = {1000};
    bad.clear();
    for (int64_t count : counts) {
        for (int mean = 0; mean < 2 && bad.empty(); mean++) {
            emu_rng r((uint64_t)count * 3 + mean);
            std::vector<double> leaves((size_t)count);
            for (double &v : leaves)
                v = (double)r.uniform(-1.0f, 1.0f) * (r.next() % 4 == 0 ? 1e12 : 1.0) +
                    (double)r.uniform(0.0f, 1.0f) * 1e-9;
            emu_bytes sums(12), sums_ref(12); /* the fp64 sum, then the fp32 */
            std::vector<double> work = leaves;
            kbit_op_pairsum p = {};
            p.struct_size = sizeof p;
            p.leaves = work.data();
            p.count = count;
            p.divisor = mean ? (double)(count * 256) : 1.0;
            p.sum = (double *)sums_ref.data();
            p.sum_f32 = mean ? (float *)(sums_ref.data() + 8) : nullptr;
            if (!mean)
                memset(sums_ref.data() + 8, 0xa5, 4); /* left as emu_run fills it */
            kbit_ref_pairsum(&p);
            p.sum = (double *)sums.data();
            p.sum_f32 = mean ? (float *)(sums.data() + 8) : nullptr;
            bad = emu_run({{&sums, &sums_ref}}, [&] {
                work = leaves; /* the tree overwrites its leaves */
                return kbit_cuda_pairsum(&p, nullptr);
            });
            if (!bad.empty())
                bad = "count=" + std::to_string(count) + (mean ? " mean" : "") + ": " + bad;
        }
        if (!bad.empty())
            break;
    }
    emu_tap(bad.empty(), "sums pairsum" + (bad.empty() ? "" : ": " + bad));
}
