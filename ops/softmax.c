/* ops/softmax.c — softmax, log-softmax over the last dimension, and the
 * cross-entropy of logits against integer targets (softmax fused in). */
#include "op_table.h"

#include "fastmath.h"

#include <math.h>
#include <string.h>

/* Row r of x -> softmax into p, returning log Σ exp(x) (max-shifted for
 * stability: log Σ e^x = m + log Σ e^(x-m)). */
static double softmax_row(const float *x, float *p, int cols)
{
    float m = x[0];
    for (int c = 1; c < cols; c++) m = x[c] > m ? x[c] : m;
    double s = 0.0;
    for (int c = 0; c < cols; c++) {
        p[c] = expf(x[c] - m);
        s += p[c];
    }
    float inv = (float)(1.0 / s);
    for (int c = 0; c < cols; c++) p[c] *= inv;
    return m + log(s);
}

static weft_var *rowwise(weft_graph *g, const weft_op_desc *op, weft_var *a)
{
    if (!a) return NULL;
    weft_var *v = weft_node_new(g, op, &a, 1, a->value.rank, a->value.shape);
    if (!v) return NULL;
    op->forward(g, v);
    return v;
}

/* --- softmax: y_c = e^x_c / Σ e^x;  dx = y ⊙ (dy - Σ_c dy_c y_c) ------------------------ */

weft_var *weft_softmax(weft_graph *g, weft_var *a)
{
    return rowwise(g, &weft_op_softmax, a);
}

void weft_op_softmax_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    const float *x = v->in[0]->value.data;
    float *y = v->value.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) softmax_row(x + (size_t)r * cols, y + (size_t)r * cols, cols);
}

void weft_op_softmax_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        const float *y = v->value.data + (size_t)r * cols, *dy = v->grad.data + (size_t)r * cols;
        float *dx = a->grad.data + (size_t)r * cols;
        double dot = 0.0;
        for (int c = 0; c < cols; c++) dot += dy[c] * y[c];
        for (int c = 0; c < cols; c++) dx[c] += y[c] * (dy[c] - (float)dot);
    }
}

/* --- log_softmax: y_c = x_c - log Σ e^x;  dx = dy - softmax ⊙ Σ_c dy_c ------------------ */

weft_var *weft_log_softmax(weft_graph *g, weft_var *a)
{
    return rowwise(g, &weft_op_log_softmax, a);
}

void weft_op_log_softmax_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    const float *x = v->in[0]->value.data;
    float *y = v->value.data;
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        float lse = (float)softmax_row(xr, yr, cols);   /* yr holds softmax for a moment */
        for (int c = 0; c < cols; c++) yr[c] = xr[c] - lse;
    }
}

void weft_op_log_softmax_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    #pragma omp parallel for if (v->value.size > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        const float *y = v->value.data + (size_t)r * cols, *dy = v->grad.data + (size_t)r * cols;
        float *dx = a->grad.data + (size_t)r * cols;
        double s = 0.0;
        for (int c = 0; c < cols; c++) s += dy[c];
        for (int c = 0; c < cols; c++) dx[c] += dy[c] - expf(y[c]) * (float)s;
    }
}

/* --- cross_entropy -------------------------------------------------------------------------
 * L = Σ_r m_r (-log softmax(x_r)[t_r]) / Σ_r m_r, over the rows r of the logits
 * x, targets t, mask m (1 for every row when none is given).
 * dL/dx_rc = m_r / Σm · (softmax(x_r)_c - [c = t_r]).
 *
 * The forward keeps only lse_r = log Σ_c e^x_rc per row, not the softmax: the
 * backward recomputes softmax(x_r)_c = e^(x_rc - lse_r) from the logits (which
 * the graph keeps anyway) as it writes the gradient. For a language model's
 * decoder that saves rows x vocabulary floats (16 MB for PTB's 10k words at
 * 20 x 20 rows) for one more pass of exp. Both passes are one loop per row,
 * rows split over threads, with the vectorisable exp of ops/fastmath.h. */

typedef struct ce_saved {
    int *targets;
    float *mask;       /* NULL: every row counts */
    float *lse;        /* log Σ e^x per row */
    float *row_loss;   /* -log p[target] per row */
} ce_saved;

