/* tests/test_classify.c — labelled data (the three formats, CoNLL-U written
 * back, bad files), length buckets, confusion and conlleval scores, and the
 * classifier, tagger and window models: padding changes nothing, pooling
 * over real steps, the character encoder's gradient, checkpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "weft/weft.h"
#include "rel_diff.h"
#include "tests/cli_text.h"

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

/* --- the models --------------------------------------------------------------------------------- */

static const char SENTS[] =
    "1 a fine and moving film\n"
    "0 dull\n"
    "1 fine acting\n"
    "0 a dull , dull film that drags on and on\n";

static const char TAGGED[] =
    "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\nto O\nboycott O\n\n"
    "Peter B-PER\nBlackburn I-PER\n\n"
    "BRUSSELS B-LOC\n1996-08-22 O\nthe O\nEuropean B-ORG\nCommission I-ORG\n\n";

typedef struct fixture {
    weft_labeled_data d;
    weft_classify_model *m;
    weft_classify_set s;
    weft_graph *g;
} fixture;

static void fixture_make(fixture *f, weft_classify_config cfg, uint64_t seed)
{
    weft_labeled_format fmt = cfg.task == WEFT_TASK_CLASSIFY ? WEFT_FORMAT_CLASSIFY
                                                             : WEFT_FORMAT_BIO;
    cfg.format = fmt;
    read_text(fmt == WEFT_FORMAT_CLASSIFY ? SENTS : TAGGED, fmt, 4, &f->d);
    weft_vocab *w, *l, *c;
    assert_int_equal(weft_classify_vocabs(&cfg, &f->d, 1, &w, &l, &c, err, sizeof err), 0);
    f->m = weft_classify_new(&cfg, w, l, c, err, sizeof err);
    if (!f->m) print_error("%s\n", err);
    assert_non_null(f->m);
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    assert_int_equal(weft_classify_init(f->m, &rng), 0);
    assert_int_equal(weft_classify_set_make(f->m, &f->d, &f->s, err, sizeof err), 0);
    f->g = weft_graph_new();
}

static void fixture_free(fixture *f)
{
    weft_graph_free(f->g);
    weft_classify_set_free(&f->s);
    weft_classify_free(f->m);
    weft_labeled_free(&f->d);
}

static weft_classify_config small(weft_classify_task task)
{
    weft_classify_config c = weft_classify_defaults(task);
    c.embed = 6;
    c.hidden = 5;
    c.layers = 2;
    c.char_embed = 4;
    c.char_hidden = 3;
    c.window = 1;
    c.window_hidden = 7;
    c.dropout = 0.0f;
    return c;
}

/* The gradient of every parameter after backward from the loss of sentences
 * idx (a fresh copy the caller frees). */
static float *grads_of(fixture *f, const int *idx, int n, float *loss)
{
    weft_graph_reset(f->g);
    weft_params_zero_grad(f->m->params);
    weft_var *l = weft_classify_loss(f->m, f->g, &f->s, idx, n, NULL);
    if (!l) print_error("%s\n", weft_graph_error(f->g));
    assert_non_null(l);
    assert_int_equal(weft_backward(f->g, l), 0);
    *loss = weft_scalar(l);
    size_t span = weft_params_span(f->m->params);
    float *copy = malloc(span * sizeof *copy);
    memcpy(copy, weft_params_grads(f->m->params), span * sizeof *copy);
    return copy;
}

/* Each sentence alone and all of them in one padded batch: the same logits,
 * and the batch's gradient is the weighted mean of the single ones. */
