/* src/graph.c — the tape and the backward engine (weft/graph.h).
 *
 * The engine knows ops only through their descriptors: it calls
 * v->op->forward and v->op->backward and never includes ops/. */
#include "src/internal.h"
#include "src/matmul.h"     /* the graph's product schedule */

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MAX 512

/* One parameter's leaf in this graph. The table is cleared at reset (count =
 * 0), so lookups only see the current build. */
typedef struct param_leaf {
    const weft_param *param;
    weft_var *var;
} param_leaf;

struct weft_graph {
    weft_arena arena;
    weft_var **nodes;        /* the tape (malloc'd, kept across resets) */
    int n_nodes, cap_nodes;
    param_leaf *leaves;      /* parameter -> its leaf (malloc'd, kept) */
    int n_leaves, cap_leaves;
    weft_grad_final_fn on_final;   /* weft_graph_on_grad_final (NULL: none) */
    void *on_final_ctx;
    weft_matmul_sched *products;  /* deferred products and memos (src/matmul.c) */
    weft_scope scope;
    bool check_finite;
    /* low-memory mode (weft_graph_set_low_memory) */
    bool low_memory;
    bool swept;              /* a backward ran since the last forward */
    int first_nonfinite;     /* tape position of the first released gradient found
                              * non-finite by the sweep (-1: none) */
    struct free_grad *free_grads;   /* released gradients, for reuse */
    bool forward_only;       /* weft_graph_set_forward_only */
    bool has_error;
    char error[ERROR_MAX];
};

weft_graph *weft_graph_new(void)
{
    weft_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    weft_arena_init(&g->arena);
    g->products = weft_matmul_sched_new(&g->arena);
    if (!g->products) {
        free(g);
        return NULL;
    }
    g->scope = WEFT_NO_SCOPE;
    g->first_nonfinite = -1;
    const char *env = getenv("WEFT_CHECK_FINITE");
    g->check_finite = env && env[0] && strcmp(env, "0") != 0;
    return g;
}

void weft_graph_free(weft_graph *g)
{
    if (!g) return;
    weft_arena_free(&g->arena);
    free(g->nodes);
    free(g->leaves);
    weft_matmul_sched_free(g->products);
    free(g);
}

void weft_graph_reset(weft_graph *g)
{
    weft_arena_reset(&g->arena);
    g->free_grads = NULL;
    g->swept = false;
    g->n_nodes = 0;
    g->n_leaves = 0;
    weft_matmul_sched_reset(g->products);
    g->has_error = false;
    g->error[0] = '\0';
    g->scope = WEFT_NO_SCOPE;
}

void weft_graph_set_low_memory(weft_graph *g, bool on)
{
    g->low_memory = on;
}

bool weft_graph_is_low_memory(const weft_graph *g)
{
    return g->low_memory;
}

void weft_graph_set_forward_only(weft_graph *g, bool on)
{
    g->forward_only = on;
}

bool weft_graph_is_forward_only(const weft_graph *g)
{
    return g && g->forward_only;
}

void weft_graph_set_memory_limit(weft_graph *g, size_t bytes)
{
    g->arena.limit = bytes;
}

size_t weft_graph_arena_capacity(const weft_graph *g)
{
    return g->arena.capacity;
}

size_t weft_graph_arena_used(const weft_graph *g)
{
    return weft_arena_used(&g->arena);
}

weft_matmul_sched *weft_graph_matmul_sched(weft_graph *g)
{
    return g->products;
}

/* --- errors --------------------------------------------------------------- */

weft_var *weft_graph_fail(weft_graph *g, const char *fmt, ...)
{
    if (!g || g->has_error) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->error, sizeof g->error, fmt, ap);
    va_end(ap);
    g->has_error = true;
    return NULL;
}

const char *weft_graph_error(const weft_graph *g)
{
    return g && g->has_error ? g->error : NULL;
}

bool weft_graph_failed(const weft_graph *g)
{
    return !g || g->has_error;
}

int weft_graph_status(const weft_graph *g)
{
    return weft_graph_failed(g) ? -1 : 0;
}

