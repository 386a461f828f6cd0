/*
 * Template for logsumexp / log_softmax / softmax, included by logsumexp.c once per dtype with
 *   T        element type (double or float)
 *   SFX(n)   name suffixer (n##_f64)
 *   TILE_LSE nashmp_tile_lse_f64 / _f32
 *   EXPSUM   nashmp_chunk_expsum_f64 / _f32 (sum of exp(x - m), optionally stored)
 *   CHUNKMAX nashmp_chunk_max_f64 / _f32
 *   SMALL_LSE, SMALL_G  nashmp_lse4_f64 / nashmp_lse8_f32 and its row count (rows of
 *            k <= NASHMP_SMALL_K, vector-extension builds)
 */

enum { SFX(MODE_LSE) = 0, SFX(MODE_LOGSM) = 1, SFX(MODE_SM) = 2 };

/* (max, sum) of one row; rows longer than NASHMP_TILE are merged tile by tile, left to right. */
NASHMP_INLINE nashmp_ms SFX(row_lse)(const T *NASHMP_RESTRICT x, int64_t k)
{
    nashmp_ms st;
    int64_t t;
    if (k <= NASHMP_TILE)
        return TILE_LSE(x, k);
    st = nashmp_ms_init();
    for (t = 0; t < k && st.m == st.m; t += NASHMP_TILE)
        st = nashmp_ms_merge(st, TILE_LSE(x + t, k - t < NASHMP_TILE ? k - t : NASHMP_TILE));
    return st;
}

/* Writes log_softmax (mode 1) or softmax (mode 2) of x[0..n) given the row's (max, sum). */
NASHMP_INLINE void SFX(finish)(const T *x, int64_t n, T *out, nashmp_ms st, int mode)
{
    int64_t j;
    if (st.m == -NASHMP_INF_F64) { /* all -inf row */
        T fill = mode == SFX(MODE_LOGSM) ? (T)-NASHMP_INF_F64 : (T)0;
        for (j = 0; j < n; j++)
            out[j] = fill;
    } else if (mode == SFX(MODE_LOGSM)) {
        const double m = st.m, ls = nashmp_log_pos_f64(st.s);
        for (j = 0; j < n; j++)
            out[j] = (T)(((double)x[j] - m) - ls);
    } else {
        /* long rows (tiled): second exp per element; x - m <= 0 */
        const T m = (T)st.m, inv = (T)(1.0 / st.s);
        int64_t c;
        for (c = 0; c < n; c += NASHMP_LSE_CHUNK) {
            int64_t len = n - c < NASHMP_LSE_CHUNK ? n - c : NASHMP_LSE_CHUNK;
            EXPSUM(x + c, len, m, out + c);
            for (j = 0; j < len; j++)
                out[c + j] *= inv;
        }
    }
}

/*
 * softmax of one row of k <= NASHMP_TILE elements with one exp per element: pass 1 stores
 * exp(x - running max) chunk by chunk and records the max each chunk used; pass 2 multiplies
 * each chunk by exp(its max - row max) / sum (one scalar exp per chunk; the factor is 1/sum
 * for every chunk after the row max). Returns nonzero on NaN / +inf (out is then unspecified).
 * out may be x: each chunk is read before it is written.
 */
NASHMP_INLINE int SFX(softmax_row)(const T *x, int64_t k, T *out)
{
    double cm[NASHMP_TILE / NASHMP_LSE_CHUNK];
    nashmp_ms st = nashmp_ms_init();
    double inv;
    int64_t c, j;
    for (c = 0; c < k; c += NASHMP_LSE_CHUNK) {
        int64_t len = k - c < NASHMP_LSE_CHUNK ? k - c : NASHMP_LSE_CHUNK;
        double m = nashmp_ms_rescale(&st, (double)CHUNKMAX(x + c, len));
        if (m == NASHMP_INF_F64 || m != m)
            return 1;
        cm[c / NASHMP_LSE_CHUNK] = m;
        if (m > -NASHMP_INF_F64)
            st.s += EXPSUM(x + c, len, (T)m, out + c);
        else /* all -inf so far */
            for (j = 0; j < len; j++)
                out[c + j] = (T)0;
    }
    if (st.m == -NASHMP_INF_F64) /* all -inf: zeros written above */
        return 0;
    inv = 1.0 / st.s;
    for (c = 0; c < k; c += NASHMP_LSE_CHUNK) {
        int64_t len = k - c < NASHMP_LSE_CHUNK ? k - c : NASHMP_LSE_CHUNK;
        const double mc = cm[c / NASHMP_LSE_CHUNK];
        const T f = (T)(mc == st.m ? inv : nashmp_exp_f64(mc - st.m) * inv);
        T *o = out + c;
        for (j = 0; j < len; j++)
            o[j] *= f;
    }
    return 0;
}

