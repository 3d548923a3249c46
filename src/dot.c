/* src/dot.c — Graphviz DOT export and rendering (weft/dot.h).
 *
 * The drawing is planned in one pass over the tape, then printed:
 *
 *   1. steps: the distinct scope.time values, sorted; with a cap, the middle
 *      ones are hidden behind one elision marker;
 *   2. groups: the op nodes of one (time, layer, dir, cell), in tape order;
 *      a node's position in its group is its "role";
 *   3. states: see weft/dot.h; found from edges that cross time, then spread
 *      to the same role of the same cell at every step;
 *   4. representatives: every node is drawn as itself, as its cell's box
 *      (cells level), or as the marker (hidden step). An edge u -> v is drawn
 *      once between rep(u) and rep(v), unless both are the same thing.
 *
 * Layout (what Graphviz's dot renders well, checked on rendered pictures):
 * rankdir=LR, so ranks run along time. An invisible "gate" point between
 * consecutive drawn steps comes after every node of the one and before every
 * node of the next, so each step owns its ranks and the step clusters stand
 * left to right in time order (a flat chain of anchors, with clusters, is
 * not honoured by dot's ordering; ranks are). Edges between the layers of
 * one step do not constrain ranks, so the layers of a step sit side by side
 * in the same ranks, stacked in the step's column, their first nodes on one
 * rank (newrank=true lets a rank=same set span sub-clusters); which layer
 * dot puts on top is its own choice (each sub-cluster is labelled). An edge
 * back in time (a backward direction) is written head first with dir=back.
 * Parameters constrain nothing and pull on nothing (weight=0).
 */
#include "src/internal.h"
#include "weft/dot.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef WEFT_HAVE_GVC
#include <gvc.h>
#endif

/* --- small hash tables ------------------------------------------------------ */

/* A set of 64-bit keys (open addressing); key UINT64_MAX marks an empty slot. */
typedef struct key_set {
    uint64_t *slots;
    size_t mask;
} key_set;

static int key_set_init(key_set *s, size_t expected)
{
    size_t cap = 16;
    while (cap < 2 * expected + 16) cap *= 2;
    s->slots = malloc(cap * sizeof *s->slots);
    if (!s->slots) return -1;
    memset(s->slots, 0xff, cap * sizeof *s->slots);
    s->mask = cap - 1;
    return 0;
}