void weft_graph_check_finite(weft_graph *g, bool on)
{
    g->check_finite = on;
}

/* --- memory ---------------------------------------------------------------- */

void *weft_graph_alloc(weft_graph *g, size_t bytes)
{
    void *p = weft_arena_alloc(&g->arena, bytes);
    if (!p) {
        weft_graph_fail(g, "arena: cannot allocate %zu bytes (the graph holds %zu bytes, "
                        "limit %zu%s)", bytes, g->arena.capacity, g->arena.limit,
                        g->arena.limit ? "" : " = none: the machine is out of memory");
    }
    return p;
}

void *weft_graph_calloc(weft_graph *g, size_t bytes)
{
    void *p = weft_graph_alloc(g, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

/* Released gradients (low-memory mode): arena blocks kept in a list, each
 * block's first bytes holding its link (every arena block is at least
 * WEFT_ALIGN bytes). A gradient of the same number of floats takes one
 * back: an unrolled network's steps release and ask for the same sizes. */
typedef struct free_grad {
    struct free_grad *next;
    size_t floats;
} free_grad;

static void release_grad(weft_graph *g, float *p, size_t floats)
{
    free_grad *f = (free_grad *)(void *)p;
    f->next = g->free_grads;
    f->floats = floats;
    g->free_grads = f;
}

/* A released block of exactly `floats` floats, else new arena memory. */
static float *take_grad(weft_graph *g, size_t floats)
{
    for (free_grad **at = &g->free_grads; *at; at = &(*at)->next) {
        if ((*at)->floats == floats) {
            free_grad *f = *at;
            *at = f->next;
            return (float *)(void *)f;
        }
    }
    return weft_graph_alloc(g, floats * sizeof(float));
}

/* --- scope and tape --------------------------------------------------------- */

void weft_graph_set_scope(weft_graph *g, weft_scope s)
{
    g->scope = s;
}

weft_scope weft_graph_scope(const weft_graph *g)
{
    return g->scope;
}

int weft_graph_size(const weft_graph *g)
{
    return g->n_nodes;
}

weft_var *weft_graph_node(const weft_graph *g, int i)
{
    return i >= 0 && i < g->n_nodes ? g->nodes[i] : NULL;
}

static int append(weft_graph *g, weft_var *v)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 1024;
        weft_var **nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) {
            weft_graph_fail(g, "graph: cannot grow the tape to %d nodes", cap);
            return -1;
        }
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    v->id = g->n_nodes;
    g->nodes[g->n_nodes++] = v;
    return 0;
}

/* A node with its value's descriptor set and data from the arena (unless
 * borrow is given, in which case the value borrows it). */
static weft_var *make_node(weft_graph *g, int rank, const int *shape, float *borrow)
{
    weft_node *node = weft_graph_calloc(g, sizeof *node);
    if (!node) return NULL;
    weft_var *v = &node->var;
    v->value = weft_tensor_wrap(NULL, rank, shape);
    if (v->value.size == 0) {
        weft_graph_fail(g, "graph: bad shape (rank %d)", rank);
        return NULL;
    }
    if (borrow) {
        v->value.data = borrow;
    } else {
        v->value.data = weft_graph_alloc(g, v->value.size * sizeof(float));
        if (!v->value.data) return NULL;
    }
    v->scope = g->scope;
    if (append(g, v)) return NULL;
    return v;
}

bool weft_any_null(weft_var *const *in, int n)
{
    for (int i = 0; i < n; i++)
        if (!in[i]) return true;
    return false;
}

weft_var *weft_node_new(weft_graph *g, const weft_op_desc *op, weft_var *const *in, int n_in,
                        int rank, const int *shape)
{
    weft_var **inputs = weft_graph_alloc(g, (size_t)(n_in > 0 ? n_in : 1) * sizeof *inputs);
    if (!inputs) return NULL;
    weft_var *v = make_node(g, rank, shape, NULL);
    if (!v) return NULL;
    v->op = op;
    v->kind = WEFT_NODE_OP;
    v->in = inputs;
    v->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        inputs[i] = in[i];
        weft_node_of(in[i])->n_uses++;
        if (in[i]->requires_grad) v->requires_grad = true;
    }
    return v;
}

