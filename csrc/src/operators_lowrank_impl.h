/* Template of operators_lowrank.c, included once per dtype with T and SFX(n). */

/* Pass 1 over rows [i0, i1): part[0..r) += V^T pi, part[r..2r) += U^T pi, part[2r] += sum pi.
 * Always inlined into lr_pass1, which calls it with r known at compile time for common ranks
 * (accumulators then stay in registers). */
NASHMP_INLINE void SFX(lr_pass1_body)(const T *U, const T *V, int64_t ldf, int64_t r,
                                      const double *pid, int64_t i0, int64_t i1, double *part)
{
    int64_t i, q;
    double *pv = part, *pu = part + r, s = 0.0;
    for (q = 0; q < 2 * r; q++)
        part[q] = 0.0;
    for (i = i0; i < i1; i++) {
        const T *Ui = U + i * ldf, *Vi = V + i * ldf;
        const double p = pid[i];
        for (q = 0; q < r; q++) {
            pv[q] += (double)Vi[q] * p;
            pu[q] += (double)Ui[q] * p;
        }
        s += p;
    }
    part[2 * r] = s;
}

NASHMP_INLINE void SFX(lr_pass1_fixed)(const T *U, const T *V, int64_t ldf, int64_t r,
                                       const double *pid, int64_t i0, int64_t i1, double *part)
{
    /* r <= LR_FIXED_MAX. Blocks of LR_BLOCK rows are summed in T (registers when r is a
     * constant: float data needs no conversion per element), each block's sums then added to
     * double accumulators, so the error does not grow with k. */
    double pv[LR_FIXED_MAX], pu[LR_FIXED_MAX], s = 0.0;
    int64_t i, q, b0;
    for (q = 0; q < r; q++)
        pv[q] = pu[q] = 0.0;
    for (b0 = i0; b0 < i1; b0 += LR_BLOCK) {
        const int64_t b1 = b0 + LR_BLOCK < i1 ? b0 + LR_BLOCK : i1;
        T bv[LR_FIXED_MAX], bu[LR_FIXED_MAX];
#ifdef NASHMP_VEXT
        if (r % LR_W == 0) { /* as vectors, even and odd rows apart (two dependency chains;
                                named accumulators: an indexed pair would live in memory) */
            LR_VT v0[LR_FIXED_MAX / LR_W], u0[LR_FIXED_MAX / LR_W], v1[LR_FIXED_MAX / LR_W],
                u1[LR_FIXED_MAX / LR_W], x;
            const int64_t nv = r / LR_W;
            double s0 = 0.0, s1 = 0.0;
            for (q = 0; q < nv; q++)
                v0[q] = u0[q] = v1[q] = u1[q] = (LR_VT){0};
            for (i = b0; i < b1; i += 2) {
                const T *Ui = U + i * ldf, *Vi = V + i * ldf;
                const T p = (T)pid[i];
                for (q = 0; q < nv; q++) {
                    memcpy(&x, Vi + q * LR_W, sizeof x);
                    v0[q] += x * p;
                    memcpy(&x, Ui + q * LR_W, sizeof x);
                    u0[q] += x * p;
                }
                s0 += pid[i];
                if (i + 1 < b1) {
                    const T p1 = (T)pid[i + 1];
                    Ui += ldf;
                    Vi += ldf;
                    for (q = 0; q < nv; q++) {
                        memcpy(&x, Vi + q * LR_W, sizeof x);
                        v1[q] += x * p1;
                        memcpy(&x, Ui + q * LR_W, sizeof x);
                        u1[q] += x * p1;
                    }
                    s1 += pid[i + 1];
                }
            }
            for (q = 0; q < nv; q++) {
                v0[q] += v1[q];
                u0[q] += u1[q];
            }
            s += s0 + s1;
            memcpy(bv, v0, (size_t)r * sizeof(T));
            memcpy(bu, u0, (size_t)r * sizeof(T));
        } else
#endif
        {
            for (q = 0; q < r; q++)
                bv[q] = bu[q] = (T)0;
            for (i = b0; i < b1; i++) {
                const T *Ui = U + i * ldf, *Vi = V + i * ldf;
                const T p = (T)pid[i];
                for (q = 0; q < r; q++) {
                    bv[q] += Vi[q] * p;
                    bu[q] += Ui[q] * p;
                }
                s += pid[i];
            }
        }
        for (q = 0; q < r; q++) {
            pv[q] += (double)bv[q];
            pu[q] += (double)bu[q];
        }
    }
    for (q = 0; q < r; q++) {
        part[q] = pv[q];
        part[r + q] = pu[q];
    }
    part[2 * r] = s;
}

