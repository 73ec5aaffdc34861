/* backends/cpu/isa.h - choosing the kernel variant the CPU can run. */
#ifndef KBIT_CPU_ISA_H
#define KBIT_CPU_ISA_H

#include <stddef.h>

#include "cpu.h"

/* The variant for a KBIT_CPU_ISA value: NULL, "" or "auto" = the best one
 * built and supported by this CPU and OS; "scalar", "avx2", "avx512",
 * "avx512vnni" force one. Returns KBIT_OK, or KBIT_ENODEV (variant not built
 * or not runnable here) / KBIT_EINVAL (unknown name) with the reason written
 * to why. */
kbit_status kbit_cpu_choose_variant(const char *request, kbit_cpu_variant *variant, char *why,
                                    size_t why_len);

/* Then the tuning for a KBIT_CPU_TUNING value: NULL, "" or "auto" = the one
 * CPUID's vendor and family select; "generic" or "zen4" force one (any CPU
 * that can run the variant can run every tuning of it: a tuning only
 * chooses among kernels of the same ISA). The scalar variant has none.
 * KBIT_EINVAL with the reason in why for an unknown name. */
kbit_status kbit_cpu_choose_tuning(const char *request, kbit_cpu_variant *variant, char *why,
                                   size_t why_len);

/* Then fast mode's kernels for a KBIT_CPU_FAST value: NULL, "" or "auto" =
 * the best this CPU, OS and variant run (none is fine), "none" = none,
 * "amx-bf16" = that one, else KBIT_ENODEV with the reason in why
 * (KBIT_EINVAL for an unknown name). */
kbit_status kbit_cpu_choose_fast(const char *request, kbit_cpu_variant *variant, char *why,
                                 size_t why_len);

#endif /* KBIT_CPU_ISA_H */
