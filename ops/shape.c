/* ops/shape.c — gathering and reshaping: embedding lookup, concat and slice
 * along the feature dimension, stack and narrow along the first dimension,
 * rows one below another, reshape. All of them move values; none does arithmetic, so each backward
 * moves the gradient back the way the forward moved the value. */
#include "ops/op_table.h"

#include <stdio.h>
#include <string.h>

/* --- embedding: y[i] = W[ids[i]];  dW[ids[i]] += dy[i] --------------------------------- */

/* What an embedding node keeps: its n ids (a copy in the graph's arena). */
typedef struct embedding_attrs {
    const int *ids;
} embedding_attrs;
_Static_assert(sizeof(embedding_attrs) <= WEFT_NODE_ATTR_BYTES, "embedding_attrs fits a node");

static embedding_attrs *embedding_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

weft_var *weft_embedding(weft_graph *g, weft_var *weight, const int *ids, int n)
{
    if (!weight) return NULL;
    char sw[64];
    if (weight->value.rank != 2)
        return weft_graph_fail(g, "embedding: weight %s must be [vocabulary, width]",
                               weft_shape_str(&weight->value, sw, sizeof sw));
    if (!ids || n < 1) return weft_graph_fail(g, "embedding: no ids given (n = %d)", n);
    int V = weight->value.shape[0], E = weight->value.shape[1];
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return weft_graph_fail(g, "embedding: weight %s: id %d at position %d is not in "
                                   "[0, %d)", weft_shape_str(&weight->value, sw, sizeof sw),
                                   ids[i], i, V);
    weft_var *v = weft_node_new(g, &weft_op_embedding, &weight, 1, 2, (int[]){ n, E });
    if (!v) return NULL;
    int *copy = weft_graph_alloc(g, (size_t)n * sizeof(int));
    if (!copy) return NULL;
    memcpy(copy, ids, (size_t)n * sizeof(int));
    embedding_attrs_of(v)->ids = copy;
    weft_op_embedding_forward(g, v);
    return v;
}

void weft_op_embedding_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const int *ids = embedding_attrs_of(v)->ids;
    int n = v->value.shape[0], E = v->value.shape[1];
    const float *W = v->in[0]->value.data;
    for (int i = 0; i < n; i++)
        memcpy(v->value.data + (size_t)i * E, W + (size_t)ids[i] * E, (size_t)E * sizeof(float));
}

void weft_op_embedding_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *w = v->in[0];
    if (!weft_wants_grad(w)) return;
    const int *ids = embedding_attrs_of(v)->ids;
    int n = v->value.shape[0], E = v->value.shape[1];
    /* An id may repeat, and its rows must add up in a fixed order: threads
     * split the columns, and each column adds its rows in order, so the sum
     * is the same on any number of threads. */
    enum { BLOCK = 64 };
    int nblocks = (E + BLOCK - 1) / BLOCK;
    #pragma omp parallel for if ((size_t)n * E > 4 * WEFT_PARALLEL_MIN && nblocks > 1)
    for (int blk = 0; blk < nblocks; blk++) {
        int e0 = blk * BLOCK, e1 = e0 + BLOCK < E ? e0 + BLOCK : E;
        for (int i = 0; i < n; i++) {
            float *dw = w->grad.data + (size_t)ids[i] * E;
            const float *dy = v->grad.data + (size_t)i * E;
            #pragma omp simd
            for (int e = e0; e < e1; e++) dw[e] += dy[e];
        }
    }
}

/* --- concat along the feature dimension ---------------------------------------------------- */

