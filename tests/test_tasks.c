/* tests/test_tasks.c — the benchmark tasks of weft/tasks.h: known examples
 * for a seed, reproducibility, what every generated example must satisfy
 * (the arithmetic is right, the XML is well nested, the marked numbers add
 * up), which steps are scored, the music and PTB loaders on small files the
 * test writes, and clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "weft/tasks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- arithmetic --------------------------------------------------------------------------- */

static void test_arith_known_examples(void **state)
{
    (void)state;
    weft_rng r;
    char buf[256];
    weft_rng_seed(&r, 1);
    assert_int_equal(weft_task_arith_text(&r, 8, 3, buf, sizeof buf), 45);
    /* -3121 + 66647893 with the letters removed */
    assert_string_equal(buf, "-31e2qcg1mm+yd6ybv6n6pud4jex7q89w3d=66644772.");
    weft_task_arith_text(&r, 8, 3, buf, sizeof buf);
    assert_string_equal(buf, "2t784cx89vu2q-rd-25vgs2=2785144.");
    /* no distractors, at most 2 digits */
    weft_rng_seed(&r, 7);
    weft_task_arith_text(&r, 2, 0, buf, sizeof buf);
    assert_string_equal(buf, "-3+-52=-55.");
    /* too small a buffer is refused, not overrun */
    weft_rng_seed(&r, 1);
    assert_int_equal(weft_task_arith_text(&r, 8, 3, buf, 10), -1);
}

/* Read a signed number from the digits of s (letters skipped), starting at *p. */
static long long read_number(const char *s, int *p)
{
    while (islower((unsigned char)s[*p])) (*p)++;
    bool neg = false;
    if (s[*p] == '-') neg = true, (*p)++;
    long long v = 0;
    int digits = 0;
    for (;;) {
        while (islower((unsigned char)s[*p])) (*p)++;
        if (!isdigit((unsigned char)s[*p])) break;
        v = 10 * v + (s[(*p)++] - '0');
        digits++;
    }
    assert_true(digits >= 1 && digits <= 8);
    return neg ? -v : v;
}

static void test_arith_every_answer_is_right(void **state)
{
    (void)state;
    weft_rng r;
    weft_rng_seed(&r, 42);
    char buf[256];
    for (int k = 0; k < 2000; k++) {
        int n = weft_task_arith_text(&r, 8, 3, buf, sizeof buf);
        assert_true(n > 0 && buf[n - 1] == '.');
        int p = 0;
        long long a = read_number(buf, &p);
        char op = buf[p++];
        assert_true(op == '+' || op == '-');
        long long b = read_number(buf, &p);
        assert_int_equal(buf[p++], '=');
        long long ans = strtoll(buf + p, NULL, 10);
        assert_true(ans == (op == '+' ? a + b : a - b));
        /* at most 3 letters in a row */
        int run = 0;
        for (int j = 0; j < n; j++) {
            run = islower((unsigned char)buf[j]) ? run + 1 : 0;
            assert_true(run <= 3);
        }
    }
}

/* The example of the arithmetic task: inputs "\n" + text shifted, scored on the answer. */
static void test_arith_example_scores_the_answer(void **state)
{
    (void)state;
    char err[256];
    weft_task *t = weft_task_new("arithmetic", &(weft_task_opts){ .valid_size = 5 }, err,
                                 sizeof err);
    assert_non_null(t);
    assert_int_equal(t->n_valid, 5);
    assert_int_equal(t->in_width, 41);
    assert_int_equal(t->metric, WEFT_METRIC_ACCURACY);
    const weft_task_example *e = &t->valid[0];
    assert_int_equal(e->ids[0], 0);                      /* starts after "\n" */
    for (int j = 1; j < e->T; j++) assert_int_equal(e->ids[j], e->target[j - 1]);
    int eq = -1;
    for (int j = 0; j < e->T; j++)
        if (t->alphabet[e->target[j]] == '=') eq = j;
    assert_true(eq > 0);
    for (int j = 0; j < e->T; j++) {
        assert_true(e->score[j] == (j > eq ? 1.0f : 0.0f));
        assert_true(e->train[j] == 1.0f);
    }
    assert_int_equal(t->alphabet[e->target[e->T - 1]], '.');
    /* the validation set does not depend on anything but the settings */
    weft_task *u = weft_task_new("arithmetic", &(weft_task_opts){ .valid_size = 5 }, err,
                                 sizeof err);
    assert_int_equal(u->valid[4].T, t->valid[4].T);
    assert_memory_equal(u->valid[4].target, t->valid[4].target,
                        sizeof(int) * (size_t)t->valid[4].T);
    weft_task_free(u);
    weft_task_free(t);
}

