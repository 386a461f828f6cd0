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
 * nashmp_exp_f64 it drops the clamps and the two-step subnormal scale, scales by adding to the
 * exponent bits (no multiply), and uses a much shorter polynomial:
 *   - results below e^-708 = 3.3e-308 (x < -708.0; float: x < -86.9, e^-86.9 = 1.8e-38) are
 *     flushed to +0 with one compare and one AND; so are x = -inf and x = NaN (callers detect
 *     NaN themselves). In a log-sum-exp the largest term is exp(0) = 1, so each dropped term is
 *     < 3.3e-308 (float: 1.8e-38) relative to the sum: no effect on its rounding for any row
 *     length below 1e290 (float data, sums in double: 1e21). softmax outputs below these
 *     values are returned as 0 (true value subnormal);
 *   - x > 709.43 (float: 88.37) gives an unspecified value (the exponent field wraps).
 * double: table-driven. x = (256 k + j) ln2/256 + r, n = 256 k + j = round(x 256/ln2) (shifter
 *   trick: n sits in the low bits of t), r = x - n ln2/256 in two steps (hi part with 29
 *   significant bits, so n * hi is exact for |n| < 2^21), |r| <= ln2/512 * (1 + 2^-40).
 *   exp(x) = 2^k T_j (1 + p), T_j = 2^(j/256) rounded to double, 1 + p = e^r with
 *   p = r + r^2 (c2 + c3 r + c4 r^2): degree 4, relative truncation error <= 5.0e-18 on that
 *   interval (0.05 ulp). The table stores bits(T_j) - (j << 44), so that adding t's bits shifted
 *   left by 44 (= (k << 52) + (j << 44) mod 2^64) yields bits(2^k T_j) with one shift and one
 *   integer add (no split of n into k and j). The coefficients c2..c4 were fitted here (not
 *   taken from any library): discrete minimax of the relative error of 1 + r + r^2 q(r) against
 *   mpmath's exp on 400 Chebyshev points of [-1.0001 ln2/512, +1.0001 ln2/512], by iteratively
 *   reweighted least squares in 200-bit precision, then rounded to double; the table is
 *   mpmath's 2^(j/256) rounded to nearest. Error budget: T_j rounding 0.5 ulp, final FMA
 *   (2^k T_j) p + 2^k T_j 0.5 ulp, polynomial and reduction < 0.05 ulp (was: degree-11
 *   minimax without table, 14 multiply-adds; now 8 and one table load per element).
 * float: the same scheme with an 8-entry table (one 256-bit register, so the lookup is one
 *   vpermps): n = 8 k + j = round(x 8/ln2), |r| <= ln2/16 * (1 + 2^-20), table entries
 *   bits(2^(j/8)) - (j << 20), exp(x) = s + (s r) P(r) with s = 2^k T_j and
 *   P(r) = 1 + c2 r + c3 r^2 (e^r = 1 + r P(r)): relative truncation <= 2.6e-8 (0.43 ulp),
 *   coefficients fitted the same way on [-1.001 ln2/16, 1.001 ln2/16] and rounded to float.
 * Measured max error vs expl (long double): 4e7 random points split over [-708, 0], [-5, 5],
 * [-708, -707] and [0, 708] (float: [-86.9, 0], [-5, 5], [-86.9, -85.9], [0, 88]) in a /tmp
 * harness, GCC 12, Zen 3; csrc/tests/test_kernels.c (test_exp_red) re-checks the bounds on
 * 2e5 points per range for both code paths at every ctest run:
 *   double, x86-64-v3 clone (FMA): <= 1.039 ulp (analysis: 0.5 table + 0.5 final + < 0.05);
 *   double, baseline clone: <= 1.037 ulp for x >= -700; <= 1.29 ulp for -708 <= x < -700
 *     (results below 2^-1010: without FMA the product (2^k T_j) p is rounded on its own and
 *     falls in the subnormal range);
 *   float, both clones: <= 1.60 ulp (was 2.26 with the table-free degree-5 polynomial);
 *   documented (and tested) bounds: double 1.05 ulp (1.3 near underflow, baseline), float 1.6.
 * Scalar and vector versions agree bitwise.
 * The polynomials are macros so that the scalar functions below and the vector versions in
 * lse_block.h (GCC/Clang vector extensions, same expression) share them.
 */
#define NASHMP_EXPRED_MIN_F64 (-708.0)
#define NASHMP_EXPRED_MIN_F32 (-86.9f)
/* double: 256/ln2, ln2/256 in two parts, table shift */
#define NASHMP_EXPRED_INVL_F64 0x1.71547652b82fep+8
#define NASHMP_EXPRED_L_HI_F64 0x1.62e42ff000000p-9 /* 29 significant bits */
#define NASHMP_EXPRED_L_LO_F64 -0x1.718432a1b0e26p-43
/* e^r - 1 = r + r^2 q(r) = NASHMP_EXPRED_P_F64(R, R2); R and R2 = R*R: double or vector */
#define NASHMP_EXPRED_P_F64(R, R2)                                                             \
    ((R2) * (0x1.555552100b369p-5 * (R2) + (0x1.5555571d835b8p-3 * (R) + 0x1.000000000006ep-1)) + \
     (R))
