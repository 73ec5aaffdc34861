/* bench/optim_baseline.c - the fp32 AdamW loop a user would write, as the
 * optimizer benchmark's peer: one pass, fp32 states, decoupled weight decay,
 * split over OpenMP threads in equal chunks.
 *
 * It is compiled with the bench's flags plus two things a user would also
 * have to add for the loop to vectorize at all: no errno from sqrtf (without
 * it every sqrtf keeps a scalar branch to the libm call) and target clones for
 * AVX-512, AVX2 and baseline x86-64, picked at run time like kbit's variants.
 * No fast-math: the same IEEE operations as kbit. */
#include "config.h"

#include <math.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "optim_baseline.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno", "tree-vectorize")
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && \
    defined(__has_attribute)
#if __has_attribute(target_clones)
#define BASELINE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef BASELINE_CLONES
#define BASELINE_CLONES
#endif

BASELINE_CLONES
static void adamw_chunk(float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, int64_t n, bench_adamw_hyper h)
{
    const float omb1 = 1.0f - h.beta1, omb2 = 1.0f - h.beta2, decay = 1.0f - h.lr * h.wd;
    for (int64_t i = 0; i < n; i++) {
        float mi = h.beta1 * m[i] + omb1 * g[i];
        float vi = h.beta2 * v[i] + omb2 * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay + h.step_size * mi / (sqrtf(vi) + h.eps_c2);
    }
}

void bench_adamw_plain(float *p, const float *g, float *m, float *v, int64_t n, int threads,
                       bench_adamw_hyper h)
{
#ifdef _OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int64_t per = (n + nt - 1) / nt, b = t * per, e = b + per < n ? b + per : n;
            if (b < e)
                adamw_chunk(p + b, g + b, m + b, v + b, e - b, h);
        }
        return;
    }
#else
    (void)threads;
#endif
    adamw_chunk(p, g, m, v, n, h);
}
