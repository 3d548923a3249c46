/* models/classify/model.c — the labelling models of weft/classify.h: making
 * them, their vocabularies, pretrained vectors, checkpoints. The forward
 * passes are in models/classify/forward.c. */
#include "weft/classify.h"

#include "weft/io.h"
#include "weft/optim.h"
#include "weft/vectors.h"
#include "src/internal.h"
#include "models/lm/lm_common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const task_names[] = { "classify", "tag", "window" };
static const char *const pool_names[] = { "last", "mean", "max" };

const char *weft_classify_task_name(weft_classify_task t)
{
    return (unsigned)t < 3 ? task_names[t] : "?";
}

int weft_classify_task_parse(const char *name, weft_classify_task *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, task_names[i]) == 0) {
            *out = (weft_classify_task)i;
            return 0;
        }
    return -1;
}

const char *weft_pool_name(weft_pool p)
{
    return (unsigned)p < 3 ? pool_names[p] : "?";
}

int weft_pool_parse(const char *name, weft_pool *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, pool_names[i]) == 0) {
            *out = (weft_pool)i;
            return 0;
        }
    return -1;
}

weft_classify_config weft_classify_defaults(weft_classify_task task)
{
    weft_classify_config c = {
        .task = task, .cell = "lstm", .layers = 1, .hidden = 150, .embed = 100,
        .bidirectional = true, .pool = WEFT_POOL_MAX, .dropout = 0.5f,
        .char_encoder = false, .char_embed = 30, .char_hidden = 50,
        .window = 2, .window_hidden = 300,
        .format = task == WEFT_TASK_CLASSIFY ? WEFT_FORMAT_CLASSIFY : WEFT_FORMAT_CONLLU,
        .column = WEFT_CONLLU_UPOS,
    };
    return c;
}

static const char PAD[] = "<pad>";

/* The width of what the output layer reads. */
static int features(const weft_classify_model *m)
{
    if (m->cfg.task == WEFT_TASK_WINDOW) return m->cfg.window_hidden;
    return weft_rnn_output_size(m->rnn);
}

static int check_config(const weft_classify_config *c, char *err, size_t errsize)
{
    const char *task = weft_classify_task_name(c->task);
    if ((unsigned)c->task > 2) {
        weft_say(err, errsize, "classify: unknown task %d", (int)c->task);
        return -1;
    }
    if (c->embed < 1 || (c->task != WEFT_TASK_WINDOW && (c->layers < 1 || c->hidden < 1))) {
        weft_say(err, errsize, "%s: embed %d, layers %d and hidden %d must be >= 1", task,
                 c->embed, c->layers, c->hidden);
        return -1;
    }
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) {
        weft_say(err, errsize, "%s: dropout %g is not in [0, 1)", task, (double)c->dropout);
        return -1;
    }
    if ((unsigned)c->pool > 2) {
        weft_say(err, errsize, "%s: unknown pooling %d", task, (int)c->pool);
        return -1;
    }
    if (c->char_encoder && (c->task != WEFT_TASK_TAG || c->char_embed < 1 || c->char_hidden < 1)) {
        weft_say(err, errsize, "%s: the character encoder is for the tagger, with char_embed "
                 "and char_hidden >= 1 (got %d, %d)", task, c->char_embed, c->char_hidden);
        return -1;
    }
    if (c->task == WEFT_TASK_WINDOW && (c->window < 0 || c->window > 50 || c->window_hidden < 1)) {
        weft_say(err, errsize, "window: k = %d must be in [0, 50] and the hidden width %d >= 1",
                 c->window, c->window_hidden);
        return -1;
    }
    if (c->task == WEFT_TASK_CLASSIFY && c->format != WEFT_FORMAT_CLASSIFY) {
        weft_say(err, errsize, "classify: reads classification files ('LABEL word ...'), not %s",
                 weft_labeled_format_name(c->format));
        return -1;
    }
    if (c->task != WEFT_TASK_CLASSIFY && c->format == WEFT_FORMAT_CLASSIFY) {
        weft_say(err, errsize, "%s: reads tagged words (conllu or bio), not classification "
                 "files", task);
        return -1;
    }
    return 0;
}

