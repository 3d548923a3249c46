/* models/classify/compare.c — cells side by side on a labelling task (SST,
 * UPOS): each model sized to a parameter budget by its recurrent layer's
 * hidden width, trained through the library trainer with the same data order
 * and optimiser for a seed, its validation accuracy recorded as a learning
 * curve (weft_compare_result, as weft_compare_train gives for the sequence
 * tasks of weft/tasks.h). `weft compare --task sst|sst5|upos` drives it. */
#include "weft/classify.h"

#include "src/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The parameters of one bidirectional-or-not stack of L layers of cell c. */
static size_t rnn_numel(const weft_cell_type *c, int I, int H, int L, int dirs)
{
    size_t n = 0;
    weft_cell_param_spec specs[WEFT_CELL_MAX_PARAMS];
    for (int l = 0; l < L; l++) {
        int k = weft_cell_type_params(c, l == 0 ? I : H * dirs, H, specs, NULL, 0);
        if (k < 0) return 0;
        for (int j = 0; j < k; j++)
            n += (size_t)specs[j].shape[0] * (size_t)(specs[j].rank == 2 ? specs[j].shape[1] : 1);
    }
    return n * (size_t)dirs;
}

size_t weft_classify_numel(const weft_classify_config *cfg, const weft_cell_type *cell,
                           int words, int labels, int chars)
{
    size_t E = (size_t)cfg->embed, n = (size_t)words * E, input = E, features;
    if (cfg->char_encoder) {
        size_t r = rnn_numel(cell, cfg->char_embed, cfg->char_hidden, 1, 2);
        if (!r) return 0;
        n += (size_t)chars * (size_t)cfg->char_embed + r;
        input += 2 * (size_t)cfg->char_hidden;
    }
    if (cfg->task == WEFT_TASK_WINDOW) {
        n += (size_t)cfg->window_hidden * ((2 * (size_t)cfg->window + 1) * E + 1);
        features = (size_t)cfg->window_hidden;
    } else {
        int dirs = cfg->bidirectional ? 2 : 1;
        size_t r = rnn_numel(cell, (int)input, cfg->hidden, cfg->layers, dirs);
        if (!r) return 0;
        n += r;
        features = (size_t)dirs * (size_t)cfg->hidden;
    }
    return n + (size_t)labels * (features + 1);
}

int weft_classify_size(const weft_classify_config *cfg, const weft_cell_type *cell, int words,
                       int labels, int chars, size_t budget, double tolerance, int *H,
                       size_t *numel, char *err, size_t errsize)
{
    weft_classify_config c = *cfg;
    /* the count grows with H: the largest H at or under the budget, and the
     * next, whichever is nearer */
    int lo = 1, hi = 1 << 16;
    c.hidden = lo;
    size_t at_lo = weft_classify_numel(&c, cell, words, labels, chars);
    if (!at_lo || at_lo > budget) {
        weft_say(err, errsize, "%s: %zu parameters are fewer than the smallest model's %zu "
                 "(the embeddings alone are %d x %d)", cell->name, budget, at_lo, words,
                 cfg->embed);
        return -1;
    }
    while (hi - lo > 1) {
        c.hidden = lo + (hi - lo) / 2;
        size_t n = weft_classify_numel(&c, cell, words, labels, chars);
        if (n && n <= budget) lo = c.hidden;
        else hi = c.hidden;
    }
    c.hidden = lo;
    size_t n_lo = weft_classify_numel(&c, cell, words, labels, chars);
    c.hidden = lo + 1;
    size_t n_hi = weft_classify_numel(&c, cell, words, labels, chars);
    bool up = n_hi && n_hi - budget < budget - n_lo;
    *H = up ? lo + 1 : lo;
    *numel = up ? n_hi : n_lo;
    double off = fabs((double)*numel - (double)budget) / (double)budget;
    if (off > tolerance) {
        weft_say(err, errsize, "%s: the nearest model (hidden %d) has %zu parameters, %.1f%% "
                 "from the budget of %zu", cell->name, *H, *numel, 100.0 * off, budget);
        return -1;
    }
    return 0;
}

/* One run: the trainer's run, the curve being drawn. */
typedef struct compare_run {
    weft_classify_run run;
    weft_compare_result *res;
    bool failed;
} compare_run;