/* --- xml ------------------------------------------------------------------------------------ */

static void test_xml_known_and_well_nested(void **state)
{
    (void)state;
    weft_rng r;
    char buf[512];
    weft_rng_seed(&r, 1);
    weft_task_xml_text(&r, 100, buf, sizeof buf);
    assert_string_equal(buf, "<idgez><rqksvxk></rqksvxk></idgez>\n");
    weft_task_xml_text(&r, 100, buf, sizeof buf);
    assert_string_equal(buf, "<iewq></iewq>\n");

    weft_rng_seed(&r, 5);
    for (int k = 0; k < 500; k++) {
        int n = weft_task_xml_text(&r, 120, buf, sizeof buf);
        assert_true(n >= 2 && n <= 120 && buf[n - 1] == '\n');
        char stack[64][16];
        int depth = 0;
        for (int j = 0; j < n - 1;) {
            assert_int_equal(buf[j], '<');
            bool close = buf[j + 1] == '/';
            int s = j + 1 + close, e = s;
            while (buf[e] != '>') assert_true(islower((unsigned char)buf[e++]));
            int len = e - s;
            assert_true(len >= 2 && len <= 10);
            if (close) {
                assert_true(depth > 0);        /* closes the tag opened last */
                depth--;
                assert_int_equal((int)strlen(stack[depth]), len);
                assert_memory_equal(stack[depth], buf + s, (size_t)len);
            } else {
                assert_true(depth < 64);
                memcpy(stack[depth], buf + s, (size_t)len);
                stack[depth++][len] = '\0';
            }
            j = e + 1;
        }
    }
}

