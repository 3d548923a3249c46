/* models/experiments/compare.c — one cell on one task (weft/compare.h): the model, its
 * equal-parameter sizing, and training with a budget through the trainer
 * (weft/train.h), validating at points spread over the budget. */
#include "weft/compare.h"

#include "weft/ops.h"
#include "weft/rnn.h"
#include "weft/train.h"
#include "src/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --- sizing ---------------------------------------------------------------------------------- */

size_t weft_compare_numel(const weft_cell_type *c, const weft_task *t, int E, int H)
{
    bool tokens = t->input == WEFT_TASK_TOKENS;
    size_t cell = weft_cell_type_numel(c, tokens ? E : t->in_width, H);
    if (cell == 0) return 0;
    size_t in = tokens ? (size_t)t->in_width * (size_t)E : 0;
    size_t out = (size_t)t->out_width * (size_t)H + (size_t)t->out_width;
    return in + cell + out;
}

int weft_compare_size(const weft_cell_type *c, const weft_task *t, int E, size_t budget,
                      double tolerance, int *H, size_t *numel, char *err, size_t errsize)
{
    enum { MAX_H = 8192 };
    int best_h = 0;
    size_t best_n = 0;
    double best_gap = INFINITY;
    for (int h = 1; h <= MAX_H; h++) {
        size_t n = weft_compare_numel(c, t, E, h);
        if (n == 0) continue;
        double gap = fabs((double)n - (double)budget);
        if (gap < best_gap) best_gap = gap, best_h = h, best_n = n;
        if (n > budget && (double)n > 2.0 * (double)budget) break;
    }
    if (best_h == 0) {
        weft_say(err, errsize, "%s on %s: the cell takes no hidden width up to %d", c->name,
            t->name, MAX_H);
        return -1;
    }
    if (best_gap > tolerance * (double)budget) {
        size_t floor_n = weft_compare_numel(c, t, E, 1);
        weft_say(err, errsize, "%s on %s: no hidden width gives %zu parameters within %.0f%%: the "
            "nearest is H %d with %zu%s", c->name, t->name, budget, 100.0 * tolerance, best_h,
            best_n, floor_n > budget ? " (the input and output layers alone take more than the "
            "budget: raise --budget-params or lower --embed)" : "");
        return -1;
    }
    *H = best_h;
    *numel = best_n;
    return 0;
}

/* --- the model ---------------------------------------------------------------------------- */

typedef struct model {
    const weft_task *task;
    int H, E;
    weft_params *params;
    weft_rnn *rnn;
    weft_param *embed;       /* [V, E], token tasks */
    weft_param *out_w;       /* [O, H] */
    weft_param *out_b;       /* [O] */
} model;

static void model_free(model *m)
{
    weft_rnn_free(m->rnn);
    weft_params_free(m->params);
    memset(m, 0, sizeof *m);
}

static int model_new(model *m, const weft_cell_type *c, const weft_task *t, int H, int E,
                     weft_rng *rng, char *err, size_t errsize)
{
    memset(m, 0, sizeof *m);
    m->task = t;
    m->H = H;
    m->E = E;
    bool tokens = t->input == WEFT_TASK_TOKENS;
    if (!(m->params = weft_params_new())) {
        weft_say(err, errsize, "out of memory");
        return -1;
    }
    if (tokens && !(m->embed = weft_params_add(m->params, "embed.weight", 2,
                                               (int[]){ t->in_width, E })))
        goto store_fail;
    m->rnn = weft_rnn_new(m->params, &(weft_rnn_config){ .cell = c,
                          .input_size = tokens ? E : t->in_width, .hidden_size = H,
                          .num_layers = 1, .prefix = "rnn." }, err, errsize);
    if (!m->rnn) {
        model_free(m);
        return -1;
    }
    if (!(m->out_w = weft_params_add(m->params, "out.weight", 2, (int[]){ t->out_width, H })) ||
        !(m->out_b = weft_params_add(m->params, "out.bias", 1, (int[]){ t->out_width })))
        goto store_fail;
    /* the cell's own initialisers; the input and output layers as nn.Embedding
     * scaled down (±0.1) and nn.Linear (±1/sqrt(H)) */
    if (weft_rnn_reset_parameters(m->rnn, rng)) {
        weft_say(err, errsize, "%s: its init hook failed", c->name);
        model_free(m);
        return -1;
    }
    if (m->embed) weft_rng_fill_uniform(rng, &m->embed->value, -0.1f, 0.1f);
    float a = 1.0f / sqrtf((float)H);
    weft_rng_fill_uniform(rng, &m->out_w->value, -a, a);
    weft_rng_fill_uniform(rng, &m->out_b->value, -a, a);
    return 0;
store_fail:
    weft_say(err, errsize, "parameters: %s", weft_params_error(m->params));
    model_free(m);
    return -1;
}

