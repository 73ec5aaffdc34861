/* lib/ops/optim_state.c - the per-tensor optimizer state: creation (zeroed, as a
 * fresh bitsandbytes optimizer), release, info, save/restore in the layout of
 * doc/formats.md, and loading bitsandbytes' state_dict tensors. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/check.h"
#include "runtime/error.h"
#include "ops/maps.h"
#include "ops/optim.h"

/* ------------------------------------------------------------------ */
/* Layout of a saved state (doc/formats.md, "Optimizer state")          */

static const char save_magic[8] = { 'K', 'B', 'I', 'T', 'O', 'P', 'T', '1' };
#define SAVE_VERSION 2u /* 2: LION's pending update-norm sum at the end; 1 is read */
#define SAVE_HEADER_BYTES 40 /* magic, version, kind, dtype, bits, n, step */
#define SAVE_HISTORY_BYTES (KBIT_OPTIM_HISTORY * sizeof(float))
#define SAVE_MAPS_BYTES (2 * 256 * sizeof(float))

kbit_status kbit_optim_check_state(const kbit_optim_state *state, const kbit_device *device,
                                   const char *fn, const char *arg)
{
    if (state == NULL)
        return kbit_error(KBIT_EINVAL, "%s: %s is NULL", fn, arg);
    if (state->magic != KBIT_OPTIM_STATE_MAGIC)
        return kbit_error(KBIT_EINVAL, "%s: %s is not a live kbit_optim_state", fn, arg);
    if (device != NULL && state->device != device)
        return kbit_error(KBIT_EINVAL, "%s: %s was created on another device", fn, arg);
    return KBIT_OK;
}

/* The device sums of LION's max_unorm (optim.h: norms). */
static size_t norms_bytes(const kbit_optim_state *s)
{
    return s->kind == KBIT_OPTIM_LION ? 2 * sizeof(double) : 0;
}

/* The saved pending update-norm sum (version 2, LION only). */
static size_t save_norms_bytes(const kbit_optim_state *s, uint32_t version)
{
    return version >= 2 && s->kind == KBIT_OPTIM_LION ? sizeof(double) : 0;
}

static void free_buffers(kbit_optim_state *s)
{
    void *bufs[8] = { s->state1, s->state2, s->absmax1, s->absmax2, s->aux, s->table1,
                      s->table2, s->norms };
    for (int i = 0; i < 8; i++)
        kbit_device_free(s->device, bufs[i]);
}

/* Fill device memory with zero bytes, from a small host block of zeros. */
static kbit_status zero_device(kbit_call *c, void *dst, size_t bytes)
{
    static const unsigned char zeros[1 << 16];
    for (size_t off = 0; off < bytes; off += sizeof zeros) {
        size_t len = bytes - off < sizeof zeros ? bytes - off : sizeof zeros;
        kbit_status st = kbit_call_upload(c, (char *)dst + off, zeros, len);
        if (st != KBIT_OK)
            return st;
    }
    return KBIT_OK;
}

/* Install the maps of an 8-bit state: which map each is, and a device table
 * (code then midpoints) for one that is not normative. */
static kbit_status set_map(kbit_call *c, kbit_optim_state *s, int which, const float *map)
{
    float *qmap = which == 1 ? s->qmap1 : s->qmap2;
    float **table = which == 1 ? &s->table1 : &s->table2;
    kbit_map_id *id = which == 1 ? &s->map1_id : &s->map2_id;
    memcpy(qmap, map, 256 * sizeof(float));
    *id = kbit_map_identify(map);
    if (*id != KBIT_MAP_ID_CUSTOM)
        return KBIT_OK; /* the device's table; a custom table already there stays unused */
    kbit_status st = KBIT_OK;
    if (*table == NULL)
        st = kbit_device_alloc(s->device, KBIT_MAP_TABLE_BYTES, KBIT_MEM_DEVICE, (void **)table,
                               c->fn);
    if (st != KBIT_OK)
        return st;
    float host[KBIT_MAP_TABLE_FLOATS];
    memcpy(host, map, 256 * sizeof(float));
    kbit_map_midpoints(map, host + 256);
    return kbit_call_upload(c, *table, host, KBIT_MAP_TABLE_BYTES);
}

/* A custom table may stay allocated after a normative map replaced it;
 * the op must then not see it. */
static void drop_unused_tables(kbit_optim_state *s)
{
    if (s->map1_id != KBIT_MAP_ID_CUSTOM && s->table1 != NULL) {
        kbit_device_free(s->device, s->table1);
        s->table1 = NULL;
    }
    if (s->map2_id != KBIT_MAP_ID_CUSTOM && s->table2 != NULL) {
        kbit_device_free(s->device, s->table2);
        s->table2 = NULL;
    }
}

