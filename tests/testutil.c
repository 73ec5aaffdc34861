/* tests/testutil.c - see testutil.h. */
#include "config.h"

#include <stdio.h>
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

static char planted[512];

void error_plant(void)
{
    kbit_sync(NULL);
    snprintf(planted, sizeof planted, "%s", kbit_last_error());
}

const char *error_planted(void)
{
    return planted;
}

int expect_success(kbit_status got, const char *call)
{
    int ok = got == KBIT_OK && (planted[0] == '\0' || strcmp(kbit_last_error(), planted) == 0);
    if (!tap_ok(ok, "%s -> KBIT_OK, message left alone", call))
        tap_diag("got %s, message \"%s\" (planted \"%s\")", kbit_strerror(got),
                 kbit_last_error(), planted);
    return ok;
}