/* A batch of examples laid out time-major over the longest, T x B. */
typedef struct batch {
    int T, B;
    int *lengths;     /* [B] */
    bool ragged;
    int *ids;         /* [T * B] */
    weft_tensor x;    /* [T, B, I] */
    int *target;      /* [T * B] CE; BCE: [T * B * O] 0/1 */
    weft_tensor y;    /* [T, B, O] MSE */
    float *mask;      /* [T * B] (BCE: [T * B * O]) training weight */
    float *score;     /* [T * B] score weight */
} batch;

static void batch_free(batch *b)
{
    free(b->lengths);
    free(b->ids);
    weft_tensor_release(&b->x);
    free(b->target);
    weft_tensor_release(&b->y);
    free(b->mask);
    free(b->score);
    memset(b, 0, sizeof *b);
}

static int batch_make(const weft_task *t, const weft_task_example *const *ex, int B, batch *b)
{
    memset(b, 0, sizeof *b);
    int T = 0;
    for (int k = 0; k < B; k++) T = ex[k]->T > T ? ex[k]->T : T;
    b->T = T;
    b->B = B;
    size_t rows = (size_t)T * (size_t)B, O = (size_t)t->out_width, I = (size_t)t->in_width;
    bool bce = t->loss == WEFT_TASK_BCE;
    bool ok = (b->lengths = malloc((size_t)B * sizeof(int))) != NULL;
    ok = ok && (b->mask = calloc(rows * (bce ? O : 1), sizeof(float))) != NULL;
    ok = ok && (b->score = calloc(rows, sizeof(float))) != NULL;
    if (t->input == WEFT_TASK_TOKENS) ok = ok && (b->ids = calloc(rows, sizeof(int))) != NULL;
    else ok = ok && (b->x = weft_tensor_alloc(3, (int[]){ T, B, (int)I })).data != NULL;
    if (t->loss == WEFT_TASK_MSE)
        ok = ok && (b->y = weft_tensor_alloc(3, (int[]){ T, B, (int)O })).data != NULL;
    else ok = ok && (b->target = calloc(rows * (bce ? O : 1), sizeof(int))) != NULL;
    if (!ok) {
        batch_free(b);
        return -1;
    }
    for (int k = 0; k < B; k++) {
        const weft_task_example *e = ex[k];
        b->lengths[k] = e->T;
        if (e->T != T) b->ragged = true;
        for (int s = 0; s < e->T; s++) {
            size_t r = (size_t)s * (size_t)B + (size_t)k;
            b->score[r] = e->score[s];
            if (b->ids) b->ids[r] = e->ids[s];
            else memcpy(b->x.data + r * I, e->x + (size_t)s * I, I * sizeof(float));
            if (t->loss == WEFT_TASK_CE) {
                b->target[r] = e->target[s];
                b->mask[r] = e->train[s];
            } else if (bce) {
                for (size_t j = 0; j < O; j++) {
                    b->target[r * O + j] = e->y[(size_t)s * O + j] > 0.5f;
                    b->mask[r * O + j] = e->train[s];
                }
            } else {
                memcpy(b->y.data + r * O, e->y + (size_t)s * O, O * sizeof(float));
                b->mask[r] = e->train[s];
            }
        }
    }
    return 0;
}

/* The output layer's values [T, B, O] for a batch (NULL on failure). */
static weft_var *model_logits(model *m, weft_graph *g, const batch *b)
{
    const weft_task *t = m->task;
    weft_var *xs;
    if (t->input == WEFT_TASK_TOKENS) {
        weft_var *e = weft_embedding(g, weft_param_var(g, m->embed), b->ids, b->T * b->B);
        xs = weft_reshape(g, e, 3, (int[]){ b->T, b->B, m->E });
    } else {
        xs = weft_input(g, &b->x, "x", false);
    }
    if (!xs) return NULL;
    weft_rnn_out out;
    if (weft_unroll(g, m->rnn, xs, &(weft_unroll_opts){ .lengths = b->ragged ? b->lengths : NULL },
                    &out))
        return NULL;
    return weft_linear(g, out.seq, weft_param_var(g, m->out_w), weft_param_var(g, m->out_b));
}