weft_classify_model *weft_classify_new(const weft_classify_config *cfg, weft_vocab *words,
                                       weft_vocab *labels, weft_vocab *chars, char *err,
                                       size_t errsize)
{
    if (check_config(cfg, err, errsize)) return NULL;
    const char *task = weft_classify_task_name(cfg->task);
    if (!words || weft_vocab_unk(words) < 0 ||
        (cfg->task == WEFT_TASK_WINDOW && weft_vocab_find(words, PAD, strlen(PAD)) < 0)) {
        weft_say(err, errsize, "%s: the word vocabulary must hold %s%s", task, WEFT_UNK,
                 cfg->task == WEFT_TASK_WINDOW ? " and <pad>" : "");
        return NULL;
    }
    if (!labels || weft_vocab_size(labels) < 1) {
        weft_say(err, errsize, "%s: no labels", task);
        return NULL;
    }
    if (cfg->char_encoder != (chars != NULL) || (chars && weft_vocab_unk(chars) < 0)) {
        weft_say(err, errsize, "%s: a character vocabulary (with %s) goes with the character "
                 "encoder, and only with it", task, WEFT_UNK);
        return NULL;
    }
    void *plugin = NULL;
    const weft_cell_type *cell = NULL;
    if (cfg->task != WEFT_TASK_WINDOW) {
        cell = weft_cell_lookup(cfg->cell, &plugin, err, errsize);
        if (!cell) return NULL;
    }
    weft_classify_model *m = calloc(1, sizeof *m);
    if (!m || !(m->params = weft_params_new())) {
        free(m);
        weft_cell_plugin_close(plugin);
        weft_say(err, errsize, "%s: out of memory", task);
        return NULL;
    }
    m->cfg = *cfg;
    m->cfg.cell[WEFT_CLASSIFY_CELL_MAX - 1] = '\0';
    m->cell = cell;
    m->plugin = plugin;
    int V = weft_vocab_size(words), C = weft_vocab_size(labels), E = cfg->embed;
    m->n_labels = C;

    int input = E;
    m->embedding = weft_params_add(m->params, "embedding.weight", 2, (int[]){ V, E });
    if (!m->embedding) goto store;
    if (cfg->char_encoder) {
        int Vc = weft_vocab_size(chars);
        m->char_embedding = weft_params_add(m->params, "char_embedding.weight", 2,
                                            (int[]){ Vc, cfg->char_embed });
        if (!m->char_embedding) goto store;
        weft_rnn_config rc = { .cell = cell, .input_size = cfg->char_embed,
                               .hidden_size = cfg->char_hidden, .num_layers = 1,
                               .bidirectional = true, .prefix = "char_rnn." };
        if (!(m->char_rnn = weft_rnn_new(m->params, &rc, err, errsize))) goto fail;
        input += 2 * cfg->char_hidden;
    }
    if (cfg->task == WEFT_TASK_WINDOW) {
        int width = (2 * cfg->window + 1) * E;
        m->hidden_w = weft_params_add(m->params, "hidden.weight", 2,
                                      (int[]){ cfg->window_hidden, width });
        m->hidden_b = weft_params_add(m->params, "hidden.bias", 1, (int[]){ cfg->window_hidden });
        if (!m->hidden_w || !m->hidden_b) goto store;
    } else {
        weft_rnn_config rc = { .cell = cell, .input_size = input, .hidden_size = cfg->hidden,
                               .num_layers = cfg->layers, .bidirectional = cfg->bidirectional,
                               .dropout = cfg->dropout, .prefix = "rnn." };
        if (!(m->rnn = weft_rnn_new(m->params, &rc, err, errsize))) goto fail;
    }
    int F = features(m);
    m->out_w = weft_params_add(m->params, "output.weight", 2, (int[]){ C, F });
    m->out_b = weft_params_add(m->params, "output.bias", 1, (int[]){ C });
    if (!m->out_w || !m->out_b) goto store;
    m->words = words;
    m->labels = labels;
    m->chars = chars;
    return m;
store:
    weft_say(err, errsize, "%s: %s", task, weft_params_error(m->params));
fail:
    weft_classify_free(m);
    return NULL;
}

