/* tests/test_cell_equations.c — every built-in cell against its equations.
 *
 * For each built-in cell a plain-C reference step, written from the equations
 * of docs/cells.md and the papers they come from, runs in double precision on
 * the very parameter values of the weft cell (read by name with
 * weft_cell_param_ptr, in the documented layout). The weft model is unrolled
 * over T = 4 steps of a batch of 3 with random parameters (uniform ±0.5, so
 * gates are not saturated, biases non-zero) and random initial states, by
 * the composed path and by the default (fast) path, forward and
 * bidirectional, at I > H, I == H and I < H; every output and every final
 * state must match the reference to 1e-5.
 *
 * The equations (σ logistic sigmoid, ⊙ elementwise, W x = W's rows dotted
 * with x, matrices [out, in]):
 *
 *   Elman   h' = act(W_ih x + b_ih + W_hh h + b_hh)
 *   LSTM    i = σ(.), f = σ(.), g = tanh(.), o = σ(.) over row blocks of
 *           W_ih x + b_ih + W_hh h + b_hh (PyTorch's order i, f, g, o);
 *           c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
 *   LSTM-f  f = 1 (blocks i, g, o)          LSTM-i  i = 1 (blocks f, g, o)
 *   LSTM-o  o = 1 (blocks i, f, g)          LSTM-b  as LSTM, forget bias starts at 1
 *   coupled f = 1 - i (blocks i, g, o): the CIFG variant of Greff et al. 2017
 *   peephole (Gers & Schmidhuber 2000): i and f see c, o sees c', each through
 *           a per-unit weight: i = σ(. + w_ci ⊙ c), f = σ(. + w_cf ⊙ c),
 *           o = σ(. + w_co ⊙ c')
 *   GRU     r = σ(W_ir x + b_ir + W_hr h + b_hr), z likewise,
 *           n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h
 *   MUT1    z = σ(W_xz x + b_z); r = σ(W_xr x + W_hr h + b_r);
 *           h' = tanh(W_hh (r ⊙ h) + tanh(x̃) + b_h) ⊙ z + h ⊙ (1 - z)
 *   MUT2    z = σ(W_xz x + W_hz h + b_z); r = σ(x̃ + W_hr h + b_r);
 *           h' = tanh(W_hh (r ⊙ h) + W_xh x + b_h) ⊙ z + h ⊙ (1 - z)
 *   MUT3    z = σ(W_xz x + W_hz tanh(h) + b_z); r = σ(W_xr x + W_hr h + b_r);
 *           h' = tanh(W_hh (r ⊙ h) + W_xh x + b_h) ⊙ z + h ⊙ (1 - z)
 *   (x̃ = x when I == H, else W_xp x: the one term that needs width H.)
 *
 * Also: LSTM-b's forget-gate bias after initialisation, and every cell's
 * parameter count against its formula by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weft/weft.h"

enum { T = 4, B = 3, MAXW = 16 };

static const double TOL = 1e-5;

/* --- reading the weft cell's parameters ------------------------------------------------ */

/* The cell's parameter `name`, checked to have the documented shape
 * [rows, cols] (cols 0: a vector of rows). Borrowed. */
static const float *param(const weft_cell *c, const char *name, int rows, int cols)
{
    const weft_param *p = weft_cell_param_ptr(c, name);
    if (!p) fail_msg("%s: no parameter '%s'", c->type->name, name);
    const weft_tensor *v = &p->value;
    bool ok = cols ? (v->rank == 2 && v->shape[0] == rows && v->shape[1] == cols)
                   : (v->rank == 1 && v->shape[0] == rows);
    if (!ok)
        fail_msg("%s: '%s' has rank %d shape [%d, %d], expected [%d, %d]", c->type->name, name,
                 v->rank, v->shape[0], v->rank == 2 ? v->shape[1] : 0, rows, cols);
    return v->data;
}

/* Row `row` of the row-major matrix W (n columns) dotted with v. */
static double dot_row(const float *W, int row, int n, const double *v)
{
    double s = 0;
    for (int k = 0; k < n; k++) s += (double)W[(size_t)row * n + k] * v[k];
    return s;
}

