/* models/lm/lm.c — the recurrent language model of weft/lm.h: embedding, any
 * cell stacked, linear decoder over all rows of a window, cross-entropy;
 * truncated-BPTT training, evaluation over a stream, sampling, checkpoints. */
#include "weft/lm.h"

#include "weft/dropout.h"
#include "weft/io.h"
#include "weft/ops.h"
#include "src/internal.h"
#include "models/lm/lm_common.h"
#include "models/train/train_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- the model ------------------------------------------------------------------------------ */

/* The checks of weft_lm_new on a configuration over V tokens. */
static int check_config(const weft_lm_config *cfg, int V, char *err, size_t errsize)
{
    if (V < 1) {
        weft_say(err, errsize, "language model: the vocabulary is empty");
        return -1;
    }
    if (cfg->layers < 1 || cfg->hidden < 1 || cfg->embed < 1) {
        weft_say(err, errsize, "language model: layers %d, hidden %d and embed %d must all be >= 1",
            cfg->layers, cfg->hidden, cfg->embed);
        return -1;
    }
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f)) {
        weft_say(err, errsize, "language model: dropout %g must be in [0, 1)",
            (double)cfg->dropout);
        return -1;
    }
    if (!(cfg->dropout_embed >= 0.0f && cfg->dropout_embed < 1.0f)) {
        weft_say(err, errsize, "language model: embedding dropout %g must be in [0, 1)",
            (double)cfg->dropout_embed);
        return -1;
    }
    if (cfg->tied && cfg->embed != cfg->hidden) {
        weft_say(err, errsize, "language model: tied weights need embed == hidden (got embed %d, "
            "hidden %d)", cfg->embed, cfg->hidden);
        return -1;
    }
    if (cfg->level != WEFT_TEXT_WORDS && cfg->level != WEFT_TEXT_CHARS) {
        weft_say(err, errsize, "language model: level %d is neither words nor characters",
            (int)cfg->level);
        return -1;
    }
    return 0;
}

static weft_lm *lm_build(const weft_lm_config *cfg, weft_vocab *vocab,
                         const weft_cell_type *cell, void *plugin, char *err, size_t errsize);

weft_lm *weft_lm_new(const weft_lm_config *cfg, weft_vocab *vocab, char *err, size_t errsize)
{
    if (check_config(cfg, vocab ? weft_vocab_size(vocab) : 0, err, errsize)) return NULL;
    void *plugin;
    const weft_cell_type *cell = weft_cell_lookup(cfg->cell, &plugin, err, errsize);
    if (!cell) return NULL;
    return lm_build(cfg, vocab, cell, plugin, err, errsize);
}

/* The model of weft_lm_new once its configuration is checked and its cell
 * looked up: takes over the plugin's handle (closed on failure too). */
static weft_lm *lm_build(const weft_lm_config *cfg, weft_vocab *vocab,
                         const weft_cell_type *cell, void *plugin, char *err, size_t errsize)
{
    int V = weft_vocab_size(vocab);
    weft_lm *m = calloc(1, sizeof *m);
    if (!m || !(m->params = weft_params_new())) {
        free(m);
        weft_cell_plugin_close(plugin);
        weft_say(err, errsize, "language model: out of memory");
        return NULL;
    }
    m->plugin = plugin;
    m->cfg = *cfg;
    m->cfg.cell[WEFT_LM_CELL_MAX - 1] = '\0';
    m->cell = cell;
    m->vocab_size = V;

    /* The store in the order of the PyTorch example's state_dict. */
    m->encoder = weft_params_add(m->params, "encoder.weight", 2, (int[]){ V, cfg->embed });
    if (!m->encoder) goto fail_store;
    weft_rnn_config rc = {
        .cell = cell, .input_size = cfg->embed, .hidden_size = cfg->hidden,
        .num_layers = cfg->layers, .dropout = cfg->dropout, .prefix = "rnn.",
    };
    m->rnn = weft_rnn_new(m->params, &rc, err, errsize);
    if (!m->rnn) goto fail;
    if (cfg->tied) {
        m->decoder_weight = m->encoder;
    } else {
        m->decoder_weight = weft_params_add(m->params, "decoder.weight", 2,
                                            (int[]){ V, cfg->hidden });
        if (!m->decoder_weight) goto fail_store;
    }
    m->decoder_bias = weft_params_add(m->params, "decoder.bias", 1, (int[]){ V });
    if (!m->decoder_bias) goto fail_store;
    m->vocab = vocab;
    return m;

fail_store:
    weft_say(err, errsize, "language model: %s", weft_params_error(m->params));
fail:
    weft_rnn_free(m->rnn);
    weft_params_free(m->params);
    weft_cell_plugin_close(m->plugin);
    free(m);
    return NULL;
}

void weft_lm_free(weft_lm *m)
{
    if (!m) return;
    weft_rnn_free(m->rnn);
    weft_params_free(m->params);
    weft_cell_plugin_close(m->plugin);   /* after the rnn: it borrowed the cell type */
    weft_vocab_free(m->vocab);
    free(m);
}

int weft_lm_init(weft_lm *m, weft_rng *rng, float rnn_range)
{
    weft_init_uniform(m->encoder, rng, 0.1f);
    if (!m->cfg.tied) weft_init_uniform(m->decoder_weight, rng, 0.1f);
    weft_init_constant(m->decoder_bias, 0.0f);
    if (weft_rnn_reset_parameters(m->rnn, rng)) return -1;
    if (rnn_range > 0.0f) {
        int n = weft_params_count(m->params);
        for (int i = 0; i < n; i++) {
            weft_param *p = weft_params_at(m->params, i);
            if (strncmp(p->name, "rnn.", 4) == 0) weft_init_uniform(p, rng, rnn_range);
        }
    }
    return 0;
}

/* A [T, B, F] dropout mask: fresh per element (standard), or one [B, F]
 * mask stacked T times, the same node at every step (variational). */
static weft_var *window_mask(weft_graph *g, weft_rng *rng, float p, bool variational, int T,
                             int B, int F)
{
    if (!variational) return weft_dropout_mask(g, rng, p, 3, (int[]){ T, B, F });
    weft_var *m = weft_variational_mask(g, rng, p, B, F);
    if (!m) return NULL;
    weft_var **steps = malloc((size_t)T * sizeof *steps);
    if (!steps) return weft_graph_fail(g, "lm: out of memory for %d mask steps", T);
    for (int t = 0; t < T; t++) steps[t] = m;
    weft_var *tiled = weft_stack(g, steps, T);
    free(steps);
    return tiled;
}

/* weft_lm_forward, from the state *carry or, when init_vars is not NULL,
 * from those nodes (one a state: a segment's start, whose gradient the
 * recomputation hands back). */
