/* tests/test_ckhostile.c - checkpoints against a hostile file system and
 * hostile headers (issue 14 points 2, 3, 4, 5 and 6):
 *  - time: 50 000 tensors in one file take at most 30 times as long as
 *    5 000 (the ratio of CPU times, min of repeated runs, so that other load
 *    on the machine and the disk's flushes do not count: linear is 10, caches
 *    make it about 15-20 here, quadratic is 100), for a conversion and for
 *    the public writer;
 *  - FIFOs as the input, a shard of the index, config.json, model.safetensors
 *    or a file to copy: refused at once (under an alarm: a hang fails);
 *    symlinks to regular files are followed and copied as files;
 *  - an input truncated by another thread during a conversion: KBIT_EIO, no
 *    crash (the conversion runs in a child: SIGBUS would show), no OUT and
 *    no temporary;
 *  - temporaries of dead processes removed by the next run, those of live
 *    ones (their pid, or their lock) kept, a set-aside OUT put back;
 *  - limits (limits.h): what the writer accepts the reader reads back, so an
 *    empty weight of shape [0, 2^63-1], names over 1024 bytes and auxiliary
 *    names that would be are refused cleanly (point 6);
 *  - config.json as Python's json reads it, back as its json.dumps writes it,
 *    and the real reason when it refuses one (point 8). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/limits.h"
#include "ckutil.h"
#include "tap.h"
#include "testutil.h"

static kbit_device *dev;
static char *root;

static char *path_in(const char *fmt, const char *name)
{
    static char bufs[8][1024];
    static int k;
    char *p = bufs[k++ % 8];
    char n[512];
    snprintf(n, sizeof n, fmt, name);
    snprintf(p, 1024, "%s/%s", root, n);
    return p;
}

/* Entries next to out that belong to it (out.kbit-...). */
static int leftovers(const char *out)
{
    char base[600];
    const char *slash = strrchr(out, '/');
    snprintf(base, sizeof base, "%s.kbit-", slash ? slash + 1 : out);
    char dir[600];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - out) : 1, slash ? out : ".");
    return ck_count_prefix(dir, base, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Time: O(n log n) in the tensor count                                 */

/* CPU time of this process (all threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double time_quantize(const char *in, const char *out)
{
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        ck_rm_rf(out);
        double t0 = cpu_now();
        kbit_status st = kbit_checkpoint_quantize(dev, in, out, NULL, NULL);
        double t = cpu_now() - t0;
        if (st != KBIT_OK) {
            tap_diag("quantize %s: %s", in, kbit_last_error());
            return -1;
        }
        best = t < best ? t : best;
    }
    ck_rm_rf(out);
    return best;
}

static double time_writer(const char *out, int64_t count)
{
    double best = 1e9;
    const float one = 1.0f;
    const int64_t shape[1] = { 1 };
    for (int rep = 0; rep < 5; rep++) {
        unlink(out);
        double t0 = cpu_now();
        kbit_checkpoint_writer *w = NULL;
        kbit_status st = kbit_checkpoint_writer_create(out, &w);
        char name[64];
        for (int64_t i = 0; i < count && st == KBIT_OK; i++) {
            snprintf(name, sizeof name, "layer.%lld.bias", (long long)i);
            st = kbit_checkpoint_writer_add(w, name, KBIT_F32, 1, shape, &one);
        }
        st = st == KBIT_OK ? kbit_checkpoint_writer_finish(w) : st;
        double t = cpu_now() - t0;
        if (st != KBIT_OK) {
            tap_diag("writer: %s", kbit_last_error());
            return -1;
        }
        best = t < best ? t : best;
    }
    unlink(out);
    return best;
}

static void scale(void)
{
    char *small = path_in("%s", "many-5k.safetensors"), *big = path_in("%s", "many-50k.safetensors");
    char *out = path_in("%s", "many-out.safetensors");
    if (ck_write_many(small, 5000) != 0 || ck_write_many(big, 50000) != 0)
        tap_bail("cannot write the many-tensor files");
    double t5 = time_quantize(small, out), t50 = time_quantize(big, out);
    double r = t5 > 0 ? t50 / t5 : 0;
    tap_ok(t5 > 0 && t50 > 0 && r < 30,
           "a conversion of 50 000 tensors takes %.1f times the CPU time of 5 000 (%.3f s, "
           "%.3f s; bound 30, quadratic is 100)", r, t50, t5);
    double w5 = time_writer(out, 5000), w50 = time_writer(out, 50000);
    r = w5 > 0 ? w50 / w5 : 0;
    tap_ok(w5 > 0 && w50 > 0 && r < 30,
           "the writer with 50 000 tensors takes %.1f times the CPU time of 5 000 (%.3f s, "
           "%.3f s; bound 30)", r, w50, w5);
    unlink(small);
    unlink(big);
}

/* ------------------------------------------------------------------ */
/* FIFOs and symlinks                                                   */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "not ok - a call blocked on a FIFO (alarm after 30 s)\n";
    if (write(1, msg, sizeof msg - 1) < 0)
        _exit(2);
    _exit(1);
}

