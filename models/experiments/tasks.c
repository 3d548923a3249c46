/* models/experiments/tasks.c — the benchmark tasks of weft/tasks.h: generators for
 * arithmetic, XML, adding and copy; loaders for polyphonic music and a Penn
 * Treebank subset. docs/tasks.md shows an example of each. */
#include "weft/tasks.h"

#include "weft/data.h"
#include "src/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const weft_task_names[] = { "arithmetic", "xml", "music", "ptb", "adding", "copy",
                                        NULL };

/* id k of a character task is alphabet[k]; id 0 ("\n") starts every sequence. */
static const char ARITH_ALPHABET[] = "\n0123456789abcdefghijklmnopqrstuvwxyz+-=.";
static const char XML_ALPHABET[] = "\n<>/abcdefghijklmnopqrstuvwxyz";

enum { VALID_SEED = 20150601, MUSIC_KEYS = 88, MUSIC_LOW = 21, COPY_SYMBOLS = 10 };

bool weft_metric_higher_is_better(weft_task_metric m)
{
    return m == WEFT_METRIC_ACCURACY;
}

const char *weft_metric_name(weft_task_metric m)
{
    switch (m) {
    case WEFT_METRIC_NLL: return "nll";
    case WEFT_METRIC_ACCURACY: return "accuracy";
    case WEFT_METRIC_MSE: return "mse";
    }
    return "?";
}

/* --- examples ----------------------------------------------------------------------------- */

void weft_task_example_free(weft_task_example *e)
{
    if (!e) return;
    free(e->ids);
    free(e->x);
    free(e->target);
    free(e->y);
    free(e->train);
    free(e->score);
    memset(e, 0, sizeof *e);
}

/* Allocate the arrays an example of T steps needs for task t, zero-filled. */
static int example_alloc(const weft_task *t, int T, weft_task_example *e)
{
    memset(e, 0, sizeof *e);
    e->T = T;
    size_t n = (size_t)T;
    bool ok = true;
    if (t->input == WEFT_TASK_TOKENS) ok &= (e->ids = calloc(n, sizeof(int))) != NULL;
    else ok &= (e->x = calloc(n * (size_t)t->in_width, sizeof(float))) != NULL;
    if (t->loss == WEFT_TASK_CE) ok &= (e->target = calloc(n, sizeof(int))) != NULL;
    else ok &= (e->y = calloc(n * (size_t)t->out_width, sizeof(float))) != NULL;
    ok &= (e->train = calloc(n, sizeof(float))) != NULL;
    ok &= (e->score = calloc(n, sizeof(float))) != NULL;
    if (!ok) weft_task_example_free(e);
    return ok ? 0 : -1;
}

static int char_id(const char *alphabet, char c)
{
    const char *p = strchr(alphabet, c);
    return p && c ? (int)(p - alphabet) : -1;
}

/* --- arithmetic --------------------------------------------------------------------------- */

/* A number of 1..max_digits digits (no leading zero), negative half the time. */
static long long random_number(weft_rng *r, int max_digits)
{
    int d = 1 + (int)weft_rng_below(r, (uint32_t)max_digits);
    long long v = d == 1 ? weft_rng_below(r, 10) : 1 + weft_rng_below(r, 9);
    for (int k = 1; k < d; k++) v = 10 * v + weft_rng_below(r, 10);
    return weft_rng_below(r, 2) ? -v : v;
}

int weft_task_arith_text(weft_rng *r, int max_digits, int distractors, char *buf, size_t n)
{
    long long a = random_number(r, max_digits), b = random_number(r, max_digits);
    bool plus = weft_rng_below(r, 2) == 0;
    char q[64];
    snprintf(q, sizeof q, "%lld%c%lld", a, plus ? '+' : '-', b);
    size_t len = 0;
    /* each character of the question, then 0..distractors random letters */
    for (const char *c = q; *c; c++) {
        if (len + 1 >= n) return -1;
        buf[len++] = *c;
        int k = (int)weft_rng_below(r, (uint32_t)distractors + 1);
        for (int j = 0; j < k; j++) {
            if (len + 1 >= n) return -1;
            buf[len++] = (char)('a' + weft_rng_below(r, 26));
        }
    }
    int m = snprintf(buf + len, n - len, "=%lld.", plus ? a + b : a - b);
    if (m < 0 || (size_t)m >= n - len) return -1;
    return (int)(len + (size_t)m);
}

