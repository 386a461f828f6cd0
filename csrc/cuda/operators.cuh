/*
 * Matrix-free preference operators on the device: low-rank skew, Bradley-Terry and packed half
 * matrix (nashmp_cuda_{lowrank,bradley_terry,packed}_{apply,mirror_step}_*, nashmp_cuda.h).
 * Included at the end of kernels.cu (after k_mirror, the epilogue of the fused prox steps).
 *
 * Each operator has one kernel family that writes g = P pi into rows of type O: the data type T
 * for apply, double for the prox step, which writes g into its `out` rows and then runs k_mirror
 * in place on them (z from out, pi_out = exp(out)). float data is read into double and every sum
 * is accumulated in double, in a fixed order (no atomics): a result does not depend on the launch
 * shape.
 *
 *  low rank   three launches: chunk partials of (U^T pi, V^T pi, sum pi), threads over the 2r+1
 *             columns (a row of U or V is read by consecutive threads); their sum in chunk order;
 *             then g_y = S/2 + u_y.(V^T pi) - v_y.(U^T pi), one thread per row. Scratch on the
 *             stream (cudaMallocAsync): at most NASHMP_LR_MAX_CHUNKS partials of 2r+1 doubles per
 *             game, games taken in groups that keep it near NASHMP_LR_SCRATCH doubles.
 *  Bradley-Terry, packed   tiled like the embedding kernel: NASHMP_OP_TY rows y per block (one per
 *             thread), column tiles of NASHMP_OP_TJ staged in shared memory with the policies of
 *             NASHMP_OP_NG games. Packed: P[y, j] for y < j is a segment of row y of the stored
 *             triangle, staged by consecutive threads reading consecutive values; P[j, y] for
 *             j < y is read directly (consecutive rows y are consecutive values). Every stored
 *             value is read twice, for its row and for its column: the memory is half the dense
 *             matrix, the bytes per query are those of the dense kernel.
 */
#ifndef NASHMP_CUDA_OPERATORS_CUH
#define NASHMP_CUDA_OPERATORS_CUH

#define NASHMP_OP_TY 128  /* rows y per block of the tiled kernels (one per thread) */
#define NASHMP_OP_TJ 32   /* columns j per shared tile */
#define NASHMP_OP_NG 4    /* games per pass of a block */
#define NASHMP_LR_ROWS 256 /* threads per block of the low-rank row pass */
#define NASHMP_LR_MAX_CHUNKS 256
#define NASHMP_LR_CHUNK_MIN 1024
#define NASHMP_LR_SCRATCH ((int64_t)1 << 22) /* doubles of low-rank partials per game group */

/* ---- low rank ------------------------------------------------------------------------------- */

/* part[i, c, q] over the rows of chunk c: q < r: (U^T pi_i)_q; r <= q < 2r: (V^T pi_i)_{q-r};
 * q = 2r: sum pi_i. */
template <typename T, typename P>
__global__ void k_lr_part(const T *__restrict__ U, const T *__restrict__ V, int64_t ldf, int64_t r,
                          const P *__restrict__ pi, int64_t ldpi, int64_t nb, int64_t k,
                          int64_t ch, int64_t nch, double *__restrict__ part)
{
    const int64_t w = 2 * r + 1, c = blockIdx.x, y0 = c * ch, y1 = y0 + ch < k ? y0 + ch : k;
    int64_t i, q, y;
    for (i = blockIdx.y; i < nb; i += gridDim.y) {
        const P *x = pi + i * ldpi;
        for (q = threadIdx.x; q < w; q += blockDim.x) {
            double acc = 0.0;
            if (q < 2 * r) {
                const T *f = q < r ? U + q : V + (q - r);
                for (y = y0; y < y1; y++)
                    acc += (double)f[y * ldf] * (double)x[y];
            } else {
                for (y = y0; y < y1; y++)
                    acc += (double)x[y];
            }
            part[(i * nch + c) * w + q] = acc;
        }
    }
}

