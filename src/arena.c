/* src/arena.c — the graph's memory: a list of chunks handed out by bumping a
 * pointer. Reset rewinds to the first chunk and keeps every chunk, so a
 * graph rebuilt to the same size allocates nothing new. When a request does
 * not fit in any remaining chunk a new chunk is appended, at least twice the
 * size of the last, so the number of chunks stays logarithmic in the peak. */
#include "src/internal.h"

#include <stdlib.h>

#define FIRST_CHUNK (1u << 20)   /* 1 MiB */

void weft_arena_init(weft_arena *a)
{
    *a = (weft_arena){ 0 };
}

void weft_arena_free(weft_arena *a)
{
    weft_arena_chunk *c = a->first;
    while (c) {
        weft_arena_chunk *next = c->next;
        weft_aligned_free(c->data);
        free(c);
        c = next;
    }
    *a = (weft_arena){ 0 };
}

void weft_arena_reset(weft_arena *a)
{
    /* Only the chunks used since the last reset have a non-zero `used`; they
     * are the ones from first to current. */
    for (weft_arena_chunk *c = a->first; c; c = c->next) {
        c->used = 0;
        if (c == a->current) break;
    }
    a->current = a->first;
    a->used_before_current = 0;
}

static weft_arena_chunk *new_chunk(weft_arena *a, size_t at_least)
{
    size_t last = 0;
    for (weft_arena_chunk *c = a->first; c; c = c->next) last = c->size;
    size_t size = last ? 2 * last : FIRST_CHUNK;
    while (size < at_least) size *= 2;
    if (a->limit && a->capacity + size > a->limit) {
        /* shrink to what the limit allows, if the request still fits */
        if (a->capacity + at_least > a->limit) return NULL;
        size = a->limit - a->capacity;
    }
    weft_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->data = weft_aligned_alloc(size);
    if (!c->data) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = NULL;
    if (!a->first) {
        a->first = c;
    } else {
        weft_arena_chunk *tail = a->first;
        while (tail->next) tail = tail->next;
        tail->next = c;
    }
    a->capacity += size;
    return c;
}

void *weft_arena_alloc(weft_arena *a, size_t bytes)
{
    size_t need = (bytes + WEFT_ALIGN - 1) / WEFT_ALIGN * WEFT_ALIGN;
    if (need == 0) need = WEFT_ALIGN;
    if (!a->current) {
        a->current = a->first ? a->first : new_chunk(a, need);
        if (!a->current) return NULL;
    }
    /* try the current chunk, then the later (already allocated) ones */
    for (;;) {
        weft_arena_chunk *c = a->current;
        if (c->size - c->used >= need) {
            void *p = c->data + c->used;
            c->used += need;
            return p;
        }
        weft_arena_chunk *next = c->next ? c->next : new_chunk(a, need);
        if (!next) return NULL;
        a->used_before_current += c->used;
        a->current = next;
    }
}

size_t weft_arena_used(const weft_arena *a)
{
    return a->used_before_current + (a->current ? a->current->used : 0);
}
