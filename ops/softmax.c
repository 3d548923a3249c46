/* ops/softmax.c — softmax, log-softmax over the last dimension, and the
 * cross-entropy of logits against integer targets (softmax fused in). */
#include "ops/op_table.h"

#include "src/matmul.h"
#include "ops/fastmath.h"

#include <math.h>
#include <omp.h>
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

/* --- masked_softmax: softmax over the first len_r entries of row r, zero past them --------
 * y_c = e^x_c / Σ_{c' < len} e^x_c' for c < len, y_c = 0 otherwise; the backward is
 * softmax's over the real entries, dx = y ⊙ (dy - Σ_c dy_c y_c), and nothing past them
 * (y = 0 there, so nothing is added: padding gets no gradient). */

typedef struct masked_softmax_attrs {
    const int *lengths;   /* one per row, a copy in the graph's arena */
} masked_softmax_attrs;
_Static_assert(sizeof(masked_softmax_attrs) <= WEFT_NODE_ATTR_BYTES,
               "masked_softmax_attrs fits a node");

static masked_softmax_attrs *masked_softmax_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

weft_var *weft_masked_softmax(weft_graph *g, weft_var *a, const int *lengths)
{
    if (!a) return NULL;
    int rows = weft_tensor_rows(&a->value), cols = weft_tensor_cols(&a->value);
    char s[64];
    if (!lengths) return weft_graph_fail(g, "masked_softmax: no lengths given");
    for (int r = 0; r < rows; r++)
        if (lengths[r] < 1 || lengths[r] > cols)
            return weft_graph_fail(g, "masked_softmax: a %s: length %d of row %d is not in "
                                   "[1, %d]", weft_shape_str(&a->value, s, sizeof s),
                                   lengths[r], r, cols);
    weft_var *v = weft_node_new(g, &weft_op_masked_softmax, &a, 1, a->value.rank, a->value.shape);
    if (!v) return NULL;
    int *copy = weft_graph_alloc(g, (size_t)rows * sizeof(int));
    if (!copy) return NULL;
    memcpy(copy, lengths, (size_t)rows * sizeof(int));
    masked_softmax_attrs_of(v)->lengths = copy;
    weft_op_masked_softmax_forward(g, v);
    return v;
}

void weft_op_masked_softmax_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    const int *len = masked_softmax_attrs_of(v)->lengths;
    const float *x = v->in[0]->value.data;
    float *y = v->value.data;
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * cols;
        softmax_row(x + (size_t)r * cols, yr, len[r]);
        for (int c = len[r]; c < cols; c++) yr[c] = 0.0f;
    }
}

