/* lib/ops/state.h - quant-state services for the ops that take a
 * kbit_quant_state (lib/ops/quant4.c implements them). */
#ifndef KBIT_LIB_STATE_H
#define KBIT_LIB_STATE_H

#include "runtime/exec.h"

/* A state's description is consistent and its buffers are there. */
kbit_status kbit_check_quant_state(const kbit_quant_state *state, const char *fn);

/* Workspace bytes kbit_state_absmax_f32 takes from a call (0 for a plain
 * state), and the driver workspace its op needs. */
size_t kbit_state_absmax_bytes(const kbit_quant_state *state);
size_t kbit_state_absmax_driver_bytes(const kbit_device *dev, const kbit_quant_state *state);

/* The state's absmax as fp32 in device memory: the stored array of a plain
 * state, or for a nested state the reconstruction (code2[q] * absmax2) +
 * offset, written into the call's workspace (enqueued on its stream). */
kbit_status kbit_state_absmax_f32(kbit_call *c, const kbit_quant_state *state,
                                  const float **absmax);

/* Run one driver op of a call: kbit_call_result(c, slot(ctx, &ex, op)). */
#define KBIT_RUN(c, slot, op) \
    kbit_call_result((c), (c)->dev->driver->slot((c)->dev->ctx, &(c)->ex, (op)))

#endif
