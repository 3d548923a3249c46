/* src/optim.c — initialisation, optimizers and gradient clipping (weft/optim.h).
 *
 * The optimizers are one elementwise loop over the store's span (padding
 * included: its values, gradients and state are zero and stay zero), in the
 * order of operations of torch.optim's single-tensor implementations. */
#include "weft/optim.h"
#include "internal.h"

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
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) w[i] -= lr * g[i];
}

/* torch.optim.SGD:  d = g + wd p
 *                   b = d (first step), b = mu b + (1 - dampening) d (later)
 *                   d = d + mu b (Nesterov) or d = b
 *                   p = p - lr d */
static int sgd_step(weft_optim *o, weft_params *s)
{
    float *w = weft_params_values(s);
    const float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    const float lr = (float)o->lr, wd = (float)o->weight_decay, mu = (float)o->momentum;
    const float keep = (float)(1.0 - o->dampening);
    if (o->momentum == 0.0) {
        #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) {
            float d = g[i] + wd * w[i];
            w[i] -= lr * d;
        }
        return 0;
    }
    float *buf = weft_params_state(s, 0);
    if (!buf) return -1;
    const bool first = o->step == 0, nesterov = o->nesterov;
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float b = first ? d : mu * buf[i] + keep * d;
        buf[i] = b;
        d = nesterov ? d + mu * b : b;
        w[i] -= lr * d;
    }
    return 0;
}

/* torch.optim.Adam / AdamW, step t = 1, 2, ...:
 *   AdamW: p = p (1 - lr wd)          Adam: g = g + wd p
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g²
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)   */
static int adam_step(weft_optim *o, weft_params *s)
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
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float p = w[i] * shrink;
        float gi = g[i] + l2 * p;
        float mi = b1 * m[i] + one_b1 * gi;
        float vi = b2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        w[i] = p - step_size * (mi / denom);
    }
    return 0;
}

int weft_optim_step(weft_optim *o, weft_params *s)
{
    int rc = o->kind == WEFT_SGD ? sgd_step(o, s) : adam_step(o, s);
    if (rc == 0) o->step++;
    return rc;
}

double weft_lr_step_decay(double lr0, double factor, int decay_start, int epoch)
{
    int k = epoch - decay_start + 1;
    return k > 0 ? lr0 * pow(factor, k) : lr0;
}

/* --- gradient clipping ------------------------------------------------------ */

/* Fixed blocks summed in parallel, then the partial sums added in block
 * order: the same result for any number of threads. */
#define NORM_BLOCK 8192

/* Sum of squares of block b of g[0..n), in double. The vector lanes keep
 * partial sums in an order fixed at build time, so it is the same on any
 * number of threads. */
static double block_sumsq(const float *g, size_t n, size_t b)
{
    size_t begin = b * NORM_BLOCK, end = begin + NORM_BLOCK < n ? begin + NORM_BLOCK : n;
    double acc = 0.0;
    #pragma omp simd reduction(+ : acc)
    for (size_t i = begin; i < end; i++) acc += (double)g[i] * g[i];
    return acc;
}

float weft_grad_norm(weft_params *s)
{
    const float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    if (!g || n == 0) return 0.0f;
    size_t nblocks = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    double *part = malloc(nblocks * sizeof *part);
    double sum = 0.0;
    if (!part) {                 /* the same order on one thread */
        for (size_t b = 0; b < nblocks; b++) sum += block_sumsq(g, n, b);
        return (float)sqrt(sum);
    }
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (size_t b = 0; b < nblocks; b++) part[b] = block_sumsq(g, n, b);
    for (size_t b = 0; b < nblocks; b++) sum += part[b];
    free(part);
    return (float)sqrt(sum);
}

float weft_clip_grad_norm(weft_params *s, float max_norm)
{
    float norm = weft_grad_norm(s);
    if (!isfinite(norm) || norm <= max_norm) return norm;
    float *g = weft_params_grads(s);
    size_t n = weft_params_span(s);
    const float scale = (float)((double)max_norm / norm);
    #pragma omp parallel for if (n > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) g[i] *= scale;
    return norm;
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
