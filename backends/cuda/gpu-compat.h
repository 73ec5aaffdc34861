/*
 * backends/cuda/gpu-compat.h - the one place that names the GPU runtime.
 *
 * The driver is written against "gpu*" names so that the same sources build
 * with nvcc (CUDA) and with hipcc (HIP on AMD GPUs). Everything else in this
 * directory uses only these names, plain CUDA C++ kernel syntax that hipcc
 * accepts (__global__, __shared__, __constant__, __syncthreads; launches only
 * through KBIT_GPU_LAUNCH below) and no warp-level intrinsics, so no code
 * depends on the warp size (32 on NVIDIA, 64 on most AMD GPUs). The kernels'
 * own macros (work-group memory, barriers, indices, the device pass) are
 * those of backends/gpu/defs.h.
 *
 * HIP is selected when hipcc defines __HIP_PLATFORM_AMD__ or the build
 * defines KBIT_HIP; otherwise CUDA. A HIP build must pass -ffp-contract=off
 * to hipcc (clang contracts a*b+c into an FMA by default for HIP) and must
 * not flush denormals (-fgpu-flush-denormals-to-zero is off by default).
 */
#ifndef KBIT_GPU_COMPAT_H
#define KBIT_GPU_COMPAT_H

#if defined(__HIP_PLATFORM_AMD__) || defined(KBIT_HIP)
#define KBIT_GPU_HIP 1
#include <hip/hip_runtime.h>

#define KBIT_GPU_RUNTIME "HIP"
#define KBIT_GPU_API(name) "hip" name

typedef hipError_t gpuError_t;
typedef hipStream_t gpuStream_t;
typedef hipDeviceProp_t gpuDeviceProp_t;
typedef hipMemcpyKind gpuMemcpyKind;

#define gpuSuccess hipSuccess
#define gpuErrorMemoryAllocation hipErrorOutOfMemory
#define gpuStreamNonBlocking hipStreamNonBlocking
#define gpuMemcpyHostToDevice hipMemcpyHostToDevice
#define gpuMemcpyDeviceToHost hipMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice hipMemcpyDeviceToDevice

#define gpuGetDeviceCount hipGetDeviceCount
#define gpuSetDevice hipSetDevice
#define gpuGetDeviceProperties hipGetDeviceProperties
#define gpuStreamCreateWithFlags hipStreamCreateWithFlags
#define gpuStreamDestroy hipStreamDestroy
#define gpuStreamSynchronize hipStreamSynchronize
#define gpuMalloc hipMalloc
#define gpuFree hipFree
#define gpuMemcpyAsync hipMemcpyAsync
#define gpuGetLastError hipGetLastError
#define gpuGetErrorString hipGetErrorString
#define gpuMallocManaged hipMallocManaged
#define gpuMemAttachGlobal hipMemAttachGlobal
#define gpuMallocHost hipHostMalloc
#define gpuFreeHost hipHostFree
typedef hipPointerAttribute_t gpuPointerAttributes;
#define gpuPointerGetAttributes hipPointerGetAttributes
/* ROCm 5 names the field memoryType, later releases type. */
#if HIP_VERSION_MAJOR >= 6
#define KBIT_GPU_POINTER_IS_HOST(a) ((a).type == hipMemoryTypeHost)
#else
#define KBIT_GPU_POINTER_IS_HOST(a) ((a).memoryType == hipMemoryTypeHost)
#endif
/* Prefetch managed memory to device `dev` (or the host when dev < 0). */
#define KBIT_GPU_PREFETCH(ptr, bytes, dev, stream) \
    hipMemPrefetchAsync((ptr), (bytes), (dev) < 0 ? hipCpuDeviceId : (dev), (stream))


#else /* CUDA */
#include <cuda_runtime.h>

#define KBIT_GPU_RUNTIME "CUDA"
#define KBIT_GPU_API(name) "cuda" name

typedef cudaError_t gpuError_t;
typedef cudaStream_t gpuStream_t;
typedef cudaDeviceProp gpuDeviceProp_t;
typedef cudaMemcpyKind gpuMemcpyKind;

#define gpuSuccess cudaSuccess
#define gpuErrorMemoryAllocation cudaErrorMemoryAllocation
#define gpuStreamNonBlocking cudaStreamNonBlocking
#define gpuMemcpyHostToDevice cudaMemcpyHostToDevice
#define gpuMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice cudaMemcpyDeviceToDevice

#define gpuGetDeviceCount cudaGetDeviceCount
#define gpuSetDevice cudaSetDevice
#define gpuGetDeviceProperties cudaGetDeviceProperties
#define gpuStreamCreateWithFlags cudaStreamCreateWithFlags
#define gpuStreamDestroy cudaStreamDestroy
#define gpuStreamSynchronize cudaStreamSynchronize
#define gpuMalloc cudaMalloc
#define gpuFree cudaFree
#define gpuMemcpyAsync cudaMemcpyAsync
#define gpuGetLastError cudaGetLastError
#define gpuGetErrorString cudaGetErrorString
#define gpuMallocManaged cudaMallocManaged
#define gpuMemAttachGlobal cudaMemAttachGlobal
#define gpuMallocHost cudaMallocHost
#define gpuFreeHost cudaFreeHost
typedef cudaPointerAttributes gpuPointerAttributes;
#define gpuPointerGetAttributes cudaPointerGetAttributes
#define KBIT_GPU_POINTER_IS_HOST(a) ((a).type == cudaMemoryTypeHost)
/* Prefetch managed memory to device `dev` (or the host when dev < 0);
 * CUDA 13 takes a location where earlier releases took a device number. */
#if CUDART_VERSION >= 13000
static inline cudaError_t kbit_gpu_prefetch(const void *ptr, size_t bytes, int dev,
                                            cudaStream_t stream)
{
    cudaMemLocation loc;
    loc.type = dev < 0 ? cudaMemLocationTypeHost : cudaMemLocationTypeDevice;
    loc.id = dev < 0 ? 0 : dev;
    return cudaMemPrefetchAsync(ptr, bytes, loc, 0, stream);
}
#define KBIT_GPU_PREFETCH(ptr, bytes, dev, stream) kbit_gpu_prefetch((ptr), (bytes), (dev), (stream))
#else
#define KBIT_GPU_PREFETCH(ptr, bytes, dev, stream) \
    cudaMemPrefetchAsync((ptr), (bytes), (dev) < 0 ? cudaCpuDeviceId : (dev), (stream))
#endif


#endif /* HIP / CUDA */

/* A kernel launch: `groups` work-groups of `items` work items on `stream`.
 * Every launcher uses this macro instead of writing <<<...>>> itself, so
 * that tests/gpu-emu/emu.h can run the same wrappers on CPU threads. */
#define KBIT_GPU_LAUNCH(kernel, groups, items, stream, ...) \
    kernel<<<(groups), (items), 0, (stream)>>>(__VA_ARGS__)

/* After the runtime's headers: the numerics use their intrinsics. */
#include "numerics/platform.h"

#endif /* KBIT_GPU_COMPAT_H */
