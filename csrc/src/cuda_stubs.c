/*
 * The CUDA entry points of a libnashmp built without a CUDA compiler: they check their arguments
 * exactly as the CUDA build does (same status for a bad argument) and then return
 * NASHMP_ERR_UNSUPPORTED. Compiled instead of the .cu files in csrc/cuda (csrc/cmake/NashmpCuda.cmake).
 */
#include "nashmp/nashmp_cuda.h"

#include "cuda_checks.h"

#define NASHMP_CU_STUB(check)                                                                  \
    do {                                                                                       \
        int st_ = (check);                                                                     \
        (void)stream;                                                                          \
        return st_ != NASHMP_OK ? st_ : NASHMP_ERR_UNSUPPORTED;                                \
    } while (0)

int nashmp_cuda_available(void) { return 0; }

int nashmp_cuda_device_count(int *count)
{
    if (count == NULL)
        return NASHMP_ERR_NULL_POINTER;
    *count = 0;
    return NASHMP_ERR_UNSUPPORTED;
}

const char *nashmp_cuda_build_info(void) { return "cuda=no"; }

#define NASHMP_CU_STUB_REDUCE(name, T)                                                         \
    int nashmp_cuda_##name(const T *x, int64_t batch, int64_t k, int64_t ldx, T *out,          \
                           void *stream)                                                       \
    {                                                                                          \
        NASHMP_CU_STUB(nashmp_cuchk_reduce(x, batch, k, ldx, out, sizeof(T)));                 \
    }
#define NASHMP_CU_STUB_ROWMAP(name, T)                                                         \
    int nashmp_cuda_##name(const T *x, int64_t batch, int64_t k, int64_t ldx, T *out,          \
                           int64_t ldo, void *stream)                                          \
    {                                                                                          \
        NASHMP_CU_STUB(nashmp_cuchk_rowmap(x, batch, k, ldx, out, ldo, sizeof(T)));            \
    }

NASHMP_CU_STUB_REDUCE(logsumexp_f64, double)
NASHMP_CU_STUB_REDUCE(logsumexp_f32, float)
NASHMP_CU_STUB_REDUCE(span_f64, double)
NASHMP_CU_STUB_REDUCE(span_f32, float)
NASHMP_CU_STUB_ROWMAP(log_softmax_f64, double)
NASHMP_CU_STUB_ROWMAP(log_softmax_f32, float)
NASHMP_CU_STUB_ROWMAP(softmax_f64, double)
NASHMP_CU_STUB_ROWMAP(softmax_f32, float)

#define NASHMP_CU_STUB_KL(sfx, T)                                                              \
    int nashmp_cuda_kl_##sfx(const T *logp, int64_t ldp, const T *logq, int64_t ldq,           \
                             int64_t batch, int64_t k, T *out, void *stream)                   \
    {                                                                                          \
        NASHMP_CU_STUB(nashmp_cuchk_kl(logp, ldp, logq, ldq, batch, k, out, sizeof(T)));       \
    }
NASHMP_CU_STUB_KL(f64, double)
NASHMP_CU_STUB_KL(f32, float)

#define NASHMP_CU_STUB_PREF(sfx, T)                                                            \
    int nashmp_cuda_preference_apply_##sfx(const T *P, int64_t ldP, const T *pi, int64_t ldpi, \
                                           int64_t batch, int64_t k, T *out, int64_t ldo,      \
                                           void *stream)                                       \
    {                                                                                          \
        NASHMP_CU_STUB(nashmp_cuchk_pref(P, ldP, pi, ldpi, batch, k, out, ldo, sizeof(T)));    \
    }
NASHMP_CU_STUB_PREF(f64, double)
NASHMP_CU_STUB_PREF(f32, float)

#define NASHMP_CU_STUB_EMBED(sfx, T)                                                           \
    int nashmp_cuda_embedding_apply_##sfx(const T *E, const T *R, const T *pi, int64_t batch,  \
                                          int64_t K, int64_t d, T *out, void *stream)          \
    {                                                                                          \
        NASHMP_CU_STUB(nashmp_cuchk_embed(E, R, pi, batch, K, d, out, sizeof(T)));             \
    }
NASHMP_CU_STUB_EMBED(f64, double)
NASHMP_CU_STUB_EMBED(f32, float)

#define NASHMP_CU_STUB_MIRROR(sfx, T)                                                          \
    int nashmp_cuda_mirror_step_##sfx(const T *log_pi, int64_t ldpi, const T *log_ref,         \
                                      int64_t ldref, const T *g, int64_t ldg, int64_t batch,   \
                                      int64_t k, double a, double b, double c, T *out,         \
                                      int64_t ldo, void *stream)                               \
    {                                                                                          \
        NASHMP_CU_STUB(nashmp_cuchk_mirror(log_pi, ldpi, log_ref, ldref, g, ldg, batch, k, a,  \
                                           b, c, out, ldo, sizeof(T)));                        \
    }
NASHMP_CU_STUB_MIRROR(f64, double)
NASHMP_CU_STUB_MIRROR(f32, float)

