/* src/matmul.h — matrix products, private to the engine and the ops: the row-major sgemm,
 * the products with a matrix packed once, and (src/matmul.c) the products a backward
 * sweep defers to its end and the scratch kept per sweep or build.
 *
 * Never call it from inside an OpenMP parallel region: BLIS runs its own
 * threads (weft/runtime.h sets how many); sgemm_rowmajor_ld may open a region
 * of its own and give BLIS one thread in each. */
#ifndef WEFT_OPS_BLAS_H
#define WEFT_OPS_BLAS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <blis.h>
#include <omp.h>

#include "src/internal.h"   /* weft_count_gemm */
#include "weft/runtime.h"      /* weft_blis_context */

/* How many threads a product of m x n x k multiply-adds gets. Below
 * WEFT_GEMM_SERIAL_MACS one thread: splitting it costs more in BLIS's fork and
 * busy-wait barriers than the halves save (an 8x128x64 product ran at 17-20
 * GFLOP/s on one thread and, when another process held the second core, at
 * 0.01 GFLOP/s on two). Whole-sequence products and the per-step products of
 * wide layers (64 x 2048 x 512 at H = 512) stay threaded. The choice depends
 * on the shape only, so 1 and 2 threads still give the same bits. */
#define WEFT_GEMM_SERIAL_MACS (1L << 21)

static inline int sgemm_threads(int m, int n, int k)
{
    return (long)m * n * k < WEFT_GEMM_SERIAL_MACS ? 1 : bli_thread_get_num_threads();
}

/* C[m, n] = alpha op(A) op(B) + beta C, everything row-major and contiguous.
 * A is stored [k, m] when ta (op(A) = Aᵀ), else [m, k]; B is stored [n, k]
 * when tb, else [k, n]. beta = 1 accumulates, which is what a backward wants.
 *
 * With B transposed, BLIS 0.9's small/unpacked ("sup") path picks its kernels
 * by how the threads split the work, so a few elements of C round differently
 * for 1 and 2 threads. weft promises the same numbers for any thread count:
 * those calls take the packed path (BLIS's own thread count, sup off). The
 * other cases were measured identical for 1 and 2 threads with sup on. */
static inline void sgemm_rowmajor(bool ta, bool tb, int m, int n, int k, float alpha,
                                  const float *A, const float *B, float beta, float *C)
{
    inc_t lda = ta ? m : k, ldb = tb ? k : n;
    trans_t opa = ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
    trans_t opb = tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(sgemm_threads(m, n, k), &rntm);
    if (tb) bli_rntm_disable_l3_sup(&rntm);
    weft_count_gemm(m, n, k);
    bli_sgemm_ex(opa, opb, m, n, k, &alpha, (float *)A, lda, 1, (float *)B, ldb, 1, &beta, C,
                 n, 1, weft_blis_context(), &rntm);
}

/* y [rows, out] = x [rows, in] Wᵀ + b (b NULL: none), W a weight [out, in]:
 * the bias written into every row first (rows shared among threads), then
 * BLIS's product added on top. linear and linear_cross_entropy both compute
 * their outputs here, so a decoder gives the same bits through either. */
static inline void sgemm_linear_rows(int rows, int out, int in, const float *x, const float *W,
                                     const float *bias, float *y)
{
    float beta = 0.0f;
    if (bias) {
        #pragma omp parallel for if ((size_t)rows * out > WEFT_PARALLEL_MIN)
        for (int r = 0; r < rows; r++) memcpy(y + (size_t)r * out, bias, (size_t)out * sizeof *y);
        beta = 1.0f;
    }
    sgemm_rowmajor(false, true, rows, out, in, 1.0f, x, W, beta, y);
}

/* Few rows (the per-step products of a batch under 32, below packed_worth):
 * BLIS splits such a product's columns among its threads; giving each thread
 * whole rows of C instead, and BLIS one thread for them, ran 1.06-1.38x
 * faster on 2 cores wherever each thread still gets an MR = 6 tile of rows
 * and either B fits a core's L2 (N·K <= 2^18 floats) or the product is long
 * in K with B under 8 MB (N < K, N·K <= 2^21): 20 x 650 x 2600 1.11x, 20 x
 * 200 x 800 1.38x, 20 x 800 x 200 1.18x. Both threads read all of B, which
 * lost where B is large and wide (20 x 2048 x 512 0.99x, 16 x 2048 x 512
 * 0.87x, 20 x 1024 x 4096 0.80x). Every row is the same one-thread sup call
 * either way, so the bits are those of one thread (tests/test_kernels.c). */
