/* lib/ops/maps.h - host-side code tables. */
#ifndef KBIT_LIB_MAPS_H
#define KBIT_LIB_MAPS_H

#include "kbit-driver.h"
#include "runtime/exec.h"

/* Build a dynamic map by the doc/numerics.md 2.2 recipe (signed or unsigned). */
void kbit_map_generate(int is_signed, float out[256]);

/* Midpoints of consecutive entries, mid[i] = (code[i] + code[i+1]) * 0.5f. */
void kbit_map_midpoints(const float code[256], float mid[255]);

/* 1 if the recipe reproduced both normative tables bit for bit. */
int kbit_maps_recipe_matches(void);

/* Which map code is: a normative one (bit for bit) or a custom one. */
kbit_map_id kbit_map_identify(const float code[256]);

/* A table in device memory: 256 code values, then their 255 midpoints. */
#define KBIT_MAP_TABLE_FLOATS 511
#define KBIT_MAP_TABLE_BYTES (KBIT_MAP_TABLE_FLOATS * sizeof(float))

/* The device table of a normative map, uploaded once per device (the first
 * call waits for the upload, so every stream may use it at once). */
kbit_status kbit_device_map_table(kbit_call *c, kbit_map_kind kind, const float **table);
/* The device table of any map for one call: the normative table when code
 * is one, else a copy in the call's workspace, for which the caller
 * reserved kbit_call_size(KBIT_MAP_TABLE_BYTES) bytes (*needs_upload tells
 * beforehand: kbit_map_identify(code) == KBIT_MAP_ID_CUSTOM). */
kbit_status kbit_call_map_table(kbit_call *c, const float code[256], const float **table,
                                kbit_map_id *id);
/* Free a closing device's tables. */
void kbit_maps_release(kbit_device *dev);

#endif
