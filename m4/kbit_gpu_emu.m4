# KBIT_CHECK_GPU_EMU: can the C++ compiler build the test-only CUDA-on-CPU
# emulation (tests/gpu-emu: the backends/cuda kernel wrappers compiled as
# C++20 and run on threads): C++20 with <barrier> and threads. And does
# ThreadSanitizer build and RUN a threaded program there (it refuses some
# kernels' memory layouts, and cannot be mixed with the ASan of
# --enable-fuzz or sanitizers in CFLAGS/CXXFLAGS/LDFLAGS)?
#
# Sets KBIT_EMU_CXXFLAGS (-std=c++20, plus -fsanitize=thread when it runs),
# KBIT_EMU_SANFLAGS (-fsanitize=thread or empty: also for the C reference
# and the link), KBIT_EMU_WHY (why there is no emulation or no TSan: the
# tests' skip reasons), and the conditional KBIT_GPU_EMU.
AC_DEFUN([KBIT_CHECK_GPU_EMU], [
  AC_REQUIRE([AC_PROG_CXX])
  KBIT_EMU_CXXFLAGS=""
  KBIT_EMU_SANFLAGS=""
  KBIT_EMU_WHY=""
  kbit_have_emu=no
  AC_LANG_PUSH([C++])
  kbit_emu_save_CXXFLAGS=$CXXFLAGS
  kbit_emu_save_LDFLAGS=$LDFLAGS
  kbit_emu_prog='AC_LANG_PROGRAM([[#include <barrier>
#include <thread>
static int shared_value;]], [[std::barrier<> b(2);
std::thread t([&] { shared_value = 1; b.arrive_and_wait(); });
b.arrive_and_wait();
int v = shared_value;
t.join();
return v == 1 ? 0 : 1;]])'
  AC_MSG_CHECKING([whether $CXX builds C++20 std::barrier with threads (tests/gpu-emu)])
  CXXFLAGS="$kbit_emu_save_CXXFLAGS -std=c++20 -pthread"
  AC_LINK_IFELSE([$kbit_emu_prog], [kbit_have_emu=yes],
    [KBIT_EMU_WHY="$CXX cannot build C++20 std::barrier with threads (GCC 11 or later has it)"])
  AC_MSG_RESULT([$kbit_have_emu])
  AS_IF([test "x$kbit_have_emu" = "xyes"], [
    KBIT_EMU_CXXFLAGS="-std=c++20"
    AC_MSG_CHECKING([whether ThreadSanitizer builds and runs a threaded C++20 program])
    kbit_emu_tsan=no
    AS_CASE(["$CFLAGS $CXXFLAGS $LDFLAGS"],
      [*-fsanitize=*], [KBIT_EMU_WHY="no ThreadSanitizer: the build already has a sanitizer (-fsanitize= in CFLAGS, CXXFLAGS or LDFLAGS)"],
      [CXXFLAGS="$kbit_emu_save_CXXFLAGS -std=c++20 -pthread -fsanitize=thread"
       LDFLAGS="$kbit_emu_save_LDFLAGS -fsanitize=thread"
       AC_RUN_IFELSE([$kbit_emu_prog], [kbit_emu_tsan=yes],
         [KBIT_EMU_WHY="no ThreadSanitizer: $CXX -fsanitize=thread did not build or run a threaded program (see config.log; apt-get install libtsan2 for GCC 12)"],
         [KBIT_EMU_WHY="no ThreadSanitizer: cross compiling"])])
    AC_MSG_RESULT([$kbit_emu_tsan])
    AS_IF([test "x$kbit_emu_tsan" = "xyes"], [
      KBIT_EMU_SANFLAGS="-fsanitize=thread"
      KBIT_EMU_CXXFLAGS="-std=c++20 -fsanitize=thread"])
  ])
  CXXFLAGS=$kbit_emu_save_CXXFLAGS
  LDFLAGS=$kbit_emu_save_LDFLAGS
  AC_LANG_POP([C++])
  AS_IF([test "x$kbit_have_emu" = "xyes"],
    [AS_IF([test -n "$KBIT_EMU_SANFLAGS"], [kbit_emu_summary="yes (ThreadSanitizer)"],
       [kbit_emu_summary="yes ($KBIT_EMU_WHY)"])],
    [kbit_emu_summary="no ($KBIT_EMU_WHY)"])
  AC_SUBST([KBIT_EMU_CXXFLAGS])
  AC_SUBST([KBIT_EMU_SANFLAGS])
  AC_SUBST([KBIT_EMU_WHY])
  AM_CONDITIONAL([KBIT_GPU_EMU], [test "x$kbit_have_emu" = "xyes"])
])
