/* tests/test_train.c — the trainer (weft/train.h): a tiny softmax classifier
 * trained through the public interface with each learning-rate schedule (the
 * rates it used against the formulas), early stopping, gradient accumulation
 * against one large batch, the test score of the best model, the JSON log,
 * SIGTERM as SIGINT, a diverging run, stale temporary files, unwritable
 * outputs, bad training states; and `weft train --test` end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/cli_text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/io.h"
#include "weft/lm.h"
#include "weft/ops.h"
#include "weft/train.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const char *exe;
static char tmpdir[] = "/tmp/weft-train-test-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char paths[16][512];
    static int k = 0;
    char *p = paths[k++ % 16];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* --- a toy model: softmax regression on fixed random points ------------------------------------ */

enum { N = 24, I = 3, C = 4, MAX_EPOCHS = 64 };

typedef struct toy {
    weft_params *params;
    weft_param *W, *b;
    float x[N][I];
    int y[N];
    int batch;
    bool shuffle;
    long order[N];
    /* scripted validation scores, one per validation (NULL: the real loss) */
    const double *script;
    int n_evals;
    /* what the trainer did */
    int n_batches, states_saved;
    long last_state_batch;
    int last_state_epoch;
    float loss_scale;           /* multiplies the loss (divergence) */
} toy;

static void toy_init(toy *t, int batch)
{
    memset(t, 0, sizeof *t);
    t->params = weft_params_new();
    t->W = weft_params_add(t->params, "W", 2, (int[]){ C, I });
    t->b = weft_params_add(t->params, "b", 1, (int[]){ C });
    assert_non_null(t->W);
    assert_non_null(t->b);
    weft_rng r;
    weft_rng_seed(&r, 7);
    weft_init_uniform(t->W, &r, 0.5f);
    weft_init_uniform(t->b, &r, 0.5f);
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < I; i++) t->x[n][i] = 2.0f * weft_rng_uniform(&r) - 1.0f;
        t->y[n] = (int)weft_rng_below(&r, C);
    }
    t->batch = batch;
    t->loss_scale = 1.0f;
}

static void toy_free(toy *t)
{
    weft_params_free(t->params);
}

static int toy_epoch_begin(void *self, int epoch, long first, weft_rng *rng,
                           weft_train_epoch *e, char *err, size_t errsize)
{
    (void)epoch, (void)first, (void)err, (void)errsize;
    toy *t = self;
    for (int n = 0; n < N; n++) t->order[n] = n;
    if (t->shuffle)
        for (int n = N - 1; n > 0; n--) {
            int j = (int)weft_rng_below(rng, (uint32_t)n + 1);
            long tmp = t->order[n];
            t->order[n] = t->order[j];
            t->order[j] = tmp;
        }
    e->batches = (N + t->batch - 1) / t->batch;
    e->items = N;
    e->batch_items = t->batch;
    return 0;
}

/* The mean cross-entropy of rows [first, first + n) of the order. */
static weft_var *toy_loss(toy *t, weft_graph *g, int first, int n)
{
    weft_tensor x = weft_tensor_alloc2(n, I);
    int y[N];
    for (int k = 0; k < n; k++) {
        memcpy(x.data + (size_t)k * I, t->x[t->order[first + k]], sizeof t->x[0]);
        y[k] = t->y[t->order[first + k]];
    }
    weft_var *xv = weft_input(g, &x, "x", false);
    weft_tensor_release(&x);
    weft_var *z = weft_linear(g, xv, weft_param_var(g, t->W), weft_param_var(g, t->b));
    weft_var *loss = weft_cross_entropy(g, z, y, NULL);
    return t->loss_scale != 1.0f ? weft_scale(g, loss, t->loss_scale) : loss;
}

static int toy_batch_loss(void *self, weft_graph *g, long index, weft_rng *rng,
                          weft_train_batch *b, char *err, size_t errsize)
{
    (void)rng, (void)err, (void)errsize;
    toy *t = self;
    int first = (int)index * t->batch, n = N - first < t->batch ? N - first : t->batch;
    b->loss = toy_loss(t, g, first, n);
    b->items = n;
    t->n_batches++;
    return 0;
}

static int toy_evaluate(void *self, weft_graph *g, weft_train_set set, double *score,
                        char *err, size_t errsize)
{
    (void)err, (void)errsize;
    toy *t = self;
    if (set == WEFT_TRAIN_SET_TEST) {
        /* a function of the weights alone: tells which weights were scored */
        double s = 0;
        for (int i = 0; i < C * I; i++) s += t->W->value.data[i];
        *score = s;
        return 0;
    }
    if (t->script) {
        *score = t->script[t->n_evals++];
        return 0;
    }
    for (int n = 0; n < N; n++) t->order[n] = n;
    weft_graph_reset(g);
    *score = weft_scalar(toy_loss(t, g, 0, N));
    return 0;
}

