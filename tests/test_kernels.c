/* tests/test_kernels.c — the kernels behind the fused recurrent steps:
 * the vectorisable exp, sigmoid and tanh of ops/fastmath.h against libm (in
 * double) over the whole float range (1e-6 relative; results below 1e-37 count
 * as 0, where libm itself gives 0 or a subnormal); and the chained steps of one sequence
 * (W_hh transposed once, the weight gradient as one sgemm over all T·B rows
 * after the backward sweep) against the same steps run one by one, each with
 * its own per-step weight gradient, for the LSTM, GRU and Elman steps, with
 * the loss reaching every step or only the first ones; and the products with
 * a weight matrix packed once (src/matmul.h) against BLIS's sgemm, at shapes
 * with partial tiles, and in chains wide enough to take them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "weft/weft.h"
#include "src/matmul.h"
#include "ops/fastmath.h"
#include "src/vec.h"
#include "tests/rel_diff.h"

/* --- exp, sigmoid, tanh against libm ------------------------------------------------------- */

/* Relative error, with an absolute floor for results that underflow. */
static double err_of(float got, double want)
{
    return fabs((double)got - want) / (fabs(want) + 1e-30 / 1e-6);
}

/* Every float from -lim to lim, stepping by a relative 1e-4 (and through the
 * tiny ones near zero), plus the special values. */
static void test_fastmath_vs_libm(void **state)
{
    (void)state;
    double worst_e = 0, worst_s = 0, worst_t = 0;
    float at_e = 0, at_s = 0, at_t = 0;
    long n = 0;
    for (int sign = -1; sign <= 1; sign += 2) {
        for (float a = 1e-30f; a < 200.0f; a = a * 1.0001f + 1e-38f, n++) {
            float x = sign * a;
            double s = 1.0 / (1.0 + exp(-(double)x)), t = tanh((double)x), e = exp((double)x);
            double de = x > -87.0f && x < 88.0f ? err_of(weft_fast_expf(x), e) : 0.0;
            double ds = err_of(weft_fast_sigmoidf(x), s), dt = err_of(weft_fast_tanhf(x), t);
            if (de > worst_e) worst_e = de, at_e = x;
            if (ds > worst_s) worst_s = ds, at_s = x;
            if (dt > worst_t) worst_t = dt, at_t = x;
        }
    }
    printf("   %ld points: exp %.2g (x = %g), sigmoid %.2g (x = %g), tanh %.2g (x = %g)\n", n,
           worst_e, (double)at_e, worst_s, (double)at_s, worst_t, (double)at_t);
    assert_true(n > 1000000);
    assert_true(worst_e < 1e-6);
    assert_true(worst_s < 1e-6);
    assert_true(worst_t < 1e-6);

    /* saturation as libm: exactly 0, 1 and ±1 far out; exact at 0 */
    assert_true(weft_fast_sigmoidf(100.0f) == 1.0f);
    assert_true(weft_fast_sigmoidf(-100.0f) < 1e-37f && weft_fast_sigmoidf(-100.0f) >= 0.0f);
    assert_true(weft_fast_sigmoidf(0.0f) == 0.5f);
    assert_true(weft_fast_tanhf(50.0f) == 1.0f && weft_fast_tanhf(-50.0f) == -1.0f);
    assert_true(weft_fast_tanhf(INFINITY) == 1.0f && weft_fast_tanhf(-INFINITY) == -1.0f);
    assert_true(weft_fast_sigmoidf(INFINITY) == 1.0f);
    assert_true(weft_fast_sigmoidf(-INFINITY) >= 0.0f && weft_fast_sigmoidf(-INFINITY) < 1e-37f);
    assert_true(weft_fast_tanhf(0.0f) == 0.0f && weft_fast_expf(0.0f) == 1.0f);
    assert_true(weft_fast_expf(-100.0f) == 0.0f);
    assert_true(isnan(weft_fast_sigmoidf(NAN)) && isnan(weft_fast_tanhf(NAN)));
    assert_true(isnan(weft_fast_expf(NAN)));
    /* tanh is odd, σ(-x) = 1 - σ(x) */
    for (float x = 0.01f; x < 20.0f; x *= 1.37f) {
        assert_true(weft_fast_tanhf(-x) == -weft_fast_tanhf(x));
        assert_true(fabsf(weft_fast_sigmoidf(-x) - (1.0f - weft_fast_sigmoidf(x))) < 1e-7f);
    }
}

/* --- chained steps against single steps ---------------------------------------------------- */

enum { CELL_LSTM, CELL_GRU, CELL_RNN };

typedef struct run {
    weft_tensor dX, dW, db, dh0, dc0, out;
} run;

static void run_free(run *r)
{
    weft_tensor *t[] = { &r->dX, &r->dW, &r->db, &r->dh0, &r->dc0, &r->out };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) weft_tensor_release(t[i]);
}

static weft_tensor copy_of(const weft_tensor *t)
{
    weft_tensor c = weft_tensor_alloc(t->rank, t->shape);
    weft_tensor_copy(&c, t);
    return c;
}