/* log Σ_c e^(x_c), max-shifted for stability: m + log Σ e^(x_c - m). The sum
 * runs in double, lane by lane in a fixed order (the vector width is fixed at
 * build time), so it is the same on any number of threads. */
static double log_sum_exp_row(const float *x, int cols)
{
    float m = x[0];
    #pragma omp simd reduction(max : m)
    for (int c = 0; c < cols; c++) m = x[c] > m ? x[c] : m;
    double s = 0.0;
    #pragma omp simd reduction(+ : s)
    for (int c = 0; c < cols; c++) s += (double)weft_fast_expf(x[c] - m);
    return m + log(s);
}

weft_var *weft_cross_entropy(weft_graph *g, weft_var *logits, const int *targets,
                             const float *mask)
{
    if (!logits) return NULL;
    int rows = weft_tensor_rows(&logits->value), cols = weft_tensor_cols(&logits->value);
    if (!targets) return weft_graph_fail(g, "cross_entropy: no targets given");
    for (int r = 0; r < rows; r++) {
        if (targets[r] < 0 || targets[r] >= cols) {
            char s[64];
            return weft_graph_fail(g, "cross_entropy: logits %s: target %d of row %d is not "
                                   "a class in [0, %d)", weft_shape_str(&logits->value, s,
                                   sizeof s), targets[r], r, cols);
        }
    }
    weft_var *v = weft_node_new(g, &weft_op_cross_entropy, &logits, 1, 1, (int[]){ 1 });
    if (!v) return NULL;
    ce_saved *s = weft_graph_alloc(g, sizeof *s);
    if (!s) return NULL;
    s->targets = weft_graph_alloc(g, (size_t)rows * sizeof(int));
    s->mask = mask ? weft_graph_alloc(g, (size_t)rows * sizeof(float)) : NULL;
    s->lse = weft_graph_alloc(g, (size_t)rows * sizeof(float));
    s->row_loss = weft_graph_alloc(g, (size_t)rows * sizeof(float));
    if (!s->targets || (mask && !s->mask) || !s->lse || !s->row_loss) return NULL;
    memcpy(s->targets, targets, (size_t)rows * sizeof(int));
    if (mask) memcpy(s->mask, mask, (size_t)rows * sizeof(float));
    v->aux = s;
    weft_op_cross_entropy_forward(g, v);
    return v;
}

void weft_op_cross_entropy_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    ce_saved *s = v->aux;
    const weft_tensor *x = &v->in[0]->value;
    int rows = weft_tensor_rows(x), cols = weft_tensor_cols(x);
    #pragma omp parallel for if (x->size > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * cols;
        double lse = log_sum_exp_row(xr, cols);
        s->lse[r] = (float)lse;
        s->row_loss[r] = (float)(lse - xr[s->targets[r]]);
    }
    /* a fixed-order sum: the same for any number of threads */
    double total = 0.0, weight = 0.0;
    for (int r = 0; r < rows; r++) {
        double m = s->mask ? s->mask[r] : 1.0;
        if (m == 0.0) continue;
        total += m * s->row_loss[r];
        weight += m;
    }
    v->f[0] = (float)weight;
    v->value.data[0] = weight > 0.0 ? (float)(total / weight) : 0.0f;
}

void weft_op_cross_entropy_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    if (!weft_wants_grad(x) || v->f[0] == 0.0f) return;
    ce_saved *s = v->aux;
    int rows = weft_tensor_rows(&x->value), cols = weft_tensor_cols(&x->value);
    float scale = v->grad.data[0] / v->f[0];
    #pragma omp parallel for if (x->value.size > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        float m = s->mask ? s->mask[r] : 1.0f;
        if (m == 0.0f) continue;
        const float *xr = x->value.data + (size_t)r * cols;
        float *dx = x->grad.data + (size_t)r * cols;
        float k = scale * m, lse = s->lse[r];
        #pragma omp simd
        for (int c = 0; c < cols; c++) dx[c] += k * weft_fast_expf(xr[c] - lse);
        dx[s->targets[r]] -= k;
    }
}
