/*
 * Dense solver on the device (nashmp_cuda_solve_dense_*, nashmp_cuda_exploitability_dense_*).
 *
 * The iteration loop runs on the host as a sequence of kernels on the caller's stream; every
 * kernel works on all games at once and skips the games that are not running (converged,
 * inactive on entry, or stopped by a non-finite value). Per iteration:
 *   PREP   coefficients from iter[i]; pi = exp(l) (Nash-MD: pi = exp(N((1-s) l + s l_ref)))
 *   MV     g = P pi                                   (first query)
 *   Q0     two-step: h = N(a l + b l_ref + c g), pi = exp(h); OMWU: w = 2g - state,
 *          state = g, l = N(a l + b l_ref + c w); others: l = N(a l + b l_ref + c g)
 *   MV, Q1 (two-step only) g = P pi_half, l = N(a l + b l_ref + c g)
 *   END    SPPO running log-sum; iter += 1; n_queries += 1 or 2; a game checks when
 *          iter % check_every == 0 or at the call's last iteration: pi = exp(reported iterate)
 *   MV     g = P pi for the checking games, CHECK: exploitability, active = 0 if <= tol
 * which is the update order of csrc/src/solvers.c. The host reads the number of running games
 * every check_every iterations (one 4-byte copy and a stream synchronization) and stops when it
 * is 0. Row math: ms_block.h (one warp per game for k <= 512, one block otherwise).
 */
#include "cuda_common.cuh"

enum { OP_INIT, OP_PREP, OP_Q0, OP_Q1, OP_END, OP_CHECK, OP_EVAL_INIT, OP_EVAL };

typedef struct {
    const double *lr, *beta, *eta;
    int64_t ldref;
    double *l; /* log_pi */
    int64_t ldpi;
    double *st;
    int64_t ldst;
    int64_t *iter, *nq;
    double *expl;
    uint8_t *active;
    /* scratch: rows of k (leading dimension k) and per-game flags */
    double *pi, *g, *h, *w;
    uint8_t *run, *chk;
    int *counters; /* [0] running games, [1] non-finite seen */
    int64_t batch, k, check_every;
    double tol;
    int method, last;
} sv_dev;

/* out = N(a l + b lr + c v) (terms with a zero coefficient not read) and e = exp(out), for the
 * calling row group; returns 1 (in every lane) when z has NaN / +inf or is all -inf. */
template <int TPR>
__device__ int sv_norm(double a, const double *l, double b, const double *lr, double c,
                       const double *v, int64_t k, int lane, double *out, double *e,
                       nashmp_msb *sh)
{
    nashmp_msb st = nashmp_msb_init();
    int64_t j;
    int bad = 0;
    double lse;
    for (j = lane; j < k; j += TPR) {
        double z = nashmp_mirror_z(a, a != 0.0 ? l[j] : 0.0, b, b != 0.0 ? lr[j] : 0.0, c,
                                   c != 0.0 ? v[j] : 0.0, &bad);
        out[j] = z;
        nashmp_msb_push(&st, z);
    }
    if (bad)
        st.m = st.s = NASHMP_MSB_NAN;
    st = nashmp_cu_reduce_ms<TPR>(st, sh);
    if (st.m != st.m || st.m == -NASHMP_MSB_INF)
        return 1;
    lse = nashmp_msb_lse(st);
    for (j = lane; j < k; j += TPR) {
        double t = out[j] - lse;
        out[j] = t;
        e[j] = exp(t);
    }
    return 0;
}

/* e = exp(l); 1 when l holds NaN or +inf. */
template <int TPR>
__device__ int sv_exp_row(const double *l, int64_t k, int lane, double *e, int *shi)
{
    int64_t j;
    int bad = 0;
    for (j = lane; j < k; j += TPR) {
        bad |= nashmp_msb_bad(l[j]);
        e[j] = exp(l[j]);
    }
    return nashmp_cu_reduce_or<TPR>(bad, shi);
}

