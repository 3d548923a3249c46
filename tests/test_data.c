/* tests/test_data.c — token streams, vocabularies, batchify and windows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "weft/data.h"

static char err[512];

static void tokens_of(const char *text, weft_text_level level, weft_tokens *t)
{
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "test", level, t, err,
                                             sizeof err), 0);
}

static void assert_token(const weft_tokens *t, size_t k, const char *want)
{
    uint32_t len;
    const char *tok = weft_token(t, k, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(tok, want, len);
}

static void words_get_eos_at_every_line_end(void **state)
{
    (void)state;
    weft_tokens t;
    tokens_of(" the cat \n\n sat  on\tthe mat", WEFT_TEXT_WORDS, &t);
    const char *want[] = { "the", "cat", "<eos>", "<eos>", "sat", "on", "the", "mat", "<eos>" };
    assert_int_equal(t.count, 9);
    for (size_t k = 0; k < 9; k++) assert_token(&t, k, want[k]);
    weft_tokens_free(&t);
}

static void chars_are_code_points(void **state)
{
    (void)state;
    weft_tokens t;
    tokens_of("é a\n€", WEFT_TEXT_CHARS, &t);   /* é is 2 bytes, € is 3 */
    const char *want[] = { "é", " ", "a", "\n", "€" };
    assert_int_equal(t.count, 5);
    for (size_t k = 0; k < 5; k++) assert_token(&t, k, want[k]);
    weft_tokens_free(&t);
}

static void bad_text_is_a_clear_error(void **state)
{
    (void)state;
    weft_tokens t;
    const char bad[] = "ok\nok \xC3\x28 no";   /* a broken two-byte sequence on line 2 */
    assert_int_equal(weft_tokens_from_string(bad, strlen(bad), "bad.txt", WEFT_TEXT_CHARS, &t,
                                             err, sizeof err), -1);
    assert_non_null(strstr(err, "bad.txt: line 2: invalid UTF-8 at byte 6"));
    assert_int_equal(weft_tokens_from_string("", 0, "empty.txt", WEFT_TEXT_WORDS, &t, err,
                                             sizeof err), -1);
    assert_non_null(strstr(err, "empty.txt: the file is empty"));
    assert_int_equal(weft_tokens_from_string(" \t ", 3, "blank.txt", WEFT_TEXT_WORDS, &t, err,
                                             sizeof err), 0);   /* one line: one <eos> */
    weft_tokens_free(&t);
    assert_int_equal(weft_tokens_read("/no/such/file.txt", WEFT_TEXT_WORDS, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "/no/such/file.txt: cannot open"));
}

/* A text of about 2.5 MB: words of 1..7 letters, a line every 13 words. */
static char *big_text(size_t *len)
{
    size_t cap = 2600000, n = 0;
    char *s = malloc(cap + 16);
    assert_non_null(s);
    for (unsigned k = 1; n < cap; k++) {
        unsigned w = (k * 2654435761u) >> 20;
        for (unsigned c = 0; c <= w % 7; c++) s[n++] = (char)('a' + (w >> (c * 3)) % 26);
        s[n++] = k % 13 ? ' ' : '\n';
    }
    s[n] = '\0';
    *len = n;
    return s;
}