/* The training loss of a batch: a scalar. CE: mean over weighted steps; BCE:
 * nats per step (the mean over weighted keys times the keys); MSE: mean
 * squared error over weighted steps and outputs. */
static weft_var *model_loss(model *m, weft_graph *g, const batch *b)
{
    const weft_task *t = m->task;
    weft_var *z = model_logits(m, g, b);
    if (!z) return NULL;
    int rows = b->T * b->B, O = t->out_width;
    if (t->loss == WEFT_TASK_CE)
        return weft_cross_entropy(g, weft_reshape(g, z, 2, (int[]){ rows, O }), b->target,
                                  b->mask);
    if (t->loss == WEFT_TASK_BCE) {
        /* BCE with logits as a two-class softmax over [0, z]: log σ(z) = z -
         * log(1 + e^z) = log softmax([0, z])[1], stable for any z. */
        int n = rows * O;
        weft_var *zc = weft_reshape(g, z, 2, (int[]){ n, 1 });
        weft_var *zero = weft_input_zeros(g, 2, (int[]){ n, 1 }, "zero", false);
        weft_var *two = weft_concat(g, (weft_var *[]){ zero, zc }, 2);
        return weft_scale(g, weft_cross_entropy(g, two, b->target, b->mask), (float)O);
    }
    double count = 0;
    for (int r = 0; r < rows; r++) count += b->mask[r];
    weft_tensor y = b->y, mk = weft_tensor_wrap(b->mask, 2, (int[]){ rows, 1 });
    weft_var *d = weft_sub(g, z, weft_input(g, &y, "y", false));
    weft_var *sq = weft_reshape(g, weft_mul(g, d, d), 2, (int[]){ rows, O });
    weft_var *w = weft_mul(g, sq, weft_input(g, &mk, "mask", false));
    return weft_scale(g, weft_sum(g, w), (float)(1.0 / (count > 0 ? count * O : 1.0)));
}

/* Validation over the whole valid set: NLL (or MSE) and accuracy on the
 * scored steps. */
static int model_eval(model *m, weft_graph *g, double *nll, double *acc, char *err,
                      size_t errsize)
{
    enum { EVAL_BATCH = 64 };
    const weft_task *t = m->task;
    double sum = 0, right = 0, count = 0;
    int O = t->out_width;
    for (int s = 0; s < t->n_valid; s += EVAL_BATCH) {
        int B = t->n_valid - s < EVAL_BATCH ? t->n_valid - s : EVAL_BATCH;
        const weft_task_example *ex[EVAL_BATCH];
        for (int k = 0; k < B; k++) ex[k] = &t->valid[s + k];
        batch b;
        if (batch_make(t, ex, B, &b)) {
            weft_say(err, errsize, "validation: out of memory");
            return -1;
        }
        weft_graph_reset(g);
        weft_var *z = model_logits(m, g, &b);
        if (!z || weft_graph_failed(g)) {
            weft_say(err, errsize, "validation: %s", weft_graph_error(g));
            batch_free(&b);
            return -1;
        }
        const float *v = weft_value(z)->data;
        for (int r = 0; r < b.T * b.B; r++) {
            if (b.score[r] == 0.0f) continue;
            const float *row = v + (size_t)r * (size_t)O;
            count += 1;
            if (t->loss == WEFT_TASK_CE) {
                /* log-softmax in double: -log p(target) = log Σ e^(z - max) - (z_t - max) */
                int best = 0;
                for (int j = 1; j < O; j++) if (row[j] > row[best]) best = j;
                double se = 0;
                for (int j = 0; j < O; j++) se += exp((double)row[j] - row[best]);
                sum += log(se) - ((double)row[b.target[r]] - row[best]);
                right += best == b.target[r];
            } else if (t->loss == WEFT_TASK_BCE) {
                /* -[y log σ(z) + (1-y) log(1-σ(z))] = softplus(z) - y z, summed over keys */
                for (int j = 0; j < O; j++) {
                    double zz = row[j];
                    double sp = zz > 0 ? zz + log1p(exp(-zz)) : log1p(exp(zz));
                    sum += sp - (b.target[(size_t)r * (size_t)O + (size_t)j] ? zz : 0.0);
                    right += (zz > 0) == (b.target[(size_t)r * (size_t)O + (size_t)j] != 0);
                }
            } else {
                const float *y = b.y.data + (size_t)r * (size_t)O;
                for (int j = 0; j < O; j++) sum += ((double)row[j] - y[j]) * (row[j] - y[j]) / O;
            }
        }
        batch_free(&b);
    }
    if (count == 0) {
        weft_say(err, errsize, "validation: the %s task scored no step", t->name);
        return -1;
    }
    *nll = sum / count;
    *acc = t->loss == WEFT_TASK_MSE ? NAN : right / (count * (t->loss == WEFT_TASK_BCE ? O : 1));
    return 0;
}

