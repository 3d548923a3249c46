/* src/gradcheck.c — analytic gradients against central finite differences.
 *
 * For each leaf x that requires a gradient and each checked element x_i:
 *     numeric_i = (L(x_i + eps) - L(x_i - eps)) / (2 eps)
 * where L is recomputed by re-running the tape's forward from the leaf on.
 * The relative error of an element is |analytic - numeric| / max(|analytic|,
 * |numeric|, FLOOR): relative for gradients of normal size, absolute (scaled
 * by 1/FLOOR) for tiny ones, where float32 rounding dominates the difference. */
#include "weft/gradcheck.h"
#include "weft/params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLOOR 1e-2

/* Re-run the forward of the op nodes in (from, to] that require a gradient,
 * the only ones whose value can depend on a nudged leaf. Nodes that need no
 * gradient keep their value: this is what makes detach a constant here, as
 * it is for backward (its output requires no gradient, though its input
 * does). */
static void recompute_dependents(weft_graph *g, int from, int to)
{
    for (int i = from + 1; i <= to; i++) {
        weft_var *v = weft_graph_node(g, i);
        if (v->op && v->requires_grad) v->op->forward(g, v);
    }
}

int weft_gradcheck(weft_graph *g, weft_var *loss, const weft_gradcheck_opts *opts,
                   weft_gradcheck_result *res)
{
    weft_gradcheck_opts o = opts ? *opts : (weft_gradcheck_opts){ 0 };
    if (o.eps <= 0) o.eps = 1e-2f;
    if (o.tolerance <= 0) o.tolerance = 1e-2f;
    *res = (weft_gradcheck_result){ .worst_node = -1, .worst_index = -1 };
    if (!loss || weft_graph_failed(g)) return -1;
    int n = weft_graph_size(g);

    /* Snapshot the leaves' gradients so that this backward's share can be
     * told apart from what was there (parameters accumulate). */
    float **before = calloc((size_t)n, sizeof *before);
    if (!before) return weft_graph_fail(g, "gradcheck: out of memory"), -1;
    for (int i = 0; i <= loss->id; i++) {
        weft_var *v = weft_graph_node(g, i);
        if (v->op || !v->requires_grad) continue;
        weft_tensor grad = v->kind == WEFT_NODE_PARAM ? v->param->grad : v->grad;
        before[i] = calloc(v->value.size, sizeof(float));
        if (!before[i]) goto oom;
        if (grad.data) memcpy(before[i], grad.data, v->value.size * sizeof(float));
    }
    if (weft_backward(g, loss)) goto fail;

    for (int i = 0; i <= loss->id; i++) {
        weft_var *v = weft_graph_node(g, i);
        if (v->op || !v->requires_grad) continue;
        res->leaves++;
        size_t size = v->value.size;
        size_t stride = 1;
        if (o.max_per_leaf > 0 && size > (size_t)o.max_per_leaf)
            stride = (size + (size_t)o.max_per_leaf - 1) / (size_t)o.max_per_leaf;
        for (size_t k = 0; k < size; k += stride) {
            float *x = &v->value.data[k];
            float saved = *x;
            *x = saved + o.eps;
            recompute_dependents(g, i, loss->id);
            double up = weft_scalar(loss);
            *x = saved - o.eps;
            recompute_dependents(g, i, loss->id);
            double down = weft_scalar(loss);
            *x = saved;
            double numeric = (up - down) / (2.0 * o.eps);
            double analytic = (double)v->grad.data[k] - before[i][k];
            double scale = fmax(fmax(fabs(analytic), fabs(numeric)), FLOOR);
            double rel = fabs(analytic - numeric) / scale;
            if (!(rel <= res->max_rel_error)) {   /* also catches NaN */
                res->max_rel_error = isnan(rel) ? INFINITY : rel;
                res->worst_node = i;
                res->worst_index = (int)k;
                res->worst_analytic = analytic;
                res->worst_numeric = numeric;
            }
            res->checked++;
        }
        /* The leaf is restored: bring its dependents back to their values
         * too, or the next leaf's check (which recomputes only from that
         * leaf on) would start from values made with this one nudged. */
        recompute_dependents(g, i, loss->id);
    }
    weft_graph_recompute(g, 0);   /* leave every value as it was */
    res->passed = res->checked > 0 && res->max_rel_error <= o.tolerance;
    for (int i = 0; i < n; i++) free(before[i]);
    free(before);
    return 0;
oom:
    weft_graph_fail(g, "gradcheck: out of memory");
fail:
    for (int i = 0; i < n; i++) free(before[i]);
    free(before);
    return -1;
}