/* 1 when x holds NaN or +inf. */
template <int TPR>
__device__ int sv_bad_row(const double *x, int64_t k, int lane, int *shi)
{
    int64_t j;
    int bad = 0;
    for (j = lane; j < k; j += TPR)
        bad |= nashmp_msb_bad(x[j]);
    return nashmp_cu_reduce_or<TPR>(bad, shi);
}

/* beta * logsumexp(lr + g/beta) + beta * KL(pi || ref) - 1/2; beta == 0: max g - 1/2. */
template <int TPR>
__device__ double sv_expl_row(const double *l, const double *pi, const double *g,
                              const double *lr, double beta, int64_t k, int lane,
                              nashmp_msb *shm, double *shd)
{
    int64_t j;
    if (beta == 0.0) {
        double mx = -NASHMP_MSB_INF;
        for (j = lane; j < k; j += TPR)
            mx = g[j] > mx ? g[j] : mx;
        return nashmp_cu_reduce_max<TPR>(mx, shd) - 0.5;
    }
    {
        nashmp_msb st = nashmp_msb_init();
        double kl = 0.0;
        for (j = lane; j < k; j += TPR) {
            nashmp_msb_push(&st, lr[j] + g[j] / beta);
            kl += l[j] == -NASHMP_MSB_INF    ? 0.0
                  : lr[j] == -NASHMP_MSB_INF ? NASHMP_MSB_INF
                                             : pi[j] * (l[j] - lr[j]);
        }
        st = nashmp_cu_reduce_ms<TPR>(st, shm);
        kl = nashmp_cu_reduce_sum<TPR>(kl, shd);
        return beta * nashmp_msb_lse(st) + beta * kl - 0.5;
    }
}

template <int TPR>
__device__ void sv_stop(const sv_dev &c, int64_t i, int lane, int bad)
{
    if (lane == 0) {
        c.run[i] = 0;
        atomicSub(&c.counters[0], 1);
        if (bad)
            atomicOr(&c.counters[1], 1);
    }
}

