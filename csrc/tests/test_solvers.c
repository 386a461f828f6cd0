/*
 * CTest for the solvers of libnashmp (nashmp_solve_{dense,packed,upper}_*,
 * nashmp_exploitability_{dense,packed,upper}_*).
 *
 * Independent checks, not the library compared with itself:
 *  - rock-paper-scissors: the regularized equilibrium is uniform;
 *  - random antisymmetric P: pi* from a Newton solve of the fixed-point equations written here
 *    (long double); every convergent method reaches it;
 *  - exploitability against a long double formula, and the identity
 *    SubOpt(pi) = beta KL(pi || pi*) + beta KL(pi* || BR(pi));
 *  - the per-step Nash-MP bound KL(pi*||pi_{k+1}) <= KL(pi*||pi_k) / (1 + eta beta);
 *  - extragradient with eta_lin = eta / (1 + eta beta) == Nash-MP with eta;
 *  - f32 P vs f64 P; bitwise independence of thread count, grouping and batch;
 *  - packed (upper triangle) storage: the dense solver's iterates, pi*, exploitability;
 *  - the upper-triangle reading of a dense P: the dense solver's iterates with NaN below the
 *    diagonal, at every 8-byte offset of P;
 *  - the panel-order copy of large triangles: the bits of products that read P;
 *  - bad arguments -> the documented status codes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nashmp/nashmp.h"
#define TEST_SEED 0x2545F4914F6CDD1Dull
#include "check.h"


enum { NASH_MP, NASH_MD, OMD, MMD, OMWU, EXTRAGRADIENT, SPPO };
static const char *method_names[] = {"nash_mp", "nash_md", "omd", "mmd", "omwu",
                                     "extragradient", "sppo"};

/* ---- games and references ------------------------------------------------------------------- */

/* P = 1/2 + S, S antisymmetric with entries in [-scale, scale] (scale <= 1/2). */
static void make_skew(double *P, int k, double scale)
{
    int y, j;
    for (y = 0; y < k; y++) {
        P[y * k + y] = 0.5;
        for (j = y + 1; j < k; j++) {
            double s = scale * (2.0 * urand() - 1.0);
            P[y * k + j] = 0.5 + s;
            P[j * k + y] = 0.5 - s;
        }
    }
}

/* float copy of an antisymmetric P with Pf + Pf^T == 1 exactly: the entry >= 1/2 is rounded and
 * its partner is 1 - it (exact in float by Sterbenz); naive rounding of both breaks the
 * antisymmetry by ~3e-8 and puts a floor of ~1e-10 under the exploitability. */
static void to_float_antisym(const double *P, int k, float *Pf)
{
    int y, j;
    for (y = 0; y < k; y++) {
        Pf[y * k + y] = 0.5f;
        for (j = y + 1; j < k; j++) {
            if (P[y * k + j] >= 0.5) {
                Pf[y * k + j] = (float)P[y * k + j];
                Pf[j * k + y] = 1.0f - Pf[y * k + j];
            } else {
                Pf[j * k + y] = (float)P[j * k + y];
                Pf[y * k + j] = 1.0f - Pf[j * k + y];
            }
        }
    }
}

static const double RPS[9] = {0.5, 1.0, 0.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.5};

static void random_log_policy(double *l, int k, double spread)
{
    long double m = -INFINITY, s = 0;
    int j;
    for (j = 0; j < k; j++) {
        l[j] = spread * (2.0 * urand() - 1.0);
        if (l[j] > m)
            m = l[j];
    }
    for (j = 0; j < k; j++)
        s += expl((long double)l[j] - m);
    for (j = 0; j < k; j++)
        l[j] = (double)((long double)l[j] - m - logl(s));
}

static long double lse_l(const long double *x, int k)
{
    long double m = -INFINITY, s = 0;
    int j;
    for (j = 0; j < k; j++)
        if (x[j] > m)
            m = x[j];
    if (m == -INFINITY)
        return m;
    for (j = 0; j < k; j++)
        s += expl(x[j] - m);
    return m + logl(s);
}

/* KL(p || q) of log-probability rows (long double). */
static long double kl_l(const double *p, const double *q, int k)
{
    long double s = 0;
    int j;
    for (j = 0; j < k; j++)
        if (p[j] > -INFINITY)
            s += expl((long double)p[j]) * ((long double)p[j] - q[j]);
    return s;
}

/* Regularized exploitability in long double, straight from the definition. */
static long double expl_ref(const double *P, const double *l, const double *lr, double beta,
                            int k)
{
    long double g[64], y[64], kl = 0, mx = -INFINITY;
    int a, j;
    for (a = 0; a < k; a++) {
        g[a] = 0;
        for (j = 0; j < k; j++)
            g[a] += (long double)P[a * k + j] * expl((long double)l[j]);
        if (g[a] > mx)
            mx = g[a];
    }
    if (beta == 0.0)
        return mx - 0.5L;
    for (a = 0; a < k; a++)
        y[a] = lr[a] + g[a] / beta;
    kl = kl_l(l, lr, k);
    return beta * lse_l(y, k) + beta * kl - 0.5L;
}

/* Best response log-policy: N(lr + P pi / beta). */
static void best_response(const double *P, const double *l, const double *lr, double beta, int k,
                          double *br)
{
    long double y[64], z;
    int a, j;
    for (a = 0; a < k; a++) {
        long double g = 0;
        for (j = 0; j < k; j++)
            g += (long double)P[a * k + j] * expl((long double)l[j]);
        y[a] = lr[a] + g / beta;
    }
    z = lse_l(y, k);
    for (a = 0; a < k; a++)
        br[a] = (double)(y[a] - z);
}

/*
 * pi* by Newton's method on the fixed-point equations in (l, v):
 *   l_y - lr_y - (P e^l)_y / beta + v = 0  (y < k),   sum_y e^{l_y} - 1 = 0,
 * Jacobian [I - P diag(e^l)/beta, 1; e^l, 0], Gaussian elimination with partial pivoting in
 * long double, step halving on the residual. Returns the final residual (max norm).
 */
static double newton_star(const double *P, const double *lr, double beta, int k, double *lstar)
{
    long double l[64], v, F[65], J[65][66], res = 0, nl[64], nv;
    int it, a, j, r, n = k + 1;
    for (a = 0; a < k; a++)
        l[a] = lr[a];
    v = 0;
#define RESIDUAL(L, V, OUT, RMAX)                                                              \
    do {                                                                                       \
        long double s_ = 0;                                                                    \
        RMAX = 0;                                                                              \
        for (a = 0; a < k; a++) {                                                              \
            long double g_ = 0;                                                                \
            for (j = 0; j < k; j++)                                                            \
                g_ += (long double)P[a * k + j] * expl(L[j]);                                  \
            OUT[a] = L[a] - lr[a] - g_ / beta + V;                                             \
            s_ += expl(L[a]);                                                                  \
            if (fabsl(OUT[a]) > RMAX)                                                          \
                RMAX = fabsl(OUT[a]);                                                          \
        }                                                                                      \
        OUT[k] = s_ - 1;                                                                       \
        if (fabsl(OUT[k]) > RMAX)                                                              \
            RMAX = fabsl(OUT[k]);                                                              \
    } while (0)
    RESIDUAL(l, v, F, res);
    for (it = 0; it < 200 && res > 1e-17L; it++) {
        long double dx[65], t = 1, nres = 0, Fn[65];
        for (a = 0; a < k; a++) {
            for (j = 0; j < k; j++)
                J[a][j] = (a == j ? 1.0L : 0.0L) - (long double)P[a * k + j] * expl(l[j]) / beta;
            J[a][k] = 1;
            J[a][n] = -F[a];
        }
        for (j = 0; j < k; j++)
            J[k][j] = expl(l[j]);
        J[k][k] = 0;
        J[k][n] = -F[k];
        for (r = 0; r < n; r++) { /* elimination with partial pivoting */
            int p = r, c;
            for (a = r + 1; a < n; a++)
                if (fabsl(J[a][r]) > fabsl(J[p][r]))
                    p = a;
            if (p != r)
                for (c = 0; c <= n; c++) {
                    long double tmp = J[r][c];
                    J[r][c] = J[p][c];
                    J[p][c] = tmp;
                }
            for (a = r + 1; a < n; a++) {
                long double f = J[a][r] / J[r][r];
                for (c = r; c <= n; c++)
                    J[a][c] -= f * J[r][c];
            }
        }
        for (r = n - 1; r >= 0; r--) {
            long double s = J[r][n];
            for (j = r + 1; j < n; j++)
                s -= J[r][j] * dx[j];
            dx[r] = s / J[r][r];
        }
        for (;;) {
            for (a = 0; a < k; a++)
                nl[a] = l[a] + t * dx[a];
            nv = v + t * dx[k];
            RESIDUAL(nl, nv, Fn, nres);
            if (nres < res || t < 1e-6L)
                break;
            t /= 2;
        }
        for (a = 0; a < k; a++)
            l[a] = nl[a];
        v = nv;
        for (a = 0; a <= k; a++)
            F[a] = Fn[a];
        res = nres;
    }
#undef RESIDUAL
    for (a = 0; a < k; a++)
        lstar[a] = (double)l[a];
    return (double)res;
}

