/* weft/lm.h — recurrent language models: train, evaluate, sample, save.
 *
 * The model is PyTorch's word_language_model example (RNNModel), any cell:
 *
 *     ids [T, B] -> encoder (embedding [V, E]) -> dropout
 *                -> rnn (any cell, L layers, dropout between layers)
 *                -> dropout -> decoder (linear [V, H] + bias [V]) -> cross-entropy
 *
 * The decoder and the softmax run over all T x B rows of a window at once
 * (one GEMM). The loss of a window is the mean cross-entropy over its T x B
 * tokens (so SGD's lr 20 here is Zaremba et al.'s lr 1 on the per-sequence
 * sum over B, as pytorch/examples uses it). Perplexity is exp of the mean
 * cross-entropy per token.
 *
 * Weight tying (Press & Wolf 2017; Inan et al. 2017): the decoder's weight IS
 * the encoder's, one parameter used twice (its gradient is the sum of both
 * uses); it needs E == H.
 *
 * Parameter names are those of the PyTorch example's state_dict:
 *
 *     encoder.weight [V, E]
 *     rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0, ... (weft/rnn.h)
 *     decoder.weight [V, H]   (with tying: not in the store; see the checkpoint below)
 *     decoder.bias [V]
 *
 * Checkpoints (weft_lm_save / weft_lm_load) are safetensors files (weft/io.h)
 * with those tensors and the metadata
 *
 *     "format":      "pt"
 *     "weft.config": {"task": "lm", "level": "word"|"char", "cell": "lstm",
 *                     "layers": 2, "hidden": 200, "embed": 200, "tied": false,
 *                     "dropout": 0.0, "dropout_mode": "standard"|"variational",
 *                     "dropout_embed": 0.0, "vocab_size": 10000}
 *                    (a file without the two dropout keys: standard, 0)
 *     "weft.vocab":  ["<unk>", "the", ...]   the tokens in index order
 *
 * With tying the file holds both encoder.weight and decoder.weight (the same
 * values), as torch.save(model.state_dict()) does; loading accepts a tied file
 * with or without decoder.weight (safetensors' save_model drops shared
 * tensors) and refuses one whose decoder.weight differs from encoder.weight.
 *
 * Training state for resuming (weft_lm_save_run / weft_lm_load_run) goes to a
 * second safetensors file, by convention MODEL.state, so that MODEL itself
 * stays a plain model file PyTorch loads with load_state_dict: the current
 * weights ("model.<name>"), the optimizer's state slots ("optim.<k>.<name>"),
 * the carried hidden state ("carry.<i>"), the model's metadata and
 * "weft.run" (epoch, position, step, learning rate, best validation
 * perplexity, the random stream).
 */
#ifndef WEFT_LM_H
#define WEFT_LM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/data.h"
#include "weft/dropout.h"
#include "weft/graph.h"
#include "weft/optim.h"
#include "weft/params.h"
#include "weft/rng.h"
#include "weft/rnn.h"
#include "weft/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_LM_CELL_MAX 256

typedef struct weft_lm_config {
    weft_text_level level;          /* words or characters */
    char cell[WEFT_LM_CELL_MAX];    /* a built-in cell's name or a plugin's path
                                       (weft_cell_lookup: "lstm", "./mgu.so") */
    int layers;                     /* >= 1 */
    int hidden;                     /* H */
    int embed;                      /* E */
    float dropout;                  /* on the embedding, between layers, on the rnn output */
    bool variational;               /* those three masks: one [B, F] mask a window, reused at
                                       every step (weft/dropout.h); false: fresh per element */
    float dropout_embed;            /* embedding dropout: whole rows of encoder.weight */
    bool tied;                      /* decoder.weight is encoder.weight (E == H) */
} weft_lm_config;

/* A language model. Everything in it is owned by it (weft_lm_free). */
typedef struct weft_lm {
    weft_lm_config cfg;
    const weft_cell_type *cell;
    void *plugin;                   /* the cell's shared object, when cfg.cell names one */
    weft_vocab *vocab;
    int vocab_size;                 /* V */
    weft_params *params;
    weft_rnn *rnn;
    weft_param *encoder;            /* [V, E] */
    weft_param *decoder_weight;     /* [V, H]; the encoder itself when tied */
    weft_param *decoder_bias;       /* [V] */
} weft_lm;

