/* lib/runtime/families.c - the op families and the driver slots each needs.
 * A driver that claims a family must fill all of its slots; the registry
 * drops a family with a missing slot (kbit info says which). */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "runtime/registry.h"

#define SLOT(name) offsetof(kbit_driver, name), #name
#define END 0, NULL

typedef struct family_slots {
    kbit_family family;
    const char *name;    /* kbit_family_name */
    const char *title;   /* for messages */
    struct { size_t offset; const char *slot; } slots[8];
} family_slots;

/* The nested absmax of QUANT4 needs the 8-bit ops and the canonical sum;
 * GEMM4 reconstructs a nested absmax with dequantize_8bit. */
static const family_slots families[] = {
    { KBIT_FAMILY_QUANT4, "quant4", "4-bit quantization",
      { { SLOT(quantize_4bit) }, { SLOT(dequantize_4bit) }, { SLOT(quantize_8bit) },
        { SLOT(dequantize_8bit) }, { SLOT(block_sums) }, { SLOT(pairsum) }, { END } } },
    { KBIT_FAMILY_QUANT8, "quant8", "8-bit blockwise quantization",
      { { SLOT(quantize_8bit) }, { SLOT(dequantize_8bit) }, { END } } },
    { KBIT_FAMILY_GEMM4, "gemm4", "the 4-bit matmul",
      { { SLOT(gemm_4bit) }, { SLOT(gemm_4bit_backward) }, { SLOT(dequantize_8bit) }, { END } } },
    { KBIT_FAMILY_INT8, "int8", "LLM.int8()",
      { { SLOT(int8_quant) }, { SLOT(int8_matmul) }, { SLOT(int8_mm_dequant) },
        { SLOT(int8_outlier_add) }, { SLOT(int8_dequant_weight) }, { SLOT(int8_backward) },
        { END } } },
    { KBIT_FAMILY_OPTIM, "optim", "the optimizers",
      { { SLOT(optimizer_step) }, { SLOT(optimizer_sums) }, { SLOT(optimizer_scales) },
        { SLOT(pairsum) }, { END } } },
};
#define FAMILY_COUNT (sizeof families / sizeof families[0])

static const family_slots *find(kbit_family family)
{
    for (size_t i = 0; i < FAMILY_COUNT; i++)
        if (families[i].family == family)
            return &families[i];
    return NULL;
}

uint32_t kbit_families_complete(const kbit_driver *table, uint32_t claimed, char *reason,
                                size_t reason_len)
{
    uint32_t ok = 0;
    reason[0] = '\0';
    for (size_t i = 0; i < FAMILY_COUNT; i++) {
        const family_slots *f = &families[i];
        if (!(claimed & f->family))
            continue;
        const char *missing = NULL;
        for (int s = 0; f->slots[s].slot != NULL && missing == NULL; s++) {
            const void *fn;
            memcpy(&fn, (const char *)table + f->slots[s].offset, sizeof fn);
            if (fn == NULL)
                missing = f->slots[s].slot;
        }
        if (missing == NULL)
            ok |= f->family;
        else if (reason[0] == '\0')
            snprintf(reason, reason_len, "claims %s but lacks the slot %s", f->name, missing);
    }
    if ((claimed & ~KBIT_FAMILY_ALL) != 0 && reason[0] == '\0')
        snprintf(reason, reason_len, "claims unknown families 0x%x",
                 (unsigned)(claimed & ~KBIT_FAMILY_ALL));
    return ok;
}

void kbit_limits_text(const kbit_family_limits *limits, char *out, size_t len)
{
    out[0] = '\0';
    for (const kbit_family_limits *l = limits; l && l->family != 0; l++) {
        const family_slots *f = find(l->family);
        size_t at = strlen(out);
        snprintf(out + at, len - at, "%s%s:", at ? "; " : "", f ? f->name : "?");
        if (l->dtypes != 0) {
            snprintf(out + strlen(out), len - strlen(out), " dtypes");
            for (int d = 0; d < 8; d++)
                if (l->dtypes & (1u << d))
                    snprintf(out + strlen(out), len - strlen(out), " %s",
                             kbit_dtype_name((kbit_dtype)d));
        }
        if (l->blocksizes != 0) {
            int lo = -1, hi = -1;
            for (int b = 0; b < 32; b++)
                if (l->blocksizes & (1u << b)) {
                    lo = lo < 0 ? b : lo;
                    hi = b;
                }
            snprintf(out + strlen(out), len - strlen(out), "%s blocksizes %ld-%ld",
                     l->dtypes ? "," : "", 1L << lo, 1L << hi);
        }
    }
}

const char *kbit_family_title(kbit_family family)
{
    const family_slots *f = find(family);
    return f ? f->title : "an unknown op family";
}

KBIT_API const char *kbit_family_name(kbit_family family)
{
    const family_slots *f = find(family);
    return f ? f->name : NULL;
}
