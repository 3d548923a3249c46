/* bench/packed_gemm.c — the per-step recurrent product C += A B two ways, in
 * one run: BLIS's sgemm on B as the fused chains keep it when unpacked (a
 * plain row-major copy with its row stride padded off powers of two, so
 * BLIS's small-matrix path may run it unpacked), and packed_gemm of
 * ops/blas.h on B packed once (BLIS's micro-kernel on MR x NR tiles).
 *
 *     meson setup build-bench -Dbench=true && ninja -C build-bench
 *     ./build-bench/bench/packed_gemm [threads] [M N K ...]
 *
 * Without shapes it runs the per-step products of the benchmark layers and
 * language models (forward B x G·H x H and backward B x H x G·H). Each shape:
 * 5 rounds alternating the two, each round the mean of enough calls to take
 * 50 ms; the best round of each is kept. With one thread the time is the
 * thread's CPU time (steady on a busy machine), otherwise wall time.
 * Prints GFLOP/s (2·M·N·K) of both, their ratio, whether packed_worth picks
 * the packed path for the shape, and the largest difference of the results. */
#include "../ops/blas.h"
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

static void one_shape(int M, int N, int K, int threads)
{
    int ldb = N + 16;
    float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc((size_t)K * ldb * sizeof(float));
    float *C1 = calloc((size_t)M * N, sizeof(float)), *C2 = calloc((size_t)M * N, sizeof(float));
    packed_matrix P = { .data = weft_aligned_alloc(packed_floats(K, N) * sizeof(float)) };
    float *Apack = weft_aligned_alloc(packed_a_floats(M, K) * sizeof(float));
    if (!A || !B || !C1 || !C2 || !P.data || !Apack) {
        fprintf(stderr, "packed_gemm: out of memory at %d x %d x %d\n", M, N, K);
        exit(1);
    }
    srand(1);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)K * ldb; i++) B[i] = (float)rand() / RAND_MAX - 0.5f;
    float *Bdense = malloc((size_t)K * N * sizeof(float));
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) Bdense[(size_t)k * N + n] = B[(size_t)k * ldb + n];
    packed_pack(&P, Bdense, false, K, N);

    sgemm_rowmajor_ld(M, N, K, 1.0f, A, K, B, ldb, 1.0f, C1, N);
    packed_gemm(M, A, K, &P, C2, N, Apack);
    double diff = 0;
    for (size_t i = 0; i < (size_t)M * N; i++) diff = fmax(diff, fabs((double)C1[i] - C2[i]));

    bool cpu = threads == 1;
    double flop = 2.0 * M * N * K, best[2] = { 1e30, 1e30 };
    int calls = 1 + (int)(0.05 / (flop / 50e9));
    for (int round = 0; round < 5; round++)
        for (int way = 0; way < 2; way++) {
            double t0 = seconds(cpu);
            for (int i = 0; i < calls; i++) {
                if (way == 0) sgemm_rowmajor_ld(M, N, K, 1.0f, A, K, B, ldb, 1.0f, C1, N);
                else packed_gemm(M, A, K, &P, C2, N, Apack);
            }
            double t = (seconds(cpu) - t0) / calls;
            if (t < best[way]) best[way] = t;
        }
    printf("| %d x %d x %d | %.1f | %.1f | %.2f | %s | %.1e |\n", M, N, K, flop / best[0] * 1e-9,
           flop / best[1] * 1e-9, best[0] / best[1], packed_worth(M, N, K) ? "packed" : "sgemm",
           diff);
    free(A); free(B); free(Bdense); free(C1); free(C2);
    weft_aligned_free(P.data);
    weft_aligned_free(Apack);
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
    printf("| M x N x K | sgemm GFLOP/s | packed GFLOP/s | packed speed-up | weft uses | max diff |\n");
    printf("| --- | ---: | ---: | ---: | --- | ---: |\n");
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
                              { 20, 650, 2600 } };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        one_shape(shapes[i][0], shapes[i][1], shapes[i][2], threads);
    return 0;
}
