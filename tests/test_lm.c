/* tests/test_lm.c — the language model: state carry, perplexity, training,
 * sampling, checkpoints (weft's and PyTorch's), tying, resuming, bad files;
 * and `weft train`, `weft eval`, `weft sample` run as a user runs them.
 *
 * argv[1] is tests/golden (lm_lstm2.*, made by make_lm_golden.py); the weft
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

#include "weft/io.h"
#include "weft/lm.h"
#include "weft/ops.h"

#include "tests/lm_text.h"

static const char *golden_dir = "tests/golden";
static char err[1024];
static char tmpdir[] = "/tmp/weft-lm-test-XXXXXX";

/* A path in the test's folder; a ring of 16, enough for one test's files. */
static const char *tmp_path(const char *name)
{
    static char paths[16][512];
    static int k = 0;
    char *p = paths[k++ % 16];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* A model over the tokens of text, parameters from seed. */
static float make_dropout = 0.0f;   /* the dropout make_model gives its models */

static weft_lm *make_model(const char *text, weft_text_level level, const char *cell, int layers,
                           int hidden, int embed, bool tied, uint64_t seed)
{
    weft_vocab *v = test_vocab_of(text, level);
    weft_lm_config cfg = { .level = level, .layers = layers, .hidden = hidden, .embed = embed,
                           .tied = tied, .dropout = make_dropout };
    snprintf(cfg.cell, sizeof cfg.cell, "%s", cell);
    weft_lm *m = weft_lm_new(&cfg, v, err, sizeof err);
    if (!m) fail_msg("%s", err);
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    assert_int_equal(weft_lm_init(m, &rng, 0.3f), 0);
    return m;
}

static int *encode_text(const weft_lm *m, const char *text, size_t *n)
{
    return test_encode(m->vocab, m->cfg.level, text, n);
}

static double eval_ppl(weft_lm *m, const int *ids, size_t n, int bptt)
{
    weft_graph *g = weft_graph_new();
    double nll;
    size_t count;
    if (weft_lm_eval(m, g, ids, n, 1, bptt, &nll, &count, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(count, n - 1);
    weft_graph_free(g);
    return exp(nll / (double)count);
}

static const char *TEXT = "the cat sat on the mat\nthe dog sat on the log\n"
                          "a cat and a dog met on a mat\n";

/* --- the model ------------------------------------------------------------------------------ */

/* Two windows with the state carried give the numbers of one long window. */
static void state_carries_across_windows(void **state)
{
    (void)state;
    weft_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, "lstm", 2, 7, 5, false, 1);
    size_t n;
    int *ids = encode_text(m, TEXT, &n);
    weft_batches b;
    assert_int_equal(weft_batchify(ids, n, 2, &b, err, sizeof err), 0);
    int T = (b.steps - 1) / 2 * 2, half = T / 2;
    const int *in, *tg;
    weft_graph *g = weft_graph_new();
    weft_rnn_out out;

    assert_int_equal(weft_batches_window(&b, 0, T, &in, &tg), T);
    weft_var *loss = weft_lm_forward(m, g, in, tg, T, 2, NULL, NULL, &out);
    assert_non_null(loss);
    double whole = weft_scalar(loss);
    float h_whole = out.final[2]->value.data[3];   /* layer 1's h */

    weft_state carry = { 0 };
    double parts = 0.0;
    for (int start = 0; start < T; start += half) {
        weft_graph_reset(g);
        assert_int_equal(weft_batches_window(&b, start, half, &in, &tg), half);
        loss = weft_lm_forward(m, g, in, tg, half, 2, &carry, NULL, &out);
        assert_non_null(loss);
        parts += weft_scalar(loss) / 2.0;
        assert_int_equal(weft_state_detach(&out, &carry), 0);
    }
    assert_float_equal(parts, whole, 1e-5);
    assert_float_equal(carry.t[2].data[3], h_whole, 1e-6);
    /* and without the carry the second window differs */
    weft_graph_reset(g);
    weft_batches_window(&b, half, half, &in, &tg);
    loss = weft_lm_forward(m, g, in, tg, half, 2, NULL, NULL, &out);
    weft_graph_reset(g);
    weft_batches_window(&b, 0, half, &in, &tg);
    weft_var *first = weft_lm_forward(m, g, in, tg, half, 2, NULL, NULL, &out);
    assert_true(fabs((weft_scalar(first) + weft_scalar(loss)) / 2.0 - whole) > 1e-4);

    weft_state_free(&carry);
    weft_graph_free(g);
    weft_batches_free(&b);
    free(ids);
    weft_lm_free(m);
}

/* Zero decoder weights and bias: every token has probability 1/V. */
static void uniform_model_has_perplexity_v(void **state)
{
    (void)state;
    weft_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, "gru", 1, 8, 4, false, 2);
    weft_tensor_fill(&m->decoder_weight->value, 0.0f);
    weft_tensor_fill(&m->decoder_bias->value, 0.0f);
    size_t n;
    int *ids = encode_text(m, TEXT, &n);
    assert_float_equal(eval_ppl(m, ids, n, 5), (double)m->vocab_size, 1e-4 * m->vocab_size);
    free(ids);
    weft_lm_free(m);
}

/* Training drives a tiny text to perplexity near 1; the loss falls. The
 * LSTM, and the sigmoid Elman network of Mikolov et al. (2010)'s RNNLM. */
static void overfit_with(const char *cell)
{
    const char *text = "hello world\nhello there\n";
    weft_lm *m = make_model(text, WEFT_TEXT_CHARS, cell, 1, 32, 16, false, 3);
    size_t n;
    int *ids = encode_text(m, text, &n);
    /* the text ten times, as 2 streams */
    size_t reps = 10, total = n * reps;
    int *many = malloc(total * sizeof *many);
    for (size_t r = 0; r < reps; r++) memcpy(many + r * n, ids, n * sizeof *ids);
    weft_batches b;
    assert_int_equal(weft_batchify(many, total, 2, &b, err, sizeof err), 0);
    weft_graph *g = weft_graph_new();
    weft_optim opt = weft_optim_adam(0.02);
    weft_rng rng;
    weft_rng_seed(&rng, 4);
    double before = eval_ppl(m, many, total, 50);
    for (int epoch = 0; epoch < 40; epoch++) {
        weft_state carry = { 0 };
        const int *in, *tg;
        int len;
        for (int s = 0; (len = weft_batches_window(&b, s, 24, &in, &tg)) > 0; s += len) {
            weft_lm_step_info info;
            if (weft_lm_train_window(m, g, in, tg, len, 2, &carry, &opt, 1.0f, &rng, &info, err,
                                     sizeof err))
                fail_msg("%s", err);
        }
        weft_state_free(&carry);
    }
    double after = eval_ppl(m, many, total, 50);
    assert_true(before > 5.0);
    if (!(after < 1.15))
        fail_msg("%s: perplexity %g after training (%g before)", cell, after, before);
    weft_graph_free(g);
    weft_batches_free(&b);
    free(many);
    free(ids);
    weft_lm_free(m);
}

static void model_overfits_a_tiny_text(void **state)
{
    (void)state;
    overfit_with("lstm");
    overfit_with("rnn-sigmoid");
}

/* Token by token (weft_lm_logprobs), whatever the bptt: the same tokens and
 * the same sum as weft_lm_eval's batch 1. */
static void logprobs_sum_to_the_eval(void **state)
{
    (void)state;
    const char *text = "the cat sat on the mat\nthe dog sat on the log\n";
    weft_lm *m = make_model(text, WEFT_TEXT_WORDS, "rnn-sigmoid", 2, 8, 6, false, 5);
    size_t n;
    int *ids = encode_text(m, text, &n);
    weft_graph *g = weft_graph_new();
    double nll;
    size_t count;
    if (weft_lm_eval(m, g, ids, n, 1, 5, &nll, &count, err, sizeof err)) fail_msg("%s", err);
    double *lp = malloc((n - 1) * sizeof *lp), *lp1 = malloc((n - 1) * sizeof *lp1);
    for (int bptt = 1; bptt <= 64; bptt *= 4) {
        if (weft_lm_logprobs(m, g, ids, n, bptt, lp, err, sizeof err)) fail_msg("%s", err);
        if (bptt == 1) memcpy(lp1, lp, (n - 1) * sizeof *lp);
        double sum = 0.0;
        for (size_t i = 0; i + 1 < n; i++) {
            assert_true(lp[i] < 0.0);
            assert_true(fabs(lp[i] - lp1[i]) < 1e-5);
            sum -= lp[i];
        }
        if (fabs(sum - nll) > 1e-5 * nll) fail_msg("bptt %d: %.8f against eval %.8f", bptt, sum, nll);
    }
    free(lp);
    free(lp1);
    weft_graph_free(g);
    free(ids);
    weft_lm_free(m);
}

/* Tied: one parameter, whose gradient is the sum of both uses. */
static void tied_weights_are_one_parameter(void **state)
{
    (void)state;
    weft_lm *tied = make_model(TEXT, WEFT_TEXT_WORDS, "lstm", 1, 6, 6, true, 5);
    weft_lm *free_ = make_model(TEXT, WEFT_TEXT_WORDS, "lstm", 1, 6, 6, false, 5);
    assert_ptr_equal(tied->decoder_weight, tied->encoder);
    assert_null(weft_params_find(tied->params, "decoder.weight"));
    assert_int_equal(weft_params_count(tied->params), weft_params_count(free_->params) - 1);
    /* the same numbers in both: decoder.weight = encoder.weight */
    for (int i = 0; i < weft_params_count(tied->params); i++) {
        weft_param *p = weft_params_at(tied->params, i);
        weft_tensor_copy(&weft_params_find(free_->params, p->name)->value, &p->value);
    }
    weft_tensor_copy(&free_->decoder_weight->value, &tied->encoder->value);

    size_t n;
    int *ids = encode_text(tied, TEXT, &n);
    weft_graph *g = weft_graph_new();
    weft_rnn_out out;
    weft_lm *ms[2] = { tied, free_ };
    float loss[2];
    for (int k = 0; k < 2; k++) {
        weft_graph_reset(g);
        weft_params_zero_grad(ms[k]->params);
        weft_var *l = weft_lm_forward(ms[k], g, ids, ids + 1, (int)n - 1, 1, NULL, NULL, &out);
        assert_non_null(l);
        loss[k] = weft_scalar(l);
        assert_int_equal(weft_backward(g, l), 0);
    }
    assert_float_equal(loss[0], loss[1], 1e-6);
    const float *gt = tied->encoder->grad.data, *ge = free_->encoder->grad.data,
                *gd = free_->decoder_weight->grad.data;
    double dec_part = 0.0;
    for (size_t i = 0; i < tied->encoder->grad.size; i++) {
        assert_float_equal(gt[i], ge[i] + gd[i], 1e-6);
        dec_part += fabs(gd[i]);
    }
    assert_true(dec_part > 1e-3);   /* the decoder's use really contributes */
    weft_graph_free(g);
    free(ids);
    weft_lm_free(tied);
    weft_lm_free(free_);
}

/* The same seed gives the same text; another seed another. */
static void sampling_with_a_seed_is_reproducible(void **state)
{
    (void)state;
    weft_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, "gru", 2, 8, 6, false, 6);
    weft_graph *g = weft_graph_new();
    int a[40], b[40], c[40];
    weft_lm_sample_opts o = { .length = 40, .temperature = 1.0f, .seed = 42 };
    assert_int_equal(weft_lm_sample(m, g, &o, a, err, sizeof err), 0);
    assert_int_equal(weft_lm_sample(m, g, &o, b, err, sizeof err), 0);
    assert_memory_equal(a, b, sizeof a);
    o.seed = 43;
    assert_int_equal(weft_lm_sample(m, g, &o, c, err, sizeof err), 0);
    assert_true(memcmp(a, c, sizeof a) != 0);
    /* top-k 1 and temperature 0 both pick the most likely token */
    int *prime, n_prime;
    assert_int_equal(weft_lm_encode_text(m, "the cat", &prime, &n_prime, err, sizeof err), 0);
    assert_int_equal(n_prime, 2);
    weft_lm_sample_opts greedy = { .prime = prime, .n_prime = 2, .length = 10,
                                   .temperature = 0.0f, .seed = 1 };
    weft_lm_sample_opts top1 = { .prime = prime, .n_prime = 2, .length = 10,
                                 .temperature = 1.0f, .top_k = 1, .seed = 9 };
    assert_int_equal(weft_lm_sample(m, g, &greedy, a, err, sizeof err), 0);
    assert_int_equal(weft_lm_sample(m, g, &top1, b, err, sizeof err), 0);
    assert_memory_equal(a, b, 10 * sizeof(int));
    free(prime);
    /* the text: words joined by spaces, <eos> as a newline */
    int eos = weft_vocab_find(m->vocab, "<eos>", 5), cat = weft_vocab_find(m->vocab, "cat", 3);
    int ids[] = { cat, cat, eos, cat };
    char buf[64] = { 0 };
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_int_equal(weft_lm_write_text(m, ids, 4, true, f), 0);
    fclose(f);
    assert_string_equal(buf, "cat cat\ncat");
    /* a prime word the vocabulary lacks: no <unk> here, so an error naming it */
    assert_int_equal(weft_lm_encode_text(m, "the zebra", &prime, &n_prime, err, sizeof err), -1);
    assert_non_null(strstr(err, "zebra"));
    free(prime);
    weft_graph_free(g);
    weft_lm_free(m);
}

