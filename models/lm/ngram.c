/* models/lm/ngram.c — interpolated modified Kneser-Ney n-gram models, saved and
 * loaded as ARPA files (weft/ngram.h has the equations).
 *
 * Every order k keeps its n-grams in a gram_index: the keys (k ids each)
 * stored one after another in insertion order, found through an
 * open-addressing hash table of entry numbers (linear probing, at most half
 * full). Training fills one index of counts per order and one of context
 * statistics per order, turns them into probabilities, and keeps only the
 * n-gram keys with their log10 probability and back-off weight — the content
 * of an ARPA file, which is also what a loaded model holds.
 */
#include "weft/ngram.h"

#include "src/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LN10 2.30258509299404568402

/* --- the index: n-gram keys -> entry numbers ---------------------------------------- */

#define EMPTY UINT32_MAX

typedef struct gram_index {
    int k;               /* ids in a key */
    int nval;            /* uint32 values kept per entry (zeroed on insert) */
    uint32_t n, cap;     /* entries; entries allocated */
    uint32_t *keys;      /* entry e's key is keys[e*k .. e*k + k) */
    uint32_t *val;       /* entry e's values are val[e*nval .. e*nval + nval) */
    uint32_t *slots;     /* nslots slots: an entry number or EMPTY */
    size_t nslots;       /* a power of two, at least 2 n */
} gram_index;

static void index_init(gram_index *x, int k, int nval)
{
    *x = (gram_index){ .k = k, .nval = nval };
}

static void index_free(gram_index *x)
{
    free(x->keys);
    free(x->val);
    free(x->slots);
    *x = (gram_index){ 0 };
}

static uint64_t hash_key(const uint32_t *key, int k)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < k; i++) {
        h ^= key[i];
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return h;
}

/* The entry holding key, or -1. */
static int64_t index_find(const gram_index *x, const uint32_t *key)
{
    if (x->n == 0) return -1;
    size_t mask = x->nslots - 1;
    for (size_t s = hash_key(key, x->k) & mask;; s = (s + 1) & mask) {
        uint32_t e = x->slots[s];
        if (e == EMPTY) return -1;
        if (memcmp(x->keys + (size_t)e * x->k, key, (size_t)x->k * sizeof *key) == 0) return e;
    }
}

/* Make room for `want` entries without moving or rehashing. 0, or -1 (out of memory). */
static int index_reserve(gram_index *x, size_t want)
{
    if (want >= EMPTY) return -1;
    if (want > x->cap) {
        size_t cap = x->cap ? x->cap : 1024;
        while (cap < want) cap *= 2;
        if (cap >= EMPTY) cap = EMPTY - 1;
        uint32_t *keys = realloc(x->keys, cap * (size_t)x->k * sizeof *keys);
        if (!keys) return -1;
        x->keys = keys;
        if (x->nval) {
            uint32_t *val = realloc(x->val, cap * (size_t)x->nval * sizeof *val);
            if (!val) return -1;
            x->val = val;
        }
        x->cap = (uint32_t)cap;
    }
    if (2 * want > x->nslots) {
        size_t nslots = x->nslots ? x->nslots : 2048;
        while (nslots < 2 * want) nslots *= 2;
        uint32_t *slots = malloc(nslots * sizeof *slots);
        if (!slots) return -1;
        for (size_t s = 0; s < nslots; s++) slots[s] = EMPTY;
        size_t mask = nslots - 1;
        for (uint32_t e = 0; e < x->n; e++) {
            size_t s = hash_key(x->keys + (size_t)e * x->k, x->k) & mask;
            while (slots[s] != EMPTY) s = (s + 1) & mask;
            slots[s] = e;
        }
        free(x->slots);
        x->slots = slots;
        x->nslots = nslots;
    }
    return 0;
}

/* The entry holding key, added (values zero) when absent; *added says which.
 * -1 when out of memory. */