static weft_var *lm_forward(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                            int T, int B, const weft_state *carry, weft_var **init_vars,
                            weft_rng *dropout_rng, weft_rnn_out *out)
{
    if (T < 1 || B < 1) return weft_graph_fail(g, "lm: a window of %d steps x %d streams", T, B);
    for (int i = 0; i < T * B; i++)
        if (inputs[i] < 0 || inputs[i] >= m->vocab_size)
            return weft_graph_fail(g, "lm: input %d is id %d, not in the vocabulary [0, %d)", i,
                                   inputs[i], m->vocab_size);
    float p = m->cfg.dropout;
    bool drop = dropout_rng && p > 0.0f, var = m->cfg.variational;
    int E = m->cfg.embed, H = m->cfg.hidden, L = m->cfg.layers;

    weft_var *enc = weft_param_var(g, m->encoder);
    /* embedding dropout: whole word types, the same rows at every step */
    if (dropout_rng && m->cfg.dropout_embed > 0.0f)
        enc = weft_embedding_dropout(g, enc, dropout_rng, m->cfg.dropout_embed);
    weft_var *x = weft_embedding(g, enc, inputs, T * B);                   /* [T*B, E] */
    x = weft_reshape(g, x, 3, (int[]){ T, B, E });
    if (drop) x = weft_dropout(g, x, window_mask(g, dropout_rng, p, var, T, B, E));
    if (!x) return NULL;

    /* between layers: one [B, H] mask a layer for the window (variational), or
     * weft_unroll draws a fresh one per step */
    weft_var *layer_masks[64] = { 0 };
    if (drop && var && L > (int)(sizeof layer_masks / sizeof *layer_masks))
        return weft_graph_fail(g, "lm: variational dropout handles at most 64 layers, got %d", L);
    if (drop && var)
        for (int l = 0; l + 1 < L; l++)
            if (!(layer_masks[l] = weft_variational_mask(g, dropout_rng, p, B, H))) return NULL;
    /* Without dropout on x, x is rows of enc: the first layer may project
     * enc's rows instead of x's (a character model's 65 instead of T x B). */
    weft_unroll_opts uo = {
        .init = carry && carry->n > 0 ? carry : NULL,
        .init_vars = init_vars,
        .dropout_masks = drop && var ? layer_masks : NULL,
        .dropout_rng = drop && !var ? dropout_rng : NULL,
        .input_table = drop ? NULL : enc,
        .input_ids = drop ? NULL : inputs,
    };
    if (weft_unroll(g, m->rnn, x, &uo, out)) return NULL;
    weft_var *y = out->seq;                                                /* [T, B, H] */
    if (drop) y = weft_dropout(g, y, window_mask(g, dropout_rng, p, var, T, B, H));
    /* The decoder over all T x B rows at once: one GEMM. With targets, the
     * decoder and the loss are one op, whose backward writes the gradient of
     * the logits over the logits themselves: one [T*B, V] buffer, not two. */
    weft_var *W = weft_param_var(g, m->decoder_weight), *b = weft_param_var(g, m->decoder_bias);
    if (targets) return weft_linear_cross_entropy(g, y, W, b, targets, NULL);
    return weft_linear(g, y, W, b);                                        /* [T, B, V] */
}

weft_var *weft_lm_forward(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                          int T, int B, const weft_state *carry, weft_rng *dropout_rng,
                          weft_rnn_out *out)
{
    return lm_forward(m, g, inputs, targets, T, B, carry, NULL, dropout_rng, out);
}

/* --- recomputation: a window in segments (Chen et al. 2016) ------------------------------ */

void weft_lm_segments_free(weft_lm_segments *s)
{
    if (!s) return;
    for (int k = 0; s->start && k <= s->n; k++) weft_state_free(&s->start[k]);
    free(s->start);
    free(s->rng);
    *s = (weft_lm_segments){ 0 };
}

/* Steps [t0, t0 + len) of segment k of a window of T steps. */
static int segment_steps(const weft_lm_segments *s, int T, int k, int *t0)
{
    *t0 = k * s->every;
    return T - *t0 < s->every ? T - *t0 : s->every;
}

static int graph_error(weft_graph *g, const char *what, int k, char *err, size_t errsize)
{
    weft_say(err, errsize, "lm: %s of segment %d: %s", what, k + 1,
             weft_graph_error(g) ? weft_graph_error(g) : "failed");
    return -1;
}

int weft_lm_segments_forward(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                             int T, int B, const weft_state *carry, weft_rng *dropout_rng,
                             int every, weft_lm_segments *s, char *err, size_t errsize)
{
    *s = (weft_lm_segments){ 0 };
    bool drop = dropout_rng && m->cfg.dropout > 0.0f;
    if (every < 1 || T < 1 || B < 1) {
        weft_say(err, errsize, "lm: segments of %d steps over a window of %d x %d", every, T, B);
        return -1;
    }
    if ((drop && m->cfg.variational) || (dropout_rng && m->cfg.dropout_embed > 0.0f)) {
        weft_say(err, errsize, "lm: recomputation in segments cannot keep %s dropout's masks, "
                 "which span the whole window: use standard dropout, or no --checkpoint-every",
                 drop && m->cfg.variational ? "variational" : "embedding");
        return -1;
    }
    s->every = every;
    s->n = (T + every - 1) / every;
    s->start = calloc((size_t)s->n + 1, sizeof *s->start);
    s->rng = calloc((size_t)s->n, sizeof *s->rng);
    if (!s->start || !s->rng) {
        weft_lm_segments_free(s);
        weft_say(err, errsize, "lm: out of memory for %d segments", T / every + 1);
        return -1;
    }
    const weft_state *from = carry;
    double nll = 0.0;   /* the window's summed cross-entropy */
    for (int k = 0; k < s->n; k++) {
        int t0, len = segment_steps(s, T, k, &t0);
        if (dropout_rng) s->rng[k] = *dropout_rng;
        weft_graph_reset(g);
        weft_rnn_out out;
        weft_var *loss = lm_forward(m, g, inputs + (size_t)t0 * B, targets + (size_t)t0 * B, len,
                                    B, from, NULL, dropout_rng, &out);
        if (!loss || weft_graph_failed(g)) {
            weft_lm_segments_free(s);
            return graph_error(g, "forward", k, err, errsize);
        }
        nll += (double)weft_scalar(loss) * len * B;
        if (weft_state_detach(&out, &s->start[k + 1])) {
            weft_lm_segments_free(s);
            weft_say(err, errsize, "lm: out of memory for a segment's state");
            return -1;
        }
        from = &s->start[k + 1];
    }
    s->has_rng = dropout_rng != NULL;
    s->loss = nll / ((double)T * B);
    return 0;
}

