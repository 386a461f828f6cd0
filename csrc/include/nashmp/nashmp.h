/*
 * nashmp: Nash equilibria of preference games (Nash Mirror Prox and baselines).
 *
 * Public C ABI of libnashmp.
 *
 * Conventions
 *  - Every function returns an `int` holding an `enum nashmp_status` (NASHMP_OK == 0, errors < 0),
 *    except the information queries (nashmp_status_string, nashmp_version_*, nashmp_build_info,
 *    nashmp_get_num_threads), which cannot fail. Nothing in the library aborts, exits or prints;
 *    invalid arguments are reported by status, and a call that fails an argument check returns
 *    without writing anything.
 *  - Argument checks of the array functions, in this order (the first failure is returned; the
 *    solvers check `method` first):
 *      1. every array the call reads or writes is non-NULL (a pointer documented as unused for
 *         the given arguments may be NULL)                          -> NASHMP_ERR_NULL_POINTER
 *      2. batch >= 0 and k >= 1 (and other sizes as documented)    -> NASHMP_ERR_INVALID_SIZE
 *      3. batch * k, k * k, and (batch - 1) * ld + row length of every array (in bytes) fit in
 *         int64_t / ptrdiff_t                                       -> NASHMP_ERR_OVERFLOW
 *      4. every leading dimension as below                         -> NASHMP_ERR_INVALID_STRIDE
 *      5. scalar arguments (coefficients, beta, eta, tol, method...) -> NASHMP_ERR_INVALID_VALUE
 *    batch == 0 passes the checks and does nothing. NASHMP_ERR_NONFINITE is found while
 *    computing: the output of the rows concerned is unspecified.
 *  - Arrays are row-major. A "batch" of `batch` rows of length `k` is addressed with a leading
 *    dimension `ld*` (elements between consecutive rows). An input `ld` of 0 broadcasts one row
 *    over the whole batch; otherwise `ld >= k` is required. Outputs need `ld >= k` (or batch <= 1).
 *  - `_f64` functions take double, `_f32` functions take float; float data is accumulated in
 *    double where the error would otherwise grow with `k`.
 *  - Log-probabilities may be -inf (impossible actions). NaN or +inf in an input array gives
 *    NASHMP_ERR_NONFINITE; the output is then unspecified.
 *  - Outputs may be the same pointer as an input of the same shape and stride (in place);
 *    partial overlap is not allowed. nashmp_preference_apply_* reads all of a game's pi (and P)
 *    while writing its out: there any overlap of out with pi or P is NASHMP_ERR_OVERLAP.
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
    NASHMP_ERR_UNSUPPORTED = -8,   /* not available in this build (e.g. CUDA without a CUDA compiler) */
    NASHMP_ERR_OVERLAP = -9        /* an output overlaps an input it cannot share */
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
/* Threads used by the kernels (OpenMP), for the whole process. n <= 0 restores the default
 * (the OpenMP default at call time). NASHMP_OK, or NASHMP_ERR_INVALID_VALUE for n > 4096 (the
 * setting is then unchanged). Calls from several threads are safe. */
NASHMP_API int nashmp_set_num_threads(int n);
/* Threads the kernels will use (1 when built without OpenMP). */
NASHMP_API int nashmp_get_num_threads(void);

/* ---- log-space kernels (over the last axis, rows of length k) ------------------------------ */

/* Statuses of every kernel below: the checks of the conventions (x, out non-NULL; batch >= 0,
 * k >= 1; input ld 0 or >= k, output ld >= k when batch > 1; out of one value per row is
 * contiguous), and NASHMP_ERR_NONFINITE for a row holding NaN or +inf. */

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
 * consecutive games: 0 for one matrix shared by the batch, otherwise >= k*k
 * (NASHMP_ERR_INVALID_STRIDE). NASHMP_ERR_OVERFLOW when k*k overflows; NASHMP_ERR_OVERLAP when the
 * elements out spans overlap those of pi or P (no in-place product); NASHMP_ERR_NONFINITE when
 * an output is not finite (NaN or +-inf in P or pi, or overflow); pi need not be normalized. */
NASHMP_API int nashmp_preference_apply_f64(const double *P, int64_t ldP, const double *pi,
                                           int64_t ldpi, int64_t batch, int64_t k, double *out,
                                           int64_t ldo);
