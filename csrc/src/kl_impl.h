/*
 * Template for kl and span, included by kl.c once per dtype with
 *   T, SFX(n), LANES (NASHMP_L64 / NASHMP_L32), EXPT (exp in T), TINF (+inf in T),
 *   and for the vector path VF / VI / W (vector type, same-size integer vector, lanes),
 *   VEXP (nashmp_vexp_red_*), VSUM4 (vector of T -> 4 double lanes), EXPMAX (largest argument
 *   of VEXP).
 */

#ifdef NASHMP_VEXT
/*
 * KL of one row: sum_j exp(p_j) (p_j - q_j). Terms in T (exp_red, one product), summed in 4
 * double lanes, W elements per step, the tail padded (p = -inf, q = 0: term 0). Special values:
 * p_j = -inf -> 0; q_j = -inf (p_j > -inf) -> +inf; p_j > EXPMAX (exp overflows) -> +inf.
 * *bad set on NaN / +inf input.
 */
NASHMP_INLINE double SFX(kl_row)(const T *NASHMP_RESTRICT p, const T *NASHMP_RESTRICT q,
                                 int64_t k, int *bad)
{
    nashmp_v4d acc = {0.0, 0.0, 0.0, 0.0};
    VI flag, zero, pinf;
    VF a, b, t;
    int64_t j;
    int l;
    for (l = 0; l < W; l++) {
        zero[l] = 0;
        t[l] = TINF;
    }
    flag = zero;
    memcpy(&pinf, &t, sizeof pinf);
    for (j = 0; j < k; j += W) {
        VI a_ninf, to_inf;
        if (j + W <= k) {
            memcpy(&a, p + j, sizeof a);
            memcpy(&b, q + j, sizeof b);
        } else {
            T pa[W], pb[W];
            for (l = 0; l < W; l++) {
                pa[l] = j + l < k ? p[j + l] : -TINF;
                pb[l] = j + l < k ? q[j + l] : (T)0;
            }
            memcpy(&a, pa, sizeof a);
            memcpy(&b, pb, sizeof b);
        }
        flag |= ~((a < TINF) & (b < TINF)); /* NaN or +inf */
        a_ninf = a == -TINF;
        to_inf = ~a_ninf & ((b == -TINF) | (a > EXPMAX));
        t = VEXP(a) * (a - b);
        t = (VF)((VI)t & ~a_ninf);
        t = NASHMP_VSEL(VI, VF, to_inf, pinf, t);
        acc += VSUM4(t);
    }
    for (l = 0; l < W; l++)
        if (flag[l])
            *bad = 1;
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}
#else
/* KL of one row: sum_j exp(p_j) (p_j - q_j), double lanes. *bad set on NaN / +inf input. */
NASHMP_INLINE double SFX(kl_row)(const T *NASHMP_RESTRICT p, const T *NASHMP_RESTRICT q,
                                 int64_t k, int *bad)
{
    double s[LANES], r;
    T f[LANES];
    int64_t j = 0;
    int l, w;
    for (l = 0; l < LANES; l++) {
        s[l] = 0.0;
        f[l] = 0;
    }
#define NASHMP_KL_TERM(a, b, acc, flag)                                                        \
    do {                                                                                       \
        T a_ = (a), b_ = (b);                                                                  \
        double t_ = a_ == -TINF ? 0.0                                                          \
                    : b_ == -TINF ? (double)TINF                                               \
                                  : (double)EXPT(a_) * ((double)a_ - (double)b_);              \
        (acc) += t_;                                                                           \
        (flag) = ((a_ < TINF) & (b_ < TINF)) ? (flag) : (T)1;                                   \
    } while (0)
    for (; j + LANES <= k; j += LANES)
        for (l = 0; l < LANES; l++)
            NASHMP_KL_TERM(p[j + l], q[j + l], s[l], f[l]);
    for (; j < k; j++)
        NASHMP_KL_TERM(p[j], q[j], s[j % LANES], f[j % LANES]);
#undef NASHMP_KL_TERM
    for (w = LANES / 2; w >= 1; w /= 2)
        for (l = 0; l < w; l++) {
            s[l] += s[l + w];
            f[l] = f[l] != 0 ? f[l] : f[l + w];
        }
    r = s[0];
    if (f[0] != 0)
        *bad = 1;
    return r;
}
#endif

NASHMP_HOT static int SFX(kl_rows)(const T *p, int64_t ldp, const T *q, int64_t ldq, int64_t k,
                                   int64_t r0, int64_t r1, T *out)
{
    int bad = 0;
    int64_t i;
    for (i = r0; i < r1; i++)
        out[i] = (T)SFX(kl_row)(p + i * ldp, q + i * ldq, k, &bad);
    return bad;
}

NASHMP_HOT static int SFX(span_rows)(const T *x, int64_t ldx, int64_t k, int64_t r0, int64_t r1,
                                     T *out)
{
    int bad = 0;
    int64_t i;
    for (i = r0; i < r1; i++) {
        T a, b;
        SFX(nashmp_chunk_maxmin)(x + i * ldx, k, 1, &a, &b);
        if (a != a || a == TINF) {
            bad = 1;
            out[i] = (T)NASHMP_NAN_F64;
        } else {
            out[i] = a == -TINF ? (T)0 : (T)((double)a - (double)b);
        }
    }
    return bad;
}

static int SFX(kl_driver)(const T *p, int64_t ldp, const T *q, int64_t ldq, int64_t batch,
                          int64_t k, T *out)
{
    int bad = 0, nt = nashmp_threads_for(2.0 * (double)batch * (double)k);
    if (nt == 1) /* no OpenMP region: even a serialized one costs ~0.5 us */
        bad = SFX(kl_rows)(p, ldp, q, ldq, k, 0, batch, out);
    else
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
    {
        int64_t r0, r1;
        nashmp_split(batch, &r0, &r1);
        bad |= SFX(kl_rows)(p, ldp, q, ldq, k, r0, r1, out);
    }
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}

static int SFX(span_driver)(const T *x, int64_t ldx, int64_t batch, int64_t k, T *out)
{
    int bad = 0, nt = nashmp_threads_for(0.25 * (double)batch * (double)k);
    if (nt == 1) /* no OpenMP region: even a serialized one costs ~0.5 us */
        bad = SFX(span_rows)(x, ldx, k, 0, batch, out);
    else
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
    {
        int64_t r0, r1;
        nashmp_split(batch, &r0, &r1);
        bad |= SFX(span_rows)(x, ldx, k, r0, r1, out);
    }
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}
