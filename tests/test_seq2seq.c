/* tests/test_seq2seq.c — attention, the encoder-decoder, decoding and BLEU:
 * attention over a ragged batch equals each sentence alone (and its gradient
 * is right), the teacher-forced loss equals a step-by-step decoder fed the
 * gold tokens, beam 1 equals greedy, a wide beam's n-best list equals
 * exhaustive search, BLEU against hand-computed counts, a saved model loads
 * back to the same numbers, and the generated tasks are what they say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft/weft.h"

/* --- attention ------------------------------------------------------------------------------ */

static void check_attention_alone(weft_attn_score score)
{
    enum { B = 3, S = 5, K = 4 };
    int Q = score == WEFT_ATTN_DOT ? K : 6;
    int lengths[B] = { 5, 2, 3 };
    weft_params *ps = weft_params_new();
    weft_attention a;
    char err[256];
    assert_int_equal(weft_attention_init(&a, score, Q, K, 7, ps, "attn.", err, sizeof err), 0);
    weft_rng r;
    weft_rng_seed(&r, 3);
    weft_attention_reset_parameters(&a, &r);
    weft_graph *g = weft_graph_new();
    weft_var *values = weft_input_zeros(g, 3, (int[]){ B, S, K }, "values", true);
    weft_var *q = weft_input_zeros(g, 2, (int[]){ B, Q }, "q", true);
    weft_rng_fill_uniform(&r, &values->value, -1, 1);
    weft_rng_fill_uniform(&r, &q->value, -1, 1);
    /* padding holds large numbers: it must not matter */
    for (int b = 0; b < B; b++)
        for (int s = lengths[b]; s < S; s++)
            for (int k = 0; k < K; k++) values->value.data[(b * S + s) * K + k] = 50.0f;
    weft_attention_memory m;
    weft_var *ctx, *w;
    assert_int_equal(weft_attention_memory_new(g, &a, values, lengths, &m), 0);
    assert_int_equal(weft_attention_step(g, &a, &m, q, &ctx, &w), 0);
    for (int b = 0; b < B; b++) {
        weft_graph *g1 = weft_graph_new();
        int L = lengths[b];
        weft_var *v1 = weft_input_zeros(g1, 3, (int[]){ 1, L, K }, "v", false);
        weft_var *q1 = weft_input_zeros(g1, 2, (int[]){ 1, Q }, "q", false);
        memcpy(v1->value.data, values->value.data + b * S * K, (size_t)L * K * sizeof(float));
        memcpy(q1->value.data, q->value.data + b * Q, (size_t)Q * sizeof(float));
        weft_attention_memory m1;
        weft_var *c1, *w1;
        assert_int_equal(weft_attention_memory_new(g1, &a, v1, NULL, &m1), 0);
        assert_int_equal(weft_attention_step(g1, &a, &m1, q1, &c1, &w1), 0);
        for (int k = 0; k < K; k++)
            assert_float_equal(ctx->value.data[b * K + k], c1->value.data[k], 1e-5);
        for (int s = 0; s < S; s++)
            if (s < L) assert_float_equal(w->value.data[b * S + s], w1->value.data[s], 1e-6);
            else assert_true(w->value.data[b * S + s] == 0.0f);
        weft_graph_free(g1);
    }
    /* the gradient of the whole batch against finite differences; none reaches padding */
    weft_var *wt = weft_input_zeros(g, 2, (int[]){ B, K }, "w", false);
    weft_rng_fill_uniform(&r, &wt->value, -1, 1);
    weft_var *loss = weft_sum(g, weft_mul(g, ctx, wt));
    weft_gradcheck_result res;
    assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .tolerance = 2e-2f }, &res), 0);
    if (!res.passed) print_error("%s: max rel error %g\n", weft_attn_score_name(score), res.max_rel_error);
    assert_true(res.passed);
    weft_params_zero_grad(ps);
    assert_int_equal(weft_backward(g, loss), 0);
    const weft_tensor *dv = weft_grad_of(g, values);
    for (int b = 0; b < B; b++)
        for (int s = lengths[b]; s < S; s++)
            for (int k = 0; k < K; k++) assert_true(dv->data[(b * S + s) * K + k] == 0.0f);
    weft_graph_free(g);
    weft_params_free(ps);
}

