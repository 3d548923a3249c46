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
#include "weft/train.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* --- training ------------------------------------------------------------------------ */

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

/* The training text train_t (read from data) and, when valid is not NULL, the
 * validation text valid_t as ids of v: *train and *valid (the caller frees
 * them), *n_train and *n_valid of them. -1 with a message naming the file. */
int weft_cli_encode_texts(const weft_vocab *v, const char *data, const weft_tokens *train_t,
                          int **train, size_t *n_train, const char *valid,
                          const weft_tokens *valid_t, int **valid_ids, size_t *n_valid);

/* The trainer's flags every training command shares (weft/train.h): --schedule,
 * --warmup, --min-lr, --plateau-patience, --patience, --accumulate, --checkpoint-every, --max-loss,
 * --test, --log, --log-json. weft_cli_trainer_flags sets *a to the defaults
 * and writes the WEFT_CLI_TRAINER_FLAGS flags that fill it to flags. */
typedef struct weft_cli_trainer_args {
    const char *schedule, *test, *log, *log_json;
    int warmup, plateau_patience, patience, accumulate, checkpoint_every;
    float min_lr, max_loss;
    bool distributed;
} weft_cli_trainer_args;
#define WEFT_CLI_TRAINER_FLAGS 12
void weft_cli_trainer_flags(weft_cli_trainer_args *a, weft_flag *flags);
/* Those flags into *o (schedule, warm-up, patience, accumulation, logs; the
 * decay and decay start the caller sets); max_loss 0 there becomes
 * max(5 ln V, 10) nats for a vocabulary of V; --distributed starts MPI
 * (weft_cli_comm) and sets o->comm. -1 with a message on a bad --schedule or
 * when MPI cannot start. */
int weft_cli_trainer_opts(const weft_cli_trainer_args *a, int vocab_size, weft_train_opts *o);
/* --distributed: the ranks of this mpirun job, started on first use (MPI_Init)
 * and ended when the program exits; ranks other than 0 send stdout to
 * /dev/null (rank 0 reports). NULL with a message when MPI cannot start. */
weft_comm *weft_cli_comm(void);
/* This process's rank (0 without --distributed): rank 0 prints the set-up. */
int weft_cli_rank(void);
/* Rank 0: the run's speed on stderr, "trained N UNIT in S s (X UNIT/s)", or over
 * several ranks "distributed: ..." with the share of MPI_Allreduce in it. */
void weft_cli_print_speed(const weft_train_opts *o, const weft_train_result *res,
                          const char *unit);

/* The trainer's settings in words, for the start-up line: "sgd lr 20 (x0.5
 * from epoch 5), clip 0.25" and what else is on. */
void weft_cli_describe_training(const weft_train_opts *o, char *buf, size_t n);

/* The progress of `weft train` from the trainer's events (an on_event for
 * weft_train_opts; user is a weft_cli_progress): the updating line on stderr
 * (tty) or a line a tenth of an epoch, the epoch's line on stdout, the test
 * score. */
typedef struct weft_cli_progress {
    bool tty;
    const char *unit;          /* "tok" (speed: unit/s) */
    const char *score;         /* "valid ppl" */
} weft_cli_progress;
int weft_cli_print_event(void *user, const weft_train_event *e);

/* The exit status of a run that weft_train returned 0 for: interrupted (130
 * for SIGINT, 143 for SIGTERM) or stopped (0). */
int weft_cli_stop_status(const weft_train_result *r);

/* Train t with o as `weft train` does: the progress of weft_cli_print_event
 * on stderr and stdout (o's on_event and report settings are set here), a
 * failure as "weft train: DATA: why". Returns weft_train's 0 or -1. */
int weft_cli_train(const weft_trainable *t, weft_train_opts *o, const char *data,
                   weft_train_result *res);
/* The last words of a run that finished or stopped early: the early stop, and
 * with validation "best valid perplexity: X (SAVE)" on stdout. Returns the
 * exit status (1 when no epoch gave a finite validation perplexity). */
int weft_cli_train_summary(const weft_train_result *res, const weft_train_opts *o,
                           bool has_valid, const char *save);

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
    int length, top_k, seed, batch;
    float temperature, top_p;
} weft_cli_sample_args;
#define WEFT_CLI_SAMPLE_FLAGS 8
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
 * generate --tokens tokens, print the prime and them as text (ending with a
 * line end unless the text did). Returns the exit status. */
int weft_cli_sample_text(const weft_cli_sampler *s, const weft_cli_sample_args *a);

#endif
