/* tests/test_deferred.c — weight gradients deferred to the end of the
 * backward sweep (weft_defer_product, src/matmul.c): every gradient with the
 * deferral on against the same graph with it off (each op adding its own
 * per-step product), to 1e-5 of the largest element: linear and matmul (both
 * weight layouts) over many steps, a composed LSTM layer through
 * weft_unroll, products big enough to be cut into chunks and gathered,
 * linear's dx through its weight packed once per sweep (weft_sweep_memo)
 * and its forward through a parameter packed once per build
 * (weft_build_memo: a value changed in between, the gradient check), a
 * test op whose pieces lie side by side in one buffer or apart, and whose
 * weight is given products from two ops. Plus: a second backward doubles
 * the gradients, 1 and 2 threads give the same bits, an arena too small to
 * gather falls back to products piece by piece, and nothing is deferred
 * outside a sweep or onto a node that is not a leaf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "weft/weft.h"
#include "src/internal.h"
#include "src/matmul.h"   /* weft_defer_product, the memos */

#include "tests/rel_diff.h"


static double abs_sum(const float *a, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += fabs((double)a[i]);
    return s;
}

static float *copy_floats(const float *src, size_t n)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    memcpy(p, src, n * sizeof *p);
    return p;
}

/* --- linear and matmul over the steps of a recurrence ------------------------------------ */

/* The gradients of one run: every parameter's, then the input's. */
typedef struct grads {
    int n;
    float *g[16];
    size_t size[16];
    weft_defer_stats stats;
} grads;

static void grads_free(grads *r)
{
    for (int k = 0; k < r->n; k++) free(r->g[k]);
}

static void compare(const grads *a, const grads *b, const char *what)
{
    assert_int_equal(a->n, b->n);
    for (int k = 0; k < a->n; k++) {
        assert_int_equal(a->size[k], b->size[k]);
        double d = rel_diff(a->g[k], b->g[k], a->size[k]);
        if (!(d <= 1e-5)) fail_msg("%s: gradient %d differs by %.3g (relative)", what, k, d);
        assert_true(abs_sum(a->g[k], a->size[k]) > 1e-3);   /* really there */
    }
}

/* h_t = tanh(x_t Wᵀ + b + h_{t-1} U + x_t Vᵀ), loss = Σ_t Σ mix_t ⊙ h_t: W and b
 * through linear, U through matmul (B plain: dU += hᵀ dC), V through matmul
 * with B transposed (dV += dCᵀ x). With `linear_only` the steps are
 * independent, h_t = tanh(x_t Wᵀ + b). */
static grads run_steps(int T, int B, int I, int O, bool linear_only, bool defer, int backwards)
{
    weft_rng rng;
    weft_rng_seed(&rng, 5);
    weft_params *ps = weft_params_new();
    weft_param *W = weft_params_add(ps, "W", 2, (int[]){ O, I });
    weft_param *b = weft_params_add(ps, "b", 1, (int[]){ O });
    weft_param *U = weft_params_add(ps, "U", 2, (int[]){ O, O });
    weft_param *V = weft_params_add(ps, "V", 2, (int[]){ O, I });
    assert_non_null(V);
    float bound = 1.0f / sqrtf((float)(I + O));
    weft_param *all[] = { W, b, U, V };
    for (int k = 0; k < 4; k++) weft_rng_fill_uniform(&rng, &all[k]->value, -bound, bound);
    weft_params_zero_grad(ps);

    weft_tensor tx = weft_tensor_alloc(3, (int[]){ T, B, I });
    weft_tensor tmix = weft_tensor_alloc(3, (int[]){ T, B, O });
    weft_tensor th = weft_tensor_alloc2(B, O);
    weft_rng_fill_uniform(&rng, &tx, -1.0f, 1.0f);
    weft_rng_fill_uniform(&rng, &tmix, -1.0f, 1.0f);
    weft_rng_fill_uniform(&rng, &th, -0.5f, 0.5f);

    weft_graph *g = weft_graph_new();
    weft_graph_set_deferral(g, defer);
    weft_var *X = weft_input(g, &tx, "x", true), *h = weft_input(g, &th, "h0", false);
    weft_var *w = weft_param_var(g, W), *bb = weft_param_var(g, b);
    weft_var *u = weft_param_var(g, U), *v = weft_param_var(g, V);
    weft_var **hs = malloc((size_t)T * sizeof *hs);
    assert_non_null(hs);
    for (int t = 0; t < T; t++) {
        weft_var *x = weft_narrow(g, X, t, 1);
        weft_var *pre = weft_linear(g, x, w, bb);
        if (!linear_only)
            pre = weft_add(g, weft_add(g, pre, weft_matmul(g, h, u)),
                           weft_matmul_ex(g, x, false, v, true));
        hs[t] = h = weft_tanh(g, pre);
    }
    weft_var *loss = weft_sum(g, weft_mul(g, weft_stack(g, hs, T),
                                          weft_input(g, &tmix, "mix", false)));
    for (int k = 0; k < backwards; k++) assert_int_equal(weft_backward(g, loss), 0);
    assert_null(weft_graph_error(g));

    grads r = { .stats = weft_graph_defer_stats(g) };
    for (int k = 0; k < (linear_only ? 2 : 4); k++) {
        r.size[r.n] = all[k]->grad.size;
        r.g[r.n++] = copy_floats(all[k]->grad.data, all[k]->grad.size);
    }
    const weft_tensor *dx = weft_grad_of(g, X);
    r.size[r.n] = dx->size;
    r.g[r.n++] = copy_floats(dx->data, dx->size);

    free(hs);
    weft_graph_free(g);
    weft_params_free(ps);
    weft_tensor_release(&tx);
    weft_tensor_release(&tmix);
    weft_tensor_release(&th);
    return r;
}

