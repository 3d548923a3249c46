/* models/vectors/vectors.c — word2vec's vector files, neighbours, analogies,
 * similarity (weft/vectors.h). */
#include "weft/vectors.h"

#include "src/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- the struct ------------------------------------------------------------------------- */

void weft_vectors_free(weft_vectors *v)
{
    if (!v) return;
    weft_vocab_free(v->words);
    free(v->data);
    free(v->unit);
    free(v);
}

/* An empty set of count x dim vectors (rows to be filled), words not yet added. */
static weft_vectors *vectors_alloc(int count, int dim)
{
    weft_vectors *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->count = count;
    v->dim = dim;
    v->words = weft_vocab_new();
    v->data = malloc((size_t)count * (size_t)dim * sizeof *v->data);
    v->unit = malloc((size_t)count * (size_t)dim * sizeof *v->unit);
    if (!v->words || !v->data || !v->unit) {
        weft_vectors_free(v);
        return NULL;
    }
    return v;
}

/* unit = data with every row scaled to length 1. */
static void normalise(weft_vectors *v)
{
    for (int i = 0; i < v->count; i++) {
        const float *x = v->data + (size_t)i * v->dim;
        float *u = v->unit + (size_t)i * v->dim;
        double ss = 0;
        for (int j = 0; j < v->dim; j++) ss += (double)x[j] * x[j];
        float s = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int j = 0; j < v->dim; j++) u[j] = x[j] * s;
    }
}

weft_vectors *weft_vectors_from(const char *const *words, const float *data, int count, int dim,
                                char *err, size_t errsize)
{
    if (count < 1 || dim < 1 || dim > WEFT_VECTORS_MAX_DIM) {
        weft_say(err, errsize, "vectors: bad size %d x %d", count, dim);
        return NULL;
    }
    weft_vectors *v = vectors_alloc(count, dim);
    if (!v) {
        weft_say(err, errsize, "vectors: out of memory for %d x %d", count, dim);
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        size_t len = strlen(words[i]);
        int id = weft_vocab_add(v->words, words[i], len);
        if (id != i) {
            weft_say(err, errsize, id < 0 ? "vectors: out of memory" :
                    "vectors: the word '%s' appears twice (rows %d and %d)", words[i], id + 1,
                    i + 1);
            weft_vectors_free(v);
            return NULL;
        }
    }
    memcpy(v->data, data, (size_t)count * dim * sizeof *data);
    normalise(v);
    return v;
}

int weft_vectors_find(const weft_vectors *v, const char *word)
{
    return weft_vocab_find(v->words, word, strlen(word));
}

/* --- reading ------------------------------------------------------------------------------ */

/* A cursor over the file's bytes, which end in a NUL at bytes[len]. */
typedef struct reader {
    const char *s;
    size_t len, pos;
    int line;           /* 1-based, of s[pos] (text) */
    const char *name;
    char *err;
    size_t errsize;
} reader;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void skip_blanks(reader *r)
{
    while (r->pos < r->len && is_blank(r->s[r->pos])) r->pos++;
}

/* A decimal integer in [1, max] (digits only). */
static int read_count(reader *r, long max, long *out, const char *what)
{
    skip_blanks(r);
    long x = 0;
    size_t start = r->pos;
    while (r->pos < r->len && isdigit((unsigned char)r->s[r->pos])) {
        x = x * 10 + (r->s[r->pos++] - '0');
        if (x > max) {
            weft_say(r->err, r->errsize, "%s: line 1: the header's %s is over %ld", r->name, what,
                    max);
            return -1;
        }
    }
    if (r->pos == start || x < 1) {
        weft_say(r->err, r->errsize, "%s: line 1: the header is not 'WORDS DIMENSIONS' (the %s "
                "is missing or 0)", r->name, what);
        return -1;
    }
    *out = x;
    return 0;
}

