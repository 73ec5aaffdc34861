/* tools/conformance/targets.c - see targets.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "targets.h"

static const char *const all_isas[] = { "scalar", "avx2", "avx512", "avx512vnni" };
#define NISAS (sizeof all_isas / sizeof all_isas[0])

typedef struct builder {
    conf_target *t;
    int count, max;
    char *err;
    size_t err_len;
} builder;

static int failf(builder *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, b->err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* "cpu" and "cpu:0" are the CPU driver (where variants can be forced). */
static int is_cpu(const char *spec)
{
    return strcmp(spec, "cpu") == 0 || strcmp(spec, "cpu:0") == 0;
}

static int add(builder *b, const char *spec, const char *isa, int threads, const char *skip)
{
    char label[96];
    if (isa)
        snprintf(label, sizeof label, "%.40s/%s/t%d", spec, isa, threads);
    else
        snprintf(label, sizeof label, "%.60s/t%d", spec, threads);
    for (int i = 0; i < b->count; i++)
        if (strcmp(b->t[i].label, label) == 0)
            return 0;
    if (b->count >= b->max)
        return failf(b, "more than %d targets", b->max);
    conf_target *x = &b->t[b->count++];
    memset(x, 0, sizeof *x);
    memcpy(x->label, label, sizeof label);
    snprintf(x->spec, sizeof x->spec, "%.60s", spec);
    snprintf(x->isa, sizeof x->isa, "%s", isa ? isa : "");
    x->threads = threads;
    if (skip)
        snprintf(x->skip, sizeof x->skip, "%s", skip);
    return 0;
}

/* A comma list split into at most max items (pointers into buf). */
static int split(char *buf, char **items, int max)
{
    int n = 0;
    for (char *s = strtok(buf, ","); s && n < max; s = strtok(NULL, ","))
        if (*s)
            items[n++] = s;
    return n;
}

/* One device spec with every variant and thread count. */
static int add_device(builder *b, const char *spec, char **isas, int nisas, const int *threads,
                      int nthreads, const char *skip)
{
    int forced = is_cpu(spec) && nisas > 0;
    for (int i = 0; i < (forced ? nisas : 1); i++)
        for (int k = 0; k < nthreads; k++)
            if (add(b, forced ? "cpu" : spec, forced ? isas[i] : NULL, threads[k], skip) < 0)
                return -1;
    return 0;
}

/* "all": the CPU, then every driver the registry found. */
static int add_all(builder *b, char **isas, int nisas, const int *threads, int nthreads)
{
    if (add_device(b, "cpu", isas, nisas, threads, nthreads, NULL) < 0)
        return -1;
    int drivers = 0;
    if (kbit_driver_count(&drivers) != KBIT_OK)
        return failf(b, "kbit_driver_count: %s", kbit_last_error());
    for (int i = 0; i < drivers; i++) {
        kbit_driver_report r;
        if (kbit_driver_get(i, &r) != KBIT_OK)
            return failf(b, "kbit_driver_get(%d): %s", i, kbit_last_error());
        if (strcmp(r.name, "cpu") == 0)
            continue;
        char spec[64], skip[600];
        if (!r.loaded) {
            snprintf(spec, sizeof spec, "%.40s:0", r.name);
            snprintf(skip, sizeof skip, "driver '%s' (%s) was refused: %s", r.name, r.path,
                     r.reason);
            int first = b->count;
            if (add_device(b, spec, NULL, 0, threads, nthreads, skip) < 0)
                return -1;
            for (int k = first; k < b->count; k++)
                b->t[k].missing = 1;
            continue;
        }
        /* a driver without a device still shows, as a skip with its reason */
        int devices = r.device_count > 0 ? r.device_count : 1;
        for (int d = 0; d < devices; d++) {
            snprintf(spec, sizeof spec, "%.40s:%d", r.name, d);
            if (add_device(b, spec, NULL, 0, threads, nthreads, NULL) < 0)
                return -1;
        }
    }
    return 0;
}

