# bench/: the benchmarks `kbit bench` runs; linked into the kbit program
# (tools/local.mk) as a convenience library. They print figures, never
# pass/fail.
noinst_LTLIBRARIES += bench/libkbitbench.la
bench_libkbitbench_la_SOURCES = \
	bench/bench.h bench/quant.c \
	bench/int8.c \
	bench/gemm4.c bench/gemm4_peers.c bench/gemm4_peers.h \
	bench/options.c bench/options.h \
	bench/cases.c bench/cases.h \
	bench/rotation.c bench/rotation.h \
	bench/copy.c bench/copy.h \
	bench/bnb.c bench/bnb.h \
	bench/timer.c bench/timer.h
bench_libkbitbench_la_SOURCES += bench/optim.c bench/optim_baseline.c bench/optim_baseline.h \
	bench/optim_peer.c bench/optim_peer.h
# bitsandbytes' optimizers as the peer of `kbit bench optim`: a Python script,
# found in the source tree or as installed here.
benchpeerdir = $(pkgdatadir)/bench
dist_benchpeer_DATA = bench/python/optim_peer.py
bench_libkbitbench_la_CPPFLAGS = $(AM_CPPFLAGS) -DKBIT_BENCH_SRCDIR='"$(abs_top_srcdir)/bench"' \
	-DKBIT_BENCH_BUILDDIR='"$(abs_top_builddir)"' -DKBIT_BENCH_DATADIR='"$(benchpeerdir)"' 
# OpenMP for the copy baseline (bench/copy.c says why).
bench_libkbitbench_la_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
bench_libkbitbench_la_LIBADD = $(PTHREAD_LIBS)

# The checkpoint benchmark is a script (kbit quantize of a generated 2.2 GB
# model: wall time, MB/s, peak RSS, ratio to the disk read rate).
EXTRA_DIST += bench/checkpoint.sh bench/diffusers.sh bench/diffusers_peer.py bench/lib.sh
# The fp32 baseline of `kbit bench int8` (OpenBLAS, when configure found it).
bench_libkbitbench_la_LIBADD += $(KBIT_BLAS_LIBS)