static double max_abs_diff(const double *x, const double *y, int n)
{
    double m = 0;
    int j;
    for (j = 0; j < n; j++) {
        double d = fabs(x[j] - y[j]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

static double max_abs_diff_p(const double *x, const double *y, int n)
{
    double m = 0;
    int j;
    for (j = 0; j < n; j++) {
        double d = fabs(exp(x[j]) - exp(y[j]));
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* ---- a small driver around nashmp_solve_dense_f64 ------------------------------------------- */

typedef struct {
    int64_t iter, nq;
    double expl;
    uint8_t active;
    int status;
} run_info;

/* Runs `method` on one game from l (in/out) for max_iter iterations; state set up as the Python
 * layer does (OMWU: g(pi_0), SPPO: -inf). */
static run_info run1(const double *P, const double *lr, double beta, double eta, int k,
                     int method, int64_t max_iter, int64_t check_every, double tol, double *l,
                     double *state)
{
    run_info r;
    double st[64];
    int a, j;
    if (state == NULL)
        state = st;
    if (method == OMWU)
        for (a = 0; a < k; a++) {
            state[a] = 0;
            for (j = 0; j < k; j++)
                state[a] += P[a * k + j] * exp(l[j]);
        }
    if (method == SPPO)
        for (a = 0; a < k; a++)
            state[a] = -INFINITY;
    r.iter = 0;
    r.nq = 0;
    r.expl = NAN;
    r.active = 1;
    r.status = nashmp_solve_dense_f64(P, 0, lr, 0, &beta, &eta, 1, k, method, max_iter,
                                      check_every, tol, l, k, state, k, &r.iter, &r.nq, &r.expl,
                                      &r.active);
    return r;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_rps(void)
{
    double lr[3], l[3], beta = 0.1, out;
    int j, m;
    for (j = 0; j < 3; j++)
        lr[j] = -log(3.0);
    /* Nash-MP from a skewed start: uniform equilibrium, exploitability ~ 0, early stop */
    l[0] = log(0.7);
    l[1] = log(0.2);
    l[2] = log(0.1);
    {
        run_info r = run1(RPS, lr, beta, 2.0, 3, NASH_MP, 1000, 1, 1e-12, l, NULL);
        CHECK(r.status == NASHMP_OK, "rps status %d", r.status);
        CHECK(r.active == 0 && r.iter < 1000, "rps did not stop: iter %lld active %d",
              (long long)r.iter, r.active);
        CHECK(r.nq == 2 * r.iter, "rps queries %lld for %lld iterations", (long long)r.nq,
              (long long)r.iter);
        CHECK(r.expl <= 1e-12 && r.expl > -1e-14, "rps exploitability %g", r.expl);
        for (j = 0; j < 3; j++)
            CHECK(fabs(exp(l[j]) - 1.0 / 3.0) < 1e-6, "rps pi[%d] = %.17g", j, exp(l[j]));
    }
    /* every regularized method gets the uniform policy on RPS */
    for (m = 0; m < 6; m++) {
        double eta = m == OMWU ? 0.5 : m == EXTRAGRADIENT ? 2.0 / (1.0 + 2.0 * beta) : 1.0;
        run_info r;
        l[0] = log(0.5);
        l[1] = log(0.3);
        l[2] = log(0.2);
        r = run1(RPS, lr, beta, eta, 3, m, m == NASH_MD ? 20000 : 3000, 100, -1.0, l, NULL);
        CHECK(r.status == NASHMP_OK && r.iter == (m == NASH_MD ? 20000 : 3000),
              "rps %s status %d iter %lld", method_names[m], r.status, (long long)r.iter);
        CHECK(max_abs_diff(l, lr, 3) < (m == NASH_MD ? 1e-2 : 1e-8), "rps %s: |l - uniform| %g",
              method_names[m], max_abs_diff(l, lr, 3));
    }
    /* unregularized exploitability of the uniform policy is exactly 0 */
    beta = 0.0;
    CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, lr, 0, lr, 0, &beta, 1, 3, &out), NASHMP_OK);
    CHECK(fabs(out) < 1e-15, "rps beta=0 exploitability at uniform %g", out);
    /* SPPO (beta = 0): the average iterate approaches the uniform Nash equilibrium */
    {
        double st[3];
        run_info r;
        l[0] = log(0.6);
        l[1] = log(0.3);
        l[2] = log(0.1);
        r = run1(RPS, lr, 0.0, 0.1, 3, SPPO, 20000, 1000, -1.0, l, st);
        CHECK(r.status == NASHMP_OK, "sppo status %d", r.status);
        CHECK(r.expl >= 0 && r.expl < 0.01, "sppo average exploitability %g", r.expl);
        /* the reported exploitability is that of N(state), the average policy */
        {
            double avg[3], e2;
            long double s3[3], z;
            for (j = 0; j < 3; j++)
                s3[j] = st[j];
            z = lse_l(s3, 3);
            for (j = 0; j < 3; j++)
                avg[j] = (double)(s3[j] - z);
            CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, avg, 0, lr, 0, &beta, 1, 3, &e2),
                     NASHMP_OK);
            CHECK(fabs(e2 - r.expl) < 1e-12, "sppo expl %g vs exploitability(N(state)) %g",
                  r.expl, e2);
        }
    }
}

/* exploitability against the long double formula and the identity with KL terms */
static void test_exploitability(void)
{
    enum { K = 9, B = 4 };
    double P[B * K * K], l[B * K], lr[B * K], beta[B] = {0.05, 0.3, 1.0, 0.0}, out[B], lstar[K],
                                                 br[K];
    float Pf[B * K * K];
    double outf[B];
    int i, j;
    for (i = 0; i < B; i++) {
        make_skew(P + i * K * K, K, 0.5);
        random_log_policy(l + i * K, K, 3.0);
        random_log_policy(lr + i * K, K, 1.0);
    }
    l[2 * K + 3] = -INFINITY; /* an impossible action; renormalize the row */
    {
        long double r[K], z;
        for (j = 0; j < K; j++)
            r[j] = l[2 * K + j];
        z = lse_l(r, K);
        for (j = 0; j < K; j++)
            l[2 * K + j] = (double)(r[j] - z);
    }
    for (j = 0; j < B * K * K; j++)
        Pf[j] = (float)P[j];
    CHECK_ST(nashmp_exploitability_dense_f64(P, K * K, l, K, lr, K, beta, B, K, out), NASHMP_OK);
    CHECK_ST(nashmp_exploitability_dense_f32(Pf, K * K, l, K, lr, K, beta, B, K, outf), NASHMP_OK);
    for (i = 0; i < B; i++) {
        long double ref = expl_ref(P + i * K * K, l + i * K, lr + i * K, beta[i], K);
        CHECK(fabsl(out[i] - ref) < 1e-13L, "exploitability[%d] %.17g vs %.17Lg", i, out[i], ref);
        CHECK(fabs(outf[i] - out[i]) < 1e-6, "exploitability f32[%d] %.9g vs %.9g", i, outf[i],
              out[i]);
        CHECK(out[i] > 0, "exploitability[%d] = %g should be > 0", i, out[i]);
    }
    /* identity SubOpt(pi) = beta KL(pi||pi*) + beta KL(pi*||BR(pi)) */
    for (i = 0; i < 3; i++) {
        const double *Pi = P + i * K * K, *li = l + i * K, *lri = lr + i * K;
        double res = newton_star(Pi, lri, beta[i], K, lstar);
        long double rhs;
        CHECK(res < 1e-14, "newton residual %g", res);
        best_response(Pi, li, lri, beta[i], K, br);
        rhs = beta[i] * (kl_l(li, lstar, K) + kl_l(lstar, br, K));
        CHECK(fabsl(out[i] - rhs) < 1e-12L * (1 + fabsl(rhs)),
              "identity game %d: %.17g vs %.17Lg", i, out[i], rhs);
        /* at pi* the exploitability is 0 up to rounding (documented: tiny negatives allowed) */
        {
            double e0;
            CHECK_ST(nashmp_exploitability_dense_f64(Pi, 0, lstar, 0, lri, 0, &beta[i], 1, K, &e0),
                     NASHMP_OK);
            CHECK(fabs(e0) < 1e-14, "exploitability at pi* = %g", e0);
        }
    }
    /* broadcast: ld = 0 for P, log_pi, log_ref */
    {
        double b2[3] = {0.2, 0.2, 0.2}, o2[3];
        CHECK_ST(nashmp_exploitability_dense_f64(P, 0, l, 0, lr, 0, b2, 3, K, o2), NASHMP_OK);
        CHECK(o2[0] == o2[1] && o2[1] == o2[2], "broadcast rows differ");
        CHECK(fabsl(o2[0] - expl_ref(P, l, lr, 0.2, K)) < 1e-13L, "broadcast value");
    }
}

/* every convergent method reaches the Newton pi* on a random antisymmetric game */
static void test_methods_agree(void)
{
    enum { K = 7 };
    double P[K * K], lr[K], lstar[K], l[K], l0[K], beta = 0.5, res;
    int m;
    make_skew(P, K, 0.5);
    random_log_policy(lr, K, 1.0);
    random_log_policy(l0, K, 2.0);
    res = newton_star(P, lr, beta, K, lstar);
    CHECK(res < 1e-14, "newton residual %g", res);
    for (m = 0; m < 7; m++) {
        /* eta: Nash-MP 2 (default), MD schedule, OMD/MMD beta, OMWU small, EG linearized */
        double eta = m == NASH_MP ? 2.0 : m == OMWU ? 0.2 : m == EXTRAGRADIENT ? 1.0 : beta;
        int64_t iters = m == NASH_MD ? 100000 : 4000;
        double tolx = m == NASH_MD ? 2e-3 : 1e-9;
        run_info r;
        if (m == SPPO)
            continue; /* different (unregularized) target: see test_rps */
        memcpy(l, l0, sizeof l);
        r = run1(P, lr, beta, eta, K, m, iters, 50, -1.0, l, NULL);
        CHECK(r.status == NASHMP_OK, "%s status %s", method_names[m],
              nashmp_status_string(r.status));
        CHECK(max_abs_diff(l, lstar, K) < tolx, "%s: |l - l*| = %g", method_names[m],
              max_abs_diff(l, lstar, K));
        CHECK(r.expl < (m == NASH_MD ? 1e-5 : 1e-14), "%s: exploitability %g", method_names[m],
              r.expl);
        CHECK(r.nq == r.iter * ((m == NASH_MP || m == EXTRAGRADIENT) ? 2 : 1), "%s: queries",
              method_names[m]);
        /* the reported exploitability is that of the final iterate */
        {
            double e2;
            CHECK_ST(nashmp_exploitability_dense_f64(P, 0, l, 0, lr, 0, &beta, 1, K, &e2),
                     NASHMP_OK);
            CHECK(fabs(e2 - r.expl) < 1e-13, "%s: expl %g vs recomputed %g", method_names[m],
                  r.expl, e2);
        }
    }
    /* linear rate of Nash-MP: exploitability 1e-12 within a few dozen iterations at beta 0.5 */
    {
        run_info r;
        memcpy(l, l0, sizeof l);
        r = run1(P, lr, beta, 2.0, K, NASH_MP, 1000, 1, 1e-12, l, NULL);
        CHECK(r.active == 0 && r.iter < 60, "nash_mp stop after %lld iterations",
              (long long)r.iter);
    }
}

/* extragradient with eta_lin = eta/(1+eta beta) gives the Nash-MP iterates with eta */
static void test_extragradient_equivalence(void)
{
    enum { K = 11 };
    double P[K * K], lr[K], l1[K], l2[K], etas[3] = {0.5, 1.0, 2.0}, beta = 0.3;
    int e, it;
    make_skew(P, K, 0.5);
    random_log_policy(lr, K, 1.0);
    for (e = 0; e < 3; e++) {
        double eta = etas[e], elin = eta / (1.0 + eta * beta), worst = 0;
        random_log_policy(l1, K, 2.0);
        memcpy(l2, l1, sizeof l1);
        for (it = 0; it < 20; it++) {
            run_info a = run1(P, lr, beta, eta, K, NASH_MP, 1, 1, -1.0, l1, NULL);
            run_info b = run1(P, lr, beta, elin, K, EXTRAGRADIENT, 1, 1, -1.0, l2, NULL);
            double d = max_abs_diff(l1, l2, K);
            CHECK(a.status == NASHMP_OK && b.status == NASHMP_OK, "eg status");
            if (d > worst)
                worst = d;
        }
        CHECK(worst < 1e-13, "eta %g: extragradient vs nash_mp iterates differ by %g", eta, worst);
    }
}

/* KL(pi*||pi_{k+1}) <= KL(pi*||pi_k) / (1 + eta beta) on every step */
static void test_kl_contraction(void)
{
    enum { K = 8 };
    double P[K * K], lr[K], lstar[K], l[K], etas[3] = {0.5, 1.0, 2.0}, betas[2] = {0.1, 1.0};
    int e, bi, it;
    make_skew(P, K, 0.5);
    random_log_policy(lr, K, 1.0);
    for (bi = 0; bi < 2; bi++) {
        double beta = betas[bi];
        CHECK(newton_star(P, lr, beta, K, lstar) < 1e-14, "newton");
        for (e = 0; e < 3; e++) {
            double eta = etas[e], worst = 0;
            long double kl0;
            int ok = 1;
            random_log_policy(l, K, 3.0);
            kl0 = kl_l(lstar, l, K);
            for (it = 0; it < 40 && kl0 > 1e-24L; it++) {
                long double kl1;
                run_info r = run1(P, lr, beta, eta, K, NASH_MP, 1, 1, -1.0, l, NULL);
                kl1 = kl_l(lstar, l, K);
                /* rounding slack: 1e-12 relative + 1e-15 absolute */
                if (!(r.status == NASHMP_OK &&
                      kl1 <= kl0 / (1.0L + eta * beta) * (1 + 1e-12L) + 1e-15L))
                    ok = 0;
                if (kl0 > 1e-13L && (double)(kl1 / kl0 * (1 + eta * beta)) > worst)
                    worst = (double)(kl1 / kl0 * (1 + eta * beta));
                kl0 = kl1;
            }
            CHECK(ok, "beta %g eta %g: KL contraction violated (worst ratio*(1+eta beta) %g)",
                  beta, eta, worst);
        }
    }
}

/* f32 P agrees with f64 P; batch and per-game parameters; inactive games untouched */
static void test_f32_and_batch(void)
{
    enum { K = 37, B = 6 };
    double *P = malloc(sizeof(double) * B * K * K), lr[B * K], l[B * K], lf[B * K], l0[B * K];
    float *Pf = malloc(sizeof(float) * B * K * K);
    double beta[B], eta[B], ex[B], exf[B], lstar[K];
    int64_t it[B], nq[B], itf[B], nqf[B];
    uint8_t act[B], actf[B];
    int i, j;
    for (i = 0; i < B; i++) {
        make_skew(P + i * K * K, K, 0.5);
        random_log_policy(lr + i * K, K, 1.0);
        random_log_policy(l0 + i * K, K, 2.0);
        beta[i] = 0.1 + 0.2 * i;
        eta[i] = 2.0;
        it[i] = nq[i] = 0;
        act[i] = (uint8_t)(i != 4); /* game 4 inactive */
        ex[i] = -7.0;
    }
    for (i = 0; i < B; i++)
        to_float_antisym(P + i * K * K, K, Pf + i * K * K);
    memcpy(l, l0, sizeof l);
    memcpy(lf, l0, sizeof l);
    memcpy(itf, it, sizeof it);
    memcpy(nqf, nq, sizeof nq);
    memcpy(actf, act, sizeof act);
    memcpy(exf, ex, sizeof ex);
    CHECK_ST(nashmp_solve_dense_f64(P, K * K, lr, K, beta, eta, B, K, NASH_MP, 500, 10, 1e-13, l,
                                    K, NULL, 0, it, nq, ex, act),
             NASHMP_OK);
    CHECK_ST(nashmp_solve_dense_f32(Pf, K * K, lr, K, beta, eta, B, K, NASH_MP, 500, 10, 1e-13,
                                    lf, K, NULL, 0, itf, nqf, exf, actf),
             NASHMP_OK);
    for (i = 0; i < B; i++) {
        if (i == 4) {
            CHECK(memcmp(l + i * K, l0 + i * K, sizeof(double) * K) == 0 && it[i] == 0 &&
                      nq[i] == 0 && ex[i] == -7.0,
                  "inactive game touched");
            continue;
        }
        CHECK(act[i] == 0 && ex[i] <= 1e-13 && it[i] % 10 == 0 && nq[i] == 2 * it[i],
              "game %d: active %d expl %g iter %lld", i, act[i], ex[i], (long long)it[i]);
        CHECK(newton_star(P + i * K * K, lr + i * K, beta[i], K, lstar) < 1e-14, "newton");
        /* exploitability <= 1e-13 bounds KL(pi || pi*) <= 1e-13 / beta: compare probabilities
         * (log-probabilities of nearly impossible actions are loosely determined) */
        CHECK(max_abs_diff_p(l + i * K, lstar, K) < 2e-6, "game %d: |pi - pi*| %g", i,
              max_abs_diff_p(l + i * K, lstar, K));
        /* f32 P: the game differs from the f64 one by the rounding of P (~3e-8 / beta) */
        CHECK(max_abs_diff_p(l + i * K, lf + i * K, K) < 3e-6 / beta[i] && actf[i] == 0,
              "game %d: f32 vs f64 %g (active %d, expl %g)", i,
              max_abs_diff_p(l + i * K, lf + i * K, K), actf[i], exf[i]);
    }
    /* games stop independently: larger beta converges in fewer iterations */
    CHECK(it[0] > it[5], "iterations per game %lld %lld", (long long)it[0], (long long)it[5]);
    free(P);
    free(Pf);
}

/* -inf entries of the start policy stay -inf (multiplicative updates), nothing becomes NaN */
static void test_neg_inf(void)
{
    enum { K = 5 };
    double P[K * K], lr[K], l[K], lstar[K], beta = 0.4;
    int j;
    run_info r;
    make_skew(P, K, 0.5);
    for (j = 0; j < K; j++)
        lr[j] = -log((double)K);
    l[0] = -INFINITY;
    for (j = 1; j < K; j++)
        l[j] = -log((double)(K - 1));
    r = run1(P, lr, beta, 2.0, K, NASH_MP, 50, 10, -1.0, l, NULL);
    CHECK(r.status == NASHMP_OK && l[0] == -INFINITY && !isnan(r.expl) && r.expl > 0,
          "-inf start: status %d l0 %g expl %g", r.status, l[0], r.expl);
    for (j = 1; j < K; j++)
        CHECK(isfinite(l[j]), "-inf start: l[%d] = %g", j, l[j]);
    /* Nash-MD's first step (s = 1) restores full support and converges to pi* */
    l[0] = -INFINITY;
    for (j = 1; j < K; j++)
        l[j] = -log((double)(K - 1));
    r = run1(P, lr, beta, 1.0, K, NASH_MD, 20000, 1000, -1.0, l, NULL);
    CHECK(newton_star(P, lr, beta, K, lstar) < 1e-14, "newton");
    CHECK(r.status == NASHMP_OK && max_abs_diff(l, lstar, K) < 5e-3, "nash_md from -inf: %g",
          max_abs_diff(l, lstar, K));
}

/* results do not depend on threads, grouping (shared P) or batch composition: bitwise */
static void test_determinism(void)
{
    enum { K = 450, B = 5 };
    double *P = malloc(sizeof(double) * K * K), *Pb = malloc(sizeof(double) * B * K * K);
    double lr[K], l0[B * K], la[B * K], lb[B * K], lc[B * K], ld[B * K];
    double beta[B], eta[B], ea[B], eb[B], ec[B], ed[B];
    int64_t ia[B], na[B], ib[B], nb[B], ic[B], nc[B], idd[B], ndd[B];
    uint8_t aa[B], ab[B], ac[B], ad[B];
    int i, nt0 = nashmp_get_num_threads();
    make_skew(P, K, 0.5);
    random_log_policy(lr, K, 1.0);
    for (i = 0; i < B; i++) {
        memcpy(Pb + (size_t)i * K * K, P, sizeof(double) * K * K);
        random_log_policy(l0 + i * K, K, 2.0);
        beta[i] = 0.05 * (i + 1);
        eta[i] = 2.0;
        ia[i] = ib[i] = ic[i] = idd[i] = na[i] = nb[i] = nc[i] = ndd[i] = 0;
        aa[i] = ab[i] = ac[i] = ad[i] = 1;
    }
    memcpy(la, l0, sizeof la);
    memcpy(lb, l0, sizeof lb);
    memcpy(lc, l0, sizeof lc);
    memcpy(ld, l0, sizeof ld);
    /* (a) shared P (groups of 4), 1 thread */
    nashmp_set_num_threads(1);
    CHECK_ST(nashmp_solve_dense_f64(P, 0, lr, 0, beta, eta, B, K, NASH_MP, 30, 7, 1e-9, la, K,
                                    NULL, 0, ia, na, ea, aa),
             NASHMP_OK);
    /* (b) shared P, 2 threads */
    nashmp_set_num_threads(2);
    CHECK_ST(nashmp_solve_dense_f64(P, 0, lr, 0, beta, eta, B, K, NASH_MP, 30, 7, 1e-9, lb, K,
                                    NULL, 0, ib, nb, eb, ab),
             NASHMP_OK);
    /* (c) per-game copies of P (no groups), 2 threads */
    CHECK_ST(nashmp_solve_dense_f64(Pb, (int64_t)K * K, lr, 0, beta, eta, B, K, NASH_MP, 30, 7,
                                    1e-9, lc, K, NULL, 0, ic, nc, ec, ac),
             NASHMP_OK);
    /* (d) one game at a time (row-parallel products with 2 threads) */
    for (i = 0; i < B; i++)
        CHECK_ST(nashmp_solve_dense_f64(P, 0, lr, 0, beta + i, eta + i, 1, K, NASH_MP, 30, 7,
                                        1e-9, ld + i * K, K, NULL, 0, idd + i, ndd + i, ed + i,
                                        ad + i),
                 NASHMP_OK);
    /* (e) a group of 4 games sharing P with row-parallel products (2 threads, one unit) */
    {
        double le[4 * K], ee[4];
        int64_t ie[4] = {0, 0, 0, 0}, ne[4] = {0, 0, 0, 0};
        uint8_t ae[4] = {1, 1, 1, 1};
        memcpy(le, l0, sizeof le);
        CHECK_ST(nashmp_solve_dense_f64(P, 0, lr, 0, beta, eta, 4, K, NASH_MP, 30, 7, 1e-9, le,
                                        K, NULL, 0, ie, ne, ee, ae),
                 NASHMP_OK);
        nashmp_set_num_threads(nt0);
        CHECK(memcmp(le, la, sizeof le) == 0 && memcmp(ee, ea, sizeof ee) == 0,
              "row-parallel group differs");
    }
    CHECK(memcmp(la, lb, sizeof la) == 0 && memcmp(ea, eb, sizeof ea) == 0,
          "1 vs 2 threads differ");
    CHECK(memcmp(la, lc, sizeof la) == 0 && memcmp(ea, ec, sizeof ea) == 0,
          "shared vs per-game P differ");
    CHECK(memcmp(la, ld, sizeof la) == 0 && memcmp(ea, ed, sizeof ea) == 0,
          "batch vs single games differ");
    CHECK(memcmp(ia, ib, sizeof ia) == 0 && memcmp(ia, ic, sizeof ia) == 0 &&
              memcmp(ia, idd, sizeof ia) == 0,
          "iteration counts differ");
    /* games stopped at different checks (tol 1e-9, beta 0.05 .. 0.25) */
    CHECK(ia[0] > ia[4] && aa[4] == 0, "per-game stop: %lld %lld", (long long)ia[0],
          (long long)ia[4]);
    /* same for the f32 variant and for exploitability: 1 vs 2 threads */
    {
        float *Pf = malloc(sizeof(float) * K * K);
        double o1[B], o2[B];
        int j;
        for (j = 0; j < K * K; j++)
            Pf[j] = (float)P[j];
        nashmp_set_num_threads(1);
        CHECK_ST(nashmp_exploitability_dense_f32(Pf, 0, l0, K, lr, 0, beta, B, K, o1), NASHMP_OK);
        nashmp_set_num_threads(2);
        CHECK_ST(nashmp_exploitability_dense_f32(Pf, 0, l0, K, lr, 0, beta, 1, K, o2), NASHMP_OK);
        CHECK_ST(nashmp_exploitability_dense_f32(Pf, 0, l0 + K, K, lr, 0, beta + 1, B - 1, K,
                                                 o2 + 1),
                 NASHMP_OK);
        nashmp_set_num_threads(nt0);
        CHECK(memcmp(o1, o2, sizeof o1) == 0, "exploitability f32 1 vs 2 threads differ");
        free(Pf);
    }
    free(P);
    free(Pb);
}

/* a run split over two calls (state, iter, n_queries carried over) equals one call, bitwise */
/* A shared P that lies off a 32-byte boundary is solved on an aligned copy (sv_drive_aligned):
 * the same bits at every offset, and as the per-game path that reads P in place. */
static void test_alignment(void)
{
    enum { K = 96, B = 3 };
    double *raw = malloc(sizeof(double) * (K * K + 8)), *lr = malloc(sizeof(double) * K);
    double *P = malloc(sizeof(double) * K * K);
    double *l0 = malloc(sizeof(double) * B * K), *ref = malloc(sizeof(double) * B * K);
    double *l = malloc(sizeof(double) * B * K), beta[B], eta[B], e0[B], e[B];
    float *rawf = malloc(sizeof(float) * (K * K + 16));
    int64_t it0[B], nq0[B], it[B], nq[B];
    uint8_t act[B];
    int i, f32, off, bad = 0;
    make_skew(P, K, 0.5);
    random_log_policy(lr, K, 1.0);
    for (i = 0; i < B; i++) {
        random_log_policy(l0 + i * K, K, 2.0);
        beta[i] = 0.1 * (i + 1);
        eta[i] = 2.0;
    }
    for (f32 = 0; f32 < 2; f32++)
        for (off = -1; off < 4; off++) { /* off -1: aligned P, one game per call (reference) */
            const size_t el = f32 ? sizeof(float) : sizeof(double);
            char *base = f32 ? (char *)rawf : (char *)raw;
            char *Pc = base + (32 - (uintptr_t)base % 32) % 32 + (off < 0 ? 0 : off * 8);
            for (i = 0; i < B; i++) {
                it[i] = nq[i] = 0;
                act[i] = 1;
            }
            memcpy(l, l0, sizeof(double) * B * K);
            if (f32)
                to_float_antisym(P, K, (float *)Pc);
            else
                memcpy(Pc, P, sizeof(double) * K * K);
            if (off < 0) /* every game on the same matrix through the per-game stride 0 path */
                for (i = 0; i < B; i++)
                    CHECK_ST(f32 ? nashmp_solve_dense_f32((const float *)Pc, 0, lr, 0, beta + i,
                                                          eta + i, 1, K, NASH_MP, 25, 5, -1.0,
                                                          l + i * K, K, NULL, 0, it + i, nq + i,
                                                          e + i, act + i)
                                 : nashmp_solve_dense_f64((const double *)Pc, 0, lr, 0, beta + i,
                                                          eta + i, 1, K, NASH_MP, 25, 5, -1.0,
                                                          l + i * K, K, NULL, 0, it + i, nq + i,
                                                          e + i, act + i),
                             NASHMP_OK);
            else
                CHECK_ST(f32 ? nashmp_solve_dense_f32((const float *)Pc, 0, lr, 0, beta, eta, B,
                                                      K, NASH_MP, 25, 5, -1.0, l, K, NULL, 0, it,
                                                      nq, e, act)
                             : nashmp_solve_dense_f64((const double *)Pc, 0, lr, 0, beta, eta, B,
                                                      K, NASH_MP, 25, 5, -1.0, l, K, NULL, 0, it,
                                                      nq, e, act),
                         NASHMP_OK);
            if (off < 0) {
                memcpy(ref, l, sizeof(double) * B * K);
                memcpy(e0, e, sizeof e0);
                memcpy(it0, it, sizeof it0);
                memcpy(nq0, nq, sizeof nq0);
            } else {
                bad += memcmp(ref, l, sizeof(double) * B * K) != 0 || memcmp(e0, e, sizeof e) != 0 ||
                       memcmp(it0, it, sizeof it) != 0 || memcmp(nq0, nq, sizeof nq) != 0;
            }
        }
    CHECK(bad == 0, "solve with P at other 8-byte offsets: %d results differ", bad);
    free(P);
    free(raw);
    free(rawf);
    free(lr);
    free(l0);
    free(ref);
    free(l);
}

static void test_resume(void)
{
    enum { K = 6 };
    double P[K * K], lr[K], la[K], lb[K], sa[K], sb[K], beta = 0.5;
    int m;
    make_skew(P, K, 0.5);
    random_log_policy(lr, K, 1.0);
    for (m = 0; m < 7; m++) {
        double eta = m == OMWU ? 0.3 : m == EXTRAGRADIENT ? 0.5 : 1.0;
        int64_t ia = 0, na = 0, ib = 0, nb = 0;
        double ea, eb;
        uint8_t aa = 1, ab = 1;
        run_info r;
        random_log_policy(la, K, 1.5);
        memcpy(lb, la, sizeof la);
        r = run1(P, lr, beta, eta, K, m, 0, 1, -1.0, la, sa); /* sets up the state only */
        CHECK(r.status == NASHMP_OK && r.iter == 0 && isnan(r.expl), "max_iter 0 is a no-op");
        memcpy(sb, sa, sizeof sa);
        CHECK_ST(nashmp_solve_dense_f64(P, 0, lr, 0, &beta, &eta, 1, K, m, 25, 5, -1.0, la, K,
                                        sa, K, &ia, &na, &ea, &aa),
                 NASHMP_OK);
        CHECK_ST(nashmp_solve_dense_f64(P, 0, lr, 0, &beta, &eta, 1, K, m, 12, 5, -1.0, lb, K,
                                        sb, K, &ib, &nb, &eb, &ab),
                 NASHMP_OK);
        CHECK_ST(nashmp_solve_dense_f64(P, 0, lr, 0, &beta, &eta, 1, K, m, 13, 5, -1.0, lb, K,
                                        sb, K, &ib, &nb, &eb, &ab),
                 NASHMP_OK);
        CHECK(ia == 25 && ib == 25 && na == nb, "%s: counters", method_names[m]);
        CHECK(memcmp(la, lb, sizeof la) == 0 && memcmp(&ea, &eb, sizeof ea) == 0 &&
                  memcmp(sa, sb, sizeof sa) == 0,
              "%s: resumed run differs by %g", method_names[m], max_abs_diff(la, lb, K));
    }
}

static void test_bad_args(void)
{
    enum { K = 3 };
    double lr[K], l[K], st[K], beta = 0.5, eta = 1.0, ex, out, Pn[K * K], bad;
    int64_t it = 0, nq = 0;
    uint8_t act = 1;
    float Pf[K * K];
    int j;
    for (j = 0; j < K; j++)
        lr[j] = l[j] = -log(3.0);
    for (j = 0; j < K * K; j++)
        Pf[j] = (float)RPS[j];
#define SOLVE(P_, ldP_, lr_, beta_, eta_, batch_, k_, m_, mi_, ce_, tol_, l_, ldpi_, st_, it_,  \
              act_)                                                                            \
    nashmp_solve_dense_f64(P_, ldP_, lr_, 0, beta_, eta_, batch_, k_, m_, mi_, ce_, tol_, l_,   \
                           ldpi_, st_, K, it_, &nq, &ex, act_)
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_OK);
    CHECK_ST(SOLVE(NULL, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, NULL, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, lr, NULL, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, NULL, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, NULL, K, NULL, &it, &act),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, NULL, &act),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, NULL),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, OMWU, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, SPPO, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, 0, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_SIZE);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, -1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_SIZE);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, INT64_MAX / 2, K, NASH_MP, 5, 1, -1.0, l, K, NULL,
                   &it, &act),
             NASHMP_ERR_OVERFLOW);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, (int64_t)1 << 32, NASH_MP, 5, 1, -1.0, l, K, NULL,
                   &it, &act),
             NASHMP_ERR_OVERFLOW); /* k * k overflows */
    CHECK_ST(SOLVE(RPS, 5, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_STRIDE); /* 0 < ldP < k*k */
    CHECK_ST(SOLVE(RPS, -9, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_STRIDE);
    {
        double b2[2] = {0.5, 0.5}, e2[2] = {1, 1}, l2[2 * K], ex2[2];
        int64_t i2[2] = {0, 0}, n2[2] = {0, 0};
        uint8_t a2[2] = {1, 1};
        CHECK_ST(nashmp_solve_dense_f64(RPS, 0, lr, 0, b2, e2, 2, K, NASH_MP, 5, 1, -1.0, l2, 2,
                                        NULL, 0, i2, n2, ex2, a2),
                 NASHMP_ERR_INVALID_STRIDE); /* output ldpi < k with batch 2 */
        CHECK_ST(nashmp_solve_dense_f64(RPS, 0, lr, 0, b2, e2, 2, K, OMWU, 5, 1, -1.0, l2, K, st,
                                        0, i2, n2, ex2, a2),
                 NASHMP_ERR_INVALID_STRIDE); /* state is an output: ld 0 with batch 2 */
    }
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, -1, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_VALUE);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, 7, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_VALUE);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, -1, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_VALUE);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 0, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_VALUE);
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, NAN, l, K, NULL, &it, &act),
             NASHMP_ERR_INVALID_VALUE);
    {
        double zero = 0.0, neg = -1.0, nan = NAN, inf = INFINITY, big = 3.0, two = 2.0;
        CHECK_ST(SOLVE(RPS, 0, lr, &zero, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &neg, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &nan, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &inf, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &zero, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it,
                       &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &nan, 1, K, MMD, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &inf, 1, K, SPPO, 5, 1, -1.0, l, K, st, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        /* OMD / OMWU need eta beta <= 1, extragradient eta beta < 1 */
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &big, 1, K, OMD, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &big, 1, K, OMWU, 5, 1, -1.0, l, K, st, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &two, 1, K, EXTRAGRADIENT, 5, 1, -1.0, l, K, NULL, &it,
                       &act),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &two, 1, K, OMD, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_OK); /* eta beta == 1 is allowed for OMD */
        /* Nash-MP eta above 2 is allowed (not covered by the bound; the Python layer warns) */
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &big, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_OK);
        /* Nash-MD ignores eta */
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &nan, 1, K, NASH_MD, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_OK);
        /* SPPO accepts beta = 0 */
        for (j = 0; j < K; j++)
            st[j] = -INFINITY;
        CHECK_ST(SOLVE(RPS, 0, lr, &zero, &eta, 1, K, SPPO, 5, 1, -1.0, l, K, st, &it, &act),
                 NASHMP_OK);
        /* negative iteration count */
        it = -1;
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MD, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_INVALID_VALUE);
        /* counters that would overflow during the call (signed overflow is undefined) */
        nq = 0;
        it = INT64_MAX - 4;
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_OVERFLOW);
        CHECK(it == INT64_MAX - 4 && nq == 0, "rejected call changed the counters");
        it = INT64_MAX - 5;
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_OK); /* exactly fits */
        CHECK(it == INT64_MAX && nq == 10, "counters after the last representable iteration");
        it = 0;
        nq = INT64_MAX - 9; /* Nash-MP: 2 queries per iteration, 5 iterations */
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_ERR_OVERFLOW);
        nq = INT64_MAX - 5; /* MMD: 1 query per iteration */
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, MMD, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_OK);
        nq = 0;
        it = 0;
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, INT64_MAX / 2 + 1, 1, -1.0, l, K,
                       NULL, &it, &act),
                 NASHMP_ERR_OVERFLOW); /* 2 * max_iter queries do not fit */
        act = 0; /* inactive games are not checked (nor touched) */
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, INT64_MAX / 2 + 1, 1, -1.0, l, K,
                       NULL, &it, &act),
                 NASHMP_OK);
        act = 1;
        it = 0;
        nq = 0;
        /* batch 0 is a no-op */
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 0, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_OK);
        /* inactive game: nothing read, nothing written */
        act = 0;
        CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
                 NASHMP_OK);
        act = 1;
    }
    /* non-finite inputs */
    bad = NAN;
    memcpy(Pn, RPS, sizeof Pn);
    Pn[4] = NAN;
    CHECK_ST(SOLVE(Pn, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NONFINITE);
    Pn[4] = INFINITY;
    CHECK_ST(SOLVE(Pn, 0, lr, &beta, &eta, 1, K, OMD, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NONFINITE);
    Pn[4] = -INFINITY;
    CHECK_ST(SOLVE(Pn, 0, lr, &beta, &eta, 1, K, MMD, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NONFINITE);
    for (j = 0; j < K; j++)
        l[j] = -log(3.0);
    l[1] = bad;
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MD, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NONFINITE); /* NaN in log_pi even where Nash-MD's first step skips l */
    l[1] = INFINITY;
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NONFINITE);
    for (j = 0; j < K; j++)
        l[j] = -log(3.0);
    lr[2] = bad;
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NONFINITE);
    lr[2] = -log(3.0);
    for (j = 0; j < K; j++)
        st[j] = 0.5;
    st[0] = bad;
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, OMWU, 5, 1, -1.0, l, K, st, &it, &act),
             NASHMP_ERR_NONFINITE);
    for (j = 0; j < K; j++)
        l[j] = -INFINITY; /* no distribution */
    CHECK_ST(SOLVE(RPS, 0, lr, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K, NULL, &it, &act),
             NASHMP_ERR_NONFINITE);
    for (j = 0; j < K; j++)
        l[j] = -log(3.0);
    /* f32 variant: NaN in P, bad stride */
    Pf[1] = NAN;
    CHECK_ST(nashmp_solve_dense_f32(Pf, 0, lr, 0, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K,
                                    NULL, 0, &it, &nq, &ex, &act),
             NASHMP_ERR_NONFINITE);
    CHECK_ST(nashmp_solve_dense_f32(Pf, 2, lr, 0, &beta, &eta, 1, K, NASH_MP, 5, 1, -1.0, l, K,
                                    NULL, 0, &it, &nq, &ex, &act),
             NASHMP_ERR_INVALID_STRIDE);
    /* exploitability */
    {
        double neg = -0.1, nanb = NAN, b2[2] = {0.5, 0.5}, o2[2];
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 0, lr, 0, &beta, 1, K, &out),
                 NASHMP_OK);
        CHECK_ST(nashmp_exploitability_dense_f64(NULL, 0, l, 0, lr, 0, &beta, 1, K, &out),
                 NASHMP_ERR_NULL_POINTER);
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 0, lr, 0, NULL, 1, K, &out),
                 NASHMP_ERR_NULL_POINTER);
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 0, lr, 0, &beta, 1, K, NULL),
                 NASHMP_ERR_NULL_POINTER);
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 0, lr, 0, &beta, 1, 0, &out),
                 NASHMP_ERR_INVALID_SIZE);
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 1, lr, 0, b2, 2, K, o2),
                 NASHMP_ERR_INVALID_STRIDE);
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 0, lr, 0, &neg, 1, K, &out),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 0, lr, 0, &nanb, 1, K, &out),
                 NASHMP_ERR_INVALID_VALUE);
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 0, lr, 0, &beta, 0, K, &out),
                 NASHMP_OK);
        l[0] = NAN;
        CHECK_ST(nashmp_exploitability_dense_f64(RPS, 0, l, 0, lr, 0, &beta, 1, K, &out),
                 NASHMP_ERR_NONFINITE);
        l[0] = -log(3.0);
        CHECK_ST(nashmp_exploitability_dense_f32(Pf, 0, l, 0, lr, 0, &beta, 1, K, &out),
                 NASHMP_ERR_NONFINITE);
        CHECK_ST(nashmp_exploitability_dense_f64(Pn, 0, l, 0, lr, 0, &beta, 1, K, &out),
                 NASHMP_ERR_NONFINITE); /* -inf in P */
    }
