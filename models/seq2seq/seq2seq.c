/* models/seq2seq/seq2seq.c — the encoder-decoder with attention
 * (weft/seq2seq.h): building it, the encoder and one decoder step on a graph,
 * the teacher-forced loss, and its checkpoints. */
#include "models/seq2seq/seq2seq_internal.h"

#include "models/lm/lm_common.h"
#include "src/internal.h"
#include "weft/dropout.h"
#include "weft/io.h"
#include "weft/ops.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

weft_seq2seq_config weft_seq2seq_defaults(void)
{
    weft_seq2seq_config c = { .embed = 64, .hidden = 64, .enc_layers = 1, .dec_layers = 1,
                              .attention = WEFT_ATTN_GENERAL, .input_feed = true, .bridge = true };
    snprintf(c.enc_cell, sizeof c.enc_cell, "lstm");
    snprintf(c.dec_cell, sizeof c.dec_cell, "lstm");
    return c;
}

const weft_seq2seq_config *weft_seq2seq_get_config(const weft_seq2seq *m) { return &m->cfg; }
weft_params *weft_seq2seq_params(weft_seq2seq *m) { return m->params; }
const weft_vocab *weft_seq2seq_src_vocab(const weft_seq2seq *m) { return m->src_vocab; }
const weft_vocab *weft_seq2seq_tgt_vocab(const weft_seq2seq *m) { return m->tgt_vocab; }

void weft_seq2seq_free(weft_seq2seq *m)
{
    if (!m) return;
    weft_rnn_free(m->encoder);
    weft_params_free(m->params);
    weft_vocab_free(m->src_vocab);
    weft_vocab_free(m->tgt_vocab);
    for (int i = 0; i < 2; i++)
        if (m->plugin_handles[i]) weft_cell_plugin_close(m->plugin_handles[i]);
    free(m);
}

static const char *const specials[3] = { "<s>", "</s>", "<unk>" };

static bool has_specials(const weft_vocab *v)
{
    for (int i = 0; i < 3; i++) {
        const char *t = weft_vocab_token(v, i);
        if (!t || strcmp(t, specials[i]) != 0) return false;
    }
    return true;
}

/* A matrix parameter, uniform in ±1/sqrt(cols) (±0.1 for an embedding). */
static weft_param *matrix(weft_seq2seq *m, const char *name, int rows, int cols, float r,
                          weft_rng *rng, char *err, size_t errsize)
{
    weft_param *p = weft_params_add(m->params, name, 2, (int[]){ rows, cols });
    if (!p) {
        weft_say(err, errsize, "seq2seq: %s", weft_params_error(m->params));
        return NULL;
    }
    if (r == 0.0f) r = 1.0f / sqrtf((float)cols);
    weft_rng_fill_uniform(rng, &p->value, -r, r);
    return p;
}

static weft_param *vector(weft_seq2seq *m, const char *name, int n, char *err, size_t errsize)
{
    weft_param *p = weft_params_add(m->params, name, 1, (int[]){ n });
    if (!p) weft_say(err, errsize, "seq2seq: %s", weft_params_error(m->params));
    return p;   /* zero */
}

/* The decoder's input width at layer l. */
static int dec_input(const weft_seq2seq_config *c, int l)
{
    if (l > 0) return c->hidden;
    return c->embed + (c->attention != WEFT_ATTN_NONE && c->input_feed ? c->hidden : 0);
}

