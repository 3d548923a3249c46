/* tests/test_window_lm.c — Bengio et al. (2003)'s fixed-window language
 * model: gradients against finite differences, overfitting a tiny text,
 * checkpoint round trips, evaluation against a computation by hand (padding
 * included), and `weft train --task window-lm`, `weft eval`, `weft sample` run
 * as a user runs them, bad flags included. The weft executable comes from
 * meson in WEFT_EXE. */
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

#include "weft/gradcheck.h"
#include "weft/ops.h"
#include "weft/window_lm.h"

#include "tests/lm_text.h"

static char err[1024];
static char tmpdir[] = "/tmp/weft-wlm-test-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char paths[16][512];
    static int k = 0;
    char *p = paths[k++ % 16];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static const char *TEXT = "the cat sat on the mat\nthe dog sat on the log\n"
                          "a cat and a dog met on a mat\n";

/* A model over the tokens of text, parameters from seed. */
static weft_window_lm *make_model(const char *text, weft_text_level level, int order, int embed,
                                  int hidden, bool direct, uint64_t seed)
{
    weft_vocab *v = test_vocab_of(text, level);
    weft_window_lm_config cfg = { .level = level, .order = order, .embed = embed,
                                  .hidden = hidden, .direct = direct };
    weft_window_lm *m = weft_window_lm_new(&cfg, v, err, sizeof err);
    if (!m) fail_msg("%s", err);
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_window_lm_init(m, &rng);
    /* biases too, so that a mix-up of them would show */
    weft_rng_fill_uniform(&rng, &m->hidden_bias->value, -0.3f, 0.3f);
    weft_rng_fill_uniform(&rng, &m->output_bias->value, -0.3f, 0.3f);
    return m;
}

/* A log-bilinear model (Mnih & Hinton 2007) over the tokens of text. */
static weft_window_lm *make_lbl(const char *text, int order, int embed, uint64_t seed)
{
    weft_vocab *v = test_vocab_of(text, WEFT_TEXT_WORDS);
    weft_window_lm_config cfg = { .level = WEFT_TEXT_WORDS, .order = order, .embed = embed,
                                  .arch = WEFT_WINDOW_LBL };
    weft_window_lm *m = weft_window_lm_new(&cfg, v, err, sizeof err);
    if (!m) fail_msg("%s", err);
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_window_lm_init(m, &rng);
    /* larger vectors than the init's, so that the scores are far from uniform */
    weft_rng_fill_uniform(&rng, &m->embedding->value, -0.8f, 0.8f);
    weft_rng_fill_uniform(&rng, &m->output_bias->value, -0.3f, 0.3f);
    return m;
}

static int *encode_text(const weft_window_lm *m, const char *text, size_t *n)
{
    return test_encode(m->vocab, m->cfg.level, text, n);
}