/* The word at r->pos, up to a blank or line end: [*start, *start + *n). */
static int read_word(reader *r, size_t *start, size_t *n, const char *where_fmt, long where)
{
    *start = r->pos;
    while (r->pos < r->len && r->s[r->pos] != ' ' && r->s[r->pos] != '\t' &&
           r->s[r->pos] != '\n') {
        if (r->s[r->pos] == '\0') {
            weft_say(r->err, r->errsize, "%s: %s %ld: a NUL byte in a word", r->name, where_fmt,
                    where);
            return -1;
        }
        r->pos++;
        if (r->pos - *start > WEFT_VECTORS_MAX_WORD) {
            weft_say(r->err, r->errsize, "%s: %s %ld: a word longer than %d bytes", r->name,
                    where_fmt, where, WEFT_VECTORS_MAX_WORD);
            return -1;
        }
    }
    *n = r->pos - *start;
    if (*n == 0) {
        weft_say(r->err, r->errsize, "%s: %s %ld: %s", r->name, where_fmt, where,
                r->pos >= r->len ? "the file ends before the rows the header promises"
                                 : "an empty word (a blank line or a line starting with a space)");
        return -1;
    }
    return 0;
}

/* One text row: word and dim finite numbers, then the line end (or the file's
 * end). With quiet set, no message (used to guess the format). */
static int read_text_row(reader *r, int dim, float *row, size_t *wstart, size_t *wlen, bool quiet)
{
    char *err = r->err;
    if (quiet) r->err = NULL;
    int rc = -1;
    if (read_word(r, wstart, wlen, "line", r->line)) goto done;
    for (int j = 0; j < dim; j++) {
        skip_blanks(r);
        if (r->pos >= r->len || r->s[r->pos] == '\n') {
            weft_say(r->err, r->errsize, "%s: line %d: a short row: %d values, %d expected",
                    r->name, r->line, j, dim);
            goto done;
        }
        char *end;
        errno = 0;
        float x = strtof(r->s + r->pos, &end);
        if (end == r->s + r->pos || (end < r->s + r->len && !isspace((unsigned char)*end))) {
            weft_say(r->err, r->errsize, "%s: line %d: value %d is not a number", r->name,
                    r->line, j + 1);
            goto done;
        }
        if (!isfinite(x)) {
            weft_say(r->err, r->errsize, "%s: line %d: value %d is %s", r->name, r->line, j + 1,
                    isnan(x) ? "NaN" : "infinite or out of float range");
            goto done;
        }
        row[j] = x;
        r->pos = (size_t)(end - r->s);
    }
    skip_blanks(r);
    if (r->pos < r->len && r->s[r->pos] != '\n') {
        weft_say(r->err, r->errsize, "%s: line %d: more than %d values", r->name, r->line, dim);
        goto done;
    }
    if (r->pos < r->len) r->pos++;
    r->line++;
    rc = 0;
done:
    r->err = err;
    return rc;
}

/* One binary row: an optional '\n' (word2vec writes one after each row), the
 * word, one space, dim float32. */
static int read_binary_row(reader *r, int dim, float *row, size_t *wstart, size_t *wlen, long i)
{
    if (r->pos < r->len && r->s[r->pos] == '\n') r->pos++;
    size_t at = r->pos;
    if (read_word(r, wstart, wlen, "byte", (long)at)) return -1;
    if (r->pos >= r->len || r->s[r->pos] != ' ') {
        weft_say(r->err, r->errsize, "%s: byte %zu (row %ld): the word is not followed by a space",
                r->name, r->pos, i + 1);
        return -1;
    }
    r->pos++;
    size_t bytes = (size_t)dim * 4;
    if (r->len - r->pos < bytes) {
        weft_say(r->err, r->errsize, "%s: byte %zu (row %ld): a short row: the file ends inside "
                "its %d values", r->name, r->pos, i + 1, dim);
        return -1;
    }
    memcpy(row, r->s + r->pos, bytes);   /* little-endian float32, as x86 and ARM hold them */
    for (int j = 0; j < dim; j++)
        if (!isfinite(row[j])) {
            weft_say(r->err, r->errsize, "%s: byte %zu (row %ld): value %d is %s", r->name,
                    r->pos + 4 * (size_t)j, i + 1, j + 1, isnan(row[j]) ? "NaN" : "infinite");
            return -1;
        }
    r->pos += bytes;
    return 0;
}

