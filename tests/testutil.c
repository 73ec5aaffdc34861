/* tests/testutil.c - see testutil.h. */
#include "config.h"

#include <string.h>

#include "testutil.h"

int expect_failure(kbit_status got, kbit_status want, const char *needle, int untouched,
                   const char *call)
{
    const char *msg = kbit_last_error();
    int ok = got == want && msg && msg[0] && strstr(msg, needle) != NULL && untouched;
    if (!tap_ok(ok, "%s -> %s, message names '%s', outputs untouched", call, kbit_strerror(want),
                needle))
        tap_diag("got %s (%d), message \"%s\", outputs %s", kbit_strerror(got), (int)got,
                 msg ? msg : "(null)", untouched ? "untouched" : "MODIFIED");
    return ok;
}

int expect_success(kbit_status got, const char *call)
{
    int ok = got == KBIT_OK && kbit_last_error()[0] == '\0';
    if (!tap_ok(ok, "%s -> KBIT_OK, no message", call))
        tap_diag("got %s, message \"%s\"", kbit_strerror(got), kbit_last_error());
    return ok;
}
