/* fuzz/fuzz_parallel.c — the parallel corpus of seq2seq (weft_s2s_corpus_from_text, what
 * weft_s2s_corpus_read does after reading the two files) on any bytes: the first byte splits
 * the rest into the source and the target text; vocabularies are built from them
 * (weft_seq2seq_vocab) and the pairs encoded. Anything may be refused; every id of a pair
 * that is accepted must be in its vocabulary. */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "weft/seq2seq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t rest = size - 1, k = data[0] % (rest + 1);
    char *src = fuzz_string(data + 1, k), *tgt = fuzz_string(data + 1 + k, rest - k);
    char err[1024];
    weft_tokens st = { 0 }, tt = { 0 };
    weft_vocab *sv = NULL, *tv = NULL;
    if (weft_tokens_from_string(src, k, "src", WEFT_TEXT_WORDS, &st, err, sizeof err) ||
        weft_tokens_from_string(tgt, rest - k, "tgt", WEFT_TEXT_WORDS, &tt, err, sizeof err))
        goto done;
    if (!(sv = weft_seq2seq_vocab(&st, 1, 0, err, sizeof err)) ||
        !(tv = weft_seq2seq_vocab(&tt, 2, 50, err, sizeof err)))   /* with <unk>s */
        goto done;
    weft_s2s_corpus c;
    if (weft_s2s_corpus_from_text(src, tgt, "fuzz", sv, tv, &c, err, sizeof err) == 0) {
        for (int i = 0; i < c.n; i++) {
            if (c.src_len[i] < 1) abort();   /* an empty source is refused */
            for (int t = 0; t < c.src_len[i]; t++)
                if (c.src[i][t] < 0 || c.src[i][t] >= weft_vocab_size(sv)) abort();
            for (int t = 0; t < c.tgt_len[i]; t++)
                if (c.tgt[i][t] < 0 || c.tgt[i][t] >= weft_vocab_size(tv)) abort();
        }
        weft_s2s_corpus_free(&c);
    }
done:
    weft_vocab_free(sv);
    weft_vocab_free(tv);
    weft_tokens_free(&st);
    weft_tokens_free(&tt);
    free(src);
    free(tgt);
    return 0;
}
