/*
 * CTest for the matrix-free preference operators of libnashmp: low-rank skew, embedding,
 * Bradley-Terry and packed half matrix (apply and fused prox step, f64 and f32) against naive
 * long double loops; sizes around the tile and vector widths; batches with strides and
 * broadcast; the low-rank step with carried moments; the check and the antisymmetrization of a
 * dense P against element-wise loops; bad arguments -> exact status codes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nashmp/nashmp.h"
#define TEST_SEED 0x2545F4914F6CDD1Dull
#include "check.h"

static double nrand(void)
{
    return sqrtl(-2.0L * logl(1.0L - urand())) * cos(6.283185307179586 * urand());
}

static long double sigl(long double x)
{
    return 1.0L / (1.0L + expl(-x));
}

enum { OP_LOWRANK, OP_EMBED, OP_BT, OP_PACKED };

/* Reference P[y, j] of each operator (double data). */
static long double ref_P(int op, int64_t y, int64_t j, int64_t k, int64_t d, const double *X,
                         const double *Y, const double *R)
{
    int64_t q, m;
    long double s = 0;
    if (y == j && op != OP_LOWRANK)
        return 0.5L;
    switch (op) {
    case OP_LOWRANK: /* X = U, Y = V (k x d) */
        for (q = 0; q < d; q++)
            s += (long double)X[y * d + q] * Y[j * d + q] - (long double)Y[y * d + q] * X[j * d + q];
        return 0.5L + s;
    case OP_EMBED: /* X = E, R skew */
        for (q = 0; q < d; q++)
            for (m = 0; m < d; m++)
                s += (long double)X[y * d + q] * R[q * d + m] * X[j * d + m];
        return sigl(s);
    case OP_BT:
        return sigl((long double)X[y] - X[j]);
    default: /* packed, X = Pu */
        if (y < j)
            return X[y * k - y * (y + 1) / 2 + (j - y - 1)];
        return 1.0L - X[j * k - j * (j + 1) / 2 + (y - j - 1)];
    }
}

static int apply_f64(int op, const double *X, const double *Y, const double *R, int64_t d,
                     const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out)
{
    switch (op) {
    case OP_LOWRANK:
        return nashmp_lowrank_apply_f64(X, Y, d, d, pi, ldpi, batch, k, out, k);
    case OP_EMBED:
        return nashmp_embedding_apply_f64(X, d, d, R, NASHMP_LINK_LOGISTIC, pi, ldpi, batch, k,
                                          out, k);
    case OP_BT:
        return nashmp_bradley_terry_apply_f64(X, pi, ldpi, batch, k, out, k);
    default:
        return nashmp_packed_apply_f64(X, pi, ldpi, batch, k, out, k);
    }
}

static int apply_f32(int op, const float *X, const float *Y, const float *R, int64_t d,
                     const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out)
{
    switch (op) {
    case OP_LOWRANK:
        return nashmp_lowrank_apply_f32(X, Y, d, d, pi, ldpi, batch, k, out, k);
    case OP_EMBED:
        return nashmp_embedding_apply_f32(X, d, d, R, NASHMP_LINK_LOGISTIC, pi, ldpi, batch, k,
                                          out, k);
    case OP_BT:
        return nashmp_bradley_terry_apply_f32(X, pi, ldpi, batch, k, out, k);
    default:
        return nashmp_packed_apply_f32(X, pi, ldpi, batch, k, out, k);
    }
}

