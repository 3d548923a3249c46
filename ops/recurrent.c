/* ops/recurrent.c — fused recurrent steps: one node per cell per step for the
 * Elman RNN (tanh, relu), the LSTM and the GRU, each with its own backward.
 *
 * Every step takes the step's input projection xp = x_t W_ihᵀ + b_ih [B, G·H]
 * (computed for all T steps at once by the cell's project_inputs), the
 * previous state(s) [B, H], the recurrent weights W_hh [G·H, H] and bias
 * b_hh [G·H] (or none), as nn.RNN / nn.LSTM / nn.GRU lay them out, and does
 *
 *   forward:  one sgemm for the recurrent product h W_hhᵀ (beta = 1 onto the
 *             rest of the pre-activation), then one pass over the rows for the
 *             nonlinearities and the new state, keeping what backward needs in
 *             the node's fused_aux;
 *   backward: one pass over the rows from the output gradients to the
 *             gradients of the pre-activations ("dgates"), adding dxp and the
 *             elementwise parts of dh_prev / dc_prev on the way, then
 *             dh_prev += dgates W_hh, dW_hh += dgatesᵀ h_prev (two sgemms,
 *             beta = 1) and db_hh += the column sums of dgates.
 *
 * Chains. The caller that unrolls a sequence says so (weft/ops.h): it opens
 * a weft_seq over the [T, B, G·H] projection of all steps and gives step t
 * weft_seq_input(g, seq, t) as its xp, as weft_unroll does. The fused steps
 * of one op and one W_hh that read a sequence's steps form a chain that
 * shares the sequence's record (struct weft_seq below; nothing on the tape
 * is searched):
 *
 *   - W_hh is prepared once per sequence (by the chain's first step) for
 *     the per-step products h W_hhᵀ (forward) and dgates W_hh (backward):
 *     where packed_worth (src/matmul.h) says so, packed into the
 *     micro-kernel's panels once, so no step repacks it (weft's AVX-512
 *     or AVX2 tiles of src/matmul_kernel*.c: from 4 rows where the product
 *     is 256 columns wide or more, 1.05-1.4x on those products; BLIS's
 *     kernel: from 32 rows); otherwise as W_hhᵀ [H, G·H] and, where W_hh's own rows are a
 *     multiple of 512 bytes apart (H a multiple of 128), a copy of W_hh
 *     with its row stride padded off that: plain sgemms that BLIS's
 *     small-matrix path runs without packing (measured 1.2-1.4x faster at
 *     B = 16..20 than the packed product of the transposed weights, which
 *     repacks every step);
 *   - step t copies h_{t-1} into Hprev [T, B, H] and its backward writes its
 *     dgates into D [T, B, G·H] instead of a buffer of its own;
 *   - the weight gradient is one sgemm over all T·B rows, run by the chain's
 *     first step, whose backward comes last:
 *         dW_hh += Dᵀ Hprev        [G·H, T·B] x [T·B, H]
 *         db_hh += Σ_rows D
 *     rather than T sgemms of inner size B that each read and write all of
 *     dW_hh. The first step is an ancestor of every later one (each reads the
 *     state the one before made: what the sequence's maker promises), so
 *     every step's backward has run by then; the slots of steps the loss does
 *     not reach count as zero.
 * A step on its own (xp not a step of a sequence) does all of this per step.
 *
 * The values and gradients equal those of the same step composed from public
 * ops (models/cells/elman.c, lstm.c, gru.c) to float rounding; tests/test_fused.c
 * proves it, and tests/test_kernels.c checks chains against single steps. */
#include "ops/op_table.h"

#include "src/matmul.h"
#include "ops/fastmath.h"

#include <stdio.h>
#include <string.h>

/* A sequence (weft_seq_new) and the chain its fused steps form: arena
 * memory; the sequence's part made by weft_seq_new, the chain's by the first
 * fused step that reads one of its steps. */
struct weft_seq {
    const weft_var *X;       /* the [T, B, P] projection the steps read, or packed [N, P] */
    int T, B, P;
    /* slot t's rows are rows off[t] .. off[t + 1] of X read as [N, P] (and of
     * hprev and dgates): t·B .. (t + 1)·B, or packed (weft_seq_new_packed)
     * only the rows of the sequences still running at step t, N in all */
    size_t *off;
    size_t N;
    bool packed;
    const weft_var **xps;    /* [T]: the step-t input (weft_seq_input) slot t's step reads */
    int *rows;               /* [T]: the rows step t's input has (B, or fewer: the first ones) */
    unsigned char *used;     /* [T]: a step has taken slot t */
    int n_chained;           /* steps in the chain (weft_seq_chained) */
    /* the chain, from its first step on (op NULL until then) */
    const weft_op_desc *op;  /* the steps' op */
    const weft_var *W;       /* W_hh, shared by every step */
    int H, GH;
    int ldt, ldw;            /* row strides of Wt and Wp: G·H and H padded */
    float *Wt;               /* W_hhᵀ [H, ldt], remade by the first step's forward */
    float *Wp;               /* W_hh [G·H, ldw], likewise; NULL: W_hh itself serves */
    bool packed_fwd;         /* h W_hhᵀ through Wt_packed instead of Wt */
    bool gate_tiles;         /* LSTM, packed: gates on the tiles (Wt_packed gate by gate) */
    int Hp;                  /* gate_tiles: H rounded up to NR, the columns a gate packs to */
    bool packed_bwd;         /* dgates W_hh through Wp_packed instead of Wp */
    packed_matrix Wt_packed; /* W_hhᵀ [H, G·H] packed, remade like Wt */
    packed_matrix Wp_packed; /* W_hh [G·H, H] packed, likewise */
    float *Apack;            /* the packed left operand of either product */
    float *hprev;            /* [T, B, H]: slot t holds step t's h_{t-1} (its first rows[t] rows) */
    /* [T, B, G·H]: slot t holds step t's dgates. Chosen anew by the first
     * step of every backward to reach the chain (n_filled = 0): X's own
     * gradient when the steps are its only readers and dgates is dxp
     * (chain_owns_dxp), else own_dgates, made the first time it is needed. */
    float *dgates;
    float *own_dgates;
    unsigned char *filled;   /* [T]: slot t's dgates are from this backward */
    int n_filled;            /* slots filled in this backward so far */
    /* A low-memory graph (weft_graph_set_low_memory) whose projection only
     * the steps read: each step keeps its activations in its own slot of X
     * (LSTM i, f, g, o; GRU r, z, n) and its backward overwrites them with
     * dxp, which is X's gradient (X's root node has grad_in_value). */
    bool in_place;
    float *gru_u;            /* GRU in place: [B, 3H] scratch for h W_hhᵀ + b_hh */
};

/* What a fused step keeps beside its node (arena memory). */
typedef struct fused_aux {
    float *saved;    /* forward's activations for backward (NULL for the Elman step and
                      * the LSTM's in place) */
    float *dgates;   /* backward's [B, G·H] scratch for a step outside a chain */
    weft_seq *seq;    /* the chain, or NULL */
    bool in_place;   /* a forward-only step of few rows: W_hh read in place (rows_product_worth) */
    int slot;        /* this step's t in the chain */
    bool first;      /* made the chain: transposes W_hh, runs the weight gradient */
} fused_aux;