static void test_attention_ragged_equals_alone(void **state)
{
    (void)state;
    check_attention_alone(WEFT_ATTN_DOT);
    check_attention_alone(WEFT_ATTN_GENERAL);
    check_attention_alone(WEFT_ATTN_ADDITIVE);
}

static void test_attention_errors(void **state)
{
    (void)state;
    weft_params *ps = weft_params_new();
    weft_attention a;
    char err[256];
    assert_int_equal(weft_attention_init(&a, WEFT_ATTN_DOT, 4, 6, 0, ps, "a.", err, sizeof err), -1);
    assert_non_null(strstr(err, "dot"));
    assert_int_equal(weft_attn_score_parse("bahdanau"), -1);
    assert_int_equal(weft_attn_score_parse("additive"), WEFT_ATTN_ADDITIVE);
    weft_params_free(ps);
}

/* --- a tiny model ---------------------------------------------------------------------------- */

static weft_vocab *vocab_of(int words)
{
    weft_vocab *v = weft_vocab_new();
    const char *sp[3] = { "<s>", "</s>", "<unk>" };
    for (int i = 0; i < 3; i++) weft_vocab_add(v, sp[i], strlen(sp[i]));
    for (int i = 0; i < words; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%d", i);
        weft_vocab_add(v, w, strlen(w));
    }
    return v;
}

static weft_seq2seq *tiny_dropout(const char *enc, const char *dec, weft_attn_score att,
                                  bool bidir, int layers, int tgt_words, float dropout)
{
    weft_seq2seq_config c = weft_seq2seq_defaults();
    c.dropout = dropout;
    snprintf(c.enc_cell, sizeof c.enc_cell, "%s", enc);
    snprintf(c.dec_cell, sizeof c.dec_cell, "%s", dec);
    c.embed = 5;
    c.hidden = 6;
    c.enc_layers = layers;
    c.dec_layers = layers;
    c.bidirectional = bidir;
    c.attention = att;
    weft_rng r;
    weft_rng_seed(&r, 11);
    char err[256];
    weft_seq2seq *m = weft_seq2seq_new(&c, weft_cell_find(enc), weft_cell_find(dec), vocab_of(7),
                                       vocab_of(tgt_words), &r, err, sizeof err);
    if (!m) print_error("%s\n", err);
    assert_non_null(m);
    /* larger weights than the initialisation, so that the outputs differ clearly */
    weft_params *ps = weft_seq2seq_params(m);
    for (int i = 0; i < weft_params_count(ps); i++)
        weft_rng_fill_uniform(&r, &weft_params_at(ps, i)->value, -0.8f, 0.8f);
    return m;
}

static weft_seq2seq *tiny(const char *enc, const char *dec, weft_attn_score att, bool bidir,
                          int layers, int tgt_words)
{
    return tiny_dropout(enc, dec, att, bidir, layers, tgt_words, 0.0f);
}

static const int s0[] = { 3, 4, 5, 6 }, s1[] = { 7 }, s2[] = { 9, 3, 8 };
static const int t0[] = { 4, 5, 3 }, t1[] = { 6, 7, 8, 3, 5 }, t2[] = { 0 };
static const int *const SRC[3] = { s0, s1, s2 }, *const TGT[3] = { t0, t1, t2 };
static const int SRC_LEN[3] = { 4, 1, 3 }, TGT_LEN[3] = { 3, 5, 0 };

/* Σ over the gold tokens and </s> of -log p, sentence b alone, step by step. */
static double nll_alone(const weft_seq2seq *m, int b, double *tokens)
{
    weft_graph *g = weft_graph_new();
    weft_s2s_decoder d;
    assert_int_equal(weft_seq2seq_begin(g, m, &SRC[b], &SRC_LEN[b], 1, &d), 0);
    int prev = WEFT_S2S_BOS;
    double nll = 0;
    for (int t = 0; t <= TGT_LEN[b]; t++) {
        weft_var *lp = weft_seq2seq_step(g, m, &d, &prev);
        assert_non_null(lp);
        int gold = t < TGT_LEN[b] ? TGT[b][t] : WEFT_S2S_EOS;
        nll -= lp->value.data[gold];
        prev = gold;
    }
    *tokens += TGT_LEN[b] + 1;
    weft_graph_free(g);
    return nll;
}

