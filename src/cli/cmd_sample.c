/* src/cli/cmd_sample.c — `weft sample`: text from a language model.
 *
 *     weft sample --model MODEL [--prime TEXT] [--length N] [--temperature T]
 *                 [--top-k K] [--seed S]
 *
 * Prints the prime (when given) and then N generated tokens: words joined by
 * spaces with <eos> as a newline, characters as they are. */
#include "cli.h"
#include "lm_common.h"

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
    weft_cli_sample_args a;
    weft_flag flags[WEFT_CLI_SAMPLE_FLAGS];
    weft_cli_sample_flags(&a, flags);
    weft_args_spec spec = {
        .prog = "weft sample",
        .summary = "Generate text with a language model.",
        .groups = &(weft_flag_group){ "options", flags, WEFT_CLI_SAMPLE_FLAGS },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (!a.model) {
        fprintf(stderr, "weft sample: --model MODEL is required\n");
        return WEFT_EXIT_USAGE;
    }

    char err[1024];
    weft_lm *m = weft_lm_load(a.model, err, sizeof err);
    if (!m) {
        fprintf(stderr, "weft sample: %s\n", err);
        return WEFT_EXIT_FAIL;
    }
    int status = WEFT_EXIT_FAIL;
    int *prime_ids = NULL, n_prime = 0;
    int *out = malloc((size_t)(a.length > 0 ? a.length : 1) * sizeof *out);
    weft_graph *g = weft_graph_new();
    if (!out || !g) {
        fprintf(stderr, "weft sample: out of memory\n");
        goto done;
    }
    if (weft_lm_encode_text(m, a.prime, &prime_ids, &n_prime, err, sizeof err)) {
        fprintf(stderr, "weft sample: --prime: %s (model %s)\n", err, a.model);
        goto done;
    }
    weft_lm_sample_opts o = { .prime = prime_ids, .n_prime = n_prime, .length = a.length,
                              .temperature = a.temperature, .top_k = a.top_k,
                              .seed = (uint64_t)a.seed };
    if (weft_lm_sample(m, g, &o, out, err, sizeof err)) {
        fprintf(stderr, "weft sample: %s\n", err);
        goto done;
    }
    status = weft_cli_print_sample(m->vocab, m->cfg.level, a.prime, out, a.length);
done:
    weft_graph_free(g);
    free(out);
    free(prime_ids);
    weft_lm_free(m);
    return status;
}