/* --- checkpoints ------------------------------------------------------------------------------- */

static void checkpoints_round_trip(void **state)
{
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        weft_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, tied ? "gru" : "lstm", 2, 6, 6, tied, 7);
        size_t n;
        int *ids = encode_text(m, TEXT, &n);
        double ppl = eval_ppl(m, ids, n, 7);
        const char *path = tmp_path("model.safetensors");
        assert_int_equal(weft_lm_save(m, path, err, sizeof err), 0);
        weft_lm *back = weft_lm_load(path, err, sizeof err);
        if (!back) fail_msg("%s", err);
        assert_int_equal(back->vocab_size, m->vocab_size);
        for (int i = 0; i < m->vocab_size; i++)
            assert_string_equal(weft_vocab_token(back->vocab, i), weft_vocab_token(m->vocab, i));
        assert_string_equal(back->cfg.cell, m->cfg.cell);
        assert_int_equal(back->cfg.tied, tied);
        assert_true(eval_ppl(back, ids, n, 7) == ppl);   /* the same numbers, bit for bit */
        /* the file: PyTorch's names; with tying both encoder.weight and decoder.weight */
        weft_checkpoint c;
        assert_int_equal(weft_checkpoint_read(path, &c, err, sizeof err), 0);
        assert_non_null(weft_checkpoint_find(&c, "encoder.weight"));
        assert_non_null(weft_checkpoint_find(&c, "decoder.weight"));
        assert_non_null(weft_checkpoint_find(&c, "decoder.bias"));
        assert_non_null(weft_checkpoint_find(&c, "rnn.weight_hh_l1"));
        assert_non_null(strstr(weft_checkpoint_meta(&c, "weft.config"), "\"task\":\"lm\""));
        weft_checkpoint_free(&c);
        weft_lm_free(back);
        free(ids);
        weft_lm_free(m);
    }
}

