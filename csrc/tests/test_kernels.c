/*
 * CTest for the libnashmp kernels: every function, f32 and f64, against straightforward
 * long double references; sizes 1, 3, 41, 1271, 100000; -inf entries and all -inf rows;
 * strides and broadcast (ld = 0); in place; bad arguments -> exact status codes.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nashmp/nashmp.h"
#include "check.h"
/* internal: the vectorized exp_red and its scalar twin, for the error-bound test */
#include "../src/lse_block.h"


/* Comparison of a computed value with a long double reference: equal infinities / both
 * -inf, or |got - ref| <= tol * max(1, |ref|). */
static int close_to(double got, long double ref, double tol)
{
    if (isinf((double)ref) || isinf(got))
        return got == (double)ref;
    if (isnan(got))
        return 0;
    return fabsl((long double)got - ref) <= tol * fmaxl(1.0L, fabsl(ref));
}

/* ---- references ------------------------------------------------------------------------------ */

static long double ref_lse(const double *x, int64_t k)
{
    long double m = -INFINITY, s = 0;
    int64_t j;
    for (j = 0; j < k; j++)
        if (x[j] > m)
            m = x[j];
    if (m == -INFINITY)
        return m;
    for (j = 0; j < k; j++)
        s += expl((long double)x[j] - m);
    return m + logl(s);
}

static long double ref_kl(const double *p, const double *q, int64_t k)
{
    long double s = 0;
    int64_t j;
    for (j = 0; j < k; j++) {
        if (p[j] == -INFINITY)
            continue;
        if (q[j] == -INFINITY)
            return INFINITY;
        s += expl((long double)p[j]) * ((long double)p[j] - q[j]);
    }
    return s;
}

/* ---- test data: rows of random logits, some -inf, optionally an all -inf row ------------------ */

static void fill_logits(double *x, int64_t n, double scale, double p_ninf)
{
    int64_t j;
    for (j = 0; j < n; j++)
        x[j] = urand() < p_ninf ? -INFINITY : scale * (2 * urand() - 1);
}

/* Normalized log-probabilities (long double accurate), some -inf. */
static void fill_logprobs(double *x, int64_t k, double p_ninf)
{
    long double l;
    int64_t j;
    fill_logits(x, k, 4.0, p_ninf);
    x[0] = 0.5; /* at least one finite */
    l = ref_lse(x, k);
    for (j = 0; j < k; j++)
        x[j] = (double)((long double)x[j] - l);
}

/* ---- dtype templates ------------------------------------------------------------------------- */

#define TOL_F64 1e-13
#define TOL_F32 2e-6
/* absolute slack for results near the underflow threshold */
#define TINY_f64 1e-300
#define TINY_f32 1e-37

