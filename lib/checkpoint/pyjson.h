/* lib/checkpoint/pyjson.h - JSON text exactly as Python's json.dumps writes it (internal).
 *
 * bitsandbytes stores the 4-bit quant state as json.dumps(dict) bytes and
 * transformers writes config.json with json.dumps(indent=2, sort_keys=True);
 * doc/numerics.md 8 makes both byte-exact. jansson parses; this module prints:
 *  - floats as Python repr (shortest round-trip digits, exponent form below
 *    1e-4 and from 1e16 on, "NaN" / "Infinity" / "-Infinity"),
 *  - strings with ensure_ascii (\uXXXX in lowercase hex, surrogate pairs),
 *  - indent < 0: one line, separators ", " and ": "; indent >= 0: one item a
 *    line, separators "," and ": ", empty containers as [] and {},
 *  - keys in insertion order, or sorted by code point with sort_keys.
 */
#ifndef KBIT_LIB_PYJSON_H
#define KBIT_LIB_PYJSON_H

#include <stddef.h>

#include <jansson.h>

#include "checkpoint/jsonload.h"

/* A growable byte buffer; `failed` is set once an allocation failed (the
 * contents are then incomplete and every further append is ignored). */
typedef struct kbit_buf {
    char *data; /* NUL-terminated while not failed */
    size_t len;
    size_t cap;
    int failed;
} kbit_buf;

void kbit_buf_append(kbit_buf *b, const char *s, size_t n);
void kbit_buf_puts(kbit_buf *b, const char *s);
void kbit_buf_free(kbit_buf *b);

/* Python repr(float(v)) into out (at least 32 bytes); returns its length. */
size_t kbit_py_float_repr(double v, char *out);

/* Append json.dumps(value, indent=indent or None, sort_keys=sort_keys).
 * Returns 0, or -1 if the value holds something JSON cannot (never with
 * values from jansson) or memory ran out. */
int kbit_pyjson_dump(kbit_buf *b, const json_t *value, int indent, int sort_keys);
/* The same for a tree from kbit_json_parse(KBIT_JSON_PYTHON): its raw nodes
 * (big integers, NaN, Infinity) are printed as the numbers they hold; keys
 * may hold NUL (sorted by code point all the same). */
int kbit_pyjson_dump_raw(kbit_buf *b, const json_t *value, int indent, int sort_keys,
                         const kbit_json_raw *raw);

#endif
