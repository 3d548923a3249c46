/* weft/window_lm.h — fixed-window neural language models: the model of
 * Bengio, Ducharme, Vincent & Jauvin (2003), "A Neural Probabilistic Language
 * Model", and the log-bilinear model of Mnih & Hinton (2007), "Three new
 * graphical models for statistical language modelling".
 *
 * The probability of token w_t is read from the n-1 tokens before it:
 *
 *     x = (C(w_{t-n+1}), ..., C(w_{t-1}))          concatenated embeddings, [(n-1)·m]
 *     y = b + W x + U tanh(d + H x)                the paper's equation (1)
 *     P(w_t | context) = softmax(y)[w_t]
 *
 * with C the embedding [V, m], H [h, (n-1)·m] and d [h] the hidden layer,
 * U [V, h] and b [V] the output layer, and W [V, (n-1)·m] the optional direct
 * connections from the embeddings to the output (off by default; the paper
 * tries both). The embeddings of a context are gathered as one [B·(n-1), m]
 * block of rows, which read as [B, (n-1)·m] is the concatenation, oldest token
 * first. Dropout, when asked for, is applied to x and to the tanh layer's
 * output during training.
 *
 * The log-bilinear model (arch WEFT_WINDOW_LBL) has no hidden layer: the
 * representation of the next word is predicted as a sum of position-specific
 * linear transforms of the context words' vectors, and every word is scored
 * by its own vector's dot product with the prediction:
 *
 *     r̂ = Σ_i C_i R(w_{t-i})                      C_i [m, m], one per place
 *     P(w_t | context) = softmax(R r̂ + b)[w_t]
 *
 * R [V, m] is both the context and the target words' vectors (the paper's
 * shared representation). The C_i side by side are one matrix [m, (n-1)·m], so
 * the sum is one product with the concatenation x: r̂ = [C_{n-1} ... C_1] x.
 *
 * Contexts at the start of a text: a stream is taken to start right after a
 * line end, so the positions before its first token hold the padding token:
 * "<eos>" for words, "\n" for characters (id 0 when the vocabulary lacks it).
 * Training and evaluation score every token after the first (targets
 * t[1..n-1], as the recurrent model's `weft eval` does), each from its own
 * padded context, so perplexities are comparable with the recurrent model and
 * the n-gram model on the same file.
 *
 * Parameter names (safetensors checkpoints, as an nn.Module would name them):
 *
 *     embedding.weight [V, m]     hidden.weight [h, (n-1)·m]   hidden.bias [h]
 *     output.weight [V, h]        output.bias [V]              direct.weight [V, (n-1)·m]
 *
 * and for the log-bilinear model embedding.weight [V, m] (R), context.weight
 * [m, (n-1)·m] (the C_i, oldest place first) and output.bias [V].
 *
 * A checkpoint (weft_window_lm_save) holds those tensors and the metadata
 *
 *     "format":      "pt"
 *     "weft.config": {"task": "window-lm", "level": "word"|"char", "order": 5,
 *                     "arch": "nnlm"|"lbl", "embed": 60, "hidden": 100,
 *                     "direct": false, "dropout": 0.0, "vocab_size": 10000}
 *
 * ("arch" may be absent: "nnlm"; an "lbl" model has hidden equal to embed).
 *     "weft.vocab":  ["the", ...]    the tokens in index order
 *
 * Sampling and its options are those of the recurrent model (weft/lm.h).
 */
#ifndef WEFT_WINDOW_LM_H
#define WEFT_WINDOW_LM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "weft/data.h"
#include "weft/graph.h"
#include "weft/lm.h"
#include "weft/optim.h"
#include "weft/params.h"
#include "weft/rng.h"
#include "weft/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_WINDOW_LM_MAX_ORDER 64

typedef enum weft_window_lm_arch {
    WEFT_WINDOW_NNLM = 0,   /* Bengio et al. (2003): tanh hidden layer, softmax */
    WEFT_WINDOW_LBL,        /* Mnih & Hinton (2007): the log-bilinear model */
} weft_window_lm_arch;

