/*
 * Shared pieces of the CUDA kernels: status mapping, launch shapes and the row-group
 * reductions (a row is reduced by one warp, or by one 256-thread block for long rows).
 *
 * Every reduction is a butterfly (__shfl_xor_sync) inside the warp, then, for block rows, a
 * fixed-order combine of the 8 warp results through shared memory. The merge of ms_block.h is
 * exactly commutative, so every lane of a row ends with the same bits.
 */
#ifndef NASHMP_CUDA_COMMON_CUH
#define NASHMP_CUDA_COMMON_CUH

#include <cuda_runtime.h>

#include "nashmp/nashmp_cuda.h"

#include "cuda_checks.h"
#include "ms_block.h"

#define NASHMP_CU_BLOCK 256 /* threads per block of the row kernels */
#define NASHMP_CU_WARPS (NASHMP_CU_BLOCK / 32)
/* Rows up to this length are reduced by one warp, longer ones by a whole block. */
#define NASHMP_CU_WARP_ROW_MAX 512

static inline int nashmp_cu_status(cudaError_t e)
{
    if (e == cudaSuccess)
        return NASHMP_OK;
    if (e == cudaErrorMemoryAllocation)
        return NASHMP_ERR_NO_MEMORY;
    return NASHMP_ERR_UNSUPPORTED;
}

/* Status of the launch just made. */
static inline int nashmp_cu_launched(void)
{
    return nashmp_cu_status(cudaGetLastError());
}

/* Blocks of NASHMP_CU_BLOCK threads needed for `rows` rows of `tpr` threads each; 0 when the
 * grid would exceed the x limit (the caller returns NASHMP_ERR_OVERFLOW). */
static inline unsigned nashmp_cu_blocks(int64_t rows, int tpr)
{
    int64_t per = NASHMP_CU_BLOCK / tpr, nb = (rows + per - 1) / per;
    return nb > 2147483647 ? 0u : (unsigned)nb;
}

/* Row group of the calling thread: row index and lane within the row. */
template <int TPR>
__device__ __forceinline__ int64_t nashmp_cu_row(int *lane)
{
    *lane = (int)(threadIdx.x % TPR);
    return (int64_t)blockIdx.x * (NASHMP_CU_BLOCK / TPR) + threadIdx.x / TPR;
}

__device__ __forceinline__ nashmp_msb nashmp_cu_shfl_ms(nashmp_msb a, int o)
{
    nashmp_msb b;
    b.m = __shfl_xor_sync(0xffffffffu, a.m, o);
    b.s = __shfl_xor_sync(0xffffffffu, a.s, o);
    return b;
}

/* (max, sum) state of the whole row, in every lane. sh: NASHMP_CU_WARPS entries of shared
 * memory (used by block rows only). All threads of the row must call it. */
template <int TPR>
__device__ __forceinline__ nashmp_msb nashmp_cu_reduce_ms(nashmp_msb st, nashmp_msb *sh)
{
    int o, q;
    for (o = 16; o > 0; o >>= 1)
        st = nashmp_msb_merge(st, nashmp_cu_shfl_ms(st, o));
    if (TPR == 32)
        return st;
    if ((threadIdx.x & 31) == 0)
        sh[threadIdx.x >> 5] = st;
    __syncthreads();
    st = sh[0];
    for (q = 1; q < NASHMP_CU_WARPS; q++)
        st = nashmp_msb_merge(st, sh[q]);
    __syncthreads();
    return st;
}

/* Sum of the row (same value in every lane). */
template <int TPR>
__device__ __forceinline__ double nashmp_cu_reduce_sum(double v, double *sh)
{
    int o, q;
    for (o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if (TPR == 32)
        return v;
    if ((threadIdx.x & 31) == 0)
        sh[threadIdx.x >> 5] = v;
    __syncthreads();
    v = sh[0];
    for (q = 1; q < NASHMP_CU_WARPS; q++)
        v += sh[q];
    __syncthreads();
    return v;
}

/* Max (sign = 1) or min (sign = -1) of the row; NaN-free inputs. */
template <int TPR>
__device__ __forceinline__ double nashmp_cu_reduce_max(double v, double *sh)
{
    int o, q;
    for (o = 16; o > 0; o >>= 1) {
        double w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    if (TPR == 32)
        return v;
    if ((threadIdx.x & 31) == 0)
        sh[threadIdx.x >> 5] = v;
    __syncthreads();
    v = sh[0];
    for (q = 1; q < NASHMP_CU_WARPS; q++)
        v = sh[q] > v ? sh[q] : v;
    __syncthreads();
    return v;
}

/* OR of a flag over the row. */
template <int TPR>
__device__ __forceinline__ int nashmp_cu_reduce_or(int v, int *sh)
{
    int q;
    v = __any_sync(0xffffffffu, v) ? 1 : 0;
    if (TPR == 32)
        return v;
    if ((threadIdx.x & 31) == 0)
        sh[threadIdx.x >> 5] = v;
    __syncthreads();
    v = 0;
    for (q = 0; q < NASHMP_CU_WARPS; q++)
        v |= sh[q];
    __syncthreads();
    return v;
}

/* Launches KERNEL<T, 32> or KERNEL<T, 256> over `rows` rows depending on k; returns a status. */
#define NASHMP_CU_LAUNCH_ROWS(KERNEL, T, rows, k, stream, ...)                                  \
    do {                                                                                        \
        cudaStream_t s_ = (cudaStream_t)(stream);                                               \
        if ((k) <= NASHMP_CU_WARP_ROW_MAX) {                                                    \
            unsigned nb_ = nashmp_cu_blocks((rows), 32);                                        \
            if (nb_ == 0)                                                                       \
                return NASHMP_ERR_OVERFLOW;                                                     \
            KERNEL<T, 32><<<nb_, NASHMP_CU_BLOCK, 0, s_>>>(__VA_ARGS__);                        \
        } else {                                                                                \
            unsigned nb_ = nashmp_cu_blocks((rows), NASHMP_CU_BLOCK);                           \
            if (nb_ == 0)                                                                       \
                return NASHMP_ERR_OVERFLOW;                                                     \
            KERNEL<T, NASHMP_CU_BLOCK><<<nb_, NASHMP_CU_BLOCK, 0, s_>>>(__VA_ARGS__);           \
        }                                                                                       \
        return nashmp_cu_launched();                                                            \
    } while (0)

#endif /* NASHMP_CUDA_COMMON_CUH */