static double eval_nll(weft_window_lm *m, const int *ids, size_t n, int batch)
{
    weft_graph *g = weft_graph_new();
    double nll;
    size_t count;
    if (weft_window_lm_eval(m, g, ids, n, batch, &nll, &count, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(count, n - 1);
    weft_graph_free(g);
    return nll;
}

/* The summed cross-entropy of every token after the first, in double, from
 * the paper's equation: y = b + W x + U tanh(d + H x), x the concatenated
 * embeddings of the n-1 tokens before, <eos>-padded at the start. */
static double nll_by_hand(const weft_window_lm *m, const int *ids, size_t n)
{
    int c = m->cfg.order - 1, E = m->cfg.embed, X = c * E, Hd = m->cfg.hidden,
        V = m->vocab_size;
    int pad = weft_vocab_find(m->vocab, WEFT_EOS, strlen(WEFT_EOS));
    assert_true(pad >= 0);
    const float *C = m->embedding->value.data, *H = m->hidden_weight->value.data,
                *d = m->hidden_bias->value.data, *U = m->output_weight->value.data,
                *b = m->output_bias->value.data;
    const float *W = m->direct_weight ? m->direct_weight->value.data : NULL;
    double *x = calloc((size_t)X, sizeof *x), *a = calloc((size_t)Hd, sizeof *a),
           *y = calloc((size_t)V, sizeof *y);
    double total = 0.0;
    for (size_t t = 1; t < n; t++) {
        for (int j = 0; j < c; j++) {
            long at = (long)t - (c - j);
            int id = at >= 0 ? ids[at] : pad;
            for (int e = 0; e < E; e++) x[j * E + e] = C[id * E + e];
        }
        for (int k = 0; k < Hd; k++) {
            double s = d[k];
            for (int i = 0; i < X; i++) s += (double)H[k * X + i] * x[i];
            a[k] = tanh(s);
        }
        double mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            double s = b[v];
            for (int k = 0; k < Hd; k++) s += (double)U[v * Hd + k] * a[k];
            if (W)
                for (int i = 0; i < X; i++) s += (double)W[v * X + i] * x[i];
            y[v] = s;
            if (s > mx) mx = s;
        }
        double z = 0.0;
        for (int v = 0; v < V; v++) z += exp(y[v] - mx);
        total += mx + log(z) - y[ids[t]];
    }
    free(x);
    free(a);
    free(y);
    return total;
}

/* --- the model ------------------------------------------------------------------------------ */

/* Backward against central differences, for every parameter, direct
 * connections included. */
static void gradients_match_finite_differences(void **state)
{
    (void)state;
    for (int direct = 0; direct <= 1; direct++) {
        weft_window_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, 4, 3, 5, direct, 11);
        size_t n;
        int *ids = encode_text(m, TEXT, &n);
        /* 6 examples, the first two reaching into the padding */
        size_t pos[6] = { 1, 2, 7, 12, 20, n - 1 };
        int ctx[6 * 3], tgt[6];
        weft_window_lm_contexts(m, ids, pos, 6, ctx);
        for (int k = 0; k < 6; k++) tgt[k] = ids[pos[k]];
        weft_graph *g = weft_graph_new();
        weft_params_zero_grad(m->params);
        weft_var *loss = weft_window_lm_forward(m, g, ctx, tgt, 6, NULL);
        if (!loss || weft_graph_failed(g)) fail_msg("%s", weft_graph_error(g));
        weft_gradcheck_result res;
        assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .eps = 1e-2f,
                                        .tolerance = 1e-2f }, &res), 0);
        if (!res.passed) {
            weft_var *w = weft_graph_node(g, res.worst_node);
            fail_msg("direct %d: max relative error %.3g at %s[%d] (analytic %.6g, numeric "
                     "%.6g)", direct, res.max_rel_error, w->name ? w->name : "?",
                     res.worst_index, res.worst_analytic, res.worst_numeric);
        }
        assert_int_equal(res.leaves, weft_params_count(m->params));
        assert_int_equal(weft_params_count(m->params), direct ? 6 : 5);
        weft_graph_free(g);
        free(ids);
        weft_window_lm_free(m);
    }
}

/* The log-bilinear model's summed cross-entropy in double, from its
 * equations: r̂ = Σ_i C_i R(w_{t-i}), P(w) ∝ exp(R(w)·r̂ + b_w). */
static double lbl_nll_by_hand(const weft_window_lm *m, const int *ids, size_t n)
{
    int c = m->cfg.order - 1, E = m->cfg.embed, X = c * E, V = m->vocab_size;
    const float *R = m->embedding->value.data, *C = m->context_weight->value.data,
                *b = m->output_bias->value.data;
    double *r = calloc((size_t)E, sizeof *r), *y = calloc((size_t)V, sizeof *y);
    double total = 0.0;
    for (size_t t = 1; t < n; t++) {
        for (int e = 0; e < E; e++) r[e] = 0.0;
        for (int j = 0; j < c; j++) {   /* place j, oldest first: C_j is columns [jE, jE+E) */
            long at = (long)t - (c - j);
            int id = at >= 0 ? ids[at] : m->pad;
            for (int e = 0; e < E; e++)
                for (int f = 0; f < E; f++)
                    r[e] += (double)C[e * X + j * E + f] * R[id * E + f];
        }
        double mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            double s = b[v];
            for (int e = 0; e < E; e++) s += (double)R[v * E + e] * r[e];
            y[v] = s;
            if (s > mx) mx = s;
        }
        double z = 0.0;
        for (int v = 0; v < V; v++) z += exp(y[v] - mx);
        total += mx + log(z) - y[ids[t]];
    }
    free(r);
    free(y);
    return total;
}

/* The log-bilinear model: backward against central differences (the table
 * R is used twice, as the context's vectors and as the targets'; its
 * gradient is the sum), evaluation against the equations by hand, whatever
 * the batch, and the per-token log-probabilities summing to it. */
