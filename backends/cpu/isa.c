/*
 * backends/cpu/isa.c - run-time detection of the x86 SIMD variants.
 *
 * A variant is runnable when CPUID reports every instruction set its files
 * were compiled for (configure's KBIT_AVX2_CFLAGS / KBIT_AVX512_CFLAGS) and
 * XGETBV shows that the OS saves the register state it uses; otherwise its
 * code is never entered.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "isa.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KBIT_X86 1
#endif

typedef struct x86_features {
    int avx2_ok, avx512_ok;    /* variant runnable */
    char avx2_missing[128];    /* what is missing, for the messages */
    char avx512_missing[160];
    int avx512vnni_ok;
    char avx512vnni_missing[180];
    int avx512vbmi;            /* AVX512_VBMI (the zen4 tuning's table lookups) */
    int avx512bf16_ok;         /* AVX-512 + AVX512_BF16 (the vdpbf16ps fast kernel) */
    char avx512bf16_missing[180];
    int amx_ok;                /* AMX-TILE + AMX-BF16 + AVX512_BF16, state enabled by the OS */
    char amx_missing[224];
} x86_features;

#ifdef KBIT_X86
/* Append name to the missing list unless have. */
static void note(char *list, size_t len, int have, const char *name)
{
    if (!have)
        snprintf(list + strlen(list), len - strlen(list), "%s%s", list[0] ? " " : "", name);
}
#endif

static void detect(x86_features *f)
{
    memset(f, 0, sizeof *f);
#ifdef KBIT_X86
    unsigned a = 0, b = 0, c = 0, d = 0;
    unsigned c1 = 0, b7 = 0, c7 = 0, d7 = 0, a7_1 = 0;
    if (__get_cpuid(1, &a, &b, &c, &d))
        c1 = c;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        b7 = b;
        c7 = c;
        d7 = d;
        unsigned subleaves = a;
        if (subleaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            a7_1 = a;
        }
    }
    uint64_t xcr0 = 0;
    int osxsave = (c1 >> 27) & 1;
    if (osxsave) { /* XGETBV is only defined when the OS enabled XSAVE */
        uint32_t lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((uint64_t)hi << 32) | lo;
    }
    int os_ymm = osxsave && (xcr0 & 0x6) == 0x6;    /* SSE + AVX state */
    int os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;   /* opmask + ZMM_Hi256 + Hi16_ZMM */
    int avx = (c1 >> 28) & 1, fma = (c1 >> 12) & 1, f16c = (c1 >> 29) & 1;
    int avx2 = (b7 >> 5) & 1, bmi2 = (b7 >> 8) & 1;
    int f512 = (b7 >> 16) & 1, dq = (b7 >> 17) & 1, bw = (b7 >> 30) & 1, vl = (b7 >> 31) & 1;

    note(f->avx2_missing, sizeof f->avx2_missing, avx, "AVX");
    note(f->avx2_missing, sizeof f->avx2_missing, avx2, "AVX2");
    note(f->avx2_missing, sizeof f->avx2_missing, fma, "FMA");
    note(f->avx2_missing, sizeof f->avx2_missing, f16c, "F16C");
    note(f->avx2_missing, sizeof f->avx2_missing, bmi2, "BMI2");
    note(f->avx2_missing, sizeof f->avx2_missing, os_ymm, "OS-support-for-YMM-state");
    f->avx2_ok = f->avx2_missing[0] == '\0';

    /* The avx512 files are built with the AVX2 flags too. */
    snprintf(f->avx512_missing, sizeof f->avx512_missing, "%s", f->avx2_missing);
    note(f->avx512_missing, sizeof f->avx512_missing, f512, "AVX512F");
    note(f->avx512_missing, sizeof f->avx512_missing, bw, "AVX512BW");
    note(f->avx512_missing, sizeof f->avx512_missing, vl, "AVX512VL");
    note(f->avx512_missing, sizeof f->avx512_missing, dq, "AVX512DQ");
    note(f->avx512_missing, sizeof f->avx512_missing, os_zmm, "OS-support-for-ZMM-state");
    f->avx512_ok = f->avx512_missing[0] == '\0';

    snprintf(f->avx512vnni_missing, sizeof f->avx512vnni_missing, "%s", f->avx512_missing);
    note(f->avx512vnni_missing, sizeof f->avx512vnni_missing, (c7 >> 11) & 1, "AVX512_VNNI");
    f->avx512vnni_ok = f->avx512vnni_missing[0] == '\0';

    f->avx512vbmi = (c7 >> 1) & 1;

    snprintf(f->avx512bf16_missing, sizeof f->avx512bf16_missing, "%s", f->avx512_missing);
    note(f->avx512bf16_missing, sizeof f->avx512bf16_missing, (a7_1 >> 5) & 1, "AVX512_BF16");
    f->avx512bf16_ok = f->avx512bf16_missing[0] == '\0';

    /* AMX: CPUID 7.0 EDX 24 (AMX-TILE), 22 (AMX-BF16); 7.1 EAX 5
     * (AVX512_BF16, for the weight's conversion); XCR0 17-18 (tile state). */
    snprintf(f->amx_missing, sizeof f->amx_missing, "%s", f->avx512_missing);
    note(f->amx_missing, sizeof f->amx_missing, (d7 >> 24) & 1, "AMX-TILE");
    note(f->amx_missing, sizeof f->amx_missing, (d7 >> 22) & 1, "AMX-BF16");
    note(f->amx_missing, sizeof f->amx_missing, (a7_1 >> 5) & 1, "AVX512_BF16");
    note(f->amx_missing, sizeof f->amx_missing, (xcr0 & 0x60000) == 0x60000,
         "OS-support-for-tile-state");
    f->amx_ok = f->amx_missing[0] == '\0';
