/* models/classify/forward.c — the forward passes of weft/classify.h: a batch
 * of sentences laid out time-major longest first, the character encoder, the
 * three heads (pooled sentence, per-word, window), and prediction and
 * scoring over a whole data set in length buckets. */
#include "weft/classify.h"

#include "weft/buckets.h"
#include "weft/dropout.h"
#include "weft/ops.h"
#include "src/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A word longer than this many characters is read as its first and last
 * CHAR_KEEP / 2 (prefixes and suffixes carry what a tagger needs; a 300-
 * character URL would otherwise set the length of every word's unroll). */
enum { CHAR_KEEP = 30 };

/* --- encoding a data set --------------------------------------------------------------------- */

void weft_classify_set_free(weft_classify_set *s)
{
    if (!s) return;
    free(s->lengths);
    free(s->word_ids);
    free(s->targets);
    free(s->char_ids);
    free(s->char_start);
    *s = (weft_classify_set){ 0 };
}

/* Word k's characters as ids of m->chars (code points; "<unk>" for others). */
static int encode_chars(const weft_classify_model *m, const weft_labeled_data *d,
                        weft_classify_set *s, char *err, size_t errsize)
{
    size_t total = 0;
    for (int k = 0; k < d->n_words; k++) total += strlen(d->word[k]);
    s->char_start = malloc(((size_t)d->n_words + 1) * sizeof *s->char_start);
    s->char_ids = malloc((total + 1) * sizeof *s->char_ids);
    if (!s->char_start || !s->char_ids || total > (size_t)2147483647) {
        weft_say(err, errsize, "%s: out of memory for the characters", d->path);
        return -1;
    }
    int unk = weft_vocab_unk(m->chars), at = 0;
    for (int k = 0; k < d->n_words; k++) {
        s->char_start[k] = at;
        const char *w = d->word[k];
        size_t len = strlen(w);
        for (size_t i = 0; i < len;) {
            int n = weft_utf8_length((const unsigned char *)w + i, len - i);
            if (n == 0) n = 1;
            int id = weft_vocab_find(m->chars, w + i, (size_t)n);
            s->char_ids[at++] = id >= 0 ? id : unk;
            i += (size_t)n;
        }
    }
    s->char_start[d->n_words] = at;
    return 0;
}

int weft_classify_set_make(const weft_classify_model *m, const weft_labeled_data *d,
                           weft_classify_set *out, char *err, size_t errsize)
{
    *out = (weft_classify_set){ .data = d };
    bool wants_sentences = m->cfg.task == WEFT_TASK_CLASSIFY;
    if (wants_sentences != (d->format == WEFT_FORMAT_CLASSIFY || d->format == WEFT_FORMAT_TEXT)) {
        weft_say(err, errsize, "%s: read as %s, but a %s model needs %s", d->path,
                 weft_labeled_format_name(d->format), weft_classify_task_name(m->cfg.task),
                 wants_sentences ? "a classification file ('LABEL word ...' lines)"
                                 : "tagged words (CoNLL-U or BIO columns)");
        return -1;
    }
    out->lengths = malloc((size_t)d->n_sents * sizeof *out->lengths);
    if (!out->lengths) {
        weft_say(err, errsize, "%s: out of memory", d->path);
        return -1;
    }
    for (int i = 0; i < d->n_sents; i++) out->lengths[i] = d->sent_start[i + 1] - d->sent_start[i];
    if (!(out->word_ids = weft_labeled_encode_words(d, m->words, m->cfg.norm, err, errsize)) ||
        !(out->targets = weft_labeled_encode_labels(d, m->labels, err, errsize)) ||
        (m->chars && encode_chars(m, d, out, err, errsize))) {
        weft_classify_set_free(out);
        return -1;
    }
    return 0;
}

/* --- a batch --------------------------------------------------------------------------------- */

/* Sentences idx[0..n) laid out for the recurrent layers. Arrays in the
 * graph's arena. */
typedef struct batch_layout {
    int B, T, words;         /* sentences, steps (the longest), real words */
    int *sent;               /* B sentence indices, longest first */
    int *len;                /* B lengths, non-increasing */
    int *rank;               /* rank[i]: where idx[i] went (its column b) */
    bool ragged;             /* not all of one length */
} batch_layout;

static int make_batch(weft_graph *g, const weft_classify_set *s, const int *idx, int n,
                      batch_layout *b)
{
    if (n < 1) return weft_graph_fail(g, "classify: an empty batch"), -1;
    int N = s->data->n_sents;
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= N)
            return weft_graph_fail(g, "classify: sentence %d is not in [0, %d)", idx[i], N), -1;
    b->B = n;
    b->sent = weft_graph_alloc(g, (size_t)n * sizeof(int));
    b->len = weft_graph_alloc(g, (size_t)n * sizeof(int));
    b->rank = weft_graph_alloc(g, (size_t)n * sizeof(int));
    if (!b->sent || !b->len || !b->rank) return -1;
    /* a stable insertion of positions by length, longest first (batches come
     * sorted from the buckets, so this is one pass) */
    int *pos = b->rank;   /* first the positions in order, then inverted */
    for (int i = 0; i < n; i++) {
        int j = i, L = s->lengths[idx[i]];
        while (j > 0 && s->lengths[idx[pos[j - 1]]] < L) {
            pos[j] = pos[j - 1];
            j--;
        }
        pos[j] = i;
    }
    b->words = 0;
    for (int c = 0; c < n; c++) {
        b->sent[c] = idx[pos[c]];
        b->len[c] = s->lengths[b->sent[c]];
        b->words += b->len[c];
    }
    int *inv = weft_graph_alloc(g, (size_t)n * sizeof(int));
    if (!inv) return -1;
    for (int c = 0; c < n; c++) inv[pos[c]] = c;
    b->rank = inv;
    b->T = b->len[0];
    b->ragged = b->len[n - 1] != b->T;
    return 0;
}

