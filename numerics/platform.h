/*
 * numerics/platform.h - what lets the headers of numerics/ compile as C11
 * (the core, the CPU driver), as CUDA/HIP device code and as OpenCL C:
 * KBIT_NUM_FN declares a function of these headers.
 */
#ifndef KBIT_NUMERICS_PLATFORM_H
#define KBIT_NUMERICS_PLATFORM_H

#if defined(__CUDACC__) || defined(__HIPCC__)
#define KBIT_NUM_FN static __host__ __device__ inline
#else
#define KBIT_NUM_FN static inline
#endif

#endif /* KBIT_NUMERICS_PLATFORM_H */
