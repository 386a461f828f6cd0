/*
 * Tiled preference operators (the flash-attention pattern applied to g = P pi): embedding
 * P[y, j] = sigma(e_y^T R e_j) with R skew, and Bradley-Terry P[y, j] = sigma(s_y - s_j)
 * (the same kernel with e_y = (s_y, 1), a_y = (-1, s_y)).
 *
 * Setup, O(k d): A = E Rs (a_y^T = e_y^T Rs, Rs = (R - R^T)/2) row-major and E^T (d x kp), both
 * padded with zeros to kp, a multiple of the tile EM_TB (padded policies entries are 0, so the
 * padding contributes nothing). Then, for every pair of tiles (I <= J) of the upper triangle,
 * a 4-row x (2 vectors) micro-kernel computes the scores s = A_I E_J^T in registers (d FMAs per
 * pair), sigma(s) and 1 - sigma(s) from one vectorized exp and one division, and accumulates
 * sigma(s) pi_j into the rows and (1 - sigma(s)) pi_i into the columns: every unordered pair
 * costs one exp. Nothing of size k x k (or even tile x tile) is stored. Row sums inside a tile
 * are kept in the operator's dtype, then added to double accumulators (one length-kp buffer per
 * thread, summed in thread order). OpenMP threads take contiguous ranges of tile pairs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"
#include "operators_fused.h"

#define EM_TB 256 /* tile: rows and columns */
/* rows per micro-kernel (EM_RB, set per dtype below): 8 for double, whose sigmoid chains (exp
 * with its table loads, division) then overlap more (k = 20000, 1 thread: 465 -> 401 ms in the
 * x86-64-v4 clone, 488 -> 457 ms in the v3 one); 4 for float, whose 16 accumulators of 8 rows
 * would spill in the v3 clone's 16 registers (182 -> 220 ms). */

#define T double
#define SFX(n) n##_f64
#define EM_RB 8
#ifdef NASHMP_VEXT
#define VT nashmp_v4d
#define VI nashmp_v4l
#define VU nashmp_v4u
#define W 4
#define VEXP nashmp_vexp_red_f64
#define ABSMASK 0x7fffffffffffffffull
#endif
#include "operators_embed_impl.h"
#undef T
#undef SFX
#undef VT
#undef VI
#undef VU
#undef W
#undef VEXP
#undef ABSMASK
#undef EM_RB

#define T float
#define SFX(n) n##_f32
#define EM_RB 4
#ifdef NASHMP_VEXT
#define VT nashmp_v8f
#define VI nashmp_v8i
#define VU nashmp_v8u
#define W 8
#define VEXP nashmp_vexp_red_f32
#define ABSMASK 0x7fffffffu
#endif
#include "operators_embed_impl.h"
#undef T
#undef SFX
#undef VT
#undef VI
#undef VU
#undef W
#undef VEXP
#undef ABSMASK
#undef EM_RB

/* k * max(d, 2) and the padded sizes must fit. */
static int em_sizes(int64_t k, int64_t d, size_t el)
{
    int64_t kp, t;
    if (d < 1)
        return NASHMP_ERR_INVALID_SIZE;
    kp = (k + EM_TB - 1) / EM_TB * EM_TB;
    if (nashmp_mul_ovf(kp, d, &t) || (uint64_t)t > (uint64_t)PTRDIFF_MAX / el ||
        nashmp_mul_ovf(kp, 64, &t) || (uint64_t)t > (uint64_t)PTRDIFF_MAX / sizeof(double))
        return NASHMP_ERR_OVERFLOW;
    return NASHMP_OK;
}

#define EM_CHECK(T)                                                                            \
    do {                                                                                       \
        int st_;                                                                               \
        int64_t ext_;                                                                          \
        if (!E || !R)                                                                          \
            return NASHMP_ERR_NULL_POINTER;                                                    \
        if ((st_ = em_sizes(k, d, sizeof(T))) != NASHMP_OK)                                    \
            return st_;                                                                        \
        if (lde < d)                                                                           \
            return NASHMP_ERR_INVALID_STRIDE;                                                  \
        if (nashmp_mul_ovf(k - 1, lde, &ext_) || nashmp_add_ovf(ext_, d, &ext_) ||             \
            (uint64_t)ext_ > (uint64_t)PTRDIFF_MAX / sizeof(T))                                \
            return NASHMP_ERR_OVERFLOW;                                                        \
        if (link != NASHMP_LINK_LOGISTIC)                                                      \
            return NASHMP_ERR_INVALID_VALUE;                                                   \
    } while (0)

int nashmp_embedding_apply_f64(const double *E, int64_t lde, int64_t d, const double *R,
                               int link, const double *pi, int64_t ldpi, int64_t batch, int64_t k,
                               double *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    EM_CHECK(double);
    return em_entry_f64(E, lde, d, R, NULL, pi, ldpi, out, ldo, NULL, 0, NULL, 0, NULL, 0, 0.0,
                        0.0, 0.0, NULL, 0, NULL, 0, batch, k);
}

