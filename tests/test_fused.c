/* tests/test_fused.c — the fused recurrent steps (ops/recurrent.c) against
 * the same steps composed from public ops: values and every gradient
 * (parameters, inputs, initial states) agree to 1e-5 relative, op by op and
 * through weft_unroll (ragged or not, 1 and 2 threads); each fused op passes
 * the gradient check alone; bad shapes are refused with the op's name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "weft/weft.h"

#include "tests/rel_diff.h"

#define TOL 1e-5

/* --- comparing tensors ----------------------------------------------------------------- */

/* a and b within TOL of each other by rel_diff (tests/rel_diff.h) */
static void expect_close(const float *a, const float *b, size_t n, const char *what)
{
    double d = rel_diff(a, b, n);
    if (!(d <= TOL)) fail_msg("%s: relative difference %.3g > %.0e", what, d, TOL);
}

/* A copy of n floats, owned by the caller (free). */
static float *copy_of(const float *x, size_t n)
{
    float *c = malloc(n * sizeof *c);
    assert_non_null(c);
    memcpy(c, x, n * sizeof *c);
    return c;
}

static int count_op(const weft_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < weft_graph_size(g); i++) {
        const weft_var *v = weft_graph_node(g, i);
        if (v->op && strcmp(v->op->name, op) == 0) n++;
    }
    return n;
}

static weft_var *leaf(weft_graph *g, weft_rng *r, const char *name, bool grad, int rank,
                      const int *shape, float lo, float hi)
{
    weft_var *v = weft_input_zeros(g, rank, shape, name, grad);
    assert_non_null(v);
    weft_rng_fill_uniform(r, &v->value, lo, hi);
    return v;
}

/* sum(y ⊙ w) for a random w of y's shape: every element of y gets its own
 * gradient, so no error can cancel. */
static weft_var *weighted_sum(weft_graph *g, weft_rng *r, weft_var *y)
{
    weft_var *w = leaf(g, r, "w", false, y->value.rank, y->value.shape, -1.0f, 1.0f);
    return weft_sum(g, weft_mul(g, y, w));
}

/* --- the three cells, fused and composed, one step at a time -------------------------------- */

enum kind { RNN_TANH, RNN_RELU, LSTM, GRU };
static const char *const kind_name[] = { "rnn tanh", "rnn relu", "lstm", "gru" };
static const int kind_gates[] = { 1, 1, 4, 3 };
static const int kind_states[] = { 1, 1, 2, 1 };
static const char *const kind_op[] = { "rnn_step", "rnn_step", "lstm_step", "gru_step" };

/* The step composed from public ops: the reference. */
static void composed_step(weft_graph *g, enum kind k, int H, weft_var *xp, weft_var **s,
                          weft_var *W, weft_var *b)
{
    weft_var *h = s[0];
    weft_var *u = weft_linear(g, h, W, b);   /* h W_hhᵀ + b_hh */
    switch (k) {
    case RNN_TANH: s[0] = weft_tanh(g, weft_add(g, xp, u)); break;
    case RNN_RELU: s[0] = weft_relu(g, weft_add(g, xp, u)); break;
    case LSTM: {
        weft_var *a = weft_add(g, xp, u);
        weft_var *i = weft_sigmoid(g, weft_slice(g, a, 0, H));
        weft_var *f = weft_sigmoid(g, weft_slice(g, a, H, H));
        weft_var *gg = weft_tanh(g, weft_slice(g, a, 2 * H, H));
        weft_var *o = weft_sigmoid(g, weft_slice(g, a, 3 * H, H));
        weft_var *c = weft_add(g, weft_mul(g, f, s[1]), weft_mul(g, i, gg));
        s[0] = weft_mul(g, o, weft_tanh(g, c));
        s[1] = c;
        break;
    }
    case GRU: {
        weft_var *r = weft_sigmoid(g, weft_add(g, weft_slice(g, xp, 0, H), weft_slice(g, u, 0, H)));
        weft_var *z = weft_sigmoid(g, weft_add(g, weft_slice(g, xp, H, H), weft_slice(g, u, H, H)));
        weft_var *n = weft_tanh(g, weft_add(g, weft_slice(g, xp, 2 * H, H),
                                            weft_mul(g, r, weft_slice(g, u, 2 * H, H))));
        s[0] = weft_add(g, weft_mul(g, weft_one_minus(g, z), n), weft_mul(g, z, h));
        break;
    }
    }
}

