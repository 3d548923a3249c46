/* tests/test_ops.c — every op: gradients against finite differences (and
 * proof that the check catches a wrong backward), backward twice, broadcasting
 * by hand, narrow as a view, shape errors and their messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/examples.h"
#include "ops/op_table.h"
#include "weft/weft.h"

/* --- every op has examples, and every example's gradient is right ------------------------- */

static void test_every_op_has_an_example(void **state)
{
    (void)state;
    int n_ops, n_ex;
    const weft_op_desc *const *ops = weft_op_table(&n_ops);
    assert_true(n_ops >= 25);
    for (int i = 0; i < n_ops; i++) {
        int n;
        if (!weft_op_examples_for(ops[i]->name, &n)) print_error("no example for %s\n", ops[i]->name);
        assert_true(n >= 1);
    }
    const weft_op_example *ex = weft_op_examples(&n_ex);
    for (int k = 0; k < n_ex; k++) assert_non_null(weft_op_find(ex[k].op));
    /* the variants the brief asks for */
    int n;
    weft_op_examples_for("matmul", &n);
    assert_int_equal(n, 5);
    weft_op_examples_for("add", &n);
    assert_int_equal(n, 4);
    weft_op_examples_for("cross_entropy", &n);
    assert_int_equal(n, 2);
    assert_null(weft_op_examples_for("no_such_op", &n));
    assert_int_equal(n, 0);
}

static void test_gradcheck_every_example(void **state)
{
    (void)state;
    int n_ex, failed = 0;
    const weft_op_example *ex = weft_op_examples(&n_ex);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        for (int k = 0; k < n_ex; k++) {
            weft_gradcheck_result res;
            char err[512];
            int rc = weft_op_example_gradcheck(&ex[k], seed, NULL, &res, err, sizeof err);
            if (rc || !res.passed || res.checked < 1) {
                print_error("%s (%s), seed %d: %s, max rel error %g at node %d[%d]: "
                            "backward %g, numeric %g\n", ex[k].op, ex[k].variant, (int)seed,
                            rc ? err : "failed", res.max_rel_error, res.worst_node,
                            res.worst_index, res.worst_analytic, res.worst_numeric);
                failed++;
            }
            assert_true(rc || res.leaves >= 1);
        }
    }
    assert_int_equal(failed, 0);
}

/* --- a wrong backward must fail the check ------------------------------------------------------ */

/* square: y = x², whose backward below forgets the factor 2 of dy/dx = 2x. */
static void square_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    for (size_t i = 0; i < v->value.size; i++)
        v->value.data[i] = v->in[0]->value.data[i] * v->in[0]->value.data[i];
}

static void square_backward_right(weft_graph *g, weft_var *v)
{
    (void)g;
    for (size_t i = 0; i < v->value.size; i++)
        v->in[0]->grad.data[i] += 2.0f * v->in[0]->value.data[i] * v->grad.data[i];
}

static void square_backward_no_factor_2(weft_graph *g, weft_var *v)
{
    (void)g;
    for (size_t i = 0; i < v->value.size; i++)
        v->in[0]->grad.data[i] += v->in[0]->value.data[i] * v->grad.data[i];
}

/* xw: y = x W for x [rows, n] and a square W [n, n]; dx = dy Wᵀ. The wrong
 * backward uses W instead of Wᵀ: the shapes fit, only the numbers are wrong. */
static void xw_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const weft_tensor *x = &v->in[0]->value, *W = &v->in[1]->value;
    int rows = weft_tensor_rows(x), n = W->shape[0];
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int k = 0; k < n; k++) s += x->data[r * n + k] * W->data[k * n + j];
            v->value.data[r * n + j] = s;
        }
}

static void xw_backward(weft_graph *g, weft_var *v, bool transposed_wrongly)
{
    (void)g;
    const weft_tensor *W = &v->in[1]->value;
    int rows = weft_tensor_rows(&v->value), n = W->shape[0];
    float *dx = v->in[0]->grad.data;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++) {
            float s = 0.0f;   /* dx[r, k] = Σ_j dy[r, j] W[k, j] */
            for (int j = 0; j < n; j++)
                s += v->grad.data[r * n + j] * (transposed_wrongly ? W->data[j * n + k]
                                                                   : W->data[k * n + j]);
            dx[r * n + k] += s;
        }
}

