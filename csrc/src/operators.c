/*
 * Dense preference operator g = P pi per game (memory-bound matvec; for a P shared by several
 * games, a blocked matrix product that reads each P tile once per thread for all games).
 */
#include <math.h>

#include "common.h"
#include "exp_block.h"

#define NASHMP_DOT_LANES 8
#define NASHMP_DOT_COMBINE(s) (((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])))
/* Output rows per work item (per-game P): 64 rows of P per item. */
#define NASHMP_PA_ROWS 64
/* Bytes of a shared-P tile kept in cache while the game blocks run over it. */
#define NASHMP_PA_TILE_BYTES (256.0 * 1024.0)

#define T double
#define SFX(n) n##_f64
#include "operators_impl.h"
#undef T
#undef SFX

#define T float
#define SFX(n) n##_f32
#include "operators_impl.h"
#undef T
#undef SFX

int nashmp_preference_apply_f64(const double *P, int64_t ldP, const double *pi, int64_t ldpi,
                                int64_t batch, int64_t k, double *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, {(const void *)P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE},
                 NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    return pa_driver_f64(P, ldP, pi, ldpi, batch, k, out, ldo);
}

int nashmp_preference_apply_f32(const float *P, int64_t ldP, const float *pi, int64_t ldpi,
                                int64_t batch, int64_t k, float *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, {(const void *)P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE},
                 NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    return pa_driver_f32(P, ldP, pi, ldpi, batch, k, out, ldo);
}