weft_vectors *weft_vectors_parse(const char *bytes, size_t len, const char *name,
                                 weft_vectors_format format, char *err, size_t errsize)
{
    /* a NUL after the bytes, for strtof */
    char *s = malloc(len + 1);
    if (!s) {
        weft_say(err, errsize, "%s: out of memory", name);
        return NULL;
    }
    memcpy(s, bytes, len);
    s[len] = '\0';
    reader r = { .s = s, .len = len, .line = 1, .name = name, .err = err, .errsize = errsize };
    weft_vectors *v = NULL;
    float *row = NULL;
    long count, dim;
    if (read_count(&r, 1L << 30, &count, "word count") ||
        read_count(&r, WEFT_VECTORS_MAX_DIM, &dim, "dimension"))
        goto fail;
    skip_blanks(&r);
    if (r.pos >= r.len || r.s[r.pos] != '\n') {
        weft_say(err, errsize, "%s: line 1: the header is not 'WORDS DIMENSIONS'", name);
        goto fail;
    }
    r.pos++;
    r.line++;

    row = malloc((size_t)dim * sizeof *row);
    if (!row) goto oom;
    if (format == WEFT_VECTORS_AUTO) {
        reader probe = r;
        size_t ws, wl;
        format = read_text_row(&probe, (int)dim, row, &ws, &wl, true) == 0 ? WEFT_VECTORS_TEXT
                                                                          : WEFT_VECTORS_BINARY;
    }
    /* What the header claims must fit in the file before it is allocated: a
     * row is at least a 1-byte word and, per value, 2 bytes in text ("0 ")
     * or 4 in binary. */
    size_t rest = len - r.pos;
    size_t min_row = format == WEFT_VECTORS_TEXT ? 2 * (size_t)dim + 1 : 4 * (size_t)dim + 2;
    if ((size_t)count > rest / min_row + 1) {
        weft_say(err, errsize, "%s: line 1: the header claims %ld words of %ld values, more than "
                "the file's %zu bytes can hold in %s format", name, count, dim, len,
                format == WEFT_VECTORS_TEXT ? "text" : "binary");
        goto fail;
    }
    v = vectors_alloc((int)count, (int)dim);
    if (!v) goto oom;
    for (long i = 0; i < count; i++) {
        size_t ws, wl;
        int line = r.line;
        size_t at = r.pos;
        int rc = format == WEFT_VECTORS_TEXT
                     ? read_text_row(&r, (int)dim, row, &ws, &wl, false)
                     : read_binary_row(&r, (int)dim, row, &ws, &wl, i);
        if (rc) goto fail;
        int id = weft_vocab_add(v->words, r.s + ws, wl);
        if (id < 0) goto oom;
        if (id != i) {
            if (format == WEFT_VECTORS_TEXT)
                weft_say(err, errsize, "%s: line %d: the word '%.*s' appears again (first on "
                        "line %ld)", name, line, (int)wl, r.s + ws, (long)id + 2);
            else
                weft_say(err, errsize, "%s: byte %zu: the word '%.*s' appears again (first in "
                        "row %d)", name, at, (int)wl, r.s + ws, id + 1);
            goto fail;
        }
        memcpy(v->data + (size_t)i * dim, row, (size_t)dim * sizeof *row);
    }
    while (r.pos < r.len && (is_blank(r.s[r.pos]) || r.s[r.pos] == '\n')) r.pos++;
    if (r.pos < r.len) {
        if (format == WEFT_VECTORS_TEXT)
            weft_say(err, errsize, "%s: line %d: more rows than the header's %ld", name, r.line,
                    count);
        else
            weft_say(err, errsize, "%s: byte %zu: more bytes after the header's %ld rows", name,
                    r.pos, count);
        goto fail;
    }
    normalise(v);
    free(row);
    free(s);
    return v;
oom:
    weft_say(err, errsize, "%s: out of memory", name);
fail:
    weft_vectors_free(v);
    free(row);
    free(s);
    return NULL;
}

