/*
 * backends/opencl/program.h - the OpenCL program of the kbit kernels: its
 * source (backends/opencl/kernels.cl with the headers of numerics/ and
 * backends/gpu inlined at build time by embed.sh) and the one place that
 * says how it is built.
 */
#ifndef KBIT_OPENCL_PROGRAM_H
#define KBIT_OPENCL_PROGRAM_H

/* The program source (a NUL-terminated string). */
extern const char kbit_cl_program_source[];

/* The build options: OpenCL C 1.2 (what PoCL 3.1 and every OpenCL 1.2+
 * device compile) and IEEE fp32 division and square root
 * (doc/determinism.md 2). Nothing else: no option that changes numerics
 * (-cl-fast-relaxed-math, -cl-mad-enable, -cl-unsafe-math-optimizations,
 * -cl-denorms-are-zero, -cl-finite-math-only, -cl-no-signed-zeros are never
 * used; tests/test-gpu-flags.sh checks). Contraction is switched off by the
 * program's first line, `#pragma OPENCL FP_CONTRACT OFF`. */
#define KBIT_CL_BUILD_OPTIONS "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt"

#endif /* KBIT_OPENCL_PROGRAM_H */
