/* ops/examples.c — a small test graph for every op (see ops/examples.h).
 *
 * Every builder draws its numbers from the rng it is given, so one seed gives
 * one graph. Values are chosen where the op is smooth: log sees positive
 * inputs, relu sees inputs at least 0.1 away from its kink (the gradient
 * check steps by 1e-2), exp sees inputs whose exponentials stay moderate. */
#include "ops/examples.h"

#include "weft/ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* --- building blocks ---------------------------------------------------------------------- */

/* A leaf of the given shape, uniform in [lo, hi). */
static weft_var *leaf(weft_graph *g, weft_rng *r, const char *name, bool requires_grad,
                      int rank, const int *shape, float lo, float hi)
{
    weft_var *v = weft_input_zeros(g, rank, shape, name, requires_grad);
    if (v) weft_rng_fill_uniform(r, &v->value, lo, hi);
    return v;
}

/* An input that asks for a gradient, uniform in [-1, 1). */
static weft_var *input(weft_graph *g, weft_rng *r, const char *name, int rank, const int *shape)
{
    return leaf(g, r, name, true, rank, shape, -1.0f, 1.0f);
}

/* A parameter of the store, uniform in [-1, 1), and its leaf in g. */
static weft_var *param(weft_graph *g, weft_params *ps, weft_rng *r, const char *name, int rank,
                       const int *shape)
{
    weft_param *p = weft_params_add(ps, name, rank, shape);
    if (!p) return weft_graph_fail(g, "example: %s", weft_params_error(ps));
    weft_rng_fill_uniform(r, &p->value, -1.0f, 1.0f);
    return weft_param_var(g, p);
}

/* The loss every example ends with: sum(y ⊙ w) for a fixed random w of y's
 * shape, so that each element of y gets a gradient of its own. */
static weft_var *weighted_sum(weft_graph *g, weft_rng *r, weft_var *y)
{
    if (!y) return NULL;
    weft_var *w = leaf(g, r, "w", false, y->value.rank, y->value.shape, -1.0f, 1.0f);
    return weft_sum(g, weft_mul(g, y, w));
}

#define SHAPE(...) (int[]){ __VA_ARGS__ }
#define RANK(...) ((int)(sizeof((int[]){ __VA_ARGS__ }) / sizeof(int)))
/* input / param with the shape written inline: INPUT(g, r, "x", 3, 5) */
#define INPUT(g, r, name, ...) input(g, r, name, RANK(__VA_ARGS__), SHAPE(__VA_ARGS__))
#define PARAM(g, ps, r, name, ...) param(g, ps, r, name, RANK(__VA_ARGS__), SHAPE(__VA_ARGS__))

/* --- matmul: every transpose combination, and a rank-3 left operand ---------------------- */

enum { TRANS_A = 1, TRANS_B = 2, RANK3_A = 4 };

/* op(a) [3, 5] times op(b) [5, 4]; a transposed operand is stored the other
 * way round. Without transposes b is a parameter. */
static weft_var *ex_matmul(weft_graph *g, weft_params *ps, weft_rng *r, int how)
{
    bool ta = how & TRANS_A, tb = how & TRANS_B;
    weft_var *a = how & RANK3_A ? INPUT(g, r, "a", 2, 3, 5)   /* T x B x K */
                : ta            ? INPUT(g, r, "a", 5, 3)
                                : INPUT(g, r, "a", 3, 5);
    weft_var *b = tb ? INPUT(g, r, "b", 4, 5)
                : ta ? INPUT(g, r, "b", 5, 4)
                     : PARAM(g, ps, r, "b", 5, 4);
    return weighted_sum(g, r, weft_matmul_ex(g, a, ta, b, tb));
}

/* --- bmm: 2 products of op(a) [3, 5] times op(b) [5, 4], every transpose combination ------ */

static weft_var *ex_bmm(weft_graph *g, weft_params *ps, weft_rng *r, int how)
{
    (void)ps;
    bool ta = how & TRANS_A, tb = how & TRANS_B;
    weft_var *a = ta ? INPUT(g, r, "a", 2, 5, 3) : INPUT(g, r, "a", 2, 3, 5);
    weft_var *b = tb ? INPUT(g, r, "b", 2, 4, 5) : INPUT(g, r, "b", 2, 5, 4);
    return weighted_sum(g, r, weft_bmm(g, a, ta, b, tb));
}

