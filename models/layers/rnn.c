/* models/layers/rnn.c — stacked and bidirectional layers of any cell, unrolled over
 * a ragged batch (weft/rnn.h).
 *
 * The unroll runs layer by layer; within a layer, each direction runs its
 * whole time loop. A ragged batch is handled with public ops only: at a step
 * t where some sequence has already ended (t >= lengths[b]), with m the
 * column [B, 1] of m_b = 1 if t < lengths[b] else 0,
 *
 *     s_t = s_new ⊙ m + s_{t-1} ⊙ (1 - m)      (state carried past the end)
 *     y_t = h_new ⊙ m                          (output zero past the end)
 *
 * Steps where every sequence is still running get no masking at all. The
 * backward direction runs t = T-1 .. 0 with the same rule: sequence b's state
 * stays the initial one until t = lengths[b] - 1, its true last step.
 *
 * By length (opts.by_length): the masked rule costs T x B steps however
 * short most sequences are. A batch sorted longest first, on a cell with a
 * fused step, runs packed (as PyTorch's packed sequences): the N rows (t, b)
 * that run are gathered time-major, projected as N rows, and step t reads its
 * n_t rows of a packed sequence (weft_seq_new_packed), so the projection, its
 * gradients and the chain's weight gradient cost N rows, not T x B. Any other
 * batch: the columns are grouped by length (down to 3/4 of a group's
 * longest), each group runs as its own padded batch over its own longest
 * length, and gathers put the outputs and final states back in the batch's
 * order. Either way about the sum of the lengths, with the same numbers. */
#include "weft/rnn.h"
#include "weft/dropout.h"
#include "weft/ops.h"
#include "src/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct weft_rnn {
    weft_rnn_config cfg;
    char prefix[WEFT_PARAM_NAME_MAX];
    int dirs;
    weft_cell *cells;            /* num_layers * dirs, index layer * dirs + dir */
};

weft_rnn *weft_rnn_new(weft_params *s, const weft_rnn_config *cfg, char *err, size_t errsize)
{
    if (!s || !cfg || !cfg->cell) {
        snprintf(err, errsize, "rnn: no %s given", !s ? "parameter store" : !cfg ? "configuration"
                 : "cell type");
        return NULL;
    }
    if (cfg->input_size < 1 || cfg->hidden_size < 1 || cfg->num_layers < 1) {
        snprintf(err, errsize, "rnn (%s): input size %d, hidden size %d and layers %d must all "
                 "be >= 1", cfg->cell->name, cfg->input_size, cfg->hidden_size, cfg->num_layers);
        return NULL;
    }
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f)) {
        snprintf(err, errsize, "rnn (%s): dropout %g is not in [0, 1)", cfg->cell->name,
                 (double)cfg->dropout);
        return NULL;
    }
    const char *prefix = cfg->prefix ? cfg->prefix : "";
    if (strlen(prefix) >= WEFT_PARAM_NAME_MAX) {
        snprintf(err, errsize, "rnn: prefix '%s' is too long", prefix);
        return NULL;
    }
    weft_rnn *r = calloc(1, sizeof *r);
    int dirs = cfg->bidirectional ? 2 : 1;
    if (r) r->cells = calloc((size_t)cfg->num_layers * (size_t)dirs, sizeof *r->cells);
    if (!r || !r->cells) {
        free(r);
        snprintf(err, errsize, "rnn: out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    r->cfg.prefix = r->prefix;
    r->dirs = dirs;
    int H = cfg->hidden_size;
    for (int l = 0; l < cfg->num_layers; l++) {
        for (int d = 0; d < dirs; d++) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, "_l%d%s", l, d ? "_reverse" : "");
            weft_cell *c = &r->cells[l * dirs + d];
            int I = l == 0 ? cfg->input_size : H * dirs;
            if (weft_cell_bind(c, cfg->cell, I, H, s, r->prefix, suffix, err, errsize)) {
                weft_rnn_free(r);
                return NULL;
            }
            c->layer = l;
            c->dir = d;
        }
    }
    return r;
}

