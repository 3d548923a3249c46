/* tests/test_bench.c — `weft bench` in tiny configurations: the lines that
 * bench/side_by_side.py and docs/performance.md rely on are there and parse,
 * the FLOP counts follow 2*M*N*K per product, a plugin cell is measured like
 * a built-in one, and bad usage is refused. The times themselves are not
 * checked (a timed test cannot be trusted). The executable's path comes from
 * meson in WEFT_EXE, the mgu plugin's (examples/mgu.so) in argv[1]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/cli_text.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *exe, *plugin_path;

/* Run `weft args`, capturing stdout, stderr and the exit status. */
static weft_test_output *run(const char *args)
{
    return weft_test_run(exe, NULL, "%s", args);
}

/* The number after "key: " on the line that starts with key; fails the test
 * when there is no such line or no number. */
static double value_of(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1
                                                                            : NULL) {
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            char *end;
            double v = strtod(line + n + 1, &end);
            if (end == line + n + 1) fail_msg("\"%s\" is not followed by a number", key);
            return v;
        }
    }
    fail_msg("no line \"%s: ...\" in\n%s", key, text);
    return NAN;
}

/* The last line is exactly "median ms: X" with X a positive number; returns X. */
static double last_median(const char *text)
{
    char line[256], tail;
    double ms;
    last_line(text, line, sizeof line);
    if (sscanf(line, "median ms: %lf%c", &ms, &tail) != 1)
        fail_msg("the last line is \"%s\", not \"median ms: X\"", line);
    assert_true(ms > 0.0);
    return ms;
}

/* got within rel of want (relative). Printed counts are exact to 1e-4;
 * rates computed from printed, rounded times to a couple of percent. */
static void assert_near(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fabs(want)) fail_msg("got %.9g, expected %.9g", got, want);
}

static void test_layer_lstm_forward_backward(void **state)
{
    (void)state;
    weft_test_output *r = run("--quiet --threads 1 bench layer --cell lstm --steps 3 --batch 2 "
                        "--input 8 --hidden 16 --backward --repeat 3 --warmup-runs 1 --gemm-size 32");
    if (r->status != 0) fail_msg("exit %d\n%s%s", r->status, r->out, r->err);
    double med = last_median(r->out);
    assert_true(value_of(r->out, "min ms") <= med);
    assert_int_equal((int)value_of(r->out, "threads"), 1);
    assert_int_equal((int)value_of(r->out, "repetitions"), 3);
    /* the products run (T = 3, B = 2, I = 8, 4H = 64): forward 2·B·(I + H)·4H a
     * step; backward dW_ih and dW_hh over all steps, and dh_{t-1} for steps 2
     * and 3 only (the zero initial state wants no gradient); no input gradient
     * (the input is data) */
    double fwd = 3.0 * 2 * 2 * (8 + 16) * 64, bwd = 3.0 * 2 * 2 * (8 + 16) * 64 + 2.0 * 2 * 2 * 16 * 64;
    assert_near(value_of(r->out, "GFLOP a repetition"), (fwd + bwd) * 1e-9, 1e-4);
    assert_contains(r->out, "backward counted as twice forward: 5.5296e-05");
    double gflops = value_of(r->out, "GFLOP/s");
    assert_true(gflops > 0.0);
    /* GFLOP/s is the count over the median time */
    assert_near(gflops, value_of(r->out, "GFLOP a repetition") / (med * 1e-3), 2e-2);
    assert_contains(r->out, "sgemm per-step shape: 2 x 64 x 24: ");
    assert_contains(r->out, "sgemm square: 32 x 32 x 32: ");
    assert_true(value_of(r->out, "fraction of per-step sgemm") > 0.0);
    assert_true(value_of(r->out, "fraction of square sgemm") > 0.0);
    /* the ceiling is the faster sgemm, so its fraction is the smaller one */
    double frac = value_of(r->out, "fraction of sgemm ceiling");
    assert_true(frac > 0.0 && frac <= value_of(r->out, "fraction of per-step sgemm") + 0.05 &&
                frac <= value_of(r->out, "fraction of square sgemm") + 0.05);
    assert_true(value_of(r->out, "peak memory") > 0.0);
    assert_true(value_of(r->out, "arena bytes") > 0.0);
    /* saved activations of an LSTM: 6H floats per row and step */
    assert_contains(r->out, "saved activations need 768 bytes");
    assert_true(value_of(r->out, "memory per step") >= 768.0);
    assert_contains(r->out, "sequences/s");
}