/* [T, B] time-major ids of the batch's words (padding: id 0, never seen by
 * the ragged unroll). */
static int *time_major_ids(weft_graph *g, const weft_classify_set *s, const batch_layout *b)
{
    int *ids = weft_graph_calloc(g, (size_t)b->T * b->B * sizeof(int));
    if (!ids) return NULL;
    for (int c = 0; c < b->B; c++) {
        int first = s->data->sent_start[b->sent[c]];
        for (int t = 0; t < b->len[c]; t++) ids[t * b->B + c] = s->word_ids[first + t];
    }
    return ids;
}

static weft_var *maybe_dropout(weft_graph *g, weft_var *x, weft_rng *rng, float p)
{
    if (!x || !rng || p <= 0.0f) return x;
    return weft_dropout(g, x, weft_dropout_mask(g, rng, p, x->value.rank, x->value.shape));
}

/* --- the character encoder ---------------------------------------------------------------- */

/* Find-or-add word k in a table of U distinct words keyed by their string
 * (open addressing; slots hold word index + 1, 0 empty). Returns its index. */
static int distinct_word(const weft_labeled_data *d, int *slots, int mask, int *words, int *U,
                         int k)
{
    const char *w = d->word[k];
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (const char *c = w; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    for (int i = (int)(h & (uint64_t)mask);; i = (i + 1) & mask) {
        if (slots[i] == 0) {
            words[*U] = k;
            slots[i] = ++*U;
            return *U - 1;
        }
        if (strcmp(d->word[words[slots[i] - 1]], w) == 0) return slots[i] - 1;
    }
}

/* The character features of every position of the batch, [T, B, 2 Hc]: a
 * bidirectional rnn over the characters of each distinct word of the batch
 * (run once per word type), the final forward and backward states side by
 * side, looked up for each position. */
static weft_var *char_features(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                               const batch_layout *b)
{
    const weft_labeled_data *d = s->data;
    int TB = b->T * b->B, cap = 1;
    while (cap < 2 * b->words) cap *= 2;
    int *slots = weft_graph_calloc(g, (size_t)cap * sizeof(int));
    int *words = weft_graph_alloc(g, (size_t)b->words * sizeof(int));
    int *where = weft_graph_calloc(g, (size_t)TB * sizeof(int));   /* padding: word 0 */
    if (!slots || !words || !where) return NULL;
    int U = 0;
    for (int c = 0; c < b->B; c++) {
        int first = d->sent_start[b->sent[c]];
        for (int t = 0; t < b->len[c]; t++)
            where[t * b->B + c] = distinct_word(d, slots, cap - 1, words, &U, first + t);
    }
    /* the words' characters, time-major [Tc, U], the longest words kept as
     * their first and last CHAR_KEEP / 2 characters */
    int *clen = weft_graph_alloc(g, (size_t)U * sizeof(int)), Tc = 1;
    if (!clen) return NULL;
    for (int u = 0; u < U; u++) {
        int k = words[u], n = s->char_start[k + 1] - s->char_start[k];
        clen[u] = n < 1 ? 1 : n > CHAR_KEEP ? CHAR_KEEP : n;
        if (clen[u] > Tc) Tc = clen[u];
    }
    int *cids = weft_graph_calloc(g, (size_t)Tc * U * sizeof(int));
    if (!cids) return NULL;
    for (int u = 0; u < U; u++) {
        int k = words[u], n = s->char_start[k + 1] - s->char_start[k];
        const int *ch = s->char_ids + s->char_start[k];
        for (int t = 0; t < clen[u] && n > 0; t++) {
            int at = n <= CHAR_KEEP || t < CHAR_KEEP / 2 ? t : n - (CHAR_KEEP - t);
            cids[t * U + u] = ch[at];
        }
    }
    int Ec = m->cfg.char_embed;
    weft_var *x = weft_embedding(g, weft_param_var(g, m->char_embedding), cids, Tc * U);
    x = weft_reshape(g, x, 3, (int[]){ Tc, U, Ec });
    if (!x) return NULL;
    weft_rnn_out out;
    weft_unroll_opts uo = { .lengths = clen, .by_length = true };
    if (weft_unroll(g, m->char_rnn, x, &uo, &out)) return NULL;
    int S = m->cell->n_states;
    weft_var *feat = weft_concat(g, (weft_var *[]){ out.final[0], out.final[S] }, 2);  /* [U, 2Hc] */
    weft_var *per_pos = weft_embedding(g, feat, where, TB);
    return weft_reshape(g, per_pos, 3, (int[]){ b->T, b->B, 2 * m->cfg.char_hidden });
}

/* --- the heads -------------------------------------------------------------------------------- */

/* Pool the top layer's outputs [T, B, W] over each sentence's real steps. */
static weft_var *pool(weft_classify_model *m, weft_graph *g, const batch_layout *b,
                      const weft_rnn_out *out)
{
    int T = b->T, B = b->B, W = out->width;
    switch (m->cfg.pool) {
    case WEFT_POOL_LAST: {
        /* the final states of the top layer: forward at its last real step,
         * backward at step 0 (weft_unroll keeps them per sequence) */
        int L = m->cfg.layers, D = weft_rnn_dirs(m->rnn), S = m->cell->n_states;
        weft_var *fwd = out->final[((L - 1) * D) * S];
        if (D == 1) return fwd;
        return weft_concat(g, (weft_var *[]){ fwd, out->final[((L - 1) * D + 1) * S] }, 2);
    }
    case WEFT_POOL_MEAN: {
        /* outputs are zero past each end, so the sum over all T steps is the
         * sum over the real ones: ones[1, T] x seq[T, B*W], scaled by 1/len */
        weft_var *ones = weft_input_zeros(g, 2, (int[]){ 1, T }, "ones", false);
        weft_var *inv = weft_input_zeros(g, 2, (int[]){ B, 1 }, "1/length", false);
        if (!ones || !inv) return NULL;
        for (int t = 0; t < T; t++) ones->value.data[t] = 1.0f;
        for (int c = 0; c < B; c++) inv->value.data[c] = 1.0f / (float)b->len[c];
        weft_var *sum = weft_matmul(g, ones, weft_reshape(g, out->seq, 2, (int[]){ T, B * W }));
        return weft_mul(g, weft_reshape(g, sum, 2, (int[]){ B, W }), inv);
    }
    case WEFT_POOL_MAX:
        return weft_max_steps(g, out->seq, b->len);
    }
    return weft_graph_fail(g, "classify: unknown pooling %d", (int)m->cfg.pool);
}

/* Rows [n_rows] of x [rows, C] picked by `rows` (a reordering: one gather). */
static weft_var *pick_rows(weft_graph *g, weft_var *x, const int *rows, int n)
{
    return weft_embedding(g, x, rows, n);
}

/* The rnn models (classify, tag): logits in the order of idx (then words). */
static weft_var *rnn_logits(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                            const batch_layout *b, weft_rng *rng)
{
    int T = b->T, B = b->B, E = m->cfg.embed;
    float p = m->cfg.dropout;
    int *ids = time_major_ids(g, s, b);
    if (!ids) return NULL;
    weft_var *x = weft_embedding(g, weft_param_var(g, m->embedding), ids, T * B);
    x = weft_reshape(g, x, 3, (int[]){ T, B, E });
    if (m->char_rnn) x = weft_concat(g, (weft_var *[]){ x, char_features(m, g, s, b) }, 2);
    x = maybe_dropout(g, x, rng, p);
    if (!x) return NULL;
    weft_rnn_out out;
    weft_unroll_opts uo = { .lengths = b->ragged ? b->len : NULL,
                            .dropout_rng = rng && p > 0.0f ? rng : NULL, .by_length = true };
    if (weft_unroll(g, m->rnn, x, &uo, &out)) return NULL;
    weft_var *W = weft_param_var(g, m->out_w), *bias = weft_param_var(g, m->out_b);
    if (m->cfg.task == WEFT_TASK_CLASSIFY) {
        weft_var *logits = weft_linear(g, maybe_dropout(g, pool(m, g, b, &out), rng, p), W, bias);
        return pick_rows(g, logits, b->rank, B);                            /* [n, C] */
    }
    /* per word: the real (t, b) rows, sentence after sentence in idx order */
    weft_var *logits = weft_linear(g, maybe_dropout(g, out.seq, rng, p), W, bias);
    logits = weft_reshape(g, logits, 2, (int[]){ T * B, m->n_labels });
    int *rows = weft_graph_alloc(g, (size_t)b->words * sizeof(int));
    if (!rows) return NULL;
    int at = 0;
    for (int i = 0; i < B; i++) {
        int c = b->rank[i];
        for (int t = 0; t < b->len[c]; t++) rows[at++] = t * B + c;
    }
    return pick_rows(g, logits, rows, b->words);                            /* [words, C] */
}

/* The window model: every word of the batch with k neighbours each side. */
static weft_var *window_logits(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                               const int *idx, int n, int words, weft_rng *rng)
{
    int k = m->cfg.window, width = 2 * k + 1, E = m->cfg.embed;
    int pad = weft_vocab_find(m->words, "<pad>", 5);
    int *ids = weft_graph_alloc(g, (size_t)words * width * sizeof(int));
    if (!ids) return NULL;
    int at = 0;
    for (int i = 0; i < n; i++) {
        int first = s->data->sent_start[idx[i]], len = s->lengths[idx[i]];
        for (int t = 0; t < len; t++)
            for (int j = -k; j <= k; j++)
                ids[at++] = t + j < 0 || t + j >= len ? pad : s->word_ids[first + t + j];
    }
    weft_var *x = weft_embedding(g, weft_param_var(g, m->embedding), ids, words * width);
    x = weft_reshape(g, x, 2, (int[]){ words, width * E });
    x = maybe_dropout(g, x, rng, m->cfg.dropout);
    weft_var *h = weft_tanh(g, weft_linear(g, x, weft_param_var(g, m->hidden_w),
                                           weft_param_var(g, m->hidden_b)));
    h = maybe_dropout(g, h, rng, m->cfg.dropout);
    return weft_linear(g, h, weft_param_var(g, m->out_w), weft_param_var(g, m->out_b));
}

static weft_var *logits_of(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                           const int *idx, int n, weft_rng *rng, int *rows)
{
    if (!s || !s->word_ids) return weft_graph_fail(g, "classify: no data set");
    if (m->cfg.task == WEFT_TASK_WINDOW) {
        int words = 0;
        for (int i = 0; i < n; i++) {
            if (idx[i] < 0 || idx[i] >= s->data->n_sents)
                return weft_graph_fail(g, "classify: sentence %d is not in [0, %d)", idx[i],
                                       s->data->n_sents);
            words += s->lengths[idx[i]];
        }
        if (n < 1) return weft_graph_fail(g, "classify: an empty batch");
        *rows = words;
        return window_logits(m, g, s, idx, n, words, rng);
    }
    batch_layout b;
    if (make_batch(g, s, idx, n, &b)) return NULL;
    *rows = m->cfg.task == WEFT_TASK_CLASSIFY ? n : b.words;
    return rnn_logits(m, g, s, &b, rng);
}

weft_var *weft_classify_logits(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                               const int *idx, int n)
{
    int rows;
    return logits_of(m, g, s, idx, n, NULL, &rows);
}

/* The gold label of every row of the batch's logits, in their order. */
static void batch_targets(const weft_classify_model *m, const weft_classify_set *s,
                          const int *idx, int n, int *targets)
{
    int at = 0;
    for (int i = 0; i < n; i++) {
        if (m->cfg.task == WEFT_TASK_CLASSIFY) {
            targets[at++] = s->targets[idx[i]];
            continue;
        }
        int first = s->data->sent_start[idx[i]];
        for (int t = 0; t < s->lengths[idx[i]]; t++) targets[at++] = s->targets[first + t];
    }
}

weft_var *weft_classify_loss(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                             const int *idx, int n, weft_rng *dropout_rng)
{
    int rows = 0;
    weft_var *logits = logits_of(m, g, s, idx, n, dropout_rng, &rows);
    if (!logits) return NULL;
    int *targets = weft_graph_alloc(g, (size_t)rows * sizeof(int));
    float *mask = weft_graph_alloc(g, (size_t)rows * sizeof(float));
    if (!targets || !mask) return NULL;
    batch_targets(m, s, idx, n, targets);
    bool any_unknown = false, any_known = false;
    for (int r = 0; r < rows; r++) {
        mask[r] = targets[r] >= 0 ? 1.0f : 0.0f;
        any_unknown |= targets[r] < 0;
        any_known |= targets[r] >= 0;
        if (targets[r] < 0) targets[r] = 0;
    }
    if (!any_known)
        return weft_graph_fail(g, "classify: no example of the batch has a label the model knows");
    return weft_cross_entropy(g, logits, targets, any_unknown ? mask : NULL);
}

/* --- predicting and scoring a data set ------------------------------------------------------- */

/* Run every batch of s (bucketed by length, no dropout); for each batch the
 * logits' rows go to out_pred (argmax) and their loss to *loss_sum. */
static int run_all(weft_classify_model *m, weft_graph *g, const weft_classify_set *s, int batch,
                   int *pred, double *loss_sum, long *loss_rows, char *err, size_t errsize)
{
    const weft_labeled_data *d = s->data;
    weft_buckets bk;
    if (weft_buckets_make(s->lengths, d->n_sents, batch, 1, NULL, &bk, err, errsize)) return -1;
    int C = m->n_labels, rc = -1;
    /* predictions need no backward: the graph runs forward-only (weft predict, weft eval,
     * validation), and is given back as it was */
    bool taped = !weft_graph_is_forward_only(g);
    int *targets = malloc((size_t)(d->n_words > d->n_sents ? d->n_words : d->n_sents) *
                          sizeof *targets);
    if (!targets) {
        weft_say(err, errsize, "%s: out of memory", d->path);
        goto done;
    }
    for (int k = 0; k < bk.n_batches; k++) {
        const int *idx = bk.index + bk.start[k];
        int n = bk.start[k + 1] - bk.start[k], rows;
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, true);
        weft_var *logits = logits_of(m, g, s, idx, n, NULL, &rows);
        if (!logits || weft_graph_failed(g)) {
            weft_say(err, errsize, "%s", weft_graph_error(g) ? weft_graph_error(g)
                                                             : "classify: the forward failed");
            goto done;
        }
        batch_targets(m, s, idx, n, targets);
        /* where row r's prediction goes: sentence idx[i], or its words */
        int r = 0;
        for (int i = 0; i < n; i++) {
            int count = m->cfg.task == WEFT_TASK_CLASSIFY ? 1 : s->lengths[idx[i]];
            int base = m->cfg.task == WEFT_TASK_CLASSIFY ? idx[i] : d->sent_start[idx[i]];
            for (int j = 0; j < count; j++, r++) {
                const float *z = logits->value.data + (size_t)r * C;
                int best = 0;
                float mx = z[0];
                for (int c = 1; c < C; c++)
                    if (z[c] > mx) mx = z[c], best = c;
                pred[base + j] = best;
                if (targets[r] >= 0) {
                    double sum = 0.0;
                    for (int c = 0; c < C; c++) sum += exp((double)(z[c] - mx));
                    *loss_sum += log(sum) - (double)(z[targets[r]] - mx);
                    (*loss_rows)++;
                }
            }
        }
    }
    rc = 0;
done:
    if (taped) {
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, false);
    }
    free(targets);
    weft_buckets_free(&bk);
    return rc;
}

