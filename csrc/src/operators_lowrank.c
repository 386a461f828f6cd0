/*
 * Low-rank skew preference operator: P = 1/2 + U V^T - V U^T (k x r factors), g = P pi in O(k r):
 *   pass 1: q = (V^T pi, U^T pi) and S = sum(pi), chunk partials merged in a fixed order;
 *   pass 2: g_y = S/2 + u_y.(V^T pi) - v_y.(U^T pi), row chunks in parallel.
 * Both passes stream U and V from memory (the kernel is bandwidth bound for large k). The fused
 * prox step computes z = a*log_pi + b*log_ref + c*g and each chunk's (max, sum) in pass 2, then
 * normalizes (operators_fused.h). The step with carried moments (the _q entry points) skips
 * pass 1 when given q = (V^T pi, U^T pi, sum pi) and returns the moments of the new policy,
 * accumulated in pass 2 over sub-blocks still in cache (weights exp(z - sub-block max), rescaled
 * by exp(max - lse(z)) at the end): a chain of steps then reads U and V once per query.
 */
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"
#include "operators_fused.h"

#define LR_CHUNK NASHMP_OPF_CHUNK
#define LR_LANES 8
#define LR_FIXED_MAX 64


#define LR_BLOCK 64 /* rows summed in the data type before the double accumulators */
#define LR_SUB NASHMP_LSE_CHUNK /* pass 2 sub-block: its z's (max, sum) block and moments */
#define LR_PF 64                /* rows prefetched before the work on a sub-block's z */
#if LR_CHUNK % LR_SUB != 0
#error "the pass 2 sub-blocks must tile the chunks"
#endif

#ifdef NASHMP_VEXT
/*
 * Pass 2 rows in groups (vector builds, r a multiple of 8): each row's 8 lane sums
 * s_l = sum_{q = l mod 8} u_q qv_q - v_q qu_q as one vector (float) or two (double), then the
 * group's rows reduced together by shuffles in lr_rows' order ((s0 + s4) + (s1 + s5)) +
 * ((s2 + s6) + (s3 + s7)), instead of one horizontal sum per row: same bits, a third of the
 * instructions.
 */
