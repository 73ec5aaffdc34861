/* tests/test_errors.c - every failure keeps the message of its cause (issue 14
 * point 1, kbit.h "kbit_last_error"):
 *  - allocation failures on demand (failalloc.c): for each op family, the
 *    checkpoint reader and writer and the whole conversions, allocation
 *    number 1, 2, ... is refused in turn (once, and from there on) until
 *    the call succeeds; every failure must carry a fresh message about
 *    memory, and a conversion must leave neither OUT nor a temporary;
 *  - disk full: conversions and the writer onto a 3 MiB tmpfs (mounted when
 *    this runs as root, else skipped with the reason);
 *  - a real out-of-memory: a conversion in a child process under RLIMIT_AS.
 * Files live in a scratch directory under the current one. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckutil.h"
#include "failalloc.h"
#include "tap.h"
#include "testutil.h"

static kbit_device *dev;
static char *root;

/* ------------------------------------------------------------------ */
/* The sweep                                                            */

typedef kbit_status (*run_fn)(void);
typedef int (*after_fn)(kbit_status st, char *why, size_t len);

/* Whether a message speaks of memory. */
static int about_memory(const char *m)
{
    return strcasestr(m, "memory") != NULL;
}

/* The output of an op whose run may recover from a refused allocation (a
 * kernel falling back to a way without a table): compared with the result
 * of an unhindered run. */
static const void *sweep_out;
static size_t sweep_out_bytes;
/* A call for which success after a refusal is right: kbit_device_open,
 * whose trial of its worker threads (pthread_create allocates) lowers the
 * thread count when one cannot start. */
static int sweep_may_recover;

/* Refuse allocation 1, 2, 3, ... of run() in turn; every refused run must
 * fail with a fresh message about memory (and pass `after`), or, for an op
 * with sweep_out set, succeed with the same result. Beyond the first 300
 * indices every 7th is tried (the calls are alike there). */
static void sweep(const char *what, run_fn run, after_fn after, int persistent)
{
    int tried = 0, bad = 0, recovered = 0;
    long total = 0;
    char first[1024] = "";
    void *want = NULL;
    if (sweep_out) {
        if (run() != KBIT_OK || (want = malloc(sweep_out_bytes)) == NULL)
            tap_bail("%s: %s", what, kbit_last_error());
        memcpy(want, sweep_out, sweep_out_bytes);
    }
    for (long at = 1;; at += at < 300 ? 1 : 7) {
        error_plant();
        kbit_device_trim(dev); /* so the workspace is allocated again: one more to refuse */
        failalloc_arm(at, persistent);
        kbit_status st = run();
        long count = failalloc_disarm();
        int fired = failalloc_fired();
        const char *m = kbit_last_error();
        char why[512] = "";
        if (!fired) {
            total = count;
            if (st != KBIT_OK) {
                bad++;
                snprintf(why, sizeof why, "fails without a refused allocation: %s", m);
            } else if (after)
                after(st, why, sizeof why);
            if (why[0] && !first[0])
                snprintf(first, sizeof first, "unarmed run: %s", why);
            break;
        }
        tried++;
        if (st == KBIT_OK && ((want && memcmp(want, sweep_out, sweep_out_bytes) == 0) ||
                              sweep_may_recover))
            recovered++;
        else if (st == KBIT_OK)
            snprintf(why, sizeof why, "succeeded although an allocation was refused%s",
                     want ? ", with a different result" : "");
        else if (m[0] == '\0')
            snprintf(why, sizeof why, "%s with an empty message", kbit_strerror(st));
        else if (strcmp(m, error_planted()) == 0)
            snprintf(why, sizeof why, "%s with the previous call's message", kbit_strerror(st));
        else if (!about_memory(m))
            snprintf(why, sizeof why, "%s, message \"%s\"", kbit_strerror(st), m);
        if (!why[0] && after)
            after(st, why, sizeof why);
        if (why[0]) {
            bad++;
            if (!first[0])
                snprintf(first, sizeof first, "allocation %ld refused: %s", at, why);
        }
        if (at > 100000)
            break;
    }
    if (!tap_ok(bad == 0 && tried > 0, "%s: %d of its %ld allocations refused (%s), each a "
                "failure naming memory%s", what, tried, total,
                persistent ? "from there on" : "one at a time",
                want ? " or the same result" : ""))
        tap_diag("%d bad; first: %s", bad, first);
    if (recovered)
        tap_diag("%s: %d refusals recovered from, same result", what, recovered);
    free(want);
    sweep_out = NULL;
    sweep_may_recover = 0;
}

