# backends/cpu: the built-in CPU driver. Its objects go into libkbit_core.la;
# each x86 SIMD variant is compiled with its own flags into its own convenience
# library, and the driver only calls it after CPUID says the CPU can run it.

# The scalar NORMATIVE reference kernels; tests build a reference plugin from
# the same files (they need only -I$(top_srcdir)/include).
KBIT_CPU_REF_SOURCES = \
	backends/cpu/quant4/ref.c \
	backends/cpu/quant4/sums_ref.c \
	backends/cpu/quant8/ref.c \
	backends/cpu/optim/ref.c \
	backends/cpu/int8/ref.c \
	backends/cpu/gemm4/ref.c
KBIT_CPU_REF_HDRS = \
	backends/cpu/kernels.h \
	backends/cpu/quant4/quant4.h backends/cpu/quant8/quant8.h backends/cpu/gemm4/gemm4.h \
	backends/cpu/int8/int8.h backends/cpu/optim/optim.h backends/optim_params.h \
	$(KBIT_NUMERICS_HDRS)

libkbit_core_la_SOURCES += \
	$(KBIT_CPU_REF_SOURCES) $(KBIT_CPU_REF_HDRS) \
	backends/cpu/cpu.h backends/cpu/driver.c \
	backends/cpu/isa.c backends/cpu/isa.h \
	backends/cpu/split.c backends/cpu/split.h \
	backends/cpu/quant4/ops.c backends/cpu/quant4/cells.c \
	backends/cpu/quant8/ops.c backends/cpu/quant8/plan.c \
	backends/cpu/gemm4/ops.c \
	backends/cpu/int8/ops.c \
	backends/cpu/optim/ops.c

KBIT_CPU_X86_HDRS = backends/cpu/x86/common.h

if KBIT_X86_AVX2
noinst_LTLIBRARIES += libkbit_cpu_avx2.la
libkbit_cpu_avx2_la_SOURCES = \
	backends/cpu/x86/avx2_io.h \
	backends/cpu/quant4/avx2.c \
	backends/cpu/quant4/sums_avx2.c \
	backends/cpu/quant8/avx2.c \
	backends/cpu/optim/avx2.c backends/cpu/optim/simd.h \
	backends/cpu/int8/avx2.c \
	backends/cpu/gemm4/avx2.c \
	$(KBIT_CPU_X86_HDRS)
libkbit_cpu_avx2_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AVX2_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_avx2.la
endif

if KBIT_X86_AVX512
noinst_LTLIBRARIES += libkbit_cpu_avx512.la
libkbit_cpu_avx512_la_SOURCES = \
	backends/cpu/x86/avx512_io.h \
	backends/cpu/quant4/avx512.c \
	backends/cpu/quant4/sums_avx512.c \
	backends/cpu/quant8/avx512.c \
	backends/cpu/optim/avx512.c backends/cpu/optim/avx512_vocab.h backends/cpu/optim/simd.h \
	backends/cpu/int8/avx512.c \
	backends/cpu/gemm4/avx512.c \
	$(KBIT_CPU_X86_HDRS)
libkbit_cpu_avx512_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AVX512_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_avx512.la
endif

# avx512vnni: the avx512 variant with the integer GEMM replaced by a VNNI
# (vpdpbusd) kernel; only that kernel is compiled with -mavx512vnni.
if KBIT_X86_AVX512VNNI
noinst_LTLIBRARIES += libkbit_cpu_avx512vnni.la
libkbit_cpu_avx512vnni_la_SOURCES = \
	backends/cpu/int8/avx512vnni.c \
	$(KBIT_CPU_X86_HDRS)
libkbit_cpu_avx512vnni_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AVX512VNNI_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_avx512vnni.la
endif

# The zen4 tuning's kernels that look 8-bit codes up in registers
# (vpermi2b, x86/avx512_lut8.h) instead of gathering; isa.c uses them only
# on CPUs with AVX512_VBMI.
if KBIT_X86_AVX512VBMI
noinst_LTLIBRARIES += libkbit_cpu_avx512vbmi.la
libkbit_cpu_avx512vbmi_la_SOURCES = \
	backends/cpu/x86/avx512_lut8.h backends/cpu/x86/avx512_enc8.h \
	backends/cpu/quant8/avx512vbmi.c \
	backends/cpu/optim/avx512vbmi.c backends/cpu/optim/avx512_vocab.h backends/cpu/optim/simd.h \
	$(KBIT_CPU_X86_HDRS)
libkbit_cpu_avx512vbmi_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AVX512VBMI_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_avx512vbmi.la
endif

# Fast mode's 4-bit matmul on AVX512_BF16 (vdpbf16ps), for CPUs without AMX.
if KBIT_X86_AVX512BF16
noinst_LTLIBRARIES += libkbit_cpu_avx512bf16.la
libkbit_cpu_avx512bf16_la_SOURCES = backends/cpu/gemm4/avx512bf16.c backends/cpu/gemm4/bf16_panel.h
libkbit_cpu_avx512bf16_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AVX512BF16_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_avx512bf16.la
endif

# Fast mode's 4-bit matmul on AMX-BF16 tiles (opt-in, not dot32; isa.c runs
# it only where CPUID, XCR0 and the OS grant the tile state).
if KBIT_X86_AMX
noinst_LTLIBRARIES += libkbit_cpu_amx.la
libkbit_cpu_amx_la_SOURCES = backends/cpu/gemm4/amx.c backends/cpu/gemm4/bf16_panel.h
libkbit_cpu_amx_la_CFLAGS = $(AM_CFLAGS) $(KBIT_AMX_CFLAGS)
libkbit_core_la_LIBADD += libkbit_cpu_amx.la
endif
