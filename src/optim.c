/* src/optim.c — initialisation, optimizers and gradient clipping (weft/optim.h).
 *
 * The optimizers are one elementwise loop over the store's span (padding
 * included: its values, gradients and state are zero and stay zero), in the
 * order of operations of torch.optim's single-tensor implementations. Each
 * loop is a kernel on a range built for every vector width
 * (WEFT_SIMD_CLONES, src/vec.h), the threads taking equal slices of the
 * span: a build for any x86-64 still updates with the CPU's widest vectors. */
#include "weft/optim.h"
#include "src/internal.h"
#include "src/vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- initialisation -------------------------------------------------------- */

void weft_init_uniform(weft_param *p, weft_rng *r, float k)
{
    weft_rng_fill_uniform(r, &p->value, -k, k);
}

void weft_init_constant(weft_param *p, float value)
{
    weft_tensor_fill(&p->value, value);
}

int weft_init_xavier_uniform(weft_param *p, weft_rng *r, float gain, char *err, size_t errsize)
{
    const weft_tensor *w = &p->value;
    if (w->rank < 2) {
        char buf[64];
        if (err && errsize)
            snprintf(err, errsize, "init xavier_uniform: '%s' has shape %s; it needs rank >= 2 "
                                   "([fan_out, fan_in, ...])",
                     p->name, weft_shape_str(w, buf, sizeof buf));
        return -1;
    }
    double receptive = (double)w->size / ((double)w->shape[0] * w->shape[1]);
    double fan_out = w->shape[0] * receptive, fan_in = w->shape[1] * receptive;
    float a = (float)(gain * sqrt(6.0 / (fan_in + fan_out)));
    weft_rng_fill_uniform(r, &p->value, -a, a);
    return 0;
}

/* Orthonormalise the n columns of the m x n column-major matrix a (m >= n)
 * in place by modified Gram-Schmidt, run twice per column so that the result
 * is orthogonal to double precision ("twice is enough", Giraud et al. 2005).
 * A column that vanishes (probability zero) is redrawn. The norms taken are
 * the diagonal of R, positive, which is the sign convention of
 * torch.nn.init.orthogonal_ (Q multiplied by sign(diag R)). */
static void gram_schmidt(double *a, int m, int n, weft_rng *r)
{
    for (int j = 0; j < n; j++) {
        double *v = a + (size_t)j * m;
        for (;;) {
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < j; k++) {
                    const double *q = a + (size_t)k * m;
                    double dot = 0.0;
                    for (int i = 0; i < m; i++) dot += q[i] * v[i];
                    for (int i = 0; i < m; i++) v[i] -= dot * q[i];
                }
            double norm = 0.0;
            for (int i = 0; i < m; i++) norm += v[i] * v[i];
            norm = sqrt(norm);
            if (norm > 1e-8) {
                for (int i = 0; i < m; i++) v[i] /= norm;
                break;
            }
            for (int i = 0; i < m; i++) v[i] = weft_rng_normal(r);
        }
    }
}

int weft_init_orthogonal(weft_param *p, weft_rng *r, int blocks, float gain, char *err,
                         size_t errsize)
{
    weft_tensor *w = &p->value;
    int rows = w->shape[0];
    int cols = (int)(w->size / (size_t)rows);
    if (blocks < 1 || rows % blocks != 0) {
        if (err && errsize)
            snprintf(err, errsize, "init orthogonal: '%s' has %d rows, not a multiple of %d blocks",
                     p->name, rows, blocks);
        return -1;
    }
    int block_rows = rows / blocks;
    /* factor the tall orientation: m >= n */
    int m = block_rows >= cols ? block_rows : cols;
    int n = block_rows >= cols ? cols : block_rows;
    double *a = malloc((size_t)m * n * sizeof *a);
    if (!a) {
        if (err && errsize)
            snprintf(err, errsize, "init orthogonal: out of memory for '%s'", p->name);
        return -1;
    }
    for (int b = 0; b < blocks; b++) {
        float *out = w->data + (size_t)b * block_rows * cols;
        for (size_t i = 0; i < (size_t)m * n; i++) a[i] = weft_rng_normal(r);
        gram_schmidt(a, m, n, r);
        /* a is column-major m x n, that is Q with orthonormal columns; the block
           is Q itself (block_rows >= cols) or Qᵀ (orthonormal rows) */
        for (int i = 0; i < block_rows; i++)
            for (int j = 0; j < cols; j++) {
                double q = block_rows >= cols ? a[(size_t)j * m + i] : a[(size_t)i * m + j];
                out[(size_t)i * cols + j] = (float)(gain * q);
            }
    }
    free(a);
    return 0;
}

