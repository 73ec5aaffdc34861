/* lib/checkpoint/pyjson.c - JSON text byte-identical to Python's json.dumps (see pyjson.h). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/pyjson.h"

void kbit_buf_append(kbit_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void kbit_buf_puts(kbit_buf *b, const char *s)
{
    kbit_buf_append(b, s, strlen(s));
}

void kbit_buf_free(kbit_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* The shortest decimal digits that read back as v (v finite, > 0):
 * digits[] without a point, and the exponent e of v = d.ddd x 10^e.
 * For each precision p, C's correctly rounded %.*e gives the p-digit
 * decimal nearest to v; when it does not read back, one of its neighbours
 * (one unit in the last digit away) still may, at the edge of a binade
 * where the gaps below and above v differ. The first that reads back is
 * what Python's repr (David Gay's shortest mode) prints. */
static int shortest_digits(double v, char *digits, int *exp10)
{
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        uint64_t d = 0;
        const char *p = tmp;
        for (; *p && *p != 'e'; p++)
            if (*p != '.')
                d = d * 10 + (uint64_t)(*p - '0');
        int scale = atoi(p + 1) - (prec - 1); /* v ~ d x 10^scale */
        const uint64_t cand[3] = { d, d - 1, d + 1 };
        for (int k = 0; k < 3; k++) {
            if (cand[k] == 0)
                continue;
            snprintf(tmp, sizeof tmp, "%llue%d", (unsigned long long)cand[k], scale);
            if (strtod(tmp, NULL) != v && prec < 17)
                continue;
            int n = snprintf(digits, 24, "%llu", (unsigned long long)cand[k]);
            *exp10 = scale + n - 1;
            while (n > 1 && digits[n - 1] == '0')
                n--;
            digits[n] = '\0';
            return n;
        }
    }
    return 0; /* not reached: 17 digits always read back */
}

size_t kbit_py_float_repr(double v, char *out)
{
    if (isnan(v))
        return (size_t)sprintf(out, "NaN");
    if (isinf(v))
        return (size_t)sprintf(out, v > 0 ? "Infinity" : "-Infinity");
    char *o = out;
    if (signbit(v)) {
        *o++ = '-';
        v = -v;
    }
    if (v == 0.0)
        return (size_t)(o - out) + (size_t)sprintf(o, "0.0");

    char d[24];
    int e = 0;
    int n = shortest_digits(v, d, &e);
    int decpt = e + 1; /* v = 0.ddd x 10^decpt */
    if (decpt > -4 && decpt <= 16) {
        /* positional notation, always with a fraction part */
        if (decpt <= 0) {
            o += sprintf(o, "0.");
            for (int i = 0; i < -decpt; i++)
                *o++ = '0';
            o += sprintf(o, "%s", d);
        } else if (decpt >= n) {
            o += sprintf(o, "%s", d);
            for (int i = n; i < decpt; i++)
                *o++ = '0';
            o += sprintf(o, ".0");
        } else {
            memcpy(o, d, (size_t)decpt);
            o += decpt;
            o += sprintf(o, ".%s", d + decpt);
        }
    } else {
        /* exponent notation: d[.ddd]e+XX, at least two exponent digits */
        *o++ = d[0];
        if (n > 1)
            o += sprintf(o, ".%s", d + 1);
        o += sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    *o = '\0';
    return (size_t)(o - out);
}

/* Decode one UTF-8 sequence (jansson guarantees valid UTF-8). */
static unsigned long utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    unsigned long c = s[0];
    int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (extra)
        c &= 0x3fu >> extra;
    for (int i = 1; i <= extra && s[i]; i++)
        c = (c << 6) | (s[i] & 0x3fu);
    *p = s + 1 + extra;
    return c;
}

