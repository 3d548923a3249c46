/* src/cli/args.c — command-line flags (see args.h). */
#include "src/cli/args.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int weft_args_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end != '\0' || errno == ERANGE || v < INT_MIN || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

int weft_args_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (!s[0] || *end != '\0' || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* The flag called name (name_len characters), or NULL. */
static const weft_flag *find_flag(const weft_args_spec *spec, const char *name, size_t name_len)
{
    for (int gi = 0; gi < spec->n_groups; gi++) {
        const weft_flag_group *grp = &spec->groups[gi];
        for (int i = 0; i < grp->n; i++) {
            const weft_flag *f = &grp->flags[i];
            if (strlen(f->name) == name_len && strncmp(f->name, name, name_len) == 0) return f;
        }
    }
    return NULL;
}

/* Spellings of one release ago: still read, with a warning, as the flag that
 * replaced them in the one vocabulary of docs/cli.md. prog NULL: every command. */
typedef struct deprecated_flag {
    const char *prog, *old, *now;
} deprecated_flag;

static const deprecated_flag deprecated[] = {
    { "weft compare", "cells", "cell" },
    { "weft compare", "steps", "train-steps" },     /* --steps is time steps everywhere */
    { "weft compare", "out", "output" },
    { "weft bench lm", "steps", "train-steps" },
    { "weft bench layer", "warmup", "warmup-runs" },   /* --warmup is the learning rate's */
    { "weft bench lm", "warmup", "warmup-runs" },
    { "weft dot", "level", "detail" },              /* --level is word|char */
    { "weft dot", "loss", "loss-at" },              /* --loss is word2vec's output layer */
    { "weft word2vec", "model", "arch" },           /* --model is a model file */
    { "weft sample", "length", "tokens" },          /* --length is a task's sequence length */
    { "weft ngram sample", "length", "tokens" },
};

/* The flag an old spelling stands for in spec's command, or NULL. */
static const weft_flag *find_deprecated(const weft_args_spec *spec, const char *name,
                                        size_t name_len, const char **old)
{
    for (size_t k = 0; k < sizeof deprecated / sizeof *deprecated; k++) {
        const deprecated_flag *d = &deprecated[k];
        if ((d->prog && strcmp(d->prog, spec->prog) != 0) || strlen(d->old) != name_len ||
            strncmp(d->old, name, name_len) != 0)
            continue;
        *old = d->old;
        return find_flag(spec, d->now, strlen(d->now));
    }
    return NULL;
}

/* Levenshtein distance between a[0..n) and b, for "did you mean". */
static size_t edit_distance(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b), row[128];
    if (n >= 127 || m >= 127) return (size_t)-1;
    for (size_t j = 0; j <= m; j++) row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

/* The flag of spec closest to name (at most a third of its length away, and 2
 * edits for short names; a flag that starts with name counts too), or NULL. */
static const char *closest_flag(const weft_args_spec *spec, const char *name, size_t name_len)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1, limit = name_len / 3 > 2 ? name_len / 3 : 2;
    for (int gi = 0; gi < spec->n_groups; gi++)
        for (int i = 0; i < spec->groups[gi].n; i++) {
            const char *f = spec->groups[gi].flags[i].name;
            size_t d = edit_distance(name, name_len, f);
            if (name_len >= 3 && strncmp(f, name, name_len) == 0) d = 1;
            if (d <= limit && d < best_d) best = f, best_d = d;
        }
    return best;
}

/* Print "prog: message (see 'prog --help')" to stderr; returns WEFT_ARGS_ERROR. */
static int fail(const weft_args_spec *spec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(const weft_args_spec *spec, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", spec->prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see '%s --help')\n", spec->prog);
    va_end(ap);
    return WEFT_ARGS_ERROR;
}

/* Store text as f's value. */
static int set_value(const weft_args_spec *spec, const weft_flag *f, const char *text)
{
    bool ranged = f->min != f->max;
    switch (f->type) {
    case WEFT_FLAG_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0) *(bool *)f->value = true;
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0) *(bool *)f->value = false;
        else return fail(spec, "--%s: '%s' is not true or false", f->name, text);
        return WEFT_ARGS_OK;
    case WEFT_FLAG_INT: {
        int v;
        if (weft_args_int(text, &v))
            return fail(spec, "--%s: '%s' is not an integer", f->name, text);
        if (ranged && (v < f->min || v > f->max))
            return fail(spec, "--%s: %d is not in [%g, %g]", f->name, v, f->min, f->max);
        *(int *)f->value = v;
        return WEFT_ARGS_OK;
    }
    case WEFT_FLAG_FLOAT: {
        float v;
        if (weft_args_float(text, &v))
            return fail(spec, "--%s: '%s' is not a number", f->name, text);
        if (ranged && (v < f->min || v > f->max))
            return fail(spec, "--%s: %g is not in [%g, %g]", f->name, (double)v, f->min, f->max);
        *(float *)f->value = v;
        return WEFT_ARGS_OK;
    }
    case WEFT_FLAG_STRING:
        *(const char **)f->value = text;
        return WEFT_ARGS_OK;
    }
    return WEFT_ARGS_ERROR;
}