static void test_steps_vs_plain(void **state)
{
    (void)state;
    /* the last: every step's dx through W packed once (64 rows, in x out = 2^19) */
    int shapes[][4] = { { 9, 4, 6, 5 }, { 1, 3, 2, 4 }, { 12, 16, 40, 72 }, { 4, 64, 512, 1024 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], B = shapes[s][1], I = shapes[s][2], O = shapes[s][3];
        grads on = run_steps(T, B, I, O, false, true, 1), off = run_steps(T, B, I, O, false, false, 1);
        char what[64];
        snprintf(what, sizeof what, "T %d B %d I %d O %d", T, B, I, O);
        compare(&on, &off, what);
        /* W, b, U, V each step; one product each for W, U, V; nothing when off */
        assert_int_equal(on.stats.records, 4 * T);
        assert_int_equal(on.stats.products, 3);
        assert_int_equal(off.stats.records, 0);
        grads_free(&on);
        grads_free(&off);
    }
}

/* Products big enough to be cut: p + q = 4096 floats a row gives chunks of
 * 512 rows or more; 12 steps of 100 rows make two chunks of 600, each
 * gathered from 6 pieces. */
static void test_chunks_vs_plain(void **state)
{
    (void)state;
    grads on = run_steps(12, 100, 16, 4080, true, true, 1);
    grads off = run_steps(12, 100, 16, 4080, true, false, 1);
    compare(&on, &off, "chunked");
    assert_int_equal(on.stats.records, 24);
    assert_int_equal(on.stats.products, 2);
    assert_int_equal(on.stats.gathered, 2);
    grads_free(&on);
    grads_free(&off);
}

/* Leaves' gradients accumulate: a second backward doubles them. */
static void test_twice_doubles(void **state)
{
    (void)state;
    grads once = run_steps(7, 5, 6, 8, false, true, 1), twice = run_steps(7, 5, 6, 8, false, true, 2);
    for (int k = 0; k < once.n; k++)
        for (size_t i = 0; i < once.size[k]; i++)
            assert_float_equal(twice.g[k][i], 2.0f * once.g[k][i],
                               1e-6f * (1.0f + fabsf(once.g[k][i])));
    assert_int_equal(twice.stats.records, 4 * 7);   /* the second flush had its own records */
    grads_free(&once);
    grads_free(&twice);
}

