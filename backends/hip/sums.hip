/* backends/hip/sums.hip - backends/cuda/sums.cu built by hipcc for AMD GPUs
 * (KBIT_HIP: backends/cuda/gpu-compat.h maps the runtime names). */
#include "backends/cuda/sums.cu"
