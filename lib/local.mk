# lib/: the core, in three layers: runtime/ (registry, plugins, devices,
# errors, argument checks), ops/ (the host side of each op family) and
# checkpoint/ (safetensors, the bitsandbytes format, conversion).
# libkbit_core.la holds every object of the library (core and built-in CPU
# driver) so that tests can link internal functions; libkbit.la is the
# installed shared library built from it.
noinst_LTLIBRARIES += libkbit_core.la
libkbit_core_la_SOURCES = \
	lib/runtime/version.c lib/runtime/error.c lib/runtime/error.h \
	lib/runtime/dtype.c \
	lib/runtime/plugin.c lib/runtime/registry.c lib/runtime/registry.h \
	lib/runtime/device.c lib/runtime/device.h \
	lib/runtime/binding.c lib/runtime/exec.h lib/runtime/families.c \
	lib/runtime/check.c lib/runtime/check.h \
	lib/runtime/threads.c lib/runtime/threads.h
libkbit_core_la_SOURCES += \
	lib/ops/maps.c lib/ops/maps.h \
	lib/ops/quant4.c lib/ops/quant8.c lib/ops/state.h \
	lib/ops/optim.c lib/ops/optim.h lib/ops/optim_config.c lib/ops/optim_state.c \
	lib/ops/int8.c \
	lib/ops/gemm4.c
libkbit_core_la_SOURCES += \
	lib/checkpoint/limits.c lib/checkpoint/limits.h \
	lib/checkpoint/files.c lib/checkpoint/files.h \
	lib/checkpoint/safetensors.c lib/checkpoint/safetensors.h \
	lib/checkpoint/pyjson.c lib/checkpoint/pyjson.h \
	lib/checkpoint/jsonload.c lib/checkpoint/jsonload.h \
	lib/checkpoint/stwrite.c lib/checkpoint/stwrite.h \
	lib/checkpoint/bnb.c lib/checkpoint/bnb.h \
	lib/checkpoint/checkpoint.c lib/checkpoint/checkpoint.h \
	lib/checkpoint/convert.c lib/checkpoint/convert.h lib/checkpoint/ckwriter.c \
	lib/checkpoint/diffusers.c lib/checkpoint/diffusers.h lib/checkpoint/pipeline.c
libkbit_core_la_SOURCES += $(KBIT_NUMERICS_HDRS)
# The core includes its own headers by layer ("runtime/check.h").
libkbit_core_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
libkbit_core_la_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS) $(JANSSON_CFLAGS)
libkbit_core_la_LIBADD = $(JANSSON_LIBS) $(PTHREAD_LIBS)

lib_LTLIBRARIES += libkbit.la
libkbit_la_SOURCES =
libkbit_la_LIBADD = libkbit_core.la
libkbit_la_LDFLAGS = -version-info $(KBIT_LT_VERSION) -no-undefined $(OPENMP_CFLAGS)

include_HEADERS += include/kbit.h include/kbit-driver.h include/kbit-formats.h