static void test_threads_bitwise(void **state)
{
    (void)state;
    weft_set_num_threads(1);
    grads one = run_steps(3, 400, 16, 4080, true, true, 1);
    grads small1 = run_steps(10, 32, 64, 256, false, true, 1);
    grads packed1 = run_steps(3, 64, 512, 1024, false, true, 1);
    weft_set_num_threads(2);
    grads two = run_steps(3, 400, 16, 4080, true, true, 1);
    grads small2 = run_steps(10, 32, 64, 256, false, true, 1);
    grads packed2 = run_steps(3, 64, 512, 1024, false, true, 1);
    weft_set_num_threads(1);
    for (int k = 0; k < one.n; k++)
        if (memcmp(one.g[k], two.g[k], one.size[k] * sizeof(float)) != 0)
            fail_msg("chunked: gradient %d differs between 1 and 2 threads", k);
    for (int k = 0; k < small1.n; k++)
        if (memcmp(small1.g[k], small2.g[k], small1.size[k] * sizeof(float)) != 0)
            fail_msg("recurrence: gradient %d differs between 1 and 2 threads", k);
    grads_free(&one);
    grads_free(&two);
    for (int k = 0; k < packed1.n; k++)
        if (memcmp(packed1.g[k], packed2.g[k], packed1.size[k] * sizeof(float)) != 0)
            fail_msg("packed dx: gradient %d differs between 1 and 2 threads", k);
    grads_free(&small1);
    grads_free(&small2);
    grads_free(&packed1);
    grads_free(&packed2);
}

/* --- a composed LSTM layer through weft_unroll -------------------------------------------- */

static grads run_lstm(bool composed, bool defer)
{
    enum { T = 8, B = 5, I = 6, H = 9, L = 2 };
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 8);
    weft_params *ps = weft_params_new();
    weft_rnn *rnn = weft_rnn_new(ps, &(weft_rnn_config){ .cell = &weft_cell_lstm, .input_size = I,
        .hidden_size = H, .num_layers = L, .prefix = "m." }, err, sizeof err);
    if (!rnn) fail_msg("%s", err);
    assert_int_equal(weft_rnn_reset_parameters(rnn, &rng), 0);
    weft_params_zero_grad(ps);
    weft_graph *g = weft_graph_new();
    weft_graph_set_deferral(g, defer);
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I }), w = weft_tensor_alloc(3, (int[]){ T, B, H });
    weft_rng_fill_uniform(&rng, &x, -1, 1);
    weft_rng_fill_uniform(&rng, &w, -1, 1);
    weft_var *xs = weft_input(g, &x, "x", true);
    weft_rnn_out out;
    if (weft_unroll(g, rnn, xs, &(weft_unroll_opts){ .composed = composed }, &out))
        fail_msg("%s", weft_graph_error(g));
    weft_var *loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, &w, "w", false)));
    assert_int_equal(weft_backward(g, loss), 0);
    grads r = { .stats = weft_graph_defer_stats(g) };
    for (int k = 0; k < weft_params_count(ps); k++) {
        weft_param *p = weft_params_at(ps, k);
        r.size[r.n] = p->grad.size;
        r.g[r.n++] = copy_floats(p->grad.data, p->grad.size);
    }
    const weft_tensor *dx = weft_grad_of(g, xs);
    r.size[r.n] = dx->size;
    r.g[r.n++] = copy_floats(dx->data, dx->size);
    weft_graph_free(g);
    weft_rnn_free(rnn);
    weft_params_free(ps);
    weft_tensor_release(&x);
    weft_tensor_release(&w);
    return r;
}

static void test_lstm_vs_plain(void **state)
{
    (void)state;
    grads on = run_lstm(true, true), off = run_lstm(true, false);
    compare(&on, &off, "composed LSTM");
    /* per layer and step: weight_ih, bias_ih, weight_hh, bias_hh */
    assert_int_equal(on.stats.records, 2 * 8 * 4);
    assert_int_equal(on.stats.products, 2 * 2);
    grads_free(&on);
    grads_free(&off);
    /* the fused path: its projection is one linear per layer, deferred alone */
    on = run_lstm(false, true);
    off = run_lstm(false, false);
    compare(&on, &off, "fused LSTM");
    grads_free(&on);
    grads_free(&off);
}

/* --- a test op: pieces side by side or apart --------------------------------------------- */

/* loss = Σ_ij W[i, j] (Lᵀ R)[i, j] over fixed L [rows, p] and R [rows, q]:
 * dW = dloss · Lᵀ R. Its backward hands the product to the engine in pieces
 * of uneven rows (fixed below) that either point into L and R themselves
 * (side by side: no gathering needed) or are copies in separate arena
 * buffers (apart: gathered). With the deferral off it adds them piece by
 * piece. */
