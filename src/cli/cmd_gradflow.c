/* src/cli/cmd_gradflow.c — `weft gradflow`: the norm of dJ_T/dh_t against the
 * distance back in time, for one or more cells (weft/gradflow.h), as a table,
 * a CSV file and a chart drawn by gnuplot. */
#include "src/cli/cli.h"

#include "weft/weft.h"
#include "weft/gradflow.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_CELLS = 16 };

/* "10⁻³": 10 to the power e, the exponent in Unicode superscripts, into buf. */
static void decade_label(int e, char *buf, size_t n)
{
    static const char *const sup[10] = { "\u2070", "\u00b9", "\u00b2", "\u00b3", "\u2074",
                                         "\u2075", "\u2076", "\u2077", "\u2078", "\u2079" };
    char digits[16];
    snprintf(digits, sizeof digits, "%d", e < 0 ? -e : e);
    size_t len = (size_t)snprintf(buf, n, "10%s", e < 0 ? "\u207b" : "");
    for (const char *d = digits; *d && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s", sup[*d - '0']);
}

/* The y axis's tics at the powers of ten the norms span, labelled as plain
 * text with superscript digits ("10⁻³"): gnuplot's enhanced-text exponents
 * ("10^{-3}") become nested tspans in an SVG, which converters to PNG drop. */
static void put_decade_tics(FILE *gp, double *const *norms, int n, int T)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int c = 0; c < n; c++)
        for (int k = 0; k < T; k++)
            if (norms[c][k] > 0.0 && isfinite(norms[c][k])) {
                lo = fmin(lo, norms[c][k]);
                hi = fmax(hi, norms[c][k]);
            }
    if (!(lo <= hi)) return;   /* nothing positive: gnuplot's own tics */
    int e0 = (int)floor(log10(lo)), e1 = (int)ceil(log10(hi));
    if (e1 == e0) e1++;
    int every = (e1 - e0 + 11) / 12;   /* at most 12 labels */
    fprintf(gp, "set yrange [1e%d:1e%d]\nset ytics (", e0, e1);
    for (int e = e0; e <= e1; e += every) {
        char label[64];
        decade_label(e, label, sizeof label);
        fprintf(gp, "%s\"%s\" 1e%d", e > e0 ? ", " : "", label, e);
    }
    fprintf(gp, ")\n");
}

