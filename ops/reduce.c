/* ops/reduce.c — sum and mean of all elements, to a scalar. The sums run in
 * double, in a fixed order, so the result does not depend on the threads. */
#include "ops/op_table.h"

#include <stdlib.h>

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
