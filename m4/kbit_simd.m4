# KBIT_CHECK_SIMD: which x86 SIMD variants of the CPU driver the compiler can
# build. Each variant is compiled with its own flags into its own objects and
# chosen at run time from CPUID, so the library still runs on older CPUs.
AC_DEFUN([KBIT_CHECK_SIMD], [
  KBIT_AVX2_CFLAGS=""
  KBIT_AVX512_CFLAGS=""
  KBIT_AVX512VNNI_CFLAGS=""
  KBIT_AMX_CFLAGS=""
  KBIT_AVX512VBMI_CFLAGS=""
  KBIT_AVX512BF16_CFLAGS=""
  kbit_simd_summary="scalar"
  AS_CASE([$host_cpu], [x86_64|amd64|i?86], [
    AX_CHECK_COMPILE_FLAG([-mavx2 -mfma -mf16c -mbmi2],
      [KBIT_AVX2_CFLAGS="-mavx2 -mfma -mf16c -mbmi2"
       kbit_simd_summary="$kbit_simd_summary avx2"])
    AX_CHECK_COMPILE_FLAG([-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2],
      [KBIT_AVX512_CFLAGS="-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2"
       kbit_simd_summary="$kbit_simd_summary avx512"])
    AX_CHECK_COMPILE_FLAG([-mavx512vnni -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2],
      [KBIT_AVX512VNNI_CFLAGS="-mavx512vnni -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2"
       kbit_simd_summary="$kbit_simd_summary avx512vnni"])
    dnl the zen4 tuning's table lookups (vpermi2b) in place of gathers
    AX_CHECK_COMPILE_FLAG([-mavx512vbmi -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2],
      [KBIT_AVX512VBMI_CFLAGS="-mavx512vbmi -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2"],
      [AC_MSG_WARN([the compiler does not accept -mavx512vbmi: the zen4 tuning keeps the gather kernels of 8-bit dequantize and the 8-bit optimizers])])
    dnl fast mode's 4-bit matmul without AMX: AVX512_BF16's vdpbf16ps
    AX_CHECK_COMPILE_FLAG([-mavx512bf16 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2],
      [KBIT_AVX512BF16_CFLAGS="-mavx512bf16 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2"
       kbit_simd_summary="$kbit_simd_summary avx512-bf16(fast mode)"],
      [AC_MSG_WARN([the compiler does not accept -mavx512bf16: no AVX512_BF16 fast-mode kernel])])
    dnl fast mode's 4-bit matmul: AMX-BF16 tiles, AVX512_BF16 conversions
    AX_CHECK_COMPILE_FLAG([-mamx-tile -mamx-bf16 -mavx512bf16 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2],
      [KBIT_AMX_CFLAGS="-mamx-tile -mamx-bf16 -mavx512bf16 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c -mbmi2"
       kbit_simd_summary="$kbit_simd_summary amx-bf16(fast mode)"],
      [AC_MSG_WARN([the compiler does not accept -mamx-tile -mamx-bf16 -mavx512bf16: no AMX fast-mode kernel (KBIT_MATH_FAST runs exact)])])
  ])
  AC_SUBST([KBIT_AVX2_CFLAGS])
  AC_SUBST([KBIT_AVX512_CFLAGS])
  AC_SUBST([KBIT_AVX512VNNI_CFLAGS])
  AC_SUBST([KBIT_AMX_CFLAGS])
  AC_SUBST([KBIT_AVX512VBMI_CFLAGS])
  AC_SUBST([KBIT_AVX512BF16_CFLAGS])
  AM_CONDITIONAL([KBIT_X86_AVX2], [test -n "$KBIT_AVX2_CFLAGS"])
  AM_CONDITIONAL([KBIT_X86_AVX512], [test -n "$KBIT_AVX512_CFLAGS"])
  dnl avx512vnni = the avx512 variant with VNNI integer kernels: needs both
  AM_CONDITIONAL([KBIT_X86_AVX512VNNI], [test -n "$KBIT_AVX512_CFLAGS" && test -n "$KBIT_AVX512VNNI_CFLAGS"])
  AM_CONDITIONAL([KBIT_X86_AVX512VBMI], [test -n "$KBIT_AVX512_CFLAGS" && test -n "$KBIT_AVX512VBMI_CFLAGS"])
  AS_IF([test -n "$KBIT_AVX512_CFLAGS" && test -n "$KBIT_AVX512VBMI_CFLAGS"],
    [AC_DEFINE([KBIT_HAVE_AVX512VBMI], [1], [AVX512_VBMI table-lookup kernels built (zen4 tuning)])])
  AM_CONDITIONAL([KBIT_X86_AVX512BF16], [test -n "$KBIT_AVX512_CFLAGS" && test -n "$KBIT_AVX512BF16_CFLAGS"])
  AS_IF([test -n "$KBIT_AVX512_CFLAGS" && test -n "$KBIT_AVX512BF16_CFLAGS"],
    [AC_DEFINE([KBIT_HAVE_AVX512BF16], [1], [AVX512_BF16 fast-mode kernel built])])
  AM_CONDITIONAL([KBIT_X86_AMX], [test -n "$KBIT_AVX512_CFLAGS" && test -n "$KBIT_AMX_CFLAGS"])
  AS_IF([test -n "$KBIT_AVX512_CFLAGS" && test -n "$KBIT_AMX_CFLAGS"],
    [AC_DEFINE([KBIT_HAVE_AMX], [1], [AMX-BF16 fast-mode kernel built])])
  AS_IF([test -n "$KBIT_AVX2_CFLAGS"], [AC_DEFINE([KBIT_HAVE_AVX2], [1], [AVX2 variant built])])
  AS_IF([test -n "$KBIT_AVX512_CFLAGS"], [AC_DEFINE([KBIT_HAVE_AVX512], [1], [AVX-512 variant built])])
  AS_IF([test -n "$KBIT_AVX512_CFLAGS" && test -n "$KBIT_AVX512VNNI_CFLAGS"],
    [AC_DEFINE([KBIT_HAVE_AVX512VNNI], [1], [AVX-512 VNNI variant built])])
])