#undef SOLVE
}


/* Packed storage (upper triangle): per-game triangles (ldP), odd and even k, f64 and f32, every
 * method; the iterates equal those of the dense solver (same updates, rounding of the products
 * only), Nash-MP reaches the Newton pi*, exploitability agrees with the long double formula; bad
 * strides and pointers. */
/* Two runs of method m side by side (games with their own P, stride k*k): the step sizes e, the
 * counters and flags reset, both start from l0, and the state (OMWU: g(pi_0) = P exp(l0) from P
 * or from its float copy Pf; otherwise -inf). */
static void start_pair(int m, int f32, const double *P, const float *Pf, const double *l0, int B,
                       int k, double *e, double *la, double *lb, double *sa, double *sb,
                       int64_t *ita, int64_t *itb, int64_t *nqa, int64_t *nqb, uint8_t *aca,
                       uint8_t *acb)
{
    const int64_t kk = (int64_t)k * k;
    int i, y, j;
    for (i = 0; i < B; i++) {
        e[i] = (m == OMD || m == OMWU || m == EXTRAGRADIENT) ? 0.5 : 2.0;
        ita[i] = itb[i] = nqa[i] = nqb[i] = 0;
        aca[i] = acb[i] = 1;
    }
    memcpy(la, l0, sizeof(double) * B * k);
    memcpy(lb, l0, sizeof(double) * B * k);
    for (i = 0; i < B * k; i++)
        sa[i] = sb[i] = -INFINITY;
    if (m == OMWU)
        for (i = 0; i < B; i++)
            for (y = 0; y < k; y++) {
                double g = 0.0;
                for (j = 0; j < k; j++)
                    g += (f32 ? (double)Pf[i * kk + y * k + j] : P[i * kk + y * k + j]) *
                         exp(l0[i * k + j]);
                sa[i * k + y] = sb[i * k + y] = g;
            }
}

