/* src/cli/args.h — command-line flags for the `weft` subcommands.
 *
 * A subcommand describes its flags in a table; weft_args_parse reads argv
 * against it, writes each value through the flag's pointer, and prints help
 * generated from the table. A flag's default is whatever its variable holds
 * before parsing (shown in the help). Accepted forms:
 *
 *     --name VALUE   --name=VALUE   --flag (a bool)   --flag=true|false
 *     --             everything after it is positional
 *     -h, --help     help for the command
 *
 * Errors name the flag: unknown flag, missing value, a value that is not a
 * number or is out of range, an unexpected positional argument.
 */
#ifndef WEFT_CLI_ARGS_H
#define WEFT_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum weft_flag_type {
    WEFT_FLAG_BOOL,     /* bool *: present -> true */
    WEFT_FLAG_INT,      /* int * */
    WEFT_FLAG_FLOAT,    /* float * */
    WEFT_FLAG_STRING,   /* const char **: points into argv (borrowed) */
} weft_flag_type;

typedef struct weft_flag {
    const char *name;       /* without dashes: "threads" for --threads */
    weft_flag_type type;
    void *value;            /* where the value goes; its current value is the default */
    const char *metavar;    /* what the value is called in the help: "N", "NAME" */
    const char *help;       /* one line */
    double min, max;        /* allowed range of an int or float; min == max: any */
} weft_flag;

/* A titled group of flags ("options", "global options"). */
typedef struct weft_flag_group {
    const char *title;
    const weft_flag *flags;
    int n;
} weft_flag_group;

typedef struct weft_args_spec {
    const char *prog;          /* "weft gradcheck" */
    const char *summary;       /* one line: what the command does */
    const char *details;       /* more text after the flags, or NULL */
    const weft_flag_group *groups;
    int n_groups;
    const char *positional;    /* how positional arguments are called ("FILE..."), NULL: none */
    int max_positional;        /* at most this many (when positional is set) */
    /* When set, parsing stops at the first positional argument and stores its
     * index here (argc when there is none): for flags that come before a
     * subcommand. --help is then only recognised before that point. */
    int *stop_at;
} weft_args_spec;

enum {
    WEFT_ARGS_OK = 0,     /* parsed: run the command */
    WEFT_ARGS_HELP = 1,   /* help was printed to stdout: exit 0 */
    WEFT_ARGS_ERROR = 2,  /* a message was printed to stderr: exit 2 */
};

/* Parse argv[1..argc) (argv[0] is the command's name) against spec. The
 * positional arguments are stored in pos (borrowed from argv, up to
 * spec->max_positional of them) and counted in *n_pos; pos and n_pos may be
 * NULL when spec->positional is NULL. Returns one of WEFT_ARGS_*. --help is
 * looked for first, so the help shows the defaults even after other flags. */
int weft_args_parse(const weft_args_spec *spec, int argc, char **argv, const char **pos,
                    int *n_pos);

/* Print the help of spec (usage, summary, flags by group, details) to f. */
void weft_args_help(const weft_args_spec *spec, FILE *f);

/* Parse a whole int / float for a flag or environment variable: the whole
 * string must be a number (and, for a float, finite). 0 on success. */
/* The value of --NAME in argv[1..] ("--NAME V" or "--NAME=V"), or NULL,
 * without parsing anything else: lets a command hand its arguments to another
 * implementation (an n-gram model) before its own parse. Borrowed from argv. */
const char *weft_args_peek(int argc, char **argv, const char *name);

/* A command made of subcommands ("weft bench layer", "weft ngram train"). */
typedef struct weft_args_sub {
    const char *name;                /* "layer" */
    const char *argv0;               /* "bench layer": the subcommand's argv[0], for its messages */
    int (*run)(int argc, char **argv);
} weft_args_sub;

/* When argv[1] names one of the n subcommands, runs it with argv[1..] (its
 * argv[0] replaced by the sub's argv0), stores its exit status in *status and
 * returns true; false when argv[1] is missing or names none of them. */
bool weft_args_run_sub(int argc, char **argv, const weft_args_sub *subs, size_t n, int *status);

int weft_args_int(const char *s, int *out);
int weft_args_float(const char *s, float *out);

#endif
