/* weft/gradcheck.h — gradients against central finite differences.
 *
 * Given a graph whose last node (or any node) is a scalar loss, compare the
 * gradients backward computes for every leaf that requires one (parameters
 * and inputs) with (L(x+eps) - L(x-eps)) / 2eps, recomputing the tape's
 * forward for each nudge. The loss should be a generic function of the
 * outputs (e.g. a sum weighted by random numbers) so that errors cannot
 * cancel.
 */
#ifndef WEFT_GRADCHECK_H
#define WEFT_GRADCHECK_H

#include "weft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_gradcheck_opts {
    float eps;            /* step; 0 means 1e-2 (float32 needs a large step) */
    float tolerance;      /* max relative error to pass; 0 means 1e-2 */
    int max_per_leaf;     /* check at most this many elements per leaf, spread
                             evenly; 0 means all */
} weft_gradcheck_opts;

typedef struct weft_gradcheck_result {
    double max_rel_error;     /* the worst relative error over all checked elements */
    int worst_node;           /* tape id of the leaf where it occurred */
    int worst_index;          /* element index within that leaf */
    double worst_analytic, worst_numeric;
    int checked;              /* elements checked */
    int leaves;               /* leaves checked */
    bool passed;
} weft_gradcheck_result;

/* Run backward from loss (clearing parameter gradients first is the caller's
 * business: the check reads the gradient of this one backward), then compare
 * with finite differences. Relative error is |a - n| / max(|a|, |n|, 1e-3)...
 * see src/gradcheck.c for the exact scale. Returns 0 when it ran (passed or
 * not: see res->passed), -1 when the graph has an error. */
int weft_gradcheck(weft_graph *g, weft_var *loss, const weft_gradcheck_opts *opts,
                   weft_gradcheck_result *res);

#ifdef __cplusplus
}
#endif

#endif
