/* Template of operators_embed.c, included once per dtype with T, SFX(n), and (vector path) VT,
 * VI, VU, W (lanes), VEXP (vector exp_red), ABSMASK. */

#ifdef NASHMP_VEXT
NASHMP_INLINE VT SFX(vload)(const T *p)
{
    VT v;
    memcpy(&v, p, sizeof v);
    return v;
}

NASHMP_INLINE void SFX(vstore)(T *p, VT v)
{
    memcpy(p, &v, sizeof v);
}

/* h = sigma(x) - 1/2 of two score vectors, with one division for both:
 *   t = exp(-|x|) by the vectorized exp_red of lse_block.h (flushed to 0 below its range),
 *   |h| = 1/(1+t) - 1/2 in [0, 1/2], with 1/(1+t0) = (1+t1)/((1+t0)(1+t1)) (product in [1, 4]),
 *   h = copysign(|h|, x) (no selects). sigma = 1/2 + h and 1 - sigma = 1/2 - h are never formed:
 * the tiles accumulate h pi and add the 1/2 pi parts once (fewer operations, and no rounding of
 * 1/2 + h). Absolute error a few ulp of 1/2: h is accumulated times pi, so absolute accuracy is
 * what matters. */
NASHMP_INLINE void SFX(vsigh2)(VT x0, VT x1, VT *h0, VT *h1)
{
    const VT t0 = VEXP(-(VT)((VU)x0 & ABSMASK)), t1 = VEXP(-(VT)((VU)x1 & ABSMASK));
    const VT u0 = (T)1 + t0, u1 = (T)1 + t1;
    const VT inv = (T)1 / (u0 * u1);
    const VT a0 = u1 * inv - (T)0.5, a1 = u0 * inv - (T)0.5;
    *h0 = (VT)((VU)a0 | ((VU)x0 & ~ABSMASK));
    *h1 = (VT)((VU)a1 | ((VU)x1 & ~ABSMASK));
}

/* One pair of tiles (I <= J): rows i0.., columns j0.. (EM_TB each). Diagonal tiles (I == J)
 * evaluate every ordered pair and add to rows only; other tiles evaluate each pair once and add
 * sigma pi_j = (1/2 + h) pi_j to row i and (1 - sigma) pi_i = (1/2 - h) pi_i to column j: the
 * h parts pair by pair, the 1/2 parts as half the tile's sum of pi (columns for the rows, rows
 * for the columns). Micro-kernel: EM_RB rows x two vectors of W columns (scores in 2 EM_RB
 * registers, d FMAs each). */
NASHMP_INLINE void SFX(em_tile)(const T *NASHMP_RESTRICT A, const T *NASHMP_RESTRICT ET,
                                int64_t d, int64_t kp, const T *NASHMP_RESTRICT pi, int64_t i0,
                                int64_t j0, int diag, double *NASHMP_RESTRICT acc,
                                T *NASHMP_RESTRICT ct)
{
    int64_t ib, jb, kk;
    int r, l;
    const VT vzero = {(T)0};
    double hcol = 0.0, hrow = 0.0; /* half the sums of pi over the columns, the rows */
    for (l = 0; l < EM_TB; l++) {
        ct[l] = (T)0;
        hcol += (double)pi[j0 + l];
        hrow += (double)pi[i0 + l];
    }
    hcol *= 0.5;
    hrow *= 0.5;
    for (ib = 0; ib < EM_TB; ib += EM_RB) {
        const T *Ai = A + (i0 + ib) * d;
        VT racc[EM_RB];
        T pir[EM_RB];
        for (r = 0; r < EM_RB; r++) {
            racc[r] = vzero;
            pir[r] = pi[i0 + ib + r];
        }
        for (jb = 0; jb < EM_TB; jb += 2 * W) {
            const T *Ej = ET + j0 + jb;
            VT s0[EM_RB], s1[EM_RB], pj0, pj1, c0, c1;
            for (r = 0; r < EM_RB; r++)
                s0[r] = s1[r] = vzero;
            for (kk = 0; kk < d; kk++) {
                const VT e0 = SFX(vload)(Ej + kk * kp), e1 = SFX(vload)(Ej + kk * kp + W);
                for (r = 0; r < EM_RB; r++) {
                    const T av = Ai[r * d + kk];
                    s0[r] += av * e0;
                    s1[r] += av * e1;
                }
            }
            pj0 = SFX(vload)(pi + j0 + jb);
            pj1 = SFX(vload)(pi + j0 + jb + W);
            c0 = diag ? vzero : SFX(vload)(ct + jb);
            c1 = diag ? vzero : SFX(vload)(ct + jb + W);
            for (r = 0; r < EM_RB; r++) {
                VT h0, h1;
                SFX(vsigh2)(s0[r], s1[r], &h0, &h1);
                racc[r] += h0 * pj0 + h1 * pj1;
                if (!diag) {
                    c0 -= h0 * pir[r];
                    c1 -= h1 * pir[r];
                }
            }
            if (!diag) {
                SFX(vstore)(ct + jb, c0);
                SFX(vstore)(ct + jb + W, c1);
            }
        }
        for (r = 0; r < EM_RB; r++) {
            double h = 0.0;
            for (l = 0; l < W; l++)
                h += (double)racc[r][l];
            acc[i0 + ib + r] += h + hcol;
        }
    }
    if (!diag)
        for (l = 0; l < EM_TB; l++)
            acc[j0 + l] += (double)ct[l] + hrow;
}
#else
/* Portable fallback (no vector extensions): every ordered pair, rows only. */
NASHMP_INLINE void SFX(em_tile)(const T *A, const T *ET, int64_t d, int64_t kp, const T *pi,
                                int64_t i0, int64_t j0, int diag, double *acc, T *ct)
{
    int64_t i, j, kk;
    (void)ct;
    for (i = i0; i < i0 + EM_TB; i++) {
        double h = 0.0;
        for (j = j0; j < j0 + EM_TB; j++) {
            double s = 0.0, t, p, q;
            for (kk = 0; kk < d; kk++)
                s += (double)A[i * d + kk] * (double)ET[kk * kp + j];
            t = exp(-fabs(s));
            p = (s >= 0 ? 1.0 : t) / (1.0 + t);
            q = (s >= 0 ? t : 1.0) / (1.0 + t);
            h += p * (double)pi[j];
            if (!diag)
                acc[j] += q * (double)pi[i];
        }
        acc[i] += h;
    }
}
#endif

