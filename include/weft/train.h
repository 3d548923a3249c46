/* weft/train.h — one trainer for every model.
 *
 * A model plugs in through a weft_trainable: a handful of callbacks (make the
 * loss of a batch on a graph, say how many batches an epoch has, score a data
 * set, save the model, save its part of the training state). The trainer owns
 * the rest: epochs or a step budget, the optimiser (weft/optim.h), gradient
 * clipping, the learning-rate schedule (step decay, reduce-on-plateau, cosine,
 * linear warm-up), gradient accumulation over K batches, early stopping on the
 * validation score, keeping the best model (saved atomically), stopping
 * cleanly on Ctrl-C or SIGTERM with the state saved, resuming exactly where a
 * run stopped, stopping a diverging run, progress events, a CSV and a
 * JSON-lines log, and scoring a test set with the best model at the end.
 *
 * Where it sits: models/train/trainer.c. It drives models only through the
 * callbacks below and uses the engine (graph, parameter store, optimisers,
 * checkpoints) underneath, so it is above the engine and beside the models:
 * the task models (models/lm, models/experiments, ...) hand it their
 * trainable, and the command-line program (src/cli) only parses flags, calls
 * it and prints its events. Nothing in src/ or ops/ needs it.
 *
 * The smallest use (examples/train_xor.c has the whole program):
 *
 *     weft_trainable t = { .model = &m, .params = m.params,
 *                          .epoch_begin = my_epoch_begin, .batch_loss = my_batch_loss,
 *                          .evaluate = my_evaluate, .save = my_save };
 *     weft_train_opts o = weft_train_defaults();
 *     o.optim = weft_optim_adam(0.01);
 *     o.epochs = 20;
 *     o.save_path = "model.safetensors";
 *     weft_train_result r;
 *     if (weft_train(&t, &o, &r, err, sizeof err)) fprintf(stderr, "%s\n", err);
 *
 * One training step (an optimiser step) is, with K = opts.accumulate:
 *
 *     zero the gradients
 *     for each of K batches: reset g; loss = batch_loss(...); check it; backward
 *                            (K > 1: the loss weighted by the batch's items)
 *                            batch_end(...)
 *     K > 1: divide the gradients by the items of the K batches
 *     norm = global gradient norm; check it is finite
 *     one step of the optimiser on the gradients clipped to opts.clip
 *
 * so K batches of n items each step exactly as one batch of K·n items would
 * (the loss being a mean over items), up to float rounding.
 *
 * Threads: the trainer runs on the caller's thread and calls the callbacks
 * there; nothing in it is global but the signal flag (see catch_signals)
 * and the thread count: with more than one thread it times its steps and
 * runs with fewer while that is faster (weft_thread_tuner, weft/runtime.h:
 * other processes holding cores; WEFT_ADAPT_THREADS=0 keeps the count),
 * restoring the count at the end. Results do not depend on it.
 *
 * Several processes (opts.comm of N > 1 ranks, weft/distributed.h; `mpirun -np
 * N weft train ... --distributed`): data parallelism. The model's shard
 * callback gives each rank its share of every global batch (the same batch
 * index on every rank); after the backward the step is
 *
 *     sum over ranks of (gradient · items of the rank) / items of all ranks
 *         (one MPI_Allreduce over the store's contiguous gradient buffer)
 *     norm, clip and update on that average: the same on every rank
 *
 * so a step equals the one-process step on the whole batch up to float
 * rounding. Rank 0's weights (and optimiser slots) are broadcast at the
 * start; the batch order comes from the run's stream, the same on every rank
 * (and as one process's); the stream handed to batch_loss (dropout) is
 * derived from the run's stream, the batch number and the rank. Rank 0 alone logs, calls on_event, evaluates
 * (the score is broadcast, so early stopping and the schedule agree), keeps
 * the best weights and writes the model and state files; stopping (a signal,
 * the callback, a time budget: rank 0's clock) is agreed after every step.
 * An error on any rank (a callback's, a write error on rank 0, a failed
 * collective) cannot be returned to the others, which wait in a collective:
 * the trainer writes it to stderr, naming the rank, and ends the job
 * (weft_comm_abort).
 */
#ifndef WEFT_TRAIN_H
#define WEFT_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/distributed.h"
#include "weft/graph.h"
#include "weft/io.h"
#include "weft/optim.h"
#include "weft/params.h"
#include "weft/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- learning-rate schedules ------------------------------------------------------------- */