void weft_classify_free(weft_classify_model *m)
{
    if (!m) return;
    weft_rnn_free(m->rnn);
    weft_rnn_free(m->char_rnn);
    weft_params_free(m->params);
    weft_cell_plugin_close(m->plugin);   /* after the rnns: they borrowed the cell type */
    weft_vocab_free(m->words);
    weft_vocab_free(m->labels);
    weft_vocab_free(m->chars);
    free(m);
}

int weft_classify_init(weft_classify_model *m, weft_rng *rng)
{
    weft_init_uniform(m->embedding, rng, 0.1f);
    if (m->char_embedding) weft_init_uniform(m->char_embedding, rng, 0.1f);
    if (m->rnn && weft_rnn_reset_parameters(m->rnn, rng)) return -1;
    if (m->char_rnn && weft_rnn_reset_parameters(m->char_rnn, rng)) return -1;
    /* nn.Linear: uniform(±1/sqrt(fan_in)) for weight and bias */
    if (m->hidden_w) {
        float k = 1.0f / sqrtf((float)m->hidden_w->value.shape[1]);
        weft_init_uniform(m->hidden_w, rng, k);
        weft_init_uniform(m->hidden_b, rng, k);
    }
    float k = 1.0f / sqrtf((float)m->out_w->value.shape[1]);
    weft_init_uniform(m->out_w, rng, k);
    weft_init_uniform(m->out_b, rng, k);
    return 0;
}

int weft_classify_vocabs(const weft_classify_config *cfg, const weft_labeled_data *train,
                         int min_count, weft_vocab **words, weft_vocab **labels,
                         weft_vocab **chars, char *err, size_t errsize)
{
    const char *specials[] = { WEFT_UNK, PAD };
    *words = weft_labeled_word_vocab(train, cfg->norm, min_count, specials,
                                     cfg->task == WEFT_TASK_WINDOW ? 2 : 1, err, errsize);
    *labels = *words ? weft_labeled_label_vocab(train, err, errsize) : NULL;
    *chars = *labels && cfg->char_encoder ? weft_labeled_char_vocab(train, 1, err, errsize)
                                          : NULL;
    if (*words && *labels && (*chars || !cfg->char_encoder)) return 0;
    weft_vocab_free(*words);
    weft_vocab_free(*labels);
    weft_vocab_free(*chars);
    *words = *labels = *chars = NULL;
    return -1;
}

/* --- word2vec text vectors ------------------------------------------------------------------ */

int weft_classify_load_vectors(weft_classify_model *m, const char *path, int *found, char *err,
                               size_t errsize)
{
    *found = 0;
    /* the one reader of vector files (weft/vectors.h): header counts, row
     * lengths and finite values checked, text or binary */
    weft_vectors *v = weft_vectors_read(path, WEFT_VECTORS_AUTO, err, errsize);
    if (!v) return -1;
    int E = m->cfg.embed;
    if (v->dim != E) {
        weft_say(err, errsize, "%s: the vectors have %d dimensions, the model's embedding %d "
                 "(--embed %d)", path, v->dim, E, v->dim);
        weft_vectors_free(v);
        return -1;
    }
    /* each row of the file, its word normalised as the model's words are (a
     * later row of the same normalised word wins) */
    char buf[1024];
    for (int i = 0; i < v->count; i++) {
        const char *w = weft_word_normalize(weft_vocab_token(v->words, i), m->cfg.norm, buf,
                                            sizeof buf);
        int id = weft_vocab_find(m->words, w, strlen(w));
        if (id < 0) continue;
        memcpy(m->embedding->value.data + (size_t)id * E, v->data + (size_t)i * E,
               (size_t)E * sizeof(float));
        (*found)++;
    }
    weft_vectors_free(v);
    return 0;
}

