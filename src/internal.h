/* src/internal.h — the engine's private interface, for ops/ and models/.
 * Nothing here is installed; nothing here is part of the public API. */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include "weft/graph.h"
#include "weft/params.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Elementwise loops run in parallel (OpenMP) only past this many elements:
 * below it, forking threads costs more than the loop. */
#define WEFT_PARALLEL_MIN 16384

/* --- error messages ---------------------------------------------------------- */

/* printf into the caller's err[errsize] (the "char *err, size_t errsize" pair
 * of the public functions); nothing when err is NULL or errsize is 0. */
static inline void weft_say(char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void weft_say(char *err, size_t errsize, const char *fmt, ...)
{
    if (!err || errsize == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
}

/* --- files (src/files.c) ------------------------------------------------------ */

/* Write path whole or not at all: write(f, ctx) fills a temporary file beside
 * it (0 on success), which is flushed, fsynced and renamed over path, keeping
 * the mode of the file it replaces (else 0644). On any failure path is left
 * as it was, and err names the file and the cause. 0 or -1. */
int weft_replace_file(const char *path, int (*write)(FILE *f, const void *ctx), const void *ctx,
                      char *err, size_t errsize);

/* --- the arena (src/arena.c) --------------------------------------------- */

typedef struct weft_arena_chunk {
    struct weft_arena_chunk *next;
    size_t size, used;
    unsigned char *data;          /* 64-byte aligned */
} weft_arena_chunk;

typedef struct weft_arena {
    weft_arena_chunk *first, *current;
    size_t capacity;              /* sum of chunk sizes */
    size_t used_before_current;   /* bytes used in chunks before current */
    size_t limit;                 /* 0: none */
} weft_arena;

void weft_arena_init(weft_arena *a);
void weft_arena_free(weft_arena *a);
void weft_arena_reset(weft_arena *a);
/* bytes, 64-byte aligned, uninitialised; NULL when the limit or the machine
 * refuses. */
void *weft_arena_alloc(weft_arena *a, size_t bytes);
size_t weft_arena_used(const weft_arena *a);

/* p[0..n) = 0; above WEFT_PARALLEL_MIN floats shared among the threads as
 * OpenMP's static schedule shares n elements (src/params.c says why). */
void weft_zero_floats(float *p, size_t n);

/* Add 2·m·n·k to the count weft_gemm_flops() reports (src/runtime.c): every
 * call of BLIS's sgemm or the packed kernel does, before it runs. */
void weft_count_gemm(int m, int n, int k);

/* The KC blocking weft_blis_context() (weft/runtime.h) gives BLIS where
 * the L2 cache allows: src/runtime.c says why. */
#define WEFT_BLIS_KC 1024

/* --- graph memory and nodes (src/graph.c) -------------------------------- */

/* Arena memory for an op's saved buffers (aligned, uninitialised). On failure
 * records an error naming the bytes wanted and returns NULL. */
void *weft_graph_alloc(weft_graph *g, size_t bytes);
void *weft_graph_calloc(weft_graph *g, size_t bytes);

/* Make an op node: copies the n_in input pointers, allocates an uninitialised
 * value of the given shape, stamps the current scope, sets requires_grad from
 * the inputs and appends it to the tape. The caller then fills attributes and
 * calls op->forward. NULL (with the graph's error set) when out of memory. */
weft_var *weft_node_new(weft_graph *g, const weft_op_desc *op, weft_var *const *in, int n_in,
                        int rank, const int *shape);
/* A node whose value is floats [offset, offset + size of shape) of x's value,
 * not a copy, and whose gradient will be the same slice of x's gradient
 * (see view_of in weft/graph.h). Its op's forward has nothing to compute and
 * its backward nothing to add. */
weft_var *weft_node_new_view(weft_graph *g, const weft_op_desc *op, weft_var *x, int rank,
                             const int *shape, size_t offset);

/* True when any of the n inputs is NULL (an earlier op failed): the op then
 * returns NULL without a message of its own. */
bool weft_any_null(weft_var *const *in, int n);

/* Does v take part in backward (has a gradient buffer)? */
static inline bool weft_wants_grad(const weft_var *v)
{
    return v->grad.data != NULL;
}

/* --- deferred weight gradients (src/graph.c) ----------------------------- */

/* A weight's gradient summed over the steps of an unrolled network,
 *
 *     G[p, q] += Lᵀ R        L [rows, p], R [rows, q], row-major, contiguous
 *
 * (linear: dW += dyᵀ x), costs one small product per step whose inner
 * dimension is only the batch. During weft_backward's sweep an op may hand
 * such a product to the engine instead of running it: the engine keeps
 * (L, R, rows) and, once the sweep is done, adds every product recorded for
 * one gradient as a few products over many rows (the pieces gathered side by
 * side, in tape order). weft_defer_colsum does the same for G[p] += the
 * column sums of L (a bias).
 *
 * Only a leaf's gradient (a parameter, an input) may be deferred: no backward
 * reads it during the sweep. L and R are borrowed until the sweep ends; an op
 * may pass its own gradient, its inputs' values and its saved buffers, which
 * nothing changes before the next backward. Returns true when the engine took
 * the product; false (outside a sweep, target not a leaf, no memory for the
 * record) when the op must add it now itself. */
bool weft_defer_product(weft_graph *g, weft_var *target, int rows, const float *L, int p,
                        const float *R, int q);
bool weft_defer_colsum(weft_graph *g, weft_var *target, int rows, const float *L, int p);
/* Scratch for an op's backward that lives for the rest of the sweep, found
 * again by (key, tag): a weight packed for the micro-kernel once, then used
 * by every step's backward. The first call of a sweep for a key returns
 * memory with *fresh = true (the caller fills it), later calls in the same
 * sweep the same memory with *fresh = false, unless they ask for more bytes
 * (then new memory, fresh). Values do not change during a sweep, so what was
 * computed from them stays right until its end; the next sweep starts
 * fresh. NULL outside a sweep or when the arena refuses: the caller then
 * does without. Arena memory, gone with weft_graph_reset. */
void *weft_sweep_memo(weft_graph *g, const void *key, int tag, size_t bytes, bool *fresh);

/* The same for an op's constructor (not its forward, which the gradient check
 * re-runs after changing a leaf): scratch kept while the graph is built,
 * fresh again after weft_graph_reset, after each backward (an optimizer step
 * may follow) and after weft_graph_recompute. What an op keeps there from a
 * parameter's value (linear: W packed) assumes the value has not changed
 * since; the op checks a few elements of it to catch a value changed in
 * between some other way. NULL during a sweep, with the memos off, or when
 * the arena refuses. Tags are the caller's; a key's build and sweep memos are
 * apart. */
void *weft_build_memo(weft_graph *g, const void *key, int tag, size_t bytes, bool *fresh);

/* On by default; off makes every op add its products itself during the
 * sweep, and weft_sweep_memo return NULL: the plain path, which the tests
 * compare with. */
void weft_graph_set_deferral(weft_graph *g, bool on);

/* What the last backward's flush did, for the tests: products recorded,
 * sgemm calls made for them, and how many of those gathered copies. */
typedef struct weft_defer_stats {
    int records, products, gathered;
} weft_defer_stats;
weft_defer_stats weft_graph_defer_stats(const weft_graph *g);

#endif