weft_seq2seq *weft_seq2seq_new(const weft_seq2seq_config *cfg, const weft_cell_type *enc,
                               const weft_cell_type *dec, weft_vocab *src_vocab,
                               weft_vocab *tgt_vocab, weft_rng *rng, char *err, size_t errsize)
{
    weft_seq2seq *m = calloc(1, sizeof *m);
    if (!m) {
        weft_vocab_free(src_vocab);
        weft_vocab_free(tgt_vocab);
        weft_say(err, errsize, "seq2seq: out of memory");
        return NULL;
    }
    m->src_vocab = src_vocab;
    m->tgt_vocab = tgt_vocab;
    m->cfg = *cfg;
    m->enc_type = enc;
    m->dec_type = dec;
    const weft_seq2seq_config *c = &m->cfg;
    if (!src_vocab || !tgt_vocab || !has_specials(src_vocab) || !has_specials(tgt_vocab)) {
        weft_say(err, errsize, "seq2seq: both vocabularies must start with <s>, </s>, <unk>");
        goto fail;
    }
    if (!enc || !dec || c->embed < 1 || c->hidden < 1 || c->embed > (1 << 20) ||
        c->hidden > (1 << 20) || c->enc_layers < 1 || c->enc_layers > WEFT_S2S_MAX_LAYERS ||
        c->dec_layers < 1 || c->dec_layers > WEFT_S2S_MAX_LAYERS ||
        (unsigned)c->attention > WEFT_ATTN_ADDITIVE || c->attn_hidden < 0 ||
        !(c->dropout >= 0.0f && c->dropout < 1.0f)) {
        weft_say(err, errsize, "seq2seq: bad configuration (cells, embed %d, hidden %d, layers "
                 "%d/%d: each layer count 1..%d, dropout %g: in [0, 1))", c->embed, c->hidden,
                 c->enc_layers, c->dec_layers, WEFT_S2S_MAX_LAYERS, (double)c->dropout);
        goto fail;
    }
    if (c->tied && c->embed != c->hidden) {
        weft_say(err, errsize, "seq2seq: a tied readout needs embed (%d) = hidden (%d)", c->embed,
                 c->hidden);
        goto fail;
    }
    m->V_src = weft_vocab_size(src_vocab);
    m->V_tgt = weft_vocab_size(tgt_vocab);
    m->params = weft_params_new();
    if (!m->params) goto oom;
    int E = c->embed, H = c->hidden, dirs = c->bidirectional ? 2 : 1, K = H * dirs;
    if (!(m->src_emb = matrix(m, "src_emb.weight", m->V_src, E, 0.1f, rng, err, errsize)) ||
        !(m->tgt_emb = matrix(m, "tgt_emb.weight", m->V_tgt, E, 0.1f, rng, err, errsize)))
        goto fail;
    weft_rnn_config rc = { .cell = enc, .input_size = E, .hidden_size = H,
                           .num_layers = c->enc_layers, .bidirectional = c->bidirectional,
                           .dropout = c->dropout, .prefix = "enc." };
    if (!(m->encoder = weft_rnn_new(m->params, &rc, err, errsize)) ||
        weft_rnn_reset_parameters(m->encoder, rng))
        goto fail;
    for (int l = 0; l < c->dec_layers; l++) {
        char suffix[16];
        snprintf(suffix, sizeof suffix, "_l%d", l);
        if (weft_cell_bind(&m->dec[l], dec, dec_input(c, l), H, m->params, "dec.", suffix, err,
                           errsize) ||
            weft_cell_reset_parameters(&m->dec[l], rng))
            goto fail;
        m->dec[l].layer = l;
    }
    if (c->bridge) {
        for (int l = 0; l < c->dec_layers; l++)
            for (int k = 0; k < dec->n_states; k++) {
                char name[64];
                int i = l * dec->n_states + k;
                snprintf(name, sizeof name, "bridge.W_l%d_s%d", l, k);
                if (!(m->bridge_W[i] = matrix(m, name, H, K, 0.0f, rng, err, errsize)))
                    goto fail;
                snprintf(name, sizeof name, "bridge.b_l%d_s%d", l, k);
                if (!(m->bridge_b[i] = vector(m, name, H, err, errsize))) goto fail;
            }
    }
    if (c->attention != WEFT_ATTN_NONE) {
        if (weft_attention_init(&m->att, c->attention, H, K, c->attn_hidden ? c->attn_hidden : H,
                                m->params, "attn.", err, errsize))
            goto fail;
        weft_attention_reset_parameters(&m->att, rng);
        if (!(m->att_out = matrix(m, "attn_out.weight", H, K + H, 0.0f, rng, err, errsize)))
            goto fail;
    }
    if (!c->tied && !(m->out_W = matrix(m, "out.weight", m->V_tgt, H, 0.0f, rng, err, errsize)))
        goto fail;
    if (!(m->out_b = vector(m, "out.bias", m->V_tgt, err, errsize))) goto fail;
    return m;
oom:
    weft_say(err, errsize, "seq2seq: out of memory");
fail:
    weft_seq2seq_free(m);
    return NULL;
}

/* --- the encoder and one decoder step ----------------------------------------------------- */

