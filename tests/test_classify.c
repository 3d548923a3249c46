/* tests/test_classify.c — labelled data (the three formats, CoNLL-U written
 * back, bad files), length buckets, confusion and conlleval scores, and the
 * classifier, tagger and window models: padding changes nothing, pooling
 * over real steps, the character encoder's gradient, checkpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "weft/weft.h"
#include "rel_diff.h"

static char err[1024];

static void read_text(const char *text, weft_labeled_format f, int column, weft_labeled_data *d)
{
    int rc = weft_labeled_from_string(text, strlen(text), "mem", f, column, d, err, sizeof err);
    if (rc) print_error("%s\n", err);
    assert_int_equal(rc, 0);
}

/* --- data ----------------------------------------------------------------------------------- */

static const char CONLLU[] =
    "# newdoc id = d1\n"
    "# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\tCase=Nom\t3\tnsubj\t3:nsubj\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t4:aux\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t4:advmod\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t0\troot\t0:root\tSpaceAfter=No\n"
    "4.1\tknows\tknow\tVERB\tVBZ\t_\t_\t_\t0:root\t_\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_\n"
    "\n"
    "# text = Go 2024\n"
    "1\tGo\tgo\tVERB\tVB\t_\t0\troot\t0:root\t_\n"
    "2\t2024\t2024\tNUM\tCD\t_\t1\tobj\t1:obj\t_\n"
    "\n";

static void conllu_skips_ranges_and_empty_nodes(void **state)
{
    (void)state;
    weft_labeled_data d;
    read_text(CONLLU, WEFT_FORMAT_CONLLU, WEFT_CONLLU_UPOS, &d);
    assert_int_equal(d.n_sents, 2);
    assert_int_equal(d.n_words, 7);
    const char *words[] = { "I", "do", "n't", "know", ".", "Go", "2024" };
    const char *tags[] = { "PRON", "AUX", "PART", "VERB", "PUNCT", "VERB", "NUM" };
    for (int k = 0; k < 7; k++) {
        assert_string_equal(d.word[k], words[k]);
        assert_string_equal(d.tag[k], tags[k]);
    }
    assert_int_equal(d.sent_start[1], 5);
    assert_int_equal(d.line[5], 12);
    weft_labeled_free(&d);
    read_text(CONLLU, WEFT_FORMAT_CONLLU, WEFT_CONLLU_XPOS, &d);
    assert_string_equal(d.tag[1], "VBP");
    weft_labeled_free(&d);
}

/* Read, replace the column, write: every byte but the tags' is as read. */
static void conllu_round_trip_changes_only_the_column(void **state)
{
    (void)state;
    weft_labeled_data d;
    read_text(CONLLU, WEFT_FORMAT_CONLLU, WEFT_CONLLU_UPOS, &d);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    /* the tags as read: byte-identical */
    assert_int_equal(weft_labeled_write_conllu(&d, d.tag, f, err, sizeof err), 0);
    fflush(f);
    assert_int_equal(len, strlen(CONLLU));
    assert_memory_equal(out, CONLLU, len);
    fclose(f);
    free(out);
    /* other tags: only that field changes, line by line */
    const char *pred[7] = { "X", "X", "X", "X", "X", "X", "LONGERTAG" };
    f = open_memstream(&out, &len);
    assert_int_equal(weft_labeled_write_conllu(&d, pred, f, err, sizeof err), 0);
    fclose(f);
    char *a = strdup(CONLLU), *b = out, *sa, *sb;
    char *la = strtok_r(a, "\n", &sa), *lb = strtok_r(b, "\n", &sb);
    int changed = 0, lines = 0;
    while (la && lb) {
        lines++;
        if (strcmp(la, lb) != 0) {
            /* the same fields but the fourth */
            char *fa[10], *fb[10], *ta, *tb;
            int na = 0, nb = 0;
            for (char *x = strtok_r(la, "\t", &ta); x && na < 10; x = strtok_r(NULL, "\t", &ta))
                fa[na++] = x;
            for (char *x = strtok_r(lb, "\t", &tb); x && nb < 10; x = strtok_r(NULL, "\t", &tb))
                fb[nb++] = x;
            assert_int_equal(na, 10);
            assert_int_equal(nb, 10);
            for (int k = 0; k < 10; k++)
                if (k != 3) assert_string_equal(fa[k], fb[k]);
            assert_true(strcmp(fb[3], "X") == 0 || strcmp(fb[3], "LONGERTAG") == 0);
            changed++;
        }
        la = strtok_r(NULL, "\n", &sa);
        lb = strtok_r(NULL, "\n", &sb);
    }
    assert_null(la);
    assert_null(lb);
    assert_int_equal(changed, 7);
    assert_int_equal(lines, 12);   /* strtok skips the blank lines */
    free(a);
    free(out);
    /* a tag that would break the format is refused */
    const char *bad[7] = { "X", "X", "A\tB", "X", "X", "X", "X" };
    f = open_memstream(&out, &len);
    assert_int_equal(weft_labeled_write_conllu(&d, bad, f, err, sizeof err), -1);
    assert_non_null(strstr(err, "mem:6"));
    fclose(f);
    free(out);
    weft_labeled_free(&d);
}