static double sigm(double a)
{
    return 1.0 / (1.0 + exp(-a));
}

/* One reference step for one sequence: x [I], prev[k] [H] -> next[k] [H]. */
typedef void (*ref_step_fn)(const weft_cell *c, const double *x, double *const *prev,
                            double **next);

/* --- Elman ------------------------------------------------------------------------------ */

enum { ACT_TANH, ACT_RELU, ACT_SIGMOID };

static void elman(const weft_cell *c, const double *x, double *const *prev, double **next,
                  int act)
{
    int I = c->input_size, H = c->hidden_size;
    const float *Wih = param(c, "weight_ih", H, I), *Whh = param(c, "weight_hh", H, H);
    const float *bih = param(c, "bias_ih", H, 0), *bhh = param(c, "bias_hh", H, 0);
    for (int j = 0; j < H; j++) {
        double a = dot_row(Wih, j, I, x) + bih[j] + dot_row(Whh, j, H, prev[0]) + bhh[j];
        next[0][j] = act == ACT_RELU ? (a > 0 ? a : 0) : act == ACT_SIGMOID ? sigm(a) : tanh(a);
    }
}

static void ref_rnn_tanh(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    elman(c, x, prev, next, ACT_TANH);
}

static void ref_rnn_relu(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    elman(c, x, prev, next, ACT_RELU);
}

static void ref_rnn_sigmoid(const weft_cell *c, const double *x, double *const *prev,
                            double **next)
{
    elman(c, x, prev, next, ACT_SIGMOID);
}

/* --- the LSTM family --------------------------------------------------------------------- */

/* weight_ih [G·H, I], weight_hh [G·H, H], bias_ih, bias_hh [G·H]. */
typedef struct lstm_params {
    const float *Wih, *Whh, *bih, *bhh;
    int I, H;
} lstm_params;

static lstm_params lstm_get(const weft_cell *c, int G)
{
    int I = c->input_size, H = c->hidden_size;
    return (lstm_params){ param(c, "weight_ih", G * H, I), param(c, "weight_hh", G * H, H),
                          param(c, "bias_ih", G * H, 0), param(c, "bias_hh", G * H, 0), I, H };
}

/* Pre-activation of unit j of row block `blk`: W_ih x + b_ih + W_hh h + b_hh. */
static double pre(const lstm_params *p, int blk, int j, const double *x, const double *h)
{
    int r = blk * p->H + j;
    return dot_row(p->Wih, r, p->I, x) + p->bih[r] + dot_row(p->Whh, r, p->H, h) + p->bhh[r];
}

/* LSTM and LSTM-b: blocks i, f, g, o. */
static void ref_lstm(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    lstm_params p = lstm_get(c, 4);
    const double *h = prev[0], *cp = prev[1];
    for (int j = 0; j < p.H; j++) {
        double i = sigm(pre(&p, 0, j, x, h)), f = sigm(pre(&p, 1, j, x, h));
        double g = tanh(pre(&p, 2, j, x, h)), o = sigm(pre(&p, 3, j, x, h));
        double cn = f * cp[j] + i * g;
        next[1][j] = cn;
        next[0][j] = o * tanh(cn);
    }
}

/* LSTM-f: no forget gate (f = 1), blocks i, g, o. */
static void ref_lstm_f(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    lstm_params p = lstm_get(c, 3);
    const double *h = prev[0], *cp = prev[1];
    for (int j = 0; j < p.H; j++) {
        double i = sigm(pre(&p, 0, j, x, h)), g = tanh(pre(&p, 1, j, x, h));
        double o = sigm(pre(&p, 2, j, x, h));
        double cn = cp[j] + i * g;
        next[1][j] = cn;
        next[0][j] = o * tanh(cn);
    }
}

