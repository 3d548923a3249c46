/* src/data.c — token streams, vocabularies and batches (weft/data.h). */
#include "weft/data.h"

#include "src/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- reading and splitting ------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int weft_utf8_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    int len;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int push(weft_tokens *t, size_t *cap, size_t start, uint32_t len)
{
    if (t->count == *cap) {
        size_t c = *cap ? 2 * *cap : 4096;
        size_t *s = realloc(t->start, c * sizeof *s);
        if (!s) return -1;
        t->start = s;
        uint32_t *l = realloc(t->len, c * sizeof *l);
        if (!l) return -1;
        t->len = l;
        *cap = c;
    }
    t->start[t->count] = start;
    t->len[t->count] = len;
    t->count++;
    return 0;
}

/* "<eos>" tokens are marked by this start (they are not in the text). */
#define EOS_MARK ((size_t)-1)

static int split(weft_tokens *t, const char *name, char *err, size_t errsize)
{
    const unsigned char *s = (const unsigned char *)t->text;
    size_t n = t->text_len, cap = 0, line = 1;
    for (size_t i = 0; i < n;) {
        int len = weft_utf8_length(s + i, n - i);
        if (len == 0) {
            weft_say(err, errsize, "%s: line %zu: invalid UTF-8 at byte %zu (0x%02x)", name, line,
                i, s[i]);
            return -1;
        }
        /* A vocabulary's tokens are C strings, saved as JSON strings: a NUL
         * would cut a word short, or make an empty character, and the model
         * saved would not load. Text has none; a binary file does. */
        if (s[i] == '\0') {
            weft_say(err, errsize, "%s: line %zu: a NUL byte at byte %zu (not text: weft reads "
                "UTF-8 text without NUL bytes)", name, line, i);
            return -1;
        }
        i += (size_t)len;
        if (s[i - len] == '\n') line++;
    }
    line = 1;
    if (t->level == WEFT_TEXT_CHARS) {
        for (size_t i = 0; i < n;) {
            int len = weft_utf8_length(s + i, n - i);
            if (push(t, &cap, i, (uint32_t)len)) goto oom;
            i += (size_t)len;
        }
    } else {
        /* words; an "<eos>" closes every line, the last one too even without
         * a final newline, as `line.split() + ['<eos>']` does */
        size_t i = 0;
        while (i < n) {
            if (s[i] == '\n') {
                if (push(t, &cap, EOS_MARK, (uint32_t)strlen(WEFT_EOS))) goto oom;
                i++;
                continue;
            }
            if (is_space((char)s[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && !is_space((char)s[j])) j++;
            if (push(t, &cap, i, (uint32_t)(j - i))) goto oom;
            i = j;
        }
        if (n > 0 && s[n - 1] != '\n')
            if (push(t, &cap, EOS_MARK, (uint32_t)strlen(WEFT_EOS))) goto oom;
    }
    if (t->count == 0) {
        weft_say(err, errsize, "%s: no tokens (the text is empty or only white space)", name);
        return -1;
    }
    return 0;
oom:
    weft_say(err, errsize, "%s: out of memory after %zu tokens", name, t->count);
    return -1;
}

/* Split `text` (len bytes plus a NUL, owned: taken over by out, or freed on
 * error) into out. */
static int tokens_take(char *text, size_t len, const char *name, weft_text_level level,
                       weft_tokens *out, char *err, size_t errsize)
{
    *out = (weft_tokens){ .level = level, .text = text, .text_len = len };
    text[len] = '\0';
    if (len == 0) {
        weft_say(err, errsize, "%s: the file is empty", name);
        weft_tokens_free(out);
        return -1;
    }
    if (split(out, name, err, errsize)) {
        weft_tokens_free(out);
        return -1;
    }
    /* drop the slack of the doubling growth: a long-lived array is kept
     * exactly as long as it needs to be */
    size_t *s = realloc(out->start, out->count * sizeof *s);
    if (s) out->start = s;
    uint32_t *l = realloc(out->len, out->count * sizeof *l);
    if (l) out->len = l;
    return 0;
}

int weft_tokens_from_string(const char *text, size_t len, const char *name, weft_text_level level,
                            weft_tokens *out, char *err, size_t errsize)
{
    *out = (weft_tokens){ .level = level };
    char *copy = malloc(len + 1);
    if (!copy) {
        weft_say(err, errsize, "%s: out of memory for %zu bytes", name, len);
        return -1;
    }
    memcpy(copy, text, len);
    return tokens_take(copy, len, name, level, out, err, errsize);
}

int weft_read_file(const char *path, char **text, size_t *len_out, char *err, size_t errsize)
{
    *text = NULL;
    *len_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        weft_say(err, errsize, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    /* One buffer of the file's size (when it can be told: a regular file).
     * A pipe or a file that grows while read falls back to doubling. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        weft_say(err, errsize, "%s: is a directory, not a text file", path);
        return -1;
    }
    size_t cap = 1 << 20;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0) cap = (size_t)size + 1;
        rewind(f);
    }
    char *buf = malloc(cap);
    size_t len = 0;
    for (;;) {
        if (!buf) {
            fclose(f);
            weft_say(err, errsize, "%s: out of memory reading %zu bytes", path, len);
            return -1;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);   /* room for the NUL */
        len += got;
        if (len < cap - 1) break;   /* a short read: end of file, or an error */
        int c = fgetc(f);           /* full: is there more? */
        if (c == EOF) break;
        cap *= 2;
        char *b = realloc(buf, cap);
        if (!b) free(buf);
        buf = b;
        if (buf) buf[len++] = (char)c;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        weft_say(err, errsize, "%s: read error after %zu bytes", path, len);
        return -1;
    }
    buf[len] = '\0';
    *text = buf;
    *len_out = len;
    return 0;
}

int weft_tokens_read(const char *path, weft_text_level level, weft_tokens *out, char *err,
                     size_t errsize)
{
    *out = (weft_tokens){ .level = level };
    /* read into one buffer and split in place: the text is held once, not twice */
    char *buf;
    size_t len;
    if (weft_read_file(path, &buf, &len, err, errsize)) return -1;
    return tokens_take(buf, len, path, level, out, err, errsize);
}

void weft_tokens_free(weft_tokens *t)
{
    free(t->text);
    free(t->start);
    free(t->len);
    *t = (weft_tokens){ 0 };
}

const char *weft_token(const weft_tokens *t, size_t k, uint32_t *len)
{
    *len = t->len[k];
    return t->start[k] == EOS_MARK ? WEFT_EOS : t->text + t->start[k];
}

/* --- vocabulary: tokens in an array, ids in an open-addressing hash table ------------ */

struct weft_vocab {
    char **tokens;       /* id -> token (NUL-terminated, owned) */
    uint32_t *lens;
    int count, cap;
    int *slots;          /* hash slot -> id, -1 empty; nslots a power of two */
    size_t nslots;
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

weft_vocab *weft_vocab_new(void)
{
    weft_vocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->nslots = 1024;
    v->slots = malloc(v->nslots * sizeof *v->slots);
    if (!v->slots) {
        free(v);
        return NULL;
    }
    memset(v->slots, 0xff, v->nslots * sizeof *v->slots);
    return v;
}

void weft_vocab_free(weft_vocab *v)
{
    if (!v) return;
    for (int i = 0; i < v->count; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->lens);
    free(v->slots);
    free(v);
}

static size_t find_slot(const weft_vocab *v, const char *tok, size_t len)
{
    size_t mask = v->nslots - 1, s = (size_t)hash(tok, len) & mask;
    while (v->slots[s] >= 0) {
        int id = v->slots[s];
        if (v->lens[id] == len && memcmp(v->tokens[id], tok, len) == 0) return s;
        s = (s + 1) & mask;
    }
    return s;
}

int weft_vocab_find(const weft_vocab *v, const char *tok, size_t len)
{
    return v->slots[find_slot(v, tok, len)];
}

static int rehash(weft_vocab *v)
{
    size_t n = v->nslots * 2;
    int *slots = malloc(n * sizeof *slots);
    if (!slots) return -1;
    memset(slots, 0xff, n * sizeof *slots);
    free(v->slots);
    v->slots = slots;
    v->nslots = n;
    for (int id = 0; id < v->count; id++) v->slots[find_slot(v, v->tokens[id], v->lens[id])] = id;
    return 0;
}

int weft_vocab_add(weft_vocab *v, const char *tok, size_t len)
{
    size_t s = find_slot(v, tok, len);
    if (v->slots[s] >= 0) return v->slots[s];
    if (v->count == v->cap) {
        int cap = v->cap ? 2 * v->cap : 256;
        char **tokens = realloc(v->tokens, (size_t)cap * sizeof *tokens);
        if (!tokens) return -1;
        v->tokens = tokens;
        uint32_t *lens = realloc(v->lens, (size_t)cap * sizeof *lens);
        if (!lens) return -1;
        v->lens = lens;
        v->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, tok, len);
    copy[len] = '\0';
    int id = v->count++;
    v->tokens[id] = copy;
    v->lens[id] = (uint32_t)len;
    v->slots[s] = id;
    if ((size_t)v->count * 2 > v->nslots && rehash(v)) return -1;
    return id;
}

int weft_vocab_size(const weft_vocab *v)
{
    return v->count;
}

const char *weft_vocab_token(const weft_vocab *v, int id)
{
    return id >= 0 && id < v->count ? v->tokens[id] : NULL;
}

int weft_vocab_unk(const weft_vocab *v)
{
    return weft_vocab_find(v, WEFT_UNK, strlen(WEFT_UNK));
}

/* Order for choosing the max_size most frequent: count descending, then
 * first occurrence. */
typedef struct freq {
    int id, count;
} freq;

static int by_count(const void *a, const void *b)
{
    const freq *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->id - y->id;
}

weft_vocab *weft_vocab_build(const weft_tokens *t, int min_count, int max_size, char *err,
                             size_t errsize)
{
    /* count every distinct token, ids in first-occurrence order */
    weft_vocab *all = weft_vocab_new(), *v = NULL;
    int *counts = NULL;
    freq *order = NULL;
    bool *keep = NULL;
    if (!all) goto oom;
    int cap = 0;
    for (size_t k = 0; k < t->count; k++) {
        uint32_t len;
        const char *tok = weft_token(t, k, &len);
        int id = weft_vocab_add(all, tok, len);
        if (id < 0) goto oom;
        if (id >= cap) {
            int c = cap ? 2 * cap : 1024;
            int *cs = realloc(counts, (size_t)c * sizeof *cs);
            if (!cs) goto oom;
            memset(cs + cap, 0, (size_t)(c - cap) * sizeof *cs);
            counts = cs;
            cap = c;
        }
        counts[id]++;
    }
    int n = weft_vocab_size(all);
    keep = calloc((size_t)n, sizeof *keep);
    order = malloc((size_t)n * sizeof *order);
    if (!keep || !order) goto oom;
    int kept = 0;
    for (int id = 0; id < n; id++) {
        order[id] = (freq){ id, counts[id] };
        keep[id] = counts[id] >= (min_count > 1 ? min_count : 1);
        kept += keep[id];
    }
    if (max_size > 0 && kept > max_size) {
        qsort(order, (size_t)n, sizeof *order, by_count);
        int room = max_size - 1;   /* one place for <unk> */
        kept = 0;
        for (int k = 0; k < n; k++) {
            int id = order[k].id;
            if (!keep[id]) continue;
            keep[id] = kept < room;
            kept += keep[id];
        }
    }
    v = weft_vocab_new();
    if (!v) goto oom;
    if (kept < n && weft_vocab_add(v, WEFT_UNK, strlen(WEFT_UNK)) < 0) goto oom;
    for (int id = 0; id < n; id++)
        if (keep[id] && weft_vocab_add(v, all->tokens[id], all->lens[id]) < 0) goto oom;
    free(counts);
    free(order);
    free(keep);
    weft_vocab_free(all);
    return v;
oom:
    weft_say(err, errsize, "vocabulary: out of memory");
    free(counts);
    free(order);
    free(keep);
    weft_vocab_free(all);
    weft_vocab_free(v);
    return NULL;
}

int *weft_tokens_encode(const weft_tokens *t, const weft_vocab *v, char *err, size_t errsize)
{
    int *ids = malloc(t->count * sizeof *ids);
    if (!ids) {
        weft_say(err, errsize, "encode: out of memory for %zu ids", t->count);
        return NULL;
    }
    int unk = weft_vocab_unk(v);
    for (size_t k = 0; k < t->count; k++) {
        uint32_t len;
        const char *tok = weft_token(t, k, &len);
        int id = weft_vocab_find(v, tok, len);
        if (id < 0 && unk < 0) {
            weft_say(err, errsize, "token %zu '%.*s' is not in the vocabulary, which has no %s to "
                "stand for it (does the vocabulary belong to this text?)", k,
                (int)(len > 40 ? 40 : len), tok, WEFT_UNK);
            free(ids);
            return NULL;
        }
        ids[k] = id < 0 ? unk : id;
    }
    return ids;
}

const char *weft_text_level_name(weft_text_level level)
{
    return level == WEFT_TEXT_CHARS ? "char" : "word";
}

int weft_text_level_parse(const char *name, weft_text_level *out)
{
    if (strcmp(name, "word") == 0) *out = WEFT_TEXT_WORDS;
    else if (strcmp(name, "char") == 0) *out = WEFT_TEXT_CHARS;
    else return -1;
    return 0;
}

int weft_vocab_encode_text(const weft_vocab *v, weft_text_level level, const char *text,
                           int **ids, int *n, char *err, size_t errsize)
{
    *ids = NULL;
    *n = 0;
    size_t len = strlen(text);
    if (len == 0) return 0;
    weft_tokens t;
    if (weft_tokens_from_string(text, len, "the prime text", level, &t, err, errsize)) return -1;
    /* Words: the split adds "<eos>" at the end of the last line too; keep it
     * only when the text really ends a line. */
    size_t count = t.count;
    if (level == WEFT_TEXT_WORDS && count > 0 && text[len - 1] != '\n') count--;
    t.count = count;
    int *out = count ? weft_tokens_encode(&t, v, err, errsize) : NULL;
    weft_tokens_free(&t);
    if (count && !out) return -1;
    *ids = out;
    *n = (int)count;
    return 0;
}

int weft_vocab_write_text(const weft_vocab *v, weft_text_level level, const int *ids, int n,
                          bool after_newline, FILE *f)
{
    bool line_start = after_newline;
    for (int k = 0; k < n; k++) {
        const char *tok = weft_vocab_token(v, ids[k]);
        if (!tok) continue;
        if (level == WEFT_TEXT_CHARS) {
            fputs(tok, f);
            continue;
        }
        if (strcmp(tok, WEFT_EOS) == 0) {
            fputc('\n', f);
            line_start = true;
            continue;
        }
        if (!line_start) fputc(' ', f);
        fputs(tok, f);
        line_start = false;
    }
    return ferror(f) ? -1 : 0;
}

/* --- the vocabulary as JSON ----------------------------------------------------------- */

char *weft_vocab_to_json(const weft_vocab *v)
{
    cJSON *a = cJSON_CreateArray();
    if (!a) return NULL;
    int n = weft_vocab_size(v);
    for (int i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateString(weft_vocab_token(v, i));
        if (!s) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, s);
    }
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

weft_vocab *weft_vocab_from_json(const char *json, int expect_size, const char *path, char *err,
                                 size_t errsize)
{
    weft_vocab *vocab = NULL;
    cJSON *a = cJSON_Parse(json);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1) {
        weft_say(err, errsize, "%s: weft.vocab is not a JSON list of tokens", path);
        goto fail;
    }
    if (expect_size >= 0 && expect_size != cJSON_GetArraySize(a)) {
        weft_say(err, errsize, "%s: weft.config says vocab_size %d but weft.vocab has %d tokens",
                 path, expect_size, cJSON_GetArraySize(a));
        goto fail;
    }
    if (!(vocab = weft_vocab_new())) {
        weft_say(err, errsize, "%s: out of memory", path);
        goto fail;
    }
    int i = 0;
    const cJSON *tok;
    cJSON_ArrayForEach(tok, a) {
        if (!cJSON_IsString(tok) || tok->valuestring[0] == '\0') {
            weft_say(err, errsize, "%s: weft.vocab: entry %d is not a non-empty string", path, i);
            goto fail;
        }
        int id = weft_vocab_add(vocab, tok->valuestring, strlen(tok->valuestring));
        if (id != i) {
            weft_say(err, errsize, "%s: weft.vocab: entry %d '%.40s' %s", path, i,
                     tok->valuestring,
                     id < 0 ? "cannot be added (out of memory)" : "appears twice");
            goto fail;
        }
        i++;
    }
    cJSON_Delete(a);
    return vocab;
fail:
    weft_vocab_free(vocab);
    cJSON_Delete(a);
    return NULL;
}

/* --- batches -------------------------------------------------------------------------- */

int weft_batchify(const int *ids, size_t n, int batch, weft_batches *out, char *err,
                  size_t errsize)
{
    *out = (weft_batches){ 0 };
    if (batch < 1) {
        weft_say(err, errsize, "batchify: batch size %d must be at least 1", batch);
        return -1;
    }
    size_t steps = n / (size_t)batch;
    if (steps < 2) {
        weft_say(err, errsize, "batchify: %zu tokens make fewer than 2 steps in each of %d streams",
            n, batch);
        return -1;
    }
    out->data = malloc(steps * (size_t)batch * sizeof *out->data);
    if (!out->data) {
        weft_say(err, errsize, "batchify: out of memory");
        return -1;
    }
    for (size_t t = 0; t < steps; t++)
        for (int b = 0; b < batch; b++) out->data[t * (size_t)batch + b] = ids[(size_t)b * steps + t];
    out->steps = (int)steps;
    out->batch = batch;
    return 0;
}

void weft_batches_free(weft_batches *b)
{
    free(b->data);
    *b = (weft_batches){ 0 };
}

int weft_batches_window(const weft_batches *b, int start, int bptt, const int **inputs,
                        const int **targets)
{
    if (start < 0 || start >= b->steps - 1) return 0;
    int len = b->steps - 1 - start;
    if (len > bptt) len = bptt;
    *inputs = b->data + (size_t)start * b->batch;
    *targets = b->data + (size_t)(start + 1) * b->batch;
    return len;
}
