/* tests/test_dropout.c — dropout masks (weft/dropout.h): variational masks
 * repeat across steps where standard ones do not, embedding dropout drops
 * whole rows, masks average to 1, the same seed gives the same masks (on 1
 * and 2 threads, blocks of the parallel stream independent), the gradient
 * through embedding dropout; and the language model's two modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/dropout.h"
#include "weft/gradcheck.h"
#include "weft/lm.h"
#include "weft/ops.h"
#include "weft/runtime.h"

static char err[1024];

static bool same_floats(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* x_t ⊙ mask at T steps: with one variational mask every step's output is the
 * same; with a fresh mask per step they are not. */
static void variational_mask_is_reused_at_every_step(void **state)
{
    (void)state;
    enum { T = 6, B = 4, F = 16 };
    weft_graph *g = weft_graph_new();
    weft_rng rng;
    weft_rng_seed(&rng, 7);
    weft_var *x = weft_input_zeros(g, 2, (int[]){ B, F }, "x", false);
    for (int i = 0; i < B * F; i++) x->value.data[i] = 1.0f + (float)i;
    weft_var *vmask = weft_variational_mask(g, &rng, 0.5f, B, F);
    assert_non_null(vmask);
    assert_int_equal(vmask->value.rank, 2);
    weft_var *var[T], *std[T];
    for (int t = 0; t < T; t++) {
        var[t] = weft_dropout(g, x, vmask);
        std[t] = weft_dropout(g, x, weft_dropout_mask(g, &rng, 0.5f, 2, (int[]){ B, F }));
        assert_non_null(var[t]);
        assert_non_null(std[t]);
    }
    int std_equal = 0;
    for (int t = 1; t < T; t++) {
        assert_true(same_floats(var[t]->value.data, var[0]->value.data, B * F));
        std_equal += same_floats(std[t]->value.data, std[0]->value.data, B * F);
    }
    assert_int_equal(std_equal, 0);
    weft_graph_free(g);
}

/* The mask's values are 0 or 1/(1-p), zero a fraction p of the time, mean 1. */
static void mask_mean_is_one(void **state)
{
    (void)state;
    const float ps[] = { 0.1f, 0.3f, 0.5f, 0.8f };
    weft_graph *g = weft_graph_new();
    for (int k = 0; k < 4; k++) {
        float p = ps[k];
        weft_rng rng;
        weft_rng_seed(&rng, 100 + (uint64_t)k);
        weft_var *m = weft_dropout_mask(g, &rng, p, 2, (int[]){ 400, 500 });
        assert_non_null(m);
        double sum = 0.0;
        size_t zeros = 0;
        for (size_t i = 0; i < m->value.size; i++) {
            float v = m->value.data[i];
            if (v == 0.0f) zeros++;
            else assert_float_equal(v, 1.0f / (1.0f - p), 1e-6);
            sum += v;
        }
        double n = (double)m->value.size;
        assert_float_equal(sum / n, 1.0, 0.02);
        assert_float_equal((double)zeros / n, p, 0.005);
    }
    /* p == 0 keeps everything at 1; p outside [0, 1) is an error */
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    weft_var *m = weft_dropout_mask(g, &rng, 0.0f, 1, (int[]){ 100 });
    for (int i = 0; i < 100; i++) assert_float_equal(m->value.data[i], 1.0f, 0.0);
    assert_null(weft_dropout_mask(g, &rng, 1.0f, 1, (int[]){ 100 }));
    assert_non_null(strstr(weft_graph_error(g), "p 1 is not in [0, 1)"));
    weft_graph_free(g);
}

static void same_seed_same_masks(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    weft_rng a, b, c;
    weft_rng_seed(&a, 42);
    weft_rng_seed(&b, 42);
    weft_rng_seed(&c, 43);
    weft_var *ma = weft_variational_mask(g, &a, 0.4f, 8, 32);
    weft_var *mb = weft_variational_mask(g, &b, 0.4f, 8, 32);
    weft_var *mc = weft_variational_mask(g, &c, 0.4f, 8, 32);
    assert_true(same_floats(ma->value.data, mb->value.data, 8 * 32));
    assert_false(same_floats(ma->value.data, mc->value.data, 8 * 32));
    weft_graph_free(g);
}

/* A mask spanning many blocks of weft_rng_fill_uniform_blocks: the same bits
 * on 1 and 2 threads, the generator advanced by exactly two draws, each block
 * dropping about p of its elements, and no block a copy of another. */