weft_var *weft_concat(weft_graph *g, weft_var *const *xs, int n)
{
    if (!xs || n < 1) return weft_graph_fail(g, "concat: no inputs (n = %d)", n);
    if (weft_any_null(xs, n)) return NULL;
    int rows = weft_tensor_rows(&xs[0]->value), cols = 0;
    for (int k = 0; k < n; k++) {
        if (weft_tensor_rows(&xs[k]->value) != rows) {
            char s0[64], sk[64];
            return weft_graph_fail(g, "concat: input 0 is %s but input %d is %s: all inputs "
                                   "need the same %d rows", weft_shape_str(&xs[0]->value, s0,
                                   sizeof s0), k, weft_shape_str(&xs[k]->value, sk, sizeof sk),
                                   rows);
        }
        cols += weft_tensor_cols(&xs[k]->value);
    }
    int shape[WEFT_MAX_RANK];
    memcpy(shape, xs[0]->value.shape, sizeof shape);
    shape[xs[0]->value.rank - 1] = cols;
    weft_var *v = weft_node_new(g, &weft_op_concat, xs, n, xs[0]->value.rank, shape);
    if (!v) return NULL;
    weft_op_concat_forward(g, v);
    return v;
}

void weft_op_concat_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    int at = 0;
    for (int k = 0; k < v->n_in; k++) {
        int ck = weft_tensor_cols(&v->in[k]->value);
        const float *x = v->in[k]->value.data;
        for (int r = 0; r < rows; r++)
            memcpy(v->value.data + (size_t)r * cols + at, x + (size_t)r * ck,
                   (size_t)ck * sizeof(float));
        at += ck;
    }
}

void weft_op_concat_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    int at = 0;
    for (int k = 0; k < v->n_in; k++) {
        weft_var *x = v->in[k];
        int ck = weft_tensor_cols(&x->value);
        if (weft_wants_grad(x))
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < ck; c++)
                    x->grad.data[(size_t)r * ck + c] += v->grad.data[(size_t)r * cols + at + c];
        at += ck;
    }
}

/* --- slice: columns [start, start + len) --------------------------------------------------- */

/* What a slice node keeps: its first column. */
typedef struct slice_attrs {
    int start;
} slice_attrs;
_Static_assert(sizeof(slice_attrs) <= WEFT_NODE_ATTR_BYTES, "slice_attrs fits a node");

static slice_attrs *slice_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

weft_var *weft_slice(weft_graph *g, weft_var *x, int start, int len)
{
    if (!x) return NULL;
    int cols = weft_tensor_cols(&x->value);
    if (start < 0 || len < 1 || start + len > cols) {
        char s[64];
        return weft_graph_fail(g, "slice: x %s: columns [%d, %d) are not within [0, %d)",
                               weft_shape_str(&x->value, s, sizeof s), start, start + len, cols);
    }
    int shape[WEFT_MAX_RANK];
    memcpy(shape, x->value.shape, sizeof shape);
    shape[x->value.rank - 1] = len;
    weft_var *v = weft_node_new(g, &weft_op_slice, &x, 1, x->value.rank, shape);
    if (!v) return NULL;
    slice_attrs_of(v)->start = start;
    weft_op_slice_forward(g, v);
    return v;
}

void weft_op_slice_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    int rows = weft_tensor_rows(&v->value), len = weft_tensor_cols(&v->value);
    int cols = weft_tensor_cols(&v->in[0]->value), start = slice_attrs_of(v)->start;
    /* rows split among the threads as the elementwise ops split them, so each
     * finds its rows in its own cache (see weft_zero_floats, src/params.c) */
    #pragma omp parallel for if ((size_t)rows * len > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++)
        memcpy(v->value.data + (size_t)r * len, v->in[0]->value.data + (size_t)r * cols + start,
               (size_t)len * sizeof(float));
}

void weft_op_slice_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (!weft_wants_grad(x)) return;
    int rows = weft_tensor_rows(&v->value), len = weft_tensor_cols(&v->value);
    int cols = weft_tensor_cols(&x->value), start = slice_attrs_of(v)->start;
    #pragma omp parallel for if ((size_t)rows * len > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < len; c++)
            x->grad.data[(size_t)r * cols + start + c] += v->grad.data[(size_t)r * len + c];
}