/* --- checkpoints -------------------------------------------------------------------------------- */

static char *config_json(const weft_classify_model *m)
{
    const weft_classify_config *c = &m->cfg;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "task", weft_classify_task_name(c->task));
    cJSON_AddStringToObject(o, "cell", c->cell);
    cJSON_AddNumberToObject(o, "layers", c->layers);
    cJSON_AddNumberToObject(o, "hidden", c->hidden);
    cJSON_AddNumberToObject(o, "embed", c->embed);
    cJSON_AddBoolToObject(o, "bidirectional", c->bidirectional);
    cJSON_AddStringToObject(o, "pool", weft_pool_name(c->pool));
    cJSON_AddNumberToObject(o, "dropout", c->dropout);
    cJSON_AddBoolToObject(o, "char_encoder", c->char_encoder);
    cJSON_AddNumberToObject(o, "char_embed", c->char_embed);
    cJSON_AddNumberToObject(o, "char_hidden", c->char_hidden);
    cJSON_AddNumberToObject(o, "window", c->window);
    cJSON_AddNumberToObject(o, "window_hidden", c->window_hidden);
    cJSON_AddBoolToObject(o, "lowercase", c->norm.lowercase);
    cJSON_AddBoolToObject(o, "digits", c->norm.digits);
    cJSON_AddStringToObject(o, "format", weft_labeled_format_name(c->format));
    cJSON_AddNumberToObject(o, "column", c->column);
    cJSON_AddNumberToObject(o, "vocab_size", weft_vocab_size(m->words));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int model_meta(const weft_classify_model *m, char *json[4], weft_meta_kv meta[5]);

int weft_classify_save(const weft_classify_model *m, const char *path, char *err,
                       size_t errsize)
{
    char *json[4] = { 0 };
    weft_meta_kv meta[5];
    int n = model_meta(m, json, meta), rc = -1;
    if (!n) weft_say(err, errsize, "%s: out of memory", path);
    else rc = weft_checkpoint_save(path, m->params, meta, n, err, errsize);
    for (int i = 0; i < 4; i++) free(json[i]);
    return rc;
}

/* A string-valued key of o that must be one of a set: its index, or -1 with a message. */
static int meta_choice(const cJSON *o, const char *key, int (*parse)(const char *, void *),
                       void *out, const char *path, char *err, size_t errsize)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || parse(v->valuestring, out)) {
        weft_say(err, errsize, "%s: weft.config: \"%s\" is missing or not one weft knows", path,
                 key);
        return -1;
    }
    return 0;
}

static int parse_task(const char *s, void *out)
{
    return weft_classify_task_parse(s, out);
}
static int parse_pool(const char *s, void *out)
{
    return weft_pool_parse(s, out);
}
static int parse_format(const char *s, void *out)
{
    return weft_labeled_format_parse(s, out);
}

/* The tensors the configuration implies (with `prefix` before every name),
 * against the ones the file holds, before anything of their size is
 * allocated: "hidden": 100000 or "layers": 1000000 in a small file fail here,
 * at once, naming the file and the tensor. The loader checks every tensor
 * again as it reads it. */