static int on_event(void *user, const weft_train_event *e)
{
    compare_run *r = user;
    if (e->kind != WEFT_TRAIN_EVAL || !e->has_score) return 0;
    if (weft_compare_add_point(r->res, WEFT_METRIC_ACCURACY, e->optim_steps, e->train_seconds,
                               r->run.last_loss, e->score / 100.0)) {
        r->failed = true;
        return 1;
    }
    return 0;
}

int weft_classify_compare_train(const char *cell, int hidden, const weft_labeled_data *train,
                                const weft_labeled_data *valid,
                                const weft_classify_compare_opts *o, weft_compare_result *res,
                                char *err, size_t errsize)
{
    memset(res, 0, sizeof *res);
    double wall0 = now_seconds();
    if (o->max_steps <= 0 && o->epochs <= 0 && o->max_seconds <= 0) {
        weft_say(err, errsize, "no budget: give a number of steps, epochs or seconds");
        return -1;
    }
    weft_classify_config cfg = o->cfg;
    if (strlen(cell) >= sizeof cfg.cell) {
        weft_say(err, errsize, "%s: the cell's name is too long", cell);
        return -1;
    }
    snprintf(cfg.cell, sizeof cfg.cell, "%s", cell);
    cfg.hidden = hidden;
    int batch = o->batch > 0 ? o->batch : 32, pool = o->pool > 0 ? o->pool : 20;
    weft_vocab *words, *labels, *chars;
    if (weft_classify_vocabs(&cfg, train, o->min_count > 0 ? o->min_count : 1, &words, &labels,
                             &chars, err, errsize))
        return -1;
    weft_classify_model *m = weft_classify_new(&cfg, words, labels, chars, err, errsize);
    if (!m) {
        weft_vocab_free(words);
        weft_vocab_free(labels);
        weft_vocab_free(chars);
        return -1;
    }
    int rc = -1;
    weft_classify_set s_train = { 0 }, s_valid = { 0 };
    compare_run r = { .res = res };
    weft_rng init;
    weft_rng_seed(&init, o->seed);
    if (weft_classify_init(m, &init) ||
        weft_classify_set_make(m, train, &s_train, err, errsize) ||
        weft_classify_set_make(m, valid, &s_valid, err, errsize))
        goto done;
    res->numel = weft_params_numel(m->params);
    res->hidden = hidden;
    res->metric = WEFT_METRIC_ACCURACY;

    /* the steps of an epoch: the buckets' batch count (the same every epoch) */
    weft_buckets b;
    weft_rng any;
    weft_rng_seed(&any, 1);
    if (weft_buckets_make(s_train.lengths, train->n_sents, batch, pool, &any, &b, err, errsize))
        goto done;
    long epoch_steps = b.n_batches;
    weft_buckets_free(&b);
    long max_steps = o->max_steps;
    if (o->epochs > 0 && (max_steps <= 0 || epoch_steps * o->epochs < max_steps))
        max_steps = epoch_steps * o->epochs;

    r.run = (weft_classify_run){ .model = m, .train = &s_train, .valid = &s_valid,
                                 .batch = batch, .pool = pool };
    weft_trainable t;
    weft_classify_trainable(&r.run, &t);
    weft_train_opts to = weft_train_defaults();
    to.optim = o->optim.lr > 0 ? o->optim : weft_optim_adam(0.002);
    to.clip = o->clip == 0 ? 5.0f : o->clip > 0 ? o->clip : 0.0f;
    to.epochs = 0;
    to.max_steps = max_steps > 0 ? max_steps : 0;
    to.max_seconds = o->max_seconds > 0 ? o->max_seconds : 0;
    to.eval_points = o->eval_points > 0 ? o->eval_points : 10;
    to.eval_at_start = true;
    /* the data order and dropout: the same stream for every cell */
    weft_rng_seed(&to.rng, o->seed ^ 0x9e3779b97f4a7c15ULL);
    to.on_event = on_event;
    to.user = &r;
    weft_train_result tres;
    char why[768];
    if (weft_train(&t, &to, &tres, why, sizeof why)) {
        weft_say(err, errsize, "%s: %s", cell, why);
        goto done;
    }
    if (r.failed) {
        weft_say(err, errsize, "out of memory");
        goto done;
    }
    res->steps = tres.optim_steps;
    res->train_seconds = tres.train_seconds;
    rc = 0;
done:
    weft_classify_run_free(&r.run);
    weft_classify_set_free(&s_train);
    weft_classify_set_free(&s_valid);
    weft_classify_free(m);
    res->wall_seconds = now_seconds() - wall0;
    if (rc) weft_compare_result_free(res);
    return rc;
}