/* qt[i, q] = sum over the chunks of part[i, c, q], in chunk order. */
__global__ void k_lr_total(const double *__restrict__ part, int64_t nb, int64_t nch, int64_t w,
                           double *__restrict__ qt)
{
    int64_t i, q, c;
    for (i = blockIdx.x; i < nb; i += gridDim.x)
        for (q = threadIdx.x; q < w; q += blockDim.x) {
            double s = 0.0;
            for (c = 0; c < nch; c++)
                s += part[(i * nch + c) * w + q];
            qt[i * w + q] = s;
        }
}

/* out[i, y] = S_i/2 + u_y.(V^T pi_i) - v_y.(U^T pi_i), one thread per row y. */
template <typename T, typename O>
__global__ void __launch_bounds__(NASHMP_LR_ROWS)
    k_lr_rows(const T *__restrict__ U, const T *__restrict__ V, int64_t ldf, int64_t r,
              const double *__restrict__ qt, int64_t nb, int64_t k, O *__restrict__ out,
              int64_t ldo)
{
    const int64_t y = (int64_t)blockIdx.x * NASHMP_LR_ROWS + threadIdx.x, w = 2 * r + 1;
    int64_t i, t;
    if (y >= k)
        return;
    for (i = blockIdx.y; i < nb; i += gridDim.y) {
        const double *q = qt + i * w;
        double s = 0.0;
        for (t = 0; t < r; t++)
            s += (double)U[y * ldf + t] * q[r + t] - (double)V[y * ldf + t] * q[t];
        out[i * ldo + y] = (O)(0.5 * q[2 * r] + s);
    }
}

template <typename T, typename P, typename O>
static int cu_lowrank_g(const T *U, const T *V, int64_t ldf, int64_t r, const P *pi,
                        int64_t ldpi, int64_t batch, int64_t k, O *out, int64_t ldo,
                        cudaStream_t s)
{
    const int64_t w = 2 * r + 1, nbx = (k + NASHMP_LR_ROWS - 1) / NASHMP_LR_ROWS;
    int64_t ch = (k + NASHMP_LR_MAX_CHUNKS - 1) / NASHMP_LR_MAX_CHUNKS, nch, per, gmax, tot, g0;
    double *buf = NULL;
    int st, tq;
    if (ch < NASHMP_LR_CHUNK_MIN)
        ch = NASHMP_LR_CHUNK_MIN;
    nch = (k + ch - 1) / ch;
    /* partials and total of one game; r <= ldf keeps w far below overflow, nch <= 256 */
    if (nbx > 2147483647 || nashmp_mul_ovf(nch + 1, w, &per))
        return NASHMP_ERR_OVERFLOW;
    gmax = NASHMP_LR_SCRATCH / per;
    gmax = gmax < 1 ? 1 : gmax > batch ? batch : gmax;
    if (nashmp_mul_ovf(gmax, per, &tot) || (uint64_t)tot > (uint64_t)PTRDIFF_MAX / sizeof(double))
        return NASHMP_ERR_OVERFLOW;
    st = nashmp_cu_status(cudaMallocAsync((void **)&buf, (size_t)tot * sizeof(double), s));
    if (st != NASHMP_OK)
        return st;
    tq = w >= 256 ? 256 : (int)((w + 31) / 32 * 32);
    for (g0 = 0; g0 < batch && st == NASHMP_OK; g0 += gmax) {
        const int64_t nb = batch - g0 < gmax ? batch - g0 : gmax;
        const unsigned gy = (unsigned)(nb < 65535 ? nb : 65535);
        double *part = buf, *qt = buf + nb * nch * w;
        k_lr_part<T, P><<<dim3((unsigned)nch, gy), tq, 0, s>>>(U, V, ldf, r, pi + g0 * ldpi, ldpi,
                                                              nb, k, ch, nch, part);
        k_lr_total<<<gy, tq, 0, s>>>(part, nb, nch, w, qt);
        k_lr_rows<T, O><<<dim3((unsigned)nbx, gy), NASHMP_LR_ROWS, 0, s>>>(
            U, V, ldf, r, qt, nb, k, out + g0 * ldo, ldo);
        st = nashmp_cu_launched();
    }
    cudaFreeAsync(buf, s);
    return st;
}