/* Inverted dropout of x with the model's rate when training (rng), else x. */
static weft_var *drop(weft_graph *g, const weft_seq2seq *m, weft_var *x, weft_rng *rng)
{
    if (!rng || m->cfg.dropout <= 0.0f || !x) return x;
    return weft_dropout(g, x, weft_dropout_mask(g, rng, m->cfg.dropout, x->value.rank,
                                                x->value.shape));
}

/* weft_seq2seq_begin, with the training stream for dropout (NULL: none). */
static int begin(weft_graph *g, const weft_seq2seq *m, const int *const *src, const int *src_len,
                 int B, weft_rng *rng, weft_s2s_decoder *d)
{
    const weft_seq2seq_config *c = &m->cfg;
    if (m->cfg.dropout <= 0.0f) rng = NULL;
    *d = (weft_s2s_decoder){ .B = B, .n_states = c->dec_layers * m->dec_type->n_states,
                             .rng = rng };
    int S = 0;
    for (int b = 0; b < B; b++) {
        if (src_len[b] < 1) {
            weft_graph_fail(g, "seq2seq: source sentence %d is empty", b);
            return -1;
        }
        S = src_len[b] > S ? src_len[b] : S;
    }
    int *ids = weft_graph_alloc(g, (size_t)S * B * sizeof(int));
    if (!ids) return -1;
    for (int t = 0; t < S; t++)   /* time-major, padded with <s> (never read) */
        for (int b = 0; b < B; b++) {
            int id = t < src_len[b] ? src[b][t] : WEFT_S2S_BOS;
            if (id < 0 || id >= m->V_src) {
                weft_graph_fail(g, "seq2seq: source id %d of sentence %d is not in [0, %d)", id,
                                b, m->V_src);
                return -1;
            }
            ids[t * B + b] = id;
        }
    weft_var *emb = weft_param_var(g, m->src_emb);
    weft_var *xs = weft_reshape(g, drop(g, m, weft_embedding(g, emb, ids, S * B), rng), 3,
                                (int[]){ S, B, c->embed });
    weft_rnn_out out;
    /* the first layer's inputs projected from the table's rows: only when they
       are the table's rows (no dropout) */
    weft_unroll_opts uo = { .lengths = src_len, .input_table = rng ? NULL : emb,
                            .input_ids = rng ? NULL : ids, .dropout_rng = rng };
    if (!xs || weft_unroll(g, m->encoder, xs, &uo, &out)) return -1;
    weft_graph_set_scope(g, WEFT_NO_SCOPE);
    if (c->attention != WEFT_ATTN_NONE &&
        weft_attention_memory_new(g, &m->att, weft_transpose01(g, out.seq), src_len, &d->mem))
        return -1;
    int dirs = c->bidirectional ? 2 : 1, ens = m->enc_type->n_states;
    for (int l = 0; l < c->dec_layers; l++)
        for (int k = 0; k < m->dec_type->n_states; k++) {
            int i = l * m->dec_type->n_states + k;
            if (!c->bridge) {
                d->states[i] = weft_input_zeros(g, 2, (int[]){ B, c->hidden }, "dec.init", false);
                continue;
            }
            /* decoder layer l from encoder layer min(l, L_enc - 1), state k (or h) */
            int el = l < c->enc_layers ? l : c->enc_layers - 1, ek = k < ens ? k : 0;
            weft_var *parts[2];
            for (int dir = 0; dir < dirs; dir++) parts[dir] = out.final[(el * dirs + dir) * ens + ek];
            weft_var *x = dirs == 1 ? parts[0] : weft_concat(g, parts, 2);
            d->states[i] = weft_tanh(g, weft_linear(g, x, weft_param_var(g, m->bridge_W[i]),
                                                    weft_param_var(g, m->bridge_b[i])));
        }
    if (c->attention != WEFT_ATTN_NONE && c->input_feed)
        d->feed = weft_input_zeros(g, 2, (int[]){ B, c->hidden }, "dec.feed0", false);
    return weft_graph_status(g);
}

int weft_seq2seq_begin(weft_graph *g, const weft_seq2seq *m, const int *const *src,
                       const int *src_len, int B, weft_s2s_decoder *d)
{
    return begin(g, m, src, src_len, B, NULL, d);
}

