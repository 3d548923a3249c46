/* fuzz/fuzz_labeled.c — the labelled-data reader (weft_labeled_read) on any
 * bytes, in every format: CoNLL-U (the field to predict chosen by the first
 * byte), BIO tagging, the sentence-classification format and plain sentences. */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "weft/labeled.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    int column = 1 + data[0] % 10;
    const char *path = fuzz_file(data + 1, size - 1);
    char err[1024];
    const weft_labeled_format formats[] = { WEFT_FORMAT_CONLLU, WEFT_FORMAT_BIO,
                                            WEFT_FORMAT_CLASSIFY, WEFT_FORMAT_TEXT };
    for (size_t f = 0; f < sizeof formats / sizeof *formats; f++) {
        weft_labeled_data d;
        if (weft_labeled_read(path, formats[f], column, &d, err, sizeof err) == 0)
            weft_labeled_free(&d);
    }
    return 0;
}
