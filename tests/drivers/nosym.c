/* tests/drivers/nosym.c - a shared object named like a kbit plugin that does
 * not export kbit_driver_entry. The loader must refuse it, naming the
 * missing symbol. */
#include "config.h"

#include "kbit-driver.h"

/* Something exported, so the object is a normal shared library. */
KBIT_API int kbit_nosym_fixture(void);

KBIT_API int kbit_nosym_fixture(void)
{
    return 42;
}