static int step_f64(int op, const double *X, const double *Y, const double *R, int64_t d,
                    const double *pg, const double *lp, const double *lr, int64_t batch,
                    int64_t k, double a, double b, double c, double *out, double *po)
{
    switch (op) {
    case OP_LOWRANK:
        return nashmp_lowrank_mirror_step_f64(X, Y, d, d, pg, k, lp, k, lr, 0, batch, k, a, b, c,
                                              out, k, po, k);
    case OP_EMBED:
        return nashmp_embedding_mirror_step_f64(X, d, d, R, 0, pg, k, lp, k, lr, 0, batch, k, a,
                                                b, c, out, k, po, k);
    case OP_BT:
        return nashmp_bradley_terry_mirror_step_f64(X, pg, k, lp, k, lr, 0, batch, k, a, b, c,
                                                    out, k, po, k);
    default:
        return nashmp_packed_mirror_step_f64(X, pg, k, lp, k, lr, 0, batch, k, a, b, c, out, k,
                                             po, k);
    }
}

static const char *op_name[] = {"lowrank", "embedding", "bradley_terry", "packed"};

static void test_operator(int op, int64_t k, int64_t d, int64_t batch)
{
    int64_t nx = op == OP_BT ? k : op == OP_PACKED ? (k * (k - 1) / 2 > 0 ? k * (k - 1) / 2 : 1)
                                                   : k * d;
    double *X = malloc(nx * sizeof(double)), *Y = malloc(k * d * sizeof(double));
    double *R = malloc(d * d * sizeof(double)), *pi = malloc(batch * k * sizeof(double));
    double *out = malloc(batch * k * sizeof(double)), *po = malloc(batch * k * sizeof(double));
    double *lp = malloc(batch * k * sizeof(double)), *lr = malloc(k * sizeof(double));
    float *Xf = malloc(nx * sizeof(float)), *Yf = malloc(k * d * sizeof(float));
    float *Rf = malloc(d * d * sizeof(float)), *pif = malloc(batch * k * sizeof(float));
    float *outf = malloc(batch * k * sizeof(float));
    long double *g = malloc(batch * k * sizeof(long double));
    int64_t i, j, q, m, bi;
    double err = 0, errf = 0, errs = 0, errp = 0;
    const double a = 1.0 / 1.2, b = 0.2 / 1.2, c = 2.0 / 1.2;
    double scale = op == OP_LOWRANK ? 0.4 / (d * 1.0) : 1.0 / sqrt((double)d);
    for (i = 0; i < nx; i++)
        X[i] = op == OP_PACKED ? urand() : scale * nrand();
    for (i = 0; i < k * d; i++)
        Y[i] = scale * nrand();
    for (q = 0; q < d; q++)
        for (m = 0; m <= q; m++) {
            double v = q == m ? 0.0 : nrand();
            R[q * d + m] = v;
            R[m * d + q] = -v;
        }
    for (i = 0; i < nx; i++)
        Xf[i] = (float)X[i], X[i] = (double)Xf[i]; /* same values in both dtypes */
    for (i = 0; i < k * d; i++)
        Yf[i] = (float)Y[i], Y[i] = (double)Yf[i];
    for (i = 0; i < d * d; i++)
        Rf[i] = (float)R[i], R[i] = (double)Rf[i];
    for (bi = 0; bi < batch; bi++) {
        double s = 0;
        for (j = 0; j < k; j++)
            s += (pi[bi * k + j] = urand() + 1e-3);
        for (j = 0; j < k; j++) {
            pif[bi * k + j] = (float)(pi[bi * k + j] / s);
            pi[bi * k + j] = pif[bi * k + j];
            lp[bi * k + j] = log(pi[bi * k + j]);
        }
    }
    for (j = 0; j < k; j++)
        lr[j] = -log((double)k);
    for (bi = 0; bi < batch; bi++)
        for (i = 0; i < k; i++) {
            long double s = 0;
            for (j = 0; j < k; j++)
                s += ref_P(op, i, j, k, d, X, Y, R) * pi[bi * k + j];
            g[bi * k + i] = s;
        }
    CHECK_ST(apply_f64(op, X, Y, R, d, pi, k, batch, k, out), NASHMP_OK);
    CHECK_ST(apply_f32(op, Xf, Yf, Rf, d, pif, k, batch, k, outf), NASHMP_OK);
    for (i = 0; i < batch * k; i++) {
        err = fmax(err, fabsl(out[i] - g[i]));
        errf = fmax(errf, fabsl(outf[i] - g[i]));
    }
    CHECK(err < 1e-13, "%s f64 k=%lld d=%lld: error %g", op_name[op], (long long)k, (long long)d,
          err);
    CHECK(errf < 3e-6, "%s f32 k=%lld d=%lld: error %g", op_name[op], (long long)k, (long long)d,
          errf);
    if (op == OP_LOWRANK) { /* float factors, double pi and g (the same values of pi here) */
        double errd = 0;
        CHECK_ST(nashmp_lowrank_apply_f32d(Xf, Yf, d, d, pi, k, batch, k, out, k), NASHMP_OK);
        for (i = 0; i < batch * k; i++)
            errd = fmax(errd, fabsl(out[i] - g[i]));
        CHECK(errd < 3e-6, "lowrank f32d k=%lld d=%lld: error %g", (long long)k, (long long)d,
              errd);
        CHECK_ST(nashmp_lowrank_apply_f32d(Xf, NULL, d, d, pi, k, batch, k, out, k),
                 NASHMP_ERR_NULL_POINTER);
    }
    /* broadcast policy (ld = 0): every row equals the first game's result */
    CHECK_ST(apply_f64(op, X, Y, R, d, pi, 0, batch, k, out), NASHMP_OK);
    for (bi = 0; bi < batch; bi++)
        for (i = 0; i < k; i++)
            errs = fmax(errs, fabsl(out[bi * k + i] - g[i]));
    CHECK(errs < 1e-13, "%s broadcast: error %g", op_name[op], errs);
    /* fused step vs reference */
    CHECK_ST(step_f64(op, X, Y, R, d, pi, lp, lr, batch, k, a, b, c, out, po), NASHMP_OK);
    for (bi = 0; bi < batch; bi++) {
        long double mx = -INFINITY, s = 0, ls;
        long double *z = malloc(k * sizeof(long double));
        for (j = 0; j < k; j++) {
            z[j] = a * (long double)lp[bi * k + j] + b * (long double)lr[j] + c * g[bi * k + j];
            mx = z[j] > mx ? z[j] : mx;
        }
        for (j = 0; j < k; j++)
            s += expl(z[j] - mx);
        ls = mx + logl(s);
        for (j = 0; j < k; j++) {
            errs = fmax(errs, fabsl(out[bi * k + j] - (z[j] - ls)));
            errp = fmax(errp, fabs(po[bi * k + j] - exp(out[bi * k + j])));
        }
        free(z);
    }
    CHECK(errs < 1e-12, "%s fused step: error %g", op_name[op], errs);
    CHECK(errp < 1e-15, "%s fused step pi_out: error %g", op_name[op], errp);
    free(X), free(Y), free(R), free(pi), free(out), free(po), free(lp), free(lr);
    free(Xf), free(Yf), free(Rf), free(pif), free(outf), free(g);
}