int weft_lm_segments_backward(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                              int T, int B, const weft_state *carry,
                              const weft_lm_segments *s, float scale, char *err, size_t errsize)
{
    int n_states = weft_rnn_num_states(m->rnn);
    /* dstate: the gradient of the window's loss with respect to the state at
     * the end of the segment under way (none after the last: truncated) */
    float **dstate = calloc((size_t)n_states, sizeof *dstate);
    weft_var **init = calloc((size_t)n_states, sizeof *init);
    int rc = -1;
    if (!dstate || !init) {
        weft_say(err, errsize, "lm: out of memory");
        goto done;
    }
    for (int k = s->n - 1; k >= 0; k--) {
        int t0, len = segment_steps(s, T, k, &t0);
        weft_rng rng = s->has_rng ? s->rng[k] : (weft_rng){ 0 };
        weft_graph_reset(g);
        const weft_state *from = k == 0 ? carry : &s->start[k];
        bool from_vars = k > 0;   /* the first segment's start needs no gradient */
        for (int i = 0; from_vars && i < n_states; i++)
            if (!(init[i] = weft_state_leaf(g, &from->t[i], "segment start", true)))
                goto fail;
        weft_rnn_out out;
        weft_var *loss = lm_forward(m, g, inputs + (size_t)t0 * B, targets + (size_t)t0 * B, len,
                                    B, from_vars ? NULL : from, from_vars ? init : NULL,
                                    s->has_rng ? &rng : NULL, &out);
        /* the window's mean is the segments' means weighted by their steps */
        loss = weft_scale(g, loss, scale * (float)len / (float)T);
        /* and the later segments' part, through this one's final state:
         * Σ final ⊙ dstate, whose gradient is dstate */
        if (k + 1 < s->n) {
            for (int i = 0; i < n_states && loss; i++) {
                const weft_tensor *ft = weft_value(out.final[i]);
                weft_tensor dt = weft_tensor_wrap(dstate[i], ft->rank, ft->shape);
                weft_var *d = weft_input(g, &dt, "d state", false);
                loss = weft_add(g, loss, weft_sum(g, weft_mul(g, out.final[i], d)));
            }
        }
        if (!loss || weft_graph_failed(g) || weft_backward(g, loss)) goto fail;
        for (int i = 0; from_vars && i < n_states; i++) {
            const weft_tensor *gt = weft_grad_of(g, init[i]);
            if (!gt) goto fail;
            float *d = realloc(dstate[i], gt->size * sizeof(float));
            if (!d) {
                weft_say(err, errsize, "lm: out of memory");
                goto done;
            }
            memcpy(d, gt->data, gt->size * sizeof(float));
            dstate[i] = d;
        }
        continue;
fail:
        graph_error(g, "recomputation and backward", k, err, errsize);
        goto done;
    }
    rc = 0;
done:
    for (int i = 0; dstate && i < n_states; i++) free(dstate[i]);
    free(dstate);
    free(init);
    return rc;
}

int weft_lm_train_window(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                         int T, int B, weft_state *carry, weft_optim *opt, float clip,
                         weft_rng *dropout_rng, weft_lm_step_info *info, char *err,
                         size_t errsize)
{
    weft_graph_reset(g);
    weft_params_zero_grad(m->params);
    weft_rnn_out out;
    weft_var *loss = weft_lm_forward(m, g, inputs, targets, T, B, carry, dropout_rng, &out);
    if (!loss || weft_graph_failed(g)) {
        weft_say(err, errsize, "%s",
                 weft_graph_error(g) ? weft_graph_error(g) : "lm: forward failed");
        return -1;
    }
    /* The encoder's gradient reaches only the rows of this window's ids
     * (unless the decoder shares it, or embedding dropout sits between): the
     * norm and a plain SGD step skip the others (weft_grad_rows). */
    weft_grad_rows rows = { .param = m->encoder };
    int *ids = NULL;
    bool sparse = !m->cfg.tied && !(dropout_rng && m->cfg.dropout_embed > 0.0f);
    if (sparse && (ids = weft_lm_window_rows(inputs, T * B, m->vocab_size, &rows.n_rows)))
        rows.rows = ids;
    weft_lm_step_info step;
    int rc = weft_lm_step_rows(g, loss, m->params, opt, clip, ids ? &rows : NULL, &step, err,
                               errsize);
    free(ids);
    if (rc) return -1;
    if (weft_state_detach(&out, carry)) {
        weft_say(err, errsize, "lm: out of memory for the carried state");
        return -1;
    }
    if (info) *info = step;
    return 0;
}

int weft_lm_eval(weft_lm *m, weft_graph *g, const int *ids, size_t n, int batch, int bptt,
                 double *nll, size_t *count, char *err, size_t errsize)
{
    *nll = 0.0;
    *count = 0;
    if (bptt < 1) {
        weft_say(err, errsize, "eval: bptt %d must be at least 1", bptt);
        return -1;
    }
    weft_batches b;
    if (weft_batchify(ids, n, batch, &b, err, errsize)) return -1;
    weft_state carry = { 0 };
    int rc = 0;
    const int *in, *tg;
    int len;
    /* nothing here needs a backward: the graph runs forward-only */
    bool taped = !weft_graph_is_forward_only(g);
    for (int start = 0; (len = weft_batches_window(&b, start, bptt, &in, &tg)) > 0; start += len) {
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, true);
        weft_rnn_out out;
        weft_var *loss = weft_lm_forward(m, g, in, tg, len, batch, &carry, NULL, &out);
        if (!loss || weft_graph_failed(g)) {
            weft_say(err, errsize, "%s", weft_graph_error(g) ? weft_graph_error(g) : "eval failed");
            rc = -1;
            break;
        }
        float L = weft_scalar(loss);
        if (!isfinite(L)) {
            weft_say(err, errsize, "the loss is %s at steps %d..%d of the stream (are the model's "
                "weights finite?)", isnan(L) ? "NaN" : "infinite", start, start + len);
            rc = -1;
            break;
        }
        *nll += (double)L * len * batch;
        *count += (size_t)len * batch;
        if (weft_state_detach(&out, &carry)) {
            weft_say(err, errsize, "eval: out of memory for the carried state");
            rc = -1;
            break;
        }
    }
    if (taped) {   /* the caller's graph back as it was (its nodes are gone either way) */
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, false);
    }
    weft_state_free(&carry);
    weft_batches_free(&b);
    return rc;
}

int weft_lm_logprobs(weft_lm *m, weft_graph *g, const int *ids, size_t n, int bptt, double *lp,
                     char *err, size_t errsize)
{
    if (n < 2 || bptt < 1) {
        weft_say(err, errsize, "logprobs: %zu tokens (at least 2), bptt %d (at least 1)", n, bptt);
        return -1;
    }
    int V = m->vocab_size;
    weft_state carry = { 0 };
    int rc = 0;
    /* one stream, inputs ids[0..n-2], targets ids[1..n-1], the state carried */
    for (size_t t0 = 0; t0 + 1 < n && rc == 0; t0 += (size_t)bptt) {
        int T = (int)(n - 1 - t0 < (size_t)bptt ? n - 1 - t0 : (size_t)bptt);
        weft_graph_reset(g);
        weft_rnn_out out;
        weft_var *y = weft_lm_forward(m, g, ids + t0, NULL, T, 1, &carry, NULL, &out);
        if (!y || weft_graph_failed(g)) {
            weft_say(err, errsize, "%s", weft_graph_error(g) ? weft_graph_error(g) : "logprobs failed");
            rc = -1;
            break;
        }
        for (int k = 0; k < T; k++) {
            int target = ids[t0 + 1 + (size_t)k];
            if (target < 0 || target >= V) {
                weft_say(err, errsize, "logprobs: token %zu is id %d, not in the vocabulary "
                         "[0, %d)", t0 + 1 + (size_t)k, target, V);
                rc = -1;
                break;
            }
            lp[t0 + (size_t)k] =
                weft_lm_row_logprob(y->value.data + (size_t)k * (size_t)V, V, target);
        }
        if (rc == 0 && weft_state_detach(&out, &carry)) {
            weft_say(err, errsize, "logprobs: out of memory for the carried state");
            rc = -1;
        }
    }
    weft_state_free(&carry);
    return rc;
}

/* --- sampling --------------------------------------------------------------------------------- */

/* The order of the draw's candidates: higher logit first, the lower id
 * among equals (the same order on every machine). */
