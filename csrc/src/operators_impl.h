/*
 * Template for preference_apply, included by operators.c once per dtype with T, SFX(n).
 * Products are accumulated in double in NASHMP_DOT_LANES lanes combined in a fixed order, by one
 * function (dotq) for every grouping of rows and games, so every output element has one value
 * whatever the blocking or thread count. (The dense solver loop has its own copy of this
 * arithmetic, sv_acc/sv_fin in solvers.c, compiled without FMA contraction and with x in double;
 * the two do not share bits.)
 */

#ifdef NASHMP_VEXT
/* p[0..8) as doubles, lanes 0-3 and 4-7 */
NASHMP_INLINE void SFX(ld8)(const T *p, nashmp_v4d *lo, nashmp_v4d *hi)
{
    if (sizeof(T) == sizeof(float)) { /* one 8-lane convert */
        nashmp_v8f f;
        nashmp_v8d d;
        memcpy(&f, p, sizeof f);
        d = __builtin_convertvector(f, nashmp_v8d);
        memcpy(lo, &d, sizeof *lo);
        memcpy(hi, (const char *)&d + sizeof *lo, sizeof *hi);
    } else {
        memcpy(lo, p, sizeof *lo);
        memcpy(hi, p + 4, sizeof *hi);
    }
}
/* p[0..n) (0 < n < 8) the same way, zeros in the other lanes (nothing past n is read): the
 * whole row when k < 8 */
