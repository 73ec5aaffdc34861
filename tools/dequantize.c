/* tools/dequantize.c - `kbit dequantize IN OUT --dtype T`: a bitsandbytes-
 * format checkpoint back to plain tensors (kbit_checkpoint_dequantize). */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ckcli.h"
#include "cli.h"
#include "kbit.h"

static void usage(FILE *to)
{
    fputs("usage: kbit dequantize IN OUT [--dtype fp16|bf16|fp32] [OPTIONS]\n"
          "\n"
          "Turns every 4-bit and 8-bit weight of a bitsandbytes-format checkpoint\n"
          "(written by kbit or by transformers + bitsandbytes) back into a plain\n"
          "tensor of the given dtype (default fp16); other tensors are copied\n"
          "unchanged and config.json loses its quantization_config. A diffusers\n"
          "pipeline folder: its quantized components are dequantized, the rest copied.\n"
          "\n"
          "options:\n"
          "  --dtype T       fp16 (default), bf16 or fp32\n"
          "  --device SPEC   where to dequantize (default auto)\n"
          "  --force         replace OUT if it exists (only once OUT is complete)\n"
          "  --quiet         no progress bar and no summary\n"
          "  --json          print a JSON summary on stdout\n",
          to);
}

int kbit_cmd_dequantize(int argc, char **argv)
{
    enum { O_DTYPE = 256, O_DEVICE, O_FORCE, O_QUIET, O_JSON, O_HELP };
    static const struct option longopts[] = {
        { "dtype", required_argument, NULL, O_DTYPE },
        { "device", required_argument, NULL, O_DEVICE },
        { "force", no_argument, NULL, O_FORCE },
        { "quiet", no_argument, NULL, O_QUIET },
        { "json", no_argument, NULL, O_JSON },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    kbit_dtype dtype = KBIT_F16;
    const char *device = "auto";
    int force = 0, quiet = 0, json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_DTYPE:
            if (!ckcli_parse_dtype(optarg, &dtype) ||
                (dtype != KBIT_F16 && dtype != KBIT_BF16 && dtype != KBIT_F32)) {
                fprintf(stderr, "kbit dequantize: --dtype must be fp16, bf16 or fp32\n");
                return 2;
            }
            break;
        case O_DEVICE: device = optarg; break;
        case O_FORCE: force = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_JSON: json = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default:
            fprintf(stderr, "kbit dequantize: unknown option '%s'\n",
                    ckcli_safe(argv[optind - 1]));
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "kbit dequantize: needs IN and OUT\n");
        usage(stderr);
        return 2;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    ckcli_supervise("dequantize", out); /* a signal removes the temporary */
    kbit_device *dev = ckcli_open_device("dequantize", device, KBIT_FAMILY_QUANT4 | KBIT_FAMILY_INT8);
    if (dev == NULL)
        return 1;
    ckcli_progress bar;
    ckcli_progress_init(&bar, quiet || json);
    kbit_convert_report r;
    double t0 = ckcli_now();
    kbit_status st = kbit_checkpoint_dequantize(dev, in, out, dtype, force, ckcli_progress_cb,
                                                &bar, &r);
    double seconds = ckcli_now() - t0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", kbit_last_error());
    ckcli_progress_end(&bar);
    kbit_device_close(dev);
    if (st != KBIT_OK) {
        fprintf(stderr, "kbit dequantize: %s (%s); %s was not written\n", ckcli_safe(msg),
                kbit_strerror(st), ckcli_safe(out));
        return 1;
    }
    if (json) {
        printf("{\"command\": \"dequantize\", \"input\": ");
        ckcli_json_string(stdout, in);
        printf(", \"output\": ");
        ckcli_json_string(stdout, out);
        printf(", \"dtype\": \"%s\", \"tensors\": %lld, \"dequantized\": %lld, \"shards\": %lld, "
               "\"bytes_in\": %llu, \"bytes_out\": %llu, \"seconds\": %.3f, "
               "\"peak_rss_bytes\": %llu}\n",
               kbit_dtype_name(dtype), (long long)r.tensors, (long long)r.converted,
               (long long)r.shards, (unsigned long long)r.bytes_in,
               (unsigned long long)r.bytes_out, seconds, (unsigned long long)ckcli_peak_rss());
    } else if (!quiet) {
        char bi[24], bo[24];
        ckcli_format_bytes(r.bytes_in, bi, sizeof bi);
        ckcli_format_bytes(r.bytes_out, bo, sizeof bo);
        printf("kbit dequantize: %s -> %s: %lld of %lld tensors dequantized to %s, %s -> %s, "
               "%.2f s\n", ckcli_safe(in), ckcli_safe(out), (long long)r.converted,
               (long long)r.tensors,
               kbit_dtype_name(dtype), bi, bo, seconds);
    }
    return 0;
}