/* bits(2^(j/256)) - (j << 44), j = 0..255. Host memory: nashmp_exp_red_f64 is host-only (the
 * CUDA kernels use csrc/cuda/ms_block.h); device code would need a __constant__ copy. */
static const uint64_t nashmp_expred_tab_f64[256] = {
    0x3ff0000000000000ull, 0x3feffb1afa5abcbfull, 0x3feff63da9fb3335ull, 0x3feff168143b0281ull,
    0x3fefec9a3e778061ull, 0x3fefe7d42e11bbccull, 0x3fefe315e86e7f85ull, 0x3fefde5f72f654b1ull,
    0x3fefd9b0d3158574ull, 0x3fefd50a0e3c1f89ull, 0x3fefd06b29ddf6deull, 0x3fefcbd42b72a836ull,
    0x3fefc74518759bc8ull, 0x3fefc2bdf66607e0ull, 0x3fefbe3ecac6f383ull, 0x3fefb9c79b1f3919ull,
    0x3fefb5586cf9890full, 0x3fefb0f145e46c85ull, 0x3fefac922b7247f7ull, 0x3fefa83b23395decull,
    0x3fefa3ec32d3d1a2ull, 0x3fef9fa55fdfa9c5ull, 0x3fef9b66affed31bull, 0x3fef973028d7233eull,
    0x3fef9301d0125b51ull, 0x3fef8edbab5e2ab6ull, 0x3fef8abdc06c31ccull, 0x3fef86a814f204abull,
    0x3fef829aaea92de0ull, 0x3fef7e95934f312eull, 0x3fef7a98c8a58e51ull, 0x3fef76a45471c3c2ull,
    0x3fef72b83c7d517bull, 0x3fef6ed48695bbc0ull, 0x3fef6af9388c8deaull, 0x3fef672658375d2full,
    0x3fef635beb6fcb75ull, 0x3fef5f99f8138a1cull, 0x3fef5be084045cd4ull, 0x3fef582f95281c6bull,
    0x3fef54873168b9aaull, 0x3fef50e75eb44027ull, 0x3fef4d5022fcd91dull, 0x3fef49c18438ce4dull,
    0x3fef463b88628cd6ull, 0x3fef42be3578a819ull, 0x3fef3f49917ddc96ull, 0x3fef3bdda27912d1ull,
    0x3fef387a6e756238ull, 0x3fef351ffb82140aull, 0x3fef31ce4fb2a63full, 0x3fef2e85711ece75ull,
    0x3fef2b4565e27cddull, 0x3fef280e341ddf29ull, 0x3fef24dfe1f56381ull, 0x3fef21ba7591bb70ull,
    0x3fef1e9df51fdee1ull, 0x3fef1b8a66d10f13ull, 0x3fef187fd0dad990ull, 0x3fef157e39771b2full,
    0x3fef1285a6e4030bull, 0x3fef0f961f641589ull, 0x3fef0cafa93e2f56ull, 0x3fef09d24abd886bull,
    0x3fef06fe0a31b715ull, 0x3fef0432edeeb2fdull, 0x3fef0170fc4cd831ull, 0x3feefeb83ba8ea32ull,
    0x3feefc08b26416ffull, 0x3feef96266e3fa2dull, 0x3feef6c55f929ff1ull, 0x3feef431a2de883bull,
    0x3feef1a7373aa9cbull, 0x3feeef26231e754aull, 0x3feeecae6d05d866ull, 0x3feeea401b7140efull,
    0x3feee7db34e59ff7ull, 0x3feee57fbfec6cf4ull, 0x3feee32dc313a8e5ull, 0x3feee0e544ede173ull,
    0x3feedea64c123422ull, 0x3feedc70df1c5175ull, 0x3feeda4504ac801cull, 0x3feed822c367a024ull,
    0x3feed60a21f72e2aull, 0x3feed3fb2709468aull, 0x3feed1f5d950a897ull, 0x3feecffa3f84b9d4ull,
    0x3feece086061892dull, 0x3feecc2042a7d232ull, 0x3feeca41ed1d0057ull, 0x3feec86d668b3237ull,
    0x3feec6a2b5c13cd0ull, 0x3feec4e1e192aed2ull, 0x3feec32af0d7d3deull, 0x3feec17dea6db7d7ull,
    0x3feebfdad5362a27ull, 0x3feebe41b817c114ull, 0x3feebcb299fddd0dull, 0x3feebb2d81d8abffull,
    0x3feeb9b2769d2ca7ull, 0x3feeb8417f4531eeull, 0x3feeb6daa2cf6642ull, 0x3feeb57de83f4eefull,
    0x3feeb42b569d4f82ull, 0x3feeb2e2f4f6ad27ull, 0x3feeb1a4ca5d920full, 0x3feeb070dde910d2ull,
    0x3feeaf4736b527daull, 0x3feeae27dbe2c4cfull, 0x3feead12d497c7fdull, 0x3feeac0827ff07ccull,
    0x3feeab07dd485429ull, 0x3feeaa11fba87a03ull, 0x3feea9268a5946b7ull, 0x3feea84590998b93ull,
    0x3feea76f15ad2148ull, 0x3feea6a320dceb71ull, 0x3feea5e1b976dc09ull, 0x3feea52ae6cdf6f4ull,
    0x3feea47eb03a5585ull, 0x3feea3dd1d1929fdull, 0x3feea34634ccc320ull, 0x3feea2b9febc8fb7ull,
    0x3feea23882552225ull, 0x3feea1c1c70833f6ull, 0x3feea155d44ca973ull, 0x3feea0f4b19e9538ull,
    0x3feea09e667f3bcdull, 0x3feea052fa75173eull, 0x3feea012750bdabfull, 0x3fee9fdcddd47645ull,
    0x3fee9fb23c651a2full, 0x3fee9f9298593ae5ull, 0x3fee9f7df9519484ull, 0x3fee9f7466f42e87ull,
    0x3fee9f75e8ec5f74ull, 0x3fee9f8286ead08aull, 0x3fee9f9a48a58174ull, 0x3fee9fbd35d7cbfdull,
    0x3fee9feb564267c9ull, 0x3feea024b1ab6e09ull, 0x3feea0694fde5d3full, 0x3feea0b938ac1cf6ull,
    0x3feea11473eb0187ull, 0x3feea17b0976cfdbull, 0x3feea1ed0130c132ull, 0x3feea26a62ff86f0ull,
    0x3feea2f336cf4e62ull, 0x3feea3878491c491ull, 0x3feea427543e1a12ull, 0x3feea4d2add106d9ull,
    0x3feea589994cce13ull, 0x3feea64c1eb941f7ull, 0x3feea71a4623c7adull, 0x3feea7f4179f5b21ull,
    0x3feea8d99b4492edull, 0x3feea9cad931a436ull, 0x3feeaac7d98a6699ull, 0x3feeabd0a478580full,
    0x3feeace5422aa0dbull, 0x3feeae05bad61778ull, 0x3feeaf3216b5448cull, 0x3feeb06a5e0866d9ull,
    0x3feeb1ae99157736ull, 0x3feeb2fed0282c8aull, 0x3feeb45b0b91ffc6ull, 0x3feeb5c353aa2fe2ull,
    0x3feeb737b0cdc5e5ull, 0x3feeb8b82b5f98e5ull, 0x3feeba44cbc8520full, 0x3feebbdd9a7670b3ull,
    0x3feebd829fde4e50ull, 0x3feebf33e47a22a2ull, 0x3feec0f170ca07baull, 0x3feec2bb4d53fe0dull,
    0x3feec49182a3f090ull, 0x3feec674194bb8d5ull, 0x3feec86319e32323ull, 0x3feeca5e8d07f29eull,
    0x3feecc667b5de565ull, 0x3feece7aed8eb8bbull, 0x3feed09bec4a2d33ull, 0x3feed2c980460ad8ull,
    0x3feed503b23e255dull, 0x3feed74a8af46052ull, 0x3feed99e1330b358ull, 0x3feedbfe53c12e59ull,
    0x3feede6b5579fdbfull, 0x3feee0e521356ebaull, 0x3feee36bbfd3f37aull, 0x3feee5ff3a3c2774ull,
    0x3feee89f995ad3adull, 0x3feeeb4ce622f2ffull, 0x3feeee07298db666ull, 0x3feef0ce6c9a8952ull,
    0x3feef3a2b84f15fbull, 0x3feef68415b749b1ull, 0x3feef9728de5593aull, 0x3feefc6e29f1c52aull,
    0x3feeff76f2fb5e47ull, 0x3fef028cf22749e4ull, 0x3fef05b030a1064aull, 0x3fef08e0b79a6f1full,
    0x3fef0c1e904bc1d2ull, 0x3fef0f69c3f3a207ull, 0x3fef12c25bd71e09ull, 0x3fef16286141b33dull,
    0x3fef199bdd85529cull, 0x3fef1d1cd9fa652cull, 0x3fef20ab5fffd07aull, 0x3fef244778fafb22ull,
    0x3fef27f12e57d14bull, 0x3fef2ba88988c933ull, 0x3fef2f6d9406e7b5ull, 0x3fef33405751c4dbull,
    0x3fef3720dcef9069ull, 0x3fef3b0f2e6d1675ull, 0x3fef3f0b555dc3faull, 0x3fef43155b5bab74ull,
    0x3fef472d4a07897cull, 0x3fef4b532b08c968ull, 0x3fef4f87080d89f2ull, 0x3fef53c8eacaa1d6ull,
    0x3fef5818dcfba487ull, 0x3fef5c76e862e6d3ull, 0x3fef60e316c98398ull, 0x3fef655d71ff6075ull,
    0x3fef69e603db3285ull, 0x3fef6e7cd63a8315ull, 0x3fef7321f301b460ull, 0x3fef77d5641c0658ull,
    0x3fef7c97337b9b5full, 0x3fef81676b197d17ull, 0x3fef864614f5a129ull, 0x3fef8b333b16ee12ull,
    0x3fef902ee78b3ff6ull, 0x3fef953924676d76ull, 0x3fef9a51fbc74c83ull, 0x3fef9f7977cdb740ull,
    0x3fefa4afa2a490daull, 0x3fefa9f4867cca6eull, 0x3fefaf482d8e67f1ull, 0x3fefb4aaa2188510ull,
    0x3fefba1bee615a27ull, 0x3fefbf9c1cb6412aull, 0x3fefc52b376bba97ull, 0x3fefcac948dd7274ull,
    0x3fefd0765b6e4540ull, 0x3fefd632798844f8ull, 0x3fefdbfdad9cbe14ull, 0x3fefe1d802243c89ull,
    0x3fefe7c1819e90d8ull, 0x3fefedba3692d514ull, 0x3feff3c22b8f71f1ull, 0x3feff9d96b2a23d9ull,
};
/* float: 8/ln2, ln2/8 in two parts (hi with 13 significant bits: n * hi exact for |n| < 2^11),
 * the 8-entry table bits(2^(j/8)) - (j << 20) (fits one 256-bit register: vpermps lookup), and
 * e^r = 1 + r (1 + r (c2 + c3 r)) */
