/* ops/arith.c — elementwise arithmetic: add, sub, mul (with broadcasting),
 * scale by a constant, one-minus. */
#include "ops/op_table.h"

#include "src/vec.h"

#include <string.h>

/* How b is spread over a. */
enum { BCAST_SAME, BCAST_ROW, BCAST_COL, BCAST_SCALAR };

/* What the nodes of this family keep: add, sub and mul how b is spread over
 * a (a BCAST_ value), scale its constant factor. */
typedef struct arith_attrs {
    int broadcast;
    float factor;
} arith_attrs;
_Static_assert(sizeof(arith_attrs) <= WEFT_NODE_ATTR_BYTES, "arith_attrs fits a node");

static arith_attrs *arith_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

/* Which broadcast makes b fit a, or -1. */
static int broadcast_mode(const weft_tensor *a, const weft_tensor *b)
{
    int rows = weft_tensor_rows(a), cols = weft_tensor_cols(a);
    int brows = weft_tensor_rows(b), bcols = weft_tensor_cols(b);
    if (b->size == a->size && bcols == cols) return BCAST_SAME;
    if (b->size == 1) return BCAST_SCALAR;
    if (brows == 1 && bcols == cols) return BCAST_ROW;
    if (bcols == 1 && brows == rows) return BCAST_COL;
    return -1;
}

/* The loops below run src/vec.h's kernels (built for each vector width),
 * on slices of a flat array where b is spread alike over every element (its
 * shape, or one element), else row by row; the threads take equal slices, as
 * the other elementwise ops do. */
typedef void (*vec_vv)(float *, const float *, const float *, size_t);
typedef void (*vec_vs)(float *, const float *, float, size_t);

/* y = vv(a, b) or vs(a, b's element), over rows x cols with b spread by mode. */
static void map_broadcast(vec_vv vv, vec_vs vs, float *y, const float *a, const float *b,
                          int mode, int rows, int cols)
{
    size_t n = (size_t)rows * cols;
    if (mode == BCAST_SAME || mode == BCAST_SCALAR) {
        #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
        {
            size_t i0, i1;
            weft_vec_share(n, &i0, &i1);
            if (i1 > i0 && mode == BCAST_SAME) vv(y + i0, a + i0, b + i0, i1 - i0);
            else if (i1 > i0) vs(y + i0, a + i0, b[0], i1 - i0);
        }
        return;
    }
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * cols;
        if (mode == BCAST_ROW) vv(y + o, a + o, b, (size_t)cols);
        else vs(y + o, a + o, b[r], (size_t)cols);
    }
}

/* y[i] += s · x[i] over n floats, shared among the threads. */
static void acc_threads(float *y, const float *x, float s, size_t n)
{
    #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
    {
        size_t i0, i1;
        weft_vec_share(n, &i0, &i1);
        if (i1 > i0) weft_vec_acc(y + i0, x + i0, s, i1 - i0);
    }
}

/* y += x ⊙ z over n floats, shared among the threads. */
static void acc_mul_threads(float *y, const float *x, const float *z, size_t n)
{
    #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
    {
        size_t i0, i1;
        weft_vec_share(n, &i0, &i1);
        if (i1 > i0) weft_vec_acc_mul(y + i0, x + i0, z + i0, i1 - i0);
    }
}

/* grad_b += sign · dL/dy ⊙ factor, summed over the dimensions b was spread
 * over (the gradient of a broadcast value is the sum over everything it
 * met). factor has a's shape, or is NULL for 1: add passes (+1, NULL), sub
 * (-1, NULL), mul (+1, a). */
static inline float term(const float *gy, const float *factor, float sign, size_t i)
{
    return sign * gy[i] * (factor ? factor[i] : 1.0f);
}

static void reduce_into_b(float *gb, const float *gy, const float *factor, float sign, int mode,
                          int rows, int cols)
{
    size_t n = (size_t)rows * cols;
    switch (mode) {
    case BCAST_SAME:   /* mul passes sign 1: sign · gy · a is gy · a exactly */
        if (factor) acc_mul_threads(gb, gy, factor, n);
        else acc_threads(gb, gy, sign, n);
        break;
    case BCAST_ROW:
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) gb[c] += term(gy, factor, sign, (size_t)r * cols + c);
        break;
    case BCAST_COL:
        for (int r = 0; r < rows; r++) {
            float s = 0.0f;
            for (int c = 0; c < cols; c++) s += term(gy, factor, sign, (size_t)r * cols + c);
            gb[r] += s;
        }
        break;
    default: {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += term(gy, factor, sign, i);
        gb[0] += (float)s;
    }
    }
}

/* The shared front of add, sub and mul: check, make the node, run forward. */
static weft_var *binary(weft_graph *g, const weft_op_desc *op, weft_var *a, weft_var *b)
{
    if (weft_any_null((weft_var *[]){ a, b }, 2)) return NULL;
    int mode = broadcast_mode(&a->value, &b->value);
    if (mode < 0) {
        char sa[64], sb[64];
        return weft_graph_fail(g, "%s: shapes %s and %s do not fit: b must have a's shape, "
                               "be one row of %d, one column of %d, or one element", op->name,
                               weft_shape_str(&a->value, sa, sizeof sa),
                               weft_shape_str(&b->value, sb, sizeof sb),
                               weft_tensor_cols(&a->value), weft_tensor_rows(&a->value));
    }
    weft_var *v = weft_node_new(g, op, (weft_var *[]){ a, b }, 2, a->value.rank, a->value.shape);
    if (!v) return NULL;
    arith_attrs_of(v)->broadcast = mode;
    op->forward(g, v);
    return v;
}