static void check_teacher_forcing(const char *enc, const char *dec, weft_attn_score att,
                                  bool bidir, int layers)
{
    weft_seq2seq *m = tiny(enc, dec, att, bidir, layers, 7);
    weft_graph *g = weft_graph_new();
    weft_var *loss;
    double tokens, alone = 0, n = 0;
    assert_int_equal(weft_seq2seq_loss(g, m, SRC, SRC_LEN, TGT, TGT_LEN, 3, 0.0f, NULL, &loss,
                                       &tokens), 0);
    for (int b = 0; b < 3; b++) alone += nll_alone(m, b, &n);
    assert_float_equal(tokens, n, 0);
    assert_float_equal(weft_scalar(loss), alone / n, 1e-5);
    /* the gradient reaches every parameter but the rows of words never seen */
    weft_params_zero_grad(weft_seq2seq_params(m));
    assert_int_equal(weft_backward(g, loss), 0);
    weft_graph_free(g);
    weft_seq2seq_free(m);
}

static void test_teacher_forcing_equals_stepwise(void **state)
{
    (void)state;
    check_teacher_forcing("lstm", "lstm", WEFT_ATTN_GENERAL, false, 1);
    check_teacher_forcing("lstm", "gru", WEFT_ATTN_ADDITIVE, true, 2);
    check_teacher_forcing("gru", "lstm", WEFT_ATTN_NONE, true, 1);
    check_teacher_forcing("mut1", "rnn", WEFT_ATTN_DOT, false, 1);   /* composed steps */
}

static void test_model_gradient(void **state)
{
    (void)state;
    weft_seq2seq *m = tiny("lstm", "gru", WEFT_ATTN_ADDITIVE, true, 1, 7);
    weft_graph *g = weft_graph_new();
    weft_var *loss;
    double tokens;
    assert_int_equal(weft_seq2seq_loss(g, m, SRC, SRC_LEN, TGT, TGT_LEN, 3, 0.0f, NULL, &loss,
                                       &tokens), 0);
    weft_gradcheck_result res;
    assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .max_per_leaf = 12,
                                                                     .tolerance = 3e-2f },
                                    &res), 0);
    if (!res.passed) print_error("max rel error %g at node %d\n", res.max_rel_error, res.worst_node);
    assert_true(res.passed);
    weft_graph_free(g);
    weft_seq2seq_free(m);
}

/* Dropout: the training loss (a stream given) differs from the scoring loss and its gradient
 * is right with the masks drawn; without a stream the model with dropout gives exactly the
 * numbers of the same weights without it, and the same stream gives the same loss. */
static void test_dropout(void **state)
{
    (void)state;
    weft_seq2seq *m = tiny_dropout("lstm", "gru", WEFT_ATTN_GENERAL, true, 2, 7, 0.4f);
    weft_seq2seq *m0 = tiny("lstm", "gru", WEFT_ATTN_GENERAL, true, 2, 7);
    double tokens, eval[2], train[2];
    weft_var *loss;
    for (int k = 0; k < 2; k++) {
        weft_graph *g = weft_graph_new();
        assert_int_equal(weft_seq2seq_loss(g, k ? m0 : m, SRC, SRC_LEN, TGT, TGT_LEN, 3, 0.0f,
                                           NULL, &loss, &tokens), 0);
        eval[k] = weft_scalar(loss);
        weft_graph_free(g);
    }
    assert_true(eval[0] == eval[1]);   /* no stream: no dropout */
    for (int k = 0; k < 2; k++) {
        weft_rng r;
        weft_rng_seed(&r, 5);
        weft_graph *g = weft_graph_new();
        assert_int_equal(weft_seq2seq_loss(g, m, SRC, SRC_LEN, TGT, TGT_LEN, 3, 0.0f, &r, &loss,
                                           &tokens), 0);
        train[k] = weft_scalar(loss);
        if (k == 1) {
            weft_gradcheck_result res;
            assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .max_per_leaf = 8,
                                                                             .tolerance = 3e-2f },
                                            &res), 0);
            if (!res.passed) print_error("max rel error %g\n", res.max_rel_error);
            assert_true(res.passed);
        }
        weft_graph_free(g);
    }
    assert_true(train[0] == train[1]);
    assert_true(fabs(train[0] - eval[0]) > 1e-3);
    /* a model without dropout given a stream: the scoring numbers */
    weft_rng r;
    weft_rng_seed(&r, 5);
    weft_graph *g = weft_graph_new();
    assert_int_equal(weft_seq2seq_loss(g, m0, SRC, SRC_LEN, TGT, TGT_LEN, 3, 0.0f, &r, &loss,
                                       &tokens), 0);
    assert_true(weft_scalar(loss) == eval[1]);
    weft_graph_free(g);
    /* decoding never drops: greedy gives the same output for both */
    weft_s2s_nbest a[3], b[3];
    char err[256];
    assert_int_equal(weft_seq2seq_greedy(m, SRC, SRC_LEN, 3, 6, a, err, sizeof err), 0);
    assert_int_equal(weft_seq2seq_greedy(m0, SRC, SRC_LEN, 3, 6, b, err, sizeof err), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a[i].hyps[0].len, b[i].hyps[0].len);
        assert_true(a[i].hyps[0].logprob == b[i].hyps[0].logprob);
        weft_s2s_nbest_free(&a[i]);
        weft_s2s_nbest_free(&b[i]);
    }
    weft_seq2seq_free(m);
    weft_seq2seq_free(m0);
}

