/* tests/test_ngram.c — interpolated modified Kneser-Ney n-gram models: discounts,
 * normalisation, a hand-computed bigram model, perplexity, ARPA save/load,
 * sampling, and malformed files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <math.h>
#include <cmocka.h>

#include "weft/data.h"
#include "weft/ngram.h"
#include "weft/rng.h"

static char err[512];
static char dir[] = "/tmp/weft-ngram-test-XXXXXX";

/* A text as ids, with the vocabulary built from it (first-occurrence order). */
typedef struct corpus {
    weft_vocab *vocab;
    int *ids;
    size_t n;
} corpus;

static corpus corpus_of(const char *text)
{
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "test", WEFT_TEXT_WORDS, &t, err,
                                             sizeof err), 0);
    corpus c;
    c.vocab = weft_vocab_build(&t, 1, 0, err, sizeof err);
    assert_non_null(c.vocab);
    c.ids = weft_tokens_encode(&t, c.vocab, err, sizeof err);
    assert_non_null(c.ids);
    c.n = t.count;
    weft_tokens_free(&t);
    return c;
}

static void corpus_free(corpus *c)
{
    weft_vocab_free(c->vocab);
    free(c->ids);
}

/* Sentences of 1..8 words over 20 words w0..w19 with some structure (the next
 * word depends on the previous one), so that every order has something to learn. */
static char *random_text(uint64_t seed, int sentences)
{
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    size_t cap = (size_t)sentences * 9 * 5 + 1, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    int prev = 0;
    for (int k = 0; k < sentences; k++) {
        int words = 1 + (int)weft_rng_below(&rng, 8);
        for (int i = 0; i < words; i++) {
            int w = (prev + 1 + (int)(weft_rng_below(&rng, 4) * weft_rng_below(&rng, 4))) % 20;
            len += (size_t)snprintf(s + len, cap - len, "w%d ", w);
            prev = w;
        }
        s[len - 1] = '\n';
    }
    s[len] = '\0';
    return s;
}

static weft_ngram *train(const corpus *c, int order, bool sentences)
{
    weft_ngram_options opt = { .order = order, .sentences = sentences };
    weft_ngram *m = weft_ngram_train(c->ids, c->n, c->vocab, &opt, err, sizeof err);
    if (!m) fail_msg("%s", err);
    return m;
}

/* --- discounts ---------------------------------------------------------------------------- */

static void discounts_from_count_of_counts(void **state)
{
    (void)state;
    /* n1..n4 = 100, 40, 20, 10: Y = 100 / 180 = 5/9,
     * D1 = 1 - 2 (5/9) (40/100) = 5/9, D2 = 2 - 3 (5/9) (20/40) = 7/6,
     * D3+ = 3 - 4 (5/9) (10/20) = 17/9 */
    double d[3];
    weft_ngram_discounts((const uint64_t[4]){ 100, 40, 20, 10 }, d);
    assert_float_equal(d[0], 5.0 / 9, 1e-12);
    assert_float_equal(d[1], 7.0 / 6, 1e-12);
    assert_float_equal(d[2], 17.0 / 9, 1e-12);
    /* tiny data: a zero denominator falls back to Y; nothing at all: 0.5 */
    weft_ngram_discounts((const uint64_t[4]){ 3, 0, 1, 0 }, d);   /* Y = 1 */
    assert_float_equal(d[0], 1, 1e-12);
    assert_float_equal(d[1], 1, 1e-12);
    assert_float_equal(d[2], 3, 1e-12);
    weft_ngram_discounts((const uint64_t[4]){ 0, 0, 0, 0 }, d);
    for (int r = 0; r < 3; r++) assert_float_equal(d[r], 0.5, 1e-12);
    /* D2 = 2 - 3 Y n3/n2 would be negative: clamped to 0 */
    weft_ngram_discounts((const uint64_t[4]){ 10, 1, 100, 0 }, d);
    assert_float_equal(d[1], 0, 1e-12);
}

/* The 10-token text of the hand-computed example below. */
static const char hand_text[] = "a b a b c\na b c\n";

