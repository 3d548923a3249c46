/* models/lm/lm_train.c — the recurrent language model as a weft_trainable
 * (weft/lm.h, weft/train.h): windows of truncated BPTT over a stream, the
 * hidden state carried from window to window, perplexity on validation and
 * test, and the MODEL.state file of weft_lm_save_run for --resume. */
#include "weft/lm.h"

#include "weft/distributed.h"
#include "weft/train.h"
#include "src/internal.h"
#include "models/lm/lm_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct weft_lm_trainer {
    weft_lm *m;                     /* borrowed */
    weft_lm_data d;
    weft_batches batches;           /* the training ids in `batch` streams */
    long windows;                   /* an epoch */
    weft_state carry;               /* the hidden state carried between windows */
    weft_rnn_out out;               /* the window just built (for batch_end) */
    /* recomputation (set_checkpoint_every): segments of `every` steps; the
     * window under way (its ids, its segments' start states) */
    int every;
    weft_lm_segments seg;
    bool in_segments;
    const int *win_in, *win_tg;
    int win_len;
    int *rows;                      /* the window's distinct input ids (the encoder's rows) */
    weft_grad_rows grad_rows;
    /* several ranks (shard): this rank trains streams [first, first + d.batch) of
       global_batch; gathered holds every stream's carried state on rank 0 for
       save_state */
    int global_batch, first;
    bool sharded;
    weft_state gathered;
};

weft_lm_trainer *weft_lm_trainer_new(weft_lm *m, const weft_lm_data *d, weft_state *carry,
                                     char *err, size_t errsize)
{
    if (d->bptt < 1 || d->batch < 1 || d->valid_batch < 1) {
        weft_say(err, errsize, "batch %d, bptt %d and valid_batch %d must be >= 1", d->batch,
                 d->bptt, d->valid_batch);
        return NULL;
    }
    weft_lm_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        weft_say(err, errsize, "out of memory");
        return NULL;
    }
    t->m = m;
    t->d = *d;
    t->global_batch = d->batch;
    if (weft_batchify(d->train, d->n_train, d->batch, &t->batches, err, errsize)) {
        free(t);
        return NULL;
    }
    t->windows = (t->batches.steps - 1 + d->bptt - 1) / d->bptt;
    if (t->windows < 1) {
        weft_say(err, errsize, "%zu tokens in %d streams leave no window to train on",
                 d->n_train, d->batch);
        weft_batches_free(&t->batches);
        free(t);
        return NULL;
    }
    const char *which[2] = { "validation", "test" };
    size_t n[2] = { d->valid ? d->n_valid : 0, d->test ? d->n_test : 0 };
    for (int k = 0; k < 2; k++)
        if ((k ? d->test : d->valid) && n[k] < (size_t)2 * (size_t)d->valid_batch) {
            weft_say(err, errsize, "the %s text's %zu tokens are too few to score in %d streams",
                     which[k], n[k], d->valid_batch);
            weft_batches_free(&t->batches);
            free(t);
            return NULL;
        }
    if (carry) {
        t->carry = *carry;
        *carry = (weft_state){ 0 };
    }
    return t;
}

void weft_lm_trainer_free(weft_lm_trainer *t)
{
    if (!t) return;
    weft_batches_free(&t->batches);
    weft_state_free(&t->carry);
    weft_state_free(&t->gathered);
    weft_lm_segments_free(&t->seg);
    free(t->rows);
    free(t);
}

int weft_lm_trainer_steps(const weft_lm_trainer *t)
{
    return t->batches.steps;
}

long weft_lm_trainer_windows(const weft_lm_trainer *t)
{
    return t->windows;
}

static int epoch_begin(void *model, int epoch, long first_batch, weft_rng *rng,
                       weft_train_epoch *e, char *err, size_t errsize)
{
    (void)epoch, (void)rng, (void)err, (void)errsize;
    weft_lm_trainer *t = model;
    /* every epoch starts from a zero state; a resumed one from the carried */
    if (first_batch == 0) weft_state_free(&t->carry);
    e->batches = t->windows;
    /* the global batch's (several ranks: the trainer counts every rank's items) */
    e->items = (double)(t->batches.steps - 1) * t->global_batch;
    e->batch_items = (double)t->d.bptt * t->global_batch;
    return 0;
}