static int toy_save(void *self, const char *path, char *err, size_t errsize)
{
    toy *t = self;
    return weft_checkpoint_save(path, t->params, NULL, 0, err, errsize);
}

static int toy_load(void *self, const char *path, char *err, size_t errsize)
{
    toy *t = self;
    return weft_checkpoint_load(path, t->params, 0, err, errsize);
}

static int toy_save_state(void *self, const char *path, const weft_train_opts *o,
                          const weft_train_state *st, char *err, size_t errsize)
{
    (void)o;
    toy *t = self;
    t->states_saved++;
    t->last_state_batch = st->batch;
    t->last_state_epoch = st->epoch;
    char *json = weft_train_state_json(st);
    assert_non_null(json);
    weft_meta_kv meta = { "weft.train", json };
    int rc = weft_checkpoint_save(path, t->params, &meta, 1, err, errsize);
    free(json);
    return rc;
}

static weft_trainable toy_trainable(toy *t)
{
    return (weft_trainable){ .model = t, .params = t->params, .epoch_begin = toy_epoch_begin,
                             .batch_loss = toy_batch_loss, .evaluate = toy_evaluate,
                             .has_valid = true, .score_name = "loss", .save = toy_save,
                             .load = toy_load, .save_state = toy_save_state };
}

/* The learning rate of every step, from PROGRESS events a batch apart. */
typedef struct lr_log {
    int n;
    double lr[256];
    int epoch[256];
} lr_log;

static int record_lr(void *user, const weft_train_event *e)
{
    lr_log *l = user;
    if (e->kind == WEFT_TRAIN_PROGRESS && l->n < 256) {
        l->epoch[l->n] = e->epoch;
        l->lr[l->n++] = e->lr;
    }
    return 0;
}

static weft_train_opts opts_for(lr_log *l)
{
    weft_train_opts o = weft_train_defaults();
    o.optim = weft_optim_sgd(0.5);
    o.epochs = 5;
    o.report_every = 1;
    o.on_event = record_lr;
    o.user = l;
    return o;
}

/* --- schedules ---------------------------------------------------------------------------------- */

static void step_decay_follows_the_formula(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 6);                          /* 4 batches an epoch */
    lr_log l = { 0 };
    weft_train_opts o = opts_for(&l);
    o.schedule.decay = 0.5;
    o.schedule.decay_start = 3;
    weft_trainable tr = toy_trainable(&t);
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    assert_int_equal(l.n, 20);
    for (int k = 0; k < l.n; k++) {
        int e = l.epoch[k];
        double want = 0.5 * pow(0.5, e >= 3 ? e - 3 + 1 : 0);
        assert_true(fabs(l.lr[k] - want) < 1e-15);
    }
    assert_int_equal(r.stop, WEFT_TRAIN_FINISHED);
    assert_int_equal(r.epochs_done, 5);
    assert_int_equal(r.optim_steps, 20);
    toy_free(&t);
}

static void cosine_with_warmup_follows_the_formula(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 6);
    lr_log l = { 0 };
    weft_train_opts o = opts_for(&l);
    o.schedule = (weft_lr_schedule){ .kind = WEFT_LR_COSINE, .min_lr = 0.01, .warmup_steps = 3,
                                     .decay = 1, .decay_start = 1 };
    weft_trainable tr = toy_trainable(&t);
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    assert_int_equal(l.n, 20);
    const long T = 20, W = 3;
    for (long s = 0; s < T; s++) {
        long u = s < W ? 0 : s - W;
        double want = 0.01 + (0.5 - 0.01) * (1 + cos(M_PI * (double)u / (double)(T - W))) / 2;
        if (s < W) want *= (double)(s + 1) / (double)W;
        assert_true(fabs(l.lr[s] - want) < 1e-12);
    }
    assert_true(l.lr[0] < l.lr[1] && l.lr[1] < l.lr[2]);   /* warming up */
    assert_true(l.lr[19] < 0.05);                         /* near the floor at the end */
    toy_free(&t);
}

