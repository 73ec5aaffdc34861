/* backends/opencl/devices.c - the devices of every OpenCL platform as
 * opencl:0..N-1 (platforms in the ICD loader's order, devices in each
 * platform's order), and what each one lacks for kbit's numerics.
 *
 * kbit's results must be bit-identical to the scalar reference
 * (doc/determinism.md), so a device gets the families only when its
 * arithmetic allows it: fp64 (the pairsum of the nested absmax), fp32 with
 * denormals, infinities and NaN and round to nearest even, IEEE fp32 divide
 * and square root (CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT, which the build
 * option -cl-fp32-correctly-rounded-divide-sqrt then turns on), 64-bit
 * integers (the full profile), a compiler for OpenCL C 1.2 and work-groups
 * of 256 items. Otherwise it is listed with what it lacks and gets no
 * families: never inexact results.
 *
 * One test-only exception: oclgrind (a simulator that finds data races,
 * out-of-bounds accesses and divergent barriers) lacks correctly rounded
 * fp32 divide/sqrt. With KBIT_OPENCL_OCLGRIND=races in the environment, and
 * only on the platform named "Oclgrind", that lack is waived so that
 * tests/test-oclgrind.sh can run the kernels there for races and bounds;
 * its numbers are never claimed (the variant says so, and the conformance
 * test never runs there). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/gpu/split.h"
#include "backends/opencl/cl.h"

static kcl_device devices[KCL_MAX_DEVICES];
static int device_total;
static char none_reason[256];
static pthread_once_t enumerated = PTHREAD_ONCE_INIT;

/* A string query, trimmed of surrounding spaces; "" when it fails. */
static void info_string(cl_device_id d, cl_device_info what, char *out, size_t len)
{
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, len, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[len - 1] = '\0';
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\n'))
        out[--n] = '\0';
    size_t s = strspn(out, " ");
    if (s > 0)
        memmove(out, out + s, strlen(out + s) + 1);
}

static void append(char *lacks, size_t len, const char *what)
{
    size_t n = strlen(lacks);
    snprintf(lacks + n, len - n, "%s%s", n ? "; " : "", what);
}

/* The first `words` space-separated words of s into out. */
static void first_words(const char *s, int words, char *out, size_t len)
{
    size_t n = 0;
    int w = 0;
    while (s[n] != '\0') {
        if (s[n] == ' ' && ++w == words)
            break;
        n++;
    }
    snprintf(out, len, "%.*s", (int)n, s);
}

static const char *type_word(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU)
        return "GPU";
    if (t & CL_DEVICE_TYPE_CPU)
        return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return "accelerator";
    return "custom";
}

/* KBIT_OPENCL_OCLGRIND=races on oclgrind's platform (see the top). */
static int oclgrind_races_run(cl_platform_id p)
{
    const char *want = getenv("KBIT_OPENCL_OCLGRIND");
    char name[64] = "";
    if (want == NULL || strcmp(want, "races") != 0)
        return 0;
    if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof name, name, NULL) != CL_SUCCESS)
        return 0;
    name[sizeof name - 1] = '\0';
    return strcmp(name, "Oclgrind") == 0;
}

/* What device d lacks for kbit's numerics ("" when nothing). */
static void check_device(kcl_device *k)
{
    cl_device_id d = k->id;
    char text[256];
    k->lacks[0] = '\0';

    cl_bool yes = CL_FALSE;
    if (clGetDeviceInfo(d, CL_DEVICE_AVAILABLE, sizeof yes, &yes, NULL) != CL_SUCCESS || !yes)
        append(k->lacks, sizeof k->lacks, "not available (CL_DEVICE_AVAILABLE)");
    yes = CL_FALSE;
    if (clGetDeviceInfo(d, CL_DEVICE_COMPILER_AVAILABLE, sizeof yes, &yes, NULL) != CL_SUCCESS ||
        !yes)
        append(k->lacks, sizeof k->lacks, "no OpenCL C compiler (CL_DEVICE_COMPILER_AVAILABLE)");
    info_string(d, CL_DEVICE_PROFILE, text, sizeof text);
    if (strcmp(text, "FULL_PROFILE") != 0)
        append(k->lacks, sizeof k->lacks, "embedded profile (no 64-bit integers)");
    info_string(d, CL_DEVICE_OPENCL_C_VERSION, text, sizeof text);
    int major = 0, minor = 0;
    if (sscanf(text, "OpenCL C %d.%d", &major, &minor) != 2 || major * 10 + minor < 12)
        append(k->lacks, sizeof k->lacks, "no OpenCL C 1.2 (CL_DEVICE_OPENCL_C_VERSION)");

    cl_device_fp_config fp32 = 0, fp64 = 0;
    const cl_device_fp_config ieee = CL_FP_DENORM | CL_FP_INF_NAN | CL_FP_ROUND_TO_NEAREST;
    (void)clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp32, &fp32, NULL);
    (void)clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    if (!(fp32 & CL_FP_DENORM))
        append(k->lacks, sizeof k->lacks, "fp32 denormals are flushed (no CL_FP_DENORM)");
    if ((fp32 & (CL_FP_INF_NAN | CL_FP_ROUND_TO_NEAREST)) != (CL_FP_INF_NAN | CL_FP_ROUND_TO_NEAREST))
        append(k->lacks, sizeof k->lacks, "fp32 without inf/NaN or round to nearest even");
    if (!(fp32 & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) && !oclgrind_races_run(k->platform))
        append(k->lacks, sizeof k->lacks,
               "fp32 divide and sqrt are not correctly rounded "
               "(no CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)");
    if (fp64 == 0)
        append(k->lacks, sizeof k->lacks, "no fp64 (cl_khr_fp64)");
    else if ((fp64 & ieee) != ieee)
        append(k->lacks, sizeof k->lacks, "fp64 without denormals, inf/NaN or round to nearest");

    size_t wg = 0;
    cl_ulong local = 0;
    (void)clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    (void)clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    if (wg < KBIT_GPU_GROUP) {
        snprintf(text, sizeof text, "work-groups of at most %zu items (kbit needs %d)", wg,
                 KBIT_GPU_GROUP);
        append(k->lacks, sizeof k->lacks, text);
    }
    if (local < 4096) {
        snprintf(text, sizeof text, "%llu bytes of local memory (kbit needs 4096)",
                 (unsigned long long)local);
        append(k->lacks, sizeof k->lacks, text);
    }
}