static inline bool split_rows_worth(int m, int n, int k)
{
    long nk = (long)n * k;
    return m >= 12 && m < 32 && (nk <= (1L << 18) || (n < k && nk <= (1L << 21)));
}

/* C[m, n] = alpha A B + beta C, row-major, with leading dimensions (row
 * strides) given: A [m, lda >= k], B [k, ldb >= n], C [m, ldc >= n]. No
 * transposes, so BLIS's sup path may run (measured identical for 1 and 2
 * threads). The fused recurrent steps use it with copies of W_hh whose row
 * stride is not a power of two: BLIS's sup kernels read B unpacked, and a
 * stride of 2048 floats (4H at H = 512) maps every row to the same cache
 * sets, which made the per-step product twice as slow. */
static inline void sgemm_rowmajor_ld(int m, int n, int k, float alpha, const float *A, int lda,
                                     const float *B, int ldb, float beta, float *C, int ldc)
{
    int threads = sgemm_threads(m, n, k);
    weft_count_gemm(m, n, k);
    if (threads > 1 && split_rows_worth(m, n, k)) {
        #pragma omp parallel num_threads(threads)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int r0 = m * t / nt, r1 = m * (t + 1) / nt;
            rntm_t one = BLIS_RNTM_INITIALIZER;
            bli_rntm_set_num_threads(1, &one);
            if (r1 > r0)
                bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, r1 - r0, n, k, &alpha,
                             (float *)A + (size_t)r0 * lda, lda, 1, (float *)B, ldb, 1, &beta,
                             C + (size_t)r0 * ldc, ldc, 1, weft_blis_context(), &one);
        }
        return;
    }
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(threads, &rntm);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, (float *)A, lda, 1,
                 (float *)B, ldb, 1, &beta, C, ldc, 1, weft_blis_context(), &rntm);
}

/* --- products of a few rows, the weight read in place (src/matmul_rows.c) ---------------------
 *
 * What a forward-only graph (weft_graph_set_forward_only) runs for a product
 * of at most WEFT_ROWS_PRODUCT_MAX rows: no packing, and each element's bits
 * independent of how many rows the call has (a batch of streams gives each
 * stream what it gets alone). y accumulates: the caller starts it at zero,
 * the bias, or the rest of a pre-activation. */
#define WEFT_ROWS_PRODUCT_MAX 64

static inline bool rows_product_worth(const weft_graph *g, int rows)
{
    return rows <= WEFT_ROWS_PRODUCT_MAX && weft_graph_is_forward_only(g);
}

/* y [rows, ldy >= N] += x [rows, ldx >= K] Wᵀ, W [N, K] (a weight [out, in]). */
void weft_rows_times_wt(int rows, int N, int K, const float *x, int ldx, const float *W,
                        float *y, int ldy);
/* y [rows, N] += x [rows, K] B, B [K, N]. */
void weft_rows_times_b(int rows, int N, int K, const float *x, const float *B, float *y);

/* --- products with a weight matrix packed once ------------------------------------------------
 *
 * BLIS packs B into panels of NR columns on every call. A recurrent layer's
 * per-step product h_{t-1} W_hhᵀ uses the same W_hh for all T steps, so
 * packing it once per sequence and calling BLIS's own micro-kernel on the
 * panels saves T - 1 packings of the whole matrix (the repacking is the
 * "wall" of the per-step product: one thread, CPU time, 64 x 2048 x 512 ran
 * 1.25x faster this way, 64 x 4096 x 1024 1.34x; bench/packed_gemm.c measures
 * it, docs/performance-profile.md has the table).
 *
 * The loops are BLIS's own, reduced to what these shapes need: B is packed
 * whole (K is not blocked; up to WEFT_PACKED_MAX_K = 4096 it still wins,
 * 1.33x at 64 x 1024 x 4096), A is packed per call into panels of MR rows, and C is cut into MR x NR tiles,
 * the threads splitting the column panels. Every tile is one micro-kernel
 * call over the whole of K, so C's bits do not depend on the thread count. */

#define WEFT_PACKED_MAX_K 4096