int conf_targets_build(const char *devices, const char *isas, const char *threads,
                       conf_target *t, int max, char *err, size_t err_len)
{
    builder b = { t, 0, max, err, err_len };
    char isa_buf[256] = "", thr_buf[256], dev_buf[2048];
    char *isa_items[16], *thr_items[16], *dev_items[64];
    int nisas = 0;
    if (isas) {
        if (strcmp(isas, "all") == 0) {
            for (size_t i = 0; i < NISAS; i++)
                isa_items[nisas++] = (char *)all_isas[i];
        } else {
            snprintf(isa_buf, sizeof isa_buf, "%s", isas);
            nisas = split(isa_buf, isa_items, 16);
            for (int i = 0; i < nisas; i++) {
                int known = 0;
                for (size_t k = 0; k < NISAS; k++)
                    known |= strcmp(isa_items[i], all_isas[k]) == 0;
                if (!known)
                    return failf(&b, "--isa: unknown CPU variant '%s' (scalar, avx2, avx512, "
                                 "avx512vnni or all)", isa_items[i]);
            }
        }
        if (nisas == 0)
            return failf(&b, "--isa: an empty list");
    }
    snprintf(thr_buf, sizeof thr_buf, "%s", threads ? threads : "1");
    int nthr = split(thr_buf, thr_items, 16), thr[16];
    if (nthr == 0)
        return failf(&b, "--threads: an empty list");
    for (int i = 0; i < nthr; i++) {
        char *end;
        long v = strtol(thr_items[i], &end, 10);
        if (*end || v < 1 || v > 4096)
            return failf(&b, "--threads: '%s' is not a thread count", thr_items[i]);
        thr[i] = (int)v;
    }
    snprintf(dev_buf, sizeof dev_buf, "%s", devices ? devices : "cpu");
    int ndev = split(dev_buf, dev_items, 64);
    if (ndev == 0)
        return failf(&b, "--device: an empty list");
    for (int i = 0; i < ndev; i++) {
        int st = strcmp(dev_items[i], "all") == 0
                     ? add_all(&b, isa_items, nisas, thr, nthr)
                     : add_device(&b, dev_items[i], isa_items, nisas, thr, nthr, NULL);
        if (st < 0)
            return -1;
    }
    return b.count;
}

static void set_skip(conf_target *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->skip, sizeof t->skip, fmt, ap);
    va_end(ap);
    kbit_device_close(t->dev);
    t->dev = NULL;
}

static void open_one(conf_target *t)
{
    kbit_status st = t->isa[0] ? cpu_open_isa(t->isa, &t->dev) : kbit_device_open(t->spec, &t->dev);
    if (st != KBIT_OK) {
        t->dev = NULL;
        t->missing = 1;
        set_skip(t, "%s unavailable: %s", t->spec, kbit_last_error());
        return;
    }
    kbit_device_info info;
    if (kbit_device_get_info(t->dev, &info) != KBIT_OK) {
        set_skip(t, "kbit_device_get_info failed: %s", kbit_last_error());
        return;
    }
    if (t->isa[0] && strcmp(info.variant, t->isa) != 0) {
        set_skip(t, "KBIT_CPU_ISA=%s opened variant '%s' instead", t->isa, info.variant);
        return;
    }
    if (!t->isa[0] && info.variant[0]) {
        char label[sizeof t->label];
        snprintf(label, sizeof label, "%.60s/%.16s/t%d", t->spec, info.variant, t->threads);
        memcpy(t->label, label, sizeof label);
    }
    if (kbit_device_set_threads(t->dev, t->threads) != KBIT_OK)
        set_skip(t, "kbit_device_set_threads(%d): %s", t->threads, kbit_last_error());
}

void conf_targets_open(conf_target *t, int count)
{
    for (int i = 0; i < count; i++)
        if (!t[i].skip[0])
            open_one(&t[i]);
}

void conf_targets_close(conf_target *t, int count)
{
    for (int i = 0; i < count; i++) {
        kbit_device_close(t[i].dev);
        t[i].dev = NULL;
    }
}