/* T steps of one cell over the projection X [T, B, G·H] from (h0, c0).
 * chained: the steps are declared one sequence (weft_seq) and step t reads
 * weft_seq_input(g, seq, t), so the steps form a chain (checked: every step
 * joins it); otherwise step t reads weft_narrow(X, t, 1) times 1
 * (weft_scale), a plain [B, G·H] node, and every step does its own weight
 * gradient. The loss is the sum of the outputs
 * of the first `reach` steps times fixed weights (so no gradient is uniform).
 * Returns the outputs and every gradient. */
enum { X_LEAF, X_OP, X_OP_SHARED, X_STEP_SHARED, X_OP_LATER };

static run run_steps_x(int cell, int T, int B, int H, int reach, bool chained, uint64_t seed,
                       int x_mode, int backwards)
{
    int G = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_tensor tX = weft_tensor_alloc(3, (int[]){ T, B, G * H });
    weft_tensor tW = weft_tensor_alloc2(G * H, H), tb = weft_tensor_alloc1(G * H);
    weft_tensor th = weft_tensor_alloc2(B, H), tc = weft_tensor_alloc2(B, H);
    weft_tensor tmix = weft_tensor_alloc2(B, H);
    weft_rng_fill_uniform(&rng, &tX, -1.0f, 1.0f);
    /* nn.RNN's initial range: a contracting recurrence, where rounding
     * differences of the two sgemm orders do not grow from step to step */
    float k = 1.0f / sqrtf((float)H);
    weft_rng_fill_uniform(&rng, &tW, -k, k);
    weft_rng_fill_uniform(&rng, &tb, -k, k);
    weft_rng_fill_uniform(&rng, &th, -1.0f, 1.0f);
    weft_rng_fill_uniform(&rng, &tc, -1.0f, 1.0f);
    weft_rng_fill_uniform(&rng, &tmix, 0.5f, 1.5f);

    weft_graph *g = weft_graph_new();
    weft_var *X = weft_input(g, &tX, "X", true), *W = weft_input(g, &tW, "W_hh", true);
    weft_var *b = weft_input(g, &tb, "b_hh", true), *h = weft_input(g, &th, "h0", true);
    weft_var *c = weft_input(g, &tc, "c0", true), *mix = weft_input(g, &tmix, "mix", false);
    weft_var *h0 = h, *c0 = c, *loss = NULL;
    weft_var **outs = calloc((size_t)T, sizeof *outs);
    /* X_OP: the steps read an op node (whose gradient restarts each
     * backward); X_OP_SHARED: one the loss also reads directly, after the
     * steps on the tape (so its backward adds into X's gradient first) */
    weft_var *Xs = x_mode == X_LEAF ? X : weft_scale(g, X, 1.0f);
    weft_var *first_narrow = NULL;
    weft_seq *seq = chained ? weft_seq_new(g, Xs) : NULL;
    for (int t = 0; t < T; t++) {
        weft_var *xp = chained ? weft_seq_input(g, seq, t) : weft_narrow(g, Xs, t, 1);
        if (t == 0) first_narrow = xp;
        if (!chained) xp = weft_scale(g, xp, 1.0f);
        if (cell == CELL_LSTM) {
            weft_var *s = weft_lstm_step(g, xp, h, c, W, b);
            h = weft_narrow(g, s, 0, 1);
            c = weft_narrow(g, s, 1, 1);
        } else if (cell == CELL_GRU) {
            h = weft_gru_step(g, xp, h, W, b);
        } else {
            h = weft_rnn_tanh_step(g, xp, h, W, b);
        }
        outs[t] = h;
        if (t < reach) {
            weft_var *term = weft_sum(g, weft_mul(g, h, mix));
            loss = loss ? weft_add(g, loss, term) : term;
        }
    }
    assert_int_equal(weft_seq_chained(seq), chained ? T : 0);
    if (x_mode == X_OP_SHARED) loss = weft_add(g, loss, weft_scale(g, weft_sum(g, Xs), 0.25f));
    /* X_STEP_SHARED: the loss also reads step 0's narrow of X */
    if (x_mode == X_STEP_SHARED)
        loss = weft_add(g, loss, weft_scale(g, weft_sum(g, first_narrow), 0.25f));
    for (int pass = 0; pass < backwards; pass++) {
        assert_int_equal(weft_backward(g, loss), 0);
        /* X_OP_LATER: after the first backward, a new loss that also reads X */
        if (x_mode == X_OP_LATER && pass == 0)
            loss = weft_add(g, loss, weft_scale(g, weft_sum(g, Xs), 0.25f));
    }
    run r = {
        .dX = copy_of(weft_grad_of(g, X)), .dW = copy_of(weft_grad_of(g, W)),
        .db = copy_of(weft_grad_of(g, b)), .dh0 = copy_of(weft_grad_of(g, h0)),
        .dc0 = cell == CELL_LSTM ? copy_of(weft_grad_of(g, c0)) : weft_tensor_alloc1(1),
        .out = weft_tensor_alloc(3, (int[]){ T, B, H }),
    };
    if (cell != CELL_LSTM) r.dc0.data[0] = 0.0f;
    for (int t = 0; t < T; t++)
        memcpy(r.out.data + (size_t)t * B * H, outs[t]->value.data, (size_t)B * H * sizeof(float));
    assert_null(weft_graph_error(g));
    free(outs);
    weft_graph_free(g);
    weft_tensor *all[] = { &tX, &tW, &tb, &th, &tc, &tmix };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) weft_tensor_release(all[i]);
    return r;
}

