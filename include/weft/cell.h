/* weft/cell.h — recurrent cells: one time step composed from ops.
 *
 * A cell type is a small struct a user fills in (see docs/cells.md and
 * examples/mgu.c):
 *
 *   - a name ("lstm", "mgu"), a one-line description and the formula of its
 *     parameter count, for listings;
 *   - the number of state vectors it carries from step to step (Elman and GRU
 *     1: h; LSTM 2: h and c). State 0 is always h, the cell's output: what the
 *     next layer, the output layer and the other direction see;
 *   - `declare`: the parameters it wants for input width I and hidden width H,
 *     each by a short base name ("weight_hh"), a shape and an initialiser;
 *   - `step`: given the graph, x_t [B, I] and the previous states (each
 *     [B, H]), compose public ops into the next states and return weft_graph_status(g).
 *
 * A cell (weft_cell) binds a type to I, H and its parameters in a parameter
 * store. Inside a step, weft_cell_param(c, g, "weight_hh") is the graph's
 * leaf for one of them. Built-in cells (weft_cell_find) are written exactly
 * this way, with the public ops only; a user's cell is used by weft_unroll,
 * stacking, bidirectional layers, the DOT drawing and the gradient check
 * exactly as a built-in one is.
 *
 * The fast-path contract. A type may also fill two optional hooks, which
 * weft_unroll uses instead of `step` when both are present (and the caller
 * has not asked for the composed path):
 *
 *   project_inputs(c, g, xs): xs is the whole input sequence [T, B, I] of
 *       this cell. Returns one node [T, B, P] holding the part of each step
 *       that depends on x_t alone (for an LSTM, x_t W_ihᵀ + b_ih, P = 4H): one
 *       GEMM for all T steps instead of T small ones. It is called once per
 *       layer and direction, before the time loop. It must act row by row
 *       (row (t, b) of the result depends on xs[t, b] alone): weft_unroll
 *       may run it on the rows of an embedding table instead and look the
 *       results up (weft_unroll_opts.input_table).
 *   step_projected(c, g, xp, prev, next): the step, given xp = step t's row
 *       block of that node ([B, P]) instead of x_t. Same states in and out,
 *       same return value as `step`.
 *
 * Both must read the same parameter tensors as `step` (through
 * weft_cell_param), so that weight tying, weight dropout and checkpoints see
 * one set of weights, and must agree with `step` in value and gradient: for
 * every x, prev, step_projected(project_inputs(x)[t], prev) == step(x[t],
 * prev). A fused step (one op node per cell per step, its own backward) is
 * plugged in as step_projected. The built-in Elman, LSTM (all variants) and
 * GRU cells fill both hooks, so the input projection is one GEMM; Elman
 * (tanh, relu), LSTM, LSTM-b and GRU take a fused op as step_projected
 * (weft_rnn_tanh_step, weft_lstm_step, ... in weft/ops.h); the other LSTM
 * variants compose theirs from ops. `step` stays composed everywhere: it is
 * the path weft_unroll's `composed` option runs and tests compare against.
 */
#ifndef WEFT_CELL_H
#define WEFT_CELL_H

#include <stdbool.h>
#include <stddef.h>
#include "weft/graph.h"
#include "weft/params.h"
#include "weft/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_CELL_MAX_STATES 4
#define WEFT_CELL_MAX_PARAMS 16
#define WEFT_CELL_NAME_MAX 32

typedef struct weft_cell weft_cell;
typedef struct weft_cell_type weft_cell_type;

/* How a parameter starts (weft_cell_reset_parameters). */
typedef enum weft_cell_init {
    WEFT_CELL_INIT_DEFAULT = 0,  /* uniform in [-1/sqrt(H), 1/sqrt(H)), as PyTorch's RNNs */
    WEFT_CELL_INIT_UNIFORM,      /* uniform in [-value, value) */
    WEFT_CELL_INIT_CONSTANT,     /* every element = value */
} weft_cell_init;

/* One parameter a cell type asks for. */
typedef struct weft_cell_param_spec {
    char name[WEFT_CELL_NAME_MAX];  /* base name: "weight_ih" */
    int rank;                        /* 1 or 2 */
    int shape[2];                    /* [out, in] for matrices (weft_linear's layout) */
    weft_cell_init init;
    float value;                     /* for UNIFORM and CONSTANT */
} weft_cell_param_spec;

struct weft_cell_type {
    const char *name;            /* "lstm"; what weft_cell_find and the DOT labels use */
    const char *description;     /* one line, for `weft cells` */
    const char *param_formula;   /* "4H(I+H) + 8H", for `weft cells` */
    int n_states;                /* 1..WEFT_CELL_MAX_STATES; state 0 is h, the output */
    const char *state_names[WEFT_CELL_MAX_STATES];  /* "h", "c"; NULL: "s1", ... */