/* --- stack: n tensors of one shape -> [n, shape...] ---------------------------------------- */

weft_var *weft_stack(weft_graph *g, weft_var *const *xs, int n)
{
    if (!xs || n < 1) return weft_graph_fail(g, "stack: no inputs (n = %d)", n);
    if (weft_any_null(xs, n)) return NULL;
    const weft_tensor *t0 = &xs[0]->value;
    if (t0->rank >= WEFT_MAX_RANK)
        return weft_graph_fail(g, "stack: inputs of rank %d would make rank %d (at most %d)",
                               t0->rank, t0->rank + 1, WEFT_MAX_RANK);
    for (int k = 1; k < n; k++) {
        if (!weft_tensor_same_shape(t0, &xs[k]->value)) {
            char s0[64], sk[64];
            return weft_graph_fail(g, "stack: input 0 is %s but input %d is %s: all inputs "
                                   "need one shape", weft_shape_str(t0, s0, sizeof s0), k,
                                   weft_shape_str(&xs[k]->value, sk, sizeof sk));
        }
    }
    int shape[WEFT_MAX_RANK] = { n };
    for (int d = 0; d < t0->rank; d++) shape[d + 1] = t0->shape[d];
    weft_var *v = weft_node_new(g, &weft_op_stack, xs, n, t0->rank + 1, shape);
    if (!v) return NULL;
    weft_op_stack_forward(g, v);
    return v;
}

/* --- concat_rows: [r_k, F] -> [Σ r_k, F], inputs one below the other ------------------------- */

weft_var *weft_concat_rows(weft_graph *g, weft_var *const *xs, int n)
{
    if (!xs || n < 1) return weft_graph_fail(g, "concat_rows: no inputs (n = %d)", n);
    if (weft_any_null(xs, n)) return NULL;
    int cols = weft_tensor_cols(&xs[0]->value), rows = 0;
    for (int k = 0; k < n; k++) {
        if (weft_tensor_cols(&xs[k]->value) != cols) {
            char s0[64], sk[64];
            return weft_graph_fail(g, "concat_rows: input 0 is %s but input %d is %s: all "
                                   "inputs need the same %d columns",
                                   weft_shape_str(&xs[0]->value, s0, sizeof s0), k,
                                   weft_shape_str(&xs[k]->value, sk, sizeof sk), cols);
        }
        rows += weft_tensor_rows(&xs[k]->value);
    }
    weft_var *v = weft_node_new(g, &weft_op_concat_rows, xs, n, 2, (int[]){ rows, cols });
    if (!v) return NULL;
    weft_op_concat_rows_forward(g, v);
    return v;
}

void weft_op_concat_rows_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    size_t at = 0;
    for (int k = 0; k < v->n_in; k++) {
        size_t n = v->in[k]->value.size;
        memcpy(v->value.data + at, v->in[k]->value.data, n * sizeof(float));
        at += n;
    }
}

void weft_op_concat_rows_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    size_t at = 0;
    for (int k = 0; k < v->n_in; k++) {
        weft_var *x = v->in[k];
        size_t n = x->value.size;
        if (weft_wants_grad(x))
            for (size_t i = 0; i < n; i++) x->grad.data[i] += v->grad.data[at + i];
        at += n;
    }
}

/* Do stack's loops split every input among the threads? */
static bool stack_split(const weft_var *v, size_t each)
{
    return v->value.size > WEFT_PARALLEL_MIN && each >= 4096;
}

void weft_op_stack_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    size_t each = v->in[0]->value.size;
    /* each input split among the threads as the ops that made it split it
     * (OpenMP's static schedule over its elements); many small inputs (a
     * stack of scalars) are not worth a work-shared loop each */
    #pragma omp parallel if (stack_split(v, each))
    for (int k = 0; k < v->n_in; k++) {
        const float *x = v->in[k]->value.data;
        float *y = v->value.data + (size_t)k * each;
        #pragma omp for schedule(static) nowait
        for (size_t i = 0; i < each; i++) y[i] = x[i];
    }
}