/* --- decoding -------------------------------------------------------------------------------- */

/* The attention weights of a forced decoding: every row a distribution over the source
 * words, each equal to the weights of the step-by-step decoder fed the same tokens; a model
 * without attention is refused. */
static void test_attention_weights(void **state)
{
    (void)state;
    weft_seq2seq *m = tiny("lstm", "gru", WEFT_ATTN_ADDITIVE, true, 1, 7);
    char err[256];
    float w[6 * 4];
    assert_int_equal(weft_seq2seq_attention_weights(m, s0, 4, t1, 5, w, err, sizeof err), 0);
    weft_graph *g = weft_graph_new();
    weft_s2s_decoder d;
    assert_int_equal(weft_seq2seq_begin(g, m, &SRC[0], &SRC_LEN[0], 1, &d), 0);
    int prev = WEFT_S2S_BOS;
    for (int t = 0; t <= 5; t++) {
        assert_non_null(weft_seq2seq_step(g, m, &d, &prev));
        double sum = 0;
        for (int s = 0; s < 4; s++) {
            sum += w[t * 4 + s];
            assert_true(w[t * 4 + s] == d.weights->value.data[s]);
        }
        assert_float_equal(sum, 1.0, 1e-5);
        if (t < 5) prev = t1[t];
    }
    weft_graph_free(g);
    weft_seq2seq_free(m);
    m = tiny("lstm", "lstm", WEFT_ATTN_NONE, false, 1, 7);
    assert_int_equal(weft_seq2seq_attention_weights(m, s0, 4, t1, 5, w, err, sizeof err), -1);
    assert_non_null(strstr(err, "no attention"));
    weft_seq2seq_free(m);
}

static void test_beam1_equals_greedy(void **state)
{
    (void)state;
    weft_seq2seq *m = tiny("lstm", "lstm", WEFT_ATTN_GENERAL, true, 1, 7);
    /* </s> less likely, so that the outputs are a few words long */
    weft_params_find(weft_seq2seq_params(m), "out.bias")->value.data[WEFT_S2S_EOS] = -1.5f;
    weft_s2s_nbest greedy[3], beam[3];
    char err[256];
    assert_int_equal(weft_seq2seq_greedy(m, SRC, SRC_LEN, 3, 0, greedy, err, sizeof err), 0);
    /* beam search at width 1, two sentences per batch: greedy's tokens and scores */
    weft_s2s_decode_opts o = { .beam = 1, .nbest = 1, .batch = 2 };
    weft_s2s_nbest b1[3];
    assert_int_equal(weft_seq2seq_decode(m, SRC, SRC_LEN, 3, &o, b1, err, sizeof err), 0);
    o.beam = 3;
    assert_int_equal(weft_seq2seq_decode(m, SRC, SRC_LEN, 3, &o, beam, err, sizeof err), 0);
    int nonempty = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(greedy[i].n, 1);
        assert_int_equal(b1[i].n, 1);
        assert_int_equal(b1[i].hyps[0].len, greedy[i].hyps[0].len);
        for (int k = 0; k < greedy[i].hyps[0].len; k++)
            assert_int_equal(b1[i].hyps[0].tokens[k], greedy[i].hyps[0].tokens[k]);
        assert_float_equal(b1[i].hyps[0].logprob, greedy[i].hyps[0].logprob, 1e-5);
        nonempty += greedy[i].hyps[0].len > 0;
        /* a wider beam finds a hypothesis at least as likely as greedy's */
        assert_true(beam[i].hyps[0].logprob >= greedy[i].hyps[0].logprob - 1e-5);
        weft_s2s_nbest_free(&greedy[i]);
        weft_s2s_nbest_free(&beam[i]);
        weft_s2s_nbest_free(&b1[i]);
    }
    assert_true(nonempty >= 1);   /* not only empty outputs */
    weft_seq2seq_free(m);
}