static int check_tensors(const weft_classify_config *cfg, const weft_cell_type *cell, int V,
                         int C, int Vc, const weft_checkpoint *c, const char *path,
                         const char *prefix, char *err, size_t errsize)
{
    enum { MAX_WIDTH = 1 << 24 };
    char name[WEFT_PARAM_NAME_MAX + 32];
    snprintf(name, sizeof name, "%sembedding.weight", prefix);
    if (weft_lm_meta_tensor(c, path, name, 2, (int[]){ V, cfg->embed }, true, err, errsize))
        return -1;
    long long input = cfg->embed, features;
    if (cfg->char_encoder) {
        snprintf(name, sizeof name, "%schar_embedding.weight", prefix);
        if (weft_lm_meta_tensor(c, path, name, 2, (int[]){ Vc, cfg->char_embed }, true, err,
                                errsize))
            return -1;
        snprintf(name, sizeof name, "%schar_rnn.", prefix);
        weft_rnn_config rc = { .cell = cell, .input_size = cfg->char_embed,
                               .hidden_size = cfg->char_hidden, .num_layers = 1,
                               .bidirectional = true, .prefix = name };
        if (weft_rnn_check_checkpoint(&rc, c, path, err, errsize)) return -1;
        input += 2LL * cfg->char_hidden;
    }
    if (cfg->task == WEFT_TASK_WINDOW) {
        long long width = (2LL * cfg->window + 1) * cfg->embed;
        if (width > MAX_WIDTH || cfg->window_hidden > MAX_WIDTH) {
            weft_say(err, errsize, "%s: weft.config: a window of %lld inputs and %d hidden "
                     "units is wider than %d", path, width, cfg->window_hidden, MAX_WIDTH);
            return -1;
        }
        snprintf(name, sizeof name, "%shidden.weight", prefix);
        if (weft_lm_meta_tensor(c, path, name, 2, (int[]){ cfg->window_hidden, (int)width },
                                true, err, errsize))
            return -1;
        snprintf(name, sizeof name, "%shidden.bias", prefix);
        if (weft_lm_meta_tensor(c, path, name, 1, (int[]){ cfg->window_hidden }, true, err,
                                errsize))
            return -1;
        features = cfg->window_hidden;
    } else {
        if (input > MAX_WIDTH) {
            weft_say(err, errsize, "%s: weft.config: the recurrent layer's input of %lld is "
                     "wider than %d", path, input, MAX_WIDTH);
            return -1;
        }
        snprintf(name, sizeof name, "%srnn.", prefix);
        weft_rnn_config rc = { .cell = cell, .input_size = (int)input,
                               .hidden_size = cfg->hidden, .num_layers = cfg->layers,
                               .bidirectional = cfg->bidirectional, .prefix = name };
        if (weft_rnn_check_checkpoint(&rc, c, path, err, errsize)) return -1;
        features = (cfg->bidirectional ? 2LL : 1LL) * cfg->hidden;
    }
    snprintf(name, sizeof name, "%soutput.weight", prefix);
    if (weft_lm_meta_tensor(c, path, name, 2, (int[]){ C, (int)features }, true, err, errsize))
        return -1;
    snprintf(name, sizeof name, "%soutput.bias", prefix);
    return weft_lm_meta_tensor(c, path, name, 1, (int[]){ C }, true, err, errsize) ? -1 : 0;
}

/* The model a checkpoint's metadata describes, parameters still zero; prefix:
 * "" in a model file, "model." in a training state (weft_train_save_params_state). */