NASHMP_API int nashmp_preference_apply_f32(const float *P, int64_t ldP, const float *pi,
                                           int64_t ldpi, int64_t batch, int64_t k, float *out,
                                           int64_t ldo);

/* ---- fused mirror-prox step ----------------------------------------------------------------- */

/* z = a*log_pi + b*log_ref + c*g, out = z - logsumexp(z), row by row.
 * A term whose coefficient is exactly 0 contributes 0 (so log_ref may hold -inf, or be NULL,
 * when b == 0; likewise log_pi when a == 0 and g when c == 0). a, b, c must be finite
 * (NASHMP_ERR_INVALID_VALUE). NASHMP_ERR_NONFINITE (that row of out unspecified, the
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


/* Checks of preference matrices in one pass over each (tile pairs, no k x k temporaries), the
 * validation nashmp.solve runs on a dense P: over the `batch` matrices of P (ldP as in
 * nashmp_preference_apply_*: 0 shares one, else >= k*k), out[0] = max |(P[i, j] + P[j, i]) - 1|
 * over all i, j (i == j included: |2 P[i, i] - 1|), rounded in P's type; out[1] = min P;
 * out[2] = max P. out[0] is NaN when P holds NaN or +-inf (still NASHMP_OK: finding them is the
 * point). out has 3 entries; batch == 0 gives {0, +inf, -inf}. NASHMP_ERR_NO_MEMORY when the
 * per-thread tile buffers (128 x 128 elements) cannot be allocated. */
NASHMP_API int nashmp_preference_check_f64(const double *P, int64_t ldP, int64_t batch, int64_t k,
                                           double *out);
NASHMP_API int nashmp_preference_check_f32(const float *P, int64_t ldP, int64_t batch, int64_t k,
                                           double *out);

/* The same pass writing out = (P + (1 - P^T)) / 2, element by element in P's type (the nearest
 * matrix with P + P^T = 1; what nashmp.solve(..., antisymmetrize=True) solves): out holds one
 * k x k matrix per matrix of P (batch of them, or one when ldP = 0), contiguous, and must not
 * overlap P. check[0..2] are nashmp_preference_check_*'s numbers for P, check[3] =
 * max |(out[i, j] + out[j, i]) - 1| (NaN when P holds NaN or +-inf). */
NASHMP_API int nashmp_preference_antisymmetrize_f64(const double *P, int64_t ldP, int64_t batch,
                                                    int64_t k, double *out, double *check);
NASHMP_API int nashmp_preference_antisymmetrize_f32(const float *P, int64_t ldP, int64_t batch,
                                                    int64_t k, float *out, double *check);

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
 * query by the solvers). beta has `batch` entries, each finite and >= 0
 * (NASHMP_ERR_INVALID_VALUE). P as in nashmp_preference_apply (ldP 0 or >= k*k); log_pi and
 * log_ref are inputs (ld 0 broadcasts); out has `batch` contiguous entries.
 * NASHMP_ERR_NONFINITE when, for a game, P, log_pi or log_ref hold NaN or +inf or P holds -inf
 * (that out entry unspecified). NASHMP_ERR_NO_MEMORY when the scratch allocation fails. */
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
 * tol < 0 never stops early.
 * Every pointer except `state` (see above) must be non-NULL, eta included (not read by NASH_MD).
 * log_pi and state are written, so their ld must be >= k when batch > 1 (no broadcast); P and
 * log_ref may be shared (ld 0). Statuses, besides the common checks:
 *   NASHMP_ERR_INVALID_VALUE  method unknown; max_iter < 0; check_every < 1; tol NaN; beta or
 *                             eta NaN/inf or out of the ranges above (beta > 0, or >= 0 for
 *                             SPPO; eta > 0 unless NASH_MD; eta*beta <= 1 for OMD/OMWU, < 1 for
 *                             EXTRAGRADIENT); iter[i] < 0 for an active game
 *   NASHMP_ERR_OVERFLOW       iter[i] + max_iter or n_queries[i] + (queries per iteration) *
 *                             max_iter would overflow int64 for an active game
 *   NASHMP_ERR_NONFINITE      for some game, P, log_pi, log_ref or state hold NaN or +inf (P: or
 *                             -inf), or an iterate stopped being a distribution; those games stop
 *                             where it happened (their outputs unspecified, active[i] unchanged),
 *                             the others run to completion
 *   NASHMP_ERR_NO_MEMORY      the scratch allocation failed (nothing done)
 * Argument errors are found before any game starts: nothing is written then. Games with
 * active[i] == 0 are neither computed nor written (their beta and eta are still checked). */
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

