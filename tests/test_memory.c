/* tests/test_memory.c — the decoder and its loss as one op (linear_cross_entropy):
 * the same loss and gradients as linear followed by cross_entropy, bit for bit,
 * in about half the graph memory; and the language model built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

enum { ROWS = 12, IN = 6, OUT = 37 };

/* x [ROWS, IN] (an input asking for a gradient), W [OUT, IN] and b [OUT] in a
 * store, all uniform in [-1, 1) from seed; targets in [0, OUT). */
typedef struct problem {
    weft_params *ps;
    weft_param *W, *b;
    float x[ROWS * IN];
    int targets[ROWS];
} problem;

static void problem_init(problem *p, uint64_t seed)
{
    weft_rng r;
    weft_rng_seed(&r, seed);
    p->ps = weft_params_new();
    assert_non_null(p->ps);
    p->W = weft_params_add(p->ps, "W", 2, (int[]){ OUT, IN });
    p->b = weft_params_add(p->ps, "b", 1, (int[]){ OUT });
    assert_non_null(p->W);
    assert_non_null(p->b);
    weft_rng_fill_uniform(&r, &p->W->value, -1.0f, 1.0f);
    weft_rng_fill_uniform(&r, &p->b->value, -1.0f, 1.0f);
    for (int i = 0; i < ROWS * IN; i++) p->x[i] = 2.0f * (float)weft_rng_below(&r, 1000) / 1000 - 1;
    for (int i = 0; i < ROWS; i++) p->targets[i] = (int)weft_rng_below(&r, OUT);
}

/* The loss of one backward, the gradients it leaves in x, W and b, and the
 * graph memory it took. */
typedef struct outcome {
    float loss;
    float dx[ROWS * IN], dW[OUT * IN], db[OUT];
    size_t arena;
} outcome;

static outcome run(problem *p, bool fused, bool bias, const float *mask, int backwards)
{
    outcome o = { 0 };
    weft_graph *g = weft_graph_new();
    assert_non_null(g);
    weft_params_zero_grad(p->ps);
    weft_var *x = weft_input_zeros(g, 2, (int[]){ ROWS, IN }, "x", true);
    assert_non_null(x);
    memcpy(x->value.data, p->x, sizeof p->x);
    weft_var *W = weft_param_var(g, p->W), *b = bias ? weft_param_var(g, p->b) : NULL;
    weft_var *loss = fused ? weft_linear_cross_entropy(g, x, W, b, p->targets, mask)
                           : weft_cross_entropy(g, weft_linear(g, x, W, b), p->targets, mask);
    if (!loss) fail_msg("%s", weft_graph_error(g));
    for (int k = 0; k < backwards; k++) assert_int_equal(weft_backward(g, loss), 0);
    o.loss = weft_scalar(loss);
    memcpy(o.dx, x->grad.data, sizeof o.dx);
    memcpy(o.dW, p->W->grad.data, sizeof o.dW);
    memcpy(o.db, p->b->grad.data, sizeof o.db);
    o.arena = weft_graph_arena_used(g);
    weft_graph_free(g);
    return o;
}

static void assert_same(const outcome *a, const outcome *b)
{
    assert_memory_equal(&a->loss, &b->loss, sizeof a->loss);
    assert_memory_equal(a->dx, b->dx, sizeof a->dx);
    assert_memory_equal(a->dW, b->dW, sizeof a->dW);
    assert_memory_equal(a->db, b->db, sizeof a->db);
}

static void fused_matches_composed_bit_for_bit(void **state)
{
    (void)state;
    const float mask[ROWS] = { 1, 0, 1, 0.5f, 0, 1, 1, 1, 0.25f, 1, 0, 1 };
    for (uint64_t seed = 1; seed <= 3; seed++) {
        problem p;
        problem_init(&p, seed);
        for (int variant = 0; variant < 4; variant++) {
            bool bias = variant & 1;
            const float *m = variant & 2 ? mask : NULL;
            outcome composed = run(&p, false, bias, m, 1), fused = run(&p, true, bias, m, 1);
            assert_true(composed.loss > 0.0f);
            float norm = 0.0f;
            for (int i = 0; i < OUT * IN; i++) norm += composed.dW[i] * composed.dW[i];
            assert_true(norm > 0.0f);   /* there is a gradient to compare */
            assert_same(&composed, &fused);
        }
        weft_params_free(p.ps);
    }
}

/* The first backward overwrites the saved logits with their gradient; a
 * second one (without a forward between) must recompute them, and add the
 * same gradient again, as the composed graph does. */
static void a_second_backward_recomputes_the_logits(void **state)
{
    (void)state;
    problem p;
    problem_init(&p, 7);
    outcome composed = run(&p, false, true, NULL, 2), fused = run(&p, true, true, NULL, 2);
    assert_same(&composed, &fused);
    outcome once = run(&p, true, true, NULL, 1);
    assert_true(fused.dW[5] != once.dW[5]);   /* it did add twice */
    weft_params_free(p.ps);
}

