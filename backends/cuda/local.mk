# backends/cuda: the CUDA driver plugin kbit-cuda.so, a libtool module
# installed in $(pkglibdir) and dlopened by the core. Built from .cu files
# with $(NVCC) when configure found a working nvcc (KBIT_CUDA): the runtime
# glue (driver.cu) and thin __global__ wrappers over the kernel bodies of
# backends/gpu (quant4.cu, quant8.cu, sums.cu, gemm4.cu, int8.cu, optim.cu).
# backends/hip builds the same files with hipcc.
#
# nvcc goes through libtool like a C compiler, with three twists: nvcc does
# not accept libtool's -fPIC, so libtool is told not to add it
# (-prefer-non-pic) and nvcc passes it to the host compiler itself; host
# compiler options are one --compiler-options=... word, because libtool
# would take a separate -Xcompiler for itself; and the module is linked by
# the C++ compiler (the host code is C++). The
# CUDA runtime is linked statically, so at run time the plugin needs only
# the driver library libcuda.so.1 (never the toolkit's stub libraries).

kbit_cuda_sources = \
	backends/cuda/driver.cu \
	backends/cuda/quant4.cu \
	backends/cuda/quant8.cu \
	backends/cuda/sums.cu \
	backends/cuda/gemm4.cu \
	backends/cuda/int8.cu \
	backends/cuda/optim.cu
kbit_cuda_headers = \
	backends/cuda/gpu-compat.h \
	backends/cuda/gpu-kernels.h

# Shipped whether or not this build has CUDA.
EXTRA_DIST += $(kbit_cuda_sources) $(kbit_cuda_headers)

# Numerics (doc/determinism.md 2): IEEE division and sqrt, no FMA contraction,
# denormals kept. Hidden visibility, and libtool keeps only
# kbit_driver_entry in the dynamic symbol table (the static runtime's
# symbols stay inside).
kbit_cuda_nvccflags = $(KBIT_CUDA_GENCODE) -O3 -std=c++17 \
	-fmad=false -prec-div=true -prec-sqrt=true -ftz=false \
	--compiler-options=-fvisibility=hidden,-ffp-contract=off,-fPIC \
	-I$(top_srcdir)/include -I$(top_srcdir) -I$(top_builddir) -I$(top_srcdir)/backends/cuda \
	$(NVCCFLAGS)

kbit_cuda_v_nvcc = $(kbit_cuda_v_nvcc_$(V))
kbit_cuda_v_nvcc_ = $(kbit_cuda_v_nvcc_$(AM_DEFAULT_VERBOSITY))
kbit_cuda_v_nvcc_0 = @echo "  NVCC    " $@;
kbit_cuda_v_nvcc_1 =

SUFFIXES = .cu
.cu.lo:
	$(kbit_cuda_v_nvcc)$(LIBTOOL) $(AM_V_lt) --tag=CC $(AM_LIBTOOLFLAGS) $(LIBTOOLFLAGS) \
	  --mode=compile $(NVCC) $(kbit_cuda_nvccflags) -prefer-non-pic -c -o $@ $<

if KBIT_CUDA
pkglib_LTLIBRARIES += kbit-cuda.la
kbit_cuda_la_SOURCES = $(kbit_cuda_sources) $(kbit_cuda_headers)
# Never compiled: its presence makes automake link the module with $(CXX).
nodist_EXTRA_kbit_cuda_la_SOURCES = backends/cuda/link-with-cxx.cxx
kbit_cuda_la_LDFLAGS = -module -avoid-version -shared -no-undefined -Wl,--no-undefined \
	-export-symbols-regex '^kbit_driver_entry$$'
kbit_cuda_la_LIBADD = -L$(KBIT_CUDA_LIBDIR) -lcudart_static -ldl -lrt -lpthread
# No dependency tracking for nvcc: every object depends on every header.
$(kbit_cuda_la_OBJECTS): $(kbit_cuda_headers) \
	$(top_srcdir)/include/kbit.h $(top_srcdir)/include/kbit-driver.h \
	$(top_srcdir)/include/kbit-formats.h $(KBIT_NUMERICS_HDRS:%=$(top_srcdir)/%) \
	$(KBIT_GPU_HDRS:%=$(top_srcdir)/%)
endif
