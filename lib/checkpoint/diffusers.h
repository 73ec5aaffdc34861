/* lib/checkpoint/diffusers.h - diffusers model folders (internal): which file
 * names a folder's weights have (diffusers' "diffusion_pytorch_model" or
 * transformers' "model"), and diffusers' bitsandbytes rules: which tensors
 * its quantizer converts, which modules it keeps in fp32, and the
 * quantization_config it writes (doc/formats.md, "diffusers models"; the
 * facts are those of diffusers 0.42.1). */
#ifndef KBIT_LIB_DIFFUSERS_H
#define KBIT_LIB_DIFFUSERS_H

#include <stddef.h>

#include <jansson.h>

#include "kbit.h"

/* The weight file names of a folder's layout. */
typedef struct kbit_dfs_layout {
    int diffusers;          /* 1: diffusion_pytorch_model*, 0: model* */
    const char *single;     /* "diffusion_pytorch_model.safetensors" or "model.safetensors" */
    const char *index;      /* the same with ".index.json" */
    int has_single, has_index; /* which of them the folder holds */
} kbit_dfs_layout;

/* Find a folder's layout. KBIT_EFORMAT naming the folder for mixed layouts
 * (both names' files, or weight files beside a pipeline's model_index.json,
 * or a config.json naming a diffusers class (_class_name) over
 * model.safetensors) and for a folder with no weights (pointing a pipeline
 * folder to its components). `config` is the folder's config.json text or
 * NULL. */
kbit_status kbit_dfs_locate(const char *dir, const char *config, kbit_dfs_layout *layout);

/* Whether something is at `dir/name` (symbolic links followed); whether it
 * is a regular file is checked where it is opened (files.h), so that a FIFO
 * is refused by name rather than taken for a missing file. */
int kbit_dfs_exists(const char *dir, const char *name);

/* The rules for one diffusers model, from its config.json. */
typedef struct kbit_dfs_rules {
    char class_name[128];           /* _class_name ("" if none) */
    const char *keep_fp32[8];       /* the class's _keep_in_fp32_modules (static strings) */
    size_t nkeep;
    int class_embedding_linear;     /* class_embed_type "simple_projection" */
} kbit_dfs_rules;

/* Read _class_name and class_embed_type from config.json text (NULL: no
 * config) and look the class up. KBIT_EFORMAT if the text is not an object. */
kbit_status kbit_dfs_rules_init(const char *config, kbit_dfs_rules *rules);

/* Whether diffusers' bitsandbytes quantizer turns tensor `name` into a
 * Linear4bit / Linear8bitLt weight: name ends in ".weight", 2-D, F32/F16/BF16,
 * its module an nn.Linear (not one of the nn.Embedding tables and other
 * 2-D weights of doc/formats.md's list), and the module not in
 * modules_to_not_convert = skip (llm_int8_skip_modules) + the class's
 * _keep_in_fp32_modules, matched as diffusers does: a module M is skipped by
 * S when M's last name component is S, when "S." occurs anywhere in M, or
 * when M is S. */
int kbit_dfs_should_quantize(const kbit_dfs_rules *rules, const char *name, int ndim,
                             int dtype_known, kbit_dtype dtype, const char *const *skip,
                             size_t nskip);

/* Whether a tensor stays fp32 under a torch_dtype (diffusers'
 * load_model_dict_into_meta): one of its dot-separated name components is
 * in the class's _keep_in_fp32_modules. */
int kbit_dfs_keep_fp32(const kbit_dfs_rules *rules, const char *name);

/* diffusers' BitsAndBytesConfig.to_dict() as save_pretrained writes it for
 * the options: transformers' fields, in diffusers' order, with
 * llm_int8_skip_modules null or the given list followed by the class's
 * _keep_in_fp32_modules (diffusers extends the config's own list). */
json_t *kbit_dfs_quant_config(const kbit_quantize_options *o, const kbit_dfs_rules *rules);

#endif
