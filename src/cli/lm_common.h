/* src/cli/lm_common.h — what the language-model commands share: `weft train`
 * (cmd_train.c), `weft eval` (cmd_eval.c), `weft sample` (cmd_sample.c) and
 * their fixed-window versions (cmd_window_lm.c). Private to src/cli/.
 *
 * Functions that can fail print a message to stderr that starts with the
 * command ("weft train: ...") and return -1 (or NULL). */
#ifndef WEFT_CLI_LM_COMMON_H
#define WEFT_CLI_LM_COMMON_H

#include "src/cli/cli.h"

#include "weft/data.h"
#include "weft/lm.h"
#include "weft/optim.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* --- training ------------------------------------------------------------------------ */

/* Set by Ctrl-C once weft_cli_catch_sigint has run; training loops check it
 * between steps. A second Ctrl-C kills the process. */
extern volatile sig_atomic_t weft_cli_interrupted;
void weft_cli_catch_sigint(void);

/* Seconds on a monotonic clock. */
double weft_cli_now(void);

/* The flags of the texts a model trains on, written to flags: --data,
 * --valid, --level, --min-count, --max-vocab, each filling the variable given
 * (whose value is the default). */
#define WEFT_CLI_TEXT_FLAGS 5
void weft_cli_text_flags(weft_flag *flags, const char **data, const char **valid,
                         const char **level, int *min_count, int *max_vocab);

/* --level (word or char) into *level, and --data, which must be given. */
int weft_cli_train_text(const char *level_name, const char *data, weft_text_level *level);

/* The optimizer --optim names (sgd, adam or adamw) with learning rate lr. */
int weft_cli_optim(const char *name, float lr, weft_optim *out);

/* Read the training text (and the validation text, when valid is not NULL)
 * into *train and *valid_t (the caller frees both with weft_tokens_free,
 * also on failure) and build the vocabulary from the training text
 * (weft_vocab_build with min_count and max_vocab), adding the validation
 * text's new tokens unless a cut-off made an "<unk>" for them (PyTorch's
 * word_language_model builds its dictionary over every split). The caller
 * owns the vocabulary (weft_vocab_free). */
weft_vocab *weft_cli_train_vocab(const char *data, const char *valid, weft_text_level level,
                                 int min_count, int max_vocab, weft_tokens *train,
                                 weft_tokens *valid_t);

/* The CSV log of --log FILE: opened for writing (or appending, when resuming)
 * with the header line written when the file is new. NULL for no path, or
 * (with a message) when it cannot be written. */
FILE *weft_cli_open_log(const char *path, bool append);

/* Where a training run is, for its progress lines. */
typedef struct weft_cli_report {
    int epoch, epochs;
    long steps;          /* windows or batches trained so far (the log's "window") */
    size_t tokens;       /* tokens trained since the process started */
    double seconds;      /* since the process started */
    double lr;
    double loss;         /* mean training loss since the last report, or of the epoch */
    float grad_norm;     /* of the last step */
} weft_cli_report;

/* The progress line on stderr (overwritten in place on a terminal): how much
 * of the epoch is done (pct), speed, loss, perplexity, learning rate,
 * gradient norm and the time left for `left` more tokens; a row of the log
 * (when not NULL). */
void weft_cli_report_progress(const weft_cli_report *r, double pct, double left, bool tty,
                              FILE *log);
/* The line at the end of an epoch on stdout (the epoch took epoch_seconds;
 * valid_ppl is NaN without validation; saved: the model was saved) and its
 * row of the log. */
void weft_cli_report_epoch(const weft_cli_report *r, double valid_ppl, bool has_valid,
                           double epoch_seconds, bool saved, FILE *log);

/* --- evaluation and sampling --------------------------------------------------------------- */

/* The lines of `weft eval` after the model's: the text (n tokens, ids in the
 * vocabulary v), the count scored in secs, cross-entropy and, last,
 * "perplexity: X" from the summed nll over count tokens. */
void weft_cli_print_eval(const char *data, const int *ids, size_t n, const weft_vocab *v,
                         size_t count, double secs, double nll);

/* The options of `weft sample`: sets *o to the defaults and writes the
 * WEFT_CLI_SAMPLE_FLAGS flags that fill it to flags. */
typedef struct weft_cli_sample_args {
    const char *model, *prime;
    int length, top_k, seed;
    float temperature;
} weft_cli_sample_args;
#define WEFT_CLI_SAMPLE_FLAGS 6
void weft_cli_sample_flags(weft_cli_sample_args *o, weft_flag *flags);

/* A neural language model as `weft sample` sees it: its vocabulary and two
 * calls, turning the prime into ids (weft_lm_encode_text or the window
 * model's) and generating (weft_lm_sample or the window model's). The model
 * is borrowed. */
typedef struct weft_cli_sampler {
    void *model;
    const weft_vocab *vocab;
    weft_text_level level;
    int (*encode)(const void *model, const char *text, int **ids, int *n, char *err,
                  size_t errsize);
    int (*sample)(void *model, weft_graph *g, const weft_lm_sample_opts *o, int *out, char *err,
                  size_t errsize);
} weft_cli_sampler;

/* The body of `weft sample` once the model is loaded: encode --prime,
 * generate --length tokens, print the prime and them as text (ending with a
 * line end unless the text did). Returns the exit status. */
int weft_cli_sample_text(const weft_cli_sampler *s, const weft_cli_sample_args *a);

#endif