static int64_t index_insert(gram_index *x, const uint32_t *key, bool *added)
{
    if (added) *added = false;
    if (index_reserve(x, (size_t)x->n + 1)) return -1;
    size_t mask = x->nslots - 1;
    size_t s = hash_key(key, x->k) & mask;
    for (;; s = (s + 1) & mask) {
        uint32_t e = x->slots[s];
        if (e == EMPTY) break;
        if (memcmp(x->keys + (size_t)e * x->k, key, (size_t)x->k * sizeof *key) == 0) return e;
    }
    uint32_t e = x->n++;
    memcpy(x->keys + (size_t)e * x->k, key, (size_t)x->k * sizeof *key);
    if (x->nval) memset(x->val + (size_t)e * x->nval, 0, (size_t)x->nval * sizeof *x->val);
    x->slots[s] = e;
    if (added) *added = true;
    return e;
}

/* --- the model ------------------------------------------------------------------------ */

struct weft_ngram {
    int order;
    bool sentences;
    int V;
    int eos;                                 /* id of "<eos>", or -1 */
    weft_vocab *vocab;                       /* owned */
    double discount[WEFT_NGRAM_MAX_ORDER][3];
    gram_index grams[WEFT_NGRAM_MAX_ORDER];  /* order k at [k-1]; keys only */
    float *logp[WEFT_NGRAM_MAX_ORDER];       /* log10 p(w | h) of each entry */
    float *logbow[WEFT_NGRAM_MAX_ORDER];     /* log10 back-off weight of the entry as a context */
};

void weft_ngram_free(weft_ngram *m)
{
    if (!m) return;
    for (int k = 0; k < WEFT_NGRAM_MAX_ORDER; k++) {
        index_free(&m->grams[k]);
        free(m->logp[k]);
        free(m->logbow[k]);
    }
    weft_vocab_free(m->vocab);
    free(m);
}

int weft_ngram_order(const weft_ngram *m)
{
    return m->order;
}

bool weft_ngram_sentences(const weft_ngram *m)
{
    return m->sentences;
}

const weft_vocab *weft_ngram_vocab(const weft_ngram *m)
{
    return m->vocab;
}

size_t weft_ngram_count(const weft_ngram *m, int k)
{
    return k >= 1 && k <= m->order ? m->grams[k - 1].n : 0;
}

void weft_ngram_discounts_of(const weft_ngram *m, int k, double d[3])
{
    for (int r = 0; r < 3; r++) d[r] = k >= 1 && k <= m->order ? m->discount[k - 1][r] : 0;
}

void weft_ngram_discounts(const uint64_t n[4], double d[3])
{
    /* Chen & Goodman 1998, eq. 26 */
    double n1 = (double)n[0], n2 = (double)n[1], n3 = (double)n[2], n4 = (double)n[3];
    double Y = n1 + 2 * n2 > 0 ? n1 / (n1 + 2 * n2) : 0.5;
    if (Y <= 0) Y = 0.5;
    d[0] = n1 > 0 ? 1 - 2 * Y * n2 / n1 : Y;
    d[1] = n2 > 0 ? 2 - 3 * Y * n3 / n2 : Y;
    d[2] = n3 > 0 ? 3 - 4 * Y * n4 / n3 : Y;
    for (int r = 0; r < 3; r++) {
        if (d[r] < 0) d[r] = 0;
        if (d[r] > r + 1) d[r] = r + 1;
    }
}

/* An empty model of the given order with a copy of vocab (NULL: an empty one). */
static weft_ngram *model_new(int order, bool sentences, const weft_vocab *vocab)
{
    weft_ngram *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->order = order;
    m->sentences = sentences;
    m->vocab = weft_vocab_new();
    if (!m->vocab) {
        free(m);
        return NULL;
    }
    for (int id = 0; vocab && id < weft_vocab_size(vocab); id++) {
        const char *tok = weft_vocab_token(vocab, id);
        if (weft_vocab_add(m->vocab, tok, strlen(tok)) != id) {
            weft_ngram_free(m);
            return NULL;
        }
    }
    m->V = weft_vocab_size(m->vocab);
    m->eos = weft_vocab_find(m->vocab, WEFT_EOS, strlen(WEFT_EOS));
    for (int k = 0; k < WEFT_NGRAM_MAX_ORDER; k++) index_init(&m->grams[k], k + 1, 0);
    return m;
}

/* --- training ------------------------------------------------------------------------- */

/* Context statistics of an order: a(h.), N1(h.), N2(h.), N3+(h.). */
enum { CTX_TOTAL, CTX_N1, CTX_N2, CTX_N3, CTX_NVAL };