/* Make a model over vocabulary `vocab`, which the model takes over on success
 * (on failure the caller still owns it). Parameters start at zero: call
 * weft_lm_init. NULL with a message in err on a bad configuration (unknown
 * cell, sizes < 1, dropout outside [0, 1), tying with E != H). */
weft_lm *weft_lm_new(const weft_lm_config *cfg, weft_vocab *vocab, char *err, size_t errsize);
void weft_lm_free(weft_lm *m);

/* Initialise as the PyTorch example does: encoder and decoder weights uniform
 * in [-0.1, 0.1), decoder bias 0; the rnn uniform in [-rnn_range, rnn_range)
 * when rnn_range > 0 (Zaremba et al.: 0.1 everywhere), else each cell's own
 * initialisers (PyTorch's: ±1/sqrt(H)). */
int weft_lm_init(weft_lm *m, weft_rng *rng, float rnn_range);

/* Build one window in g (which the caller resets first): inputs and targets
 * are [T, B] time-major ids (weft_batches_window), carry the state to start
 * from (NULL or carry->n == 0: zeros). dropout_rng non-NULL (and dropout or
 * dropout_embed > 0) turns dropout on (training): embedding dropout first
 * (weft_embedding_dropout), then the output, between-layer and rnn-output
 * masks, standard or variational as cfg says. Fills *out (the unroll, for weft_state_detach)
 * and returns the loss node, a scalar: the mean cross-entropy over the T x B
 * tokens; when targets is NULL (sampling) it returns the logits [T, B, V]
 * instead. NULL with the graph's error on failure. */
weft_var *weft_lm_forward(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                          int T, int B, const weft_state *carry, weft_rng *dropout_rng,
                          weft_rnn_out *out);

/* Recomputation (gradient checkpointing, Chen et al. 2016) over one window:
 * memory for one segment of `every` steps instead of the whole window, for
 * one more forward. weft_lm_segments_forward runs the window segment by
 * segment, keeping only the state at each segment's start (and the dropout
 * stream as it found it); weft_lm_segments_backward then goes from the last
 * segment to the first, runs each one's forward again from its kept state
 * and its backward, the gradient of its start state handed to the segment
 * before. Together they add scale x the gradient of the window's mean
 * cross-entropy into m's parameter gradients: weft_lm_forward's loss through
 * weft_backward, to float rounding. Standard dropout only (the masks of
 * variational and embedding dropout span the window: refused). */
typedef struct weft_lm_segments {
    int every, n;               /* steps a segment, segments */
    weft_state *start;          /* [n + 1]: start[k] the state after segment k - 1 (start[0]
                                   unused: the caller's carry); start[n] the window's end */
    weft_rng *rng;              /* [n]: the dropout stream as segment k found it */
    bool has_rng;
    double loss;                /* the window's mean cross-entropy */
} weft_lm_segments;

/* The forward pass: fills *s (owned by it: weft_lm_segments_free), resetting
 * g for every segment. inputs, targets, T, B, carry and dropout_rng as
 * weft_lm_forward's. 0, or -1 with a message in err. */
int weft_lm_segments_forward(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                             int T, int B, const weft_state *carry, weft_rng *dropout_rng,
                             int every, weft_lm_segments *s, char *err, size_t errsize);
/* The backward pass over the same window (the same inputs, targets and
 * carry). 0, or -1 with a message in err. */
int weft_lm_segments_backward(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                              int T, int B, const weft_state *carry,
                              const weft_lm_segments *s, float scale, char *err,
                              size_t errsize);
void weft_lm_segments_free(weft_lm_segments *s);

/* What one training window did. */
typedef struct weft_lm_step_info {
    float loss;         /* mean cross-entropy of the window (before the update) */
    float grad_norm;    /* global gradient norm before clipping */
} weft_lm_step_info;