static weft_classify_model *model_from_header(const char *path, const weft_checkpoint *c,
                                              const char *prefix, char *err, size_t errsize)
{
    const char *conf = weft_checkpoint_meta(c, "weft.config");
    const char *labels_json = weft_checkpoint_meta(c, "weft.labels");
    const char *chars_json = weft_checkpoint_meta(c, "weft.chars");
    cJSON *probe = conf ? cJSON_Parse(conf) : NULL;
    weft_classify_config cfg = { 0 };
    weft_classify_model *m = NULL;
    weft_vocab *words = NULL, *labels = NULL, *chars = NULL;
    void *plugin = NULL;
    cJSON *o = NULL;
    if (!probe || meta_choice(probe, "task", parse_task, &cfg.task, path, err, errsize)) {
        if (!probe) weft_say(err, errsize, "%s: not a weft classifier, tagger or window model: "
                             "no weft.config JSON object in the metadata", path);
        goto done;
    }
    const char *voc;
    o = weft_lm_meta_open(c, path, weft_classify_task_name(cfg.task), "", "", &voc, err,
                          errsize);
    if (!o) goto done;
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(o, "cell");
    if (!cJSON_IsString(cell) || strlen(cell->valuestring) >= WEFT_CLASSIFY_CELL_MAX) {
        weft_say(err, errsize, "%s: weft.config: cell must be a cell's name", path);
        goto done;
    }
    snprintf(cfg.cell, sizeof cfg.cell, "%s", cell->valuestring);
    if (weft_lm_meta_int(o, "layers", &cfg.layers, path, err, errsize) ||
        weft_lm_meta_int(o, "hidden", &cfg.hidden, path, err, errsize) ||
        weft_lm_meta_int(o, "embed", &cfg.embed, path, err, errsize) ||
        weft_lm_meta_bool(o, "bidirectional", &cfg.bidirectional, path, err, errsize) ||
        meta_choice(o, "pool", parse_pool, &cfg.pool, path, err, errsize) ||
        weft_lm_meta_float(o, "dropout", &cfg.dropout, path, err, errsize) ||
        weft_lm_meta_bool(o, "char_encoder", &cfg.char_encoder, path, err, errsize) ||
        weft_lm_meta_int(o, "char_embed", &cfg.char_embed, path, err, errsize) ||
        weft_lm_meta_int(o, "char_hidden", &cfg.char_hidden, path, err, errsize) ||
        weft_lm_meta_int(o, "window_hidden", &cfg.window_hidden, path, err, errsize) ||
        weft_lm_meta_bool(o, "lowercase", &cfg.norm.lowercase, path, err, errsize) ||
        weft_lm_meta_bool(o, "digits", &cfg.norm.digits, path, err, errsize) ||
        meta_choice(o, "format", parse_format, &cfg.format, path, err, errsize) ||
        weft_lm_meta_int(o, "column", &cfg.column, path, err, errsize))
        goto done;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "window");   /* may be 0 */
    if (!cJSON_IsNumber(k) || k->valuedouble < 0 || k->valuedouble > 50) {
        weft_say(err, errsize, "%s: weft.config: window must be a number in [0, 50]", path);
        goto done;
    }
    cfg.window = (int)k->valuedouble;
    if (check_config(&cfg, err, errsize)) {
        weft_lm_meta_prefix(path, err, errsize);
        goto done;
    }
    if (!labels_json || (cfg.char_encoder && !chars_json)) {
        weft_say(err, errsize, "%s: the metadata has no \"%s\"", path,
                 !labels_json ? "weft.labels" : "weft.chars");
        goto done;
    }
    if (!(words = weft_lm_meta_vocab(o, voc, path, err, errsize)) ||
        !(labels = weft_vocab_from_json(labels_json, -1, path, err, errsize)) ||
        (cfg.char_encoder && !(chars = weft_vocab_from_json(chars_json, -1, path, err, errsize))))
        goto done;
    /* the cell (a plugin only when the user allowed it: weft_cell_plugin_allow;
     * weft_classify_new's own lookup is for names a user gives), then the
     * sizes against the file's tensors */
    const weft_cell_type *type = NULL;
    if (cfg.task != WEFT_TASK_WINDOW || cfg.char_encoder ||
        weft_cell_name_is_plugin(cfg.cell)) {
        type = weft_cell_lookup_from_file(cfg.cell, path, &plugin, err, errsize);
        if (!type) goto done;
    }
    if (check_tensors(&cfg, type, weft_vocab_size(words), weft_vocab_size(labels),
                      chars ? weft_vocab_size(chars) : 0, c, path, prefix, err, errsize))
        goto done;
    m = weft_classify_new(&cfg, words, labels, chars, err, errsize);
    if (!m) {
        weft_lm_meta_prefix(path, err, errsize);
        goto done;
    }
    words = labels = chars = NULL;   /* the model's now */
done:
    weft_cell_plugin_close(plugin);
    weft_vocab_free(words);
    weft_vocab_free(labels);
    weft_vocab_free(chars);
    cJSON_Delete(probe);
    cJSON_Delete(o);
    return m;
}

weft_classify_model *weft_classify_load(const char *path, char *err, size_t errsize)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, errsize)) return NULL;
    weft_classify_model *m = model_from_header(path, &c, "", err, errsize);
    weft_checkpoint_free(&c);
    if (m && weft_checkpoint_load(path, m->params, 0, err, errsize)) {
        weft_classify_free(m);
        m = NULL;
    }
    return m;
}

