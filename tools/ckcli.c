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
            (long long)done, (long long)total, done_s, total_s, rate / 1e6, eta, ckcli_safe(name));
    fflush(stderr);
    p->drawn = 1;
}

void ckcli_progress_end(ckcli_progress *p)
{
    if (p->drawn)
        fprintf(stderr, "\r\033[K");
    p->drawn = 0;
}

/* The length of one UTF-8 sequence at s and its code point; 0 if invalid. */
static int utf8_seq(const unsigned char *s, unsigned long *cp)
{
    unsigned c = s[0];
    int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (n == 0)
        return 0;
    unsigned long v = c & (0x3fu >> (n - 1));
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Bidi controls and C1 controls: printed as \uXXXX, in JSON too. */
static int hidden_control(unsigned long cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

const char *ckcli_safe(const char *s)
{
    static char bufs[8][4096];
    static int next;
    char *out = bufs[next++ % 8];
    if (s == NULL)
        return "(null)";
    size_t k = 0, cap = sizeof bufs[0] - 16;
    for (const unsigned char *p = (const unsigned char *)s; *p && k < cap;) {
        unsigned long cp = 0;
        int n = *p >= 0x80 ? utf8_seq(p, &cp) : 1;
        if (*p < 0x80)
            cp = *p;
        if (n == 0) {
            k += (size_t)snprintf(out + k, 8, "\\x%02x", *p);
            p++;
        } else if (cp < 0x20 || cp == 0x7f) {
            k += (size_t)snprintf(out + k, 8, "\\x%02lx", cp);
            p++;
        } else if (cp == '\\') {
            out[k++] = '\\';
            out[k++] = '\\';
            p++;
        } else if (hidden_control(cp)) {
            k += (size_t)snprintf(out + k, 8, "\\u%04lx", cp);
            p += n;
        } else {
            memcpy(out + k, p, (size_t)n);
            k += (size_t)n;
            p += n;
        }
    }
    out[k] = '\0';
    return out;
}

void ckcli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c;) {
        unsigned long cp = 0;
        int n = *c >= 0x80 ? utf8_seq(c, &cp) : 1;
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            fprintf(f, "\\u%04x", *c);
        else if (n > 1 && hidden_control(cp))
            fprintf(f, "\\u%04lx", cp);
        else if (n == 0)
            fprintf(f, "\\ufffd"); /* not UTF-8 (a path from the command line) */
        else
            fwrite(c, 1, (size_t)n, f);
        c += n ? n : 1;
    }
    fputc('"', f);
}

kbit_device *ckcli_open_device(const char *verb, const char *spec, uint32_t families)
{
    kbit_device *dev = NULL;
    if (kbit_device_open_for(spec, families, &dev) != KBIT_OK) {
        fprintf(stderr, "kbit %s: cannot open device '%s': %s\n", verb, ckcli_safe(spec),
                ckcli_safe(kbit_last_error()));
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
                got ? "interrupted" : "the conversion was killed", sig, strsignal(sig),
                ckcli_safe(out),
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