/* One step of truncated BPTT over a window: reset g, forward from *carry,
 * backward, clip the global gradient norm to `clip` (when > 0), one optimizer
 * step, then detach the final state into *carry. Returns 0; -1 with a message
 * in err when the graph fails or the loss or gradient norm is not finite (no
 * update is made then). */
int weft_lm_train_window(weft_lm *m, weft_graph *g, const int *inputs, const int *targets,
                         int T, int B, weft_state *carry, weft_optim *opt, float clip,
                         weft_rng *dropout_rng, weft_lm_step_info *info, char *err,
                         size_t errsize);

/* Evaluate a stream of n ids: cut into `batch` streams (weft_batchify), run
 * in windows of bptt steps with the state carried throughout, no dropout.
 * With batch 1 every token after the first is scored (inputs ids[0..n-2],
 * targets ids[1..n-1]). *nll receives the summed cross-entropy (nats) and
 * *count the number of tokens scored; perplexity is exp(*nll / *count).
 * Returns 0, or -1 with a message in err. */
int weft_lm_eval(weft_lm *m, weft_graph *g, const int *ids, size_t n, int batch, int bptt,
                 double *nll, size_t *count, char *err, size_t errsize);

/* Every token after the first one by one, as weft_lm_eval scores them with
 * batch 1: lp[i-1] = ln P(ids[i] | ids[0..i)) for i in 1..n-1 (lp is the
 * caller's, n-1 long), the state carried over the whole stream, bptt steps
 * run at once. For mixing models (weft/mixture.h). Returns 0, or -1 with a
 * message in err. */
int weft_lm_logprobs(weft_lm *m, weft_graph *g, const int *ids, size_t n, int bptt, double *lp,
                     char *err, size_t errsize);

/* --- sampling ---------------------------------------------------------------------------- */

/* How a token is drawn from a row of logits (weft_lm_draw): softmax(logits /
 * temperature) restricted to the top_k most likely ids (0 or >= V: all), then
 * to the nucleus of probability top_p (Holtzman et al. 2020: the fewest most
 * likely ids whose probability sums to at least top_p; 0 or >= 1: all), and
 * renormalised. temperature <= 0: always the most likely (the lowest id among
 * equals). Ranks are by logit, ties by the lower id. */
typedef struct weft_lm_sampling {
    float temperature;
    int top_k;
    float top_p;
} weft_lm_sampling;

typedef struct weft_lm_sample_opts {
    const int *prime;       /* ids to read first (may be NULL); not repeated in the output */
    int n_prime;
    int length;             /* ids to generate */
    float temperature;      /* logits / temperature; <= 0: always the most likely */
    int top_k;              /* draw among the k most likely only; 0: all */
    float top_p;            /* draw from the nucleus of this probability only; 0: all */
    uint64_t seed;
    int batch;              /* streams generated at once (0 or 1: one); stream b draws with
                               seed + b, so it is the text of a one-stream run with that seed */
} weft_lm_sample_opts;

/* --- one token at a time: out, h = model(x, h) ------------------------------------------- */

/* The id generation starts from, as every line starts in training: "<eos>"
 * for a word model, "\n" for a character model, when the vocabulary has it;
 * else 0. Feed it first, from the zero state, then the prime. */
int weft_lm_start_id(const weft_lm *m);

/* One step of the model: read token `id` in the state *state (n == 0: zeros,
 * as weft_state's {0}), write the V logits of the next token into `logits`
 * (the caller's V floats; may be NULL) and replace *state with the state after
 * the step (owned by *state: weft_state_free). g is scratch room, reset here
 * and run forward-only (weft_graph_set_forward_only: no tape kept, the
 * weights read in place); no dropout. Any cell, a plugin's too. Generation is
 *
 *     weft_state h = { 0 };
 *     weft_lm_sampling how = { .temperature = 0.8f };
 *     int id = weft_lm_start_id(m);
 *     for (int k = 0; k < n_prime + length; k++) {
 *         if (weft_lm_next(m, g, id, &h, logits, err, sizeof err)) break;
 *         id = k < n_prime ? prime[k] : weft_lm_draw(logits, V, &how, buf, &rng);
 *         if (k >= n_prime) emit(id);
 *     }
 *
 * which gives weft_lm_sample's (and `weft sample`'s) tokens for the same seed
 * (tests/test_generate.c). Returns 0, or -1 with a message in err (an id out
 * of range leaves *state as it was). */