void weft_op_masked_softmax_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0];
    if (!weft_wants_grad(a)) return;
    int rows = weft_tensor_rows(&v->value), cols = weft_tensor_cols(&v->value);
    const int *len = masked_softmax_attrs_of(v)->lengths;
    for (int r = 0; r < rows; r++) {
        const float *y = v->value.data + (size_t)r * cols, *dy = v->grad.data + (size_t)r * cols;
        float *dx = a->grad.data + (size_t)r * cols;
        double dot = 0.0;
        for (int c = 0; c < len[r]; c++) dot += dy[c] * y[c];
        for (int c = 0; c < len[r]; c++) dx[c] += y[c] * (dy[c] - (float)dot);
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
 * The forward keeps per row the max m_r, the sum S_r = Σ_c e^(x_rc - m_r) and
 * lse_r = m_r + log S_r, not the softmax: the backward recomputes
 * softmax(x_r)_c = e^(x_rc - m_r) / S_r from the logits (which the graph keeps
 * anyway) as it writes the gradient. For a language model's decoder that
 * saves rows x vocabulary floats (16 MB for PTB's 10k words at 20 x 20 rows)
 * for one more pass of exp. linear_cross_entropy, whose logits are its own,
 * writes the e^(x_rc - m_r) over them in the forward pass that sums them, and
 * its backward only scales them. Rows split over threads, with the
 * vectorisable exp of ops/fastmath.h. */

typedef struct ce_saved {
    int *targets;
    float *mask;       /* NULL: every row counts */
    float *max;        /* m: the max of each row */
    double *sum;       /* S: Σ e^(x - m) per row */
    float *row_loss;   /* -log p[target] per row */
} ce_saved;

/* What a cross_entropy node keeps: its saved rows, and the total weight of
 * its mean (Σ mask over the rows, 0 when every row is masked), which the
 * forward sets. */
typedef struct ce_attrs {
    ce_saved *saved;
    float weight;
} ce_attrs;
_Static_assert(sizeof(ce_attrs) <= WEFT_NODE_ATTR_BYTES, "ce_attrs fits a node");

static ce_attrs *ce_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

/* --- the row kernels of the cross-entropy (WEFT_SIMD_CLONES: AVX-512 where the
 * CPU has it; the same bits in every build) --------------------------------------------- */

#define LSE_LANES 16

/* Σ_c e^(x_c - m) with m = max_c x_c (into *max), the shift that keeps the
 * exps in range; e^(x_c - m) also written to e[c] unless e is NULL (e may be
 * x itself). One pass for the max, one for exp and sum. The sum is kept in
 * LSE_LANES float partial sums, lane j taking the columns c ≡ j (mod
 * LSE_LANES) in order, then added in double in lane order: a fixed order, so
 * the result is the same on any number of threads and for any vector width.
 * Each term is at most 1 (the largest exactly 1), and a lane sums cols / 16
 * of them (625 for 10k words): the float sum is within about 1e-6 relative of
 * the exact one in practice (tests/test_lmstep.c holds the loss to 2e-6 of a
 * reference in double). */
WEFT_SIMD_CLONES
static double sum_exp_row(float *e, const float *x, int cols, float *max)
{
    float m = x[0];
    #pragma omp simd reduction(max : m)
    for (int c = 0; c < cols; c++) m = x[c] > m ? x[c] : m;
    float acc[LSE_LANES] = { 0 };
    int c = 0;
    if (e) {
        for (; c + LSE_LANES <= cols; c += LSE_LANES) {
            #pragma omp simd
            for (int j = 0; j < LSE_LANES; j++) {
                float ej = weft_fast_expf(x[c + j] - m);
                e[c + j] = ej;
                acc[j] += ej;
            }
        }
        for (int j = 0; c + j < cols; j++) {
            float ej = weft_fast_expf(x[c + j] - m);
            e[c + j] = ej;
            acc[j] += ej;
        }
    } else {
        for (; c + LSE_LANES <= cols; c += LSE_LANES) {
            #pragma omp simd
            for (int j = 0; j < LSE_LANES; j++) acc[j] += weft_fast_expf(x[c + j] - m);
        }
        for (int j = 0; c + j < cols; j++) acc[j] += weft_fast_expf(x[c + j] - m);
    }
    double sum = 0.0;
    for (int j = 0; j < LSE_LANES; j++) sum += acc[j];
    *max = m;
    return sum;
}

/* The factor that turns row r's e^(x_c - m_r) into its gradient: k / S_r,
 * k = dL/dloss · m_r / Σm (the caller's). One place, so that both ops
 * round it alike. */
static float row_factor(const ce_saved *s, int r, float k)
{
    return (float)((double)k / s->sum[r]);
}

/* The gradient of one row, f e^(x_c - m) = k softmax(x)_c for every c, added
 * to dx; the caller subtracts k at the target. */
WEFT_SIMD_CLONES
static void softmax_grad_row(float *dx, const float *x, float m, float f, int cols)
{
    #pragma omp simd
    for (int c = 0; c < cols; c++) dx[c] += f * weft_fast_expf(x[c] - m);
}

/* The targets and mask copied into the graph, room for the rows' max, sum
 * and loss;
 * -1 when the arena is full (the graph holds the error). */
static int ce_saved_init(weft_graph *g, ce_saved *s, int rows, const int *targets,
                         const float *mask)
{
    s->targets = weft_graph_alloc(g, (size_t)rows * sizeof(int));
    s->mask = mask ? weft_graph_alloc(g, (size_t)rows * sizeof(float)) : NULL;
    s->max = weft_graph_alloc(g, (size_t)rows * sizeof(float));
    s->sum = weft_graph_alloc(g, (size_t)rows * sizeof(double));
    s->row_loss = weft_graph_alloc(g, (size_t)rows * sizeof(float));
    if (!s->targets || (mask && !s->mask) || !s->max || !s->sum || !s->row_loss) return -1;
    memcpy(s->targets, targets, (size_t)rows * sizeof(int));
    if (mask) memcpy(s->mask, mask, (size_t)rows * sizeof(float));
    return 0;
}

/* False (with the error recorded, naming op and the logits' shape) unless
 * every target is a class in [0, cols). */
static bool targets_ok(weft_graph *g, const char *op, const weft_tensor *logits,
                       const int *targets, int rows, int cols)
{
    if (!targets) return weft_graph_fail(g, "%s: no targets given", op), false;
    for (int r = 0; r < rows; r++) {
        if (targets[r] < 0 || targets[r] >= cols) {
            char s[64];
            weft_graph_fail(g, "%s: logits %s: target %d of row %d is not a class in [0, %d)",
                            op, weft_shape_str(logits, s, sizeof s), targets[r], r, cols);
            return false;
        }
    }
    return true;
}

weft_var *weft_cross_entropy(weft_graph *g, weft_var *logits, const int *targets,
                             const float *mask)
{
    if (!logits) return NULL;
    int rows = weft_tensor_rows(&logits->value), cols = weft_tensor_cols(&logits->value);
    if (!targets_ok(g, "cross_entropy", &logits->value, targets, rows, cols)) return NULL;
    weft_var *v = weft_node_new(g, &weft_op_cross_entropy, &logits, 1, 1, (int[]){ 1 });
    if (!v) return NULL;
    ce_saved *s = weft_graph_alloc(g, sizeof *s);
    if (!s || ce_saved_init(g, s, rows, targets, mask)) return NULL;
    ce_attrs_of(v)->saved = s;
    weft_op_cross_entropy_forward(g, v);
    return v;
}

/* Each row's max, sum and loss, lse - x_target with lse = m + log S, and the
 * (masked) mean of logits x [rows, cols] into s and v's value; returns the
 * total weight of the mean. exps: write e^(x - m) over x. */
static float cross_entropy_rows(weft_var *v, ce_saved *s, float *x, int rows, int cols, bool exps)
{
    #pragma omp parallel for if ((size_t)rows * cols > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t)r * cols;
        float target = xr[s->targets[r]];
        double sum = sum_exp_row(exps ? xr : NULL, xr, cols, &s->max[r]);
        s->sum[r] = sum;
        s->row_loss[r] = (float)((double)s->max[r] + log(sum) - target);
    }
    /* a fixed-order sum: the same for any number of threads */
    double total = 0.0, weight = 0.0;
    for (int r = 0; r < rows; r++) {
        double m = s->mask ? s->mask[r] : 1.0;
        if (m == 0.0) continue;
        total += m * s->row_loss[r];
        weight += m;
    }
    v->value.data[0] = weight > 0.0 ? (float)(total / weight) : 0.0f;
    return (float)weight;
}

void weft_op_cross_entropy_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const weft_tensor *x = &v->in[0]->value;
    ce_attrs *at = ce_attrs_of(v);
    at->weight = cross_entropy_rows(v, at->saved, x->data, weft_tensor_rows(x),
                                    weft_tensor_cols(x), false);
}

