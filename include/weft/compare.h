/* weft/compare.h — comparing recurrent cells on a task (weft/tasks.h) at an
 * equal parameter budget: the model, its sizing, training a cell with a step,
 * epoch or time budget, and cells loaded from shared objects.
 *
 * The model for every cell and task is one layer of the cell between the
 * task's input and output layers:
 *
 *     tokens -> embedding [V, E]  or  dense x [T, B, I]
 *            -> the cell, hidden width H, unrolled over the batch (ragged)
 *            -> linear [O, H] + bias [O]
 *            -> CE (softmax over O), BCE (O sigmoids) or MSE, on the steps the
 *               task weights
 *
 * so its parameters are V*E (tokens) + cell(I or E, H) + O*H + O.
 * weft_compare_size solves for the H that brings this closest to a budget.
 */
#ifndef WEFT_COMPARE_H
#define WEFT_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/cell.h"
#include "weft/optim.h"
#include "weft/tasks.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parameters of the model of cell type c on task t with embedding width E
 * (token tasks) and hidden width H; 0 when the cell refuses those sizes. */
size_t weft_compare_numel(const weft_cell_type *c, const weft_task *t, int E, int H);

/* The hidden width H whose model is nearest `budget` parameters. Returns 0
 * and sets *H and *numel when that is within `tolerance` (a fraction: 0.02)
 * of the budget; -1 with a message in err otherwise (the budget is below
 * what the input and output layers alone take, or no H comes close enough). */
int weft_compare_size(const weft_cell_type *c, const weft_task *t, int E, size_t budget,
                      double tolerance, int *H, size_t *numel, char *err, size_t errsize);

typedef struct weft_compare_opts {
    int hidden;              /* H */
    int embed;               /* E, token tasks */
    int batch;               /* sequences a step (default 32) */
    weft_optim optim;        /* default (kind 0, lr 0): Adam, lr 0.005 */
    float clip;              /* global gradient norm clip (default 1; negative: none) */
    long max_steps;          /* stop after this many steps (0: no limit) */
    int epochs;              /* stop after this many passes (held sets) or
                                steps * batch >= epochs * epoch_size (generated) */
    int epoch_size;          /* generated tasks: sequences an epoch (default 10000) */
    double max_seconds;      /* stop after this much training time (0: no limit) */
    int eval_points;         /* validation runs spread over the budget (default 10) */
    uint64_t seed;           /* initialisation and data order */
    weft_task_metric metric; /* the score (default: the task's) */
    bool use_metric;         /* metric above was given */
} weft_compare_opts;

/* One validation run. */
typedef struct weft_compare_point {
    long step;
    double seconds;          /* training time so far (validation not counted) */
    double score;            /* in the chosen metric */
    double nll, accuracy;    /* CE and BCE tasks: both (accuracy only CE); MSE: mse in nll */
} weft_compare_point;

typedef struct weft_compare_result {
    size_t numel;            /* the model's parameters */
    int hidden;
    weft_task_metric metric;
    double best;             /* the best validation score over the points */
    long steps;
    double train_seconds, wall_seconds;
    int n_points;
    weft_compare_point *points;   /* owned: weft_compare_result_free */
} weft_compare_result;

void weft_compare_result_free(weft_compare_result *r);

/* Append a validation to res's curve (score: acc for WEFT_METRIC_ACCURACY,
 * else nll) and keep res->best the best score so far. 0, or -1 when out of
 * memory. */
int weft_compare_add_point(weft_compare_result *res, weft_task_metric metric, long step,
                           double seconds, double nll, double acc);

/* Train one model of cell type c on task t until the first budget is spent
 * (max_steps, epochs or max_seconds; at least one must be set), validating
 * eval_points times along the way and at the end. Returns 0, or -1 with a
 * message in err naming the cell and what failed (a non-finite loss, a bad
 * size). */
int weft_compare_train(const weft_cell_type *c, const weft_task *t,
                       const weft_compare_opts *o, weft_compare_result *res, char *err,
                       size_t errsize);

#ifdef __cplusplus
}
#endif

#endif
