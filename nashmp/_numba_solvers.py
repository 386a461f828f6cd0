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
# of _matvec are faster; medians of 9 interleaved rounds per iteration, dense against triangle:
# K = 100 2.66 against 2.70 us, K = 112 2.54 against 2.50 us, K = 128 3.21 against 3.04 us).
UPPER_MIN_K = 112


# P read through its strict upper triangle (P[j, i] = 1 - P[i, j], P[i, i] = 1/2; the solver
# uses it when P + P^T = 1 to rounding and K >= UPPER_MIN_K): half the bytes of _matvec. Eight rows
# at a time (eight streams: K = 4000 2.63 against 3.36 ms per product with four): their dot
# products with x and, in the same loop, y[j] += sum_r x_r - sum_r P[r, j] x_r for the columns on
# their right. The row slices (indices from 0) let LLVM vectorize the loop.
@njit(cache=True, fastmath={"reassoc", "contract"})
def _matvec_upper_rows(Pm, x, y, i0, i1):
    """The part of P x that rows [i0, i1) of the triangle give, into y[i0:] (zeroed first); i0 a
    multiple of 8, i1 one too or k."""
    k = x.shape[0]
    for j in range(i0, k):
        y[j] = 0.0
    i = i0
    while i + 8 <= i1:
        for a in range(8):               # the 8 x 8 diagonal block
            xa = x[i + a]
            ta = 0.0
            for b in range(a + 1, 8):
                p = Pm[i + a, i + b]
                ta += p * x[i + b]
                y[i + b] += xa - p * xa
            y[i + a] += ta + 0.5 * xa
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        x4, x5, x6, x7 = x[i + 4], x[i + 5], x[i + 6], x[i + 7]
        n0 = i + 8
        P0, P1, P2, P3 = Pm[i, n0:], Pm[i + 1, n0:], Pm[i + 2, n0:], Pm[i + 3, n0:]
        P4, P5, P6, P7 = Pm[i + 4, n0:], Pm[i + 5, n0:], Pm[i + 6, n0:], Pm[i + 7, n0:]
        xs, ys = x[n0:], y[n0:]
        sx = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))
        t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = 0.0
        for j in range(P0.shape[0]):
            a0, a1, a2, a3 = P0[j], P1[j], P2[j], P3[j]
            a4, a5, a6, a7 = P4[j], P5[j], P6[j], P7[j]
            xj = xs[j]
            t0 += a0 * xj
            t1 += a1 * xj
            t2 += a2 * xj
            t3 += a3 * xj
            t4 += a4 * xj
            t5 += a5 * xj
            t6 += a6 * xj
            t7 += a7 * xj
            ys[j] += sx - (((a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)) +
                           ((a4 * x4 + a5 * x5) + (a6 * x6 + a7 * x7)))
        y[i] += t0
        y[i + 1] += t1
        y[i + 2] += t2
        y[i + 3] += t3
        y[i + 4] += t4
        y[i + 5] += t5
        y[i + 6] += t6
        y[i + 7] += t7
        i += 8
    while i < i1:                         # the last rows (i1 = k)
        xi = x[i]
        t = 0.0
        for j in range(i + 1, k):
            p = Pm[i, j]
            t += p * x[j]
            y[j] += xi - p * xi
        y[i] += t + 0.5 * xi
        i += 1


@njit(cache=True)
def _matvec_upper(Pm, x, y):
    _matvec_upper_rows(Pm, x, y, 0, x.shape[0])


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
def _matvec_upper_par(Pm, x, y, buf, bd):
    nch = bd.shape[0] - 1
    for c in prange(nch):
        if c == 0:
            _matvec_upper_rows(Pm, x, y, bd[0], bd[1])
        else:
            _matvec_upper_rows(Pm, x, buf[c - 1], bd[c], bd[c + 1])
    k = x.shape[0]
    for c in range(1, nch):
        for j in range(bd[c], k):
            y[j] += buf[c - 1, j]


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def _matvec_par(Pm, x, out):
    k = x.shape[0]
    for y in prange(k):
        s = 0.0
        for j in range(k):
            s += Pm[y, j] * x[j]
        out[y] = s


