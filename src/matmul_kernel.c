/* src/matmul_kernel.c — weft's own AVX-512 micro-kernel for the products with a
 * matrix packed once (src/matmul.h's packed_gemm_ex and packed_gemm_grouped),
 * and the choice between it, the AVX2 one (src/matmul_kernel_avx2.c) and
 * BLIS's.
 *
 * A tile is R rows of C (1 <= R <= 12) by two panels of 16 columns (a lone
 * last panel is read twice and written once):
 *
 *     for k in 0 .. K-1:   acc[i][0..15]  += a[k·R + i] · b0[k·16 .. k·16+15]
 *                          acc[i][16..31] += a[k·R + i] · b1[k·16 .. k·16+15]
 *     then C's tile += acc (only `rows` rows and `cols` columns written)
 *
 * with a the R rows of A packed column by column (packed_pack_a) and b0, b1
 * two 16-column panels of the packed B (packed_pack). Each accumulator is a
 * 512-bit register, so a tile of R rows keeps 2R of them, one broadcast of A
 * feeds two fused multiply-adds, and the inner loop reads 2 vectors of B and
 * R scalars of A for 2R FMAs.
 *
 * Why not BLIS's micro-kernel on these tiles: Debian's BLIS 0.9 has no Zen 4
 * configuration and runs its AVX2 6 x 16 kernel there, in tiles of 6 rows.
 * The per-step products of a recurrent layer have the batch as M (20 for the
 * Zaremba language models), so a 6-row tile wastes 4 rows of 24 and BLIS's
 * own small-matrix path handles the 2 left over separately. Here R is chosen
 * to divide M where it can (20 = 2 x 10, 64 = 8 x 8), and the 512-bit FMAs
 * do per instruction what two 256-bit ones do. Measured on 2 Zen 4 cores
 * (bench/packed_gemm.c; docs/performance-profile.md): 20 x 2600 x 650 at
 * 222 GFLOP/s, against 182 for BLIS's kernel on the same panels and 195 for
 * BLIS's sgemm; 64 x 2048 x 512 at 224, against 211 and 178.
 *
 * Each element of C is one chain of FMAs over k in order, started from zero
 * and added to C at the end: its bits depend on neither the thread count nor
 * the tile it falls in. */
#include "src/matmul.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WEFT_HAVE_AVX512_TILES 1
#define AVX512 __attribute__((target("avx512f")))
#endif

#ifdef WEFT_HAVE_AVX512_TILES
/* One tile, R known when it is compiled (each case of tiles_avx512 is a copy
 * of this body with its own R, its accumulators in registers). A lone last
 * panel comes with cols1 = 0: the second half is computed and not written. */
AVX512 static inline __attribute__((always_inline)) void tile(const int R, int K, const float *a,
                                                             const float *b0, const float *b1,
                                                             float *c0, float *c1, int ldc,
                                                             int rows, int cols0, int cols1)
{
    __m512 acc0[12], acc1[12];
    #pragma GCC unroll 12
    for (int i = 0; i < R; i++) {
        acc0[i] = _mm512_setzero_ps();
        acc1[i] = _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        __m512 x0 = _mm512_load_ps(b0 + (size_t)k * 16);
        __m512 x1 = _mm512_load_ps(b1 + (size_t)k * 16);
        #pragma GCC unroll 12
        for (int i = 0; i < R; i++) {
            __m512 s = _mm512_set1_ps(a[(size_t)k * R + i]);
            acc0[i] = _mm512_fmadd_ps(s, x0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(s, x1, acc1[i]);
        }
    }
    /* C += acc, masked to the tile's columns (a last panel may be partial) */
    __mmask16 m0 = (__mmask16)(cols0 >= 16 ? 0xFFFF : (1u << cols0) - 1);
    __mmask16 m1 = (__mmask16)(cols1 >= 16 ? 0xFFFF : (1u << cols1) - 1);
    #pragma GCC unroll 12
    for (int i = 0; i < R; i++) {
        if (i >= rows) break;
        float *r0 = c0 + (size_t)i * ldc;
        _mm512_mask_storeu_ps(r0, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, r0), acc0[i]));
        if (cols1 > 0) {
            float *r1 = c1 + (size_t)i * ldc;
            _mm512_mask_storeu_ps(r1, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, r1), acc1[i]));
        }
    }
}