/* log p(seq, </s> | source b) scored step by step */
static double score_seq(const weft_seq2seq *m, int b, const int *seq, int len)
{
    weft_graph *g = weft_graph_new();
    weft_s2s_decoder d;
    assert_int_equal(weft_seq2seq_begin(g, m, &SRC[b], &SRC_LEN[b], 1, &d), 0);
    int prev = WEFT_S2S_BOS;
    double lp = 0;
    for (int t = 0; t <= len; t++) {
        weft_var *l = weft_seq2seq_step(g, m, &d, &prev);
        int tok = t < len ? seq[t] : WEFT_S2S_EOS;
        lp += l->value.data[tok];
        prev = tok;
    }
    weft_graph_free(g);
    return lp;
}

static int by_score_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_beam_equals_exhaustive(void **state)
{
    (void)state;
    /* target words: <unk> and w0 (ids 2, 3); outputs of at most 3 words + </s> */
    weft_seq2seq *m = tiny("gru", "lstm", WEFT_ATTN_ADDITIVE, false, 1, 1);
    enum { MAXLEN = 4, NBEST = 6 };
    for (float alpha = 0.0f; alpha <= 1.0f; alpha += 1.0f) {
        weft_s2s_decode_opts o = { .beam = 32, .nbest = NBEST, .max_len = MAXLEN, .alpha = alpha,
                                   .batch = 2 };
        weft_s2s_nbest out[3];
        char err[256];
        assert_int_equal(weft_seq2seq_decode(m, SRC, SRC_LEN, 3, &o, out, err, sizeof err), 0);
        for (int b = 0; b < 3; b++) {
            double all[16];
            int n = 0;
            for (int len = 0; len < MAXLEN; len++)
                for (int code = 0; code < 1 << len; code++) {
                    int seq[MAXLEN];
                    for (int k = 0; k < len; k++) seq[k] = 2 + ((code >> k) & 1);
                    double lp = score_seq(m, b, seq, len);
                    all[n++] = alpha == 0.0f ? lp : lp / pow(len + 1, alpha);
                }
            assert_int_equal(n, 15);
            qsort(all, (size_t)n, sizeof(double), by_score_desc);
            assert_int_equal(out[b].n, NBEST);
            for (int k = 0; k < NBEST; k++) {
                assert_float_equal(out[b].hyps[k].score, all[k], 1e-4);
                double lp = score_seq(m, b, out[b].hyps[k].tokens, out[b].hyps[k].len);
                assert_float_equal(out[b].hyps[k].logprob, lp, 1e-4);
            }
            weft_s2s_nbest_free(&out[b]);
        }
    }
    weft_seq2seq_free(m);
}

/* --- metrics -------------------------------------------------------------------------------- */

