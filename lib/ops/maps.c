/* lib/ops/maps.c - the dynamic 8-bit maps and the 4-bit quant_map tables.
 * The dynamic maps are generated once by the specification's recipe (a
 * scalar emulation of torch.linspace without FMA, doc/numerics.md 2.2) and checked
 * against the normative bit patterns (doc/numerics.md 2.3); should a compiler ever
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

/* ------------------------------------------------------------------ */
/* Tables on a device                                                    */

kbit_map_id kbit_map_identify(const float code[256])
{
    pthread_once(&maps_once, build_maps);
    if (memcmp(code, signed_map, sizeof signed_map) == 0)
        return KBIT_MAP_ID_SIGNED;
    if (memcmp(code, unsigned_map, sizeof unsigned_map) == 0)
        return KBIT_MAP_ID_UNSIGNED;
    return KBIT_MAP_ID_CUSTOM;
}

static void table_of(const float code[256], float table[KBIT_MAP_TABLE_FLOATS])
{
    memcpy(table, code, 256 * sizeof(float));
    kbit_map_midpoints(code, table + 256);
}

kbit_status kbit_device_map_table(kbit_call *c, kbit_map_kind kind, const float **table)
{
    kbit_device *dev = c->dev;
    int k = kind == KBIT_MAP_UNSIGNED;
    pthread_mutex_lock(&dev->lock);
    kbit_status st = KBIT_OK;
    if (dev->maps[k] == NULL) {
        float host[KBIT_MAP_TABLE_FLOATS];
        table_of(kbit_dynamic_map(kind), host);
        void *p = NULL;
        st = kbit_device_alloc(dev, KBIT_MAP_TABLE_BYTES, KBIT_MEM_DEVICE, &p, c->fn);
        if (st == KBIT_OK)
            st = kbit_call_upload(c, p, host, KBIT_MAP_TABLE_BYTES);
        if (st == KBIT_OK) /* other threads' streams use it as soon as it is published */
            st = kbit_call_result(c, dev->driver->sync(dev->ctx, c->ex.stream));
        if (st == KBIT_OK)
            dev->maps[k] = p;
        else
            kbit_device_free(dev, p);
    }
    *table = dev->maps[k];
    pthread_mutex_unlock(&dev->lock);
    return st;
}

kbit_status kbit_call_map_table(kbit_call *c, const float code[256], const float **table,
                                kbit_map_id *id)
{
    *id = kbit_map_identify(code);
    if (*id != KBIT_MAP_ID_CUSTOM)
        return kbit_device_map_table(c, *id == KBIT_MAP_ID_SIGNED ? KBIT_MAP_SIGNED
                                                                  : KBIT_MAP_UNSIGNED, table);
    float host[KBIT_MAP_TABLE_FLOATS];
    table_of(code, host);
    float *dst = NULL;
    kbit_status st = kbit_call_take(c, KBIT_MAP_TABLE_BYTES, &dst);
    if (st == KBIT_OK)
        st = kbit_call_upload(c, dst, host, KBIT_MAP_TABLE_BYTES);
    *table = dst;
    return st;
}

void kbit_maps_release(kbit_device *dev)
{
    for (int k = 0; k < 2; k++) {
        kbit_device_free(dev, dev->maps[k]);
        dev->maps[k] = NULL;
    }
}