static int batch_loss(void *model, weft_graph *g, long index, weft_rng *rng,
                      weft_train_batch *b, char *err, size_t errsize)
{
    weft_lm_trainer *t = model;
    weft_lm *m = t->m;
    const int *in, *tg;
    int start = (int)(index * t->d.bptt);
    int len = weft_batches_window(&t->batches, start, t->d.bptt, &in, &tg);
    if (len <= 0) {
        weft_say(err, errsize, "window %ld is past the end of the stream", index + 1);
        return -1;
    }
    weft_var *loss;
    weft_lm_segments_free(&t->seg);
    t->in_segments = t->every > 0 && t->every < len;
    if (t->in_segments) {
        /* the forward in segments, keeping their start states; the loss
         * handed back is a number: batch_backward recomputes */
        if (weft_lm_segments_forward(m, g, in, tg, len, t->d.batch, &t->carry, rng, t->every,
                                     &t->seg, err, errsize))
            return -1;
        t->win_in = in;
        t->win_tg = tg;
        t->win_len = len;
        weft_graph_reset(g);
        float value = (float)t->seg.loss;
        weft_tensor lt = weft_tensor_wrap(&value, 1, (int[]){ 1 });
        loss = weft_input(g, &lt, "window loss", false);
    } else {
        loss = weft_lm_forward(m, g, in, tg, len, t->d.batch, &t->carry, rng, &t->out);
    }
    if (!loss || weft_graph_failed(g)) {
        weft_say(err, errsize, "steps %d..%d of %d: %s", start, start + len, t->batches.steps,
                 weft_graph_error(g) ? weft_graph_error(g) : "lm: forward failed");
        return -1;
    }
    /* The encoder's gradient reaches only the rows of this window's ids
     * (unless the decoder shares it, or embedding dropout sits between): the
     * norm and a plain SGD step skip the others (weft_grad_rows). */
    free(t->rows);
    t->rows = NULL;
    b->rows = NULL;
    bool sparse = !m->cfg.tied && !(rng && m->cfg.dropout_embed > 0.0f);
    int n_rows = 0;
    if (sparse && (t->rows = weft_lm_window_rows(in, len * t->d.batch, m->vocab_size, &n_rows))) {
        t->grad_rows = (weft_grad_rows){ .param = m->encoder, .rows = t->rows, .n_rows = n_rows };
        b->rows = &t->grad_rows;
    }
    b->loss = loss;
    b->items = (double)len * t->d.batch;
    return 0;
}

static int batch_backward(void *model, weft_graph *g, weft_var *loss, float scale, char *err,
                          size_t errsize)
{
    weft_lm_trainer *t = model;
    if (t->in_segments)
        return weft_lm_segments_backward(t->m, g, t->win_in, t->win_tg, t->win_len, t->d.batch,
                                         &t->carry, &t->seg, scale, err, errsize);
    if (weft_backward(g, loss)) {
        weft_say(err, errsize, "%s", weft_graph_error(g));
        return -1;
    }
    return 0;
}

static int set_checkpoint_every(void *model, int every, char *err, size_t errsize)
{
    weft_lm_trainer *t = model;
    const weft_lm_config *c = &t->m->cfg;
    if (c->dropout > 0.0f && c->variational) {
        weft_say(err, errsize, "--checkpoint-every: variational dropout's masks span the whole "
                 "window, which recomputation in segments cannot keep");
        return -1;
    }
    if (c->dropout_embed > 0.0f) {
        weft_say(err, errsize, "--checkpoint-every: embedding dropout's rows span the whole "
                 "window, which recomputation in segments cannot keep");
        return -1;
    }
    t->every = every;
    return 0;
}

static int batch_end(void *model, weft_graph *g, char *err, size_t errsize)
{
    (void)g;
    weft_lm_trainer *t = model;
    if (t->in_segments) {   /* the state at the window's end, kept by the forward */
        weft_state_free(&t->carry);
        t->carry = t->seg.start[t->seg.n];
        t->seg.start[t->seg.n] = (weft_state){ 0 };
        return 0;
    }
    if (weft_state_detach(&t->out, &t->carry)) {
        weft_say(err, errsize, "lm: out of memory for the carried state");
        return -1;
    }
    return 0;
}