/* One [ROWS, OUT] buffer where the composed graph holds two (the logits and
 * their gradient). */
static void fused_takes_one_logits_buffer_not_two(void **state)
{
    (void)state;
    problem p;
    problem_init(&p, 3);
    outcome composed = run(&p, false, true, NULL, 1), fused = run(&p, true, true, NULL, 1);
    size_t logits = (size_t)ROWS * OUT * sizeof(float);
    assert_true(composed.arena >= fused.arena + logits);
    weft_params_free(p.ps);
}

static void bad_shapes_and_targets_are_named(void **state)
{
    (void)state;
    problem p;
    problem_init(&p, 1);
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input_zeros(g, 2, (int[]){ ROWS, IN + 1 }, "x", true);
    assert_null(weft_linear_cross_entropy(g, x, weft_param_var(g, p.W), NULL, p.targets, NULL));
    assert_non_null(strstr(weft_graph_error(g), "linear_cross_entropy"));
    assert_non_null(strstr(weft_graph_error(g), "[12, 7]"));
    weft_graph_reset(g);
    x = weft_input_zeros(g, 2, (int[]){ ROWS, IN }, "x", true);
    p.targets[4] = OUT;
    assert_null(weft_linear_cross_entropy(g, x, weft_param_var(g, p.W), NULL, p.targets, NULL));
    assert_non_null(strstr(weft_graph_error(g), "target 37 of row 4"));
    weft_graph_reset(g);
    x = weft_input_zeros(g, 2, (int[]){ ROWS, IN }, "x", true);
    assert_null(weft_linear_cross_entropy(g, x, weft_param_var(g, p.W), NULL, NULL, NULL));
    assert_non_null(strstr(weft_graph_error(g), "no targets"));
    weft_graph_free(g);
    weft_params_free(p.ps);
}

/* The language model's loss (the fused op) against cross_entropy over the
 * logits it returns without targets: the same number and the same gradient
 * of every parameter. */
static void lm_loss_matches_the_composed_loss(void **state)
{
    (void)state;
    const char *text = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n";
    char err[512];
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "test", WEFT_TEXT_WORDS, &t, err,
                                             sizeof err), 0);
    weft_vocab *v = weft_vocab_build(&t, 1, 0, err, sizeof err);
    assert_non_null(v);
    int *ids = weft_tokens_encode(&t, v, err, sizeof err);
    assert_non_null(ids);
    weft_lm_config cfg = { .level = WEFT_TEXT_WORDS, .layers = 2, .hidden = 8, .embed = 5 };
    snprintf(cfg.cell, sizeof cfg.cell, "lstm");
    weft_lm *m = weft_lm_new(&cfg, v, err, sizeof err);
    if (!m) fail_msg("%s", err);
    weft_rng rng;
    weft_rng_seed(&rng, 5);
    assert_int_equal(weft_lm_init(m, &rng, 0.3f), 0);

    enum { T = 4, B = 3 };
    int in[T * B], tg[T * B];
    for (int i = 0; i < T * B; i++) {
        in[i] = ids[i];
        tg[i] = ids[i + 1];
    }
    size_t span = weft_params_span(m->params);
    float *grads[2], loss[2];
    weft_graph *g = weft_graph_new();
    for (int fused = 0; fused < 2; fused++) {
        weft_graph_reset(g);
        weft_params_zero_grad(m->params);
        weft_rnn_out out;
        weft_var *L = fused ? weft_lm_forward(m, g, in, tg, T, B, NULL, NULL, &out)
                            : weft_cross_entropy(g, weft_lm_forward(m, g, in, NULL, T, B, NULL,
                                                                    NULL, &out), tg, NULL);
        if (!L) fail_msg("%s", weft_graph_error(g));
        assert_int_equal(weft_backward(g, L), 0);
        loss[fused] = weft_scalar(L);
        grads[fused] = malloc(span * sizeof(float));
        memcpy(grads[fused], weft_params_grads(m->params), span * sizeof(float));
    }
    assert_true(loss[0] > 0.0f);
    assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);
    assert_memory_equal(grads[0], grads[1], span * sizeof(float));
    free(grads[0]);
    free(grads[1]);
    weft_graph_free(g);
    free(ids);
    weft_tokens_free(&t);
    weft_lm_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fused_matches_composed_bit_for_bit),
        cmocka_unit_test(a_second_backward_recomputes_the_logits),
        cmocka_unit_test(fused_takes_one_logits_buffer_not_two),
        cmocka_unit_test(bad_shapes_and_targets_are_named),
        cmocka_unit_test(lm_loss_matches_the_composed_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