/* LSTM-i: no input gate (i = 1), blocks f, g, o. */
static void ref_lstm_i(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    lstm_params p = lstm_get(c, 3);
    const double *h = prev[0], *cp = prev[1];
    for (int j = 0; j < p.H; j++) {
        double f = sigm(pre(&p, 0, j, x, h)), g = tanh(pre(&p, 1, j, x, h));
        double o = sigm(pre(&p, 2, j, x, h));
        double cn = f * cp[j] + g;
        next[1][j] = cn;
        next[0][j] = o * tanh(cn);
    }
}

/* LSTM-o: no output gate (o = 1), blocks i, f, g. */
static void ref_lstm_o(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    lstm_params p = lstm_get(c, 3);
    const double *h = prev[0], *cp = prev[1];
    for (int j = 0; j < p.H; j++) {
        double i = sigm(pre(&p, 0, j, x, h)), f = sigm(pre(&p, 1, j, x, h));
        double g = tanh(pre(&p, 2, j, x, h));
        double cn = f * cp[j] + i * g;
        next[1][j] = cn;
        next[0][j] = tanh(cn);
    }
}

/* Coupled input and forget gates (f = 1 - i), blocks i, g, o. */
static void ref_lstm_coupled(const weft_cell *c, const double *x, double *const *prev,
                             double **next)
{
    lstm_params p = lstm_get(c, 3);
    const double *h = prev[0], *cp = prev[1];
    for (int j = 0; j < p.H; j++) {
        double i = sigm(pre(&p, 0, j, x, h)), g = tanh(pre(&p, 1, j, x, h));
        double o = sigm(pre(&p, 2, j, x, h));
        double cn = (1 - i) * cp[j] + i * g;
        next[1][j] = cn;
        next[0][j] = o * tanh(cn);
    }
}

/* Peepholes (Gers & Schmidhuber 2000): i and f look at c_{t-1}, o at c_t. */
static void ref_lstm_peephole(const weft_cell *c, const double *x, double *const *prev,
                              double **next)
{
    lstm_params p = lstm_get(c, 4);
    const float *wci = param(c, "weight_ci", p.H, 0), *wcf = param(c, "weight_cf", p.H, 0);
    const float *wco = param(c, "weight_co", p.H, 0);
    const double *h = prev[0], *cp = prev[1];
    for (int j = 0; j < p.H; j++) {
        double i = sigm(pre(&p, 0, j, x, h) + wci[j] * cp[j]);
        double f = sigm(pre(&p, 1, j, x, h) + wcf[j] * cp[j]);
        double g = tanh(pre(&p, 2, j, x, h));
        double cn = f * cp[j] + i * g;
        double o = sigm(pre(&p, 3, j, x, h) + wco[j] * cn);
        next[1][j] = cn;
        next[0][j] = o * tanh(cn);
    }
}

/* --- GRU ----------------------------------------------------------------------------------- */

static void ref_gru(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    int I = c->input_size, H = c->hidden_size;
    const float *Wih = param(c, "weight_ih", 3 * H, I), *Whh = param(c, "weight_hh", 3 * H, H);
    const float *bih = param(c, "bias_ih", 3 * H, 0), *bhh = param(c, "bias_hh", 3 * H, 0);
    const double *h = prev[0];
    for (int j = 0; j < H; j++) {
        int R = j, Z = H + j, N = 2 * H + j;
        double r = sigm(dot_row(Wih, R, I, x) + bih[R] + dot_row(Whh, R, H, h) + bhh[R]);
        double z = sigm(dot_row(Wih, Z, I, x) + bih[Z] + dot_row(Whh, Z, H, h) + bhh[Z]);
        double n = tanh(dot_row(Wih, N, I, x) + bih[N] + r * (dot_row(Whh, N, H, h) + bhh[N]));
        next[0][j] = (1 - z) * n + z * h[j];
    }
}

/* --- MUT1, MUT2, MUT3 -------------------------------------------------------------------- */

/* x̃: x itself when I == H (and then there must be no weight_xp), else W_xp x. */
static void x_tilde(const weft_cell *c, const double *x, double *xt)
{
    int I = c->input_size, H = c->hidden_size;
    if (I == H) {
        if (weft_cell_param_ptr(c, "weight_xp"))
            fail_msg("%s: weight_xp declared although I == H", c->type->name);
        for (int j = 0; j < H; j++) xt[j] = x[j];
        return;
    }
    const float *Wxp = param(c, "weight_xp", H, I);
    for (int j = 0; j < H; j++) xt[j] = dot_row(Wxp, j, I, x);
}