/* h̃_t of the next step (the readout's input), [B, H]. */
static weft_var *step_hidden(weft_graph *g, const weft_seq2seq *m, weft_s2s_decoder *d,
                             const int *prev)
{
    const weft_seq2seq_config *c = &m->cfg;
    int B = d->B, ns = m->dec_type->n_states;
    for (int b = 0; b < B; b++)
        if (prev[b] < 0 || prev[b] >= m->V_tgt)
            return weft_graph_fail(g, "seq2seq: target id %d of sentence %d is not in [0, %d)",
                                   prev[b], b, m->V_tgt);
    /* drawn above the encoder: the decoder's layers after the encoder's, attention on top */
    int L0 = c->enc_layers;
    weft_graph_set_scope(g, (weft_scope){ d->t, L0, -1, NULL });
    weft_var *x = drop(g, m, weft_embedding(g, weft_param_var(g, m->tgt_emb), prev, B), d->rng);
    if (d->feed) x = weft_concat(g, (weft_var *[]){ x, d->feed }, 2);
    for (int l = 0; l < c->dec_layers; l++) {
        const weft_cell *cell = &m->dec[l];
        weft_graph_set_scope(g, (weft_scope){ d->t, L0 + l, 0, m->dec_type->name });
        weft_var *next[4] = { 0 };
        int rc;
        if (weft_cell_type_has_fast_path(m->dec_type)) {
            /* the fast path of a single step: the input projection of one step */
            weft_var *x3 = weft_reshape(g, x, 3, (int[]){ 1, B, cell->input_size });
            weft_var *xp = x3 ? m->dec_type->project_inputs(cell, g, x3) : NULL;
            rc = xp ? weft_cell_step_projected(cell, g, weft_narrow(g, xp, 0, 1),
                                               &d->states[l * ns], next)
                    : -1;
        } else {
            rc = weft_cell_step(cell, g, x, &d->states[l * ns], next);
        }
        if (rc) return NULL;
        for (int k = 0; k < ns; k++) d->states[l * ns + k] = next[k];
        x = next[0];
        if (l + 1 < c->dec_layers) x = drop(g, m, x, d->rng);   /* between layers */
    }
    weft_graph_set_scope(g, (weft_scope){ d->t, L0 + c->dec_layers, 0, "attention" });
    d->t++;
    if (c->attention == WEFT_ATTN_NONE) return drop(g, m, x, d->rng);
    weft_var *ctx;
    if (weft_attention_step(g, &m->att, &d->mem, x, &ctx, &d->weights)) return NULL;
    weft_var *ht = weft_tanh(g, weft_linear(g, weft_concat(g, (weft_var *[]){ ctx, x }, 2),
                                            weft_param_var(g, m->att_out), NULL));
    ht = drop(g, m, ht, d->rng);   /* before the readout and the next step's input */
    if (c->input_feed) d->feed = ht;
    return ht;
}

static weft_var *readout_W(weft_graph *g, const weft_seq2seq *m)
{
    return weft_param_var(g, m->cfg.tied ? m->tgt_emb : m->out_W);
}

weft_var *weft_seq2seq_step(weft_graph *g, const weft_seq2seq *m, weft_s2s_decoder *d,
                            const int *prev)
{
    weft_var *ht = step_hidden(g, m, d, prev);
    return weft_log_softmax(g, weft_linear(g, ht, readout_W(g, m), weft_param_var(g, m->out_b)));
}

/* --- the teacher-forced loss ------------------------------------------------------------- */

/* The most likely next token of row b of h̃ (its logits computed here, off the
 * tape): what scheduled sampling feeds. */
static int argmax_row(const weft_seq2seq *m, const float *h)
{
    const weft_tensor *W = m->cfg.tied ? &m->tgt_emb->value : &m->out_W->value;
    int V = W->shape[0], H = W->shape[1], best = 0;
    double best_v = -INFINITY;
    for (int v = 0; v < V; v++) {
        double s = m->out_b->value.data[v];
        for (int i = 0; i < H; i++) s += (double)W->data[(size_t)v * H + i] * h[i];
        if (v != WEFT_S2S_BOS && s > best_v) best_v = s, best = v;
    }
    return best;
}

