/* tests/test_mixture.c — linear interpolation of language models
 * (weft/mixture.h, `weft mix`): per-token log-probabilities of model files
 * of each kind against the models' own distributions, the mixture against
 * the weighted sum of the two models' probabilities computed here, the EM
 * weights against a grid, and the command as a user runs it. The weft
 * executable comes from meson in WEFT_EXE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/cli_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/mixture.h"
#include "weft/ngram.h"
#include "weft/window_lm.h"

#include "tests/lm_text.h"

static char err[1024];
static char tmpdir[] = "/tmp/weft-mix-test-XXXXXX";
static char arpa[600], lbl[600], text_path[600];

static const char *TRAIN = "the cat sat on the mat\nthe dog sat on the log\n"
                           "a cat and a dog met on a mat\n";
static const char *TEXT = "the dog sat on a mat\na cat met the dog\n";

/* The two models of every test: a Kneser-Ney trigram model of TRAIN and a
 * log-bilinear window model of random weights, over TRAIN's vocabulary;
 * written as files, with TEXT. */
static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(arpa, sizeof arpa, "%s/kn3.arpa", tmpdir);
    snprintf(lbl, sizeof lbl, "%s/lbl.safetensors", tmpdir);
    snprintf(text_path, sizeof text_path, "%s/text.txt", tmpdir);
    FILE *f = fopen(text_path, "w");
    if (!f || fputs(TEXT, f) < 0 || fclose(f)) return -1;

    weft_vocab *v = test_vocab_of(TRAIN, WEFT_TEXT_WORDS);
    size_t n;
    int *ids = test_encode(v, WEFT_TEXT_WORDS, TRAIN, &n);
    weft_ngram *kn = weft_ngram_train(ids, n, v, &(weft_ngram_options){ .order = 3 }, err,
                                      sizeof err);
    free(ids);
    if (!kn || weft_ngram_save(kn, arpa, err, sizeof err)) return -1;
    weft_ngram_free(kn);
    weft_window_lm *m = weft_window_lm_new(&(weft_window_lm_config){ .level = WEFT_TEXT_WORDS,
                                           .order = 3, .embed = 5, .arch = WEFT_WINDOW_LBL },
                                           v, err, sizeof err);
    if (!m) return -1;
    weft_rng rng;
    weft_rng_seed(&rng, 7);
    weft_window_lm_init(m, &rng);
    weft_rng_fill_uniform(&rng, &m->embedding->value, -1.0f, 1.0f);
    int rc = weft_window_lm_save(m, lbl, err, sizeof err);
    weft_window_lm_free(m);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    unlink(arpa);
    unlink(lbl);
    unlink(text_path);
    return rmdir(tmpdir);
}

/* P_k(t_i | t_<i) for every token of TEXT after the first, computed from
 * each model's whole distribution (the n-gram's weft_ngram_distribution; the
 * window model's logits, softmax in double). */
static void probabilities(double *p_kn, double *p_lbl, size_t *count)
{
    weft_ngram *kn = weft_ngram_load(arpa, err, sizeof err);
    weft_window_lm *m = weft_window_lm_load(lbl, err, sizeof err);
    assert_non_null(kn);
    assert_non_null(m);
    size_t n;
    int *ids = test_encode(m->vocab, WEFT_TEXT_WORDS, TEXT, &n);
    int V = m->vocab_size;
    double *dist = malloc((size_t)V * sizeof *dist);
    weft_graph *g = weft_graph_new();
    for (size_t i = 1; i < n; i++) {
        weft_ngram_distribution(kn, ids, i, dist);
        p_kn[i - 1] = dist[ids[i]];
        int ctx[2];
        size_t pos = i;
        weft_window_lm_contexts(m, ids, &pos, 1, ctx);
        weft_graph_reset(g);
        weft_var *y = weft_window_lm_forward(m, g, ctx, NULL, 1, NULL);
        assert_non_null(y);
        double z = 0.0;
        for (int v = 0; v < V; v++) z += exp((double)y->value.data[v]);
        p_lbl[i - 1] = exp((double)y->value.data[ids[i]]) / z;
    }
    *count = n - 1;
    weft_graph_free(g);
    free(dist);
    free(ids);
    weft_window_lm_free(m);
    weft_ngram_free(kn);
}

/* The files' per-token log-probabilities are those of the models'
 * distributions, and the mixture of the two is Σ_i -ln(w P_kn + (1-w) P_lbl). */