static void xw_backward_right(weft_graph *g, weft_var *v)
{
    xw_backward(g, v, false);
}

static void xw_backward_transposed(weft_graph *g, weft_var *v)
{
    xw_backward(g, v, true);
}

static const weft_op_desc square_right = { "square", "x²", square_forward, square_backward_right };
static const weft_op_desc square_wrong = { "square", "x²", square_forward,
                                           square_backward_no_factor_2 };
static const weft_op_desc xw_right = { "xw", "xW", xw_forward, xw_backward_right };
static const weft_op_desc xw_wrong = { "xw", "xW", xw_forward, xw_backward_transposed };

/* Gradient-check sum(op(x[, W]) ⊙ w) and return the result. */
static weft_gradcheck_result check_private_op(const weft_op_desc *op, bool with_matrix)
{
    weft_rng r;
    weft_rng_seed(&r, 7);
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input_zeros(g, 2, (int[]){ 3, 4 }, "x", true);
    weft_rng_fill_uniform(&r, &x->value, -1.0f, 1.0f);
    weft_var *in[2] = { x, NULL };
    if (with_matrix) {
        in[1] = weft_input_zeros(g, 2, (int[]){ 4, 4 }, "W", false);
        weft_rng_fill_uniform(&r, &in[1]->value, -1.0f, 1.0f);
    }
    weft_var *y = weft_node_new(g, op, in, with_matrix ? 2 : 1, 2, (int[]){ 3, 4 });
    assert_non_null(y);
    op->forward(g, y);
    weft_var *w = weft_input_zeros(g, 2, (int[]){ 3, 4 }, "w", false);
    weft_rng_fill_uniform(&r, &w->value, -1.0f, 1.0f);
    weft_var *loss = weft_sum(g, weft_mul(g, y, w));
    weft_gradcheck_result res;
    assert_int_equal(weft_gradcheck(g, loss, NULL, &res), 0);
    weft_graph_free(g);
    return res;
}

static void test_gradcheck_catches_missing_factor_2(void **state)
{
    (void)state;
    weft_gradcheck_result right = check_private_op(&square_right, false);
    assert_true(right.passed);
    assert_true(right.max_rel_error < 1e-3);
    weft_gradcheck_result wrong = check_private_op(&square_wrong, false);
    assert_false(wrong.passed);
    /* half the gradient: a relative error of 1/2 */
    assert_true(wrong.max_rel_error > 0.4);
    assert_int_equal(wrong.worst_node, 0);
}

static void test_gradcheck_catches_transposed_matrix(void **state)
{
    (void)state;
    weft_gradcheck_result right = check_private_op(&xw_right, true);
    assert_true(right.passed);
    weft_gradcheck_result wrong = check_private_op(&xw_wrong, true);
    assert_false(wrong.passed);
    assert_true(wrong.max_rel_error > 0.1);
}

/* --- backward twice doubles every leaf's gradient ------------------------------------------- */

static void test_backward_twice_doubles(void **state)
{
    (void)state;
    int n_ex;
    const weft_op_example *ex = weft_op_examples(&n_ex);
    for (int k = 0; k < n_ex; k++) {
        weft_graph *g = weft_graph_new();
        weft_params *ps = weft_params_new();
        weft_rng r;
        weft_rng_seed(&r, 3);
        weft_var *loss = ex[k].build(g, ps, &r, ex[k].arg);
        assert_non_null(loss);
        assert_int_equal(weft_backward(g, loss), 0);
        /* every leaf that wants a gradient and is reached: copy its gradient */
        int n = weft_graph_size(g);
        float *first[64] = { 0 };
        assert_true(n <= 64);
        int leaves = 0;
        for (int i = 0; i < n; i++) {
            weft_var *v = weft_graph_node(g, i);
            if (v->op || !v->requires_grad || !weft_node_grad_ready(v)) continue;
            const weft_tensor *gr = weft_grad_of(g, v);
            assert_non_null(gr);
            first[i] = malloc(gr->size * sizeof(float));
            memcpy(first[i], gr->data, gr->size * sizeof(float));
            leaves++;
        }
        assert_true(leaves >= 1);
        assert_int_equal(weft_backward(g, loss), 0);
        for (int i = 0; i < n; i++) {
            if (!first[i]) continue;
            const weft_tensor *gr = weft_grad_of(g, weft_graph_node(g, i));
            for (size_t e = 0; e < gr->size; e++) {
                float want = 2.0f * first[i][e];
                if (fabsf(gr->data[e] - want) > 1e-5f * (1.0f + fabsf(want)))
                    fail_msg("%s (%s): leaf #%d[%zu] after two backwards %g, want 2 x %g",
                             ex[k].op, ex[k].variant, i, e, gr->data[e], first[i][e]);
            }
            free(first[i]);
        }
        weft_graph_free(g);
        weft_params_free(ps);
    }
}

