/* fuzz/fuzz_arpa.c — the ARPA n-gram reader (weft_ngram_load) on any bytes;
 * a model that loads scores a few ids. */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "weft/ngram.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    char err[1024];
    (void)weft_ngram_file_is_arpa(path);
    weft_ngram *m = weft_ngram_load(path, err, sizeof err);
    if (m) {
        int V = weft_vocab_size(weft_ngram_vocab(m));
        int ctx[3] = { 0, V > 1 ? 1 : 0, V > 2 ? 2 : 0 };
        for (int w = 0; w < V && w < 4; w++) (void)weft_ngram_logprob(m, ctx, 3, w);
        weft_ngram_free(m);
    }
    return 0;
}