/* A fused step node's attributes: its fused_aux, and for the Elman step its
 * activation (ACT_TANH or ACT_RELU). */
typedef struct step_attrs {
    fused_aux *fused;
    int act;
} step_attrs;
_Static_assert(sizeof(step_attrs) <= WEFT_NODE_ATTR_BYTES, "step_attrs fits a node");

static step_attrs *step_attrs_of(const weft_var *v)
{
    return weft_node_attrs(v);
}

static fused_aux *fused_of(const weft_var *v)
{
    return step_attrs_of(v)->fused;
}

/* σ and tanh of the gate kernels: the vectorisable ones of ops/fastmath.h,
 * as ops/activation.c uses, so the fused and composed paths round alike. */
static inline float sigmoidf(float x)
{
    return weft_fast_sigmoidf(x);
}

static inline float fast_tanhf(float x)
{
    return weft_fast_tanhf(x);
}

/* The parallel row loops below run on more than one thread only when the
 * step is big enough to pay for it. */
static inline bool worth_threads(int B, int width)
{
    return (size_t)B * (size_t)width > WEFT_PARALLEL_MIN;
}

/* --- shared checks and helpers ------------------------------------------------------------ */

/* Check xp [B, G·H], h [B, H], c [B, H] (when given), W_hh [G·H, H], b_hh
 * [G·H] (when given). On a mismatch record an error naming the op and every
 * shape and return false. */
static bool check_step(weft_graph *g, const char *op, int G, const weft_var *xp,
                       const weft_var *h, const weft_var *c, const weft_var *W,
                       const weft_var *b)
{
    const char *what = NULL;
    char expect[160];
    if (h->value.rank != 2) {
        what = "h must be [batch, hidden]";
        snprintf(expect, sizeof expect, "rank 2");
    } else {
        int B = h->value.shape[0], H = h->value.shape[1];
        if (xp->value.rank != 2 || xp->value.shape[0] != B || xp->value.shape[1] != G * H) {
            what = "xp must be [batch, G·hidden]";
            snprintf(expect, sizeof expect, "[%d, %d]", B, G * H);
        } else if (c && (c->value.rank != 2 || c->value.shape[0] != B ||
                         c->value.shape[1] != H)) {
            what = "c must be h's shape";
            snprintf(expect, sizeof expect, "[%d, %d]", B, H);
        } else if (W->value.rank != 2 || W->value.shape[0] != G * H || W->value.shape[1] != H) {
            what = "W_hh must be [G·hidden, hidden]";
            snprintf(expect, sizeof expect, "[%d, %d]", G * H, H);
        } else if (b && (b->value.size != (size_t)(G * H) ||
                         weft_tensor_cols(&b->value) != G * H)) {
            what = "b_hh must be [G·hidden]";
            snprintf(expect, sizeof expect, "[%d]", G * H);
        }
    }
    if (!what) return true;
    /* the shapes are written out only for the message (a step runs this every time) */
    char sx[64], sh[64], sc[64] = "", sw[64], sb[64] = "none";
    weft_shape_str(&xp->value, sx, sizeof sx);
    weft_shape_str(&h->value, sh, sizeof sh);
    if (c) weft_shape_str(&c->value, sc, sizeof sc);
    weft_shape_str(&W->value, sw, sizeof sw);
    if (b) weft_shape_str(&b->value, sb, sizeof sb);
    weft_graph_fail(g, "%s: xp %s, h %s%s%s, W_hh %s, b_hh %s: %s (G = %d), expected %s", op, sx,
                    sh, c ? ", c " : "", sc, sw, sb, what, G, expect);
    return false;
}

weft_seq *weft_seq_new(weft_graph *g, weft_var *xp_seq)
{
    if (!xp_seq) return NULL;
    if (xp_seq->value.rank != 3) {
        char sx[64];
        weft_graph_fail(g, "seq: the projections are %s, expected [T, B, P] (steps, batch, "
                        "width)", weft_shape_str(&xp_seq->value, sx, sizeof sx));
        return NULL;
    }
    int T = xp_seq->value.shape[0];
    weft_seq *s = weft_graph_calloc(g, sizeof *s);
    if (!s) return NULL;
    *s = (weft_seq){ .X = xp_seq, .T = T, .B = xp_seq->value.shape[1],
                     .P = xp_seq->value.shape[2] };
    s->xps = weft_graph_calloc(g, (size_t)T * sizeof *s->xps);
    s->rows = weft_graph_calloc(g, (size_t)T * sizeof *s->rows);
    s->used = weft_graph_calloc(g, (size_t)T);
    s->filled = weft_graph_calloc(g, (size_t)T);
    s->off = weft_graph_calloc(g, ((size_t)T + 1) * sizeof *s->off);
    if (!s->xps || !s->rows || !s->used || !s->filled || !s->off) return NULL;
    for (int t = 0; t <= T; t++) s->off[t] = (size_t)t * s->B;
    s->N = s->off[T];
    return s;
}

weft_seq *weft_seq_new_packed(weft_graph *g, weft_var *xp_packed, int T, const int *rows)
{
    if (!xp_packed) return NULL;
    if (xp_packed->value.rank != 2 || T < 1 || !rows) {
        char sx[64];
        weft_graph_fail(g, "seq: packed projections %s over %d steps, expected [N, P] and T >= 1",
                        weft_shape_str(&xp_packed->value, sx, sizeof sx), T);
        return NULL;
    }
    size_t N = 0;
    int B = 0;
    for (int t = 0; t < T; t++) {
        if (rows[t] < 1) {
            weft_graph_fail(g, "seq: packed step %d has %d rows, expected >= 1", t, rows[t]);
            return NULL;
        }
        N += (size_t)rows[t];
        if (rows[t] > B) B = rows[t];
    }
    if (N != (size_t)xp_packed->value.shape[0]) {
        weft_graph_fail(g, "seq: the steps' rows add up to %zu, the packed projections have %d",
                        N, xp_packed->value.shape[0]);
        return NULL;
    }
    weft_seq *s = weft_graph_calloc(g, sizeof *s);
    if (!s) return NULL;
    *s = (weft_seq){ .X = xp_packed, .T = T, .B = B, .P = xp_packed->value.shape[1], .N = N,
                     .packed = true };
    s->xps = weft_graph_calloc(g, (size_t)T * sizeof *s->xps);
    s->rows = weft_graph_calloc(g, (size_t)T * sizeof *s->rows);
    s->used = weft_graph_calloc(g, (size_t)T);
    s->filled = weft_graph_calloc(g, (size_t)T);
    s->off = weft_graph_calloc(g, ((size_t)T + 1) * sizeof *s->off);
    if (!s->xps || !s->rows || !s->used || !s->filled || !s->off) return NULL;
    for (int t = 0; t < T; t++) s->off[t + 1] = s->off[t] + (size_t)rows[t];
    return s;
}