AVX512 static void tiles_avx512(int R, int K, const float *a, const float *b0, const float *b1,
                                float *c0, float *c1, int ldc, int rows, int cols0, int cols1)
{
    switch (R) {
    case 1: tile(1, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 2: tile(2, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 3: tile(3, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 4: tile(4, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 5: tile(5, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 6: tile(6, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 7: tile(7, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 8: tile(8, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 9: tile(9, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 10: tile(10, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 11: tile(11, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 12: tile(12, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    default: abort();   /* packed_mr never asks for more */
    }
}
#endif

void weft_packed_tile_avx512(int R, int K, const float *a, const float *b0, const float *b1,
                             float *c0, float *c1, int ldc, int rows, int cols0, int cols1)
{
#ifdef WEFT_HAVE_AVX512_TILES
    tiles_avx512(R, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1);
#else
    (void)R; (void)K; (void)a; (void)b0; (void)b1; (void)c0; (void)c1;
    (void)ldc; (void)rows; (void)cols0; (void)cols1;
    abort();   /* weft_gemm_kernel() never picks it here */
#endif
}

/* --- which kernel ------------------------------------------------------------------------- */

static const char *const kernel_names[WEFT_PACKED_KERNELS] = {
    [WEFT_PACKED_OWN] = "weft", [WEFT_PACKED_BLIS] = "blis",
    [WEFT_PACKED_AVX512] = "weft-avx512", [WEFT_PACKED_AVX2] = "weft-avx2",
    [WEFT_PACKED_AUTO] = "auto",
};

const char *weft_packed_kernel_name(int which)
{
    return which >= 0 && which < WEFT_PACKED_KERNELS ? kernel_names[which] : "?";
}

int weft_packed_kernel_parse(const char *name)
{
    for (int k = 0; name && k < WEFT_PACKED_KERNELS; k++)
        if (strcmp(name, kernel_names[k]) == 0) return k;
    return -1;
}

bool weft_packed_kernel_available(int which)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    bool avx512 = __builtin_cpu_supports("avx512f");
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    bool avx512 = false, avx2 = false;
#endif
    switch (which) {
    case WEFT_PACKED_BLIS: return true;
    case WEFT_PACKED_AVX512: return avx512;
    case WEFT_PACKED_AVX2: return avx2;
    case WEFT_PACKED_OWN: return avx512 || avx2;
    case WEFT_PACKED_AUTO: return true;
    default: return false;
    }
}

/* The kernel chosen (weft's, or BLIS's when no own one runs or it is asked
 * for), and with 'auto' on an AVX2 CPU BLIS's beside it for the shapes the
 * rule below gives it. */
static gemm_kernel kernel_found, kernel_blis;
static bool kernel_by_shape;
static int kernel_forced = -1;   /* -1: by the CPU and WEFT_PACKED_KERNEL */

static void kernel_find(void)
{
    cntx_t *cntx = bli_gks_query_cntx();
    gemm_kernel k = { 0 };
    k.cntx = cntx;
    k.mr = (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR, cntx);
    k.nr = (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NR, cntx);
    /* a micro-kernel that wants C by columns would need the transposed
     * problem; BLIS's x86 sgemm kernels all want rows */
    if (bli_cntx_l3_nat_ukr_prefers_rows_dt(BLIS_FLOAT, BLIS_GEMM_UKR, cntx))
        k.ukr = (sgemm_ukr_ft)bli_cntx_get_l3_nat_ukr_dt(BLIS_FLOAT, BLIS_GEMM_UKR, cntx);
    k.which = WEFT_PACKED_BLIS;
    kernel_blis = k;
    /* the kernel asked for (weft_runtime_init reports a WEFT_PACKED_KERNEL
     * that names none, or one this CPU cannot run); unset or unknown is
     * 'auto'; 'weft', or a kernel the CPU lacks, is the best of weft's it has */
    int want = kernel_forced;
    if (want < 0) want = weft_packed_kernel_parse(getenv("WEFT_PACKED_KERNEL"));
    if (want < 0 || !weft_packed_kernel_available(want)) want = WEFT_PACKED_AUTO;
    bool by_shape = want == WEFT_PACKED_AUTO;
    if (want == WEFT_PACKED_OWN || want == WEFT_PACKED_AUTO)
        want = weft_packed_kernel_available(WEFT_PACKED_AVX512) ? WEFT_PACKED_AVX512
             : weft_packed_kernel_available(WEFT_PACKED_AVX2)   ? WEFT_PACKED_AVX2
                                                                : WEFT_PACKED_BLIS;
    /* BLIS's kernel beside weft's AVX2 tiles only: on an AVX-512 CPU weft's
     * 512-bit tiles beat BLIS's 256-bit kernel at every shape measured; and
     * only where its panels are weft's (NR = 16, rows preferred), so that a
     * matrix packed once serves both */
    kernel_by_shape = by_shape && want == WEFT_PACKED_AVX2 && k.ukr && k.nr == 16;
    k.which = want;
    if (want != WEFT_PACKED_BLIS) {
        k.own = true;
        k.nr = 16;
        k.max_mr = want == WEFT_PACKED_AVX512 ? 12 : 6;
        /* AVX2: tiles of 4 rows keep 8 accumulators, just the FMAs' latency
         * times their rate, and ran 0.65x the speed of 5-row ones (64 x 2048
         * x 512, docs/performance-profile.md); 64 rows go as 13 tiles of 5 */
        k.min_mr = want == WEFT_PACKED_AVX512 ? 4 : 5;
        k.tile = want == WEFT_PACKED_AVX512 ? weft_packed_tile_avx512 : weft_packed_tile_avx2;
    }
    kernel_found = k;
}

const gemm_kernel *weft_gemm_kernel(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, kernel_find);
    return &kernel_found;
}

bool weft_packed_kernel_by_shape(void)
{
    weft_gemm_kernel();
    return kernel_by_shape;
}

/* The rule of 'auto' (docs/performance-profile.md, "The kernel by shape"):
 * weft's AVX2 tiles take 5 or 6 rows, chosen to pad M least, BLIS's 6 x 16
 * kernel always 6. Where BLIS's tiles compute no more rows than weft's
 * do plus one (64 rows: 66 against 65; 20 rows: 24 against 20, 50: 54 against
 * 50) and K is long (512 and more: the LSTM's per-step products from H = 128
 * on), BLIS's kernel wins: it prefetches the next tile's operands, which a
 * long K no longer finds in L1. Elsewhere weft's tiles win by computing
 * fewer padding rows (20 rows: 1.1-1.3x) or tie. */
const gemm_kernel *packed_kernel(int M, int K)
{
    const gemm_kernel *own = weft_gemm_kernel();
    if (!kernel_by_shape || M < 32 || K < 512) return own;
    int blis_rows = (M + 5) / 6 * 6, mr = kernel_mr(own, M);
    int own_rows = (M + mr - 1) / mr * mr;
    return blis_rows <= own_rows + 1 ? &kernel_blis : own;
}

bool weft_packed_kernel_select(int which)
{
    weft_gemm_kernel();
    bool ok = which < 0 || weft_packed_kernel_available(which);
    kernel_forced = ok ? which : -1;
    kernel_find();
    return ok;
}
