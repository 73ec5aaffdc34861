/* lib/runtime/version.c - the version of the loaded library. */
#include "config.h"
#include "kbit.h"

KBIT_API const char *kbit_version(void)
{
    return PACKAGE_VERSION;
}
