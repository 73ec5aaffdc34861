/* tests/fuzz_convert.c - libFuzzer target for the whole conversions (built
 * with --enable-fuzz, clang only): quantize and dequantize of a small model
 * made from the input bytes.
 *
 * Byte 0 picks the call: 'D' dequantize, '8' 8-bit, 'N' 4-bit nested,
 * anything else 4-bit. Byte 1 picks the layout: 'd' a directory whose
 * config.json is the bytes up to the first NUL and model.safetensors the
 * rest; anything else a single .safetensors file of the rest. Whatever a
 * conversion writes must open again (the writer never writes what the
 * reader refuses), and a failure must leave neither OUT nor a temporary.
 *
 *   tests/fuzz_convert -max_total_time=60 CORPUS_DIR
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kbit.h"

static kbit_device *dev;
static char base[64], in_dir[96], in_file[128], cfg[128], out[128];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    if (n && fwrite(bytes, 1, n, f) != n)
        abort();
    fclose(f);
}

static void rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            rm_tree(p);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else
        unlink(path);
}

/* Nothing named out.kbit-* left in the work directory. */
static int leftovers(void)
{
    DIR *d = opendir(base);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "out", 3) == 0 && strstr(de->d_name, ".kbit-") != NULL;
    if (d)
        closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dev == NULL) {
        if (kbit_device_open("cpu", &dev) != KBIT_OK)
            abort();
        kbit_device_set_threads(dev, 1);
        snprintf(base, sizeof base, "/tmp/kbit-fuzzconv-%ld", (long)getpid());
        mkdir(base, 0755);
        snprintf(in_dir, sizeof in_dir, "%s/in", base);
    }
    if (size < 2)
        return 0;
    char mode = (char)data[0];
    int as_dir = data[1] == 'd';
    const uint8_t *rest = data + 2;
    size_t n = size - 2;
    const char *in;
    rm_tree(in_dir);
    if (as_dir) {
        mkdir(in_dir, 0755);
        const uint8_t *nul = memchr(rest, 0, n);
        size_t clen = nul ? (size_t)(nul - rest) : 0;
        snprintf(cfg, sizeof cfg, "%s/config.json", in_dir);
        if (nul)
            put(cfg, rest, clen);
        snprintf(in_file, sizeof in_file, "%s/model.safetensors", in_dir);
        put(in_file, nul ? nul + 1 : rest, nul ? n - clen - 1 : n);
        in = in_dir;
        snprintf(out, sizeof out, "%s/out", base);
    } else {
        snprintf(in_file, sizeof in_file, "%s/in.safetensors", base);
        put(in_file, rest, n);
        in = in_file;
        snprintf(out, sizeof out, "%s/out.safetensors", base);
    }
    kbit_sync(NULL); /* a known message: a failure must replace it */
    char planted[256];
    snprintf(planted, sizeof planted, "%s", kbit_last_error());
    kbit_status st;
    if (mode == 'D') {
        st = kbit_checkpoint_dequantize(dev, in, out, KBIT_F16, 0, NULL, NULL, NULL);
    } else {
        kbit_quantize_options o;
        kbit_quantize_options_init(&o);
        o.bits = mode == '8' ? 8 : 4;
        o.double_quant = mode == 'N';
        st = kbit_checkpoint_quantize(dev, in, out, &o, NULL);
    }
    if (st == KBIT_OK) {
        kbit_checkpoint *ck = NULL;
        if (kbit_checkpoint_open(out, &ck) != KBIT_OK) {
            fprintf(stderr, "kbit wrote what it cannot read: %s\n", kbit_last_error());
            abort();
        }
        kbit_checkpoint_close(ck);
    } else {
        struct stat sb;
        if (strcmp(kbit_last_error(), planted) == 0 || lstat(out, &sb) == 0) {
            fprintf(stderr, "a failure without a message, or with OUT written: %s\n",
                    kbit_last_error());
            abort();
        }
    }
    if (leftovers() != 0) {
        fprintf(stderr, "a temporary of OUT was left\n");
        abort();
    }
    rm_tree(out);
    return 0;
}
