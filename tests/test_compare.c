/* tests/test_compare.c — weft/compare.h and `weft compare`: equal-parameter
 * sizing within 2% for every built-in cell at two budgets (and the model
 * really has that many parameters), training that learns, the same numbers
 * for the same seed, a cell plugin built by meson that loads and trains, a
 * tiny comparison from the command line (table, CSV, chart, resume, --jobs)
 * and clear errors for bad input.
 *
 * argv[1] is the mgu plugin (examples/mgu.so), argv[2] a shared object
 * without the plugin function; WEFT_EXE is the weft executable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/cli_text.h"
#include "weft/weft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *plugin_path, *nosym_path, *exe;
static char tmpdir[64];

/* --- sizing ---------------------------------------------------------------------------------- */

static void check_sizing(const weft_task *t)
{
    int n;
    const weft_cell_type *const *types = weft_cell_types(&n);
    const size_t budgets[2] = { 10000, 50000 };
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 2; b++) {
            int H;
            size_t numel;
            char err[512];
            if (weft_compare_size(types[i], t, 16, budgets[b], 0.02, &H, &numel, err,
                                  sizeof err))
                fail_msg("%s on %s at %zu: %s", types[i]->name, t->name, budgets[b], err);
            double gap = fabs((double)numel - (double)budgets[b]) / (double)budgets[b];
            if (gap > 0.02)
                fail_msg("%s on %s: %zu parameters for a budget of %zu", types[i]->name, t->name,
                         numel, budgets[b]);
            /* the nearest: one unit of H either way is no closer */
            for (int d = -1; d <= 1; d += 2) {
                size_t other = weft_compare_numel(types[i], t, 16, H + d);
                if (other == 0) continue;
                assert_true(fabs((double)other - (double)budgets[b]) >=
                            fabs((double)numel - (double)budgets[b]));
            }
            /* and the model trained has exactly that many */
            if (b == 0) {
                weft_compare_result r;
                weft_compare_opts o = { .hidden = H, .embed = 16, .batch = 2, .max_steps = 1,
                                        .eval_points = 1, .seed = 1 };
                if (weft_compare_train(types[i], t, &o, &r, err, sizeof err))
                    fail_msg("%s: %s", types[i]->name, err);
                assert_int_equal(r.numel, numel);
                assert_int_equal(r.steps, 1);
                weft_compare_result_free(&r);
            }
        }
}

static void test_sizing_every_cell_two_budgets(void **state)
{
    (void)state;
    char err[256];
    weft_task *arith = weft_task_new("arithmetic", &(weft_task_opts){ .valid_size = 2,
                                     .max_digits = 2 }, err, sizeof err);
    weft_task *adding = weft_task_new("adding", &(weft_task_opts){ .valid_size = 2,
                                      .length = 5 }, err, sizeof err);
    assert_non_null(arith);
    assert_non_null(adding);
    check_sizing(arith);    /* embedding 41 x 16, the cell, 41 outputs */
    check_sizing(adding);   /* 2 inputs, one output */

    /* the numbers by hand: LSTM on adding, H 10: 4H(I+H) + 8H + H + 1 */
    assert_int_equal(weft_compare_numel(&weft_cell_lstm, adding, 16, 10),
                     4 * 10 * (2 + 10) + 8 * 10 + 10 + 1);
    /* tokens: + V*E, and the output layer is V x H + V */
    assert_int_equal(weft_compare_numel(&weft_cell_gru, arith, 16, 10),
                     41 * 16 + 3 * 10 * (16 + 10) + 6 * 10 + 41 * 10 + 41);

    /* a budget below what the input and output layers take */
    int H;
    size_t numel;
    assert_int_equal(weft_compare_size(&weft_cell_gru, arith, 16, 500, 0.02, &H, &numel, err,
                                       sizeof err), -1);
    assert_non_null(strstr(err, "the input and output layers alone take more"));
    weft_task_free(arith);
    weft_task_free(adding);
}

