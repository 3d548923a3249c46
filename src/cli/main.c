/* src/cli/main.c — the `weft` command: subcommand dispatch. */
#include "weft/weft.h"

#include <stdio.h>
#include <string.h>

static int cmd_ops(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int n;
    const weft_op_desc *const *ops = weft_op_table(&n);
    for (int i = 0; i < n; i++) printf("%s\t%s\n", ops[i]->name, ops[i]->label);
    return 0;
}

int main(int argc, char **argv)
{
    char err[256];
    if (weft_runtime_init(err, sizeof err)) fprintf(stderr, "weft: %s\n", err);
    if (argc < 2) {
        fprintf(stderr, "usage: weft COMMAND [options]\n");
        return 2;
    }
    if (strcmp(argv[1], "ops") == 0) return cmd_ops(argc - 1, argv + 1);
    fprintf(stderr, "weft: unknown command '%s'\n", argv[1]);
    return 2;
}