#define DEFINE_TESTS(T, SFX, TOL)                                                              \
    static void to_##SFX(const double *src, T *dst, int64_t n)                                 \
    {                                                                                          \
        int64_t i;                                                                             \
        for (i = 0; i < n; i++)                                                                \
            dst[i] = (T)src[i];                                                                \
    }                                                                                          \
    static void from_##SFX(const T *src, double *dst, int64_t n)                               \
    {                                                                                          \
        int64_t i;                                                                             \
        for (i = 0; i < n; i++)                                                                \
            dst[i] = (double)src[i];                                                           \
    }                                                                                          \
    /* logsumexp / log_softmax / softmax on batch rows of k with ldx (0 = broadcast), */      \
    /* out ld ldo; in place when inplace (requires ldx == ldo). */                             \
    static void test_lse_##SFX(int64_t batch, int64_t k, int64_t ldx, int64_t ldo,             \
                               double scale, double p_ninf, int allninf_row, int inplace)      \
    {                                                                                          \
        int64_t nx = ldx ? batch * ldx : k, no = batch * ldo, i, j;                            \
        double *xd = malloc(sizeof(double) * nx);                                              \
        T *x = malloc(sizeof(T) * nx), *o = malloc(sizeof(T) * (no > nx ? no : nx));           \
        T *lse = malloc(sizeof(T) * batch);                                                    \
        int bad_lse = 0, bad_ls = 0, bad_sm = 0, st;                                           \
        fill_logits(xd, nx, scale, p_ninf);                                                    \
        if (allninf_row && batch > 0)                                                          \
            for (j = 0; j < k; j++)                                                            \
                xd[(batch - 1) * ldx + j] = -INFINITY;                                         \
        to_##SFX(xd, x, nx);                                                                   \
        from_##SFX(x, xd, nx);                                                                 \
        st = nashmp_logsumexp_##SFX(x, batch, k, ldx, lse);                                    \
        CHECK(st == NASHMP_OK, "lse status %d", st);                                           \
        for (i = 0; i < batch; i++) {                                                          \
            long double r = ref_lse(xd + i * ldx, k);                                          \
            if (!close_to(lse[i], r, TOL)) {                                                   \
                if (!bad_lse++)                                                                \
                    printf("  lse row %ld: got %.17g want %.17Lg\n", (long)i, (double)lse[i], r); \
            }                                                                                  \
        }                                                                                      \
        CHECK(!bad_lse, "logsumexp_" #SFX " batch=%ld k=%ld ldx=%ld: %d bad rows", (long)batch, \
              (long)k, (long)ldx, bad_lse);                                                    \
        for (int mode = 0; mode < 2; mode++) {                                                 \
            T *dst = o;                                                                        \
            int64_t ld = ldo;                                                                  \
            if (inplace) {                                                                     \
                memcpy(o, x, sizeof(T) * nx);                                                  \
                ld = ldx;                                                                      \
                st = mode ? nashmp_softmax_##SFX(o, batch, k, ldx, o, ldx)                     \
                          : nashmp_log_softmax_##SFX(o, batch, k, ldx, o, ldx);                \
            } else {                                                                           \
                st = mode ? nashmp_softmax_##SFX(x, batch, k, ldx, dst, ldo)                   \
                          : nashmp_log_softmax_##SFX(x, batch, k, ldx, dst, ldo);              \
            }                                                                                  \
            CHECK(st == NASHMP_OK, "softmax mode %d status %d", mode, st);                     \
            for (i = 0; i < batch; i++) {                                                      \
                long double r = ref_lse(xd + i * ldx, k);                                      \
                for (j = 0; j < k; j++) {                                                      \
                    long double xv = xd[i * ldx + j], want;                                    \
                    double got = dst[i * ld + j];                                              \
                    if (r == -INFINITY)                                                        \
                        want = mode ? 0.0L : -INFINITY;                                        \
                    else                                                                       \
                        want = mode ? expl(xv - r) : xv - r;                                   \
                    /* log_softmax: abs error relative to max(1,|lse|,|x|); softmax: rel */    \
                    if (mode == 0 ? !close_to(got, want, TOL * (fabsl(r) + 1 + fabsl(xv)) /   \
                                                            fmaxl(1, fabsl(want)))             \
                                  : !(fabsl(got - want) <= TOL * 2 * want + TINY_##SFX)) {         \
                        if (!(mode ? bad_sm++ : bad_ls++))                                     \
                            printf("  mode %d row %ld col %ld: got %.17g want %.17Lg\n", mode, \
                                   (long)i, (long)j, got, want);                               \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        CHECK(!bad_ls, "log_softmax_" #SFX " batch=%ld k=%ld inplace=%d: %d bad", (long)batch,  \
              (long)k, inplace, bad_ls);                                                       \
        CHECK(!bad_sm, "softmax_" #SFX " batch=%ld k=%ld inplace=%d: %d bad", (long)batch,      \
              (long)k, inplace, bad_sm);                                                       \
        free(xd);                                                                              \
        free(x);                                                                               \
        free(o);                                                                               \
        free(lse);                                                                             \
    }                                                                                          \
    static void test_kl_span_##SFX(int64_t batch, int64_t k, int64_t ldq)                      \
    {                                                                                          \
        int64_t nq = ldq ? batch * ldq : k, i, bad = 0, bads = 0;                              \
        double *pd = malloc(sizeof(double) * batch * k), *qd = malloc(sizeof(double) * nq);    \
        T *p = malloc(sizeof(T) * batch * k), *q = malloc(sizeof(T) * nq);                     \
        T *out = malloc(sizeof(T) * batch);                                                    \
        int st;                                                                                \
        for (i = 0; i < batch; i++)                                                            \
            fill_logprobs(pd + i * k, k, 0.1);                                                 \
        for (i = 0; i < (ldq ? batch : 1); i++)                                                \
            fill_logprobs(qd + i * (ldq ? ldq : 0), k, 0.0);                                   \
        if (batch > 2 && ldq) /* row 1: q = -inf where p is finite -> +inf */                  \
            qd[1 * ldq + 0] = -INFINITY;                                                       \
        to_##SFX(pd, p, batch * k);                                                            \
        from_##SFX(p, pd, batch * k);                                                          \
        to_##SFX(qd, q, nq);                                                                   \
        from_##SFX(q, qd, nq);                                                                 \
        st = nashmp_kl_##SFX(p, k, q, ldq, batch, k, out);                                     \
        CHECK(st == NASHMP_OK, "kl status %d", st);                                            \
        for (i = 0; i < batch; i++) {                                                          \
            long double r = ref_kl(pd + i * k, qd + i * ldq, k);                               \
            /* KL error scales with sum p|lp - lq| ~ the terms' magnitude */                   \
            if (!close_to(out[i], r, TOL * 20)) {                                              \
                if (!bad++)                                                                    \
                    printf("  kl row %ld: got %.17g want %.17Lg\n", (long)i, (double)out[i], r); \
            }                                                                                  \
        }                                                                                      \
        CHECK(!bad, "kl_" #SFX " batch=%ld k=%ld ldq=%ld: %ld bad", (long)batch, (long)k,      \
              (long)ldq, (long)bad);                                                           \
        if (batch > 2) { /* all -inf row for span */                                           \
            for (i = 0; i < k; i++)                                                            \
                p[2 * k + i] = (T)-INFINITY;                                                   \
            from_##SFX(p, pd, batch * k);                                                      \
        }                                                                                      \
        st = nashmp_span_##SFX(p, batch, k, k, out);                                           \
        CHECK(st == NASHMP_OK, "span status %d", st);                                          \
        for (i = 0; i < batch; i++) {                                                          \
            double mx = -INFINITY, mn = INFINITY, want;                                        \
            int64_t j;                                                                         \
            for (j = 0; j < k; j++) {                                                          \
                mx = fmax(mx, pd[i * k + j]);                                                  \
                mn = fmin(mn, pd[i * k + j]);                                                  \
            }                                                                                  \
            want = mx == -INFINITY ? 0.0 : (double)(T)(mx - mn);                               \
            if (!(out[i] == want))                                                             \
                bads++;                                                                        \
        }                                                                                      \
        CHECK(!bads, "span_" #SFX " batch=%ld k=%ld: %ld bad", (long)batch, (long)k,           \
              (long)bads);                                                                     \
        free(pd);                                                                              \
        free(qd);                                                                              \
        free(p);                                                                               \
        free(q);                                                                               \
        free(out);                                                                             \
    }                                                                                          \
    static void test_pa_##SFX(int64_t batch, int64_t k, int shared, int64_t ldpi)              \
    {                                                                                          \
        int64_t ldP = shared ? 0 : k * k + 3, nP = shared ? k * k : batch * ldP;               \
        int64_t npi = ldpi ? batch * ldpi : k, ldo = k + 1, i, y, j, bad = 0;                  \
        T *P = malloc(sizeof(T) * nP), *pi = malloc(sizeof(T) * npi);                          \
        T *out = malloc(sizeof(T) * batch * ldo);                                              \
        int st;                                                                                \
        for (i = 0; i < nP; i++)                                                               \
            P[i] = (T)urand();                                                                 \
        for (i = 0; i < npi; i++)                                                              \
            pi[i] = (T)(urand() / k);                                                          \
        st = nashmp_preference_apply_##SFX(P, ldP, pi, ldpi, batch, k, out, ldo);              \
        CHECK(st == NASHMP_OK, "preference_apply status %d", st);                              \
        for (i = 0; i < batch; i++)                                                            \
            for (y = 0; y < k; y++) {                                                          \
                long double s = 0, sa = 0;                                                     \
                const T *Pr = P + i * ldP + y * k, *pr = pi + i * ldpi;                        \
                for (j = 0; j < k; j++) {                                                      \
                    s += (long double)Pr[j] * pr[j];                                           \
                    sa += fabsl((long double)Pr[j] * pr[j]);                                   \
                }                                                                              \
                if (!(fabsl(out[i * ldo + y] - s) <= TOL * (sa + 1e-300) + 1e-300)) {          \
                    if (!bad++)                                                                \
                        printf("  pa game %ld row %ld: got %.17g want %.17Lg\n", (long)i,       \
                               (long)y, (double)out[i * ldo + y], s);                          \
                }                                                                              \
            }                                                                                  \
        CHECK(!bad, "preference_apply_" #SFX " batch=%ld k=%ld shared=%d ldpi=%ld: %ld bad",   \
              (long)batch, (long)k, shared, (long)ldpi, (long)bad);                            \
        free(P);                                                                               \
        free(pi);                                                                              \
        free(out);                                                                             \
    }                                                                                          \
    /* mirror step: out = z - lse(z), in place on log_pi when inplace; zero coefficient */     \
    /* terms passed as NULL. */                                                                \
    static void test_mirror_##SFX(int64_t batch, int64_t k, double a, double b, double c,      \
                                  int inplace, int64_t ldref)                                  \
    {                                                                                          \
        int64_t n = batch * k, nref = ldref ? batch * ldref : k, i, j, bad = 0;                \
        double *lpd = malloc(sizeof(double) * n), *lrd = malloc(sizeof(double) * nref);        \
        double *gd = malloc(sizeof(double) * n), *zd = malloc(sizeof(double) * k);             \
        T *lp = malloc(sizeof(T) * n), *lr = malloc(sizeof(T) * nref), *g = malloc(sizeof(T) * n); \
        T *out = malloc(sizeof(T) * n), *dst;                                                  \
        int st;                                                                                \
        for (i = 0; i < batch; i++)                                                            \
            fill_logprobs(lpd + i * k, k, 0.05);                                               \
        for (i = 0; i < (ldref ? batch : 1); i++)                                              \
            fill_logprobs(lrd + i * ldref, k, 0.0);                                            \
        fill_logits(gd, n, 1.0, 0.0);                                                          \
        to_##SFX(lpd, lp, n);                                                                  \
        from_##SFX(lp, lpd, n);                                                                \
        to_##SFX(lrd, lr, nref);                                                               \
        from_##SFX(lr, lrd, nref);                                                             \
        to_##SFX(gd, g, n);                                                                    \
        from_##SFX(g, gd, n);                                                                  \
        dst = inplace ? lp : out;                                                              \
        st = nashmp_mirror_step_##SFX(a != 0 ? lp : NULL, k, b != 0 ? lr : NULL, ldref,        \
                                      c != 0 ? g : NULL, k, batch, k, a, b, c, dst, k);        \
        CHECK(st == NASHMP_OK, "mirror status %s", nashmp_status_string(st));                  \
        for (i = 0; i < batch; i++) {                                                          \
            long double l, zmax = 0;                                                           \
            for (j = 0; j < k; j++) {                                                          \
                long double z = 0;                                                             \
                if (a != 0)                                                                    \
                    z += (long double)a * lpd[i * k + j];                                      \
                if (b != 0)                                                                    \
                    z += (long double)b * lrd[i * ldref + j];                                  \
                if (c != 0)                                                                    \
                    z += (long double)c * gd[i * k + j];                                       \
                zd[j] = (double)z;                                                             \
                if (isfinite((double)z) && fabsl(z) > zmax)                                    \
                    zmax = fabsl(z);                                                           \
            }                                                                                  \
            l = ref_lse(zd, k);                                                                \
            for (j = 0; j < k; j++) {                                                          \
                long double want = (long double)zd[j] - l;                                     \
                if (!close_to(dst[i * k + j], want,                                            \
                              4 * TOL * (1 + zmax + fabsl(l)) / fmaxl(1, fabsl(want)))) {      \
                    if (!bad++)                                                                \
                        printf("  mirror row %ld col %ld: got %.17g want %.17Lg\n", (long)i,    \
                               (long)j, (double)dst[i * k + j], want);                         \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        CHECK(!bad, "mirror_step_" #SFX " batch=%ld k=%ld a=%g b=%g c=%g inplace=%d: %ld bad", \
              (long)batch, (long)k, a, b, c, inplace, (long)bad);                              \
        free(lpd);                                                                             \
        free(lrd);                                                                             \
        free(gd);                                                                              \
        free(zd);                                                                              \
        free(lp);                                                                              \
        free(lr);                                                                              \
        free(g);                                                                               \
        free(out);                                                                             \
    }                                                                                          \
    static void test_bad_args_##SFX(void)                                                      \
    {                                                                                          \
        T x[64], o[64], P[64];                                                                 \
        int i;                                                                                 \
        for (i = 0; i < 64; i++)                                                               \
            x[i] = o[i] = P[i] = (T)(i % 7) * (T)0.1;                                          \
        /* NULL */                                                                             \
        CHECK_ST(nashmp_logsumexp_##SFX(NULL, 2, 3, 3, o), NASHMP_ERR_NULL_POINTER);           \
        CHECK_ST(nashmp_logsumexp_##SFX(x, 2, 3, 3, NULL), NASHMP_ERR_NULL_POINTER);           \
        CHECK_ST(nashmp_log_softmax_##SFX(NULL, 2, 3, 3, o, 3), NASHMP_ERR_NULL_POINTER);      \
        CHECK_ST(nashmp_softmax_##SFX(x, 2, 3, 3, NULL, 3), NASHMP_ERR_NULL_POINTER);          \
        CHECK_ST(nashmp_kl_##SFX(NULL, 3, x, 3, 2, 3, o), NASHMP_ERR_NULL_POINTER);            \
        CHECK_ST(nashmp_kl_##SFX(x, 3, NULL, 3, 2, 3, o), NASHMP_ERR_NULL_POINTER);            \
        CHECK_ST(nashmp_span_##SFX(NULL, 2, 3, 3, o), NASHMP_ERR_NULL_POINTER);                \
        CHECK_ST(nashmp_preference_apply_##SFX(NULL, 0, x, 3, 2, 3, o, 3),                     \
                 NASHMP_ERR_NULL_POINTER);                                                     \
        CHECK_ST(nashmp_mirror_step_##SFX(NULL, 3, x, 3, x, 3, 2, 3, 1, 1, 1, o, 3),           \
                 NASHMP_ERR_NULL_POINTER);                                                     \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, x, 3, NULL, 3, 2, 3, 1, 1, 1, o, 3),           \
                 NASHMP_ERR_NULL_POINTER);                                                     \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, NULL, 3, NULL, 3, 2, 3, 1, 0, 0, o, 3),        \
                 NASHMP_OK);                                                                   \
        /* sizes */                                                                            \
        CHECK_ST(nashmp_logsumexp_##SFX(x, -1, 3, 3, o), NASHMP_ERR_INVALID_SIZE);             \
        CHECK_ST(nashmp_logsumexp_##SFX(x, 2, 0, 3, o), NASHMP_ERR_INVALID_SIZE);              \
        CHECK_ST(nashmp_logsumexp_##SFX(x, 2, -5, 3, o), NASHMP_ERR_INVALID_SIZE);             \
        CHECK_ST(nashmp_logsumexp_##SFX(x, 0, 3, 3, o), NASHMP_OK);                            \
        CHECK_ST(nashmp_log_softmax_##SFX(x, 2, 0, 3, o, 3), NASHMP_ERR_INVALID_SIZE);         \
        CHECK_ST(nashmp_softmax_##SFX(x, -2, 3, 3, o, 3), NASHMP_ERR_INVALID_SIZE);            \
        CHECK_ST(nashmp_kl_##SFX(x, 3, x, 3, 2, 0, o), NASHMP_ERR_INVALID_SIZE);               \
        CHECK_ST(nashmp_span_##SFX(x, INT64_MIN, 3, 3, o), NASHMP_ERR_INVALID_SIZE);           \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 3, 2, 0, o, 3),                        \
                 NASHMP_ERR_INVALID_SIZE);                                                     \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, x, 3, x, 3, -1, 3, 1, 1, 1, o, 3),             \
                 NASHMP_ERR_INVALID_SIZE);                                                     \
        /* overflow */                                                                         \
        CHECK_ST(nashmp_logsumexp_##SFX(x, INT64_MAX, 3, 3, o), NASHMP_ERR_OVERFLOW);          \
        CHECK_ST(nashmp_logsumexp_##SFX(x, 2, INT64_MAX, INT64_MAX, o), NASHMP_ERR_OVERFLOW);  \
        CHECK_ST(nashmp_logsumexp_##SFX(x, 3, INT64_MAX / 2, INT64_MAX / 2, o),                \
                 NASHMP_ERR_OVERFLOW);                                                         \
        CHECK_ST(nashmp_log_softmax_##SFX(x, (int64_t)1 << 40, (int64_t)1 << 30, 0, o,         \
                                          (int64_t)1 << 30),                                   \
                 NASHMP_ERR_OVERFLOW);                                                         \
        CHECK_ST(nashmp_kl_##SFX(x, 3, x, 3, INT64_MAX / 2, 3, o), NASHMP_ERR_OVERFLOW);       \
        CHECK_ST(nashmp_span_##SFX(x, 1, INT64_MAX / 3, 0, o), NASHMP_ERR_OVERFLOW);           \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 0, 1, (int64_t)1 << 32, o, 0),         \
                 NASHMP_ERR_OVERFLOW);                                                         \
        CHECK_ST(nashmp_preference_apply_##SFX(P, INT64_MAX / 2, x, 0, 3, 3, o, 3),            \
                 NASHMP_ERR_OVERFLOW);                                                         \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, x, 3, x, 3, INT64_MAX, 3, 1, 1, 1, o, 3),      \
                 NASHMP_ERR_OVERFLOW);                                                         \
        /* preference_apply: out overlapping pi or P (in place, shifted, broadcast row) */     \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 3, 2, 3, x, 3), NASHMP_ERR_OVERLAP);   \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 3, 2, 3, x + 5, 3),                    \
                 NASHMP_ERR_OVERLAP);                                                          \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x + 4, 3, 2, 3, x, 3),                    \
                 NASHMP_ERR_OVERLAP);                                                          \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x + 5, 0, 2, 3, x, 3),                    \
                 NASHMP_ERR_OVERLAP);                                                          \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 9, x, 3, 2, 3, P + 17, 3),                   \
                 NASHMP_ERR_OVERLAP);                                                          \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 3, 2, 3, P + 8, 3),                    \
                 NASHMP_ERR_OVERLAP);                                                          \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 3, 2, 3, x + 6, 3), NASHMP_OK);        \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x + 6, 3, 2, 3, x, 3), NASHMP_OK);        \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 3, 2, 3, P + 9, 3), NASHMP_OK);        \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 3, 0, 3, x, 3), NASHMP_OK);            \
        /* strides */                                                                          \
        CHECK_ST(nashmp_logsumexp_##SFX(x, 2, 3, 2, o), NASHMP_ERR_INVALID_STRIDE);            \
        CHECK_ST(nashmp_logsumexp_##SFX(x, 2, 3, -3, o), NASHMP_ERR_INVALID_STRIDE);           \
        CHECK_ST(nashmp_log_softmax_##SFX(x, 2, 3, 3, o, 2), NASHMP_ERR_INVALID_STRIDE);       \
        CHECK_ST(nashmp_log_softmax_##SFX(x, 2, 3, 3, o, 0), NASHMP_ERR_INVALID_STRIDE);       \
        CHECK_ST(nashmp_log_softmax_##SFX(x, 1, 3, 3, o, 0), NASHMP_OK);                       \
        CHECK_ST(nashmp_softmax_##SFX(x, 2, 3, 3, o, -1), NASHMP_ERR_INVALID_STRIDE);          \
        CHECK_ST(nashmp_kl_##SFX(x, 1, x, 3, 2, 3, o), NASHMP_ERR_INVALID_STRIDE);             \
        CHECK_ST(nashmp_kl_##SFX(x, 3, x, 2, 2, 3, o), NASHMP_ERR_INVALID_STRIDE);             \
        CHECK_ST(nashmp_span_##SFX(x, 2, 3, 1, o), NASHMP_ERR_INVALID_STRIDE);                 \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 8, x, 3, 2, 3, o, 3),                        \
                 NASHMP_ERR_INVALID_STRIDE);                                                   \
        CHECK_ST(nashmp_preference_apply_##SFX(P, 0, x, 3, 2, 3, o, 1),                        \
                 NASHMP_ERR_INVALID_STRIDE);                                                   \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, x, 2, x, 3, 2, 3, 1, 1, 1, o, 3),              \
                 NASHMP_ERR_INVALID_STRIDE);                                                   \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, x, 2, x, 3, 2, 3, 1, 0, 1, o, 3), NASHMP_OK);  \
        /* scalars */                                                                          \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, x, 3, x, 3, 2, 3, NAN, 1, 1, o, 3),            \
                 NASHMP_ERR_INVALID_VALUE);                                                    \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, x, 3, x, 3, 2, 3, 1, INFINITY, 1, o, 3),       \
                 NASHMP_ERR_INVALID_VALUE);                                                    \
        CHECK_ST(nashmp_mirror_step_##SFX(x, 3, x, 3, x, 3, 2, 3, 1, 1, -INFINITY, o, 3),      \
                 NASHMP_ERR_INVALID_VALUE);                                                    \
        /* non-finite data: NaN / +inf at various positions, incl. all-NaN rows */             \
        {                                                                                      \
            static const int64_t ks[] = {1, 3, 41, 300, 1271};                                 \
            T *big = malloc(sizeof(T) * 2 * 1271), *ob = malloc(sizeof(T) * 2 * 1271);        \
            int kk, which, pos;                                                                \
            for (kk = 0; kk < 5; kk++)                                                         \
                for (which = 0; which < 3; which++)                                            \
                    for (pos = 0; pos < 3; pos++) {                                            \
                        int64_t k = ks[kk], p = pos == 0 ? 0 : pos == 1 ? k / 2 : k - 1, j;    \
                        T bv = which == 0 ? (T)NAN : which == 1 ? (T)INFINITY : (T)NAN;        \
                        for (j = 0; j < 2 * k; j++)                                            \
                            big[j] = which == 2 ? (T)-INFINITY : (T)(-0.01 * (double)j);       \
                        big[k + p] = bv; /* row 1 */                                           \
                        CHECK_ST(nashmp_logsumexp_##SFX(big, 2, k, k, ob),                     \
                                 NASHMP_ERR_NONFINITE);                                        \
                        CHECK_ST(nashmp_log_softmax_##SFX(big, 2, k, k, ob, k),                \
                                 NASHMP_ERR_NONFINITE);                                        \
                        CHECK_ST(nashmp_softmax_##SFX(big, 2, k, k, ob, k),                    \
                                 NASHMP_ERR_NONFINITE);                                        \
                        CHECK_ST(nashmp_span_##SFX(big, 2, k, k, ob), NASHMP_ERR_NONFINITE);   \
                        CHECK_ST(nashmp_kl_##SFX(big, k, big, 0, 2, k, ob),                    \
                                 NASHMP_ERR_NONFINITE);                                        \
                        CHECK_ST(nashmp_kl_##SFX(big, 0, big, k, 2, k, ob),                    \
                                 NASHMP_ERR_NONFINITE);                                        \
                        CHECK_ST(nashmp_mirror_step_##SFX(big, k, NULL, 0, NULL, 0, 2, k, 1,   \
                                                          0, 0, ob, k),                        \
                                 NASHMP_ERR_NONFINITE);                                        \
                    }                                                                          \
            for (i = 0; i < 9; i++)                                                            \
                big[i] = (T)0.1;                                                               \
            big[4] = (T)NAN;                                                                   \
            CHECK_ST(nashmp_preference_apply_##SFX(big, 0, x, 3, 1, 3, ob, 3),                 \
                     NASHMP_ERR_NONFINITE);                                                    \
            big[4] = (T)0.1;                                                                   \
            x[1] = (T)INFINITY;                                                                \
            CHECK_ST(nashmp_preference_apply_##SFX(big, 0, x, 3, 1, 3, ob, 3),                 \
                     NASHMP_ERR_NONFINITE);                                                    \
            x[1] = (T)0.1;                                                                     \
            free(big);                                                                         \
            free(ob);                                                                          \
        }                                                                                      \
    }                                                                                          \
    static void run_all_##SFX(void)                                                            \
    {                                                                                          \
        static const int64_t ks[] = {1, 3, 41, 1271, 100000};                                  \
        int i;                                                                                 \
        for (i = 0; i < 5; i++) {                                                              \
            int64_t k = ks[i], batch = k >= 100000 ? 3 : 7;                                    \
            test_lse_##SFX(batch, k, k, k, 5.0, 0.0, 0, 0);                                    \
            test_lse_##SFX(batch, k, k + 5, k + 2, 30.0, 0.2, 1, 0);                           \
            test_lse_##SFX(batch, k, 0, k, 3.0, 0.1, 0, 0);                                    \
            test_lse_##SFX(batch, k, k + 1, 0, 3.0, 0.1, 1, 1);                                \
            test_lse_##SFX(1, k, k, k, 700.0, 0.0, 0, 0);                                      \
            test_kl_span_##SFX(batch, k, k);                                                   \
            test_kl_span_##SFX(batch, k, 0);                                                   \
            test_mirror_##SFX(batch, k, 0.9, 0.1, 0.5, 0, k);                                  \
            test_mirror_##SFX(batch, k, 0.9, 0.1, -2.0, 1, 0);                                 \
            test_mirror_##SFX(batch, k, 1.0, 0.0, 0.3, 1, k);                                  \
            test_mirror_##SFX(batch, k, 0.0, 1.0, 0.0, 0, k);                                  \
            test_mirror_##SFX(batch, k, 0.0, 0.0, 0.0, 0, k);                                  \
            if (k <= 1271) {                                                                   \
                test_pa_##SFX(5, k, 1, k);                                                     \
                test_pa_##SFX(6, k, 0, k + 2);                                                 \
                test_pa_##SFX(1, k, 1, k);                                                     \
                test_pa_##SFX(4, k, 0, 0);                                                     \
            }                                                                                  \
        }                                                                                      \
        { /* every tail length of the vector loops (4 / 8 / 32 lanes, overlapping last load) */ \
            static const int64_t kt[] = {2, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 127,  \
                                         255, 257, 1024, 1025};                          \
            for (i = 0; i < 19; i++) {                                                         \
                test_lse_##SFX(9, kt[i], kt[i], kt[i], 20.0, 0.2, 1, 0);                       \
                test_lse_##SFX(9, kt[i], kt[i], kt[i], 5.0, 0.0, 0, 1);                        \
                test_kl_span_##SFX(5, kt[i], kt[i]);                                           \
            }                                                                                  \
        }                                                                                      \
        test_lse_##SFX(3, 300000, 300000, 300000, 10.0, 0.3, 1, 0); /* tiled rows */           \
        test_lse_##SFX(1, 300000, 300000, 300000, 10.0, 0.0, 0, 1);                            \
        test_lse_##SFX(20000, 5, 5, 5, 10.0, 0.1, 1, 0); /* many small rows, threaded */       \
        test_pa_##SFX(9, 600, 1, 600);                                                         \
        test_pa_##SFX(1, 3000, 1, 3000);                                                       \
        test_bad_args_##SFX();                                                                 \
    }