static int evaluate(void *model, weft_graph *g, weft_train_set set, double *score, char *err,
                    size_t errsize)
{
    weft_lm_trainer *t = model;
    const int *ids = set == WEFT_TRAIN_SET_TEST ? t->d.test : t->d.valid;
    size_t n = set == WEFT_TRAIN_SET_TEST ? t->d.n_test : t->d.n_valid;
    double nll;
    size_t count;
    if (weft_lm_eval(t->m, g, ids, n, t->d.valid_batch, t->d.bptt, &nll, &count, err, errsize))
        return -1;
    *score = exp(nll / (double)count);
    return 0;
}

/* Several ranks: this rank keeps streams [first, first + n) of the global
 * batch's (weft_dist_share), the columns of the batchified stream, so that
 * window i of every rank together is the one-process window i; a carried
 * state loaded on --resume (every stream's) keeps those rows too. */
static int shard(void *model, int rank, int size, char *err, size_t errsize)
{
    weft_lm_trainer *t = model;
    size_t first, n = weft_dist_share((size_t)t->global_batch, rank, size, &first);
    if (n == 0) {
        weft_say(err, errsize, "%d streams (--batch) are fewer than the %d ranks",
                 t->global_batch, size);
        return -1;
    }
    int L = t->batches.steps, B = t->global_batch, c0 = (int)first, nc = (int)n;
    int *mine = malloc((size_t)L * n * sizeof *mine);
    if (!mine) {
        weft_say(err, errsize, "out of memory");
        return -1;
    }
    for (int s = 0; s < L; s++)
        memcpy(mine + (size_t)s * n, t->batches.data + (size_t)s * B + c0, n * sizeof *mine);
    free(t->batches.data);
    t->batches.data = mine;
    t->batches.batch = nc;
    for (int i = 0; i < t->carry.n; i++) {
        weft_tensor *c = &t->carry.t[i];
        if (c->rank != 2 || c->shape[0] != B) {
            weft_say(err, errsize, "the carried state has %d rows, not the %d streams",
                     c->rank == 2 ? c->shape[0] : -1, B);
            return -1;
        }
        weft_tensor part = weft_tensor_alloc2(nc, c->shape[1]);
        if (!part.data) {
            weft_say(err, errsize, "out of memory");
            return -1;
        }
        weft_tensor rows = weft_tensor_view_rows(c, c0, nc);
        weft_tensor_copy(&part, &rows);
        weft_tensor_release(c);
        *c = part;
    }
    t->d.batch = nc;
    t->first = c0;
    t->sharded = true;
    return 0;
}

/* Several ranks, before rank 0 saves the state: every rank's carried rows
 * into `gathered` on rank 0, in stream order (the ranks hold consecutive
 * streams). */
static int gather_state(void *model, weft_comm *comm, char *err, size_t errsize)
{
    weft_lm_trainer *t = model;
    bool root = weft_comm_rank(comm) == 0;
    weft_state_free(&t->gathered);
    if (t->carry.n == 0) return 0;   /* the same on every rank: nothing carried yet */
    if (root && !(t->gathered.t = calloc((size_t)t->carry.n, sizeof *t->gathered.t))) {
        weft_say(err, errsize, "out of memory");
        weft_comm_abort(comm, 1);
    }
    if (root) t->gathered.n = t->carry.n;
    for (int i = 0; i < t->carry.n; i++) {
        const weft_tensor *c = &t->carry.t[i];
        if (root) {
            t->gathered.t[i] = weft_tensor_alloc2(t->global_batch, c->shape[1]);
            if (!t->gathered.t[i].data) {
                weft_say(err, errsize, "out of memory");
                weft_comm_abort(comm, 1);
            }
        }
        if (weft_comm_gather_floats(comm, c->data, c->size,
                                    root ? t->gathered.t[i].data : NULL, 0, err, errsize))
            return -1;
    }
    return 0;
}