static void test_bad_args(void)
{
    double E[8] = {0}, R[4] = {0}, pi[4] = {0.25, 0.25, 0.25, 0.25}, out[4], lp[4] = {0};
    double Pu[6] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    float Ef[8] = {0}, Rf[4] = {0}, pif[4] = {0.25f, 0.25f, 0.25f, 0.25f}, outf[4];
    /* NULL pointers */
    CHECK_ST(nashmp_embedding_apply_f64(NULL, 2, 2, R, 0, pi, 4, 1, 4, out, 4),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_embedding_apply_f64(E, 2, 2, NULL, 0, pi, 4, 1, 4, out, 4),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_embedding_apply_f32(Ef, 2, 2, Rf, 0, NULL, 4, 1, 4, outf, 4),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_lowrank_apply_f64(E, NULL, 2, 2, pi, 4, 1, 4, out, 4),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_packed_apply_f64(NULL, pi, 4, 1, 4, out, 4), NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_bradley_terry_apply_f64(NULL, pi, 4, 1, 4, out, 4), NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_lowrank_mirror_step_f64(E, E, 2, 2, pi, 4, NULL, 4, lp, 0, 1, 4, 1.0, 0.0,
                                            1.0, out, 4, NULL, 0),
             NASHMP_ERR_NULL_POINTER);
    /* sizes */
    CHECK_ST(nashmp_embedding_apply_f64(E, 2, 0, R, 0, pi, 4, 1, 4, out, 4),
             NASHMP_ERR_INVALID_SIZE);
    CHECK_ST(nashmp_embedding_apply_f64(E, 2, 2, R, 0, pi, 4, 1, 0, out, 4),
             NASHMP_ERR_INVALID_SIZE);
    CHECK_ST(nashmp_lowrank_apply_f64(E, E, 2, 0, pi, 4, 1, 4, out, 4), NASHMP_ERR_INVALID_SIZE);
    CHECK_ST(nashmp_bradley_terry_apply_f64(pi, pi, 4, -1, 4, out, 4), NASHMP_ERR_INVALID_SIZE);
    CHECK_ST(nashmp_packed_apply_f64(Pu, pi, 4, 1, -4, out, 4), NASHMP_ERR_INVALID_SIZE);
    /* overflow */
    CHECK_ST(nashmp_bradley_terry_apply_f64(pi, pi, 4, INT64_MAX / 2, 4, out, 4),
             NASHMP_ERR_OVERFLOW);
    CHECK_ST(nashmp_embedding_apply_f64(E, INT64_MAX / 2, 2, R, 0, pi, 0, 1, 4, out, 4),
             NASHMP_ERR_OVERFLOW);
    CHECK_ST(nashmp_packed_apply_f64(Pu, pi, 0, 1, INT64_MAX / 4, out, 4), NASHMP_ERR_OVERFLOW);
    /* strides */
    CHECK_ST(nashmp_embedding_apply_f64(E, 1, 2, R, 0, pi, 4, 1, 4, out, 4),
             NASHMP_ERR_INVALID_STRIDE);
    CHECK_ST(nashmp_lowrank_apply_f64(E, E, 1, 2, pi, 4, 1, 4, out, 4), NASHMP_ERR_INVALID_STRIDE);
    CHECK_ST(nashmp_packed_apply_f64(Pu, pi, 3, 2, 4, out, 4), NASHMP_ERR_INVALID_STRIDE);
    CHECK_ST(nashmp_packed_apply_f64(Pu, pi, 4, 2, 4, out, 2), NASHMP_ERR_INVALID_STRIDE);
    /* values */
    CHECK_ST(nashmp_embedding_apply_f64(E, 2, 2, R, 3, pi, 4, 1, 4, out, 4),
             NASHMP_ERR_INVALID_VALUE);
    CHECK_ST(nashmp_packed_mirror_step_f64(Pu, pi, 4, lp, 4, lp, 4, 1, 4, NAN, 0.0, 1.0, out, 4,
                                           NULL, 0),
             NASHMP_ERR_INVALID_VALUE);
    /* non-finite data */
    E[3] = NAN;
    CHECK_ST(nashmp_embedding_apply_f64(E, 2, 2, R, 0, pi, 4, 1, 4, out, 4),
             NASHMP_ERR_NONFINITE);
    CHECK_ST(nashmp_lowrank_apply_f64(E, E + 1, 2, 1, pi, 4, 1, 4, out, 4), NASHMP_ERR_NONFINITE);
    E[3] = 0.0;
    pi[2] = INFINITY;
    CHECK_ST(nashmp_bradley_terry_apply_f64(E, pi, 4, 1, 4, out, 4), NASHMP_ERR_NONFINITE);
    CHECK_ST(nashmp_packed_apply_f64(Pu, pi, 4, 1, 4, out, 4), NASHMP_ERR_NONFINITE);
    pi[2] = 0.25;
    Pu[4] = NAN;
    CHECK_ST(nashmp_packed_apply_f64(Pu, pi, 4, 1, 4, out, 4), NASHMP_ERR_NONFINITE);
    Pu[4] = 0.5;
    /* a prox step with z all -inf: no distribution */
    lp[0] = lp[1] = lp[2] = lp[3] = -INFINITY;
    CHECK_ST(nashmp_bradley_terry_mirror_step_f64(E, pi, 4, lp, 4, NULL, 0, 1, 4, 1.0, 0.0, 0.0,
                                                  out, 4, NULL, 0),
             NASHMP_ERR_NONFINITE);
    /* batch = 0 is a no-op; k = 1 packed takes Pu = NULL */
    CHECK_ST(nashmp_embedding_apply_f64(E, 2, 2, R, 0, pi, 4, 0, 4, out, 4), NASHMP_OK);
    CHECK_ST(nashmp_packed_apply_f64(NULL, pi, 1, 1, 1, out, 1), NASHMP_OK);
    CHECK(out[0] == 0.125, "packed k=1: %g", out[0]);
}

