/* weft/tasks.h — benchmark tasks for comparing recurrent cells: seeded
 * generators and loaders that turn each task into a list of sequences.
 *
 * Every task is a set of examples. An example is T steps of input (token ids
 * or dense vectors), T steps of target and two weights per step: `train`, how
 * much the step counts in the training loss, and `score`, whether it counts
 * in the validation score. docs/tasks.md describes each task with an example.
 *
 *   arithmetic  Jozefowicz et al. 2015: "a+b=" or "a-b=" of numbers up to 8
 *               digits, distractor letters between the question's characters,
 *               then the answer and '.'. Next-character prediction; scored on
 *               the answer characters (accuracy, higher is better).
 *   xml         randomly nested tags <name>...</name>, names of 2-10 letters.
 *               Next-character prediction; scored on the characters a model
 *               can know: those of closing tags after "</" (NLL/char, lower
 *               is better).
 *   music       a polyphonic music set (jsb, nottingham, musedata, piano):
 *               88 keys multi-hot, predict the next step; one sigmoid per
 *               key; NLL per time step (lower is better).
 *   ptb         word-level language model on the first N tokens of the Penn
 *               Treebank train and valid files, in windows; NLL per word.
 *   adding      Hochreiter & Schmidhuber 1997: two channels (a number in
 *               [0, 1), a marker), the target is the sum of the two marked
 *               numbers; MSE at the last step (lower is better).
 *   copy        Arjovsky et al. 2016: 10 symbols, a delay of `length` blanks,
 *               a delimiter, then reproduce the symbols; NLL per copied
 *               symbol (lower is better).
 *
 * Generated tasks make their training examples on the fly from the caller's
 * generator (so one seed gives one data order) and their validation set once
 * from a fixed seed of its own (the same for every run). Loaded tasks hold
 * both sets in memory.
 */
#ifndef WEFT_TASKS_H
#define WEFT_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_task_input {
    WEFT_TASK_TOKENS = 0,    /* ids in [0, in_width) */
    WEFT_TASK_DENSE,         /* in_width floats a step */
} weft_task_input;

typedef enum weft_task_loss {
    WEFT_TASK_CE = 0,        /* softmax over out_width classes, integer targets */
    WEFT_TASK_BCE,           /* out_width independent sigmoids, 0/1 targets */
    WEFT_TASK_MSE,           /* out_width real outputs, squared error */
} weft_task_loss;

typedef enum weft_task_metric {
    WEFT_METRIC_NLL = 0,     /* CE: nats per scored step; BCE: nats per step, summed over keys */
    WEFT_METRIC_ACCURACY,    /* CE: fraction of scored steps whose most likely class is right */
    WEFT_METRIC_MSE,         /* MSE: mean squared error per scored step */
} weft_task_metric;

/* One sequence. The arrays are owned by the example (weft_task_example_free). */
typedef struct weft_task_example {
    int T;
    int *ids;        /* [T] input ids (token tasks), else NULL */
    float *x;        /* [T, in_width] inputs (dense tasks), else NULL */
    int *target;     /* [T] target classes (CE), else NULL */
    float *y;        /* [T, out_width] targets (BCE, MSE), else NULL */
    float *train;    /* [T] weight of each step in the training loss (0 or 1) */
    float *score;    /* [T] 1 where the step counts in the score */
} weft_task_example;

void weft_task_example_free(weft_task_example *e);

typedef struct weft_task_opts {
    int length;          /* adding: sequence length; copy: the delay (default 50, 20) */
    int max_digits;      /* arithmetic: digits of each number, 1..8 (default 8) */
    int distractors;     /* arithmetic: at most this many letters after each character
                            (0: the default, 3; negative: none) */
    int max_len;         /* xml, music, ptb: longest sequence in steps (default 100, 100, 35) */
    int valid_size;      /* generated tasks: validation sequences (default 200) */
    const char *data_dir;    /* where ptb/ and polyphonic_music/ are (music, ptb: required) */
    const char *music_set;   /* jsb, nottingham, musedata, piano (default jsb) */
    int ptb_tokens;      /* ptb: first N tokens of ptb.train (default 100000; valid N/10) */
} weft_task_opts;

typedef struct weft_task {
    char name[16];           /* "arithmetic", ... */
    char desc[160];          /* one line with the settings, for tables */
    weft_task_input input;
    int in_width;            /* vocabulary size (tokens) or floats a step (dense) */
    weft_task_loss loss;
    int out_width;           /* classes (CE), keys (BCE), outputs (MSE) */
    weft_task_metric metric; /* the default score */
    weft_task_opts opts;     /* with the defaults filled in */
    const char *alphabet;    /* character tasks: id k is alphabet[k]; else NULL */
    /* training set: generated (n_train 0) or held */
    int n_train;
    weft_task_example *train;
    int n_valid;
    weft_task_example *valid;
    void *data;              /* the task's own (ptb: the vocabulary) */
} weft_task;

/* The task names, NULL-terminated, for listings and errors. */
extern const char *const weft_task_names[];

/* Make a task (generating its validation set or loading its files). NULL
 * with a message in err naming the task, the file or the setting that was
 * wrong. opts may be NULL (defaults). The caller owns the task. */
weft_task *weft_task_new(const char *name, const weft_task_opts *opts, char *err,
                         size_t errsize);
void weft_task_free(weft_task *t);

/* Whether a higher value of metric m is better (accuracy) or lower (NLL, MSE). */
bool weft_metric_higher_is_better(weft_task_metric m);
const char *weft_metric_name(weft_task_metric m);

/* The next training example: generated from r for generated tasks; for held
 * sets, example k of a shuffled pass drawn through *cursor (the caller keeps
 * perm, an int array of n_train, and *cursor, starting at 0; a new
 * permutation is drawn from r whenever a pass starts). The example is
 * borrowed for held sets (out->T > 0 and nothing to free: *owned = false) and
 * the caller's for generated ones (*owned = true). Returns 0 or -1 (memory). */
int weft_task_next_train(const weft_task *t, weft_rng *r, int *perm, long *cursor,
                         weft_task_example *out, bool *owned);

/* --- the generators (also used by the tests and docs) ------------------------------------- */

/* One arithmetic example as text: "3e36d9-h1h39f94eeh43keg3c=-13991064." Writes at
 * most n bytes including the NUL; returns the length, or -1 when n is too small. */
int weft_task_arith_text(weft_rng *r, int max_digits, int distractors, char *buf, size_t n);
/* One XML example: nested tags, ended by "\n" (truncated to at most max_len
 * characters, cut at a tag boundary). Returns the length or -1. */
int weft_task_xml_text(weft_rng *r, int max_len, char *buf, size_t n);
/* The adding problem: x [T, 2] (value, marker), *y the sum of the two marked
 * values (one in each half). */
void weft_task_adding(weft_rng *r, int T, float *x, float *y);
/* The copy task with delay L: in and out [L + 20]; symbols 1..8, 0 blank,
 * 9 the delimiter. */
void weft_task_copy(weft_rng *r, int L, int *in, int *out);

/* A polyphonic music file (the format of shared/data/README.md): pieces of
 * steps, each step 88 keys (MIDI pitch 21..108). */
typedef struct weft_music {
    int n_pieces;
    int *steps;          /* [n_pieces] */
    uint8_t **roll;      /* roll[p][t * 88 + k] is 1 when key k sounds */
} weft_music;

int weft_music_read(const char *path, weft_music *out, char *err, size_t errsize);
void weft_music_free(weft_music *m);

#ifdef __cplusplus
}
#endif

#endif
