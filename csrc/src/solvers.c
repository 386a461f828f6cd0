/*
 * Dense solvers: the whole iteration loop of the exact (dense-P) methods in one call, and the
 * exploitability of a batch of policies (see nashmp.h, "dense solvers").
 *
 * Structure
 *  - Every game is a small state machine (sv_advance): it runs the O(k) parts of an iteration
 *    (normalization, exp, state updates, exploitability) until it needs one product g = P x, then
 *    returns with the request. A driver performs the products and resumes the games. So a game
 *    iterates until its own stop and inactive or finished games cost nothing.
 *  - A "unit" is 1 game, or, when one P is shared (ldP == 0) and k is large, a group of up to 4
 *    games in lockstep whose products read each row of P once for all of them (the product is
 *    memory bound for large k). A game's result does not depend on its group: the 1-vector and
 *    4-vector kernels run the same inlined block code (8 lanes, fixed combine order, no FMA
 *    contraction), so every output has the same bits in every kernel.
 *  - Threads: OpenMP over units (schedule dynamic), one parallel region per call; or, when there
 *    are too few units for the threads and k is large, units one after the other with each
 *    product split over row blocks (one parallel region per call, barriers per product). Every
 *    output row is computed by the same code whatever the split, so results are bitwise
 *    independent of the thread count and of the mode.
 *  - A normalization writes z = a l + b l_ref + c v to the output while folding blocks of
 *    NASHMP_CHUNK into the online (max, sum) pair, then subtracts logsumexp(z) and takes
 *    pi = exp(l') in the same second pass (2k exps per step). pi is exactly what a fresh call
 *    computes from l', so a run split over several calls gives the same bits as one call.
 *  - The exploitability check after an iteration computes g(pi_{t+1}), which is also the first
 *    query of the next iteration for the methods that query pi_t first (Nash-MP, extragradient,
 *    OMD, MMD, OMWU): it is reused (the query is still counted once, as in the reference loop).
 *
 * Exploitability is computed as beta * logsumexp(l_ref + g/beta) + beta * KL(pi || ref) - 1/2
 * with no clamping: at (or very near) the equilibrium the two terms cancel to rounding, so
 * values down to about -1e-15 can be returned for an exact equilibrium.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "exp_block.h"
#include "lse_block.h"
#include "ms_block.h"

/* Games per unit when P is shared (lockstep group). */
#define SV_GROUP 4
/* Share P rows between the games of a group only from this k on (smaller P stays in cache). */
#define SV_GROUP_MIN_K 64
/* Split the products over row blocks (small batch) only from this k on. */
#define SV_ROW_MIN_K 384
/* Rows per block of the row-parallel product. */
#define SV_ROW_BLOCK 32
/* Accumulation lanes of the dot products (all kernels use the same lanes and combine). */
#define SV_LANES 8
#define SV_COMBINE(s) (((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])))
/* sv_tail_mask + n, n = k % 8: lane l is 1 when column k - 8 + l >= k - n, else 0 */
static const double sv_tail_mask[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};

/* ---- products g = P x (P in double or float, x and g in double) --------------------------- */

/*
 * The dot products of R rows of P with V vectors (R * V <= 4), out[r * V + v], in two always-
 * inlined pieces called with constant R and V, so that every kernel runs the same arithmetic for
 * each output: 8 lanes (lane j % 8 accumulates the terms j, in increasing j), then
 * ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)); P is converted to double before the multiply.
 *   sv_acc_*: lanes += columns [j0, j1) (a multiple of 8 long); state in lo/hi (lanes 0-3, 4-7),
 *             so a product could be split into column tiles without changing a bit;
 *   sv_fin_*: the last n = k % 8 columns, and the combine. k >= 8: the last 8 columns as one
 *             step with x masked to 0 on the 8 - n lanes already summed (lane l gets column
 *             k - 8 + l; masked lanes add +0); k < 8: one zero-padded step.
 * The lanes are 4-double vectors with GCC/Clang vector extensions, plain arrays otherwise.
 */
#ifdef NASHMP_VEXT
typedef nashmp_v4d sv_vec;
typedef float sv_v8f __attribute__((vector_size(32)));
typedef double sv_v8d __attribute__((vector_size(64)));
/* SV_LD2_*: lanes 0-3 and 4-7 of src[0..8) as doubles. float: one 8-lane convert (GCC turns a
 * 4-lane float->double convertvector into two half converts and an insert; the 8-lane one is
 * one load and two vcvtps2pd) */
#define SV_LD2_f64(lo, hi, src)                                                                 \
    do {                                                                                        \
        memcpy(&(lo), (src), sizeof(lo));                                                       \
        memcpy(&(hi), (src) + 4, sizeof(hi));                                                   \
    } while (0)
#define SV_LD2_f32(lo, hi, src)                                                                 \
    do {                                                                                        \
        sv_v8f t_;                                                                              \
        sv_v8d d_;                                                                              \
        memcpy(&t_, (src), sizeof t_);                                                          \
        d_ = __builtin_convertvector(t_, sv_v8d);                                               \
        memcpy(&(lo), &d_, sizeof(lo));                                                         \
        memcpy(&(hi), (char *)&d_ + sizeof(lo), sizeof(hi));                                    \
    } while (0)
#define SV_LD_f64(dst, src) memcpy(&(dst), (src), sizeof(dst))
#define SV_ZERO(v) ((v) = (nashmp_v4d){0.0, 0.0, 0.0, 0.0})
#define SV_MAC(acc, a, b) ((acc) += (a) * (b))
#define SV_ADD(acc, a) ((acc) += (a))
#define SV_MUL(acc, a) ((acc) *= (a))
#define SV_SUB(acc, a) ((acc) -= (a))
#define SV_PROD(d, a, b) ((d) = (a) * (b))
#define SV_SET1(v, x) ((v) = (nashmp_v4d){(x), (x), (x), (x)})
#define SV_SET4(v, a, b, c, d) ((v) = (nashmp_v4d){(a), (b), (c), (d)})
#define SV_ST2(dst, lo, hi)                                                                     \
    do {                                                                                        \
        memcpy((dst), &(lo), sizeof(lo));                                                       \
        memcpy((dst) + 4, &(hi), sizeof(hi));                                                   \
    } while (0)
/* lanes 0-3 and 4-7 of src[0..n) (1 <= n < 8), zeros beyond n, built in registers (no store to
 * load round trip); no element at or beyond n is read */
#define SV_LD_TAIL(dlo, dhi, src, n)                                                            \
    do {                                                                                        \
        double e1_ = (n) > 1 ? (double)(src)[1] : 0.0, e2_ = (n) > 2 ? (double)(src)[2] : 0.0;  \
        double e3_ = (n) > 3 ? (double)(src)[3] : 0.0, e4_ = (n) > 4 ? (double)(src)[4] : 0.0;  \
        double e5_ = (n) > 5 ? (double)(src)[5] : 0.0, e6_ = (n) > 6 ? (double)(src)[6] : 0.0;  \
        nashmp_v4d lo_ = {(double)(src)[0], e1_, e2_, e3_}, hi_ = {e4_, e5_, e6_, 0.0};         \
        (dlo) = lo_;                                                                            \
        (dhi) = hi_;                                                                            \
    } while (0)
#define SV_LANE(v, l) ((v)[l])
/* the loops over R and V have constant trip counts after inlining: make sure they are unrolled
 * (otherwise the lane vectors go through the stack) */
#define SV_UNROLL _Pragma("GCC unroll 8")
#else
#define SV_UNROLL
typedef struct {
    double e[4];
} sv_vec;
#define SV_LD_f64(dst, src) memcpy((dst).e, (src), sizeof((dst).e))
#define SV_LD2_TP(lo, hi, src)                                                                  \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++) {                                                            \
            (lo).e[l_] = (double)(src)[l_];                                                     \
            (hi).e[l_] = (double)(src)[l_ + 4];                                                 \
        }                                                                                       \
    } while (0)
#define SV_LD2_f64 SV_LD2_TP
#define SV_LD2_f32 SV_LD2_TP
#define SV_ZERO(v) memset((v).e, 0, sizeof((v).e))
#define SV_MAC(acc, a, b)                                                                       \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++)                                                              \
            (acc).e[l_] += (a).e[l_] * (b).e[l_];                                               \
    } while (0)
#define SV_ADD(acc, a)                                                                          \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++)                                                              \
            (acc).e[l_] += (a).e[l_];                                                           \
    } while (0)
#define SV_MUL(acc, a)                                                                          \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++)                                                              \
            (acc).e[l_] *= (a).e[l_];                                                           \
    } while (0)
#define SV_SUB(acc, a)                                                                          \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++)                                                              \
            (acc).e[l_] -= (a).e[l_];                                                           \
    } while (0)
#define SV_PROD(d, a, b)                                                                        \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++)                                                              \
            (d).e[l_] = (a).e[l_] * (b).e[l_];                                                  \
    } while (0)
#define SV_SET1(v, x)                                                                           \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++)                                                              \
            (v).e[l_] = (x);                                                                    \
    } while (0)
#define SV_SET4(v, a, b, c, d)                                                                  \
    do {                                                                                        \
        (v).e[0] = (a);                                                                         \
        (v).e[1] = (b);                                                                         \
        (v).e[2] = (c);                                                                         \
        (v).e[3] = (d);                                                                         \
    } while (0)
#define SV_ST2(dst, lo, hi)                                                                     \
    do {                                                                                        \
        memcpy((dst), (lo).e, sizeof((lo).e));                                                  \
        memcpy((dst) + 4, (hi).e, sizeof((hi).e));                                              \
    } while (0)
#define SV_LANE(v, l) ((v).e[l])
#define SV_LD_TAIL(dlo, dhi, src, n)                                                            \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++) {                                                            \
            (dlo).e[l_] = l_ < (n) ? (double)(src)[l_] : 0.0;                                   \
            (dhi).e[l_] = l_ + 4 < (n) ? (double)(src)[l_ + 4] : 0.0;                           \
        }                                                                                       \
    } while (0)
#endif

