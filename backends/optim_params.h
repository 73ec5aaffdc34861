/*
 * backends/optim_params.h - the scalars of an optimizer step
 * (kbit_op_optimizer, include/kbit-driver.h) in the form the element rules
 * take (kbit_optim_params, numerics/optim.h). Host code of every driver in
 * the tree (the CPU driver, the OpenCL driver in C, the CUDA/HIP launchers
 * in C++) builds the rules' scalars here, once, so a new scalar reaches
 * every backend from this one place.
 */
#ifndef KBIT_BACKENDS_OPTIM_PARAMS_H
#define KBIT_BACKENDS_OPTIM_PARAMS_H

#include "kbit-driver.h"
#include "numerics/optim.h"

/* The scalars of op with its host gnorm_scale and update_scale. Where op's
 * scales are in device memory (op->scales != NULL) the kernel replaces those
 * two by scales[KBIT_OPTSCALE_GNORM] and scales[KBIT_OPTSCALE_UPDATE] (the
 * CPU driver resolves them first: kbit_optim_resolved). */
static inline kbit_optim_params kbit_optim_params_of(const kbit_op_optimizer *op)
{
    kbit_optim_params k;
    k.kernel_id = op->kernel;
    k.param_dtype = op->param_dtype;
    k.step = op->step;
    k.lr = op->lr, k.beta1 = op->beta1, k.beta2 = op->beta2;
    k.beta3 = op->beta3, k.alpha = op->alpha;
    k.eps = op->eps, k.weight_decay = op->weight_decay;
    k.gnorm_scale = op->gnorm_scale, k.update_scale = op->update_scale;
    k.c1 = op->c1, k.c2 = op->c2, k.step_size = op->step_size;
    k.c1p = op->c1p, k.c2p = op->c2p;
    k.skip_zeros = op->skip_zeros;
    return k;
}

#endif /* KBIT_BACKENDS_OPTIM_PARAMS_H */
