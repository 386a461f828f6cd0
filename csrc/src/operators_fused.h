/*
 * operators_fused.h: the prox-step epilogue shared by the matrix-free operators
 * (operators_lowrank.c, operators_embed.c, operators_packed.c). Internal, not installed.
 *
 * Given g(pi_g) for one game in `out` (double, length k), computes in place
 *   z = a*log_pi + b*log_ref + c*g,  out = z - logsumexp(z),  pi_out = exp(out) (if pi_out),
 * in chunks of NASHMP_OPF_CHUNK elements: each chunk's online (max, sum) pair is stored, the
 * pairs are merged left to right (so the result does not depend on the thread count), then a
 * second parallel pass subtracts the log-sum-exp and writes exp.
 */
#ifndef NASHMP_OPERATORS_FUSED_H
#define NASHMP_OPERATORS_FUSED_H

#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"

#define NASHMP_OPF_CHUNK 16384

/* z = a*lp + b*lr + c*z over n elements (terms with coefficient 0 are not read). */
NASHMP_INLINE void nashmp_opf_z(const double *lp, const double *lr, double *z, int64_t n,
                                double a, double b, double c)
{
    int64_t j;
    if (a != 0.0 && b != 0.0 && c != 0.0) { /* the usual case: one pass, same operations */
        for (j = 0; j < n; j++) {
            double t = z[j] * c;
            t += a * lp[j];
            t += b * lr[j];
            z[j] = t;
        }
        return;
    }
    if (c != 0.0) {
        for (j = 0; j < n; j++)
            z[j] *= c;
    } else {
        for (j = 0; j < n; j++)
            z[j] = 0.0;
    }
    if (a != 0.0)
        for (j = 0; j < n; j++)
            z[j] += a * lp[j];
    if (b != 0.0)
        for (j = 0; j < n; j++)
            z[j] += b * lr[j];
}

NASHMP_HOT static int nashmp_opf_zchunks(const double *lp, const double *lr, double *out,
                                         int64_t k, double a, double b, double c, nashmp_ms *ms,
                                         int64_t c0, int64_t c1)
{
    int64_t ch;
    for (ch = c0; ch < c1; ch++) {
        int64_t j0 = ch * NASHMP_OPF_CHUNK;
        int64_t n = k - j0 < NASHMP_OPF_CHUNK ? k - j0 : NASHMP_OPF_CHUNK;
        nashmp_opf_z(lp ? lp + j0 : NULL, lr ? lr + j0 : NULL, out + j0, n, a, b, c);
        ms[ch] = nashmp_tile_lse_f64(out + j0, n);
    }
    return 0;
}

NASHMP_HOT static void nashmp_opf_norm_chunks(double *out, double *po, int64_t k, double ls,
                                              int64_t c0, int64_t c1)
{
    int64_t ch, j;
    for (ch = c0; ch < c1; ch++) {
        int64_t j0 = ch * NASHMP_OPF_CHUNK;
        int64_t n = k - j0 < NASHMP_OPF_CHUNK ? k - j0 : NASHMP_OPF_CHUNK;
        double *o = out + j0;
        for (j = 0; j < n; j++)
            o[j] -= ls;
        if (po)
            (void)nashmp_chunk_expsum_f64(o, n, 0.0, po + j0);
    }
}

/* Merges the chunk states and normalizes; 1 if the row is invalid (NaN/+inf, or all -inf).
 * ls_out (may be NULL) receives the log-sum-exp subtracted. */
static int nashmp_opf_normalize(double *out, double *po, int64_t k, const nashmp_ms *ms,
                                int64_t nch, int nt, double *ls_out)
{
    nashmp_ms st = nashmp_ms_init();
    double ls;
    int64_t ch;
    for (ch = 0; ch < nch; ch++)
        st = nashmp_ms_merge(st, ms[ch]);
    if (st.m != st.m || st.m == NASHMP_INF_F64 || st.m == -NASHMP_INF_F64)
        return 1;
    ls = st.m + nashmp_log_pos_f64(st.s);
    if (ls_out)
        *ls_out = ls;
    if (nt <= 1 || nch < 2) {
        nashmp_opf_norm_chunks(out, po, k, ls, 0, nch);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        {
            int64_t c0, c1;
            nashmp_split(nch, &c0, &c1);
            nashmp_opf_norm_chunks(out, po, k, ls, c0, c1);
        }
    }
    return 0;
}

/* The whole epilogue for one game: out holds g on entry. Returns 0, 1 (invalid row) or
 * NASHMP_ERR_NO_MEMORY. */
#if defined(__GNUC__)
__attribute__((unused))
#endif
static int nashmp_opf_finish(const double *lp, const double *lr, double *out, double *po,
                             int64_t k, double a, double b, double c)
{
    int64_t nch = (k + NASHMP_OPF_CHUNK - 1) / NASHMP_OPF_CHUNK;
    int nt = nashmp_threads_for(8.0 * (double)k);
    nashmp_ms *ms = (nashmp_ms *)malloc((size_t)nch * sizeof(nashmp_ms));
    int bad;
    if (!ms)
        return NASHMP_ERR_NO_MEMORY;
    if (nt <= 1 || nch < 2) {
        nashmp_opf_zchunks(lp, lr, out, k, a, b, c, ms, 0, nch);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        {
            int64_t c0, c1;
            nashmp_split(nch, &c0, &c1);
            nashmp_opf_zchunks(lp, lr, out, k, a, b, c, ms, c0, c1);
        }
    }
    bad = nashmp_opf_normalize(out, po, k, ms, nch, nt, NULL);
    free(ms);
    return bad;
}

/* Argument check shared by the fused entry points (after the operator's own checks). */
#define NASHMP_OPF_CHECK(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, ldo, pi_out,  \
                         ldpo, a, b, c)                                                        \
    NASHMP_OPF_CHECK_PG(NASHMP_ARR_IN, batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out, \
                        ldo, pi_out, ldpo, a, b, c)

/* The same with the flags of pi_g given (NASHMP_ARR_UNUSED when the step does not read it). */
#define NASHMP_OPF_CHECK_PG(pg_flags, batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out,  \
                            ldo, pi_out, ldpo, a, b, c)                                        \
    do {                                                                                       \
        int st_;                                                                               \
        NASHMP_CHECK(batch, k, double, {(const void *)(pi_g), (ldpg), (pg_flags)},             \
                     {(const void *)(log_pi), (ldpi),                                          \
                      (a) != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},                         \
                     {(const void *)(log_ref), (ldref),                                        \
                      (b) != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},                         \
                     NASHMP_OUT(out, ldo),                                                     \
                     {(const void *)(pi_out), (ldpo),                                          \
                      (pi_out) != NULL ? NASHMP_ARR_OUT : NASHMP_ARR_UNUSED});                  \
        if ((st_ = nashmp_check_finite(a)) != NASHMP_OK ||                                     \
            (st_ = nashmp_check_finite(b)) != NASHMP_OK ||                                     \
            (st_ = nashmp_check_finite(c)) != NASHMP_OK)                                       \
            return st_;                                                                        \
    } while (0)

#endif /* NASHMP_OPERATORS_FUSED_H */