static uint64_t mix64(uint64_t x)
{
    /* splitmix64's finaliser: spreads nearby keys over the table */
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Insert key; true when it was not there yet. The table never fills: it was
 * sized for every key that can be inserted. */
static bool key_set_add(key_set *s, uint64_t key)
{
    size_t i = mix64(key) & s->mask;
    while (s->slots[i] != UINT64_MAX) {
        if (s->slots[i] == key) return false;
        i = (i + 1) & s->mask;
    }
    s->slots[i] = key;
    return true;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* --- the plan ------------------------------------------------------------------ */

/* The op nodes of one (time, layer, dir, cell). */
typedef struct group {
    int time, layer, dir;
    const char *cell;
    int size;          /* op nodes in the group */
    int family;        /* groups of the same (layer, dir, cell, size) */
    int first;         /* tape position of the first member */
    int drawn;         /* members drawn as the box (cells level) */
    bool collapsed;    /* drawn as one box */
} group;

/* Groups that play the same part at different steps share roles. */
typedef struct family {
    int layer, dir, size;
    const char *cell;
    int role_offset;   /* into plan.state_role: size flags */
} family;

/* What an entity of the drawing is: entities 0..n-1 are nodes, n..n+G-1 are
 * cell boxes, n+G is the elision marker. */
typedef struct plan {
    const weft_graph *g;
    weft_dot_level level;
    bool grads;
    int n;                   /* nodes on the tape */

    int *times, n_steps;     /* distinct scope.time values, sorted */
    int n_lead;              /* steps drawn before the marker */
    bool elide;              /* steps n_lead..n_steps-2 are hidden */
    int *step;               /* per node: index into times, or -1 */

    group *groups;
    int n_groups;
    family *families;
    int n_families;
    unsigned char *state_role;  /* per family, per role: 1 when a state */
    int *group_of;           /* per node: group, or -1 */
    int *role;               /* per node: position in its group */

    unsigned char *is_state; /* per node */
    int *users;              /* per node: number of nodes using it */
    int *rep;                /* per node: entity drawn for it; -1: not drawn */
    unsigned char *reaches_loss;  /* per node: some loss depends on it (all 1 without a loss) */
    double *norm;            /* per node: gradient L2 norm, or -1 */
    double log_lo, log_hi;   /* shared colour scale (log10 of norms) */
    bool have_norms;
    bool has_backward;       /* some node has dir 1 */
} plan;

static void plan_free(plan *p)
{
    free(p->times);
    free(p->step);
    free(p->groups);
    free(p->families);
    free(p->state_role);
    free(p->group_of);
    free(p->role);
    free(p->is_state);
    free(p->users);
    free(p->rep);
    free(p->reaches_loss);
    free(p->norm);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Index of time t in the sorted times, or -1. */
static int step_index(const plan *p, int t)
{
    const int *hit = bsearch(&t, p->times, (size_t)p->n_steps, sizeof *p->times, cmp_int);
    return hit ? (int)(hit - p->times) : -1;
}

static bool step_hidden(const plan *p, int s)
{
    return p->elide && s >= p->n_lead && s < p->n_steps - 1;
}

static int marker_entity(const plan *p)
{
    return p->n + p->n_groups;
}

/* A small open-addressing index from a (time, layer, dir, cell, size) key to
 * a group or family number; size -1 for groups. */
typedef struct index_table {
    int *slots;        /* -1 empty, else a number */
    size_t mask;
} index_table;

static int index_init(index_table *t, size_t expected)
{
    size_t cap = 16;
    while (cap < 2 * expected + 16) cap *= 2;
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots) return -1;
    for (size_t i = 0; i < cap; i++) t->slots[i] = -1;
    t->mask = cap - 1;
    return 0;
}

static uint64_t scope_hash(int time, int layer, int dir, const char *cell, int size)
{
    uint64_t h = str_hash(cell);
    h = mix64(h ^ (uint64_t)(uint32_t)time);
    h = mix64(h ^ ((uint64_t)(uint32_t)layer << 20) ^ (uint64_t)(uint32_t)dir);
    return mix64(h ^ (uint64_t)(uint32_t)size);
}

/* The group of an op node's scope, made when new. -1 when out of memory. */
static int find_group(plan *p, index_table *t, const weft_var *v, int *cap)
{
    const weft_scope *s = &v->scope;
    size_t i = scope_hash(s->time, s->layer, s->dir, s->cell, -1) & t->mask;
    while (t->slots[i] >= 0) {
        const group *q = &p->groups[t->slots[i]];
        if (q->time == s->time && q->layer == s->layer && q->dir == s->dir &&
            same_str(q->cell, s->cell))
            return t->slots[i];
        i = (i + 1) & t->mask;
    }
    if (p->n_groups == *cap) {
        int ncap = *cap ? 2 * *cap : 64;
        group *gs = realloc(p->groups, (size_t)ncap * sizeof *gs);
        if (!gs) return -1;
        p->groups = gs;
        *cap = ncap;
    }
    p->groups[p->n_groups] = (group){ s->time, s->layer, s->dir, s->cell, 0, -1, v->id, 0, false };
    t->slots[i] = p->n_groups;
    return p->n_groups++;
}

static int find_family(plan *p, index_table *t, const group *q)
{
    size_t i = scope_hash(INT_MIN, q->layer, q->dir, q->cell, q->size) & t->mask;
    while (t->slots[i] >= 0) {
        const family *f = &p->families[t->slots[i]];
        if (f->layer == q->layer && f->dir == q->dir && f->size == q->size &&
            same_str(f->cell, q->cell))
            return t->slots[i];
        i = (i + 1) & t->mask;
    }
    p->families[p->n_families] = (family){ q->layer, q->dir, q->size, q->cell, 0 };
    t->slots[i] = p->n_families;
    return p->n_families++;
}

/* L2 norm of a gradient, accumulated in double. */
static double grad_norm(const weft_tensor *t)
{
    double s = 0.0;
    for (size_t i = 0; i < t->size; i++) s += (double)t->data[i] * t->data[i];
    return sqrt(s);
}

/* The plan's per-node arrays, for n nodes. -1 when out of memory. */
static int plan_alloc(plan *p, int n)
{
    size_t nn = (size_t)(n > 0 ? n : 1);
    p->times = malloc(nn * sizeof *p->times);
    p->step = malloc(nn * sizeof *p->step);
    p->group_of = malloc(nn * sizeof *p->group_of);
    p->role = malloc(nn * sizeof *p->role);
    p->is_state = calloc(nn, 1);
    p->users = calloc(nn, sizeof *p->users);
    p->rep = malloc(nn * sizeof *p->rep);
    p->norm = malloc(nn * sizeof *p->norm);
    p->reaches_loss = calloc(nn, 1);
    if (!p->times || !p->step || !p->group_of || !p->role || !p->is_state || !p->users ||
        !p->rep || !p->norm || !p->reaches_loss)
        return -1;
    return 0;
}

/* 1. Steps: the distinct time steps in order, which of them are drawn (the
 * first ones and the last, max_steps in all), each node's step, and how many
 * readers each node has. */
static void plan_steps(plan *p, const weft_dot_opts *o)
{
    const weft_graph *g = p->g;
    int n = p->n, nt = 0;
    for (int i = 0; i < n; i++) {
        const weft_var *v = weft_graph_node(g, i);
        if (v->kind != WEFT_NODE_PARAM && v->scope.time >= 0) p->times[nt++] = v->scope.time;
        if (v->scope.dir == 1) p->has_backward = true;
        for (int k = 0; k < v->n_in; k++) p->users[v->in[k]->id]++;
    }
    qsort(p->times, (size_t)nt, sizeof *p->times, cmp_int);
    int u = 0;
    for (int i = 0; i < nt; i++)
        if (u == 0 || p->times[i] != p->times[u - 1]) p->times[u++] = p->times[i];
    p->n_steps = u;
    int cap = o->max_steps == 0 ? WEFT_DOT_DEFAULT_MAX_STEPS : o->max_steps;
    if (cap > 0 && p->n_steps > cap) {
        p->n_lead = cap / 2 > 1 ? cap / 2 : 1;
        p->elide = p->n_steps - 1 > p->n_lead;     /* at least one step hidden */
    }
    for (int i = 0; i < n; i++) {
        const weft_var *v = weft_graph_node(g, i);
        p->step[i] = v->kind != WEFT_NODE_PARAM && v->scope.time >= 0
                         ? step_index(p, v->scope.time) : -1;
    }
}

/* 2. Groups and roles: the op nodes of one scope (step, layer, direction,
 * cell) form a group, a node's role is its place in its group, and groups
 * of one layer, direction, cell and size form a family (the same cell at
 * every step). -1 when out of memory. */
static int plan_groups(plan *p)
{
    const weft_graph *g = p->g;
    int n = p->n;
    index_table gt = { 0 }, ft = { 0 };
    int gcap = 0, rc = -1;
    if (index_init(&gt, (size_t)(n > 0 ? n : 1))) goto done;
    for (int i = 0; i < n; i++) {
        const weft_var *v = weft_graph_node(g, i);
        p->group_of[i] = -1;
        p->role[i] = -1;
        if (v->kind != WEFT_NODE_OP || p->step[i] < 0) continue;
        int k = find_group(p, &gt, v, &gcap);
        if (k < 0) goto done;
        p->group_of[i] = k;
        p->role[i] = p->groups[k].size++;
    }
    p->families = malloc((size_t)(p->n_groups > 0 ? p->n_groups : 1) * sizeof *p->families);
    if (!p->families || index_init(&ft, (size_t)p->n_groups)) goto done;
    int roles = 0;
    for (int k = 0; k < p->n_groups; k++) {
        group *q = &p->groups[k];
        q->family = find_family(p, &ft, q);
        q->collapsed = p->level == WEFT_DOT_CELLS && q->cell != NULL;
    }
    for (int f = 0; f < p->n_families; f++) {
        p->families[f].role_offset = roles;
        roles += p->families[f].size;
    }
    p->state_role = calloc((size_t)(roles > 0 ? roles : 1), 1);
    if (!p->state_role) goto done;
    rc = 0;
done:
    free(gt.slots);
    free(ft.slots);
    return rc;
}

/* 3. States: a state leaf, or an op node used at another step; then the same
 * role of the same family at every step. An initial state (a state leaf with
 * no step) is drawn in the step that first reads it, beside the cell it
 * starts: step 0 for a forward direction, the last step for a backward one. */
static void plan_states(plan *p)
{
    const weft_graph *g = p->g;
    int n = p->n;
    for (int i = 0; i < n; i++) {
        const weft_var *v = weft_graph_node(g, i);
        if (v->kind == WEFT_NODE_STATE) p->is_state[i] = 1;
        if (p->step[i] < 0) continue;
        for (int k = 0; k < v->n_in; k++) {
            const weft_var *w = v->in[k];
            if (w->kind == WEFT_NODE_OP && p->step[w->id] >= 0 &&
                w->scope.time != v->scope.time) {
                p->is_state[w->id] = 1;
                const group *q = &p->groups[p->group_of[w->id]];
                p->state_role[p->families[q->family].role_offset + p->role[w->id]] = 1;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (p->group_of[i] < 0) continue;
        const group *q = &p->groups[p->group_of[i]];
        if (p->state_role[p->families[q->family].role_offset + p->role[i]]) p->is_state[i] = 1;
    }
    for (int i = 0; i < n; i++) {
        const weft_var *v = weft_graph_node(g, i);
        if (p->step[i] < 0 || step_hidden(p, p->step[i])) continue;
        for (int k = 0; k < v->n_in; k++) {
            const weft_var *w = v->in[k];
            if (w->kind == WEFT_NODE_STATE && p->step[w->id] < 0 && w->scope.time < 0)
                p->step[w->id] = p->step[i];
        }
    }
}

static bool is_loss(const plan *p, const weft_var *v);

/* Which nodes some loss depends on: a sweep back along the tape (a node's
 * inputs come before it) from the losses. A graph without a loss: all. */
static void plan_reaches_loss(plan *p)
{
    bool any = false;
    for (int i = p->n - 1; i >= 0; i--) {
        const weft_var *v = weft_graph_node(p->g, i);
        if (is_loss(p, v)) p->reaches_loss[i] = 1, any = true;
        if (!p->reaches_loss[i]) continue;
        for (int k = 0; k < v->n_in; k++) p->reaches_loss[v->in[k]->id] = 1;
    }
    if (!any) memset(p->reaches_loss, 1, (size_t)p->n);
}

/* 4. Representatives: what each node is drawn as (itself, its collapsed
 * cell's box, or the marker of the hidden steps), or -1: the layers' plumbing
 * (a step's concatenation of two directions, the stack of a layer's outputs;
 * no cell, no state) that no loss uses, e.g. every step's concat but the last
 * when the loss reads the last step only. */
static void plan_representatives(plan *p)
{
    plan_reaches_loss(p);
    for (int i = 0; i < p->n; i++) {
        const weft_var *v = weft_graph_node(p->g, i);
        p->rep[i] = i;
        if (!p->reaches_loss[i] && v->kind == WEFT_NODE_OP && !v->scope.cell &&
            !p->is_state[i]) {
            p->rep[i] = -1;
        } else if (p->step[i] >= 0 && step_hidden(p, p->step[i])) {
            p->rep[i] = marker_entity(p);
        } else if (p->group_of[i] >= 0 && p->groups[p->group_of[i]].collapsed && !p->is_state[i]) {
            p->rep[i] = p->n + p->group_of[i];
            p->groups[p->group_of[i]].drawn++;
        }
    }
}

/* 5. Gradient norms of the drawn states, and their shared log scale. */
static void plan_grad_norms(plan *p)
{
    p->log_lo = INFINITY;
    p->log_hi = -INFINITY;
    for (int i = 0; i < p->n; i++) {
        const weft_var *v = weft_graph_node(p->g, i);
        p->norm[i] = -1.0;
        if (!p->grads || !p->is_state[i] || p->rep[i] != i) continue;
        if (!weft_node_grad_ready(v) || !v->grad.data) continue;
        double nv = grad_norm(&v->grad);
        p->norm[i] = nv;
        if (nv > 0.0 && isfinite(nv)) {
            double l = log10(nv);
            if (l < p->log_lo) p->log_lo = l;
            if (l > p->log_hi) p->log_hi = l;
            p->have_norms = true;
        }
    }
}

/* What the drawing of g at the options' level shows, in the five steps
 * above. -1 when out of memory (the caller frees what was made). */
static int plan_build(plan *p, const weft_graph *g, const weft_dot_opts *o)
{
    memset(p, 0, sizeof *p);
    p->g = g;
    p->level = o->level == WEFT_DOT_OPS ? WEFT_DOT_OPS : WEFT_DOT_CELLS;
    p->grads = o->grads;
    p->n = weft_graph_size(g);
    if (plan_alloc(p, p->n)) return -1;
    plan_steps(p, o);
    if (plan_groups(p)) return -1;
    plan_states(p);
    plan_representatives(p);
    plan_grad_norms(p);
    return 0;
}

/* --- printing helpers ------------------------------------------------------- */

/* s inside a DOT quoted string: quotes and backslashes escaped, a newline
 * becomes the line break \n, other control characters become '?'. (Inside a
 * quoted string <, >, { and } are plain text: weft draws no record shapes,
 * and its one HTML label, the legend, escapes its own text.) */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f) fputc('?', f);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* s as text of an HTML-like label: & < > " as entities. */
static void put_html(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The colour of position x in [0, 1] on the scale (viridis, 5 stops). */
static void scale_colour(double x, char *buf, size_t n)
{
    static const unsigned char stops[5][3] = {
        { 0x44, 0x01, 0x54 }, { 0x3b, 0x52, 0x8b }, { 0x21, 0x91, 0x8c },
        { 0x5e, 0xc9, 0x62 }, { 0xfd, 0xe7, 0x25 },
    };
    if (!(x >= 0.0)) x = 0.0;
    if (x > 1.0) x = 1.0;
    double pos = x * 4.0;
    int k = (int)pos;
    if (k > 3) k = 3;
    double t = pos - k;
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(stops[k][c] + t * (stops[k + 1][c] - stops[k][c]));
    snprintf(buf, n, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* The text colour that reads on fill "#rrggbb": white or black, whichever has
 * the higher contrast ratio (WCAG 2: (L1 + 0.05) / (L2 + 0.05) with L the
 * relative luminance of the linearised sRGB channels); they tie at L = 0.179. */
static const char *text_colour_on(const char *fill)
{
    unsigned r = 0, gr = 0, b = 0;
    if (sscanf(fill, "#%2x%2x%2x", &r, &gr, &b) != 3) return "black";
    double c[3] = { r / 255.0, gr / 255.0, b / 255.0 };
    for (int k = 0; k < 3; k++)
        c[k] = c[k] <= 0.04045 ? c[k] / 12.92 : pow((c[k] + 0.055) / 1.055, 2.4);
    double lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return (1.05 / (lum + 0.05)) > ((lum + 0.05) / 0.05) ? "white" : "black";
}

/* Where norm nv sits on the picture's scale, in [0, 1]. */
static double scale_pos(const plan *p, double nv)
{
    if (p->log_hi - p->log_lo < 1e-12) return 0.5;
    return (log10(nv) - p->log_lo) / (p->log_hi - p->log_lo);
}

static const char *dir_arrow(const plan *p, int dir)
{
    if (!p->has_backward) return "";
    return dir == 1 ? " \xe2\x86\x90" : dir == 0 ? " \xe2\x86\x92" : "";   /* ← → */
}

/* A node's tooltip: where it comes from. */
static void put_tooltip(FILE *f, const weft_var *v)
{
    char buf[256];
    int len = snprintf(buf, sizeof buf, "#%d %s", v->id,
                       v->op ? v->op->name : v->name ? v->name : "leaf");
    if (len < 0) len = 0;
    if ((size_t)len < sizeof buf && v->scope.time >= 0)
        len += snprintf(buf + len, sizeof buf - (size_t)len, " t=%d", v->scope.time);
    if ((size_t)len < sizeof buf && v->scope.layer >= 0)
        len += snprintf(buf + len, sizeof buf - (size_t)len, " layer=%d", v->scope.layer);
    if ((size_t)len < sizeof buf && v->scope.dir >= 0)
        len += snprintf(buf + len, sizeof buf - (size_t)len, " dir=%d", v->scope.dir);
    if ((size_t)len < sizeof buf && v->scope.cell)
        snprintf(buf + len, sizeof buf - (size_t)len, " cell=%s", v->scope.cell);
    fputs(", tooltip=", f);
    put_quoted(f, buf);
}

static bool is_loss(const plan *p, const weft_var *v)
{
    return v->kind == WEFT_NODE_OP && v->value.size == 1 && p->users[v->id] == 0;
}

/* One node statement: n<id> [label=..., style...]; */
static void put_node(FILE *f, const plan *p, const weft_var *v, const char *indent)
{
    char shape[64], label[512], extra[64] = "";
    weft_shape_str(&v->value, shape, sizeof shape);
    const char *style;
    bool state = p->is_state[v->id];

    if (state && p->level == WEFT_DOT_CELLS && v->kind == WEFT_NODE_OP &&
        p->group_of[v->id] >= 0 && p->groups[p->group_of[v->id]].collapsed) {
        /* a collapsed cell's state: number it among the cell's states */
        const group *q = &p->groups[p->group_of[v->id]];
        const unsigned char *flags = p->state_role + p->families[q->family].role_offset;
        int k = 0;
        for (int r = 0; r < p->role[v->id]; r++) k += flags[r];
        if (v->name) snprintf(label, sizeof label, "%s\n%s", v->name, shape);
        else snprintf(label, sizeof label, "state %d\n%s", k, shape);
    } else if (v->name) {
        snprintf(label, sizeof label, "%s\n%s", v->name, shape);
    } else if (v->op) {
        snprintf(label, sizeof label, "%s\n%s", v->op->label, shape);
    } else {
        snprintf(label, sizeof label, "%s\n%s",
                 v->kind == WEFT_NODE_STATE ? "state" : v->kind == WEFT_NODE_PARAM ? "param"
                                                                                  : "input",
                 shape);
    }

    switch (v->kind) {
    case WEFT_NODE_PARAM:
        style = "shape=box, style=\"filled,bold\", fillcolor=\"#f6dfa4\", color=\"#a07a16\"";
        break;
    case WEFT_NODE_INPUT:
        style = "shape=invhouse, style=filled, fillcolor=\"#cfe3f7\", color=\"#3d6f9e\"";
        break;
    case WEFT_NODE_STATE:
        style = "shape=ellipse, peripheries=2, style=filled, fillcolor=\"#cdebc5\", "
                "color=\"#3f7f34\"";
        break;
    default:
        if (state) style = "shape=ellipse, peripheries=2, style=filled, fillcolor=\"#cdebc5\", "
                           "color=\"#3f7f34\"";
        else if (is_loss(p, v)) style = "shape=doubleoctagon, style=filled, "
                                        "fillcolor=\"#f4b6b0\", color=\"#a33a30\"";
        else style = "shape=box, style=\"rounded\", color=\"#777777\", fontsize=9";
    }

    if (p->grads && state) {
        size_t len = strlen(label);
        double nv = p->norm[v->id];
        if (nv < 0.0) {
            snprintf(label + len, sizeof label - len, "\n|grad| none");
            snprintf(extra, sizeof extra, ", fillcolor=\"#dddddd\"");
        } else {
            snprintf(label + len, sizeof label - len, "\n|grad| %.3e", nv);
            if (nv > 0.0 && isfinite(nv)) {
                char colour[16];
                double x = scale_pos(p, nv);
                scale_colour(x, colour, sizeof colour);
                snprintf(extra, sizeof extra, ", fillcolor=\"%s\", fontcolor=\"%s\"", colour,
                         text_colour_on(colour));
            } else {
                /* zero (vanished) or non-finite (exploded) */
                snprintf(extra, sizeof extra, ", fillcolor=\"%s\"",
                         nv == 0.0 ? "#888888" : "#ff3030");
            }
        }
    }

    fprintf(f, "%sn%d [label=", indent, v->id);
    put_quoted(f, label);
    fprintf(f, ", %s%s", style, extra);
    put_tooltip(f, v);
    fputs("];\n", f);
}

/* The box of a collapsed cell. */
static void put_group(FILE *f, const plan *p, int k, const char *indent)
{
    const group *q = &p->groups[k];
    char label[256];
    snprintf(label, sizeof label, "%s\n%d op%s", q->cell, q->drawn, q->drawn == 1 ? "" : "s");
    fprintf(f, "%sc%d [label=", indent, k);
    put_quoted(f, label);
    fputs(", shape=box, style=\"rounded,filled\", fillcolor=\"#dbe4f0\", color=\"#4a6a94\", "
          "penwidth=1.4, tooltip=", f);
    snprintf(label, sizeof label, "cell %s, t=%d layer=%d dir=%d: %d ops", q->cell, q->time,
             q->layer, q->dir, q->drawn);
    put_quoted(f, label);
    fputs("];\n", f);
}

static void put_entity_name(FILE *f, const plan *p, int e)
{
    if (e < p->n) fprintf(f, "n%d", e);
    else if (e < p->n + p->n_groups) fprintf(f, "c%d", e - p->n);
    else fputs("elided", f);
}

/* Where an entity sits in time, for ordering: 2 * step for a step, 2 * n_lead
 * - 1 for the marker (between the first steps and the last), -1 for none. */
static int entity_pos(const plan *p, int e)
{
    if (e < p->n) return p->step[e] >= 0 ? 2 * p->step[e] : -1;
    if (e < p->n + p->n_groups) return 2 * step_index(p, p->groups[e - p->n].time);
    return 2 * p->n_lead - 1;
}

static int entity_layer(const plan *p, int e)
{
    if (e < p->n) return weft_graph_node(p->g, e)->scope.layer;
    if (e < p->n + p->n_groups) return p->groups[e - p->n].layer;
    return -1;
}

/* An entity drawn in a step: its (layer, dir) and tape order, for sorting. */
typedef struct member {
    int layer, dir, order, entity;
} member;

static int cmp_member(const void *a, const void *b)
{
    const member *x = a, *y = b;
    if (x->layer != y->layer) return (x->layer > y->layer) - (x->layer < y->layer);
    if (x->dir != y->dir) return (x->dir > y->dir) - (x->dir < y->dir);
    return (x->order > y->order) - (x->order < y->order);
}

static void put_member(FILE *f, const plan *p, const member *m, const char *indent)
{
    if (m->entity < p->n) put_node(f, p, weft_graph_node(p->g, m->entity), indent);
    else put_group(f, p, m->entity - p->n, indent);
}

/* The row of an entity at the cells level: layer * 2 + dir for a cell box or
 * a node of a cell's (layer, direction) in a drawn step, or an initial state
 * of one; -1 for anything else (inputs, concatenations, parameters, the
 * readout, the marker). */
static int entity_row(const plan *p, int e)
{
    if (p->level != WEFT_DOT_CELLS) return -1;
    if (e >= p->n + p->n_groups) return -1;
    if (e >= p->n) {
        const group *q = &p->groups[e - p->n];
        return q->layer >= 0 && q->dir >= 0 ? q->layer * 2 + q->dir : -1;
    }
    const weft_var *v = weft_graph_node(p->g, e);
    if (v->scope.layer < 0 || v->scope.dir < 0 || v->kind == WEFT_NODE_PARAM) return -1;
    if (p->step[e] < 0 && v->kind != WEFT_NODE_STATE) return -1;
    return v->scope.layer * 2 + v->scope.dir;
}

/* The cells level's grid: time runs left to right, layers bottom to top
 * (rankdir=BT), and each (layer, direction) is one row: every cell box and
 * state of it, at every step, on one rank (newrank lets a rank=same set span
 * the step clusters). Along a row the state edges are flat, and dot puts a
 * flat edge's tail left of its head, so the states going along a row put
 * its steps in time order. (No invisible edge doubles a state edge: two
 * flat edges between one pair of nodes trip an assertion in dot.) The backward direction's row sits above the
 * forward one (an invisible edge between them), and its edges are written
 * right to left with dir=back (see put_edges). */
static void put_rows(FILE *f, const plan *p, const member *sorted, const int *count)
{
    int max_row = -1;
    for (int e = 0; e < p->n + p->n_groups; e++) {
        if (e < p->n && p->rep[e] != e) continue;
        int r = entity_row(p, e);
        if (r > max_row) max_row = r;
    }
    for (int r = 0; r <= max_row; r++) {
        int n_members = 0;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                if (n_members == 0) break;
                fputs("  { rank=same;", f);
            }
            /* initial states of this row, then the members of each step */
            for (int e = 0; e < p->n; e++) {
                if (p->rep[e] != e || p->step[e] >= 0 || entity_row(p, e) != r) continue;
                if (pass == 0) n_members++;
                else { fputc(' ', f); put_entity_name(f, p, e); }
            }
            for (int k = 0; k < count[p->n_steps]; k++) {
                if (entity_row(p, sorted[k].entity) != r) continue;
                if (pass == 0) n_members++;
                else { fputc(' ', f); put_entity_name(f, p, sorted[k].entity); }
            }
        }
        if (n_members == 0) continue;
        fputs(" }\n", f);
    }
    /* the backward direction's row above the forward one, step by step */
    for (int r = 0; r + 1 <= max_row; r += 2) {
        for (int s = 0; s < p->n_steps; s++) {
            if (step_hidden(p, s)) continue;
            int a = -1, b = -1;
            for (int k = count[s]; k < count[s + 1]; k++) {
                int row = entity_row(p, sorted[k].entity);
                if (row == r && a < 0) a = sorted[k].entity;
                if (row == r + 1 && b < 0) b = sorted[k].entity;
            }
            if (a < 0 || b < 0) continue;
            fputs("  ", f);
            put_entity_name(f, p, a);
            fputs(" -> ", f);
            put_entity_name(f, p, b);
            fputs(" [style=invis];\n", f);
        }
    }
}

/* The members of the drawn steps (each collapsed cell's box once), bucketed
 * by step: step s's are sorted[count[s] .. count[s + 1]), in tape order until
 * put_step_cluster sorts them. Both arrays malloc'd for the caller. -1 when
 * out of memory. */
static int step_members(const plan *p, int **count_out, member **sorted_out)
{
    int *count = calloc((size_t)p->n_steps + 1, sizeof *count);
    member *m = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *m);
    int *fill = malloc(((size_t)p->n_steps + 1) * sizeof *fill);
    member *sorted = NULL;
    if (!count || !m || !fill) goto fail;
    int total = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->step[i] < 0 || step_hidden(p, p->step[i])) continue;
        int e = p->rep[i];
        if (e < 0) continue;                                        /* not drawn */
        if (e >= p->n && p->groups[e - p->n].first != i) continue;  /* box: once */
        const weft_var *v = weft_graph_node(p->g, i);
        m[total++] = (member){ v->scope.layer, v->scope.dir, i, e };
        count[p->step[i] + 1]++;
    }
    /* counting sort by step (put_step_cluster sorts within each step) */
    for (int s = 0; s < p->n_steps; s++) count[s + 1] += count[s];
    sorted = malloc((size_t)(total > 0 ? total : 1) * sizeof *sorted);
    if (!sorted) goto fail;
    memcpy(fill, count, ((size_t)p->n_steps + 1) * sizeof *fill);
    for (int k = 0; k < total; k++) {
        int s = p->step[m[k].order];
        sorted[fill[s]++] = m[k];
    }
    free(m);
    free(fill);
    *count_out = count;
    *sorted_out = sorted;
    return 0;
fail:
    free(count); free(m); free(sorted); free(fill);
    return -1;
}

/* The marker drawn once where the hidden steps would be. */
static void put_elided_marker(FILE *f, const plan *p)
{
    int first = p->times[p->n_lead], last = p->times[p->n_steps - 2];
    int hidden = p->n_steps - 1 - p->n_lead;
    char label[160];
    snprintf(label, sizeof label, "\xe2\x8b\xaf\n%d step%s not drawn\nt = %d \xe2\x80\xa6 %d\n"
             "\xe2\x8b\xaf", hidden, hidden == 1 ? "" : "s", first, last);
    fputs("  subgraph cluster_elided {\n    style=invis;\n"
          "    elided [label=", f);
    put_quoted(f, label);
    fputs(", shape=box, style=\"dashed,rounded\", color=\"#888888\", fontcolor=\"#555555\"];\n"
          "  }\n", f);
}

/* Step s's cluster: its members m[0..n), sorted here by (layer, dir, order),
 * each layer and direction in a sub-cluster of its own. */
static void put_step_cluster(FILE *f, const plan *p, int s, member *m, int n)
{
    fprintf(f, "  subgraph cluster_step%d {\n", p->times[s]);
    fprintf(f, "    label=\"t = %d\"; style=rounded; color=\"#999999\"; fontsize=12;\n",
            p->times[s]);
    qsort(m, (size_t)n, sizeof *m, cmp_member);
    for (int k = 0; k < n;) {
        int layer = m[k].layer, dir = m[k].dir;
        int end = k;
        while (end < n && m[end].layer == layer && m[end].dir == dir) end++;
        bool sub = layer >= 0 || dir >= 0;
        if (sub) {
            char label[64];
            if (layer >= 0) snprintf(label, sizeof label, "layer %d%s", layer, dir_arrow(p, dir));
            else snprintf(label, sizeof label, "%s", dir == 1 ? "backward" : "forward");
            /* no layer or no direction (-1) is "n": an ID has no '-' */
            fprintf(f, "    subgraph cluster_s%d_l", p->times[s]);
            if (layer >= 0) fprintf(f, "%d", layer); else fputc('n', f);
            fputs("_d", f);
            if (dir >= 0) fprintf(f, "%d", dir); else fputc('n', f);
            fputs(" {\n      label=", f);
            put_quoted(f, label);
            fprintf(f, "; style=\"rounded,filled\"; color=\"%s\"; fillcolor=\"%s\"; "
                    "fontsize=10;\n", dir == 1 ? "#d9b48a" : "#9db8d6",
                    dir == 1 ? "#fbf2e8" : "#eef4fb");
        }
        for (int j = k; j < end; j++) put_member(f, p, &m[j], sub ? "      " : "    ");
        if (sub) fputs("    }\n", f);
        k = end;
    }
    fputs("  }\n", f);
}

/* The layers of a step side by side (ops level): the first node of each
 * layer and direction among m[0..n), sorted, on one rank, when there are two
 * or more. */
static void put_step_ranks(FILE *f, const plan *p, const member *m, int n)
{
    int runs = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < n; k++) {
            if (m[k].layer < 0) continue;
            if (k > 0 && m[k].layer == m[k - 1].layer && m[k].dir == m[k - 1].dir) continue;
            if (pass == 0) {
                runs++;
                continue;
            }
            fputs(runs++ ? " " : "  { rank=same; ", f);
            put_entity_name(f, p, m[k].entity);
        }
        if (pass == 0 && runs < 2) break;
        if (pass == 1) fputs("; }\n", f);
        runs = 0;
    }
}