static void assert_same_tokens(const weft_tokens *a, const weft_tokens *b)
{
    assert_int_equal(a->count, b->count);
    for (size_t k = 0; k < a->count; k++) {
        uint32_t la, lb;
        const char *ta = weft_token(a, k, &la), *tb = weft_token(b, k, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(ta, tb, la);
    }
}

/* A file is read into one buffer of its size; a pipe (whose size cannot be
 * told) into a buffer that grows. Both give the tokens of the same text
 * split in memory. */
static void read_a_large_file_and_a_pipe(void **state)
{
    (void)state;
    size_t len;
    char *text = big_text(&len);
    weft_tokens want, got;
    tokens_of(text, WEFT_TEXT_WORDS, &want);
    assert_true(want.count > 500000);

    char path[] = "/tmp/weft-data-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    assert_int_equal(weft_tokens_read(path, WEFT_TEXT_WORDS, &got, err, sizeof err), 0);
    assert_int_equal(got.text_len, len);
    assert_same_tokens(&want, &got);
    weft_tokens_free(&got);
    unlink(path);

    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {   /* the writer */
        close(p[0]);
        for (size_t done = 0; done < len;) {
            ssize_t n = write(p[1], text + done, len - done);
            if (n <= 0) _exit(1);
            done += (size_t)n;
        }
        _exit(0);
    }
    close(p[1]);
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", p[0]);
    int rc = weft_tokens_read(fdpath, WEFT_TEXT_WORDS, &got, err, sizeof err);
    close(p[0]);
    int status;
    waitpid(child, &status, 0);
    assert_int_equal(rc, 0);
    assert_int_equal(got.text_len, len);
    assert_same_tokens(&want, &got);
    weft_tokens_free(&got);
    weft_tokens_free(&want);
    free(text);
}

static void read_from_a_file(void **state)
{
    (void)state;
    char path[] = "/tmp/weft-data-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "a b\nc\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    weft_tokens t;
    assert_int_equal(weft_tokens_read(path, WEFT_TEXT_WORDS, &t, err, sizeof err), 0);
    assert_int_equal(t.count, 5);
    assert_token(&t, 4, "<eos>");
    weft_tokens_free(&t);
    unlink(path);
}

static void vocabulary_in_first_occurrence_order(void **state)
{
    (void)state;
    weft_tokens t;
    tokens_of("b a b c\na", WEFT_TEXT_WORDS, &t);
    weft_vocab *v = weft_vocab_build(&t, 1, 0, err, sizeof err);
    assert_non_null(v);
    const char *want[] = { "b", "a", "c", "<eos>" };
    assert_int_equal(weft_vocab_size(v), 4);
    for (int id = 0; id < 4; id++) assert_string_equal(weft_vocab_token(v, id), want[id]);
    assert_int_equal(weft_vocab_unk(v), -1);
    int *ids = weft_tokens_encode(&t, v, err, sizeof err);
    int want_ids[] = { 0, 1, 0, 2, 3, 1, 3 };
    assert_memory_equal(ids, want_ids, sizeof want_ids);
    free(ids);
    weft_vocab_free(v);
    weft_tokens_free(&t);
}

static void vocabulary_limits_add_unk(void **state)
{
    (void)state;
    weft_tokens t;
    /* counts: x 4, y 3, z 1, <eos> 2 */
    tokens_of("x y x z\nx y y x", WEFT_TEXT_WORDS, &t);
    weft_vocab *v = weft_vocab_build(&t, 2, 0, err, sizeof err);
    assert_int_equal(weft_vocab_size(v), 4);   /* <unk> x y <eos> */
    assert_int_equal(weft_vocab_unk(v), 0);
    assert_int_equal(weft_vocab_find(v, "z", 1), -1);
    int *ids = weft_tokens_encode(&t, v, err, sizeof err);
    assert_int_equal(ids[3], 0);   /* z -> <unk> */
    free(ids);
    weft_vocab_free(v);
    v = weft_vocab_build(&t, 1, 3, err, sizeof err);   /* <unk> and the 2 most frequent */
    assert_int_equal(weft_vocab_size(v), 3);
    assert_string_equal(weft_vocab_token(v, 1), "x");
    assert_string_equal(weft_vocab_token(v, 2), "y");
    weft_vocab_free(v);
    weft_tokens_free(&t);
}

static void encoding_without_unk_names_the_token(void **state)
{
    (void)state;
    weft_tokens a, b;
    tokens_of("a b", WEFT_TEXT_WORDS, &a);
    tokens_of("a q", WEFT_TEXT_WORDS, &b);
    weft_vocab *v = weft_vocab_build(&a, 1, 0, err, sizeof err);
    assert_null(weft_tokens_encode(&b, v, err, sizeof err));
    assert_non_null(strstr(err, "token 1 'q' is not in the vocabulary"));
    weft_vocab_free(v);
    weft_tokens_free(&a);
    weft_tokens_free(&b);
}

static void batchify_lays_streams_time_major(void **state)
{
    (void)state;
    int ids[11];
    for (int i = 0; i < 11; i++) ids[i] = i;
    weft_batches b;
    assert_int_equal(weft_batchify(ids, 11, 3, &b, err, sizeof err), 0);
    /* 3 streams of 3 ([0 1 2] [3 4 5] [6 7 8]); 9 and 10 dropped */
    assert_int_equal(b.steps, 3);
    int want[] = { 0, 3, 6, 1, 4, 7, 2, 5, 8 };
    assert_memory_equal(b.data, want, sizeof want);

    const int *in, *tg;
    assert_int_equal(weft_batches_window(&b, 0, 5, &in, &tg), 2);   /* cut at steps - 1 */
    assert_int_equal(in[0], 0);
    assert_int_equal(tg[0], 1);   /* the next token of stream 0 */
    assert_int_equal(tg[5], 8);
    assert_int_equal(weft_batches_window(&b, 1, 1, &in, &tg), 1);
    assert_int_equal(in[2], 7);
    assert_int_equal(tg[2], 8);
    assert_int_equal(weft_batches_window(&b, 2, 1, &in, &tg), 0);
    weft_batches_free(&b);

    assert_int_equal(weft_batchify(ids, 5, 3, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "fewer than 2 steps"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_get_eos_at_every_line_end),
        cmocka_unit_test(chars_are_code_points),
        cmocka_unit_test(bad_text_is_a_clear_error),
        cmocka_unit_test(read_from_a_file),
        cmocka_unit_test(read_a_large_file_and_a_pipe),
        cmocka_unit_test(vocabulary_in_first_occurrence_order),
        cmocka_unit_test(vocabulary_limits_add_unk),
        cmocka_unit_test(encoding_without_unk_names_the_token),
        cmocka_unit_test(batchify_lays_streams_time_major),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