static void fused_step(weft_graph *g, enum kind k, weft_var *xp, weft_var **s, weft_var *W,
                       weft_var *b)
{
    switch (k) {
    case RNN_TANH: s[0] = weft_rnn_tanh_step(g, xp, s[0], W, b); break;
    case RNN_RELU: s[0] = weft_rnn_relu_step(g, xp, s[0], W, b); break;
    case LSTM: {
        weft_var *both = weft_lstm_step(g, xp, s[0], s[1], W, b);
        s[0] = weft_narrow(g, both, 0, 1);
        s[1] = weft_narrow(g, both, 1, 1);
        break;
    }
    case GRU: s[0] = weft_gru_step(g, xp, s[0], W, b); break;
    }
}

typedef struct chain {
    weft_params *ps;
    weft_param *W_ih, *W_hh, *b_ih, *b_hh;
    int T, B, I, H;
} chain;

static void chain_init(chain *c, enum kind k, int T, int B, int I, int H, bool bias, uint64_t seed)
{
    int G = kind_gates[k];
    *c = (chain){ .T = T, .B = B, .I = I, .H = H };
    c->ps = weft_params_new();
    assert_non_null(c->ps);
    c->W_ih = weft_params_add(c->ps, "weight_ih", 2, (int[]){ G * H, I });
    c->W_hh = weft_params_add(c->ps, "weight_hh", 2, (int[]){ G * H, H });
    c->b_ih = weft_params_add(c->ps, "bias_ih", 1, (int[]){ G * H });
    if (bias) c->b_hh = weft_params_add(c->ps, "bias_hh", 1, (int[]){ G * H });
    weft_rng r;
    weft_rng_seed(&r, seed);
    for (int i = 0; i < weft_params_count(c->ps); i++)
        weft_rng_fill_uniform(&r, &weft_params_at(c->ps, i)->value, -0.6f, 0.6f);
}

/* What one run of a chain leaves: every h_t, the last c (LSTM) and the
 * gradients of the inputs, the initial states and every parameter. */
typedef struct chain_run {
    float *hs, *c_last, *dxs, *ds0[2], *dparams;
    size_t n_hs, n_x, n_s, n_params;
} chain_run;

static void chain_run_free(chain_run *o)
{
    free(o->hs);
    free(o->c_last);
    free(o->dxs);
    free(o->ds0[0]);
    free(o->ds0[1]);
    free(o->dparams);
}

/* T steps of kind k over one input projection for all steps, fused or
 * composed. The loss weighs every h_t and the final c, so that dh and dc
 * both reach every step. */
static void chain_run_once(const chain *c, enum kind k, bool fused, uint64_t seed, chain_run *o)
{
    int T = c->T, B = c->B, I = c->I, H = c->H, S = kind_states[k];
    weft_graph *g = weft_graph_new();
    weft_rng r;
    weft_rng_seed(&r, seed);
    weft_var *xs = leaf(g, &r, "xs", true, 3, (int[]){ T, B, I }, -1.0f, 1.0f);
    weft_var *s0[2], *s[2];
    for (int j = 0; j < S; j++)
        s[j] = s0[j] = leaf(g, &r, j ? "c0" : "h0", true, 2, (int[]){ B, H }, -0.8f, 0.8f);
    weft_var *W = weft_param_var(g, c->W_hh), *b = c->b_hh ? weft_param_var(g, c->b_hh) : NULL;
    weft_var *xp = weft_linear(g, xs, weft_param_var(g, c->W_ih), weft_param_var(g, c->b_ih));
    weft_var **hs = calloc((size_t)T, sizeof *hs);
    weft_seq *steps = weft_seq_new(g, xp);
    for (int t = 0; t < T; t++) {
        weft_var *xpt = weft_seq_input(g, steps, t);
        if (fused) fused_step(g, k, xpt, s, W, b);
        else composed_step(g, k, H, xpt, s, W, b);
        hs[t] = s[0];
    }
    weft_var *seq = weft_stack(g, hs, T);
    weft_var *loss = weighted_sum(g, &r, seq);
    if (S == 2) loss = weft_add(g, loss, weighted_sum(g, &r, s[1]));
    assert_null(weft_graph_error(g));
    assert_int_equal(count_op(g, kind_op[k]), fused ? T : 0);
    assert_int_equal(weft_seq_chained(steps), fused ? T : 0);

    weft_params_zero_grad(c->ps);
    assert_int_equal(weft_backward(g, loss), 0);
    o->n_hs = seq->value.size;
    o->n_x = xs->value.size;
    o->n_s = (size_t)B * H;
    o->n_params = weft_params_span(c->ps);
    o->hs = copy_of(seq->value.data, o->n_hs);
    o->c_last = S == 2 ? copy_of(s[1]->value.data, o->n_s) : NULL;
    o->dxs = copy_of(weft_grad_of(g, xs)->data, o->n_x);
    for (int j = 0; j < S; j++) o->ds0[j] = copy_of(weft_grad_of(g, s0[j])->data, o->n_s);
    o->dparams = copy_of(weft_params_grads(c->ps), o->n_params);
    free(hs);
    weft_graph_free(g);
}

