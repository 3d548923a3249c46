/* fuzz/fuzz_text.c — the text reader (weft_tokens_read: words and
 * characters) and the vocabulary built from it, on any bytes. Property: text
 * that is accepted gives a vocabulary whose saved form ("weft.vocab") reads
 * back to the same tokens (a model trained on it always loads), and every
 * token encodes to an id. */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "weft/data.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    char err[1024];
    for (int level = 0; level < 2; level++) {
        weft_tokens t;
        if (weft_tokens_read(path, (weft_text_level)level, &t, err, sizeof err)) continue;
        weft_vocab *v = weft_vocab_build(&t, 1, 0, err, sizeof err);
        if (!v) abort();
        int *ids = weft_tokens_encode(&t, v, err, sizeof err);
        if (!ids) abort();
        free(ids);
        char *json = weft_vocab_to_json(v);
        if (!json) abort();
        weft_vocab *back = weft_vocab_from_json(json, weft_vocab_size(v), "fuzz", err, sizeof err);
        if (!back) {
            fprintf(stderr, "a vocabulary weft built does not read back: %s\n", err);
            abort();
        }
        for (int i = 0; i < weft_vocab_size(v); i++)
            if (strcmp(weft_vocab_token(v, i), weft_vocab_token(back, i)) != 0) abort();
        weft_vocab_free(back);
        free(json);
        weft_vocab_free(v);
        weft_tokens_free(&t);
    }
    return 0;
}