static void big_masks_same_on_any_threads(void **state)
{
    (void)state;
    enum { B = 50, F = 4000 };   /* 200,000 elements: 49 blocks */
    const float p = 0.5f;
    weft_graph *g = weft_graph_new();
    weft_var *m[2];
    weft_rng after[2];
    for (int th = 1; th <= 2; th++) {
        weft_set_num_threads(th);
        weft_rng r;
        weft_rng_seed(&r, 7);
        m[th - 1] = weft_dropout_mask(g, &r, p, 2, (int[]){ B, F });
        after[th - 1] = r;
    }
    weft_set_num_threads(0);
    assert_true(same_floats(m[0]->value.data, m[1]->value.data, (size_t)B * F));
    weft_rng r;
    weft_rng_seed(&r, 7);
    weft_rng_u32(&r);
    weft_rng_u32(&r);
    assert_memory_equal(&r, &after[0], sizeof r);
    size_t blocks = (size_t)B * F / WEFT_RNG_BLOCK;
    for (size_t b = 0; b < blocks; b++) {
        const float *blk = m[0]->value.data + b * WEFT_RNG_BLOCK;
        int zeros = 0;
        for (int i = 0; i < WEFT_RNG_BLOCK; i++) zeros += blk[i] == 0.0f;
        /* binomial(4096, 0.5): sd 32; 6 sd */
        if (abs(zeros - WEFT_RNG_BLOCK / 2) > 192) fail_msg("block %zu drops %d of %d", b, zeros,
                                                             WEFT_RNG_BLOCK);
        if (b > 0) assert_false(same_floats(blk, blk - WEFT_RNG_BLOCK, WEFT_RNG_BLOCK));
    }
    weft_graph_free(g);
}

/* Every occurrence of a dropped word is a zero vector; kept rows are the
 * weight's rows times 1/(1-p). */
static void embedding_dropout_drops_whole_rows(void **state)
{
    (void)state;
    enum { V = 40, E = 5, N = 200 };
    const float p = 0.4f;
    weft_params *s = weft_params_new();
    weft_param *w = weft_params_add(s, "encoder.weight", 2, (int[]){ V, E });
    weft_rng rng;
    weft_rng_seed(&rng, 3);
    weft_init_uniform(w, &rng, 1.0f);
    for (int i = 0; i < V * E; i++)   /* no zero weights: a zero output means dropped */
        if (w->value.data[i] == 0.0f) w->value.data[i] = 0.5f;
    int ids[N];
    for (int i = 0; i < N; i++) ids[i] = (int)weft_rng_below(&rng, V);

    weft_graph *g = weft_graph_new();
    weft_var *wv = weft_param_var(g, w);
    weft_var *dropped = weft_embedding_dropout(g, wv, &rng, p);
    weft_var *x = weft_embedding(g, dropped, ids, N);
    assert_non_null(x);
    int state_of[V];   /* -1 unseen, 0 dropped, 1 kept */
    for (int v = 0; v < V; v++) state_of[v] = -1;
    int n_dropped = 0, n_kept = 0;
    for (int i = 0; i < N; i++) {
        const float *row = x->value.data + (size_t)i * E, *orig = w->value.data + ids[i] * E;
        bool zero = true;
        for (int e = 0; e < E; e++) zero = zero && row[e] == 0.0f;
        if (!zero)
            for (int e = 0; e < E; e++) assert_float_equal(row[e], orig[e] / (1.0f - p), 1e-6);
        int st = zero ? 0 : 1;
        if (state_of[ids[i]] < 0) {
            state_of[ids[i]] = st;
            if (zero) n_dropped++;
            else n_kept++;
        }
        assert_int_equal(state_of[ids[i]], st);   /* the same word, the same fate */
    }
    assert_true(n_dropped > 0);
    assert_true(n_kept > 0);
    /* p == 0: the weight itself */
    assert_ptr_equal(weft_embedding_dropout(g, wv, &rng, 0.0f), wv);
    weft_graph_free(g);
    weft_params_free(s);
}

/* The gradient through embedding dropout: kept rows get theirs scaled, dropped
 * rows none; finite differences agree. */
