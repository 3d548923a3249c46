/* models/vectors/w2v_kernels.h — the per-pair updates of word2vec's three
 * losses (private; included from the repository root). Each takes the input
 * h [D], adds the gradient step for h into e [D] (the caller adds e to the
 * input vectors afterwards) and updates the output rows of syn1 in place:
 * one SGD step of rate alpha on the pair's loss (weft/word2vec.h). */
#ifndef WEFT_W2V_KERNELS_H
#define WEFT_W2V_KERNELS_H

#include "weft/word2vec.h"

#include <math.h>
#include <stdint.h>

static inline float w2v_dot(const float *restrict a, const float *restrict b, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

/* y += a x */
static inline void w2v_axpy(float *restrict y, float a, const float *restrict x, int n)
{
#pragma omp simd
    for (int j = 0; j < n; j++) y[j] += a * x[j];
}

/* word2vec's linear congruential generator (java.util.Random's constants). */
static inline uint64_t w2v_next(uint64_t *r)
{
    *r = *r * 25214903917ULL + 11;
    return *r;
}

/* σ(f) from word2vec's table: index (f + 6) · 83 (EXP_TABLE_SIZE / MAX_EXP / 2
 * in integer arithmetic, as the original computes it). Valid for |f| < 6. */
static inline float w2v_table_sigmoid(const float *table, float f)
{
    return table[(int)((f + WEFT_W2V_MAX_EXP) *
                       (WEFT_W2V_EXP_TABLE / WEFT_W2V_MAX_EXP / 2))];
}

/* Negative sampling: targets[0] is the word (label 1), targets[1..n) the noise
 * words (label 0). L = -log σ(u_0·h) - Σ log σ(-u_k·h); the step on u_k is
 * g h and on h is Σ g u_k with g = alpha (label - σ(u_k·h)). exp_table NULL:
 * exact σ; else the table, with a score past ±MAX_EXP saturating σ to 1 or 0. */
static inline void w2v_ns_update(const float *restrict h, float *restrict e, float *syn1,
                                 const int *targets, int n, int D, float alpha,
                                 const float *exp_table)
{
    for (int d = 0; d < n; d++) {
        float *restrict u = syn1 + (size_t)targets[d] * D;
        float label = d == 0 ? 1.0f : 0.0f;
        float f = w2v_dot(h, u, D), s;
        if (!exp_table) s = 1.0f / (1.0f + expf(-f));
        else if (f > WEFT_W2V_MAX_EXP) s = 1.0f;
        else if (f < -WEFT_W2V_MAX_EXP) s = 0.0f;
        else s = w2v_table_sigmoid(exp_table, f);
        float g = (label - s) * alpha;
        w2v_axpy(e, g, u, D);
        w2v_axpy(u, g, h, D);
    }
}

/* Hierarchical softmax along a word's path: inner nodes point[0..len) with
 * code bits code[]. L = -Σ log σ((1 - 2 code_d) u_d·h); g = alpha (1 - code_d -
 * σ(u_d·h)). With the table, a node whose |score| >= MAX_EXP is skipped, as
 * word2vec.c does. */
static inline void w2v_hs_update(const float *restrict h, float *restrict e, float *syn1,
                                 const int *point, const uint8_t *code, int len, int D,
                                 float alpha, const float *exp_table)
{
    for (int d = 0; d < len; d++) {
        float *restrict u = syn1 + (size_t)point[d] * D;
        float f = w2v_dot(h, u, D), s;
        if (!exp_table) {
            s = 1.0f / (1.0f + expf(-f));
        } else {
            if (f <= -WEFT_W2V_MAX_EXP || f >= WEFT_W2V_MAX_EXP) continue;
            s = w2v_table_sigmoid(exp_table, f);
        }
        float g = (1.0f - (float)code[d] - s) * alpha;
        w2v_axpy(e, g, u, D);
        w2v_axpy(u, g, h, D);
    }
}

/* The full softmax over V output rows: L = -log softmax(U h)_target;
 * g_j = alpha ([j = target] - p_j). scratch holds V floats. */
static inline void w2v_softmax_update(const float *restrict h, float *restrict e, float *syn1,
                                      int V, int target, int D, float alpha, float *scratch)
{
    float mx = -INFINITY;
    for (int j = 0; j < V; j++) {
        scratch[j] = w2v_dot(h, syn1 + (size_t)j * D, D);
        if (scratch[j] > mx) mx = scratch[j];
    }
    double sum = 0;
    for (int j = 0; j < V; j++) {
        scratch[j] = expf(scratch[j] - mx);
        sum += scratch[j];
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < V; j++) {
        float *restrict u = syn1 + (size_t)j * D;
        float g = ((j == target ? 1.0f : 0.0f) - scratch[j] * inv) * alpha;
        w2v_axpy(e, g, u, D);
        w2v_axpy(u, g, h, D);
    }
}

#endif
