/* models/seq2seq/metrics.c — corpus BLEU and exact match over token ids. */
#include "weft/seq2seq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Does n-gram a (n ids) equal b? */
static bool same(const int *a, const int *b, int n)
{
    return memcmp(a, b, (size_t)n * sizeof(int)) == 0;
}

/* Clipped matches of the n-grams of h (hl ids) in r (rl ids): each n-gram of
 * h counts at most as often as it occurs in r. Quadratic in the sentence
 * length, which for sentences is nothing. */
static long clipped_matches(const int *h, int hl, const int *r, int rl, int n)
{
    long matches = 0;
    for (int i = 0; i + n <= hl; i++) {
        bool seen = false;   /* count each distinct n-gram once, at its first place */
        for (int j = 0; j < i && !seen; j++) seen = same(h + i, h + j, n);
        if (seen) continue;
        long in_h = 0, in_r = 0;
        for (int j = i; j + n <= hl; j++) in_h += same(h + i, h + j, n);
        for (int j = 0; j + n <= rl; j++) in_r += same(h + i, r + j, n);
        matches += in_h < in_r ? in_h : in_r;
    }
    return matches;
}

double weft_bleu(const int *const *hyp, const int *hyp_len, const int *const *ref,
                 const int *ref_len, int n)
{
    long match[4] = { 0 }, total[4] = { 0 }, c = 0, r = 0;
    for (int i = 0; i < n; i++) {
        c += hyp_len[i];
        r += ref_len[i];
        for (int k = 1; k <= 4; k++) {
            match[k - 1] += clipped_matches(hyp[i], hyp_len[i], ref[i], ref_len[i], k);
            total[k - 1] += hyp_len[i] >= k ? hyp_len[i] - k + 1 : 0;
        }
    }
    /* BLEU = BP · exp(Σ_k ¼ log p_k), BP = 1 if c > r else exp(1 - r/c) */
    if (c == 0) return 0.0;
    double log_p = 0.0;
    for (int k = 0; k < 4; k++) {
        if (match[k] == 0 || total[k] == 0) return 0.0;
        log_p += 0.25 * log((double)match[k] / (double)total[k]);
    }
    double bp = c > r ? 1.0 : exp(1.0 - (double)r / (double)c);
    return 100.0 * bp * exp(log_p);
}

double weft_exact_match(const int *const *hyp, const int *hyp_len, const int *const *ref,
                        const int *ref_len, int n)
{
    if (n == 0) return 0.0;
    int ok = 0;
    for (int i = 0; i < n; i++) ok += hyp_len[i] == ref_len[i] && same(hyp[i], ref[i], hyp_len[i]);
    return (double)ok / n;
}
