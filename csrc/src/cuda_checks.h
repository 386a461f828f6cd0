/*
 * cuda_checks.h: the host-side argument checks of the nashmp_cuda_* entry points, shared by the
 * CUDA build (the .cu files in csrc/cuda) and the CPU build's stubs (cuda_stubs.c), so both answer a bad
 * argument with the same status. Only pointers, sizes and strides are checked here (device
 * arrays are not read); scalars with nashmp_check_finite. Not installed.
 */
#ifndef NASHMP_CUDA_CHECKS_H
#define NASHMP_CUDA_CHECKS_H

#include "common.h"

/* logsumexp, span: x (batch x k, ldx), out (batch). */
static inline int nashmp_cuchk_reduce(const void *x, int64_t batch, int64_t k, int64_t ldx,
                                      const void *out, size_t el)
{
    const nashmp_arr a[] = {NASHMP_IN(x, ldx), NASHMP_OUT1(out)};
    return nashmp_check_args(batch, k, el, 2, a);
}

/* log_softmax, softmax, and the operators' apply: x (ldx), out (ldo). */
static inline int nashmp_cuchk_rowmap(const void *x, int64_t batch, int64_t k, int64_t ldx,
                                      const void *out, int64_t ldo, size_t el)
{
    const nashmp_arr a[] = {NASHMP_IN(x, ldx), NASHMP_OUT(out, ldo)};
    return nashmp_check_args(batch, k, el, 2, a);
}

static inline int nashmp_cuchk_kl(const void *p, int64_t ldp, const void *q, int64_t ldq,
                                  int64_t batch, int64_t k, const void *out, size_t el)
{
    const nashmp_arr a[] = {NASHMP_IN(p, ldp), NASHMP_IN(q, ldq), NASHMP_OUT1(out)};
    return nashmp_check_args(batch, k, el, 3, a);
}

static inline int nashmp_cuchk_pref(const void *P, int64_t ldP, const void *pi, int64_t ldpi,
                                    int64_t batch, int64_t k, const void *out, int64_t ldo,
                                    size_t el)
{
    const nashmp_arr a[] = {{P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE}, NASHMP_IN(pi, ldpi),
                            NASHMP_OUT(out, ldo)};
    const int st = nashmp_check_args(batch, k, el, 3, a);
    return st != NASHMP_OK ? st : nashmp_pref_overlap(P, ldP, pi, ldpi, batch, k, out, ldo, el);
}

static inline int nashmp_cuchk_mirror(const void *lp, int64_t ldpi, const void *lr,
                                      int64_t ldref, const void *g, int64_t ldg, int64_t batch,
                                      int64_t k, double ca, double cb, double cc,
                                      const void *out, int64_t ldo, size_t el)
{
    int st;
    const nashmp_arr a[] = {{lp, ldpi, ca != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},
                            {lr, ldref, cb != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},
                            {g, ldg, cc != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},
                            NASHMP_OUT(out, ldo)};
    st = nashmp_check_args(batch, k, el, 4, a);
    if (st != NASHMP_OK)
        return st;
    if (nashmp_check_finite(ca) || nashmp_check_finite(cb) || nashmp_check_finite(cc))
        return NASHMP_ERR_INVALID_VALUE;
    return NASHMP_OK;
}

/* Embedding operator: E (K x d), R (d x d), pi and out (batch x K, contiguous). */
static inline int nashmp_cuchk_embed(const void *E, const void *R, const void *pi,
                                     int64_t batch, int64_t K, int64_t d, const void *out,
                                     size_t el)
{
    int64_t t;
    int st;
    const nashmp_arr a[] = {NASHMP_IN(pi, K), NASHMP_OUT(out, K)};
    if (E == NULL || R == NULL)
        return NASHMP_ERR_NULL_POINTER;
    st = nashmp_check_args(batch, K, el, 2, a);
    if (st != NASHMP_OK)
        return st;
    if (d < 1)
        return NASHMP_ERR_INVALID_SIZE;
    if (nashmp_mul_ovf(K, d, &t) || nashmp_mul_ovf(d, d, &t) ||
        (uint64_t)K * (uint64_t)d > (uint64_t)PTRDIFF_MAX / el ||
        (uint64_t)d * (uint64_t)d > (uint64_t)PTRDIFF_MAX / el)
        return NASHMP_ERR_OVERFLOW;
    return NASHMP_OK;
}

/* Operators' fused prox step (every vector double): pi_g (ldpg), log_pi / log_ref (read when
 * a / b != 0, NULL allowed otherwise), out (ldo), pi_out (ldpo; NULL: not written) and finite
 * coefficients; the checks of the CPU nashmp_*_mirror_step_* (operators_fused.h). */