/* --- broadcasting, by hand --------------------------------------------------------------------- */

static weft_var *leaf_of(weft_graph *g, int rank, const int *shape, const float *values,
                         const char *name)
{
    weft_var *v = weft_input_zeros(g, rank, shape, name, true);
    memcpy(v->value.data, values, v->value.size * sizeof(float));
    return v;
}

static void assert_values(const weft_tensor *t, const float *want, size_t n)
{
    assert_int_equal(t->size, n);
    for (size_t i = 0; i < n; i++)
        if (fabsf(t->data[i] - want[i]) > 1e-6f)
            fail_msg("element %zu: %g, want %g", i, t->data[i], want[i]);
}

static void test_broadcast_values_by_hand(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    const float A[6] = { 1, 2, 3, 4, 5, 6 };   /* [[1, 2, 3], [4, 5, 6]] */
    weft_var *a = leaf_of(g, 2, (int[]){ 2, 3 }, A, "a");
    weft_var *row = leaf_of(g, 1, (int[]){ 3 }, (float[]){ 10, 20, 30 }, "row");
    weft_var *row2 = leaf_of(g, 2, (int[]){ 1, 3 }, (float[]){ 10, 20, 30 }, "row2");
    weft_var *col = leaf_of(g, 2, (int[]){ 2, 1 }, (float[]){ 100, 200 }, "col");
    weft_var *one = leaf_of(g, 1, (int[]){ 1 }, (float[]){ 0.5f }, "one");
    weft_var *same = leaf_of(g, 2, (int[]){ 2, 3 }, (float[]){ 6, 5, 4, 3, 2, 1 }, "same");

    assert_values(weft_value(weft_add(g, a, row)), (float[]){ 11, 22, 33, 14, 25, 36 }, 6);
    assert_values(weft_value(weft_add(g, a, row2)), (float[]){ 11, 22, 33, 14, 25, 36 }, 6);
    assert_values(weft_value(weft_sub(g, a, col)), (float[]){ -99, -98, -97, -196, -195, -194 }, 6);
    assert_values(weft_value(weft_mul(g, a, one)), (float[]){ 0.5f, 1, 1.5f, 2, 2.5f, 3 }, 6);
    assert_values(weft_value(weft_mul(g, a, same)), (float[]){ 6, 10, 12, 12, 10, 6 }, 6);
    assert_values(weft_value(weft_mul(g, a, col)), (float[]){ 100, 200, 300, 800, 1000, 1200 }, 6);
    assert_values(weft_value(weft_sub(g, a, one)), (float[]){ 0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f }, 6);
    /* a rank-3 a [2, 1, 3] takes the same row */
    weft_var *a3 = leaf_of(g, 3, (int[]){ 2, 1, 3 }, A, "a3");
    assert_values(weft_value(weft_add(g, a3, row)), (float[]){ 11, 22, 33, 14, 25, 36 }, 6);
    assert_false(weft_graph_failed(g));
    weft_graph_free(g);
}

