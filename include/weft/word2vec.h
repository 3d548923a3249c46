/* weft/word2vec.h — word vectors by skip-gram and CBOW (Mikolov et al. 2013),
 * trained as the original word2vec.c trains them.
 *
 * Skip-gram predicts each word of a window from the window's centre; CBOW
 * predicts the centre from the mean of the window's input vectors. With h the
 * input (one context word's input vector v_c for skip-gram, as word2vec.c
 * pairs them; the mean for CBOW) and w the word predicted, the three losses:
 *
 *   softmax:      L = -log softmax(U h)_w = -u_wᵀh + log Σ_j exp(u_jᵀh)     (U [V, D])
 *   negative:     L = -log σ(u_wᵀh) - Σ_{k=1..K} log σ(-u_{n_k}ᵀh),
 *                 n_k drawn from the unigram distribution raised to 3/4
 *   hierarchical: L = -Σ_{d} log σ((1 - 2 code_d) u_{p_d}ᵀh) along w's path
 *                 p_1..p_L in the Huffman tree of the counts, code_d its bits
 *
 * Each (h, w) pair takes one SGD step on its loss, the output rows first
 * (with the gradient to h accumulated from their old values) and then the
 * input rows: for negative sampling  g = α (label - σ(u·h)),  u += g h,
 * e += g u;  v += e (CBOW: every context word's v += e).
 *
 * word2vec's semantics, kept here: the vocabulary in decreasing count (ties
 * in order of first appearance), "</s>" (a line end) first, words under
 * min_count dropped from the text; sentences are lines (at most 1000 words);
 * the window is drawn uniformly from 1..window at each position; a word w of
 * frequency f(w) = count / total is kept with probability
 * (sqrt(f / t) + 1) t / f (t = sample; 0 keeps all); the learning rate falls
 * linearly with the words processed, from lr to lr·1e-4; the noise table
 * holds 1e7 entries (fastText's size; word2vec's 1e8 takes 400 MB) in proportion to
 * count^0.75; σ is read from a 1000-entry
 * table over [-6, 6] (exact_sigmoid: computed) and, as in the original, a
 * score beyond ±6 gives the saturated gradient (NS) or skips the node (HS).
 * Input vectors start uniform in [-0.5/D, 0.5/D), output vectors at 0.
 *
 * Threads (Hogwild, Recht et al. 2011, as word2vec.c): the text is cut into
 * one slice per thread; each thread runs every epoch over its slice, updating
 * the shared vectors without locks. One thread gives the same vectors for the
 * same seed every time; more threads do not (the updates race).
 */
#ifndef WEFT_WORD2VEC_H
#define WEFT_WORD2VEC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/data.h"
#include "weft/vectors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_w2v_model { WEFT_W2V_SKIPGRAM = 0, WEFT_W2V_CBOW = 1 } weft_w2v_model;
typedef enum weft_w2v_loss {
    WEFT_W2V_NS = 0,        /* negative sampling */
    WEFT_W2V_HS = 1,        /* hierarchical softmax */
    WEFT_W2V_SOFTMAX = 2,   /* the full softmax over the vocabulary (O(V) a pair: small V) */
} weft_w2v_loss;
/* Which vectors a model hands out: the input ones (word2vec's), the output
 * ones (rows of word ids; NS and softmax only), or their mean. */
typedef enum weft_w2v_which { WEFT_W2V_INPUT = 0, WEFT_W2V_OUTPUT, WEFT_W2V_AVERAGE } weft_w2v_which;

#define WEFT_W2V_MAX_CODE 40          /* the deepest Huffman code */
#define WEFT_W2V_MAX_SENTENCE 1000
#define WEFT_W2V_NOISE_TABLE 10000000
#define WEFT_W2V_EXP_TABLE 1000
#define WEFT_W2V_MAX_EXP 6

typedef struct weft_word2vec_options {
    weft_w2v_model model;     /* skip-gram */
    weft_w2v_loss loss;       /* negative sampling */
    int dim;                  /* 100 */
    int window;               /* 5 */
    int negative;             /* 5 noise words a pair (NS) */
    int min_count;            /* 5 */
    int epochs;               /* 5 */
    int threads;              /* 0: OpenMP's count */
    float sample;             /* 1e-3; 0: no subsampling */
    float lr;                 /* 0: word2vec's, 0.025 for skip-gram, 0.05 for CBOW */
    bool exact_sigmoid;       /* σ computed, not read from the table */
    bool cbow_sum;            /* CBOW's h as the sum, not the mean, of the context */
    uint64_t seed;            /* 1 */
    int noise_table_size;     /* 0: WEFT_W2V_NOISE_TABLE (smaller for tests) */
    /* A progress line (words/s per thread, learning rate, ETA) is written
     * here about twice a second, or nowhere when NULL. Borrowed. */
    FILE *progress;
    /* Training stops soon after *stop becomes non-zero (a signal handler sets
     * it), keeping what it has. Borrowed; may be NULL. */
    const volatile sig_atomic_t *stop;
} weft_word2vec_options;