/* The update shared by the three: given z and r,
 * h' = tanh(W_hh (r ⊙ h) + x_term + b_h) ⊙ z + h ⊙ (1 - z). */
static void mut_update(const weft_cell *c, const double *h, const double *z, const double *r,
                       const double *x_term, double *hn)
{
    int H = c->hidden_size;
    const float *Whh = param(c, "weight_hh", H, H), *bh = param(c, "bias_h", H, 0);
    double rh[MAXW];
    for (int j = 0; j < H; j++) rh[j] = r[j] * h[j];
    for (int j = 0; j < H; j++) {
        double cand = tanh(dot_row(Whh, j, H, rh) + x_term[j] + bh[j]);
        hn[j] = cand * z[j] + h[j] * (1 - z[j]);
    }
}

static void ref_mut1(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    int I = c->input_size, H = c->hidden_size;
    const float *Wxz = param(c, "weight_xz", H, I), *bz = param(c, "bias_z", H, 0);
    const float *Wxr = param(c, "weight_xr", H, I), *Whr = param(c, "weight_hr", H, H);
    const float *br = param(c, "bias_r", H, 0);
    const double *h = prev[0];
    double z[MAXW], r[MAXW], xt[MAXW], term[MAXW];
    x_tilde(c, x, xt);
    for (int j = 0; j < H; j++) {
        z[j] = sigm(dot_row(Wxz, j, I, x) + bz[j]);
        r[j] = sigm(dot_row(Wxr, j, I, x) + dot_row(Whr, j, H, h) + br[j]);
        term[j] = tanh(xt[j]);
    }
    mut_update(c, h, z, r, term, next[0]);
}

static void ref_mut2(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    int I = c->input_size, H = c->hidden_size;
    const float *Wxz = param(c, "weight_xz", H, I), *Whz = param(c, "weight_hz", H, H);
    const float *bz = param(c, "bias_z", H, 0);
    const float *Whr = param(c, "weight_hr", H, H), *br = param(c, "bias_r", H, 0);
    const float *Wxh = param(c, "weight_xh", H, I);
    const double *h = prev[0];
    double z[MAXW], r[MAXW], xt[MAXW], term[MAXW];
    x_tilde(c, x, xt);
    for (int j = 0; j < H; j++) {
        z[j] = sigm(dot_row(Wxz, j, I, x) + dot_row(Whz, j, H, h) + bz[j]);
        r[j] = sigm(xt[j] + dot_row(Whr, j, H, h) + br[j]);
        term[j] = dot_row(Wxh, j, I, x);
    }
    mut_update(c, h, z, r, term, next[0]);
}

static void ref_mut3(const weft_cell *c, const double *x, double *const *prev, double **next)
{
    int I = c->input_size, H = c->hidden_size;
    const float *Wxz = param(c, "weight_xz", H, I), *Whz = param(c, "weight_hz", H, H);
    const float *bz = param(c, "bias_z", H, 0);
    const float *Wxr = param(c, "weight_xr", H, I), *Whr = param(c, "weight_hr", H, H);
    const float *br = param(c, "bias_r", H, 0);
    const float *Wxh = param(c, "weight_xh", H, I);
    if (weft_cell_param_ptr(c, "weight_xp")) fail_msg("mut3: weight_xp declared");
    const double *h = prev[0];
    double th[MAXW], z[MAXW], r[MAXW], term[MAXW];
    for (int j = 0; j < H; j++) th[j] = tanh(h[j]);
    for (int j = 0; j < H; j++) {
        z[j] = sigm(dot_row(Wxz, j, I, x) + dot_row(Whz, j, H, th) + bz[j]);
        r[j] = sigm(dot_row(Wxr, j, I, x) + dot_row(Whr, j, H, h) + br[j]);
        term[j] = dot_row(Wxh, j, I, x);
    }
    mut_update(c, h, z, r, term, next[0]);
}