void weft_op_cross_entropy_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0];
    const ce_attrs *at = ce_attrs_of(v);
    if (!weft_wants_grad(x) || at->weight == 0.0f) return;
    const ce_saved *s = at->saved;
    int rows = weft_tensor_rows(&x->value), cols = weft_tensor_cols(&x->value);
    float scale = v->grad.data[0] / at->weight;
    #pragma omp parallel for if (x->value.size > WEFT_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        float m = s->mask ? s->mask[r] : 1.0f;
        if (m == 0.0f) continue;
        float *dx = x->grad.data + (size_t)r * cols;
        float k = scale * m;
        softmax_grad_row(dx, x->value.data + (size_t)r * cols, s->max[r], row_factor(s, r, k),
                         cols);
        dx[s->targets[r]] -= k;
    }
}

/* --- linear_cross_entropy: cross_entropy(x Wᵀ + b, targets, mask) in one op -----------------
 * The decoder of a language model and its loss. Values and gradients are the
 * ones linear followed by cross_entropy gives, bit for bit; what changes is
 * memory. Composed, the logits [rows, V] are a node's value and backward
 * gives them a gradient buffer of the same size (for PTB's 10k words at
 * 20 x 20 rows: 16 MB each). Here the logits are this op's saved buffer: the
 * forward, once it has their max, writes e^(x_rc - m_r) over them as it sums
 * them (nothing else reads them), and backward scales those in place into
 * dL/dlogits, then runs linear's backward from there:
 *     dlogits_rc = m_r / Σm · (e^(x_rc - m_r) / S_r - [c = t_r])
 *     dx += dlogits W,  dW += dlogitsᵀ x,  db += Σ_r dlogits_r.
 * cross_entropy's backward computes the same e^(x_rc - m_r) from the logits
 * and the same factor, so the two give the same bits. A second backward
 * without a forward in between recomputes the logits and exps first. */