static run run_steps(int cell, int T, int B, int H, int reach, bool chained, uint64_t seed)
{
    return run_steps_x(cell, T, B, H, reach, chained, seed, X_LEAF, 1);
}

/* rel_diff (tests/rel_diff.h) of two tensors of one size */
static double tensor_rel_diff(const weft_tensor *a, const weft_tensor *b)
{
    assert_int_equal(a->size, b->size);
    return rel_diff(a->data, b->data, a->size);
}

static void check_chain(int cell, int T, int B, int H, int reach)
{
    run a = run_steps(cell, T, B, H, reach, true, 7), s = run_steps(cell, T, B, H, reach, false, 7);
    const char *names[] = { "outputs", "dX", "dW_hh", "db_hh", "dh0", "dc0" };
    const weft_tensor *ta[] = { &a.out, &a.dX, &a.dW, &a.db, &a.dh0, &a.dc0 };
    const weft_tensor *ts[] = { &s.out, &s.dX, &s.dW, &s.db, &s.dh0, &s.dc0 };
    for (int k = 0; k < 6; k++) {
        double d = tensor_rel_diff(ta[k], ts[k]);
        if (!(d <= 1e-5))
            fail_msg("cell %d, T %d, B %d, H %d, loss on %d steps: %s of the chain differs from "
                     "single steps by %.3g", cell, T, B, H, reach, names[k], d);
    }
    /* the gradient really is there: not all zero */
    double norm = 0;
    for (size_t i = 0; i < a.dW.size; i++) norm += fabs(a.dW.data[i]);
    assert_true(norm > 1e-3);
    run_free(&a);
    run_free(&s);
}

/* The chain's dgates may live in X's gradient (chain_owns_dxp in
 * ops/recurrent.c): when X is an op only the steps read, yes; when the loss
 * reads X or one step's narrow of it too (also when that reader comes after a
 * first backward), or X is a leaf whose gradient adds up over two backwards,
 * no.
 * Each way the chain matches the single steps. */
static void test_chain_owns_dxp(void **state)
{
    (void)state;
    for (int cell = CELL_LSTM; cell <= CELL_RNN; cell++)
        for (int mode = X_LEAF; mode <= X_OP_LATER; mode++)
            for (int backwards = 1; backwards <= 2; backwards++) {
                int H = cell == CELL_LSTM ? 384 : 448, B = 33;
                run a = run_steps_x(cell, 3, B, H, 3, true, 11, mode, backwards);
                run s1 = run_steps_x(cell, 3, B, H, 3, false, 11, mode, backwards);
                const weft_tensor *ta[] = { &a.dX, &a.dW, &a.db, &a.dh0 };
                const weft_tensor *ts[] = { &s1.dX, &s1.dW, &s1.db, &s1.dh0 };
                for (int k = 0; k < 4; k++) {
                    double d = tensor_rel_diff(ta[k], ts[k]);
                    if (!(d <= 1e-5))
                        fail_msg("cell %d, X mode %d, %d backward(s): gradient %d of the chain "
                                 "differs from single steps by %.3g", cell, mode, backwards, k, d);
                }
                run_free(&a);
                run_free(&s1);
            }
}

/* Run cases once with each micro-kernel of the packed products this CPU
 * has (BLIS's, and weft's AVX-512 and AVX2 tiles of src/matmul_kernel*.c
 * where the CPU runs them), and with 'auto' where it chooses between two by
 * shape, then restore the default. */
static void each_kernel(void (*cases)(void))
{
    for (int k = WEFT_PACKED_BLIS; k < WEFT_PACKED_KERNELS; k++) {
        if (!weft_packed_kernel_select(k)) {
            print_message("  (this CPU cannot run %s: not tested)\n", weft_packed_kernel_name(k));
            continue;
        }
        if (k == WEFT_PACKED_AUTO) {
            if (!weft_packed_kernel_by_shape()) continue;   /* one of the above */
        } else {
            assert_int_equal(weft_gemm_kernel()->which, k);
        }
        cases();
    }
    weft_packed_kernel_select(-1);
}

static void chain_lstm_cases(void)
{
    check_chain(CELL_LSTM, 6, 3, 5, 6);
    check_chain(CELL_LSTM, 6, 3, 5, 2);   /* steps 2..5 never reached by backward */
    check_chain(CELL_LSTM, 1, 2, 3, 1);
    check_chain(CELL_LSTM, 5, 16, 64, 5); /* big enough for the threaded row loops */
    /* unpacked, H = 128: W_hh's rows 512 bytes apart, read through a padded
     * copy (H = 64 above reads W_hh in place) */
    assert_false(packed_worth(8, 128, 4 * 128));
    check_chain(CELL_LSTM, 4, 8, 128, 4);
    /* W_hh packed once for both per-step products (packed_worth: 33 rows,
     * 1536 x 384), the rows not a multiple of the micro-kernel's */
    assert_true(packed_worth(33, 4 * 384, 384) && packed_worth(33, 384, 4 * 384));
    check_chain(CELL_LSTM, 3, 33, 384, 3);
    check_chain(CELL_LSTM, 3, 33, 392, 3);   /* packed, H not a multiple of 16: gate tiles */
    /* the batch of the Zaremba models: with weft's tiles packed from 4 rows
     * (tiles of 10 rows with AVX-512, 5 with AVX2), through the gate tiles
     * at H = 256 and at H = 264 (not a multiple of 16: each gate packed to
     * 272 columns, the last group of 8 units; dh's 264 columns an odd number
     * of panels) */
    if (weft_gemm_kernel()->own)
        assert_true(packed_worth(20, 4 * 264, 264) && packed_worth(20, 264, 4 * 264) &&
                    packed_mr(20, 264) == (weft_gemm_kernel()->max_mr == 12 ? 10 : 5));
    check_chain(CELL_LSTM, 3, 20, 256, 3);
    check_chain(CELL_LSTM, 3, 20, 264, 2);
}

