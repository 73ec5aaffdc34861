# KBIT_CHECK_OPENCL: build the OpenCL driver plugin (kbit-opencl.so) when the
# OpenCL headers (opencl-headers) and the ICD loader (libOpenCL, from
# ocl-icd-opencl-dev) are there. Only the loader is linked, never a vendor's
# library: the devices come from whatever ICDs are installed at run time
# (PoCL in CI: apt-get install pocl-opencl-icd); without one, kbit info lists
# the driver with "no OpenCL device" and the reason. --without-opencl turns
# it off; --with-opencl makes a missing header or loader an error.
#
# Sets OPENCL_LIBS, defines KBIT_HAVE_OPENCL_ICD, and the conditionals
# KBIT_OPENCL_ICD (headers and loader) and KBIT_OPENCL (the driver: the same).
AC_DEFUN([KBIT_CHECK_OPENCL], [
  AC_ARG_WITH([opencl],
    [AS_HELP_STRING([--without-opencl], [do not build the OpenCL driver (default: built when
                     the OpenCL headers and ICD loader are found)])],
    [], [with_opencl=check])
  kbit_opencl_summary="no (--without-opencl)"
  kbit_have_opencl=no
  kbit_have_opencl_icd=no
  OPENCL_LIBS=""
  AS_IF([test "x$with_opencl" != "xno"], [
    kbit_ocl_save_LIBS=$LIBS
    kbit_ocl_save_CPPFLAGS=$CPPFLAGS
    CPPFLAGS="$CPPFLAGS -DCL_TARGET_OPENCL_VERSION=120"
    AC_CHECK_HEADER([CL/cl.h], [
      LIBS=""
      AC_SEARCH_LIBS([clGetPlatformIDs], [OpenCL],
        [kbit_have_opencl_icd=yes
         kbit_have_opencl=yes
         AS_IF([test "x$ac_cv_search_clGetPlatformIDs" != "xnone required"],
           [OPENCL_LIBS="$ac_cv_search_clGetPlatformIDs"])
         kbit_opencl_summary="yes (kbit-opencl.so, $OPENCL_LIBS: the ICD loader; devices from the installed ICDs, e.g. PoCL: apt-get install pocl-opencl-icd)"],
        [kbit_opencl_summary="no (the OpenCL ICD loader libOpenCL was not found: apt-get install ocl-icd-opencl-dev)"])],
      [kbit_opencl_summary="no (CL/cl.h not found: apt-get install opencl-headers ocl-icd-opencl-dev)"])
    LIBS=$kbit_ocl_save_LIBS
    CPPFLAGS=$kbit_ocl_save_CPPFLAGS
    AS_IF([test "x$with_opencl" = "xyes" && test "x$kbit_have_opencl" != "xyes"],
      [AC_MSG_ERROR([--with-opencl given but the OpenCL driver cannot be built: $kbit_opencl_summary])])
  ])
  AS_IF([test "x$kbit_have_opencl_icd" = "xyes"],
    [AC_DEFINE([KBIT_HAVE_OPENCL_ICD], [1], [OpenCL headers and the ICD loader are available])])
  AC_SUBST([OPENCL_LIBS])
  AM_CONDITIONAL([KBIT_OPENCL_ICD], [test "x$kbit_have_opencl_icd" = "xyes"])
  AM_CONDITIONAL([KBIT_OPENCL], [test "x$kbit_have_opencl" = "xyes"])
])
