/* tools/conformance/devices.h - the reference device and CPU variants.
 * Shared by `kbit conformance` and the test programs. */
#ifndef KBIT_CONFORMANCE_DEVICES_H
#define KBIT_CONFORMANCE_DEVICES_H

#include "kbit.h"

/* The reference device: the CPU driver forced to its scalar variant, one
 * thread (bails out if it cannot be had). */
kbit_device *reference_open(void);
/* Open "cpu" with KBIT_CPU_ISA forced to isa (NULL: not forced; the
 * tuning as KBIT_CPU_TUNING says), restoring the environment afterwards. */
kbit_status cpu_open_isa(const char *isa, kbit_device **dev);
/* The same with KBIT_CPU_TUNING forced to tuning too (NULL: not forced). */
kbit_status cpu_open_variant(const char *isa, const char *tuning, kbit_device **dev);

#endif