/* Time gates (ops level): an invisible point between consecutive drawn
 * steps, after every node of the one and before every node of the next, so
 * each step occupies ranks of its own and the steps stand in time order. */
static void put_time_gates(FILE *f, const plan *p, const member *sorted, const int *count)
{
    int prev = -1, gate = 0;                  /* prev: last drawn step, or -2 for the marker */
    for (int s = 0; s < p->n_steps; s++) {
        int cur;
        if (step_hidden(p, s)) {
            if (s != p->n_lead) continue;
            cur = -2;
        } else {
            cur = s;
        }
        if (prev != -1) {
            fprintf(f, "  gate%d [shape=point, style=invis, width=0, height=0];\n  {", gate);
            if (prev == -2) fputs(" elided", f);
            else
                for (int k = count[prev]; k < count[prev + 1]; k++) {
                    fputc(' ', f);
                    put_entity_name(f, p, sorted[k].entity);
                }
            fprintf(f, " } -> gate%d [style=invis, weight=0];\n  gate%d -> {", gate, gate);
            if (cur == -2) fputs(" elided", f);
            else
                for (int k = count[cur]; k < count[cur + 1]; k++) {
                    fputc(' ', f);
                    put_entity_name(f, p, sorted[k].entity);
                }
            fputs(" } [style=invis, weight=0];\n", f);
            gate++;
        }
        prev = cur;
    }
}

