/*
 * nashmp: Nash equilibria of preference games (Nash Mirror Prox and baselines).
 *
 * Public C ABI of libnashmp.
 *
 * Conventions
 *  - Every function returns an `int` holding an `enum nashmp_status` (NASHMP_OK == 0, errors < 0).
 *    Nothing in the library aborts, exits or prints; invalid arguments are reported by status.
 *  - Arrays are row-major. A "batch" of `batch` rows of length `k` is addressed with a leading
 *    dimension `ld*` (elements between consecutive rows). An input `ld` of 0 broadcasts one row
 *    over the whole batch; otherwise `ld >= k` is required. Outputs need `ld >= k` (or batch <= 1).
 *  - `_f64` functions take double, `_f32` functions take float; float data is accumulated in
 *    double where the error would otherwise grow with `k`.
 *  - Log-probabilities may be -inf (impossible actions). NaN or +inf in an input array gives
 *    NASHMP_ERR_NONFINITE; the output is then unspecified.
 *  - Outputs may be the same pointer as an input of the same shape and stride (in place);
 *    partial overlap is not allowed.
 *  - Threads: OpenMP over the batch (and over tiles of k when the batch is small); the count is
 *    set with nashmp_set_num_threads(). Results do not depend on the thread count except where
 *    documented.
 */
#ifndef NASHMP_NASHMP_H
#define NASHMP_NASHMP_H

#include <stdint.h>

#define NASHMP_VERSION_MAJOR 0
#define NASHMP_VERSION_MINOR 1
#define NASHMP_VERSION_PATCH 0
#define NASHMP_VERSION_STRING "0.1.0"

#if defined(_WIN32) && defined(NASHMP_BUILDING)
#define NASHMP_API __declspec(dllexport)
#elif defined(_WIN32) && !defined(NASHMP_STATIC)
#define NASHMP_API __declspec(dllimport)
#elif defined(__GNUC__)
#define NASHMP_API __attribute__((visibility("default")))
#else
#define NASHMP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum nashmp_status {
    NASHMP_OK = 0,
    NASHMP_ERR_NULL_POINTER = -1,  /* a required pointer is NULL */
    NASHMP_ERR_INVALID_SIZE = -2,  /* negative size, or k == 0 */
    NASHMP_ERR_OVERFLOW = -3,      /* a size or stride product overflows int64 / the address space */
    NASHMP_ERR_INVALID_STRIDE = -4,/* a leading dimension is negative, or 0 < ld < k */
    NASHMP_ERR_NONFINITE = -5,     /* NaN or +inf in an input array */
    NASHMP_ERR_INVALID_VALUE = -6, /* a scalar argument is NaN, infinite or out of its range */
    NASHMP_ERR_NO_MEMORY = -7,     /* an internal allocation failed */
    NASHMP_ERR_UNSUPPORTED = -8    /* not available in this build (e.g. CUDA without a CUDA compiler) */
};

/* ---- library information ------------------------------------------------------------------ */

/* Name of a status code ("NASHMP_OK", ...); "unknown status" for any other value. Never NULL. */
NASHMP_API const char *nashmp_status_string(int status);
/* Runtime version, equal to NASHMP_VERSION_STRING of the header the library was built with. */
NASHMP_API const char *nashmp_version_string(void);
/* Runtime version as 10000*major + 100*minor + patch. */
NASHMP_API int nashmp_version_number(void);
/* Space-separated build features, e.g. "openmp simd=avx2+fma cuda=no". Never NULL. */
NASHMP_API const char *nashmp_build_info(void);
/* Threads used by the kernels (OpenMP). n <= 0 restores the default. Returns NASHMP_OK. */
NASHMP_API int nashmp_set_num_threads(int n);
/* Threads the kernels will use (1 when built without OpenMP). */
NASHMP_API int nashmp_get_num_threads(void);

/* ---- log-space kernels (over the last axis, rows of length k) ------------------------------ */

/* out[i] = log(sum_j exp(x[i, j])); a row of all -inf gives -inf. One pass over x. */
NASHMP_API int nashmp_logsumexp_f64(const double *x, int64_t batch, int64_t k, int64_t ldx,
                                    double *out);
NASHMP_API int nashmp_logsumexp_f32(const float *x, int64_t batch, int64_t k, int64_t ldx,
                                    float *out);

