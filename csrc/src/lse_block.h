/*
 * lse_block.h: vectorizable building blocks of the online log-sum-exp over one row, used by
 * logsumexp.c, kl.c, mirror_prox.c and solvers.c. All functions are NASHMP_INLINE so that they
 * are compiled for the target of the NASHMP_HOT worker that calls them.
 *
 * Lanes: with GCC/Clang the hot loops are written with vector extensions (4 doubles / 8 floats
 * per vector: ymm in the x86-64-v3 clone, pairs of xmm in the baseline) around the vector
 * exp_red; elsewhere they are scalar loops over NASHMP_L64 / NASHMP_L32-style lane arrays.
 * Partial results are combined in a fixed order, so a result depends only on the data and the
 * row length, never on the thread count.
 */
#ifndef NASHMP_LSE_BLOCK_H
#define NASHMP_LSE_BLOCK_H

#include "common.h"
#include "exp_block.h"

#define NASHMP_L64 8
#define NASHMP_L32 16
/* Online block size: the block max is taken, then exp(x - running max) summed, from L1. */
#define NASHMP_CHUNK 256
/* Block size of the log-sum-exp kernels themselves (logsumexp / softmax / log_softmax):
 * larger, so that a row of up to 1024 elements is one block (one max pass, one exp pass, no
 * rescale); 8 KiB of doubles still sits in L1. */
#ifndef NASHMP_LSE_CHUNK
#define NASHMP_LSE_CHUNK 1024
#endif
/* Rows longer than this are reduced as fixed tiles whose (max, sum) states are merged left to
 * right; tiles of one row may run on different threads (same result as serial). */
#define NASHMP_TILE 32768
#if NASHMP_TILE % NASHMP_LSE_CHUNK != 0
#error "NASHMP_LSE_CHUNK must divide NASHMP_TILE"
#endif

/* max with NaN stickiness: once a lane has seen NaN it stays NaN. */
#define NASHMP_MAXNAN(v, m) ((((v) > (m)) | ((v) != (v))) ? (v) : (m)) /* scalar only */

/*
 * Max of x[0..n) (and min, for span) with NaN detection: NaN anywhere gives NaN. GCC/Clang
 * vector extensions (compiled for each clone's target: ymm in the x86-64-v3 clone, pairs of
 * xmm in the baseline) because GCC does not vectorize a NaN-aware max reduction written as
 * scalar code; other compilers get the scalar loop.
 */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(NASHMP_NO_VEXT)
#define NASHMP_VEXT 1 /* -DNASHMP_NO_VEXT tests the scalar fallback */
#if defined(__GNUC__) && !defined(__clang__)
/* the helpers below take and return 32-byte vectors; they are always inlined, so the psABI
 * note about passing them without AVX in the baseline clone does not apply */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef double nashmp_v4d __attribute__((vector_size(32)));
typedef int64_t nashmp_v4l __attribute__((vector_size(32)));
typedef float nashmp_v8f __attribute__((vector_size(32)));
typedef int32_t nashmp_v8i __attribute__((vector_size(32)));
typedef uint64_t nashmp_v4u __attribute__((vector_size(32)));
typedef uint32_t nashmp_v8u __attribute__((vector_size(32)));
typedef double nashmp_v8d __attribute__((vector_size(64)));
#define NASHMP_VSEL(VI, VF, mask, a, b) ((VF)((((VI)(a)) & (mask)) | (((VI)(b)) & ~(mask))))
#endif

#define NASHMP_DEFINE_MAXMIN(SFX, T, VF, VI, W, TINF)                                          \
    NASHMP_INLINE void nashmp_chunk_maxmin_##SFX(const T *NASHMP_RESTRICT x, int64_t n,        \
                                                 int want_min, T *pmax, T *pmin)               \
    {                                                                                          \
        T m = -TINF, mn = TINF;                                                                \
        int bad = 0, l;                                                                        \
        int64_t j = 0;                                                                         \
        NASHMP_MAXMIN_VEC(T, VF, VI, W, TINF)                                                  \
        for (; j < n; j++) {                                                                   \
            m = x[j] > m ? x[j] : m;                                                           \
            mn = x[j] < mn ? x[j] : mn;                                                        \
            bad |= x[j] != x[j];                                                               \
        }                                                                                      \
        (void)l;                                                                               \
        (void)want_min;                                                                        \
        *pmax = bad ? (T)NASHMP_NAN_F64 : m;                                                   \
        *pmin = mn;                                                                            \
    }

#ifdef NASHMP_VEXT
#define NASHMP_MAXMIN_VEC(T, VF, VI, W, TINF)                                                  \
    if (n >= (W)) {                                                                        \
        VF m0, m1, n0, n1, v0, v1;                                                             \
        VI b0, g0, g1;                                                                         \
        for (l = 0; l < (W); l++) {                                                            \
            m0[l] = m1[l] = -TINF;                                                             \
            n0[l] = n1[l] = TINF;                                                              \
            b0[l] = 0;                                                                         \
        }                                                                                      \
        if (want_min) {                                                                        \
            for (; j + 2 * (W) <= n; j += 2 * (W)) {                                           \
                memcpy(&v0, x + j, sizeof v0);                                                 \
                memcpy(&v1, x + j + (W), sizeof v1);                                           \
                g0 = v0 > m0;                                                                  \
                g1 = v1 > m1;                                                                  \
                m0 = NASHMP_VSEL(VI, VF, g0, v0, m0);                                          \
                m1 = NASHMP_VSEL(VI, VF, g1, v1, m1);                                          \
                g0 = v0 < n0;                                                                  \
                g1 = v1 < n1;                                                                  \
                n0 = NASHMP_VSEL(VI, VF, g0, v0, n0);                                          \
                n1 = NASHMP_VSEL(VI, VF, g1, v1, n1);                                          \
                b0 |= (v0 != v0) | (v1 != v1);                                                 \
            }                                                                                  \
        } else {                                                                               \
            for (; j + 2 * (W) <= n; j += 2 * (W)) {                                           \
                memcpy(&v0, x + j, sizeof v0);                                                 \
                memcpy(&v1, x + j + (W), sizeof v1);                                           \
                g0 = v0 > m0;                                                                  \
                g1 = v1 > m1;                                                                  \
                m0 = NASHMP_VSEL(VI, VF, g0, v0, m0);                                          \
                m1 = NASHMP_VSEL(VI, VF, g1, v1, m1);                                          \
                b0 |= (v0 != v0) | (v1 != v1);                                                 \
            }                                                                                  \
        }                                                                                      \
        for (; j < n; j += (W)) { /* < 2W left; the last load may overlap: harmless here */   \
            memcpy(&v0, j + (W) <= n ? x + j : x + n - (W), sizeof v0);                        \
            g0 = v0 > m0;                                                                      \
            m0 = NASHMP_VSEL(VI, VF, g0, v0, m0);                                              \
            g0 = v0 < n0;                                                                      \
            n0 = NASHMP_VSEL(VI, VF, g0, v0, n0);                                              \
            b0 |= v0 != v0;                                                                    \
        }                                                                                      \
        for (l = 0; l < (W); l++) {                                                            \
            m = m0[l] > m ? m0[l] : m;                                                         \
            m = m1[l] > m ? m1[l] : m;                                                         \
            mn = n0[l] < mn ? n0[l] : mn;                                                      \
            mn = n1[l] < mn ? n1[l] : mn;                                                      \
            bad |= b0[l] != 0;                                                                 \
        }                                                                                      \
    }
