# KBIT_CHECK_OPENCL: build the OpenCL driver plugin (kbit-opencl.so) when the
# OpenCL headers (opencl-headers) and the ICD loader (libOpenCL, from
# ocl-icd-opencl-dev) are there. --without-opencl turns it off;
# --with-opencl makes their absence an error. Only the loader is linked: the
# devices come from whatever ICDs are installed at run time (PoCL,
# pocl-opencl-icd, in CI).
AC_DEFUN([KBIT_CHECK_OPENCL], [
  AC_ARG_WITH([opencl],
    [AS_HELP_STRING([--without-opencl], [do not build the OpenCL driver (default: build it
                     when the OpenCL headers and ICD loader are found)])],
    [], [with_opencl=check])
  kbit_opencl_summary="no (--without-opencl)"
  kbit_have_opencl=no
  KBIT_OPENCL_CFLAGS="-DCL_TARGET_OPENCL_VERSION=120"
  KBIT_OPENCL_LIBS=""
  AS_IF([test "x$with_opencl" != "xno"], [
    kbit_ocl_save_LIBS=$LIBS
    kbit_ocl_save_CPPFLAGS=$CPPFLAGS
    CPPFLAGS="$CPPFLAGS $KBIT_OPENCL_CFLAGS"
    AC_CHECK_HEADER([CL/cl.h], [
      LIBS=""
      AC_SEARCH_LIBS([clGetPlatformIDs], [OpenCL],
        [kbit_have_opencl=yes
         AS_IF([test "x$ac_cv_search_clGetPlatformIDs" != "xnone required"],
           [KBIT_OPENCL_LIBS="$ac_cv_search_clGetPlatformIDs"])
         kbit_opencl_summary="yes (kbit-opencl.so; $KBIT_OPENCL_LIBS; devices from the installed ICDs)"],
        [kbit_opencl_summary="no (the OpenCL ICD loader libOpenCL was not found: apt-get install ocl-icd-opencl-dev)"])],
      [kbit_opencl_summary="no (CL/cl.h not found: apt-get install opencl-headers ocl-icd-opencl-dev)"])
    LIBS=$kbit_ocl_save_LIBS
    CPPFLAGS=$kbit_ocl_save_CPPFLAGS
    AS_IF([test "x$with_opencl" = "xyes" && test "x$kbit_have_opencl" != "xyes"],
      [AC_MSG_ERROR([--with-opencl given but the OpenCL driver cannot be built: $kbit_opencl_summary])])
  ])
  AC_SUBST([KBIT_OPENCL_CFLAGS])
  AC_SUBST([KBIT_OPENCL_LIBS])
  AM_CONDITIONAL([KBIT_OPENCL], [test "x$kbit_have_opencl" = "xyes"])
])