/* --- optimizers ------------------------------------------------------------ */

weft_optim weft_optim_sgd(double lr)
{
    return (weft_optim){ .kind = WEFT_SGD, .lr = lr };
}

weft_optim weft_optim_sgd_momentum(double lr, double momentum)
{
    return (weft_optim){ .kind = WEFT_SGD, .lr = lr, .momentum = momentum };
}

weft_optim weft_optim_adam(double lr)
{
    return (weft_optim){ .kind = WEFT_ADAM, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
}

weft_optim weft_optim_adamw(double lr, double weight_decay)
{
    return (weft_optim){ .kind = WEFT_ADAMW, .lr = lr, .weight_decay = weight_decay,
                         .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
}

void weft_sgd_step(weft_params *s, float lr)
{
    float *w = weft_params_values(s);
    const float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
    {
        size_t i0, i1;
        weft_vec_share(n, &i0, &i1);
        if (i1 > i0) weft_vec_acc(w + i0, g + i0, -lr, i1 - i0);   /* w + (-lr) g = w - lr g */
    }
}

/* The parts of a store's span that the norm and the update visit when the
 * gradient is known to be zero elsewhere (weft_grad_rows): ascending,
 * disjoint pieces [begin, end) of floats, each inside one block of
 * NORM_BLOCK floats, each begin a multiple of LANES. Block b's pieces are
 * first[b] .. first[b + 1] - 1. */
#define NORM_BLOCK 8192
#define LANES 16

typedef struct span_pieces {
    size_t (*r)[2];
    int n;
    int *first;
    size_t nblocks;
} span_pieces;

/* torch.optim.SGD:  d = g + wd p
 *                   b = d (first step), b = mu b + (1 - dampening) d (later)
 *                   d = d + mu b (Nesterov) or d = b
 *                   p = p - lr d
 * with g the gradient times gscale (the clip's factor; 1 leaves g as it is,
 * bit for bit). Plain SGD without weight decay visits only the pieces `live`
 * (NULL: the whole span): where g = 0 it would leave p as it is. */
WEFT_SIMD_CLONES
static void sgd_plain_range(float *w, const float *g, size_t begin, size_t end, float lr,
                            float wd, float gscale)
{
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float d = g[i] * gscale + wd * w[i];
        w[i] -= lr * d;
    }
}

WEFT_SIMD_CLONES
static void sgd_momentum_range(float *w, const float *g, float *buf, size_t begin, size_t end,
                               float lr, float wd, float gscale, float mu, float keep, bool first,
                               bool nesterov)
{
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float d = g[i] * gscale + wd * w[i];
        float b = first ? d : mu * buf[i] + keep * d;
        buf[i] = b;
        d = nesterov ? d + mu * b : b;
        w[i] -= lr * d;
    }
}

