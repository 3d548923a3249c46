/* weft/classify.h — models that label text: a sentence classifier, a
 * sequence tagger and the window classifier, on any recurrent cell.
 *
 *   classify   words -> embedding (optionally from a word2vec text file)
 *              -> rnn (any cell, L layers, optionally bidirectional)
 *              -> pooling over each sentence's real steps (last, mean, max)
 *              -> dropout -> linear -> softmax over the labels
 *   tag        words -> embedding [+ a character encoder: a bidirectional
 *              rnn over each word's characters, its two final states
 *              concatenated to the word's embedding] -> rnn (bidirectional
 *              as a rule) -> dropout -> linear -> softmax per word
 *   window     each word with k neighbours either side ("<pad>" past the
 *              sentence's ends), their embeddings concatenated -> linear ->
 *              tanh -> dropout -> linear -> softmax per word (Collobert et
 *              al. 2011, "Natural Language Processing (Almost) from Scratch",
 *              the window approach)
 *
 * The loss of a batch is the mean cross-entropy over its sentences
 * (classify) or its real words (tag, window). A batch is a list of
 * sentences of any lengths: they are laid out time-major [T, B] longest
 * first, and the recurrent layer is unrolled over the ragged batch (weft/rnn.h),
 * so padding changes no prediction and no gradient.
 *
 * Parameters (names as a PyTorch module of the same shape would have them):
 *     embedding.weight [V, E]           rnn.* (weft/rnn.h)
 *     char_embedding.weight [Vc, Ec]    char_rnn.*          (tag with the character encoder)
 *     hidden.weight [Hw, (2k+1) E], hidden.bias [Hw]        (window)
 *     output.weight [C, F], output.bias [C]
 *
 * Checkpoints are safetensors files (weft/io.h) with those tensors and the
 * metadata "weft.config" (a JSON object: "task", the sizes, the cell, the
 * pooling, the normalisation, the data format), "weft.vocab" (the words),
 * "weft.labels" (the labels or tags, in id order) and, with the character
 * encoder, "weft.chars".
 */
#ifndef WEFT_CLASSIFY_H
#define WEFT_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "weft/data.h"
#include "weft/graph.h"
#include "weft/labeled.h"
#include "weft/metrics.h"
#include "weft/params.h"
#include "weft/rng.h"
#include "weft/rnn.h"
#include "weft/buckets.h"
#include "weft/compare.h"
#include "weft/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_classify_task {
    WEFT_TASK_CLASSIFY = 0,
    WEFT_TASK_TAG = 1,
    WEFT_TASK_WINDOW = 2,
} weft_classify_task;

typedef enum weft_pool { WEFT_POOL_LAST = 0, WEFT_POOL_MEAN = 1, WEFT_POOL_MAX = 2 } weft_pool;

/* "classify", "tag", "window" / "last", "mean", "max" (static strings), and
 * back (0, or -1 for another name). */
const char *weft_classify_task_name(weft_classify_task t);
int weft_classify_task_parse(const char *name, weft_classify_task *out);
const char *weft_pool_name(weft_pool p);
int weft_pool_parse(const char *name, weft_pool *out);

#define WEFT_CLASSIFY_CELL_MAX 256

typedef struct weft_classify_config {
    weft_classify_task task;
    char cell[WEFT_CLASSIFY_CELL_MAX];   /* built-in name or plugin path (weft_cell_lookup) */
    int layers, hidden, embed;           /* the rnn (classify, tag); embed for all three */
    bool bidirectional;
    weft_pool pool;                      /* classify */
    float dropout;                       /* embeddings, between layers, before the output */
    bool char_encoder;                   /* tag */
    int char_embed, char_hidden;         /* its sizes (each direction char_hidden) */
    int window, window_hidden;           /* window: k neighbours each side, hidden width */
    weft_word_norm norm;                 /* applied to words before the vocabulary */
    weft_labeled_format format;          /* how its data is read */
    int column;                          /* the CoNLL-U field it predicts */
} weft_classify_config;

/* Defaults for a task: lstm, 1 layer, hidden 150, embed 100, bidirectional,
 * max pooling, dropout 0.5, character encoder 30/50, window 2 with 300 hidden,
 * no normalisation, format classify (classify) or conllu with UPOS. */
weft_classify_config weft_classify_defaults(weft_classify_task task);

/* A model. Everything in it is owned by it (weft_classify_free). */
typedef struct weft_classify_model {
    weft_classify_config cfg;
    const weft_cell_type *cell;
    void *plugin;
    weft_vocab *words, *labels, *chars;  /* chars: only with the character encoder */
    int n_labels;
    weft_params *params;
    weft_rnn *rnn, *char_rnn;
    weft_param *embedding, *char_embedding, *hidden_w, *hidden_b, *out_w, *out_b;
} weft_classify_model;