static void test_chain_lstm(void **state)
{
    (void)state;
    each_kernel(chain_lstm_cases);
}

static void chain_gru_cases(void)
{
    check_chain(CELL_GRU, 6, 3, 5, 6);
    check_chain(CELL_GRU, 6, 3, 5, 3);
    check_chain(CELL_GRU, 5, 16, 96, 5);
    check_chain(CELL_GRU, 4, 8, 128, 4);
    assert_true(packed_worth(40, 3 * 448, 448));
    check_chain(CELL_GRU, 3, 40, 448, 2);
}

static void test_chain_gru(void **state)
{
    (void)state;
    each_kernel(chain_gru_cases);
}

static void chain_rnn_cases(void)
{
    check_chain(CELL_RNN, 6, 3, 5, 6);
    check_chain(CELL_RNN, 6, 3, 5, 1);
    check_chain(CELL_RNN, 5, 64, 300, 5);
    check_chain(CELL_RNN, 4, 7, 600, 4);   /* weft's tiles: one of 7 rows */
}

static void test_chain_rnn(void **state)
{
    (void)state;
    each_kernel(chain_rnn_cases);
}

/* A chain gives the same bits on 1 and 2 threads (the padded-stride sgemms
 * of src/matmul.h and the one weight-gradient sgemm included). Batch 32 runs
 * BLIS's own threads on the per-step products; batch 20 at H = 200 splits
 * their rows between the threads (split_rows_worth, LSTM and GRU). */
static void test_chain_threads_bitwise(void **state)
{
    (void)state;
    assert_false(split_rows_worth(32, 4 * 160, 160));
    assert_true(split_rows_worth(20, 4 * 200, 200) && split_rows_worth(20, 200, 4 * 200));
    assert_true(split_rows_worth(20, 3 * 200, 200) && split_rows_worth(20, 200, 3 * 200));
    const int shapes[][2] = { { 32, 160 }, { 20, 200 } };   /* B, H */
    for (int si = 0; si < 2; si++)
        for (int cell = CELL_LSTM; cell <= CELL_RNN; cell++) {
            int B = shapes[si][0], H = shapes[si][1];
            weft_set_num_threads(1);
            run one = run_steps(cell, 4, B, H, 4, true, 11);
            weft_set_num_threads(2);
            run two = run_steps(cell, 4, B, H, 4, true, 11);
            const weft_tensor *a[] = { &one.out, &one.dX, &one.dW, &one.db, &one.dh0 };
            const weft_tensor *b[] = { &two.out, &two.dX, &two.dW, &two.db, &two.dh0 };
            for (int k = 0; k < 5; k++) {
                assert_int_equal(a[k]->size, b[k]->size);
                if (memcmp(a[k]->data, b[k]->data, a[k]->size * sizeof(float)) != 0)
                    fail_msg("cell %d, B %d, H %d: result %d differs between 1 and 2 threads",
                             cell, B, H, k);
            }
            run_free(&one);
            run_free(&two);
        }
    weft_set_num_threads(0);
}

/* With W_hh packed (src/matmul.h's packed products share C's tiles among the
 * threads), with each micro-kernel: B = 48 (BLIS's tiles of 6 rows, weft's
 * of 12) and B = 20 at H = 264 (weft's tiles only; BLIS's sgemm otherwise). */
static void packed_threads_cases(void)
{
    const int shapes[][2] = { { 48, 384 }, { 20, 264 } };   /* B, H */
    for (int si = 0; si < 2; si++) {
        int B = shapes[si][0], H = shapes[si][1];
        weft_set_num_threads(1);
        run one = run_steps(CELL_LSTM, 3, B, H, 3, true, 12);
        weft_set_num_threads(2);
        run two = run_steps(CELL_LSTM, 3, B, H, 3, true, 12);
        const weft_tensor *a[] = { &one.out, &one.dX, &one.dW, &one.db, &one.dh0, &one.dc0 };
        const weft_tensor *b[] = { &two.out, &two.dX, &two.dW, &two.db, &two.dh0, &two.dc0 };
        for (int k = 0; k < 6; k++)
            if (memcmp(a[k]->data, b[k]->data, a[k]->size * sizeof(float)) != 0)
                fail_msg("packed LSTM chain (B %d, H %d, %s): result %d differs between 1 and 2 "
                         "threads", B, H, weft_packed_kernel_name(weft_gemm_kernel()->which), k);
        run_free(&one);
        run_free(&two);
    }
    weft_set_num_threads(0);
}

