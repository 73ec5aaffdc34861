# numerics/: the one home of the element rules every backend shares
# (fp16/bf16 conversions, the 4-bit and 8-bit encoders and decoders, dot32,
# pairsum, the LLM.int8() element rules, the optimizer updates and scales).
# Header-only, and each header compiles as C11, as CUDA/HIP device code and
# as OpenCL C 1.2 (tests/test-numerics-compile.sh and
# tests/test_numerics_opencl.c check all three); see numerics/platform.h and
# doc/numerics.md.
KBIT_NUMERICS_HDRS = \
	numerics/numerics.h \
	numerics/platform.h \
	numerics/tables.h \
	numerics/half.h \
	numerics/dtype.h \
	numerics/encode.h \
	numerics/dot32.h \
	numerics/pairsum.h \
	numerics/int8.h \
	numerics/optim.h \
	numerics/optim_scales.h

# Installed for drivers built outside the tree: $(includedir)/kbit/numerics/,
# found as "numerics/..." through `pkg-config --cflags kbit`.
kbitnumericsdir = $(pkgincludedir)/numerics
kbitnumerics_HEADERS = $(KBIT_NUMERICS_HDRS)
