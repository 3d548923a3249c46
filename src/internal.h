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

/* --- gradients as they become final --------------------------------------------- */

/* During weft_backward's sweep, fn(ctx, p) once for each parameter p whose
 * gradient no later backward of the sweep will change: right after the
 * backward of the first node on the tape that reads p's leaf (or a view of
 * it), or at the sweep's end for a leaf the sweep deferred products into or
 * no node reads; and fn(ctx, NULL) after every node's backward (a caller
 * overlapping communication with the sweep makes progress there). fn must
 * not touch the graph. NULL fn: off. The data-parallel trainer starts the
 * reduction of a bucket of gradients as soon as all of its parameters are
 * final (models/train/trainer.c). */
typedef void (*weft_grad_final_fn)(void *ctx, const weft_param *p);
void weft_graph_on_grad_final(weft_graph *g, weft_grad_final_fn fn, void *ctx);

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

/* The whole file at path (src/data.c) in a new NUL-terminated buffer (*text, the caller's:
 * free()) of *len bytes. Returns 0, or -1 with a message naming the file. */
int weft_read_file(const char *path, char **text, size_t *len, char *err, size_t errsize);
/* Length of the UTF-8 sequence starting at s (at most n bytes), or 0 when it
 * is not valid UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). */
int weft_utf8_length(const unsigned char *s, size_t n);

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

/* Bytes a node keeps for its op's attributes (weft_node_attrs). */
#define WEFT_NODE_ATTR_BYTES 32

/* A node as the graph allocates it: the public weft_var first (so a
 * weft_var * of a graph points at its weft_node), then what only the engine
 * and the ops read. */
typedef struct weft_node {
    weft_var var;
    bool grad_ready;         /* grad holds the result of a backward */
    bool grad_cleared;       /* an op node's grad was zeroed in this backward */
    int n_uses;              /* inputs of later nodes that name this one */
    /* The gradient lives in the value's memory: an op that reads this node
     * keeps what its backward needs there and overwrites it with the
     * gradient (ops/recurrent.c's chains in a low-memory graph). Never
     * zeroed by the engine: that op writes every element. */
    bool grad_in_value;
    /* The op's attributes: each op family lays out its own struct here
     * (ops/linalg.c's matmul_attrs, ...), zero when the node is made. */
    union {
        max_align_t align;
        unsigned char bytes[WEFT_NODE_ATTR_BYTES];
    } attrs;
} weft_node;

static inline weft_node *weft_node_of(const weft_var *v)
{
    return (weft_node *)v;
}

/* The storage of v's op attributes, WEFT_NODE_ATTR_BYTES long and aligned
 * for any type; an op family reads it as its own struct. */
static inline void *weft_node_attrs(const weft_var *v)
{
    return weft_node_of(v)->attrs.bytes;
}

/* How many inputs of later nodes name v: an op can tell it is the only one
 * to add into v's gradient (the recurrent chains, docs/fused.md). */
static inline int weft_node_uses(const weft_var *v)
{
    return weft_node_of(v)->n_uses;
}

/* Did the last backward reach v (its gradient holds a result)? */
static inline bool weft_node_grad_ready(const weft_var *v)
{
    return weft_node_of(v)->grad_ready;
}

/* Is the graph in low-memory mode (weft_graph_set_low_memory)? */
bool weft_graph_is_low_memory(const weft_graph *g);

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
