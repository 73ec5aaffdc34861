/* tests/gpu-emu/cases-int8.cc - TEST ONLY: LLM.int8() in the emulation test:
 * the row-wise quantization without and with a threshold (outliers found
 * through the atomic column mask, compacted by one group, their columns
 * zeroed; and a threshold no value reaches), the int8 GEMM over several
 * 16 x 16 tiles and k slices of 64 (a partial one; K = 0), the GEMM with
 * the gather (within and over its capacity), mm_dequant with every bias
 * dtype and none, dequant_weight, outlier_add (from CB and from gathered
 * columns; no outliers: nothing written) and the backward, every dtype. */
#include "check.h"

#include <cmath>
#include <cstring>

#include "backends/cuda/gpu-kernels.h"

#include "ref.h"

namespace {

const kbit_dtype dtypes[] = {KBIT_F32, KBIT_F16, KBIT_BF16};

emu_bytes random_bytes(size_t n, uint64_t seed)
{
    emu_bytes b(n);
    emu_rng r(seed);
    for (unsigned char &c : b)
        c = (unsigned char)r.next();
    return b;
}

/* Positive finite scales (the row absmax of a quantization). */
emu_bytes scales(int64_t n, uint64_t seed)
{
    emu_bytes b((size_t)n * 4);
    emu_rng r(seed);
    for (int64_t i = 0; i < n; i++) {
        float v = r.uniform(0.0f, 100.0f);
        if (r.next() % 8 == 0)
            v = 0.0f;
        memcpy(b.data() + 4 * i, &v, 4);
    }
    return b;
}

emu_bytes filled(size_t n)
{
    return emu_bytes(n, (unsigned char)0xa5); /* as emu_run leaves unwritten bytes */
}

std::string where(const char *what, const std::string &bad)
{
    return bad.empty() ? "" : std::string(what) + ": " + bad;
}

std::string quant(kbit_dtype dtype, int64_t rows, int64_t cols, float threshold, uint64_t seed)
{
    emu_bytes A = emu_input(dtype, rows * cols, seed);
    const bool use = threshold > 0.0f;
    emu_bytes CA = filled((size_t)(rows * cols)), SCA = filled((size_t)rows * 4);
    emu_bytes oc = filled(use ? (size_t)cols * 8 : 0), no = filled(use ? 8 : 0);
    emu_bytes CA_ref = CA, SCA_ref = SCA, oc_ref = oc, no_ref = no;
    std::vector<uint8_t> colmask((size_t)cols);
    kbit_op_int8_quant op = {};
    op.struct_size = sizeof op;
    op.dtype = dtype;
    op.A = A.data();
    op.rows = rows;
    op.cols = cols;
    op.use_threshold = use;
    op.threshold_f16 = threshold;
    op.CA = (int8_t *)CA_ref.data();
    op.SCA = (float *)SCA_ref.data();
    op.outlier_cols = use ? (int64_t *)oc_ref.data() : nullptr;
    op.n_outliers = use ? (int64_t *)no_ref.data() : nullptr;
    kbit_ref_int8_quant(&op, colmask.data());
    op.CA = (int8_t *)CA.data();
    op.SCA = (float *)SCA.data();
    op.outlier_cols = use ? (int64_t *)oc.data() : nullptr;
    op.n_outliers = use ? (int64_t *)no.data() : nullptr;
    /* the mask: garbage first (the launch clears it) */
    emu_bytes ws = random_bytes(kbit_cuda_int8_workspace(KBIT_OP_INT8_QUANT, &op), seed + 1);
    return emu_run({{&CA, &CA_ref}, {&SCA, &SCA_ref, EMU_F32}, {&oc, &oc_ref}, {&no, &no_ref}}, [&] {
        emu_bytes w = random_bytes(ws.size(), seed + 1);
        memcpy(ws.data(), w.data(), w.size());
        return kbit_cuda_int8_quant(&op, ws.empty() ? nullptr : ws.data(), nullptr);
    });
}

std::string matmul(int64_t M, int64_t N, int64_t K, int64_t n_cols, int64_t capacity,
                   uint64_t seed)
{
    emu_bytes A = random_bytes((size_t)(M * K), seed), B = random_bytes((size_t)(N * K), seed + 1);
    emu_bytes out = filled((size_t)(M * N) * 4), out_ref = out;
    kbit_op_int8_matmul_gather op = {};
    op.struct_size = sizeof op;
    op.mm.struct_size = sizeof op.mm;
    op.mm.A = (const int8_t *)A.data();
    op.mm.B = (const int8_t *)B.data();
    op.mm.M = M;
    op.mm.N = N;
    op.mm.K = K;
    op.mm.out = (int32_t *)out_ref.data();
    kbit_ref_int8_matmul(&op.mm, 0, M, 0, N);
    op.mm.out = (int32_t *)out.data();
    if (capacity == 0)
        return emu_run({{&out, &out_ref}}, [&] { return kbit_cuda_int8_matmul(&op.mm, nullptr); });
    std::vector<int64_t> cols;
    for (int64_t i = 0; i < n_cols; i++)
        cols.push_back(i * K / n_cols + (i % 2)); /* ascending, < K */
    op.cols = cols.data();
    op.n_cols = &n_cols;
    op.capacity = capacity;
    emu_bytes g = filled((size_t)(N * capacity)), g_ref = g;
    op.gathered = (int8_t *)g_ref.data();
    if (n_cols <= capacity)
        kbit_ref_int8_gather(&op, 0, N);
    op.gathered = (int8_t *)g.data();
    return emu_run({{&out, &out_ref}, {&g, &g_ref}},
                   [&] { return kbit_cuda_int8_matmul_gather(&op, nullptr); });
}

std::string mm_dequant(int64_t M, int64_t N, int bias, kbit_dtype bias_dtype,
                       kbit_dtype out_dtype, uint64_t seed)
{
    emu_bytes acc = random_bytes((size_t)(M * N) * 4, seed);
    emu_bytes SCA = scales(M, seed + 1), SCB = scales(N, seed + 2);
    emu_bytes b = emu_input(bias_dtype, N, seed + 3);
    emu_bytes out = filled((size_t)(M * N) * emu_dtype_size(out_dtype)), out_ref = out;
    kbit_op_int8_mm_dequant op = {};
    op.struct_size = sizeof op;
    op.acc = (const int32_t *)acc.data();
    op.SCA = (const float *)SCA.data();
    op.SCB = (const float *)SCB.data();
    op.M = M;
    op.N = N;
    op.bias = bias ? b.data() : nullptr;
    op.bias_dtype = bias_dtype;
    op.out_dtype = out_dtype;
    op.out = out_ref.data();
    kbit_ref_int8_mm_dequant(&op, 0, M);
    op.out = out.data();
    return emu_run({{&out, &out_ref, emu_elem_of(out_dtype)}},
                   [&] { return kbit_cuda_int8_mm_dequant(&op, nullptr); });
}

std::string dequant_weight(int64_t rows, int64_t cols, kbit_dtype out_dtype, uint64_t seed)
{
    emu_bytes CB = random_bytes((size_t)(rows * cols), seed), SCB = scales(rows, seed + 1);
    emu_bytes out = filled((size_t)(rows * cols) * emu_dtype_size(out_dtype)), out_ref = out;
    kbit_op_int8_dequant_weight op = {};
    op.struct_size = sizeof op;
    op.CB = (const int8_t *)CB.data();
    op.SCB = (const float *)SCB.data();
    op.rows = rows;
    op.cols = cols;
    op.out_dtype = out_dtype;
    op.out = out_ref.data();
    kbit_ref_int8_dequant_weight(&op, 0, rows);
    op.out = out.data();
    return emu_run({{&out, &out_ref, emu_elem_of(out_dtype)}},
                   [&] { return kbit_cuda_int8_dequant_weight(&op, nullptr); });
}

/* n outlier columns of K; gathered: CB_cols built as the gather would. */
std::string outlier_add(kbit_dtype dtype, int64_t M, int64_t K, int64_t N, int64_t n,
                        int gathered, uint64_t seed)
{
    emu_bytes X = emu_input(dtype, M * K, seed);
    emu_bytes CB = random_bytes((size_t)(N * K), seed + 1), SCB = scales(N, seed + 2);
    const emu_bytes init = emu_input(dtype, M * N, seed + 3);
    std::vector<int64_t> oc;
    for (int64_t i = 0; i < n; i++)
        oc.push_back(i * K / n);
    const int64_t capacity = n + 2;
    std::vector<int8_t> cols((size_t)(N * capacity), 0x5a);
    for (int64_t j = 0; j < N; j++)
        for (int64_t i = 0; i < n; i++)
            cols[(size_t)(j * n + i)] = (int8_t)CB[(size_t)(j * K + oc[(size_t)i])];
    emu_bytes out = init, out_ref = init;
    kbit_op_int8_outlier_add op = {};
    op.struct_size = sizeof op;
    op.dtype = dtype;
    op.X = X.data();
    op.M = M;
    op.K = K;
    op.outlier_cols = oc.data();
    op.n_outliers = &n;
    op.CB = (const int8_t *)CB.data();
    op.SCB = (const float *)SCB.data();
    op.N = N;
    op.out = out_ref.data();
    op.CB_cols = gathered ? cols.data() : nullptr;
    op.CB_cols_capacity = gathered ? capacity : 0;
    kbit_ref_int8_outlier_add(&op, 0, N);
    op.out = out.data();
    return emu_run({{&out, &out_ref, emu_elem_of(dtype)}}, [&] {
        memcpy(out.data(), init.data(), init.size()); /* read and written */
        return kbit_cuda_int8_outlier_add(&op, nullptr);
    });
}

std::string backward(kbit_dtype dtype, int64_t M, int64_t N, int64_t K, uint64_t seed)
{
    emu_bytes dOut = emu_input(dtype, M * N, seed);
    emu_bytes CB = random_bytes((size_t)(N * K), seed + 1), SCB = scales(N, seed + 2);
    emu_bytes dX = filled((size_t)(M * K) * emu_dtype_size(dtype)), dX_ref = dX;
    kbit_op_int8_backward op = {};
    op.struct_size = sizeof op;
    op.dtype = dtype;
    op.dOut = dOut.data();
    op.M = M;
    op.N = N;
    op.K = K;
    op.CB = (const int8_t *)CB.data();
    op.SCB = (const float *)SCB.data();
    op.dX = dX_ref.data();
    kbit_ref_int8_backward(&op, 0, K);
    op.dX = dX.data();
    return emu_run({{&dX, &dX_ref, emu_elem_of(dtype)}}, [&] { return kbit_cuda_int8_backward(&op, nullptr); });
}

} // namespace