static void check_padding_changes_nothing(weft_classify_config cfg)
{
    fixture f;
    fixture_make(&f, cfg, 3);
    int N = f.d.n_sents, C = f.m->n_labels;
    int idx[8], rows_of[8], total_rows = 0;
    for (int i = 0; i < N; i++) {
        idx[i] = N - 1 - i;   /* not sorted by length */
        rows_of[i] = cfg.task == WEFT_TASK_CLASSIFY ? 1 : f.s.lengths[idx[i]];
        total_rows += rows_of[i];
    }
    weft_graph_reset(f.g);
    weft_var *all = weft_classify_logits(f.m, f.g, &f.s, idx, N);
    assert_non_null(all);
    assert_int_equal(all->value.shape[0], total_rows);
    float *batch = malloc((size_t)total_rows * C * sizeof *batch);
    memcpy(batch, all->value.data, (size_t)total_rows * C * sizeof *batch);
    int at = 0;
    for (int i = 0; i < N; i++) {
        weft_graph_reset(f.g);
        weft_var *one = weft_classify_logits(f.m, f.g, &f.s, &idx[i], 1);
        assert_non_null(one);
        double d = rel_diff(one->value.data, batch + (size_t)at * C, (size_t)rows_of[i] * C);
        if (d > 1e-5) print_error("%s: sentence %d differs in the batch by %g\n",
                                  weft_classify_task_name(cfg.task), idx[i], d);
        assert_true(d <= 1e-5);
        at += rows_of[i];
    }
    /* gradients: the batch loss is the mean over its rows */
    float loss_all;
    float *g_all = grads_of(&f, idx, N, &loss_all);
    size_t span = weft_params_span(f.m->params);
    double *mix = calloc(span, sizeof *mix);
    for (int i = 0; i < N; i++) {
        float loss_one;
        float *g1 = grads_of(&f, &idx[i], 1, &loss_one);
        for (size_t k = 0; k < span; k++) mix[k] += (double)g1[k] * rows_of[i] / total_rows;
        free(g1);
    }
    float *mixf = malloc(span * sizeof *mixf);
    for (size_t k = 0; k < span; k++) mixf[k] = (float)mix[k];
    double d = rel_diff(g_all, mixf, span);
    if (d > 1e-4) print_error("%s: gradient of the padded batch differs by %g\n",
                              weft_classify_task_name(cfg.task), d);
    assert_true(d <= 1e-4);
    free(mixf);
    free(mix);
    free(g_all);
    free(batch);
    fixture_free(&f);
}

static void classifier_padding_changes_nothing(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++) {
        weft_classify_config c = small(WEFT_TASK_CLASSIFY);
        c.pool = (weft_pool)p;
        check_padding_changes_nothing(c);
        c.bidirectional = false;
        c.layers = 1;
        snprintf(c.cell, sizeof c.cell, "gru");
        check_padding_changes_nothing(c);
    }
}

static void tagger_and_window_padding_changes_nothing(void **state)
{
    (void)state;
    weft_classify_config c = small(WEFT_TASK_TAG);
    check_padding_changes_nothing(c);
    c.char_encoder = true;
    check_padding_changes_nothing(c);
    check_padding_changes_nothing(small(WEFT_TASK_WINDOW));
}

/* Pooling by hand: the pooled vector of one sentence from the rnn outputs. */
static void pooling_over_real_steps(void **state)
{
    (void)state;
    /* a negative-only sequence: max over real steps must not see the padding's zeros */
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input_zeros(g, 3, (int[]){ 3, 2, 1 }, "x", false);
    const float v[] = { -3, 1, -1, 2, 0, -2 };   /* [t][b]: b=0 -3,-1,(0); b=1 1,2,-2 */
    memcpy(x->value.data, v, sizeof v);
    weft_var *m = weft_max_steps(g, x, (const int[]){ 2, 3 });
    assert_float_equal(m->value.data[0], -1.0f, 0);
    assert_float_equal(m->value.data[1], 2.0f, 0);
    assert_null(weft_max_steps(g, x, (const int[]){ 0, 3 }));
    assert_non_null(strstr(weft_graph_error(g), "lengths[0] = 0"));
    weft_graph_free(g);
}

/* The character encoder's gradient against finite differences (the whole
 * tagger: the char rnn, the lookups of its states, the word rnn). */
static void char_encoder_gradient_check(void **state)
{
    (void)state;
    weft_classify_config c = small(WEFT_TASK_TAG);
    c.char_encoder = true;
    c.layers = 1;
    fixture f;
    fixture_make(&f, c, 5);
    int idx[] = { 0, 1 };
    weft_graph_reset(f.g);
    weft_params_zero_grad(f.m->params);
    weft_var *loss = weft_classify_loss(f.m, f.g, &f.s, idx, 2, NULL);
    assert_non_null(loss);
    weft_gradcheck_result r;
    weft_gradcheck_opts o = { .eps = 1e-2f, .tolerance = 2e-2f, .max_per_leaf = 40 };
    assert_int_equal(weft_gradcheck(f.g, loss, &o, &r), 0);
    if (!r.passed) print_error("char encoder: rel error %g at node %d\n", r.max_rel_error,
                               r.worst_node);
    assert_true(r.passed);
    assert_true(r.checked > 100);
    fixture_free(&f);
}