static void describe(kcl_device *k)
{
    char version[128], driver[64], words[64];
    cl_device_type type = 0;
    cl_ulong mem = 0, max_alloc = 0;
    info_string(k->id, CL_DEVICE_NAME, k->name, sizeof k->name);
    info_string(k->id, CL_DEVICE_VERSION, version, sizeof version);
    info_string(k->id, CL_DRIVER_VERSION, driver, sizeof driver);
    (void)clGetDeviceInfo(k->id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    (void)clGetDeviceInfo(k->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    (void)clGetDeviceInfo(k->id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc,
                          NULL);
    /* "OpenCL 3.0 PoCL" + "3.1+debian" + "CPU" */
    first_words(version, 3, words, sizeof words);
    char drv[64];
    first_words(driver, 1, drv, sizeof drv);
    char variant[160];
    snprintf(variant, sizeof variant, "%s %s %s", words, drv, type_word(type));
    if (oclgrind_races_run(k->platform))
        snprintf(variant, sizeof variant, "oclgrind: races, not numbers");
    memcpy(k->variant, variant, sizeof k->variant - 1); /* cut to fit */
    k->variant[sizeof k->variant - 1] = '\0';
    k->memory_bytes = (uint64_t)mem;
    k->max_alloc = (uint64_t)max_alloc;
}

static void enumerate(void)
{
    cl_uint nplat = 0;
    cl_int e = clGetPlatformIDs(0, NULL, &nplat);
    if (e != CL_SUCCESS || nplat == 0) {
        snprintf(none_reason, sizeof none_reason, "no OpenCL device (clGetPlatformIDs: %s (%d)%s)",
                 kcl_error_name(e), (int)e,
                 e == CL_SUCCESS || e == -1001 ? ": no OpenCL platform is installed, e.g. "
                                                 "apt-get install pocl-opencl-icd"
                                               : "");
        return;
    }
    cl_platform_id *plats = calloc(nplat, sizeof *plats);
    if (plats == NULL || clGetPlatformIDs(nplat, plats, NULL) != CL_SUCCESS) {
        snprintf(none_reason, sizeof none_reason, "no OpenCL device (clGetPlatformIDs failed)");
        free(plats);
        return;
    }
    for (cl_uint p = 0; p < nplat && device_total < KCL_MAX_DEVICES; p++) {
        cl_uint ndev = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev) != CL_SUCCESS || ndev == 0)
            continue;
        cl_device_id *ids = calloc(ndev, sizeof *ids);
        if (ids == NULL || clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, ids, NULL) != CL_SUCCESS) {
            free(ids);
            continue;
        }
        for (cl_uint i = 0; i < ndev && device_total < KCL_MAX_DEVICES; i++) {
            kcl_device *k = &devices[device_total++];
            k->platform = plats[p];
            k->id = ids[i];
            describe(k);
            check_device(k);
            k->families = k->lacks[0] ? 0u : KCL_FAMILIES;
        }
        free(ids);
    }
    free(plats);
    if (device_total == 0)
        snprintf(none_reason, sizeof none_reason,
                 "no OpenCL device (%u platform%s, none with a device)", (unsigned)nplat,
                 nplat == 1 ? "" : "s");
}

int kcl_device_count(const char **reason)
{
    pthread_once(&enumerated, enumerate);
    if (device_total == 0) {
        *reason = none_reason;
        return -1;
    }
    return device_total;
}

const kcl_device *kcl_device_at(int index)
{
    pthread_once(&enumerated, enumerate);
    return index >= 0 && index < device_total ? &devices[index] : NULL;
}
