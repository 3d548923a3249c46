/* src/matmul.c — the scheduling of matrix products across one graph's life:
 * the weight-gradient products an op's backward leaves to the end of the
 * sweep (weft_defer_product, weft_defer_colsum), added as a few products over
 * many rows, and the scratch an op keeps for a sweep or a build, found again
 * by key (weft_sweep_memo, weft_build_memo: a weight packed once for every
 * step). src/matmul.h says what each promises; the graph (src/graph.c) owns
 * one schedule and tells it when a sweep begins and ends, and nothing else
 * about products. */
#include "src/matmul.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

struct weft_matmul_sched {
    weft_arena *arena;       /* the graph's: memos and the gathered pieces live there */
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
};

weft_matmul_sched *weft_matmul_sched_new(weft_arena *arena)
{
    weft_matmul_sched *s = calloc(1, sizeof *s);
    if (s) s->arena = arena;
    return s;
}

void weft_matmul_sched_free(weft_matmul_sched *s)
{
    if (!s) return;
    free(s->deferred);
    free(s->memos);
    free(s);
}

void weft_matmul_sched_reset(weft_matmul_sched *s)
{
    s->n_deferred = 0;
    s->n_memos = 0;
    s->gather = NULL;        /* arena memory: gone with the reset */
    s->gather_floats = 0;
}

void weft_matmul_sched_new_build(weft_matmul_sched *s)
{
    s->build_id++;
}

void weft_matmul_sched_begin_sweep(weft_matmul_sched *s)
{
    s->n_deferred = 0;
    s->sweep_id++;
    s->sweeping = true;
}

void weft_matmul_sched_at_node(weft_matmul_sched *s, int node)
{
    s->sweep_node = node;
}

void weft_graph_set_deferral(weft_graph *g, bool on)
{
    weft_graph_matmul_sched(g)->defer_off = !on;
}

weft_defer_stats weft_graph_defer_stats(const weft_graph *g)
{
    return weft_graph_matmul_sched((weft_graph *)g)->last;
}

int weft_matmul_sched_deferred(const weft_matmul_sched *s)
{
    return s->n_deferred;
}

/* --- deferred weight gradients ---------------------------------------------- */

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
 * same bits for 1 and 2 threads (sgemm_rowmajor says so). */
static void add_product(float *G, int p, int q, int k, const float *L, const float *R)
{
    sgemm_rowmajor(true, false, p, q, k, 1.0f, L, R, 1.0f, G);
}

static bool record(weft_matmul_sched *s, weft_var *target, int rows, const float *L, int p,
                   const float *R, int q)
{
    if (!s->sweeping || s->defer_off || !target || target->op || !target->grad.data || rows < 1)
        return false;
    if ((size_t)p * (size_t)q != target->grad.size) return false;
    if (s->n_deferred == s->cap_deferred) {
        int cap = s->cap_deferred ? 2 * s->cap_deferred : 256;
        deferred *d = realloc(s->deferred, (size_t)cap * sizeof *d);
        if (!d) return false;
        s->deferred = d;
        s->cap_deferred = cap;
    }
    s->deferred[s->n_deferred] = (deferred){ target, L, R, rows, p, q, s->sweep_node,
                                             s->n_deferred };
    s->n_deferred++;
    return true;
}

bool weft_defer_product(weft_graph *g, weft_var *target, int rows, const float *L, int p,
                        const float *R, int q)
{
    if (!L || !R) return false;
    return record(weft_graph_matmul_sched(g), target, rows, L, p, R, q);
}

bool weft_matmul_sched_defers_to(const weft_matmul_sched *s, const weft_var *leaf)
{
    for (int i = 0; i < s->n_deferred; i++) {
        const weft_var *t = s->deferred[i].target;
        while (t->view_of) t = t->view_of;
        if (t == leaf) return true;
    }
    return false;
}

bool weft_defer_colsum(weft_graph *g, weft_var *target, int rows, const float *L, int p)
{
    if (!L) return false;
    return record(weft_graph_matmul_sched(g), target, rows, L, p, NULL, 1);
}

