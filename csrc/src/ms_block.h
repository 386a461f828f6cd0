/*
 * ms_block.h: the row math of the CUDA kernels, written once as host+device inline helpers so
 * that a plain C compiler (the CPU tests, csrc/tests/test_cuda_stubs.c) runs exactly the code
 * that nvcc puts in the kernels.
 *
 *  - nashmp_msb: the online log-sum-exp state (m, s), standing for m + log(s) =
 *    log(sum exp(x_j)) over the values seen so far, with m their maximum (m = -inf, s = 0 for
 *    "nothing yet" or all -inf). A NaN m marks an invalid input (NaN or +inf) and is sticky.
 *    push() folds in one value, merge() combines two states (associative and commutative up to
 *    rounding), so the same state serves a thread's strided slice, a warp shuffle tree and a
 *    block's shared-memory combine: the same (max, sum) merge as the CPU kernels (exp_block.h).
 *  - KL term, mirror-step z, the logistic function, the packed-triangle index, and the
 *    per-method coefficients of the dense solver (same formulas as nashmp/_methods.py and
 *    csrc/src/solvers.c).
 *
 * Only <math.h>: exp/log/log1p are the C library's on the host and CUDA's (<= 1 ulp in double,
 * <= 2 ulp in float) on the device. Self-contained on purpose: it does not include the CPU kernel
 * headers (exp_block.h, lse_block.h), whose vector code is host only.
 */
#ifndef NASHMP_MS_BLOCK_H
#define NASHMP_MS_BLOCK_H

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define NASHMP_MSB_HD static __forceinline__ __host__ __device__
#elif defined(__GNUC__) || defined(__clang__)
#define NASHMP_MSB_HD static inline __attribute__((always_inline))
#else
#define NASHMP_MSB_HD static inline
#endif

#define NASHMP_MSB_INF ((double)INFINITY)
#define NASHMP_MSB_NAN ((double)NAN)

typedef struct {
    double m;
    double s;
} nashmp_msb;

NASHMP_MSB_HD nashmp_msb nashmp_msb_init(void)
{
    nashmp_msb r;
    r.m = -NASHMP_MSB_INF;
    r.s = 0.0;
    return r;
}

/* 1 when v is NaN or +inf (an invalid entry of a log-space input). */
NASHMP_MSB_HD int nashmp_msb_bad(double v)
{
    return !(v < NASHMP_MSB_INF);
}

/* Folds one value into the state. -inf adds nothing; NaN or +inf poisons the state (m = NaN). */
NASHMP_MSB_HD void nashmp_msb_push(nashmp_msb *st, double v)
{
    if (st->m != st->m)
        return;                               /* already invalid: sticky */
    if (nashmp_msb_bad(v)) {
        st->m = st->s = NASHMP_MSB_NAN;
        return;
    }
    if (v > st->m) {                          /* new max; m = -inf first: s = 0 * 0 + 1 */
        st->s = st->s * exp(st->m - v) + 1.0;
        st->m = v;
    } else if (v != -NASHMP_MSB_INF) {        /* v <= m, m finite */
        st->s += exp(v - st->m);
    }
}

/* Combines two partial states. */
NASHMP_MSB_HD nashmp_msb nashmp_msb_merge(nashmp_msb a, nashmp_msb b)
{
    nashmp_msb hi, lo;
    if (a.m != a.m)
        return a;
    if (b.m != b.m)
        return b;
    hi = a.m >= b.m ? a : b;
    lo = a.m >= b.m ? b : a;
    if (lo.m == -NASHMP_MSB_INF)              /* nothing to add (covers both -inf) */
        return hi;
    hi.s += lo.s * exp(lo.m - hi.m);
    return hi;
}

/* log(sum exp) of the state: -inf when empty, NaN when invalid. */
NASHMP_MSB_HD double nashmp_msb_lse(nashmp_msb st)
{
    if (st.m != st.m)
        return NASHMP_MSB_NAN;
    if (st.m == -NASHMP_MSB_INF)
        return -NASHMP_MSB_INF;
    return st.m + log(st.s);
}