/* gamma_k(h) (C&G eq. 19) from a context's statistics and the order's discounts. */
static double gamma_of(const uint32_t *c, const double d[3])
{
    return (d[0] * c[CTX_N1] + d[1] * c[CTX_N2] + d[2] * c[CTX_N3]) / c[CTX_TOTAL];
}

weft_ngram *weft_ngram_train(const int *ids, size_t n, const weft_vocab *vocab,
                             const weft_ngram_options *opt, char *err, size_t errsize)
{
    int N = opt->order;
    if (N < 1 || N > WEFT_NGRAM_MAX_ORDER) {
        weft_say(err, errsize, "n-gram: order %d is not in [1, %d]", N, WEFT_NGRAM_MAX_ORDER);
        return NULL;
    }
    int V = weft_vocab_size(vocab);
    if (V < 1) {
        weft_say(err, errsize, "n-gram: the vocabulary is empty");
        return NULL;
    }
    if (n < 1 || n >= EMPTY) {
        weft_say(err, errsize, "n-gram: %zu training tokens (need 1 to %u)", n, EMPTY - 1);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            weft_say(err, errsize, "n-gram: token %zu has id %d, outside the vocabulary of %d", i,
                ids[i], V);
            return NULL;
        }
    weft_ngram *m = model_new(N, opt->sentences, vocab);
    if (!m) {
        weft_say(err, errsize, "n-gram: out of memory");
        return NULL;
    }
    if (opt->sentences && m->eos < 0) {
        weft_say(err, errsize, "n-gram: sentence mode needs \"%s\" in the vocabulary", WEFT_EOS);
        weft_ngram_free(m);
        return NULL;
    }

    gram_index cnt[WEFT_NGRAM_MAX_ORDER];    /* order k at [k-1]: a_k of each n-gram */
    gram_index ctx[WEFT_NGRAM_MAX_ORDER];    /* order k >= 2 at [k-1]: statistics of contexts */
    double *prob[WEFT_NGRAM_MAX_ORDER] = { 0 };
    for (int k = 0; k < N; k++) {
        index_init(&cnt[k], k + 1, 1);
        index_init(&ctx[k], k > 0 ? k : 1, CTX_NVAL);
    }
    uint32_t ctx1[CTX_NVAL] = { 0 };         /* order 1: the one empty context */
    uint32_t key[WEFT_NGRAM_MAX_ORDER];

    /* Every word of the vocabulary is a 1-gram, seen or not, so that every
     * word has a probability (entry number = id). */
    for (int w = 0; w < V; w++) {
        key[0] = (uint32_t)w;
        if (index_insert(&cnt[0], key, NULL) < 0) goto oom;
    }

    /* Count. The n-grams ending at i start at j >= lim, the first position the
     * context may reach. At the highest order a_N is the raw count; below it
     * an occurrence adds 1 only when it starts at lim (nothing before it to
     * count as a left context); the others are counted below through their
     * left extensions. */
    long long last_eos = -1;
    for (size_t i = 0; i < n; i++) {
        size_t lim = opt->sentences && last_eos >= 0 ? (size_t)last_eos : 0;
        for (int k = 1; k <= N && i + 1 >= (size_t)k && i + 1 - (size_t)k >= lim; k++) {
            size_t j = i + 1 - (size_t)k;
            for (int q = 0; q < k; q++) key[q] = (uint32_t)ids[j + (size_t)q];
            int64_t e = index_insert(&cnt[k - 1], key, NULL);
            if (e < 0) goto oom;
            if (k == N || j == lim) cnt[k - 1].val[e]++;
        }
        if (ids[i] == m->eos) last_eos = (long long)i;
    }
    /* Continuation counts (C&G eq. 24): a_k(g) += |{x : xg seen at order k+1}|. */
    for (int k = 2; k <= N; k++) {
        const gram_index *up = &cnt[k - 1];
        for (uint32_t e = 0; e < up->n; e++) {
            int64_t s = index_find(&cnt[k - 2], up->keys + (size_t)e * k + 1);
            if (s >= 0) cnt[k - 2].val[s]++;   /* always found: suffixes are counted too */
        }
    }
    /* Discounts from each order's count-of-counts. */
    for (int k = 1; k <= N; k++) {
        uint64_t nr[4] = { 0 };
        for (uint32_t e = 0; e < cnt[k - 1].n; e++) {
            uint32_t a = cnt[k - 1].val[e];
            if (a >= 1 && a <= 4) nr[a - 1]++;
        }
        if (opt->fixed_discounts)
            for (int r = 0; r < 3; r++) m->discount[k - 1][r] = opt->discount[r];
        else
            weft_ngram_discounts(nr, m->discount[k - 1]);
    }
    /* Context statistics: a(h.) and N1, N2, N3+ of every context. */
    for (int k = 1; k <= N; k++) {
        for (uint32_t e = 0; e < cnt[k - 1].n; e++) {
            uint32_t a = cnt[k - 1].val[e];
            if (a == 0) continue;
            uint32_t *c = ctx1;
            if (k > 1) {
                int64_t s = index_insert(&ctx[k - 1], cnt[k - 1].keys + (size_t)e * k, NULL);
                if (s < 0) goto oom;
                c = ctx[k - 1].val + (size_t)s * CTX_NVAL;
            }
            c[CTX_TOTAL] += a;
            c[a >= 3 ? CTX_N3 : a == 2 ? CTX_N2 : CTX_N1]++;
        }
    }
    /* Interpolated probabilities, lowest order first (C&G eq. 17). */
    for (int k = 1; k <= N; k++) {
        const gram_index *g = &cnt[k - 1];
        const double *d = m->discount[k - 1];
        prob[k - 1] = malloc((size_t)(g->n ? g->n : 1) * sizeof(double));
        if (!prob[k - 1]) goto oom;
        for (uint32_t e = 0; e < g->n; e++) {
            const uint32_t *gk = g->keys + (size_t)e * k;
            uint32_t a = g->val[e];
            const uint32_t *c = ctx1;
            if (k > 1) c = ctx[k - 1].val + (size_t)index_find(&ctx[k - 1], gk) * CTX_NVAL;
            double lower = 1.0 / V;
            if (k > 1) lower = prob[k - 2][index_find(&cnt[k - 2], gk + 1)];
            double D = a == 0 ? 0 : a == 1 ? d[0] : a == 2 ? d[1] : d[2];
            double p = c[CTX_TOTAL] ? (a > D ? (a - D) / c[CTX_TOTAL] : 0) +
                                          gamma_of(c, d) * lower
                                    : lower;
            prob[k - 1][e] = p;
        }
    }
    /* Keep the keys, log10 probabilities and back-off weights: bow(h) is
     * gamma_{k+1}(h) when h was seen as a context, else 1. */
    for (int k = 1; k <= N; k++) {
        gram_index *g = &cnt[k - 1];
        m->logp[k - 1] = malloc((size_t)(g->n ? g->n : 1) * sizeof(float));
        m->logbow[k - 1] = malloc((size_t)(g->n ? g->n : 1) * sizeof(float));
        if (!m->logp[k - 1] || !m->logbow[k - 1]) goto oom;
        for (uint32_t e = 0; e < g->n; e++) {
            double bow = 1;
            if (k < N) {
                int64_t s = index_find(&ctx[k], g->keys + (size_t)e * k);
                if (s >= 0) bow = gamma_of(ctx[k].val + (size_t)s * CTX_NVAL, m->discount[k]);
            }
            m->logp[k - 1][e] = (float)log10(prob[k - 1][e]);
            m->logbow[k - 1][e] = (float)log10(bow);
        }
        free(g->val);
        g->val = NULL;
        g->nval = 0;
        m->grams[k - 1] = *g;
        *g = (gram_index){ 0 };
    }
    for (int k = 0; k < N; k++) {
        index_free(&ctx[k]);
        free(prob[k]);
    }
    return m;
oom:
    weft_say(err, errsize, "n-gram: out of memory while training on %zu tokens", n);
    for (int k = 0; k < N; k++) {
        index_free(&cnt[k]);
        index_free(&ctx[k]);
        free(prob[k]);
    }
    weft_ngram_free(m);
    return NULL;
}