static void test_bleu_hand_computed(void **state)
{
    (void)state;
    /* "the cat sat on the mat" against "the cat is on the mat" (the=1 cat=2 sat=3 on=4
     * mat=5 is=6), and a second sentence equal to its reference */
    int h0[] = { 1, 2, 3, 4, 1, 5 }, r0[] = { 1, 2, 6, 4, 1, 5 };
    int h1[] = { 7, 8, 9, 10, 11 };
    const int *hyp[2] = { h0, h1 }, *ref[2] = { r0, h1 };
    int hl[2] = { 6, 5 }, rl[2] = { 6, 5 };
    /* alone, sentence 0 has no 4-gram match: 0 */
    assert_float_equal(weft_bleu(hyp, hl, ref, rl, 1), 0.0, 0);
    /* the corpus: p1 = 10/11, p2 = 7/9, p3 = 4/7, p4 = 2/5, c = r = 11 */
    double want = 100 * exp(0.25 * (log(10.0 / 11) + log(7.0 / 9) + log(4.0 / 7) + log(2.0 / 5)));
    assert_float_equal(weft_bleu(hyp, hl, ref, rl, 2), want, 1e-9);
    /* a copy: 100; too short: the brevity penalty exp(1 - 6/4) */
    assert_float_equal(weft_bleu(ref, rl, ref, rl, 2), 100.0, 1e-9);
    int s[] = { 1, 2, 3, 4 }, r[] = { 1, 2, 3, 4, 5, 6 };
    const int *hs[1] = { s }, *rs[1] = { r };
    assert_float_equal(weft_bleu(hs, (int[]){ 4 }, rs, (int[]){ 6 }, 1), 100 * exp(-0.5), 1e-9);
    /* clipping: "the the the the" against "the cat": p1 = 1/4 */
    int t4[] = { 1, 1, 1, 1 };
    const int *ht[1] = { t4 };
    assert_float_equal(weft_bleu(ht, (int[]){ 4 }, rs, (int[]){ 2 }, 1), 0.0, 0);
    assert_float_equal(weft_exact_match(hyp, hl, ref, rl, 2), 0.5, 0);
}

/* --- checkpoints and tasks -------------------------------------------------------------------- */