template <typename Tdummy, int TPR>
__global__ void __launch_bounds__(NASHMP_CU_BLOCK) k_sv_row(sv_dev c, int op)
{
    __shared__ nashmp_msb shm[NASHMP_CU_WARPS];
    __shared__ double shd[NASHMP_CU_WARPS];
    __shared__ int shi[NASHMP_CU_WARPS];
    int lane;
    const int64_t i = nashmp_cu_row<TPR>(&lane), k = c.k;
    const int method = c.method, two_step = method == NASHMP_METHOD_NASH_MP ||
                                            method == NASHMP_METHOD_EXTRAGRADIENT;
    double *l, *st, *pi, *g, *h, *w, a, b, cc, s;
    const double *lr;
    int64_t j;
    int bad;
    if (i >= c.batch)
        return;
    l = c.l + i * c.ldpi;
    lr = c.lr + i * c.ldref;
    st = c.st ? c.st + i * c.ldst : NULL;
    pi = c.pi + i * k;
    g = c.g + i * k;
    h = c.h + i * k;
    w = c.w + i * k;
    switch (op) {
    case OP_INIT:
    case OP_EVAL_INIT:
        if (op == OP_INIT && !c.active[i]) {
            if (lane == 0)
                c.run[i] = 0;
            return;
        }
        bad = sv_exp_row<TPR>(l, k, lane, pi, shi) | sv_bad_row<TPR>(lr, k, lane, shi);
        if (st != NULL && (method == NASHMP_METHOD_OMWU || method == NASHMP_METHOD_SPPO))
            bad |= sv_bad_row<TPR>(st, k, lane, shi);
        if (lane == 0) {
            c.run[i] = bad ? 0 : 1;
            if (bad)
                atomicOr(&c.counters[1], 1);
            else
                atomicAdd(&c.counters[0], 1);
        }
        return;
    case OP_EVAL:
        if (c.run[i]) {
            double e = sv_expl_row<TPR>(l, pi, g, lr, c.beta[i], k, lane, shm, shd);
            if (lane == 0)
                c.expl[i] = e;
        }
        return;
    default:
        break;
    }
    if (!c.run[i])
        return;
    nashmp_method_coefficients(method, c.beta[i], c.eta[i], c.iter[i], &a, &b, &cc, &s);
    switch (op) {
    case OP_PREP:
        if (method == NASHMP_METHOD_NASH_MD) /* query mu = N((1-s) l + s l_ref) */
            bad = sv_norm<TPR>(a, l, b, lr, 0.0, NULL, k, lane, h, pi, shm);
        else
            bad = sv_exp_row<TPR>(l, k, lane, pi, shi);
        if (bad)
            sv_stop<TPR>(c, i, lane, 1);
        return;
    case OP_Q0:
        if (two_step) {
            bad = sv_norm<TPR>(a, l, b, lr, cc, g, k, lane, h, pi, shm);
        } else if (method == NASHMP_METHOD_OMWU) {
            for (j = lane; j < k; j += TPR) {
                w[j] = 2.0 * g[j] - st[j];
                st[j] = g[j];
            }
            bad = sv_norm<TPR>(a, l, b, lr, cc, w, k, lane, l, pi, shm);
        } else {
            bad = sv_norm<TPR>(a, l, b, lr, cc, g, k, lane, l, pi, shm);
        }
        if (bad)
            sv_stop<TPR>(c, i, lane, 1);
        return;
    case OP_Q1:
        if (sv_norm<TPR>(a, l, b, lr, cc, g, k, lane, l, pi, shm))
            sv_stop<TPR>(c, i, lane, 1);
        return;
    case OP_END: {
        int64_t it = c.iter[i] + 1;
        int check;
        if (method == NASHMP_METHOD_SPPO)
            for (j = lane; j < k; j += TPR)
                st[j] = nashmp_logaddexp(st[j], l[j]);
        check = it % c.check_every == 0 || c.last;
        bad = 0;
        if (check) {
            if (method == NASHMP_METHOD_SPPO) /* reported iterate: the average policy */
                bad = sv_norm<TPR>(1.0, st, 0.0, NULL, 0.0, NULL, k, lane, h, pi, shm);
            else
                for (j = lane; j < k; j += TPR)
                    pi[j] = exp(l[j]);
        }
        /* every lane has read iter[i] before lane 0 updates it (the OR is a row barrier) */
        bad = nashmp_cu_reduce_or<TPR>(bad, shi);
        if (lane == 0) {
            c.iter[i] = it;
            c.nq[i] += two_step ? 2 : 1;
            c.chk[i] = check && !bad;
        }
        if (bad)
            sv_stop<TPR>(c, i, lane, 1);
        return;
    }
    case OP_CHECK:
        if (c.chk[i]) {
            const double *rep = method == NASHMP_METHOD_SPPO ? h : l;
            double e = sv_expl_row<TPR>(rep, pi, g, lr, c.beta[i], k, lane, shm, shd);
            if (lane == 0) {
                c.expl[i] = e;
                c.chk[i] = 0;
            }
            if (c.tol >= 0.0 && e <= c.tol) {
                if (lane == 0)
                    c.active[i] = 0;
                sv_stop<TPR>(c, i, lane, 0);
            }
        }
        return;
    default:
        return;
    }
}

/* g[i] = P_i pi[i] for the games with mask[i] != 0: one warp per output element row. */
template <typename TP>
__global__ void __launch_bounds__(NASHMP_CU_BLOCK)
    k_sv_mv(const TP *__restrict__ P, int64_t ldP, const double *__restrict__ pi,
            double *__restrict__ g, const uint8_t *__restrict__ mask, int64_t batch, int64_t k)
{
    int64_t wi = (int64_t)blockIdx.x * NASHMP_CU_WARPS + (threadIdx.x >> 5), i, y, j;
    int lane = threadIdx.x & 31, o;
    const TP *pr;
    const double *x;
    double s = 0.0;
    if (wi >= batch * k)
        return;
    i = wi / k;
    if (!mask[i])
        return;
    y = wi - i * k;
    pr = P + i * ldP + y * k;
    x = pi + i * k;
    for (j = lane; j < k; j += 32)
        s += (double)pr[j] * x[j];
    for (o = 16; o > 0; o >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0)
        g[i * k + y] = s;
}

