/* tests/gpu-emu/ref.h - TEST ONLY: the scalar reference kernels of
 * backends/cpu (compiled as C, linked into the emulation test) that the
 * case files compare with. Declared here because the family headers of
 * backends/cpu are C11 only (_Alignas); these are the same prototypes as
 * backends/cpu/<family>/<family>.h (the linker resolves them by name, so a
 * changed signature there must change here: the case would not compile
 * against the changed op struct otherwise either). */
#ifndef KBIT_EMU_REF_H
#define KBIT_EMU_REF_H

#include "kbit-driver.h"

extern "C" {
void kbit_ref_quantize_4bit(const kbit_op_quantize_4bit *op, int64_t block_begin,
                            int64_t block_end);
void kbit_ref_dequantize_4bit(const kbit_op_dequantize_4bit *op, int64_t block_begin,
                              int64_t block_end);
void kbit_ref_block_sums(const kbit_op_block_sums *op, int64_t block_begin, int64_t block_end);
void kbit_ref_pairsum(const kbit_op_pairsum *op);
void kbit_ref_quantize_8bit(const kbit_op_quantize_8bit *op, int64_t block_begin,
                            int64_t block_end);
void kbit_ref_dequantize_8bit(const kbit_op_dequantize_8bit *op, int64_t block_begin,
                              int64_t block_end);
}

#endif /* KBIT_EMU_REF_H */