NASHMP_INLINE void SFX(ldn)(const T *p, int64_t n, nashmp_v4d *lo, nashmp_v4d *hi)
{
    double e[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int64_t l;
    for (l = 0; l < n; l++)
        e[l] = (double)p[l];
    memcpy(lo, e, sizeof *lo);
    memcpy(hi, e + 4, sizeof *hi);
}
#endif

/* r[q] = a[q] . b[q] for the nq (1 or 4, a constant where inlined) pairs; one row with four
 * games (the a[q] the same row: its values are loaded once) or four rows with one game (the
 * b[q] the same; four independent chains, where one row runs at the FMA latency). Each in
 * NASHMP_DOT_LANES = 8 lanes, in vectors of 4: lane l sums the terms j = l mod 8 of the full
 * blocks of 8 columns in increasing j, then, when k mod 8 = n > 0, the last 8 columns as one
 * step whose lanes l < 8 - n (columns already summed) are zeroed in a and b (k < 8: the row
 * zero-padded); then NASHMP_DOT_COMBINE. */
NASHMP_INLINE void SFX(dotq)(const T *const *a, const T *const *b, int nq, int64_t k, double *r)
{
#ifdef NASHMP_VEXT
    nashmp_v4d lo[4], hi[4], al, ah, bl, bh;
    int64_t j = 0;
    int q;
    for (q = 0; q < nq; q++)
        lo[q] = hi[q] = (nashmp_v4d){0.0, 0.0, 0.0, 0.0};
    for (; j + NASHMP_DOT_LANES <= k; j += NASHMP_DOT_LANES)
        _Pragma("GCC unroll 4") for (q = 0; q < nq; q++)
        {
            SFX(ld8)(a[q] + j, &al, &ah);
            SFX(ld8)(b[q] + j, &bl, &bh);
            lo[q] += al * bl;
            hi[q] += ah * bh;
        }
    if (j < k && k < NASHMP_DOT_LANES)
        _Pragma("GCC unroll 4") for (q = 0; q < nq; q++)
        {
            SFX(ldn)(a[q], k, &al, &ah);
            SFX(ldn)(b[q], k, &bl, &bh);
            lo[q] += al * bl;
            hi[q] += ah * bh;
        }
    else if (j < k) {
        nashmp_v4l ml, mh; /* keep lanes l >= 8 - n */
        memcpy(&ml, pa_keep + (k - j), sizeof ml);
        memcpy(&mh, pa_keep + (k - j) + 4, sizeof mh);
        _Pragma("GCC unroll 4") for (q = 0; q < nq; q++)
        {
            SFX(ld8)(a[q] + k - NASHMP_DOT_LANES, &al, &ah);
            SFX(ld8)(b[q] + k - NASHMP_DOT_LANES, &bl, &bh);
            al = (nashmp_v4d)((nashmp_v4l)al & ml);
            ah = (nashmp_v4d)((nashmp_v4l)ah & mh);
            bl = (nashmp_v4d)((nashmp_v4l)bl & ml);
            bh = (nashmp_v4d)((nashmp_v4l)bh & mh);
            lo[q] += al * bl;
            hi[q] += ah * bh;
        }
    }
    for (q = 0; q < nq; q++) {
        const nashmp_v4d t = lo[q] + hi[q]; /* s_l + s_{l+4} */
        r[q] = (t[0] + t[1]) + (t[2] + t[3]);
    }
#else
    double s[NASHMP_DOT_LANES];
    const int64_t kf = k / NASHMP_DOT_LANES * NASHMP_DOT_LANES;
    const int64_t base = k < NASHMP_DOT_LANES ? 0 : k - NASHMP_DOT_LANES; /* lane of column j */
    int64_t j;
    int l, q;
    for (q = 0; q < nq; q++) {
        for (l = 0; l < NASHMP_DOT_LANES; l++)
            s[l] = 0.0;
        for (j = 0; j < kf; j++)
            s[j % NASHMP_DOT_LANES] += (double)a[q][j] * (double)b[q][j];
        for (; j < k; j++)
            s[j - base] += (double)a[q][j] * (double)b[q][j];
        r[q] = NASHMP_DOT_COMBINE(s);
    }
#endif
}

/* Per-game (or single) P: work items are (game, block of NASHMP_PA_ROWS output rows); rows four
 * at a time when r4 (the same bits either way). */
NASHMP_HOT static int SFX(pa_items)(const T *P, int64_t ldP, const T *pi, int64_t ldpi, int64_t k,
                                    T *out, int64_t ldo, int64_t nyb, int r4, int64_t it0,
                                    int64_t it1)
{
    int bad = 0;
    int64_t it, y;
    for (it = it0; it < it1; it++) {
        int64_t g = it / nyb, y0 = (it % nyb) * NASHMP_PA_ROWS;
        int64_t y1 = y0 + NASHMP_PA_ROWS < k ? y0 + NASHMP_PA_ROWS : k;
        const T *Pg = P + g * ldP, *pig = pi + g * ldpi;
        T *og = out + g * ldo;
        for (y = y0; r4 && y + 4 <= y1; y += 4) { /* four rows at a time */
            const T *a[4] = {Pg + y * k, Pg + (y + 1) * k, Pg + (y + 2) * k, Pg + (y + 3) * k};
            const T *b[4] = {pig, pig, pig, pig};
            double v[4];
            int q;
            SFX(dotq)(a, b, 4, k, v);
            for (q = 0; q < 4; q++) {
                bad |= !(fabs(v[q]) < NASHMP_INF_F64);
                og[y + q] = (T)v[q];
            }
        }
        for (; y < y1; y++) {
            const T *a = Pg + y * k;
            double v;
            SFX(dotq)(&a, &pig, 1, k, &v);
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
            const T *b[4] = {pi + g * ldpi, pi + (g + 1) * ldpi, pi + (g + 2) * ldpi,
                             pi + (g + 3) * ldpi};
            for (y = y0; y < y1; y++) {
                const T *a[4] = {P + y * k, P + y * k, P + y * k, P + y * k};
                double r[4];
                int q;
                SFX(dotq)(a, b, 4, k, r);
                for (q = 0; q < 4; q++) {
                    bad |= !(fabs(r[q]) < NASHMP_INF_F64);
                    out[(g + q) * ldo + y] = (T)r[q];
                }
            }
        } else {
            int64_t gg;
            for (gg = g; gg < batch; gg++)
                for (y = y0; y < y1; y++) {
                    const T *a = P + y * k, *b = pi + gg * ldpi;
                    double v;
                    SFX(dotq)(&a, &b, 1, k, &v);
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
        /* four rows at a time (four accumulation chains; one row runs at the FMA latency) unless
           short rows come from memory: one row after the other is then one stream that the
           prefetchers follow (1 thread, 256 games of 100 x 100: 690 against 580 us; 32 games of
           300 x 300: 910 against 610 us; a game of 2000 x 2000: 1.26 against 1.39 ms) */
        const int r4 = (double)k * sizeof(T) >= 4096.0 ||
                       (double)batch * (double)k * (double)k * sizeof(T) <= 16.0 * 1048576.0;
        if (nt == 1) /* no OpenMP region: even a serialized one costs ~0.5 us */
            bad = SFX(pa_items)(P, ldP, pi, ldpi, k, out, ldo, nyb, r4, 0, batch * nyb);
        else
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
        {
            int64_t i0, i1;
            nashmp_split(batch * nyb, &i0, &i1);
            bad |= SFX(pa_items)(P, ldP, pi, ldpi, k, out, ldo, nyb, r4, i0, i1);
        }
    }
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}

/* ---- preference-matrix check (nashmp_preference_check_*) ------------------------------------ */

/* One (i, j) of pc_block's work, scalar: x = P[i, j] against y = P[j, i] into st (the min and
 * max of both); O != NULL:
 * O[i, j] and O[j, i], and st[4] = max |(O[i, j] + O[j, i]) - 1| */
NASHMP_INLINE void SFX(pc_elem)(const T *A, int64_t k, int64_t i, int64_t j, T *st, T *O)
{
    const T x = A[i * k + j], y = A[j * k + i];
    T t = (x + y) - (T)1;
    t = t < 0 ? -t : t;
    st[0] = t > st[0] ? t : st[0];
    st[1] = x < st[1] ? x : st[1]; /* y too: the blocks' partners are seen only here */
    st[1] = y < st[1] ? y : st[1];
    st[2] = x > st[2] ? x : st[2];
    st[2] = y > st[2] ? y : st[2];
    st[3] += t;
    if (O) {
        const T o = (x + ((T)1 - y)) * (T)0.5, o2 = (y + ((T)1 - x)) * (T)0.5;
        T e = (o + o2) - (T)1;
        O[i * k + j] = o;
        O[j * k + i] = o2;
        e = e < 0 ? -e : e;
        st[4] = e > st[4] ? e : st[4];
    }
}

/* st[0] = max |(P[i, j] + P[j, i]) - 1|, st[1] = min, st[2] = max, st[3] = sum of those |.|
 * (NaN or +-inf when P holds NaN or +-inf, which the selects drop) over rows [i0, i1) x columns
 * [j0, j1), checked against the transposed block [j0, j1) x [i0, i1), in 4 x 4 blocks (4-lane
 * rows of P[i, j0..] against 4 x 4 register transposes of P[j, i0..]); the bounds are multiples
 * of 4. O != NULL: also O[i, j] = (P[i, j] + (1 - P[j, i])) / 2 over both blocks, and st[4] =
 * max |(O[i, j] + O[j, i]) - 1|. Scalar without vector extensions. */
NASHMP_HOT static void SFX(pc_block)(const T *A, int64_t k, int64_t i0, int64_t i1, int64_t j0,
                                     int64_t j1, T *NASHMP_RESTRICT buf, T *st, T *O)
{
    int64_t i, j;
#ifdef NASHMP_VEXT
    /* the block [j0, j1) x [i0, i1) first, row after row into buf (PC_TB wide): its rows are
       then read 4 columns at a time from cache, not as PC_TB strided streams from memory. Each
       row is a short piece (1 KB) of a new DRAM stream: the one 4 rows ahead is prefetched (and
       below, the next 4 rows of [i0, i1) while the current 4 are read). K = 4000, 1 thread:
       12.3 -> 10.0 ms; 2 threads 6.6 -> 5.6 ms. */
    for (j = j0; j < j1; j++) {
        if (j + 4 < j1)
            for (i = 0; i < i1 - i0; i += 64 / (int64_t)sizeof(T))
                __builtin_prefetch(A + (j + 4) * k + i0 + i, 0, 3);
        memcpy(buf + (j - j0) * PC_TB, A + j * k + i0, (size_t)(i1 - i0) * sizeof(T));
    }
    const PC_VI e_ = {0, 4, 2, 6}, o_ = {1, 5, 3, 7}, l_ = {0, 1, 4, 5}, u_ = {2, 3, 6, 7};
    const PC_VI absm = {PC_ABS, PC_ABS, PC_ABS, PC_ABS};
    PC_VT vd = {0, 0, 0, 0}, vs = vd, vo = vd, vl, vh;
    T dev = st[0], lo = st[1], hi = st[2];
    int l;
    memcpy(&vl, A + i0 * k + j0, sizeof vl);
    vh = vl;
#define PC_SEL(c, a, b) ((PC_VT)(((PC_VI)(a) & (PC_VI)(c)) | ((PC_VI)(b) & ~(PC_VI)(c))))
    for (i = i0; i < i1; i += 4)
        for (j = j0; j < j1; j += 4) {
            PC_VT a[4], b[4], t0, t1, t2, t3, c[4];
            int r;
            PC_VT t[4], m0, m1, m2, m3, x0, x1, x2, x3;
            if (i + 4 < i1 && (j - j0) % (64 / (int64_t)sizeof(T)) == 0)
                for (r = 4; r < 8; r++)
                    __builtin_prefetch(A + (i + r) * k + j, 0, 3);
            memcpy(&a[0], A + i * k + j, sizeof a[0]);
            memcpy(&a[1], A + (i + 1) * k + j, sizeof a[1]);
            memcpy(&a[2], A + (i + 2) * k + j, sizeof a[2]);
            memcpy(&a[3], A + (i + 3) * k + j, sizeof a[3]);
            const T *bj = buf + (j - j0) * PC_TB + (i - i0);
            memcpy(&b[0], bj, sizeof b[0]);
            memcpy(&b[1], bj + PC_TB, sizeof b[1]);
            memcpy(&b[2], bj + 2 * PC_TB, sizeof b[2]);
            memcpy(&b[3], bj + 3 * PC_TB, sizeof b[3]);
            t0 = __builtin_shuffle(b[0], b[1], e_);
            t1 = __builtin_shuffle(b[0], b[1], o_);
            t2 = __builtin_shuffle(b[2], b[3], e_);
            t3 = __builtin_shuffle(b[2], b[3], o_);
            c[0] = __builtin_shuffle(t0, t2, l_); /* P[j .. j+3, i] */
            c[1] = __builtin_shuffle(t1, t3, l_);
            c[2] = __builtin_shuffle(t0, t2, u_);
            c[3] = __builtin_shuffle(t1, t3, u_);
            for (r = 0; r < 4; r++)
                t[r] = (PC_VT)((PC_VI)((a[r] + c[r]) - (T)1) & absm);
            if (O) { /* rows of O[i.., j..], and of O[j.., i..] through a transpose */
                PC_VT o2[4], e;
                for (r = 0; r < 4; r++) {
                    const PC_VT o = (a[r] + ((T)1 - c[r])) * (T)0.5;
                    o2[r] = (c[r] + ((T)1 - a[r])) * (T)0.5; /* O[j + l, i + r] in lane l */
                    memcpy(O + (i + r) * k + j, &o, sizeof o);
                    e = (PC_VT)((PC_VI)((o + o2[r]) - (T)1) & absm);
                    vo = PC_SEL(e > vo, e, vo);
                }
                t0 = __builtin_shuffle(o2[0], o2[1], e_);
                t1 = __builtin_shuffle(o2[0], o2[1], o_);
                t2 = __builtin_shuffle(o2[2], o2[3], e_);
                t3 = __builtin_shuffle(o2[2], o2[3], o_);
                o2[0] = __builtin_shuffle(t0, t2, l_);
                o2[1] = __builtin_shuffle(t1, t3, l_);
                o2[2] = __builtin_shuffle(t0, t2, u_);
                o2[3] = __builtin_shuffle(t1, t3, u_);
                for (r = 0; r < 4; r++)
                    memcpy(O + (j + r) * k + i, &o2[r], sizeof o2[r]);
            }
            vs += (t[0] + t[1]) + (t[2] + t[3]);
            /* trees, so that the accumulators take one select per block */
            x0 = PC_SEL(t[1] > t[0], t[1], t[0]);
            x1 = PC_SEL(t[3] > t[2], t[3], t[2]);
            x0 = PC_SEL(x1 > x0, x1, x0);
            vd = PC_SEL(x0 > vd, x0, vd);
            m0 = PC_SEL(a[1] < a[0], a[1], a[0]);
            m1 = PC_SEL(a[3] < a[2], a[3], a[2]);
            m2 = PC_SEL(b[1] < b[0], b[1], b[0]);
            m3 = PC_SEL(b[3] < b[2], b[3], b[2]);
            x0 = PC_SEL(a[1] > a[0], a[1], a[0]);
            x1 = PC_SEL(a[3] > a[2], a[3], a[2]);
            x2 = PC_SEL(b[1] > b[0], b[1], b[0]);
            x3 = PC_SEL(b[3] > b[2], b[3], b[2]);
            m0 = PC_SEL(m1 < m0, m1, m0);
            m2 = PC_SEL(m3 < m2, m3, m2);
            x0 = PC_SEL(x1 > x0, x1, x0);
            x2 = PC_SEL(x3 > x2, x3, x2);
            m0 = PC_SEL(m2 < m0, m2, m0);
            x0 = PC_SEL(x2 > x0, x2, x0);
            vl = PC_SEL(m0 < vl, m0, vl);
            vh = PC_SEL(x0 > vh, x0, vh);
        }
#undef PC_SEL
    for (l = 0; l < 4; l++) {
        dev = vd[l] > dev ? vd[l] : dev;
        lo = vl[l] < lo ? vl[l] : lo;
        hi = vh[l] > hi ? vh[l] : hi;
        st[3] += vs[l];
        st[4] = vo[l] > st[4] ? vo[l] : st[4];
    }
    st[0] = dev;
    st[1] = lo;
    st[2] = hi;
#else
    (void)buf;
    for (i = i0; i < i1; i++)
        for (j = j0; j < j1; j++)
            SFX(pc_elem)(A, k, i, j, st, O);
#endif
}

/* The same, scalar, for every (i, j) with i >= k4 or j >= k4 (the strip the 4 x 4 blocks leave) */
static void SFX(pc_strip)(const T *A, int64_t k, int64_t k4, T *st, T *O)
{
    int64_t i, j;
    for (i = 0; i < k; i++)
        for (j = i < k4 ? k4 : 0; j < k; j++)
            SFX(pc_elem)(A, k, i, j, st, O);
}

/* Tile pairs [p0, p1) (I <= J over the k4 x k4 square, nt tiles of PC_TB per side, np pairs per
 * matrix) of the matrices of P into st */
static void SFX(pc_range)(const T *P, int64_t ldP, int64_t k, int64_t k4, int64_t nt, int64_t np,
                          int64_t p0, int64_t p1, T *buf, T *st, T *O)
{
    int64_t p = p0, I = 0, J, q;
    if (p >= p1)
        return;
    q = p % np; /* (I, J) of the pair q: row I holds nt - I pairs */
    while (q >= nt - I) {
        q -= nt - I;
        I++;
    }
    J = I + q;
    for (; p < p1; p++) {
        const int64_t i1 = (I + 1) * PC_TB < k4 ? (I + 1) * PC_TB : k4;
        const int64_t j1 = (J + 1) * PC_TB < k4 ? (J + 1) * PC_TB : k4;
        SFX(pc_block)(P + (p / np) * ldP, k, I * PC_TB, i1, J * PC_TB, j1, buf, st,
                      O ? O + (p / np) * k * k : NULL);
        if (++J == nt) {
            if (++I == nt)
                I = 0;
            J = I;
        }
    }
}

/* out: the three numbers of nashmp_preference_check_*; O != NULL: also the antisymmetrized
 * matrices (k x k each, contiguous) and out[3] = their max |(O[i, j] + O[j, i]) - 1| */
static int SFX(pc_driver)(const T *P, int64_t ldP, int64_t batch, int64_t k, double *out, T *O)
{
    const int64_t k4 = k / 4 * 4, nt = (k4 + PC_TB - 1) / PC_TB, np = nt * (nt + 1) / 2;
    const int64_t nm = ldP == 0 ? 1 : batch;
    T acc[5] = {(T)0, P[0], P[0], (T)0, (T)0}, part[64][5], *bufs;
    int nth = nashmp_threads_for((double)nm * (double)k * (double)k / 4.0), h;
    int64_t m;
    if (nth > 64)
        nth = 64;
    if (nth > nm * np)
        nth = (int)(nm * np);
    if (nth < 1)
        nth = 1;
    for (h = 0; h < nth; h++)
        memcpy(part[h], acc, sizeof acc);
    bufs = (T *)malloc((size_t)nth * PC_TB * PC_TB * sizeof(T));
    if (bufs == NULL)
        return NASHMP_ERR_NO_MEMORY;
    if (np > 0) {
        if (nth == 1)
            SFX(pc_range)(P, ldP, k, k4, nt, np, 0, nm * np, bufs, part[0], O);
        else
#ifdef _OPENMP
#pragma omp parallel num_threads(nth)
#endif
        {
            int64_t p0, p1;
#ifdef _OPENMP
            const int h_ = omp_get_thread_num();
#else
            const int h_ = 0;
#endif
            nashmp_split(nm * np, &p0, &p1);
            SFX(pc_range)(P, ldP, k, k4, nt, np, p0, p1, bufs + (int64_t)h_ * PC_TB * PC_TB,
                          part[h_], O);
        }
    }
    free(bufs);
    if (k4 < k)
        for (m = 0; m < nm; m++)
            SFX(pc_strip)(P + m * ldP, k, k4, part[0], O ? O + m * k * k : NULL);
    for (h = 0; h < nth; h++) {
        acc[0] = part[h][0] > acc[0] ? part[h][0] : acc[0];
        acc[1] = part[h][1] < acc[1] ? part[h][1] : acc[1];
        acc[2] = part[h][2] > acc[2] ? part[h][2] : acc[2];
        acc[3] += part[h][3];
        acc[4] = part[h][4] > acc[4] ? part[h][4] : acc[4];
    }
    out[0] = acc[3] - acc[3] != 0 ? NASHMP_NAN_F64 : (double)acc[0];
    out[1] = (double)acc[1];
    out[2] = (double)acc[2];
    if (O)
        out[3] = acc[3] - acc[3] != 0 ? NASHMP_NAN_F64 : (double)acc[4];
    return NASHMP_OK;
}
