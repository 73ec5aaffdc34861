/* tests/drivers/partial.c - a test-only plugin "partial" built as a driver
 * of ABI 2.0 would be: its table is only KBIT_DRIVER_SIZE_2_0 bytes long
 * (abi_minor 0), followed in memory by the 2.1 slots filled with functions
 * that abort, which the core must never see. It implements part of the op
 * families with the scalar reference kernels, so tests can check:
 *  - a 2.0 table is accepted and its missing 2.1 slots are "not supported"
 *    (prepared weights fall back to the core's copies, and so on);
 *  - families: it claims quant4, quant8 and gemm4 but lacks the gemm4
 *    backward slot, so gemm4 is dropped with that reason;
 *  - per-device families: device 0 has quant4 and quant8, device 1 only
 *    quant8 (device_families, with a reason);
 *  - subsets: quant8 only for fp32 data and blocksizes 64 to 256;
 *  - "auto": its priority 50 beats the CPU driver, so auto picks it for
 *    quant4 or quant8 alone, and the CPU driver for anything else. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "kbit-driver.h"
#include "kbit-formats.h"
#include "gemm4/gemm4.h"
#include "quant4/quant4.h"
#include "quant8/quant8.h"

static const kbit_host *host;
static int ctx_of[2];

static int64_t blocks_of(int64_t n, int64_t blocksize)
{
    return n / blocksize + (n % blocksize != 0);
}

static int device_count(const char **reason)
{
    (void)reason;
    return 2;
}

static uint32_t device_families(int index, const char **reason)
{
    if (index == 1) {
        *reason = "partial:1 is a test device without 4-bit quantization";
        return KBIT_FAMILY_QUANT8;
    }
    return KBIT_FAMILY_ALL;
}

static kbit_status device_open(int index, void **ctx)
{
    *ctx = &ctx_of[index];
    return KBIT_OK;
}

static void device_close(void *ctx)
{
    (void)ctx;
}

static kbit_status device_info(void *ctx, kbit_device_info *info)
{
    memset(info, 0, sizeof *info);
    strcpy(info->name, "partial test driver (ABI 2.0)");
    strcpy(info->variant, "ref");
    info->index = (int)((int *)ctx - ctx_of);
    info->threads = 1;
    return KBIT_OK;
}

static kbit_status mem_alloc(void *ctx, size_t bytes, kbit_mem_kind kind, void **ptr)
{
    (void)ctx;
    (void)kind;
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    if (p == NULL) {
        host->set_error("partial: cannot allocate %zu bytes", bytes);
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

static kbit_status mem_copy(void *ctx, void *stream, void *dst, const void *src, size_t bytes,
                            kbit_copy_kind kind)
{
    (void)ctx;
    (void)stream;
    (void)kind;
    memmove(dst, src, bytes);
    return KBIT_OK;
}

static kbit_status sync_stream(void *ctx, void *stream)
{
    (void)ctx;
    (void)stream;
    return KBIT_OK;
}

static kbit_status quantize_4bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_4bit *op)
{
    (void)ctx;
    (void)ex;
    kbit_ref_quantize_4bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status dequantize_4bit(void *ctx, const kbit_exec *ex,
                                   const kbit_op_dequantize_4bit *op)
{
    (void)ctx;
    (void)ex;
    kbit_ref_dequantize_4bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status quantize_8bit(void *ctx, const kbit_exec *ex, const kbit_op_quantize_8bit *op)
{
    (void)ctx;
    (void)ex;
    kbit_ref_quantize_8bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status dequantize_8bit(void *ctx, const kbit_exec *ex,
                                   const kbit_op_dequantize_8bit *op)
{
    (void)ctx;
    (void)ex;
    kbit_ref_dequantize_8bit(op, 0, blocks_of(op->n, op->blocksize));
    return KBIT_OK;
}

static kbit_status block_sums(void *ctx, const kbit_exec *ex, const kbit_op_block_sums *op)
{
    (void)ctx;
    (void)ex;
    kbit_ref_block_sums(op, 0, blocks_of(op->n, KBIT_PAIRSUM_LEAF));
    return KBIT_OK;
}

static kbit_status pairsum(void *ctx, const kbit_exec *ex, const kbit_op_pairsum *op)
{
    (void)ctx;
    (void)ex;
    kbit_ref_pairsum(op);
    return KBIT_OK;
}

static kbit_status gemm_4bit(void *ctx, const kbit_exec *ex, const kbit_op_gemm_4bit *op)
{
    (void)ctx;
    (void)ex;
    return kbit_ref_gemm_4bit(op, NULL, 0, op->N);
}

/* What lies behind the 2.0 table: slots the core must not read. */
static kbit_status poison_prefetch(void *ctx, void *stream, const void *ptr, size_t bytes, int d)
{
    (void)ctx, (void)stream, (void)ptr, (void)bytes, (void)d;
    abort();
}
static kbit_status poison_prepare(void *ctx, const kbit_exec *ex, const kbit_op_gemm4_prepare *op,
                                  void **weight, size_t *bytes)
{
    (void)ctx, (void)ex, (void)op, (void)weight, (void)bytes;
    abort();
}
static void poison_release(void *ctx, void *weight)
{
    (void)ctx, (void)weight;
    abort();
}
static kbit_status poison_step_many(void *ctx, const kbit_exec *ex,
                                    const kbit_op_optimizer *const *ops, int64_t count)
{
    (void)ctx, (void)ex, (void)ops, (void)count;
    abort();
}

/* quant8 only for fp32 data and blocksizes 64 to 256 */
static const kbit_family_limits limits[] = {
    { KBIT_FAMILY_QUANT8, 1u << KBIT_F32, (1u << 6) | (1u << 7) | (1u << 8) },
    { 0, 0, 0 },
};

static const kbit_driver table = {
    .abi_major = KBIT_DRIVER_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = KBIT_DRIVER_SIZE_2_0,
    .name = "partial",
    .description = "test-only: an ABI 2.0 driver with part of the op families",
    .priority = 50,
    .families = KBIT_FAMILY_QUANT4 | KBIT_FAMILY_QUANT8 | KBIT_FAMILY_GEMM4,
    .limits = limits,
    .device_count = device_count,
    .device_families = device_families,
    .device_open = device_open,
    .device_close = device_close,
    .device_info = device_info,
    .mem_alloc = mem_alloc,
    .mem_free = mem_free,
    .mem_copy = mem_copy,
    .sync = sync_stream,
    .quantize_4bit = quantize_4bit,
    .dequantize_4bit = dequantize_4bit,
    .quantize_8bit = quantize_8bit,
    .dequantize_8bit = dequantize_8bit,
    .block_sums = block_sums,
    .pairsum = pairsum,
    .gemm_4bit = gemm_4bit, /* no gemm_4bit_backward: gemm4 is incomplete */
    .mem_prefetch = poison_prefetch,
    .gemm4_prepare = poison_prepare,
    .gemm4_release = poison_release,
    .int8_release = poison_release,
    .optimizer_step_many = poison_step_many,
};

KBIT_API const kbit_driver *kbit_driver_entry(const kbit_host *h)
{
    host = h;
    return &table;
}