typedef struct weft_window_lm_config {
    weft_text_level level;  /* words or characters */
    int order;              /* n: the context is the n-1 tokens before; 2..64 */
    int embed;              /* m */
    int hidden;             /* h (nnlm); the log-bilinear model's is m: 0 or m here */
    bool direct;            /* the direct connections W from x to the output (nnlm) */
    float dropout;          /* on x and on the tanh layer (lbl: on x and r̂) while
                               training; [0, 1) */
    weft_window_lm_arch arch;
} weft_window_lm_config;

/* "nnlm" or "lbl"; and back (-1 for an unknown name). */
const char *weft_window_lm_arch_name(weft_window_lm_arch a);
int weft_window_lm_arch_find(const char *name);

/* A fixed-window model. Everything in it is owned by it (weft_window_lm_free). */
typedef struct weft_window_lm {
    weft_window_lm_config cfg;
    weft_vocab *vocab;
    int vocab_size;                 /* V */
    int pad;                        /* the id before the start of a text (see above) */
    weft_params *params;
    weft_param *embedding;          /* C [V, m] */
    weft_param *hidden_weight;      /* H [h, (n-1)m] */
    weft_param *hidden_bias;        /* d [h] */
    weft_param *output_weight;      /* U [V, h] */
    weft_param *output_bias;        /* b [V] */
    weft_param *direct_weight;      /* W [V, (n-1)m], NULL without direct connections */
    weft_param *context_weight;     /* lbl: the C_i side by side [m, (n-1)m]; the three
                                       hidden_/output_weight above are NULL then */
} weft_window_lm;

/* Make a model over `vocab`, which the model takes over on success (on failure
 * the caller still owns it). Parameters start at zero: call
 * weft_window_lm_init. NULL with a message in err on a bad configuration. */
weft_window_lm *weft_window_lm_new(const weft_window_lm_config *cfg, weft_vocab *vocab,
                                   char *err, size_t errsize);
void weft_window_lm_free(weft_window_lm *m);

/* The embedding uniform in [-0.1, 0.1), every weight matrix uniform in
 * ±1/sqrt(fan_in) (nn.Linear's range), the biases zero. */
void weft_window_lm_init(weft_window_lm *m, weft_rng *rng);

/* The contexts of count targets: for each target position pos[k] (an index
 * into ids[0..n)), the n-1 ids before it, oldest first, the pad id where the
 * index falls before 0, into ctx[k·(n-1) ...] (the caller's array). */
void weft_window_lm_contexts(const weft_window_lm *m, const int *ids, const size_t *pos,
                             int count, int *ctx);

/* Build the model over B contexts ctx [B, n-1] in g (reset by the caller).
 * With targets [B]: the mean cross-entropy, a scalar; with targets NULL: the
 * logits [B, V]. dropout_rng non-NULL (and dropout > 0) turns dropout on.
 * NULL with the graph's error on failure (an id outside the vocabulary). */
weft_var *weft_window_lm_forward(weft_window_lm *m, weft_graph *g, const int *ctx,
                                 const int *targets, int B, weft_rng *dropout_rng);

/* One optimizer step on a batch: reset g, forward, backward, clip the global
 * gradient norm to clip (when > 0), update. Fills *info. Returns 0; -1 with a
 * message in err when the graph fails or the loss or gradient is not finite
 * (no update is made then). */
int weft_window_lm_train_batch(weft_window_lm *m, weft_graph *g, const int *ctx,
                               const int *targets, int B, weft_optim *opt, float clip,
                               weft_rng *dropout_rng, weft_lm_step_info *info, char *err,
                               size_t errsize);

/* Score every token of ids[0..n) after the first from its padded context, in
 * batches of `batch` contexts (the result does not depend on it but for float
 * rounding). *nll receives the summed cross-entropy in nats, *count the
 * number of tokens scored (n - 1). Returns 0, or -1 with a message in err. */
int weft_window_lm_eval(weft_window_lm *m, weft_graph *g, const int *ids, size_t n, int batch,
                        double *nll, size_t *count, char *err, size_t errsize);

