/* fuzz/fuzz_vectors.c — the word-vector reader (word2vec's text and binary
 * formats, weft_vectors_read) on any bytes. */
#define _GNU_SOURCE
#include "fuzz/fuzz_file.h"

#include "weft/vectors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    char err[1024];
    const weft_vectors_format formats[] = { WEFT_VECTORS_AUTO, WEFT_VECTORS_TEXT,
                                            WEFT_VECTORS_BINARY };
    for (size_t f = 0; f < sizeof formats / sizeof *formats; f++)
        weft_vectors_free(weft_vectors_read(path, formats[f], err, sizeof err));
    return 0;
}
