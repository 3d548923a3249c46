/* models/cells/mut.c — MUT1, MUT2 and MUT3, the three architectures found by the
 * search of Jozefowicz, Zaremba & Sutskever 2015, exactly as the paper's
 * equations (h is the previous state, h' the next one):
 *
 * MUT1: z = σ(W_xz x + b_z)
 *       r = σ(W_xr x + W_hr h + b_r)
 *       h' = tanh(W_hh (r ⊙ h) + tanh(x) + b_h) ⊙ z + h ⊙ (1 - z)
 * MUT2: z = σ(W_xz x + W_hz h + b_z)
 *       r = σ(x + W_hr h + b_r)
 *       h' = tanh(W_hh (r ⊙ h) + W_xh x + b_h) ⊙ z + h ⊙ (1 - z)
 * MUT3: z = σ(W_xz x + W_hz tanh(h) + b_z)
 *       r = σ(W_xr x + W_hr h + b_r)
 *       h' = tanh(W_hh (r ⊙ h) + W_xh x + b_h) ⊙ z + h ⊙ (1 - z)
 *
 * Parameters: weight_<from><to> [H, in] (weft_linear's [out, in] layout, so
 * W x is weft_linear(x, W)) and bias_<gate> [H]. MUT1's tanh(x) and MUT2's
 * bare x inside r need the input width I to equal H, as in the paper. When
 * I != H the cell adds weight_xp [H, I] and uses x̃ = W_xp x (no bias) in that
 * one term only; every other term reads x itself. */
#include "weft/cell.h"
#include "weft/ops.h"

#include <stdio.h>

enum { MUT1 = 1, MUT2 = 2, MUT3 = 3 };

static int mut_declare(const weft_cell_type *t, int I, int H, weft_cell_param_spec *s,
                       char *err, size_t errsize)
{
    (void)err;
    (void)errsize;
    int n = 0;
    s[n++] = weft_cell_matrix("weight_xz", H, I);
    if (t->variant != MUT1) s[n++] = weft_cell_matrix("weight_hz", H, H);
    s[n++] = weft_cell_vector("bias_z", H);
    if (t->variant != MUT2) s[n++] = weft_cell_matrix("weight_xr", H, I);
    s[n++] = weft_cell_matrix("weight_hr", H, H);
    s[n++] = weft_cell_vector("bias_r", H);
    s[n++] = weft_cell_matrix("weight_hh", H, H);
    if (t->variant != MUT1) s[n++] = weft_cell_matrix("weight_xh", H, I);
    s[n++] = weft_cell_vector("bias_h", H);
    if (t->variant != MUT3 && I != H) s[n++] = weft_cell_matrix("weight_xp", H, I);
    return n;
}

/* W x with no bias. */
static weft_var *lin(const weft_cell *c, weft_graph *g, weft_var *x, const char *w)
{
    return weft_linear(g, x, weft_cell_param(c, g, w), NULL);
}

/* x itself when I == H, else the projection x̃ = W_xp x. */
static weft_var *x_at_width_h(const weft_cell *c, weft_graph *g, weft_var *x)
{
    return c->input_size == c->hidden_size ? x : lin(c, g, x, "weight_xp");
}

static int mut_step(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                    weft_var **next)
{
    int v = c->type->variant;
    weft_var *h = prev[0];
    weft_var *bz = weft_cell_param(c, g, "bias_z"), *br = weft_cell_param(c, g, "bias_r");
    weft_var *z_pre, *r_pre, *x_term;
    if (v == MUT1) {
        z_pre = weft_linear(g, x, weft_cell_param(c, g, "weight_xz"), bz);
        r_pre = weft_add(g, weft_linear(g, x, weft_cell_param(c, g, "weight_xr"), br),
                         lin(c, g, h, "weight_hr"));
        x_term = weft_tanh(g, x_at_width_h(c, g, x));
    } else if (v == MUT2) {
        z_pre = weft_add(g, weft_linear(g, x, weft_cell_param(c, g, "weight_xz"), bz),
                         lin(c, g, h, "weight_hz"));
        r_pre = weft_add(g, x_at_width_h(c, g, x),
                         weft_linear(g, h, weft_cell_param(c, g, "weight_hr"), br));
        x_term = lin(c, g, x, "weight_xh");
    } else {
        z_pre = weft_add(g, weft_linear(g, x, weft_cell_param(c, g, "weight_xz"), bz),
                         lin(c, g, weft_tanh(g, h), "weight_hz"));
        r_pre = weft_add(g, weft_linear(g, x, weft_cell_param(c, g, "weight_xr"), br),
                         lin(c, g, h, "weight_hr"));
        x_term = lin(c, g, x, "weight_xh");
    }
    weft_var *z = weft_sigmoid(g, z_pre), *r = weft_sigmoid(g, r_pre);
    weft_var *cand = weft_tanh(g, weft_add(g, weft_linear(g, weft_mul(g, r, h),
                                                          weft_cell_param(c, g, "weight_hh"),
                                                          weft_cell_param(c, g, "bias_h")),
                                           x_term));
    next[0] = weft_add(g, weft_mul(g, cand, z), weft_mul(g, h, weft_one_minus(g, z)));
    return weft_graph_status(g);
}

const weft_cell_type weft_cell_mut1 = {
    .name = "mut1",
    .description = "MUT1 (Jozefowicz et al. 2015); I != H adds weight_xp for tanh(x)",
    .param_formula = "2H(I+H) + 3H (+ HI when I != H)",
    .n_states = 1,
    .state_names = { "h" },
    .declare = mut_declare,
    .step = mut_step,
    .variant = MUT1,
};

const weft_cell_type weft_cell_mut2 = {
    .name = "mut2",
    .description = "MUT2 (Jozefowicz et al. 2015); I != H adds weight_xp for x in r",
    .param_formula = "2HI + 3H^2 + 3H (+ HI when I != H)",
    .n_states = 1,
    .state_names = { "h" },
    .declare = mut_declare,
    .step = mut_step,
    .variant = MUT2,
};

const weft_cell_type weft_cell_mut3 = {
    .name = "mut3",
    .description = "MUT3 (Jozefowicz et al. 2015)",
    .param_formula = "3H(I+H) + 3H",
    .n_states = 1,
    .state_names = { "h" },
    .declare = mut_declare,
    .step = mut_step,
    .variant = MUT3,
};