static void test_layer_gru_stack_composed(void **state)
{
    (void)state;
    weft_test_output *r = run("--quiet --threads 1 bench layer --cell gru --steps 4 --batch 3 "
                        "--input 5 --hidden 6 --layers 2 --bidirectional --composed --repeat 2 "
                        "--warmup-runs 0 --gemm-size 0");
    if (r->status != 0) fail_msg("exit %d\n%s%s", r->status, r->out, r->err);
    last_median(r->out);
    assert_contains(r->out, "2 layers bidirectional, forward, composed step");
    /* forward only; layer 0 reads I = 5, layer 1 reads 2H = 12; two directions each */
    double per_step = 2.0 * 3 * 3 * 6 * ((5 + 6) + (12 + 6)) * 2;
    assert_near(value_of(r->out, "GFLOP a repetition"), 4 * per_step * 1e-9, 1e-4);
    assert_contains(r->out, "sgemm per-step shape: 3 x 18 x 11: ");
    assert_null(strstr(r->out, "sgemm square"));
}

/* A user's cell from a shared object: the same lines, its FLOPs from its own
 * weights (mgu: W_f and W_h, each [H, I + H] as two linears, 2 gates). */
static void test_layer_plugin(void **state)
{
    (void)state;
    char args[1024];
    snprintf(args, sizeof args, "--quiet --threads 1 bench layer --cell %s --steps 3 --batch 2 "
             "--input 4 --hidden 5 --backward --repeat 2 --warmup-runs 0 --gemm-size 0", plugin_path);
    weft_test_output *r = run(args);
    if (r->status != 0) fail_msg("exit %d\n%s%s", r->status, r->out, r->err);
    last_median(r->out);
    assert_contains(r->out, "mgu");
    assert_true(value_of(r->out, "GFLOP a repetition") > 0.0);
    snprintf(args, sizeof args, "--quiet --threads 1 bench lm --cell %s --config small --train-steps 1 "
             "--warmup-runs 0", plugin_path);
    r = run(args);
    if (r->status != 0) fail_msg("exit %d\n%s%s", r->status, r->out, r->err);
    last_median(r->out);
}

static void test_lm_small_step(void **state)
{
    (void)state;
    weft_test_output *r = run("--quiet --threads 1 bench lm --config small --train-steps 1 --warmup-runs 0");
    if (r->status != 0) fail_msg("exit %d\n%s%s", r->status, r->out, r->err);
    double med = last_median(r->out);
    /* 20 x 20 tokens a step */
    assert_near(value_of(r->out, "tokens/s"), 400.0 / (med * 1e-3), 2e-2);
    /* encoder 10000 x 200, decoder 10000 x 200 + 10000, two LSTM layers 4H(I+H) + 8H */
    assert_int_equal((long)value_of(r->out, "parameters"), 2000000L + 2010000L + 2L * 321600L);
    assert_true(value_of(r->out, "peak memory") > 0.0);
    assert_contains(r->out, "bench lm: small, lstm, vocabulary 10000, 2 x 200, batch 20, bptt 20");
}

static void test_gemm(void **state)
{
    (void)state;
    weft_test_output *r = run("--quiet --threads 1 bench gemm --m 4 --n 8 --k 16 --size 16");
    if (r->status != 0) fail_msg("exit %d\n%s%s", r->status, r->out, r->err);
    last_median(r->out);
    assert_true(value_of(r->out, "sgemm per-step shape: 4 x 8 x 16") > 0.0);
}

static void test_bad_usage(void **state)
{
    (void)state;
    weft_test_output *r = run("--quiet bench layer --cell nosuch");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--cell: unknown cell 'nosuch'");
    r = run("--quiet bench layer --steps 0");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--steps");
    r = run("--quiet bench layer --hidden 8 --frobnicate");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown flag '--frobnicate'");
    r = run("--quiet bench lm --config huge");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--config 'huge': expected small, medium or char");
    r = run("--quiet bench lm --cell nosuch");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--cell: unknown cell 'nosuch'");
    r = run("--quiet bench lm --cell ./no-such-plugin.so");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "cannot load the cell plugin ./no-such-plugin.so");
    r = run("--quiet bench sprint");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown command 'sprint'");
    r = run("--quiet bench");
    assert_int_equal(r->status, 2);
    r = run("bench layer --help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "--backward");
    assert_contains(r->out, "median ms: X");
    r = run("--help");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "bench");
}

int main(int argc, char **argv)
{
    exe = getenv("WEFT_EXE");
    if (!exe || argc < 2) {
        fprintf(stderr, "test_bench: WEFT_EXE or the plugin argument is not set (run through "
                        "meson test)\n");
        return 1;
    }
    plugin_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_lstm_forward_backward),
        cmocka_unit_test(test_layer_gru_stack_composed),
        cmocka_unit_test(test_layer_plugin),
        cmocka_unit_test(test_lm_small_step),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_bad_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