/* The low-rank step with carried moments: q_out against long double moments of pi_out
 * (relative to the sums of |terms|), the step from q_in against the plain step from pi_out, a
 * sub-block without support, and a failing row whose q_out is left alone. */
static void test_lowrank_moments(int64_t k, int64_t r, int f32)
{
    const int64_t w = 2 * r + 1;
    double *W = (double *)malloc((size_t)(k * 2 * r) * sizeof(double));
    float *Wf = (float *)malloc((size_t)(k * 2 * r) * sizeof(float));
    double *lp = (double *)malloc((size_t)k * sizeof(double));
    double *pi = (double *)malloc((size_t)k * sizeof(double));
    double *o1 = (double *)malloc((size_t)k * sizeof(double));
    double *p1 = (double *)malloc((size_t)k * sizeof(double));
    double *o2 = (double *)malloc((size_t)k * sizeof(double));
    double *o3 = (double *)malloc((size_t)k * sizeof(double));
    double *q1 = (double *)malloc((size_t)w * sizeof(double));
    double *q2 = (double *)malloc((size_t)w * sizeof(double));
    double err = 0.0, errs = 0.0, tol = f32 ? 1e-6 : 1e-13;
    int64_t i, q;
    int st;
    for (i = 0; i < k * 2 * r; i++) {
        Wf[i] = (float)(0.2 * nrand() / sqrt((double)r));
        W[i] = f32 ? (double)Wf[i] : 0.2 * nrand() / sqrt((double)r);
    }
    for (i = 0; i < k; i++) {
        lp[i] = nrand() - log((double)k);
        pi[i] = exp(lp[i]);
    }
    if (k > 2048)
        for (i = 1024; i < 2048; i++) /* a whole sub-block without support */
            lp[i] = -INFINITY;
#define LRQ(pg, qi, o, po, qo)                                                                    \
    (f32 ? nashmp_lowrank_mirror_step_q_f32(Wf, Wf + r, 2 * r, r, pg, k, qi, w, lp, k, NULL, 0,  \
                                            1, k, 0.8, 0.0, 1.7, o, k, po, k, qo, w)             \
         : nashmp_lowrank_mirror_step_q_f64(W, W + r, 2 * r, r, pg, k, qi, w, lp, k, NULL, 0, 1, \
                                            k, 0.8, 0.0, 1.7, o, k, po, k, qo, w))
    st = LRQ(pi, NULL, o1, p1, q1);
    CHECK(st == NASHMP_OK, "lowrank moments k=%lld: status %d", (long long)k, st);
    for (q = 0; q < r; q++) {
        long double sv = 0, su = 0, av = 0, au = 0;
        for (i = 0; i < k; i++) {
            sv += (long double)p1[i] * W[i * 2 * r + r + q];
            su += (long double)p1[i] * W[i * 2 * r + q];
            av += fabsl((long double)p1[i] * W[i * 2 * r + r + q]);
            au += fabsl((long double)p1[i] * W[i * 2 * r + q]);
        }
        err = fmax(err, (double)(fabsl(q1[q] - sv) / av));
        err = fmax(err, (double)(fabsl(q1[r + q] - su) / au));
    }
    {
        long double s = 0;
        for (i = 0; i < k; i++)
            s += p1[i];
        err = fmax(err, (double)fabsl(q1[2 * r] - s));
    }
    CHECK(err < tol, "lowrank moments k=%lld r=%lld f32=%d: error %g", (long long)k, (long long)r,
          f32, err);
    /* from the moments (pi_g NULL) = from the policy they describe */
    st = LRQ(NULL, q1, o2, NULL, q2);
    st |= LRQ(p1, NULL, o3, NULL, NULL);
    for (i = 0; i < k; i++)
        if (lp[i] > -INFINITY)
            errs = fmax(errs, fabs(o2[i] - o3[i]));
    CHECK(st == NASHMP_OK && errs < (f32 ? 1e-6 : 1e-13),
          "lowrank step from moments k=%lld f32=%d: status %d error %g", (long long)k, f32, st,
          errs);
    /* a failing row leaves q_out alone */
    lp[k - 1] = NAN;
    for (q = 0; q < w; q++)
        q2[q] = 7.0;
    st = LRQ(NULL, q1, o2, NULL, q2);
    CHECK(st == NASHMP_ERR_NONFINITE && q2[0] == 7.0 && q2[w - 1] == 7.0,
          "lowrank moments bad row: status %d, q_out %g", st, q2[0]);
#undef LRQ
    free(W);
    free(Wf);
    free(lp);
    free(pi);
    free(o1);
    free(p1);
    free(o2);
    free(o3);
    free(q1);
    free(q2);
}