int weft_seq2seq_loss(weft_graph *g, const weft_seq2seq *m, const int *const *src,
                      const int *src_len, const int *const *tgt, const int *tgt_len, int B,
                      float ss_rate, weft_rng *rng, weft_var **loss, double *tokens)
{
    *loss = NULL;
    weft_s2s_decoder d;
    if (begin(g, m, src, src_len, B, rng, &d)) return -1;
    int T = 0;
    for (int b = 0; b < B; b++) T = tgt_len[b] + 1 > T ? tgt_len[b] + 1 : T;
    int *targets = weft_graph_alloc(g, (size_t)T * B * sizeof(int));
    float *mask = weft_graph_alloc(g, (size_t)T * B * sizeof(float));
    int *prev = weft_graph_alloc(g, (size_t)B * sizeof(int));
    weft_var **hs = weft_graph_alloc(g, (size_t)T * sizeof *hs);
    if (!targets || !mask || !prev || !hs) return -1;
    double n = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            int i = t * B + b;
            targets[i] = t < tgt_len[b] ? tgt[b][t] : WEFT_S2S_EOS;
            mask[i] = t <= tgt_len[b] ? 1.0f : 0.0f;
            n += mask[i];
        }
    for (int b = 0; b < B; b++) prev[b] = WEFT_S2S_BOS;
    for (int t = 0; t < T; t++) {
        if (!(hs[t] = step_hidden(g, m, &d, prev))) return -1;
        for (int b = 0; b < B; b++) {
            prev[b] = targets[t * B + b];
            if (ss_rate > 0.0f && rng && weft_rng_uniform(rng) < ss_rate)
                prev[b] = argmax_row(m, hs[t]->value.data + (size_t)b * m->cfg.hidden);
        }
    }
    weft_graph_set_scope(g, WEFT_NO_SCOPE);
    weft_var *all = weft_reshape(g, weft_stack(g, hs, T), 2, (int[]){ T * B, m->cfg.hidden });
    *loss = weft_linear_cross_entropy(g, all, readout_W(g, m), weft_param_var(g, m->out_b),
                                      targets, mask);
    if (tokens) *tokens = n;
    return *loss ? 0 : -1;
}

/* --- checkpoints ------------------------------------------------------------------------- */

char *weft_seq2seq_config_json(const weft_seq2seq *m)
{
    const weft_seq2seq_config *c = &m->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", "seq2seq");
    cJSON_AddStringToObject(o, "enc_cell", c->enc_cell);
    cJSON_AddStringToObject(o, "dec_cell", c->dec_cell);
    cJSON_AddNumberToObject(o, "embed", c->embed);
    cJSON_AddNumberToObject(o, "hidden", c->hidden);
    cJSON_AddNumberToObject(o, "enc_layers", c->enc_layers);
    cJSON_AddNumberToObject(o, "dec_layers", c->dec_layers);
    cJSON_AddBoolToObject(o, "bidirectional", c->bidirectional);
    cJSON_AddStringToObject(o, "attention", weft_attn_score_name(c->attention));
    cJSON_AddNumberToObject(o, "attn_hidden", c->attn_hidden ? c->attn_hidden : c->hidden);
    cJSON_AddBoolToObject(o, "input_feed", c->input_feed);
    cJSON_AddBoolToObject(o, "bridge", c->bridge);
    cJSON_AddBoolToObject(o, "tied", c->tied);
    cJSON_AddNumberToObject(o, "dropout", c->dropout);
    cJSON_AddNumberToObject(o, "src_vocab_size", m->V_src);
    cJSON_AddNumberToObject(o, "vocab_size", m->V_tgt);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int weft_seq2seq_save(const weft_seq2seq *m, const char *path, char *err, size_t errsize)
{
    char *conf = weft_seq2seq_config_json(m), *sv = weft_vocab_to_json(m->src_vocab),
         *tv = weft_vocab_to_json(m->tgt_vocab);
    int rc = -1;
    if (!conf || !sv || !tv) {
        weft_say(err, errsize, "%s: out of memory", path);
    } else {
        weft_meta_kv meta[4] = { { "format", "pt" }, { "weft.config", conf },
                                 { "weft.vocab", tv }, { "weft.src_vocab", sv } };
        rc = weft_checkpoint_save(path, m->params, meta, 4, err, errsize);
    }
    free(conf);
    free(sv);
    free(tv);
    return rc;
}

static int meta_string(const cJSON *o, const char *key, char *out, size_t n, const char *path,
                       char *err, size_t errsize)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= n) {
        weft_say(err, errsize, "%s: weft.config: \"%s\" is %s, expected a string", path, key,
                 v ? "not a short string" : "missing");
        return -1;
    }
    snprintf(out, n, "%s", v->valuestring);
    return 0;
}