/* --- every built-in cell with its reference ------------------------------------------------ */

typedef struct cell_case {
    const weft_cell_type *type;
    ref_step_fn ref;
} cell_case;

static const cell_case cases[] = {
    { &weft_cell_rnn_tanh, ref_rnn_tanh },
    { &weft_cell_rnn_relu, ref_rnn_relu },
    { &weft_cell_rnn_sigmoid, ref_rnn_sigmoid },
    { &weft_cell_lstm, ref_lstm },
    { &weft_cell_lstm_f, ref_lstm_f },
    { &weft_cell_lstm_i, ref_lstm_i },
    { &weft_cell_lstm_o, ref_lstm_o },
    { &weft_cell_lstm_b, ref_lstm },
    { &weft_cell_lstm_peephole, ref_lstm_peephole },
    { &weft_cell_lstm_coupled, ref_lstm_coupled },
    { &weft_cell_gru, ref_gru },
    { &weft_cell_mut1, ref_mut1 },
    { &weft_cell_mut2, ref_mut2 },
    { &weft_cell_mut3, ref_mut3 },
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

/* |got - want| within TOL (relative once |want| > 1); else fail naming where. */
static void expect_close(float got, double want, const char *what, const weft_cell_type *type,
                         int I, int H, bool bidir, bool composed, int t, int b, int j)
{
    double scale = fabs(want) > 1 ? fabs(want) : 1;
    if (!(fabs((double)got - want) <= TOL * scale))
        fail_msg("%s I=%d H=%d %s %s: %s at t=%d b=%d j=%d is %.8f, reference %.8f",
                 type->name, I, H, bidir ? "bidirectional" : "forward",
                 composed ? "composed" : "default path", what, t, b, j, got, want);
}

/* Unroll one layer of `type` (one or two directions) over random inputs and
 * initial states with parameters uniform in ±0.5, and compare every output
 * and final state with the reference run on the same numbers. */
static void check_against_reference(const cell_case *cc, int I, int H, bool bidir, bool composed)
{
    const weft_cell_type *type = cc->type;
    assert_true(I <= MAXW && H <= MAXW);
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 1000 + 7 * (uint64_t)I + H);
    weft_params *params = weft_params_new();
    weft_rnn *rnn = weft_rnn_new(params, &(weft_rnn_config){ .cell = type, .input_size = I,
        .hidden_size = H, .num_layers = 1, .bidirectional = bidir, .prefix = "m." },
        err, sizeof err);
    if (!rnn) fail_msg("%s: %s", type->name, err);
    for (int p = 0; p < weft_params_count(params); p++)
        weft_rng_fill_uniform(&rng, &weft_params_at(params, p)->value, -0.5f, 0.5f);

    int dirs = bidir ? 2 : 1, ns = type->n_states, n = weft_rnn_num_states(rnn);
    assert_int_equal(n, dirs * ns);
    weft_graph *g = weft_graph_new();
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I });
    weft_rng_fill_uniform(&rng, &x, -1, 1);
    weft_var *init[2 * WEFT_CELL_MAX_STATES];
    weft_tensor s0[2 * WEFT_CELL_MAX_STATES];
    for (int k = 0; k < n; k++) {
        s0[k] = weft_tensor_alloc2(B, H);
        weft_rng_fill_uniform(&rng, &s0[k], -0.5f, 0.5f);
        init[k] = weft_state_leaf(g, &s0[k], "s0", false);
    }
    weft_rnn_out out;
    if (weft_unroll(g, rnn, weft_input(g, &x, "x", false),
                    &(weft_unroll_opts){ .init_vars = init, .composed = composed }, &out))
        fail_msg("%s: %s", type->name, weft_graph_error(g));
    assert_int_equal(out.width, dirs * H);
    assert_int_equal(out.n_final, n);
    const float *seq = weft_value(out.seq)->data;

    for (int d = 0; d < dirs; d++) {
        const weft_cell *c = weft_rnn_cell(rnn, 0, d);
        assert_non_null(c);
        double state[B][WEFT_CELL_MAX_STATES][MAXW], nxt[WEFT_CELL_MAX_STATES][MAXW], xb[MAXW];
        for (int k = 0; k < ns; k++)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < H; j++)
                    state[b][k][j] = s0[d * ns + k].data[b * H + j];
        for (int step = 0; step < T; step++) {
            int t = d == 0 ? step : T - 1 - step;   /* the backward direction runs from the end */
            const float *yt = weft_value(out.steps[t])->data;
            for (int b = 0; b < B; b++) {
                double *prev[WEFT_CELL_MAX_STATES], *next[WEFT_CELL_MAX_STATES];
                for (int k = 0; k < ns; k++) {
                    prev[k] = state[b][k];
                    next[k] = nxt[k];
                }
                for (int i = 0; i < I; i++) xb[i] = x.data[((size_t)t * B + b) * I + i];
                cc->ref(c, xb, prev, next);
                for (int k = 0; k < ns; k++) memcpy(state[b][k], nxt[k], sizeof nxt[k]);
                for (int j = 0; j < H; j++) {
                    int col = d * H + j;
                    expect_close(yt[b * dirs * H + col], state[b][0][j], "output", type, I, H,
                                 bidir, composed, t, b, col);
                    expect_close(seq[((size_t)t * B + b) * dirs * H + col], state[b][0][j],
                                 "out.seq", type, I, H, bidir, composed, t, b, col);
                }
            }
        }
        for (int k = 0; k < ns; k++) {
            const weft_tensor *f = weft_value(out.final[d * ns + k]);
            char what[64];
            snprintf(what, sizeof what, "final state %d (dir %d)", k, d);
            for (int b = 0; b < B; b++)
                for (int j = 0; j < H; j++)
                    expect_close(f->data[b * H + j], state[b][k][j], what, type, I, H, bidir,
                                 composed, -1, b, j);
        }
    }
    for (int k = 0; k < n; k++) weft_tensor_release(&s0[k]);
    weft_tensor_release(&x);
    weft_graph_free(g);
    weft_rnn_free(rnn);
    weft_params_free(params);
}

