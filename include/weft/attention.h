/* weft/attention.h — attention over a ragged batch of encoder states.
 *
 * A building block any model (or a user's cell) can use: given the states of
 * B source sentences, values [B, S, K] (sentence b real for its first
 * lengths[b] positions, padding after), and one query per sentence q [B, Q]
 * (a decoder's hidden state), the weights and the context are
 *
 *     a_b = softmax over s < lengths[b] of score(q_b, v_bs)     (zero past the end)
 *     c_b = Σ_s a_bs v_bs
 *
 * with one of three scores (Luong et al. 2015, Bahdanau et al. 2015):
 *
 *     dot       q · v                    (Q = K)
 *     general   q · (W v),  W [Q, K]     (Luong's bilinear form)
 *     additive  w · tanh(U_k v + U_q q), U_k [A, K], U_q [A, Q], w [1, A]
 *
 * The parts of a score that depend on the values alone (W v, U_k v) are made
 * once per batch (weft_attention_memory) and reused at every decoder step.
 * Everything is composed from public ops (bmm, masked_softmax, expand, linear,
 * tanh), so the gradient flows to the query, the values and the weights, and
 * padding gets exactly zero weight and zero gradient: a padded batch gives the
 * numbers each sentence gives alone.
 */
#ifndef WEFT_ATTENTION_H
#define WEFT_ATTENTION_H

#include "weft/graph.h"
#include "weft/params.h"
#include "weft/rng.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_attn_score {
    WEFT_ATTN_NONE = 0,     /* no attention (for models that may go without) */
    WEFT_ATTN_DOT,
    WEFT_ATTN_GENERAL,
    WEFT_ATTN_ADDITIVE,
} weft_attn_score;

/* "none", "dot", "general", "additive" <-> the enum; -1 for an unknown name. */
int weft_attn_score_parse(const char *name);
const char *weft_attn_score_name(weft_attn_score s);

/* An attention's sizes and parameters (borrowed from the store). Plain data. */
typedef struct weft_attention {
    weft_attn_score score;
    int query_size, value_size, hidden;   /* Q, K, A (A: additive only) */
    weft_param *W;                        /* general: [Q, K]; additive: U_k [A, K] */
    weft_param *U;                        /* additive: U_q [A, Q] */
    weft_param *w;                        /* additive: [1, A] */
} weft_attention;

/* Bind an attention of that score and sizes, adding its parameters to store
 * s as prefix + "W", "U", "w" (zero; weft_attention_reset_parameters). hidden
 * is used by additive only. 0, or -1 with a message (dot with Q != K, a
 * size < 1, a name already in the store). */
int weft_attention_init(weft_attention *a, weft_attn_score score, int query_size, int value_size,
                        int hidden, weft_params *s, const char *prefix, char *err,
                        size_t errsize);
/* Uniform in [-1/sqrt(in), 1/sqrt(in)) for each matrix of input width in. */
void weft_attention_reset_parameters(weft_attention *a, weft_rng *rng);

/* The encoder side of one batch, made once and read at every step. Its
 * arrays live in the graph's arena. */
typedef struct weft_attention_memory {
    weft_var *values;       /* [B, S, K] */
    weft_var *keys;         /* dot: values; general: values Wᵀ [B, S, Q]; additive: [B, S, A] */
    int *lengths;           /* B, each in [1, S] */
    int B, S;
} weft_attention_memory;

/* Prepare values [B, S, K] with lengths (B of them, copied; NULL: all S). 0,
 * or -1 with the graph's error set. */
int weft_attention_memory_new(weft_graph *g, const weft_attention *a, weft_var *values,
                              const int *lengths, weft_attention_memory *m);

/* One query q [B, Q]: *context [B, K] and *weights [B, S] (zero past each
 * sentence's end); weights may be NULL. 0, or -1 with the graph's error set. */
int weft_attention_step(weft_graph *g, const weft_attention *a, const weft_attention_memory *m,
                        weft_var *query, weft_var **context, weft_var **weights);

#ifdef __cplusplus
}
#endif

#endif