    /* Fill specs[0..n) (at most WEFT_CELL_MAX_PARAMS) for input width I and
     * hidden width H; return n, or -1 when this type cannot take these
     * sizes (then write the reason into err). */
    int (*declare)(const weft_cell_type *t, int I, int H, weft_cell_param_spec *specs,
                   char *err, size_t errsize);

    /* One step: x [B, I], prev[k] [B, H] -> next[k] [B, H] for k < n_states.
     * Compose public ops; return weft_graph_status(g). */
    int (*step)(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                weft_var **next);

    /* Optional, after every parameter got its declared initialiser (for
     * instance LSTM-b's forget-gate bias). Return 0 or -1. */
    int (*init)(const weft_cell *c, weft_rng *rng);

    /* Optional fast path; see the contract at the top of this file. Both or
     * neither. */
    weft_var *(*project_inputs)(const weft_cell *c, weft_graph *g, weft_var *xs);
    int (*step_projected)(const weft_cell *c, weft_graph *g, weft_var *xp,
                          weft_var *const *prev, weft_var **next);

    int variant;                 /* free for the type's own use (built-ins: which variant) */
    const void *data;            /* free for the type's own use */
};

/* A cell: a type bound to its sizes and its parameters. Plain data; the
 * parameters belong to the store. */
struct weft_cell {
    const weft_cell_type *type;
    int input_size, hidden_size;
    int n_params;
    weft_cell_param_spec specs[WEFT_CELL_MAX_PARAMS];
    weft_param *params[WEFT_CELL_MAX_PARAMS];   /* borrowed from the store */
    int layer, dir;              /* where it sits in a stack (0, 0 for a lone cell) */
};

/* Helpers for a declare function: a parameter spec with the default
 * initialiser, e.g.  specs[n++] = weft_cell_matrix("weight_hh", H, H);
 * A name longer than WEFT_CELL_NAME_MAX - 1 is cut (and then refused as
 * declared). */
weft_cell_param_spec weft_cell_matrix(const char *name, int rows, int cols);
weft_cell_param_spec weft_cell_vector(const char *name, int n);

/* Bind type t to input width I and hidden width H, adding its parameters to
 * store s named prefix + base name + suffix ("rnn." "weight_ih" "_l0"; prefix
 * and suffix may be NULL). The parameters start at zero: call
 * weft_cell_reset_parameters. Returns 0, or -1 with a message in err (a bad
 * type, bad sizes, a name already in the store). On failure parameters added
 * before the failing one stay in the store. */
int weft_cell_bind(weft_cell *c, const weft_cell_type *t, int I, int H, weft_params *s,
                   const char *prefix, const char *suffix, char *err, size_t errsize);

/* Give every parameter its declared initialiser, then call the type's init
 * hook. Returns 0, or -1 when the hook fails. */
int weft_cell_reset_parameters(weft_cell *c, weft_rng *rng);

/* The graph's leaf for the cell's parameter of base name `name` (as
 * weft_param_var: one leaf per graph). NULL, with an error on g naming the
 * cell and the parameters it has, when there is no such parameter. */
weft_var *weft_cell_param(const weft_cell *c, weft_graph *g, const char *name);

/* The store's parameter of that base name, or NULL. Borrowed. */
weft_param *weft_cell_param_ptr(const weft_cell *c, const char *name);

/* Number of parameter elements of the cell. */
size_t weft_cell_numel(const weft_cell *c);

/* Run one step through the type's step function, checking shapes on the way
 * in (x [B, I], prev[k] [B, H]) and on the way out (every next[k] [B, H]).
 * Returns 0, or -1 with the graph's error set (naming the cell). */
int weft_cell_step(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                   weft_var **next);

/* The same through the fast path (xp: step t of project_inputs' node). */
int weft_cell_step_projected(const weft_cell *c, weft_graph *g, weft_var *xp,
                             weft_var *const *prev, weft_var **next);

/* true when t has both fast-path hooks. */
bool weft_cell_type_has_fast_path(const weft_cell_type *t);

/* Parameter elements a cell of type t has at sizes I, H (0 when the type
 * refuses them). */
size_t weft_cell_type_numel(const weft_cell_type *t, int I, int H);

/* The parameters a cell of type t declares at sizes I, H, checked as
 * weft_cell_bind checks them, into specs[0..WEFT_CELL_MAX_PARAMS): their count,
 * or -1 with a message. Allocates nothing (a loader compares them with a
 * file's tensors before building anything). */
