/* weft/graph.h — the tape: nodes recorded as ops run, and backward over them.
 *
 * A graph is an append-only list of nodes in creation order. Ops compute their
 * value eagerly when called (weft_tanh(g, x) returns a node whose value is
 * already there) and append the node. weft_backward() walks the list in reverse
 * and calls each node's backward through its op descriptor; a backward adds
 * (+=) into its inputs' gradients, so a value used several times collects the
 * sum of its uses. Over an unrolled recurrent network this is backpropagation
 * through time.
 *
 * All node memory (the node, its value, its gradient, its saved buffers) comes
 * from the graph's arena: a list of chunks that grows when needed and is
 * reused after weft_graph_reset(), in O(1), so a training loop that resets the
 * graph every batch stops allocating after the first batch.
 *
 * Errors: an op given bad shapes returns NULL and records the first error on
 * its graph (op name, shapes, what was expected); an op given a NULL input
 * returns NULL. Build the whole thing, then check weft_graph_failed(g) once.
 *
 * Threads: a graph, its arena and its nodes belong to one thread at a time.
 */
#ifndef WEFT_GRAPH_H
#define WEFT_GRAPH_H

#include "weft/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_graph weft_graph;
typedef struct weft_var weft_var;
typedef struct weft_param weft_param;

/* An op: one row of the op table (ops/op_table.h). forward computes v->value
 * from v->in[] and v's attributes; backward adds v->grad's contribution into
 * the gradients of those inputs that have one (in[i]->grad.data != NULL). */
typedef struct weft_op_desc {
    const char *name;   /* "tanh": what `weft ops` lists */
    const char *label;  /* how the DOT drawing labels the node */
    void (*forward)(weft_graph *g, weft_var *v);
    void (*backward)(weft_graph *g, weft_var *v);
} weft_op_desc;

typedef enum weft_node_kind {
    WEFT_NODE_OP = 0,    /* made by an op */
    WEFT_NODE_INPUT,     /* data fed in by the caller */
    WEFT_NODE_PARAM,     /* the one leaf of a parameter in this graph */
    WEFT_NODE_STATE,     /* an initial or carried recurrent state (a leaf) */
} weft_node_kind;

/* Labels a node carries for drawing and inspection. Ops stamp every new node
 * with the graph's current scope (weft_graph_set_scope). -1 means "none". */
typedef struct weft_scope {
    int time;            /* time step */
    int layer;           /* layer in a stack */
    int dir;             /* 0 forward, 1 backward direction */
    const char *cell;    /* name of the cell that made the node (static string) */
} weft_scope;

#define WEFT_NO_SCOPE ((weft_scope){ -1, -1, -1, NULL })

/* A node of the tape: what a user of the graph reads. The engine keeps its
 * own bookkeeping and the op's attributes in a private part beside it
 * (src/internal.h), so a weft_var is made only by the graph, never by hand. */
struct weft_var {
    const weft_op_desc *op;  /* NULL for leaves */
    weft_var **in;           /* inputs, n_in of them */
    int n_in;
    int id;                  /* position on the tape */
    weft_node_kind kind;
    bool requires_grad;      /* some leaf below it wants a gradient */
    weft_tensor value;
    weft_tensor grad;        /* data NULL until backward needs it */

    weft_scope scope;
    const char *name;        /* a leaf's name (parameter, input, state) or NULL */
    weft_param *param;       /* for WEFT_NODE_PARAM: the parameter it stands for */

    /* A view (weft_narrow along the first dimension): value and gradient are
     * the floats [view_offset, view_offset + value.size) of view_of's value
     * and gradient, not copies. Consumers' gradients land in view_of's
     * gradient directly, so weft_grad_of a view gives view_of's slice: with
     * other uses of view_of, their share too. NULL for every other node. */
    weft_var *view_of;
    size_t view_offset;
};

/* Create an empty graph; the caller owns it (weft_graph_free). NULL when out
 * of memory. */
weft_graph *weft_graph_new(void);
void weft_graph_free(weft_graph *g);
/* Forget every node and the error, keep the arena's memory for reuse. O(1)
 * in the number of nodes. Every weft_var* of this graph dies here. */
void weft_graph_reset(weft_graph *g);

/* Forward-only (inference) mode, PyTorch's torch.inference_mode(): ops still
 * compute their values, but no node needs a gradient (leaves and parameters
 * made while it is on get requires_grad false), ops keep nothing for a
 * backward (the fused recurrent steps save no activations and no h_{t-1}),
 * the per-step products of a few rows read the weights in place instead of
 * packing them, and weft_backward refuses. A caller that runs a model one
 * step at a time resets the graph every step (weft_graph_reset keeps the
 * mode and the arena's memory), so a step costs its arithmetic and a few
 * hundred bytes of bookkeeping. Off by default; set it on an empty graph
 * (after weft_graph_new or weft_graph_reset). The values equal those of the
 * taped forward (tests/test_infer.c). */