/* --- training ------------------------------------------------------------------------------ */

void weft_compare_result_free(weft_compare_result *r)
{
    if (!r) return;
    free(r->points);
    memset(r, 0, sizeof *r);
}

int weft_compare_add_point(weft_compare_result *res, weft_task_metric metric, long step,
                           double seconds, double nll, double acc)
{
    weft_compare_point *p = realloc(res->points, (size_t)(res->n_points + 1) * sizeof *p);
    if (!p) return -1;
    res->points = p;
    double score = metric == WEFT_METRIC_ACCURACY ? acc : nll;
    p[res->n_points++] = (weft_compare_point){ step, seconds, score, nll, acc };
    bool higher = weft_metric_higher_is_better(metric);
    if (res->n_points == 1 || (higher ? score > res->best : score < res->best)) res->best = score;
    return 0;
}

/* --- the model as a weft_trainable (weft/train.h) ------------------------------------------ */

/* One run: the model, the task's stream of examples, the last validation. */
typedef struct compare_run {
    model m;
    const weft_cell_type *cell;
    weft_task_metric metric;
    int B;
    long epoch_steps;
    int *perm;                       /* the held set's order (held tasks) */
    long cursor;
    weft_task_example *ex;           /* [B] */
    const weft_task_example **exp_;  /* [B] */
    bool *owned;                     /* [B] */
    double nll, acc;                 /* of the last validation */
    weft_compare_result *res;
    bool point_failed;
} compare_run;

static int run_epoch_begin(void *self, int epoch, long first_batch, weft_rng *rng,
                           weft_train_epoch *e, char *err, size_t errsize)
{
    (void)epoch, (void)first_batch, (void)rng, (void)err, (void)errsize;
    compare_run *r = self;
    e->batches = r->epoch_steps;
    e->batch_items = r->B;
    e->items = (double)r->epoch_steps * r->B;
    return 0;
}

/* The next B examples of the task's stream (drawn from rng, the run's data
 * stream, the same for every cell), their loss. */
static int run_batch_loss(void *self, weft_graph *g, long index, weft_rng *rng,
                          weft_train_batch *out, char *err, size_t errsize)
{
    (void)index;
    compare_run *r = self;
    const weft_task *t = r->m.task;
    for (int k = 0; k < r->B; k++) {
        if (weft_task_next_train(t, rng, r->perm, &r->cursor, &r->ex[k], &r->owned[k])) {
            weft_say(err, errsize, "out of memory");
            for (int j = 0; j < k; j++)
                if (r->owned[j]) weft_task_example_free(&r->ex[j]);
            return -1;
        }
        r->exp_[k] = &r->ex[k];
    }
    batch b;
    int made = batch_make(t, r->exp_, r->B, &b);
    for (int k = 0; k < r->B; k++)
        if (r->owned[k]) weft_task_example_free(&r->ex[k]);
    if (made) {
        weft_say(err, errsize, "out of memory");
        return -1;
    }
    weft_var *loss = model_loss(&r->m, g, &b);
    batch_free(&b);
    if (!loss || weft_graph_failed(g)) {
        weft_say(err, errsize, "%s", weft_graph_error(g));
        return -1;
    }
    out->loss = loss;
    out->items = r->B;
    return 0;
}

static int run_evaluate(void *self, weft_graph *g, weft_train_set set, double *score,
                        char *err, size_t errsize)
{
    (void)set;
    compare_run *r = self;
    if (model_eval(&r->m, g, &r->nll, &r->acc, err, errsize)) return -1;
    *score = r->metric == WEFT_METRIC_ACCURACY ? r->acc : r->nll;
    return 0;
}