static int sgd_step(weft_optim *o, weft_params *s, float gscale, const span_pieces *live)
{
    float *w = weft_params_values(s);
    const float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    const float lr = (float)o->lr, wd = (float)o->weight_decay, mu = (float)o->momentum;
    const float keep = (float)(1.0 - o->dampening);
    if (o->momentum == 0.0) {
        if (live && o->weight_decay == 0.0) {
            #pragma omp parallel for schedule(dynamic, 8) if (n > WEFT_PARALLEL_MIN)
            for (int k = 0; k < live->n; k++)
                sgd_plain_range(w, g, live->r[k][0], live->r[k][1], lr, wd, gscale);
            return 0;
        }
        #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
        {
            size_t i0, i1;
            weft_vec_share(n, &i0, &i1);
            sgd_plain_range(w, g, i0, i1, lr, wd, gscale);
        }
        return 0;
    }
    float *buf = weft_params_state(s, 0);
    if (!buf) return -1;
    const bool first = o->step == 0, nesterov = o->nesterov;
    #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
    {
        size_t i0, i1;
        weft_vec_share(n, &i0, &i1);
        sgd_momentum_range(w, g, buf, i0, i1, lr, wd, gscale, mu, keep, first, nesterov);
    }
    return 0;
}

/* torch.optim.Adam / AdamW, step t = 1, 2, ...:
 *   AdamW: p = p (1 - lr wd)          Adam: g = g + wd p
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g²
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * with g the gradient times gscale, as for SGD. */
typedef struct adam_consts {
    float shrink, l2, b1, one_b1, b2, one_b2, step_size, bc2_sqrt, eps, gscale;
} adam_consts;

WEFT_SIMD_CLONES
static void adam_range(float *w, const float *g, float *m, float *v, size_t begin, size_t end,
                       const adam_consts *c)
{
    const float shrink = c->shrink, l2 = c->l2, b1 = c->b1, one_b1 = c->one_b1, b2 = c->b2;
    const float one_b2 = c->one_b2, step_size = c->step_size, bc2_sqrt = c->bc2_sqrt;
    const float eps = c->eps, gscale = c->gscale;
    #pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float p = w[i] * shrink;
        float gi = g[i] * gscale + l2 * p;
        float mi = b1 * m[i] + one_b1 * gi;
        float vi = b2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        w[i] = p - step_size * (mi / denom);
    }
}

