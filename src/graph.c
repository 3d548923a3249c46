/* src/graph.c — the tape and the backward engine (weft/graph.h).
 *
 * The engine knows ops only through their descriptors: it calls
 * v->op->forward and v->op->backward and never includes ops/. */
#include "src/internal.h"
#include "weft/runtime.h"   /* weft_blis_context */

#include <blis.h>

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MAX 512

/* A product G += Lᵀ R (R == NULL: G += the column sums of L) that an op's
 * backward left to the end of the sweep (weft_defer_product). */
typedef struct deferred {
    weft_var *target;        /* the leaf whose gradient is G */
    const float *L, *R;      /* [rows, p], [rows, q], borrowed */
    int rows, p, q;
    int node;                /* tape position of the node whose backward made it */
    int order;               /* position in the record list */
} deferred;

/* Scratch kept for one backward sweep (weft_sweep_memo) or one build
 * (weft_build_memo). */
typedef struct sweep_memo {
    const void *key;
    int tag;
    bool build;              /* a build memo, else a sweep memo */
    unsigned epoch;          /* the sweep or build that last got it */
    size_t bytes;
    void *data;              /* arena memory */
} sweep_memo;

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
    deferred *deferred;      /* this sweep's deferred products (malloc'd, kept) */
    int n_deferred, cap_deferred;
    bool sweeping;           /* inside weft_backward's sweep: ops may defer */
    int sweep_node;          /* the node whose backward runs */
    unsigned sweep_id;       /* counts sweeps: a memo from an earlier one is stale */
    unsigned build_id;       /* counts builds: backward and recompute end one */
    sweep_memo *memos;       /* malloc'd, kept; their memory is the arena's */
    int n_memos, cap_memos;
    bool defer_off;          /* weft_graph_set_deferral(g, false) */
    float *gather;           /* arena scratch for the deferred products' pieces */
    size_t gather_floats;
    weft_defer_stats last;   /* what the last flush did */
    weft_scope scope;
    bool check_finite;
    bool has_error;
    char error[ERROR_MAX];
};

weft_graph *weft_graph_new(void)
{
    weft_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    weft_arena_init(&g->arena);
    g->scope = WEFT_NO_SCOPE;
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
    free(g->deferred);
    free(g->memos);
    free(g);
}

