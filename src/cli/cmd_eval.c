/* src/cli/cmd_eval.c — `weft eval`: the perplexity of a language model on a text.
 *
 *     weft eval --model MODEL --data FILE
 *
 * The whole file is one stream, read with batch 1 and the state carried
 * throughout: every token after the first is scored (inputs t[0..n-2],
 * targets t[1..n-1]), as PyTorch users compute it. The last line printed is
 * `perplexity: X`. */
#include "src/cli/cli.h"
#include "src/cli/lm_common.h"

#include "weft/lm.h"
#include "weft/ngram.h"
#include "weft/classify.h"
#include "weft/window_lm.h"

#include <stdlib.h>
#include <string.h>

int weft_cmd_eval(int argc, char **argv)
{
    const char *task = weft_args_peek(argc, argv, "task"), *file = weft_args_peek(argc, argv, "model");
    if ((task && strcmp(task, "ngram") == 0) || (file && weft_ngram_file_is_arpa(file)))
        return weft_cli_ngram_eval(argc, argv);
    if ((task && strcmp(task, "window-lm") == 0) || (file && weft_window_lm_file_is(file)))
        return weft_cli_window_lm_eval(argc, argv);
    if ((task && strcmp(task, "seq2seq") == 0) || (file && weft_cli_seq2seq_file_is(file)))
        return weft_cli_seq2seq_eval(argc, argv);
    if (file && weft_classify_file_is(file)) return weft_cli_classify_eval(argc, argv);
    const char *model = NULL, *data = NULL;
    int batch = 1, bptt = 128;
    const weft_flag flags[] = {
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "a model saved by weft train (required)",
          0, 0 },
        { "data", WEFT_FLAG_STRING, &data, "FILE", "the text to score (required)", 0, 0 },
        { "batch", WEFT_FLAG_INT, &batch, "B",
          "score as B parallel streams (1: the whole file as one stream)", 1, 1 << 20 },
        { "bptt", WEFT_FLAG_INT, &bptt, "T",
          "steps run at once (the state is carried: only speed changes)", 1, 1 << 20 },
    };
    weft_args_spec spec = {
        .prog = "weft eval",
        .summary = "Evaluate a language model on a text file; the last line is 'perplexity: X'.",
        .groups = &(weft_flag_group){ "options", flags, 4 },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (!model || !data) {
        fprintf(stderr, "weft eval: --%s is required\n", !model ? "model MODEL" : "data FILE");
        return WEFT_EXIT_USAGE;
    }

    char err[1024];
    weft_lm *m = weft_lm_load(model, err, sizeof err);
    if (!m) {
        fprintf(stderr, "weft eval: %s\n", err);
        return WEFT_EXIT_FAIL;
    }
    int status = WEFT_EXIT_FAIL;
    weft_tokens t = { 0 };
    int *ids = NULL;
    weft_graph *g = NULL;
    if (weft_tokens_read(data, m->cfg.level, &t, err, sizeof err)) {
        fprintf(stderr, "weft eval: %s\n", err);
        goto done;
    }
    if (!(ids = weft_tokens_encode(&t, m->vocab, err, sizeof err))) {
        fprintf(stderr, "weft eval: %s: %s (model %s)\n", data, err, model);
        goto done;
    }
    if (!(g = weft_graph_new())) {
        fprintf(stderr, "weft eval: out of memory\n");
        goto done;
    }
    double t0 = weft_cli_now();
    double nll;
    size_t count;
    if (weft_lm_eval(m, g, ids, t.count, batch, bptt, &nll, &count, err, sizeof err)) {
        fprintf(stderr, "weft eval: %s: %s\n", data, err);
        goto done;
    }
    double secs = weft_cli_now() - t0;
    printf("model: %s (%s %s, %d x %d, %d tokens in the vocabulary)\n", model,
           weft_text_level_name(m->cfg.level), m->cfg.cell, m->cfg.layers, m->cfg.hidden,
           m->vocab_size);
    weft_cli_print_eval(data, ids, t.count, m->vocab, count, secs, nll);
    status = WEFT_EXIT_OK;
done:
    weft_graph_free(g);
    free(ids);
    weft_tokens_free(&t);
    weft_lm_free(m);
    return status;
}
