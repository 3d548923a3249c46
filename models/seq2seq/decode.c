/* models/seq2seq/decode.c — greedy decoding and beam search (weft/seq2seq.h),
 * forward only, in batches of sentences; and the corpus loss. */
#include "models/seq2seq/seq2seq_internal.h"

#include "src/internal.h"
#include "weft/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void weft_s2s_nbest_free(weft_s2s_nbest *l)
{
    for (int i = 0; i < l->n; i++) free(l->hyps[i].tokens);
    free(l->hyps);
    *l = (weft_s2s_nbest){ 0 };
}

static int max_len_of(int src_len, int max_len)
{
    return max_len > 0 ? max_len : 2 * src_len + 10;
}

/* One hypothesis into a list of at most cap, sorted by score (best first). */
static int nbest_add(weft_s2s_nbest *l, int cap, const int *tokens, int len, double logprob,
                     double score)
{
    if (l->n == cap && l->hyps[cap - 1].score >= score) return 0;
    if (!l->hyps && !(l->hyps = calloc((size_t)cap, sizeof *l->hyps))) return -1;
    int *copy = malloc((size_t)(len ? len : 1) * sizeof(int));
    if (!copy) return -1;
    memcpy(copy, tokens, (size_t)len * sizeof(int));
    if (l->n == cap) free(l->hyps[--l->n].tokens);
    int at = l->n;
    while (at > 0 && l->hyps[at - 1].score < score) {
        l->hyps[at] = l->hyps[at - 1];
        at--;
    }
    l->hyps[at] = (weft_s2s_hyp){ copy, len, logprob, score };
    l->n++;
    return 0;
}

int weft_seq2seq_greedy(const weft_seq2seq *m, const int *const *src, const int *src_len, int N,
                        int max_len, weft_s2s_nbest *out, char *err, size_t errsize)
{
    enum { BATCH = 32 };
    for (int i = 0; i < N; i++) out[i] = (weft_s2s_nbest){ 0 };
    weft_graph *g = weft_graph_new();   /* decoding needs no backward: forward-only */
    if (g) weft_graph_set_forward_only(g, true);
    int *prev = malloc(BATCH * sizeof(int)), *tokens = NULL;
    double *lp = malloc(BATCH * sizeof(double));
    int *len = malloc(BATCH * sizeof(int));
    bool *done = malloc(BATCH * sizeof(bool));
    int L = 0, rc = -1;
    for (int i = 0; i < N; i++) L = max_len_of(src_len[i], max_len) > L ? max_len_of(src_len[i], max_len) : L;
    tokens = malloc((size_t)BATCH * L * sizeof(int));
    if (!g || !prev || !lp || !len || !done || !tokens) {
        weft_say(err, errsize, "greedy: out of memory");
        goto fail;
    }
    for (int i0 = 0; i0 < N; i0 += BATCH) {
        int B = N - i0 < BATCH ? N - i0 : BATCH;
        weft_graph_reset(g);
        weft_s2s_decoder d;
        if (weft_seq2seq_begin(g, m, src + i0, src_len + i0, B, &d)) goto graph_fail;
        int left = B;
        for (int b = 0; b < B; b++) prev[b] = WEFT_S2S_BOS, lp[b] = 0, len[b] = 0, done[b] = false;
        for (int t = 0; left > 0; t++) {
            weft_var *logp = weft_seq2seq_step(g, m, &d, prev);
            if (!logp) goto graph_fail;
            int V = logp->value.shape[1];
            for (int b = 0; b < B; b++) {
                if (done[b]) continue;
                const float *row = logp->value.data + (size_t)b * V;
                int best = WEFT_S2S_EOS;
                /* at the last step only </s> may follow */
                if (t + 1 < max_len_of(src_len[i0 + b], max_len))
                    for (int v = 0; v < V; v++)
                        if (v != WEFT_S2S_BOS && row[v] > row[best]) best = v;
                lp[b] += row[best];
                prev[b] = best;
                if (best == WEFT_S2S_EOS) {
                    done[b] = true;
                    left--;
                    if (nbest_add(&out[i0 + b], 1, tokens + (size_t)b * L, len[b], lp[b], lp[b]))
                        goto oom;
                } else {
                    tokens[(size_t)b * L + len[b]++] = best;
                }
            }
        }
    }
    rc = 0;
    goto done_;
graph_fail:
    weft_say(err, errsize, "greedy: %s", weft_graph_error(g));
    goto fail;
oom:
    weft_say(err, errsize, "greedy: out of memory");
fail:
    for (int i = 0; i < N; i++) weft_s2s_nbest_free(&out[i]);
done_:
    weft_graph_free(g);
    free(prev);
    free(lp);
    free(len);
    free(done);
    free(tokens);
    return rc;
}