weft_var *weft_node_new_view(weft_graph *g, const weft_op_desc *op, weft_var *x, int rank,
                             const int *shape, size_t offset)
{
    weft_var **inputs = weft_graph_alloc(g, sizeof *inputs);
    if (!inputs) return NULL;
    weft_var *v = make_node(g, rank, shape, x->value.data + offset);
    if (!v) return NULL;
    v->op = op;
    v->kind = WEFT_NODE_OP;
    v->in = inputs;
    v->n_in = 1;
    inputs[0] = x;
    weft_node_of(x)->n_uses++;
    v->requires_grad = x->requires_grad;
    v->view_of = x;
    v->view_offset = offset;
    return v;
}

/* --- leaves ----------------------------------------------------------------- */

static weft_var *leaf(weft_graph *g, const weft_tensor *t, const char *name, bool requires_grad,
                      weft_node_kind kind)
{
    if (!t || !t->data) return weft_graph_fail(g, "%s '%s': no tensor given",
                                               kind == WEFT_NODE_STATE ? "state" : "input",
                                               name ? name : "");
    weft_var *v = make_node(g, t->rank, t->shape, NULL);
    if (!v) return NULL;
    memcpy(v->value.data, t->data, t->size * sizeof(float));
    v->kind = kind;
    v->name = name;
    v->requires_grad = requires_grad && !g->forward_only;
    return v;
}

weft_var *weft_input(weft_graph *g, const weft_tensor *t, const char *name, bool requires_grad)
{
    return leaf(g, t, name, requires_grad, WEFT_NODE_INPUT);
}

weft_var *weft_state_leaf(weft_graph *g, const weft_tensor *t, const char *name, bool requires_grad)
{
    return leaf(g, t, name, requires_grad, WEFT_NODE_STATE);
}

weft_var *weft_input_zeros(weft_graph *g, int rank, const int *shape, const char *name,
                           bool requires_grad)
{
    weft_var *v = make_node(g, rank, shape, NULL);
    if (!v) return NULL;
    memset(v->value.data, 0, v->value.size * sizeof(float));
    v->kind = WEFT_NODE_INPUT;
    v->name = name;
    v->requires_grad = requires_grad && !g->forward_only;
    return v;
}

weft_var *weft_param_var(weft_graph *g, weft_param *p)
{
    if (!p) return weft_graph_fail(g, "param: NULL parameter");
    for (int i = 0; i < g->n_leaves; i++)
        if (g->leaves[i].param == p) return g->leaves[i].var;
    if (g->n_leaves == g->cap_leaves) {
        int cap = g->cap_leaves ? 2 * g->cap_leaves : 64;
        param_leaf *leaves = realloc(g->leaves, (size_t)cap * sizeof *leaves);
        if (!leaves) return weft_graph_fail(g, "graph: cannot grow the parameter table");
        g->leaves = leaves;
        g->cap_leaves = cap;
    }
    /* Parameters belong to no step: the leaf is drawn once, outside the steps. */
    weft_scope saved = g->scope;
    g->scope = WEFT_NO_SCOPE;
    weft_var *v = make_node(g, p->value.rank, p->value.shape, p->value.data);
    g->scope = saved;
    if (!v) return NULL;
    v->kind = WEFT_NODE_PARAM;
    v->name = p->name;
    v->param = p;
    v->requires_grad = !g->forward_only;
    g->leaves[g->n_leaves++] = (param_leaf){ p, v };
    return v;
}

/* --- values and gradients ---------------------------------------------------- */

const weft_tensor *weft_value(const weft_var *v)
{
    return v ? &v->value : NULL;
}

float weft_scalar(const weft_var *v)
{
    return v && v->value.size >= 1 ? v->value.data[0] : NAN;
}