static void test_packed_chain_threads_bitwise(void **state)
{
    (void)state;
    each_kernel(packed_threads_cases);
}

/* packed_gemm (B packed once, the micro-kernel on its tiles) against
 * bli_sgemm, C += A B onto a C that is not zero, B given as [K, N] or as
 * [N, K] (a weight used transposed); partial tiles in both directions (with
 * weft's tiles: every row count up to 12 once, 13 = 7 + 6, 25 = 5 x 5, 37 in
 * tiles of 10; an odd number of 16-column panels), a row stride of C wider
 * than N (the columns past N untouched), and 1 and 2 threads giving the same
 * bits; with each micro-kernel. */
static void packed_gemm_cases(void)
{
    const int shapes[][3] = { { 37, 1030, 300 }, { 64, 2048, 512 }, { 6, 16, 1 }, { 1, 17, 33 },
                              { 50, 512, 2048 }, { 2, 40, 7 }, { 3, 33, 5 }, { 4, 48, 9 },
                              { 5, 1000, 130 }, { 7, 100, 64 }, { 8, 31, 3 }, { 9, 64, 20 },
                              { 10, 80, 11 }, { 11, 50, 17 }, { 12, 96, 40 }, { 13, 70, 6 },
                              { 20, 650, 260 }, { 25, 100, 64 } };
    weft_rng rng;
    weft_rng_seed(&rng, 5);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2], ldc = N + 3;
        for (int trans = 0; trans <= 1; trans++) {
            weft_tensor A = weft_tensor_alloc2(M, K), B = weft_tensor_alloc2(trans ? N : K, trans ? K : N);
            weft_tensor C0 = weft_tensor_alloc2(M, ldc);
            weft_rng_fill_uniform(&rng, &A, -1.0f, 1.0f);
            weft_rng_fill_uniform(&rng, &B, -1.0f, 1.0f);
            weft_rng_fill_uniform(&rng, &C0, -1.0f, 1.0f);
            /* the reference: BLIS's own product onto a copy of C */
            float *want = malloc((size_t)M * ldc * sizeof(float));
            memcpy(want, C0.data, (size_t)M * ldc * sizeof(float));
            float one = 1.0f;
            bli_sgemm(BLIS_NO_TRANSPOSE, trans ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, M, N, K, &one,
                      A.data, K, 1, B.data, trans ? K : N, 1, &one, want, ldc, 1);
            packed_matrix P = { 0 };
            P.data = weft_aligned_alloc(packed_floats(K, N) * sizeof(float));
            float *Apack = weft_aligned_alloc(packed_a_floats(M, K) * sizeof(float));
            packed_pack(&P, B.data, trans, K, N);
            float *got[2];
            for (int th = 1; th <= 2; th++) {
                weft_set_num_threads(th);
                got[th - 1] = malloc((size_t)M * ldc * sizeof(float));
                memcpy(got[th - 1], C0.data, (size_t)M * ldc * sizeof(float));
                packed_gemm(M, A.data, K, &P, got[th - 1], ldc, Apack);
            }
            weft_set_num_threads(0);
            for (int m = 0; m < M; m++)
                for (int n = 0; n < ldc; n++) {
                    float g = got[0][(size_t)m * ldc + n], w = want[(size_t)m * ldc + n];
                    /* K terms of size <= 1: rounding grows like sqrt(K) */
                    if (!(fabsf(g - w) <= 1e-5f * sqrtf((float)K) * (1.0f + fabsf(w))))
                        fail_msg("%dx%dx%d (B %s): C[%d, %d] = %.7g, sgemm gives %.7g", M, N, K,
                                 trans ? "[N, K]" : "[K, N]", m, n, g, w);
                }
            if (memcmp(got[0], got[1], (size_t)M * ldc * sizeof(float)) != 0)
                fail_msg("%dx%dx%d: 1 and 2 threads differ", M, N, K);
            free(got[0]);
            free(got[1]);
            free(want);
            weft_aligned_free(P.data);
            weft_aligned_free(Apack);
            weft_tensor_release(&A);
            weft_tensor_release(&B);
            weft_tensor_release(&C0);
        }
    }
}

static void test_packed_gemm(void **state)
{
    (void)state;
    each_kernel(packed_gemm_cases);
}

/* weft's AVX-512 and AVX2 tiles sum each element of C as one chain of FMAs
 * over k from zero, so they give the same bits (20 rows: tiles of 10 and of
 * 5; 64 rows: 8 and 5 with a last of 4). Only where the CPU runs both. */
