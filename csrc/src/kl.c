/*
 * Row reductions besides log-sum-exp: KL divergence of log-probability rows, and span
 * (max - min). Both single pass, lane-parallel with a fixed combine order.
 */
#include <math.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"

#define T double
#define SFX(n) n##_f64
#define LANES NASHMP_L64
#define EXPT nashmp_exp_f64
#define TINF NASHMP_INF_F64
#define VF nashmp_v4d
#define VI nashmp_v4l
#define W 4
#define VEXP nashmp_vexp_red_f64
#define VEXP_RAW nashmp_vexp_red_raw_f64
#define EXPMIN NASHMP_EXPRED_MIN_F64
#define VSUM4(v) (v)
#define EXPMAX 709.0
#include "kl_impl.h"
#undef T
#undef SFX
#undef LANES
#undef EXPT
#undef TINF
#undef VF
#undef VI
#undef W
#undef VEXP
#undef VEXP_RAW
#undef EXPMIN
#undef VSUM4
#undef EXPMAX

#define T float
#define SFX(n) n##_f32
#define LANES NASHMP_L32
#define EXPT nashmp_exp_f32
#define TINF NASHMP_INF_F32
#define VF nashmp_v8f
#define VI nashmp_v8i
#define W 8
#define VEXP nashmp_vexp_red_f32
#define VEXP_RAW nashmp_vexp_lse_raw_f32 /* one-step reduction, see lse_block.h */
#define EXPMIN NASHMP_EXPRED_MIN_F32
#define VSUM4 nashmp_v8f_sum2_f64
#define EXPMAX 88.0f
#include "kl_impl.h"
#undef T
#undef SFX
#undef LANES
#undef EXPT
#undef TINF
#undef VF
#undef VI
#undef W
#undef VEXP
#undef VEXP_RAW
#undef EXPMIN
#undef VSUM4
#undef EXPMAX

int nashmp_kl_f64(const double *logp, int64_t ldp, const double *logq, int64_t ldq, int64_t batch,
                  int64_t k, double *out)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(logp, ldp), NASHMP_IN(logq, ldq), NASHMP_OUT1(out));
    return kl_driver_f64(logp, ldp, logq, ldq, batch, k, out);
}

int nashmp_kl_f32(const float *logp, int64_t ldp, const float *logq, int64_t ldq, int64_t batch,
                  int64_t k, float *out)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(logp, ldp), NASHMP_IN(logq, ldq), NASHMP_OUT1(out));
    return kl_driver_f32(logp, ldp, logq, ldq, batch, k, out);
}

int nashmp_span_f64(const double *x, int64_t batch, int64_t k, int64_t ldx, double *out)
{
    NASHMP_CHECK(batch, k, double, NASHMP_IN(x, ldx), NASHMP_OUT1(out));
    return span_driver_f64(x, ldx, batch, k, out);
}

int nashmp_span_f32(const float *x, int64_t batch, int64_t k, int64_t ldx, float *out)
{
    NASHMP_CHECK(batch, k, float, NASHMP_IN(x, ldx), NASHMP_OUT1(out));
    return span_driver_f32(x, ldx, batch, k, out);
}