#define LR_SH8(a, b, ...) __builtin_shuffle((a), (b), (nashmp_v8i){__VA_ARGS__})
#define LR_SH4(a, b, ...) __builtin_shuffle((a), (b), (nashmp_v4l){__VA_ARGS__})
NASHMP_INLINE void lr_rows_group_f32(const float *U, const float *V, int64_t ldf, int64_t r,
                                     const float *qv, const float *qu, double half, double *g)
{
    nashmp_v8f S[8], X[4], H[2], F;
    nashmp_v4d lo, hi;
    int64_t q;
    int l;
    for (l = 0; l < 8; l++) {
        const float *Ui = U + l * ldf, *Vi = V + l * ldf;
        nashmp_v8f sum = {0, 0, 0, 0, 0, 0, 0, 0}, u, v, a, b;
        for (q = 0; q < r; q += 8) {
            memcpy(&u, Ui + q, sizeof u);
            memcpy(&v, Vi + q, sizeof v);
            memcpy(&a, qv + q, sizeof a);
            memcpy(&b, qu + q, sizeof b);
            sum += u * a - v * b;
        }
        S[l] = sum;
    }
    for (l = 0; l < 4; l++) /* row pairs: s_l + s_{l+4} */
        X[l] = LR_SH8(S[2 * l], S[2 * l + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
               LR_SH8(S[2 * l], S[2 * l + 1], 4, 5, 6, 7, 12, 13, 14, 15);
    for (l = 0; l < 2; l++) /* adjacent pairs */
        H[l] = LR_SH8(X[2 * l], X[2 * l + 1], 0, 2, 4, 6, 8, 10, 12, 14) +
               LR_SH8(X[2 * l], X[2 * l + 1], 1, 3, 5, 7, 9, 11, 13, 15);
    F = LR_SH8(H[0], H[1], 0, 2, 4, 6, 8, 10, 12, 14) + LR_SH8(H[0], H[1], 1, 3, 5, 7, 9, 11, 13, 15);
    lo = (nashmp_v4d){F[0], F[1], F[2], F[3]};
    hi = (nashmp_v4d){F[4], F[5], F[6], F[7]};
    lo += half;
    hi += half;
    memcpy(g, &lo, sizeof lo);
    memcpy(g + 4, &hi, sizeof hi);
}

NASHMP_INLINE void lr_rows_group_f64(const double *U, const double *V, int64_t ldf, int64_t r,
                                     const double *qv, const double *qu, double half, double *g)
{
    nashmp_v4d A[4], H01, H23, F;
    int64_t q;
    int l;
    for (l = 0; l < 4; l++) {
        const double *Ui = U + l * ldf, *Vi = V + l * ldf;
        nashmp_v4d s0 = {0, 0, 0, 0}, s1 = s0, u, v, a, b;
        for (q = 0; q < r; q += 8) {
            memcpy(&u, Ui + q, sizeof u);
            memcpy(&v, Vi + q, sizeof v);
            memcpy(&a, qv + q, sizeof a);
            memcpy(&b, qu + q, sizeof b);
            s0 += u * a - v * b;
            memcpy(&u, Ui + q + 4, sizeof u);
            memcpy(&v, Vi + q + 4, sizeof v);
            memcpy(&a, qv + q + 4, sizeof a);
            memcpy(&b, qu + q + 4, sizeof b);
            s1 += u * a - v * b;
        }
        A[l] = s0 + s1; /* s_l + s_{l+4} */
    }
    H01 = LR_SH4(A[0], A[1], 0, 2, 4, 6) + LR_SH4(A[0], A[1], 1, 3, 5, 7);
    H23 = LR_SH4(A[2], A[3], 0, 2, 4, 6) + LR_SH4(A[2], A[3], 1, 3, 5, 7);
    F = LR_SH4(H01, H23, 0, 2, 4, 6) + LR_SH4(H01, H23, 1, 3, 5, 7);
    F += half;
    memcpy(g, &F, sizeof F);
}
#endif

#define T double
#define SFX(n) n##_f64
#define LR_GROUP 4
#define LR_VT nashmp_v4d
#define LR_W 4
#include "operators_lowrank_impl.h"
#undef T
#undef SFX
#undef LR_GROUP
#undef LR_VT
#undef LR_W

#define T float
#define SFX(n) n##_f32
#define LR_GROUP 8
#define LR_VT nashmp_v8f
#define LR_W 8
#include "operators_lowrank_impl.h"
#undef T
#undef SFX
#undef LR_GROUP
#undef LR_VT
#undef LR_W

#define LR_CHECK(T)                                                                            \
    do {                                                                                       \
        int64_t ext_;                                                                          \
        if (!U || !V)                                                                          \
            return NASHMP_ERR_NULL_POINTER;                                                    \
        if (r < 1 || k < 1)                                                                    \
            return NASHMP_ERR_INVALID_SIZE;                                                    \
        if (ldf < r)                                                                           \
            return NASHMP_ERR_INVALID_STRIDE;                                                  \
        if (nashmp_mul_ovf(k - 1, ldf, &ext_) || nashmp_add_ovf(ext_, r, &ext_) ||             \
            (uint64_t)ext_ > (uint64_t)PTRDIFF_MAX / sizeof(T))                                \
            return NASHMP_ERR_OVERFLOW;                                                        \
    } while (0)

int nashmp_lowrank_apply_f64(const double *U, const double *V, int64_t ldf, int64_t r,
                             const double *pi, int64_t ldpi, int64_t batch, int64_t k,
                             double *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    LR_CHECK(double);
    return lr_apply_f64(U, V, ldf, r, pi, NULL, ldpi, batch, k, out, NULL, ldo);
}

int nashmp_lowrank_apply_f32(const float *U, const float *V, int64_t ldf, int64_t r,
                             const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out,
                             int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    LR_CHECK(float);
    return lr_apply_f32(U, V, ldf, r, pi, NULL, ldpi, batch, k, out, NULL, ldo);
}

int nashmp_lowrank_apply_f32d(const float *U, const float *V, int64_t ldf, int64_t r,
                              const double *pi, int64_t ldpi, int64_t batch, int64_t k,
                              double *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    LR_CHECK(float);
    return lr_apply_f32(U, V, ldf, r, NULL, pi, ldpi, batch, k, NULL, out, ldo);
}

int nashmp_lowrank_mirror_step_f64(const double *U, const double *V, int64_t ldf, int64_t r,
                                   const double *pi_g, int64_t ldpg, const double *log_pi,
                                   int64_t ldpi, const double *log_ref, int64_t ldref,
                                   int64_t batch, int64_t k, double a, double b, double c,
                                   double *out, int64_t ldo, double *pi_out, int64_t ldpo)
{
    return nashmp_lowrank_mirror_step_q_f64(U, V, ldf, r, pi_g, ldpg, NULL, 0, log_pi, ldpi,
                                            log_ref, ldref, batch, k, a, b, c, out, ldo, pi_out,
                                            ldpo, NULL, 0);
}

int nashmp_lowrank_mirror_step_f32(const float *U, const float *V, int64_t ldf, int64_t r,
                                   const double *pi_g, int64_t ldpg, const double *log_pi,
                                   int64_t ldpi, const double *log_ref, int64_t ldref,
                                   int64_t batch, int64_t k, double a, double b, double c,
                                   double *out, int64_t ldo, double *pi_out, int64_t ldpo)
{
    return nashmp_lowrank_mirror_step_q_f32(U, V, ldf, r, pi_g, ldpg, NULL, 0, log_pi, ldpi,
                                            log_ref, ldref, batch, k, a, b, c, out, ldo, pi_out,
                                            ldpo, NULL, 0);
}

/* Checks of the _q entry points: pi_g unused when q_in is given; q_in, q_out rows of 2r+1. */
#define LR_Q_CHECK(T)                                                                          \
    do {                                                                                       \
        NASHMP_OPF_CHECK_PG(q_in ? NASHMP_ARR_UNUSED : NASHMP_ARR_IN, batch, k, pi_g, ldpg,    \
                            log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo, a, b, c);    \
        LR_CHECK(T);                                                                           \
        NASHMP_CHECK(batch, 2 * r + 1, double,                                                 \
                     {(const void *)q_in, ldqi,                                                \
                      q_in ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},                               \
                     {(const void *)q_out, ldqo,                                               \
                      q_out ? NASHMP_ARR_OUT : NASHMP_ARR_UNUSED});                            \
    } while (0)

int nashmp_lowrank_mirror_step_q_f64(const double *U, const double *V, int64_t ldf, int64_t r,
                                     const double *pi_g, int64_t ldpg, const double *q_in,
                                     int64_t ldqi, const double *log_pi, int64_t ldpi,
                                     const double *log_ref, int64_t ldref, int64_t batch,
                                     int64_t k, double a, double b, double c, double *out,
                                     int64_t ldo, double *pi_out, int64_t ldpo, double *q_out,
                                     int64_t ldqo)
{
    LR_Q_CHECK(double);
    return lr_step_f64(U, V, ldf, r, pi_g, ldpg, q_in, ldqi, log_pi, ldpi, log_ref, ldref, batch,
                       k, a, b, c, out, ldo, pi_out, ldpo, q_out, ldqo);
}

int nashmp_lowrank_mirror_step_q_f32(const float *U, const float *V, int64_t ldf, int64_t r,
                                     const double *pi_g, int64_t ldpg, const double *q_in,
                                     int64_t ldqi, const double *log_pi, int64_t ldpi,
                                     const double *log_ref, int64_t ldref, int64_t batch,
                                     int64_t k, double a, double b, double c, double *out,
                                     int64_t ldo, double *pi_out, int64_t ldpo, double *q_out,
                                     int64_t ldqo)
{
    LR_Q_CHECK(float);
    return lr_step_f32(U, V, ldf, r, pi_g, ldpg, q_in, ldqi, log_pi, ldpi, log_ref, ldref, batch,
                       k, a, b, c, out, ldo, pi_out, ldpo, q_out, ldqo);
}