/* The gradient of a broadcast operand is the sum over what it was spread over. */
static void test_broadcast_gradients_by_hand(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    const float A[6] = { 1, 2, 3, 4, 5, 6 };
    weft_var *a = leaf_of(g, 2, (int[]){ 2, 3 }, A, "a");
    weft_var *row = leaf_of(g, 1, (int[]){ 3 }, (float[]){ 10, 20, 30 }, "row");
    weft_var *col = leaf_of(g, 2, (int[]){ 2, 1 }, (float[]){ 100, 200 }, "col");
    weft_var *one = leaf_of(g, 1, (int[]){ 1 }, (float[]){ 0.5f }, "one");
    /* L = Σ a⊙row + Σ (a - col) + Σ a⊙one */
    weft_var *loss = weft_add(g, weft_add(g, weft_sum(g, weft_mul(g, a, row)),
                                          weft_sum(g, weft_sub(g, a, col))),
                              weft_sum(g, weft_mul(g, a, one)));
    assert_int_equal(weft_backward(g, loss), 0);
    /* dL/drow = column sums of a; dL/dcol = -(number of columns); dL/done = Σ a */
    assert_values(weft_grad_of(g, row), (float[]){ 5, 7, 9 }, 3);
    assert_values(weft_grad_of(g, col), (float[]){ -3, -3 }, 2);
    assert_values(weft_grad_of(g, one), (float[]){ 21 }, 1);
    /* dL/da = row + 1 + 0.5 */
    assert_values(weft_grad_of(g, a), (float[]){ 11.5f, 21.5f, 31.5f, 11.5f, 21.5f, 31.5f }, 6);
    weft_graph_free(g);
}

/* --- shape errors ---------------------------------------------------------------------------------- */

static weft_graph *G;   /* the graph of the current shape-error test */

static weft_var *zeros(const char *name, int rank, const int *shape, bool rg)
{
    return weft_input_zeros(G, rank, shape, name, rg);
}
#define Z(...) zeros("z", (int)(sizeof((int[]){ __VA_ARGS__ }) / sizeof(int)), (int[]){ __VA_ARGS__ }, true)

/* The op returned NULL and the graph's first error holds every one of the
 * NULL-terminated substrings. Then resets the graph for the next case. */
static void expect_error(weft_var *result, ...)
{
    assert_null(result);
    const char *err = weft_graph_error(G);
    assert_non_null(err);
    va_list ap;
    va_start(ap, result);
    for (const char *want = va_arg(ap, const char *); want; want = va_arg(ap, const char *))
        if (!strstr(err, want)) fail_msg("error \"%s\" lacks \"%s\"", err, want);
    va_end(ap);
    /* a later op given the NULL returns NULL and keeps the first error */
    char first[512];
    snprintf(first, sizeof first, "%s", err);
    assert_null(weft_tanh(G, result));
    assert_null(weft_add(G, result, Z(2, 3)));
    assert_null(weft_matmul(G, Z(2, 3), Z(4, 5)));   /* a second real error... */
    assert_string_equal(weft_graph_error(G), first); /* ...does not replace the first */
    weft_graph_reset(G);
    assert_null(weft_graph_error(G));
}

/* narrow is a view: its value is the parent's memory, and consumers' gradients
 * land in the parent's gradient; X used both directly and through two
 * overlapping narrows gets every share, an op parent restarts from zero on a
 * second backward while a leaf parent accumulates. */
static void test_narrow_is_a_view(void **state)
{
    (void)state;
    weft_tensor tx = weft_tensor_alloc(3, (int[]){ 4, 2, 3 });
    for (size_t i = 0; i < tx.size; i++) tx.data[i] = 0.1f * (float)i - 1.0f;
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input(g, &tx, "x", true);
    weft_var *y = weft_scale(g, x, 2.0f);            /* an op parent */
    weft_var *a = weft_narrow(g, y, 1, 1);          /* y[1], [2, 3] */
    weft_var *b = weft_narrow(g, y, 1, 2);          /* y[1..2], [2, 2, 3] */
    weft_var *c = weft_narrow(g, b, 1, 1);          /* y[2] through a view of a view */
    assert_ptr_equal(a->value.data, y->value.data + 6);
    assert_ptr_equal(c->value.data, y->value.data + 12);
    assert_ptr_equal(a->view_of, y);
    /* loss = 3 Σ a + 5 Σ c + Σ (y ⊙ y) / 2 + 7 Σ narrow(x, 3) */
    weft_var *loss = weft_add(g, weft_add(g, weft_scale(g, weft_sum(g, a), 3.0f),
                                           weft_scale(g, weft_sum(g, c), 5.0f)),
                              weft_add(g, weft_scale(g, weft_sum(g, weft_mul(g, y, y)), 0.5f),
                                       weft_scale(g, weft_sum(g, weft_narrow(g, x, 3, 1)), 7.0f)));
    assert_non_null(loss);
    for (int pass = 1; pass <= 2; pass++) {
        assert_int_equal(weft_backward(g, loss), 0);
        const weft_tensor *dy = weft_grad_of(g, y), *dx = weft_grad_of(g, x);
        for (int i = 0; i < 24; i++) {
            int step = i / 6;
            float want_dy = y->value.data[i] + (step == 1 ? 3.0f : step == 2 ? 5.0f : 0.0f);
            float want_dx = 2.0f * want_dy + (step == 3 ? 7.0f : 0.0f);
            assert_float_equal(dy->data[i], want_dy, 1e-5f);            /* op: from zero */
            assert_float_equal(dx->data[i], pass * want_dx, 1e-4f);     /* leaf: adds up */
        }
    }
    assert_null(weft_graph_error(g));
    weft_graph_free(g);
    weft_tensor_release(&tx);
}