typedef struct lce_saved {
    ce_saved ce;
    float *logits;          /* [rows, out]: e^(x - m) of the logits, or after backward dlogits */
    bool holds_grad;
} lce_saved;

/* What a linear_cross_entropy node keeps: as cross_entropy's. */
typedef struct lce_attrs {
    lce_saved *saved;
    float weight;
} lce_attrs;
_Static_assert(sizeof(lce_attrs) <= WEFT_NODE_ATTR_BYTES, "lce_attrs fits a node");

static lce_attrs *lce_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

weft_var *weft_linear_cross_entropy(weft_graph *g, weft_var *x, weft_var *W, weft_var *b,
                                    const int *targets, const float *mask)
{
    if (weft_any_null((weft_var *[]){ x, W }, 2)) return NULL;
    char sx[64], sw[64], sbias[64];
    weft_shape_str(&x->value, sx, sizeof sx);
    weft_shape_str(&W->value, sw, sizeof sw);
    if (W->value.rank != 2 || W->value.shape[1] != weft_tensor_cols(&x->value))
        return weft_graph_fail(g, "linear_cross_entropy: x %s, W %s: W must be [out, in] with "
                               "in = %d, the width of x", sx, sw, weft_tensor_cols(&x->value));
    int rows = weft_tensor_rows(&x->value), out = W->value.shape[0];
    if (b && (b->value.size != (size_t)out || weft_tensor_cols(&b->value) != out))
        return weft_graph_fail(g, "linear_cross_entropy: x %s, W %s, b %s: b must be [%d]", sx,
                               sw, weft_shape_str(&b->value, sbias, sizeof sbias), out);
    weft_tensor logits = { .rank = 2, .size = (size_t)rows * out };   /* for messages */
    for (int d = 0; d < WEFT_MAX_RANK; d++) logits.shape[d] = 1;
    logits.shape[0] = rows;
    logits.shape[1] = out;
    if (!targets_ok(g, "linear_cross_entropy", &logits, targets, rows, out)) return NULL;
    weft_var *in[3] = { x, W, b };
    weft_var *v = weft_node_new(g, &weft_op_linear_cross_entropy, in, b ? 3 : 2, 1, (int[]){ 1 });
    if (!v) return NULL;
    lce_saved *s = weft_graph_alloc(g, sizeof *s);
    if (!s || ce_saved_init(g, &s->ce, rows, targets, mask)) return NULL;
    if (!(s->logits = weft_graph_alloc(g, logits.size * sizeof(float)))) return NULL;
    lce_attrs_of(v)->saved = s;
    weft_op_linear_cross_entropy_forward(g, v);
    return v;
}