/* A refused input: KBIT_EIO naming what it is, nothing written. */
static void expect_fifo(kbit_status st, const char *out, const char *what)
{
    const char *m = kbit_last_error();
    int ok = st == KBIT_EIO && strstr(m, "FIFO") != NULL && !ck_exists(out) && leftovers(out) == 0;
    if (!tap_ok(ok, "%s: refused at once, KBIT_EIO naming the FIFO, nothing written", what))
        tap_diag("got %s, \"%s\", OUT %s, %d leftovers", kbit_strerror(st), m,
                 ck_exists(out) ? "exists" : "absent", leftovers(out));
    ck_rm_rf(out);
}

static void fifos(void)
{
    signal(SIGALRM, on_alarm);
    alarm(30);
    char *out = path_in("%s", "fifo-out");
    /* the input itself */
    char *fifo = path_in("%s", "in.safetensors");
    mkfifo(fifo, 0644);
    kbit_checkpoint *ck = NULL;
    kbit_status st = kbit_checkpoint_open(fifo, &ck);
    tap_ok(st == KBIT_EIO && strstr(kbit_last_error(), "FIFO"),
           "kbit_checkpoint_open of a FIFO: KBIT_EIO at once (\"%s\")", kbit_last_error());
    expect_fifo(kbit_checkpoint_quantize(dev, fifo, out, NULL, NULL), out, "IN is a FIFO");
    unlink(fifo);
    /* inside a model directory */
    static const char *const victims[] = { "model-00002-of-00002.safetensors", "config.json",
                                           "tokenizer.json", "1_Pooling/config.json",
                                           "model.safetensors.index.json" };
    static const char *const whats[] = { "a shard named by the index is a FIFO",
                                         "config.json is a FIFO",
                                         "a file to copy (tokenizer.json) is a FIFO",
                                         "a file in a subdirectory is a FIFO",
                                         "the index is a FIFO" };
    for (int i = 0; i < 5; i++) {
        char *model = path_in("%s", "fifo-model");
        ck_rm_rf(model);
        if (ck_write_model(model, 1, 32, 2, KBIT_F16, 3) != 0)
            tap_bail("cannot write %s", model);
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", model, victims[i]);
        unlink(p);
        mkfifo(p, 0644);
        expect_fifo(kbit_checkpoint_quantize(dev, model, out, NULL, NULL), out, whats[i]);
    }
    /* model.safetensors of an unsharded directory */
    char *model = path_in("%s", "fifo-model");
    ck_rm_rf(model);
    if (ck_write_model(model, 1, 32, 1, KBIT_F16, 3) != 0)
        tap_bail("cannot write %s", model);
    char p[1200], q[1200];
    snprintf(p, sizeof p, "%s/model.safetensors", model);
    unlink(p);
    mkfifo(p, 0644);
    expect_fifo(kbit_checkpoint_quantize(dev, model, out, NULL, NULL), out,
                "model.safetensors is a FIFO");
    alarm(0);

    /* symlinks to regular files (a Hugging Face cache snapshot) are copied as files */
    ck_rm_rf(model);
    if (ck_write_model(model, 1, 32, 1, KBIT_F16, 3) != 0)
        tap_bail("cannot write %s", model);
    snprintf(p, sizeof p, "%s/tokenizer.json", model);
    snprintf(q, sizeof q, "%s/blob-tokenizer", root);
    rename(p, q);
    int linked = symlink("../blob-tokenizer", p) == 0;
    st = kbit_checkpoint_quantize(dev, model, out, NULL, NULL);
    snprintf(p, sizeof p, "%s/tokenizer.json", out);
    struct stat sb;
    size_t len = 0;
    char *text = ck_read_file(p, &len);
    tap_ok(linked && st == KBIT_OK && lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && text &&
               strcmp(text, "{\"tok\": 1}\n") == 0,
           "a symlink to a regular file is copied as a regular file with its content");
    free(text);
    ck_rm_rf(out);
    ck_rm_rf(model);
    unlink(q);
}