weft_vectors *weft_vectors_read(const char *path, weft_vectors_format format, char *err,
                                size_t errsize)
{
    char *buf;
    size_t len;
    if (weft_read_file(path, &buf, &len, err, errsize)) return NULL;
    weft_vectors *v = weft_vectors_parse(buf, len, path, format, err, errsize);
    free(buf);
    return v;
}

/* --- writing ------------------------------------------------------------------------------ */

/* The rows in the chosen format; 0, or -1 on a write error. */
static int write_rows(const weft_vectors *v, FILE *f, weft_vectors_format format)
{
    fprintf(f, "%d %d\n", v->count, v->dim);
    for (int i = 0; i < v->count; i++) {
        const float *x = v->data + (size_t)i * v->dim;
        fputs(weft_vocab_token(v->words, i), f);
        if (format == WEFT_VECTORS_BINARY) {
            fputc(' ', f);
            fwrite(x, sizeof *x, (size_t)v->dim, f);
        } else {
            /* %.9g: enough digits that a float reads back to the same float */
            for (int j = 0; j < v->dim; j++) fprintf(f, " %.9g", x[j]);
        }
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

typedef struct write_ctx {
    const weft_vectors *v;
    weft_vectors_format format;
} write_ctx;

static int write_vectors(FILE *f, const void *ctx)
{
    const write_ctx *c = ctx;
    return write_rows(c->v, f, c->format);
}

int weft_vectors_write(const weft_vectors *v, const char *path, weft_vectors_format format,
                       char *err, size_t errsize)
{
    write_ctx c = { v, format };
    return weft_replace_file(path, write_vectors, &c, err, errsize);
}

/* --- queries ------------------------------------------------------------------------------- */

static float dot(const float *a, const float *b, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

/* Insert (id, score) into the best-first lists ids/scores of *n (<= k) entries. */
static void top_insert(int *ids, float *scores, int *n, int k, int id, float score)
{
    if (*n == k && score <= scores[k - 1]) return;
    int i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && scores[i - 1] < score) {
        scores[i] = scores[i - 1];
        ids[i] = ids[i - 1];
        i--;
    }
    scores[i] = score;
    ids[i] = id;
}

static bool is_excluded(int id, const int *exclude, int n)
{
    for (int i = 0; i < n; i++)
        if (exclude[i] == id) return true;
    return false;
}

int weft_vectors_nearest(const weft_vectors *v, const float *query, const int *exclude,
                         int n_exclude, int limit, int k, int *ids, float *scores)
{
    if (k < 1) return 0;
    int end = limit > 0 && limit < v->count ? limit : v->count;
    double qq = 0;
    for (int j = 0; j < v->dim; j++) qq += (double)query[j] * query[j];
    float qs = qq > 0 ? (float)(1.0 / sqrt(qq)) : 0.0f;
    int n = 0;
    for (int i = 0; i < end; i++) {
        if (is_excluded(i, exclude, n_exclude)) continue;
        top_insert(ids, scores, &n, k, i, dot(v->unit + (size_t)i * v->dim, query, v->dim) * qs);
    }
    return n;
}

int weft_vectors_analogy(const weft_vectors *v, int a, int b, int c, weft_analogy_method method,
                         int limit, int k, int *ids, float *scores)
{
    const int D = v->dim;
    const float *ua = v->unit + (size_t)a * D, *ub = v->unit + (size_t)b * D,
                *uc = v->unit + (size_t)c * D;
    int abc[3] = { a, b, c };
    if (method == WEFT_3COSADD) {
        float q[WEFT_VECTORS_MAX_DIM > 4096 ? 4096 : WEFT_VECTORS_MAX_DIM];
        float *qp = D <= 4096 ? q : malloc((size_t)D * sizeof *qp);
        if (!qp) return 0;
        for (int j = 0; j < D; j++) qp[j] = ub[j] - ua[j] + uc[j];
        int n = weft_vectors_nearest(v, qp, abc, 3, limit, k, ids, scores);
        if (qp != q) free(qp);
        return n;
    }
    int end = limit > 0 && limit < v->count ? limit : v->count;
    int n = 0;
    for (int i = 0; i < end; i++) {
        if (i == a || i == b || i == c || k < 1) continue;
        const float *x = v->unit + (size_t)i * D;
        float ca = (dot(x, ua, D) + 1) * 0.5f, cb = (dot(x, ub, D) + 1) * 0.5f,
              cc = (dot(x, uc, D) + 1) * 0.5f;
        top_insert(ids, scores, &n, k, i, cb * cc / (ca + 0.001f));
    }
    return n;
}

/* --- matching without case ------------------------------------------------------------------ */

/* Words folded to ASCII lower case -> the first id among the first `limit`
 * with that folding. */
typedef struct folded_index {
    weft_vocab *folded;
    int *id;
} folded_index;

static void fold(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    dst[n] = '\0';
}

static int folded_build(folded_index *fi, const weft_vectors *v, int limit)
{
    int end = limit > 0 && limit < v->count ? limit : v->count;
    fi->folded = weft_vocab_new();
    fi->id = malloc((size_t)end * sizeof *fi->id);
    if (!fi->folded || !fi->id) return -1;
    char buf[WEFT_VECTORS_MAX_WORD + 1];
    for (int i = 0; i < end; i++) {
        const char *w = weft_vocab_token(v->words, i);
        size_t n = strlen(w);
        if (n > WEFT_VECTORS_MAX_WORD) n = WEFT_VECTORS_MAX_WORD;
        fold(buf, w, n);
        int before = weft_vocab_size(fi->folded);
        int f = weft_vocab_add(fi->folded, buf, n);
        if (f < 0) return -1;
        if (f == before) fi->id[f] = i;
    }
    return 0;
}

static void folded_free(folded_index *fi)
{
    weft_vocab_free(fi->folded);
    free(fi->id);
}

static int folded_find(const folded_index *fi, const char *w, size_t n)
{
    char buf[WEFT_VECTORS_MAX_WORD + 1];
    if (n > WEFT_VECTORS_MAX_WORD) return -1;
    fold(buf, w, n);
    int f = weft_vocab_find(fi->folded, buf, n);
    return f < 0 ? -1 : fi->id[f];
}

/* The whitespace-separated fields of a line (at most max), as spans. */
static int split_fields(const char *s, size_t n, const char *seps, const char **f, size_t *fl,
                        int max)
{
    int k = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && strchr(seps, s[i])) i++;
        if (i >= n) break;
        size_t start = i;
        while (i < n && !strchr(seps, s[i])) i++;
        if (k < max) {
            f[k] = s + start;
            fl[k] = i - start;
        }
        k++;
    }
    return k;
}