static void lbl_gradients_and_eval(void **state)
{
    (void)state;
    weft_window_lm *m = make_lbl(TEXT, 4, 3, 13);
    assert_null(m->hidden_weight);
    assert_int_equal(weft_params_count(m->params), 3);
    assert_int_equal(m->cfg.hidden, 3);
    size_t n;
    int *ids = encode_text(m, TEXT, &n);
    size_t pos[6] = { 1, 2, 7, 12, 20, n - 1 };
    int ctx[6 * 3], tgt[6];
    weft_window_lm_contexts(m, ids, pos, 6, ctx);
    for (int k = 0; k < 6; k++) tgt[k] = ids[pos[k]];
    weft_graph *g = weft_graph_new();
    weft_params_zero_grad(m->params);
    weft_var *loss = weft_window_lm_forward(m, g, ctx, tgt, 6, NULL);
    if (!loss || weft_graph_failed(g)) fail_msg("%s", weft_graph_error(g));
    weft_gradcheck_result res;
    assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .eps = 1e-2f,
                                    .tolerance = 1e-2f }, &res), 0);
    if (!res.passed) {
        weft_var *w = weft_graph_node(g, res.worst_node);
        fail_msg("lbl: max relative error %.3g at %s[%d] (analytic %.6g, numeric %.6g)",
                 res.max_rel_error, w->name ? w->name : "?", res.worst_index,
                 res.worst_analytic, res.worst_numeric);
    }
    assert_int_equal(res.leaves, 3);

    double want = lbl_nll_by_hand(m, ids, n);
    assert_true(want > 0.0);
    for (int batch = 1; batch <= 64; batch *= 4) {
        double got = eval_nll(m, ids, n, batch);
        if (fabs(got - want) > 1e-5 * want)
            fail_msg("lbl batch %d: nll %.8f, by hand %.8f", batch, got, want);
        double *lp = malloc((n - 1) * sizeof *lp), sum = 0.0;
        if (weft_window_lm_logprobs(m, g, ids, n, batch, lp, err, sizeof err))
            fail_msg("%s", err);
        for (size_t i = 0; i + 1 < n; i++) sum -= lp[i];
        if (fabs(sum - want) > 1e-5 * want)
            fail_msg("lbl batch %d: logprobs sum to %.8f, by hand %.8f", batch, sum, want);
        free(lp);
    }
    weft_graph_free(g);
    free(ids);
    weft_window_lm_free(m);

    /* no direct connections, no hidden width of its own */
    weft_window_lm_config bad = { .level = WEFT_TEXT_WORDS, .order = 3, .embed = 4, .hidden = 5,
                                  .arch = WEFT_WINDOW_LBL };
    weft_vocab *v = test_vocab_of(TEXT, WEFT_TEXT_WORDS);
    assert_null(weft_window_lm_new(&bad, v, err, sizeof err));
    assert_non_null(strstr(err, "log-bilinear"));
    weft_vocab_free(v);
}

/* The context of a target: the n-1 ids before it, <eos> before the start. */
static void contexts_are_padded_with_eos(void **state)
{
    (void)state;
    weft_window_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, 4, 2, 2, false, 1);
    size_t n;
    int *ids = encode_text(m, TEXT, &n);
    int eos = weft_vocab_find(m->vocab, WEFT_EOS, strlen(WEFT_EOS));
    assert_int_equal(m->pad, eos);
    size_t pos[3] = { 1, 2, 5 };
    int ctx[9];
    weft_window_lm_contexts(m, ids, pos, 3, ctx);
    int want[9] = { eos, eos, ids[0], eos, ids[0], ids[1], ids[2], ids[3], ids[4] };
    assert_memory_equal(ctx, want, sizeof want);
    free(ids);
    weft_window_lm_free(m);
    /* characters: the padding is "\n" */
    m = make_model("ab\nba\n", WEFT_TEXT_CHARS, 3, 2, 2, false, 1);
    assert_int_equal(m->pad, weft_vocab_find(m->vocab, "\n", 1));
    weft_window_lm_free(m);
}

/* Evaluation equals the sum over tokens 1..n-1 computed by hand, whatever the
 * batch. */
