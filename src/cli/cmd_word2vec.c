/* src/cli/cmd_word2vec.c — word vectors from the command line.
 *
 *     weft word2vec --data TEXT --save VECTORS [--arch skipgram|cbow] [--loss ns|hs|softmax]
 *                   [--dim 100] [--window 5] [--negative 5] [--sample 1e-3] [--min-count 5]
 *                   [--epochs 5] [--lr LR] [--seed S] [--format text|binary]
 *                   [--write input|output|average]
 *     weft word2vec eval --vectors FILE [--analogies FILE [--top K] [--method add|mul]]
 *                   [--similarity FILE]                          (last line: accuracy: X)
 *     weft neighbors --vectors FILE [--top K] WORD...
 *     weft analogy --vectors FILE [--top K] [--method add|mul] A B C
 *
 * Training, files and queries are the library's (weft/word2vec.h, weft/vectors.h).
 */
#include "src/cli/cli.h"

#include "weft/data.h"
#include "weft/runtime.h"
#include "weft/vectors.h"
#include "weft/word2vec.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The first Ctrl-C or SIGTERM asks training to stop and save; a second one
 * (the handlers reset themselves) ends the process at once. */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int parse_format(const char *prog, const char *s, weft_vectors_format *out)
{
    if (strcmp(s, "text") == 0) *out = WEFT_VECTORS_TEXT;
    else if (strcmp(s, "binary") == 0) *out = WEFT_VECTORS_BINARY;
    else if (strcmp(s, "auto") == 0) *out = WEFT_VECTORS_AUTO;
    else {
        fprintf(stderr, "%s: --format is '%s'; it is text or binary\n", prog, s);
        return -1;
    }
    return 0;
}

static int parse_method(const char *prog, const char *s, weft_analogy_method *out)
{
    if (strcmp(s, "add") == 0 || strcmp(s, "3cosadd") == 0) *out = WEFT_3COSADD;
    else if (strcmp(s, "mul") == 0 || strcmp(s, "3cosmul") == 0) *out = WEFT_3COSMUL;
    else {
        fprintf(stderr, "%s: --method is '%s'; it is add (3CosAdd) or mul (3CosMul)\n", prog, s);
        return -1;
    }
    return 0;
}

static weft_vectors *load_vectors(const char *prog, const char *path)
{
    char err[512];
    weft_vectors *v = weft_vectors_read(path, WEFT_VECTORS_AUTO, err, sizeof err);
    if (!v) fprintf(stderr, "%s: %s\n", prog, err);
    return v;
}

/* --- weft word2vec (training) ----------------------------------------------------------------- */