/* The model a file's metadata describes (weights as initialised), its tensors
 * named prefix + name: "" in a model file, "model." in a training state
 * (weft_train_save_params_state). The configuration and vocabularies are
 * checked against the file's tensors before anything of their size is built;
 * a plugin cell is loaded only when allowed. */
static weft_seq2seq *model_from_header(const char *path, const weft_checkpoint *ck,
                                       const char *prefix, char *err, size_t errsize)
{
    weft_seq2seq *m = NULL;
    weft_vocab *sv = NULL, *tv = NULL;
    void *handles[2] = { 0 };
    const char *tvj;
    cJSON *o = weft_lm_meta_open(ck, path, "seq2seq", "", "", &tvj, err, errsize);
    if (!o) goto done;
    weft_seq2seq_config c = { 0 };
    char att[32];
    int attn_hidden = 0;
    if (meta_string(o, "enc_cell", c.enc_cell, sizeof c.enc_cell, path, err, errsize) ||
        meta_string(o, "dec_cell", c.dec_cell, sizeof c.dec_cell, path, err, errsize) ||
        meta_string(o, "attention", att, sizeof att, path, err, errsize) ||
        weft_lm_meta_int(o, "embed", &c.embed, path, err, errsize) ||
        weft_lm_meta_int(o, "hidden", &c.hidden, path, err, errsize) ||
        weft_lm_meta_int(o, "enc_layers", &c.enc_layers, path, err, errsize) ||
        weft_lm_meta_int(o, "dec_layers", &c.dec_layers, path, err, errsize) ||
        weft_lm_meta_int(o, "attn_hidden", &attn_hidden, path, err, errsize) ||
        weft_lm_meta_bool(o, "bidirectional", &c.bidirectional, path, err, errsize) ||
        weft_lm_meta_bool(o, "input_feed", &c.input_feed, path, err, errsize) ||
        weft_lm_meta_bool(o, "bridge", &c.bridge, path, err, errsize) ||
        weft_lm_meta_bool(o, "tied", &c.tied, path, err, errsize) ||
        weft_lm_meta_float(o, "dropout", &c.dropout, path, err, errsize))   /* absent: 0 */
        goto done;
    c.attn_hidden = attn_hidden;
    int a = weft_attn_score_parse(att);
    if (a < 0) {
        weft_say(err, errsize, "%s: weft.config: unknown attention \"%s\"", path, att);
        goto done;
    }
    c.attention = (weft_attn_score)a;
    if (c.embed > (1 << 20) || c.hidden > (1 << 20) || c.attn_hidden > (1 << 20)) {
        weft_say(err, errsize, "%s: weft.config: widths above 2^20", path);
        goto done;
    }
    /* sizes against the file's tensors before anything of their size is made */
    char sname[64], tname[64];
    snprintf(sname, sizeof sname, "%ssrc_emb.weight", prefix);
    snprintf(tname, sizeof tname, "%stgt_emb.weight", prefix);
    const weft_checkpoint_tensor *se = weft_checkpoint_find(ck, sname),
                                 *te = weft_checkpoint_find(ck, tname);
    if (!se || !te || se->rank != 2 || te->rank != 2 || se->shape[1] != c.embed ||
        te->shape[1] != c.embed) {
        weft_say(err, errsize, "%s: the embeddings %s / %s are missing or not [V, %d]", path,
                 sname, tname, c.embed);
        goto done;
    }
    const char *svj = weft_checkpoint_meta(ck, "weft.src_vocab");
    if (!svj) {
        weft_say(err, errsize, "%s: the metadata has no \"weft.src_vocab\"", path);
        goto done;
    }
    if (!(sv = weft_vocab_from_json(svj, (int)se->shape[0], path, err, errsize)) ||
        !(tv = weft_vocab_from_json(tvj, (int)te->shape[0], path, err, errsize)))
        goto done;
    const weft_cell_type *et = weft_cell_lookup_from_file(c.enc_cell, path, &handles[0], err,
                                                          errsize);
    const weft_cell_type *dt = et ? weft_cell_lookup_from_file(c.dec_cell, path, &handles[1],
                                                                err, errsize) : NULL;
    if (!dt) goto done;
    /* the widths and layers against the file's tensors before anything is
     * built: the encoder's (its hidden width), the readout's bias and the
     * additive attention's vector (their widths), so a header cannot ask for
     * more than the file holds */
    char enc_prefix[32], out_bias[40], attn_w[40];
    snprintf(enc_prefix, sizeof enc_prefix, "%senc.", prefix);
    snprintf(out_bias, sizeof out_bias, "%sout.bias", prefix);
    snprintf(attn_w, sizeof attn_w, "%sattn.w", prefix);
    weft_rnn_config rc = { .cell = et, .input_size = c.embed, .hidden_size = c.hidden,
                           .num_layers = c.enc_layers, .bidirectional = c.bidirectional,
                           .prefix = enc_prefix };
    if (c.enc_layers > WEFT_S2S_MAX_LAYERS || c.dec_layers > WEFT_S2S_MAX_LAYERS) {
        weft_say(err, errsize, "%s: weft.config: layers above %d", path, WEFT_S2S_MAX_LAYERS);
        goto done;
    }
    if (weft_rnn_check_checkpoint(&rc, ck, path, err, errsize) ||
        weft_lm_meta_tensor(ck, path, out_bias, 1, (int[]){ (int)te->shape[0] }, true, err,
                            errsize) ||
        (c.attention == WEFT_ATTN_ADDITIVE &&
         weft_lm_meta_tensor(ck, path, attn_w, 2,
                             (int[]){ 1, c.attn_hidden ? c.attn_hidden : c.hidden }, true, err,
                             errsize)))
        goto done;
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    m = weft_seq2seq_new(&c, et, dt, sv, tv, &rng, err, errsize);
    sv = tv = NULL;
    if (!m) goto done;
    m->plugin_handles[0] = handles[0];
    m->plugin_handles[1] = handles[1];
    handles[0] = handles[1] = NULL;
done:
    for (int i = 0; i < 2; i++)
        if (handles[i]) weft_cell_plugin_close(handles[i]);
    weft_vocab_free(sv);
    weft_vocab_free(tv);
    cJSON_Delete(o);
    return m;
}

