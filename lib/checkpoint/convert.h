/* lib/checkpoint/convert.h - what pipeline.c needs of convert.c (internal):
 * convert one component folder inside a conversion that is already running
 * (its options, progress and report), and copy the rest of a pipeline. */
#ifndef KBIT_LIB_CONVERT_H
#define KBIT_LIB_CONVERT_H

#include "checkpoint/checkpoint.h"

typedef struct conv conv;

/* The options of a quantization, NULL when dequantizing. */
const kbit_quantize_options *kbit_conv_options(const conv *c);
/* Add a checkpoint's tensors and bytes to the progress totals. */
void kbit_conv_count(conv *c, const kbit_checkpoint *ck);
/* Convert the directory checkpoint ck into the directory out (which exists
 * and is empty): its shards, index, config.json and other files. */
kbit_status kbit_conv_checkpoint(conv *c, const kbit_checkpoint *ck, const char *out);
/* Copy a regular file, or a directory tree (regular files and directories;
 * hidden entries and other kinds are left out), from -> to (new). */
kbit_status kbit_conv_copy(conv *c, const char *from, const char *to);

/* Whether path is a directory holding model_index.json. In pipeline.c. */
int kbit_pipeline_is(const char *path);
/* A pipeline folder (model_index.json) converted into the directory out:
 * the components chosen (quantize: the options' components, by default the
 * denoiser; dequantize: the quantized ones) converted, everything else
 * copied. In pipeline.c. */
kbit_status kbit_pipeline_convert(conv *c, const char *in, const char *out);

#endif