/* Tile pairs [p0, p1) of the upper triangle (row-major over I, J >= I). */
NASHMP_HOT static void SFX(em_pairs)(const T *A, const T *ET, int64_t d, int64_t kp,
                                     const T *pi, int64_t nT, int64_t p0, int64_t p1,
                                     double *acc, T *ct)
{
    int64_t I = 0, J, rem = p0, p;
    while (rem >= nT - I) {
        rem -= nT - I;
        I++;
    }
    J = I + rem;
    for (p = p0; p < p1; p++) {
        /* common embedding sizes get a copy with d known at compile time (unrolled dot) */
        if (d == 16)
            SFX(em_tile)(A, ET, 16, kp, pi, I * EM_TB, J * EM_TB, I == J, acc, ct);
        else if (d == 2)
            SFX(em_tile)(A, ET, 2, kp, pi, I * EM_TB, J * EM_TB, I == J, acc, ct);
        else if (d == 8)
            SFX(em_tile)(A, ET, 8, kp, pi, I * EM_TB, J * EM_TB, I == J, acc, ct);
        else if (d == 32)
            SFX(em_tile)(A, ET, 32, kp, pi, I * EM_TB, J * EM_TB, I == J, acc, ct);
        else
            SFX(em_tile)(A, ET, d, kp, pi, I * EM_TB, J * EM_TB, I == J, acc, ct);
        if (++J == nT) {
            I++;
            J = I;
        }
    }
}

/* g[0..k) = P pi for one game; pi padded to kp with zeros; acc: nt * kp doubles. */
static void SFX(em_game)(const T *A, const T *ET, int64_t d, int64_t kp, int64_t k,
                         const T *pi, double *g, double *acc, T *cts, int nt)
{
    int64_t nT = kp / EM_TB, np = nT * (nT + 1) / 2, i;
    int t;
    if (nt <= 1) {
        for (i = 0; i < kp; i++)
            acc[i] = 0.0;
        SFX(em_pairs)(A, ET, d, kp, pi, nT, 0, np, acc, cts);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        {
#ifdef _OPENMP
            int tid = omp_get_thread_num();
#else
            int tid = 0;
#endif
            int64_t q0, q1, ii;
            double *a = acc + (int64_t)tid * kp;
            for (ii = 0; ii < kp; ii++)
                a[ii] = 0.0;
            nashmp_split(np, &q0, &q1);
            SFX(em_pairs)(A, ET, d, kp, pi, nT, q0, q1, a, cts + (int64_t)tid * EM_TB);
        }
    }
    for (i = 0; i < k; i++) {
        double s = acc[i];
        for (t = 1; t < nt; t++)
            s += acc[(int64_t)t * kp + i];
        g[i] = s;
    }
}

/* Shared driver of the apply and fused entry points. Exactly one of (pi, out) and (pi_g, fout)
 * is used: pi/out (dtype T) for apply, pi_g/fout (double) for the fused step. */
