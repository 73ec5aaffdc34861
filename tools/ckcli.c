/* tools/ckcli.c - shared by the checkpoint verbs (see ckcli.h). */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "ckcli.h"

int ckcli_parse_dtype(const char *s, kbit_dtype *dtype)
{
    static const struct {
        const char *name;
        kbit_dtype dtype;
    } names[] = {
        { "fp32", KBIT_F32 },  { "f32", KBIT_F32 },     { "float32", KBIT_F32 },
        { "fp16", KBIT_F16 },  { "f16", KBIT_F16 },     { "float16", KBIT_F16 },
        { "bf16", KBIT_BF16 }, { "bfloat16", KBIT_BF16 }, { "uint8", KBIT_U8 },
        { "u8", KBIT_U8 },     { "int8", KBIT_I8 },     { "i8", KBIT_I8 },
        { "fp64", KBIT_F64 },  { "float64", KBIT_F64 },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *dtype = names[i].dtype;
            return 1;
        }
    return 0;
}

double ckcli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t ckcli_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux: kilobytes */
}

void ckcli_format_bytes(uint64_t bytes, char *out, size_t len)
{
    double b = (double)bytes;
    if (b >= 1e9)
        snprintf(out, len, "%.2f GB", b / 1e9);
    else if (b >= 1e6)
        snprintf(out, len, "%.1f MB", b / 1e6);
    else if (b >= 1e3)
        snprintf(out, len, "%.1f kB", b / 1e3);
    else
        snprintf(out, len, "%llu B", (unsigned long long)bytes);
}

void ckcli_progress_init(ckcli_progress *p, int quiet)
{
    memset(p, 0, sizeof *p);
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->start = ckcli_now();
}

void ckcli_progress_cb(void *ctx, const char *name, int64_t done, int64_t total,
                       uint64_t bytes_done, uint64_t bytes_total)
{
    ckcli_progress *p = ctx;
    double now = ckcli_now();
    if (!p->enabled || (done < total && now - p->last_draw < 0.1))
        return;
    p->last_draw = now;
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)bytes_done / elapsed : 0;
    double eta = rate > 0 ? (double)(bytes_total - bytes_done) / rate : 0;
    int width = 24, fill = bytes_total ? (int)((double)width * bytes_done / bytes_total) : width;
    char bar[32], done_s[24], total_s[24];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    ckcli_format_bytes(bytes_done, done_s, sizeof done_s);
    ckcli_format_bytes(bytes_total, total_s, sizeof total_s);
    fprintf(stderr, "\r\033[K[%s] %lld/%lld tensors  %s/%s  %.0f MB/s  ETA %.0fs  %.40s", bar,
            (long long)done, (long long)total, done_s, total_s, rate / 1e6, eta, name);
    fflush(stderr);
    p->drawn = 1;
}

void ckcli_progress_end(ckcli_progress *p)
{
    if (p->drawn)
        fprintf(stderr, "\r\033[K");
    p->drawn = 0;
}

void ckcli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

kbit_device *ckcli_open_device(const char *verb, const char *spec)
{
    kbit_device *dev = NULL;
    if (kbit_device_open(spec, &dev) != KBIT_OK) {
        fprintf(stderr, "kbit %s: cannot open device '%s': %s\n", verb, spec, kbit_last_error());
        return NULL;
    }
    return dev;
}

void ckcli_supervise(const char *verb, const char *out)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    /* blocked before the fork: no signal can fall between fork and wait */
    if (sigprocmask(SIG_BLOCK, &set, &old) != 0)
        return; /* no supervision: run the verb here */
    fflush(NULL);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return;
    }
    if (child == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        if (getppid() != parent)
            _exit(1); /* the parent died before the line above */
        sigprocmask(SIG_SETMASK, &old, NULL);
        return;
    }
    int got = 0, status = 0;
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig < 0 && errno == EINTR)
            continue;
        if (sig == SIGCHLD || sig < 0) {
            pid_t w = waitpid(child, &status, sig < 0 ? 0 : WNOHANG);
            if (w == child)
                break;
            if (w < 0 && errno != EINTR)
                break;
            continue;
        }
        if (!got) {
            got = sig;
            kill(child, SIGKILL);
        }
    }
    if (got || WIFSIGNALED(status)) {
        int removed = 0;
        kbit_checkpoint_remove_stale(out, &removed);
        int sig = got ? got : WTERMSIG(status);
        fprintf(stderr, "kbit %s: %s by signal %d (%s); %s was not written%s\n", verb,
                got ? "interrupted" : "the conversion was killed", sig, strsignal(sig), out,
                removed ? ", its temporary removed" : "");
        fflush(stderr);
        if (!got)
            _exit(128 + sig); /* the child crashed: say so, do not crash here too */
        signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        raise(sig);
        _exit(128 + sig);
    }
    exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
