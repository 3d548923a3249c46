/* models/train/trainer.c — the one training loop (weft/train.h).
 *
 * It sits in models/ because it drives models (through the callbacks of a
 * weft_trainable) and needs nothing but the engine below it: the graph, the
 * parameter store, the optimisers and one public op (weft_scale, to weight a
 * batch under gradient accumulation). Task models hand it their trainable; the
 * command-line program calls it and prints its events. */
#include "weft/train.h"

#include "weft/ops.h"
#include "weft/runtime.h"
#include "src/internal.h"
#include "models/train/train_json.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* --- learning-rate schedules --------------------------------------------------------------- */

double weft_lr_at(const weft_lr_schedule *s, double lr0, double lr_scale, int epoch, long step,
                  long total_steps)
{
    double lr;
    switch (s->kind) {
    case WEFT_LR_COSINE: {
        long w = s->warmup_steps > 0 ? s->warmup_steps : 0;
        long T = total_steps - w, t = step - w;
        if (t < 0) t = 0;
        double frac = T > 0 ? (double)(t < T ? t : T) / (double)T : 1.0;
        lr = s->min_lr + (lr0 - s->min_lr) * (1.0 + cos(M_PI * frac)) / 2.0;
        break;
    }
    case WEFT_LR_PLATEAU:
        lr = lr0 * lr_scale;
        if (lr < s->min_lr) lr = s->min_lr;
        break;
    case WEFT_LR_STEP:
    default:
        lr = weft_lr_step_decay(lr0, s->decay, s->decay_start, epoch);
        break;
    }
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        lr *= (double)(step + 1) / (double)s->warmup_steps;
    return lr;
}

weft_train_opts weft_train_defaults(void)
{
    weft_train_opts o = { 0 };
    o.optim = weft_optim_sgd(0.1);
    o.schedule = (weft_lr_schedule){ .kind = WEFT_LR_STEP, .decay = 1.0, .decay_start = 1 };
    o.accumulate = 1;
    o.epochs = 1;
    weft_rng_seed(&o.rng, 1);
    return o;
}

/* --- the state and its checks -------------------------------------------------------------- */

static bool whole(double x, double lo, double hi)
{
    return isfinite(x) && x >= lo && x <= hi && x == floor(x);
}

int weft_train_optim_check(const weft_optim *o, char *err, size_t errsize)
{
    const char *bad = NULL;
    if (o->kind != WEFT_SGD && o->kind != WEFT_ADAM && o->kind != WEFT_ADAMW) bad = "kind";
    else if (!(isfinite(o->lr) && o->lr >= 0)) bad = "lr (finite, >= 0)";
    else if (!(isfinite(o->weight_decay) && o->weight_decay >= 0)) bad = "weight_decay (>= 0)";
    else if (!(o->momentum >= 0 && o->momentum < 1)) bad = "momentum (in [0, 1))";
    else if (!(o->dampening >= 0 && o->dampening <= 1)) bad = "dampening (in [0, 1])";
    else if (!(o->beta1 >= 0 && o->beta1 < 1)) bad = "beta1 (in [0, 1))";
    else if (!(o->beta2 >= 0 && o->beta2 < 1)) bad = "beta2 (in [0, 1))";
    else if (!(isfinite(o->eps) && o->eps >= 0)) bad = "eps (finite, >= 0)";
    else if (o->step < 0) bad = "step (>= 0)";
    if (bad) {
        weft_say(err, errsize, "optimizer: %s is out of range", bad);
        return -1;
    }
    return 0;
}

int weft_train_state_check(const weft_train_state *st, char *err, size_t errsize)
{
    const char *bad = NULL;
    if (st->epoch < 1) bad = "epoch (>= 1)";
    else if (st->batch < 0) bad = "batch (>= 0)";
    else if (st->batches_done < 0) bad = "batches_done (>= 0)";
    else if (!(isfinite(st->lr) && st->lr >= 0)) bad = "lr (finite, >= 0)";
    else if (!(isfinite(st->lr_scale) && st->lr_scale > 0 && st->lr_scale <= 1))
        bad = "lr_scale (in (0, 1])";
    else if (st->has_best && !isfinite(st->best)) bad = "best (finite)";
    else if (st->best_epoch < 0) bad = "best_epoch (>= 0)";
    else if (st->bad_epochs < 0) bad = "bad_epochs (>= 0)";
    else if (st->plateau_bad < 0) bad = "plateau_bad (>= 0)";
    else if (!(st->rng.s[0] | st->rng.s[1] | st->rng.s[2] | st->rng.s[3]))
        bad = "rng (all zero: not a state of the generator)";
    else if (!(st->epoch_rng.s[0] | st->epoch_rng.s[1] | st->epoch_rng.s[2] |
               st->epoch_rng.s[3]))
        bad = "epoch_rng (all zero: not a state of the generator)";
    if (bad) {
        weft_say(err, errsize, "training state: %s is out of range", bad);
        return -1;
    }
    return weft_train_optim_check(&st->optim, err, errsize);
}

bool weft_train_json_num(const cJSON *o, const char *key, double lo, double hi, bool integral,
                    double *out, char *err, size_t errsize)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) {
        weft_say(err, errsize, "\"%s\" is missing or not a number", key);
        return false;
    }
    double x = v->valuedouble;
    if (!isfinite(x) || x < lo || x > hi || (integral && x != floor(x))) {
        weft_say(err, errsize, "\"%s\" is %g: expected %s in [%g, %g]", key, x,
                 integral ? "a whole number" : "a number", lo, hi);
        return false;
    }
    *out = x;
    return true;
}

static const char *kind_name(weft_optim_kind k)
{
    return k == WEFT_ADAM ? "adam" : k == WEFT_ADAMW ? "adamw" : "sgd";
}

void weft_train_json_add_optim(cJSON *o, const char *key, const weft_optim *q)
{
    cJSON *op = cJSON_AddObjectToObject(o, key);
    cJSON_AddStringToObject(op, "kind", kind_name(q->kind));
    cJSON_AddNumberToObject(op, "lr", q->lr);
    cJSON_AddNumberToObject(op, "weight_decay", q->weight_decay);
    cJSON_AddNumberToObject(op, "momentum", q->momentum);
    cJSON_AddNumberToObject(op, "dampening", q->dampening);
    cJSON_AddBoolToObject(op, "nesterov", q->nesterov);
    cJSON_AddNumberToObject(op, "beta1", q->beta1);
    cJSON_AddNumberToObject(op, "beta2", q->beta2);
    cJSON_AddNumberToObject(op, "eps", q->eps);
    cJSON_AddNumberToObject(op, "step", (double)q->step);
}

int weft_train_json_optim(const cJSON *op, weft_optim *q, char *err, size_t errsize)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "kind");
    if (!cJSON_IsObject(op) || !cJSON_IsString(kind)) {
        weft_say(err, errsize, "\"optim\" is not an object with a \"kind\"");
        return -1;
    }
    const char *k = kind->valuestring;
    if (strcmp(k, "sgd") == 0) q->kind = WEFT_SGD;
    else if (strcmp(k, "adam") == 0) q->kind = WEFT_ADAM;
    else if (strcmp(k, "adamw") == 0) q->kind = WEFT_ADAMW;
    else {
        weft_say(err, errsize, "\"optim\": \"kind\" \"%.40s\" is not sgd, adam or adamw", k);
        return -1;
    }
    double step;
    if (!weft_train_json_num(op, "lr", 0, 1e30, false, &q->lr, err, errsize) ||
        !weft_train_json_num(op, "weight_decay", 0, 1e30, false, &q->weight_decay, err, errsize) ||
        !weft_train_json_num(op, "momentum", 0, 1, false, &q->momentum, err, errsize) ||
        !weft_train_json_num(op, "dampening", 0, 1, false, &q->dampening, err, errsize) ||
        !weft_train_json_num(op, "beta1", 0, 1, false, &q->beta1, err, errsize) ||
        !weft_train_json_num(op, "beta2", 0, 1, false, &q->beta2, err, errsize) ||
        !weft_train_json_num(op, "eps", 0, 1, false, &q->eps, err, errsize) ||
        !weft_train_json_num(op, "step", 0, 9007199254740992.0, true, &step, err, errsize))
        return -1;
    q->step = (long)step;
    q->nesterov = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op, "nesterov"));
    return weft_train_optim_check(q, err, errsize);
}