static const char *node_name(const weft_var *v, char *buf, size_t n)
{
    if (v->name) snprintf(buf, n, "#%d '%s'", v->id, v->name);
    else if (v->op) snprintf(buf, n, "#%d (%s)", v->id, v->op->name);
    else snprintf(buf, n, "#%d (leaf)", v->id);
    return buf;
}

const weft_tensor *weft_grad_of(weft_graph *g, const weft_var *v)
{
    char name[160];
    if (!v) {
        weft_graph_fail(g, "grad_of: NULL node");
        return NULL;
    }
    if (!v->requires_grad) {
        weft_graph_fail(g, "grad_of: node %s needs no gradient (no parameter or input "
                        "with requires_grad feeds it)", node_name(v, name, sizeof name));
        return NULL;
    }
    if (g->low_memory && v->kind == WEFT_NODE_OP) {
        weft_graph_fail(g, "grad_of: node %s is an intermediate of a low-memory graph: its "
                        "gradient was handed on once used (weft_graph_set_low_memory)",
                        node_name(v, name, sizeof name));
        return NULL;
    }
    if (!weft_node_grad_ready(v)) {
        weft_graph_fail(g, "grad_of: node %s has no gradient: backward has not reached it "
                        "(not run since it was made, or the loss does not depend on it)",
                        node_name(v, name, sizeof name));
        return NULL;
    }
    return &v->grad;
}

/* Is any element of t not finite? */
static bool has_nonfinite(const weft_tensor *t)
{
    for (size_t i = 0; i < t->size; i++)
        if (!isfinite(t->data[i])) return true;
    return false;
}

/* Make ready the gradient an op's backward is about to add into, once per
 * backward: v's own, or for a view the whole of the node it is a view of
 * (its consumers' gradients land there). An op node's is zeroed (a
 * low-memory graph gives it its memory here first; a view then points into
 * it); leaves keep what they have. -1 when out of memory. */
static int grad_before_use(weft_graph *g, weft_var *v)
{
    if (v->view_of) {
        if (grad_before_use(g, v->view_of)) return -1;
        v->grad = v->value;
        v->grad.data = v->view_of->grad.data + v->view_offset;
        return 0;
    }
    weft_node *n = weft_node_of(v);
    if (v->kind != WEFT_NODE_OP || n->grad_cleared) return 0;
    if (!v->grad.data) {
        v->grad = v->value;
        v->grad.data = take_grad(g, v->value.size);
        if (!v->grad.data) return -1;
    }
    weft_zero_floats(v->grad.data, v->value.size);
    n->grad_cleared = true;
    return 0;
}

/* After v's backward in a low-memory graph: v's gradient has been read for
 * the last time; its memory goes to the next gradient of its size. Kept:
 * a view's (part of another's), one held in the value, and one a product
 * deferred to the end of the sweep still borrows. Checked for non-finite
 * numbers first when asked, since nothing can look at it later. */
static void hand_on_grad(weft_graph *g, weft_var *v, int i, bool deferred)
{
    if (g->check_finite && g->first_nonfinite < 0 && has_nonfinite(&v->grad))
        g->first_nonfinite = i;
    if (!v->view_of && !weft_node_of(v)->grad_in_value && !deferred)
        release_grad(g, v->grad.data, v->value.size);
    v->grad.data = NULL;
}

/* Can backward start from loss? Records why not. */
static bool loss_ok(weft_graph *g, const weft_var *loss)
{
    char name[160];
    if (!loss) return weft_graph_fail(g, "backward: NULL loss (an op before it failed)"), false;
    if (weft_graph_failed(g)) return false;
    if (loss->value.size != 1) {
        char shape[64];
        weft_graph_fail(g, "backward: the loss must be a scalar, got %s of shape %s",
                        node_name(loss, name, sizeof name),
                        weft_shape_str(&loss->value, shape, sizeof shape));
        return false;
    }
    if (!loss->requires_grad) {
        weft_graph_fail(g, "backward: the loss %s depends on no parameter or input that "
                        "requires a gradient", node_name(loss, name, sizeof name));
        return false;
    }
    return true;
}

