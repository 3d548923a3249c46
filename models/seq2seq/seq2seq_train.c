/* models/seq2seq/seq2seq_train.c — the encoder-decoder as a weft_trainable
 * (weft/seq2seq.h, weft/train.h): batches of sentences of similar source
 * length, the validation perplexity per target token as the score. */
#include "models/seq2seq/seq2seq_internal.h"

#include "src/internal.h"
#include "weft/distributed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct weft_s2s_trainer {
    weft_seq2seq *m;               /* borrowed */
    weft_s2s_train_data d;
    int *order;                    /* the training sentences by source length */
    long n_batches;
    long *batch_order;             /* this epoch's order of the batches */
    int rank, size;                /* this process's place among the ranks (1 rank: 0, 1) */
    double tokens;                 /* target tokens of an epoch, </s> included */
};

/* qsort's comparison needs the lengths: sort (length, index) pairs instead */
typedef struct len_index {
    int len, index;
} len_index;

static int by_len(const void *a, const void *b)
{
    const len_index *x = a, *y = b;
    return x->len != y->len ? x->len - y->len : x->index - y->index;
}

static int epoch_begin(void *model, int epoch, long first_batch, weft_rng *rng,
                       weft_train_epoch *e, char *err, size_t errsize)
{
    (void)epoch, (void)first_batch, (void)err, (void)errsize;
    weft_s2s_trainer *t = model;
    for (long i = 0; i < t->n_batches; i++) t->batch_order[i] = i;
    for (long i = t->n_batches - 1; i > 0; i--) {   /* Fisher-Yates */
        long j = (long)weft_rng_below(rng, (uint32_t)(i + 1));
        long tmp = t->batch_order[i];
        t->batch_order[i] = t->batch_order[j];
        t->batch_order[j] = tmp;
    }
    *e = (weft_train_epoch){ .batches = t->n_batches, .items = t->tokens,
                             .batch_items = t->tokens / (double)t->n_batches };
    return 0;
}

static int batch_loss(void *model, weft_graph *g, long index, weft_rng *rng, weft_train_batch *b,
                      char *err, size_t errsize)
{
    weft_s2s_trainer *t = model;
    const weft_s2s_corpus *c = t->d.train;
    long k = t->batch_order[index];
    size_t i0 = (size_t)k * (size_t)t->d.batch;
    int whole = c->n - (int)i0 < t->d.batch ? c->n - (int)i0 : t->d.batch;
    /* several ranks: this rank's share of the batch's pairs */
    int B = (int)weft_train_rank_share((size_t)whole, t->rank, t->size, &i0, b);
    if (B == 0) return 0;
    const int **src = weft_graph_alloc(g, (size_t)B * sizeof *src);
    const int **tgt = weft_graph_alloc(g, (size_t)B * sizeof *tgt);
    int *sl = weft_graph_alloc(g, (size_t)B * sizeof(int)), *tl = weft_graph_alloc(g, (size_t)B * sizeof(int));
    if (!src || !tgt || !sl || !tl) {
        weft_say(err, errsize, "%s", weft_graph_error(g));
        return -1;
    }
    for (int j = 0; j < B; j++) {
        int i = t->order[i0 + j];
        src[j] = c->src[i];
        tgt[j] = c->tgt[i];
        sl[j] = c->src_len[i];
        tl[j] = c->tgt_len[i];
    }
    weft_var *loss;
    double tokens;
    if (weft_seq2seq_loss(g, t->m, src, sl, tgt, tl, B, t->d.ss_rate, rng, &loss, &tokens)) {
        weft_say(err, errsize, "%s", weft_graph_error(g));
        return -1;
    }
    *b = (weft_train_batch){ .loss = loss, .items = tokens };
    return 0;
}

static int evaluate(void *model, weft_graph *g, weft_train_set set, double *score, char *err,
                    size_t errsize)
{
    (void)g, (void)set;
    weft_s2s_trainer *t = model;
    double nll;
    if (weft_seq2seq_corpus_loss(t->m, t->d.valid, t->d.batch, &nll, err, errsize)) return -1;
    *score = exp(nll);
    return 0;
}