/* --- add: y = a + b --------------------------------------------------------- */

weft_var *weft_add(weft_graph *g, weft_var *a, weft_var *b)
{
    return binary(g, &weft_op_add, a, b);
}

void weft_op_add_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *a = v->in[0]->value.data, *b = v->in[1]->value.data;
    float *y = v->value.data;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    map_broadcast(weft_vec_add, weft_vec_add_s, y, a, b, arith_attrs_of(v)->broadcast, rows, cols);
}

void weft_op_add_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0], *b = v->in[1];
    const float *gy = v->grad.data;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    if (weft_wants_grad(a)) acc_threads(a->grad.data, gy, 1.0f, v->value.size);
    if (weft_wants_grad(b))
        reduce_into_b(b->grad.data, gy, NULL, 1.0f, arith_attrs_of(v)->broadcast, rows, cols);
}

/* --- sub: y = a - b ----------------------------------------------------------- */

weft_var *weft_sub(weft_graph *g, weft_var *a, weft_var *b)
{
    return binary(g, &weft_op_sub, a, b);
}

void weft_op_sub_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *a = v->in[0]->value.data, *b = v->in[1]->value.data;
    float *y = v->value.data;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    map_broadcast(weft_vec_sub, weft_vec_sub_s, y, a, b, arith_attrs_of(v)->broadcast, rows, cols);
}

void weft_op_sub_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0], *b = v->in[1];
    const float *gy = v->grad.data;
    size_t n = v->value.size;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    if (weft_wants_grad(a)) acc_threads(a->grad.data, gy, 1.0f, n);
    /* dL/db = -dL/dy, summed over what b was spread over */
    if (weft_wants_grad(b))
        reduce_into_b(b->grad.data, gy, NULL, -1.0f, arith_attrs_of(v)->broadcast, rows, cols);
}

/* --- mul: y = a ⊙ b ----------------------------------------------------------- */

weft_var *weft_mul(weft_graph *g, weft_var *a, weft_var *b)
{
    return binary(g, &weft_op_mul, a, b);
}

void weft_op_mul_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *a = v->in[0]->value.data, *b = v->in[1]->value.data;
    float *y = v->value.data;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    map_broadcast(weft_vec_mul, weft_vec_mul_s, y, a, b, arith_attrs_of(v)->broadcast, rows, cols);
}

void weft_op_mul_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0], *b = v->in[1];
    const float *gy = v->grad.data, *av = a->value.data, *bv = b->value.data;
    size_t n = v->value.size;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    int mode = arith_attrs_of(v)->broadcast;
    /* dL/da = dL/dy ⊙ b (b a column or one element: gy · s is s · gy) */
    if (weft_wants_grad(a)) {
        float *ga = a->grad.data;
        if (mode == BCAST_SAME) {
            acc_mul_threads(ga, gy, bv, n);
        } else if (mode == BCAST_SCALAR) {
            acc_threads(ga, gy, bv[0], n);
        } else {
            #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
            for (int r = 0; r < rows; r++) {
                size_t o = (size_t)r * cols;
                if (mode == BCAST_ROW) weft_vec_acc_mul(ga + o, gy + o, bv, (size_t)cols);
                else weft_vec_acc(ga + o, gy + o, bv[r], (size_t)cols);
            }
        }
    }
    /* dL/db = dL/dy ⊙ a, summed over what b was spread over */
    if (weft_wants_grad(b)) reduce_into_b(b->grad.data, gy, av, 1.0f, mode, rows, cols);
}

/* --- scale: y = s a ------------------------------------------------------------ */

weft_var *weft_scale(weft_graph *g, weft_var *a, float s)
{
    if (!a) return NULL;
    weft_var *v = weft_node_new(g, &weft_op_scale, &a, 1, a->value.rank, a->value.shape);
    if (!v) return NULL;
    arith_attrs_of(v)->factor = s;
    weft_op_scale_forward(g, v);
    return v;
}

void weft_op_scale_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *a = v->in[0]->value.data;
    float *y = v->value.data, s = arith_attrs_of(v)->factor;
    size_t n = v->value.size;
    #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
    {
        size_t i0, i1;
        weft_vec_share(n, &i0, &i1);
        if (i1 > i0) weft_vec_mul_s(y + i0, a + i0, s, i1 - i0);
    }
}

void weft_op_scale_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    float *ga = a->grad.data, s = arith_attrs_of(v)->factor;
    const float *gy = v->grad.data;
    acc_threads(ga, gy, s, v->value.size);
}

/* --- one_minus: y = 1 - a (the complement of a gate) -------------------------- */

weft_var *weft_one_minus(weft_graph *g, weft_var *a)
{
    if (!a) return NULL;
    weft_var *v = weft_node_new(g, &weft_op_one_minus, &a, 1, a->value.rank, a->value.shape);
    if (!v) return NULL;
    weft_op_one_minus_forward(g, v);
    return v;
}

void weft_op_one_minus_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *a = v->in[0]->value.data;
    float *y = v->value.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < v->value.size; i++) y[i] = 1.0f - a[i];
}

void weft_op_one_minus_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    float *ga = a->grad.data;
    const float *gy = v->grad.data;
    acc_threads(ga, gy, -1.0f, v->value.size);
}
