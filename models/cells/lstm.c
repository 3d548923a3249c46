/* models/cells/lstm.c — the LSTM cell (Hochreiter & Schmidhuber 1997, with the
 * forget gate of Gers et al. 2000) as PyTorch's nn.LSTM, and the variants of
 * Jozefowicz, Zaremba & Sutskever 2015, peephole connections (Gers &
 * Schmidhuber 2000) and coupled input and forget gates.
 *
 *     [i f g o] = W_ih x + b_ih + W_hh h + b_hh        (PyTorch's gate order)
 *     i = σ(.), f = σ(.), g = tanh(.), o = σ(.)
 *     c' = f ⊙ c + i ⊙ g
 *     h' = o ⊙ tanh(c')
 *
 * Parameters: weight_ih [G·H, I], weight_hh [G·H, H], bias_ih [G·H],
 * bias_hh [G·H], the gates' row blocks of H rows each in the order i, f, g, o
 * with the dropped gates left out, so that a variant's parameter count is
 * what it really uses:
 *
 *   lstm, lstm-b       G = 4: i f g o   (lstm-b: forget-gate bias starts at 1:
 *                                        bias_ih's f rows = 1, bias_hh's = 0)
 *   lstm-f             G = 3: i g o     f = 1:      c' = c + i ⊙ g
 *   lstm-i             G = 3: f g o     i = 1:      c' = f ⊙ c + g
 *   lstm-o             G = 3: i f g     o = 1:      h' = tanh(c')
 *   lstm-coupled       G = 3: i g o     f = 1 - i:  c' = (1 - i) ⊙ c + i ⊙ g
 *   lstm-peephole      G = 4: i f g o, plus weight_ci, weight_cf, weight_co [H]:
 *                      i = σ(. + w_ci ⊙ c), f = σ(. + w_cf ⊙ c),
 *                      o = σ(. + w_co ⊙ c')
 *
 * States: 0 = h, 1 = c. The fast path projects x W_ihᵀ + b_ih for all steps
 * at once. lstm and lstm-b then run each step as one fused node
 * (weft_lstm_step, ops/recurrent.c) whose [2, B, H] value is narrowed into h'
 * and c'; the other variants compose their step from ops. The composed step
 * below is what `step` (and weft_unroll's composed path) runs. */
#include "weft/cell.h"
#include "weft/ops.h"
#include "weft/optim.h"

enum {
    HAS_I = 1,
    HAS_F = 2,
    HAS_O = 4,
    PEEPHOLE = 8,
    COUPLED = 16,    /* f = 1 - i */
    FORGET_BIAS_1 = 32,
};

static int n_gates(int v)
{
    return 1 + !!(v & HAS_I) + !!(v & HAS_F) + !!(v & HAS_O);
}

static int lstm_declare(const weft_cell_type *t, int I, int H, weft_cell_param_spec *s,
                        char *err, size_t errsize)
{
    (void)err;
    (void)errsize;
    int G = n_gates(t->variant), n = 0;
    s[n++] = weft_cell_matrix("weight_ih", G * H, I);
    s[n++] = weft_cell_matrix("weight_hh", G * H, H);
    s[n++] = weft_cell_vector("bias_ih", G * H);
    s[n++] = weft_cell_vector("bias_hh", G * H);
    if (t->variant & PEEPHOLE) {
        s[n++] = weft_cell_vector("weight_ci", H);
        s[n++] = weft_cell_vector("weight_cf", H);
        s[n++] = weft_cell_vector("weight_co", H);
    }
    return n;
}

/* LSTM-b: the forget gate's bias starts at 1 (bias_ih's f rows 1, bias_hh's 0,
 * so that their sum, the bias the gate sees, is 1). */
static int lstm_init(const weft_cell *c, weft_rng *rng)
{
    (void)rng;
    if (!(c->type->variant & FORGET_BIAS_1)) return 0;
    int H = c->hidden_size;
    int f = (c->type->variant & HAS_I) ? 1 : 0;   /* f's block: after i when i is there */
    float *bih = weft_cell_param_ptr(c, "bias_ih")->value.data;
    float *bhh = weft_cell_param_ptr(c, "bias_hh")->value.data;
    for (int j = 0; j < H; j++) {
        bih[f * H + j] = 1.0f;
        bhh[f * H + j] = 0.0f;
    }
    return 0;
}

static weft_var *lstm_project(const weft_cell *c, weft_graph *g, weft_var *x)
{
    return weft_linear(g, x, weft_cell_param(c, g, "weight_ih"), weft_cell_param(c, g, "bias_ih"));
}

/* A gate's pre-activation with its peephole term w ⊙ c added when the cell has
 * peepholes. */
static weft_var *peep(const weft_cell *c, weft_graph *g, weft_var *pre, const char *w,
                      weft_var *cell)
{
    if (!(c->type->variant & PEEPHOLE)) return pre;
    return weft_add(g, pre, weft_mul(g, cell, weft_cell_param(c, g, w)));
}

