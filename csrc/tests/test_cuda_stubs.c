/*
 * CUDA entry points without a GPU.
 *  - CPU build (no CUDA compiler): every nashmp_cuda_* function exists, checks its arguments as
 *    the CUDA build does and answers NASHMP_ERR_UNSUPPORTED; nashmp_cuda_available() == 0.
 *  - CUDA build (NASHMP_TEST_CUDA_BUILD): nashmp_cuda_available() == 1 and the device query
 *    answers either "n >= 1 devices" or "unsupported, 0 devices" (machines without a GPU).
 *  - Both: the host+device row math of ms_block.h (the code the CUDA kernels run) against the
 *    CPU library's kernels: online (max, sum) push/merge vs nashmp_logsumexp_f64, KL terms vs
 *    nashmp_kl_f64, the mirror-step z vs nashmp_mirror_step_f64, the packed-triangle index and
 *    the Bradley-Terry sigmoid row vs nashmp_packed_apply_f64 / nashmp_bradley_terry_apply_f64.
 * Prints one line per failure and "N passed, N failed" at the end; exit status 1 on failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nashmp/nashmp.h"
#include "check.h"
#include "nashmp/nashmp_cuda.h"

#include "ms_block.h"

#define U NASHMP_ERR_UNSUPPORTED

static void test_stubs(void)
{
    /* dummy non-NULL "device" pointers: a stub never dereferences them */
    static double d[64];
    static float f[64];
    static double beta[4] = {1, 1, 1, 1}, eta[4] = {1, 1, 1, 1};
    static int64_t it[4], nq[4];
    static uint8_t act[4];
    int n = 7;
    void *s = NULL;

    CHECK(nashmp_cuda_available() == 0, "available() in a CPU build");
    CHECK(nashmp_cuda_device_count(&n) == U && n == 0, "device_count -> UNSUPPORTED, 0");
    CHECK(nashmp_cuda_device_count(NULL) == NASHMP_ERR_NULL_POINTER, "device_count(NULL)");
    CHECK(strcmp(nashmp_cuda_build_info(), "cuda=no") == 0, "cuda build info");
    CHECK(strstr(nashmp_build_info(), "cuda=no") != NULL, "build info: %s", nashmp_build_info());

    /* valid arguments: UNSUPPORTED */
    CHECK(nashmp_cuda_logsumexp_f64(d, 2, 3, 3, d + 8, s) == U, "logsumexp_f64");
    CHECK(nashmp_cuda_logsumexp_f32(f, 2, 3, 3, f + 8, s) == U, "logsumexp_f32");
    CHECK(nashmp_cuda_log_softmax_f64(d, 2, 3, 3, d + 8, 3, s) == U, "log_softmax_f64");
    CHECK(nashmp_cuda_log_softmax_f32(f, 2, 3, 3, f + 8, 3, s) == U, "log_softmax_f32");
    CHECK(nashmp_cuda_softmax_f64(d, 2, 3, 3, d + 8, 3, s) == U, "softmax_f64");
    CHECK(nashmp_cuda_softmax_f32(f, 2, 3, 3, f + 8, 3, s) == U, "softmax_f32");
    CHECK(nashmp_cuda_kl_f64(d, 3, d + 8, 0, 2, 3, d + 16, s) == U, "kl_f64");
    CHECK(nashmp_cuda_kl_f32(f, 3, f + 8, 0, 2, 3, f + 16, s) == U, "kl_f32");
    CHECK(nashmp_cuda_span_f64(d, 2, 3, 3, d + 8, s) == U, "span_f64");
    CHECK(nashmp_cuda_span_f32(f, 2, 3, 3, f + 8, s) == U, "span_f32");
    CHECK(nashmp_cuda_preference_apply_f64(d, 0, d + 16, 3, 2, 3, d + 32, 3, s) == U, "pref64");
    CHECK(nashmp_cuda_preference_apply_f32(f, 0, f + 16, 3, 2, 3, f + 32, 3, s) == U, "pref32");
    CHECK(nashmp_cuda_preference_apply_f64(d, 0, d + 16, 3, 2, 3, d + 16, 3, s) ==
              NASHMP_ERR_OVERLAP, "pref64 in place");
    CHECK(nashmp_cuda_preference_apply_f32(f, 0, f + 16, 3, 2, 3, f + 4, 3, s) ==
              NASHMP_ERR_OVERLAP, "pref32 out over P");
    CHECK(nashmp_cuda_embedding_apply_f64(d, d + 8, d + 16, 2, 3, 2, d + 32, s) == U, "emb64");
    CHECK(nashmp_cuda_embedding_apply_f32(f, f + 8, f + 16, 2, 3, 2, f + 32, s) == U, "emb32");
    CHECK(nashmp_cuda_mirror_step_f64(d, 3, d + 8, 3, d + 16, 3, 2, 3, 0.5, 0.5, 1.0, d + 32, 3,
                                      s) == U, "mirror_f64");
    CHECK(nashmp_cuda_mirror_step_f32(f, 3, f + 8, 3, f + 16, 3, 2, 3, 0.5, 0.5, 1.0, f + 32, 3,
                                      s) == U, "mirror_f32");
    CHECK(nashmp_cuda_solve_dense_f64(d, 0, d + 16, 3, beta, eta, 2, 3, NASHMP_METHOD_NASH_MP,
                                      10, 1, 1e-8, d + 32, 3, NULL, 0, it, nq, d + 48, act,
                                      s) == U, "solve_f64");
    CHECK(nashmp_cuda_solve_dense_f32(f, 0, d + 16, 3, beta, eta, 2, 3, NASHMP_METHOD_NASH_MP,
                                      10, 1, 1e-8, d + 32, 3, NULL, 0, it, nq, d + 48, act,
                                      s) == U, "solve_f32");
    CHECK(nashmp_cuda_exploitability_dense_f64(d, 0, d + 16, 3, d + 32, 3, beta, 2, 3, d + 48,
                                               s) == U, "expl_f64");
    CHECK(nashmp_cuda_exploitability_dense_f32(f, 0, d + 16, 3, d + 32, 3, beta, 2, 3, d + 48,
                                               s) == U, "expl_f32");
    /* matrix-free operators: U = d, V = d + 2 (k = 3 rows of 2r = 4, ldf 4, r 2) */
    CHECK(nashmp_cuda_lowrank_apply_f64(d, d + 2, 4, 2, d + 16, 3, 2, 3, d + 32, 3, s) == U,
          "lowrank_apply_f64");
    CHECK(nashmp_cuda_lowrank_apply_f32(f, f + 2, 4, 2, f + 16, 3, 2, 3, f + 32, 3, s) == U,
          "lowrank_apply_f32");
    CHECK(nashmp_cuda_lowrank_mirror_step_f64(d, d + 2, 4, 2, d + 16, 3, d + 24, 3, d + 32, 0, 2,
                                              3, 0.5, 0.5, 1.0, d + 40, 3, d + 48, 3, s) == U,
          "lowrank_step_f64");
    CHECK(nashmp_cuda_lowrank_mirror_step_f32(f, f + 2, 4, 2, d + 16, 3, d + 24, 3, d + 32, 0, 2,
                                              3, 0.5, 0.5, 1.0, d + 40, 3, NULL, 0, s) == U,
          "lowrank_step_f32 (pi_out NULL)");
    CHECK(nashmp_cuda_bradley_terry_apply_f64(d, d + 16, 3, 2, 3, d + 32, 3, s) == U, "bt64");
    CHECK(nashmp_cuda_bradley_terry_apply_f32(f, f + 16, 3, 2, 3, f + 32, 3, s) == U, "bt32");
    CHECK(nashmp_cuda_bradley_terry_mirror_step_f64(d, d + 16, 3, d + 24, 3, d + 32, 3, 2, 3, 0.5,
                                                    0.5, 1.0, d + 40, 3, d + 48, 3, s) == U,
          "bt_step_f64");
    CHECK(nashmp_cuda_bradley_terry_mirror_step_f32(f, d + 16, 0, d + 24, 3, NULL, 0, 2, 3, 0.5,
                                                    0.0, 1.0, d + 40, 3, d + 48, 3, s) == U,
          "bt_step_f32 (b = 0, log_ref NULL)");
    CHECK(nashmp_cuda_packed_apply_f64(d, d + 16, 3, 2, 3, d + 32, 3, s) == U, "packed64");
    CHECK(nashmp_cuda_packed_apply_f32(f, f + 16, 3, 2, 3, f + 32, 3, s) == U, "packed32");
    CHECK(nashmp_cuda_packed_apply_f64(NULL, d + 16, 1, 2, 1, d + 32, 1, s) == U,
          "packed k = 1: Pu may be NULL");
    CHECK(nashmp_cuda_packed_mirror_step_f64(d, d + 16, 3, d + 24, 3, d + 32, 3, 2, 3, 0.5, 0.5,
                                             1.0, d + 40, 3, d + 48, 3, s) == U, "packed_step64");
    CHECK(nashmp_cuda_packed_mirror_step_f32(f, d + 16, 3, NULL, 0, d + 32, 3, 2, 3, 0.0, 0.5,
                                             1.0, d + 40, 3, d + 48, 3, s) == U,
          "packed_step32 (a = 0, log_pi NULL)");

    /* bad arguments: the same statuses as the CUDA build (checked before UNSUPPORTED) */
    CHECK(nashmp_cuda_logsumexp_f64(NULL, 2, 3, 3, d, s) == NASHMP_ERR_NULL_POINTER, "NULL x");
    CHECK(nashmp_cuda_logsumexp_f64(d, 2, 0, 3, d + 8, s) == NASHMP_ERR_INVALID_SIZE, "k = 0");
    CHECK(nashmp_cuda_logsumexp_f64(d, -1, 3, 3, d + 8, s) == NASHMP_ERR_INVALID_SIZE, "batch<0");
    CHECK(nashmp_cuda_log_softmax_f64(d, 2, 3, 2, d + 8, 3, s) == NASHMP_ERR_INVALID_STRIDE,
          "ldx < k");
    CHECK(nashmp_cuda_logsumexp_f64(d, INT64_MAX, 3, 3, d + 8, s) == NASHMP_ERR_OVERFLOW,
          "batch * k overflows");
    CHECK(nashmp_cuda_mirror_step_f64(d, 3, d + 8, 3, d + 16, 3, 2, 3, NAN, 0.5, 1.0, d + 32, 3,
                                      s) == NASHMP_ERR_INVALID_VALUE, "NaN coefficient");
    CHECK(nashmp_cuda_mirror_step_f64(d, 3, NULL, 3, d + 16, 3, 2, 3, 0.5, 0.0, 1.0, d + 32, 3,
                                      s) == U, "b == 0: log_ref may be NULL");
    CHECK(nashmp_cuda_embedding_apply_f64(d, d + 8, d + 16, 2, 3, 0, d + 32, s) ==
              NASHMP_ERR_INVALID_SIZE, "d = 0");
    CHECK(nashmp_cuda_embedding_apply_f64(d, NULL, d + 16, 2, 3, 2, d + 32, s) ==
              NASHMP_ERR_NULL_POINTER, "R NULL");
    /* operators: the statuses of their CPU versions (nashmp_lowrank_apply_* etc.) */
    CHECK(nashmp_cuda_lowrank_apply_f64(NULL, d + 2, 4, 2, d + 16, 3, 2, 3, d + 32, 3, s) ==
              NASHMP_ERR_NULL_POINTER, "lowrank U NULL");
    CHECK(nashmp_cuda_lowrank_apply_f64(d, d + 2, 4, 0, d + 16, 3, 2, 3, d + 32, 3, s) ==
              NASHMP_ERR_INVALID_SIZE, "lowrank r = 0");
    CHECK(nashmp_cuda_lowrank_apply_f64(d, d + 2, 1, 2, d + 16, 3, 2, 3, d + 32, 3, s) ==
              NASHMP_ERR_INVALID_STRIDE, "lowrank ldf < r");
    CHECK(nashmp_cuda_lowrank_apply_f64(d, d + 2, INT64_MAX / 2, 2, d + 16, 3, 2, 3, d + 32, 3,
                                        s) == NASHMP_ERR_OVERFLOW, "lowrank k * ldf overflows");
    CHECK(nashmp_cuda_lowrank_apply_f64(d, d + 2, 4, 2, NULL, 3, 2, 3, d + 32, 3, s) ==
              NASHMP_ERR_NULL_POINTER, "lowrank pi NULL");
    CHECK(nashmp_cuda_lowrank_apply_f64(d, d + 2, 4, 2, d + 16, 3, 2, 3, d + 32, 2, s) ==
              NASHMP_ERR_INVALID_STRIDE, "lowrank ldo < k");
    CHECK(nashmp_cuda_lowrank_mirror_step_f64(d, d + 2, 4, 2, d + 16, 3, d + 24, 3, d + 32, 3, 2,
                                              3, 0.5, INFINITY, 1.0, d + 40, 3, NULL, 0, s) ==
              NASHMP_ERR_INVALID_VALUE, "lowrank step: infinite coefficient");
    CHECK(nashmp_cuda_lowrank_mirror_step_f64(d, d + 2, 4, 2, d + 16, 3, NULL, 3, d + 32, 3, 2, 3,
                                              0.5, 0.5, 1.0, d + 40, 3, NULL, 0, s) ==
              NASHMP_ERR_NULL_POINTER, "lowrank step: a != 0 needs log_pi");
    CHECK(nashmp_cuda_bradley_terry_apply_f64(NULL, d + 16, 3, 2, 3, d + 32, 3, s) ==
              NASHMP_ERR_NULL_POINTER, "bt scores NULL");
    CHECK(nashmp_cuda_bradley_terry_apply_f32(f, f + 16, 3, 2, 0, f + 32, 3, s) ==
              NASHMP_ERR_INVALID_SIZE, "bt k = 0");
    CHECK(nashmp_cuda_bradley_terry_mirror_step_f64(d, d + 16, 3, d + 24, 3, d + 32, 3, 2, 3, 0.5,
                                                    0.5, 1.0, d + 40, 3, d + 48, 2, s) ==
              NASHMP_ERR_INVALID_STRIDE, "bt step: ldpo < k");
    CHECK(nashmp_cuda_packed_apply_f64(NULL, d + 16, 3, 2, 3, d + 32, 3, s) ==
              NASHMP_ERR_NULL_POINTER, "packed Pu NULL with k > 1");
    CHECK(nashmp_cuda_packed_apply_f64(d, d + 16, 0, 1, INT64_C(4000000000), d + 32,
                                       INT64_C(4000000000), s) == NASHMP_ERR_OVERFLOW,
          "packed k * k overflows");
    CHECK(nashmp_cuda_packed_mirror_step_f32(f, d + 16, 3, d + 24, 3, d + 32, 3, -1, 3, 0.5, 0.5,
                                             1.0, d + 40, 3, NULL, 0, s) ==
              NASHMP_ERR_INVALID_SIZE, "packed step: batch < 0");
    CHECK(nashmp_cuda_solve_dense_f64(d, 0, d + 16, 3, beta, eta, 2, 3, 99, 10, 1, 1e-8, d + 32,
                                      3, NULL, 0, it, nq, d + 48, act, s) ==
              NASHMP_ERR_INVALID_VALUE, "bad method");
    CHECK(nashmp_cuda_solve_dense_f64(d, 0, d + 16, 3, beta, eta, 2, 3, NASHMP_METHOD_OMWU, 10,
                                      1, 1e-8, d + 32, 3, NULL, 3, it, nq, d + 48, act, s) ==
              NASHMP_ERR_NULL_POINTER, "omwu without state");
    CHECK(nashmp_cuda_solve_dense_f64(d, 0, d + 16, 3, beta, eta, 2, 3, NASHMP_METHOD_NASH_MP,
                                      10, 0, 1e-8, d + 32, 3, NULL, 0, it, nq, d + 48, act, s) ==
              NASHMP_ERR_INVALID_VALUE, "check_every = 0");
}

