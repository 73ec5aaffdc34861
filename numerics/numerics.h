/*
 * numerics/numerics.h - every element rule of kbit in one include: what a
 * GPU program (CUDA, HIP, an OpenCL program source) includes, and what the
 * compile checks of tests/ build for each target. C code of the core and
 * the CPU driver includes the one header it needs.
 *
 *   platform.h      targets, integer types, address spaces, operations
 *   tables.h        the NF4/FP4 tables
 *   half.h          fp16/bf16 conversions
 *   dtype.h         loads, stores and roundings of F32/F16/BF16 elements
 *   encode.h        absmax, 4-bit and 8-bit encode/decode, packing
 *   dot32.h         the canonical dot product
 *   pairsum.h       the canonical fp64 sum
 *   int8.h          LLM.int8() element rules
 *   optim.h         optimizer updates, 32-bit and 8-bit states
 *   optim_scales.h  the scalars of a step from its norms
 */
#ifndef KBIT_NUMERICS_H
#define KBIT_NUMERICS_H

#include "numerics/platform.h"
#include "numerics/tables.h"
#include "numerics/half.h"
#include "numerics/dtype.h"
#include "numerics/encode.h"
#include "numerics/dot32.h"
#include "numerics/pairsum.h"
#include "numerics/int8.h"
#include "numerics/optim.h"
#include "numerics/optim_scales.h"

#endif /* KBIT_NUMERICS_H */