static void check_cell(const cell_case *cc)
{
    /* I > H, I == H (MUT1/MUT2 without weight_xp), I < H */
    const int sizes[][2] = { { 5, 4 }, { 4, 4 }, { 3, 4 } };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int bidir = 0; bidir <= 1; bidir++)
            for (int composed = 0; composed <= 1; composed++)
                check_against_reference(cc, sizes[s][0], sizes[s][1], bidir, composed);
}

/* One test per cell, named after it (the cases' order). */
static void test_cell(void **state)
{
    check_cell(*state);
}

/* Every built-in cell has a reference here, so a new one cannot go unchecked. */
static void test_every_builtin_has_a_reference(void **state)
{
    (void)state;
    int n;
    const weft_cell_type *const *types = weft_cell_types(&n);
    assert_int_equal(n, N_CASES);
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (int k = 0; k < N_CASES; k++) found = found || cases[k].type == types[i];
        if (!found) fail_msg("built-in cell '%s' has no reference step", types[i]->name);
    }
}

/* --- initialisation and parameter counts ------------------------------------------------- */

/* LSTM-b: after weft_rnn_reset_parameters, in every cell of a 2-layer
 * bidirectional model, the forget gate's bias (rows [H, 2H) of bias_ih plus
 * those of bias_hh) is exactly 1, held by bias_ih; the other rows keep the
 * default uniform(±1/sqrt(H)). Plain LSTM does not do this. */
