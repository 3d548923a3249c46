/* models/experiments/gradflow.c — the norm of dJ_T/dh_t over time (weft/gradflow.h). */
#include "weft/gradflow.h"

#include "weft/graph.h"
#include "weft/ops.h"
#include "weft/params.h"
#include "weft/rng.h"
#include "weft/rnn.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* L2 norm of a tensor, summed in double. */
static double norm2(const weft_tensor *t)
{
    double s = 0.0;
    for (size_t i = 0; i < t->size; i++) s += (double)t->data[i] * t->data[i];
    return sqrt(s);
}

int weft_gradflow(const weft_cell_type *cell, const weft_gradflow_opts *opts, double *norms,
                  char *err, size_t errsize)
{
    if (!cell || !opts || !norms) return fail(err, errsize, "gradflow: NULL argument");
    const weft_gradflow_opts *o = opts;
    int T = o->steps, H = o->hidden;
    int I = o->input > 0 ? o->input : H;
    int L = o->layers > 0 ? o->layers : 1;
    int B = o->batch > 0 ? o->batch : 8;
    int S = o->samples > 0 ? o->samples : 1;
    int C = o->classes > 0 ? o->classes : 10;
    if (T < 1 || H < 1 || o->input < 0 || o->layers < 0 || o->batch < 0 || o->samples < 0 ||
        o->classes < 0 || !(o->init_range >= 0.0f))
        return fail(err, errsize, "gradflow (%s): bad options: steps %d, hidden %d, input %d, "
                    "layers %d, batch %d, samples %d, classes %d, init_range %g (steps and "
                    "hidden must be >= 1, the others >= 0)", cell->name, T, H, o->input,
                    o->layers, o->batch, o->samples, o->classes, (double)o->init_range);

    int rc = -1;
    weft_params *ps = weft_params_new();
    weft_graph *g = weft_graph_new();
    weft_rnn *rnn = NULL;
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I });
    int *targets = malloc((size_t)B * sizeof *targets);
    double *sum = calloc((size_t)T, sizeof *sum);
    if (!ps || !g || !x.data || !targets || !sum) {
        fail(err, errsize, "gradflow (%s): out of memory", cell->name);
        goto done;
    }
    weft_rnn_config cfg = { .cell = cell, .input_size = I, .hidden_size = H, .num_layers = L,
                            .prefix = "rnn." };
    char why[256];
    rnn = weft_rnn_new(ps, &cfg, why, sizeof why);
    weft_param *readout = rnn ? weft_params_add(ps, "readout.weight", 2, (int[]){ C, H }) : NULL;
    if (!readout) {
        fail(err, errsize, "gradflow (%s): %s", cell->name, rnn ? "out of memory" : why);
        goto done;
    }

    weft_rng rng;
    weft_rng_seed(&rng, o->seed);
    float r_readout = 1.0f / sqrtf((float)H);
    for (int s = 0; s < S; s++) {
        /* 1. the model's parameters */
        if (o->init_range > 0.0f) {
            for (int k = 0; k < weft_params_count(ps); k++) {
                weft_param *p = weft_params_at(ps, k);
                if (p != readout)
                    weft_rng_fill_uniform(&rng, &p->value, -o->init_range, o->init_range);
            }
        } else if (weft_rnn_reset_parameters(rnn, &rng)) {
            fail(err, errsize, "gradflow (%s): initialising the parameters failed", cell->name);
            goto done;
        }
        /* 2.-4. readout, input, targets */
        weft_rng_fill_uniform(&rng, &readout->value, -r_readout, r_readout);
        weft_rng_fill_normal(&rng, &x, 0.0f, 1.0f);
        for (int b = 0; b < B; b++) targets[b] = (int)weft_rng_below(&rng, (uint32_t)C);

        weft_graph_reset(g);
        weft_rnn_out out;
        weft_var *xs = weft_input(g, &x, "x", false);
        weft_var *loss = NULL;
        if (xs && weft_unroll(g, rnn, xs, NULL, &out) == 0)
            loss = weft_cross_entropy(g, weft_linear(g, out.steps[T - 1],
                                                     weft_param_var(g, readout), NULL),
                                      targets, NULL);
        if (!loss || weft_backward(g, loss)) {
            fail(err, errsize, "gradflow (%s): %s", cell->name,
                 weft_graph_error(g) ? weft_graph_error(g) : "out of memory");
            goto done;
        }
        for (int t = 0; t < T; t++) {
            const weft_tensor *gt = weft_grad_of(g, out.steps[t]);
            if (!gt) {
                fail(err, errsize, "gradflow (%s): %s", cell->name, weft_graph_error(g));
                goto done;
            }
            sum[T - 1 - t] += norm2(gt);
        }
    }
    for (int k = 0; k < T; k++) norms[k] = sum[k] / S;
    rc = 0;
done:
    free(sum);
    free(targets);
    weft_tensor_release(&x);
    weft_rnn_free(rnn);
    weft_graph_free(g);
    weft_params_free(ps);
    return rc;
}
