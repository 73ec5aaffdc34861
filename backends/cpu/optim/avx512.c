/* backends/cpu/optim/avx512.c - optimizer step, AVX-512 variant: the
 * kernels of simd.h over 16 fp32 lanes with k-register masks. */
#include "avx512_vocab.h"
#include "simd.h"

KBIT_DEFINE_OPTIMIZER_STEP(kbit_avx512_optimizer_step)