/* Saved then loaded: the same configuration, vocabularies and logits. */
static void checkpoint_round_trip(void **state)
{
    (void)state;
    weft_classify_config c = small(WEFT_TASK_TAG);
    c.char_encoder = true;
    c.norm.lowercase = true;
    fixture f;
    fixture_make(&f, c, 9);
    char path[] = "/tmp/weft_classify_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(weft_classify_save(f.m, path, err, sizeof err), 0);
    assert_true(weft_classify_file_is(path));
    weft_classify_model *back = weft_classify_load(path, err, sizeof err);
    if (!back) print_error("%s\n", err);
    assert_non_null(back);
    assert_true(back->cfg.char_encoder && back->cfg.norm.lowercase);
    assert_int_equal(weft_vocab_size(back->chars), weft_vocab_size(f.m->chars));
    int idx[] = { 0, 1, 2 };
    weft_graph_reset(f.g);
    weft_var *a = weft_classify_logits(f.m, f.g, &f.s, idx, 3);
    weft_graph *g2 = weft_graph_new();
    weft_classify_set s2;
    assert_int_equal(weft_classify_set_make(back, &f.d, &s2, err, sizeof err), 0);
    weft_var *b = weft_classify_logits(back, g2, &s2, idx, 3);
    assert_int_equal(a->value.size, b->value.size);
    assert_memory_equal(a->value.data, b->value.data, a->value.size * sizeof(float));
    weft_classify_set_free(&s2);
    weft_graph_free(g2);
    weft_classify_free(back);
    unlink(path);
    fixture_free(&f);
}

/* A file whose weft.config asks for far more than its tensors hold (hidden
 * 100000: 10^10 weights in the recurrent layer) fails at once, naming the
 * file and the tensor, before anything of that size is allocated. */
static void hostile_config_fails_before_building(void **state)
{
    (void)state;
    weft_classify_config c = small(WEFT_TASK_TAG);
    c.char_encoder = true;
    fixture f;
    fixture_make(&f, c, 9);
    char path[] = "/tmp/weft_classify_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(weft_classify_save(f.m, path, err, sizeof err), 0);
    weft_checkpoint ck;
    assert_int_equal(weft_checkpoint_read(path, &ck, err, sizeof err), 0);
    const char *edits[][2] = { { "\"hidden\":5,", "\"hidden\":100000," },
                               { "\"layers\":2,", "\"layers\":1000000," },
                               { "\"char_hidden\":3,", "\"char_hidden\":100000," },
                               { "\"embed\":6,", "\"embed\":1000000000," } };
    for (int e = 0; e < 4; e++) {
        const char *conf = weft_checkpoint_meta(&ck, "weft.config");
        const char *at = strstr(conf, edits[e][0]);
        assert_non_null(at);
        char hostile[4096];
        snprintf(hostile, sizeof hostile, "%.*s%s%s", (int)(at - conf), conf, edits[e][1],
                 at + strlen(edits[e][0]));
        char bad[] = "/tmp/weft_classify_bad_XXXXXX";
        fd = mkstemp(bad);
        assert_true(fd >= 0);
        close(fd);
        weft_meta_kv meta[] = { { "format", "pt" }, { "weft.config", hostile },
                                { "weft.vocab", weft_checkpoint_meta(&ck, "weft.vocab") },
                                { "weft.labels", weft_checkpoint_meta(&ck, "weft.labels") },
                                { "weft.chars", weft_checkpoint_meta(&ck, "weft.chars") } };
        assert_int_equal(weft_checkpoint_save(bad, f.m->params, meta, 5, err, sizeof err), 0);
        err[0] = '\0';
        assert_null(weft_classify_load(bad, err, sizeof err));
        assert_non_null(strstr(err, bad));
        assert_true(strstr(err, "tensor") || strstr(err, "wider than"));
        unlink(bad);
    }
    weft_checkpoint_free(&ck);
    unlink(path);
    fixture_free(&f);
}

/* A run stopped part-way (its state saved) and resumed from the file ends
 * with the same weights, bit for bit, as the run that never stopped: the
 * order of the batches, the dropout masks and Adam's moments all carry over. */
