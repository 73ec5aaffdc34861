/* tests/test_safetensors.c - the internal safetensors reader (lib/checkpoint/safetensors.c):
 * valid files (the golden vectors, and small crafted ones with metadata,
 * empty and 0-dim tensors), every kind of malformed header (each must give
 * KBIT_EFORMAT or KBIT_EIO with a message and leave *out alone), and a
 * mutation fuzz: damaged headers must never crash the reader, and whatever
 * it accepts must lie inside the file. Files are written to a temporary
 * directory under the build directory. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/safetensors.h"
#include "ckutil.h"
#include "tap.h"
#include "testutil.h"

static char dir[256];
static int file_no;

/* Write a safetensors file: 8-byte LE header_len (normally strlen(json)),
 * the JSON, then data_len bytes 0, 1, 2, ... Returns the path (static). */
static const char *write_raw(uint64_t header_len, const char *json, size_t json_len,
                             size_t data_len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/f%03d.safetensors", dir, file_no++);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        tap_bail("cannot write %s", path);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(header_len >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(json, 1, json_len, f);
    for (size_t i = 0; i < data_len; i++)
        fputc((int)(i & 0xff), f);
    fclose(f);
    return path;
}

static const char *write_st(const char *json, size_t data_len)
{
    return write_raw(strlen(json), json, strlen(json), data_len);
}

static void expect_bad(const char *path, kbit_status want, const char *needle, const char *what)
{
    kbit_st_file *f = (kbit_st_file *)(uintptr_t)0x1234;
    kbit_status st = kbit_st_open(path, &f);
    const char *msg = kbit_last_error();
    if (!tap_ok(st == want && msg[0] && strstr(msg, needle) &&
                    f == (kbit_st_file *)(uintptr_t)0x1234,
                "rejects %s (%s, message names '%s')", what, kbit_strerror(want), needle))
        tap_diag("got %s, message \"%s\"", kbit_strerror(st), msg);
    if (st == KBIT_OK && f != (kbit_st_file *)(uintptr_t)0x1234)
        kbit_st_close(f);
}

static void valid_files(void)
{
    const char *json =
        "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[2,4],\"data_offsets\":[0,8]},"
        "\"empty\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[16,16]},"
        "\"scalar\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]},"
        "\"flags\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[24,25]}}    ";
    kbit_st_file *f = NULL;
    kbit_status st = kbit_st_open(write_st(json, 25), &f);
    if (!tap_ok(st == KBIT_OK, "opens a valid crafted file")) {
        tap_diag("%s", kbit_last_error());
        return;
    }
    const kbit_st_tensor *a = kbit_st_find(f, "a"), *b = kbit_st_find(f, "b"),
                         *e = kbit_st_find(f, "empty"), *s = kbit_st_find(f, "scalar"),
                         *fl = kbit_st_find(f, "flags");
    tap_ok(kbit_st_count(f) == 5 && kbit_st_at(f, 0) == b && kbit_st_at(f, 1) == a &&
               kbit_st_at(f, 4) == fl && kbit_st_at(f, 5) == NULL,
           "5 tensors in header order");
    tap_ok(a && a->dtype_known && a->dtype == KBIT_U8 && a->ndim == 2 && a->shape[0] == 2 &&
               a->shape[1] == 4 && a->numel == 8 && a->nbytes == 8 &&
               memcmp(ck_tensor_bytes(a), "\0\1\2\3\4\5\6\7", 8) == 0,
           "U8 [2,4]: shape, sizes and data");
    tap_ok(b && b->dtype == KBIT_F32 && b->numel == 2 && b->nbytes == 8 && b->offset == 8 &&
               ((const unsigned char *)ck_tensor_bytes(b))[0] == 8 && strcmp(b->st_dtype, "F32") == 0,
           "F32 [2] at offset 8");
    tap_ok(e && e->numel == 0 && e->nbytes == 0 && e->ndim == 2, "an empty BF16 [3,0] tensor");
    tap_ok(s && s->ndim == 0 && s->numel == 1 && s->nbytes == 8 && s->dtype == KBIT_I64,
           "a 0-dim I64 tensor");
    tap_ok(fl && !fl->dtype_known && fl->elem_size == 1 && strcmp(fl->st_dtype, "BOOL") == 0,
           "a BOOL tensor is readable, flagged as having no kbit dtype");
    tap_ok(kbit_st_find(f, "c") == NULL && kbit_st_find(f, "__metadata__") == NULL,
           "find of absent names is NULL");
    const char *v = NULL;
    tap_ok(kbit_st_metadata_count(f) == 2 && kbit_st_metadata(f, "format") &&
               strcmp(kbit_st_metadata(f, "format"), "pt") == 0 &&
               kbit_st_metadata(f, "absent") == NULL &&
               strcmp(kbit_st_metadata_at(f, 1, &v), "note") == 0 && strcmp(v, "x") == 0,
           "metadata by key and by index");
    kbit_st_close(f);

    st = kbit_st_open(write_st("{}", 0), &f);
    if (tap_ok(st == KBIT_OK && kbit_st_count(f) == 0 && kbit_st_metadata_count(f) == 0,
               "opens an empty header {} with no data"))
        kbit_st_close(f);
    kbit_st_close(NULL);
    tap_ok(kbit_st_count(NULL) == 0 && kbit_st_at(NULL, 0) == NULL &&
               kbit_st_find(NULL, "a") == NULL && kbit_st_metadata(NULL, "a") == NULL,
           "NULL file handles are harmless");
}