static void test_cuda_build(void)
{
    int n = -1, st = nashmp_cuda_device_count(&n);
    CHECK(nashmp_cuda_available() == 1, "available() in a CUDA build");
    CHECK((st == NASHMP_OK && n >= 1) || (st == NASHMP_ERR_UNSUPPORTED && n == 0),
          "device_count: status %d, n %d", st, n);
    CHECK(strncmp(nashmp_cuda_build_info(), "cuda=yes", 8) == 0, "cuda build info: %s",
          nashmp_cuda_build_info());
    CHECK(strstr(nashmp_build_info(), "cuda=yes") != NULL, "build info: %s", nashmp_build_info());
    CHECK(nashmp_cuda_logsumexp_f64(NULL, 2, 3, 3, NULL, NULL) == NASHMP_ERR_NULL_POINTER,
          "argument checks before any device work");
    printf("CUDA build: %s; %d device(s)%s\n", nashmp_cuda_build_info(), n,
           n == 0 ? " (device kernels not run: no GPU)" : "");
}

/* ---- ms_block.h math against the CPU kernels ------------------------------------------------ */

static double stub_rand(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (double)(*state >> 8) / 16777216.0;
}

static double rel(double a, double b)
{
    if (a == b)
        return 0.0;
    return fabs(a - b) / fmax(1.0, fabs(b));
}

