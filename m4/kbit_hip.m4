# KBIT_CHECK_HIP: build the HIP driver plugin (kbit-hip.so, AMD GPUs) from the
# CUDA sources (backends/hip) when hipcc works. --without-hip turns it off;
# --with-hip=DIR names the ROCm root (DIR/bin/hipcc); --with-hip makes its
# absence an error. KBIT_HIP_ARCHS lists the GPU architectures compiled:
# hipcc must always get explicit --offload-arch= values (without them
# Debian's hipcc prints a traceback, exits 0 and builds gfx803). The default
# is the set Debian's ROCm 5.2 accepts (not gfx942 or gfx1100).
AC_DEFUN([KBIT_CHECK_HIP], [
  AC_ARG_WITH([hip],
    [AS_HELP_STRING([--with-hip@<:@=DIR@:>@], [build the HIP driver (default: if hipcc is found)])],
    [], [with_hip=check])
  AC_ARG_VAR([HIPCC], [HIP compiler])
  AC_ARG_VAR([KBIT_HIP_ARCHS], [AMD GPU architectures to build, e.g. "gfx90a gfx1030"])
  kbit_hip_summary="no (--without-hip)"
  kbit_have_hip=no
  KBIT_HIP_OFFLOAD=""
  AS_IF([test "x$with_hip" != "xno"], [
    kbit_hip_path="$PATH:/opt/rocm/bin"
    AS_IF([test "x$with_hip" != "xyes" && test "x$with_hip" != "xcheck"], [kbit_hip_path="$with_hip/bin"])
    AS_IF([test -z "$HIPCC"], [AC_PATH_PROG([HIPCC], [hipcc], [], [$kbit_hip_path])])
    AS_IF([test -n "$HIPCC"], [
      AS_IF([test -z "$KBIT_HIP_ARCHS"], [KBIT_HIP_ARCHS="gfx906 gfx908 gfx90a gfx940 gfx1030"])
      for a in $KBIT_HIP_ARCHS; do
        KBIT_HIP_OFFLOAD="$KBIT_HIP_OFFLOAD --offload-arch=$a"
      done
      AC_MSG_CHECKING([whether $HIPCC compiles a kernel for $KBIT_HIP_ARCHS and $CXX links it with -lamdhip64])
      cat > conftest.hip <<'HIPEOF'
#include <hip/hip_runtime.h>
__global__ void k(float *x) { *x += 1.0f; }
extern "C" int kbit_conftest(void) { hipLaunchKernelGGL(k, dim3(1), dim3(1), 0, 0, (float *)0); return 0; }
HIPEOF
      rm -f conftest.hipo conftest.so
      AS_IF([$HIPCC $KBIT_HIP_OFFLOAD -ffp-contract=off -fPIC -c -o conftest.hipo conftest.hip >&AS_MESSAGE_LOG_FD 2>&1 &&
             test -s conftest.hipo &&
             $CXX -shared -o conftest.so conftest.hipo -lamdhip64 >&AS_MESSAGE_LOG_FD 2>&1],
        [AC_MSG_RESULT([yes])
         kbit_have_hip=yes
         kbit_hip_summary="yes ($HIPCC; --offload-arch: $KBIT_HIP_ARCHS)"],
        [AC_MSG_RESULT([no])
         kbit_hip_summary="no (hipcc at $HIPCC failed to build or link a test kernel for $KBIT_HIP_ARCHS; see config.log; apt-get install hipcc libamdhip64-dev)"])
      rm -f conftest.hip conftest.hipo conftest.so
    ], [kbit_hip_summary="no (hipcc not found; apt-get install hipcc libamdhip64-dev, or set HIPCC or --with-hip=DIR)"])
    AS_IF([test "x$with_hip" = "xyes" && test "x$kbit_have_hip" != "xyes"],
      [AC_MSG_ERROR([--with-hip given but HIP is not usable: $kbit_hip_summary])])
  ])
  AC_SUBST([KBIT_HIP_OFFLOAD])
  AM_CONDITIONAL([KBIT_HIP], [test "x$kbit_have_hip" = "xyes"])
])