static void compare_chain(enum kind k, int T, int B, int I, int H, bool bias)
{
    chain c;
    chain_init(&c, k, T, B, I, H, bias, 11);
    chain_run ref = { 0 }, fast = { 0 };
    chain_run_once(&c, k, false, 7, &ref);
    chain_run_once(&c, k, true, 7, &fast);
    char what[160];
    snprintf(what, sizeof what, "%s: every h_t", kind_name[k]);
    expect_close(ref.hs, fast.hs, ref.n_hs, what);
    if (ref.c_last) expect_close(ref.c_last, fast.c_last, ref.n_s, "lstm: c_T");
    snprintf(what, sizeof what, "%s: d xs", kind_name[k]);
    expect_close(ref.dxs, fast.dxs, ref.n_x, what);
    for (int j = 0; j < kind_states[k]; j++) {
        snprintf(what, sizeof what, "%s: d state %d at t = 0", kind_name[k], j);
        expect_close(ref.ds0[j], fast.ds0[j], ref.n_s, what);
    }
    for (int i = 0; i < weft_params_count(c.ps); i++) {
        const weft_param *p = weft_params_at(c.ps, i);
        snprintf(what, sizeof what, "%s: d %s", kind_name[k], p->name);
        expect_close(ref.dparams + p->offset, fast.dparams + p->offset, p->value.size, what);
    }
    chain_run_free(&ref);
    chain_run_free(&fast);
    weft_params_free(c.ps);
}

/* Op by op: T = 6 steps, B = 5, I = 7, H = 13 (not a multiple of 8), with
 * and without b_hh, on 1 and 2 threads. */
static void test_chain_matches_composed(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        weft_set_num_threads(threads);
        for (int k = RNN_TANH; k <= GRU; k++) {
            compare_chain((enum kind)k, 6, 5, 7, 13, true);
            compare_chain((enum kind)k, 6, 5, 7, 13, false);
        }
    }
}

/* Big enough for the row loops to run on two threads (B x G·H > 16384): the
 * fused steps then give bit-identical results on 1 and 2 threads. */
static void test_threads_bitwise(void **state)
{
    (void)state;
    for (int k = RNN_TANH; k <= GRU; k++) {
        int H = k <= RNN_RELU ? 300 : 75;   /* B x G·H = 19200, 19200, 19200 */
        chain c;
        chain_init(&c, (enum kind)k, 3, 64, 9, H, true, 5);
        chain_run one = { 0 }, two = { 0 };
        weft_set_num_threads(1);
        chain_run_once(&c, (enum kind)k, true, 3, &one);
        weft_set_num_threads(2);
        chain_run_once(&c, (enum kind)k, true, 3, &two);
        assert_memory_equal(one.hs, two.hs, one.n_hs * sizeof(float));
        assert_memory_equal(one.dxs, two.dxs, one.n_x * sizeof(float));
        assert_memory_equal(one.dparams, two.dparams, one.n_params * sizeof(float));
        chain_run_free(&one);
        chain_run_free(&two);
        weft_params_free(c.ps);
    }
}

/* --- a chain over the sequences still running ----------------------------------------------- */

/* T steps of kind k over a batch sorted by length (longest first), step t
 * running only the rows[t] sequences still running: its input the first
 * rows[t] rows of the projection's block t, its states the first rows[t]
 * rows of the last ones. Fused: the steps of one sequence (weft_seq_input_rows,
 * which must chain every step); composed: the reference. The loss weighs
 * every step's output and the last c. */
/* The first r rows of x [n, F], [r, F] (weft_narrow drops the first
 * dimension when it takes one entry: put it back). */
static weft_var *first_rows(weft_graph *g, weft_var *x, int r)
{
    weft_var *y = weft_narrow(g, x, 0, r);
    return r == 1 ? weft_reshape(g, y, 2, (int[]){ 1, x->value.shape[1] }) : y;
}

enum { COMPOSED, FUSED_ALONE, FUSED_CHAINED };

