/* ops/op_table.h — the one list of ops.
 *
 * Each row is X(name, label): the op's name (what `weft ops` prints and what
 * `weft gradcheck --op` takes) and its drawing label. For every row,
 * ops/op_table.c declares and registers
 *     void weft_op_<name>_forward(weft_graph *g, weft_var *v);
 *     void weft_op_<name>_backward(weft_graph *g, weft_var *v);
 * and the descriptor weft_op_<name>; an op whose forward or backward is
 * missing does not link. The two functions live side by side in the op's
 * family file, ops/<family>.c. Rows are grouped by family, in the order
 * `weft ops` lists them.
 */
#ifndef WEFT_OP_TABLE_H
#define WEFT_OP_TABLE_H

#include "weft/ops.h"
#include "src/internal.h"

#define WEFT_OP_LIST(X)                     \
    /* linalg.c */                          \
    X(matmul, "matmul")                     \
    X(linear, "linear")                     \
    X(bmm, "bmm")                           \
    /* arith.c */                           \
    X(add, "+")                             \
    X(sub, "-")                             \
    X(mul, "*")                             \
    X(scale, "scale")                       \
    X(one_minus, "1-x")                     \
    /* activation.c */                      \
    X(sigmoid, "sigmoid")                   \
    X(tanh, "tanh")                         \
    X(relu, "relu")                         \
    X(exp, "exp")                           \
    X(log, "log")                           \
    /* softmax.c */                         \
    X(softmax, "softmax")                   \
    X(masked_softmax, "masked softmax")     \
    X(log_softmax, "log-softmax")           \
    X(cross_entropy, "cross-entropy")       \
    X(linear_cross_entropy, "linear + cross-entropy") \
    /* shape.c */                           \
    X(embedding, "embedding")               \
    X(concat, "concat")                     \
    X(slice, "slice")                       \
    X(stack, "stack")                       \
    X(concat_rows, "concat rows")           \
    X(narrow, "narrow")                     \
    X(reshape, "reshape")                   \
    X(expand, "expand")                     \
    X(transpose01, "transpose01")           \
    /* reduce.c */                          \
    X(sum, "sum")                           \
    X(mean, "mean")                         \
    X(max_steps, "max over steps")          \
    /* plumbing.c */                        \
    X(dropout, "dropout")                   \
    X(detach, "detach")                     \
    /* recurrent.c */                       \
    X(rnn_step, "RNN step")                 \
    X(lstm_step, "LSTM step")               \
    X(gru_step, "GRU step")

/* What a narrow node keeps (ops/shape.c): the first entry it takes, and, for
 * a step of a sequence (weft_seq_input, ops/recurrent.c), that sequence. */
typedef struct weft_narrow_attrs {
    int start;
    weft_seq *seq;
    int step;        /* with seq: the step of the sequence it is */
} weft_narrow_attrs;
_Static_assert(sizeof(weft_narrow_attrs) <= WEFT_NODE_ATTR_BYTES, "weft_narrow_attrs fits a node");

static inline weft_narrow_attrs *weft_narrow_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

#define WEFT_OP_DECLARE(name, label)                                  \
    void weft_op_##name##_forward(weft_graph *g, weft_var *v);        \
    void weft_op_##name##_backward(weft_graph *g, weft_var *v);       \
    extern const weft_op_desc weft_op_##name;
WEFT_OP_LIST(WEFT_OP_DECLARE)
#undef WEFT_OP_DECLARE

#endif
