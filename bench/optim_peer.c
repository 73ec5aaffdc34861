/*
 * bench/optim_peer.c - runs bench/python/optim_peer.py (from the source
 * tree, else as installed under the package data directory) and reads its
 * lines: "<mode> <min s> <median s>" or "<mode> skip <reason>".
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optim_peer.h"

#define SCRIPT "optim_peer.py"

static int executable(const char *path)
{
    return path != NULL && *path != '\0' && access(path, X_OK) == 0;
}

int bench_optim_peer_python(const char *request, char *python, size_t len, char *why,
                            size_t why_len)
{
    const char *env = getenv("KBIT_BENCH_PYTHON");
    const char *venv = KBIT_BENCH_BUILDDIR "/interop-venv/bin/python";
    const char *pick = request ? request : env && *env ? env : venv;
    if (!executable(pick)) {
        snprintf(why, why_len, "%s is not an executable Python%s", pick,
                 request || (env && *env) ? ""
                                          : " (scripts/check makes the interop venv; or give "
                                            "--peer-python or KBIT_BENCH_PYTHON)");
        return 0;
    }
    snprintf(python, len, "%s", pick);
    return 1;
}

static const char *script_path(void)
{
    static const char *const places[] = { KBIT_BENCH_SRCDIR "/python/" SCRIPT,
                                          KBIT_BENCH_DATADIR "/" SCRIPT };
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
        if (access(places[i], R_OK) == 0)
            return places[i];
    return NULL;
}

/* path in single quotes for the shell (a ' becomes '\'') */
static void quote(char *out, size_t len, const char *path)
{
    size_t o = 0;
    if (o + 1 < len)
        out[o++] = '\'';
    for (const char *p = path; *p && o + 5 < len; p++) {
        if (*p == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    if (o + 1 < len)
        out[o++] = '\'';
    out[o < len ? o : len - 1] = '\0';
}

static void fail_all(bench_peer_result *res, int count, const char *why)
{
    for (int i = 0; i < count; i++) {
        res[i].ok = 0;
        snprintf(res[i].why, sizeof res[i].why, "%s", why);
    }
}

void bench_optim_peer_run(const char *python, int64_t n, int threads, int reps, int sets,
                          const char *const *names, int count, bench_peer_result *res,
                          char *version, size_t version_len)
{
    version[0] = '\0';
    fail_all(res, count, "the peer printed no figure for it");
    const char *script = script_path();
    if (script == NULL) {
        fail_all(res, count, "bench/python/" SCRIPT " was found neither in the source tree nor "
                             "installed");
        return;
    }
    char modes[512] = "", qpy[1024], qscript[1024], cmd[3072];
    for (int i = 0; i < count; i++) {
        size_t at = strlen(modes);
        snprintf(modes + at, sizeof modes - at, "%s%s", i ? "," : "", names[i]);
    }
    for (char *p = modes; *p; p++)
        if (*p == ' ')
            *p = ':';
    quote(qpy, sizeof qpy, python);
    quote(qscript, sizeof qscript, script);
    snprintf(cmd, sizeof cmd, "%s %s --n %lld --threads %d --reps %d --sets %d --modes %s 2>&1",
             qpy, qscript, (long long)n, threads, reps, sets, modes);
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    if (f == NULL) {
        fail_all(res, count, "cannot start the peer (popen failed)");
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#') {
            snprintf(version, version_len, "%s", line + 2);
            continue;
        }
        for (int i = 0; i < count; i++) {
            size_t len = strlen(names[i]);
            if (strncmp(line, names[i], len) != 0 || line[len] != ' ')
                continue;
            const char *rest = line + len + 1;
            if (strncmp(rest, "skip ", 5) == 0) {
                snprintf(res[i].why, sizeof res[i].why, "%s", rest + 5);
            } else if (sscanf(rest, "%lf %lf", &res[i].min, &res[i].median) == 2) {
                res[i].ok = 1;
            }
        }
    }
    int status = pclose(f);
    if (status != 0)
        for (int i = 0; i < count; i++)
            if (!res[i].ok && strcmp(res[i].why, "the peer printed no figure for it") == 0)
                snprintf(res[i].why, sizeof res[i].why, "the peer exited with status %d", status);
}