int weft_rnn_check_checkpoint(const weft_rnn_config *cfg, const weft_checkpoint *c,
                              const char *path, char *err, size_t errsize)
{
    enum { MAX_WIDTH = 1 << 24 };
    int L = cfg->num_layers, H = cfg->hidden_size, dirs = cfg->bidirectional ? 2 : 1;
    const char *prefix = cfg->prefix ? cfg->prefix : "";
    if (L < 1 || H < 1 || cfg->input_size < 1 || H > MAX_WIDTH || cfg->input_size > MAX_WIDTH) {
        snprintf(err, errsize, "%s: layers %d, input size %d and hidden size %d must be in "
                 "[1, %d]", path, L, cfg->input_size, H, MAX_WIDTH);
        return -1;
    }
    /* every layer has at least one tensor of its own */
    if ((int64_t)L * dirs > c->n_tensors) {
        snprintf(err, errsize, "%s: the configuration asks for %d layers but the file holds %d "
                 "tensors in all", path, L, c->n_tensors);
        return -1;
    }
    for (int l = 0; l < L; l++) {
        for (int d = 0; d < dirs; d++) {
            weft_cell_param_spec specs[WEFT_CELL_MAX_PARAMS];
            int I = l == 0 ? cfg->input_size : H * dirs;
            int n = weft_cell_type_params(cfg->cell, I, H, specs, err, errsize);
            if (n < 0) return -1;
            for (int k = 0; k < n; k++) {
                char name[1024];
                int len = snprintf(name, sizeof name, "%s%s_l%d%s", prefix, specs[k].name, l,
                                   d ? "_reverse" : "");
                if (len < 0 || len >= (int)sizeof name) continue;   /* refused when built */
                const weft_checkpoint_tensor *t = weft_checkpoint_find(c, name);
                bool ok = t && strcmp(t->dtype, "F32") == 0 && t->rank == specs[k].rank;
                for (int i = 0; ok && i < specs[k].rank; i++) ok = t->shape[i] == specs[k].shape[i];
                if (!ok) {
                    char want[64];
                    if (specs[k].rank == 1) snprintf(want, sizeof want, "[%d]", specs[k].shape[0]);
                    else snprintf(want, sizeof want, "[%d, %d]", specs[k].shape[0],
                                  specs[k].shape[1]);
                    snprintf(err, errsize, "%s: the configuration (cell %s, %d layer%s, hidden "
                             "%d) needs tensor '%s' F32 %s, which the file %s", path,
                             cfg->cell->name, L, L == 1 ? "" : "s", H, name, want,
                             t ? "holds with another dtype or shape" : "lacks");
                    return -1;
                }
            }
        }
    }
    return 0;
}

void weft_rnn_free(weft_rnn *r)
{
    if (!r) return;
    free(r->cells);
    free(r);
}

int weft_rnn_reset_parameters(weft_rnn *r, weft_rng *rng)
{
    for (int i = 0; i < r->cfg.num_layers * r->dirs; i++)
        if (weft_cell_reset_parameters(&r->cells[i], rng)) return -1;
    return 0;
}

const weft_rnn_config *weft_rnn_get_config(const weft_rnn *r)
{
    return &r->cfg;
}

int weft_rnn_dirs(const weft_rnn *r)
{
    return r->dirs;
}

int weft_rnn_num_states(const weft_rnn *r)
{
    return r->cfg.num_layers * r->dirs * r->cfg.cell->n_states;
}

const weft_cell *weft_rnn_cell(const weft_rnn *r, int layer, int dir)
{
    if (layer < 0 || layer >= r->cfg.num_layers || dir < 0 || dir >= r->dirs) return NULL;
    return &r->cells[layer * r->dirs + dir];
}

int weft_rnn_output_size(const weft_rnn *r)
{
    return r->cfg.hidden_size * r->dirs;
}

size_t weft_rnn_numel(const weft_rnn *r)
{
    size_t n = 0;
    for (int i = 0; i < r->cfg.num_layers * r->dirs; i++) n += weft_cell_numel(&r->cells[i]);
    return n;
}

void weft_state_free(weft_state *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++) weft_tensor_release(&s->t[i]);
    free(s->t);
    s->t = NULL;
    s->n = 0;
}

int weft_state_detach(const weft_rnn_out *out, weft_state *carry)
{
    if (carry->n != out->n_final) {
        weft_state_free(carry);
        carry->t = calloc((size_t)out->n_final, sizeof *carry->t);
        if (!carry->t) return -1;
        carry->n = out->n_final;
    }
    for (int i = 0; i < out->n_final; i++) {
        const weft_tensor *v = &out->final[i]->value;
        if (!weft_tensor_same_shape(&carry->t[i], v)) {
            weft_tensor_release(&carry->t[i]);
            carry->t[i] = weft_tensor_alloc(v->rank, v->shape);
            if (!carry->t[i].data) {
                weft_state_free(carry);
                return -1;
            }
        }
        weft_tensor_copy(&carry->t[i], v);
    }
    return 0;
}

/* --- unrolling ------------------------------------------------------------------ */

/* What one unroll needs as it goes. */
typedef struct unroll_ctx {
    weft_graph *g;
    const weft_rnn *r;
    int T, B;
    const int *lengths;          /* arena copy, or NULL */
    int min_len;                 /* steps t >= min_len need masking */
    weft_var **keep, **drop;     /* per step: m and 1 - m as [B, 1] leaves, made when needed */
} unroll_ctx;

