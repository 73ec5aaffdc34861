# KBIT_CHECK_OPENCL: detect OpenCL headers and the ICD loader for the OpenCL
# driver. --without-opencl turns the check off.
AC_DEFUN([KBIT_CHECK_OPENCL], [
  AC_ARG_WITH([opencl],
    [AS_HELP_STRING([--without-opencl], [do not build the OpenCL driver])],
    [], [with_opencl=check])
  kbit_opencl_summary="no (--without-opencl)"
  kbit_have_opencl=no
  AS_IF([test "x$with_opencl" != "xno"], [
    kbit_ocl_save_LIBS=$LIBS
    AC_CHECK_HEADER([CL/cl.h], [
      AC_SEARCH_LIBS([clGetPlatformIDs], [OpenCL],
        [kbit_opencl_summary="headers and ICD loader found; the OpenCL driver is not part of this release yet"],
        [kbit_opencl_summary="no (libOpenCL not found: apt-get install ocl-icd-opencl-dev)"])],
      [kbit_opencl_summary="no (CL/cl.h not found: apt-get install opencl-headers ocl-icd-opencl-dev)"])
    LIBS=$kbit_ocl_save_LIBS
  ])
  AM_CONDITIONAL([KBIT_OPENCL], [test "x$kbit_have_opencl" = "xyes"])
])