weft_var *weft_seq_input_rows(weft_graph *g, weft_seq *s, int t, int rows)
{
    if (!s) return NULL;
    if (t < 0 || t >= s->T)
        return weft_graph_fail(g, "seq: step %d is not in [0, %d)", t, s->T);
    int cap = (int)(s->off[t + 1] - s->off[t]);
    if (rows < 1 || rows > cap || (s->packed && rows != cap))
        return weft_graph_fail(g, "seq: step %d: %d rows is not in [1, %d] (the batch)%s", t,
                               rows, cap, s->packed ? " or not the packed step's own" : "");
    weft_var *X = (weft_var *)s->X, *xp;
    if (s->packed) {   /* the step's rows of the packed [N, P]: a view */
        xp = weft_node_new_view(g, &weft_op_narrow, X, 2, (int[]){ rows, s->P },
                                s->off[t] * (size_t)s->P);
        if (xp) weft_narrow_attrs_of(xp)->start = (int)s->off[t];
    } else if (rows == s->B) {
        xp = weft_narrow(g, X, t, 1);
    } else {   /* the first rows of block t: contiguous, a view as a narrow is */
        size_t block = (size_t)s->B * s->P;
        xp = weft_node_new_view(g, &weft_op_narrow, X, 2, (int[]){ rows, s->P }, t * block);
        if (xp) weft_narrow_attrs_of(xp)->start = t;
    }
    if (!xp) return NULL;
    weft_narrow_attrs_of(xp)->seq = s;
    weft_narrow_attrs_of(xp)->step = t;
    return xp;
}

weft_var *weft_seq_input(weft_graph *g, weft_seq *s, int t)
{
    return weft_seq_input_rows(g, s, t, s ? s->B : 0);
}

int weft_seq_chained(const weft_seq *s)
{
    return s ? s->n_chained : 0;
}

/* May the steps keep their activations in X's memory? X (or the node it is
 * a view of, through views that nothing else reads) is an op's output that
 * needs a gradient and that nothing but the steps reads yet; the steps'
 * backward checks that nothing read it later (steps_alone_read). */
static bool projection_is_free(const weft_var *X)
{
    if (!X->requires_grad || weft_node_uses(X) > 1) return false;
    const weft_var *root = X;
    for (; root->view_of; root = root->view_of)
        if (weft_node_uses(root->view_of) != 1) return false;
    return root->kind == WEFT_NODE_OP;
}

/* The buffers of s's chain, made by its first step (op, W_hh, H, G·H): how
 * W_hh is prepared for the per-step products, the packed operand, and the
 * h_{t-1} slots. -1 when out of memory. */
static int chain_start(weft_graph *g, weft_seq *s, const weft_op_desc *op, const weft_var *W,
                       int H, int GH)
{
    int T = s->T, B = s->B;
    s->op = op;
    s->W = W;
    s->H = H;
    s->GH = GH;
    /* strides padded by 64 bytes (see sgemm_rowmajor_ld in src/matmul.h) */
    s->ldt = GH + 16;
    s->ldw = H + 16;
    s->packed_fwd = packed_worth(B, GH, H);
    s->packed_bwd = packed_worth(B, H, GH);
    const gemm_kernel *kern = weft_gemm_kernel();
    s->gate_tiles = s->packed_fwd && op == &weft_op_lstm_step &&
                    4 * packed_mr(B, H) * kern->nr <= PACKED_GROUP_MAX_FLOATS;
    s->Hp = (H + kern->nr - 1) / kern->nr * kern->nr;
    if (s->packed_fwd) {
        /* with the gate tiles each gate's H columns pack to Hp (zero past H) */
        int N = s->gate_tiles ? 4 * s->Hp : GH;
        s->Wt_packed.data = weft_graph_alloc(g, packed_floats(H, N) * sizeof(float));
        if (!s->Wt_packed.data) return -1;
    } else {
        s->Wt = weft_graph_alloc(g, (size_t)H * s->ldt * sizeof(float));
        if (!s->Wt) return -1;
    }
    if (s->packed_bwd) {
        s->Wp_packed.data = weft_graph_alloc(g, packed_floats(GH, H) * sizeof(float));
        if (!s->Wp_packed.data) return -1;
    } else if ((H * sizeof(float)) % 512 == 0) {
        /* rows 512·n bytes apart fall into a few cache sets: BLIS's unpacked
         * kernels then ran 1.03-2x slower (20 x 1024 x 4096: 2x, 20 x 384 x
         * 1536: 1.09x); at other strides the copy gained nothing (20 x 650 x
         * 2600, 20 x 200 x 800) and W_hh is read in place */
        s->Wp = weft_graph_alloc(g, (size_t)GH * s->ldw * sizeof(float));
        if (!s->Wp) return -1;
    }
    if (s->packed_fwd || s->packed_bwd) {
        size_t fa = packed_a_floats(B, H), ba = packed_a_floats(B, GH);
        s->Apack = weft_graph_alloc(g, (fa > ba ? fa : ba) * sizeof(float));
        if (!s->Apack) return -1;
    }
    (void)T;
    s->hprev = weft_graph_alloc(g, s->N * H * sizeof(float));
    if (!s->hprev) return -1;
    s->in_place = weft_graph_is_low_memory(g) && projection_is_free(s->X);
    if (s->in_place) {
        weft_var *root = (weft_var *)s->X;
        while (root->view_of) root = root->view_of;
        weft_node_of(root)->grad_in_value = true;
        if (op == &weft_op_gru_step &&
            !(s->gru_u = weft_graph_alloc(g, (size_t)B * GH * sizeof(float))))
            return -1;
    }
    return 0;
}

/* The chain step v joins or starts (see the top of the file), or none: v's
 * xp must be a step of a sequence (weft_seq_input), whose chain is of v's op
 * and W_hh, or not started yet, and whose slot is free. Returns -1 when out
 * of memory. */
static int join_chain(weft_graph *g, weft_var *v, const weft_var *xp, const weft_var *W, int H,
                      int GH)
{
    fused_aux *a = fused_of(v);
    if (xp->op != &weft_op_narrow || !weft_narrow_attrs_of(xp)->seq) return 0;
    weft_seq *s = weft_narrow_attrs_of(xp)->seq;
    int t = weft_narrow_attrs_of(xp)->step;
    if (s->P != GH || s->used[t]) return 0;
    if (!s->op) {
        if (chain_start(g, s, v->op, W, H, GH)) return -1;
        a->first = true;
    } else if (s->op != v->op || s->W != W) {
        return 0;
    }
    s->used[t] = 1;
    s->xps[t] = xp;
    s->rows[t] = xp->value.shape[0];
    s->n_chained++;
    a->seq = s;
    a->slot = t;
    return 0;
}

static size_t xp_rows(const weft_var *xp)
{
    return (size_t)xp->value.shape[0];
}

/* Make the node with inputs (xp, h[, c], W_hh[, b_hh]) and its aux, joining
 * or starting a chain; the caller sets the attributes and runs the forward.
 * saved_floats: how many floats the forward keeps for backward (0: none). */