NASHMP_HOT static void SFX(lr_pass1)(const T *U, const T *V, int64_t ldf, int64_t r,
                                     const double *pid, int64_t i0, int64_t i1, double *part)
{
    if (r == 16)
        SFX(lr_pass1_fixed)(U, V, ldf, 16, pid, i0, i1, part);
    else if (r == 8)
        SFX(lr_pass1_fixed)(U, V, ldf, 8, pid, i0, i1, part);
    else if (r == 32)
        SFX(lr_pass1_fixed)(U, V, ldf, 32, pid, i0, i1, part);
    else if (r <= LR_FIXED_MAX)
        SFX(lr_pass1_fixed)(U, V, ldf, r, pid, i0, i1, part);
    else
        SFX(lr_pass1_body)(U, V, ldf, r, pid, i0, i1, part);
}

/* g_y = S/2 + u_y.qv - v_y.qu for rows [i0, i1) into g[i0..i1). The per-row dot (r terms, an
 * error that does not grow with k) is computed in the data type T: qv, qu are given in T. */
NASHMP_INLINE void SFX(lr_rows)(const T *U, const T *V, int64_t ldf, int64_t r, const T *qv,
                                const T *qu, double half, int64_t i0, int64_t i1, double *g)
{
    int64_t i = i0, q;
    int l;
#ifdef NASHMP_VEXT
    if (r % 8 == 0)
        for (; i + LR_GROUP <= i1; i += LR_GROUP)
            SFX(lr_rows_group)(U + i * ldf, V + i * ldf, ldf, r, qv, qu, half, g + i);
#endif
    for (; i < i1; i++) {
        const T *Ui = U + i * ldf, *Vi = V + i * ldf;
        T s[LR_LANES];
        for (l = 0; l < LR_LANES; l++)
            s[l] = (T)0;
        for (q = 0; q + LR_LANES <= r; q += LR_LANES)
            for (l = 0; l < LR_LANES; l++)
                s[l] += Ui[q + l] * qv[q + l] - Vi[q + l] * qu[q + l];
        for (; q < r; q++)
            s[q % LR_LANES] += Ui[q] * qv[q] - Vi[q] * qu[q];
        g[i] = half + (double)(((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])));
    }
}

/*
 * Pass 2 (g = S/2 + U qv - V qu; fused: z and each chunk's (max, sum)) over chunks [c0, c1), in
 * sub-blocks of LR_SUB rows (the blocks of nashmp_tile_lse_f64: the chunk states are its). Before
 * the work on a sub-block's z, the next LR_PF rows are prefetched, so that memory keeps streaming.
 * sub != NULL: also the moments of exp(z) per sub-block, from its rows still in cache, into sub
 * (2r+2 values each: sum w v_i, sum w u_i, sum w, and m, with w = exp(z - m), m the running max
 * of the chunk's z; zero sums when m = -inf). A row whose z holds NaN or +inf is invalid (its
 * chunk state is NaN); its moments are then not used.
 */