/* The options above with word2vec's defaults. */
weft_word2vec_options weft_word2vec_defaults(void);

/* A model: vocabulary, counts, tables, the text as ids, and the vectors.
 * Everything in it is owned by it (weft_word2vec_free). */
typedef struct weft_word2vec {
    weft_word2vec_options opt;   /* lr resolved, threads as given */
    int vocab_size;              /* V */
    int dim;                     /* D */
    weft_vocab *vocab;           /* id order = decreasing count; id 0 is "</s>" */
    int64_t *counts;             /* [V] */
    int64_t train_words;         /* Σ counts: the words of the text in the vocabulary */
    int *text;                   /* the text as ids (words outside the vocabulary left out) */
    size_t text_len;
    float *syn0;                 /* [V, D] input vectors */
    float *syn1;                 /* [V, D] output vectors: of words (NS, softmax) or of the
                                  * Huffman tree's V - 1 inner nodes (HS) */
    /* Huffman tree (HS): word w's code bits codes[w·MAX_CODE + d] and inner
     * nodes points[w·MAX_CODE + d], d < codelen[w], root first. */
    uint8_t *codes;
    int *points;
    uint8_t *codelen;
    int *noise;                  /* the noise table (NS) */
    int noise_size;
    float *exp_table;            /* σ at WEFT_W2V_EXP_TABLE points of [-MAX_EXP, MAX_EXP) */
    int64_t words_done;          /* words processed so far (over all epochs) */
    bool interrupted;            /* the last training stopped at *opt.stop */
} weft_word2vec;

/* Build the vocabulary and tables from a word-level text (weft_tokens_read
 * with WEFT_TEXT_WORDS: its "<eos>" line ends become "</s>") and initialise
 * the vectors. NULL with a message when the options are out of range, no
 * word reaches min_count, or memory runs out. */
weft_word2vec *weft_word2vec_new(const weft_tokens *text, const weft_word2vec_options *opt,
                                 char *err, size_t errsize);
void weft_word2vec_free(weft_word2vec *m);

/* Train for opt.epochs on opt.threads threads. 0, or -1 with a message. */
int weft_word2vec_train(weft_word2vec *m, char *err, size_t errsize);

/* The same training for skip-gram with the softmax loss, one pair at a time
 * on the tape (weft/ops.h): embedding of the context word, linear layer by
 * the output vectors, cross-entropy against the centre word, backward, and
 * an SGD step of the same learning rate; one thread, the same random draws
 * (windows, subsampling) as weft_word2vec_train with one thread. The two
 * give the same vectors (to float rounding). 0, or -1 with a message. */
int weft_word2vec_train_tape(weft_word2vec *m, char *err, size_t errsize);

/* The vectors of every word (see weft_w2v_which), "</s>" included as word2vec
 * writes it; the caller owns them (weft_vectors_free). NULL with a message
 * (output vectors of an HS model). */
weft_vectors *weft_word2vec_vectors(const weft_word2vec *m, weft_w2v_which which, char *err,
                                    size_t errsize);

/* The subsampling's keep probability of a word of `count` among `total`
 * (word2vec's formula above, capped at 1). */
double weft_word2vec_keep_probability(int64_t count, int64_t total, double sample);

/* The learning rate after `done` of `total` words (linear decay, floor lr·1e-4). */
float weft_word2vec_lr_at(float lr, int64_t done, int64_t total);

/* Names as flags spell them: "skipgram"/"cbow", "ns"/"hs"/"softmax",
 * "input"/"output"/"average". Parsers return 0, or -1 for another name. */
const char *weft_w2v_model_name(weft_w2v_model m);
const char *weft_w2v_loss_name(weft_w2v_loss l);
int weft_w2v_model_parse(const char *s, weft_w2v_model *out);
int weft_w2v_loss_parse(const char *s, weft_w2v_loss *out);
int weft_w2v_which_parse(const char *s, weft_w2v_which *out);

#ifdef __cplusplus
}
#endif

#endif