DEFINE_TESTS(double, f64, TOL_F64)
DEFINE_TESTS(float, f32, TOL_F32)


/* ---- exp_red: error bound (documented in exp_block.h) and scalar == vector --------------------- */

static double ulp_err64(double got, long double ref)
{
    return (double)(fabsl((long double)got - ref) / ldexpl(1.0L, ilogbl(ref) - 52));
}
static double ulp_err32(float got, long double ref)
{
    return (double)(fabsl((long double)got - ref) / ldexpl(1.0L, ilogbl(ref) - 23));
}

/* max ulp error on [-708, 0], [-5, 5], [-708, -707], [0, 708] (float: [-86.9, 0], [-5, 5],
 * [-86.9, -85.9], [0, 88]); err[0]: double with x >= -700, err[1]: double all, err[2]: float;
 * *mism counts scalar/vector disagreements. */
#define EXP_RED_SCAN(NAME, ATTR)                                                                \
    ATTR static void NAME(long n, double err[3], long *mism)                                    \
    {                                                                                          \
        static const double lo64[4] = {-708, -5, -708, 0}, hi64[4] = {0, 5, -707, 708};          \
        static const float lo32[4] = {-86.9f, -5, -86.9f, 0}, hi32[4] = {0, 5, -85.9f, 88};      \
        long i;                                                                                \
        int rg, l;                                                                             \
        err[0] = err[1] = err[2] = 0;                                                          \
        *mism = 0;                                                                             \
        for (rg = 0; rg < 4; rg++)                                                             \
            for (i = 0; i < n; i += 8) {                                                       \
                nashmp_v4d v, e;                                                               \
                nashmp_v8f vf, ef;                                                             \
                for (l = 0; l < 4; l++)                                                        \
                    v[l] = lo64[rg] + (hi64[rg] - lo64[rg]) * urand();                         \
                for (l = 0; l < 8; l++)                                                        \
                    vf[l] = lo32[rg] + (hi32[rg] - lo32[rg]) * (float)urand();                 \
                e = nashmp_vexp_red_f64(v);                                                    \
                ef = nashmp_vexp_red_f32(vf);                                                  \
                for (l = 0; l < 4; l++) {                                                      \
                    double s = nashmp_exp_red_f64(v[l]), u = ulp_err64(s, expl(v[l]));          \
                    *mism += s != e[l];                                                        \
                    err[1] = u > err[1] ? u : err[1];                                          \
                    if (v[l] >= -700)                                                          \
                        err[0] = u > err[0] ? u : err[0];                                      \
                }                                                                              \
                for (l = 0; l < 8; l++) {                                                      \
                    float s = nashmp_exp_red_f32(vf[l]);                                       \
                    double u = ulp_err32(s, expl((long double)vf[l]));                         \
                    *mism += s != ef[l];                                                       \
                    err[2] = u > err[2] ? u : err[2];                                          \
                }                                                                              \
            }                                                                                  \
    }