/* The model PyTorch made (make_lm_golden.py) evaluates to PyTorch's perplexity. */
static void pytorch_checkpoint_gives_pytorch_perplexity(void **state)
{
    (void)state;
    char path[512], text_path[512], ppl_path[512];
    snprintf(path, sizeof path, "%s/lm_lstm2.safetensors", golden_dir);
    snprintf(text_path, sizeof text_path, "%s/lm_lstm2.txt", golden_dir);
    snprintf(ppl_path, sizeof ppl_path, "%s/lm_lstm2.ppl", golden_dir);
    FILE *f = fopen(ppl_path, "r");
    assert_non_null(f);
    double want;
    assert_int_equal(fscanf(f, "%lf", &want), 1);
    fclose(f);
    weft_lm *m = weft_lm_load(path, err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_int_equal(m->cfg.layers, 2);
    weft_tokens t;
    assert_int_equal(weft_tokens_read(text_path, WEFT_TEXT_WORDS, &t, err, sizeof err), 0);
    int *ids = weft_tokens_encode(&t, m->vocab, err, sizeof err);
    assert_non_null(ids);
    for (int bptt = 1; bptt <= 64; bptt *= 8) {   /* the carried state makes them all equal */
        double got = eval_ppl(m, ids, t.count, bptt);
        if (fabs(got - want) > 1e-4 * want) fail_msg("bptt %d: weft %.8f, PyTorch %.8f", bptt, got,
                                                     want);
    }
    free(ids);
    weft_tokens_free(&t);
    weft_lm_free(m);
}

/* Write a checkpoint with the given config and vocabulary JSON and tensors. */
static void write_bad(const char *path, const char *config, const char *vocab, int n,
                      const char *const *names, const weft_tensor *ts)
{
    weft_meta_kv meta[2];
    int n_meta = 0;
    if (config) meta[n_meta++] = (weft_meta_kv){ "weft.config", config };
    if (vocab) meta[n_meta++] = (weft_meta_kv){ "weft.vocab", vocab };
    assert_int_equal(weft_checkpoint_save_tensors(path, n, names, ts, meta, n_meta, err,
                                                  sizeof err), 0);
}

static void expect_load_error(const char *path, const char *want)
{
    weft_lm *m = weft_lm_load(path, err, sizeof err);
    if (m) fail_msg("loading %s worked; expected an error with \"%s\"", path, want);
    if (!strstr(err, want)) fail_msg("\"%s\" lacks \"%s\"", err, want);
    assert_non_null(strstr(err, path));
}

static void bad_files_give_clear_errors(void **state)
{
    (void)state;
    const char *path = tmp_path("bad.safetensors");
    expect_load_error("/no/such/model.safetensors", "cannot open");
    float one = 1.0f;
    weft_tensor t = weft_tensor_wrap(&one, 1, (int[]){ 1 });
    const char *names[] = { "x" };
    write_bad(path, NULL, "[\"a\"]", 1, names, &t);
    expect_load_error(path, "no \"weft.config\"");
    write_bad(path, "{\"task\":\"lm\",\"level\":\"word\",\"cell\":\"nosuchcell\",\"layers\":1,"
                    "\"hidden\":2,\"embed\":2}", "[\"a\"]", 1, names, &t);
    expect_load_error(path, "unknown cell 'nosuchcell'");
    write_bad(path, "{\"task\":\"tagger\"}", "[\"a\"]", 1, names, &t);
    expect_load_error(path, "expected \"lm\"");
    write_bad(path, "{\"task\":\"lm\",\"level\":\"word\",\"cell\":\"gru\",\"layers\":1,"
                    "\"hidden\":2,\"embed\":2,\"vocab_size\":3}", "[\"a\",\"b\"]", 1, names, &t);
    expect_load_error(path, "vocab_size 3 but weft.vocab has 2 tokens");
    write_bad(path, "{\"task\":\"lm\",\"level\":\"word\",\"cell\":\"gru\",\"layers\":1,"
                    "\"hidden\":2,\"embed\":2}", "[\"a\",\"a\"]", 1, names, &t);
    expect_load_error(path, "appears twice");
    write_bad(path, "{\"task\":\"lm\",\"level\":\"word\",\"cell\":\"gru\",\"layers\":1,"
                    "\"hidden\":2}", "[\"a\"]", 1, names, &t);
    expect_load_error(path, "\"embed\" is missing");

    /* a model file whose tensors do not fit its config (vocabulary of 2 more) */
    weft_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, "gru", 1, 4, 4, true, 8);
    const char *good = tmp_path("good.safetensors");
    assert_int_equal(weft_lm_save(m, good, err, sizeof err), 0);
    weft_checkpoint c;
    assert_int_equal(weft_checkpoint_read(good, &c, err, sizeof err), 0);
    char *config = strdup(weft_checkpoint_meta(&c, "weft.config"));
    weft_checkpoint_free(&c);
    char *vocab = weft_lm_vocab_json(m);
    char *bigger = malloc(strlen(vocab) + 32);
    sprintf(bigger, "[\"zz1\",\"zz2\",%s", vocab + 1);
    char *cfg2 = malloc(strlen(config) + 8);
    strcpy(cfg2, config);
    char *vs = strstr(cfg2, "\"vocab_size\":");
    assert_non_null(vs);
    sprintf(vs, "\"vocab_size\":%d}", m->vocab_size + 2);
    int np = weft_params_count(m->params);
    const char **pn = calloc((size_t)np + 1, sizeof *pn);
    weft_tensor *pt = calloc((size_t)np + 1, sizeof *pt);
    for (int i = 0; i < np; i++) {
        pn[i] = weft_params_at(m->params, i)->name;
        pt[i] = weft_params_at(m->params, i)->value;
    }
    write_bad(path, cfg2, bigger, np, pn, pt);
    expect_load_error(path, "encoder.weight");
    /* tied, with a decoder.weight that differs from encoder.weight */
    weft_tensor other = weft_tensor_alloc(2, m->encoder->value.shape);
    pn[np] = "decoder.weight";
    pt[np] = other;
    write_bad(path, config, vocab, np + 1, pn, pt);
    expect_load_error(path, "differs from encoder.weight");
    /* tied, without decoder.weight (as safetensors' save_model writes it): fine */
    write_bad(path, config, vocab, np, pn, pt);
    weft_lm *ok = weft_lm_load(path, err, sizeof err);
    if (!ok) fail_msg("%s", err);
    weft_lm_free(ok);
    weft_tensor_release(&other);
    free(pn);
    free(pt);
    free(cfg2);
    free(bigger);
    free(vocab);
    free(config);
    weft_lm_free(m);
}