NASHMP_INLINE void SFX(lr_pass2_body)(const T *U, const T *V, int64_t ldf, int64_t r,
                                      const double *q, const T *qt, int64_t c0, int64_t c1,
                                      int64_t k, double *g, const double *lp, const double *lr,
                                      double a, double b, double c, nashmp_ms *ms, double *sub)
{
    const int64_t w = 2 * r + 1;
    double wt[LR_SUB];
    int64_t ch, s0, qq, i, o;
    for (ch = c0; ch < c1; ch++) {
        const int64_t j0 = ch * LR_CHUNK, j1 = j0 + LR_CHUNK < k ? j0 + LR_CHUNK : k;
        nashmp_ms st = nashmp_ms_init();
        int bad = 0;
        for (s0 = j0; s0 < j1; s0 += LR_SUB) {
            const int64_t s1 = s0 + LR_SUB < j1 ? s0 + LR_SUB : j1;
            const int64_t pe = s1 + LR_PF < k ? s1 + LR_PF : k;
            double *slot = sub ? sub + s0 / LR_SUB * (w + 1) : NULL;
            SFX(lr_rows)(U, V, ldf, r, qt, qt + r, 0.5 * q[2 * r], s0, s1, g);
            if (!ms)
                continue;
            for (i = s1; i < pe; i++)
                for (o = 0; o < r; o += 64 / (int64_t)sizeof(T)) {
                    __builtin_prefetch(U + i * ldf + o, 0, 2);
                    __builtin_prefetch(V + i * ldf + o, 0, 2);
                }
            /* fused: z, the chunk's online (max, sum), and the moments, while rows are cached */
            nashmp_opf_z(lp ? lp + s0 : NULL, lr ? lr + s0 : NULL, g + s0, s1 - s0, a, b, c);
            if (!bad)
                bad = nashmp_tile_lse_block_f64(&st, g + s0, s1 - s0, slot ? wt : NULL);
            if (slot) {
                slot[w] = bad ? -NASHMP_INF_F64 : st.m;
                if (slot[w] > -NASHMP_INF_F64)
                    SFX(lr_pass1)(U + s0 * ldf, V + s0 * ldf, ldf, r, wt, 0, s1 - s0, slot);
                else
                    for (qq = 0; qq < w; qq++)
                        slot[qq] = 0.0;
            }
        }
        if (ms)
            ms[ch] = st;
    }
}

/* Pass 2 with the rank a compile-time constant (unrolled dots, accumulators in registers) for
 * the common ranks. Separate functions: two inlined calls that differ only in r would be merged
 * back into one with the runtime r (measured: 9.8 against 6.3 ms at k = 1e6, r = 16, float). */
#define LR_PASS2_ARGS                                                                          \
    const T *U, const T *V, int64_t ldf, int64_t r, const double *q, const T *qt, int64_t c0, \
        int64_t c1, int64_t k, double *g, const double *lp, const double *lr, double a,        \
        double b, double c, nashmp_ms *ms, double *sub