static bool ranks_before(weft_lm_scored x, weft_lm_scored y)
{
    return x.logit > y.logit || (x.logit == y.logit && x.id < y.id);
}

static void swap_scored(weft_lm_scored *a, weft_lm_scored *b)
{
    weft_lm_scored t = *a;
    *a = *b;
    *b = t;
}

/* Partition buf[lo, hi) (hi - lo >= 2) around one of its entries: returns p
 * with buf[lo, p) ranking before buf[p] and buf[p + 1, hi) after it. The
 * pivot is the median of the first, middle and last entries (Hoare's
 * selection stays linear on sorted rows, which logits often nearly are). */
static int partition(weft_lm_scored *buf, int lo, int hi)
{
    int mid = lo + (hi - lo) / 2, last = hi - 1;
    if (ranks_before(buf[mid], buf[lo])) swap_scored(&buf[mid], &buf[lo]);
    if (ranks_before(buf[last], buf[lo])) swap_scored(&buf[last], &buf[lo]);
    if (ranks_before(buf[last], buf[mid])) swap_scored(&buf[last], &buf[mid]);
    swap_scored(&buf[mid], &buf[last]);          /* the median, kept at the end */
    weft_lm_scored pivot = buf[last];
    int p = lo;
    for (int i = lo; i < last; i++)
        if (ranks_before(buf[i], pivot)) swap_scored(&buf[i], &buf[p++]);
    swap_scored(&buf[p], &buf[last]);
    return p;
}

/* Put the k entries of buf[0, n) that rank first into buf[0, k), in no
 * particular order: quickselect, expected O(n), no sort. */
static void select_first(weft_lm_scored *buf, int n, int k)
{
    int lo = 0, hi = n;
    while (hi - lo > 1) {
        int p = partition(buf, lo, hi);
        if (p == k || p + 1 == k) return;
        if (p > k) hi = p;
        else lo = p + 1;
    }
}

/* The nucleus (Holtzman et al. 2020): the fewest entries of buf[0, n), taken
 * in rank order, whose weights (buf[i].logit holds e^(logit - max) here) sum
 * to at least top_p of their total; moved to buf[0, count) and counted.
 * Found by the same partitions as select_first: each one tells whether the
 * entries before its pivot already hold the mass (look there) or not (keep
 * them all, look after), so no entry is sorted. */
static int select_nucleus(weft_lm_scored *buf, int n, double need)
{
    /* invariant: the answer j is in (lo, hi], and mass = the weight of buf[0, lo) */
    int lo = 0, hi = n;
    double mass = 0.0;
    while (hi - lo > 1) {
        int p = partition(buf, lo, hi);
        double before = mass;           /* the weight of buf[0, p) */
        for (int i = lo; i < p; i++) before += buf[i].logit;
        if (before >= need) {
            hi = p;                     /* p > lo: mass < need */
        } else if (before + buf[p].logit >= need) {
            return p + 1;
        } else {
            lo = p + 1;
            mass = before + buf[p].logit;
        }
    }
    return hi;
}

/* buf[0, count) = the candidates of a draw and their weights (in .logit:
 * e^((logit - max) / temperature), max over the candidates) after top-k and
 * top-p; *total = the sum of those weights. temperature > 0. */
static int candidates(const float *logits, int V, float temperature, int top_k, float top_p,
                      weft_lm_scored *buf, double *total)
{
    for (int c = 0; c < V; c++) buf[c] = (weft_lm_scored){ logits[c] / temperature, c };
    int n = V;
    if (top_k > 0 && top_k < V) {
        select_first(buf, V, top_k);
        n = top_k;
    }
    float mx = buf[0].logit;
    for (int c = 1; c < n; c++)
        if (buf[c].logit > mx) mx = buf[c].logit;
    double sum = 0.0;
    for (int c = 0; c < n; c++) {
        buf[c].logit = (float)exp((double)buf[c].logit - mx);
        sum += buf[c].logit;
    }
    if (top_p > 0.0f && top_p < 1.0f) {
        n = select_nucleus(buf, n, (double)top_p * sum);
        sum = 0.0;
        for (int c = 0; c < n; c++) sum += buf[c].logit;
    }
    *total = sum;
    return n;
}

static int most_likely(const float *logits, int V)
{
    int best = 0;
    for (int c = 1; c < V; c++)
        if (logits[c] > logits[best]) best = c;
    return best;
}

int weft_lm_draw(const float *logits, int V, const weft_lm_sampling *s, weft_lm_scored *buf,
                 weft_rng *rng)
{
    if (s->temperature <= 0.0f) return most_likely(logits, V);
    double total;
    int n = candidates(logits, V, s->temperature, s->top_k, s->top_p, buf, &total);
    double u = (double)weft_rng_uniform(rng) * total, acc = 0.0;
    for (int c = 0; c < n; c++) {
        acc += buf[c].logit;
        if (u < acc) return buf[c].id;
    }
    return buf[n - 1].id;
}

void weft_lm_distribution(const float *logits, int V, const weft_lm_sampling *s, float *probs,
                          weft_lm_scored *buf)
{
    memset(probs, 0, (size_t)V * sizeof *probs);
    if (s->temperature <= 0.0f) {
        probs[most_likely(logits, V)] = 1.0f;
        return;
    }
    double total;
    int n = candidates(logits, V, s->temperature, s->top_k, s->top_p, buf, &total);
    for (int c = 0; c < n; c++) probs[buf[c].id] = (float)(buf[c].logit / total);
}

int weft_lm_start_id(const weft_lm *m)
{
    int start = m->cfg.level == WEFT_TEXT_WORDS ? weft_vocab_find(m->vocab, WEFT_EOS, 5)
                                                : weft_vocab_find(m->vocab, "\n", 1);
    return start < 0 ? 0 : start;
}

int weft_lm_next_batch(weft_lm *m, weft_graph *g, const int *ids, int B, weft_state *state,
                       float *logits, char *err, size_t errsize)
{
    if (B < 1) {
        weft_say(err, errsize, "language model next: %d streams", B);
        return -1;
    }
    for (int b = 0; b < B; b++)
        if (ids[b] < 0 || ids[b] >= m->vocab_size) {
            weft_say(err, errsize, "language model next: id %d (stream %d) is not in [0, %d)",
                     ids[b], b, m->vocab_size);
            return -1;
        }
    bool taped = !weft_graph_is_forward_only(g);
    weft_graph_reset(g);
    weft_graph_set_forward_only(g, true);
    weft_rnn_out ro;
    weft_var *z = weft_lm_forward(m, g, ids, NULL, 1, B, state, NULL, &ro);
    int rc = 0;
    if (!z || weft_graph_failed(g)) {
        weft_say(err, errsize, "language model next: %s", weft_graph_error(g));
        rc = -1;
    } else if (weft_state_detach(&ro, state)) {
        weft_say(err, errsize, "language model next: out of memory");
        rc = -1;
    } else if (logits) {
        memcpy(logits, z->value.data, (size_t)B * m->vocab_size * sizeof *logits);
    }
    /* the caller's graph back as it was (its nodes are gone either way) */
    if (taped) {
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, false);
    }
    return rc;
}

int weft_lm_next(weft_lm *m, weft_graph *g, int id, weft_state *state, float *logits, char *err,
                 size_t errsize)
{
    return weft_lm_next_batch(m, g, &id, 1, state, logits, err, errsize);
}