/* sum over many blocks: the plain double sum to 1e-7, the same bits on 1 and
 * 2 threads, and a backward of ones; mean the same over n. */
static void test_sum_of_many(void **state)
{
    (void)state;
    enum { N = 100003 };   /* 25 blocks of 4096 and a part */
    weft_tensor t = weft_tensor_alloc1(N);
    weft_rng rng;
    weft_rng_seed(&rng, 17);
    weft_rng_fill_uniform(&rng, &t, -1.0f, 2.0f);
    double plain = 0.0;
    for (int i = 0; i < N; i++) plain += t.data[i];
    float got[2];
    int before = weft_num_threads();
    for (int k = 0; k < 2; k++) {
        weft_set_num_threads(k + 1);
        weft_graph *g = weft_graph_new();
        weft_var *x = weft_input(g, &t, "x", true);
        weft_var *s = weft_sum(g, x), *m = weft_mean(g, x);
        got[k] = s->value.data[0];
        assert_float_equal(m->value.data[0], plain / N, 1e-7 * fabs(plain / N));
        assert_int_equal(weft_backward(g, s), 0);
        for (int i = 0; i < N; i += 997) assert_float_equal(x->grad.data[i], 1.0f, 0.0f);
        weft_graph_free(g);
    }
    weft_set_num_threads(before);
    assert_float_equal(got[0], plain, 1e-7 * fabs(plain));
    assert_memory_equal(&got[0], &got[1], sizeof(float));
    weft_tensor_release(&t);
}

/* slice and stack past the parallel threshold, on 1 and 2 threads, against
 * values worked out here: stack(x, y, x) with x twice (its two gradient
 * shares add up, whichever thread has which elements), a slice of columns
 * [300, 700) of a [64, 1024] op node (its gradient zeroed, then added into). */
static void test_copies_on_threads(void **state)
{
    (void)state;
    enum { R = 64, C = 1024, S0 = 300, L = 400 };
    weft_tensor tx = weft_tensor_alloc2(R, C), ty = weft_tensor_alloc2(R, C);
    weft_rng rng;
    weft_rng_seed(&rng, 23);
    weft_rng_fill_uniform(&rng, &tx, -1.0f, 1.0f);
    weft_rng_fill_uniform(&rng, &ty, -1.0f, 1.0f);
    int before = weft_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        weft_set_num_threads(threads);
        weft_graph *g = weft_graph_new();
        weft_var *x = weft_input(g, &tx, "x", true), *y = weft_input(g, &ty, "y", true);
        weft_var *st = weft_stack(g, (weft_var *[]){ x, y, x }, 3);
        /* loss = sum(st ⊙ w) with w = 1, 2, 3 on the three blocks: dx = 1 + 3, dy = 2 */
        weft_tensor tw = weft_tensor_alloc(3, (int[]){ 3, R, C });
        for (size_t i = 0; i < tw.size; i++) tw.data[i] = (float)(1 + i / ((size_t)R * C));
        weft_var *w = weft_input(g, &tw, "w", false);
        weft_var *xs = weft_scale(g, x, 1.0f);   /* an op node: its gradient is zeroed */
        weft_var *sl = weft_slice(g, xs, S0, L);
        weft_var *loss = weft_add(g, weft_sum(g, weft_mul(g, st, w)), weft_sum(g, sl));
        assert_non_null(loss);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < L; c++)
                assert_float_equal(sl->value.data[(size_t)r * L + c],
                                   tx.data[(size_t)r * C + S0 + c], 0.0f);
        assert_float_equal(st->value.data[2 * (size_t)R * C + 5], tx.data[5], 0.0f);
        assert_float_equal(st->value.data[(size_t)R * C + 7], ty.data[7], 0.0f);
        assert_int_equal(weft_backward(g, loss), 0);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) {
                size_t i = (size_t)r * C + c;
                float slice_part = c >= S0 && c < S0 + L ? 1.0f : 0.0f;
                assert_float_equal(x->grad.data[i], 4.0f + slice_part, 0.0f);
                assert_float_equal(y->grad.data[i], 2.0f, 0.0f);
            }
        weft_tensor_release(&tw);
        weft_graph_free(g);
    }
    weft_set_num_threads(before);
    weft_tensor_release(&tx);
    weft_tensor_release(&ty);
}