/* --- beam search ------------------------------------------------------------------------- */

/* A live hypothesis: row (b·K + k) of the batch. */
typedef struct beam {
    int *tokens;        /* [L] */
    int len;
    double logprob;
    bool live;
} beam;

typedef struct cand {
    double logprob;
    int from, token;
} cand;

/* A leaf [rows', ...] whose row r is row from[r] of x (off the tape: decoding
 * needs no gradient). */
static weft_var *gather_rows(weft_graph *g, const weft_var *x, const int *from, int rows)
{
    if (!x) return NULL;
    int shape[WEFT_MAX_RANK];
    memcpy(shape, x->value.shape, sizeof shape);
    size_t row = x->value.size / (size_t)x->value.shape[0];
    shape[0] = rows;
    weft_var *v = weft_input_zeros(g, x->value.rank, shape, "beam", false);
    if (!v) return NULL;
    for (int r = 0; r < rows; r++)
        memcpy(v->value.data + (size_t)r * row, x->value.data + (size_t)from[r] * row,
               row * sizeof(float));
    return v;
}

/* Insert c into the best-first array top of at most cap (*n so far). */
static void top_insert(cand *top, int *n, int cap, cand c)
{
    if (*n == cap && top[cap - 1].logprob >= c.logprob) return;
    int at = *n < cap ? (*n)++ : cap - 1;
    while (at > 0 && top[at - 1].logprob < c.logprob) {
        top[at] = top[at - 1];
        at--;
    }
    top[at] = c;
}

static double norm_score(double logprob, int len_with_eos, float alpha)
{
    return alpha == 0.0f ? logprob : logprob / pow((double)len_with_eos, alpha);
}