static void plateau_reduces_after_patience(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 12);                         /* 2 batches an epoch */
    /* epoch:          1    2    3    4    5    6    7 */
    static const double script[] = { 5.0, 4.0, 4.5, 4.2, 3.0, 3.5, 3.6 };
    t.script = script;
    lr_log l = { 0 };
    weft_train_opts o = opts_for(&l);
    o.epochs = 7;
    o.schedule = (weft_lr_schedule){ .kind = WEFT_LR_PLATEAU, .decay = 0.1, .decay_start = 1,
                                     .plateau_patience = 1 };
    weft_trainable tr = toy_trainable(&t);
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    /* PyTorch's rule: more than 1 bad epoch in a row (3, 4) -> x0.1 from
       epoch 5; 6 is bad (1), 7 is bad (2 > 1) -> x0.1 after epoch 7 */
    const double want[8] = { 0, 0.5, 0.5, 0.5, 0.5, 0.05, 0.05, 0.05 };
    for (int k = 0; k < l.n; k++) assert_true(fabs(l.lr[k] - want[l.epoch[k]]) < 1e-15);
    assert_true(fabs(r.state.lr_scale - 0.01) < 1e-15);
    assert_true(r.has_best);
    assert_true(r.best == 3.0 && r.best_epoch == 5);
    toy_free(&t);
}

/* --- early stopping, the best model and the test set ---------------------------------------------- */

static void early_stopping_stops_at_the_right_epoch(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 12);
    /* best at epoch 2; with patience 3, epochs 3, 4, 5 are bad: stop after 5 */
    static const double script[] = { 5.0, 4.0, 4.5, 4.1, 4.0, 1.0, 1.0 };
    t.script = script;
    lr_log l = { 0 };
    weft_train_opts o = opts_for(&l);
    o.epochs = 7;
    o.patience = 3;
    weft_trainable tr = toy_trainable(&t);
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    assert_int_equal(r.stop, WEFT_TRAIN_EARLY_STOPPED);
    assert_int_equal(r.epochs_done, 5);
    assert_int_equal(t.n_evals, 5);
    assert_int_equal(r.best_epoch, 2);
    assert_true(r.best == 4.0);   /* 4.0 again at epoch 5 is not better */
    toy_free(&t);
}

static void test_set_is_scored_with_the_best_model(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 6);
    static const double script[] = { 5.0, 2.0, 3.0, 4.0 };   /* best: epoch 2 */
    t.script = script;
    lr_log l = { 0 };
    weft_train_opts o = opts_for(&l);
    o.epochs = 4;
    const char *model = tmp_path("best.safetensors");
    o.save_path = model;
    weft_trainable tr = toy_trainable(&t);
    tr.has_test = true;
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    assert_true(r.has_test);
    /* the saved model is epoch 2's: its weights give the test score */
    toy best;
    toy_init(&best, 6);
    assert_int_equal(weft_checkpoint_load(model, best.params, 0, err, sizeof err), 0);
    double s_best = 0, s_now = 0;
    for (int i = 0; i < C * I; i++) {
        s_best += best.W->value.data[i];
        s_now += t.W->value.data[i];
    }
    assert_true(r.test == s_best);
    assert_true(r.test != s_now);      /* not the last epoch's weights */
    toy_free(&best);
    toy_free(&t);
}

/* --- accumulation ---------------------------------------------------------------------------- */

/* Train a fresh toy for 2 epochs with batches of `batch`, K batches a step;
 * its parameters into out. */
static void train_toy(int batch, int K, weft_optim opt, float clip, float *out)
{
    toy t;
    toy_init(&t, batch);
    weft_train_opts o = weft_train_defaults();
    o.optim = opt;
    o.epochs = 2;
    o.accumulate = K;
    o.clip = clip;
    weft_trainable tr = toy_trainable(&t);
    tr.has_valid = false;
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    assert_int_equal(r.optim_steps, 2 * ((N + batch * K - 1) / (batch * K)));
    memcpy(out, weft_params_values(t.params), (C * I + C) * sizeof(float));
    toy_free(&t);
}

static void accumulation_equals_one_large_batch(void **state)
{
    (void)state;
    float a[C * I + C], b[C * I + C];
    struct { weft_optim opt; float clip; int batch, K; } cases[] = {
        { weft_optim_sgd(0.7), 0.0f, 2, 3 },     /* 2 x 3 = 6: four steps an epoch */
        { weft_optim_sgd(0.7), 0.3f, 4, 3 },     /* clipped */
        { weft_optim_adam(0.05), 0.0f, 3, 4 },
        { weft_optim_sgd(0.7), 0.0f, 5, 2 },     /* the last batch of an epoch is short */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        train_toy(cases[c].batch, cases[c].K, cases[c].opt, cases[c].clip, a);
        train_toy(cases[c].batch * cases[c].K, 1, cases[c].opt, cases[c].clip, b);
        for (int i = 0; i < C * I + C; i++) {
            if (fabsf(a[i] - b[i]) > 1e-6f)
                fail_msg("case %zu: parameter %d: %.9g accumulated vs %.9g in one batch", c, i,
                         (double)a[i], (double)b[i]);
        }
    }
}