static void test_packed(void)
{
    enum { KMAX = 40, B = 2, NPK = KMAX * (KMAX - 1) / 2 };
    static double P[B * KMAX * KMAX], Pu[B * NPK];
    static float Pf[B * KMAX * KMAX], Puf[B * NPK];
    double lr[B * KMAX], l0[B * KMAX], la[B * KMAX], lb[B * KMAX], sa[B * KMAX], sb[B * KMAX];
    double beta[B] = {0.1, 0.3}, eta[B] = {2.0, 2.0}, exa[B], exb[B], lstar[KMAX], e1, e2;
    int64_t ita[B], itb[B], nqa[B], nqb[B], npk;
    uint8_t aca[B], acb[B];
    int ks[2] = {37, 40}, ki, m, i, y, j, f32;
    for (ki = 0; ki < 2; ki++) {
        int k = ks[ki];
        npk = (int64_t)k * (k - 1) / 2;
        for (i = 0; i < B; i++) {
            int64_t o = 0;
            make_skew(P + i * k * k, k, 0.5);
            to_float_antisym(P + i * k * k, k, Pf + i * k * k);
            for (y = 0; y < k; y++)
                for (j = y + 1; j < k; j++, o++) {
                    Pu[i * npk + o] = P[i * k * k + y * k + j];
                    Puf[i * npk + o] = Pf[i * k * k + y * k + j];
                }
            random_log_policy(lr + i * k, k, 1.0);
            random_log_policy(l0 + i * k, k, 2.0);
        }
        for (f32 = 0; f32 < 2; f32++)
            for (m = NASH_MP; m <= SPPO; m++) {
                double e[B], d;
                start_pair(m, f32, P, Pf, l0, B, k, e, la, lb, sa, sb, ita, itb, nqa, nqb, aca,
                           acb);
                if (f32) {
                    CHECK_ST(nashmp_solve_dense_f32(Pf, (int64_t)k * k, lr, k, beta, e, B, k, m,
                                                    40, 7, 1e-12, la, k, sa, k, ita, nqa, exa, aca),
                             NASHMP_OK);
                    CHECK_ST(nashmp_solve_packed_f32(Puf, npk, lr, k, beta, e, B, k, m, 40, 7,
                                                     1e-12, lb, k, sb, k, itb, nqb, exb, acb),
                             NASHMP_OK);
                } else {
                    CHECK_ST(nashmp_solve_dense_f64(P, (int64_t)k * k, lr, k, beta, e, B, k, m, 40,
                                                    7, 1e-12, la, k, sa, k, ita, nqa, exa, aca),
                             NASHMP_OK);
                    CHECK_ST(nashmp_solve_packed_f64(Pu, npk, lr, k, beta, e, B, k, m, 40, 7,
                                                     1e-12, lb, k, sb, k, itb, nqb, exb, acb),
                             NASHMP_OK);
                }
                d = max_abs_diff(la, lb, B * k);
                CHECK(d <= (f32 ? 1e-9 : 1e-12), "packed %s k=%d f32=%d: |l_dense - l_packed| = %g",
                      method_names[m], k, f32, d);
                CHECK(ita[0] == itb[0] && ita[1] == itb[1] && nqa[0] == nqb[0] &&
                          nqa[1] == nqb[1],
                      "packed %s k=%d: iterations and queries equal the dense run", method_names[m],
                      k);
            }
        /* Nash-MP on game 0 reaches the Newton equilibrium; exploitability vs long double */
        CHECK(newton_star(P, lr, beta[0], k, lstar) < 1e-12, "newton k=%d", k);
        memcpy(la, lr, sizeof(double) * k);
        ita[0] = nqa[0] = 0;
        aca[0] = 1;
        CHECK_ST(nashmp_solve_packed_f64(Pu, 0, lr, 0, beta, eta, 1, k, NASH_MP, 600, 100, -1.0,
                                         la, k, NULL, k, ita, nqa, exa, aca),
                 NASHMP_OK);
        CHECK(max_abs_diff(la, lstar, k) < 1e-9, "packed Nash-MP k=%d reaches pi* (%g)", k,
              max_abs_diff(la, lstar, k));
        random_log_policy(la, k, 2.0);
        CHECK_ST(nashmp_exploitability_packed_f64(Pu, 0, la, 0, lr, 0, beta, 1, k, &e1),
                 NASHMP_OK);
        e2 = (double)expl_ref(P, la, lr, beta[0], k);
        CHECK(fabs(e1 - e2) <= 1e-13, "packed exploitability k=%d: %.17g vs %.17g", k, e1, e2);
    }
    /* k = 1: nothing stored, any non-NULL pointer; bad stride and pointers */
    {
        double one = 0.0, l1 = 0.0, lr1 = 0.0, ex1;
        int64_t it1 = 0, nq1 = 0;
        uint8_t a1 = 1;
        CHECK_ST(nashmp_solve_packed_f64(&one, 0, &lr1, 0, beta, eta, 1, 1, NASH_MP, 3, 1, -1.0,
                                         &l1, 1, NULL, 1, &it1, &nq1, &ex1, &a1),
                 NASHMP_OK);
        CHECK(l1 == 0.0 && ex1 == 0.0 && nq1 == 6, "packed k=1: l=%g ex=%g nq=%d", l1, ex1,
              (int)nq1);
        CHECK_ST(nashmp_solve_packed_f64(NULL, 0, &lr1, 0, beta, eta, 1, 1, NASH_MP, 3, 1, -1.0,
                                         &l1, 1, NULL, 1, &it1, &nq1, &ex1, &a1),
                 NASHMP_ERR_NULL_POINTER);
        ita[0] = ita[1] = nqa[0] = nqa[1] = 0;
        aca[0] = aca[1] = 1;
        CHECK_ST(nashmp_solve_packed_f64(Pu, 5 * 4 / 2 - 1, lr, 5, beta, eta, 2, 5, NASH_MP, 3, 1,
                                         -1.0, la, 5, NULL, 5, ita, nqa, exa, aca),
                 NASHMP_ERR_INVALID_STRIDE);
        CHECK_ST(nashmp_exploitability_packed_f32(Puf, 5 * 4 / 2 - 1, la, 5, lr, 5, beta, 2, 5,
                                                  exa),
                 NASHMP_ERR_INVALID_STRIDE);
        CHECK_ST(nashmp_exploitability_packed_f32(NULL, 0, la, 5, lr, 5, beta, 2, 5, exa),
                 NASHMP_ERR_NULL_POINTER);
    }
}

