/* tools/conformance/devices.c - see devices.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "tap.h"

/* Set (value) or unset (NULL) name; returns its old value (to free), or NULL. */
static char *env_swap(const char *name, const char *value)
{
    const char *old = getenv(name);
    char *saved = old ? str_printf("%s", old) : NULL;
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    return saved;
}

static void env_restore(const char *name, char *saved)
{
    if (saved) {
        setenv(name, saved, 1);
        free(saved);
    } else {
        unsetenv(name);
    }
}

kbit_status cpu_open_variant(const char *isa, const char *tuning, kbit_device **dev)
{
    char *old_isa = env_swap("KBIT_CPU_ISA", isa);
    char *old_tuning = env_swap("KBIT_CPU_TUNING", tuning);
    kbit_status st = kbit_device_open("cpu", dev);
    /* restore without clobbering the message of a failed open */
    env_restore("KBIT_CPU_ISA", old_isa);
    env_restore("KBIT_CPU_TUNING", old_tuning);
    return st;
}

kbit_status cpu_open_isa(const char *isa, kbit_device **dev)
{
    char *old_isa = env_swap("KBIT_CPU_ISA", isa); /* KBIT_CPU_TUNING as it is */
    kbit_status st = kbit_device_open("cpu", dev);
    env_restore("KBIT_CPU_ISA", old_isa);
    return st;
}

kbit_device *reference_open(void)
{
    kbit_device *dev = NULL;
    if (cpu_open_isa("scalar", &dev) != KBIT_OK)
        tap_bail("cannot open the reference device (cpu, KBIT_CPU_ISA=scalar): %s",
                 kbit_last_error());
    kbit_device_info info;
    if (kbit_device_get_info(dev, &info) != KBIT_OK || strcmp(info.variant, "scalar") != 0)
        tap_bail("the reference device is not the scalar CPU variant (variant '%s')",
                 info.variant);
    if (kbit_device_set_threads(dev, 1) != KBIT_OK)
        tap_bail("kbit_device_set_threads(ref, 1): %s", kbit_last_error());
    return dev;
}