static void eval_matches_a_computation_by_hand(void **state)
{
    (void)state;
    for (int direct = 0; direct <= 1; direct++) {
        weft_window_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, 3, 4, 6, direct, 5);
        size_t n;
        int *ids = encode_text(m, TEXT, &n);
        double want = nll_by_hand(m, ids, n);
        assert_true(want > 0.0);
        for (int batch = 1; batch <= 64; batch *= 4) {
            double got = eval_nll(m, ids, n, batch);
            if (fabs(got - want) > 1e-5 * want)
                fail_msg("direct %d batch %d: nll %.8f, by hand %.8f", direct, batch, got, want);
        }
        free(ids);
        weft_window_lm_free(m);
    }
}

/* Training drives a tiny text whose next word the 2 before it decide to
 * perplexity near 1: Bengio et al.'s model and the log-bilinear one. */
static void overfit(bool lbl)
{
    const char *line = "the cat sat on the mat\n";
    char text[512] = "";
    for (int r = 0; r < 8; r++) strcat(text, line);
    weft_window_lm *m = lbl ? make_lbl(text, 3, 8, 2)
                            : make_model(text, WEFT_TEXT_WORDS, 3, 8, 32, false, 2);
    size_t n;
    int *ids = encode_text(m, text, &n);
    double before = exp(eval_nll(m, ids, n, 16) / (double)(n - 1));
    weft_graph *g = weft_graph_new();
    weft_optim opt = weft_optim_adam(0.02);
    weft_rng rng;
    weft_rng_seed(&rng, 3);
    size_t *pos = malloc((n - 1) * sizeof *pos);
    int ctx[8 * 2], tgt[8];
    for (int epoch = 0; epoch < 60; epoch++) {
        for (size_t k = 0; k < n - 1; k++) pos[k] = k + 1;
        for (size_t k = n - 2; k > 0; k--) {
            size_t j = weft_rng_below(&rng, (uint32_t)(k + 1)), tmp = pos[k];
            pos[k] = pos[j];
            pos[j] = tmp;
        }
        for (size_t s = 0; s < n - 1; s += 8) {
            int B = (int)(n - 1 - s < 8 ? n - 1 - s : 8);
            weft_window_lm_contexts(m, ids, pos + s, B, ctx);
            for (int k = 0; k < B; k++) tgt[k] = ids[pos[s + (size_t)k]];
            weft_lm_step_info info;
            if (weft_window_lm_train_batch(m, g, ctx, tgt, B, &opt, 0.0f, NULL, &info, err,
                                           sizeof err))
                fail_msg("%s", err);
        }
    }
    double after = exp(eval_nll(m, ids, n, 16) / (double)(n - 1));
    assert_true(before > 4.0);
    if (!(after < 1.05))
        fail_msg("%s: perplexity %g after training (%g before)", lbl ? "lbl" : "nnlm", after,
                 before);
    free(pos);
    weft_graph_free(g);
    free(ids);
    weft_window_lm_free(m);
}

static void model_overfits_a_tiny_text(void **state)
{
    (void)state;
    overfit(false);
    overfit(true);
}

/* Saved then loaded: the same configuration, vocabulary, tensors and
 * perplexity; the file says task "window-lm"; the recurrent model's loader
 * refuses it. */