/* nashmp_*_upper_*: a dense P read through its strict upper triangle. Above the sizes where it
 * is used (double k >= 64, float k >= 16) the lower triangle and diagonal are NaN and never used;
 * the iterates match the dense solver's (other summation order) at every 8-byte offset of P (the
 * vector loop's scalar head) and for k with and without whole 32-byte rows. Below those sizes the
 * whole P is read: the results are the dense solver's bits. */
static void test_upper(void)
{
    enum { KMAX = 300, B = 2 };
    static double P[B * KMAX * KMAX], Pn[B * KMAX * KMAX + 8];
    static float Pf[B * KMAX * KMAX], Pfn[B * KMAX * KMAX + 8];
    static double lr[B * KMAX], l0[B * KMAX], la[B * KMAX], lb[B * KMAX], sa[B * KMAX],
        sb[B * KMAX];
    double beta[B] = {0.1, 0.3}, exa[B], exb[B], e1[B], e2[B];
    int64_t ita[B], itb[B], nqa[B], nqb[B];
    uint8_t aca[B], acb[B];
    const int ks[6][2] = {{300, 0}, {261, 0}, {100, 1}, {131, 1}, {37, 0}, {12, 1}};
    int ki, m, i, y, j, off;
    for (ki = 0; ki < 6; ki++) {
        const int k = ks[ki][0], f32 = ks[ki][1], big = k >= (f32 ? 16 : 64);
        const int64_t kk = (int64_t)k * k;
        for (i = 0; i < B; i++) {
            make_skew(P + i * kk, k, 0.5);
            to_float_antisym(P + i * kk, k, Pf + i * kk);
            random_log_policy(lr + i * k, k, 1.0);
            random_log_policy(l0 + i * k, k, 2.0);
        }
        for (off = 0; off < (big ? 4 : 1); off++) {
            double *Q = Pn + off;
            float *Qf = Pfn + off;
            for (i = 0; i < B * kk; i++) { /* NaN on and below the diagonal when unread */
                const int64_t r = i % kk / k, c = i % k;
                Q[i] = c > r || !big ? P[i] : NAN;
                Qf[i] = c > r || !big ? Pf[i] : NAN;
            }
            for (m = NASH_MP; m <= SPPO; m++) {
                double e[B], d;
                start_pair(m, f32, P, Pf, l0, B, k, e, la, lb, sa, sb, ita, itb, nqa, nqb, aca,
                           acb);
                if (f32) {
                    CHECK_ST(nashmp_solve_dense_f32(Pf, kk, lr, k, beta, e, B, k, m, 30, 7, 1e-12,
                                                    la, k, sa, k, ita, nqa, exa, aca),
                             NASHMP_OK);
                    CHECK_ST(nashmp_solve_upper_f32(Qf, kk, lr, k, beta, e, B, k, m, 30, 7, 1e-12,
                                                    lb, k, sb, k, itb, nqb, exb, acb),
                             NASHMP_OK);
                } else {
                    CHECK_ST(nashmp_solve_dense_f64(P, kk, lr, k, beta, e, B, k, m, 30, 7, 1e-12,
                                                    la, k, sa, k, ita, nqa, exa, aca),
                             NASHMP_OK);
                    CHECK_ST(nashmp_solve_upper_f64(Q, kk, lr, k, beta, e, B, k, m, 30, 7, 1e-12,
                                                    lb, k, sb, k, itb, nqb, exb, acb),
                             NASHMP_OK);
                }
                d = max_abs_diff(la, lb, B * k);
                CHECK(big ? d <= (f32 ? 1e-9 : 1e-12) : d == 0.0,
                      "upper %s k=%d f32=%d offset %d: |l_dense - l_upper| = %g", method_names[m],
                      k, f32, off, d);
                CHECK(ita[0] == itb[0] && ita[1] == itb[1] && nqa[0] == nqb[0] &&
                          nqa[1] == nqb[1],
                      "upper %s k=%d: iterations and queries equal the dense run",
                      method_names[m], k);
            }
            if (f32) {
                CHECK_ST(nashmp_exploitability_dense_f32(Pf, kk, l0, k, lr, k, beta, B, k, e1),
                         NASHMP_OK);
                CHECK_ST(nashmp_exploitability_upper_f32(Qf, kk, l0, k, lr, k, beta, B, k, e2),
                         NASHMP_OK);
            } else {
                CHECK_ST(nashmp_exploitability_dense_f64(P, kk, l0, k, lr, k, beta, B, k, e1),
                         NASHMP_OK);
                CHECK_ST(nashmp_exploitability_upper_f64(Q, kk, l0, k, lr, k, beta, B, k, e2),
                         NASHMP_OK);
            }
            CHECK(fabs(e1[0] - e2[0]) <= 1e-12 && fabs(e1[1] - e2[1]) <= 1e-12,
                  "upper exploitability k=%d offset %d: %.17g vs %.17g", k, off, e1[0], e2[0]);
        }
    }
    CHECK_ST(nashmp_solve_upper_f64(NULL, 0, lr, 0, beta, beta, 1, 3, NASH_MP, 3, 1, -1.0, la, 3,
                                    NULL, 3, ita, nqa, exa, aca),
             NASHMP_ERR_NULL_POINTER);
    CHECK_ST(nashmp_exploitability_upper_f32(Pf, 8, la, 3, lr, 3, beta, 2, 3, exa),
             NASHMP_ERR_INVALID_STRIDE);
}