/* ------------------------------------------------------------------ */
/* Op families                                                          */

#define N4 (64 * 1024)
static float *x4;
static uint8_t *packed4;
static uint16_t *out4;
static kbit_quant_state qs4;
static const int64_t shape4[2] = { 256, 256 };

static kbit_status run_quantize_nested(void)
{
    return kbit_quantize_4bit_state(dev, x4, packed4, &qs4);
}

static kbit_status run_dequantize_nested(void)
{
    return kbit_dequantize_4bit_state(dev, packed4, &qs4, KBIT_F16, out4);
}

static kbit_status run_state_alloc(void)
{
    kbit_quant_state s;
    kbit_status st = kbit_quant_state_init(&s, KBIT_FP4, KBIT_F32, 2, shape4, 64, 1);
    if (st == KBIT_OK && (st = kbit_quant_state_alloc(dev, &s)) == KBIT_OK)
        kbit_quant_state_release(dev, &s);
    return st;
}

static uint8_t *q8;
static float *absmax8;

/* A custom map: the built-in ones live on the device and need no
 * allocation, a custom one is uploaded through the call's workspace. */
static float linear_code[256];

static kbit_status run_quantize_8bit(void)
{
    for (int i = 0; i < 256; i++)
        linear_code[i] = -1.0f + 2.0f * (float)i / 255.0f;
    return kbit_quantize_8bit(dev, KBIT_F32, x4, N4, 256, linear_code, q8, absmax8);
}

static float *a_gemm, *out_gemm;

static kbit_status run_gemm4(void)
{
    return kbit_gemm_4bit(dev, a_gemm, KBIT_F32, 4, packed4, &qs4, NULL, out_gemm);
}

static kbit_status run_gemm4_prepare(void)
{
    kbit_gemm4_weight *w = NULL;
    kbit_status st = kbit_gemm_4bit_prepare(dev, packed4, &qs4, &w);
    if (st == KBIT_OK) {
        st = kbit_gemm_4bit_prepared(dev, a_gemm, KBIT_F32, 4, w, NULL, out_gemm);
        kbit_gemm_4bit_weight_destroy(w);
    }
    return st;
}

static uint16_t *x_int8, *y_int8;
static int8_t *cb_int8;
static float *scb_int8;

static kbit_status run_int8_forward(void)
{
    return kbit_int8_linear_forward(dev, KBIT_F16, x_int8, 8, 256, cb_int8, scb_int8, 256, 6.0f,
                                    NULL, y_int8);
}

static float *p_optim;

static kbit_status run_optim(void)
{
    kbit_optim_config cfg;
    kbit_optim_config_default(KBIT_OPTIM_ADAMW, &cfg);
    cfg.state_bits = 8;
    cfg.percentile_clipping = 5;
    kbit_optim_state *s = NULL;
    memcpy(p_optim, x4, N4 * 4);
    kbit_status st = kbit_optim_state_create(dev, &cfg, N4, KBIT_F32, &s);
    if (st == KBIT_OK)
        st = kbit_optim_step(dev, &cfg, s, p_optim, a_gemm, KBIT_F32, 1.0f);
    kbit_optim_state_release(s);
    return st;
}

static kbit_status run_device_open(void)
{
    kbit_device *d = NULL;
    kbit_status st = kbit_device_open("cpu", &d);
    if (st == KBIT_OK) {
        void *p = NULL;
        st = kbit_malloc(d, 1 << 20, &p);
        kbit_free(d, p);
    }
    kbit_device_close(d);
    return st;
}

