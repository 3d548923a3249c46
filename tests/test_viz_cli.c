/* tests/test_viz_cli.c — `weft dot` and `weft gradflow`, run as a user runs
 * them (the executable's path comes from meson in WEFT_EXE): files made with
 * the right magic bytes, bad flags refused with exit 2 and a message naming
 * the flag. */
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
#include <unistd.h>

static const char *exe;
static char dir[] = "/tmp/weft-viz-XXXXXX";

/* every run: no start-up line */
#define GLOBAL_FLAGS "--quiet "

/* The first n bytes of a file in the scratch folder equal magic; err is
 * the stderr of the run that should have written it. */
static void assert_magic(const char *name, const char *magic, size_t n, const char *err)
{
    char path[512], buf[64] = { 0 };
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s was not written (stderr: %s)", name, err);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    assert_int_equal(got, n);
    if (memcmp(buf, magic, n) != 0) fail_msg("%s starts with \"%.*s\"", name, (int)n, buf);
}

static bool exists(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static char dot[65536];   /* a .dot file read back */

static void dot_writes_every_format(void **state)
{
    (void)state;
    weft_test_output *r;
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell lstm --layers 2 --bidirectional "
                                              "--steps 4 -o x.dot");
    assert_int_equal(r->status, 0);
    assert_magic("x.dot", "digraph weft {", 14, r->err);
    weft_test_read_file(dir, "x.dot", dot, sizeof dot);
    for (int t = 0; t < 4; t++) {
        char c[64];
        snprintf(c, sizeof c, "subgraph cluster_step%d {", t);
        assert_contains(dot, c);
    }
    assert_contains(dot, "rnn.weight_hh_l1_reverse");
    assert_contains(dot, "cross-entropy");

    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell gru --detail ops --steps 2 --grads "
                                              "--output x.svg");
    assert_int_equal(r->status, 0);
    assert_magic("x.svg", "<?xml", 5, r->err);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell rnn --steps 30 --max-steps 6 -o x.png");
    assert_int_equal(r->status, 0);
    assert_magic("x.png", "\x89PNG", 4, r->err);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell lstm-peephole --steps 3 --loss-at last "
                                              "--grads -o x.pdf");
    assert_int_equal(r->status, 0);
    assert_magic("x.pdf", "%PDF", 4, r->err);
}

static void dot_max_steps_zero_draws_every_step(void **state)
{
    (void)state;
    weft_test_output *r;
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell rnn --steps 20 -o long.dot");
    assert_int_equal(r->status, 0);
    weft_test_read_file(dir, "long.dot", dot, sizeof dot);
    assert_contains(dot, "steps not drawn");                 /* the default cap */
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell rnn --steps 20 --max-steps 0 "
                                              "-o long.dot");
    assert_int_equal(r->status, 0);
    weft_test_read_file(dir, "long.dot", dot, sizeof dot);
    assert_null(strstr(dot, "steps not drawn"));
    assert_contains(dot, "subgraph cluster_step19 {");
    assert_contains(dot, "subgraph cluster_step10 {");
}

static void dot_bad_usage_exits_2_naming_the_flag(void **state)
{
    (void)state;
    weft_test_output *r;
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell lstmx -o y.svg");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "lstmx");
    assert_contains(r->err, "gru");                  /* lists the valid cells */
    assert_contains(r->err, "lstm-peephole");
    assert_false(exists("y.svg"));

    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell lstm -o y.txt");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "y.txt");
    assert_contains(r->err, ".svg");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell lstm");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "-o");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell lstm --level boxes -o y.svg");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--level");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell lstm --layers 0 -o y.svg");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--layers");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --cell lstm --frobnicate -o y.svg");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--frobnicate");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot -o y.svg");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--cell");
    /* a model that cannot be loaded: the loader's message, exit 1 (as eval) */
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --model nothing-here.safetensors -o y.svg");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "nothing-here.safetensors");
    assert_false(exists("y.svg"));
}

/* weft dot --model: a recurrent LM's picture is titled with its cell; a
 * fixed-window model (weft train --task window-lm) is drawn too. */
static void dot_draws_both_kinds_of_saved_model(void **state)
{
    (void)state;
    const char *text = "the cat sat on the mat\nthe dog sat on the log\n";
    weft_test_write_file("tiny.txt", text, strlen(text));
    weft_test_output *r;
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --data tiny.txt --cell gru --layers 1 "
                      "--hidden 4 --embed 4 --batch 2 --bptt 3 --epochs 1 --save tiny-lm.safetensors");
    if (r->status != 0) fail_msg("%s", r->err);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --model tiny-lm.safetensors --steps 2 -o lm.dot");
    if (r->status != 0) fail_msg("%s", r->err);
    weft_test_read_file(dir, "lm.dot", dot, sizeof dot);
    assert_contains(dot, "label=\"tiny-lm.safetensors: gru, 1 layer, 2 steps");

    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task window-lm --data tiny.txt --order 3 "
                      "--embed 4 --hidden 6 --epochs 1 --save tiny-win.safetensors");
    if (r->status != 0) fail_msg("%s", r->err);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --model tiny-win.safetensors --batch 2 --grads "
                      "-o win.dot");
    if (r->status != 0) fail_msg("%s", r->err);
    weft_test_read_file(dir, "win.dot", dot, sizeof dot);
    assert_contains(dot, "fixed-window model, order 3");
    assert_contains(dot, "embedding.weight");
    assert_contains(dot, "cross-entropy");
}

static void gradflow_prints_writes_and_plots(void **state)
{
    (void)state;
    weft_test_output *r;
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "gradflow --cell rnn,lstm --steps 10 --hidden 6 "
                                              "--samples 2 --csv g.csv --plot g.svg");
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "distance");
    assert_contains(r->out, "rnn");
    assert_contains(r->out, "lstm");
    assert_magic("g.csv", "distance,t,rnn,lstm\n0,9,", 24, r->err);
    if (system("gnuplot --version >/dev/null 2>&1") == 0) {
        assert_magic("g.svg", "<?xml", 5, r->err);
        /* the log axis's labels are plain text with superscript digits ("10⁻²"), not
         * enhanced-text tspans shifted by dy, which converters to PNG drop */
        weft_test_read_file(dir, "g.svg", dot, sizeof dot);
        assert_contains(dot, ">10\u207b");
        assert_null(strstr(dot, "dy=\"-"));
        r = weft_test_run(exe, NULL, GLOBAL_FLAGS "gradflow --cell gru --steps 5 --hidden 4 "
                                                  "--plot g.png");
        assert_int_equal(r->status, 0);
        assert_magic("g.png", "\x89PNG", 4, r->err);
    }
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "gradflow --cell rnn,nope --steps 5");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "nope");
    assert_contains(r->err, "lstm");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "gradflow --cell rnn --steps 0");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--steps");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "gradflow --steps 5");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--cell");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "gradflow --cell rnn --steps 5 --plot g.jpg");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "g.jpg");
}

static int setup(void **state)
{
    (void)state;
    exe = getenv("WEFT_EXE");
    if (!exe) {
        fprintf(stderr, "WEFT_EXE is not set (meson test sets it)\n");
        return -1;
    }
    /* the runs write their files here (relative paths, as a user types them) */
    return mkdtemp(dir) && chdir(dir) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dot_writes_every_format),
        cmocka_unit_test(dot_max_steps_zero_draws_every_step),
        cmocka_unit_test(dot_bad_usage_exits_2_naming_the_flag),
        cmocka_unit_test(dot_draws_both_kinds_of_saved_model),
        cmocka_unit_test(gradflow_prints_writes_and_plots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
