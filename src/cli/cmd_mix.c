/* src/cli/cmd_mix.c — linear interpolation of language models (weft/mixture.h):
 *
 *     weft mix --model A,B[,...] --data VALID [--weights W,W,...] [--test TEST]
 *
 * Scores --data with every model token by token, tunes the mixture's weights
 * on it by EM (or takes --weights as given), and prints each model's
 * perplexity, the weights and the mixture's perplexity; with --test, the same
 * on that text with the weights from --data. */
#include "src/cli/cli.h"

#include "weft/mixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 8

/* Split a comma-separated list in place (s is a copy). Returns the count, or
 * -1 when there are more than max. */
static int split(char *s, char **parts, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return -1;
        parts[n++] = tok;
    }
    return n;
}

/* Score `text` with every model; lp[k] malloc'd. Returns the token count, or 0. */
static size_t score_all(char **models, int k, const char *text, double **lp)
{
    size_t n = 0;
    for (int j = 0; j < k; j++) {
        char err[1024];
        size_t c;
        if (weft_lm_file_logprobs(models[j], text, &lp[j], &c, err, sizeof err)) {
            fprintf(stderr, "weft mix: %s\n", err);
            return 0;
        }
        if (j > 0 && c != n) {
            fprintf(stderr, "weft mix: %s scores %zu tokens of %s and %s %zu: the models split "
                    "the text differently (a word model and a character model?)\n", models[j],
                    c, text, models[0], n);
            return 0;
        }
        n = c;
    }
    return n;
}

static void report(const char *what, const char *text, char **models, int k,
                   const double *const *lp, const double *w, size_t n)
{
    printf("%s: %s, %zu tokens scored\n", what, text, n);
    for (int j = 0; j < k; j++) {
        double one[MAX_MODELS] = { 0 };
        one[j] = 1.0;
        printf("  %-40s weight %.4f  perplexity %.2f\n", models[j], w[j],
               exp(weft_mixture_nll(lp, one, k, n) / (double)n));
    }
    printf("mixture perplexity: %.2f\n", exp(weft_mixture_nll(lp, w, k, n) / (double)n));
}

int weft_cmd_mix(int argc, char **argv)
{
    const char *model_list = NULL, *data = NULL, *weights = NULL, *test = NULL;
    int max_iter = 100;
    const weft_flag flags[] = {
        { "model", WEFT_FLAG_STRING, &model_list, "MODEL[,MODEL...]",
          "the models to mix (ARPA n-gram, window-lm or recurrent checkpoints), 2 to 8", 0, 0 },
        { "data", WEFT_FLAG_STRING, &data, "FILE",
          "the text to tune the weights on (held-out: the validation text)", 0, 0 },
        { "weights", WEFT_FLAG_STRING, &weights, "W[,W...]",
          "the weights, one a model, summing to 1 (default: tuned on --data by EM)", 0, 0 },
        { "test", WEFT_FLAG_STRING, &test, "FILE",
          "a text scored at the end with the weights from --data", 0, 0 },
        { "max-iter", WEFT_FLAG_INT, &max_iter, "N", "EM steps at most", 1, 1e6 },
    };
    const weft_flag_group groups[] = { { "mix", flags, (int)(sizeof flags / sizeof flags[0]) } };
    weft_args_spec spec = {
        .prog = "weft mix",
        .summary = "Interpolate language models: P = sum_k w_k P_k, the weights tuned on "
                   "held-out text (see docs/lm.md).",
        .details = "example (Penn Treebank, KN5 and a window model):\n"
                   "  weft mix --model kn5.arpa,window.safetensors --data ptb.valid.txt",
        .groups = groups,
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (!model_list || !data) {
        fprintf(stderr, "weft mix: --model and --data are required (weft mix --help)\n");
        return WEFT_EXIT_USAGE;
    }
    char *mcopy = strdup(model_list), *wcopy = weights ? strdup(weights) : NULL;
    char *models[MAX_MODELS], *wparts[MAX_MODELS];
    double *lp[MAX_MODELS] = { 0 }, *tlp[MAX_MODELS] = { 0 }, w[MAX_MODELS];
    int status = WEFT_EXIT_USAGE, k = mcopy ? split(mcopy, models, MAX_MODELS) : -1;
    if (k < 2) {
        fprintf(stderr, "weft mix: --model '%s': give 2 to %d model files, comma-separated\n",
                model_list, MAX_MODELS);
        goto done;
    }
    if (weights) {
        int nw = wcopy ? split(wcopy, wparts, MAX_MODELS) : -1;
        double sum = 0.0;
        bool ok = nw == k;
        for (int j = 0; ok && j < k; j++) {
            char *end;
            w[j] = strtod(wparts[j], &end);
            ok = *end == '\0' && end != wparts[j] && w[j] >= 0.0 && w[j] <= 1.0;
            sum += w[j];
        }
        if (!ok || fabs(sum - 1.0) > 1e-6) {
            fprintf(stderr, "weft mix: --weights '%s': give %d numbers in [0, 1] summing to 1, "
                    "one a model\n", weights, k);
            goto done;
        }
    }
    status = WEFT_EXIT_FAIL;
    size_t n = score_all(models, k, data, lp);
    if (!n) goto done;
    if (!weights) {
        for (int j = 0; j < k; j++) w[j] = 1.0 / k;
        int steps = weft_mixture_tune((const double *const *)lp, k, n, w, max_iter, 1e-4);
        printf("weights tuned on %s by EM in %d steps\n", data, steps);
    }
    report("data", data, models, k, (const double *const *)lp, w, n);
    if (test) {
        size_t nt = score_all(models, k, test, tlp);
        if (!nt) goto done;
        report("test", test, models, k, (const double *const *)tlp, w, nt);
    }
    status = WEFT_EXIT_OK;
done:
    for (int j = 0; j < MAX_MODELS; j++) {
        free(lp[j]);
        free(tlp[j]);
    }
    free(mcopy);
    free(wcopy);
    return status;
}
