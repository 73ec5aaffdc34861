/* tools/conformance/reader_error.c - the error recording of the safetensors
 * reader compiled into `kbit conformance` (lib/checkpoint/safetensors.c,
 * see golden.h). Inside libkbit, kbit_error (lib/runtime/error.h) sets the
 * thread's kbit_last_error() message; here it keeps the message for
 * conf_reader_error. The library's own kbit_error is hidden in libkbit.so,
 * so the two never meet. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "golden.h"
#include "runtime/error.h"

static char message[1024];

kbit_status kbit_error(kbit_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return st;
}

const char *conf_reader_error(void)
{
    return message;
}