#else
#define NASHMP_MAXMIN_VEC(T, VF, VI, W, TINF)
#endif

NASHMP_DEFINE_MAXMIN(f64, double, nashmp_v4d, nashmp_v4l, 4, NASHMP_INF_F64)
NASHMP_DEFINE_MAXMIN(f32, float, nashmp_v8f, nashmp_v8i, 8, NASHMP_INF_F32)

/*
 * Max of a chunk that may ignore NaN (NaN elements are skipped; the result is -inf for a chunk of
 * only -inf / NaN): 2 operations per vector instead of 4. For nashmp_tile_lse_*, which detects
 * NaN from the exp sum (NaN-propagating exp) instead. n >= 1.
 */
#ifdef NASHMP_VEXT
#define NASHMP_DEFINE_MAXFAST(SFX, T, VF, VI, W, TINF)                                         \
    NASHMP_INLINE T nashmp_chunk_max_fast_##SFX(const T *NASHMP_RESTRICT x, int64_t n)        \
    {                                                                                          \
        T m = -TINF;                                                                           \
        int64_t j = 0;                                                                         \
        int l;                                                                                 \
        if (n >= (W)) { /* four chains: compare + blend has a 4-cycle latency */              \
            VF m0, m1, m2, m3, v0, v1, v2, v3;                                                 \
            for (l = 0; l < (W); l++)                                                          \
                m0[l] = m1[l] = m2[l] = m3[l] = -TINF;                                         \
            for (; j + 4 * (W) <= n; j += 4 * (W)) {                                           \
                memcpy(&v0, x + j, sizeof v0);                                                 \
                memcpy(&v1, x + j + (W), sizeof v1);                                           \
                memcpy(&v2, x + j + 2 * (W), sizeof v2);                                       \
                memcpy(&v3, x + j + 3 * (W), sizeof v3);                                       \
                m0 = NASHMP_VSEL(VI, VF, v0 > m0, v0, m0);                                     \
                m1 = NASHMP_VSEL(VI, VF, v1 > m1, v1, m1);                                     \
                m2 = NASHMP_VSEL(VI, VF, v2 > m2, v2, m2);                                     \
                m3 = NASHMP_VSEL(VI, VF, v3 > m3, v3, m3);                                     \
            }                                                                                  \
            for (; j < n; j += (W)) { /* the last load may overlap: harmless for a max */     \
                memcpy(&v0, j + (W) <= n ? x + j : x + n - (W), sizeof v0);                    \
                m0 = NASHMP_VSEL(VI, VF, v0 > m0, v0, m0);                                     \
            }                                                                                  \
            m0 = NASHMP_VSEL(VI, VF, m1 > m0, m1, m0);                                         \
            m2 = NASHMP_VSEL(VI, VF, m3 > m2, m3, m2);                                         \
            m0 = NASHMP_VSEL(VI, VF, m2 > m0, m2, m0);                                         \
            for (l = 0; l < (W); l++)                                                          \
                m = m0[l] > m ? m0[l] : m;                                                     \
        }                                                                                      \
        for (; j < n; j++)                                                                     \
            m = x[j] > m ? x[j] : m;                                                           \
        return m;                                                                              \
    }
NASHMP_DEFINE_MAXFAST(f64, double, nashmp_v4d, nashmp_v4l, 4, NASHMP_INF_F64)
NASHMP_DEFINE_MAXFAST(f32, float, nashmp_v8f, nashmp_v8i, 8, NASHMP_INF_F32)
#endif

/* NaN-aware max of a chunk: NaN if x holds NaN. */
NASHMP_INLINE double nashmp_chunk_max_f64(const double *NASHMP_RESTRICT x, int64_t n)
{
    double m, mn;
    nashmp_chunk_maxmin_f64(x, n, 0, &m, &mn);
    return m;
}
NASHMP_INLINE float nashmp_chunk_max_f32(const float *NASHMP_RESTRICT x, int64_t n)
{
    float m, mn;
    nashmp_chunk_maxmin_f32(x, n, 0, &m, &mn);
    return m;
}

#ifdef NASHMP_VEXT
/*
 * exp_red (exp_block.h) on vectors: 4 doubles / 8 floats, same polynomial and error bound.
 * Written with vector extensions so that both target_clones get straight-line SIMD code
 * (FMA contraction comes from -std=gnu11's default -ffp-contract=fast).
 */
/* The unmasked core: right for x >= NASHMP_EXPRED_MIN_* (and x <= the overflow bound), garbage
 * below (the exponent field wraps) and NaN for x = -inf; callers mask. */
