# tests/gpu-emu: TEST ONLY. The CUDA kernel wrappers of backends/cuda (every
# .cu of the driver but driver.cu) compiled by the C++ compiler as C++20
# with tests/gpu-emu/emu.h and run on CPU threads, under ThreadSanitizer
# when configure found it working (m4/kbit_gpu_emu.m4), against the scalar
# reference of backends/cpu bit for bit (tests/gpu-emu/README.md).
#
#   tests/gpu-emu/emu-check            the kernels as they are
#   tests/gpu-emu/emu-check-nobarrier  the same with the first KBIT_BARRIER()
#                                      of $(KBIT_EMU_DROP_BARRIER) removed in a
#                                      copy of backends/gpu: it must fail
#
# A new family: its .cu in kbit_cuda_sources (backends/cuda/local.mk) is
# picked up here by itself; add its case file to kbit_emu_cases and one
# line to tests/gpu-emu/families.h.

kbit_emu_cases = \
	tests/gpu-emu/cases-quant4.cc \
	tests/gpu-emu/cases-quant8.cc \
	tests/gpu-emu/cases-sums.cc \
	tests/gpu-emu/cases-gemm4.cc \
	tests/gpu-emu/cases-int8.cc \
	tests/gpu-emu/cases-optim.cc
kbit_emu_hdrs = tests/gpu-emu/emu.h tests/gpu-emu/check.h tests/gpu-emu/ref.h \
	tests/gpu-emu/families.h
EXTRA_DIST += tests/gpu-emu/emu.cc tests/gpu-emu/check.cc $(kbit_emu_cases) $(kbit_emu_hdrs) \
	tests/gpu-emu/README.md tests/test-gpu-emu.sh tests/test-gpu-emu-barrier.sh
TESTS += tests/test-gpu-emu.sh tests/test-gpu-emu-barrier.sh

# The barrier removed in the copy: the first KBIT_BARRIER() of this file
# (the one after the partial maxima are stored: without it an item reads
# its neighbour's entry before it is written).
KBIT_EMU_DROP_BARRIER = backends/gpu/blockwise.h

kbit_emu_kernels = $(filter-out backends/cuda/driver.cu,$(kbit_cuda_sources))
kbit_emu_objs = $(kbit_emu_kernels:backends/cuda/%.cu=tests/gpu-emu/kernels/%.$(OBJEXT))
kbit_emu_nb = tests/gpu-emu/nobarrier
kbit_emu_nb_objs = $(kbit_emu_kernels:backends/cuda/%.cu=$(kbit_emu_nb)/kernels/%.$(OBJEXT))
kbit_emu_cppflags = -I$(top_srcdir)/include -I$(top_srcdir) -I$(top_builddir) \
	-I$(top_srcdir)/backends/cuda
# No FMA contraction, as everywhere (doc/determinism.md 2).
kbit_emu_cxxflags = $(KBIT_EMU_CXXFLAGS) -pthread -ffp-contract=off -Wall -Wextra -Wno-unused-parameter
kbit_emu_deps = $(kbit_emu_hdrs:%=$(top_srcdir)/%) $(kbit_cuda_headers:%=$(top_srcdir)/%) \
	$(KBIT_GPU_HDRS:%=$(top_srcdir)/%) $(KBIT_NUMERICS_HDRS:%=$(top_srcdir)/%) \
	$(top_srcdir)/include/kbit-driver.h $(top_srcdir)/include/kbit-formats.h

kbit_emu_v_cxx = $(kbit_emu_v_cxx_$(V))
kbit_emu_v_cxx_ = $(kbit_emu_v_cxx_$(AM_DEFAULT_VERBOSITY))
kbit_emu_v_cxx_0 = @echo "  CXX-EMU " $@;
kbit_emu_v_cxx_1 =

tests/gpu-emu/kernels/%.$(OBJEXT): $(top_srcdir)/backends/cuda/%.cu $(kbit_emu_deps)
	@$(MKDIR_P) $(@D)
	$(kbit_emu_v_cxx)$(CXX) $(kbit_emu_cppflags) $(kbit_emu_cxxflags) $(CXXFLAGS) \
	  -include $(top_srcdir)/tests/gpu-emu/emu.h -x c++ -c -o $@ $<