/* logits = x Wᵀ + b, as linear computes them (the bias first, then the
 * product added on top). */
static void lce_logits(const weft_var *v, float *y)
{
    const weft_tensor *x = &v->in[0]->value, *W = &v->in[1]->value;
    int rows = weft_tensor_rows(x), in = W->shape[1], out = W->shape[0];
    sgemm_linear_rows(rows, out, in, x->data, W->data, v->n_in == 3 ? v->in[2]->value.data : NULL,
                      y);
}

void weft_op_linear_cross_entropy_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    lce_attrs *at = lce_attrs_of(v);
    lce_saved *s = at->saved;
    lce_logits(v, s->logits);
    s->holds_grad = false;
    at->weight = cross_entropy_rows(v, &s->ce, s->logits, weft_tensor_rows(&v->in[0]->value),
                                    v->in[1]->value.shape[0], true);
}

/* Columns [c0, c1) of every row r of d [rows, cols], the e^(x - m_r) of the
 * logits, turned into dlogits = k_r (softmax - [c = t_r]), k_r = scale m_r
 * (rows of mask 0: zero); then, when db is not NULL, db[c] += dlogits[r, c]
 * row after row. */
WEFT_SIMD_CLONES
static void lce_grad_columns(float *d, float *db, const ce_saved *s, float scale, int rows,
                             int cols, int c0, int c1)
{
    for (int r = 0; r < rows; r++) {
        float *dr = d + (size_t)r * cols;
        float m = s->mask ? s->mask[r] : 1.0f;
        if (m == 0.0f) {
            memset(dr + c0, 0, (size_t)(c1 - c0) * sizeof *dr);
        } else {
            float k = scale * m, f = row_factor(s, r, k);
            #pragma omp simd
            for (int c = c0; c < c1; c++) dr[c] = f * dr[c];
            int target = s->targets[r];
            if (target >= c0 && target < c1) dr[target] -= k;
        }
        if (db) {
            #pragma omp simd
            for (int c = c0; c < c1; c++) db[c] += dr[c];
        }
    }
}

void weft_op_linear_cross_entropy_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *x = v->in[0], *W = v->in[1], *b = v->n_in == 3 ? v->in[2] : NULL;
    bool dx = weft_wants_grad(x), dW = weft_wants_grad(W), db = b && weft_wants_grad(b);
    const lce_attrs *at = lce_attrs_of(v);
    if (!(dx || dW || db) || at->weight == 0.0f) return;
    lce_saved *s = at->saved;
    int rows = weft_tensor_rows(&x->value), in = W->value.shape[1], out = W->value.shape[0];
    if (s->holds_grad) weft_op_linear_cross_entropy_forward(g, v);   /* logits and exps again */
    s->holds_grad = true;
    float *d = s->logits;
    float scale = v->grad.data[0] / at->weight;
    float *dbias = db ? b->grad.data : NULL;
    /* dlogits over the logits and, in the same pass, db += their column sums:
     * the columns cut into one contiguous share per thread (multiples of 16
     * floats), each share run through all rows in order, so that every
     * column of db is summed over the rows in row order (as linear's backward
     * does) whichever thread holds it. */
    #pragma omp parallel if ((size_t)rows * out > WEFT_PARALLEL_MIN)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int share = ((out + nt - 1) / nt + 15) / 16 * 16;
        int c0 = t * share < out ? t * share : out;
        int c1 = c0 + share < out ? c0 + share : out;
        if (c0 < c1) lce_grad_columns(d, dbias, &s->ce, scale, rows, out, c0, c1);
    }
    if (dx) /* dx [rows, in] += dlogits W */
        sgemm_rowmajor(false, false, rows, in, out, 1.0f, d, W->value.data, 1.0f, x->grad.data);
    if (dW) /* dW [out, in] += dlogitsᵀ x */
        sgemm_rowmajor(true, false, out, in, rows, 1.0f, d, x->value.data, 1.0f, W->grad.data);
}