NASHMP_INLINE nashmp_v4d nashmp_vexp_red_raw_f64(nashmp_v4d x)
{
    const nashmp_v4d t = x * NASHMP_EXPRED_INVL_F64 + 0x1.8p52;
    const nashmp_v4d n = t - 0x1.8p52;
    const nashmp_v4u ti = (nashmp_v4u)t, j = ti & 255u;
    nashmp_v4d r = x - n * NASHMP_EXPRED_L_HI_F64, r2, p, s;
    /* table lookup as four scalar loads: measured faster than vgatherqpd on Zen 3, and the
     * same code serves both target clones */
    const nashmp_v4u tb = {nashmp_expred_tab_f64[j[0]], nashmp_expred_tab_f64[j[1]],
                           nashmp_expred_tab_f64[j[2]], nashmp_expred_tab_f64[j[3]]};
    r = r - n * NASHMP_EXPRED_L_LO_F64;
    r2 = r * r;
    p = NASHMP_EXPRED_P_F64(r, r2);
    s = (nashmp_v4d)(tb + (ti << 44));
    return s * p + s;
}

NASHMP_INLINE nashmp_v4d nashmp_vexp_red_f64(nashmp_v4d x)
{
    return (nashmp_v4d)((nashmp_v4l)nashmp_vexp_red_raw_f64(x) & (x >= NASHMP_EXPRED_MIN_F64));
}

/* The same with NaN kept: x = NaN gives NaN (mask ~(x < MIN) instead of (x >= MIN); the
 * exponent bits come from t and the rest is arithmetic, so NaN reaches the result). Used by the
 * exp sums below, whose callers then detect NaN from the sum (nashmp_tile_lse_*) or have
 * excluded it already (NaN-aware max first). */
NASHMP_INLINE nashmp_v4d nashmp_vexp_red_keepnan_f64(nashmp_v4d x)
{
    return (nashmp_v4d)((nashmp_v4l)nashmp_vexp_red_raw_f64(x) & ~(x < NASHMP_EXPRED_MIN_F64));
}

NASHMP_INLINE nashmp_v8f nashmp_vexp_red_raw_f32(nashmp_v8f x)
{
    const nashmp_v8u tab = NASHMP_EXPRED_TAB_F32;
    const nashmp_v8f t = x * NASHMP_EXPRED_INVL_F32 + 0x1.8p23f;
    const nashmp_v8f n = t - 0x1.8p23f;
    nashmp_v8f r = x - n * NASHMP_EXPRED_L_HI_F32, p, s;
    r = r - n * NASHMP_EXPRED_L_LO_F32;
    p = NASHMP_EXPRED_P_F32(r);
    /* lane-wise tab[t & 7]: one vpermps in the x86-64-v3 clone */
    s = (nashmp_v8f)(__builtin_shuffle(tab, (nashmp_v8u)t) + ((nashmp_v8u)t << 20));
    return (s * r) * p + s;
}

NASHMP_INLINE nashmp_v8f nashmp_vexp_red_f32(nashmp_v8f x)
{
    return (nashmp_v8f)((nashmp_v8i)nashmp_vexp_red_raw_f32(x) & (x >= NASHMP_EXPRED_MIN_F32));
}

NASHMP_INLINE nashmp_v8f nashmp_vexp_red_keepnan_f32(nashmp_v8f x)
{
    return (nashmp_v8f)((nashmp_v8i)nashmp_vexp_red_raw_f32(x) & ~(x < NASHMP_EXPRED_MIN_F32));
}

/* Sum of the 8 floats of v, in double (two halves converted, then added). */
NASHMP_INLINE nashmp_v4d nashmp_v8f_sum2_f64(nashmp_v8f v)
{
    /* (a union, not memcpy or a 4-float convert: GCC 12 then emits two vcvtps2pd ymm) */
    union {
        nashmp_v8d w;
        nashmp_v4d h[2];
    } u;
    u.w = __builtin_convertvector(v, nashmp_v8d);
    return u.h[0] + u.h[1];
}

/* The end of nashmp_chunk_expsum_f64 (below) from element j on (n - j < 8), lanes s0, s1. */
NASHMP_INLINE double nashmp_expsum_finish_f64(const double *x, int64_t j, int64_t n, double m,
                                              double *out, nashmp_v4d s0, nashmp_v4d s1)
{
    nashmp_v4d v0;
    if (j + 4 <= n) {
        memcpy(&v0, x + j, sizeof v0);
        v0 = nashmp_vexp_red_keepnan_f64(v0 - m);
        s0 += v0;
        if (out)
            memcpy(out + j, &v0, sizeof v0);
        j += 4;
    }
    if (j < n) { /* 1..3 left */
        const nashmp_v4l lane = {0, 1, 2, 3};
        const nashmp_v4d ninf = {-NASHMP_INF_F64, -NASHMP_INF_F64, -NASHMP_INF_F64,
                                 -NASHMP_INF_F64};
        const int64_t len = n - j;
        double e[4];
        if (n >= 4) { /* the last 4 elements, lanes before j masked to -inf (no store-to-load
                       * forwarding stall of a padded copy; out == x is fine: masked lanes) */
            const nashmp_v4l keep = lane >= 4 - len;
            memcpy(&v0, x + n - 4, sizeof v0);
            v0 = NASHMP_VSEL(nashmp_v4l, nashmp_v4d, keep, v0, ninf);
        } else {
            double pad[4] = {-NASHMP_INF_F64, -NASHMP_INF_F64, -NASHMP_INF_F64, -NASHMP_INF_F64};
            memcpy(pad + 4 - len, x + j, (size_t)len * sizeof(double));
            memcpy(&v0, pad, sizeof v0);
        }
        v0 = nashmp_vexp_red_keepnan_f64(v0 - m);
        s0 += v0;
        if (out) {
            int64_t l;
            memcpy(e, &v0, sizeof e);
            for (l = 0; l < len; l++)
                out[j + l] = e[4 - len + l];
        }
    }
    s0 += s1;
    return (s0[0] + s0[2]) + (s0[1] + s0[3]);
}

/*
 * sum_j exp(x_j - m) over x[0..n), m >= max x_j (so every argument is <= 0); also stores each
 * exp(x_j - m) to out[j] when out != NULL (out may be x: each block is read before written).
 * Lanes: two 4-double accumulators, main loop 8 elements, then 4, then a last vector padded
 * with -inf (exp -> 0); combined in a fixed order.
 */