/* Write the CSV: distance,t,<cell>,... one row per step. */
static int write_csv(const char *path, int T, int n, const char *const *names,
                     double *const *norms)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "weft gradflow: --csv: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "distance,t");
    for (int c = 0; c < n; c++) fprintf(f, ",%s", names[c]);
    fputc('\n', f);
    for (int k = 0; k < T; k++) {
        fprintf(f, "%d,%d", k, T - 1 - k);
        for (int c = 0; c < n; c++) fprintf(f, ",%.9e", norms[c][k]);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "weft gradflow: --csv: writing %s failed: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Draw the chart with gnuplot: log-scale norm against distance back in time,
 * one line per cell. The data goes to a temporary file; the script to
 * gnuplot's standard input. */
static int plot(const char *path, int T, int n, const char *const *names, double *const *norms,
                const char *title)
{
    const char *ext = strrchr(path, '.');
    bool png = ext && strcasecmp(ext, ".png") == 0, svg = ext && strcasecmp(ext, ".svg") == 0;
    if (!png && !svg) {
        fprintf(stderr, "weft gradflow: --plot %s: use a .png or .svg file\n", path);
        return -1;
    }
    if (!weft_cli_have_gnuplot()) {
        fprintf(stderr, "weft gradflow: --plot %s: gnuplot is not installed (Debian: apt-get "
                "install gnuplot-nox); no chart drawn\n", path);
        return -1;
    }
    char data[] = "/tmp/weft-gradflow-XXXXXX";
    int fd = mkstemp(data);
    FILE *df = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!df) {
        fprintf(stderr, "weft gradflow: cannot make a temporary file: %s\n", strerror(errno));
        if (fd >= 0) close(fd), unlink(data);
        return -1;
    }
    for (int k = 0; k < T; k++) {
        fprintf(df, "%d", k);
        for (int c = 0; c < n; c++) fprintf(df, " %.9e", norms[c][k]);
        fputc('\n', df);
    }
    if (weft_cli_close(df, data)) {
        unlink(data);
        return -1;
    }

    FILE *gp = popen("gnuplot >/dev/null", "w");   /* its stdout is not ours: a PNG it cannot write goes there */
    if (!gp) {
        fprintf(stderr, "weft gradflow: cannot run gnuplot: %s\n", strerror(errno));
        unlink(data);
        return -1;
    }
    if (png) fprintf(gp, "set terminal pngcairo size 800,520 font \"Helvetica,11\"\n");
    else fprintf(gp, "set terminal svg size 800,520 font \"Helvetica,11\" background \"white\"\n");
    fprintf(gp, "set output ");
    weft_cli_gnuplot_string(gp, path);
    fprintf(gp, "\nset title ");
    weft_cli_gnuplot_string(gp, title);
    fprintf(gp, "\nset encoding utf8\nset logscale y\n");
    put_decade_tics(gp, norms, n, T);
    fprintf(gp, "set xlabel \"distance back in time from the loss, T-1-t (steps)\"\n"
                "set ylabel \"mean ||dJ(T) / dh(t)||\" noenhanced\n"
                "set grid\nset key outside right top\nset xrange [0:%d]\n", T - 1);
    static const char *const colours[] = { "#d62728", "#1f77b4", "#2ca02c", "#9467bd",
                                           "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f" };
    fprintf(gp, "plot ");
    for (int c = 0; c < n; c++) {
        fprintf(gp, "%s", c ? ", \\\n     " : "");
        weft_cli_gnuplot_string(gp, data);
        fprintf(gp, " using 1:%d with linespoints lw 2 pt 7 ps 0.5 lc rgb \"%s\" title ", c + 2,
                colours[c % 8]);
        weft_cli_gnuplot_string(gp, names[c]);
    }
    fprintf(gp, "\n");
    int rc = weft_cli_gnuplot_finish(gp, path, "weft gradflow");
    unlink(data);
    return rc;
}

