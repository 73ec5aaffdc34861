/* backends/hip/int8.hip - backends/cuda/int8.cu built by hipcc for AMD GPUs
 * (KBIT_HIP: backends/cuda/gpu-compat.h maps the runtime names). */
#include "backends/cuda/int8.cu"
