/* src/cli/cmd_ngram.c — the Kneser-Ney n-gram baseline from the command line.
 *
 *     weft ngram train  --order N --data TRAIN [--valid VALID] [--context stream|sentence]
 *                       [--save MODEL]
 *     weft ngram eval   --model MODEL --data FILE        (last line: perplexity: X)
 *     weft ngram sample --model MODEL [--prime TEXT] [--tokens N] [--temperature T]
 *                       [--top-k K] [--seed S]
 *
 * weft_cli_ngram_train / _eval / _sample take the arguments of `weft train`,
 * `weft eval` and `weft sample` (argv[0] is the command's name, shown in
 * messages and help) and accept --task ngram, so those commands can hand
 * `--task ngram` or an n-gram model file (weft_ngram_file_is_arpa) straight
 * to them. Models are ARPA files (weft/ngram.h).
 */
#include "src/cli/cli.h"

#include "weft/data.h"
#include "weft/ngram.h"
#include "weft/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident memory of the process so far, in MiB. */
static double peak_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_maxrss / 1024.0;   /* ru_maxrss is in KiB on Linux */
}

/* "weft train" from argv[0] = "train" (or "ngram train"). */
static void prog_name(char *buf, size_t n, char **argv)
{
    snprintf(buf, n, "weft %s", argv[0]);
}

/* --task, when given, must be ngram. */
static int check_task(const char *prog, const char *task)
{
    if (task && strcmp(task, "ngram") != 0) {
        fprintf(stderr, "%s: --task is '%s'; this command handles --task ngram\n", prog, task);
        return -1;
    }
    return 0;
}

/* Read a word-level file and map it to the vocabulary's ids (words missing
 * from it become <unk>, or are an error when it has none). */