/* The micro-kernel of the packed products: BLIS's own (ukr, MR x NR tiles),
 * or weft's (tile: R rows by two panels of NR = 16 columns, R = packed_mr(M)
 * up to max_mr), with 512-bit FMAs where the CPU has AVX-512
 * (src/matmul_kernel.c) and 256-bit ones where it has AVX2 and FMA
 * (src/matmul_kernel_avx2.c). Found once, by the CPU and WEFT_PACKED_KERNEL
 * ('auto', the default: weft's best, and on an AVX2 CPU BLIS's for the
 * shapes packed_kernel gives it; 'weft': the best of weft's this CPU has;
 * 'weft-avx512', 'weft-avx2': that one; 'blis': BLIS's). */
typedef void (*packed_tile_fn)(int R, int K, const float *a, const float *b0, const float *b1,
                               float *c0, float *c1, int ldc, int rows, int cols0, int cols1);

typedef struct gemm_kernel {
    int mr, nr;          /* BLIS's tile: MR rows x NR columns of C (own: NR = 16) */
    sgemm_ukr_ft ukr;    /* BLIS's sgemm micro-kernel for this CPU (NULL: not usable) */
    cntx_t *cntx;        /* BLIS's context it comes from (the kernel may read it) */
    bool own;            /* weft's tiles (tile) instead of ukr */
    int which;           /* the WEFT_PACKED_ value chosen (never WEFT_PACKED_OWN) */
    int min_mr, max_mr;  /* weft's tiles: the rows a tile of a product of many rows has */
    packed_tile_fn tile; /* weft's tiles: the micro-kernel */
} gemm_kernel;

/* The kernel chosen at start (with 'auto', weft's: packed_kernel says which
 * a product takes). Its nr is every kernel's: a matrix packed once serves
 * whichever runs. */
const gemm_kernel *weft_gemm_kernel(void);
/* The kernel a product of M rows with inner dimension K runs on: the one
 * chosen, or with 'auto' the faster for the shape (src/matmul_kernel.c has
 * the rule). Depends on the shape only, so any thread count gives the
 * same bits. */
const gemm_kernel *packed_kernel(int M, int K);
/* True when 'auto' has two kernels to choose between on this CPU. */
bool weft_packed_kernel_by_shape(void);

/* The kernels, as WEFT_PACKED_KERNEL names them: WEFT_PACKED_OWN ('weft') is
 * the best of weft's this CPU has, WEFT_PACKED_AUTO ('auto', the default)
 * that one or BLIS's by shape; WEFT_PACKED_KERNELS is how many there are
 * (tests and bench/ loop over them). */
enum { WEFT_PACKED_OWN = 0, WEFT_PACKED_BLIS = 1, WEFT_PACKED_AVX512 = 2, WEFT_PACKED_AVX2 = 3,
       WEFT_PACKED_AUTO = 4, WEFT_PACKED_KERNELS = 5 };

/* 'weft', 'blis', 'weft-avx512', 'weft-avx2', 'auto' for the values above. */
const char *weft_packed_kernel_name(int which);
/* The value WEFT_PACKED_KERNEL's text names, or -1 when it names none. */
int weft_packed_kernel_parse(const char *name);
/* Can this CPU run kernel `which`? (BLIS's always: it has one for every CPU.) */
bool weft_packed_kernel_available(int which);

/* For tests and bench/: choose the kernel again (-1: by the CPU and the
 * environment, as at start). False, and the choice left as -1 would make
 * it, when this CPU cannot run the one asked for. Not while a product runs. */
bool weft_packed_kernel_select(int which);

/* C's tile [rows <= R, cols0 | cols1] += a b: a the tile's R rows of A packed
 * (packed_pack_a), b0 and b1 two column panels of a packed B, written into
 * c0 and c1 (row stride ldc); cols1 = 0: b1 is read but nothing written
 * there. 1 <= R <= 12 (AVX-512) or 6 (AVX2). Only through packed_kernel()->tile. */
void weft_packed_tile_avx512(int R, int K, const float *a, const float *b0, const float *b1,
                             float *c0, float *c1, int ldc, int rows, int cols0, int cols1);
void weft_packed_tile_avx2(int R, int K, const float *a, const float *b0, const float *b1,
                           float *c0, float *c1, int ldc, int rows, int cols0, int cols1);

/* Rows of A per tile for an M-row product on kernel k: BLIS's MR; with
 * weft's tiles, M itself up to max_mr rows (one tile), beyond that the R
 * from min_mr to max_mr that pads M least, the larger one on a tie (fewer,
 * fuller tiles). AVX-512 (4 to 12): 20 rows as 2 tiles of 10, 64 as 8 of 8,
 * 50 as 5 of 10, 13 as 7 + 6. AVX2 (5 to 6): 20 as 4 x 5, 50 as 10 x 5, 64
 * as 13 x 5 (the last tile with 4 rows). */