static void check_resume(weft_classify_config cfg, long stop_after)
{
    char tmp[] = "/tmp/weft_resume_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char state[2][600], model[2][600];
    for (int k = 0; k < 2; k++) {
        snprintf(model[k], sizeof model[k], "%s/m%d.safetensors", tmp, k);
        snprintf(state[k], sizeof state[k], "%s/m%d.safetensors.state", tmp, k);
    }
    weft_train_opts o = weft_train_defaults();
    o.optim = weft_optim_adam(0.01);
    o.epochs = 3;
    o.clip = 1.0f;
    o.schedule.decay = 0.5;
    o.schedule.decay_start = 2;
    weft_rng_seed(&o.rng, 77);
    weft_train_result res;

    /* straight */
    fixture a;
    fixture_make(&a, cfg, 5);
    weft_classify_run ra = { .model = a.m, .train = &a.s, .valid = &a.s, .batch = 2, .pool = 2 };
    weft_trainable t;
    weft_classify_trainable(&ra, &t);
    weft_train_opts oa = o;
    oa.save_path = model[0];
    oa.state_path = state[0];
    assert_int_equal(weft_train(&t, &oa, &res, err, sizeof err), 0);
    assert_int_equal(res.stop, WEFT_TRAIN_FINISHED);

    /* stopped after a few batches, mid-epoch */
    fixture b;
    fixture_make(&b, cfg, 5);
    weft_classify_run rb = { .model = b.m, .train = &b.s, .valid = &b.s, .batch = 2, .pool = 2 };
    weft_classify_trainable(&rb, &t);
    weft_train_opts ob = o;
    ob.save_path = model[1];
    ob.state_path = state[1];
    ob.stop_after = stop_after;
    assert_int_equal(weft_train(&t, &ob, &res, err, sizeof err), 0);
    assert_int_equal(res.stop, WEFT_TRAIN_STOPPED);
    weft_classify_run_free(&rb);

    /* resumed from the file alone */
    weft_train_opts oc = weft_train_defaults();
    weft_train_state st;
    weft_classify_resume info;
    weft_classify_model *m = weft_classify_load_state(state[1], &oc, &st, &info, err, sizeof err);
    if (!m) print_error("%s\n", err);
    assert_non_null(m);
    assert_int_equal(info.train_sentences, b.d.n_sents);
    assert_int_equal(info.train_words, b.d.n_words);
    assert_int_equal(info.batch, 2);
    assert_int_equal(info.pool, 2);
    assert_int_equal(oc.epochs, 3);
    weft_classify_set s;
    assert_int_equal(weft_classify_set_make(m, &b.d, &s, err, sizeof err), 0);
    weft_classify_run rc = { .model = m, .train = &s, .valid = &s, .batch = info.batch,
                             .pool = info.pool };
    weft_classify_trainable(&rc, &t);
    oc.save_path = model[1];
    oc.state_path = state[1];
    oc.resume = &st;
    int rcode = weft_train(&t, &oc, &res, err, sizeof err);
    if (rcode) print_error("%s\n", err);
    assert_int_equal(rcode, 0);
    assert_int_equal(res.stop, WEFT_TRAIN_FINISHED);

    size_t n = weft_params_span(a.m->params);
    assert_int_equal(weft_params_span(m->params), n);
    assert_memory_equal(weft_params_values(a.m->params), weft_params_values(m->params),
                        n * sizeof(float));
    /* and it moved: not the weights it started from */
    fixture fresh;
    fixture_make(&fresh, cfg, 5);
    assert_memory_not_equal(weft_params_values(fresh.m->params), weft_params_values(m->params),
                            n * sizeof(float));
    fixture_free(&fresh);

    weft_classify_run_free(&rc);
    weft_classify_set_free(&s);
    weft_classify_free(m);
    weft_classify_run_free(&ra);
    fixture_free(&a);
    fixture_free(&b);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
}

static void saved_then_resumed_equals_straight(void **state)
{
    (void)state;
    weft_classify_config c = small(WEFT_TASK_CLASSIFY);
    c.dropout = 0.3f;
    check_resume(c, 3);   /* 2 batches an epoch: stops inside epoch 2 */
    c = small(WEFT_TASK_TAG);
    c.char_encoder = true;
    c.dropout = 0.3f;
    check_resume(c, 1);
    c = small(WEFT_TASK_WINDOW);
    c.dropout = 0.3f;
    check_resume(c, 4);   /* at an epoch's end */
}

/* The parameter count weft compare sizes models by is the count of the
 * model built; a run of the comparison is a learning curve, the same again
 * for the same seed. */
