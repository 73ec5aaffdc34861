# backends/cpu: the built-in CPU driver. Its objects go into libkbit_core.la;
# each x86 SIMD variant is compiled with its own flags into its own convenience
# library, and the driver only calls it after CPUID says the CPU can run it.

# The scalar NORMATIVE reference kernels; tests build a reference plugin from
# the same files (they need only -I$(top_srcdir)/include).
KBIT_CPU_REF_SOURCES = \
	backends/cpu/ref/quant4.c \
	backends/cpu/ref/quant8.c \
	backends/cpu/ref/sums.c \
	backends/cpu/ref/optim.c \
	backends/cpu/ref/int8.c \
	backends/cpu/ref/gemm4.c
KBIT_CPU_REF_HDRS = \
	backends/cpu/ref/ref.h \
	backends/cpu/ref/encode.h \
	backends/cpu/ref/half.h \
	backends/cpu/ref/int8.h \
	backends/cpu/ref/dot32.h

libkbit_core_la_SOURCES += \
	$(KBIT_CPU_REF_SOURCES) $(KBIT_CPU_REF_HDRS) \
	backends/cpu/kernels.h \
	backends/cpu/kernels_scalar.c \
	backends/cpu/enc4_cells.c \
	backends/cpu/enc8_plan.c \
	backends/cpu/isa.c backends/cpu/isa.h \
	backends/cpu/cpu.h backends/cpu/driver.c backends/cpu/ops.c \
	backends/cpu/optim_ops.c backends/cpu/int8_ops.c backends/cpu/ops_gemm4.c

KBIT_CPU_X86_HDRS = \
	backends/cpu/x86/common.h \
	backends/cpu/x86/variants.h

if KBIT_X86_AVX2
noinst_LTLIBRARIES += libkbit_cpu_avx2.la
libkbit_cpu_avx2_la_SOURCES = \
	backends/cpu/x86/avx2_io.h \
	backends/cpu/x86/avx2_quant4.c \
	backends/cpu/x86/avx2_quant8.c \
	backends/cpu/x86/avx2_sums.c \
	backends/cpu/x86/avx2_optim.c backends/cpu/x86/optim_simd.h \
	backends/cpu/x86/avx2_int8.c \
	backends/cpu/x86/avx2_gemm4.c \
	backends/cpu/x86/avx2_kernels.c \
	$(KBIT_CPU_X86_HDRS)
libkbit_cpu_avx2_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AVX2_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_avx2.la
endif

if KBIT_X86_AVX512
noinst_LTLIBRARIES += libkbit_cpu_avx512.la
libkbit_cpu_avx512_la_SOURCES = \
	backends/cpu/x86/avx512_io.h \
	backends/cpu/x86/avx512_quant4.c \
	backends/cpu/x86/avx512_quant8.c \
	backends/cpu/x86/avx512_sums.c \
	backends/cpu/x86/avx512_optim.c backends/cpu/x86/optim_simd.h \
	backends/cpu/x86/avx512_int8.c \
	backends/cpu/x86/avx512_gemm4.c \
	backends/cpu/x86/avx512_kernels.c \
	$(KBIT_CPU_X86_HDRS)
libkbit_cpu_avx512_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AVX512_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_avx512.la
endif

# avx512vnni: the avx512 variant's table with the integer GEMM replaced by a
# VNNI (vpdpbusd) kernel; only int8 code is compiled with -mavx512vnni.
if KBIT_X86_AVX512VNNI
noinst_LTLIBRARIES += libkbit_cpu_avx512vnni.la
libkbit_cpu_avx512vnni_la_SOURCES = \
	backends/cpu/x86/avx512vnni_int8.c \
	backends/cpu/x86/avx512vnni_kernels.c \
	$(KBIT_CPU_X86_HDRS)
libkbit_cpu_avx512vnni_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AVX512VNNI_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_avx512vnni.la
endif