int weft_lm_sample(weft_lm *m, weft_graph *g, const weft_lm_sample_opts *o, int *out, char *err,
                   size_t errsize)
{
    int V = m->vocab_size, B = o->batch > 1 ? o->batch : 1;
    int n_prime = o->n_prime > 0 ? o->n_prime : 0;
    int *ids = malloc((size_t)B * sizeof *ids);
    float *logits = malloc((size_t)B * V * sizeof *logits);
    weft_lm_scored *buf = malloc((size_t)V * sizeof *buf);
    weft_rng *rng = malloc((size_t)B * sizeof *rng);
    int rc = 0;
    if (!ids || !logits || !buf || !rng) {
        weft_say(err, errsize, "sample: out of memory");
        rc = -1;
        goto done;
    }
    /* stream b draws from its own generator, seeded seed + b: the text
     * `weft sample --seed seed+b` makes alone */
    for (int b = 0; b < B; b++) weft_rng_seed(&rng[b], o->seed + (uint64_t)b);
    weft_lm_sampling how = { o->temperature, o->top_k, o->top_p };
    weft_state state = { 0 };
    /* The model reads the start token (as it saw every line begin in
     * training, not from a zero state it never saw mid-text), then the
     * prime, then its own draws: one step each, the state carried. */
    for (int b = 0; b < B; b++) ids[b] = weft_lm_start_id(m);
    for (int k = 0; k < n_prime + o->length && rc == 0; k++) {
        rc = weft_lm_next_batch(m, g, ids, B, &state, logits, err, errsize);
        if (rc) break;
        for (int b = 0; b < B; b++) {
            if (k < n_prime) {
                ids[b] = o->prime[k];
                continue;
            }
            ids[b] = weft_lm_draw(logits + (size_t)b * V, V, &how, buf, &rng[b]);
            out[(size_t)b * o->length + (k - n_prime)] = ids[b];
        }
    }
    weft_state_free(&state);
done:
    free(ids);
    free(logits);
    free(buf);
    free(rng);
    return rc;
}

int weft_lm_encode_text(const weft_lm *m, const char *text, int **ids, int *n, char *err,
                        size_t errsize)
{
    return weft_vocab_encode_text(m->vocab, m->cfg.level, text, ids, n, err, errsize);
}

int weft_lm_write_text(const weft_lm *m, const int *ids, int n, bool after_newline, FILE *f)
{
    return weft_vocab_write_text(m->vocab, m->cfg.level, ids, n, after_newline, f);
}

/* --- checkpoints ------------------------------------------------------------------------------ */

char *weft_lm_config_json(const weft_lm *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "task", "lm");
    cJSON_AddStringToObject(o, "level", weft_text_level_name(m->cfg.level));
    cJSON_AddStringToObject(o, "cell", m->cfg.cell);
    cJSON_AddNumberToObject(o, "layers", m->cfg.layers);
    cJSON_AddNumberToObject(o, "hidden", m->cfg.hidden);
    cJSON_AddNumberToObject(o, "embed", m->cfg.embed);
    cJSON_AddBoolToObject(o, "tied", m->cfg.tied);
    cJSON_AddNumberToObject(o, "dropout", (double)m->cfg.dropout);
    cJSON_AddStringToObject(o, "dropout_mode", m->cfg.variational ? "variational" : "standard");
    cJSON_AddNumberToObject(o, "dropout_embed", (double)m->cfg.dropout_embed);
    cJSON_AddNumberToObject(o, "vocab_size", m->vocab_size);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *weft_lm_vocab_json(const weft_lm *m)
{
    return weft_vocab_to_json(m->vocab);
}

/* The model's tensors as a checkpoint lists them: the store's parameters in
 * order, with decoder.weight (the encoder's values) before decoder.bias when
 * tied. prefix goes in front of every name. names[i] are malloc'd. */
static int model_tensors(const weft_lm *m, const char *prefix, char ***names_out,
                         weft_tensor **tensors_out, int *n_out)
{
    int np = weft_params_count(m->params);
    int n = np + (m->cfg.tied ? 1 : 0);
    char **names = calloc((size_t)n, sizeof *names);
    weft_tensor *ts = calloc((size_t)n, sizeof *ts);
    if (!names || !ts) goto fail;
    int k = 0;
    for (int i = 0; i < np; i++) {
        weft_param *p = weft_params_at(m->params, i);
        if (m->cfg.tied && p == m->decoder_bias) {
            size_t len = strlen(prefix) + sizeof "decoder.weight";
            if (!(names[k] = malloc(len))) goto fail;
            snprintf(names[k], len, "%sdecoder.weight", prefix);
            ts[k++] = m->encoder->value;
        }
        size_t len = strlen(prefix) + strlen(p->name) + 1;
        if (!(names[k] = malloc(len))) goto fail;
        snprintf(names[k], len, "%s%s", prefix, p->name);
        ts[k++] = p->value;
    }
    *names_out = names;
    *tensors_out = ts;
    *n_out = n;
    return 0;
fail:
    if (names)
        for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(ts);
    return -1;
}

static void free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Metadata of a model file; the two JSON strings go into json[0..1] (freed by
 * the caller). */
static int model_meta(const weft_lm *m, weft_meta_kv *meta, char **json)
{
    json[0] = weft_lm_config_json(m);
    json[1] = weft_lm_vocab_json(m);
    if (!json[0] || !json[1]) return -1;
    meta[0] = (weft_meta_kv){ "format", "pt" };
    meta[1] = (weft_meta_kv){ "weft.config", json[0] };
    meta[2] = (weft_meta_kv){ "weft.vocab", json[1] };
    return 0;
}

int weft_lm_save(const weft_lm *m, const char *path, char *err, size_t errsize)
{
    char **names = NULL;
    weft_tensor *ts = NULL;
    int n = 0, rc = -1;
    char *json[2] = { NULL, NULL };
    weft_meta_kv meta[3];
    if (model_tensors(m, "", &names, &ts, &n) || model_meta(m, meta, json)) {
        weft_say(err, errsize, "%s: out of memory", path);
    } else {
        rc = weft_checkpoint_save_tensors(path, n, (const char *const *)names, ts, meta, 3, err,
                                          errsize);
    }
    free_names(names, n);
    free(ts);
    free(json[0]);
    free(json[1]);
    return rc;
}

/* The model a checkpoint's metadata describes, its parameters still zero;
 * prefix: what is in front of the tensor names ("" in a model file, "model."
 * in a training state). */
