/* Template of operators_packed.c, included once per dtype with T and SFX(n). */

/* Rows [i0, i1): rowg[i] = sum_{j>i} P[i,j] pi_j; gcol[j] += (1 - P[i,j]) pi_i. */
NASHMP_HOT static void SFX(pk_rows)(const T *Pu, const double *pid, int64_t k, int64_t i0,
                                    int64_t i1, double *rowg, double *gcol)
{
    int64_t i, jj;
    int l;
    for (i = i0; i < i1; i++) {
        const T *row = Pu + nashmp_packed_row(i, k);
        const double *pj = pid + i + 1;
        double *gc = gcol + i + 1;
        const int64_t n = k - 1 - i;
        const double pii = pid[i];
        double s[PK_LANES];
        for (l = 0; l < PK_LANES; l++)
            s[l] = 0.0;
        for (jj = 0; jj + PK_LANES <= n; jj += PK_LANES)
            for (l = 0; l < PK_LANES; l++) {
                const double p = (double)row[jj + l];
                s[l] += p * pj[jj + l];
                gc[jj + l] += (1.0 - p) * pii;
            }
        for (; jj < n; jj++) {
            const double p = (double)row[jj];
            s[jj % PK_LANES] += p * pj[jj];
            gc[jj] += (1.0 - p) * pii;
        }
        rowg[i] = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    }
}

static void SFX(pk_game)(const T *Pu, const double *pid, int64_t k, double *g, double *rowg,
                         double *gcol, int nt)
{
    int64_t i;
    int t;
    if (nt <= 1) {
        for (i = 0; i < k; i++)
            gcol[i] = 0.0;
        SFX(pk_rows)(Pu, pid, k, 0, k, rowg, gcol);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        {
#ifdef _OPENMP
            int tid = omp_get_thread_num(), ntt = omp_get_num_threads();
#else
            int tid = 0, ntt = 1;
#endif
            double *gc = gcol + (int64_t)tid * k;
            int64_t tot = nashmp_packed_row(k, k), ii;
            int64_t r0 = pk_row_at((int64_t)((double)tot * tid / ntt), k);
            int64_t r1 = tid == ntt - 1 ? k : pk_row_at((int64_t)((double)tot * (tid + 1) / ntt), k);
            for (ii = 0; ii < k; ii++)
                gc[ii] = 0.0;
            SFX(pk_rows)(Pu, pid, k, r0, r1, rowg, gc);
        }
    }
    for (i = 0; i < k; i++) {
        double s = 0.5 * pid[i] + rowg[i];
        for (t = 0; t < nt; t++)
            s += gcol[(int64_t)t * k + i];
        g[i] = s;
    }
}

static int SFX(pk_entry)(const T *Pu, const T *pi, int64_t ldpi, T *out, int64_t ldo,
                         const double *pi_g, int64_t ldpg, const double *lp, int64_t ldlp,
                         const double *lr, int64_t ldlr, double a, double b, double c,
                         double *fout, int64_t ldfo, double *po, int64_t ldpo, int64_t batch,
                         int64_t k)
{
    int nt = nashmp_threads_for((double)k * (double)k / 2.0);
    int64_t gi, j;
    int bad = 0, st;
    double *pid, *g, *rowg, *gcol;
    if (batch == 0)
        return NASHMP_OK;
    pid = (double *)malloc((size_t)k * sizeof(double));
    g = (double *)malloc((size_t)k * sizeof(double));
    rowg = (double *)malloc((size_t)k * sizeof(double));
    gcol = (double *)malloc((size_t)nt * (size_t)k * sizeof(double));
    if (!pid || !g || !rowg || !gcol) {
        bad = NASHMP_ERR_NO_MEMORY;
        goto done;
    }
    for (gi = 0; gi < batch; gi++) {
        double *gg = fout ? fout + gi * ldfo : g;
        for (j = 0; j < k; j++)
            pid[j] = pi ? (double)pi[gi * ldpi + j] : pi_g[gi * ldpg + j];
        SFX(pk_game)(Pu, pid, k, gg, rowg, gcol, nt);
        if (!fout) {
            T *o = out + gi * ldo;
            for (j = 0; j < k; j++) {
                bad |= !(fabs(g[j]) < NASHMP_INF_F64);
                o[j] = (T)g[j];
            }
        } else {
            st = nashmp_opf_finish(a != 0.0 ? lp + gi * ldlp : NULL,
                                   b != 0.0 ? lr + gi * ldlr : NULL, gg,
                                   po ? po + gi * ldpo : NULL, k, a, b, c);
            if (st == NASHMP_ERR_NO_MEMORY) {
                bad = st;
                goto done;
            }
            bad |= st;
        }
    }
done:
    free(pid);
    free(g);
    free(rowg);
    free(gcol);
    if (bad == NASHMP_ERR_NO_MEMORY)
        return bad;
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}
