/* tools/conformance/golden.h - the golden vectors: every *.safetensors file
 * of the vectors directory (format kbit-golden-v1), its cases taken from the
 * file's __metadata__ "cases" list, never from names in the code, so further
 * files of the same layout are picked up as they are. Each family has a
 * table of the ops it checks (golden_<family>.c); one TAP line per (file,
 * op, target) with the number of cases and elements compared.
 *
 * The files are read with the project's safetensors reader
 * (lib/checkpoint/safetensors.c), which is internal to libkbit: it is
 * compiled into `kbit conformance` as well (tools/conformance/local.mk),
 * with reader_error.c in place of the library's error recording. */
#ifndef KBIT_CONFORMANCE_GOLDEN_H
#define KBIT_CONFORMANCE_GOLDEN_H

#include <jansson.h>

#include "checkpoint/safetensors.h"
#include "harness.h"

/* One (file, op, target) being checked. */
typedef struct conf_golden {
    const char *file;          /* base name, for messages */
    const kbit_st_file *st;
    const char *target;        /* label of the target */
    int first;                 /* 1 on the first target: once-only diagnostics */
    kbit_device *dev;
    conf_tally *tally;
} conf_golden;

/* Check one case of the op: params is the case's "params" object. */
typedef void (*conf_golden_fn)(conf_golden *g, const char *cname, json_t *params);

typedef struct conf_golden_op {
    const char *op;            /* the "op" of the cases */
    conf_golden_fn fn;
} conf_golden_op;

/* A family's check of a whole file, once (not per target): e.g. the host
 * scalars of the optimizers. */
typedef void (*conf_golden_file_fn)(const conf_run *run, const char *file,
                                    const kbit_st_file *st, json_t *cases);

/* Read and validate every file of the vectors directory; report: TAP lines
 * for the files that concern `families` (KBIT_FAMILY_* bits), for any file
 * with ops no family checks (skips) and for any that is unreadable or
 * malformed; else silent (for --list). */
void conf_golden_scan(int report, uint32_t families);
/* The cases of the ops in `ops` (up to { NULL, NULL }) of every file, on
 * every target (run->family is the family they belong to); file_fn (may be
 * NULL) once per file that has any of them. */
void conf_golden_run(const conf_run *run, const conf_golden_op *ops,
                     conf_golden_file_fn file_fn);
void conf_golden_close(void);
/* The files found and, for --list, what they hold. */
void conf_golden_list(void);

/* ---- for the ops ---- */

/* Count an error on the current tally and say why ("FILE CASE on TARGET: what: detail"). */
void golden_fail(conf_golden *g, const char *cname, const char *what, const char *detail);
/* The tensor "CASE.ROLE": NULL (and an error) when missing. */
const kbit_st_tensor *golden_role(conf_golden *g, const char *cname, const char *role);
/* The same without the error (optional roles). */
const kbit_st_tensor *golden_find(conf_golden *g, const char *cname, const char *role);
/* Compare host bytes with a tensor (floats: NaN equals NaN; integers exactly). */
void golden_expect_host(conf_golden *g, const char *cname, const char *what, const void *got,
                        const kbit_st_tensor *want);
/* Download a device buffer of want->nbytes and compare. */
void golden_expect_dev(conf_golden *g, const char *cname, const char *what, const void *dev_ptr,
                       const kbit_st_tensor *want);
/* A tensor's bytes in a new device buffer. */
void *golden_upload(conf_golden *g, const kbit_st_tensor *t);
/* 1 if st is KBIT_OK; otherwise an error naming the call, 0. */
int golden_status(conf_golden *g, const char *cname, kbit_status st, const char *call);
/* An F32[1] scalar role. */
int golden_f32_scalar(conf_golden *g, const char *cname, const char *role, float *out);

/* A stored 256-entry map (F32[256]) into code; also compares it with
 * kbit_dynamic_map(kind), counting its entries. */
int golden_map(conf_golden *g, const char *cname, const char *role, kbit_map_kind kind,
               float code[256]);

/* The float dtypes in the order of the roles dq_f32, dq_f16, dq_bf16. */
extern const kbit_dtype golden_out_dtypes[3];
extern const char *const golden_dq_roles[3];

/* Params: 1 if present and of the right type. */
int golden_param_int(json_t *params, const char *key, int64_t *out);
int golden_param_quant_type(json_t *params, kbit_quant_type *out);
int golden_param_shape(json_t *params, int *ndim, int64_t shape[KBIT_MAX_DIMS]);
/* "f32" | "f16" | "bf16" */
int golden_param_dtype(json_t *params, const char *key, kbit_dtype *out);

/* The message of the last failure of the safetensors reader (reader_error.c). */
const char *conf_reader_error(void);

#endif