/* --- training -------------------------------------------------------------------------------- */

static void test_training_learns_and_repeats(void **state)
{
    (void)state;
    char err[512];
    weft_task *t = weft_task_new("adding", &(weft_task_opts){ .length = 10, .valid_size = 50 },
                                 err, sizeof err);
    assert_non_null(t);
    weft_compare_opts o = { .hidden = 24, .batch = 16, .max_steps = 250, .eval_points = 5,
                            .seed = 3 };
    weft_compare_result a, b, c;
    assert_int_equal(weft_compare_train(&weft_cell_gru, t, &o, &a, err, sizeof err), 0);
    /* points at 0, 50, ..., 250; predicting the mean sum (1) scores about 1/6 */
    assert_int_equal(a.n_points, 6);
    assert_int_equal(a.points[5].step, 250);
    assert_true(a.points[0].score > 0.15);
    assert_true(a.best < 0.05);
    assert_true(a.best == a.points[5].score || a.best <= a.points[5].score);
    /* the same seed: the same numbers */
    assert_int_equal(weft_compare_train(&weft_cell_gru, t, &o, &b, err, sizeof err), 0);
    for (int k = 0; k < a.n_points; k++) assert_true(a.points[k].score == b.points[k].score);
    /* another seed: other numbers */
    o.seed = 4;
    assert_int_equal(weft_compare_train(&weft_cell_gru, t, &o, &c, err, sizeof err), 0);
    assert_true(a.points[5].score != c.points[5].score);
    weft_compare_result_free(&a);
    weft_compare_result_free(&b);
    weft_compare_result_free(&c);

    /* a time budget: validation at even fractions of it, not counted in it */
    o = (weft_compare_opts){ .hidden = 8, .batch = 4, .max_seconds = 0.2, .eval_points = 4,
                             .seed = 1 };
    assert_int_equal(weft_compare_train(&weft_cell_rnn_tanh, t, &o, &a, err, sizeof err), 0);
    assert_true(a.train_seconds >= 0.2 && a.train_seconds < 5);
    assert_true(a.n_points >= 3 && a.n_points <= 6);
    assert_true(a.points[a.n_points - 1].seconds >= 0.2);
    for (int k = 1; k < a.n_points; k++) {
        assert_true(a.points[k].seconds > a.points[k - 1].seconds);
        assert_true(a.points[k].step > a.points[k - 1].step);
    }
    assert_int_equal(a.points[a.n_points - 1].step, a.steps);
    weft_compare_result_free(&a);

    /* no budget at all */
    o.max_seconds = 0;
    assert_int_equal(weft_compare_train(&weft_cell_gru, t, &o, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "no budget"));
    weft_task_free(t);

    /* a classification task scored by accuracy: copy with a short delay. Within
     * a few hundred steps the model learns the symbols' distribution (NLL from
     * about log 10 to below log 8 = 2.079 on the copied steps), not yet the copy. */
    t = weft_task_new("copy", &(weft_task_opts){ .length = 2, .valid_size = 50 }, err, sizeof err);
    assert_non_null(t);
    o = (weft_compare_opts){ .hidden = 32, .embed = 8, .batch = 16, .max_steps = 200,
                             .eval_points = 2, .seed = 1, .metric = WEFT_METRIC_ACCURACY,
                             .use_metric = true };
    assert_int_equal(weft_compare_train(&weft_cell_gru, t, &o, &a, err, sizeof err), 0);
    assert_int_equal(a.metric, WEFT_METRIC_ACCURACY);
    for (int k = 0; k < a.n_points; k++) {
        assert_true(a.points[k].score == a.points[k].accuracy);
        assert_true(a.points[k].accuracy >= 0 && a.points[k].accuracy <= 1);
        assert_true(a.best >= a.points[k].score);          /* higher is better */
    }
    assert_true(a.points[0].nll > 2.2);
    assert_true(a.points[a.n_points - 1].nll < 2.1);
    weft_compare_result_free(&a);
    weft_task_free(t);
}

