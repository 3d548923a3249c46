/* ops/activation.c — elementwise nonlinearities. sigmoid, tanh and exp keep
 * their output and differentiate through it (σ' = σ(1-σ), tanh' = 1-tanh²,
 * exp' = exp) instead of recomputing. sigmoid and tanh are the vectorisable
 * ones of ops/fastmath.h (within 1e-6 of libm), as the fused steps use. */
#include "ops/op_table.h"

#include "ops/fastmath.h"

#include <math.h>

/* Make the node of a one-input elementwise op and run its forward. */
static weft_var *unary(weft_graph *g, const weft_op_desc *op, weft_var *a)
{
    if (!a) return NULL;
    weft_var *v = weft_node_new(g, op, &a, 1, a->value.rank, a->value.shape);
    if (!v) return NULL;
    op->forward(g, v);
    return v;
}

/* --- sigmoid: y = 1 / (1 + e^-x);  dy/dx = y (1 - y) ------------------------- */

weft_var *weft_sigmoid(weft_graph *g, weft_var *a)
{
    return unary(g, &weft_op_sigmoid, a);
}

void weft_op_sigmoid_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *x = v->in[0]->value.data;
    float *y = v->value.data;
    weft_map_threads(weft_sigmoid_n, y, x, v->value.size);
}

void weft_op_sigmoid_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    const float *y = v->value.data, *gy = v->grad.data;
    float *ga = a->grad.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) ga[i] += gy[i] * y[i] * (1.0f - y[i]);
}

/* --- tanh: dy/dx = 1 - y² -------------------------------------------------------- */

weft_var *weft_tanh(weft_graph *g, weft_var *a)
{
    return unary(g, &weft_op_tanh, a);
}

void weft_op_tanh_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *x = v->in[0]->value.data;
    float *y = v->value.data;
    weft_map_threads(weft_tanh_n, y, x, v->value.size);
}

void weft_op_tanh_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    const float *y = v->value.data, *gy = v->grad.data;
    float *ga = a->grad.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) ga[i] += gy[i] * (1.0f - y[i] * y[i]);
}

/* --- relu: y = max(x, 0); dy/dx = [x > 0] ---------------------------------------- */

weft_var *weft_relu(weft_graph *g, weft_var *a)
{
    return unary(g, &weft_op_relu, a);
}

void weft_op_relu_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *x = v->in[0]->value.data;
    float *y = v->value.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void weft_op_relu_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    const float *x = a->value.data, *gy = v->grad.data;
    float *ga = a->grad.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) ga[i] += x[i] > 0.0f ? gy[i] : 0.0f;
}

/* --- exp: dy/dx = y ----------------------------------------------------------------- */

weft_var *weft_exp(weft_graph *g, weft_var *a)
{
    return unary(g, &weft_op_exp, a);
}

void weft_op_exp_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *x = v->in[0]->value.data;
    float *y = v->value.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) y[i] = expf(x[i]);
}

void weft_op_exp_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    const float *y = v->value.data, *gy = v->grad.data;
    float *ga = a->grad.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) ga[i] += gy[i] * y[i];
}

/* --- log: dy/dx = 1/x ------------------------------------------------------------------ */

weft_var *weft_log(weft_graph *g, weft_var *a)
{
    return unary(g, &weft_op_log, a);
}

void weft_op_log_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *x = v->in[0]->value.data;
    float *y = v->value.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) y[i] = logf(x[i]);
}

void weft_op_log_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    const float *x = a->value.data, *gy = v->grad.data;
    float *ga = a->grad.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) ga[i] += gy[i] / x[i];
}
