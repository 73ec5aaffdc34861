/* lib/checkpoint/jsonload.c - JSON text to jansson values, strictly or as
 * Python's json.loads reads it (see jsonload.h). Recursive descent over the
 * bytes; strings are decoded into one scratch buffer reused for every
 * string, so a 100 MB header parses in one pass. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/jsonload.h"

typedef struct parser {
    const unsigned char *start, *p, *end;
    int python;
    kbit_json_raw *raw;
    kbit_json_error *err;
    int depth;
    int failed;
    char *buf; /* string and number scratch */
    size_t len, cap;
} parser;

static void fail(parser *ps, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The first error wins; its place is that of ps->p. */
static void fail(parser *ps, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    size_t line = 1, col = 1;
    for (const unsigned char *q = ps->start; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else
            col++;
    }
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(ps->err->text, sizeof ps->err->text, "line %zu column %zu (char %zu): %s", line, col,
             (size_t)(ps->p - ps->start), what);
}

static void out_of_memory(parser *ps)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    ps->err->out_of_memory = 1;
    snprintf(ps->err->text, sizeof ps->err->text, "out of memory");
}

static int put(parser *ps, const void *bytes, size_t n)
{
    if (ps->len + n + 1 > ps->cap) {
        size_t cap = ps->cap ? ps->cap : 256;
        while (cap < ps->len + n + 1)
            cap *= 2;
        char *q = realloc(ps->buf, cap);
        if (q == NULL) {
            out_of_memory(ps);
            return -1;
        }
        ps->buf = q;
        ps->cap = cap;
    }
    memcpy(ps->buf + ps->len, bytes, n);
    ps->len += n;
    ps->buf[ps->len] = '\0';
    return 0;
}

/* A code point as UTF-8 (surrogates too: WTF-8). */
static int put_code_point(parser *ps, unsigned long c)
{
    unsigned char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (unsigned char)(0xc0 | (c >> 6));
        u[1] = (unsigned char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (unsigned char)(0xe0 | (c >> 12));
        u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | (c >> 18));
        u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
        u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        u[3] = (unsigned char)(0x80 | (c & 0x3f));
        n = 4;
    }
    return put(ps, u, n);
}

/* The length of one valid UTF-8 sequence at s (no overlong forms, no
 * surrogates, at most U+10FFFF), 0 if invalid. */
