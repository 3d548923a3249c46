/* src/io.c — checkpoints as safetensors files (weft/io.h).
 *
 * The format (https://github.com/huggingface/safetensors, "Format"):
 *   u64 N little-endian | N bytes of JSON, space-padded | data section.
 * The checks on reading follow the reference implementation: a header of at
 * most 100 MB that is one JSON object, "__metadata__" a map of strings to
 * strings, every other key a tensor {dtype, shape, data_offsets}, offsets
 * within the data section, and the tensors, sorted by offset, covering the data
 * section exactly (no hole, no overlap, nothing after the last one).
 */
#include "weft/io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses larger headers; so do we, which also
 * keeps a corrupted length from asking for gigabytes. */
#define MAX_HEADER_BYTES 100000000ull
/* Integers in the header are JSON numbers, which cJSON holds as doubles:
 * exact up to 2^53. */
#define MAX_JSON_INT 9007199254740992.0

/* "path: message" into err. */
static void fail(char *err, size_t errsize, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(char *err, size_t errsize, const char *path, const char *fmt, ...)
{
    if (!err || errsize == 0) return;
    int n = snprintf(err, errsize, "%s: ", path ? path : "(null)");
    if (n < 0 || (size_t)n >= errsize) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errsize - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap32(void *data, size_t n)
{
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += 4) {
        unsigned char t0 = p[0], t1 = p[1];
        p[0] = p[3];
        p[1] = p[2];
        p[2] = t1;
        p[3] = t0;
    }
}

/* Bytes per element of the safetensors dtypes; 0 for a dtype we do not know
 * (its byte count is then not checked against its shape). */
static size_t dtype_bytes(const char *dtype)
{
    static const struct { const char *name; size_t bytes; } table[] = {
        { "BOOL", 1 }, { "U8", 1 }, { "I8", 1 }, { "F8_E5M2", 1 }, { "F8_E4M3", 1 },
        { "I16", 2 }, { "U16", 2 }, { "F16", 2 }, { "BF16", 2 },
        { "I32", 4 }, { "U32", 4 }, { "F32", 4 },
        { "I64", 8 }, { "U64", 8 }, { "F64", 8 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(dtype, table[i].name) == 0) return table[i].bytes;
    return 0;
}

/* "[800, 200]" for a file tensor. */
static char *file_shape_str(const weft_checkpoint_tensor *t, char *buf, size_t bufsize)
{
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, bufsize, "[");
    for (int d = 0; d < t->rank && used < bufsize; d++)
        used += (size_t)snprintf(buf + used, bufsize - used, "%s%lld", d ? ", " : "",
                                 (long long)t->shape[d]);
    if (used < bufsize) snprintf(buf + used, bufsize - used, "]");
    return buf;
}

/* --- reading --------------------------------------------------------------- */

/* Read exactly n bytes at offset; 0, or -1 (errno set, or 0 for end of file). */
static int read_at(int fd, void *buf, size_t n, uint64_t offset)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = 0;
            return -1;
        }
        p += got;
        n -= (size_t)got;
        offset += (uint64_t)got;
    }
    return 0;
}

void weft_checkpoint_free(weft_checkpoint *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_meta; i++) {
        free((char *)c->meta[i].key);
        free((char *)c->meta[i].value);
    }
    free(c->meta);
    for (int i = 0; i < c->n_tensors; i++) free(c->tensors[i].name);
    free(c->tensors);
    free(c->by_name);
    *c = (weft_checkpoint){ 0 };
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A JSON number that is an integer in [0, 2^53]. */
static bool json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > MAX_JSON_INT || v != floor(v)) return false;
    *out = (uint64_t)v;
    return true;
}