/* The same tokens one by one: lp[i-1] = ln P(ids[i] | the n-1 before it)
 * for i in 1..n-1 (lp is the caller's, n-1 long), for mixing models
 * (weft/mixture.h). Returns 0, or -1 with a message in err. */
int weft_window_lm_logprobs(weft_window_lm *m, weft_graph *g, const int *ids, size_t n,
                            int batch, double *lp, char *err, size_t errsize);

/* Generate o->length ids into out, starting from a context of padding (the
 * start of a line) followed by the prime, as weft_lm_sample does (o->batch
 * streams, stream b drawn with seed + b). The same seed gives the same text. Returns 0, or -1 with a message in err. */
int weft_window_lm_sample(weft_window_lm *m, weft_graph *g, const weft_lm_sample_opts *o,
                          int *out, char *err, size_t errsize);

/* Text to ids (a prime), as weft_lm_encode_text. *ids is the caller's. */
int weft_window_lm_encode_text(const weft_window_lm *m, const char *text, int **ids, int *n,
                               char *err, size_t errsize);
/* Ids as text, as weft_lm_write_text. */
int weft_window_lm_write_text(const weft_window_lm *m, const int *ids, int n,
                              bool after_newline, FILE *f);

/* --- training through the trainer (weft/train.h) ------------------------------------------
 *
 * The model as a weft_trainable: every token of the training ids after the
 * first is one example (its padded context and itself); an epoch visits them
 * in a fresh random order (Fisher-Yates from the run's stream), in batches of
 * `batch`, one optimizer step each (dropout from the same stream).
 * Validation and test are scored as weft_window_lm_eval does (perplexity,
 * lower is better). Its training state (save_state) is a file of
 * weft_train_save_params_state with the model's metadata, the training
 * text's token count and the batch ("weft.data"); weft_window_lm_load_state
 * reads it back. */
typedef struct weft_window_lm_data {
    const int *train;           /* training ids (borrowed for the run) */
    size_t n_train;             /* >= 2 */
    int batch;                  /* examples a step */
    const int *valid, *test;    /* or NULL (borrowed for the run); >= 2 ids each */
    size_t n_valid, n_test;
    int eval_batch;             /* contexts scored at once (only speed changes) */
} weft_window_lm_data;

typedef struct weft_window_lm_trainer weft_window_lm_trainer;

/* A trainer's view of model m (borrowed) over d. NULL with a message. */
weft_window_lm_trainer *weft_window_lm_trainer_new(weft_window_lm *m,
                                                   const weft_window_lm_data *d, char *err,
                                                   size_t errsize);
void weft_window_lm_trainer_free(weft_window_lm_trainer *t);
weft_trainable weft_window_lm_trainable(weft_window_lm_trainer *t);

/* Load a training state file written by the trainable's save_state: the
 * model (weights and optimizer slots as they were), the run's settings into *o
 * (weft_train_load_params_state), its state into *st, the training text's
 * token count into *train_tokens and the batch into *batch. NULL with a
 * message naming the file. */
weft_window_lm *weft_window_lm_load_state(const char *path, weft_train_opts *o,
                                          weft_train_state *st, size_t *train_tokens,
                                          int *batch, char *err, size_t errsize);

/* --- checkpoints -------------------------------------------------------------------------- */

/* The "weft.config" JSON of the model (malloc'd; the caller frees), or NULL. */
char *weft_window_lm_config_json(const weft_window_lm *m);

/* Save atomically (safetensors, see the top of this file). */
int weft_window_lm_save(const weft_window_lm *m, const char *path, char *err, size_t errsize);
/* Load a model file: configuration and vocabulary from its metadata, then
 * every tensor with its shape (nothing else may be there). NULL with a
 * message naming the file and what was wrong. */
weft_window_lm *weft_window_lm_load(const char *path, char *err, size_t errsize);
/* Is path a safetensors file whose weft.config says task "window-lm"? (false
 * for anything unreadable: the caller's own load then says why) */
bool weft_window_lm_file_is(const char *path);

#ifdef __cplusplus
}
#endif

#endif
