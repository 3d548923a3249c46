/* weft/mixture.h — linear interpolation of language models:
 *
 *     P(w | h) = Σ_k λ_k P_k(w | h),      λ_k >= 0, Σ_k λ_k = 1
 *
 * the combination Bengio et al. (2003) and Mikolov et al. (2011) report for
 * a neural model and a Kneser-Ney n-gram model. The weights are tuned on held-out
 * text by expectation-maximisation (each step cannot lower the held-out
 * likelihood; Jelinek & Mercer 1980), and the tuned weights are then applied
 * to other text.
 *
 * Every model gives the log-probability of each token of a text after the
 * first, given the ones before it (lp[i-1] = ln P(t[i] | t[0..i)), i = 1..n-1),
 * the tokens weft_lm_eval, weft_window_lm_eval and weft_ngram_perplexity score,
 * so the k arrays line up token for token.
 */
#ifndef WEFT_MIXTURE_H
#define WEFT_MIXTURE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The per-token log-probabilities of the text file `text` under the model
 * file `model`, of any kind weft reads: an ARPA n-gram model, a window-lm or
 * a recurrent language model checkpoint (the text is split at the model's
 * level and encoded with its vocabulary: an unknown token is "<unk>").
 * *lp receives a malloc'd array of *count = (tokens - 1) values (the caller
 * frees). Returns 0, or -1 with a message naming the file. */
int weft_lm_file_logprobs(const char *model, const char *text, double **lp, size_t *count,
                          char *err, size_t errsize);

/* ln of the mixture's probability of token i: ln Σ_k w[k] exp(lp[k][i]),
 * computed about the largest term. */
double weft_mixture_token_logprob(const double *const *lp, const double *w, int k, size_t i);

/* The mixture's summed negative log-probability (nats) over n tokens; the
 * perplexity is exp(result / n). */
double weft_mixture_nll(const double *const *lp, const double *w, int k, size_t n);

/* Tune the weights w[0..k) on n tokens by EM, starting from w as given (all
 * equal when they do not sum to 1 within 1e-6 or any is negative):
 *
 *     w_k <- (1/n) Σ_i w_k P_k(t_i) / Σ_j w_j P_j(t_i)
 *
 * until the summed negative log-probability falls by less than tol nats in a
 * step, or max_iter steps. Returns the number of steps made, or -1 for k < 1
 * or n < 1. */
int weft_mixture_tune(const double *const *lp, int k, size_t n, double *w, int max_iter,
                      double tol);

#ifdef __cplusplus
}
#endif

#endif
