/* backends/hip/optim.hip - backends/cuda/optim.cu built by hipcc for AMD GPUs
 * (KBIT_HIP: backends/cuda/gpu-compat.h maps the runtime names). */
#include "backends/cuda/optim.cu"
