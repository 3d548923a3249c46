/* src/params.c — the parameter store (weft/params.h).
 *
 * Values, gradients and optimizer slots are each one buffer of `span`
 * floats; parameter k occupies [offset_k, offset_k + numel_k), with offsets
 * rounded up to 16 floats (64 bytes). */
#include "weft/params.h"
#include "src/internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4
#define ALIGN_FLOATS (WEFT_ALIGN / sizeof(float))

struct weft_params {
    weft_param **items;      /* each allocated once: pointers stay valid */
    int count, cap;
    float *values, *grads;
    float *state[SLOTS];
    size_t span;             /* floats used in each buffer (with padding) */
    size_t cap_span;         /* floats allocated in each buffer */
    size_t numel;
    int *index;              /* names -> item ids: open addressing, -1 empty, index_cap a
                                power of two above twice count (weft_params_find in O(1)) */
    size_t index_cap;
    char error[256];
};

static void fail(weft_params *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(weft_params *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
}

weft_params *weft_params_new(void)
{
    return calloc(1, sizeof(weft_params));
}

void weft_params_free(weft_params *s)
{
    if (!s) return;
    for (int i = 0; i < s->count; i++) free(s->items[i]);
    free(s->items);
    free(s->index);
    weft_aligned_free(s->values);
    weft_aligned_free(s->grads);
    for (int k = 0; k < SLOTS; k++) weft_aligned_free(s->state[k]);
    free(s);
}

/* Point every parameter's tensors at the (possibly moved) buffers. */
static void repoint(weft_params *s)
{
    for (int i = 0; i < s->count; i++) {
        weft_param *p = s->items[i];
        p->value.data = s->values + p->offset;
        p->grad.data = s->grads + p->offset;
    }
}

/* Grow one buffer from `used` to `cap` floats, keeping its contents. The
 * rest is left as it is: weft_params_add zeroes each new parameter's floats
 * as it hands them out, so the pages of the doubled capacity that no
 * parameter uses are never touched and cost no memory. Returns the new buffer
 * or NULL (old one untouched). */
static float *grow(float *old, size_t used, size_t cap)
{
    float *buf = weft_aligned_alloc(cap * sizeof(float));
    if (!buf) return NULL;
    if (old) memcpy(buf, old, used * sizeof(float));
    return buf;
}

/* Zero floats [from, to) of every buffer of the store. */
static void zero_span(weft_params *s, size_t from, size_t to)
{
    size_t n = (to - from) * sizeof(float);
    memset(s->values + from, 0, n);
    memset(s->grads + from, 0, n);
    for (int k = 0; k < SLOTS; k++)
        if (s->state[k]) memset(s->state[k] + from, 0, n);
}

/* FNV-1a over the name's bytes. */
static size_t name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

/* The index slot holding name, or the empty slot where it would go. */
static size_t index_slot(const weft_params *s, const char *name)
{
    size_t mask = s->index_cap - 1, i = name_hash(name) & mask;
    while (s->index[i] >= 0 && strcmp(s->items[s->index[i]]->name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

/* Room in the index for one more name (kept at most half full). */
static int index_reserve(weft_params *s)
{
    if ((size_t)(s->count + 1) * 2 <= s->index_cap) return 0;
    size_t cap = s->index_cap ? 2 * s->index_cap : 64;
    int *index = malloc(cap * sizeof *index);
    if (!index) return -1;
    for (size_t i = 0; i < cap; i++) index[i] = -1;
    free(s->index);
    s->index = index;
    s->index_cap = cap;
    for (int k = 0; k < s->count; k++) s->index[index_slot(s, s->items[k]->name)] = k;
    return 0;
}

static int reserve(weft_params *s, size_t span)
{
    if (span <= s->cap_span) return 0;
    size_t cap = s->cap_span ? s->cap_span : 4096;
    while (cap < span) cap *= 2;
    float *values = grow(s->values, s->span, cap);
    float *grads = grow(s->grads, s->span, cap);
    float *state[SLOTS] = { 0 };
    bool ok = values && grads;
    for (int k = 0; k < SLOTS && ok; k++)
        if (s->state[k]) ok = (state[k] = grow(s->state[k], s->span, cap)) != NULL;
    if (!ok) {
        weft_aligned_free(values);
        weft_aligned_free(grads);
        for (int k = 0; k < SLOTS; k++) weft_aligned_free(state[k]);
        return -1;
    }
    weft_aligned_free(s->values);
    weft_aligned_free(s->grads);
    s->values = values;
    s->grads = grads;
    for (int k = 0; k < SLOTS; k++) {
        if (!s->state[k]) continue;
        weft_aligned_free(s->state[k]);
        s->state[k] = state[k];
    }
    s->cap_span = cap;
    return 0;
}

weft_param *weft_params_add(weft_params *s, const char *name, int rank, const int *shape)
{
    if (!name || !name[0] || strlen(name) >= WEFT_PARAM_NAME_MAX) {
        fail(s, "params: a parameter name must have 1 to %d characters", WEFT_PARAM_NAME_MAX - 1);
        return NULL;
    }
    if (weft_params_find(s, name)) {
        fail(s, "params: '%s' already exists", name);
        return NULL;
    }
    weft_tensor shape_only = weft_tensor_wrap(NULL, rank, shape);
    if (shape_only.size == 0) {
        fail(s, "params: '%s' has a bad shape (rank %d)", name, rank);
        return NULL;
    }
    if (index_reserve(s)) goto oom;
    if (s->count == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        weft_param **items = realloc(s->items, (size_t)cap * sizeof *items);
        if (!items) goto oom;
        s->items = items;
        s->cap = cap;
    }
    weft_param *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    size_t offset = (s->span + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    float *before = s->values;
    if (reserve(s, offset + shape_only.size)) {
        free(p);
        goto oom;
    }
    bool moved = s->values != before;
    strcpy(p->name, name);
    p->value = shape_only;
    p->grad = shape_only;
    p->offset = offset;
    p->id = s->count;
    p->store = s;
    s->index[index_slot(s, name)] = s->count;
    s->items[s->count++] = p;
    zero_span(s, s->span, offset + shape_only.size);
    s->span = offset + shape_only.size;
    s->numel += shape_only.size;
    /* every parameter when the buffers moved (they double: O(1) amortised),
       else only the new one */
    if (moved) repoint(s);
    p->value.data = s->values + p->offset;
    p->grad.data = s->grads + p->offset;
    return p;
oom:
    fail(s, "params: out of memory adding '%s'", name);
    return NULL;
}

weft_param *weft_params_find(const weft_params *s, const char *name)
{
    if (!s->index || !name) return NULL;
    int k = s->index[index_slot(s, name)];
    return k >= 0 ? s->items[k] : NULL;
}

int weft_params_count(const weft_params *s)
{
    return s->count;
}

weft_param *weft_params_at(const weft_params *s, int i)
{
    return i >= 0 && i < s->count ? s->items[i] : NULL;
}

size_t weft_params_numel(const weft_params *s)
{
    return s->numel;
}

size_t weft_params_span(const weft_params *s)
{
    return s->span;
}

float *weft_params_values(weft_params *s)
{
    return s->values;
}

float *weft_params_grads(weft_params *s)
{
    return s->grads;
}

float *weft_params_state(weft_params *s, int k)
{
    if (k < 0 || k >= SLOTS) return NULL;
    if (!s->state[k]) {
        s->state[k] = grow(NULL, 0, s->cap_span ? s->cap_span : 1);
        if (!s->state[k]) fail(s, "params: out of memory for optimizer state");
        else memset(s->state[k], 0, (s->span ? s->span : 1) * sizeof(float));
    }
    return s->state[k];
}

void weft_params_reset_state(weft_params *s)
{
    for (int k = 0; k < SLOTS; k++)
        if (s->state[k]) memset(s->state[k], 0, s->span * sizeof(float));
}

/* Zeroing a language model's gradients (18.6 MB for the small PTB model) is
 * a write bound by memory bandwidth, which one core does not use up, so the
 * threads share it; and an op's gradient is zeroed right before the first
 * backward that adds into it (src/graph.c), which splits the same elements
 * among the same threads: each thread zeroes the contiguous share that
 * OpenMP's static schedule over n gives it there too, and finds it in its
 * own cache when it adds. (Zeroed by one thread and then added to by two,
 * half of every gradient crossed between the cores: in the machine's slow
 * state the composed LSTM's add backward took 9x as long.) */
void weft_zero_floats(float *p, size_t n)
{
    #pragma omp parallel for schedule(static) if (n > WEFT_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) p[i] = 0.0f;
}

void weft_params_zero_grad(weft_params *s)
{
    if (s->grads) weft_zero_floats(s->grads, s->span);
}

const char *weft_params_error(const weft_params *s)
{
    return s->error[0] ? s->error : NULL;
}
