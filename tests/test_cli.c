/* tests/test_cli.c — the `weft` executable, run as a user runs it. Its path
 * comes from meson in WEFT_EXE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/cli_text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *exe;

/* `weft ops`: names first, one a line; returns how many, names into names[]. */
static int list_ops(char names[][64], int max)
{
    weft_test_output *r = weft_test_run(exe, NULL, "--quiet ops");
    assert_int_equal(r->status, 0);
    int n = 0;
    for (char *line = strtok(r->out, "\n"); line && n < max; line = strtok(NULL, "\n"))
        sscanf(line, "%63s", names[n++]);
    return n;
}

static void test_ops_lists_every_op(void **state)
{
    (void)state;
    char names[128][64];
    int n = list_ops(names, 128);
    assert_true(n >= 25);
    const char *must[] = { "matmul", "linear", "add", "sub", "mul", "scale", "one_minus",
                           "sigmoid", "tanh", "relu", "exp", "log", "softmax", "log_softmax",
                           "cross_entropy", "embedding", "concat", "slice", "stack", "narrow",
                           "reshape", "sum", "mean", "dropout", "detach" };
    for (size_t k = 0; k < sizeof must / sizeof *must; k++) {
        bool found = false;
        for (int i = 0; i < n; i++) found |= strcmp(names[i], must[k]) == 0;
        if (!found) fail_msg("weft ops does not list %s", must[k]);
    }
}

static void test_gradcheck_passes_for_every_op(void **state)
{
    (void)state;
    char names[128][64], args[160], line[256];
    int n = list_ops(names, 128);
    for (int i = 0; i < n; i++) {
        snprintf(args, sizeof args, "--quiet gradcheck --op %.63s", names[i]);
        weft_test_output *r = weft_test_run(exe, NULL, "%s", args);
        if (r->status != 0) fail_msg("weft %s: exit %d\n%s%s", args, r->status, r->out, r->err);
        last_line(r->out, line, sizeof line);
        double x;
        char tail;
        if (sscanf(line, "max relative error: %lf%c", &x, &tail) != 1)
            fail_msg("weft %s: last line \"%s\"", args, line);
        assert_true(x >= 0.0 && x < 1e-2);
        assert_contains(r->out, names[i]);
    }
}

static void test_gradcheck_all_ops(void **state)
{
    (void)state;
    char line[256];
    weft_test_output *r = weft_test_run(exe, NULL, "gradcheck --all-ops");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "cross_entropy");
    assert_contains(r->out, "a^T b^T");
    assert_contains(last_line(r->out, line, sizeof line), "max relative error: ");
    /* the start-up line, on stderr, once */
    assert_contains(r->err, "thread");
    assert_contains(r->err, "BLIS");
    assert_null(strstr(strstr(r->err, "BLIS") + 1, "BLIS"));
}

static void test_bad_usage(void **state)
{
    (void)state;
    weft_test_output *r = weft_test_run(exe, NULL, "gradcheck --op tanh --frobnicate");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--frobnicate");
    assert_null(strstr(r->err, "BLIS"));   /* no start-up line before an error */

    r = weft_test_run(exe, NULL, "gradcheck --op no_such_op");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "no_such_op");
    assert_contains(r->err, "matmul");     /* names the valid ones */
    assert_contains(r->err, "cross_entropy");

    r = weft_test_run(exe, NULL, "gradcheck");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--op NAME");
    assert_contains(r->err, "--all-ops");

    r = weft_test_run(exe, NULL, "gradcheck --op");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--op needs a value");

    r = weft_test_run(exe, NULL, "gradcheck --op tanh --seed many");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--seed: 'many' is not an integer");

    r = weft_test_run(exe, NULL, "no-such-command");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown command 'no-such-command'");

    r = weft_test_run(exe, NULL, "%s", "");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "no command given");

    r = weft_test_run(exe, NULL, "--threads zero ops");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--threads: 'zero' is not an integer");

    r = weft_test_run(exe, "WEFT_NUM_THREADS=lots", "ops");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "WEFT_NUM_THREADS='lots' is not a whole number from 1 to 4096");

    r = weft_test_run(exe, "WEFT_PACKED_KERNEL=mkl", "ops");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "WEFT_PACKED_KERNEL='mkl' is not one of auto, weft, "
                            "weft-avx512, weft-avx2, blis");
    r = weft_test_run(exe, "WEFT_PACKED_KERNEL=blis", "info --quiet");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "packed       blis");
    /* each of weft's kernels: chosen where the CPU runs it, else a clear error */
    const char *own[] = { "weft-avx512", "weft-avx2" };
    for (int i = 0; i < 2; i++) {
        char env[64];
        snprintf(env, sizeof env, "WEFT_PACKED_KERNEL=%s", own[i]);
        r = weft_test_run(exe, env, "info --quiet");
        if (r->status == 0) {
            char want[64];
            snprintf(want, sizeof want, "packed       %s", own[i]);
            assert_contains(r->out, want);
        } else {
            assert_int_equal(r->status, 2);
            assert_contains(r->err, "this CPU cannot run it");
        }
    }
}

static void test_help_and_globals(void **state)
{
    (void)state;
    weft_test_output *r = weft_test_run(exe, NULL, "--help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "usage: weft");
    assert_contains(r->out, "gradcheck");
    assert_contains(r->out, "--threads N");

    r = weft_test_run(exe, NULL, "gradcheck --help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "usage: weft gradcheck");
    assert_contains(r->out, "--all-ops");
    assert_contains(r->out, "--seed S");
    assert_contains(r->out, "(default: 1)");
    assert_contains(r->out, "--quiet");

    r = weft_test_run(exe, NULL, "--threads 1 info");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "threads      1");
    assert_contains(r->err, "1 thread ");

    r = weft_test_run(exe, "WEFT_NUM_THREADS=2", "info --quiet");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "threads      2");
    assert_string_equal(r->err, "");         /* --quiet after the command works too */

    r = weft_test_run(exe, "WEFT_NUM_THREADS=2", "info --threads=1");
    assert_contains(r->out, "threads      1");  /* the flag wins over the environment */
}

int main(void)
{
    exe = getenv("WEFT_EXE");
    if (!exe || !exe[0]) {
        fprintf(stderr, "test_cli: set WEFT_EXE to the weft executable\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_lists_every_op),
        cmocka_unit_test(test_gradcheck_passes_for_every_op),
        cmocka_unit_test(test_gradcheck_all_ops),
        cmocka_unit_test(test_bad_usage),
        cmocka_unit_test(test_help_and_globals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