#define NASHMP_CU_STUB_SOLVE(sfx, T)                                                           \
    int nashmp_cuda_solve_dense_##sfx(const T *P, int64_t ldP, const double *log_ref,          \
                                      int64_t ldref, const double *beta, const double *eta,    \
                                      int64_t batch, int64_t k, int method, int64_t max_iter,  \
                                      int64_t check_every, double tol, double *log_pi,         \
                                      int64_t ldpi, double *state, int64_t ldst,               \
                                      int64_t *iter, int64_t *n_queries,                       \
                                      double *exploitability, uint8_t *active, void *stream)   \
    {                                                                                          \
        NASHMP_CU_STUB(nashmp_cuchk_solve(P, ldP, log_ref, ldref, beta, eta, batch, k, method, \
                                          max_iter, check_every, tol, log_pi, ldpi, state,     \
                                          ldst, iter, n_queries, exploitability, active,       \
                                          sizeof(T)));                                         \
    }                                                                                          \
    int nashmp_cuda_exploitability_dense_##sfx(const T *P, int64_t ldP, const double *log_pi,  \
                                               int64_t ldpi, const double *log_ref,            \
                                               int64_t ldref, const double *beta,              \
                                               int64_t batch, int64_t k, double *out,          \
                                               void *stream)                                   \
    {                                                                                          \
        NASHMP_CU_STUB(nashmp_cuchk_expl(P, ldP, log_pi, ldpi, log_ref, ldref, beta, batch, k, \
                                         out));                                                \
    }
NASHMP_CU_STUB_SOLVE(f64, double)
NASHMP_CU_STUB_SOLVE(f32, float)

#define NASHMP_CU_STUB_OPS(sfx, T)                                                             \
    int nashmp_cuda_lowrank_apply_##sfx(const T *U, const T *V, int64_t ldf, int64_t r,        \
                                        const T *pi, int64_t ldpi, int64_t batch, int64_t k,   \
                                        T *out, int64_t ldo, void *stream)                     \
    {                                                                                          \
        int st = nashmp_cuchk_rowmap(pi, batch, k, ldpi, out, ldo, sizeof(T));                 \
        NASHMP_CU_STUB(st != NASHMP_OK ? st : nashmp_cuchk_lowrank(U, V, ldf, r, k, sizeof(T))); \
    }                                                                                          \
    int nashmp_cuda_lowrank_mirror_step_##sfx(                                                 \
        const T *U, const T *V, int64_t ldf, int64_t r, const double *pi_g, int64_t ldpg,      \
        const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref,              \
        int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo,      \
        double *pi_out, int64_t ldpo, void *stream)                                            \
    {                                                                                          \
        int st = nashmp_cuchk_opstep(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out,  \
                                     ldo, pi_out, ldpo, a, b, c);                              \
        NASHMP_CU_STUB(st != NASHMP_OK ? st : nashmp_cuchk_lowrank(U, V, ldf, r, k, sizeof(T))); \
    }                                                                                          \
    int nashmp_cuda_bradley_terry_apply_##sfx(const T *scores, const T *pi, int64_t ldpi,      \
                                              int64_t batch, int64_t k, T *out, int64_t ldo,   \
                                              void *stream)                                    \
    {                                                                                          \
        int st = nashmp_cuchk_rowmap(pi, batch, k, ldpi, out, ldo, sizeof(T));                 \
        NASHMP_CU_STUB(st != NASHMP_OK ? st : nashmp_cuchk_scores(scores, k, sizeof(T)));      \
    }                                                                                          \
    int nashmp_cuda_bradley_terry_mirror_step_##sfx(                                           \
        const T *scores, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, \
        const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b,    \
        double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream)        \
    {                                                                                          \
        int st = nashmp_cuchk_opstep(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out,  \
                                     ldo, pi_out, ldpo, a, b, c);                              \
        NASHMP_CU_STUB(st != NASHMP_OK ? st : nashmp_cuchk_scores(scores, k, sizeof(T)));      \
    }                                                                                          \
    int nashmp_cuda_packed_apply_##sfx(const T *Pu, const T *pi, int64_t ldpi, int64_t batch,  \
                                       int64_t k, T *out, int64_t ldo, void *stream)           \
    {                                                                                          \
        int st = nashmp_cuchk_rowmap(pi, batch, k, ldpi, out, ldo, sizeof(T));                 \
        NASHMP_CU_STUB(st != NASHMP_OK ? st : nashmp_cuchk_packed(Pu, k, sizeof(T)));          \
    }                                                                                          \
    int nashmp_cuda_packed_mirror_step_##sfx(                                                  \
        const T *Pu, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi,     \
        const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b,    \
        double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream)        \
    {                                                                                          \
        int st = nashmp_cuchk_opstep(batch, k, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, out,  \
                                     ldo, pi_out, ldpo, a, b, c);                              \
        NASHMP_CU_STUB(st != NASHMP_OK ? st : nashmp_cuchk_packed(Pu, k, sizeof(T)));          \
    }
NASHMP_CU_STUB_OPS(f64, double)
NASHMP_CU_STUB_OPS(f32, float)