/* --- analogy evaluation ------------------------------------------------------------------------ */

typedef struct question {
    int w[4];        /* ids, -1 when outside the first `limit` words */
    int section;
} question;

int weft_vectors_eval_analogies(const weft_vectors *v, const char *path,
                                weft_analogy_method method, int limit, int top,
                                weft_analogy_report *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    if (top < 1) top = 1;
    size_t len;
    char *text;
    if (weft_read_file(path, &text, &len, err, errsize)) return -1;
    folded_index fi = { 0 };
    question *qs = NULL;
    size_t nq = 0, cap = 0;
    int rc = -1;
    if (folded_build(&fi, v, limit)) {
        weft_say(err, errsize, "%s: out of memory", path);
        goto done;
    }
    int line = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        line++;
        const char *f[5];
        size_t fl[5];
        int nf = split_fields(text + i, e - i, " \t\r", f, fl, 5);
        if (nf > 0 && f[0][0] == ':') {
            if (out->n_sections == WEFT_ANALOGY_MAX_SECTIONS) {
                weft_say(err, errsize, "%s: line %d: more than %d sections", path, line,
                        WEFT_ANALOGY_MAX_SECTIONS);
                goto done;
            }
            weft_analogy_section *s = &out->section[out->n_sections++];
            const char *name = nf > 1 ? f[1] : f[0] + 1;
            size_t nl = nf > 1 ? fl[1] : fl[0] - 1;
            snprintf(s->name, sizeof s->name, "%.*s", (int)(nl < 63 ? nl : 63), name);
        } else if (nf == 4) {
            if (out->n_sections == 0) {
                weft_analogy_section *s = &out->section[out->n_sections++];
                snprintf(s->name, sizeof s->name, "questions");
            }
            if (nq == cap) {
                size_t c = cap ? 2 * cap : 1024;
                question *q = realloc(qs, c * sizeof *q);
                if (!q) {
                    weft_say(err, errsize, "%s: out of memory", path);
                    goto done;
                }
                qs = q;
                cap = c;
            }
            question *q = &qs[nq++];
            q->section = out->n_sections - 1;
            for (int k = 0; k < 4; k++) q->w[k] = folded_find(&fi, f[k], fl[k]);
        } else if (nf != 0) {
            weft_say(err, errsize, "%s: line %d: a question is four words 'a b c d' (this line "
                    "has %d)", path, line, nf);
            goto done;
        }
        i = e + 1;
    }
    if (nq == 0) {
        weft_say(err, errsize, "%s: no questions", path);
        goto done;
    }
    /* score the questions that are inside the vocabulary */
    char *right = calloc(nq, 1);
    if (!right) {
        weft_say(err, errsize, "%s: out of memory", path);
        goto done;
    }