/* --- xml ---------------------------------------------------------------------------------- */

int weft_task_xml_text(weft_rng *r, int max_len, char *buf, size_t n)
{
    enum { MAX_DEPTH = 64, FORCE_CLOSE = 50 };
    char names[MAX_DEPTH][11];
    int depth = 0, steps = 0;
    size_t len = 0, limit = (size_t)max_len < n ? (size_t)max_len : n - 1;
    for (;;) {
        /* Close with probability 1/2, or always after FORCE_CLOSE actions;
         * the first action opens (a literal reading could make an empty
         * example). */
        bool close = steps > 0 && (weft_rng_below(r, 2) == 0 || steps >= FORCE_CLOSE ||
                                   depth == MAX_DEPTH);
        char tag[16];
        if (close) {
            if (depth == 0) break;
            depth--;
            snprintf(tag, sizeof tag, "</%s>", names[depth]);
        } else {
            int k = 2 + (int)weft_rng_below(r, 9);   /* 2..10 letters */
            for (int j = 0; j < k; j++) names[depth][j] = (char)('a' + weft_rng_below(r, 26));
            names[depth][k] = '\0';
            snprintf(tag, sizeof tag, "<%s>", names[depth]);
            depth++;
        }
        size_t tl = strlen(tag);
        if (len + tl + 1 > limit) break;      /* keep room for the final newline */
        memcpy(buf + len, tag, tl);
        len += tl;
        steps++;
    }
    if (len + 1 > limit || len + 1 >= n) return -1;
    buf[len++] = '\n';
    buf[len] = '\0';
    return (int)len;
}

/* A character example from text: inputs "\n" text[0..n-2], targets text[0..n-1]. */
static int char_example(const weft_task *t, const char *text, int n, weft_task_example *e)
{
    if (example_alloc(t, n, e)) return -1;
    int prev = 0;
    for (int j = 0; j < n; j++) {
        int id = char_id(t->alphabet, text[j]);
        if (id < 0) {
            weft_task_example_free(e);
            return -1;
        }
        e->ids[j] = prev;
        e->target[j] = id;
        e->train[j] = 1.0f;
        prev = id;
    }
    if (strcmp(t->name, "arithmetic") == 0) {
        /* scored: the answer, every character after '=' */
        const char *eq = strchr(text, '=');
        for (int j = eq ? (int)(eq - text) + 1 : n; j < n; j++) e->score[j] = 1.0f;
    } else {
        /* scored: what the stack of open tags decides, a closing tag's name and '>' */
        bool in_close = false;
        for (int j = 0; j < n; j++) {
            if (in_close) e->score[j] = 1.0f;
            if (text[j] == '>') in_close = false;
            if (j > 0 && text[j] == '/' && text[j - 1] == '<') in_close = true;
        }
    }
    return 0;
}

/* --- adding and copy ----------------------------------------------------------------------- */

void weft_task_adding(weft_rng *r, int T, float *x, float *y)
{
    int half = T / 2;
    int a = (int)weft_rng_below(r, (uint32_t)half);
    int b = half + (int)weft_rng_below(r, (uint32_t)(T - half));
    for (int t = 0; t < T; t++) {
        x[2 * t] = weft_rng_uniform(r);
        x[2 * t + 1] = (t == a || t == b) ? 1.0f : 0.0f;
    }
    *y = x[2 * a] + x[2 * b];
}

void weft_task_copy(weft_rng *r, int L, int *in, int *out)
{
    int n = L + 2 * COPY_SYMBOLS;
    for (int t = 0; t < n; t++) in[t] = out[t] = 0;
    for (int k = 0; k < COPY_SYMBOLS; k++) {
        in[k] = 1 + (int)weft_rng_below(r, 8);
        out[L + COPY_SYMBOLS + k] = in[k];
    }
    in[L + COPY_SYMBOLS - 1] = 9;   /* the delimiter: the last step before the answer */
}

/* --- one generated example --------------------------------------------------------------- */

