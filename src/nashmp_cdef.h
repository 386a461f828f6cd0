/* cffi cdef of libnashmp: the declarations Python calls. Kept in step with
 * csrc/include/nashmp/nashmp.h by tests/test_abi.py. */
enum nashmp_status {
    NASHMP_OK = 0,
    NASHMP_ERR_NULL_POINTER = -1,
    NASHMP_ERR_INVALID_SIZE = -2,
    NASHMP_ERR_OVERFLOW = -3,
    NASHMP_ERR_INVALID_STRIDE = -4,
    NASHMP_ERR_NONFINITE = -5,
    NASHMP_ERR_INVALID_VALUE = -6,
    NASHMP_ERR_NO_MEMORY = -7,
    NASHMP_ERR_UNSUPPORTED = -8,
    NASHMP_ERR_OVERLAP = -9
};

const char *nashmp_status_string(int status);
const char *nashmp_version_string(void);
int nashmp_version_number(void);
const char *nashmp_build_info(void);
int nashmp_set_num_threads(int n);
int nashmp_get_num_threads(void);

int nashmp_logsumexp_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out);
int nashmp_logsumexp_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out);
int nashmp_log_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out, int64_t ldo);
int nashmp_log_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out, int64_t ldo);
int nashmp_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out, int64_t ldo);
int nashmp_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out, int64_t ldo);
int nashmp_kl_f64(const double *logp, int64_t ldp, const double *logq, int64_t ldq, int64_t batch, int64_t k, double *out);
int nashmp_kl_f32(const float *logp, int64_t ldp, const float *logq, int64_t ldq, int64_t batch, int64_t k, float *out);
int nashmp_span_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out);
int nashmp_span_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out);
int nashmp_preference_apply_f64(const double *P, int64_t ldP, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo);
int nashmp_preference_apply_f32(const float *P, int64_t ldP, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo);
int nashmp_preference_check_f64(const double *P, int64_t ldP, int64_t batch, int64_t k, double *out);
int nashmp_preference_check_f32(const float *P, int64_t ldP, int64_t batch, int64_t k, double *out);
int nashmp_preference_antisymmetrize_f64(const double *P, int64_t ldP, int64_t batch, int64_t k, double *out, double *check);
int nashmp_preference_antisymmetrize_f32(const float *P, int64_t ldP, int64_t batch, int64_t k, float *out, double *check);
int nashmp_mirror_step_f64(const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *g, int64_t ldg, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo);
int nashmp_mirror_step_f32(const float *log_pi, int64_t ldpi, const float *log_ref, int64_t ldref, const float *g, int64_t ldg, int64_t batch, int64_t k, double a, double b, double c, float *out, int64_t ldo);

enum nashmp_method {
    NASHMP_METHOD_NASH_MP = 0,
    NASHMP_METHOD_NASH_MD = 1,
    NASHMP_METHOD_OMD = 2,
    NASHMP_METHOD_MMD = 3,
    NASHMP_METHOD_OMWU = 4,
    NASHMP_METHOD_EXTRAGRADIENT = 5,
    NASHMP_METHOD_SPPO = 6
};

int nashmp_exploitability_dense_f64(const double *P, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out);
int nashmp_exploitability_dense_f32(const float *P, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out);
int nashmp_solve_dense_f64(const double *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active);
int nashmp_solve_dense_f32(const float *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active);
int nashmp_solve_packed_f64(const double *Pu, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active);
int nashmp_solve_packed_f32(const float *Pu, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active);
int nashmp_exploitability_packed_f64(const double *Pu, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out);
int nashmp_exploitability_packed_f32(const float *Pu, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out);
int nashmp_solve_upper_f64(const double *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active);
int nashmp_solve_upper_f32(const float *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active);
int nashmp_exploitability_upper_f64(const double *P, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out);
int nashmp_exploitability_upper_f32(const float *P, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out);

typedef struct nashmp_workspace nashmp_workspace;
int nashmp_workspace_create(nashmp_workspace **out);
void nashmp_workspace_clear(nashmp_workspace *ws);
void nashmp_workspace_destroy(nashmp_workspace *ws);
int nashmp_solve_dense_f64_ws(const double *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active, nashmp_workspace *ws);
int nashmp_solve_dense_f32_ws(const float *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active, nashmp_workspace *ws);
int nashmp_solve_packed_f64_ws(const double *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active, nashmp_workspace *ws);
int nashmp_solve_packed_f32_ws(const float *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active, nashmp_workspace *ws);
int nashmp_solve_upper_f64_ws(const double *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active, nashmp_workspace *ws);
int nashmp_solve_upper_f32_ws(const float *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active, nashmp_workspace *ws);

enum nashmp_link { NASHMP_LINK_LOGISTIC = 0 };

