/* tests/numerics_check.cu - every function of numerics/ called from a CUDA
 * kernel (the device pass: __f*_rn operations, __constant__ tables, bit
 * casts by intrinsics) and from host code (the host pass of the same
 * __host__ __device__ rules). tests/test-numerics-compile.sh compiles it
 * with nvcc -c (and with hipcc when configure found one) and every warning
 * as an error. */
#include "numerics_exercise.h"

__global__ void kbit_exercise_kernel(int64_t count, const float *in, const float *map,
                                     const float *mid, float *scratch, double *dscratch,
                                     uint32_t *out)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count)
        kbit_exercise(i, in, map, mid, scratch, dscratch, out);
}

void kbit_exercise_host(int64_t count, const float *in, const float *map, const float *mid,
                        float *scratch, double *dscratch, uint32_t *out)
{
    for (int64_t i = 0; i < count; i++)
        kbit_exercise(i, in, map, mid, scratch, dscratch, out);
}