/* A NaN loss stops training with a message and no update. */
static void nan_loss_is_an_error(void **state)
{
    (void)state;
    weft_lm *m = make_model(TEXT, WEFT_TEXT_WORDS, "lstm", 1, 4, 4, false, 11);
    size_t n;
    int *ids = encode_text(m, TEXT, &n);
    m->encoder->value.data[ids[0] * 4] = NAN;
    float before = m->decoder_bias->value.data[1];
    weft_graph *g = weft_graph_new();
    weft_optim opt = weft_optim_sgd(1.0);
    weft_state carry = { 0 };
    assert_int_equal(weft_lm_train_window(m, g, ids, ids + 1, 4, 1, &carry, &opt, 0.0f, NULL,
                                          NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "the loss is NaN"));
    assert_true(m->decoder_bias->value.data[1] == before);
    weft_graph_free(g);
    free(ids);
    weft_lm_free(m);
}

/* Saving a run mid-epoch and loading it continues exactly as if never stopped. */
static void training_state_resumes_exactly(void **state)
{
    (void)state;
    make_dropout = 0.3f;   /* so that the random stream matters */
    weft_lm *a = make_model(TEXT, WEFT_TEXT_WORDS, "lstm", 2, 6, 6, false, 9);
    make_dropout = 0.0f;
    size_t n;
    int *ids = encode_text(a, TEXT, &n);
    weft_batches b;
    assert_int_equal(weft_batchify(ids, n, 2, &b, err, sizeof err), 0);
    weft_graph *g = weft_graph_new();
    weft_lm_run run = { .epoch = 1, .lr0 = 0.01, .decay = 1.0, .decay_start = 1, .clip = 1.0f,
                        .batch = 2, .bptt = 2, .epochs = 1, .train_tokens = n,
                        .optim = weft_optim_adam(0.01) };
    weft_rng_seed(&run.rng, 10);
    weft_state carry = { 0 };
    const int *in, *tg;
    int s = 0, len;
    for (int k = 0; k < 2; k++) {
        len = weft_batches_window(&b, s, 2, &in, &tg);
        assert_int_equal(weft_lm_train_window(a, g, in, tg, len, 2, &carry, &run.optim, 1.0f,
                                              &run.rng, NULL, err, sizeof err), 0);
        s += len;
    }
    run.next_start = s;
    const char *path = tmp_path("run.state");
    assert_int_equal(weft_lm_save_run(a, &run, &carry, path, err, sizeof err), 0);

    weft_lm_run run2;
    weft_state carry2;
    weft_lm *c = weft_lm_load_run(path, &run2, &carry2, err, sizeof err);
    if (!c) fail_msg("%s", err);
    assert_int_equal(run2.next_start, s);
    assert_int_equal(run2.optim.step, 2);
    assert_int_equal(carry2.n, carry.n);
    /* two more windows in each */
    weft_lm *ms[2] = { a, c };
    weft_lm_run *rs[2] = { &run, &run2 };
    weft_state *cs[2] = { &carry, &carry2 };
    for (int k = 0; k < 2; k++) {
        int s2 = s;
        for (int w = 0; w < 2; w++) {
            len = weft_batches_window(&b, s2, 2, &in, &tg);
            assert_int_equal(weft_lm_train_window(ms[k], g, in, tg, len, 2, cs[k], &rs[k]->optim,
                                                  1.0f, &rs[k]->rng, NULL, err, sizeof err), 0);
            s2 += len;
        }
    }
    for (int i = 0; i < weft_params_count(a->params); i++) {
        const weft_tensor *x = &weft_params_at(a->params, i)->value;
        const weft_tensor *y = &weft_params_at(c->params, i)->value;
        assert_memory_equal(x->data, y->data, x->size * sizeof(float));
    }
    weft_state_free(&carry);
    weft_state_free(&carry2);
    weft_lm_free(c);
    weft_graph_free(g);
    weft_batches_free(&b);
    free(ids);
    weft_lm_free(a);
}

