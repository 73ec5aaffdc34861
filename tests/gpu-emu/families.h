/* tests/gpu-emu/families.h - the families the emulation test runs, one
 * entry each: KBIT_EMU_FAMILY(name) runs kbit_emu_family_<name>(), defined
 * in tests/gpu-emu/cases-<name>.cc (add that file to kbit_emu_cases in
 * tests/gpu-emu/local.mk). Only families whose CUDA wrappers exist
 * (backends/cuda/<family>.cu) belong here. */
KBIT_EMU_FAMILY(quant4)
KBIT_EMU_FAMILY(quant8)
KBIT_EMU_FAMILY(sums)
KBIT_EMU_FAMILY(gemm4)
KBIT_EMU_FAMILY(int8)
KBIT_EMU_FAMILY(optim)
