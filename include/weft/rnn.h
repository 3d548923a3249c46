/* weft/rnn.h — recurrent layers: any cell, stacked, bidirectional, unrolled
 * over a ragged batch, with state carried between windows (truncated BPTT).
 *
 * A weft_rnn is num_layers x dirs cells of one type (built-in or a user's).
 * Layer 0 reads the input (width I); layer k > 0 reads layer k-1's output,
 * the concatenation [→h_t ; ←h_t] (width H * dirs). Parameter names follow
 * PyTorch's nn.RNN / nn.GRU / nn.LSTM, so weights move between the two:
 *
 *     <prefix><base>_l<k>            forward direction of layer k
 *     <prefix><base>_l<k>_reverse    backward direction
 *
 * where <base> is the cell's own name for the parameter (weight_ih, weight_hh,
 * bias_ih, bias_hh for the PyTorch cells; whatever a user's cell declares).
 *
 * States. A cell carries n_states vectors (LSTM: h, c). The states of a whole
 * model are numbered as PyTorch's h_n / c_n are laid out:
 *
 *     index(layer, dir, k) = (layer * dirs + dir) * n_states + k,   each [B, H]
 *
 * so for a 2-layer bidirectional LSTM: 0 h l0 fwd, 1 c l0 fwd, 2 h l0 bwd,
 * 3 c l0 bwd, 4 h l1 fwd, ... (docs/cells.md has the picture).
 *
 * Ragged batches. With lengths[b] (1 <= lengths[b] <= T) the steps t >=
 * lengths[b] of sequence b are padding: its states are carried through them
 * unchanged, its outputs there are zero, no gradient reaches the padding,
 * the backward direction starts at its last real step, and the final states
 * are those at its last real step (t = lengths[b] - 1 forward, t = 0
 * backward). A padded batch gives the numbers each sequence gives alone.
 *
 * Labels. Every node a step makes carries the scope {time, layer, dir, cell
 * name} (weft_graph_set_scope), which the DOT drawing groups by. The
 * concatenation of the two directions, residual sums and dropout carry
 * {time, layer, -1, NULL}; input projections {-1, layer, dir, cell name}.
 */
#ifndef WEFT_RNN_H
#define WEFT_RNN_H

#include "weft/cell.h"
#include "weft/graph.h"
#include "weft/io.h"
#include "weft/params.h"
#include "weft/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_rnn_config {
    const weft_cell_type *cell;   /* borrowed; must outlive the model */
    int input_size;               /* I */
    int hidden_size;              /* H */
    int num_layers;               /* >= 1 */
    bool bidirectional;
    /* Dropout on the output of every layer but the last (as nn.LSTM's
     * dropout), applied only when weft_unroll is given masks or a generator. */
    float dropout;
    /* Add each layer's input to its output for layers k >= 1 (whose input
     * width H * dirs equals their output width): out_k = cell_k(in) + in. */
    bool residual;
    const char *prefix;           /* parameter name prefix ("rnn."); copied; may be NULL */
} weft_rnn_config;

typedef struct weft_rnn weft_rnn;

/* Make the model and add its parameters to store s (zero; see
 * weft_rnn_reset_parameters). The caller owns the model (weft_rnn_free); the
 * parameters belong to the store. NULL, with a message in err, on a bad
 * configuration or a name clash in the store. */
weft_rnn *weft_rnn_new(weft_params *s, const weft_rnn_config *cfg, char *err, size_t errsize);

/* Before building an rnn from a checkpoint's configuration: does checkpoint
 * c (read from path) hold every parameter an rnn of cfg has, by name, as F32
 * with its shape? Allocates nothing, and its work is bounded by the file (a
 * configuration asking for more layers than the file has tensors, or widths
 * above 2^24, is refused at once). 0, or -1 with a message naming the file
 * and the first tensor that is missing or of another shape. */
int weft_rnn_check_checkpoint(const weft_rnn_config *cfg, const weft_checkpoint *c,
                              const char *path, char *err, size_t errsize);
void weft_rnn_free(weft_rnn *r);

/* Initialise every cell's parameters (each cell's declared initialisers:
 * uniform(-1/sqrt(H), 1/sqrt(H)) for the built-ins, as PyTorch). */
int weft_rnn_reset_parameters(weft_rnn *r, weft_rng *rng);