NASHMP_INLINE double nashmp_chunk_expsum_f64(const double *x, int64_t n, double m, double *out)
{
    nashmp_v4d s0 = {0.0, 0.0, 0.0, 0.0}, s1 = s0, v0, v1;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        memcpy(&v0, x + j, sizeof v0);
        memcpy(&v1, x + j + 4, sizeof v1);
        v0 = nashmp_vexp_red_keepnan_f64(v0 - m);
        v1 = nashmp_vexp_red_keepnan_f64(v1 - m);
        s0 += v0;
        s1 += v1;
        if (out) {
            memcpy(out + j, &v0, sizeof v0);
            memcpy(out + j + 4, &v1, sizeof v1);
        }
    }
    return nashmp_expsum_finish_f64(x, j, n, m, out, s0, s1);
}

/*
 * Float version, result in double: exps of up to 4 vectors (32 elements) are summed in float
 * (each <= 1: relative rounding <= 2^-23 per group), then each group is added in double lanes.
 */
NASHMP_INLINE double nashmp_chunk_expsum_f32(const float *x, int64_t n, float m, float *out)
{
    nashmp_v4d s0 = {0.0, 0.0, 0.0, 0.0};
    nashmp_v8f v0, v1, v2, v3;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        memcpy(&v0, x + j, sizeof v0);
        memcpy(&v1, x + j + 8, sizeof v1);
        memcpy(&v2, x + j + 16, sizeof v2);
        memcpy(&v3, x + j + 24, sizeof v3);
        v0 = nashmp_vexp_red_keepnan_f32(v0 - m);
        v1 = nashmp_vexp_red_keepnan_f32(v1 - m);
        v2 = nashmp_vexp_red_keepnan_f32(v2 - m);
        v3 = nashmp_vexp_red_keepnan_f32(v3 - m);
        if (out) {
            memcpy(out + j, &v0, sizeof v0);
            memcpy(out + j + 8, &v1, sizeof v1);
            memcpy(out + j + 16, &v2, sizeof v2);
            memcpy(out + j + 24, &v3, sizeof v3);
        }
        s0 += nashmp_v8f_sum2_f64((v0 + v1) + (v2 + v3));
    }
    for (; j + 8 <= n; j += 8) {
        memcpy(&v0, x + j, sizeof v0);
        v0 = nashmp_vexp_red_keepnan_f32(v0 - m);
        s0 += nashmp_v8f_sum2_f64(v0);
        if (out)
            memcpy(out + j, &v0, sizeof v0);
    }
    if (j < n) { /* 1..7 left: as in the double version */
        const nashmp_v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
        const int64_t len = n - j;
        float e[8];
        int64_t l;
        if (n >= 8) {
            const nashmp_v8i keep = lane >= (int32_t)(8 - len);
            memcpy(&v1, x + n - 8, sizeof v1);
            for (l = 0; l < 8; l++)
                v0[l] = -NASHMP_INF_F32;
            v0 = NASHMP_VSEL(nashmp_v8i, nashmp_v8f, keep, v1, v0);
        } else {
            float pad[8];
            for (l = 0; l < 8; l++)
                pad[l] = -NASHMP_INF_F32;
            memcpy(pad + 8 - len, x + j, (size_t)len * sizeof(float));
            memcpy(&v0, pad, sizeof v0);
        }
        v0 = nashmp_vexp_red_keepnan_f32(v0 - m);
        s0 += nashmp_v8f_sum2_f64(v0);
        if (out) {
            memcpy(e, &v0, sizeof e);
            for (l = 0; l < len; l++)
                out[j + l] = e[8 - len + l];
        }
    }
    return (s0[0] + s0[2]) + (s0[1] + s0[3]);
}

/*
 * Short rows, lanes = rows: logsumexp of G rows of k <= NASHMP_SMALL_K elements at once
 * (G = 4 doubles / 8 floats, one row per lane of the reductions). Each row is still read with
 * full vectors (its last partial vector masked to -inf), but the per-row horizontal reductions,
 * the rescale logic and the scalar log are replaced by transposing reductions (the G row
 * vectors of partial maxima / sums become one vector with one row per lane) and one vector log
 * for G rows. Rows are independent (any ldx, including 0). Returns nonzero if some row holds
 * NaN or +inf (its output is then unspecified, as in the row-by-row path).
 * Differences from the row-by-row path: the exp sum is added in another order (at most 31
 * additions of terms <= 1: |difference| <= 64 * 2^-53 * max(1, |lse|) for double, typically a
 * few ulps); float sums stay in float (up to 32 terms <= 1, <= 6 roundings in a tree: <= 4e-7
 * relative) before the double log, so |difference| <= 1e-6 * max(1, |lse|) for float. Both
 * bounds are tested (csrc/tests/test_kernels.c, test_small_rows_*), and both paths stay within
 * the kernels' accuracy contract (1e-13 / 2e-6 relative).
 */
#define NASHMP_SMALL_K 32

/* log(x) of 4 lanes, x >= 1 (as nashmp_log_pos_f64, same constants and steps). */
NASHMP_INLINE nashmp_v4d nashmp_vlog_pos_f64(nashmp_v4d x)
{
    const nashmp_v4u u = (nashmp_v4u)x;
    /* x >= 1: u - bits(sqrt(1/2)) >= 0, so a logical shift gives the exponent e >= 0 */
    const nashmp_v4u e = (u - 0x3fe6a09e667f3bcdull) >> 52;
    const nashmp_v4d f = (nashmp_v4d)(u - (e << 52));
    const nashmp_v4d a = f - 1.0;
    const nashmp_v4d q = a / (f + 1.0), z = q * q, z2 = z * z;
    /* (double)e for 0 <= e < 2^51 without vcvtqq2pd (AVX-512): 2^52 + e, minus 2^52 */
    const nashmp_v4d de = (nashmp_v4d)(e + 0x4330000000000000ull) - 0x1p52;
    const nashmp_v4d p01 = 0x1.999999999999ap-2 * z + 0x1.5555555555555p-1;
    const nashmp_v4d p23 = 0x1.c71c71c71c71cp-3 * z + 0x1.2492492492492p-2;
    const nashmp_v4d p45 = 0x1.3b13b13b13b14p-3 * z + 0x1.745d1745d1746p-3;
    const nashmp_v4d p67 = 0x1.e1e1e1e1e1e1ep-4 * z + 0x1.1111111111111p-3;
    const nashmp_v4d p89 = 0x1.8618618618618p-4 * z + 0x1.af286bca1af28p-4;
    const nashmp_v4d p = (((p89 * z2 + p67) * z2 + p45) * z2 + p23) * z2 + p01;
    const nashmp_v4d lf = 2.0 * q + q * z * p;
    return de * 0x1.62e42fee00000p-1 + (de * 0x1.a39ef35793c76p-33 + lf);
}

