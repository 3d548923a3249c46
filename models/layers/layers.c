/* models/layers/layers.c — linear and embedding layers made with their
 * parameters initialised as PyTorch's nn.Linear and nn.Embedding are
 * (weft/layers.h), and the recurrent stack made and initialised in one call. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weft/layers.h"
#include "weft/ops.h"
#include "weft/optim.h"

/* "<name>.<what>" into buf; a name too long for a parameter stays too long (the
 * store refuses it with a message) instead of being cut into a different one. */
static const char *param_name(char *buf, size_t n, const char *name, const char *what)
{
    snprintf(buf, n, "%s.%s", name ? name : "", what);
    return buf;
}

weft_linear_layer weft_linear_layer_new(weft_params *s, const char *name, int in, int out,
                                        bool bias, weft_rng *rng)
{
    weft_linear_layer l = { .in = in, .out = out };
    char buf[2 * WEFT_PARAM_NAME_MAX];
    weft_param *w = weft_params_add(s, param_name(buf, sizeof buf, name, "weight"), 2,
                                    (int[]){ out, in });
    if (!w) return (weft_linear_layer){ 0 };
    weft_param *b = NULL;
    if (bias) {
        b = weft_params_add(s, param_name(buf, sizeof buf, name, "bias"), 1, (int[]){ out });
        if (!b) return (weft_linear_layer){ 0 };
    }
    /* nn.Linear: kaiming_uniform_(W, a = sqrt(5)) has bound gain * sqrt(3 / fan_in) with
     * gain = sqrt(2 / (1 + a²)) = sqrt(1/3), so 1/sqrt(fan_in); the bias U(±1/sqrt(fan_in)). */
    float bound = 1.0f / sqrtf((float)in);
    weft_init_uniform(w, rng, bound);
    if (b) weft_init_uniform(b, rng, bound);
    l.weight = w;
    l.bias = b;
    return l;
}

weft_var *weft_linear_layer_apply(const weft_linear_layer *l, weft_graph *g, weft_var *x)
{
    if (!l || !l->weight) return weft_graph_fail(g, "linear layer: not made (its weight is NULL)");
    return weft_linear(g, x, weft_param_var(g, l->weight),
                       l->bias ? weft_param_var(g, l->bias) : NULL);
}

weft_embedding_layer weft_embedding_layer_new(weft_params *s, const char *name, int vocab,
                                              int dim, float init_range, weft_rng *rng)
{
    char buf[2 * WEFT_PARAM_NAME_MAX];
    weft_param *w = weft_params_add(s, param_name(buf, sizeof buf, name, "weight"), 2,
                                    (int[]){ vocab, dim });
    if (!w) return (weft_embedding_layer){ 0 };
    if (init_range > 0.0f) weft_init_uniform(w, rng, init_range);
    else weft_rng_fill_normal(rng, &w->value, 0.0f, 1.0f);   /* nn.Embedding: N(0, 1) */
    return (weft_embedding_layer){ .weight = w, .vocab = vocab, .dim = dim };
}

weft_var *weft_embedding_layer_apply(const weft_embedding_layer *e, weft_graph *g,
                                     const int *ids, int n)
{
    if (!e || !e->weight) return weft_graph_fail(g, "embedding: not made (its weight is NULL)");
    return weft_embedding(g, weft_param_var(g, e->weight), ids, n);
}

weft_rnn *weft_rnn_new_init(weft_params *s, const weft_rnn_config *cfg, weft_rng *rng, char *err,
                            size_t errsize)
{
    weft_rnn *r = weft_rnn_new(s, cfg, err, errsize);
    if (!r) return NULL;
    if (weft_rnn_reset_parameters(r, rng)) {
        snprintf(err, errsize, "rnn: initialising the parameters failed: %s",
                 weft_params_error(s) ? weft_params_error(s) : "a cell's initialiser failed");
        weft_rnn_free(r);
        return NULL;
    }
    return r;
}

int weft_rnn_step(const weft_rnn *r, weft_graph *g, const float *x, int B, weft_state *state,
                  float *out, char *err, size_t errsize)
{
    const weft_rnn_config *cfg = weft_rnn_get_config(r);
    if (cfg->bidirectional) {
        snprintf(err, errsize, "rnn step: a bidirectional model reads the whole sequence: "
                               "use weft_unroll");
        return -1;
    }
    if (B < 1 || !x) {
        snprintf(err, errsize, "rnn step: no input (B = %d)", B);
        return -1;
    }
    bool taped = !weft_graph_is_forward_only(g);
    weft_graph_reset(g);
    weft_graph_set_forward_only(g, true);
    weft_var *xs = weft_input_zeros(g, 3, (int[]){ 1, B, cfg->input_size }, "x", false);
    if (xs) memcpy(xs->value.data, x, (size_t)B * cfg->input_size * sizeof *x);
    weft_rnn_out o;
    weft_unroll_opts opts = { .init = state && state->n > 0 ? state : NULL };
    int rc = 0;
    if (!xs || weft_unroll(g, r, xs, &opts, &o) || weft_graph_failed(g)) {
        snprintf(err, errsize, "rnn step: %s", weft_graph_error(g));
        rc = -1;
    } else if (weft_state_detach(&o, state)) {
        snprintf(err, errsize, "rnn step: out of memory");
        rc = -1;
    } else if (out) {
        memcpy(out, weft_value(o.steps[0])->data, (size_t)B * o.width * sizeof *out);
    }
    if (taped) {   /* the caller's graph back as it was (its nodes are gone either way) */
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, false);
    }
    return rc;
}