# The copy of backends/gpu with one barrier less; found before the real one
# on the include path. Fails when the file has no KBIT_BARRIER() left to
# remove (the test would prove nothing).
$(kbit_emu_nb)/stamp: $(KBIT_GPU_HDRS:%=$(top_srcdir)/%)
	@rm -rf $(kbit_emu_nb)/backends && $(MKDIR_P) $(kbit_emu_nb)/backends/gpu
	$(AM_V_GEN)cp $(KBIT_GPU_HDRS:%=$(top_srcdir)/%) $(kbit_emu_nb)/backends/gpu/ && \
	  $(AWK) '!done && /KBIT_BARRIER\(\);/ { print "    /* KBIT_BARRIER() removed (tests/gpu-emu) */"; done = 1; next } { print }' \
	    $(top_srcdir)/$(KBIT_EMU_DROP_BARRIER) >$(kbit_emu_nb)/$(KBIT_EMU_DROP_BARRIER) && \
	  if cmp -s $(top_srcdir)/$(KBIT_EMU_DROP_BARRIER) $(kbit_emu_nb)/$(KBIT_EMU_DROP_BARRIER); then \
	    echo "$(KBIT_EMU_DROP_BARRIER) has no KBIT_BARRIER(); to remove (KBIT_EMU_DROP_BARRIER)" >&2; \
	    exit 1; fi
	@touch $@

$(kbit_emu_nb)/kernels/%.$(OBJEXT): $(top_srcdir)/backends/cuda/%.cu $(kbit_emu_deps) \
		$(kbit_emu_nb)/stamp
	@$(MKDIR_P) $(@D)
	$(kbit_emu_v_cxx)$(CXX) -I$(kbit_emu_nb) $(kbit_emu_cppflags) $(kbit_emu_cxxflags) \
	  $(CXXFLAGS) -include $(top_srcdir)/tests/gpu-emu/emu.h -x c++ -c -o $@ $<

if KBIT_GPU_EMU
# The runtime, the cases and the reference, once for both programs.
check_LTLIBRARIES += tests/gpu-emu/libkbitemu.la
tests_gpu_emu_libkbitemu_la_SOURCES = tests/gpu-emu/emu.cc tests/gpu-emu/check.cc \
	$(kbit_emu_cases) $(kbit_emu_hdrs) $(KBIT_CPU_REF_SOURCES)
tests_gpu_emu_libkbitemu_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends/cpu
tests_gpu_emu_libkbitemu_la_CXXFLAGS = $(kbit_emu_cxxflags)
tests_gpu_emu_libkbitemu_la_CFLAGS = $(AM_CFLAGS) $(KBIT_EMU_SANFLAGS)

check_PROGRAMS += tests/gpu-emu/emu-check tests/gpu-emu/emu-check-nobarrier
tests_gpu_emu_emu_check_SOURCES =
# Never compiled: makes automake link with $(CXX).
nodist_EXTRA_tests_gpu_emu_emu_check_SOURCES = tests/gpu-emu/link-with-cxx.cc
tests_gpu_emu_emu_check_LDADD = $(kbit_emu_objs) tests/gpu-emu/libkbitemu.la
tests_gpu_emu_emu_check_LDFLAGS = $(KBIT_EMU_SANFLAGS) -pthread
tests_gpu_emu_emu_check_DEPENDENCIES = $(kbit_emu_objs) tests/gpu-emu/libkbitemu.la
tests_gpu_emu_emu_check_nobarrier_SOURCES =
nodist_EXTRA_tests_gpu_emu_emu_check_nobarrier_SOURCES = tests/gpu-emu/link-with-cxx.cc
tests_gpu_emu_emu_check_nobarrier_LDADD = $(kbit_emu_nb_objs) tests/gpu-emu/libkbitemu.la
tests_gpu_emu_emu_check_nobarrier_LDFLAGS = $(KBIT_EMU_SANFLAGS) -pthread
tests_gpu_emu_emu_check_nobarrier_DEPENDENCIES = $(kbit_emu_nb_objs) tests/gpu-emu/libkbitemu.la
endif

AM_TESTS_ENVIRONMENT += KBIT_EMU_WHY='$(KBIT_EMU_WHY)'; export KBIT_EMU_WHY;

clean-local: kbit-clean-gpu-emu
kbit-clean-gpu-emu:
	-rm -rf tests/gpu-emu/kernels $(kbit_emu_nb)
.PHONY: kbit-clean-gpu-emu