static weft_var *step_node(weft_graph *g, const weft_op_desc *op, weft_var *const *in, int n_in,
                           int rank, const int *shape, size_t saved_floats, int H, int GH)
{
    weft_var *v = weft_node_new(g, op, in, n_in, rank, shape);
    if (!v) return NULL;
    fused_aux *a = weft_graph_calloc(g, sizeof *a);
    if (!a) return NULL;
    step_attrs_of(v)->fused = a;
    /* A forward-only step of few rows joins no chain: a chain prepares W_hh
     * for the products of many steps and keeps h_{t-1} for a backward, and
     * this step's product reads W_hh where it is (pre_activation). */
    a->in_place = rows_product_worth(g, shape[rank - 2]);
    if (!a->in_place) {
        /* W_hh is in[2] for the Elman and GRU steps, in[3] for the LSTM (after c) */
        const weft_var *W = in[op == &weft_op_lstm_step ? 3 : 2];
        if (join_chain(g, v, in[0], W, H, GH)) return NULL;
        /* in place, the activations go to xp's memory: the GRU keeps only u_n */
        if (a->seq && a->seq->in_place)
            saved_floats = op == &weft_op_gru_step ? (size_t)H * xp_rows(in[0]) : 0;
    }
    if (saved_floats) {
        a->saved = weft_graph_alloc(g, saved_floats * sizeof(float));
        if (!a->saved) return NULL;
    }
    return v;
}

/* dst [cols, rows] = srcᵀ, src [rows, cols]; dst's rows are ld floats apart.
 * Each thread writes whole dst rows (src columns) in runs of 16, reading a
 * 16 x 16 tile of src at a time: writes stay contiguous, reads stay in L1
 * (measured 2x faster than writing down dst's columns, at 2600 x 650). */
static void transpose(float *dst, int ld, const float *src, int rows, int cols)
{
    enum { TILE = 16 };
    int tiles_c = (cols + TILE - 1) / TILE;
    #pragma omp parallel for if ((size_t)rows * cols > WEFT_PARALLEL_MIN)
    for (int tc = 0; tc < tiles_c; tc++) {
        int c0 = tc * TILE, c1 = c0 + TILE < cols ? c0 + TILE : cols;
        for (int r0 = 0; r0 < rows; r0 += TILE) {
            int r1 = r0 + TILE < rows ? r0 + TILE : rows;
            for (int c = c0; c < c1; c++) {
                float *d = dst + (size_t)c * ld;
                const float *s = src + c;
                #pragma omp simd
                for (int r = r0; r < r1; r++) d[r] = s[(size_t)r * cols];
            }
        }
    }
}

/* The start of a chain step's forward: the first step remakes W_hhᵀ and the
 * copy of W_hh, packed or padded (the weights may have changed since the
 * last forward: a gradient check nudges them). */
/* W_hhᵀ [H, 4H] packed gate by gate for the LSTM's gate tiles: gate j's H
 * columns (rows j·H .. j·H + H - 1 of W_hh) in panels of their own, Hp / NR
 * of them, the last zero past H; so panel k + j·Hp/NR holds gate j of units
 * k·NR .. k·NR + NR - 1 whether or not H is a multiple of NR. */
static void pack_gates(packed_matrix *P, const float *W, int H, int Hp)
{
    int nr = weft_gemm_kernel()->nr, per_gate = Hp / nr;
    for (int j = 0; j < 4; j++) {
        packed_matrix gate = { .data = P->data + (size_t)j * per_gate * H * nr };
        packed_pack(&gate, W + (size_t)j * H * H, true, H, H);
    }
    *P = packed_matrix_at(P->data, H, 4 * Hp);
}

static void chain_weights(const fused_aux *a)
{
    weft_seq *s = a->seq;
    if (a->first) {
        const float *W = s->W->value.data;
        if (s->gate_tiles) pack_gates(&s->Wt_packed, W, s->H, s->Hp);
        else if (s->packed_fwd) packed_pack(&s->Wt_packed, W, true, s->H, s->GH);
        else transpose(s->Wt, s->ldt, W, s->GH, s->H);
        if (s->packed_bwd) {
            packed_pack(&s->Wp_packed, W, false, s->GH, s->H);
        } else if (s->Wp) {
            for (int r = 0; r < s->GH; r++)
                memcpy(s->Wp + (size_t)r * s->ldw, W + (size_t)r * s->H,
                       (size_t)s->H * sizeof(float));
        }
    }
}

/* Can the chain keep its dgates in X's gradient? For the Elman and LSTM
 * steps dgates = d(pre) = dxp (pre = xp + b_hh + h W_hhᵀ), so each step's
 * "dxp += dgates" would copy its dgates into X's gradient, slot for slot. When
 * the T steps' narrows are X's only uses, and each narrow only its step's
 * (weft_node_uses), nothing else adds into that gradient (zeroed by backward before
 * the first step's turn, X being an op): the steps may write their dgates
 * there directly, and the chain needs no memory of its own for them. X a
 * view (the table lookup's reshape): likewise up to its root. */
static bool steps_alone_read(const weft_seq *s)
{
    if (!weft_wants_grad(s->X) || weft_node_uses(s->X) != s->T) return false;
    const weft_var *root = s->X;
    for (; root->view_of; root = root->view_of)
        if (weft_node_uses(root->view_of) != 1) return false;
    /* an op's gradient restarts from zero each backward; a leaf's adds up */
    if (root->kind != WEFT_NODE_OP) return false;
    for (int t = 0; t < s->T; t++)
        if (!s->used[t] || !s->xps[t] || weft_node_uses(s->xps[t]) != 1) return false;
    return true;
}

static bool chain_owns_dxp(const weft_var *v, const weft_seq *s)
{
    return v->op != &weft_op_gru_step && steps_alone_read(s);
}

/* Where the backward writes dgates [B, width]: its slot of the chain, or a
 * scratch made once per node (a second backward reuses it). NULL with the
 * graph's error set when memory runs out. */
static float *dgates_buffer(weft_graph *g, weft_var *v, int B, int width)
{
    fused_aux *a = fused_of(v);
    weft_seq *s = a->seq;
    if (s) {
        /* decided again every backward: readers of X made after the last one
         * would add into its gradient too */
        if (s->n_filled == 0) {
            if (s->in_place && !steps_alone_read(s)) {
                weft_graph_fail(g, "%s: a low-memory graph keeps the steps' activations in "
                                "their input projection, but another node reads it too "
                                "(turn weft_graph_set_low_memory off for this graph)",
                                v->op->name);
                return NULL;
            }
            if (chain_owns_dxp(v, s)) {
                s->dgates = s->X->grad.data;
            } else {
                if (!s->own_dgates)
                    s->own_dgates = weft_graph_alloc(g, s->N * width * sizeof(float));
                s->dgates = s->own_dgates;
            }
        }
        return s->dgates ? s->dgates + s->off[a->slot] * width : NULL;
    }
    if (!a->dgates) a->dgates = weft_graph_alloc(g, (size_t)B * (size_t)width * sizeof(float));
    return a->dgates;
}

/* Every row of dst [B, width] = xp's row + bias (bias NULL: zero), the start
 * of a pre-activation onto which the recurrent sgemm accumulates. */
