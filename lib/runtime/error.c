/* lib/runtime/error.c - status strings and the per-thread message.
 *
 * The message behaves like errno (kbit.h, "Status codes and errors"): a
 * failure records it, a success leaves it alone. So clean-up that runs after
 * a failure (kbit_free, kbit_quant_state_release, closing files), inside the
 * library or in the caller, cannot lose the first cause. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kbit-driver.h"
#include "runtime/error.h"

static _Thread_local char last_message[512];
/* Whether a message was recorded since the innermost public call began
 * (kbit_clear_error): tells the core whether a failing driver gave one. */
static _Thread_local int recorded;

/* Formats into a local buffer first, so a message may quote the previous one
 * (kbit_error(st, "...: %s", kbit_last_error())) without overlapping copies. */
static void vrecord(const char *fmt, va_list ap)
{
    char message[sizeof last_message];
    vsnprintf(message, sizeof message, fmt, ap);
    memcpy(last_message, message, sizeof message);
    recorded = 1;
}

kbit_status kbit_error(kbit_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(fmt, ap);
    va_end(ap);
    return st;
}

void kbit_clear_error(void)
{
    recorded = 0;
}

int kbit_error_is_set(void)
{
    return recorded;
}

static void host_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(fmt, ap);
    va_end(ap);
}

static const kbit_host host = {
    .abi_major = KBIT_DRIVER_ABI_MAJOR,
    .abi_minor = KBIT_DRIVER_ABI_MINOR,
    .struct_size = sizeof(kbit_host),
    .set_error = host_set_error,
};

const kbit_host *kbit_host_services(void)
{
    return &host;
}

KBIT_API const char *kbit_last_error(void)
{
    return last_message;
}

KBIT_API const char *kbit_strerror(kbit_status status)
{
    switch (status) {
    case KBIT_OK: return "success";
    case KBIT_EINVAL: return "invalid argument";
    case KBIT_ENOMEM: return "out of memory";
    case KBIT_ENOTSUP: return "not supported by this driver";
    case KBIT_ENODEV: return "no such device";
    case KBIT_EFORMAT: return "malformed data or file";
    case KBIT_EIO: return "input/output error";
    case KBIT_EDRIVER: return "driver or device failure";
    case KBIT_EOVERFLOW: return "size overflow";
    }
    return "unknown status";
}
