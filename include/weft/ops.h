/* weft/ops.h — the operations a model is made of.
 *
 * Every op takes the graph first, computes its value at once, appends one
 * node to the tape and returns it. On bad shapes it returns NULL and records
 * the first error on the graph (the op's name, the shapes it got, what it
 * expected); given a NULL input it returns NULL. Every op has a backward
 * (in its family file under ops/, beside its forward); `weft ops` lists them.
 *
 * Shapes: the last dimension is the feature dimension ("columns"); leading
 * dimensions are "rows" (see weft/tensor.h). Broadcasting in add, sub and mul
 * (b onto a): b has a's shape; or b is one row [cols] or [1, cols], added to
 * every row; or b is one column [rows, 1], spread over every column; or b has
 * one element.
 */
#ifndef WEFT_OPS_H
#define WEFT_OPS_H

#include "weft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- linear algebra (ops/linalg.c) -------------------------------------- */

/* a [M, K] times b [K, N] -> [M, N] (BLIS sgemm). a may have more leading
 * dimensions; they are rows: [T, B, K] x [K, N] -> [T, B, N]. */
weft_var *weft_matmul(weft_graph *g, weft_var *a, weft_var *b);
/* The same with either operand transposed: op(a) op(b), op(x) = x or xᵀ.
 * A transposed operand must have rank 2. */
weft_var *weft_matmul_ex(weft_graph *g, weft_var *a, bool trans_a, weft_var *b, bool trans_b);
/* x Wᵀ + b, as PyTorch's nn.Linear: x [..., in], W [out, in], b [out] or NULL.
 * Weights are stored [out, in] so that they move to and from PyTorch as they
 * are, and an embedding [V, E] can serve as the output layer of width V. */
weft_var *weft_linear(weft_graph *g, weft_var *x, weft_var *W, weft_var *b);
/* B independent products, one per entry of the first dimension: out[i] =
 * op(a[i]) op(b[i]) with a [B, M, K] ([B, K, M] when trans_a), b [B, K, N]
 * ([B, N, K] when trans_b) -> [B, M, N]. Attention's scores (queries times
 * keysᵀ) and contexts (weights times values) are such products. */
weft_var *weft_bmm(weft_graph *g, weft_var *a, bool trans_a, weft_var *b, bool trans_b);

/* --- elementwise arithmetic (ops/arith.c) -------------------------------- */

weft_var *weft_add(weft_graph *g, weft_var *a, weft_var *b);
weft_var *weft_sub(weft_graph *g, weft_var *a, weft_var *b);
weft_var *weft_mul(weft_graph *g, weft_var *a, weft_var *b);
/* s * a for a constant s. */
weft_var *weft_scale(weft_graph *g, weft_var *a, float s);
/* 1 - a: the complement of a gate. */
weft_var *weft_one_minus(weft_graph *g, weft_var *a);

/* --- activations (ops/activation.c) -------------------------------------- */

weft_var *weft_sigmoid(weft_graph *g, weft_var *a);
weft_var *weft_tanh(weft_graph *g, weft_var *a);
weft_var *weft_relu(weft_graph *g, weft_var *a);
weft_var *weft_exp(weft_graph *g, weft_var *a);
/* Natural log; an input <= 0 gives -inf or NaN, as in C. */
weft_var *weft_log(weft_graph *g, weft_var *a);

/* --- softmax and losses (ops/softmax.c) ---------------------------------- */

/* Over the last dimension, row by row. */
weft_var *weft_softmax(weft_graph *g, weft_var *a);
weft_var *weft_log_softmax(weft_graph *g, weft_var *a);
/* Softmax over the first lengths[r] entries of each row r (of the last
 * dimension, as weft_softmax); the entries past them (padding) get exactly
 * zero probability and no gradient. One length per row, each in [1, cols];
 * copied. Attention over a ragged batch of source sentences. */
weft_var *weft_masked_softmax(weft_graph *g, weft_var *a, const int *lengths);
/* Cross-entropy of logits [rows, C] against integer targets (one per row,
 * each in [0, C)), the mean over the rows whose mask is non-zero (mask NULL:
 * every row). The targets and mask are copied into the graph. A scalar. */
weft_var *weft_cross_entropy(weft_graph *g, weft_var *logits, const int *targets,
                             const float *mask);
/* cross_entropy(linear(x, W, b), targets, mask) as one op (b may be NULL):
 * the same values and gradients, but the logits [rows, out] live only in the
 * op, whose backward overwrites them with their gradient instead of
 * allocating a second buffer of that size. For a large output layer (a
 * language model's decoder). */