static void running_rows_once(const chain *c, enum kind k, const int *rows, int mode,
                              chain_run *o)
{
    bool fused = mode != COMPOSED;
    int T = c->T, B = c->B, I = c->I, H = c->H, S = kind_states[k];
    weft_graph *g = weft_graph_new();
    weft_rng r;
    weft_rng_seed(&r, 3);
    weft_var *xs = leaf(g, &r, "xs", true, 3, (int[]){ T, B, I }, -1.0f, 1.0f);
    weft_var *s0[2], *s[2];
    for (int j = 0; j < S; j++)
        s[j] = s0[j] = leaf(g, &r, j ? "c0" : "h0", true, 2, (int[]){ B, H }, -0.8f, 0.8f);
    weft_var *W = weft_param_var(g, c->W_hh), *b = c->b_hh ? weft_param_var(g, c->b_hh) : NULL;
    weft_var *xp = weft_linear(g, xs, weft_param_var(g, c->W_ih), weft_param_var(g, c->b_ih));
    weft_seq *steps = weft_seq_new(g, xp);
    weft_var *loss = NULL;
    for (int t = 0; t < T; t++) {
        weft_var *xpt = mode == FUSED_CHAINED ? weft_seq_input_rows(g, steps, t, rows[t])
                                              : first_rows(g, weft_narrow(g, xp, t, 1), rows[t]);
        for (int j = 0; j < S; j++)
            if (s[j]->value.shape[0] > rows[t]) s[j] = first_rows(g, s[j], rows[t]);
        if (fused) fused_step(g, k, xpt, s, W, b);
        else composed_step(g, k, H, xpt, s, W, b);
        if (!s[0]) fail_msg("%s, step %d: %s", kind_name[k], t, weft_graph_error(g));
        weft_var *term = weighted_sum(g, &r, s[0]);
        loss = loss ? weft_add(g, loss, term) : term;
    }
    if (S == 2) loss = weft_add(g, loss, weighted_sum(g, &r, s[1]));
    assert_null(weft_graph_error(g));
    assert_int_equal(weft_seq_chained(steps), mode == FUSED_CHAINED ? T : 0);
    weft_params_zero_grad(c->ps);
    assert_int_equal(weft_backward(g, loss), 0);
    o->n_x = xs->value.size;
    o->n_s = (size_t)B * H;
    o->n_params = weft_params_span(c->ps);
    o->dxs = copy_of(weft_grad_of(g, xs)->data, o->n_x);
    for (int j = 0; j < S; j++) o->ds0[j] = copy_of(weft_grad_of(g, s0[j])->data, o->n_s);
    o->dparams = copy_of(weft_params_grads(c->ps), o->n_params);
    o->c_last = copy_of(s[S - 1]->value.data, s[S - 1]->value.size);
    o->n_hs = s[S - 1]->value.size;
    weft_graph_free(g);
}

/* Chains whose steps shrink to the sequences still running equal the
 * composed steps (at H = 13) and the same fused steps one by one, outside a
 * chain (at H = 512, weights in nn.RNN's range): every gradient, and the
 * last state. H = 512 at 36 rows
 * takes the packed products (W_hh packed for 36 rows, run on 30 and 20). */
static void test_chain_running_rows(void **state)
{
    (void)state;
    static const struct { int T, B, I, H; int rows[6]; } cases[] = {
        { 6, 5, 7, 13, { 5, 4, 4, 2, 2, 1 } },
        { 3, 36, 8, 512, { 36, 30, 20 } },
    };
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        for (int k = 0; k < 4; k++) {
            if (n == 1 && k == RNN_RELU) continue;
            chain c;
            chain_init(&c, (enum kind)k, cases[n].T, cases[n].B, cases[n].I, cases[n].H, true, 9);
            if (n > 0) {   /* nn.RNN's range: a recurrence that does not amplify rounding */
                weft_rng r;
                weft_rng_seed(&r, 10);
                float a = 1.0f / sqrtf((float)cases[n].H);
                for (int i = 0; i < weft_params_count(c.ps); i++)
                    weft_rng_fill_uniform(&r, &weft_params_at(c.ps, i)->value, -a, a);
            }
            chain_run ref = { 0 }, fast = { 0 };
            running_rows_once(&c, (enum kind)k, cases[n].rows, n == 0 ? COMPOSED : FUSED_ALONE,
                              &ref);
            running_rows_once(&c, (enum kind)k, cases[n].rows, FUSED_CHAINED, &fast);
            char what[160];
            snprintf(what, sizeof what, "%s, running rows, H %d: last state", kind_name[k],
                     cases[n].H);
            expect_close(ref.c_last, fast.c_last, ref.n_hs, what);
            snprintf(what, sizeof what, "%s, running rows, H %d: d xs", kind_name[k], cases[n].H);
            expect_close(ref.dxs, fast.dxs, ref.n_x, what);
            for (int j = 0; j < kind_states[k]; j++) {
                snprintf(what, sizeof what, "%s, running rows, H %d: d state %d", kind_name[k],
                         cases[n].H, j);
                expect_close(ref.ds0[j], fast.ds0[j], ref.n_s, what);
            }
            snprintf(what, sizeof what, "%s, running rows, H %d: d params", kind_name[k],
                     cases[n].H);
            expect_close(ref.dparams, fast.dparams, ref.n_params, what);
            chain_run_free(&ref);
            chain_run_free(&fast);
            weft_params_free(c.ps);
        }
    }
}

