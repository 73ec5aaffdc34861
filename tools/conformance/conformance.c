/* tools/conformance/conformance.c - `kbit conformance`: the porting kit. Runs
 * the golden vectors and the randomized cases of every op family on the
 * devices named, against the built-in scalar reference (the CPU driver
 * forced to its scalar variant, one thread), bit for bit, and prints TAP.
 * Exits 0 only when no check failed (a family a device does not implement is
 * a skip that says why). `make check` runs this program (tests/local.mk). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "devices.h"
#include "families.h"
#include "golden.h"
#include "harness.h"
#include "tap.h"
#include "targets.h"
#include "vectors.h"

static void usage(FILE *to)
{
    fputs("usage: kbit conformance [OPTIONS]\n"
          "\n"
          "Checks a device against kbit's scalar reference (the CPU driver forced to its\n"
          "scalar variant, one thread), bit for bit: the golden vectors and the randomized\n"
          "cases (edge values, odd sizes) of every op family. Prints TAP; exits 0 when\n"
          "nothing failed, 1 otherwise, 2 on bad usage. A family the device does not\n"
          "implement is skipped with the reason.\n"
          "\n"
          "options:\n"
          "  --device LIST     devices to check, comma-separated, the option repeatable\n"
          "                    (default cpu): cpu, cuda:0, mydev:1, ...; all = the CPU\n"
          "                    and every device of every driver found\n"
          "  --isa LIST        for the CPU: the variants to force (KBIT_CPU_ISA), from\n"
          "                    scalar,avx2,avx512,avx512vnni, or all (default: none\n"
          "                    forced, as KBIT_CPU_ISA or the CPU selects)\n"
          "  --tuning LIST     for the CPU: the tunings to force (KBIT_CPU_TUNING), from\n"
          "                    generic,zen4, or all (default: none forced); every\n"
          "                    tuning runs on any CPU that has the variant\n"
          "  --threads LIST    worker threads, e.g. 1,2 (default 1)\n"
          "  --family LIST     quant4,quant8,gemm4,int8,optim (default all)\n"
          "  --quick           a smaller set that still covers every family, every dtype\n"
          "                    and every class of edge value (for slow devices)\n"
          "  --seed N          seed of the randomized cases (default KBIT_TEST_SEED, else\n"
          "                    fixed per family, so runs are reproducible)\n"
          "  --vectors DIR     the golden vectors (default KBIT_VECTORS_DIR, else the\n"
          "                    install's " KBIT_VECTORS_INSTALL_DIR ")\n"
          "  --allow-missing   a device that cannot be opened is skipped with the reason\n"
          "                    (default: it fails; a CPU variant or thread count a device\n"
          "                    cannot run is always a skip)\n"
          "  --list            print what would run, run nothing\n"
          "\n"
          "A target is one device x CPU variant x tuning x thread count; every check prints one\n"
          "line per target: e.g. `kbit conformance --device mydev:0`, or for CI of the CPU\n"
          "`kbit conformance --device cpu --isa all --tuning all --threads 1,2`.\n",
          to);
}

/* "quant4,gemm4" -> family bits; 0 on an unknown name (message in err). */
static uint32_t parse_families(const char *list, char *err, size_t err_len)
{
    if (list == NULL || strcmp(list, "all") == 0)
        return KBIT_FAMILY_ALL;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    uint32_t set = 0;
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
        uint32_t bit = 0;
        for (uint32_t b = 1; b & KBIT_FAMILY_ALL; b <<= 1)
            if (strcmp(kbit_family_name((kbit_family)b), s) == 0)
                bit = b;
        if (bit == 0) {
            snprintf(err, err_len, "--family: unknown family '%s' (quant4, quant8, gemm4, "
                     "int8, optim or all)", s);
            return 0;
        }
        set |= bit;
    }
    if (set == 0)
        snprintf(err, err_len, "--family: an empty list");
    return set;
}

/* One line per target: what it is, or why it is skipped. */
static void report_targets(const conf_run *run, int allow_missing)
{
    for (int t = 0; t < run->ntargets; t++) {
        const conf_target *x = &run->targets[t];
        char what[160];
        snprintf(what, sizeof what, "target %s", x->label);
        if (x->dev == NULL) {
            /* a device that is not there fails, unless asked; one that is
             * there but cannot run this variant or thread count is a skip */
            if (x->missing && !allow_missing)
                tap_ok(0, "%s: %s (--allow-missing makes this a skip)", what, x->skip);
            else
                tap_skip(what, "%s", x->skip);
            continue;
        }
        /* (the families it lacks show as skips on the lines of their checks) */
        kbit_device_info info;
        int ok = kbit_device_get_info(x->dev, &info) == KBIT_OK;
        if (ok)
            tap_ok(1, "%s: %s (driver %s, device %d, variant %s, %d thread%s)", what, info.name,
                   info.driver, info.index, info.variant, x->threads, x->threads == 1 ? "" : "s");
        else
            tap_ok(0, "%s: kbit_device_get_info: %s", what, kbit_last_error());
    }
}