/* ---- Bradley-Terry: g[i, y] = sum_j sigma(s_y - s_j) pi[i, j] ------------------------------- */

template <typename T, typename P, typename O>
__global__ void __launch_bounds__(NASHMP_OP_TY)
    k_bt(const T *__restrict__ sc, const P *__restrict__ pi, int64_t ldpi, int64_t batch,
         int64_t k, O *__restrict__ out, int64_t ldo)
{
    __shared__ double ss[NASHMP_OP_TJ];
    __shared__ double ps[NASHMP_OP_NG][NASHMP_OP_TJ];
    const int64_t y = (int64_t)blockIdx.x * NASHMP_OP_TY + threadIdx.x;
    const double sy = y < k ? (double)sc[y] : 0.0;
    int64_t g0, j0;
    for (g0 = (int64_t)blockIdx.y * NASHMP_OP_NG; g0 < batch;
         g0 += (int64_t)gridDim.y * NASHMP_OP_NG) {
        double acc[NASHMP_OP_NG];
        int q, t, jj;
        for (q = 0; q < NASHMP_OP_NG; q++)
            acc[q] = 0.0;
        for (j0 = 0; j0 < k; j0 += NASHMP_OP_TJ) {
            const int nj = (int)(k - j0 < NASHMP_OP_TJ ? k - j0 : NASHMP_OP_TJ);
            if (threadIdx.x < NASHMP_OP_TJ)
                ss[threadIdx.x] = (int)threadIdx.x < nj ? (double)sc[j0 + threadIdx.x] : 0.0;
            for (t = threadIdx.x; t < NASHMP_OP_NG * NASHMP_OP_TJ; t += NASHMP_OP_TY) {
                const int gq = t / NASHMP_OP_TJ, rr = t % NASHMP_OP_TJ;
                ps[gq][rr] = (g0 + gq < batch && rr < nj)
                                 ? (double)pi[(g0 + gq) * ldpi + j0 + rr] : 0.0;
            }
            __syncthreads();
            if (y < k)
                for (jj = 0; jj < nj; jj++) {
                    const double sg = nashmp_sigmoid(sy - ss[jj]);
#pragma unroll
                    for (q = 0; q < NASHMP_OP_NG; q++)
                        acc[q] += sg * ps[q][jj];
                }
            __syncthreads();
        }
        if (y < k)
            for (q = 0; q < NASHMP_OP_NG; q++)
                if (g0 + q < batch)
                    out[(g0 + q) * ldo + y] = (O)acc[q];
    }
}

/* ---- packed: g[i, y] = pi_y/2 + sum_{j>y} P[y, j] pi_j + sum_{j<y} (1 - P[j, y]) pi_j ------- */