static void trained_discounts_use_raw_and_continuation_counts(void **state)
{
    (void)state;
    corpus c = corpus_of(hand_text);
    weft_ngram *m = train(&c, 2, false);
    double d[3];
    /* bigram raw counts: ab 3, ba 1, bc 2, c<eos> 2, <eos>a 1 -> n = 2, 2, 1, 0:
     * Y = 2/6 = 1/3, D1 = 1 - 2/3 = 1/3, D2 = 2 - 3 (1/3)(1/2) = 3/2, D3+ = 3 - 0 = 3 */
    weft_ngram_discounts_of(m, 2, d);
    assert_float_equal(d[0], 1.0 / 3, 1e-12);
    assert_float_equal(d[1], 1.5, 1e-12);
    assert_float_equal(d[2], 3, 1e-12);
    /* unigram continuation counts: a 3 (after b, after <eos>, and first in the
     * stream), b 1, c 1, <eos> 1 -> n = 3, 0, 1, 0: Y = 1, D1 = 1, D2 = Y, D3+ = 3 */
    weft_ngram_discounts_of(m, 1, d);
    assert_float_equal(d[0], 1, 1e-12);
    assert_float_equal(d[1], 1, 1e-12);
    assert_float_equal(d[2], 3, 1e-12);
    weft_ngram_free(m);
    corpus_free(&c);
}

/* --- a bigram model by hand ---------------------------------------------------------------- */

static double p_of(const weft_ngram *m, const corpus *c, const char *ctx, const char *word)
{
    int h = weft_vocab_find(c->vocab, ctx, strlen(ctx));
    int w = weft_vocab_find(c->vocab, word, strlen(word));
    assert_true(h >= 0 && w >= 0);
    return exp(weft_ngram_logprob(m, &h, 1, w));
}

static void bigram_by_hand(void **state)
{
    (void)state;
    /* Text: a b a b c <eos> a b c <eos> (10 tokens, V = 4), stream mode, order 2,
     * fixed discounts D1 = 0.5, D2 = 1, D3+ = 1.5.
     *
     * Unigrams use continuation counts a(w) = distinct left neighbours, plus 1
     * for the first token of the stream (nothing before it):
     *   a: {b, <eos>} + first = 3;  b: {a} = 1;  c: {b} = 1;  <eos>: {c} = 1.   Total 6.
     *   gamma_1 = (0.5 * 3 [N1: b c <eos>] + 1.5 * 1 [N3+: a]) / 6 = 1/2
     *   p1(a) = (3 - 1.5)/6 + (1/2)(1/4) = 1/4 + 1/8 = 3/8
     *   p1(b) = p1(c) = p1(<eos>) = (1 - 0.5)/6 + 1/8 = 5/24          (sum: 3/8 + 15/24 = 1)
     * Bigrams use raw counts:
     *   after a: {b: 3}         total 3, gamma = 1.5/3 = 1/2
     *     p(b|a) = 1.5/3 + (1/2)(5/24) = 29/48;  p(a|a) = (1/2)(3/8) = 9/48
     *     p(c|a) = p(<eos>|a) = (1/2)(5/24) = 5/48
     *   after b: {a: 1, c: 2}   total 3, gamma = (0.5 + 1)/3 = 1/2
     *     p(a|b) = 0.5/3 + (1/2)(3/8) = 17/48;  p(c|b) = 1/3 + 5/48 = 21/48
     *   after c: {<eos>: 2}     total 2, gamma = 1/2:  p(<eos>|c) = 1/2 + 5/48 = 29/48
     *   after <eos>: {a: 1}     total 1, gamma = 1/2:  p(a|<eos>) = 1/2 + 3/16 = 33/48
     * Perplexity of the text itself (tokens 2..10):
     *   b|a a|b b|a c|b <eos>|c a|<eos> b|a c|b <eos>|c
     *   = exp(-(1/9) ln(29^5 * 17 * 21^2 * 33 / 48^9)) = 1.86008 */
    corpus c = corpus_of(hand_text);
    assert_int_equal(c.n, 10);
    weft_ngram_options opt = { .order = 2, .fixed_discounts = true, .discount = { 0.5, 1, 1.5 } };
    weft_ngram *m = weft_ngram_train(c.ids, c.n, c.vocab, &opt, err, sizeof err);
    assert_non_null(m);
    double tol = 1e-6;
    int none = 0;
    assert_float_equal(exp(weft_ngram_logprob(m, &none, 0, 0)), 3.0 / 8, tol);   /* p1(a) */
    assert_float_equal(exp(weft_ngram_logprob(m, &none, 0, 1)), 5.0 / 24, tol);  /* p1(b) */
    assert_float_equal(p_of(m, &c, "a", "b"), 29.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "a", "a"), 9.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "a", "c"), 5.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "a", "<eos>"), 5.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "b", "a"), 17.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "b", "c"), 21.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "b", "b"), 5.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "c", "<eos>"), 29.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "c", "a"), 9.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "<eos>", "a"), 33.0 / 48, tol);
    assert_float_equal(p_of(m, &c, "<eos>", "c"), 5.0 / 48, tol);

    /* 29/48 five times (b|a thrice, <eos>|c twice), 17/48, 21/48 twice, 33/48 */
    double lp = 5 * log(29.0 / 48) + log(17.0 / 48) + 2 * log(21.0 / 48) + log(33.0 / 48);
    weft_ngram_score s;
    assert_int_equal(weft_ngram_perplexity(m, c.ids, c.n, &s, err, sizeof err), 0);
    assert_int_equal(s.tokens, 9);
    assert_float_equal(s.logprob, lp, 1e-5);
    assert_float_equal(s.perplexity, exp(-lp / 9), 1e-5);
    weft_ngram_free(m);
    corpus_free(&c);
}