static inline int kernel_mr(const gemm_kernel *k, int M)
{
    if (!k->own) return k->mr;
    int most = k->max_mr;
    if (M <= most) return M < 1 ? 1 : M;
    int best = most, padded = (M + most - 1) / most * most;
    for (int r = most - 1; r >= k->min_mr; r--) {
        int p = (M + r - 1) / r * r;
        if (p < padded) {
            padded = p;
            best = r;
        }
    }
    return best;
}

/* The rows of A a tile of an M x K product gets (on packed_kernel(M, K)). */
static inline int packed_mr(int M, int K)
{
    return kernel_mr(packed_kernel(M, K), M);
}

/* B [K, N] in the micro-kernel's panels: panel p holds columns p·NR ..
 * p·NR + NR - 1 of every row k, NR floats a row, zero past column N. */
typedef struct packed_matrix {
    int K, N, panels;
    float *data;         /* borrowed: packed_floats(K, N) floats, 64-byte aligned */
} packed_matrix;

/* Does C [M, N] += A [M, K] B [K, N] gain from B packed once? With BLIS's
 * micro-kernel, measured (one thread, CPU time): yes from M >= 32 rows when
 * N·K >= 2^19 (1.1-1.4x); below 32 rows the MR = 6 tiles waste a row in six
 * and BLIS's unpacked small-matrix kernels win (20 x 2600 x 650: 1.00x, 20 x
 * 800 x 200: 0.91x). With weft's tiles (2 threads, bench/packed_gemm.c): from
 * 4 rows where C has 256 columns or more and N·K >= 2^17, 1.05-1.4x (20 x
 * 2600 x 650 1.15x, 64 x 2048 x 512 1.27x, 64 x 800 x 200 1.07x); narrower C
 * lost (64 x 200 x 800 0.94x, 20 x 200 x 800 0.90x: few column panels to
 * share, BLIS's small-matrix kernels read B in place). The AVX2 tiles take
 * the same rule: on a busy Zen 3 (one thread) they ran 0.91-1.63x BLIS's
 * sgemm on the per-step shapes it admits, most of them above 1.1x, and tied
 * it at 20 x 200 x 800, which it leaves to sgemm (docs/performance-profile.md). */
static inline bool packed_worth(int M, int N, int K)
{
    const gemm_kernel *k = weft_gemm_kernel();
    if (K > WEFT_PACKED_MAX_K) return false;
    if (k->own) return M >= 4 && N >= 256 && (long)N * K >= (1L << 17);
    return M >= 32 && (long)N * K >= (1L << 19) && k->ukr != NULL;
}

static inline size_t packed_floats(int K, int N)
{
    int nr = weft_gemm_kernel()->nr;
    return (size_t)((N + nr - 1) / nr) * nr * K;
}

/* The packed A of one call: M rows of K in panels of packed_mr(M, K) rows.
 * Enough for any product of M rows or fewer, on any kernel: a chain's steps
 * may have fewer rows than its batch, and fewer rows may take another tile
 * height (or kernel); a tile ends fewer than max(12, BLIS's MR) rows past M. */
static inline size_t packed_a_floats(int M, int K)
{
    int most = weft_gemm_kernel()->mr > 12 ? weft_gemm_kernel()->mr : 12;
    return (size_t)(M + most - 1) * K;
}

/* The packed [K, N] matrix whose panels are (or will be) at data. */
static inline packed_matrix packed_matrix_at(float *data, int K, int N)
{
    int nr = weft_gemm_kernel()->nr;
    return (packed_matrix){ .K = K, .N = N, .panels = (N + nr - 1) / nr, .data = data };
}

/* Pack B into P (its data set by the caller). B is [K, N] row-major, or,
 * with trans, stored [N, K] (a weight [out, in] used as Wᵀ). */