/* An op node's gradient is zeroed by each backward, just before the first op
 * adds into it; one the loss does not reach still ends at zero, though an
 * earlier backward (of another loss) left numbers in it. */
static void test_unreached_gradient_is_zero(void **state)
{
    (void)state;
    weft_tensor tx = weft_tensor_alloc(1, (int[]){ 3 });
    for (size_t i = 0; i < tx.size; i++) tx.data[i] = (float)i + 1.0f;
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input(g, &tx, "x", true);
    weft_var *y = weft_scale(g, x, 2.0f);
    weft_var *z = weft_scale(g, x, 3.0f);
    weft_var *both = weft_add(g, weft_sum(g, weft_mul(g, y, y)), weft_sum(g, z));
    weft_var *only_z = weft_sum(g, weft_mul(g, z, z));
    assert_non_null(only_z);
    assert_int_equal(weft_backward(g, both), 0);
    for (int i = 0; i < 3; i++) assert_float_equal(y->grad.data[i], 2.0f * y->value.data[i], 1e-6f);
    assert_int_equal(weft_backward(g, only_z), 0);
    for (int i = 0; i < 3; i++) {
        assert_float_equal(y->grad.data[i], 0.0f, 0.0f);               /* not reached */
        assert_float_equal(z->grad.data[i], 2.0f * z->value.data[i], 1e-6f);
    }
    assert_null(weft_graph_error(g));
    weft_graph_free(g);
    weft_tensor_release(&tx);
}

