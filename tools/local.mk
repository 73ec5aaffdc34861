# tools/: the `kbit` command line program (its benchmarks live in bench/, a
# convenience library: bench/local.mk), the quickstart demo, and a TAP test
# of the program's command line.
bin_PROGRAMS += tools/kbit
tools_kbit_SOURCES = tools/kbit.c tools/cli.h tools/info.c tools/bench.c
# the checkpoint verbs (kbit quantize / dequantize / inspect)
tools_kbit_SOURCES += tools/ckcli.c tools/ckcli.h tools/quantize.c tools/dequantize.c \
	tools/inspect.c
tools_kbit_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/bench
# `kbit conformance` lives in tools/conformance (its local.mk)
tools_kbit_LDADD = tools/conformance/libkbitconformance.la bench/libkbitbench.la libkbit.la \
	$(JANSSON_LIBS) $(PTHREAD_LIBS)
tools_kbit_LDFLAGS = $(OPENMP_CFLAGS)

# scripts/quickstart runs it: NF4 round trip, error and footprint.
noinst_PROGRAMS += tools/kbit-example
tools_kbit_example_SOURCES = tools/example.c
tools_kbit_example_LDADD = libkbit.la

# kbit-genmodel: random Llama-shaped checkpoints for the checkpoint tests,
# the benchmark (scripts/bench-checkpoint) and the quickstart's fallback.
noinst_PROGRAMS += tools/kbit-genmodel
tools_kbit_genmodel_SOURCES = tools/genmodel.c
tools_kbit_genmodel_LDADD = libkbit.la -lm

TESTS += tools/test-cli.sh
EXTRA_DIST += tools/test-cli.sh