/* --- probabilities ---------------------------------------------------------------------- */

/* The backoff computation (ARPA semantics): the longest n-gram (h_i .. h_m w)
 * the model has gives the probability, times the back-off weights of the
 * longer contexts that were skipped. Returns log10 p, or -INFINITY. */
static double log10_prob(const weft_ngram *m, const int *context, size_t n_context, int word)
{
    if (word < 0 || word >= m->V) return -INFINITY;
    size_t start = n_context > (size_t)(m->order - 1) ? n_context - (size_t)(m->order - 1) : 0;
    if (m->sentences)
        for (size_t i = n_context; i-- > start;)
            if (context[i] == m->eos) {
                start = i;
                break;
            }
    uint32_t key[WEFT_NGRAM_MAX_ORDER];
    int len = (int)(n_context - start);        /* context tokens used */
    for (int q = 0; q < len; q++) {
        int id = context[start + (size_t)q];
        if (id < 0 || id >= m->V) return -INFINITY;
        key[q] = (uint32_t)id;
    }
    key[len] = (uint32_t)word;
    double bow = 0;
    for (int c = len;; c--) {
        /* the n-gram of the last c context tokens and the word, order c + 1 */
        int64_t e = index_find(&m->grams[c], key + len - c);
        if (e >= 0) return bow + m->logp[c][e];
        if (c == 0) return -INFINITY;
        int64_t h = index_find(&m->grams[c - 1], key + len - c);
        if (h >= 0) bow += m->logbow[c - 1][h];
    }
}