static inline void packed_pack(packed_matrix *P, const float *B, bool trans, int K, int N)
{
    int nr = weft_gemm_kernel()->nr;
    P->K = K;
    P->N = N;
    P->panels = (N + nr - 1) / nr;
    #pragma omp parallel for if ((size_t)K * N > (1u << 16))
    for (int p = 0; p < P->panels; p++) {
        float *dst = P->data + (size_t)p * K * nr;
        int n0 = p * nr, cols = N - n0 < nr ? N - n0 : nr;
        if (cols < nr) memset(dst, 0, (size_t)K * nr * sizeof(float));
        if (trans) {   /* the panel's nr rows of B read side by side */
            for (int k = 0; k < K; k++)
                for (int j = 0; j < cols; j++) dst[(size_t)k * nr + j] = B[(size_t)(n0 + j) * K + k];
        } else {       /* nr consecutive floats of each row: one vector copy */
            for (int k = 0; k < K; k++)
                memcpy(dst + (size_t)k * nr, B + (size_t)k * N + n0, (size_t)cols * sizeof(float));
        }
    }
}

/* What packed_gemm_ex may do in the same pass (all optional, NULL: not):
 * C0 [M, ldc0 >= N] and bias [N]: C = C0 + bias (without C0: C = bias),
 * tile by tile right before the tile's product, instead of C += (C is not
 * read); A_copy [M, K]: A's rows copied there, contiguous, while A is
 * packed. */
typedef struct packed_extra {
    const float *C0;
    int ldc0;
    const float *bias;
    float *A_copy;
} packed_extra;

/* A [M, lda >= K] into Apack's panels of MR rows: for every k, MR
 * consecutive rows' values (zero past M); with A_copy, the rows also copied
 * there, contiguous. K is taken 64 at a time, each row's 64 floats read in
 * order and written MR floats apart into a block of 64·MR that stays in L1:
 * 20 x 2600 in tiles of 10 rows 15.4 us (one thread), against 21.4 reading
 * the MR rows side by side for each k (rows 2048 floats apart, the H = 512
 * layer's dgates, alias in the cache: 39 against 60 us for 64 x 2048) and
 * 28.7 writing each row's values MR floats apart over all of K. A
 * work-shared loop: call it inside a parallel region, from every thread (its
 * end is the region's barrier). */
static inline void packed_pack_a(int M, int K, const float *A, int lda, float *Apack,
                                 float *A_copy)
{
    enum { KB = 64 };
    int mr = packed_mr(M, K), row_panels = (M + mr - 1) / mr;
    #pragma omp for
    for (int p = 0; p < row_panels; p++) {
        float *dst = Apack + (size_t)p * K * mr;
        const float *a = A + (size_t)p * mr * lda;
        int rows = M - p * mr < mr ? M - p * mr : mr;
        for (int k0 = 0; k0 < K; k0 += KB) {
            int k1 = k0 + KB < K ? k0 + KB : K;
            for (int i = 0; i < mr; i++) {
                float *d = dst + i;
                const float *ai = a + (size_t)i * lda;
                if (i < rows)
                    for (int k = k0; k < k1; k++) d[(size_t)k * mr] = ai[k];
                else
                    for (int k = k0; k < k1; k++) d[(size_t)k * mr] = 0.0f;
            }
        }
        for (int i = 0; A_copy && i < rows; i++)
            memcpy(A_copy + (size_t)(p * mr + i) * K, a + (size_t)i * lda, (size_t)K * sizeof(float));
    }
}

/* One call of packed_gemm_ex: what each of its tiles needs. */
typedef struct packed_call {
    const gemm_kernel *kern;
    const packed_matrix *P;
    const float *Apack, *C0, *bias;
    float *C;
    int M, N, K, mr, nr, step, row_panels, ldc, ldc0;
} packed_call;

