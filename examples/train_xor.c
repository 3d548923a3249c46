/* examples/train_xor.c — training a model of your own with weft's trainer
 * (weft/train.h): a two-layer network learns XOR of two noisy inputs.
 *
 * The model says how to make the loss of a batch and how to score a data set;
 * the trainer does the rest: epochs, Adam, clipping, a cosine schedule with
 * warm-up, early stopping, keeping the best model, Ctrl-C, the logs.
 *
 *     build/examples/train_xor            (writes xor.safetensors, xor.jsonl)
 *
 * docs/library.md walks through it. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "weft/weft.h"

enum { N_TRAIN = 256, N_VALID = 64, IN = 2, HIDDEN = 8, BATCH = 16 };

typedef struct xor_model {
    weft_params *params;
    weft_param *W1, *b1, *W2, *b2;
    float x[N_TRAIN + N_VALID][IN];
    int y[N_TRAIN + N_VALID];
    int order[N_TRAIN];
} xor_model;

/* y = softmax(W2 tanh(W1 x + b1) + b2): logits of the two classes, [n, 2]. */
static weft_var *logits(xor_model *m, weft_graph *g, const int *rows, int n)
{
    weft_tensor x = weft_tensor_alloc2(n, IN);
    for (int k = 0; k < n; k++) memcpy(x.data + k * IN, m->x[rows[k]], sizeof m->x[0]);
    weft_var *xv = weft_input(g, &x, "x", false);   /* the graph keeps its own copy */
    weft_tensor_release(&x);
    weft_var *h = weft_tanh(g, weft_linear(g, xv, weft_param_var(g, m->W1),
                                           weft_param_var(g, m->b1)));
    return weft_linear(g, h, weft_param_var(g, m->W2), weft_param_var(g, m->b2));
}

/* --- the five callbacks the trainer calls ------------------------------------------------ */

/* A new epoch: a fresh order of the training points, from the run's stream. */
static int epoch_begin(void *self, int epoch, long first_batch, weft_rng *rng,
                       weft_train_epoch *e, char *err, size_t errsize)
{
    (void)epoch, (void)first_batch, (void)err, (void)errsize;
    xor_model *m = self;
    for (int i = 0; i < N_TRAIN; i++) m->order[i] = i;
    for (int i = N_TRAIN - 1; i > 0; i--) {
        int j = (int)weft_rng_below(rng, (uint32_t)i + 1), t = m->order[i];
        m->order[i] = m->order[j];
        m->order[j] = t;
    }
    e->batches = N_TRAIN / BATCH;
    e->items = N_TRAIN;
    e->batch_items = BATCH;
    return 0;
}

/* The mean cross-entropy of batch `index` of the epoch. */
static int batch_loss(void *self, weft_graph *g, long index, weft_rng *rng,
                      weft_train_batch *b, char *err, size_t errsize)
{
    (void)rng, (void)err, (void)errsize;
    xor_model *m = self;
    const int *rows = m->order + index * BATCH;
    int y[BATCH];
    for (int k = 0; k < BATCH; k++) y[k] = m->y[rows[k]];
    b->loss = weft_cross_entropy(g, logits(m, g, rows, BATCH), y, NULL);
    b->items = BATCH;
    return 0;   /* a failed op leaves the graph failed: the trainer reports it */
}

/* Accuracy on the validation points (higher is better). */
static int evaluate(void *self, weft_graph *g, weft_train_set set, double *score, char *err,
                    size_t errsize)
{
    (void)set, (void)err, (void)errsize;
    xor_model *m = self;
    int rows[N_VALID], right = 0;
    for (int k = 0; k < N_VALID; k++) rows[k] = N_TRAIN + k;
    weft_graph_reset(g);
    const float *z = weft_value(logits(m, g, rows, N_VALID))->data;
    for (int k = 0; k < N_VALID; k++) right += (z[2 * k + 1] > z[2 * k]) == m->y[rows[k]];
    *score = (double)right / N_VALID;
    return 0;
}

static int save(void *self, const char *path, char *err, size_t errsize)
{
    xor_model *m = self;
    return weft_checkpoint_save(path, m->params, NULL, 0, err, errsize);
}

/* One line an epoch, from the trainer's events. */
static int print_epoch(void *user, const weft_train_event *e)
{
    (void)user;
    if (e->kind == WEFT_TRAIN_EPOCH)
        printf("epoch %2d  loss %.4f  lr %.5f  valid accuracy %.3f%s\n", e->epoch, e->loss,
               e->lr, e->score, e->saved ? "  (best: saved)" : "");
    return 0;   /* non-zero would stop the run */
}

int main(void)
{
    xor_model m = { .params = weft_params_new() };
    m.W1 = weft_params_add(m.params, "W1", 2, (int[]){ HIDDEN, IN });
    m.b1 = weft_params_add(m.params, "b1", 1, (int[]){ HIDDEN });
    m.W2 = weft_params_add(m.params, "W2", 2, (int[]){ 2, HIDDEN });
    m.b2 = weft_params_add(m.params, "b2", 1, (int[]){ 2 });
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    weft_init_uniform(m.W1, &rng, 1.0f);
    weft_init_uniform(m.W2, &rng, 1.0f);
    for (int i = 0; i < N_TRAIN + N_VALID; i++) {   /* the four corners, with noise */
        int a = (int)weft_rng_below(&rng, 2), b = (int)weft_rng_below(&rng, 2);
        m.x[i][0] = (float)a + 0.1f * weft_rng_normal(&rng);
        m.x[i][1] = (float)b + 0.1f * weft_rng_normal(&rng);
        m.y[i] = a ^ b;
    }

    weft_trainable t = {
        .model = &m, .params = m.params, .epoch_begin = epoch_begin, .batch_loss = batch_loss,
        .evaluate = evaluate, .higher_is_better = true, .has_valid = true,
        .score_name = "accuracy", .save = save,
    };
    weft_train_opts o = weft_train_defaults();
    o.optim = weft_optim_adam(0.05);
    o.schedule.kind = WEFT_LR_COSINE;
    o.schedule.warmup_steps = 16;
    o.clip = 5.0f;
    o.epochs = 40;
    o.patience = 10;                      /* stop after 10 epochs without a better accuracy */
    o.save_path = "xor.safetensors";      /* the best model, saved atomically */
    o.log_json = "xor.jsonl";             /* every event as a line of JSON */
    o.catch_signals = true;               /* Ctrl-C or SIGTERM: stop cleanly */
    o.on_event = print_epoch;

    weft_train_result r;
    char err[512];
    int rc = weft_train(&t, &o, &r, err, sizeof err);
    if (rc) fprintf(stderr, "train_xor: %s\n", err);
    else printf("best valid accuracy %.3f at epoch %d (%s)\n", r.best, r.best_epoch,
                o.save_path);
    weft_params_free(m.params);
    return rc || r.best < 0.95 ? 1 : 0;
}