static void *memo(weft_matmul_sched *s, const void *key, int tag, bool build, size_t bytes,
                  bool *fresh)
{
    unsigned epoch = build ? s->build_id : s->sweep_id;
    sweep_memo *m = NULL;
    for (int i = 0; i < s->n_memos && !m; i++)
        if (s->memos[i].key == key && s->memos[i].tag == tag && s->memos[i].build == build)
            m = &s->memos[i];
    if (m && m->bytes >= bytes) {
        *fresh = m->epoch != epoch;
        m->epoch = epoch;
        return m->data;
    }
    void *data = weft_arena_alloc(s->arena, bytes);
    if (!data) return NULL;
    if (!m) {
        if (s->n_memos == s->cap_memos) {
            int cap = s->cap_memos ? 2 * s->cap_memos : 16;
            sweep_memo *more = realloc(s->memos, (size_t)cap * sizeof *more);
            if (!more) return NULL;
            s->memos = more;
            s->cap_memos = cap;
        }
        m = &s->memos[s->n_memos++];
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
    weft_matmul_sched *s = weft_graph_matmul_sched(g);
    *fresh = false;
    if (!s->sweeping || s->defer_off) return NULL;
    return memo(s, key, tag, false, bytes, fresh);
}

void *weft_build_memo(weft_graph *g, const void *key, int tag, size_t bytes, bool *fresh)
{
    weft_matmul_sched *s = weft_graph_matmul_sched(g);
    *fresh = false;
    if (s->sweeping || s->defer_off) return NULL;
    return memo(s, key, tag, true, bytes, fresh);
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
static float *gather_space(weft_matmul_sched *s, size_t floats)
{
    if (s->gather_floats >= floats) return s->gather;
    float *p = weft_arena_alloc(s->arena, floats * sizeof(float));
    if (!p) return NULL;
    s->gather = p;
    s->gather_floats = floats;
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

/* Rows a chunk of one gradient's n records takes: at least CHUNK_ROWS_MIN,
 * or what GATHER_BYTES holds, spread as evenly as the pieces allow. */
static size_t chunk_rows(const deferred *d, int n)
{
    size_t total = 0;
    for (int k = 0; k < n; k++) total += (size_t)d[k].rows;
    size_t per = GATHER_BYTES / (sizeof(float) * ((size_t)d[0].p + (size_t)d[0].q));
    if (per < CHUNK_ROWS_MIN) per = CHUNK_ROWS_MIN;
    size_t chunks = total / per > 0 ? total / per : 1;
    return (total + chunks - 1) / chunks;
}

/* G += Σ_k L_kᵀ R_k over the records d[0..n) of one gradient, in chunks. */
static void flush_products(weft_matmul_sched *s, const deferred *d, int n)
{
    float *G = d[0].target->grad.data;
    int p = d[0].p, q = d[0].q;
    if (n == 1) {
        add_product(G, p, q, d[0].rows, d[0].L, d[0].R);
        s->last.products++;
        return;
    }
    size_t want = chunk_rows(d, n);
    for (int a = 0; a < n;) {
        int e = a;
        size_t rows = 0;
        while (e < n && rows < want) rows += (size_t)d[e++].rows;
        bool copy_l, copy_r;
        side_by_side(d + a, e - a, true, p, NULL, &copy_l);
        side_by_side(d + a, e - a, false, q, NULL, &copy_r);
        size_t need = (copy_l ? rows * (size_t)p : 0) + (copy_r ? rows * (size_t)q : 0);
        float *space = need && e - a > 1 ? gather_space(s, need) : NULL;
        if (need && e - a > 1 && !space) {      /* no memory to gather: piece by piece */
            for (int k = a; k < e; k++) add_product(G, p, q, d[k].rows, d[k].L, d[k].R);
            s->last.products += e - a;
        } else {
            const float *L = side_by_side(d + a, e - a, true, p, space, &copy_l);
            const float *R = side_by_side(d + a, e - a, false, q,
                                          space ? space + (copy_l ? rows * (size_t)p : 0) : NULL,
                                          &copy_r);
            add_product(G, p, q, (int)rows, L, R);
            s->last.products++;
            s->last.gathered += (copy_l || copy_r);
        }
        a = e;
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

void weft_matmul_sched_end_sweep(weft_matmul_sched *s)
{
    s->sweeping = false;
    s->build_id++;           /* an optimizer step may follow: build memos are stale */
    /* Add every product deferred during the sweep, then forget them. */
    int n = s->n_deferred;
    s->n_deferred = 0;
    s->last = (weft_defer_stats){ .records = n };
    if (n == 0) return;
    deferred *d = s->deferred;
    qsort(d, (size_t)n, sizeof *d, by_target);
    for (int a = 0; a < n;) {
        int e = a + 1;
        while (e < n && same_group(&d[a], &d[e])) e++;
        if (d[a].R) flush_products(s, d + a, e - a);
        else flush_colsums(d + a, e - a);
        a = e;
    }
}