/* --- linear: x [3, 5] with a bias, x [2, 3, 5] without --------------------------------------- */

static weft_var *ex_linear(weft_graph *g, weft_params *ps, weft_rng *r, int with_bias)
{
    weft_var *x = with_bias ? INPUT(g, r, "x", 3, 5) : INPUT(g, r, "x", 2, 3, 5);
    weft_var *W = PARAM(g, ps, r, "W", 4, 5);
    weft_var *b = with_bias ? PARAM(g, ps, r, "b", 4) : NULL;
    return weighted_sum(g, r, weft_linear(g, x, W, b));
}

/* --- add, sub, mul: b of a's shape, one row, one column, one element ------------------------- */

enum { SAME, ROW, COLUMN, SCALAR };

static weft_var *binary_example(weft_graph *g, weft_rng *r,
                                weft_var *(*f)(weft_graph *, weft_var *, weft_var *), int mode)
{
    weft_var *a = INPUT(g, r, "a", 3, 5);
    weft_var *b = mode == SAME   ? INPUT(g, r, "b", 3, 5)
                : mode == ROW    ? INPUT(g, r, "b", 5)
                : mode == COLUMN ? INPUT(g, r, "b", 3, 1)
                                 : INPUT(g, r, "b", 1);
    return weighted_sum(g, r, f(g, a, b));
}

static weft_var *ex_add(weft_graph *g, weft_params *ps, weft_rng *r, int mode)
{
    (void)ps;
    return binary_example(g, r, weft_add, mode);
}

static weft_var *ex_sub(weft_graph *g, weft_params *ps, weft_rng *r, int mode)
{
    (void)ps;
    return binary_example(g, r, weft_sub, mode);
}

static weft_var *ex_mul(weft_graph *g, weft_params *ps, weft_rng *r, int mode)
{
    (void)ps;
    return binary_example(g, r, weft_mul, mode);
}

/* --- scale, one_minus and the activations ---------------------------------------------------- */

static weft_var *ex_scale(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    return weighted_sum(g, r, weft_scale(g, INPUT(g, r, "x", 3, 5), -1.7f));
}

static weft_var *ex_one_minus(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    return weighted_sum(g, r, weft_one_minus(g, INPUT(g, r, "x", 3, 5)));
}

static weft_var *ex_sigmoid(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *x = leaf(g, r, "x", true, 2, SHAPE(3, 5), -2.0f, 2.0f);
    return weighted_sum(g, r, weft_sigmoid(g, x));
}

static weft_var *ex_tanh(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *x = leaf(g, r, "x", true, 2, SHAPE(3, 5), -2.0f, 2.0f);
    return weighted_sum(g, r, weft_tanh(g, x));
}

static weft_var *ex_relu(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    /* |x| in [0.1, 1.5) with a random sign: both sides, no kink within eps */
    weft_var *x = leaf(g, r, "x", true, 2, SHAPE(3, 5), 0.1f, 1.5f);
    if (x)
        for (size_t i = 0; i < x->value.size; i++)
            if (weft_rng_u32(r) & 1u) x->value.data[i] = -x->value.data[i];
    return weighted_sum(g, r, weft_relu(g, x));
}

static weft_var *ex_exp(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *x = leaf(g, r, "x", true, 2, SHAPE(3, 5), -1.5f, 1.5f);
    return weighted_sum(g, r, weft_exp(g, x));
}

static weft_var *ex_log(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *x = leaf(g, r, "x", true, 2, SHAPE(3, 5), 0.5f, 2.0f);
    return weighted_sum(g, r, weft_log(g, x));
}

/* --- softmax, log-softmax, cross-entropy ------------------------------------------------------ */

static weft_var *ex_softmax(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *x = leaf(g, r, "x", true, 2, SHAPE(3, 5), -2.0f, 2.0f);
    return weighted_sum(g, r, weft_softmax(g, x));
}

