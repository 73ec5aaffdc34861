/* lib/checkpoint/jsonload.h - the JSON parser of the checkpoint code (internal).
 *
 * It builds jansson values (jansson keeps, prints and frees them), but the
 * parsing is its own, for two reasons: every allocation failure is reported
 * as one (jansson 2.14's lexer ignores a failed buffer allocation, then
 * reports a syntax error or fails an assertion), and config.json is read as
 * Python's json.loads reads it (transformers writes and reads it with
 * Python's json module; kbit copies it, adding or removing
 * quantization_config). Two dialects:
 *
 *  KBIT_JSON_STRICT   RFC 8259 for the files kbit interprets (safetensors
 *                     headers, the index, quant states): integers must fit
 *                     int64, a repeated key, a NUL (\u0000) or an unpaired
 *                     surrogate escape is an error.
 *  KBIT_JSON_PYTHON   what json.loads accepts besides: NaN, Infinity and
 *                     -Infinity; integers of any size; numbers beyond the
 *                     double range (1e400 is Infinity); \u0000 in strings
 *                     and keys; unpaired surrogate escapes (kept as WTF-8,
 *                     printed back as the same escapes); repeated keys (the
 *                     last value wins, at the first one's place).
 *
 * Both refuse what json.loads refuses: invalid UTF-8, a byte-order mark,
 * raw control characters inside strings, anything but whitespace after the
 * value, nesting deeper than 1000 (Python's recursion limit).
 *
 * Integers beyond int64 and the non-finite numbers, which jansson cannot
 * hold, become strings holding their JSON text, listed in `raw` so that
 * kbit_pyjson_dump_raw prints them as numbers. */
#ifndef KBIT_LIB_JSONLOAD_H
#define KBIT_LIB_JSONLOAD_H

#include <stddef.h>

#include <jansson.h>

#define KBIT_JSON_STRICT 0
#define KBIT_JSON_PYTHON 1
#define KBIT_JSON_MAX_DEPTH 1000

/* The nodes to print verbatim (borrowed: valid while the tree lives). */
typedef struct kbit_json_raw {
    json_t **nodes; /* sorted by address once parsing is done */
    size_t count, cap;
} kbit_json_raw;

typedef struct kbit_json_error {
    int out_of_memory;
    char text[200]; /* "line 3 column 7: Expecting ',' delimiter", "out of memory" */
} kbit_json_error;

/* Parse len bytes. NULL on failure (err filled). raw may be NULL for
 * KBIT_JSON_STRICT (there are no raw nodes then). */
json_t *kbit_json_parse(const char *text, size_t len, int dialect, kbit_json_raw *raw,
                        kbit_json_error *err);
/* Whether v is a raw node. */
int kbit_json_is_raw(const kbit_json_raw *raw, const json_t *v);
void kbit_json_raw_free(kbit_json_raw *raw);

#endif