enum { TP = 4080, TQ = 16 };   /* p + q = 4096: chunks of 512 rows or more */
static const int piece_rows[] = { 1, 300, 7, 250, 64, 2, 400, 33, 100 };
#define N_PIECES ((int)(sizeof piece_rows / sizeof piece_rows[0]))

typedef struct test_op_data {
    const float *L[N_PIECES], *R[N_PIECES];
    bool own_node_refused;   /* deferring onto the op's own node was refused */
} test_op_data;

static void naive_product(float *G, int p, int q, int k, const float *L, const float *R)
{
    for (int i = 0; i < p; i++)
        for (int r = 0; r < k; r++) {
            float l = L[(size_t)r * p + i];
            for (int j = 0; j < q; j++) G[(size_t)i * q + j] += l * R[(size_t)r * q + j];
        }
}

/* The value is not what the test looks at (only dW is), and would cost a
 * product of its own: 0. */
static void test_op_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    v->value.data[0] = 0.0f;
}

static void test_op_backward(weft_graph *g, weft_var *v)
{
    test_op_data *d = *(test_op_data **)weft_node_attrs(v);
    weft_var *W = v->in[0];
    assert_true(v->grad.data[0] == 1.0f);   /* the loss itself: no scaling needed */
    d->own_node_refused = !weft_defer_product(g, v, 1, d->L[0], 1, d->R[0], 1);
    for (int k = 0; k < N_PIECES; k++)
        if (!weft_defer_product(g, W, piece_rows[k], d->L[k], TP, d->R[k], TQ))
            naive_product(W->grad.data, TP, TQ, piece_rows[k], d->L[k], d->R[k]);
}

static const weft_op_desc test_op = { "test_pieces", "pieces", test_op_forward, test_op_backward };

/* dW through the test op: mode 0 side by side, 1 apart, 2 deferral off;
 * limit_arena: the arena may not grow once the graph is built. */
static float *run_pieces(int mode, bool limit_arena, weft_defer_stats *stats)
{
    int rows = 0;
    for (int k = 0; k < N_PIECES; k++) rows += piece_rows[k];
    weft_rng rng;
    weft_rng_seed(&rng, 9);
    weft_tensor tW = weft_tensor_alloc2(TP, TQ), tL = weft_tensor_alloc2(rows, TP),
                tR = weft_tensor_alloc2(rows, TQ);
    weft_rng_fill_uniform(&rng, &tW, -1, 1);
    weft_rng_fill_uniform(&rng, &tL, -1, 1);
    weft_rng_fill_uniform(&rng, &tR, -1, 1);
    weft_graph *g = weft_graph_new();
    weft_graph_set_deferral(g, mode != 2);
    weft_var *W = weft_input(g, &tW, "W", true);
    test_op_data d = { .own_node_refused = false };
    size_t at = 0;
    for (int k = 0; k < N_PIECES; k++) {
        size_t nl = (size_t)piece_rows[k] * TP, nr = (size_t)piece_rows[k] * TQ;
        d.L[k] = tL.data + at * TP;
        d.R[k] = tR.data + at * TQ;
        if (mode == 1) {
            float *l = weft_graph_alloc(g, nl * sizeof(float));
            float *r = weft_graph_alloc(g, nr * sizeof(float));
            assert_non_null(l);
            assert_non_null(r);
            d.L[k] = memcpy(l, d.L[k], nl * sizeof(float));
            d.R[k] = memcpy(r, d.R[k], nr * sizeof(float));
        }
        at += (size_t)piece_rows[k];
    }
    weft_var *v = weft_node_new(g, &test_op, &W, 1, 1, (int[]){ 1 });
    assert_non_null(v);
    *(test_op_data **)weft_node_attrs(v) = &d;   /* the test op's one attribute */
    test_op_forward(g, v);
    if (limit_arena) {
        /* room for W's gradient (0.25 MB), not for a gathered chunk (10 MB) */
        size_t need = (size_t)TP * TQ * sizeof(float) + (1u << 20);
        weft_graph_set_memory_limit(g, weft_graph_arena_capacity(g) + need);
    }
    assert_int_equal(weft_backward(g, v), 0);
    assert_true(d.own_node_refused);
    *stats = weft_graph_defer_stats(g);
    float *dW = copy_floats(weft_grad_of(g, W)->data, (size_t)TP * TQ);
    weft_graph_free(g);
    weft_tensor_release(&tW);
    weft_tensor_release(&tL);
    weft_tensor_release(&tR);
    return dW;
}

