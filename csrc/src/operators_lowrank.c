/*
 * Low-rank skew preference operator: P = 1/2 + U V^T - V U^T (k x r factors), g = P pi in O(k r):
 *   pass 1: q = (V^T pi, U^T pi) and S = sum(pi), chunk partials merged in a fixed order;
 *   pass 2: g_y = S/2 + u_y.(V^T pi) - v_y.(U^T pi), row chunks in parallel.
 * Both passes stream U and V from memory (the kernel is bandwidth bound for large k). The fused
 * prox step computes z = a*log_pi + b*log_ref + c*g and each chunk's (max, sum) in pass 2, then
 * normalizes (operators_fused.h).
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

#define T double
#define SFX(n) n##_f64
#include "operators_lowrank_impl.h"
#undef T
#undef SFX

#define T float
#define SFX(n) n##_f32
#include "operators_lowrank_impl.h"
#undef T
#undef SFX

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
    return lr_apply_f64(U, V, ldf, r, pi, ldpi, batch, k, out, ldo);
}

int nashmp_lowrank_apply_f32(const float *U, const float *V, int64_t ldf, int64_t r,
                             const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out,
                             int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    LR_CHECK(float);
    return lr_apply_f32(U, V, ldf, r, pi, ldpi, batch, k, out, ldo);
}

int nashmp_lowrank_mirror_step_f64(const double *U, const double *V, int64_t ldf, int64_t r,
                                   const double *pi_g, int64_t ldpg, const double *log_pi,
                                   int64_t ldpi, const double *log_ref, int64_t ldref,
                                   int64_t batch, int64_t k, double a, double b, double c,
                                   double *out, int64_t ldo, double *pi_out, int64_t ldpo)
{
    NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo,
                     a, b, c);
    LR_CHECK(double);
    return lr_step_f64(U, V, ldf, r, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, batch, k, a, b, c,
                       out, ldo, pi_out, ldpo);
}

int nashmp_lowrank_mirror_step_f32(const float *U, const float *V, int64_t ldf, int64_t r,
                                   const double *pi_g, int64_t ldpg, const double *log_pi,
                                   int64_t ldpi, const double *log_ref, int64_t ldref,
                                   int64_t batch, int64_t k, double a, double b, double c,
                                   double *out, int64_t ldo, double *pi_out, int64_t ldpo)
{
    NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo,
                     a, b, c);
    LR_CHECK(float);
    return lr_step_f32(U, V, ldf, r, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, batch, k, a, b, c,
                       out, ldo, pi_out, ldpo);
}