static void compare_sizes_and_runs(void **state)
{
    (void)state;
    const char *cells[] = { "lstm", "gru", "rnn", "mut1" };
    for (int task = 0; task < 3; task++)
        for (int k = 0; k < 4; k++) {
            weft_classify_config c = small((weft_classify_task)task);
            c.char_encoder = task == WEFT_TASK_TAG;
            c.bidirectional = k % 2 == 0;
            snprintf(c.cell, sizeof c.cell, "%s", cells[k]);
            fixture f;
            fixture_make(&f, c, 3);
            void *plugin = NULL;
            const weft_cell_type *type = weft_cell_lookup(cells[k], &plugin, err, sizeof err);
            assert_non_null(type);
            size_t n = weft_classify_numel(&c, type, weft_vocab_size(f.m->words), f.m->n_labels,
                                           f.m->chars ? weft_vocab_size(f.m->chars) : 0);
            assert_int_equal(n, weft_params_numel(f.m->params));
            if (task != WEFT_TASK_WINDOW) {
                int H;
                size_t got;
                assert_int_equal(weft_classify_size(&c, type, weft_vocab_size(f.m->words),
                                                    f.m->n_labels, f.m->chars ? weft_vocab_size(f.m->chars) : 0,
                                                    n, 0.0, &H, &got, err, sizeof err), 0);
                assert_int_equal(H, c.hidden);
                assert_int_equal(got, n);
            }
            fixture_free(&f);
        }
    weft_labeled_data d;
    read_text(SENTS, WEFT_FORMAT_CLASSIFY, 0, &d);
    weft_classify_compare_opts o = { .cfg = small(WEFT_TASK_CLASSIFY), .batch = 2, .pool = 2,
                                     .optim = weft_optim_adam(0.02), .max_steps = 6,
                                     .eval_points = 3, .seed = 4 };
    o.cfg.layers = 1;
    weft_compare_result r[2];
    for (int k = 0; k < 2; k++) {
        int rc = weft_classify_compare_train("gru", 5, &d, &d, &o, &r[k], err, sizeof err);
        if (rc) print_error("%s\n", err);
        assert_int_equal(rc, 0);
        assert_int_equal(r[k].steps, 6);
        assert_int_equal(r[k].n_points, 4);   /* before the first step, and 3 */
        assert_int_equal(r[k].points[0].step, 0);
        assert_true(r[k].best >= 0.5 && r[k].best <= 1.0);
        assert_true(r[k].points[3].nll < r[k].points[0].nll);
    }
    for (int p = 0; p < 4; p++) {
        assert_true(r[0].points[p].score == r[1].points[p].score);
        assert_true(r[0].points[p].nll == r[1].points[p].nll);
    }
    weft_compare_result_free(&r[0]);
    weft_compare_result_free(&r[1]);
    weft_labeled_free(&d);
}

/* Each model learns a tiny set by heart through the library trainer. */
static void check_overfits(weft_classify_config cfg)
{
    fixture f;
    fixture_make(&f, cfg, 11);
    weft_classify_run run = { .model = f.m, .train = &f.s, .valid = &f.s, .batch = 2, .pool = 2 };
    weft_trainable t;
    weft_classify_trainable(&run, &t);
    weft_train_opts o = weft_train_defaults();
    o.optim = weft_optim_adam(0.03);
    o.epochs = 40;
    o.clip = 5.0f;
    weft_train_result res;
    int rc = weft_train(&t, &o, &res, err, sizeof err);
    if (rc) print_error("%s\n", err);
    assert_int_equal(rc, 0);
    weft_classify_score sc;
    assert_int_equal(weft_classify_evaluate(f.m, f.g, &f.s, 3, &sc, err, sizeof err), 0);
    double acc = weft_confusion_accuracy(&sc.confusion);
    if (acc < 1.0) print_error("%s: accuracy %g after training, loss %g\n",
                               weft_classify_task_name(cfg.task), acc, sc.loss);
    assert_true(acc == 1.0);
    assert_true(sc.loss < 0.1);
    if (cfg.task != WEFT_TASK_CLASSIFY) {
        assert_true(sc.has_chunks);
        assert_float_equal(weft_chunk_f1(&sc.chunks), 1.0, 1e-12);
    }
    assert_true(res.has_best && res.best == 100.0);
    weft_confusion_free(&sc.confusion);
    weft_classify_run_free(&run);
    fixture_free(&f);
}

static void each_model_overfits_a_tiny_set(void **state)
{
    (void)state;
    weft_classify_config c = small(WEFT_TASK_CLASSIFY);
    c.layers = 1;
    check_overfits(c);
    c = small(WEFT_TASK_TAG);
    c.layers = 1;
    c.char_encoder = true;
    check_overfits(c);
    check_overfits(small(WEFT_TASK_WINDOW));
}

/* --- the ragged layer by length groups ------------------------------------------------------ */