KBIT_API kbit_status kbit_optim_state_create(kbit_device *device, const kbit_optim_config *config,
                                             int64_t n, kbit_dtype param_dtype,
                                             kbit_optim_state **state)
{
    static const char fn[] = "kbit_optim_state_create";
    kbit_clear_error();
    kbit_status st;
    if ((st = kbit_check_device(device, fn)) != KBIT_OK ||
        (st = kbit_optim_check_config(config, fn)) != KBIT_OK ||
        (st = kbit_check_float_dtype(param_dtype, fn, "param_dtype")) != KBIT_OK ||
        (st = kbit_check_count(n, 8, fn, "n")) != KBIT_OK ||
        (st = kbit_check_family(device, KBIT_FAMILY_OPTIM, fn)) != KBIT_OK ||
        (st = kbit_check_limits(device, KBIT_FAMILY_OPTIM, param_dtype, 0, fn)) != KBIT_OK)
        return st;
    if (state == NULL)
        return kbit_error(KBIT_EINVAL, "%s: state is NULL", fn);
    kbit_mem_kind kind = config->paged ? KBIT_MEM_MANAGED : KBIT_MEM_DEVICE;
    if (kind == KBIT_MEM_MANAGED && !(device->driver->mem_kinds & KBIT_MEM_KIND_BIT(kind)))
        return kbit_error(KBIT_ENOTSUP, "%s: config->paged needs managed memory, which driver "
                          "'%s' does not have", fn, device->driver->name);

    kbit_optim_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return kbit_error(KBIT_ENOMEM, "%s: out of host memory", fn);
    s->magic = KBIT_OPTIM_STATE_MAGIC;
    s->device = device;
    s->kind = config->kind;
    s->param_dtype = param_dtype;
    s->n = n;
    s->mem_kind = kind;
    s->state_bits = config->state_bits == 8 && n >= config->min_8bit_size ? 8 : 32;

    int two = kbit_optim_two_state(s->kind);
    size_t copies = s->kind == KBIT_OPTIM_ADEMAMIX ? 2 : 1; /* AdEMAMix: m1 and m2 */
    size_t elem = s->state_bits == 8 ? 1 : sizeof(float);
    size_t nblocks = s->state_bits == 8 ? (size_t)kbit_nblocks(n, KBIT_OPTIM_BLOCK) : 0;
    s->state1_bytes = copies * (size_t)n * elem;
    s->state2_bytes = two ? (size_t)n * elem : 0;
    s->absmax1_bytes = copies * nblocks * sizeof(float);
    s->absmax2_bytes = two ? nblocks * sizeof(float) : 0;

    kbit_call c;
    st = kbit_call_begin(&c, device, 0, 0, fn);
    void **bufs[6] = { &s->state1, &s->state2, (void **)&s->absmax1, (void **)&s->absmax2,
                       (void **)&s->aux, (void **)&s->norms };
    size_t sizes[6] = { s->state1_bytes, s->state2_bytes, s->absmax1_bytes, s->absmax2_bytes,
                        KBIT_OPTIM_AUX_FLOATS * sizeof(float), norms_bytes(s) };
    for (int i = 0; i < 6 && st == KBIT_OK; i++) {
        if (sizes[i] == 0 && i == 5)
            continue;
        st = kbit_device_alloc(device, sizes[i], i < 4 ? kind : KBIT_MEM_DEVICE, bufs[i], fn);
        if (st == KBIT_OK)
            st = zero_device(&c, *bufs[i], sizes[i]);
    }
    if (st == KBIT_OK)
        st = set_map(&c, s, 1, kbit_dynamic_map(KBIT_MAP_SIGNED));
    if (st == KBIT_OK)
        st = set_map(&c, s, 2, kbit_dynamic_map(KBIT_MAP_UNSIGNED));
    if (st != KBIT_OK) {
        free_buffers(s);
        free(s);
        return kbit_error(st, "%s: cannot set up the state on the device (%s)", fn,
                          kbit_error_is_set() ? kbit_last_error() : kbit_strerror(st));
    }
    *state = s;
    return KBIT_OK;
}

KBIT_API void kbit_optim_state_release(kbit_optim_state *state)
{
    if (state == NULL || state->magic != KBIT_OPTIM_STATE_MAGIC)
        return;
    /* Steps still running use the buffers: wait for this thread's stream. */
    (void)kbit_sync(state->device);
    free_buffers(state);
    state->magic = 0;
    free(state);
}

