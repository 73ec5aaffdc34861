# KBIT_CHECK_OPENCL: detect the OpenCL headers and the ICD loader (libOpenCL
# from ocl-icd; kbit links only the loader, never a vendor's library).
# --without-opencl turns the check off.
#
# With both, make check builds tests/test_numerics_opencl, which runs the
# numerics/ headers as OpenCL C on whatever platform the loader finds (PoCL
# in CI: apt-get install pocl-opencl-icd) and compares them with the C
# build bit for bit; without them, or without a platform at run time, that
# test skips and says why. The OpenCL driver itself (KBIT_OPENCL) is not
# part of this release yet.
#
# Sets OPENCL_LIBS, defines KBIT_HAVE_OPENCL_ICD, and the conditionals
# KBIT_OPENCL_ICD (headers and loader) and KBIT_OPENCL (the driver).
AC_DEFUN([KBIT_CHECK_OPENCL], [
  AC_ARG_WITH([opencl],
    [AS_HELP_STRING([--without-opencl], [do not use OpenCL (driver and numerics test)])],
    [], [with_opencl=check])
  kbit_opencl_summary="no (--without-opencl)"
  kbit_have_opencl=no
  kbit_have_opencl_icd=no
  OPENCL_LIBS=""
  AS_IF([test "x$with_opencl" != "xno"], [
    kbit_ocl_save_LIBS=$LIBS
    AC_CHECK_HEADER([CL/cl.h], [
      AC_SEARCH_LIBS([clGetPlatformIDs], [OpenCL],
        [kbit_have_opencl_icd=yes
         AS_IF([test "x$ac_cv_search_clGetPlatformIDs" != "xnone required"],
           [OPENCL_LIBS="$ac_cv_search_clGetPlatformIDs"])
         kbit_opencl_summary="headers and ICD loader found (make check runs numerics/ on OpenCL; PoCL: apt-get install pocl-opencl-icd); the OpenCL driver is not part of this release yet"],
        [kbit_opencl_summary="no (libOpenCL not found: apt-get install ocl-icd-opencl-dev; the OpenCL numerics test skips)"])],
      [kbit_opencl_summary="no (CL/cl.h not found: apt-get install opencl-headers ocl-icd-opencl-dev; the OpenCL numerics test skips)"])
    LIBS=$kbit_ocl_save_LIBS
  ])
  AS_IF([test "x$kbit_have_opencl_icd" = "xyes"],
    [AC_DEFINE([KBIT_HAVE_OPENCL_ICD], [1], [OpenCL headers and the ICD loader are available])])
  AC_SUBST([OPENCL_LIBS])
  AM_CONDITIONAL([KBIT_OPENCL_ICD], [test "x$kbit_have_opencl_icd" = "xyes"])
  AM_CONDITIONAL([KBIT_OPENCL], [test "x$kbit_have_opencl" = "xyes"])
])
