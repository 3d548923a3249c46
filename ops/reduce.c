/* ops/reduce.c — sum and mean of all elements, to a scalar. The sums run in
 * double, in a fixed order, so the result does not depend on the threads. */
#include "op_table.h"

static weft_var *reduction(weft_graph *g, const weft_op_desc *op, weft_var *x)
{
    if (!x) return NULL;
    weft_var *v = weft_node_new(g, op, &x, 1, 1, (int[]){ 1 });
    if (!v) return NULL;
    op->forward(g, v);
    return v;
}

static double total(const weft_tensor *t)
{
    double s = 0.0;
    for (size_t i = 0; i < t->size; i++) s += t->data[i];
    return s;
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
    float gy = v->grad.data[0];
    for (size_t i = 0; i < x->value.size; i++) x->grad.data[i] += gy;
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
    float gy = v->grad.data[0] / (float)x->value.size;
    for (size_t i = 0; i < x->value.size; i++) x->grad.data[i] += gy;
}
