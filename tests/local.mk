# tests/: TAP programs and scripts run by `make check` through automake's
# tap-driver (LOG_DRIVER in Makefile.am), the golden vectors, and test-only
# driver plugins. The tests link libkbit_core.la, so they can also reach
# internal functions (the safetensors reader).
#
# The golden vectors and the randomized conformance cases of every op family
# are not test programs: `make check` runs `kbit conformance` on every
# target (tests/conformance.sh), the same code a vendor runs on a device.

# Shared helpers: those of `kbit conformance` (TAP, PRNG, half/bfloat16
# conversions, device buffers, the reference device, tools/conformance/
# libkbitcheck.la) and the verdicts of the bad-input programs.
check_LTLIBRARIES += tests/libkbittest.la
tests_libkbittest_la_SOURCES = tests/testutil.c tests/testutil.h tests/optimutil.h \
	tests/ckutil.c tests/ckutil.h tests/clutil.h
tests_libkbittest_la_CPPFLAGS = $(kbit_test_cppflags)
tests_libkbittest_la_CFLAGS = $(kbit_test_cflags)
# ... and those of the shell tests (the TAP verdicts, the Python to use;
# tools/test-cli.sh sources it too).
EXTRA_DIST += tests/lib.sh

kbit_test_cppflags = $(AM_CPPFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/tests \
	-I$(top_srcdir)/tools/conformance
kbit_test_cflags = $(AM_CFLAGS) $(JANSSON_CFLAGS)
kbit_test_libs = tests/libkbittest.la tools/conformance/libkbitcheck.la libkbit_core.la \
	$(JANSSON_LIBS) $(PTHREAD_LIBS)
# libkbit_core's objects are built with OpenMP: link with it too.
kbit_test_linkflags = $(OPENMP_CFLAGS)

kbit_test_progs = \
	tests/test_maps \
	tests/test_safetensors \
	tests/test_bad_input \
	tests/test_plugins \
	tests/test_properties \
	tests/test_checkpoint \
	tests/test_diffusers \
	tests/test_int8_bad_input \
	tests/test_gemm4_bad \
	tests/test_gemm4_fast \
	tests/test_errors \
	tests/test_ckhostile \
	tests/test_signals \
	tests/test_threads \
	tests/test_thread_limits \
	tests/test_aliasing \
	tests/test_quant4_cells
check_PROGRAMS += $(kbit_test_progs)
TESTS += $(kbit_test_progs)

tests_test_quant4_cells_SOURCES = tests/test_quant4_cells.c
tests_test_quant4_cells_CPPFLAGS = $(kbit_test_cppflags)
tests_test_quant4_cells_CFLAGS = $(kbit_test_cflags)
tests_test_quant4_cells_LDADD = $(kbit_test_libs) -lm
tests_test_quant4_cells_LDFLAGS = $(kbit_test_linkflags)

tests_test_maps_SOURCES = tests/test_maps.c
tests_test_maps_CPPFLAGS = $(kbit_test_cppflags)
tests_test_maps_CFLAGS = $(kbit_test_cflags)
tests_test_maps_LDADD = $(kbit_test_libs)
tests_test_maps_LDFLAGS = $(kbit_test_linkflags)

tests_test_safetensors_SOURCES = tests/test_safetensors.c
tests_test_safetensors_CPPFLAGS = $(kbit_test_cppflags)
tests_test_safetensors_CFLAGS = $(kbit_test_cflags)
tests_test_safetensors_LDADD = $(kbit_test_libs)
tests_test_safetensors_LDFLAGS = $(kbit_test_linkflags)

tests_test_bad_input_SOURCES = tests/test_bad_input.c
tests_test_bad_input_CPPFLAGS = $(kbit_test_cppflags)
tests_test_bad_input_CFLAGS = $(kbit_test_cflags)
tests_test_bad_input_LDADD = $(kbit_test_libs)
tests_test_bad_input_LDFLAGS = $(kbit_test_linkflags)

tests_test_plugins_SOURCES = tests/test_plugins.c
tests_test_plugins_CPPFLAGS = $(kbit_test_cppflags)
tests_test_plugins_CFLAGS = $(kbit_test_cflags)
tests_test_plugins_LDADD = $(kbit_test_libs)
tests_test_plugins_LDFLAGS = $(kbit_test_linkflags)

tests_test_properties_SOURCES = tests/test_properties.c
tests_test_properties_CPPFLAGS = $(kbit_test_cppflags)
tests_test_properties_CFLAGS = $(kbit_test_cflags)
tests_test_properties_LDADD = $(kbit_test_libs)
tests_test_properties_LDFLAGS = $(kbit_test_linkflags)

tests_test_diffusers_SOURCES = tests/test_diffusers.c
tests_test_diffusers_CPPFLAGS = $(kbit_test_cppflags)
tests_test_diffusers_CFLAGS = $(kbit_test_cflags)
tests_test_diffusers_LDADD = $(kbit_test_libs)
tests_test_diffusers_LDFLAGS = $(kbit_test_linkflags)
tests_test_checkpoint_SOURCES = tests/test_checkpoint.c
tests_test_checkpoint_CPPFLAGS = $(kbit_test_cppflags)
tests_test_checkpoint_CFLAGS = $(kbit_test_cflags)
tests_test_checkpoint_LDADD = $(kbit_test_libs)
tests_test_checkpoint_LDFLAGS = $(kbit_test_linkflags)

# Failure paths: allocation failures on demand (tests/failalloc.c replaces
# malloc for the program: never in the sanitizer build), disk full, RLIMIT_AS.
tests_test_errors_SOURCES = tests/test_errors.c tests/failalloc.c tests/failalloc.h
tests_test_errors_CPPFLAGS = $(kbit_test_cppflags)
tests_test_errors_CFLAGS = $(kbit_test_cflags)
tests_test_errors_LDADD = $(kbit_test_libs)
tests_test_errors_LDFLAGS = $(kbit_test_linkflags)

tests_test_ckhostile_SOURCES = tests/test_ckhostile.c
tests_test_ckhostile_CPPFLAGS = $(kbit_test_cppflags)
tests_test_ckhostile_CFLAGS = $(kbit_test_cflags)
tests_test_ckhostile_LDADD = $(kbit_test_libs)
tests_test_ckhostile_LDFLAGS = $(kbit_test_linkflags)

# Signals sent to the built `kbit quantize`.
tests_test_signals_SOURCES = tests/test_signals.c
tests_test_signals_CPPFLAGS = $(kbit_test_cppflags) -DKBIT_TOOL='"$(abs_top_builddir)/tools/kbit"'
tests_test_signals_CFLAGS = $(kbit_test_cflags)
tests_test_signals_LDADD = $(kbit_test_libs)
tests_test_signals_LDFLAGS = $(kbit_test_linkflags)

tests_test_thread_limits_SOURCES = tests/test_thread_limits.c
tests_test_thread_limits_CPPFLAGS = $(kbit_test_cppflags)
tests_test_thread_limits_CFLAGS = $(kbit_test_cflags)
tests_test_thread_limits_LDADD = $(kbit_test_libs)
tests_test_thread_limits_LDFLAGS = $(kbit_test_linkflags)

tests_test_aliasing_SOURCES = tests/test_aliasing.c
tests_test_aliasing_CPPFLAGS = $(kbit_test_cppflags)
tests_test_aliasing_CFLAGS = $(kbit_test_cflags)
tests_test_aliasing_LDADD = $(kbit_test_libs)
tests_test_aliasing_LDFLAGS = $(kbit_test_linkflags)

# libFuzzer target (configure --enable-fuzz, clang): the checkpoint reader.
if KBIT_FUZZ
noinst_PROGRAMS += tests/fuzz_checkpoint
tests_fuzz_checkpoint_SOURCES = tests/fuzz_checkpoint.c
tests_fuzz_checkpoint_CPPFLAGS = $(kbit_test_cppflags)
tests_fuzz_checkpoint_CFLAGS = $(kbit_test_cflags)
tests_fuzz_checkpoint_LDADD = libkbit_core.la $(JANSSON_LIBS) $(PTHREAD_LIBS)
tests_fuzz_checkpoint_LDFLAGS = $(kbit_test_linkflags) -fsanitize=fuzzer
# ... and the whole conversions (quantize, dequantize) of models from bytes.
noinst_PROGRAMS += tests/fuzz_convert
tests_fuzz_convert_SOURCES = tests/fuzz_convert.c
tests_fuzz_convert_CPPFLAGS = $(kbit_test_cppflags)
tests_fuzz_convert_CFLAGS = $(kbit_test_cflags)
tests_fuzz_convert_LDADD = libkbit_core.la $(JANSSON_LIBS) $(PTHREAD_LIBS)
tests_fuzz_convert_LDFLAGS = $(kbit_test_linkflags) -fsanitize=fuzzer
endif
EXTRA_DIST += tests/fuzz_checkpoint.c tests/fuzz_convert.c

# kbit-dfs-rule: the diffusers quantization rule on names from stdin, for
# tests/test_interop_diffusers.py (compared there with diffusers' own code).
check_PROGRAMS += tests/kbit-dfs-rule
tests_kbit_dfs_rule_SOURCES = tests/dfs_rule.c
tests_kbit_dfs_rule_CPPFLAGS = $(kbit_test_cppflags)
tests_kbit_dfs_rule_CFLAGS = $(kbit_test_cflags)
tests_kbit_dfs_rule_LDADD = libkbit_core.la $(JANSSON_LIBS) $(PTHREAD_LIBS)
tests_kbit_dfs_rule_LDFLAGS = $(kbit_test_linkflags)

# kbit-struct-layout: sizes and field offsets of the structs the Python
# package mirrors with ctypes, for python/tests/test_layout.py.
check_PROGRAMS += tests/kbit-struct-layout
tests_kbit_struct_layout_SOURCES = tests/struct_layout.c
tests_kbit_struct_layout_CPPFLAGS = $(kbit_test_cppflags)
tests_kbit_struct_layout_CFLAGS = $(kbit_test_cflags)

# The checkpoint verbs from the command line.
TESTS += tests/test-checkpoint-cli.sh
EXTRA_DIST += tests/test-checkpoint-cli.sh
TESTS += tests/test-diffusers-cli.sh
EXTRA_DIST += tests/test-diffusers-cli.sh

# doc/numerics.md's tables against include/kbit-formats.h, value by value.
TESTS += tests/test-doc-tables.sh
EXTRA_DIST += tests/test-doc-tables.sh

# Interop with the Python stack (skips unless torch, bitsandbytes, safetensors,
# transformers and accelerate import; scripts/check may install them).
TESTS += tests/test-interop.sh
EXTRA_DIST += tests/test-interop.sh tests/test_interop.py tests/interoputil.py
# ... and with diffusers (skips unless diffusers imports too).
TESTS += tests/test-interop-diffusers.sh
EXTRA_DIST += tests/test-interop-diffusers.sh tests/test_interop_diffusers.py

# The Python package (python/): its pytest suite on this build's libkbit,
# one TAP line per test (skips unless numpy, torch and pytest import).
TESTS += tests/test-python.sh
EXTRA_DIST += tests/test-python.sh python/pyproject.toml python/setup.py python/README.md \
	python/src python/tests

tests_test_int8_bad_input_SOURCES = tests/test_int8_bad_input.c
tests_test_int8_bad_input_CPPFLAGS = $(kbit_test_cppflags)
tests_test_int8_bad_input_CFLAGS = $(kbit_test_cflags)
tests_test_int8_bad_input_LDADD = $(kbit_test_libs)
tests_test_int8_bad_input_LDFLAGS = $(kbit_test_linkflags)

tests_test_threads_SOURCES = tests/test_threads.c
tests_test_threads_CPPFLAGS = $(kbit_test_cppflags)
tests_test_threads_CFLAGS = $(kbit_test_cflags)
tests_test_threads_LDADD = $(kbit_test_libs)
tests_test_threads_LDFLAGS = $(kbit_test_linkflags)

tests_test_gemm4_bad_SOURCES = tests/test_gemm4_bad.c
tests_test_gemm4_bad_CPPFLAGS = $(kbit_test_cppflags)
tests_test_gemm4_bad_CFLAGS = $(kbit_test_cflags)
tests_test_gemm4_bad_LDADD = $(kbit_test_libs)
tests_test_gemm4_bad_LDFLAGS = $(kbit_test_linkflags)
tests_test_gemm4_fast_SOURCES = tests/test_gemm4_fast.c
tests_test_gemm4_fast_CPPFLAGS = $(kbit_test_cppflags)
tests_test_gemm4_fast_CFLAGS = $(kbit_test_cflags)
tests_test_gemm4_fast_LDADD = $(kbit_test_libs)
tests_test_gemm4_fast_LDFLAGS = $(kbit_test_linkflags)

# The row ends of dot32 (doc/determinism.md 3): -0.0 lane sums, padding and
# the fold over unused lanes, through every op that reduces with dot32.

# numerics/ on every target: compiled as C11, CUDA and HIP
# (test-numerics-compile.sh), and built and run as OpenCL C on the ICD
# loader's first device, PoCL in CI, against the C build bit for bit
# (test_numerics_opencl; it skips, saying why, without headers, loader or
# device). Both use numerics_exercise.h, one call of every function.
# The minimal driver of doc/porting.md, compiled from the page and passed
# through kbit conformance.
TESTS += tests/test-porting-example.sh
EXTRA_DIST += tests/test-porting-example.sh

TESTS += tests/test-numerics-compile.sh
EXTRA_DIST += tests/test-numerics-compile.sh tests/numerics_check.c tests/numerics_check.cu
check_PROGRAMS += tests/test_numerics_opencl
TESTS += tests/test_numerics_opencl
tests_test_numerics_opencl_SOURCES = tests/test_numerics_opencl.c tests/numerics_exercise.h
tests_test_numerics_opencl_CPPFLAGS = $(kbit_test_cppflags) \
	-DKBIT_TESTS_SRCDIR='"$(abs_top_srcdir)/tests"'
tests_test_numerics_opencl_CFLAGS = $(kbit_test_cflags)
tests_test_numerics_opencl_LDADD = $(kbit_test_libs) $(OPENCL_LIBS) -lm
tests_test_numerics_opencl_LDFLAGS = $(kbit_test_linkflags)
if KBIT_CUDA
kbit_test_nvcc = $(NVCC)
endif

# Test-only driver plugins, loaded through KBIT_DRIVER_PATH. -rpath forces a
# shared build of a library that is never installed.
#   kbit-testref.so  driver "testref": the scalar reference kernels of
#                    backends/cpu/<family>/ref.c in a plugin (priority -10: never "auto")
#                    (ABI 2.1: streams, workspace, weight preparation)
#   kbit-partial.so  driver "partial": an ABI 2.0 table with part of the
#                    families, two devices (priority 50: "auto" for quant4)
#   kbit-badabi.so   ABI major version 999: must be refused
#   kbit-short.so    a table shorter than ABI 2.0: must be refused
#   kbit-nosym.so    no kbit_driver_entry symbol: must be refused
check_LTLIBRARIES += tests/drivers/kbit-testref.la tests/drivers/kbit-partial.la \
	tests/drivers/kbit-badabi.la tests/drivers/kbit-short.la tests/drivers/kbit-nosym.la

tests_drivers_kbit_testref_la_SOURCES = tests/drivers/testref.c $(KBIT_CPU_REF_SOURCES)
tests_drivers_kbit_testref_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends/cpu
tests_drivers_kbit_testref_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -no-undefined

tests_drivers_kbit_partial_la_SOURCES = tests/drivers/partial.c $(KBIT_CPU_REF_SOURCES)
tests_drivers_kbit_partial_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends/cpu
tests_drivers_kbit_partial_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -no-undefined

tests_drivers_kbit_badabi_la_SOURCES = tests/drivers/badabi.c
tests_drivers_kbit_badabi_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -no-undefined

tests_drivers_kbit_short_la_SOURCES = tests/drivers/badabi.c
tests_drivers_kbit_short_la_CPPFLAGS = $(AM_CPPFLAGS) -DKBIT_TEST_SHORT_TABLE
tests_drivers_kbit_short_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -no-undefined

tests_drivers_kbit_nosym_la_SOURCES = tests/drivers/nosym.c
tests_drivers_kbit_nosym_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -no-undefined

# kbit-testfault.so: testref with one planted fault (one bit of the 8-bit
# quantize), in a directory of its own, off KBIT_DRIVER_PATH: only
# tests/test-conformance-fault.sh loads it.
check_LTLIBRARIES += tests/drivers/fault/kbit-testfault.la
tests_drivers_fault_kbit_testfault_la_SOURCES = $(tests_drivers_kbit_testref_la_SOURCES)
tests_drivers_fault_kbit_testfault_la_CPPFLAGS = $(tests_drivers_kbit_testref_la_CPPFLAGS) \
	-DKBIT_TESTREF_FAULT
tests_drivers_fault_kbit_testfault_la_LDFLAGS = $(tests_drivers_kbit_testref_la_LDFLAGS)

# Where the tests find their data and the plugins. POCL_CACHE_DIR keeps PoCL's
# kernel cache (for OpenCL tests) inside the build tree. The install test
# gets the install's paths and make.
AM_TESTS_ENVIRONMENT = \
	KBIT_VECTORS_DIR='$(abs_top_srcdir)/tests/vectors'; export KBIT_VECTORS_DIR; \
	KBIT_DRIVER_PATH='$(abs_top_builddir)/tests/drivers/.libs:$(abs_top_builddir)/.libs'; \
	export KBIT_DRIVER_PATH; \
	POCL_CACHE_DIR='$(abs_top_builddir)/tests/pocl-cache'; export POCL_CACHE_DIR; \
	KBIT_MAKE='$(MAKE)'; KBIT_INSTALL_BINDIR='$(bindir)'; KBIT_INSTALL_LIBDIR='$(libdir)'; \
	KBIT_VECTORS_INSTALL_DIR='$(kbitvectorsdir)'; \
	export KBIT_MAKE KBIT_INSTALL_BINDIR KBIT_INSTALL_LIBDIR KBIT_VECTORS_INSTALL_DIR; \
	KBIT_TEST_CC='$(CC)'; KBIT_TEST_NVCC='$(kbit_test_nvcc)'; \
	KBIT_TEST_CUDA_GENCODE='$(KBIT_CUDA_GENCODE)'; KBIT_TEST_HIPCC='$(HIPCC)'; \
	export KBIT_TEST_CC KBIT_TEST_NVCC KBIT_TEST_CUDA_GENCODE KBIT_TEST_HIPCC;

# `kbit conformance` of each family on every target: the CPU variants x 1
# and 2 threads, every plugin driver, cuda:0 and opencl:0 (skips with the
# reason where absent). One test per family so that make -j runs them side
# by side; tests/conformance.sh is the runner.
kbit_conformance_tests = tests/test-conformance-quant4.sh tests/test-conformance-quant8.sh \
	tests/test-conformance-gemm4.sh tests/test-conformance-int8.sh \
	tests/test-conformance-optim.sh
TESTS += $(kbit_conformance_tests)
EXTRA_DIST += tests/conformance.sh $(kbit_conformance_tests)

# A planted fault is caught: kbit conformance on the driver testfault fails,
# and says where.
TESTS += tests/test-conformance-fault.sh
EXTRA_DIST += tests/test-conformance-fault.sh

# The installed layout: make install DESTDIR=STAGE, then the staged kbit runs
# `kbit conformance --quick` with neither KBIT_DRIVER_PATH nor KBIT_VECTORS_DIR.
TESTS += tests/test-install.sh
EXTRA_DIST += tests/test-install.sh

# The golden vectors (a copy of shared/vectors) are installed and
# distributed by tools/conformance/local.mk.
EXTRA_DIST += tests/README.md

# Optimizers (numerics 6): bad input, convergence (their golden vectors and
# conformance are kbit conformance's).
kbit_optim_test_progs = \
	tests/test_optim_bad_input \
	tests/test_optim_convergence
check_PROGRAMS += $(kbit_optim_test_progs)
TESTS += $(kbit_optim_test_progs)

tests_test_optim_bad_input_SOURCES = tests/test_optim_bad_input.c
tests_test_optim_bad_input_CPPFLAGS = $(kbit_test_cppflags)
tests_test_optim_bad_input_CFLAGS = $(kbit_test_cflags)
tests_test_optim_bad_input_LDADD = $(kbit_test_libs)
tests_test_optim_bad_input_LDFLAGS = $(kbit_test_linkflags)

tests_test_optim_convergence_SOURCES = tests/test_optim_convergence.c
tests_test_optim_convergence_CPPFLAGS = $(kbit_test_cppflags)
tests_test_optim_convergence_CFLAGS = $(kbit_test_cflags)
tests_test_optim_convergence_LDADD = $(kbit_test_libs) -lm
tests_test_optim_convergence_LDFLAGS = $(kbit_test_linkflags)

# PoCL's kernel cache (POCL_CACHE_DIR above) goes with the build.
clean-local: kbit-clean-pocl-cache
kbit-clean-pocl-cache:
	-rm -rf tests/pocl-cache
.PHONY: kbit-clean-pocl-cache

# What is particular to the OpenCL driver on opencl:0 (PoCL in CI): buffers
# at offsets, the pairsum slots, memory kinds, streams, bad input (its numbers
# are kbit conformance's, tests/conformance.sh). White-box: it reads the
# driver's handles (backends/opencl/handles.h) to make a queue of kbit's
# context.
if KBIT_OPENCL
check_PROGRAMS += tests/test_opencl
TESTS += tests/test_opencl
tests_test_opencl_SOURCES = tests/test_opencl.c
tests_test_opencl_CPPFLAGS = $(kbit_test_cppflags)
tests_test_opencl_CFLAGS = $(kbit_test_cflags)
tests_test_opencl_LDADD = $(kbit_test_libs) $(OPENCL_LIBS) -lm
tests_test_opencl_LDFLAGS = $(kbit_test_linkflags)
endif
EXTRA_DIST += tests/test_opencl.c

# LLM.int8() on opencl:0: every op with buffers at offsets, the forward with
# and without the gathered weight columns, prepared weights, launches past
# the group limit (its numbers at large are kbit conformance's).
if KBIT_OPENCL
check_PROGRAMS += tests/test_opencl_int8
TESTS += tests/test_opencl_int8
tests_test_opencl_int8_SOURCES = tests/test_opencl_int8.c
tests_test_opencl_int8_CPPFLAGS = $(kbit_test_cppflags)
tests_test_opencl_int8_CFLAGS = $(kbit_test_cflags)
tests_test_opencl_int8_LDADD = $(kbit_test_libs) -lm
tests_test_opencl_int8_LDFLAGS = $(kbit_test_linkflags)
endif
EXTRA_DIST += tests/test_opencl_int8.c

# GPU build hygiene: the option lists of nvcc, hipcc and OpenCL keep IEEE
# numerics (a lint), and every GPU plugin exports only kbit_driver_entry.
TESTS += tests/test-gpu-flags.sh tests/test-plugin-symbols.sh
EXTRA_DIST += tests/test-gpu-flags.sh tests/test-plugin-symbols.sh

# oclgrind over a small case of every OpenCL kernel: no data race, no
# out-of-bounds access, no divergent barrier (tests/test-oclgrind.sh; skips
# without oclgrind). oclgrind_ops runs the ops; its numbers are not checked.
if KBIT_OPENCL
check_PROGRAMS += tests/oclgrind_ops
tests_oclgrind_ops_SOURCES = tests/oclgrind_ops.c
tests_oclgrind_ops_CPPFLAGS = $(kbit_test_cppflags)
tests_oclgrind_ops_CFLAGS = $(kbit_test_cflags)
tests_oclgrind_ops_LDADD = $(kbit_test_libs)
tests_oclgrind_ops_LDFLAGS = $(kbit_test_linkflags)
endif
TESTS += tests/test-oclgrind.sh
EXTRA_DIST += tests/oclgrind_ops.c tests/test-oclgrind.sh

# scripts/gpu-check (the run for a machine with an NVIDIA GPU): it refuses
# cleanly without a GPU, driver or nvcc, and its preflight reads a (fake)
# H200 right; it never builds here.
TESTS += tests/test-gpu-check.sh
EXTRA_DIST += tests/test-gpu-check.sh
