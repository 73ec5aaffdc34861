# bench/: the benchmarks `kbit bench` runs; linked into the kbit program
# (tools/local.mk) as a convenience library. They print figures, never
# pass/fail.
noinst_LTLIBRARIES += bench/libkbitbench.la
bench_libkbitbench_la_SOURCES = \
	bench/bench.h bench/quant.c \
	bench/gemm4.c bench/gemm4_peers.c bench/gemm4_peers.h \
	bench/options.c bench/options.h \
	bench/cases.c bench/cases.h \
	bench/rotation.c bench/rotation.h \
	bench/copy.c bench/copy.h \
	bench/bnb.c bench/bnb.h \
	bench/timer.c bench/timer.h
# OpenMP for the copy baseline (bench/copy.c says why).
bench_libkbitbench_la_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
bench_libkbitbench_la_LIBADD = $(PTHREAD_LIBS)
