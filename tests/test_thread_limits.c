/* tests/test_thread_limits.c - worker threads under process limits (issue 14
 * point 7): in child processes with a thread limit (RLIMIT_NPROC, as the
 * user nobody when this runs as root) or an address-space limit
 * (RLIMIT_AS), kbit_device_open picks a count that can run,
 * kbit_device_set_threads refuses one that cannot with a message, and a
 * large op (which would start the OpenMP team) completes: libgomp must never
 * get to print "Thread creation failed" and exit. Also the documented
 * maximum, KBIT_MAX_THREADS. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "testutil.h"

#define N (1 << 22)

/* allocated before the fork, so the limits only squeeze the threads */
static float *x, *absmax;
static uint8_t *packed;

/* In the child: open, ask for 8 threads, run a large op; the report goes
 * to fd: "<open threads> <set status> <threads after> <op status>|<message>". */
static void child_work(int fd)
{
    kbit_device *dev = NULL;
    char msg[900];
    int n = 0;
    if (kbit_device_open("cpu", &dev) != KBIT_OK) {
        n = snprintf(msg, sizeof msg, "open failed|%s", kbit_last_error());
    } else {
        kbit_device_info info;
        kbit_device_get_info(dev, &info);
        int opened = info.threads;
        kbit_status set = kbit_device_set_threads(dev, 8);
        char why[600];
        snprintf(why, sizeof why, "%s", kbit_last_error());
        kbit_device_get_info(dev, &info);
        kbit_status op = kbit_quantize_4bit(dev, KBIT_NF4, KBIT_F32, x, N, 64, packed, absmax);
        n = snprintf(msg, sizeof msg, "%d %d %d %d|%s", opened, (int)set, info.threads, (int)op,
                     why);
    }
    if (write(fd, msg, (size_t)n) != n)
        _exit(3);
    _exit(0);
}

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

/* Run child_work in a child under `limit` (0: RLIMIT_NPROC, 1: RLIMIT_AS). */
static void limited(int limit, const char *what)
{
    int fds[2];
    if (pipe(fds) != 0)
        tap_bail("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (limit == 0) {
            /* root is exempt from RLIMIT_NPROC: become nobody first */
            if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
                                   setuid(65534) != 0))
                _exit(4);
            struct rlimit rl = { 1, 1 }; /* this process alone */
            if (setrlimit(RLIMIT_NPROC, &rl) != 0)
                _exit(5);
        } else {
            /* room for the data and one 8 MiB thread stack, not for 7 */
            rlim_t as = vm_size() + (24u << 20);
            struct rlimit rl = { as, as };
            if (setrlimit(RLIMIT_AS, &rl) != 0)
                _exit(5);
        }
        child_work(fds[1]);
    }
    close(fds[1]);
    char msg[900] = "";
    ssize_t k = read(fds[0], msg, sizeof msg - 1);
    msg[k > 0 ? k : 0] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 4 || WEXITSTATUS(status) == 5)) {
        tap_skip(what, "cannot set the limit in a child (exit %d)", WEXITSTATUS(status));
        return;
    }
    int opened = 0, set = -1, after = 0, op = -1;
    sscanf(msg, "%d %d %d %d", &opened, &set, &after, &op);
    const char *why = strchr(msg, '|');
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && opened >= 1 && set == KBIT_ENOMEM &&
             why && strstr(why, "cannot run 8 threads") && after == opened && op == KBIT_OK;
    if (!tap_ok(ok, "%s: a count that can run at open, 8 threads refused with a message, "
                "the op completes", what))
        tap_diag("child %s %d; reported \"%s\"",
                 WIFSIGNALED(status) ? "killed by signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), msg);
}

int main(void)
{
    x = malloc((size_t)N * 4);
    packed = malloc(N / 2);
    absmax = malloc(N / 64 * 4);
    if (!x || !packed || !absmax)
        tap_bail("out of memory");
    for (int i = 0; i < N; i++)
        x[i] = (float)(i % 1000) * 0.001f;
    /* the children first: no OpenMP team exists in this process yet */
    limited(0, "RLIMIT_NPROC = 1");
    limited(1, "RLIMIT_AS tight");

    kbit_device *dev = NULL;
    if (kbit_device_open("cpu", &dev) != KBIT_OK)
        tap_bail("cpu: %s", kbit_last_error());
    kbit_status st = kbit_device_set_threads(dev, KBIT_MAX_THREADS + 1);
    tap_ok(st == KBIT_EINVAL && strstr(kbit_last_error(), "KBIT_MAX_THREADS"),
           "threads = KBIT_MAX_THREADS + 1: KBIT_EINVAL naming the maximum");
    st = kbit_device_set_threads(dev, 0);
    tap_ok(st == KBIT_EINVAL, "threads = 0: KBIT_EINVAL");
    st = kbit_device_set_threads(dev, 3);
    kbit_device_info info;
    kbit_device_get_info(dev, &info);
    tap_ok(st == KBIT_OK && info.threads == 3, "threads = 3 without a limit: accepted");
    kbit_device_close(dev);
    return tap_done();
}