static int SFX(em_driver)(const T *A, const T *ET, int64_t d, int64_t kp, int64_t k,
                          const T *pi, int64_t ldpi, T *out, int64_t ldo, const double *pi_g,
                          int64_t ldpg, const double *lp, int64_t ldlp, const double *lr,
                          int64_t ldlr, double a, double b, double c, double *fout,
                          int64_t ldfo, double *po, int64_t ldpo, int64_t batch)
{
    int nt = nashmp_threads_for((double)k * (double)k * (double)(d + 8) / 64.0);
    int64_t gi, j;
    int bad = 0, st;
    double *acc = (double *)malloc((size_t)nt * (size_t)kp * sizeof(double));
    double *g = (double *)malloc((size_t)k * sizeof(double));
    T *pp = (T *)malloc((size_t)kp * sizeof(T));
    T *cts = (T *)malloc((size_t)nt * EM_TB * sizeof(T));
    if (!acc || !g || !pp || !cts) {
        bad = NASHMP_ERR_NO_MEMORY;
        goto done;
    }
    for (j = k; j < kp; j++)
        pp[j] = (T)0;
    for (gi = 0; gi < batch; gi++) {
        int rowbad = 0;
        for (j = 0; j < k; j++) {
            T v = pi ? pi[gi * ldpi + j] : (T)pi_g[gi * ldpg + j];
            rowbad |= !((double)v - (double)v == 0.0);
            pp[j] = v;
        }
        if (rowbad) {
            bad = 1;
            continue;
        }
        SFX(em_game)(A, ET, d, kp, k, pp, fout ? fout + gi * ldfo : g, acc, cts, nt);
        if (!fout) {
            T *o = out + gi * ldo;
            for (j = 0; j < k; j++) {
                bad |= !(fabs(g[j]) < NASHMP_INF_F64);
                o[j] = (T)g[j];
            }
        } else {
            st = nashmp_opf_finish(a != 0.0 ? lp + gi * ldlp : NULL,
                                   b != 0.0 ? lr + gi * ldlr : NULL, fout + gi * ldfo,
                                   po ? po + gi * ldpo : NULL, k, a, b, c);
            if (st == NASHMP_ERR_NO_MEMORY) {
                bad = st;
                goto done;
            }
            bad |= st;
        }
    }
done:
    free(acc);
    free(g);
    free(pp);
    free(cts);
    if (bad == NASHMP_ERR_NO_MEMORY)
        return bad;
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}

/* A = E Rs (Rs = (R - R^T)/2, computed in double) and ET = E^T, both padded to kp rows/cols.
 * scores != NULL: Bradley-Terry, A_y = (-1, s_y), E_y = (s_y, 1). Returns 1 on NaN/inf. */
static int SFX(em_prepare)(const T *E, int64_t lde, int64_t d, const T *R, const T *scores,
                           int64_t k, int64_t kp, T *A, T *ET)
{
    int64_t i, q, m;
    int bad = 0;
    double *Rs = NULL;
    if (!scores && R) {
        Rs = (double *)malloc((size_t)(d * d) * sizeof(double));
        if (!Rs)
            return NASHMP_ERR_NO_MEMORY;
        for (q = 0; q < d; q++)
            for (m = 0; m < d; m++) {
                double v = 0.5 * ((double)R[q * d + m] - (double)R[m * d + q]);
                bad |= !(v - v == 0.0);
                Rs[q * d + m] = v;
            }
    }
    for (i = 0; i < kp; i++) {
        if (i >= k) {
            for (q = 0; q < d; q++) {
                A[i * d + q] = (T)0;
                ET[q * kp + i] = (T)0;
            }
        } else if (scores) {
            double s = (double)scores[i];
            bad |= !(s - s == 0.0);
            A[i * 2] = (T)-1;
            A[i * 2 + 1] = scores[i];
            ET[i] = scores[i];
            ET[kp + i] = (T)1;
        } else if (Rs) {
            const T *e = E + i * lde;
            for (q = 0; q < d; q++) {
                double s = 0.0;
                bad |= !((double)e[q] - (double)e[q] == 0.0);
                for (m = 0; m < d; m++)
                    s += (double)e[m] * Rs[m * d + q];
                A[i * d + q] = (T)s;
                ET[q * kp + i] = e[q];
            }
        }
    }
    free(Rs);
    return bad;
}

static int SFX(em_entry)(const T *E, int64_t lde, int64_t d, const T *R, const T *scores,
                         const T *pi, int64_t ldpi, T *out, int64_t ldo, const double *pi_g,
                         int64_t ldpg, const double *lp, int64_t ldlp, const double *lr,
                         int64_t ldlr, double a, double b, double c, double *fout, int64_t ldfo,
                         double *po, int64_t ldpo, int64_t batch, int64_t k)
{
    int64_t kp = (k + EM_TB - 1) / EM_TB * EM_TB;
    int st;
    T *A, *ET;
    if (batch == 0)
        return NASHMP_OK;
    A = (T *)malloc((size_t)kp * (size_t)d * sizeof(T));
    ET = (T *)malloc((size_t)kp * (size_t)d * sizeof(T));
    if (!A || !ET) {
        free(A);
        free(ET);
        return NASHMP_ERR_NO_MEMORY;
    }
    st = SFX(em_prepare)(E, lde, d, R, scores, k, kp, A, ET);
    if (st == 0)
        st = SFX(em_driver)(A, ET, d, kp, k, pi, ldpi, out, ldo, pi_g, ldpg, lp, ldlp, lr, ldlr,
                            a, b, c, fout, ldfo, po, ldpo, batch);
    else if (st == 1)
        st = NASHMP_ERR_NONFINITE;
    free(A);
    free(ET);
    return st;
}