/* --- plugins --------------------------------------------------------------------------------- */

static void test_plugin_loads_and_trains(void **state)
{
    (void)state;
    char err[1024];
    void *h;
    const weft_cell_type *mgu = weft_cell_plugin_open(plugin_path, &h, err, sizeof err);
    if (!mgu) fail_msg("%s", err);
    assert_string_equal(mgu->name, "mgu");
    weft_task *t = weft_task_new("adding", &(weft_task_opts){ .length = 10, .valid_size = 50 },
                                 err, sizeof err);
    int H;
    size_t numel;
    assert_int_equal(weft_compare_size(mgu, t, 16, 10000, 0.02, &H, &numel, err, sizeof err), 0);
    /* 2H(I+H) + 2H parameters and the output layer */
    assert_int_equal(numel, (size_t)(2 * H * (2 + H) + 2 * H + H + 1));
    weft_compare_opts o = { .hidden = 24, .batch = 16, .max_steps = 250, .eval_points = 2,
                            .seed = 3 };
    weft_compare_result r;
    if (weft_compare_train(mgu, t, &o, &r, err, sizeof err)) fail_msg("%s", err);
    assert_true(r.best < 0.1 && r.best < r.points[0].score / 3);
    weft_compare_result_free(&r);
    weft_task_free(t);
    weft_cell_plugin_close(h);

    /* a file that is not there, and a shared object without the function */
    assert_null(weft_cell_plugin_open("/nonexistent/cell.so", &h, err, sizeof err));
    assert_non_null(strstr(err, "cannot load the cell plugin /nonexistent/cell.so"));
    assert_null(h);
    assert_null(weft_cell_plugin_open(nosym_path, &h, err, sizeof err));
    assert_non_null(strstr(err, "is not a cell plugin: it has no function weft_cell_plugin"));
}

/* --- the command ----------------------------------------------------------------------------- */

/* every run: one thread */
#define GLOBAL_FLAGS "--threads 1 "

static bool have_gnuplot(void)
{
    int rc = system("gnuplot --version >/dev/null 2>&1");
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

static long file_size(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

#define TINY "compare --task adding --length 8 --train-steps 30 --eval-points 2 --budget-params 8000 " \
             "--valid-size 20 --batch 8"

static void test_cli_tiny_comparison(void **state)
{
    (void)state;
    char args[1024], dir[128], csv[8192], again[8192];
    snprintf(dir, sizeof dir, "%s/one", tmpdir);
    snprintf(args, sizeof args, TINY " --cell rnn,gru --output %s", dir);
    weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "%s", args);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    assert_contains(r->out, "| cell | H | params | mse | steps | train s | wall s |");
    assert_contains(r->out, "| rnn | ");
    assert_contains(r->out, "| gru | ");
    assert_contains(r->out, " ± 0.0000 | 30 |");           /* one seed: no spread */
    assert_contains(r->err, "2 runs to do");
    weft_test_read_file(dir, "results.csv", csv, sizeof csv);
    assert_contains(csv, "cell,hidden,params,metric,mean,std,seeds,steps");
    assert_contains(csv, "\nrnn,");
    assert_contains(csv, "\ngru,");
    weft_test_read_file(dir, "curves.csv", csv, sizeof csv);
    assert_contains(csv, "cell,seed,step,seconds,score,nll,accuracy\n");
    assert_contains(csv, "\nrnn,1,0,0.000,");
    assert_contains(csv, "\ngru,1,30,");
    assert_true(file_size(dir, "runs/rnn.seed1.txt") > 0);

    /* a rerun does nothing but print the same table */
    weft_test_read_file(dir, "runs.csv", csv, sizeof csv);
    char table[4096];
    snprintf(table, sizeof table, "%s", strstr(r->out, "| rnn"));
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "%s", args);
    assert_int_equal(r->status, 0);
    assert_contains(r->err, "0 runs to do, 2 already in");
    assert_contains(r->out, table);
    weft_test_read_file(dir, "runs.csv", again, sizeof again);
    assert_string_equal(csv, again);

    /* other settings in the same folder are refused */
    snprintf(args, sizeof args, TINY " --cell rnn --lr 0.01 --output %s", dir);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "%s", args);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "was made with other settings");

    if (!have_gnuplot()) {
        skip();
        return;
    }
    assert_true(file_size(dir, "chart.svg") > 1000);
    assert_true(file_size(dir, "chart.png") > 1000);
    char svg[256];
    weft_test_read_file(dir, "chart.svg", svg, sizeof svg);
    assert_contains(svg, "<svg");
}