static void list(const conf_run *run, uint32_t families)
{
    printf("reference: cpu, variant scalar, 1 thread\ntargets:\n");
    for (int t = 0; t < run->ntargets; t++)
        printf("  %-28s %s\n", run->targets[t].label,
               run->targets[t].dev ? "" : run->targets[t].skip);
    size_t n;
    const conf_family *f = conf_families(&n);
    printf("families (%s set):\n", run->quick ? "quick" : "full");
    for (size_t i = 0; i < n; i++)
        if (families & f[i].bit)
            printf("  %-8s golden vectors of its ops, then randomized: %s\n",
                   kbit_family_name(f[i].bit), f[i].random_summary);
    conf_golden_list();
}

int kbit_cmd_conformance(int argc, char **argv)
{
    enum { O_DEVICE = 256, O_ISA, O_TUNING, O_THREADS, O_FAMILY, O_QUICK, O_SEED, O_VECTORS, O_LIST,
           O_MISSING, O_HELP };
    static const struct option longopts[] = {
        { "device", required_argument, NULL, O_DEVICE },
        { "isa", required_argument, NULL, O_ISA },
        { "tuning", required_argument, NULL, O_TUNING },
        { "threads", required_argument, NULL, O_THREADS },
        { "family", required_argument, NULL, O_FAMILY },
        { "quick", no_argument, NULL, O_QUICK },
        { "seed", required_argument, NULL, O_SEED },
        { "vectors", required_argument, NULL, O_VECTORS },
        { "list", no_argument, NULL, O_LIST },
        { "allow-missing", no_argument, NULL, O_MISSING },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    static char devices[2048];
    const char *isas = NULL, *tunings = NULL, *threads = NULL, *family_list = NULL, *seed_text = NULL;
    int quick = 0, listing = 0, allow_missing = 0, c;
    devices[0] = '\0';
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_DEVICE:
            if (strlen(devices) + strlen(optarg) + 2 > sizeof devices) {
                fprintf(stderr, "kbit conformance: --device: too many devices\n");
                return 2;
            }
            if (devices[0])
                strcat(devices, ",");
            strcat(devices, optarg);
            break;
        case O_ISA: isas = optarg; break;
        case O_TUNING: tunings = optarg; break;
        case O_THREADS: threads = optarg; break;
        case O_FAMILY: family_list = optarg; break;
        case O_QUICK: quick = 1; break;
        case O_SEED: seed_text = optarg; break;
        case O_VECTORS: vectors_dir_override(optarg); break;
        case O_LIST: listing = 1; break;
        case O_MISSING: allow_missing = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default:
            fprintf(stderr, "kbit conformance: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kbit conformance: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    char err[300] = "";
    uint32_t families = parse_families(family_list, err, sizeof err);
    if (families == 0) {
        fprintf(stderr, "kbit conformance: %s\n", err);
        return 2;
    }
    static conf_run run;
    static conf_target targets[CONF_MAX_TARGETS];
    memset(&run, 0, sizeof run);
    run.quick = quick;
    if (seed_text == NULL && getenv("KBIT_TEST_SEED") && *getenv("KBIT_TEST_SEED"))
        seed_text = getenv("KBIT_TEST_SEED");
    if (seed_text) {
        char *end;
        run.seed = strtoull(seed_text, &end, 0);
        if (*end || !*seed_text) {
            fprintf(stderr, "kbit conformance: --seed: '%s' is not a number\n", seed_text);
            return 2;
        }
        run.seed_given = 1;
    }
    run.targets = targets;
    run.ntargets = conf_targets_build(devices[0] ? devices : NULL, isas, tunings, threads, targets,
                                      CONF_MAX_TARGETS, err, sizeof err);
    if (run.ntargets < 0) {
        fprintf(stderr, "kbit conformance: %s\n", err);
        return 2;
    }
    conf_targets_open(targets, run.ntargets);

    if (listing) {
        conf_golden_scan(0, families);
        list(&run, families);
        conf_golden_close();
        conf_targets_close(targets, run.ntargets);
        return 0;
    }

    tap_diag("kbit conformance: library %s, %s set, vectors %s", kbit_version(),
             quick ? "quick" : "full", vectors_dir());
    if (run.seed_given)
        tap_diag("seed 0x%llx (--seed / KBIT_TEST_SEED)", (unsigned long long)run.seed);
    else
        tap_diag("seeds: each family's default (--seed or KBIT_TEST_SEED changes them)");
    run.ref = reference_open();
    report_targets(&run, allow_missing);
    conf_golden_scan(1, families);
    size_t n;
    const conf_family *f = conf_families(&n);
    for (size_t i = 0; i < n; i++) {
        if (!(families & f[i].bit))
            continue;
        run.family = f[i].bit;
        tap_diag("family %s", kbit_family_name(f[i].bit));
        conf_golden_run(&run, f[i].golden, f[i].golden_file);
        f[i].random(&run);
    }
    conf_golden_close();
    conf_targets_close(targets, run.ntargets);
    kbit_device_close(run.ref);
    tap_done();
    return tap_failures() ? 1 : 0;
}
