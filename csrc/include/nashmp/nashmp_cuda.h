/*
 * nashmp: CUDA entry points of libnashmp.
 *
 * Every array argument is a DEVICE pointer (memory from cudaMalloc / cudaMallocManaged, or a
 * CuPy / PyTorch / Numba device buffer); `stream` is a `cudaStream_t` passed as `void *` (NULL:
 * the legacy default stream). No CUDA type appears in this header, so it can be included by code
 * that is compiled without the CUDA toolkit.
 *
 * Conventions: the same as nashmp.h (sizes, leading dimensions with ld = 0 broadcasting an input
 * row, _f64 / _f32 variants, float data accumulated in double, -inf handling), with these
 * differences:
 *  - Kernels are launched asynchronously on `stream`; the call returns after the launch. Argument
 *    errors (NULL, sizes, strides, overflow, non-finite scalars) are reported synchronously as in
 *    nashmp.h. Data errors (NaN or +inf in an array) cannot be seen on the host without a
 *    synchronization: the log-space kernels write NaN to the affected output rows (per-row
 *    results: NaN, row maps: a row of NaN; mirror step: also a row that is not a distribution),
 *    the operators' outputs are then non-finite, and the call returns NASHMP_OK. The dense
 *    solver synchronizes (it needs the stop test) and does report NASHMP_ERR_NONFINITE.
 *  - A CUDA runtime error (launch failure, no device, out of memory) gives NASHMP_ERR_UNSUPPORTED
 *    (no usable device / driver) or NASHMP_ERR_NO_MEMORY (allocation).
 *  - In a build without a CUDA compiler every function below exists and returns
 *    NASHMP_ERR_UNSUPPORTED (after the argument checks for the kernels), and
 *    nashmp_cuda_available() returns 0.
 */
#ifndef NASHMP_NASHMP_CUDA_H
#define NASHMP_NASHMP_CUDA_H

#include <stdint.h>

#include "nashmp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- build and device information ----------------------------------------------------------- */

/* 1 if this library was built with the CUDA kernels, else 0 (whether a device exists or not). */
NASHMP_API int nashmp_cuda_available(void);
/* *count = number of usable CUDA devices. NASHMP_OK with *count >= 1; NASHMP_ERR_UNSUPPORTED
 * with *count = 0 when the build has no CUDA or no device / driver is present. */
NASHMP_API int nashmp_cuda_device_count(int *count);
/* "cuda=yes runtime=13000 archs=80;90" or "cuda=no". Never NULL. */
NASHMP_API const char *nashmp_cuda_build_info(void);

/* ---- log-space kernels (device pointers, semantics of nashmp.h) ----------------------------- */

NASHMP_API int nashmp_cuda_logsumexp_f64(const double *x, int64_t batch, int64_t k, int64_t ldx,
                                         double *out, void *stream);
NASHMP_API int nashmp_cuda_logsumexp_f32(const float *x, int64_t batch, int64_t k, int64_t ldx,
                                         float *out, void *stream);
NASHMP_API int nashmp_cuda_log_softmax_f64(const double *x, int64_t batch, int64_t k,
                                           int64_t ldx, double *out, int64_t ldo, void *stream);
NASHMP_API int nashmp_cuda_log_softmax_f32(const float *x, int64_t batch, int64_t k,
                                           int64_t ldx, float *out, int64_t ldo, void *stream);
NASHMP_API int nashmp_cuda_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx,
                                       double *out, int64_t ldo, void *stream);
NASHMP_API int nashmp_cuda_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx,
                                       float *out, int64_t ldo, void *stream);
NASHMP_API int nashmp_cuda_kl_f64(const double *logp, int64_t ldp, const double *logq,
                                  int64_t ldq, int64_t batch, int64_t k, double *out,
                                  void *stream);
NASHMP_API int nashmp_cuda_kl_f32(const float *logp, int64_t ldp, const float *logq,
                                  int64_t ldq, int64_t batch, int64_t k, float *out,
                                  void *stream);
NASHMP_API int nashmp_cuda_span_f64(const double *x, int64_t batch, int64_t k, int64_t ldx,
                                    double *out, void *stream);
NASHMP_API int nashmp_cuda_span_f32(const float *x, int64_t batch, int64_t k, int64_t ldx,
                                    float *out, void *stream);

/* ---- preference operators ------------------------------------------------------------------- */

/* out[i, y] = sum_j P_i[y, j] pi[i, j]; P as in nashmp_preference_apply_* (ldP = 0: shared); out
 * overlapping pi or P is NASHMP_ERR_OVERLAP, as there. */
NASHMP_API int nashmp_cuda_preference_apply_f64(const double *P, int64_t ldP, const double *pi,
                                                int64_t ldpi, int64_t batch, int64_t k,
                                                double *out, int64_t ldo, void *stream);
