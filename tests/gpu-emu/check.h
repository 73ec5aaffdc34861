/*
 * tests/gpu-emu/check.h - TEST ONLY: what the case files of the emulation
 * test share (tests/gpu-emu/README.md). A case builds one op struct of
 * include/kbit-driver.h, runs it through the scalar reference of
 * backends/cpu (kbit_ref_*) and through the CUDA launcher of backends/cuda
 * (kbit_cuda_*, on CPU threads through emu.h), and compares the outputs
 * byte for byte: emu_run() does the launcher part twice, as launched and
 * with the grid capped to one group (so every group loops over several
 * tiles or elements: any group count must give the same bits).
 */
#ifndef KBIT_EMU_CHECK_H
#define KBIT_EMU_CHECK_H

#include "emu.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kbit-driver.h"
#include "kbit-formats.h"

typedef std::vector<unsigned char> emu_bytes;

/* One TAP line (ok when `ok`), numbered in order. */
void emu_tap(bool ok, const std::string &what);

/* A deterministic pseudo-random sequence (splitmix64). */
struct emu_rng {
    uint64_t s;
    explicit emu_rng(uint64_t seed) : s(seed) {}
    uint64_t next();
    float uniform(float lo, float hi);
};

size_t emu_dtype_size(kbit_dtype dtype);
const char *emu_dtype_name(kbit_dtype dtype); /* f32, f16, bf16 */

/* n values of dtype: mostly ordinary values with a scale per 64 elements
 * (some blocks all zero), and the edge classes: +-0, +-inf, NaN, fp32 and
 * fp16 denormals, the largest finite values, values that round at the
 * dtype's precision. */
emu_bytes emu_input(kbit_dtype dtype, int64_t n, uint64_t seed);

/* One case: `launch` runs the launcher into the `got` buffers, which are
 * pre-filled with 0xa5 first (unwritten bytes show); the reference's bytes
 * are already in `want`. Runs it as launched and, when any_grid, again with
 * the grid capped to one group (pass false for a launch whose buffers are
 * sized by its group count). Returns "" when every run gave want's bytes
 * and reported no launch error, else what differed first (output, byte,
 * grid mode). */
enum emu_elem { EMU_RAW, EMU_F32, EMU_F64, EMU_F16, EMU_BF16 };
struct emu_out {
    std::vector<unsigned char> *got;
    const std::vector<unsigned char> *want;
    /* Floating-point elements: a NaN equals every NaN (doc/determinism.md
     * 1: neither its payload nor its sign is part of the contract); any
     * other value, and EMU_RAW buffers, compare byte for byte. */
    emu_elem elem = EMU_RAW;
};
/* The emu_elem of a buffer of dtype. */
emu_elem emu_elem_of(kbit_dtype dtype);
std::string emu_run(const std::vector<emu_out> &outs, const std::function<gpuError_t()> &launch,
                    bool any_grid = true);

/* Which cases run. By default every op with every blocksize, every map and
 * both centrings, each dtype on a share of the blocksizes (the work split
 * does not depend on the dtype; make check's time is the limit), and sizes
 * that end in a partial block and an odd element over two groups, n = 1 on
 * the smallest blocksize. --full: every dtype x blocksize and n = 1, one
 * block + 1, two groups + 3 for each. --quick: blocksize 256 only, the
 * large size (the run with a removed barrier). */
bool emu_quick();
bool emu_full();

/* Whether the case of dtype number `dtype_index` (0..2) runs with the
 * blocksize number `bs_index` (and variant `salt`) in this mode. */
bool emu_pick_dtype(int dtype_index, int bs_index, int salt);

/* The sizes for blocksize bs: `large` (several groups, odd) always; 1 on
 * blocksize `smallest`; bs + 1 with --full. */
std::vector<int64_t> emu_sizes(int32_t bs, int32_t smallest, int64_t large);

#endif /* KBIT_EMU_CHECK_H */