void weft_op_stack_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    size_t each = v->in[0]->value.size;
    #pragma omp parallel if (stack_split(v, each))
    for (int k = 0; k < v->n_in; k++) {
        weft_var *x = v->in[k];
        if (!weft_wants_grad(x)) continue;
        const float *gy = v->grad.data + (size_t)k * each;
        float *gx = x->grad.data;
        #pragma omp for schedule(static) nowait
        for (size_t i = 0; i < each; i++) gx[i] += gy[i];
    }
}

/* --- narrow: entries [start, start + len) of the first dimension ---------------------------- */

weft_var *weft_narrow(weft_graph *g, weft_var *x, int start, int len)
{
    if (!x) return NULL;
    const weft_tensor *t = &x->value;
    if (start < 0 || len < 1 || start + len > t->shape[0]) {
        char s[64];
        return weft_graph_fail(g, "narrow: x %s: entries [%d, %d) are not within [0, %d) of "
                               "the first dimension", weft_shape_str(t, s, sizeof s), start,
                               start + len, t->shape[0]);
    }
    int shape[WEFT_MAX_RANK], rank = t->rank;
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = len;
    if (len == 1 && rank > 1) {   /* one step of a sequence: drop the time dimension */
        for (int d = 0; d < rank - 1; d++) shape[d] = t->shape[d + 1];
        rank--;
    }
    /* Entries of the first dimension are contiguous: the result is a view,
     * a pointer into x's value (and, in backward, into x's gradient), so a
     * step of a sequence costs no copy of its values or of its gradient. */
    size_t per = t->size / (size_t)t->shape[0];
    weft_var *v = weft_node_new_view(g, &weft_op_narrow, x, rank, shape, (size_t)start * per);
    if (!v) return NULL;
    weft_narrow_attrs_of(v)->start = start;
    return v;
}

/* A view (weft_node_new_view): the value is x's memory, so there is nothing
 * to compute, and consumers add into x's gradient directly, so nothing to add.
 * A narrow node made by hand with weft_node_new (not a view) copies. */
void weft_op_narrow_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    if (v->view_of) return;
    const weft_tensor *x = &v->in[0]->value;
    size_t per = x->size / (size_t)x->shape[0];
    memcpy(v->value.data, x->data + (size_t)weft_narrow_attrs_of(v)->start * per,
           v->value.size * sizeof(float));
}

void weft_op_narrow_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (v->view_of || !weft_wants_grad(x)) return;
    size_t per = x->value.size / (size_t)x->value.shape[0];
    float *gx = x->grad.data + (size_t)weft_narrow_attrs_of(v)->start * per;
    for (size_t i = 0; i < v->value.size; i++) gx[i] += v->grad.data[i];
}

/* --- reshape: the same values, another shape ------------------------------------------------- */

weft_var *weft_reshape(weft_graph *g, weft_var *x, int rank, const int *shape)
{
    if (!x) return NULL;
    weft_tensor want = weft_tensor_wrap(NULL, rank, shape);
    if (want.size != x->value.size) {
        /* the shape as asked, even when it is not a valid one */
        char s[64], asked[96] = "[";
        size_t len = 1;
        for (int d = 0; shape && d < rank && d < 8 && len < sizeof asked; d++)
            len += (size_t)snprintf(asked + len, sizeof asked - len, d ? ", %d" : "%d", shape[d]);
        if (len < sizeof asked) snprintf(asked + len, sizeof asked - len, "]");
        weft_shape_str(&x->value, s, sizeof s);
        if (want.size == 0)
            return weft_graph_fail(g, "reshape: x %s: the new shape %s (rank %d) is not a shape "
                                   "of rank 1 to %d with positive sizes", s, asked, rank,
                                   WEFT_MAX_RANK);
        return weft_graph_fail(g, "reshape: x %s has %zu elements but the new shape %s has %zu",
                               s, x->value.size, asked, want.size);
    }
    /* the same floats in the same order: a view of all of x, as narrow makes
     * of a part (no copy of the values, none of the gradient) */
    return weft_node_new_view(g, &weft_op_reshape, x, rank, shape, 0);
}

