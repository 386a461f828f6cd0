/*
 * CUDA kernels of libnashmp: log-space row kernels, the dense and embedding preference operators
 * and the fused mirror step (see nashmp_cuda.h); the low-rank, Bradley-Terry and packed operators
 * are in operators.cuh, included at the end. Row math comes from ms_block.h, the same
 * host+device helpers that the CPU tests run.
 */
#include "cuda_common.cuh"

/* ---- information ------------------------------------------------------------------------------ */

#define NASHMP_CU_STR2(x) #x
#define NASHMP_CU_STR(x) NASHMP_CU_STR2(x)
#ifndef NASHMP_CUDA_ARCHS_STR /* set by csrc/cmake/NashmpCuda.cmake */
#define NASHMP_CUDA_ARCHS_STR "unknown"
#endif

extern "C" int nashmp_cuda_available(void) { return 1; }

extern "C" int nashmp_cuda_device_count(int *count)
{
    int n = 0;
    cudaError_t e;
    if (count == NULL)
        return NASHMP_ERR_NULL_POINTER;
    e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n < 1) {
        (void)cudaGetLastError(); /* clear the error of a machine without a driver */
        *count = 0;
        return NASHMP_ERR_UNSUPPORTED;
    }
    *count = n;
    return NASHMP_OK;
}

extern "C" const char *nashmp_cuda_build_info(void)
{
    return "cuda=yes runtime=" NASHMP_CU_STR(CUDART_VERSION) " archs=" NASHMP_CUDA_ARCHS_STR;
}

/* ---- row kernels ------------------------------------------------------------------------------ */

template <typename T, int TPR>
__global__ void __launch_bounds__(NASHMP_CU_BLOCK)
    k_logsumexp(const T *__restrict__ x, int64_t batch, int64_t k, int64_t ldx, T *out)
{
    __shared__ nashmp_msb sh[NASHMP_CU_WARPS];
    int lane;
    int64_t row = nashmp_cu_row<TPR>(&lane), j;
    nashmp_msb st = nashmp_msb_init();
    if (row >= batch)
        return;
    for (j = lane; j < k; j += TPR)
        nashmp_msb_push(&st, (double)x[row * ldx + j]);
    st = nashmp_cu_reduce_ms<TPR>(st, sh);
    if (lane == 0)
        out[row] = (T)nashmp_msb_lse(st);
}

/* softmax == 0: out = x - logsumexp(x); softmax == 1: out = exp(x - m) / s. In place is fine
 * (every element is read by the thread that writes it, after the row reduction). */
template <typename T, int TPR>
__global__ void __launch_bounds__(NASHMP_CU_BLOCK)
    k_rowmap(const T *x, int64_t batch, int64_t k, int64_t ldx, T *out, int64_t ldo, int softmax)
{
    __shared__ nashmp_msb sh[NASHMP_CU_WARPS];
    int lane;
    int64_t row = nashmp_cu_row<TPR>(&lane), j;
    nashmp_msb st = nashmp_msb_init();
    double ls;
    if (row >= batch)
        return;
    for (j = lane; j < k; j += TPR)
        nashmp_msb_push(&st, (double)x[row * ldx + j]);
    st = nashmp_cu_reduce_ms<TPR>(st, sh);
    if (st.m != st.m) { /* NaN or +inf in the row */
        for (j = lane; j < k; j += TPR)
            out[row * ldo + j] = (T)NASHMP_MSB_NAN;
        return;
    }
    if (st.m == -NASHMP_MSB_INF) { /* all -inf */
        for (j = lane; j < k; j += TPR)
            out[row * ldo + j] = softmax ? (T)0 : (T)(-NASHMP_MSB_INF);
        return;
    }
    ls = log(st.s);
    for (j = lane; j < k; j += TPR) {
        double v = (double)x[row * ldx + j];
        out[row * ldo + j] = softmax ? (T)(exp(v - st.m) / st.s) : (T)((v - st.m) - ls);
    }
}

template <typename T, int TPR>
__global__ void __launch_bounds__(NASHMP_CU_BLOCK)
    k_kl(const T *__restrict__ p, int64_t ldp, const T *__restrict__ q, int64_t ldq,
         int64_t batch, int64_t k, T *out)
{
    __shared__ double sh[NASHMP_CU_WARPS];
    int lane;
    int64_t row = nashmp_cu_row<TPR>(&lane), j;
    double acc = 0.0;
    if (row >= batch)
        return;
    for (j = lane; j < k; j += TPR)
        acc += nashmp_kl_term((double)p[row * ldp + j], (double)q[row * ldq + j]);
    acc = nashmp_cu_reduce_sum<TPR>(acc, sh);
    if (lane == 0)
        out[row] = (T)acc;
}

