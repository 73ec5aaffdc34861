/* tools/info.c - `kbit info`: what kbit found on this machine. Drivers that
 * were refused or found no device are listed with the reason, so a missing
 * GPU is explained rather than silently replaced by the CPU. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckcli.h"
#include "cli.h"
#include "kbit.h"

#ifndef KBIT_PLUGIN_DIR
#define KBIT_PLUGIN_DIR "(unknown)"
#endif

/* "quant4 quant8 gemm4 int8 optim" for a family set; "none" when empty. */
static void families_text(uint32_t families, char *out, size_t len)
{
    out[0] = '\0';
    for (uint32_t bit = 1; bit & KBIT_FAMILY_ALL; bit <<= 1)
        if (families & bit)
            snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? " " : "",
                     kbit_family_name((kbit_family)bit));
    if (out[0] == '\0')
        snprintf(out, len, "none");
}

static void print_bytes(uint64_t bytes)
{
    if (bytes == 0)
        printf("memory unknown");
    else
        printf("%.1f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0));
}

/* One driver: name, state and file, then its description and the reason it
 * was refused or found no device. width: the name column. */
static void print_driver(const kbit_driver_report *r, int width)
{
    char state[48];
    if (!r->loaded)
        snprintf(state, sizeof state, "refused");
    else if (r->device_count == 0)
        snprintf(state, sizeof state, "no device");
    else
        snprintf(state, sizeof state, "%d device%s", r->device_count,
                 r->device_count == 1 ? "" : "s");
    printf("  %-*s  %-10s %s\n", width, ckcli_safe(r->name), state, ckcli_safe(r->path));
    if (r->description && r->description[0])
        printf("  %-*s  %-10s %s\n", width, "", "", ckcli_safe(r->description));
    if (r->loaded) {
        char fam[96];
        families_text(r->families, fam, sizeof fam);
        printf("  %-*s  %-10s ABI %u.%u; families: %s\n", width, "", "", (unsigned)r->abi_major,
               (unsigned)r->abi_minor, fam);
        if (r->families_reason && r->families_reason[0])
            printf("  %-*s  %-10s dropped: %s\n", width, "", "", ckcli_safe(r->families_reason));
        if (r->limits && r->limits[0])
            printf("  %-*s  %-10s only: %s\n", width, "", "", ckcli_safe(r->limits));
    }
    if (r->reason && r->reason[0])
        printf("  %-*s  %-10s reason: %s\n", width, "", "", ckcli_safe(r->reason));
}

/* Open device `index` of a driver and print one line about it. Returns the
 * CPU variant through `variant` when this is the CPU driver. */
static void print_device(const char *driver, int index, char *variant, size_t variant_len)
{
    char spec[80];
    snprintf(spec, sizeof spec, "%s:%d", driver, index);
    kbit_device *dev = NULL;
    kbit_status st = kbit_device_open(spec, &dev);
    if (st != KBIT_OK) {
        printf("  %-12s cannot open: %s\n", spec, ckcli_safe(kbit_last_error()));
        return;
    }
    kbit_device_info info;
    st = kbit_device_get_info(dev, &info);
    if (st != KBIT_OK) {
        printf("  %-12s no information: %s\n", spec, ckcli_safe(kbit_last_error()));
    } else {
        printf("  %-12s %s\n", spec, ckcli_safe(info.name));
        printf("  %-12s variant %s, %d thread%s, ", "", info.variant, info.threads,
               info.threads == 1 ? "" : "s");
        print_bytes(info.memory_bytes);
        printf("\n");
        char fam[96];
        families_text(info.families, fam, sizeof fam);
        printf("  %-12s families: %s\n", "", fam);
        if (kbit_device_supports(dev, KBIT_FAMILY_ALL) != KBIT_OK)
            printf("  %-12s (%s)\n", "", kbit_last_error());
        if (strcmp(info.driver, "cpu") == 0 && variant[0] == '\0')
            snprintf(variant, variant_len, "%s", info.variant);
    }
    kbit_device_close(dev);
}

static void print_auto_for(const char *label, uint32_t families)
{
    kbit_device *dev = NULL;
    if (kbit_device_open_for("auto", families, &dev) != KBIT_OK) {
        printf("%-15s none (%s)\n", label, ckcli_safe(kbit_last_error()));
        return;
    }
    kbit_device_info info;
    if (kbit_device_get_info(dev, &info) == KBIT_OK)
        printf("%-15s %s:%d (%s)\n", label, info.driver, info.index, ckcli_safe(info.name));
    kbit_device_close(dev);
}

/* What "auto" picks for everything, and for each family alone. */
static void print_auto(void)
{
    print_auto_for("auto:", KBIT_FAMILY_ALL);
    for (uint32_t bit = 1; bit & KBIT_FAMILY_ALL; bit <<= 1) {
        char label[32];
        snprintf(label, sizeof label, "auto %s:", kbit_family_name((kbit_family)bit));
        print_auto_for(label, bit);
    }
}

int kbit_cmd_info(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            printf("usage: kbit info\n"
                   "Prints the version, every driver found (with the reason when one was\n"
                   "refused or has no device), the devices and the CPU variant in use.\n");
            return 0;
        }
        fprintf(stderr, "kbit info: unexpected argument '%s'\nusage: kbit info\n", argv[1]);
        return 2;
    }

    printf("kbit %s (library %s)\n", PACKAGE_VERSION, kbit_version());
    const char *path = getenv("KBIT_DRIVER_PATH");
    printf("plugin search: KBIT_DRIVER_PATH=%s, then %s\n", path && *path ? path : "(unset)",
           KBIT_PLUGIN_DIR);

    int count = 0;
    if (kbit_driver_count(&count) != KBIT_OK) {
        fprintf(stderr, "kbit info: %s\n", ckcli_safe(kbit_last_error()));
        return 1;
    }
    int width = 10;
    for (int i = 0; i < count; i++) {
        kbit_driver_report r;
        if (kbit_driver_get(i, &r) == KBIT_OK && (int)strlen(r.name) > width)
            width = (int)strlen(r.name);
    }
    printf("\ndrivers:\n");
    for (int i = 0; i < count; i++) {
        kbit_driver_report r;
        if (kbit_driver_get(i, &r) == KBIT_OK)
            print_driver(&r, width);
    }

    printf("\ndevices:\n");
    char variant[32] = "";
    int devices = 0;
    for (int i = 0; i < count; i++) {
        kbit_driver_report r;
        if (kbit_driver_get(i, &r) != KBIT_OK || !r.loaded)
            continue;
        for (int d = 0; d < r.device_count; d++, devices++)
            print_device(r.name, d, variant, sizeof variant);
    }
    if (devices == 0)
        printf("  (none)\n");

    printf("\n");
    print_auto();
    const char *isa = getenv("KBIT_CPU_ISA"), *tuning = getenv("KBIT_CPU_TUNING");
    /* the driver's variant reads "avx512/zen4+amx-bf16": ISA, tuning, fast kernel */
    char *plus = strchr(variant, '+');
    if (plus)
        *plus = '\0';
    char *slash = strchr(variant, '/');
    if (slash)
        *slash = '\0';
    if (variant[0] == '\0')
        printf("cpu variant:   unavailable (the CPU driver has no device)\n");
    else if (isa && *isa)
        printf("cpu variant:   %s (KBIT_CPU_ISA=%s)\n", variant, isa);
    else
        printf("cpu variant:   %s (the best this CPU supports; KBIT_CPU_ISA forces one)\n",
               variant);
    if (variant[0] != '\0' && !slash)
        printf("cpu tuning:    none (the scalar variant has one kernel per op)\n");
    else if (slash && tuning && *tuning && strcmp(tuning, "auto") != 0)
        printf("cpu tuning:    %s (KBIT_CPU_TUNING=%s)\n", slash + 1, tuning);
    else if (slash)
        printf("cpu tuning:    %s (by CPU vendor and family; KBIT_CPU_TUNING forces one)\n",
               slash + 1);
    const char *fast = getenv("KBIT_CPU_FAST");
    if (variant[0] == '\0')
        ;
    else if (plus) /* the least M of each kernel: backends/cpu/gemm4/ops.c */
        printf("cpu fast mode: %s (4-bit matmul, bf16, M >= %d, when a device is set to "
               "KBIT_MATH_FAST%s%s)\n", plus + 1, strcmp(plus + 1, "avx512-bf16") == 0 ? 10 : 2,
               fast && *fast ? "; KBIT_CPU_FAST=" : "", fast && *fast ? fast : "");
    else
        printf("cpu fast mode: none (%s; KBIT_MATH_FAST runs exact)\n",
               fast && strcmp(fast, "none") == 0 ? "KBIT_CPU_FAST=none"
                                                 : "no AMX-BF16 or AVX512_BF16 kernel for this CPU, OS or variant");
    return 0;
}