/* Run r over xs with lengths, by groups or padded; the loss is a fixed random
 * weighting of the outputs and every final state. Returns the loss and
 * leaves the gradients in the store and on xs. */
static float ragged_loss(weft_graph *g, const weft_rnn *r, weft_var *xs, const int *len,
                         const weft_state *init, bool by_length, float *out_copy, int *chained,
                         weft_var *table, const int *ids)
{
    weft_rnn_out out;
    weft_unroll_opts o = { .lengths = len, .init = init, .by_length = by_length,
                           .input_table = table, .input_ids = ids };
    assert_int_equal(weft_unroll(g, r, xs, &o, &out), 0);
    *chained = out.chained_steps;
    memcpy(out_copy, out.seq->value.data, out.seq->value.size * sizeof(float));
    weft_rng w;
    weft_rng_seed(&w, 99);
    weft_var *loss = NULL;
    weft_var *parts[1 + 16];
    int n = 0;
    parts[n++] = out.seq;
    for (int i = 0; i < out.n_final; i++) parts[n++] = out.final[i];
    for (int i = 0; i < n; i++) {
        weft_var *m = weft_input_zeros(g, parts[i]->value.rank, parts[i]->value.shape, "w", false);
        weft_rng_fill_uniform(&w, &m->value, -1.0f, 1.0f);
        weft_var *term = weft_sum(g, weft_mul(g, parts[i], m));
        loss = loss ? weft_add(g, loss, term) : term;
    }
    assert_int_equal(weft_backward(g, loss), 0);
    return weft_scalar(loss);
}

/* table: the inputs are rows of a table of 6 rows (weft_unroll_opts.input_table: the
 * projection runs over the table's rows), the gradient checked on the table */
static void check_ragged_layer(const char *cell, int layers, bool bidirectional, bool carried,
                               bool sorted, bool table)
{
    enum { T = 12, B = 9, I = 5, H = 4 };
    /* unsorted: by length groups; sorted longest first: packed steps */
    const int unsorted[B] = { 3, 12, 1, 7, 12, 9, 2, 5, 11 };
    const int longest_first[B] = { 12, 12, 11, 9, 7, 5, 3, 2, 1 };
    const int *len = sorted ? longest_first : unsorted;
    weft_params *ps = weft_params_new();
    weft_rnn_config cfg = { .cell = weft_cell_find(cell), .input_size = I, .hidden_size = H,
                            .num_layers = layers, .bidirectional = bidirectional,
                            .prefix = "rnn." };
    weft_rnn *r = weft_rnn_new(ps, &cfg, err, sizeof err);
    assert_non_null(r);
    weft_rng rng;
    weft_rng_seed(&rng, 4);
    weft_rnn_reset_parameters(r, &rng);
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I });
    weft_rng_fill_uniform(&rng, &x, -1.0f, 1.0f);
    enum { V = 6 };
    int ids[T * B];
    for (int k = 0; k < T * B; k++) ids[k] = (k * 7 + 3) % V;
    if (table) {
        weft_tensor_release(&x);
        x = weft_tensor_alloc(2, (int[]){ V, I });
        weft_rng_fill_uniform(&rng, &x, -1.0f, 1.0f);
    }
    weft_state init = { 0 };
    if (carried) {
        init.n = weft_rnn_num_states(r);
        init.t = calloc((size_t)init.n, sizeof *init.t);
        for (int i = 0; i < init.n; i++) {
            init.t[i] = weft_tensor_alloc2(B, H);
            weft_rng_fill_uniform(&rng, &init.t[i], -0.5f, 0.5f);
        }
    }
    size_t span = weft_params_span(ps), W = (size_t)T * B * H * (bidirectional ? 2 : 1);
    float *out_a = malloc(W * sizeof(float)), *out_b = malloc(W * sizeof(float));
    float *grad_a = malloc(span * sizeof(float)), *dx_a = malloc(x.size * sizeof(float));
    float loss[2];
    int chained[2];
    for (int pass = 0; pass < 2; pass++) {
        weft_graph *g = weft_graph_new();
        weft_params_zero_grad(ps);
        weft_var *xin = weft_input(g, &x, "x", true), *xs = xin;
        if (table)
            xs = weft_reshape(g, weft_embedding(g, xin, ids, T * B), 3, (int[]){ T, B, I });
        loss[pass] = ragged_loss(g, r, xs, len, carried ? &init : NULL, pass == 1,
                                 pass ? out_b : out_a, &chained[pass], table ? xin : NULL,
                                 table ? ids : NULL);
        const weft_tensor *dx = weft_grad_of(g, xin);
        if (pass == 0) {
            memcpy(grad_a, weft_params_grads(ps), span * sizeof(float));
            memcpy(dx_a, dx->data, x.size * sizeof(float));
        } else {
            double d_out = rel_diff(out_a, out_b, W);
            double d_grad = rel_diff(grad_a, weft_params_grads(ps), span);
            double d_dx = rel_diff(dx_a, dx->data, x.size);
            if (d_out > 1e-5 || d_grad > 1e-4 || d_dx > 1e-4)
                print_error("%s%s %d layers%s: outputs %g, weight gradients %g, input gradients "
                            "%g apart\n", sorted ? "packed " : "", cell, layers,
                            bidirectional ? " bidirectional" : "",
                            d_out, d_grad, d_dx);
            assert_true(d_out <= 1e-5 && d_grad <= 1e-4 && d_dx <= 1e-4);
            assert_float_equal(loss[0], loss[1], 1e-4 * fabsf(loss[0]) + 1e-5);
        }
        weft_graph_free(g);
    }
    /* the groups stayed on the fast path where the cell has one */
    if (weft_cell_type_has_fast_path(cfg.cell)) assert_true(chained[1] > 0);
    weft_state_free(&init);
    weft_tensor_release(&x);
    free(out_a);
    free(out_b);
    free(grad_a);
    free(dx_a);
    weft_rnn_free(r);
    weft_params_free(ps);
}