/* rows of 6 with lengths 6, 2, 1 and 4: the padding columns get no gradient, which the
 * check sees (their numeric derivative is zero too) */
static weft_var *ex_masked_softmax(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *x = leaf(g, r, "x", true, 3, SHAPE(2, 2, 6), -2.0f, 2.0f);
    return weighted_sum(g, r, weft_masked_softmax(g, x, (int[]){ 6, 2, 1, 4 }));
}

static weft_var *ex_log_softmax(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *x = leaf(g, r, "x", true, 2, SHAPE(3, 5), -2.0f, 2.0f);
    return weighted_sum(g, r, weft_log_softmax(g, x));
}

/* logits [2, 3, 7]: six rows of seven classes; masked: two padding rows (0)
 * and one row of weight 0.5, so the mean is a weighted one */
static weft_var *ex_cross_entropy(weft_graph *g, weft_params *ps, weft_rng *r, int masked)
{
    (void)ps;
    enum { ROWS = 6, CLASSES = 7 };
    weft_var *x = leaf(g, r, "logits", true, 3, SHAPE(2, 3, CLASSES), -2.0f, 2.0f);
    int targets[ROWS];
    for (int i = 0; i < ROWS; i++) targets[i] = (int)weft_rng_below(r, CLASSES);
    const float mask[ROWS] = { 1.0f, 0.0f, 1.0f, 0.5f, 0.0f, 1.0f };
    return weft_cross_entropy(g, x, targets, masked ? mask : NULL);
}

/* x [2, 3, 5] through W [7, 5] (+ b): six rows of seven classes; the masked
 * variant has no bias and the mask of the cross_entropy example */
static weft_var *ex_linear_cross_entropy(weft_graph *g, weft_params *ps, weft_rng *r, int masked)
{
    enum { ROWS = 6, CLASSES = 7 };
    weft_var *x = INPUT(g, r, "x", 2, 3, 5);
    weft_var *W = PARAM(g, ps, r, "W", CLASSES, 5);
    weft_var *b = masked ? NULL : PARAM(g, ps, r, "b", CLASSES);
    int targets[ROWS];
    for (int i = 0; i < ROWS; i++) targets[i] = (int)weft_rng_below(r, CLASSES);
    const float mask[ROWS] = { 1.0f, 0.0f, 1.0f, 0.5f, 0.0f, 1.0f };
    return weft_linear_cross_entropy(g, x, W, b, targets, masked ? mask : NULL);
}

/* --- gathering and reshaping -------------------------------------------------------------------- */

static weft_var *ex_embedding(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)arg;
    weft_var *E = PARAM(g, ps, r, "embedding", 7, 3);
    const int ids[] = { 4, 1, 4, 0, 6, 4, 2, 1 };   /* 4 three times, 1 twice */
    return weighted_sum(g, r, weft_embedding(g, E, ids, 8));
}

static weft_var *ex_concat(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *xs[3] = { INPUT(g, r, "a", 3, 2), INPUT(g, r, "b", 3, 4), INPUT(g, r, "c", 3, 1) };
    return weighted_sum(g, r, weft_concat(g, xs, 3));
}

static weft_var *ex_slice(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    return weighted_sum(g, r, weft_slice(g, INPUT(g, r, "x", 3, 7), 2, 3));
}

static weft_var *ex_stack(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *xs[3] = { INPUT(g, r, "x0", 2, 5), INPUT(g, r, "x1", 2, 5), INPUT(g, r, "x2", 2, 5) };
    return weighted_sum(g, r, weft_stack(g, xs, 3));
}

/* x [3, 5] repeated 4 times -> [3, 4, 5] */
static weft_var *ex_expand(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    return weighted_sum(g, r, weft_expand(g, INPUT(g, r, "x", 3, 5), 4));
}

/* x [4, 3, 5] -> [3, 4, 5] */
static weft_var *ex_transpose01(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    return weighted_sum(g, r, weft_transpose01(g, INPUT(g, r, "x", 4, 3, 5)));
}