/* v = max(v, w) lane-wise (NaN: whichever; callers track NaN separately). */
#define NASHMP_VMAXSEL(VI, VF, v, w) ((v) = NASHMP_VSEL(VI, VF, (w) > (v), (w), (v)))

/* Loads vector number c of a row of k elements (c * W < k); the last one, when partial, is
 * the row's last W elements with the lanes before c*W set to -inf (k >= W), or a padded copy
 * (k < W). */
#define NASHMP_LOAD_ROWVEC(T, VF, VI, W, TINF, xr, k, c, v)                                    \
    do {                                                                                       \
        const int64_t j_ = (int64_t)(c) * (W);                                                 \
        if (j_ + (W) <= (k)) {                                                                 \
            memcpy(&(v), (xr) + j_, sizeof(v));                                                \
        } else if ((k) >= (W)) {                                                               \
            VI lane_, keep_;                                                                   \
            VF ninf_;                                                                          \
            int l_;                                                                            \
            for (l_ = 0; l_ < (W); l_++) {                                                     \
                lane_[l_] = l_;                                                                \
                ninf_[l_] = -TINF;                                                             \
            }                                                                                  \
            keep_ = lane_ >= (int)((W) - ((k) - j_));                                          \
            memcpy(&(v), (xr) + (k) - (W), sizeof(v));                                         \
            (v) = NASHMP_VSEL(VI, VF, keep_, (v), ninf_);                                      \
        } else {                                                                               \
            T pad_[W];                                                                         \
            int l_;                                                                            \
            for (l_ = 0; l_ < (W); l_++)                                                       \
                pad_[l_] = l_ < (k) ? (xr)[l_] : -TINF;                                        \
            memcpy(&(v), pad_, sizeof(v));                                                     \
        }                                                                                      \
    } while (0)

NASHMP_INLINE int nashmp_lse4_f64(const double *x, int64_t ldx, int64_t k, double *out)
{
    const int64_t nv = (k + 3) / 4;
    nashmp_v4d mx[4], sm[4], v, t0, t1, m, s, res;
    nashmp_v4l nan = {0, 0, 0, 0};
    int64_t c;
    int r, l;
    for (r = 0; r < 4; r++) {
        const double *xr = x + r * ldx;
        for (l = 0; l < 4; l++)
            mx[r][l] = -NASHMP_INF_F64;
        for (c = 0; c < nv; c++) {
            NASHMP_LOAD_ROWVEC(double, nashmp_v4d, nashmp_v4l, 4, NASHMP_INF_F64, xr, k, c, v);
            NASHMP_VMAXSEL(nashmp_v4l, nashmp_v4d, mx[r], v);
            nan |= v != v;
        }
    }
    /* transpose-reduce: lane r of m = max of row r */
    t0 = __builtin_shuffle(mx[0], mx[1], (nashmp_v4l){0, 4, 2, 6});
    v = __builtin_shuffle(mx[0], mx[1], (nashmp_v4l){1, 5, 3, 7});
    NASHMP_VMAXSEL(nashmp_v4l, nashmp_v4d, t0, v);
    t1 = __builtin_shuffle(mx[2], mx[3], (nashmp_v4l){0, 4, 2, 6});
    v = __builtin_shuffle(mx[2], mx[3], (nashmp_v4l){1, 5, 3, 7});
    NASHMP_VMAXSEL(nashmp_v4l, nashmp_v4d, t1, v);
    m = __builtin_shuffle(t0, t1, (nashmp_v4l){0, 1, 4, 5});
    v = __builtin_shuffle(t0, t1, (nashmp_v4l){2, 3, 6, 7});
    NASHMP_VMAXSEL(nashmp_v4l, nashmp_v4d, m, v);
    nan |= m == NASHMP_INF_F64;
    for (r = 0; r < 4; r++) {
        const double *xr = x + r * ldx;
        const nashmp_v4l bc = {r, r, r, r};
        const nashmp_v4d mr = __builtin_shuffle(m, bc);
        sm[r] = mr - mr; /* 0 (NaN if mr is: flagged anyway) */
        for (c = 0; c < nv; c++) {
            NASHMP_LOAD_ROWVEC(double, nashmp_v4d, nashmp_v4l, 4, NASHMP_INF_F64, xr, k, c, v);
            sm[r] += nashmp_vexp_red_f64(v - mr); /* -inf - (-inf) = NaN -> 0 */
        }
    }
    t0 = __builtin_shuffle(sm[0], sm[1], (nashmp_v4l){0, 4, 2, 6}) +
         __builtin_shuffle(sm[0], sm[1], (nashmp_v4l){1, 5, 3, 7});
    t1 = __builtin_shuffle(sm[2], sm[3], (nashmp_v4l){0, 4, 2, 6}) +
         __builtin_shuffle(sm[2], sm[3], (nashmp_v4l){1, 5, 3, 7});
    s = __builtin_shuffle(t0, t1, (nashmp_v4l){0, 1, 4, 5}) +
        __builtin_shuffle(t0, t1, (nashmp_v4l){2, 3, 6, 7});
    {
        const nashmp_v4l allninf = m == -NASHMP_INF_F64;
        const nashmp_v4d one = {1.0, 1.0, 1.0, 1.0};
        s = NASHMP_VSEL(nashmp_v4l, nashmp_v4d, allninf, one, s); /* s >= 1 otherwise */
        res = m + nashmp_vlog_pos_f64(s);
        res = NASHMP_VSEL(nashmp_v4l, nashmp_v4d, allninf, m, res);
    }
    memcpy(out, &res, sizeof res);
    for (l = 0; l < 4; l++)
        if (nan[l])
            return 1;
    return 0;
}