const weft_rnn_config *weft_rnn_get_config(const weft_rnn *r);
int weft_rnn_dirs(const weft_rnn *r);
/* n_states * num_layers * dirs: how many state tensors the model carries. */
int weft_rnn_num_states(const weft_rnn *r);
/* The cell of (layer, dir), or NULL. Borrowed. */
const weft_cell *weft_rnn_cell(const weft_rnn *r, int layer, int dir);
/* Output width per step: H * dirs. */
int weft_rnn_output_size(const weft_rnn *r);
size_t weft_rnn_numel(const weft_rnn *r);

/* A model's state held outside any graph: weft_rnn_num_states tensors [B, H]
 * in the order above, owned by the struct (weft_state_free). Zero it with
 * {0} before first use. */
typedef struct weft_state {
    int n;
    weft_tensor *t;
} weft_state;

void weft_state_free(weft_state *s);

/* What weft_unroll makes. The arrays live in the graph's arena (valid until
 * it is reset). */
typedef struct weft_rnn_out {
    int T, B, width;          /* width = H * dirs */
    weft_var *seq;            /* [T, B, width]: the top layer's outputs, zero past each end */
    weft_var **steps;         /* T nodes [B, width]: the same, step by step */
    weft_var **final;         /* n_final nodes [B, H]: final states, in the order above */
    int n_final;
    /* Steps that ran as part of a fused chain (weft_seq_chained, weft/ops.h),
     * summed over layers and directions: T · layers · directions when every
     * layer of a cell with fused steps (the built-in Elman, LSTM, LSTM-b and
     * GRU) stayed on its fast path; 0 for cells that compose their steps. */
    int chained_steps;
} weft_rnn_out;

typedef struct weft_unroll_opts {
    /* B lengths, each in [1, T]; NULL: every sequence has T steps. Copied. */
    const int *lengths;
    /* Initial states: a carried weft_state (becomes state leaves, no gradient),
     * or nodes already in the graph (init_vars, weft_rnn_num_states of them,
     * e.g. state leaves that want a gradient); both NULL: zeros. */
    const weft_state *init;
    weft_var *const *init_vars;
    /* Dropout between layers (when cfg.dropout > 0): either masks the caller
     * made, one per boundary (num_layers - 1 of them, no gradient, each
     * [T, B, H*dirs] for a fresh mask per step, or [B, H*dirs] / [H*dirs] for
     * one mask at every step (variational)), or a generator from which
     * weft_unroll draws a fresh mask per step (values 0 or 1/(1-p)). Neither:
     * no dropout (evaluation). */
    weft_var *const *dropout_masks;
    weft_rng *dropout_rng;
    /* Use the cell's plain step even when it has a fast path. */
    bool composed;
    /* Optional: xs is an embedding lookup, xs[t, b] = input_table[input_ids[t·B
     * + b]] (input_table [V, I], T·B ids; both borrowed; xs is still passed and
     * still used by the composed path and residual connections). When V < T·B
     * and the first layer has a fast path, its project_inputs runs on the V
     * rows of the table and each step looks its rows up in the result: for a
     * character model (V = 65, T·B = 5000) one small product instead of
     * [T·B, I] x [I, P] forward and two of that size backward. The same
     * function (project_inputs acts row by row, weft/cell.h), so the same
     * values and gradients up to rounding. Both NULL: off. */
    weft_var *input_table;
    const int *input_ids;
    /* With lengths: run the batch as groups of sequences of similar length
     * (sorted longest first, a group holding lengths down to 3/4 of its
     * longest), each group unrolled over its own longest length, and put the
     * outputs and final states back in the batch's order. A ragged batch then
     * costs close to the sum of its lengths instead of T x B steps, with the
     * same numbers (each group is the padded computation of its own
     * sequences; tests/test_classify.c checks values and gradients). Ignored
     * with dropout_masks (whose [T, B, ...] layout is the whole batch's) and
     * when one group would hold every sequence. */
    bool by_length;
} weft_unroll_opts;

/* Run the model over xs [T, B, I] in graph g. opts may be NULL (all
 * defaults). Fills *out and returns 0; on a bad input (wrong width, lengths
 * out of range, initial states of the wrong shape) returns -1 with the
 * graph's error naming what was wrong. */
int weft_unroll(weft_graph *g, const weft_rnn *r, weft_var *xs, const weft_unroll_opts *opts,
                weft_rnn_out *out);

/* Truncated BPTT: copy out's final states into carry (owned tensors,
 * reallocated when the shapes change), to seed the next window's unroll
 * through opts.init. No tape is carried. Returns 0, or -1 when memory runs
 * out (carry then freed). */
int weft_state_detach(const weft_rnn_out *out, weft_state *carry);

#ifdef __cplusplus
}
#endif

#endif