int weft_classify_predict(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                          int batch, int *pred, char *err, size_t errsize)
{
    double loss = 0.0;
    long rows = 0;
    return run_all(m, g, s, batch, pred, &loss, &rows, err, errsize);
}

/* Are all the labels O or X-TYPE (entity tags)? */
static bool labels_are_bio(const weft_vocab *v)
{
    bool any_typed = false;
    for (int i = 0; i < weft_vocab_size(v); i++) {
        const char *t = weft_vocab_token(v, i);
        if (strcmp(t, "O") == 0) continue;
        if (!strchr("BIES", t[0]) || t[1] != '-' || !t[2]) return false;
        any_typed = true;
    }
    return any_typed;
}

int weft_classify_evaluate(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                           int batch, weft_classify_score *out, char *err, size_t errsize)
{
    *out = (weft_classify_score){ 0 };
    const weft_labeled_data *d = s->data;
    int n = m->cfg.task == WEFT_TASK_CLASSIFY ? d->n_sents : d->n_words;
    int *pred = malloc((size_t)n * sizeof *pred);
    if (!pred || weft_confusion_init(&out->confusion, m->n_labels)) {
        free(pred);
        weft_say(err, errsize, "%s: out of memory", d->path);
        return -1;
    }
    double loss = 0.0;
    long rows = 0;
    if (run_all(m, g, s, batch, pred, &loss, &rows, err, errsize)) {
        free(pred);
        weft_confusion_free(&out->confusion);
        return -1;
    }
    for (int i = 0; i < n; i++) weft_confusion_add(&out->confusion, s->targets[i], pred[i]);
    out->loss = rows ? loss / (double)rows : 0.0;
    if (m->cfg.task != WEFT_TASK_CLASSIFY && labels_are_bio(m->labels)) {
        out->has_chunks = true;
        const char **names = malloc((size_t)(d->n_words > 0 ? d->n_words : 1) * sizeof *names);
        if (!names) {
            free(pred);
            weft_confusion_free(&out->confusion);
            weft_say(err, errsize, "%s: out of memory", d->path);
            return -1;
        }
        for (int k = 0; k < d->n_words; k++) names[k] = weft_vocab_token(m->labels, pred[k]);
        for (int i = 0; i < d->n_sents; i++) {
            int a = d->sent_start[i], len = d->sent_start[i + 1] - a;
            weft_chunk_score_add(&out->chunks, d->tag + a, names + a, len);
        }
        free(names);
    }
    free(pred);
    return 0;
}