/* A view has nothing to compute or to add (see narrow); a reshape node made
 * by hand with weft_node_new (not a view) copies. */
void weft_op_reshape_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    if (v->view_of) return;
    memcpy(v->value.data, v->in[0]->value.data, v->value.size * sizeof(float));
}

void weft_op_reshape_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (v->view_of || !weft_wants_grad(x)) return;
    for (size_t i = 0; i < v->value.size; i++) x->grad.data[i] += v->grad.data[i];
}

/* --- expand: y[b, j, :] = x[b, :] for j < n;  dx[b] += Σ_j dy[b, j] ---------------------- */

weft_var *weft_expand(weft_graph *g, weft_var *x, int n)
{
    if (!x) return NULL;
    if (x->value.rank != 2 || n < 1) {
        char s[64];
        return weft_graph_fail(g, "expand: x %s, n %d: x must be [B, F] and n >= 1",
                               weft_shape_str(&x->value, s, sizeof s), n);
    }
    int B = x->value.shape[0], F = x->value.shape[1];
    weft_var *v = weft_node_new(g, &weft_op_expand, &x, 1, 3, (int[]){ B, n, F });
    if (!v) return NULL;
    weft_op_expand_forward(g, v);
    return v;
}

void weft_op_expand_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    int B = v->value.shape[0], n = v->value.shape[1], F = v->value.shape[2];
    const float *x = v->in[0]->value.data;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < n; j++)
            memcpy(v->value.data + ((size_t)b * n + j) * F, x + (size_t)b * F,
                   (size_t)F * sizeof(float));
}

void weft_op_expand_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (!weft_wants_grad(x)) return;
    int B = v->value.shape[0], n = v->value.shape[1], F = v->value.shape[2];
    for (int b = 0; b < B; b++) {
        float *dx = x->grad.data + (size_t)b * F;
        for (int j = 0; j < n; j++) {
            const float *dy = v->grad.data + ((size_t)b * n + j) * F;
            for (int f = 0; f < F; f++) dx[f] += dy[f];
        }
    }
}

/* --- transpose01: y[j, i, :] = x[i, j, :];  dx[i, j] += dy[j, i] ------------------------ */

weft_var *weft_transpose01(weft_graph *g, weft_var *x)
{
    if (!x) return NULL;
    if (x->value.rank != 3) {
        char s[64];
        return weft_graph_fail(g, "transpose01: x %s must have rank 3",
                               weft_shape_str(&x->value, s, sizeof s));
    }
    const int *s = x->value.shape;
    weft_var *v = weft_node_new(g, &weft_op_transpose01, &x, 1, 3, (int[]){ s[1], s[0], s[2] });
    if (!v) return NULL;
    weft_op_transpose01_forward(g, v);
    return v;
}

void weft_op_transpose01_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    int I = v->in[0]->value.shape[0], J = v->in[0]->value.shape[1], F = v->value.shape[2];
    const float *x = v->in[0]->value.data;
    for (int i = 0; i < I; i++)
        for (int j = 0; j < J; j++)
            memcpy(v->value.data + ((size_t)j * I + i) * F, x + ((size_t)i * J + j) * F,
                   (size_t)F * sizeof(float));
}

void weft_op_transpose01_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (!weft_wants_grad(x)) return;
    int I = x->value.shape[0], J = x->value.shape[1], F = v->value.shape[2];
    for (int i = 0; i < I; i++)
        for (int j = 0; j < J; j++) {
            float *dx = x->grad.data + ((size_t)i * J + j) * F;
            const float *dy = v->grad.data + ((size_t)j * I + i) * F;
            for (int f = 0; f < F; f++) dx[f] += dy[f];
        }
}
