# KBIT_CHECK_CUDA: build the CUDA driver plugin (kbit-cuda.so) when nvcc works.
# --without-cuda turns it off; --with-cuda=DIR names the toolkit root.
# KBIT_CUDA_ARCHS lists the real architectures (sm_XX) built; PTX for the
# highest one is embedded too, so newer GPUs JIT it.
AC_DEFUN([KBIT_CHECK_CUDA], [
  AC_ARG_WITH([cuda],
    [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@], [build the CUDA driver (default: if nvcc is found)])],
    [], [with_cuda=check])
  AC_ARG_VAR([NVCC], [CUDA compiler])
  AC_ARG_VAR([KBIT_CUDA_ARCHS], [CUDA architectures to build, e.g. "75 80 86 89 90"])
  kbit_cuda_summary="no (--without-cuda)"
  kbit_have_cuda=no
  AS_IF([test "x$with_cuda" != "xno"], [
    kbit_cuda_path="$PATH:/usr/local/cuda/bin"
    AS_IF([test "x$with_cuda" != "xyes" && test "x$with_cuda" != "xcheck"],
      [kbit_cuda_path="$with_cuda/bin"])
    AS_IF([test -z "$NVCC"], [AC_PATH_PROG([NVCC], [nvcc], [], [$kbit_cuda_path])])
    AS_IF([test -n "$NVCC"], [
      AS_IF([test -z "$KBIT_CUDA_ARCHS"], [KBIT_CUDA_ARCHS="75 80 86 89 90"])
      KBIT_CUDA_GENCODE=""
      kbit_cuda_last=""
      for a in $KBIT_CUDA_ARCHS; do
        KBIT_CUDA_GENCODE="$KBIT_CUDA_GENCODE -gencode=arch=compute_$a,code=sm_$a"
        kbit_cuda_last=$a
      done
      KBIT_CUDA_GENCODE="$KBIT_CUDA_GENCODE -gencode=arch=compute_$kbit_cuda_last,code=compute_$kbit_cuda_last"
      kbit_cuda_root=`dirname \`dirname "$NVCC"\``
      KBIT_CUDA_LIBDIR="$kbit_cuda_root/lib64"
      AS_IF([test -d "$kbit_cuda_root/targets/x86_64-linux/lib"],
        [KBIT_CUDA_LIBDIR="$kbit_cuda_root/targets/x86_64-linux/lib"])
      AC_MSG_CHECKING([whether $NVCC compiles and links a kernel])
      cat > conftest.cu <<'CUEOF'
__global__ void k(float *x) { *x += 1.0f; }
int main(void) { k<<<1, 1>>>(0); return 0; }
CUEOF
      AS_IF([$NVCC -gencode=arch=compute_$kbit_cuda_last,code=sm_$kbit_cuda_last -cudart=static -o conftest.cuout conftest.cu >&AS_MESSAGE_LOG_FD 2>&1],
        [AC_MSG_RESULT([yes])
         kbit_have_cuda=yes
         kbit_cuda_summary="yes ($NVCC `$NVCC --version | sed -n 's/.*release \([[0-9.]]*\).*/\1/p'`; sm: $KBIT_CUDA_ARCHS + PTX $kbit_cuda_last)"],
        [AC_MSG_RESULT([no])
         kbit_cuda_summary="no (nvcc at $NVCC failed to build a test kernel; see config.log)"])
      rm -f conftest.cu conftest.cuout
    ], [kbit_cuda_summary="no (nvcc not found; set NVCC or --with-cuda=DIR)"])
    AS_IF([test "x$with_cuda" = "xyes" && test "x$kbit_have_cuda" != "xyes"],
      [AC_MSG_ERROR([--with-cuda given but CUDA is not usable: $kbit_cuda_summary])])
  ])
  AC_SUBST([KBIT_CUDA_GENCODE])
  AC_SUBST([KBIT_CUDA_LIBDIR])
  AM_CONDITIONAL([KBIT_CUDA], [test "x$kbit_have_cuda" = "xyes"])
])