/* Fill one tensor entry from its JSON object; 0 or -1 with err set. */
static int parse_tensor(const char *path, const cJSON *item, weft_checkpoint_tensor *t,
                        uint64_t data_bytes, char *err, size_t errsize)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item)) {
        fail(err, errsize, path, "header entry '%s' is not an object", name);
        return -1;
    }
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype) || strlen(dtype->valuestring) >= sizeof t->dtype) {
        fail(err, errsize, path, "tensor '%s' has no valid \"dtype\" string", name);
        return -1;
    }
    strcpy(t->dtype, dtype->valuestring);
    if (!cJSON_IsArray(shape)) {
        fail(err, errsize, path, "tensor '%s' has no \"shape\" list", name);
        return -1;
    }
    int rank = cJSON_GetArraySize(shape);
    if (rank > WEFT_CHECKPOINT_MAX_RANK) {
        fail(err, errsize, path, "tensor '%s' has rank %d; at most %d is supported", name, rank,
             WEFT_CHECKPOINT_MAX_RANK);
        return -1;
    }
    t->rank = rank;
    uint64_t numel = 1;
    int d = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t v;
        if (!json_uint(dim, &v) || v > INT64_MAX) {
            fail(err, errsize, path, "tensor '%s': shape entry %d is not a non-negative integer",
                 name, d);
            return -1;
        }
        t->shape[d++] = (int64_t)v;
        if (v != 0 && numel > UINT64_MAX / v) {
            fail(err, errsize, path, "tensor '%s': the shape's element count overflows", name);
            return -1;
        }
        numel *= v;
    }
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(cJSON_GetArrayItem(offsets, 0), &begin) ||
        !json_uint(cJSON_GetArrayItem(offsets, 1), &end)) {
        fail(err, errsize, path, "tensor '%s' has no valid \"data_offsets\" [begin, end]", name);
        return -1;
    }
    if (begin > end) {
        fail(err, errsize, path, "tensor '%s' has data_offsets [%llu, %llu] that end before "
                                 "they begin", name, (unsigned long long)begin,
             (unsigned long long)end);
        return -1;
    }
    if (end > data_bytes) {
        fail(err, errsize, path,
             "tensor '%s' has data_offsets [%llu, %llu] past the end of the data section "
             "(%llu bytes; truncated?)",
             name, (unsigned long long)begin, (unsigned long long)end,
             (unsigned long long)data_bytes);
        return -1;
    }
    size_t esize = dtype_bytes(t->dtype);
    if (esize && (numel > UINT64_MAX / esize || numel * esize != end - begin)) {
        char sbuf[256];
        fail(err, errsize, path,
             "tensor '%s' (%s, shape %s) needs %llu bytes but its data_offsets [%llu, %llu] "
             "hold %llu",
             name, t->dtype, file_shape_str(t, sbuf, sizeof sbuf),
             (unsigned long long)(numel * esize), (unsigned long long)begin,
             (unsigned long long)end, (unsigned long long)(end - begin));
        return -1;
    }
    t->begin = begin;
    t->end = end;
    t->name = dup_str(name);
    if (!t->name) {
        fail(err, errsize, path, "out of memory reading the header");
        return -1;
    }
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const weft_checkpoint_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* qsort has no context argument in C11: the checkpoint whose name index is
 * being sorted (one header is parsed at a time per thread). */
static _Thread_local const weft_checkpoint *sort_ctx;

static int by_tensor_name(const void *a, const void *b)
{
    return strcmp(sort_ctx->tensors[*(const int *)a].name,
                  sort_ctx->tensors[*(const int *)b].name);
}

/* Any two equal strings among n? Sets *dup to one of them. */
static bool has_duplicate(const char **names, int n, const char **dup)
{
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            *dup = names[i];
            return true;
        }
    return false;
}