weft_seq2seq *weft_seq2seq_load(const char *path, char *err, size_t errsize)
{
    weft_checkpoint ck;
    if (weft_checkpoint_read(path, &ck, err, errsize)) return NULL;
    weft_seq2seq *m = model_from_header(path, &ck, "", err, errsize);
    weft_checkpoint_free(&ck);
    if (m && weft_checkpoint_load(path, m->params, 0, err, errsize)) {
        weft_seq2seq_free(m);
        m = NULL;
    }
    return m;
}

/* A whole number of "weft.data" in [lo, hi]. */
static bool data_int(const cJSON *d, const char *key, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != floor(v->valuedouble))
        return false;
    *out = (int)v->valuedouble;
    return true;
}

weft_seq2seq *weft_seq2seq_load_state(const char *path, weft_train_opts *o, weft_train_state *st,
                                      int *pairs, int *batch, float *ss_rate, char *err,
                                      size_t errsize)
{
    weft_checkpoint ck;
    if (weft_checkpoint_read(path, &ck, err, errsize)) return NULL;
    weft_seq2seq *m = model_from_header(path, &ck, "model.", err, errsize);
    const char *data = weft_checkpoint_meta(&ck, "weft.data");
    cJSON *d = m && data ? cJSON_Parse(data) : NULL;
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(d, "ss_rate");
    if (m && !(data_int(d, "pairs", 1, 1 << 30, pairs) && data_int(d, "batch", 1, 1 << 20, batch) &&
               cJSON_IsNumber(ss) && ss->valuedouble >= 0 && ss->valuedouble <= 1)) {
        weft_say(err, errsize, "%s: not a seq2seq training state: \"weft.data\" needs whole "
                 "numbers \"pairs\" (>= 1) and \"batch\" (1 .. 2^20) and \"ss_rate\" in [0, 1]",
                 path);
        weft_seq2seq_free(m);
        m = NULL;
    }
    if (m) *ss_rate = (float)ss->valuedouble;
    cJSON_Delete(d);
    weft_checkpoint_free(&ck);
    if (m && weft_train_load_params_state(path, m->params, o, st, err, errsize)) {
        weft_seq2seq_free(m);
        m = NULL;
    }
    return m;
}