static void malformed_files(void)
{
    static const struct { const char *json; size_t data; const char *needle; const char *what; } bad[] = {
        { "{abc", 0, "JSON", "invalid JSON" },
        { "[]", 0, "object", "a JSON array header" },
        { "{\"a\":5}", 0, "object", "a tensor that is not an object" },
        { "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype", "a missing dtype" },
        { "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype", "a numeric dtype" },
        { "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "F33", "an unknown dtype" },
        { "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "shape", "a missing shape" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16, "shape", "a scalar shape" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape", "a negative dimension" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "shape", "a real dimension" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "shape", "a string dimension" },
        { "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "dimensions", "9 dimensions" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets", "missing data_offsets" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "data_offsets", "three data_offsets" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "data_offsets", "a negative offset" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "begin", "begin > end" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past", "data past the end of the file" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, "needs", "a size that does not match dtype x shape" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,0]}}", 0, "overflow", "an element count that overflows" },
        { "{\"a\":{\"dtype\":\"F64\",\"shape\":[281474976710656,4096],\"data_offsets\":[0,0]}}", 0, "overflow", "a byte count that overflows" },
        { "{\"a\":{\"dtype\":\"F64\",\"shape\":[0,281474976710657],\"data_offsets\":[0,0]}}", 0, "2^48", "a dimension above 2^48 (even in an empty tensor)" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap", "overlapping tensors" },
        { "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}", 8, "overlap", "a tensor inside another" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "JSON", "a duplicate tensor name" },
        { "{\"__metadata__\":[1]}", 0, "__metadata__", "metadata that is not an object" },
        { "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__", "a metadata value that is not a string" },
        { "{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "empty", "an empty tensor name" },
        { "{} x", 0, "JSON", "garbage after the header object" },
        { "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "u0000", "a NUL in a tensor name" },
        { "{\"a\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "surrogate", "an unpaired surrogate in a name" },
        { "{\"a\":{\"dtype\":\"U8\",\"shape\":[NaN],\"data_offsets\":[0,1]}}", 1, "Expecting value", "NaN (Python's, not JSON)" },
        { "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", 1, "JSON", "an offset beyond int64" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(write_st(bad[i].json, bad[i].data), KBIT_EFORMAT, bad[i].needle, bad[i].what);

    /* names: at most KBIT_CHECKPOINT_MAX_NAME bytes (limits.h) */
    for (int len = KBIT_CHECKPOINT_MAX_NAME; len <= KBIT_CHECKPOINT_MAX_NAME + 1; len++) {
        char json[2048];
        int k = snprintf(json, sizeof json, "{\"");
        for (int c = 0; c < len; c++)
            json[k++] = 'n';
        snprintf(json + k, sizeof json - (size_t)k,
                 "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
        kbit_st_file *g = NULL;
        kbit_status gs = kbit_st_open(write_st(json, 1), &g);
        if (len == KBIT_CHECKPOINT_MAX_NAME)
            tap_ok(gs == KBIT_OK, "a tensor name of KBIT_CHECKPOINT_MAX_NAME bytes is read");
        else
            expect_bad(write_st(json, 1), KBIT_EFORMAT, "1024", "a tensor name one byte longer");
        kbit_st_close(g);
    }

    /* a zero dimension makes a huge shape empty: that one is valid (up to
     * the dimension limit of 2^48, limits.h) */
    kbit_st_file *f = NULL;
    kbit_status st = kbit_st_open(
        write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,281474976710656,281474976710656],"
                 "\"data_offsets\":[0,0]}}", 0), &f);
    if (tap_ok(st == KBIT_OK && kbit_st_at(f, 0)->numel == 0,
               "a shape with a zero dimension is empty, whatever the other dimensions (<= 2^48)"))
        kbit_st_close(f);

    /* header length field */
    const char *j = "{}";
    expect_bad(write_raw(0, "", 0, 0), KBIT_EFORMAT, "JSON", "a zero header length");
    expect_bad(write_raw(3, j, 2, 0), KBIT_EFORMAT, "header length", "a header length past the end");
    expect_bad(write_raw(UINT64_MAX, j, 2, 0), KBIT_EFORMAT, "header length",
               "a header length of 2^64-1");
    expect_bad(write_raw(200u * 1000 * 1000, j, 2, 0), KBIT_EFORMAT, "limit",
               "a header length over 100 MB");
    expect_bad(write_raw(4, "{}\0}", 4, 0), KBIT_EFORMAT, "JSON", "a NUL byte inside the header");

    /* short files */
    char path[512];
    snprintf(path, sizeof path, "%s/short.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite("\2\0\0\0", 1, 4, fp);
        fclose(fp);
    }
    expect_bad(path, KBIT_EFORMAT, "short", "a 4-byte file");
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    fp = fopen(path, "wb");
    if (fp)
        fclose(fp);
    expect_bad(path, KBIT_EFORMAT, "short", "an empty file");
    snprintf(path, sizeof path, "%s/does-not-exist.safetensors", dir);
    expect_bad(path, KBIT_EIO, "open", "a missing file");
    expect_bad(dir, KBIT_EIO, "regular", "a directory");
    kbit_st_file *g = (kbit_st_file *)(uintptr_t)0x1234;
    tap_ok(kbit_st_open(NULL, &g) == KBIT_EINVAL && kbit_st_open(path, NULL) == KBIT_EINVAL &&
               g == (kbit_st_file *)(uintptr_t)0x1234,
           "NULL path or out -> KBIT_EINVAL");
}

/* Damage a valid header at random; the reader must survive and only accept
 * tensors that lie inside the data area. */
static void fuzz(void)
{
    const char *base =
        "{\"__metadata__\":{\"cases\":\"[]\",\"format\":\"kbit-golden-v1\"},"
        "\"w.x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"w.packed\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[24,27]},"
        "\"w.absmax\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[27,29]}}";
    static const char alphabet[] = "{}[]\",:0123456789-.eE \\u\x00\xff" "FUIBabcdz";
    size_t len = strlen(base);
    char *buf = malloc(len + 64);
    rng r;
    rng_seed(&r, 7);
    int accepted = 0, rejected = 0, violations = 0, other = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, base, len);
        size_t blen = len;
        int edits = 1 + (int)rng_below(&r, 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = rng_below(&r, (uint32_t)blen);
            switch (rng_below(&r, 3)) {
            case 0: buf[pos] = alphabet[rng_below(&r, sizeof alphabet - 1)]; break;
            case 1: blen = pos + 1; break; /* truncate */
            default: /* swap two bytes */ {
                size_t p2 = rng_below(&r, (uint32_t)blen);
                char t = buf[pos];
                buf[pos] = buf[p2];
                buf[p2] = t;
            }
            }
        }
        uint64_t hlen = blen;
        if (rng_below(&r, 8) == 0) /* a wrong length, possibly "negative" */
            hlen = (uint64_t)((int64_t)blen + (int64_t)rng_below(&r, 64) - 32);
        size_t data = rng_below(&r, 40);
        file_no = 900; /* reuse one file name */
        const char *path = write_raw(hlen, buf, blen, data);
        kbit_st_file *f = NULL;
        kbit_status st = kbit_st_open(path, &f);
        if (st == KBIT_OK) {
            accepted++;
            struct stat sb;
            stat(path, &sb);
            for (size_t i = 0; i < kbit_st_count(f); i++) {
                const kbit_st_tensor *t = kbit_st_at(f, i);
                /* inside the file, readable, consistent */
                if (t->file_offset + t->nbytes > (uint64_t)sb.st_size ||
                    (t->nbytes <= 4096 && ck_tensor_bytes(t) == NULL) ||
                    t->nbytes != (uint64_t)t->numel * t->elem_size || kbit_st_find(f, t->name) != t)
                    violations++;
            }
            kbit_st_close(f);
        } else if (st == KBIT_EFORMAT && kbit_last_error()[0]) {
            rejected++;
        } else {
            other++;
        }
    }
    free(buf);
    tap_ok(violations == 0 && other == 0 && rejected > 0,
           "3000 damaged headers: %d accepted (all consistent), %d rejected with KBIT_EFORMAT, "
           "%d other", accepted, rejected, other);
}

static void golden_files(void)
{
    const char *vd = vectors_dir();
    static const char *names[] = { "q4.safetensors", "q8.safetensors", "nested.safetensors" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *path = str_printf("%s/%s", vd, names[i]);
        kbit_st_file *f = NULL;
        kbit_status st = kbit_st_open(path, &f);
        if (!tap_ok(st == KBIT_OK, "opens %s", names[i])) {
            tap_diag("%s", kbit_last_error());
            free(path);
            continue;
        }
        int ok = kbit_st_count(f) > 0 && kbit_st_metadata(f, "cases") != NULL &&
                 kbit_st_metadata(f, "family") != NULL;
        uint64_t expect_offset = 0;
        for (size_t k = 0; ok && k < kbit_st_count(f); k++) {
            const kbit_st_tensor *t = kbit_st_at(f, k);
            /* the golden files are contiguous, in header order */
            ok = kbit_st_find(f, t->name) == t && t->offset == expect_offset && t->dtype_known;
            expect_offset += t->nbytes;
        }
        tap_ok(ok, "%s: %zu tensors, contiguous, all findable, metadata present", names[i],
               kbit_st_count(f));
        kbit_st_close(f);
        free(path);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "test_safetensors.XXXXXX");
    if (mkdtemp(dir) == NULL)
        tap_bail("mkdtemp failed");
    valid_files();
    malformed_files();
    fuzz();
    golden_files();

    /* remove the temporary files */
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char path[600];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    return tap_done();
}