static void test_ms_block(void)
{
    enum { K = 1271, LANES = 32 };
    static double x[K], y[K], g[K], out[K];
    unsigned seed = 12345u;
    int trial;
    for (trial = 0; trial < 6; trial++) {
        nashmp_msb lane[LANES], tot;
        double want, kl_want, kl_got = 0.0;
        int j, q, o, k = trial == 0 ? 1 : trial == 1 ? 3 : trial == 2 ? 41 : K, bad = 0;
        for (j = 0; j < k; j++) {
            x[j] = (stub_rand(&seed) - 0.5) * 60.0;
            y[j] = (stub_rand(&seed) - 0.5) * 6.0;
            g[j] = stub_rand(&seed);
            if (trial >= 4 && stub_rand(&seed) < 0.3)
                x[j] = -INFINITY;
        }
        /* strided lanes + butterfly merge, as in a warp */
        for (q = 0; q < LANES; q++)
            lane[q] = nashmp_msb_init();
        for (j = 0; j < k; j++)
            nashmp_msb_push(&lane[j % LANES], x[j]);
        for (o = LANES / 2; o > 0; o >>= 1) {
            nashmp_msb nxt[LANES];
            for (q = 0; q < LANES; q++)
                nxt[q] = nashmp_msb_merge(lane[q], lane[q ^ o]);
            memcpy(lane, nxt, sizeof lane);
        }
        for (q = 1; q < LANES; q++)
            CHECK(memcmp(&lane[q], &lane[0], sizeof lane[0]) == 0, "lanes disagree (k=%d)", k);
        tot = lane[0];
        CHECK(nashmp_logsumexp_f64(x, 1, k, k, &want) == NASHMP_OK, "cpu logsumexp");
        CHECK(rel(nashmp_msb_lse(tot), want) <= 1e-13, "lse k=%d: %.17g vs %.17g", k,
              nashmp_msb_lse(tot), want);
        /* KL terms vs the CPU kernel (x normalized) */
        CHECK(nashmp_log_softmax_f64(x, 1, k, k, out, k) == NASHMP_OK, "cpu log_softmax");
        CHECK(nashmp_log_softmax_f64(y, 1, k, k, y, k) == NASHMP_OK, "cpu log_softmax y");
        for (j = 0; j < k; j++)
            kl_got += nashmp_kl_term(out[j], y[j]);
        CHECK(nashmp_kl_f64(out, k, y, k, 1, k, &kl_want) == NASHMP_OK, "cpu kl");
        CHECK(rel(kl_got, kl_want) <= 1e-12, "kl k=%d: %.17g vs %.17g", k, kl_got, kl_want);
        /* mirror z and normalization vs the fused CPU step (b = 0: log_ref not read) */
        CHECK(nashmp_mirror_step_f64(y, k, NULL, 0, g, k, 1, k, 0.3, 0.0, 2.0, out, k) ==
                  NASHMP_OK, "cpu mirror step");
        {
            nashmp_msb t2 = nashmp_msb_init();
            double err = 0.0, lse;
            for (j = 0; j < k; j++)
                nashmp_msb_push(&t2, nashmp_mirror_z(0.3, y[j], 0.0, 0.0, 2.0, g[j], &bad));
            lse = nashmp_msb_lse(t2);
            for (j = 0; j < k; j++)
                err = fmax(err, rel(nashmp_mirror_z(0.3, y[j], 0.0, 0.0, 2.0, g[j], &bad) - lse,
                                    out[j]));
            CHECK(err <= 1e-13 && !bad, "mirror step k=%d: %.3g", k, err);
        }
    }
    /* edge cases of the state */
    {
        nashmp_msb a = nashmp_msb_init(), b = nashmp_msb_init();
        nashmp_msb_push(&a, -INFINITY);
        CHECK(nashmp_msb_lse(a) == -INFINITY, "all -inf -> -inf");
        CHECK(nashmp_msb_lse(nashmp_msb_merge(a, b)) == -INFINITY, "merge of empties");
        nashmp_msb_push(&b, 1.0);
        nashmp_msb_push(&b, INFINITY);
        CHECK(isnan(nashmp_msb_lse(b)), "+inf poisons");
        CHECK(isnan(nashmp_msb_lse(nashmp_msb_merge(a, b))), "poison is sticky through merge");
        CHECK(nashmp_kl_term(-INFINITY, -INFINITY) == 0.0, "0 log 0 = 0");
        CHECK(nashmp_kl_term(-1.0, -INFINITY) == INFINITY, "q = 0 < p -> inf");
        CHECK(isnan(nashmp_kl_term(NAN, 0.0)), "NaN term");
        CHECK(fabs(nashmp_sigmoid(-800.0)) == 0.0 && nashmp_sigmoid(800.0) == 1.0, "sigmoid");
        CHECK(nashmp_logaddexp(-INFINITY, -INFINITY) == -INFINITY, "logaddexp(-inf, -inf)");
    }
}