static void setup_ops(void)
{
    rng r;
    rng_seed(&r, 14);
    x4 = dev_alloc(dev, N4 * 4);
    a_gemm = dev_alloc(dev, N4 * 4);
    p_optim = dev_alloc(dev, N4 * 4);
    packed4 = dev_alloc(dev, N4 / 2);
    out4 = dev_alloc(dev, N4 * 2);
    out_gemm = dev_alloc(dev, 4 * 256 * 4);
    q8 = dev_alloc(dev, N4);
    absmax8 = dev_alloc(dev, N4 / 256 * 4);
    for (int i = 0; i < N4; i++) {
        x4[i] = (float)rng_normal(&r);
        a_gemm[i] = (float)rng_normal(&r);
    }
    if (kbit_quant_state_init(&qs4, KBIT_NF4, KBIT_F32, 2, shape4, 64, 1) != KBIT_OK ||
        kbit_quant_state_alloc(dev, &qs4) != KBIT_OK ||
        kbit_quantize_4bit_state(dev, x4, packed4, &qs4) != KBIT_OK)
        tap_bail("4-bit set-up: %s", kbit_last_error());
    x_int8 = dev_alloc(dev, 8 * 256 * 2);
    y_int8 = dev_alloc(dev, 8 * 256 * 2);
    cb_int8 = dev_alloc(dev, 256 * 256);
    scb_int8 = dev_alloc(dev, 256 * 4);
    for (int i = 0; i < 8 * 256; i++)
        x_int8[i] = f32_to_f16(i % 97 == 3 ? 9.0f : (float)rng_normal(&r));
    if (kbit_int8_quantize_weight(dev, KBIT_F32, a_gemm, 256, 256, cb_int8, scb_int8) != KBIT_OK)
        tap_bail("int8 set-up: %s", kbit_last_error());
}

/* ------------------------------------------------------------------ */
/* Checkpoints and conversions                                          */

static char model[512], qmodel[512], out_path[512], single_in[512], single_out[512];
static kbit_quantize_options qopt;

/* After a conversion: on failure neither OUT nor a temporary of it exists; on
 * success OUT is removed for the next run. */
static int check_out(const char *out, int persistent, kbit_status st, char *why, size_t len)
{
    char dir[512], base[600], tmp[256];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    snprintf(base, sizeof base, "%s.kbit-", slash ? slash + 1 : dir);
    if (slash)
        *slash = '\0';
    if (st != KBIT_OK && ck_exists(out))
        snprintf(why, len, "failed, but %s exists", out);
    else if (!persistent && ck_count_prefix(slash ? dir : ".", base, tmp, sizeof tmp) > 0)
        snprintf(why, len, "left %s", tmp);
    ck_rm_rf(out);
    /* a leftover of a persistent failure is not checked, but must not stay */
    char p[1024];
    for (int i = 0; i < 4 && ck_count_prefix(slash ? dir : ".", base, tmp, sizeof tmp) > 0; i++) {
        snprintf(p, sizeof p, "%s/%s", slash ? dir : ".", tmp);
        ck_rm_rf(p);
    }
    return why[0] == '\0';
}

static int persistent_now;

static int after_conversion(kbit_status st, char *why, size_t len)
{
    return check_out(out_path, persistent_now, st, why, len);
}

static int after_single(kbit_status st, char *why, size_t len)
{
    return check_out(single_out, persistent_now, st, why, len);
}

static kbit_status run_quantize_dir(void)
{
    return kbit_checkpoint_quantize(dev, model, out_path, &qopt, NULL);
}

static kbit_status run_quantize_single(void)
{
    return kbit_checkpoint_quantize(dev, single_in, single_out, &qopt, NULL);
}

static kbit_status run_dequantize_dir(void)
{
    return kbit_checkpoint_dequantize(dev, qmodel, out_path, KBIT_BF16, 0, NULL, NULL, NULL);
}

static kbit_status run_open_and_load(void)
{
    kbit_checkpoint *ck = NULL;
    kbit_status st = kbit_checkpoint_open(qmodel, &ck);
    for (int64_t i = 0; st == KBIT_OK && i < kbit_checkpoint_count(ck); i++) {
        const char *name = kbit_checkpoint_name(ck, i);
        kbit_tensor_info info;
        void *t = NULL;
        if ((st = kbit_checkpoint_info(ck, name, &info)) != KBIT_OK)
            break;
        if (info.format == KBIT_WEIGHT_4BIT) {
            uint8_t *p = NULL;
            kbit_quant_state s;
            if ((st = kbit_checkpoint_load_4bit(ck, name, dev, &p, &s)) != KBIT_OK)
                break;
            kbit_free(dev, p);
            kbit_quant_state_release(dev, &s);
        }
        st = kbit_checkpoint_load_tensor(ck, name, dev, KBIT_F32, &t);
        kbit_free(dev, t);
    }
    kbit_checkpoint_close(ck);
    return st;
}