/* --- the logs -------------------------------------------------------------------------------- */

static void json_log_parses(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 6);
    lr_log l = { 0 };
    weft_train_opts o = opts_for(&l);
    o.epochs = 3;
    o.report_every = 2;
    const char *json = tmp_path("run.jsonl"), *csv = tmp_path("run.csv");
    o.log_json = json;
    o.log_csv = csv;
    weft_trainable tr = toy_trainable(&t);
    tr.has_test = true;
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    FILE *f = fopen(json, "r");
    assert_non_null(f);
    char line[4096];
    int progress = 0, epochs = 0, tests = 0;
    double last_loss = NAN;
    while (fgets(line, sizeof line, f)) {
        cJSON *e = cJSON_Parse(line);
        if (!e) fail_msg("not JSON: %s", line);
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e, "event");
        assert_true(cJSON_IsString(kind));
        if (strcmp(kind->valuestring, "progress") == 0) progress++;
        if (strcmp(kind->valuestring, "epoch") == 0) {
            epochs++;
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "loss")));
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "valid_loss")));
            last_loss = cJSON_GetObjectItemCaseSensitive(e, "loss")->valuedouble;
            assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "epoch")->valueint, epochs);
        }
        if (strcmp(kind->valuestring, "test") == 0) {
            tests++;
            assert_null(cJSON_GetObjectItemCaseSensitive(e, "loss"));
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "test_loss")));
        }
        cJSON_Delete(e);
    }
    fclose(f);
    assert_int_equal(progress, 3 * 2);   /* 4 batches an epoch, every 2 */
    assert_int_equal(epochs, 3);
    assert_int_equal(tests, 1);
    assert_true(isfinite(last_loss));
    /* the CSV: a header, 6 progress rows, 3 epoch rows, the test row */
    f = fopen(csv, "r");
    assert_non_null(f);
    int rows = 0;
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "epoch,window,tokens,seconds,lr,train_loss,train_ppl,grad_norm,"
                              "valid_ppl\n");
    while (fgets(line, sizeof line, f)) rows++;
    fclose(f);
    assert_int_equal(rows, 10);
    toy_free(&t);
}

static void log_write_errors_stop_the_run(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0) skip();
    toy t;
    toy_init(&t, 6);
    lr_log l = { 0 };
    weft_train_opts o = opts_for(&l);
    o.log_json = "/dev/full";
    weft_trainable tr = toy_trainable(&t);
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "/dev/full"));
    toy_free(&t);
}

/* --- signals ------------------------------------------------------------------------------- */

static int raise_at_batch_3(void *user, const weft_train_event *e)
{
    int *sig = user;
    if (e->kind == WEFT_TRAIN_PROGRESS && e->steps == 3) raise(*sig);
    return 0;
}

static void sigterm_stops_as_sigint(void **state)
{
    (void)state;
    int sigs[2] = { SIGINT, SIGTERM };
    float params[2][C * I + C];
    for (int k = 0; k < 2; k++) {
        toy t;
        toy_init(&t, 6);
        weft_train_opts o = weft_train_defaults();
        o.epochs = 3;
        o.report_every = 1;
        o.catch_signals = true;
        o.on_event = raise_at_batch_3;
        o.user = &sigs[k];
        o.state_path = tmp_path(k ? "term.state" : "int.state");
        o.save_path = tmp_path(k ? "term.safetensors" : "int.safetensors");
        weft_trainable tr = toy_trainable(&t);
        weft_train_result r;
        char err[512];
        assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
        assert_int_equal(r.stop, WEFT_TRAIN_INTERRUPTED);
        assert_int_equal(r.signal, sigs[k]);
        assert_int_equal(r.steps, 3);
        assert_int_equal(t.states_saved, 1);
        assert_int_equal(t.last_state_batch, 3);
        assert_int_equal(t.last_state_epoch, 1);
        assert_int_equal(access(o.save_path, F_OK), 0);   /* a model file: there was none */
        memcpy(params[k], weft_params_values(t.params), sizeof params[k]);
        /* the handlers are put back: the default again */
        struct sigaction now;
        sigaction(sigs[k], NULL, &now);
        assert_true(now.sa_handler == SIG_DFL);
        toy_free(&t);
    }
    assert_memory_equal(params[0], params[1], sizeof params[0]);
}

