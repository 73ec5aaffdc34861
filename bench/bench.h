/* bench/bench.h - the benchmarks run by `kbit bench`. They print figures
 * (throughput and ratios to the copy bandwidth of the same machine), never a
 * pass/fail verdict. */
#ifndef KBIT_BENCH_H
#define KBIT_BENCH_H

/* `kbit bench quant [OPTIONS]`; argv[0] is "quant". Returns the exit status. */
int kbit_bench_quant(int argc, char **argv);
/* `kbit bench optim [OPTIONS]`: optimizer steps (bench/optim.c). */
int kbit_bench_optim(int argc, char **argv);

/* `kbit bench int8 [OPTIONS]`; argv[0] is "int8". Returns the exit status. */
int kbit_bench_int8(int argc, char **argv);
/* `kbit bench gemm4 [OPTIONS]`; argv[0] is "gemm4". */
int kbit_bench_gemm4(int argc, char **argv);

#endif