static void rows_plus_bias(float *dst, const float *xp, const float *bias, int B, int width)
{
    #pragma omp parallel for if (worth_threads(B, width))
    for (int r = 0; r < B; r++) {
        float *d = dst + (size_t)r * width;
        const float *x = xp ? xp + (size_t)r * width : NULL;
        if (x && bias) {
            #pragma omp simd
            for (int j = 0; j < width; j++) d[j] = x[j] + bias[j];
        } else if (x) {
            if (d != x) memcpy(d, x, (size_t)width * sizeof(float));
        } else if (bias) {
            memcpy(d, bias, (size_t)width * sizeof(float));
        } else {
            memset(d, 0, (size_t)width * sizeof(float));
        }
    }
}

/* A step's pre-activation: pre [B, G·H] = xp + b_hh + h W_hhᵀ (xp or b_hh
 * NULL: left out). In a chain every step also keeps its h_{t-1} in its slot
 * for the backward; with W_hh packed, the sum, the copy of h and the product
 * are one pass (packed_gemm_ex), else the rows first, then a plain product
 * through the chain's W_hhᵀ, or outside a chain BLIS's with W transposed. */
static void pre_activation(const fused_aux *a, float *pre, const float *xp, const float *b,
                           const float *h, const float *W, int B, int H, int GH)
{
    weft_seq *s = a->seq;
    float *slot = s ? s->hprev + s->off[a->slot] * H : NULL;
    if (s) chain_weights(a);
    if (s && s->packed_fwd && xp) {
        packed_gemm_ex(B, h, H, &s->Wt_packed, pre, GH, s->Apack,
                       &(packed_extra){ .C0 = xp, .ldc0 = GH, .bias = b, .A_copy = slot });
        return;
    }
    rows_plus_bias(pre, xp, b, B, GH);
    if (a->in_place) {
        weft_rows_times_wt(B, GH, H, h, H, W, pre, GH);
    } else if (s) {
        memcpy(slot, h, (size_t)B * H * sizeof(float));
        if (s->packed_fwd) packed_gemm(B, h, H, &s->Wt_packed, pre, GH, s->Apack);
        else sgemm_rowmajor_ld(B, GH, H, 1.0f, h, H, s->Wt, s->ldt, 1.0f, pre, GH);
    } else {
        sgemm_rowmajor(false, true, B, GH, H, 1.0f, h, W, 1.0f, pre);
    }
}

/* db[j] += sum over rows of d[r, j]. Threads split the columns, each column
 * is summed in row order: the same result on any number of threads. */
static void add_column_sums(float *db, const float *d, int rows, int width)
{
    enum { BLOCK = 64 };
    int nblocks = (width + BLOCK - 1) / BLOCK;
    #pragma omp parallel for if (worth_threads(rows, width))
    for (int blk = 0; blk < nblocks; blk++) {
        int j0 = blk * BLOCK, j1 = j0 + BLOCK < width ? j0 + BLOCK : width;
        for (int r = 0; r < rows; r++) {
            const float *row = d + (size_t)r * width;
            #pragma omp simd
            for (int j = j0; j < j1; j++) db[j] += row[j];
        }
    }
}

/* The sgemm half of every backward, given dgates = dL/d(h W_hhᵀ + b_hh):
 *     dh_prev += dgates W_hh        [B, G·H] x [G·H, H]
 *     dW_hh   += dgatesᵀ h_prev     [G·H, B] x [B, H]
 *     db_hh   += Σ_rows dgates
 * In a chain only the first: the step marks its slot filled, and the chain's
 * first step (the last backward of the chain) does the other two over every
 * slot at once. */
static void recurrent_backward(const fused_aux *a, const float *dgates, weft_var *h, weft_var *W,
                               weft_var *b, int B, int H, int GH)
{
    weft_seq *s = a->seq;
    if (weft_wants_grad(h)) {
        if (s && s->packed_bwd)
            packed_gemm(B, dgates, GH, &s->Wp_packed, h->grad.data, H, s->Apack);
        else if (s)
            sgemm_rowmajor_ld(B, H, GH, 1.0f, dgates, GH, s->Wp ? s->Wp : W->value.data,
                              s->Wp ? s->ldw : H, 1.0f, h->grad.data, H);
        else sgemm_rowmajor(false, false, B, H, GH, 1.0f, dgates, W->value.data, 1.0f,
                            h->grad.data);
    }
    bool dW = weft_wants_grad(W), db = b && weft_wants_grad(b);
    if (!s) {
        if (dW) sgemm_rowmajor(true, false, GH, H, B, 1.0f, dgates, h->value.data, 1.0f,
                               W->grad.data);
        if (db) add_column_sums(b->grad.data, dgates, B, GH);
        return;
    }
    s->filled[a->slot] = 1;
    s->n_filled++;
    if (!a->first) return;
    /* slots no backward reached (the loss does not depend on them) add
     * nothing, nor do the rows past a step's own (a step over the sequences
     * still running: weft_seq_input_rows) */
    /* in place with dgates apart (the GRU), X's gradient is its memory too */
    float *dX = s->in_place && s->dgates != s->X->grad.data ? s->X->grad.data : NULL;
    for (int t = 0; t < s->T; t++) {
        int cap = (int)(s->off[t + 1] - s->off[t]);
        int r = s->used[t] ? s->rows[t] : 0, from = s->filled[t] ? r : 0;
        if (from < cap)
            memset(s->dgates + (s->off[t] + (size_t)from) * GH, 0,
                   (size_t)(cap - from) * GH * sizeof(float));
        if (from < cap && dX)
            memset(dX + (s->off[t] + (size_t)from) * s->P, 0,
                   (size_t)(cap - from) * s->P * sizeof(float));
        if (r < cap)
            memset(s->hprev + (s->off[t] + (size_t)r) * H, 0,
                   (size_t)(cap - r) * H * sizeof(float));
        s->filled[t] = 0;
    }
    s->n_filled = 0;
    /* every slot's rows: T·B, or packed only the sequences' real steps */
    int rows = (int)s->N;
    if (dW) sgemm_rowmajor(true, false, GH, H, rows, 1.0f, s->dgates, s->hprev, 1.0f,
                           W->grad.data);
    if (db) add_column_sums(b->grad.data, s->dgates, rows, GH);
}

/* --- Elman: h' = act(xp + h W_hhᵀ + b_hh), act = tanh or relu ----------------------------- */

enum { ACT_TANH = 0, ACT_RELU = 1 };

static weft_var *rnn_step(weft_graph *g, const char *name, int act, weft_var *xp, weft_var *h,
                          weft_var *W, weft_var *b)
{
    if (weft_any_null((weft_var *[]){ xp, h, W }, 3)) return NULL;
    if (!check_step(g, name, 1, xp, h, NULL, W, b)) return NULL;
    weft_var *in[4] = { xp, h, W, b };
    weft_var *v = step_node(g, &weft_op_rnn_step, in, b ? 4 : 3, 2, h->value.shape, 0,
                             h->value.shape[1], h->value.shape[1]);
    if (!v) return NULL;
    step_attrs_of(v)->act = act;
    weft_op_rnn_step_forward(g, v);
    return v;
}

weft_var *weft_rnn_tanh_step(weft_graph *g, weft_var *xp, weft_var *h, weft_var *W_hh,
                             weft_var *b_hh)
{
    return rnn_step(g, "rnn_step (tanh)", ACT_TANH, xp, h, W_hh, b_hh);
}