void weft_graph_reset(weft_graph *g)
{
    weft_arena_reset(&g->arena);
    g->n_nodes = 0;
    g->n_leaves = 0;
    g->n_deferred = 0;
    g->n_memos = 0;
    g->gather = NULL;        /* arena memory: gone with the reset */
    g->gather_floats = 0;
    g->has_error = false;
    g->error[0] = '\0';
    g->scope = WEFT_NO_SCOPE;
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
    weft_var *v = weft_graph_calloc(g, sizeof *v);
    if (!v) return NULL;
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
        in[i]->n_uses++;
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
    x->n_uses++;
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
    v->requires_grad = requires_grad;
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
    v->requires_grad = requires_grad;
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
    v->requires_grad = true;
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
    if (!v->grad_ready) {
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

/* --- deferred weight gradients ---------------------------------------------- */

/* Products under this many multiply-adds run on one BLIS thread: the rule of
 * src/matmul.h (WEFT_GEMM_SERIAL_MACS), which the engine does not include. It
 * depends on the shape only, so 1 and 2 threads give the same bits. */
#define SERIAL_MACS (1L << 21)

/* The pieces of one gradient are added in chunks of at least CHUNK_ROWS_MIN
 * rows, or as many as fit GATHER_BYTES when that is more. BLIS's product
 * G += Lᵀ R of the per-step shape (2048 x 512 at H = 512) ran at 62 GFLOP/s
 * with 64 or 128 rows and at 100 with 256 rows or more (1 thread, CPU time);
 * chunks keep the gathered copy small where a whole sequence would not be
 * (T = 1000, B = 64 at H = 512: 650 MB). */
#define CHUNK_ROWS_MIN 512
#define GATHER_BYTES ((size_t)8 << 20)

/* G[p, q] += Lᵀ R: L [k, p] and R [k, q] row-major with row strides p and q.
 * A transposed A and a plain B: BLIS's unpacked path may run, and gives the
 * same bits for 1 and 2 threads (measured; see src/matmul.h). */
static void add_product(float *G, int p, int q, int k, const float *L, const float *R)
{
    float one = 1.0f;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads((long)p * q * k < SERIAL_MACS ? 1 : bli_thread_get_num_threads(),
                             &rntm);
    weft_count_gemm(p, q, k);
    bli_sgemm_ex(BLIS_TRANSPOSE, BLIS_NO_TRANSPOSE, p, q, k, &one, (float *)L, p, 1,
                 (float *)R, q, 1, &one, G, q, 1, weft_blis_context(), &rntm);
}

void weft_graph_set_deferral(weft_graph *g, bool on)
{
    g->defer_off = !on;
}

weft_defer_stats weft_graph_defer_stats(const weft_graph *g)
{
    return g->last;
}

static bool record(weft_graph *g, weft_var *target, int rows, const float *L, int p,
                   const float *R, int q)
{
    if (!g->sweeping || g->defer_off || !target || target->op || !target->grad.data || rows < 1)
        return false;
    if ((size_t)p * (size_t)q != target->grad.size) return false;
    if (g->n_deferred == g->cap_deferred) {
        int cap = g->cap_deferred ? 2 * g->cap_deferred : 256;
        deferred *d = realloc(g->deferred, (size_t)cap * sizeof *d);
        if (!d) return false;
        g->deferred = d;
        g->cap_deferred = cap;
    }
    g->deferred[g->n_deferred] = (deferred){ target, L, R, rows, p, q, g->sweep_node,
                                             g->n_deferred };
    g->n_deferred++;
    return true;
}

bool weft_defer_product(weft_graph *g, weft_var *target, int rows, const float *L, int p,
                        const float *R, int q)
{
    if (!L || !R) return false;
    return record(g, target, rows, L, p, R, q);
}

bool weft_defer_colsum(weft_graph *g, weft_var *target, int rows, const float *L, int p)
{
    if (!L) return false;
    return record(g, target, rows, L, p, NULL, 1);
}

static void *memo(weft_graph *g, const void *key, int tag, bool build, size_t bytes, bool *fresh)
{
    unsigned epoch = build ? g->build_id : g->sweep_id;
    sweep_memo *m = NULL;
    for (int i = 0; i < g->n_memos && !m; i++)
        if (g->memos[i].key == key && g->memos[i].tag == tag && g->memos[i].build == build)
            m = &g->memos[i];
    if (m && m->bytes >= bytes) {
        *fresh = m->epoch != epoch;
        m->epoch = epoch;
        return m->data;
    }
    void *data = weft_arena_alloc(&g->arena, bytes);
    if (!data) return NULL;
    if (!m) {
        if (g->n_memos == g->cap_memos) {
            int cap = g->cap_memos ? 2 * g->cap_memos : 16;
            sweep_memo *more = realloc(g->memos, (size_t)cap * sizeof *more);
            if (!more) return NULL;
            g->memos = more;
            g->cap_memos = cap;
        }
        m = &g->memos[g->n_memos++];
        m->key = key;
        m->tag = tag;
        m->build = build;
    }
    m->bytes = bytes;
    m->data = data;
    m->epoch = epoch;
    *fresh = true;
    return data;
}

void *weft_sweep_memo(weft_graph *g, const void *key, int tag, size_t bytes, bool *fresh)
{
    *fresh = false;
    if (!g->sweeping || g->defer_off) return NULL;
    return memo(g, key, tag, false, bytes, fresh);
}

void *weft_build_memo(weft_graph *g, const void *key, int tag, size_t bytes, bool *fresh)
{
    *fresh = false;
    if (g->sweeping || g->defer_off) return NULL;
    return memo(g, key, tag, true, bytes, fresh);
}

/* Records of one gradient together (same target, same kind and shape), and
 * within it in tape order (the sweep runs from the loss down), one node's
 * records in the order it made them. Pointer order between targets only
 * decides which gradient is done first. */
static int by_target(const void *pa, const void *pb)
{
    const deferred *a = pa, *b = pb;
    uintptr_t ta = (uintptr_t)a->target, tb = (uintptr_t)b->target;
    if (ta != tb) return ta < tb ? -1 : 1;
    if ((a->R == NULL) != (b->R == NULL)) return a->R == NULL ? 1 : -1;
    if (a->p != b->p) return a->p < b->p ? -1 : 1;
    if (a->q != b->q) return a->q < b->q ? -1 : 1;
    if (a->node != b->node) return a->node < b->node ? -1 : 1;
    return a->order - b->order;
}

static bool same_group(const deferred *a, const deferred *b)
{
    return a->target == b->target && (a->R == NULL) == (b->R == NULL) && a->p == b->p &&
           a->q == b->q;
}

/* The arena scratch for gathering, at least `floats` long (NULL when the
 * arena refuses: the caller then adds the pieces one by one). */
static float *gather_space(weft_graph *g, size_t floats)
{
    if (g->gather_floats >= floats) return g->gather;
    float *p = weft_arena_alloc(&g->arena, floats * sizeof(float));
    if (!p) return NULL;
    g->gather = p;
    g->gather_floats = floats;
    return p;
}

/* The pieces d[0..n) of one side (L when left, else R; `width` floats a
 * row) as one [rows, width] matrix: the first piece's own memory when the
 * pieces lie one after the other, else copied into dst. */
static const float *side_by_side(const deferred *d, int n, bool left, int width, float *dst,
                                 bool *needs_copy)
{
    const float *first = left ? d[0].L : d[0].R;
    bool adjacent = true;
    for (int k = 1; k < n && adjacent; k++) {
        const float *prev = left ? d[k - 1].L : d[k - 1].R, *cur = left ? d[k].L : d[k].R;
        adjacent = cur == prev + (size_t)d[k - 1].rows * width;
    }
    *needs_copy = !adjacent;
    if (adjacent || !dst) return first;
    /* each piece's rows split among the threads as the ops that wrote them
     * split them (OpenMP's static schedule), so each copies from its cache */
    size_t total = 0;
    for (int k = 0; k < n; k++) total += (size_t)d[k].rows * width;
    #pragma omp parallel if (total > WEFT_PARALLEL_MIN)
    {
        size_t at = 0;
        for (int k = 0; k < n; k++) {
            const float *src = left ? d[k].L : d[k].R;
            #pragma omp for schedule(static) nowait
            for (int r = 0; r < d[k].rows; r++)
                memcpy(dst + at + (size_t)r * width, src + (size_t)r * width,
                       (size_t)width * sizeof(float));
            at += (size_t)d[k].rows * width;
        }
    }
    return dst;
}

/* G += Σ_k L_kᵀ R_k over the records d[0..n) of one gradient, in chunks. */
static void flush_products(weft_graph *g, const deferred *d, int n)
{
    float *G = d[0].target->grad.data;
    int p = d[0].p, q = d[0].q;
    if (n == 1) {
        add_product(G, p, q, d[0].rows, d[0].L, d[0].R);
        g->last.products++;
        return;
    }
    size_t total = 0;
    for (int k = 0; k < n; k++) total += (size_t)d[k].rows;
    size_t per = GATHER_BYTES / (sizeof(float) * ((size_t)p + (size_t)q));
    if (per < CHUNK_ROWS_MIN) per = CHUNK_ROWS_MIN;
    size_t chunks = total / per > 0 ? total / per : 1;
    size_t want = (total + chunks - 1) / chunks;   /* rows a chunk: as even as pieces allow */
    for (int s = 0; s < n;) {
        int e = s;
        size_t rows = 0;
        while (e < n && rows < want) rows += (size_t)d[e++].rows;
        bool copy_l, copy_r;
        side_by_side(d + s, e - s, true, p, NULL, &copy_l);
        side_by_side(d + s, e - s, false, q, NULL, &copy_r);
        size_t need = (copy_l ? rows * (size_t)p : 0) + (copy_r ? rows * (size_t)q : 0);
        float *space = need && e - s > 1 ? gather_space(g, need) : NULL;
        if (need && e - s > 1 && !space) {      /* no memory to gather: piece by piece */
            for (int k = s; k < e; k++) add_product(G, p, q, d[k].rows, d[k].L, d[k].R);
            g->last.products += e - s;
        } else {
            const float *L = side_by_side(d + s, e - s, true, p, space, &copy_l);
            const float *R = side_by_side(d + s, e - s, false, q,
                                          space ? space + (copy_l ? rows * (size_t)p : 0) : NULL,
                                          &copy_r);
            add_product(G, p, q, (int)rows, L, R);
            g->last.products++;
            g->last.gathered += (copy_l || copy_r);
        }
        s = e;
    }
}

/* G[o] += Σ_rows L[r, o] over the records d[0..n), row after row in tape
 * order (the plain loop of a bias's backward, run once for all steps).
 * Threads split the columns; each column still adds its rows in that order,
 * so the sums are the same on any number of threads. */
static void flush_colsums(const deferred *d, int n)
{
    enum { BLOCK = 64 };
    float *G = d[0].target->grad.data;
    int p = d[0].p, nblocks = (p + BLOCK - 1) / BLOCK;
    size_t rows = 0;
    for (int k = 0; k < n; k++) rows += (size_t)d[k].rows;
    #pragma omp parallel for if (rows * (size_t)p > 4 * WEFT_PARALLEL_MIN && nblocks > 1)
    for (int blk = 0; blk < nblocks; blk++) {
        int o0 = blk * BLOCK, o1 = o0 + BLOCK < p ? o0 + BLOCK : p;
        for (int k = 0; k < n; k++)
            for (int r = 0; r < d[k].rows; r++) {
                const float *row = d[k].L + (size_t)r * p;
                #pragma omp simd
                for (int o = o0; o < o1; o++) G[o] += row[o];
            }
    }
}

/* Add every product deferred during the sweep, then forget them. */
static void flush_deferred(weft_graph *g)
{
    int n = g->n_deferred;
    g->n_deferred = 0;
    g->last = (weft_defer_stats){ .records = n };
    if (n == 0) return;
    deferred *d = g->deferred;
    qsort(d, (size_t)n, sizeof *d, by_target);
    for (int s = 0; s < n;) {
        int e = s + 1;
        while (e < n && same_group(&d[s], &d[e])) e++;
        if (d[s].R) flush_products(g, d + s, e - s);
        else flush_colsums(d + s, e - s);
        s = e;
    }
}

/* Zero the gradient an op's backward is about to add into, once per
 * backward: v's own, or for a view the whole of the node it is a view of
 * (its consumers' gradients land there). Leaves keep what they have. */
static void clear_grad_before_use(weft_var *v)
{
    while (v->view_of) v = v->view_of;
    if (v->kind != WEFT_NODE_OP || v->grad_cleared) return;
    weft_zero_floats(v->grad.data, v->value.size);
    v->grad_cleared = true;
}

int weft_backward(weft_graph *g, weft_var *loss)
{
    char name[160];
    if (!loss) return weft_graph_fail(g, "backward: NULL loss (an op before it failed)"), -1;
    if (weft_graph_failed(g)) return -1;
    if (loss->value.size != 1) {
        char shape[64];
        weft_graph_fail(g, "backward: the loss must be a scalar, got %s of shape %s",
                        node_name(loss, name, sizeof name),
                        weft_shape_str(&loss->value, shape, sizeof shape));
        return -1;
    }
    if (!loss->requires_grad) {
        weft_graph_fail(g, "backward: the loss %s depends on no parameter or input that "
                        "requires a gradient", node_name(loss, name, sizeof name));
        return -1;
    }

    /* Give every node that needs one a gradient buffer: op nodes restart from
     * zero on every backward, leaves keep what they have (accumulate). A
     * parameter's leaf uses the store's gradient directly. An op node's
     * buffer is zeroed late, by clear_grad_before_use just before the first
     * backward that adds to it: then the zeroing touches memory the backward
     * is about to use (cache-warm), not the whole tape's in one cold pass. */
    for (int i = 0; i <= loss->id; i++) {
        weft_var *v = g->nodes[i];
        if (!v->requires_grad) continue;
        if (v->kind == WEFT_NODE_PARAM) {
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
        if (v->kind == WEFT_NODE_OP) v->grad_ready = v->grad_cleared = false;
    }

    /* Walk the tape from the loss down. grad_ready marks the nodes the loss
     * reaches: the loss, then the inputs of every reached node (inputs come
     * earlier on the tape, so they are marked before the walk gets to them).
     * Only reached nodes run their backward. */
    clear_grad_before_use(loss);
    loss->grad.data[0] += 1.0f;
    loss->grad_ready = true;
    g->n_deferred = 0;
    g->sweep_id++;
    g->sweeping = true;
    for (int i = loss->id; i >= 0; i--) {
        weft_var *v = g->nodes[i];
        if (!v->requires_grad || !v->grad_ready || !v->op) continue;
        g->sweep_node = i;
        for (int k = 0; k < v->n_in; k++)
            if (v->in[k]->requires_grad) clear_grad_before_use(v->in[k]);
        v->op->backward(g, v);
        for (int k = 0; k < v->n_in; k++)
            if (v->in[k]->requires_grad) v->in[k]->grad_ready = true;
    }
    g->sweeping = false;
    /* op nodes the loss does not reach still end with a zero gradient */
    for (int i = 0; i <= loss->id; i++)
        if (g->nodes[i]->requires_grad) clear_grad_before_use(g->nodes[i]);
    g->build_id++;           /* an optimizer step may follow: build memos are stale */
    /* The weight gradients the ops left to the end (weft_defer_product): a
     * few products over all steps' rows instead of one per step. */
    flush_deferred(g);

    if (g->check_finite) {
        for (int i = loss->id; i >= 0; i--) {
            weft_var *v = g->nodes[i];
            if (v->requires_grad && v->grad_ready && has_nonfinite(&v->grad)) {
                weft_graph_fail(g, "backward: non-finite gradient at node %s, step %d, "
                                "layer %d (the first one from the loss)",
                                node_name(v, name, sizeof name), v->scope.time, v->scope.layer);
                return -1;
            }
        }
    }
    return weft_graph_status(g);
}

void weft_graph_recompute(weft_graph *g, int from)
{
    g->build_id++;           /* the leaves may have changed */
    for (int i = from < 0 ? 0 : from; i < g->n_nodes; i++) {
        weft_var *v = g->nodes[i];
        if (v->op) v->op->forward(g, v);
    }
}
