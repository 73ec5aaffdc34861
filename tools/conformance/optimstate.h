/* tools/conformance/optimstate.h - optimizer helpers for checks: the saved-state
 * layout of doc/formats.md (read back to compare states), and the kinds by
 * bitsandbytes' kernel names. */
#ifndef KBIT_CONFORMANCE_OPTIMSTATE_H
#define KBIT_CONFORMANCE_OPTIMSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "kbit.h"

/* A state saved to host memory, and where its parts are in the buffer. */
typedef struct saved_state {
    unsigned char *buf;
    size_t bytes;
    kbit_optim_state_info info;
    const unsigned char *state1, *state2, *absmax1, *absmax2;
    size_t state1_bytes, state2_bytes, absmax1_bytes, absmax2_bytes;
    /* LION (layout version 2): the f64 update-norm sum its next step uses
     * (numerics 6.4), 8 bytes after absmax2; else NULL */
    const unsigned char *pending;
} saved_state;

/* Save state (bails out on failure); free with saved_free. */
void saved_take(const kbit_optim_state *state, saved_state *out);
void saved_free(saved_state *s);

/* The kind for a bitsandbytes optimizer name of the vectors ("adam" is
 * AdamW semantics = KBIT_OPTIM_ADAM with the given weight decay); -1 if unknown. */
int optim_kind_of(const char *name);
const char *optim_kind_name(kbit_optim_kind kind);
/* 1 for ADAM, ADAMW, LAMB, ADEMAMIX. */
int optim_two_state(kbit_optim_kind kind);

#endif