/* The plugin works wherever a built-in cell does on the command line: the
 * gradient check (stacked, bidirectional, ragged), the drawing and the
 * gradient-flow measurement. */
static void test_cli_plugin_everywhere(void **state)
{
    (void)state;
    char args[1024], dot[4096];
    snprintf(args, sizeof args, "--quiet gradcheck --cell %s --layers 2 --bidirectional --ragged",
             plugin_path);
    weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "%s", args);
    if (r->status != 0) fail_msg("exit %d: %s%s", r->status, r->out, r->err);
    assert_contains(r->out, "2 layers, bidirectional, ragged batch");
    assert_contains(r->out, ": ok");

    snprintf(args, sizeof args, "--quiet dot --cell %s --steps 3 -o %s/mgu.dot", plugin_path,
             tmpdir);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "%s", args);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    weft_test_read_file(tmpdir, "mgu.dot", dot, sizeof dot);
    assert_contains(dot, "digraph");
    assert_contains(dot, "mgu");

    snprintf(args, sizeof args, "--quiet gradflow --cell lstm,%s --steps 6 --hidden 8 "
             "--samples 1", plugin_path);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "%s", args);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    assert_contains(r->out, "mgu");
    assert_contains(r->out, "# ratio last/0");
    /* a picture that cannot be written fails, and gnuplot's PNG never lands on our stdout */
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "--quiet gradflow --cell lstm --steps 6 "
                      "--hidden 8 --samples 1 --plot %s/no-such-dir/g.png", tmpdir);
    assert_int_not_equal(r->status, 0);
    if (strstr(r->out, "\x89PNG")) fail_msg("a PNG on gradflow's stdout");

    /* a language model of the plugin cell: trained, saved, evaluated and sampled; the
     * checkpoint names the plugin, so eval and sample load it again */
    char text[256], model[256];
    snprintf(text, sizeof text, "%s/lm.txt", tmpdir);
    snprintf(model, sizeof model, "%s/mgu-lm.safetensors", tmpdir);
    const char *words = "the cat sat on the mat\nthe dog sat on the log\n";
    weft_test_write_file(text, words, strlen(words));
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "--quiet train --task lm --cell %s --data %s "
                      "--valid %s --valid-batch 1 --layers 1 --hidden 8 --embed 8 --batch 2 --bptt 4 "
                      "--epochs 30 --optim adam --lr 0.02 --dropout 0 --save %s", plugin_path, text, text, model);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "--quiet eval --model %s --data %s", model, text);
    /* the checkpoint names the plugin: it is not loaded until the user allows it */
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "the model's cell is the plugin");
    assert_contains(r->err, "--allow-plugin");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "--quiet --allow-plugin %s eval --model %s --data %s",
                      plugin_path, model, text);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    char line[256];
    assert_contains(last_line(r->out, line, sizeof line), "perplexity: ");
    double ppl = strtod(line + strlen("perplexity: "), NULL);
    /* 8 tokens (7 words and <eos>): uniform is 8; trained on this very text it is far below */
    if (!(ppl >= 1.0 && ppl < 4.0)) fail_msg("perplexity %g of the plugin LM", ppl);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "--quiet sample --allow-plugin %s --model %s "
                      "--length 5 --seed 3", plugin_path, model);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    assert_true(strlen(r->out) > 0);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "--quiet dot --model %s --steps 3 -o %s/mgu-lm.dot "
                      "--allow-plugin %s", model, tmpdir, plugin_path);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    weft_test_read_file(tmpdir, "mgu-lm.dot", dot, sizeof dot);
    assert_contains(dot, "mgu");

    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "--quiet gradcheck --cell ./no-such-cell.so");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "cannot load the cell plugin ./no-such-cell.so");
}

