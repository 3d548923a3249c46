/* models/seq2seq/data.c — parallel corpora, vocabularies with the special
 * tokens, and the generated tasks (reverse, sort, add). */
#include "models/seq2seq/seq2seq_internal.h"

#include "src/internal.h"

#include <stdlib.h>
#include <string.h>

static bool is_eos(const weft_tokens *t, size_t k)
{
    uint32_t len;
    const char *s = weft_token(t, k, &len);
    return len == strlen(WEFT_EOS) && memcmp(s, WEFT_EOS, len) == 0;
}

typedef struct count_entry {
    int id, count;
} count_entry;

static int by_count(const void *a, const void *b)
{
    const count_entry *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->id - y->id;   /* first seen first */
}

weft_vocab *weft_seq2seq_vocab(const weft_tokens *t, int min_count, int max_size, char *err,
                               size_t errsize)
{
    weft_vocab *seen = weft_vocab_new(), *v = weft_vocab_new();
    int *count = NULL, cap = 0;
    count_entry *order = NULL;
    if (!seen || !v) goto oom;
    for (size_t k = 0; k < t->count; k++) {
        if (is_eos(t, k)) continue;
        uint32_t len;
        const char *s = weft_token(t, k, &len);
        int id = weft_vocab_add(seen, s, len);
        if (id < 0) goto oom;
        if (id >= cap) {
            int nc = cap ? cap * 2 : 1024;
            int *c = realloc(count, (size_t)nc * sizeof *c);
            if (!c) goto oom;
            memset(c + cap, 0, (size_t)(nc - cap) * sizeof *c);
            count = c;
            cap = nc;
        }
        count[id]++;
    }
    int n = weft_vocab_size(seen);
    order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) goto oom;
    for (int i = 0; i < n; i++) order[i] = (count_entry){ i, count[i] };
    qsort(order, (size_t)n, sizeof *order, by_count);
    for (int i = 0; i < 3; i++)
        if (weft_vocab_add(v, (const char *[]){ "<s>", "</s>", "<unk>" }[i],
                           strlen((const char *[]){ "<s>", "</s>", "<unk>" }[i])) != i)
            goto oom;
    for (int i = 0; i < n; i++) {
        if (order[i].count < min_count) break;
        if (max_size > 0 && weft_vocab_size(v) >= max_size) break;
        const char *tok = weft_vocab_token(seen, order[i].id);
        if (weft_vocab_find(v, tok, strlen(tok)) >= 0) continue;   /* a special in the text */
        if (weft_vocab_add(v, tok, strlen(tok)) < 0) goto oom;
    }
    weft_vocab_free(seen);
    free(count);
    free(order);
    return v;
oom:
    weft_say(err, errsize, "vocabulary: out of memory");
    weft_vocab_free(seen);
    weft_vocab_free(v);
    free(count);
    free(order);
    return NULL;
}

void weft_s2s_corpus_free(weft_s2s_corpus *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->src) free(c->src[i]);
        if (c->tgt) free(c->tgt[i]);
    }
    free(c->src);
    free(c->tgt);
    free(c->src_len);
    free(c->tgt_len);
    *c = (weft_s2s_corpus){ 0 };
}

/* The sentences (lines) of t as ids of v (unknown: <unk>) into sent/len; *n of them. */
static int split_lines(const weft_tokens *t, const weft_vocab *v, int ***sent, int **lens,
                       int *n, const char *name, bool refuse_empty, char *err, size_t errsize)
{
    int lines = 0;
    for (size_t k = 0; k < t->count; k++) lines += is_eos(t, k);
    *sent = calloc((size_t)(lines ? lines : 1), sizeof **sent);
    *lens = calloc((size_t)(lines ? lines : 1), sizeof **lens);
    *n = lines;
    if (!*sent || !*lens) {
        weft_say(err, errsize, "%s: out of memory", name);
        return -1;
    }
    size_t k = 0;
    for (int i = 0; i < lines; i++) {
        size_t k0 = k;
        while (!is_eos(t, k)) k++;
        int len = (int)(k - k0);
        if (len == 0 && refuse_empty) {
            weft_say(err, errsize, "%s: line %d is empty: every source sentence needs a word",
                     name, i + 1);
            return -1;
        }
        (*sent)[i] = malloc((size_t)(len ? len : 1) * sizeof(int));
        if (!(*sent)[i]) {
            weft_say(err, errsize, "%s: out of memory", name);
            return -1;
        }
        for (int j = 0; j < len; j++) {
            uint32_t tl;
            const char *s = weft_token(t, k0 + (size_t)j, &tl);
            int id = weft_vocab_find(v, s, tl);
            (*sent)[i][j] = id >= 0 ? id : WEFT_S2S_UNK;
        }
        (*lens)[i] = len;
        k++;
    }
    return 0;
}

/* Free a corpus whose two sides were read apart: ns source and nt target
 * sentences (they differ when the files do), and zero it. */
static void corpus_free_sides(weft_s2s_corpus *c, int ns, int nt)
{
    for (int i = 0; c->src && i < ns; i++) free(c->src[i]);
    for (int i = 0; c->tgt && i < nt; i++) free(c->tgt[i]);
    free(c->src);
    free(c->tgt);
    free(c->src_len);
    free(c->tgt_len);
    *c = (weft_s2s_corpus){ 0 };
}

