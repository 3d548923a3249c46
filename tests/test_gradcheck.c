/* tests/test_gradcheck.c — can the gradient check be trusted (weft/gradcheck.h)?
 * It must catch a wrong backward (a dropped factor of 2, a matrix not
 * transposed) and must pass every built-in cell, stacked and bidirectional,
 * over 20 seeds: a user writing a new cell reads its verdict as the truth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weft/gradcheck.h"
#include "weft/ops.h"
#include "weft/rnn.h"
#include "src/internal.h"

/* --- deliberately wrong ops -------------------------------------------------------------- */

/* square: y = x², dy/dx = 2x; the wrong backward forgets the 2. */
static void square_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    for (size_t i = 0; i < v->value.size; i++)
        v->value.data[i] = v->in[0]->value.data[i] * v->in[0]->value.data[i];
}

static void square_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    for (size_t i = 0; i < v->value.size; i++)
        a->grad.data[i] += 2.0f * v->grad.data[i] * a->value.data[i];
}

static void square_backward_no_2(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    for (size_t i = 0; i < v->value.size; i++)
        a->grad.data[i] += v->grad.data[i] * a->value.data[i];
}

/* matvec: y [B, n] = x [B, n] Wᵀ, W [n, n]: dx = dy W, dW = dyᵀ x; the wrong
 * backward uses Wᵀ for dx (the transpose a hand-written backward forgets). */
static void matvec_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const weft_var *x = v->in[0], *W = v->in[1];
    int B = x->value.shape[0], n = x->value.shape[1];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            float s = 0.0f;
            for (int j = 0; j < n; j++) s += x->value.data[b * n + j] * W->value.data[i * n + j];
            v->value.data[b * n + i] = s;
        }
}

static void matvec_backward_with(weft_var *v, bool transposed_wrong)
{
    weft_var *x = v->in[0], *W = v->in[1];
    int B = x->value.shape[0], n = x->value.shape[1];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            float gy = v->grad.data[b * n + i];
            for (int j = 0; j < n; j++) {
                float w = transposed_wrong ? W->value.data[j * n + i] : W->value.data[i * n + j];
                x->grad.data[b * n + j] += gy * w;
                W->grad.data[i * n + j] += gy * x->value.data[b * n + j];
            }
        }
}

static void matvec_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    matvec_backward_with(v, false);
}

static void matvec_backward_transposed(weft_graph *g, weft_var *v)
{
    (void)g;
    matvec_backward_with(v, true);
}

static const weft_op_desc square_right = { "square", "x²", square_forward, square_backward };
static const weft_op_desc square_wrong = { "square", "x²", square_forward, square_backward_no_2 };
static const weft_op_desc matvec_right = { "matvec", "xWᵀ", matvec_forward, matvec_backward };
static const weft_op_desc matvec_wrong = { "matvec", "xWᵀ", matvec_forward,
                                           matvec_backward_transposed };

/* loss = sum(r ⊙ op(...)) over random leaves; the check's verdict. */
static bool check_op(const weft_op_desc *op, bool binary, uint64_t seed,
                     weft_gradcheck_result *res)
{
    enum { B = 3, N = 4 };
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_graph *g = weft_graph_new();
    weft_tensor x = weft_tensor_alloc2(B, N), w = weft_tensor_alloc2(N, N),
                r = weft_tensor_alloc2(B, N);
    weft_rng_fill_uniform(&rng, &x, -1, 1);
    weft_rng_fill_uniform(&rng, &w, -1, 1);
    weft_rng_fill_uniform(&rng, &r, -1, 1);
    weft_var *in[2] = { weft_input(g, &x, "x", true), weft_input(g, &w, "W", true) };
    weft_var *y = weft_node_new(g, op, in, binary ? 2 : 1, 2, (int[]){ B, N });
    assert_non_null(y);
    op->forward(g, y);
    weft_var *loss = weft_sum(g, weft_mul(g, y, weft_input(g, &r, "r", false)));
    assert_int_equal(weft_gradcheck(g, loss, NULL, res), 0);
    weft_graph_free(g);
    weft_tensor_release(&x);
    weft_tensor_release(&w);
    weft_tensor_release(&r);
    return res->passed;
}

static void wrong_backwards_are_caught(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        weft_gradcheck_result res;
        if (!check_op(&square_right, false, seed, &res))
            fail_msg("seed %d: the right square fails (worst %g)", (int)seed, res.worst_ratio);
        if (check_op(&square_wrong, false, seed, &res))
            fail_msg("seed %d: a square without its 2 passes", (int)seed);
        /* a factor of 2 is far beyond the tolerance, not at its edge */
        assert_true(res.worst_ratio > 10.0);
        if (!check_op(&matvec_right, true, seed, &res))
            fail_msg("seed %d: the right matvec fails (worst %g)", (int)seed, res.worst_ratio);
        if (check_op(&matvec_wrong, true, seed, &res))
            fail_msg("seed %d: a matvec with W for Wᵀ passes", (int)seed);
        assert_true(res.worst_ratio > 10.0);
    }
}

/* --- every built-in cell, stacked and bidirectional, 20 seeds ------------------------------ */

static bool check_cell(const weft_cell_type *t, uint64_t seed, weft_gradcheck_result *res,
                       char *why, size_t whysize)
{
    enum { T = 2, B = 2, I = 2, H = 3, L = 2 };
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_params *ps = weft_params_new();
    weft_rnn_config cfg = { .cell = t, .input_size = I, .hidden_size = H, .num_layers = L,
                            .bidirectional = true, .prefix = "rnn." };
    weft_rnn *rnn = weft_rnn_new(ps, &cfg, why, whysize);
    assert_non_null(rnn);
    weft_rnn_reset_parameters(rnn, &rng);
    weft_graph *g = weft_graph_new();
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I });
    weft_tensor w = weft_tensor_alloc(3, (int[]){ T, B, 2 * H });
    weft_rng_fill_uniform(&rng, &x, -1, 1);
    weft_rng_fill_uniform(&rng, &w, -1, 1);
    weft_rnn_out out;
    assert_int_equal(weft_unroll(g, rnn, weft_input(g, &x, "x", true), NULL, &out), 0);
    weft_var *loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, &w, "w", false)));
    weft_params_zero_grad(ps);
    assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .max_per_leaf = 2 }, res), 0);
    if (!res->passed) {
        weft_var *v = weft_graph_node(g, res->worst_node);
        snprintf(why, whysize, "%s element %d: backward %g, numeric %g (ratio %g)",
                 v && v->name ? v->name : "?", res->worst_index, res->worst_analytic,
                 res->worst_numeric, res->worst_ratio);
    }
    weft_graph_free(g);
    weft_tensor_release(&x);
    weft_tensor_release(&w);
    weft_rnn_free(rnn);
    weft_params_free(ps);
    return res->passed;
}

static void every_cell_passes_stacked_and_bidirectional(void **state)
{
    (void)state;
    int n;
    const weft_cell_type *const *all = weft_cell_types(&n);
    double worst = 0.0;
    for (int c = 0; c < n; c++)
        for (uint64_t seed = 1; seed <= 20; seed++) {
            weft_gradcheck_result res;
            char why[512];
            if (!check_cell(all[c], seed, &res, why, sizeof why))
                fail_msg("cell %s seed %d fails: %s", all[c]->name, (int)seed, why);
            if (res.worst_ratio > worst) worst = res.worst_ratio;
        }
    print_message("worst |backward - numeric| / allowed over %d cells x 20 seeds: %.3f\n", n,
                  worst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrong_backwards_are_caught),
        cmocka_unit_test(every_cell_passes_stacked_and_bidirectional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