static weft_var *ex_concat_rows(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *xs[3] = { INPUT(g, r, "x0", 2, 5), INPUT(g, r, "x1", 1, 5), INPUT(g, r, "x2", 3, 5) };
    return weighted_sum(g, r, weft_concat_rows(g, xs, 3));
}

/* x [4, 3, 5]: one step (len 1, the first dimension dropped) or a range of 2 */
static weft_var *ex_narrow(weft_graph *g, weft_params *ps, weft_rng *r, int len)
{
    (void)ps;
    return weighted_sum(g, r, weft_narrow(g, INPUT(g, r, "x", 4, 3, 5), 1, len));
}

static weft_var *ex_reshape(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    return weighted_sum(g, r, weft_reshape(g, INPUT(g, r, "x", 3, 4), 2, SHAPE(2, 6)));
}

/* --- reductions ---------------------------------------------------------------------------------- */

static weft_var *ex_sum(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    return weighted_sum(g, r, weft_sum(g, INPUT(g, r, "x", 3, 5)));
}

static weft_var *ex_mean(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    return weighted_sum(g, r, weft_mean(g, INPUT(g, r, "x", 3, 5)));
}

/* three sequences of 4, 2 and 1 steps. The steps of one (b, f) are at
 * least 0.3 apart (finite differences must not cross a tie), the winner moves
 * with b and f, and the padding holds large values that must never win. */
static weft_var *ex_max_steps(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    weft_var *x = INPUT(g, r, "x", 4, 3, 5);
    const int len[3] = { 4, 2, 1 };
    for (int t = 0; x && t < 4; t++)
        for (int b = 0; b < 3; b++)
            for (int f = 0; f < 5; f++) {
                float *v = &x->value.data[(t * 3 + b) * 5 + f];
                *v = t >= len[b] ? 9.0f : 0.5f * (float)((t + b + f) % len[b]) + 0.1f * *v - 1.0f;
            }
    return weighted_sum(g, r, weft_max_steps(g, x, len));
}

/* --- dropout and detach ------------------------------------------------------------------------- */

/* A dropout mask: 0 with probability p, else 1/(1-p) (inverted dropout). */
static weft_var *dropout_mask(weft_graph *g, weft_rng *r, int rank, const int *shape)
{
    const float p = 0.3f;
    weft_var *m = weft_input_zeros(g, rank, shape, "mask", false);
    if (m)
        for (size_t i = 0; i < m->value.size; i++)
            m->value.data[i] = weft_rng_uniform(r) < p ? 0.0f : 1.0f / (1.0f - p);
    return m;
}

/* x [2, 3, 5] with a mask of its shape, or one mask row for all six rows (the
 * same mask at every time step) */
static weft_var *ex_dropout(weft_graph *g, weft_params *ps, weft_rng *r, int row_mask)
{
    (void)ps;
    weft_var *x = INPUT(g, r, "x", 2, 3, 5);
    weft_var *m = row_mask ? dropout_mask(g, r, 2, SHAPE(1, 5)) : dropout_mask(g, r, 3, SHAPE(2, 3, 5));
    return weighted_sum(g, r, weft_dropout(g, x, m));
}

static weft_var *ex_detach(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    (void)ps, (void)arg;
    /* y = tanh(x) ⊙ detach(tanh(x)): the detached factor is a constant, so
     * dL/dx = w ⊙ d ⊙ (1 - tanh²x), without the term a gradient flowing
     * through detach would add. The gradient check holds detached values
     * constant too (it recomputes only what requires a gradient). */
    weft_var *x = INPUT(g, r, "x", 3, 5);
    weft_var *t = weft_tanh(g, x);
    return weighted_sum(g, r, weft_mul(g, t, weft_detach(g, t)));
}

/* --- fused recurrent steps ---------------------------------------------------------------------- */

enum { STEP_NO_BIAS = 1, STEP_RELU = 2 };

/* One fused step at B = 3, H = 5: xp [3, G·5], h (and c) [3, 5] ask for a
 * gradient, W_hh [G·5, 5] and b_hh [G·5] (unless STEP_NO_BIAS) are
 * parameters. The relu variant moves every pre-activation at least 0.1 away
 * from the kink. The LSTM's loss weighs both blocks of its [2, 3, 5] value,
 * h' and c'. */
