/* tests/test_cli.c — the `weft` executable, run as a user runs it. Its path
 * comes from meson in WEFT_EXE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *exe;

typedef struct run_result {
    int status;          /* exit status */
    char out[65536];     /* stdout */
    char err[8192];      /* stderr */
} run_result;

static run_result result;   /* large: not on the stack */

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
}

/* Run `weft args` through the shell, capturing stdout, stderr and the exit
 * status. env (may be "") is put in front: "WEFT_NUM_THREADS=x". */
static run_result *run(const char *env, const char *args)
{
    char out_path[] = "/tmp/weft-cli-out-XXXXXX", err_path[] = "/tmp/weft-cli-err-XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    assert_true(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' %s >%s 2>%s", env, exe, args, out_path, err_path);
    int status = system(cmd);
    assert_true(status != -1 && WIFEXITED(status));
    result.status = WEXITSTATUS(status);
    slurp(out_path, result.out, sizeof result.out);
    slurp(err_path, result.err, sizeof result.err);
    unlink(out_path);
    unlink(err_path);
    return &result;
}


/* `weft ops`: names first, one a line; returns how many, names into names[]. */
static int list_ops(char names[][64], int max)
{
    run_result *r = run("", "--quiet ops");
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
        run_result *r = run("", args);
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
    run_result *r = run("", "gradcheck --all-ops");
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
    run_result *r = run("", "gradcheck --op tanh --frobnicate");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--frobnicate");
    assert_null(strstr(r->err, "BLIS"));   /* no start-up line before an error */

    r = run("", "gradcheck --op no_such_op");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "no_such_op");
    assert_contains(r->err, "matmul");     /* names the valid ones */
    assert_contains(r->err, "cross_entropy");

    r = run("", "gradcheck");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--op NAME");
    assert_contains(r->err, "--all-ops");

    r = run("", "gradcheck --op");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--op needs a value");

    r = run("", "gradcheck --op tanh --seed many");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--seed: 'many' is not an integer");

    r = run("", "no-such-command");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown command 'no-such-command'");

    r = run("", "");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "no command given");

    r = run("", "--threads zero ops");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--threads: 'zero' is not an integer");

    r = run("WEFT_NUM_THREADS=lots", "ops");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "WEFT_NUM_THREADS='lots'");
}

static void test_help_and_globals(void **state)
{
    (void)state;
    run_result *r = run("", "--help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "usage: weft");
    assert_contains(r->out, "gradcheck");
    assert_contains(r->out, "--threads N");

    r = run("", "gradcheck --help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "usage: weft gradcheck");
    assert_contains(r->out, "--all-ops");
    assert_contains(r->out, "--seed N");
    assert_contains(r->out, "(default: 1)");
    assert_contains(r->out, "--quiet");

    r = run("", "--threads 1 info");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "threads      1");
    assert_contains(r->err, "1 thread ");

    r = run("WEFT_NUM_THREADS=2", "info --quiet");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "threads      2");
    assert_string_equal(r->err, "");         /* --quiet after the command works too */

    r = run("WEFT_NUM_THREADS=2", "info --threads=1");
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
