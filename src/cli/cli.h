/* src/cli/cli.h — what the subcommands of `weft` share.
 *
 * Each subcommand lives in its own file (cmd_<name>.c) and is listed in the
 * registry in main.c. Its run function gets argv with argv[0] = the
 * command's name, parses its flags with weft_cli_parse (which adds the global
 * flags and, once parsing succeeds, applies them and prints the start-up
 * line), and returns the exit status:
 *     0 success, 1 the command ran and its check failed, 2 bad usage.
 */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include "src/cli/args.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { WEFT_EXIT_OK = 0, WEFT_EXIT_FAIL = 1, WEFT_EXIT_USAGE = 2 };

typedef struct weft_cli_command {
    const char *name;
    const char *summary;                  /* one line, for `weft --help` */
    int (*run)(int argc, char **argv);
} weft_cli_command;

/* Parse a subcommand's flags (spec's groups) together with the global ones
 * (--quiet, --threads). On WEFT_ARGS_OK the threads are set and, unless
 * --quiet, the start-up line is printed to stderr. Returns WEFT_ARGS_*; a
 * command returns at once with weft_cli_exit(rc) when it is not OK. */
int weft_cli_parse(const weft_args_spec *spec, int argc, char **argv, const char **pos,
                   int *n_pos);
/* The exit status for a weft_cli_parse result other than OK (help: 0, error: 2). */
int weft_cli_exit(int parse_rc);

/* Every output checked (docs/reliability.md). Flush f and look for a write
 * error on it (a full disk, a closed pipe): on one, print "weft COMMAND: NAME:
 * cannot write: REASON" (once per stream) and return -1; the process then
 * exits 1 whatever the command returns (main checks, and checks standard
 * output itself at the end). NAME says what f is ("the log x.csv"). */
int weft_cli_flush(FILE *f, const char *name);
/* weft_cli_flush, then fclose (whose error counts too). f may be NULL (0). */
int weft_cli_close(FILE *f, const char *name);

/* The exit status of a model constructor that failed with message err: 1 when
 * it ran out of memory (the flags were fine, the machine too small; a hint is
 * printed under the message), 2 (usage) when it refused the configuration the
 * flags asked for. prog: "weft train". */
int weft_cli_build_status(const char *prog, const char *err);

/* Was --quiet given? */
bool weft_cli_quiet(void);

/* The median of x[0..n), n >= 1 (sorts x in place: borrows it). */
double weft_cli_median(double *x, int n);

int weft_cmd_ops(int argc, char **argv);
int weft_cmd_gradcheck(int argc, char **argv);
int weft_cmd_info(int argc, char **argv);
int weft_cmd_train(int argc, char **argv);
int weft_cmd_eval(int argc, char **argv);
int weft_cmd_sample(int argc, char **argv);
int weft_cmd_ngram(int argc, char **argv);
int weft_cmd_mix(int argc, char **argv);
/* The n-gram baseline (cmd_ngram.c) with the arguments of `weft train --task
 * ngram`, `weft eval` and `weft sample` on an n-gram (ARPA) model file. */
int weft_cli_ngram_train(int argc, char **argv);
int weft_cli_ngram_eval(int argc, char **argv);
int weft_cli_ngram_sample(int argc, char **argv);
/* The fixed-window model (cmd_window_lm.c), the same way: `weft train --task
 * window-lm`, and `weft eval` / `weft sample` on a window-lm model file. */
int weft_cli_window_lm_train(int argc, char **argv);
int weft_cli_window_lm_eval(int argc, char **argv);
int weft_cli_window_lm_sample(int argc, char **argv);
/* Classifiers and taggers (cmd_classify.c): `weft train --task
 * classify|tag|window`, `weft eval` on such a model, and `weft predict`. */
int weft_cli_classify_train(int argc, char **argv);
int weft_cli_classify_eval(int argc, char **argv);
int weft_cmd_predict(int argc, char **argv);
/* Encoder-decoder models (cmd_seq2seq.c): `weft train --task seq2seq`, `weft
 * eval` on a seq2seq model file, `weft translate`. */
int weft_cli_seq2seq_train(int argc, char **argv);
int weft_cli_seq2seq_eval(int argc, char **argv);
int weft_cmd_translate(int argc, char **argv);
bool weft_cli_seq2seq_file_is(const char *path);
int weft_cmd_cells(int argc, char **argv);
int weft_cmd_dot(int argc, char **argv);
int weft_cmd_gradflow(int argc, char **argv);
int weft_cmd_compare(int argc, char **argv);
int weft_cmd_bench(int argc, char **argv);
/* `weft bench generate` and `weft bench eval` (src/cli/cmd_bench_generate.c) */
int weft_cli_bench_generate(int argc, char **argv);
int weft_cli_bench_eval(int argc, char **argv);
/* Word vectors (cmd_word2vec.c): training and evaluation, neighbours, analogies. */
int weft_cmd_word2vec(int argc, char **argv);
int weft_cmd_neighbors(int argc, char **argv);
int weft_cmd_analogy(int argc, char **argv);

/* gnuplot, for the charts of weft compare and weft gradflow (gnuplot.c): is it
 * on the PATH; and s written to a gnuplot script as a double-quoted string. */
bool weft_cli_have_gnuplot(void);
void weft_cli_gnuplot_string(FILE *f, const char *s);
/* Close the gnuplot pipe gp that drew the chart `out` (.svg or .png) and check
 * it all: the script written, gnuplot's exit status, and the chart whole (gnuplot
 * exits 0 when its own writes fail). -1 with a message starting with `who`,
 * and the half-written chart removed. */
int weft_cli_gnuplot_finish(FILE *gp, const char *out, const char *who);

/* `weft gradcheck --cell NAME ...` (cmd_cells.c): returns the exit status. */
int weft_cli_gradcheck_cell(const char *name, int layers, bool bidirectional, bool ragged,
                            bool composed, uint64_t seed, float eps, float tolerance, float atol);

#endif