/* Parse and check the header of an open file of file_size bytes into c. */
static int read_header_fd(const char *path, int fd, uint64_t file_size, weft_checkpoint *c,
                          char *err, size_t errsize)
{
    *c = (weft_checkpoint){ 0 };
    unsigned char len_bytes[8];
    if (file_size < 8) {
        fail(err, errsize, path,
             "the file is %llu bytes, too short for a safetensors header (truncated?)",
             (unsigned long long)file_size);
        return -1;
    }
    if (read_at(fd, len_bytes, 8, 0)) {
        fail(err, errsize, path, "cannot read the header length: %s",
             errno ? strerror(errno) : "unexpected end of file");
        return -1;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len_bytes[i];
    if (n > MAX_HEADER_BYTES) {
        fail(err, errsize, path,
             "the header length is %llu bytes, more than the %llu a safetensors file allows "
             "(not a safetensors file, or corrupted)",
             (unsigned long long)n, MAX_HEADER_BYTES);
        return -1;
    }
    if (n > file_size - 8) {
        fail(err, errsize, path,
             "the header length is %llu bytes but only %llu follow it (truncated?)",
             (unsigned long long)n, (unsigned long long)(file_size - 8));
        return -1;
    }
    if (n < 2) {
        fail(err, errsize, path, "the header is %llu bytes, too short for a JSON object",
             (unsigned long long)n);
        return -1;
    }
    char *text = malloc((size_t)n + 1);
    if (!text) {
        fail(err, errsize, path, "out of memory for a %llu-byte header", (unsigned long long)n);
        return -1;
    }
    if (read_at(fd, text, (size_t)n, 8)) {
        fail(err, errsize, path, "cannot read the %llu-byte header: %s", (unsigned long long)n,
             errno ? strerror(errno) : "unexpected end of file");
        free(text);
        return -1;
    }
    text[n] = '\0';
    if (text[0] != '{') {
        fail(err, errsize, path, "the header does not start with '{' (not a safetensors file, "
                                 "or corrupted)");
        free(text);
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        fail(err, errsize, path, "the header is not valid JSON (error near byte %zu of %llu)",
             at, (unsigned long long)n);
        free(text);
        return -1;
    }
    /* after the object: only the padding */
    for (const char *p = end; p < text + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            fail(err, errsize, path,
                 "unexpected bytes after the header's JSON object (at byte %zu of %llu)",
                 (size_t)(p - text), (unsigned long long)n);
            cJSON_Delete(root);
            free(text);
            return -1;
        }
    free(text);
    if (!cJSON_IsObject(root)) {
        fail(err, errsize, path, "the header is not a JSON object");
        cJSON_Delete(root);
        return -1;
    }

    c->header_bytes = n;
    c->data_bytes = file_size - 8 - n;
    int entries = cJSON_GetArraySize(root);
    const char **names = malloc(((size_t)entries + 1) * sizeof *names);
    c->tensors = calloc((size_t)entries + 1, sizeof *c->tensors);
    if (!names || !c->tensors) {
        fail(err, errsize, path, "out of memory reading the header");
        goto bad;
    }
    /* Every key once: a JSON parser keeps the first or the last of two equal
     * keys (cJSON the first, Python's json the last), so a file with a key twice
     * means different things to different readers: refuse it, before anything
     * is read from the entries. */
    int n_names = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) names[n_names++] = item->string;
    const char *dup;
    if (has_duplicate(names, n_names, &dup)) {
        fail(err, errsize, path, "\"%s\" appears twice in the header", dup);
        goto bad;
    }
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(item)) {
                fail(err, errsize, path, "\"__metadata__\" is not an object");
                goto bad;
            }
            int m = cJSON_GetArraySize(item);
            c->meta = calloc((size_t)m + 1, sizeof *c->meta);
            const char **keys = malloc(((size_t)m + 1) * sizeof *keys);
            if (!c->meta || !keys) {
                free(keys);
                fail(err, errsize, path, "out of memory reading the header");
                goto bad;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item) {
                if (!cJSON_IsString(kv)) {
                    free(keys);
                    fail(err, errsize, path, "metadata \"%s\" is not a string", kv->string);
                    goto bad;
                }
                keys[c->n_meta] = kv->string;
                weft_meta_kv *e = &c->meta[c->n_meta++];
                e->key = dup_str(kv->string);
                e->value = dup_str(kv->valuestring);
                if (!e->key || !e->value) {
                    free(keys);
                    fail(err, errsize, path, "out of memory reading the header");
                    goto bad;
                }
            }
            bool twice = has_duplicate(keys, c->n_meta, &dup);
            if (twice) fail(err, errsize, path, "metadata \"%s\" appears twice", dup);
            free(keys);
            if (twice) goto bad;
            continue;
        }
        if (parse_tensor(path, item, &c->tensors[c->n_tensors], c->data_bytes, err, errsize))
            goto bad;
        c->n_tensors++;
    }

    /* the tensors, by offset, must tile the data section exactly */
    qsort(c->tensors, (size_t)c->n_tensors, sizeof *c->tensors, by_offset);
    uint64_t at = 0;
    for (int i = 0; i < c->n_tensors; i++) {
        const weft_checkpoint_tensor *t = &c->tensors[i];
        if (t->begin < at) {
            fail(err, errsize, path,
                 "tensor '%s' (bytes [%llu, %llu]) overlaps tensor '%s' (bytes [%llu, %llu])",
                 t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                 c->tensors[i - 1].name, (unsigned long long)c->tensors[i - 1].begin,
                 (unsigned long long)c->tensors[i - 1].end);
            goto bad;
        }
        if (t->begin > at) {
            fail(err, errsize, path, "%llu unused bytes before tensor '%s' (bytes [%llu, %llu])",
                 (unsigned long long)(t->begin - at), t->name, (unsigned long long)t->begin,
                 (unsigned long long)t->end);
            goto bad;
        }
        at = t->end;
    }
    if (at != c->data_bytes) {
        fail(err, errsize, path,
             "the tensors cover %llu bytes of the %llu-byte data section (trailing bytes)",
             (unsigned long long)at, (unsigned long long)c->data_bytes);
        goto bad;
    }
    /* the name index of weft_checkpoint_find */
    c->by_name = malloc(((size_t)c->n_tensors + 1) * sizeof *c->by_name);
    if (!c->by_name) {
        fail(err, errsize, path, "out of memory reading the header");
        goto bad;
    }
    for (int i = 0; i < c->n_tensors; i++) c->by_name[i] = i;
    sort_ctx = c;
    qsort(c->by_name, (size_t)c->n_tensors, sizeof *c->by_name, by_tensor_name);
    sort_ctx = NULL;
    free(names);
    cJSON_Delete(root);
    return 0;
