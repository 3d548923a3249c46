/* tests/test_lmstep.c — the language model's training step made faster:
 * the cross-entropy's row kernels against a reference in double (their sum
 * runs in float); the fused decoder + loss against the composed ops at a
 * shape that splits rows and columns over threads, bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

/* --- the cross-entropy's rows against double precision ------------------------------------ */

/* Mean cross-entropy of logits x [rows, cols] against targets, and its
 * gradient into dx, in double with libm's exp; into p, what a float
 * computation may be off by in each gradient element: its softmax part
 * (softmax / rows) times 2e-6 (the float sum of the exps, the fast exp) plus
 * the rounding of lse and of x - lse, which the exp turns into relative
 * error. */
static double reference_ce(const float *x, const int *t, int rows, int cols, double *dx,
                           double *p)
{
    double total = 0.0;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        double m = xr[0], s = 0.0;
        for (int c = 1; c < cols; c++) m = xr[c] > m ? xr[c] : m;
        for (int c = 0; c < cols; c++) s += exp((double)xr[c] - m);
        double lse = m + log(s);
        total += lse - xr[t[r]];
        for (int c = 0; c < cols; c++) {
            /* the float lse and x - lse round at 6e-8 of their size */
            double rel = 2e-6 + 1.2e-7 * (fabs(lse) + fabs((double)xr[c] - lse));
            p[(size_t)r * cols + c] = rel * exp((double)xr[c] - lse) / rows;
            dx[(size_t)r * cols + c] = (exp((double)xr[c] - lse) - (c == t[r])) / rows;
        }
    }
    return total / rows;
}

/* Loss within 2e-6 relative of the reference, and every gradient element
 * within the bound reference_ce gives (relative to its softmax part: at the
 * target, softmax - 1 with a softmax near 1 is far smaller than the error of
 * the float softmax it is made of) plus 1e-7 of itself and 1e-12 absolute
 * (for those that underflow), for row widths around the kernels' 16 lanes and
 * a vocabulary's, logits from narrow to so wide that most terms underflow. */
static void cross_entropy_rows_match_double(void **state)
{
    (void)state;
    const int widths[] = { 1, 3, 15, 16, 17, 33, 1000, 10007 };
    const float spreads[] = { 1.0f, 8.0f, 100.0f };
    weft_rng r;
    weft_rng_seed(&r, 5);
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        for (size_t k = 0; k < sizeof spreads / sizeof *spreads; k++) {
            int rows = 6, cols = widths[w];
            weft_graph *g = weft_graph_new();
            weft_var *x = weft_input_zeros(g, 2, (int[]){ rows, cols }, "x", true);
            assert_non_null(x);
            weft_rng_fill_uniform(&r, &x->value, -spreads[k], spreads[k]);
            int t[6];
            for (int i = 0; i < rows; i++) t[i] = (int)weft_rng_below(&r, (uint32_t)cols);
            weft_var *loss = weft_cross_entropy(g, x, t, NULL);
            assert_non_null(loss);
            assert_int_equal(weft_backward(g, loss), 0);
            double *dx = malloc((size_t)rows * cols * sizeof *dx);
            double *p = malloc((size_t)rows * cols * sizeof *p);
            assert_true(dx && p);
            double want = reference_ce(x->value.data, t, rows, cols, dx, p);
            double got = weft_scalar(loss);
            if (fabs(got - want) > 2e-6 * fabs(want) + 1e-7)
                fail_msg("cols %d, spread %g: loss %.9g, reference %.9g", cols,
                         (double)spreads[k], got, want);
            for (size_t i = 0; i < (size_t)rows * cols; i++) {
                double d = x->grad.data[i];
                if (fabs(d - dx[i]) > p[i] + 1e-7 * fabs(dx[i]) + 1e-12)
                    fail_msg("cols %d, spread %g: dx[%zu] = %.9g, reference %.9g", cols,
                             (double)spreads[k], i, d, dx[i]);
            }
            free(dx);
            free(p);
            weft_graph_free(g);
        }
    }
}

/* --- the fused decoder and loss against the composed ops, threads splitting ----------------- */

enum { LROWS = 40, LIN = 24, LOUT = 1100 };

typedef struct lce_out {
    float loss, dx[LROWS * LIN], dW[LOUT * LIN], db[LOUT];
} lce_out;

static void lce_run(bool fused, int threads, lce_out *o)
{
    weft_set_num_threads(threads);
    weft_rng r;
    weft_rng_seed(&r, 17);
    weft_params *ps = weft_params_new();
    weft_param *W = weft_params_add(ps, "W", 2, (int[]){ LOUT, LIN });
    weft_param *b = weft_params_add(ps, "b", 1, (int[]){ LOUT });
    assert_non_null(W);
    assert_non_null(b);
    weft_rng_fill_uniform(&r, &W->value, -1.0f, 1.0f);
    weft_rng_fill_uniform(&r, &b->value, -1.0f, 1.0f);
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input_zeros(g, 2, (int[]){ LROWS, LIN }, "x", true);
    assert_non_null(x);
    weft_rng_fill_uniform(&r, &x->value, -1.0f, 1.0f);
    int t[LROWS];
    float mask[LROWS];
    for (int i = 0; i < LROWS; i++) {
        t[i] = (int)weft_rng_below(&r, LOUT);
        mask[i] = i % 7 == 3 ? 0.0f : 1.0f;
    }
    weft_var *Wv = weft_param_var(g, W), *bv = weft_param_var(g, b);
    weft_var *loss = fused ? weft_linear_cross_entropy(g, x, Wv, bv, t, mask)
                           : weft_cross_entropy(g, weft_linear(g, x, Wv, bv), t, mask);
    assert_non_null(loss);
    assert_int_equal(weft_backward(g, loss), 0);
    o->loss = weft_scalar(loss);
    memcpy(o->dx, x->grad.data, sizeof o->dx);
    memcpy(o->dW, W->grad.data, sizeof o->dW);
    memcpy(o->db, b->grad.data, sizeof o->db);
    weft_graph_free(g);
    weft_params_free(ps);
}

static void lce_same(const lce_out *a, const lce_out *b)
{
    assert_memory_equal(&a->loss, &b->loss, sizeof a->loss);
    assert_memory_equal(a->dx, b->dx, sizeof a->dx);
    assert_memory_equal(a->dW, b->dW, sizeof a->dW);
    assert_memory_equal(a->db, b->db, sizeof a->db);
}

/* 40 x 1100 logits: past the size at which rows and bias columns go to
 * threads; fused == composed and 1 thread == 2 threads, bit for bit. */
static void fused_decoder_matches_composed_on_two_threads(void **state)
{
    (void)state;
    static lce_out fused1, fused2, composed2;
    lce_run(true, 1, &fused1);
    lce_run(true, 2, &fused2);
    lce_run(false, 2, &composed2);
    float sum = 0.0f;
    for (int i = 0; i < LOUT; i++) sum += fabsf(fused1.db[i]);
    assert_true(sum > 0.0f);   /* a bias gradient to compare */
    lce_same(&fused1, &fused2);
    lce_same(&fused2, &composed2);
    weft_set_num_threads(1);
}

int main(void)
{
    weft_runtime_init(NULL, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cross_entropy_rows_match_double),
        cmocka_unit_test(fused_decoder_matches_composed_on_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