#pragma omp parallel
    {
        int ids[128];
        float sc[128];
        int k = top < 128 ? top : 128;
#pragma omp for schedule(dynamic, 16)
        for (size_t i = 0; i < nq; i++) {
            const int *w = qs[i].w;
            if (w[0] < 0 || w[1] < 0 || w[2] < 0 || w[3] < 0) continue;
            int n = weft_vectors_analogy(v, w[0], w[1], w[2], method, limit, k, ids, sc);
            for (int j = 0; j < n; j++)
                if (ids[j] == w[3]) right[i] = 1;
        }
    }
    for (size_t i = 0; i < nq; i++) {
        weft_analogy_section *s = &out->section[qs[i].section];
        bool seen = qs[i].w[0] >= 0 && qs[i].w[1] >= 0 && qs[i].w[2] >= 0 && qs[i].w[3] >= 0;
        bool syn = strncmp(s->name, "gram", 4) == 0;
        s->total++;
        out->total++;
        if (!seen) continue;
        s->seen++;
        out->seen++;
        if (syn) out->syntactic_seen++;
        else out->semantic_seen++;
        if (!right[i]) continue;
        s->correct++;
        out->correct++;
        if (syn) out->syntactic_correct++;
        else out->semantic_correct++;
    }
    free(right);
    rc = 0;
done:
    folded_free(&fi);
    free(qs);
    free(text);
    return rc;
}

/* --- similarity --------------------------------------------------------------------------------- */

/* 1-based ranks of x[n] in ascending order, ties given their mean rank. */
static int ranks(const double *x, int n, double *r)
{
    int *idx = malloc((size_t)n * sizeof *idx);
    if (!idx) return -1;
    for (int i = 0; i < n; i++) idx[i] = i;
    /* insertion sort would be quadratic; a simple merge sort on indices */
    int *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp) {
        free(idx);
        return -1;
    }
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = x[idx[b]] < x[idx[a]] ? idx[b++] : idx[a++];
            while (a < mid) tmp[k++] = idx[a++];
            while (b < hi) tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]]) j++;
        double mean = (i + j) / 2.0 + 1;
        for (int k = i; k <= j; k++) r[idx[k]] = mean;
        i = j + 1;
    }
    free(tmp);
    free(idx);
    return 0;
}