/* --- the command line ------------------------------------------------------------------------- */

static const char *exe;

static void write_corpus(void)
{
    char text[8192] = "";
    const char *words[] = { "apple", "apply", "ample", "maple", "pale", "leap", "plea", "peal" };
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 8; i++) {
            strcat(text, words[(i * 3 + r) % 8]);
            strcat(text, "\n");
        }
    weft_test_write_file(tmp_path("train.txt"), text, strlen(text));
    weft_test_write_file(tmp_path("valid.txt"), "apple\nmaple\nleap\npale\n", 22);
}

/* every run: no start-up line, one thread */
#define GLOBAL_FLAGS "--quiet --threads 1 "
#define TRAIN_ARGS GLOBAL_FLAGS "train --data %s --valid %s --level char --layers 1 " \
                   "--hidden 16 --embed 8 --batch 4 --bptt 10 --optim adam --lr 0.01 --clip 1 " \
                   "--dropout 0.1"

static void cli_train_eval_sample(void **state)
{
    (void)state;
    if (!exe) skip();
    write_corpus();
    const char *train = tmp_path("train.txt"), *valid = tmp_path("valid.txt");
    const char *model = tmp_path("cli.safetensors"), *log = tmp_path("run.csv");
    weft_test_output *r = weft_test_run(exe, NULL, TRAIN_ARGS " --epochs 2 --save %s --log %s",
                                        train, valid, model, log);
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->out, "epoch 1: train loss");
    assert_contains(r->out, "epoch 2: train loss");
    assert_contains(r->out, "best valid perplexity");
    assert_contains(r->err, "epoch 2/2 100.0%");   /* plain progress lines (not a terminal) */
    char csv[4096];
    weft_test_slurp(log, csv, sizeof csv);
    assert_contains(csv, "epoch,window,tokens,seconds,lr,train_loss");

    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s", model, valid);
    assert_int_equal(r->status, 0);
    char line[256], first[512];
    last_line(r->out, line, sizeof line);
    double ppl;
    assert_int_equal(sscanf(line, "perplexity: %lf", &ppl), 1);
    assert_true(ppl > 1.0 && ppl < 30.0);
    snprintf(first, sizeof first, "%s", line);

    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "sample --model %s --length 50 --seed 7 --prime ap",
                      model);
    assert_int_equal(r->status, 0);
    static char sample1[sizeof r->out];
    memcpy(sample1, r->out, sizeof sample1);
    assert_true(strncmp(sample1, "ap", 2) == 0);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "sample --model %s --length 50 --seed 7 --prime ap",
                      model);
    assert_string_equal(r->out, sample1);

    /* stopped after 5 windows, then resumed: the same model as the straight run */
    const char *model2 = tmp_path("cli2.safetensors");
    r = weft_test_run(exe, NULL, TRAIN_ARGS " --epochs 2 --save %s --stop-after 5",
                      train, valid, model2);
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->err, "stopped at epoch 1");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --resume %s --data %s --valid %s",
                      model2, train, valid);
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->err, "resuming");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s", model2, valid);
    assert_int_equal(r->status, 0);
    assert_string_equal(last_line(r->out, line, sizeof line), first);
}