/* ------------------------------------------------------------------ */
/* Truncation while converting                                          */

typedef struct trunc_job {
    const char *path;
    off_t to;
    int fired;
} trunc_job;

static void *truncate_now(void *arg)
{
    trunc_job *j = arg;
    if (truncate(j->path, j->to) != 0)
        j->fired = -1;
    return NULL;
}

/* Progress callback: after the first tensor, another thread truncates the
 * input (and is waited for, so the rest of the conversion reads a short file). */
static void truncate_after_first(void *ctx, const char *name, int64_t done, int64_t total,
                                 uint64_t bytes_done, uint64_t bytes_total)
{
    (void)name;
    (void)total;
    (void)bytes_done;
    (void)bytes_total;
    trunc_job *j = ctx;
    if (done != 1 || j->fired)
        return;
    pthread_t th;
    if (pthread_create(&th, NULL, truncate_now, j) == 0) {
        pthread_join(th, NULL);
        j->fired = j->fired ? j->fired : 1;
    }
}

/* Run a conversion of `in` in a child whose progress truncates `file` (in
 * itself or its shard). */
static void truncated_run(const char *in, const char *file, const char *out, int dequantize,
                          const char *what)
{
    struct stat sb;
    stat(file, &sb);
    int fds[2];
    if (pipe(fds) != 0)
        tap_bail("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        trunc_job j = { file, (off_t)(sb.st_size / 3), 0 };
        kbit_status st;
        if (dequantize)
            st = kbit_checkpoint_dequantize(dev, in, out, KBIT_F16, 0, truncate_after_first, &j,
                                            NULL);
        else {
            kbit_quantize_options o;
            kbit_quantize_options_init(&o);
            o.progress = truncate_after_first;
            o.progress_ctx = &j;
            st = kbit_checkpoint_quantize(dev, in, out, &o, NULL);
        }
        char msg[700];
        int n = snprintf(msg, sizeof msg, "%d %d %s", (int)st, j.fired, kbit_last_error());
        if (write(fds[1], msg, (size_t)n) != n)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    char msg[700] = "";
    ssize_t k = read(fds[0], msg, sizeof msg - 1);
    msg[k > 0 ? k : 0] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int st = -1, fired = 0;
    sscanf(msg, "%d %d", &st, &fired);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && fired == 1 && st == KBIT_EIO &&
             strstr(msg, "truncated") != NULL && !ck_exists(out) && leftovers(out) == 0;
    if (!tap_ok(ok, "%s: the input truncated by another thread mid-way: KBIT_EIO, no crash, "
                "nothing left", what))
        tap_diag("child %s %d; reported \"%s\"; OUT %s, %d leftovers",
                 WIFSIGNALED(status) ? "killed by signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), msg,
                 ck_exists(out) ? "exists" : "absent", leftovers(out));
    ck_rm_rf(out);
}

static void truncation(void)
{
    char *model = path_in("%s", "trunc-model"), *out = path_in("%s", "trunc-out");
    char *qmodel = path_in("%s", "trunc-model-nf4");
    char in[1200];
    if (ck_write_model(model, 3, 128, 1, KBIT_F16, 4) != 0)
        tap_bail("cannot write %s", model);
    if (kbit_checkpoint_quantize(dev, model, qmodel, NULL, NULL) != KBIT_OK)
        tap_bail("quantize: %s", kbit_last_error());
    char qin[1200];
    snprintf(in, sizeof in, "%s/model.safetensors", model);
    snprintf(qin, sizeof qin, "%s/model.safetensors", qmodel);
    truncated_run(model, in, out, 0, "kbit_checkpoint_quantize (directory)");
    truncated_run(qmodel, qin, out, 1, "kbit_checkpoint_dequantize");
    ck_rm_rf(model);
    if (ck_write_model(model, 3, 128, 1, KBIT_F16, 4) != 0)
        tap_bail("cannot write %s", model);
    truncated_run(in, in, path_in("%s", "trunc-one.safetensors"), 0,
                  "kbit_checkpoint_quantize (file)");
    /* and a load after the file shrank */
    ck_rm_rf(model);
    ck_rm_rf(qmodel);
    if (ck_write_model(model, 1, 128, 1, KBIT_F16, 4) != 0 ||
        kbit_checkpoint_quantize(dev, model, qmodel, NULL, NULL) != KBIT_OK)
        tap_bail("model: %s", kbit_last_error());
    snprintf(in, sizeof in, "%s/model.safetensors", qmodel);
    kbit_checkpoint *ck = NULL;
    if (kbit_checkpoint_open(qmodel, &ck) != KBIT_OK)
        tap_bail("open: %s", kbit_last_error());
    if (truncate(in, 64) != 0)
        tap_bail("truncate");
    void *t = NULL;
    kbit_status st = kbit_checkpoint_load_tensor(ck, "model.layers.0.mlp.up_proj.weight", dev,
                                                 KBIT_F32, &t);
    tap_ok(st == KBIT_EIO && strstr(kbit_last_error(), "truncated"),
           "kbit_checkpoint_load_tensor after the file shrank: KBIT_EIO (\"%s\")",
           kbit_last_error());
    kbit_checkpoint_close(ck);
    ck_rm_rf(model);
    ck_rm_rf(qmodel);
}

/* ------------------------------------------------------------------ */
/* Stale temporaries                                                    */

static long dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return (long)pid;
}