/* The same solver and exploitability with P stored packed: Pu holds, per game, the strict upper
 * triangle P[i, j] (j > i) row by row, P[i, j] at i*k - i*(i+1)/2 + (j - i - 1), k(k-1)/2
 * values (as nashmp_packed_apply_*), and P[j, i] = 1 - P[i, j], P[i, i] = 1/2 by definition. One
 * product reads half the bytes of the dense one. ldP = 0 shares one triangle, else ldP >=
 * k(k-1)/2 (NASHMP_ERR_INVALID_STRIDE); Pu must be non-NULL even for k = 1. Every other argument
 * and status as in nashmp_solve_dense_* / nashmp_exploitability_dense_*. For k >= 384 a product
 * is the ordered sum of 8 fixed row chunks of the triangle, which threads share when there are
 * fewer games than threads: the bits do not depend on the thread count. Triangles of more than
 * 16 MiB, in a call of 24 products or more where one triangle serves every game, are first copied
 * into the order in which the products read them (a scratch buffer of the triangle's size, at
 * most 2 GiB, freed before return; without it when it cannot be allocated): the products then
 * read one stream. Same bits with or without the copy. */
NASHMP_API int nashmp_solve_packed_f64(const double *Pu, int64_t ldP, const double *log_ref,
                                       int64_t ldref, const double *beta, const double *eta,
                                       int64_t batch, int64_t k, int method, int64_t max_iter,
                                       int64_t check_every, double tol, double *log_pi,
                                       int64_t ldpi, double *state, int64_t ldst, int64_t *iter,
                                       int64_t *n_queries, double *exploitability,
                                       uint8_t *active);
NASHMP_API int nashmp_solve_packed_f32(const float *Pu, int64_t ldP, const double *log_ref,
                                       int64_t ldref, const double *beta, const double *eta,
                                       int64_t batch, int64_t k, int method, int64_t max_iter,
                                       int64_t check_every, double tol, double *log_pi,
                                       int64_t ldpi, double *state, int64_t ldst, int64_t *iter,
                                       int64_t *n_queries, double *exploitability,
                                       uint8_t *active);
NASHMP_API int nashmp_exploitability_packed_f64(const double *Pu, int64_t ldP,
                                                const double *log_pi, int64_t ldpi,
                                                const double *log_ref, int64_t ldref,
                                                const double *beta, int64_t batch, int64_t k,
                                                double *out);
NASHMP_API int nashmp_exploitability_packed_f32(const float *Pu, int64_t ldP,
                                                const double *log_pi, int64_t ldpi,
                                                const double *log_ref, int64_t ldref,
                                                const double *beta, int64_t batch, int64_t k,
                                                double *out);

/* The same solver and exploitability on a dense P (arguments and statuses as
 * nashmp_solve_dense_* / nashmp_exploitability_dense_*) that the caller knows to satisfy
 * P + P^T = 1: products read only its strict upper triangle, taking P[j, i] = 1 - P[i, j] and
 * P[i, i] = 1/2 as the packed solver does (half the bytes per product). Where reading the whole
 * P is faster they run as nashmp_*_dense_* instead (same bits): k < 64 (double) or < 16
 * (float), and one shared P (ldP = 0) for several games (4 products per pass over P). Otherwise
 * the lower triangle and the diagonal are never used (the 8 x 8 diagonal blocks are loaded and
 * masked, NaN there is harmless). For k >= 384 a product is the ordered sum of 8 fixed row chunks
 * of the triangle, which threads share when there are fewer games than threads: the bits do not
 * depend on the thread count. The triangle products sum in another order than the dense ones,
 * so a game's last bits can differ between a shared batch and a solve on its own. Large triangles
 * are copied as in nashmp_solve_packed_*. nashmp.solve uses these when P + P^T = 1 holds to
 * 4 ulps. */