char *weft_train_state_json(const weft_train_state *st)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "epoch", st->epoch);
    cJSON_AddNumberToObject(o, "batch", (double)st->batch);
    cJSON_AddNumberToObject(o, "batches_done", (double)st->batches_done);
    cJSON_AddNumberToObject(o, "lr", st->lr);
    cJSON_AddNumberToObject(o, "lr_scale", st->lr_scale);
    cJSON_AddBoolToObject(o, "has_best", st->has_best);
    cJSON_AddNumberToObject(o, "best", st->has_best ? st->best : 0.0);
    cJSON_AddNumberToObject(o, "best_epoch", st->best_epoch);
    cJSON_AddNumberToObject(o, "bad_epochs", st->bad_epochs);
    cJSON_AddNumberToObject(o, "plateau_bad", st->plateau_bad);
    weft_train_json_add_optim(o, "optim", &st->optim);
    cJSON *rng = cJSON_AddArrayToObject(o, "rng");
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(rng, cJSON_CreateNumber(st->rng.s[i]));
    cJSON *erng = cJSON_AddArrayToObject(o, "epoch_rng");
    for (int i = 0; i < 4; i++)
        cJSON_AddItemToArray(erng, cJSON_CreateNumber(st->epoch_rng.s[i]));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* err = prefix + why, unless why already starts with the prefix. */
static void say_with(char *err, size_t errsize, const char *prefix, const char *why)
{
    if (strncmp(why, prefix, strlen(prefix)) == 0) weft_say(err, errsize, "%s", why);
    else weft_say(err, errsize, "%s%s", prefix, why);
}

static int parse_state(const char *json, weft_train_state *st, char *err, size_t errsize)
{
    memset(st, 0, sizeof *st);
    cJSON *o = cJSON_Parse(json);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "optim");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "kind");
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(o, "rng");
    const cJSON *erng = cJSON_GetObjectItemCaseSensitive(o, "epoch_rng");
    int rc = -1;
    double x[16];
    const double BIG = 9007199254740992.0;   /* 2^53: whole numbers a double holds */
    if (!cJSON_IsObject(o) || !cJSON_IsObject(op) || !cJSON_IsString(kind) ||
        !cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4 || !cJSON_IsArray(erng) ||
        cJSON_GetArraySize(erng) != 4) {
        weft_say(err, errsize, "not a JSON object with \"optim\" {\"kind\": ...}, "
                 "\"rng\" and \"epoch_rng\" [4 numbers each]");
        goto done;
    }
    if (!weft_train_json_num(o, "epoch", 1, 1e9, true, &x[0], err, errsize) ||
        !weft_train_json_num(o, "batch", 0, BIG, true, &x[1], err, errsize) ||
        !weft_train_json_num(o, "batches_done", 0, BIG, true, &x[2], err, errsize) ||
        !weft_train_json_num(o, "lr", 0, 1e30, false, &x[3], err, errsize) ||
        !weft_train_json_num(o, "lr_scale", 1e-300, 1, false, &x[4], err, errsize) ||
        !weft_train_json_num(o, "best", -1e300, 1e300, false, &x[5], err, errsize) ||
        !weft_train_json_num(o, "best_epoch", 0, 1e9, true, &x[6], err, errsize) ||
        !weft_train_json_num(o, "bad_epochs", 0, 1e9, true, &x[7], err, errsize) ||
        !weft_train_json_num(o, "plateau_bad", 0, 1e9, true, &x[8], err, errsize))
        goto done;
    st->epoch = (int)x[0];
    st->batch = (long)x[1];
    st->batches_done = (long)x[2];
    st->lr = x[3];
    st->lr_scale = x[4];
    st->has_best = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "has_best"));
    st->best = x[5];
    st->best_epoch = (int)x[6];
    st->bad_epochs = (int)x[7];
    st->plateau_bad = (int)x[8];
    if (weft_train_json_optim(op, &st->optim, err, errsize)) goto done;
    for (int i = 0; i < 8; i++) {
        const cJSON *v = cJSON_GetArrayItem(i < 4 ? rng : erng, i % 4);
        if (!cJSON_IsNumber(v) || !whole(v->valuedouble, 0, 4294967295.0)) {
            weft_say(err, errsize, "%s[%d] is not a whole number in [0, 2^32)",
                     i < 4 ? "rng" : "epoch_rng", i % 4);
            goto done;
        }
        (i < 4 ? &st->rng : &st->epoch_rng)->s[i % 4] = (uint32_t)v->valuedouble;
    }
    rc = weft_train_state_check(st, err, errsize);
done:
    cJSON_Delete(o);
    return rc;
}

char *weft_train_opts_json(const weft_train_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    weft_train_json_add_optim(j, "optim", &o->optim);
    cJSON *s = cJSON_AddObjectToObject(j, "schedule");
    const weft_lr_schedule *q = &o->schedule;
    cJSON_AddStringToObject(s, "kind", q->kind == WEFT_LR_PLATEAU  ? "plateau"
                                       : q->kind == WEFT_LR_COSINE ? "cosine"
                                                                   : "step");
    cJSON_AddNumberToObject(s, "decay", q->decay);
    cJSON_AddNumberToObject(s, "decay_start", q->decay_start);
    cJSON_AddNumberToObject(s, "plateau_patience", q->plateau_patience);
    cJSON_AddNumberToObject(s, "min_lr", q->min_lr);
    cJSON_AddNumberToObject(s, "warmup_steps", (double)q->warmup_steps);
    cJSON_AddNumberToObject(j, "clip", (double)o->clip);
    cJSON_AddNumberToObject(j, "accumulate", o->accumulate);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "max_steps", (double)o->max_steps);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return out;
}

int weft_train_state_parse(const char *json, weft_train_state *st, char *err, size_t errsize)
{
    char why[512];
    if (parse_state(json, st, why, sizeof why) == 0) return 0;
    say_with(err, errsize, "training state: ", why);
    return -1;
}

static int parse_opts(const char *json, weft_train_opts *o, char *err, size_t errsize)
{
    cJSON *j = cJSON_Parse(json);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "schedule");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(s, "kind");
    int rc = -1;
    weft_train_opts t = *o;
    double x[8];
    if (!cJSON_IsObject(j) || !cJSON_IsObject(s) || !cJSON_IsString(kind)) {
        weft_say(err, errsize, "not a JSON object with a \"schedule\"");
        goto done;
    }
    const char *k = kind->valuestring;
    if (strcmp(k, "step") == 0) t.schedule.kind = WEFT_LR_STEP;
    else if (strcmp(k, "plateau") == 0) t.schedule.kind = WEFT_LR_PLATEAU;
    else if (strcmp(k, "cosine") == 0) t.schedule.kind = WEFT_LR_COSINE;
    else {
        weft_say(err, errsize, "schedule \"%.40s\" is not step, plateau or cosine", k);
        goto done;
    }
    if (weft_train_json_optim(cJSON_GetObjectItemCaseSensitive(j, "optim"), &t.optim, err, errsize) ||
        !weft_train_json_num(s, "decay", 0, 1, false, &t.schedule.decay, err, errsize) ||
        !weft_train_json_num(s, "decay_start", 1, 1e9, true, &x[0], err, errsize) ||
        !weft_train_json_num(s, "plateau_patience", 0, 1e9, true, &x[1], err, errsize) ||
        !weft_train_json_num(s, "min_lr", 0, 1e30, false, &t.schedule.min_lr, err, errsize) ||
        !weft_train_json_num(s, "warmup_steps", 0, 1e15, true, &x[2], err, errsize) ||
        !weft_train_json_num(j, "clip", 0, 1e30, false, &x[3], err, errsize) ||
        !weft_train_json_num(j, "accumulate", 1, 1e6, true, &x[4], err, errsize) ||
        !weft_train_json_num(j, "epochs", 0, 1e9, true, &x[5], err, errsize) ||
        !weft_train_json_num(j, "max_steps", 0, 1e15, true, &x[6], err, errsize) ||
        !weft_train_json_num(j, "patience", 0, 1e9, true, &x[7], err, errsize))
        goto done;
    t.schedule.decay_start = (int)x[0];
    t.schedule.plateau_patience = (int)x[1];
    t.schedule.warmup_steps = (long)x[2];
    t.clip = (float)x[3];
    t.accumulate = (int)x[4];
    t.epochs = (int)x[5];
    t.max_steps = (long)x[6];
    t.patience = (int)x[7];
    *o = t;
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

