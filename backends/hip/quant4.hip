/* backends/hip/quant4.hip - backends/cuda/quant4.cu built by hipcc for AMD GPUs
 * (KBIT_HIP: backends/cuda/gpu-compat.h maps the runtime names). */
#include "backends/cuda/quant4.cu"