/* --- normalisation -------------------------------------------------------------------------- */

static void probabilities_sum_to_one(void **state)
{
    (void)state;
    char *text = random_text(7, 400);
    corpus c = corpus_of(text);
    int V = weft_vocab_size(c.vocab);
    double *p = malloc((size_t)V * sizeof *p);
    assert_non_null(p);
    weft_rng rng;
    weft_rng_seed(&rng, 3);
    for (int sentences = 0; sentences <= 1; sentences++) {
        for (int order = 1; order <= WEFT_NGRAM_MAX_ORDER; order++) {
            weft_ngram *m = train(&c, order, sentences);
            for (int trial = 0; trial < 12; trial++) {
                /* contexts: taken from the text (seen), random (mostly unseen), or empty */
                int ctx[6];
                size_t len = weft_rng_below(&rng, 6);
                size_t at = weft_rng_below(&rng, (uint32_t)(c.n - 6));
                for (size_t i = 0; i < len; i++)
                    ctx[i] = trial % 2 ? c.ids[at + i] : (int)weft_rng_below(&rng, (uint32_t)V);
                weft_ngram_distribution(m, ctx, len, p);
                double sum = 0;
                for (int w = 0; w < V; w++) {
                    assert_true(p[w] > 0);
                    sum += p[w];
                }
                if (fabs(sum - 1) > 1e-5)
                    fail_msg("order %d, %s mode, context of %zu: probabilities sum to %.9f", order,
                             sentences ? "sentence" : "stream", len, sum);
            }
            weft_ngram_free(m);
        }
    }
    free(p);
    corpus_free(&c);
    free(text);
}

static void uniform_text_has_perplexity_of_the_vocabulary(void **state)
{
    (void)state;
    /* every word equally often: an order-1 model is uniform over the 5 tokens */
    char text[1024] = "";
    for (int k = 0; k < 40; k++) strcat(text, "a b c d\n");
    corpus c = corpus_of(text);
    assert_int_equal(weft_vocab_size(c.vocab), 5);
    weft_ngram *m = train(&c, 1, false);
    weft_ngram_score s;
    assert_int_equal(weft_ngram_perplexity(m, c.ids, c.n, &s, err, sizeof err), 0);
    assert_float_equal(s.perplexity, 5, 1e-5);
    weft_ngram_free(m);
    /* and a higher order learns the cycle: perplexity near 1 */
    m = train(&c, 3, false);
    assert_int_equal(weft_ngram_perplexity(m, c.ids, c.n, &s, err, sizeof err), 0);
    assert_true(s.perplexity < 1.3);
    weft_ngram_free(m);
    corpus_free(&c);
}