static void test_own_kernels_same_bits(void **state)
{
    (void)state;
    if (!weft_packed_kernel_available(WEFT_PACKED_AVX512) ||
        !weft_packed_kernel_available(WEFT_PACKED_AVX2)) {
        print_message("  (this CPU does not run both of weft's kernels: nothing to compare)\n");
        return;
    }
    const int shapes[][3] = { { 20, 800, 200 }, { 64, 1040, 130 }, { 3, 40, 9 } };
    weft_rng rng;
    weft_rng_seed(&rng, 8);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        weft_tensor A = weft_tensor_alloc2(M, K), B = weft_tensor_alloc2(K, N);
        weft_rng_fill_uniform(&rng, &A, -1.0f, 1.0f);
        weft_rng_fill_uniform(&rng, &B, -1.0f, 1.0f);
        float *got[2];
        for (int k = 0; k < 2; k++) {
            assert_true(weft_packed_kernel_select(k == 0 ? WEFT_PACKED_AVX512 : WEFT_PACKED_AVX2));
            packed_matrix P = { .data = weft_aligned_alloc(packed_floats(K, N) * sizeof(float)) };
            float *Apack = weft_aligned_alloc(packed_a_floats(M, K) * sizeof(float));
            packed_pack(&P, B.data, false, K, N);
            got[k] = calloc((size_t)M * N, sizeof(float));
            packed_gemm(M, A.data, K, &P, got[k], N, Apack);
            weft_aligned_free(P.data);
            weft_aligned_free(Apack);
        }
        if (memcmp(got[0], got[1], (size_t)M * N * sizeof(float)) != 0)
            fail_msg("%dx%dx%d: weft-avx512 and weft-avx2 differ", M, N, K);
        free(got[0]);
        free(got[1]);
        weft_tensor_release(&A);
        weft_tensor_release(&B);
    }
    weft_packed_kernel_select(-1);
}

/* Rows per tile: BLIS's MR; with weft's tiles the count that pads M least. */
static void test_packed_mr(void **state)
{
    (void)state;
    assert_true(weft_packed_kernel_select(WEFT_PACKED_BLIS));
    assert_false(weft_gemm_kernel()->own);
    assert_int_equal(packed_mr(20, 64), (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR,
                                                                   bli_gks_query_cntx()));
    /* M, then the rows a tile gets with AVX-512 (up to 12) and with AVX2 (up to 6) */
    const int want[][3] = { { 1, 1, 1 }, { 3, 3, 3 }, { 6, 6, 6 }, { 12, 12, 6 }, { 13, 7, 5 },
                            { 20, 10, 5 }, { 25, 5, 5 }, { 37, 10, 5 }, { 50, 10, 5 },
                            { 64, 8, 5 }, { 700, 10, 5 } };
    for (int k = WEFT_PACKED_AVX512; k <= WEFT_PACKED_AVX2; k++) {
        if (!weft_packed_kernel_select(k)) continue;
        int col = k == WEFT_PACKED_AVX512 ? 1 : 2;
        assert_true(weft_gemm_kernel()->own && weft_gemm_kernel()->nr == 16);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            if (packed_mr(want[i][0], 64) != want[i][col])
                fail_msg("%s: packed_mr(%d) = %d, expected %d", weft_packed_kernel_name(k),
                         want[i][0], packed_mr(want[i][0], 64), want[i][col]);
    }
    /* 'weft' is the best of weft's the CPU runs */
    if (weft_packed_kernel_select(WEFT_PACKED_OWN)) {
        assert_int_equal(weft_gemm_kernel()->which,
                         weft_packed_kernel_available(WEFT_PACKED_AVX512) ? WEFT_PACKED_AVX512
                                                                          : WEFT_PACKED_AVX2);
        assert_false(weft_packed_kernel_by_shape());
        assert_ptr_equal(packed_kernel(64, 2048), weft_gemm_kernel());
    }
    /* 'auto' on an AVX2 CPU: BLIS's 6-row tiles where they pad M about as
     * little as weft's and K is long, weft's elsewhere (src/matmul_kernel.c) */
    assert_true(weft_packed_kernel_select(WEFT_PACKED_AUTO));
    if (weft_packed_kernel_by_shape()) {
        const struct { int M, K; bool blis; } rule[] = {
            { 64, 512, true }, { 64, 2048, true }, { 66, 600, true }, { 64, 200, false },
            { 20, 2600, false }, { 50, 2048, false }, { 36, 512, true }, { 25, 4096, false },
        };
        for (size_t i = 0; i < sizeof rule / sizeof rule[0]; i++) {
            const gemm_kernel *k = packed_kernel(rule[i].M, rule[i].K);
            if (k->own == rule[i].blis)
                fail_msg("auto: %d rows, K %d on %s", rule[i].M, rule[i].K,
                         k->own ? "weft's tiles" : "BLIS's kernel");
            assert_int_equal(packed_mr(rule[i].M, rule[i].K), rule[i].blis ? 6 : 5);
        }
    } else {
        assert_ptr_equal(packed_kernel(64, 2048), weft_gemm_kernel());
    }
    weft_packed_kernel_select(-1);
}

/* weft_blis_context: KC raised to WEFT_BLIS_KC exactly where the core's L2
 * holds an MC x KC block of A in 60% of it; a product with K well past KC
 * (the sum grouped by KC) still the same bits on 1 and 2 threads, and within
 * rounding of BLIS's own blocking. */