/* The clusters of the drawn steps (and the marker), in time order; then
 * what holds them in order: rows of cells (cells level) or time gates. */
static int put_steps(FILE *f, const plan *p)
{
    int *count;
    member *sorted;
    if (step_members(p, &count, &sorted)) return -1;
    for (int s = 0; s < p->n_steps; s++) {
        if (step_hidden(p, s)) {
            if (s == p->n_lead) put_elided_marker(f, p);
            continue;
        }
        int lo = count[s], hi = count[s + 1];
        put_step_cluster(f, p, s, sorted + lo, hi - lo);
        if (p->level == WEFT_DOT_OPS) put_step_ranks(f, p, sorted + lo, hi - lo);
    }
    if (p->level == WEFT_DOT_CELLS) put_rows(f, p, sorted, count);
    else put_time_gates(f, p, sorted, count);
    free(count);
    free(sorted);
    return 0;
}

/* Every edge once, between representatives. */
static int put_edges(FILE *f, const plan *p)
{
    size_t n_in = 0;
    for (int i = 0; i < p->n; i++) n_in += (size_t)weft_graph_node(p->g, i)->n_in;
    key_set seen;
    if (key_set_init(&seen, n_in)) return -1;
    for (int i = 0; i < p->n; i++) {
        const weft_var *v = weft_graph_node(p->g, i);
        int d = p->rep[i];
        if (d < 0) continue;                           /* not drawn */
        for (int k = 0; k < v->n_in; k++) {
            const weft_var *w = v->in[k];
            int s = p->rep[w->id];
            if (s == d || s < 0) continue;             /* inside a box or the marker */
            /* a state used again inside its own cell (c_t -> tanh(c_t)) */
            if (s < p->n && p->group_of[s] >= 0 && d == p->n + p->group_of[s]) continue;
            if (!key_set_add(&seen, (uint64_t)s << 32 | (uint32_t)d)) continue;
            int ps = entity_pos(p, s), pd = entity_pos(p, d);
            bool from_param = s < p->n && w->kind == WEFT_NODE_PARAM;
            bool marker = s == marker_entity(p) || d == marker_entity(p);
            /* Ranks run along time. An edge back in time (a backward
             * direction's state, t+1 -> t) is written head first with
             * dir=back, so that it too ranks its earlier step first. Edges
             * between layers of one step leave ranks alone: the layers of a
             * step stand side by side across the picture. Parameters, used
             * everywhere, constrain nothing. */
            bool back = ps >= 0 && pd >= 0 && ps > pd;
            bool free_rank = from_param || (ps >= 0 && ps == pd && entity_layer(p, s) >= 0 &&
                                            entity_layer(p, d) >= 0 &&
                                            entity_layer(p, s) != entity_layer(p, d));
            if (p->level == WEFT_DOT_CELLS) {
                /* The grid (put_rows): along a backward direction's row
                 * everything runs right to left; edges between layers set
                 * the rows' order; parameters pull their row of weights
                 * under the cells that use them. */
                int rs = entity_row(p, s), rd = entity_row(p, d);
                if (rs >= 0 && rs == rd) back = rs % 2 == 1;
                free_rank = false;
            }
            fputs("  ", f);
            put_entity_name(f, p, back ? d : s);
            fputs(" -> ", f);
            put_entity_name(f, p, back ? s : d);
            char attrs[160] = "";
            size_t len = 0;
            if (back) len += (size_t)snprintf(attrs + len, sizeof attrs - len, ", dir=back");
            if (free_rank)
                len += (size_t)snprintf(attrs + len, sizeof attrs - len, ", constraint=false");
            if (from_param)
                len += (size_t)snprintf(attrs + len, sizeof attrs - len,
                                        ", weight=0, color=\"#d8c07a\", penwidth=0.6, "
                                        "arrowsize=0.4");
            else if (s < p->n && p->is_state[s])
                len += (size_t)snprintf(attrs + len, sizeof attrs - len,
                                        ", color=\"#3f7f34\", penwidth=1.3");
            if (marker)
                snprintf(attrs + len, sizeof attrs - len, ", style=dashed");
            fprintf(f, " [%s];\n", attrs[0] ? attrs + 2 : "");
        }
    }
    free(seen.slots);
    return 0;
}