static int generate(const weft_task *t, weft_rng *r, weft_task_example *e)
{
    const weft_task_opts *o = &t->opts;
    if (t->alphabet) {
        char text[4096];
        int n = strcmp(t->name, "arithmetic") == 0
                    ? weft_task_arith_text(r, o->max_digits, o->distractors, text, sizeof text)
                    : weft_task_xml_text(r, o->max_len, text, sizeof text);
        if (n < 1) return -1;
        return char_example(t, text, n, e);
    }
    if (strcmp(t->name, "adding") == 0) {
        int T = o->length;
        if (example_alloc(t, T, e)) return -1;
        weft_task_adding(r, T, e->x, &e->y[T - 1]);
        e->train[T - 1] = e->score[T - 1] = 1.0f;
        return 0;
    }
    /* copy */
    int T = o->length + 2 * COPY_SYMBOLS;
    if (example_alloc(t, T, e)) return -1;
    weft_task_copy(r, o->length, e->ids, e->target);
    for (int k = 0; k < T; k++) {
        e->train[k] = 1.0f;
        e->score[k] = k >= T - COPY_SYMBOLS ? 1.0f : 0.0f;
    }
    return 0;
}

int weft_task_next_train(const weft_task *t, weft_rng *r, int *perm, long *cursor,
                         weft_task_example *out, bool *owned)
{
    if (t->n_train == 0) {
        *owned = true;
        return generate(t, r, out);
    }
    int n = t->n_train;
    int k = (int)(*cursor % n);
    if (k == 0) {
        /* a new pass: Fisher-Yates from r */
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)weft_rng_below(r, (uint32_t)i + 1);
            int tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
    }
    (*cursor)++;
    *out = t->train[perm[k]];
    *owned = false;
    return 0;
}

/* --- music --------------------------------------------------------------------------------- */

void weft_music_free(weft_music *m)
{
    if (!m) return;
    for (int p = 0; p < m->n_pieces; p++) free(m->roll[p]);
    free(m->roll);
    free(m->steps);
    memset(m, 0, sizeof *m);
}

int weft_music_read(const char *path, weft_music *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        weft_say(err, errsize, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    long lineno = 0;
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        int index, T;
        if (line[0] == '\n' && line[1] == '\0') continue;   /* blank lines between pieces */
        if (sscanf(line, "piece %d %d", &index, &T) != 2 || T < 0) {
            weft_say(err, errsize, "%s:%ld: expected a header 'piece <index> <steps>'", path,
                lineno);
            goto fail;
        }
        if (out->n_pieces == cap) {
            cap = cap ? 2 * cap : 64;
            int *s = realloc(out->steps, (size_t)cap * sizeof *s);
            if (s) out->steps = s;
            uint8_t **rl = realloc(out->roll, (size_t)cap * sizeof *rl);
            if (rl) out->roll = rl;
            if (!s || !rl) goto oom;
        }
        int p = out->n_pieces;
        out->steps[p] = T;
        out->roll[p] = calloc((size_t)(T > 0 ? T : 1) * MUSIC_KEYS, 1);
        if (!out->roll[p]) goto oom;
        out->n_pieces++;
        for (int t = 0; t < T; t++) {
            if (!fgets(line, sizeof line, f)) {
                weft_say(err, errsize, "%s: piece %d ends after %d of its %d steps", path, index, t,
                    T);
                goto fail;
            }
            lineno++;
            char *s = line, *end;
            for (;;) {
                long pitch = strtol(s, &end, 10);
                if (end == s) break;
                if (pitch < MUSIC_LOW || pitch >= MUSIC_LOW + MUSIC_KEYS) {
                    weft_say(err, errsize, "%s:%ld: pitch %ld is outside the 88 keys (21..108)",
                        path, lineno, pitch);
                    goto fail;
                }
                out->roll[p][(size_t)t * MUSIC_KEYS + (size_t)(pitch - MUSIC_LOW)] = 1;
                s = end;
            }
            while (*s == ' ' || *s == '\r' || *s == '\n') s++;
            if (*s) {
                weft_say(err, errsize, "%s:%ld: expected MIDI pitches, found '%.20s'", path, lineno,
                    s);
                goto fail;
            }
        }
    }
    fclose(f);
    if (out->n_pieces == 0) {
        weft_say(err, errsize, "%s: no pieces", path);
        return -1;
    }
    return 0;
oom:
    weft_say(err, errsize, "%s: out of memory", path);
fail:
    fclose(f);
    weft_music_free(out);
    return -1;
}