weft_var *weft_rnn_relu_step(weft_graph *g, weft_var *xp, weft_var *h, weft_var *W_hh,
                             weft_var *b_hh)
{
    return rnn_step(g, "rnn_step (relu)", ACT_RELU, xp, h, W_hh, b_hh);
}

void weft_op_rnn_step_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *xp = v->in[0]->value.data, *h = v->in[1]->value.data;
    const float *W = v->in[2]->value.data, *b = v->n_in > 3 ? v->in[3]->value.data : NULL;
    int B = v->value.shape[0], H = v->value.shape[1];
    float *y = v->value.data;
    /* pre = (xp + b_hh) + h W_hhᵀ, in place in the value */
    pre_activation(fused_of(v), y, xp, b, h, W, B, H, H);
    size_t n = (size_t)B * H;
    if (step_attrs_of(v)->act == ACT_RELU) {
        #pragma omp parallel for simd if (n > WEFT_PARALLEL_MIN)
        for (size_t k = 0; k < n; k++) y[k] = y[k] > 0.0f ? y[k] : 0.0f;
    } else {
        weft_map_threads(weft_tanh_n, y, y, n);
    }
}

/* d pre = dh' ⊙ act'(pre), read off the output: tanh' = 1 - h'², relu' = [h' > 0]. */
void weft_op_rnn_step_backward(weft_graph *g, weft_var *v)
{
    weft_var *xp = v->in[0], *h = v->in[1], *W = v->in[2], *b = v->n_in > 3 ? v->in[3] : NULL;
    int B = v->value.shape[0], H = v->value.shape[1];
    float *d = dgates_buffer(g, v, B, H);
    if (!d) return;
    const float *y = v->value.data, *dy = v->grad.data;
    /* no dxp to add when d is dxp itself (chain_owns_dxp) */
    float *dxp = weft_wants_grad(xp) && xp->grad.data != d ? xp->grad.data : NULL;
    bool relu = step_attrs_of(v)->act == ACT_RELU;
    size_t n = (size_t)B * H;
    #pragma omp parallel for simd if (n > WEFT_PARALLEL_MIN)
    for (size_t k = 0; k < n; k++)
        d[k] = relu ? (y[k] > 0.0f ? dy[k] : 0.0f) : dy[k] * (1.0f - y[k] * y[k]);
    if (dxp) {
        #pragma omp parallel for simd if (n > WEFT_PARALLEL_MIN)
        for (size_t k = 0; k < n; k++) dxp[k] += d[k];
    }
    recurrent_backward(fused_of(v), d, h, W, b, B, H, H);
}

/* --- LSTM, gate order i, f, g, o (nn.LSTM) ----------------------------------------------------
 *
 *   [a_i a_f a_g a_o] = xp + h W_hhᵀ + b_hh
 *   i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
 *   c' = f ⊙ c + i ⊙ g                                              (1)
 *   h' = o ⊙ tanh(c')                                               (2)
 *
 * The value is [2, B, H]: block 0 is h', block 1 is c'. Each block is a
 * contiguous [B, H] matrix, and weft_narrow(g, s, 0, 1) / (g, s, 1, 1) are h'
 * and c' as ordinary state nodes. Saved: the activations [B, 4H] (i, f, g, o
 * row blocks of each row, as the pre-activations), in xp's own memory in a
 * low-memory graph's chain (the sequence's in_place), where the backward
 * then overwrites them with dgates; tanh(c') is computed again from c'.
 *
 * Backward, from dh' and dc'_in (the value's gradient blocks):
 *   dc'  = dc'_in + dh' ⊙ o ⊙ (1 - tanh²(c'))                      from (2)
 *   da_o = dh' ⊙ tanh(c') ⊙ o (1 - o)                               from (2)
 *   da_i = dc' ⊙ g ⊙ i (1 - i),   da_f = dc' ⊙ c ⊙ f (1 - f)        from (1)
 *   da_g = dc' ⊙ i ⊙ (1 - g²),    dc += dc' ⊙ f                     from (1)
 *   dxp += da;  dh, dW_hh, db_hh from da (recurrent_backward). */

weft_var *weft_lstm_step(weft_graph *g, weft_var *xp, weft_var *h, weft_var *c, weft_var *W_hh,
                         weft_var *b_hh)
{
    if (weft_any_null((weft_var *[]){ xp, h, c, W_hh }, 4)) return NULL;
    if (!check_step(g, "lstm_step", 4, xp, h, c, W_hh, b_hh)) return NULL;
    int B = h->value.shape[0], H = h->value.shape[1];
    weft_var *in[5] = { xp, h, c, W_hh, b_hh };
    weft_var *v = step_node(g, &weft_op_lstm_step, in, b_hh ? 5 : 4, 3, (int[]){ 2, B, H },
                            (size_t)B * 4 * H, H, 4 * H);
    if (!v) return NULL;
    weft_op_lstm_step_forward(g, v);
    return v;
}

/* Units [0, n) of one row: the pre-activations pi, pf, pg, po in; i, f, g,
 * o (kept for backward) out to ai, af, ag, ao, which may be the same arrays;
 * c_{t-1} in; c' (1) and h' (2) out. Built for each vector width
 * (WEFT_SIMD_CLONES, ops/fastmath.h). */
WEFT_SIMD_CLONES
static void lstm_units(int n, const float *pi, const float *pf, const float *pg,
                              const float *po, const float *cr, float *ai, float *af, float *ag,
                              float *ao, float *cn, float *hn)
{
    #pragma omp simd
    for (int j = 0; j < n; j++) {
        float i = sigmoidf(pi[j]), f = sigmoidf(pf[j]), gg = fast_tanhf(pg[j]),
              o = sigmoidf(po[j]);
        ai[j] = i;
        af[j] = f;
        ag[j] = gg;
        ao[j] = o;
        float cj = f * cr[j] + i * gg;   /* (1) */
        float t = fast_tanhf(cj);
        cn[j] = cj;
        hn[j] = o * t;                   /* (2) */
    }
}

/* A step of a packed chain, the gates done tile by tile
 * (packed_gemm_grouped): W_hhᵀ is packed gate by gate (pack_gates), so its
 * panel k + j·Hp/NR holds gate j of units k·NR .. k·NR + NR - 1, and group
 * k's four tiles of MR rows are those units' four pre-activations; they
 * start as xp + b_hh, as packed_gemm_ex's tiles do, take h W_hhᵀ, and go
 * through lstm_units while still in L1. Where H is not a multiple of NR (the
 * Zaremba models' 200 and 650) the last group has H mod NR units and its
 * tiles' other columns (zero weights) are computed and dropped. The same
 * numbers as the product followed by the row loop, without writing the
 * pre-activations out and reading them back, and without a second parallel
 * region per step. */
typedef struct lstm_tiles {
    const float *xp, *b, *c;                /* xp [B, 4H], b_hh [4H] or NULL, c [B, H] */
    float *act, *h_out, *c_out;             /* as weft_op_lstm_step_forward's */
    int H, mr, nr;
} lstm_tiles;