static void mixture_is_the_weighted_sum_of_probabilities(void **state)
{
    (void)state;
    double p_kn[64], p_lbl[64];
    size_t n;
    probabilities(p_kn, p_lbl, &n);
    double *lp[2];
    size_t c0, c1;
    if (weft_lm_file_logprobs(arpa, text_path, &lp[0], &c0, err, sizeof err)) fail_msg("%s", err);
    if (weft_lm_file_logprobs(lbl, text_path, &lp[1], &c1, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(c0, n);
    assert_int_equal(c1, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(fabs(lp[0][i] - log(p_kn[i])) < 1e-9);
        assert_true(fabs(lp[1][i] - log(p_lbl[i])) < 1e-5);
    }
    const double ws[4] = { 0.0, 0.25, 0.6, 1.0 };
    for (int k = 0; k < 4; k++) {
        double w[2] = { ws[k], 1.0 - ws[k] }, want = 0.0;
        for (size_t i = 0; i < n; i++) want -= log(w[0] * p_kn[i] + w[1] * p_lbl[i]);
        double got = weft_mixture_nll((const double *const *)lp, w, 2, n);
        if (fabs(got - want) > 1e-5 * want) fail_msg("w %g: nll %.9f, by hand %.9f", ws[k], got, want);
    }
    free(lp[0]);
    free(lp[1]);
}

/* EM's weights: summing to 1, and a held-out likelihood no grid point beats. */
static void em_weights_beat_every_grid_point(void **state)
{
    (void)state;
    double *lp[2];
    size_t n;
    if (weft_lm_file_logprobs(arpa, text_path, &lp[0], &n, err, sizeof err)) fail_msg("%s", err);
    if (weft_lm_file_logprobs(lbl, text_path, &lp[1], &n, err, sizeof err)) fail_msg("%s", err);
    double w[2] = { 0.5, 0.5 };
    int steps = weft_mixture_tune((const double *const *)lp, 2, n, w, 1000, 1e-12);
    assert_true(steps > 1);
    assert_true(fabs(w[0] + w[1] - 1.0) < 1e-12);
    assert_true(w[0] > 0.0 && w[0] < 1.0);   /* neither model alone is best here */
    double best = weft_mixture_nll((const double *const *)lp, w, 2, n);
    for (int k = 0; k <= 100; k++) {
        double g[2] = { k / 100.0, 1.0 - k / 100.0 };
        double at = weft_mixture_nll((const double *const *)lp, g, 2, n);
        if (at < best - 1e-7) fail_msg("grid w %.2f: %.9f below EM's %.9f (w %.4f)", g[0], at, best, w[0]);
    }
    assert_int_equal(weft_mixture_tune((const double *const *)lp, 0, n, w, 10, 0), -1);
    free(lp[0]);
    free(lp[1]);
}

/* `weft mix` prints each model's perplexity and the mixture's, which the
 * library's numbers give; fixed weights 1,0 give the first model alone; bad
 * lists are usage errors. */
static void cli_mix(void **state)
{
    (void)state;
    const char *exe = getenv("WEFT_EXE");
    assert_non_null(exe);
    weft_test_output *r = weft_test_run(exe, NULL, "--quiet mix --model %s,%s --data %s",
                                        arpa, lbl, text_path);
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
    double *lp[2];
    size_t n;
    if (weft_lm_file_logprobs(arpa, text_path, &lp[0], &n, err, sizeof err)) fail_msg("%s", err);
    if (weft_lm_file_logprobs(lbl, text_path, &lp[1], &n, err, sizeof err)) fail_msg("%s", err);
    double w[2] = { 0.5, 0.5 };
    weft_mixture_tune((const double *const *)lp, 2, n, w, 100, 1e-4);
    char want[128];
    snprintf(want, sizeof want, "mixture perplexity: %.2f",
             exp(weft_mixture_nll((const double *const *)lp, w, 2, n) / (double)n));
    if (!strstr(r->out, want)) fail_msg("'%s' not in:\n%s", want, r->out);

    r = weft_test_run(exe, NULL, "--quiet mix --model %s,%s --data %s --weights 1,0 --test %s",
                      arpa, lbl, text_path, text_path);
    assert_int_equal(r->status, 0);
    double one[2] = { 1.0, 0.0 };
    snprintf(want, sizeof want, "mixture perplexity: %.2f",
             exp(weft_mixture_nll((const double *const *)lp, one, 2, n) / (double)n));
    assert_non_null(strstr(r->out, want));
    assert_non_null(strstr(r->out, "test: "));

    r = weft_test_run(exe, NULL, "--quiet mix --model %s,%s --data %s --weights 0.5,0.6", arpa,
                      lbl, text_path);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "summing to 1"));
    r = weft_test_run(exe, NULL, "--quiet mix --model %s --data %s", arpa, text_path);
    assert_int_equal(r->status, 2);
    r = weft_test_run(exe, NULL, "--quiet mix --model %s,/no/such.safetensors --data %s", arpa,
                      text_path);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "/no/such.safetensors"));
    free(lp[0]);
    free(lp[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mixture_is_the_weighted_sum_of_probabilities),
        cmocka_unit_test(em_weights_beat_every_grid_point),
        cmocka_unit_test(cli_mix),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