static int beam_batch(weft_graph *g, const weft_seq2seq *m, const int *const *src,
                      const int *src_len, int N, const weft_s2s_decode_opts *o, int nbest,
                      weft_s2s_nbest *out, char *err, size_t errsize)
{
    int K = o->beam, rows = N * K, L = 0;
    for (int i = 0; i < N; i++) L = max_len_of(src_len[i], o->max_len) > L ? max_len_of(src_len[i], o->max_len) : L;
    beam *bm = calloc((size_t)rows, sizeof *bm), *nb = calloc((size_t)rows, sizeof *nb);
    int *from = malloc((size_t)rows * sizeof(int)), *prev = malloc((size_t)rows * sizeof(int));
    int *lens = malloc((size_t)rows * sizeof(int));
    cand *top = malloc((size_t)2 * K * sizeof *top);
    bool *done = calloc((size_t)N, sizeof(bool));
    int rc = -1;
    if (!bm || !nb || !from || !prev || !lens || !top || !done) goto oom;
    for (int r = 0; r < rows; r++) {
        bm[r].tokens = malloc((size_t)L * sizeof(int));
        nb[r].tokens = malloc((size_t)L * sizeof(int));
        if (!bm[r].tokens || !nb[r].tokens) goto oom;
        bm[r].live = r % K == 0;   /* one hypothesis (the empty one) to start from */
        prev[r] = WEFT_S2S_BOS;
    }
    weft_s2s_decoder d0, d;
    if (weft_seq2seq_begin(g, m, src, src_len, N, &d0)) goto graph_fail;
    /* every sentence's encoder states and start state copied to its K rows */
    for (int r = 0; r < rows; r++) from[r] = r / K, lens[r] = src_len[r / K];
    d = d0;
    d.B = rows;
    for (int k = 0; k < d.n_states; k++) d.states[k] = gather_rows(g, d0.states[k], from, rows);
    if (d0.feed) d.feed = gather_rows(g, d0.feed, from, rows);
    if (m->cfg.attention != WEFT_ATTN_NONE &&
        weft_attention_memory_new(g, &m->att, gather_rows(g, d0.mem.values, from, rows), lens,
                                  &d.mem))
        goto graph_fail;
    for (int t = 0;; t++) {
        weft_var *logp = weft_seq2seq_step(g, m, &d, prev);
        if (!logp) goto graph_fail;
        int V = logp->value.shape[1];
        bool any = false;
        for (int i = 0; i < N; i++) {
            int Li = max_len_of(src_len[i], o->max_len);
            for (int k = 0; k < K; k++) nb[i * K + k].live = false;
            if (done[i]) continue;
            /* the 2K best extensions of the live hypotheses (only </s> at the last step) */
            int n = 0;
            for (int k = 0; k < K; k++) {
                const beam *h = &bm[i * K + k];
                if (!h->live) continue;
                const float *row = logp->value.data + (size_t)(i * K + k) * V;
                for (int v = 0; v < V; v++) {
                    if (v == WEFT_S2S_BOS || (t + 1 >= Li && v != WEFT_S2S_EOS)) continue;
                    top_insert(top, &n, 2 * K, (cand){ h->logprob + row[v], i * K + k, v });
                }
            }
            int live = 0;
            for (int c = 0; c < n && live < K; c++) {
                const beam *h = &bm[top[c].from];
                if (top[c].token == WEFT_S2S_EOS) {
                    if (c < K && nbest_add(&out[i], nbest, h->tokens, h->len, top[c].logprob,
                                           norm_score(top[c].logprob, h->len + 1, o->alpha)))
                        goto oom;
                    continue;
                }
                beam *nh = &nb[i * K + live];
                memcpy(nh->tokens, h->tokens, (size_t)h->len * sizeof(int));
                nh->tokens[h->len] = top[c].token;
                nh->len = h->len + 1;
                nh->logprob = top[c].logprob;
                nh->live = true;
                from[i * K + live] = top[c].from;
                prev[i * K + live] = top[c].token;
                live++;
            }
            /* done when nothing is live, or nbest have ended and no live one can beat
             * the worst of them: log p only falls, and (len+1)^alpha is at most Li^alpha */
            double bound = -INFINITY;
            for (int k = 0; k < live; k++) {
                double b = norm_score(nb[i * K + k].logprob, Li, o->alpha);
                bound = b > bound ? b : bound;
            }
            if (live == 0 || (out[i].n == nbest && out[i].hyps[nbest - 1].score >= bound))
                done[i] = true;
            if (done[i])
                for (int k = 0; k < K; k++) nb[i * K + k].live = false;
            for (int k = live; k < K; k++) from[i * K + k] = i * K, prev[i * K + k] = WEFT_S2S_BOS;
            any |= !done[i];
        }
        if (!any) break;
        for (int i = 0; i < N; i++)   /* rows of finished sentences: keep anything valid */
            if (done[i])
                for (int k = 0; k < K; k++) from[i * K + k] = i * K, prev[i * K + k] = WEFT_S2S_BOS;
        beam *tmp = bm;
        bm = nb;
        nb = tmp;
        /* the decoder's rows follow their hypotheses */
        for (int k = 0; k < d.n_states; k++) d.states[k] = gather_rows(g, d.states[k], from, rows);
        if (d.feed) d.feed = gather_rows(g, d.feed, from, rows);
        if (weft_graph_failed(g)) goto graph_fail;
    }
    rc = 0;
    goto done_;
graph_fail:
    weft_say(err, errsize, "beam search: %s", weft_graph_error(g));
    goto done_;
oom:
    weft_say(err, errsize, "beam search: out of memory");
done_:
    for (int r = 0; r < rows && bm && nb; r++) free(bm[r].tokens), free(nb[r].tokens);
    free(bm);
    free(nb);
    free(from);
    free(prev);
    free(lens);
    free(top);
    free(done);
    return rc;
}