int weft_train_opts_parse(const char *json, weft_train_opts *o, char *err, size_t errsize)
{
    char why[512];
    if (parse_opts(json, o, why, sizeof why) == 0) return 0;
    say_with(err, errsize, "training settings: ", why);
    return -1;
}

/* Optimiser state slots in use: SGD with momentum 1, Adam(W) 2, plain SGD 0. */
static int optim_slots(const weft_optim *o)
{
    if (o->kind == WEFT_ADAM || o->kind == WEFT_ADAMW) return 2;
    return o->momentum != 0.0 ? 1 : 0;
}

/* The names and tensors of a params state file: "model.<p>" and
 * "optim.<k>.<p>" (names malloc'd; free_names). */
static int state_tensors(weft_params *params, int slots, char ***names, weft_tensor **ts,
                         int *n_out)
{
    int np = weft_params_count(params), n = np * (1 + slots), k = 0;
    *names = calloc((size_t)(n ? n : 1), sizeof **names);
    *ts = calloc((size_t)(n ? n : 1), sizeof **ts);
    if (!*names || !*ts) return -1;
    for (int s = -1; s < slots; s++) {
        float *base = s >= 0 ? weft_params_state(params, s) : NULL;
        if (s >= 0 && !base) return -1;
        for (int i = 0; i < np; i++) {
            weft_param *p = weft_params_at(params, i);
            size_t len = strlen(p->name) + 24;
            if (!((*names)[k] = malloc(len))) return -1;
            if (s < 0) {
                snprintf((*names)[k], len, "model.%s", p->name);
                (*ts)[k++] = p->value;
            } else {
                snprintf((*names)[k], len, "optim.%d.%s", s, p->name);
                (*ts)[k++] = weft_tensor_wrap(base + p->offset, p->value.rank, p->value.shape);
            }
        }
    }
    *n_out = k;
    return 0;
}

static void free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int weft_train_save_params_state(const char *path, weft_params *params,
                                 const weft_train_opts *o, const weft_train_state *st,
                                 const weft_meta_kv *meta, int n_meta, char *err,
                                 size_t errsize)
{
    char **names = NULL, *sj = weft_train_state_json(st), *oj = weft_train_opts_json(o);
    weft_tensor *ts = NULL;
    weft_meta_kv *all = calloc((size_t)n_meta + 2, sizeof *all);
    int n = 0, rc = -1;
    int cap = weft_params_count(params) * (1 + optim_slots(&st->optim));
    if (!sj || !oj || !all || state_tensors(params, optim_slots(&st->optim), &names, &ts, &n)) {
        weft_say(err, errsize, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n_meta; i++) all[i] = meta[i];
    all[n_meta] = (weft_meta_kv){ "weft.train", sj };
    all[n_meta + 1] = (weft_meta_kv){ "weft.train_opts", oj };
    rc = weft_checkpoint_save_tensors(path, n, (const char *const *)names, ts, all, n_meta + 2,
                                      err, errsize);
done:
    free_names(names, cap);
    free(ts);
    free(all);
    free(sj);
    free(oj);
    return rc;
}

int weft_train_load_params_state(const char *path, weft_params *params, weft_train_opts *o,
                                 weft_train_state *st, char *err, size_t errsize)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, errsize)) return -1;
    const char *sj = weft_checkpoint_meta(&c, "weft.train");
    const char *oj = weft_checkpoint_meta(&c, "weft.train_opts");
    char why[512];
    char **names = NULL;
    weft_tensor *ts = NULL;
    int n = 0, cap = 0, rc = -1;
    weft_train_opts to = *o;
    if (!sj || !oj) {
        weft_say(err, errsize, "%s: not a training state file: \"%s\" is missing from the "
                 "metadata", path, sj ? "weft.train_opts" : "weft.train");
        goto done;
    }
    if (weft_train_state_parse(sj, st, why, sizeof why) ||
        weft_train_opts_parse(oj, &to, why, sizeof why)) {
        weft_say(err, errsize, "%s: %s", path, why);
        goto done;
    }
    weft_params_reset_state(params);
    cap = weft_params_count(params) * (1 + optim_slots(&st->optim));
    if (state_tensors(params, optim_slots(&st->optim), &names, &ts, &n)) {
        weft_say(err, errsize, "%s: out of memory", path);
        goto done;
    }
    if (weft_checkpoint_load_tensors(path, n, (const char *const *)names, ts, 0, err, errsize))
        goto done;
    *o = to;
    rc = 0;
done:
    free_names(names, cap);
    free(ts);
    weft_checkpoint_free(&c);
    return rc;
}

/* --- files ----------------------------------------------------------------------------------- */

int weft_train_check_writable(const char *path, char *err, size_t errsize)
{
    if (!path || !path[0]) {
        weft_say(err, errsize, "the output path is empty");
        return -1;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        weft_say(err, errsize, "%s is a folder, not a file", path);
        return -1;
    }
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof ".tmp-XXXXXX");
    if (!tmp) {
        weft_say(err, errsize, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        weft_say(err, errsize, "%s cannot be written: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    close(fd);
    unlink(tmp);
    free(tmp);
    return 0;
}

int weft_train_remove_stale_temps(const char *path)
{
    if (!path || !path[0]) return 0;
    const char *slash = strrchr(path, '/');
    char dir[4096];
    const char *base = slash ? slash + 1 : path;
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return 0;
        memcpy(dir, path, n);
        dir[n] = '\0';
        if (n == 0) snprintf(dir, sizeof dir, "/");
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* exactly BASE.tmp-XXXXXX, the names mkstemp gives weft's saves */
        const char *name = e->d_name;
        if (strlen(name) != blen + 11 || strncmp(name, base, blen) != 0 ||
            strncmp(name + blen, ".tmp-", 5) != 0)
            continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, name);
        struct stat sb;
        if (lstat(full, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(full) == 0) removed++;
    }
    closedir(d);
    return removed;
}

size_t weft_train_rank_share(size_t n, int rank, int size, size_t *first, weft_train_batch *b)
{
    if (size <= 1) return n;
    size_t off, mine = weft_dist_share(n, rank, size, &off);
    *first += off;
    if (mine == 0) *b = (weft_train_batch){ .loss = NULL, .items = 0 };
    return mine;
}

const char *weft_train_format_score(double x, char *buf, size_t n)
{
    if (isnan(x)) snprintf(buf, n, "nan");
    else if (isinf(x)) snprintf(buf, n, x > 0 ? "inf" : "-inf");
    else if (fabs(x) < 1e6) snprintf(buf, n, "%.2f", x);
    else snprintf(buf, n, "%.3e", x);
    return buf;
}

/* --- signals ------------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    stop_signal = sig;   /* checked between steps; SA_RESETHAND: a second signal kills */
}

typedef struct saved_handlers {
    bool set;
    struct sigaction intr, term;
} saved_handlers;

static void catch_signals(saved_handlers *h)
{
    struct sigaction sa = { 0 };
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    h->set = sigaction(SIGINT, &sa, &h->intr) == 0;
    if (h->set && sigaction(SIGTERM, &sa, &h->term) != 0) {
        sigaction(SIGINT, &h->intr, NULL);
        h->set = false;
    }
}

static void restore_signals(saved_handlers *h)
{
    if (!h->set) return;
    sigaction(SIGINT, &h->intr, NULL);
    sigaction(SIGTERM, &h->term, NULL);
    h->set = false;
}

/* --- the run --------------------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Everything one call of weft_train works with. */
typedef struct run {
    const weft_trainable *t;
    const weft_train_opts *o;
    weft_train_state st;
    weft_graph *g;
    FILE *csv, *json;
    const char *csv_path, *json_path;
    double t_start, train_seconds;
    double items;                   /* this process */
    long batches_session;           /* this process */
    long total_steps;               /* the run's optimiser steps, for COSINE (0: unknown) */
    weft_train_epoch ep;
    float *best_values;             /* the best weights, for the test set (NULL: none kept) */
    bool saved_model;               /* this process saved the model file */
    char *err;
    size_t errsize;
    /* several ranks (weft/distributed.h); one process: rank 0 of 1, dist false */
    weft_comm *comm;
    int rank, size;
    bool dist;
    bool want_stop;                 /* rank 0: on_event asked to stop (agreed at the next sync) */
    bool stop_req;                  /* agreed: some rank caught a signal, or rank 0 asked */
    int sig;                        /* agreed: the signal caught (0: none) */
    double comm_seconds;            /* in the gradients' MPI_Allreduce */
    /* several ranks, one batch a step: the gradient's buckets, reduced while the
       backward still runs (see overlap below); n_buckets 0: one reduction after it */
    size_t (*bucket)[2];            /* [lo, hi) of the store's span, last parameters first */
    int *bucket_of;                 /* the bucket of the store's parameter i */
    int *left;                      /* a bucket's parameters not final yet */
    int n_buckets, launched;        /* buckets started (in bucket order) */
    float weight;                   /* this rank's items, the buckets' factor */
    int overlap_rc;                 /* an MPI error inside the sweep */
} run;