static void checkpoints_round_trip(void **state)
{
    (void)state;
    for (int level = 0; level <= 1; level++) {
        weft_window_lm *m = make_model(TEXT, (weft_text_level)level, 4, 3, 7, level == 1, 9);
        m->cfg.dropout = 0.25f;
        const char *path = tmp_path("wlm.safetensors");
        if (weft_window_lm_save(m, path, err, sizeof err)) fail_msg("%s", err);
        assert_true(weft_window_lm_file_is(path));
        weft_window_lm *r = weft_window_lm_load(path, err, sizeof err);
        if (!r) fail_msg("%s", err);
        assert_int_equal(r->cfg.level, m->cfg.level);
        assert_int_equal(r->cfg.order, 4);
        assert_int_equal(r->cfg.embed, 3);
        assert_int_equal(r->cfg.hidden, 7);
        assert_int_equal(r->cfg.direct, level == 1);
        assert_float_equal(r->cfg.dropout, 0.25f, 0.0);
        assert_int_equal(r->vocab_size, m->vocab_size);
        assert_int_equal(r->pad, m->pad);
        for (int i = 0; i < m->vocab_size; i++)
            assert_string_equal(weft_vocab_token(r->vocab, i), weft_vocab_token(m->vocab, i));
        assert_int_equal(weft_params_count(r->params), weft_params_count(m->params));
        for (int i = 0; i < weft_params_count(m->params); i++) {
            weft_param *p = weft_params_at(m->params, i), *q = weft_params_at(r->params, i);
            assert_string_equal(p->name, q->name);
            assert_int_equal(p->value.size, q->value.size);
            assert_memory_equal(p->value.data, q->value.data, p->value.size * sizeof(float));
        }
        size_t n;
        int *ids = encode_text(m, TEXT, &n);
        assert_true(eval_nll(m, ids, n, 7) == eval_nll(r, ids, n, 7));
        free(ids);
        /* the recurrent model's loader names the task it found */
        weft_lm *lm = weft_lm_load(path, err, sizeof err);
        assert_null(lm);
        assert_non_null(strstr(err, "\"window-lm\""));
        weft_window_lm_free(r);
        weft_window_lm_free(m);
    }
    assert_false(weft_window_lm_file_is("/no/such/file.safetensors"));

    /* the log-bilinear model: its arch and its three tensors come back */
    weft_window_lm *m = make_lbl(TEXT, 3, 4, 6);
    const char *path = tmp_path("lbl.safetensors");
    if (weft_window_lm_save(m, path, err, sizeof err)) fail_msg("%s", err);
    weft_window_lm *r = weft_window_lm_load(path, err, sizeof err);
    if (!r) fail_msg("%s", err);
    assert_int_equal(r->cfg.arch, WEFT_WINDOW_LBL);
    assert_int_equal(weft_params_count(r->params), 3);
    assert_string_equal(weft_params_at(r->params, 1)->name, "context.weight");
    size_t n;
    int *ids = encode_text(m, TEXT, &n);
    assert_true(eval_nll(m, ids, n, 7) == eval_nll(r, ids, n, 7));
    free(ids);
    weft_window_lm_free(r);
    weft_window_lm_free(m);
}

/* Sampling: the same seed, the same ids; a prime changes the context. */
static void sampling_with_a_seed_is_reproducible(void **state)
{
    (void)state;
    weft_window_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, 3, 4, 6, false, 4);
    weft_graph *g = weft_graph_new();
    int a[30], b[30];
    int prime[2] = { 0, 1 };
    weft_lm_sample_opts o = { .prime = prime, .n_prime = 2, .length = 30, .temperature = 1.0f,
                              .seed = 17 };
    assert_int_equal(weft_window_lm_sample(m, g, &o, a, err, sizeof err), 0);
    assert_int_equal(weft_window_lm_sample(m, g, &o, b, err, sizeof err), 0);
    assert_memory_equal(a, b, sizeof a);
    for (int k = 0; k < 30; k++) assert_true(a[k] >= 0 && a[k] < m->vocab_size);
    o.seed = 18;
    assert_int_equal(weft_window_lm_sample(m, g, &o, b, err, sizeof err), 0);
    assert_memory_not_equal(a, b, sizeof a);
    weft_graph_free(g);
    weft_window_lm_free(m);
}

/* --- the command line ------------------------------------------------------------------------- */

static const char *exe;

/* every run: no start-up line, one thread */
#define GLOBAL_FLAGS "--quiet --threads 1 "
#define TRAIN_ARGS GLOBAL_FLAGS "train --task window-lm --data %s --valid %s --order 3 --embed 8 " \
                   "--hidden 16 --batch 8 --lr 0.01 --seed 2"

static void write_corpus(void)
{
    char text[4096] = "";
    for (int r = 0; r < 12; r++) strcat(text, TEXT);
    weft_test_write_file(tmp_path("train.txt"), text, strlen(text));
    const char *valid = "the dog sat on the mat\na cat met a dog\n";
    weft_test_write_file(tmp_path("valid.txt"), valid, strlen(valid));
}

