# tools/conformance/: `kbit conformance`, the porting kit (a verb of the kbit
# program), and the helpers the test programs share with it. Two convenience
# libraries:
#   libkbitcheck.la        public API only: the TAP producer, PRNG and
#                          half/bfloat16 conversions, device buffers, the
#                          reference device, the vectors directory, optimizer
#                          state helpers; linked by the tests (tests/local.mk)
#                          and by libkbitconformance
#   libkbitconformance.la  the harness, the targets, the golden vectors and the
#                          randomized cases of every op family; linked into
#                          tools/kbit only. The golden vectors are read with the
#                          project's safetensors reader, internal to libkbit:
#                          lib/checkpoint/safetensors.c (with the files, JSON and
#                          limits helpers it reads through) is compiled in here too
#                          (reader_error.c stands in for the library's error
#                          recording, see golden.h).

# The golden vectors, installed for `kbit conformance` (which finds them there).
kbitvectorsdir = $(pkgdatadir)/vectors
dist_kbitvectors_DATA = tests/vectors/README.md tests/vectors/SHA256SUMS \
	tests/vectors/q4.safetensors tests/vectors/q8.safetensors \
	tests/vectors/nested.safetensors tests/vectors/gemv4.safetensors \
	tests/vectors/int8.safetensors tests/vectors/optim.safetensors

kbit_conf_cppflags = $(AM_CPPFLAGS) -I$(top_srcdir)/tools/conformance \
	-DKBIT_VECTORS_INSTALL_DIR='"$(kbitvectorsdir)"' -DKBIT_INSTALL_BINDIR='"$(bindir)"'

noinst_LTLIBRARIES += tools/conformance/libkbitcheck.la
tools_conformance_libkbitcheck_la_SOURCES = \
	tools/conformance/tap.c tools/conformance/tap.h \
	tools/conformance/numbers.c tools/conformance/numbers.h \
	tools/conformance/devmem.c tools/conformance/devmem.h \
	tools/conformance/devices.c tools/conformance/devices.h \
	tools/conformance/vectors.c tools/conformance/vectors.h \
	tools/conformance/optimstate.c tools/conformance/optimstate.h
tools_conformance_libkbitcheck_la_CPPFLAGS = $(kbit_conf_cppflags)

noinst_LTLIBRARIES += tools/conformance/libkbitconformance.la
tools_conformance_libkbitconformance_la_SOURCES = \
	tools/conformance/conformance.c \
	tools/conformance/harness.c tools/conformance/harness.h \
	tools/conformance/edges_dot32.c tools/conformance/edges.h \
	tools/conformance/targets.c tools/conformance/targets.h \
	tools/conformance/families.c tools/conformance/families.h \
	tools/conformance/golden.c tools/conformance/golden.h \
	tools/conformance/reader_error.c lib/checkpoint/safetensors.c \
	lib/checkpoint/files.c lib/checkpoint/jsonload.c lib/checkpoint/limits.c \
	tools/conformance/golden_quant4.c tools/conformance/golden_quant8.c \
	tools/conformance/golden_gemm4.c tools/conformance/golden_int8.c \
	tools/conformance/golden_optim.c \
	tools/conformance/inputs.c tools/conformance/inputs.h \
	tools/conformance/blockwise.c tools/conformance/blockwise.h \
	tools/conformance/random_quant4.c tools/conformance/random_quant8.c \
	tools/conformance/random_gemm4.c tools/conformance/random_int8.c \
	tools/conformance/random_optim.c \
	tools/conformance/formula_optim.c
tools_conformance_libkbitconformance_la_CPPFLAGS = $(kbit_conf_cppflags) -I$(top_srcdir)/lib \
	-I$(top_srcdir)/tools
tools_conformance_libkbitconformance_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tools_conformance_libkbitconformance_la_LIBADD = tools/conformance/libkbitcheck.la $(JANSSON_LIBS)