NASHMP_API int nashmp_cuda_preference_apply_f32(const float *P, int64_t ldP, const float *pi,
                                                int64_t ldpi, int64_t batch, int64_t k,
                                                float *out, int64_t ldo, void *stream);

/* Embedding operator, tiled (no K x K buffer): out[i, y] = sum_j sigma(e_y^T R e_j) pi[i, j],
 * sigma(t) = 1 / (1 + exp(-t)). E is K x d (C-contiguous), R is d x d (C-contiguous; skew-
 * symmetric for a preference game, not checked), pi and out are batch x K, contiguous rows
 * (leading dimension K). U = E R is formed first (K x d, device scratch allocated on `stream`);
 * then tiles of rows of E are staged in shared memory and each thread accumulates
 * sigma(u_y . e_j) pi[i, j] for its row y over several games at once. d >= 1, K >= 1. */
NASHMP_API int nashmp_cuda_embedding_apply_f64(const double *E, const double *R, const double *pi,
                                               int64_t batch, int64_t K, int64_t d, double *out,
                                               void *stream);
NASHMP_API int nashmp_cuda_embedding_apply_f32(const float *E, const float *R, const float *pi,
                                               int64_t batch, int64_t K, int64_t d, float *out,
                                               void *stream);

/* Matrix-free operators of nashmp.h (low-rank skew, Bradley-Terry, packed half matrix) with the
 * arguments, layouts and statuses of their CPU versions (nashmp_lowrank_apply_* etc.), plus
 * `stream`. Every array is a device pointer; out must not overlap pi (other blocks still read
 * it). The operator data and the sums are read and accumulated in double. Bradley-Terry and
 * packed are tiled (no k x k buffer); low rank allocates O(batch * 256 * (2r + 1)) doubles of
 * scratch on `stream` (cudaMallocAsync), at most about 32 MiB at a time.
 * Fused prox steps (*_mirror_step_*): g(pi_g) is written into out (double rows), then
 * out = N(a*log_pi + b*log_ref + c*g) in place and pi_out = exp(out) (pi_out may be NULL), with
 * the coefficient rules of nashmp_mirror_step; out and pi_out must not overlap pi_g, log_pi or
 * log_ref. A row of z with NaN / +inf, or all -inf, is written as NaN in out and pi_out. */
NASHMP_API int nashmp_cuda_lowrank_apply_f64(const double *U, const double *V, int64_t ldf,
                                             int64_t r, const double *pi, int64_t ldpi,
                                             int64_t batch, int64_t k, double *out, int64_t ldo,
                                             void *stream);
NASHMP_API int nashmp_cuda_lowrank_apply_f32(const float *U, const float *V, int64_t ldf,
                                             int64_t r, const float *pi, int64_t ldpi,
                                             int64_t batch, int64_t k, float *out, int64_t ldo,
                                             void *stream);
NASHMP_API int nashmp_cuda_lowrank_mirror_step_f64(const double *U, const double *V, int64_t ldf,
                                                   int64_t r, const double *pi_g, int64_t ldpg,
                                                   const double *log_pi, int64_t ldpi,
                                                   const double *log_ref, int64_t ldref,
                                                   int64_t batch, int64_t k, double a, double b,
                                                   double c, double *out, int64_t ldo,
                                                   double *pi_out, int64_t ldpo, void *stream);
NASHMP_API int nashmp_cuda_lowrank_mirror_step_f32(const float *U, const float *V, int64_t ldf,
                                                   int64_t r, const double *pi_g, int64_t ldpg,
                                                   const double *log_pi, int64_t ldpi,
                                                   const double *log_ref, int64_t ldref,
                                                   int64_t batch, int64_t k, double a, double b,
                                                   double c, double *out, int64_t ldo,
                                                   double *pi_out, int64_t ldpo, void *stream);
NASHMP_API int nashmp_cuda_bradley_terry_apply_f64(const double *scores, const double *pi,
                                                   int64_t ldpi, int64_t batch, int64_t k,
                                                   double *out, int64_t ldo, void *stream);
NASHMP_API int nashmp_cuda_bradley_terry_apply_f32(const float *scores, const float *pi,
                                                   int64_t ldpi, int64_t batch, int64_t k,
                                                   float *out, int64_t ldo, void *stream);
NASHMP_API int nashmp_cuda_bradley_terry_mirror_step_f64(const double *scores,
                                                         const double *pi_g, int64_t ldpg,
                                                         const double *log_pi, int64_t ldpi,
                                                         const double *log_ref, int64_t ldref,
                                                         int64_t batch, int64_t k, double a,
                                                         double b, double c, double *out,
                                                         int64_t ldo, double *pi_out,
                                                         int64_t ldpo, void *stream);