static void stale(void)
{
    char *model = path_in("%s", "stale-model"), *out = path_in("%s", "stale-out");
    if (ck_write_model(model, 1, 32, 1, KBIT_F16, 8) != 0)
        tap_bail("cannot write %s", model);
    long dead = dead_pid();
    char gone[1200], gone_file[1300], mine[1200], locked[1200], other[1200];
    snprintf(gone, sizeof gone, "%s.kbit-tmp-%ld-1-1700000000000000000", out, dead);
    snprintf(gone_file, sizeof gone_file, "%s/model.safetensors", gone);
    snprintf(mine, sizeof mine, "%s.kbit-tmp-%ld-9-1700000000000000000", out, (long)getpid());
    snprintf(locked, sizeof locked, "%s.kbit-tmp-%ld-2-1700000000000000000", out, dead);
    snprintf(other, sizeof other, "%s.kbit-tmp-%ld-x-1700000000000000000", out, dead);
    mkdir(gone, 0755);
    ck_write_file(gone_file, "x", 1);
    mkdir(mine, 0755);
    ck_write_file(locked, "y", 1);
    ck_write_file(other, "z", 1);
    int lock = open(locked, O_RDONLY);
    int held = lock >= 0 && flock(lock, LOCK_EX) == 0; /* a live builder elsewhere */
    kbit_status st = kbit_checkpoint_quantize(dev, model, out, NULL, NULL);
    tap_ok(st == KBIT_OK && !ck_exists(gone) && ck_exists(mine) && held && ck_exists(locked) &&
               ck_exists(other),
           "a conversion removes the temporary of a dead process, keeps those of a live pid, "
           "of a lock holder, and names not of its own form");
    close(lock);
    int removed = -1;
    st = kbit_checkpoint_remove_stale(out, &removed);
    tap_ok(st == KBIT_OK && removed == 1 && !ck_exists(locked) && ck_exists(mine),
           "kbit_checkpoint_remove_stale: the unlocked one goes now (%d removed)", removed);
    /* an OUT set aside by a replace that was killed comes back */
    char old[1200];
    snprintf(old, sizeof old, "%s.kbit-old-%ld-3-1700000000000000000", out, dead);
    rename(out, old);
    st = kbit_checkpoint_remove_stale(out, &removed);
    char cfg[1300];
    snprintf(cfg, sizeof cfg, "%s/config.json", out);
    tap_ok(st == KBIT_OK && removed == 1 && ck_exists(cfg) && !ck_exists(old),
           "an OUT set aside (kbit-old) with no OUT in its place is put back");
    /* with OUT in place, a leftover kbit-old is removed */
    mkdir(old, 0755);
    st = kbit_checkpoint_remove_stale(out, &removed);
    tap_ok(st == KBIT_OK && removed == 1 && ck_exists(cfg) && !ck_exists(old),
           "a kbit-old leftover next to a complete OUT is removed");
    rmdir(mine);
    unlink(other);
    ck_rm_rf(out);
    ck_rm_rf(model);
}