static void test_pieces(void **state)
{
    (void)state;
    weft_defer_stats s_side, s_apart, s_off, s_limited;
    float *side = run_pieces(0, false, &s_side), *apart = run_pieces(1, false, &s_apart);
    float *off = run_pieces(2, false, &s_off), *limited = run_pieces(1, true, &s_limited);
    size_t n = (size_t)TP * TQ;
    double d1 = rel_diff(side, off, n), d2 = rel_diff(apart, off, n), d3 = rel_diff(limited, off, n);
    if (!(d1 <= 1e-5 && d2 <= 1e-5 && d3 <= 1e-5))
        fail_msg("side by side %.3g, apart %.3g, arena limited %.3g from piece by piece", d1, d2, d3);
    assert_true(abs_sum(off, n) > 1.0);
    /* 1157 rows, p + q = 4096: two chunks (579 rows wanted: 622 and 535) */
    assert_int_equal(s_side.records, N_PIECES);
    assert_int_equal(s_side.products, 2);
    assert_int_equal(s_side.gathered, 0);
    assert_int_equal(s_apart.products, 2);
    assert_int_equal(s_apart.gathered, 2);
    assert_int_equal(s_off.records, 0);
    /* no room to gather: each piece its own product */
    assert_int_equal(s_limited.records, N_PIECES);
    assert_int_equal(s_limited.products, N_PIECES);
    assert_int_equal(s_limited.gathered, 0);
    free(side);
    free(apart);
    free(off);
    free(limited);
}

/* The packed W of a sweep is not kept for the next: change W between two
 * backwards and dx follows (the loss is linear in y, so dy stays). */
static void test_memo_per_sweep(void **state)
{
    (void)state;
    enum { B = 64, I = 512, O = 1024 };
    weft_rng rng;
    weft_rng_seed(&rng, 12);
    weft_tensor tx = weft_tensor_alloc2(B, I), tw = weft_tensor_alloc2(O, I), tm = weft_tensor_alloc2(B, O);
    weft_rng_fill_uniform(&rng, &tx, -1, 1);
    weft_rng_fill_uniform(&rng, &tw, -0.1f, 0.1f);
    weft_rng_fill_uniform(&rng, &tm, -1, 1);
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input(g, &tx, "x", true), *W = weft_input(g, &tw, "W", false);
    weft_var *loss = weft_sum(g, weft_mul(g, weft_linear(g, x, W, NULL), weft_input(g, &tm, "m", false)));
    assert_int_equal(weft_backward(g, loss), 0);
    float *once = copy_floats(weft_grad_of(g, x)->data, (size_t)B * I);
    float *w = W->value.data;
    for (size_t i = 0; i < (size_t)O * I; i++) w[i] *= 2.0f;
    assert_int_equal(weft_backward(g, loss), 0);   /* adds dy (2W): three times the first */
    const float *both = weft_grad_of(g, x)->data;
    for (size_t i = 0; i < (size_t)B * I; i++)
        assert_float_equal(both[i], 3.0f * once[i], 1e-5f * (1.0f + fabsf(once[i])));
    free(once);
    weft_graph_free(g);
    weft_tensor_release(&tx);
    weft_tensor_release(&tw);
    weft_tensor_release(&tm);
}

/* A parameter packed by linear's constructor and used again in the same
 * build: the packed copy is used while the value stays (the same bits), and
 * not once the value changed (an optimizer step, a load) without a backward
 * in between. */