int weft_cell_type_params(const weft_cell_type *t, int I, int H, weft_cell_param_spec *specs,
                          char *err, size_t errsize);

/* --- built-in cells ---------------------------------------------------------- */

/* The built-in type of that command-line name ("rnn", "rnn-relu", "lstm",
 * "lstm-f", "lstm-i", "lstm-o", "lstm-b", "lstm-peephole", "lstm-coupled",
 * "gru", "mut1", "mut2", "mut3"), or NULL. */
const weft_cell_type *weft_cell_find(const char *name);
/* All built-in types, in listing order; n receives the count. */
const weft_cell_type *const *weft_cell_types(int *n);

/* --- cells from shared objects (plugins) -------------------------------------- */

/* A plugin is a shared object that exports this one function, returning a
 * cell type that lives as long as the object is loaded:
 *
 *     const weft_cell_type *weft_cell_plugin(void) { return &my_cell; }
 *
 * It calls weft's ops, which the program loading it provides (the `weft`
 * executable exports them), so it is built without linking weft:
 *
 *     cc -shared -fPIC -O2 -I include -o mgu.so examples/mgu.c -DMGU_PLUGIN -DMGU_NO_MAIN */
#define WEFT_CELL_PLUGIN_SYMBOL "weft_cell_plugin"
typedef const weft_cell_type *(*weft_cell_plugin_fn)(void);
const weft_cell_type *weft_cell_plugin(void);

/* Load the plugin at path (a name with a '/', or it is searched as dlopen
 * does). Returns its cell type and sets *handle (weft_cell_plugin_close);
 * NULL with a message in err: the file missing or not a shared object, the
 * symbol missing, a type without name, step or declare. The type is borrowed
 * from the object: it is valid until weft_cell_plugin_close(handle). */
const weft_cell_type *weft_cell_plugin_open(const char *path, void **handle, char *err,
                                            size_t errsize);
void weft_cell_plugin_close(void *handle);

/* What a command line's cell name means: a plugin when it names a file (it
 * holds a '/' or ends in ".so"; *handle is set as weft_cell_plugin_open
 * does, and the path is allowed for model files too: weft_cell_plugin_allow),
 * else a built-in name (*handle = NULL). NULL with a message in err that
 * lists the built-in cells when the name is unknown. Only for names the
 * program's user gave: a name read from a file goes through
 * weft_cell_lookup_from_file. */
const weft_cell_type *weft_cell_lookup(const char *name, void **handle, char *err,
                                       size_t errsize);

/* --- which plugins a model file may name ----------------------------------------
 *
 * A checkpoint records its cell by name; for a plugin that name is a path.
 * Loading the plugin runs its code (a shared object's constructors run inside
 * dlopen, before anything can be checked), so a file alone never makes weft
 * load one: the checkpoint loaders (weft_lm_load, weft_lm_load_run, every
 * loader built on weft_cell_lookup_from_file) load a plugin only when the
 * program's user named it first, with weft_cell_plugin_allow (the command
 * line's --allow-plugin FILE, and --cell FILE.so). A path matches when it is
 * the same string or names the same file (realpath); the loader then opens
 * the file the user named, never what a search path would find. The list is
 * the process's, as dlopen's own state is; it is safe to call from any thread. */

/* Let checkpoints name the plugin at path (copied). Returns 0, or -1 with a
 * message (out of memory, or more than 64 paths). */
int weft_cell_plugin_allow(const char *path, char *err, size_t errsize);
/* Forget every allowed path. */
void weft_cell_plugin_allow_none(void);

/* The cell a model file names (`file` is its path, for messages): a built-in
 * name, or a plugin that weft_cell_plugin_allow allowed (*handle set as
 * weft_cell_plugin_open does). A plugin nobody allowed is an error naming it
 * and how to allow it; nothing is loaded then. */
const weft_cell_type *weft_cell_lookup_from_file(const char *name, const char *file,
                                                 void **handle, char *err, size_t errsize);

/* true when a cell name names a plugin file (a '/' in it, or ".so" at its end). */
bool weft_cell_name_is_plugin(const char *name);

/* The built-in types, for direct use. */
extern const weft_cell_type weft_cell_rnn_tanh, weft_cell_rnn_relu, weft_cell_rnn_sigmoid;
extern const weft_cell_type weft_cell_lstm, weft_cell_lstm_f, weft_cell_lstm_i,
    weft_cell_lstm_o, weft_cell_lstm_b, weft_cell_lstm_peephole, weft_cell_lstm_coupled;
extern const weft_cell_type weft_cell_gru;
extern const weft_cell_type weft_cell_mut1, weft_cell_mut2, weft_cell_mut3;

#ifdef __cplusplus
}
#endif

#endif