#define SV_DEFINE_BLOCK(SFX, TP)                                                                \
    NASHMP_INLINE void sv_acc_##SFX(const TP *const *p, int R, const double *const *x, int V,   \
                                    int64_t j0, int64_t j1, sv_vec *lo, sv_vec *hi)             \
    {                                                                                           \
        sv_vec a[4], b[4], xl[4], xh[4], pl, ph;                                                \
        const TP *pr[4];                                                                        \
        const double *xv[4];                                                                    \
        int r, v;                                                                               \
        int64_t j;                                                                              \
        SV_UNROLL for (r = 0; r < R; r++) pr[r] = p[r];                                         \
        SV_UNROLL for (v = 0; v < V; v++) xv[v] = x[v];                                         \
        SV_UNROLL for (r = 0; r < R * V; r++)                                                   \
        {                                                                                       \
            a[r] = lo[r];                                                                       \
            b[r] = hi[r];                                                                       \
        }                                                                                       \
        for (j = j0; j < j1; j += SV_LANES) {                                                   \
            SV_UNROLL for (v = 0; v < V; v++)                                                   \
            {                                                                                   \
                SV_LD_f64(xl[v], xv[v] + j);                                                    \
                SV_LD_f64(xh[v], xv[v] + j + 4);                                                \
            }                                                                                   \
            SV_UNROLL for (r = 0; r < R; r++)                                                   \
            {                                                                                   \
                SV_LD2_##SFX(pl, ph, pr[r] + j);                                                \
                SV_UNROLL for (v = 0; v < V; v++)                                               \
                {                                                                               \
                    SV_MAC(a[r * V + v], pl, xl[v]);                                            \
                    SV_MAC(b[r * V + v], ph, xh[v]);                                            \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        SV_UNROLL for (r = 0; r < R * V; r++)                                                   \
        {                                                                                       \
            lo[r] = a[r];                                                                       \
            hi[r] = b[r];                                                                       \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    NASHMP_INLINE void sv_fin_##SFX(const TP *const *p, int R, const double *const *x, int V,   \
                                    int64_t j, int64_t k, const sv_vec *lo, const sv_vec *hi,   \
                                    double *out)                                                \
    {                                                                                           \
        sv_vec a[4], b[4], xl[4], xh[4], pl, ph;                                                \
        int r, v, n = (int)(k - j);                                                             \
        SV_UNROLL for (v = 0; v < V; v++) /* (silences a false -Wmaybe-uninitialized) */        \
        {                                                                                       \
            SV_ZERO(xl[v]);                                                                     \
            SV_ZERO(xh[v]);                                                                     \
        }                                                                                       \
        SV_UNROLL for (r = 0; r < R * V; r++)                                                   \
        {                                                                                       \
            a[r] = lo[r];                                                                       \
            b[r] = hi[r];                                                                       \
        }                                                                                       \
        if (n > 0 && k >= SV_LANES) {                                                           \
            /* the last 8 columns, lanes of columns < j (already summed) times x = 0: full     \
             * vector loads of P instead of a lane-by-lane build per row */                     \
            SV_UNROLL for (v = 0; v < V; v++)                                                   \
            {                                                                                   \
                sv_vec ml, mh;                                                                  \
                SV_LD2_f64(ml, mh, sv_tail_mask + n);                                           \
                SV_LD2_f64(xl[v], xh[v], x[v] + k - SV_LANES);                                  \
                SV_MUL(xl[v], ml);                                                              \
                SV_MUL(xh[v], mh);                                                              \
            }                                                                                   \
            SV_UNROLL for (r = 0; r < R; r++)                                                   \
            {                                                                                   \
                SV_LD2_##SFX(pl, ph, p[r] + k - SV_LANES);                                      \
                SV_UNROLL for (v = 0; v < V; v++)                                               \
                {                                                                               \
                    SV_MAC(a[r * V + v], pl, xl[v]);                                            \
                    SV_MAC(b[r * V + v], ph, xh[v]);                                            \
                }                                                                               \
            }                                                                                   \
        } else if (n > 0) { /* k < 8: one zero-padded step (padded lanes add +0) */             \
            SV_UNROLL for (v = 0; v < V; v++) SV_LD_TAIL(xl[v], xh[v], x[v] + j, n);            \
            SV_UNROLL for (r = 0; r < R; r++)                                                   \
            {                                                                                   \
                SV_LD_TAIL(pl, ph, p[r] + j, n);                                                \
                SV_UNROLL for (v = 0; v < V; v++)                                               \
                {                                                                               \
                    SV_MAC(a[r * V + v], pl, xl[v]);                                            \
                    SV_MAC(b[r * V + v], ph, xh[v]);                                            \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        SV_UNROLL for (r = 0; r < R * V; r++)                                                   \
        {                                                                                       \
            sv_vec c = a[r];                                                                    \
            SV_ADD(c, b[r]); /* lanes (s0 + s4, s1 + s5, s2 + s6, s3 + s7) */                   \
            out[r] = (SV_LANE(c, 0) + SV_LANE(c, 1)) + (SV_LANE(c, 2) + SV_LANE(c, 3));         \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    NASHMP_INLINE void sv_block_##SFX(const TP *const *p, int R, const double *const *x, int V, \
                                      int64_t k, double *out)                                   \
    {                                                                                           \
        sv_vec lo[4], hi[4];                                                                    \
        int q;                                                                                  \
        int64_t km = k - k % SV_LANES;                                                          \
        for (q = 0; q < R * V; q++) {                                                           \
            SV_ZERO(lo[q]);                                                                     \
            SV_ZERO(hi[q]);                                                                     \
        }                                                                                       \
        sv_acc_##SFX(p, R, x, V, 0, km, lo, hi);                                                \
        sv_fin_##SFX(p, R, x, V, km, k, lo, hi, out);                                           \
    }

/*
 * sv_mv1_*: y[r] = P[r, :] . x for r in [r0, r1), four rows at a time (x loaded once for four
 * rows). sv_mv4_*: y_q[r] = P[r, :] . x_q for four vectors (each element of P loaded once for
 * four games). Both return a bit mask of the vectors with a non-finite output (bit q for
 * vector q).
 */
#define SV_DEFINE_MV(SFX, TP)                                                                   \
    SV_DEFINE_BLOCK(SFX, TP)                                                                    \
    NASHMP_HOT_V3 static int sv_mv1_##SFX(const TP *P, int64_t k, const double *x, double *y,   \
                                          int64_t r0, int64_t r1, int rev)                      \
    {                                                                                           \
        int bad = 0, l;                                                                         \
        const int64_t n4 = (r1 - r0) / 4;                                                       \
        int64_t b, r;                                                                           \
        for (b = 0; b < n4; b++) {                                                              \
            const TP *p[4];                                                                     \
            double v[4];                                                                        \
            r = rev ? r1 - 4 * (b + 1) : r0 + 4 * b;                                            \
            for (l = 0; l < 4; l++)                                                             \
                p[l] = P + (r + l) * k;                                                         \
            sv_block_##SFX(p, 4, &x, 1, k, v);                                                  \
            for (l = 0; l < 4; l++) {                                                           \
                bad |= !(fabs(v[l]) < NASHMP_INF_F64);                                          \
                y[r + l] = v[l];                                                                \
            }                                                                                   \
        }                                                                                       \
        for (b = 0; b < (r1 - r0) % 4; b++) { /* the rows left: at the end, or at the start */  \
            const TP *p;                                                                        \
            double v;                                                                           \
            r = rev ? r0 + (r1 - r0) % 4 - 1 - b : r0 + 4 * n4 + b;                             \
            p = P + r * k;                                                                      \
            sv_block_##SFX(&p, 1, &x, 1, k, &v);                                                \
            bad |= !(fabs(v) < NASHMP_INF_F64);                                                 \
            y[r] = v;                                                                           \
        }                                                                                       \
        return bad;                                                                             \
    }                                                                                           \
                                                                                                \
    NASHMP_HOT_V3 static int sv_mv4_##SFX(const TP *P, int64_t k, const double *const *xs,      \
                                          double *const *ys, int64_t r0, int64_t r1, int rev)   \
    {                                                                                           \
        int bad = 0, l;                                                                         \
        int64_t b;                                                                              \
        for (b = 0; b < r1 - r0; b++) {                                                         \
            const int64_t r = rev ? r1 - 1 - b : r0 + b;                                        \
            const TP *p = P + r * k;                                                            \
            double v[4];                                                                        \
            sv_block_##SFX(&p, 1, xs, 4, k, v);                                                 \
            for (l = 0; l < 4; l++) {                                                           \
                bad |= (!(fabs(v[l]) < NASHMP_INF_F64)) << l;                                   \
                ys[l][r] = v[l];                                                                \
            }                                                                                   \
        }                                                                                       \
        return bad;                                                                             \
    }

/* No FMA contraction in the products: GCC contracts s += p * x differently in differently shaped
 * loops, which would make a game's g depend on its kernel (group, remainder row) in the last bit.
 * Separate rounding of p * x makes every kernel and both clones give the same bits (on Zen 3
 * mul and add issue on separate pipes, so this costs no throughput; large k is memory bound). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
SV_DEFINE_MV(f64, double)
SV_DEFINE_MV(f32, float)

/*
 * sv_pk_*: the part of y = P x that rows [i0, i1) of the strict upper triangle of P give
 * (P[j, i] = 1 - P[i, j], P[i, i] = 1/2), into y[i0..k) (zeroed first): one pass over half the
 * bytes of the dense product. ld = 0: P stored packed (P[i, j], j > i, row by row at
 * i*k - i*(i+1)/2 + j - i - 1); ld > 0: P dense with rows ld apart (P[i, j] at i*ld + j), its
 * lower triangle never used. i0 is a multiple of SV_PK_R, i1 one too or k. Rows SV_PK_R at a time
 * (as many streams): the dot products P[i+r, j] x_j (4 lanes, combined (s0 + s1) + (s2 + s3))
 * and, in the same pass, y[j] += sum_r x_{i+r} - sum_r P[i+r, j] x_{i+r} for the columns j on
 * their right. The last rows (fewer than SV_PK_R entries each) are scalar.
 */
#ifdef NASHMP_VEXT
#define SV_LD4_f64(dst, src) memcpy(&(dst), (src), sizeof(dst))
#define SV_LD4_f32(dst, src) /* one vcvtps2pd (a 4-lane convertvector is split by GCC) */         \
    ((dst) = (nashmp_v4d){(double)(src)[0], (double)(src)[1], (double)(src)[2], (double)(src)[3]})
#define SV_ST(dst, v) memcpy((dst), &(v), sizeof(v))
/* v &= the 4 lanes of m (all ones or zeros): zero lanes whatever they held, NaN included */
#define SV_AND(v, m)                                                                            \
    do {                                                                                        \
        nashmp_v4l m_;                                                                          \
        memcpy(&m_, (m), sizeof m_);                                                            \
        (v) = (sv_vec)((nashmp_v4l)(v) & m_);                                                   \
    } while (0)
/* y[i + r] += ((sum of the lanes of a[r]) + lane r % 4 of tq[r / 4]) + x[i + r] / 2 for the 8
 * rows, the lane sums ((l0 + l1) + (l2 + l3)) by a transpose of 4 rows at a time */
#define SV_PK_ROWSUMS()                                                                         \
    do {                                                                                        \
        int h_;                                                                                 \
        for (h_ = 0; h_ < 8; h_ += 4) {                                                         \
            const nashmp_v4l e_ = {0, 4, 2, 6}, o_ = {1, 5, 3, 7};                              \
            const nashmp_v4l l_ = {0, 1, 4, 5}, u_ = {2, 3, 6, 7};                              \
            sv_vec t0_ = __builtin_shuffle(a[h_], a[h_ + 1], e_) +                              \
                         __builtin_shuffle(a[h_], a[h_ + 1], o_);                               \
            sv_vec t1_ = __builtin_shuffle(a[h_ + 2], a[h_ + 3], e_) +                          \
                         __builtin_shuffle(a[h_ + 2], a[h_ + 3], o_);                           \
            sv_vec s_ = __builtin_shuffle(t0_, t1_, l_) + __builtin_shuffle(t0_, t1_, u_);      \
            sv_vec xv_, yv_;                                                                    \
            SV_LD4_f64(xv_, x + i + h_);                                                        \
            SV_LD4_f64(yv_, y + i + h_);                                                        \
            yv_ += (s_ + tq[h_ / 4]) + 0.5 * xv_;                                               \
            SV_ST(y + i + h_, yv_);                                                             \
        }                                                                                       \
    } while (0)
#else
#define SV_LD4_f64(dst, src) SV_LD4_TP(dst, src)
#define SV_LD4_f32(dst, src) SV_LD4_TP(dst, src)
#define SV_LD4_TP(dst, src)                                                                     \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++)                                                              \
            (dst).e[l_] = (double)(src)[l_];                                                    \
    } while (0)
#define SV_ST(dst, v) memcpy((dst), (v).e, sizeof((v).e))
#define SV_PK_ROWSUMS()                                                                         \
    do {                                                                                        \
        int l_;                                                                                 \
        for (r = 0; r < SV_PK_R; r++) {                                                         \
            double d[4];                                                                        \
            for (l_ = 0; l_ < 4; l_++)                                                          \
                d[l_] = SV_LANE(a[r], l_);                                                      \
            y[i + r] += (((d[0] + d[1]) + (d[2] + d[3])) + SV_LANE(tq[r / 4], r % 4)) +          \
                        0.5 * xr[r];                                                            \
        }                                                                                       \
    } while (0)
#define SV_AND(v, m)                                                                            \
    do {                                                                                        \
        int l_;                                                                                 \
        for (l_ = 0; l_ < 4; l_++)                                                              \
            if (!(m)[l_])                                                                       \
                (v).e[l_] = 0.0;                                                                \
    } while (0)
#endif
/* sv_diag_mask[r][c]: all ones where column c of the 8 x 8 diagonal block is right of row r */
#define SV_M1 (~0ull)
static const unsigned long long sv_diag_mask[8][8] = {
    {0, SV_M1, SV_M1, SV_M1, SV_M1, SV_M1, SV_M1, SV_M1},
    {0, 0, SV_M1, SV_M1, SV_M1, SV_M1, SV_M1, SV_M1},
    {0, 0, 0, SV_M1, SV_M1, SV_M1, SV_M1, SV_M1},
    {0, 0, 0, 0, SV_M1, SV_M1, SV_M1, SV_M1},
    {0, 0, 0, 0, 0, SV_M1, SV_M1, SV_M1},
    {0, 0, 0, 0, 0, 0, SV_M1, SV_M1},
    {0, 0, 0, 0, 0, 0, 0, SV_M1},
    {0, 0, 0, 0, 0, 0, 0, 0}};
/* offset of P[i, i + 1]: packed (ld = 0) or dense with rows ld apart */
NASHMP_INLINE int64_t sv_pk_row(int64_t i, int64_t k, int64_t ld)
{
    return ld ? i * ld + i + 1 : nashmp_packed_row(i, k);
}
#define SV_PK_R 8                 /* rows per block of sv_pk_* */
#define SV_PF 64                  /* its prefetch distance, elements */
#define SV_PF_MIN_BYTES (16 << 20) /* and the triangles it prefetches for */
#ifndef SV_PW_MIN_BYTES /* the triangles that may be copied in panel order (sv_drive_panels) */
#define SV_PW_MIN_BYTES SV_PF_MIN_BYTES
#endif
/*
 * Panel order (sv_pkw_*, from a copy made by sv_pks_*). Reading the triangle from P takes
 * SV_PK_R row streams and, for each block of rows, x and y over all the columns on its right: at
 * K = 4000 those rows of k doubles do not stay in L1, and the product reaches about 80% of the
 * read bandwidth. The panel order runs the same arithmetic over columns SV_PW at a time (every
 * block of rows for columns [c0, c0 + SV_PW), then the next panel), so that x and y stay in L1,
 * and reads the values of P from a copy laid out in exactly that order: one stream. A block's
 * row sums (a, t) wait in `st` from one panel to the next and are finished after the last one.
 * Each piece of a block's work goes to the panel of its first vector column: the diagonal block
 * and the head columns to that of i + 8 + hd, a vector step to that of its first column, the
 * tail to that of the first tail column. Every y[j] then receives its terms from the blocks in
 * increasing order, as in the row order, and every row its terms in increasing j: the bits are
 * those of the row order.
 */
#ifndef SV_PW
#define SV_PW 512 /* columns per panel */
#endif
#define SV_PW_ST (4 * SV_PK_R + SV_PK_R) /* state doubles per block: a (8 x 4 lanes), tq (8) */
/* read P (row sums at the end of each block) / read P in the panel-order arithmetic (one panel) /
 * the same, copying the values read in panel order / panel order from the copy. For the same k,
 * SV_SRC_P and SV_PANEL run one arithmetic (row sums kept in st, summed after the last panel):
 * GCC contracts a * b + c to FMA differently when the row sums follow the tail in registers, so
 * the triangles that may be copied never use SV_SRC. */
enum { SV_SRC, SV_SRC_P, SV_STORE, SV_PANEL };
/* 4 values of P from src (SV_SRC), also appended to the copy (SV_STORE), or from the copy */
#define SV_PW_LD4(SFX, dst, src)                                                                   \
    do {                                                                                           \
        if (MODE == SV_PANEL) {                                                                    \
            SV_LD4_##SFX(dst, w_);                                                                 \
            w_ += 4;                                                                               \
        } else {                                                                                   \
            if (MODE == SV_STORE) {                                                                \
                memcpy(w_, (src), 4 * sizeof *w_);                                                 \
                w_ += 4;                                                                           \
            }                                                                                      \
            SV_LD4_##SFX(dst, src);                                                                \
        }                                                                                          \
    } while (0)
/* one value of P (the expression src is evaluated only when reading P) */
#define SV_PW_LD1(src)                                                                             \
    (MODE == SV_PANEL ? (double)*w_++ : MODE == SV_STORE ? (double)(*w_++ = (src)) : (double)(src))
/* tq[0], tq[1] += the values p[0..8) (rows 0-3, 4-7) times x[j]: one vector multiply-add per
 * lane, whatever the compiler makes of the scalar code around it (8 scalar updates were
 * contracted to FMA in some instantiations of sv_pk_body and vectorized as multiplies and a
 * vector add in others, which gave a copied and an uncopied triangle different bits) */
#define SV_PK_TQ(p, j)                                                                             \
    do {                                                                                           \
        sv_vec pl_, ph_, xj_;                                                                      \
        SV_SET4(pl_, (p)[0], (p)[1], (p)[2], (p)[3]);                                              \
        SV_SET4(ph_, (p)[4], (p)[5], (p)[6], (p)[7]);                                              \
        SV_SET1(xj_, x[j]);                                                                        \
        SV_MAC(tq[0], pl_, xj_);                                                                   \
        SV_MAC(tq[1], ph_, xj_);                                                                   \
    } while (0)
/* one column j of the SV_PK_R rows i + r (scalar: heads and tails of the vector loop) */
#define SV_PK_COL(j)                                                                               \
    do {                                                                                           \
        double c_ = 0.0, p_[SV_PK_R];                                                              \
        for (r = 0; r < SV_PK_R; r++) {                                                            \
            p_[r] = SV_PW_LD1(q[r][(j) - i - r - 1]);                                              \
            c_ += p_[r] * xr[r];                                                                   \
        }                                                                                          \
        SV_PK_TQ(p_, j);                                                                           \
        y[j] += sx - c_;                                                                           \
    } while (0)
#if SV_PK_R != 8
#error "SV_PK_DIAG and sv_diag_mask are written for blocks of 8 rows"
#endif
/* the 8 x 8 diagonal block of rows i + r of a dense P (ld > 0) as vectors: entries on and below
 * the diagonal are loaded and masked to zero (never used, NaN included); row sums into a[r],
 * column updates y[i + c] += sum_{r < c} (x_{i+r} - P[i + r, i + c] x_{i+r}). The vectors with
 * no column right of the diagonal (columns 0-3 of rows 3-7, 4-7 of row 7) are neither read nor
 * copied: their terms would be +0 (x >= 0), so the bits are those of the whole block. K = 100
 * double: 582 -> 564 ns per product. */
#define SV_PK_DIAG(SFX, TP)                                                                        \
    do {                                                                                           \
        sv_vec xl_, xh_, sl_, sh_, cl_, ch_, pl_, ph_, v_, w2_;                                    \
        SV_LD4_f64(xl_, x + i);                                                                    \
        SV_LD4_f64(xh_, x + i + 4);                                                                \
        SV_ZERO(sl_);                                                                              \
        SV_ZERO(sh_);                                                                              \
        SV_ZERO(cl_);                                                                              \
        SV_ZERO(ch_);                                                                              \
        SV_UNROLL for (r = 0; r < 8; r++)                                                          \
        {                                                                                          \
            const TP *d_ = q[r] - r - 1; /* P[i + r, i] */                                         \
            const int lo_ = r < 3, hi_ = r < 7; /* vectors with columns right of the diagonal */   \
            SV_SET1(v_, xr[r]);                                                                    \
            if (lo_) {                                                                             \
                SV_PW_LD4(SFX, pl_, d_);                                                           \
                SV_AND(pl_, sv_diag_mask[r]);                                                      \
                SV_MAC(a[r], pl_, xl_);                                                            \
                SV_MAC(cl_, pl_, v_);                                                              \
                w2_ = v_;                                                                          \
                SV_AND(w2_, sv_diag_mask[r]);                                                      \
                SV_ADD(sl_, w2_);                                                                  \
            }                                                                                      \
            if (hi_) {                                                                             \
                SV_PW_LD4(SFX, ph_, d_ + 4);                                                       \
                SV_AND(ph_, sv_diag_mask[r] + 4);                                                  \
                SV_MAC(a[r], ph_, xh_);                                                            \
                SV_MAC(ch_, ph_, v_);                                                              \
                w2_ = v_;                                                                          \
                SV_AND(w2_, sv_diag_mask[r] + 4);                                                  \
                SV_ADD(sh_, w2_);                                                                  \
            }                                                                                      \
        }                                                                                          \
        SV_SUB(sl_, cl_);                                                                          \
        SV_SUB(sh_, ch_);                                                                          \
        SV_LD4_f64(v_, y + i);                                                                     \
        SV_ADD(v_, sl_);                                                                           \
        SV_ST(y + i, v_);                                                                          \
        SV_LD4_f64(v_, y + i + 4);                                                                 \
        SV_ADD(v_, sh_);                                                                           \
        SV_ST(y + i + 4, v_);                                                                      \
    } while (0)
/* the first column of a block's vector loop (dense rows of whole 32-byte lines: the first hd
 * columns are scalar, so that its loads of P do not split cache lines) */
NASHMP_INLINE int64_t sv_pk_head(const void *Pu, int64_t ld, size_t el)
{
    return (ld && ld * (int64_t)el % 32 == 0) ? (int64_t)(4 - (uintptr_t)Pu / el % 4) % 4 : 0;
}
/* Values of P the product of rows [i0, i1) reads (the length of its panel-order copy) */
static int64_t sv_pk_count(int64_t k, int64_t ld, int64_t i0, int64_t i1)
{
    int64_t i, n = 0;
    for (i = i0; i + SV_PK_R <= i1; i += SV_PK_R)
        n += (ld ? 40 : 28) + SV_PK_R * (k - i - SV_PK_R); /* 10 vectors of the diagonal block */
    for (; i < i1; i++)
        n += k - 1 - i;
    return n;
}
/* st: SV_PW_ST doubles per block of rows (panel modes). w_: the copy of rows [i0, i1). */
#define SV_DEFINE_PK(SFX, TP)                                                                      \
    NASHMP_INLINE void sv_pk_body_##SFX(const TP *Pu, int64_t k, int64_t ld, const double *x,      \
                                        double *y, int64_t i0, int64_t i1, TP *w_, double *st,     \
                                        const int MODE)                                            \
    {                                                                                              \
        int64_t i, j, p, c0, c1;                                                                   \
        int r;                                                                                     \
        /* triangles beyond the last-level cache: prefetch SV_PF elements ahead in each row        \
           stream (K = 4000 double: -15% per product; in L3 it costs 5%) */                        \
        /* (SV_SRC reads only the triangles that are never copied, SV_PW_MIN_BYTES at most: no    \
           prefetch, and no test of it in the loop) */                                             \
        const int pf = (MODE == SV_SRC_P || (MODE == SV_SRC && SV_PW_MIN_BYTES < SV_PF_MIN_BYTES)) \
                       && 0.5 * (double)k * (double)k * sizeof(TP) > SV_PF_MIN_BYTES;              \
        const int64_t hd = sv_pk_head(Pu, ld, sizeof(TP));                                         \
        const int64_t np = MODE < SV_STORE ? 1 : (k + SV_PW - 1) / SV_PW;                          \
        for (j = i0; j < k; j++)                                                                   \
            y[j] = 0.0;                                                                            \
        for (p = 0; p < np; p++) {                                                                 \
            c0 = MODE < SV_STORE ? 0 : p * SV_PW;                                                  \
            c1 = MODE < SV_STORE ? k : c0 + SV_PW;                                                 \
            for (i = i0; i + SV_PK_R <= i1; i += SV_PK_R) {                                        \
                const TP *q[SV_PK_R]; /* q[r][j - i - r - 1] = P[i + r, j] */                      \
                double xr[SV_PK_R], sx = 0.0;                                                      \
                sv_vec a[SV_PK_R], tq[2], vs, xv, yv, pv, cv, cw, vr; /* tq: scalar columns */     \
                const int64_t j0 = i + SV_PK_R + hd, rep0 = j0 < k ? j0 : k - 1;                   \
                double *sb = /* this block's row sums */                                   \
                    MODE == SV_SRC ? NULL : st + (i - i0) / SV_PK_R * SV_PW_ST;                    \
                if (rep0 >= c1) /* this block and the next ones start in a later panel */          \
                    break;                                                                         \
                SV_UNROLL for (r = 0; r < SV_PK_R; r++)                                            \
                {                                                                                  \
                    q[r] = Pu + sv_pk_row(i + r, k, ld);                                           \
                    xr[r] = x[i + r];                                                              \
                    sx += xr[r];                                                                   \
                    if (MODE == SV_SRC || rep0 >= c0) /* first visit (SV_SRC_P: every one) */      \
                        SV_ZERO(a[r]);                                                             \
                    else                                                                           \
                        memcpy(&a[r], sb + 4 * r, sizeof a[r]);                                    \
                }                                                                                  \
                if (MODE == SV_SRC || rep0 >= c0) {                                                \
                    SV_ZERO(tq[0]);                                                                \
                    SV_ZERO(tq[1]);                                                                \
                } else                                                                             \
                    memcpy(tq, sb + 4 * SV_PK_R, sizeof tq);                                       \
                SV_SET1(vs, sx);                                                                   \
                if (rep0 >= c0) {                                                                  \
                    if (ld) /* dense rows: the diagonal block as vectors */                        \
                        SV_PK_DIAG(SFX, TP);                                                       \
                    else /* packed rows: the triangle, scalar (rows r < j - i) */                  \
                        for (j = i + 1; j < i + SV_PK_R; j++) {                                    \
                            double c = 0.0, s = 0.0, pp[SV_PK_R] = {0.0};                          \
                            for (r = 0; r < j - i; r++) {                                          \
                                pp[r] = SV_PW_LD1(q[r][j - i - r - 1]);                            \
                                c += pp[r] * xr[r];                                                \
                                s += xr[r];                                                        \
                            }                                                                      \
                            SV_PK_TQ(pp, j); /* rows r >= j - i add +0 */                          \
                            y[j] += s - c;                                                         \
                        }                                                                          \
                    for (j = i + SV_PK_R; j < j0 && j < k; j++)                                    \
                        SV_PK_COL(j);                                                              \
                } else /* the first vector step in this panel */                                   \
                    j = j0 + (c0 - j0 + 3) / 4 * 4;                                                \
                for (; j + 4 <= k && j < c1; j += 4) {                                             \
                    SV_LD4_f64(xv, x + j);                                                         \
                    SV_LD4_f64(yv, y + j);                                                         \
                    SV_ZERO(cv);                                                                   \
                    SV_ZERO(cw);                                                                   \
                    SV_UNROLL for (r = 0; r < SV_PK_R; r += 2) /* two chains: even, odd rows */    \
                    {                                                                              \
                        if (pf) {                                                                  \
                            __builtin_prefetch(q[r] + (j - i - r - 1) + SV_PF);                    \
                            __builtin_prefetch(q[r + 1] + (j - i - r - 2) + SV_PF);                \
                        }                                                                          \
                        SV_PW_LD4(SFX, pv, q[r] + (j - i - r - 1));                                \
                        SV_MAC(a[r], pv, xv);                                                      \
                        SV_SET1(vr, xr[r]); /* loop invariant: hoisted */                          \
                        SV_MAC(cv, pv, vr);                                                        \
                        SV_PW_LD4(SFX, pv, q[r + 1] + (j - i - r - 2));                            \
                        SV_MAC(a[r + 1], pv, xv);                                                  \
                        SV_SET1(vr, xr[r + 1]);                                                    \
                        SV_MAC(cw, pv, vr);                                                        \
                    }                                                                              \
                    SV_ADD(cv, cw);                                                                \
                    pv = vs;                                                                       \
                    SV_SUB(pv, cv);                                                                \
                    SV_ADD(yv, pv);                                                                \
                    SV_ST(y + j, yv);                                                              \
                }                                                                                  \
                if (j + 4 > k && j < c1) /* the tail, in the panel of its first column */         \
                    for (; j < k; j++)                                                             \
                        SV_PK_COL(j);                                                              \
                if (MODE == SV_SRC) {                                                              \
                    SV_PK_ROWSUMS();                                                               \
                } else {                                                                           \
                    memcpy(sb + 4 * SV_PK_R, tq, sizeof tq);                                       \
                    SV_UNROLL for (r = 0; r < SV_PK_R; r++)                                        \
                        memcpy(sb + 4 * r, &a[r], sizeof a[r]);                                    \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        if (MODE != SV_SRC) /* the row sums, after the last panel */                               \
            for (i = i0; i + SV_PK_R <= i1; i += SV_PK_R) {                                        \
                const double *sb = st + (i - i0) / SV_PK_R * SV_PW_ST;                             \
                double xr[SV_PK_R];                                                                \
                sv_vec a[SV_PK_R], tq[2];                                                          \
                memcpy(tq, sb + 4 * SV_PK_R, sizeof tq);                                           \
                SV_UNROLL for (r = 0; r < SV_PK_R; r++)                                            \
                {                                                                                  \
                    xr[r] = x[i + r];                                                              \
                    memcpy(&a[r], sb + 4 * r, sizeof a[r]);                                        \
                }                                                                                  \
                (void)xr;                                                                          \
                SV_PK_ROWSUMS();                                                                   \
            }                                                                                      \
        for (i = i0 + (i1 - i0) / SV_PK_R * SV_PK_R; i < i1; i++) {                                \
            /* the last rows, fewer than SV_PK_R entries each */                                   \
            const TP *q0 = Pu + sv_pk_row(i, k, ld);                                               \
            double t0 = 0.0;                                                                       \
            for (j = i + 1; j < k; j++) {                                                          \
                double pp = SV_PW_LD1(q0[j - i - 1]);                                              \
                t0 += pp * x[j];                                                                   \
                y[j] += x[i] - pp * x[i];                                                          \
            }                                                                                      \
            y[i] += t0 + 0.5 * x[i];                                                               \
        }                                                                                          \
    }                                                                                              \
    NASHMP_HOT static void sv_pk_##SFX(const TP *Pu, int64_t k, int64_t ld, const double *x,       \
                                       double *y, int64_t i0, int64_t i1)                          \
    {                                                                                              \
        sv_pk_body_##SFX(Pu, k, ld, x, y, i0, i1, NULL, NULL, SV_SRC);                             \
    }                                                                                              \
    NASHMP_HOT static void sv_pkl_##SFX(const TP *Pu, int64_t k, int64_t ld, const double *x,      \
                                        double *y, int64_t i0, int64_t i1, double *st)             \
    {                                                                                              \
        sv_pk_body_##SFX(Pu, k, ld, x, y, i0, i1, NULL, st, SV_SRC_P);                             \
    }                                                                                              \
    static void sv_pks_##SFX(const TP *Pu, int64_t k, int64_t ld, const double *x, double *y,      \
                             int64_t i0, int64_t i1, TP *w, double *st)                            \
    {                                                                                              \
        sv_pk_body_##SFX(Pu, k, ld, x, y, i0, i1, w, st, SV_STORE);                                \
    }                                                                                              \
    NASHMP_HOT static void sv_pkw_##SFX(const TP *Pu, int64_t k, int64_t ld, const double *x,      \
                                        double *y, int64_t i0, int64_t i1, const TP *w,            \
                                        double *st)                                                \
    {                                                                                              \
        sv_pk_body_##SFX(Pu, k, ld, x, y, i0, i1, (TP *)(uintptr_t)w, st, SV_PANEL);               \
    }

#if defined(__clang__)
#pragma STDC FP_CONTRACT DEFAULT
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
/* The triangle products contract to FMA: every product of a packed or upper solve goes through
 * this one kernel, so no game's bits depend on its grouping (the default clone, without FMA,
 * rounds differently from the v3/v4 ones). 16 instead of 32 floating-point operations per
 * 4 x 8 block: K = 1000 double 146 -> 130 us per iteration, float 4000 3.13 -> 2.99 ms. */
SV_DEFINE_PK(f64, double)
SV_DEFINE_PK(f32, float)


/* ---- row math (all double) ------------------------------------------------------------------ */

/* e = exp(l) for l <= 709 by exp_red (exp_block.h: <= 1.05 ulp; results below e^-708 = 3.3e-308
 * are flushed to 0, where the full exp would give a subnormal probability). */
NASHMP_INLINE void sv_exp_red_row(const double *NASHMP_RESTRICT l, int64_t k,
                                  double *NASHMP_RESTRICT e)
{
    int64_t j = 0;
#ifdef NASHMP_VEXT
    for (; j + 4 <= k; j += 4) {
        nashmp_v4d v;
        memcpy(&v, l + j, sizeof v);
        v = nashmp_vexp_red_f64(v);
        memcpy(e + j, &v, sizeof v);
    }
#endif
    for (; j < k; j++)
        e[j] = nashmp_exp_red_f64(l[j]);
}

/*
 * out = N(a l + b lr + c v) and e = exp(out), rows of k. A term whose coefficient is exactly 0
 * is not read (0 * -inf would be NaN). out may be l (in place); e must not alias the inputs.
 * Three passes: z to out, then its max (NaN is found from the exp sum), then the exp sum;
 * finally out = z - logsumexp(z) and, when fresh, e = exp(out) from the stored log, by the same
 * function as sv_exp_row (so a pi carried to the next iteration is exactly exp(l) as a fresh
 * call computes it: a run split over several calls gives the same bits); otherwise (a policy
 * used within the iteration only) e = the exps of the sum over their sum, one pass of exps
 * fewer. Returns nonzero when z holds NaN or +inf, or is all -inf (no distribution).
 */
NASHMP_INLINE int sv_norm(double a, const double *l, double b, const double *lr, double c,
                          const double *v, int64_t k, double *out, double *NASHMP_RESTRICT e,
                          int fresh)
{
    double m, s, lse;
    int64_t j;
    if (a != 0.0 && b != 0.0 && c != 0.0) {
        for (j = 0; j < k; j++)
            out[j] = a * l[j] + b * lr[j] + c * v[j];
    } else {
        if (a != 0.0)
            for (j = 0; j < k; j++)
                out[j] = a * l[j];
        else
            for (j = 0; j < k; j++)
                out[j] = 0.0;
        if (b != 0.0)
            for (j = 0; j < k; j++)
                out[j] += b * lr[j];
        if (c != 0.0)
            for (j = 0; j < k; j++)
                out[j] += c * v[j];
    }
    m = NASHMP_TILE_MAX_F64(out, k);
    if (!(m < NASHMP_INF_F64) || m == -NASHMP_INF_F64)
        return 1; /* +inf (or NaN: the NaN-aware max of non-vector builds), or all -inf / NaN */
    s = nashmp_chunk_expsum_f64(out, k, m, fresh ? NULL : e);
    if (s != s)
        return 1; /* NaN */
    lse = m + log(s);
    for (j = 0; j < k; j++)
        out[j] -= lse;
    if (fresh) {
        sv_exp_red_row(out, k, e);
    } else {
        const double r = 1.0 / s;
        for (j = 0; j < k; j++)
            e[j] *= r;
    }
    return 0;
}

/* e = exp(l); nonzero when l holds NaN or +inf. */
NASHMP_INLINE int sv_exp_row(const double *NASHMP_RESTRICT l, int64_t k,
                             double *NASHMP_RESTRICT e)
{
    int64_t j;
    const double m = nashmp_chunk_max_f64(l, k);
    if (!(m < NASHMP_INF_F64))
        return 1;
    if (m <= 700.0) { /* log-probabilities: always */
        sv_exp_red_row(l, k, e);
        return 0;
    }
    for (j = 0; j < k; j++)
        e[j] = nashmp_exp_f64(l[j]);
    return 0;
}

/* beta * logsumexp(lr + g/beta) + beta * KL(pi || ref) - 1/2 (beta > 0), max g - 1/2 (beta == 0),
 * with pi = exp(l) given; KL terms with l = -inf are 0, with lr = -inf < l they are +inf. */
NASHMP_INLINE double sv_expl_row(const double *NASHMP_RESTRICT l,
                                 const double *NASHMP_RESTRICT pi,
                                 const double *NASHMP_RESTRICT g,
                                 const double *NASHMP_RESTRICT lr, double beta, int64_t k)
{
    double y[NASHMP_CHUNK], kl[SV_LANES];
    nashmp_ms st = nashmp_ms_init();
    int64_t c0, j;
    int q;
    if (beta == 0.0)
        return nashmp_chunk_max_f64(g, k) - 0.5;
    for (q = 0; q < SV_LANES; q++)
        kl[q] = 0.0;
    for (c0 = 0; c0 < k; c0 += NASHMP_CHUNK) {
        int64_t n = k - c0 < NASHMP_CHUNK ? k - c0 : NASHMP_CHUNK;
        const double *l1 = l + c0, *p1 = pi + c0, *g1 = g + c0, *r1 = lr + c0;
        double m;
        for (j = 0; j < n; j++)
            y[j] = r1[j] + g1[j] / beta;
        m = nashmp_ms_rescale(&st, nashmp_chunk_max_f64(y, n));
        if (m > -NASHMP_INF_F64 && m < NASHMP_INF_F64)
            st.s += nashmp_chunk_sumexp_f64(y, n, m);
        for (j = 0; j < n; j++) {
            double t = l1[j] == -NASHMP_INF_F64   ? 0.0
                       : r1[j] == -NASHMP_INF_F64 ? NASHMP_INF_F64
                                                  : p1[j] * (l1[j] - r1[j]);
            kl[(c0 + j) % SV_LANES] += t;
        }
    }
    return beta * (st.m + log(st.s)) + beta * SV_COMBINE(kl) - 0.5;
}

/* ---- per-game state machine ------------------------------------------------------------------ */

enum { SV_DENSE, SV_PACKED, SV_UPPER };
enum { PH_INIT, PH_ITER, PH_Q0, PH_Q1, PH_CHECK, PH_EVAL, PH_DONE };

typedef struct {
    const void *P; /* first matrix; game i's is P + i * ldP elements */
    int64_t ldP;
    int f32;    /* P holds float */
    int packed; /* SV_PACKED: P holds strict upper triangles; SV_UPPER: dense P read through its
                   strict upper triangle (both by sv_pk_*) */
    int eval; /* exploitability only (nashmp_exploitability_dense_*) */
    int method;
    int64_t k, max_iter, check_every;
    double tol;
    const double *lref, *beta, *eta;
    int64_t ldref;
    double *lpi; /* log_pi (read only in eval mode) */
    int64_t ldpi;
    double *state;
    int64_t ldst;
    int64_t *iter, *nq;
    double *expl; /* solver: exploitability; eval: out */
    uint8_t *active;
    const void *pw;       /* sv_drive_panels: the panel-order copy of the triangle, or NULL */
    const int64_t *pwoff; /* and where each row chunk's part starts in it (elements) */
    nashmp_workspace *ws; /* keeps the copy between calls, or NULL */
} sv_cfg;

/* The panel-order copy a workspace keeps, and the triangle it was made from (w == NULL: none) */
struct nashmp_workspace {
    void *w;
    const void *P0;
    int64_t k;
    int f32, packed;
};

typedef struct {
    int64_t i;
    const void *P;
    double *l, *st;
    const double *lr;
    double *pi, *g, *h, *w; /* scratch */
    double *pk;             /* triangle products: the chunk buffers of a product (sv_pk_bounds) */
    const double *x;             /* pending product input */
    double a, b, c, beta, eta;
    int64_t left;
    int phase, gvalid, bad;
} sv_game;

static int sv_two_step(int method)
{
    return method == NASHMP_METHOD_NASH_MP || method == NASHMP_METHOD_EXTRAGRADIENT;
}

/*
 * Runs game gm until it needs a product: returns 1 with gm->x set (the driver writes P gm->x to
 * gm->g and calls again), or 0 when the game is finished (stopped, out of iterations, or bad).
 */
NASHMP_HOT static int sv_advance(const sv_cfg *cf, sv_game *gm)
{
    const int64_t k = cf->k;
    const int method = cf->method;
    int64_t i = gm->i, j;
    double s; /* Nash-MD mixing weight (the same as b) */
    for (;;) {
        if (gm->bad) {
            gm->phase = PH_DONE;
            return 0;
        }
        switch (gm->phase) {
        case PH_INIT:
            gm->bad = sv_exp_row(gm->l, k, gm->pi) ||
                      !(nashmp_chunk_max_f64(gm->lr, k) < NASHMP_INF_F64);
            if (!gm->bad && (method == NASHMP_METHOD_OMWU || method == NASHMP_METHOD_SPPO))
                gm->bad = !(nashmp_chunk_max_f64(gm->st, k) < NASHMP_INF_F64);
            if (gm->bad)
                continue;
            if (cf->eval) {
                gm->x = gm->pi;
                gm->phase = PH_EVAL;
                return 1;
            }
            gm->left = cf->max_iter;
            gm->gvalid = 0;
            gm->phase = PH_ITER;
            continue;
        case PH_ITER:
            if (gm->left == 0) {
                gm->phase = PH_DONE;
                return 0;
            }
            nashmp_method_coefficients(method, gm->beta, gm->eta, cf->iter[i], &gm->a, &gm->b,
                                       &gm->c, &s);
            if (method == NASHMP_METHOD_NASH_MD) {
                /* query the geometric mixture mu = N((1-s) l + s l_ref), s = b */
                gm->bad = sv_norm(gm->a, gm->l, gm->b, gm->lr, 0.0, NULL, k, gm->h, gm->pi, 0);
                gm->x = gm->pi;
                gm->phase = PH_Q1;
                if (gm->bad)
                    continue;
                return 1;
            }
            gm->phase = PH_Q0;
            if (!gm->gvalid) {
                gm->x = gm->pi;
                return 1;
            }
            continue;
        case PH_Q0: /* g = P pi_t */
            gm->gvalid = 0;
            if (sv_two_step(method)) {
                gm->bad = sv_norm(gm->a, gm->l, gm->b, gm->lr, gm->c, gm->g, k, gm->h, gm->pi, 0);
                gm->x = gm->pi;
                gm->phase = PH_Q1;
                if (gm->bad)
                    continue;
                return 1;
            }
            if (method == NASHMP_METHOD_OMWU) {
                double *NASHMP_RESTRICT w = gm->w, *NASHMP_RESTRICT st = gm->st;
                const double *NASHMP_RESTRICT g = gm->g;
                for (j = 0; j < k; j++) {
                    w[j] = 2.0 * g[j] - st[j];
                    st[j] = g[j];
                }
                gm->bad = sv_norm(gm->a, gm->l, gm->b, gm->lr, gm->c, gm->w, k, gm->l, gm->pi, 1);
            } else {
                gm->bad = sv_norm(gm->a, gm->l, gm->b, gm->lr, gm->c, gm->g, k, gm->l, gm->pi, 1);
            }
            goto end_iter;
        case PH_Q1: /* g = P pi_half (two-step methods) or P mu (Nash-MD) */
            gm->bad = sv_norm(gm->a, gm->l, gm->b, gm->lr, gm->c, gm->g, k, gm->l, gm->pi, 1);
            goto end_iter;
        case PH_CHECK: {
            int sppo = method == NASHMP_METHOD_SPPO;
            double e = sv_expl_row(sppo ? gm->h : gm->l, sppo ? gm->w : gm->pi, gm->g, gm->lr,
                                   gm->beta, k);
            cf->expl[i] = e;
            gm->gvalid = !sppo && method != NASHMP_METHOD_NASH_MD;
            if (cf->tol >= 0.0 && e <= cf->tol) {
                cf->active[i] = 0;
                gm->phase = PH_DONE;
                return 0;
            }
            gm->phase = PH_ITER;
            continue;
        }
        case PH_EVAL:
            cf->expl[i] = sv_expl_row(gm->l, gm->pi, gm->g, gm->lr, gm->beta, k);
            gm->phase = PH_DONE;
            return 0;
        default:
            return 0;
        }
    end_iter:
        if (gm->bad)
            continue;
        if (method == NASHMP_METHOD_SPPO) { /* running log-sum of the iterates */
            double *NASHMP_RESTRICT st = gm->st;
            const double *NASHMP_RESTRICT l = gm->l;
            for (j = 0; j < k; j++) {
                double x = st[j], y = l[j];
                double mx = x > y ? x : y, mn = x > y ? y : x;
                st[j] = mx > -NASHMP_INF_F64 ? mx + log1p(exp(mn - mx)) : mx;
            }
        }
        cf->iter[i] += 1;
        cf->nq[i] += sv_two_step(method) ? 2 : 1;
        gm->left -= 1;
        if (cf->iter[i] % cf->check_every == 0 || gm->left == 0) {
            if (method == NASHMP_METHOD_SPPO) { /* reported iterate: the average policy */
                gm->bad = sv_norm(1.0, gm->st, 0.0, NULL, 0.0, NULL, k, gm->h, gm->w, 1);
                gm->x = gm->w;
            } else {
                gm->x = gm->pi;
            }
            gm->phase = PH_CHECK;
            if (gm->bad)
                continue;
            return 1;
        }
        gm->phase = PH_ITER;
    }
}

/* ---- drivers ----------------------------------------------------------------------------------- */

/* A triangle product (packed or upper; k >= SV_ROW_MIN_K) is the sum of the parts
 * of SV_PK_NCH fixed row chunks of about equal area (bounds multiples of SV_PK_R, a function of
 * k only), each computed into its own buffer and summed in chunk order: the threads of a
 * row-parallel product take whole chunks, and the bits do not depend on the thread count. */
#define SV_PK_NCH 8
/* 1 when the products of a k x k triangle run the panel-order arithmetic (SV_SRC_P / SV_PANEL) */
static int sv_pw_size(int64_t k, int f32)
{
    return k >= SV_ROW_MIN_K &&
           0.5 * (double)k * (double)k * (double)(f32 ? sizeof(float) : sizeof(double)) >
               SV_PW_MIN_BYTES;
}
static int sv_pk_bounds(int64_t k, int64_t *bd)
{
    const double n = (double)(2 * k - 1), tot = 0.5 * (double)k * (double)(k - 1);
    int c, nch = k >= SV_ROW_MIN_K ? SV_PK_NCH : 1;
    bd[0] = 0;
    for (c = 1; c < nch; c++) { /* rows [0, i) hold i k - i (i + 1) / 2 entries */
        const double i = 0.5 * (n - sqrt(n * n - 8.0 * tot * c / nch));
        bd[c] = (int64_t)i / SV_PK_R * SV_PK_R;
        if (bd[c] < bd[c - 1])
            bd[c] = bd[c - 1];
    }
    bd[nch] = k;
    return nch;
}

/* One chunk c of the nch of the product (buffer: y for chunk 0, buf + (c - 1) * kp otherwise;
 * from the panel-order copy: the blocks' row sums in buf + (nch - 1) * kp, SV_PW_ST per block). */
static void sv_pk_chunk(const sv_cfg *cf, const void *P, const double *x, double *y, double *buf,
                        const int64_t *bd, int c, int nch)
{
    const int64_t ld = cf->packed == SV_UPPER ? cf->k : 0, kp = (cf->k + 7) / 8 * 8;
    double *out = c ? buf + (c - 1) * kp : y;
    double *st = buf + (nch - 1) * kp + bd[c] / SV_PK_R * SV_PW_ST;
    if (cf->pw) {
        if (cf->f32)
            sv_pkw_f32((const float *)P, cf->k, ld, x, out, bd[c], bd[c + 1],
                       (const float *)cf->pw + cf->pwoff[c], st);
        else
            sv_pkw_f64((const double *)P, cf->k, ld, x, out, bd[c], bd[c + 1],
                       (const double *)cf->pw + cf->pwoff[c], st);
    } else if (sv_pw_size(cf->k, cf->f32)) {
        if (cf->f32)
            sv_pkl_f32((const float *)P, cf->k, ld, x, out, bd[c], bd[c + 1], st);
        else
            sv_pkl_f64((const double *)P, cf->k, ld, x, out, bd[c], bd[c + 1], st);
    } else if (cf->f32)
        sv_pk_f32((const float *)P, cf->k, ld, x, out, bd[c], bd[c + 1]);
    else
        sv_pk_f64((const double *)P, cf->k, ld, x, out, bd[c], bd[c + 1]);
}

/* y += the other chunks' parts, in chunk order; 1 when y is not finite. */
NASHMP_HOT static int sv_pk_combine(int64_t k, double *y, const double *buf, const int64_t *bd,
                                    int nch)
{
    const int64_t kp = (k + 7) / 8 * 8;
    int64_t j;
    int c, bad = 0;
    for (c = 1; c < nch; c++)
        for (j = bd[c]; j < k; j++)
            y[j] += buf[(c - 1) * kp + j];
    /* y - y is +0, or NaN for NaN and +-inf (in vectors: a scalar test per element cost 7% of
       K = 100, the NaN-aware max and min 3%) */
    j = 0;
#ifdef NASHMP_VEXT
    {
        nashmp_v4l m = {0, 0, 0, 0};
        for (; j + 4 <= k; j += 4) {
            sv_vec v;
            memcpy(&v, y + j, sizeof v);
            m |= (v - v) != 0.0;
        }
        bad = (m[0] | m[1] | m[2] | m[3]) != 0;
    }
#endif
    for (; j < k; j++)
        bad |= !(y[j] - y[j] == 0.0);
    return bad;
}

/* Products for the nv (1..4) vectors xs over rows [r0, r1); returns the bad-output mask.
 * rev: rows from last to first. The drivers alternate the direction from one product to the
 * next, so that each pass starts on the rows the previous pass read last, which are still in
 * the nearer cache (same bits; measured per iteration: K = 100 -6% (P in L2, its last 32 KB in
 * L1), K = 1000 -2 to -5%, K = 4000 within the noise). */
static int sv_mv(const sv_cfg *cf, const void *P, const double *const *xs, double *const *ys,
                 int nv, int64_t r0, int64_t r1, int rev, double *buf)
{
    const double *x4[4];
    double *y4[4];
    int q, bad = 0;
    if (cf->packed) { /* whole products (r0 = 0, r1 = k), chunk after chunk */
        int64_t bd[SV_PK_NCH + 1];
        int c, nch = sv_pk_bounds(cf->k, bd);
        for (q = 0; q < nv; q++) {
            for (c = 0; c < nch; c++)
                sv_pk_chunk(cf, P, xs[q], ys[q], buf, bd, c, nch);
            bad |= sv_pk_combine(cf->k, ys[q], buf, bd, nch) << q;
        }
        return bad;
    }
    if (nv == 1)
        return cf->f32 ? sv_mv1_f32((const float *)P, cf->k, xs[0], ys[0], r0, r1, rev)
                       : sv_mv1_f64((const double *)P, cf->k, xs[0], ys[0], r0, r1, rev);
    for (q = 0; q < 4; q++) { /* unused slots repeat vector 0 (same values, same address) */
        x4[q] = xs[q < nv ? q : 0];
        y4[q] = ys[q < nv ? q : 0];
    }
    bad = cf->f32 ? sv_mv4_f32((const float *)P, cf->k, x4, y4, r0, r1, rev)
                  : sv_mv4_f64((const double *)P, cf->k, x4, y4, r0, r1, rev);
    return bad & ((1 << nv) - 1);
}

/* Scratch doubles per game: pi, g, h, w (rows of k, padded to 8), the chunk buffers, the row
 * sums of the panel order, and 8 for the shift of sv_setup. */
static int64_t sv_game_doubles(const sv_cfg *cf)
{
    int64_t bd[SV_PK_NCH + 1], kp = (cf->k + 7) / 8 * 8;
    const int nch = cf->packed ? sv_pk_bounds(cf->k, bd) : 1;
    const int64_t st = cf->packed && sv_pw_size(cf->k, cf->f32) ? kp / SV_PK_R * SV_PW_ST : 0;
    return (3 + nch) * kp + st + 8;
}

static void sv_setup(const sv_cfg *cf, sv_game *gm, int64_t i, double *scratch)
{
    int64_t kp = (cf->k + 7) / 8 * 8;
    size_t pel = cf->f32 ? sizeof(float) : sizeof(double);
    memset(gm, 0, sizeof *gm);
    gm->i = i;
    gm->P = (const char *)cf->P + (size_t)(i * cf->ldP) * pel;
    gm->l = cf->lpi + i * cf->ldpi;
    gm->lr = cf->lref + i * cf->ldref;
    gm->st = cf->state ? cf->state + i * cf->ldst : NULL;
    gm->beta = cf->beta[i];
    gm->eta = cf->eta ? cf->eta[i] : 0.0;
    /* SV_UPPER with rows of whole 32-byte lines: the scratch vectors take the 32-byte phase of
       P's rows, so that the triangle loop's loads of x and y are aligned when those of P are
       (its scalar head aligns P; K = 4000 double, P 16 bytes off: -7% per iteration) */
    if (cf->packed == SV_UPPER && cf->k * (int64_t)pel % 32 == 0)
        scratch += (uintptr_t)gm->P / pel % 4;
    gm->pi = scratch;
    gm->g = scratch + kp;
    gm->h = scratch + 2 * kp;
    gm->w = scratch + 3 * kp;
    gm->pk = scratch + 4 * kp;
    gm->phase = PH_INIT;
}

/* Collects the pending products of a unit; returns their number. */
static int sv_gather(sv_game *gs, const int *pend, int ng, const double **xs, double **ys,
                     int *who)
{
    int q, nv = 0;
    for (q = 0; q < ng; q++)
        if (pend[q]) {
            xs[nv] = gs[q].x;
            ys[nv] = gs[q].g;
            who[nv++] = q;
        }
    return nv;
}

/* Resumes the games whose products are done (mask: bad outputs per product slot). */
static void sv_resume(const sv_cfg *cf, sv_game *gs, int *pend, const int *who, int nv, int mask)
{
    int v;
    for (v = 0; v < nv; v++) {
        sv_game *gm = &gs[who[v]];
        if (mask >> v & 1)
            gm->bad = 1;
        pend[who[v]] = sv_advance(cf, gm);
    }
}

/* Runs a unit of ng games (sharing P when ng > 1) to completion on this thread. */
static int sv_run_unit(const sv_cfg *cf, sv_game *gs, int ng)
{
    int pend[SV_GROUP], who[SV_GROUP], q, nv, bad = 0, rev = 0;
    const double *xs[SV_GROUP];
    double *ys[SV_GROUP];
    for (q = 0; q < ng; q++)
        pend[q] = sv_advance(cf, &gs[q]);
    while ((nv = sv_gather(gs, pend, ng, xs, ys, who)) > 0) {
        sv_resume(cf, gs, pend, who, nv,
                  sv_mv(cf, gs[who[0]].P, xs, ys, nv, 0, cf->k, rev, gs[who[0]].pk));
        rev ^= 1;
    }
    for (q = 0; q < ng; q++)
        bad |= gs[q].bad;
    return bad;
}

/*
 * Runs every game listed in idx[0..n): units of G consecutive listed games, in parallel over
 * units or, for few units and large k, one unit at a time with row-parallel products.
 */
static int sv_drive(const sv_cfg *cf, const int64_t *idx, int64_t n)
{
    int64_t k = cf->k, G, nunits, per, u;
    double work, *scratch;
    void *raw;
    int nt, rowmode, bad = 0;
    size_t bytes;
    sv_cfg up;
    if (n == 0)
        return NASHMP_OK;
    G = (cf->ldP == 0 && k >= SV_GROUP_MIN_K) ? SV_GROUP : 1;
    nunits = (n + G - 1) / G;
    work = (double)k * (double)k * (double)n *
           (cf->eval ? 1.0
                     : 1.0 + 2.0 * (cf->max_iter < 1000000 ? (double)cf->max_iter : 1e6));
    nt = nashmp_threads_for(work);
    /* games mode wastes threads when the units do not fill them evenly */
    rowmode = nt > 1 && k >= SV_ROW_MIN_K &&
              5 * nunits < 4 * ((nunits + nt - 1) / nt) * (int64_t)nt;
    /* triangle products are not made for 4 vectors in one pass: a shared P for several games
       is read whole (4 products per pass) */
    if (cf->packed == SV_UPPER && G > 1 && n > 1) {
        up = *cf;
        up.packed = SV_DENSE;
        cf = &up;
    }
    if (!rowmode && nunits < nt)
        nt = (int)nunits;
    per = sv_game_doubles(cf) * G;
    if (nashmp_mul_ovf(per, rowmode ? 1 : nt, &per) || (uint64_t)per > SIZE_MAX / sizeof(double))
        return NASHMP_ERR_NO_MEMORY;
    bytes = (size_t)per * sizeof(double);
    if (bytes > SIZE_MAX - 64 || (raw = malloc(bytes + 64)) == NULL)
        return NASHMP_ERR_NO_MEMORY;
    /* rows of 8 doubles start on cache lines: no vector access splits a line */
    scratch = (double *)((uintptr_t)raw + 64 - (uintptr_t)raw % 64);
    per = sv_game_doubles(cf);

#ifdef _OPENMP
    if (rowmode) {
        sv_game gs[SV_GROUP];
        int pend[SV_GROUP], who[SV_GROUP], nv = 0, mask = 0, ng = 0, rev = 0;
        const double *xs[SV_GROUP];
        double *ys[SV_GROUP];
        int64_t nrb = (k + SV_ROW_BLOCK - 1) / SV_ROW_BLOCK, bd[SV_PK_NCH + 1];
        const int nch = cf->packed ? sv_pk_bounds(k, bd) : 0;
#pragma omp parallel num_threads(nt)
        {
            int64_t uu, rb;
            for (uu = 0; uu < nunits; uu++) {
#pragma omp single
                {
                    int q;
                    ng = (int)(n - uu * G < G ? n - uu * G : G);
                    for (q = 0; q < ng; q++) {
                        sv_setup(cf, &gs[q], idx[uu * G + q], scratch + q * per);
                        pend[q] = sv_advance(cf, &gs[q]);
                    }
                    nv = sv_gather(gs, pend, ng, xs, ys, who);
                }
                while (nv > 0) {
                    if (cf->packed) { /* whole chunks per thread, one vector after another */
                        int q;
                        for (q = 0; q < nv; q++) {
#pragma omp for schedule(static)
                            for (rb = 0; rb < nch; rb++)
                                sv_pk_chunk(cf, gs[who[0]].P, xs[q], ys[q], gs[who[q]].pk, bd,
                                            (int)rb, nch);
#pragma omp single
                            mask |= sv_pk_combine(k, ys[q], gs[who[q]].pk, bd, nch) << q;
                        }
                    } else {
#pragma omp for schedule(static) reduction(| : mask)
                        for (rb = 0; rb < nrb; rb++) {
                            const int64_t b = rev ? nrb - 1 - rb : rb;
                            const int64_t r1 = (b + 1) * SV_ROW_BLOCK;
                            mask |= sv_mv(cf, gs[who[0]].P, xs, ys, nv, b * SV_ROW_BLOCK,
                                          r1 < k ? r1 : k, rev, NULL);
                        }
                    }
#pragma omp single
                    {
                        sv_resume(cf, gs, pend, who, nv, mask);
                        mask = 0;
                        rev ^= 1;
                        nv = sv_gather(gs, pend, ng, xs, ys, who);
                    }
                }
#pragma omp single
                {
                    int q;
                    for (q = 0; q < ng; q++)
                        bad |= gs[q].bad;
                }
            }
        }
        free(raw);
        return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1) reduction(| : bad)
#endif
    for (u = 0; u < nunits; u++) {
#ifdef _OPENMP
        double *mine = scratch + (int64_t)omp_get_thread_num() * G * per;
#else
        double *mine = scratch;
#endif
        sv_game gs[SV_GROUP];
        int q, ng = (int)(n - u * G < G ? n - u * G : G);
        for (q = 0; q < ng; q++)
            sv_setup(cf, &gs[q], idx[u * G + q], mine + q * per);
        bad |= sv_run_unit(cf, gs, ng);
    }
    free(raw);
    return bad ? NASHMP_ERR_NONFINITE : NASHMP_OK;
}

/*
 * sv_drive with a 32-byte aligned copy of a shared dense P that lies in L2 (<= 1 MiB) but not on
 * a 32-byte boundary (NumPy's arrays usually start 16 bytes past one): every row then starts
 * aligned when a row is a multiple of 32 bytes, and no vector load of P splits a cache line
 * (K = 100 f64: 2.2 -> 1.9 us per iteration). One copy per call, for calls of several
 * iterations; the arithmetic, hence every bit of the result, is unchanged.
 */
#define SV_ALIGN_COPY_MAX (1 << 20)
static int sv_drive_aligned(sv_cfg *cf, const int64_t *idx, int64_t n)
{
    const size_t el = cf->f32 ? sizeof(float) : sizeof(double);
    const size_t bytes = (size_t)cf->k * (size_t)cf->k * el; /* k*k*el <= 1 MiB checked below */
    void *raw, *al;
    const void *P0 = cf->P;
    int st;
    if (cf->packed == SV_PACKED || cf->eval || cf->ldP != 0 || cf->max_iter < 4 || ((uintptr_t)P0 & 31) == 0 ||
        cf->k > 512 || bytes > SV_ALIGN_COPY_MAX || ((size_t)cf->k * el) % 32 != 0 ||
        (raw = malloc(bytes + 32)) == NULL) /* no memory for the copy: run on P itself */
        return sv_drive(cf, idx, n);
    al = (void *)((uintptr_t)raw + 32 - (uintptr_t)raw % 32);
    memcpy(al, P0, bytes);
    cf->P = al;
    st = sv_drive(cf, idx, n);
    cf->P = P0;
    free(raw);
    return st;
}

/*
 * sv_drive on a panel-order copy of the triangle (see SV_PW), for triangles beyond the last-level
 * cache and calls of many products: the copy costs about two products; each product from it
 * reads one stream, with x and y in L1. K = 4000, 1 thread, calls of 60 iterations, fraction of
 * the read bandwidth: double 88-91% -> 95-99%, float 85-89% -> 116-118% (half its triangle
 * stays in L3). The copy is made in parallel over the row chunks, by a call of
 * SV_PW_MIN_PRODUCTS products or more, and only when one triangle serves every game (one game, or
 * one shared packed triangle); it is skipped, and the products read P, when it would exceed
 * SV_PW_MAX_BYTES or cannot be allocated. Without a workspace it is freed at the end of the call;
 * a workspace keeps it for the next calls on the same triangle (any length), which then neither
 * copy nor fault in a fresh buffer. Same arithmetic (SV_SRC_P), hence the same bits.
 */
#define SV_PW_MIN_PRODUCTS 24
#define SV_PW_MAX_BYTES ((double)(1u << 31))
/* The panel-order copy of triangle P0 (chunk bounds bd, parts at off), in parallel over the row
 * chunks; NULL when it would exceed SV_PW_MAX_BYTES or cannot be allocated */
static void *sv_panel_copy(const sv_cfg *cf, const void *P0, const int64_t *bd, const int64_t *off,
                           int nch)
{
    const size_t el = cf->f32 ? sizeof(float) : sizeof(double);
    const int64_t k = cf->k, ld = cf->packed == SV_UPPER ? k : 0, kp = (k + 7) / 8 * 8;
    const int64_t per = kp + kp / SV_PK_R * SV_PW_ST;
    int nt = nashmp_threads_for(0.5 * (double)k * (double)k), c;
    void *w = NULL;
    double *scr;
    if (nt > nch)
        nt = nch;
    if ((double)off[nch] * (double)el > SV_PW_MAX_BYTES ||
        (w = nashmp_alloc_large((size_t)off[nch] * el)) == NULL ||
        (scr = (double *)malloc((size_t)(kp + nt * per) * sizeof(double))) == NULL) {
        nashmp_free_large(w);
        return NULL;
    }
    memset(scr, 0, (size_t)kp * sizeof(double)); /* x of the copying pass */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
#endif
    for (c = 0; c < nch; c++) {
#ifdef _OPENMP
        double *mine = scr + kp + (int64_t)omp_get_thread_num() * per;
#else
        double *mine = scr + kp;
#endif
        if (cf->f32)
            sv_pks_f32((const float *)P0, k, ld, scr, mine, bd[c], bd[c + 1],
                       (float *)w + off[c], mine + kp);
        else
            sv_pks_f64((const double *)P0, k, ld, scr, mine, bd[c], bd[c + 1],
                       (double *)w + off[c], mine + kp);
    }
    free(scr);
    return w;
}

static int sv_drive_panels(sv_cfg *cf, const int64_t *idx, int64_t n)
{
    const size_t el = cf->f32 ? sizeof(float) : sizeof(double);
    const int64_t k = cf->k, ld = cf->packed == SV_UPPER ? k : 0;
    const double prods = (double)cf->max_iter * (sv_two_step(cf->method) ? 2.0 : 1.0) * (double)n;
    nashmp_workspace *ws = cf->ws;
    int64_t bd[SV_PK_NCH + 1], off[SV_PK_NCH + 1];
    const void *P0;
    void *w;
    int nch, c, st;
    if (cf->eval || cf->packed == SV_DENSE || !sv_pw_size(k, cf->f32) ||
        (n > 1 && (cf->ldP != 0 || cf->packed == SV_UPPER)))
        return sv_drive_aligned(cf, idx, n);
    P0 = (const char *)cf->P + (size_t)(idx[0] * cf->ldP) * el;
    nch = sv_pk_bounds(k, bd);
    off[0] = 0;
    for (c = 0; c < nch; c++)
        off[c + 1] = off[c] + sv_pk_count(k, ld, bd[c], bd[c + 1]);
    if (ws && ws->w && ws->P0 == P0 && ws->k == k && ws->f32 == cf->f32 &&
        ws->packed == cf->packed) {
        w = ws->w; /* the copy an earlier call made: used whatever this call's length */
    } else {
        if (prods < SV_PW_MIN_PRODUCTS || (w = sv_panel_copy(cf, P0, bd, off, nch)) == NULL)
            return sv_drive_aligned(cf, idx, n); /* no copy: the products read P */
        if (ws) { /* kept for the next calls, in place of a copy of another triangle */
            nashmp_workspace_clear(ws);
            ws->w = w;
            ws->P0 = P0;
            ws->k = k;
            ws->f32 = cf->f32;
            ws->packed = cf->packed;
        }
    }
    cf->pw = w;
    cf->pwoff = off;
    st = sv_drive(cf, idx, n);
    cf->pw = NULL;
    cf->pwoff = NULL;
    if (!ws)
        nashmp_free_large(w);
    return st;
}

int nashmp_workspace_create(nashmp_workspace **out)
{
    if (out == NULL)
        return NASHMP_ERR_NULL_POINTER;
    *out = (nashmp_workspace *)calloc(1, sizeof **out);
    return *out ? NASHMP_OK : NASHMP_ERR_NO_MEMORY;
}

void nashmp_workspace_clear(nashmp_workspace *ws)
{
    if (ws == NULL)
        return;
    nashmp_free_large(ws->w);
    memset(ws, 0, sizeof *ws);
}

void nashmp_workspace_destroy(nashmp_workspace *ws)
{
    nashmp_workspace_clear(ws);
    free(ws);
}

/* SV_UPPER below the sizes where reading the triangle beats reading the whole dense P (measured
 * per iteration over the dense solver, best of 10: double K = 48 0.98x, 64 1.02x, 100 1.10x,
 * 200 1.31x, 1000 1.65x, 4000 2.1x; float K = 16 1.11x, 32 1.25x, 48 1.40x) */
#define SV_UPPER_MIN_K_F64 64
#define SV_UPPER_MIN_K_F32 16
static int sv_store(int packed, int f32, int64_t k)
{
    return packed == SV_UPPER && k < (f32 ? SV_UPPER_MIN_K_F32 : SV_UPPER_MIN_K_F64) ? SV_DENSE
                                                                                      : packed;
}

/* ---- public entry points ------------------------------------------------------------------------ */

static int sv_exploitability(const void *P, int64_t ldP, int f32, int packed, const double *log_pi,
                             int64_t ldpi, const double *log_ref, int64_t ldref,
                             const double *beta, int64_t batch, int64_t k, double *out)
{
    sv_cfg cf;
    int64_t i, *idx;
    int st;
    NASHMP_CHECK(batch, k, double, {P, ldP, packed == SV_PACKED ? NASHMP_ARR_PACKED : NASHMP_ARR_SQUARE},
                 NASHMP_IN(log_pi, ldpi), NASHMP_IN(log_ref, ldref),
                 {(const void *)beta, 1, NASHMP_ARR_IN | NASHMP_ARR_ONE}, NASHMP_OUT1(out));
    for (i = 0; i < batch; i++)
        if (nashmp_check_finite(beta[i]) != NASHMP_OK || beta[i] < 0.0)
            return NASHMP_ERR_INVALID_VALUE;
    if (batch == 0)
        return NASHMP_OK;
    memset(&cf, 0, sizeof cf);
    cf.P = P;
    cf.ldP = ldP;
    cf.f32 = f32;
    cf.packed = sv_store(packed, f32, k);
    cf.eval = 1;
    cf.k = k;
    cf.lref = log_ref;
    cf.ldref = ldref;
    cf.beta = beta;
    cf.lpi = (double *)(uintptr_t)log_pi; /* read only in eval mode */
    cf.ldpi = ldpi;
    cf.expl = out;
    if ((uint64_t)batch > SIZE_MAX / sizeof(int64_t) ||
        (idx = (int64_t *)malloc((size_t)batch * sizeof(int64_t))) == NULL)
        return NASHMP_ERR_NO_MEMORY;
    for (i = 0; i < batch; i++)
        idx[i] = i;
    st = sv_drive(&cf, idx, batch);
    free(idx);
    return st;
}

static int sv_solve(const void *P, int64_t ldP, int f32, int packed, const double *log_ref,
                    int64_t ldref,
                    const double *beta, const double *eta, int64_t batch, int64_t k, int method,
                    int64_t max_iter, int64_t check_every, double tol, double *log_pi,
                    int64_t ldpi, double *state, int64_t ldst, int64_t *iter, int64_t *n_queries,
                    double *exploitability, uint8_t *active, nashmp_workspace *ws)
{
    sv_cfg cf;
    int64_t i, n, qmax = 0, *idx;
    int st, use_state, qovf;
    if (method < NASHMP_METHOD_NASH_MP || method > NASHMP_METHOD_SPPO)
        return NASHMP_ERR_INVALID_VALUE;
    use_state = method == NASHMP_METHOD_OMWU || method == NASHMP_METHOD_SPPO;
    NASHMP_CHECK(batch, k, double, {P, ldP, packed == SV_PACKED ? NASHMP_ARR_PACKED : NASHMP_ARR_SQUARE},
                 NASHMP_IN(log_ref, ldref),
                 {(const void *)beta, 1, NASHMP_ARR_IN | NASHMP_ARR_ONE},
                 {(const void *)eta, 1, NASHMP_ARR_IN | NASHMP_ARR_ONE},
                 NASHMP_OUT(log_pi, ldpi),
                 {(const void *)state, ldst,
                  use_state ? NASHMP_ARR_OUT : NASHMP_ARR_OUT | NASHMP_ARR_UNUSED},
                 NASHMP_OUT1(iter), NASHMP_OUT1(n_queries), NASHMP_OUT1(exploitability),
                 NASHMP_OUT1(active));
    if (max_iter < 0 || check_every < 1 || tol != tol)
        return NASHMP_ERR_INVALID_VALUE;
    for (i = 0; i < batch; i++) {
        double b = beta[i], e = eta[i];
        if (nashmp_check_finite(b) != NASHMP_OK || b < 0.0 ||
            (b == 0.0 && method != NASHMP_METHOD_SPPO))
            return NASHMP_ERR_INVALID_VALUE;
        if (method == NASHMP_METHOD_NASH_MD) /* eta unused */
            continue;
        if (nashmp_check_finite(e) != NASHMP_OK || !(e > 0.0))
            return NASHMP_ERR_INVALID_VALUE;
        if ((method == NASHMP_METHOD_OMD || method == NASHMP_METHOD_OMWU) && !(e * b <= 1.0))
            return NASHMP_ERR_INVALID_VALUE;
        if (method == NASHMP_METHOD_EXTRAGRADIENT && !(e * b < 1.0))
            return NASHMP_ERR_INVALID_VALUE;
    }
    /* the counters of an active game must not overflow during this call */
    qovf = nashmp_mul_ovf(max_iter, sv_two_step(method) ? 2 : 1, &qmax);
    for (i = 0, n = 0; i < batch; i++)
        if (active[i]) {
            if (iter[i] < 0)
                return NASHMP_ERR_INVALID_VALUE;
            if (qovf || iter[i] > INT64_MAX - max_iter || n_queries[i] > INT64_MAX - qmax)
                return NASHMP_ERR_OVERFLOW;
            n++;
        }
    if (n == 0 || max_iter == 0)
        return NASHMP_OK;
    memset(&cf, 0, sizeof cf);
    cf.P = P;
    cf.ldP = ldP;
    cf.f32 = f32;
    cf.packed = sv_store(packed, f32, k);
    cf.method = method;
    cf.k = k;
    cf.max_iter = max_iter;
    cf.check_every = check_every;
    cf.tol = tol;
    cf.lref = log_ref;
    cf.ldref = ldref;
    cf.beta = beta;
    cf.eta = eta;
    cf.lpi = log_pi;
    cf.ldpi = ldpi;
    cf.state = use_state ? state : NULL;
    cf.ldst = ldst;
    cf.iter = iter;
    cf.nq = n_queries;
    cf.expl = exploitability;
    cf.active = active;
    cf.ws = ws;
    if ((uint64_t)n > SIZE_MAX / sizeof(int64_t) ||
        (idx = (int64_t *)malloc((size_t)n * sizeof(int64_t))) == NULL)
        return NASHMP_ERR_NO_MEMORY;
    for (i = 0, n = 0; i < batch; i++)
        if (active[i])
            idx[n++] = i;
    st = sv_drive_panels(&cf, idx, n);
    free(idx);
    return st;
}

/* The public entry points: dense or packed (strict upper triangle) P, in double or float. */
#define SV_DEFINE_API(STORE, SFX, TP, F32, PACKED)                                              \
    int nashmp_solve_##STORE##_##SFX(const TP *P, int64_t ldP, const double *log_ref,          \
                                     int64_t ldref, const double *beta, const double *eta,      \
                                     int64_t batch, int64_t k, int method, int64_t max_iter,    \
                                     int64_t check_every, double tol, double *log_pi,           \
                                     int64_t ldpi, double *state, int64_t ldst, int64_t *iter,  \
                                     int64_t *n_queries, double *exploitability,                \
                                     uint8_t *active)                                           \
    {                                                                                           \
        return sv_solve(P, ldP, F32, PACKED, log_ref, ldref, beta, eta, batch, k, method,       \
                        max_iter, check_every, tol, log_pi, ldpi, state, ldst, iter,            \
                        n_queries, exploitability, active, NULL);                               \
    }                                                                                           \
    int nashmp_solve_##STORE##_##SFX##_ws(                                                      \
        const TP *P, int64_t ldP, const double *log_ref, int64_t ldref, const double *beta,     \
        const double *eta, int64_t batch, int64_t k, int method, int64_t max_iter,              \
        int64_t check_every, double tol, double *log_pi, int64_t ldpi, double *state,           \
        int64_t ldst, int64_t *iter, int64_t *n_queries, double *exploitability,                \
        uint8_t *active, nashmp_workspace *ws)                                                  \
    {                                                                                           \
        return sv_solve(P, ldP, F32, PACKED, log_ref, ldref, beta, eta, batch, k, method,       \
                        max_iter, check_every, tol, log_pi, ldpi, state, ldst, iter,            \
                        n_queries, exploitability, active, ws);                                 \
    }                                                                                           \
    int nashmp_exploitability_##STORE##_##SFX(const TP *P, int64_t ldP, const double *log_pi,  \
                                              int64_t ldpi, const double *log_ref,              \
                                              int64_t ldref, const double *beta, int64_t batch, \
                                              int64_t k, double *out)                           \
    {                                                                                           \
        return sv_exploitability(P, ldP, F32, PACKED, log_pi, ldpi, log_ref, ldref, beta,       \
                                 batch, k, out);                                                \
    }
SV_DEFINE_API(dense, f64, double, 0, SV_DENSE)
SV_DEFINE_API(dense, f32, float, 1, SV_DENSE)
SV_DEFINE_API(packed, f64, double, 0, SV_PACKED)
SV_DEFINE_API(packed, f32, float, 1, SV_PACKED)
SV_DEFINE_API(upper, f64, double, 0, SV_UPPER)
SV_DEFINE_API(upper, f32, float, 1, SV_UPPER)
