/* models/lm/lm_common.h — what the two language models (models/lm/lm.c,
 * models/lm/window_lm.c) share: one training step after the forward, and
 * reading the "weft.config" metadata they write into their checkpoints.
 * Private to models/. */
#ifndef WEFT_LM_COMMON_H
#define WEFT_LM_COMMON_H

#include "weft/data.h"
#include "weft/graph.h"
#include "weft/io.h"
#include "weft/lm.h"
#include "weft/optim.h"
#include "weft/params.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The rest of a training step once loss (a scalar of g) is built: check it
 * is finite, backward, clip the global gradient norm of params to clip (when
 * > 0), one step of opt, in two passes over the store (weft_clip_step; the
 * gradients are left unscaled). Fills *info (loss and norm before clipping).
 * Returns 0; -1 with a message in err when the loss or the gradient norm is
 * not finite or backward or the optimizer fails (no update is made then). */
int weft_lm_step(weft_graph *g, weft_var *loss, weft_params *params, weft_optim *opt,
                 float clip, weft_lm_step_info *info, char *err, size_t errsize);
/* The same, told by rows (or NULL) which one parameter's gradient is zero
 * outside the rows listed (weft_grad_rows): the passes skip the rest. */
int weft_lm_step_rows(weft_graph *g, weft_var *loss, weft_params *params, weft_optim *opt,
                      float clip, const weft_grad_rows *rows, weft_lm_step_info *info,
                      char *err, size_t errsize);

/* ln softmax(row[0..V))[target] in double, the log-sum-exp taken about the
 * row's maximum: one token's log-probability from its logits. */
double weft_lm_row_logprob(const float *row, int V, int target);

/* The distinct ids of inputs[0..n), ascending, in a new array (*count of
 * them; the caller frees), or NULL when out of memory. */
int *weft_lm_window_rows(const int *inputs, int n, int V, int *count);

/* --- the "weft.config" metadata ----------------------------------------------------
 *
 * Every function reads one key of the parsed config object o and, when it is
 * wrong, writes a message that starts with the checkpoint's path and
 * "weft.config" into err and returns -1. */

/* The task the config names, or NULL (borrowed from o). */
const char *weft_lm_meta_task(const cJSON *o);
/* The opening every loader shares: checkpoint c (read from path) must carry
 * "weft.config" and "weft.vocab", the config must be a JSON object whose task
 * is `task`. Returns the parsed config (the caller owns it: cJSON_Delete) and
 * sets *vocab to the vocabulary's JSON text (borrowed from c); NULL with a
 * message otherwise. missing_hint and task_hint end the two messages a user
 * most needs help with ("" for none). */
cJSON *weft_lm_meta_open(const weft_checkpoint *c, const char *path, const char *task,
                         const char *missing_hint, const char *task_hint, const char **vocab,
                         char *err, size_t errsize);
/* A whole number >= 1 (up to 1e9), which must be there. */
int weft_lm_meta_int(const cJSON *o, const char *key, int *out, const char *path, char *err,
                     size_t errsize);
/* "level": "word" or "char", which must be there. */
int weft_lm_meta_level(const cJSON *o, weft_text_level *out, const char *path, char *err,
                       size_t errsize);
/* true or false; absent: false. */
int weft_lm_meta_bool(const cJSON *o, const char *key, bool *out, const char *path, char *err,
                      size_t errsize);
/* A number; absent: 0. */
int weft_lm_meta_float(const cJSON *o, const char *key, float *out, const char *path, char *err,
                       size_t errsize);
/* The vocabulary in the JSON `vocab` (the "weft.vocab" metadata), checked
 * against the config's "vocab_size" when it has one. A new vocabulary the
 * caller owns, or NULL with a message. */
weft_vocab *weft_lm_meta_vocab(const cJSON *o, const char *vocab, const char *path, char *err,
                               size_t errsize);
/* Before building a model from a checkpoint's configuration: does c hold the
 * tensor `name`, F32 of shape[0..rank)? 0 when it does; 1 when it is absent
 * and not required; -1 with a message naming the file, the tensor, the shape
 * the configuration implies and what the file holds. Allocates nothing: the
 * configuration's sizes are checked against what the file actually holds
 * before anything of their size is allocated. */
int weft_lm_meta_tensor(const weft_checkpoint *c, const char *path, const char *name, int rank,
                        const int *shape, bool required, char *err, size_t errsize);

/* Put "PATH: weft.config: " in front of the message in err (one a model's
 * constructor wrote about the configuration the file holds). */
void weft_lm_meta_prefix(const char *path, char *err, size_t errsize);

#endif
