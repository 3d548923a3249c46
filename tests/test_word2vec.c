/* tests/test_word2vec.c — word2vec (weft/word2vec.h) and vector files
 * (weft/vectors.h): the NS, HS and softmax updates against finite differences
 * of their losses, the fast path against the same model on the tape, the
 * Huffman codes of a known frequency table, the noise table's distribution,
 * the subsampling's keep probability, one-thread runs that repeat exactly,
 * text and binary files read back, neighbours and analogies whose answers are
 * known, bad files rejected, and the commands run as a user runs them (the
 * weft executable from meson in WEFT_EXE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/cli_text.h"
#include "tests/rel_diff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vectors/w2v_kernels.h"
#include "weft/params.h"
#include "weft/rng.h"
#include "weft/vectors.h"
#include "weft/word2vec.h"

static char err[1024];
static char tmpdir[] = "/tmp/weft-w2v-test-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char paths[16][512];
    static int k = 0;
    char *p = paths[k++ % 16];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void fill_uniform(float *x, int n, weft_rng *r, float k)
{
    for (int i = 0; i < n; i++) x[i] = (2 * weft_rng_uniform(r) - 1) * k;
}

static double log_sigmoid(double x)
{
    return -log1p(exp(-x));
}

static double ddot(const float *a, const float *b, int n)
{
    double s = 0;
    for (int j = 0; j < n; j++) s += (double)a[j] * b[j];
    return s;
}

/* --- the losses, written out independently of the updates ------------------------------------ */

enum { V = 7, D = 6 };

/* NS: -log σ(u_t0·h) - Σ_{k>0} log σ(-u_tk·h) */
static double ns_loss(const float *h, const float *U, const int *t, int n)
{
    double L = 0;
    for (int d = 0; d < n; d++) {
        double f = ddot(h, U + t[d] * D, D);
        L -= log_sigmoid(d == 0 ? f : -f);
    }
    return L;
}

/* HS: -Σ log σ((1 - 2 code_d) u_{p_d}·h) */
static const int hs_point[3] = { 5, 2, 0 };
static const uint8_t hs_code[3] = { 0, 1, 1 };

static double hs_loss(const float *h, const float *U, const int *t, int n)
{
    (void)t;
    (void)n;
    double L = 0;
    for (int d = 0; d < 3; d++) {
        double f = ddot(h, U + hs_point[d] * D, D);
        L -= log_sigmoid(hs_code[d] ? -f : f);
    }
    return L;
}

/* softmax: -log softmax(U h)_t0 */
static double softmax_loss(const float *h, const float *U, const int *t, int n)
{
    (void)n;
    double z[V], mx = -INFINITY, s = 0;
    for (int j = 0; j < V; j++) {
        z[j] = ddot(h, U + j * D, D);
        mx = fmax(mx, z[j]);
    }
    for (int j = 0; j < V; j++) s += exp(z[j] - mx);
    return -(z[t[0]] - mx - log(s));
}

typedef double (*loss_fn)(const float *h, const float *U, const int *t, int n);

/* An update of rate alpha moves U by -alpha dL/dU and puts -alpha dL/dh in e:
 * both against central differences of the loss. */
static void check_update(int which, loss_fn loss)
{
    weft_rng r;
    weft_rng_seed(&r, 7 + (uint64_t)which);
    float h[D], U[V * D], U0[V * D], e[D] = { 0 }, scratch[V];
    fill_uniform(h, D, &r, 0.8f);
    fill_uniform(U, V * D, &r, 0.8f);
    memcpy(U0, U, sizeof U);
    const int targets[4] = { 3, 1, 6, 4 };
    const float alpha = 0.01f;
    if (which == 0) w2v_ns_update(h, e, U, targets, 4, D, alpha, NULL);
    else if (which == 1) w2v_hs_update(h, e, U, hs_point, hs_code, 3, D, alpha, NULL);
    else w2v_softmax_update(h, e, U, V, targets[0], D, alpha, scratch);

    const double eps = 1e-3;
    double worst = 0;
    for (int j = 0; j < D; j++) {
        float hp[D], hm[D];
        memcpy(hp, h, sizeof h);
        memcpy(hm, h, sizeof h);
        hp[j] += (float)eps;
        hm[j] -= (float)eps;
        double fd = (loss(hp, U0, targets, 4) - loss(hm, U0, targets, 4)) / (2 * eps);
        worst = fmax(worst, fabs(-e[j] / alpha - fd));
    }
    for (int i = 0; i < V * D; i++) {
        float Up[V * D], Um[V * D];
        memcpy(Up, U0, sizeof U0);
        memcpy(Um, U0, sizeof U0);
        Up[i] += (float)eps;
        Um[i] -= (float)eps;
        double fd = (loss(h, Up, targets, 4) - loss(h, Um, targets, 4)) / (2 * eps);
        worst = fmax(worst, fabs(-(U[i] - U0[i]) / alpha - fd));
    }
    if (worst > 2e-3) fail_msg("update %d: gradient off by %g from finite differences", which,
                                worst);
}

