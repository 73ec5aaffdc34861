/* lib/checkpoint/bnb.h - the bitsandbytes checkpoint format (doc/numerics.md 8), internal:
 * key names, the packed quant-state JSON, the transformers
 * quantization_config, and which tensors get quantized. */
#ifndef KBIT_LIB_BNB_H
#define KBIT_LIB_BNB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kbit.h"
#include "checkpoint/pyjson.h"
#include "checkpoint/stwrite.h"

/* Suffixes after "<module>.weight" of the 4-bit auxiliary tensors, and the
 * packed quant-state key prefix (followed by "nf4" or "fp4"). */
#define KBIT_BNB_ABSMAX ".absmax"
#define KBIT_BNB_QUANT_MAP ".quant_map"
#define KBIT_BNB_NESTED_ABSMAX ".nested_absmax"
#define KBIT_BNB_NESTED_QUANT_MAP ".nested_quant_map"
#define KBIT_BNB_QS_PREFIX ".quant_state.bitsandbytes__"
/* 8-bit: "<module>.SCB" and "<module>.weight_format". */
#define KBIT_BNB_SCB "SCB"
#define KBIT_BNB_WEIGHT_FORMAT "weight_format"

/* "float32", "float16", "bfloat16" (the torch names bitsandbytes records),
 * also "uint8", "int8", "float64" for quant_storage; NULL otherwise. */
const char *kbit_bnb_dtype_name(kbit_dtype dtype);
/* The reverse; returns 0 if the name is not one of those. */
int kbit_bnb_dtype_parse(const char *name, kbit_dtype *dtype);

/* The packed quant-state JSON (json.dumps of bitsandbytes' dict, 8.1):
 * appended to out. KBIT_ENOMEM on allocation failure. */
kbit_status kbit_bnb_blob(const kbit_quant_state *s, kbit_buf *out);

/* A parsed quant-state blob. */
typedef struct kbit_bnb_qs {
    kbit_quant_type quant_type;
    int blocksize;
    kbit_dtype dtype;
    int ndim;
    int64_t shape[KBIT_MAX_DIMS];
    int nested;
    float offset; /* nested_offset, rounded to fp32 */
} kbit_bnb_qs;

/* Parse and check a blob from a file (untrusted): valid JSON object,
 * quant_type equal to `suffix_type` (the key's nf4/fp4), blocksize a power
 * of two in 32..4096, dtype float32/float16/bfloat16, shape of at most
 * KBIT_MAX_DIMS non-negative integers, nested keys all present or all
 * absent, nested_blocksize 256, nested_dtype float32, finite nested_offset.
 * KBIT_EFORMAT naming `where` otherwise. */
kbit_status kbit_bnb_parse_blob(const void *bytes, size_t len, kbit_quant_type suffix_type,
                                const char *where, kbit_bnb_qs *out);

/* Tensor indices of one 4-bit weight in a writer. */
typedef struct kbit_bnb_slots4 {
    size_t weight, absmax, quant_map, nested_absmax, nested_quant_map, blob;
} kbit_bnb_slots4;

/* Declare the tensors of a 4-bit weight `name` ("<module>.weight") with the
 * state's description; storage: the dtype the packed bytes are declared as
 * (KBIT_U8 normally; quant_storage). KBIT_EINVAL when the packed length is
 * not a multiple of the storage size. */
kbit_status kbit_bnb_declare_4bit(kbit_stw *w, const char *name, const kbit_quant_state *s,
                                  kbit_dtype storage, kbit_bnb_slots4 *slots);
/* Write them: packed, absmax and absmax2 are host copies of the state's data. */
kbit_status kbit_bnb_write_4bit(kbit_stw *w, const kbit_bnb_slots4 *slots,
                                const kbit_quant_state *s, const uint8_t *packed,
                                const void *absmax, const float *absmax2);

typedef struct kbit_bnb_slots8 {
    size_t weight, scb, format;
} kbit_bnb_slots8;

/* 8-bit weight `name`: I8 [rows, cols], <module>.SCB F32 [rows],
 * <module>.weight_format U8 [] = 0 ("row"). */
kbit_status kbit_bnb_declare_int8(kbit_stw *w, const char *name, int64_t rows, int64_t cols,
                                  kbit_bnb_slots8 *slots);
kbit_status kbit_bnb_write_int8(kbit_stw *w, const kbit_bnb_slots8 *slots, int64_t rows,
                                int64_t cols, const int8_t *CB, const float *SCB);

/* "<module>." of a tensor name "<module>.weight" written into buf (size
 * len); 0 if the name does not end in ".weight" or is too long. */
int kbit_bnb_module_prefix(const char *name, char *buf, size_t len);

/* The default modules kept in full precision: the output embedding
 * ("lm_head", "embed_out") as transformers' get_keys_to_not_convert. */
extern const char *const kbit_bnb_default_skip[];
/* Its length (without the terminating NULL). */
#define KBIT_BNB_DEFAULT_SKIP_COUNT 2

/* Whether a tensor is quantized (the rule of doc/formats.md): name ends in
 * ".weight", 2-D, dtype F32/F16/BF16, its module is not an embedding (last
 * name component contains "embed", or is "wte" / "wpe"), and the module is
 * not skipped: for a skip entry S, the module name starts with S up to a
 * module boundary, or ends with S (transformers' should_convert_module,
 * S taken as a plain string). */
int kbit_bnb_should_quantize(const char *name, int ndim, int dtype_known, kbit_dtype dtype,
                             const char *const *skip, size_t nskip);

/* The first test of that rule, shared with diffusers' (kbit_dfs_should_quantize):
 * the length of <module> when the tensor is a 2-D F32/F16/BF16
 * "<module>.weight" with a non-empty module, else 0. */
size_t kbit_bnb_weight_module(const char *name, int ndim, int dtype_known, kbit_dtype dtype);

/* transformers' BitsAndBytesConfig.to_dict() for the options (8.3). */
json_t *kbit_bnb_quant_config(const kbit_quantize_options *o);

#endif