int weft_lm_next(weft_lm *m, weft_graph *g, int id, weft_state *state, float *logits, char *err,
                 size_t errsize);

/* The same for B streams at once: ids[B] in, logits [B, V] out (the caller's;
 * may be NULL), *state holding B rows per tensor (n == 0: zeros). Each
 * stream's numbers are those it gets alone (up to 64 streams: the per-step
 * products compute every row alike, src/matmul_rows.c). */
int weft_lm_next_batch(weft_lm *m, weft_graph *g, const int *ids, int B, weft_state *state,
                       float *logits, char *err, size_t errsize);

/* One id drawn from a row of V logits as *s says, with one weft_rng_uniform
 * of rng: the candidates are found by partial selection (quickselect for
 * top-k and for the nucleus, no sort), then walked in the order the
 * selection left them. weft_lm_sample and weft_window_lm_sample draw every
 * token this way. buf is the caller's scratch room for V entries (borrowed;
 * its contents are not kept). */
typedef struct weft_lm_scored {
    float logit;
    int id;
} weft_lm_scored;
int weft_lm_draw(const float *logits, int V, const weft_lm_sampling *s, weft_lm_scored *buf,
                 weft_rng *rng);

/* The distribution weft_lm_draw draws from: probs[V] (the caller's), zero
 * outside the candidates. buf as weft_lm_draw's. */
void weft_lm_distribution(const float *logits, int V, const weft_lm_sampling *s, float *probs,
                          weft_lm_scored *buf);

/* Generate o->length ids into out (the caller's array; with o->batch B > 1,
 * B x o->length ids, stream after stream). The model starts
 * after "<eos>" (words) or "\n" (characters) when the vocabulary has it (else
 * id 0: weft_lm_start_id), as every line starts in training, then reads the
 * prime, one step at a time (weft_lm_next_batch), all B streams together. The
 * same seed gives the same text.
 * Returns 0, or -1 with a message in err. */
int weft_lm_sample(weft_lm *m, weft_graph *g, const weft_lm_sample_opts *o, int *out,
                   char *err, size_t errsize);

/* Text to ids with the model's vocabulary, for a prime: words are split on
 * whitespace (a newline is "<eos>"), characters are code points. A token the
 * vocabulary lacks becomes "<unk>", or is an error naming it when there is
 * none. *ids is the caller's (free()). Returns 0 or -1. */
int weft_lm_encode_text(const weft_lm *m, const char *text, int **ids, int *n, char *err,
                        size_t errsize);

/* Write ids as text: words joined by spaces with "<eos>" as a newline,
 * characters as they are. `after_newline`: the text so far ends a line (no
 * space before the first word). Returns 0 or -1 (a write error). */
int weft_lm_write_text(const weft_lm *m, const int *ids, int n, bool after_newline, FILE *f);

/* --- checkpoints ---------------------------------------------------------------------------- */

/* The "weft.config" JSON of the model (malloc'd; the caller frees), or NULL. */
char *weft_lm_config_json(const weft_lm *m);
/* The "weft.vocab" JSON of the model (malloc'd; the caller frees), or NULL. */
char *weft_lm_vocab_json(const weft_lm *m);

/* Save the model atomically (see the top of this file). */
int weft_lm_save(const weft_lm *m, const char *path, char *err, size_t errsize);
/* Load a model file: the configuration and vocabulary from its metadata, then
 * its tensors (every one must be there with its shape; nothing else may be).
 * NULL with a message naming the file and what was wrong. */
weft_lm *weft_lm_load(const char *path, char *err, size_t errsize);

