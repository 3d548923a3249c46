/* models/lm/lm_common.c — what the two language models share
 * (models/lm/lm_common.h). */
#include "models/lm/lm_common.h"

#include "src/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int weft_lm_step_rows(weft_graph *g, weft_var *loss, weft_params *params, weft_optim *opt,
                      float clip, const weft_grad_rows *rows, weft_lm_step_info *info,
                      char *err, size_t errsize)
{
    float L = weft_scalar(loss);
    if (!isfinite(L)) {
        weft_say(err, errsize, "the loss is %s (try a lower learning rate or a gradient clip)",
                 isnan(L) ? "NaN" : "infinite");
        return -1;
    }
    if (weft_backward(g, loss)) {
        weft_say(err, errsize, "%s", weft_graph_error(g));
        return -1;
    }
    /* two passes over the store: the norm, then the update with the clip's
       factor applied on the fly (weft/optim.h) */
    float norm = weft_grad_norm_rows(params, rows);
    if (!isfinite(norm)) {
        weft_say(err, errsize, "the gradient norm is %s (try a lower learning rate or a gradient "
                 "clip)", isnan(norm) ? "NaN" : "infinite");
        return -1;
    }
    if (weft_clip_step(opt, params, norm, clip, rows)) {
        weft_say(err, errsize, "optimizer: %s", weft_params_error(params));
        return -1;
    }
    *info = (weft_lm_step_info){ L, norm };
    return 0;
}

int *weft_lm_window_rows(const int *inputs, int n, int V, int *count)
{
    unsigned char *seen = calloc((size_t)V, 1);
    int *rows = malloc((size_t)(n < V ? n : V) * sizeof *rows);
    if (!seen || !rows) {
        free(seen);
        free(rows);
        return NULL;
    }
    for (int i = 0; i < n; i++) seen[inputs[i]] = 1;
    int k = 0;
    for (int v = 0; v < V; v++)
        if (seen[v]) rows[k++] = v;
    free(seen);
    *count = k;
    return rows;
}

int weft_lm_step(weft_graph *g, weft_var *loss, weft_params *params, weft_optim *opt,
                 float clip, weft_lm_step_info *info, char *err, size_t errsize)
{
    return weft_lm_step_rows(g, loss, params, opt, clip, NULL, info, err, errsize);
}

/* --- the "weft.config" metadata ---------------------------------------------------- */

const char *weft_lm_meta_task(const cJSON *o)
{
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(o, "task");
    return cJSON_IsString(task) ? task->valuestring : NULL;
}

cJSON *weft_lm_meta_open(const weft_checkpoint *c, const char *path, const char *task,
                         const char *missing_hint, const char *task_hint, const char **vocab,
                         char *err, size_t errsize)
{
    const char *conf = weft_checkpoint_meta(c, "weft.config");
    *vocab = weft_checkpoint_meta(c, "weft.vocab");
    if (!conf || !*vocab) {
        weft_say(err, errsize, "%s: not a weft language model: the metadata has no \"%s\"%s", path,
                 !conf ? "weft.config" : "weft.vocab", missing_hint);
        return NULL;
    }
    cJSON *o = cJSON_Parse(conf);
    if (!cJSON_IsObject(o)) {
        weft_say(err, errsize, "%s: weft.config is not a JSON object", path);
        cJSON_Delete(o);
        return NULL;
    }
    const char *named = weft_lm_meta_task(o);
    if (!named || strcmp(named, task) != 0) {
        weft_say(err, errsize, "%s: weft.config: task is %s%s%s, expected \"%s\"%s", path,
                 named ? "\"" : "", named ? named : "missing", named ? "\"" : "", task, task_hint);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int weft_lm_meta_int(const cJSON *o, const char *key, int *out, const char *path, char *err,
                     size_t errsize)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 ||
        v->valuedouble != (double)(int)v->valuedouble) {
        weft_say(err, errsize, "%s: weft.config: \"%s\" is %s, expected a whole number >= 1",
                 path, key, v ? "not a whole number >= 1" : "missing");
        return -1;
    }
    *out = v->valueint;
    return 0;
}