static void test_xml_scores_closing_tags(void **state)
{
    (void)state;
    char err[256];
    weft_task *t = weft_task_new("xml", &(weft_task_opts){ .valid_size = 3 }, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(t->in_width, 30);
    /* the first validation example, written back as text */
    const weft_task_example *e = &t->valid[0];
    char text[256];
    for (int j = 0; j < e->T; j++) text[j] = t->alphabet[e->target[j]];
    text[e->T] = '\0';
    /* scored: exactly the characters after "</" up to and including '>' */
    bool in_close = false;
    int scored = 0;
    for (int j = 0; j < e->T; j++) {
        float want = in_close ? 1.0f : 0.0f;
        assert_true(e->score[j] == want);
        scored += e->score[j] != 0;
        if (text[j] == '>') in_close = false;
        if (j > 0 && text[j - 1] == '<' && text[j] == '/') in_close = true;
    }
    assert_true(scored > 0);
    weft_task_free(t);
}

/* --- adding and copy ------------------------------------------------------------------------ */

static void test_adding(void **state)
{
    (void)state;
    weft_rng r;
    float x[2 * 10], y;
    weft_rng_seed(&r, 1);
    weft_task_adding(&r, 10, x, &y);
    /* markers at steps 1 and 6: 0.248716 + 0.665537 */
    assert_true(x[3] == 1.0f && x[13] == 1.0f);
    assert_float_equal(y, 0.914253f, 1e-5);
    weft_rng_seed(&r, 3);
    float xx[2 * 51];
    for (int k = 0; k < 300; k++) {
        weft_task_adding(&r, 51, xx, &y);
        int first = -1, second = -1, marks = 0;
        for (int t = 0; t < 51; t++) {
            assert_true(xx[2 * t] >= 0.0f && xx[2 * t] < 1.0f);
            if (xx[2 * t + 1] == 1.0f) {
                marks++;
                if (first < 0) first = t;
                else second = t;
            } else {
                assert_true(xx[2 * t + 1] == 0.0f);
            }
        }
        assert_int_equal(marks, 2);
        assert_true(first < 25 && second >= 25);      /* one in each half */
        assert_float_equal(y, xx[2 * first] + xx[2 * second], 1e-6);
    }
    /* the task: MSE at the last step only */
    char err[256];
    weft_task *t = weft_task_new("adding", &(weft_task_opts){ .length = 30, .valid_size = 4 },
                                 err, sizeof err);
    assert_non_null(t);
    assert_int_equal(t->valid[0].T, 30);
    for (int s = 0; s < 30; s++) assert_true(t->valid[0].score[s] == (s == 29 ? 1.0f : 0.0f));
    weft_task_free(t);
}

static void test_copy(void **state)
{
    (void)state;
    weft_rng r;
    int in[25], out[25];
    weft_rng_seed(&r, 1);
    weft_task_copy(&r, 5, in, out);
    const int want_in[25] = { 4, 3, 2, 2, 2, 8, 8, 6, 6, 6, 0, 0, 0, 0, 9,
                              0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    const int want_out[25] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                               4, 3, 2, 2, 2, 8, 8, 6, 6, 6 };
    assert_memory_equal(in, want_in, sizeof in);
    assert_memory_equal(out, want_out, sizeof out);
    char err[256];
    weft_task *t = weft_task_new("copy", &(weft_task_opts){ .length = 5, .valid_size = 2 }, err,
                                 sizeof err);
    assert_non_null(t);
    assert_int_equal(t->valid[0].T, 25);
    for (int s = 0; s < 25; s++) assert_true(t->valid[0].score[s] == (s >= 15 ? 1.0f : 0.0f));
    weft_task_free(t);
}

/* --- files: music and ptb -------------------------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-tasks-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    char p[128];
    snprintf(p, sizeof p, "%s/polyphonic_music", tmpdir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/ptb", tmpdir);
    mkdir(p, 0777);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_music_reader_and_task(void **state)
{
    (void)state;
    /* two pieces; the second has a rest (an empty line) */
    write_file("polyphonic_music/jsb_chorales.train.txt",
               "piece 0 3\n60 64 67\n21\n108\npiece 1 2\n\n62\n");
    write_file("polyphonic_music/jsb_chorales.valid.txt", "piece 0 2\n60\n61\n");
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/polyphonic_music/jsb_chorales.train.txt", tmpdir);
    weft_music m;
    assert_int_equal(weft_music_read(path, &m, err, sizeof err), 0);
    assert_int_equal(m.n_pieces, 2);
    assert_int_equal(m.steps[0], 3);
    assert_int_equal(m.roll[0][60 - 21], 1);
    assert_int_equal(m.roll[0][64 - 21], 1);
    assert_int_equal(m.roll[0][61 - 21], 0);
    assert_int_equal(m.roll[0][88 + 0], 1);         /* pitch 21 is key 0 */
    assert_int_equal(m.roll[0][2 * 88 + 87], 1);    /* pitch 108 is key 87 */
    int sum = 0;
    for (int k = 0; k < 88; k++) sum += m.roll[1][k];
    assert_int_equal(sum, 0);                       /* the rest */
    weft_music_free(&m);

    weft_task *t = weft_task_new("music", &(weft_task_opts){ .data_dir = tmpdir,
                                                            .music_set = "jsb", .max_len = 100 },
                                 err, sizeof err);
    assert_non_null(t);
    assert_int_equal(t->in_width, 88);
    assert_int_equal(t->loss, WEFT_TASK_BCE);
    assert_int_equal(t->n_train, 2);                /* pieces of 3 and 2 steps: 2 and 1 steps */
    assert_int_equal(t->train[0].T, 2);
    assert_int_equal(t->train[1].T, 1);
    /* input step 0 of piece 0, target its step 1 */
    assert_true(t->train[0].x[60 - 21] == 1.0f && t->train[0].y[0] == 1.0f);
    assert_true(t->train[0].y[60 - 21] == 0.0f);
    assert_int_equal(t->n_valid, 1);
    weft_task_free(t);

    /* windows: a piece of 3 steps with max_len 1 makes two examples of one step */
    t = weft_task_new("music", &(weft_task_opts){ .data_dir = tmpdir, .max_len = 1 }, err,
                      sizeof err);
    assert_non_null(t);
    assert_int_equal(t->n_train, 3);
    weft_task_free(t);

    /* bad files */
    write_file("bad1.txt", "piece 0 2\n60\n");
    snprintf(path, sizeof path, "%s/bad1.txt", tmpdir);
    assert_int_equal(weft_music_read(path, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "ends after 1 of its 2 steps"));
    write_file("bad2.txt", "piece 0 1\n60 120\n");
    snprintf(path, sizeof path, "%s/bad2.txt", tmpdir);
    assert_int_equal(weft_music_read(path, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "pitch 120 is outside the 88 keys"));
    write_file("bad3.txt", "60 64\n");
    snprintf(path, sizeof path, "%s/bad3.txt", tmpdir);
    assert_int_equal(weft_music_read(path, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected a header"));
    assert_null(weft_task_new("music", &(weft_task_opts){ .data_dir = tmpdir,
                                                         .music_set = "mozart" }, err, sizeof err));
    assert_non_null(strstr(err, "unknown set 'mozart'"));
    assert_null(weft_task_new("music", &(weft_task_opts){ .data_dir = tmpdir,
                                                         .music_set = "piano" }, err, sizeof err));
    assert_non_null(strstr(err, "piano_midi.train.txt"));
}

static void test_ptb_subset(void **state)
{
    (void)state;
    write_file("ptb/ptb.train.txt", " a b c <unk>\n b c a\n a a d\n");
    write_file("ptb/ptb.valid.txt", " a z\n");
    char err[256];
    /* the first 6 tokens: a b c <unk> <eos> b; valid: 10/10 = 1 token -> at least 2 */
    weft_task *t = weft_task_new("ptb", &(weft_task_opts){ .data_dir = tmpdir, .ptb_tokens = 6,
                                                          .max_len = 2 }, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(t->in_width, 5);           /* a b c <unk> <eos>: d is beyond the subset */
    /* 6 tokens -> 5 predictions in windows of 2: 3 examples */
    assert_int_equal(t->n_train, 3);
    assert_int_equal(t->train[0].T, 2);
    assert_int_equal(t->train[2].T, 1);
    assert_int_equal(t->train[0].target[0], t->train[0].ids[1]);
    assert_int_equal(t->train[1].ids[0], t->train[0].target[1]);
    /* valid "a z": z is not in the vocabulary, so it is <unk> */
    assert_int_equal(t->n_valid, 1);
    assert_int_equal(t->valid[0].target[0], 3);
    weft_task_free(t);
}

/* --- held sets: every example once a pass ---------------------------------------------------- */

static void test_next_train_passes(void **state)
{
    (void)state;
    write_file("ptb/ptb.train.txt", " a b c d e f g h i j k l m n o p q r s t u v\n");
    write_file("ptb/ptb.valid.txt", " a b\n");
    char err[256];
    weft_task *t = weft_task_new("ptb", &(weft_task_opts){ .data_dir = tmpdir, .max_len = 3 },
                                 err, sizeof err);
    assert_non_null(t);
    int n = t->n_train;
    assert_true(n >= 5);
    int perm[64], seen[64] = { 0 };
    long cursor = 0;
    weft_rng r;
    weft_rng_seed(&r, 9);
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < n; k++) {
            weft_task_example e;
            bool owned;
            assert_int_equal(weft_task_next_train(t, &r, perm, &cursor, &e, &owned), 0);
            assert_false(owned);
            for (int j = 0; j < n; j++)
                if (t->train[j].ids == e.ids) seen[j]++;
        }
    for (int j = 0; j < n; j++) assert_int_equal(seen[j], 2);
    weft_task_free(t);
}

static void test_errors(void **state)
{
    (void)state;
    char err[256];
    assert_null(weft_task_new("sorting", NULL, err, sizeof err));
    assert_non_null(strstr(err, "unknown task 'sorting'"));
    assert_non_null(strstr(err, "arithmetic xml music ptb adding copy"));
    assert_null(weft_task_new("ptb", &(weft_task_opts){ .data_dir = "/nonexistent" }, err,
                              sizeof err));
    assert_non_null(strstr(err, "/nonexistent/ptb/ptb.train.txt"));
    assert_null(weft_task_new("adding", &(weft_task_opts){ .length = 200000 }, err, sizeof err));
    assert_non_null(strstr(err, "--length"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arith_known_examples),
        cmocka_unit_test(test_arith_every_answer_is_right),
        cmocka_unit_test(test_arith_example_scores_the_answer),
        cmocka_unit_test(test_xml_known_and_well_nested),
        cmocka_unit_test(test_xml_scores_closing_tags),
        cmocka_unit_test(test_adding),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_music_reader_and_task),
        cmocka_unit_test(test_ptb_subset),
        cmocka_unit_test(test_next_train_passes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