static void set_scope(weft_graph *g, int t, int layer, int dir, const char *cell)
{
    weft_graph_set_scope(g, (weft_scope){ t, layer, dir, cell });
}

/* m and 1 - m for step t (leaves without gradient, shared by every layer). */
static int step_masks(unroll_ctx *u, int t)
{
    if (u->keep[t]) return 0;
    weft_scope saved = weft_graph_scope(u->g);
    set_scope(u->g, t, -1, -1, NULL);
    int shape[2] = { u->B, 1 };
    u->keep[t] = weft_input_zeros(u->g, 2, shape, "running", false);
    u->drop[t] = weft_input_zeros(u->g, 2, shape, "ended", false);
    weft_graph_set_scope(u->g, saved);
    if (!u->keep[t] || !u->drop[t]) return -1;
    for (int b = 0; b < u->B; b++) {
        bool running = t < u->lengths[b];
        u->keep[t]->value.data[b] = running ? 1.0f : 0.0f;
        u->drop[t]->value.data[b] = running ? 0.0f : 1.0f;
    }
    return 0;
}

/* The name of a cell's state k in drawings: the type's ("h", "c"), else "s<k>"
 * (in g's arena). NULL only when the arena is full (the node is then unnamed). */
static const char *state_label(weft_graph *g, const weft_cell_type *t, int k)
{
    if (t->state_names[k]) return t->state_names[k];
    char *name = weft_graph_alloc(g, 16);
    if (name) snprintf(name, 16, "s%d", k);
    return name;
}

/* A zero initial state leaf named like "h0_l1_reverse". */
static weft_var *zero_state(unroll_ctx *u, int layer, int dir, int k)
{
    const weft_cell_type *t = u->r->cfg.cell;
    char *name = weft_graph_alloc(u->g, 48);
    if (!name) return NULL;
    if (t->state_names[k]) snprintf(name, 48, "%s0_l%d%s", t->state_names[k], layer,
                                    dir ? "_reverse" : "");
    else snprintf(name, 48, "s%d_0_l%d%s", k, layer, dir ? "_reverse" : "");
    int shape[2] = { u->B, u->r->cfg.hidden_size };
    weft_var *v = weft_input_zeros(u->g, 2, shape, name, false);
    if (v) v->kind = WEFT_NODE_STATE;
    return v;
}

/* The dropout mask for the outputs of layer `layer` at step t, or NULL for
 * none (*fail set when something went wrong). */
static weft_var *dropout_mask(unroll_ctx *u, const weft_unroll_opts *o, int layer, int t,
                              int width, bool *fail)
{
    weft_graph *g = u->g;
    const weft_rnn_config *cfg = &u->r->cfg;
    if (cfg->dropout <= 0.0f || layer == cfg->num_layers - 1) return NULL;
    if (o->dropout_masks) {
        weft_var *m = o->dropout_masks[layer];
        if (!m) {
            *fail = true;
            return weft_graph_fail(g, "unroll: dropout mask %d is NULL", layer);
        }
        if (m->value.rank == 3) {
            if (m->value.shape[0] != u->T || m->value.shape[1] != u->B ||
                m->value.shape[2] != width) {
                char s[64];
                *fail = true;
                return weft_graph_fail(g, "unroll: dropout mask %d is %s, expected [%d, %d, %d] "
                                       "(T, B, H*dirs), [%d, %d] or [%d]", layer,
                                       weft_shape_str(&m->value, s, sizeof s), u->T, u->B,
                                       width, u->B, width, width);
            }
            m = weft_narrow(g, m, t, 1);
        }
        if (!m) *fail = true;
        return m;
    }
    if (!o->dropout_rng) return NULL;
    weft_var *m = weft_dropout_mask(g, o->dropout_rng, cfg->dropout, 2,
                                    (int[]){ u->B, width });
    if (!m) *fail = true;
    return m;
}