static void lstm_tiles_start(void *ctx, int row0, int rows, int group, float *tiles)
{
    const lstm_tiles *L = ctx;
    int H = L->H, nr = L->nr, u0 = group * nr, units = H - u0 < nr ? H - u0 : nr;
    for (int gate = 0; gate < 4; gate++)
        for (int i = 0; i < rows; i++) {
            const float *x = L->xp + (size_t)(row0 + i) * 4 * H + gate * H + u0;
            const float *b = L->b ? L->b + gate * H + u0 : NULL;
            float *t = tiles + (size_t)(gate * L->mr + i) * nr;
            for (int j = 0; j < units; j++) t[j] = x[j] + (b ? b[j] : 0.0f);
            for (int j = units; j < nr; j++) t[j] = 0.0f;
            /* the same rows' xp for the next group, which these rows' thread
             * takes a few tiles from now: the projection was written long
             * before (T steps of it), and its rows, 16 KB apart at H = 512,
             * are not a stream the hardware prefetcher follows (the loads
             * above were most of this function's time) */
            if (u0 + nr < H) __builtin_prefetch(x + nr);
        }
}

static void lstm_tiles_finish(void *ctx, int row0, int rows, int group, float *tiles)
{
    const lstm_tiles *L = ctx;
    int H = L->H, mr = L->mr, nr = L->nr, u0 = group * nr, units = H - u0 < nr ? H - u0 : nr;
    for (int i = 0; i < rows; i++) {
        size_t r = (size_t)(row0 + i);
        const float *t = tiles + (size_t)i * nr;
        float *ai = L->act + r * 4 * H + u0;
        lstm_units(units, t, t + mr * nr, t + 2 * mr * nr, t + 3 * mr * nr, L->c + r * H + u0, ai,
                   ai + H, ai + 2 * H, ai + 3 * H, L->c_out + r * H + u0,
                   L->h_out + r * H + u0);
    }
}

void weft_op_lstm_step_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *xp = v->in[0]->value.data, *h = v->in[1]->value.data;
    const float *c = v->in[2]->value.data, *W = v->in[3]->value.data;
    const float *b = v->n_in > 4 ? v->in[4]->value.data : NULL;
    int B = v->value.shape[1], H = v->value.shape[2], G4 = 4 * H;
    fused_aux *a = fused_of(v);
    weft_seq *s = a->seq;
    /* in place: each unit's pre-activations become its activations */
    float *act = s && s->in_place ? v->in[0]->value.data : a->saved;
    float *h_out = v->value.data, *c_out = v->value.data + (size_t)B * H;
    if (s && s->gate_tiles) {
        chain_weights(a);
        int nr = weft_gemm_kernel()->nr, per_gate = s->Hp / nr;
        lstm_tiles L = { xp, b, c, act, h_out, c_out, H, packed_mr(B, H), nr };
        packed_gemm_grouped(B, h, H, &s->Wt_packed, s->Apack,
                            s->hprev + s->off[a->slot] * H, per_gate, 4, per_gate,
                            lstm_tiles_start, lstm_tiles_finish, &L);
        return;
    }

    pre_activation(a, act, xp, b, h, W, B, H, G4);

    #pragma omp parallel for if (worth_threads(B, G4))
    for (int r = 0; r < B; r++) {
        float *ai = act + (size_t)r * G4;
        lstm_units(H, ai, ai + H, ai + 2 * H, ai + 3 * H, c + (size_t)r * H, ai, ai + H,
                   ai + 2 * H, ai + 3 * H, c_out + (size_t)r * H, h_out + (size_t)r * H);
    }
}

/* One row of the LSTM's backward (the equations above): ai [4H] the saved
 * i, f, g, o, cn [H] c' (tanh(c') is computed again: one tanh a unit costs
 * less than keeping H floats a row), cr [H] c_{t-1}, dh and dcin [H] the
 * output gradients in; di [4H] the dgates out, which may be ai itself (each
 * unit's four gates are read before they are written); dcp [H] += dc ⊙ f
 * and dx [4H] += dgates when not NULL. Built for each vector width
 * (WEFT_SIMD_CLONES). */
WEFT_SIMD_CLONES
static void lstm_dgates_row(int H, const float *ai, const float *cn, const float *cr,
                            const float *dh, const float *dcin, float *di, float *dcp, float *dx)
{
    const float *af = ai + H, *ag = ai + 2 * H, *ao = ai + 3 * H;
    float *df = di + H, *dg = di + 2 * H, *dO = di + 3 * H;
    #pragma omp simd
    for (int j = 0; j < H; j++) {
        float i = ai[j], f = af[j], gg = ag[j], o = ao[j], t = fast_tanhf(cn[j]);
        float dc = dcin[j] + dh[j] * o * (1.0f - t * t);
        dO[j] = dh[j] * t * o * (1.0f - o);
        di[j] = dc * gg * i * (1.0f - i);
        df[j] = dc * cr[j] * f * (1.0f - f);
        dg[j] = dc * i * (1.0f - gg * gg);
        if (dcp) dcp[j] += dc * f;
    }
    if (dx) {
        #pragma omp simd
        for (int j = 0; j < 4 * H; j++) dx[j] += di[j];
    }
}

void weft_op_lstm_step_backward(weft_graph *g, weft_var *v)
{
    weft_var *xp = v->in[0], *h = v->in[1], *c = v->in[2], *W = v->in[3];
    weft_var *b = v->n_in > 4 ? v->in[4] : NULL;
    int B = v->value.shape[1], H = v->value.shape[2], G4 = 4 * H;
    float *da = dgates_buffer(g, v, B, G4);
    if (!da) return;
    const fused_aux *a = fused_of(v);
    /* in place (a->seq->in_place), act is xp's memory and da the same: X's
     * gradient is its value, and each unit's gates turn into its dgates */
    const float *act = a->seq && a->seq->in_place ? xp->value.data : a->saved;
    const float *c_out = v->value.data + (size_t)B * H;
    const float *dh_out = v->grad.data, *dc_out = v->grad.data + (size_t)B * H;
    const float *cprev = c->value.data;
    /* no dxp to add when da is dxp itself (chain_owns_dxp) */
    float *dxp = weft_wants_grad(xp) && xp->grad.data != da ? xp->grad.data : NULL;
    float *dcprev = weft_wants_grad(c) ? c->grad.data : NULL;

    #pragma omp parallel for if (worth_threads(B, G4))
    for (int r = 0; r < B; r++)
        lstm_dgates_row(H, act + (size_t)r * G4, c_out + (size_t)r * H, cprev + (size_t)r * H,
                        dh_out + (size_t)r * H, dc_out + (size_t)r * H, da + (size_t)r * G4,
                        dcprev ? dcprev + (size_t)r * H : NULL, dxp ? dxp + (size_t)r * G4 : NULL);
    recurrent_backward(a, da, h, W, b, B, H, G4);
}