#define LR_PASS2_RANK(R)                                                                       \
    NASHMP_HOT static void SFX(lr_pass2_r##R)(LR_PASS2_ARGS)                                   \
    {                                                                                          \
        (void)r;                                                                               \
        SFX(lr_pass2_body)(U, V, ldf, R, q, qt, c0, c1, k, g, lp, lr, a, b, c, ms, sub);      \
    }
LR_PASS2_RANK(8)
LR_PASS2_RANK(16)
LR_PASS2_RANK(32)
NASHMP_HOT static void SFX(lr_pass2_any)(LR_PASS2_ARGS)
{
    SFX(lr_pass2_body)(U, V, ldf, r, q, qt, c0, c1, k, g, lp, lr, a, b, c, ms, sub);
}
#undef LR_PASS2_RANK
#undef LR_PASS2_ARGS

static void SFX(lr_pass2)(const T *U, const T *V, int64_t ldf, int64_t r, const double *q,
                          const T *qt, int64_t c0, int64_t c1, int64_t k, double *g,
                          const double *lp, const double *lr, double a, double b, double c,
                          nashmp_ms *ms, double *sub)
{
    void (*f)(const T *, const T *, int64_t, int64_t, const double *, const T *, int64_t,
              int64_t, int64_t, double *, const double *, const double *, double, double,
              double, nashmp_ms *, double *) = r == 16  ? SFX(lr_pass2_r16)
                                               : r == 8  ? SFX(lr_pass2_r8)
                                               : r == 32 ? SFX(lr_pass2_r32)
                                                         : SFX(lr_pass2_any);
    f(U, V, ldf, r, q, qt, c0, c1, k, g, lp, lr, a, b, c, ms, sub);
}

/* One game: g (double) from pid (double), or from its moments qin (2r+1 values, pass 1 skipped).
 * ms != NULL: fused (g becomes z, chunk states). sub != NULL: the moments of exp(z) per
 * sub-block (lr_pass2). */
static int SFX(lr_game)(const T *U, const T *V, int64_t ldf, int64_t r, const double *pid,
                        const double *qin, int64_t k, double *g, double *parts, const double *lp,
                        const double *lr, double a, double b, double c, nashmp_ms *ms,
                        double *sub)
{
    int64_t nch = (k + LR_CHUNK - 1) / LR_CHUNK, ch, q;
    int64_t w = 2 * r + 1;
    int nt = nashmp_threads_for(2.0 * (double)k * (double)r);
    double *tot = parts + nch * w;
    T *qt = (T *)(tot + w); /* q in the data type, for the per-row dots */
    if (qin) {
        for (q = 0; q < w; q++)
            tot[q] = qin[q];
    } else {
        if (nt <= 1 || nch < 2) {
            for (ch = 0; ch < nch; ch++)
                SFX(lr_pass1)(U, V, ldf, r, pid, ch * LR_CHUNK,
                              (ch + 1) * LR_CHUNK < k ? (ch + 1) * LR_CHUNK : k, parts + ch * w);
        } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
            {
                int64_t c0, c1, cc;
                nashmp_split(nch, &c0, &c1);
                for (cc = c0; cc < c1; cc++)
                    SFX(lr_pass1)(U, V, ldf, r, pid, cc * LR_CHUNK,
                                  (cc + 1) * LR_CHUNK < k ? (cc + 1) * LR_CHUNK : k,
                                  parts + cc * w);
            }
        }
        for (q = 0; q < w; q++)
            tot[q] = 0.0;
        for (ch = 0; ch < nch; ch++) /* fixed order: independent of the thread count */
            for (q = 0; q < w; q++)
                tot[q] += parts[ch * w + q];
    }
    if (!(fabs(tot[2 * r]) < NASHMP_INF_F64))
        return 1;
    for (q = 0; q < 2 * r; q++)
        qt[q] = (T)tot[q];
    if (nt <= 1 || nch < 2) {
        SFX(lr_pass2)(U, V, ldf, r, tot, qt, 0, nch, k, g, lp, lr, a, b, c, ms, sub);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        {
            int64_t c0, c1;
            nashmp_split(nch, &c0, &c1);
            SFX(lr_pass2)(U, V, ldf, r, tot, qt, c0, c1, k, g, lp, lr, a, b, c, ms, sub);
        }
    }
    return 0;
}

/* g = P pi per game: pi and out in the data type T, or (pid_in, outd non-NULL) in double (pi
 * read and g written without conversion; pi and out are then unused). */