/* nashmp_preference_check_*: against the element-wise loop, for sizes around the 4 x 4 blocks
 * and the 128-wide tiles, batches (ldP > k*k, and 0), extremes in every region, NaN and inf,
 * 1 and 2 threads; bad arguments -> exact statuses. */
static void test_preference_check(int64_t k, int64_t batch, int64_t ldP, int f32)
{
    const int64_t nm = ldP ? batch : 1, n = nm * (ldP ? ldP : k * k);
    double *P = (double *)malloc((size_t)n * sizeof(double)), out[3], want[3] = {0, 1e300, -1e300};
    float *Pf = (float *)malloc((size_t)n * sizeof(float));
    int64_t m, i, j;
    for (i = 0; i < n; i++)
        P[i] = 7.0; /* padding between matrices: never read */
    for (m = 0; m < nm; m++) {
        double *A = P + m * ldP;
        for (i = 0; i < k; i++) {
            A[i * k + i] = 0.5 + 1e-9 * urand();
            for (j = i + 1; j < k; j++) {
                A[i * k + j] = urand();
                A[j * k + i] = 1.0 - A[i * k + j] + 1e-7 * (urand() - 0.5);
            }
        }
        if (k > 2) {
            A[(k - 1) * k] = 1.25;
            A[k + k - 2] = -0.25;
        }
    }
    for (i = 0; i < n; i++)
        Pf[i] = (float)P[i];
    for (m = 0; m < nm; m++)
        for (i = 0; i < k; i++)
            for (j = 0; j < k; j++) {
                double x = f32 ? (double)Pf[m * ldP + i * k + j] : P[m * ldP + i * k + j];
                double t = f32 ? fabs((double)((Pf[m * ldP + i * k + j] + Pf[m * ldP + j * k + i]) -
                                               1.0f))
                               : fabs((P[m * ldP + i * k + j] + P[m * ldP + j * k + i]) - 1.0);
                want[0] = t > want[0] ? t : want[0];
                want[1] = x < want[1] ? x : want[1];
                want[2] = x > want[2] ? x : want[2];
            }
    CHECK_ST(f32 ? nashmp_preference_check_f32(Pf, ldP, batch, k, out)
                 : nashmp_preference_check_f64(P, ldP, batch, k, out),
             NASHMP_OK);
    CHECK(out[0] == want[0] && out[1] == want[1] && out[2] == want[2],
          "preference check k=%lld batch=%lld ldP=%lld f32=%d: (%g, %g, %g), want (%g, %g, %g)",
          (long long)k, (long long)batch, (long long)ldP, f32, out[0], out[1], out[2], want[0],
          want[1], want[2]);
    { /* antisymmetrize: out = (P + (1 - P^T)) / 2 element by element, in the data type */
        double *O = (double *)malloc((size_t)(nm * k * k) * sizeof(double)), chk[4], od = 0.0;
        float *Of = (float *)malloc((size_t)(nm * k * k) * sizeof(float));
        int bad = 0;
        CHECK_ST(f32 ? nashmp_preference_antisymmetrize_f32(Pf, ldP, batch, k, Of, chk)
                     : nashmp_preference_antisymmetrize_f64(P, ldP, batch, k, O, chk),
                 NASHMP_OK);
        for (m = 0; m < nm; m++)
            for (i = 0; i < k; i++)
                for (j = 0; j < k; j++) {
                    const int64_t a = m * ldP + i * k + j, b = m * ldP + j * k + i;
                    const int64_t oa = m * k * k + i * k + j, ob = m * k * k + j * k + i;
                    if (f32) {
                        const float w = (Pf[a] + (1.0f - Pf[b])) * 0.5f;
                        const float e = (Of[oa] + Of[ob]) - 1.0f;
                        bad += Of[oa] != w;
                        od = fabs((double)e) > od ? fabs((double)e) : od;
                    } else {
                        const double w = (P[a] + (1.0 - P[b])) * 0.5, e = (O[oa] + O[ob]) - 1.0;
                        bad += O[oa] != w;
                        od = fabs(e) > od ? fabs(e) : od;
                    }
                }
        CHECK(bad == 0 && chk[0] == want[0] && chk[1] == want[1] && chk[2] == want[2] &&
                  chk[3] == od,
              "antisymmetrize k=%lld batch=%lld ldP=%lld f32=%d: %d entries differ, check (%g, "
              "%g, %g, %g), want (%g, %g, %g, %g)",
              (long long)k, (long long)batch, (long long)ldP, f32, bad, chk[0], chk[1], chk[2],
              chk[3], want[0], want[1], want[2], od);
        free(O);
        free(Of);
    }
    if (f32)
        Pf[(nm - 1) * ldP + (k - 1) * k / 2] = NAN;
    else
        P[(nm - 1) * ldP + (k - 1) * k / 2] = INFINITY;
    CHECK_ST(f32 ? nashmp_preference_check_f32(Pf, ldP, batch, k, out)
                 : nashmp_preference_check_f64(P, ldP, batch, k, out),
             NASHMP_OK);
    CHECK(out[0] != out[0], "preference check k=%lld f32=%d: non-finite P gave %g", (long long)k,
          f32, out[0]);
    free(P);
    free(Pf);
}