static void test_blis_context(void **state)
{
    (void)state;
    cntx_t *own = bli_gks_query_cntx(), *ours = weft_blis_context();
    dim_t mc = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MC, own);
    dim_t kc = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, own);
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    bool raise = l2 > 0 && kc < WEFT_BLIS_KC &&
                 (double)mc * WEFT_BLIS_KC * sizeof(float) <= 0.6 * (double)l2;
    assert_int_equal(bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, ours),
                     raise ? WEFT_BLIS_KC : kc);
    print_message("  L2 %ld bytes, BLIS's MC %ld, KC %ld -> %ld\n", l2, (long)mc, (long)kc,
                  (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, ours));
    /* dW [300, 200] += dYᵀ X over 2500 rows, as a weight gradient is posed */
    int M = 300, N = 200, K = 2500;
    weft_rng rng;
    weft_rng_seed(&rng, 9);
    weft_tensor A = weft_tensor_alloc2(K, M), B = weft_tensor_alloc2(K, N);
    weft_rng_fill_uniform(&rng, &A, -1.0f, 1.0f);
    weft_rng_fill_uniform(&rng, &B, -1.0f, 1.0f);
    float *got[2], *want = calloc((size_t)M * N, sizeof(float));
    for (int th = 1; th <= 2; th++) {
        weft_set_num_threads(th);
        got[th - 1] = calloc((size_t)M * N, sizeof(float));
        sgemm_rowmajor(true, false, M, N, K, 1.0f, A.data, B.data, 1.0f, got[th - 1]);
    }
    weft_set_num_threads(0);
    float one = 1.0f;
    bli_sgemm(BLIS_TRANSPOSE, BLIS_NO_TRANSPOSE, M, N, K, &one, A.data, M, 1, B.data, N, 1, &one,
              want, N, 1);
    if (memcmp(got[0], got[1], (size_t)M * N * sizeof(float)) != 0)
        fail_msg("a %dx%dx%d product differs between 1 and 2 threads", M, N, K);
    for (size_t i = 0; i < (size_t)M * N; i++)
        if (!(fabsf(got[0][i] - want[i]) <= 1e-5f * sqrtf((float)K) * (1.0f + fabsf(want[i]))))
            fail_msg("C[%zu] = %.7g, BLIS's own blocking gives %.7g", i, got[0][i], want[i]);
    free(got[0]);
    free(got[1]);
    free(want);
    weft_tensor_release(&A);
    weft_tensor_release(&B);
}

/* Two backward passes over one graph: parameters' (here: leaves')
 * gradients double, which they do only if the chain forgets what the first
 * pass marked. */
static void test_chain_twice(void **state)
{
    (void)state;
    int T = 4, B = 2, H = 3;
    weft_rng rng;
    weft_rng_seed(&rng, 3);
    weft_tensor tX = weft_tensor_alloc(3, (int[]){ T, B, 4 * H }), tW = weft_tensor_alloc2(4 * H, H);
    weft_rng_fill_uniform(&rng, &tX, -1.0f, 1.0f);
    weft_rng_fill_uniform(&rng, &tW, -0.5f, 0.5f);
    weft_tensor zero = weft_tensor_alloc2(B, H);
    weft_tensor_fill(&zero, 0.0f);
    weft_graph *g = weft_graph_new();
    weft_var *X = weft_input(g, &tX, "X", false), *W = weft_input(g, &tW, "W_hh", true);
    weft_var *h = weft_input(g, &zero, "h0", false), *c = weft_input(g, &zero, "c0", false);
    weft_seq *seq = weft_seq_new(g, X);
    for (int t = 0; t < T; t++) {
        weft_var *s = weft_lstm_step(g, weft_seq_input(g, seq, t), h, c, W, NULL);
        h = weft_narrow(g, s, 0, 1);
        c = weft_narrow(g, s, 1, 1);
    }
    assert_int_equal(weft_seq_chained(seq), T);
    weft_var *loss = weft_sum(g, h);
    assert_int_equal(weft_backward(g, loss), 0);
    weft_tensor once = copy_of(weft_grad_of(g, W));
    assert_int_equal(weft_backward(g, loss), 0);
    const weft_tensor *twice = weft_grad_of(g, W);
    for (size_t i = 0; i < once.size; i++)
        assert_float_equal(twice->data[i], 2.0f * once.data[i], 1e-6f * (1.0f + fabsf(once.data[i])));
    weft_graph_free(g);
    weft_tensor_release(&once);
    weft_tensor_release(&tX);
    weft_tensor_release(&tW);
    weft_tensor_release(&zero);
}

/* src/vec.h's kernels (built for each vector width, the CPU's chosen at
 * load) give the bits of the plain loop, at every length and offset (the
 * vector loops' heads and tails), and the SGD and Adam steps over a store
 * the bits of their formulas written out, on 1 and 2 threads. */