static void test_save_load(void **state)
{
    (void)state;
    weft_seq2seq *m = tiny("lstm", "gru", WEFT_ATTN_ADDITIVE, true, 2, 7);
    char path[] = "/tmp/weft-s2s-XXXXXX", err[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(weft_seq2seq_save(m, path, err, sizeof err), 0);
    weft_seq2seq *m2 = weft_seq2seq_load(path, err, sizeof err);
    if (!m2) print_error("%s\n", err);
    assert_non_null(m2);
    double n = 0, n2 = 0;
    for (int b = 0; b < 3; b++) assert_float_equal(nll_alone(m, b, &n), nll_alone(m2, b, &n2), 1e-6);
    assert_string_equal(weft_vocab_token(weft_seq2seq_src_vocab(m2), 5), "w2");
    assert_int_equal(weft_seq2seq_get_config(m2)->attention, WEFT_ATTN_ADDITIVE);
    /* a language model file is not a seq2seq model */
    unlink(path);
    assert_null(weft_seq2seq_load(path, err, sizeof err));
    weft_seq2seq_free(m);
    weft_seq2seq_free(m2);
}

static void test_generated_tasks(void **state)
{
    (void)state;
    weft_rng r;
    weft_rng_seed(&r, 1);
    char *src, *tgt, err[256];
    assert_int_equal(weft_s2s_generate("reverse", 3, 2, 4, &r, &src, &tgt, err, sizeof err), 0);
    /* each target line is its source line backwards */
    char *sl = src, *tl = tgt;
    for (int i = 0; i < 3; i++) {
        size_t n = strcspn(sl, "\n");
        assert_int_equal(n, strcspn(tl, "\n"));
        for (size_t k = 0; k < n; k++) assert_int_equal(sl[k], tl[n - 1 - k]);
        sl += n + 1;
        tl += n + 1;
    }
    free(src);
    free(tgt);
    assert_int_equal(weft_s2s_generate("add", 20, 0, 3, &r, &src, &tgt, err, sizeof err), 0);
    sl = src, tl = tgt;
    for (int i = 0; i < 20; i++) {
        long a = 0, b = 0, c = 0;
        long *x = &a;
        for (; *sl != '\n'; sl++) {
            if (*sl == '+') x = &b;
            if (*sl >= '0' && *sl <= '9') *x = *x * 10 + (*sl - '0');
        }
        for (; *tl != '\n'; tl++)
            if (*tl >= '0' && *tl <= '9') c = c * 10 + (*tl - '0');
        assert_int_equal(a + b, c);
        sl++, tl++;
    }
    free(src);
    free(tgt);
    assert_int_equal(weft_s2s_generate("copy", 3, 2, 4, &r, &src, &tgt, err, sizeof err), -1);
}

/* --- resuming a run ------------------------------------------------------------------------- */

static const char RES_SRC[] = "w0 w1 w2\nw3\nw4 w5\nw6 w0 w1 w2\nw2 w2\nw5 w4 w3\nw1\nw0 w6\n"
                              "w3 w3 w3\nw1 w2\nw6\n";
static const char RES_TGT[] = "w2 w1 w0\nw3\nw5 w4\nw2 w1 w0 w6\nw2 w2\nw3 w4 w5\nw1\nw6 w0\n"
                              "w3 w3 w3\nw2 w1\n\n";

/* Train tiny model (dropout and scheduled sampling on, so the random stream matters) for 3
 * epochs of 4 batches (the last short): straight (state_path NULL) or stopped after stop
 * batches with its state in state_path. Its weights into w (the caller frees). */
static float *train_run(const char *state_path, long stop, const weft_train_state *resume,
                        weft_seq2seq *m, size_t *n)
{
    char err[512];
    const weft_vocab *sv = weft_seq2seq_src_vocab(m), *tv = weft_seq2seq_tgt_vocab(m);
    weft_s2s_corpus c = { 0 };
    assert_int_equal(weft_s2s_corpus_from_text(RES_SRC, RES_TGT, "resume", sv, tv, &c, err,
                                               sizeof err), 0);
    weft_trainable t;
    weft_s2s_trainer *tr = weft_seq2seq_trainer(m, &(weft_s2s_train_data){ .train = &c,
                                                    .valid = &c, .batch = 3, .ss_rate = 0.3f },
                                                &t, err, sizeof err);
    assert_non_null(tr);
    weft_train_opts run = weft_train_defaults();
    run.optim = weft_optim_adam(0.01);
    run.epochs = 3;
    run.clip = 1.0f;
    weft_rng_seed(&run.rng, 77);
    run.state_path = state_path;
    run.stop_after = stop;
    run.resume = resume;
    weft_train_result res;
    if (weft_train(&t, &run, &res, err, sizeof err)) print_error("%s\n", err);
    assert_int_equal(res.stop, stop ? WEFT_TRAIN_STOPPED : WEFT_TRAIN_FINISHED);
    weft_params *ps = weft_seq2seq_params(m);
    *n = weft_params_span(ps);
    float *w = malloc(*n * sizeof *w);
    memcpy(w, weft_params_values(ps), *n * sizeof *w);
    weft_seq2seq_trainer_free(tr);
    weft_s2s_corpus_free(&c);
    return w;
}

static void test_resume_equals_straight(void **state)
{
    (void)state;
    char path[] = "/tmp/weft-s2s-state-XXXXXX", err[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    size_t n, n2;
    weft_seq2seq *m = tiny_dropout("lstm", "lstm", WEFT_ATTN_ADDITIVE, true, 2, 7, 0.3f);
    float *straight = train_run(NULL, 0, NULL, m, &n);
    weft_seq2seq_free(m);
    /* the same run stopped in epoch 2 (after 6 of the run's 12 batches) */
    m = tiny_dropout("lstm", "lstm", WEFT_ATTN_ADDITIVE, true, 2, 7, 0.3f);
    free(train_run(path, 6, NULL, m, &n2));
    weft_seq2seq_free(m);
    /* ... and resumed from the file alone: the model, optimiser, stream and place */
    weft_train_opts o = weft_train_defaults();
    weft_train_state st;
    int pairs, batch;
    float ss;
    m = weft_seq2seq_load_state(path, &o, &st, &pairs, &batch, &ss, err, sizeof err);
    if (!m) print_error("%s\n", err);
    assert_non_null(m);
    assert_int_equal(pairs, 11);
    assert_int_equal(batch, 3);
    assert_float_equal(ss, 0.3, 1e-7);
    assert_int_equal(st.epoch, 2);
    assert_float_equal(weft_seq2seq_get_config(m)->dropout, 0.3, 1e-7);
    float *resumed = train_run(path, 0, &st, m, &n2);
    assert_int_equal(n, n2);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += straight[i] != resumed[i];
    assert_int_equal(differ, 0);   /* bit for bit */
    /* a model file is not a training state */
    assert_int_equal(weft_seq2seq_save(m, path, err, sizeof err), 0);
    assert_null(weft_seq2seq_load_state(path, &o, &st, &pairs, &batch, &ss, err, sizeof err));
    assert_non_null(strstr(err, path));
    weft_seq2seq_free(m);
    free(straight);
    free(resumed);
    unlink(path);
}

/* --- the command line: train on files, translate, eval ------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The output of a shell command (at most n - 1 bytes) and its exit status. */
static int run(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    const char *exe = getenv("WEFT_EXE");
    if (!exe) skip();
    char dir[] = "/tmp/weft-s2s-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char src[300], tgt[300], model[300], cmd[2048], out[8192];
    snprintf(src, sizeof src, "%s/a.src", dir);
    snprintf(tgt, sizeof tgt, "%s/a.tgt", dir);
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    write_file(src, "1 2 3\n4 5\n6 7 8 9\n");
    write_file(tgt, "3 2 1\n5 4\n9 8 7 6\n");
    snprintf(cmd, sizeof cmd, "%s --quiet train --task seq2seq --src %s --tgt %s --valid-src %s "
             "--valid-tgt %s --hidden 8 --embed 4 --epochs 2 --batch 2 --attention additive "
             "--bidirectional --save %s 2>&1", exe, src, tgt, src, tgt, model);
    int rc = run(cmd, out, sizeof out);
    if (rc) print_error("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "exact match"));
    /* translate: one line out for each line in; n-best lines with scores */
    snprintf(cmd, sizeof cmd, "%s --quiet translate --model %s --beam 3 < %s", exe, model, src);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    int lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 3);
    /* --data FILE reads the same sentences as standard input and prints the same */
    char piped[8192];
    snprintf(piped, sizeof piped, "%s", out);
    snprintf(cmd, sizeof cmd, "%s --quiet translate --model %s --beam 3 --data %s", exe, model,
             src);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_string_equal(out, piped);
    /* a missing input and a full disk are errors naming the file, with a non-zero exit */
    snprintf(cmd, sizeof cmd, "%s --quiet translate --model %s --data %s/none 2>&1", exe, model,
             dir);
    assert_int_equal(run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "/none"));
    snprintf(cmd, sizeof cmd, "%s --quiet translate --model %s --data %s 2>&1 >/dev/full", exe,
             model, src);
    assert_int_not_equal(run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "cannot write"));
    snprintf(cmd, sizeof cmd, "%s --quiet translate --model %s --beam 3 --nbest 2 < %s", exe,
             model, src);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "2 ||| "));
    /* --plot: the first sentence's attention as a heat map, a whole PNG; standard output
       holds the translations alone; a file that cannot be written is an error */
    if (system("gnuplot --version >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "%s --quiet translate --model %s --beam 2 --data %s --plot "
                 "%s/a.png && head -c 8 %s/a.png | od -An -c", exe, model, src, dir, dir);
        assert_int_equal(run(cmd, out, sizeof out), 0);
        assert_non_null(strstr(out, "P   N   G"));
        snprintf(cmd, sizeof cmd, "%s --quiet translate --model %s --beam 2 --data %s --plot "
                 "%s/none/a.png 2>/dev/null", exe, model, src, dir);
        assert_int_equal(run(cmd, out, sizeof out), 1);
        lines = 0;
        for (char *p = out; *p; p++) lines += *p == '\n';
        assert_int_equal(lines, 3);
        assert_null(strstr(out, "PNG"));
    }
    /* eval: bleu last */
    snprintf(cmd, sizeof cmd, "%s --quiet eval --model %s --src %s --tgt %s --beam 2", exe, model,
             src, tgt);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    char *last = strstr(out, "bleu: ");
    assert_non_null(last);
    assert_non_null(strstr(out, "exact match: "));
    assert_int_equal(strchr(last, '\n')[1], '\0');
    /* weft dot draws the encoder, the decoder and the attention */
    snprintf(cmd, sizeof cmd, "%s --quiet dot --model %s --steps 3 -o %s/m.dot && grep -c "
             "'attention' %s/m.dot", exe, model, dir, dir);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_true(atoi(out) >= 3);
    /* a corpus whose sides differ in lines: a clear error naming both files */
    write_file(tgt, "3 2 1\n");
    snprintf(cmd, sizeof cmd, "%s --quiet eval --model %s --src %s --tgt %s 2>&1", exe, model,
             src, tgt);
    assert_int_equal(run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "lines"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_ragged_equals_alone),
        cmocka_unit_test(test_attention_errors),
        cmocka_unit_test(test_teacher_forcing_equals_stepwise),
        cmocka_unit_test(test_model_gradient),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_attention_weights),
        cmocka_unit_test(test_beam1_equals_greedy),
        cmocka_unit_test(test_beam_equals_exhaustive),
        cmocka_unit_test(test_bleu_hand_computed),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_generated_tasks),
        cmocka_unit_test(test_resume_equals_straight),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
