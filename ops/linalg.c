/* ops/linalg.c — matrix products through BLIS: matmul (either operand
 * transposed) and linear (x Wᵀ + b, PyTorch's nn.Linear). */
#include "ops/op_table.h"

#include "src/matmul.h"

#include <string.h>

/* --- matmul: C = op(A) op(B) ----------------------------------------------------- */

/* What a matmul node keeps: which operands are transposed, and op(A)'s [m, k]. */
typedef struct matmul_attrs {
    bool trans_a, trans_b;
    int m, k;
} matmul_attrs;
_Static_assert(sizeof(matmul_attrs) <= WEFT_NODE_ATTR_BYTES, "matmul_attrs fits a node");

static matmul_attrs *matmul_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

weft_var *weft_matmul(weft_graph *g, weft_var *a, weft_var *b)
{
    return weft_matmul_ex(g, a, false, b, false);
}

weft_var *weft_matmul_ex(weft_graph *g, weft_var *a, bool trans_a, weft_var *b, bool trans_b)
{
    if (weft_any_null((weft_var *[]){ a, b }, 2)) return NULL;
    /* (the shapes are written out only for a message: a model step runs this every time) */
    char sa[64] = "", sb[64] = "";
    bool bad = b->value.rank != 2 || (trans_a && a->value.rank != 2) ||
               (trans_a ? a->value.shape[0] : weft_tensor_cols(&a->value)) !=
                   (trans_b ? b->value.shape[1] : b->value.shape[0]);
    if (bad) {
        weft_shape_str(&a->value, sa, sizeof sa);
        weft_shape_str(&b->value, sb, sizeof sb);
    }
    if (b->value.rank != 2 || (trans_a && a->value.rank != 2))
        return weft_graph_fail(g, "matmul: a %s%s, b %s%s: a transposed operand, and b, "
                               "must be matrices (rank 2)", sa, trans_a ? "ᵀ" : "", sb,
                               trans_b ? "ᵀ" : "");
    /* op(A) is [m, k], op(B) is [k, n] */
    int m = trans_a ? a->value.shape[1] : weft_tensor_rows(&a->value);
    int k = trans_a ? a->value.shape[0] : weft_tensor_cols(&a->value);
    int kb = trans_b ? b->value.shape[1] : b->value.shape[0];
    int n = trans_b ? b->value.shape[0] : b->value.shape[1];
    if (k != kb)
        return weft_graph_fail(g, "matmul: a %s%s times b %s%s: inner dimensions %d and %d "
                               "differ", sa, trans_a ? "ᵀ" : "", sb, trans_b ? "ᵀ" : "", k, kb);
    /* leading dimensions of a carry over: [T, B, K] x [K, N] -> [T, B, N] */
    int shape[WEFT_MAX_RANK] = { m, n };
    int rank = 2;
    if (!trans_a) {
        rank = a->value.rank;
        for (int d = 0; d < rank - 1; d++) shape[d] = a->value.shape[d];
        shape[rank - 1] = n;
    }
    weft_var *v = weft_node_new(g, &weft_op_matmul, (weft_var *[]){ a, b }, 2, rank, shape);
    if (!v) return NULL;
    *matmul_attrs_of(v) = (matmul_attrs){ .trans_a = trans_a, .trans_b = trans_b, .m = m, .k = k };
    weft_op_matmul_forward(g, v);
    return v;
}

void weft_op_matmul_forward(weft_graph *g, weft_var *v)
{
    const matmul_attrs *at = matmul_attrs_of(v);
    bool ta = at->trans_a, tb = at->trans_b;
    int m = at->m, k = at->k, n = weft_tensor_cols(&v->value);
    const float *A = v->in[0]->value.data, *B = v->in[1]->value.data;
    if (!ta && rows_product_worth(g, m)) {   /* a step of a forward-only graph */
        memset(v->value.data, 0, (size_t)m * n * sizeof(float));
        if (tb) weft_rows_times_wt(m, n, k, A, k, B, v->value.data, n);
        else weft_rows_times_b(m, n, k, A, B, v->value.data);
        return;
    }
    sgemm_rowmajor(ta, tb, m, n, k, 1.0f, A, B, 0.0f, v->value.data);
}