NASHMP_INLINE int nashmp_lse8_f32(const float *x, int64_t ldx, int64_t k, float *out)
{
    const int64_t nv = (k + 7) / 8;
    nashmp_v8f mx[8], v, w, m, s;
    nashmp_v8i nan = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t c;
    int r, l;
    /* the 3-level transposing reduction of 8 vectors (OP: max-select or +) into one vector
     * whose lane r reduces vector r */
#define NASHMP_T8(OPV, dst)                                                                    \
    do {                                                                                       \
        const nashmp_v8i i0 = {0, 8, 2, 10, 4, 12, 6, 14}, i1 = {1, 9, 3, 11, 5, 13, 7, 15};   \
        const nashmp_v8i k0 = {0, 1, 8, 9, 4, 5, 12, 13}, k1 = {2, 3, 10, 11, 6, 7, 14, 15};   \
        const nashmp_v8i h0 = {0, 1, 2, 3, 8, 9, 10, 11}, h1 = {4, 5, 6, 7, 12, 13, 14, 15};   \
        nashmp_v8f a_[4], b_[2];                                                               \
        int q_;                                                                                \
        for (q_ = 0; q_ < 4; q_++) {                                                           \
            a_[q_] = __builtin_shuffle(mx[2 * q_], mx[2 * q_ + 1], i0);                        \
            w = __builtin_shuffle(mx[2 * q_], mx[2 * q_ + 1], i1);                             \
            OPV(a_[q_], w);                                                                    \
        }                                                                                      \
        for (q_ = 0; q_ < 2; q_++) {                                                           \
            b_[q_] = __builtin_shuffle(a_[2 * q_], a_[2 * q_ + 1], k0);                        \
            w = __builtin_shuffle(a_[2 * q_], a_[2 * q_ + 1], k1);                             \
            OPV(b_[q_], w);                                                                    \
        }                                                                                      \
        dst = __builtin_shuffle(b_[0], b_[1], h0);                                             \
        w = __builtin_shuffle(b_[0], b_[1], h1);                                               \
        OPV(dst, w);                                                                           \
    } while (0)
#define NASHMP_OPMAX(a, b) NASHMP_VMAXSEL(nashmp_v8i, nashmp_v8f, a, b)
#define NASHMP_OPADD(a, b) ((a) += (b))
    for (r = 0; r < 8; r++) {
        const float *xr = x + r * ldx;
        for (l = 0; l < 8; l++)
            mx[r][l] = -NASHMP_INF_F32;
        for (c = 0; c < nv; c++) {
            NASHMP_LOAD_ROWVEC(float, nashmp_v8f, nashmp_v8i, 8, NASHMP_INF_F32, xr, k, c, v);
            NASHMP_VMAXSEL(nashmp_v8i, nashmp_v8f, mx[r], v);
            nan |= v != v;
        }
    }
    NASHMP_T8(NASHMP_OPMAX, m);
    nan |= m == NASHMP_INF_F32;
    for (r = 0; r < 8; r++) {
        const float *xr = x + r * ldx;
        const nashmp_v8i bc = {r, r, r, r, r, r, r, r};
        const nashmp_v8f mr = __builtin_shuffle(m, bc);
        nashmp_v8f acc = mr - mr;
        for (c = 0; c < nv; c++) {
            NASHMP_LOAD_ROWVEC(float, nashmp_v8f, nashmp_v8i, 8, NASHMP_INF_F32, xr, k, c, v);
            acc += nashmp_vexp_red_f32(v - mr);
        }
        mx[r] = acc;
    }
    NASHMP_T8(NASHMP_OPADD, s);
#undef NASHMP_T8
#undef NASHMP_OPMAX
#undef NASHMP_OPADD
    {
        union {
            nashmp_v8d w;
            nashmp_v4d h[2];
        } md, sd;
        const nashmp_v4d one = {1.0, 1.0, 1.0, 1.0};
        float res[8];
        int hh;
        md.w = __builtin_convertvector(m, nashmp_v8d);
        sd.w = __builtin_convertvector(s, nashmp_v8d);
        for (hh = 0; hh < 2; hh++) {
            const nashmp_v4l allninf = md.h[hh] == -NASHMP_INF_F64;
            nashmp_v4d sv = NASHMP_VSEL(nashmp_v4l, nashmp_v4d, allninf, one, sd.h[hh]);
            sv = md.h[hh] + nashmp_vlog_pos_f64(sv);
            sd.h[hh] = NASHMP_VSEL(nashmp_v4l, nashmp_v4d, allninf, md.h[hh], sv);
        }
        for (l = 0; l < 8; l++)
            res[l] = (float)sd.w[l];
        memcpy(out, res, sizeof res);
    }
    for (l = 0; l < 8; l++)
        if (nan[l])
            return 1;
    return 0;
}
#else  /* scalar fallback: same lanes in arrays */
NASHMP_INLINE double nashmp_chunk_expsum_f64(const double *x, int64_t n, double m, double *out)
{
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j;
    for (j = 0; j < n; j++) {
        double e = nashmp_exp_red_f64(x[j] - m);
        s[j % 8] += e;
        if (out)
            out[j] = e;
    }
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}
NASHMP_INLINE double nashmp_chunk_expsum_f32(const float *x, int64_t n, float m, float *out)
{
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j;
    for (j = 0; j < n; j++) {
        float e = nashmp_exp_red_f32(x[j] - m);
        s[j % 8] += (double)e;
        if (out)
            out[j] = e;
    }
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}
#endif

