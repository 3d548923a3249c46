/* weft/vectors.h — word vectors: reading and writing word2vec's files, and the
 * questions asked of them (nearest neighbours, analogies, similarity).
 *
 * Files. word2vec's two formats, which gensim and fastText (.vec) also write:
 *
 *     text:    "V D\n" then V lines "word x1 x2 ... xD\n" (a trailing space is allowed)
 *     binary:  "V D\n" then V rows "word " + D little-endian float32 (+ "\n" as word2vec
 *              writes it; gensim writes none, and both are read)
 *
 * A reader takes nothing on trust: the header's counts are checked against
 * the file's size before anything is allocated (a row takes at least 2 bytes
 * a value in text, exactly 4 in binary), every row must hold exactly D
 * finite numbers, a word may appear once, and the file must end after row V.
 * A bad file is an error naming the file, the line (text) or byte offset
 * (binary), and the problem; the work done is linear in the file's size.
 *
 * Queries use cosine similarity on the unit-length rows. Analogies "a is to b
 * as c is to ?" (Mikolov et al. 2013) by
 *
 *     3CosAdd:  argmax_x cos(x, b - a + c)                                (word2vec)
 *     3CosMul:  argmax_x cos'(x, b) cos'(x, c) / (cos'(x, a) + 0.001),
 *               cos' = (cos + 1) / 2                           (Levy & Goldberg 2014)
 *
 * with a, b and c themselves never an answer.
 *
 * Errors are messages in err (NUL-terminated when errsize > 0; err may be NULL).
 */
#ifndef WEFT_VECTORS_H
#define WEFT_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/data.h"
#include "weft/params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds on what a file may claim: more is refused before any allocation. */
#define WEFT_VECTORS_MAX_DIM 100000
#define WEFT_VECTORS_MAX_WORD 1000      /* bytes in a word */

typedef struct weft_vectors {
    int count;            /* V words */
    int dim;              /* D */
    weft_vocab *words;    /* word i has id i (owned) */
    float *data;          /* [V, D], row i is word i's vector (owned) */
    float *unit;          /* [V, D], the rows scaled to length 1 (a zero row stays 0; owned) */
} weft_vectors;

typedef enum weft_vectors_format {
    WEFT_VECTORS_AUTO = 0,   /* reading: text when the first row reads as text, else binary */
    WEFT_VECTORS_TEXT,
    WEFT_VECTORS_BINARY,
} weft_vectors_format;

/* count x dim vectors from words[i] and data (both copied; data [count, dim]).
 * NULL with a message on a repeated word, a bad size or no memory. The caller
 * owns the result (weft_vectors_free). */
weft_vectors *weft_vectors_from(const char *const *words, const float *data, int count, int dim,
                                char *err, size_t errsize);
void weft_vectors_free(weft_vectors *v);

/* Read a word2vec file (see above). The caller owns the result. */
weft_vectors *weft_vectors_read(const char *path, weft_vectors_format format, char *err,
                                size_t errsize);
/* The same from bytes in memory (name is used in messages). */
weft_vectors *weft_vectors_parse(const char *bytes, size_t len, const char *name,
                                 weft_vectors_format format, char *err, size_t errsize);
/* Write v to path in text (values as %.6g) or binary format, through a
 * temporary file that is flushed, fsynced and renamed into place. 0 or -1. */
int weft_vectors_write(const weft_vectors *v, const char *path, weft_vectors_format format,
                       char *err, size_t errsize);

/* The id of a word, or -1. */
int weft_vectors_find(const weft_vectors *v, const char *word);

/* The k rows nearest to `query` [dim] by cosine, best first, into ids[k] and
 * scores[k], leaving out the n_exclude ids in `exclude` and any id >= limit
 * (limit <= 0: all). Returns how many were found (fewer than k when the
 * vectors are fewer). */
int weft_vectors_nearest(const weft_vectors *v, const float *query, const int *exclude,
                         int n_exclude, int limit, int k, int *ids, float *scores);

typedef enum weft_analogy_method { WEFT_3COSADD = 0, WEFT_3COSMUL = 1 } weft_analogy_method;

/* The k best answers to "a is to b as c is to ?" (ids of v), best first, with
 * their scores; answers only among ids < limit (<= 0: all). Returns the count. */
int weft_vectors_analogy(const weft_vectors *v, int a, int b, int c, weft_analogy_method method,
                         int limit, int k, int *ids, float *scores);

/* --- evaluation -------------------------------------------------------------------- */

#define WEFT_ANALOGY_MAX_SECTIONS 64

typedef struct weft_analogy_section {
    char name[64];
    int total;        /* questions in the file's section */
    int seen;         /* with all four words among the first `limit` words: scored */
    int correct;      /* d among the top N answers */
} weft_analogy_section;

typedef struct weft_analogy_report {
    weft_analogy_section section[WEFT_ANALOGY_MAX_SECTIONS];
    int n_sections;
    int total, seen, correct;
    int semantic_seen, semantic_correct;     /* sections not named "gram*" */
    int syntactic_seen, syntactic_correct;   /* sections named "gram*" */
} weft_analogy_report;

/* Score an analogy file in word2vec's questions-words.txt format (": section"
 * lines; "a b c d" questions), as word2vec's compute-accuracy does: words are
 * matched without regard to ASCII case (the most frequent, i.e. first, of
 * words that differ only in case stands for them), only the first `limit`
 * words of v are used (<= 0: all; compute-accuracy's threshold is 30000), a
 * question with a word outside them is counted in `total` and skipped, and a
 * question is right when d is among the `top` best answers. Questions are
 * scored in parallel on the OpenMP threads. 0, or -1 with a message naming
 * the file and line (an unreadable file, a line that is not four words, more
 * than 64 sections). */
int weft_vectors_eval_analogies(const weft_vectors *v, const char *path,
                                weft_analogy_method method, int limit, int top,
                                weft_analogy_report *out, char *err, size_t errsize);

typedef struct weft_similarity_report {
    int total;        /* word pairs in the file */
    int seen;         /* with both words in v: scored */
    double spearman;  /* rank correlation of cosine and the file's scores (NaN if < 2 seen) */
} weft_similarity_report;

/* Spearman's rank correlation (ties get their mean rank) between the file's
 * scores and cosine similarity, over the pairs with both words in v (matched
 * without regard to ASCII case). Lines "w1 w2 score", separated by spaces,
 * tabs or commas; blank lines, lines starting with '#', and a first line
 * whose score is not a number (a CSV header) are skipped. 0, or -1 with a
 * message naming the file and line. */
int weft_vectors_eval_similarity(const weft_vectors *v, const char *path,
                                 weft_similarity_report *out, char *err, size_t errsize);

/* Spearman's rank correlation of x[n] and y[n] (ties: mean ranks). NaN when
 * n < 2 or either has no spread. */
double weft_spearman(const double *x, const double *y, int n);

/* --- initialising a model's embedding ---------------------------------------------- */

/* Copy the vector of every word of `vocab` that v has (exact match first,
 * then without regard to ASCII case; weft's "<eos>" takes word2vec's "</s>")
 * into row id of emb, a parameter of shape
 * [vocab size, v->dim]; the other rows are left as they are. Returns the
 * number of rows copied, or -1 with a message when the shapes differ. */
int weft_vectors_init_embedding(const weft_vectors *v, const weft_vocab *vocab, weft_param *emb,
                                char *err, size_t errsize);

#ifdef __cplusplus
}
#endif

#endif