static void test_preference_check_args(void)
{
    double P[4] = {0.5, 0.25, 0.75, 0.5}, out[3];
    float Pf[4] = {0.5f, 0.25f, 0.75f, 0.5f};
    CHECK_ST(nashmp_preference_check_f64(NULL, 0, 1, 2, out), NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_preference_check_f64(P, 0, 1, 2, NULL), NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_preference_check_f32(Pf, 0, 1, 0, out), NASHMP_ERR_INVALID_SIZE);
    CHECK_ST(nashmp_preference_check_f64(P, 0, -1, 2, out), NASHMP_ERR_INVALID_SIZE);
    CHECK_ST(nashmp_preference_check_f64(P, 3, 2, 2, out), NASHMP_ERR_INVALID_STRIDE);
    CHECK_ST(nashmp_preference_check_f64(P, -4, 2, 2, out), NASHMP_ERR_INVALID_STRIDE);
    CHECK_ST(nashmp_preference_check_f64(P, 0, 1, INT64_MAX / 2, out), NASHMP_ERR_OVERFLOW);
    CHECK_ST(nashmp_preference_check_f64(P, 0, 0, 2, out), NASHMP_OK);
    CHECK(out[0] == 0.0 && out[1] == INFINITY && out[2] == -INFINITY, "batch 0: (%g, %g, %g)",
          out[0], out[1], out[2]);
    CHECK_ST(nashmp_preference_check_f32(Pf, 0, 5, 2, out), NASHMP_OK);
    CHECK(out[0] == 0.0 && out[1] == 0.25 && out[2] == 0.75, "k=2 f32: (%g, %g, %g)", out[0],
          out[1], out[2]);
    {
        double O[4], chk[4];
        CHECK_ST(nashmp_preference_antisymmetrize_f64(P, 0, 1, 2, NULL, chk),
                 NASHMP_ERR_NULL_POINTER);
        CHECK_ST(nashmp_preference_antisymmetrize_f64(P, 0, 1, 2, O, NULL),
                 NASHMP_ERR_NULL_POINTER);
        CHECK_ST(nashmp_preference_antisymmetrize_f64(NULL, 0, 1, 2, O, chk),
                 NASHMP_ERR_NULL_POINTER);
        CHECK_ST(nashmp_preference_antisymmetrize_f64(P, 3, 2, 2, O, chk),
                 NASHMP_ERR_INVALID_STRIDE);
        CHECK_ST(nashmp_preference_antisymmetrize_f64(P, 0, 1, 2, O, chk), NASHMP_OK);
        CHECK(O[0] == 0.5 && O[1] == 0.25 && O[2] == 0.75 && O[3] == 0.5 && chk[3] == 0.0,
              "antisymmetrize k=2: (%g %g %g %g) %g", O[0], O[1], O[2], O[3], chk[3]);
    }
}

