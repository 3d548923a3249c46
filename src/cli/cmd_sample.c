/* src/cli/cmd_sample.c — `weft sample`: text from a language model.
 *
 *     weft sample --model MODEL [--prime TEXT] [--tokens N] [--temperature T]
 *                 [--top-k K] [--top-p P] [--seed S] [--batch B]
 *
 * Prints the prime (when given) and then N generated tokens: words joined by
 * spaces with <eos> as a newline, characters as they are. With --batch B,
 * B texts generated together, each after a line "# sample b (seed S+b)". */
#include "src/cli/cli.h"
#include "src/cli/lm_common.h"

#include "weft/lm.h"
#include "weft/ngram.h"
#include "weft/window_lm.h"

#include <stdlib.h>
#include <string.h>

static int lm_encode(const void *m, const char *text, int **ids, int *n, char *err,
                     size_t errsize)
{
    return weft_lm_encode_text(m, text, ids, n, err, errsize);
}

static int lm_sample(void *m, weft_graph *g, const weft_lm_sample_opts *o, int *out, char *err,
                     size_t errsize)
{
    return weft_lm_sample(m, g, o, out, err, errsize);
}

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
    weft_cli_sampler s = { m, m->vocab, m->cfg.level, lm_encode, lm_sample };
    int status = weft_cli_sample_text(&s, &a);
    weft_lm_free(m);
    return status;
}