#ifdef NASHMP_VEXT
/*
 * Sum-only exp for the float log-sum-exp blocks (nashmp_tile_lse_f32) and the float KL terms:
 * exp_red with the reduction in one step, r = x - n * L, L = ln2/8 rounded to float (one FMA
 * instead of two). L's error (<= 3.8e-9 absolute) adds <= |x| * 4.4e-8 to the relative error
 * of exp(x): less than the rounding of x itself in float (<= |x| * 6e-8: x = value - max in the
 * log-sum-exp, x = log p in the KL), which the result already carries; the documented ulp
 * bounds of exp_red do not apply to this one. The masked version keeps NaN (as
 * nashmp_vexp_red_keepnan_f32).
 */
NASHMP_INLINE nashmp_v8f nashmp_vexp_lse_raw_f32(nashmp_v8f x)
{
    const nashmp_v8u tab = NASHMP_EXPRED_TAB_F32;
    const nashmp_v8f t = x * NASHMP_EXPRED_INVL_F32 + 0x1.8p23f;
    const nashmp_v8f n = t - 0x1.8p23f;
    const nashmp_v8f r = x - n * 0x1.62e430p-4f;
    const nashmp_v8f p = NASHMP_EXPRED_P_F32(r);
    const nashmp_v8f s = (nashmp_v8f)(__builtin_shuffle(tab, (nashmp_v8u)t) + ((nashmp_v8u)t << 20));
    return (s * r) * p + s;
}

NASHMP_INLINE nashmp_v8f nashmp_vexp_lse_f32(nashmp_v8f x)
{
    return (nashmp_v8f)((nashmp_v8i)nashmp_vexp_lse_raw_f32(x) & ~(x < NASHMP_EXPRED_MIN_F32));
}

/* sum_j exp(x_j - m) for nashmp_tile_lse_f32: 64 elements per step, their exps (each <= 1)
 * added in float by a fixed tree (<= 6 roundings: relative error <= 6 * 2^-24 per step), then
 * in double lanes; the tail (< 64) through nashmp_chunk_expsum_f32. NaN in x gives NaN. */
/* (e0 + e1) + (e2 + e3), e_v = the exps of x[8v .. 8v + 8) - m */
NASHMP_INLINE nashmp_v8f nashmp_lse32_f32(const float *NASHMP_RESTRICT x, float m)
{
    nashmp_v8f v0, v1, v2, v3;
    memcpy(&v0, x, sizeof v0);
    memcpy(&v1, x + 8, sizeof v1);
    memcpy(&v2, x + 16, sizeof v2);
    memcpy(&v3, x + 24, sizeof v3);
    return (nashmp_vexp_lse_f32(v0 - m) + nashmp_vexp_lse_f32(v1 - m)) +
           (nashmp_vexp_lse_f32(v2 - m) + nashmp_vexp_lse_f32(v3 - m));
}

NASHMP_INLINE double nashmp_chunk_lsesum_f32(const float *NASHMP_RESTRICT x, int64_t n, float m)
{
    nashmp_v4d s0 = {0.0, 0.0, 0.0, 0.0};
    int64_t j = 0;
    for (; j + 64 <= n; j += 64) { /* two halves of 32: no register spills */
        const nashmp_v8f f = nashmp_lse32_f32(x + j, m);
        s0 += nashmp_v8f_sum2_f64(f + nashmp_lse32_f32(x + j + 32, m));
    }
    return (j < n ? nashmp_chunk_expsum_f32(x + j, n - j, m, NULL) : 0.0) +
           ((s0[0] + s0[2]) + (s0[1] + s0[3]));
}

/*
 * nashmp_chunk_sumexp_f64(x, n, m) and, in the same loop, nashmp_chunk_max_fast_f64(y, n): as
 * nashmp_chunk_lsesum_max_f32 below. Same sum bits and same max as the two functions.
 */
NASHMP_INLINE double nashmp_chunk_sumexp_max_f64(const double *NASHMP_RESTRICT x, double m,
                                                 const double *NASHMP_RESTRICT y, int64_t n,
                                                 double *ymax)
{
    nashmp_v4d s0 = {0.0, 0.0, 0.0, 0.0}, s1 = s0, m0, m1, v0, v1;
    double ym = -NASHMP_INF_F64;
    int64_t j = 0;
    int l;
    for (l = 0; l < 4; l++)
        m0[l] = m1[l] = -NASHMP_INF_F64;
    for (; j + 8 <= n; j += 8) {
        memcpy(&v0, x + j, sizeof v0);
        memcpy(&v1, x + j + 4, sizeof v1);
        s0 += nashmp_vexp_red_keepnan_f64(v0 - m);
        s1 += nashmp_vexp_red_keepnan_f64(v1 - m);
        memcpy(&v0, y + j, sizeof v0);
        memcpy(&v1, y + j + 4, sizeof v1);
        m0 = NASHMP_VSEL(nashmp_v4l, nashmp_v4d, v0 > m0, v0, m0);
        m1 = NASHMP_VSEL(nashmp_v4l, nashmp_v4d, v1 > m1, v1, m1);
    }
    m0 = NASHMP_VSEL(nashmp_v4l, nashmp_v4d, m1 > m0, m1, m0);
    for (l = 0; l < 4; l++)
        ym = m0[l] > ym ? m0[l] : ym;
    if (j < n) {
        const double t = nashmp_chunk_max_fast_f64(y + j, n - j);
        ym = t > ym ? t : ym;
    }
    *ymax = ym;
    return nashmp_expsum_finish_f64(x, j, n, m, NULL, s0, s1);
}

/*
 * nashmp_chunk_lsesum_f32(x, n, m) and, in the same loop, nashmp_chunk_max_fast_f32(y, n) (the
 * next row's max, written to *ymax): the compare-and-select chains of the max fill pipe slots
 * that the exp leaves idle, and the next row's exp pass no longer waits for its own max pass.
 * Same sum bits and same max as the two functions.
 */
