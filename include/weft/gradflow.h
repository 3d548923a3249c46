/* weft/gradflow.h — how the gradient flows back in time through a cell.
 *
 * For a recurrent model unrolled over T steps with a loss J_T on its last
 * step only, weft_gradflow measures the norm of dJ_T/dh_t for every step t:
 * how much of the loss's gradient still reaches the hidden state t steps
 * back. An Elman RNN's norm falls geometrically with the distance T-1-t (the
 * vanishing gradient, Bengio et al. 1994; Hochreiter 1991); a gated cell's
 * additive memory lets it fall more slowly (Hochreiter & Schmidhuber 1997).
 *
 * One sample, in this order, from ONE generator seeded once with opts.seed
 * (sample s continues the stream where sample s-1 left it):
 *
 *   1. the model's parameters: weft_rnn_reset_parameters (each cell's own
 *      initialisers; for the built-ins PyTorch's uniform(-1/sqrt(H),
 *      1/sqrt(H)), and LSTM-b's forget bias 1), or, when init_range > 0,
 *      every parameter of the store in store order uniform(-r, r);
 *   2. a readout W_r [C, H] uniform(-1/sqrt(H), 1/sqrt(H)) (no bias);
 *   3. the input x [T, B, I], standard normal;
 *   4. B targets, each weft_rng_below(C);
 *
 * then J = cross-entropy(h_{T-1} W_rᵀ, targets) (the mean over the batch),
 * where h_t is the top layer's output at step t (the model is
 * unidirectional, zero initial state), one backward from J, and
 *
 *   norm(t) = || dJ/dh_t ||_2   (over the whole [B, H] tensor),
 *
 * read with weft_grad_of on the step's state node h_t (the node step t+1
 * reads). The result is the arithmetic mean of norm(t) over the samples.
 */
#ifndef WEFT_GRADFLOW_H
#define WEFT_GRADFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "weft/cell.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_gradflow_opts {
    int steps;          /* T >= 1 */
    int hidden;         /* H >= 1 */
    int input;          /* I; 0: H */
    int layers;         /* stacked layers; 0: 1 (the norm is the top layer's h) */
    int batch;          /* B; 0: 8 */
    int samples;        /* S; 0: 1 */
    int classes;        /* C, the readout's width; 0: 10 */
    uint64_t seed;
    /* > 0: every model parameter uniform in [-init_range, init_range);
     * 0: the cell's own initialisers (PyTorch's default for the built-ins). */
    float init_range;
} weft_gradflow_opts;

/* Fill norms[k] for k = 0 .. steps-1 with the mean of ||dJ/dh_t|| at
 * distance k = T-1-t back from the loss (norms[0] is the last step's).
 * norms is the caller's, `steps` doubles. Returns 0, or -1 with a message in
 * err (bad options, a cell that refuses the sizes, out of memory). */
int weft_gradflow(const weft_cell_type *cell, const weft_gradflow_opts *opts, double *norms,
                  char *err, size_t errsize);

#ifdef __cplusplus
}
#endif

#endif
