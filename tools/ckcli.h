/* tools/ckcli.h - what the checkpoint verbs (quantize, dequantize, inspect)
 * share: dtype names, the progress bar, peak memory, the JSON summary. */
#ifndef KBIT_TOOLS_CKCLI_H
#define KBIT_TOOLS_CKCLI_H

#include <stdint.h>
#include <stdio.h>

#include "kbit.h"

/* "fp32"/"f32"/"float32", "fp16"/"f16"/"float16", "bf16"/"bfloat16",
 * "uint8"/"u8", "int8"/"i8", "fp64"/"float64"; 0 if unknown. */
int ckcli_parse_dtype(const char *s, kbit_dtype *dtype);

/* A progress bar on stderr when it is a terminal and not quiet: tensors,
 * bytes, rate and ETA, redrawn at most 10 times a second. */
typedef struct ckcli_progress {
    int enabled;
    double start, last_draw;
    int drawn;
} ckcli_progress;

void ckcli_progress_init(ckcli_progress *p, int quiet);
/* A kbit_progress_fn (ctx = the ckcli_progress). */
void ckcli_progress_cb(void *ctx, const char *name, int64_t done, int64_t total,
                       uint64_t bytes_done, uint64_t bytes_total);
/* Clear the bar's line. */
void ckcli_progress_end(ckcli_progress *p);

/* Seconds since an arbitrary start (monotonic). */
double ckcli_now(void);
/* Peak resident set of this process in bytes (getrusage). */
uint64_t ckcli_peak_rss(void);

/* "1.23 GB" style. */
void ckcli_format_bytes(uint64_t bytes, char *out, size_t len);

/* s made safe for a terminal: control characters (C0, DEL, C1), the bidi
 * controls and bytes that are not UTF-8 written as \xNN / \uNNNN, and the
 * backslash as \\ (so what is printed reads back unambiguously). The
 * result lives in one of 8 buffers used in turn (cut at 4 KiB): for a
 * printf argument. NULL gives "(null)". Every human-readable output of the
 * checkpoint verbs goes through it (names and messages come from files). */
const char *ckcli_safe(const char *s);

/* A JSON string (quotes, escapes) to f. */
void ckcli_json_string(FILE *f, const char *s);

/* For the verbs that write OUT (quantize, dequantize): the rest of the verb
 * runs in a child process and this one waits for it. On SIGINT, SIGTERM or
 * SIGHUP it kills the child, removes the child's temporary next to OUT
 * (kbit_checkpoint_remove_stale: the child is gone) and dies of the same
 * signal; when the child dies of a signal itself, its temporary is removed
 * too. The child dies with this process (SIGKILL of both leaves a
 * temporary, which the next run on OUT removes). Returns only in the child;
 * the parent exits with the child's status. */
void ckcli_supervise(const char *verb, const char *out);

/* Open the device for a verb; prints the error and returns NULL. */
/* Open spec for a verb that needs the op families `families` ("auto": the
 * best device that has them); prints the reason and returns NULL on failure. */
kbit_device *ckcli_open_device(const char *verb, const char *spec, uint32_t families);

#endif