int nashmp_embedding_apply_f32(const float *E, int64_t lde, int64_t d, const float *R, int link,
                               const float *pi, int64_t ldpi, int64_t batch, int64_t k,
                               float *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    EM_CHECK(float);
    return em_entry_f32(E, lde, d, R, NULL, pi, ldpi, out, ldo, NULL, 0, NULL, 0, NULL, 0, 0.0,
                        0.0, 0.0, NULL, 0, NULL, 0, batch, k);
}

int nashmp_embedding_mirror_step_f64(const double *E, int64_t lde, int64_t d, const double *R,
                                     int link, const double *pi_g, int64_t ldpg,
                                     const double *log_pi, int64_t ldpi, const double *log_ref,
                                     int64_t ldref, int64_t batch, int64_t k, double a, double b,
                                     double c, double *out, int64_t ldo, double *pi_out,
                                     int64_t ldpo)
{
    NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo,
                     a, b, c);
    EM_CHECK(double);
    return em_entry_f64(E, lde, d, R, NULL, NULL, 0, NULL, 0, pi_g, ldpg, log_pi, ldpi, log_ref,
                        ldref, a, b, c, out, ldo, pi_out, ldpo, batch, k);
}

int nashmp_embedding_mirror_step_f32(const float *E, int64_t lde, int64_t d, const float *R,
                                     int link, const double *pi_g, int64_t ldpg,
                                     const double *log_pi, int64_t ldpi, const double *log_ref,
                                     int64_t ldref, int64_t batch, int64_t k, double a, double b,
                                     double c, double *out, int64_t ldo, double *pi_out,
                                     int64_t ldpo)
{
    NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo,
                     a, b, c);
    EM_CHECK(float);
    return em_entry_f32(E, lde, d, R, NULL, NULL, 0, NULL, 0, pi_g, ldpg, log_pi, ldpi, log_ref,
                        ldref, a, b, c, out, ldo, pi_out, ldpo, batch, k);
}

#define BT_CHECK(T)                                                                            \
    do {                                                                                       \
        int st_;                                                                               \
        if (!scores)                                                                           \
            return NASHMP_ERR_NULL_POINTER;                                                    \
        if ((st_ = em_sizes(k, 2, sizeof(T))) != NASHMP_OK)                                    \
            return st_;                                                                        \
    } while (0)

int nashmp_bradley_terry_apply_f64(const double *scores, const double *pi, int64_t ldpi,
                                   int64_t batch, int64_t k, double *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    BT_CHECK(double);
    return em_entry_f64(NULL, 2, 2, NULL, scores, pi, ldpi, out, ldo, NULL, 0, NULL, 0, NULL, 0,
                        0.0, 0.0, 0.0, NULL, 0, NULL, 0, batch, k);
}

int nashmp_bradley_terry_apply_f32(const float *scores, const float *pi, int64_t ldpi,
                                   int64_t batch, int64_t k, float *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    BT_CHECK(float);
    return em_entry_f32(NULL, 2, 2, NULL, scores, pi, ldpi, out, ldo, NULL, 0, NULL, 0, NULL, 0,
                        0.0, 0.0, 0.0, NULL, 0, NULL, 0, batch, k);
}

int nashmp_bradley_terry_mirror_step_f64(const double *scores, const double *pi_g, int64_t ldpg,
                                         const double *log_pi, int64_t ldpi,
                                         const double *log_ref, int64_t ldref, int64_t batch,
                                         int64_t k, double a, double b, double c, double *out,
                                         int64_t ldo, double *pi_out, int64_t ldpo)
{
    NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo,
                     a, b, c);
    BT_CHECK(double);
    return em_entry_f64(NULL, 2, 2, NULL, scores, NULL, 0, NULL, 0, pi_g, ldpg, log_pi, ldpi,
                        log_ref, ldref, a, b, c, out, ldo, pi_out, ldpo, batch, k);
}

int nashmp_bradley_terry_mirror_step_f32(const float *scores, const double *pi_g, int64_t ldpg,
                                         const double *log_pi, int64_t ldpi,
                                         const double *log_ref, int64_t ldref, int64_t batch,
                                         int64_t k, double a, double b, double c, double *out,
                                         int64_t ldo, double *pi_out, int64_t ldpo)
{
    NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo,
                     a, b, c);
    BT_CHECK(float);
    return em_entry_f32(NULL, 2, 2, NULL, scores, NULL, 0, NULL, 0, pi_g, ldpg, log_pi, ldpi,
                        log_ref, ldref, a, b, c, out, ldo, pi_out, ldpo, batch, k);
}