weft_var *weft_linear_cross_entropy(weft_graph *g, weft_var *x, weft_var *W, weft_var *b,
                                    const int *targets, const float *mask);

/* --- gathering and reshaping (ops/shape.c) ------------------------------- */

/* Rows ids[0..n) of weight [V, E] -> [n, E]; the gradient is scattered back
 * (added) into those rows. ids are copied; each must be in [0, V). */
weft_var *weft_embedding(weft_graph *g, weft_var *weight, const int *ids, int n);
/* Concatenate along the feature dimension: [rows, c_i] -> [rows, sum c_i]. */
weft_var *weft_concat(weft_graph *g, weft_var *const *xs, int n);
/* Columns [start, start + len) of the feature dimension. */
weft_var *weft_slice(weft_graph *g, weft_var *x, int start, int len);
/* Stack n nodes of one shape along a new first dimension: n x [B, F] ->
 * [n, B, F] (the steps of a sequence into one tensor). */
weft_var *weft_stack(weft_graph *g, weft_var *const *xs, int n);
/* The rows of xs[0..n) one below the other: [r_k, F] -> [Σ r_k, F] (inputs
 * of any rank, read as rows x their last dimension). */
weft_var *weft_concat_rows(weft_graph *g, weft_var *const *xs, int n);
/* Entries [start, start + len) of the first dimension, which is dropped when
 * len is 1 and rank > 1: [T, B, F] at (t, 1) -> [B, F] (one step). */
weft_var *weft_narrow(weft_graph *g, weft_var *x, int start, int len);
/* The same values under another shape with as many elements: a view of all
 * of x (no copy; its gradient is x's, see view_of in weft/graph.h). */
weft_var *weft_reshape(weft_graph *g, weft_var *x, int rank, const int *shape);
/* x [B, F] repeated n times along a new middle dimension -> [B, n, F]; the
 * gradient sums the n copies. Broadcasts one query per sentence over its
 * source positions (additive attention). */
weft_var *weft_expand(weft_graph *g, weft_var *x, int n);
/* The first two dimensions of a rank-3 x swapped: [T, B, F] -> [B, T, F]
 * (time-major steps to one block per sentence, and back). A copy. */
weft_var *weft_transpose01(weft_graph *g, weft_var *x);

/* --- reductions (ops/reduce.c) ------------------------------------------- */

/* The sum and the mean of all elements: a scalar (shape [1]). */
weft_var *weft_sum(weft_graph *g, weft_var *x);
weft_var *weft_mean(weft_graph *g, weft_var *x);
/* Max pooling over time of a ragged batch: x [T, B, F] -> [B, F], the
 * largest x[t, b, f] over sequence b's real steps t < lengths[b] (B lengths,
 * each in [1, T], copied). The gradient goes to the step that won. */
weft_var *weft_max_steps(weft_graph *g, weft_var *x, const int *lengths);

/* --- regularisation and graph plumbing (ops/plumbing.c) ------------------ */

/* x ⊙ mask, with a mask the caller made (a node without gradient: values 0
 * or 1/(1-p)), of x's shape or broadcast as in weft_mul. Keeping the mask a
 * node lets one mask serve every time step (variational dropout). */
weft_var *weft_dropout(weft_graph *g, weft_var *x, weft_var *mask);
/* A copy of x's value through which no gradient flows. */
weft_var *weft_detach(weft_graph *g, weft_var *x);

/* --- fused recurrent steps (ops/recurrent.c) ----------------------------- */

/* One step of a built-in cell as ONE node with its own backward: the fast
 * path the built-in Elman, LSTM, LSTM-b and GRU cells take by default
 * (weft/cell.h, step_projected). Each takes
 *
 *   xp    [B, G·H]  the step's input projection x_t W_ihᵀ + b_ih (b_ih is in it),
 *   h, c  [B, H]    the previous states,
 *   W_hh  [G·H, H]  the recurrent weights, b_hh [G·H] or NULL,
 *
 * with the gates' row blocks as PyTorch lays them out (G = 1 Elman, 4 LSTM
 * i,f,g,o, 3 GRU r,z,n), and equals the same step composed from the ops above
 * in value and gradient (to float rounding). */