static void test_packed_weight_changed(void **state)
{
    (void)state;
    enum { B = 64, I = 512, O = 1024 };
    weft_rng rng;
    weft_rng_seed(&rng, 13);
    weft_params *ps = weft_params_new();
    weft_param *W = weft_params_add(ps, "W", 2, (int[]){ O, I });
    assert_non_null(W);
    weft_rng_fill_uniform(&rng, &W->value, -0.1f, 0.1f);
    weft_tensor tx = weft_tensor_alloc2(B, I);
    weft_rng_fill_uniform(&rng, &tx, -1, 1);
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input(g, &tx, "x", false);
    float *y1 = copy_floats(weft_linear(g, x, weft_param_var(g, W), NULL)->value.data, (size_t)B * O);
    const float *again = weft_linear(g, x, weft_param_var(g, W), NULL)->value.data;
    assert_memory_equal(again, y1, (size_t)B * O * sizeof(float));
    for (size_t i = 0; i < W->value.size; i++) W->value.data[i] *= 2.0f;
    const float *y2 = weft_linear(g, x, weft_param_var(g, W), NULL)->value.data;
    for (size_t i = 0; i < (size_t)B * O; i++)
        assert_float_equal(y2[i], 2.0f * y1[i], 1e-5f * (1.0f + fabsf(y1[i])));
    /* and against the plain path (the memos off) */
    weft_graph_set_deferral(g, false);
    const float *plain = weft_linear(g, x, weft_param_var(g, W), NULL)->value.data;
    double d = rel_diff(y2, plain, (size_t)B * O);
    if (!(d <= 1e-5)) fail_msg("packed forward differs from sgemm by %.3g", d);
    assert_null(weft_graph_error(g));
    free(y1);
    weft_graph_free(g);
    weft_params_free(ps);
    weft_tensor_release(&tx);
}

/* The gradient check re-runs forwards after nudging a leaf; with W packed at
 * construction the re-runs must see the nudge (they take sgemm). */
static void test_packed_gradcheck(void **state)
{
    (void)state;
    enum { B = 40, I = 512, O = 1024 };
    weft_rng rng;
    weft_rng_seed(&rng, 14);
    weft_params *ps = weft_params_new();
    weft_param *W = weft_params_add(ps, "W", 2, (int[]){ O, I });
    weft_param *b = weft_params_add(ps, "b", 1, (int[]){ O });
    assert_non_null(b);
    weft_rng_fill_uniform(&rng, &W->value, -0.05f, 0.05f);
    weft_rng_fill_uniform(&rng, &b->value, -0.5f, 0.5f);
    weft_tensor tx = weft_tensor_alloc2(B, I), tm = weft_tensor_alloc2(B, O);
    weft_rng_fill_uniform(&rng, &tx, -1, 1);
    weft_rng_fill_uniform(&rng, &tm, -1, 1);
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input(g, &tx, "x", true);
    weft_var *y = weft_tanh(g, weft_linear(g, x, weft_param_var(g, W), weft_param_var(g, b)));
    weft_var *loss = weft_sum(g, weft_mul(g, y, weft_input(g, &tm, "m", false)));
    weft_gradcheck_result res;
    assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .max_per_leaf = 12 }, &res), 0);
    if (!res.passed)
        fail_msg("max relative error %.3g at node %d [%d]: analytic %.6g, numeric %.6g",
                 res.max_rel_error, res.worst_node, res.worst_index, res.worst_analytic,
                 res.worst_numeric);
    assert_int_equal(res.leaves, 3);
    weft_graph_free(g);
    weft_params_free(ps);
    weft_tensor_release(&tx);
    weft_tensor_release(&tm);
}

/* Outside a sweep nothing is deferred: the op must do its own product. */
static void test_outside_sweep(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    weft_tensor t = weft_tensor_alloc2(2, 3);
    weft_tensor_fill(&t, 1.0f);
    weft_var *W = weft_input(g, &t, "W", true);
    assert_false(weft_defer_product(g, W, 2, t.data, 2, t.data, 3));
    assert_false(weft_defer_colsum(g, W, 2, t.data, 3));
    bool fresh = true;
    assert_null(weft_sweep_memo(g, W, 0, 64, &fresh));
    assert_false(fresh);
    weft_graph_free(g);
    weft_tensor_release(&t);
}

int main(void)
{
    /* One thread, but where the test is 1 against 2 threads: on a busy
     * machine a second thread waits long at BLIS's barriers, and the numbers
     * are the same for both (test_threads_bitwise). */
    weft_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_vs_plain),
        cmocka_unit_test(test_chunks_vs_plain),
        cmocka_unit_test(test_twice_doubles),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_lstm_vs_plain),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_memo_per_sweep),
        cmocka_unit_test(test_packed_weight_changed),
        cmocka_unit_test(test_packed_gradcheck),
        cmocka_unit_test(test_outside_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
