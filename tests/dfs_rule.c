/* tests/dfs_rule.c - kbit-dfs-rule: kbit's diffusers quantization rule
 * (kbit_dfs_should_quantize) on tensor names read from stdin, for
 * tests/test_interop_diffusers.py, which compares it with what diffusers'
 * own replace_with_bnb_linear converts.
 *
 * usage: kbit-dfs-rule CONFIG_JSON SKIP   (SKIP: "a,b,c" or "-" for none)
 * stdin: one "NAME NDIM" per line; stdout: "1" (quantized) or "0" per line. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/diffusers.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: kbit-dfs-rule CONFIG_JSON SKIP\n");
        return 2;
    }
    kbit_dfs_rules rules;
    if (kbit_dfs_rules_init(argv[1], &rules) != KBIT_OK) {
        fprintf(stderr, "kbit-dfs-rule: %s\n", kbit_last_error());
        return 1;
    }
    const char *skip[64];
    size_t nskip = 0;
    char *list = strdup(argv[2]);
    if (list == NULL)
        return 1;
    if (strcmp(list, "-") != 0)
        for (char *t = strtok(list, ","); t && nskip < 64; t = strtok(NULL, ","))
            skip[nskip++] = t;
    char line[4096], name[4000];
    int ndim;
    while (fgets(line, sizeof line, stdin))
        if (sscanf(line, "%3999s %d", name, &ndim) == 2)
            printf("%d\n", kbit_dfs_should_quantize(&rules, name, ndim, 1, KBIT_F32,
                                                    nskip ? skip : NULL, nskip));
    free(list);
    return 0;
}
