/* src/gradcheck.c — analytic gradients against central finite differences
 * (weft/gradcheck.h).
 *
 * For each leaf x that requires a gradient and each checked element x_i,
 * with h = eps max(1, |x_i|):
 *     D(h) = (L(x_i + h) - L(x_i - h)) / 2h     (error O(h²) + rounding / h)
 * where L is recomputed by re-running the tape's forward from the leaf on,
 * its final sums accumulated in double (scalar_in_double). When D(h) fails
 * the verdict |a - D| <= atol + rtol |D|, Richardson's extrapolation
 * (4 D(h/2) - D(h)) / 3 cancels the h² term of the Taylor series (error
 * O(h⁴)) and is judged instead; when that disagrees too, central and
 * one-sided quotients at h/8 and h/64, for a kink (ReLU's) that the larger
 * steps straddle (a one-sided quotient is exact to O(s) on a side without
 * one). A
 * truncation error or a kink is not reported as a wrong gradient, and a wrong
 * gradient (a factor, a transpose) is off at every step by far more than
 * their error. */
#include "weft/gradcheck.h"
#include "weft/params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_FLOOR 1e-2

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

/* A scalar node's value with its last reductions redone in double: a sum
 * over a tensor (the usual loss, a weighted sum of outputs) and a sum of such
 * scalars. Their float rounding, divided by h, is most of a difference
 * quotient's noise; the rest of the graph stays float32. */
static double scalar_in_double(const weft_var *v, int depth)
{
    if (v->op && v->value.size == 1 && depth < 64) {
        if (strcmp(v->op->name, "sum") == 0) {
            const weft_var *x = v->in[0];
            double total = 0.0;
            for (size_t i = 0; i < x->value.size; i++) total += (double)x->value.data[i];
            return total;
        }
        if (strcmp(v->op->name, "add") == 0 && v->in[0]->value.size == 1 &&
            v->in[1]->value.size == 1)
            return scalar_in_double(v->in[0], depth + 1) + scalar_in_double(v->in[1], depth + 1);
    }
    return (double)v->value.data[0];
}

/* The loss with element x of leaf `leaf` set to value (the tape recomputed). */
static double loss_at(weft_graph *g, int leaf, weft_var *loss, float *x, float value)
{
    *x = value;
    recompute_dependents(g, leaf, loss->id);
    return scalar_in_double(loss, 0);
}

/* The central difference at step h, the losses differenced in double. The
 * step actually taken is the difference of the two float arguments. */
static double central(weft_graph *g, int leaf, weft_var *loss, float *x, float saved, double h)
{
    float up = (float)(saved + h), down = (float)(saved - h);
    double lu = loss_at(g, leaf, loss, x, up), ld = loss_at(g, leaf, loss, x, down);
    return (lu - ld) / ((double)up - (double)down);
}

int weft_gradcheck(weft_graph *g, weft_var *loss, const weft_gradcheck_opts *opts,
                   weft_gradcheck_result *res)
{
    weft_gradcheck_opts o = opts ? *opts : (weft_gradcheck_opts){ 0 };
    if (o.eps <= 0) o.eps = 1e-2f;
    if (o.tolerance <= 0) o.tolerance = 1e-2f;
    if (o.atol <= 0) o.atol = 1e-3f;
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
            double h = (double)o.eps * fmax(1.0, fabs((double)saved));
            double analytic = (double)v->grad.data[k] - before[i][k];
            double numeric = central(g, i, loss, x, saved, h);
            double allowed = o.atol + o.tolerance * fabs(numeric);
            if (!(fabs(analytic - numeric) <= allowed)) {
                res->refined++;
                double half = central(g, i, loss, x, saved, h / 2);
                numeric = (4.0 * half - numeric) / 3.0;
                allowed = o.atol + o.tolerance * fabs(numeric);
                /* A kink (ReLU's, a max) within the step makes every quotient
                 * across it wrong: smaller steps, which stay on one side */
                double at = NAN;   /* L(x), for the one-sided quotients */
                for (double s = h / 8; !(fabs(analytic - numeric) <= allowed) && s >= h / 64;
                     s /= 8) {
                    numeric = central(g, i, loss, x, saved, s);
                    allowed = o.atol + o.tolerance * fabs(numeric);
                    /* a kink on one side only: the other side's quotient */
                    for (int side = -1; side <= 1 && !(fabs(analytic - numeric) <= allowed);
                         side += 2) {
                        if (isnan(at)) at = loss_at(g, i, loss, x, saved);
                        float moved = (float)(saved + side * s);
                        double lm = loss_at(g, i, loss, x, moved);
                        double d = (lm - at) / ((double)moved - (double)saved);
                        if (fabs(analytic - d) <= o.atol + o.tolerance * fabs(d)) {
                            numeric = d;
                            allowed = o.atol + o.tolerance * fabs(d);
                        }
                    }
                }
            }
            *x = saved;
            double ratio = fabs(analytic - numeric) / allowed;
            if (!(ratio <= res->worst_ratio)) {   /* also catches NaN */
                res->worst_ratio = isnan(ratio) ? INFINITY : ratio;
                res->worst_node = i;
                res->worst_index = (int)k;
                res->worst_analytic = analytic;
                res->worst_numeric = numeric;
            }
            double scale = fmax(fmax(fabs(analytic), fabs(numeric)), REPORT_FLOOR);
            double rel = fabs(analytic - numeric) / scale;
            if (!(rel <= res->max_rel_error)) res->max_rel_error = isnan(rel) ? INFINITY : rel;
            res->checked++;
        }
        /* The leaf is restored: bring its dependents back to their values
         * too, or the next leaf's check (which recomputes only from that
         * leaf on) would start from values made with this one nudged. */
        recompute_dependents(g, i, loss->id);
    }
    weft_graph_recompute(g, 0);   /* leave every value as it was */
    res->passed = res->checked > 0 && res->worst_ratio <= 1.0;
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
