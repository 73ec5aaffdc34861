/* lib/ops/maps.h - host-side code tables. */
#ifndef KBIT_LIB_MAPS_H
#define KBIT_LIB_MAPS_H

#include "kbit.h"

/* Build a dynamic map by the numerics.md 2.2 recipe (signed or unsigned). */
void kbit_map_generate(int is_signed, float out[256]);

/* Midpoints of consecutive entries, mid[i] = (code[i] + code[i+1]) * 0.5f. */
void kbit_map_midpoints(const float code[256], float mid[255]);

/* 1 if the recipe reproduced both normative tables bit for bit. */
int kbit_maps_recipe_matches(void);

#endif