/* A NaN or an infinity in the read triangle makes the products non-finite: the solve reports
 * NASHMP_ERR_NONFINITE (packed and upper; k = 100 one chunk, k = 450 row-parallel chunks on 2
 * threads), whether the entry is near the first row, the diagonal or the last column. */
static void test_triangle_nonfinite(void)
{
    enum { KMAX = 450 };
    double *P = malloc(sizeof(double) * KMAX * KMAX), *Pu = malloc(sizeof(double) * KMAX * KMAX);
    double lr[KMAX], la[KMAX], beta = 0.1, eta = 2.0, ex;
    const double bad[3] = {NAN, INFINITY, -INFINITY};
    int ks[2] = {100, 450}, ki, b, w, y, j, nt0 = nashmp_get_num_threads();
    int64_t it, nq;
    uint8_t act;
    nashmp_set_num_threads(2);
    for (ki = 0; ki < 2; ki++) {
        const int k = ks[ki];
        const int64_t where[3][2] = {{0, 1}, {k / 2, k / 2 + 1}, {k - 2, k - 1}};
        make_skew(P, k, 0.5);
        random_log_policy(lr, k, 1.0);
        for (b = 0; b < 3; b++)
            for (w = 0; w < 3; w++) {
                const int64_t r = where[w][0], c = where[w][1];
                int64_t o = 0;
                int st;
                for (y = 0; y < k; y++)
                    for (j = y + 1; j < k; j++, o++)
                        Pu[o] = (y == r && j == c) ? bad[b] : P[y * k + j];
                memcpy(la, lr, sizeof(double) * k);
                it = nq = 0;
                act = 1;
                st = nashmp_solve_packed_f64(Pu, 0, lr, 0, &beta, &eta, 1, k, NASH_MP, 5, 1,
                                             -1.0, la, k, NULL, 0, &it, &nq, &ex, &act);
                CHECK(st == NASHMP_ERR_NONFINITE, "packed k=%d P[%d,%d]=%g: status %d", k,
                      (int)r, (int)c, bad[b], st);
                P[r * k + c] = bad[b];
                memcpy(la, lr, sizeof(double) * k);
                it = nq = 0;
                act = 1;
                st = nashmp_solve_upper_f64(P, 0, lr, 0, &beta, &eta, 1, k, NASH_MP, 5, 1, -1.0,
                                            la, k, NULL, 0, &it, &nq, &ex, &act);
                CHECK(st == NASHMP_ERR_NONFINITE, "upper k=%d P[%d,%d]=%g: status %d", k,
                      (int)r, (int)c, bad[b], st);
                P[r * k + c] = 0.5;
            }
    }
    nashmp_set_num_threads(nt0);
    free(P);
    free(Pu);
}

