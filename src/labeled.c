/* src/labeled.c — labelled text (weft/labeled.h): reading the classification,
 * CoNLL-U and BIO formats line by line, vocabularies, writing CoNLL-U back.
 *
 * The reader keeps two copies of the bytes: `text`, untouched (CoNLL-U is
 * written back from it), and `strings`, where the fields are cut out in
 * place with NULs; the words, tags and labels point into `strings`. */
#include "weft/labeled.h"

#include "src/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const char *weft_labeled_format_name(weft_labeled_format f)
{
    return f == WEFT_FORMAT_CONLLU ? "conllu"
           : f == WEFT_FORMAT_BIO  ? "bio"
           : f == WEFT_FORMAT_TEXT ? "text"
                                   : "classify";
}

int weft_labeled_format_parse(const char *name, weft_labeled_format *out)
{
    static const weft_labeled_format all[] = { WEFT_FORMAT_CLASSIFY, WEFT_FORMAT_CONLLU,
                                               WEFT_FORMAT_BIO, WEFT_FORMAT_TEXT };
    for (int i = 0; i < 4; i++)
        if (strcmp(name, weft_labeled_format_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

/* --- growing the arrays -------------------------------------------------------------- */

typedef struct builder {
    weft_labeled_data *d;
    int cap_words, cap_sents, cap_labels;   /* sent_start and label grow apart */
} builder;

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int add_word(builder *b, const char *word, const char *tag, int line, size_t field_at,
                    uint32_t field_len)
{
    weft_labeled_data *d = b->d;
    int n = d->n_words, cap = b->cap_words;
    if (grow((void **)&d->word, &cap, n + 1, sizeof *d->word)) return -1;
    cap = b->cap_words;
    if (grow((void **)&d->line, &cap, n + 1, sizeof *d->line)) return -1;
    if (d->format == WEFT_FORMAT_CONLLU || d->format == WEFT_FORMAT_BIO) {
        cap = b->cap_words;
        if (grow((void **)&d->tag, &cap, n + 1, sizeof *d->tag)) return -1;
    }
    if (d->format == WEFT_FORMAT_CONLLU) {
        cap = b->cap_words;
        if (grow((void **)&d->field_at, &cap, n + 1, sizeof *d->field_at)) return -1;
        cap = b->cap_words;
        if (grow((void **)&d->field_len, &cap, n + 1, sizeof *d->field_len)) return -1;
        d->field_at[n] = field_at;
        d->field_len[n] = field_len;
    }
    b->cap_words = cap;
    d->word[n] = word;
    d->line[n] = line;
    if (d->tag) d->tag[n] = tag;
    d->n_words = n + 1;
    return 0;
}

/* Close the sentence that started at word sent_start[n_sents] (when it has words). */
static int end_sentence(builder *b, const char *label)
{
    weft_labeled_data *d = b->d;
    int s = d->n_sents;
    if (d->n_words == d->sent_start[s]) return 0;
    if (grow((void **)&d->sent_start, &b->cap_sents, s + 2, sizeof *d->sent_start)) return -1;
    if (d->format == WEFT_FORMAT_CLASSIFY) {
        if (grow((void **)&d->label, &b->cap_labels, s + 1, sizeof *d->label)) return -1;
        d->label[s] = label;
    }
    d->n_sents = s + 1;
    d->sent_start[s + 1] = d->n_words;
    return 0;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

/* Cut the next whitespace-separated field from *p (NUL-terminating it in
 * place); NULL when none is left. */
static char *next_field(char **p)
{
    char *s = *p;
    while (*s && isspace((unsigned char)*s)) s++;
    if (!*s) {
        *p = s;
        return NULL;
    }
    char *start = s;
    while (*s && !isspace((unsigned char)*s)) s++;
    if (*s) *s++ = '\0';
    *p = s;
    return start;
}

/* --- the three formats, one line at a time ---------------------------------------------
 *
 * Each gets the line (NUL-terminated, without its line end, in `strings`),
 * its number and its offset in `text`; returns 0, or -1 with a message. */

static int classify_line(builder *b, char *line, int lineno, char *err, size_t errsize)
{
    const char *path = b->d->path;
    if (is_blank(line)) return 0;
    char *p = line;
    char *label = b->d->format == WEFT_FORMAT_TEXT ? NULL : next_field(&p);
    int n = 0;
    for (char *w; (w = next_field(&p));) {
        if (add_word(b, w, NULL, lineno, 0, 0)) goto oom;
        n++;
    }
    if (n == 0 && label) {
        weft_say(err, errsize, "%s:%d: the line has a label ('%s') but no words (expected "
                 "'LABEL word word ...')", path, lineno, label);
        return -1;
    }
    if (n == 0) return 0;
    if (end_sentence(b, label)) goto oom;
    return 0;
oom:
    weft_say(err, errsize, "%s:%d: out of memory", path, lineno);
    return -1;
}

static int conllu_line(builder *b, char *line, size_t at, int lineno, char *err, size_t errsize)
{
    weft_labeled_data *d = b->d;
    if (line[0] == '\0' || is_blank(line)) {
        if (end_sentence(b, NULL)) goto oom;
        return 0;
    }
    if (line[0] == '#') return 0;
    /* ten tab-separated fields */
    char *field[10];
    size_t field_at[10];
    int n = 0;
    char *s = line;
    for (;;) {
        if (n == 10) {
            weft_say(err, errsize, "%s:%d: more than 10 tab-separated fields (a CoNLL-U word "
                     "line has exactly 10)", d->path, lineno);
            return -1;
        }
        field[n] = s;
        field_at[n] = at + (size_t)(s - line);
        n++;
        char *tab = strchr(s, '\t');
        if (!tab) break;
        *tab = '\0';
        s = tab + 1;
    }
    if (n != 10) {
        weft_say(err, errsize, "%s:%d: %d tab-separated field%s, a CoNLL-U word line has 10 "
                 "(ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC)", d->path, lineno, n,
                 n == 1 ? "" : "s");
        return -1;
    }
    const char *id = field[0];
    if (!isdigit((unsigned char)id[0])) {
        weft_say(err, errsize, "%s:%d: ID '%s' is not a word index (N), a range (N-M) or an "
                 "empty node (N.M)", d->path, lineno, id);
        return -1;
    }
    if (strchr(id, '-') || strchr(id, '.')) return 0;   /* not a syntactic word */
    for (const char *c = id; *c; c++)
        if (!isdigit((unsigned char)*c)) {
            weft_say(err, errsize, "%s:%d: ID '%s' is not a word index", d->path, lineno, id);
            return -1;
        }
    int k = d->column - 1;
    if (field[1][0] == '\0' || field[k][0] == '\0') {
        weft_say(err, errsize, "%s:%d: field %d (%s) is empty", d->path, lineno,
                 field[1][0] == '\0' ? 2 : d->column, field[1][0] == '\0' ? "FORM" : "the tag");
        return -1;
    }
    if (add_word(b, field[1], field[k], lineno, field_at[k], (uint32_t)strlen(field[k])))
        goto oom;
    return 0;
oom:
    weft_say(err, errsize, "%s:%d: out of memory", d->path, lineno);
    return -1;
}

static int bio_line(builder *b, char *line, int lineno, char *err, size_t errsize)
{
    weft_labeled_data *d = b->d;
    if (is_blank(line)) {
        if (end_sentence(b, NULL)) goto oom;
        return 0;
    }
    char *p = line;
    char *word = next_field(&p), *tag = NULL;
    if (strcmp(word, "-DOCSTART-") == 0) return 0;
    for (char *f; (f = next_field(&p));) tag = f;
    if (!tag) {
        weft_say(err, errsize, "%s:%d: one field ('%s'); a BIO line is 'word ... TAG' with the "
                 "tag last", d->path, lineno, word);
        return -1;
    }
    bool ok = strcmp(tag, "O") == 0 ||
              ((tag[0] == 'B' || tag[0] == 'I' || tag[0] == 'E' || tag[0] == 'S') &&
               tag[1] == '-' && tag[2] != '\0');
    if (!ok) {
        weft_say(err, errsize, "%s:%d: tag '%s' is not O, B-TYPE, I-TYPE, E-TYPE or S-TYPE",
                 d->path, lineno, tag);
        return -1;
    }
    if (add_word(b, word, tag, lineno, 0, 0)) goto oom;
    return 0;
oom:
    weft_say(err, errsize, "%s:%d: out of memory", d->path, lineno);
    return -1;
}

/* Takes text (malloc'd, len bytes plus a NUL) over. */
static int parse(char *text, size_t len, const char *name, weft_labeled_format format,
                 int column, weft_labeled_data *d, char *err, size_t errsize)
{
    *d = (weft_labeled_data){ .format = format, .column = column, .text = text,
                              .text_len = len };
    builder b = { .d = d };
    if (format == WEFT_FORMAT_CONLLU && (column < 1 || column > 10 || column == WEFT_CONLLU_FORM)) {
        weft_say(err, errsize, "%s: CoNLL-U field %d cannot be predicted (1..10, not FORM = 2; "
                 "UPOS is 4, XPOS 5)", name, column);
        goto fail;
    }
    d->path = strdup(name);
    d->strings = malloc(len + 1);
    b.cap_sents = 0;
    if (!d->path || !d->strings || grow((void **)&d->sent_start, &b.cap_sents, 2, sizeof(int)))
        goto oom;
    memcpy(d->strings, text, len + 1);
    d->sent_start[0] = 0;
    /* line by line; a check that the bytes are UTF-8 first, naming the line */
    int lineno = 1;
    size_t at = 0;
    while (at < len) {
        char *line = d->strings + at;
        char *nl = memchr(line, '\n', len - at);
        size_t line_len = nl ? (size_t)(nl - line) : len - at;
        for (size_t i = 0; i < line_len;) {
            int n = weft_utf8_length((const unsigned char *)line + i, line_len - i);
            if (n == 0 || (line[i] == '\0')) {
                weft_say(err, errsize, "%s:%d: %s at byte %zu", name, lineno,
                         n == 0 ? "invalid UTF-8" : "a NUL byte", i + 1);
                goto fail;
            }
            i += (size_t)n;
        }
        line[line_len] = '\0';
        if (line_len > 0 && line[line_len - 1] == '\r') line[line_len - 1] = '\0';
        int rc = format == WEFT_FORMAT_CONLLU ? conllu_line(&b, line, at, lineno, err, errsize)
                 : format == WEFT_FORMAT_BIO  ? bio_line(&b, line, lineno, err, errsize)
                                              : classify_line(&b, line, lineno, err, errsize);
        if (rc) goto fail;
        at += line_len + 1;
        lineno++;
    }
    if ((format == WEFT_FORMAT_CONLLU || format == WEFT_FORMAT_BIO) && end_sentence(&b, NULL))
        goto oom;
    if (d->n_sents == 0) {
        weft_say(err, errsize, "%s: no %s in the file (format %s)", name,
                 format == WEFT_FORMAT_CLASSIFY ? "examples" : "sentences",
                 weft_labeled_format_name(format));
        goto fail;
    }
    return 0;
oom:
    weft_say(err, errsize, "%s: out of memory", name);
fail:
    weft_labeled_free(d);
    return -1;
}

int weft_labeled_read(const char *path, weft_labeled_format format, int column,
                      weft_labeled_data *out, char *err, size_t errsize)
{
    *out = (weft_labeled_data){ 0 };
    char *text;
    size_t len;
    if (weft_read_file(path, &text, &len, err, errsize)) return -1;
    return parse(text, len, path, format, column, out, err, errsize);
}

int weft_labeled_from_string(const char *text, size_t len, const char *name,
                             weft_labeled_format format, int column, weft_labeled_data *out,
                             char *err, size_t errsize)
{
    *out = (weft_labeled_data){ 0 };
    char *copy = malloc(len + 1);
    if (!copy) {
        weft_say(err, errsize, "%s: out of memory", name);
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    return parse(copy, len, name, format, column, out, err, errsize);
}

void weft_labeled_free(weft_labeled_data *d)
{
    if (!d) return;
    free(d->path);
    free(d->sent_start);
    free(d->word);
    free(d->tag);
    free(d->label);
    free(d->line);
    free(d->text);
    free(d->field_at);
    free(d->field_len);
    free(d->strings);
    *d = (weft_labeled_data){ 0 };
}

const char *const *weft_labeled_words(const weft_labeled_data *d, int s, int *n)
{
    *n = d->sent_start[s + 1] - d->sent_start[s];
    return d->word + d->sent_start[s];
}

int weft_labeled_write_conllu(const weft_labeled_data *d, const char *const *tags, FILE *f,
                              char *err, size_t errsize)
{
    if (d->format != WEFT_FORMAT_CONLLU || !d->text) {
        weft_say(err, errsize, "%s: not read as CoNLL-U: cannot be written back as CoNLL-U",
                 d->path);
        return -1;
    }
    size_t at = 0;
    for (int k = 0; k < d->n_words; k++) {
        const char *t = tags[k];
        if (!t || !t[0] || strpbrk(t, "\t\n\r")) {
            weft_say(err, errsize, "%s:%d: the tag to write is empty or holds a tab or line end",
                     d->path, d->line[k]);
            return -1;
        }
        if (fwrite(d->text + at, 1, d->field_at[k] - at, f) != d->field_at[k] - at ||
            fputs(t, f) == EOF)
            goto write_error;
        at = d->field_at[k] + d->field_len[k];
    }
    if (fwrite(d->text + at, 1, d->text_len - at, f) != d->text_len - at) goto write_error;
    return 0;
write_error:
    weft_say(err, errsize, "writing CoNLL-U (from %s) failed", d->path);
    return -1;
}

/* --- normalisation and vocabularies ------------------------------------------------------ */

const char *weft_word_normalize(const char *w, weft_word_norm norm, char *buf, size_t bufsize)
{
    size_t i = 0;
    for (; w[i] && i + 1 < bufsize; i++) {
        char c = w[i];
        if (norm.lowercase && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (norm.digits && c >= '0' && c <= '9') c = '0';
        buf[i] = c;
    }
    buf[i] = '\0';
    return buf;
}

enum { WORD_MAX = 1024 };

/* Count the distinct strings of strs[0..n) into a first-seen vocabulary
 * *all and *counts (both the caller's). */
static int count_strings(const char *const *strs, int n, weft_word_norm norm, bool normalise,
                         weft_vocab **all, int **counts)
{
    *all = weft_vocab_new();
    *counts = NULL;
    int cap = 0;
    if (!*all) return -1;
    char buf[WORD_MAX];
    for (int i = 0; i < n; i++) {
        const char *w = normalise ? weft_word_normalize(strs[i], norm, buf, sizeof buf) : strs[i];
        int seen = weft_vocab_size(*all);
        int id = weft_vocab_add(*all, w, strlen(w));
        if (id < 0 || grow((void **)counts, &cap, id + 1, sizeof **counts)) return -1;
        if (id == seen) (*counts)[id] = 0;   /* a new string */
        (*counts)[id]++;
    }
    return 0;
}

weft_vocab *weft_labeled_word_vocab(const weft_labeled_data *d, weft_word_norm norm,
                                    int min_count, const char *const *specials, int n_specials,
                                    char *err, size_t errsize)
{
    weft_vocab *all = NULL, *v = weft_vocab_new();
    int *counts = NULL;
    if (!v || count_strings(d->word, d->n_words, norm, true, &all, &counts)) goto oom;
    for (int i = 0; i < n_specials; i++)
        if (weft_vocab_add(v, specials[i], strlen(specials[i])) < 0) goto oom;
    for (int id = 0; id < weft_vocab_size(all); id++) {
        const char *w = weft_vocab_token(all, id);
        if (counts[id] >= min_count && weft_vocab_add(v, w, strlen(w)) < 0) goto oom;
    }
    weft_vocab_free(all);
    free(counts);
    return v;
oom:
    weft_say(err, errsize, "%s: out of memory building the vocabulary", d->path);
    weft_vocab_free(all);
    weft_vocab_free(v);
    free(counts);
    return NULL;
}

static bool is_whole_number(const char *s)
{
    if (*s == '-') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* A label and, when every label is a whole number, its value (else 0 for all,
 * and the bytes decide). */
typedef struct label_key {
    long value;
    const char *s;
} label_key;

static int by_label(const void *a, const void *b)
{
    const label_key *x = a, *y = b;
    if (x->value != y->value) return x->value < y->value ? -1 : 1;
    return strcmp(x->s, y->s);
}

weft_vocab *weft_labeled_label_vocab(const weft_labeled_data *d, char *err, size_t errsize)
{
    if (d->format == WEFT_FORMAT_TEXT) {
        weft_say(err, errsize, "%s: read as plain text: no labels", d->path);
        return NULL;
    }
    const char *const *strs = d->format == WEFT_FORMAT_CLASSIFY ? d->label : d->tag;
    int n = d->format == WEFT_FORMAT_CLASSIFY ? d->n_sents : d->n_words;
    weft_vocab *all = NULL, *v = weft_vocab_new();
    int *counts = NULL;
    label_key *sorted = NULL;
    if (!v || count_strings(strs, n, (weft_word_norm){ 0 }, false, &all, &counts)) goto oom;
    int k = weft_vocab_size(all);
    sorted = malloc((size_t)k * sizeof *sorted);
    if (!sorted) goto oom;
    bool numeric = true;
    for (int i = 0; i < k; i++) numeric = numeric && is_whole_number(weft_vocab_token(all, i));
    for (int i = 0; i < k; i++) {
        const char *t = weft_vocab_token(all, i);
        sorted[i] = (label_key){ numeric ? strtol(t, NULL, 10) : 0, t };
    }
    qsort(sorted, (size_t)k, sizeof *sorted, by_label);
    for (int i = 0; i < k; i++)
        if (weft_vocab_add(v, sorted[i].s, strlen(sorted[i].s)) < 0) goto oom;
    free(sorted);
    weft_vocab_free(all);
    free(counts);
    return v;
oom:
    weft_say(err, errsize, "%s: out of memory building the label set", d->path);
    free(sorted);
    weft_vocab_free(all);
    weft_vocab_free(v);
    free(counts);
    return NULL;
}

weft_vocab *weft_labeled_char_vocab(const weft_labeled_data *d, int min_count, char *err,
                                    size_t errsize)
{
    weft_vocab *all = weft_vocab_new(), *v = weft_vocab_new();
    int *counts = NULL, cap = 0;
    if (!all || !v || weft_vocab_add(v, WEFT_UNK, strlen(WEFT_UNK)) < 0) goto oom;
    for (int k = 0; k < d->n_words; k++) {
        const char *w = d->word[k];
        size_t len = strlen(w);
        for (size_t i = 0; i < len;) {
            int n = weft_utf8_length((const unsigned char *)w + i, len - i);
            if (n == 0) n = 1;
            int id = weft_vocab_add(all, w + i, (size_t)n);
            if (id < 0) goto oom;
            if (id >= cap) {
                int old = cap;
                if (grow((void **)&counts, &cap, id + 1, sizeof *counts)) goto oom;
                memset(counts + old, 0, (size_t)(cap - old) * sizeof *counts);
            }
            counts[id]++;
            i += (size_t)n;
        }
    }
    for (int id = 0; id < weft_vocab_size(all); id++) {
        const char *c = weft_vocab_token(all, id);
        if (counts[id] >= min_count && weft_vocab_add(v, c, strlen(c)) < 0) goto oom;
    }
    weft_vocab_free(all);
    free(counts);
    return v;
oom:
    weft_say(err, errsize, "%s: out of memory building the character set", d->path);
    weft_vocab_free(all);
    weft_vocab_free(v);
    free(counts);
    return NULL;
}

int *weft_labeled_encode_words(const weft_labeled_data *d, const weft_vocab *v,
                               weft_word_norm norm, char *err, size_t errsize)
{
    int unk = weft_vocab_unk(v);
    if (unk < 0) {
        weft_say(err, errsize, "%s: the word vocabulary has no %s", d->path, WEFT_UNK);
        return NULL;
    }
    int *ids = malloc((size_t)(d->n_words > 0 ? d->n_words : 1) * sizeof *ids);
    if (!ids) {
        weft_say(err, errsize, "%s: out of memory", d->path);
        return NULL;
    }
    char buf[WORD_MAX];
    for (int k = 0; k < d->n_words; k++) {
        const char *w = weft_word_normalize(d->word[k], norm, buf, sizeof buf);
        int id = weft_vocab_find(v, w, strlen(w));
        ids[k] = id >= 0 ? id : unk;
    }
    return ids;
}

int *weft_labeled_encode_labels(const weft_labeled_data *d, const weft_vocab *v, char *err,
                                size_t errsize)
{
    const char *const *strs = d->format == WEFT_FORMAT_CLASSIFY ? d->label : d->tag;
    int n = d->format == WEFT_FORMAT_CLASSIFY || d->format == WEFT_FORMAT_TEXT ? d->n_sents
                                                                              : d->n_words;
    int *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!ids) {
        weft_say(err, errsize, "%s: out of memory", d->path);
        return NULL;
    }
    for (int i = 0; i < n; i++) ids[i] = strs ? weft_vocab_find(v, strs[i], strlen(strs[i])) : -1;
    return ids;
}