/* Tile (u, p) of C: column unit u (step panels of NR), row panel p. */
static inline void packed_tile_at(const packed_call *pc, int u, int p, auxinfo_t *aux)
{
    const gemm_kernel *kern = pc->kern;
    int mr = pc->mr, nr = pc->nr, K = pc->K, ldc = pc->ldc;
    int q = u * pc->step, n0 = q * nr;
    const float *b = pc->P->data + (size_t)q * K * nr;
    int cols = pc->N - n0 < pc->step * nr ? pc->N - n0 : pc->step * nr;
    const float *a = pc->Apack + (size_t)p * K * mr;
    int rows = pc->M - p * mr < mr ? pc->M - p * mr : mr;
    float *c = pc->C + (size_t)p * mr * ldc + n0;
    if (pc->C0) {   /* the tile starts as C0 + bias, in L1 for the product */
        for (int i = 0; i < rows; i++) {
            const float *c0 = pc->C0 + (size_t)(p * mr + i) * pc->ldc0 + n0;
            float *ci = c + (size_t)i * ldc;
            for (int j = 0; j < cols; j++) ci[j] = c0[j] + (pc->bias ? pc->bias[n0 + j] : 0.0f);
        }
    } else if (pc->bias) {   /* or as the bias */
        for (int i = 0; i < rows; i++)
            memcpy(c + (size_t)i * ldc, pc->bias + n0, (size_t)cols * sizeof(float));
    }
    if (kern->own) {   /* a lone last panel: b read twice, written once */
        bool pair = cols > nr;
        kern->tile(mr, K, a, b, pair ? b + (size_t)K * nr : b, c, c + nr, ldc, rows,
                   pair ? nr : cols, pair ? cols - nr : 0);
        return;
    }
    float alpha = 1.0f, beta = 1.0f;   /* C += A B */
    /* BLIS's kernel may prefetch the next A panel (the tile below) */
    bli_auxinfo_set_next_a((float *)(p + 1 < pc->row_panels ? a + (size_t)K * mr : pc->Apack), aux);
    bli_auxinfo_set_next_b((float *)b, aux);
    kern->ukr(rows, cols, K, &alpha, (float *)a, (float *)b, &beta, c, ldc, 1, aux, kern->cntx);
}

/* The row panels [*p0, *p1) a thread computes all of C's columns for, when
 * the panels split evenly among the threads: then each thread packs, reads
 * and writes only its own rows of A and C (the rows it also made and will
 * read next, in a recurrent chain whose row loops split rows alike), and only
 * B, which nobody writes, is read by both. False otherwise (the caller shares
 * out tiles). */
static inline bool packed_my_rows(int row_panels, int *p0, int *p1)
{
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    if (row_panels % nt != 0) return false;
    *p0 = row_panels / nt * t;
    *p1 = *p0 + row_panels / nt;
    return true;
}

/* C [M, ldc >= N] += A [M, lda >= K] B, with B packed in P (or, with
 * extra->C0 and/or extra->bias, C = C0 + bias + A B). Apack: scratch of
 * packed_a_floats(M, K) floats, 64-byte aligned. */
static inline void packed_gemm_ex(int M, const float *A, int lda, const packed_matrix *P,
                                  float *C, int ldc, float *Apack, const packed_extra *extra)
{
    const gemm_kernel *kern = packed_kernel(M, P->K);
    int mr = kernel_mr(kern, M), step = kern->own ? 2 : 1;   /* weft's tiles: two panels at a time */
    packed_call pc = { .kern = kern, .P = P, .Apack = Apack, .C = C, .M = M, .N = P->N,
                       .K = P->K, .mr = mr, .nr = kern->nr, .step = step,
                       .row_panels = (M + mr - 1) / mr, .ldc = ldc,
                       .C0 = extra ? extra->C0 : NULL, .ldc0 = extra ? extra->ldc0 : 0,
                       .bias = extra ? extra->bias : NULL };
    int units = (P->panels + step - 1) / step;
    bool threads = (long)M * P->N * P->K >= WEFT_GEMM_SERIAL_MACS;
    weft_count_gemm(M, P->N, P->K);
    #pragma omp parallel if (threads)
    {
        packed_pack_a(M, P->K, A, lda, Apack, extra ? extra->A_copy : NULL);
        /* every MR x (step·NR) tile of C in one micro-kernel call over all of
         * K: by rows where the row panels split evenly, else the threads
         * share out the tiles column unit by column unit (a narrow C, few
         * units, still splits evenly) */
        auxinfo_t aux;
        memset(&aux, 0, sizeof aux);
        int p0, p1;
        if (packed_my_rows(pc.row_panels, &p0, &p1)) {
            for (int u = 0; u < units; u++)
                for (int p = p0; p < p1; p++) packed_tile_at(&pc, u, p, &aux);
        } else {
            #pragma omp for schedule(static)
            for (int tile = 0; tile < units * pc.row_panels; tile++)
                packed_tile_at(&pc, tile / pc.row_panels, tile % pc.row_panels, &aux);
        }
    }
}

/* The largest group of tiles packed_gemm_grouped hands over at once. */
#define PACKED_GROUP_MAX_FLOATS 4096

/* A B with the column panels of P taken in groups, for a kernel that needs
 * several panels' results together (an LSTM step needs a unit's four gates,
 * which lie G·H / NR panels apart): group k is the panels k + j·stride, j <
 * size, and for each row panel of A the group's size tiles (MR x NR each,
 * row stride NR, one after the other in a scratch of the thread's) are
 * started by start(), computed by the micro-kernel over all of K (onto what
 * start left), and handed to finish(). Nothing is written but what those do.
 * Groups are shared among the threads; a group's tiles do not depend on the
 * thread count. A_copy as packed_extra's. Needs size·MR·NR <=
 * PACKED_GROUP_MAX_FLOATS and every panel full (N a multiple of NR). */
