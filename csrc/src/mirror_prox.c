/*
 * Fused mirror-prox step: z = a*log_pi + b*log_ref + c*g, out = z - logsumexp(z), row by row.
 * One pass over the inputs: each block of NASHMP_CHUNK elements is combined into a stack buffer,
 * folded into the online (max, sum) pair and stored to out; a second, in-cache-for-moderate-k
 * pass subtracts the row's logsumexp. out may be any one of the inputs (in place).
 */
#include <math.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"

/* z[0..n) from the terms whose coefficient is nonzero (others are not read). */
#define NASHMP_Z_CHUNK(T, lp, lr, g, n, a, b, c, z)                                            \
    do {                                                                                       \
        int64_t j_;                                                                            \
        if ((a) != 0.0) {                                                                      \
            for (j_ = 0; j_ < (n); j_++)                                                       \
                (z)[j_] = (a) * (double)(lp)[j_];                                              \
        } else {                                                                               \
            for (j_ = 0; j_ < (n); j_++)                                                       \
                (z)[j_] = 0.0;                                                                 \
        }                                                                                      \
        if ((b) != 0.0)                                                                        \
            for (j_ = 0; j_ < (n); j_++)                                                       \
                (z)[j_] += (b) * (double)(lr)[j_];                                             \
        if ((c) != 0.0)                                                                        \
            for (j_ = 0; j_ < (n); j_++)                                                       \
                (z)[j_] += (c) * (double)(g)[j_];                                              \
    } while (0)

NASHMP_HOT static int mirror_rows_f64(const double *lp, int64_t ldpi, const double *lr,
                                      int64_t ldref, const double *g, int64_t ldg, int64_t k,
                                      double a, double b, double c, double *out, int64_t ldo,
                                      int64_t r0, int64_t r1)
{
    double z[NASHMP_CHUNK];
    int bad = 0;
    int64_t i, c0, j;
    for (i = r0; i < r1; i++) {
        const double *lpi = lp + i * ldpi, *lri = lr + i * ldref, *gi = g + i * ldg;
        double *oi = out + i * ldo, ls;
        nashmp_ms st = nashmp_ms_init();
        for (c0 = 0; c0 < k; c0 += NASHMP_CHUNK) {
            int64_t n = k - c0 < NASHMP_CHUNK ? k - c0 : NASHMP_CHUNK;
            double m;
            NASHMP_Z_CHUNK(double, lpi + c0, lri + c0, gi + c0, n, a, b, c, z);
            m = nashmp_ms_rescale(&st, nashmp_chunk_max_f64(z, n));
            if (m == NASHMP_INF_F64 || m != m)
                break;
            if (m > -NASHMP_INF_F64)
                st.s += nashmp_chunk_sumexp_f64(z, n, m);
            for (j = 0; j < n; j++)
                oi[c0 + j] = z[j];
        }
        if (st.m == NASHMP_INF_F64 || st.m != st.m || st.m == -NASHMP_INF_F64) {
            /* NaN / +inf in z; or z all -inf: no distribution (inputs all -inf) */
            bad = 1;
            continue;
        }
        ls = st.m + nashmp_log_pos_f64(st.s);
        for (j = 0; j < k; j++)
            oi[j] = oi[j] - ls;
    }
    return bad;
}

