/* models/train/train_json.h — reading and writing the trainer's JSON
 * (models/train/trainer.c), shared with the models that keep training state
 * files of their own format (models/lm/lm.c's "weft.run"). Private to models/.
 *
 * The readers check every value against its range: a double read from a file
 * is never cast to an integer type unchecked. */
#ifndef WEFT_TRAIN_JSON_H
#define WEFT_TRAIN_JSON_H

#include "weft/optim.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The number o[key] in [lo, hi] (whole when integral) into *out; false with a
 * message naming the key ("\"key\" is 1e+30, outside [1, 1e+09]"). */
bool weft_train_json_num(const cJSON *o, const char *key, double lo, double hi, bool integral,
                         double *out, char *err, size_t errsize);
/* The optimiser as the object o[key]: kind, lr, weight_decay, momentum,
 * dampening, nesterov, beta1, beta2, eps, step, in that order. */
void weft_train_json_add_optim(cJSON *o, const char *key, const weft_optim *q);
/* That object back into *q, every field checked (weft_train_optim_check). */
int weft_train_json_optim(const cJSON *op, weft_optim *q, char *err, size_t errsize);

#endif
