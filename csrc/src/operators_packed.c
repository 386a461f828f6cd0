/*
 * Packed half-matrix preference operator: since P + P^T = 1, only the strict upper triangle is
 * stored (k(k-1)/2 values, row by row) and each stored value serves two outputs:
 *   g_y += P[y, j] pi_j  and  g_j += (1 - P[y, j]) pi_y   (y < j),  g_y += pi_y / 2.
 * One pass over the packed data (half the bytes of the dense matvec). Threads take row ranges
 * of equal element counts; the column contributions go to a private length-k double buffer per
 * thread, summed in thread order. float32 data is accumulated in double.
 */
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"
#include "ms_block.h"
#include "operators_fused.h"

#define PK_LANES 8

/* First row whose offset is >= target (rows 0..k). */
static int64_t pk_row_at(int64_t target, int64_t k)
{
    int64_t lo = 0, hi = k;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (nashmp_packed_row(mid, k) < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#define T double
#define SFX(n) n##_f64
#include "operators_packed_impl.h"
#undef T
#undef SFX

#define T float
#define SFX(n) n##_f32
#include "operators_packed_impl.h"
#undef T
#undef SFX

#define PK_CHECK(T)                                                                            \
    do {                                                                                       \
        int64_t n_;                                                                            \
        if (!Pu && k > 1)                                                                      \
            return NASHMP_ERR_NULL_POINTER;                                                    \
        if (nashmp_mul_ovf(k, k, &n_) || (uint64_t)n_ > (uint64_t)PTRDIFF_MAX / sizeof(T))      \
            return NASHMP_ERR_OVERFLOW;                                                        \
    } while (0)

int nashmp_packed_apply_f64(const double *Pu, const double *pi, int64_t ldpi, int64_t batch,
                            int64_t k, double *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    PK_CHECK(double);
    return pk_entry_f64(Pu, pi, ldpi, out, ldo, NULL, 0, NULL, 0, NULL, 0, 0.0, 0.0, 0.0, NULL, 0,
                        NULL, 0, batch, k);
}

int nashmp_packed_apply_f32(const float *Pu, const float *pi, int64_t ldpi, int64_t batch,
                            int64_t k, float *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    PK_CHECK(float);
    return pk_entry_f32(Pu, pi, ldpi, out, ldo, NULL, 0, NULL, 0, NULL, 0, 0.0, 0.0, 0.0, NULL, 0,
                        NULL, 0, batch, k);
}

int nashmp_packed_mirror_step_f64(const double *Pu, const double *pi_g, int64_t ldpg,
                                  const double *log_pi, int64_t ldpi, const double *log_ref,
                                  int64_t ldref, int64_t batch, int64_t k, double a, double b,
                                  double c, double *out, int64_t ldo, double *pi_out,
                                  int64_t ldpo)
{
    NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo,
                     a, b, c);
    PK_CHECK(double);
    return pk_entry_f64(Pu, NULL, 0, NULL, 0, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, a, b, c,
                        out, ldo, pi_out, ldpo, batch, k);
}

int nashmp_packed_mirror_step_f32(const float *Pu, const double *pi_g, int64_t ldpg,
                                  const double *log_pi, int64_t ldpi, const double *log_ref,
                                  int64_t ldref, int64_t batch, int64_t k, double a, double b,
                                  double c, double *out, int64_t ldo, double *pi_out,
                                  int64_t ldpo)
{
    NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out, ldpo,
                     a, b, c);
    PK_CHECK(float);
    return pk_entry_f32(Pu, NULL, 0, NULL, 0, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, a, b, c,
                        out, ldo, pi_out, ldpo, batch, k);
}
