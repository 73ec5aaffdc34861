/* lib/runtime/error.h - the thread-local failure message behind kbit_last_error(). */
#ifndef KBIT_LIB_ERROR_H
#define KBIT_LIB_ERROR_H

#include "kbit-driver.h"

/* Record a message for the current thread and return st (so checks read
 * `return kbit_error(KBIT_EINVAL, "...")`). */
kbit_status kbit_error(kbit_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Called on entry to every public function: starts a new call, so that
 * kbit_error_is_set() tells whether *this* call recorded a message. The text
 * itself is kept (a success never clears it, kbit.h): a clean-up call made
 * after a failure, by the library or its caller, cannot erase the cause. */
void kbit_clear_error(void);

/* Whether a message was recorded since the last kbit_clear_error(). */
int kbit_error_is_set(void);

/* The services handed to every driver (kbit_host.set_error writes the message). */
const kbit_host *kbit_host_services(void);

#endif
