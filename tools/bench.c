/* tools/bench.c - `kbit bench WHAT`: run one of the benchmarks of bench/. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

static void usage(FILE *to)
{
    fputs("usage: kbit bench quant [OPTIONS]   (kbit bench quant --help)\n", to);
    fputs("       kbit bench optim [OPTIONS]   (kbit bench optim --help)\n", to);
    fputs("       kbit bench int8 [OPTIONS]    (kbit bench int8 --help)\n", to);
    fputs("       kbit bench gemm4 [OPTIONS]   (kbit bench gemm4 --help)\n", to);
}

int kbit_cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "quant") == 0)
        return kbit_bench_quant(argc - 1, argv + 1);
    if (strcmp(argv[1], "optim") == 0)
        return kbit_bench_optim(argc - 1, argv + 1);
    if (strcmp(argv[1], "int8") == 0)
        return kbit_bench_int8(argc - 1, argv + 1);
    if (strcmp(argv[1], "gemm4") == 0)
        return kbit_bench_gemm4(argc - 1, argv + 1);
    fprintf(stderr, "kbit bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
