/* tests/drivers/badabi.c - driver plugins the loader must refuse before it
 * touches any other field of their table:
 *  - kbit-badabi.so: built for an ABI major version kbit does not speak (999);
 *  - kbit-short.so (KBIT_TEST_SHORT_TABLE): ABI 2, but a table shorter than
 *    the slots of 2.0. */
#include "config.h"

#include "kbit-driver.h"

static int no_devices(const char **reason)
{
    *reason = "this fixture should never be asked";
    return -1;
}

static const kbit_driver table = {
#ifdef KBIT_TEST_SHORT_TABLE
    .abi_major = KBIT_DRIVER_ABI_MAJOR,
    .struct_size = offsetof(kbit_driver, device_count),
    .name = "short",
    .description = "test fixture: a table shorter than ABI 2.0",
#else
    .abi_major = 999,
    .struct_size = sizeof(kbit_driver),
    .name = "badabi",
    .description = "test fixture: wrong ABI major version",
#endif
    .priority = -100,
    .device_count = no_devices,
};

KBIT_API const kbit_driver *kbit_driver_entry(const kbit_host *host)
{
    (void)host;
    return &table;
}