void weft_op_matmul_backward(weft_graph *g, weft_var *v)
{
    weft_var *a = v->in[0], *b = v->in[1];
    const matmul_attrs *at = matmul_attrs_of(v);
    bool ta = at->trans_a, tb = at->trans_b;
    int m = at->m, k = at->k, n = weft_tensor_cols(&v->value);
    const float *dC = v->grad.data, *A = a->value.data, *B = b->value.data;
    if (weft_wants_grad(a)) {
        if (!ta) /* dA [m, k] += dC op(B)ᵀ */
            sgemm_rowmajor(false, !tb, m, k, n, 1.0f, dC, B, 1.0f, a->grad.data);
        else     /* A is [k, m]: dA += op(B) dCᵀ */
            sgemm_rowmajor(tb, true, k, m, n, 1.0f, B, dC, 1.0f, a->grad.data);
    }
    if (weft_wants_grad(b)) {
        /* With A not transposed both products have the form Lᵀ R over the
         * m rows: a leaf B (a weight) may leave them to the end of the sweep
         * (weft_defer_product), which adds every step's at once. */
        if (!tb) { /* dB [k, n] += op(A)ᵀ dC */
            if (ta || !weft_defer_product(g, b, m, A, k, dC, n))
                sgemm_rowmajor(!ta, false, k, n, m, 1.0f, A, dC, 1.0f, b->grad.data);
        } else {   /* B is [n, k]: dB += dCᵀ op(A) */
            if (ta || !weft_defer_product(g, b, m, dC, n, A, k))
                sgemm_rowmajor(true, ta, n, k, m, 1.0f, dC, A, 1.0f, b->grad.data);
        }
    }
}

/* --- linear: y = x Wᵀ + b ---------------------------------------------------------- */

static void linear_forward(weft_graph *g, weft_var *v, bool first);

weft_var *weft_linear(weft_graph *g, weft_var *x, weft_var *W, weft_var *b)
{
    if (weft_any_null((weft_var *[]){ x, W }, 2)) return NULL;
    /* (the shapes are written out only for a message: a model step runs this every time) */
    char sx[64], sw[64], sbias[64];
    if (W->value.rank != 2 || W->value.shape[1] != weft_tensor_cols(&x->value))
        return weft_graph_fail(g, "linear: x %s, W %s: W must be [out, in] with in = %d, "
                               "the width of x", weft_shape_str(&x->value, sx, sizeof sx),
                               weft_shape_str(&W->value, sw, sizeof sw),
                               weft_tensor_cols(&x->value));
    int out = W->value.shape[0];
    if (b && (b->value.size != (size_t)out || weft_tensor_cols(&b->value) != out))
        return weft_graph_fail(g, "linear: x %s, W %s, b %s: b must be [%d]",
                               weft_shape_str(&x->value, sx, sizeof sx),
                               weft_shape_str(&W->value, sw, sizeof sw),
                               weft_shape_str(&b->value, sbias, sizeof sbias), out);
    int shape[WEFT_MAX_RANK];
    for (int d = 0; d < x->value.rank; d++) shape[d] = x->value.shape[d];
    shape[x->value.rank - 1] = out;
    weft_var *in[3] = { x, W, b };
    weft_var *v = weft_node_new(g, &weft_op_linear, in, b ? 3 : 2, x->value.rank, shape);
    if (!v) return NULL;
    linear_forward(g, v, true);
    return v;
}

/* W's value at this many places, kept beside its packed copy: a value changed
 * since the packing (an optimizer step, a load) shows in them. */
#define PACKED_SAMPLES 16