/* ------------------------------------------------------------------ */
/* Limits                                                               */

static void limits(void)
{
    char *in = path_in("%s", "huge-empty.safetensors"), *out = path_in("%s", "huge-out.safetensors");
    ck_write_st(in, "{\"w.weight\":{\"dtype\":\"F16\",\"shape\":[0,9223372036854775807],"
                    "\"data_offsets\":[0,0]},\"w.bias\":{\"dtype\":\"F16\",\"shape\":[1],"
                    "\"data_offsets\":[0,2]}}", NULL, 2);
    kbit_status st = kbit_checkpoint_quantize(dev, in, out, NULL, NULL);
    kbit_checkpoint *ck = NULL;
    kbit_status back = ck_exists(out) ? kbit_checkpoint_open(out, &ck) : KBIT_OK;
    kbit_checkpoint_close(ck);
    tap_ok(st == KBIT_EFORMAT && strstr(kbit_last_error(), "2^48") && !ck_exists(out) &&
               back == KBIT_OK,
           "an empty weight [0, 2^63-1] is refused on reading (\"%s\"), nothing written",
           kbit_last_error());
    ck_rm_rf(out);

    const int64_t huge[2] = { 0, INT64_MAX };
    kbit_checkpoint_writer *w = NULL;
    if (kbit_checkpoint_writer_create(out, &w) != KBIT_OK)
        tap_bail("writer: %s", kbit_last_error());
    st = kbit_checkpoint_writer_add(w, "w.weight", KBIT_F16, 2, huge, NULL);
    tap_ok(st == KBIT_EINVAL && strstr(kbit_last_error(), "2^48"),
           "kbit_checkpoint_writer_add of [0, 2^63-1]: KBIT_EINVAL (\"%s\")", kbit_last_error());
    kbit_quant_state qs;
    st = kbit_quant_state_init(&qs, KBIT_NF4, KBIT_F16, 2, huge, 64, 0);
    if (st == KBIT_OK)
        st = kbit_checkpoint_writer_add_4bit(w, "w.weight", dev, NULL, &qs);
    tap_ok(st == KBIT_EINVAL && strstr(kbit_last_error(), "2^48"),
           "kbit_checkpoint_writer_add_4bit of an empty [0, 2^63-1] state: KBIT_EINVAL");
    st = kbit_checkpoint_writer_add_int8(w, "v.weight", dev, NULL, NULL, 0,
                                         KBIT_CHECKPOINT_MAX_DIM + 1);
    tap_ok(st == KBIT_EINVAL && strstr(kbit_last_error(), "2^48"),
           "kbit_checkpoint_writer_add_int8 with cols = 2^48 + 1: KBIT_EINVAL");
    /* names: 1024 bytes written and read back, 1025 refused */
    char name[1100];
    memset(name, 'n', sizeof name);
    name[KBIT_CHECKPOINT_MAX_NAME + 1] = '\0';
    const int64_t one[1] = { 1 };
    const float v = 1.0f;
    st = kbit_checkpoint_writer_add(w, name, KBIT_F32, 1, one, &v);
    tap_ok(st == KBIT_EINVAL && strstr(kbit_last_error(), "1024"),
           "a tensor name of 1025 bytes: KBIT_EINVAL");
    name[KBIT_CHECKPOINT_MAX_NAME] = '\0';
    st = kbit_checkpoint_writer_add(w, name, KBIT_F32, 1, one, &v);
    st = st == KBIT_OK ? kbit_checkpoint_writer_finish(w) : st;
    ck = NULL;
    back = st == KBIT_OK ? kbit_checkpoint_open(out, &ck) : st;
    tap_ok(back == KBIT_OK && kbit_checkpoint_count(ck) == 1,
           "a tensor name of 1024 bytes is written and read back");
    kbit_checkpoint_close(ck);
    unlink(out);
    /* a weight whose auxiliary names would pass 1024 bytes */
    memset(name, 'm', sizeof name);
    snprintf(name + 1000, 100, ".weight");
    char header[2400];
    snprintf(header, sizeof header, "{\"%s\":{\"dtype\":\"F16\",\"shape\":[2,32],"
                                    "\"data_offsets\":[0,128]}}", name);
    ck_write_st(in, header, NULL, 128);
    st = kbit_checkpoint_quantize(dev, in, out, NULL, NULL);
    tap_ok(st == KBIT_EINVAL && strstr(kbit_last_error(), "1024") && !ck_exists(out) &&
               leftovers(out) == 0,
           "a weight named with 1007 bytes: its quant-state name would be too long, refused "
           "(\"%.80s...\")", kbit_last_error());
    unlink(in);
    /* the shared rules */
    char why[128];
    int64_t n;
    uint64_t nb;
    const int64_t s48[2] = { KBIT_CHECKPOINT_MAX_DIM, 0 }, s49[1] = { KBIT_CHECKPOINT_MAX_DIM + 1 };
    const int64_t sover[2] = { KBIT_CHECKPOINT_MAX_DIM, 1 << 14 }; /* 2^62 */
    tap_ok(kbit_ck_check_shape(2, s48, 8, &n, &nb, why, sizeof why) == NULL && n == 0 &&
               kbit_ck_check_shape(1, s49, 1, &n, &nb, why, sizeof why) != NULL &&
               kbit_ck_check_shape(2, sover, 1, &n, &nb, why, sizeof why) == NULL &&
               kbit_ck_check_shape(2, sover, 8, &n, &nb, why, sizeof why) != NULL &&
               kbit_ck_check_count(KBIT_CHECKPOINT_MAX_TENSORS) == NULL &&
               kbit_ck_check_count(KBIT_CHECKPOINT_MAX_TENSORS + 1) != NULL &&
               kbit_ck_check_name("__metadata__") != NULL && kbit_ck_check_name("") != NULL,
           "the shared limit rules: dimensions to 2^48, byte counts in int64, %d tensors a "
           "file, names", KBIT_CHECKPOINT_MAX_TENSORS);
}