#define NASHMP_EXPRED_INVL_F32 0x1.715476p+3f
#define NASHMP_EXPRED_L_HI_F32 0x1.62ep-4f
#define NASHMP_EXPRED_L_LO_F32 0x1.0bfbe8p-18f
#define NASHMP_EXPRED_TAB_F32                                                                  \
    {0x3f800000u, 0x3f7b95c2u, 0x3f7837f0u, 0x3f75fed7u,                                       \
     0x3f7504f3u, 0x3f75672au, 0x3f7744fdu, 0x3f7ac0c7u}
#define NASHMP_EXPRED_P_F32(R) ((0x1.5556f8p-3f * (R) + 0x1.00087ap-1f) * (R) + 1.0f)

/* exp_red in double (scalar; the vector version is nashmp_vexp_red_f64 in lse_block.h). */
NASHMP_HD_INLINE double nashmp_exp_red_f64(double x)
{
    const double t = x * NASHMP_EXPRED_INVL_F64 + 0x1.8p52; /* low bits: n = round(x 256/ln2) */
    const double n = t - 0x1.8p52;
    double r = x - n * NASHMP_EXPRED_L_HI_F64, r2, p, s;
    r = r - n * NASHMP_EXPRED_L_LO_F64;
    r2 = r * r;
    p = NASHMP_EXPRED_P_F64(r, r2);
    /* s = 2^k T_j; k >= -1022 (x >= NASHMP_EXPRED_MIN_F64) keeps it normal */
    s = nashmp_as_f64(nashmp_expred_tab_f64[nashmp_as_u64(t) & 255u] + (nashmp_as_u64(t) << 44));
    p = s * p + s;
    return x >= NASHMP_EXPRED_MIN_F64 ? p : 0.0;
}

NASHMP_HD_INLINE float nashmp_exp_red_f32(float x)
{
    static const uint32_t tab[8] = NASHMP_EXPRED_TAB_F32;
    const float t = x * NASHMP_EXPRED_INVL_F32 + 0x1.8p23f; /* low bits: n = round(x 8/ln2) */
    const float n = t - 0x1.8p23f;
    float r = x - n * NASHMP_EXPRED_L_HI_F32, p, s;
    r = r - n * NASHMP_EXPRED_L_LO_F32;
    p = NASHMP_EXPRED_P_F32(r);
    /* s = 2^k T_j, -126 <= k <= 127 */
    s = nashmp_as_f32(tab[nashmp_as_u32(t) & 7u] + (nashmp_as_u32(t) << 20));
    p = (s * r) * p + s;
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