static weft_var *fused_step_example(weft_graph *g, weft_params *ps, weft_rng *r, int G, int arg)
{
    const int B = 3, H = 5;
    weft_var *xp = INPUT(g, r, "xp", B, G * H);
    weft_var *h = INPUT(g, r, "h", B, H);
    weft_var *c = G == 4 ? INPUT(g, r, "c", B, H) : NULL;
    weft_var *W = PARAM(g, ps, r, "weight_hh", G * H, H);
    weft_var *b = arg & STEP_NO_BIAS ? NULL : PARAM(g, ps, r, "bias_hh", G * H);
    if (!xp || !h || !W) return NULL;
    if (arg & STEP_RELU) {
        weft_var *pre = weft_add(g, xp, weft_linear(g, h, W, b));
        if (!pre) return NULL;
        for (size_t i = 0; i < pre->value.size; i++)
            if (fabsf(pre->value.data[i]) < 0.1f)
                xp->value.data[i] += pre->value.data[i] >= 0.0f ? 0.1f : -0.1f;
        return weighted_sum(g, r, weft_rnn_relu_step(g, xp, h, W, b));
    }
    switch (G) {
    case 1: return weighted_sum(g, r, weft_rnn_tanh_step(g, xp, h, W, b));
    case 3: return weighted_sum(g, r, weft_gru_step(g, xp, h, W, b));
    default: return weighted_sum(g, r, weft_lstm_step(g, xp, h, c, W, b));
    }
}

static weft_var *ex_rnn_step(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    return fused_step_example(g, ps, r, 1, arg);
}

static weft_var *ex_lstm_step(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    return fused_step_example(g, ps, r, 4, arg);
}

static weft_var *ex_gru_step(weft_graph *g, weft_params *ps, weft_rng *r, int arg)
{
    return fused_step_example(g, ps, r, 3, arg);
}

/* --- the table ------------------------------------------------------------------------------------ */