static void cli_train_eval_sample(void **state)
{
    (void)state;
    if (!exe) skip();
    write_corpus();
    const char *train = tmp_path("train.txt"), *valid = tmp_path("valid.txt");
    const char *model = tmp_path("cli.safetensors"), *log = tmp_path("run.csv");
    weft_test_output *r = weft_test_run(exe, NULL, TRAIN_ARGS " --epochs 3 --save %s --log %s",
                                        train, valid, model, log);
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->out, "epoch 1: train loss");
    assert_contains(r->out, "epoch 3: train loss");
    assert_contains(r->out, "best valid perplexity");
    assert_contains(r->err, "epoch 3/3 100.0%");
    assert_contains(r->err, "window-lm nnlm order 3");
    char csv[8192];
    weft_test_slurp(log, csv, sizeof csv);
    assert_contains(csv, "epoch,window,tokens,seconds,lr,train_loss");

    /* the best validation perplexity is the one weft eval computes */
    double best;
    const char *at = strstr(r->out, "best valid perplexity: ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "best valid perplexity: %lf", &best), 1);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s", model, valid);
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->out, "nats/token");
    char line[256];
    double ppl;
    assert_int_equal(sscanf(last_line(r->out, line, sizeof line), "perplexity: %lf", &ppl), 1);
    assert_true(fabs(ppl - best) < 0.006);
    assert_true(ppl > 1.0 && ppl < 20.0);
    /* and the model's perplexity by hand */
    weft_window_lm *m = weft_window_lm_load(model, err, sizeof err);
    if (!m) fail_msg("%s", err);
    const char *vtext = "the dog sat on the mat\na cat met a dog\n";
    size_t n;
    int *ids = encode_text(m, vtext, &n);
    double by_hand = exp(nll_by_hand(m, ids, n) / (double)(n - 1));
    if (fabs(ppl - by_hand) > 1e-3 * by_hand) fail_msg("eval %g, by hand %g", ppl, by_hand);
    free(ids);
    weft_window_lm_free(m);

    r = weft_test_run(exe, NULL,
                      GLOBAL_FLAGS "sample --model %s --length 20 --seed 7 --prime 'the cat'",
                      model);
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
    static char sample1[sizeof r->out];
    memcpy(sample1, r->out, sizeof sample1);
    assert_true(strncmp(sample1, "the cat ", 8) == 0);
    r = weft_test_run(exe, NULL,
                      GLOBAL_FLAGS "sample --model %s --length 20 --seed 7 --prime 'the cat'",
                      model);
    assert_string_equal(r->out, sample1);
}

static void cli_bad_flags(void **state)
{
    (void)state;
    if (!exe) skip();
    write_corpus();
    const char *train = tmp_path("train.txt"), *valid = tmp_path("valid.txt");
    const char *model = tmp_path("bad.safetensors");
    weft_test_output *r = weft_test_run(exe, NULL, TRAIN_ARGS " --order 1 --save %s",
                                        train, valid, model);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--order: 1 is not in [2, 64]");
    r = weft_test_run(exe, NULL, TRAIN_ARGS " --hidden 0 --save %s", train, valid, model);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--hidden: 0 is not in");
    r = weft_test_run(exe, NULL, TRAIN_ARGS " --level bytes --save %s", train, valid, model);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--level 'bytes': expected word or char");
    r = weft_test_run(exe, NULL, TRAIN_ARGS " --optim lbfgs --save %s", train, valid, model);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--optim 'lbfgs'");
    r = weft_test_run(exe, NULL, TRAIN_ARGS " --bptt 20 --save %s", train, valid, model);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--bptt");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task window-lm --save %s", model);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--data TRAIN is required");
    r = weft_test_run(exe, NULL,
                      GLOBAL_FLAGS "train --task window-lm --data /no/such/train.txt --save %s",
                      model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "/no/such/train.txt: cannot open");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task windowlm --data %s", train);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--task 'windowlm'");

    /* a character model: eval and sample refuse what it never saw */
    r = weft_test_run(exe, NULL, TRAIN_ARGS " --level char --epochs 1 --save %s",
                      train, valid, model);
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
    weft_test_write_file(tmp_path("other.txt"), "the cat\nzebra\n", 14);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s",
                      model, tmp_path("other.txt"));
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "'z' is not in the vocabulary");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "sample --model %s --prime zz", model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "--prime");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s --bptt 10", model, valid);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "--bptt");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --task window-lm --model %s --data %s",
                      train, valid);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "train.txt");
}

int main(void)
{
    exe = getenv("WEFT_EXE");
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gradients_match_finite_differences),
        cmocka_unit_test(lbl_gradients_and_eval),
        cmocka_unit_test(contexts_are_padded_with_eos),
        cmocka_unit_test(eval_matches_a_computation_by_hand),
        cmocka_unit_test(model_overfits_a_tiny_text),
        cmocka_unit_test(checkpoints_round_trip),
        cmocka_unit_test(sampling_with_a_seed_is_reproducible),
        cmocka_unit_test(cli_train_eval_sample),
        cmocka_unit_test(cli_bad_flags),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
