/* ops/plumbing.c — dropout with a caller-made mask, and detach. */
#include "ops/op_table.h"

#include <string.h>

/* --- dropout: y = x ⊙ mask --------------------------------------------------------------
 * The caller makes the mask (0 or 1/(1-p), see weft_rng) as a node without
 * gradient, of x's shape or one row broadcast to every row; one mask node can
 * then serve all the time steps of a sequence (variational dropout, Gal &
 * Ghahramani 2016). No gradient flows into the mask. */

/* What a dropout node keeps: 0 when the mask has x's shape, else its one
 * row's length (the mask repeats every `period` elements). */
typedef struct dropout_attrs {
    int period;
} dropout_attrs;
_Static_assert(sizeof(dropout_attrs) <= WEFT_NODE_ATTR_BYTES, "dropout_attrs fits a node");

static dropout_attrs *dropout_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

weft_var *weft_dropout(weft_graph *g, weft_var *x, weft_var *mask)
{
    if (weft_any_null((weft_var *[]){ x, mask }, 2)) return NULL;
    int cols = weft_tensor_cols(&x->value);
    bool same = mask->value.size == x->value.size && weft_tensor_cols(&mask->value) == cols;
    bool row = mask->value.size == (size_t)cols;
    if (!same && !row) {
        char sx[64], sm[64];
        return weft_graph_fail(g, "dropout: x %s, mask %s: the mask must have x's shape or be "
                               "one row of %d", weft_shape_str(&x->value, sx, sizeof sx),
                               weft_shape_str(&mask->value, sm, sizeof sm), cols);
    }
    if (mask->requires_grad)
        return weft_graph_fail(g, "dropout: the mask (node #%d) must not require a gradient",
                               mask->id);
    weft_var *v = weft_node_new(g, &weft_op_dropout, (weft_var *[]){ x, mask }, 2,
                                x->value.rank, x->value.shape);
    if (!v) return NULL;
    *dropout_attrs_of(v) = (dropout_attrs){ .period = same ? 0 : cols };
    weft_op_dropout_forward(g, v);
    return v;
}

void weft_op_dropout_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *x = v->in[0]->value.data, *m = v->in[1]->value.data;
    float *y = v->value.data;
    size_t n = v->value.size;
    size_t cols = (size_t)dropout_attrs_of(v)->period;
    if (!cols) {   /* the mask has x's shape */
        #pragma omp parallel for simd if (n > WEFT_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) y[i] = x[i] * m[i];
        return;
    }
    /* one mask row for every row of x */
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (size_t r = 0; r < n / cols; r++)
        for (size_t c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] * m[c];
}

void weft_op_dropout_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (!weft_wants_grad(x)) return;
    const float *m = v->in[1]->value.data, *gy = v->grad.data;
    float *gx = x->grad.data;
    size_t n = v->value.size;
    size_t cols = (size_t)dropout_attrs_of(v)->period;
    if (!cols) {
        #pragma omp parallel for simd if (n > WEFT_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) gx[i] += gy[i] * m[i];
        return;
    }
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (size_t r = 0; r < n / cols; r++)
        for (size_t c = 0; c < cols; c++) gx[r * cols + c] += gy[r * cols + c] * m[c];
}

/* --- detach: a copy that cuts the tape -------------------------------------------------- */

weft_var *weft_detach(weft_graph *g, weft_var *x)
{
    if (!x) return NULL;
    weft_var *v = weft_node_new(g, &weft_op_detach, &x, 1, x->value.rank, x->value.shape);
    if (!v) return NULL;
    v->requires_grad = false;   /* nothing below it is reached from here */
    weft_op_detach_forward(g, v);
    return v;
}

void weft_op_detach_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    memcpy(v->value.data, v->in[0]->value.data, v->value.size * sizeof(float));
}

void weft_op_detach_backward(weft_graph *g, weft_var *v)
{
    /* The point of detach: no gradient goes through. Never called, since the
     * node does not require a gradient, but the table wants every op to say
     * what its backward is. */
    (void)g;
    (void)v;
}
