/* tools/conformance/harness.c - see harness.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

uint64_t conf_seed(const conf_run *run, uint64_t fallback)
{
    return run->seed_given ? run->seed : fallback;
}

kbit_device *conf_dev(const conf_run *run, int t)
{
    const conf_target *x = &run->targets[t];
    if (x->dev == NULL || kbit_device_supports(x->dev, (uint32_t)run->family) != KBIT_OK)
        return NULL;
    return x->dev;
}

const char *conf_skip_reason(const conf_run *run, int t)
{
    static char why[900];
    const conf_target *x = &run->targets[t];
    if (x->dev == NULL)
        return x->skip;
    if (kbit_device_supports(x->dev, (uint32_t)run->family) != KBIT_OK) {
        snprintf(why, sizeof why, "device %s does not implement %s: %s", x->spec,
                 kbit_family_name(run->family), kbit_last_error());
        return why;
    }
    return "";
}

int conf_first_target(const conf_run *run)
{
    for (int t = 0; t < run->ntargets; t++)
        if (conf_dev(run, t))
            return t;
    return -1;
}

void conf_report(const conf_run *run, const char *check, const conf_tally *tally,
                 const char *unit, const char *versus)
{
    for (int t = 0; t < run->ntargets; t++) {
        const conf_tally *s = &tally[t];
        int ok = s->cases > 0 && s->elements > 0 && s->mismatches == 0 && s->errors == 0;
        conf_report_one(run, t, ok, "%s on %s: %d cases, %zu %s %s%s%s (%zu mismatches, %d errors)",
                        check, run->targets[t].label, s->cases, s->elements, unit,
                        ok ? "bit-exact" : "compared", versus ? " " : "", versus ? versus : "",
                        s->mismatches, s->errors);
    }
}

void conf_report_one(const conf_run *run, int t, int ok, const char *fmt, ...)
{
    char what[1024];
    int len = snprintf(what, sizeof what, "%s: ", kbit_family_name(run->family));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what + len, sizeof what - (size_t)len, fmt, ap);
    va_end(ap);
    if (conf_dev(run, t) == NULL) {
        /* the counts mean nothing here: keep the description up to them */
        char *colon = strstr(what + len, ": ");
        if (colon)
            *colon = '\0';
        tap_skip(what, "%s", conf_skip_reason(run, t));
        return;
    }
    tap_ok(ok, "%s", what);
}

void *conf_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p == NULL)
        tap_bail("out of host memory (%zu bytes)", bytes);
    return p;
}