NASHMP_API int nashmp_solve_upper_f64(const double *P, int64_t ldP, const double *log_ref,
                                      int64_t ldref, const double *beta, const double *eta,
                                      int64_t batch, int64_t k, int method, int64_t max_iter,
                                      int64_t check_every, double tol, double *log_pi,
                                      int64_t ldpi, double *state, int64_t ldst, int64_t *iter,
                                      int64_t *n_queries, double *exploitability,
                                      uint8_t *active);
NASHMP_API int nashmp_solve_upper_f32(const float *P, int64_t ldP, const double *log_ref,
                                      int64_t ldref, const double *beta, const double *eta,
                                      int64_t batch, int64_t k, int method, int64_t max_iter,
                                      int64_t check_every, double tol, double *log_pi,
                                      int64_t ldpi, double *state, int64_t ldst, int64_t *iter,
                                      int64_t *n_queries, double *exploitability,
                                      uint8_t *active);
NASHMP_API int nashmp_exploitability_upper_f64(const double *P, int64_t ldP,
                                               const double *log_pi, int64_t ldpi,
                                               const double *log_ref, int64_t ldref,
                                               const double *beta, int64_t batch, int64_t k,
                                               double *out);
NASHMP_API int nashmp_exploitability_upper_f32(const float *P, int64_t ldP,
                                               const double *log_pi, int64_t ldpi,
                                               const double *log_ref, int64_t ldref,
                                               const double *beta, int64_t batch, int64_t k,
                                               double *out);

/* Solver workspace: what a solver call can keep for the next calls on the same P. Today that is
 * the panel-order copy of a large triangle (nashmp_solve_packed_*, nashmp_solve_upper_*): without
 * a workspace every call of 24 products or more makes it and frees it; with one, the first such
 * call makes it and the workspace keeps it, and later calls on the same triangle (same pointer,
 * k, storage and element type) use it whatever their length: calls split by the caller (checks,
 * callbacks, progress) no longer copy and fault in a fresh buffer each time. A call on another
 * triangle that makes a copy replaces the kept one. The values of a triangle must not change
 * while a workspace keeps its copy (the copy would be used): nashmp_workspace_clear frees it.
 * A workspace serves one call at a time. nashmp_solve_*_ws are nashmp_solve_* with a workspace
 * (ws NULL: none; the dense solvers keep nothing today). Same bits with or without one. */
typedef struct nashmp_workspace nashmp_workspace;
/* NASHMP_OK, NASHMP_ERR_NULL_POINTER (out NULL) or NASHMP_ERR_NO_MEMORY (*out set to NULL) */
NASHMP_API int nashmp_workspace_create(nashmp_workspace **out);
/* frees what ws keeps (ws stays usable); NULL is a no-op */
NASHMP_API void nashmp_workspace_clear(nashmp_workspace *ws);
/* frees ws and what it keeps; NULL is a no-op */
NASHMP_API void nashmp_workspace_destroy(nashmp_workspace *ws);
NASHMP_API int nashmp_solve_dense_f64_ws(const double *P, int64_t ldP, const double *log_ref,
                                         int64_t ldref, const double *beta, const double *eta,
                                         int64_t batch, int64_t k, int method, int64_t max_iter,
                                         int64_t check_every, double tol, double *log_pi,
                                         int64_t ldpi, double *state, int64_t ldst,
                                         int64_t *iter, int64_t *n_queries,
                                         double *exploitability, uint8_t *active,
                                         nashmp_workspace *ws);
NASHMP_API int nashmp_solve_dense_f32_ws(const float *P, int64_t ldP, const double *log_ref,
                                         int64_t ldref, const double *beta, const double *eta,
                                         int64_t batch, int64_t k, int method, int64_t max_iter,
                                         int64_t check_every, double tol, double *log_pi,
                                         int64_t ldpi, double *state, int64_t ldst,
                                         int64_t *iter, int64_t *n_queries,
                                         double *exploitability, uint8_t *active,
                                         nashmp_workspace *ws);
NASHMP_API int nashmp_solve_packed_f64_ws(const double *P, int64_t ldP, const double *log_ref,
                                         int64_t ldref, const double *beta, const double *eta,
                                         int64_t batch, int64_t k, int method, int64_t max_iter,
                                         int64_t check_every, double tol, double *log_pi,
                                         int64_t ldpi, double *state, int64_t ldst,
                                         int64_t *iter, int64_t *n_queries,
                                         double *exploitability, uint8_t *active,
                                         nashmp_workspace *ws);
