/* backends/hip/gemm4.hip - backends/cuda/gemm4.cu built by hipcc for AMD GPUs
 * (KBIT_HIP: backends/cuda/gpu-compat.h maps the runtime names). */
#include "backends/cuda/gemm4.cu"