int main(void)
{
    static const int64_t ks[] = {1, 3, 41, 255, 257, 600};
    int op;
    size_t i;
    for (op = 0; op < 4; op++)
        for (i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            test_operator(op, ks[i], op == OP_BT ? 1 : 5, 3);
            if (op == OP_EMBED || op == OP_LOWRANK)
                test_operator(op, ks[i], 16, 1);
            if (op == OP_LOWRANK) /* rank a multiple of 8, not a constant of the kernel */
                test_operator(op, ks[i], 24, 2);
        }
    for (i = 0; i < 2; i++) {
        test_lowrank_moments(3, 2, (int)i);
        test_lowrank_moments(1100, 16, (int)i);
        test_lowrank_moments(40000, 8, (int)i);
    }
    nashmp_set_num_threads(1);
    test_operator(OP_EMBED, 300, 7, 2);
    nashmp_set_num_threads(0);
    {
        static const int64_t pk[] = {1, 2, 3, 4, 5, 7, 8, 127, 128, 129, 131, 257, 300, 515};
        int f32, t;
        for (t = 1; t <= 2; t++) {
            nashmp_set_num_threads(t);
            for (f32 = 0; f32 < 2; f32++)
                for (i = 0; i < sizeof pk / sizeof pk[0]; i++) {
                    test_preference_check(pk[i], 1, 0, f32);
                    test_preference_check(pk[i], 3, pk[i] * pk[i] + 5, f32);
                    test_preference_check(pk[i], 2, 0, f32);
                }
        }
        nashmp_set_num_threads(0);
    }
    test_preference_check_args();
    test_bad_args();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
