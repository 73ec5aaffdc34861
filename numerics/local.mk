# numerics/: the one home of the element-level rules every backend shares
# (fp16/bf16 conversions, the 4-bit and 8-bit encoders and decoders, dot32,
# the LLM.int8() element rules). Header-only; see doc/numerics.md.
KBIT_NUMERICS_HDRS = \
	numerics/half.h \
	numerics/encode.h \
	numerics/dot32.h \
	numerics/int8.h \
	numerics/optim_scales.h \
	numerics/pairsum.h \
	numerics/platform.h
