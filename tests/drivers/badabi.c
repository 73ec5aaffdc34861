/* tests/drivers/badabi.c - a driver plugin built for an ABI major version
 * kbit does not speak (999). The loader must refuse it, naming the version, before it
 * touches any other field. */
#include "config.h"

#include "kbit-driver.h"

static int no_devices(const char **reason)
{
    *reason = "badabi should never be asked";
    return -1;
}

static const kbit_driver table = {
    .abi_major = 999,
    .struct_size = sizeof(kbit_driver),
    .name = "badabi",
    .description = "test fixture: wrong ABI version",
    .priority = -100,
    .device_count = no_devices,
};

KBIT_API const kbit_driver *kbit_driver_entry(const kbit_host *host)
{
    (void)host;
    return &table;
}