static int SFX(lr_apply)(const T *U, const T *V, int64_t ldf, int64_t r, const T *pi,
                         const double *pid_in, int64_t ldpi, int64_t batch, int64_t k, T *out,
                         double *outd, int64_t ldo)
{
    int64_t nch = (k + LR_CHUNK - 1) / LR_CHUNK, gi, j;
    double *parts = (double *)malloc((size_t)((nch + 2) * (2 * r + 1)) * sizeof(double));
    double *pid = pid_in ? NULL : (double *)malloc((size_t)k * sizeof(double));
    double *g = outd ? NULL : (double *)malloc((size_t)k * sizeof(double));
    int bad = 0;
    if (!parts || (!pid_in && !pid) || (!outd && !g)) {
        free(parts);
        free(pid);
        free(g);
        return NASHMP_ERR_NO_MEMORY;
    }
    for (gi = 0; gi < batch && !bad; gi++) {
        const double *pr = pid_in ? pid_in + gi * ldpi : pid;
        double *gr = outd ? outd + gi * ldo : g;
        if (!pid_in)
            for (j = 0; j < k; j++)
                pid[j] = (double)pi[gi * ldpi + j];
        bad |= SFX(lr_game)(U, V, ldf, r, pr, NULL, k, gr, parts, NULL, NULL, 0.0, 0.0, 0.0,
                             NULL, NULL);
        for (j = 0; j < k; j++) {
            bad |= !(fabs(gr[j]) < NASHMP_INF_F64);
            if (!outd)
                out[gi * ldo + j] = (T)gr[j];
        }
    }
    free(parts);
    free(pid);
    free(g);
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}

/* The fused step for each game from pi_g, or from the moments q_in of pi_g (then pi_g is not
 * read); q_out (may be NULL) receives the moments of the new policy exp(out):
 * q = sum_b exp(m_b - lse(z)) (moments of sub-block b), summed in sub-block order. */
static int SFX(lr_step)(const T *U, const T *V, int64_t ldf, int64_t r, const double *pi_g,
                        int64_t ldpg, const double *q_in, int64_t ldqi, const double *lp,
                        int64_t ldpi, const double *lr, int64_t ldref, int64_t batch, int64_t k,
                        double a, double b, double c, double *out, int64_t ldo, double *po,
                        int64_t ldpo, double *q_out, int64_t ldqo)
{
    int64_t nch = (k + LR_CHUNK - 1) / LR_CHUNK, nsb = (k + LR_SUB - 1) / LR_SUB, gi, sb, q;
    const int64_t w = 2 * r + 1;
    double *parts = (double *)malloc((size_t)((nch + 2) * w) * sizeof(double));
    nashmp_ms *ms = (nashmp_ms *)malloc((size_t)nch * sizeof(nashmp_ms));
    double *sub = q_out ? (double *)malloc((size_t)(nsb * (w + 1)) * sizeof(double)) : NULL;
    int bad = 0, nt = nashmp_threads_for(8.0 * (double)k);
    if (!parts || !ms || (q_out && !sub)) {
        free(parts);
        free(ms);
        free(sub);
        return NASHMP_ERR_NO_MEMORY;
    }
    for (gi = 0; gi < batch; gi++) {
        double *o = out + gi * ldo, ls = 0.0;
        int rowbad;
        if (SFX(lr_game)(U, V, ldf, r, q_in ? NULL : pi_g + gi * ldpg,
                         q_in ? q_in + gi * ldqi : NULL, k, o, parts,
                         a != 0.0 ? lp + gi * ldpi : NULL, b != 0.0 ? lr + gi * ldref : NULL, a,
                         b, c, ms, sub)) {
            bad = 1;
            continue;
        }
        rowbad = nashmp_opf_normalize(o, po ? po + gi * ldpo : NULL, k, ms, nch, nt, &ls);
        bad |= rowbad;
        if (q_out && !rowbad) {
            double *qo = q_out + gi * ldqo;
            for (q = 0; q < w; q++)
                qo[q] = 0.0;
            for (sb = 0; sb < nsb; sb++) {
                const double *ps = sub + sb * (w + 1);
                const double f = exp(ps[w] - ls); /* 0 for a sub-block of -inf */
                for (q = 0; q < w; q++)
                    qo[q] += f * ps[q];
            }
        }
    }
    free(parts);
    free(ms);
    free(sub);
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}