template <typename T, typename P, typename O>
__global__ void __launch_bounds__(NASHMP_OP_TY)
    k_packed(const T *__restrict__ Pu, const P *__restrict__ pi, int64_t ldpi, int64_t batch,
             int64_t k, O *__restrict__ out, int64_t ldo)
{
    __shared__ T pt[NASHMP_OP_TY][NASHMP_OP_TJ + 1];
    __shared__ double ps[NASHMP_OP_NG][NASHMP_OP_TJ];
    const int64_t y0 = (int64_t)blockIdx.x * NASHMP_OP_TY, y = y0 + threadIdx.x;
    int64_t g0, j0;
    for (g0 = (int64_t)blockIdx.y * NASHMP_OP_NG; g0 < batch;
         g0 += (int64_t)gridDim.y * NASHMP_OP_NG) {
        double acc[NASHMP_OP_NG];
        int q, t, jj;
        for (q = 0; q < NASHMP_OP_NG; q++)
            acc[q] = 0.0;
        for (j0 = 0; j0 < k; j0 += NASHMP_OP_TJ) {
            const int nj = (int)(k - j0 < NASHMP_OP_TJ ? k - j0 : NASHMP_OP_TJ);
            if (j0 + nj - 1 > y0) /* the tile holds some j > y: stage the segments P[y, j0..) */
                for (t = threadIdx.x; t < NASHMP_OP_TY * NASHMP_OP_TJ; t += NASHMP_OP_TY) {
                    const int yy = t / NASHMP_OP_TJ, cj = t % NASHMP_OP_TJ;
                    const int64_t yr = y0 + yy, j = j0 + cj;
                    if (j < k && yr < j)
                        pt[yy][cj] = Pu[nashmp_packed_index(yr, j, k)];
                }
            for (t = threadIdx.x; t < NASHMP_OP_NG * NASHMP_OP_TJ; t += NASHMP_OP_TY) {
                const int gq = t / NASHMP_OP_TJ, rr = t % NASHMP_OP_TJ;
                ps[gq][rr] = (g0 + gq < batch && rr < nj)
                                 ? (double)pi[(g0 + gq) * ldpi + j0 + rr] : 0.0;
            }
            __syncthreads();
            if (y < k)
                for (jj = 0; jj < nj; jj++) {
                    const int64_t j = j0 + jj;
                    const double p = j > y    ? (double)pt[threadIdx.x][jj]
                                     : j == y ? 0.5
                                              : 1.0 - (double)Pu[nashmp_packed_index(j, y, k)];
#pragma unroll
                    for (q = 0; q < NASHMP_OP_NG; q++)
                        acc[q] += p * ps[q][jj];
                }
            __syncthreads();
        }
        if (y < k)
            for (q = 0; q < NASHMP_OP_NG; q++)
                if (g0 + q < batch)
                    out[(g0 + q) * ldo + y] = (O)acc[q];
    }
}

/* Grid of the tiled kernels; 0 in x when K needs more than 2^31 - 1 blocks. */
static inline dim3 nashmp_op_grid(int64_t batch, int64_t k)
{
    const int64_t nbx = (k + NASHMP_OP_TY - 1) / NASHMP_OP_TY;
    const int64_t ngy = (batch + NASHMP_OP_NG - 1) / NASHMP_OP_NG;
    return dim3(nbx > 2147483647 ? 0u : (unsigned)nbx, (unsigned)(ngy < 65535 ? ngy : 65535));
}

template <typename T, typename P, typename O>
static int cu_bt_g(const T *sc, const P *pi, int64_t ldpi, int64_t batch, int64_t k, O *out,
                   int64_t ldo, cudaStream_t s)
{
    const dim3 grid = nashmp_op_grid(batch, k);
    if (grid.x == 0)
        return NASHMP_ERR_OVERFLOW;
    k_bt<T, P, O><<<grid, NASHMP_OP_TY, 0, s>>>(sc, pi, ldpi, batch, k, out, ldo);
    return nashmp_cu_launched();
}

template <typename T, typename P, typename O>
static int cu_packed_g(const T *Pu, const P *pi, int64_t ldpi, int64_t batch, int64_t k, O *out,
                       int64_t ldo, cudaStream_t s)
{
    const dim3 grid = nashmp_op_grid(batch, k);
    if (grid.x == 0)
        return NASHMP_ERR_OVERFLOW;
    k_packed<T, P, O><<<grid, NASHMP_OP_TY, 0, s>>>(Pu, pi, ldpi, batch, k, out, ldo);
    return nashmp_cu_launched();
}

/* ---- entry points ---------------------------------------------------------------------------- */

/* Epilogue of a fused step: `out` holds g (double rows); out = N(a lp + b lr + c g) in place and
 * po = exp(out) when po != NULL. */
static int cu_opstep_finish(const double *lp, int64_t ldpi, const double *lr, int64_t ldref,
                            int64_t batch, int64_t k, double a, double b, double c, double *out,
                            int64_t ldo, double *po, int64_t ldpo, void *stream)
{
    NASHMP_CU_LAUNCH_ROWS(k_mirror, double, batch, k, stream, lp, ldpi, lr, ldref,
                          (const double *)out, ldo, batch, k, a, b, c, out, ldo, po, ldpo);
}

