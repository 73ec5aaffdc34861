/* backends/cpu/x86/avx512_optim.c - optimizer step, avx512 variant. */
#include "../ref/ref.h"
#include "variants.h"

void kbit_avx512_optimizer_step(const kbit_op_optimizer *op, int64_t b0, int64_t b1)
{
    kbit_ref_optimizer_step(op, b0, b1);
}