/* --- the built-in cells through weft_unroll, fast path against composed path ------------------ */

/* What one unroll leaves: the output sequence, the final states, and the
 * gradients of the input, the initial states and every parameter. */
typedef struct unroll_run {
    float *seq, *finals, *dxs, *dinit, *dparams;
    size_t n_seq, n_finals, n_x, n_params;
    int fused_nodes, chained_steps;
} unroll_run;

static void unroll_run_free(unroll_run *o)
{
    free(o->seq);
    free(o->finals);
    free(o->dxs);
    free(o->dinit);
    free(o->dparams);
}

static void unroll_once(weft_rnn *rnn, weft_params *ps, const char *op, int T, int B,
                        const int *lengths, bool composed, unroll_run *o)
{
    const weft_rnn_config *cfg = weft_rnn_get_config(rnn);
    int n_states = weft_rnn_num_states(rnn), H = cfg->hidden_size;
    weft_graph *g = weft_graph_new();
    weft_rng r;
    weft_rng_seed(&r, 99);
    weft_var *xs = leaf(g, &r, "xs", true, 3, (int[]){ T, B, cfg->input_size }, -1.0f, 1.0f);
    weft_var **init = calloc((size_t)n_states, sizeof *init);
    for (int i = 0; i < n_states; i++) {
        init[i] = leaf(g, &r, "s0", true, 2, (int[]){ B, H }, -0.8f, 0.8f);
        init[i]->kind = WEFT_NODE_STATE;
    }
    weft_rnn_out out;
    weft_unroll_opts opts = { .lengths = lengths, .init_vars = init, .composed = composed };
    if (weft_unroll(g, rnn, xs, &opts, &out)) fail_msg("unroll: %s", weft_graph_error(g));
    /* the loss weighs every output and every final state (h and c) */
    weft_var *loss = weighted_sum(g, &r, out.seq);
    for (int i = 0; i < out.n_final; i++) loss = weft_add(g, loss, weighted_sum(g, &r, out.final[i]));
    assert_null(weft_graph_error(g));
    o->fused_nodes = count_op(g, op);
    o->chained_steps = out.chained_steps;

    weft_params_zero_grad(ps);
    assert_int_equal(weft_backward(g, loss), 0);
    size_t ns = (size_t)B * H;
    o->n_seq = out.seq->value.size;
    o->n_finals = (size_t)out.n_final * ns;
    o->n_x = xs->value.size;
    o->n_params = weft_params_span(ps);
    o->seq = copy_of(out.seq->value.data, o->n_seq);
    o->finals = malloc(o->n_finals * sizeof(float));
    o->dinit = malloc((size_t)n_states * ns * sizeof(float));
    for (int i = 0; i < out.n_final; i++)
        memcpy(o->finals + i * ns, out.final[i]->value.data, ns * sizeof(float));
    for (int i = 0; i < n_states; i++)
        memcpy(o->dinit + i * ns, weft_grad_of(g, init[i])->data, ns * sizeof(float));
    o->dxs = copy_of(weft_grad_of(g, xs)->data, o->n_x);
    o->dparams = copy_of(weft_params_grads(ps), o->n_params);
    free(init);
    weft_graph_free(g);
}

