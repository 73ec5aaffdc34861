/* tests/fuzz_checkpoint.c - libFuzzer target for the checkpoint reader:
 * the safetensors header parser, the grouping of bitsandbytes tensors and
 * the quant-state JSON (built with --enable-fuzz, clang only).
 *
 * The input is written to a file and opened as a checkpoint; whatever is
 * accepted is read back through the public API (info, and every tensor
 * loaded and dequantized on the CPU), so a state that passes the checks
 * must also be safe to use. The first byte 'Q' instead feeds the rest to
 * the quant-state JSON parser directly.
 *
 *   tests/fuzz_checkpoint -max_total_time=60 CORPUS_DIR
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "checkpoint/bnb.h"
#include "kbit.h"

static kbit_device *dev;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dev == NULL) {
        if (kbit_device_open("cpu", &dev) != KBIT_OK)
            abort();
        kbit_device_set_threads(dev, 1);
        snprintf(path, sizeof path, "/tmp/kbit-fuzz-%ld.safetensors", (long)getpid());
    }
    if (size > 0 && data[0] == 'Q') {
        kbit_bnb_qs qs;
        kbit_bnb_parse_blob(data + 1, size - 1, KBIT_NF4, "fuzz", &qs);
        return 0;
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    kbit_checkpoint *ck = NULL;
    if (kbit_checkpoint_open(path, &ck) == KBIT_OK) {
        for (int64_t i = 0; i < kbit_checkpoint_count(ck); i++) {
            const char *name = kbit_checkpoint_name(ck, i);
            kbit_tensor_info info;
            void *out = NULL;
            if (kbit_checkpoint_info(ck, name, &info) != KBIT_OK)
                abort(); /* every listed name must be found */
            if (info.numel <= (1 << 20) &&
                kbit_checkpoint_load_tensor(ck, name, dev, KBIT_F32, &out) == KBIT_OK)
                kbit_free(dev, out);
        }
        kbit_checkpoint_close(ck);
    }
    unlink(path);
    return 0;
}
