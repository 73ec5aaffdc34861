/* backends/hip/driver.hip - backends/cuda/driver.cu built by hipcc for AMD GPUs
 * (KBIT_HIP: backends/cuda/gpu-compat.h maps the runtime names). */
#include "backends/cuda/driver.cu"