double weft_ngram_logprob(const weft_ngram *m, const int *context, size_t n_context, int word)
{
    return log10_prob(m, context, n_context, word) * LN10;
}

void weft_ngram_distribution(const weft_ngram *m, const int *context, size_t n_context,
                             double *probs)
{
    for (int w = 0; w < m->V; w++) probs[w] = pow(10.0, log10_prob(m, context, n_context, w));
}

int weft_ngram_perplexity(const weft_ngram *m, const int *ids, size_t n, weft_ngram_score *out,
                          char *err, size_t errsize)
{
    if (n < 2) {
        weft_say(err, errsize, "n-gram: %zu tokens; perplexity needs at least 2", n);
        return -1;
    }
    double sum = 0;
    for (size_t i = 1; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= m->V) {
            weft_say(err, errsize, "n-gram: token %zu has id %d, outside the vocabulary of %d", i,
                ids[i], m->V);
            return -1;
        }
        double lp = log10_prob(m, ids, i, ids[i]);
        if (!isfinite(lp)) {
            weft_say(err, errsize, "n-gram: token %zu ('%s') has probability 0 in this model", i,
                weft_vocab_token(m->vocab, ids[i]));
            return -1;
        }
        sum += lp;
    }
    out->logprob = sum * LN10;
    out->tokens = n - 1;
    out->perplexity = exp(-out->logprob / (double)out->tokens);
    return 0;
}

/* --- sampling ----------------------------------------------------------------------------- */

typedef struct scored {
    double p;
    int id;
} scored;

static int by_p_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform53(weft_rng *r)
{
    uint32_t a = weft_rng_u32(r) >> 5, b = weft_rng_u32(r) >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

int weft_ngram_sample(const weft_ngram *m, const int *context, size_t n_context,
                      double temperature, int top_k, weft_rng *rng)
{
    int V = m->V;
    scored *s = malloc((size_t)V * sizeof *s);
    if (!s) return 0;
    /* p^(1/T), scaled by the largest so that nothing overflows */
    double max = -INFINITY;
    for (int w = 0; w < V; w++) {
        s[w] = (scored){ log10_prob(m, context, n_context, w), w };
        if (s[w].p > max) max = s[w].p;
    }
    double T = temperature > 0 ? temperature : 1;
    for (int w = 0; w < V; w++) s[w].p = pow(10.0, (s[w].p - max) / T);
    int n = V;
    if (top_k > 0 && top_k < V) {
        qsort(s, (size_t)V, sizeof *s, by_p_desc);
        n = top_k;
    }
    double total = 0;
    for (int i = 0; i < n; i++) total += s[i].p;
    double u = uniform53(rng) * total, acc = 0;
    int pick = s[n - 1].id;
    for (int i = 0; i < n; i++) {
        acc += s[i].p;
        if (u < acc) {
            pick = s[i].id;
            break;
        }
    }
    free(s);
    return pick;
}

/* --- saving: ARPA ------------------------------------------------------------------------- */

/* Write to a temporary file beside path, flush it to disk, rename it over path. */
static int write_atomically(const weft_ngram *m, const char *path, char *err, size_t errsize);

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
            return true;
    return false;
}

