/* models/lm/window_lm.c — fixed-window neural language models
 * (weft/window_lm.h): Bengio et al. (2003)'s concatenated embeddings of the
 * n-1 previous tokens, a tanh hidden layer, optional direct connections,
 * softmax; and Mnih & Hinton (2007)'s log-bilinear model. Training on
 * batches of contexts, evaluation over a stream, sampling, checkpoints. */
#include "weft/window_lm.h"

#include "weft/dropout.h"
#include "weft/io.h"
#include "weft/ops.h"
#include "src/internal.h"
#include "models/lm/lm_common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- the model ------------------------------------------------------------------------------ */

const char *weft_window_lm_arch_name(weft_window_lm_arch a)
{
    return a == WEFT_WINDOW_LBL ? "lbl" : "nnlm";
}

int weft_window_lm_arch_find(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "nnlm") == 0) return WEFT_WINDOW_NNLM;
    if (strcmp(name, "lbl") == 0) return WEFT_WINDOW_LBL;
    return -1;
}

weft_window_lm *weft_window_lm_new(const weft_window_lm_config *cfg, weft_vocab *vocab,
                                   char *err, size_t errsize)
{
    int V = vocab ? weft_vocab_size(vocab) : 0;
    if (V < 1) {
        weft_say(err, errsize, "window language model: the vocabulary is empty");
        return NULL;
    }
    if (cfg->order < 2 || cfg->order > WEFT_WINDOW_LM_MAX_ORDER) {
        weft_say(err, errsize, "window language model: order %d must be in [2, %d] (the context is "
            "order - 1 tokens)", cfg->order, WEFT_WINDOW_LM_MAX_ORDER);
        return NULL;
    }
    if (cfg->arch != WEFT_WINDOW_NNLM && cfg->arch != WEFT_WINDOW_LBL) {
        weft_say(err, errsize, "window language model: arch %d is neither nnlm nor lbl",
            (int)cfg->arch);
        return NULL;
    }
    bool lbl = cfg->arch == WEFT_WINDOW_LBL;
    if (lbl && (cfg->direct || (cfg->hidden != 0 && cfg->hidden != cfg->embed))) {
        weft_say(err, errsize, "window language model: the log-bilinear model has no direct "
            "connections and no hidden layer of its own (hidden %d must be 0 or embed %d)",
            cfg->hidden, cfg->embed);
        return NULL;
    }
    if (cfg->embed < 1 || (!lbl && cfg->hidden < 1)) {
        weft_say(err, errsize, "window language model: embed %d and hidden %d must be >= 1",
            cfg->embed, cfg->hidden);
        return NULL;
    }
    if ((size_t)(cfg->order - 1) * (size_t)cfg->embed > (1u << 24)) {
        weft_say(err, errsize, "window language model: (order - 1) x embed = %d x %d is too wide",
            cfg->order - 1, cfg->embed);
        return NULL;
    }
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f)) {
        weft_say(err, errsize, "window language model: dropout %g must be in [0, 1)",
            (double)cfg->dropout);
        return NULL;
    }
    if (cfg->level != WEFT_TEXT_WORDS && cfg->level != WEFT_TEXT_CHARS) {
        weft_say(err, errsize, "window language model: level %d is neither words nor characters",
            (int)cfg->level);
        return NULL;
    }
    weft_window_lm *m = calloc(1, sizeof *m);
    if (!m || !(m->params = weft_params_new())) {
        free(m);
        weft_say(err, errsize, "window language model: out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    if (lbl) m->cfg.hidden = cfg->embed;
    m->vocab_size = V;
    int X = (cfg->order - 1) * cfg->embed, Hd = cfg->hidden;
    weft_params *s = m->params;
    bool ok = (m->embedding = weft_params_add(s, "embedding.weight", 2,
                                              (int[]){ V, cfg->embed })) != NULL;
    if (ok && lbl) {
        ok = (m->context_weight = weft_params_add(s, "context.weight", 2,
                                                  (int[]){ cfg->embed, X })) &&
             (m->output_bias = weft_params_add(s, "output.bias", 1, (int[]){ V }));
    } else if (ok) {
        ok = (m->hidden_weight = weft_params_add(s, "hidden.weight", 2, (int[]){ Hd, X })) &&
             (m->hidden_bias = weft_params_add(s, "hidden.bias", 1, (int[]){ Hd })) &&
             (m->output_weight = weft_params_add(s, "output.weight", 2, (int[]){ V, Hd })) &&
             (m->output_bias = weft_params_add(s, "output.bias", 1, (int[]){ V })) &&
             (!cfg->direct ||
              (m->direct_weight = weft_params_add(s, "direct.weight", 2, (int[]){ V, X })));
    }
    if (!ok) {
        weft_say(err, errsize, "window language model: %s", weft_params_error(s));
        weft_params_free(s);
        free(m);
        return NULL;
    }
    /* the start of a text follows a line end */
    int pad = cfg->level == WEFT_TEXT_WORDS ? weft_vocab_find(vocab, WEFT_EOS, strlen(WEFT_EOS))
                                            : weft_vocab_find(vocab, "\n", 1);
    m->pad = pad >= 0 ? pad : 0;
    m->vocab = vocab;
    return m;
}

void weft_window_lm_free(weft_window_lm *m)
{
    if (!m) return;
    weft_params_free(m->params);
    weft_vocab_free(m->vocab);
    free(m);
}

void weft_window_lm_init(weft_window_lm *m, weft_rng *rng)
{
    int X = (m->cfg.order - 1) * m->cfg.embed;
    weft_init_uniform(m->embedding, rng, 0.1f);
    if (m->context_weight) {   /* lbl */
        weft_init_uniform(m->context_weight, rng, 1.0f / sqrtf((float)X));
        weft_init_constant(m->output_bias, 0.0f);
        return;
    }
    weft_init_uniform(m->hidden_weight, rng, 1.0f / sqrtf((float)X));
    weft_init_constant(m->hidden_bias, 0.0f);
    weft_init_uniform(m->output_weight, rng, 1.0f / sqrtf((float)m->cfg.hidden));
    weft_init_constant(m->output_bias, 0.0f);
    if (m->direct_weight) weft_init_uniform(m->direct_weight, rng, 1.0f / sqrtf((float)X));
}

void weft_window_lm_contexts(const weft_window_lm *m, const int *ids, const size_t *pos,
                             int count, int *ctx)
{
    int c = m->cfg.order - 1;
    for (int k = 0; k < count; k++) {
        size_t t = pos[k];
        int *row = ctx + (size_t)k * c;
        /* row[j] is the token j - c places before t: row[c-1] is ids[t-1] */
        for (int j = 0; j < c; j++) {
            size_t back = (size_t)(c - j);
            row[j] = t >= back ? ids[t - back] : m->pad;
        }
    }
}

weft_var *weft_window_lm_forward(weft_window_lm *m, weft_graph *g, const int *ctx,
                                 const int *targets, int B, weft_rng *dropout_rng)
{
    int c = m->cfg.order - 1, E = m->cfg.embed, X = c * E, V = m->vocab_size;
    if (B < 1) return weft_graph_fail(g, "window-lm: a batch of %d contexts", B);
    for (int i = 0; i < B * c; i++)
        if (ctx[i] < 0 || ctx[i] >= V)
            return weft_graph_fail(g, "window-lm: context %d, place %d is id %d, not in the "
                                   "vocabulary [0, %d)", i / c, i % c, ctx[i], V);
    bool drop = dropout_rng && m->cfg.dropout > 0.0f;
    float p = m->cfg.dropout;

    /* x: the n-1 embeddings of each context side by side. The gather gives
     * rows in context order, [B·(n-1), m]; read as [B, (n-1)·m] each row is
     * the concatenation (C(w_{t-n+1}), ..., C(w_{t-1})). */
    weft_var *x = weft_embedding(g, weft_param_var(g, m->embedding), ctx, B * c);
    x = weft_reshape(g, x, 2, (int[]){ B, X });
    if (drop) x = weft_dropout(g, x, weft_dropout_mask(g, dropout_rng, p, 2, (int[]){ B, X }));
    if (m->cfg.arch == WEFT_WINDOW_LBL) {
        /* r̂ = Σ_i C_i R(w_{t-i}): the C_i side by side times the concatenation,
         * [B, m]. Each word's score is its own vector's dot product with r̂,
         * plus its bias: y = r̂ Rᵀ + b [B, V], with R the same table the
         * context was read from (Mnih & Hinton 2007). */
        weft_var *R = weft_param_var(g, m->embedding);
        weft_var *r = weft_linear(g, x, weft_param_var(g, m->context_weight), NULL);
        if (drop) r = weft_dropout(g, r, weft_dropout_mask(g, dropout_rng, p, 2, (int[]){ B, E }));
        weft_var *y = weft_linear(g, r, R, weft_param_var(g, m->output_bias));
        if (!y) return NULL;
        if (!targets) return y;
        return weft_cross_entropy(g, y, targets, NULL);
    }
    /* a = tanh(d + H x)  [B, h] */
    weft_var *a = weft_tanh(g, weft_linear(g, x, weft_param_var(g, m->hidden_weight),
                                           weft_param_var(g, m->hidden_bias)));
    if (drop)
        a = weft_dropout(g, a, weft_dropout_mask(g, dropout_rng, p, 2,
                                                 (int[]){ B, m->cfg.hidden }));
    /* y = b + W x + U a  [B, V]  (equation 1) */
    weft_var *y = weft_linear(g, a, weft_param_var(g, m->output_weight),
                              weft_param_var(g, m->output_bias));
    if (m->direct_weight)
        y = weft_add(g, y, weft_linear(g, x, weft_param_var(g, m->direct_weight), NULL));
    if (!y) return NULL;
    if (!targets) return y;
    return weft_cross_entropy(g, y, targets, NULL);
}

int weft_window_lm_train_batch(weft_window_lm *m, weft_graph *g, const int *ctx,
                               const int *targets, int B, weft_optim *opt, float clip,
                               weft_rng *dropout_rng, weft_lm_step_info *info, char *err,
                               size_t errsize)
{
    weft_graph_reset(g);
    weft_params_zero_grad(m->params);
    weft_var *loss = weft_window_lm_forward(m, g, ctx, targets, B, dropout_rng);
    if (!loss || weft_graph_failed(g)) {
        weft_say(err, errsize, "%s",
                 weft_graph_error(g) ? weft_graph_error(g) : "window-lm: forward failed");
        return -1;
    }
    weft_lm_step_info step;
    if (weft_lm_step(g, loss, m->params, opt, clip, &step, err, errsize)) return -1;
    if (info) *info = step;
    return 0;
}

int weft_window_lm_eval(weft_window_lm *m, weft_graph *g, const int *ids, size_t n, int batch,
                        double *nll, size_t *count, char *err, size_t errsize)
{
    *nll = 0.0;
    *count = 0;
    if (n < 2) {
        weft_say(err, errsize, "eval: %zu tokens; at least 2 are needed (the first is only "
            "context)", n);
        return -1;
    }
    if (batch < 1) {
        weft_say(err, errsize, "eval: batch %d must be at least 1", batch);
        return -1;
    }
    int c = m->cfg.order - 1;
    size_t *pos = malloc((size_t)batch * sizeof *pos);
    int *ctx = malloc((size_t)batch * (size_t)c * sizeof *ctx);
    if (!pos || !ctx) {
        free(pos);
        free(ctx);
        weft_say(err, errsize, "eval: out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t t0 = 1; t0 < n; t0 += (size_t)batch) {
        int B = (int)(n - t0 < (size_t)batch ? n - t0 : (size_t)batch);
        for (int k = 0; k < B; k++) pos[k] = t0 + (size_t)k;
        weft_window_lm_contexts(m, ids, pos, B, ctx);
        weft_graph_reset(g);
        weft_var *loss = weft_window_lm_forward(m, g, ctx, ids + t0, B, NULL);
        if (!loss || weft_graph_failed(g)) {
            weft_say(err, errsize, "%s", weft_graph_error(g) ? weft_graph_error(g) : "eval failed");
            rc = -1;
            break;
        }
        float L = weft_scalar(loss);
        if (!isfinite(L)) {
            weft_say(err, errsize, "the loss is %s at tokens %zu..%zu (are the model's weights "
                "finite?)", isnan(L) ? "NaN" : "infinite", t0, t0 + (size_t)B - 1);
            rc = -1;
            break;
        }
        *nll += (double)L * B;
        *count += (size_t)B;
    }
    free(pos);
    free(ctx);
    return rc;
}

int weft_window_lm_logprobs(weft_window_lm *m, weft_graph *g, const int *ids, size_t n,
                            int batch, double *lp, char *err, size_t errsize)
{
    if (n < 2 || batch < 1) {
        weft_say(err, errsize, "logprobs: %zu tokens (at least 2) in batches of %d (at least 1)",
                 n, batch);
        return -1;
    }
    int c = m->cfg.order - 1, V = m->vocab_size;
    size_t *pos = malloc((size_t)batch * sizeof *pos);
    int *ctx = malloc((size_t)batch * (size_t)c * sizeof *ctx);
    if (!pos || !ctx) {
        free(pos);
        free(ctx);
        weft_say(err, errsize, "logprobs: out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t t0 = 1; t0 < n && rc == 0; t0 += (size_t)batch) {
        int B = (int)(n - t0 < (size_t)batch ? n - t0 : (size_t)batch);
        for (int k = 0; k < B; k++) pos[k] = t0 + (size_t)k;
        weft_window_lm_contexts(m, ids, pos, B, ctx);
        weft_graph_reset(g);
        weft_var *y = weft_window_lm_forward(m, g, ctx, NULL, B, NULL);
        if (!y || weft_graph_failed(g)) {
            weft_say(err, errsize, "%s", weft_graph_error(g) ? weft_graph_error(g) : "logprobs failed");
            rc = -1;
            break;
        }
        for (int k = 0; k < B; k++) {
            int target = ids[t0 + (size_t)k];
            if (target < 0 || target >= V) {
                weft_say(err, errsize, "logprobs: token %zu is id %d, not in the vocabulary "
                         "[0, %d)", t0 + (size_t)k, target, V);
                rc = -1;
                break;
            }
            lp[t0 - 1 + (size_t)k] = weft_lm_row_logprob(y->value.data + (size_t)k * (size_t)V, V, target);
        }
    }
    free(pos);
    free(ctx);
    return rc;
}

/* --- sampling --------------------------------------------------------------------------------- */

/* One stream of weft_window_lm_sample, drawn with o->seed. */
static int sample_stream(weft_window_lm *m, weft_graph *g, const weft_lm_sample_opts *o, int *out,
                         char *err, size_t errsize)
{
    int V = m->vocab_size, c = m->cfg.order - 1;
    int np = o->n_prime > 0 ? o->n_prime : 0;
    /* the history: c pads (the start of a line), the prime, the generated ids */
    size_t cap = (size_t)c + (size_t)np + (size_t)(o->length > 0 ? o->length : 0);
    int *hist = malloc(cap * sizeof *hist);
    weft_lm_scored *buf = malloc((size_t)V * sizeof *buf);
    if (!hist || !buf) {
        free(hist);
        free(buf);
        weft_say(err, errsize, "sample: out of memory");
        return -1;
    }
    for (int j = 0; j < c; j++) hist[j] = m->pad;
    if (np) memcpy(hist + c, o->prime, (size_t)np * sizeof *hist);
    size_t len = (size_t)c + (size_t)np;
    weft_rng rng;
    weft_rng_seed(&rng, o->seed);
    weft_lm_sampling how = { o->temperature, o->top_k, o->top_p };
    int rc = 0;
    bool taped = !weft_graph_is_forward_only(g);
    for (int k = 0; k < o->length; k++) {
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, true);
        weft_var *logits = weft_window_lm_forward(m, g, hist + len - c, NULL, 1, NULL);
        if (!logits || weft_graph_failed(g)) {
            weft_say(err, errsize, "sample: %s",
                     weft_graph_error(g) ? weft_graph_error(g) : "out of memory");
            rc = -1;
            break;
        }
        int next = weft_lm_draw(logits->value.data, V, &how, buf, &rng);
        out[k] = next;
        hist[len++] = next;
    }
    if (taped) {
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, false);
    }
    free(hist);
    free(buf);
    return rc;
}

int weft_window_lm_sample(weft_window_lm *m, weft_graph *g, const weft_lm_sample_opts *o,
                          int *out, char *err, size_t errsize)
{
    /* a window model carries no state: its streams run one after the other,
     * stream b with seed + b as weft_lm_sample's */
    for (int b = 0; b < (o->batch > 1 ? o->batch : 1); b++) {
        weft_lm_sample_opts one = *o;
        one.seed = o->seed + (uint64_t)b;
        if (sample_stream(m, g, &one, out + (size_t)b * o->length, err, errsize)) return -1;
    }
    return 0;
}

int weft_window_lm_encode_text(const weft_window_lm *m, const char *text, int **ids, int *n,
                               char *err, size_t errsize)
{
    return weft_vocab_encode_text(m->vocab, m->cfg.level, text, ids, n, err, errsize);
}

int weft_window_lm_write_text(const weft_window_lm *m, const int *ids, int n,
                              bool after_newline, FILE *f)
{
    return weft_vocab_write_text(m->vocab, m->cfg.level, ids, n, after_newline, f);
}

/* --- checkpoints ------------------------------------------------------------------------------ */

char *weft_window_lm_config_json(const weft_window_lm *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "task", "window-lm");
    cJSON_AddStringToObject(o, "level", weft_text_level_name(m->cfg.level));
    cJSON_AddNumberToObject(o, "order", m->cfg.order);
    cJSON_AddStringToObject(o, "arch", weft_window_lm_arch_name(m->cfg.arch));
    cJSON_AddNumberToObject(o, "embed", m->cfg.embed);
    cJSON_AddNumberToObject(o, "hidden", m->cfg.hidden);
    cJSON_AddBoolToObject(o, "direct", m->cfg.direct);
    cJSON_AddNumberToObject(o, "dropout", (double)m->cfg.dropout);
    cJSON_AddNumberToObject(o, "vocab_size", m->vocab_size);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int weft_window_lm_save(const weft_window_lm *m, const char *path, char *err, size_t errsize)
{
    char *conf = weft_window_lm_config_json(m), *voc = weft_vocab_to_json(m->vocab);
    int rc = -1;
    if (!conf || !voc) {
        weft_say(err, errsize, "%s: out of memory", path);
    } else {
        weft_meta_kv meta[3] = { { "format", "pt" }, { "weft.config", conf },
                                 { "weft.vocab", voc } };
        rc = weft_checkpoint_save(path, m->params, meta, 3, err, errsize);
    }
    free(conf);
    free(voc);
    return rc;
}

/* prefix: "" in a model file, "model." in a training state (weft_train_save_params_state). */
static weft_window_lm *model_from_header(const char *path, const weft_checkpoint *c,
                                         const char *prefix, char *err, size_t errsize)
{
    const char *voc;
    cJSON *o = weft_lm_meta_open(c, path, "window-lm", "", "", &voc, err, errsize);
    if (!o) return NULL;
    weft_window_lm_config cfg = { 0 };
    weft_vocab *vocab = NULL;
    weft_window_lm *m = NULL;
    if (weft_lm_meta_level(o, &cfg.level, path, err, errsize) ||
        weft_lm_meta_int(o, "order", &cfg.order, path, err, errsize) ||
        weft_lm_meta_int(o, "embed", &cfg.embed, path, err, errsize) ||
        weft_lm_meta_int(o, "hidden", &cfg.hidden, path, err, errsize) ||
        weft_lm_meta_bool(o, "direct", &cfg.direct, path, err, errsize) ||
        weft_lm_meta_float(o, "dropout", &cfg.dropout, path, err, errsize) ||
        !(vocab = weft_lm_meta_vocab(o, voc, path, err, errsize)))
        goto done;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(o, "arch");
    int a = arch ? weft_window_lm_arch_find(cJSON_GetStringValue(arch)) : WEFT_WINDOW_NNLM;
    if (a < 0) {
        weft_say(err, errsize, "%s: weft.config: \"arch\" must be \"nnlm\" or \"lbl\"", path);
        goto done;
    }
    cfg.arch = (weft_window_lm_arch)a;
    /* The sizes against the tensors the file holds, before anything of their
     * size is allocated (weft_window_lm_new refuses an order out of range or
     * a context wider than 2^24 itself, before allocating). */
    int V = weft_vocab_size(vocab), H = cfg.hidden;
    size_t X = (size_t)(cfg.order - 1) * (size_t)cfg.embed;
    if (cfg.order >= 2 && cfg.order <= WEFT_WINDOW_LM_MAX_ORDER && X <= (1u << 24)) {
        int x = (int)X;
        const char *names[6] = { "embedding.weight", "hidden.weight", "hidden.bias",
                                 "output.weight", "output.bias", "direct.weight" };
        const int shapes[6][2] = { { V, cfg.embed }, { H, x }, { H, 0 }, { V, H }, { V, 0 },
                                   { V, x } };
        const char *lbl_names[3] = { "embedding.weight", "context.weight", "output.bias" };
        const int lbl_shapes[3][2] = { { V, cfg.embed }, { cfg.embed, x }, { V, 0 } };
        bool lbl = cfg.arch == WEFT_WINDOW_LBL;
        for (int k = 0; k < (lbl ? 3 : cfg.direct ? 6 : 5); k++) {
            char name[WEFT_PARAM_NAME_MAX + 16];
            snprintf(name, sizeof name, "%s%s", prefix, lbl ? lbl_names[k] : names[k]);
            const int *shape = lbl ? lbl_shapes[k] : shapes[k];
            if (weft_lm_meta_tensor(c, path, name, shape[1] ? 2 : 1, shape, true, err, errsize))
                goto done;
        }
    }
    m = weft_window_lm_new(&cfg, vocab, err, errsize);
    if (!m) {
        weft_lm_meta_prefix(path, err, errsize);
        goto done;
    }
    vocab = NULL;   /* the model's now */
done:
    weft_vocab_free(vocab);
    cJSON_Delete(o);
    return m;
}

weft_window_lm *weft_window_lm_load(const char *path, char *err, size_t errsize)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, errsize)) return NULL;
    weft_window_lm *m = model_from_header(path, &c, "", err, errsize);
    weft_checkpoint_free(&c);
    if (m && weft_checkpoint_load(path, m->params, 0, err, errsize)) {
        weft_window_lm_free(m);
        m = NULL;
    }
    return m;
}

