# tests/: TAP programs run by `make check` through automake's tap-driver
# (LOG_DRIVER in Makefile.am), the golden vectors, and test-only driver
# plugins. The tests link libkbit_core.la, so they can also reach internal
# functions (the safetensors reader).

# Shared helpers: the TAP producer, PRNG, half/bfloat16 conversions, device
# buffers and the list of targets (a convenience library: no rpath).
check_LTLIBRARIES += tests/libkbittest.la
tests_libkbittest_la_SOURCES = tests/tap.c tests/tap.h tests/testutil.c tests/testutil.h \
	tests/ckutil.c tests/ckutil.h
tests_libkbittest_la_CPPFLAGS = $(kbit_test_cppflags)
tests_libkbittest_la_CFLAGS = $(kbit_test_cflags)

kbit_test_cppflags = $(AM_CPPFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/tests \
	-DKBIT_TESTS_SRCDIR='"$(abs_top_srcdir)/tests"'
kbit_test_cflags = $(AM_CFLAGS) $(JANSSON_CFLAGS)
kbit_test_libs = tests/libkbittest.la libkbit_core.la $(JANSSON_LIBS) $(PTHREAD_LIBS)
# libkbit_core's objects are built with OpenMP: link with it too.
kbit_test_linkflags = $(OPENMP_CFLAGS)

kbit_test_progs = \
	tests/test_maps \
	tests/test_safetensors \
	tests/test_bad_input \
	tests/test_plugins \
	tests/test_properties \
	tests/test_golden \
	tests/test_conformance \
	tests/test_golden_int8 \
	tests/test_checkpoint \
	tests/test_int8_conformance \
	tests/test_int8_bad_input \
	tests/test_gemm4 \
	tests/test_gemm4_bad \
	tests/test_errors \
	tests/test_ckhostile \
	tests/test_signals \
	tests/test_threads \
	tests/test_aliasing
check_PROGRAMS += $(kbit_test_progs)
TESTS += $(kbit_test_progs)

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

tests_test_golden_SOURCES = tests/test_golden.c
tests_test_golden_CPPFLAGS = $(kbit_test_cppflags)
tests_test_golden_CFLAGS = $(kbit_test_cflags)
tests_test_golden_LDADD = $(kbit_test_libs)
tests_test_golden_LDFLAGS = $(kbit_test_linkflags)

tests_test_conformance_SOURCES = tests/test_conformance.c
tests_test_conformance_CPPFLAGS = $(kbit_test_cppflags)
tests_test_conformance_CFLAGS = $(kbit_test_cflags)
tests_test_conformance_LDADD = $(kbit_test_libs)
tests_test_conformance_LDFLAGS = $(kbit_test_linkflags)

tests_test_golden_int8_SOURCES = tests/test_golden_int8.c
tests_test_golden_int8_CPPFLAGS = $(kbit_test_cppflags)
tests_test_golden_int8_CFLAGS = $(kbit_test_cflags)
tests_test_golden_int8_LDADD = $(kbit_test_libs)
tests_test_golden_int8_LDFLAGS = $(kbit_test_linkflags)
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

tests_test_threads_SOURCES = tests/test_threads.c
tests_test_threads_CPPFLAGS = $(kbit_test_cppflags)
tests_test_threads_CFLAGS = $(kbit_test_cflags)
tests_test_threads_LDADD = $(kbit_test_libs)
tests_test_threads_LDFLAGS = $(kbit_test_linkflags)

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

# The checkpoint verbs from the command line.
TESTS += tests/test-checkpoint-cli.sh
EXTRA_DIST += tests/test-checkpoint-cli.sh

# Interop with the Python stack (skips unless torch, bitsandbytes, safetensors,
# transformers and accelerate import; scripts/check may install them).
TESTS += tests/test-interop.sh
EXTRA_DIST += tests/test-interop.sh tests/test_interop.py

tests_test_int8_conformance_SOURCES = tests/test_int8_conformance.c
tests_test_int8_conformance_CPPFLAGS = $(kbit_test_cppflags)
tests_test_int8_conformance_CFLAGS = $(kbit_test_cflags)
tests_test_int8_conformance_LDADD = $(kbit_test_libs)
tests_test_int8_conformance_LDFLAGS = $(kbit_test_linkflags)

tests_test_int8_bad_input_SOURCES = tests/test_int8_bad_input.c
tests_test_int8_bad_input_CPPFLAGS = $(kbit_test_cppflags)
tests_test_int8_bad_input_CFLAGS = $(kbit_test_cflags)
tests_test_int8_bad_input_LDADD = $(kbit_test_libs)
tests_test_int8_bad_input_LDFLAGS = $(kbit_test_linkflags)

tests_test_gemm4_SOURCES = tests/test_gemm4.c
tests_test_gemm4_CPPFLAGS = $(kbit_test_cppflags)
tests_test_gemm4_CFLAGS = $(kbit_test_cflags)
tests_test_gemm4_LDADD = $(kbit_test_libs)
tests_test_gemm4_LDFLAGS = $(kbit_test_linkflags)

tests_test_gemm4_bad_SOURCES = tests/test_gemm4_bad.c
tests_test_gemm4_bad_CPPFLAGS = $(kbit_test_cppflags)
tests_test_gemm4_bad_CFLAGS = $(kbit_test_cflags)
tests_test_gemm4_bad_LDADD = $(kbit_test_libs)
tests_test_gemm4_bad_LDFLAGS = $(kbit_test_linkflags)

# Test-only driver plugins, loaded through KBIT_DRIVER_PATH. -rpath forces a
# shared build of a library that is never installed.
#   kbit-testref.so  driver "testref": the scalar reference kernels of
#                    backends/cpu/<family>/ref.c in a plugin (priority -10: never "auto")
#   kbit-badabi.so   abi_version 999: must be refused
#   kbit-nosym.so    no kbit_driver_entry symbol: must be refused
check_LTLIBRARIES += tests/drivers/kbit-testref.la tests/drivers/kbit-badabi.la \
	tests/drivers/kbit-nosym.la

tests_drivers_kbit_testref_la_SOURCES = tests/drivers/testref.c $(KBIT_CPU_REF_SOURCES)
tests_drivers_kbit_testref_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends/cpu
tests_drivers_kbit_testref_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -no-undefined

tests_drivers_kbit_badabi_la_SOURCES = tests/drivers/badabi.c
tests_drivers_kbit_badabi_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -no-undefined

tests_drivers_kbit_nosym_la_SOURCES = tests/drivers/nosym.c
tests_drivers_kbit_nosym_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -no-undefined

# Where the tests find their data and the plugins. POCL_CACHE_DIR keeps PoCL's
# kernel cache (for OpenCL tests) inside the build tree.
AM_TESTS_ENVIRONMENT = \
	KBIT_VECTORS_DIR='$(abs_top_srcdir)/tests/vectors'; export KBIT_VECTORS_DIR; \
	KBIT_DRIVER_PATH='$(abs_top_builddir)/tests/drivers/.libs:$(abs_top_builddir)/.libs'; \
	export KBIT_DRIVER_PATH; \
	POCL_CACHE_DIR='$(abs_top_builddir)/tests/pocl-cache'; export POCL_CACHE_DIR;

# The golden vectors (a copy of shared/vectors: q4, q8, nested).
EXTRA_DIST += tests/README.md tests/vectors/README.md tests/vectors/SHA256SUMS \
	tests/vectors/q4.safetensors tests/vectors/q8.safetensors \
	tests/vectors/nested.safetensors

# Optimizers (numerics 6): golden vectors, conformance + save/restore, bad
# input, convergence. They share tests/optimutil.c.
kbit_optim_test_progs = \
	tests/test_optim_golden \
	tests/test_optim_conformance \
	tests/test_optim_bad_input \
	tests/test_optim_convergence
check_PROGRAMS += $(kbit_optim_test_progs)
TESTS += $(kbit_optim_test_progs)
kbit_optim_test_common = tests/optimutil.c tests/optimutil.h

tests_test_optim_golden_SOURCES = tests/test_optim_golden.c $(kbit_optim_test_common)
tests_test_optim_golden_CPPFLAGS = $(kbit_test_cppflags)
tests_test_optim_golden_CFLAGS = $(kbit_test_cflags)
tests_test_optim_golden_LDADD = $(kbit_test_libs)
tests_test_optim_golden_LDFLAGS = $(kbit_test_linkflags)

tests_test_optim_conformance_SOURCES = tests/test_optim_conformance.c $(kbit_optim_test_common)
tests_test_optim_conformance_CPPFLAGS = $(kbit_test_cppflags)
tests_test_optim_conformance_CFLAGS = $(kbit_test_cflags)
tests_test_optim_conformance_LDADD = $(kbit_test_libs)
tests_test_optim_conformance_LDFLAGS = $(kbit_test_linkflags)

tests_test_optim_bad_input_SOURCES = tests/test_optim_bad_input.c $(kbit_optim_test_common)
tests_test_optim_bad_input_CPPFLAGS = $(kbit_test_cppflags)
tests_test_optim_bad_input_CFLAGS = $(kbit_test_cflags)
tests_test_optim_bad_input_LDADD = $(kbit_test_libs)
tests_test_optim_bad_input_LDFLAGS = $(kbit_test_linkflags)

tests_test_optim_convergence_SOURCES = tests/test_optim_convergence.c $(kbit_optim_test_common)
tests_test_optim_convergence_CPPFLAGS = $(kbit_test_cppflags)
tests_test_optim_convergence_CFLAGS = $(kbit_test_cflags)
tests_test_optim_convergence_LDADD = $(kbit_test_libs) -lm
tests_test_optim_convergence_LDFLAGS = $(kbit_test_linkflags)

EXTRA_DIST += tests/vectors/optim.safetensors tests/vectors/int8.safetensors \
	tests/vectors/gemv4.safetensors