void kbit_emu_family_int8()
{
    const bool full = emu_full(), quick = emu_quick();
    for (int j = 0; j < 3; j++) {
        const kbit_dtype d = dtypes[j];
        std::string bad;
        /* 70 columns: three mask words, the last partial; 6.0: outliers in
         * the blocks of emu_input scaled up to 6e4 and at its infinities;
         * infinity (the f16 of a threshold above 65504, as the core passes
         * it): the infinities only */
        const float thresholds[] = {0.0f, 6.0f, (float)INFINITY};
        for (int t = 0; t < 3 && bad.empty(); t++) {
            /* by default 6.0 with every dtype, the others with one each
             * (the split does not depend on the dtype) */
            if ((quick && t != 1) || (!full && t != 1 && t != j % 2 * 2))
                continue;
            bad = where(("quant threshold " + std::to_string(thresholds[t])).c_str(),
                        quant(d, full ? 37 : 3, 70, thresholds[t], 100 + j * 3 + t));
        }
        if (bad.empty() && (full || j == 2))
            bad = where("quant one column", quant(d, 3, 1, 6.0f, 200 + j));
        emu_tap(bad.empty(), std::string("int8 quant ") + emu_dtype_name(d) +
                                 (bad.empty() ? "" : ": " + bad));
    }

    {
        std::string bad;
        /* M x N over 2 x 3 tiles (partial), K = 130: two full k slices
         * and a partial one; K = 0: zeros; a single output */
        struct {
            int64_t M, N, K, n_cols, capacity;
        } mm[] = {{19, 35, 130, 0, 0}, {3, 2, 0, 0, 0}, {1, 1, 5, 0, 0},
                  {17, 18, 70, 5, 8}, {17, 18, 70, 9, 8}, {40, 33, 200, 3, 3}};
        for (auto &c : mm) {
            if (quick && c.capacity == 0 && c.K != 130)
                continue;
            if (!full && c.M == 40)
                continue;
            bad = matmul(c.M, c.N, c.K, c.n_cols, c.capacity, (uint64_t)(c.M * 31 + c.K));
            if (!bad.empty()) {
                bad = "M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) +
                      " K=" + std::to_string(c.K) + " gather " + std::to_string(c.n_cols) +
                      "/" + std::to_string(c.capacity) + ": " + bad;
                break;
            }
        }
        emu_tap(bad.empty(), "int8 matmul, matmul_gather" + (bad.empty() ? "" : ": " + bad));
    }

    for (int j = 0; j < 3; j++) {
        std::string bad;
        /* out dtype j; every bias dtype, and none */
        for (int b = 0; b < 4 && bad.empty(); b++) {
            if (quick && b != 1)
                continue;
            bad = mm_dequant(9, 37, b < 3, dtypes[b % 3], dtypes[j], 300 + j * 4 + b);
            if (!bad.empty())
                bad = std::string("bias ") + (b < 3 ? emu_dtype_name(dtypes[b]) : "none") +
                      ": " + bad;
        }
        emu_tap(bad.empty(), std::string("int8 mm_dequant out ") + emu_dtype_name(dtypes[j]) +
                                 (bad.empty() ? "" : ": " + bad));
    }

    for (int j = 0; j < 3; j++) {
        const kbit_dtype d = dtypes[j];
        std::string bad = where("dequant_weight", dequant_weight(7, 53, d, 400 + j));
        if (bad.empty() && !quick)
            bad = where("dequant_weight 1x1", dequant_weight(1, 1, d, 410 + j));
        for (int g = 0; g < 2 && bad.empty(); g++)
            bad = where(g ? "outlier_add gathered" : "outlier_add",
                        outlier_add(d, 5, 40, 23, 6, g, 500 + j * 2 + g));
        if (bad.empty() && !quick)
            bad = where("outlier_add none", outlier_add(d, 3, 8, 5, 0, 0, 520 + j));
        if (bad.empty())
            bad = where("backward", backward(d, 3, 45, 29, 600 + j));
        if (bad.empty() && !quick)
            bad = where("backward N=0", backward(d, 2, 0, 7, 610 + j));
        emu_tap(bad.empty(), std::string("int8 dequant_weight, outlier_add, backward ") +
                                 emu_dtype_name(d) + (bad.empty() ? "" : ": " + bad));
    }
}