/* nashmp_solve_upper_* and _packed_*: the same bits with 1 and 2 threads, for one game
 * (row-parallel chunks of the triangle), for 3 games with their own P (fewer units than threads:
 * row-parallel too) and for 2 games sharing a packed triangle (2 vectors per product); and the
 * dense solver's iterates within rounding. k = 450 >= SV_ROW_MIN_K. */
static void test_triangle_threads(void)
{
    enum { K = 450, B = 3 };
    double *P = malloc(sizeof(double) * B * K * K);
    double lr[K], l0[B * K], la[B * K], lb[B * K], lc[B * K], beta[B], eta[B], ea[B], eb[B],
        ec[B];
    int64_t ia[B], na[B], ib[B], nb[B], ic[B], nc[B];
    uint8_t aa[B], ab[B], ac[B];
    int i, nt0 = nashmp_get_num_threads();
    for (i = 0; i < B; i++) {
        make_skew(P + (size_t)i * K * K, K, 0.5);
        random_log_policy(l0 + i * K, K, 2.0);
        beta[i] = 0.05 * (i + 1);
        eta[i] = 2.0;
        ia[i] = ib[i] = ic[i] = na[i] = nb[i] = nc[i] = 0;
        aa[i] = ab[i] = ac[i] = 1;
    }
    random_log_policy(lr, K, 1.0);
    memcpy(la, l0, sizeof la);
    memcpy(lb, l0, sizeof lb);
    memcpy(lc, l0, sizeof lc);
    nashmp_set_num_threads(1);
    for (i = 0; i < B; i++)
        CHECK_ST(nashmp_solve_upper_f64(P + (size_t)i * K * K, 0, lr, 0, beta + i, eta + i, 1, K,
                                        NASH_MP, 30, 7, 1e-9, la + i * K, K, NULL, 0, ia + i,
                                        na + i, ea + i, aa + i),
                 NASHMP_OK);
    nashmp_set_num_threads(2);
    for (i = 0; i < B; i++)
        CHECK_ST(nashmp_solve_upper_f64(P + (size_t)i * K * K, 0, lr, 0, beta + i, eta + i, 1, K,
                                        NASH_MP, 30, 7, 1e-9, lb + i * K, K, NULL, 0, ib + i,
                                        nb + i, eb + i, ab + i),
                 NASHMP_OK);
    CHECK_ST(nashmp_solve_upper_f64(P, (int64_t)K * K, lr, 0, beta, eta, B, K, NASH_MP, 30, 7,
                                    1e-9, lc, K, NULL, 0, ic, nc, ec, ac),
             NASHMP_OK);
    nashmp_set_num_threads(nt0);
    CHECK(memcmp(la, lb, sizeof la) == 0 && memcmp(ea, eb, sizeof ea) == 0,
          "upper: 1 vs 2 threads differ (one game)");
    CHECK(memcmp(la, lc, sizeof la) == 0 && memcmp(ea, ec, sizeof ea) == 0,
          "upper: one game at a time vs a batch of own P differ");
    for (i = 0; i < B; i++) { /* the dense solver, 1 thread */
        ib[i] = nb[i] = 0;
        ab[i] = 1;
    }
    memcpy(lb, l0, sizeof lb);
    CHECK_ST(nashmp_solve_dense_f64(P, (int64_t)K * K, lr, 0, beta, eta, B, K, NASH_MP, 30, 7,
                                    1e-9, lb, K, NULL, 0, ib, nb, eb, ab),
             NASHMP_OK);
    CHECK(max_abs_diff(la, lb, B * K) <= 1e-12, "upper vs dense: %g", max_abs_diff(la, lb, B * K));
    { /* packed storage: the same chunks; a shared triangle for 2 games (2 vectors per product) */
        const int64_t npk = (int64_t)K * (K - 1) / 2;
        double *Pu = malloc(sizeof(double) * B * npk);
        int64_t o, y, j;
        for (i = 0; i < B; i++)
            for (o = 0, y = 0; y < K; y++)
                for (j = y + 1; j < K; j++, o++)
                    Pu[i * npk + o] = P[(size_t)i * K * K + y * K + j];
        for (int nt = 1; nt <= 2; nt++) {
            double *l = nt == 1 ? lb : lc, *e = nt == 1 ? eb : ec;
            int64_t *it = nt == 1 ? ib : ic, *nq = nt == 1 ? nb : nc;
            uint8_t *ac_ = nt == 1 ? ab : ac;
            nashmp_set_num_threads(nt);
            for (i = 0; i < B; i++) {
                it[i] = nq[i] = 0;
                ac_[i] = 1;
            }
            memcpy(l, l0, sizeof lb);
            CHECK_ST(nashmp_solve_packed_f64(Pu, npk, lr, 0, beta, eta, B, K, NASH_MP, 30, 7,
                                             1e-9, l, K, NULL, 0, it, nq, e, ac_),
                     NASHMP_OK);
        }
        CHECK(memcmp(lb, lc, sizeof lb) == 0 && memcmp(eb, ec, sizeof eb) == 0,
              "packed: 1 vs 2 threads differ (own triangles)");
        CHECK(max_abs_diff(la, lb, B * K) <= 1e-12, "packed vs upper: %g",
              max_abs_diff(la, lb, B * K));
        for (int nt = 1; nt <= 2; nt++) { /* games 0 and 1 on the triangle of game 0 */
            double *l = nt == 1 ? lb : lc, *e = nt == 1 ? eb : ec;
            int64_t *it = nt == 1 ? ib : ic, *nq = nt == 1 ? nb : nc;
            uint8_t *ac_ = nt == 1 ? ab : ac;
            nashmp_set_num_threads(nt);
            for (i = 0; i < 2; i++) {
                it[i] = nq[i] = 0;
                ac_[i] = 1;
            }
            memcpy(l, l0, sizeof(double) * 2 * K);
            CHECK_ST(nashmp_solve_packed_f64(Pu, 0, lr, 0, beta, eta, 2, K, NASH_MP, 30, 7,
                                             1e-9, l, K, NULL, 0, it, nq, e, ac_),
                     NASHMP_OK);
        }
        nashmp_set_num_threads(nt0);
        CHECK(memcmp(lb, lc, sizeof(double) * 2 * K) == 0 && memcmp(eb, ec, 2 * sizeof(double)) == 0,
              "packed: 1 vs 2 threads differ (a shared triangle, 2 games)");
        free(Pu);
    }
    free(P);
}

/* Triangles beyond 16 MB and calls of >= 24 products run from a panel-order copy of the triangle
 * (solvers.c, SV_PW): the bits must be those of calls too short for the copy (one iteration per
 * call, products read P), for upper (every 8-byte offset of P: the scalar head columns differ)
 * and packed storage, f64 (k = 2053: 8-row blocks plus 5 rows) and f32 (k = 2901), 1 and 2
 * threads, and a packed triangle shared by 2 games. */
static void run_split(int upper, int f32, const void *P, int64_t ldP, const double *lr, int B,
                      int k, const double *beta, const double *eta, int iters, int per_call,
                      double *l, double *ex, nashmp_workspace *ws)
{
    int64_t it[2] = {0, 0}, nq[2] = {0, 0};
    uint8_t act[2] = {1, 1};
    int done;
    for (done = 0; done < iters; done += per_call) {
        int st;
        if (upper)
            st = f32 ? nashmp_solve_upper_f32_ws((const float *)P, ldP, lr, 0, beta, eta, B, k,
                                                 NASH_MP, per_call, per_call, -1.0, l, k, NULL,
                                                 0, it, nq, ex, act, ws)
                     : nashmp_solve_upper_f64_ws((const double *)P, ldP, lr, 0, beta, eta, B, k,
                                                 NASH_MP, per_call, per_call, -1.0, l, k, NULL,
                                                 0, it, nq, ex, act, ws);
        else
            st = f32 ? nashmp_solve_packed_f32_ws((const float *)P, ldP, lr, 0, beta, eta, B, k,
                                                  NASH_MP, per_call, per_call, -1.0, l, k, NULL,
                                                  0, it, nq, ex, act, ws)
                     : nashmp_solve_packed_f64_ws((const double *)P, ldP, lr, 0, beta, eta, B, k,
                                                  NASH_MP, per_call, per_call, -1.0, l, k, NULL,
                                                  0, it, nq, ex, act, ws);
        CHECK_ST(st, NASHMP_OK);
    }
}