static weft_lm *model_from_header(const char *path, const weft_checkpoint *c, const char *prefix,
                                  char *err, size_t errsize)
{
    const char *voc;
    cJSON *o = weft_lm_meta_open(c, path, "lm", " (write it as docs/lm.md describes)",
                                 " (a language model)", &voc, err, errsize);
    if (!o) return NULL;
    weft_lm_config cfg = { 0 };
    weft_vocab *vocab = NULL;
    weft_lm *m = NULL;
    const weft_cell_type *type = NULL;
    void *plugin = NULL;
    if (weft_lm_meta_level(o, &cfg.level, path, err, errsize)) goto done;
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(o, "cell");
    if (!cJSON_IsString(cell) || strlen(cell->valuestring) >= WEFT_LM_CELL_MAX) {
        weft_say(err, errsize, "%s: weft.config: cell must be a cell's name", path);
        goto done;
    }
    snprintf(cfg.cell, sizeof cfg.cell, "%s", cell->valuestring);
    if (weft_lm_meta_int(o, "layers", &cfg.layers, path, err, errsize) ||
        weft_lm_meta_int(o, "hidden", &cfg.hidden, path, err, errsize) ||
        weft_lm_meta_int(o, "embed", &cfg.embed, path, err, errsize) ||
        weft_lm_meta_bool(o, "tied", &cfg.tied, path, err, errsize) ||
        weft_lm_meta_float(o, "dropout", &cfg.dropout, path, err, errsize))
        goto done;
    /* older files have neither key: standard dropout, no embedding dropout */
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(o, "dropout_mode");
    if (mode && !(cJSON_IsString(mode) && (strcmp(mode->valuestring, "standard") == 0 ||
                                           strcmp(mode->valuestring, "variational") == 0))) {
        weft_say(err, errsize, "%s: weft.config: dropout_mode must be \"standard\" or "
                 "\"variational\"", path);
        goto done;
    }
    cfg.variational = mode && strcmp(mode->valuestring, "variational") == 0;
    if (weft_lm_meta_float(o, "dropout_embed", &cfg.dropout_embed, path, err, errsize) ||
        !(vocab = weft_lm_meta_vocab(o, voc, path, err, errsize)))
        goto done;
    int V = weft_vocab_size(vocab);
    if (check_config(&cfg, V, err, errsize)) {
        weft_lm_meta_prefix(path, err, errsize);
        goto done;
    }
    /* a plugin only when the user allowed it (weft_cell_plugin_allow) */
    type = weft_cell_lookup_from_file(cfg.cell, path, &plugin, err, errsize);
    if (!type) goto done;
    /* The sizes against the tensors the file holds, before anything of their
     * size is allocated ("layers": 1000000 or "hidden": 100000 in a small
     * file fail here, at once). The loader checks every tensor again. */
    char name[WEFT_PARAM_NAME_MAX + 16];
    snprintf(name, sizeof name, "%sencoder.weight", prefix);
    if (weft_lm_meta_tensor(c, path, name, 2, (int[]){ V, cfg.embed }, true, err, errsize))
        goto done;
    snprintf(name, sizeof name, "%sdecoder.weight", prefix);
    if (weft_lm_meta_tensor(c, path, name, 2, (int[]){ V, cfg.hidden }, !cfg.tied, err,
                            errsize) < 0)
        goto done;
    snprintf(name, sizeof name, "%sdecoder.bias", prefix);
    if (weft_lm_meta_tensor(c, path, name, 1, (int[]){ V }, true, err, errsize)) goto done;
    char rnn_prefix[32];
    snprintf(rnn_prefix, sizeof rnn_prefix, "%srnn.", prefix);
    weft_rnn_config rc = { .cell = type, .input_size = cfg.embed, .hidden_size = cfg.hidden,
                           .num_layers = cfg.layers, .prefix = rnn_prefix };
    if (weft_rnn_check_checkpoint(&rc, c, path, err, errsize)) goto done;
    m = lm_build(&cfg, vocab, type, plugin, err, errsize);
    plugin = NULL;   /* lm_build's now (closed there on failure) */
    if (!m) {
        weft_lm_meta_prefix(path, err, errsize);
        goto done;
    }
    vocab = NULL;   /* the model's now */
done:
    weft_cell_plugin_close(plugin);
    weft_vocab_free(vocab);
    cJSON_Delete(o);
    return m;
}

/* Load the model's tensors from path, with `prefix` in front of each name.
 * A tied model accepts decoder.weight when it equals encoder.weight. extra:
 * how many more (names, dst) pairs to load in the same read. */
static int load_model_tensors(weft_lm *m, const char *path, const weft_checkpoint *c,
                              const char *prefix, int n_extra, char **extra_names,
                              weft_tensor *extra_dst, char *err, size_t errsize)
{
    char **names = NULL;
    weft_tensor *ts = NULL;
    int n = 0, rc = -1;
    weft_tensor tied_copy = { 0 };
    if (model_tensors(m, prefix, &names, &ts, &n)) {
        weft_say(err, errsize, "%s: out of memory", path);
        return -1;
    }
    /* Read into the store's own buffers; the tied decoder.weight (when the
     * file has it) into a copy, compared below. */
    int k = 0;
    const char **all = calloc((size_t)(n + n_extra), sizeof *all);
    weft_tensor *dst = calloc((size_t)(n + n_extra), sizeof *dst);
    if (!all || !dst) {
        weft_say(err, errsize, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        bool is_tied = m->cfg.tied && strcmp(names[i] + strlen(prefix), "decoder.weight") == 0;
        if (is_tied) {
            if (!weft_checkpoint_find(c, names[i])) continue;
            tied_copy = weft_tensor_alloc(ts[i].rank, ts[i].shape);
            if (!tied_copy.data) {
                weft_say(err, errsize, "%s: out of memory", path);
                goto done;
            }
            dst[k] = tied_copy;
        } else {
            dst[k] = ts[i];
        }
        all[k++] = names[i];
    }
    for (int i = 0; i < n_extra; i++) {
        all[k] = extra_names[i];
        dst[k++] = extra_dst[i];
    }
    /* All or nothing into the store's buffers (weft_checkpoint_load_tensors);
     * a tied copy that differs fails after, and the caller drops the model. */
    if (weft_checkpoint_load_tensors(path, k, all, dst, 0, err, errsize)) goto done;
    if (tied_copy.data && memcmp(tied_copy.data, m->encoder->value.data,
                                 tied_copy.size * sizeof(float)) != 0) {
        weft_say(err, errsize, "%s: the model is tied (weft.config) but %sdecoder.weight differs "
            "from " "%sencoder.weight", path, prefix, prefix);
        goto done;
    }
    rc = 0;
done:
    weft_tensor_release(&tied_copy);
    free(all);
    free(dst);
    free_names(names, n);
    free(ts);
    return rc;
}

weft_lm *weft_lm_load(const char *path, char *err, size_t errsize)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, errsize)) return NULL;
    weft_lm *m = model_from_header(path, &c, "", err, errsize);
    if (m && load_model_tensors(m, path, &c, "", 0, NULL, NULL, err, errsize)) {
        weft_lm_free(m);
        m = NULL;
    }
    weft_checkpoint_free(&c);
    return m;
}

/* --- training state --------------------------------------------------------------------------- */

/* Optimizer state slots in use: SGD with momentum 1, Adam(W) 2, plain SGD 0. */
static int optim_slots(const weft_optim *o)
{
    if (o->kind == WEFT_ADAM || o->kind == WEFT_ADAMW) return 2;
    return o->momentum != 0.0 ? 1 : 0;
}

static const char *schedule_name(weft_lr_kind k)
{
    return k == WEFT_LR_PLATEAU ? "plateau" : k == WEFT_LR_COSINE ? "cosine" : "step";
}