/* A string with ensure_ascii escaping. */
static void dump_string(kbit_buf *b, const char *str, size_t len)
{
    const unsigned char *p = (const unsigned char *)str, *end = p + len;
    char esc[32];
    kbit_buf_append(b, "\"", 1);
    while (p < end) {
        unsigned long c = utf8_next(&p);
        const char *named = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f" : NULL;
        if (named) {
            kbit_buf_puts(b, named);
        } else if (c >= 0x20 && c <= 0x7e) {
            esc[0] = (char)c;
            kbit_buf_append(b, esc, 1);
        } else if (c <= 0xffff) {
            snprintf(esc, sizeof esc, "\\u%04lx", c);
            kbit_buf_puts(b, esc);
        } else {
            c -= 0x10000;
            snprintf(esc, sizeof esc, "\\u%04lx\\u%04lx", 0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
            kbit_buf_puts(b, esc);
        }
    }
    kbit_buf_append(b, "\"", 1);
}

static void newline(kbit_buf *b, int indent, int level)
{
    kbit_buf_append(b, "\n", 1);
    for (int i = 0; i < indent * level; i++)
        kbit_buf_append(b, " ", 1);
}

/* A key and its length (keys from kbit_json_parse may hold NUL). */
typedef struct key_len {
    const char *key;
    size_t len;
} key_len;

/* Code point order: UTF-8 (and WTF-8) bytes compare in that order. */
static int cmp_keys(const void *a, const void *b)
{
    const key_len *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int dump(kbit_buf *b, const json_t *v, int indent, int sort_keys, int level,
                const kbit_json_raw *raw);

/* Separator before item i of a container, and the indentation. */
static void item_start(kbit_buf *b, size_t i, int indent, int level)
{
    if (i > 0)
        kbit_buf_puts(b, indent >= 0 ? "," : ", ");
    if (indent >= 0)
        newline(b, indent, level + 1);
}

static int dump_object(kbit_buf *b, const json_t *v, int indent, int sort_keys, int level,
                       const kbit_json_raw *raw)
{
    size_t n = json_object_size(v);
    if (n == 0) {
        kbit_buf_puts(b, "{}");
        return 0;
    }
    key_len *keys = malloc(n * sizeof *keys);
    if (keys == NULL)
        return -1;
    size_t k = 0, klen;
    const char *key;
    json_t *item;
    json_object_keylen_foreach((json_t *)v, key, klen, item)
        keys[k++] = (key_len){ key, klen };
    if (sort_keys)
        qsort(keys, n, sizeof *keys, cmp_keys);
    int rc = 0;
    kbit_buf_append(b, "{", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        item_start(b, i, indent, level);
        dump_string(b, keys[i].key, keys[i].len);
        kbit_buf_puts(b, ": ");
        rc = dump(b, json_object_getn(v, keys[i].key, keys[i].len), indent, sort_keys, level + 1,
                  raw);
    }
    if (indent >= 0)
        newline(b, indent, level);
    kbit_buf_append(b, "}", 1);
    free(keys);
    return rc;
}

static int dump(kbit_buf *b, const json_t *v, int indent, int sort_keys, int level,
                const kbit_json_raw *raw)
{
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return dump_object(b, v, indent, sort_keys, level, raw);
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n == 0) {
            kbit_buf_puts(b, "[]");
            return 0;
        }
        kbit_buf_append(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            item_start(b, i, indent, level);
            if (dump(b, json_array_get(v, i), indent, sort_keys, level + 1, raw) != 0)
                return -1;
        }
        if (indent >= 0)
            newline(b, indent, level);
        kbit_buf_append(b, "]", 1);
        return 0;
    }
    case JSON_STRING:
        if (kbit_json_is_raw(raw, v)) /* a number jansson cannot hold, as its text */
            kbit_buf_append(b, json_string_value(v), json_string_length(v));
        else
            dump_string(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        kbit_buf_puts(b, num);
        return 0;
    case JSON_REAL:
        kbit_py_float_repr(json_real_value(v), num);
        kbit_buf_puts(b, num);
        return 0;
    case JSON_TRUE:
        kbit_buf_puts(b, "true");
        return 0;
    case JSON_FALSE:
        kbit_buf_puts(b, "false");
        return 0;
    case JSON_NULL:
        kbit_buf_puts(b, "null");
        return 0;
    }
    return -1;
}

int kbit_pyjson_dump_raw(kbit_buf *b, const json_t *value, int indent, int sort_keys,
                         const kbit_json_raw *raw)
{
    if (value == NULL)
        return -1;
    int rc = dump(b, value, indent, sort_keys, 0, raw);
    return rc == 0 && !b->failed ? 0 : -1;
}

int kbit_pyjson_dump(kbit_buf *b, const json_t *value, int indent, int sort_keys)
{
    return kbit_pyjson_dump_raw(b, value, indent, sort_keys, NULL);
}