static int sv_row_launch(const sv_dev &c, int op, cudaStream_t s)
{
    NASHMP_CU_LAUNCH_ROWS(k_sv_row, double, c.batch, c.k, s, c, op);
}

template <typename TP>
static int sv_mv_launch(const TP *P, int64_t ldP, const sv_dev &c, const uint8_t *mask,
                        cudaStream_t s)
{
    unsigned nb = nashmp_cu_blocks(c.batch * c.k, 32);
    if (nb == 0)
        return NASHMP_ERR_OVERFLOW;
    k_sv_mv<TP><<<nb, NASHMP_CU_BLOCK, 0, s>>>(P, ldP, c.pi, c.g, mask, c.batch, c.k);
    return nashmp_cu_launched();
}

/* Scratch on the stream: 4 rows of k doubles per game, 2 flag bytes per game, 2 counters. */
static int sv_alloc(sv_dev *c, cudaStream_t s, void **base)
{
    int64_t rows, bytes;
    char *p;
    int st;
    if (nashmp_mul_ovf(c->batch, c->k, &rows) || nashmp_mul_ovf(rows, 4 * 8, &bytes) ||
        nashmp_add_ovf(bytes, 2 * c->batch + 64, &bytes))
        return NASHMP_ERR_OVERFLOW;
    st = nashmp_cu_status(cudaMallocAsync(base, (size_t)bytes, s));
    if (st != NASHMP_OK)
        return st;
    p = (char *)*base;
    c->counters = (int *)p;
    c->pi = (double *)(p + 64);
    c->g = c->pi + rows;
    c->h = c->g + rows;
    c->w = c->h + rows;
    c->run = (uint8_t *)(c->w + rows);
    c->chk = c->run + c->batch;
    st = nashmp_cu_status(cudaMemsetAsync(p, 0, 64, s));
    if (st == NASHMP_OK)
        st = nashmp_cu_status(cudaMemsetAsync(c->chk, 0, (size_t)c->batch, s));
    return st;
}

/* Reads the two counters (synchronizes the stream). */
static int sv_counters(const sv_dev &c, cudaStream_t s, int *host)
{
    int st = nashmp_cu_status(cudaMemcpyAsync(host, c.counters, 2 * sizeof(int),
                                              cudaMemcpyDeviceToHost, s));
    if (st == NASHMP_OK)
        st = nashmp_cu_status(cudaStreamSynchronize(s));
    return st;
}

/* Host copies of small per-game device arrays for the value checks. */
template <typename T>
static int sv_to_host(const T *dev, int64_t n, T **host, cudaStream_t s)
{
    if ((uint64_t)n > SIZE_MAX / sizeof(T) || (*host = (T *)malloc((size_t)n * sizeof(T))) == NULL)
        return NASHMP_ERR_NO_MEMORY;
    return nashmp_cu_status(
        cudaMemcpyAsync(*host, dev, (size_t)n * sizeof(T), cudaMemcpyDeviceToHost, s));
}

