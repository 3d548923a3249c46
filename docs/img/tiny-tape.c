/* docs/img/tiny-tape.c — makes docs/img/tiny-tape.dot and .svg, the picture in
 * docs/architecture.md: two steps of an Elman cell written with plain ops,
 * h_t = tanh(x_t Wᵀ + b + h_{t-1} Uᵀ), and a cross-entropy on the last state.
 *
 *   ninja -C build && cc -std=c11 -Iinclude docs/img/tiny-tape.c build/libweft.a \
 *     $(pkg-config --libs libcjson libgvc) -L/usr/lib/x86_64-linux-gnu/blis-openmp \
 *     -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -fopenmp -lm -o /tmp/tiny-tape
 *   /tmp/tiny-tape docs/img/tiny-tape.dot && dot -Tsvg docs/img/tiny-tape.dot -o docs/img/tiny-tape.svg
 */
#include <stdio.h>

#include "weft/dot.h"
#include "weft/weft.h"

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "tiny-tape.dot";
    enum { B = 2, I = 3, H = 4, C = 5 };
    weft_rng r;
    weft_rng_seed(&r, 1);
    weft_params *ps = weft_params_new();
    weft_param *W = weft_params_add(ps, "W", 2, (int[]){ H, I });
    weft_param *U = weft_params_add(ps, "U", 2, (int[]){ H, H });
    weft_param *b = weft_params_add(ps, "b", 1, (int[]){ H });
    weft_param *V = weft_params_add(ps, "V", 2, (int[]){ C, H });
    for (int i = 0; i < weft_params_count(ps); i++)
        weft_rng_fill_uniform(&r, &weft_params_at(ps, i)->value, -0.5f, 0.5f);

    weft_graph *g = weft_graph_new();
    weft_tensor x = weft_tensor_alloc(3, (int[]){ 2, B, I });
    weft_rng_fill_uniform(&r, &x, -1.0f, 1.0f);
    weft_tensor h0 = weft_tensor_alloc2(B, H);
    weft_var *xs = weft_input(g, &x, "x", false);
    weft_var *h = weft_state_leaf(g, &h0, "h0", false);
    for (int t = 0; t < 2; t++) {
        weft_graph_set_scope(g, (weft_scope){ t, 0, 0, "elman" });
        weft_var *xt = weft_narrow(g, xs, t, 1);
        weft_var *a = weft_linear(g, xt, weft_param_var(g, W), weft_param_var(g, b));
        h = weft_tanh(g, weft_add(g, a, weft_linear(g, h, weft_param_var(g, U), NULL)));
    }
    weft_graph_set_scope(g, WEFT_NO_SCOPE);
    const int targets[B] = { 1, 3 };
    weft_var *loss = weft_cross_entropy(g, weft_linear(g, h, weft_param_var(g, V), NULL),
                                        targets, NULL);
    int rc = weft_backward(g, loss) ||
             weft_dot_write(g, out, &(weft_dot_opts){ .level = WEFT_DOT_OPS,
                                                      .title = "a tiny tape: two Elman steps" });
    if (rc) fprintf(stderr, "tiny-tape: %s\n", weft_graph_error(g) ? weft_graph_error(g) : "failed");
    weft_graph_free(g);
    weft_params_free(ps);
    weft_tensor_release(&x);
    weft_tensor_release(&h0);
    return rc ? 1 : 0;
}