static void ragged_layer_by_length_equals_padded(void **state)
{
    (void)state;
    for (int sorted = 0; sorted < 2; sorted++) {
        check_ragged_layer("lstm", 2, true, false, sorted, false);
        check_ragged_layer("lstm", 1, false, true, sorted, false);
        check_ragged_layer("gru", 2, true, true, sorted, false);
        check_ragged_layer("rnn", 1, true, true, sorted, false);
        check_ragged_layer("mut1", 1, true, false, sorted, false);   /* no fused step: groups */
        check_ragged_layer("lstm", 2, true, false, sorted, true);
        check_ragged_layer("gru", 1, true, true, sorted, true);
    }
}

/* --- the command line ----------------------------------------------------------------------- */

static const char *exe;
static char tmpdir[] = "/tmp/weft-classify-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char paths[16][512];
    static int k = 0;
    char *p = paths[k++ % 16];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

#define GLOBAL_FLAGS "--quiet --threads 1 "

static void cli_train_eval_predict(void **state)
{
    (void)state;
    if (!exe) skip();
    /* a tagger on CoNLL-U: train, eval's last line, predict writes CoNLL-U back */
    const char *train = tmp_path("train.conllu"), *model = tmp_path("tag.safetensors");
    weft_test_write_file(train, CONLLU, strlen(CONLLU));
    weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task tag --data %s "
                                        "--valid %s --bidirectional --char-encoder --embed 8 "
                                        "--hidden 8 --char-embed 4 --char-hidden 4 --dropout 0 "
                                        "--lr 0.05 --epochs 30 --batch 2 --save %s",
                                        train, train, model);
    if (r->status) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->out, "best valid accuracy: 100.00");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s", model, train);
    assert_int_equal(r->status, 0);
    char line[256];
    assert_string_equal(last_line(r->out, line, sizeof line), "accuracy: 100.00");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "predict --model %s < %s", model, train);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, CONLLU);   /* every tag right: byte for byte the input */

    /* a classifier: macro-F1 and a confusion matrix; predict reads plain sentences */
    const char *sents = tmp_path("sents.txt"), *cmodel = tmp_path("cls.safetensors");
    weft_test_write_file(sents, SENTS, strlen(SENTS));
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task classify --data %s --valid %s "
                      "--pool mean --cell gru --embed 8 --hidden 8 --dropout 0 --lr 0.05 "
                      "--epochs 30 --batch 2 --save %s", sents, sents, cmodel);
    if (r->status) fail_msg("status %d: %s", r->status, r->err);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s", cmodel, sents);
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "macro-F1: 100.00");
    assert_contains(r->out, "gold\\pred");
    assert_string_equal(last_line(r->out, line, sizeof line), "accuracy: 100.00");
    weft_test_write_file(tmp_path("plain.txt"), "dull\nfine acting\n", 17);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "predict --model %s < %s", cmodel,
                      tmp_path("plain.txt"));
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "0\n1\n");

    /* --stop-after then --resume: the same model file as the run that never stopped */
    const char *straight = tmp_path("straight.safetensors"), *halves = tmp_path("halves.safetensors");
    const char *args = "--pool max --embed 8 --hidden 8 --dropout 0.2 --lr 0.05 --epochs 4 "
                       "--batch 2 --decay 0.5 --decay-start 3";
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task classify --data %s --valid %s %s "
                      "--save %s", sents, sents, args, straight);
    if (r->status) fail_msg("status %d: %s", r->status, r->err);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task classify --data %s --valid %s %s "
                      "--stop-after 3 --save %s", sents, sents, args, halves);
    if (r->status) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->err, "stopped at epoch 2, batch 1");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task classify --resume %s --data %s "
                      "--valid %s", halves, sents, sents);
    if (r->status) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->err, "resuming");
    char cmp[1200];
    snprintf(cmp, sizeof cmp, "cmp -s '%s' '%s'", straight, halves);
    assert_int_equal(system(cmp), 0);
    const char *fewer = tmp_path("fewer.txt");
    weft_test_write_file(fewer, SENTS, strchr(SENTS, '\n') + 1 - SENTS);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task classify --resume %s --data %s",
                      halves, fewer);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "resume with the same --data");

    /* weft compare --task sst over a folder holding sst/ */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmp_path("data/sst"));
    assert_int_equal(system(cmd), 0);
    weft_test_write_file(tmp_path("data/sst/stsa.binary.train"), SENTS, strlen(SENTS));
    weft_test_write_file(tmp_path("data/sst/stsa.binary.dev"), SENTS, strlen(SENTS));
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "compare --task sst --cell rnn,gru --embed 8 "
                      "--hidden 6 --train-steps 4 --eval-points 2 --batch 2 "
                      "--data-dir %s --output %s", tmp_path("data"), tmp_path("cmp"));
    if (r->status) fail_msg("status %d: %s", r->status, r->err);
    assert_contains(r->out, "SST-2 sentiment");
    assert_contains(r->out, "| rnn | ");
    assert_contains(r->out, "| gru | ");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "compare --task upos --cell rnn "
                      "--train-steps 4 --data-dir %s --output %s", tmp_path("data"),
                      tmp_path("cmp2"));
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "en_ewt-ud-train.conllu");

    /* BIO: entity F1 */
    const char *bio = tmp_path("ner.txt"), *wmodel = tmp_path("win.safetensors");
    weft_test_write_file(bio, TAGGED, strlen(TAGGED));
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task window --format bio --data %s "
                      "--valid %s --embed 8 --window 1 --window-hidden 16 --dropout 0 --lr 0.05 "
                      "--epochs 30 --batch 2 --save %s", bio, bio, wmodel);
    if (r->status) fail_msg("status %d: %s", r->status, r->err);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s", wmodel, bio);
    assert_int_equal(r->status, 0);
    assert_contains(r->out, "precision 100.00 recall 100.00 F1 100.00");
}

