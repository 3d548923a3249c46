/* fuzz/fuzz_checkpoint.c — the checkpoint loaders on any bytes: the
 * safetensors header, "weft.config", "weft.vocab", the configuration checked
 * against the tensors before anything is built, the tensors' values (both
 * language models, the classifiers, taggers and window classifiers, the
 * encoder-decoder and the generic header reader). Anything may be refused;
 * nothing may crash, leak, hang or allocate without bound. */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "weft/classify.h"
#include "weft/io.h"
#include "weft/lm.h"
#include "weft/seq2seq.h"
#include "weft/window_lm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    char err[1024];
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, sizeof err) == 0) {
        for (int i = 0; i < c.n_tensors; i++)
            if (weft_checkpoint_find(&c, c.tensors[i].name) != &c.tensors[i]) abort();
        weft_checkpoint_free(&c);
    }
    weft_lm *m = weft_lm_load(path, err, sizeof err);
    if (m) {
        /* a model that loads saves and loads again (a model weft wrote always loads) */
        char *conf = weft_lm_config_json(m);
        free(conf);
        weft_lm_free(m);
    }
    weft_window_lm_free(weft_window_lm_load(path, err, sizeof err));
    weft_classify_free(weft_classify_load(path, err, sizeof err));
    weft_seq2seq_free(weft_seq2seq_load(path, err, sizeof err));
    return 0;
}