static int cmd_train(int argc, char **argv)
{
    const char *prog = "weft word2vec";
    const char *data = NULL, *save = NULL, *model = "skipgram", *loss = "ns", *format = "text";
    const char *write = "input";
    weft_word2vec_options o = weft_word2vec_defaults();
    int seed = 1;
    const weft_flag flags[] = {
        { "data", WEFT_FLAG_STRING, &data, "FILE", "training text (words; a line is a sentence)",
          0, 0 },
        { "save", WEFT_FLAG_STRING, &save, "VECTORS", "write the vectors here", 0, 0 },
        { "arch", WEFT_FLAG_STRING, &model, "skipgram|cbow", "the architecture", 0, 0 },
        { "loss", WEFT_FLAG_STRING, &loss, "NAME", "ns (negative sampling), hs (hierarchical "
          "softmax) or softmax", 0, 0 },
        { "dim", WEFT_FLAG_INT, &o.dim, "D", "vector size", 1, WEFT_VECTORS_MAX_DIM },
        { "window", WEFT_FLAG_INT, &o.window, "K", "largest window (each position draws 1..K)",
          1, 1000 },
        { "negative", WEFT_FLAG_INT, &o.negative, "K", "noise words a pair (ns)", 1, 63 },
        { "sample", WEFT_FLAG_FLOAT, &o.sample, "T", "subsampling threshold (0: none)", 0, 1 },
        { "min-count", WEFT_FLAG_INT, &o.min_count, "N", "drop words seen fewer times", 1,
          1 << 30 },
        { "epochs", WEFT_FLAG_INT, &o.epochs, "K", "passes over the text", 1, 100000 },
        { "lr", WEFT_FLAG_FLOAT, &o.lr, "LR", "starting learning rate (0: 0.025 skip-gram, "
          "0.05 CBOW); falls linearly to LR*1e-4", 0, 10 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "random seed", 0, 0 },
        { "exact-sigmoid", WEFT_FLAG_BOOL, &o.exact_sigmoid, NULL,
          "compute the sigmoid instead of reading word2vec's table", 0, 0 },
        { "cbow-sum", WEFT_FLAG_BOOL, &o.cbow_sum, NULL,
          "CBOW's input is the sum of the context vectors, not their mean", 0, 0 },
        { "format", WEFT_FLAG_STRING, &format, "F", "text or binary (word2vec's formats)", 0,
          0 },
        { "write", WEFT_FLAG_STRING, &write, "WHICH", "input, output or average vectors", 0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    weft_args_spec spec = {
        .prog = prog,
        .summary = "Train word vectors by skip-gram or CBOW (Mikolov et al. 2013), as word2vec "
                   "does.",
        .details = "Hogwild updates on --threads threads (one thread: the same vectors for a "
                   "seed every time).\nCtrl-C or SIGTERM stops training and saves the vectors "
                   "so far (exit status 1).\n'weft word2vec eval --help' evaluates vectors.",
        .groups = groups,
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    weft_vectors_format fmt;
    weft_w2v_which which;
    if (!data || !save) {
        fprintf(stderr, "%s: --data TEXT and --save VECTORS are required (see '%s --help')\n",
                prog, prog);
        return WEFT_EXIT_USAGE;
    }
    if (weft_w2v_model_parse(model, &o.model)) {
        fprintf(stderr, "%s: --arch is '%s'; it is skipgram or cbow\n", prog, model);
        return WEFT_EXIT_USAGE;
    }
    if (weft_w2v_loss_parse(loss, &o.loss)) {
        fprintf(stderr, "%s: --loss is '%s'; it is ns, hs or softmax\n", prog, loss);
        return WEFT_EXIT_USAGE;
    }
    if (parse_format(prog, format, &fmt) || fmt == WEFT_VECTORS_AUTO) return WEFT_EXIT_USAGE;
    if (weft_w2v_which_parse(write, &which)) {
        fprintf(stderr, "%s: --write is '%s'; it is input, output or average\n", prog, write);
        return WEFT_EXIT_USAGE;
    }
    if (which != WEFT_W2V_INPUT && o.loss == WEFT_W2V_HS) {
        fprintf(stderr, "%s: --write %s needs one output vector a word: --loss ns or softmax\n",
                prog, write);
        return WEFT_EXIT_USAGE;
    }
    o.seed = (uint64_t)(uint32_t)seed;
    o.threads = weft_num_threads();
    o.progress = weft_cli_quiet() ? NULL : stderr;
    o.stop = &stop_requested;

    char err[512];
    double t0 = now();
    weft_tokens t;
    if (weft_tokens_read(data, WEFT_TEXT_WORDS, &t, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return WEFT_EXIT_FAIL;
    }
    weft_word2vec *m = weft_word2vec_new(&t, &o, err, sizeof err);
    size_t tokens = t.count;
    weft_tokens_free(&t);
    if (!m) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return WEFT_EXIT_FAIL;
    }
    printf("data: %s, %zu tokens, %lld in the vocabulary of %d (min-count %d)\n", data, tokens,
           (long long)m->train_words, m->vocab_size, o.min_count);
    printf("model: %s, loss %s, dim %d, window %d, negative %d, sample %g, lr %g, epochs %d, "
           "threads %d, seed %d, sigmoid %s\n", weft_w2v_model_name(o.model),
           weft_w2v_loss_name(o.loss), o.dim, o.window, o.negative, o.sample, m->opt.lr,
           o.epochs, o.threads, seed, o.exact_sigmoid ? "exact" : "table");
    fflush(stdout);
    catch_signals();
    double t1 = now();
    rc = weft_word2vec_train(m, err, sizeof err);
    double t2 = now();
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, err);
        weft_word2vec_free(m);
        return WEFT_EXIT_FAIL;
    }
    double wps = (double)m->words_done / (t2 - t1);
    printf("trained: %lld words in %.2f s (reading %.2f s): %.0f words/s, %.0f words/s/thread\n",
           (long long)m->words_done, t2 - t1, t1 - t0, wps, wps / o.threads);
    int status = WEFT_EXIT_OK;
    if (m->interrupted) {
        fprintf(stderr, "%s: interrupted after %.1f%% of the training: saving the vectors so "
                "far\n", prog, 100.0 * (double)m->words_done / ((double)o.epochs * m->train_words));
        status = WEFT_EXIT_FAIL;
    }
    weft_vectors *v = weft_word2vec_vectors(m, which, err, sizeof err);
    weft_word2vec_free(m);
    if (!v || weft_vectors_write(v, save, fmt, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        weft_vectors_free(v);
        return WEFT_EXIT_FAIL;
    }
    printf("saved %s (%s, %s vectors, %d x %d)\n", save, format, write, v->count, v->dim);
    weft_vectors_free(v);
    return status;
}

/* --- weft word2vec eval ------------------------------------------------------------------------- */

static int cmd_eval(int argc, char **argv)
{
    const char *prog = "weft word2vec eval";
    const char *vectors = NULL, *analogies = NULL, *similarity = NULL, *method = "add";
    int top = 1, restrict_to = 30000;
    const weft_flag flags[] = {
        { "vectors", WEFT_FLAG_STRING, &vectors, "FILE", "a word2vec file (text or binary)", 0, 0 },
        { "analogies", WEFT_FLAG_STRING, &analogies, "FILE", "questions as word2vec's "
          "questions-words.txt", 0, 0 },
        { "top", WEFT_FLAG_INT, &top, "K", "a question is right when the answer is among the "
          "K best", 1, 100 },
        { "method", WEFT_FLAG_STRING, &method, "M", "add (3CosAdd) or mul (3CosMul)", 0, 0 },
        { "restrict", WEFT_FLAG_INT, &restrict_to, "N", "use the N first (most frequent) words "
          "only, as compute-accuracy's threshold (0: all)", 0, 1 << 30 },
        { "similarity", WEFT_FLAG_STRING, &similarity, "FILE", "word pairs with scores "
          "(WordSim-353 and the like): Spearman's rho", 0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    weft_args_spec spec = {
        .prog = prog,
        .summary = "Evaluate word vectors on analogy questions and word-similarity scores.",
        .details = "Analogies are scored as word2vec's compute-accuracy scores them: words "
                   "matched without case,\na question with a word outside the vocabulary "
                   "counted and skipped. The last line is\n'accuracy: X' (the fraction right "
                   "of the questions scored), or 'spearman: X' without --analogies.",
        .groups = groups,
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    weft_analogy_method meth;
    if (parse_method(prog, method, &meth)) return WEFT_EXIT_USAGE;
    if (!vectors || (!analogies && !similarity)) {
        fprintf(stderr, "%s: --vectors FILE and --analogies FILE or --similarity FILE are required "
                "(see '%s --help')\n", prog, prog);
        return WEFT_EXIT_USAGE;
    }
    weft_vectors *v = load_vectors(prog, vectors);
    if (!v) return WEFT_EXIT_FAIL;
    printf("vectors: %s, %d words of dimension %d\n", vectors, v->count, v->dim);
    char err[512];
    int status = WEFT_EXIT_OK;
    if (similarity) {
        weft_similarity_report s;
        if (weft_vectors_eval_similarity(v, similarity, &s, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            status = WEFT_EXIT_FAIL;
        } else {
            printf("similarity: %s, %d pairs, %d scored (%d with a word outside the "
                   "vocabulary)\n", similarity, s.total, s.seen, s.total - s.seen);
            printf("spearman: %.4f\n", s.spearman);
        }
    }
    if (analogies && status == WEFT_EXIT_OK) {
        weft_analogy_report r;
        double t0 = now();
        if (weft_vectors_eval_analogies(v, analogies, meth, restrict_to, top, &r, err,
                                        sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            status = WEFT_EXIT_FAIL;
        } else {
            printf("analogies: %s, %s, top %d, words restricted to the first %d\n", analogies,
                   meth == WEFT_3COSADD ? "3CosAdd" : "3CosMul", top,
                   restrict_to > 0 && restrict_to < v->count ? restrict_to : v->count);
            printf("%-28s %9s %9s %9s %8s\n", "section", "questions", "scored", "right",
                   "accuracy");
            for (int i = 0; i < r.n_sections; i++) {
                const weft_analogy_section *s = &r.section[i];
                printf("%-28s %9d %9d %9d %7.2f%%\n", s->name, s->total, s->seen, s->correct,
                       s->seen ? 100.0 * s->correct / s->seen : 0.0);
            }
            printf("%-28s %9s %9d %9d %7.2f%%\n", "semantic", "", r.semantic_seen,
                   r.semantic_correct,
                   r.semantic_seen ? 100.0 * r.semantic_correct / r.semantic_seen : 0.0);
            printf("%-28s %9s %9d %9d %7.2f%%\n", "syntactic", "", r.syntactic_seen,
                   r.syntactic_correct,
                   r.syntactic_seen ? 100.0 * r.syntactic_correct / r.syntactic_seen : 0.0);
            printf("questions: %d, scored %d (%.2f%%), skipped %d with a word outside the "
                   "vocabulary; %.2f s\n", r.total, r.seen, 100.0 * r.seen / r.total,
                   r.total - r.seen, now() - t0);
            printf("accuracy: %.4f\n", r.seen ? (double)r.correct / r.seen : 0.0);
        }
    }
    weft_vectors_free(v);
    return status;
}

int weft_cmd_word2vec(int argc, char **argv)
{
    static const weft_args_sub sub[] = {
        { "eval", "word2vec eval", cmd_eval },
        { "train", "word2vec train", cmd_train },
    };
    int status;
    if (weft_args_run_sub(argc, argv, sub, sizeof sub / sizeof sub[0], &status)) return status;
    return cmd_train(argc, argv);
}

/* --- weft neighbors ------------------------------------------------------------------------------ */

int weft_cmd_neighbors(int argc, char **argv)
{
    const char *prog = "weft neighbors";
    const char *vectors = NULL;
    int top = 10;
    const weft_flag flags[] = {
        { "vectors", WEFT_FLAG_STRING, &vectors, "FILE", "a word2vec file (text or binary)", 0, 0 },
        { "top", WEFT_FLAG_INT, &top, "K", "neighbours a word", 1, 1000 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    const char *pos[64];
    int n_pos = 0;
    weft_args_spec spec = {
        .prog = prog,
        .summary = "The nearest words by cosine similarity.",
        .groups = groups,
        .n_groups = 1,
        .positional = "WORD...",
        .max_positional = 64,
    };
    int rc = weft_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (!vectors || n_pos == 0) {
        fprintf(stderr, "%s: --vectors V and at least one WORD are required\n", prog);
        return WEFT_EXIT_USAGE;
    }
    weft_vectors *v = load_vectors(prog, vectors);
    if (!v) return WEFT_EXIT_FAIL;
    int *ids = malloc((size_t)top * sizeof *ids);
    float *sc = malloc((size_t)top * sizeof *sc);
    int status = ids && sc ? WEFT_EXIT_OK : WEFT_EXIT_FAIL;
    for (int i = 0; i < n_pos && ids && sc; i++) {
        int w = weft_vectors_find(v, pos[i]);
        if (w < 0) {
            fprintf(stderr, "%s: '%s' is not in %s\n", prog, pos[i], vectors);
            status = WEFT_EXIT_FAIL;
            continue;
        }
        int n = weft_vectors_nearest(v, v->unit + (size_t)w * v->dim, &w, 1, 0, top, ids, sc);
        printf("%s:", pos[i]);
        for (int k = 0; k < n; k++)
            printf(" %s (%.3f)%s", weft_vocab_token(v->words, ids[k]), sc[k], k + 1 < n ? "," : "");
        printf("\n");
    }
    free(ids);
    free(sc);
    weft_vectors_free(v);
    return status;
}

/* --- weft analogy -------------------------------------------------------------------------------- */

int weft_cmd_analogy(int argc, char **argv)
{
    const char *prog = "weft analogy";
    const char *vectors = NULL, *method = "add";
    int top = 5;
    const weft_flag flags[] = {
        { "vectors", WEFT_FLAG_STRING, &vectors, "FILE", "a word2vec file (text or binary)", 0, 0 },
        { "top", WEFT_FLAG_INT, &top, "K", "answers to show", 1, 1000 },
        { "method", WEFT_FLAG_STRING, &method, "M", "add (3CosAdd) or mul (3CosMul)", 0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    const char *pos[3];
    int n_pos = 0;
    weft_args_spec spec = {
        .prog = prog,
        .summary = "Answer 'A is to B as C is to ?' with word vectors.",
        .groups = groups,
        .n_groups = 1,
        .positional = "A B C",
        .max_positional = 3,
    };
    int rc = weft_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    weft_analogy_method meth;
    if (parse_method(prog, method, &meth)) return WEFT_EXIT_USAGE;
    if (!vectors || n_pos != 3) {
        fprintf(stderr, "%s: --vectors V and three words A B C are required\n", prog);
        return WEFT_EXIT_USAGE;
    }
    weft_vectors *v = load_vectors(prog, vectors);
    if (!v) return WEFT_EXIT_FAIL;
    int w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = weft_vectors_find(v, pos[i]);
        if (w[i] < 0) {
            fprintf(stderr, "%s: '%s' is not in %s\n", prog, pos[i], vectors);
            weft_vectors_free(v);
            return WEFT_EXIT_FAIL;
        }
    }
    int *ids = malloc((size_t)top * sizeof *ids);
    float *sc = malloc((size_t)top * sizeof *sc);
    int status = WEFT_EXIT_FAIL;
    if (ids && sc) {
        int n = weft_vectors_analogy(v, w[0], w[1], w[2], meth, 0, top, ids, sc);
        printf("%s : %s :: %s : ?  (%s)\n", pos[0], pos[1], pos[2],
               meth == WEFT_3COSADD ? "3CosAdd" : "3CosMul");
        for (int k = 0; k < n; k++)
            printf("%2d. %s %.4f\n", k + 1, weft_vocab_token(v->words, ids[k]), sc[k]);
        status = WEFT_EXIT_OK;
    }
    free(ids);
    free(sc);
    weft_vectors_free(v);
    return status;
}