static void sentence_mode_resets_the_context_at_eos(void **state)
{
    (void)state;
    char *text = random_text(11, 300);
    corpus c = corpus_of(text);
    int eos = weft_vocab_find(c.vocab, "<eos>", 5);
    int w3 = weft_vocab_find(c.vocab, "w3", 2), w4 = weft_vocab_find(c.vocab, "w4", 2);
    weft_ngram *sent = train(&c, 3, true), *stream = train(&c, 3, false);
    /* sentence mode: nothing before <eos> matters */
    int a[] = { w3, eos }, b[] = { w4, eos };
    assert_float_equal(weft_ngram_logprob(sent, a, 2, w3), weft_ngram_logprob(sent, b, 2, w3),
                       0);
    assert_float_equal(weft_ngram_logprob(sent, a, 2, w3), weft_ngram_logprob(sent, &eos, 1, w3),
                       0);
    /* stream mode: it does */
    assert_true(weft_ngram_logprob(stream, a, 2, w3) != weft_ngram_logprob(stream, b, 2, w3));
    weft_ngram_free(sent);
    weft_ngram_free(stream);
    corpus_free(&c);
    free(text);
}

static void bad_arguments_are_errors(void **state)
{
    (void)state;
    corpus c = corpus_of(hand_text);
    weft_ngram_options opt = { .order = 6 };
    assert_null(weft_ngram_train(c.ids, c.n, c.vocab, &opt, err, sizeof err));
    assert_non_null(strstr(err, "order 6 is not in [1, 5]"));
    opt.order = 2;
    c.ids[3] = 99;
    assert_null(weft_ngram_train(c.ids, c.n, c.vocab, &opt, err, sizeof err));
    assert_non_null(strstr(err, "token 3 has id 99"));
    c.ids[3] = 1;
    weft_ngram *m = train(&c, 2, false);
    int ctx = 0;
    assert_true(isinf(weft_ngram_logprob(m, &ctx, 1, 4)));
    weft_ngram_score s;
    assert_int_equal(weft_ngram_perplexity(m, c.ids, 1, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 2"));
    weft_ngram_free(m);
    corpus_free(&c);
}

/* --- files -------------------------------------------------------------------------------- */

static void path_in_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static void save_load_round_trip(void **state)
{
    (void)state;
    char *text = random_text(5, 500), *held = random_text(6, 100);
    corpus c = corpus_of(text);
    /* the held-out text through the training vocabulary (w0..w19 all occur) */
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(held, strlen(held), "held", WEFT_TEXT_WORDS, &t, err,
                                             sizeof err), 0);
    int *hid = weft_tokens_encode(&t, c.vocab, err, sizeof err);
    assert_non_null(hid);
    for (int sentences = 0; sentences <= 1; sentences++) {
        weft_ngram *m = train(&c, 4, sentences);
        char path[256];
        path_in_dir(path, sizeof path, "model.arpa");
        if (weft_ngram_save(m, path, err, sizeof err)) fail_msg("%s", err);
        assert_true(weft_ngram_file_is_arpa(path));
        weft_ngram *l = weft_ngram_load(path, err, sizeof err);
        if (!l) fail_msg("%s", err);
        assert_int_equal(weft_ngram_order(l), 4);
        assert_int_equal(weft_ngram_sentences(l), sentences);
        assert_int_equal(weft_vocab_size(weft_ngram_vocab(l)), weft_vocab_size(c.vocab));
        for (int id = 0; id < weft_vocab_size(c.vocab); id++)
            assert_string_equal(weft_vocab_token(weft_ngram_vocab(l), id),
                                weft_vocab_token(c.vocab, id));
        for (int k = 1; k <= 4; k++) {
            assert_int_equal(weft_ngram_count(l, k), weft_ngram_count(m, k));
            double d0[3], d1[3];
            weft_ngram_discounts_of(m, k, d0);
            weft_ngram_discounts_of(l, k, d1);
            for (int r = 0; r < 3; r++) assert_float_equal(d0[r], d1[r], 1e-8);
        }
        weft_ngram_score a, b;
        assert_int_equal(weft_ngram_perplexity(m, hid, t.count, &a, err, sizeof err), 0);
        assert_int_equal(weft_ngram_perplexity(l, hid, t.count, &b, err, sizeof err), 0);
        assert_true(a.logprob == b.logprob);   /* bit for bit */
        weft_ngram_free(m);
        weft_ngram_free(l);
        unlink(path);
    }
    free(hid);
    weft_tokens_free(&t);
    corpus_free(&c);
    free(text);
    free(held);
}

static void sampling_is_reproducible(void **state)
{
    (void)state;
    char *text = random_text(9, 300);
    corpus c = corpus_of(text);
    weft_ngram *m = train(&c, 3, false);
    int V = weft_vocab_size(c.vocab);
    int seq[3][60];
    uint64_t seeds[3] = { 42, 42, 43 };
    for (int r = 0; r < 3; r++) {
        weft_rng rng;
        weft_rng_seed(&rng, seeds[r]);
        seq[r][0] = c.ids[0];
        for (int i = 1; i < 60; i++) {
            seq[r][i] = weft_ngram_sample(m, seq[r], (size_t)i, 1.0, 0, &rng);
            assert_true(seq[r][i] >= 0 && seq[r][i] < V);
        }
    }
    assert_memory_equal(seq[0], seq[1], sizeof seq[0]);
    assert_true(memcmp(seq[0], seq[2], sizeof seq[0]) != 0);
    /* top-k 1 and a very low temperature both pick the most likely token */
    double *p = malloc((size_t)V * sizeof *p);
    assert_non_null(p);
    weft_ngram_distribution(m, c.ids, 5, p);
    int best = 0;
    for (int w = 1; w < V; w++)
        if (p[w] > p[best]) best = w;
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(weft_ngram_sample(m, c.ids, 5, 1.0, 1, &rng), best);
        assert_int_equal(weft_ngram_sample(m, c.ids, 5, 0.001, 0, &rng), best);
    }
    free(p);
    weft_ngram_free(m);
    corpus_free(&c);
    free(text);
}