static const weft_op_example examples[] = {
    { "matmul", "a b (b a parameter)", ex_matmul, 0 },
    { "matmul", "a^T b", ex_matmul, TRANS_A },
    { "matmul", "a b^T", ex_matmul, TRANS_B },
    { "matmul", "a^T b^T", ex_matmul, TRANS_A | TRANS_B },
    { "matmul", "rank-3 a [2, 3, 5] times b", ex_matmul, RANK3_A },
    { "linear", "x W^T + b", ex_linear, 1 },
    { "linear", "rank-3 x, no bias", ex_linear, 0 },
    { "bmm", "2 x a b", ex_bmm, 0 },
    { "bmm", "2 x a^T b", ex_bmm, TRANS_A },
    { "bmm", "2 x a b^T", ex_bmm, TRANS_B },
    { "bmm", "2 x a^T b^T", ex_bmm, TRANS_A | TRANS_B },
    { "add", "same shape", ex_add, SAME },
    { "add", "row broadcast", ex_add, ROW },
    { "add", "column broadcast", ex_add, COLUMN },
    { "add", "scalar broadcast", ex_add, SCALAR },
    { "sub", "same shape", ex_sub, SAME },
    { "sub", "row broadcast", ex_sub, ROW },
    { "sub", "column broadcast", ex_sub, COLUMN },
    { "sub", "scalar broadcast", ex_sub, SCALAR },
    { "mul", "same shape", ex_mul, SAME },
    { "mul", "row broadcast", ex_mul, ROW },
    { "mul", "column broadcast", ex_mul, COLUMN },
    { "mul", "scalar broadcast", ex_mul, SCALAR },
    { "scale", "-1.7 x", ex_scale, 0 },
    { "one_minus", "1 - x", ex_one_minus, 0 },
    { "sigmoid", "x in [-2, 2)", ex_sigmoid, 0 },
    { "tanh", "x in [-2, 2)", ex_tanh, 0 },
    { "relu", "|x| in [0.1, 1.5), both signs", ex_relu, 0 },
    { "exp", "x in [-1.5, 1.5)", ex_exp, 0 },
    { "log", "x in [0.5, 2)", ex_log, 0 },
    { "softmax", "rows of 5", ex_softmax, 0 },
    { "masked_softmax", "[2, 2, 6], lengths 6, 2, 1, 4", ex_masked_softmax, 0 },
    { "log_softmax", "rows of 5", ex_log_softmax, 0 },
    { "cross_entropy", "no mask", ex_cross_entropy, 0 },
    { "cross_entropy", "with a mask", ex_cross_entropy, 1 },
    { "linear_cross_entropy", "x W^T + b, no mask", ex_linear_cross_entropy, 0 },
    { "linear_cross_entropy", "no bias, with a mask", ex_linear_cross_entropy, 1 },
    { "embedding", "repeated ids", ex_embedding, 0 },
    { "concat", "3 inputs", ex_concat, 0 },
    { "slice", "columns [2, 5)", ex_slice, 0 },
    { "stack", "3 x [2, 5]", ex_stack, 0 },
    { "concat_rows", "[2, 5], [1, 5], [3, 5]", ex_concat_rows, 0 },
    { "narrow", "one step (first dimension dropped)", ex_narrow, 1 },
    { "narrow", "a range of 2", ex_narrow, 2 },
    { "reshape", "[3, 4] -> [2, 6]", ex_reshape, 0 },
    { "expand", "[3, 5] x 4 -> [3, 4, 5]", ex_expand, 0 },
    { "transpose01", "[4, 3, 5] -> [3, 4, 5]", ex_transpose01, 0 },
    { "sum", "all elements", ex_sum, 0 },
    { "mean", "all elements", ex_mean, 0 },
    { "max_steps", "T 4, B 3, lengths 4 2 1", ex_max_steps, 0 },
    { "dropout", "mask of x's shape", ex_dropout, 0 },
    { "dropout", "one mask row for every row", ex_dropout, 1 },
    { "detach", "no gradient through it", ex_detach, 0 },
    { "rnn_step", "tanh, B 3, H 5", ex_rnn_step, 0 },
    { "rnn_step", "relu, no b_hh", ex_rnn_step, STEP_RELU | STEP_NO_BIAS },
    { "lstm_step", "B 3, H 5, h' and c'", ex_lstm_step, 0 },
    { "lstm_step", "no b_hh", ex_lstm_step, STEP_NO_BIAS },
    { "gru_step", "B 3, H 5", ex_gru_step, 0 },
    { "gru_step", "no b_hh", ex_gru_step, STEP_NO_BIAS },
};

const weft_op_example *weft_op_examples(int *n)
{
    *n = (int)(sizeof examples / sizeof examples[0]);
    return examples;
}

const weft_op_example *weft_op_examples_for(const char *op, int *n)
{
    int total = (int)(sizeof examples / sizeof examples[0]);
    *n = 0;
    for (int i = 0; i < total; i++) {
        if (strcmp(examples[i].op, op) != 0) continue;
        while (i + *n < total && strcmp(examples[i + *n].op, op) == 0) (*n)++;
        return &examples[i];
    }
    return NULL;
}

int weft_op_example_gradcheck(const weft_op_example *ex, uint64_t seed,
                              const weft_gradcheck_opts *opts, weft_gradcheck_result *res,
                              char *err, size_t errsize)
{
    *res = (weft_gradcheck_result){ .worst_node = -1, .worst_index = -1 };
    weft_graph *g = weft_graph_new();
    weft_params *ps = weft_params_new();
    int rc = -1;
    if (!g || !ps) {
        snprintf(err, errsize, "%s (%s): out of memory", ex->op, ex->variant);
        goto done;
    }
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_var *loss = ex->build(g, ps, &rng, ex->arg);
    weft_params_zero_grad(ps);
    if (!loss || weft_gradcheck(g, loss, opts, res)) {
        snprintf(err, errsize, "%s (%s): %s", ex->op, ex->variant,
                 weft_graph_error(g) ? weft_graph_error(g) : "no loss");
        goto done;
    }
    rc = 0;
done:
    weft_graph_free(g);
    weft_params_free(ps);
    return rc;
}