/* Where a training run is, for --resume. */
typedef struct weft_lm_run {
    int epoch;              /* the epoch under way, from 1 */
    int next_start;         /* first step of the next window within that epoch */
    long windows;           /* windows trained so far, in all epochs */
    double lr;              /* the current learning rate */
    double best_valid;      /* best validation perplexity so far (0: none yet) */
    size_t train_tokens;    /* tokens of the training data (a check on resume) */
    /* the run's settings, which a resumed run keeps */
    double lr0, decay;      /* weft_lr_step_decay(lr0, decay, decay_start, epoch) */
    int decay_start;
    float clip;             /* gradient norm clip (0: none) */
    int batch, bptt, epochs;
    weft_optim optim;       /* kind, hyper-parameters and step count */
    weft_rng rng;           /* the dropout stream */
    /* What a run on the trainer keeps beyond those (weft/train.h), written to
     * "weft.run" as a "trainer" object only when has_trainer (a run with a
     * schedule other than step decay, a warm-up, accumulation or patience). */
    bool has_trainer;
    weft_lr_schedule schedule;  /* its decay and decay_start are the two above */
    int accumulate, patience;
    double lr_scale;            /* reduce-on-plateau's factor so far */
    int best_epoch, bad_epochs, plateau_bad;
} weft_lm_run;

/* Save the whole training state: the current weights, the optimizer's state
 * slots, the carried hidden state and *run, atomically, to path. */
int weft_lm_save_run(const weft_lm *m, const weft_lm_run *run, const weft_state *carry,
                     const char *path, char *err, size_t errsize);
/* Load a file written by weft_lm_save_run: returns the model (weights as they
 * were), fills *run and *carry (owned by the caller: weft_state_free) and the
 * optimizer's state slots of the model's store. Every field of "weft.run" is
 * checked against its range, and a state in the middle of an epoch must carry
 * the hidden state of every layer for `batch` streams. NULL with a message. */
weft_lm *weft_lm_load_run(const char *path, weft_lm_run *run, weft_state *carry, char *err,
                          size_t errsize);

/* --- training through the trainer (weft/train.h) ------------------------------------------
 *
 * The model as a weft_trainable over a token stream: each epoch cuts the
 * training ids into `batch` streams and windows of `bptt` steps (one batch a
 * window, the hidden state carried from the window before, zeros at the start
 * of every epoch, as PyTorch's word_language_model); validation and test are
 * scored by weft_lm_eval (perplexity, lower is better). Its training state is
 * the MODEL.state file of weft_lm_save_run, so --resume continues exactly.
 *
 *     weft_lm_trainer *lt = weft_lm_trainer_new(m, &data, NULL, err, sizeof err);
 *     weft_trainable t = weft_lm_trainable(lt);
 *     weft_train_opts o = weft_train_defaults();   ... set o ...
 *     weft_train(&t, &o, &res, err, sizeof err);
 *     weft_lm_trainer_free(lt);
 */
typedef struct weft_lm_data {
    const int *train;           /* training ids (borrowed; copied into the streams) */
    size_t n_train;
    int batch, bptt;            /* streams and window length */
    const int *valid;           /* validation ids or NULL (borrowed for the run) */
    size_t n_valid;
    int valid_batch;            /* streams for validation and test (>= 1) */
    const int *test;            /* test ids or NULL (borrowed for the run) */
    size_t n_test;
} weft_lm_data;

typedef struct weft_lm_trainer weft_lm_trainer;

/* A trainer's view of model m (borrowed) over the data d. carry (may be NULL)
 * is a resumed run's carried state, taken over. NULL with a message when the
 * text is too short for the batch (or for validation with valid_batch). */
weft_lm_trainer *weft_lm_trainer_new(weft_lm *m, const weft_lm_data *d, weft_state *carry,
                                     char *err, size_t errsize);
void weft_lm_trainer_free(weft_lm_trainer *t);
weft_trainable weft_lm_trainable(weft_lm_trainer *t);
/* Steps of each stream (the training ids cut into `batch` streams), and
 * windows an epoch. */
int weft_lm_trainer_steps(const weft_lm_trainer *t);
long weft_lm_trainer_windows(const weft_lm_trainer *t);

/* A run read by weft_lm_load_run as the trainer's options and state: fills the
 * optimiser, schedule, clip, epochs, accumulation and patience of *o (the
 * rest of *o is left alone) and *st. */
void weft_lm_run_to_train(const weft_lm_run *run, weft_train_opts *o, weft_train_state *st);

#ifdef __cplusplus
}
#endif

#endif