/* ------------------------------------------------------------------ */
/* config.json as Python's json reads it                                */

/* Everything Python's json.loads accepts that strict JSON readers refuse. */
static const char config_in[] =
    "{\"model_type\": \"llama\", \"big\": 123456789012345678901234567890, \"neg_big\": -99999999999999999999,\n"
    " \"int64max\": 9223372036854775807, \"nul\": \"a\\u0000b\", \"key\\u0000nul\": 1, \"nan\": NaN, \"inf\": Infinity,\n"
    " \"ninf\": -Infinity, \"huge\": 1e400, \"tiny\": 1e-400, \"negzero\": -0.0, \"lone\": \"\\ud800x\\udfff\",\n"
    " \"pair\": \"\\ud83d\\ude00\", \"dup\": 1, \"dup\": 2, \"eps\": 1e-06, \"list\": [1, 2.5, [], {}, null, true, false],\n"
    " \"unicode\": \"h\\u00e9llo \\u4e16\", \"esc\": \"tab\\there \\\"q\\\" back\\\\slash /\", \"torch_dtype\": \"float16\",\n"
    " \"quantization_config\": {\"old\": 1}}\n";

/* CPython 3.11: d = json.loads(config_in); del d["quantization_config"];
 * json.dumps(d, indent=2, sort_keys=True) + "\n" (as transformers writes it). */
static const char config_out[] =
    "{\n"
    "  \"big\": 123456789012345678901234567890,\n"
    "  \"dup\": 2,\n"
    "  \"eps\": 1e-06,\n"
    "  \"esc\": \"tab\\there \\\"q\\\" back\\\\slash /\",\n"
    "  \"huge\": Infinity,\n"
    "  \"inf\": Infinity,\n"
    "  \"int64max\": 9223372036854775807,\n"
    "  \"key\\u0000nul\": 1,\n"
    "  \"list\": [\n"
    "    1,\n"
    "    2.5,\n"
    "    [],\n"
    "    {},\n"
    "    null,\n"
    "    true,\n"
    "    false\n"
    "  ],\n"
    "  \"lone\": \"\\ud800x\\udfff\",\n"
    "  \"model_type\": \"llama\",\n"
    "  \"nan\": NaN,\n"
    "  \"neg_big\": -99999999999999999999,\n"
    "  \"negzero\": -0.0,\n"
    "  \"ninf\": -Infinity,\n"
    "  \"nul\": \"a\\u0000b\",\n"
    "  \"pair\": \"\\ud83d\\ude00\",\n"
    "  \"tiny\": 0.0,\n"
    "  \"torch_dtype\": \"float16\",\n"
    "  \"unicode\": \"h\\u00e9llo \\u4e16\"\n"
    "}\n";

