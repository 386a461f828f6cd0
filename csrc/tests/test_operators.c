/*
 * CTest for the matrix-free preference operators of libnashmp: low-rank skew, embedding,
 * Bradley-Terry and packed half matrix (apply and fused prox step, f64 and f32) against naive
 * long double loops; sizes around the tile and vector widths; batches with strides and
 * broadcast; bad arguments -> exact status codes.
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
    nashmp_set_num_threads(1);
    test_operator(OP_EMBED, 300, 7, 2);
    nashmp_set_num_threads(0);
    test_bad_args();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
