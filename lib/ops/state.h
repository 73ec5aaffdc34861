/* lib/ops/state.h - quant-state services for the ops that take a kbit_quant_state
 * (lib/ops/quant4.c implements them). */
#ifndef KBIT_LIB_STATE_H
#define KBIT_LIB_STATE_H

#include "runtime/device.h"

/* A state's description is consistent and its buffers are there. */
kbit_status kbit_check_quant_state(const kbit_quant_state *state, const char *fn);

/* The state's absmax as fp32 in device memory: the stored array of a plain
 * state, or for a nested state the reconstruction (code2[q] * absmax2) +
 * offset written into new scratch memory, returned in *scratch for the caller
 * to free with kbit_scratch_free (*scratch is NULL otherwise). */
kbit_status kbit_state_absmax_f32(kbit_device *device, const kbit_quant_state *state,
                                  const float **absmax, void **scratch, const char *fn);

#endif