NASHMP_INLINE double nashmp_chunk_lsesum_max_f32(const float *NASHMP_RESTRICT x, float m,
                                                 const float *NASHMP_RESTRICT y, int64_t n,
                                                 float *ymax)
{
    nashmp_v4d s0 = {0.0, 0.0, 0.0, 0.0};
    nashmp_v8f m0, m1, v0, v1;
    float ym = -NASHMP_INF_F32;
    int64_t j = 0;
    int l;
    for (l = 0; l < 8; l++)
        m0[l] = m1[l] = -NASHMP_INF_F32;
    for (; j + 64 <= n; j += 64) {
        const nashmp_v8f f = nashmp_lse32_f32(x + j, m);
        int h;
        for (h = 0; h < 64; h += 16) {
            memcpy(&v0, y + j + h, sizeof v0);
            memcpy(&v1, y + j + h + 8, sizeof v1);
            m0 = NASHMP_VSEL(nashmp_v8i, nashmp_v8f, v0 > m0, v0, m0);
            m1 = NASHMP_VSEL(nashmp_v8i, nashmp_v8f, v1 > m1, v1, m1);
        }
        s0 += nashmp_v8f_sum2_f64(f + nashmp_lse32_f32(x + j + 32, m));
    }
    m0 = NASHMP_VSEL(nashmp_v8i, nashmp_v8f, m1 > m0, m1, m0);
    for (l = 0; l < 8; l++)
        ym = m0[l] > ym ? m0[l] : ym;
    if (j < n) {
        const float t = nashmp_chunk_max_fast_f32(y + j, n - j);
        ym = t > ym ? t : ym;
    }
    *ymax = ym;
    return (j < n ? nashmp_chunk_expsum_f32(x + j, n - j, m, NULL) : 0.0) +
           ((s0[0] + s0[2]) + (s0[1] + s0[3]));
}
#define NASHMP_TILE_SUM_F32 nashmp_chunk_lsesum_f32
#else
#define NASHMP_TILE_SUM_F32 nashmp_chunk_sumexp_f32
#endif

/* sum_j exp(x_j - m), m >= max x_j (m finite). */
NASHMP_INLINE double nashmp_chunk_sumexp_f64(const double *NASHMP_RESTRICT x, int64_t n, double m)
{
    return nashmp_chunk_expsum_f64(x, n, m, NULL);
}

/* exp evaluated in float, accumulated in double. */
NASHMP_INLINE double nashmp_chunk_sumexp_f32(const float *NASHMP_RESTRICT x, int64_t n, float m)
{
    return nashmp_chunk_expsum_f32(x, n, m, NULL);
}

/* Online (max, sum) over x[0..n), n <= NASHMP_TILE. m is NaN when x holds NaN or +inf.
 * With vector extensions the block max ignores NaN and the NaN-propagating exp sum reports it
 * (a NaN sum); a block whose max is -inf (nothing finite yet, so no exp sum) gets the NaN-aware
 * max instead: NaN there (it cannot be finite or +inf) marks the row invalid. */
#ifdef NASHMP_VEXT
#define NASHMP_TILE_MAX_F64 nashmp_chunk_max_fast_f64
#define NASHMP_TILE_MAX_F32 nashmp_chunk_max_fast_f32
#define NASHMP_TILE_NANSCAN 1
#else
#define NASHMP_TILE_MAX_F64 nashmp_chunk_max_f64
#define NASHMP_TILE_MAX_F32 nashmp_chunk_max_f32
#define NASHMP_TILE_NANSCAN 0
#endif
/* One block of nashmp_tile_lse_f64 (len <= NASHMP_LSE_CHUNK elements) added to the state *st.
 * Returns 1 (state set to NaN) if the block makes it invalid. Else the block's exps were taken
 * against st->m (the running max; -inf: none taken) and, when out != NULL, written there. */
NASHMP_INLINE int nashmp_tile_lse_block_f64(nashmp_ms *st, const double *NASHMP_RESTRICT x,
                                            int64_t len, double *NASHMP_RESTRICT out)
{
    double m = nashmp_ms_rescale(st, NASHMP_TILE_MAX_F64(x, len)), s = 0.0;
    if (m > -NASHMP_INF_F64)
        s = nashmp_chunk_expsum_f64(x, len, m, out); /* NaN if the chunk holds NaN */
    else if (NASHMP_TILE_NANSCAN) /* all -inf so far: the max skipped NaN, look for it */
        s = nashmp_chunk_max_f64(x, len) != -NASHMP_INF_F64 ? NASHMP_NAN_F64 : 0.0;
    if (m == NASHMP_INF_F64 || m != m || s != s) {
        st->m = st->s = NASHMP_NAN_F64;
        return 1;
    }
    st->s += s;
    return 0;
}

NASHMP_INLINE nashmp_ms nashmp_tile_lse_f64(const double *NASHMP_RESTRICT x, int64_t n)
{
    nashmp_ms st = nashmp_ms_init();
    int64_t c;
    for (c = 0; c < n; c += NASHMP_LSE_CHUNK)
        if (nashmp_tile_lse_block_f64(&st, x + c,
                                      n - c < NASHMP_LSE_CHUNK ? n - c : NASHMP_LSE_CHUNK, NULL))
            break;
    return st;
}

NASHMP_INLINE nashmp_ms nashmp_tile_lse_f32(const float *NASHMP_RESTRICT x, int64_t n)
{
    nashmp_ms st = nashmp_ms_init();
    int64_t c;
    for (c = 0; c < n; c += NASHMP_LSE_CHUNK) {
        int64_t len = n - c < NASHMP_LSE_CHUNK ? n - c : NASHMP_LSE_CHUNK;
        double m = nashmp_ms_rescale(&st, (double)NASHMP_TILE_MAX_F32(x + c, len)), s = 0.0;
        if (m > -NASHMP_INF_F64)
            s = NASHMP_TILE_SUM_F32(x + c, len, (float)m); /* NaN if the chunk holds NaN */
        else if (NASHMP_TILE_NANSCAN)
            s = nashmp_chunk_max_f32(x + c, len) != -NASHMP_INF_F32 ? NASHMP_NAN_F64 : 0.0;
        if (m == NASHMP_INF_F64 || m != m || s != s) {
            st.m = st.s = NASHMP_NAN_F64;
            return st;
        }
        st.s += s;
    }
    return st;
}

#endif /* NASHMP_LSE_BLOCK_H */
