/*
 * tests/gpu-emu/emu.h - TEST ONLY: the CUDA kernel wrappers of backends/cuda
 * (*.cu but driver.cu) compiled by a host C++20 compiler and run on CPU
 * threads, so that the work split, the indexing and the barriers of the
 * bodies in backends/gpu are checked on machines without a GPU
 * (tests/gpu-emu/README.md). It checks what the kernels do with their
 * items, groups and work-group memory; it does not check nvcc's code
 * generation (the arithmetic here is the host compiler's: the numerics/
 * rules take their C spelling).
 *
 * Force-included (-include) before each .cu file. It stands in for
 * backends/cuda/gpu-compat.h (whose include guard it defines) and maps the
 * CUDA names the wrappers and backends/gpu/defs.h use:
 *   __global__ __device__ __host__ __forceinline__ __launch_bounds__
 *                        nothing (or inline)
 *   __shared__           static: one array for the whole program, which is
 *                        one block's work-group memory because the blocks of
 *                        a launch run one after another
 *   threadIdx blockIdx blockDim gridDim
 *                        thread_local, set by the runtime for each item
 *   __syncthreads()      a std::barrier across the block's threads (it
 *                        orders memory, so ThreadSanitizer sees exactly the
 *                        ordering the barriers give)
 *   KBIT_GPU_LAUNCH      the launch macro of gpu-compat.h: here the blocks
 *                        run in turn, each on blockDim.x pool threads
 *   atomicOr             a relaxed std::atomic_ref fetch_or
 *   gpuError_t gpuStream_t gpuSuccess gpuGetLastError
 *                        an int status, an opaque stream
 * KBIT_GPU_EMU tells backends/gpu/defs.h to take its CUDA branch.
 */
#ifndef KBIT_GPU_EMU_H
#define KBIT_GPU_EMU_H

#define KBIT_GPU_EMU 1
#define KBIT_GPU_COMPAT_H 1 /* backends/cuda/gpu-compat.h: this file instead */

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct kbit_emu_dim3 {
    unsigned x, y, z;
};

extern thread_local kbit_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

/* The barrier of the calling item's block. */
void kbit_emu_syncthreads();
#define __syncthreads() kbit_emu_syncthreads()

/* atomicOr (KBIT_GPU_ATOMIC_OR_U32 of backends/gpu/defs.h: the outlier
 * column mask of backends/gpu/int8.h): a relaxed std::atomic_ref fetch_or,
 * as relaxed as the device's; ThreadSanitizer sees it as an atomic. */
inline unsigned atomicOr(unsigned *p, unsigned v)
{
    return std::atomic_ref<unsigned>(*p).fetch_or(v, std::memory_order_relaxed);
}

typedef int gpuError_t;
typedef void *gpuStream_t;
#define gpuSuccess 0
#define KBIT_GPU_RUNTIME "EMU"

/* The status of the last launch: 0, or 1 when it was refused (a block size
 * above 1024) or its items disagreed on the barriers (kbit_emu_report). */
gpuError_t gpuGetLastError();

/* Runs kernel body `item` on groups x items threads: the blocks in turn,
 * the items of a block at once. */
void kbit_emu_launch(unsigned groups, unsigned items, gpuStream_t stream,
                     const std::function<void()> &item);
#define KBIT_GPU_LAUNCH(kernel, groups, items, stream, ...) \
    kbit_emu_launch((groups), (items), (stream), [=]() { kernel(__VA_ARGS__); })

/* At most this many groups per launch (0: as launched). The bodies stride
 * over their work by the group count, so any count must give the same bits;
 * fewer groups make a group loop over several tiles (what a launch capped
 * at KBIT_GPU_MAX_GROUPS does on large tensors). */
extern unsigned kbit_emu_grid_cap;

/* What went wrong in launches so far ("" when nothing): barrier counts that
 * differ between the items of a block (a divergent barrier). */
const char *kbit_emu_report();

#endif /* KBIT_GPU_EMU_H */