static int save(void *model, const char *path, char *err, size_t errsize)
{
    weft_lm_trainer *t = model;
    return weft_lm_save(t->m, path, err, errsize);
}

static int load(void *model, const char *path, char *err, size_t errsize)
{
    weft_lm_trainer *t = model;
    weft_lm *saved = weft_lm_load(path, err, errsize);
    if (!saved) return -1;
    size_t n = weft_params_span(t->m->params);
    int rc = 0;
    if (weft_params_span(saved->params) != n ||
        weft_params_count(saved->params) != weft_params_count(t->m->params)) {
        weft_say(err, errsize, "%s: not a model of this configuration", path);
        rc = -1;
    } else {
        memcpy(weft_params_values(t->m->params), weft_params_values(saved->params),
               n * sizeof(float));
    }
    weft_lm_free(saved);
    return rc;
}

static int save_state(void *model, const char *path, const weft_train_opts *o,
                      const weft_train_state *st, char *err, size_t errsize)
{
    weft_lm_trainer *t = model;
    weft_lm_run run = {
        .epoch = st->epoch, .next_start = (int)(st->batch * t->d.bptt),
        .windows = st->batches_done, .lr = st->lr,
        .best_valid = st->has_best ? st->best : 0.0, .train_tokens = t->d.n_train,
        .lr0 = o->optim.lr, .decay = o->schedule.decay, .decay_start = o->schedule.decay_start,
        .clip = o->clip, .batch = t->global_batch, .bptt = t->d.bptt, .epochs = o->epochs,
        .optim = st->optim, .rng = st->rng,
    };
    /* the trainer's own fields only when a run uses them: a run with step
       decay alone writes the file it always has */
    run.has_trainer = o->schedule.kind != WEFT_LR_STEP || o->schedule.warmup_steps > 0 ||
                      o->accumulate > 1 || o->patience > 0;
    run.schedule = o->schedule;
    run.accumulate = o->accumulate;
    run.patience = o->patience;
    run.lr_scale = st->lr_scale;
    run.best_epoch = st->best_epoch;
    run.bad_epochs = st->bad_epochs;
    run.plateau_bad = st->plateau_bad;
    /* at the start of an epoch nothing is carried */
    weft_state none = { 0 };
    const weft_state *carry = t->sharded ? &t->gathered : &t->carry;
    return weft_lm_save_run(t->m, &run, st->batch == 0 ? &none : carry, path, err, errsize);
}

weft_trainable weft_lm_trainable(weft_lm_trainer *t)
{
    return (weft_trainable){
        .model = t, .params = t->m->params, .epoch_begin = epoch_begin,
        .batch_loss = batch_loss, .batch_backward = batch_backward,
        .set_checkpoint_every = set_checkpoint_every, .batch_end = batch_end, .evaluate = evaluate,
        .higher_is_better = false, .has_valid = t->d.valid != NULL,
        .has_test = t->d.test != NULL, .score_name = "ppl", .save = save, .load = load,
        .save_state = save_state, .shard = shard, .gather_state = gather_state,
    };
}

void weft_lm_run_to_train(const weft_lm_run *run, weft_train_opts *o, weft_train_state *st)
{
    o->optim = run->optim;
    o->optim.lr = run->lr0;
    o->optim.step = 0;
    o->schedule = run->schedule;
    o->schedule.decay = run->decay;
    o->schedule.decay_start = run->decay_start;
    o->clip = run->clip;
    o->epochs = run->epochs;
    o->accumulate = run->has_trainer ? run->accumulate : 1;
    o->patience = run->has_trainer ? run->patience : 0;
    *st = (weft_train_state){
        .epoch = run->epoch, .batch = run->next_start / run->bptt,
        .batches_done = run->windows, .lr = run->lr,
        .lr_scale = run->has_trainer ? run->lr_scale : 1.0,
        .has_best = run->best_valid > 0.0, .best = run->best_valid,
        .best_epoch = run->has_trainer ? run->best_epoch : 0,
        .bad_epochs = run->has_trainer ? run->bad_epochs : 0,
        .plateau_bad = run->has_trainer ? run->plateau_bad : 0,
        .optim = run->optim, .rng = run->rng, .epoch_rng = run->rng,
    };
}
