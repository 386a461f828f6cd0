/*
 * Template for preference_apply, included by operators.c once per dtype with T, SFX(n).
 * Products are accumulated in double in NASHMP_DOT_LANES lanes combined in a fixed order; the
 * 1-game and 4-game kernels use the same lane order, so every output element has one value
 * whatever the blocking or thread count.
 */

NASHMP_INLINE double SFX(dot1)(const T *NASHMP_RESTRICT a, const T *NASHMP_RESTRICT b, int64_t k)
{
    double s[NASHMP_DOT_LANES];
    int64_t j = 0;
    int l;
    for (l = 0; l < NASHMP_DOT_LANES; l++)
        s[l] = 0.0;
    for (; j + NASHMP_DOT_LANES <= k; j += NASHMP_DOT_LANES)
        for (l = 0; l < NASHMP_DOT_LANES; l++)
            s[l] += (double)a[j + l] * (double)b[j + l];
    for (; j < k; j++)
        s[j % NASHMP_DOT_LANES] += (double)a[j] * (double)b[j];
    return NASHMP_DOT_COMBINE(s);
}

/* Four dot products sharing the row a: each a[j] is loaded once for four games. */
NASHMP_INLINE void SFX(dot4)(const T *NASHMP_RESTRICT a, const T *NASHMP_RESTRICT b0,
                             const T *NASHMP_RESTRICT b1, const T *NASHMP_RESTRICT b2,
                             const T *NASHMP_RESTRICT b3, int64_t k, double r[4])
{
    double s0[NASHMP_DOT_LANES], s1[NASHMP_DOT_LANES], s2[NASHMP_DOT_LANES],
        s3[NASHMP_DOT_LANES];
    int64_t j = 0;
    int l;
    for (l = 0; l < NASHMP_DOT_LANES; l++)
        s0[l] = s1[l] = s2[l] = s3[l] = 0.0;
    for (; j + NASHMP_DOT_LANES <= k; j += NASHMP_DOT_LANES)
        for (l = 0; l < NASHMP_DOT_LANES; l++) {
            double av = (double)a[j + l];
            s0[l] += av * (double)b0[j + l];
            s1[l] += av * (double)b1[j + l];
            s2[l] += av * (double)b2[j + l];
            s3[l] += av * (double)b3[j + l];
        }
    for (; j < k; j++) {
        double av = (double)a[j];
        int l2 = (int)(j % NASHMP_DOT_LANES);
        s0[l2] += av * (double)b0[j];
        s1[l2] += av * (double)b1[j];
        s2[l2] += av * (double)b2[j];
        s3[l2] += av * (double)b3[j];
    }
    r[0] = NASHMP_DOT_COMBINE(s0);
    r[1] = NASHMP_DOT_COMBINE(s1);
    r[2] = NASHMP_DOT_COMBINE(s2);
    r[3] = NASHMP_DOT_COMBINE(s3);
}

/* Per-game (or single) P: work items are (game, block of NASHMP_PA_ROWS output rows). */
NASHMP_HOT static int SFX(pa_items)(const T *P, int64_t ldP, const T *pi, int64_t ldpi, int64_t k,
                                    T *out, int64_t ldo, int64_t nyb, int64_t it0, int64_t it1)
{
    int bad = 0;
    int64_t it, y;
    for (it = it0; it < it1; it++) {
        int64_t g = it / nyb, y0 = (it % nyb) * NASHMP_PA_ROWS;
        int64_t y1 = y0 + NASHMP_PA_ROWS < k ? y0 + NASHMP_PA_ROWS : k;
        const T *Pg = P + g * ldP, *pig = pi + g * ldpi;
        T *og = out + g * ldo;
        for (y = y0; y < y1; y++) {
            double v = SFX(dot1)(Pg + y * k, pig, k);
            bad |= !(fabs(v) < NASHMP_INF_F64);
            og[y] = (T)v;
        }
    }
    return bad;
}

/* Shared P, several games: items are (tile of yt rows of P, block of 4 games), tile-major, so a
 * thread keeps its P tile in cache while it runs over the game blocks. */
NASHMP_HOT static int SFX(pa_shared)(const T *P, const T *pi, int64_t ldpi, int64_t batch,
                                     int64_t k, T *out, int64_t ldo, int64_t yt, int64_t ngb,
                                     int64_t it0, int64_t it1)
{
    int bad = 0;
    int64_t it, y;
    for (it = it0; it < it1; it++) {
        int64_t y0 = (it / ngb) * yt, g = (it % ngb) * 4;
        int64_t y1 = y0 + yt < k ? y0 + yt : k;
        if (g + 4 <= batch) {
            const T *b0 = pi + g * ldpi, *b1 = b0 + ldpi, *b2 = b1 + ldpi, *b3 = b2 + ldpi;
            for (y = y0; y < y1; y++) {
                double r[4];
                int q;
                SFX(dot4)(P + y * k, b0, b1, b2, b3, k, r);
                for (q = 0; q < 4; q++) {
                    bad |= !(fabs(r[q]) < NASHMP_INF_F64);
                    out[(g + q) * ldo + y] = (T)r[q];
                }
            }
        } else {
            int64_t gg;
            for (gg = g; gg < batch; gg++)
                for (y = y0; y < y1; y++) {
                    double v = SFX(dot1)(P + y * k, pi + gg * ldpi, k);
                    bad |= !(fabs(v) < NASHMP_INF_F64);
                    out[gg * ldo + y] = (T)v;
                }
        }
    }
    return bad;
}

static int SFX(pa_driver)(const T *P, int64_t ldP, const T *pi, int64_t ldpi, int64_t batch,
                          int64_t k, T *out, int64_t ldo)
{
    int bad = 0;
    double work = (double)batch * (double)k * (double)k;
    int nt = nashmp_threads_for(work / 4.0);
    if (ldP == 0 && batch > 1) {
        /* P tile of about NASHMP_PA_TILE_BYTES. */
        int64_t yt = (int64_t)(NASHMP_PA_TILE_BYTES / ((double)k * sizeof(T)));
        int64_t nyt, ngb = (batch + 3) / 4;
        if (yt < 1)
            yt = 1;
        nyt = (k + yt - 1) / yt;
        if (nt == 1) /* no OpenMP region: even a serialized one costs ~0.5 us */
            bad = SFX(pa_shared)(P, pi, ldpi, batch, k, out, ldo, yt, ngb, 0, nyt * ngb);
        else
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
        {
            int64_t i0, i1;
            nashmp_split(nyt * ngb, &i0, &i1);
            bad |= SFX(pa_shared)(P, pi, ldpi, batch, k, out, ldo, yt, ngb, i0, i1);
        }
    } else {
        int64_t nyb = (k + NASHMP_PA_ROWS - 1) / NASHMP_PA_ROWS;
        if (nt == 1) /* no OpenMP region: even a serialized one costs ~0.5 us */
            bad = SFX(pa_items)(P, ldP, pi, ldpi, k, out, ldo, nyb, 0, batch * nyb);
        else
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
        {
            int64_t i0, i1;
            nashmp_split(batch * nyb, &i0, &i1);
            bad |= SFX(pa_items)(P, ldP, pi, ldpi, k, out, ldo, nyb, i0, i1);
        }
    }
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}
