/* bench/optim_baseline.h - the plain fp32 AdamW loop the optimizer benchmark
 * runs side by side with kbit (bench/optim_baseline.c). */
#ifndef KBIT_BENCH_OPTIM_BASELINE_H
#define KBIT_BENCH_OPTIM_BASELINE_H

#include <stdint.h>

typedef struct bench_adamw_hyper {
    float beta1, beta2, lr, wd, step_size, eps_c2;
} bench_adamw_hyper;

/* One AdamW step over n fp32 parameters on `threads` OpenMP threads. */
void bench_adamw_plain(float *p, const float *g, float *m, float *v, int64_t n, int threads,
                       bench_adamw_hyper h);

#endif