#if defined(NASHMP_VEXT) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
EXP_RED_SCAN(exp_red_scan_v3, __attribute__((target("arch=x86-64-v3"))))
EXP_RED_SCAN(exp_red_scan_v4, __attribute__((target("arch=x86-64-v4"))))
#define HAVE_SCAN_V3 1
#endif
#ifdef NASHMP_VEXT
EXP_RED_SCAN(exp_red_scan_base, )
#endif

static void test_exp_red(void)
{
#ifdef NASHMP_VEXT
    /* documented bounds (exp_block.h): double <= 1.05 ulp (x >= -700; <= 1.3 ulp just above
     * the underflow threshold without FMA), float <= 1.6 ulp */
    double err[3];
    long mism;
    int pass;
    for (pass = 0; pass < 3; pass++) {
        const char *name = pass == 2 ? "x86-64-v4" : pass ? "x86-64-v3" : "baseline";
        if (pass == 0) {
            exp_red_scan_base(200000, err, &mism);
        } else {
#ifdef HAVE_SCAN_V3
            if (pass == 1 && __builtin_cpu_supports("x86-64-v3"))
                exp_red_scan_v3(200000, err, &mism);
            else if (pass == 2 && __builtin_cpu_supports("x86-64-v4"))
                exp_red_scan_v4(200000, err, &mism);
            else
                continue;
#else
            continue;
#endif
        }
        printf("exp_red %s: double %.3f ulp (x >= -700), %.3f ulp (all); float %.3f ulp\n", name,
               err[0], err[1], err[2]);
        CHECK(err[0] <= 1.05, "exp_red_f64 %s: %.4f ulp > 1.05", name, err[0]);
        CHECK(err[1] <= 1.3, "exp_red_f64 %s near underflow: %.4f ulp > 1.3", name, err[1]);
        CHECK(err[2] <= 1.6, "exp_red_f32 %s: %.4f ulp > 1.6", name, err[2]);
        CHECK(mism == 0, "exp_red %s: scalar and vector differ in %ld cases", name, mism);
    }
#endif
    CHECK(nashmp_exp_red_f64(0.0) == 1.0 && nashmp_exp_red_f32(0.0f) == 1.0f, "exp_red(0) != 1");
    CHECK(nashmp_exp_red_f64(-INFINITY) == 0.0 && nashmp_exp_red_f32(-INFINITY) == 0.0f,
          "exp_red(-inf) != 0");
    CHECK(nashmp_exp_red_f64(-708.5) == 0.0 && nashmp_exp_red_f32(-87.0f) == 0.0f,
          "exp_red below the flush threshold != 0");
    CHECK(nashmp_exp_red_f64(NAN) == 0.0 && nashmp_exp_red_f32(NAN) == 0.0f, "exp_red(NaN) != 0");
}