static void test_lstm_b_forget_bias(void **state)
{
    (void)state;
    char err[256];
    int H = 9;
    double k = 1.0 / sqrt(H);
    for (int variant = 0; variant < 2; variant++) {
        const weft_cell_type *type = variant ? &weft_cell_lstm_b : &weft_cell_lstm;
        weft_rng rng;
        weft_rng_seed(&rng, 3);
        weft_params *p = weft_params_new();
        weft_rnn *rnn = weft_rnn_new(p, &(weft_rnn_config){ .cell = type, .input_size = 5,
            .hidden_size = H, .num_layers = 2, .bidirectional = true }, err, sizeof err);
        assert_non_null(rnn);
        assert_int_equal(weft_rnn_reset_parameters(rnn, &rng), 0);
        for (int l = 0; l < 2; l++)
            for (int d = 0; d < 2; d++) {
                const weft_cell *c = weft_rnn_cell(rnn, l, d);
                const float *bih = param(c, "bias_ih", 4 * H, 0);
                const float *bhh = param(c, "bias_hh", 4 * H, 0);
                int ones = 0;
                for (int r = 0; r < 4 * H; r++) {
                    bool f_row = r >= H && r < 2 * H;
                    if (variant && f_row) {
                        assert_true(bih[r] == 1.0f);
                        assert_true(bhh[r] == 0.0f);
                    } else {
                        assert_true(fabs(bih[r]) <= k + 1e-6 && fabs(bhh[r]) <= k + 1e-6);
                    }
                    ones += bih[r] == 1.0f;
                }
                assert_int_equal(ones, variant ? H : 0);
            }
        weft_rnn_free(rnn);
        weft_params_free(p);
    }
}

/* Parameter counts against the formulas, over several sizes, as declared
 * (weft_cell_type_numel) and as a bound cell holds them. */
static size_t hand_count(const weft_cell_type *t, size_t I, size_t H)
{
    size_t xp = I != H ? H * I : 0;
    if (t == &weft_cell_rnn_tanh || t == &weft_cell_rnn_relu || t == &weft_cell_rnn_sigmoid)
        return H * (I + H) + 2 * H;
    if (t == &weft_cell_lstm || t == &weft_cell_lstm_b) return 4 * H * (I + H) + 8 * H;
    if (t == &weft_cell_lstm_f || t == &weft_cell_lstm_i || t == &weft_cell_lstm_o ||
        t == &weft_cell_lstm_coupled)
        return 3 * H * (I + H) + 6 * H;
    if (t == &weft_cell_lstm_peephole) return 4 * H * (I + H) + 11 * H;
    if (t == &weft_cell_gru) return 3 * H * (I + H) + 6 * H;
    if (t == &weft_cell_mut1) return 2 * H * (I + H) + 3 * H + xp;
    if (t == &weft_cell_mut2) return 2 * H * I + 3 * H * H + 3 * H + xp;
    if (t == &weft_cell_mut3) return 3 * H * (I + H) + 3 * H;
    fail_msg("%s: no formula", t->name);
    return 0;
}

static void test_param_counts(void **state)
{
    (void)state;
    const int sizes[][2] = { { 1, 1 }, { 3, 2 }, { 2, 3 }, { 7, 7 }, { 10, 6 } };
    for (int k = 0; k < N_CASES; k++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            const weft_cell_type *t = cases[k].type;
            int I = sizes[s][0], H = sizes[s][1];
            size_t want = hand_count(t, I, H);
            char err[256];
            weft_params *p = weft_params_new();
            weft_cell c;
            assert_int_equal(weft_cell_bind(&c, t, I, H, p, NULL, NULL, err, sizeof err), 0);
            if (weft_cell_type_numel(t, I, H) != want || weft_cell_numel(&c) != want ||
                weft_params_numel(p) != want)
                fail_msg("%s I=%d H=%d: %zu / %zu / %zu parameters, formula %zu", t->name, I, H,
                         weft_cell_type_numel(t, I, H), weft_cell_numel(&c),
                         weft_params_numel(p), want);
            weft_params_free(p);
        }
}

int main(void)
{
    struct CMUnitTest tests[N_CASES + 3];
    int n = 0;
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_every_builtin_has_a_reference);
    for (int k = 0; k < N_CASES; k++)
        tests[n++] = (struct CMUnitTest){ .name = cases[k].type->name, .test_func = test_cell,
                                          .initial_state = (void *)&cases[k] };
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_lstm_b_forget_bias);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_param_counts);
    assert_int_equal(n, N_CASES + 3);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
