/* models/classify/train.c — the labelling models as the library trainer
 * sees them (weft/train.h): an epoch is the training set in length buckets,
 * a batch's loss is weft_classify_loss, the score is accuracy. */
#include "weft/classify.h"

#include "weft/buckets.h"
#include "weft/distributed.h"
#include "weft/io.h"
#include "src/internal.h"

#include <stdlib.h>

static int epoch_begin(void *model, int epoch, long first_batch, weft_rng *rng,
                       weft_train_epoch *e, char *err, size_t errsize)
{
    (void)epoch, (void)first_batch;
    weft_classify_run *r = model;
    const weft_labeled_data *d = r->train->data;
    weft_buckets_free(&r->order);
    if (weft_buckets_make(r->train->lengths, d->n_sents, r->batch, r->pool, rng, &r->order, err,
                          errsize))
        return -1;
    bool per_word = r->model->cfg.task != WEFT_TASK_CLASSIFY;
    *e = (weft_train_epoch){
        .batches = r->order.n_batches,
        .items = per_word ? d->n_words : d->n_sents,
        .batch_items = per_word ? (double)d->n_words / d->n_sents * r->batch : r->batch,
    };
    return 0;
}

static int batch_loss(void *model, weft_graph *g, long index, weft_rng *rng, weft_train_batch *b,
                      char *err, size_t errsize)
{
    weft_classify_run *r = model;
    if (index < 0 || index >= r->order.n_batches) {
        weft_say(err, errsize, "classify: batch %ld of %d", index, r->order.n_batches);
        return -1;
    }
    /* several ranks: this rank's share of the batch's sentences */
    size_t first = (size_t)r->order.start[index];
    int n = (int)weft_train_rank_share((size_t)(r->order.start[index + 1] - r->order.start[index]),
                                       r->rank, r->size, &first, b);
    if (n == 0) return 0;
    const int *idx = r->order.index + first;
    weft_var *loss = weft_classify_loss(r->model, g, r->train, idx, n, rng);
    if (!loss) {
        weft_say(err, errsize, "%s", weft_graph_error(g) ? weft_graph_error(g)
                                                         : "classify: the forward failed");
        return -1;
    }
    double items = n;
    if (r->model->cfg.task != WEFT_TASK_CLASSIFY) {
        items = 0;
        for (int i = 0; i < n; i++) items += r->train->lengths[idx[i]];
    }
    *b = (weft_train_batch){ .loss = loss, .items = items };
    return 0;
}

static int evaluate(void *model, weft_graph *g, weft_train_set set, double *score, char *err,
                    size_t errsize)
{
    weft_classify_run *r = model;
    const weft_classify_set *s = set == WEFT_TRAIN_SET_TEST ? r->test : r->valid;
    weft_classify_score sc;
    if (weft_classify_evaluate(r->model, g, s, r->eval_batch, &sc, err, errsize)) return -1;
    *score = 100.0 * weft_confusion_accuracy(&sc.confusion);
    r->last = sc.chunks;
    r->last_has_chunks = sc.has_chunks;
    r->last_macro_f1 = 100.0 * weft_confusion_macro_f1(&sc.confusion);
    r->last_loss = sc.loss;
    weft_confusion_free(&sc.confusion);
    return 0;
}

static int shard(void *model, int rank, int size, char *err, size_t errsize)
{
    weft_classify_run *r = model;
    if (size > r->batch) {
        weft_say(err, errsize, "a batch of %d sentences is smaller than the %d ranks", r->batch,
                 size);
        return -1;
    }
    r->rank = rank;
    r->size = size;
    return 0;
}

static int save(void *model, const char *path, char *err, size_t errsize)
{
    weft_classify_run *r = model;
    return weft_classify_save(r->model, path, err, errsize);
}

static int load(void *model, const char *path, char *err, size_t errsize)
{
    weft_classify_run *r = model;
    return weft_checkpoint_load(path, r->model->params, 0, err, errsize);
}

static int save_state(void *model, const char *path, const weft_train_opts *o,
                      const weft_train_state *st, char *err, size_t errsize)
{
    return weft_classify_save_state(model, path, o, st, err, errsize);
}

void weft_classify_trainable(weft_classify_run *r, weft_trainable *t)
{
    if (r->batch < 1) r->batch = 32;
    if (r->pool < 1) r->pool = 20;
    if (r->eval_batch < 1) r->eval_batch = 256;
    *t = (weft_trainable){
        .model = r,
        .params = r->model->params,
        .epoch_begin = epoch_begin,
        .batch_loss = batch_loss,
        .evaluate = r->valid ? evaluate : NULL,
        .higher_is_better = true,
        .has_valid = r->valid != NULL,
        .has_test = r->test != NULL,
        .score_name = "accuracy",
        .save = save,
        .load = load,
        .save_state = save_state,
        .shard = shard,
    };
}

void weft_classify_run_free(weft_classify_run *r)
{
    if (r) weft_buckets_free(&r->order);
}