/* float logsumexp of very long rows: the f32 exps are summed in double (error independent of
 * K); K = 10^7 random, and a constant row whose exact result is c + log(K). */
static void test_lse_f32_long(void)
{
    const int64_t k = 10000000;
    float *x = malloc(sizeof(float) * k), r;
    long double m = -INFINITY, s = 0, ref;
    int64_t j;
    for (j = 0; j < k; j++) {
        x[j] = (float)(16.0 * urand() - 8.0);
        m = x[j] > m ? x[j] : m;
    }
    for (j = 0; j < k; j++)
        s += expl((long double)x[j] - m);
    ref = m + logl(s);
    CHECK_ST(nashmp_logsumexp_f32(x, 1, k, k, &r), NASHMP_OK);
    CHECK(close_to(r, ref, TOL_F32), "logsumexp_f32 K=1e7: got %.9g want %.9Lg", (double)r, ref);
    for (j = 0; j < k; j++)
        x[j] = 0.25f;
    ref = 0.25L + logl((long double)k);
    CHECK_ST(nashmp_logsumexp_f32(x, 1, k, k, &r), NASHMP_OK);
    CHECK(close_to(r, ref, TOL_F32), "logsumexp_f32 constant K=1e7: got %.9g want %.9Lg",
          (double)r, ref);
    free(x);
}