weft_window_lm *weft_window_lm_load_state(const char *path, weft_train_opts *o,
                                          weft_train_state *st, size_t *train_tokens,
                                          int *batch, char *err, size_t errsize)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, errsize)) return NULL;
    weft_window_lm *m = model_from_header(path, &c, "model.", err, errsize);
    const char *data = weft_checkpoint_meta(&c, "weft.data");
    cJSON *d = data ? cJSON_Parse(data) : NULL;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(d, "train_tokens");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(d, "batch");
    if (m && !(cJSON_IsNumber(n) && n->valuedouble >= 2 && n->valuedouble <= 9007199254740992.0 &&
               n->valuedouble == floor(n->valuedouble) && cJSON_IsNumber(b) &&
               b->valuedouble >= 1 && b->valuedouble <= 1 << 20 &&
               b->valuedouble == floor(b->valuedouble))) {
        weft_say(err, errsize, "%s: not a training state file: \"weft.data\" needs whole "
                 "numbers \"train_tokens\" (>= 2) and \"batch\" (1 .. 2^20)", path);
        weft_window_lm_free(m);
        m = NULL;
    }
    if (m) {
        *train_tokens = (size_t)n->valuedouble;
        *batch = (int)b->valuedouble;
    }
    cJSON_Delete(d);
    weft_checkpoint_free(&c);
    if (m && weft_train_load_params_state(path, m->params, o, st, err, errsize)) {
        weft_window_lm_free(m);
        m = NULL;
    }
    return m;
}

bool weft_window_lm_file_is(const char *path)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, NULL, 0)) return false;
    bool is = false;
    const char *conf = weft_checkpoint_meta(&c, "weft.config");
    cJSON *o = conf ? cJSON_Parse(conf) : NULL;
    const char *task = o ? weft_lm_meta_task(o) : NULL;
    is = task && strcmp(task, "window-lm") == 0;
    cJSON_Delete(o);
    weft_checkpoint_free(&c);
    return is;
}
