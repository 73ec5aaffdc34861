/* tests/test_threads.c - what the driver ABI v2 promises to threads that
 * share a device:
 *  - streams are bound per thread: two threads with their own streams on one
 *    device never see each other's (testref records the stream each of its
 *    ops ran on, per thread: kbit_testref_last_stream);
 *  - each thread has its own workspace: ops that keep intermediates there
 *    (a nested 4-bit matmul, the LLM.int8() forward) run from several threads
 *    at once give the bits of the same ops run one by one, on the built-in
 *    CPU driver and on testref (which scribbles over its part of the
 *    workspace in every op);
 *  - the binding of a thread that exits is handed to the next thread: a
 *    stream of short-lived threads does not grow the device's bindings. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "tap.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Streams                                                              */

typedef void *(*last_stream_fn)(void);
static last_stream_fn testref_last_stream;

typedef struct stream_job {
    kbit_device *dev;
    void *stream;
    int ops, wrong;        /* ops run, ops that ran on another stream */
    kbit_status first_error;
} stream_job;

static void *stream_worker(void *arg)
{
    stream_job *j = arg;
    if ((j->first_error = kbit_device_set_stream(j->dev, j->stream)) != KBIT_OK)
        return NULL;
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)(i - 128) * 0.01f;
    void *x_d = dev_upload(j->dev, x, sizeof x);
    void *p_d = dev_alloc(j->dev, 128), *a_d = dev_alloc(j->dev, 16);
    for (int k = 0; k < 500; k++) {
        kbit_status st = kbit_quantize_4bit(j->dev, KBIT_NF4, KBIT_F32, x_d, 256, 64, p_d, a_d);
        if (st != KBIT_OK && j->first_error == KBIT_OK)
            j->first_error = st;
        j->ops++;
        if (testref_last_stream() != j->stream)
            j->wrong++;
    }
    if (kbit_sync(j->dev) != KBIT_OK && j->first_error == KBIT_OK)
        j->first_error = KBIT_EDRIVER;
    dev_free(j->dev, x_d);
    dev_free(j->dev, p_d);
    dev_free(j->dev, a_d);
    return NULL;
}

