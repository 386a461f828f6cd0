/*
 * Downstream example: a program outside the nashmp tree that finds libnashmp through its CMake
 * package (find_package(nashmp)) or pkg-config, solves two games with Nash Mirror Prox and checks
 * the answers independently of the solver's own bookkeeping:
 *   - the runtime library is the version of the header it was compiled against;
 *   - rock-paper-scissors: the regularized equilibrium is the uniform policy;
 *   - a random antisymmetric 20-action game: exploitability <= tol, recomputed with
 *     nashmp_exploitability_dense_f64 (and the same game with P in float);
 *   - bad arguments give the documented status codes, not a crash.
 * Exit status 0 when every check passes, 1 otherwise.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <nashmp/nashmp.h>

static int failures = 0;

#define EXPECT(cond, ...)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "FAIL line %d: ", __LINE__);                                       \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                             \
        }                                                                                      \
    } while (0)

#define EXPECT_STATUS(call, want)                                                              \
    do {                                                                                       \
        int st_ = (call);                                                                      \
        EXPECT(st_ == (want), "%s returned %s, expected %s", #call, nashmp_status_string(st_), \
               nashmp_status_string(want));                                                    \
    } while (0)

enum { KMAX = 20 };

/* xorshift64: a fixed, portable pseudo-random sequence in [0, 1). */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform01(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * Solves one game with Nash-MP from a non-uniform start, a uniform reference policy and the
 * given beta; returns the solver's status and leaves the equilibrium log-policy in log_pi.
 */
static int solve(const double *P, int k, double beta, double tol, double *log_pi,
                 double *expl, int64_t *iters)
{
    double log_ref[KMAX], eta = 1.0;
    int64_t n_queries = 0;
    uint8_t active = 1;
    double sum = 0.0;
    int j, st;
    *iters = 0;
    for (j = 0; j < k; j++) {
        log_ref[j] = -log((double)k);
        log_pi[j] = log(1.0 + j); /* any full-support start; normalized below */
        sum += 1.0 + j;
    }
    for (j = 0; j < k; j++)
        log_pi[j] -= log(sum);
    st = nashmp_solve_dense_f64(P, 0, log_ref, 0, &beta, &eta, 1, k, NASHMP_METHOD_NASH_MP,
                                5000, 10, tol, log_pi, k, NULL, 0, iters, &n_queries, expl,
                                &active);
    EXPECT(st != NASHMP_OK || active == 0,
           "k=%d: did not converge to %g in %lld iterations (exploitability %g)", k, tol,
           (long long)*iters, *expl);
    EXPECT(st != NASHMP_OK || n_queries == 2 * *iters, "Nash-MP spends 2 queries per iteration");
    return st;
}

/* Exploitability of log_pi recomputed by the library's own evaluation function. */
static double exploitability(const double *P, int k, double beta, const double *log_pi)
{
    double log_ref[KMAX], out = NAN;
    int j;
    for (j = 0; j < k; j++)
        log_ref[j] = -log((double)k);
    EXPECT_STATUS(nashmp_exploitability_dense_f64(P, 0, log_pi, 0, log_ref, 0, &beta, 1, k,
                                                  &out),
                  NASHMP_OK);
    return out;
}

static void check_version(void)
{
    int want = 10000 * NASHMP_VERSION_MAJOR + 100 * NASHMP_VERSION_MINOR + NASHMP_VERSION_PATCH;
    EXPECT(strcmp(nashmp_version_string(), NASHMP_VERSION_STRING) == 0,
           "runtime version %s, header %s", nashmp_version_string(), NASHMP_VERSION_STRING);
    EXPECT(nashmp_version_number() == want, "runtime version number %d, header %d",
           nashmp_version_number(), want);
    EXPECT(strcmp(nashmp_status_string(NASHMP_OK), "NASHMP_OK") == 0, "status string");
    printf("nashmp %s (%s), %d thread(s)\n", nashmp_version_string(), nashmp_build_info(),
           nashmp_get_num_threads());
}

static void check_rps(void)
{
    /* P[y][j] = probability that action y beats action j (ties 1/2) */
    static const double P[9] = {0.5, 1.0, 0.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.5};
    const double beta = 0.1, tol = 1e-14;
    double log_pi[KMAX], e, e2;
    int64_t iters;
    int j;
    EXPECT_STATUS(solve(P, 3, beta, tol, log_pi, &e, &iters), NASHMP_OK);
    for (j = 0; j < 3; j++)
        EXPECT(fabs(exp(log_pi[j]) - 1.0 / 3.0) < 1e-6, "RPS: pi[%d] = %.12f, expected 1/3", j,
               exp(log_pi[j]));
    e2 = exploitability(P, 3, beta, log_pi);
    EXPECT(e2 <= tol && e2 > -1e-12, "RPS: exploitability %g", e2);
    printf("rock-paper-scissors: %lld iterations, exploitability %.3g, pi = (%.9f, %.9f, %.9f)\n",
           (long long)iters, e2, exp(log_pi[0]), exp(log_pi[1]), exp(log_pi[2]));
}

static void check_random_game(void)
{
    enum { K = 20 };
    double P[K * K], log_pi[KMAX], e, e2, total = 0.0;
    float Pf[K * K];
    const double beta = 0.05, tol = 1e-9;
    int64_t iters;
    int y, j;
    /* P = 1/2 + S with S antisymmetric: P[y][j] + P[j][y] == 1 */
    for (y = 0; y < K; y++) {
        P[y * K + y] = 0.5;
        for (j = y + 1; j < K; j++) {
            double s = 0.5 * (2.0 * uniform01() - 1.0);
            P[y * K + j] = 0.5 + s;
            P[j * K + y] = 0.5 - s;
        }
    }
    EXPECT_STATUS(solve(P, K, beta, tol, log_pi, &e, &iters), NASHMP_OK);
    e2 = exploitability(P, K, beta, log_pi);
    EXPECT(e2 <= tol && e2 > -1e-12, "random game: exploitability %g > %g", e2, tol);
    EXPECT(fabs(e2 - e) <= 1e-12, "solver's exploitability %g vs recomputed %g", e, e2);
    for (j = 0; j < K; j++)
        total += exp(log_pi[j]);
    EXPECT(fabs(total - 1.0) < 1e-12, "random game: policy sums to %.17g", total);
    printf("random %d-action game: %lld iterations, exploitability %.3g\n", K, (long long)iters,
           e2);

    /* the same game with P in float (rounding moves P by ~3e-8): solved to 1e-7 in the float
     * game, the policy is also a 1e-6-equilibrium of the double game */
    for (j = 0; j < K * K; j++)
        Pf[j] = (float)P[j];
    {
        double lr[K], lp[K], b = beta, eta = 1.0, ex = NAN, ex32 = NAN;
        int64_t it = 0, nq = 0;
        uint8_t act = 1;
        for (j = 0; j < K; j++)
            lr[j] = lp[j] = -log((double)K);
        EXPECT_STATUS(nashmp_solve_dense_f32(Pf, 0, lr, 0, &b, &eta, 1, K, NASHMP_METHOD_NASH_MP,
                                             5000, 10, 1e-7, lp, K, NULL, 0, &it, &nq, &ex, &act),
                      NASHMP_OK);
        EXPECT_STATUS(nashmp_exploitability_dense_f32(Pf, 0, lp, 0, lr, 0, &b, 1, K, &ex32),
                      NASHMP_OK);
        EXPECT(act == 0 && ex <= 1e-7 && ex32 <= 1e-7, "float P: exploitability %g / %g", ex,
               ex32);
        e2 = exploitability(P, K, beta, lp);
        EXPECT(e2 <= 1e-6, "float P: exploitability %g in the double game", e2);
        printf("same game, P in float: %lld iterations, exploitability %.3g (double game %.3g)\n",
               (long long)it, ex32, e2);
    }
}

static void check_bad_arguments(void)
{
    static const double P[9] = {0.5, 1.0, 0.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.5};
    double lr[3], lp[3], beta = 0.1, eta = 1.0, ex, nan_beta = NAN;
    int64_t it = 0, nq = 0;
    uint8_t act = 1;
    int j;
    for (j = 0; j < 3; j++)
        lr[j] = lp[j] = -log(3.0);
    EXPECT_STATUS(nashmp_solve_dense_f64(P, 0, lr, 0, &beta, &eta, 1, 0, NASHMP_METHOD_NASH_MP,
                                         10, 1, 0.0, lp, 3, NULL, 0, &it, &nq, &ex, &act),
                  NASHMP_ERR_INVALID_SIZE); /* K = 0 */
    EXPECT_STATUS(nashmp_solve_dense_f64(P, 0, lr, 0, &nan_beta, &eta, 1, 3,
                                         NASHMP_METHOD_NASH_MP, 10, 1, 0.0, lp, 3, NULL, 0, &it,
                                         &nq, &ex, &act),
                  NASHMP_ERR_INVALID_VALUE); /* NaN beta */
    EXPECT_STATUS(nashmp_solve_dense_f64(NULL, 0, lr, 0, &beta, &eta, 1, 3,
                                         NASHMP_METHOD_NASH_MP, 10, 1, 0.0, lp, 3, NULL, 0, &it,
                                         &nq, &ex, &act),
                  NASHMP_ERR_NULL_POINTER);
    EXPECT_STATUS(nashmp_solve_dense_f64(P, 0, lr, 0, &beta, &eta, 1, 3, 99, 10, 1, 0.0, lp, 3,
                                         NULL, 0, &it, &nq, &ex, &act),
                  NASHMP_ERR_INVALID_VALUE); /* unknown method */
    EXPECT_STATUS(nashmp_logsumexp_f64(lr, -1, 3, 3, &ex), NASHMP_ERR_INVALID_SIZE);
    EXPECT_STATUS(nashmp_logsumexp_f64(lr, INT64_MAX, 3, 3, &ex), NASHMP_ERR_OVERFLOW);
}

int main(void)
{
    nashmp_set_num_threads(2);
    check_version();
    check_rps();
    check_random_game();
    check_bad_arguments();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