NASHMP_HOT static int mirror_rows_f32(const float *lp, int64_t ldpi, const float *lr,
                                      int64_t ldref, const float *g, int64_t ldg, int64_t k,
                                      double a, double b, double c, float *out, int64_t ldo,
                                      int64_t r0, int64_t r1)
{
    double z[NASHMP_CHUNK];
    float zf[NASHMP_CHUNK];
    int bad = 0;
    int64_t i, c0, j;
    for (i = r0; i < r1; i++) {
        const float *lpi = lp + i * ldpi, *lri = lr + i * ldref, *gi = g + i * ldg;
        float *oi = out + i * ldo;
        double m2, ls;
        nashmp_ms st = nashmp_ms_init();
        for (c0 = 0; c0 < k; c0 += NASHMP_CHUNK) {
            int64_t n = k - c0 < NASHMP_CHUNK ? k - c0 : NASHMP_CHUNK;
            double m;
            NASHMP_Z_CHUNK(float, lpi + c0, lri + c0, gi + c0, n, a, b, c, z);
            for (j = 0; j < n; j++)
                zf[j] = (float)z[j];
            m = nashmp_ms_rescale(&st, (double)nashmp_chunk_max_f32(zf, n));
            if (m == NASHMP_INF_F64 || m != m)
                break;
            if (m > -NASHMP_INF_F64)
                st.s += nashmp_chunk_sumexp_f32(zf, n, (float)m);
            for (j = 0; j < n; j++)
                oi[c0 + j] = zf[j];
        }
        if (st.m == NASHMP_INF_F64 || st.m != st.m || st.m == -NASHMP_INF_F64) {
            bad = 1;
            continue;
        }
        m2 = st.m;
        ls = nashmp_log_pos_f64(st.s);
        for (j = 0; j < k; j++)
            oi[j] = (float)(((double)oi[j] - m2) - ls);
    }
    return bad;
}

#define NASHMP_MIRROR_CHECK(T)                                                                 \
    do {                                                                                       \
        int st_;                                                                               \
        NASHMP_CHECK(batch, k, T,                                                              \
                     {(const void *)log_pi, ldpi, a != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED}, \
                     {(const void *)log_ref, ldref,                                            \
                      b != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},                           \
                     {(const void *)g, ldg, c != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},     \
                     NASHMP_OUT(out, ldo));                                                    \
        if ((st_ = nashmp_check_finite(a)) != NASHMP_OK ||                                     \
            (st_ = nashmp_check_finite(b)) != NASHMP_OK ||                                     \
            (st_ = nashmp_check_finite(c)) != NASHMP_OK)                                       \
            return st_;                                                                        \
    } while (0)

int nashmp_mirror_step_f64(const double *log_pi, int64_t ldpi, const double *log_ref,
                           int64_t ldref, const double *g, int64_t ldg, int64_t batch, int64_t k,
                           double a, double b, double c, double *out, int64_t ldo)
{
    int bad = 0, nt;
    NASHMP_MIRROR_CHECK(double);
    nt = nashmp_threads_for(3.0 * (double)batch * (double)k);
    if (nt == 1) /* no OpenMP region: even a serialized one costs ~0.5 us */
        bad = mirror_rows_f64(log_pi, ldpi, log_ref, ldref, g, ldg, k, a, b, c, out, ldo, 0, batch);
    else
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
    {
        int64_t r0, r1;
        nashmp_split(batch, &r0, &r1);
        bad |= mirror_rows_f64(log_pi, ldpi, log_ref, ldref, g, ldg, k, a, b, c, out, ldo, r0, r1);
    }
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}

int nashmp_mirror_step_f32(const float *log_pi, int64_t ldpi, const float *log_ref,
                           int64_t ldref, const float *g, int64_t ldg, int64_t batch, int64_t k,
                           double a, double b, double c, float *out, int64_t ldo)
{
    int bad = 0, nt;
    NASHMP_MIRROR_CHECK(float);
    nt = nashmp_threads_for(3.0 * (double)batch * (double)k);
    if (nt == 1) /* no OpenMP region: even a serialized one costs ~0.5 us */
        bad = mirror_rows_f32(log_pi, ldpi, log_ref, ldref, g, ldg, k, a, b, c, out, ldo, 0, batch);
    else
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
    {
        int64_t r0, r1;
        nashmp_split(batch, &r0, &r1);
        bad |= mirror_rows_f32(log_pi, ldpi, log_ref, ldref, g, ldg, k, a, b, c, out, ldo, r0, r1);
    }
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}