#else
    snprintf(f->avx2_missing, sizeof f->avx2_missing, "an x86 CPU");
    snprintf(f->avx512_missing, sizeof f->avx512_missing, "an x86 CPU");
    snprintf(f->avx512vnni_missing, sizeof f->avx512vnni_missing, "an x86 CPU");
    snprintf(f->avx512bf16_missing, sizeof f->avx512bf16_missing, "an x86 CPU");
    snprintf(f->amx_missing, sizeof f->amx_missing, "an x86 CPU");
#endif
}

/* The variants this build has, best last. */
static const kbit_cpu_variant scalar = {
    "scalar", NULL, &kbit_cpu_quant4_scalar, &kbit_cpu_quant8_scalar, &kbit_cpu_gemm4_scalar,
    &kbit_cpu_int8_scalar, &kbit_cpu_optim_scalar, NULL,
};
#ifdef KBIT_HAVE_AVX2
static const kbit_cpu_variant avx2 = {
    "avx2", "generic", &kbit_cpu_quant4_avx2, &kbit_cpu_quant8_avx2, &kbit_cpu_gemm4_avx2,
    &kbit_cpu_int8_avx2, &kbit_cpu_optim_avx2, NULL,
};
#define AVX2_BUILT (&avx2)
#else
#define AVX2_BUILT NULL
#endif
#ifdef KBIT_HAVE_AVX512
static const kbit_cpu_variant avx512 = {
    "avx512", "generic", &kbit_cpu_quant4_avx512, &kbit_cpu_quant8_avx512, &kbit_cpu_gemm4_avx512,
    &kbit_cpu_int8_avx512, &kbit_cpu_optim_avx512, NULL,
};
#define AVX512_BUILT (&avx512)
#else
#define AVX512_BUILT NULL
#endif
#ifdef KBIT_HAVE_AVX512VNNI
/* avx512 with the VNNI int8 GEMM */
static const kbit_cpu_variant avx512vnni = {
    "avx512vnni", "generic", &kbit_cpu_quant4_avx512, &kbit_cpu_quant8_avx512, &kbit_cpu_gemm4_avx512,
    &kbit_cpu_int8_avx512vnni, &kbit_cpu_optim_avx512, NULL,
};
#define AVX512VNNI_BUILT (&avx512vnni)
#else
#define AVX512VNNI_BUILT NULL
#endif