template <typename TP>
static int sv_solve(const TP *P, int64_t ldP, const double *log_ref, int64_t ldref,
                    const double *beta, const double *eta, int64_t batch, int64_t k, int method,
                    int64_t max_iter, int64_t check_every, double tol, double *log_pi,
                    int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries,
                    double *exploitability, uint8_t *active, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    double *hb = NULL, *he = NULL;
    int64_t *hi = NULL, i, n = 0, t;
    uint8_t *ha = NULL;
    void *scratch = NULL;
    sv_dev c;
    int cnt[2] = {0, 0}, two_step, use_state;
    int st = nashmp_cuchk_solve(P, ldP, log_ref, ldref, beta, eta, batch, k, method, max_iter,
                                check_every, tol, log_pi, ldpi, state, ldst, iter, n_queries,
                                exploitability, active, sizeof(TP));
    if (st != NASHMP_OK || batch == 0)
        return st;
    /* value checks of beta, eta, iter, active (as nashmp_solve_dense_*), on host copies */
    st = sv_to_host(beta, batch, &hb, s);
    if (st == NASHMP_OK)
        st = sv_to_host(eta, batch, &he, s);
    if (st == NASHMP_OK)
        st = sv_to_host(iter, batch, &hi, s);
    if (st == NASHMP_OK)
        st = sv_to_host(active, batch, &ha, s);
    if (st == NASHMP_OK)
        st = nashmp_cu_status(cudaStreamSynchronize(s));
    for (i = 0; st == NASHMP_OK && i < batch; i++) {
        double bv = hb[i], ev = he[i];
        if (nashmp_check_finite(bv) != NASHMP_OK || bv < 0.0 ||
            (bv == 0.0 && method != NASHMP_METHOD_SPPO))
            st = NASHMP_ERR_INVALID_VALUE;
        else if (method != NASHMP_METHOD_NASH_MD &&
                 (nashmp_check_finite(ev) != NASHMP_OK || !(ev > 0.0) ||
                  ((method == NASHMP_METHOD_OMD || method == NASHMP_METHOD_OMWU) &&
                   !(ev * bv <= 1.0)) ||
                  (method == NASHMP_METHOD_EXTRAGRADIENT && !(ev * bv < 1.0))))
            st = NASHMP_ERR_INVALID_VALUE;
        else if (ha[i]) {
            if (hi[i] < 0)
                st = NASHMP_ERR_INVALID_VALUE;
            n++;
        }
    }
    free(hb);
    free(he);
    free(hi);
    free(ha);
    if (st != NASHMP_OK || n == 0 || max_iter == 0)
        return st;

    use_state = method == NASHMP_METHOD_OMWU || method == NASHMP_METHOD_SPPO;
    two_step = method == NASHMP_METHOD_NASH_MP || method == NASHMP_METHOD_EXTRAGRADIENT;
    memset(&c, 0, sizeof c);
    c.lr = log_ref;
    c.ldref = ldref;
    c.beta = beta;
    c.eta = eta;
    c.l = log_pi;
    c.ldpi = ldpi;
    c.st = use_state ? state : NULL;
    c.ldst = ldst;
    c.iter = iter;
    c.nq = n_queries;
    c.expl = exploitability;
    c.active = active;
    c.batch = batch;
    c.k = k;
    c.check_every = check_every;
    c.tol = tol;
    c.method = method;
    st = sv_alloc(&c, s, &scratch);
    if (st == NASHMP_OK)
        st = sv_row_launch(c, OP_INIT, s);
    for (t = 0; st == NASHMP_OK && t < max_iter; t++) {
        c.last = t == max_iter - 1;
        st = sv_row_launch(c, OP_PREP, s);
        if (st == NASHMP_OK)
            st = sv_mv_launch(P, ldP, c, c.run, s);
        if (st == NASHMP_OK)
            st = sv_row_launch(c, OP_Q0, s);
        if (st == NASHMP_OK && two_step) {
            st = sv_mv_launch(P, ldP, c, c.run, s);
            if (st == NASHMP_OK)
                st = sv_row_launch(c, OP_Q1, s);
        }
        if (st == NASHMP_OK)
            st = sv_row_launch(c, OP_END, s);
        if (st == NASHMP_OK)
            st = sv_mv_launch(P, ldP, c, c.chk, s);
        if (st == NASHMP_OK)
            st = sv_row_launch(c, OP_CHECK, s);
        if (st == NASHMP_OK && ((t + 1) % check_every == 0 || c.last)) {
            st = sv_counters(c, s, cnt);
            if (st == NASHMP_OK && cnt[0] <= 0)
                break;
        }
    }
    if (st == NASHMP_OK)
        st = sv_counters(c, s, cnt);
    if (scratch != NULL) {
        cudaFreeAsync(scratch, s);
        if (st == NASHMP_OK)
            st = nashmp_cu_status(cudaStreamSynchronize(s));
    }
    if (st == NASHMP_OK && cnt[1])
        st = NASHMP_ERR_NONFINITE;
    return st;
}