static void compare_unroll(const char *cell, const char *op, int layers, bool bidirectional,
                           const int *lengths)
{
    const int T = 6, B = 5, I = 7, H = 13;
    weft_params *ps = weft_params_new();
    char err[256];
    weft_rnn_config cfg = { .cell = weft_cell_find(cell), .input_size = I, .hidden_size = H,
                            .num_layers = layers, .bidirectional = bidirectional };
    assert_non_null(cfg.cell);
    weft_rnn *rnn = weft_rnn_new(ps, &cfg, err, sizeof err);
    if (!rnn) fail_msg("%s: %s", cell, err);
    weft_rng r;
    weft_rng_seed(&r, 17);
    assert_int_equal(weft_rnn_reset_parameters(rnn, &r), 0);

    unroll_run ref = { 0 }, fast = { 0 };
    unroll_once(rnn, ps, op, T, B, lengths, true, &ref);
    unroll_once(rnn, ps, op, T, B, lengths, false, &fast);
    /* the fast path really is fused: one node per cell per step */
    assert_int_equal(ref.fused_nodes, 0);
    assert_int_equal(fast.fused_nodes, T * layers * (bidirectional ? 2 : 1));
    /* and every step of every layer and direction ran in its sequence's chain */
    assert_int_equal(ref.chained_steps, 0);
    assert_int_equal(fast.chained_steps, T * layers * (bidirectional ? 2 : 1));

    char what[200];
    const char *how = lengths ? "ragged" : "full";
    snprintf(what, sizeof what, "%s (%d layers%s, %s): outputs", cell, layers,
             bidirectional ? ", bidirectional" : "", how);
    expect_close(ref.seq, fast.seq, ref.n_seq, what);
    snprintf(what, sizeof what, "%s (%s): final states", cell, how);
    expect_close(ref.finals, fast.finals, ref.n_finals, what);
    snprintf(what, sizeof what, "%s (%s): d xs", cell, how);
    expect_close(ref.dxs, fast.dxs, ref.n_x, what);
    int n_states = weft_rnn_num_states(rnn);
    for (int i = 0; i < n_states; i++) {
        size_t ns = (size_t)B * H;
        snprintf(what, sizeof what, "%s (%s): d initial state %d", cell, how, i);
        expect_close(ref.dinit + i * ns, fast.dinit + i * ns, ns, what);
    }
    for (int i = 0; i < weft_params_count(ps); i++) {
        const weft_param *p = weft_params_at(ps, i);
        snprintf(what, sizeof what, "%s (%s): d %s", cell, how, p->name);
        expect_close(ref.dparams + p->offset, fast.dparams + p->offset, p->value.size, what);
    }
    unroll_run_free(&ref);
    unroll_run_free(&fast);
    weft_rnn_free(rnn);
    weft_params_free(ps);
}

static const struct { const char *cell, *op; } fused_cells[] = {
    { "rnn", "rnn_step" }, { "rnn-relu", "rnn_step" }, { "lstm", "lstm_step" },
    { "lstm-b", "lstm_step" }, { "gru", "gru_step" },
};

/* Every built-in cell with a fused step, 1 layer and 2 bidirectional layers,
 * full and ragged batches (one sequence of a single step), 1 and 2 threads. */
static void test_unroll_matches_composed(void **state)
{
    (void)state;
    static const int ragged[5] = { 6, 3, 5, 1, 4 };
    for (int threads = 1; threads <= 2; threads++) {
        weft_set_num_threads(threads);
        for (size_t k = 0; k < sizeof fused_cells / sizeof fused_cells[0]; k++) {
            compare_unroll(fused_cells[k].cell, fused_cells[k].op, 1, false, NULL);
            compare_unroll(fused_cells[k].cell, fused_cells[k].op, 1, false, ragged);
            compare_unroll(fused_cells[k].cell, fused_cells[k].op, 2, true, NULL);
            compare_unroll(fused_cells[k].cell, fused_cells[k].op, 2, true, ragged);
        }
    }
}

/* --- staying on the fast path ---------------------------------------------------------------- */

/* The chained steps of one unroll of `cell` with everything a layer can add
 * between two steps: 3 layers, both directions, a ragged batch (masks
 * around the states), dropout between layers, residual connections, the
 * first layer projected through an embedding table, and a second unroll in
 * the same graph carrying the first one's final states. */
static int chained_steps(const char *cell, int T, int B, int L)
{
    const int V = 4, I = 6, H = 6;
    weft_params *ps = weft_params_new();
    char err[256];
    weft_rnn_config cfg = { .cell = weft_cell_find(cell), .input_size = I, .hidden_size = H,
                            .num_layers = L, .bidirectional = true, .dropout = 0.3f,
                            .residual = true };
    assert_non_null(cfg.cell);
    weft_rnn *rnn = weft_rnn_new(ps, &cfg, err, sizeof err);
    if (!rnn) fail_msg("%s: %s", cell, err);
    weft_rng r;
    weft_rng_seed(&r, 5);
    assert_int_equal(weft_rnn_reset_parameters(rnn, &r), 0);
    weft_graph *g = weft_graph_new();
    weft_var *table = leaf(g, &r, "table", true, 2, (int[]){ V, I }, -1.0f, 1.0f);
    int *ids = malloc((size_t)T * B * sizeof *ids), *lengths = malloc((size_t)B * sizeof *lengths);
    for (int i = 0; i < T * B; i++) ids[i] = (i * 7 + 1) % V;
    for (int b = 0; b < B; b++) lengths[b] = b % 2 ? T : 1 + b % T;
    weft_var *xs = weft_reshape(g, weft_embedding(g, table, ids, T * B), 3, (int[]){ T, B, I });
    weft_unroll_opts o = { .lengths = lengths, .dropout_rng = &r, .input_table = table,
                           .input_ids = ids };
    weft_rnn_out first, second;
    if (weft_unroll(g, rnn, xs, &o, &first)) fail_msg("unroll: %s", weft_graph_error(g));
    o.init_vars = first.final;
    if (weft_unroll(g, rnn, xs, &o, &second)) fail_msg("unroll: %s", weft_graph_error(g));
    weft_var *loss = weft_add(g, weighted_sum(g, &r, first.seq), weighted_sum(g, &r, second.seq));
    assert_int_equal(weft_backward(g, loss), 0);
    int n = first.chained_steps + second.chained_steps;
    weft_graph_free(g);
    free(ids);
    free(lengths);
    weft_rnn_free(rnn);
    weft_params_free(ps);
    return n;
}