/* Give every node up to the loss that needs one a gradient buffer: op nodes
 * restart from zero on every backward, leaves keep what they have
 * (accumulate). A parameter's leaf uses the store's gradient directly. An
 * op node's buffer is zeroed late, by clear_grad_before_use just before the
 * first backward that adds to it: then the zeroing touches memory the
 * backward is about to use (cache-warm), not the whole tape's in one cold
 * pass. -1 when out of memory. */
static int give_gradients(weft_graph *g, const weft_var *loss)
{
    for (int i = 0; i <= loss->id; i++) {
        weft_var *v = g->nodes[i];
        if (!v->requires_grad) continue;
        if (v->kind == WEFT_NODE_OP && weft_node_of(v)->grad_in_value) {
            /* the op reading v writes its gradient over its value */
            v->grad = v->value;
            weft_node_of(v)->grad_ready = false;
            weft_node_of(v)->grad_cleared = true;
            continue;
        }
        if (v->kind == WEFT_NODE_OP && g->low_memory) {
            /* given by grad_before_use, when the first op adds to it */
            v->grad.data = NULL;
        } else if (v->kind == WEFT_NODE_PARAM) {
            v->grad = v->param->grad;
        } else if (v->view_of) {
            /* a view's gradient is its slice of view_of's (made earlier on
             * the tape, so already given one and zeroed if it is an op) */
            v->grad = v->value;
            v->grad.data = v->view_of->grad.data + v->view_offset;
        } else if (v->grad.data && v->kind != WEFT_NODE_OP) {
            /* a leaf's gradient from an earlier backward: keep, add (and it
             * stays ready even if this loss does not reach it) */
            continue;
        } else {
            if (!v->grad.data) {
                v->grad = v->value;
                v->grad.data = weft_graph_alloc(g, v->value.size * sizeof(float));
                if (!v->grad.data) return -1;
                /* a leaf's new gradient starts at zero now; an op's is
                 * zeroed every backward, by clear_grad_before_use */
                if (v->kind != WEFT_NODE_OP)
                    memset(v->grad.data, 0, v->value.size * sizeof(float));
            }
        }
        if (v->kind == WEFT_NODE_OP) {
            weft_node_of(v)->grad_ready = false;
            weft_node_of(v)->grad_cleared = false;
        }
    }
    return 0;
}

/* Walk the tape from the loss down. grad_ready marks the nodes the loss
 * reaches: the loss, then the inputs of every reached node (inputs come
 * earlier on the tape, so they are marked before the walk gets to them).
 * Only reached nodes run their backward; the products they defer are added
 * at the end (weft_matmul_sched_end_sweep: a few products over all steps'
 * rows instead of one per step). */
void weft_graph_on_grad_final(weft_graph *g, weft_grad_final_fn fn, void *ctx)
{
    g->on_final = fn;
    g->on_final_ctx = ctx;
}

/* For weft_graph_on_grad_final: first[k] = the lowest tape position up to
 * the loss of a node whose backward runs and that reads leaf k (or a view of
 * it), -1 when none does. */
static void first_readers(weft_graph *g, const weft_var *loss, int *first)
{
    for (int k = 0; k < g->n_leaves; k++) first[k] = -1;
    for (int i = loss->id; i >= 0; i--) {
        weft_var *v = g->nodes[i];
        if (!v->requires_grad || !v->op) continue;
        for (int j = 0; j < v->n_in; j++) {
            const weft_var *root = v->in[j];
            while (root->view_of) root = root->view_of;
            if (root->kind != WEFT_NODE_PARAM) continue;
            for (int k = 0; k < g->n_leaves; k++)
                if (g->leaves[k].var == root) first[k] = i;
        }
    }
}

