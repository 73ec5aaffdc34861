/* tools/conformance/devices.c - see devices.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "tap.h"

kbit_status cpu_open_isa(const char *isa, kbit_device **dev)
{
    const char *old = getenv("KBIT_CPU_ISA");
    char *saved = old ? str_printf("%s", old) : NULL;
    if (isa)
        setenv("KBIT_CPU_ISA", isa, 1);
    else
        unsetenv("KBIT_CPU_ISA");
    kbit_status st = kbit_device_open("cpu", dev);
    /* restore without clobbering the message of a failed open */
    if (saved) {
        setenv("KBIT_CPU_ISA", saved, 1);
        free(saved);
    } else {
        unsetenv("KBIT_CPU_ISA");
    }
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