/* --- divergence ---------------------------------------------------------------------------- */

static void divergence_stops_with_a_message(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 6);
    weft_train_opts o = weft_train_defaults();
    o.epochs = 3;
    o.max_loss = 5.0;
    const char *model = tmp_path("div.safetensors");
    o.save_path = model;
    weft_trainable tr = toy_trainable(&t);
    tr.has_valid = false;
    weft_train_result r;
    char err[512];
    /* one good epoch, then the loss jumps */
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    struct stat before;
    assert_int_equal(stat(model, &before), 0);
    t.loss_scale = 1e6f;
    o.epochs = 1;
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "epoch 1, batch 1 of 4 (step 1)"));
    assert_non_null(strstr(err, "diverged"));
    /* the last good model is still there, untouched */
    struct stat after;
    assert_int_equal(stat(model, &after), 0);
    assert_true(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
                after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    /* an infinite score is never the best */
    static const double script[] = { INFINITY, INFINITY };
    t.loss_scale = 1.0f;
    t.script = script;
    tr.has_valid = true;
    o.max_loss = 0;
    o.epochs = 2;
    o.save_path = tmp_path("never.safetensors");
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    assert_false(r.has_best);
    assert_int_equal(access(o.save_path, F_OK), -1);
    char buf[64];
    assert_string_equal(weft_train_format_score(INFINITY, buf, sizeof buf), "inf");
    assert_string_equal(weft_train_format_score(1e280, buf, sizeof buf), "1.000e+280");
    assert_string_equal(weft_train_format_score(123.456, buf, sizeof buf), "123.46");
    toy_free(&t);
}

/* --- files ------------------------------------------------------------------------------------- */

static void stale_temps_are_removed(void **state)
{
    (void)state;
    const char *model = tmp_path("stale.safetensors");
    char stale[600], other[600], keep[600];
    snprintf(stale, sizeof stale, "%s.tmp-AbC123", model);
    snprintf(other, sizeof other, "%s.state.tmp-xyz789", model);
    snprintf(keep, sizeof keep, "%s.tmp-notmine", model);
    const char *files[3] = { stale, other, keep };
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(files[i], "w");
        assert_non_null(f);
        fputs("half a checkpoint", f);
        fclose(f);
    }
    toy t;
    toy_init(&t, 6);
    weft_train_opts o = weft_train_defaults();
    o.save_path = model;
    char state_path[600];
    snprintf(state_path, sizeof state_path, "%s.state", model);
    o.state_path = state_path;
    weft_trainable tr = toy_trainable(&t);
    weft_train_result r;
    char err[512];
    assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), 0);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(other, F_OK), -1);
    assert_int_equal(access(keep, F_OK), 0);           /* not a name a save makes */
    assert_int_equal(access(model, F_OK), 0);
    toy_free(&t);
}

static void unwritable_outputs_fail_before_training(void **state)
{
    (void)state;
    const char *bad[] = { "/nonexistent-dir/x.safetensors", "", tmpdir };
    const char *why[] = { "cannot be written", "empty", "is a folder" };
    for (int k = 0; k < 3; k++) {
        toy t;
        toy_init(&t, 6);
        weft_train_opts o = weft_train_defaults();
        o.save_path = bad[k];
        weft_trainable tr = toy_trainable(&t);
        weft_train_result r;
        char err[512];
        assert_int_equal(weft_train(&tr, &o, &r, err, sizeof err), -1);
        if (!strstr(err, why[k])) fail_msg("'%s': %s", bad[k], err);
        assert_int_equal(t.n_batches, 0);   /* nothing trained */
        toy_free(&t);
    }
}

/* --- training states ------------------------------------------------------------------------- */