@njit(cache=True, inline="always")     # the kernels themselves stay calls (their fastmath flags)
def _product(Pm, x, y, upper, buf, bd):
    if bd.shape[0] > 1:                # row-parallel (run_rows)
        if upper:
            _matvec_upper_par(Pm, x, y, buf, bd)
        else:
            _matvec_par(Pm, x, y)
    elif upper:
        _matvec_upper(Pm, x, y)
    else:
        _matvec(Pm, x, y)


@njit(cache=True, inline="always")
def _step(a, l, b, lr, c, g, out, e):
    """out = N(a l + b lr + c g), zero coefficients contribute 0: z, its max in four lanes, the
    exps (into the scratch e: a loop that vectorizes) and their sum in four lanes (the helpers
    of the Numba kernels)."""
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
    if m > -np.inf:
        for j in range(k):
            e[j] = _vexp(out[j] - m)
        s = _sum4(e, k, (0.0, 0.0, 0.0, 0.0))
        lse = m + math.log((s[0] + s[1]) + (s[2] + s[3]))
    for j in range(k):
        out[j] -= lse


@njit(cache=True, inline="always")
def _exp(l, out):
    for j in range(l.shape[0]):
        out[j] = _vexp(l[j])


@njit(cache=True)
def _exploitability_row(Pm, l, lr, beta, pi, g, upper, buf, bd):
    _exp(l, pi)
    _product(Pm, pi, g, upper, buf, bd)
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
                                     nobd)


@njit(cache=True, parallel=True)
def run(P, log_ref, beta, eta, method, max_iter, check_every, tol,
        log_pi, state, it, nq, expl, active, upper=False):
    nobuf, nobd = np.empty((0, 0)), np.empty(0, np.int64)     # serial products
    for i in prange(log_pi.shape[0]):
        if active[i]:
            _game(i, P, log_ref, beta, eta, method, max_iter, check_every, tol, log_pi, state,
                  it, nq, expl, active, upper, nobuf, nobd)


@njit(cache=True)
def run_rows(P, log_ref, beta, eta, method, max_iter, check_every, tol,
             log_pi, state, it, nq, expl, active, upper, buf, bd):
    """``run`` one game after another, each product row-parallel (buf: ROW_CHUNKS - 1 rows of
    K, bd: row_chunks(K)): for fewer games than threads at K >= ROW_MIN_K."""
    for i in range(log_pi.shape[0]):
        if active[i]:
            _game(i, P, log_ref, beta, eta, method, max_iter, check_every, tol, log_pi, state,
                  it, nq, expl, active, upper, buf, bd)


@njit(cache=True, inline="always")
def _game(i, P, log_ref, beta, eta, method, max_iter, check_every, tol,
          log_pi, state, it, nq, expl, active, upper, buf, bd):
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
    for step in range(max_iter):
        a, b, c, s = _coefficients(method, beta[i], eta[i], it[i])
        if two_step:
            _exp(l, pi)
            _product(Pm, pi, g, upper, buf, bd)
            _step(a, l, b, lr, c, g, h, e)
            _exp(h, pi)
            _product(Pm, pi, g, upper, buf, bd)
            _step(a, l, b, lr, c, g, l, e)
            nq[i] += 2
        elif method == 1:           # nash_md: query mu = N((1-s) l + s lr)
            for j in range(K):
                g[j] = 0.0
            _step(1.0 - s, l, s, lr, 0.0, g, h, e)
            _exp(h, pi)
            _product(Pm, pi, g, upper, buf, bd)
            _step(a, l, b, lr, c, g, l, e)
            nq[i] += 1
        elif method == 4:           # omwu: optimistic 2 g_t - g_{t-1}
            _exp(l, pi)
            _product(Pm, pi, g, upper, buf, bd)
            for j in range(K):
                h[j] = 2.0 * g[j] - st[j]
                st[j] = g[j]
            _step(a, l, b, lr, c, h, l, e)
            nq[i] += 1
        else:
            _exp(l, pi)
            _product(Pm, pi, g, upper, buf, bd)
            _step(a, l, b, lr, c, g, l, e)
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
                _step(1.0, st, 0.0, lr, 0.0, g, rep, e)
            else:
                rep[:] = l
            expl[i] = _exploitability_row(Pm, rep, lr, beta[i], pi, g, upper, buf, bd)
            if expl[i] <= tol:
                active[i] = 0
                break
