/* weft/metrics.h — scoring predicted labels: a confusion matrix (accuracy,
 * per-class and macro-averaged F1) and entity-level precision, recall and F1
 * over BIO tags, computed as the CoNLL shared tasks' conlleval script does.
 */
#ifndef WEFT_METRICS_H
#define WEFT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* counts[gold * C + pred]; a gold label outside [0, C) (one the model never
 * saw) counts as wrong in `unknown`. */
typedef struct weft_confusion {
    int C;
    long *counts;
    long unknown;
} weft_confusion;

/* A zeroed C x C matrix (owned: weft_confusion_free); -1 when out of memory. */
int weft_confusion_init(weft_confusion *m, int C);
void weft_confusion_free(weft_confusion *m);
void weft_confusion_add(weft_confusion *m, int gold, int pred);
long weft_confusion_total(const weft_confusion *m);
double weft_confusion_accuracy(const weft_confusion *m);
/* F1 of class c (0 when it was neither predicted nor gold). */
double weft_confusion_f1(const weft_confusion *m, int c);
/* The unweighted mean of the per-class F1 over the classes that occur in
 * the gold labels or the predictions. */
double weft_confusion_macro_f1(const weft_confusion *m);
/* The matrix as a table, rows gold and columns predicted, headed by the
 * labels' names (C of them, borrowed). Returns 0 or -1 on a write error. */
int weft_confusion_print(const weft_confusion *m, const char *const *names, FILE *f);

/* --- chunks (entities) from BIO tags ---------------------------------------------------- */

typedef struct weft_chunk_score {
    long gold, predicted, correct;      /* chunks */
    long tokens, tokens_correct;        /* tags */
} weft_chunk_score;

/* Add one sentence's n gold and predicted tags (B-X, I-X, E-X, S-X, O; a tag
 * without a '-' counts as its own type with no boundary, as conlleval does):
 * a chunk is correct when it starts and ends at the same tokens with the same
 * type in both. conlleval's rules for where a chunk starts and ends (an
 * I-X after O or after another type starts a chunk). */
void weft_chunk_score_add(weft_chunk_score *s, const char *const *gold, const char *const *pred,
                          int n);
double weft_chunk_precision(const weft_chunk_score *s);
double weft_chunk_recall(const weft_chunk_score *s);
double weft_chunk_f1(const weft_chunk_score *s);

#ifdef __cplusplus
}
#endif

#endif
