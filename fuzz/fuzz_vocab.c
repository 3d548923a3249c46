/* fuzz/fuzz_vocab.c — the vocabulary reader ("weft.vocab", a JSON list of
 * tokens) on any bytes, then a prime encoded with it and text written back,
 * at both levels. */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "weft/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte splits the rest: the JSON list, then a prime */
    if (size == 0) return 0;
    size_t rest = size - 1, k = data[0] % (rest + 1);
    char *json = fuzz_string(data + 1, k);
    char *prime = fuzz_string(data + 1 + k, rest - k);
    char err[1024];
    weft_vocab *v = weft_vocab_from_json(json, -1, "fuzz", err, sizeof err);
    if (v) {
        FILE *sink = fopen("/dev/null", "w");
        for (int level = 0; level < 2; level++) {
            int *ids = NULL, n = 0;
            if (weft_vocab_encode_text(v, (weft_text_level)level, prime, &ids, &n, err,
                                       sizeof err) == 0) {
                for (int i = 0; i < n; i++)
                    if (ids[i] < 0 || ids[i] >= weft_vocab_size(v)) abort();
                if (sink) weft_vocab_write_text(v, (weft_text_level)level, ids, n, true, sink);
            }
            free(ids);
        }
        if (sink) fclose(sink);
        weft_vocab_free(v);
    }
    free(json);
    free(prime);
    return 0;
}