int weft_cmd_gradflow(int argc, char **argv)
{
    const char *cells = NULL, *csv = NULL, *plot_path = NULL;
    int steps = 50, hidden = 32, input = 0, layers = 1, batch = 8, samples = 10, seed = 1;
    float init = 0.0f;
    const weft_flag flags[] = {
        { "cell", WEFT_FLAG_STRING, &cells, "NAME[,NAME...]", "the cells to compare (see 'weft "
          "cells')", 0, 0 },
        { "steps", WEFT_FLAG_INT, &steps, "T", "time steps; the loss is at the last", 1, 100000 },
        { "hidden", WEFT_FLAG_INT, &hidden, "H", "hidden width", 1, 4096 },
        { "input", WEFT_FLAG_INT, &input, "I", "input width (default: H)", 1, 4096 },
        { "layers", WEFT_FLAG_INT, &layers, "N", "stacked layers (the top layer's h is "
          "measured)", 1, 16 },
        { "batch", WEFT_FLAG_INT, &batch, "B", "sequences per sample", 1, 4096 },
        { "samples", WEFT_FLAG_INT, &samples, "S", "random inputs and initialisations "
          "averaged over", 1, 100000 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "seed of the one random stream", 0, 0 },
        { "init", WEFT_FLAG_FLOAT, &init, "R", "every weight uniform in [-R, R) (default: the "
          "cell's own, PyTorch's ±1/sqrt(H))", 1e-6, 100 },
        { "csv", WEFT_FLAG_STRING, &csv, "FILE", "also write the numbers as CSV", 0, 0 },
        { "plot", WEFT_FLAG_STRING, &plot_path, "FILE", "draw the chart (FILE.png or "
          "FILE.svg) with gnuplot", 0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    weft_args_spec spec = {
        .prog = "weft gradflow",
        .summary = "How the gradient fades going back in time: for each cell, the norm of "
                   "dJ_T/dh_t for every\nstep t, with the loss J_T (a random linear readout and "
                   "cross-entropy) on the last step only,\naveraged over random inputs and "
                   "initialisations (one fixed seed).",
        .details = "Prints a table: the distance back from the loss (T-1-t), t, and the mean "
                   "norm per cell.\nexample:\n"
                   "  weft gradflow --cell rnn,gru,lstm --steps 50 --plot gradflow.svg\n"
                   "docs/visualizing.md has the chart and the method.",
        .groups = groups,
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (!cells || !cells[0]) {
        fprintf(stderr, "weft gradflow: no cell given: --cell NAME[,NAME...] (e.g. --cell "
                "rnn,gru,lstm)\n");
        return WEFT_EXIT_USAGE;
    }

    /* the cells, comma separated */
    char list[512];
    snprintf(list, sizeof list, "%s", cells);
    const char *names[MAX_CELLS];
    const weft_cell_type *types[MAX_CELLS];
    void *plugins[MAX_CELLS] = { 0 };
    double *norms[MAX_CELLS] = { 0 };
    int n = 0;
    rc = WEFT_EXIT_USAGE;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == MAX_CELLS) {
            fprintf(stderr, "weft gradflow: --cell: at most %d cells\n", MAX_CELLS);
            goto done;
        }
        char err[1024];
        types[n] = weft_cell_lookup(tok, &plugins[n], err, sizeof err);
        if (!types[n]) {
            fprintf(stderr, "weft gradflow: --cell: %s\n", err);
            goto done;
        }
        names[n] = types[n]->name;
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "weft gradflow: --cell: no cell named in '%s'\n", cells);
        goto done;
    }

    weft_gradflow_opts o = { .steps = steps, .hidden = hidden, .input = input,
                             .layers = layers, .batch = batch, .samples = samples,
                             .seed = (uint64_t)seed, .init_range = init };
    rc = WEFT_EXIT_OK;
    for (int c = 0; c < n && rc == WEFT_EXIT_OK; c++) {
        char err[512];
        norms[c] = malloc((size_t)steps * sizeof **norms);
        if (!norms[c]) {
            fprintf(stderr, "weft gradflow: out of memory\n");
            rc = WEFT_EXIT_FAIL;
        } else if (weft_gradflow(types[c], &o, norms[c], err, sizeof err)) {
            fprintf(stderr, "weft gradflow: %s\n", err);
            rc = WEFT_EXIT_FAIL;
        }
    }
    if (rc == WEFT_EXIT_OK) {
        printf("# mean ||dJ_T/dh_t|| over %d sample%s: T %d, H %d, I %d, %d layer%s, batch %d, "
               "seed %d, init %s\n", samples, samples == 1 ? "" : "s", steps, hidden,
               input ? input : hidden, layers, layers == 1 ? "" : "s", batch, seed,
               init > 0 ? "uniform(-R, R)" : "the cells' own (PyTorch: uniform(-1/sqrt(H), "
               "1/sqrt(H)))");
        printf("%8s %6s", "distance", "t");
        for (int c = 0; c < n; c++) printf(" %14s", names[c]);
        printf("\n");
        for (int k = 0; k < steps; k++) {
            printf("%8d %6d", k, steps - 1 - k);
            for (int c = 0; c < n; c++) printf(" %14.4e", norms[c][k]);
            printf("\n");
        }
        printf("%-15s", "# ratio last/0");
        for (int c = 0; c < n; c++)
            printf(" %14.4e", norms[c][0] > 0 ? norms[c][steps - 1] / norms[c][0] : 0.0);
        printf("\n");
        if (csv && write_csv(csv, steps, n, names, norms)) rc = WEFT_EXIT_FAIL;
        if (plot_path) {
            char title[256];
            snprintf(title, sizeof title, "gradient norm back in time: T = %d, H = %d, "
                     "%d sample%s", steps, hidden, samples, samples == 1 ? "" : "s");
            if (plot(plot_path, steps, n, names, norms, title)) rc = WEFT_EXIT_FAIL;
            else if (!weft_cli_quiet()) fprintf(stderr, "weft gradflow: drew %s\n", plot_path);
        }
    }
done:
    for (int c = 0; c < n; c++) {
        free(norms[c]);
        weft_cell_plugin_close(plugins[c]);
    }
    return rc;
}
