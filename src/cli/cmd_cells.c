/* src/cli/cmd_cells.c — `weft cells` (the built-in cells) and the cell half
 * of `weft gradcheck` (--cell NAME [--layers N] [--bidirectional] [--ragged]). */
#include "src/cli/cli.h"

#include "weft/weft.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int weft_cmd_cells(int argc, char **argv)
{
    weft_args_spec spec = {
        .prog = "weft cells",
        .summary = "List the built-in recurrent cells: name, states, parameter count "
                   "(I input width, H hidden width,\nper layer and direction) and what it is.",
        .details = "Any of them is a --cell for 'weft gradcheck'; docs/cells.md has their "
                   "equations and parameter layouts.",
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    int n;
    const weft_cell_type *const *types = weft_cell_types(&n);
    printf("%-14s %-7s %-34s %s\n", "cell", "states", "parameters", "description");
    for (int i = 0; i < n; i++) {
        const weft_cell_type *t = types[i];
        char states[32] = "";
        for (int k = 0; k < t->n_states; k++)
            snprintf(states + strlen(states), sizeof states - strlen(states), "%s%s", k ? "," : "",
                     t->state_names[k] ? t->state_names[k] : "s");
        printf("%-14s %-7s %-34s %s\n", t->name, states, t->param_formula, t->description);
    }
    return WEFT_EXIT_OK;
}

int weft_cli_gradcheck_cell(const char *name, int layers, bool bidirectional, bool ragged,
                            bool composed, uint64_t seed, float eps, float tolerance, float atol)
{
    enum { T = 4, B = 3, I = 3, H = 4 };
    char err[1024];
    void *plugin;
    const weft_cell_type *type = weft_cell_lookup(name, &plugin, err, sizeof err);
    if (!type) {
        fprintf(stderr, "weft gradcheck: --cell: %s\n", err);
        return WEFT_EXIT_USAGE;
    }
    /* relu's kink at 0: a smaller step keeps the differences off it (the
     * default step only; float32 noise then needs a looser bound) */
    if (type == &weft_cell_rnn_relu && eps == 1e-2f) {
        eps = 3e-3f;
        if (tolerance == 1e-2f) tolerance = 2e-2f;
    }
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_params *params = weft_params_new();
    weft_rnn *rnn = weft_rnn_new(params, &(weft_rnn_config){ .cell = type, .input_size = I,
        .hidden_size = H, .num_layers = layers, .bidirectional = bidirectional }, err, sizeof err);
    if (!rnn) {
        fprintf(stderr, "weft gradcheck: %s\n", err);
        weft_params_free(params);
        weft_cell_plugin_close(plugin);
        return weft_cli_build_status("weft gradcheck", err);
    }
    weft_rnn_reset_parameters(rnn, &rng);

    /* random inputs and initial states, all wanting a gradient; a loss that
     * weighs every output and final state with its own random number */
    weft_graph *g = weft_graph_new();
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I });
    weft_tensor s = weft_tensor_alloc2(B, H);
    weft_tensor w = weft_tensor_alloc(3, (int[]){ T, B, H * (bidirectional ? 2 : 1) });
    weft_rng_fill_uniform(&rng, &x, -1, 1);
    weft_var *xs = weft_input(g, &x, "x", true);
    int n_states = weft_rnn_num_states(rnn);
    weft_var *init[256];
    for (int i = 0; i < n_states && i < 256; i++) {
        weft_rng_fill_uniform(&rng, &s, -0.5f, 0.5f);
        init[i] = weft_state_leaf(g, &s, "initial state", true);
    }
    const int lengths[B] = { T, 1, T - 1 };
    weft_rnn_out out;
    weft_var *loss = NULL;
    if (weft_unroll(g, rnn, xs, &(weft_unroll_opts){ .lengths = ragged ? lengths : NULL,
                    .init_vars = init, .composed = composed }, &out) == 0) {
        weft_rng_fill_uniform(&rng, &w, -1, 1);
        loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, &w, "w", false)));
        for (int i = 0; i < n_states; i++) {
            weft_rng_fill_uniform(&rng, &s, -1, 1);
            loss = weft_add(g, loss, weft_sum(g, weft_mul(g, out.final[i],
                                                          weft_input(g, &s, "w", false))));
        }
    }
    weft_gradcheck_result res = { 0 };
    int status = WEFT_EXIT_FAIL;
    if (!loss || weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .eps = eps,
                                .tolerance = tolerance, .atol = atol }, &res)) {
        printf("%s: FAIL  %s\n", name, weft_graph_error(g));
        res.max_rel_error = INFINITY;
    } else {
        printf("cell %s, %d layer%s, %s, %s batch (T %d, B %d, I %d, H %d)%s\n", name, layers,
               layers == 1 ? "" : "s", bidirectional ? "bidirectional" : "one direction",
               ragged ? "ragged" : "full", T, B, I, H,
               composed ? ", composed steps"
                        : weft_cell_type_has_fast_path(type) ? ", fast path" : "");
        printf("%zu parameters; %d elements of %d leaves checked (%d refined), eps %g: %s\n",
               weft_rnn_numel(rnn), res.checked, res.leaves, res.refined, (double)eps,
               res.passed ? "ok" : "FAIL");
        printf("worst |backward - numeric| / (atol %g + rtol %g |numeric|): %.3f\n",
               (double)atol, (double)tolerance, res.worst_ratio);
        if (!res.passed) {
            weft_var *v = weft_graph_node(g, res.worst_node);
            printf("  worst: %s element %d: backward %.6g, finite differences %.6g\n",
                   v && v->name ? v->name : "?", res.worst_index, res.worst_analytic,
                   res.worst_numeric);
        }
        status = res.passed ? WEFT_EXIT_OK : WEFT_EXIT_FAIL;
    }
    printf("max relative error: %.3e\n", res.max_rel_error);
    weft_tensor_release(&x);
    weft_tensor_release(&s);
    weft_tensor_release(&w);
    weft_graph_free(g);
    weft_rnn_free(rnn);
    weft_params_free(params);
    weft_cell_plugin_close(plugin);
    return status;
}