static void test_ns_update_gradient(void **state)
{
    (void)state;
    check_update(0, ns_loss);
}

static void test_hs_update_gradient(void **state)
{
    (void)state;
    check_update(1, hs_loss);
}

static void test_softmax_update_gradient(void **state)
{
    (void)state;
    check_update(2, softmax_loss);
}

/* The table's σ is within 0.01 of the exact one: its step (12/1000) and its
 * index (f + 6)·83, word2vec's integer 1000/6/2, which stretches the table by
 * 0.4%. */
static void test_exp_table(void **state)
{
    (void)state;
    const char *text = "a b c\n";
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "t", WEFT_TEXT_WORDS, &t, err,
                                             sizeof err), 0);
    weft_word2vec_options o = weft_word2vec_defaults();
    o.min_count = 1;
    o.noise_table_size = 1000;
    weft_word2vec *m = weft_word2vec_new(&t, &o, err, sizeof err);
    weft_tokens_free(&t);
    assert_non_null(m);
    for (float f = -5.99f; f < 5.99f; f += 0.01f)
        assert_true(fabsf(w2v_table_sigmoid(m->exp_table, f) - 1 / (1 + expf(-f))) < 0.01f);
    weft_word2vec_free(m);
}

/* --- vocabulary, Huffman tree, noise table, subsampling --------------------------------------- */

/* 50 lines holding a x45, d x16, b x13, c x12, e x9, f x5: with "</s>" 50 the
 * counts are 50 45 16 13 12 9 5 in vocabulary order. */
static weft_word2vec *counted_model(weft_w2v_loss loss, int noise_size)
{
    static const struct { const char *w; int n; } words[] = {
        { "a", 45 }, { "d", 16 }, { "b", 13 }, { "c", 12 }, { "e", 9 }, { "f", 5 },
    };
    char text[4096];
    size_t len = 0;
    int k = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < words[i].n; j++, k++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", words[i].w,
                                    k % 2 == 1 || k == 99 ? "\n" : " ");
    /* 100 words, a line end after every second one: 50 lines */
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, len, "counted", WEFT_TEXT_WORDS, &t, err,
                                             sizeof err), 0);
    weft_word2vec_options o = weft_word2vec_defaults();
    o.min_count = 1;
    o.loss = loss;
    o.noise_table_size = noise_size;
    weft_word2vec *m = weft_word2vec_new(&t, &o, err, sizeof err);
    weft_tokens_free(&t);
    if (!m) fail_msg("%s", err);
    return m;
}

static void test_vocabulary_order(void **state)
{
    (void)state;
    weft_word2vec *m = counted_model(WEFT_W2V_NS, 1000);
    const char *order[V] = { "</s>", "a", "d", "b", "c", "e", "f" };
    const int64_t counts[V] = { 50, 45, 16, 13, 12, 9, 5 };
    assert_int_equal(m->vocab_size, V);
    for (int i = 0; i < V; i++) {
        assert_string_equal(weft_vocab_token(m->vocab, i), order[i]);
        assert_int_equal(m->counts[i], counts[i]);
    }
    assert_int_equal(m->train_words, 150);
    weft_word2vec_free(m);
}

/* Codes by hand from word2vec's CreateBinaryTree on 50 45 16 13 12 9 5:
 * merges 5+9, 12+13, 14+16, 25+30, 45+50, 55+95 (the second of each pair gets
 * bit 1). */