static char *run_json(const weft_lm_run *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "epoch", r->epoch);
    cJSON_AddNumberToObject(o, "next_start", r->next_start);
    cJSON_AddNumberToObject(o, "windows", (double)r->windows);
    cJSON_AddNumberToObject(o, "lr", r->lr);
    cJSON_AddNumberToObject(o, "best_valid", r->best_valid);
    cJSON_AddNumberToObject(o, "train_tokens", (double)r->train_tokens);
    cJSON_AddNumberToObject(o, "lr0", r->lr0);
    cJSON_AddNumberToObject(o, "decay", r->decay);
    cJSON_AddNumberToObject(o, "decay_start", r->decay_start);
    cJSON_AddNumberToObject(o, "clip", (double)r->clip);
    cJSON_AddNumberToObject(o, "batch", r->batch);
    cJSON_AddNumberToObject(o, "bptt", r->bptt);
    cJSON_AddNumberToObject(o, "epochs", r->epochs);
    weft_train_json_add_optim(o, "optim", &r->optim);
    cJSON *rng = cJSON_AddArrayToObject(o, "rng");
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(rng, cJSON_CreateNumber(r->rng.s[i]));
    if (r->has_trainer) {
        cJSON *t = cJSON_AddObjectToObject(o, "trainer");
        cJSON_AddStringToObject(t, "schedule", schedule_name(r->schedule.kind));
        cJSON_AddNumberToObject(t, "min_lr", r->schedule.min_lr);
        cJSON_AddNumberToObject(t, "plateau_patience", r->schedule.plateau_patience);
        cJSON_AddNumberToObject(t, "warmup_steps", (double)r->schedule.warmup_steps);
        cJSON_AddNumberToObject(t, "accumulate", r->accumulate);
        cJSON_AddNumberToObject(t, "patience", r->patience);
        cJSON_AddNumberToObject(t, "lr_scale", r->lr_scale);
        cJSON_AddNumberToObject(t, "best_epoch", r->best_epoch);
        cJSON_AddNumberToObject(t, "bad_epochs", r->bad_epochs);
        cJSON_AddNumberToObject(t, "plateau_bad", r->plateau_bad);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* A number of o in [lo, hi], whole when asked: 0, or -1 with a message
 * naming the key (an unchecked double -> int cast is undefined behaviour for
 * values out of range, and a release build would wrap them). obj names the
 * object the key is in ("" at the top). */
static int num(const cJSON *o, const char *obj, const char *key, double lo, double hi,
               bool integral, double *out, char *err, size_t errsize)
{
    char why[256];
    if (weft_train_json_num(o, key, lo, hi, integral, out, why, sizeof why)) return 0;
    weft_say(err, errsize, "%s%s", obj, why);
    return -1;
}

/* The "trainer" object of weft.run (see weft_lm_run). */
static int parse_trainer(const cJSON *t, weft_lm_run *r, char *err, size_t errsize)
{
    const char *o = "\"trainer\": ";
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(t, "schedule");
    if (!cJSON_IsObject(t) || !cJSON_IsString(kind)) {
        weft_say(err, errsize, "\"trainer\" is not an object with a \"schedule\" name");
        return -1;
    }
    if (strcmp(kind->valuestring, "step") == 0) r->schedule.kind = WEFT_LR_STEP;
    else if (strcmp(kind->valuestring, "plateau") == 0) r->schedule.kind = WEFT_LR_PLATEAU;
    else if (strcmp(kind->valuestring, "cosine") == 0) r->schedule.kind = WEFT_LR_COSINE;
    else {
        weft_say(err, errsize, "%s\"schedule\" \"%.40s\" is not step, plateau or cosine", o,
                 kind->valuestring);
        return -1;
    }
    double x[9];
    if (num(t, o, "min_lr", 0, 1e30, false, &x[0], err, errsize) ||
        num(t, o, "plateau_patience", 0, 1e9, true, &x[1], err, errsize) ||
        num(t, o, "warmup_steps", 0, 1e15, true, &x[2], err, errsize) ||
        num(t, o, "accumulate", 1, 1e6, true, &x[3], err, errsize) ||
        num(t, o, "patience", 0, 1e9, true, &x[4], err, errsize) ||
        num(t, o, "lr_scale", 1e-300, 1, false, &x[5], err, errsize) ||
        num(t, o, "best_epoch", 0, 1e9, true, &x[6], err, errsize) ||
        num(t, o, "bad_epochs", 0, 1e9, true, &x[7], err, errsize) ||
        num(t, o, "plateau_bad", 0, 1e9, true, &x[8], err, errsize))
        return -1;
    r->schedule.min_lr = x[0];
    r->schedule.plateau_patience = (int)x[1];
    r->schedule.warmup_steps = (long)x[2];
    r->accumulate = (int)x[3];
    r->patience = (int)x[4];
    r->lr_scale = x[5];
    r->best_epoch = (int)x[6];
    r->bad_epochs = (int)x[7];
    r->plateau_bad = (int)x[8];
    r->has_trainer = true;
    return 0;
}

/* "weft.run" into *r, every field checked against its range. 0, or -1 with
 * a message naming the field. */
static int parse_run(const char *s, weft_lm_run *r, char *err, size_t errsize)
{
    memset(r, 0, sizeof *r);
    r->schedule = (weft_lr_schedule){ .kind = WEFT_LR_STEP };
    r->accumulate = 1;
    r->lr_scale = 1.0;
    cJSON *o = cJSON_Parse(s);
    int rc = -1;
    if (!cJSON_IsObject(o)) {
        weft_say(err, errsize, "not a JSON object");
        goto done;
    }
    const double BIG = 9007199254740992.0;   /* 2^53: the whole numbers a double holds */
    const char *top = "";
    double x[13];
    if (num(o, top, "epoch", 1, 1e9, true, &x[0], err, errsize) ||
        num(o, top, "next_start", 0, 2147483647.0, true, &x[1], err, errsize) ||
        num(o, top, "windows", 0, BIG, true, &x[2], err, errsize) ||
        num(o, top, "lr", 0, 1e30, false, &r->lr, err, errsize) ||
        num(o, top, "best_valid", 0, 1e300, false, &r->best_valid, err, errsize) ||
        num(o, top, "train_tokens", 2, BIG, true, &x[3], err, errsize) ||
        num(o, top, "lr0", 0, 1e30, false, &r->lr0, err, errsize) ||
        num(o, top, "decay", 0, 1, false, &r->decay, err, errsize) ||
        num(o, top, "decay_start", 1, 1e9, true, &x[4], err, errsize) ||
        num(o, top, "clip", 0, 1e30, false, &x[5], err, errsize) ||
        num(o, top, "batch", 1, 1 << 20, true, &x[6], err, errsize) ||
        num(o, top, "bptt", 1, 1 << 20, true, &x[7], err, errsize) ||
        num(o, top, "epochs", 0, 1e9, true, &x[8], err, errsize))
        goto done;
    r->epoch = (int)x[0];
    r->next_start = (int)x[1];
    r->windows = (long)x[2];
    r->train_tokens = (size_t)x[3];
    r->decay_start = (int)x[4];
    r->clip = (float)x[5];
    r->batch = (int)x[6];
    r->bptt = (int)x[7];
    r->epochs = (int)x[8];
    if (r->next_start % r->bptt != 0 ||
        (size_t)r->next_start >= r->train_tokens / (size_t)r->batch) {
        weft_say(err, errsize, "\"next_start\" %d is not the start of a window of %d steps "
                 "in streams of %zu", r->next_start, r->bptt, r->train_tokens / (size_t)r->batch);
        goto done;
    }
    if (weft_train_json_optim(cJSON_GetObjectItemCaseSensitive(o, "optim"), &r->optim, err,
                              errsize))
        goto done;
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(o, "rng");
    if (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4) {
        weft_say(err, errsize, "\"rng\" is not a list of 4 numbers");
        goto done;
    }
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetArrayItem(rng, i);
        double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!(d >= 0 && d <= 4294967295.0 && d == floor(d))) {
            weft_say(err, errsize, "\"rng\"[%d] is not a whole number in [0, 2^32)", i);
            goto done;
        }
        r->rng.s[i] = (uint32_t)d;
    }
    if (!(r->rng.s[0] | r->rng.s[1] | r->rng.s[2] | r->rng.s[3])) {
        weft_say(err, errsize, "\"rng\" is all zero, which the generator never reaches");
        goto done;
    }
    r->schedule.decay = r->decay;
    r->schedule.decay_start = r->decay_start;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "trainer");
    if (t && parse_trainer(t, r, err, errsize)) goto done;
    rc = 0;