bad:
    free(names);
    cJSON_Delete(root);
    weft_checkpoint_free(c);
    return -1;
}

/* Open a regular file for reading; its size in *size. -1 with err set. */
static int open_checkpoint(const char *path, uint64_t *size, char *err, size_t errsize)
{
    if (!path) {
        fail(err, errsize, path, "no path given");
        return -1;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fail(err, errsize, path, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fail(err, errsize, path, "cannot stat: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(err, errsize, path, "not a regular file");
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

int weft_checkpoint_read(const char *path, weft_checkpoint *c, char *err, size_t errsize)
{
    *c = (weft_checkpoint){ 0 };
    uint64_t size;
    int fd = open_checkpoint(path, &size, err, errsize);
    if (fd < 0) return -1;
    int rc = read_header_fd(path, fd, size, c, err, errsize);
    close(fd);
    return rc;
}

const char *weft_checkpoint_meta(const weft_checkpoint *c, const char *key)
{
    for (int i = 0; i < c->n_meta; i++)
        if (strcmp(c->meta[i].key, key) == 0) return c->meta[i].value;
    return NULL;
}

const weft_checkpoint_tensor *weft_checkpoint_find(const weft_checkpoint *c, const char *name)
{
    int lo = 0, hi = c->by_name ? c->n_tensors : 0;   /* [lo, hi) */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const weft_checkpoint_tensor *t = &c->tensors[c->by_name[mid]];
        int cmp = strcmp(t->name, name);
        if (cmp == 0) return t;
        if (cmp < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static bool shape_matches(const weft_checkpoint_tensor *t, const weft_tensor *dst)
{
    if (t->rank != dst->rank) return false;
    for (int d = 0; d < t->rank; d++)
        if (t->shape[d] != dst->shape[d]) return false;
    return true;
}

int weft_checkpoint_load_tensors(const char *path, int n, const char *const *names,
                                 weft_tensor *dst, unsigned flags, char *err, size_t errsize)
{
    uint64_t size;
    int fd = open_checkpoint(path, &size, err, errsize);
    if (fd < 0) return -1;
    weft_checkpoint c;
    if (read_header_fd(path, fd, size, &c, err, errsize)) {
        close(fd);
        return -1;
    }
    int rc = -1;
    float *tmp = NULL;
    unsigned char *wanted = NULL;
    const weft_checkpoint_tensor **src = calloc((size_t)n + 1, sizeof *src);
    if (!src) {
        fail(err, errsize, path, "out of memory");
        goto done;
    }

    /* every destination has its tensor, F32, of its shape */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const weft_checkpoint_tensor *t = weft_checkpoint_find(&c, names[i]);
        char want[64], got[256];
        weft_shape_str(&dst[i], want, sizeof want);
        if (!t) {
            fail(err, errsize, path, "tensor '%s' %s is missing from the file (%d tensors in it)",
                 names[i], want, c.n_tensors);
            goto done;
        }
        if (strcmp(t->dtype, "F32") != 0) {
            fail(err, errsize, path, "tensor '%s' has dtype %s; weft loads F32 only", names[i],
                 t->dtype);
            goto done;
        }
        if (!shape_matches(t, &dst[i])) {
            fail(err, errsize, path, "tensor '%s' has shape %s in the file, expected %s",
                 names[i], file_shape_str(t, got, sizeof got), want);
            goto done;
        }
        src[i] = t;
        total += dst[i].size;
    }
    if (!(flags & WEFT_LOAD_ALLOW_EXTRA)) {
        wanted = calloc((size_t)c.n_tensors + 1, 1);
        if (!wanted) {
            fail(err, errsize, path, "out of memory");
            goto done;
        }
        for (int i = 0; i < n; i++) wanted[src[i] - c.tensors] = 1;
        for (int j = 0; j < c.n_tensors; j++) {
            if (!wanted[j]) {
                char got[256];
                fail(err, errsize, path,
                     "the file has tensor '%s' %s that is not expected here "
                     "(%d tensors in the file, %d expected)",
                     c.tensors[j].name, file_shape_str(&c.tensors[j], got, sizeof got),
                     c.n_tensors, n);
                goto done;
            }
        }
    }

    /* everything into a scratch buffer first; the destinations only once all is read */
    tmp = malloc(total ? total * sizeof(float) : 1);
    if (!tmp) {
        fail(err, errsize, path, "out of memory for %zu floats", total);
        goto done;
    }
    uint64_t data_start = 8 + c.header_bytes;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (read_at(fd, tmp + at, dst[i].size * sizeof(float), data_start + src[i]->begin)) {
            fail(err, errsize, path, "cannot read tensor '%s': %s", names[i],
                 errno ? strerror(errno) : "the file ended early (changed while loading?)");
            goto done;
        }
        at += dst[i].size;
    }
    if (!host_is_little_endian()) swap32(tmp, total);
    /* A NaN or an infinity in a weight poisons every output (a sampler then
     * prints one token forever): refuse the file, naming the element. */
    at = 0;
    for (int i = 0; i < n && !(flags & WEFT_LOAD_ALLOW_NONFINITE); i++) {
        for (size_t k = 0; k < dst[i].size; k++)
            if (!isfinite(tmp[at + k])) {
                fail(err, errsize, path, "tensor '%s' element %zu is %s (a weight must be "
                     "finite)", names[i], k, isnan(tmp[at + k]) ? "NaN" : "infinite");
                goto done;
            }
        at += dst[i].size;
    }
    at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(dst[i].data, tmp + at, dst[i].size * sizeof(float));
        at += dst[i].size;
    }
    rc = 0;
done:
    free(tmp);
    free(wanted);
    free(src);
    weft_checkpoint_free(&c);
    close(fd);
    return rc;
}

int weft_checkpoint_load(const char *path, weft_params *s, unsigned flags, char *err,
                         size_t errsize)
{
    int n = weft_params_count(s);
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    weft_tensor *dst = malloc(((size_t)n + 1) * sizeof *dst);
    int rc = -1;
    if (!names || !dst) {
        fail(err, errsize, path, "out of memory");
    } else {
        for (int i = 0; i < n; i++) {
            weft_param *p = weft_params_at(s, i);
            names[i] = p->name;
            dst[i] = p->value;
        }
        rc = weft_checkpoint_load_tensors(path, n, names, dst, flags, err, errsize);
    }
    free(names);
    free(dst);
    return rc;
}

/* --- writing --------------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return -1;
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

/* Write n floats little-endian. */
static int write_floats(int fd, const float *x, size_t n)
{
    if (host_is_little_endian()) return write_all(fd, x, n * sizeof(float));
    float chunk[1024];
    while (n > 0) {
        size_t k = n < 1024 ? n : 1024;
        memcpy(chunk, x, k * sizeof(float));
        swap32(chunk, k);
        if (write_all(fd, chunk, k * sizeof(float))) return -1;
        x += k;
        n -= k;
    }
    return 0;
}

/* The header text (unpadded), or NULL with err set. The caller frees it with
 * cJSON_free. */
static char *build_header(const char *path, int n, const char *const *names,
                          const weft_tensor *tensors, const weft_meta_kv *meta, int n_meta,
                          char *err, size_t errsize)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (int i = 0; ok && i < n_meta; i++)
            ok = cJSON_AddStringToObject(m, meta[i].key, meta[i].value) != NULL;
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        cJSON *t = cJSON_AddObjectToObject(root, names[i]);
        ok = t && cJSON_AddStringToObject(t, "dtype", "F32");
        cJSON *shape = ok ? cJSON_AddArrayToObject(t, "shape") : NULL;
        ok = shape != NULL;
        for (int d = 0; ok && d < tensors[i].rank; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber(tensors[i].shape[d]));
        cJSON *off = ok ? cJSON_AddArrayToObject(t, "data_offsets") : NULL;
        ok = off != NULL;
        uint64_t bytes = (uint64_t)tensors[i].size * sizeof(float);
        /* cJSON prints integers exactly up to 10^15 bytes, far beyond any checkpoint */
        ok = ok && cJSON_AddItemToArray(off, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) fail(err, errsize, path, "out of memory building the header");
    return text;
}

int weft_checkpoint_save_tensors(const char *path, int n, const char *const *names,
                                 const weft_tensor *tensors, const weft_meta_kv *meta,
                                 int n_meta, char *err, size_t errsize)
{
    if (!path || !path[0]) {
        fail(err, errsize, path, "no path given");
        return -1;
    }
    if (n < 0 || n_meta < 0 || (n > 0 && (!names || !tensors)) || (n_meta > 0 && !meta)) {
        fail(err, errsize, path, "bad arguments (n %d, n_meta %d)", n, n_meta);
        return -1;
    }
    /* names and keys must be present and unique, tensors non-empty */
    const char **seen = malloc(((size_t)n + (size_t)n_meta + 1) * sizeof *seen);
    if (!seen) {
        fail(err, errsize, path, "out of memory");
        return -1;
    }
    const char *dup;
    for (int i = 0; i < n; i++) {
        if (!names[i] || strcmp(names[i], "__metadata__") == 0 || !tensors[i].data ||
            tensors[i].rank < 1 || tensors[i].rank > WEFT_MAX_RANK) {
            fail(err, errsize, path, "tensor %d ('%s') has no name, a reserved name or no data",
                 i, names[i] ? names[i] : "(null)");
            free(seen);
            return -1;
        }
        seen[i] = names[i];
    }
    if (has_duplicate(seen, n, &dup)) {
        fail(err, errsize, path, "tensor name '%s' given twice", dup);
        free(seen);
        return -1;
    }
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value) {
            fail(err, errsize, path, "metadata entry %d has no key or no value", i);
            free(seen);
            return -1;
        }
        seen[i] = meta[i].key;
    }
    if (has_duplicate(seen, n_meta, &dup)) {
        fail(err, errsize, path, "metadata key '%s' given twice", dup);
        free(seen);
        return -1;
    }
    free(seen);

    char *header = build_header(path, n, names, tensors, meta, n_meta, err, errsize);
    if (!header) return -1;
    size_t len = strlen(header);
    size_t padded = (len + 7) / 8 * 8;          /* data starts 8-byte aligned */
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));

    /* a temporary file next to the target, so that rename() is atomic */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp-XXXXXX");
    if (!tmp) {
        cJSON_free(header);
        fail(err, errsize, path, "out of memory");
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fail(err, errsize, path, "cannot create a temporary file beside it: %s",
             strerror(errno));
        cJSON_free(header);
        free(tmp);
        return -1;
    }
    /* mkstemp makes the file 0600; keep the mode of the file being replaced,
       or use 0644 for a new one */
    struct stat st;
    mode_t mode = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (st.st_mode & 07777) : 0644;
    bool ok = fchmod(fd, mode) == 0 && write_all(fd, len_bytes, 8) == 0 &&
              write_all(fd, header, len) == 0;
    for (size_t k = len; ok && k < padded; k++) ok = write_all(fd, " ", 1) == 0;
    for (int i = 0; ok && i < n; i++) ok = write_floats(fd, tensors[i].data, tensors[i].size) == 0;
    ok = ok && fsync(fd) == 0;
    int saved_errno = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved_errno = errno;
    }
    if (!ok) {
        fail(err, errsize, path, "cannot write the temporary file %s: %s (%s is unchanged)", tmp,
             strerror(saved_errno), path);
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        ok = false;
        fail(err, errsize, path, "cannot rename %s over it: %s (it is unchanged)", tmp,
             strerror(errno));
        unlink(tmp);
    } else {
        /* make the rename itself durable: fsync the folder (best effort; some
           file systems refuse, and the data is already safe in the file) */
        char *slash = strrchr(tmp, '/');
        const char *dir = ".";
        if (slash) {
            *slash = '\0';
            dir = slash == tmp ? "/" : tmp;
        }
        int dfd = open(dir, O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    cJSON_free(header);
    free(tmp);
    return ok ? 0 : -1;
}

int weft_checkpoint_save(const char *path, const weft_params *s, const weft_meta_kv *meta,
                         int n_meta, char *err, size_t errsize)
{
    int n = weft_params_count(s);
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    weft_tensor *tensors = malloc(((size_t)n + 1) * sizeof *tensors);
    int rc = -1;
    if (!names || !tensors) {
        fail(err, errsize, path, "out of memory");
    } else {
        for (int i = 0; i < n; i++) {
            const weft_param *p = weft_params_at(s, i);
            names[i] = p->name;
            tensors[i] = p->value;
        }
        rc = weft_checkpoint_save_tensors(path, n, names, tensors, meta, n_meta, err, errsize);
    }
    free(names);
    free(tensors);
    return rc;
}