static void embedding_dropout_gradcheck(void **state)
{
    (void)state;
    enum { V = 7, E = 3, N = 12 };
    weft_params *s = weft_params_new();
    weft_param *w = weft_params_add(s, "encoder.weight", 2, (int[]){ V, E });
    weft_rng rng;
    weft_rng_seed(&rng, 11);
    weft_init_uniform(w, &rng, 1.0f);
    int ids[N];
    for (int i = 0; i < N; i++) ids[i] = i % V;
    weft_graph *g = weft_graph_new();
    weft_var *wv = weft_param_var(g, w);
    weft_var *mask = NULL;
    weft_var *x = weft_embedding(g, weft_embedding_dropout(g, wv, &rng, 0.5f), ids, N);
    for (int i = 0; i < weft_graph_size(g); i++) {
        weft_var *v = weft_graph_node(g, i);
        if (!v->op && v->name && strcmp(v->name, "dropout mask") == 0) mask = v;
    }
    assert_non_null(mask);
    /* a generic loss: sum of x ⊙ random weights, through tanh */
    weft_var *r = weft_input_zeros(g, 2, (int[]){ N, E }, "r", false);
    weft_rng_fill_uniform(&rng, &r->value, -1.0f, 1.0f);
    weft_var *loss = weft_sum(g, weft_tanh(g, weft_mul(g, x, r)));
    assert_non_null(loss);
    weft_params_zero_grad(s);
    weft_gradcheck_result res;
    assert_int_equal(weft_gradcheck(g, loss, NULL, &res), 0);
    if (!res.passed)
        fail_msg("gradcheck: max relative error %g at node %d index %d", res.max_rel_error,
                 res.worst_node, res.worst_index);
    assert_true(res.checked >= V * E);
    /* dropped rows get no gradient */
    int n_dropped = 0;
    for (int v = 0; v < V; v++)
        if (mask->value.data[v] == 0.0f) {
            n_dropped++;
            for (int e = 0; e < E; e++) assert_float_equal(w->grad.data[v * E + e], 0.0f, 0.0);
        }
    assert_true(n_dropped > 0 && n_dropped < V);
    weft_graph_free(g);
    weft_params_free(s);
}

/* --- the language model ---------------------------------------------------------------------- */

static const char *text = "the cat sat on the mat and the dog sat on the log\n"
                          "a cat and a dog and a mat and a log\n";

static weft_lm *make_lm(bool variational, float p, float p_embed)
{
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "test", WEFT_TEXT_WORDS, &t,
                                             err, sizeof err), 0);
    weft_vocab *v = weft_vocab_build(&t, 1, 0, err, sizeof err);
    assert_non_null(v);
    weft_tokens_free(&t);
    weft_lm_config cfg = { .level = WEFT_TEXT_WORDS, .layers = 3, .hidden = 6, .embed = 5,
                           .dropout = p, .variational = variational, .dropout_embed = p_embed };
    snprintf(cfg.cell, sizeof cfg.cell, "lstm");
    weft_lm *m = weft_lm_new(&cfg, v, err, sizeof err);
    if (!m) fail_msg("%s", err);
    weft_rng rng;
    weft_rng_seed(&rng, 5);
    assert_int_equal(weft_lm_init(m, &rng, 0.3f), 0);
    return m;
}

/* The masks weft_lm_forward applies, read off the graph: for every dropout
 * node, does its mask repeat over time? [T, B, F] masks are compared step by
 * step; the per-step [B, H] masks between layers are compared in order. */
static void lm_masks(bool variational)
{
    enum { T = 5, B = 3 };
    weft_lm *m = make_lm(variational, 0.5f, 0.0f);
    int inputs[T * B], targets[T * B];
    for (int i = 0; i < T * B; i++) {
        inputs[i] = i % m->vocab_size;
        targets[i] = (i + 1) % m->vocab_size;
    }
    weft_graph *g = weft_graph_new();
    weft_rng rng;
    weft_rng_seed(&rng, 9);
    weft_rnn_out out;
    weft_var *loss = weft_lm_forward(m, g, inputs, targets, T, B, NULL, &rng, &out);
    if (!loss) fail_msg("%s", weft_graph_error(g));
    int seq_masks = 0, seq_repeat = 0, step_masks = 0, step_repeat = 0;
    const weft_var *first_step_mask[8] = { 0 };
    int n_first = 0;
    for (int i = 0; i < weft_graph_size(g); i++) {
        weft_var *v = weft_graph_node(g, i);
        if (!v->op || strcmp(v->op->name, "dropout") != 0) continue;
        const weft_tensor *mk = &v->in[1]->value;
        if (mk->rank == 3) {
            size_t step = (size_t)mk->shape[1] * (size_t)mk->shape[2];
            assert_int_equal(mk->shape[0], T);
            seq_masks++;
            bool rep = true;
            for (int t = 1; t < T; t++)
                rep = rep && same_floats(mk->data + t * step, mk->data, step);
            seq_repeat += rep;
        } else {
            /* between layers: layer l's mask at step t; compare with step 0's */
            assert_int_equal(mk->rank, 2);
            step_masks++;
            int l = v->scope.layer;
            assert_true(l >= 0 && l < 8);
            if (v->scope.time == 0) {
                first_step_mask[l] = v->in[1];
                n_first++;
            } else {
                assert_non_null(first_step_mask[l]);
                step_repeat += same_floats(mk->data, first_step_mask[l]->value.data, mk->size);
            }
        }
    }
    assert_int_equal(seq_masks, 2);                 /* embedding output, rnn output */
    assert_int_equal(step_masks, T * 2);            /* 3 layers: 2 gaps, every step */
    assert_int_equal(n_first, 2);
    if (variational) {
        assert_int_equal(seq_repeat, 2);
        assert_int_equal(step_repeat, (T - 1) * 2);
    } else {
        assert_int_equal(seq_repeat, 0);
        assert_int_equal(step_repeat, 0);
    }
    weft_graph_free(g);
    weft_lm_free(m);
}