static int write_arpa(const weft_ngram *m, FILE *f)
{
    fprintf(f, "weft n-gram model: interpolated modified Kneser-Ney\n");
    fprintf(f, "weft.order %d\n", m->order);
    fprintf(f, "weft.context %s\n", m->sentences ? "sentence" : "stream");
    for (int k = 1; k <= m->order; k++)
        fprintf(f, "weft.discounts %d %.9g %.9g %.9g\n", k, m->discount[k - 1][0],
                m->discount[k - 1][1], m->discount[k - 1][2]);
    fprintf(f, "\n\\data\\\n");
    for (int k = 1; k <= m->order; k++) fprintf(f, "ngram %d=%u\n", k, m->grams[k - 1].n);
    for (int k = 1; k <= m->order; k++) {
        const gram_index *g = &m->grams[k - 1];
        fprintf(f, "\n\\%d-grams:\n", k);
        for (uint32_t e = 0; e < g->n; e++) {
            fprintf(f, "%.9g\t", (double)m->logp[k - 1][e]);
            for (int q = 0; q < k; q++)
                fprintf(f, "%s%s", q ? " " : "",
                        weft_vocab_token(m->vocab, (int)g->keys[(size_t)e * k + q]));
            if (k < m->order && m->logbow[k - 1][e] != 0)
                fprintf(f, "\t%.9g", (double)m->logbow[k - 1][e]);
            fputc('\n', f);
        }
    }
    fprintf(f, "\n\\end\\\n");
    return ferror(f) ? -1 : 0;
}

int weft_ngram_save(const weft_ngram *m, const char *path, char *err, size_t errsize)
{
    for (int id = 0; id < m->V; id++) {
        const char *tok = weft_vocab_token(m->vocab, id);
        if (!tok[0] || has_space(tok)) {
            weft_say(err, errsize, "%s: token %d ('%s') is empty or holds white space, which an "
                "ARPA " "file cannot store (word-level vocabularies only)", path, id, tok);
            return -1;
        }
    }
    return write_atomically(m, path, err, errsize);
}

static int write_arpa_file(FILE *f, const void *m)
{
    return write_arpa(m, f);
}

static int write_atomically(const weft_ngram *m, const char *path, char *err, size_t errsize)
{
    return weft_replace_file(path, write_arpa_file, m, err, errsize);
}

/* --- loading: ARPA ------------------------------------------------------------------------ */

typedef struct reader {
    char *buf;          /* the whole file, NUL-terminated, cut into lines in place */
    size_t len, at;
    size_t line;        /* number of the line last returned */
} reader;

/* The next line (its '\n' replaced by NUL; a final '\r' dropped), or NULL at the end. */
static char *next_line(reader *r)
{
    if (r->at >= r->len) return NULL;
    char *s = r->buf + r->at;
    char *nl = memchr(s, '\n', r->len - r->at);
    size_t n = nl ? (size_t)(nl - s) : r->len - r->at;
    s[n] = '\0';
    if (n > 0 && s[n - 1] == '\r') s[n - 1] = '\0';
    r->at += n + 1;
    r->line++;
    return s;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return false;
    return true;
}

/* Split s on spaces and tabs in place into at most max fields; returns the count
 * (max + 1 when there are more). */
static int fields(char *s, char **out, int max)
{
    int n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t') *s++ = '\0';
        if (!*s) break;
        if (n == max) return max + 1;
        out[n++] = s;
        while (*s && *s != ' ' && *s != '\t') s++;
    }
    return n;
}

static bool parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || isnan(v)) return false;
    *out = v;
    return true;
}

