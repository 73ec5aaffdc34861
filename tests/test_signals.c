/* tests/test_signals.c - `kbit quantize` under signals (issue 14 point 5):
 * real signals sent to a real conversion of a ~100 MB model by the built
 * tools/kbit.
 *  - SIGINT, SIGTERM (to the process) and SIGINT to its process group (a
 *    terminal's Ctrl-C): the program dies of that signal, OUT is not written
 *    and no OUT.kbit-tmp-* is left;
 *  - SIGKILL: a temporary is left (nothing can run), and the next run on the
 *    same OUT removes it and succeeds.
 * The signal is sent as soon as the temporary appears. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "ckutil.h"
#include "tap.h"

#ifndef KBIT_TOOL
#define KBIT_TOOL "tools/kbit"
#endif

static char *root, model[600], out[600];

/* Start `kbit quantize MODEL OUT` with default signal dispositions, in its
 * own process group (extra: NULL or an option). */
static pid_t start(const char *extra)
{
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        for (int s = 1; s < 32; s++)
            signal(s, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (extra)
            execl(KBIT_TOOL, "kbit", "quantize", model, out, "--quiet", "--device", "cpu", extra,
                  (char *)NULL);
        else
            execl(KBIT_TOOL, "kbit", "quantize", model, out, "--quiet", "--device", "cpu",
                  (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

static int temporaries(char *first, size_t len)
{
    char base[700];
    snprintf(base, sizeof base, "out.kbit-tmp-");
    return ck_count_prefix(root, base, first, len);
}

/* Wait (up to 30 s) until the run has made its temporary. */
static int wait_for_temporary(pid_t pid)
{
    for (int i = 0; i < 30000; i++) {
        if (temporaries(NULL, 0) > 0)
            return 1;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 0;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return 0;
}

static void interrupt(int sig, int group, const char *what)
{
    ck_rm_rf(out);
    pid_t pid = start(NULL);
    int seen = wait_for_temporary(pid);
    kill(group ? -pid : pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    /* the conversion child is gone when the program is (it waits for it) */
    char first[256] = "";
    int left = temporaries(first, sizeof first);
    int ok = seen && WIFSIGNALED(status) && WTERMSIG(status) == sig && left == 0 &&
             !ck_exists(out);
    if (!tap_ok(ok, "%s during kbit quantize: it dies of the signal, no OUT, no temporary", what))
        tap_diag("temporary seen: %d; status 0x%x; %d left (%s); OUT %s", seen, status, left,
                 first, ck_exists(out) ? "exists (the run was too fast?)" : "absent");
}

/* The pid in a temporary's name. */
static long pid_of(const char *name)
{
    const char *p = strstr(name, ".kbit-tmp-");
    return p ? atol(p + 10) : 0;
}

static void killed(void)
{
    ck_rm_rf(out);
    pid_t pid = start(NULL);
    int seen = wait_for_temporary(pid);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    /* its conversion child dies with it (PR_SET_PDEATHSIG): this process is a
     * subreaper and reaps it; wait until it is gone */
    char first[256] = "";
    int left = temporaries(first, sizeof first);
    long child = pid_of(first);
    for (int i = 0; i < 10000 && child > 0; i++) {
        pid_t w = waitpid((pid_t)child, NULL, WNOHANG);
        if (w == (pid_t)child || (w < 0 && errno == ECHILD && kill((pid_t)child, 0) != 0))
            break;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    tap_ok(seen && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && left == 1,
           "SIGKILL during kbit quantize leaves its temporary (%s)", first);
    pid = start(NULL);
    waitpid(pid, &status, 0);
    left = temporaries(first, sizeof first);
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && left == 0 && ck_exists(out),
           "the next kbit quantize on the same OUT removes it and succeeds");
}

int main(void)
{
    struct stat sb;
    if (stat(KBIT_TOOL, &sb) != 0) {
        tap_skip("signals sent to kbit quantize", "%s is not built", KBIT_TOOL);
        return tap_done();
    }
#ifdef __linux__
    prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif
    root = ck_scratch_dir("test_signals");
    snprintf(model, sizeof model, "%s/model", root);
    snprintf(out, sizeof out, "%s/out", root);
    /* ~100 MB of fp16: about a second to quantize here */
    if (ck_write_model(model, 8, 1024, 2, KBIT_F16, 11) != 0)
        tap_bail("cannot write %s", model);
    interrupt(SIGINT, 0, "SIGINT");
    interrupt(SIGTERM, 0, "SIGTERM");
    interrupt(SIGINT, 1, "SIGINT to the process group (Ctrl-C)");
    interrupt(SIGHUP, 0, "SIGHUP");
    killed();
    ck_rm_rf(root);
    return tap_done();
}