static void test_huffman_codes(void **state)
{
    (void)state;
    weft_word2vec *m = counted_model(WEFT_W2V_HS, 0);
    const char *want[V] = { "11", "10", "011", "001", "000", "0101", "0100" };
    for (int w = 0; w < V; w++) {
        char got[WEFT_W2V_MAX_CODE + 1];
        int n = m->codelen[w];
        for (int d = 0; d < n; d++) got[d] = (char)('0' + m->codes[w * WEFT_W2V_MAX_CODE + d]);
        got[n] = '\0';
        assert_string_equal(got, want[w]);
        assert_int_equal(m->points[w * WEFT_W2V_MAX_CODE], V - 2);   /* the root */
    }
    /* d's path: root (row 5), the 55 node (row 3), the 30 node (row 2) */
    const int *p = m->points + 2 * WEFT_W2V_MAX_CODE;
    assert_int_equal(p[0], 5);
    assert_int_equal(p[1], 3);
    assert_int_equal(p[2], 2);
    /* the expected code length Σ f_w len_w is the Huffman optimum for these counts */
    int64_t cost = 0;
    for (int w = 0; w < V; w++) cost += m->counts[w] * m->codelen[w];
    assert_int_equal(cost, 50 * 2 + 45 * 2 + 16 * 3 + 13 * 3 + 12 * 3 + 9 * 4 + 5 * 4);
    weft_word2vec_free(m);
}

static void test_noise_table(void **state)
{
    (void)state;
    const int n = 200000;
    weft_word2vec *m = counted_model(WEFT_W2V_NS, n);
    int hits[V] = { 0 };
    for (int i = 0; i < n; i++) hits[m->noise[i]]++;
    double z = 0;
    for (int w = 0; w < V; w++) z += pow((double)m->counts[w], 0.75);
    for (int w = 0; w < V; w++) {
        double want = pow((double)m->counts[w], 0.75) / z;
        if (fabs(hits[w] / (double)n - want) > 1e-4)
            fail_msg("word %d: %.5f of the table, %.5f wanted", w, hits[w] / (double)n, want);
    }
    /* in order: ids never go down */
    for (int i = 1; i < n; i++) assert_true(m->noise[i] >= m->noise[i - 1]);
    weft_word2vec_free(m);
}

static void test_keep_probability_and_lr(void **state)
{
    (void)state;
    /* (sqrt(f/t) + 1) t/f with f = count/total: t·total = 1000 */
    assert_float_equal(weft_word2vec_keep_probability(100000, 1000000, 1e-3),
                       (sqrt(100.0) + 1) * 1000 / 100000, 1e-12);
    assert_float_equal(weft_word2vec_keep_probability(4000, 1000000, 1e-3),
                       (sqrt(4.0) + 1) / 4, 1e-12);
    assert_float_equal(weft_word2vec_keep_probability(1000, 1000000, 1e-3), 1.0, 0);
    assert_float_equal(weft_word2vec_keep_probability(100000, 1000000, 0), 1.0, 0);
    /* linear decay to a floor of lr·1e-4 */
    assert_float_equal(weft_word2vec_lr_at(0.025f, 0, 999), 0.025f, 1e-9);
    assert_float_equal(weft_word2vec_lr_at(0.025f, 500, 999), 0.0125f, 1e-9);
    assert_float_equal(weft_word2vec_lr_at(0.025f, 999, 999), 0.025f / 1000, 1e-9);
    assert_float_equal(weft_word2vec_lr_at(0.025f, 1000, 999), 0.025f * 1e-4f, 1e-9);

    /* the most frequent word of a text, "the" (half of it), is kept with 0.1 < p < 0.9 */
    weft_rng r;
    weft_rng_seed(&r, 3);
    size_t cap = 200000, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < 20000; i++) {
        /* "the" half of the words, 50 others the rest */
        if (i % 2 == 0) len += (size_t)snprintf(text + len, cap - len, "the ");
        else len += (size_t)snprintf(text + len, cap - len, "w%u ", weft_rng_below(&r, 50));
        if (i % 20 == 19) text[len - 1] = '\n';
    }
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, len, "t", WEFT_TEXT_WORDS, &t, err,
                                             sizeof err), 0);
    free(text);
    weft_word2vec_options o = weft_word2vec_defaults();
    o.sample = 1e-2f;
    o.noise_table_size = 1000;
    weft_word2vec *m = weft_word2vec_new(&t, &o, err, sizeof err);
    weft_tokens_free(&t);
    assert_non_null(m);
    assert_string_equal(weft_vocab_token(m->vocab, 1), "the");
    double p = weft_word2vec_keep_probability(m->counts[1], m->train_words, 1e-2);
    assert_true(p > 0.1 && p < 0.9);
    weft_word2vec_free(m);
}

/* --- training ----------------------------------------------------------------------------------- */

/* Two kinds of words in two kinds of lines: days after "on" and before
 * "morning", fruits after "ate" and before "slowly". */