NASHMP_API int nashmp_solve_packed_f32_ws(const float *P, int64_t ldP, const double *log_ref,
                                         int64_t ldref, const double *beta, const double *eta,
                                         int64_t batch, int64_t k, int method, int64_t max_iter,
                                         int64_t check_every, double tol, double *log_pi,
                                         int64_t ldpi, double *state, int64_t ldst,
                                         int64_t *iter, int64_t *n_queries,
                                         double *exploitability, uint8_t *active,
                                         nashmp_workspace *ws);
NASHMP_API int nashmp_solve_upper_f64_ws(const double *P, int64_t ldP, const double *log_ref,
                                         int64_t ldref, const double *beta, const double *eta,
                                         int64_t batch, int64_t k, int method, int64_t max_iter,
                                         int64_t check_every, double tol, double *log_pi,
                                         int64_t ldpi, double *state, int64_t ldst,
                                         int64_t *iter, int64_t *n_queries,
                                         double *exploitability, uint8_t *active,
                                         nashmp_workspace *ws);
NASHMP_API int nashmp_solve_upper_f32_ws(const float *P, int64_t ldP, const double *log_ref,
                                         int64_t ldref, const double *beta, const double *eta,
                                         int64_t batch, int64_t k, int method, int64_t max_iter,
                                         int64_t check_every, double tol, double *log_pi,
                                         int64_t ldpi, double *state, int64_t ldst,
                                         int64_t *iter, int64_t *n_queries,
                                         double *exploitability, uint8_t *active,
                                         nashmp_workspace *ws);

/* ---- matrix-free preference operators --------------------------------------------------------- */

/* Operators that compute g = P pi without storing P (one shared operator for the whole batch of
 * policies; `pi`/`out` rows follow the usual batch + leading-dimension conventions). Every one
 * of them satisfies P + P^T = 1 by construction:
 *   low-rank skew  P[y, j] = 1/2 + u_y.v_j - v_y.u_j              O(k r) per policy
 *   embedding      P[y, j] = sigma(e_y^T R e_j), R skew             O(k^2 d) in tiles, O(k d) memory
 *   Bradley-Terry  P[y, j] = sigma(s_y - s_j)                       O(k^2) in tiles, O(k) memory
 *   packed dense   P[y, j] for y < j stored row by row (k(k-1)/2 values), P[j, y] = 1 - P[y, j]
 * sigma(x) = 1/(1 + exp(-x)) is evaluated with the vectorized exp of exp_block.h as
 * t = exp(-|x|), sigma = (x >= 0 ? 1 : t)/(1 + t), and 1 - sigma from the same t (no
 * cancellation). The tiled kernels evaluate sigma once per unordered pair {y, j} (y in an earlier
 * column tile than j, or both in one diagonal tile) and use it for both g_y and g_j; OpenMP
 * threads take ranges of tile pairs and accumulate into private length-k buffers (in double)
 * summed in thread order: the result depends on the thread count at rounding level only.
 * float32 operators compute sigma and within-tile sums in float and accumulate across tiles in
 * double.
 *
 * Fused prox steps (`*_mirror_step_*`): out = N(a*log_pi + b*log_ref + c*g(pi_g)) with
 * N(z) = z - logsumexp(z), row by row, with the coefficient rules of nashmp_mirror_step (a term
 * with coefficient 0 is not read; its pointer may be NULL). pi_out (may be NULL, with ldpo
 * ignored) receives exp(out), the policy the next step queries. All vectors are double; only
 * the operator data has the dtype of the suffix. Statuses: those of the apply kernel, and
 * NASHMP_ERR_NONFINITE when a row of z holds NaN or +inf or is all -inf. */
enum nashmp_link { NASHMP_LINK_LOGISTIC = 0 };

/* Low-rank skew operator. U and V are k x r (row stride ldf >= r; U and V may point into one
 * k x 2r array: V = U + r, ldf = 2r). Two passes over U and V per policy:
 * q = (V^T pi, U^T pi) (chunk partials merged in a fixed order), then
 * g_y = sum(pi)/2 + u_y.(V^T pi) - v_y.(U^T pi). NASHMP_ERR_INVALID_SIZE for r < 1. Entries of
 * P outside [0, 1] are not checked here. */
