/* tools/conformance/families.c - see families.h. */
#include "config.h"

#include <string.h>

#include "families.h"

static const conf_family families[] = {
    { KBIT_FAMILY_QUANT4, conf_golden_quant4, NULL, conf_random_quant4,
      "4-bit quantize / dequantize (NF4, FP4; f32, f16, bf16; blocksizes 32..4096), nested "
      "absmax quantize / dequantize, quant states (plain, nested)" },
    { KBIT_FAMILY_QUANT8, conf_golden_quant8, NULL, conf_random_quant8,
      "8-bit blockwise quantize / dequantize (signed, unsigned, linear and custom maps; f32, "
      "f16, bf16; blocksizes 64..4096)" },
    { KBIT_FAMILY_GEMM4, conf_golden_gemm4, NULL, conf_random_gemm4,
      "4-bit matmul forward / backward, on quant states and prepared weights (NF4, FP4, "
      "plain and nested absmax, bias; f32, f16, bf16), and its accuracy against fp64" },
    { KBIT_FAMILY_INT8, conf_golden_int8, NULL, conf_random_int8,
      "LLM.int8(): vectorwise quant, weight quantize / dequantize, int8 matmul, mm_dequant, "
      "linear forward / backward (f32, f16, bf16; thresholds 0, 6, all-outlier), and the "
      "exactness of the forward" },
    { KBIT_FAMILY_OPTIM, conf_golden_optim, conf_golden_optim_file, conf_random_optim,
      "every optimizer with 32- and 8-bit states (f32, f16, bf16 parameters), save / "
      "restore, percentile clipping" },
};
#define NFAMILIES (sizeof families / sizeof families[0])

const conf_family *conf_families(size_t *n)
{
    *n = NFAMILIES;
    return families;
}

const conf_family *conf_family_of_golden_op(const char *op)
{
    size_t n;
    const conf_family *f = conf_families(&n);
    for (size_t i = 0; i < n; i++)
        for (const conf_golden_op *g = f[i].golden; g->op; g++)
            if (strcmp(g->op, op) == 0)
                return &f[i];
    return NULL;
}