/* The colour scale of the gradient overlay. */
static void put_legend(FILE *f, const plan *p)
{
    fputs("  legend [shape=plaintext, label=<<table border=\"0\" cellborder=\"1\" "
          "cellspacing=\"0\" cellpadding=\"3\">\n"
          "    <tr><td colspan=\"5\" border=\"0\"><b>", f);
    put_html(f, "|grad| of state nodes (L2, log scale)");
    fputs("</b></td></tr>\n    <tr>", f);
    if (!p->have_norms) {
        fputs("<td colspan=\"5\" bgcolor=\"#dddddd\">no gradients: run weft_backward first"
              "</td></tr>\n  </table>>];\n", f);
        return;
    }
    for (int k = 0; k < 5; k++) {
        double x = k / 4.0;
        double l = p->log_lo + x * (p->log_hi - p->log_lo);
        char colour[16], value[32];
        scale_colour(p->log_hi - p->log_lo < 1e-12 ? 0.5 : x, colour, sizeof colour);
        snprintf(value, sizeof value, "%.1e", pow(10.0, l));
        fprintf(f, "<td bgcolor=\"%s\"><font color=\"%s\">", colour, text_colour_on(colour));
        put_html(f, value);
        fputs("</font></td>", f);
        if (p->log_hi - p->log_lo < 1e-12) break;    /* one value: one cell */
    }
    fputs("</tr>\n  </table>>];\n", f);
}

