/* models/lm/mixture.c — linear interpolation of language models
 * (weft/mixture.h): per-token log-probabilities of a text under any model
 * file, the mixture's likelihood, and its weights tuned by EM. */
#include "weft/mixture.h"

#include "weft/lm.h"
#include "weft/ngram.h"
#include "weft/window_lm.h"
#include "src/internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/* Eval batch of the window model: only speed depends on it. */
#define WINDOW_BATCH 512
/* Steps the recurrent model runs at once; the state is carried, so the
 * values do not depend on it but for float rounding. */
#define RNN_BPTT 128

static int *read_ids(const char *text, weft_text_level level, const weft_vocab *v, size_t *n,
                     char *err, size_t errsize)
{
    weft_tokens t;
    if (weft_tokens_read(text, level, &t, err, errsize)) return NULL;
    int *ids = weft_tokens_encode(&t, v, err, errsize);
    *n = t.count;
    weft_tokens_free(&t);
    if (ids && *n < 2) {
        weft_say(err, errsize, "%s: %zu tokens; at least 2 are needed (the first is only context)",
                 text, *n);
        free(ids);
        return NULL;
    }
    return ids;
}

int weft_lm_file_logprobs(const char *model, const char *text, double **lp, size_t *count,
                          char *err, size_t errsize)
{
    *lp = NULL;
    *count = 0;
    char why[768];
    size_t n = 0;
    int *ids = NULL, rc = -1;
    double *out = NULL;
    weft_graph *g = NULL;
    if (weft_ngram_file_is_arpa(model)) {
        weft_ngram *m = weft_ngram_load(model, why, sizeof why);
        if (!m) goto fail;
        ids = read_ids(text, WEFT_TEXT_WORDS, weft_ngram_vocab(m), &n, why, sizeof why);
        if (ids && (out = malloc((n - 1) * sizeof *out))) {
            rc = 0;
            for (size_t i = 1; i < n && rc == 0; i++) {
                out[i - 1] = weft_ngram_logprob(m, ids, i, ids[i]);
                if (!isfinite(out[i - 1])) {
                    weft_say(why, sizeof why, "token %zu has probability 0 in this model", i);
                    rc = -1;
                }
            }
        } else if (ids) {
            weft_say(why, sizeof why, "out of memory");
        }
        weft_ngram_free(m);
    } else if (weft_window_lm_file_is(model)) {
        weft_window_lm *m = weft_window_lm_load(model, why, sizeof why);
        if (!m) goto fail;
        ids = read_ids(text, m->cfg.level, m->vocab, &n, why, sizeof why);
        if (ids && (out = malloc((n - 1) * sizeof *out)) && (g = weft_graph_new()))
            rc = weft_window_lm_logprobs(m, g, ids, n, WINDOW_BATCH, out, why, sizeof why);
        else if (ids)
            weft_say(why, sizeof why, "out of memory");
        weft_window_lm_free(m);
    } else {
        weft_lm *m = weft_lm_load(model, why, sizeof why);
        if (!m) goto fail;
        ids = read_ids(text, m->cfg.level, m->vocab, &n, why, sizeof why);
        if (ids && (out = malloc((n - 1) * sizeof *out)) && (g = weft_graph_new()))
            rc = weft_lm_logprobs(m, g, ids, n, RNN_BPTT, out, why, sizeof why);
        else if (ids)
            weft_say(why, sizeof why, "out of memory");
        weft_lm_free(m);
    }
    if (rc == 0) {
        *lp = out;
        *count = n - 1;
        out = NULL;
    }
fail:
    if (rc) weft_say(err, errsize, "%s on %s: %s", model, text, why);
    weft_graph_free(g);
    free(ids);
    free(out);
    return rc;
}

double weft_mixture_token_logprob(const double *const *lp, const double *w, int k, size_t i)
{
    double mx = -INFINITY;
    for (int j = 0; j < k; j++)
        if (w[j] > 0 && lp[j][i] > mx) mx = lp[j][i];
    if (!isfinite(mx)) return -INFINITY;
    double sum = 0.0;
    for (int j = 0; j < k; j++)
        if (w[j] > 0) sum += w[j] * exp(lp[j][i] - mx);
    return mx + log(sum);
}

double weft_mixture_nll(const double *const *lp, const double *w, int k, size_t n)
{
    double nll = 0.0;
    for (size_t i = 0; i < n; i++) nll -= weft_mixture_token_logprob(lp, w, k, i);
    return nll;
}

int weft_mixture_tune(const double *const *lp, int k, size_t n, double *w, int max_iter,
                      double tol)
{
    if (k < 1 || n < 1) return -1;
    double total = 0.0;
    bool valid = true;
    for (int j = 0; j < k; j++) {
        valid = valid && w[j] >= 0.0;
        total += w[j];
    }
    if (!valid || fabs(total - 1.0) > 1e-6)
        for (int j = 0; j < k; j++) w[j] = 1.0 / k;
    double *next = calloc((size_t)k, sizeof *next);
    if (!next) return -1;
    double nll = weft_mixture_nll(lp, w, k, n);
    int it = 0;
    while (it < max_iter) {
        /* E: the posterior of each component for each token; M: their means */
        for (int j = 0; j < k; j++) next[j] = 0.0;
        for (size_t i = 0; i < n; i++) {
            double mix = weft_mixture_token_logprob(lp, w, k, i);
            for (int j = 0; j < k; j++)
                if (w[j] > 0) next[j] += exp(log(w[j]) + lp[j][i] - mix);
        }
        for (int j = 0; j < k; j++) w[j] = next[j] / (double)n;
        it++;
        double now = weft_mixture_nll(lp, w, k, n);
        bool done = nll - now < tol;
        nll = now;
        if (done) break;
    }
    free(next);
    return it;
}