typedef void (*packed_tiles_fn)(void *ctx, int row0, int rows, int group, float *tiles);

/* Group k's tiles for row panel p. */
static inline void packed_group_at(const packed_call *pc, int k, int p, int size, int stride,
                                   packed_tiles_fn start, packed_tiles_fn finish, void *ctx,
                                   float *tiles, auxinfo_t *aux)
{
    const gemm_kernel *kern = pc->kern;
    int mr = pc->mr, nr = pc->nr, K = pc->K;
    const float *a = pc->Apack + (size_t)p * K * mr;
    int rows = pc->M - p * mr < mr ? pc->M - p * mr : mr;
    float alpha = 1.0f, beta = 1.0f;   /* each tile: what start() left + A B */
    start(ctx, p * mr, rows, k, tiles);
    for (int j = 0; j < size; j++) {
        const float *b = pc->P->data + (size_t)(k + j * stride) * K * nr;
        if (kern->own) {   /* tiles j and j + 1 in one call */
            bool pair = j + 1 < size;
            const float *b1 = pair ? pc->P->data + (size_t)(k + (j + 1) * stride) * K * nr : b;
            kern->tile(mr, K, a, b, b1, tiles + j * mr * nr, tiles + (j + 1) * mr * nr, nr, rows,
                       nr, pair ? nr : 0);
            j++;
            continue;
        }
        bli_auxinfo_set_next_a((float *)a, aux);
        bli_auxinfo_set_next_b((float *)b, aux);
        kern->ukr(rows, nr, K, &alpha, (float *)a, (float *)b, &beta, tiles + j * mr * nr, nr, 1,
                  aux, kern->cntx);
    }
    finish(ctx, p * mr, rows, k, tiles);
}

static inline void packed_gemm_grouped(int M, const float *A, int lda, const packed_matrix *P,
                                       float *Apack, float *A_copy, int groups, int size,
                                       int stride, packed_tiles_fn start,
                                       packed_tiles_fn finish, void *ctx)
{
    const gemm_kernel *kern = packed_kernel(M, P->K);
    int mr = kernel_mr(kern, M);
    packed_call pc = { .kern = kern, .P = P, .Apack = Apack, .M = M, .N = P->N, .K = P->K,
                       .mr = mr, .nr = kern->nr, .row_panels = (M + mr - 1) / mr };
    bool threads = (long)M * P->N * P->K >= WEFT_GEMM_SERIAL_MACS;
    weft_count_gemm(M, P->N, P->K);
    #pragma omp parallel if (threads)
    {
        _Alignas(64) float tiles[PACKED_GROUP_MAX_FLOATS];
        packed_pack_a(M, P->K, A, lda, Apack, A_copy);
        auxinfo_t aux;
        memset(&aux, 0, sizeof aux);
        int p0, p1;
        if (packed_my_rows(pc.row_panels, &p0, &p1)) {   /* as packed_gemm_ex */
            for (int k = 0; k < groups; k++)
                for (int p = p0; p < p1; p++)
                    packed_group_at(&pc, k, p, size, stride, start, finish, ctx, tiles, &aux);
        } else {
            #pragma omp for schedule(static)
            for (int k = 0; k < groups; k++)
                for (int p = 0; p < pc.row_panels; p++)
                    packed_group_at(&pc, k, p, size, stride, start, finish, ctx, tiles, &aux);
        }
    }
}

static inline void packed_gemm(int M, const float *A, int lda, const packed_matrix *P, float *C,
                               int ldc, float *Apack)
{
    packed_gemm_ex(M, A, lda, P, C, ldc, Apack, NULL);
}

/* --- products across a graph's life (src/matmul.c) -----------------------------------------
 *
 * Each graph owns one schedule (weft_matmul_sched): the graph tells it when a
 * build starts again and when a backward sweep begins, which node's backward
 * runs, and when the sweep ends; the ops hand it products and ask it for
 * scratch through the functions below. */

typedef struct weft_matmul_sched weft_matmul_sched;

/* A schedule whose scratch comes from the arena (borrowed: the graph's). NULL
 * when out of memory. */