typedef enum weft_lr_kind {
    WEFT_LR_STEP,       /* lr0 · decay^max(0, epoch - decay_start + 1) (weft_lr_step_decay);
                           decay 1 (the default): constant */
    WEFT_LR_PLATEAU,    /* lr0, multiplied by decay whenever the validation score has not
                           improved for more than plateau_patience epochs (PyTorch's
                           ReduceLROnPlateau, threshold 0), never below min_lr */
    WEFT_LR_COSINE,     /* per step: min_lr + (lr0 - min_lr) · (1 + cos(π t / T)) / 2, t the
                           optimiser steps after the warm-up, T the run's steps after it
                           (Loshchilov & Hutter 2017, one cycle) */
} weft_lr_kind;

typedef struct weft_lr_schedule {
    weft_lr_kind kind;
    double decay;           /* STEP, PLATEAU: the factor (default 1: none) */
    int decay_start;        /* STEP: the first epoch decayed (default 1) */
    int plateau_patience;   /* PLATEAU: epochs without improvement tolerated (default 0) */
    double min_lr;          /* PLATEAU, COSINE: the floor (default 0) */
    long warmup_steps;      /* any kind: over the first W optimiser steps the rate is
                               multiplied by (s + 1) / W, s = 0 .. W-1 (0: no warm-up) */
} weft_lr_schedule;

/* The learning rate of optimiser step `step` (from 0) in epoch `epoch` (from 1)
 * of a run of total_steps steps (COSINE needs it), for a base rate lr0 and the
 * plateau factor lr_scale (1 unless PLATEAU has reduced it): the formulas
 * above. */
double weft_lr_at(const weft_lr_schedule *s, double lr0, double lr_scale, int epoch, long step,
                  long total_steps);

/* --- the model's side -------------------------------------------------------------------- */

/* What batch_loss built. */
typedef struct weft_train_batch {
    weft_var *loss;                 /* a scalar of g: the MEAN loss over the batch's items;
                                       several ranks: NULL with items 0 when none of the
                                       batch is this rank's (a short last batch) */
    double items;                   /* the items it averages over (tokens, examples): the
                                       weight of the batch under accumulation, and the
                                       progress line's speed */
    const weft_grad_rows *rows;     /* optional (NULL): the one parameter whose gradient is zero
                                       outside these rows (weft/optim.h); borrowed until
                                       the next batch_loss. Used when accumulate is 1. */
} weft_train_batch;

/* The data sets a model is scored on. */
typedef enum weft_train_set { WEFT_TRAIN_SET_VALID, WEFT_TRAIN_SET_TEST } weft_train_set;

/* The size of an epoch, as epoch_begin gives it. */
typedef struct weft_train_epoch {
    long batches;                   /* batches in this epoch (>= 1) */
    double items;                   /* items in it (for progress; 0: unknown) */
    double batch_items;             /* items of a full batch (progress on resume; 0: unknown) */
} weft_train_epoch;

typedef struct weft_train_state weft_train_state;
typedef struct weft_train_opts weft_train_opts;

/* A model as the trainer sees it. Every callback gets `model` back and
 * returns 0, or -1 with a message in err (the trainer then stops and reports
 * it, naming the epoch and batch). Optional callbacks may be NULL. */
