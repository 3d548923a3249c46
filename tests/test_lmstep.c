/* tests/test_lmstep.c — the language model's training step made faster:
 * the cross-entropy's row kernels against a reference in double (their sum
 * runs in float); the fused decoder + loss against the composed ops at a
 * shape that splits rows and columns over threads, bit for bit; the norm, the
 * clip and the optimizer step in two passes (weft_grad_norm_rows,
 * weft_clip_step) against weft_clip_grad_norm + weft_optim_step, bit for bit,
 * with and without the rows an embedding's gradient reaches; and a language
 * model's training windows (which skip the encoder rows a window does not
 * touch) against the same windows run step by step through the general path. */
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
#include "weft/lm.h"

static char err[512];

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

/* --- the norm, the clip and the step in two passes ------------------------------------------ */

/* A store over two blocks of the norm (8192 floats): "a" [7, 5], "emb"
 * [1000, 13] (rows not a multiple of 16 floats wide, so neighbouring rows
 * share 16-float groups) and "c" [9000]; values uniform; gradients uniform in
 * "a" and "c" and in the rows of emb listed, zero in its other rows. */
static const int emb_rows[] = { 0, 1, 5, 6, 7, 300, 629, 630, 631, 900, 999 };
enum { EMB_R = 1000, EMB_W = 13 };

static weft_params *sparse_store(uint64_t seed)
{
    weft_rng r;
    weft_rng_seed(&r, seed);
    weft_params *s = weft_params_new();
    weft_param *a = weft_params_add(s, "a", 2, (int[]){ 7, 5 });
    weft_param *e = weft_params_add(s, "emb", 2, (int[]){ EMB_R, EMB_W });
    weft_param *c = weft_params_add(s, "c", 1, (int[]){ 9000 });
    assert_true(a && e && c);
    weft_rng_fill_uniform(&r, &a->value, -1.0f, 1.0f);
    weft_rng_fill_uniform(&r, &e->value, -1.0f, 1.0f);
    weft_rng_fill_uniform(&r, &c->value, -1.0f, 1.0f);
    weft_rng_fill_uniform(&r, &a->grad, -1.0f, 1.0f);
    weft_rng_fill_uniform(&r, &c->grad, -1.0f, 1.0f);
    for (size_t k = 0; k < sizeof emb_rows / sizeof *emb_rows; k++)
        for (int j = 0; j < EMB_W; j++)
            e->grad.data[emb_rows[k] * EMB_W + j] = 2.0f * weft_rng_uniform(&r) - 1.0f;
    return s;
}

static void assert_same_store(weft_params *x, weft_params *y, int slots)
{
    size_t n = weft_params_span(x);
    assert_int_equal(n, weft_params_span(y));
    assert_memory_equal(weft_params_values(x), weft_params_values(y), n * sizeof(float));
    for (int k = 0; k < slots; k++)
        assert_memory_equal(weft_params_state(x, k), weft_params_state(y, k), n * sizeof(float));
}

/* Two steps of each optimizer, clipped and not: the two-pass step (told the
 * rows, or not, or told rows out of order, which it must ignore) leaves the
 * values and optimizer state of weft_clip_grad_norm + weft_optim_step, bit
 * for bit, and the norms agree, on 1 and 2 threads. */
static void two_pass_step_matches_clip_then_step(void **state)
{
    (void)state;
    weft_params *probe = sparse_store(1);
    weft_param *emb = weft_params_find(probe, "emb");
    weft_grad_rows rows = { emb, emb_rows, (int)(sizeof emb_rows / sizeof *emb_rows) };
    const int backwards[] = { 0, 5, 1, 9 };
    weft_grad_rows bad = { emb, backwards, 4 };
    float norm = weft_grad_norm(probe);
    assert_true(norm > 1.0f);
    weft_optim opts[] = {
        weft_optim_sgd(0.5), weft_optim_sgd_momentum(0.5, 0.9), weft_optim_adam(0.01),
        weft_optim_adamw(0.01, 0.1), weft_optim_sgd(0.5),
    };
    opts[4].weight_decay = 0.01;
    int slots[] = { 0, 1, 2, 2, 0 };
    for (int threads = 1; threads <= 2; threads++) {
        weft_set_num_threads(threads);
        for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) {
            for (int variant = 0; variant < 6; variant++) {
                float clip = variant % 2 ? norm / 3.0f : 0.0f;   /* clipping or not */
                const weft_grad_rows *told = variant / 2 == 0 ? NULL : variant / 2 == 1 ? &rows
                                                                                     : &bad;
                weft_params *want = sparse_store(1), *got = sparse_store(1);
                weft_optim ow = opts[k], og = opts[k];
                for (int step = 0; step < 2; step++) {
                    float nw = clip > 0.0f ? weft_clip_grad_norm(want, clip)
                                           : weft_grad_norm(want);
                    assert_int_equal(weft_optim_step(&ow, want), 0);
                    float ng = weft_grad_norm_rows(got, told);
                    assert_memory_equal(&nw, &ng, sizeof nw);
                    assert_int_equal(weft_clip_step(&og, got, ng, clip, told), 0);
                    /* the clip scaled want's gradients in place; got's stay
                       as they were: give both the same ones for step 2 */
                    memcpy(weft_params_grads(want), weft_params_grads(got),
                           weft_params_span(got) * sizeof(float));
                }
                assert_int_equal(ow.step, og.step);
                assert_same_store(want, got, slots[k]);
                weft_params_free(want);
                weft_params_free(got);
            }
        }
    }
    weft_set_num_threads(1);
    weft_params_free(probe);
}