/* out[i, :] = x[i, :] - logsumexp(x[i, :]); a row of all -inf gives all -inf. */
NASHMP_API int nashmp_log_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx,
                                      double *out, int64_t ldo);
NASHMP_API int nashmp_log_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx,
                                      float *out, int64_t ldo);

/* out[i, :] = exp(log_softmax(x[i, :])); a row of all -inf gives all 0. */
NASHMP_API int nashmp_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx,
                                  double *out, int64_t ldo);
NASHMP_API int nashmp_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx,
                                  float *out, int64_t ldo);

/* out[i] = KL(p_i || q_i) = sum_j p_ij (logp_ij - logq_ij), with p = exp(logp).
 * The inputs are log-probabilities (rows are not renormalized). Terms with logp = -inf are
 * exactly 0; a term with logp > -inf and logq = -inf makes the row +inf. */
NASHMP_API int nashmp_kl_f64(const double *logp, int64_t ldp, const double *logq, int64_t ldq,
                             int64_t batch, int64_t k, double *out);
NASHMP_API int nashmp_kl_f32(const float *logp, int64_t ldp, const float *logq, int64_t ldq,
                             int64_t batch, int64_t k, float *out);

/* out[i] = max_j x[i, j] - min_j x[i, j]; a row of all -inf gives 0, a row mixing -inf and
 * finite entries gives +inf. */
NASHMP_API int nashmp_span_f64(const double *x, int64_t batch, int64_t k, int64_t ldx,
                               double *out);
NASHMP_API int nashmp_span_f32(const float *x, int64_t batch, int64_t k, int64_t ldx,
                               float *out);

/* ---- dense preference operator -------------------------------------------------------------- */

/* g = P pi for each game: out[i, y] = sum_j P_i[y, j] pi[i, j].
 * P holds C-contiguous k x k matrices; `ldP` is the distance (in elements) between the matrices of
 * consecutive games: 0 for one matrix shared by the batch, otherwise >= k*k. */
NASHMP_API int nashmp_preference_apply_f64(const double *P, int64_t ldP, const double *pi,
                                           int64_t ldpi, int64_t batch, int64_t k, double *out,
                                           int64_t ldo);
NASHMP_API int nashmp_preference_apply_f32(const float *P, int64_t ldP, const float *pi,
                                           int64_t ldpi, int64_t batch, int64_t k, float *out,
                                           int64_t ldo);

/* ---- fused mirror-prox step ----------------------------------------------------------------- */

/* z = a*log_pi + b*log_ref + c*g, out = z - logsumexp(z), row by row.
 * A term whose coefficient is exactly 0 contributes 0 (so log_ref may hold -inf, or be NULL,
 * when b == 0). a, b, c must be finite. NASHMP_ERR_NONFINITE (that row of out unspecified, the
 * other rows computed) when a term read holds NaN or +inf, when a coefficient times -inf gives
 * +inf, or when a row of z is all -inf (no distribution: e.g. log_pi and log_ref with disjoint
 * supports). */
NASHMP_API int nashmp_mirror_step_f64(const double *log_pi, int64_t ldpi, const double *log_ref,
                                      int64_t ldref, const double *g, int64_t ldg, int64_t batch,
                                      int64_t k, double a, double b, double c, double *out,
                                      int64_t ldo);
NASHMP_API int nashmp_mirror_step_f32(const float *log_pi, int64_t ldpi, const float *log_ref,
                                      int64_t ldref, const float *g, int64_t ldg, int64_t batch,
                                      int64_t k, double a, double b, double c, float *out,
                                      int64_t ldo);


/* ---- dense solvers ---------------------------------------------------------------------------- */

