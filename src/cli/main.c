/* src/cli/main.c — the `weft` command: global flags and subcommand dispatch.
 *
 *     weft [--quiet] [--threads N] [--allow-plugin FILE.so] COMMAND [options]
 *
 * Adding a subcommand: write src/cli/cmd_<name>.c with
 * int weft_cmd_<name>(int argc, char **argv), declare it in cli.h, add a row
 * to `commands` below and the file to src/cli/meson.build. */
#include "src/cli/cli.h"

#include "weft/cell.h"
#include "weft/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the registry ------------------------------------------------------------------------- */

static const weft_cli_command commands[] = {
    { "ops", "list every op (name, drawing label, gradient-check examples)", weft_cmd_ops },
    { "gradcheck", "check ops' gradients against finite differences", weft_cmd_gradcheck },
    { "info", "show the version, threads, BLIS and build configuration", weft_cmd_info },
    { "train", "train a language model, classifier or tagger", weft_cmd_train },
    { "eval", "score a model: perplexity, or accuracy for a classifier or tagger",
      weft_cmd_eval },
    { "sample", "generate text with a language model", weft_cmd_sample },
    { "predict", "label text with a classifier or tagger", weft_cmd_predict },
    { "translate", "translate standard input with an encoder-decoder (greedy or beam search)",
      weft_cmd_translate },
    { "ngram", "Kneser-Ney n-gram language models: train, eval, sample", weft_cmd_ngram },
    { "mix", "interpolate language models, the weights tuned on held-out text", weft_cmd_mix },
    { "cells", "list the built-in recurrent cells", weft_cmd_cells },
    { "dot", "draw a recurrent network unrolled in time (Graphviz)", weft_cmd_dot },
    { "gradflow", "gradient norm over time, dJ_T/dh_t, for one or more cells", weft_cmd_gradflow },
    { "compare", "compare cells on a task at equal parameters: table, CSV, chart", weft_cmd_compare },
    { "word2vec", "word vectors by skip-gram or CBOW; 'word2vec eval': analogies, similarity",
      weft_cmd_word2vec },
    { "neighbors", "the nearest words to words, by cosine over a vector file", weft_cmd_neighbors },
    { "analogy", "a is to b as c is to ? over a vector file (3CosAdd, 3CosMul)", weft_cmd_analogy },
    { "bench", "time a recurrent layer or a language model against the sgemm ceiling",
      weft_cmd_bench },
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

/* --- global flags ---------------------------------------------------------------------------- */

static bool quiet = false;
static int threads = 0;         /* 0: not given (WEFT_NUM_THREADS or the number of cores) */
static bool show_version = false;
static const char *allow_plugin = NULL;   /* a cell plugin model files may name */

static const weft_flag global_flags[] = {
    { "quiet", WEFT_FLAG_BOOL, &quiet, NULL, "do not print the start-up line", 0, 0 },
    { "threads", WEFT_FLAG_INT, &threads, "N",
      "threads for OpenMP and BLIS (default: WEFT_NUM_THREADS, else the cores)", 1, 4096 },
    { "allow-plugin", WEFT_FLAG_STRING, &allow_plugin, "FILE.so",
      "a cell plugin a model file may name (weft loads no code a file names by itself)", 0, 0 },
};
#define N_GLOBAL ((int)(sizeof global_flags / sizeof global_flags[0]))

bool weft_cli_quiet(void)
{
    return quiet;
}

/* --- every output checked -------------------------------------------------------------------- */

static const char *command_name = "weft";   /* "weft eval", for the messages */
static bool output_failed = false;          /* a checked write failed: exit 1 */

/* Say it once per stream: the log is flushed at every row. */
static bool first_report(FILE *f)
{
    static FILE *said[16];
    static int n_said;
    for (int i = 0; i < n_said; i++)
        if (said[i] == f) return false;
    if (n_said < 16) said[n_said++] = f;
    return true;
}

int weft_cli_flush(FILE *f, const char *name)
{
    if (!f) return 0;
    errno = 0;
    bool flushed = fflush(f) == 0;
    int why = errno;
    if (flushed && !ferror(f)) return 0;
    output_failed = true;
    if (first_report(f))
        fprintf(stderr, "%s: %s: cannot write: %s\n", command_name, name,
                !flushed && why ? strerror(why) : "a write failed");
    return -1;
}

int weft_cli_close(FILE *f, const char *name)
{
    if (!f) return 0;
    int rc = weft_cli_flush(f, name);
    errno = 0;
    if (fclose(f) != 0 && rc == 0) {
        output_failed = true;
        fprintf(stderr, "%s: %s: cannot write: %s\n", command_name, name,
                errno ? strerror(errno) : "closing failed");
        rc = -1;
    }
    return rc;
}

int weft_cli_build_status(const char *prog, const char *err)
{
    /* every constructor says "out of memory" on an allocation that failed
       (the parameter store, the rnn, the cells, the task models) */
    if (!strstr(err, "out of memory")) return WEFT_EXIT_USAGE;
    fprintf(stderr, "%s: the model does not fit in memory: lower --hidden, --embed, --layers or "
            "the vocabulary (--max-vocab)\n", prog);
    return WEFT_EXIT_FAIL;
}

int weft_cli_exit(int parse_rc)
{
    return parse_rc == WEFT_ARGS_HELP ? WEFT_EXIT_OK : WEFT_EXIT_USAGE;
}

/* Apply the global flags once a command's arguments are known to be good. */
static void start(void)
{
    static bool started = false;
    if (started) return;
    started = true;
    if (threads > 0) weft_set_num_threads(threads);
    if (!quiet) weft_print_runtime(stderr);
}

int weft_cli_parse(const weft_args_spec *spec, int argc, char **argv, const char **pos,
                   int *n_pos)
{
    enum { MAX_GROUPS = 8 };
    weft_flag_group groups[MAX_GROUPS + 1];
    int n = spec->n_groups < MAX_GROUPS ? spec->n_groups : MAX_GROUPS;
    for (int i = 0; i < n; i++) groups[i] = spec->groups[i];
    groups[n++] = (weft_flag_group){ "global options", global_flags, N_GLOBAL };
    weft_args_spec full = *spec;
    full.groups = groups;
    full.n_groups = n;
    int rc = weft_args_parse(&full, argc, argv, pos, n_pos);
    if (rc == WEFT_ARGS_OK && allow_plugin) {
        char err[512];
        if (weft_cell_plugin_allow(allow_plugin, err, sizeof err)) {
            fprintf(stderr, "%s: --allow-plugin: %s\n", spec->prog, err);
            return WEFT_ARGS_ERROR;
        }
        allow_plugin = NULL;
    }
    if (rc == WEFT_ARGS_OK) start();
    return rc;
}

/* --- help and dispatch ---------------------------------------------------------------------- */

static const weft_cli_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    char env_err[256];
    if (weft_runtime_init(env_err, sizeof env_err)) {
        /* the library goes on with its default; the command line stops */
        char *using = strstr(env_err, "; using");
        if (using) *using = '\0';
        fprintf(stderr, "weft: %s\n", env_err);
        return WEFT_EXIT_USAGE;
    }

    /* The help of `weft` itself: the global flags from their table, then the
     * commands from the registry. */
    char details[4096];
    size_t len = (size_t)snprintf(details, sizeof details, "commands:\n");
    for (int i = 0; i < N_COMMANDS && len < sizeof details; i++)
        len += (size_t)snprintf(details + len, sizeof details - len, "  %-12s %s\n",
                                commands[i].name, commands[i].summary);
    if (len < sizeof details)
        snprintf(details + len, sizeof details - len,
                 "\nThe global options may also follow the command.\n"
                 "'weft help COMMAND' (or 'weft COMMAND --help') describes a command;\n"
                 "docs/cli.md lists every flag and its one meaning.\n\n"
                 "environment:\n"
                 "  WEFT_NUM_THREADS       threads, when --threads is not given\n"
                 "  WEFT_CHECK_FINITE=1    fail a backward that makes a NaN or Inf gradient\n\n"
                 "exit status: 0 success, 1 a check failed, 2 bad usage");
    const weft_flag leading[] = {
        global_flags[0],
        global_flags[1],
        global_flags[2],
        { "version", WEFT_FLAG_BOOL, &show_version, NULL, "print the version and exit", 0, 0 },
    };
    int at = argc;
    weft_args_spec spec = {
        .prog = "weft",
        .summary = "weft builds, trains, compares and draws recurrent sequence models.",
        .details = details,
        .groups = &(weft_flag_group){ "global options", leading, 4 },
        .n_groups = 1,
        .positional = "COMMAND [options]",
        .stop_at = &at,
    };
    int rc = weft_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (show_version) {
        printf("weft %s\n", weft_version());
        return WEFT_EXIT_OK;
    }
    if (at >= argc) {
        weft_args_help(&spec, stderr);
        fprintf(stderr, "\nweft: no command given\n");
        return WEFT_EXIT_USAGE;
    }
    /* weft help [COMMAND [SUB]]: the command's --help */
    if (strcmp(argv[at], "help") == 0) {
        if (at + 1 >= argc) {
            weft_args_help(&spec, stdout);
            return WEFT_EXIT_OK;
        }
        const weft_cli_command *hc = find_command(argv[at + 1]);
        if (!hc) {
            fprintf(stderr, "weft help: unknown command '%s' (see 'weft --help')\n", argv[at + 1]);
            return WEFT_EXIT_USAGE;
        }
        char *hargv[4] = { argv[at + 1], NULL, NULL, NULL };
        int hargc = 1;
        if (at + 2 < argc) hargv[hargc++] = argv[at + 2];   /* a subcommand: weft help bench lm */
        hargv[hargc++] = (char *)"--help";
        char hname[64];
        snprintf(hname, sizeof hname, "weft %s", hc->name);
        command_name = hname;
        return hc->run(hargc, hargv);
    }
    const weft_cli_command *cmd = find_command(argv[at]);
    if (!cmd) {
        fprintf(stderr, "weft: unknown command '%s'; the commands are:", argv[at]);
        for (int k = 0; k < N_COMMANDS; k++) fprintf(stderr, " %s", commands[k].name);
        fprintf(stderr, " (see 'weft --help')\n");
        return WEFT_EXIT_USAGE;
    }
    char name[64];
    snprintf(name, sizeof name, "weft %s", cmd->name);
    command_name = name;
    int status = cmd->run(argc - at, argv + at);
    /* what the command printed reached its destination, or the exit says it did not */
    if (weft_cli_flush(stdout, "standard output") || output_failed)
        if (status == WEFT_EXIT_OK) status = WEFT_EXIT_FAIL;
    return status;
}
