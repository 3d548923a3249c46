/* models/cells/elman.c — the Elman (simple) RNN cell, as PyTorch's nn.RNN:
 *
 *     h' = act(W_ih x + b_ih + W_hh h + b_hh),   act = tanh ("rnn"), relu ("rnn-relu")
 *                                                 or the logistic sigmoid ("rnn-sigmoid")
 *
 * Parameters (nn.RNN's names and layout): weight_ih [H, I], weight_hh [H, H],
 * bias_ih [H], bias_hh [H]. The fast path projects x W_ihᵀ + b_ih for all
 * steps at once; each step is then one fused node (weft_rnn_tanh_step /
 * weft_rnn_relu_step, ops/recurrent.c). The composed step below is what
 * `step` (and weft_unroll's composed path) runs, and what the sigmoid
 * variant's fast path runs after the projection: the hidden layer of
 * Mikolov et al. (2010)'s recurrent language model, s(t) = f(U w(t) + W s(t-1))
 * with f the sigmoid, has no fused step. */
#include "weft/cell.h"
#include "weft/ops.h"


enum { ELMAN_TANH, ELMAN_RELU, ELMAN_SIGMOID };

static int elman_declare(const weft_cell_type *t, int I, int H, weft_cell_param_spec *s,
                         char *err, size_t errsize)
{
    (void)t;
    (void)err;
    (void)errsize;
    s[0] = weft_cell_matrix("weight_ih", H, I);
    s[1] = weft_cell_matrix("weight_hh", H, H);
    s[2] = weft_cell_vector("bias_ih", H);
    s[3] = weft_cell_vector("bias_hh", H);
    return 4;
}

static weft_var *elman_project(const weft_cell *c, weft_graph *g, weft_var *x)
{
    return weft_linear(g, x, weft_cell_param(c, g, "weight_ih"), weft_cell_param(c, g, "bias_ih"));
}

static int elman_step_projected(const weft_cell *c, weft_graph *g, weft_var *xp,
                                weft_var *const *prev, weft_var **next)
{
    weft_var *hh = weft_linear(g, prev[0], weft_cell_param(c, g, "weight_hh"),
                               weft_cell_param(c, g, "bias_hh"));
    weft_var *pre = weft_add(g, xp, hh);
    switch (c->type->variant) {
    case ELMAN_RELU: next[0] = weft_relu(g, pre); break;
    case ELMAN_SIGMOID: next[0] = weft_sigmoid(g, pre); break;
    default: next[0] = weft_tanh(g, pre); break;
    }
    return weft_graph_status(g);
}

/* The fast path's step: one fused node, equal to elman_step_projected. */
static int elman_step_fused(const weft_cell *c, weft_graph *g, weft_var *xp,
                            weft_var *const *prev, weft_var **next)
{
    weft_var *W = weft_cell_param(c, g, "weight_hh"), *b = weft_cell_param(c, g, "bias_hh");
    next[0] = c->type->variant == ELMAN_RELU ? weft_rnn_relu_step(g, xp, prev[0], W, b)
                                             : weft_rnn_tanh_step(g, xp, prev[0], W, b);
    return weft_graph_status(g);
}

static int elman_step(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                      weft_var **next)
{
    return elman_step_projected(c, g, elman_project(c, g, x), prev, next);
}

const weft_cell_type weft_cell_rnn_tanh = {
    .name = "rnn",
    .description = "Elman RNN, h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (nn.RNN)",
    .param_formula = "H(I+H) + 2H",
    .n_states = 1,
    .state_names = { "h" },
    .declare = elman_declare,
    .step = elman_step,
    .project_inputs = elman_project,
    .step_projected = elman_step_fused,
    .variant = ELMAN_TANH,
};

const weft_cell_type weft_cell_rnn_relu = {
    .name = "rnn-relu",
    .description = "Elman RNN with relu, h' = relu(W_ih x + b_ih + W_hh h + b_hh)",
    .param_formula = "H(I+H) + 2H",
    .n_states = 1,
    .state_names = { "h" },
    .declare = elman_declare,
    .step = elman_step,
    .project_inputs = elman_project,
    .step_projected = elman_step_fused,
    .variant = ELMAN_RELU,
};

const weft_cell_type weft_cell_rnn_sigmoid = {
    .name = "rnn-sigmoid",
    .description = "Elman RNN with the logistic sigmoid, h' = sigmoid(W_ih x + b_ih + W_hh h + b_hh) "
                   "(Mikolov et al. 2010's RNNLM)",
    .param_formula = "H(I+H) + 2H",
    .n_states = 1,
    .state_names = { "h" },
    .declare = elman_declare,
    .step = elman_step,
    .project_inputs = elman_project,
    .step_projected = elman_step_projected,
    .variant = ELMAN_SIGMOID,
};
