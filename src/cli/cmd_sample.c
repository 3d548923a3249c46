/* src/cli/cmd_sample.c — `weft sample`: text from a language model.
 *
 *     weft sample --model MODEL [--prime TEXT] [--length N] [--temperature T]
 *                 [--top-k K] [--seed S]
 *
 * Prints the prime (when given) and then N generated tokens: words joined by
 * spaces with <eos> as a newline, characters as they are. */
#include "cli.h"

#include "weft/lm.h"
#include "weft/ngram.h"
#include "weft/window_lm.h"

#include <stdlib.h>
#include <string.h>

int weft_cmd_sample(int argc, char **argv)
{
    const char *task = weft_args_peek(argc, argv, "task"), *file = weft_args_peek(argc, argv, "model");
    if ((task && strcmp(task, "ngram") == 0) || (file && weft_ngram_file_is_arpa(file)))
        return weft_cli_ngram_sample(argc, argv);
    if ((task && strcmp(task, "window-lm") == 0) || (file && weft_window_lm_file_is(file)))
        return weft_cli_window_lm_sample(argc, argv);
    const char *model = NULL, *prime = "";
    int length = 200, top_k = 0, seed = 1;
    float temperature = 1.0f;
    const weft_flag flags[] = {
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "a model saved by weft train (required)",
          0, 0 },
        { "prime", WEFT_FLAG_STRING, &prime, "TEXT", "text the model reads first (printed)", 0,
          0 },
        { "length", WEFT_FLAG_INT, &length, "N", "tokens to generate", 0, 1 << 24 },
        { "temperature", WEFT_FLAG_FLOAT, &temperature, "T",
          "divide the logits by T (lower: safer; 0: always the most likely)", 0, 100 },
        { "top-k", WEFT_FLAG_INT, &top_k, "K", "draw among the K most likely only (0: all)", 0,
          1 << 24 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "random seed: the same seed, the same text", 0,
          2147483647 },
    };
    weft_args_spec spec = {
        .prog = "weft sample",
        .summary = "Generate text with a language model.",
        .groups = &(weft_flag_group){ "options", flags, 6 },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (!model) {
        fprintf(stderr, "weft sample: --model MODEL is required\n");
        return WEFT_EXIT_USAGE;
    }

    char err[1024];
    weft_lm *m = weft_lm_load(model, err, sizeof err);
    if (!m) {
        fprintf(stderr, "weft sample: %s\n", err);
        return WEFT_EXIT_FAIL;
    }
    int status = WEFT_EXIT_FAIL;
    int *prime_ids = NULL, n_prime = 0;
    int *out = malloc((size_t)(length > 0 ? length : 1) * sizeof *out);
    weft_graph *g = weft_graph_new();
    if (!out || !g) {
        fprintf(stderr, "weft sample: out of memory\n");
        goto done;
    }
    if (weft_lm_encode_text(m, prime, &prime_ids, &n_prime, err, sizeof err)) {
        fprintf(stderr, "weft sample: --prime: %s (model %s)\n", err, model);
        goto done;
    }
    weft_lm_sample_opts o = { .prime = prime_ids, .n_prime = n_prime, .length = length,
                              .temperature = temperature, .top_k = top_k,
                              .seed = (uint64_t)seed };
    if (weft_lm_sample(m, g, &o, out, err, sizeof err)) {
        fprintf(stderr, "weft sample: %s\n", err);
        goto done;
    }
    size_t plen = strlen(prime);
    fputs(prime, stdout);
    bool after_newline = plen == 0 || prime[plen - 1] == '\n';
    if (weft_lm_write_text(m, out, length, after_newline, stdout)) {
        fprintf(stderr, "weft sample: cannot write the text\n");
        goto done;
    }
    /* end with a newline unless the text did */
    if (length > 0) {
        const char *last = weft_vocab_token(m->vocab, out[length - 1]);
        bool nl = last && (strcmp(last, "\n") == 0 || strcmp(last, WEFT_EOS) == 0);
        if (!nl) putchar('\n');
    }
    status = fflush(stdout) == 0 ? WEFT_EXIT_OK : WEFT_EXIT_FAIL;
done:
    weft_graph_free(g);
    free(out);
    free(prime_ids);
    weft_lm_free(m);
    return status;
}
