/* tools/conformance/optimstate.c - see optimstate.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "optimstate.h"
#include "tap.h"

#define HEADER_BYTES 40
#define HISTORY_BYTES 400
#define MAPS_BYTES 2048


void saved_take(const kbit_optim_state *state, saved_state *out)
{
    memset(out, 0, sizeof *out);
    if (kbit_optim_state_get_info(state, &out->info) != KBIT_OK ||
        kbit_optim_state_save_size(state, &out->bytes) != KBIT_OK)
        tap_bail("optimizer state info: %s", kbit_last_error());
    out->buf = malloc(out->bytes);
    if (out->buf == NULL)
        tap_bail("out of memory");
    if (kbit_optim_state_save(state, out->buf, out->bytes) != KBIT_OK)
        tap_bail("kbit_optim_state_save: %s", kbit_last_error());
    const kbit_optim_state_info *i = &out->info;
    int two = optim_two_state(i->kind), copies = i->kind == KBIT_OPTIM_ADEMAMIX ? 2 : 1;
    size_t n = (size_t)i->n, elem = i->state_bits == 8 ? 1 : 4;
    size_t nblocks = i->state_bits == 8 ? (n + 255) / 256 : 0;
    out->state1_bytes = copies * n * elem;
    out->state2_bytes = two ? n * elem : 0;
    out->absmax1_bytes = copies * nblocks * 4;
    out->absmax2_bytes = two ? nblocks * 4 : 0;
    out->state1 = out->buf + HEADER_BYTES + HISTORY_BYTES + (i->state_bits == 8 ? MAPS_BYTES : 0);
    out->state2 = out->state1 + out->state1_bytes;
    out->absmax1 = out->state2 + out->state2_bytes;
    out->absmax2 = out->absmax1 + out->absmax1_bytes;
    out->pending = i->kind == KBIT_OPTIM_LION ? out->absmax2 + out->absmax2_bytes : NULL;
    size_t end = (size_t)(out->absmax2 + out->absmax2_bytes - out->buf) + (out->pending ? 8 : 0);
    if (end != out->bytes)
        tap_bail("saved optimizer state: %zu bytes, the layout gives %zu", out->bytes, end);
}

void saved_free(saved_state *s)
{
    free(s->buf);
    s->buf = NULL;
}

int optim_kind_of(const char *name)
{
    static const struct {
        const char *name;
        kbit_optim_kind kind;
    } map[] = {
        { "adam", KBIT_OPTIM_ADAM }, { "lamb", KBIT_OPTIM_LAMB },
        { "ademamix", KBIT_OPTIM_ADEMAMIX }, { "momentum", KBIT_OPTIM_SGD },
        { "lars", KBIT_OPTIM_LARS }, { "rmsprop", KBIT_OPTIM_RMSPROP },
        { "adagrad", KBIT_OPTIM_ADAGRAD }, { "lion", KBIT_OPTIM_LION },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, name) == 0)
            return (int)map[i].kind;
    return -1;
}

const char *optim_kind_name(kbit_optim_kind kind)
{
    static const char *names[] = { "adam", "adamw", "lamb", "ademamix", "sgd",
                                   "lars", "rmsprop", "adagrad", "lion" };
    return (unsigned)kind < 9 ? names[kind] : "?";
}

int optim_two_state(kbit_optim_kind kind)
{
    return kind == KBIT_OPTIM_ADAM || kind == KBIT_OPTIM_ADAMW || kind == KBIT_OPTIM_LAMB ||
           kind == KBIT_OPTIM_ADEMAMIX;
}