static void check_streams(void)
{
    kbit_device *dev = NULL;
    if (kbit_device_open("testref", &dev) != KBIT_OK) {
        tap_skip("streams per thread", "no testref driver: %s", kbit_last_error());
        return;
    }
    kbit_driver_report r;
    int count = 0;
    const char *path = NULL;
    kbit_driver_count(&count);
    for (int i = 0; i < count; i++)
        if (kbit_driver_get(i, &r) == KBIT_OK && r.loaded && strcmp(r.name, "testref") == 0)
            path = r.path;
    void *lib = path ? dlopen(path, RTLD_NOW | RTLD_NOLOAD) : NULL;
    void *sym = lib ? dlsym(lib, "kbit_testref_last_stream") : NULL;
    if (sym == NULL) {
        tap_skip("streams per thread", "testref has no kbit_testref_last_stream symbol");
        kbit_device_close(dev);
        return;
    }
    memcpy(&testref_last_stream, &sym, sizeof sym);

    stream_job jobs[3] = { { dev, (void *)(uintptr_t)0x1000, 0, 0, KBIT_OK },
                           { dev, (void *)(uintptr_t)0x2000, 0, 0, KBIT_OK },
                           { dev, NULL, 0, 0, KBIT_OK } };
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, stream_worker, &jobs[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        tap_ok(jobs[i].first_error == KBIT_OK && jobs[i].ops == 500 && jobs[i].wrong == 0,
               "thread %d with stream %p: %d ops, %d on another stream (%s)", i, jobs[i].stream,
               jobs[i].ops, jobs[i].wrong, kbit_strerror(jobs[i].first_error));
    /* this thread never bound one: its ops go to the device's own (NULL) */
    float x[64] = { 0 };
    void *x_d = dev_upload(dev, x, sizeof x);
    dev_free(dev, x_d);
    tap_ok(testref_last_stream() == NULL, "the main thread's copies still use the device's own "
                                          "stream");
    kbit_device_close(dev);

    kbit_device *cpu = NULL;
    if (kbit_device_open("cpu", &cpu) == KBIT_OK) {
        kbit_status st = kbit_device_set_stream(cpu, (void *)(uintptr_t)0x1000);
        tap_ok(st == KBIT_ENOTSUP && strstr(kbit_last_error(), "no streams") != NULL,
               "the cpu driver refuses a stream: %s", kbit_last_error());
        tap_ok(kbit_device_set_stream(cpu, NULL) == KBIT_OK, "the cpu driver accepts NULL");
        kbit_device_close(cpu);
    }
}

/* ------------------------------------------------------------------ */
/* Workspaces under concurrency                                          */

/* One thread's problem: a nested NF4 weight [N, K], activations, an int8
 * weight; and its results. */
enum { N = 96, K = 520, M = 3 };

typedef struct problem {
    kbit_device *dev;
    uint64_t seed;
    int rounds;
    float out4[M * N], out8[M * N];
    kbit_status st;
} problem;

static void solve(problem *p)
{
    kbit_device *dev = p->dev;
    rng r;
    rng_seed(&r, p->seed);
    static _Thread_local float w[N * K], a[M * K];
    for (int i = 0; i < N * K; i++)
        w[i] = (float)rng_normal(&r) * (i % 97 == 0 ? 8.0f : 0.1f);
    for (int i = 0; i < M * K; i++)
        a[i] = (float)rng_normal(&r);
    a[5] = 9.0f; /* an outlier column for LLM.int8() */
    const int64_t shape[2] = { N, K };
    kbit_quant_state qs;
    void *w_d = dev_upload(dev, w, sizeof w), *a_d = dev_upload(dev, a, sizeof a);
    uint8_t *packed = dev_alloc(dev, (size_t)kbit_packed_4bit_bytes(N * K));
    int8_t *cb = dev_alloc(dev, N * K);
    float *scb = dev_alloc(dev, N * 4), *o4 = dev_alloc(dev, sizeof p->out4),
          *o8 = dev_alloc(dev, sizeof p->out8);
    kbit_status st;
    if ((st = kbit_quant_state_init(&qs, KBIT_NF4, KBIT_F32, 2, shape, 64, 1)) != KBIT_OK ||
        (st = kbit_quant_state_alloc(dev, &qs)) != KBIT_OK ||
        (st = kbit_quantize_4bit_state(dev, w_d, packed, &qs)) != KBIT_OK ||
        (st = kbit_int8_quantize_weight(dev, KBIT_F32, w_d, N, K, cb, scb)) != KBIT_OK) {
        p->st = st;
        return;
    }
    for (int k = 0; k < p->rounds && st == KBIT_OK; k++)
        if ((st = kbit_gemm_4bit(dev, a_d, KBIT_F32, M, packed, &qs, NULL, o4)) != KBIT_OK ||
            (st = kbit_int8_linear_forward(dev, KBIT_F32, a_d, M, K, cb, scb, N, 6.0f, NULL,
                                           o8)) != KBIT_OK)
            break;
    if (st == KBIT_OK) {
        dev_download(dev, p->out4, o4, sizeof p->out4);
        dev_download(dev, p->out8, o8, sizeof p->out8);
    }
    p->st = st;
    kbit_quant_state_release(dev, &qs);
    dev_free(dev, w_d);
    dev_free(dev, a_d);
    dev_free(dev, packed);
    dev_free(dev, cb);
    dev_free(dev, scb);
    dev_free(dev, o4);
    dev_free(dev, o8);
}

static void *solve_thread(void *arg)
{
    solve(arg);
    return NULL;
}

enum { WORKERS = 4 };

static void check_workspaces(const char *spec)
{
    kbit_device *dev = NULL;
    if (kbit_device_open(spec, &dev) != KBIT_OK) {
        tap_skip("workspaces under concurrency", "%s: %s", spec, kbit_last_error());
        return;
    }
    static problem alone[WORKERS], together[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        alone[i] = (problem){ .dev = dev, .seed = 1000 + (uint64_t)i, .rounds = 1 };
        together[i] = (problem){ .dev = dev, .seed = 1000 + (uint64_t)i, .rounds = 20 };
        solve(&alone[i]);
    }
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, solve_thread, &together[i]);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    size_t bad = 0;
    int ok = 1;
    for (int i = 0; i < WORKERS; i++) {
        ok &= alone[i].st == KBIT_OK && together[i].st == KBIT_OK;
        bad += tap_cmp_f32(together[i].out4, alone[i].out4, M * N, "gemm4 nested");
        bad += tap_cmp_f32(together[i].out8, alone[i].out8, M * N, "int8 forward");
    }
    tap_ok(ok && bad == 0,
           "%s: %d threads x 20 rounds of a nested 4-bit matmul and an LLM.int8() forward "
           "(workspace intermediates) give the bits of the same ops one by one", spec, WORKERS);
    kbit_device_close(dev);
}

/* ------------------------------------------------------------------ */
/* Thread exits                                                         */

static int binding_count(kbit_device *dev)
{
    int n = 0;
    pthread_mutex_lock(&dev->lock);
    for (kbit_binding *b = dev->bindings; b; b = b->next)
        n++;
    pthread_mutex_unlock(&dev->lock);
    return n;
}

static void *short_lived(void *arg)
{
    problem *p = arg;
    solve(p);
    return NULL;
}

static void check_thread_exits(void)
{
    kbit_device *dev = NULL;
    if (kbit_device_open("cpu", &dev) != KBIT_OK) {
        tap_ok(0, "open cpu: %s", kbit_last_error());
        return;
    }
    problem ref = { .dev = dev, .seed = 7, .rounds = 1 };
    solve(&ref);
    int before = binding_count(dev), wrong = 0;
    for (int i = 0; i < 40; i++) {
        static problem p;
        p = (problem){ .dev = dev, .seed = 7, .rounds = 1 };
        pthread_t t;
        pthread_create(&t, NULL, short_lived, &p);
        pthread_join(t, NULL);
        wrong += p.st != KBIT_OK || memcmp(p.out4, ref.out4, sizeof p.out4) != 0 ||
                 memcmp(p.out8, ref.out8, sizeof p.out8) != 0;
    }
    int after = binding_count(dev);
    tap_ok(wrong == 0 && after <= before + 1,
           "40 short-lived threads one after another: right bits (%d wrong), bindings %d -> %d "
           "(an exited thread's binding is reused)", wrong, before, after);
    kbit_device_close(dev);
}

int main(void)
{
    check_streams();
    check_workspaces("cpu");
    check_workspaces("testref");
    check_thread_exits();
    return tap_done();
}