int weft_seq2seq_decode(const weft_seq2seq *m, const int *const *src, const int *src_len, int N,
                        const weft_s2s_decode_opts *o, weft_s2s_nbest *out, char *err,
                        size_t errsize)
{
    for (int i = 0; i < N; i++) out[i] = (weft_s2s_nbest){ 0 };
    if (o->beam < 1 || o->nbest < 0 || o->nbest > o->beam || o->max_len < 0 || o->alpha < 0) {
        weft_say(err, errsize, "decode: beam %d, nbest %d, max_len %d, alpha %g: need beam >= 1, "
                 "0 <= nbest <= beam, max_len >= 0, alpha >= 0", o->beam, o->nbest, o->max_len,
                 o->alpha);
        return -1;
    }
    int nbest = o->nbest ? o->nbest : 1;
    int batch = o->batch > 0 ? o->batch : 32;
    weft_graph *g = weft_graph_new();
    if (!g) {
        weft_say(err, errsize, "decode: out of memory");
        return -1;
    }
    weft_graph_set_forward_only(g, true);   /* beam search needs no backward */
    for (int i0 = 0; i0 < N; i0 += batch) {
        int n = N - i0 < batch ? N - i0 : batch;
        weft_graph_reset(g);
        if (beam_batch(g, m, src + i0, src_len + i0, n, o, nbest, out + i0, err, errsize)) {
            for (int i = 0; i < N; i++) weft_s2s_nbest_free(&out[i]);
            weft_graph_free(g);
            return -1;
        }
    }
    weft_graph_free(g);
    return 0;
}

/* --- the loss of a corpus ------------------------------------------------------------------ */

int weft_seq2seq_attention_weights(const weft_seq2seq *m, const int *src, int src_len,
                                   const int *tgt, int tgt_len, float *weights, char *err,
                                   size_t errsize)
{
    if (m->cfg.attention == WEFT_ATTN_NONE) {
        weft_say(err, errsize, "attention weights: the model has no attention (--attention none)");
        return -1;
    }
    if (tgt_len < 0) {
        weft_say(err, errsize, "attention weights: a target of %d tokens", tgt_len);
        return -1;
    }
    weft_graph *g = weft_graph_new();
    if (!g) {
        weft_say(err, errsize, "attention weights: out of memory");
        return -1;
    }
    weft_s2s_decoder d;
    int rc = weft_seq2seq_begin(g, m, &src, &src_len, 1, &d);
    int prev = WEFT_S2S_BOS;
    for (int t = 0; rc == 0 && t <= tgt_len; t++) {
        /* the step that predicts tgt[t] (the last one </s>), fed the token before */
        if (!weft_seq2seq_step(g, m, &d, &prev)) {
            rc = -1;
            break;
        }
        memcpy(weights + (size_t)t * src_len, d.weights->value.data,
               (size_t)src_len * sizeof *weights);
        if (t < tgt_len) prev = tgt[t];
    }
    if (rc) weft_say(err, errsize, "attention weights: %s", weft_graph_error(g));
    weft_graph_free(g);
    return rc;
}

int weft_seq2seq_corpus_loss(const weft_seq2seq *m, const weft_s2s_corpus *c, int batch,
                             double *nll, char *err, size_t errsize)
{
    weft_graph *g = weft_graph_new();
    if (!g) {
        weft_say(err, errsize, "loss: out of memory");
        return -1;
    }
    weft_graph_set_forward_only(g, true);   /* scoring needs no backward */
    double sum = 0, tokens = 0;
    for (int i0 = 0; i0 < c->n; i0 += batch) {
        int B = c->n - i0 < batch ? c->n - i0 : batch;
        weft_graph_reset(g);
        weft_var *loss;
        double n;
        if (weft_seq2seq_loss(g, m, (const int *const *)c->src + i0, c->src_len + i0,
                              (const int *const *)c->tgt + i0, c->tgt_len + i0, B, 0.0f, NULL,
                              &loss, &n)) {
            weft_say(err, errsize, "loss: %s", weft_graph_error(g));
            weft_graph_free(g);
            return -1;
        }
        sum += weft_scalar(loss) * n;
        tokens += n;
    }
    weft_graph_free(g);
    *nll = tokens > 0 ? sum / tokens : 0;
    return 0;
}
