# KBIT_CHECK_HIP: detect hipcc for the HIP driver (built from the CUDA sources
# through one compat header). --without-hip turns the check off.
AC_DEFUN([KBIT_CHECK_HIP], [
  AC_ARG_WITH([hip],
    [AS_HELP_STRING([--with-hip@<:@=DIR@:>@], [build the HIP driver (default: if hipcc is found)])],
    [], [with_hip=check])
  AC_ARG_VAR([HIPCC], [HIP compiler])
  kbit_hip_summary="no (--without-hip)"
  kbit_have_hip=no
  AS_IF([test "x$with_hip" != "xno"], [
    kbit_hip_path="$PATH:/opt/rocm/bin"
    AS_IF([test "x$with_hip" != "xyes" && test "x$with_hip" != "xcheck"], [kbit_hip_path="$with_hip/bin"])
    AS_IF([test -z "$HIPCC"], [AC_PATH_PROG([HIPCC], [hipcc], [], [$kbit_hip_path])])
    AS_IF([test -n "$HIPCC"],
      [kbit_hip_summary="hipcc found at $HIPCC; the HIP driver is not part of this release yet"],
      [kbit_hip_summary="no (hipcc not found)"])
  ])
  AM_CONDITIONAL([KBIT_HIP], [test "x$kbit_have_hip" = "xyes"])
])