/* Make a model over the given vocabularies, which it takes over on success
 * (on failure the caller keeps them). words must hold "<unk>" (and "<pad>"
 * for the window model); chars is needed with the character encoder and
 * NULL otherwise. Parameters start at zero: call weft_classify_init. NULL
 * with a message on a bad configuration. */
weft_classify_model *weft_classify_new(const weft_classify_config *cfg, weft_vocab *words,
                                       weft_vocab *labels, weft_vocab *chars, char *err,
                                       size_t errsize);
void weft_classify_free(weft_classify_model *m);
/* Embeddings N(0, 0.1)... uniform(-0.1, 0.1); the rnn's cells their own
 * initialisers; linear layers uniform(±1/sqrt(fan_in)) as nn.Linear. */
int weft_classify_init(weft_classify_model *m, weft_rng *rng);

/* The vocabularies a task needs, from its training data: words seen at least
 * min_count times after "<unk>" (and "<pad>" for the window model), the
 * labels, and the characters (with cfg->char_encoder; else *chars = NULL).
 * 0, or -1 with a message. */
int weft_classify_vocabs(const weft_classify_config *cfg, const weft_labeled_data *train,
                         int min_count, weft_vocab **words, weft_vocab **labels,
                         weft_vocab **chars, char *err, size_t errsize);

/* Copy the vectors of a word2vec file (text or binary, read by
 * weft_vectors_read; D must equal cfg.embed) into the embedding rows of the
 * words the vocabulary has (each file word normalised as the model's words
 * are). *found: how many rows of the file were copied. 0, or -1 with a
 * message naming the file (and the line, for a malformed row). */
int weft_classify_load_vectors(weft_classify_model *m, const char *path, int *found, char *err,
                               size_t errsize);

/* --- data and batches --------------------------------------------------------------------- */

/* A data set encoded for a model: ids of words, characters and gold labels. */
typedef struct weft_classify_set {
    const weft_labeled_data *data;   /* borrowed */
    int *lengths;                    /* n_sents: words in each sentence */
    int *word_ids;                   /* n_words */
    int *targets;                    /* n_sents (classify) or n_words; -1: a label the model lacks */
    int *char_ids, *char_start;      /* character encoder: word k's characters are
                                        char_ids[char_start[k] .. char_start[k + 1]) */
} weft_classify_set;

/* Encode d for m (d is borrowed and must outlive the set). A CoNLL-U or BIO
 * file for a classifier, or a classification file for a tagger, is an error
 * naming the file. 0, or -1 with a message. */
int weft_classify_set_make(const weft_classify_model *m, const weft_labeled_data *d,
                           weft_classify_set *out, char *err, size_t errsize);
void weft_classify_set_free(weft_classify_set *s);

/* The loss of sentences idx[0..n) of s, built in g (which the caller resets
 * first): a scalar, the mean cross-entropy over the sentences (classify) or
 * their words with a label the model knows (tag, window). dropout_rng
 * non-NULL turns dropout on (training). NULL with the graph's error. */
weft_var *weft_classify_loss(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                             const int *idx, int n, weft_rng *dropout_rng);

/* The logits of sentences idx[0..n): rows in the order of idx, then of the
 * words within a sentence for tag and window ([n, C], or [words, C]). */
weft_var *weft_classify_logits(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                               const int *idx, int n);

/* The most likely label of every sentence (classify: n_sents ids into
 * pred) or word (n_words ids), in batches of `batch` sentences bucketed by
 * length. 0, or -1 with a message. */
int weft_classify_predict(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                          int batch, int *pred, char *err, size_t errsize);

typedef struct weft_classify_score {
    weft_confusion confusion;        /* over sentences (classify) or words */
    weft_chunk_score chunks;         /* when the labels are BIO tags */
    bool has_chunks;
    double loss;                     /* mean cross-entropy over what was scored */
} weft_classify_score;

/* Score m on s: predictions against the gold labels, the mean loss, and
 * entity-level scores when every label is O or X-TYPE. out->confusion is the
 * caller's (weft_confusion_free). 0, or -1 with a message. */
int weft_classify_evaluate(weft_classify_model *m, weft_graph *g, const weft_classify_set *s,
                           int batch, weft_classify_score *out, char *err, size_t errsize);

/* --- training (weft/train.h) ----------------------------------------------------------------
 *
 * A model trains through the library trainer: fill a weft_classify_run,
 * get its weft_trainable, hand it to weft_train. An epoch is the training set
 * in length buckets (weft/buckets.h: pools of `pool` batches sorted by length,
 * batch order shuffled); a batch's loss is weft_classify_loss; the validation
 * and test score is accuracy in percent (higher is better). */
