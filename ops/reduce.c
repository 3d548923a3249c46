/* ops/reduce.c — sum and mean of all elements, to a scalar, and the max over
 * the real steps of a ragged batch. The sums run in
 * double, in a fixed order, so the result does not depend on the threads. */
#include "ops/op_table.h"

#include <stdlib.h>
#include <string.h>

static weft_var *reduction(weft_graph *g, const weft_op_desc *op, weft_var *x)
{
    if (!x) return NULL;
    weft_var *v = weft_node_new(g, op, &x, 1, 1, (int[]){ 1 });
    if (!v) return NULL;
    op->forward(g, v);
    return v;
}

/* Σ t in double, in a fixed order whatever the threads: blocks of
 * SUM_BLOCK floats, each summed in SUM_LANES interleaved lanes (lane j takes
 * elements j, j + SUM_LANES, ...; independent adds the CPU can overlap, where
 * one running sum waits on each add), the lanes then the blocks added in
 * order. */
enum { SUM_BLOCK = 4096, SUM_LANES = 8 };

static double block_sum(const float *x, size_t n)
{
    double lane[SUM_LANES] = { 0 };
    size_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES)
        for (int j = 0; j < SUM_LANES; j++) lane[j] += x[i + j];
    for (int j = 0; i < n; i++, j++) lane[j] += x[i];
    double s = 0.0;
    for (int j = 0; j < SUM_LANES; j++) s += lane[j];
    return s;
}

/* Block b of t (the last one may be short). */
static double block_of(const weft_tensor *t, size_t b)
{
    size_t at = b * SUM_BLOCK;
    return block_sum(t->data + at, t->size - at < SUM_BLOCK ? t->size - at : SUM_BLOCK);
}

static double total(const weft_tensor *t)
{
    size_t nblocks = (t->size + SUM_BLOCK - 1) / SUM_BLOCK;
    double s = 0.0, *part = nblocks > 1 ? malloc(nblocks * sizeof *part) : NULL;
    if (!part) {   /* one block, or no scratch: the blocks one after the other, same order */
        for (size_t b = 0; b < nblocks; b++) s += block_of(t, b);
        return s;
    }
    #pragma omp parallel for if (t->size > WEFT_PARALLEL_MIN)
    for (size_t b = 0; b < nblocks; b++) part[b] = block_of(t, b);
    for (size_t b = 0; b < nblocks; b++) s += part[b];
    free(part);
    return s;
}

/* x's gradient += gy everywhere (the backward of sum and mean). */
static void add_everywhere(weft_var *x, float gy)
{
    float *gx = x->grad.data;
    #pragma omp parallel for if (x->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < x->value.size; i++) gx[i] += gy;
}

/* --- sum: y = Σ x;  dy/dx_i = 1 ------------------------------------------------------ */

weft_var *weft_sum(weft_graph *g, weft_var *x)
{
    return reduction(g, &weft_op_sum, x);
}

void weft_op_sum_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    v->value.data[0] = (float)total(&v->in[0]->value);
}

void weft_op_sum_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (!weft_wants_grad(x)) return;
    add_everywhere(x, v->grad.data[0]);
}

/* --- mean: y = Σ x / n;  dy/dx_i = 1/n ------------------------------------------------ */

weft_var *weft_mean(weft_graph *g, weft_var *x)
{
    return reduction(g, &weft_op_mean, x);
}

void weft_op_mean_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const weft_tensor *x = &v->in[0]->value;
    v->value.data[0] = (float)(total(x) / (double)x->size);
}

void weft_op_mean_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (!weft_wants_grad(x)) return;
    add_everywhere(x, v->grad.data[0] / (float)x->value.size);
}

/* --- max over the real steps of a ragged batch ------------------------------------------------
 *
 * y[b, f] = max over t < lengths[b] of x[t, b, f]: max pooling of a sequence
 * batch [T, B, F] over each sequence's own steps only (padding never wins,
 * even when every real value is negative). dx[t*, b, f] += dy[b, f] at the
 * step t* that won (the first, among equals), which the forward keeps. */

typedef struct max_steps_attrs {
    int *lengths;   /* B */
    int *winner;    /* B x F: the step that won */
} max_steps_attrs;
_Static_assert(sizeof(max_steps_attrs) <= WEFT_NODE_ATTR_BYTES, "max_steps_attrs fits a node");

static max_steps_attrs *max_steps_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

weft_var *weft_max_steps(weft_graph *g, weft_var *x, const int *lengths)
{
    if (!x) return NULL;
    char s[64];
    if (x->value.rank != 3)
        return weft_graph_fail(g, "max_steps: x is %s, expected [T, B, F]",
                               weft_shape_str(&x->value, s, sizeof s));
    int T = x->value.shape[0], B = x->value.shape[1], F = x->value.shape[2];
    if (!lengths) return weft_graph_fail(g, "max_steps: no lengths given");
    for (int b = 0; b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return weft_graph_fail(g, "max_steps: lengths[%d] = %d is not in [1, %d] (x %s)", b,
                                   lengths[b], T, weft_shape_str(&x->value, s, sizeof s));
    weft_var *v = weft_node_new(g, &weft_op_max_steps, &x, 1, 2, (int[]){ B, F });
    if (!v) return NULL;
    max_steps_attrs *a = max_steps_attrs_of(v);
    a->lengths = weft_graph_alloc(g, (size_t)B * sizeof(int));
    a->winner = weft_graph_alloc(g, (size_t)B * F * sizeof(int));
    if (!a->lengths || !a->winner) return NULL;
    memcpy(a->lengths, lengths, (size_t)B * sizeof(int));
    weft_op_max_steps_forward(g, v);
    return v;
}

void weft_op_max_steps_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const weft_tensor *x = &v->in[0]->value;
    int B = x->shape[1], F = x->shape[2];
    const int *len = max_steps_attrs_of(v)->lengths;
    int *win = max_steps_attrs_of(v)->winner;
    for (int b = 0; b < B; b++) {
        float *y = v->value.data + (size_t)b * F;
        int *w = win + (size_t)b * F;
        memcpy(y, x->data + (size_t)b * F, (size_t)F * sizeof(float));
        for (int f = 0; f < F; f++) w[f] = 0;
        for (int t = 1; t < len[b]; t++) {
            const float *xt = x->data + ((size_t)t * B + b) * F;
            for (int f = 0; f < F; f++)
                if (xt[f] > y[f]) {
                    y[f] = xt[f];
                    w[f] = t;
                }
        }
    }
}

void weft_op_max_steps_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (!weft_wants_grad(x)) return;
    int B = x->value.shape[1], F = x->value.shape[2];
    const int *win = max_steps_attrs_of(v)->winner;
    for (int b = 0; b < B; b++)
        for (int f = 0; f < F; f++) {
            size_t at = ((size_t)win[(size_t)b * F + f] * B + b) * F + f;
            x->grad.data[at] += v->grad.data[(size_t)b * F + f];
        }
}