static inline int nashmp_cuchk_opstep(int64_t batch, int64_t k, const void *pg, int64_t ldpg,
                                      const void *lp, int64_t ldpi, const void *lr,
                                      int64_t ldref, const void *out, int64_t ldo,
                                      const void *po, int64_t ldpo, double ca, double cb,
                                      double cc)
{
    int st;
    const nashmp_arr a[] = {NASHMP_IN(pg, ldpg),
                            {lp, ldpi, ca != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},
                            {lr, ldref, cb != 0.0 ? NASHMP_ARR_IN : NASHMP_ARR_UNUSED},
                            NASHMP_OUT(out, ldo),
                            {po, ldpo, po != NULL ? NASHMP_ARR_OUT : NASHMP_ARR_UNUSED}};
    st = nashmp_check_args(batch, k, sizeof(double), 5, a);
    if (st != NASHMP_OK)
        return st;
    if (nashmp_check_finite(ca) || nashmp_check_finite(cb) || nashmp_check_finite(cc))
        return NASHMP_ERR_INVALID_VALUE;
    return NASHMP_OK;
}

/* Low-rank factors: U and V k x r with row stride ldf >= r (as nashmp_lowrank_apply_*). */
static inline int nashmp_cuchk_lowrank(const void *U, const void *V, int64_t ldf, int64_t r,
                                       int64_t k, size_t el)
{
    int64_t ext;
    if (U == NULL || V == NULL)
        return NASHMP_ERR_NULL_POINTER;
    if (r < 1 || k < 1)
        return NASHMP_ERR_INVALID_SIZE;
    if (ldf < r)
        return NASHMP_ERR_INVALID_STRIDE;
    if (nashmp_mul_ovf(k - 1, ldf, &ext) || nashmp_add_ovf(ext, r, &ext) ||
        (uint64_t)ext > (uint64_t)PTRDIFF_MAX / el)
        return NASHMP_ERR_OVERFLOW;
    return NASHMP_OK;
}

/* Bradley-Terry scores: k values. */
static inline int nashmp_cuchk_scores(const void *scores, int64_t k, size_t el)
{
    if (scores == NULL)
        return NASHMP_ERR_NULL_POINTER;
    if (k < 1)
        return NASHMP_ERR_INVALID_SIZE;
    if ((uint64_t)k > (uint64_t)PTRDIFF_MAX / el)
        return NASHMP_ERR_OVERFLOW;
    return NASHMP_OK;
}

/* Packed strict upper triangle: k(k-1)/2 values (Pu may be NULL when k == 1). */
static inline int nashmp_cuchk_packed(const void *Pu, int64_t k, size_t el)
{
    int64_t n;
    if (Pu == NULL && k > 1)
        return NASHMP_ERR_NULL_POINTER;
    if (k < 1)
        return NASHMP_ERR_INVALID_SIZE;
    if (nashmp_mul_ovf(k, k, &n) || (uint64_t)n > (uint64_t)PTRDIFF_MAX / el)
        return NASHMP_ERR_OVERFLOW;
    return NASHMP_OK;
}

/* Dense solver: pointers, sizes, strides and scalars (the device arrays beta, eta, iter and
 * active are checked by the CUDA build after copying them to the host). */
static inline int nashmp_cuchk_solve(const void *P, int64_t ldP, const void *lr, int64_t ldref,
                                     const void *beta, const void *eta, int64_t batch, int64_t k,
                                     int method, int64_t max_iter, int64_t check_every,
                                     double tol, const void *lpi, int64_t ldpi,
                                     const void *state, int64_t ldst, const void *iter,
                                     const void *nq, const void *expl, const void *active,
                                     size_t el)
{
    int st, use_state;
    if (method < NASHMP_METHOD_NASH_MP || method > NASHMP_METHOD_SPPO)
        return NASHMP_ERR_INVALID_VALUE;
    use_state = method == NASHMP_METHOD_OMWU || method == NASHMP_METHOD_SPPO;
    {
        const nashmp_arr a[] = {{P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE},
                                NASHMP_IN(lr, ldref),
                                {beta, 1, NASHMP_ARR_IN | NASHMP_ARR_ONE},
                                {eta, 1, NASHMP_ARR_IN | NASHMP_ARR_ONE},
                                NASHMP_OUT(lpi, ldpi),
                                {state, ldst,
                                 use_state ? NASHMP_ARR_OUT : NASHMP_ARR_OUT | NASHMP_ARR_UNUSED},
                                NASHMP_OUT1(iter), NASHMP_OUT1(nq), NASHMP_OUT1(expl),
                                NASHMP_OUT1(active)};
        /* P's extent is checked in elements of its own type; the rest are 8-byte arrays */
        st = nashmp_check_args(batch, k, el > 8 ? el : 8, 10, a);
    }
    if (st != NASHMP_OK)
        return st;
    if (max_iter < 0 || check_every < 1 || tol != tol)
        return NASHMP_ERR_INVALID_VALUE;
    return NASHMP_OK;
}

static inline int nashmp_cuchk_expl(const void *P, int64_t ldP, const void *lpi, int64_t ldpi,
                                    const void *lr, int64_t ldref, const void *beta,
                                    int64_t batch, int64_t k, const void *out)
{
    const nashmp_arr a[] = {{P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE}, NASHMP_IN(lpi, ldpi),
                            NASHMP_IN(lr, ldref), {beta, 1, NASHMP_ARR_IN | NASHMP_ARR_ONE},
                            NASHMP_OUT1(out)};
    return nashmp_check_args(batch, k, 8, 5, a);
}

#endif /* NASHMP_CUDA_CHECKS_H */