NASHMP_API int nashmp_lowrank_apply_f64(const double *U, const double *V, int64_t ldf, int64_t r,
                                        const double *pi, int64_t ldpi, int64_t batch, int64_t k,
                                        double *out, int64_t ldo);
NASHMP_API int nashmp_lowrank_apply_f32(const float *U, const float *V, int64_t ldf, int64_t r,
                                        const float *pi, int64_t ldpi, int64_t batch, int64_t k,
                                        float *out, int64_t ldo);
/* Float factors, double policies and results: pi is read and g = P pi written in double, as the
 * fused float steps do (the products and moments of pass 1 are double; pass 2 dots q, rounded to
 * float, with the float rows of U and V), without the conversions of pi to float and of g back. */
NASHMP_API int nashmp_lowrank_apply_f32d(const float *U, const float *V, int64_t ldf, int64_t r,
                                         const double *pi, int64_t ldpi, int64_t batch,
                                         int64_t k, double *out, int64_t ldo);
NASHMP_API int nashmp_lowrank_mirror_step_f64(const double *U, const double *V, int64_t ldf,
                                              int64_t r, const double *pi_g, int64_t ldpg,
                                              const double *log_pi, int64_t ldpi,
                                              const double *log_ref, int64_t ldref,
                                              int64_t batch, int64_t k, double a, double b,
                                              double c, double *out, int64_t ldo, double *pi_out,
                                              int64_t ldpo);
NASHMP_API int nashmp_lowrank_mirror_step_f32(const float *U, const float *V, int64_t ldf,
                                              int64_t r, const double *pi_g, int64_t ldpg,
                                              const double *log_pi, int64_t ldpi,
                                              const double *log_ref, int64_t ldref,
                                              int64_t batch, int64_t k, double a, double b,
                                              double c, double *out, int64_t ldo, double *pi_out,
                                              int64_t ldpo);
/* The low-rank fused step with carried moments q = (V^T pi, U^T pi, sum pi) (2r+1 doubles per
 * game, row stride ldqi / ldqo >= 2r+1). q_in != NULL: the step uses the moments of pi_g given
 * there and skips pass 1 (pi_g is not read and may be NULL). q_out != NULL: receives the moments
 * of the new policy exp(out), accumulated during pass 2 (equal to those of pi_out up to
 * rounding). Chaining q_out into the next step's q_in reads U and V once per query instead of
 * twice. q_out of a row that fails (NASHMP_ERR_NONFINITE) is not written. */
NASHMP_API int nashmp_lowrank_mirror_step_q_f64(const double *U, const double *V, int64_t ldf,
                                                int64_t r, const double *pi_g, int64_t ldpg,
                                                const double *q_in, int64_t ldqi,
                                                const double *log_pi, int64_t ldpi,
                                                const double *log_ref, int64_t ldref,
                                                int64_t batch, int64_t k, double a, double b,
                                                double c, double *out, int64_t ldo,
                                                double *pi_out, int64_t ldpo, double *q_out,
                                                int64_t ldqo);
NASHMP_API int nashmp_lowrank_mirror_step_q_f32(const float *U, const float *V, int64_t ldf,
                                                int64_t r, const double *pi_g, int64_t ldpg,
                                                const double *q_in, int64_t ldqi,
                                                const double *log_pi, int64_t ldpi,
                                                const double *log_ref, int64_t ldref,
                                                int64_t batch, int64_t k, double a, double b,
                                                double c, double *out, int64_t ldo,
                                                double *pi_out, int64_t ldpo, double *q_out,
                                                int64_t ldqo);

/* Embedding operator: E is k x d (row stride lde >= d), R is d x d (C order). The kernel uses
 * the skew part (R - R^T)/2 (so P + P^T = 1 exactly up to rounding of the scores); the caller
 * checks that R is skew. link must be NASHMP_LINK_LOGISTIC. Allocates O(k d) scratch (plus k
 * doubles per thread); NASHMP_ERR_NO_MEMORY if that fails. NaN/inf in E, R or pi ->
 * NASHMP_ERR_NONFINITE. */
NASHMP_API int nashmp_embedding_apply_f64(const double *E, int64_t lde, int64_t d, const double *R,
                                          int link, const double *pi, int64_t ldpi,
                                          int64_t batch, int64_t k, double *out, int64_t ldo);
