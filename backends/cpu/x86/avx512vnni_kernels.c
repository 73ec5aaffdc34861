/* backends/cpu/x86/avx512vnni_kernels.c - the avx512vnni variant: a copy of
 * the avx512 table (so every kernel added there is here too) with the int8
 * GEMM replaced by the VNNI one. Built once, on first use. */
#include <pthread.h>

#include "variants.h"

static kbit_cpu_kernels table;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    table = kbit_cpu_kernels_avx512;
    table.name = "avx512vnni";
    table.int8_matmul = kbit_avx512vnni_int8_matmul;
}

const kbit_cpu_kernels *kbit_cpu_kernels_avx512vnni(void)
{
    pthread_once(&once, build);
    return &table;
}
