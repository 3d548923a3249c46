/* models/lm/window_lm_train.c — the fixed-window language model as a
 * weft_trainable (weft/window_lm.h, weft/train.h): shuffled examples in
 * minibatches, perplexity on validation and test. */
#include "weft/window_lm.h"

#include "weft/distributed.h"
#include "weft/train.h"
#include "src/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct weft_window_lm_trainer {
    weft_window_lm *m;              /* borrowed */
    weft_window_lm_data d;
    size_t examples;                /* targets 1 .. n_train - 1 */
    size_t *order;                  /* this epoch's order of the targets */
    int *ctx, *tgt;                 /* one batch's contexts and targets */
    int rank, size;                 /* several ranks (shard): this rank's share of a batch */
};

weft_window_lm_trainer *weft_window_lm_trainer_new(weft_window_lm *m,
                                                   const weft_window_lm_data *d, char *err,
                                                   size_t errsize)
{
    if (d->n_train < 2 || (d->valid && d->n_valid < 2) || (d->test && d->n_test < 2)) {
        const char *which = d->n_train < 2 ? "training" : d->valid && d->n_valid < 2
                                                          ? "validation" : "test";
        size_t n = d->n_train < 2 ? d->n_train : d->valid && d->n_valid < 2 ? d->n_valid
                                                                            : d->n_test;
        weft_say(err, errsize, "the %s text has %zu tokens; at least 2 are needed", which, n);
        return NULL;
    }
    if (d->batch < 1 || d->eval_batch < 1) {
        weft_say(err, errsize, "batch %d and eval_batch %d must be >= 1", d->batch,
                 d->eval_batch);
        return NULL;
    }
    weft_window_lm_trainer *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->m = m;
    t->d = *d;
    t->examples = d->n_train - 1;
    t->size = 1;
    int c = m->cfg.order - 1;
    t->order = malloc(t->examples * sizeof *t->order);
    t->ctx = malloc((size_t)d->batch * (size_t)c * sizeof *t->ctx);
    t->tgt = malloc((size_t)d->batch * sizeof *t->tgt);
    if (!t->order || !t->ctx || !t->tgt) goto oom;
    return t;
oom:
    weft_window_lm_trainer_free(t);
    weft_say(err, errsize, "out of memory");
    return NULL;
}

void weft_window_lm_trainer_free(weft_window_lm_trainer *t)
{
    if (!t) return;
    free(t->order);
    free(t->ctx);
    free(t->tgt);
    free(t);
}

static int epoch_begin(void *model, int epoch, long first_batch, weft_rng *rng,
                       weft_train_epoch *e, char *err, size_t errsize)
{
    (void)epoch, (void)first_batch, (void)err, (void)errsize;
    weft_window_lm_trainer *t = model;
    /* a fresh order of the examples (Fisher-Yates) */
    size_t *order = t->order, n = t->examples;
    for (size_t k = 0; k < n; k++) order[k] = k + 1;
    for (size_t k = n - 1; k > 0; k--) {
        size_t j = (size_t)weft_rng_below(rng, (uint32_t)(k + 1 > 0xFFFFFFFFu ? 0xFFFFFFFFu
                                                                               : k + 1));
        size_t tmp = order[k];
        order[k] = order[j];
        order[j] = tmp;
    }
    size_t B = (size_t)t->d.batch;
    e->batches = (long)((n + B - 1) / B);
    e->items = (double)n;
    e->batch_items = (double)B;
    return 0;
}