/* Cut each piece into windows of at most max_len steps: input step t, target
 * step t + 1. */
static int music_examples(const weft_task *t, const weft_music *m, int max_len,
                          weft_task_example **ex, int *n_ex)
{
    int n = 0;
    for (int p = 0; p < m->n_pieces; p++)
        if (m->steps[p] > 1) n += (m->steps[p] - 1 + max_len - 1) / max_len;
    *ex = calloc((size_t)(n ? n : 1), sizeof **ex);
    if (!*ex) return -1;
    int k = 0;
    for (int p = 0; p < m->n_pieces; p++) {
        for (int s = 0; s + 1 < m->steps[p]; s += max_len) {
            int T = m->steps[p] - 1 - s < max_len ? m->steps[p] - 1 - s : max_len;
            weft_task_example *e = &(*ex)[k];
            if (example_alloc(t, T, e)) return *n_ex = k, -1;
            k++;
            for (int j = 0; j < T; j++) {
                const uint8_t *now = m->roll[p] + (size_t)(s + j) * MUSIC_KEYS;
                const uint8_t *next = now + MUSIC_KEYS;
                for (int key = 0; key < MUSIC_KEYS; key++) {
                    e->x[(size_t)j * MUSIC_KEYS + (size_t)key] = now[key];
                    e->y[(size_t)j * MUSIC_KEYS + (size_t)key] = next[key];
                }
                e->train[j] = e->score[j] = 1.0f;
            }
        }
    }
    *n_ex = k;
    return 0;
}

static const struct { const char *name, *file; } MUSIC_SETS[] = {
    { "jsb", "jsb_chorales" }, { "nottingham", "nottingham" },
    { "musedata", "musedata" }, { "piano", "piano_midi" },
};

static int load_music(weft_task *t, char *err, size_t errsize)
{
    const char *file = NULL;
    for (size_t k = 0; k < sizeof MUSIC_SETS / sizeof *MUSIC_SETS; k++)
        if (strcmp(t->opts.music_set, MUSIC_SETS[k].name) == 0) file = MUSIC_SETS[k].file;
    if (!file) {
        weft_say(err, errsize, "music: unknown set '%s'; the sets are jsb, nottingham, musedata, "
            "piano", t->opts.music_set);
        return -1;
    }
    for (int split = 0; split < 2; split++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/polyphonic_music/%s.%s.txt", t->opts.data_dir, file,
                 split ? "valid" : "train");
        weft_music m;
        if (weft_music_read(path, &m, err, errsize)) return -1;
        int rc = split ? music_examples(t, &m, t->opts.max_len, &t->valid, &t->n_valid)
                       : music_examples(t, &m, t->opts.max_len, &t->train, &t->n_train);
        weft_music_free(&m);
        if (rc) {
            weft_say(err, errsize, "music: out of memory");
            return -1;
        }
    }
    snprintf(t->desc, sizeof t->desc, "music %s: %d train, %d valid windows of <= %d steps",
             t->opts.music_set, t->n_train, t->n_valid, t->opts.max_len);
    return 0;
}

/* --- ptb ------------------------------------------------------------------------------------ */

/* The first n tokens of a stream as windows of max_len: inputs ids[k..k+L),
 * targets one later. */
static int window_examples(const weft_task *t, const int *ids, size_t n, int max_len,
                           weft_task_example **ex, int *n_ex)
{
    int count = n > 1 ? (int)((n - 2) / (size_t)max_len) + 1 : 0;
    *ex = calloc((size_t)(count ? count : 1), sizeof **ex);
    if (!*ex) return -1;
    int k = 0;
    for (size_t s = 0; s + 1 < n; s += (size_t)max_len) {
        int T = (int)(n - 1 - s < (size_t)max_len ? n - 1 - s : (size_t)max_len);
        weft_task_example *e = &(*ex)[k];
        if (example_alloc(t, T, e)) return *n_ex = k, -1;
        k++;
        for (int j = 0; j < T; j++) {
            e->ids[j] = ids[s + (size_t)j];
            e->target[j] = ids[s + (size_t)j + 1];
            e->train[j] = e->score[j] = 1.0f;
        }
    }
    *n_ex = k;
    return 0;
}