static void test_shape_errors(void **state)
{
    (void)state;
    G = weft_graph_new();
    expect_error(weft_matmul(G, Z(2, 3), Z(4, 5)), "matmul", "[2, 3]", "[4, 5]",
                 "inner dimensions 3 and 4 differ", NULL);
    expect_error(weft_matmul(G, Z(2, 3), Z(3, 4, 5)), "matmul", "[3, 4, 5]", "rank 2", NULL);
    expect_error(weft_matmul_ex(G, Z(2, 3, 4), true, Z(3, 5), false), "matmul", "[2, 3, 4]",
                 "must be matrices", NULL);
    expect_error(weft_matmul_ex(G, Z(2, 3), true, Z(2, 4), true), "matmul", "inner dimensions",
                 NULL);
    expect_error(weft_linear(G, Z(2, 3), Z(4, 5), NULL), "linear", "x [2, 3]", "W [4, 5]",
                 "[out, in] with in = 3", NULL);
    expect_error(weft_linear(G, Z(2, 3), Z(4, 3), Z(3)), "linear", "b [3]", "must be [4]", NULL);
    expect_error(weft_add(G, Z(2, 3), Z(3, 2)), "add", "[2, 3] and [3, 2]", "one row of 3",
                 "one column of 2", NULL);
    expect_error(weft_sub(G, Z(2, 3), Z(2)), "sub", "[2, 3] and [2]", NULL);
    expect_error(weft_mul(G, Z(4, 3), Z(2, 3)), "mul", "[4, 3] and [2, 3]", NULL);
    expect_error(weft_cross_entropy(G, Z(2, 3), (int[]){ 0, 3 }, NULL), "cross_entropy",
                 "[2, 3]", "target 3 of row 1", "[0, 3)", NULL);
    expect_error(weft_cross_entropy(G, Z(2, 3), NULL, NULL), "cross_entropy", "no targets", NULL);
    expect_error(weft_embedding(G, Z(5), (int[]){ 0 }, 1), "embedding", "[5]",
                 "[vocabulary, width]", NULL);
    expect_error(weft_embedding(G, Z(5, 2), (int[]){ 0, 5 }, 2), "embedding", "[5, 2]",
                 "id 5 at position 1", "[0, 5)", NULL);
    expect_error(weft_concat(G, (weft_var *[]){ Z(2, 3), Z(2, 1), Z(3, 1) }, 3), "concat",
                 "input 0 is [2, 3]", "input 2 is [3, 1]", "same 2 rows", NULL);
    expect_error(weft_slice(G, Z(2, 5), 3, 3), "slice", "[2, 5]", "[3, 6)", "[0, 5)", NULL);
    expect_error(weft_stack(G, (weft_var *[]){ Z(2, 3), Z(3, 2) }, 2), "stack", "[2, 3]",
                 "input 1 is [3, 2]", "one shape", NULL);
    expect_error(weft_stack(G, (weft_var *[]){ Z(1, 2, 3, 4) }, 1), "stack", "rank 5", NULL);
    expect_error(weft_narrow(G, Z(4, 2, 3), 3, 2), "narrow", "[4, 2, 3]", "[3, 5)", "[0, 4)",
                 NULL);
    expect_error(weft_reshape(G, Z(2, 3), 2, (int[]){ 4, 2 }), "reshape", "[2, 3]",
                 "6 elements", "[4, 2]", "8", NULL);
    expect_error(weft_dropout(G, Z(2, 3), zeros("m", 1, (int[]){ 2 }, false)), "dropout",
                 "x [2, 3]", "mask [2]", "one row of 3", NULL);
    expect_error(weft_dropout(G, Z(2, 3), Z(2, 3)), "dropout", "must not require a gradient",
                 NULL);
    weft_graph_free(G);
}

/* Ops that cannot get a bad shape still pass a NULL input on as NULL. */
static void test_null_inputs_propagate(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input_zeros(g, 2, (int[]){ 2, 3 }, "x", true);
    weft_var *none = NULL;
    assert_null(weft_matmul(g, none, x));
    assert_null(weft_linear(g, x, none, NULL));
    assert_null(weft_add(g, x, none));
    assert_null(weft_sub(g, none, x));
    assert_null(weft_mul(g, x, none));
    assert_null(weft_scale(g, none, 2.0f));
    assert_null(weft_one_minus(g, none));
    assert_null(weft_sigmoid(g, none));
    assert_null(weft_tanh(g, none));
    assert_null(weft_relu(g, none));
    assert_null(weft_exp(g, none));
    assert_null(weft_log(g, none));
    assert_null(weft_softmax(g, none));
    assert_null(weft_log_softmax(g, none));
    assert_null(weft_cross_entropy(g, none, (int[]){ 0, 0 }, NULL));
    assert_null(weft_embedding(g, none, (int[]){ 0 }, 1));
    assert_null(weft_concat(g, (weft_var *[]){ x, none }, 2));
    assert_null(weft_slice(g, none, 0, 1));
    assert_null(weft_stack(g, (weft_var *[]){ none, x }, 2));
    assert_null(weft_narrow(g, none, 0, 1));
    assert_null(weft_reshape(g, none, 1, (int[]){ 6 }));
    assert_null(weft_sum(g, none));
    assert_null(weft_mean(g, none));
    assert_null(weft_dropout(g, x, none));
    assert_null(weft_detach(g, none));
    /* NULL in, NULL out, no message of its own: nothing went wrong here */
    assert_false(weft_graph_failed(g));
    assert_int_equal(weft_graph_size(g), 1);
    weft_graph_free(g);
}

/* --- the masked softmax: padding gets exactly zero weight and zero gradient; the real
 * entries equal a softmax over them alone; bmm equals a loop of matmuls ----------------------- */