/* y [rows, out] = b + x [rows, in] Wᵀ (b NULL: y += x Wᵀ) with W a parameter
 * packed once per build (weft_build_memo), for every step's product of
 * per-step shape: the same reasoning as packed_dx below. The tiles start as
 * the bias right before the micro-kernel runs on them, instead of a pass
 * writing the bias into every row first: the same numbers. False when it
 * does not apply. */
static bool packed_forward(weft_graph *g, const weft_var *Wv, int rows, const float *x,
                           const float *bias, float *y)
{
    int out = Wv->value.shape[0], in = Wv->value.shape[1];
    if (Wv->kind != WEFT_NODE_PARAM || rows > 512 || !packed_worth(rows, out, in)) return false;
    size_t floats = packed_floats(in, out);
    bool fresh, unused;
    float *packed = weft_build_memo(g, Wv, 0, (floats + PACKED_SAMPLES) * sizeof(float), &fresh);
    float *apack = weft_build_memo(g, Wv, 1, packed_a_floats(rows, in) * sizeof(float), &unused);
    if (!packed || !apack) return false;
    const float *W = Wv->value.data;
    float *sample = packed + floats;
    size_t n = Wv->value.size;
    for (int s = 0; s < PACKED_SAMPLES && !fresh; s++)
        fresh = memcmp(&sample[s], &W[(n - 1) * (size_t)s / (PACKED_SAMPLES - 1)], sizeof(float)) != 0;
    packed_matrix P = packed_matrix_at(packed, in, out);
    if (fresh) {
        packed_pack(&P, W, true, in, out);
        for (int s = 0; s < PACKED_SAMPLES; s++)
            sample[s] = W[(n - 1) * (size_t)s / (PACKED_SAMPLES - 1)];
    }
    packed_gemm_ex(rows, x, in, &P, y, out, apack, &(packed_extra){ .bias = bias });
    return true;
}

/* y = x Wᵀ + b. From the constructor (first) W may come packed; a re-run
 * (the gradient check's, after it changed a leaf) takes BLIS's sgemm. */
static void linear_forward(weft_graph *g, weft_var *v, bool first)
{
    const weft_tensor *x = &v->in[0]->value, *W = &v->in[1]->value;
    int rows = weft_tensor_rows(x), in = W->shape[1], out = W->shape[0];
    const float *bias = v->n_in == 3 ? v->in[2]->value.data : NULL;
    float *y = v->value.data;
    if (rows_product_worth(g, rows)) {   /* a step of a forward-only graph */
        for (int r = 0; r < rows; r++) {
            if (bias) memcpy(y + (size_t)r * out, bias, (size_t)out * sizeof *y);
            else memset(y + (size_t)r * out, 0, (size_t)out * sizeof *y);
        }
        weft_rows_times_wt(rows, out, in, x->data, in, W->data, y, out);
        return;
    }
    if (first && packed_worth(rows, out, in)) {
        if (!bias) memset(y, 0, (size_t)rows * out * sizeof(float));
        if (packed_forward(g, v->in[1], rows, x->data, bias, y)) return;
    }
    sgemm_linear_rows(rows, out, in, x->data, W->data, bias, y);
}

void weft_op_linear_forward(weft_graph *g, weft_var *v)
{
    linear_forward(g, v, false);
}

/* dx [rows, in] += dy [rows, out] W [out, in] with W packed once per sweep
 * (src/matmul.h's packed_gemm): W is the same at every step, and BLIS would
 * pack it again for each. Per-step shapes only (up to 512 rows): the
 * micro-kernel loop does not block A, which over thousands of rows leaves the
 * cache. False when it does not apply: the caller runs sgemm. */
