/* tests/test_viz_cli.c — `weft dot` and `weft gradflow`, run as a user runs
 * them (the executable's path comes from meson in WEFT_EXE): files made with
 * the right magic bytes, bad flags refused with exit 2 and a message naming
 * the flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *exe;
static char dir[] = "/tmp/weft-viz-XXXXXX";
static int status;
static char out[65536], err[16384];

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
}

/* Run `weft args` in the scratch folder; stdout and stderr into out, err. */
static int run(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' --quiet %s >stdout.txt 2>stderr.txt", dir, exe,
             args);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    status = WEXITSTATUS(st);
    char path[512];
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    slurp(path, out, sizeof out);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    slurp(path, err, sizeof err);
    return status;
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("\"%s\" lacks \"%s\"", text, want);
}

/* The first n bytes of a file in the scratch folder equal magic. */
static void assert_magic(const char *name, const char *magic, size_t n)
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

static void dot_writes_every_format(void **state)
{
    (void)state;
    assert_int_equal(run("dot --cell lstm --layers 2 --bidirectional --steps 4 -o x.dot"), 0);
    assert_magic("x.dot", "digraph weft {", 14);
    char path[512];
    snprintf(path, sizeof path, "%s/x.dot", dir);
    slurp(path, out, sizeof out);
    for (int t = 0; t < 4; t++) {
        char c[64];
        snprintf(c, sizeof c, "subgraph cluster_step%d {", t);
        assert_contains(out, c);
    }
    assert_contains(out, "rnn.weight_hh_l1_reverse");
    assert_contains(out, "cross-entropy");

    assert_int_equal(run("dot --cell gru --level ops --steps 2 --grads --output x.svg"), 0);
    assert_magic("x.svg", "<?xml", 5);
    assert_int_equal(run("dot --cell rnn --steps 30 --max-steps 6 -o x.png"), 0);
    assert_magic("x.png", "\x89PNG", 4);
    assert_int_equal(run("dot --cell lstm-peephole --steps 3 --loss last --grads -o x.pdf"), 0);
    assert_magic("x.pdf", "%PDF", 4);
}

static void dot_max_steps_zero_draws_every_step(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/long.dot", dir);
    assert_int_equal(run("dot --cell rnn --steps 20 -o long.dot"), 0);
    slurp(path, out, sizeof out);
    assert_contains(out, "steps not drawn");                 /* the default cap */
    assert_int_equal(run("dot --cell rnn --steps 20 --max-steps 0 -o long.dot"), 0);
    slurp(path, out, sizeof out);
    assert_null(strstr(out, "steps not drawn"));
    assert_contains(out, "subgraph cluster_step19 {");
    assert_contains(out, "subgraph cluster_step10 {");
}

static void dot_bad_usage_exits_2_naming_the_flag(void **state)
{
    (void)state;
    assert_int_equal(run("dot --cell lstmx -o y.svg"), 2);
    assert_contains(err, "lstmx");
    assert_contains(err, "gru");                  /* lists the valid cells */
    assert_contains(err, "lstm-peephole");
    assert_false(exists("y.svg"));

    assert_int_equal(run("dot --cell lstm -o y.txt"), 2);
    assert_contains(err, "y.txt");
    assert_contains(err, ".svg");
    assert_int_equal(run("dot --cell lstm"), 2);
    assert_contains(err, "-o");
    assert_int_equal(run("dot --cell lstm --level boxes -o y.svg"), 2);
    assert_contains(err, "--level");
    assert_int_equal(run("dot --cell lstm --layers 0 -o y.svg"), 2);
    assert_contains(err, "--layers");
    assert_int_equal(run("dot --cell lstm --frobnicate -o y.svg"), 2);
    assert_contains(err, "--frobnicate");
    assert_int_equal(run("dot -o y.svg"), 2);
    assert_contains(err, "--cell");
    assert_int_equal(run("dot --model nothing-here.safetensors -o y.svg"), 2);
    assert_contains(err, "nothing-here.safetensors");
    assert_false(exists("y.svg"));
}

static void gradflow_prints_writes_and_plots(void **state)
{
    (void)state;
    assert_int_equal(run("gradflow --cell rnn,lstm --steps 10 --hidden 6 --samples 2 "
                         "--csv g.csv --plot g.svg"), 0);
    assert_contains(out, "distance");
    assert_contains(out, "rnn");
    assert_contains(out, "lstm");
    assert_magic("g.csv", "distance,t,rnn,lstm\n0,9,", 24);
    if (system("gnuplot --version >/dev/null 2>&1") == 0) {
        assert_magic("g.svg", "<?xml", 5);
        assert_int_equal(run("gradflow --cell gru --steps 5 --hidden 4 --plot g.png"), 0);
        assert_magic("g.png", "\x89PNG", 4);
    }
    assert_int_equal(run("gradflow --cell rnn,nope --steps 5"), 2);
    assert_contains(err, "nope");
    assert_contains(err, "lstm");
    assert_int_equal(run("gradflow --cell rnn --steps 0"), 2);
    assert_contains(err, "--steps");
    assert_int_equal(run("gradflow --steps 5"), 2);
    assert_contains(err, "--cell");
    assert_int_equal(run("gradflow --cell rnn --steps 5 --plot g.jpg"), 1);
    assert_contains(err, "g.jpg");
}

static int setup(void **state)
{
    (void)state;
    exe = getenv("WEFT_EXE");
    if (!exe) {
        fprintf(stderr, "WEFT_EXE is not set (meson test sets it)\n");
        return -1;
    }
    return mkdtemp(dir) ? 0 : -1;
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
        cmocka_unit_test(gradflow_prints_writes_and_plots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