/* Rows [r0, r1): the whole operation. Returns nonzero if some row holds NaN or +inf. */
NASHMP_HOT static int SFX(lse_rows)(const T *x, int64_t ldx, int64_t k, int64_t r0, int64_t r1,
                                    T *out, int64_t ldo, int mode)
{
    int bad = 0;
    int64_t i = r0;
#ifdef NASHMP_VEXT
    if (mode == SFX(MODE_LSE) && k <= NASHMP_SMALL_K) /* short rows: G rows per step */
        for (; i + SMALL_G <= r1; i += SMALL_G)
            bad |= SMALL_LSE(x + i * ldx, ldx, k, out + i);
#endif
#ifdef LSESUM_MAX
    /* rows of one block: the next row's max is taken inside this row's exp loop */
    if (mode == SFX(MODE_LSE) && k >= 64 && k <= NASHMP_LSE_CHUNK && i < r1) {
        T m = NASHMP_TILE_MAX(x + i * ldx, k), mn;
        for (; i < r1; i++, m = mn) {
            const T *xi = x + i * ldx;
            double s;
            mn = 0;
            if (!(m > -NASHMP_INF_F64 && m < NASHMP_INF_F64)) { /* -inf, +inf or NaN: one by one */
                nashmp_ms st = SFX(row_lse)(xi, k);
                if (st.m != st.m)
                    bad = 1;
                else
                    out[i] = (T)(st.m == -NASHMP_INF_F64 ? st.m : st.m + nashmp_log_pos_f64(st.s));
                if (i + 1 < r1)
                    mn = NASHMP_TILE_MAX(xi + ldx, k);
                continue;
            }
            s = i + 1 < r1 ? LSESUM_MAX(xi, m, xi + ldx, k, &mn) : TILE_SUM(xi, k, m);
            if (s != s)
                bad = 1;
            else
                out[i] = (T)((double)m + nashmp_log_pos_f64(s));
        }
    }
#endif
    for (; i < r1; i++) {
        const T *xi = x + i * ldx;
        nashmp_ms st;
        if (mode == SFX(MODE_SM) && k <= NASHMP_TILE) {
            bad |= SFX(softmax_row)(xi, k, out + i * ldo);
            continue;
        }
        st = SFX(row_lse)(xi, k);
        if (st.m != st.m) {
            bad = 1;
            continue;
        }
        if (mode == SFX(MODE_LSE))
            out[i] = (T)(st.m == -NASHMP_INF_F64 ? st.m : st.m + nashmp_log_pos_f64(st.s));
        else
            SFX(finish)(xi, k, out + i * ldo, st, mode);
    }
    return bad;
}

/* Tiles [t0, t1) of one long row: their (max, sum) states. */
NASHMP_HOT static void SFX(lse_tiles)(const T *x, int64_t k, int64_t t0, int64_t t1, nashmp_ms *st)
{
    int64_t t;
    for (t = t0; t < t1; t++) {
        int64_t c = t * NASHMP_TILE;
        st[t] = TILE_LSE(x + c, k - c < NASHMP_TILE ? k - c : NASHMP_TILE);
    }
}

NASHMP_HOT static void SFX(finish_range)(const T *x, int64_t n, T *out, nashmp_ms st, int mode)
{
    SFX(finish)(x, n, out, st, mode);
}

static int SFX(lse_driver)(const T *x, int64_t batch, int64_t k, int64_t ldx, T *out, int64_t ldo,
                           int mode)
{
    int bad = 0, nt;
    int64_t i;
    /* exp + max + (for softmax) a second exp: about 2-3 exp-equivalents per element. */
    nt = nashmp_threads_for((double)batch * (double)k * (mode == SFX(MODE_SM) ? 3.0 : 2.0));
    if (batch >= nt || k <= NASHMP_TILE) {
        if (nt == 1) /* no OpenMP region: even a serialized one costs ~0.5 us */
            bad = SFX(lse_rows)(x, ldx, k, 0, batch, out, ldo, mode);
        else
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
        {
            int64_t r0, r1;
            nashmp_split(batch, &r0, &r1);
            bad |= SFX(lse_rows)(x, ldx, k, r0, r1, out, ldo, mode);
        }
        return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
    }
    /* Few long rows: split each row into tiles over the threads; same result as serial. */
    {
        int64_t ntile = (k + NASHMP_TILE - 1) / NASHMP_TILE;
        nashmp_ms *sts = (nashmp_ms *)malloc((size_t)ntile * sizeof(nashmp_ms));
        if (sts == NULL) /* serial fallback computes exactly the same */
            return SFX(lse_rows)(x, ldx, k, 0, batch, out, ldo, mode) ? NASHMP_ERR_NONFINITE
                                                                       : NASHMP_OK;
        for (i = 0; i < batch && !bad; i++) {
            const T *xi = x + i * ldx;
            nashmp_ms st = nashmp_ms_init();
            int64_t t;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
            {
                int64_t t0, t1;
                nashmp_split(ntile, &t0, &t1);
                SFX(lse_tiles)(xi, k, t0, t1, sts);
            }
            for (t = 0; t < ntile && st.m == st.m; t++)
                st = nashmp_ms_merge(st, sts[t]);
            if (st.m != st.m) {
                bad = 1;
            } else if (mode == SFX(MODE_LSE)) {
                out[i] = (T)(st.m == -NASHMP_INF_F64 ? st.m : st.m + nashmp_log_pos_f64(st.s));
            } else {
                T *oi = out + i * ldo;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
                {
                    int64_t t0, t1;
                    nashmp_split(ntile, &t0, &t1);
                    t0 *= NASHMP_TILE;
                    t1 = t1 * NASHMP_TILE < k ? t1 * NASHMP_TILE : k;
                    if (t1 > t0)
                        SFX(finish_range)(xi + t0, t1 - t0, oi + t0, st, mode);
                }
            }
        }
        free(sts);
    }
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}