/* Iterative methods of the exact (dense) solver. Each update ends with a normalization in log
 * space; g(sigma) = P sigma is one preference query. With a = 1/(1+eta*beta), b = 1 - a,
 * c = eta*a (Nash-MP) the methods are:
 *   NASH_MP        l_h = N(a l + b l_ref + c g(pi)),  l' = N(a l + b l_ref + c g(pi_h))   2 queries
 *   NASH_MD        mu = N((1-s) l + s l_ref), l' = N((1-s) l + s l_ref + e_t g(mu)),
 *                  e_t = 2/(beta (t+2)), s = e_t beta (eta is unused)                      1 query
 *   OMD            l' = N((1-eta beta) l + eta beta l_ref + eta g(pi)), eta beta <= 1       1 query
 *   MMD            l' = N((l + eta beta l_ref + eta g(pi)) / (1 + eta beta))               1 query
 *   OMWU           l' = N((1-eta beta) l + eta beta l_ref + eta (2 g(pi) - g_prev))         1 query
 *   EXTRAGRADIENT  as NASH_MP with a = 1 - eta beta, b = eta beta, c = eta (eta beta < 1)   2 queries
 *   SPPO           l' = N(l + eta g(pi)) (beta unused in the update); the reported iterate
 *                  is the average policy, kept in `state` as log of the running sum        1 query
 * N(z) = z - logsumexp(z). */
enum nashmp_method {
    NASHMP_METHOD_NASH_MP = 0,
    NASHMP_METHOD_NASH_MD = 1,
    NASHMP_METHOD_OMD = 2,
    NASHMP_METHOD_MMD = 3,
    NASHMP_METHOD_OMWU = 4,
    NASHMP_METHOD_EXTRAGRADIENT = 5,
    NASHMP_METHOD_SPPO = 6
};

/* Exploitability (suboptimality) of each policy in the beta-regularized game:
 *   out[i] = beta_i * logsumexp(log_ref + g(pi)/beta_i) + beta_i * KL(pi || ref) - 1/2,
 * and, for beta_i == 0, max_y g(pi)_y - 1/2. Uses one g evaluation per game (not counted as a
 * query by the solvers). beta has `batch` entries, each finite and >= 0. */
NASHMP_API int nashmp_exploitability_dense_f64(const double *P, int64_t ldP,
                                               const double *log_pi, int64_t ldpi,
                                               const double *log_ref, int64_t ldref,
                                               const double *beta, int64_t batch, int64_t k,
                                               double *out);
NASHMP_API int nashmp_exploitability_dense_f32(const float *P, int64_t ldP,
                                               const double *log_pi, int64_t ldpi,
                                               const double *log_ref, int64_t ldref,
                                               const double *beta, int64_t batch, int64_t k,
                                               double *out);

/* Runs `method` on every game i with active[i] != 0, for at most max_iter iterations, the
 * whole loop inside the library (OpenMP over games, or over rows of P when the batch is small).
 *   P, ldP          k x k matrices (C-contiguous), ldP = 0 shares one matrix (f32: P in float,
 *                   everything else double, accumulation in double)
 *   log_ref, ldref  reference log-policies (full support)
 *   beta, eta       per game (batch entries each); beta > 0 except for SPPO (>= 0)
 *   log_pi, ldpi    in: current iterate; out: last iterate
 *   state, ldst     per-method state of k entries per game: OMWU the previous g (initialize it
 *                   to g(pi_0)), SPPO the log of the summed iterates (-inf initially); may be
 *                   NULL for the other methods
 *   iter            per game, in/out: iterations done so far (the Nash-MD schedule uses it)
 *   n_queries       per game, in/out: incremented by the queries spent
 *   exploitability  per game, out: exploitability of the reported iterate at the last check
 *   active          per game, in/out: cleared when exploitability <= tol at a check
 * Exploitability is checked every `check_every` iterations (>= 1) and after the last one.
 * tol < 0 never stops early. */
NASHMP_API int nashmp_solve_dense_f64(const double *P, int64_t ldP, const double *log_ref,
                                      int64_t ldref, const double *beta, const double *eta,
                                      int64_t batch, int64_t k, int method, int64_t max_iter,
                                      int64_t check_every, double tol, double *log_pi,
                                      int64_t ldpi, double *state, int64_t ldst, int64_t *iter,
                                      int64_t *n_queries, double *exploitability,
                                      uint8_t *active);
NASHMP_API int nashmp_solve_dense_f32(const float *P, int64_t ldP, const double *log_ref,
                                      int64_t ldref, const double *beta, const double *eta,
                                      int64_t batch, int64_t k, int method, int64_t max_iter,
                                      int64_t check_every, double tol, double *log_pi,
                                      int64_t ldpi, double *state, int64_t ldst, int64_t *iter,
                                      int64_t *n_queries, double *exploitability,
                                      uint8_t *active);

#ifdef __cplusplus
}
#endif

#endif /* NASHMP_NASHMP_H */