/* One term of KL(p || q) from log-probabilities: 0 for lp = -inf, +inf for lq = -inf < lp,
 * NaN when either input is NaN or +inf (poisons the row sum). */
NASHMP_MSB_HD double nashmp_kl_term(double lp, double lq)
{
    if (nashmp_msb_bad(lp) || nashmp_msb_bad(lq))
        return NASHMP_MSB_NAN;
    if (lp == -NASHMP_MSB_INF)
        return 0.0;
    if (lq == -NASHMP_MSB_INF)
        return NASHMP_MSB_INF;
    return exp(lp) * (lp - lq);
}

/* z = a*lp + b*lr + c*g with zero-coefficient terms skipped (not read: pass 0 for them);
 * *bad |= 1 when a term read is NaN or +inf. z itself may then be anything. */
NASHMP_MSB_HD double nashmp_mirror_z(double a, double lp, double b, double lr, double c, double g,
                                     int *bad)
{
    double z = 0.0;
    if (a != 0.0) {
        *bad |= nashmp_msb_bad(lp);
        z = a * lp;
    }
    if (b != 0.0) {
        *bad |= nashmp_msb_bad(lr);
        z += b * lr;
    }
    if (c != 0.0) {
        *bad |= nashmp_msb_bad(g);
        z += c * g;
    }
    return z;
}

/* Logistic function 1 / (1 + exp(-t)), without overflow warnings for large |t|. */
NASHMP_MSB_HD double nashmp_sigmoid(double t)
{
    if (t >= 0.0)
        return 1.0 / (1.0 + exp(-t));
    {
        double e = exp(t);
        return e / (1.0 + e);
    }
}

/* log(exp(x) + exp(y)) for x, y < +inf (the SPPO running sum of iterates). */
NASHMP_MSB_HD double nashmp_logaddexp(double x, double y)
{
    double mx = x > y ? x : y, mn = x > y ? y : x;
    return mx > -NASHMP_MSB_INF ? mx + log1p(exp(mn - mx)) : mx;
}

/* Start of row i (its P[i, i + 1]) in the packed strict upper triangle, stored row by row
 * (k(k-1)/2 values, the layout of nashmp_packed_apply_* and nashmp_solve_packed_*). */
NASHMP_MSB_HD int64_t nashmp_packed_row(int64_t i, int64_t k)
{
    return i * k - i * (i + 1) / 2;
}

/* Position of P[i, j] (0 <= i < j < k) in that triangle. */
NASHMP_MSB_HD int64_t nashmp_packed_index(int64_t i, int64_t j, int64_t k)
{
    return nashmp_packed_row(i, k) + (j - i - 1);
}

/* Coefficients (a, b, c) and Nash-MD's mixing weight s of an update at iteration t
 * (enum nashmp_method ids; used by solvers.c and the CUDA solver; same formulas as
 * nashmp/_methods.py). */
NASHMP_MSB_HD void nashmp_method_coefficients(int method, double beta, double eta, int64_t t,
                                              double *a, double *b, double *c, double *s)
{
    *s = 0.0;
    if (method == 0 || method == 3) {         /* nash_mp, mmd */
        *a = 1.0 / (1.0 + eta * beta);
        *b = 1.0 - *a;
        *c = eta * *a;
    } else if (method == 1) {                 /* nash_md */
        double e = 2.0 / (beta * ((double)t + 2.0));
        *s = e * beta;
        *a = 1.0 - *s;
        *b = *s;
        *c = e;
    } else if (method == 6) {                 /* sppo */
        *a = 1.0;
        *b = 0.0;
        *c = eta;
    } else {                                  /* omd, omwu, extragradient */
        *a = 1.0 - eta * beta;
        *b = eta * beta;
        *c = eta;
    }
}

#endif /* NASHMP_MS_BLOCK_H */