static size_t utf8_length(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (n == 0 || (size_t)(end - s) < n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
        return 0; /* overlong, or a surrogate */
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
        return 0; /* overlong, or beyond U+10FFFF */
    return n;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(const unsigned char *s, const unsigned char *end, unsigned long *v)
{
    if (end - s < 4)
        return 0;
    unsigned long x = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        x = x * 16 + (unsigned long)d;
    }
    *v = x;
    return 1;
}

/* A string at ps->p (on its opening quote), decoded into ps->buf[0..len). */
static int parse_string(parser *ps)
{
    ps->len = 0;
    const unsigned char *open = ps->p++;
    for (;;) {
        const unsigned char *run = ps->p;
        while (ps->p < ps->end && *ps->p >= 0x20 && *ps->p < 0x80 && *ps->p != '"' &&
               *ps->p != '\\')
            ps->p++;
        if (put(ps, run, (size_t)(ps->p - run)) != 0)
            return -1;
        if (ps->p >= ps->end) {
            ps->p = open;
            fail(ps, "Unterminated string starting here");
            return -1;
        }
        unsigned char c = *ps->p;
        if (c == '"') {
            ps->p++;
            return 0;
        }
        if (c < 0x20) {
            fail(ps, "Invalid control character (0x%02x) in a string", c);
            return -1;
        }
        if (c >= 0x80) {
            size_t n = utf8_length(ps->p, ps->end);
            if (n == 0) {
                fail(ps, "invalid UTF-8 byte 0x%02x", c);
                return -1;
            }
            if (put(ps, ps->p, n) != 0)
                return -1;
            ps->p += n;
            continue;
        }
        /* an escape */
        const unsigned char *esc = ps->p++;
        if (ps->p >= ps->end) {
            ps->p = open;
            fail(ps, "Unterminated string starting here");
            return -1;
        }
        char e = (char)*ps->p++;
        const char *simple = e == '"' ? "\"" : e == '\\' ? "\\" : e == '/' ? "/" : e == 'b' ? "\b"
                           : e == 'f' ? "\f" : e == 'n' ? "\n" : e == 'r' ? "\r"
                           : e == 't' ? "\t" : NULL;
        if (simple) {
            if (put(ps, simple, 1) != 0)
                return -1;
            continue;
        }
        unsigned long u, lo;
        if (e != 'u' || !hex4(ps->p, ps->end, &u)) {
            ps->p = esc;
            fail(ps, e == 'u' ? "Invalid \\uXXXX escape" : "Invalid \\escape");
            return -1;
        }
        ps->p += 4;
        if (u >= 0xd800 && u <= 0xdbff && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
            ps->p[1] == 'u' && hex4(ps->p + 2, ps->end, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            ps->p += 6;
        } else if (u >= 0xd800 && u <= 0xdfff && !ps->python) {
            ps->p = esc;
            fail(ps, "an unpaired surrogate escape (\\u%04lx)", u);
            return -1;
        }
        if (u == 0 && !ps->python) {
            ps->p = esc;
            fail(ps, "\\u0000 is not allowed here");
            return -1;
        }
        if (put_code_point(ps, u) != 0)
            return -1;
    }
}

/* A value jansson cannot hold, kept as its text. */
static json_t *raw_node(parser *ps, const char *text, size_t len)
{
    json_t *v = json_stringn_nocheck(text, len);
    if (v == NULL) {
        out_of_memory(ps);
        return NULL;
    }
    kbit_json_raw *r = ps->raw;
    if (r->count == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        json_t **n = realloc(r->nodes, cap * sizeof *n);
        if (n == NULL) {
            json_decref(v);
            out_of_memory(ps);
            return NULL;
        }
        r->nodes = n;
        r->cap = cap;
    }
    r->nodes[r->count++] = v;
    return v;
}

static int is_digit(const parser *ps, const unsigned char *q)
{
    return q < ps->end && *q >= '0' && *q <= '9';
}

/* strtod of the number in ps->buf, whatever the locale's decimal point
 * (strtod reads that one, JSON has '.'). */
static int locale_strtod(parser *ps, double *d)
{
    const char *point = localeconv()->decimal_point;
    char *dot = strchr(ps->buf, '.');
    if (dot == NULL || point == NULL || point[0] == '\0' || strcmp(point, ".") == 0) {
        *d = strtod(ps->buf, NULL);
        return 0;
    }
    size_t at = (size_t)(dot - ps->buf), pl = strlen(point), n = strlen(ps->buf);
    char *tmp = malloc(n + pl + 1);
    if (tmp == NULL) {
        out_of_memory(ps);
        return -1;
    }
    memcpy(tmp, ps->buf, at);
    memcpy(tmp + at, point, pl);
    memcpy(tmp + at + pl, dot + 1, n - at); /* with the NUL */
    *d = strtod(tmp, NULL);
    free(tmp);
    return 0;
}

static json_t *parse_number(parser *ps)
{
    const unsigned char *begin = ps->p, *q = ps->p;
    if (*q == '-')
        q++;
    if (!is_digit(ps, q)) {
        fail(ps, "Expecting value");
        return NULL;
    }
    if (*q == '0')
        q++;
    else
        while (is_digit(ps, q))
            q++;
    int integer = 1;
    if (q < ps->end && *q == '.' && is_digit(ps, q + 1)) {
        integer = 0;
        q++;
        while (is_digit(ps, q))
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        const unsigned char *x = q + 1;
        if (x < ps->end && (*x == '+' || *x == '-'))
            x++;
        if (is_digit(ps, x)) {
            integer = 0;
            while (is_digit(ps, x))
                x++;
            q = x;
        }
    }
    size_t n = (size_t)(q - begin);
    ps->len = 0;
    if (put(ps, begin, n) != 0)
        return NULL;
    ps->p = q;
    json_t *v;
    if (integer) {
        errno = 0;
        long long i = strtoll(ps->buf, NULL, 10);
        if (errno == ERANGE) {
            if (!ps->python) {
                ps->p = begin;
                fail(ps, "the integer %.40s%s does not fit in 64 bits", ps->buf,
                     n > 40 ? "..." : "");
                return NULL;
            }
            return raw_node(ps, ps->buf, n);
        }
        v = json_integer((json_int_t)i);
    } else {
        double d;
        if (locale_strtod(ps, &d) != 0)
            return NULL;
        if (isinf(d)) {
            /* beyond the double range: Python's float() gives an infinity */
            if (!ps->python) {
                ps->p = begin;
                fail(ps, "the number %.40s is beyond the double range", ps->buf);
                return NULL;
            }
            return d < 0 ? raw_node(ps, "-Infinity", 9) : raw_node(ps, "Infinity", 8);
        }
        v = json_real(d);
    }
    if (v == NULL)
        out_of_memory(ps);
    return v;
}

static int literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return 1;
    }
    return 0;
}

static json_t *parse_value(parser *ps);

