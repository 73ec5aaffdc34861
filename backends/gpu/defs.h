/*
 * backends/gpu/defs.h - the per-runtime macros of the device-neutral kernel
 * layer (backends/gpu). The kernel bodies of this directory are written once,
 * in the C subset that CUDA C++, HIP and OpenCL C 1.2 share, and use only
 * these names for what differs between the runtimes:
 *
 *   KBIT_GPU_OPENCL / KBIT_GPU_CUDA   which compiler reads the file (HIP is
 *                                     KBIT_GPU_CUDA: hipcc compiles the CUDA
 *                                     sources, backends/hip; so is the
 *                                     test-only CPU emulation, KBIT_GPU_EMU)
 *   KBIT_GPU_FN                       declares a body or a helper of a body:
 *                                     device code, inlined
 *   KBIT_GLOBAL KBIT_LOCAL            address spaces of pointer parameters:
 *   KBIT_CONSTANT KBIT_PRIVATE        device memory, work-group memory,
 *                                     program-scope tables, a work item's own
 *                                     arrays (all empty in CUDA, whose
 *                                     pointers are generic; OpenCL C 1.2 has
 *                                     no generic address space)
 *   KBIT_LOCAL_ARRAY(type, name, n)   a work-group array, declared by a
 *                                     kernel wrapper at kernel scope (OpenCL
 *                                     allows __local variables only there)
 *                                     and passed to the body as a pointer
 *   KBIT_BARRIER()                    every work item of the group waits, and
 *                                     local and global memory written before
 *                                     it are visible after it
 *   KBIT_LID KBIT_GROUP KBIT_NGROUPS  local id (int, 0 .. KBIT_GPU_GROUP-1),
 *                                     group id and groups in the launch
 *                                     (int64_t)
 *   KBIT_GPU_ATOMIC_OR_U32(p, v)      *p |= v on a 32-bit word of device
 *                                     memory, atomically (integers only:
 *                                     never an atomic on floats, whose order
 *                                     would change the bits)
 *   KBIT_GPU_UNROLL                   full unroll of a fixed-count loop in
 *                                     CUDA/HIP device code; empty in OpenCL,
 *                                     where `#pragma unroll` crashes or hangs
 *                                     PoCL 3.1's compiler
 *
 * Rules for a body (backends/gpu/README.md): it is run by every work item
 * of a work-group of KBIT_GPU_GROUP items (backends/gpu/split.h); no warp or
 * subgroup size is assumed and no warp intrinsic is used; reductions go
 * through KBIT_LOCAL scratch and KBIT_BARRIER() in a fixed order, so the
 * bits never depend on the launch; loops that contain a barrier have a bound
 * that is the same for every item of the group; arguments are flat (no
 * pointers inside structs); tables come in device buffers; no name is an
 * OpenCL keyword (half, kernel, global, local, constant, private).
 *
 * Arithmetic: one IEEE operation per statement through the KBIT_F* macros
 * of the element rules (numerics/); contraction is off in every
 * runtime (OpenCL: `#pragma OPENCL FP_CONTRACT OFF`, the first line of the
 * program; nvcc -fmad=false; hipcc -ffp-contract=off), never a fast-math
 * option (tests/test-gpu-flags.sh checks the option lists).
 */
#ifndef KBIT_GPU_DEFS_H
#define KBIT_GPU_DEFS_H

/* Code maps and midpoints reach the rules of numerics/ (enc8) through
 * KBIT_TABLE: the bodies stage them in work-group memory, so in OpenCL the
 * rules must read __local (numerics/platform.h keeps a definition made
 * before it). */
#if (defined(__OPENCL_VERSION__) || defined(__OPENCL_C_VERSION__)) && !defined(KBIT_TABLE)
#define KBIT_TABLE __local
#endif

#include "numerics/platform.h"

#if defined(__OPENCL_VERSION__) || defined(__OPENCL_C_VERSION__)
#define KBIT_GPU_OPENCL 1
#elif defined(__CUDACC__) || defined(__HIPCC__) || defined(KBIT_GPU_EMU)
/* KBIT_GPU_EMU: the CUDA wrappers compiled by a host C++ compiler for the
 * test-only emulation (tests/gpu-emu/emu.h provides __syncthreads,
 * threadIdx, ...); never a device pass, so the numerics take their C
 * spelling there. */
#define KBIT_GPU_CUDA 1
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define KBIT_GPU_DEVICE_PASS 1 /* the device half of a CUDA/HIP compilation */
#endif
#endif

/* ------------------------------------------------------------------ */
/* OpenCL C: the fixed-width integer names and fp64. numerics/platform.h
 * provides them once it compiles as OpenCL C (it then defines
 * KBIT_NUM_OPENCL); until then they are here.                          */

#if defined(KBIT_GPU_OPENCL) && !defined(KBIT_NUM_OPENCL)
#pragma OPENCL FP_CONTRACT OFF
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef char int8_t;
typedef uchar uint8_t;
typedef short int16_t;
typedef ushort uint16_t;
typedef int int32_t;
typedef uint uint32_t;
typedef long int64_t;
typedef ulong uint64_t;
#endif

#if !defined(KBIT_GPU_OPENCL)
#include <stdint.h>
#endif

/* ------------------------------------------------------------------ */
/* Address spaces (numerics/platform.h defines the same names once it
 * compiles as OpenCL C; the guards then leave its definitions).        */

#if defined(KBIT_GPU_OPENCL)
#ifndef KBIT_GLOBAL
#define KBIT_GLOBAL __global
#define KBIT_LOCAL __local
#define KBIT_CONSTANT __constant
#define KBIT_PRIVATE __private
#endif
#else
#ifndef KBIT_GLOBAL
#define KBIT_GLOBAL
#define KBIT_LOCAL
#define KBIT_CONSTANT
#define KBIT_PRIVATE
#endif
#endif

#ifndef KBIT_TABLE /* CUDA/HIP, or a numerics/platform.h without it */
#define KBIT_TABLE KBIT_LOCAL
#endif

/* ------------------------------------------------------------------ */
/* Functions, work-group memory, barriers, indices                      */

#if defined(KBIT_GPU_OPENCL)

#define KBIT_GPU_FN static inline
#define KBIT_LOCAL_ARRAY(type, name, count) __local type name[count]
#define KBIT_BARRIER() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)
#define KBIT_LID ((int)get_local_id(0))
#define KBIT_GROUP ((int64_t)get_group_id(0))
#define KBIT_NGROUPS ((int64_t)get_num_groups(0))
#define KBIT_GPU_UNROLL
#define KBIT_GPU_ATOMIC_OR_U32(p, v) atomic_or((volatile __global uint *)(p), (uint)(v))

#elif defined(KBIT_GPU_CUDA)

#define KBIT_GPU_FN static __device__ __forceinline__
#define KBIT_LOCAL_ARRAY(type, name, count) __shared__ type name[count]
#define KBIT_BARRIER() __syncthreads()
#define KBIT_LID ((int)threadIdx.x)
#define KBIT_GROUP ((int64_t)blockIdx.x)
#define KBIT_NGROUPS ((int64_t)gridDim.x)
#define KBIT_GPU_ATOMIC_OR_U32(p, v) atomicOr((unsigned int *)(p), (unsigned int)(v))
#if defined(KBIT_GPU_DEVICE_PASS)
#define KBIT_GPU_UNROLL _Pragma("unroll")
#else
#define KBIT_GPU_UNROLL
#endif

#endif /* runtimes; host C/C++ code uses only split.h */

#endif /* KBIT_GPU_DEFS_H */
