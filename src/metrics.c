/* src/metrics.c — confusion matrices and conlleval's chunk scores
 * (weft/metrics.h). */
#include "weft/metrics.h"

#include <stdlib.h>
#include <string.h>

int weft_confusion_init(weft_confusion *m, int C)
{
    *m = (weft_confusion){ .C = C };
    if (C < 1) return -1;
    m->counts = calloc((size_t)C * (size_t)C, sizeof *m->counts);
    return m->counts ? 0 : -1;
}

void weft_confusion_free(weft_confusion *m)
{
    if (!m) return;
    free(m->counts);
    *m = (weft_confusion){ 0 };
}

void weft_confusion_add(weft_confusion *m, int gold, int pred)
{
    if (gold < 0 || gold >= m->C || pred < 0 || pred >= m->C) m->unknown++;
    else m->counts[(size_t)gold * m->C + pred]++;
}

long weft_confusion_total(const weft_confusion *m)
{
    long n = m->unknown;
    for (int i = 0; i < m->C * m->C; i++) n += m->counts[i];
    return n;
}

double weft_confusion_accuracy(const weft_confusion *m)
{
    long right = 0, n = weft_confusion_total(m);
    for (int c = 0; c < m->C; c++) right += m->counts[(size_t)c * m->C + c];
    return n ? (double)right / (double)n : 0.0;
}

/* gold count, predicted count and hits of class c */
static void class_counts(const weft_confusion *m, int c, long *gold, long *pred, long *hit)
{
    *gold = *pred = 0;
    for (int k = 0; k < m->C; k++) {
        *gold += m->counts[(size_t)c * m->C + k];
        *pred += m->counts[(size_t)k * m->C + c];
    }
    *hit = m->counts[(size_t)c * m->C + c];
}

double weft_confusion_f1(const weft_confusion *m, int c)
{
    long gold, pred, hit;
    class_counts(m, c, &gold, &pred, &hit);
    /* F1 = 2 P R / (P + R) = 2 hit / (gold + pred) */
    return gold + pred ? 2.0 * (double)hit / (double)(gold + pred) : 0.0;
}

double weft_confusion_macro_f1(const weft_confusion *m)
{
    double sum = 0.0;
    int n = 0;
    for (int c = 0; c < m->C; c++) {
        long gold, pred, hit;
        class_counts(m, c, &gold, &pred, &hit);
        if (gold + pred == 0) continue;
        sum += weft_confusion_f1(m, c);
        n++;
    }
    return n ? sum / n : 0.0;
}

int weft_confusion_print(const weft_confusion *m, const char *const *names, FILE *f)
{
    int w = 6;
    for (int c = 0; c < m->C; c++) {
        int len = (int)strlen(names[c]);
        if (len + 1 > w) w = len + 1;
    }
    if (w > 12) w = 12;
    fprintf(f, "%-*s", w, "gold\\pred");
    for (int c = 0; c < m->C; c++) fprintf(f, " %*.*s", w, w, names[c]);
    fprintf(f, "\n");
    for (int g = 0; g < m->C; g++) {
        fprintf(f, "%-*.*s", w, w, names[g]);
        for (int p = 0; p < m->C; p++) fprintf(f, " %*ld", w, m->counts[(size_t)g * m->C + p]);
        fprintf(f, "\n");
    }
    return ferror(f) ? -1 : 0;
}

/* --- conlleval ---------------------------------------------------------------------------
 *
 * A tag splits into its boundary (B, I, E, S, or O) and its type (after the
 * '-'). The rules are conlleval.pl's endOfChunk and startOfChunk, with "."
 * and "[" / "]" (old chunk formats) left out. */

typedef struct tag_parts {
    char b;              /* 'B', 'I', 'E', 'S', 'O' */
    const char *type;    /* "" for O */
    size_t type_len;
} tag_parts;

static tag_parts split(const char *t)
{
    if (strcmp(t, "O") == 0) return (tag_parts){ 'O', "", 0 };
    const char *dash = strchr(t, '-');
    if (dash && dash == t + 1) return (tag_parts){ t[0], dash + 1, strlen(dash + 1) };
    return (tag_parts){ 'I', t, strlen(t) };   /* a bare tag: its own type, inside */
}

static bool same_type(tag_parts a, tag_parts b)
{
    return a.type_len == b.type_len && memcmp(a.type, b.type, a.type_len) == 0;
}

/* Does a chunk end between prev and cur? */
static bool chunk_ends(tag_parts prev, tag_parts cur)
{
    char p = prev.b, c = cur.b;
    if (p == 'O') return false;
    if (p == 'E' || p == 'S') return true;
    if (c == 'B' || c == 'S' || c == 'O') return true;
    return !same_type(prev, cur);   /* p in B, I and c in I, E */
}

/* Does a chunk start at cur, after prev? */
static bool chunk_starts(tag_parts prev, tag_parts cur)
{
    char p = prev.b, c = cur.b;
    if (c == 'O') return false;
    if (c == 'B' || c == 'S') return true;
    if (p == 'E' || p == 'S' || p == 'O') return true;
    return !same_type(prev, cur);   /* c in I, E after B or I */
}

void weft_chunk_score_add(weft_chunk_score *s, const char *const *gold, const char *const *pred,
                          int n)
{
    tag_parts pg = { 'O', "", 0 }, pp = { 'O', "", 0 };
    bool in_correct = false;   /* inside a chunk that so far agrees in both */
    for (int i = 0; i <= n; i++) {
        /* a virtual O after the last token closes every open chunk */
        tag_parts g = i < n ? split(gold[i]) : (tag_parts){ 'O', "", 0 };
        tag_parts p = i < n ? split(pred[i]) : (tag_parts){ 'O', "", 0 };
        bool g_end = chunk_ends(pg, g), p_end = chunk_ends(pp, p);
        bool g_start = chunk_starts(pg, g), p_start = chunk_starts(pp, p);
        if (in_correct) {
            if (g_end && p_end && same_type(pg, pp)) {
                s->correct++;
                in_correct = false;
            } else if (g_end != p_end || !same_type(g, p)) {
                in_correct = false;
            }
        }
        if (g_start && p_start && same_type(g, p)) in_correct = true;
        if (i < n) {
            if (g_start) s->gold++;
            if (p_start) s->predicted++;
            s->tokens++;
            if (strcmp(gold[i], pred[i]) == 0) s->tokens_correct++;
        }
        pg = g;
        pp = p;
    }
}

double weft_chunk_precision(const weft_chunk_score *s)
{
    return s->predicted ? (double)s->correct / (double)s->predicted : 0.0;
}

double weft_chunk_recall(const weft_chunk_score *s)
{
    return s->gold ? (double)s->correct / (double)s->gold : 0.0;
}

double weft_chunk_f1(const weft_chunk_score *s)
{
    return s->gold + s->predicted ? 2.0 * (double)s->correct / (double)(s->gold + s->predicted)
                                  : 0.0;
}