int weft_dot_print(const weft_graph *g, FILE *out, const weft_dot_opts *opts)
{
    static const weft_dot_opts defaults = { 0 };
    const weft_dot_opts *o = opts ? opts : &defaults;
    if (!g || !out) {
        fprintf(stderr, "weft_dot_print: %s\n", !g ? "NULL graph" : "NULL stream");
        return -1;
    }
    plan p;
    if (plan_build(&p, g, o)) {
        plan_free(&p);
        fprintf(stderr, "weft_dot_print: out of memory planning a drawing of %d nodes\n",
                weft_graph_size(g));
        return -1;
    }

    /* The cells level's grid (put_rows) keeps its steps in time order only
     * when dot's crossing minimisation stays short (mclimit), and dot routes
     * its flat edges across step clusters reliably only as straight lines. */
    fprintf(out, "digraph weft {\n"
            "  graph [rankdir=%s, newrank=true, nodesep=0.18, ranksep=0.3, "
            "fontname=\"Helvetica\", fontsize=14, labelloc=t",
            p.level == WEFT_DOT_CELLS ? "BT, splines=line, mclimit=0.2" : "LR");
    if (o->title) {
        fputs(", label=", out);
        put_quoted(out, o->title);
    }
    fputs("];\n"
          "  node [fontname=\"Helvetica\", fontsize=10, height=0.3, margin=\"0.08,0.03\"];\n"
          "  edge [arrowsize=0.6, color=\"#666666\"];\n", out);

    /* parameters, once each, outside the steps */
    for (int i = 0; i < p.n; i++) {
        const weft_var *v = weft_graph_node(g, i);
        if (v->kind == WEFT_NODE_PARAM && p.rep[i] >= 0) put_node(out, &p, v, "  ");
    }
    /* nodes of no step: the loss, layers over all steps, unscoped leaves */
    for (int i = 0; i < p.n; i++) {
        const weft_var *v = weft_graph_node(g, i);
        if (v->kind != WEFT_NODE_PARAM && p.step[i] < 0 && p.rep[i] >= 0)
            put_node(out, &p, v, "  ");
    }
    int rc = put_steps(out, &p);
    if (rc == 0) rc = put_edges(out, &p);
    if (rc == 0 && p.grads) put_legend(out, &p);
    fputs("}\n", out);
    plan_free(&p);
    if (rc) {
        fprintf(stderr, "weft_dot_print: out of memory\n");
        return -1;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "weft_dot_print: writing the DOT text failed: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

char *weft_dot_string(const weft_graph *g, const weft_dot_opts *opts)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int rc = weft_dot_print(g, f, opts);
    if (fclose(f) != 0) rc = -1;
    if (rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* --- files and rendering ------------------------------------------------------ */

typedef enum { FMT_UNKNOWN, FMT_DOT, FMT_SVG, FMT_PNG, FMT_PDF } out_format;

static out_format format_of(const char *dest)
{
    const char *dot = strrchr(dest, '.');
    const char *slash = strrchr(dest, '/');
    if (!dot || (slash && dot < slash)) return FMT_UNKNOWN;
    char ext[8];
    size_t k = 0;
    for (const char *s = dot + 1; *s && k + 1 < sizeof ext; s++)
        ext[k++] = (char)tolower((unsigned char)*s);
    ext[k] = '\0';
    if (strlen(dot + 1) != k) return FMT_UNKNOWN;
    if (!strcmp(ext, "dot") || !strcmp(ext, "gv")) return FMT_DOT;
    if (!strcmp(ext, "svg")) return FMT_SVG;
    if (!strcmp(ext, "png")) return FMT_PNG;
    if (!strcmp(ext, "pdf")) return FMT_PDF;
    return FMT_UNKNOWN;
}

/* A new temporary file beside dest (same folder, so rename is atomic), made
 * with mode 0666 less the umask, as fopen would; its name goes into tmp
 * (malloc'd, the caller frees). Returns the open fd, or -1. */
static int temp_beside(const char *dest, char **tmp)
{
    size_t n = strlen(dest) + 40;
    *tmp = malloc(n);
    if (!*tmp) return -1;
    for (unsigned k = 0; k < 1000; k++) {
        snprintf(*tmp, n, "%s.tmp-%ld-%u", dest, (long)getpid(), k);
        int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) return fd;
        if (errno != EEXIST) break;
    }
    free(*tmp);
    *tmp = NULL;
    return -1;
}

/* Write len bytes to dest whole or not at all: a temporary file beside it,
 * every write and the close checked, then renamed over it. On any error
 * (a full disk included) the message names dest and the reason, the
 * temporary file is removed and dest is as it was. */
static int write_file(const void *data, size_t len, const char *dest, const char *who)
{
    char *tmp;
    int fd = temp_beside(dest, &tmp);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot create a file beside %s: %s\n", who, dest, strerror(errno));
        return -1;
    }
    const unsigned char *p = data;
    size_t left = len;
    int why = 0;
    while (left > 0 && !why) {
        ssize_t put = write(fd, p, left);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) why = put < 0 ? errno : EIO;
        else p += put, left -= (size_t)put;
    }
    if (close(fd) != 0 && !why) why = errno;
    if (!why && rename(tmp, dest) != 0) why = errno;
    if (why) {
        fprintf(stderr, "%s: cannot write %s: %s (it is unchanged)\n", who, dest, strerror(why));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

static int write_text_file(const char *text, const char *dest, const char *who)
{
    return write_file(text, strlen(text), dest, who);
}

bool weft_dot_can_render(void)
{
#ifdef WEFT_HAVE_GVC
    return true;
#else
    return false;
#endif
}

#ifdef WEFT_HAVE_GVC
/* Graphviz renders into memory (gvRenderData); weft writes the file itself
 * (write_file): Graphviz's own file output ends the process on a write error
 * (a full disk), leaving a half-written file. */
static int render_gvc(const char *dot, const char *dest, const char *fmt)
{
    int rc = -1;
    GVC_t *gvc = gvContext();
    Agraph_t *G = gvc ? agmemread(dot) : NULL;
    if (!gvc) {
        fprintf(stderr, "weft_dot_render: Graphviz could not start (gvContext failed)\n");
    } else if (!G) {
        fprintf(stderr, "weft_dot_render: Graphviz could not parse the DOT text for %s\n", dest);
    } else if (gvLayout(gvc, G, "dot") != 0) {
        fprintf(stderr, "weft_dot_render: Graphviz's dot layout failed for %s\n", dest);
    } else {
        char *data = NULL;
        unsigned int len = 0;
        if (gvRenderData(gvc, G, fmt, &data, &len) != 0 || !data)
            fprintf(stderr, "weft_dot_render: Graphviz could not render %s as %s (is its %s "
                    "plugin installed? `dot -T?` lists the formats)\n", dest, fmt, fmt);
        else
            rc = write_file(data, len, dest, "weft_dot_render");
        if (data) gvFreeRenderData(data);
        gvFreeLayout(gvc, G);
    }
    if (G) agclose(G);
    if (gvc) gvFreeContext(gvc);
    return rc;
}
#endif

int weft_dot_render(const char *dot, const char *dest)
{
    if (!dot || !dest) {
        fprintf(stderr, "weft_dot_render: NULL %s\n", !dot ? "DOT text" : "dest");
        return -1;
    }
    out_format fmt = format_of(dest);
    switch (fmt) {
    case FMT_DOT:
        return write_text_file(dot, dest, "weft_dot_render");
    case FMT_UNKNOWN:
        fprintf(stderr, "weft_dot_render: cannot tell the format of '%s' from its extension: "
                "use .dot, .gv, .svg, .png or .pdf\n", dest);
        return -1;
    default:
        break;
    }
    const char *fmt_name = fmt == FMT_SVG ? "svg" : fmt == FMT_PNG ? "png" : "pdf";
#ifdef WEFT_HAVE_GVC
    return render_gvc(dot, dest, fmt_name);
#else
    /* No renderer: write the DOT text beside dest, x.svg -> x.dot. */
    size_t n = strlen(dest);
    char *alt = malloc(n + 5);
    if (!alt) return -1;
    memcpy(alt, dest, n + 1);
    char *ext = strrchr(alt, '.');
    strcpy(ext, ".dot");
    int rc = write_text_file(dot, alt, "weft_dot_render");
    if (rc == 0) {
        fprintf(stderr, "weft: rendering %s needs Graphviz's libraries (gvc/cgraph), and this "
                "build of weft has none; wrote the DOT text to %s instead (render it with "
                "`dot -T%s %s -o %s`, or install libgraphviz-dev and rebuild weft)\n",
                dest, alt, fmt_name, alt, dest);
        rc = WEFT_DOT_NOT_RENDERED;
    }
    free(alt);
    return rc;
#endif
}

int weft_dot_write(const weft_graph *g, const char *dest, const weft_dot_opts *opts)
{
    if (!dest) {
        fprintf(stderr, "weft_dot_write: NULL dest\n");
        return -1;
    }
    if (format_of(dest) == FMT_UNKNOWN) {
        fprintf(stderr, "weft_dot_write: cannot tell the format of '%s' from its extension: "
                "use .dot, .gv, .svg, .png or .pdf\n", dest);
        return -1;
    }
    char *dot = weft_dot_string(g, opts);
    if (!dot) {
        fprintf(stderr, "weft_dot_write: could not make the DOT text for %s\n", dest);
        return -1;
    }
    int rc = weft_dot_render(dot, dest);
    free(dot);
    return rc;
}