static int lstm_step_projected(const weft_cell *c, weft_graph *g, weft_var *xp,
                               weft_var *const *prev, weft_var **next)
{
    int v = c->type->variant, H = c->hidden_size, k = 0;
    weft_var *h = prev[0], *cprev = prev[1];
    weft_var *gates = weft_add(g, xp, weft_linear(g, h, weft_cell_param(c, g, "weight_hh"),
                                                  weft_cell_param(c, g, "bias_hh")));
    weft_var *i = NULL, *f = NULL, *o = NULL;
    if (v & HAS_I) i = weft_sigmoid(g, peep(c, g, weft_slice(g, gates, H * k++, H), "weight_ci", cprev));
    if (v & HAS_F) f = weft_sigmoid(g, peep(c, g, weft_slice(g, gates, H * k++, H), "weight_cf", cprev));
    weft_var *gg = weft_tanh(g, weft_slice(g, gates, H * k++, H));
    weft_var *o_pre = (v & HAS_O) ? weft_slice(g, gates, H * k++, H) : NULL;

    /* c' = f ⊙ c + i ⊙ g, with f = 1 (lstm-f), f = 1 - i (coupled), i = 1 (lstm-i) */
    weft_var *keep = f ? weft_mul(g, f, cprev)
                   : (v & COUPLED) ? weft_mul(g, weft_one_minus(g, i), cprev) : cprev;
    weft_var *write = i ? weft_mul(g, i, gg) : gg;
    weft_var *cnext = weft_add(g, keep, write);

    /* h' = o ⊙ tanh(c'), o = 1 for lstm-o; a peephole o looks at c' */
    if (o_pre) o = weft_sigmoid(g, peep(c, g, o_pre, "weight_co", cnext));
    weft_var *tc = weft_tanh(g, cnext);
    next[0] = o ? weft_mul(g, o, tc) : tc;
    next[1] = cnext;
    return weft_graph_status(g);
}

/* lstm and lstm-b's fast-path step: one fused node, equal to
 * lstm_step_projected for these two; its value [2, B, H] holds h' and c'. */
static int lstm_step_fused(const weft_cell *c, weft_graph *g, weft_var *xp,
                           weft_var *const *prev, weft_var **next)
{
    weft_var *s = weft_lstm_step(g, xp, prev[0], prev[1], weft_cell_param(c, g, "weight_hh"),
                                 weft_cell_param(c, g, "bias_hh"));
    next[0] = weft_narrow(g, s, 0, 1);
    next[1] = weft_narrow(g, s, 1, 1);
    return weft_graph_status(g);
}

static int lstm_step(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                     weft_var **next)
{
    return lstm_step_projected(c, g, lstm_project(c, g, x), prev, next);
}

const weft_cell_type weft_cell_lstm = {
    .name = "lstm",
    .description = "LSTM with forget gate, gates i,f,g,o (nn.LSTM)",
    .param_formula = "4H(I+H) + 8H",
    .n_states = 2,
    .state_names = { "h", "c" },
    .declare = lstm_declare,
    .step = lstm_step,
    .init = lstm_init,
    .project_inputs = lstm_project,
    .step_projected = lstm_step_fused,
    .variant = HAS_I | HAS_F | HAS_O,
};

const weft_cell_type weft_cell_lstm_f = {
    .name = "lstm-f",
    .description = "LSTM without forget gate (f = 1), gates i,g,o",
    .param_formula = "3H(I+H) + 6H",
    .n_states = 2,
    .state_names = { "h", "c" },
    .declare = lstm_declare,
    .step = lstm_step,
    .init = lstm_init,
    .project_inputs = lstm_project,
    .step_projected = lstm_step_projected,
    .variant = HAS_I | HAS_O,
};

const weft_cell_type weft_cell_lstm_i = {
    .name = "lstm-i",
    .description = "LSTM without input gate (i = 1), gates f,g,o",
    .param_formula = "3H(I+H) + 6H",
    .n_states = 2,
    .state_names = { "h", "c" },
    .declare = lstm_declare,
    .step = lstm_step,
    .init = lstm_init,
    .project_inputs = lstm_project,
    .step_projected = lstm_step_projected,
    .variant = HAS_F | HAS_O,
};

const weft_cell_type weft_cell_lstm_o = {
    .name = "lstm-o",
    .description = "LSTM without output gate (o = 1), gates i,f,g",
    .param_formula = "3H(I+H) + 6H",
    .n_states = 2,
    .state_names = { "h", "c" },
    .declare = lstm_declare,
    .step = lstm_step,
    .init = lstm_init,
    .project_inputs = lstm_project,
    .step_projected = lstm_step_projected,
    .variant = HAS_I | HAS_F,
};

const weft_cell_type weft_cell_lstm_b = {
    .name = "lstm-b",
    .description = "LSTM with forget-gate bias initialised to 1",
    .param_formula = "4H(I+H) + 8H",
    .n_states = 2,
    .state_names = { "h", "c" },
    .declare = lstm_declare,
    .step = lstm_step,
    .init = lstm_init,
    .project_inputs = lstm_project,
    .step_projected = lstm_step_fused,
    .variant = HAS_I | HAS_F | HAS_O | FORGET_BIAS_1,
};

const weft_cell_type weft_cell_lstm_peephole = {
    .name = "lstm-peephole",
    .description = "LSTM with peepholes: w_ci, w_cf on c, w_co on c'",
    .param_formula = "4H(I+H) + 11H",
    .n_states = 2,
    .state_names = { "h", "c" },
    .declare = lstm_declare,
    .step = lstm_step,
    .init = lstm_init,
    .project_inputs = lstm_project,
    .step_projected = lstm_step_projected,
    .variant = HAS_I | HAS_F | HAS_O | PEEPHOLE,
};

const weft_cell_type weft_cell_lstm_coupled = {
    .name = "lstm-coupled",
    .description = "LSTM with coupled gates (f = 1 - i), gates i,g,o",
    .param_formula = "3H(I+H) + 6H",
    .n_states = 2,
    .state_names = { "h", "c" },
    .declare = lstm_declare,
    .step = lstm_step,
    .init = lstm_init,
    .project_inputs = lstm_project,
    .step_projected = lstm_step_projected,
    .variant = HAS_I | HAS_O | COUPLED,
};