/* Two processes at once give the very same runs as one after the other, and
 * a plugin takes part from the command line. */
static void test_cli_jobs_and_plugin(void **state)
{
    (void)state;
    char args[1024], one[128], two[128], a[8192], b[8192];
    snprintf(one, sizeof one, "%s/j1", tmpdir);
    snprintf(two, sizeof two, "%s/j2", tmpdir);
    snprintf(args, sizeof args, TINY " --cell lstm-b,%s --seeds 2 --output %s", plugin_path, one);
    weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "%s", args);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    assert_contains(r->out, "| mgu | ");
    snprintf(args, sizeof args, TINY " --cell lstm-b,%s --seeds 2 --jobs 2 --output %s",
             plugin_path, two);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "%s", args);
    if (r->status != 0) fail_msg("exit %d: %s", r->status, r->err);
    /* runs.csv without the times: cell,seed,hidden,params,metric,best,steps */
    weft_test_read_file(one, "runs.csv", a, sizeof a);
    weft_test_read_file(two, "runs.csv", b, sizeof b);
    char *la, *lb, *sa, *sb;
    int rows = 0;
    for (la = strtok_r(a, "\n", &sa), lb = strtok_r(b, "\n", &sb); la && lb;
         la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb), rows++) {
        char *cut_a = la, *cut_b = lb;
        for (int k = 0; k < 7; k++) cut_a = strchr(cut_a, ',') + 1, cut_b = strchr(cut_b, ',') + 1;
        assert_int_equal(cut_a - la, cut_b - lb);
        assert_memory_equal(la, lb, (size_t)(cut_a - la));
    }
    assert_null(la);
    assert_null(lb);
    assert_int_equal(rows, 5);        /* header, 2 cells x 2 seeds */
}

static void test_cli_bad_input(void **state)
{
    (void)state;
    weft_test_output *r;
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "compare --cell rnn,gruu --task adding --train-steps 1");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown cell 'gruu'; the cells are: rnn");
    r = weft_test_run(exe, NULL,
                      GLOBAL_FLAGS "compare --cell rnn,/nonexistent/x.so --task adding --train-steps 1");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "cannot load the cell plugin /nonexistent/x.so");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "compare --cell rnn,%s --task adding --train-steps 1",
                      nosym_path);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "has no function weft_cell_plugin");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "compare --cell rnn --task sorting --train-steps 1");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown task 'sorting'; the tasks are: arithmetic xml music ptb "
                            "adding copy");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "compare --task adding");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "no cells given");
    r = weft_test_run(exe, NULL,
                      GLOBAL_FLAGS "compare --cell rnn --task adding --metric accuracy --train-steps 1");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "not a classification");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "compare --cell rnn,rnn --task adding --train-steps 1");
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "'rnn' is named twice");
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-compare-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    exe = getenv("WEFT_EXE");
    if (argc < 3 || !exe || !exe[0]) {
        fprintf(stderr, "usage: WEFT_EXE=weft test_compare MGU_PLUGIN.so NOSYM.so\n");
        return 1;
    }
    plugin_path = argv[1];
    nosym_path = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizing_every_cell_two_budgets),
        cmocka_unit_test(test_training_learns_and_repeats),
        cmocka_unit_test(test_plugin_loads_and_trains),
        cmocka_unit_test(test_cli_tiny_comparison),
        cmocka_unit_test(test_cli_jobs_and_plugin),
        cmocka_unit_test(test_cli_plugin_everywhere),
        cmocka_unit_test(test_cli_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