static void test_masked_softmax_padding(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    float xs[2 * 5] = { 0.3f, -1.2f, 2.0f, 0.5f, 7.0f, 1.0f, 0.0f, -1.0f, 3.0f, 2.5f };
    weft_tensor t = { .rank = 2, .shape = { 2, 5 }, .size = 10, .data = xs };
    weft_var *x = weft_input(g, &t, "x", true);
    weft_var *y = weft_masked_softmax(g, x, (int[]){ 3, 5 });
    weft_var *alone = weft_softmax(g, weft_input(g, &(weft_tensor){ .rank = 2, .shape = { 1, 3 },
                                                    .size = 3, .data = xs }, "x0", false));
    weft_tensor wt = { .rank = 2, .shape = { 2, 5 }, .size = 10,
                       .data = (float[]){ 1, 2, 3, 4, 5, -1, 2, 0.5f, 1, 3 } };
    weft_var *loss = weft_sum(g, weft_mul(g, y, weft_input(g, &wt, "w", false)));
    assert_false(weft_graph_failed(g));
    assert_int_equal(weft_backward(g, loss), 0);
    const float *p = y->value.data;
    for (int c = 0; c < 3; c++) assert_float_equal(p[c], alone->value.data[c], 1e-7);
    assert_true(p[3] == 0.0f && p[4] == 0.0f);   /* exactly zero, even for x = 7 */
    const weft_tensor *dx = weft_grad_of(g, x);
    assert_true(dx->data[3] == 0.0f && dx->data[4] == 0.0f);
    double s0 = 0, s1 = 0;
    for (int c = 0; c < 5; c++) s0 += p[c], s1 += p[5 + c];
    assert_float_equal(s0, 1.0, 1e-6);
    assert_float_equal(s1, 1.0, 1e-6);
    /* a length out of [1, cols] is an error naming the row */
    assert_null(weft_masked_softmax(g, x, (int[]){ 0, 5 }));
    assert_non_null(strstr(weft_graph_error(g), "row 0"));
    weft_graph_free(g);
}

static void test_bmm_equals_matmuls(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    weft_rng r;
    weft_rng_seed(&r, 5);
    /* both paths: plain loops for tiny products, BLIS from 32768 multiply-adds */
    for (int big = 0; big <= 1; big++) {
    int M = big ? 40 : 2, N = big ? 35 : 5, K = big ? 30 : 4;
    weft_var *a = weft_input_zeros(g, 3, (int[]){ 3, M, K }, "a", false);
    weft_var *b = weft_input_zeros(g, 3, (int[]){ 3, N, K }, "b", false);
    weft_rng_fill_uniform(&r, &a->value, -1, 1);
    weft_rng_fill_uniform(&r, &b->value, -1, 1);
    weft_var *c = weft_bmm(g, a, false, b, true);
    assert_non_null(c);
    assert_int_equal(c->value.shape[1], M);
    assert_int_equal(c->value.shape[2], N);
    for (int i = 0; i < 3; i++) {
        weft_var *ci = weft_matmul_ex(g, weft_narrow(g, a, i, 1), false, weft_narrow(g, b, i, 1),
                                      true);
        for (int k = 0; k < M * N; k++)
            assert_float_equal(ci->value.data[k], c->value.data[i * M * N + k], 1e-5);
    }
    if (big) break;
    assert_null(weft_bmm(g, a, false, b, false));   /* inner 4 against 5 */
    assert_non_null(strstr(weft_graph_error(g), "inner dimensions"));
    weft_graph_free(g);
    g = weft_graph_new();
    }
    weft_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_has_an_example),
        cmocka_unit_test(test_gradcheck_every_example),
        cmocka_unit_test(test_gradcheck_catches_missing_factor_2),
        cmocka_unit_test(test_gradcheck_catches_transposed_matrix),
        cmocka_unit_test(test_backward_twice_doubles),
        cmocka_unit_test(test_broadcast_values_by_hand),
        cmocka_unit_test(test_broadcast_gradients_by_hand),
        cmocka_unit_test(test_narrow_is_a_view),
        cmocka_unit_test(test_unreached_gradient_is_zero),
        cmocka_unit_test(test_sum_of_many),
        cmocka_unit_test(test_copies_on_threads),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_null_inputs_propagate),
        cmocka_unit_test(test_masked_softmax_padding),
        cmocka_unit_test(test_bmm_equals_matmuls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
