/* models/cells/cell.c — binding a cell type to sizes and parameters, running one
 * step with its shapes checked, and the registry of built-in cells. */
#include "weft/cell.h"
#include "weft/optim.h"
#include "src/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const weft_cell_type *const builtin[] = {
    &weft_cell_rnn_tanh, &weft_cell_rnn_relu, &weft_cell_rnn_sigmoid,
    &weft_cell_lstm, &weft_cell_lstm_f, &weft_cell_lstm_i, &weft_cell_lstm_o,
    &weft_cell_lstm_b, &weft_cell_lstm_peephole, &weft_cell_lstm_coupled,
    &weft_cell_gru,
    &weft_cell_mut1, &weft_cell_mut2, &weft_cell_mut3,
};

const weft_cell_type *const *weft_cell_types(int *n)
{
    *n = (int)(sizeof builtin / sizeof builtin[0]);
    return builtin;
}

const weft_cell_type *weft_cell_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(builtin[i]->name, name) == 0) return builtin[i];
    return NULL;
}

bool weft_cell_type_has_fast_path(const weft_cell_type *t)
{
    return t && t->project_inputs && t->step_projected;
}

weft_cell_param_spec weft_cell_matrix(const char *name, int rows, int cols)
{
    weft_cell_param_spec s = { .rank = 2, .shape = { rows, cols } };
    snprintf(s.name, sizeof s.name, "%s", name ? name : "");
    return s;
}

weft_cell_param_spec weft_cell_vector(const char *name, int n)
{
    weft_cell_param_spec s = { .rank = 1, .shape = { n, 0 } };
    snprintf(s.name, sizeof s.name, "%s", name ? name : "");
    return s;
}

/* Check that the type is complete and fill specs for I, H. Returns the count
 * or -1 (err set). */
static int declare(const weft_cell_type *t, int I, int H, weft_cell_param_spec *specs,
                   char *err, size_t errsize)
{
    if (!t || !t->name || !t->declare || !t->step) {
        snprintf(err, errsize, "cell type '%s': needs a name, a declare function and a step "
                 "function", t && t->name ? t->name : "(null)");
        return -1;
    }
    if (t->n_states < 1 || t->n_states > WEFT_CELL_MAX_STATES) {
        snprintf(err, errsize, "cell '%s': n_states is %d, must be in [1, %d]", t->name,
                 t->n_states, WEFT_CELL_MAX_STATES);
        return -1;
    }
    if (!t->project_inputs != !t->step_projected) {
        snprintf(err, errsize, "cell '%s': project_inputs and step_projected go together "
                 "(give both or neither)", t->name);
        return -1;
    }
    if (I < 1 || H < 1) {
        snprintf(err, errsize, "cell '%s': input size %d and hidden size %d must be >= 1",
                 t->name, I, H);
        return -1;
    }
    memset(specs, 0, WEFT_CELL_MAX_PARAMS * sizeof *specs);
    if (err && errsize) err[0] = '\0';
    int n = t->declare(t, I, H, specs, err, errsize);
    if (n < 0) {
        if (err && errsize && !err[0])
            snprintf(err, errsize, "cell '%s': cannot take input size %d, hidden size %d",
                     t->name, I, H);
        return -1;
    }
    if (n > WEFT_CELL_MAX_PARAMS) {
        snprintf(err, errsize, "cell '%s': declares %d parameters (at most %d)", t->name, n,
                 WEFT_CELL_MAX_PARAMS);
        return -1;
    }
    for (int k = 0; k < n; k++) {
        const weft_cell_param_spec *p = &specs[k];
        bool ok = p->name[0] && (p->rank == 1 || p->rank == 2) && p->shape[0] >= 1 &&
                  (p->rank == 1 || p->shape[1] >= 1);
        for (int j = 0; ok && j < k; j++)
            if (strcmp(specs[j].name, p->name) == 0) ok = false;
        if (!ok) {
            snprintf(err, errsize, "cell '%s': parameter %d ('%s') needs a unique name, rank 1 "
                     "or 2 and a positive shape", t->name, k, p->name);
            return -1;
        }
    }
    return n;
}

int weft_cell_type_params(const weft_cell_type *t, int I, int H, weft_cell_param_spec *specs,
                          char *err, size_t errsize)
{
    return declare(t, I, H, specs, err, errsize);
}

size_t weft_cell_type_numel(const weft_cell_type *t, int I, int H)
{
    weft_cell_param_spec specs[WEFT_CELL_MAX_PARAMS];
    char err[256];
    int n = declare(t, I, H, specs, err, sizeof err);
    size_t total = 0;
    for (int k = 0; k < n; k++)
        total += (size_t)specs[k].shape[0] * (size_t)(specs[k].rank == 2 ? specs[k].shape[1] : 1);
    return total;
}

int weft_cell_bind(weft_cell *c, const weft_cell_type *t, int I, int H, weft_params *s,
                   const char *prefix, const char *suffix, char *err, size_t errsize)
{
    memset(c, 0, sizeof *c);
    int n = declare(t, I, H, c->specs, err, errsize);
    if (n < 0) return -1;
    c->type = t;
    c->input_size = I;
    c->hidden_size = H;
    for (int k = 0; k < n; k++) {
        char name[WEFT_PARAM_NAME_MAX];
        int len = snprintf(name, sizeof name, "%s%s%s", prefix ? prefix : "", c->specs[k].name,
                           suffix ? suffix : "");
        if (len >= (int)sizeof name) {
            snprintf(err, errsize, "cell '%s': parameter name '%s%s%s' is longer than %d",
                     t->name, prefix ? prefix : "", c->specs[k].name, suffix ? suffix : "",
                     WEFT_PARAM_NAME_MAX - 1);
            return -1;
        }
        c->params[k] = weft_params_add(s, name, c->specs[k].rank, c->specs[k].shape);
        if (!c->params[k]) {
            snprintf(err, errsize, "cell '%s': cannot add parameter '%s': %s", t->name, name,
                     weft_params_error(s) ? weft_params_error(s) : "unknown error");
            return -1;
        }
        c->n_params = k + 1;
    }
    return 0;
}

