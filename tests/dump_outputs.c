/* tests/dump_outputs.c — what a weft checkpoint computes on a file, one row of
 * numbers a line, for tests/torch_outputs.py to compare with the PyTorch
 * module scripts/weft_to_torch.py builds from the same file.
 *
 *     dump_outputs MODEL DATA [TGT]
 *
 * classify / tag / window: the logits of every sentence of DATA (in the
 * model's format), all in one batch, in weft_classify_logits' row order.
 * window-lm: the logits of every token of DATA after the first, from its
 * padded context. seq2seq: the log-probabilities of every target position of
 * each pair (DATA the sources, TGT the targets, teacher-forced, </s> last). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/classify.h"
#include "weft/graph.h"
#include "weft/seq2seq.h"
#include "weft/window_lm.h"

static void print_rows(const weft_var *v)
{
    const weft_tensor *t = &v->value;
    int cols = t->shape[t->rank - 1], rows = (int)(t->size / (size_t)cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            printf("%.9g%c", (double)t->data[(size_t)r * cols + c], c + 1 < cols ? ' ' : '\n');
}

static int die(const char *what, const char *err)
{
    fprintf(stderr, "dump_outputs: %s: %s\n", what, err);
    return 1;
}

static int classifier(const char *model, const char *data)
{
    char err[1024];
    weft_classify_model *m = weft_classify_load(model, err, sizeof err);
    if (!m) return die(model, err);
    weft_labeled_data d;
    weft_classify_set s;
    if (weft_labeled_read(data, m->cfg.format, m->cfg.column, &d, err, sizeof err))
        return die(data, err);
    if (weft_classify_set_make(m, &d, &s, err, sizeof err)) return die(data, err);
    int *idx = malloc((size_t)d.n_sents * sizeof *idx);
    weft_graph *g = weft_graph_new();
    if (!idx || !g) return die("dump_outputs", "out of memory");
    for (int i = 0; i < d.n_sents; i++) idx[i] = i;
    weft_var *logits = weft_classify_logits(m, g, &s, idx, d.n_sents);
    if (!logits || weft_graph_failed(g)) return die(model, weft_graph_error(g));
    print_rows(logits);
    weft_graph_free(g);
    free(idx);
    weft_classify_set_free(&s);
    weft_labeled_free(&d);
    weft_classify_free(m);
    return 0;
}

static int window_lm(const char *model, const char *data)
{
    char err[1024];
    weft_window_lm *m = weft_window_lm_load(model, err, sizeof err);
    if (!m) return die(model, err);
    weft_tokens t;
    if (weft_tokens_read(data, m->cfg.level, &t, err, sizeof err)) return die(data, err);
    int *ids = weft_tokens_encode(&t, m->vocab, err, sizeof err);
    if (!ids) return die(data, err);
    int n = (int)t.count - 1, c = m->cfg.order - 1;
    size_t *pos = malloc((size_t)n * sizeof *pos);
    int *ctx = malloc((size_t)n * (size_t)c * sizeof *ctx);
    weft_graph *g = weft_graph_new();
    if (!pos || !ctx || !g) return die("dump_outputs", "out of memory");
    for (int k = 0; k < n; k++) pos[k] = (size_t)k + 1;
    weft_window_lm_contexts(m, ids, pos, n, ctx);
    weft_var *logits = weft_window_lm_forward(m, g, ctx, NULL, n, NULL);
    if (!logits) return die(model, weft_graph_error(g));
    print_rows(logits);
    weft_graph_free(g);
    free(ctx);
    free(pos);
    free(ids);
    weft_tokens_free(&t);
    weft_window_lm_free(m);
    return 0;
}

static int seq2seq(const char *model, const char *src, const char *tgt)
{
    char err[1024];
    weft_seq2seq *m = weft_seq2seq_load(model, err, sizeof err);
    if (!m) return die(model, err);
    weft_s2s_corpus c;
    if (weft_s2s_corpus_read(src, tgt, weft_seq2seq_src_vocab(m), weft_seq2seq_tgt_vocab(m), &c,
                             err, sizeof err))
        return die(src, err);
    weft_graph *g = weft_graph_new();
    if (!g) return die("dump_outputs", "out of memory");
    /* one pair at a time: the rows of a pair are its positions */
    for (int i = 0; i < c.n; i++) {
        weft_graph_reset(g);
        weft_s2s_decoder d;
        if (weft_seq2seq_begin(g, m, (const int *const *)&c.src[i], &c.src_len[i], 1, &d))
            return die(model, weft_graph_error(g));
        int prev = WEFT_S2S_BOS;
        for (int t = 0; t <= c.tgt_len[i]; t++) {
            weft_var *logp = weft_seq2seq_step(g, m, &d, &prev);
            if (!logp) return die(model, weft_graph_error(g));
            print_rows(logp);
            if (t < c.tgt_len[i]) prev = c.tgt[i][t];
        }
    }
    weft_graph_free(g);
    weft_s2s_corpus_free(&c);
    weft_seq2seq_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: dump_outputs MODEL DATA [TGT]\n");
        return 2;
    }
    if (argc == 4) return seq2seq(argv[1], argv[2], argv[3]);
    if (weft_window_lm_file_is(argv[1])) return window_lm(argv[1], argv[2]);
    return classifier(argv[1], argv[2]);
}