static void expect_error(const char *text, weft_labeled_format f, const char *where,
                         const char *what)
{
    weft_labeled_data d;
    assert_int_equal(weft_labeled_from_string(text, strlen(text), "bad.txt", f, 4, &d, err,
                                              sizeof err), -1);
    if (!strstr(err, where) || !strstr(err, what))
        print_error("message '%s' lacks '%s' or '%s'\n", err, where, what);
    assert_non_null(strstr(err, where));
    assert_non_null(strstr(err, what));
}

static void bad_files_name_file_line_and_problem(void **state)
{
    (void)state;
    expect_error("1\tI\tI\tPRON\n", WEFT_FORMAT_CONLLU, "bad.txt:1:", "4 tab-separated fields");
    expect_error("# c\n1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\nx\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n",
                 WEFT_FORMAT_CONLLU, "bad.txt:3:", "ID 'x'");
    expect_error("1\tI\tI\t\tPRP\t_\t0\troot\t_\t_\n", WEFT_FORMAT_CONLLU, "bad.txt:1:", "empty");
    expect_error("1 good words\n0\n", WEFT_FORMAT_CLASSIFY, "bad.txt:2:", "no words");
    expect_error("EU B-ORG\nrejects Q-MISC\n", WEFT_FORMAT_BIO, "bad.txt:2:", "'Q-MISC'");
    expect_error("EU\n", WEFT_FORMAT_BIO, "bad.txt:1:", "one field");
    expect_error("1 ok\n0 caf\xc3\n", WEFT_FORMAT_CLASSIFY, "bad.txt:2:", "invalid UTF-8");
    expect_error("\n\n# only comments\n", WEFT_FORMAT_CONLLU, "bad.txt", "no sentences");
    weft_labeled_data d;
    assert_int_equal(weft_labeled_read("/nonexistent/x.conllu", WEFT_FORMAT_CONLLU, 4, &d, err,
                                       sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.conllu: cannot open"));
}

static void vocabularies_min_count_unk_and_normalisation(void **state)
{
    (void)state;
    weft_labeled_data d;
    read_text("1 The cat sat 1984\n0 the dog 2001\n1 THE cat\n", WEFT_FORMAT_CLASSIFY, 0, &d);
    assert_int_equal(d.n_sents, 3);
    assert_string_equal(d.label[2], "1");
    weft_word_norm norm = { .lowercase = true, .digits = true };
    const char *specials[] = { "<unk>" };
    weft_vocab *v = weft_labeled_word_vocab(&d, norm, 2, specials, 1, err, sizeof err);
    /* the (3), cat (2), 0000 (2); sat and dog once */
    assert_int_equal(weft_vocab_size(v), 4);
    assert_string_equal(weft_vocab_token(v, 0), "<unk>");
    assert_string_equal(weft_vocab_token(v, 1), "the");
    assert_string_equal(weft_vocab_token(v, 3), "0000");
    int *ids = weft_labeled_encode_words(&d, v, norm, err, sizeof err);
    assert_int_equal(ids[2], 0);    /* sat: <unk> */
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[3], 3);
    free(ids);
    weft_vocab *labels = weft_labeled_label_vocab(&d, err, sizeof err);
    assert_int_equal(weft_vocab_size(labels), 2);
    assert_string_equal(weft_vocab_token(labels, 0), "0");   /* sorted, not first-seen */
    weft_vocab_free(labels);
    weft_vocab_free(v);
    weft_labeled_free(&d);
    /* numbers sort numerically */
    read_text("10 a\n9 b\n2 c\n", WEFT_FORMAT_CLASSIFY, 0, &d);
    labels = weft_labeled_label_vocab(&d, err, sizeof err);
    assert_string_equal(weft_vocab_token(labels, 0), "2");
    assert_string_equal(weft_vocab_token(labels, 2), "10");
    weft_vocab_free(labels);
    weft_labeled_free(&d);
}

/* --- buckets ---------------------------------------------------------------------------------- */

static void buckets_hold_every_example_once(void **state)
{
    (void)state;
    enum { N = 103 };
    int lengths[N];
    weft_rng rng;
    weft_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++) lengths[i] = 1 + (int)weft_rng_below(&rng, 40);
    for (int epoch = 0; epoch < 3; epoch++) {
        weft_buckets b;
        assert_int_equal(weft_buckets_make(lengths, N, 8, 4, epoch < 2 ? &rng : NULL, &b, err,
                                           sizeof err), 0);
        int seen[N] = { 0 };
        for (int k = 0; k < b.n_batches; k++) {
            int n = b.start[k + 1] - b.start[k];
            assert_true(n >= 1 && n <= 8);
            for (int i = b.start[k]; i < b.start[k + 1]; i++) {
                seen[b.index[i]]++;
                if (i > b.start[k]) assert_true(lengths[b.index[i]] <= lengths[b.index[i - 1]]);
            }
        }
        for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
        assert_int_equal(b.start[b.n_batches], N);
        if (epoch == 2)   /* evaluation: one sorted run */
            for (int i = 1; i < N; i++)
                assert_true(lengths[b.index[i]] <= lengths[b.index[i - 1]]);
        weft_buckets_free(&b);
    }
    weft_buckets b;
    assert_int_equal(weft_buckets_make(lengths, 0, 8, 4, NULL, &b, err, sizeof err), -1);
}