int weft_cell_reset_parameters(weft_cell *c, weft_rng *rng)
{
    float k = 1.0f / sqrtf((float)c->hidden_size);
    for (int i = 0; i < c->n_params; i++) {
        const weft_cell_param_spec *p = &c->specs[i];
        switch (p->init) {
        case WEFT_CELL_INIT_DEFAULT: weft_init_uniform(c->params[i], rng, k); break;
        case WEFT_CELL_INIT_UNIFORM: weft_init_uniform(c->params[i], rng, p->value); break;
        case WEFT_CELL_INIT_CONSTANT: weft_init_constant(c->params[i], p->value); break;
        }
    }
    return c->type->init ? c->type->init(c, rng) : 0;
}

weft_param *weft_cell_param_ptr(const weft_cell *c, const char *name)
{
    for (int k = 0; k < c->n_params; k++)
        if (strcmp(c->specs[k].name, name) == 0) return c->params[k];
    return NULL;
}

weft_var *weft_cell_param(const weft_cell *c, weft_graph *g, const char *name)
{
    weft_param *p = weft_cell_param_ptr(c, name);
    if (p) return weft_param_var(g, p);
    char have[512];
    size_t at = 0;
    have[0] = '\0';
    for (int k = 0; k < c->n_params && at < sizeof have; k++)
        at += (size_t)snprintf(have + at, sizeof have - at, "%s%s", k ? ", " : "",
                               c->specs[k].name);
    return weft_graph_fail(g, "cell '%s': no parameter named '%s' (it has: %s)", c->type->name,
                           name, c->n_params ? have : "none");
}

size_t weft_cell_numel(const weft_cell *c)
{
    size_t n = 0;
    for (int k = 0; k < c->n_params; k++) n += c->params[k]->value.size;
    return n;
}

/* Is v a [B, width] matrix? */
static bool is_rows(const weft_var *v, int B, int width)
{
    return v->value.rank == 2 && v->value.shape[0] == B && v->value.shape[1] == width;
}

/* Shared by both step forms: check prev, call, check next. */
static int run_step(const weft_cell *c, weft_graph *g, weft_var *x, int B, weft_var *const *prev,
                    weft_var **next, bool projected)
{
    const weft_cell_type *t = c->type;
    char s[64];
    for (int k = 0; k < t->n_states; k++) {
        if (!prev[k]) return -1;
        if (!is_rows(prev[k], B, c->hidden_size))
            return weft_graph_fail(g, "cell '%s' (layer %d, dir %d): state %d is %s, expected "
                                   "[%d, %d] (batch, hidden)", t->name, c->layer, c->dir, k,
                                   weft_shape_str(&prev[k]->value, s, sizeof s), B,
                                   c->hidden_size), -1;
        next[k] = NULL;
    }
    int rc = projected ? t->step_projected(c, g, x, prev, next) : t->step(c, g, x, prev, next);
    if (rc || weft_graph_failed(g)) {
        if (!weft_graph_failed(g))
            weft_graph_fail(g, "cell '%s': its step returned %d without an error on the graph",
                            t->name, rc);
        return -1;
    }
    for (int k = 0; k < t->n_states; k++) {
        if (!next[k])
            return weft_graph_fail(g, "cell '%s': its step left next state %d unset", t->name,
                                   k), -1;
        if (!is_rows(next[k], B, c->hidden_size))
            return weft_graph_fail(g, "cell '%s': its step made state %d of shape %s, expected "
                                   "[%d, %d] (batch, hidden)", t->name, k,
                                   weft_shape_str(&next[k]->value, s, sizeof s), B,
                                   c->hidden_size), -1;
    }
    return 0;
}

int weft_cell_step(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                   weft_var **next)
{
    if (!x) return -1;
    if (x->value.rank != 2 || x->value.shape[1] != c->input_size) {
        char s[64];
        return weft_graph_fail(g, "cell '%s' (layer %d, dir %d): input x_t is %s, expected "
                               "[batch, %d]", c->type->name, c->layer, c->dir,
                               weft_shape_str(&x->value, s, sizeof s), c->input_size), -1;
    }
    return run_step(c, g, x, x->value.shape[0], prev, next, false);
}

int weft_cell_step_projected(const weft_cell *c, weft_graph *g, weft_var *xp,
                             weft_var *const *prev, weft_var **next)
{
    if (!xp) return -1;
    if (!weft_cell_type_has_fast_path(c->type))
        return weft_graph_fail(g, "cell '%s' has no fast path (project_inputs, step_projected)",
                               c->type->name), -1;
    if (xp->value.rank != 2) {
        char s[64];
        return weft_graph_fail(g, "cell '%s': projected input is %s, expected [batch, width]",
                               c->type->name, weft_shape_str(&xp->value, s, sizeof s)), -1;
    }
    return run_step(c, g, xp, xp->value.shape[0], prev, next, true);
}
