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
/* KBIT_CPU_TUNING values (backends/cpu/isa.c) */
static const char *const all_tunings[] = { "generic", "zen4" };
#define NTUNINGS (sizeof all_tunings / sizeof all_tunings[0])

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

/* The scalar variant has no tunings: one target whatever the tuning. */
static int add(builder *b, const char *spec, const char *isa, const char *tuning, int threads,
               const char *skip)
{
    if (isa && strcmp(isa, "scalar") == 0)
        tuning = NULL;
    char label[96], forced[48] = "";
    if (isa)
        snprintf(forced, sizeof forced, "/%s", isa);
    if (tuning)
        snprintf(forced + strlen(forced), sizeof forced - strlen(forced), "/%s", tuning);
    snprintf(label, sizeof label, "%.40s%s/t%d", spec, forced, threads);
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
    snprintf(x->tuning, sizeof x->tuning, "%s", tuning ? tuning : "");
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

/* What to force on the CPU: variants x tunings (either list may be empty). */
typedef struct forcing {
    char **isas, **tunings;
    int nisas, ntunings;
} forcing;

/* One device spec with every variant, tuning and thread count. */
static int add_device(builder *b, const char *spec, const forcing *f, const int *threads,
                      int nthreads, const char *skip)
{
    int cpu = is_cpu(spec) && f != NULL;
    int ni = cpu && f->nisas > 0 ? f->nisas : 1, nt = cpu && f->ntunings > 0 ? f->ntunings : 1;
    for (int i = 0; i < ni; i++)
        for (int u = 0; u < nt; u++)
            for (int k = 0; k < nthreads; k++) {
                const char *isa = cpu && f->nisas > 0 ? f->isas[i] : NULL;
                const char *tuning = cpu && f->ntunings > 0 ? f->tunings[u] : NULL;
                if (add(b, isa || tuning ? "cpu" : spec, isa, tuning, threads[k], skip) < 0)
                    return -1;
            }
    return 0;
}

/* "all": the CPU, then every driver the registry found. */
static int add_all(builder *b, const forcing *f, const int *threads, int nthreads)
{
    if (add_device(b, "cpu", f, threads, nthreads, NULL) < 0)
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
            if (add_device(b, spec, NULL, threads, nthreads, skip) < 0)
                return -1;
            for (int k = first; k < b->count; k++)
                b->t[k].missing = 1;
            continue;
        }
        /* a driver without a device still shows, as a skip with its reason */
        int devices = r.device_count > 0 ? r.device_count : 1;
        for (int d = 0; d < devices; d++) {
            snprintf(spec, sizeof spec, "%.40s:%d", r.name, d);
            if (add_device(b, spec, NULL, threads, nthreads, NULL) < 0)
                return -1;
        }
    }
    return 0;
}

/* A --isa or --tuning list: "all" = every known name, else known names. */
static int parse_names(builder *b, const char *what, const char *list, const char *const *known,
                       size_t nknown, char *buf, size_t buf_len, char **items)
{
    int n = 0;
    if (strcmp(list, "all") == 0) {
        for (size_t i = 0; i < nknown; i++)
            items[n++] = (char *)known[i];
        return n;
    }
    snprintf(buf, buf_len, "%s", list);
    n = split(buf, items, 16);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (size_t k = 0; k < nknown; k++)
            found |= strcmp(items[i], known[k]) == 0;
        if (!found) {
            char names[128] = "";
            for (size_t k = 0; k < nknown; k++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s, ", known[k]);
            return failf(b, "--%s: unknown CPU %s '%s' (%sor all)", what,
                         strcmp(what, "isa") == 0 ? "variant" : "tuning", items[i], names);
        }
    }
    if (n == 0)
        return failf(b, "--%s: an empty list", what);
    return n;
}

int conf_targets_build(const char *devices, const char *isas, const char *tunings,
                       const char *threads, conf_target *t, int max, char *err, size_t err_len)
{
    builder b = { t, 0, max, err, err_len };
    char isa_buf[256] = "", tun_buf[256] = "", thr_buf[256], dev_buf[2048];
    char *isa_items[16], *tun_items[16], *thr_items[16], *dev_items[64];
    forcing f = { isa_items, tun_items, 0, 0 };
    if (isas && (f.nisas = parse_names(&b, "isa", isas, all_isas, NISAS, isa_buf, sizeof isa_buf,
                                       isa_items)) < 0)
        return -1;
    if (tunings && (f.ntunings = parse_names(&b, "tuning", tunings, all_tunings, NTUNINGS, tun_buf,
                                             sizeof tun_buf, tun_items)) < 0)
        return -1;
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
                     ? add_all(&b, &f, thr, nthr)
                     : add_device(&b, dev_items[i], &f, thr, nthr, NULL);
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

/* Whether variant ("avx512/zen4", "scalar") is the forced isa and tuning. */
static int variant_is(const char *variant, const char *isa, const char *tuning)
{
    const char *slash = strchr(variant, '/');
    size_t isa_len = slash ? (size_t)(slash - variant) : strlen(variant);
    if (isa[0] && (strlen(isa) != isa_len || strncmp(variant, isa, isa_len) != 0))
        return 0;
    if (!tuning[0] || !slash)
        return 1;
    /* the tuning ends at "+" (fast mode's kernel: "avx512/generic+amx-bf16") */
    size_t tuning_len = strcspn(slash + 1, "+");
    return strlen(tuning) == tuning_len && strncmp(slash + 1, tuning, tuning_len) == 0;
}

static void open_one(conf_target *t)
{
    int forced = t->isa[0] || t->tuning[0];
    kbit_status st = forced ? cpu_open_variant(t->isa[0] ? t->isa : NULL,
                                               t->tuning[0] ? t->tuning : NULL, &t->dev)
                            : kbit_device_open(t->spec, &t->dev);
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
    if (forced && !variant_is(info.variant, t->isa, t->tuning)) {
        set_skip(t, "KBIT_CPU_ISA=%s KBIT_CPU_TUNING=%s opened variant '%s' instead", t->isa,
                 t->tuning, info.variant);
        return;
    }
    if (!forced && info.variant[0]) {
        char label[sizeof t->label];
        snprintf(label, sizeof label, "%.60s/%.24s/t%d", t->spec, info.variant, t->threads);
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