static void cli_bad_input(void **state)
{
    (void)state;
    if (!exe) skip();
    const char *bad = tmp_path("bad.conllu"), *model = tmp_path("never.safetensors");
    weft_test_write_file(bad, "1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n2\tam\n", 33);
    weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task tag --data %s "
                                        "--save %s", bad, model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "bad.conllu:2: 2 tab-separated fields");
    assert_int_equal(access(model, F_OK), -1);
    const char *good = tmp_path("good.conllu");
    weft_test_write_file(good, CONLLU, strlen(CONLLU));
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task tag --data %s --pool median", good);
    assert_int_equal(r->status, 2);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --task classify --format conllu --data %s",
                      good);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "classify: reads classification files");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "predict --model %s --data %s", bad, bad);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "bad.conllu");
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
        cmocka_unit_test(classifier_padding_changes_nothing),
        cmocka_unit_test(tagger_and_window_padding_changes_nothing),
        cmocka_unit_test(pooling_over_real_steps),
        cmocka_unit_test(char_encoder_gradient_check),
        cmocka_unit_test(checkpoint_round_trip),
        cmocka_unit_test(hostile_config_fails_before_building),
        cmocka_unit_test(saved_then_resumed_equals_straight),
        cmocka_unit_test(compare_sizes_and_runs),
        cmocka_unit_test(each_model_overfits_a_tiny_set),
        cmocka_unit_test(ragged_layer_by_length_equals_padded),
        cmocka_unit_test(cli_train_eval_predict),
        cmocka_unit_test(cli_bad_input),
    };
    exe = getenv("WEFT_EXE");
    if (!mkdtemp(tmpdir)) return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