/* Write text to a file in the test folder, try to load it, and expect an
 * error containing want. */
static void expect_load_error(const char *text, const char *want)
{
    char path[256];
    path_in_dir(path, sizeof path, "bad.arpa");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    weft_ngram *m = weft_ngram_load(path, err, sizeof err);
    if (m) fail_msg("loaded a bad file expecting '%s'", want);
    if (!strstr(err, want)) fail_msg("error '%s' lacks '%s'", err, want);
    if (!strstr(err, "bad.arpa")) fail_msg("error '%s' does not name the file", err);
    unlink(path);
}

static void bad_files_are_rejected_clearly(void **state)
{
    (void)state;
    weft_ngram *m = weft_ngram_load("/nonexistent/model.arpa", err, sizeof err);
    assert_null(m);
    assert_non_null(strstr(err, "/nonexistent/model.arpa: cannot open"));

    const char *good_head = "\\data\\\nngram 1=3\nngram 2=2\n\n\\1-grams:\n"
                            "-0.5\ta\t-0.3\n-0.6\tb\t-0.2\n-0.7\t<eos>\n\n\\2-grams:\n";
    char buf[1024];
    /* a well-formed file loads (and is the baseline for the broken ones) */
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n-0.2\tb <eos>\n\n\\end\\\n", good_head);
    char path[256];
    path_in_dir(path, sizeof path, "good.arpa");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(buf, f);
    fclose(f);
    m = weft_ngram_load(path, err, sizeof err);
    if (!m) fail_msg("%s", err);
    int a = 0;
    assert_float_equal(weft_ngram_logprob(m, &a, 1, 1), -0.1 * log(10), 1e-6);
    /* backoff: p(a | a) = bow(a) p(a) */
    assert_float_equal(weft_ngram_logprob(m, &a, 1, 0), (-0.3 - 0.5) * log(10), 1e-6);
    weft_ngram_free(m);
    unlink(path);

    expect_load_error("just some text\n", "no \\data\\ line");
    expect_load_error("\\data\\\nngram one=3\n", "line 2: expected 'ngram K=COUNT'");
    expect_load_error("\\data\\\nngram 2=3\n", "line 2: expected the count of 1-grams");
    expect_load_error("\\data\\\nngram 1=1000000\n\n\\1-grams:\n-1\ta\n",
                      "line 2: 1000000 1-grams cannot fit");
    expect_load_error("\\data\\\nngram 1=1\n\n\\2-grams:\n", "line 4: expected '\\1-grams:'");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n-0.2\tb zz\n\n\\end\\\n", good_head);
    expect_load_error(buf, "line 12: the word 'zz' is not among the 1-grams");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n-x\tb <eos>\n\n\\end\\\n", good_head);
    expect_load_error(buf, "line 12: '-x' is not a log10 probability");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n0.5\tb <eos>\n\n\\end\\\n", good_head);
    expect_load_error(buf, "line 12: '0.5' is not a log10 probability");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n-0.2\tb\n\n\\end\\\n", good_head);
    expect_load_error(buf, "line 12: expected a log-probability, 2 words");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n-0.2\tb <eos> -1 x\n\n\\end\\\n", good_head);
    expect_load_error(buf, "line 12: expected a log-probability, 2 words");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n-0.2\tb <eos> nope\n\n\\end\\\n", good_head);
    expect_load_error(buf, "line 12: back-off weight 'nope' is not a number");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n-0.2\ta b\n\n\\end\\\n", good_head);
    expect_load_error(buf, "line 12: this 2-gram is listed twice");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n\\end\\\n", good_head);
    expect_load_error(buf, "line 12: '\\end\\' after 1 of the 2 2-grams");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n", good_head);
    expect_load_error(buf, "ends after 1 of the 2 2-grams");
    snprintf(buf, sizeof buf, "%s-0.1\ta b\n-0.2\tb <eos>\n", good_head);
    expect_load_error(buf, "expected '\\end\\' after the 2-grams");
    expect_load_error("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n-1\ta\n",
                      "line 6: the word 'a' is listed twice");
    expect_load_error("weft.context sideways\n\\data\\\n",
                      "line 1: weft.context is 'sideways'");
    expect_load_error("weft.context sentence\n\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n\n"
                      "\\end\\\n", "sentence context, but \"<eos>\" is not among the 1-grams");
    expect_load_error("\\data\\\nngram 1=1\nngram 2=0\nngram 3=0\nngram 4=0\nngram 5=0\n"
                      "ngram 6=0\n", "line 7: order 6 is above the largest weft handles (5)");
}

