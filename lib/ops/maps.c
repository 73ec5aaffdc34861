/* lib/ops/maps.c - the dynamic 8-bit maps and the 4-bit quant_map tables.
 * The dynamic maps are generated once by the specification's recipe (a
 * scalar emulation of torch.linspace without FMA, numerics.md 2.2) and checked
 * against the normative bit patterns (numerics.md 2.3); should a compiler ever
 * break the recipe, the normative table is used and kbit_maps_recipe_matches()
 * reports it. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kbit-formats.h"
#include "ops/maps.h"

static const uint32_t signed_bits[256] = { KBIT_DYNAMIC_SIGNED_BITS_INIT };
static const uint32_t unsigned_bits[256] = { KBIT_DYNAMIC_UNSIGNED_BITS_INIT };
static const uint32_t nf4_bits[16] = { KBIT_NF4_BITS_INIT };
static const uint32_t fp4_magnitude_bits[8] = { KBIT_FP4_MAGNITUDE_BITS_INIT };

static float signed_map[256], unsigned_map[256];
static float nf4_quant_map[16], fp4_quant_map[16];
static int recipe_ok;
static pthread_once_t maps_once = PTHREAD_ONCE_INIT;

static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* torch.linspace(0.1, 1.0, steps) in float32, as the recipe fixes it. */
static void linspace(int steps, float *out)
{
    const float start = 0.1f, end = 1.0f;
    const float step = (end - start) / (float)(steps - 1);
    const int half = steps / 2;
    for (int i = 0; i < steps; i++)
        out[i] = i < half ? start + step * (float)i : end - step * (float)(steps - 1 - i);
}

static int ascending(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void kbit_map_generate(int is_signed, float out[256])
{
    static const float scale[7] = { 1e-6f, 1e-5f, 1e-4f, 1e-3f, 1e-2f, 1e-1f, 1.0f };
    float bounds[130];
    int count = 0;
    for (int i = 0; i < 7; i++) {
        int intervals = is_signed ? 1 << i : 1 << (i + 1);
        linspace(intervals + 1, bounds);
        for (int k = 0; k < intervals; k++) {
            float mean = (bounds[k] + bounds[k + 1]) / 2.0f;
            float value = scale[i] * mean;
            out[count++] = value;
            if (is_signed)
                out[count++] = -value;
        }
    }
    out[count++] = 0.0f;
    out[count++] = 1.0f;
    qsort(out, 256, sizeof out[0], ascending);
}

void kbit_map_midpoints(const float code[256], float mid[255])
{
    for (int i = 0; i < 255; i++)
        mid[i] = (code[i] + code[i + 1]) * 0.5f;
}

static int equals_bits(const float *map, const uint32_t *bits)
{
    for (int i = 0; i < 256; i++) {
        uint32_t b;
        memcpy(&b, &map[i], sizeof b);
        if (b != bits[i])
            return 0;
    }
    return 1;
}

static void build_maps(void)
{
    kbit_map_generate(1, signed_map);
    kbit_map_generate(0, unsigned_map);
    recipe_ok = equals_bits(signed_map, signed_bits) && equals_bits(unsigned_map, unsigned_bits);
    if (!recipe_ok) {
        for (int i = 0; i < 256; i++) {
            signed_map[i] = from_bits(signed_bits[i]);
            unsigned_map[i] = from_bits(unsigned_bits[i]);
        }
    }
    for (int q = 0; q < 16; q++) {
        nf4_quant_map[q] = from_bits(nf4_bits[q]);
        /* bitsandbytes' quant_map tensor holds +0.0 at FP4 code 8 (numerics 1.2). */
        float m = from_bits(fp4_magnitude_bits[q & 7]);
        fp4_quant_map[q] = (q & 8) && m != 0.0f ? -m : m;
    }
}

int kbit_maps_recipe_matches(void)
{
    pthread_once(&maps_once, build_maps);
    return recipe_ok;
}

KBIT_API const float *kbit_dynamic_map(kbit_map_kind kind)
{
    pthread_once(&maps_once, build_maps);
    switch (kind) {
    case KBIT_MAP_SIGNED: return signed_map;
    case KBIT_MAP_UNSIGNED: return unsigned_map;
    }
    return NULL;
}

KBIT_API const float *kbit_4bit_quant_map(kbit_quant_type type)
{
    pthread_once(&maps_once, build_maps);
    switch (type) {
    case KBIT_NF4: return nf4_quant_map;
    case KBIT_FP4: return fp4_quant_map;
    }
    return NULL;
}