/* A sequence: the caller that unrolls a recurrence over T steps says so, and
 * the fused steps of that recurrence then work as one chain (docs/fused.md):
 * W_hh is prepared once for all T steps, each step keeps its h_{t-1} and its
 * gate gradients in one [T, B, ...] buffer, and the weight gradient is one
 * product over all T·B rows instead of T products over B rows.
 *
 *   weft_seq *s = weft_seq_new(g, xp_seq);           xp_seq [T, B, G·H]
 *   for each step t, in the order the recurrence runs (t = 0 .. T-1, or
 *   T-1 .. 0 for the backward direction):
 *       h = weft_lstm_step(g, weft_seq_input(g, s, t), h, c, W_hh, b_hh) ...
 *
 * The first fused step given a step of s starts the chain (its op and W_hh
 * are the chain's); a later fused step of the same op and W_hh joins it at
 * its t. Nothing is searched on the tape: a step joins exactly when its xp
 * is weft_seq_input(g, s, t) of a slot no step has taken yet. The caller
 * promises what weft_unroll does: the steps run one after the other, each
 * from the state the one before made (the first step of the chain is an
 * ancestor of every later one, so its backward, which adds the weight
 * gradient of the whole chain, runs last). Anything else (another op or
 * W_hh, a slot taken twice, an xp that is not a step of a sequence) is a
 * step on its own: right, just not chained. A cell's step_projected need
 * not know any of this: a step of a sequence is an ordinary [B, G·H] node.
 *
 * The sequence is arena memory of g, gone with weft_graph_reset. */
typedef struct weft_seq weft_seq;

/* Open a sequence over xp_seq [T, B, P], the input projections of all T
 * steps. NULL (with the graph's error set) when xp_seq is NULL, not rank 3,
 * or memory runs out. */
weft_seq *weft_seq_new(weft_graph *g, weft_var *xp_seq);
/* Step t of the sequence: xp_seq's block t, [B, P], a view as weft_narrow(g,
 * xp_seq, t, 1) is, marked as step t of s. NULL when t is not in [0, T). */
weft_var *weft_seq_input(weft_graph *g, weft_seq *s, int t);
/* The same for a step over only the first `rows` sequences of the batch
 * ([rows, P], the first rows of block t; 1 <= rows <= B): a ragged batch
 * sorted by length, longest first, whose step t runs only the sequences
 * still running. Its step still chains (its h and c are [rows, H]); the
 * chain's buffers keep B rows a step, the rows past a step's own count as
 * zero. */
weft_var *weft_seq_input_rows(weft_graph *g, weft_seq *s, int t, int rows);
/* A packed sequence: xp_packed [N, P] holds only the rows of the steps that
 * run, step t's rows[t] rows (>= 1) after those of steps 0 .. t-1 (N the sum):
 * a ragged batch sorted longest first packed as PyTorch's packed sequences
 * are, so the input projection, its gradient and the chain's weight gradient
 * cost the real tokens alone. Step t is weft_seq_input_rows(g, s, t,
 * rows[t]), a view of its rows; the chain's buffers hold N rows. NULL (the
 * graph's error set) when the rows do not add up to N. */
weft_seq *weft_seq_new_packed(weft_graph *g, weft_var *xp_packed, int T, const int *rows);
/* How many fused steps have joined the sequence's chain so far (0 when no
 * fused step read it): what the tests check to know a layer stayed on its
 * fast path. */
int weft_seq_chained(const weft_seq *s);

/* h' = tanh(xp + h W_hhᵀ + b_hh) and relu(...): the Elman step, [B, H]. */
weft_var *weft_rnn_tanh_step(weft_graph *g, weft_var *xp, weft_var *h, weft_var *W_hh,
                             weft_var *b_hh);
weft_var *weft_rnn_relu_step(weft_graph *g, weft_var *xp, weft_var *h, weft_var *W_hh,
                             weft_var *b_hh);
/* The LSTM step: [i f g o] = xp + h W_hhᵀ + b_hh; c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g);
 * h' = σ(o) ⊙ tanh(c'). Returns both new states in one node of shape
 * [2, B, H]: weft_narrow(g, s, 0, 1) is h' and weft_narrow(g, s, 1, 1) is c',
 * each an ordinary [B, H] node. */
weft_var *weft_lstm_step(weft_graph *g, weft_var *xp, weft_var *h, weft_var *c, weft_var *W_hh,
                         weft_var *b_hh);
/* The GRU step (nn.GRU): [u_r u_z u_n] = h W_hhᵀ + b_hh; r = σ(xp_r + u_r),
 * z = σ(xp_z + u_z), n = tanh(xp_n + r ⊙ u_n); h' = (1 - z) ⊙ n + z ⊙ h. [B, H]. */
weft_var *weft_gru_step(weft_graph *g, weft_var *xp, weft_var *h, weft_var *W_hh, weft_var *b_hh);

/* Names of all ops in table order; n receives the count. */
const weft_op_desc *const *weft_op_table(int *n);
/* The op of that name, or NULL. */
const weft_op_desc *weft_op_find(const char *name);

#ifdef __cplusplus
}
#endif

#endif