static void saving_words_with_spaces_is_an_error(void **state)
{
    (void)state;
    weft_tokens t;
    const char *text = "ab a";
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "chars", WEFT_TEXT_CHARS, &t, err,
                                             sizeof err), 0);
    weft_vocab *v = weft_vocab_build(&t, 1, 0, err, sizeof err);
    int *ids = weft_tokens_encode(&t, v, err, sizeof err);
    weft_ngram_options opt = { .order = 2 };
    weft_ngram *m = weft_ngram_train(ids, t.count, v, &opt, err, sizeof err);
    assert_non_null(m);
    char path[256];
    path_in_dir(path, sizeof path, "chars.arpa");
    assert_int_equal(weft_ngram_save(m, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "holds white space"));
    assert_int_equal(access(path, F_OK), -1);   /* nothing written */
    weft_ngram_free(m);
    free(ids);
    weft_vocab_free(v);
    weft_tokens_free(&t);
}

static int make_dir(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(discounts_from_count_of_counts),
        cmocka_unit_test(trained_discounts_use_raw_and_continuation_counts),
        cmocka_unit_test(bigram_by_hand),
        cmocka_unit_test(probabilities_sum_to_one),
        cmocka_unit_test(uniform_text_has_perplexity_of_the_vocabulary),
        cmocka_unit_test(sentence_mode_resets_the_context_at_eos),
        cmocka_unit_test(bad_arguments_are_errors),
        cmocka_unit_test(save_load_round_trip),
        cmocka_unit_test(sampling_is_reproducible),
        cmocka_unit_test(bad_files_are_rejected_clearly),
        cmocka_unit_test(saving_words_with_spaces_is_an_error),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