double weft_spearman(const double *x, const double *y, int n)
{
    if (n < 2) return NAN;
    double *rx = malloc((size_t)n * sizeof *rx), *ry = malloc((size_t)n * sizeof *ry);
    double result = NAN;
    if (rx && ry && ranks(x, n, rx) == 0 && ranks(y, n, ry) == 0) {
        /* Pearson's correlation of the ranks (exact with ties) */
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++) {
            mx += rx[i];
            my += ry[i];
        }
        mx /= n;
        my /= n;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++) {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        if (sxx > 0 && syy > 0) result = sxy / sqrt(sxx * syy);
    }
    free(rx);
    free(ry);
    return result;
}

int weft_vectors_eval_similarity(const weft_vectors *v, const char *path,
                                 weft_similarity_report *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    out->spearman = NAN;
    size_t len;
    char *text;
    if (weft_read_file(path, &text, &len, err, errsize)) return -1;
    folded_index fi = { 0 };
    double *human = NULL, *model = NULL;
    int n = 0, cap = 0, rc = -1, line = 0;
    bool first = true;
    if (folded_build(&fi, v, 0)) {
        weft_say(err, errsize, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        line++;
        const char *f[3];
        size_t fl[3];
        int nf = split_fields(text + i, e - i, " \t\r,", f, fl, 3);
        size_t next = e + 1;
        if (nf == 0 || f[0][0] == '#') {
            i = next;
            continue;
        }
        char num[64] = "";
        if (nf >= 3 && fl[2] < sizeof num) snprintf(num, sizeof num, "%.*s", (int)fl[2], f[2]);
        char *end;
        double score = nf >= 3 ? strtod(num, &end) : 0;
        if (nf < 3 || end == num || *end != '\0' || !isfinite(score)) {
            if (first) {   /* a header line */
                first = false;
                i = next;
                continue;
            }
            weft_say(err, errsize, "%s: line %d: not 'word1 word2 score'", path, line);
            goto done;
        }
        first = false;
        out->total++;
        int a = folded_find(&fi, f[0], fl[0]), b = folded_find(&fi, f[1], fl[1]);
        if (a >= 0 && b >= 0) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                double *h = realloc(human, (size_t)cap * sizeof *h);
                if (h) human = h;
                double *m = realloc(model, (size_t)cap * sizeof *m);
                if (m) model = m;
                if (!h || !m) {
                    weft_say(err, errsize, "%s: out of memory", path);
                    goto done;
                }
            }
            human[n] = score;
            model[n] = dot(v->unit + (size_t)a * v->dim, v->unit + (size_t)b * v->dim, v->dim);
            n++;
        }
        i = next;
    }
    out->seen = n;
    out->spearman = weft_spearman(human, model, n);
    rc = 0;
done:
    folded_free(&fi);
    free(human);
    free(model);
    free(text);
    return rc;
}

/* --- initialising an embedding ------------------------------------------------------------------- */

int weft_vectors_init_embedding(const weft_vectors *v, const weft_vocab *vocab, weft_param *emb,
                                char *err, size_t errsize)
{
    int V = weft_vocab_size(vocab);
    if (emb->value.rank != 2 || emb->value.shape[0] != V || emb->value.shape[1] != v->dim) {
        char shape[64];
        weft_say(err, errsize, "%s has shape %s; vectors of dimension %d for a vocabulary of %d "
                "need [%d, %d]", emb->name, weft_shape_str(&emb->value, shape, sizeof shape),
                v->dim, V, V, v->dim);
        return -1;
    }
    folded_index fi = { 0 };
    if (folded_build(&fi, v, 0)) {
        folded_free(&fi);
        weft_say(err, errsize, "out of memory");
        return -1;
    }
    int copied = 0;
    for (int id = 0; id < V; id++) {
        const char *w = weft_vocab_token(vocab, id);
        size_t n = strlen(w);
        int src = weft_vocab_find(v->words, w, n);
        if (src < 0) src = folded_find(&fi, w, n);
        if (src < 0 && strcmp(w, WEFT_EOS) == 0) src = weft_vocab_find(v->words, "</s>", 4);
        if (src < 0) continue;
        memcpy(emb->value.data + (size_t)id * v->dim, v->data + (size_t)src * v->dim,
               (size_t)v->dim * sizeof(float));
        copied++;
    }
    folded_free(&fi);
    return copied;
}