/* --- GRU, gate order r, z, n (nn.GRU) -----------------------------------------------------------
 *
 *   [u_r u_z u_n] = h W_hhᵀ + b_hh          (b_hn stays with u_n, inside r's product)
 *   r = σ(xp_r + u_r),  z = σ(xp_z + u_z)
 *   n = tanh(xp_n + r ⊙ u_n)                                        (1)
 *   h' = (1 - z) ⊙ n + z ⊙ h                                        (2)
 *
 * Saved: r, z, n [B, 3H] (row blocks of each row) and u_n [B, H]; r, z, n
 * in xp's own memory in a low-memory graph's chain (in_place), where the
 * backward then overwrites them with dxp.
 *
 * Backward, from dh':
 *   dn = dh' ⊙ (1 - z),   dz = dh' ⊙ (h - n),   dh += dh' ⊙ z       from (2)
 *   dp_n = dn ⊙ (1 - n²)            (p_n: the argument of tanh in (1))
 *   dp_r = dp_n ⊙ u_n ⊙ r (1 - r),  dp_z = dz ⊙ z (1 - z)
 *   dxp += [dp_r, dp_z, dp_n];  du = [dp_r, dp_z, dp_n ⊙ r]
 *   dh, dW_hh, db_hh from du (recurrent_backward). */

weft_var *weft_gru_step(weft_graph *g, weft_var *xp, weft_var *h, weft_var *W_hh, weft_var *b_hh)
{
    if (weft_any_null((weft_var *[]){ xp, h, W_hh }, 3)) return NULL;
    if (!check_step(g, "gru_step", 3, xp, h, NULL, W_hh, b_hh)) return NULL;
    int B = h->value.shape[0], H = h->value.shape[1];
    weft_var *in[4] = { xp, h, W_hh, b_hh };
    weft_var *v = step_node(g, &weft_op_gru_step, in, b_hh ? 4 : 3, 2, h->value.shape,
                            (size_t)B * 4 * H, H, 3 * H);
    if (!v) return NULL;
    weft_op_gru_step_forward(g, v);
    return v;
}

/* One row of the GRU's forward: xr [3H] the row's xp, ur [3H] its u =
 * h W_hhᵀ + b_hh, hr [H] its h; ar [3H] gets r, z, n (it may be xr or ur:
 * each unit is read before it is written), un [H] u_n, out [H] h'. Built
 * for each vector width (WEFT_SIMD_CLONES). */
WEFT_SIMD_CLONES
static void gru_units(int H, const float *xr, const float *ur, const float *hr, float *ar,
                      float *un, float *out)
{
    const float *xz = xr + H, *xn = xr + 2 * H, *uz = ur + H, *u_n = ur + 2 * H;
    float *az = ar + H, *an = ar + 2 * H;
    #pragma omp simd
    for (int j = 0; j < H; j++) {
        float rj = sigmoidf(xr[j] + ur[j]), zj = sigmoidf(xz[j] + uz[j]);
        float uj = u_n[j];
        float nj = fast_tanhf(xn[j] + rj * uj);          /* (1) */
        ar[j] = rj;
        az[j] = zj;
        an[j] = nj;
        un[j] = uj;
        out[j] = (1.0f - zj) * nj + zj * hr[j];      /* (2) */
    }
}

void weft_op_gru_step_forward(weft_graph *g, weft_var *v)
{
    (void)g;
    const float *xp = v->in[0]->value.data, *h = v->in[1]->value.data;
    const float *W = v->in[2]->value.data, *b = v->n_in > 3 ? v->in[3]->value.data : NULL;
    int B = v->value.shape[0], H = v->value.shape[1], G3 = 3 * H;
    fused_aux *a = fused_of(v);
    bool in_place = a->seq && a->seq->in_place;
    float *act = in_place ? v->in[0]->value.data : a->saved;
    float *u_n = in_place ? a->saved : a->saved + (size_t)B * G3;
    float *hn = v->value.data;

    /* u = b_hh + h W_hhᵀ, in the activation buffer (the pass overwrites
     * it), or in place in the chain's scratch (xp's memory is the activations') */
    float *u = in_place ? a->seq->gru_u : act;
    pre_activation(a, u, NULL, b, h, W, B, H, G3);

    #pragma omp parallel for if (worth_threads(B, G3))
    for (int r = 0; r < B; r++)
        gru_units(H, xp + (size_t)r * G3, u + (size_t)r * G3, h + (size_t)r * H,
                  act + (size_t)r * G3, u_n + (size_t)r * H, hn + (size_t)r * H);
}

void weft_op_gru_step_backward(weft_graph *g, weft_var *v)
{
    weft_var *xp = v->in[0], *h = v->in[1], *W = v->in[2], *b = v->n_in > 3 ? v->in[3] : NULL;
    int B = v->value.shape[0], H = v->value.shape[1], G3 = 3 * H;
    float *du = dgates_buffer(g, v, B, G3);
    if (!du) return;
    const fused_aux *a = fused_of(v);
    bool in_place = a->seq && a->seq->in_place;
    const float *act = in_place ? xp->value.data : a->saved;
    const float *u_n = in_place ? a->saved : a->saved + (size_t)B * G3;
    const float *dy = v->grad.data, *hprev = h->value.data;
    /* in place, dxp is act's own memory: written over it, not added */
    float *dxp = weft_wants_grad(xp) ? xp->grad.data : NULL;
    float *dh = weft_wants_grad(h) ? h->grad.data : NULL;

    #pragma omp parallel for if (worth_threads(B, G3))
    for (int r = 0; r < B; r++) {
        const float *ar = act + (size_t)r * G3, *az = ar + H, *an = ar + 2 * H;
        const float *un = u_n + (size_t)r * H, *hr = hprev + (size_t)r * H;
        const float *dyr = dy + (size_t)r * H;
        float *dur = du + (size_t)r * G3, *duz = dur + H, *dun = dur + 2 * H;
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float rj = ar[j], zj = az[j], nj = an[j];
            float dn = dyr[j] * (1.0f - zj), dz = dyr[j] * (hr[j] - nj);
            float dpn = dn * (1.0f - nj * nj);
            float dpr = dpn * un[j] * rj * (1.0f - rj);
            float dpz = dz * zj * (1.0f - zj);
            dur[j] = dpr;
            duz[j] = dpz;
            dun[j] = dpn * rj;
        }
        if (dh) {
            float *dhr = dh + (size_t)r * H;
            #pragma omp simd
            for (int j = 0; j < H; j++) dhr[j] += dyr[j] * az[j];
        }
        /* dxp = du but for the n block: dp_n, not dp_n ⊙ r */
        if (dxp && in_place) {   /* n's block first: it reads z and n */
            float *dx = dxp + (size_t)r * G3;
            #pragma omp simd
            for (int j = 0; j < H; j++)
                dx[2 * H + j] = dyr[j] * (1.0f - az[j]) * (1.0f - an[j] * an[j]);
            #pragma omp simd
            for (int j = 0; j < 2 * H; j++) dx[j] = dur[j];
        } else if (dxp) {
            float *dx = dxp + (size_t)r * G3;
            #pragma omp simd
            for (int j = 0; j < 2 * H; j++) dx[j] += dur[j];
            #pragma omp simd
            for (int j = 0; j < H; j++)
                dx[2 * H + j] += dyr[j] * (1.0f - az[j]) * (1.0f - an[j] * an[j]);
        }
    }
    recurrent_backward(a, du, h, W, b, B, H, G3);
}