static void bad_train_states_are_rejected(void **state)
{
    (void)state;
    weft_train_state st = { .epoch = 2, .batch = 3, .batches_done = 11, .lr = 0.1,
                            .lr_scale = 1, .optim = weft_optim_adam(0.1) };
    weft_rng_seed(&st.rng, 3);
    st.epoch_rng = st.rng;
    char *json = weft_train_state_json(&st);
    weft_train_state back;
    char err[512];
    assert_int_equal(weft_train_state_parse(json, &back, err, sizeof err), 0);
    assert_int_equal(back.batch, 3);
    assert_memory_equal(&back.rng, &st.rng, sizeof st.rng);
    free(json);
    struct { const char *from, *to, *why; } bad[] = {
        { "\"batch\":3", "\"batch\":-5", "\"batch\" is -5" },
        { "\"epoch\":2", "\"epoch\":8.9e11", "\"epoch\" is 8.9e+11" },
        { "\"epoch\":2", "\"epoch\":1.5", "expected a whole number" },
        { "\"kind\":\"adam\"", "\"kind\":\"lion\"", "not sgd, adam or adamw" },
        { "\"beta1\":0.9", "\"beta1\":-0.9", "\"beta1\"" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        json = weft_train_state_json(&st);
        char buf[4096];
        char *at = strstr(json, bad[k].from);
        assert_non_null(at);
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - json), json, bad[k].to,
                 at + strlen(bad[k].from));
        assert_int_equal(weft_train_state_parse(buf, &back, err, sizeof err), -1);
        if (!strstr(err, bad[k].why)) fail_msg("%s: %s", bad[k].to, err);
        free(json);
    }
    weft_train_state zero = st;
    memset(&zero.rng, 0, sizeof zero.rng);
    assert_int_equal(weft_train_state_check(&zero, err, sizeof err), -1);
    assert_non_null(strstr(err, "all zero"));
}

/* Rewrite the "weft.run" of an LM state file: `from` replaced by `to`. */
static void rewrite_run(const char *src, const char *dst, const char *from, const char *to,
                        bool drop_carry)
{
    char err[512];
    weft_checkpoint c;
    assert_int_equal(weft_checkpoint_read(src, &c, err, sizeof err), 0);
    int n = c.n_tensors;
    const char **names = calloc((size_t)n, sizeof *names);
    weft_tensor *ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        names[i] = c.tensors[i].name;
        int shape[8];
        for (int d = 0; d < c.tensors[i].rank; d++) shape[d] = (int)c.tensors[i].shape[d];
        ts[i] = weft_tensor_alloc(c.tensors[i].rank, shape);
    }
    assert_int_equal(weft_checkpoint_load_tensors(src, n, names, ts, 0, err, sizeof err), 0);
    weft_meta_kv meta[8];
    char run[8192];
    for (int i = 0; i < c.n_meta; i++) {
        meta[i] = c.meta[i];
        if (strcmp(meta[i].key, "weft.run") == 0) {
            const char *at = strstr(meta[i].value, from);
            if (!at) fail_msg("'%s' not in %s", from, meta[i].value);
            snprintf(run, sizeof run, "%.*s%s%s", (int)(at - meta[i].value), meta[i].value, to,
                     at + strlen(from));
            meta[i].value = run;
        }
    }
    /* a state without its carried hidden state: drop the carry.* tensors */
    int kept = n;
    if (drop_carry) {
        kept = 0;
        for (int i = 0; i < n; i++)
            if (strncmp(names[i], "carry.", 6) != 0) names[kept] = names[i], ts[kept++] = ts[i];
            else weft_tensor_release(&ts[i]);
    }
    assert_int_equal(weft_checkpoint_save_tensors(dst, kept, names, ts, meta, c.n_meta, err,
                                                  sizeof err), 0);
    for (int i = 0; i < kept; i++) weft_tensor_release(&ts[i]);
    free(names);
    free(ts);
    weft_checkpoint_free(&c);
}

static void bad_lm_states_are_rejected(void **state)
{
    (void)state;
    if (!exe) skip();
    const char *text = tmp_path("text.txt");
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 40; i++) fputs("the cat sat on the mat and the dog sat on the log\n", f);
    fclose(f);
    const char *model = tmp_path("lm.safetensors");
    weft_test_output *r = weft_test_run(exe, NULL, "--quiet --threads 1 train --data %s "
                                        "--layers 1 --hidden 8 --embed 8 --batch 4 --bptt 5 "
                                        "--epochs 2 --stop-after 7 --save %s", text, model);
    assert_int_equal(r->status, 0);
    char state_path[600], bad_path[600];
    snprintf(state_path, sizeof state_path, "%s.state", model);
    snprintf(bad_path, sizeof bad_path, "%s", tmp_path("bad.state"));
    char err[1024];
    weft_lm_run run;
    weft_state carry;
    weft_lm *m = weft_lm_load_run(state_path, &run, &carry, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(run.next_start, 35);
    assert_true(carry.n == 2);
    weft_state_free(&carry);
    weft_lm_free(m);
    struct { const char *from, *to, *why; } bad[] = {
        { "\"next_start\":35", "\"next_start\":-5", "\"next_start\" is -5" },
        { "\"next_start\":35", "\"next_start\":33", "not the start of a window" },
        { "\"epoch\":1", "\"epoch\":8.9e11", "\"epoch\" is 8.9e+11" },
        { "\"clip\":0.25", "\"clip\":-1", "\"clip\" is -1" },
        { "\"batch\":4", "\"batch\":1e30", "\"batch\" is 1e+30" },
        { "\"rng\":[", "\"rng\":[0,0,0,0],\"x\":[", "all zero" },
        { "\"kind\":\"sgd\"", "\"kind\":\"sgdx\"", "not sgd, adam or adamw" },
        { "\"epoch\":1", "\"epoch\":1", "no carried hidden state" },   /* carry.* dropped */
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        bool drop = k == sizeof bad / sizeof *bad - 1;
        rewrite_run(state_path, bad_path, bad[k].from, bad[k].to, drop);
        m = weft_lm_load_run(bad_path, &run, &carry, err, sizeof err);
        if (m || !strstr(err, bad[k].why))
            fail_msg("%s: %s", bad[k].to, m ? "accepted" : err);
        assert_non_null(strstr(err, bad_path));
    }
}

