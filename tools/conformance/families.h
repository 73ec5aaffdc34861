/* tools/conformance/families.h - the op families `kbit conformance` checks,
 * each with its golden ops (golden_<family>.c) and its randomized cases
 * (random_<family>.c). */
#ifndef KBIT_CONFORMANCE_FAMILIES_H
#define KBIT_CONFORMANCE_FAMILIES_H

#include <stddef.h>

#include "golden.h"
#include "harness.h"

typedef struct conf_family {
    kbit_family bit;                  /* its name is kbit_family_name(bit) */
    const conf_golden_op *golden;     /* the golden ops it checks, up to { NULL, NULL } */
    conf_golden_file_fn golden_file;  /* once per file with its ops; may be NULL */
    void (*random)(conf_run *run);    /* the randomized cases on every target */
    const char *random_summary;       /* what those are, for --list */
} conf_family;

/* The families in the order they run; count in *n. */
const conf_family *conf_families(size_t *n);
/* The family whose golden table has `op`; NULL if none. */
const conf_family *conf_family_of_golden_op(const char *op);

/* The tables and runs, one pair per family. */
extern const conf_golden_op conf_golden_quant4[], conf_golden_quant8[], conf_golden_gemm4[],
    conf_golden_int8[], conf_golden_optim[];
void conf_golden_optim_file(const conf_run *run, const char *file, const kbit_st_file *st,
                            json_t *cases);

void conf_random_quant4(conf_run *run);
void conf_random_quant8(conf_run *run);
void conf_random_gemm4(conf_run *run);
void conf_random_int8(conf_run *run);
void conf_random_optim(conf_run *run);
/* Optim cases against numerics 6.2 and 6.4 written out (formula_optim.c); run by conf_random_optim. */
void conf_formula_optim(conf_run *run);

#endif
