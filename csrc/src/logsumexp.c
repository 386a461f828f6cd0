/*
 * logsumexp, log_softmax, softmax over the last axis (f64 and f32).
 *
 * One pass over memory per row: the row is read in blocks of NASHMP_LSE_CHUNK elements; for
 * each block the max is taken, the running sum is rescaled if the max grew, and exp(x - max) is
 * accumulated (double lanes; f32 evaluates exp in float). log_softmax / softmax then write the
 * output from the (max, sum) pair. NaN / +inf inputs are detected from the block max (+inf) and
 * from the NaN-propagating exp sum (NaN) at no extra pass. logsumexp of short rows
 * (k <= NASHMP_SMALL_K) runs 4 (double) / 8 (float) rows at once, one row per lane of the
 * reductions (nashmp_lse4_f64 / nashmp_lse8_f32 in lse_block.h). logsumexp of rows of 64 to
 * NASHMP_LSE_CHUNK elements takes each row's max inside the previous row's exp loop (LSESUM_MAX):
 * the max pass no longer stalls the exp pipes (1000x1000: -10%, same bits).
 */
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"

#define T double
#define SFX(n) n##_f64
#define TILE_LSE nashmp_tile_lse_f64
#define EXPSUM nashmp_chunk_expsum_f64
#define CHUNKMAX nashmp_chunk_max_f64
#define SMALL_LSE nashmp_lse4_f64
#define SMALL_G 4
#ifdef NASHMP_VEXT
#define LSESUM_MAX nashmp_chunk_sumexp_max_f64
#define NASHMP_TILE_MAX NASHMP_TILE_MAX_F64
#define TILE_SUM nashmp_chunk_sumexp_f64
#endif
#include "logsumexp_impl.h"
#undef T
#undef SFX
#undef TILE_LSE
#undef EXPSUM
#undef CHUNKMAX
#undef SMALL_LSE
#undef SMALL_G
#undef LSESUM_MAX
#undef NASHMP_TILE_MAX
#undef TILE_SUM

#define T float
#define SFX(n) n##_f32
#define TILE_LSE nashmp_tile_lse_f32
#define EXPSUM nashmp_chunk_expsum_f32
#define CHUNKMAX nashmp_chunk_max_f32
#define SMALL_LSE nashmp_lse8_f32
#define SMALL_G 8
#ifdef NASHMP_VEXT
#define LSESUM_MAX nashmp_chunk_lsesum_max_f32
#define NASHMP_TILE_MAX NASHMP_TILE_MAX_F32
#define TILE_SUM NASHMP_TILE_SUM_F32
#endif
#include "logsumexp_impl.h"
#undef T
#undef SFX
#undef TILE_LSE
#undef EXPSUM
#undef CHUNKMAX
#undef SMALL_LSE
#undef SMALL_G
#undef LSESUM_MAX
#undef NASHMP_TILE_MAX
#undef TILE_SUM

int nashmp_logsumexp_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(x, ldx), NASHMP_OUT1(out));
    return lse_driver_f64(x, batch, k, ldx, out, 1, MODE_LSE_f64);
}

int nashmp_logsumexp_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(x, ldx), NASHMP_OUT1(out));
    return lse_driver_f32(x, batch, k, ldx, out, 1, MODE_LSE_f32);
}

int nashmp_log_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out,
                           int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(x, ldx), NASHMP_OUT(out, ldo));
    return lse_driver_f64(x, batch, k, ldx, out, ldo, MODE_LOGSM_f64);
}

int nashmp_log_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out,
                           int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(x, ldx), NASHMP_OUT(out, ldo));
    return lse_driver_f32(x, batch, k, ldx, out, ldo, MODE_LOGSM_f32);
}

int nashmp_softmax_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out,
                       int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(x, ldx), NASHMP_OUT(out, ldo));
    return lse_driver_f64(x, batch, k, ldx, out, ldo, MODE_SM_f64);
}

int nashmp_softmax_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out,
                       int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(x, ldx), NASHMP_OUT(out, ldo));
    return lse_driver_f32(x, batch, k, ldx, out, ldo, MODE_SM_f32);
}