static kbit_status run_writer(void)
{
    kbit_checkpoint_writer *w = NULL;
    const int64_t shape[1] = { 256 };
    kbit_status st = kbit_checkpoint_writer_create(single_out, &w);
    if (st == KBIT_OK)
        st = kbit_checkpoint_writer_add(w, "a.bias", KBIT_F32, 1, shape, x4);
    if (st == KBIT_OK)
        st = kbit_checkpoint_writer_add_4bit(w, "a.weight", dev, packed4, &qs4);
    if (st == KBIT_OK)
        st = kbit_checkpoint_writer_add_int8(w, "b.weight", dev, cb_int8, scb_int8, 256, 256);
    if (st == KBIT_OK)
        return kbit_checkpoint_writer_finish(w);
    kbit_checkpoint_writer_discard(w);
    return st;
}

static void sweep_all(void)
{
    for (int persistent = 0; persistent <= 1; persistent++) {
        persistent_now = persistent;
        const char *tag = persistent ? " (persistent)" : "";
        char what[128];
#define SWEEP(fn, after, name)                                                                  \
    do {                                                                                        \
        snprintf(what, sizeof what, "%s%s", name, tag);                                         \
        sweep(what, fn, after, persistent);                                                     \
    } while (0)
        SWEEP(run_quantize_nested, NULL, "kbit_quantize_4bit_state (nested)");
        SWEEP(run_dequantize_nested, NULL, "kbit_dequantize_4bit_state (nested)");
        SWEEP(run_state_alloc, NULL, "kbit_quant_state_alloc");
        sweep_out = q8;
        sweep_out_bytes = N4;
        SWEEP(run_quantize_8bit, NULL, "kbit_quantize_8bit (custom map)");
        SWEEP(run_gemm4, NULL, "kbit_gemm_4bit (nested)");
        SWEEP(run_gemm4_prepare, NULL, "kbit_gemm_4bit_prepare + prepared");
        sweep_out = y_int8;
        sweep_out_bytes = 8 * 256 * 2;
        SWEEP(run_int8_forward, NULL, "kbit_int8_linear_forward (outliers)");
        sweep_out = p_optim;
        sweep_out_bytes = N4 * 4;
        SWEEP(run_optim, NULL, "kbit_optim_state_create + step (8-bit AdamW, clipping)");
        sweep_may_recover = 1;
        SWEEP(run_device_open, NULL, "kbit_device_open + kbit_malloc");
        SWEEP(run_open_and_load, NULL, "kbit_checkpoint_open + load every tensor");
        SWEEP(run_writer, after_single, "kbit_checkpoint_writer (plain, 4-bit, 8-bit)");
        qopt.bits = 4;
        qopt.double_quant = 1;
        SWEEP(run_quantize_dir, after_conversion, "kbit_checkpoint_quantize (2 shards, nested)");
        qopt.bits = 8;
        SWEEP(run_quantize_single, after_single, "kbit_checkpoint_quantize (file, 8-bit)");
        qopt.bits = 4;
        qopt.double_quant = 0;
        SWEEP(run_dequantize_dir, after_conversion, "kbit_checkpoint_dequantize (2 shards)");
    }
}

/* ------------------------------------------------------------------ */
/* Disk full                                                            */

/* A conversion onto a full file system: KBIT_EIO naming ENOSPC, no OUT, no
 * temporary. */
static void expect_enospc(kbit_status st, const char *dir, const char *out, const char *what)
{
    char tmp[256] = "";
    const char *m = kbit_last_error();
    int left = ck_count_prefix(dir, "", tmp, sizeof tmp);
    int ok = st == KBIT_EIO && strstr(m, "No space left on device") != NULL && !ck_exists(out) &&
             left == 0;
    if (!tap_ok(ok, "%s on a full disk: KBIT_EIO naming ENOSPC, nothing left behind", what))
        tap_diag("got %s, message \"%s\", %d entries left (%s)", kbit_strerror(st), m, left,
                 tmp);
    char p[1024];
    while (ck_count_prefix(dir, "", tmp, sizeof tmp) > 0) {
        snprintf(p, sizeof p, "%s/%s", dir, tmp);
        ck_rm_rf(p);
    }
}

