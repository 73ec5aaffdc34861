# backends/gpu/: the device-neutral kernel layer (headers only): the
# per-runtime macros (defs.h), the work split (split.h), the element rules the
# bodies use (numerics/) and one header of kernel bodies per family. Compiled
# into the OpenCL program (backends/opencl), and by nvcc/hipcc through the
# thin wrappers of backends/cuda.
KBIT_GPU_HDRS = \
	backends/gpu/defs.h \
	backends/gpu/split.h \
	backends/gpu/blockwise.h \
	backends/gpu/quant4.h \
	backends/gpu/quant8.h \
	backends/gpu/sums.h \
	backends/gpu/gemm4.h \
	backends/gpu/int8.h \
	backends/gpu/int8_dot.h \
	backends/gpu/optim.h
EXTRA_DIST += $(KBIT_GPU_HDRS) backends/gpu/README.md
