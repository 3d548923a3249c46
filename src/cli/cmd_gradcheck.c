/* src/cli/cmd_gradcheck.c — `weft gradcheck`: each op's gradients against
 * central finite differences, on the op's example graphs (ops/examples.c). */
#include "src/cli/cli.h"

#include "ops/examples.h"
#include "weft/ops.h"

#include <math.h>
#include <stdio.h>

/* Check every example of one op, printing a line for each; returns the number
 * that failed (an op without an example counts as one failure). *worst
 * collects the largest relative error. */
static int check_op(const char *op, uint64_t seed, const weft_gradcheck_opts *opts, double *worst)
{
    int n;
    const weft_op_example *ex = weft_op_examples_for(op, &n);
    if (n == 0) {
        printf("%-14s FAIL  no example graph (add one to ops/examples.c)\n", op);
        *worst = INFINITY;
        return 1;
    }
    int failed = 0;
    for (int k = 0; k < n; k++) {
        weft_gradcheck_result res;
        char err[512];
        if (weft_op_example_gradcheck(&ex[k], seed, opts, &res, err, sizeof err)) {
            printf("%-14s %-34s FAIL  %s\n", op, ex[k].variant, err);
            *worst = INFINITY;
            failed++;
            continue;
        }
        printf("%-14s %-34s %s  max rel error %.3e  worst/allowed %.3f  (%d elements of %d "
               "lea%s)\n", op, ex[k].variant, res.passed ? "ok  " : "FAIL", res.max_rel_error,
               res.worst_ratio, res.checked, res.leaves, res.leaves == 1 ? "f" : "ves");
        if (!res.passed)
            printf("%-14s   worst: node #%d element %d: backward %.6g, finite differences %.6g\n",
                   "", res.worst_node, res.worst_index, res.worst_analytic, res.worst_numeric);
        if (!(res.max_rel_error <= *worst)) *worst = res.max_rel_error;
        failed += !res.passed;
    }
    return failed;
}

int weft_cmd_gradcheck(int argc, char **argv)
{
    const char *op = NULL, *cell = NULL;
    bool all = false, bidirectional = false, ragged = false, composed = false;
    int layers = 1;
    int seed = 1;
    float eps = 1e-2f, tolerance = 1e-2f, atol = 1e-3f;
    const weft_flag flags[] = {
        { "op", WEFT_FLAG_STRING, &op, "NAME", "the op to check (see 'weft ops')", 0, 0 },
        { "all-ops", WEFT_FLAG_BOOL, &all, NULL, "check every op", 0, 0 },
        { "cell", WEFT_FLAG_STRING, &cell, "NAME", "check a recurrent cell unrolled over a "
          "sequence (see 'weft cells')", 0, 0 },
        { "layers", WEFT_FLAG_INT, &layers, "N", "with --cell: stacked layers", 1, 8 },
        { "bidirectional", WEFT_FLAG_BOOL, &bidirectional, NULL, "with --cell: both directions",
          0, 0 },
        { "ragged", WEFT_FLAG_BOOL, &ragged, NULL, "with --cell: sequences of different lengths",
          0, 0 },
        { "composed", WEFT_FLAG_BOOL, &composed, NULL, "with --cell: composed steps, not the "
          "fast path", 0, 0 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "seed of the random example data", 0, 0 },
        { "eps", WEFT_FLAG_FLOAT, &eps, "X", "finite-difference step", 1e-6, 1 },
        { "tolerance", WEFT_FLAG_FLOAT, &tolerance, "X", "rtol: an element passes when "
          "|backward - numeric| <= atol + rtol |numeric|", 1e-7, 1 },
        { "atol", WEFT_FLAG_FLOAT, &atol, "X", "atol of that verdict (float32's rounding of "
          "gradients near zero)", 1e-9, 1 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    weft_args_spec spec = {
        .prog = "weft gradcheck",
        .summary = "Compare each op's backward with central finite differences, "
                   "(L(x+h) - L(x-h)) / 2h,\nh = eps max(1, |x|), refined by Richardson "
                   "extrapolation where they disagree, on small\nexample graphs of random "
                   "numbers (odd, non-square shapes; every variant of the op).\nAn element "
                   "passes when |backward - numeric| <= atol + rtol |numeric| (PyTorch's "
                   "verdict).",
        .details = "Prints one line per example and, last, 'max relative error: X'.\n"
                   "Exit status: 0 all passed, 1 a check failed, 2 bad usage or unknown op.",
        .groups = groups,
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);

    int n_ops;
    const weft_op_desc *const *ops = weft_op_table(&n_ops);
    if ((op != NULL) + all + (cell != NULL) != 1) {
        fprintf(stderr, "weft gradcheck: give one of --op NAME, --all-ops or --cell NAME (see "
                        "'weft gradcheck --help')\n");
        return WEFT_EXIT_USAGE;
    }
    if (op && !weft_op_find(op)) {
        fprintf(stderr, "weft gradcheck: unknown op '%s'; the ops are:", op);
        for (int i = 0; i < n_ops; i++) fprintf(stderr, " %s", ops[i]->name);
        fprintf(stderr, "\n");
        return WEFT_EXIT_USAGE;
    }

    if (cell)
        return weft_cli_gradcheck_cell(cell, layers, bidirectional, ragged, composed,
                                       (uint64_t)seed, eps, tolerance, atol);

    weft_gradcheck_opts opts = { .eps = eps, .tolerance = tolerance, .atol = atol };
    double worst = 0.0;
    int failed = 0;
    if (op) {
        failed = check_op(op, (uint64_t)seed, &opts, &worst);
    } else {
        for (int i = 0; i < n_ops; i++) failed += check_op(ops[i]->name, (uint64_t)seed, &opts, &worst);
    }
    if (failed) printf("%d check%s FAILED (tolerance %g)\n", failed, failed == 1 ? "" : "s",
                       (double)tolerance);
    printf("max relative error: %.3e\n", worst);
    return failed ? WEFT_EXIT_FAIL : WEFT_EXIT_OK;
}