/* The per-entry math of the operator kernels (operators.cuh) on the host, against the CPU
 * operators: the packed-triangle index (layout of nashmp_packed_apply_f64) and the Bradley-Terry
 * row sum_j sigma(s_y - s_j) pi_j (nashmp_bradley_terry_apply_f64). */
static void test_operator_math(void)
{
    enum { K = 37, B = 2 };
    static double P[K * K], Pu[K * (K - 1) / 2], pi[B * K], g[B * K], want[B * K], sc[K];
    unsigned seed = 777u;
    double err = 0.0;
    int64_t i, j, n = 0;
    int b;
    for (i = 0; i < K; i++) {
        P[i * K + i] = 0.5;
        sc[i] = (stub_rand(&seed) - 0.5) * 8.0;
        for (j = i + 1; j < K; j++) {
            P[i * K + j] = stub_rand(&seed);
            P[j * K + i] = 1.0 - P[i * K + j];
        }
    }
    for (b = 0; b < B; b++) {
        double tot = 0.0;
        for (j = 0; j < K; j++)
            tot += (pi[b * K + j] = stub_rand(&seed) + 0.01);
        for (j = 0; j < K; j++)
            pi[b * K + j] /= tot;
    }
    /* every index in [0, K(K-1)/2) once, row by row */
    for (i = 0; i < K; i++)
        for (j = i + 1; j < K; j++) {
            CHECK(nashmp_packed_index(i, j, K) == n, "packed index (%d, %d)", (int)i, (int)j);
            Pu[nashmp_packed_index(i, j, K)] = P[i * K + j];
            n++;
        }
    CHECK(nashmp_packed_apply_f64(Pu, pi, K, B, K, g, K) == NASHMP_OK, "cpu packed apply");
    CHECK(nashmp_preference_apply_f64(P, 0, pi, K, B, K, want, K) == NASHMP_OK, "cpu dense");
    for (i = 0; i < B * K; i++)
        err = fmax(err, fabs(g[i] - want[i]));
    CHECK(err <= 1e-14, "packed layout: %.3g", err);
    /* the packed kernel's per-entry rule: P[y, j] staged (y < j), 1/2, 1 - P[j, y] (j < y) */
    err = 0.0;
    for (b = 0; b < B; b++)
        for (i = 0; i < K; i++) {
            double acc = 0.0;
            for (j = 0; j < K; j++)
                acc += (j > i ? Pu[nashmp_packed_index(i, j, K)]
                        : j == i ? 0.5 : 1.0 - Pu[nashmp_packed_index(j, i, K)]) * pi[b * K + j];
            err = fmax(err, fabs(acc - want[b * K + i]));
        }
    CHECK(err <= 1e-14, "packed entry rule: %.3g", err);
    /* Bradley-Terry row */
    CHECK(nashmp_bradley_terry_apply_f64(sc, pi, K, B, K, g, K) == NASHMP_OK, "cpu bt apply");
    err = 0.0;
    for (b = 0; b < B; b++)
        for (i = 0; i < K; i++) {
            double acc = 0.0;
            for (j = 0; j < K; j++)
                acc += nashmp_sigmoid(sc[i] - sc[j]) * pi[b * K + j];
            err = fmax(err, fabs(acc - g[b * K + i]));
        }
    CHECK(err <= 1e-13, "bradley-terry row: %.3g", err);
}

int main(void)
{
#ifdef NASHMP_TEST_CUDA_BUILD
    test_cuda_build();
#else
    test_stubs();
#endif
    test_ms_block();
    test_operator_math();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