static void cli_bad_input(void **state)
{
    (void)state;
    if (!exe) skip();
    write_corpus();
    const char *train = tmp_path("train.txt"), *valid = tmp_path("valid.txt");
    const char *model = tmp_path("bad-cli.safetensors");
    weft_test_output *r = weft_test_run(exe, NULL,
                                        GLOBAL_FLAGS "train --data /no/such/train.txt --save %s",
                                        model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "/no/such/train.txt: cannot open");
    weft_test_write_file(tmp_path("empty.txt"), "", 0);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --data %s --save %s",
                      tmp_path("empty.txt"), model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "empty");
    weft_test_write_file(tmp_path("badutf8.txt"), "ok\nno \xC3\x28\n", 8);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --level char --data %s --save %s",
                      tmp_path("badutf8.txt"), model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "invalid UTF-8");
    r = weft_test_run(exe, NULL, TRAIN_ARGS " --cell nosuchcell --save %s", train, valid, model);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "unknown cell 'nosuchcell'");
    r = weft_test_run(exe, NULL, TRAIN_ARGS " --epochs 1 --save %s", train, valid, model);
    assert_int_equal(r->status, 0);
    /* a character the model never saw */
    weft_test_write_file(tmp_path("other.txt"), "apple\nzebra\n", 12);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s",
                      model, tmp_path("other.txt"));
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "'z' is not in the vocabulary");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "sample --model %s --prime zz", model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "--prime");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s",
                      tmp_path("train.txt"), valid);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "train.txt");
    /* a model whose weights went NaN */
    weft_lm *m = weft_lm_load(model, err, sizeof err);
    assert_non_null(m);
    m->decoder_bias->value.data[0] = NAN;
    assert_int_equal(weft_lm_save(m, tmp_path("nan.safetensors"), err, sizeof err), 0);
    weft_lm_free(m);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s",
                      tmp_path("nan.safetensors"), valid);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "tensor 'decoder.bias' element 0 is NaN");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "sample --model %s --length 5",
                      tmp_path("nan.safetensors"));
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "tensor 'decoder.bias' element 0 is NaN");
}

int main(int argc, char **argv)
{
    if (argc > 1) golden_dir = argv[1];
    exe = getenv("WEFT_EXE");
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_carries_across_windows),
        cmocka_unit_test(uniform_model_has_perplexity_v),
        cmocka_unit_test(model_overfits_a_tiny_text),
        cmocka_unit_test(logprobs_sum_to_the_eval),
        cmocka_unit_test(tied_weights_are_one_parameter),
        cmocka_unit_test(sampling_with_a_seed_is_reproducible),
        cmocka_unit_test(checkpoints_round_trip),
        cmocka_unit_test(pytorch_checkpoint_gives_pytorch_perplexity),
        cmocka_unit_test(bad_files_give_clear_errors),
        cmocka_unit_test(nan_loss_is_an_error),
        cmocka_unit_test(training_state_resumes_exactly),
        cmocka_unit_test(cli_train_eval_sample),
        cmocka_unit_test(cli_bad_input),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