/* A built-in cell with a fused step stays on its fast path through every
 * layer option: each of its steps joins its sequence's chain (a step that
 * fell off would still give the right numbers, only slower, so the count is
 * what tells). A cell that composes its step (lstm-peephole) has no chain
 * and works the same. */
static void test_unroll_stays_chained(void **state)
{
    (void)state;
    const int T = 5, B = 4, L = 3;
    for (size_t k = 0; k < sizeof fused_cells / sizeof fused_cells[0]; k++) {
        int n = chained_steps(fused_cells[k].cell, T, B, L);
        if (n != 2 * T * L * 2)
            fail_msg("%s: %d steps chained, expected %d", fused_cells[k].cell, n, 2 * T * L * 2);
    }
    assert_int_equal(chained_steps("lstm-peephole", T, B, L), 0);
}

/* --- gradient check of each fused op alone ----------------------------------------------- */

static void gradcheck_op(enum kind k, bool bias, uint64_t seed)
{
    int B = 3, H = 5, G = kind_gates[k];
    weft_graph *g = weft_graph_new();
    weft_params *ps = weft_params_new();
    weft_rng r;
    weft_rng_seed(&r, seed);
    weft_param *Wp = weft_params_add(ps, "weight_hh", 2, (int[]){ G * H, H });
    weft_param *bp = bias ? weft_params_add(ps, "bias_hh", 1, (int[]){ G * H }) : NULL;
    weft_rng_fill_uniform(&r, &Wp->value, -0.8f, 0.8f);
    if (bp) weft_rng_fill_uniform(&r, &bp->value, -0.5f, 0.5f);
    weft_var *xp = leaf(g, &r, "xp", true, 2, (int[]){ B, G * H }, -1.0f, 1.0f);
    weft_var *h = leaf(g, &r, "h", true, 2, (int[]){ B, H }, -1.0f, 1.0f);
    weft_var *c = leaf(g, &r, "c", k == LSTM, 2, (int[]){ B, H }, -1.0f, 1.0f);
    weft_var *W = weft_param_var(g, Wp), *b = bp ? weft_param_var(g, bp) : NULL;
    weft_var *y = NULL;
    switch (k) {
    case RNN_TANH: y = weft_rnn_tanh_step(g, xp, h, W, b); break;
    case RNN_RELU: y = weft_rnn_relu_step(g, xp, h, W, b); break;
    case LSTM: y = weft_lstm_step(g, xp, h, c, W, b); break;   /* [2, B, H]: h' and c' */
    case GRU: y = weft_gru_step(g, xp, h, W, b); break;
    }
    assert_non_null(y);
    if (k == RNN_RELU) {
        /* keep every pre-activation at least 0.1 from relu's kink: the check
         * steps by 1e-2, and a step across the kink is not a gradient */
        weft_var *pre = weft_add(g, xp, weft_linear(g, h, W, b));
        for (size_t i = 0; i < pre->value.size; i++)
            if (fabsf(pre->value.data[i]) < 0.1f)
                xp->value.data[i] += pre->value.data[i] >= 0.0f ? 0.1f : -0.1f;
        weft_graph_recompute(g, 0);
    }
    weft_var *loss = weighted_sum(g, &r, y);
    weft_params_zero_grad(ps);
    weft_gradcheck_result res;
    assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .eps = 1e-2f,
                                                                     .tolerance = 1e-2f },
                                    &res), 0);
    if (!res.passed)
        fail_msg("%s%s: max relative error %.3g at leaf #%d element %d (analytic %g, numeric %g)",
                 kind_name[k], bias ? "" : " (no b_hh)", res.max_rel_error, res.worst_node,
                 res.worst_index, res.worst_analytic, res.worst_numeric);
    /* xp, h, W (and b); c too for the LSTM */
    assert_int_equal(res.leaves, 3 + (bias ? 1 : 0) + (k == LSTM ? 1 : 0));
    weft_graph_free(g);
    weft_params_free(ps);
}

