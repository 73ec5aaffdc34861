/* lib/ops/optim.h - the optimizer core shared by lib/optim*.c: the state object,
 * configuration checks and the host scalars of doc/numerics.md 6.2. */
#ifndef KBIT_LIB_OPTIM_H
#define KBIT_LIB_OPTIM_H

#include "numerics/optim_scales.h"
#include "runtime/exec.h"

#define KBIT_OPTIM_STATE_MAGIC 0x6f707469u /* "opti" */

/* The state's small device buffer: percentile clipping's gradient norms,
 * then the scales of the last step (KBIT_OPTSCALE_*). */
#define KBIT_OPTIM_AUX_FLOATS (KBIT_OPTIM_HISTORY + KBIT_OPTSCALE_COUNT)

struct kbit_optim_state {
    uint32_t magic;            /* KBIT_OPTIM_STATE_MAGIC while alive */
    kbit_device *device;
    kbit_optim_kind kind;
    kbit_dtype param_dtype;
    int state_bits;            /* 32 or 8 */
    int64_t n;
    int64_t step;              /* steps taken */
    kbit_mem_kind mem_kind;    /* KBIT_MEM_MANAGED for a paged state */
    /* Device memory (never NULL) and its sizes in bytes. */
    void *state1, *state2;
    float *absmax1, *absmax2;
    size_t state1_bytes, state2_bytes, absmax1_bytes, absmax2_bytes;
    float *aux;                /* KBIT_OPTIM_AUX_FLOATS: history, last scales */
    /* LION only (else NULL): 2 fp64 device sums of max_unorm (numerics 6.4),
     * [0] = pairsum p^2 of the last step, [1] = pairsum of s' summed after
     * the last update, which clips the next step (saved, doc/formats.md). */
    double *norms;
    int norms_last;            /* 1: the last step summed norms[1] (info's unorm) */
    /* 8-bit: the maps of state1 (signed) and state2 (unsigned) as the host
     * saves them, which map each is, and the device tables of maps that are
     * not normative (code then midpoints; NULL for a normative map, whose
     * table is the device's). */
    float qmap1[256], qmap2[256];
    kbit_map_id map1_id, map2_id;
    float *table1, *table2;
    /* 1: the values of the last step are in aux (it had norms); 0: it had
     * none (clipping scale and update scale 1, norms 0). */
    int last_on_device;
};

/* 1 for the kinds with two states (ADAM, ADAMW, LAMB, ADEMAMIX). */
int kbit_optim_two_state(kbit_optim_kind kind);
kbit_optim_kernel kbit_optim_kernel_of(kbit_optim_kind kind);
/* Every field of config valid for its kind (named message otherwise). */
kbit_status kbit_optim_check_config(const kbit_optim_config *config, const char *fn);
/* A live state created on device (device NULL: any). */
kbit_status kbit_optim_check_state(const kbit_optim_state *state, const kbit_device *device,
                                   const char *fn, const char *arg);
/* numerics 6.2/6.4 host scalars for a checked config; step >= 1. */
void kbit_optim_scalars_of(const kbit_optim_config *config, int64_t step,
                           kbit_optim_scalars *out);

#endif