/* Short rows (k <= 32, batch >= 4 / 8: rows processed G at a time, lanes = rows) against the
 * row-by-row path (batch = 1 calls): within the documented bound (lse_block.h). */
#define DEFINE_SMALL_TEST(T, SFX, BOUND)                                                       \
    static void test_small_rows_##SFX(void)                                                    \
    {                                                                                          \
        static const int64_t ks[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32};          \
        const int64_t batch = 29;                                                              \
        int ik, pad, bad = 0;                                                                  \
        for (ik = 0; ik < 14; ik++)                                                            \
            for (pad = 0; pad < 2; pad++) {                                                    \
                int64_t k = ks[ik], ld = k + 3 * pad, i, j;                                    \
                T *x = malloc(sizeof(T) * batch * ld), o[29], o1;                              \
                for (j = 0; j < batch * ld; j++)                                               \
                    x[j] = urand() < 0.15 ? (T)-INFINITY : (T)(40.0 * urand() - 20.0);         \
                for (j = 0; j < k; j++) /* an all -inf row inside a group */                  \
                    x[2 * ld + j] = (T)-INFINITY;                                              \
                CHECK_ST(nashmp_logsumexp_##SFX(x, batch, k, ld, o), NASHMP_OK);               \
                for (i = 0; i < batch; i++) {                                                  \
                    nashmp_logsumexp_##SFX(x + i * ld, 1, k, ld, &o1);                         \
                    if (!(o1 == o[i] ||                                                        \
                          fabs((double)o1 - (double)o[i]) <=                                   \
                              (BOUND) * fmax(1.0, fabs((double)o1)))) {                         \
                        if (!bad++)                                                            \
                            printf("  small rows k=%ld row %ld: %.17g vs %.17g\n", (long)k,   \
                                   (long)i, (double)o[i], (double)o1);                         \
                    }                                                                          \
                }                                                                              \
                x[(batch - 1) * ld + k - 1] = (T)NAN; /* in the last row only */              \
                CHECK_ST(nashmp_logsumexp_##SFX(x, batch - 5, k, ld, o), NASHMP_OK);           \
                CHECK_ST(nashmp_logsumexp_##SFX(x, batch, k, ld, o), NASHMP_ERR_NONFINITE);    \
                x[(batch - 1) * ld + k - 1] = (T)0;                                            \
                x[9 * ld + k / 2] = (T)NAN;                                                    \
                CHECK_ST(nashmp_logsumexp_##SFX(x, batch, k, ld, o), NASHMP_ERR_NONFINITE);    \
                x[9 * ld + k / 2] = (T)INFINITY;                                               \
                CHECK_ST(nashmp_logsumexp_##SFX(x, batch, k, ld, o), NASHMP_ERR_NONFINITE);    \
                free(x);                                                                       \
            }                                                                                  \
        CHECK(!bad, "logsumexp_" #SFX " short rows differ from the row-by-row path: %d", bad); \
    }
DEFINE_SMALL_TEST(double, f64, 64 * 0x1p-53)
DEFINE_SMALL_TEST(float, f32, 1e-6)

/* kl: the fast path's fall-backs and -inf handling */
#define DEFINE_KL_SPECIAL(T, SFX, TOL)                                                         \
    static void test_kl_special_##SFX(void)                                                    \
    {                                                                                          \
        enum { K = 37 };                                                                       \
        double pd[K], qd[K];                                                                   \
        T p[K], q[K], r;                                                                       \
        int j;                                                                                 \
        fill_logprobs(pd, K, 0.3);                                                             \
        fill_logprobs(qd, K, 0.0);                                                             \
        for (j = 0; j < K; j++) /* q = -inf wherever p is: still finite */                    \
            if (pd[j] == -INFINITY)                                                            \
                qd[j] = -INFINITY;                                                             \
        for (j = 0; j < K; j++) {                                                              \
            p[j] = (T)pd[j];                                                                   \
            q[j] = (T)qd[j];                                                                   \
            pd[j] = p[j];                                                                      \
            qd[j] = q[j];                                                                      \
        }                                                                                      \
        CHECK_ST(nashmp_kl_##SFX(p, K, q, K, 1, K, &r), NASHMP_OK);                            \
        CHECK(close_to(r, ref_kl(pd, qd, K), TOL * 20), "kl " #SFX " with shared -inf: %.17g",  \
              (double)r);                                                                      \
        p[3] = (T)-750.0; /* p > 0 (below the exp flush) against q = 0: +inf */               \
        q[3] = (T)-INFINITY;                                                                   \
        CHECK_ST(nashmp_kl_##SFX(p, K, q, K, 1, K, &r), NASHMP_OK);                            \
        CHECK(r == (T)INFINITY, "kl " #SFX " tiny p against q = 0: %g", (double)r);            \
        p[3] = (T)-INFINITY; /* p = 0 against q = NaN / +inf: NONFINITE (q checked anyway) */ \
        q[3] = (T)NAN;                                                                         \
        CHECK_ST(nashmp_kl_##SFX(p, K, q, K, 1, K, &r), NASHMP_ERR_NONFINITE);                 \
        q[3] = (T)INFINITY;                                                                    \
        CHECK_ST(nashmp_kl_##SFX(p, K, q, K, 1, K, &r), NASHMP_ERR_NONFINITE);                 \
        q[3] = (T)-1.0;                                                                        \
        p[7] = (T)NAN; /* p = NaN: NONFINITE */                                                \
        CHECK_ST(nashmp_kl_##SFX(p, K, q, K, 1, K, &r), NASHMP_ERR_NONFINITE);                 \
        p[7] = (T)-2.0;                                                                        \
        p[5] = (T)100.0; /* exp overflows in float only; double: finite */                    \
        p[6] = (T)800.0;                                                                       \
        CHECK_ST(nashmp_kl_##SFX(p, K, q, K, 1, K, &r), NASHMP_OK);                            \
        CHECK(r == (T)INFINITY, "kl " #SFX " with p = 800: %g", (double)r);                    \
    }
DEFINE_KL_SPECIAL(double, f64, TOL_F64)
DEFINE_KL_SPECIAL(float, f32, TOL_F32)

/* logsumexp rows of 64..1024 elements take the next row's max inside the current row's exp
 * loop: a batch must give each row's single-row result bitwise, whatever row is all -inf, and
 * NONFINITE whatever row holds NaN or +inf (the first, a middle or the last one). */
#define DEFINE_LSE_ROWS_SPECIAL(T, SFX)                                                        \
    static void test_lse_rows_special_##SFX(void)                                              \
    {                                                                                          \
        static const int64_t ks[] = {64, 65, 100, 1000, 1024};                                 \
        enum { B = 6 };                                                                        \
        int ik, kind, pos, i;                                                                  \
        for (ik = 0; ik < 5; ik++) {                                                           \
            const int64_t k = ks[ik];                                                          \
            double *xd = malloc(sizeof(double) * B * k);                                       \
            T *x = malloc(sizeof(T) * B * k), out[B], one;                                     \
            int bad = 0;                                                                       \
            fill_logits(xd, B * k, 20.0, 0.1);                                                 \
            for (kind = 0; kind < 4; kind++)                                                   \
                for (pos = 0; pos < B; pos++) {                                                \
                    int64_t j;                                                                 \
                    int want = kind >= 2 ? NASHMP_ERR_NONFINITE : NASHMP_OK, st;               \
                    for (j = 0; j < B * k; j++)                                                \
                        x[j] = (T)xd[j];                                                       \
                    for (j = 0; j < k; j++) /* kind 0: plain rows; 1: an all -inf row */      \
                        if (kind == 1)                                                         \
                            x[pos * k + j] = (T)-INFINITY;                                     \
                    if (kind == 2)                                                             \
                        x[pos * k + k / 2] = (T)NAN;                                           \
                    if (kind == 3)                                                             \
                        x[pos * k + k - 1] = (T)INFINITY;                                      \
                    st = nashmp_logsumexp_##SFX(x, B, k, k, out);                              \
                    bad += st != want;                                                         \
                    if (st == NASHMP_OK)                                                       \
                        for (i = 0; i < B; i++) {                                              \
                            CHECK_ST(nashmp_logsumexp_##SFX(x + i * k, 1, k, k, &one),          \
                                     NASHMP_OK);                                               \
                            bad += memcmp(&one, out + i, sizeof one) != 0;                     \
                            bad += (kind == 1 && i == pos) != (out[i] == (T)-INFINITY);        \
                        }                                                                      \
                }                                                                              \
            CHECK(!bad, "logsumexp_" #SFX " k=%ld special rows: %d mismatches", (long)k, bad); \
            free(xd);                                                                          \
            free(x);                                                                           \
        }                                                                                      \
    }
DEFINE_LSE_ROWS_SPECIAL(double, f64)
DEFINE_LSE_ROWS_SPECIAL(float, f32)

/* Same results for 1 and 2 threads (bitwise). */
static void test_threads(void)
{
    int64_t batch = 3, k = 200000, i;
    double *x = malloc(sizeof(double) * batch * k), *o1 = malloc(sizeof(double) * batch * k);
    double *o2 = malloc(sizeof(double) * batch * k), l1[3], l2[3];
    fill_logits(x, batch * k, 20.0, 0.1);
    nashmp_set_num_threads(1);
    CHECK(nashmp_get_num_threads() == 1, "get_num_threads after set(1)");
    nashmp_logsumexp_f64(x, batch, k, k, l1);
    nashmp_log_softmax_f64(x, batch, k, k, o1, k);
    nashmp_set_num_threads(2);
    nashmp_logsumexp_f64(x, batch, k, k, l2);
    nashmp_log_softmax_f64(x, batch, k, k, o2, k);
    CHECK(memcmp(l1, l2, sizeof l1) == 0, "logsumexp depends on the thread count");
    CHECK(memcmp(o1, o2, sizeof(double) * batch * k) == 0, "log_softmax depends on threads");
    nashmp_logsumexp_f64(x, 1, k, k, l2);
    CHECK(l2[0] == l1[0], "single long row (tiled) depends on threads");
    nashmp_set_num_threads(0);
    CHECK(nashmp_get_num_threads() >= 1, "default thread count");
    for (i = 0; i < 1; i++) {
    }
    free(x);
    free(o1);
    free(o2);
}

static void test_info(void)
{
    CHECK(strcmp(nashmp_version_string(), NASHMP_VERSION_STRING) == 0, "version string");
    CHECK(nashmp_version_number() == 10000 * NASHMP_VERSION_MAJOR + 100 * NASHMP_VERSION_MINOR +
                                         NASHMP_VERSION_PATCH,
          "version number");
    CHECK(strcmp(nashmp_status_string(NASHMP_ERR_NONFINITE), "NASHMP_ERR_NONFINITE") == 0,
          "status string");
    CHECK(strcmp(nashmp_status_string(NASHMP_ERR_OVERLAP), "NASHMP_ERR_OVERLAP") == 0,
          "overlap status string");
    CHECK(strcmp(nashmp_status_string(12345), "unknown status") == 0, "unknown status");
    CHECK(nashmp_build_info() != NULL && strlen(nashmp_build_info()) > 0, "build info");
    CHECK_ST(nashmp_set_num_threads(-3), NASHMP_OK);
    {
        /* more threads than the library accepts: rejected, setting unchanged */
        int before;
        CHECK_ST(nashmp_set_num_threads(2), NASHMP_OK);
        before = nashmp_get_num_threads();
        CHECK_ST(nashmp_set_num_threads(4097), NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(nashmp_set_num_threads(INT_MAX), NASHMP_ERR_INVALID_VALUE);
        CHECK(nashmp_get_num_threads() == before, "rejected thread count changed the setting");
        CHECK_ST(nashmp_set_num_threads(4096), NASHMP_OK);
        CHECK_ST(nashmp_set_num_threads(0), NASHMP_OK);
    }
}

int main(void)
{
    printf("libnashmp %s [%s]\n", nashmp_version_string(), nashmp_build_info());
    test_info();
    run_all_f64();
    run_all_f32();
    test_threads();
    test_exp_red();
    test_lse_f32_long();
    test_small_rows_f64();
    test_small_rows_f32();
    test_kl_special_f64();
    test_kl_special_f32();
    test_lse_rows_special_f64();
    test_lse_rows_special_f32();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
