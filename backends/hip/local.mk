# backends/hip: the HIP driver plugin kbit-hip.so (AMD GPUs), built by `make`
# whenever configure found a working hipcc (KBIT_HIP), from the CUDA sources:
# each .hip file here #includes one backends/cuda/*.cu, and -DKBIT_HIP makes
# backends/cuda/gpu-compat.h name the HIP runtime. .hip files have their own
# suffix rule so that nvcc's .cu rule never sees them.
#
# Numerics (doc/determinism.md 2): -ffp-contract=off is mandatory (HIP's
# __fmul_rn is a plain multiply and clang would fuse it with a following
# add), denormals are kept (-fno-gpu-flush-denormals-to-zero, also the
# default), no fast-math option. hipcc always gets explicit --offload-arch=
# values (KBIT_HIP_ARCHS). libtool adds -fPIC itself (hipcc takes it); the
# module is linked by the C++ compiler with -lamdhip64, and only
# kbit_driver_entry is exported.

kbit_hip_sources = \
	backends/hip/driver.hip \
	backends/hip/quant4.hip \
	backends/hip/quant8.hip \
	backends/hip/sums.hip \
	backends/hip/gemm4.hip \
	backends/hip/int8.hip \
	backends/hip/optim.hip

EXTRA_DIST += $(kbit_hip_sources)

kbit_hip_flags = $(KBIT_HIP_OFFLOAD) -O3 -std=c++17 -DKBIT_HIP \
	-ffp-contract=off -fno-gpu-flush-denormals-to-zero -fvisibility=hidden \
	-I$(top_srcdir)/include -I$(top_srcdir) -I$(top_builddir) -I$(top_srcdir)/backends/cuda \
	$(HIPCCFLAGS)

kbit_hip_v_hipcc = $(kbit_hip_v_hipcc_$(V))
kbit_hip_v_hipcc_ = $(kbit_hip_v_hipcc_$(AM_DEFAULT_VERBOSITY))
kbit_hip_v_hipcc_0 = @echo "  HIPCC   " $@;
kbit_hip_v_hipcc_1 =

SUFFIXES += .hip
.hip.lo:
	$(kbit_hip_v_hipcc)$(LIBTOOL) $(AM_V_lt) --tag=CXX $(AM_LIBTOOLFLAGS) $(LIBTOOLFLAGS) \
	  --mode=compile $(HIPCC) $(kbit_hip_flags) -c -o $@ $<

if KBIT_HIP
pkglib_LTLIBRARIES += kbit-hip.la
kbit_hip_la_SOURCES = $(kbit_hip_sources)
# Never compiled: its presence makes automake link the module with $(CXX).
nodist_EXTRA_kbit_hip_la_SOURCES = backends/hip/link-with-cxx.cxx
kbit_hip_la_LDFLAGS = -module -avoid-version -shared -no-undefined -Wl,--no-undefined \
	-export-symbols-regex '^kbit_driver_entry$$'
kbit_hip_la_LIBADD = -lamdhip64
# No dependency tracking for hipcc: every object depends on every header.
$(kbit_hip_la_OBJECTS): $(kbit_cuda_sources:%=$(top_srcdir)/%) \
	$(kbit_cuda_headers:%=$(top_srcdir)/%) \
	$(top_srcdir)/include/kbit.h $(top_srcdir)/include/kbit-driver.h \
	$(top_srcdir)/include/kbit-formats.h $(KBIT_NUMERICS_HDRS:%=$(top_srcdir)/%) \
	$(KBIT_GPU_HDRS:%=$(top_srcdir)/%)
endif