static bool packed_dx(weft_graph *g, const weft_var *W, int rows, const float *dy, float *dx)
{
    int out = W->value.shape[0], in = W->value.shape[1];
    if (rows > 512 || !packed_worth(rows, in, out)) return false;
    bool fresh, unused;
    float *packed = weft_sweep_memo(g, W, 0, packed_floats(out, in) * sizeof(float), &fresh);
    float *apack = weft_sweep_memo(g, W, 1, packed_a_floats(rows, out) * sizeof(float), &unused);
    if (!packed || !apack) return false;
    packed_matrix P = packed_matrix_at(packed, out, in);
    if (fresh) packed_pack(&P, W->value.data, false, out, in);
    packed_gemm(rows, dy, out, &P, dx, in, apack);
    return true;
}

/* dW and db of a weight used at every step are T products with the batch as
 * inner dimension; when W and b are leaves the engine takes them
 * (weft_defer_product, weft_defer_colsum) and adds all steps' at the end of
 * the sweep. dy (this node's gradient) and x's value stay as they are until
 * then. */
void weft_op_linear_backward(weft_graph *g, weft_var *v)
{
    weft_var *x = v->in[0], *W = v->in[1];
    int rows = weft_tensor_rows(&x->value), in = W->value.shape[1], out = W->value.shape[0];
    const float *dy = v->grad.data;
    if (weft_wants_grad(x) && !packed_dx(g, W, rows, dy, x->grad.data)) /* dx += dy W */
        sgemm_rowmajor(false, false, rows, in, out, 1.0f, dy, W->value.data, 1.0f, x->grad.data);
    if (weft_wants_grad(W) && !weft_defer_product(g, W, rows, dy, out, x->value.data, in))
        /* dW [out, in] += dyᵀ x */
        sgemm_rowmajor(true, false, out, in, rows, 1.0f, dy, x->value.data, 1.0f, W->grad.data);
    if (v->n_in == 3 && weft_wants_grad(v->in[2]) &&
        !weft_defer_colsum(g, v->in[2], rows, dy, out)) { /* db += the column sums of dy */
        float *db = v->in[2]->grad.data;
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)r * out + o];
    }
}

/* --- bmm: C[i] = op(A[i]) op(B[i]) for each i of the batch ------------------------------
 * The same products as matmul, one per entry of the first dimension; the
 * backward is matmul's, block by block: dA[i] += dC[i] op(B[i])ᵀ (or, A
 * transposed, op(B[i]) dC[i]ᵀ), dB[i] += op(A[i])ᵀ dC[i] (or dC[i]ᵀ op(A[i])). */

/* Attention's products are tiny (one query row times S keys, per sentence) and
 * many (every sentence, every decoder step): below BMM_LOOP_MACS multiply-adds
 * plain loops, since a BLIS call costs more to set up than such a product
 * takes. C = op(A) op(B) + beta C, as sgemm_rowmajor (alpha 1). */
#define BMM_LOOP_MACS 32768

static void bmm_product(bool ta, bool tb, int m, int n, int k, const float *A, const float *B,
                        float beta, float *C)
{
    if ((long)m * n * k >= BMM_LOOP_MACS) {
        sgemm_rowmajor(ta, tb, m, n, k, 1.0f, A, B, beta, C);
        return;
    }
    for (int i = 0; i < m; i++) {
        float *c = C + (size_t)i * n;
        if (tb) {
            /* C[i, j] = Σ_p A(i, p) B[j, p]: a dot product of two rows (B's contiguous) */
            for (int j = 0; j < n; j++) {
                const float *b = B + (size_t)j * k;
                float s = 0.0f;
                if (ta) {
                    for (int p = 0; p < k; p++) s += A[(size_t)p * m + i] * b[p];
                } else {
                    const float *a = A + (size_t)i * k;
                    #pragma omp simd reduction(+ : s)
                    for (int p = 0; p < k; p++) s += a[p] * b[p];
                }
                c[j] = beta == 0.0f ? s : beta * c[j] + s;
            }
            continue;
        }
        /* C[i, :] = beta C[i, :] + Σ_p A(i, p) B[p, :]: rows of B scaled and added,
           contiguous along j (the context Σ_s a_s v_s is one such row) */
        if (beta == 0.0f) memset(c, 0, (size_t)n * sizeof *c);
        else if (beta != 1.0f)
            for (int j = 0; j < n; j++) c[j] *= beta;
        for (int p = 0; p < k; p++) {
            float a = ta ? A[(size_t)p * m + i] : A[(size_t)i * k + p];
            const float *b = B + (size_t)p * n;
            #pragma omp simd
            for (int j = 0; j < n; j++) c[j] += a * b[j];
        }
    }
}

