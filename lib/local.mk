# lib/: the core. libkbit_core.la holds every object of the library (core and
# built-in CPU driver) so that tests can link internal functions; libkbit.la
# is the installed shared library built from it.
noinst_LTLIBRARIES += libkbit_core.la
libkbit_core_la_SOURCES = \
	lib/version.c lib/error.c lib/error.h \
	lib/dtype.c \
	lib/plugin.c lib/registry.c lib/registry.h \
	lib/device.c lib/device.h \
	lib/check.c lib/check.h \
	lib/maps.c lib/maps.h \
	lib/pairsum.c lib/pairsum.h \
	lib/quant4.c lib/quant8.c \
	lib/optim.c lib/optim.h lib/optim_config.c lib/optim_state.c \
	lib/int8.c \
	lib/gemm4.c lib/state.h \
	lib/safetensors.c lib/safetensors.h \
	lib/pyjson.c lib/pyjson.h lib/stwrite.c lib/stwrite.h \
	lib/bnb.c lib/bnb.h lib/checkpoint.c lib/checkpoint.h lib/convert.c lib/ckwriter.c
libkbit_core_la_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS) $(JANSSON_CFLAGS)
libkbit_core_la_LIBADD = $(JANSSON_LIBS) $(PTHREAD_LIBS)

lib_LTLIBRARIES += libkbit.la
libkbit_la_SOURCES =
libkbit_la_LIBADD = libkbit_core.la
libkbit_la_LDFLAGS = -version-info $(KBIT_LT_VERSION) -no-undefined $(OPENMP_CFLAGS)

include_HEADERS += include/kbit.h include/kbit-driver.h include/kbit-formats.h
