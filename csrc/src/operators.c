/*
 * Dense preference operator g = P pi per game (memory-bound matvec; for a P shared by several
 * games, a blocked matrix product that reads each P tile once per thread for all games).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"

#define NASHMP_DOT_LANES 8
#define NASHMP_DOT_COMBINE(s) (((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])))
#ifdef NASHMP_VEXT
/* pa_keep + n: lane l all ones when l >= 8 - n (the last n of 8 columns) */
static const int64_t pa_keep[16] = {0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1};
#endif
/* Output rows per work item (per-game P): 64 rows of P per item. */
#define NASHMP_PA_ROWS 64
/* Bytes of a shared-P tile kept in cache while the game blocks run over it. */
#define NASHMP_PA_TILE_BYTES (256.0 * 1024.0)

/* Tile side of the preference-matrix check: a tile and its transposed partner in L2 */
#define PC_TB 128
#ifdef NASHMP_VEXT
typedef float nashmp_v4f __attribute__((vector_size(16)));
typedef int32_t nashmp_v4i __attribute__((vector_size(16)));
#endif

#define T double
#define SFX(n) n##_f64
#define PC_VT nashmp_v4d
#define PC_VI nashmp_v4l
#define PC_ABS 0x7fffffffffffffffll
#include "operators_impl.h"
#undef T
#undef SFX
#undef PC_VT
#undef PC_VI
#undef PC_ABS

#define T float
#define SFX(n) n##_f32
#define PC_VT nashmp_v4f
#define PC_VI nashmp_v4i
#define PC_ABS 0x7fffffff
#include "operators_impl.h"
#undef T
#undef SFX
#undef PC_VT
#undef PC_VI
#undef PC_ABS

int nashmp_preference_apply_f64(const double *P, int64_t ldP, const double *pi, int64_t ldpi,
                                int64_t batch, int64_t k, double *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, double, {(const void *)P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE},
                 NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    if (nashmp_pref_overlap(P, ldP, pi, ldpi, batch, k, out, ldo, sizeof(*out)))
        return NASHMP_ERR_OVERLAP;
    return pa_driver_f64(P, ldP, pi, ldpi, batch, k, out, ldo);
}

int nashmp_preference_apply_f32(const float *P, int64_t ldP, const float *pi, int64_t ldpi,
                                int64_t batch, int64_t k, float *out, int64_t ldo)
{
    NASHMP_CHECK(batch, k, float, {(const void *)P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE},
                 NASHMP_IN(pi, ldpi), NASHMP_OUT(out, ldo));
    if (nashmp_pref_overlap(P, ldP, pi, ldpi, batch, k, out, ldo, sizeof(*out)))
        return NASHMP_ERR_OVERLAP;
    return pa_driver_f32(P, ldP, pi, ldpi, batch, k, out, ldo);
}

int nashmp_preference_check_f64(const double *P, int64_t ldP, int64_t batch, int64_t k,
                                double *out)
{
    if (out == NULL)
        return NASHMP_ERR_NULL_POINTER;
    NASHMP_CHECK(batch, k, double, {(const void *)P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE});
    if (batch == 0) {
        out[0] = 0.0;
        out[1] = NASHMP_INF_F64;
        out[2] = -NASHMP_INF_F64;
        return NASHMP_OK;
    }
    return pc_driver_f64(P, ldP, batch, k, out, NULL);
}

int nashmp_preference_check_f32(const float *P, int64_t ldP, int64_t batch, int64_t k,
                                double *out)
{
    if (out == NULL)
        return NASHMP_ERR_NULL_POINTER;
    NASHMP_CHECK(batch, k, float, {(const void *)P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE});
    if (batch == 0) {
        out[0] = 0.0;
        out[1] = NASHMP_INF_F64;
        out[2] = -NASHMP_INF_F64;
        return NASHMP_OK;
    }
    return pc_driver_f32(P, ldP, batch, k, out, NULL);
}

int nashmp_preference_antisymmetrize_f64(const double *P, int64_t ldP, int64_t batch, int64_t k,
                                         double *out, double *check)
{
    if (out == NULL || check == NULL)
        return NASHMP_ERR_NULL_POINTER;
    NASHMP_CHECK(batch, k, double, {(const void *)P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE});
    if (batch == 0) {
        check[0] = check[3] = 0.0;
        check[1] = NASHMP_INF_F64;
        check[2] = -NASHMP_INF_F64;
        return NASHMP_OK;
    }
    return pc_driver_f64(P, ldP, batch, k, check, out);
}

int nashmp_preference_antisymmetrize_f32(const float *P, int64_t ldP, int64_t batch, int64_t k,
                                         float *out, double *check)
{
    if (out == NULL || check == NULL)
        return NASHMP_ERR_NULL_POINTER;
    NASHMP_CHECK(batch, k, float, {(const void *)P, ldP, NASHMP_ARR_IN | NASHMP_ARR_SQUARE});
    if (batch == 0) {
        check[0] = check[3] = 0.0;
        check[1] = NASHMP_INF_F64;
        check[2] = -NASHMP_INF_F64;
        return NASHMP_OK;
    }
    return pc_driver_f32(P, ldP, batch, k, check, out);
}