template <typename TP>
static int sv_expl(const TP *P, int64_t ldP, const double *log_pi, int64_t ldpi,
                   const double *log_ref, int64_t ldref, const double *beta, int64_t batch,
                   int64_t k, double *out, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    void *scratch = NULL;
    double *hb = NULL;
    int64_t i;
    sv_dev c;
    int cnt[2] = {0, 0};
    int st = nashmp_cuchk_expl(P, ldP, log_pi, ldpi, log_ref, ldref, beta, batch, k, out);
    if (st != NASHMP_OK || batch == 0)
        return st;
    st = sv_to_host(beta, batch, &hb, s);
    if (st == NASHMP_OK)
        st = nashmp_cu_status(cudaStreamSynchronize(s));
    for (i = 0; st == NASHMP_OK && i < batch; i++)
        if (nashmp_check_finite(hb[i]) != NASHMP_OK || hb[i] < 0.0)
            st = NASHMP_ERR_INVALID_VALUE;
    free(hb);
    if (st != NASHMP_OK)
        return st;
    memset(&c, 0, sizeof c);
    c.lr = log_ref;
    c.ldref = ldref;
    c.beta = beta;
    c.l = (double *)log_pi; /* read only in eval mode */
    c.ldpi = ldpi;
    c.expl = out;
    c.batch = batch;
    c.k = k;
    c.check_every = 1;
    st = sv_alloc(&c, s, &scratch);
    if (st == NASHMP_OK)
        st = sv_row_launch(c, OP_EVAL_INIT, s);
    if (st == NASHMP_OK)
        st = sv_mv_launch(P, ldP, c, c.run, s);
    if (st == NASHMP_OK)
        st = sv_row_launch(c, OP_EVAL, s);
    if (st == NASHMP_OK)
        st = sv_counters(c, s, cnt);
    if (scratch != NULL) {
        cudaFreeAsync(scratch, s);
        if (st == NASHMP_OK)
            st = nashmp_cu_status(cudaStreamSynchronize(s));
    }
    if (st == NASHMP_OK && cnt[1])
        st = NASHMP_ERR_NONFINITE;
    return st;
}

#define NASHMP_CU_DEF_SOLVE(sfx, TP)                                                            \
    extern "C" int nashmp_cuda_solve_dense_##sfx(                                               \
        const TP *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta,     \
        const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter,              \
        int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state,           \
        int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability,                \
        uint8_t *active, void *stream)                                                          \
    {                                                                                           \
        return sv_solve<TP>(P, ldP, log_ref, ldref, beta, eta, batch, k, method, max_iter,      \
                            check_every, tol, log_pi, ldpi, state, ldst, iter, n_queries,       \
                            exploitability, active, stream);                                    \
    }                                                                                           \
    extern "C" int nashmp_cuda_exploitability_dense_##sfx(                                      \
        const TP *P, int64_t ldP, const double *log_pi, int64_t ldpi, const double *log_ref,    \
        int64_t ldref, const double *beta, int64_t batch, int64_t k, double *out, void *stream) \
    {                                                                                           \
        return sv_expl<TP>(P, ldP, log_pi, ldpi, log_ref, ldref, beta, batch, k, out, stream);  \
    }

NASHMP_CU_DEF_SOLVE(f64, double)
NASHMP_CU_DEF_SOLVE(f32, float)
