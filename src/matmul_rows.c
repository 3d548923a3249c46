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
 * weight is read in place, once per call, each of its rows dotted with every
 * row of x while it is in L1.
 *
 * Every element is one dot product computed the same way whatever the number
 * of rows and threads (32 partial sums over k in order, then a fixed tree),
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

/* Σ_k a[k] b[k]: four running sums of eight lanes (a[k] b[k] goes to lane k
 * mod 32), summed pairwise, then the k past the last multiple of 8. */
static inline float dot(const float *a, const float *b, int K)
{
    v8f s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
    int k = 0;
    for (; k + 32 <= K; k += 32) {
        s0 += load8(a + k) * load8(b + k);
        s1 += load8(a + k + 8) * load8(b + k + 8);
        s2 += load8(a + k + 16) * load8(b + k + 16);
        s3 += load8(a + k + 24) * load8(b + k + 24);
    }
    for (; k + 8 <= K; k += 8) s0 += load8(a + k) * load8(b + k);
    v8f s = (s0 + s1) + (s2 + s3);
    float r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; k < K; k++) r += a[k] * b[k];
    return r;
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
        for (int n = blk * W_ROWS_BLOCK; n < n1; n++) {
            const float *w = W + (size_t)n * K;
            for (int r = 0; r < rows; r++) y[(size_t)r * ldy + n] += dot(x + (size_t)r * ldx, w, K);
        }
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