static int corpus_from_tokens(const weft_tokens *st, const weft_tokens *tt, const char *sname,
                              const char *tname, const weft_vocab *sv, const weft_vocab *tv,
                              weft_s2s_corpus *c, char *err, size_t errsize)
{
    int ns = 0, nt = 0;
    if (split_lines(st, sv, &c->src, &c->src_len, &ns, sname, true, err, errsize)) {
        corpus_free_sides(c, ns, 0);
        return -1;
    }
    if (split_lines(tt, tv, &c->tgt, &c->tgt_len, &nt, tname, false, err, errsize)) {
        corpus_free_sides(c, ns, nt);
        return -1;
    }
    if (ns != nt) {
        weft_say(err, errsize, "%s has %d lines but %s has %d: a parallel corpus needs one "
                 "translation a line", sname, ns, tname, nt);
        corpus_free_sides(c, ns, nt);
        return -1;
    }
    c->n = ns;
    return 0;
}

int weft_s2s_corpus_read(const char *src_path, const char *tgt_path, const weft_vocab *src_vocab,
                         const weft_vocab *tgt_vocab, weft_s2s_corpus *c, char *err,
                         size_t errsize)
{
    *c = (weft_s2s_corpus){ 0 };
    weft_tokens st = { 0 }, tt = { 0 };
    int rc = -1;
    if (weft_tokens_read(src_path, WEFT_TEXT_WORDS, &st, err, errsize) ||
        weft_tokens_read(tgt_path, WEFT_TEXT_WORDS, &tt, err, errsize))
        goto done;
    rc = corpus_from_tokens(&st, &tt, src_path, tgt_path, src_vocab, tgt_vocab, c, err, errsize);
done:
    if (rc) weft_s2s_corpus_free(c);
    weft_tokens_free(&st);
    weft_tokens_free(&tt);
    return rc;
}

int weft_s2s_corpus_from_text(const char *src_text, const char *tgt_text, const char *name,
                              const weft_vocab *src_vocab, const weft_vocab *tgt_vocab,
                              weft_s2s_corpus *c, char *err, size_t errsize)
{
    *c = (weft_s2s_corpus){ 0 };
    weft_tokens st = { 0 }, tt = { 0 };
    int rc = -1;
    if (weft_tokens_from_string(src_text, strlen(src_text), name, WEFT_TEXT_WORDS, &st, err,
                                errsize) ||
        weft_tokens_from_string(tgt_text, strlen(tgt_text), name, WEFT_TEXT_WORDS, &tt, err,
                                errsize))
        goto done;
    rc = corpus_from_tokens(&st, &tt, name, name, src_vocab, tgt_vocab, c, err, errsize);
done:
    if (rc) weft_s2s_corpus_free(c);
    weft_tokens_free(&st);
    weft_tokens_free(&tt);
    return rc;
}

/* --- generated tasks ---------------------------------------------------------------------- */

typedef struct text_buf {
    char *s;
    size_t len, cap;
} text_buf;

static int put(text_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + n + 1) nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p) return -1;
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The digits of x >= 0, space-separated, into out[64] (most significant first). */
static void digits_of(long x, char *out)
{
    char d[24];
    int n = snprintf(d, sizeof d, "%ld", x);
    if (n < 1 || n > 20) n = 1, d[0] = '0';
    for (int i = 0; i < n; i++) {
        out[2 * i] = d[i];
        out[2 * i + 1] = i + 1 < n ? ' ' : '\0';
    }
}

int weft_s2s_generate(const char *task, int n, int min_len, int max_len, weft_rng *rng,
                      char **src_text, char **tgt_text, char *err, size_t errsize)
{
    *src_text = *tgt_text = NULL;
    bool add = strcmp(task, "add") == 0;
    if (!add && strcmp(task, "reverse") != 0 && strcmp(task, "sort") != 0) {
        weft_say(err, errsize, "unknown generated task '%s' (reverse, sort, add)", task);
        return -1;
    }
    if (n < 1 || max_len < 1 || max_len > 256 || (!add && (min_len < 1 || min_len > max_len)) ||
        (add && max_len > 9)) {
        weft_say(err, errsize, "%s: bad sizes (examples %d, lengths %d..%d; add: up to 9 digits)",
                 task, n, min_len, max_len);
        return -1;
    }
    text_buf s = { 0 }, t = { 0 };
    for (int i = 0; i < n; i++) {
        char a[600], b[600];
        if (add) {
            long x[2];
            for (int k = 0; k < 2; k++) {
                int digits = 1 + (int)weft_rng_below(rng, (uint32_t)max_len);
                long lim = 1;
                for (int d = 0; d < digits; d++) lim *= 10;
                x[k] = (long)weft_rng_below(rng, (uint32_t)lim);
            }
            char da[64], db[64];
            digits_of(x[0], da);
            digits_of(x[1], db);
            snprintf(a, sizeof a, "%s + %s\n", da, db);
            digits_of(x[0] + x[1], b);
            strcat(b, "\n");
        } else {
            int len = min_len + (int)weft_rng_below(rng, (uint32_t)(max_len - min_len + 1));
            int d[256], o[256];
            for (int k = 0; k < len; k++) d[k] = (int)weft_rng_below(rng, 10);
            for (int k = 0; k < len; k++) o[k] = add ? 0 : d[len - 1 - k];
            if (task[0] == 's') {
                memcpy(o, d, (size_t)len * sizeof(int));
                qsort(o, (size_t)len, sizeof(int), cmp_int);
            }
            for (int k = 0; k < len; k++) {
                a[2 * k] = (char)('0' + d[k]);
                b[2 * k] = (char)('0' + o[k]);
                a[2 * k + 1] = b[2 * k + 1] = k + 1 < len ? ' ' : '\n';
            }
            a[2 * len] = b[2 * len] = '\0';
        }
        if (put(&s, a) || put(&t, b)) {
            free(s.s);
            free(t.s);
            weft_say(err, errsize, "%s: out of memory", task);
            return -1;
        }
    }
    *src_text = s.s;
    *tgt_text = t.s;
    return 0;
}