/* Every validation is a point of the learning curve. */
static int run_event(void *user, const weft_train_event *e)
{
    compare_run *r = user;
    if (e->kind != WEFT_TRAIN_EVAL) return 0;
    if (weft_compare_add_point(r->res, r->metric, e->optim_steps, e->train_seconds, r->nll, r->acc)) {
        r->point_failed = true;
        return 1;
    }
    return 0;
}

int weft_compare_train(const weft_cell_type *c, const weft_task *t,
                       const weft_compare_opts *o, weft_compare_result *res, char *err,
                       size_t errsize)
{
    memset(res, 0, sizeof *res);
    double wall0 = now_seconds();
    int B = o->batch > 0 ? o->batch : 32;
    int eval_points = o->eval_points > 0 ? o->eval_points : 10;
    int epoch_size = o->epoch_size > 0 ? o->epoch_size : 10000;
    weft_task_metric metric = o->use_metric ? o->metric : t->metric;
    if (metric == WEFT_METRIC_ACCURACY && t->loss != WEFT_TASK_CE) {
        weft_say(err, errsize, "%s: accuracy is a score of classification tasks only", t->name);
        return -1;
    }
    if ((metric == WEFT_METRIC_MSE) != (t->loss == WEFT_TASK_MSE)) metric = t->metric;
    if (o->max_steps <= 0 && o->epochs <= 0 && o->max_seconds <= 0) {
        weft_say(err, errsize, "no budget: give a number of steps, epochs or seconds");
        return -1;
    }
    /* the step budget, when there is one */
    long epoch_steps = t->n_train > 0 ? (t->n_train + B - 1) / B : (epoch_size + B - 1) / B;
    long max_steps = o->max_steps;
    if (o->epochs > 0 && (max_steps <= 0 || epoch_steps * o->epochs < max_steps))
        max_steps = epoch_steps * o->epochs;

    compare_run r = { .cell = c, .metric = metric, .B = B, .epoch_steps = epoch_steps,
                      .res = res };
    weft_rng init_rng;
    weft_rng_seed(&init_rng, o->seed);
    if (model_new(&r.m, c, t, o->hidden, o->embed, &init_rng, err, errsize)) return -1;
    res->numel = weft_params_numel(r.m.params);
    res->hidden = o->hidden;
    res->metric = metric;

    weft_train_opts to = weft_train_defaults();
    to.optim = o->optim.lr > 0 ? o->optim : weft_optim_adam(0.005);
    to.clip = o->clip == 0 ? 1.0f : o->clip > 0 ? o->clip : 0.0f;
    to.epochs = 0;
    to.max_steps = max_steps > 0 ? max_steps : 0;
    to.max_seconds = o->max_seconds > 0 ? o->max_seconds : 0;
    to.eval_points = eval_points;
    to.eval_at_start = true;
    /* the data stream: the same for every cell */
    weft_rng_seed(&to.rng, o->seed ^ 0x9e3779b97f4a7c15ULL);
    to.on_event = run_event;
    to.user = &r;

    int rc = -1;
    r.perm = t->n_train > 0 ? malloc((size_t)t->n_train * sizeof *r.perm) : NULL;
    r.ex = calloc((size_t)B, sizeof *r.ex);
    r.exp_ = calloc((size_t)B, sizeof *r.exp_);
    r.owned = calloc((size_t)B, sizeof *r.owned);
    if (!r.ex || !r.exp_ || !r.owned || (t->n_train > 0 && !r.perm)) {
        weft_say(err, errsize, "out of memory");
        goto done;
    }
    weft_trainable tr = { .model = &r, .params = r.m.params, .epoch_begin = run_epoch_begin,
                          .batch_loss = run_batch_loss, .evaluate = run_evaluate,
                          .higher_is_better = weft_metric_higher_is_better(metric),
                          .has_valid = true, .score_name = weft_metric_name(metric) };
    weft_train_result tres;
    char why[768];
    if (weft_train(&tr, &to, &tres, why, sizeof why)) {
        weft_say(err, errsize, "%s on %s: %s", c->name, t->name, why);
        goto done;
    }
    if (r.point_failed) {
        weft_say(err, errsize, "out of memory");
        goto done;
    }
    res->steps = tres.optim_steps;
    res->train_seconds = tres.train_seconds;
    rc = 0;
done:
    free(r.perm);
    free(r.ex);
    free(r.exp_);
    free(r.owned);
    model_free(&r.m);
    res->wall_seconds = now_seconds() - wall0;
    if (rc) weft_compare_result_free(res);
    return rc;
}
