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

#endif