NASHMP_API int nashmp_cuda_bradley_terry_mirror_step_f32(const float *scores, const double *pi_g,
                                                         int64_t ldpg, const double *log_pi,
                                                         int64_t ldpi, const double *log_ref,
                                                         int64_t ldref, int64_t batch, int64_t k,
                                                         double a, double b, double c,
                                                         double *out, int64_t ldo,
                                                         double *pi_out, int64_t ldpo,
                                                         void *stream);
NASHMP_API int nashmp_cuda_packed_apply_f64(const double *Pu, const double *pi, int64_t ldpi,
                                            int64_t batch, int64_t k, double *out, int64_t ldo,
                                            void *stream);
NASHMP_API int nashmp_cuda_packed_apply_f32(const float *Pu, const float *pi, int64_t ldpi,
                                            int64_t batch, int64_t k, float *out, int64_t ldo,
                                            void *stream);
NASHMP_API int nashmp_cuda_packed_mirror_step_f64(const double *Pu, const double *pi_g,
                                                  int64_t ldpg, const double *log_pi,
                                                  int64_t ldpi, const double *log_ref,
                                                  int64_t ldref, int64_t batch, int64_t k,
                                                  double a, double b, double c, double *out,
                                                  int64_t ldo, double *pi_out, int64_t ldpo,
                                                  void *stream);
NASHMP_API int nashmp_cuda_packed_mirror_step_f32(const float *Pu, const double *pi_g,
                                                  int64_t ldpg, const double *log_pi,
                                                  int64_t ldpi, const double *log_ref,
                                                  int64_t ldref, int64_t batch, int64_t k,
                                                  double a, double b, double c, double *out,
                                                  int64_t ldo, double *pi_out, int64_t ldpo,
                                                  void *stream);

/* ---- fused mirror-prox step ----------------------------------------------------------------- */

/* out = N(a log_pi + b log_ref + c g), as nashmp_mirror_step_*; a row that is not a
 * distribution (see nashmp.h) is written as NaN. */
NASHMP_API int nashmp_cuda_mirror_step_f64(const double *log_pi, int64_t ldpi,
                                           const double *log_ref, int64_t ldref, const double *g,
                                           int64_t ldg, int64_t batch, int64_t k, double a,
                                           double b, double c, double *out, int64_t ldo,
                                           void *stream);
NASHMP_API int nashmp_cuda_mirror_step_f32(const float *log_pi, int64_t ldpi,
                                           const float *log_ref, int64_t ldref, const float *g,
                                           int64_t ldg, int64_t batch, int64_t k, double a,
                                           double b, double c, float *out, int64_t ldo,
                                           void *stream);

/* ---- dense solver --------------------------------------------------------------------------- */

/* nashmp_solve_dense_* on the device: every array is a device pointer with the meaning and
 * layout of nashmp.h (P float or double, everything else double / int64 / uint8), state updated
 * in place. The loop runs as kernels on `stream`; the exploitability is checked every
 * check_every iterations (and after the last), which synchronizes the stream to read `active`.
 * The call returns after the work is done (the stream is synchronized). Methods: all of
 * enum nashmp_method. */
NASHMP_API int nashmp_cuda_solve_dense_f64(const double *P, int64_t ldP, const double *log_ref,
                                           int64_t ldref, const double *beta, const double *eta,
                                           int64_t batch, int64_t k, int method,
                                           int64_t max_iter, int64_t check_every, double tol,
                                           double *log_pi, int64_t ldpi, double *state,
                                           int64_t ldst, int64_t *iter, int64_t *n_queries,
                                           double *exploitability, uint8_t *active,
                                           void *stream);
NASHMP_API int nashmp_cuda_solve_dense_f32(const float *P, int64_t ldP, const double *log_ref,
                                           int64_t ldref, const double *beta, const double *eta,
                                           int64_t batch, int64_t k, int method,
                                           int64_t max_iter, int64_t check_every, double tol,
                                           double *log_pi, int64_t ldpi, double *state,
                                           int64_t ldst, int64_t *iter, int64_t *n_queries,
                                           double *exploitability, uint8_t *active,
                                           void *stream);
/* Exploitability of each policy (device pointers; see nashmp_exploitability_dense_*). */
NASHMP_API int nashmp_cuda_exploitability_dense_f64(const double *P, int64_t ldP,
                                                    const double *log_pi, int64_t ldpi,
                                                    const double *log_ref, int64_t ldref,
                                                    const double *beta, int64_t batch, int64_t k,
                                                    double *out, void *stream);
NASHMP_API int nashmp_cuda_exploitability_dense_f32(const float *P, int64_t ldP,
                                                    const double *log_pi, int64_t ldpi,
                                                    const double *log_ref, int64_t ldref,
                                                    const double *beta, int64_t batch, int64_t k,
                                                    double *out, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* NASHMP_NASHMP_CUDA_H */