template <typename T, int TPR>
__global__ void __launch_bounds__(NASHMP_CU_BLOCK)
    k_span(const T *__restrict__ x, int64_t batch, int64_t k, int64_t ldx, T *out)
{
    __shared__ double sh[NASHMP_CU_WARPS];
    __shared__ int shb[NASHMP_CU_WARPS];
    int lane, bad = 0;
    int64_t row = nashmp_cu_row<TPR>(&lane), j;
    double mx = -NASHMP_MSB_INF, mn = NASHMP_MSB_INF;
    if (row >= batch)
        return;
    for (j = lane; j < k; j += TPR) {
        double v = (double)x[row * ldx + j];
        bad |= nashmp_msb_bad(v);
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    bad = nashmp_cu_reduce_or<TPR>(bad, shb);
    mx = nashmp_cu_reduce_max<TPR>(mx, sh);
    mn = -nashmp_cu_reduce_max<TPR>(-mn, sh);
    if (lane == 0)
        out[row] = bad ? (T)NASHMP_MSB_NAN : mx == -NASHMP_MSB_INF ? (T)0 : (T)(mx - mn);
}

/* out = z - logsumexp(z), z = a lp + b lr + c g (zero coefficients: not read). Pass 1 folds z
 * into the (max, sum) state, pass 2 forms z again and writes it (in place with any input).
 * po != NULL: also po = exp(out) (the operators' fused prox step, po does not overlap the
 * inputs). */
template <typename T, int TPR>
__global__ void __launch_bounds__(NASHMP_CU_BLOCK)
    k_mirror(const T *lp, int64_t ldpi, const T *lr, int64_t ldref, const T *g, int64_t ldg,
             int64_t batch, int64_t k, double a, double b, double c, T *out, int64_t ldo, T *po,
             int64_t ldpo)
{
    __shared__ nashmp_msb sh[NASHMP_CU_WARPS];
    int lane, bad = 0;
    int64_t row = nashmp_cu_row<TPR>(&lane), j;
    nashmp_msb st = nashmp_msb_init();
    double ls;
    if (row >= batch)
        return;
#define NASHMP_CU_Z(j)                                                                          \
    nashmp_mirror_z(a, a != 0.0 ? (double)lp[row * ldpi + (j)] : 0.0, b,                        \
                    b != 0.0 ? (double)lr[row * ldref + (j)] : 0.0, c,                          \
                    c != 0.0 ? (double)g[row * ldg + (j)] : 0.0, &bad)
    for (j = lane; j < k; j += TPR)
        nashmp_msb_push(&st, NASHMP_CU_Z(j));
    if (bad)
        st.m = st.s = NASHMP_MSB_NAN;
    st = nashmp_cu_reduce_ms<TPR>(st, sh);
    if (st.m != st.m || st.m == -NASHMP_MSB_INF) { /* bad input, or no distribution */
        for (j = lane; j < k; j += TPR) {
            out[row * ldo + j] = (T)NASHMP_MSB_NAN;
            if (po)
                po[row * ldpo + j] = (T)NASHMP_MSB_NAN;
        }
        return;
    }
    ls = log(st.s);
    for (j = lane; j < k; j += TPR) {
        const double v = (NASHMP_CU_Z(j) - st.m) - ls;
        out[row * ldo + j] = (T)v;
        if (po)
            po[row * ldpo + j] = (T)exp(v);
    }
#undef NASHMP_CU_Z
}

/* ---- dense preference operator: one warp per output (game, row) --------------------------- */

template <typename T>
__global__ void __launch_bounds__(NASHMP_CU_BLOCK)
    k_pref(const T *__restrict__ P, int64_t ldP, const T *__restrict__ pi, int64_t ldpi,
           int64_t batch, int64_t k, T *__restrict__ out, int64_t ldo)
{
    int64_t w = (int64_t)blockIdx.x * NASHMP_CU_WARPS + (threadIdx.x >> 5), i, y, j;
    int lane = threadIdx.x & 31, o;
    const T *pr, *x;
    double s = 0.0;
    if (w >= batch * k)
        return;
    i = w / k;
    y = w - i * k;
    pr = P + i * ldP + y * k;
    x = pi + i * ldpi;
    for (j = lane; j < k; j += 32)
        s += (double)pr[j] * (double)x[j];
    for (o = 16; o > 0; o >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0)
        out[i * ldo + y] = (T)s;
}

/* ---- embedding operator ------------------------------------------------------------------------ */

#define NASHMP_EMB_TY 128 /* rows y per block (one per thread) */
#define NASHMP_EMB_TJ 32  /* rows j of E per shared tile */
#define NASHMP_EMB_DC 32  /* columns of E per shared tile */
#define NASHMP_EMB_NG 4   /* games per block */

/* U = E R (K x d, double): U[y, b] = sum_a E[y, a] R[a, b]. */
template <typename T>
__global__ void k_embed_u(const T *__restrict__ E, const T *__restrict__ R, int64_t K, int64_t d,
                          double *__restrict__ U)
{
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, y, b, a;
    double s = 0.0;
    if (t >= K * d)
        return;
    y = t / d;
    b = t - y * d;
    for (a = 0; a < d; a++)
        s += (double)E[y * d + a] * (double)R[a * d + b];
    U[t] = s;
}

/* out[i, y] = sum_j sigma(u_y . e_j) pi[i, j]: tiles of E (TJ rows x DC columns) and of pi in
 * shared memory; thread y keeps the TJ scores of the tile in registers. */
template <typename T>
__global__ void __launch_bounds__(NASHMP_EMB_TY)
    k_embed(const T *__restrict__ E, const double *__restrict__ U, const T *__restrict__ pi,
            int64_t batch, int64_t K, int64_t d, T *__restrict__ out)
{
    __shared__ double es[NASHMP_EMB_TJ][NASHMP_EMB_DC + 1];
    __shared__ double ps[NASHMP_EMB_NG][NASHMP_EMB_TJ];
    const int64_t y = (int64_t)blockIdx.x * NASHMP_EMB_TY + threadIdx.x;
    int64_t g0, j0, b0;
    for (g0 = (int64_t)blockIdx.y * NASHMP_EMB_NG; g0 < batch;
         g0 += (int64_t)gridDim.y * NASHMP_EMB_NG) {
        double acc[NASHMP_EMB_NG];
        int q;
        for (q = 0; q < NASHMP_EMB_NG; q++)
            acc[q] = 0.0;
        for (j0 = 0; j0 < K; j0 += NASHMP_EMB_TJ) {
            const int nj = (int)(K - j0 < NASHMP_EMB_TJ ? K - j0 : NASHMP_EMB_TJ);
            double s[NASHMP_EMB_TJ];
            int jj, t;
#pragma unroll
            for (jj = 0; jj < NASHMP_EMB_TJ; jj++)
                s[jj] = 0.0;
            for (b0 = 0; b0 < d; b0 += NASHMP_EMB_DC) {
                const int nb = (int)(d - b0 < NASHMP_EMB_DC ? d - b0 : NASHMP_EMB_DC);
                int bb;
                for (t = threadIdx.x; t < NASHMP_EMB_TJ * NASHMP_EMB_DC; t += NASHMP_EMB_TY) {
                    int r = t / NASHMP_EMB_DC, cidx = t % NASHMP_EMB_DC;
                    es[r][cidx] = (r < nj && cidx < nb) ? (double)E[(j0 + r) * d + b0 + cidx]
                                                        : 0.0;
                }
                __syncthreads();
                if (y < K)
                    for (bb = 0; bb < nb; bb++) {
                        const double u = U[y * d + b0 + bb];
#pragma unroll
                        for (jj = 0; jj < NASHMP_EMB_TJ; jj++)
                            s[jj] += u * es[jj][bb];
                    }
                __syncthreads();
            }
            for (t = threadIdx.x; t < NASHMP_EMB_NG * NASHMP_EMB_TJ; t += NASHMP_EMB_TY) {
                int gq = t / NASHMP_EMB_TJ, r = t % NASHMP_EMB_TJ;
                ps[gq][r] = (g0 + gq < batch && r < nj) ? (double)pi[(g0 + gq) * K + j0 + r]
                                                        : 0.0;
            }
            __syncthreads();
            if (y < K)
#pragma unroll
                for (jj = 0; jj < NASHMP_EMB_TJ; jj++) {
                    const double sg = jj < nj ? nashmp_sigmoid(s[jj]) : 0.0;
                    for (q = 0; q < NASHMP_EMB_NG; q++)
                        acc[q] += sg * ps[q][jj];
                }
            __syncthreads();
        }
        if (y < K)
            for (q = 0; q < NASHMP_EMB_NG; q++)
                if (g0 + q < batch)
                    out[(g0 + q) * K + y] = (T)acc[q];
    }
}

/* ---- entry points ------------------------------------------------------------------------------ */

template <typename T>
static int cu_logsumexp(const T *x, int64_t batch, int64_t k, int64_t ldx, T *out, void *stream)
{
    int st = nashmp_cuchk_reduce(x, batch, k, ldx, out, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    NASHMP_CU_LAUNCH_ROWS(k_logsumexp, T, batch, k, stream, x, batch, k, ldx, out);
}

template <typename T>
static int cu_rowmap(const T *x, int64_t batch, int64_t k, int64_t ldx, T *out, int64_t ldo,
                     int softmax, void *stream)
{
    int st = nashmp_cuchk_rowmap(x, batch, k, ldx, out, ldo, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    NASHMP_CU_LAUNCH_ROWS(k_rowmap, T, batch, k, stream, x, batch, k, ldx, out, ldo, softmax);
}

template <typename T>
static int cu_kl(const T *p, int64_t ldp, const T *q, int64_t ldq, int64_t batch, int64_t k,
                 T *out, void *stream)
{
    int st = nashmp_cuchk_kl(p, ldp, q, ldq, batch, k, out, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    NASHMP_CU_LAUNCH_ROWS(k_kl, T, batch, k, stream, p, ldp, q, ldq, batch, k, out);
}

template <typename T>
static int cu_span(const T *x, int64_t batch, int64_t k, int64_t ldx, T *out, void *stream)
{
    int st = nashmp_cuchk_reduce(x, batch, k, ldx, out, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    NASHMP_CU_LAUNCH_ROWS(k_span, T, batch, k, stream, x, batch, k, ldx, out);
}

template <typename T>
static int cu_mirror(const T *lp, int64_t ldpi, const T *lr, int64_t ldref, const T *g,
                     int64_t ldg, int64_t batch, int64_t k, double a, double b, double c, T *out,
                     int64_t ldo, void *stream)
{
    int st = nashmp_cuchk_mirror(lp, ldpi, lr, ldref, g, ldg, batch, k, a, b, c, out, ldo,
                                 sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    NASHMP_CU_LAUNCH_ROWS(k_mirror, T, batch, k, stream, lp, ldpi, lr, ldref, g, ldg, batch, k,
                          a, b, c, out, ldo, (T *)NULL, (int64_t)0);
}

template <typename T>
static int cu_pref(const T *P, int64_t ldP, const T *pi, int64_t ldpi, int64_t batch, int64_t k,
                   T *out, int64_t ldo, void *stream)
{
    int64_t rows;
    unsigned nb;
    int st = nashmp_cuchk_pref(P, ldP, pi, ldpi, batch, k, out, ldo, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    rows = batch * k; /* checked by nashmp_check_args */
    nb = nashmp_cu_blocks(rows, 32);
    if (nb == 0)
        return NASHMP_ERR_OVERFLOW;
    k_pref<T><<<nb, NASHMP_CU_BLOCK, 0, (cudaStream_t)stream>>>(P, ldP, pi, ldpi, batch, k, out,
                                                                ldo);
    return nashmp_cu_launched();
}

template <typename T>
static int cu_embed(const T *E, const T *R, const T *pi, int64_t batch, int64_t K, int64_t d,
                    T *out, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    double *U = NULL;
    int64_t nu, nby, ngy;
    int st = nashmp_cuchk_embed(E, R, pi, batch, K, d, out, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    nu = K * d;
    nby = (K + NASHMP_EMB_TY - 1) / NASHMP_EMB_TY;
    ngy = (batch + NASHMP_EMB_NG - 1) / NASHMP_EMB_NG;
    if ((nu + 255) / 256 > 2147483647 || nby > 2147483647 ||
        (uint64_t)nu > (uint64_t)PTRDIFF_MAX / sizeof(double))
        return NASHMP_ERR_OVERFLOW;
    st = nashmp_cu_status(cudaMallocAsync((void **)&U, (size_t)nu * sizeof(double), s));
    if (st != NASHMP_OK)
        return st;
    k_embed_u<T><<<(unsigned)((nu + 255) / 256), 256, 0, s>>>(E, R, K, d, U);
    st = nashmp_cu_launched();
    if (st == NASHMP_OK) {
        dim3 grid((unsigned)nby, (unsigned)(ngy < 65535 ? ngy : 65535));
        k_embed<T><<<grid, NASHMP_EMB_TY, 0, s>>>(E, U, pi, batch, K, d, out);
        st = nashmp_cu_launched();
    }
    cudaFreeAsync(U, s);
    return st;
}

/* ---- extern "C" wrappers ----------------------------------------------------------------------- */

#define NASHMP_CU_BOTH(MACRO) MACRO(f64, double) MACRO(f32, float)

#define NASHMP_CU_DEF_ROWS(sfx, T)                                                              \
    extern "C" int nashmp_cuda_logsumexp_##sfx(const T *x, int64_t batch, int64_t k,            \
                                               int64_t ldx, T *out, void *stream)               \
    {                                                                                           \
        return cu_logsumexp<T>(x, batch, k, ldx, out, stream);                                  \
    }                                                                                           \
    extern "C" int nashmp_cuda_log_softmax_##sfx(const T *x, int64_t batch, int64_t k,          \
                                                 int64_t ldx, T *out, int64_t ldo,              \
                                                 void *stream)                                  \
    {                                                                                           \
        return cu_rowmap<T>(x, batch, k, ldx, out, ldo, 0, stream);                             \
    }                                                                                           \
    extern "C" int nashmp_cuda_softmax_##sfx(const T *x, int64_t batch, int64_t k, int64_t ldx, \
                                             T *out, int64_t ldo, void *stream)                 \
    {                                                                                           \
        return cu_rowmap<T>(x, batch, k, ldx, out, ldo, 1, stream);                             \
    }                                                                                           \
    extern "C" int nashmp_cuda_kl_##sfx(const T *logp, int64_t ldp, const T *logq, int64_t ldq, \
                                        int64_t batch, int64_t k, T *out, void *stream)         \
    {                                                                                           \
        return cu_kl<T>(logp, ldp, logq, ldq, batch, k, out, stream);                           \
    }                                                                                           \
    extern "C" int nashmp_cuda_span_##sfx(const T *x, int64_t batch, int64_t k, int64_t ldx,    \
                                          T *out, void *stream)                                 \
    {                                                                                           \
        return cu_span<T>(x, batch, k, ldx, out, stream);                                       \
    }                                                                                           \
    extern "C" int nashmp_cuda_mirror_step_##sfx(                                               \
        const T *log_pi, int64_t ldpi, const T *log_ref, int64_t ldref, const T *g,             \
        int64_t ldg, int64_t batch, int64_t k, double a, double b, double c, T *out,            \
        int64_t ldo, void *stream)                                                              \
    {                                                                                           \
        return cu_mirror<T>(log_pi, ldpi, log_ref, ldref, g, ldg, batch, k, a, b, c, out, ldo,  \
                            stream);                                                            \
    }                                                                                           \
    extern "C" int nashmp_cuda_preference_apply_##sfx(const T *P, int64_t ldP, const T *pi,     \
                                                      int64_t ldpi, int64_t batch, int64_t k,   \
                                                      T *out, int64_t ldo, void *stream)        \
    {                                                                                           \
        return cu_pref<T>(P, ldP, pi, ldpi, batch, k, out, ldo, stream);                        \
    }                                                                                           \
    extern "C" int nashmp_cuda_embedding_apply_##sfx(const T *E, const T *R, const T *pi,       \
                                                     int64_t batch, int64_t K, int64_t d,       \
                                                     T *out, void *stream)                      \
    {                                                                                           \
        return cu_embed<T>(E, R, pi, batch, K, d, out, stream);                                 \
    }

NASHMP_CU_BOTH(NASHMP_CU_DEF_ROWS)

/* The matrix-free operators (low-rank, Bradley-Terry, packed): compiled in this translation unit
 * (the CUDA source list of csrc/cmake/NashmpCuda.cmake is kernels.cu and solver.cu). */
#include "operators.cuh"