static void sweep(weft_graph *g, weft_var *loss)
{
    if (grad_before_use(g, loss)) return;
    loss->grad.data[0] += 1.0f;
    weft_node_of(loss)->grad_ready = true;
    g->first_nonfinite = -1;
    weft_matmul_sched_begin_sweep(g->products);
    /* the tape position after whose backward each leaf's gradient is final
     * (no memory: then every leaf at the end) */
    int *first = g->on_final && g->n_leaves ? malloc((size_t)g->n_leaves * sizeof *first) : NULL;
    bool *told = first ? calloc((size_t)g->n_leaves, sizeof *told) : NULL;
    if (first && told) first_readers(g, loss, first);
    for (int i = loss->id; i >= 0; i--) {
        weft_var *v = g->nodes[i];
        if (!v->requires_grad || !weft_node_grad_ready(v) || !v->op) continue;
        weft_matmul_sched_at_node(g->products, i);
        for (int k = 0; k < v->n_in; k++)
            if (v->in[k]->requires_grad && grad_before_use(g, v->in[k])) goto out;
        int deferred = weft_matmul_sched_deferred(g->products);
        v->op->backward(g, v);
        for (int k = 0; k < v->n_in; k++)
            if (v->in[k]->requires_grad) weft_node_of(v->in[k])->grad_ready = true;
        if (g->low_memory)
            hand_on_grad(g, v, i, weft_matmul_sched_deferred(g->products) != deferred);
        if (!g->on_final) continue;
        for (int k = 0; told && k < g->n_leaves; k++)
            if (first[k] == i && !weft_matmul_sched_defers_to(g->products, g->leaves[k].var)) {
                told[k] = true;
                g->on_final(g->on_final_ctx, g->leaves[k].param);
            }
        g->on_final(g->on_final_ctx, NULL);
    }
    /* op nodes the loss does not reach still end with a zero gradient (a
     * low-memory graph gives them none) */
    for (int i = 0; i <= loss->id && !g->low_memory; i++)
        if (g->nodes[i]->requires_grad && grad_before_use(g, g->nodes[i])) goto out;
    /* build memos are stale from here: an optimizer step may follow */
    weft_matmul_sched_end_sweep(g->products);
    if (g->on_final)
        for (int k = 0; k < g->n_leaves; k++)
            if (!told || !told[k]) g->on_final(g->on_final_ctx, g->leaves[k].param);
out:
    free(first);
    free(told);
}

/* Fail naming the first node from the loss down whose gradient holds a NaN
 * or an Inf; -1 then, else 0. */
static int check_gradients_finite(weft_graph *g, const weft_var *loss)
{
    char name[160];
    for (int i = loss->id; i >= 0; i--) {
        weft_var *v = g->nodes[i];
        bool ready = v->requires_grad && weft_node_grad_ready(v);
        if (i == g->first_nonfinite || (ready && v->grad.data && has_nonfinite(&v->grad))) {
            weft_graph_fail(g, "backward: non-finite gradient at node %s, step %d, "
                            "layer %d (the first one from the loss)",
                            node_name(v, name, sizeof name), v->scope.time, v->scope.layer);
            return -1;
        }
    }
    return 0;
}

int weft_backward(weft_graph *g, weft_var *loss)
{
    if (g->forward_only) {
        weft_graph_fail(g, "backward: the graph is forward-only (weft_graph_set_forward_only): "
                        "it keeps nothing for a backward");
        return -1;
    }
    if (!loss_ok(g, loss)) return -1;
    if (g->low_memory && g->swept) {
        weft_graph_fail(g, "backward: a second backward over one forward of a low-memory "
                        "graph (its steps' saved values became gradients): run the forward "
                        "again first (weft_graph_recompute(g, 0))");
        return -1;
    }
    if (give_gradients(g, loss)) return -1;
    g->swept = g->low_memory;
    sweep(g, loss);
    if (g->check_finite && check_gradients_finite(g, loss)) return -1;
    return weft_graph_status(g);
}

void weft_graph_recompute(weft_graph *g, int from)
{
    if (from <= 0) g->swept = false;
    weft_matmul_sched_new_build(g->products);   /* the leaves may have changed */
    for (int i = from < 0 ? 0 : from; i < g->n_nodes; i++) {
        weft_var *v = g->nodes[i];
        if (v->op) v->op->forward(g, v);
    }
}
