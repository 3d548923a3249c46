/* models/seq2seq/attention.c — dot, general and additive attention over a
 * ragged batch (weft/attention.h), composed from public ops. */
#include "weft/attention.h"

#include "weft/ops.h"

#include "src/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const score_names[] = { "none", "dot", "general", "additive" };

int weft_attn_score_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, score_names[i]) == 0) return i;
    return -1;
}

const char *weft_attn_score_name(weft_attn_score s)
{
    return (unsigned)s < 4 ? score_names[s] : "?";
}

static weft_param *add_param(weft_params *s, const char *prefix, const char *base, int rows,
                             int cols, char *err, size_t errsize)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", base);
    weft_param *p = weft_params_add(s, name, 2, (int[]){ rows, cols });
    if (!p) weft_say(err, errsize, "attention: %s", weft_params_error(s));
    return p;
}

int weft_attention_init(weft_attention *a, weft_attn_score score, int query_size, int value_size,
                        int hidden, weft_params *s, const char *prefix, char *err,
                        size_t errsize)
{
    *a = (weft_attention){ .score = score, .query_size = query_size, .value_size = value_size,
                           .hidden = hidden };
    if (query_size < 1 || value_size < 1 || (score == WEFT_ATTN_ADDITIVE && hidden < 1)) {
        weft_say(err, errsize, "attention: sizes must be >= 1 (query %d, value %d, hidden %d)",
                 query_size, value_size, hidden);
        return -1;
    }
    switch (score) {
    case WEFT_ATTN_NONE:
        return 0;
    case WEFT_ATTN_DOT:
        if (query_size != value_size) {
            weft_say(err, errsize, "attention: dot scores need the query's width (%d) to be the "
                     "values' (%d); use general or additive", query_size, value_size);
            return -1;
        }
        return 0;
    case WEFT_ATTN_GENERAL:
        a->W = add_param(s, prefix, "W", query_size, value_size, err, errsize);
        return a->W ? 0 : -1;
    case WEFT_ATTN_ADDITIVE:
        a->W = add_param(s, prefix, "W", hidden, value_size, err, errsize);
        a->U = a->W ? add_param(s, prefix, "U", hidden, query_size, err, errsize) : NULL;
        a->w = a->U ? add_param(s, prefix, "w", 1, hidden, err, errsize) : NULL;
        return a->w ? 0 : -1;
    }
    weft_say(err, errsize, "attention: unknown score %d", (int)score);
    return -1;
}

static void init_uniform(weft_param *p, weft_rng *rng)
{
    if (!p) return;
    float r = 1.0f / sqrtf((float)p->value.shape[1]);
    weft_rng_fill_uniform(rng, &p->value, -r, r);
}

void weft_attention_reset_parameters(weft_attention *a, weft_rng *rng)
{
    init_uniform(a->W, rng);
    init_uniform(a->U, rng);
    init_uniform(a->w, rng);
}

int weft_attention_memory_new(weft_graph *g, const weft_attention *a, weft_var *values,
                              const int *lengths, weft_attention_memory *m)
{
    *m = (weft_attention_memory){ 0 };
    if (!values) return -1;
    if (values->value.rank != 3 || values->value.shape[2] != a->value_size) {
        char s[64];
        weft_graph_fail(g, "attention: values %s must be [B, S, %d]",
                        weft_shape_str(&values->value, s, sizeof s), a->value_size);
        return -1;
    }
    int B = values->value.shape[0], S = values->value.shape[1];
    m->values = values;
    m->B = B;
    m->S = S;
    m->lengths = weft_graph_alloc(g, (size_t)B * sizeof(int));
    if (!m->lengths) return -1;
    for (int b = 0; b < B; b++) {
        m->lengths[b] = lengths ? lengths[b] : S;
        if (m->lengths[b] < 1 || m->lengths[b] > S) {
            weft_graph_fail(g, "attention: length %d of sentence %d is not in [1, %d]",
                            m->lengths[b], b, S);
            return -1;
        }
    }
    switch (a->score) {
    case WEFT_ATTN_DOT:
        m->keys = values;
        break;
    case WEFT_ATTN_GENERAL:
    case WEFT_ATTN_ADDITIVE:   /* W v (general: [B, S, Q]; additive: U_k v, [B, S, A]) */
        m->keys = weft_linear(g, values, weft_param_var(g, a->W), NULL);
        break;
    default:
        weft_graph_fail(g, "attention: no score to compute (attention 'none')");
        return -1;
    }
    return m->keys ? 0 : -1;
}

int weft_attention_step(weft_graph *g, const weft_attention *a, const weft_attention_memory *m,
                        weft_var *query, weft_var **context, weft_var **weights)
{
    *context = NULL;
    if (weights) *weights = NULL;
    if (!query || !m->keys) return -1;
    int B = m->B, S = m->S;
    if (query->value.rank != 2 || query->value.shape[0] != B ||
        query->value.shape[1] != a->query_size) {
        char s[64];
        weft_graph_fail(g, "attention: query %s must be [%d, %d]",
                        weft_shape_str(&query->value, s, sizeof s), B, a->query_size);
        return -1;
    }
    weft_var *scores;   /* [B, 1, S] */
    if (a->score == WEFT_ATTN_ADDITIVE) {
        /* w · tanh(U_k v_s + U_q q) for every s: the query's part broadcast over S */
        weft_var *uq = weft_linear(g, query, weft_param_var(g, a->U), NULL);
        weft_var *e = weft_tanh(g, weft_add(g, m->keys, weft_expand(g, uq, S)));
        scores = weft_reshape(g, weft_linear(g, e, weft_param_var(g, a->w), NULL), 3,
                              (int[]){ B, 1, S });
    } else {
        /* q · k_s for every s: [B, 1, Q] times [B, S, Q]ᵀ */
        weft_var *q = weft_reshape(g, query, 3, (int[]){ B, 1, a->query_size });
        scores = weft_bmm(g, q, false, m->keys, true);
    }
    weft_var *p = weft_masked_softmax(g, scores, m->lengths);
    weft_var *c = weft_bmm(g, p, false, m->values, false);   /* [B, 1, K] */
    *context = weft_reshape(g, c, 2, (int[]){ B, a->value_size });
    if (weights) *weights = weft_reshape(g, p, 2, (int[]){ B, S });
    return *context && (!weights || *weights) ? 0 : -1;
}