static int check_inputs(unroll_ctx *u, weft_var *xs, const weft_unroll_opts *o)
{
    weft_graph *g = u->g;
    const weft_rnn *r = u->r;
    const weft_rnn_config *cfg = &r->cfg;
    char s[64];
    if (!xs) return weft_graph_fail(g, "unroll (%s): no input (NULL: an op before it failed)",
                                    cfg->cell->name), -1;
    if (xs->value.rank != 3 || xs->value.shape[2] != cfg->input_size)
        return weft_graph_fail(g, "unroll (%s): input is %s, expected [T, B, %d] (steps, batch, "
                               "the model's input size)", cfg->cell->name,
                               weft_shape_str(&xs->value, s, sizeof s), cfg->input_size), -1;
    u->T = xs->value.shape[0];
    u->B = xs->value.shape[1];
    u->min_len = u->T;
    if (o->lengths) {
        int *copy = weft_graph_alloc(g, (size_t)u->B * sizeof(int));
        if (!copy) return -1;
        for (int b = 0; b < u->B; b++) {
            if (o->lengths[b] < 1 || o->lengths[b] > u->T)
                return weft_graph_fail(g, "unroll (%s): lengths[%d] = %d is not in [1, %d] "
                                       "(input %s)", cfg->cell->name, b, o->lengths[b], u->T,
                                       weft_shape_str(&xs->value, s, sizeof s)), -1;
            copy[b] = o->lengths[b];
            if (copy[b] < u->min_len) u->min_len = copy[b];
        }
        u->lengths = copy;
    }
    if (!o->input_table != !o->input_ids)
        return weft_graph_fail(g, "unroll (%s): input_table and input_ids go together",
                               cfg->cell->name), -1;
    if (o->input_table) {
        const weft_tensor *t = &o->input_table->value;
        if (t->rank != 2 || t->shape[1] != cfg->input_size)
            return weft_graph_fail(g, "unroll (%s): input_table is %s, expected [V, %d] "
                                   "(vocabulary, the model's input size)", cfg->cell->name,
                                   weft_shape_str(t, s, sizeof s), cfg->input_size), -1;
    }
    int n = weft_rnn_num_states(r), H = cfg->hidden_size;
    if (o->init && o->init->n != n)
        return weft_graph_fail(g, "unroll (%s): the initial state has %d tensors, the model "
                               "carries %d (layers x directions x states)", cfg->cell->name,
                               o->init->n, n), -1;
    for (int i = 0; i < n && (o->init || o->init_vars); i++) {
        const weft_tensor *t = o->init_vars ? (o->init_vars[i] ? &o->init_vars[i]->value : NULL)
                                            : &o->init->t[i];
        if (!t) return -1;
        if (t->rank != 2 || t->shape[0] != u->B || t->shape[1] != H)
            return weft_graph_fail(g, "unroll (%s): initial state %d is %s, expected [%d, %d] "
                                   "(batch, hidden)", cfg->cell->name, i,
                                   weft_shape_str(t, s, sizeof s), u->B, H), -1;
    }
    return 0;
}

/* The first layer's input projection through the embedding table (see
 * input_table in weft/rnn.h): project_inputs on the table's V rows, taken as
 * V steps of batch 1, then every (t, b) looks up row ids[t·B + b]:
 *     xp[t, b] = project(table)[ids[t·B + b]] = project(table[ids[t·B + b]])
 * since project_inputs acts row by row. Backward runs the same way back: the
 * lookup adds each row's gradient into its id's row of project(table), and
 * the projection's backward is a product over V rows, not T·B. */
static weft_var *project_through_table(const weft_cell *c, weft_graph *g, weft_var *table,
                                       const int *ids, int n)
{
    int V = table->value.shape[0], I = table->value.shape[1];
    weft_var *rows = weft_reshape(g, table, 3, (int[]){ V, 1, I });
    weft_var *projected = rows ? c->type->project_inputs(c, g, rows) : NULL;
    if (!projected) return NULL;
    const weft_tensor *p = &projected->value;
    if (p->rank != 3 || p->shape[0] != V || p->shape[1] != 1) {
        char s[64];
        return weft_graph_fail(g, "cell '%s': project_inputs made %s from the table's [%d, 1, %d], "
                               "expected [%d, 1, P]", c->type->name,
                               weft_shape_str(p, s, sizeof s), V, I, V);
    }
    int P = p->shape[2];
    return weft_embedding(g, weft_reshape(g, projected, 2, (int[]){ V, P }), ids, n);
}

/* --- a ragged batch as groups of similar length (opts.by_length) -------------------------- */

/* The columns of the batch in groups: order[] the columns longest first
 * (stable), group k is order[start[k] .. start[k + 1]), a group holding
 * lengths down to 3/4 of its longest. Returns the number of groups, or -1
 * when out of memory. */