int weft_args_parse(const weft_args_spec *spec, int argc, char **argv, const char **pos,
                    int *n_pos)
{
    if (n_pos) *n_pos = 0;
    if (spec->stop_at) *spec->stop_at = argc;
    for (int i = 1; i < argc && !spec->stop_at; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            weft_args_help(spec, stdout);
            return WEFT_ARGS_HELP;
        }
    }
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (spec->stop_at) {
                *spec->stop_at = i;
                return WEFT_ARGS_OK;
            }
            if (!spec->positional)
                return fail(spec, "unexpected argument '%s'", arg);
            if (*n_pos >= spec->max_positional)
                return fail(spec, "too many arguments at '%s' (at most %d: %s)", arg,
                            spec->max_positional, spec->positional);
            pos[(*n_pos)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            weft_args_help(spec, stdout);
            return WEFT_ARGS_HELP;
        }
        if (arg[1] != '-') return fail(spec, "unknown flag '%s'", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const weft_flag *f = find_flag(spec, name, name_len);
        const char *old_name = NULL;
        if (!f && (f = find_deprecated(spec, name, name_len, &old_name)))
            fprintf(stderr, "%s: --%s is deprecated and will go in the next release: use --%s "
                    "(docs/cli.md)\n", spec->prog, old_name, f->name);
        if (!f) {
            char flag[128];
            snprintf(flag, sizeof flag, "--%.*s", (int)(name_len < 100 ? name_len : 100), name);
            const char *near = closest_flag(spec, name, name_len);
            if (near) return fail(spec, "unknown flag '%s'; did you mean --%s?", flag, near);
            return fail(spec, "unknown flag '%s'", flag);
        }
        const char *text;
        if (eq) {
            text = eq + 1;
        } else if (f->type == WEFT_FLAG_BOOL) {
            text = "true";
        } else if (i + 1 < argc) {
            text = argv[++i];
        } else {
            return fail(spec, "--%s needs a value (%s)", f->name, f->metavar ? f->metavar : "");
        }
        int rc = set_value(spec, f, text);
        if (rc != WEFT_ARGS_OK) return rc;
    }
    return WEFT_ARGS_OK;
}

/* "(default: 3)" for a flag whose variable holds something worth showing. A
 * number outside the flag's range means "not set" and is not shown. */
static void default_text(const weft_flag *f, char *buf, size_t n)
{
    buf[0] = '\0';
    if (f->min != f->max && f->type == WEFT_FLAG_INT &&
        (*(int *)f->value < f->min || *(int *)f->value > f->max))
        return;
    if (f->min != f->max && f->type == WEFT_FLAG_FLOAT &&
        (*(float *)f->value < f->min || *(float *)f->value > f->max))
        return;
    switch (f->type) {
    case WEFT_FLAG_BOOL:
        if (*(bool *)f->value) snprintf(buf, n, " (default: on)");
        break;
    case WEFT_FLAG_INT:
        snprintf(buf, n, " (default: %d)", *(int *)f->value);
        break;
    case WEFT_FLAG_FLOAT:
        snprintf(buf, n, " (default: %g)", (double)*(float *)f->value);
        break;
    case WEFT_FLAG_STRING:
        if (*(const char **)f->value) snprintf(buf, n, " (default: %s)", *(const char **)f->value);
        break;
    }
}

void weft_args_help(const weft_args_spec *spec, FILE *out)
{
    fprintf(out, "usage: %s [options]%s%s\n\n", spec->prog, spec->positional ? " " : "",
            spec->positional ? spec->positional : "");
    if (spec->summary) fprintf(out, "%s\n", spec->summary);
    for (int gi = 0; gi < spec->n_groups; gi++) {
        const weft_flag_group *grp = &spec->groups[gi];
        fprintf(out, "\n%s:\n", grp->title);
        for (int i = 0; i < grp->n; i++) {
            const weft_flag *f = &grp->flags[i];
            char left[96], def[128];
            if (f->type == WEFT_FLAG_BOOL) snprintf(left, sizeof left, "--%s", f->name);
            else snprintf(left, sizeof left, "--%s %s", f->name, f->metavar ? f->metavar : "X");
            default_text(f, def, sizeof def);
            fprintf(out, "  %-22s %s%s\n", left, f->help ? f->help : "", def);
        }
    }
    fprintf(out, "  %-22s %s\n", "-h, --help", "show this help and exit");
    if (spec->details) fprintf(out, "\n%s\n", spec->details);
}

const char *weft_args_peek(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0) continue;
        if (a[2 + n] == '=') return a + 3 + n;
        if (a[2 + n] == '\0' && i + 1 < argc) return argv[i + 1];
    }
    return NULL;
}

bool weft_args_run_sub(int argc, char **argv, const weft_args_sub *subs, size_t n, int *status)
{
    if (argc < 2) return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], subs[i].name) == 0) {
            argv[1] = (char *)subs[i].argv0;
            *status = subs[i].run(argc - 1, argv + 1);
            return true;
        }
    return false;
}