/* Configs json.loads refuses, and a word of the reason it gives. */
static const struct {
    const char *text, *reason, *what;
} bad_configs[] = {
    { "{\"a\": 1,}", "Expecting property name", "a trailing comma" },
    { "{\"a\": \"x\ty\"}", "control character", "a raw tab in a string" },
    { "\xef\xbb\xbf{\"a\": 1}", "BOM", "a byte-order mark" },
    { "{\"a\": \"\xff\"}", "UTF-8", "invalid UTF-8" },
    { "[1, 2]", "an array", "an array, not an object" },
    { "{\"a\": 1} {}", "Extra data", "two values" },
    { "{\"a\": nan}", "Expecting value", "nan in lower case" },
};

static void config_json(void)
{
    char *model = path_in("%s", "cfg-model"), *out = path_in("%s", "cfg-nf4");
    char *back = path_in("%s", "cfg-back"), p[1200];
    if (ck_write_model(model, 1, 32, 1, KBIT_F16, 9) != 0)
        tap_bail("cannot write %s", model);
    snprintf(p, sizeof p, "%s/config.json", model);
    ck_write_file(p, config_in, sizeof config_in - 1);
    kbit_status st = kbit_checkpoint_quantize(dev, model, out, NULL, NULL);
    kbit_status st2 = st == KBIT_OK ? kbit_checkpoint_dequantize(dev, out, back, KBIT_F16, 0,
                                                                 NULL, NULL, NULL)
                                    : st;
    snprintf(p, sizeof p, "%s/config.json", back);
    size_t len = 0;
    char *text = ck_read_file(p, &len);
    int same = text && len == sizeof config_out - 1 && memcmp(text, config_out, len) == 0;
    if (!tap_ok(st == KBIT_OK && st2 == KBIT_OK && same,
                "config.json with big integers, NaN/Infinity, 1e400, \\u0000, lone surrogates, "
                "repeated keys: quantized, and back as Python's json.dumps writes it"))
        tap_diag("%s / %s: %s; got:\n%s", kbit_strerror(st), kbit_strerror(st2),
                 kbit_last_error(), text ? text : "(none)");
    free(text);
    snprintf(p, sizeof p, "%s/config.json", out);
    text = ck_read_file(p, NULL);
    tap_ok(text && strstr(text, "\"big\": 123456789012345678901234567890,") &&
               strstr(text, "\"quantization_config\": {\n    \"_load_in_4bit\": true") &&
               !strstr(text, "\"old\""),
           "the quantized config keeps them and has the new quantization_config");
    free(text);
    ck_rm_rf(out);
    ck_rm_rf(back);
    for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
        snprintf(p, sizeof p, "%s/config.json", model);
        ck_write_file(p, bad_configs[i].text, strlen(bad_configs[i].text));
        st = kbit_checkpoint_quantize(dev, model, out, NULL, NULL);
        const char *m = kbit_last_error();
        if (!tap_ok(st == KBIT_EFORMAT && strstr(m, bad_configs[i].reason) && strstr(m, "config.json") &&
                        !ck_exists(out),
                    "config.json with %s: KBIT_EFORMAT naming the reason (%s)", bad_configs[i].what,
                    bad_configs[i].reason))
            tap_diag("got %s: %s", kbit_strerror(st), m);
    }
    ck_rm_rf(model);
}

int main(void)
{
    root = ck_scratch_dir("test_ckhostile");
    if (kbit_device_open("cpu", &dev) != KBIT_OK)
        tap_bail("cpu device: %s", kbit_last_error());
    limits();
    fifos();
    truncation();
    stale();
    config_json();
    scale();
    kbit_device_close(dev);
    ck_rm_rf(root);
    return tap_done();
}
