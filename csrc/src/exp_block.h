/*
 * exp_block.h: math shared by the C kernels (and, later, CUDA kernels): a branch-free,
 * auto-vectorizable exp for double and float, and the online (max, sum) pair used by every
 * log-sum-exp style reduction.
 *
 * exp(x), x = n*ln2 + r, |r| <= ln2/2 (+ rounding):
 *   n  = round(x / ln2) with the 1.5*2^52 (1.5*2^23) shifter trick,
 *   r  = (x - n*ln2_hi) - n*ln2_lo (ln2_hi has trailing zero bits so n*ln2_hi is exact),
 *   e^r by a Taylor polynomial (degree 13 for double, 7 for float; truncation < 0.05 ulp),
 *   2^n = 2^n1 * 2^n2 with n1 = floor(n/2), each built from exponent bits, so that results down
 *   to the subnormal range (and overflow to +inf) come out right without branches.
 * x is clamped to [-1000, 1000] (float: [-110, 100]) first: -inf gives +0, +inf gives +inf.
 * A NaN argument gives an unspecified value (the clamps are written as max/min patterns that
 * drop NaN): every kernel detects NaN inputs itself, from its NaN-aware max or flags.
 *
 * Measured max error vs expl (long double), 1e8 random points per range + special cases
 * (GCC 12, Zen 3):
 *   double, normal results [-708.39, 709.78]:  1.03 ulp (x86-64-v3 clone, FMA), 1.01 ulp (baseline)
 *   double, subnormal results [-745.13, -708.39]: <= 1 ulp of the smallest subnormal
 *   float,  normal results [-87.33, 88.72]:     1.05 ulp (FMA), 1.03 ulp (baseline)
 *   float,  subnormal results: <= 0.75 ulp of the smallest subnormal
 * (Re-measure with csrc/tests or /tmp tools after any change to the constants.)
 */
#ifndef NASHMP_EXP_BLOCK_H
#define NASHMP_EXP_BLOCK_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Host+device marker: empty in C, __host__ __device__ under nvcc. */
#if defined(__CUDACC__)
#define NASHMP_HD __host__ __device__
#define NASHMP_HD_INLINE static __forceinline__ __host__ __device__
#elif defined(__GNUC__) || defined(__clang__)
#define NASHMP_HD
#define NASHMP_HD_INLINE static inline __attribute__((always_inline))
#else
#define NASHMP_HD
#define NASHMP_HD_INLINE static inline
#endif

#define NASHMP_INF_F64 ((double)INFINITY)
#define NASHMP_INF_F32 (INFINITY)
#define NASHMP_NAN_F64 ((double)NAN)

