"""Numba dense solver loop: the whole iteration loop in one compiled function, parallel over games
(``run``), or, for fewer games than threads at large K, one game after another with row-parallel
products (``run_rows``).

Same contract as ``nashmp_solve_dense_f64`` (``upper=True``: ``nashmp_solve_upper_f64``, P read
through its strict upper triangle) and the NumPy loop in ``_numpy_solvers``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._methods import coefficients as _py_coefficients
from ._numba_kernels import _max4, _sum4
from ._numba_kernels import exp as _vexp
from ._numba_kernels import exp_red as _exp_red
from ._numba_simd import (vadd, vfma, vfnma, vget, vhsum8, vkeep_gt, vkeep_lt, vload, vload2,
                          vmul, vset, vsplat, vstore, vzero)

_coefficients = njit(cache=True, inline="always")(_py_coefficients)


# Not inline="always": Numba's IR-level inlining drops the callee's fastmath flags, and without
# "reassoc" the dot product is not vectorized (K = 1000: 790 us against 105 us per product).
@njit(cache=True, fastmath={"reassoc", "contract"})
def _matvec(Pm, x, out):
    k = x.shape[0]
    for y in range(k):
        s = 0.0
        for j in range(k):
            s += Pm[y, j] * x[j]
        out[y] = s


# Smallest K whose solves read an exact P through its triangle (below, the whole-row dot products
# of _matvec are as fast; medians of 9 interleaved rounds per Nash-MP iteration, 1 thread, dense
# against triangle: K = 32 0.38 against 0.40 us, K = 40 0.61 against 0.48 us, K = 100 2.11
# against 1.61 us).
UPPER_MIN_K = 40


# P read through its strict upper triangle (P[j, i] = 1 - P[i, j], P[i, i] = 1/2; the solver
# uses it when P + P^T = 1 to rounding and K >= UPPER_MIN_K): half the bytes of _matvec. Blocks of
# 8 rows against chunks of 8 columns on their right, in eight-lane vectors (_numba_simd): 8 row
# sums kept in registers across the chunks (summed by vhsum8 at the end of the block) and, from
# the same loads, y[c:c + 8] += sum_r x_r - sum_r P[r, c:c + 8] x_r. The 8 x 8 diagonal block
# keeps the lanes right of the diagonal (selects: the lower triangle is never used, NaN there is
# harmless); the last K % 8 columns are a chunk whose lanes >= K are dropped (it loads past the
# end of row r into row r + 1, which exists: the last row block is scalar), and their y updates
# add up in one vector written at the end.
#
# Panel order (triangles of PANEL_MIN_BYTES or more, beyond the last-level cache): read from P,
# each block of rows takes 8 row streams and x and y over every column on its right (at K = 4000
# those rows of K doubles do not stay in L1). The same arithmetic then runs over PANEL_W columns at
# a time (every block of rows for columns [c0, c0 + PANEL_W), then the next panel; a block's row
# sums wait in `st` from one panel to the next), reading the chunks from a copy of the triangle laid
# out in exactly that order (`W`, made by the same traversal with SRC_COPY): one stream, x and y
# in L1. Every y[j] receives its terms from the blocks in increasing order and every row sum its
# chunks in increasing column order, in either order: the bits do not depend on the panels.
SRC_P, SRC_W, SRC_COPY = 0, 1, 2
PANEL_W = 512


@njit(cache=True, inline="always")
def _chunk(src, Pm, W, o, r0, c):
    """Rows r0..r0 + 7 of P at columns [c, c + 8): from P, from W[o:o + 64], or from P and
    stored into W[o:o + 64] (SRC_COPY)."""
    if src == SRC_W:
        return (vload(W, o), vload(W, o + 8), vload(W, o + 16), vload(W, o + 24),
                vload(W, o + 32), vload(W, o + 40), vload(W, o + 48), vload(W, o + 56))
    p = (vload2(Pm, r0, c), vload2(Pm, r0 + 1, c), vload2(Pm, r0 + 2, c), vload2(Pm, r0 + 3, c),
         vload2(Pm, r0 + 4, c), vload2(Pm, r0 + 5, c), vload2(Pm, r0 + 6, c),
         vload2(Pm, r0 + 7, c))
    if src == SRC_COPY:
        for a in range(8):
            vstore(W, o + 8 * a, p[a])
    return p


@njit(cache=True, inline="always")
def _chunk_step(p0, p1, p2, p3, p4, p5, p6, p7, xc, X0, X1, X2, X3, X4, X5, X6, X7, sx,
                t0, t1, t2, t3, t4, t5, t6, t7):
    """One chunk of a block: the row sums t_r + p_r xc, and the column update
    u = sum_r x_r - sum_r p_r x_r (X_r: x_r in every lane, sx: their sum)."""
    u = vfnma(p3, X3, vfnma(p2, X2, vfnma(p1, X1, vfnma(p0, X0, sx))))
    u = vfnma(p7, X7, vfnma(p6, X6, vfnma(p5, X5, vfnma(p4, X4, u))))
    return (vfma(p0, xc, t0), vfma(p1, xc, t1), vfma(p2, xc, t2), vfma(p3, xc, t3),
            vfma(p4, xc, t4), vfma(p5, xc, t5), vfma(p6, xc, t6), vfma(p7, xc, t7), u)


@njit(cache=True)
def _tri_rows(Pm, x, y, i0, i1, src, W, w0, st, pw):
    """The part of P x that rows [i0, i1) of the triangle give, into y[i0:] (zeroed first); i0 a
    multiple of 8, i1 one too or k. Pm C-contiguous, x and y of length k. src: read P (SRC_P,
    one panel, W and st unused), the panel-order copy W from w0 (SRC_W), or P while writing W
    from w0 (SRC_COPY); st: the row sums of the blocks, 64 per block (SRC_W, SRC_COPY); pw:
    the columns of a panel (a multiple of 8)."""
    k = x.shape[0]
    for j in range(i0, k):
        y[j] = 0.0
    kf = k // 8 * 8                       # full chunks end here; nt columns after
    nt = k - kf
    xt = vzero()                          # x[kf:k], 0 beyond
    for a in range(nt):
        xt = vset(xt, a, x[kf + a])
    yt = vzero()                          # the updates of y[kf:k]
    half = vsplat(0.5)
    e = max(min(i1, kf), i0)              # full row blocks [i0, e)
    if src == SRC_P:
        pw = kf
    o = w0
    c0 = i0
    while c0 < kf and i0 < e:
        c1 = min(c0 + pw, kf)
        last = c1 == kf
        r0 = i0
        while r0 < min(c1, e):
            x0, x1, x2, x3 = x[r0], x[r0 + 1], x[r0 + 2], x[r0 + 3]
            x4, x5, x6, x7 = x[r0 + 4], x[r0 + 5], x[r0 + 6], x[r0 + 7]
            X0, X1, X2, X3 = vsplat(x0), vsplat(x1), vsplat(x2), vsplat(x3)
            X4, X5, X6, X7 = vsplat(x4), vsplat(x5), vsplat(x6), vsplat(x7)
            sx = vsplat(((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)))
            s = (r0 - i0) * 8
            if r0 >= c0:
                # the diagonal block (the block's first panel): row r keeps lanes > r; column
                # lane l gets x_r - P[r, l] x_r, r < l
                xb = vload(x, r0)
                p = _chunk(src, Pm, W, o, r0, r0)
                o += 64
                p0, p1, p2 = vkeep_gt(p[0], 0), vkeep_gt(p[1], 1), vkeep_gt(p[2], 2)
                p3, p4, p5 = vkeep_gt(p[3], 3), vkeep_gt(p[4], 4), vkeep_gt(p[5], 5)
                p6 = vkeep_gt(p[6], 6)
                t0, t1, t2, t3 = vmul(p0, xb), vmul(p1, xb), vmul(p2, xb), vmul(p3, xb)
                t4, t5, t6, t7 = vmul(p4, xb), vmul(p5, xb), vmul(p6, xb), vzero()
                u = vadd(vadd(vadd(vkeep_gt(vfnma(p0, X0, X0), 0),
                                   vkeep_gt(vfnma(p1, X1, X1), 1)),
                              vadd(vkeep_gt(vfnma(p2, X2, X2), 2),
                                   vkeep_gt(vfnma(p3, X3, X3), 3))),
                         vadd(vadd(vkeep_gt(vfnma(p4, X4, X4), 4),
                                   vkeep_gt(vfnma(p5, X5, X5), 5)),
                              vkeep_gt(vfnma(p6, X6, X6), 6)))
                vstore(y, r0, vadd(vload(y, r0), u))
                c = r0 + 8
            else:
                t0, t1, t2, t3 = vload(st, s), vload(st, s + 8), vload(st, s + 16), vload(st, s + 24)
                t4, t5 = vload(st, s + 32), vload(st, s + 40)
                t6, t7 = vload(st, s + 48), vload(st, s + 56)
                c = c0
            while c < c1:
                p0, p1, p2, p3, p4, p5, p6, p7 = _chunk(src, Pm, W, o, r0, c)
                o += 64
                t0, t1, t2, t3, t4, t5, t6, t7, u = _chunk_step(
                    p0, p1, p2, p3, p4, p5, p6, p7, vload(x, c), X0, X1, X2, X3, X4, X5, X6, X7,
                    sx, t0, t1, t2, t3, t4, t5, t6, t7)
                vstore(y, c, vadd(vload(y, c), u))
                c += 8
            if not last:
                vstore(st, s, t0)
                vstore(st, s + 8, t1)
                vstore(st, s + 16, t2)
                vstore(st, s + 24, t3)
                vstore(st, s + 32, t4)
                vstore(st, s + 40, t5)
                vstore(st, s + 48, t6)
                vstore(st, s + 56, t7)
            else:
                if nt:                    # c = kf: lanes >= nt dropped
                    p = _chunk(src, Pm, W, o, r0, c)
                    o += 64
                    t0, t1, t2, t3, t4, t5, t6, t7, u = _chunk_step(
                        vkeep_lt(p[0], nt), vkeep_lt(p[1], nt), vkeep_lt(p[2], nt),
                        vkeep_lt(p[3], nt), vkeep_lt(p[4], nt), vkeep_lt(p[5], nt),
                        vkeep_lt(p[6], nt), vkeep_lt(p[7], nt), xt, X0, X1, X2, X3, X4, X5, X6,
                        X7, sx, t0, t1, t2, t3, t4, t5, t6, t7)
                    yt = vadd(yt, u)
                vstore(y, r0, vadd(vload(y, r0),
                                   vfma(half, vload(x, r0),
                                        vhsum8(t0, t1, t2, t3, t4, t5, t6, t7))))
            r0 += 8
        c0 = c1
    for a in range(nt):
        y[kf + a] += vget(yt, a)
    r0 = e
    while r0 < i1:                        # the last k % 8 rows (i1 = k)
        xi = x[r0]
        t = 0.0
        for j in range(r0 + 1, k):
            p = Pm[r0, j]
            t += p * x[j]
            y[j] += xi - p * xi
        y[r0] += t + 0.5 * xi
        r0 += 1


def panel_size(i0, i1, k):
    """Elements of the panel-order copy of rows [i0, i1) (64 per chunk of a full row block)."""
    kf = k // 8 * 8
    nb = max(min(i1, kf) - i0, 0) // 8
    per = (kf - i0) // 8 + (k > kf)           # chunks of the first block
    return 64 * (nb * per - nb * (nb - 1) // 2)


@njit(cache=True)
def _matvec_upper(Pm, x, y):
    _tri_rows(Pm, x, y, 0, x.shape[0], SRC_P, np.empty(0, Pm.dtype), 0, np.empty(0), 0)


# Row-parallel products, for fewer games than threads (run_rows): the triangle in ROW_CHUNKS
# fixed row chunks of about equal area, each into its own buffer, summed in chunk order (the bits
# do not depend on the thread count); the dense product one row per task. From ROW_MIN_K on
# (one game, 2 threads, per Nash-MP iteration against run: K = 768 0.81x, 1024 1.08x, 2000 1.95x,
# 4000 2.0x).
ROW_MIN_K = 1024
ROW_CHUNKS = 8


def row_chunks(K):
    """Chunk bounds of the row-parallel triangle product: ROW_CHUNKS + 1 int64, multiples of 8
    (rows [0, i) hold i K - i (i + 1) / 2 entries), the last one K."""
    n, tot = 2.0 * K - 1.0, 0.5 * K * (K - 1.0)
    bd = np.empty(ROW_CHUNKS + 1, np.int64)
    bd[0] = 0
    for c in range(1, ROW_CHUNKS):
        i = 0.5 * (n - math.sqrt(n * n - 8.0 * tot * c / ROW_CHUNKS))
        bd[c] = max(int(i) // 8 * 8, bd[c - 1])
    bd[ROW_CHUNKS] = K
    return bd


@njit(cache=True, parallel=True)
def _matvec_upper_par(Pm, x, y, buf, bd, pan):
    W, wofs, st = pan
    src = SRC_W if W.shape[0] > 0 else SRC_P
    nch = bd.shape[0] - 1
    for c in prange(nch):
        w0 = wofs[c] if src == SRC_W else 0
        yc = y if c == 0 else buf[c - 1]
        _tri_rows(Pm, x, yc, bd[c], bd[c + 1], src, W, w0, st[bd[c] * 8:], PANEL_W)
    k = x.shape[0]
    for c in range(1, nch):
        for j in range(bd[c], k):
            y[j] += buf[c - 1, j]


# Triangles copied in panel order (Runner._numba_panels): PANEL_MIN_BYTES or more, and at most
# PANEL_MAX_BYTES, for calls of PANEL_MIN_ITERS iterations or more (the copy costs about two
# products and is kept for the solve).
PANEL_MIN_BYTES = 16 << 20
PANEL_MAX_BYTES = 1 << 31
PANEL_MIN_ITERS = 12


def panel_offsets(K, bd):
    """Where each row chunk of bd starts in the panel-order copy, and its total size."""
    sizes = [panel_size(int(bd[c]), int(bd[c + 1]), K) for c in range(len(bd) - 1)]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


@njit(cache=True, parallel=True)
def panel_copy(Pm, W, wofs, bd):
    """W = the panel-order copy of the triangle of Pm, chunk by chunk of bd (in parallel)."""
    k = Pm.shape[0]
    for c in prange(bd.shape[0] - 1):
        x = np.zeros(k)
        y = np.empty(k)
        st = np.empty((bd[c + 1] - bd[c]) * 8 + 64)
        _tri_rows(Pm, x, y, bd[c], bd[c + 1], SRC_COPY, W, wofs[c], st, PANEL_W)


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def _matvec_par(Pm, x, out):
    k = x.shape[0]
    for y in prange(k):
        s = 0.0
        for j in range(k):
            s += Pm[y, j] * x[j]
        out[y] = s


@njit(cache=True, inline="always")
def _nopan(P):
    """No panel-order copy (the pan of _product)."""
    return np.empty(0, P.dtype), np.empty(0, np.int64), np.empty(0)


@njit(cache=True, inline="always")     # the kernels themselves stay calls (their fastmath flags)
def _product(Pm, x, y, upper, buf, bd, pan):
    if bd.shape[0] > 1:                # row-parallel (run_rows)
        if upper:
            _matvec_upper_par(Pm, x, y, buf, bd, pan)
        else:
            _matvec_par(Pm, x, y)
    elif upper:
        _matvec_upper(Pm, x, y)
    else:
        _matvec(Pm, x, y)


@njit(cache=True, inline="always")
def _step(a, l, b, lr, c, g, out, e, pi):
    """out = N(a l + b lr + c g), zero coefficients contribute 0: z, its max in four lanes, the
    exps (into the scratch e: a loop that vectorizes) and their sum in four lanes (the helpers
    of the Numba kernels). With a pi of length K, also pi = exp(out) as the exps over their sum
    (not a fresh exp(out): used within an iteration only, so that a run split over several
    calls gives the same bits)."""
    k = l.shape[0]
    for j in range(k):
        z = c * g[j]
        if a != 0.0:
            z += a * l[j]
        if b != 0.0:
            z += b * lr[j]
        out[j] = z
    m = _max4(out)[0]                            # NaN ignored here (a NaN z gives NaN below)
    lse = -np.inf
    s = 1.0
    if m > -np.inf:
        for j in range(k):
            e[j] = _exp_red(out[j] - m)
        s4 = _sum4(e, k, (0.0, 0.0, 0.0, 0.0))
        s = (s4[0] + s4[1]) + (s4[2] + s4[3])
        lse = m + math.log(s)
    for j in range(k):
        out[j] -= lse
    if pi.shape[0] == k:
        if m > -np.inf:
            r = 1.0 / s
            for j in range(k):
                pi[j] = e[j] * r
        else:                                    # no distribution: NaN, as exp(out)
            _exp(out, pi)


@njit(cache=True, inline="always")
def _exp(l, out):
    """out = exp(l) for a log-policy l (<= 0 up to rounding): exp_red (0 below e^-708)."""
    for j in range(l.shape[0]):
        out[j] = _exp_red(l[j])


@njit(cache=True)
def _exploitability_row(Pm, l, lr, beta, pi, g, upper, buf, bd, pan):
    _exp(l, pi)
    _product(Pm, pi, g, upper, buf, bd, pan)
    k = l.shape[0]
    if beta == 0.0:
        mx = -np.inf
        for j in range(k):
            mx = max(mx, g[j])
        return mx - 0.5
    m = -np.inf
    for j in range(k):
        m = max(m, lr[j] + g[j] / beta)
    s = 0.0
    klr = 0.0
    for j in range(k):
        s += _vexp(lr[j] + g[j] / beta - m)
        if l[j] > -np.inf:
            klr += pi[j] * (l[j] - lr[j])
    return beta * (m + math.log(s)) + beta * klr - 0.5


@njit(cache=True, parallel=True)
def exploitability(P, log_pi, log_ref, beta, out, upper=False):
    B, K = log_pi.shape
    nobuf, nobd = np.empty((0, 0)), np.empty(0, np.int64)         # serial products
    for i in prange(B):
        Pm = P[0] if P.shape[0] == 1 else P[i]
        pi = np.empty(K)
        g = np.empty(K)
        out[i] = _exploitability_row(Pm, log_pi[i], log_ref[i], beta[i], pi, g, upper, nobuf,
                                     nobd, _nopan(P))


@njit(cache=True, parallel=True)
def run(P, log_ref, beta, eta, method, max_iter, check_every, tol,
        log_pi, state, it, nq, expl, active, upper=False):
    nobuf, nobd = np.empty((0, 0)), np.empty(0, np.int64)     # serial products
    for i in prange(log_pi.shape[0]):
        if active[i]:
            _game(i, P, log_ref, beta, eta, method, max_iter, check_every, tol, log_pi, state,
                  it, nq, expl, active, upper, nobuf, nobd, _nopan(P))


@njit(cache=True)
def run_rows(P, log_ref, beta, eta, method, max_iter, check_every, tol,
             log_pi, state, it, nq, expl, active, upper, buf, bd, pan):
    """``run`` one game after another, each product row-parallel (buf: ROW_CHUNKS - 1 rows of
    K, bd: row_chunks(K); pan: the panel-order copy of a triangle W, the offsets of the chunks
    in it and the row sums st of K // 8 * 64 + 64 doubles, or three empty arrays): for fewer
    games than threads at K >= ROW_MIN_K, and for triangles of PANEL_MIN_BYTES or more."""
    for i in range(log_pi.shape[0]):
        if active[i]:
            _game(i, P, log_ref, beta, eta, method, max_iter, check_every, tol, log_pi, state,
                  it, nq, expl, active, upper, buf, bd, pan)



@njit(cache=True, inline="always")
def _game(i, P, log_ref, beta, eta, method, max_iter, check_every, tol,
          log_pi, state, it, nq, expl, active, upper, buf, bd, pan):
    K = log_pi.shape[1]
    two_step = method == 0 or method == 5
    Pm = P[0] if P.shape[0] == 1 else P[i]
    l = log_pi[i]
    lr = log_ref[i]
    st = state[i]
    pi = np.empty(K)
    g = np.empty(K)
    h = np.empty(K)
    rep = np.empty(K)
    e = np.empty(K)
    none = np.empty(0)                  # _step without pi
    for step in range(max_iter):
        a, b, c, s = _coefficients(method, beta[i], eta[i], it[i])
        if two_step:
            _exp(l, pi)
            _product(Pm, pi, g, upper, buf, bd, pan)
            _step(a, l, b, lr, c, g, h, e, pi)
            _product(Pm, pi, g, upper, buf, bd, pan)
            _step(a, l, b, lr, c, g, l, e, none)
            nq[i] += 2
        elif method == 1:           # nash_md: query mu = N((1-s) l + s lr)
            for j in range(K):
                g[j] = 0.0
            _step(1.0 - s, l, s, lr, 0.0, g, h, e, pi)
            _product(Pm, pi, g, upper, buf, bd, pan)
            _step(a, l, b, lr, c, g, l, e, none)
            nq[i] += 1
        elif method == 4:           # omwu: optimistic 2 g_t - g_{t-1}
            _exp(l, pi)
            _product(Pm, pi, g, upper, buf, bd, pan)
            for j in range(K):
                h[j] = 2.0 * g[j] - st[j]
                st[j] = g[j]
            _step(a, l, b, lr, c, h, l, e, none)
            nq[i] += 1
        else:
            _exp(l, pi)
            _product(Pm, pi, g, upper, buf, bd, pan)
            _step(a, l, b, lr, c, g, l, e, none)
            nq[i] += 1
        if method == 6:             # sppo: running log-sum of the iterates
            for j in range(K):
                x, y = st[j], l[j]
                mx = max(x, y)
                st[j] = mx + math.log1p(math.exp(min(x, y) - mx)) if mx > -np.inf else mx
        it[i] += 1
        if it[i] % check_every == 0 or step == max_iter - 1:
            if method == 6:
                for j in range(K):
                    g[j] = 0.0
                _step(1.0, st, 0.0, lr, 0.0, g, rep, e, none)
            else:
                rep[:] = l
            expl[i] = _exploitability_row(Pm, rep, lr, beta[i], pi, g, upper, buf, bd, pan)
            if expl[i] <= tol:
                active[i] = 0
                break
