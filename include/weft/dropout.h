/* weft/dropout.h — dropout masks: standard, variational, embedding.
 *
 * A mask is a graph input without gradient whose values are 0 (dropped, with
 * probability p) or 1/(1-p) (kept, scaled so that the expectation is the
 * identity: inverted dropout). weft_dropout(g, x, mask) applies one.
 *
 * Standard dropout draws a fresh mask for every element of every step.
 * Variational dropout (Gal & Ghahramani 2016, "A Theoretically Grounded
 * Application of Dropout in Recurrent Neural Networks", section 4) draws one
 * [B, F] mask per sequence and reuses it at every time step, so that each
 * sequence sees one thinned network throughout. Embedding dropout (ibid.,
 * section 4.2) drops whole word types: row v of the embedding [V, E] is zero
 * with probability p, the other rows are scaled by 1/(1-p), so a dropped word
 * gives a zero vector at every place it occurs in the batch.
 *
 * Every mask is drawn from the caller's generator in row-major order, one
 * weft_rng_uniform per element: the same seed gives the same masks.
 */
#ifndef WEFT_DROPOUT_H
#define WEFT_DROPOUT_H

#include "weft/graph.h"
#include "weft/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A mask node of the given shape in g (owned by the graph): each element 0
 * with probability p, else 1/(1-p). p must be in [0, 1). NULL with the graph's
 * error on failure. */
weft_var *weft_dropout_mask(weft_graph *g, weft_rng *rng, float p, int rank, const int *shape);

/* One [B, F] mask for a whole sequence (variational dropout): pass the same
 * node to weft_dropout at every step (or as weft_unroll_opts.dropout_masks). */
weft_var *weft_variational_mask(weft_graph *g, weft_rng *rng, float p, int B, int F);

/* Embedding dropout: weight [V, E] ⊙ a row mask [V, 1] (one draw per word
 * type, broadcast along E by weft_mul). Pass the result to weft_embedding in
 * place of the weight; the gradient flows back into the kept rows only.
 * p == 0 returns weight itself. NULL with the graph's error on failure. */
weft_var *weft_embedding_dropout(weft_graph *g, weft_var *weight, weft_rng *rng, float p);

#ifdef __cplusplus
}
#endif

#endif