weft_var *weft_bmm(weft_graph *g, weft_var *a, bool trans_a, weft_var *b, bool trans_b)
{
    if (weft_any_null((weft_var *[]){ a, b }, 2)) return NULL;
    char sa[64], sb[64];
    weft_shape_str(&a->value, sa, sizeof sa);
    weft_shape_str(&b->value, sb, sizeof sb);
    if (a->value.rank != 3 || b->value.rank != 3 || a->value.shape[0] != b->value.shape[0])
        return weft_graph_fail(g, "bmm: a %s%s, b %s%s: both must be [B, rows, cols] with the "
                               "same B", sa, trans_a ? "ᵀ" : "", sb, trans_b ? "ᵀ" : "");
    int B = a->value.shape[0];
    int m = trans_a ? a->value.shape[2] : a->value.shape[1];
    int k = trans_a ? a->value.shape[1] : a->value.shape[2];
    int kb = trans_b ? b->value.shape[2] : b->value.shape[1];
    int n = trans_b ? b->value.shape[1] : b->value.shape[2];
    if (k != kb)
        return weft_graph_fail(g, "bmm: a %s%s times b %s%s: inner dimensions %d and %d differ",
                               sa, trans_a ? "ᵀ" : "", sb, trans_b ? "ᵀ" : "", k, kb);
    weft_var *v = weft_node_new(g, &weft_op_bmm, (weft_var *[]){ a, b }, 2, 3,
                                (int[]){ B, m, n });
    if (!v) return NULL;
    *matmul_attrs_of(v) = (matmul_attrs){ .trans_a = trans_a, .trans_b = trans_b, .m = m, .k = k };
    weft_op_bmm_forward(g, v);
    return v;
}

void weft_op_bmm_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const matmul_attrs *at = matmul_attrs_of(v);
    int B = v->value.shape[0], m = at->m, k = at->k, n = v->value.shape[2];
    for (int i = 0; i < B; i++)
        bmm_product(at->trans_a, at->trans_b, m, n, k, v->in[0]->value.data + (size_t)i * m * k,
                    v->in[1]->value.data + (size_t)i * k * n, 0.0f,
                    v->value.data + (size_t)i * m * n);
}

void weft_op_bmm_backward(weft_graph *g, weft_var *v)
{
    (void)g;
    weft_var *a = v->in[0], *b = v->in[1];
    const matmul_attrs *at = matmul_attrs_of(v);
    bool ta = at->trans_a, tb = at->trans_b;
    int B = v->value.shape[0], m = at->m, k = at->k, n = v->value.shape[2];
    for (int i = 0; i < B; i++) {
        const float *dC = v->grad.data + (size_t)i * m * n;
        const float *A = a->value.data + (size_t)i * m * k, *Bm = b->value.data + (size_t)i * k * n;
        if (weft_wants_grad(a)) {
            float *dA = a->grad.data + (size_t)i * m * k;
            if (!ta) bmm_product(false, !tb, m, k, n, dC, Bm, 1.0f, dA);
            else     bmm_product(tb, true, k, m, n, Bm, dC, 1.0f, dA);
        }
        if (weft_wants_grad(b)) {
            float *dB = b->grad.data + (size_t)i * k * n;
            if (!tb) bmm_product(!ta, false, k, n, m, A, dC, 1.0f, dB);
            else     bmm_product(true, ta, n, k, m, dC, A, 1.0f, dB);
        }
    }
}
