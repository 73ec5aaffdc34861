/* bench/bnb.c - load libbitsandbytes_cpu.so and call its C ABI.
 * Signatures (doc/numerics.md 7.1; checked with nm -D on the 0.50 wheel):
 *   cquantize_blockwise_cpu_fp32(float *code, float *A, float *absmax,
 *                                unsigned char *out, long long blocksize, long long n)
 *   cdequantize_blockwise_cpu_fp32(float *code, unsigned char *A, const float *absmax,
 *                                  float *out, long long blocksize, long long n)
 *   cdequantize_blockwise_cpu_{fp4,nf4}_{fp32,bf16,fp16}(unsigned char *A,
 *       const float *absmax, OUT *out, long long blocksize, long long m, long long n)
 *       (m rows x n columns) */
#include <config.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bnb.h"

#define BNB_CPU_LIB "libbitsandbytes_cpu.so"

typedef void (*bnb_quant8_fn)(float *code, float *a, float *absmax, unsigned char *out,
                              long long blocksize, long long n);
typedef void (*bnb_dequant8_fn)(float *code, unsigned char *a, const float *absmax,
                                float *out, long long blocksize, long long n);
/* out is float * or a 16-bit struct pointer: the same in the calling convention */
typedef void (*bnb_dequant4_fn)(unsigned char *a, const float *absmax, void *out,
                                long long blocksize, long long m, long long n);

static void *symbol(void *handle, const char *name)
{
    return handle ? dlsym(handle, name) : NULL;
}

int bench_bnb_open(bench_bnb *bnb, const char *path, char *why, size_t why_len)
{
    memset(bnb, 0, sizeof *bnb);
    if (path == NULL || *path == '\0')
        path = getenv("KBIT_BNB_LIB");
    if (path == NULL || *path == '\0')
        return 0;

    struct stat st;
    size_t len = strlen(path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(bnb->path, sizeof bnb->path, "%s%s%s", path, path[len - 1] == '/' ? "" : "/",
                 BNB_CPU_LIB);
    else
        snprintf(bnb->path, sizeof bnb->path, "%s", path);

    bnb->handle = dlopen(bnb->path, RTLD_NOW | RTLD_LOCAL);
    if (bnb->handle == NULL) {
        const char *err = dlerror();
        snprintf(why, why_len, "cannot load %s: %s", bnb->path, err ? err : "dlopen failed");
        return -1;
    }
    /* dlsym through the handle also searches its dependencies: the OpenMP
     * runtime bitsandbytes was linked with. */
    void *set = symbol(bnb->handle, "omp_set_num_threads");
    void *get = symbol(bnb->handle, "omp_get_max_threads");
    memcpy(&bnb->omp_set_num_threads, &set, sizeof set);
    memcpy(&bnb->omp_get_max_threads, &get, sizeof get);
    return 1;
}

void bench_bnb_close(bench_bnb *bnb)
{
    if (bnb->handle)
        dlclose(bnb->handle);
    memset(bnb, 0, sizeof *bnb);
}

void *bench_bnb_find(const bench_bnb *bnb, const char *name)
{
    return name ? symbol(bnb->handle, name) : NULL;
}

void bench_bnb_run(const bench_case *c, void *fn, const bench_slot *s, int64_t rows,
                   int64_t cols)
{
    /* bitsandbytes reads the code table but does not declare it const */
    float *code = (float *)kbit_dynamic_map(KBIT_MAP_SIGNED);
    long long n = (long long)(rows * cols);
    switch (c->kind) {
    case BENCH_QUANT8: {
        bnb_quant8_fn f;
        memcpy(&f, &fn, sizeof f);
        f(code, s->src, s->absmax, s->dst, c->blocksize, n);
        break;
    }
    case BENCH_DEQUANT8: {
        bnb_dequant8_fn f;
        memcpy(&f, &fn, sizeof f);
        f(code, s->src, s->absmax, s->dst, c->blocksize, n);
        break;
    }
    case BENCH_DEQUANT4: {
        bnb_dequant4_fn f;
        memcpy(&f, &fn, sizeof f);
        f(s->src, s->absmax, s->dst, c->blocksize, (long long)rows, (long long)cols);
        break;
    }
    default:
        break;
    }
}

int bench_bnb_set_threads(const bench_bnb *bnb, int threads)
{
    if (bnb->omp_set_num_threads == NULL || bnb->omp_get_max_threads == NULL)
        return 0;
    int previous = bnb->omp_get_max_threads();
    bnb->omp_set_num_threads(threads);
    return previous;
}