static int shard(void *model, int rank, int size, char *err, size_t errsize)
{
    weft_s2s_trainer *t = model;
    if (size > t->d.batch) {
        weft_say(err, errsize, "a batch of %d sentence pairs is smaller than the %d ranks",
                 t->d.batch, size);
        return -1;
    }
    t->rank = rank;
    t->size = size;
    return 0;
}

static int save(void *model, const char *path, char *err, size_t errsize)
{
    weft_s2s_trainer *t = model;
    return weft_seq2seq_save(t->m, path, err, errsize);
}

static int load(void *model, const char *path, char *err, size_t errsize)
{
    weft_s2s_trainer *t = model;
    return weft_checkpoint_load(path, t->m->params, 0, err, errsize);
}

/* The run's state (weft_train_save_params_state) with the model's metadata and
 * what the data must match on --resume ("weft.data"). */
static int save_state(void *model, const char *path, const weft_train_opts *o,
                      const weft_train_state *st, char *err, size_t errsize)
{
    weft_s2s_trainer *t = model;
    char *conf = weft_seq2seq_config_json(t->m), *sv = weft_vocab_to_json(t->m->src_vocab),
         *tv = weft_vocab_to_json(t->m->tgt_vocab);
    char data[128];
    snprintf(data, sizeof data, "{\"pairs\":%d,\"batch\":%d,\"ss_rate\":%.9g}", t->d.train->n,
             t->d.batch, (double)t->d.ss_rate);
    int rc = -1;
    if (!conf || !sv || !tv) {
        weft_say(err, errsize, "%s: out of memory", path);
    } else {
        weft_meta_kv meta[5] = { { "format", "pt" }, { "weft.config", conf },
                                 { "weft.vocab", tv }, { "weft.src_vocab", sv },
                                 { "weft.data", data } };
        rc = weft_train_save_params_state(path, t->m->params, o, st, meta, 5, err, errsize);
    }
    free(conf);
    free(sv);
    free(tv);
    return rc;
}

weft_s2s_trainer *weft_seq2seq_trainer(weft_seq2seq *m, const weft_s2s_train_data *d,
                                       weft_trainable *tr, char *err, size_t errsize)
{
    if (!d->train || d->train->n < 1 || d->batch < 1 || d->ss_rate < 0 || d->ss_rate > 1) {
        weft_say(err, errsize, "seq2seq training: need training pairs, batch >= 1 and a "
                 "sampling rate in [0, 1]");
        return NULL;
    }
    weft_s2s_trainer *t = calloc(1, sizeof *t);
    len_index *li = t ? malloc((size_t)d->train->n * sizeof *li) : NULL;
    if (t) {
        t->order = malloc((size_t)d->train->n * sizeof(int));
        t->n_batches = (d->train->n + d->batch - 1) / d->batch;
        t->batch_order = malloc((size_t)t->n_batches * sizeof(long));
    }
    if (!t || !li || !t->order || !t->batch_order) {
        free(li);
        weft_seq2seq_trainer_free(t);
        weft_say(err, errsize, "seq2seq training: out of memory");
        return NULL;
    }
    t->m = m;
    t->d = *d;
    for (int i = 0; i < d->train->n; i++) {
        li[i] = (len_index){ d->train->src_len[i], i };
        t->tokens += d->train->tgt_len[i] + 1;
    }
    qsort(li, (size_t)d->train->n, sizeof *li, by_len);
    for (int i = 0; i < d->train->n; i++) t->order[i] = li[i].index;
    free(li);
    *tr = (weft_trainable){ .model = t, .params = m->params, .epoch_begin = epoch_begin,
                            .batch_loss = batch_loss, .evaluate = d->valid ? evaluate : NULL,
                            .higher_is_better = false, .has_valid = d->valid != NULL,
                            .score_name = "ppl", .shard = shard, .save = save,
                            .load = load, .save_state = save_state };
    return t;
}

void weft_seq2seq_trainer_free(weft_s2s_trainer *t)
{
    if (!t) return;
    free(t->order);
    free(t->batch_order);
    free(t);
}