static int adam_step(weft_optim *o, weft_params *s, float gscale)
{
    float *w = weft_params_values(s);
    const float *g = weft_params_grads(s);
    float *m = weft_params_state(s, 0);
    float *v = m ? weft_params_state(s, 1) : NULL;
    if (!m || !v) return -1;
    size_t n = weft_params_span(s);
    double t = (double)(o->step + 1);
    const bool decoupled = o->kind == WEFT_ADAMW;
    const float shrink = decoupled ? (float)(1.0 - o->lr * o->weight_decay) : 1.0f;
    const float l2 = decoupled ? 0.0f : (float)o->weight_decay;
    const float b1 = (float)o->beta1, one_b1 = (float)(1.0 - o->beta1);
    const float b2 = (float)o->beta2, one_b2 = (float)(1.0 - o->beta2);
    const float step_size = (float)(o->lr / (1.0 - pow(o->beta1, t)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(o->beta2, t));
    const float eps = (float)o->eps;
    const adam_consts c = { shrink, l2, b1, one_b1, b2, one_b2, step_size, bc2_sqrt, eps, gscale };
    #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
    {
        size_t i0, i1;
        weft_vec_share(n, &i0, &i1);
        adam_range(w, g, m, v, i0, i1, &c);
    }
    return 0;
}

static int optim_step(weft_optim *o, weft_params *s, float gscale, const span_pieces *live)
{
    int rc = o->kind == WEFT_SGD ? sgd_step(o, s, gscale, live) : adam_step(o, s, gscale);
    if (rc == 0) o->step++;
    return rc;
}

int weft_optim_step(weft_optim *o, weft_params *s)
{
    return optim_step(o, s, 1.0f, NULL);
}

double weft_lr_step_decay(double lr0, double factor, int decay_start, int epoch)
{
    int k = epoch - decay_start + 1;
    return k > 0 ? lr0 * pow(factor, k) : lr0;
}

/* --- gradient clipping ------------------------------------------------------ */

/* The sum of squares runs over fixed blocks of NORM_BLOCK floats, summed in
 * parallel, then the blocks' sums added in block order. Within a block, LANES
 * partial sums in double: lane j takes the floats whose index in the span is
 * j modulo LANES, in order; then the lanes are added in lane order. Every
 * float has its place in that order whatever the number of threads or the
 * vector width, and a float that is skipped because it is zero would only
 * have added 0 to its lane: the norm over a store's live pieces
 * (weft_grad_norm_rows) has the bits of the norm over the whole span. */

/* acc[j] += g[i]² for i in [begin, end), i ≡ j (mod LANES); begin is a
 * multiple of LANES. */
WEFT_SIMD_CLONES
static void sumsq_lanes(const float *g, size_t begin, size_t end, double *acc)
{
    double a[LANES];
    memcpy(a, acc, sizeof a);
    size_t i = begin;
    for (; i + LANES <= end; i += LANES) {
        #pragma omp simd
        for (int j = 0; j < LANES; j++) a[j] += (double)g[i + j] * g[i + j];
    }
    for (int j = 0; i + j < end; j++) a[j] += (double)g[i + j] * g[i + j];
    memcpy(acc, a, sizeof a);
}

static double lanes_total(const double *acc)
{
    double sum = 0.0;
    for (int j = 0; j < LANES; j++) sum += acc[j];
    return sum;
}

/* The sum of squares of block b: of the whole span [0, n) (live == NULL) or
 * of live's pieces in it. */
static double block_sumsq(const float *g, size_t n, const span_pieces *live, size_t b)
{
    double acc[LANES] = { 0 };
    if (!live) {
        size_t begin = b * NORM_BLOCK, end = begin + NORM_BLOCK < n ? begin + NORM_BLOCK : n;
        sumsq_lanes(g, begin, end, acc);
    } else {
        for (int k = live->first[b]; k < live->first[b + 1]; k++)
            sumsq_lanes(g, live->r[k][0], live->r[k][1], acc);
    }
    return lanes_total(acc);
}

/* sqrt of the sum of the blocks' sums of squares, the blocks in parallel,
 * their sums added in block order. */
static float norm_over(const float *g, size_t n, const span_pieces *live)
{
    size_t nblocks = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    double *part = malloc(nblocks * sizeof *part);
    double sum = 0.0;
    if (!part) {                 /* the same order on one thread */
        for (size_t b = 0; b < nblocks; b++) sum += block_sumsq(g, n, live, b);
        return (float)sqrt(sum);
    }
    /* dynamic: with live pieces, blocks cost from nothing to a full block */
    #pragma omp parallel for schedule(dynamic, 16) if (n > WEFT_PARALLEL_MIN)
    for (size_t b = 0; b < nblocks; b++) part[b] = block_sumsq(g, n, live, b);
    for (size_t b = 0; b < nblocks; b++) sum += part[b];
    free(part);
    return (float)sqrt(sum);
}

float weft_grad_norm(weft_params *s)
{
    const float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    if (!g || n == 0) return 0.0f;
    return norm_over(g, n, NULL);
}

float weft_clip_grad_norm(weft_params *s, float max_norm)
{
    float norm = weft_grad_norm(s);
    if (!isfinite(norm) || norm <= max_norm) return norm;
    float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    const float scale = (float)((double)max_norm / norm);
    #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
    {
        size_t i0, i1;
        weft_vec_share(n, &i0, &i1);
        if (i1 > i0) weft_vec_mul_s(g + i0, g + i0, scale, i1 - i0);
    }
    return norm;
}

/* --- the norm, the clip and the step in two passes ----------------------------- */

static void pieces_free(span_pieces *p)
{
    free(p->r);
    free(p->first);
}

/* Add [begin, end) to p, split at block boundaries, merged with the last
 * piece when they overlap or touch inside one block. */
static void pieces_add(span_pieces *p, size_t begin, size_t end)
{
    if (p->n > 0 && begin < p->r[p->n - 1][1]) begin = p->r[p->n - 1][1];   /* overlap */
    while (begin < end) {
        size_t block_end = (begin / NORM_BLOCK + 1) * NORM_BLOCK;
        size_t stop = end < block_end ? end : block_end;
        if (p->n > 0 && p->r[p->n - 1][1] == begin && (begin % NORM_BLOCK) != 0) {
            p->r[p->n - 1][1] = stop;                    /* touches, same block */
        } else {
            p->r[p->n][0] = begin;
            p->r[p->n][1] = stop;
            p->n++;
        }
        begin = stop;
    }
}

/* The live pieces of store s under rows: the whole span but the rows of
 * rows->param not listed, each listed row widened to whole LANES-float
 * groups (what it takes in besides is padding or a neighbouring row, zero
 * unless listed, and merged so that nothing is visited twice). 0, or -1
 * when out of memory or the rows are not ascending and in range (the caller
 * then takes the whole span). */
static int pieces_of(weft_params *s, const weft_grad_rows *rows, span_pieces *p)
{
    *p = (span_pieces){ 0 };
    const weft_param *q = rows->param;
    size_t n = weft_params_span(s);
    int R = q->value.shape[0];
    size_t width = q->value.size / (size_t)R;
    for (int k = 0; k < rows->n_rows; k++)
        if (rows->rows[k] < 0 || rows->rows[k] >= R || (k > 0 && rows->rows[k] <= rows->rows[k - 1]))
            return -1;
    p->nblocks = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    /* at most: one piece per block, plus one per row and its block split */
    size_t cap = p->nblocks + 2 * (size_t)rows->n_rows + 2;
    p->r = malloc(cap * sizeof *p->r);
    p->first = malloc((p->nblocks + 1) * sizeof *p->first);
    if (!p->r || !p->first) {
        pieces_free(p);
        return -1;
    }
    size_t off = q->offset, stop = off + q->value.size;
    size_t up = (stop + LANES - 1) / LANES * LANES;
    up = up < n ? up : n;
    pieces_add(p, 0, off);
    for (int k = 0; k < rows->n_rows; k++) {
        size_t a = off + (size_t)rows->rows[k] * width, b = a + width;
        a = a / LANES * LANES;
        b = (b + LANES - 1) / LANES * LANES;
        pieces_add(p, a, b < up ? b : up);
    }
    pieces_add(p, up, n);
    /* first[b]: the first piece at or after block b */
    int k = 0;
    for (size_t b = 0; b <= p->nblocks; b++) {
        while (k < p->n && p->r[k][0] < b * NORM_BLOCK) k++;
        p->first[b] = k;
    }
    return 0;
}

float weft_grad_norm_rows(weft_params *s, const weft_grad_rows *rows)
{
    const float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    if (!g || n == 0) return 0.0f;
    span_pieces live;
    if (!rows || pieces_of(s, rows, &live)) return norm_over(g, n, NULL);
    float norm = norm_over(g, n, &live);
    pieces_free(&live);
    return norm;
}

int weft_clip_step(weft_optim *o, weft_params *s, float norm, float max_norm,
                   const weft_grad_rows *rows)
{
    float scale = 1.0f;
    if (max_norm > 0.0f && isfinite(norm) && norm > max_norm)
        scale = (float)((double)max_norm / norm);
    span_pieces live;
    bool sparse = rows && o->kind == WEFT_SGD && o->momentum == 0.0 && o->weight_decay == 0.0 &&
                  pieces_of(s, rows, &live) == 0;
    int rc = optim_step(o, s, scale, sparse ? &live : NULL);
    if (sparse) pieces_free(&live);
    return rc;
}

void weft_clip_grad_value(weft_params *s, float max_value)
{
    float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        if (g[i] > max_value) g[i] = max_value;
        else if (g[i] < -max_value) g[i] = -max_value;
    }
}