static void lm_variational_masks_repeat(void **state)
{
    (void)state;
    lm_masks(true);
}

static void lm_standard_masks_do_not_repeat(void **state)
{
    (void)state;
    lm_masks(false);
}

/* The loss of one training forward under both modes, with embedding dropout:
 * the same seed gives the same loss, evaluation (no generator) ignores both. */
static void lm_modes_train_save_and_load(void **state)
{
    (void)state;
    enum { T = 4, B = 2 };
    int inputs[T * B], targets[T * B];
    float loss[2][2], eval[2];
    for (int mode = 0; mode < 2; mode++) {
        weft_lm *m = make_lm(mode == 1, 0.3f, 0.25f);
        for (int i = 0; i < T * B; i++) {
            inputs[i] = (3 * i) % m->vocab_size;
            targets[i] = (3 * i + 1) % m->vocab_size;
        }
        weft_graph *g = weft_graph_new();
        weft_rnn_out out;
        for (int k = 0; k < 2; k++) {
            weft_rng rng;
            weft_rng_seed(&rng, 77);
            weft_graph_reset(g);
            weft_var *l = weft_lm_forward(m, g, inputs, targets, T, B, NULL, &rng, &out);
            if (!l) fail_msg("%s", weft_graph_error(g));
            loss[mode][k] = weft_scalar(l);
        }
        assert_float_equal(loss[mode][0], loss[mode][1], 0.0);
        weft_graph_reset(g);
        weft_var *l = weft_lm_forward(m, g, inputs, targets, T, B, NULL, NULL, &out);
        eval[mode] = weft_scalar(l);

        /* the mode and the embedding dropout survive a checkpoint */
        char path[] = "/tmp/weft-dropout-test-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(weft_lm_save(m, path, err, sizeof err), 0);
        weft_lm *back = weft_lm_load(path, err, sizeof err);
        if (!back) fail_msg("%s", err);
        assert_int_equal(back->cfg.variational, mode == 1);
        assert_float_equal(back->cfg.dropout_embed, 0.25f, 0.0);
        weft_lm_free(back);
        remove(path);
        weft_graph_free(g);
        weft_lm_free(m);
    }
    assert_float_equal(eval[0], eval[1], 0.0);      /* same weights, no dropout */
    assert_true(loss[0][0] != loss[1][0]);          /* the modes draw different masks */
    assert_true(loss[0][0] != eval[0]);

    /* a bad embedding dropout is refused with its name */
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "test", WEFT_TEXT_WORDS, &t,
                                             err, sizeof err), 0);
    weft_vocab *v = weft_vocab_build(&t, 1, 0, err, sizeof err);
    weft_tokens_free(&t);
    weft_lm_config cfg = { .level = WEFT_TEXT_WORDS, .layers = 1, .hidden = 4, .embed = 4,
                           .dropout_embed = 1.0f };
    snprintf(cfg.cell, sizeof cfg.cell, "lstm");
    assert_null(weft_lm_new(&cfg, v, err, sizeof err));
    assert_non_null(strstr(err, "embedding dropout 1 must be in [0, 1)"));
    weft_vocab_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(variational_mask_is_reused_at_every_step),
        cmocka_unit_test(mask_mean_is_one),
        cmocka_unit_test(same_seed_same_masks),
        cmocka_unit_test(big_masks_same_on_any_threads),
        cmocka_unit_test(embedding_dropout_drops_whole_rows),
        cmocka_unit_test(embedding_dropout_gradcheck),
        cmocka_unit_test(lm_variational_masks_repeat),
        cmocka_unit_test(lm_standard_masks_do_not_repeat),
        cmocka_unit_test(lm_modes_train_save_and_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