static void test_vec_kernels_exact(void **state)
{
    (void)state;
    enum { N = 70 };
    float a[N], b[N], y[N], want[N];
    weft_rng rng;
    weft_rng_seed(&rng, 21);
    for (int i = 0; i < N; i++) {
        a[i] = weft_rng_uniform(&rng) * 4.0f - 2.0f;
        b[i] = weft_rng_uniform(&rng) * 4.0f - 2.0f;
    }
    const float s = 0.3f;
    for (int off = 0; off < 9; off++)
        for (int n = 0; off + n <= N; n += 1 + n / 8)
            for (int kind = 0; kind < 8; kind++) {
                const float *x = a + off, *z = b + off;
                for (int i = 0; i < n; i++) {
                    y[i] = want[i] = z[i];
                    switch (kind) {
                    case 0: want[i] = x[i] + z[i]; break;
                    case 1: want[i] = x[i] - z[i]; break;
                    case 2: want[i] = x[i] * z[i]; break;
                    case 3: want[i] = x[i] + s; break;
                    case 4: want[i] = x[i] - s; break;
                    case 5: want[i] = x[i] * s; break;
                    case 6: want[i] = z[i] - x[i]; break;        /* y += -1 · x */
                    default: want[i] = z[i] + x[i] * a[i]; break;   /* y += x ⊙ a */
                    }
                }
                switch (kind) {
                case 0: weft_vec_add(y, x, z, (size_t)n); break;
                case 1: weft_vec_sub(y, x, z, (size_t)n); break;
                case 2: weft_vec_mul(y, x, z, (size_t)n); break;
                case 3: weft_vec_add_s(y, x, s, (size_t)n); break;
                case 4: weft_vec_sub_s(y, x, s, (size_t)n); break;
                case 5: weft_vec_mul_s(y, x, s, (size_t)n); break;
                case 6: weft_vec_acc(y, x, -1.0f, (size_t)n); break;
                default: weft_vec_acc_mul(y, x, a, (size_t)n); break;
                }
                if (n && memcmp(y, want, (size_t)n * sizeof(float)) != 0)
                    fail_msg("vec kernel %d, offset %d, length %d: not the plain loop's bits",
                             kind, off, n);
            }

    /* the optimizers over a store past WEFT_PARALLEL_MIN floats */
    for (int kind = 0; kind < 3; kind++) {
        float *got[2] = { NULL, NULL };
        size_t span = 0;
        for (int th = 1; th <= 2; th++) {
            weft_set_num_threads(th);
            weft_params *ps = weft_params_new();
            weft_param *p = weft_params_add(ps, "w", 2, (int[]){ 130, 171 });
            assert_non_null(p);
            weft_rng r2;
            weft_rng_seed(&r2, 3);
            weft_rng_fill_uniform(&r2, &p->value, -1.0f, 1.0f);
            weft_rng_fill_uniform(&r2, &p->grad, -1.0f, 1.0f);
            size_t n = p->value.size;
            float *w0 = malloc(n * sizeof(float)), *g0 = malloc(n * sizeof(float));
            memcpy(w0, p->value.data, n * sizeof(float));
            memcpy(g0, p->grad.data, n * sizeof(float));
            weft_optim o = kind == 0 ? weft_optim_sgd(0.5) : kind == 1 ? weft_optim_sgd_momentum(0.5, 0.9)
                                                                      : weft_optim_adam(0.01);
            for (int step = 0; step < 2; step++) assert_int_equal(weft_optim_step(&o, ps), 0);
            /* the formulas, element by element (torch.optim's order) */
            float m1 = 0.0f, v1 = 0.0f;
            for (size_t i = 0; i < n; i++) {
                float w = w0[i], g = g0[i], buf = 0.0f;
                m1 = v1 = 0.0f;
                for (int step = 0; step < 2; step++) {
                    if (kind == 0) {
                        float d = g * 1.0f + 0.0f * w;
                        w -= 0.5f * d;
                    } else if (kind == 1) {
                        float d = g * 1.0f + 0.0f * w;
                        buf = step == 0 ? d : 0.9f * buf + 1.0f * d;
                        w -= 0.5f * buf;
                    } else {
                        double t = step + 1;
                        float p1 = w * 1.0f, gi = g * 1.0f + 0.0f * p1;
                        m1 = 0.9f * m1 + (float)(1.0 - 0.9) * gi;
                        v1 = 0.999f * v1 + (float)(1.0 - 0.999) * gi * gi;
                        float denom = sqrtf(v1) / (float)sqrt(1.0 - pow(0.999, t)) + 1e-8f;
                        w = p1 - (float)(0.01 / (1.0 - pow(0.9, t))) * (m1 / denom);
                    }
                }
                if (memcmp(&w, p->value.data + i, sizeof w) != 0)
                    fail_msg("optimizer %d, %d thread(s): element %zu is %.9g, the formula gives "
                             "%.9g", kind, th, i, p->value.data[i], w);
            }
            got[th - 1] = malloc(n * sizeof(float));
            memcpy(got[th - 1], p->value.data, n * sizeof(float));
            span = n;
            free(w0);
            free(g0);
            weft_params_free(ps);
        }
        assert_memory_equal(got[0], got[1], span * sizeof(float));
        free(got[0]);
        free(got[1]);
    }
    weft_set_num_threads(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fastmath_vs_libm),
        cmocka_unit_test(test_chain_lstm),
        cmocka_unit_test(test_chain_owns_dxp),
        cmocka_unit_test(test_chain_gru),
        cmocka_unit_test(test_chain_rnn),
        cmocka_unit_test(test_chain_twice),
        cmocka_unit_test(test_chain_threads_bitwise),
        cmocka_unit_test(test_packed_chain_threads_bitwise),
        cmocka_unit_test(test_packed_gemm),
        cmocka_unit_test(test_own_kernels_same_bits),
        cmocka_unit_test(test_packed_mr),
        cmocka_unit_test(test_blis_context),
        cmocka_unit_test(test_vec_kernels_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