KBIT_API kbit_status kbit_optim_state_get_info(const kbit_optim_state *state,
                                               kbit_optim_state_info *info)
{
    static const char fn[] = "kbit_optim_state_get_info";
    kbit_clear_error();
    kbit_status st = kbit_optim_check_state(state, NULL, fn, "state");
    if (st != KBIT_OK)
        return st;
    if (info == NULL)
        return kbit_error(KBIT_EINVAL, "%s: info is NULL", fn);
    float scales[KBIT_OPTSCALE_COUNT] = { 1.0f, 1.0f, 1.0f, 0.0f, 0.0f };
    if (state->last_on_device) { /* the one wait: values handed to the host */
        kbit_call c;
        if ((st = kbit_call_begin(&c, state->device, 0, 0, fn)) != KBIT_OK ||
            (st = kbit_call_download(&c, scales, state->aux + KBIT_OPTIM_HISTORY,
                                     sizeof scales)) != KBIT_OK)
            return st;
    }
    memset(info, 0, sizeof *info);
    info->kind = state->kind;
    info->param_dtype = state->param_dtype;
    info->state_bits = state->state_bits;
    info->n = state->n;
    info->step = state->step;
    info->device_bytes = state->state1_bytes + state->state2_bytes + state->absmax1_bytes +
                         state->absmax2_bytes + KBIT_OPTIM_AUX_FLOATS * sizeof(float) +
                         norms_bytes(state);
    info->gnorm_scale = scales[KBIT_OPTSCALE_CLIP];
    info->param_norm = scales[KBIT_OPTSCALE_PNORM];
    info->unorm = scales[KBIT_OPTSCALE_UNORM];
    if (state->norms_last) { /* LION: the sum this step left for the next (numerics 6.4) */
        double pending = 0.0;
        kbit_call c;
        if ((st = kbit_call_begin(&c, state->device, 0, 0, fn)) != KBIT_OK ||
            (st = kbit_call_download(&c, &pending, &state->norms[1], sizeof pending)) != KBIT_OK)
            return st;
        info->unorm = (float)pending;
    }
    info->update_scale = scales[KBIT_OPTSCALE_UPDATE];
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Save / restore                                                       */

static size_t save_size_v(const kbit_optim_state *s, uint32_t version)
{
    return SAVE_HEADER_BYTES + SAVE_HISTORY_BYTES + (s->state_bits == 8 ? SAVE_MAPS_BYTES : 0) +
           s->state1_bytes + s->state2_bytes + s->absmax1_bytes + s->absmax2_bytes +
           save_norms_bytes(s, version);
}

static size_t save_size(const kbit_optim_state *s)
{
    return save_size_v(s, SAVE_VERSION);
}

KBIT_API kbit_status kbit_optim_state_save_size(const kbit_optim_state *state, size_t *bytes)
{
    static const char fn[] = "kbit_optim_state_save_size";
    kbit_clear_error();
    kbit_status st = kbit_optim_check_state(state, NULL, fn, "state");
    if (st != KBIT_OK)
        return st;
    if (bytes == NULL)
        return kbit_error(KBIT_EINVAL, "%s: bytes is NULL", fn);
    *bytes = save_size(state);
    return KBIT_OK;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_i64(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

/* The device buffers in save order, with their sizes. */
static void device_parts(const kbit_optim_state *s, void *ptr[4], size_t size[4])
{
    ptr[0] = s->state1, ptr[1] = s->state2, ptr[2] = s->absmax1, ptr[3] = s->absmax2;
    size[0] = s->state1_bytes, size[1] = s->state2_bytes;
    size[2] = s->absmax1_bytes, size[3] = s->absmax2_bytes;
}

KBIT_API kbit_status kbit_optim_state_save(const kbit_optim_state *state, void *buffer,
                                           size_t bytes)
{
    static const char fn[] = "kbit_optim_state_save";
    kbit_clear_error();
    kbit_status st = kbit_optim_check_state(state, NULL, fn, "state");
    if (st != KBIT_OK)
        return st;
    if (buffer == NULL)
        return kbit_error(KBIT_EINVAL, "%s: buffer is NULL", fn);
    size_t need = save_size(state);
    if (bytes < need)
        return kbit_error(KBIT_EINVAL, "%s: buffer has %zu bytes, the state needs %zu", fn,
                          bytes, need);
    unsigned char *p = buffer;
    memcpy(p, save_magic, 8);
    put_u32(p + 8, SAVE_VERSION);
    put_u32(p + 12, (uint32_t)state->kind);
    put_u32(p + 16, (uint32_t)state->param_dtype);
    put_u32(p + 20, (uint32_t)state->state_bits);
    put_i64(p + 24, state->n);
    put_i64(p + 32, state->step);
    p += SAVE_HEADER_BYTES;
    kbit_call c;
    if ((st = kbit_call_begin(&c, state->device, 0, 0, fn)) != KBIT_OK ||
        (st = kbit_call_download(&c, p, state->aux, SAVE_HISTORY_BYTES)) != KBIT_OK)
        return st;
    p += SAVE_HISTORY_BYTES;
    if (state->state_bits == 8) {
        memcpy(p, state->qmap1, sizeof state->qmap1);
        memcpy(p + sizeof state->qmap1, state->qmap2, sizeof state->qmap2);
        p += SAVE_MAPS_BYTES;
    }
    void *ptr[4];
    size_t size[4];
    device_parts(state, ptr, size);
    for (int i = 0; i < 4; i++) {
        if (size[i] > 0 && (st = kbit_call_download(&c, p, ptr[i], size[i])) != KBIT_OK)
            return st;
        p += size[i];
    }
    if (save_norms_bytes(state, SAVE_VERSION) > 0) { /* f64, little-endian */
        double pending = 0.0;
        if ((st = kbit_call_download(&c, &pending, &state->norms[1], sizeof pending)) != KBIT_OK)
            return st;
        uint64_t bits;
        memcpy(&bits, &pending, sizeof bits);
        put_i64(p, (int64_t)bits);
    }
    return KBIT_OK;
}

/* Install checked maps and history, then copy the device parts from host
 * arrays (NULL part: zeros). Only called after every check passed. */
static kbit_status install(kbit_optim_state *s, int64_t step, const float *qmap1,
                           const float *qmap2, const float *history, const void *parts[4],
                           double pending, const char *fn)
{
    void *ptr[4];
    size_t size[4];
    device_parts(s, ptr, size);
    kbit_call c;
    kbit_status st = kbit_call_begin(&c, s->device, 0, 0, fn);
    for (int i = 0; i < 4 && st == KBIT_OK; i++) {
        if (size[i] == 0)
            continue;
        st = parts[i] ? kbit_call_upload(&c, ptr[i], parts[i], size[i])
                      : zero_device(&c, ptr[i], size[i]);
    }
    if (st == KBIT_OK && qmap1)
        st = set_map(&c, s, 1, qmap1);
    if (st == KBIT_OK && qmap2)
        st = set_map(&c, s, 2, qmap2);
    if (st == KBIT_OK)
        st = history ? kbit_call_upload(&c, s->aux, history, SAVE_HISTORY_BYTES)
                     : zero_device(&c, s->aux, SAVE_HISTORY_BYTES);
    if (st == KBIT_OK && s->norms != NULL) { /* LION: the update norm the next step uses */
        double norms[2] = { 0.0, pending };
        st = kbit_call_upload(&c, s->norms, norms, sizeof norms);
    }
    if (st != KBIT_OK)
        return st;
    drop_unused_tables(s);
    s->step = step;
    s->last_on_device = 0;
    return KBIT_OK;
}

static kbit_status expect_field(const char *fn, const char *field, int64_t got, int64_t want)
{
    if (got == want)
        return KBIT_OK;
    return kbit_error(KBIT_EFORMAT, "%s: saved %s is %lld, the state has %lld", fn, field,
                      (long long)got, (long long)want);
}

KBIT_API kbit_status kbit_optim_state_restore(kbit_optim_state *state, const void *buffer,
                                              size_t bytes)
{
    static const char fn[] = "kbit_optim_state_restore";
    kbit_clear_error();
    kbit_status st = kbit_optim_check_state(state, NULL, fn, "state");
    if (st != KBIT_OK)
        return st;
    if (buffer == NULL)
        return kbit_error(KBIT_EINVAL, "%s: buffer is NULL", fn);
    const unsigned char *p = buffer;
    if (bytes < SAVE_HEADER_BYTES || memcmp(p, save_magic, 8) != 0)
        return kbit_error(KBIT_EFORMAT, "%s: buffer is not a saved kbit optimizer state", fn);
    /* version 1 (before LION's pending sum was saved) restores it as 0 */
    uint32_t version = get_u32(p + 8);
    if ((version != 1 &&
         (st = expect_field(fn, "layout version", version, SAVE_VERSION)) != KBIT_OK) ||
        (st = expect_field(fn, "kind", get_u32(p + 12), state->kind)) != KBIT_OK ||
        (st = expect_field(fn, "param dtype", get_u32(p + 16), state->param_dtype)) != KBIT_OK ||
        (st = expect_field(fn, "state bits", get_u32(p + 20), state->state_bits)) != KBIT_OK ||
        (st = expect_field(fn, "n", get_i64(p + 24), state->n)) != KBIT_OK ||
        (st = expect_field(fn, "size in bytes", (int64_t)bytes,
                           (int64_t)save_size_v(state, version))) != KBIT_OK)
        return st;
    int64_t step = get_i64(p + 32);
    if (step < 0)
        return kbit_error(KBIT_EFORMAT, "%s: saved step is negative", fn);
    p += SAVE_HEADER_BYTES;
    float history[KBIT_OPTIM_HISTORY], maps[2][256];
    memcpy(history, p, sizeof history);
    p += SAVE_HISTORY_BYTES;
    if (state->state_bits == 8) {
        memcpy(maps, p, sizeof maps);
        p += SAVE_MAPS_BYTES;
        if ((st = kbit_check_map(maps[0], fn, "saved qmap1")) != KBIT_OK ||
            (st = kbit_check_map(maps[1], fn, "saved qmap2")) != KBIT_OK)
            return kbit_error(KBIT_EFORMAT, "%s", kbit_last_error());
    }
    const void *parts[4];
    void *ptr[4];
    size_t size[4];
    device_parts(state, ptr, size);
    for (int i = 0; i < 4; i++) {
        parts[i] = p;
        p += size[i];
    }
    double pending = 0.0;
    if (save_norms_bytes(state, version) > 0) {
        uint64_t bits = (uint64_t)get_i64(p);
        memcpy(&pending, &bits, sizeof pending);
    }
    int eight = state->state_bits == 8;
    return install(state, step, eight ? maps[0] : NULL, eight ? maps[1] : NULL, history, parts,
                   pending, fn);
}

/* ------------------------------------------------------------------ */
/* bitsandbytes state_dict tensors                                      */

static kbit_status need(const void *p, const char *fn, const char *arg)
{
    if (p == NULL)
        return kbit_error(KBIT_EINVAL, "%s: bnb->%s is NULL but this state needs it", fn, arg);
    return KBIT_OK;
}

KBIT_API kbit_status kbit_optim_state_load_bnb(kbit_optim_state *state,
                                               const kbit_optim_bnb_state *bnb)
{
    static const char fn[] = "kbit_optim_state_load_bnb";
    kbit_clear_error();
    kbit_status st = kbit_optim_check_state(state, NULL, fn, "state");
    if (st != KBIT_OK)
        return st;
    if (bnb == NULL)
        return kbit_error(KBIT_EINVAL, "%s: bnb is NULL", fn);
    if (bnb->step < 0)
        return kbit_error(KBIT_EINVAL, "%s: bnb->step is negative", fn);
    int two = kbit_optim_two_state(state->kind), eight = state->state_bits == 8;
    int has_data = state->n > 0;
    if (has_data && ((st = need(bnb->state1, fn, "state1")) != KBIT_OK ||
                     (two && (st = need(bnb->state2, fn, "state2")) != KBIT_OK) ||
                     (eight && (st = need(bnb->absmax1, fn, "absmax1")) != KBIT_OK) ||
                     (eight && two && (st = need(bnb->absmax2, fn, "absmax2")) != KBIT_OK)))
        return st;
    if (eight && ((st = need(bnb->qmap1, fn, "qmap1")) != KBIT_OK ||
                  (st = kbit_check_map(bnb->qmap1, fn, "bnb->qmap1")) != KBIT_OK ||
                  (two && (st = need(bnb->qmap2, fn, "qmap2")) != KBIT_OK) ||
                  (two && (st = kbit_check_map(bnb->qmap2, fn, "bnb->qmap2")) != KBIT_OK)))
        return st;
    const void *parts[4] = { bnb->state1, two ? bnb->state2 : NULL,
                             eight ? bnb->absmax1 : NULL, eight && two ? bnb->absmax2 : NULL };
    /* bitsandbytes' unorm_vec: LION's sum of s' from the last step (f32;
     * widened exactly, so the next step rounds it back to the same f32) */
    double pending = bnb->unorm_vec != NULL ? (double)bnb->unorm_vec[0] : 0.0;
    return install(state, bnb->step, eight ? bnb->qmap1 : NULL,
                   eight && two ? bnb->qmap2 : NULL, bnb->gnorm_vec, parts, pending, fn);
}