static void test_triangle_panels(void)
{
    int f32, nt0 = nashmp_get_num_threads();
    for (f32 = 0; f32 <= 1; f32++) {
        const int k = f32 ? 2901 : 2053, iters = 13;
        const size_t el = f32 ? sizeof(float) : sizeof(double);
        const int64_t npk = (int64_t)k * (k - 1) / 2;
        double *P = malloc(sizeof(double) * k * k), *lr = malloc(sizeof(double) * k);
        double *l0 = malloc(sizeof(double) * 2 * k), *la = malloc(sizeof(double) * 2 * k);
        double *lb = malloc(sizeof(double) * 2 * k);
        char *Q = malloc(el * ((size_t)k * k + 4)), *Pu = malloc(el * (size_t)npk);
        double beta[2] = {0.05, 0.2}, eta[2] = {2.0, 2.0}, ea[2], eb[2];
        int64_t y, j, o;
        int off, nt;
        make_skew(P, k, 0.5);
        random_log_policy(l0, k, 2.0);
        random_log_policy(l0 + k, k, 1.0);
        random_log_policy(lr, k, 1.0);
        for (o = 0, y = 0; y < k; y++)
            for (j = y + 1; j < k; j++, o++)
                if (f32)
                    ((float *)Pu)[o] = (float)P[y * k + j];
                else
                    ((double *)Pu)[o] = P[y * k + j];
        for (off = 0; off < 4; off++) { /* upper: P at every 8-byte (f32: 4-byte) offset */
            char *Qo = Q + off * el;
            for (y = 0; y < (int64_t)k * k; y++)
                if (f32)
                    ((float *)Qo)[y] = (y / k < y % k) ? (float)P[y] : NAN;
                else
                    ((double *)Qo)[y] = (y / k < y % k) ? P[y] : NAN;
            for (nt = 1; nt <= 2; nt += off == 0 ? 1 : 2) {
                nashmp_set_num_threads(nt);
                memcpy(la, l0, sizeof(double) * k);
                memcpy(lb, l0, sizeof(double) * k);
                run_split(1, f32, Qo, 0, lr, 1, k, beta, eta, iters, iters, la, ea, NULL);
                run_split(1, f32, Qo, 0, lr, 1, k, beta, eta, iters, 1, lb, eb, NULL);
                CHECK(memcmp(la, lb, sizeof(double) * k) == 0 && ea[0] == eb[0],
                      "upper k=%d f32=%d offset %d, %d threads: one call vs calls of one "
                      "iteration differ by %g", k, f32, off, nt, max_abs_diff(la, lb, k));
            }
        }
        for (nt = 1; nt <= 2; nt++) { /* packed: one game, then 2 games on one triangle */
            nashmp_set_num_threads(nt);
            memcpy(la, l0, sizeof(double) * 2 * k);
            memcpy(lb, l0, sizeof(double) * 2 * k);
            run_split(0, f32, Pu, 0, lr, 1, k, beta, eta, iters, iters, la, ea, NULL);
            run_split(0, f32, Pu, 0, lr, 1, k, beta, eta, iters, 1, lb, eb, NULL);
            CHECK(memcmp(la, lb, sizeof(double) * k) == 0 && ea[0] == eb[0],
                  "packed k=%d f32=%d, %d threads: one call vs calls of one iteration differ "
                  "by %g", k, f32, nt, max_abs_diff(la, lb, k));
            memcpy(la, l0, sizeof(double) * 2 * k);
            memcpy(lb, l0, sizeof(double) * 2 * k);
            run_split(0, f32, Pu, 0, lr, 2, k, beta, eta, iters, iters, la, ea, NULL);
            run_split(0, f32, Pu, 0, lr, 2, k, beta, eta, iters, 1, lb, eb, NULL);
            CHECK(memcmp(la, lb, sizeof(double) * 2 * k) == 0 && ea[0] == eb[0] &&
                      ea[1] == eb[1],
                  "packed k=%d f32=%d, 2 games on one triangle, %d threads: differ", k, f32, nt);
        }
        { /* and the panel-order result is the game's: Nash-MP's exploitability decreases */
            CHECK(ea[0] < 0.5 && ea[1] < 0.5, "packed k=%d: exploitability %g %g", k, ea[0],
                  ea[1]);
        }
        nashmp_set_num_threads(nt0);
        free(P);
        free(lr);
        free(l0);
        free(la);
        free(lb);
        free(Q);
        free(Pu);
    }
}

/* A workspace keeps the panel-order copy between calls (nashmp.h): later calls on the same
 * triangle use it whatever their length, with the bits of calls without a workspace; a call that
 * copies another triangle replaces it; clear drops it. That the kept copy is what later calls
 * read is seen by changing the triangle's values behind the workspace's back (the misuse nashmp.h
 * warns about): results stay those of the old values until nashmp_workspace_clear. Upper storage
 * (a dense P) and packed, f64, k = 2053 (16.8 MB triangle). */
static void test_workspace(void)
{
    const int k = 2053, iters = 13;
    const int64_t n = (int64_t)k * k;
    double *V1 = malloc(sizeof(double) * n), *V2 = malloc(sizeof(double) * n);
    double *A = malloc(sizeof(double) * n), *B = malloc(sizeof(double) * n);
    double *lr = malloc(sizeof(double) * k), *l0 = malloc(sizeof(double) * k);
    double *ref = malloc(sizeof(double) * k), *ref2 = malloc(sizeof(double) * k);
    double *la = malloc(sizeof(double) * k);
    double beta[1] = {0.1}, eta[1] = {2.0}, e0[1], e1[1];
    nashmp_workspace *ws = NULL;
    int upper;
    int64_t y, j, o;
    CHECK_ST(nashmp_workspace_create(NULL), NASHMP_ERR_NULL_POINTER);
    nashmp_workspace_clear(NULL); /* no-ops */
    nashmp_workspace_destroy(NULL);
    CHECK_ST(nashmp_workspace_create(&ws), NASHMP_OK);
    make_skew(V1, k, 0.5);
    make_skew(V2, k, 0.5);
    random_log_policy(l0, k, 2.0);
    random_log_policy(lr, k, 1.0);
    for (upper = 1; upper >= 0; upper--) {
        /* the values v in buffer X, in the storage under test */
#define WS_FILL(X, v)                                                                              \
    do {                                                                                           \
        if (upper)                                                                                 \
            memcpy(X, v, sizeof(double) * n);                                                      \
        else                                                                                       \
            for (o = 0, y = 0; y < k; y++)                                                         \
                for (j = y + 1; j < k; j++, o++)                                                   \
                    X[o] = v[y * k + j];                                                           \
    } while (0)
        WS_FILL(A, V1);
        WS_FILL(B, V1);
        /* references, without a workspace, in calls of one iteration (no copy) */
        memcpy(ref, l0, sizeof(double) * k);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, 2 * iters, 1, ref, e0, NULL);
        /* a call long enough for the copy, then calls of one iteration from the kept copy */
        memcpy(la, l0, sizeof(double) * k);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, iters, iters, la, e1, ws);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, iters, 1, la, e1, ws);
        CHECK(memcmp(la, ref, sizeof(double) * k) == 0 && e0[0] == e1[0],
              "workspace, upper=%d: the kept copy changes the bits (%g)", upper,
              max_abs_diff(la, ref, k));
        /* A now holds V2: the workspace still answers with the copy of V1 */
        WS_FILL(A, V2);
        memcpy(ref, l0, sizeof(double) * k);
        run_split(upper, 0, B, 0, lr, 1, k, beta, eta, 2, 1, ref, e0, NULL); /* V1 */
        memcpy(ref2, l0, sizeof(double) * k);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, 2, 1, ref2, e0, NULL); /* V2 */
        CHECK(memcmp(ref, ref2, sizeof(double) * k) != 0, "workspace: V1 and V2 agree");
        memcpy(la, l0, sizeof(double) * k);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, 2, 1, la, e1, ws);
        CHECK(memcmp(la, ref, sizeof(double) * k) == 0,
              "workspace, upper=%d: short calls did not read the kept copy", upper);
        nashmp_workspace_clear(ws); /* dropped: A's values are read */
        memcpy(la, l0, sizeof(double) * k);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, 2, 1, la, e1, ws);
        CHECK(memcmp(la, ref2, sizeof(double) * k) == 0,
              "workspace, upper=%d: clear did not drop the copy", upper);
        /* a copy of B (V1) replaces nothing kept; then one of A (V2) replaces it */
        memcpy(la, l0, sizeof(double) * k);
        run_split(upper, 0, B, 0, lr, 1, k, beta, eta, iters, iters, la, e1, ws);
        memcpy(la, l0, sizeof(double) * k);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, 2, 1, la, e1, ws); /* not B's copy */
        CHECK(memcmp(la, ref2, sizeof(double) * k) == 0,
              "workspace, upper=%d: a call on another triangle used the kept copy", upper);
        memcpy(la, l0, sizeof(double) * k);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, iters, iters, la, e1, ws);
        WS_FILL(A, V1); /* the copy of A (V2) is kept, B's was replaced */
        memcpy(la, l0, sizeof(double) * k);
        run_split(upper, 0, A, 0, lr, 1, k, beta, eta, 2, 1, la, e1, ws);
        CHECK(memcmp(la, ref2, sizeof(double) * k) == 0,
              "workspace, upper=%d: the copy of the last triangle is not the one kept", upper);
        memcpy(la, l0, sizeof(double) * k);
        run_split(upper, 0, B, 0, lr, 1, k, beta, eta, 2, 1, la, e1, ws);
        CHECK(memcmp(la, ref, sizeof(double) * k) == 0,
              "workspace, upper=%d: B after its copy was replaced", upper);
        nashmp_workspace_clear(ws);
#undef WS_FILL
    }
    nashmp_workspace_destroy(ws);
    free(V1);
    free(V2);
    free(A);
    free(B);
    free(lr);
    free(l0);
    free(ref);
    free(ref2);
    free(la);
}

int main(void)
{
    test_rps();
    test_exploitability();
    test_methods_agree();
    test_extragradient_equivalence();
    test_kl_contraction();
    test_f32_and_batch();
    test_neg_inf();
    test_determinism();
    test_resume();
    test_alignment();
    test_bad_args();
    test_packed();
    test_upper();
    test_triangle_threads();
    test_triangle_nonfinite();
    test_triangle_panels();
    test_workspace();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
