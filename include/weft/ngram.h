/* weft/ngram.h — the n-gram language model baseline: interpolated modified
 * Kneser-Ney (Chen & Goodman 1998, section 3.5), orders 1 to 5.
 *
 * The model of order N predicts a token from the N-1 tokens before it:
 *
 *   p_k(w | h) = max(a_k(hw) - D_k(a_k(hw)), 0) / a_k(h.)
 *                + gamma_k(h) p_{k-1}(w | h')                  (C&G eq. 17)
 *   gamma_k(h) = (D_k1 N1(h.) + D_k2 N2(h.) + D_k3+ N3+(h.)) / a_k(h.)
 *
 * where h' is h without its oldest token, a_k(h.) = sum over w of a_k(hw),
 * Nr(h.) is the number of words w with a_k(hw) = r (N3+: at least 3), and
 * p_0(w) = 1 / V, the uniform distribution over the vocabulary. A context
 * never seen at order k passes straight to order k-1 (p_k = p_{k-1}).
 * a_k is the raw count at the highest order and, below it, the continuation
 * count: the number of distinct tokens seen just before the n-gram (as in
 * SRILM's -kndiscount -interpolate and KenLM). An occurrence with no token
 * before it (the first of the stream, or one starting a sentence in sentence
 * mode) counts as one more left context of its own, so n-grams that begin
 * with the sentence boundary keep their raw counts.
 *
 * Discounts, three per order, from that order's count-of-counts n1..n4 (of a_k):
 *   Y = n1 / (n1 + 2 n2),  D1 = 1 - 2Y n2/n1,  D2 = 2 - 3Y n3/n2,  D3+ = 3 - 4Y n4/n3.
 *
 * Contexts. In stream mode (the default) the text is one token stream, as the
 * neural language models read it: the context of a token is simply the N-1
 * tokens before it, across "<eos>". In sentence mode the context stops at the
 * most recent "<eos>", which stays in it as the start-of-sentence marker: the
 * sentence-level scoring of SRILM, with "<eos>" playing both <s> and </s>.
 *
 * A trained model is a backoff model whose probabilities are exactly those
 * above: p(w | h) = p(hw) when hw was seen, else bow(h) p(w | h') with
 * bow(h) = gamma(h). That is what an ARPA file holds, so ARPA is the file
 * format: SRILM and KenLM can read weft's models, and weft reads theirs.
 *
 * Errors are messages in err (NUL-terminated when errsize > 0, err may be NULL)
 * naming what was wrong and where.
 */
#ifndef WEFT_NGRAM_H
#define WEFT_NGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/data.h"
#include "weft/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_NGRAM_MAX_ORDER 5

typedef struct weft_ngram weft_ngram;

typedef struct weft_ngram_options {
    int order;             /* N, 1..WEFT_NGRAM_MAX_ORDER */
    bool sentences;        /* sentence mode (see above); needs "<eos>" in the vocabulary */
    /* When set, discount[] = {D1, D2, D3+} is used at every order instead of
     * the estimates from count-of-counts (for tests and experiments). */
    bool fixed_discounts;
    double discount[3];
} weft_ngram_options;

/* Train on a stream of n ids (each in [0, V) of vocab; n >= 1). The model
 * keeps its own copy of the vocabulary (vocab is borrowed). Returns the model
 * (the caller frees it with weft_ngram_free), or NULL with a message. */
weft_ngram *weft_ngram_train(const int *ids, size_t n, const weft_vocab *vocab,
                             const weft_ngram_options *opt, char *err, size_t errsize);
void weft_ngram_free(weft_ngram *m);

int weft_ngram_order(const weft_ngram *m);
bool weft_ngram_sentences(const weft_ngram *m);
/* The model's vocabulary (borrowed; ids are the ones the model was trained with). */
const weft_vocab *weft_ngram_vocab(const weft_ngram *m);
/* The number of distinct n-grams of order k (1..order) in the model. */
size_t weft_ngram_count(const weft_ngram *m, int k);
/* The discounts D1, D2, D3+ of order k used in training (all 0 for a loaded
 * model that did not record them). */
void weft_ngram_discounts_of(const weft_ngram *m, int k, double d[3]);

/* The discounts D1, D2, D3+ from count-of-counts n[0..3] = n1..n4 (C&G eq.
 * 26). Where a formula would divide by zero (tiny data), that discount is Y
 * (0.5 when Y is undefined too); every discount is clamped to [0, r]. */
void weft_ngram_discounts(const uint64_t n[4], double d[3]);

/* Natural log-probability of token `word` after context[0..n_context) (the
 * preceding tokens, most recent last; only the last order-1 are used, and in
 * sentence mode none before the most recent "<eos>"). -INFINITY when an id is
 * outside the vocabulary or the model gives the word no probability. */
double weft_ngram_logprob(const weft_ngram *m, const int *context, size_t n_context, int word);

/* The whole next-token distribution after context: probs[0..V). */
void weft_ngram_distribution(const weft_ngram *m, const int *context, size_t n_context,
                             double *probs);

typedef struct weft_ngram_score {
    double logprob;        /* natural log-probability of the scored tokens */
    size_t tokens;         /* tokens scored: n - 1 */
    double perplexity;     /* exp(-logprob / tokens) */
} weft_ngram_score;

/* Score a stream as the neural language models are scored: every token after
 * the first, each given the tokens before it. Returns 0, or -1 with a message
 * (fewer than 2 ids, an id outside the vocabulary, a token with probability 0). */
int weft_ngram_perplexity(const weft_ngram *m, const int *ids, size_t n, weft_ngram_score *out,
                          char *err, size_t errsize);

/* Draw the next token after context from the model's distribution raised to
 * 1/temperature (temperature > 0) and, when top_k > 0, cut to the top_k most
 * likely tokens (ties: the lower id). Returns the id. */
int weft_ngram_sample(const weft_ngram *m, const int *context, size_t n_context,
                      double temperature, int top_k, weft_rng *rng);

/* Save as an ARPA file (text; see docs/ngram.md), written atomically: a
 * temporary file beside path, flushed and renamed over it. 0 or -1. */
int weft_ngram_save(const weft_ngram *m, const char *path, char *err, size_t errsize);
/* Load an ARPA file (weft's or another tool's). A malformed file is an error
 * naming the file and the line. NULL with a message on failure. */
weft_ngram *weft_ngram_load(const char *path, char *err, size_t errsize);
/* Does the file look like an ARPA n-gram model (rather than a checkpoint)?
 * Reads only its start. */
bool weft_ngram_file_is_arpa(const char *path);

#ifdef __cplusplus
}
#endif

#endif