static void test_gradcheck(void **state)
{
    (void)state;
    weft_set_num_threads(1);
    for (int k = RNN_TANH; k <= GRU; k++) {
        gradcheck_op((enum kind)k, true, 21 + (uint64_t)k);
        gradcheck_op((enum kind)k, false, 31 + (uint64_t)k);
    }
}

/* --- bad shapes -------------------------------------------------------------------------- */

/* Build op k with the given shapes; expect NULL and an error that names the
 * op and contains `expect`. */
static void expect_refused(enum kind k, int xp_cols, int h_rows, int c_cols, int w_rows,
                           int w_cols, int b_len, const char *expect)
{
    weft_graph *g = weft_graph_new();
    weft_rng r;
    weft_rng_seed(&r, 1);
    int B = 4;
    weft_var *xp = leaf(g, &r, "xp", true, 2, (int[]){ B, xp_cols }, -1, 1);
    weft_var *h = leaf(g, &r, "h", true, 2, (int[]){ h_rows, 6 }, -1, 1);
    weft_var *c = leaf(g, &r, "c", true, 2, (int[]){ B, c_cols }, -1, 1);
    weft_var *W = leaf(g, &r, "W", true, 2, (int[]){ w_rows, w_cols }, -1, 1);
    weft_var *b = leaf(g, &r, "b", true, 1, (int[]){ b_len }, -1, 1);
    weft_var *y = NULL;
    switch (k) {
    case RNN_TANH: y = weft_rnn_tanh_step(g, xp, h, W, b); break;
    case RNN_RELU: y = weft_rnn_relu_step(g, xp, h, W, b); break;
    case LSTM: y = weft_lstm_step(g, xp, h, c, W, b); break;
    case GRU: y = weft_gru_step(g, xp, h, W, b); break;
    }
    assert_null(y);
    const char *e = weft_graph_error(g);
    assert_non_null(e);
    if (!strstr(e, kind_op[k]) || !strstr(e, expect))
        fail_msg("error '%s' should name %s and say '%s'", e, kind_op[k], expect);
    weft_graph_free(g);
}

static void test_bad_shapes(void **state)
{
    (void)state;
    /* H = 6, B = 4 throughout; one thing wrong at a time */
    expect_refused(LSTM, 23, 4, 6, 24, 6, 24, "expected [4, 24]");          /* xp width */
    expect_refused(LSTM, 24, 4, 5, 24, 6, 24, "c must be h's shape");       /* c */
    expect_refused(LSTM, 24, 4, 6, 24, 5, 24, "W_hh must be [G·hidden, hidden]");
    expect_refused(LSTM, 24, 4, 6, 18, 6, 24, "expected [24, 6]");          /* W rows */
    expect_refused(LSTM, 24, 4, 6, 24, 6, 18, "expected [24]");             /* bias */
    expect_refused(LSTM, 24, 3, 6, 24, 6, 24, "xp must be [batch, G·hidden]"); /* batch */
    expect_refused(GRU, 24, 4, 6, 18, 6, 18, "expected [4, 18]");
    expect_refused(GRU, 18, 4, 6, 24, 6, 18, "expected [18, 6]");
    expect_refused(GRU, 18, 4, 6, 18, 6, 17, "b_hh must be [G·hidden]");
    expect_refused(RNN_TANH, 7, 4, 6, 6, 6, 6, "expected [4, 6]");
    expect_refused(RNN_RELU, 6, 4, 6, 6, 7, 6, "expected [6, 6]");

    /* a NULL input (an earlier op failed) gives NULL and no error of its own */
    weft_graph *g = weft_graph_new();
    weft_var *h = weft_input_zeros(g, 2, (int[]){ 2, 3 }, "h", false);
    assert_null(weft_lstm_step(g, NULL, h, h, h, NULL));
    assert_null(weft_gru_step(g, NULL, h, h, NULL));
    assert_null(weft_rnn_tanh_step(g, h, NULL, h, NULL));
    assert_null(weft_graph_error(g));
    weft_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_matches_composed),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_chain_running_rows),
        cmocka_unit_test(test_unroll_matches_composed),
        cmocka_unit_test(test_unroll_stays_chained),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_bad_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