kbit_status kbit_cpu_choose_variant(const char *request, kbit_cpu_variant *variant, char *why,
                                    size_t why_len)
{
    x86_features f;
    detect(&f);
    const kbit_cpu_variant *v2 = AVX2_BUILT, *v512 = AVX512_BUILT, *vnni = AVX512VNNI_BUILT;

    if (request == NULL || request[0] == '\0' || strcmp(request, "auto") == 0) {
        if (vnni && f.avx512vnni_ok)
            *variant = *vnni;
        else if (v512 && f.avx512_ok)
            *variant = *v512;
        else if (v2 && f.avx2_ok)
            *variant = *v2;
        else
            *variant = scalar;
        return KBIT_OK;
    }
    if (strcmp(request, "scalar") == 0) {
        *variant = scalar;
        return KBIT_OK;
    }
    if (strcmp(request, "avx512vnni") == 0) {
        if (vnni == NULL || !f.avx512vnni_ok) {
            snprintf(why, why_len, "KBIT_CPU_ISA=avx512vnni: %s%s",
                     vnni ? "this CPU/OS cannot run it (missing: "
                          : "this build of kbit has no avx512vnni variant",
                     vnni ? f.avx512vnni_missing : "");
            if (vnni)
                snprintf(why + strlen(why), why_len - strlen(why), ")");
            return KBIT_ENODEV;
        }
        *variant = *vnni;
        return KBIT_OK;
    }
    int is_avx2 = strcmp(request, "avx2") == 0, is_avx512 = strcmp(request, "avx512") == 0;
    if (!is_avx2 && !is_avx512) {
        snprintf(why, why_len,
                 "KBIT_CPU_ISA=%s is not a CPU variant (use scalar, avx2, avx512 or avx512vnni)",
                 request);
        return KBIT_EINVAL;
    }
    const kbit_cpu_variant *k = is_avx2 ? v2 : v512;
    if (k == NULL) {
        snprintf(why, why_len,
                 "KBIT_CPU_ISA=%s: this build of kbit has no %s variant (the compiler did not "
                 "accept its flags at configure time)", request, request);
        return KBIT_ENODEV;
    }
    if (!(is_avx2 ? f.avx2_ok : f.avx512_ok)) {
        snprintf(why, why_len, "KBIT_CPU_ISA=%s: this CPU/OS cannot run it (missing: %s)", request,
                 is_avx2 ? f.avx2_missing : f.avx512_missing);
        return KBIT_ENODEV;
    }
    *variant = *k;
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Tunings                                                              */
/*
 * A tuning names a micro-architecture whose best instruction mix differs
 * from the generic kernels' (those were measured on Intel Sapphire Rapids):
 * it replaces some families' kernels of a SIMD variant by kernels of the
 * same ISA written for it. Every kernel gives the reference's bits, so a
 * tuning only changes speed; KBIT_CPU_TUNING forces one so that tests run
 * every kernel on any machine that has the ISA.
 *
 * zen4: AMD family 19h (Zen 3 and 4) and later. Their gathers are slow
 * (vpgatherdd zmm about 17 cycles against 0.5 for vpermi2b, measured on an
 * EPYC of family 1Ah), so the 8-bit dequantize and the 8-bit optimizers'
 * states look codes up in registers (x86/avx512_lut8.h, avx512_enc8.h; on
 * CPUs with AVX512_VBMI) instead of gathering them. The 4-bit matmul is the
 * generic one: its two-table permutes were the faster choice on both AMD
 * machines measured (a one-table kernel, once this tuning's, ran 4096x4096
 * M = 1 at 0.91 ms against 0.76 on an EPYC family 19h, 0.52 against 0.39 on
 * family 1Ah, 1 thread; equal at M = 16).
 */
typedef struct tuned_kernels {
    const char *tuning, *variant; /* the tuning, and the variant it changes */
    int needs_vbmi;               /* used only where CPUID has AVX512_VBMI */
    kbit_cpu_variant k;           /* the tables that replace the variant's (NULL: kept) */
} tuned_kernels;

static const char *const tunings[] = { "generic", "zen4" };

static const tuned_kernels tuned[] = {
#ifdef KBIT_HAVE_AVX512VBMI
#define KBIT_VBMI_LOOKUPS { .quant8 = &kbit_cpu_quant8_avx512vbmi, .optim = &kbit_cpu_optim_avx512vbmi }
    { "zen4", "avx512", 1, KBIT_VBMI_LOOKUPS },
    { "zen4", "avx512vnni", 1, KBIT_VBMI_LOOKUPS },
#undef KBIT_VBMI_LOOKUPS
#endif
    { NULL, NULL, 0, { 0 } }, /* keeps the table non-empty in every build */
};

/* The tuning CPUID's vendor and family select. */
static const char *detect_tuning(void)
{
#ifdef KBIT_X86
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return "generic";
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    if (strcmp(vendor, "AuthenticAMD") == 0 && __get_cpuid(1, &a, &b, &c, &d)) {
        unsigned family = (a >> 8) & 0xf;
        if (family == 0xf)
            family += (a >> 20) & 0xff;
        if (family >= 0x19)
            return "zen4";
    }
#endif
    return "generic";
}

kbit_status kbit_cpu_choose_tuning(const char *request, kbit_cpu_variant *variant, char *why,
                                   size_t why_len)
{
    const char *name = NULL;
    if (request == NULL || request[0] == '\0' || strcmp(request, "auto") == 0)
        request = detect_tuning();
    for (size_t i = 0; i < sizeof tunings / sizeof tunings[0]; i++)
        if (strcmp(request, tunings[i]) == 0)
            name = tunings[i];
    if (name == NULL) {
        snprintf(why, why_len, "KBIT_CPU_TUNING=%s is not a CPU tuning (use auto, generic or zen4)",
                 request);
        return KBIT_EINVAL;
    }
    if (variant->tuning == NULL) /* scalar: one kernel per op */
        return KBIT_OK;
    variant->tuning = name;
    x86_features f;
    detect(&f);
    for (const tuned_kernels *t = tuned; t->tuning; t++) {
        if (strcmp(t->tuning, name) != 0 || strcmp(t->variant, variant->name) != 0)
            continue;
        if (t->needs_vbmi && !f.avx512vbmi)
            continue;
#define KBIT_TUNE_(family) if (t->k.family) variant->family = t->k.family
        KBIT_TUNE_(quant4);
        KBIT_TUNE_(quant8);
        KBIT_TUNE_(gemm4);
        KBIT_TUNE_(int8);
        KBIT_TUNE_(optim);
#undef KBIT_TUNE_
    }
    return KBIT_OK;
}

/* ------------------------------------------------------------------ */
/* Fast mode                                                            */
/*
 * The 4-bit matmul's fast kernels (doc/determinism.md 1; used only when a
 * device is set to KBIT_MATH_FAST), for bf16 activations on AVX-512
 * variants: AMX-BF16 tiles where the CPU has AMX, else AVX512_BF16's
 * vdpbf16ps (AMD Zen 4 and 5). Linux hands a process the tile state only
 * on request (arch_prctl ARCH_REQ_XCOMP_PERM); the request is made here,
 * once per process, before the first tile instruction.
 */
#define KBIT_ARCH_REQ_XCOMP_PERM 0x1023
#define KBIT_XFEATURE_XTILEDATA 18

static int os_grants_tiles(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl)
    return syscall(SYS_arch_prctl, KBIT_ARCH_REQ_XCOMP_PERM, KBIT_XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

/* Why the AMX kernel cannot run here, or NULL. */
static const char *amx_refusal(const kbit_cpu_variant *variant, const x86_features *f)
{
#ifndef KBIT_HAVE_AMX
    (void)variant;
    (void)f;
    return "this build of kbit has no AMX kernel (the compiler did not accept -mamx-bf16)";
#else
    if (strncmp(variant->name, "avx512", 6) != 0)
        return "the variant is not an AVX-512 one";
    if (!f->amx_ok)
        return "this CPU/OS has no AMX-BF16";
    if (!os_grants_tiles())
        return "the OS refused the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM)";
    return NULL;
#endif
}

/* Why the AVX512_BF16 kernel cannot run here, or NULL. */
static const char *avx512bf16_refusal(const kbit_cpu_variant *variant, const x86_features *f)
{
#ifndef KBIT_HAVE_AVX512BF16
    (void)variant;
    (void)f;
    return "this build of kbit has no AVX512_BF16 kernel (the compiler did not accept -mavx512bf16)";
#else
    if (strncmp(variant->name, "avx512", 6) != 0)
        return "the variant is not an AVX-512 one";
    if (!f->avx512bf16_ok)
        return "this CPU/OS has no AVX512_BF16";
    return NULL;
#endif
}

kbit_status kbit_cpu_choose_fast(const char *request, kbit_cpu_variant *variant, char *why,
                                 size_t why_len)
{
    int is_auto = request == NULL || request[0] == '\0' || strcmp(request, "auto") == 0;
    variant->gemm4_fast = NULL;
    if (!is_auto && strcmp(request, "none") == 0)
        return KBIT_OK;
    int want_amx = is_auto || strcmp(request, "amx-bf16") == 0;
    int want_bf16 = is_auto || strcmp(request, "avx512-bf16") == 0;
    if (!want_amx && !want_bf16) {
        snprintf(why, why_len,
                 "KBIT_CPU_FAST=%s is not a fast kernel (use auto, none, amx-bf16 or avx512-bf16)",
                 request);
        return KBIT_EINVAL;
    }
    x86_features f;
    detect(&f);
    const char *reason = want_amx ? amx_refusal(variant, &f) : NULL;
    if (want_amx && reason == NULL) {
#ifdef KBIT_HAVE_AMX
        variant->gemm4_fast = &kbit_cpu_gemm4_fast_amx;
#endif
        return KBIT_OK;
    }
    if (want_amx && !is_auto) {
        snprintf(why, why_len, "KBIT_CPU_FAST=amx-bf16: %s%s%s%s", reason,
                 f.amx_ok ? "" : " (missing: ", f.amx_ok ? "" : f.amx_missing,
                 f.amx_ok ? "" : ")");
        return KBIT_ENODEV;
    }
    reason = avx512bf16_refusal(variant, &f);
    if (reason == NULL) {
#ifdef KBIT_HAVE_AVX512BF16
        variant->gemm4_fast = &kbit_cpu_gemm4_fast_avx512bf16;
#endif
        return KBIT_OK;
    }
    if (is_auto) /* no fast kernel: fast mode runs exact */
        return KBIT_OK;
    snprintf(why, why_len, "KBIT_CPU_FAST=avx512-bf16: %s%s%s%s", reason,
             f.avx512bf16_ok ? "" : " (missing: ", f.avx512bf16_ok ? "" : f.avx512bf16_missing,
             f.avx512bf16_ok ? "" : ")");
    return KBIT_ENODEV;
}
