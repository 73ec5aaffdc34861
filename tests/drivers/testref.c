/* tests/drivers/testref.c - a test-only driver plugin, "testref": the scalar
 * reference kernels of backends/cpu/<family>/ref.c behind the plugin ABI, on host
 * memory, one thread. It proves that the plugin path (dlopen, the entry
 * symbol, the table, dispatch through the core) works and gives the same bits
 * as the built-in driver, and it is one more target for the conformance and
 * golden tests. Priority -10, so "auto" never picks it. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "kbit-driver.h"
#include "kbit-formats.h"
#include "ref.h"

static const kbit_host *host;

/* The single device has no state; the context only has to be non-NULL. */
static int device_ctx;

static int64_t blocks_of(int64_t n, int64_t blocksize)
{
    return n / blocksize + (n % blocksize != 0);
}

static int device_count(const char **reason)
{
    (void)reason;
    return 1;
}

static kbit_status device_open(int index, void **ctx)
{
    if (index != 0) {
        host->set_error("testref: no device %d (there is one)", index);
        return KBIT_ENODEV;
    }
    *ctx = &device_ctx;
    return KBIT_OK;
}

static void device_close(void *ctx)
{
    (void)ctx;
}

static kbit_status device_info(void *ctx, kbit_device_info *info)
{
    (void)ctx;
    memset(info, 0, sizeof *info);
    strcpy(info->name, "scalar reference kernels (test driver)");
    strcpy(info->variant, "ref");
    info->threads = 1;
    return KBIT_OK;
}

static kbit_status mem_alloc(void *ctx, size_t bytes, void **ptr)
{
    (void)ctx;
    /* 64-byte aligned; a 0-byte request still gets a unique pointer */
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = rounded >= bytes ? aligned_alloc(64, rounded ? rounded : 64) : NULL;
    if (p == NULL) {
        host->set_error("testref: cannot allocate %zu bytes", bytes);
        return KBIT_ENOMEM;
    }
    *ptr = p;
    return KBIT_OK;
}

static kbit_status mem_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
    return KBIT_OK;
}

static kbit_status mem_copy(void *ctx, void *dst, const void *src, size_t bytes,
                            kbit_copy_kind kind)
{
    (void)ctx;
    (void)kind;
    memmove(dst, src, bytes);
    return KBIT_OK;
}

static kbit_status sync_device(void *ctx)
{
    (void)ctx;
    return KBIT_OK;
}

static kbit_status quantize_4bit(void *ctx, const kbit_op_quantize_4bit *op)
{
    (void)ctx;
    kbit_ref_quantize_4bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status dequantize_4bit(void *ctx, const kbit_op_dequantize_4bit *op)
{
    (void)ctx;
    kbit_ref_dequantize_4bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status quantize_8bit(void *ctx, const kbit_op_quantize_8bit *op)
{
    (void)ctx;
    kbit_ref_quantize_8bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status dequantize_8bit(void *ctx, const kbit_op_dequantize_8bit *op)
{
    (void)ctx;
    kbit_ref_dequantize_8bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status block_sums(void *ctx, const kbit_op_block_sums *op)
{
    (void)ctx;
    kbit_ref_block_sums(op, 0, blocks_of(op->n, KBIT_PAIRSUM_LEAF));
    return KBIT_OK;
}

static kbit_status optimizer_step(void *ctx, const kbit_op_optimizer *op)
{
    (void)ctx;
    kbit_ref_optimizer_step(op, 0, blocks_of(op->n, KBIT_OPTIM_BLOCK));
    return KBIT_OK;
}

static kbit_status optimizer_sums(void *ctx, const kbit_op_optimizer_sums *op)
{
    (void)ctx;
    kbit_ref_optimizer_sums(op, 0, blocks_of(op->step->n, KBIT_OPTIM_BLOCK));
    return KBIT_OK;
}

static kbit_status int8_quant(void *ctx, const kbit_op_int8_quant *op)
{
    (void)ctx;
    uint8_t *colmask = op->use_threshold ? malloc((size_t)op->cols + 1) : NULL;
    if (op->use_threshold && colmask == NULL) {
        host->set_error("testref: out of memory for the outlier mask");
        return KBIT_ENOMEM;
    }
    kbit_status st = kbit_ref_int8_quant(op, colmask);
    free(colmask);
    return st;
}

static kbit_status int8_matmul(void *ctx, const kbit_op_int8_matmul *op)
{
    (void)ctx;
    kbit_ref_int8_matmul(op, 0, op->M, 0, op->N);
    return KBIT_OK;
}

static kbit_status int8_mm_dequant(void *ctx, const kbit_op_int8_mm_dequant *op)
{
    (void)ctx;
    kbit_ref_int8_mm_dequant(op, 0, op->M);
    return KBIT_OK;
}

static kbit_status int8_outlier_add(void *ctx, const kbit_op_int8_outlier_add *op)
{
    (void)ctx;
    kbit_ref_int8_outlier_add(op, 0, op->N);
    return KBIT_OK;
}

static kbit_status int8_dequant_weight(void *ctx, const kbit_op_int8_dequant_weight *op)
{
    (void)ctx;
    kbit_ref_int8_dequant_weight(op, 0, op->rows);
    return KBIT_OK;
}

static kbit_status int8_backward(void *ctx, const kbit_op_int8_backward *op)
{
    (void)ctx;
    kbit_ref_int8_backward(op, 0, op->K);
    return KBIT_OK;
}

static kbit_status gemm_4bit(void *ctx, const kbit_op_gemm_4bit *op)
{
    (void)ctx;
    return kbit_ref_gemm_4bit(op, 0, op->N);
}

static kbit_status gemm_4bit_backward(void *ctx, const kbit_op_gemm_4bit *op)
{
    (void)ctx;
    return kbit_ref_gemm_4bit_backward(op, 0, op->K);
}

static const kbit_driver table = {
    .abi_version = KBIT_DRIVER_ABI_VERSION,
    .struct_size = sizeof(kbit_driver),
    .name = "testref",
    .description = "test-only: the scalar reference kernels as a plugin (host memory, 1 thread)",
    .priority = -10,
    .device_count = device_count,
    .device_open = device_open,
    .device_close = device_close,
    .device_info = device_info,
    .set_threads = NULL, /* one thread only: the core refuses any other count */
    .set_stream = NULL,
    .mem_alloc = mem_alloc,
    .mem_free = mem_free,
    .mem_copy = mem_copy,
    .sync = sync_device,
    .quantize_4bit = quantize_4bit,
    .dequantize_4bit = dequantize_4bit,
    .quantize_8bit = quantize_8bit,
    .dequantize_8bit = dequantize_8bit,
    .block_sums = block_sums,
    .optimizer_step = optimizer_step,
    .optimizer_sums = optimizer_sums,
    .int8_quant = int8_quant,
    .int8_matmul = int8_matmul,
    .int8_mm_dequant = int8_mm_dequant,
    .int8_outlier_add = int8_outlier_add,
    .int8_dequant_weight = int8_dequant_weight,
    .int8_backward = int8_backward,
    .gemm_4bit = gemm_4bit,
    .gemm_4bit_backward = gemm_4bit_backward,
};

KBIT_API const kbit_driver *kbit_driver_entry(const kbit_host *h)
{
    host = h;
    return &table;
}
