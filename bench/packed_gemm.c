/* bench/packed_gemm.c — the per-step recurrent product C += A B every way
 * this CPU has, in one run: BLIS's sgemm on B as the fused chains keep it
 * when unpacked (a plain row-major copy with its row stride padded off powers
 * of two, so BLIS's small-matrix path may run it unpacked), and packed_gemm
 * of src/matmul.h on B packed once, with BLIS's micro-kernel on its MR x NR
 * tiles and with weft's own (src/matmul_kernel.c, AVX-512, and
 * src/matmul_kernel_avx2.c, AVX2; "-" where the CPU lacks one).
 *
 *     meson setup build-bench -Dbench=true && ninja -C build-bench
 *     ./build-bench/bench/packed_gemm [threads] [M N K ...]
 *
 * Without shapes it runs the per-step products of the benchmark layers and
 * language models (forward B x G·H x H and backward B x H x G·H). Each shape:
 * 5 rounds alternating the ways, each round the mean of enough calls to
 * take 50 ms; the best round of each is kept. With one thread the time is the
 * thread's CPU time (steady on a busy machine), otherwise wall time.
 * Prints GFLOP/s (2·M·N·K) of each, the packed product's speed-up over
 * sgemm with the kernel weft picks for the shape (packed_kernel: with
 * WEFT_PACKED_KERNEL unset or 'auto', by its rule), what weft runs the shape
 * on (sgemm where packed_worth says packing does not pay, else that kernel),
 * and the largest difference from sgemm's result. */
#include "src/matmul.h"
#include "weft/weft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(bool cpu)
{
    struct timespec t;
    clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The packed product with micro-kernel `kernel` (a WEFT_PACKED_ value):
 * B packed for it (the panels are the kernel's), C += A B. */
typedef struct packed_run {
    packed_matrix P;
    float *Apack;
} packed_run;

static packed_run packed_setup(int kernel, int M, int N, int K, const float *Bdense)
{
    weft_packed_kernel_select(kernel);
    packed_run r = { .P = { .data = weft_aligned_alloc(packed_floats(K, N) * sizeof(float)) },
                     .Apack = weft_aligned_alloc(packed_a_floats(M, K) * sizeof(float)) };
    if (!r.P.data || !r.Apack) {
        fprintf(stderr, "packed_gemm: out of memory at %d x %d x %d\n", M, N, K);
        exit(1);
    }
    packed_pack(&r.P, Bdense, false, K, N);
    return r;
}

/* way 0: sgemm; way w >= 1: the packed product on kernel kernel_of[w] */
static const int kernel_of[4] = { -1, WEFT_PACKED_BLIS, WEFT_PACKED_AVX512, WEFT_PACKED_AVX2 };
enum { WAYS = 4 };

static void one_shape(int M, int N, int K, int threads)
{
    int ldb = N + 16;
    float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc((size_t)K * ldb * sizeof(float));
    float *C[WAYS];
    for (int w = 0; w < WAYS; w++) C[w] = calloc((size_t)M * N, sizeof(float));
    float *Bdense = malloc((size_t)K * N * sizeof(float));
    if (!A || !B || !C[0] || !C[1] || !C[2] || !C[3] || !Bdense) {
        fprintf(stderr, "packed_gemm: out of memory at %d x %d x %d\n", M, N, K);
        exit(1);
    }
    srand(1);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)K * ldb; i++) B[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) Bdense[(size_t)k * N + n] = B[(size_t)k * ldb + n];
    packed_run run[WAYS] = { { { 0 }, NULL } };
    bool has[WAYS] = { true };
    for (int w = 1; w < WAYS; w++)
        if ((has[w] = weft_packed_kernel_available(kernel_of[w])))
            run[w] = packed_setup(kernel_of[w], M, N, K, Bdense);

    double flop = 2.0 * M * N * K, best[WAYS] = { 1e30, 1e30, 1e30, 1e30 }, diff = 0;
    bool cpu = threads == 1;
    int calls = 1 + (int)(0.05 / (flop / 50e9));
    for (int round = 0; round < 6; round++)   /* round 0: results compared, not timed */
        for (int way = 0; way < WAYS; way++) {
            if (!has[way]) continue;
            if (way > 0) weft_packed_kernel_select(kernel_of[way]);
            int n = round == 0 ? 1 : calls;
            if (round == 0) memset(C[way], 0, (size_t)M * N * sizeof(float));
            double t0 = seconds(cpu);
            for (int i = 0; i < n; i++) {
                if (way == 0) sgemm_rowmajor_ld(M, N, K, 1.0f, A, K, B, ldb, 1.0f, C[0], N);
                else packed_gemm(M, A, K, &run[way].P, C[way], N, run[way].Apack);
            }
            double t = (seconds(cpu) - t0) / n;
            if (round == 0) {
                for (size_t i = 0; way > 0 && i < (size_t)M * N; i++)
                    diff = fmax(diff, fabs((double)C[0][i] - C[way][i]));
            } else if (t < best[way]) {
                best[way] = t;
            }
        }
    weft_packed_kernel_select(-1);
    /* the kernel weft runs this shape on (with 'auto', by packed_kernel's rule) */
    const gemm_kernel *kern = packed_kernel(M, K);
    int pick = 1;
    for (int w = 1; w < WAYS; w++)
        if (kern->own && kernel_of[w] == kern->which) pick = w;
    char rate[WAYS][32];
    for (int w = 0; w < WAYS; w++)
        snprintf(rate[w], sizeof rate[w], has[w] ? "%.1f" : "-", flop / best[w] * 1e-9);
    printf("| %d x %d x %d | %s | %s | %s | %s | %.2f | %s | %.1e |\n", M, N, K, rate[0], rate[1],
           rate[2], rate[3], best[0] / best[pick],
           packed_worth(M, N, K) ? weft_packed_kernel_name(kernel_of[pick]) : "sgemm", diff);
    free(A); free(B); free(Bdense);
    for (int w = 0; w < WAYS; w++) {
        free(C[w]);
        weft_aligned_free(run[w].P.data);
        weft_aligned_free(run[w].Apack);
    }
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || (argc > 2 && (argc - 2) % 3 != 0)) {
        fprintf(stderr, "usage: packed_gemm [threads] [M N K ...]\n");
        return 2;
    }
    weft_set_num_threads(threads);
    printf("threads: %d (%s time)\n\n", threads, threads == 1 ? "CPU" : "wall");
    printf("packed products on %s\n\n", weft_packed_kernel());
    printf("| M x N x K | sgemm GFLOP/s | packed, BLIS's kernel | packed, weft-avx512 | packed, "
           "weft-avx2 | packed speed-up | weft uses | max diff |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n");
    if (argc > 2) {
        for (int i = 2; i + 2 < argc; i += 3) one_shape(atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]), threads);
        return 0;
    }
    /* LSTM layers at B = 64 (H = 200, 512, 1024), GRU 512, the char LM (B = 50,
     * H = 512), the word LMs (B = 20, H = 200 and 650): forward, then backward */
    const int shapes[][3] = { { 64, 800, 200 }, { 64, 200, 800 }, { 64, 2048, 512 },
                              { 64, 512, 2048 }, { 64, 4096, 1024 }, { 64, 1024, 4096 },
                              { 64, 1536, 512 }, { 64, 512, 1536 }, { 50, 2048, 512 },
                              { 50, 512, 2048 }, { 20, 800, 200 }, { 20, 2600, 650 },
                              { 20, 650, 2600 }, { 20, 200, 800 } };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        one_shape(shapes[i][0], shapes[i][1], shapes[i][2], threads);
    return 0;
}