/* `weft train --test`: the test perplexity of the best model, as weft eval
 * gives it; --log-json parses; a resumed run ends where an unbroken one does. */
static void cli_test_set_and_resume(void **state)
{
    (void)state;
    if (!exe) skip();
    const char *train = tmp_path("cli-train.txt"), *valid = tmp_path("cli-valid.txt"),
               *test = tmp_path("cli-test.txt");
    const char *texts[3] = { train, valid, test };
    for (int k = 0; k < 3; k++) {
        FILE *f = fopen(texts[k], "w");
        for (int i = 0; i < (k ? 6 : 30); i++)
            fprintf(f, "%s\n", (i + k) % 3 ? "the cat sat on the mat" : "a dog ran to the log");
        fclose(f);
    }
    const char *model = tmp_path("cli.safetensors"), *json = tmp_path("cli.jsonl");
#define ARGS "--quiet --threads 1 train --data %s --valid %s --layers 1 --hidden 8 --embed 8 " \
             "--batch 2 --bptt 6 --epochs 3 --lr 2 "
    weft_test_output *r = weft_test_run(exe, NULL, ARGS "--test %s --save %s --log-json %s",
                                        train, valid, test, model, json);
    assert_int_equal(r->status, 0);
    const char *at = strstr(r->out, "test ppl of the best model: ");
    assert_non_null(at);
    double got;
    assert_int_equal(sscanf(at, "test ppl of the best model: %lf", &got), 1);
    r = weft_test_run(exe, NULL, "--quiet eval --model %s --data %s --batch 10", model, test);
    assert_int_equal(r->status, 0);
    at = strstr(r->out, "perplexity: ");
    assert_non_null(at);
    double want;
    assert_int_equal(sscanf(at, "perplexity: %lf", &want), 1);
    assert_true(fabs(got - want) <= 0.006);
    char line[4096];
    FILE *f = fopen(json, "r");
    assert_non_null(f);
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *e = cJSON_Parse(line);
        assert_non_null(e);
        cJSON_Delete(e);
        lines++;
    }
    fclose(f);
    assert_true(lines >= 4);
    /* --save into a folder that does not exist: refused before training */
    r = weft_test_run(exe, NULL, ARGS "--save %s/no/such/dir/m.st", train, valid, tmpdir);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "cannot be written");
    assert_true(strstr(r->out, "epoch 1") == NULL);
#undef ARGS
}

/* Bytes of two files are the same. */
static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = false;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* The window model's run stopped mid-epoch (after the epoch's shuffle) and
 * at an epoch's start, resumed, ends with the files of the unbroken run. */
static void cli_window_lm_resumes_exactly(void **state)
{
    (void)state;
    if (!exe) skip();
    const char *train = tmp_path("w-train.txt"), *valid = tmp_path("w-valid.txt");
    const char *texts[2] = { train, valid };
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(texts[k], "w");
        for (int i = 0; i < (k ? 5 : 25); i++)
            fprintf(f, "%s\n", (i * 7 + k) % 3 ? "the cat sat on the mat" : "a dog ran to a log");
        fclose(f);
    }