static void disk_full(void)
{
    char mnt[600];
    snprintf(mnt, sizeof mnt, "%s/full", root);
    mkdir(mnt, 0755);
    if (mount("kbit-test", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=3m") != 0) {
        tap_skip("conversions on a full disk", "cannot mount a 3 MiB tmpfs (%s; needs root)",
                 strerror(errno));
        return;
    }
    /* a model of ~4.7 MB (fp16): the plain embedding and lm_head alone fill 3 MiB */
    char big[600], bigq[600], out[700], extra[700];
    snprintf(big, sizeof big, "%s/big", root);
    snprintf(bigq, sizeof bigq, "%s/big-nf4", root);
    if (ck_write_model(big, 2, 512, 2, KBIT_F16, 5) != 0)
        tap_bail("cannot write %s", big);
    kbit_quantize_options o;
    kbit_quantize_options_init(&o);
    snprintf(out, sizeof out, "%s/q", mnt);
    expect_enospc(kbit_checkpoint_quantize(dev, big, out, &o, NULL), mnt, out,
                  "kbit_checkpoint_quantize (directory)");
    o.skip_modules = (const char *const[]){ "none" };
    o.skip_count = 1;
    if (kbit_checkpoint_quantize(dev, big, bigq, &o, NULL) != KBIT_OK)
        tap_bail("quantize: %s", kbit_last_error());
    expect_enospc(kbit_checkpoint_dequantize(dev, bigq, out, KBIT_F32, 0, NULL, NULL, NULL), mnt,
                  out, "kbit_checkpoint_dequantize");
    /* the tensors fit, the copy of a large extra file does not */
    char *small = ck_scratch_dir("small");
    snprintf(extra, sizeof extra, "%s/vocab.txt", small);
    if (ck_write_model(small, 1, 32, 1, KBIT_F16, 6) != 0)
        tap_bail("cannot write %s", small);
    char *filler = calloc(1, 3 << 20);
    if (filler == NULL || ck_write_file(extra, filler, 3 << 20) != 0)
        tap_bail("cannot write %s", extra);
    free(filler);
    expect_enospc(kbit_checkpoint_quantize(dev, small, out, &o, NULL), mnt, out,
                  "kbit_checkpoint_quantize (copying a file)");
    /* the writer: 4 MB of plain data, and that file quantized (copied) */
    char in1[700];
    snprintf(in1, sizeof in1, "%s/plain.safetensors", root);
    snprintf(out, sizeof out, "%s/one.safetensors", mnt);
    const int64_t shape[1] = { 1 << 20 };
    void *data = calloc(1 << 20, 4);
    for (int k = 0; k < 2; k++) {
        kbit_checkpoint_writer *w = NULL;
        kbit_status st = kbit_checkpoint_writer_create(k ? out : in1, &w);
        if (st == KBIT_OK)
            st = kbit_checkpoint_writer_add(w, "w.bias", KBIT_F32, 1, shape, data);
        st = st == KBIT_OK ? kbit_checkpoint_writer_finish(w) : st;
        if (k == 0 && st != KBIT_OK)
            tap_bail("cannot write %s: %s", in1, kbit_last_error());
        if (k == 1)
            expect_enospc(st, mnt, out, "kbit_checkpoint_writer_finish");
    }
    expect_enospc(kbit_checkpoint_quantize(dev, in1, out, &o, NULL), mnt, out,
                  "kbit_checkpoint_quantize (single file)");
    /* only weights to quantize: the write that fails is a 4-bit tensor's
     * (whose clean-up frees device buffers), then an 8-bit one's */
    const int64_t wshape[2] = { 1024, 1024 };
    kbit_checkpoint_writer *w = NULL;
    kbit_status st = kbit_checkpoint_writer_create(in1, &w);
    for (int k = 0; k < 14 && st == KBIT_OK; k++) {
        char name[64];
        snprintf(name, sizeof name, "layers.%d.proj.weight", k);
        st = kbit_checkpoint_writer_add(w, name, KBIT_F16, 2, wshape, data);
    }
    if (st != KBIT_OK || kbit_checkpoint_writer_finish(w) != KBIT_OK)
        tap_bail("cannot write %s: %s", in1, kbit_last_error());
    free(data);
    expect_enospc(kbit_checkpoint_quantize(dev, in1, out, &o, NULL), mnt, out,
                  "kbit_checkpoint_quantize (4-bit weights only)");
    o.bits = 8;
    expect_enospc(kbit_checkpoint_quantize(dev, in1, out, &o, NULL), mnt, out,
                  "kbit_checkpoint_quantize (8-bit weights only)");
    umount(mnt);
    ck_rm_rf(small);
}

/* ------------------------------------------------------------------ */
/* A real out-of-memory                                                 */

/* Virtual memory of this process now, in bytes. */
static uint64_t vm_size(void)
{
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void rlimit_as(void)
{
    char in[600], out[600];
    snprintf(in, sizeof in, "%s/wide.safetensors", root);
    snprintf(out, sizeof out, "%s/wide-nf4.safetensors", root);
    /* one 4096 x 4096 fp32 weight: 64 MiB to read and 8 MiB to write */
    kbit_checkpoint_writer *w = NULL;
    const int64_t shape[2] = { 4096, 4096 };
    float *data = calloc((size_t)4096 * 4096, 4);
    if (data == NULL || kbit_checkpoint_writer_create(in, &w) != KBIT_OK ||
        kbit_checkpoint_writer_add(w, "layer.weight", KBIT_F32, 2, shape, data) != KBIT_OK ||
        kbit_checkpoint_writer_finish(w) != KBIT_OK)
        tap_bail("cannot write %s: %s", in, kbit_last_error());
    free(data);
    if (vm_size() == 0) {
        tap_skip("a conversion under RLIMIT_AS", "no /proc/self/statm");
        return;
    }
    int fds[2];
    if (pipe(fds) != 0)
        tap_bail("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        struct rlimit rl = { vm_size() + (24u << 20), vm_size() + (24u << 20) };
        setrlimit(RLIMIT_AS, &rl);
        kbit_quantize_options o;
        kbit_quantize_options_init(&o);
        kbit_status st = kbit_checkpoint_quantize(dev, in, out, &o, NULL);
        char msg[600];
        int n = snprintf(msg, sizeof msg, "%d %s", (int)st, kbit_last_error());
        if (write(fds[1], msg, (size_t)n) != n)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    char msg[600] = "";
    ssize_t k = read(fds[0], msg, sizeof msg - 1);
    msg[k > 0 ? k : 0] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int st = atoi(msg);
    const char *text = strchr(msg, ' ');
    char tmp[256];
    int left = ck_count_prefix(root, "wide-nf4.safetensors", tmp, sizeof tmp);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && st != KBIT_OK && text &&
             about_memory(text) && left == 0;
    if (!tap_ok(ok, "a conversion under RLIMIT_AS: a failure naming memory, nothing left"))
        tap_diag("child status 0x%x, reported \"%s\", %d outputs left", status, msg, left);
    unlink(in);
}

int main(void)
{
    root = ck_scratch_dir("test_errors");
    if (kbit_device_open("cpu", &dev) != KBIT_OK)
        tap_bail("cpu device: %s", kbit_last_error());
    kbit_device_set_threads(dev, 1); /* no OpenMP team: libgomp cannot fail politely */
    setup_ops();
    snprintf(model, sizeof model, "%s/model", root);
    snprintf(qmodel, sizeof qmodel, "%s/model-nf4", root);
    snprintf(out_path, sizeof out_path, "%s/out", root);
    snprintf(single_in, sizeof single_in, "%s/model/model-00002-of-00002.safetensors", root);
    snprintf(single_out, sizeof single_out, "%s/one.safetensors", root);
    if (ck_write_model(model, 2, 64, 2, KBIT_F16, 1) != 0)
        tap_bail("cannot write %s", model);
    kbit_quantize_options_init(&qopt);
    qopt.double_quant = 1;
    if (kbit_checkpoint_quantize(dev, model, qmodel, &qopt, NULL) != KBIT_OK)
        tap_bail("quantize: %s", kbit_last_error());
    rlimit_as();
    sweep_all();
    disk_full();
    kbit_device_close(dev);
    ck_rm_rf(root);
    return tap_done();
}
