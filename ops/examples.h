/* ops/examples.h — a small test graph for every op (private to weft).
 *
 * For each row of the op table there is at least one example: a function that
 * builds a small graph exercising the op on random numbers and returns a
 * scalar loss. Shapes are odd and non-square (a gradient computed with a
 * transposed matrix cannot pass), inputs ask for a gradient, weights live in a
 * weft_params store where a model would keep them, and the loss is
 * sum(y ⊙ w) for a fixed random w, so that no error in a gradient can cancel
 * out. The test suite and `weft gradcheck` both run these.
 *
 * Not installed, not part of the public API and not in libweft: a static
 * library of its own (ops/meson.build) that src/cli/ and tests/ link.
 */
#ifndef WEFT_OPS_EXAMPLES_H
#define WEFT_OPS_EXAMPLES_H

#include <stdint.h>

#include "weft/gradcheck.h"
#include "weft/graph.h"
#include "weft/params.h"
#include "weft/rng.h"

/* Build the example graph into g (empty or reset), adding any parameters to
 * params (an empty store) and drawing every number from rng; arg picks the
 * variant (the row's arg). Returns the scalar loss, or NULL with g's error
 * set. Everything made belongs to g and params. */
typedef weft_var *(*weft_example_build_fn)(weft_graph *g, weft_params *params, weft_rng *rng,
                                           int arg);

typedef struct weft_op_example {
    const char *op;        /* the op's name in the table: "matmul" */
    const char *variant;   /* what this example covers: "a^T b^T" */
    weft_example_build_fn build;
    int arg;               /* passed to build */
} weft_op_example;

/* Every example, grouped by op in op-table order. Static; n receives the count. */
const weft_op_example *weft_op_examples(int *n);

/* The examples of one op: returns the first (the others follow it) and sets
 * *n to how many; NULL and *n = 0 when the op has none or does not exist. */
const weft_op_example *weft_op_examples_for(const char *op, int *n);

/* Build ex in a graph and parameter store of its own (seeded with seed),
 * run weft_gradcheck on it with opts (NULL: defaults) and free everything.
 * Returns 0 when the check ran (res->passed says whether it passed), -1 when
 * the graph could not be built or checked, with a message in err. */
int weft_op_example_gradcheck(const weft_op_example *ex, uint64_t seed,
                              const weft_gradcheck_opts *opts, weft_gradcheck_result *res,
                              char *err, size_t errsize);

#endif