static int load_ptb(weft_task *t, char *err, size_t errsize)
{
    weft_tokens tok[2];
    memset(tok, 0, sizeof tok);
    int *ids[2] = { NULL, NULL };
    int rc = -1;
    weft_vocab *v = NULL;
    for (int split = 0; split < 2; split++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/ptb/ptb.%s.txt", t->opts.data_dir,
                 split ? "valid" : "train");
        if (weft_tokens_read(path, WEFT_TEXT_WORDS, &tok[split], err, errsize)) goto done;
        size_t want = split ? (size_t)(t->opts.ptb_tokens / 10) : (size_t)t->opts.ptb_tokens;
        if (want < 2) want = 2;
        if (tok[split].count > want) tok[split].count = want;
    }
    v = weft_vocab_build(&tok[0], 1, 0, err, errsize);
    if (!v) goto done;
    if (weft_vocab_unk(v) < 0 && weft_vocab_add(v, WEFT_UNK, strlen(WEFT_UNK)) < 0) {
        weft_say(err, errsize, "ptb: out of memory");
        goto done;
    }
    for (int split = 0; split < 2; split++)
        if (!(ids[split] = weft_tokens_encode(&tok[split], v, err, errsize))) goto done;
    t->in_width = t->out_width = weft_vocab_size(v);
    if (window_examples(t, ids[0], tok[0].count, t->opts.max_len, &t->train, &t->n_train) ||
        window_examples(t, ids[1], tok[1].count, t->opts.max_len, &t->valid, &t->n_valid)) {
        weft_say(err, errsize, "ptb: out of memory");
        goto done;
    }
    snprintf(t->desc, sizeof t->desc, "ptb: first %zu train / %zu valid tokens, vocabulary %d, "
             "windows of %d", tok[0].count, tok[1].count, t->in_width, t->opts.max_len);
    t->data = v;
    v = NULL;
    rc = 0;
done:
    for (int split = 0; split < 2; split++) {
        weft_tokens_free(&tok[split]);
        free(ids[split]);
    }
    weft_vocab_free(v);
    return rc;
}

/* --- the task -------------------------------------------------------------------------------- */

void weft_task_free(weft_task *t)
{
    if (!t) return;
    for (int k = 0; k < t->n_train; k++) weft_task_example_free(&t->train[k]);
    for (int k = 0; k < t->n_valid; k++) weft_task_example_free(&t->valid[k]);
    free(t->train);
    free(t->valid);
    if (t->data) weft_vocab_free(t->data);
    free(t);
}

static bool known_task(const char *name)
{
    for (int k = 0; weft_task_names[k]; k++)
        if (strcmp(weft_task_names[k], name) == 0) return true;
    return false;
}

