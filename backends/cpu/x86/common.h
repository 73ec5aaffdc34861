/* backends/cpu/x86/common.h - small macros shared by the x86 SIMD variants. */
#ifndef KBIT_CPU_X86_COMMON_H
#define KBIT_CPU_X86_COMMON_H

#include <immintrin.h>

#include "kbit-driver.h"

/* Helpers are forced inline so that a kernel written once for a dtype
 * argument is specialised when called with a constant one. */
#define KBIT_INLINE static inline __attribute__((always_inline))

/* Streams are prefetched this far ahead: the hardware prefetchers alone
 * leave a single thread well short of the memory bandwidth (measured). A
 * prefetch never faults, so running past the end of a buffer is harmless. */
#define KBIT_PREFETCH_BYTES 2048

KBIT_INLINE void kbit_cpu_prefetch(const void *p, int64_t byte_offset)
{
    _mm_prefetch((const char *)p + byte_offset + KBIT_PREFETCH_BYTES, _MM_HINT_T0);
}

/* Run body(dtype) with dtype a compile-time constant (F32, F16 or BF16). */
#define KBIT_DTYPE_SWITCH(dtype, body)        \
    do {                                      \
        switch (dtype) {                      \
        case KBIT_F32: body(KBIT_F32); break; \
        case KBIT_F16: body(KBIT_F16); break; \
        default: body(KBIT_BF16); break;      \
        }                                     \
    } while (0)

/* One dtype switch of the dequantize loop: BLOCK(stream, DT, b) for every
 * block b of [begin, end), with stream and DT compile-time constants. */
#define KBIT_DEQUANT_CASES_(BLOCK, stream, dtype, begin, end)                           \
    switch (dtype) {                                                                   \
    case KBIT_F32: for (int64_t b_ = (begin); b_ < (end); b_++) BLOCK(stream, KBIT_F32, b_); break; \
    case KBIT_F16: for (int64_t b_ = (begin); b_ < (end); b_++) BLOCK(stream, KBIT_F16, b_); break; \
    default: for (int64_t b_ = (begin); b_ < (end); b_++) BLOCK(stream, KBIT_BF16, b_); break;     \
    }

/* The block loop of every dequantize kernel: outputs large enough to bypass
 * the cache (kbit_cpu_stream_output) are written with non-temporal stores,
 * fenced before the kernel returns so they are ordered before whatever
 * follows. BLOCK(stream, DT, b) dequantizes block b. */
#define KBIT_DEQUANT_LOOP(op, begin, end, BLOCK)                                          \
    do {                                                                                 \
        int64_t out_bytes_ = (op)->n * ((op)->out_dtype == KBIT_F32 ? 4 : 2);            \
        if (kbit_cpu_stream_output((op)->out, out_bytes_)) {                             \
            KBIT_DEQUANT_CASES_(BLOCK, 1, (op)->out_dtype, begin, end)                   \
            _mm_sfence();                                                                \
        } else {                                                                         \
            KBIT_DEQUANT_CASES_(BLOCK, 0, (op)->out_dtype, begin, end)                   \
        }                                                                                \
    } while (0)

#endif /* KBIT_CPU_X86_COMMON_H */