static json_t *parse_object(parser *ps)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        out_of_memory(ps);
        return NULL;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            fail(ps, "Expecting property name enclosed in double quotes");
            break;
        }
        const unsigned char *at = ps->p;
        if (parse_string(ps) != 0)
            break;
        size_t klen = ps->len;
        char *key = malloc(klen + 1);
        if (key == NULL) {
            out_of_memory(ps);
            break;
        }
        memcpy(key, ps->buf, klen + 1);
        skip_ws(ps);
        json_t *v = NULL;
        if (ps->p >= ps->end || *ps->p != ':')
            fail(ps, "Expecting ':' delimiter");
        else {
            ps->p++;
            skip_ws(ps);
            v = parse_value(ps);
        }
        if (v != NULL && !ps->python && json_object_getn(obj, key, klen) != NULL) {
            ps->p = at;
            fail(ps, "the key '%.60s' appears twice", key);
            json_decref(v);
            v = NULL;
        }
        if (v != NULL && json_object_setn_new_nocheck(obj, key, klen, v) != 0)
            out_of_memory(ps); /* setn_new released v */
        free(key);
        if (ps->failed)
            break;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return obj;
        }
        fail(ps, "Expecting ',' delimiter");
        break;
    }
    json_decref(obj);
    return NULL;
}

static json_t *parse_array(parser *ps)
{
    json_t *arr = json_array();
    if (arr == NULL) {
        out_of_memory(ps);
        return NULL;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    for (;;) {
        skip_ws(ps);
        json_t *v = parse_value(ps);
        if (v == NULL)
            break;
        if (json_array_append_new(arr, v) != 0) {
            out_of_memory(ps);
            break;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return arr;
        }
        fail(ps, "Expecting ',' delimiter");
        break;
    }
    json_decref(arr);
    return NULL;
}

static json_t *parse_value(parser *ps)
{
    if (ps->p >= ps->end) {
        fail(ps, "Expecting value");
        return NULL;
    }
    json_t *v = NULL;
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > KBIT_JSON_MAX_DEPTH) {
            fail(ps, "nested deeper than %d levels", KBIT_JSON_MAX_DEPTH);
            return NULL;
        }
        v = *ps->p == '{' ? parse_object(ps) : parse_array(ps);
        ps->depth--;
        return v;
    case '"':
        if (parse_string(ps) != 0)
            return NULL;
        if ((v = json_stringn_nocheck(ps->buf, ps->len)) == NULL)
            out_of_memory(ps);
        return v;
    case 't':
        if (literal(ps, "true"))
            return json_true();
        break;
    case 'f':
        if (literal(ps, "false"))
            return json_false();
        break;
    case 'n':
        if (literal(ps, "null"))
            return json_null();
        break;
    case 'N':
        if (ps->python && literal(ps, "NaN"))
            return raw_node(ps, "NaN", 3);
        break;
    case 'I':
        if (ps->python && literal(ps, "Infinity"))
            return raw_node(ps, "Infinity", 8);
        break;
    case '-':
        if (ps->python && literal(ps, "-Infinity"))
            return raw_node(ps, "-Infinity", 9);
        return parse_number(ps);
    default:
        if (*ps->p >= '0' && *ps->p <= '9')
            return parse_number(ps);
        break;
    }
    fail(ps, "Expecting value");
    return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(json_t *const *)a, y = (uintptr_t)*(json_t *const *)b;
    return (x > y) - (x < y);
}

json_t *kbit_json_parse(const char *text, size_t len, int dialect, kbit_json_raw *raw,
                        kbit_json_error *err)
{
    kbit_json_raw none = { 0 };
    parser ps = { (const unsigned char *)text, (const unsigned char *)text,
                  (const unsigned char *)text + len, dialect == KBIT_JSON_PYTHON,
                  raw ? raw : &none, err, 0, 0, NULL, 0, 0 };
    memset(err, 0, sizeof *err);
    json_t *v = NULL;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        fail(&ps, "Unexpected UTF-8 BOM");
    else {
        skip_ws(&ps);
        v = parse_value(&ps);
        skip_ws(&ps);
        if (v != NULL && ps.p != ps.end)
            fail(&ps, "Extra data");
    }
    free(ps.buf);
    if (ps.failed) {
        json_decref(v);
        if (raw)
            raw->count = 0;
        free(none.nodes);
        return NULL;
    }
    free(none.nodes);
    if (raw && raw->count > 1)
        qsort(raw->nodes, raw->count, sizeof *raw->nodes, cmp_ptr);
    return v;
}

int kbit_json_is_raw(const kbit_json_raw *raw, const json_t *v)
{
    if (raw == NULL || raw->count == 0)
        return 0;
    return bsearch(&v, raw->nodes, raw->count, sizeof *raw->nodes, cmp_ptr) != NULL;
}

void kbit_json_raw_free(kbit_json_raw *raw)
{
    free(raw->nodes);
    memset(raw, 0, sizeof *raw);
}
