/* weft/layers.h — the small layers a model is made of, each made with its
 * parameters initialised.
 *
 * weft_params_add gives zeros; a layer made here draws its parameters from a
 * weft_rng as PyTorch's layer of the same name does (same distribution, not
 * the same numbers: the stream is weft's), so that a classifier is
 *
 *     weft_embedding_layer emb = weft_embedding_layer_new(s, "emb", V, E, 0.0f, &rng);
 *     weft_rnn *rnn = weft_rnn_new_init(s, &cfg, &rng, err, sizeof err);
 *     weft_linear_layer fc = weft_linear_layer_new(s, "fc", H, C, true, &rng);
 *     ...
 *     x = weft_embedding_layer_apply(&emb, g, ids, T * B);    [T·B, E]
 *     weft_unroll(g, rnn, weft_reshape(g, x, 3, (int[]){T, B, E}), NULL, &o);
 *     logits = weft_linear_layer_apply(&fc, g, o.final[0]);   [B, C]
 *
 * (examples/classify_majority.c is that program in full). The layers are plain
 * structs of borrowed weft_param pointers: the store owns the parameters
 * (names "<name>.weight", "<name>.bias", as a PyTorch state_dict has them), so
 * there is nothing to free but the store. A layer whose weight is NULL was not
 * made: weft_params_error(s) says why (a duplicate name, a size below 1).
 */
#ifndef WEFT_LAYERS_H
#define WEFT_LAYERS_H

#include <stdbool.h>
#include "weft/graph.h"
#include "weft/params.h"
#include "weft/rng.h"
#include "weft/rnn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- linear: y = x Wᵀ + b (nn.Linear) --------------------------------------------------- */

typedef struct weft_linear_layer {
    weft_param *weight;     /* [out, in]; borrowed from the store */
    weft_param *bias;       /* [out], or NULL without a bias */
    int in, out;
} weft_linear_layer;

/* Adds "<name>.weight" [out, in] and (with bias) "<name>.bias" [out] to s,
 * initialised as nn.Linear's reset_parameters: the weight kaiming-uniform with
 * a = sqrt(5), which is uniform in [-1/sqrt(in), 1/sqrt(in)) (gain sqrt(2 /
 * (1 + a²)) = sqrt(1/3) times sqrt(3 / fan_in)), and the bias uniform in the
 * same range. On failure .weight is NULL (weft_params_error(s) says why). */
weft_linear_layer weft_linear_layer_new(weft_params *s, const char *name, int in, int out,
                                        bool bias, weft_rng *rng);

/* x [..., in] -> [..., out], in graph g. NULL (the graph failed) on a width
 * mismatch. */
weft_var *weft_linear_layer_apply(const weft_linear_layer *l, weft_graph *g, weft_var *x);

/* --- embedding: rows of a table (nn.Embedding) ------------------------------------------ */

typedef struct weft_embedding_layer {
    weft_param *weight;     /* [vocab, dim]; borrowed from the store */
    int vocab, dim;
} weft_embedding_layer;

/* Adds "<name>.weight" [vocab, dim] to s. init_range 0: N(0, 1), as
 * nn.Embedding; init_range r > 0: uniform in [-r, r), as the language models
 * here and PyTorch's word_language_model example (r = 0.1) initialise their
 * encoder. On failure .weight is NULL (weft_params_error(s) says why). */
weft_embedding_layer weft_embedding_layer_new(weft_params *s, const char *name, int vocab,
                                              int dim, float init_range, weft_rng *rng);

/* The rows of ids[0..n-1] (each in [0, vocab)): [n, dim]. ids is copied. NULL
 * (the graph failed, naming the id) for an id out of range. */
weft_var *weft_embedding_layer_apply(const weft_embedding_layer *e, weft_graph *g,
                                     const int *ids, int n);

/* --- the recurrent stack (weft/rnn.h), initialised ----------------------------------------- */

/* weft_rnn_new then weft_rnn_reset_parameters(rng): every cell's own
 * initialisers (PyTorch's ±1/sqrt(H) for the built-ins; a plugin's declared
 * ones). NULL with a message in err on failure. The caller owns the model. */
weft_rnn *weft_rnn_new_init(weft_params *s, const weft_rnn_config *cfg, weft_rng *rng, char *err,
                            size_t errsize);

/* One time step of a one-directional model, PyTorch's `out, h = rnn(x, h)`
 * for one step: x [B, I] (row-major, borrowed) read in the state *state (n ==
 * 0: zeros; else weft_rnn_num_states tensors [B, H], weft/rnn.h's order),
 * the top layer's output [B, H] written to `out` (the caller's B·H floats; may
 * be NULL) and *state replaced by the state after the step (owned by *state:
 * weft_state_free). g is scratch room, reset here and run forward-only
 * (weft_graph_set_forward_only); no dropout. Any cell,
 * including a plugin's. Returns 0, or -1 with a message in err (a
 * bidirectional model, which needs the whole sequence; a state of another
 * shape). */
int weft_rnn_step(const weft_rnn *r, weft_graph *g, const float *x, int B, weft_state *state,
                  float *out, char *err, size_t errsize);

#ifdef __cplusplus
}
#endif

#endif