typedef struct weft_trainable {
    void *model;
    weft_params *params;            /* what the optimiser updates (borrowed) */

    /* Start epoch `epoch` (from 1): say how big it is in *e and prepare its
     * batch order (shuffle with rng, the run's random stream, which the
     * trainer saves and restores for --resume: on a run resumed mid-epoch it
     * hands over the stream as it was when the epoch began, so the same order
     * comes out). first_batch is 0, or on a resumed run the batch the epoch
     * continues from. Required. */
    int (*epoch_begin)(void *model, int epoch, long first_batch, weft_rng *rng,
                       weft_train_epoch *e, char *err, size_t errsize);
    /* Build the loss of batch `index` of the current epoch on g (reset by the
     * trainer), training mode (dropout from rng). Required. */
    int (*batch_loss)(void *model, weft_graph *g, long index, weft_rng *rng, weft_train_batch *b,
                      char *err, size_t errsize);
    /* Run the batch's backward: add the gradient of scale x the batch's loss
     * into params' gradients, as weft_backward(g, loss) does (loss: the node
     * to run it from, batch_loss's times scale). Optional (NULL: that
     * weft_backward); a model that recomputes its forward in segments
     * (checkpoint_every) rebuilds g here. */
    int (*batch_backward)(void *model, weft_graph *g, weft_var *loss, float scale, char *err,
                          size_t errsize);
    /* Keep the state every `every` steps and recompute the rest in backward
     * (opts.checkpoint_every > 0; called once, before the first batch).
     * Optional: without it such a run is refused. */
    int (*set_checkpoint_every)(void *model, int every, char *err, size_t errsize);
    /* After the batch's backward (before the update): carry a recurrent
     * state to the next batch, free what batch_loss made. Optional. */
    int (*batch_end)(void *model, weft_graph *g, char *err, size_t errsize);
    /* Score a data set with the current weights (no dropout), into *score.
     * Optional (no validation); `set` WEFT_TRAIN_SET_TEST only when has_test. */
    int (*evaluate)(void *model, weft_graph *g, weft_train_set set, double *score, char *err,
                    size_t errsize);
    bool higher_is_better;          /* the score's sense: accuracy true, perplexity false */
    bool has_valid, has_test;       /* which sets evaluate can score */
    const char *score_name;         /* for logs and messages ("ppl", "accuracy"; NULL: "score") */

    /* Save the model (its current weights) to path atomically (weft/io.h).
     * Optional: without it no model file is written. */
    int (*save)(void *model, const char *path, char *err, size_t errsize);
    /* Load the weights saved by save back into the model (to score the test set
     * with the best model when the best was saved before a resume). Optional. */
    int (*load)(void *model, const char *path, char *err, size_t errsize);
    /* Save the whole training state to path atomically: the model's weights,
     * the optimiser's state slots of params, what the model carries between
     * batches, and *st and the run's settings *o (weft_train_state_json
     * gives them as JSON). Optional: without it there is no --resume. */
    int (*save_state)(void *model, const char *path, const weft_train_opts *o,
                      const weft_train_state *st, char *err, size_t errsize);

    /* Distributed runs (opts.comm of several ranks). Take rank `rank`'s share
     * of every global batch of `size` ranks (weft_dist_share: a language
     * model's streams, a classifier's examples), so that batch index i on
     * every rank together is the one-process batch i. Called once, before the
     * first epoch_begin. Required for a run over several ranks. */
    int (*shard)(void *model, int rank, int size, char *err, size_t errsize);
    /* Called on every rank before rank 0 calls save_state: bring onto rank 0
     * what the model carries between batches for all ranks (the streams'
     * hidden states), with comm's collectives. Optional. */
    int (*gather_state)(void *model, weft_comm *comm, char *err, size_t errsize);
} weft_trainable;

/* --- where a run is ---------------------------------------------------------------------- */

/* Everything the trainer needs to continue a run exactly; save_state writes
 * it, a loader fills it back, and opts.resume hands it over. */
struct weft_train_state {
    int epoch;                      /* the epoch under way, from 1 */
    long batch;                     /* the next batch of that epoch, from 0 */
    long batches_done;              /* batches trained in all epochs */
    double lr;                      /* the learning rate in use */
    double lr_scale;                /* PLATEAU's factor so far (1) */
    bool has_best;
    double best;                    /* the best validation score (has_best) */
    int best_epoch;                 /* its epoch (0: none) */
    int bad_epochs;                 /* validations since the best (early stopping) */
    int plateau_bad;                /* validations since the last improvement or reduction */
    weft_optim optim;               /* kind, hyper-parameters, lr, step count */
    weft_rng rng;                   /* the run's stream: order, dropout */
    weft_rng epoch_rng;             /* the stream as the epoch under way found it (epoch_begin
                                       draws its order from it again on a resume) */
};

/* The run's state as a JSON object (malloc'd string, the caller frees; NULL
 * when out of memory), and back: every field checked against its range (a
 * message naming the field in err; weft_train_state_check's ranges). */
char *weft_train_state_json(const weft_train_state *st);
int weft_train_state_parse(const char *json, weft_train_state *st, char *err, size_t errsize);
/* Check a state's fields (ranges, a non-zero random stream, a known
 * optimiser): 0, or -1 with a message naming the field. */
int weft_train_state_check(const weft_train_state *st, char *err, size_t errsize);

/* --- the run's settings ---------------------------------------------------------------- */

/* A training state file for a model whose whole state is its parameter store
 * (no recurrent state carried between batches), for save_state: a
 * safetensors file (weft/io.h, saved atomically) with the weights as
 * "model.<name>", the optimiser's state slots in use as "optim.<k>.<name>",
 * the caller's n_meta metadata entries (a model's config, say), the state as
 * "weft.train" (weft_train_state_json) and the run's settings as
 * "weft.train_opts" (weft_train_opts_json). */
