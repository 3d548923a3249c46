/* tests/lm_text.h — the text helpers the language-model suites share (cmocka
 * and weft/data.h must be included first): a vocabulary built from a string,
 * and a string encoded with it. Both fail the test, with weft's message, when
 * weft refuses. */
#ifndef WEFT_TESTS_LM_TEXT_H
#define WEFT_TESTS_LM_TEXT_H

#include <string.h>

/* Every token of text (min count 1, no size limit); the caller owns it. */
static inline weft_vocab *test_vocab_of(const char *text, weft_text_level level)
{
    char why[1024];
    weft_tokens t;
    if (weft_tokens_from_string(text, strlen(text), "test", level, &t, why, sizeof why))
        fail_msg("%s", why);
    weft_vocab *v = weft_vocab_build(&t, 1, 0, why, sizeof why);
    weft_tokens_free(&t);
    if (!v) fail_msg("%s", why);
    return v;
}

/* text as ids of v (malloc'd, the caller frees), *n of them. */
static inline int *test_encode(const weft_vocab *v, weft_text_level level, const char *text,
                               size_t *n)
{
    char why[1024];
    int *ids, count;
    if (weft_vocab_encode_text(v, level, text, &ids, &count, why, sizeof why))
        fail_msg("%s", why);
    assert_non_null(ids);
    *n = (size_t)count;
    return ids;
}

#endif