NASHMP_API int nashmp_embedding_apply_f32(const float *E, int64_t lde, int64_t d, const float *R,
                                          int link, const float *pi, int64_t ldpi, int64_t batch,
                                          int64_t k, float *out, int64_t ldo);
NASHMP_API int nashmp_embedding_mirror_step_f64(const double *E, int64_t lde, int64_t d,
                                                const double *R, int link, const double *pi_g,
                                                int64_t ldpg, const double *log_pi, int64_t ldpi,
                                                const double *log_ref, int64_t ldref,
                                                int64_t batch, int64_t k, double a, double b,
                                                double c, double *out, int64_t ldo,
                                                double *pi_out, int64_t ldpo);
NASHMP_API int nashmp_embedding_mirror_step_f32(const float *E, int64_t lde, int64_t d,
                                                const float *R, int link, const double *pi_g,
                                                int64_t ldpg, const double *log_pi, int64_t ldpi,
                                                const double *log_ref, int64_t ldref,
                                                int64_t batch, int64_t k, double a, double b,
                                                double c, double *out, int64_t ldo,
                                                double *pi_out, int64_t ldpo);

/* Bradley-Terry operator from k scores (the embedding kernel with e_y = (s_y, 1)). */
NASHMP_API int nashmp_bradley_terry_apply_f64(const double *scores, const double *pi,
                                              int64_t ldpi, int64_t batch, int64_t k, double *out,
                                              int64_t ldo);
NASHMP_API int nashmp_bradley_terry_apply_f32(const float *scores, const float *pi, int64_t ldpi,
                                              int64_t batch, int64_t k, float *out, int64_t ldo);
NASHMP_API int nashmp_bradley_terry_mirror_step_f64(const double *scores, const double *pi_g,
                                                    int64_t ldpg, const double *log_pi,
                                                    int64_t ldpi, const double *log_ref,
                                                    int64_t ldref, int64_t batch, int64_t k,
                                                    double a, double b, double c, double *out,
                                                    int64_t ldo, double *pi_out, int64_t ldpo);
NASHMP_API int nashmp_bradley_terry_mirror_step_f32(const float *scores, const double *pi_g,
                                                    int64_t ldpg, const double *log_pi,
                                                    int64_t ldpi, const double *log_ref,
                                                    int64_t ldref, int64_t batch, int64_t k,
                                                    double a, double b, double c, double *out,
                                                    int64_t ldo, double *pi_out, int64_t ldpo);

/* Packed half matrix: Pu holds the strict upper triangle row by row, P[y, j] (y < j) at
 * Pu[y*k - y*(y+1)/2 + (j - y - 1)], k(k-1)/2 values (Pu may be NULL when k == 1). One pass over
 * Pu per policy: g_y += P[y, j] pi_j and g_j += (1 - P[y, j]) pi_y; P[y, y] = 1/2. NaN in Pu or
 * pi -> NASHMP_ERR_NONFINITE. */
NASHMP_API int nashmp_packed_apply_f64(const double *Pu, const double *pi, int64_t ldpi,
                                       int64_t batch, int64_t k, double *out, int64_t ldo);
NASHMP_API int nashmp_packed_apply_f32(const float *Pu, const float *pi, int64_t ldpi,
                                       int64_t batch, int64_t k, float *out, int64_t ldo);
NASHMP_API int nashmp_packed_mirror_step_f64(const double *Pu, const double *pi_g, int64_t ldpg,
                                             const double *log_pi, int64_t ldpi,
                                             const double *log_ref, int64_t ldref,
                                             int64_t batch, int64_t k, double a, double b,
                                             double c, double *out, int64_t ldo, double *pi_out,
                                             int64_t ldpo);
NASHMP_API int nashmp_packed_mirror_step_f32(const float *Pu, const double *pi_g, int64_t ldpg,
                                             const double *log_pi, int64_t ldpi,
                                             const double *log_ref, int64_t ldref,
                                             int64_t batch, int64_t k, double a, double b,
                                             double c, double *out, int64_t ldo, double *pi_out,
                                             int64_t ldpo);

#ifdef __cplusplus
}
#endif

#endif /* NASHMP_NASHMP_H */
