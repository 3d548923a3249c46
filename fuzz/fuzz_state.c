/* fuzz/fuzz_state.c — the training-state reader (MODEL.state, what --resume
 * reads) on any bytes: the model part as fuzz_checkpoint, then "weft.run",
 * the optimizer's slots and the carried state; and the classifiers' and
 * taggers' state (weft_classify_load_state: "weft.train", "weft.data"). */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "weft/classify.h"
#include "weft/lm.h"
#include "weft/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    char err[1024];
    weft_lm_run run;
    weft_state carry;
    weft_lm *m = weft_lm_load_run(path, &run, &carry, err, sizeof err);
    if (m) {
        weft_state_free(&carry);
        weft_lm_free(m);
    }
    weft_train_opts o = weft_train_defaults();
    weft_train_state st;
    weft_classify_resume info;
    weft_classify_free(weft_classify_load_state(path, &o, &st, &info, err, sizeof err));
    return 0;
}
