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

/*
 * Fast path of kl_row for rows without special values: per element the unmasked exp_red core,
 * one subtract, one product masked to 0 where p_j < EXPMIN (p_j = -inf included: the term is 0,
 * or below the smallest normal of T), and two cheap checks; the row falls back to kl_row (returns
 * nonzero, *res unspecified) when
 *   - some p_j is NaN or > EXPMAX (exp_red would overflow): flagged per lane;
 *   - the running sum of the q_j is not finite: q_j NaN or +-inf somewhere (q_j = -inf is legal
 *     but needs kl_row's care: +inf when p_j > 0; an overflow of large q_j is a false alarm);
 *   - the sum is not finite.
 * A finite sum with no alarm is what kl_row computes up to the summation order and the flush of
 * terms with p_j < EXPMIN. The terms are in T; float terms are summed in float over at most 32
 * elements (4 vectors), then in double lanes.
 */
NASHMP_INLINE int SFX(kl_row_fast)(const T *NASHMP_RESTRICT p, const T *NASHMP_RESTRICT q,
                                   int64_t k, double *res)
{
    nashmp_v4d acc = {0.0, 0.0, 0.0, 0.0};
    VF acc0, acc1, a0, b0, a1, b1, qs, zero;
    VI flag;
    int64_t j = 0;
    int l;
    for (l = 0; l < W; l++) {
        acc0[l] = acc1[l] = zero[l] = qs[l] = (T)0;
        flag[l] = 0;
    }
#define KL_TERM(A, B) ((VF)((VI)(VEXP_RAW(A) * ((A) - (B))) & ((A) >= EXPMIN)))
    if (W == 8) /* float: 32 elements per step, folded into double at once (same order) */
        for (; j + 4 * W <= k; j += 4 * W) {
            VF a2, b2, a3, b3;
            memcpy(&a0, p + j, sizeof a0);
            memcpy(&b0, q + j, sizeof b0);
            memcpy(&a1, p + j + W, sizeof a1);
            memcpy(&b1, q + j + W, sizeof b1);
            memcpy(&a2, p + j + 2 * W, sizeof a2);
            memcpy(&b2, q + j + 2 * W, sizeof b2);
            memcpy(&a3, p + j + 3 * W, sizeof a3);
            memcpy(&b3, q + j + 3 * W, sizeof b3);
            flag |= (~(a0 <= EXPMAX) | ~(a1 <= EXPMAX)) | (~(a2 <= EXPMAX) | ~(a3 <= EXPMAX));
            qs += (b0 + b1) + (b2 + b3);
            acc += VSUM4((KL_TERM(a0, b0) + KL_TERM(a2, b2)) + (KL_TERM(a1, b1) + KL_TERM(a3, b3)));
        }
    for (; j + 2 * W <= k; j += 2 * W) {
        memcpy(&a0, p + j, sizeof a0);
        memcpy(&b0, q + j, sizeof b0);
        memcpy(&a1, p + j + W, sizeof a1);
        memcpy(&b1, q + j + W, sizeof b1);
        flag |= ~(a0 <= EXPMAX) | ~(a1 <= EXPMAX); /* NaN, +inf, or exp overflow */
        qs += b0 + b1;
        acc0 += KL_TERM(a0, b0);
        acc1 += KL_TERM(a1, b1);
        if (W == 8 && (j & (4 * W - 1)) == 2 * W) { /* float: every 32 elements, fold the */
            acc += VSUM4(acc0 + acc1);               /* float partial sums into double */
            acc0 = zero;
            acc1 = zero;
        }
    }
    for (; j < k; j += W) { /* < 2W left: full vector, or the last W with lanes before j off */
        if (j + W <= k) {
            memcpy(&a0, p + j, sizeof a0);
            memcpy(&b0, q + j, sizeof b0);
        } else if (k >= W) {
            VI lane, keep;
            for (l = 0; l < W; l++)
                lane[l] = l;
            keep = lane >= (int)(W - (k - j));
            memcpy(&a0, p + k - W, sizeof a0);
            memcpy(&b0, q + k - W, sizeof b0);
            a0 = NASHMP_VSEL(VI, VF, keep, a0, zero - TINF); /* off lanes: p = -inf */
            b0 = (VF)((VI)b0 & keep);
        } else {
            T pa[W], pb[W];
            for (l = 0; l < W; l++) {
                pa[l] = j + l < k ? p[j + l] : -TINF;
                pb[l] = j + l < k ? q[j + l] : (T)0;
            }
            memcpy(&a0, pa, sizeof a0);
            memcpy(&b0, pb, sizeof b0);
        }
        flag |= ~(a0 <= EXPMAX);
        qs += b0;
        acc0 += KL_TERM(a0, b0);
    }
#undef KL_TERM
    acc += VSUM4(acc0 + acc1);
    for (l = 0; l < W; l++)
        if (flag[l] || !(qs[l] - qs[l] == (T)0))
            return 1;
    *res = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    return !(*res - *res == 0.0);
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
    for (i = r0; i < r1; i++) {
        const T *pi = p + i * ldp, *qi = q + i * ldq;
        double r;
#ifdef NASHMP_VEXT
        if (SFX(kl_row_fast)(pi, qi, k, &r) != 0)
#endif
            r = SFX(kl_row)(pi, qi, k, &bad);
        out[i] = (T)r;
    }
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
