/* src/matmul_rows.c — the products of a few rows that a forward-only graph
 * runs at every step (weft_graph_set_forward_only): a generated token's
 * input projection, recurrent product and decoder, for 1 to
 * WEFT_ROWS_PRODUCT_MAX rows.
 *
 * BLIS packs the weight on every call of such a product (with the weight
 * transposed, as every nn.Linear-shaped product is, weft keeps BLIS on its
 * packed path: src/matmul.h says why), and the training path's chains pack it
 * once per sequence, which for a sequence of one step is the same thing: the
 * packing reads and writes the whole weight to use it for one row. Here the
 * weight is read in place, once per call, in blocks of rows that each meet
 * every row of x while they are in L1.
 *
 * Every element is one dot product computed the same way whatever the number
 * of rows and threads (eight lanes over k in order, then a fixed order),
 * so a stream's numbers do not depend on the other streams of its batch:
 * batched generation draws exactly what one stream at a time draws
 * (tests/test_infer.c). */
#include "src/matmul.h"

#include <string.h>

/* Eight floats as one value (GCC's and clang's vector extension): a 256-bit
 * register with AVX, two 128-bit ones without; the same arithmetic either way. */
typedef float v8f __attribute__((vector_size(32)));

static inline v8f load8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The sum of a vector's eight lanes, in a fixed order. */
static inline float lanes_sum(v8f s)
{
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* y[i, j] += Σ_k x[i, k] w[j, k] for the R rows of x and NW rows of w (both
 * at most 4, known when it is compiled: each call below is a copy of this
 * body whose accumulators stay in registers). Every element is one sum of
 * eight lanes (x[i, k] w[j, k] goes to lane k mod 8, k in order), then the
 * lanes in a fixed order, then the k past the last multiple of 8: its bits
 * do not depend on R, NW, or which tile it falls in. */
static inline __attribute__((always_inline)) void dots(const int R, const int NW, int K,
                                                      const float *x, int ldx, const float *w,
                                                      float *y, int ldy)
{
    v8f acc[4][4];
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < NW; j++) acc[i][j] = (v8f){ 0 };
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        v8f wv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < NW; j++) wv[j] = load8(w + (size_t)j * K + k);
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            v8f xv = load8(x + (size_t)i * ldx + k);
            #pragma GCC unroll 4
            for (int j = 0; j < NW; j++) acc[i][j] += xv * wv[j];
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < NW; j++) {
            float r = lanes_sum(acc[i][j]);
            for (int kk = k; kk < K; kk++) r += x[(size_t)i * ldx + kk] * w[(size_t)j * K + kk];
            y[(size_t)i * ldy + j] += r;
        }
}

/* x's rows [0, rows) in tiles of up to 4, against rows [n, n + NW) of W. */
static inline __attribute__((always_inline)) void x_tiles(const int NW, int rows, int K,
                                                         const float *x, int ldx,
                                                         const float *w, float *y, int ldy)
{
    for (int r = 0; r < rows; r += 4) {
        const float *xr = x + (size_t)r * ldx;
        float *yr = y + (size_t)r * ldy;
        switch (rows - r < 4 ? rows - r : 4) {
        case 1: dots(1, NW, K, xr, ldx, w, yr, ldy); break;
        case 2: dots(2, NW, K, xr, ldx, w, yr, ldy); break;
        case 3: dots(3, NW, K, xr, ldx, w, yr, ldy); break;
        default: dots(4, NW, K, xr, ldx, w, yr, ldy); break;
        }
    }
}

/* Rows [n0, n1) of W against every row of x: NW rows of W at a time (4 for
 * one or two rows of x, else 2: the registers then hold 4 x 2 accumulators),
 * each meeting every row of x while it is in L1. */
static void w_rows(int rows, int n0, int n1, int K, const float *x, int ldx, const float *W,
                   float *y, int ldy)
{
    int NW = rows <= 2 ? 4 : 2, n = n0;
    for (; n + NW <= n1; n += NW) {
        if (NW == 4) x_tiles(4, rows, K, x, ldx, W + (size_t)n * K, y + n, ldy);
        else x_tiles(2, rows, K, x, ldx, W + (size_t)n * K, y + n, ldy);
    }
    for (; n < n1; n++)   /* the rows of W past the last whole tile */
        x_tiles(1, rows, K, x, ldx, W + (size_t)n * K, y + n, ldy);
}

/* Rows of W a thread takes at once: the parallel loop's unit. */
enum { W_ROWS_BLOCK = 32 };

void weft_rows_times_wt(int rows, int N, int K, const float *x, int ldx, const float *W,
                        float *y, int ldy)
{
    int blocks = (N + W_ROWS_BLOCK - 1) / W_ROWS_BLOCK;
    weft_count_gemm(rows, N, K);
    #pragma omp parallel for schedule(static) if ((long)rows * N * K >= WEFT_GEMM_SERIAL_MACS)
    for (int blk = 0; blk < blocks; blk++) {
        int n1 = (blk + 1) * W_ROWS_BLOCK < N ? (blk + 1) * W_ROWS_BLOCK : N;
        w_rows(rows, blk * W_ROWS_BLOCK, n1, K, x, ldx, W, y, ldy);
    }
}

/* y[r, :] += Σ_k x[r, k] B[k, :], k in order for every element: B's rows
 * streamed once per row of x (few rows: B stays in the cache between them). */
void weft_rows_times_b(int rows, int N, int K, const float *x, const float *B, float *y)
{
    weft_count_gemm(rows, N, K);
    #pragma omp parallel for schedule(static) if ((long)rows * N * K >= WEFT_GEMM_SERIAL_MACS)
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * N;
        for (int k = 0; k < K; k++) {
            float xk = x[(size_t)r * K + k];
            const float *bk = B + (size_t)k * N;
            #pragma omp simd
            for (int n = 0; n < N; n++) yr[n] += xk * bk[n];
        }
    }
}