static char *grouped_text(int lines, uint64_t seed)
{
    static const char *days[] = { "monday", "tuesday", "wednesday", "thursday", "friday" };
    static const char *fruits[] = { "apple", "pear", "plum", "cherry", "grape" };
    weft_rng r;
    weft_rng_seed(&r, seed);
    size_t cap = (size_t)lines * 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < lines; i++) {
        int k = (int)weft_rng_below(&r, 5);
        if (weft_rng_below(&r, 2))
            len += (size_t)snprintf(text + len, cap - len, "we met on %s morning again\n", days[k]);
        else
            len += (size_t)snprintf(text + len, cap - len, "she ate %s slowly today\n", fruits[k]);
    }
    return text;
}

static weft_word2vec *grouped_model(weft_word2vec_options *o, int lines)
{
    char *text = grouped_text(lines, 11);
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "grouped", WEFT_TEXT_WORDS, &t,
                                             err, sizeof err), 0);
    free(text);
    weft_word2vec *m = weft_word2vec_new(&t, o, err, sizeof err);
    weft_tokens_free(&t);
    if (!m) fail_msg("%s", err);
    return m;
}

/* The fast path and the tape (embedding, linear, cross-entropy, SGD) from
 * the same start with the same draws: the same vectors. */
static void test_fast_path_equals_tape(void **state)
{
    (void)state;
    weft_word2vec_options o = weft_word2vec_defaults();
    o.loss = WEFT_W2V_SOFTMAX;
    o.dim = 8;
    o.window = 3;
    o.epochs = 2;
    o.threads = 1;
    o.min_count = 1;
    o.sample = 0.05f;   /* subsampling on: its draws must match too */
    o.seed = 5;
    weft_word2vec *fast = grouped_model(&o, 300);
    weft_word2vec *tape = grouped_model(&o, 300);
    assert_int_equal(weft_word2vec_train(fast, err, sizeof err), 0);
    if (weft_word2vec_train_tape(tape, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(fast->words_done, tape->words_done);
    size_t n = (size_t)fast->vocab_size * fast->dim;
    double d0 = rel_diff(fast->syn0, tape->syn0, n), d1 = rel_diff(fast->syn1, tape->syn1, n);
    if (d0 > 1e-4 || d1 > 1e-4) fail_msg("fast vs tape: input %g, output %g", d0, d1);
    /* and training moved them */
    weft_word2vec *start = grouped_model(&o, 300);
    assert_true(rel_diff(fast->syn0, start->syn0, n) > 0.1);
    weft_word2vec_free(start);
    weft_word2vec_free(fast);
    weft_word2vec_free(tape);
}

/* One thread: the same seed gives the same vectors bit for bit; another seed
 * does not. */
static void test_one_thread_reproducible(void **state)
{
    (void)state;
    for (int loss = 0; loss < 2; loss++) {
        for (int model = 0; model < 2; model++) {
            weft_word2vec_options o = weft_word2vec_defaults();
            o.loss = (weft_w2v_loss)loss;
            o.model = (weft_w2v_model)model;
            o.dim = 16;
            o.threads = 1;
            o.min_count = 1;
            o.noise_table_size = 10000;
            weft_word2vec *a = grouped_model(&o, 400), *b = grouped_model(&o, 400);
            o.seed = 2;
            weft_word2vec *c = grouped_model(&o, 400);
            assert_int_equal(weft_word2vec_train(a, err, sizeof err), 0);
            assert_int_equal(weft_word2vec_train(b, err, sizeof err), 0);
            assert_int_equal(weft_word2vec_train(c, err, sizeof err), 0);
            size_t n = (size_t)a->vocab_size * a->dim * sizeof(float);
            assert_memory_equal(a->syn0, b->syn0, n);
            assert_memory_equal(a->syn1, b->syn1, n);
            assert_memory_not_equal(a->syn0, c->syn0, n);
            weft_word2vec_free(a);
            weft_word2vec_free(b);
            weft_word2vec_free(c);
        }
    }
}

/* Trained on the grouped text, each model puts a day's nearest neighbours
 * among the days and a fruit's among the fruits. */
static void test_trained_neighbours(void **state)
{
    (void)state;
    const weft_w2v_model models[] = { WEFT_W2V_SKIPGRAM, WEFT_W2V_CBOW, WEFT_W2V_SKIPGRAM };
    const weft_w2v_loss losses[] = { WEFT_W2V_NS, WEFT_W2V_NS, WEFT_W2V_HS };
    for (int k = 0; k < 3; k++) {
        weft_word2vec_options o = weft_word2vec_defaults();
        o.model = models[k];
        o.loss = losses[k];
        o.dim = 16;
        o.threads = 2;
        o.min_count = 1;
        o.sample = 0;
        o.noise_table_size = 10000;
        o.epochs = 10;
        weft_word2vec *m = grouped_model(&o, 1000);
        assert_int_equal(weft_word2vec_train(m, err, sizeof err), 0);
        weft_vectors *v = weft_word2vec_vectors(m, WEFT_W2V_INPUT, err, sizeof err);
        assert_non_null(v);
        const char *probe[2] = { "tuesday", "plum" };
        const char *group[2] = { "monday tuesday wednesday thursday friday",
                                 "apple pear plum cherry grape" };
        for (int g = 0; g < 2; g++) {
            int w = weft_vectors_find(v, probe[g]), ids[4];
            float sc[4];
            assert_true(w >= 0);
            assert_int_equal(weft_vectors_nearest(v, v->unit + (size_t)w * v->dim, &w, 1, 0, 4,
                                                  ids, sc), 4);
            for (int i = 0; i < 4; i++)
                if (!strstr(group[g], weft_vocab_token(v->words, ids[i])))
                    fail_msg("%s %s: neighbour %d of %s is %s", weft_w2v_model_name(o.model),
                             weft_w2v_loss_name(o.loss), i + 1, probe[g],
                             weft_vocab_token(v->words, ids[i]));
        }
        weft_vectors_free(v);
        weft_word2vec_free(m);
    }
}

/* --- vector files --------------------------------------------------------------------------------- */

static weft_vectors *random_vectors(int count, int dim, uint64_t seed)
{
    weft_rng r;
    weft_rng_seed(&r, seed);
    char **words = malloc((size_t)count * sizeof *words);
    float *data = malloc((size_t)count * dim * sizeof *data);
    assert_true(words && data);
    for (int i = 0; i < count; i++) {
        words[i] = malloc(16);
        snprintf(words[i], 16, i == 1 ? "</s>" : "w%d-é", i);
    }
    for (int i = 0; i < count * dim; i++) data[i] = weft_rng_normal(&r) * 1e-3f;
    data[0] = 1e30f;   /* extremes */
    data[1] = -1.17549435e-38f;
    weft_vectors *v = weft_vectors_from((const char *const *)words, data, count, dim, err,
                                        sizeof err);
    for (int i = 0; i < count; i++) free(words[i]);
    free(words);
    free(data);
    assert_non_null(v);
    return v;
}

static void test_round_trip(void **state)
{
    (void)state;
    weft_vectors *v = random_vectors(50, 13, 4);
    const weft_vectors_format fmts[2] = { WEFT_VECTORS_TEXT, WEFT_VECTORS_BINARY };
    for (int k = 0; k < 2; k++) {
        const char *path = tmp_path(k ? "v.bin" : "v.txt");
        assert_int_equal(weft_vectors_write(v, path, fmts[k], err, sizeof err), 0);
        for (int read_as = 0; read_as < 2; read_as++) {   /* auto-detected, then as told */
            weft_vectors *w = weft_vectors_read(path, read_as ? fmts[k] : WEFT_VECTORS_AUTO, err,
                                                sizeof err);
            if (!w) fail_msg("%s", err);
            assert_int_equal(w->count, 50);
            assert_int_equal(w->dim, 13);
            for (int i = 0; i < 50; i++)
                assert_string_equal(weft_vocab_token(w->words, i), weft_vocab_token(v->words, i));
            assert_memory_equal(w->data, v->data, 50 * 13 * sizeof(float));
            weft_vectors_free(w);
        }
    }
    /* a write that cannot happen is an error naming the file */
    assert_int_equal(weft_vectors_write(v, "/nonexistent-folder/v.txt", WEFT_VECTORS_TEXT, err,
                                        sizeof err), -1);
    assert_contains(err, "/nonexistent-folder/v.txt");
    /* gensim's binary rows have no "\n" after them; fastText's text rows end in a space */
    const char gensim_like[] = "2 1\na \x00\x00\x80\x3f" "b \x00\x00\x00\x40";
    weft_vectors *g = weft_vectors_parse(gensim_like, sizeof gensim_like - 1, "g", 0, err,
                                         sizeof err);
    if (!g) fail_msg("%s", err);
    assert_float_equal(g->data[1], 2.0f, 0);
    weft_vectors_free(g);
    const char *ft = "2 2\nx 0.5 1 \ny -1 2 \n";
    g = weft_vectors_parse(ft, strlen(ft), "ft", 0, err, sizeof err);
    if (!g) fail_msg("%s", err);
    assert_float_equal(g->data[2], -1.0f, 0);
    weft_vectors_free(g);
    weft_vectors_free(v);
}

static void expect_rejected(const char *bytes, size_t len, const char *want1, const char *want2)
{
    weft_vectors *v = weft_vectors_parse(bytes, len, "bad.vec", WEFT_VECTORS_AUTO, err,
                                         sizeof err);
    if (v) fail_msg("accepted a bad file (wanted \"%s\")", want2);
    assert_contains(err, "bad.vec");
    assert_contains(err, want1);
    assert_contains(err, want2);
}

static void test_bad_files(void **state)
{
    (void)state;
#define BAD(s, a, b) expect_rejected(s, sizeof s - 1, a, b)
    BAD("", "line 1", "header");
    BAD("2\na 1\n", "line 1", "header");
    BAD("0 3\n", "line 1", "header");
    BAD("2 2\na 1 2\n", "line 3", "ends before");                 /* fewer rows than claimed */
    BAD("2 2\na 1 2\nb 1 2\nc 3 4\n", "line 4", "more rows");    /* more */
    BAD("2 3\na 1 2 3\nb 1 2\n", "line 3", "short row: 2 values, 3 expected");
    BAD("2 2\na 1 2\nb 1 2 3\n", "line 3", "more than 2 values");
    BAD("2 2\na 1 2\nb nan 2\n", "line 3", "NaN");
    BAD("2 2\na 1 2\nb 1 1e39\n", "line 3", "infinite");
    BAD("2 2\na 1 2\nb 1 x\n", "line 3", "not a number");
    BAD("2 2\na 1 2\na 3 4\n", "line 3", "appears again");
    BAD("1000000000 300\na 1 2\n", "line 1", "claims");          /* no 300 GB allocation */
    BAD("1 1000000\na 1\n", "line 1", "over");
    BAD("2 1\na \x00\x00\x80\x3f\nb \x00\x00", "row 2", "short row");   /* binary cut short */
    BAD("2 1\na \x00\x00\x80\x3f\nb \x00\x00\xc0\x7f", "row 2", "NaN");
#undef BAD
    weft_vectors *v = weft_vectors_read(tmp_path("missing.vec"), 0, err, sizeof err);
    assert_null(v);
    assert_contains(err, "missing.vec: cannot open");
}

/* --- neighbours and analogies ----------------------------------------------------------------------- */

/* man and woman differ by a "female" axis, king and queen too, with a "royal"
 * axis on both; apple is elsewhere. */
static weft_vectors *royal_vectors(void)
{
    const char *words[] = { "the", "Man", "woman", "king", "queen", "apple", "prince" };
    const float data[] = {
        0, 0, 0, 1,     /* the */
        1, 0, 0, 0.1f,  /* man */
        1, 1, 0, 0.1f,  /* woman */
        1, 0, 1, 0,     /* king */
        1, 1, 1, 0,     /* queen */
        0, 0.2f, 0, -1, /* apple */
        1, 0, 0.9f, 0.3f, /* prince */
    };
    weft_vectors *v = weft_vectors_from(words, data, 7, 4, err, sizeof err);
    assert_non_null(v);
    return v;
}

static void test_neighbours_and_analogies(void **state)
{
    (void)state;
    weft_vectors *v = royal_vectors();
    int ids[3];
    float sc[3];
    int king = weft_vectors_find(v, "king");
    assert_int_equal(weft_vectors_nearest(v, v->unit + king * 4, &king, 1, 0, 3, ids, sc), 3);
    assert_string_equal(weft_vocab_token(v->words, ids[0]), "prince");
    assert_string_equal(weft_vocab_token(v->words, ids[1]), "queen");
    assert_float_equal(sc[1], 2 / sqrt(2) / sqrt(3), 1e-6);   /* cos(king, queen) */
    for (int m = 0; m < 2; m++) {
        int n = weft_vectors_analogy(v, 1, 2, 3, (weft_analogy_method)m, 0, 3, ids, sc);
        assert_int_equal(n, 3);
        assert_string_equal(weft_vocab_token(v->words, ids[0]), "queen");
        for (int i = 0; i < n; i++) assert_true(ids[i] != 1 && ids[i] != 2 && ids[i] != 3);
    }
    /* limited to the first 4 words, queen (id 4) cannot be the answer */
    weft_vectors_analogy(v, 1, 2, 3, WEFT_3COSADD, 4, 1, ids, sc);
    assert_int_equal(ids[0], 0);

    /* an analogy file: one question outside the vocabulary, one wrong at top 1 */
    const char *q = ": royal\nman woman king queen\nMAN WOMAN KING QUEEN\n"
                    "man woman king princess\n: gram-food\nking queen man apple\n";
    weft_test_write_file(tmp_path("q.txt"), q, strlen(q));
    weft_analogy_report r;
    assert_int_equal(weft_vectors_eval_analogies(v, tmp_path("q.txt"), WEFT_3COSADD, 0, 1, &r,
                                                 err, sizeof err), 0);
    assert_int_equal(r.n_sections, 2);
    assert_string_equal(r.section[0].name, "royal");
    assert_int_equal(r.section[0].total, 3);
    assert_int_equal(r.section[0].seen, 2);
    assert_int_equal(r.section[0].correct, 2);
    assert_int_equal(r.section[1].seen, 1);
    assert_int_equal(r.section[1].correct, 0);   /* the answer is woman */
    assert_int_equal(r.total, 4);
    assert_int_equal(r.seen, 3);
    assert_int_equal(r.correct, 2);
    assert_int_equal(r.semantic_seen, 2);
    assert_int_equal(r.syntactic_seen, 1);
    /* a bad line names the file and line */
    const char *bad = ": s\nman woman king\n";
    weft_test_write_file(tmp_path("qbad.txt"), bad, strlen(bad));
    assert_int_equal(weft_vectors_eval_analogies(v, tmp_path("qbad.txt"), WEFT_3COSADD, 0, 1, &r,
                                                 err, sizeof err), -1);
    assert_contains(err, "qbad.txt: line 2");

    /* similarity: Spearman against scores ranked as the cosines are */
    const char *sim = "# w1 w2 score\nking queen 8\nking prince 9\nking apple 1\nman woman 5\n"
                      "king unicorn 3\n";
    weft_test_write_file(tmp_path("sim.txt"), sim, strlen(sim));
    weft_similarity_report s;
    assert_int_equal(weft_vectors_eval_similarity(v, tmp_path("sim.txt"), &s, err, sizeof err),
                     0);
    assert_int_equal(s.total, 5);
    assert_int_equal(s.seen, 4);
    double cos_mw = 1 / sqrt(1.01) / sqrt(2.01) * 1.01;
    double cos_kq = 2 / sqrt(2) / sqrt(3);
    assert_true(cos_mw < cos_kq);
    assert_float_equal(s.spearman, 1.0, 1e-12);
    weft_vectors_free(v);

    const double x[5] = { 1, 2, 3, 4, 5 }, y[5] = { 5, 6, 7, 8, 7 };
    /* ranks of y: 1 2 3.5 5 3.5 */
    double rx[5] = { 1, 2, 3, 4, 5 }, ry[5] = { 1, 2, 3.5, 5, 3.5 }, mx = 3, my = 3;
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < 5; i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    assert_float_equal(weft_spearman(x, y, 5), sxy / sqrt(sxx * syy), 1e-12);
}

static void test_init_embedding(void **state)
{
    (void)state;
    weft_vectors *v = royal_vectors();
    weft_vocab *vocab = weft_vocab_new();
    const char *words[] = { "<unk>", "king", "man", "zebra" };
    for (int i = 0; i < 4; i++) weft_vocab_add(vocab, words[i], strlen(words[i]));
    weft_params *p = weft_params_new();
    weft_param *emb = weft_params_add(p, "embedding.weight", 2, (int[]){ 4, 4 });
    weft_tensor_fill(&emb->value, 7);
    assert_int_equal(weft_vectors_init_embedding(v, vocab, emb, err, sizeof err), 2);
    assert_memory_equal(emb->value.data + 4, v->data + 3 * 4, 4 * sizeof(float));   /* king */
    assert_memory_equal(emb->value.data + 8, v->data + 1 * 4, 4 * sizeof(float));   /* Man */
    assert_float_equal(emb->value.data[0], 7, 0);
    assert_float_equal(emb->value.data[12], 7, 0);
    weft_param *wrong = weft_params_add(p, "other", 2, (int[]){ 4, 5 });
    assert_int_equal(weft_vectors_init_embedding(v, vocab, wrong, err, sizeof err), -1);
    assert_contains(err, "other");
    weft_params_free(p);
    weft_vocab_free(vocab);
    weft_vectors_free(v);
}

/* --- the commands ------------------------------------------------------------------------------------- */

static const char *exe;

static void test_cli(void **state)
{
    (void)state;
    char *text = grouped_text(600, 3);
    weft_test_write_file(tmp_path("corpus.txt"), text, strlen(text));
    free(text);
    weft_test_output *o = weft_test_run(exe, NULL, "--quiet --threads 1 word2vec --data '%s' "
                                        "--save '%s' --dim 12 --min-count 1 --epochs 3 --format "
                                        "binary --seed 4", tmp_path("corpus.txt"),
                                        tmp_path("cli.bin"));
    if (o->status) fail_msg("%s", o->err);
    assert_contains(o->out, "words/s/thread");
    assert_contains(o->out, "saved");
    o = weft_test_run(exe, NULL, "--quiet neighbors --vectors '%s' --top 2 monday",
                      tmp_path("cli.bin"));
    assert_int_equal(o->status, 0);
    assert_contains(o->out, "monday: ");
    o = weft_test_run(exe, NULL, "--quiet analogy --vectors '%s' monday tuesday apple",
                      tmp_path("cli.bin"));
    assert_int_equal(o->status, 0);
    assert_contains(o->out, " 1. ");
    const char *q = ": days\nmonday tuesday wednesday thursday\nmonday tuesday mars venus\n";
    weft_test_write_file(tmp_path("cq.txt"), q, strlen(q));
    o = weft_test_run(exe, NULL, "--quiet word2vec eval --vectors '%s' --analogies '%s' --top 3",
                      tmp_path("cli.bin"), tmp_path("cq.txt"));
    assert_int_equal(o->status, 0);
    char line[256];
    assert_true(strncmp(last_line(o->out, line, sizeof line), "accuracy: ", 10) == 0);
    assert_contains(o->out, "skipped 1");
    /* the vectors start a language model's embedding: every word of the text has one */
    o = weft_test_run(exe, NULL, "--quiet --threads 1 train --task lm --data '%s' --embed 12 "
                      "--hidden 8 --epochs 1 --batch 4 --bptt 5 --init-embeddings '%s' --save '%s'",
                      tmp_path("corpus.txt"), tmp_path("cli.bin"), tmp_path("lm.safetensors"));
    if (o->status) fail_msg("%s", o->err);
    assert_contains(o->err, "init-embeddings: 20 of the 20 tokens' rows");
    o = weft_test_run(exe, NULL, "--quiet --threads 1 train --task lm --data '%s' --embed 10 "
                      "--epochs 1 --init-embeddings '%s' --save '%s'", tmp_path("corpus.txt"),
                      tmp_path("cli.bin"), tmp_path("lm.safetensors"));
    assert_int_equal(o->status, 1);
    assert_contains(o->err, "--init-embeddings: encoder.weight has shape [20, 10]");
    /* a bad file: exit 1 and a message naming it */
    weft_test_write_file(tmp_path("bad.txt"), "3 2\na 1 2\n", 10);
    o = weft_test_run(exe, NULL, "--quiet neighbors --vectors '%s' a", tmp_path("bad.txt"));
    assert_int_equal(o->status, 1);
    assert_contains(o->err, "bad.txt: line 1: the header claims");
    o = weft_test_run(exe, NULL, "--quiet word2vec --data x --save y --loss nce");
    assert_int_equal(o->status, 2);
    assert_contains(o->err, "--loss");
}

int main(void)
{
    exe = getenv("WEFT_EXE");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_update_gradient),
        cmocka_unit_test(test_hs_update_gradient),
        cmocka_unit_test(test_softmax_update_gradient),
        cmocka_unit_test(test_exp_table),
        cmocka_unit_test(test_vocabulary_order),
        cmocka_unit_test(test_huffman_codes),
        cmocka_unit_test(test_noise_table),
        cmocka_unit_test(test_keep_probability_and_lr),
        cmocka_unit_test(test_fast_path_equals_tape),
        cmocka_unit_test(test_one_thread_reproducible),
        cmocka_unit_test(test_trained_neighbours),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_neighbours_and_analogies),
        cmocka_unit_test(test_init_embedding),
        cmocka_unit_test(test_cli),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