static int length_groups(weft_graph *g, const int *len, int B, int **order_out, int **start_out)
{
    int *order = weft_graph_alloc(g, (size_t)B * sizeof(int));
    int *start = weft_graph_alloc(g, ((size_t)B + 1) * sizeof(int));
    if (!order || !start) return -1;
    for (int b = 0; b < B; b++) {   /* insertion sort: stable, and batches come sorted */
        int j = b;
        while (j > 0 && len[order[j - 1]] < len[b]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = b;
    }
    int n = 0;
    for (int i = 0; i < B; i++)
        if (i == 0 || 4 * len[order[i]] < 3 * len[order[start[n - 1]]]) start[n++] = i;
    start[n] = B;
    *order_out = order;
    *start_out = start;
    return n;
}

/* The rows ids[0..n) of x read as [rows, F] (a gather; the gradient is
 * scattered back). */
static weft_var *gather_rows(weft_graph *g, weft_var *x, int rows, const int *ids, int n)
{
    int F = weft_tensor_cols(&x->value);
    return weft_embedding(g, weft_reshape(g, x, 2, (int[]){ rows, F }), ids, n);
}

/* Each group unrolled as a padded batch of its own (weft_unroll without
 * by_length), then one gather puts every (t, b) output back, and one per
 * state the final states; padded (t, b) read a row of zeros. */
static int unroll_by_length(weft_graph *g, const weft_rnn *r, weft_var *xs,
                            const weft_unroll_opts *o, const int *order, const int *start,
                            int n_groups, weft_rnn_out *out)
{
    int T = xs->value.shape[0], B = xs->value.shape[1], I = xs->value.shape[2];
    int n_final = weft_rnn_num_states(r), width = weft_rnn_output_size(r);
    const int *len = o->lengths;
    weft_var **group_seq = weft_graph_calloc(g, ((size_t)n_groups + 1) * sizeof(weft_var *));
    weft_var ***group_final = weft_graph_calloc(g, (size_t)n_groups * sizeof(weft_var **));
    int *row_of = weft_graph_alloc(g, (size_t)T * B * sizeof(int));    /* (t, b) -> row */
    int *col_of = weft_graph_alloc(g, (size_t)B * sizeof(int));        /* b -> row of finals */
    if (!group_seq || !group_final || !row_of || !col_of) return -1;
    /* the initial states as nodes, to be gathered per group */
    weft_var **init = NULL;
    if (o->init || o->init_vars) {
        init = weft_graph_calloc(g, (size_t)n_final * sizeof *init);
        if (!init) return -1;
        for (int i = 0; i < n_final; i++) {
            init[i] = o->init_vars ? o->init_vars[i]
                                   : weft_state_leaf(g, &o->init->t[i], "carried state", false);
            if (!init[i]) return -1;
        }
    }
    /* row 0 of the assembled outputs is zeros: every padded (t, b) reads it */
    group_seq[0] = weft_input_zeros(g, 2, (int[]){ 1, width }, "padding", false);
    if (!group_seq[0]) return -1;
    for (int i = 0; i < T * B; i++) row_of[i] = 0;
    int rows = 1, chained = 0;
    for (int k = 0; k < n_groups; k++) {
        const int *cols = order + start[k];
        int n = start[k + 1] - start[k], Tg = len[cols[0]];
        int *ids = weft_graph_alloc(g, (size_t)Tg * n * sizeof(int));
        int *glen = weft_graph_alloc(g, (size_t)n * sizeof(int));
        if (!ids || !glen) return -1;
        bool ragged = false;
        for (int j = 0; j < n; j++) {
            glen[j] = len[cols[j]];
            ragged |= glen[j] != Tg;
            col_of[cols[j]] = start[k] + j;
            for (int t = 0; t < Tg; t++) {
                ids[t * n + j] = t * B + cols[j];
                if (t < glen[j]) row_of[t * B + cols[j]] = rows + t * n + j;
            }
        }
        weft_unroll_opts sub = { .lengths = ragged ? glen : NULL,
                                 .dropout_rng = o->dropout_rng, .composed = o->composed };
        weft_var **sub_init = NULL;
        if (init) {
            sub_init = weft_graph_calloc(g, (size_t)n_final * sizeof *sub_init);
            if (!sub_init) return -1;
            for (int i = 0; i < n_final; i++) sub_init[i] = weft_embedding(g, init[i], cols, n);
            sub.init_vars = sub_init;
        }
        if (o->input_table) {   /* the group's ids in the table, time-major */
            int *tid = weft_graph_alloc(g, (size_t)Tg * n * sizeof(int));
            if (!tid) return -1;
            for (int i = 0; i < Tg * n; i++) tid[i] = o->input_ids[ids[i]];
            sub.input_table = o->input_table;
            sub.input_ids = tid;
        }
        weft_var *xg = weft_reshape(g, gather_rows(g, xs, T * B, ids, Tg * n), 3,
                                    (int[]){ Tg, n, I });
        weft_rnn_out og;
        if (weft_unroll(g, r, xg, &sub, &og)) return -1;
        group_seq[k + 1] = weft_reshape(g, og.seq, 2, (int[]){ Tg * n, width });
        group_final[k] = og.final;
        chained += og.chained_steps;
        rows += Tg * n;
    }
    /* everything back in the batch's order: one gather for the outputs, one
     * for each final state */
    weft_var *all = weft_concat_rows(g, group_seq, n_groups + 1);
    weft_var *seq = weft_reshape(g, weft_embedding(g, all, row_of, T * B), 3,
                                 (int[]){ T, B, width });
    weft_var **final = weft_graph_calloc(g, (size_t)n_final * sizeof *final);
    weft_var **steps = weft_graph_calloc(g, (size_t)T * sizeof *steps);
    weft_var **parts = weft_graph_calloc(g, (size_t)n_groups * sizeof *parts);
    if (!seq || !final || !steps || !parts) return -1;
    for (int i = 0; i < n_final; i++) {
        for (int k = 0; k < n_groups; k++) parts[k] = group_final[k][i];
        final[i] = weft_embedding(g, weft_concat_rows(g, parts, n_groups), col_of, B);
    }
    for (int t = 0; t < T; t++) steps[t] = weft_narrow(g, seq, t, 1);
    out->T = T;
    out->B = B;
    out->width = width;
    out->seq = seq;
    out->steps = steps;
    out->final = final;
    out->n_final = n_final;
    out->chained_steps = chained;
    return weft_graph_status(g);
}

/* --- a sorted ragged batch, packed (opts.by_length, lengths non-increasing) ---------------- */

/* Rows [start, start + n) of x [rows, H], as [n, H] (a view). */
static weft_var *row_range(weft_graph *g, weft_var *x, int start, int n)
{
    if (!x) return NULL;
    int H = weft_tensor_cols(&x->value);
    if (start == 0 && n == weft_tensor_rows(&x->value)) return x;
    weft_var *v = weft_narrow(g, x, start, n);
    return n == 1 ? weft_reshape(g, v, 2, (int[]){ 1, H }) : v;
}

/* The states prev[0..S) ([r, H] each, r their rows now) made [rows, H] for
 * the step about to run: fewer rows (forward: sequences ended; their final
 * states go to ended[k], last first), or more (backward direction:
 * sequences starting, from their initial states init[k]). */
static int fit_rows(weft_graph *g, weft_var **prev, weft_var *const *init, int S, int rows,
                    weft_var ***ended, int *n_ended)
{
    int r = weft_tensor_rows(&prev[0]->value);
    if (rows == r) return 0;
    for (int k = 0; k < S; k++) {
        if (rows < r) {
            ended[k][*n_ended] = row_range(g, prev[k], rows, r - rows);
            prev[k] = row_range(g, prev[k], 0, rows);
        } else {
            prev[k] = weft_concat_rows(g, (weft_var *[]){ prev[k],
                                                          row_range(g, init[k], r, rows - r) }, 2);
        }
        if (!prev[k]) return -1;
    }
    if (rows < r) (*n_ended)++;
    return 0;
}


int weft_unroll(weft_graph *g, const weft_rnn *r, weft_var *xs, const weft_unroll_opts *opts,
                weft_rnn_out *out)
{
    memset(out, 0, sizeof *out);
    weft_unroll_opts o = opts ? *opts : (weft_unroll_opts){ 0 };
    unroll_ctx u = { .g = g, .r = r };
    const weft_rnn_config *cfg = &r->cfg;
    const weft_cell_type *type = cfg->cell;
    weft_scope saved = weft_graph_scope(g);
    if (weft_graph_failed(g) || check_inputs(&u, xs, &o)) return -1;
    /* by length: a batch sorted longest first runs packed on the fast path
     * (step t over the n_t sequences still running); any other, in groups */
    bool packed = false;
    int *live = NULL;   /* live[t]: sequences still running at step t */
    int *pack_ids = NULL, N = 0;   /* packed: the (t, b) rows that run, t·B + b, time-major */
    if (o.by_length && u.lengths && !o.dropout_masks && !o.composed &&
        weft_cell_type_has_fast_path(type)) {
        packed = true;
        for (int b = 1; b < u.B; b++) packed = packed && u.lengths[b] <= u.lengths[b - 1];
        if (packed) {
            live = weft_graph_calloc(g, (size_t)u.T * sizeof *live);
            if (!live) return -1;
            for (int b = 0; b < u.B; b++)
                for (int t = 0; t < u.lengths[b]; t++) live[t]++;
            for (int t = 0; t < u.T; t++) N += live[t];
            pack_ids = weft_graph_alloc(g, (size_t)N * sizeof *pack_ids);
            if (!pack_ids) return -1;
            for (int t = 0, k = 0; t < u.T; t++)
                for (int b = 0; b < live[t]; b++) pack_ids[k++] = t * u.B + b;
        }
    }
    if (o.by_length && u.lengths && !o.dropout_masks && !packed) {
        int *order, *start;
        int n_groups = length_groups(g, u.lengths, u.B, &order, &start);
        if (n_groups < 0) return -1;
        if (n_groups > 1) {
            int rc = unroll_by_length(g, r, xs, &o, order, start, n_groups, out);
            weft_graph_set_scope(g, saved);
            if (rc && !weft_graph_failed(g)) weft_graph_fail(g, "unroll (%s): failed", type->name);
            return rc ? -1 : 0;
        }
    }

    int T = u.T, B = u.B, L = cfg->num_layers, D = r->dirs, S = type->n_states;
    int n_final = weft_rnn_num_states(r), width = cfg->hidden_size * D;
    weft_var **cur = weft_graph_calloc(g, (size_t)T * sizeof *cur);     /* this layer's inputs */
    weft_var **final = weft_graph_calloc(g, (size_t)n_final * sizeof *final);
    u.keep = weft_graph_calloc(g, (size_t)T * sizeof *u.keep);
    u.drop = weft_graph_calloc(g, (size_t)T * sizeof *u.drop);
    if (!cur || !final || !u.keep || !u.drop) return -1;
    weft_var *cur_seq = xs;      /* this layer's inputs as one [T, B, width] node, when made */

    for (int l = 0; l < L; l++) {
        weft_var **dir_out[2] = { NULL, NULL };
        weft_var *cur_packed = NULL;   /* packed: the rows of cur_seq that run, [N, 1, width] */
        for (int d = 0; d < D; d++) {
            const weft_cell *c = &r->cells[l * D + d];
            dir_out[d] = weft_graph_calloc(g, (size_t)T * sizeof(weft_var *));
            if (!dir_out[d]) goto fail;
            weft_var *prev[WEFT_CELL_MAX_STATES], *next[WEFT_CELL_MAX_STATES];
            weft_var *first[WEFT_CELL_MAX_STATES];   /* the initial states, [B, H] */
            weft_var **ended[WEFT_CELL_MAX_STATES];  /* packed forward: finals, last first */
            int n_ended = 0;
            for (int k = 0; k < S; k++) {
                int idx = (l * D + d) * S + k;
                set_scope(g, -1, l, d, NULL);
                if (o.init_vars) prev[k] = o.init_vars[idx];
                else if (o.init) prev[k] = weft_state_leaf(g, &o.init->t[idx], "carried state",
                                                           false);
                else prev[k] = zero_state(&u, l, d, k);
                if (!prev[k]) goto fail;
                first[k] = prev[k];
                if (packed && !(ended[k] = weft_graph_calloc(g, (size_t)T * sizeof(weft_var *))))
                    goto fail;
                /* packed, backward: it starts with the sequences as long as the longest */
                if (packed && d && !(prev[k] = row_range(g, first[k], 0, live[T - 1]))) goto fail;
            }

            /* The fast path: every step's input projection in one node, and
             * the steps declared one sequence (weft_seq: a fused step chains
             * with the others, docs/fused.md). */
            weft_var *xp = NULL;
            weft_seq *seq = NULL;
            if (!o.composed && weft_cell_type_has_fast_path(type)) {
                if (!cur_seq) {
                    set_scope(g, -1, l, -1, NULL);
                    cur_seq = weft_stack(g, cur, T);
                }
                /* packed: only the rows that run are projected (N, not T·B, in
                   the product, its gradient and the chain's weight gradient) */
                int rows = packed ? N : T * B;
                bool by_table = l == 0 && o.input_table && o.input_table->value.shape[0] < rows;
                const int *table_ids = o.input_ids;
                if (by_table && packed) {
                    int *ids = weft_graph_alloc(g, (size_t)N * sizeof *ids);
                    if (!ids) goto fail;
                    for (int k = 0; k < N; k++) ids[k] = o.input_ids[pack_ids[k]];
                    table_ids = ids;
                }
                if (packed && !by_table && !cur_packed) {
                    set_scope(g, -1, l, -1, NULL);
                    weft_var *p2 = gather_rows(g, cur_seq, T * B, pack_ids, N);
                    cur_packed = weft_reshape(g, p2, 3,
                                              (int[]){ N, 1, weft_tensor_cols(&cur_seq->value) });
                    if (!cur_packed) goto fail;
                }
                set_scope(g, -1, l, d, type->name);
                if (by_table) {
                    xp = project_through_table(c, g, o.input_table, table_ids, rows);
                    if (xp && !packed)
                        xp = weft_reshape(g, xp, 3, (int[]){ T, B, weft_tensor_cols(&xp->value) });
                } else {
                    xp = type->project_inputs(c, g, packed ? cur_packed : cur_seq);
                }
                if (!xp) goto fail;
                int want0 = packed ? N : T, want1 = packed ? 1 : B;
                if (!by_table || !packed) {
                    if (xp->value.rank != 3 || xp->value.shape[0] != want0 ||
                        xp->value.shape[1] != want1) {
                        char s[64];
                        weft_graph_fail(g, "cell '%s': project_inputs made %s, expected [%d, %d, P]",
                                        type->name, weft_shape_str(&xp->value, s, sizeof s),
                                        want0, want1);
                        goto fail;
                    }
                }
                if (packed) {
                    if (xp->value.rank == 3)
                        xp = weft_reshape(g, xp, 2, (int[]){ N, xp->value.shape[2] });
                    seq = weft_seq_new_packed(g, xp, T, live);
                } else {
                    seq = weft_seq_new(g, xp);
                }
                if (!seq) goto fail;
            }

            for (int step = 0; step < T; step++) {
                int t = d ? T - 1 - step : step;
                int rc;
                if (xp && packed) {
                    set_scope(g, t, l, d, type->name);
                    if (fit_rows(g, prev, first, S, live[t], ended, &n_ended)) goto fail;
                    rc = weft_cell_step_projected(c, g, weft_seq_input_rows(g, seq, t, live[t]),
                                                  prev, next);
                } else if (xp) {
                    set_scope(g, t, l, d, type->name);
                    rc = weft_cell_step_projected(c, g, weft_seq_input(g, seq, t), prev, next);
                } else {
                    if (!cur[t]) {   /* layer 0: step t of the input, shared by both directions */
                        set_scope(g, t, l, -1, NULL);
                        cur[t] = weft_narrow(g, xs, t, 1);
                    }
                    set_scope(g, t, l, d, type->name);
                    rc = weft_cell_step(c, g, cur[t], prev, next);
                }
                if (rc) goto fail;
                /* name the states for the drawing: "h", "c" (unnamed: "s1", ...) */
                for (int k = 0; k < S; k++)
                    if (!next[k]->name) next[k]->name = state_label(g, type, k);
                weft_var *y = next[0];
                if (packed && live[t] < B) {
                    /* the ended sequences' outputs are zero */
                    weft_var *zeros = weft_input_zeros(g, 2, (int[]){ B - live[t], cfg->hidden_size },
                                                       "ended", false);
                    y = weft_concat_rows(g, (weft_var *[]){ y, zeros }, 2);
                } else if (u.lengths && t >= u.min_len) {
                    if (step_masks(&u, t)) goto fail;
                    /* the state carried past a sequence's end is the one drawn as h, c */
                    for (int k = 0; k < S; k++) {
                        next[k] = weft_add(g, weft_mul(g, next[k], u.keep[t]),
                                           weft_mul(g, prev[k], u.drop[t]));
                        if (next[k]) next[k]->name = state_label(g, type, k);
                    }
                    y = weft_mul(g, y, u.keep[t]);
                }
                dir_out[d][t] = y;
                for (int k = 0; k < S; k++) prev[k] = next[k];
            }
            for (int k = 0; k < S && packed && n_ended > 0; k++) {
                /* forward: the rows still here, then those that ended, longest first */
                weft_var **parts = weft_graph_calloc(g, ((size_t)n_ended + 1) * sizeof *parts);
                if (!parts) goto fail;
                parts[0] = prev[k];
                for (int e = 0; e < n_ended; e++) parts[e + 1] = ended[k][n_ended - 1 - e];
                prev[k] = weft_concat_rows(g, parts, n_ended + 1);
                if (!prev[k]) goto fail;
            }
            for (int k = 0; k < S; k++) final[(l * D + d) * S + k] = prev[k];
            out->chained_steps += weft_seq_chained(seq);
        }

        /* This layer's outputs: the directions side by side, the residual
         * connection, dropout; they are the next layer's inputs. */
        weft_var **layer_out = weft_graph_calloc(g, (size_t)T * sizeof *layer_out);
        if (!layer_out) goto fail;
        for (int t = 0; t < T; t++) {
            bool fail = false;
            set_scope(g, t, l, -1, NULL);
            weft_var *y = D == 2 ? weft_concat(g, (weft_var *[]){ dir_out[0][t], dir_out[1][t] }, 2)
                                 : dir_out[0][t];
            if (cfg->residual && l > 0) y = weft_add(g, y, cur[t]);
            weft_var *mask = dropout_mask(&u, &o, l, t, width, &fail);
            if (fail) goto fail;
            if (mask) y = weft_dropout(g, y, mask);
            if (!y) goto fail;
            layer_out[t] = y;
        }
        cur = layer_out;
        cur_seq = NULL;
    }

    weft_graph_set_scope(g, WEFT_NO_SCOPE);
    out->T = T;
    out->B = B;
    out->width = width;
    out->steps = cur;
    out->seq = weft_stack(g, cur, T);
    out->final = final;
    out->n_final = n_final;
    weft_graph_set_scope(g, saved);
    return weft_graph_status(g);
fail:
    weft_graph_set_scope(g, saved);
    if (!weft_graph_failed(g)) weft_graph_fail(g, "unroll (%s): failed", type->name);
    return -1;
}