NASHMP_HD_INLINE uint64_t nashmp_as_u64(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
NASHMP_HD_INLINE double nashmp_as_f64(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}
NASHMP_HD_INLINE uint32_t nashmp_as_u32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
NASHMP_HD_INLINE float nashmp_as_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* exp(x) in double; see the header comment for the error bound. Branch-free. */
NASHMP_HD_INLINE double nashmp_exp_f64(double x)
{
    const double log2e = 0x1.71547652b82fep+0;
    const double ln2_hi = 0x1.62e42fee00000p-1; /* 32 significant bits: n*ln2_hi exact */
    const double ln2_lo = 0x1.a39ef35793c76p-33;
    const double shifter = 0x1.8p52;
    const uint64_t shifter_bits = 0x4338000000000000ull;
    double t, n, r, p;
    uint64_t u, u1, u2;

    /* clamp, written as max/min patterns; NaN -> unspecified (callers detect NaN). */
    x = x > -1000.0 ? x : -1000.0;
    x = x < 1000.0 ? x : 1000.0;
    t = x * log2e + shifter;
    n = t - shifter;
    r = x - n * ln2_hi;
    r = r - n * ln2_lo;
    /* Taylor degree 13: e^r = 1 + r + r^2 * q(r), q of degree 11 evaluated by Estrin's scheme
     * (short dependency chains, so that out-of-order execution overlaps iterations). */
    {
        const double r2 = r * r, r4 = r2 * r2;
        const double q01 = 0x1.5555555555555p-3 * r + 0.5;                   /* 1/3!, 1/2! */
        const double q23 = 0x1.1111111111111p-7 * r + 0x1.5555555555555p-5;  /* 1/5!, 1/4! */
        const double q45 = 0x1.a01a01a01a01ap-13 * r + 0x1.6c16c16c16c17p-10; /* 1/7!, 1/6! */
        const double q67 = 0x1.71de3a556c734p-19 * r + 0x1.a01a01a01a01ap-16; /* 1/9!, 1/8! */
        const double q89 = 0x1.ae64567f544e4p-26 * r + 0x1.27e4fb7789f5cp-22; /* 1/11!, 1/10! */
        const double qab = 0x1.6124613a86d09p-33 * r + 0x1.1eed8eff8d898p-29; /* 1/13!, 1/12! */
        const double q03 = q23 * r2 + q01, q47 = q67 * r2 + q45, q8b = qab * r2 + q89;
        p = (q8b * r4 + q47) * r4 + q03;
        p = p * r2 + r;
        p = p + 1.0;
    }
    /* 2^n = 2^n1 * 2^n2 with n1 = floor(n/2), |n1|, |n2| <= 722: both factors are normal.
     * u = n + 2048 >= 0 (the low bits of t hold n), so a logical shift halves it. */
    u = nashmp_as_u64(t) - shifter_bits + 2048u;
    u1 = u >> 1;     /* n1 + 1024 */
    u2 = u - u1;     /* n2 + 1024 */
    return (p * nashmp_as_f64((u1 - 1u) << 52)) * nashmp_as_f64((u2 - 1u) << 52);
}

/* exp(x) in float; see the header comment for the error bound. Branch-free. */
NASHMP_HD_INLINE float nashmp_exp_f32(float x)
{
    const float log2e = 0x1.715476p+0f;
    const float ln2_hi = 0x1.62e4p-1f; /* 16 significant bits: n*ln2_hi exact */
    const float ln2_lo = 0x1.7f7d1cp-20f;
    const float shifter = 0x1.8p23f;
    const uint32_t shifter_bits = 0x4b400000u;
    float t, n, r, p;
    uint32_t u, u1, u2;

    x = x > -110.0f ? x : -110.0f;
    x = x < 100.0f ? x : 100.0f;
    t = x * log2e + shifter;
    n = t - shifter;
    r = x - n * ln2_hi;
    r = r - n * ln2_lo;
    /* Taylor degree 7: e^r = 1 + r + r^2 * q(r), q by Estrin's scheme. */
    {
        const float r2 = r * r;
        const float q01 = 0x1.555556p-3f * r + 0.5f;          /* 1/3!, 1/2! */
        const float q23 = 0x1.111112p-7f * r + 0x1.555556p-5f; /* 1/5!, 1/4! */
        const float q45 = 0x1.a01a02p-13f * r + 0x1.6c16c2p-10f; /* 1/7!, 1/6! */
        p = (q45 * r2 + q23) * r2 + q01;
        p = p * r2 + r;
        p = p + 1.0f;
    }
    u = nashmp_as_u32(t) - shifter_bits + 256u; /* n + 256 >= 0 */
    u1 = u >> 1;                                 /* n1 + 128 */
    u2 = u - u1;                                 /* n2 + 128 */
    return (p * nashmp_as_f32((u1 - 1u) << 23)) * nashmp_as_f32((u2 - 1u) << 23);
}

/*
 * Reduced-range exp for reductions ("exp_red"): exp(x) for x <= 709.4 (float: 88.3), where the
 * caller knows x = value - (running max) <= 0 (or clamps, as kl does). Compared with
 * nashmp_exp_f64 it drops the clamps and the two-step subnormal scale, scales by adding n to the
 * exponent bits (no multiply), and uses a minimax polynomial of lower degree:
 *   - results below e^-708 = 3.3e-308 (x < -708.0; float: x < -86.9, e^-86.9 = 1.8e-38) are
 *     flushed to +0 with one compare and one AND; so are x = -inf and x = NaN (callers detect
 *     NaN themselves). In a log-sum-exp the largest term is exp(0) = 1, so each dropped term is
 *     < 3.3e-308 (float: 1.8e-38) relative to the sum: no effect on its rounding for any row
 *     length below 1e290 (float data, sums in double: 1e21). softmax outputs below these
 *     values are returned as 0 (true value subnormal);
 *   - x > 709.43 (float: 88.37) gives an unspecified value (the exponent field wraps);
 *   - e^r, |r| <= ln2/2 * (1 + 2^-20): 1 + r + r^2 q(r), q a minimax fit (Remez on the relative
 *     error of e^r) of total degree 11 for double, truncation <= 3.7e-18, and of degree 5 for
 *     float, truncation <= 1.05e-7; the double q is evaluated in pairs (c_k + c_{k+1} r) by
 *     Horner in r^2 (half the dependency chain of plain Horner; measured faster here).
 * Measured max error vs expl (long double), 1.05e8 random points split over [-708, 0], [-5, 5],
 * [-708, -707] and [0, 708] (float: [-86.9, 0], [-5, 5], [-86.9, -85.9], [0, 88]), GCC 12,
 * Zen 3, x86-64-v3 clone (FMA) and baseline clone: double <= 1.06 ulp; float <= 2.26 ulp,
 * relative <= 1.84e-7. Scalar and vector versions agree bitwise.
 * The polynomial is a macro so that the scalar functions below and the vector versions in
 * lse_block.h (GCC/Clang vector extensions, same expression) share it.
 */
#define NASHMP_EXPRED_MIN_F64 (-708.0)
#define NASHMP_EXPRED_MIN_F32 (-86.9f)
/* e^r - 1 - r = r^2 * q(r); R and R2 = R*R: double or vector-of-double operands. */
#define NASHMP_EXPRED_Q_F64(R, R2)                                                             \
    (((((((0x1.ad7f7af334b32p-26 * (R) + 0x1.28ad68b76411ap-22) * (R2) +                      \
          (0x1.71df253a4315cp-19 * (R) + 0x1.a0199a16ccef8p-16)) * (R2) +                     \
         (0x1.a01a012a69a31p-13 * (R) + 0x1.6c16c18426742p-10)) * (R2) +                      \
        (0x1.1111111127b9cp-7 * (R) + 0x1.555555555088cp-5)) * (R2) +                         \
       (0x1.55555555554fap-3 * (R) + 0x1.000000000000ap-1))))
#define NASHMP_EXPRED_Q_F32(R, R2)                                                             \
    (((0x1.106284p-7f * (R) + 0x1.5729f0p-5f) * (R) + 0x1.5557aep-3f) * (R) + 0x1.fffdfcp-2f)

/* exp_red in double (scalar; the vector version is nashmp_vexp_red_f64 in lse_block.h). */
NASHMP_HD_INLINE double nashmp_exp_red_f64(double x)
{
    const double t = x * 0x1.71547652b82fep+0 + 0x1.8p52; /* low bits: n = round(x/ln2) */
    const double n = t - 0x1.8p52;
    double r = x - n * 0x1.62e42fee00000p-1; /* ln2_hi: 32 bits, n*ln2_hi exact */
    double r2, p;
    r = r - n * 0x1.a39ef35793c76p-33;       /* ln2_lo */
    r2 = r * r;
    p = (r2 * NASHMP_EXPRED_Q_F64(r, r2) + r) + 1.0;
    /* times 2^n: add n (low bits of t) to the exponent field; p in [0.7, 1.42] and
     * -1021 <= n <= 1023 keep the result normal (x >= NASHMP_EXPRED_MIN_F64). */
    p = nashmp_as_f64(nashmp_as_u64(p) + (nashmp_as_u64(t) << 52));
    return x >= NASHMP_EXPRED_MIN_F64 ? p : 0.0;
}

NASHMP_HD_INLINE float nashmp_exp_red_f32(float x)
{
    const float t = x * 0x1.715476p+0f + 0x1.8p23f;
    const float n = t - 0x1.8p23f;
    float r = x - n * 0x1.62e4p-1f, r2, p;
    r = r - n * 0x1.7f7d1cp-20f;
    r2 = r * r;
    p = (r2 * NASHMP_EXPRED_Q_F32(r, r2) + r) + 1.0f;
    p = nashmp_as_f32(nashmp_as_u32(p) + (nashmp_as_u32(t) << 23)); /* -125 <= n <= 127 */
    return x >= NASHMP_EXPRED_MIN_F32 ? p : 0.0f;
}

/*
 * log(x) for a positive normal x (the sum s >= 1 of a log-sum-exp), inline so that the per-row
 * log of short rows costs no libm call: x = 2^e f with f in [sqrt(1/2), sqrt(2)),
 * log f = 2 atanh(q) = 2q + q^3 P(q^2), q = (f - 1)/(f + 1), |q| <= 0.1716, P the Taylor series
 * 2/3, 2/5, ..., 2/21 (truncation < 2.5e-17 relative), e ln2 in two parts.
 * Measured max error vs logl (1e8 points on [1, 2] and [1, 2^50], GCC 12, both clones):
 * 1.98 ulp (near x = 1), absolute <= 3.7e-15.
 * Not for 0, subnormals, inf or NaN (callers pass s >= 1).
 */
NASHMP_HD_INLINE double nashmp_log_pos_f64(double x)
{
    const uint64_t u = nashmp_as_u64(x);
    /* e = exponent of x / sqrt(1/2), so that f = x / 2^e lands in [sqrt(1/2), sqrt(2)) */
    const int64_t e = (int64_t)(u - 0x3fe6a09e667f3bcdull) >> 52;
    const double f = nashmp_as_f64(u - ((uint64_t)e << 52));
    const double a = f - 1.0; /* exact */
    const double q = a / (f + 1.0), z = q * q, de = (double)e;
    const double z2 = z * z;
    /* P(z) = sum_{i=0..9} 2/(2i+3) z^i, in pairs (c_i + c_{i+1} z), Horner in z^2 */
    const double p01 = 0x1.999999999999ap-2 * z + 0x1.5555555555555p-1;  /* 2/5, 2/3 */
    const double p23 = 0x1.c71c71c71c71cp-3 * z + 0x1.2492492492492p-2;  /* 2/9, 2/7 */
    const double p45 = 0x1.3b13b13b13b14p-3 * z + 0x1.745d1745d1746p-3; /* 2/13, 2/11 */
    const double p67 = 0x1.e1e1e1e1e1e1ep-4 * z + 0x1.1111111111111p-3; /* 2/17, 2/15 */
    const double p89 = 0x1.8618618618618p-4 * z + 0x1.af286bca1af28p-4; /* 2/21, 2/19 */
    const double p = (((p89 * z2 + p67) * z2 + p45) * z2 + p23) * z2 + p01;
    const double lf = 2.0 * q + q * z * p; /* log f */
    /* ln2_hi (n * ln2_hi exact for |e| < 2^21), ln2_lo */
    return de * 0x1.62e42fee00000p-1 + (de * 0x1.a39ef35793c76p-33 + lf);
}

/*
 * Online log-sum-exp state: the pair (m, s) stands for log(s) + m = log(sum exp(x_j)) over the
 * elements seen so far, with m = max x_j (m = -inf, s = 0 for "nothing yet / all -inf").
 * A NaN m marks an invalid input (NaN or +inf) and is sticky through merges.
 */
typedef struct {
    double m;
    double s;
} nashmp_ms;

NASHMP_HD_INLINE nashmp_ms nashmp_ms_init(void)
{
    nashmp_ms r;
    r.m = -NASHMP_INF_F64;
    r.s = 0.0;
    return r;
}

/* Associative (up to rounding) and commutative merge of two partial states. */
NASHMP_HD_INLINE nashmp_ms nashmp_ms_merge(nashmp_ms a, nashmp_ms b)
{
    nashmp_ms hi = a.m >= b.m ? a : b, lo = a.m >= b.m ? b : a;
    if (a.m != a.m || b.m != b.m) {
        hi.m = hi.s = a.m != a.m ? a.m : b.m;
        return hi;
    }
    if (lo.m == -NASHMP_INF_F64) /* nothing to add (also covers both -inf) */
        return hi;
    hi.s += lo.s * nashmp_exp_f64(lo.m - hi.m);
    return hi;
}

/* Adds a block whose maximum is `bm` (may be NaN: sticky) and whose sum of exp(x - new max) is
 * computed by the caller after this rescale; returns the new running max. Used as:
 *   m_new = nashmp_ms_rescale(&st, bm); if (m_new > -inf) st.s += sum exp(x - m_new). */
NASHMP_HD_INLINE double nashmp_ms_rescale(nashmp_ms *st, double bm)
{
    if (!(bm <= st->m)) { /* bm > m, or NaN */
        if (bm != bm || st->m != st->m) {
            st->m = st->s = bm != bm ? bm : st->m;
            return st->m;
        }
        if (st->s != 0.0) /* s = 0 (nothing yet, m = -inf): skip a full exp per row */
            st->s *= nashmp_exp_f64(st->m - bm);
        st->m = bm;
    }
    return st->m;
}

#endif /* NASHMP_EXP_BLOCK_H */
