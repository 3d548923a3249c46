/* models/cells/gru.c — the GRU cell (Cho et al. 2014) in PyTorch's formulation
 * (nn.GRU), gate order r, z, n:
 *
 *     [a_r a_z a_n] = W_ih x + b_ih,   [u_r u_z u_n] = W_hh h + b_hh
 *     r = σ(a_r + u_r),  z = σ(a_z + u_z)
 *     n = tanh(a_n + r ⊙ u_n)            (b_hn stays inside r's product)
 *     h' = (1 - z) ⊙ n + z ⊙ h
 *
 * Parameters (nn.GRU's names and layout): weight_ih [3H, I], weight_hh
 * [3H, H], bias_ih [3H], bias_hh [3H], row blocks r, z, n. The fast path
 * projects x W_ihᵀ + b_ih for all steps at once; each step is then one fused
 * node (weft_gru_step, ops/recurrent.c). The composed step below is what
 * `step` (and weft_unroll's composed path) runs. */
#include "weft/cell.h"
#include "weft/ops.h"

static int gru_declare(const weft_cell_type *t, int I, int H, weft_cell_param_spec *s,
                       char *err, size_t errsize)
{
    (void)t;
    (void)err;
    (void)errsize;
    s[0] = weft_cell_matrix("weight_ih", 3 * H, I);
    s[1] = weft_cell_matrix("weight_hh", 3 * H, H);
    s[2] = weft_cell_vector("bias_ih", 3 * H);
    s[3] = weft_cell_vector("bias_hh", 3 * H);
    return 4;
}

static weft_var *gru_project(const weft_cell *c, weft_graph *g, weft_var *x)
{
    return weft_linear(g, x, weft_cell_param(c, g, "weight_ih"), weft_cell_param(c, g, "bias_ih"));
}

static int gru_step_projected(const weft_cell *c, weft_graph *g, weft_var *xp,
                              weft_var *const *prev, weft_var **next)
{
    int H = c->hidden_size;
    weft_var *h = prev[0];
    weft_var *hp = weft_linear(g, h, weft_cell_param(c, g, "weight_hh"),
                               weft_cell_param(c, g, "bias_hh"));
    weft_var *r = weft_sigmoid(g, weft_add(g, weft_slice(g, xp, 0, H), weft_slice(g, hp, 0, H)));
    weft_var *z = weft_sigmoid(g, weft_add(g, weft_slice(g, xp, H, H), weft_slice(g, hp, H, H)));
    weft_var *n = weft_tanh(g, weft_add(g, weft_slice(g, xp, 2 * H, H),
                                        weft_mul(g, r, weft_slice(g, hp, 2 * H, H))));
    next[0] = weft_add(g, weft_mul(g, weft_one_minus(g, z), n), weft_mul(g, z, h));
    return weft_graph_status(g);
}

/* The fast path's step: one fused node, equal to gru_step_projected. */
static int gru_step_fused(const weft_cell *c, weft_graph *g, weft_var *xp,
                          weft_var *const *prev, weft_var **next)
{
    next[0] = weft_gru_step(g, xp, prev[0], weft_cell_param(c, g, "weight_hh"),
                            weft_cell_param(c, g, "bias_hh"));
    return weft_graph_status(g);
}

static int gru_step(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                    weft_var **next)
{
    return gru_step_projected(c, g, gru_project(c, g, x), prev, next);
}

const weft_cell_type weft_cell_gru = {
    .name = "gru",
    .description = "GRU, gates r,z,n, n = tanh(W_in x + b_in + r*(W_hn h + b_hn)) (nn.GRU)",
    .param_formula = "3H(I+H) + 6H",
    .n_states = 1,
    .state_names = { "h" },
    .declare = gru_declare,
    .step = gru_step,
    .project_inputs = gru_project,
    .step_projected = gru_step_fused,
};