static int *read_ids(const char *prog, const char *path, const weft_vocab *v, size_t *n)
{
    char err[512];
    weft_tokens t;
    if (weft_tokens_read(path, WEFT_TEXT_WORDS, &t, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return NULL;
    }
    int *ids = weft_tokens_encode(&t, v, err, sizeof err);
    if (!ids) fprintf(stderr, "%s: %s\n", prog, err);
    *n = t.count;
    weft_tokens_free(&t);
    return ids;
}

static int print_perplexity(const char *prog, const char *what, const weft_ngram *m,
                            const int *ids, size_t n)
{
    char err[512];
    weft_ngram_score s;
    if (weft_ngram_perplexity(m, ids, n, &s, err, sizeof err)) {
        fprintf(stderr, "%s: %s: %s\n", prog, what, err);
        return -1;
    }
    printf("%s: %zu tokens scored, cross-entropy %.4f nats/token\n", what, s.tokens,
           -s.logprob / (double)s.tokens);
    printf("%s perplexity: %.2f\n", what, s.perplexity);
    return 0;
}

int weft_cli_ngram_train(int argc, char **argv)
{
    char prog[64];
    prog_name(prog, sizeof prog, argv);
    const char *task = NULL, *data = NULL, *valid = NULL, *save = NULL, *context = "stream";
    const char *level = "word";
    int order = 5;
    const weft_flag flags[] = {
        { "task", WEFT_FLAG_STRING, &task, "ngram", "the model to train (here: ngram)", 0, 0 },
        { "order", WEFT_FLAG_INT, &order, "N", "n-gram order", 1, WEFT_NGRAM_MAX_ORDER },
        { "data", WEFT_FLAG_STRING, &data, "FILE", "training text (words, <eos> at line ends)",
          0, 0 },
        { "valid", WEFT_FLAG_STRING, &valid, "FILE", "validation text: report its perplexity",
          0, 0 },
        { "context", WEFT_FLAG_STRING, &context, "MODE", "stream: contexts cross <eos>; "
          "sentence: they stop at it", 0, 0 },
        { "level", WEFT_FLAG_STRING, &level, "word", "token level (n-gram models: word)", 0, 0 },
        { "save", WEFT_FLAG_STRING, &save, "MODEL", "write the model here (ARPA text)", 0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    weft_args_spec spec = {
        .prog = prog,
        .summary = "Train an interpolated modified Kneser-Ney n-gram language model "
                   "(Chen & Goodman 1998).",
        .details = "The vocabulary is every word of the training text (<unk> included when "
                   "the text has it).\nWords of --valid missing from it become <unk>.",
        .groups = groups,
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (check_task(prog, task)) return WEFT_EXIT_USAGE;
    if (!data) {
        fprintf(stderr, "%s: --data FILE is required (see '%s --help')\n", prog, prog);
        return WEFT_EXIT_USAGE;
    }
    if (strcmp(context, "stream") != 0 && strcmp(context, "sentence") != 0) {
        fprintf(stderr, "%s: --context is '%s'; it is stream or sentence\n", prog, context);
        return WEFT_EXIT_USAGE;
    }
    if (strcmp(level, "word") != 0) {
        fprintf(stderr, "%s: --level is '%s'; n-gram models are word-level\n", prog, level);
        return WEFT_EXIT_USAGE;
    }

    char err[512];
    double t0 = now();
    weft_tokens t;
    if (weft_tokens_read(data, WEFT_TEXT_WORDS, &t, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return WEFT_EXIT_FAIL;
    }
    weft_vocab *vocab = weft_vocab_build(&t, 1, 0, err, sizeof err);
    int *ids = vocab ? weft_tokens_encode(&t, vocab, err, sizeof err) : NULL;
    size_t n = t.count;
    weft_tokens_free(&t);
    if (!ids) {
        fprintf(stderr, "%s: %s\n", prog, err);
        weft_vocab_free(vocab);
        return WEFT_EXIT_FAIL;
    }
    printf("data: %s, %zu tokens, vocabulary %d\n", data, n, weft_vocab_size(vocab));

    weft_ngram_options opt = { .order = order, .sentences = strcmp(context, "sentence") == 0 };
    double t1 = now();
    weft_ngram *m = weft_ngram_train(ids, n, vocab, &opt, err, sizeof err);
    double t2 = now();
    free(ids);
    weft_vocab_free(vocab);
    if (!m) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return WEFT_EXIT_FAIL;
    }
    for (int k = 1; k <= order; k++) {
        double d[3];
        weft_ngram_discounts_of(m, k, d);
        printf("order %d: %9zu n-grams, discounts D1 %.4f D2 %.4f D3+ %.4f\n", k,
               weft_ngram_count(m, k), d[0], d[1], d[2]);
    }
    printf("trained: order %d, %s context, in %.2f s (reading %.2f s), peak memory %.0f MiB\n",
           order, context, t2 - t1, t1 - t0, peak_mib());

    int status = WEFT_EXIT_OK;
    if (valid) {
        size_t nv;
        int *vids = read_ids(prog, valid, weft_ngram_vocab(m), &nv);
        if (!vids || print_perplexity(prog, "valid", m, vids, nv)) status = WEFT_EXIT_FAIL;
        free(vids);
    }
    if (status == WEFT_EXIT_OK && save) {
        double t3 = now();
        if (weft_ngram_save(m, save, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            status = WEFT_EXIT_FAIL;
        } else {
            printf("saved %s (ARPA) in %.2f s\n", save, now() - t3);
        }
    }
    weft_ngram_free(m);
    return status;
}

/* Load a model, or print why not. */
static weft_ngram *load_model(const char *prog, const char *path)
{
    char err[512];
    weft_ngram *m = weft_ngram_load(path, err, sizeof err);
    if (!m) fprintf(stderr, "%s: %s\n", prog, err);
    return m;
}

int weft_cli_ngram_eval(int argc, char **argv)
{
    char prog[64];
    prog_name(prog, sizeof prog, argv);
    const char *task = NULL, *model = NULL, *data = NULL;
    const weft_flag flags[] = {
        { "task", WEFT_FLAG_STRING, &task, "ngram", "the model's kind (here: ngram)", 0, 0 },
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "an n-gram model (ARPA file)", 0, 0 },
        { "data", WEFT_FLAG_STRING, &data, "FILE", "text to score (words, <eos> at line ends)",
          0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    weft_args_spec spec = {
        .prog = prog,
        .summary = "Perplexity of an n-gram model on a text.",
        .details = "The whole file is one stream; every token after the first is scored given "
                   "the tokens before it,\nas for the neural models. The last line is "
                   "'perplexity: X'.",
        .groups = groups,
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (check_task(prog, task)) return WEFT_EXIT_USAGE;
    if (!model || !data) {
        fprintf(stderr, "%s: --model MODEL and --data FILE are required (see '%s --help')\n",
                prog, prog);
        return WEFT_EXIT_USAGE;
    }
    weft_ngram *m = load_model(prog, model);
    if (!m) return WEFT_EXIT_FAIL;
    printf("model: %s, order %d, %s context, vocabulary %d\n", model, weft_ngram_order(m),
           weft_ngram_sentences(m) ? "sentence" : "stream", weft_vocab_size(weft_ngram_vocab(m)));
    size_t n;
    int *ids = read_ids(prog, data, weft_ngram_vocab(m), &n);
    char err[512];
    weft_ngram_score s;
    int status = WEFT_EXIT_FAIL;
    if (ids && weft_ngram_perplexity(m, ids, n, &s, err, sizeof err) == 0) {
        printf("data: %s, %zu tokens, %zu scored\n", data, n, s.tokens);
        printf("cross-entropy: %.4f nats/token\n", -s.logprob / (double)s.tokens);
        printf("perplexity: %.2f\n", s.perplexity);
        status = WEFT_EXIT_OK;
    } else if (ids) {
        fprintf(stderr, "%s: %s: %s\n", prog, data, err);
    }
    free(ids);
    weft_ngram_free(m);
    return status;
}

int weft_cli_ngram_sample(int argc, char **argv)
{
    char prog[64];
    prog_name(prog, sizeof prog, argv);
    const char *task = NULL, *model = NULL, *prime = NULL;
    int length = 100, top_k = 0, seed = 1;
    float temperature = 1.0f;
    const weft_flag flags[] = {
        { "task", WEFT_FLAG_STRING, &task, "ngram", "the model's kind (here: ngram)", 0, 0 },
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "an n-gram model (ARPA file)", 0, 0 },
        { "prime", WEFT_FLAG_STRING, &prime, "TEXT", "words to start from (default: the start "
          "of a sentence)", 0, 0 },
        { "tokens", WEFT_FLAG_INT, &length, "N", "tokens to generate", 0, 10000000 },
        { "temperature", WEFT_FLAG_FLOAT, &temperature, "T", "sharpen (< 1) or flatten (> 1)",
          1e-3, 1e3 },
        { "top-k", WEFT_FLAG_INT, &top_k, "K", "draw from the K most likely tokens only (0: all)",
          0, 1 << 30 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "random seed", 0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    weft_args_spec spec = {
        .prog = prog,
        .summary = "Generate text from an n-gram model.",
        .details = "Words are written separated by spaces; <eos> ends a line.",
        .groups = groups,
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (check_task(prog, task)) return WEFT_EXIT_USAGE;
    if (!model) {
        fprintf(stderr, "%s: --model MODEL is required (see '%s --help')\n", prog, prog);
        return WEFT_EXIT_USAGE;
    }
    weft_ngram *m = load_model(prog, model);
    if (!m) return WEFT_EXIT_FAIL;
    const weft_vocab *v = weft_ngram_vocab(m);
    int eos = weft_vocab_find(v, WEFT_EOS, strlen(WEFT_EOS));

    /* the context: the prime's words (no <eos> added after its last line
     * unless it ends with a newline), else <eos>, the start of a sentence */
    size_t n = 0, cap = (size_t)length + 16;
    int *ctx = NULL;
    char err[512];
    if (prime && prime[0]) {
        weft_tokens t;
        if (weft_tokens_from_string(prime, strlen(prime), "--prime", WEFT_TEXT_WORDS, &t, err,
                                    sizeof err) == 0) {
            ctx = weft_tokens_encode(&t, v, err, sizeof err);
            n = t.count;
            if (ctx && prime[strlen(prime) - 1] != '\n') n--;
            weft_tokens_free(&t);
        }
        if (!ctx) {
            fprintf(stderr, "%s: %s\n", prog, err);
            weft_ngram_free(m);
            return WEFT_EXIT_USAGE;
        }
        cap += n;
        int *c = realloc(ctx, cap * sizeof *c);
        if (!c) goto oom;
        ctx = c;
    } else {
        ctx = malloc(cap * sizeof *ctx);
        if (!ctx) goto oom;
        if (eos >= 0) ctx[n++] = eos;
    }
    /* echo the prime, then the generated words */
    for (size_t i = 0; prime && prime[0] && i < n; i++) {
        if (ctx[i] == eos) printf("\n");
        else printf("%s ", weft_vocab_token(v, ctx[i]));
    }
    weft_rng rng;
    weft_rng_seed(&rng, (uint64_t)(uint32_t)seed);
    for (int k = 0; k < length; k++) {
        int w = weft_ngram_sample(m, ctx, n, temperature, top_k, &rng);
        ctx[n++] = w;
        if (w == eos) printf("\n");
        else printf("%s ", weft_vocab_token(v, w));
    }
    if (n == 0 || ctx[n - 1] != eos) printf("\n");
    free(ctx);
    weft_ngram_free(m);
    return WEFT_EXIT_OK;
oom:
    fprintf(stderr, "%s: out of memory\n", prog);
    free(ctx);
    weft_ngram_free(m);
    return WEFT_EXIT_FAIL;
}

int weft_cmd_ngram(int argc, char **argv)
{
    static const weft_args_sub sub[] = {
        { "train", "ngram train", weft_cli_ngram_train },
        { "eval", "ngram eval", weft_cli_ngram_eval },
        { "sample", "ngram sample", weft_cli_ngram_sample },
    };
    int status;
    if (weft_args_run_sub(argc, argv, sub, sizeof sub / sizeof sub[0], &status)) return status;
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *out = help ? stdout : stderr;
    fprintf(out, "usage: weft ngram train|eval|sample [options]\n\n"
                 "Kneser-Ney n-gram language models (interpolated, modified; orders 1-%d).\n"
                 "  train   count a text and save the model as an ARPA file\n"
                 "  eval    perplexity of a model on a text\n"
                 "  sample  generate text from a model\n"
                 "'weft ngram COMMAND --help' describes a command. The same commands are\n"
                 "'weft train --task ngram', 'weft eval' and 'weft sample' on an n-gram model.\n",
            WEFT_NGRAM_MAX_ORDER);
    if (help) return WEFT_EXIT_OK;
    if (argc >= 2) fprintf(stderr, "\nweft ngram: unknown command '%s'\n", argv[1]);
    return WEFT_EXIT_USAGE;
}
