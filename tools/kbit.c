/* tools/kbit.c - the `kbit` command line program: dispatch to a verb. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kbit.h"

static void usage(FILE *to)
{
    fputs("usage: kbit COMMAND [OPTIONS]\n"
          "\n"
          "commands:\n"
          "  info                 version, drivers (and why any was refused), devices,\n"
          "                       the CPU variant in use\n"
          "  bench quant [OPTS]   quantization throughput against copy bandwidth\n"
          "                       (kbit bench quant --help for the options)\n"
          "  quantize IN OUT      a Hugging Face checkpoint to the bitsandbytes format\n"
          "  dequantize IN OUT    a bitsandbytes-format checkpoint back to plain tensors\n"
          "  inspect PATH         tensors, formats, sizes (--compare ORIGINAL: errors)\n"
          "  bench gemm4 [OPTS]   4-bit matmul against read bandwidth, fp32 GEMV and\n"
          "                       bitsandbytes (kbit bench gemm4 --help)\n"
          "  conformance [OPTS]   check a device bit for bit against the scalar reference:\n"
          "                       golden vectors and randomized cases of every op family,\n"
          "                       TAP output (kbit conformance --help)\n"
          "\n"
          "  kbit --help          this text\n"
          "  kbit --version       program and library versions\n"
          "\n"
          "environment:\n"
          "  KBIT_DRIVER_PATH     colon-separated directories or files to load driver\n"
          "                       plugins (kbit-*.so) from, before the install's own\n"
          "  KBIT_CPU_ISA         force the CPU variant: scalar | avx2 | avx512 | avx512vnni\n"
          "  KBIT_CPU_TUNING      force the CPU kernels' tuning: generic | zen4 (default:\n"
          "                       by CPU vendor and family)\n"
          "  KBIT_CPU_FAST        the CPU's fast-mode kernel (KBIT_MATH_FAST only):\n"
          "                       auto | none | amx-bf16 | avx512-bf16 (default auto:\n"
          "                       AMX-BF16 where the CPU and OS have it, else AVX512_BF16)\n"
          "  KBIT_VECTORS_DIR     kbit conformance: the golden vectors\n",
          to);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0) {
        printf("kbit %s (library %s)\n", PACKAGE_VERSION, kbit_version());
        return 0;
    }
    if (strcmp(verb, "info") == 0)
        return kbit_cmd_info(argc - 1, argv + 1);
    if (strcmp(verb, "bench") == 0)
        return kbit_cmd_bench(argc - 1, argv + 1);
    if (strcmp(verb, "quantize") == 0)
        return kbit_cmd_quantize(argc - 1, argv + 1);
    if (strcmp(verb, "dequantize") == 0)
        return kbit_cmd_dequantize(argc - 1, argv + 1);
    if (strcmp(verb, "inspect") == 0)
        return kbit_cmd_inspect(argc - 1, argv + 1);
    if (strcmp(verb, "conformance") == 0)
        return kbit_cmd_conformance(argc - 1, argv + 1);

    fprintf(stderr, "kbit: unknown command '%s'\n\n", verb);
    usage(stderr);
    return 2;
}