/* A row of the CSV log and a line of the JSON log (when open). -1 with a
 * message when either cannot be written. */
static int log_event(run *r, const weft_train_event *e)
{
    if (r->csv) {
        char score[64] = "";
        if (e->kind != WEFT_TRAIN_PROGRESS)
            snprintf(score, sizeof score, "%.4f", e->has_score ? e->score : NAN);
        if (e->kind == WEFT_TRAIN_TEST) {
            /* the test row: no training numbers */
            fprintf(r->csv, "test,%ld,%.0f,%.3f,,,,,%s\n", e->steps, e->items, e->seconds, score);
        } else {
            fprintf(r->csv, "%d,%ld,%.0f,%.3f,%g,%.6f,%.4f,%.4f,%s\n", e->epoch, e->steps,
                    e->items, e->seconds, e->lr, e->loss, exp(e->loss), (double)e->grad_norm,
                    score);
        }
        if (fflush(r->csv) != 0 || ferror(r->csv)) {
            weft_say(r->err, r->errsize, "cannot write the log %s: %s", r->csv_path,
                     strerror(errno));
            return -1;
        }
    }
    if (r->json) {
        static const char *const kinds[] = { "progress", "epoch", "eval", "test" };
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            weft_say(r->err, r->errsize, "out of memory for the JSON log");
            return -1;
        }
        cJSON_AddStringToObject(o, "event", kinds[e->kind]);
        cJSON_AddNumberToObject(o, "epoch", e->epoch);
        cJSON_AddNumberToObject(o, "batch", (double)e->batch);
        cJSON_AddNumberToObject(o, "steps", (double)e->steps);
        cJSON_AddNumberToObject(o, "optim_steps", (double)e->optim_steps);
        cJSON_AddNumberToObject(o, "items", e->items);
        cJSON_AddNumberToObject(o, "seconds", e->seconds);
        if (e->kind != WEFT_TRAIN_TEST) {
            cJSON_AddNumberToObject(o, "lr", e->lr);
            if (isfinite(e->loss)) cJSON_AddNumberToObject(o, "loss", e->loss);
            else cJSON_AddNullToObject(o, "loss");
            cJSON_AddNumberToObject(o, "grad_norm", (double)e->grad_norm);
        }
        if (e->kind != WEFT_TRAIN_PROGRESS) {
            /* "valid_ppl", "test_accuracy", ...; null when not finite */
            char name[80];
            snprintf(name, sizeof name, "%s_%s", e->kind == WEFT_TRAIN_TEST ? "test" : "valid",
                     r->t->score_name ? r->t->score_name : "score");
            if (e->has_score && isfinite(e->score)) cJSON_AddNumberToObject(o, name, e->score);
            else cJSON_AddNullToObject(o, name);
            if (e->kind != WEFT_TRAIN_TEST) {
                cJSON_AddBoolToObject(o, "best", e->best);
                cJSON_AddBoolToObject(o, "saved", e->saved);
            }
        }
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!s) {
            weft_say(r->err, r->errsize, "out of memory for the JSON log");
            return -1;
        }
        fprintf(r->json, "%s\n", s);
        cJSON_free(s);
        if (fflush(r->json) != 0 || ferror(r->json)) {
            weft_say(r->err, r->errsize, "cannot write the log %s: %s", r->json_path,
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Log e and hand it to the caller. 1 when the caller asks to stop, -1 on a
 * write error. */
static int emit(run *r, weft_train_event *e)
{
    if (r->rank != 0) return 0;     /* rank 0 alone logs and reports */
    e->epochs = r->o->epochs;
    e->steps = r->st.batches_done;
    e->optim_steps = r->st.optim.step;
    e->items = r->items;
    e->seconds = now_seconds() - r->t_start;
    e->train_seconds = r->train_seconds;
    if (log_event(r, e)) return -1;
    if (r->o->on_event && r->o->on_event(r->o->user, e)) return 1;
    return 0;
}

static FILE *open_log(const char *path, bool append, bool csv, char *err, size_t errsize)
{
    if (!path) return NULL;
    struct stat sb;
    bool exists = stat(path, &sb) == 0 && sb.st_size > 0;
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) {
        weft_say(err, errsize, "%s: cannot write the log: %s", path, strerror(errno));
        return NULL;
    }
    if (csv && (!append || !exists) &&
        (fprintf(f, "epoch,window,tokens,seconds,lr,train_loss,train_ppl,grad_norm,valid_ppl\n")
             < 0 || fflush(f) != 0)) {
        weft_say(err, errsize, "%s: cannot write the log: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    return f;
}

static int save_model(run *r)
{
    if (!r->o->save_path || !r->t->save || r->rank != 0) return 0;
    weft_train_remove_stale_temps(r->o->save_path);
    if (r->t->save(r->t->model, r->o->save_path, r->err, r->errsize)) return -1;
    r->saved_model = true;
    return 0;
}

static int save_state(run *r, const weft_train_state *st)
{
    if (!r->o->state_path || !r->t->save_state) return 0;
    if (r->dist && r->t->gather_state && r->t->gather_state(r->t->model, r->comm, r->err, r->errsize))
        return -1;
    if (r->rank != 0) return 0;
    weft_train_remove_stale_temps(r->o->state_path);
    return r->t->save_state(r->t->model, r->o->state_path, r->o, st, r->err, r->errsize);
}

/* Keep a copy of the current weights as the best (for the test set). */
static int keep_best(run *r)
{
    if (!r->t->has_test || !r->t->evaluate || r->rank != 0) return 0;
    size_t n = weft_params_span(r->t->params);
    if (!r->best_values && !(r->best_values = malloc(n ? n * sizeof(float) : 1))) {
        weft_say(r->err, r->errsize, "out of memory for a copy of the best weights");
        return -1;
    }
    memcpy(r->best_values, weft_params_values(r->t->params), n * sizeof(float));
    return 0;
}

static bool better(const run *r, double score)
{
    if (!isfinite(score)) return false;   /* an infinite perplexity is never the best */
    if (!r->st.has_best) return true;
    return r->t->higher_is_better ? score > r->st.best : score < r->st.best;
}

/* Validate, and record the score. *improved: the best so far. */
static int validate(run *r, double *score, bool *improved)
{
    *improved = false;
    *score = NAN;
    if (!r->t->evaluate || !r->t->has_valid) return 0;
    /* rank 0 scores, and every rank takes its score: the same decisions */
    if (r->rank == 0 &&
        r->t->evaluate(r->t->model, r->g, WEFT_TRAIN_SET_VALID, score, r->err, r->errsize))
        return -1;
    if (weft_comm_broadcast(r->comm, score, sizeof *score, 0, r->err, r->errsize)) return -1;
    if (better(r, *score)) {
        r->st.has_best = true;
        r->st.best = *score;
        r->st.best_epoch = r->st.epoch;
        r->st.bad_epochs = 0;
        r->st.plateau_bad = 0;
        *improved = true;
    } else {
        r->st.bad_epochs++;
        r->st.plateau_bad++;
        const weft_lr_schedule *s = &r->o->schedule;
        if (s->kind == WEFT_LR_PLATEAU && r->st.plateau_bad > s->plateau_patience) {
            r->st.lr_scale *= s->decay;
            if (!(r->st.lr_scale > 0)) r->st.lr_scale = 1e-300;
            r->st.plateau_bad = 0;
        }
    }
    return 0;
}

/* Several ranks: the stream this rank hands batch_loss (dropout) for batch
 * `batch` of the run, derived from the run's stream, the batch and the rank
 * without drawing from the run's stream: that stays the epochs' order, the
 * same on every rank and the same as one process's when nothing else draws
 * (no dropout). A run is reproducible for a given number of ranks. */
static weft_rng rank_stream(const weft_rng *run_rng, long batch, int rank)
{
    uint64_t a = ((uint64_t)run_rng->s[0] << 32) | run_rng->s[1];
    uint64_t b = ((uint64_t)run_rng->s[2] << 32) | run_rng->s[3];
    weft_rng out;
    weft_rng_seed(&out, a ^ (b * 0xBF58476D1CE4E5B9ull) ^
                            ((uint64_t)(batch + 1) * 0x94D049BB133111EBull) ^
                            ((uint64_t)(rank + 1) * 0x9E3779B97F4A7C15ull));
    return out;
}

/* Several ranks, after this rank's backward: every rank's gradient is the mean
 * over its own items; the step's gradient is the mean over all ranks' items,
 *     g = sum_r (items_r / items) g_r,
 * one MPI_Allreduce over the store's contiguous gradient buffer (its padding
 * is zero and stays zero). The loss and items become the global batch's. */
static int average_gradients(run *r, double local_items, double *loss_sum, double *items)
{
    weft_params *p = r->t->params;
    double sums[3] = { local_items, *loss_sum * local_items, *items };
    if (weft_comm_sum_doubles(r->comm, sums, 3, r->err, r->errsize)) return -1;
    float *gr = weft_params_grads(p);
    size_t n = weft_params_span(p);
    float w = (float)(local_items / sums[0]);
    for (size_t i = 0; i < n; i++) gr[i] *= w;
    double t0 = now_seconds();
    if (weft_comm_sum_floats(r->comm, gr, n, r->err, r->errsize)) return -1;
    r->comm_seconds += now_seconds() - t0;
    *loss_sum = sums[1] / sums[0];   /* the item-weighted mean of the ranks' sums */
    *items = sums[2];
    return 0;
}

/* Several ranks: the gradient reduced in buckets while the backward runs
 * (as PyTorch's DistributedDataParallel and Horovod's tensor fusion do).
 * The store's parameters are cut, last registered first, into buckets of
 * about WEFT_BUCKET_MB megabytes (0, the default: one MPI_Allreduce after
 * the backward, faster on the machines measured: docs/distributed.md), each a contiguous range of the gradient buffer. The
 * engine tells the trainer when a parameter's gradient is final
 * (weft_graph_on_grad_final: the first node on the tape that reads it has
 * run its backward); a bucket whose parameters are all final is scaled by
 * this rank's items and its sum over the ranks started (MPI_Iallreduce),
 * and the sweep gives MPI a chance to move it after every node. Buckets
 * start strictly in bucket order, whatever order their parameters become
 * final in, so every rank starts the same sums in the same order (the MPI
 * rule) even where the ranks' graphs differ. The decoder's gradient (the
 * last parameters, final first) travels while the recurrent layers'
 * backward runs. After the backward the rest start, the items are summed,
 * everything is waited for and divided by all ranks' items:
 *     g = (sum_r items_r g_r) / items
 * the same average as average_gradients, up to float rounding. */
static int buckets_make(run *r)
{
    const char *env = getenv("WEFT_BUCKET_MB");
    double mb = env && env[0] ? atof(env) : 0.0;
    weft_params *p = r->t->params;
    int n = weft_params_count(p);
    if (!r->dist || r->o->accumulate != 1 || !(mb > 0) || n == 0) return 0;
    size_t target = (size_t)(mb * 1048576.0 / sizeof(float)), span = weft_params_span(p);
    r->bucket = malloc((size_t)n * sizeof *r->bucket);
    r->bucket_of = malloc((size_t)n * sizeof *r->bucket_of);
    r->left = malloc((size_t)n * sizeof *r->left);
    if (!r->bucket || !r->bucket_of || !r->left) {
        weft_say(r->err, r->errsize, "out of memory for the gradient's buckets");
        return -1;
    }
    size_t hi = span;
    for (int i = n - 1; i >= 0; i--) {
        size_t lo = weft_params_at(p, i)->offset;
        r->bucket_of[i] = r->n_buckets;
        if (hi - lo >= target || i == 0) {
            r->bucket[r->n_buckets][0] = i == 0 ? 0 : lo;
            r->bucket[r->n_buckets][1] = hi;
            r->n_buckets++;
            hi = lo;
        }
    }
    return 0;
}

/* Start the buckets that are ready, in order (all of them: the backward is over). */
static void buckets_start(run *r, bool all)
{
    float *g = weft_params_grads(r->t->params);
    while (r->overlap_rc == 0 && r->launched < r->n_buckets &&
           (all || r->left[r->launched] == 0)) {
        size_t lo = r->bucket[r->launched][0], hi = r->bucket[r->launched][1];
        for (size_t i = lo; i < hi; i++) g[i] *= r->weight;
        r->overlap_rc = weft_comm_start_sum_floats(r->comm, g + lo, hi - lo, r->err, r->errsize);
        r->launched++;
    }
}

static void on_grad_final(void *ctx, const weft_param *p)
{
    run *r = ctx;
    if (r->overlap_rc) return;
    if (!p) {
        r->overlap_rc = weft_comm_progress(r->comm, r->err, r->errsize);
        return;
    }
    if (p->store != r->t->params) return;
    r->left[r->bucket_of[p->id]]--;
    buckets_start(r, false);
}

/* Before this rank's backward: every bucket waits for all its parameters. */
static void buckets_arm(run *r, double local_items)
{
    for (int b = 0; b < r->n_buckets; b++) r->left[b] = 0;
    for (int i = 0; i < weft_params_count(r->t->params); i++) r->left[r->bucket_of[i]]++;
    r->launched = 0;
    r->weight = (float)local_items;
    r->overlap_rc = 0;
}

/* After the backward (or with no share of the batch): the rest of the buckets,
 * the items, the wait, the division. */
static int buckets_finish(run *r, double local_items, double *loss_sum, double *items)
{
    if (r->launched == 0) buckets_arm(r, local_items);   /* no backward ran here */
    double t0 = now_seconds();
    buckets_start(r, true);
    if (r->overlap_rc) return -1;
    double sums[3] = { local_items, *loss_sum * local_items, *items };
    if (weft_comm_sum_doubles(r->comm, sums, 3, r->err, r->errsize)) return -1;
    if (weft_comm_wait(r->comm, r->err, r->errsize)) return -1;
    r->comm_seconds += now_seconds() - t0;
    float *g = weft_params_grads(r->t->params);
    size_t n = weft_params_span(r->t->params);
    float inv = (float)(1.0 / sums[0]);
    for (size_t i = 0; i < n; i++) g[i] *= inv;
    *loss_sum = sums[1] / sums[0];
    *items = sums[2];
    return 0;
}

/* Several ranks, after every step: agree on stopping (a signal caught by any
 * rank, rank 0's callback) and on the training clock (rank 0's, for
 * max_seconds and the eval points). */
static int sync_control(run *r)
{
    if (!r->dist) return 0;
    double v[3] = { stop_signal && r->o->catch_signals ? (double)stop_signal : 0.0,
                    r->want_stop ? 1.0 : 0.0, r->rank == 0 ? r->train_seconds : 0.0 };
    if (weft_comm_sum_doubles(r->comm, v, 3, r->err, r->errsize)) return -1;
    if (v[0] > 0) r->sig = stop_signal ? (int)stop_signal : SIGTERM;
    r->stop_req = v[1] > 0;
    r->train_seconds = v[2];
    return 0;
}

/* One optimiser step over up to K batches from r->st.batch. Fills the
 * step's mean loss, its norm and its batches. */
static int train_step(run *r, double *loss_sum, long *n_batches, float *norm_out, double *items)
{
    const weft_trainable *t = r->t;
    const weft_train_opts *o = r->o;
    int K = o->accumulate;
    double total_items = 0;
    const weft_grad_rows *rows = NULL;
    weft_rng rank_rng;              /* several ranks: this rank's stream for batch_loss */
    weft_params_zero_grad(t->params);
    *loss_sum = 0;
    *n_batches = 0;
    for (int k = 0; k < K && r->st.batch < r->ep.batches; k++) {
        long index = r->st.batch;
        weft_graph_reset(r->g);
        weft_train_batch b = { 0 };
        weft_rng *rng = &r->st.rng;
        if (r->dist) {
            rank_rng = rank_stream(&r->st.rng, r->st.batches_done, r->rank);
            rng = &rank_rng;
        }
        if (t->batch_loss(t->model, r->g, index, rng, &b, r->err, r->errsize)) return -1;
        if (r->dist && !b.loss && b.items == 0 && !weft_graph_failed(r->g)) {
            /* several ranks: none of this batch is this rank's (a short last batch) */
            r->st.batch++;
            r->st.batches_done++;
            r->batches_session++;
            (*n_batches)++;
            continue;
        }
        if (!b.loss || weft_graph_failed(r->g)) {
            weft_say(r->err, r->errsize, "%s",
                     weft_graph_error(r->g) ? weft_graph_error(r->g) : "the loss was not built");
            return -1;
        }
        float L = weft_scalar(b.loss);
        if (!isfinite(L)) {
            weft_say(r->err, r->errsize, "the loss is %s (try a lower learning rate or a "
                     "gradient clip)", isnan(L) ? "NaN" : "infinite");
            return -1;
        }
        if (o->max_loss > 0 && L > o->max_loss) {
            weft_say(r->err, r->errsize, "the loss %.4g is above the bound %.4g: the run "
                     "diverged (lower the learning rate, or raise the bound)", (double)L,
                     o->max_loss);
            return -1;
        }
        weft_var *scaled = b.loss;
        if (r->n_buckets) {   /* several ranks: reduce the buckets as they become final */
            buckets_arm(r, b.items > 0 ? b.items : 1.0);
            /* a recomputed backward (batch_backward) runs several sweeps and its
               gradients are final only after the last: reduced after it */
            if (!t->batch_backward) weft_graph_on_grad_final(r->g, on_grad_final, r);
        }
        if (K > 1) {
            /* weight the batch by its items; the sum is divided by all the
               items below: the mean over the K batches' items */
            scaled = weft_scale(r->g, b.loss, (float)(b.items > 0 ? b.items : 1.0));
            if (!scaled) {
                weft_say(r->err, r->errsize, "%s", weft_graph_error(r->g));
                return -1;
            }
        }
        float scale = K > 1 ? (float)(b.items > 0 ? b.items : 1.0) : 1.0f;
        int brc = t->batch_backward
                      ? t->batch_backward(t->model, r->g, scaled, scale, r->err, r->errsize)
                      : weft_backward(r->g, scaled);
        weft_graph_on_grad_final(r->g, NULL, NULL);
        if (brc) {
            if (!t->batch_backward) weft_say(r->err, r->errsize, "%s", weft_graph_error(r->g));
            return -1;
        }
        if (r->overlap_rc) return -1;
        if (K == 1 && !r->dist) rows = b.rows;   /* several ranks: rows differ by rank */
        if (t->batch_end && t->batch_end(t->model, r->g, r->err, r->errsize)) return -1;
        total_items += b.items > 0 ? b.items : 1.0;   /* several ranks: items > 0 here */
        *items += b.items;
        *loss_sum += L;
        (*n_batches)++;
        r->st.batch++;
        r->st.batches_done++;
        r->batches_session++;
    }
    if (K > 1 && total_items > 0) {
        float *gr = weft_params_grads(t->params);
        size_t n = weft_params_span(t->params);
        float inv = (float)(1.0 / total_items);
        for (size_t i = 0; i < n; i++) gr[i] *= inv;
    }
    if (r->dist && (r->n_buckets ? buckets_finish(r, total_items, loss_sum, items)
                                 : average_gradients(r, total_items, loss_sum, items)))
        return -1;
    /* two passes over the store: the norm, then the update with the clip's
       factor applied on the fly (weft/optim.h) */
    float norm = weft_grad_norm_rows(t->params, rows);
    if (!isfinite(norm)) {
        weft_say(r->err, r->errsize, "the gradient norm is %s (try a lower learning rate or a "
                 "gradient clip)", isnan(norm) ? "NaN" : "infinite");
        return -1;
    }
    if (weft_clip_step(&r->st.optim, t->params, norm, o->clip, rows)) {
        weft_say(r->err, r->errsize, "optimizer: %s", weft_params_error(t->params));
        return -1;
    }
    *norm_out = norm;
    return 0;
}

/* Score the test set with the best weights: those kept in memory, or the saved
 * model's (when the best came before a resume), or the current ones. */
static int score_test(run *r, double *score)
{
    const weft_trainable *t = r->t;
    if (r->dist) {
        /* rank 0 scores with its best weights; the others take its score */
        int rc = 0;
        if (r->rank == 0) {
            r->dist = false;
            rc = score_test(r, score);
            r->dist = true;
            if (rc) return -1;
        }
        return weft_comm_broadcast(r->comm, score, sizeof *score, 0, r->err, r->errsize);
    }
    size_t n = weft_params_span(t->params);
    float *current = NULL;
    bool swapped = false;
    if (r->best_values || (r->st.has_best && t->load && r->o->save_path)) {
        if (!(current = malloc(n ? n * sizeof(float) : 1))) {
            weft_say(r->err, r->errsize, "out of memory for a copy of the weights");
            return -1;
        }
        memcpy(current, weft_params_values(t->params), n * sizeof(float));
        swapped = true;
        if (r->best_values) {
            memcpy(weft_params_values(t->params), r->best_values, n * sizeof(float));
        } else if (t->load(t->model, r->o->save_path, r->err, r->errsize)) {
            free(current);
            return -1;
        }
    }
    int rc = t->evaluate(t->model, r->g, WEFT_TRAIN_SET_TEST, score, r->err, r->errsize);
    if (swapped) memcpy(weft_params_values(t->params), current, n * sizeof(float));
    free(current);
    return rc;
}

static int check_opts(const weft_trainable *t, const weft_train_opts *o, char *err,
                      size_t errsize)
{
    const char *bad = NULL;
    if (!t || !t->params || !t->epoch_begin || !t->batch_loss)
        bad = "the model needs params, epoch_begin and batch_loss";
    else if (o->accumulate < 1) bad = "accumulate must be >= 1";
    else if (o->checkpoint_every < 0) bad = "checkpoint_every must be >= 0";
    else if (o->checkpoint_every > 0 && !t->set_checkpoint_every)
        bad = "checkpoint_every: this model does not recompute its forward in segments";
    else if (o->epochs < 0 || o->max_steps < 0 || !(o->max_seconds >= 0))
        bad = "epochs, max_steps and max_seconds must be >= 0";
    else if (o->epochs == 0 && o->max_steps == 0 && o->max_seconds == 0)
        bad = "no budget: give epochs, max_steps or max_seconds";
    else if (!(o->clip >= 0) || !isfinite(o->clip)) bad = "clip must be finite and >= 0";
    else if (o->patience < 0) bad = "patience must be >= 0";
    else if (!(o->max_loss >= 0)) bad = "max_loss must be >= 0";
    else if (o->eval_points < 0) bad = "eval_points must be >= 0";
    else if (o->stop_after < 0) bad = "stop_after must be >= 0";
    else if (!(o->schedule.decay >= 0) || o->schedule.decay_start < 1 ||
             o->schedule.plateau_patience < 0 || !(o->schedule.min_lr >= 0) ||
             o->schedule.warmup_steps < 0)
        bad = "the learning-rate schedule is out of range (decay >= 0, decay_start >= 1, "
              "plateau_patience >= 0, min_lr >= 0, warmup_steps >= 0)";
    else if (o->schedule.kind == WEFT_LR_PLATEAU && !(o->schedule.decay > 0 &&
                                                      o->schedule.decay <= 1))
        bad = "reduce-on-plateau needs a decay in (0, 1]";
    else if ((o->patience > 0 || o->schedule.kind == WEFT_LR_PLATEAU) &&
             !(t->evaluate && t->has_valid))
        bad = "early stopping and reduce-on-plateau need a validation set";
    if (bad) {
        weft_say(err, errsize, "trainer: %s", bad);
        return -1;
    }
    return weft_train_optim_check(&o->optim, err, errsize);
}

/* Several ranks, before the first step: every rank takes its share of the
 * data, and rank 0's weights, optimiser slots and run state (so that every
 * rank starts from the same point, whatever each one loaded or drew). */
static int start_ranks(run *r)
{
    const weft_trainable *t = r->t;
    if (t->shard(t->model, r->rank, r->size, r->err, r->errsize)) return -1;
    size_t n = weft_params_span(t->params) * sizeof(float);
    if (weft_comm_broadcast(r->comm, weft_params_values(t->params), n, 0, r->err, r->errsize))
        return -1;
    for (int k = 0; k < optim_slots(&r->st.optim); k++) {
        float *slot = weft_params_state(t->params, k);
        if (!slot) {
            weft_say(r->err, r->errsize, "out of memory for the optimizer's state");
            return -1;
        }
        if (weft_comm_broadcast(r->comm, slot, n, 0, r->err, r->errsize)) return -1;
    }
    return weft_comm_broadcast(r->comm, &r->st, sizeof r->st, 0, r->err, r->errsize);
}

/* Is an eval point due after `step` optimiser steps (eval_points mode)? */
static bool eval_due(const run *r, int point)
{
    const weft_train_opts *o = r->o;
    if (o->max_seconds > 0)
        return r->train_seconds >= o->max_seconds * point / o->eval_points;
    return r->st.optim.step * o->eval_points >= o->max_steps * point;
}

static int train(const weft_trainable *t, const weft_train_opts *o, weft_train_result *res,
                 char *err, size_t errsize)
{
    memset(res, 0, sizeof *res);
    if (check_opts(t, o, err, errsize)) return -1;
    run r = { .t = t, .o = o, .err = err, .errsize = errsize, .comm = o->comm,
              .rank = weft_comm_rank(o->comm), .size = weft_comm_size(o->comm) };
    weft_thread_tuner tuner = { 0 };   /* off until the first batch */
    r.dist = r.size > 1;
    if (r.dist && !t->shard) {
        weft_say(err, errsize, "trainer: the model cannot train over several ranks (it has no "
                 "shard callback)");
        return -1;
    }
    if (o->resume) {
        if (weft_train_state_check(o->resume, err, errsize)) return -1;
        r.st = *o->resume;
    } else {
        r.st = (weft_train_state){ .epoch = 1, .lr_scale = 1.0, .optim = o->optim,
                                   .rng = o->rng, .epoch_rng = o->rng };
        r.st.lr = o->optim.lr;
    }
    double lr0 = o->optim.lr;
    int rc = -1;
    saved_handlers handlers = { 0 };

    /* before the first batch: the outputs can be written, stale temporaries go */
    const char *outs[2] = { t->save ? o->save_path : NULL,
                            t->save_state ? o->state_path : NULL };
    for (int i = 0; i < 2 && r.rank == 0; i++) {
        if (!outs[i]) continue;
        weft_train_remove_stale_temps(outs[i]);
        if (weft_train_check_writable(outs[i], err, errsize)) return -1;
    }
    r.csv_path = o->log_csv;
    r.json_path = o->log_json;
    if (r.rank == 0 && o->log_csv &&
        !(r.csv = open_log(o->log_csv, o->resume != NULL, true, err, errsize)))
        goto done;
    if (r.rank == 0 && o->log_json &&
        !(r.json = open_log(o->log_json, o->resume != NULL, false, err, errsize)))
        goto done;
    if (!(r.g = weft_graph_new())) {
        weft_say(err, errsize, "out of memory");
        goto done;
    }
    /* gradients of intermediates only while live, fused steps' activations
     * in place (weft_graph_set_low_memory): nothing here reads them after */
    weft_graph_set_low_memory(r.g, true);
    if (o->checkpoint_every > 0 &&
        t->set_checkpoint_every(t->model, o->checkpoint_every, err, errsize))
        goto done;
    /* buckets reduced during the backward need one sweep a batch; a model
     * recomputing in segments runs several: its gradients are averaged after */
    if (r.dist && (start_ranks(&r) || (o->checkpoint_every == 0 && buckets_make(&r))))
        goto done;
    if (o->catch_signals) catch_signals(&handlers);
    r.t_start = now_seconds();
    weft_thread_tuner_init(&tuner);

    bool eval_mode = o->eval_points > 0;
    int next_point = 1;
    long last_eval_step = -1;
    float last_norm = 0.0f;
    bool stopped = false, budget_hit = false;
    res->stop = WEFT_TRAIN_FINISHED;

    if (eval_mode && o->eval_at_start && !o->resume) {
        double score;
        bool improved;
        if (validate(&r, &score, &improved)) goto done;
        weft_train_event e = { .kind = WEFT_TRAIN_EVAL, .epoch = r.st.epoch,
                               .has_score = t->has_valid, .score = score, .best = improved,
                               .lr = r.st.lr, .loss = NAN };
        if (improved && keep_best(&r)) goto done;
        int st = emit(&r, &e);
        if (st < 0) goto done;
        last_eval_step = 0;
    }

    for (; (o->epochs == 0 || r.st.epoch <= o->epochs) && !stopped; r.st.epoch++) {
        memset(&r.ep, 0, sizeof r.ep);
        /* epoch_begin draws the epoch's order from the stream as it was when
           the epoch began: on a resumed run mid-epoch, from epoch_rng, and the
           stream itself goes on from where it was */
        weft_rng order_rng;
        if (r.st.batch == 0) r.st.epoch_rng = r.st.rng;
        weft_rng *use = r.st.batch == 0 ? &r.st.rng : (order_rng = r.st.epoch_rng, &order_rng);
        if (t->epoch_begin(t->model, r.st.epoch, r.st.batch, use, &r.ep, err, errsize))
            goto done;
        if (r.ep.batches < 1) {
            weft_say(err, errsize, "epoch %d has no batch", r.st.epoch);
            goto done;
        }
        if (r.st.batch > r.ep.batches) {
            weft_say(err, errsize, "the state's batch %ld is past the epoch's %ld batches",
                     r.st.batch, r.ep.batches);
            goto done;
        }
        if (r.total_steps == 0) {
            long per_epoch = (r.ep.batches + o->accumulate - 1) / o->accumulate;
            r.total_steps = o->max_steps > 0 ? o->max_steps
                            : o->epochs > 0  ? per_epoch * (long)o->epochs
                                             : 0;
        }
        long report_every = o->report_every > 0 ? o->report_every
                            : r.ep.batches / 10 > 0 ? r.ep.batches / 10 : 1;
        double t_epoch = now_seconds(), t_report = t_epoch;
        double sum_loss = 0, rep_loss = 0;
        long n_loss = 0, rep_n = 0;
        double items_done = r.ep.batch_items > 0 ? r.ep.batch_items * (double)r.st.batch : 0;
        if (r.ep.items > 0 && items_done > r.ep.items) items_done = r.ep.items;

        while (r.st.batch < r.ep.batches) {
            r.st.lr = weft_lr_at(&o->schedule, lr0, r.st.lr_scale, r.st.epoch, r.st.optim.step,
                                 r.total_steps);
            r.st.optim.lr = r.st.lr;
            if (r.dist ? r.sig != 0 : (stop_signal && o->catch_signals)) {
                res->stop = WEFT_TRAIN_INTERRUPTED;
                res->signal = r.dist ? r.sig : stop_signal;
                stopped = true;
                break;
            }
            if (r.dist && r.stop_req) {
                res->stop = WEFT_TRAIN_STOPPED;
                stopped = true;
                break;
            }
            if (o->stop_after > 0 && r.batches_session >= o->stop_after) {
                res->stop = WEFT_TRAIN_STOPPED;
                stopped = true;
                break;
            }
            if ((o->max_steps > 0 && r.st.optim.step >= o->max_steps) ||
                (o->max_seconds > 0 && r.train_seconds >= o->max_seconds)) {
                budget_hit = true;
                break;
            }
            long first = r.st.batch, nb;
            double t0 = now_seconds(), lsum, step_items = 0;
            float norm;
            if (train_step(&r, &lsum, &nb, &norm, &step_items)) {
                char why[768];
                snprintf(why, sizeof why, "%s", err);
                weft_say(err, errsize, "epoch %d, batch %ld of %ld (step %ld): %s", r.st.epoch,
                         r.st.batch + 1, r.ep.batches, r.st.optim.step + 1, why);
                goto done;
            }
            r.train_seconds += now_seconds() - t0;
            weft_thread_tuner_step(&tuner, now_seconds() - t0);
            if (sync_control(&r)) goto done;
            r.items += step_items;
            items_done += step_items;
            sum_loss += lsum;
            rep_loss += lsum;
            n_loss += nb;
            rep_n += nb;
            last_norm = norm;

            bool last = r.st.batch >= r.ep.batches;
            double tnow = now_seconds();
            bool report = o->report_seconds > 0 ? (tnow - t_report >= o->report_seconds || last)
                                                : (r.st.batch % report_every == 0 || last ||
                                                   (first / report_every !=
                                                    r.st.batch / report_every));
            if (report && rep_n > 0) {
                weft_train_event e = {
                    .kind = WEFT_TRAIN_PROGRESS, .epoch = r.st.epoch, .batch = r.st.batch,
                    .batches = r.ep.batches, .lr = r.st.lr, .loss = rep_loss / (double)rep_n,
                    .grad_norm = last_norm,
                    .pct = r.ep.items > 0 ? 100.0 * items_done / r.ep.items
                                          : 100.0 * (double)r.st.batch / (double)r.ep.batches,
                };
                if (r.ep.items > 0 && o->epochs > 0)
                    e.items_left = r.ep.items - items_done +
                                   (double)(o->epochs - r.st.epoch) * r.ep.items;
                int st = emit(&r, &e);
                if (st < 0) goto done;
                if (st > 0 && r.dist) {
                    r.want_stop = true;     /* all ranks stop after the next step */
                } else if (st > 0) {
                    res->stop = WEFT_TRAIN_STOPPED;
                    stopped = true;
                }
                t_report = tnow;
                rep_loss = 0;
                rep_n = 0;
            }
            if (eval_mode) {
                bool budget_end = (o->max_steps > 0 && r.st.optim.step >= o->max_steps) ||
                                  (o->max_seconds > 0 && r.train_seconds >= o->max_seconds);
                if (eval_due(&r, next_point) || budget_end) {
                    while (next_point <= o->eval_points && eval_due(&r, next_point)) next_point++;
                    double score;
                    bool improved;
                    if (validate(&r, &score, &improved)) goto done;
                    if (improved && (keep_best(&r) || save_model(&r))) goto done;
                    weft_train_event e = { .kind = WEFT_TRAIN_EVAL, .epoch = r.st.epoch,
                                           .batch = r.st.batch, .batches = r.ep.batches,
                                           .lr = r.st.lr, .loss = lsum / (double)nb,
                                           .grad_norm = norm, .has_score = t->has_valid,
                                           .score = score, .best = improved,
                                           .saved = improved && r.saved_model };
                    last_eval_step = r.st.optim.step;
                    int st = emit(&r, &e);
                    if (st < 0) goto done;
                    if (st > 0 && r.dist) {
                        r.want_stop = true;
                    } else if (st > 0) {
                        res->stop = WEFT_TRAIN_STOPPED;
                        stopped = true;
                    }
                    if (o->patience > 0 && r.st.bad_epochs >= o->patience) {
                        res->stop = WEFT_TRAIN_EARLY_STOPPED;
                        budget_hit = true;
                    }
                }
            }
            if (stopped || budget_hit) break;
        }
        if (stopped) break;
        if (eval_mode) {
            /* the budget counts steps or seconds, not epochs: on to the next */
            if (budget_hit || (o->epochs > 0 && r.st.epoch >= o->epochs)) {
                if (!budget_hit) r.st.batch = 0, r.st.epoch++;
                goto budget_spent;
            }
            r.st.batch = 0;
            continue;
        }

        /* the epoch is done: validate, keep the best, save the state */
        double score;
        bool improved;
        if (validate(&r, &score, &improved)) {
            char why[768];
            snprintf(why, sizeof why, "%s", err);
            weft_say(err, errsize, "validating after epoch %d: %s", r.st.epoch, why);
            goto done;
        }
        bool save_now = !t->has_valid || !t->evaluate || improved;
        bool saved = false;
        if (save_now) {
            if (improved && keep_best(&r)) goto done;
            if (save_model(&r)) goto done;
            saved = o->save_path && t->save;
        }
        weft_train_state next = r.st;
        next.epoch = r.st.epoch + 1;
        next.batch = 0;
        next.epoch_rng = next.rng;
        if (save_state(&r, &next)) goto done;
        weft_train_event e = {
            .kind = WEFT_TRAIN_EPOCH, .epoch = r.st.epoch, .batch = r.ep.batches,
            .batches = r.ep.batches, .pct = 100.0, .lr = r.st.lr,
            .loss = n_loss ? sum_loss / (double)n_loss : NAN, .grad_norm = last_norm,
            .has_score = t->evaluate && t->has_valid, .score = score, .best = improved,
            .saved = saved, .epoch_seconds = now_seconds() - t_epoch,
        };
        int st = emit(&r, &e);
        if (st < 0) goto done;
        if (r.dist) {
            /* rank 0's callback, or a signal during the epoch's end, stops every rank */
            r.want_stop = r.want_stop || st > 0;
            if (sync_control(&r)) goto done;
            st = r.stop_req || r.sig ? 1 : 0;
            if (r.sig) res->stop = WEFT_TRAIN_INTERRUPTED, res->signal = r.sig;
        }
        r.st.batch = 0;
        if (st > 0) {
            if (res->stop != WEFT_TRAIN_INTERRUPTED) res->stop = WEFT_TRAIN_STOPPED;
            r.st.epoch++;
            stopped = true;
            break;
        }
        if (o->patience > 0 && r.st.bad_epochs >= o->patience) {
            res->stop = WEFT_TRAIN_EARLY_STOPPED;
            r.st.epoch++;
            break;
        }
        if (budget_hit) {
            r.st.epoch++;
            break;
        }
    }
    if (stopped) {
        /* Ctrl-C, SIGTERM, stop_after or the caller: the state as it is, to
           resume exactly here, and a model file if there is none yet. Before
           the epoch's first batch the stream is as the epoch found it. */
        if (r.st.batch == 0) r.st.rng = r.st.epoch_rng;
        if (save_state(&r, &r.st)) goto done;
        if (o->save_path && t->save && !r.saved_model && access(o->save_path, F_OK) != 0 &&
            save_model(&r))
            goto done;
        goto finish;
    }
budget_spent:
    if (eval_mode && last_eval_step != r.st.optim.step) {
        double score;
        bool improved;
        if (validate(&r, &score, &improved)) goto done;
        if (improved && (keep_best(&r) || save_model(&r))) goto done;
        weft_train_event e = { .kind = WEFT_TRAIN_EVAL, .epoch = r.st.epoch,
                               .lr = r.st.lr, .loss = NAN, .grad_norm = last_norm,
                               .has_score = t->has_valid, .score = score, .best = improved };
        if (emit(&r, &e) < 0) goto done;
    }
    if (eval_mode && t->save && o->save_path && !r.saved_model && !t->has_valid &&
        save_model(&r))
        goto done;
    if (t->has_test && t->evaluate) {
        double score;
        if (score_test(&r, &score)) {
            char why[768];
            snprintf(why, sizeof why, "%s", err);
            weft_say(err, errsize, "scoring the test set: %s", why);
            goto done;
        }
        res->has_test = true;
        res->test = score;
        weft_train_event e = { .kind = WEFT_TRAIN_TEST, .epoch = r.st.epoch, .has_score = true,
                               .score = score, .lr = r.st.lr, .loss = NAN };
        if (emit(&r, &e) < 0) goto done;
    }
finish:
    rc = 0;
done:
    restore_signals(&handlers);
    res->threads_last = weft_num_threads();
    res->thread_switches = tuner.switches;
    weft_thread_tuner_end(&tuner);
    if (r.csv && fclose(r.csv) != 0 && rc == 0) {
        weft_say(err, errsize, "cannot write the log %s: %s", o->log_csv, strerror(errno));
        rc = -1;
    }
    if (r.json && fclose(r.json) != 0 && rc == 0) {
        weft_say(err, errsize, "cannot write the log %s: %s", o->log_json, strerror(errno));
        rc = -1;
    }
    weft_graph_free(r.g);
    free(r.best_values);
    free(r.bucket);
    free(r.bucket_of);
    free(r.left);
    res->steps = r.st.batches_done;
    res->optim_steps = r.st.optim.step;
    res->has_best = r.st.has_best;
    res->best = r.st.best;
    res->best_epoch = r.st.best_epoch;
    res->train_seconds = r.train_seconds;
    res->comm_seconds = r.comm_seconds;
    res->items = r.items;
    res->seconds = r.t_start > 0 ? now_seconds() - r.t_start : 0;
    res->state = r.st;
    res->epochs_done = r.st.epoch - 1;
    return rc;
}

int weft_train(const weft_trainable *t, const weft_train_opts *o, weft_train_result *res,
               char *err, size_t errsize)
{
    int rc = train(t, o, res, err, errsize);
    if (rc && weft_comm_size(o->comm) > 1) {
        /* the other ranks wait in a collective for this one: end the job */
        fprintf(stderr, "weft: rank %d of %d: %s\n", weft_comm_rank(o->comm),
                weft_comm_size(o->comm), err);
        weft_comm_abort(o->comm, 1);
    }
    return rc;
}
