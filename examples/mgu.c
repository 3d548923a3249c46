/* examples/mgu.c — a new recurrent cell, the minimal gated unit (Zhou et al.
 * 2016), written by a user with the public ops only:
 *
 *     f  = σ(W_f x + U_f h + b_f)
 *     h' = (1 - f) ⊙ h + f ⊙ tanh(W x + U (f ⊙ h) + b)
 *
 * Once declared, it works wherever a built-in cell does: weft_unroll over a
 * ragged batch, stacked, bidirectional, the DOT drawing, the gradient check.
 * This program builds a 2-layer bidirectional MGU and checks its gradients.
 * Compiled with -DMGU_PLUGIN -DMGU_NO_MAIN it is a plugin instead (below). */
#include <stdio.h>
#include "weft/weft.h"

#define P(c, g, name) weft_cell_param(c, g, name)

static int mgu_declare(const weft_cell_type *t, int I, int H, weft_cell_param_spec *s,
                       char *err, size_t errsize)
{
    (void)t, (void)err, (void)errsize;
    s[0] = weft_cell_matrix("W_f", H, I);   /* [out, in]: used as weft_linear(x, W_f) */
    s[1] = weft_cell_matrix("U_f", H, H);   /* [in, out]: used as weft_matmul(h, U_f) */
    s[2] = weft_cell_vector("b_f", H);
    s[3] = weft_cell_matrix("W", H, I);
    s[4] = weft_cell_matrix("U", H, H);
    s[5] = weft_cell_vector("b", H);
    return 6;
}

static int mgu_step(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                    weft_var **next)
{
    weft_var *h = prev[0];
    weft_var *f = weft_sigmoid(g, weft_add(g, weft_linear(g, x, P(c, g, "W_f"), P(c, g, "b_f")),
                                              weft_matmul(g, h, P(c, g, "U_f"))));
    weft_var *n = weft_tanh(g, weft_add(g, weft_linear(g, x, P(c, g, "W"), P(c, g, "b")),
                                           weft_matmul(g, weft_mul(g, f, h), P(c, g, "U"))));
    next[0] = weft_add(g, weft_mul(g, weft_one_minus(g, f), h), weft_mul(g, f, n));
    return weft_graph_status(g);          /* the graph's sticky error, if any op failed */
}

const weft_cell_type mgu_cell = {
    .name = "mgu",
    .description = "minimal gated unit: one forget gate",
    .param_formula = "2H(I+H) + 2H",
    .n_states = 1,
    .state_names = { "h" },
    .declare = mgu_declare,
    .step = mgu_step,
};

#ifdef MGU_PLUGIN
/* Built as a shared object (examples/meson.build, or docs/cells.md's cc line),
 * the cell takes part in `weft compare --cells mgu.so,gru,lstm` through this
 * one exported function (weft/compare.h). */
const weft_cell_type *weft_cell_plugin(void)
{
    return &mgu_cell;
}
#endif

#ifndef MGU_NO_MAIN
int main(void)
{
    enum { T = 4, B = 3, I = 5, H = 4 };
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    weft_params *params = weft_params_new();
    weft_rnn *rnn = weft_rnn_new(params, &(weft_rnn_config){ .cell = &mgu_cell, .input_size = I,
        .hidden_size = H, .num_layers = 2, .bidirectional = true, .prefix = "mgu." },
        err, sizeof err);
    if (!rnn) return fprintf(stderr, "%s\n", err), 1;
    weft_rnn_reset_parameters(rnn, &rng);
    for (int i = 0; i < weft_params_count(params); i++)
        printf("%s\n", weft_params_at(params, i)->name);

    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I });
    weft_rng_fill_uniform(&rng, &x, -1, 1);
    int lengths[B] = { 4, 2, 3 };                            /* a ragged batch */
    weft_graph *g = weft_graph_new();
    weft_rnn_out out;
    weft_unroll(g, rnn, weft_input(g, &x, "x", true),
                &(weft_unroll_opts){ .lengths = lengths }, &out);
    weft_tensor w = weft_tensor_alloc(3, (int[]){ T, B, 2 * H });   /* a random weighting */
    weft_rng_fill_uniform(&rng, &w, -1, 1);
    weft_var *loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, &w, "w", false)));
    weft_gradcheck_result res;
    if (weft_gradcheck(g, loss, NULL, &res)) return fprintf(stderr, "%s\n", weft_graph_error(g)), 1;
    printf("loss %.6f, %d gradients checked, max relative error: %.3g\n", weft_scalar(loss),
           res.checked, res.max_rel_error);
    weft_graph_free(g);
    weft_tensor_release(&x);
    weft_tensor_release(&w);
    weft_rnn_free(rnn);
    weft_params_free(params);
    return res.passed ? 0 : 1;
}
#endif