weft_task *weft_task_new(const char *name, const weft_task_opts *opts, char *err,
                         size_t errsize)
{
    if (!name || !known_task(name)) {
        char list[128] = "";
        for (int k = 0; weft_task_names[k]; k++) {
            strncat(list, " ", sizeof list - strlen(list) - 1);
            strncat(list, weft_task_names[k], sizeof list - strlen(list) - 1);
        }
        weft_say(err, errsize, "unknown task '%s'; the tasks are:%s", name ? name : "(none)", list);
        return NULL;
    }
    weft_task *t = calloc(1, sizeof *t);
    if (!t) {
        weft_say(err, errsize, "out of memory");
        return NULL;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    weft_task_opts o = opts ? *opts : (weft_task_opts){ 0 };
    bool is = false;
    /* defaults */
    if (o.length <= 0) o.length = strcmp(name, "copy") == 0 ? 20 : 50;
    if (o.max_digits <= 0) o.max_digits = 8;
    if (o.distractors == 0) o.distractors = 3;
    if (o.distractors < 0) o.distractors = 0;
    if (o.max_len <= 0) o.max_len = strcmp(name, "ptb") == 0 ? 35 : 100;
    if (o.valid_size <= 0) o.valid_size = 200;
    if (!o.music_set) o.music_set = "jsb";
    if (o.ptb_tokens <= 0) o.ptb_tokens = 100000;
    t->opts = o;
    if ((strcmp(name, "music") == 0 || strcmp(name, "ptb") == 0) &&
        !(o.data_dir && o.data_dir[0])) {
        weft_say(err, errsize, "%s: the task reads its data from a folder: give it with "
                 "--data-dir DIR (or the WEFT_DATA_DIR environment variable); DIR holds %s",
                 name, strcmp(name, "ptb") == 0 ? "ptb/ptb.train.txt and ptb/ptb.valid.txt"
                                                : "polyphonic_music/");
        goto fail;
    }
    if (o.max_digits > 8) {
        weft_say(err, errsize, "arithmetic: --max-digits %d: at most 8", o.max_digits);
        goto fail;
    }
    if ((strcmp(name, "adding") == 0 && o.length < 2) || o.length > 100000) {
        weft_say(err, errsize, "%s: --length %d: from 2 to 100000", name, o.length);
        goto fail;
    }
    if (strcmp(name, "xml") == 0 && o.max_len < 16) {
        weft_say(err, errsize, "xml: --max-len %d: at least 16 characters", o.max_len);
        goto fail;
    }

    if ((is = strcmp(name, "arithmetic") == 0) || strcmp(name, "xml") == 0) {
        t->alphabet = is ? ARITH_ALPHABET : XML_ALPHABET;
        t->input = WEFT_TASK_TOKENS;
        t->loss = WEFT_TASK_CE;
        t->in_width = t->out_width = (int)strlen(t->alphabet);
        t->metric = is ? WEFT_METRIC_ACCURACY : WEFT_METRIC_NLL;
        if (is)
            snprintf(t->desc, sizeof t->desc, "arithmetic: numbers of up to %d digits, up to %d "
                     "distractors a character; %d valid sequences", o.max_digits, o.distractors,
                     o.valid_size);
        else
            snprintf(t->desc, sizeof t->desc, "xml: nested tags of 2-10 letters, at most %d "
                     "characters; %d valid sequences", o.max_len, o.valid_size);
    } else if (strcmp(name, "adding") == 0) {
        t->input = WEFT_TASK_DENSE;
        t->in_width = 2;
        t->loss = WEFT_TASK_MSE;
        t->out_width = 1;
        t->metric = WEFT_METRIC_MSE;
        snprintf(t->desc, sizeof t->desc, "adding: length %d; %d valid sequences", o.length,
                 o.valid_size);
    } else if (strcmp(name, "copy") == 0) {
        t->input = WEFT_TASK_TOKENS;
        t->in_width = t->out_width = COPY_SYMBOLS;
        t->loss = WEFT_TASK_CE;
        t->metric = WEFT_METRIC_NLL;
        snprintf(t->desc, sizeof t->desc, "copy: 10 symbols, delay %d; %d valid sequences",
                 o.length, o.valid_size);
    } else if (strcmp(name, "music") == 0) {
        t->input = WEFT_TASK_DENSE;
        t->in_width = t->out_width = MUSIC_KEYS;
        t->loss = WEFT_TASK_BCE;
        t->metric = WEFT_METRIC_NLL;
        if (load_music(t, err, errsize)) goto fail;
        return t;
    } else {
        t->input = WEFT_TASK_TOKENS;
        t->loss = WEFT_TASK_CE;
        t->metric = WEFT_METRIC_NLL;
        if (load_ptb(t, err, errsize)) goto fail;
        return t;
    }

    /* a generated task: its validation set from a seed of its own */
    t->valid = calloc((size_t)o.valid_size, sizeof *t->valid);
    if (!t->valid) {
        weft_say(err, errsize, "out of memory");
        goto fail;
    }
    weft_rng r;
    weft_rng_seed(&r, VALID_SEED);
    for (int k = 0; k < o.valid_size; k++) {
        if (generate(t, &r, &t->valid[k])) {
            weft_say(err, errsize, "%s: cannot make validation example %d (out of memory)", name,
                k);
            goto fail;
        }
        t->n_valid++;
    }
    return t;
fail:
    weft_task_free(t);
    return NULL;
}