/* --- scores ------------------------------------------------------------------------------------- */

static void conlleval_on_a_hand_made_example(void **state)
{
    (void)state;
    /* gold: [EU]ORG rejects [German]MISC call to boycott [British lamb]MISC [Peter Blackburn]PER
     * pred: [EU]ORG right; [German]ORG wrong type; [British]MISC [lamb]MISC split (wrong);
     *       [Peter Blackburn]PER right, though it starts with I- (conlleval's rule) */
    const char *gold[] = { "B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "I-MISC", "B-PER",
                           "I-PER" };
    const char *pred[] = { "B-ORG", "O", "B-ORG", "O", "O", "O", "B-MISC", "B-MISC", "I-PER",
                           "I-PER" };
    weft_chunk_score s = { 0 };
    weft_chunk_score_add(&s, gold, pred, 10);
    assert_int_equal(s.gold, 4);
    assert_int_equal(s.predicted, 5);
    assert_int_equal(s.correct, 2);
    assert_int_equal(s.tokens, 10);
    assert_int_equal(s.tokens_correct, 7);
    assert_float_equal(weft_chunk_precision(&s), 0.4, 1e-12);
    assert_float_equal(weft_chunk_recall(&s), 0.5, 1e-12);
    assert_float_equal(weft_chunk_f1(&s), 2 * 0.4 * 0.5 / 0.9, 1e-12);
    /* a chunk that runs to the end of the sentence is closed there */
    const char *g2[] = { "O", "B-LOC", "I-LOC" };
    weft_chunk_score t = { 0 };
    weft_chunk_score_add(&t, g2, g2, 3);
    assert_int_equal(t.correct, 1);
    assert_float_equal(weft_chunk_f1(&t), 1.0, 1e-12);
}

static void confusion_accuracy_and_macro_f1(void **state)
{
    (void)state;
    weft_confusion m;
    assert_int_equal(weft_confusion_init(&m, 3), 0);
    int gold[] = { 0, 0, 0, 1, 1, 2, -1 };
    int pred[] = { 0, 0, 1, 1, 0, 2, 0 };
    for (int i = 0; i < 7; i++) weft_confusion_add(&m, gold[i], pred[i]);
    assert_int_equal(weft_confusion_total(&m), 7);
    assert_float_equal(weft_confusion_accuracy(&m), 4.0 / 7.0, 1e-12);
    /* class 0: P 2/3 R 2/3; class 1: P 1/2 R 1/2; class 2: 1 */
    assert_float_equal(weft_confusion_f1(&m, 0), 2.0 / 3.0, 1e-12);
    assert_float_equal(weft_confusion_macro_f1(&m), (2.0 / 3.0 + 0.5 + 1.0) / 3.0, 1e-12);
    weft_confusion_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conllu_skips_ranges_and_empty_nodes),
        cmocka_unit_test(conllu_round_trip_changes_only_the_column),
        cmocka_unit_test(bad_files_name_file_line_and_problem),
        cmocka_unit_test(vocabularies_min_count_unk_and_normalisation),
        cmocka_unit_test(buckets_hold_every_example_once),
        cmocka_unit_test(conlleval_on_a_hand_made_example),
        cmocka_unit_test(confusion_accuracy_and_macro_f1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