/* The metadata of a model file and a training state: the config and the
 * vocabularies (JSON strings in json[0..4), the caller frees them); *n of meta
 * in use, 0 when out of memory. */
static int model_meta(const weft_classify_model *m, char *json[4], weft_meta_kv meta[5])
{
    json[0] = config_json(m);
    json[1] = weft_vocab_to_json(m->words);
    json[2] = weft_vocab_to_json(m->labels);
    json[3] = m->chars ? weft_vocab_to_json(m->chars) : NULL;
    if (!json[0] || !json[1] || !json[2] || (m->chars && !json[3])) return 0;
    meta[0] = (weft_meta_kv){ "format", "pt" };
    meta[1] = (weft_meta_kv){ "weft.config", json[0] };
    meta[2] = (weft_meta_kv){ "weft.vocab", json[1] };
    meta[3] = (weft_meta_kv){ "weft.labels", json[2] };
    meta[4] = (weft_meta_kv){ "weft.chars", json[3] };
    return m->chars ? 5 : 4;
}

int weft_classify_save_state(const weft_classify_run *r, const char *path,
                             const weft_train_opts *o, const weft_train_state *st, char *err,
                             size_t errsize)
{
    const weft_classify_model *m = r->model;
    char *json[4] = { 0 };
    weft_meta_kv meta[6];
    int n = model_meta(m, json, meta), rc = -1;
    char data[160];
    snprintf(data, sizeof data, "{\"train_sentences\":%d,\"train_words\":%d,\"batch\":%d,"
             "\"pool\":%d}", r->train->data->n_sents, r->train->data->n_words, r->batch,
             r->pool);
    if (!n) {
        weft_say(err, errsize, "%s: out of memory", path);
    } else {
        meta[n++] = (weft_meta_kv){ "weft.data", data };
        rc = weft_train_save_params_state(path, m->params, o, st, meta, n, err, errsize);
    }
    for (int i = 0; i < 4; i++) free(json[i]);
    return rc;
}

/* A whole number of d in [lo, hi] into *out; false when it is not one. */
static bool data_int(const cJSON *d, const char *key, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != floor(v->valuedouble))
        return false;
    *out = (int)v->valuedouble;
    return true;
}

weft_classify_model *weft_classify_load_state(const char *path, weft_train_opts *o,
                                              weft_train_state *st, weft_classify_resume *run,
                                              char *err, size_t errsize)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, errsize)) return NULL;
    weft_classify_model *m = model_from_header(path, &c, "model.", err, errsize);
    const char *data = weft_checkpoint_meta(&c, "weft.data");
    cJSON *d = data ? cJSON_Parse(data) : NULL;
    if (m && !(data_int(d, "train_sentences", 1, INT_MAX, &run->train_sentences) &&
               data_int(d, "train_words", 1, INT_MAX, &run->train_words) &&
               data_int(d, "batch", 1, 1 << 20, &run->batch) &&
               data_int(d, "pool", 1, 1 << 20, &run->pool))) {
        weft_say(err, errsize, "%s: not a training state file: \"weft.data\" needs whole "
                 "numbers \"train_sentences\", \"train_words\" (>= 1), \"batch\" and \"pool\" "
                 "(1 .. 2^20)", path);
        weft_classify_free(m);
        m = NULL;
    }
    cJSON_Delete(d);
    weft_checkpoint_free(&c);
    if (m && weft_train_load_params_state(path, m->params, o, st, err, errsize)) {
        weft_classify_free(m);
        m = NULL;
    }
    return m;
}

bool weft_classify_file_is(const char *path)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, NULL, 0)) return false;
    const char *conf = weft_checkpoint_meta(&c, "weft.config");
    cJSON *o = conf ? cJSON_Parse(conf) : NULL;
    const char *task = o ? weft_lm_meta_task(o) : NULL;
    weft_classify_task t;
    bool is = task && weft_classify_task_parse(task, &t) == 0;
    cJSON_Delete(o);
    weft_checkpoint_free(&c);
    return is;
}
