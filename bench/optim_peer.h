/*
 * bench/optim_peer.h - bitsandbytes' CPU optimizers as the peer of `kbit
 * bench optim`: bench/python/optim_peer.py run by the interop venv's Python.
 */
#ifndef KBIT_BENCH_OPTIM_PEER_H
#define KBIT_BENCH_OPTIM_PEER_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_peer_result {
    int ok;               /* 1: timed; 0: see why */
    double min, median;   /* seconds per step */
    char why[200];
} bench_peer_result;

/* The Python to run the peer with: request (--peer-python), else
 * $KBIT_BENCH_PYTHON, else the build tree's interop venv. 0 and the reason
 * in why when there is none. */
int bench_optim_peer_python(const char *request, char *python, size_t len, char *why,
                            size_t why_len);

/* One run of the peer script for n parameters on `threads` threads: for each
 * mode name ("adam 8 f32": kind, state bits, dtype) a result. version gets
 * the peer's "bitsandbytes X, torch Y" line. */
void bench_optim_peer_run(const char *python, int64_t n, int threads, int reps, int sets,
                          const char *const *names, int count, bench_peer_result *res,
                          char *version, size_t version_len);

#endif /* KBIT_BENCH_OPTIM_PEER_H */
