/* src/cli/cmd_ops.c — `weft ops`: every op of the op table, one a line. */
#include "src/cli/cli.h"

#include "ops/examples.h"
#include "weft/ops.h"

#include <stdio.h>

int weft_cmd_ops(int argc, char **argv)
{
    weft_args_spec spec = {
        .prog = "weft ops",
        .summary = "List every op, one a line: its name (what 'weft gradcheck --op' takes), "
                   "its drawing label,\nand how many example graphs check its gradient.",
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);

    int n;
    const weft_op_desc *const *ops = weft_op_table(&n);
    for (int i = 0; i < n; i++) {
        int n_ex;
        weft_op_examples_for(ops[i]->name, &n_ex);
        printf("%-14s label %-14s %d example%s\n", ops[i]->name, ops[i]->label, n_ex,
               n_ex == 1 ? "" : "s");
    }
    return WEFT_EXIT_OK;
}
