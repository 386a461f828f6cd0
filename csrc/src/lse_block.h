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
/* Rows longer than this are reduced as fixed tiles whose (max, sum) states are merged left to
 * right; tiles of one row may run on different threads (same result as serial). */
#define NASHMP_TILE 32768

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
NASHMP_INLINE nashmp_v4d nashmp_vexp_red_f64(nashmp_v4d x)
{
    const nashmp_v4d t = x * 0x1.71547652b82fep+0 + 0x1.8p52;
    const nashmp_v4d n = t - 0x1.8p52;
    nashmp_v4d r = x - n * 0x1.62e42fee00000p-1, r2, p;
    r = r - n * 0x1.a39ef35793c76p-33;
    r2 = r * r;
    p = (r2 * NASHMP_EXPRED_Q_F64(r, r2) + r) + 1.0;
    p = (nashmp_v4d)((nashmp_v4u)p + ((nashmp_v4u)t << 52));
    return (nashmp_v4d)((nashmp_v4l)p & (x >= NASHMP_EXPRED_MIN_F64));
}

NASHMP_INLINE nashmp_v8f nashmp_vexp_red_f32(nashmp_v8f x)
{
    const nashmp_v8f t = x * 0x1.715476p+0f + 0x1.8p23f;
    const nashmp_v8f n = t - 0x1.8p23f;
    nashmp_v8f r = x - n * 0x1.62e4p-1f, r2, p;
    r = r - n * 0x1.7f7d1cp-20f;
    r2 = r * r;
    p = (r2 * NASHMP_EXPRED_Q_F32(r, r2) + r) + 1.0f;
    p = (nashmp_v8f)((nashmp_v8u)p + ((nashmp_v8u)t << 23));
    return (nashmp_v8f)((nashmp_v8i)p & (x >= NASHMP_EXPRED_MIN_F32));
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
        v0 = nashmp_vexp_red_f64(v0 - m);
        v1 = nashmp_vexp_red_f64(v1 - m);
        s0 += v0;
        s1 += v1;
        if (out) {
            memcpy(out + j, &v0, sizeof v0);
            memcpy(out + j + 4, &v1, sizeof v1);
        }
    }
    if (j + 4 <= n) {
        memcpy(&v0, x + j, sizeof v0);
        v0 = nashmp_vexp_red_f64(v0 - m);
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
        v0 = nashmp_vexp_red_f64(v0 - m);
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
        v0 = nashmp_vexp_red_f32(v0 - m);
        v1 = nashmp_vexp_red_f32(v1 - m);
        v2 = nashmp_vexp_red_f32(v2 - m);
        v3 = nashmp_vexp_red_f32(v3 - m);
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
        v0 = nashmp_vexp_red_f32(v0 - m);
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
        v0 = nashmp_vexp_red_f32(v0 - m);
        s0 += nashmp_v8f_sum2_f64(v0);
        if (out) {
            memcpy(e, &v0, sizeof e);
            for (l = 0; l < len; l++)
                out[j + l] = e[8 - len + l];
        }
    }
    return (s0[0] + s0[2]) + (s0[1] + s0[3]);
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

/* Online (max, sum) over x[0..n), n <= NASHMP_TILE. m is NaN when x holds NaN or +inf. */
NASHMP_INLINE nashmp_ms nashmp_tile_lse_f64(const double *NASHMP_RESTRICT x, int64_t n)
{
    nashmp_ms st = nashmp_ms_init();
    int64_t c;
    for (c = 0; c < n; c += NASHMP_CHUNK) {
        int64_t len = n - c < NASHMP_CHUNK ? n - c : NASHMP_CHUNK;
        double m = nashmp_ms_rescale(&st, nashmp_chunk_max_f64(x + c, len));
        if (m == NASHMP_INF_F64 || m != m) {
            st.m = st.s = NASHMP_NAN_F64;
            return st;
        }
        if (m > -NASHMP_INF_F64)
            st.s += nashmp_chunk_sumexp_f64(x + c, len, m);
    }
    return st;
}

NASHMP_INLINE nashmp_ms nashmp_tile_lse_f32(const float *NASHMP_RESTRICT x, int64_t n)
{
    nashmp_ms st = nashmp_ms_init();
    int64_t c;
    for (c = 0; c < n; c += NASHMP_CHUNK) {
        int64_t len = n - c < NASHMP_CHUNK ? n - c : NASHMP_CHUNK;
        double m = nashmp_ms_rescale(&st, (double)nashmp_chunk_max_f32(x + c, len));
        if (m == NASHMP_INF_F64 || m != m) {
            st.m = st.s = NASHMP_NAN_F64;
            return st;
        }
        if (m > -NASHMP_INF_F64)
            st.s += nashmp_chunk_sumexp_f32(x + c, len, (float)m);
    }
    return st;
}

#endif /* NASHMP_LSE_BLOCK_H */
