/* tools/cli.h - the verbs of the `kbit` program. Each takes the arguments that
 * follow its name (argv[0] is the verb itself) and returns the exit status:
 * 0 success, 1 failure, 2 bad usage. */
#ifndef KBIT_TOOLS_CLI_H
#define KBIT_TOOLS_CLI_H

int kbit_cmd_info(int argc, char **argv);
int kbit_cmd_bench(int argc, char **argv);
int kbit_cmd_quantize(int argc, char **argv);
int kbit_cmd_dequantize(int argc, char **argv);
int kbit_cmd_inspect(int argc, char **argv);
/* tools/conformance/conformance.c */
int kbit_cmd_conformance(int argc, char **argv);

#endif