static int read_file(const char *path, reader *r, char *err, size_t errsize)
{
    *r = (reader){ 0 };
    FILE *f = fopen(path, "rb");
    if (!f) {
        weft_say(err, errsize, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    for (;;) {
        if (cap - r->len < 65536) {
            cap = cap ? 2 * cap : 1 << 20;
            char *b = realloc(r->buf, cap + 1);
            if (!b) {
                fclose(f);
                free(r->buf);
                weft_say(err, errsize, "%s: out of memory reading %zu bytes", path, r->len);
                return -1;
            }
            r->buf = b;
        }
        size_t got = fread(r->buf + r->len, 1, cap - r->len, f);
        r->len += got;
        if (got == 0) break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(r->buf);
        weft_say(err, errsize, "%s: read error after %zu bytes", path, r->len);
        return -1;
    }
    r->buf[r->len] = '\0';
    return 0;
}

weft_ngram *weft_ngram_load(const char *path, char *err, size_t errsize)
{
    reader r;
    if (read_file(path, &r, err, errsize)) return NULL;
    weft_ngram *m = model_new(0, false, NULL);
    if (!m) {
        free(r.buf);
        weft_say(err, errsize, "%s: out of memory", path);
        return NULL;
    }
    size_t declared[WEFT_NGRAM_MAX_ORDER] = { 0 };
    char *line, *f[WEFT_NGRAM_MAX_ORDER + 2];
    bool sentences = false;

    /* Anything before \data\ is free text; weft writes its settings there. */
    for (;;) {
        line = next_line(&r);
        if (!line) {
            weft_say(err, errsize, "%s: no \\data\\ line: not an ARPA n-gram file", path);
            goto fail;
        }
        if (strcmp(line, "\\data\\") == 0) break;
        int nf = fields(line, f, 5);
        if (nf == 2 && strcmp(f[0], "weft.context") == 0) {
            if (strcmp(f[1], "sentence") != 0 && strcmp(f[1], "stream") != 0) {
                weft_say(err, errsize, "%s: line %zu: weft.context is '%s', not stream or sentence",
                    path, r.line, f[1]);
                goto fail;
            }
            sentences = strcmp(f[1], "sentence") == 0;
        } else if (nf == 5 && strcmp(f[0], "weft.discounts") == 0) {
            int k = atoi(f[1]);
            double d[3];
            if (k < 1 || k > WEFT_NGRAM_MAX_ORDER || !parse_number(f[2], &d[0]) ||
                !parse_number(f[3], &d[1]) || !parse_number(f[4], &d[2])) {
                weft_say(err, errsize, "%s: line %zu: weft.discounts needs an order in [1, %d] and "
                    "three numbers", path, r.line, WEFT_NGRAM_MAX_ORDER);
                goto fail;
            }
            for (int q = 0; q < 3; q++) m->discount[k - 1][q] = d[q];
        }
    }
    /* "ngram k=count" for k = 1, 2, ... */
    for (;;) {
        line = next_line(&r);
        if (!line) {
            weft_say(err, errsize, "%s: the file ends inside the \\data\\ section", path);
            goto fail;
        }
        if (blank(line)) {
            if (m->order > 0) break;
            continue;
        }
        int k;
        long long count;
        char extra;
        if (sscanf(line, " ngram %d = %lld %c", &k, &count, &extra) != 2) {
            weft_say(err, errsize, "%s: line %zu: expected 'ngram K=COUNT', found '%s'", path,
                r.line, line);
            goto fail;
        }
        if (k != m->order + 1) {
            weft_say(err, errsize, "%s: line %zu: expected the count of %d-grams, found %d-grams",
                path, r.line, m->order + 1, k);
            goto fail;
        }
        if (k > WEFT_NGRAM_MAX_ORDER) {
            weft_say(err, errsize, "%s: line %zu: order %d is above the largest weft handles (%d)",
                path, r.line, k, WEFT_NGRAM_MAX_ORDER);
            goto fail;
        }
        /* each entry takes at least 2 k + 2 bytes: a number, k words, separators */
        if (count < 0 || (unsigned long long)count * (2 * (unsigned)k + 2) > r.len) {
            weft_say(err, errsize, "%s: line %zu: %lld %d-grams cannot fit in a file of %zu bytes",
                path, r.line, count, k, r.len);
            goto fail;
        }
        declared[k - 1] = (size_t)count;
        m->order = k;
    }
    if (declared[0] == 0) {
        weft_say(err, errsize, "%s: line %zu: the model has no 1-grams", path, r.line);
        goto fail;
    }
    for (int k = 1; k <= m->order; k++) {
        gram_index *g = &m->grams[k - 1];
        size_t want = declared[k - 1];
        if (index_reserve(g, want ? want : 1)) goto oom;
        m->logp[k - 1] = malloc((want ? want : 1) * sizeof(float));
        m->logbow[k - 1] = malloc((want ? want : 1) * sizeof(float));
        if (!m->logp[k - 1] || !m->logbow[k - 1]) goto oom;
        do {
            line = next_line(&r);
        } while (line && blank(line));
        char header[32];
        snprintf(header, sizeof header, "\\%d-grams:", k);
        if (!line || strcmp(line, header) != 0) {
            weft_say(err, errsize, "%s: line %zu: expected '%s'", path, r.line, header);
            goto fail;
        }
        for (size_t got = 0; got < want;) {
            line = next_line(&r);
            if (!line) {
                weft_say(err, errsize, "%s: the file ends after %zu of the %zu %d-grams", path, got,
                    want, k);
                goto fail;
            }
            if (blank(line)) continue;
            if (line[0] == '\\') {
                weft_say(err, errsize, "%s: line %zu: '%s' after %zu of the %zu %d-grams declared",
                    path, r.line, line, got, want, k);
                goto fail;
            }
            int nf = fields(line, f, k + 2);
            double lp, bow = 0;
            if (nf < k + 1 || nf > k + 2) {
                weft_say(err, errsize, "%s: line %zu: expected a log-probability, %d word%s and an "
                    "optional back-off weight; found %s%d fields", path, r.line, k,
                    k > 1 ? "s" : "", nf > k + 2 ? "more than " : "", nf > k + 2 ? k + 2 : nf);
                goto fail;
            }
            if (!parse_number(f[0], &lp) || lp > 0) {
                weft_say(err, errsize, "%s: line %zu: '%s' is not a log10 probability (a number <= "
                    "0)", path, r.line, f[0]);
                goto fail;
            }
            if (nf == k + 2 && (!parse_number(f[k + 1], &bow) || !isfinite(bow))) {
                weft_say(err, errsize, "%s: line %zu: back-off weight '%s' is not a number", path,
                    r.line, f[k + 1]);
                goto fail;
            }
            uint32_t key[WEFT_NGRAM_MAX_ORDER];
            for (int q = 0; q < k; q++) {
                int id = weft_vocab_find(m->vocab, f[1 + q], strlen(f[1 + q]));
                if (k == 1) {
                    if (id >= 0) {
                        weft_say(err, errsize, "%s: line %zu: the word '%s' is listed twice", path,
                            r.line, f[1]);
                        goto fail;
                    }
                    id = weft_vocab_add(m->vocab, f[1], strlen(f[1]));
                    if (id < 0) goto oom;
                } else if (id < 0) {
                    weft_say(err, errsize, "%s: line %zu: the word '%s' is not among the 1-grams",
                        path, r.line, f[1 + q]);
                    goto fail;
                }
                key[q] = (uint32_t)id;
            }
            bool added;
            int64_t e = index_insert(g, key, &added);
            if (e < 0) goto oom;
            if (!added) {
                weft_say(err, errsize, "%s: line %zu: this %d-gram is listed twice", path, r.line,
                    k);
                goto fail;
            }
            m->logp[k - 1][e] = (float)lp;
            m->logbow[k - 1][e] = (float)bow;
            got++;
        }
    }
    do {
        line = next_line(&r);
    } while (line && blank(line));
    if (!line || strcmp(line, "\\end\\") != 0) {
        weft_say(err, errsize, "%s: line %zu: expected '\\end\\' after the %d-grams", path, r.line,
            m->order);
        goto fail;
    }
    m->V = weft_vocab_size(m->vocab);
    m->eos = weft_vocab_find(m->vocab, WEFT_EOS, strlen(WEFT_EOS));
    m->sentences = sentences;
    if (sentences && m->eos < 0) {
        weft_say(err, errsize, "%s: sentence context, but \"%s\" is not among the 1-grams", path,
            WEFT_EOS);
        goto fail;
    }
    free(r.buf);
    return m;
oom:
    weft_say(err, errsize, "%s: line %zu: out of memory", path, r.line);
fail:
    free(r.buf);
    weft_ngram_free(m);
    return NULL;
}

bool weft_ngram_file_is_arpa(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n > 8 && buf[8] == '{') return false;          /* a safetensors header */
    return strncmp(buf, "\\data\\", 6) == 0 || strstr(buf, "\n\\data\\") != NULL ||
           strncmp(buf, "weft n-gram model", 17) == 0;
}