int weft_lm_meta_level(const cJSON *o, weft_text_level *out, const char *path, char *err,
                       size_t errsize)
{
    const cJSON *level = cJSON_GetObjectItemCaseSensitive(o, "level");
    if (!cJSON_IsString(level) || weft_text_level_parse(level->valuestring, out)) {
        weft_say(err, errsize, "%s: weft.config: level must be \"word\" or \"char\"", path);
        return -1;
    }
    return 0;
}

int weft_lm_meta_bool(const cJSON *o, const char *key, bool *out, const char *path, char *err,
                      size_t errsize)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v && !cJSON_IsBool(v)) {
        weft_say(err, errsize, "%s: weft.config: %s must be true or false", path, key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

int weft_lm_meta_float(const cJSON *o, const char *key, float *out, const char *path, char *err,
                       size_t errsize)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v && !cJSON_IsNumber(v)) {
        weft_say(err, errsize, "%s: weft.config: %s must be a number", path, key);
        return -1;
    }
    *out = v ? (float)v->valuedouble : 0.0f;
    return 0;
}

weft_vocab *weft_lm_meta_vocab(const cJSON *o, const char *vocab, const char *path, char *err,
                               size_t errsize)
{
    int vocab_size = -1;
    if (cJSON_GetObjectItemCaseSensitive(o, "vocab_size") &&
        weft_lm_meta_int(o, "vocab_size", &vocab_size, path, err, errsize))
        return NULL;
    return weft_vocab_from_json(vocab, vocab_size, path, err, errsize);
}

int weft_lm_meta_tensor(const weft_checkpoint *c, const char *path, const char *name, int rank,
                        const int *shape, bool required, char *err, size_t errsize)
{
    const weft_checkpoint_tensor *t = weft_checkpoint_find(c, name);
    if (!t && !required) return 1;
    bool ok = t && strcmp(t->dtype, "F32") == 0 && t->rank == rank;
    for (int d = 0; ok && d < rank; d++) ok = t->shape[d] == shape[d];
    if (ok) return 0;
    char want[96], got[96];
    int at = snprintf(want, sizeof want, "[");
    for (int d = 0; d < rank && at > 0 && at < (int)sizeof want; d++)
        at += snprintf(want + at, sizeof want - (size_t)at, "%s%d", d ? ", " : "", shape[d]);
    if (at > 0 && at < (int)sizeof want) snprintf(want + at, sizeof want - (size_t)at, "]");
    if (!t) {
        snprintf(got, sizeof got, "lacks it (%d tensors in it)", c->n_tensors);
    } else {
        at = snprintf(got, sizeof got, "holds %s [", t->dtype);
        for (int d = 0; d < t->rank && at > 0 && at < (int)sizeof got; d++)
            at += snprintf(got + at, sizeof got - (size_t)at, "%s%lld", d ? ", " : "",
                           (long long)t->shape[d]);
        if (at > 0 && at < (int)sizeof got) snprintf(got + at, sizeof got - (size_t)at, "]");
    }
    weft_say(err, errsize, "%s: weft.config implies tensor '%s' F32 %s, but the file %s", path,
             name, want, got);
    return -1;
}

void weft_lm_meta_prefix(const char *path, char *err, size_t errsize)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", err ? err : "");
    weft_say(err, errsize, "%s: weft.config: %s", path, tmp);
}

double weft_lm_row_logprob(const float *row, int V, int target)
{
    float mx = row[0];
    for (int j = 1; j < V; j++)
        if (row[j] > mx) mx = row[j];
    double sum = 0.0;
    for (int j = 0; j < V; j++) sum += exp((double)row[j] - (double)mx);
    return (double)row[target] - (double)mx - log(sum);
}