int nashmp_lowrank_apply_f64(const double *U, const double *V, int64_t ldf, int64_t r, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo);
int nashmp_lowrank_apply_f32(const float *U, const float *V, int64_t ldf, int64_t r, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo);
int nashmp_lowrank_apply_f32d(const float *U, const float *V, int64_t ldf, int64_t r, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo);
int nashmp_lowrank_mirror_step_f64(const double *U, const double *V, int64_t ldf, int64_t r, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo);
int nashmp_lowrank_mirror_step_f32(const float *U, const float *V, int64_t ldf, int64_t r, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo);
int nashmp_lowrank_mirror_step_q_f64(const double *U, const double *V, int64_t ldf, int64_t r, const double *pi_g, int64_t ldpg, const double *q_in, int64_t ldqi, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, double *q_out, int64_t ldqo);
int nashmp_lowrank_mirror_step_q_f32(const float *U, const float *V, int64_t ldf, int64_t r, const double *pi_g, int64_t ldpg, const double *q_in, int64_t ldqi, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, double *q_out, int64_t ldqo);
int nashmp_embedding_apply_f64(const double *E, int64_t lde, int64_t d, const double *R, int link, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo);
int nashmp_embedding_apply_f32(const float *E, int64_t lde, int64_t d, const float *R, int link, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo);
int nashmp_embedding_mirror_step_f64(const double *E, int64_t lde, int64_t d, const double *R, int link, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo);
int nashmp_embedding_mirror_step_f32(const float *E, int64_t lde, int64_t d, const float *R, int link, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo);
int nashmp_bradley_terry_apply_f64(const double *scores, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo);
int nashmp_bradley_terry_apply_f32(const float *scores, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo);
int nashmp_bradley_terry_mirror_step_f64(const double *scores, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo);
int nashmp_bradley_terry_mirror_step_f32(const float *scores, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo);
int nashmp_packed_apply_f64(const double *Pu, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo);
int nashmp_packed_apply_f32(const float *Pu, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo);
int nashmp_packed_mirror_step_f64(const double *Pu, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo);
int nashmp_packed_mirror_step_f32(const float *Pu, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo);

/* CUDA entry points (csrc/include/nashmp/nashmp_cuda.h): device pointers, stream as void *;
 * they return NASHMP_ERR_UNSUPPORTED in a build without CUDA. */
int nashmp_cuda_available(void);
int nashmp_cuda_device_count(int *count);
const char *nashmp_cuda_build_info(void);
int nashmp_cuda_logsumexp_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out, void *stream);
int nashmp_cuda_logsumexp_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out, void *stream);
int nashmp_cuda_log_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out, int64_t ldo, void *stream);
int nashmp_cuda_log_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out, int64_t ldo, void *stream);
int nashmp_cuda_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out, int64_t ldo, void *stream);
int nashmp_cuda_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out, int64_t ldo, void *stream);
int nashmp_cuda_kl_f64(const double *logp, int64_t ldp, const double *logq, int64_t ldq, int64_t batch, int64_t k, double *out, void *stream);
int nashmp_cuda_kl_f32(const float *logp, int64_t ldp, const float *logq, int64_t ldq, int64_t batch, int64_t k, float *out, void *stream);
int nashmp_cuda_span_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out, void *stream);
int nashmp_cuda_span_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out, void *stream);
int nashmp_cuda_preference_apply_f64(const double *P, int64_t ldP, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo, void *stream);
int nashmp_cuda_preference_apply_f32(const float *P, int64_t ldP, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo, void *stream);
int nashmp_cuda_embedding_apply_f64(const double *E, const double *R, const double *pi, int64_t batch, int64_t K, int64_t d, double *out, void *stream);
int nashmp_cuda_embedding_apply_f32(const float *E, const float *R, const float *pi, int64_t batch, int64_t K, int64_t d, float *out, void *stream);
int nashmp_cuda_lowrank_apply_f64(const double *U, const double *V, int64_t ldf, int64_t r, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo, void *stream);
int nashmp_cuda_lowrank_apply_f32(const float *U, const float *V, int64_t ldf, int64_t r, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo, void *stream);
int nashmp_cuda_lowrank_mirror_step_f64(const double *U, const double *V, int64_t ldf, int64_t r, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream);
int nashmp_cuda_lowrank_mirror_step_f32(const float *U, const float *V, int64_t ldf, int64_t r, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream);
int nashmp_cuda_bradley_terry_apply_f64(const double *scores, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo, void *stream);
int nashmp_cuda_bradley_terry_apply_f32(const float *scores, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo, void *stream);
int nashmp_cuda_bradley_terry_mirror_step_f64(const double *scores, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream);
int nashmp_cuda_bradley_terry_mirror_step_f32(const float *scores, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream);
int nashmp_cuda_packed_apply_f64(const double *Pu, const double *pi, int64_t ldpi, int64_t batch, int64_t k, double *out, int64_t ldo, void *stream);
int nashmp_cuda_packed_apply_f32(const float *Pu, const float *pi, int64_t ldpi, int64_t batch, int64_t k, float *out, int64_t ldo, void *stream);
int nashmp_cuda_packed_mirror_step_f64(const double *Pu, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream);
int nashmp_cuda_packed_mirror_step_f32(const float *Pu, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream);
int nashmp_cuda_mirror_step_f64(const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *g, int64_t ldg, int64_t batch, int64_t k, double a, double b, double c, double *out, int64_t ldo, void *stream);
int nashmp_cuda_mirror_step_f32(const float *log_pi, int64_t ldpi, const float *log_ref, int64_t ldref, const float *g, int64_t ldg, int64_t batch, int64_t k, double a, double b, double c, float *out, int64_t ldo, void *stream);
int nashmp_cuda_solve_dense_f64(const double *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active, void *stream);
int nashmp_cuda_solve_dense_f32(const float *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta, const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter, int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability, uint8_t *active, void *stream);
int nashmp_cuda_exploitability_dense_f64(const double *P, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out, void *stream);
int nashmp_cuda_exploitability_dense_f32(const float *P, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out, void *stream);