int weft_train_save_params_state(const char *path, weft_params *params,
                                 const weft_train_opts *o, const weft_train_state *st,
                                 const weft_meta_kv *meta, int n_meta, char *err,
                                 size_t errsize);
/* Read such a file into params (built by the caller with the same names and
 * shapes, e.g. from the file's metadata: weft_checkpoint_read): the weights and
 * the optimiser's slots, all or nothing; the run's settings into *o (the
 * fields weft_train_opts_json writes; the rest of *o is left alone) and the
 * state into *st, every field checked. 0, or -1 with a message naming the file. */
int weft_train_load_params_state(const char *path, weft_params *params, weft_train_opts *o,
                                 weft_train_state *st, char *err, size_t errsize);
/* The run's settings that a resumed run keeps (optimiser, schedule, clip,
 * accumulation, epochs, max_steps, patience) as JSON (malloc'd), and back
 * (range-checked; fields not written are left alone). */
char *weft_train_opts_json(const weft_train_opts *o);
int weft_train_opts_parse(const char *json, weft_train_opts *o, char *err, size_t errsize);

/* What the trainer tells its caller as it goes. */
typedef enum weft_train_event_kind {
    WEFT_TRAIN_PROGRESS,    /* every report_every batches (or report_seconds) */
    WEFT_TRAIN_EPOCH,       /* an epoch ended: validated, maybe saved */
    WEFT_TRAIN_EVAL,        /* a validation at one of eval_points (step budgets) */
    WEFT_TRAIN_TEST,        /* the test set scored with the best model */
} weft_train_event_kind;

typedef struct weft_train_event {
    weft_train_event_kind kind;
    int epoch, epochs;              /* epochs 0: a step or time budget */
    long batch, batches;            /* batches of this epoch done, and in it */
    double pct;                     /* of the epoch done, 0..100 */
    long steps;                     /* batches trained in all epochs (the log's "window") */
    long optim_steps;               /* optimiser steps taken */
    double items;                   /* items trained since the process started */
    double items_left;              /* items still to train (for an ETA; 0: unknown) */
    double seconds;                 /* since weft_train started */
    double train_seconds;           /* of training alone (evaluation not counted) */
    double epoch_seconds;           /* EPOCH: the epoch's */
    double lr;
    double loss;                    /* PROGRESS: mean batch loss since the last report;
                                       EPOCH: of the epoch's batches (this process) */
    float grad_norm;                /* of the last step, before clipping */
    bool has_score;
    double score;                   /* EPOCH, EVAL: validation; TEST: the test score */
    bool best;                      /* EPOCH, EVAL: the score is the best so far */
    bool saved;                     /* EPOCH: the model was saved */
} weft_train_event;

/* Why a run ended. */
typedef enum weft_train_stop {
    WEFT_TRAIN_FINISHED,            /* the epochs or the budget are done */
    WEFT_TRAIN_EARLY_STOPPED,       /* patience validations without improvement */
    WEFT_TRAIN_INTERRUPTED,         /* SIGINT or SIGTERM (result.signal) */
    WEFT_TRAIN_STOPPED,             /* stop_after batches, or the callback asked */
} weft_train_stop;

struct weft_train_opts {
    weft_optim optim;               /* kind and hyper-parameters; optim.lr is the base rate lr0 */
    weft_lr_schedule schedule;
    float clip;                     /* clip the global gradient norm to this (0: no clip) */
    int accumulate;                 /* batches an optimiser step (K; default 1) */
    int checkpoint_every;           /* > 0: recompute in backward, keeping the state every
                                       this many steps (a model's set_checkpoint_every;
                                       memory for K steps, not a whole batch) */
    int epochs;                     /* epochs to train (0: until max_steps or max_seconds) */
    long max_steps;                 /* optimiser steps (0: no limit) */
    double max_seconds;             /* training seconds, evaluation not counted (0: none) */
    int patience;                   /* stop after this many validations without improvement
                                       (0: never) */
    double max_loss;                /* a batch loss above this stops the run as diverged
                                       (0: no bound; a non-finite loss always stops it) */
    int eval_points;                /* > 0: validate this many times spread over the step or
                                       time budget (and at its end) instead of every epoch */
    bool eval_at_start;             /* eval_points: also validate before the first step */
    long stop_after;                /* stop (as Ctrl-C does) after this many batches of this
                                       process (0: never) */
    weft_rng rng;                   /* the run's random stream (seed it: weft_rng_seed) */