done:
    cJSON_Delete(o);
    return rc;
}

/* The optimizer slots of the store as tensors named optim.<k>.<param>. */
static int slot_tensors(const weft_lm *m, int slots, char **names, weft_tensor *ts)
{
    int np = weft_params_count(m->params), k = 0;
    for (int s = 0; s < slots; s++) {
        float *base = weft_params_state(m->params, s);
        if (!base) return -1;
        for (int i = 0; i < np; i++) {
            weft_param *p = weft_params_at(m->params, i);
            size_t len = strlen(p->name) + 16;
            if (!(names[k] = malloc(len))) return -1;
            snprintf(names[k], len, "optim.%d.%s", s, p->name);
            ts[k++] = weft_tensor_wrap(base + p->offset, p->value.rank, p->value.shape);
        }
    }
    return k;
}

int weft_lm_save_run(const weft_lm *m, const weft_lm_run *run, const weft_state *carry,
                     const char *path, char *err, size_t errsize)
{
    char **names = NULL;
    weft_tensor *ts = NULL;
    int n = 0, rc = -1;
    char *json[3] = { NULL, NULL, NULL };
    weft_meta_kv meta[4];
    char **all = NULL;
    weft_tensor *all_ts = NULL;
    int slots = optim_slots(&run->optim), np = weft_params_count(m->params);
    int n_carry = carry ? carry->n : 0;
    int total = 0, cap = 0;
    if (model_tensors(m, "model.", &names, &ts, &n) || model_meta(m, meta, json) ||
        !(json[2] = run_json(run)))
        goto oom;
    meta[3] = (weft_meta_kv){ "weft.run", json[2] };
    cap = n + slots * np + n_carry;
    all = calloc((size_t)cap, sizeof *all);
    all_ts = calloc((size_t)cap, sizeof *all_ts);
    if (!all || !all_ts) goto oom;
    for (int i = 0; i < n; i++) {
        all[total] = names[i];
        names[i] = NULL;
        all_ts[total++] = ts[i];
    }
    int ns = slot_tensors(m, slots, all + total, all_ts + total);
    if (ns < 0) goto oom;
    total += ns;
    for (int i = 0; i < n_carry; i++) {
        if (!(all[total] = malloc(24))) goto oom;
        snprintf(all[total], 24, "carry.%d", i);
        all_ts[total++] = carry->t[i];
    }
    rc = weft_checkpoint_save_tensors(path, total, (const char *const *)all, all_ts, meta, 4, err,
                                      errsize);
    goto done;
oom:
    weft_say(err, errsize, "%s: out of memory", path);
done:
    free_names(names, n);
    free(ts);
    free_names(all, cap);
    free(all_ts);
    for (int i = 0; i < 3; i++) free(json[i]);
    return rc;
}

weft_lm *weft_lm_load_run(const char *path, weft_lm_run *run, weft_state *carry, char *err,
                          size_t errsize)
{
    *carry = (weft_state){ 0 };
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, errsize)) return NULL;
    weft_lm *m = model_from_header(path, &c, "model.", err, errsize);
    char **names = NULL;
    weft_tensor *dst = NULL;
    int n = 0, cap = 0;
    if (!m) goto fail;
    const char *rs = weft_checkpoint_meta(&c, "weft.run");
    char why[512];
    if (!rs) {
        weft_say(err, errsize, "%s: not a training state file: \"weft.run\" is missing from the "
                 "metadata", path);
        goto fail;
    }
    if (parse_run(rs, run, why, sizeof why)) {
        weft_say(err, errsize, "%s: weft.run: %s", path, why);
        goto fail;
    }
    int slots = optim_slots(&run->optim), np = weft_params_count(m->params);
    int n_carry = 0;
    for (int i = 0; i < c.n_tensors; i++)
        if (strncmp(c.tensors[i].name, "carry.", 6) == 0) n_carry++;
    /* the carried state: none at the start of an epoch, every layer's in the
       middle of one (a window there started from zeros would not be the run) */
    int want = weft_rnn_num_states(m->rnn);
    if (n_carry != 0 && n_carry != want) {
        weft_say(err, errsize, "%s: %d carried state tensors; the model carries %d", path,
                 n_carry, want);
        goto fail;
    }
    if (run->next_start > 0 && n_carry == 0) {
        weft_say(err, errsize, "%s: the state is in the middle of epoch %d (step %d) but holds "
                 "no carried hidden state", path, run->epoch, run->next_start);
        goto fail;
    }
    cap = slots * np + n_carry + 1;
    names = calloc((size_t)cap, sizeof *names);
    dst = calloc((size_t)cap, sizeof *dst);
    if (!names || !dst) goto oom;
    weft_params_reset_state(m->params);
    int ns = slot_tensors(m, slots, names, dst);
    if (ns < 0) goto oom;
    n = ns;
    if (n_carry > 0) {
        carry->t = calloc((size_t)n_carry, sizeof *carry->t);
        if (!carry->t) goto oom;
        carry->n = n_carry;
    }
    for (int i = 0; i < n_carry; i++) {
        char name[24];
        snprintf(name, sizeof name, "carry.%d", i);
        const weft_checkpoint_tensor *t = weft_checkpoint_find(&c, name);
        if (!t || t->rank != 2 || t->shape[0] != run->batch || t->shape[1] != m->cfg.hidden) {
            weft_say(err, errsize, "%s: the carried state tensor '%s' is missing or not [%d, %d]",
                path, name, run->batch, m->cfg.hidden);
            goto fail;
        }
        carry->t[i] = weft_tensor_alloc2((int)t->shape[0], (int)t->shape[1]);
        if (!carry->t[i].data || !(names[n] = strdup(name))) goto oom;
        dst[n++] = carry->t[i];
    }
    if (load_model_tensors(m, path, &c, "model.", n, names, dst, err, errsize)) goto fail;
    free_names(names, cap);
    free(dst);
    weft_checkpoint_free(&c);
    return m;
oom:
    weft_say(err, errsize, "%s: out of memory", path);
fail:
    free_names(names, cap);
    free(dst);
    weft_state_free(carry);
    weft_lm_free(m);
    weft_checkpoint_free(&c);
    return NULL;
}