/* The rows matter: told fewer rows than the gradient has, the norm and plain
 * SGD's update come out different (so the tests above compare something). */
static void untold_rows_are_skipped(void **state)
{
    (void)state;
    weft_params *a = sparse_store(2), *b = sparse_store(2);
    weft_param *emb = weft_params_find(a, "emb");
    weft_grad_rows fewer = { emb, emb_rows, 4 };   /* rows 0, 1, 5, 6: not 7, 300, ... */
    assert_true(weft_grad_norm_rows(a, &fewer) < weft_grad_norm(a));
    weft_optim o1 = weft_optim_sgd(1.0), o2 = weft_optim_sgd(1.0);
    assert_int_equal(weft_clip_step(&o1, a, 1.0f, 0.0f, &fewer), 0);
    assert_int_equal(weft_clip_step(&o2, b, 1.0f, 0.0f, NULL), 0);
    const float *va = weft_params_values(a), *vb = weft_params_values(b);
    size_t row300 = emb->offset + 300 * EMB_W, row5 = emb->offset + 5 * EMB_W;
    assert_true(va[row300] != vb[row300]);   /* skipped in a */
    assert_true(va[row5] == vb[row5]);       /* told: updated in both */
    weft_params_free(a);
    weft_params_free(b);
}

/* --- a language model's windows ------------------------------------------------------------- */

enum { LM_V = 300, LM_T = 5, LM_B = 4 };

static weft_lm *lm_make(void)
{
    weft_vocab *v = weft_vocab_new();
    assert_non_null(v);
    for (int k = 0; k < LM_V; k++) {
        char tok[16];
        int len = snprintf(tok, sizeof tok, "w%d", k);
        assert_true(weft_vocab_add(v, tok, (size_t)len) >= 0);
    }
    weft_lm_config cfg = { .level = WEFT_TEXT_WORDS, .layers = 2, .hidden = 11, .embed = 13 };
    snprintf(cfg.cell, sizeof cfg.cell, "lstm");
    weft_lm *m = weft_lm_new(&cfg, v, err, sizeof err);
    if (!m) fail_msg("%s", err);
    weft_rng r;
    weft_rng_seed(&r, 3);
    assert_int_equal(weft_lm_init(m, &r, 0.0f), 0);
    return m;
}

/* Four windows through weft_lm_train_window (the encoder rows of each
 * window's ids only: at most 20 of 300) and through forward, backward,
 * weft_clip_grad_norm and weft_optim_step over the whole store: the same
 * weights, bit for bit, and the same norms; with the clip biting and without,
 * on 1 and 2 threads. */
static void lm_windows_match_the_general_path(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        weft_set_num_threads(threads);
        for (int clipping = 0; clipping < 2; clipping++) {
            float clip = clipping ? 0.05f : 0.0f;
            weft_lm *a = lm_make(), *b = lm_make();
            weft_graph *ga = weft_graph_new(), *gb = weft_graph_new();
            weft_state ca = { 0 }, cb = { 0 };
            weft_optim oa = weft_optim_sgd(1.0), ob = weft_optim_sgd(1.0);
            weft_rng r;
            weft_rng_seed(&r, 11);
            int in[LM_T * LM_B], tg[LM_T * LM_B];
            bool clipped = false;
            for (int w = 0; w < 4; w++) {
                for (int i = 0; i < LM_T * LM_B; i++) {
                    in[i] = (int)weft_rng_below(&r, LM_V);
                    tg[i] = (int)weft_rng_below(&r, LM_V);
                }
                weft_lm_step_info info;
                if (weft_lm_train_window(a, ga, in, tg, LM_T, LM_B, &ca, &oa, clip, NULL, &info,
                                         err, sizeof err))
                    fail_msg("%s", err);
                weft_graph_reset(gb);
                weft_params_zero_grad(b->params);
                weft_rnn_out out;
                weft_var *loss = weft_lm_forward(b, gb, in, tg, LM_T, LM_B, &cb, NULL, &out);
                assert_non_null(loss);
                assert_int_equal(weft_backward(gb, loss), 0);
                float norm = clip > 0.0f ? weft_clip_grad_norm(b->params, clip)
                                         : weft_grad_norm(b->params);
                assert_int_equal(weft_optim_step(&ob, b->params), 0);
                assert_int_equal(weft_state_detach(&out, &cb), 0);
                assert_memory_equal(&info.grad_norm, &norm, sizeof norm);
                clipped = clipped || (clip > 0.0f && norm > clip);
            }
            assert_true(clipped == (clip > 0.0f));
            assert_same_store(a->params, b->params, 0);
            weft_state_free(&ca);
            weft_state_free(&cb);
            weft_graph_free(ga);
            weft_graph_free(gb);
            weft_lm_free(a);
            weft_lm_free(b);
        }
    }
    weft_set_num_threads(1);
}

int main(void)
{
    weft_runtime_init(NULL, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cross_entropy_rows_match_double),
        cmocka_unit_test(fused_decoder_matches_composed_on_two_threads),
        cmocka_unit_test(two_pass_step_matches_clip_then_step),
        cmocka_unit_test(untold_rows_are_skipped),
        cmocka_unit_test(lm_windows_match_the_general_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
