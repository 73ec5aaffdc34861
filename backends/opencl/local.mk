# backends/opencl: the OpenCL driver plugin kbit-opencl.so, a libtool module
# in C linked only with the ICD loader (libOpenCL of ocl-icd), installed in
# $(pkglibdir) and dlopened by the core. Built when configure found the
# OpenCL headers and the loader (KBIT_OPENCL).
#
# The kernels are one OpenCL program: backends/opencl/kernels.cl with the
# headers of backends/gpu and numerics/ inlined by embed.sh into a C string
# (backends/opencl/program.c, generated here), built by the driver once per
# device context with the options of backends/opencl/program.h.

kbit_opencl_sources = \
	backends/opencl/cl.h \
	backends/opencl/handles.h \
	backends/opencl/program.h \
	backends/opencl/errors.c \
	backends/opencl/devices.c \
	backends/opencl/memory.c \
	backends/opencl/launch.h \
	backends/opencl/ops.c \
	backends/opencl/gemm4.c \
	backends/opencl/int8.c \
	backends/opencl/optim.c \
	backends/opencl/driver.c
# Everything the program string is made of.
kbit_opencl_program_inputs = backends/opencl/kernels.cl $(KBIT_GPU_HDRS) \
	$(KBIT_NUMERICS_HDRS) include/kbit-formats.h

EXTRA_DIST += $(kbit_opencl_sources) backends/opencl/kernels.cl backends/opencl/embed.sh

if KBIT_OPENCL
pkglib_LTLIBRARIES += kbit-opencl.la
kbit_opencl_la_SOURCES = $(kbit_opencl_sources)
nodist_kbit_opencl_la_SOURCES = backends/opencl/program.c
kbit_opencl_la_CPPFLAGS = $(AM_CPPFLAGS)
kbit_opencl_la_LDFLAGS = -module -avoid-version -shared -no-undefined -Wl,--no-undefined \
	-export-symbols-regex '^kbit_driver_entry$$'
kbit_opencl_la_LIBADD = $(OPENCL_LIBS) $(PTHREAD_LIBS)

backends/opencl/program.c: $(top_srcdir)/backends/opencl/embed.sh \
		$(kbit_opencl_program_inputs:%=$(top_srcdir)/%)
	$(AM_V_GEN)$(MKDIR_P) backends/opencl && \
	  $(SHELL) $(top_srcdir)/backends/opencl/embed.sh $(abs_top_srcdir) \
	    $(abs_top_srcdir)/backends/opencl/kernels.cl $@
CLEANFILES += backends/opencl/program.c
endif