typedef struct weft_classify_run {
    weft_classify_model *model;               /* borrowed */
    const weft_classify_set *train, *valid, *test;   /* borrowed; valid, test may be NULL */
    int batch;                                /* sentences a batch (default 32) */
    int pool;                                 /* batches a sorted pool (default 20) */
    int eval_batch;                           /* sentences a batch when scoring (256) */
    /* filled as it runs */
    weft_buckets order;                       /* this epoch's batches */
    weft_chunk_score last;                    /* entity scores of the last evaluation */
    bool last_has_chunks;
    double last_macro_f1;                     /* of the last evaluation, percent */
    double last_loss;                         /* of the last evaluation, mean cross-entropy */
    int rank, size;                           /* several ranks (weft/distributed.h): this
                                                 rank's share of each batch (the trainer's
                                                 shard callback sets them; 0 and 0: all) */
} weft_classify_run;

/* Fill *t for weft_train (defaults filled into r). r must outlive the run. */
void weft_classify_trainable(weft_classify_run *r, weft_trainable *t);
/* Free what the run made (the batch order). */
void weft_classify_run_free(weft_classify_run *r);

/* --- cells side by side on a labelling task (weft compare --task sst|sst5|upos) --------------
 *
 * As weft_compare_train does for the sequence tasks (weft/compare.h): each
 * cell's model sized to a parameter budget by its recurrent layer's hidden
 * width, trained for the same budget with the same data order, dropout
 * stream and optimiser for a seed, validated eval_points times (and before
 * the first step); the score is accuracy (a fraction), the nll the mean
 * cross-entropy. */

/* The parameters of a model of cfg with `cell` over vocabularies of these
 * sizes (chars: with the character encoder); 0 when the cell refuses the
 * sizes. Builds nothing. */
size_t weft_classify_numel(const weft_classify_config *cfg, const weft_cell_type *cell,
                           int words, int labels, int chars);
/* The hidden width (of cfg's recurrent layers) whose model is nearest
 * `budget` parameters: 0 with *H and *numel when within tolerance (0.02: 2%),
 * else -1 with a message. */
int weft_classify_size(const weft_classify_config *cfg, const weft_cell_type *cell, int words,
                       int labels, int chars, size_t budget, double tolerance, int *H,
                       size_t *numel, char *err, size_t errsize);

typedef struct weft_classify_compare_opts {
    weft_classify_config cfg;   /* the model; its cell and hidden come from the call */
    int min_count;              /* the vocabulary's cut-off (default 1) */
    int batch, pool;            /* sentences a batch (32), batches a sorted pool (20) */
    weft_optim optim;           /* default (lr 0): Adam, lr 0.002 */
    float clip;                 /* global gradient norm (0: 5; negative: none) */
    int epochs;                 /* budgets: the first one spent ends the run */
    long max_steps;
    double max_seconds;         /* of training (validation not counted) */
    int eval_points;            /* validations spread over the budget (default 10) */
    uint64_t seed;              /* initialisation; data order and dropout (another stream) */
} weft_classify_compare_opts;

/* Train one model of `cell` (a built-in name or an allowed plugin path) with
 * hidden width `hidden` on train, validating on valid (both borrowed), into
 * *res (the caller frees it: weft_compare_result_free). 0, or -1 with a
 * message. */
int weft_classify_compare_train(const char *cell, int hidden, const weft_labeled_data *train,
                                const weft_labeled_data *valid,
                                const weft_classify_compare_opts *o, weft_compare_result *res,
                                char *err, size_t errsize);

/* --- checkpoints ----------------------------------------------------------------------------- */

int weft_classify_save(const weft_classify_model *m, const char *path, char *err,
                       size_t errsize);
weft_classify_model *weft_classify_load(const char *path, char *err, size_t errsize);

/* --- training state (--resume) -------------------------------------------------------------
 *
 * The run's trainable saves the whole training state to opts.state_path
 * (after every epoch and when the run stops early): a safetensors file
 * (weft_train_save_params_state) with the weights as "model.<name>", the
 * optimiser's slots, the model's metadata as in a checkpoint, the trainer's
 * state and settings, and "weft.data": the training set's sentences and
 * words and the batch and pool sizes, which a resumed run must match. */
typedef struct weft_classify_resume {
    int train_sentences, train_words;   /* of the training set the run started on */
    int batch, pool;                    /* weft_classify_run's */
} weft_classify_resume;

/* Write r's training state to path (the trainable's save_state). */
int weft_classify_save_state(const weft_classify_run *r, const char *path,
                             const weft_train_opts *o, const weft_train_state *st, char *err,
                             size_t errsize);
/* Read a training state: the model (its configuration checked against the
 * file's tensors before anything is built), the run's settings into *o (the
 * fields weft_train_opts_json writes), the trainer's state into *st and the
 * data's sizes into *run. Hand st to opts.resume and a weft_classify_run with
 * run->batch and run->pool over the same training data to weft_train. NULL
 * with a message naming the file. */
weft_classify_model *weft_classify_load_state(const char *path, weft_train_opts *o,
                                              weft_train_state *st, weft_classify_resume *run,
                                              char *err, size_t errsize);
/* Is path a checkpoint of one of these models (its weft.config's task is
 * classify, tag or window)? False for anything else, including errors. */
bool weft_classify_file_is(const char *path);

#ifdef __cplusplus
}
#endif

#endif