void weft_graph_set_forward_only(weft_graph *g, bool on);
bool weft_graph_is_forward_only(const weft_graph *g);

/* Limit the arena (0, the default, means no limit but the machine's). An
 * allocation past the limit fails with an error naming the bytes wanted. */
void weft_graph_set_memory_limit(weft_graph *g, size_t bytes);
/* Bytes the arena holds in its chunks (grows, never shrinks until free). */
size_t weft_graph_arena_capacity(const weft_graph *g);
/* Bytes handed out since the last reset. */
size_t weft_graph_arena_used(const weft_graph *g);

/* Training memory near what backward needs (docs/performance.md, "Memory").
 * Off by default. On, backward gives an intermediate node its gradient only
 * when the first op adds to it, and hands that memory on (to the next
 * gradient of the same size) as soon as the node's own backward has run;
 * and the fused recurrent steps of a sequence keep what their backward needs
 * in the memory of the sequence's input projection (weft_seq_new), which
 * their backward then overwrites with its gradient. The price: weft_grad_of
 * answers for leaves only, and a second backward needs the forward run again
 * (weft_graph_recompute(g, 0)). The trainers turn it on. */
void weft_graph_set_low_memory(weft_graph *g, bool on);

/* Leaves. weft_input copies t into the graph (the graph owns the copy);
 * requires_grad asks backward to compute its gradient. name is borrowed and
 * must outlive the graph's use (a string literal is typical); it may be NULL. */
weft_var *weft_input(weft_graph *g, const weft_tensor *t, const char *name, bool requires_grad);
/* A zero-filled input leaf of the given shape, to fill in place. */
weft_var *weft_input_zeros(weft_graph *g, int rank, const int *shape, const char *name, bool requires_grad);
/* A state leaf (initial or carried recurrent state): like an input, drawn as
 * a state. */
weft_var *weft_state_leaf(weft_graph *g, const weft_tensor *t, const char *name, bool requires_grad);
/* The graph's one leaf for parameter p: the first call makes it, later calls
 * return the same node, so a drawing shows one weight with an edge to every
 * step that uses it. Its value borrows p's value (no copy) and backward adds
 * its gradient straight into p's gradient in the parameter store. */
weft_var *weft_param_var(weft_graph *g, weft_param *p);

/* Run backward from a scalar loss (a node with one element): its gradient is
 * seeded with 1. Gradients of op nodes are recomputed from zero on every call;
 * gradients of leaves (parameters, inputs) accumulate, so calling backward
 * twice doubles them. Returns 0, or -1 with the graph's error set. */
int weft_backward(weft_graph *g, weft_var *loss);

/* The gradient of v from the last backward. Returns NULL, and records an
 * error naming the node, when v has none (it needs no gradient, or backward
 * has not run since v was made). Borrowed from the graph. */
const weft_tensor *weft_grad_of(weft_graph *g, const weft_var *v);
/* The value of v, borrowed from the graph (NULL for a NULL v). */
const weft_tensor *weft_value(const weft_var *v);
/* The single value of a one-element node (NaN for NULL). */
float weft_scalar(const weft_var *v);

/* After backward, look for a non-finite gradient and fail naming the first
 * node (nearest the loss) that has one. Off by default; WEFT_CHECK_FINITE=1 in
 * the environment turns it on for every new graph. */
void weft_graph_check_finite(weft_graph *g, bool on);

/* The first error recorded, or NULL. Borrowed from the graph. */
const char *weft_graph_error(const weft_graph *g);
/* True when an error has been recorded (or g is NULL): `if (weft_graph_failed(g))`. */
bool weft_graph_failed(const weft_graph *g);
/* The same as a status: 0 when no error has been recorded, -1 otherwise (what a
 * cell's step function returns: `return weft_graph_status(g);`). */
int weft_graph_status(const weft_graph *g);
/* Record an error (printf-style) unless one is already recorded; returns NULL
 * so that an op can `return weft_graph_fail(...)`. */
weft_var *weft_graph_fail(weft_graph *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The scope stamped on nodes made from now on. */
void weft_graph_set_scope(weft_graph *g, weft_scope s);
weft_scope weft_graph_scope(const weft_graph *g);

/* The tape, in creation order. */
int weft_graph_size(const weft_graph *g);
weft_var *weft_graph_node(const weft_graph *g, int i);

/* Re-run the forward of every op node from tape position `from` on, in order,
 * with the leaves as they are now. Used by the gradient check after it nudges
 * a leaf; an op's forward is a pure function of its inputs and attributes. */
void weft_graph_recompute(weft_graph *g, int from);

#ifdef __cplusplus
}
#endif

#endif