static int batch_loss(void *model, weft_graph *g, long index, weft_rng *rng,
                      weft_train_batch *b, char *err, size_t errsize)
{
    weft_window_lm_trainer *t = model;
    size_t B = (size_t)t->d.batch, first = (size_t)index * B;
    size_t whole = t->examples - first < B ? t->examples - first : B;
    /* several ranks: this rank's share of the batch's examples */
    int nb = (int)weft_train_rank_share(whole, t->rank, t->size, &first, b);
    if (nb == 0) return 0;
    weft_window_lm_contexts(t->m, t->d.train, t->order + first, nb, t->ctx);
    for (int k = 0; k < nb; k++) t->tgt[k] = t->d.train[t->order[first + (size_t)k]];
    weft_var *loss = weft_window_lm_forward(t->m, g, t->ctx, t->tgt, nb, rng);
    if (!loss || weft_graph_failed(g)) {
        weft_say(err, errsize, "%s",
                 weft_graph_error(g) ? weft_graph_error(g) : "window-lm: forward failed");
        return -1;
    }
    b->loss = loss;
    b->items = nb;
    return 0;
}

static int evaluate(void *model, weft_graph *g, weft_train_set set, double *score, char *err,
                    size_t errsize)
{
    weft_window_lm_trainer *t = model;
    const int *ids = set == WEFT_TRAIN_SET_TEST ? t->d.test : t->d.valid;
    size_t n = set == WEFT_TRAIN_SET_TEST ? t->d.n_test : t->d.n_valid;
    double nll;
    size_t count;
    if (weft_window_lm_eval(t->m, g, ids, n, t->d.eval_batch, &nll, &count, err, errsize))
        return -1;
    *score = exp(nll / (double)count);
    return 0;
}

/* Several ranks: every rank reads the whole epoch's order (drawn from the run's
 * stream, the same on every rank) and trains on its share of each batch. */
static int shard(void *model, int rank, int size, char *err, size_t errsize)
{
    weft_window_lm_trainer *t = model;
    if (size > t->d.batch) {
        weft_say(err, errsize, "a batch of %d examples (--batch) is smaller than the %d ranks",
                 t->d.batch, size);
        return -1;
    }
    t->rank = rank;
    t->size = size;
    return 0;
}

static int save(void *model, const char *path, char *err, size_t errsize)
{
    weft_window_lm_trainer *t = model;
    return weft_window_lm_save(t->m, path, err, errsize);
}

static int load(void *model, const char *path, char *err, size_t errsize)
{
    weft_window_lm_trainer *t = model;
    weft_window_lm *saved = weft_window_lm_load(path, err, errsize);
    if (!saved) return -1;
    size_t n = weft_params_span(t->m->params);
    int rc = 0;
    if (weft_params_span(saved->params) != n) {
        weft_say(err, errsize, "%s: not a model of this configuration", path);
        rc = -1;
    } else {
        memcpy(weft_params_values(t->m->params), weft_params_values(saved->params),
               n * sizeof(float));
    }
    weft_window_lm_free(saved);
    return rc;
}

static int save_state(void *model, const char *path, const weft_train_opts *o,
                      const weft_train_state *st, char *err, size_t errsize)
{
    weft_window_lm_trainer *t = model;
    char *conf = weft_window_lm_config_json(t->m), *voc = weft_vocab_to_json(t->m->vocab);
    char data[96];
    snprintf(data, sizeof data, "{\"train_tokens\":%zu,\"batch\":%d}", t->d.n_train,
             t->d.batch);
    int rc = -1;
    if (!conf || !voc) {
        weft_say(err, errsize, "%s: out of memory", path);
    } else {
        weft_meta_kv meta[4] = { { "format", "pt" }, { "weft.config", conf },
                                 { "weft.vocab", voc }, { "weft.data", data } };
        rc = weft_train_save_params_state(path, t->m->params, o, st, meta, 4, err, errsize);
    }
    free(conf);
    free(voc);
    return rc;
}

weft_trainable weft_window_lm_trainable(weft_window_lm_trainer *t)
{
    return (weft_trainable){
        .model = t, .params = t->m->params, .epoch_begin = epoch_begin,
        .batch_loss = batch_loss, .evaluate = evaluate, .higher_is_better = false,
        .has_valid = t->d.valid != NULL, .has_test = t->d.test != NULL, .score_name = "ppl",
        .save = save, .load = load, .save_state = save_state, .shard = shard,
    };
}
