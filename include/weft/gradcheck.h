/* weft/gradcheck.h — gradients against central finite differences.
 *
 * Given a graph whose last node (or any node) is a scalar loss, compare the
 * gradients backward computes for every leaf that requires one (parameters
 * and inputs) with central differences (L(x+h) - L(x-h)) / 2h, recomputing
 * the tape's forward for each nudge. The loss should be a generic function
 * of the outputs (e.g. a sum weighted by random numbers) so that errors
 * cannot cancel.
 *
 * The graph computes in float32, so a difference quotient carries the
 * rounding of the loss divided by h, and the curvature of the function times
 * h²: no single h makes both small for every element. The check therefore
 * takes h per element (eps x max(1, |x_i|)), differences the losses in
 * double, and where the plain quotient disagrees with backward it refines it
 * by Richardson extrapolation, (4 D(h/2) - D(h)) / 3, whose truncation error
 * is O(h⁴) instead of O(h²), then by smaller steps (h/8, h/64: a ReLU's kink
 * inside the step). The verdict per element is PyTorch gradcheck's:
 *
 *     |analytic - numeric| <= atol + rtol |numeric|
 *
 * (a small absolute part for gradients near zero, where float32's rounding
 * is all there is; a relative part for the others).
 */
#ifndef WEFT_GRADCHECK_H
#define WEFT_GRADCHECK_H

#include "weft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_gradcheck_opts {
    float eps;            /* step h = eps x max(1, |x_i|); 0 means 1e-2 (float32 needs a
                             large step) */
    float tolerance;      /* rtol, the relative part of the verdict; 0 means 1e-2 */
    float atol;           /* the absolute part; 0 means 1e-3 */
    int max_per_leaf;     /* check at most this many elements per leaf, spread
                             evenly; 0 means all */
} weft_gradcheck_opts;

typedef struct weft_gradcheck_result {
    double worst_ratio;       /* max over the elements of |a - n| / (atol + rtol |n|):
                                 passed means <= 1 */
    double max_rel_error;     /* max of |a - n| / max(|a|, |n|, 1e-2), for a report */
    int worst_node;           /* tape id of the leaf of the worst ratio */
    int worst_index;          /* element index within that leaf */
    double worst_analytic, worst_numeric;
    int checked;              /* elements checked */
    int refined;              /* of them, refined by Richardson extrapolation */
    int leaves;               /* leaves checked */
    bool passed;
} weft_gradcheck_result;

/* Run backward from loss (clearing parameter gradients first is the caller's
 * business: the check reads the gradient of this one backward), then compare
 * with finite differences as described above. Returns 0 when it ran (passed
 * or not: see res->passed), -1 when the graph has an error. */
int weft_gradcheck(weft_graph *g, weft_var *loss, const weft_gradcheck_opts *opts,
                   weft_gradcheck_result *res);

#ifdef __cplusplus
}
#endif

#endif