weft_matmul_sched *weft_matmul_sched_new(weft_arena *arena);
void weft_matmul_sched_free(weft_matmul_sched *s);
/* The arena was reset: forget the records, the memos and the gathering space. */
void weft_matmul_sched_reset(weft_matmul_sched *s);
/* The leaves may have changed (weft_graph_recompute): build memos are stale. */
void weft_matmul_sched_new_build(weft_matmul_sched *s);
/* A backward sweep begins; node is the tape position whose backward runs next. */
void weft_matmul_sched_begin_sweep(weft_matmul_sched *s);
void weft_matmul_sched_at_node(weft_matmul_sched *s, int node);
/* Has this sweep deferred a product into leaf's gradient (or a view's of it)? */
bool weft_matmul_sched_defers_to(const weft_matmul_sched *s, const weft_var *leaf);
/* How many products this sweep has deferred so far: a node whose backward
 * deferred one keeps its gradient to the end of the sweep (L is borrowed). */
int weft_matmul_sched_deferred(const weft_matmul_sched *s);
/* The sweep is over: add every deferred product (below), then forget them. */
void weft_matmul_sched_end_sweep(weft_matmul_sched *s);
/* The graph's schedule (weft_graph_matmul_sched is in src/graph.c). */
weft_matmul_sched *weft_graph_matmul_sched(weft_graph *g);

/* Deferred weight gradients. */

/* A weight's gradient summed over the steps of an unrolled network,
 *
 *     G[p, q] += Lᵀ R        L [rows, p], R [rows, q], row-major, contiguous
 *
 * (linear: dW += dyᵀ x), costs one small product per step whose inner
 * dimension is only the batch. During weft_backward's sweep an op may hand
 * such a product to the engine instead of running it: the engine keeps
 * (L, R, rows) and, once the sweep is done, adds every product recorded for
 * one gradient as a few products over many rows (the pieces gathered side by
 * side, in tape order). weft_defer_colsum does the same for G[p] += the
 * column sums of L (a bias).
 *
 * Only a leaf's gradient (a parameter, an input) may be deferred: no backward
 * reads it during the sweep. L and R are borrowed until the sweep ends; an op
 * may pass its own gradient, its inputs' values and its saved buffers, which
 * nothing changes before the next backward. Returns true when the engine took
 * the product; false (outside a sweep, target not a leaf, no memory for the
 * record) when the op must add it now itself. */
bool weft_defer_product(weft_graph *g, weft_var *target, int rows, const float *L, int p,
                        const float *R, int q);
bool weft_defer_colsum(weft_graph *g, weft_var *target, int rows, const float *L, int p);
/* Scratch for an op's backward that lives for the rest of the sweep, found
 * again by (key, tag): a weight packed for the micro-kernel once, then used
 * by every step's backward. The first call of a sweep for a key returns
 * memory with *fresh = true (the caller fills it), later calls in the same
 * sweep the same memory with *fresh = false, unless they ask for more bytes
 * (then new memory, fresh). Values do not change during a sweep, so what was
 * computed from them stays right until its end; the next sweep starts
 * fresh. NULL outside a sweep or when the arena refuses: the caller then
 * does without. Arena memory, gone with weft_graph_reset. */
void *weft_sweep_memo(weft_graph *g, const void *key, int tag, size_t bytes, bool *fresh);

/* The same for an op's constructor (not its forward, which the gradient check
 * re-runs after changing a leaf): scratch kept while the graph is built,
 * fresh again after weft_graph_reset, after each backward (an optimizer step
 * may follow) and after weft_graph_recompute. What an op keeps there from a
 * parameter's value (linear: W packed) assumes the value has not changed
 * since; the op checks a few elements of it to catch a value changed in
 * between some other way. NULL during a sweep, with the memos off, or when
 * the arena refuses. Tags are the caller's; a key's build and sweep memos are
 * apart. */
void *weft_build_memo(weft_graph *g, const void *key, int tag, size_t bytes, bool *fresh);

/* On by default; off makes every op add its products itself during the
 * sweep, and weft_sweep_memo return NULL: the plain path, which the tests
 * compare with. */
void weft_graph_set_deferral(weft_graph *g, bool on);

/* What the last backward's flush did, for the tests: products recorded,
 * sgemm calls made for them, and how many of those gathered copies. */
typedef struct weft_defer_stats {
    int records, products, gathered;
} weft_defer_stats;
weft_defer_stats weft_graph_defer_stats(const weft_graph *g);

#endif