#define WARGS "--quiet --threads 1 train --task window-lm --data %s --valid %s --order 3 " \
              "--embed 6 --hidden 8 --batch 8 --epochs 3 --dropout 0.2 --decay 0.5 "
    const char *whole = tmp_path("w-whole.st");
    weft_test_output *r = weft_test_run(exe, NULL, WARGS "--save %s", train, valid, whole);
    assert_int_equal(r->status, 0);
    int stops[2] = { 30, 22 };   /* 22 batches an epoch: 30 is mid-epoch 2, 22 its start */
    for (int k = 0; k < 2; k++) {
        const char *cut = tmp_path(k ? "w-cut2.st" : "w-cut1.st");
        r = weft_test_run(exe, NULL, WARGS "--save %s --stop-after %d", train, valid, cut,
                          stops[k]);
        assert_int_equal(r->status, 0);
        assert_contains(r->err, "stopped at epoch 2");
        r = weft_test_run(exe, NULL, "--quiet --threads 1 train --task window-lm --resume %s "
                          "--data %s --valid %s", cut, train, valid);
        assert_int_equal(r->status, 0);
        char a[600], b[600];
        snprintf(a, sizeof a, "%s.state", whole);
        snprintf(b, sizeof b, "%s.state", cut);
        assert_true(same_file(whole, cut));
        assert_true(same_file(a, b));
    }
#undef WARGS
}

/* The LM with the trainer's own settings (a schedule, warm-up, accumulation,
 * patience: the "trainer" object of weft.run) stopped mid-epoch and resumed
 * ends with the files of the unbroken run. */
static void cli_lm_trainer_settings_resume_exactly(void **state)
{
    (void)state;
    if (!exe) skip();
    const char *train = tmp_path("t-train.txt"), *valid = tmp_path("t-valid.txt");
    const char *texts[2] = { train, valid };
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(texts[k], "w");
        for (int i = 0; i < (k ? 6 : 30); i++)
            fprintf(f, "%s\n", (i * 5 + k) % 3 ? "the cat sat on the mat" : "a dog ran to a log");
        fclose(f);
    }
    const char *sched[2] = { "plateau --decay 0.5 --plateau-patience 0",
                             "cosine --min-lr 0.1 --warmup 3" };
    for (int k = 0; k < 2; k++) {
#define TARGS "--quiet --threads 1 train --data %s --valid %s --layers 1 --hidden 8 --embed 8 " \
              "--batch 2 --bptt 5 --epochs 3 --lr 3 --dropout 0.1 --accumulate 2 --patience 5 " \
              "--schedule %s "
        const char *whole = tmp_path(k ? "t-whole2.st" : "t-whole1.st");
        const char *cut = tmp_path(k ? "t-cut2.st" : "t-cut1.st");
        weft_test_output *r = weft_test_run(exe, NULL, TARGS "--save %s", train, valid, sched[k],
                                            whole);
        assert_int_equal(r->status, 0);
        r = weft_test_run(exe, NULL, TARGS "--save %s --stop-after 48", train, valid, sched[k],
                          cut);
        assert_int_equal(r->status, 0);
        assert_contains(r->err, "stopped at epoch 3");
        r = weft_test_run(exe, NULL, "--quiet --threads 1 train --resume %s --data %s --valid %s",
                          cut, train, valid);
        assert_int_equal(r->status, 0);
        char a[600], b[600];
        snprintf(a, sizeof a, "%s.state", whole);
        snprintf(b, sizeof b, "%s.state", cut);
        assert_true(same_file(whole, cut));
        assert_true(same_file(a, b));
#undef TARGS
    }
}

int main(void)
{
    exe = getenv("WEFT_EXE");
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(step_decay_follows_the_formula),
        cmocka_unit_test(cosine_with_warmup_follows_the_formula),
        cmocka_unit_test(plateau_reduces_after_patience),
        cmocka_unit_test(early_stopping_stops_at_the_right_epoch),
        cmocka_unit_test(test_set_is_scored_with_the_best_model),
        cmocka_unit_test(accumulation_equals_one_large_batch),
        cmocka_unit_test(json_log_parses),
        cmocka_unit_test(log_write_errors_stop_the_run),
        cmocka_unit_test(sigterm_stops_as_sigint),
        cmocka_unit_test(divergence_stops_with_a_message),
        cmocka_unit_test(stale_temps_are_removed),
        cmocka_unit_test(unwritable_outputs_fail_before_training),
        cmocka_unit_test(bad_train_states_are_rejected),
        cmocka_unit_test(bad_lm_states_are_rejected),
        cmocka_unit_test(cli_test_set_and_resume),
        cmocka_unit_test(cli_window_lm_resumes_exactly),
        cmocka_unit_test(cli_lm_trainer_settings_resume_exactly),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