template <typename T>
static int cu_lowrank_apply(const T *U, const T *V, int64_t ldf, int64_t r, const T *pi,
                            int64_t ldpi, int64_t batch, int64_t k, T *out, int64_t ldo,
                            void *stream)
{
    int st = nashmp_cuchk_rowmap(pi, batch, k, ldpi, out, ldo, sizeof(T));
    if (st == NASHMP_OK)
        st = nashmp_cuchk_lowrank(U, V, ldf, r, k, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    return cu_lowrank_g<T, T, T>(U, V, ldf, r, pi, ldpi, batch, k, out, ldo,
                                 (cudaStream_t)stream);
}

template <typename T>
static int cu_lowrank_step(const T *U, const T *V, int64_t ldf, int64_t r, const double *pg,
                           int64_t ldpg, const double *lp, int64_t ldpi, const double *lr,
                           int64_t ldref, int64_t batch, int64_t k, double a, double b, double c,
                           double *out, int64_t ldo, double *po, int64_t ldpo, void *stream)
{
    int st = nashmp_cuchk_opstep(batch, k, pg, ldpg, lp, ldpi, lr, ldref, out, ldo, po, ldpo, a,
                                 b, c);
    if (st == NASHMP_OK)
        st = nashmp_cuchk_lowrank(U, V, ldf, r, k, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    st = cu_lowrank_g<T, double, double>(U, V, ldf, r, pg, ldpg, batch, k, out, ldo,
                                         (cudaStream_t)stream);
    if (st != NASHMP_OK)
        return st;
    return cu_opstep_finish(lp, ldpi, lr, ldref, batch, k, a, b, c, out, ldo, po, ldpo, stream);
}

template <typename T>
static int cu_bt_apply(const T *sc, const T *pi, int64_t ldpi, int64_t batch, int64_t k, T *out,
                       int64_t ldo, void *stream)
{
    int st = nashmp_cuchk_rowmap(pi, batch, k, ldpi, out, ldo, sizeof(T));
    if (st == NASHMP_OK)
        st = nashmp_cuchk_scores(sc, k, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    return cu_bt_g<T, T, T>(sc, pi, ldpi, batch, k, out, ldo, (cudaStream_t)stream);
}

template <typename T>
static int cu_bt_step(const T *sc, const double *pg, int64_t ldpg, const double *lp,
                      int64_t ldpi, const double *lr, int64_t ldref, int64_t batch, int64_t k,
                      double a, double b, double c, double *out, int64_t ldo, double *po,
                      int64_t ldpo, void *stream)
{
    int st = nashmp_cuchk_opstep(batch, k, pg, ldpg, lp, ldpi, lr, ldref, out, ldo, po, ldpo, a,
                                 b, c);
    if (st == NASHMP_OK)
        st = nashmp_cuchk_scores(sc, k, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    st = cu_bt_g<T, double, double>(sc, pg, ldpg, batch, k, out, ldo, (cudaStream_t)stream);
    if (st != NASHMP_OK)
        return st;
    return cu_opstep_finish(lp, ldpi, lr, ldref, batch, k, a, b, c, out, ldo, po, ldpo, stream);
}

template <typename T>
static int cu_packed_apply(const T *Pu, const T *pi, int64_t ldpi, int64_t batch, int64_t k,
                           T *out, int64_t ldo, void *stream)
{
    int st = nashmp_cuchk_rowmap(pi, batch, k, ldpi, out, ldo, sizeof(T));
    if (st == NASHMP_OK)
        st = nashmp_cuchk_packed(Pu, k, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    return cu_packed_g<T, T, T>(Pu, pi, ldpi, batch, k, out, ldo, (cudaStream_t)stream);
}

template <typename T>
static int cu_packed_step(const T *Pu, const double *pg, int64_t ldpg, const double *lp,
                          int64_t ldpi, const double *lr, int64_t ldref, int64_t batch, int64_t k,
                          double a, double b, double c, double *out, int64_t ldo, double *po,
                          int64_t ldpo, void *stream)
{
    int st = nashmp_cuchk_opstep(batch, k, pg, ldpg, lp, ldpi, lr, ldref, out, ldo, po, ldpo, a,
                                 b, c);
    if (st == NASHMP_OK)
        st = nashmp_cuchk_packed(Pu, k, sizeof(T));
    if (st != NASHMP_OK || batch == 0)
        return st;
    st = cu_packed_g<T, double, double>(Pu, pg, ldpg, batch, k, out, ldo, (cudaStream_t)stream);
    if (st != NASHMP_OK)
        return st;
    return cu_opstep_finish(lp, ldpi, lr, ldref, batch, k, a, b, c, out, ldo, po, ldpo, stream);
}

#define NASHMP_CU_DEF_OPS(sfx, T)                                                               \
    extern "C" int nashmp_cuda_lowrank_apply_##sfx(const T *U, const T *V, int64_t ldf,         \
                                                   int64_t r, const T *pi, int64_t ldpi,        \
                                                   int64_t batch, int64_t k, T *out,            \
                                                   int64_t ldo, void *stream)                   \
    {                                                                                           \
        return cu_lowrank_apply<T>(U, V, ldf, r, pi, ldpi, batch, k, out, ldo, stream);         \
    }                                                                                           \
    extern "C" int nashmp_cuda_lowrank_mirror_step_##sfx(                                       \
        const T *U, const T *V, int64_t ldf, int64_t r, const double *pi_g, int64_t ldpg,       \
        const double *log_pi, int64_t ldpi, const double *log_ref, int64_t ldref, int64_t batch, \
        int64_t k, double a, double b, double c, double *out, int64_t ldo, double *pi_out,      \
        int64_t ldpo, void *stream)                                                             \
    {                                                                                           \
        return cu_lowrank_step<T>(U, V, ldf, r, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, batch, \
                                  k, a, b, c, out, ldo, pi_out, ldpo, stream);                  \
    }                                                                                           \
    extern "C" int nashmp_cuda_bradley_terry_apply_##sfx(const T *scores, const T *pi,          \
                                                         int64_t ldpi, int64_t batch, int64_t k, \
                                                         T *out, int64_t ldo, void *stream)     \
    {                                                                                           \
        return cu_bt_apply<T>(scores, pi, ldpi, batch, k, out, ldo, stream);                    \
    }                                                                                           \
    extern "C" int nashmp_cuda_bradley_terry_mirror_step_##sfx(                                 \
        const T *scores, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi,  \
        const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b,     \
        double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream)         \
    {                                                                                           \
        return cu_bt_step<T>(scores, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, batch, k, a, b,  \
                             c, out, ldo, pi_out, ldpo, stream);                                \
    }                                                                                           \
    extern "C" int nashmp_cuda_packed_apply_##sfx(const T *Pu, const T *pi, int64_t ldpi,       \
                                                  int64_t batch, int64_t k, T *out,             \
                                                  int64_t ldo, void *stream)                    \
    {                                                                                           \
        return cu_packed_apply<T>(Pu, pi, ldpi, batch, k, out, ldo, stream);                    \
    }                                                                                           \
    extern "C" int nashmp_cuda_packed_mirror_step_##sfx(                                        \
        const T *Pu, const double *pi_g, int64_t ldpg, const double *log_pi, int64_t ldpi,      \
        const double *log_ref, int64_t ldref, int64_t batch, int64_t k, double a, double b,     \
        double c, double *out, int64_t ldo, double *pi_out, int64_t ldpo, void *stream)         \
    {                                                                                           \
        return cu_packed_step<T>(Pu, pi_g, ldpg, log_pi, ldpi, log_ref, ldref, batch, k, a, b,  \
                                 c, out, ldo, pi_out, ldpo, stream);                            \
    }

NASHMP_CU_BOTH(NASHMP_CU_DEF_OPS)

#endif /* NASHMP_CUDA_OPERATORS_CUH */