    const char *save_path;          /* the best model (validation score), or the last model
                                       without validation; NULL: none */
    const char *state_path;         /* the training state, after every epoch and on a stop;
                                       NULL: none */
    const weft_train_state *resume; /* continue this state (NULL: a fresh run) */

    const char *log_csv;            /* CSV log (NULL: none); appended to when resuming */
    const char *log_json;           /* JSON-lines log (NULL: none); appended to when resuming */
    bool catch_signals;             /* stop cleanly on SIGINT and SIGTERM while training (the
                                       handlers are put back on return; a second signal kills) */
    long report_every;              /* PROGRESS every N batches (0: a tenth of an epoch) */
    double report_seconds;          /* > 0: PROGRESS every so many seconds instead */

    /* Called with every event; return non-zero to stop the run (as stop_after
     * does). Optional. */
    int (*on_event)(void *user, const weft_train_event *e);
    void *user;

    /* The ranks training together (weft/distributed.h; borrowed). NULL or a
     * communicator of one process: this process alone. */
    weft_comm *comm;
};

/* The defaults: SGD lr 0.1, constant rate, no clip, accumulate 1, 1 epoch,
 * the stream seeded with 1; everything else off. */
weft_train_opts weft_train_defaults(void);

typedef struct weft_train_result {
    weft_train_stop stop;
    int signal;                     /* INTERRUPTED: SIGINT or SIGTERM */
    int epochs_done;                /* epochs finished (in all processes of the run) */
    long steps;                     /* batches trained (all processes) */
    long optim_steps;
    bool has_best;
    double best;                    /* the best validation score */
    int best_epoch;
    bool has_test;
    double test;                    /* the test score of the best model */
    double train_seconds, seconds;  /* this process */
    double comm_seconds;            /* of train_seconds: averaging the gradients
                                       (MPI_Allreduce; 0 on one process) */
    double items;                   /* items trained by this process's run (several ranks:
                                       the global batches', every rank's share) */
    int threads_last;               /* the threads the last step ran with (weft_thread_tuner) */
    int thread_switches;            /* times the tuner changed them */
    weft_train_state state;         /* where the run is now (what state_path holds) */
} weft_train_result;

/* Train. Before the first batch: the save and state paths are checked to be
 * writable (a temporary file beside each is made and removed) and stale
 * temporary files of those targets (PATH.tmp-XXXXXX) left by a killed save are
 * removed. Returns 0 when the run finished, stopped early or was stopped or
 * interrupted (result.stop says which; the state is saved); -1 with a message in
 * err on failure (a callback's error, a non-finite or diverging loss naming the
 * epoch, batch and step, a write error), leaving the last good files as they
 * were. */
int weft_train(const weft_trainable *t, const weft_train_opts *o, weft_train_result *res,
               char *err, size_t errsize);

/* --- helpers for models and programs --------------------------------------------------- */

/* Can path be written atomically (weft/io.h): not empty, not a folder, its
 * folder exists and takes a new file (one is made and removed)? 0, or -1 with
 * a message. */
int weft_train_check_writable(const char *path, char *err, size_t errsize);
/* Remove the temporary files PATH.tmp-XXXXXX a killed save of path left
 * beside it; returns how many were removed. */
int weft_train_remove_stale_temps(const char *path);

/* Check an optimiser read from a file: a known kind, every hyper-parameter
 * finite and in its range, a step count >= 0. 0, or -1 with a message. */
int weft_train_optim_check(const weft_optim *o, char *err, size_t errsize);

/* For a batch_loss callback (the shard callback gave it rank and size): this
 * rank's share of a global batch of n items that starts at item *first, split
 * as weft_dist_share splits (every rank drew the same batch order from the
 * run's stream, so together the shares are the batch). Moves *first to the
 * share's first item and returns its size (one rank: n, *first unchanged).
 * When the share is empty (a short last batch leaves a rank none) it also sets
 * *b to a batch without loss and items, which batch_loss then returns as it is. */
size_t weft_train_rank_share(size_t n, int rank, int size, size_t *first, weft_train_batch *b);

/* A perplexity (or any score) for people: "%.2f" up to 1e6, then "%.3e";
 * "inf" / "nan" as they are. Writes into buf (size n) and returns it. */
const char *weft_train_format_score(double x, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
