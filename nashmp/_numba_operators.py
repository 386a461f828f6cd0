"""Numba kernels of the matrix-free preference operators (the ``"numba"`` backend of
``nashmp.operators``).

Every kernel takes validated, C-contiguous 2-D arrays: policies ``pi`` of shape ``(B, K)``
(the operator's dtype) and a float64 output ``out`` of the same shape, and accumulates in
float64. Row tiles run in parallel (``prange``); the sigmoid is evaluated once per pair and used
for every game of the batch. ``sigma(x)`` is computed as ``t = exp(-|x|)``,
``(x >= 0 ? 1 : t) / (1 + t)`` (no overflow, no cancellation).

``fused_finish`` is the prox-step epilogue ``normalize(a log_pi + b log_ref + c g)`` plus
``exp`` of the result, with the zero-coefficient rules of ``nashmp.mirror_step``; it returns 0
or -5 (a row that is not a distribution), the C ABI's status codes.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_PAR = dict(cache=True, nogil=True, parallel=True)
_SER = dict(cache=True, nogil=True, inline="always")
TILE = 256          # rows per parallel work item
CHUNK = 16384       # rows per low-rank reduction chunk


@njit(**_SER)
def _sigmoid(x):
    t = math.exp(-abs(x))
    if x >= 0.0:
        return 1.0 / (1.0 + t)
    return t / (1.0 + t)


# ---- low rank -------------------------------------------------------------------------------

@njit(**_PAR)
def lowrank_apply(U, V, pi, out):
    """``out = (1/2 + U V^T - V U^T) pi`` per row of ``pi``; two passes over U and V."""
    B, K = pi.shape
    r = U.shape[1]
    nch = (K + CHUNK - 1) // CHUNK
    parts = np.zeros((nch, 2 * r + 1))
    for b in range(B):
        for ch in prange(nch):
            for q in range(2 * r + 1):
                parts[ch, q] = 0.0
            for i in range(ch * CHUNK, min(K, (ch + 1) * CHUNK)):
                p = np.float64(pi[b, i])
                for q in range(r):
                    parts[ch, q] += np.float64(V[i, q]) * p
                    parts[ch, r + q] += np.float64(U[i, q]) * p
                parts[ch, 2 * r] += p
        tot = np.zeros(2 * r + 1)
        for ch in range(nch):            # fixed order: independent of the thread count
            for q in range(2 * r + 1):
                tot[q] += parts[ch, q]
        half = 0.5 * tot[2 * r]
        for i in prange(K):
            s = 0.0
            for q in range(r):
                s += np.float64(U[i, q]) * tot[q] - np.float64(V[i, q]) * tot[r + q]
            out[b, i] = half + s


# ---- embedding / Bradley-Terry (scores a_i . e_j) ------------------------------------------

@njit(**_PAR)
def embedding_apply(A, E, pi, out):
    """``out[b, i] = sum_j sigma(a_i . e_j) pi[b, j]``; A = E Rs (K, d), E (K, d)."""
    B, K = pi.shape
    d = E.shape[1]
    nt = (K + TILE - 1) // TILE
    for t in prange(nt):
        acc = np.zeros(B)
        for i in range(t * TILE, min(K, (t + 1) * TILE)):
            for b in range(B):
                acc[b] = 0.0
            for j in range(K):
                s = 0.0
                for q in range(d):
                    s += np.float64(A[i, q]) * np.float64(E[j, q])
                p = _sigmoid(s)
                for b in range(B):
                    acc[b] += p * np.float64(pi[b, j])
            for b in range(B):
                out[b, i] = acc[b]


# ---- packed half matrix -----------------------------------------------------------------------

@njit(**_PAR)
def packed_apply(Pu, pi, out):
    """Packed strict upper triangle (row by row): rows in parallel, each output row reads its
    own stored row (P[i, j], j > i) and column (1 - P[j, i], j < i)."""
    B, K = pi.shape
    nt = (K + TILE - 1) // TILE
    for t in prange(nt):
        acc = np.zeros(B)
        for i in range(t * TILE, min(K, (t + 1) * TILE)):
            for b in range(B):
                acc[b] = 0.5 * np.float64(pi[b, i])
            for j in range(i):                       # P[i, j] = 1 - P[j, i]
                p = 1.0 - np.float64(Pu[j * K - j * (j + 1) // 2 + (i - j - 1)])
                for b in range(B):
                    acc[b] += p * np.float64(pi[b, j])
            off = i * K - i * (i + 1) // 2 - i - 1
            for j in range(i + 1, K):
                p = np.float64(Pu[off + j])
                for b in range(B):
                    acc[b] += p * np.float64(pi[b, j])
            for b in range(B):
                out[b, i] = acc[b]


# ---- user pair functions ----------------------------------------------------------------------

_PAIR_CACHE = {}


def pair_kernel(s, use_E, logistic):
    """A parallel Numba kernel ``apply(E, pi, out)`` for the jitted pair function ``s``:
    ``P[i, j] = f(i, j)`` for ``i < j`` with ``f = sigma(s)`` (``logistic``) or ``s``,
    ``P[j, i] = 1 - P[i, j]``, ``P[i, i] = 1/2`` (antisymmetric by construction). ``s`` takes
    ``(i, j)`` or, with ``use_E``, the rows ``(E[i], E[j])``. Compiled once per function."""
    key = (s, bool(use_E), bool(logistic))
    fn = _PAIR_CACHE.get(key)
    if fn is not None:
        return fn
    if use_E:
        @njit(inline="always")
        def f(E, i, j):
            v = np.float64(s(E[i], E[j]))
            return _sigmoid(v) if logistic else v
    else:
        @njit(inline="always")
        def f(E, i, j):
            v = np.float64(s(i, j))
            return _sigmoid(v) if logistic else v

    @njit(parallel=True, nogil=True)
    def apply(E, pi, out):
        B, K = pi.shape
        nt = (K + TILE - 1) // TILE
        for t in prange(nt):
            acc = np.zeros(B)
            for i in range(t * TILE, min(K, (t + 1) * TILE)):
                for b in range(B):
                    acc[b] = 0.5 * np.float64(pi[b, i])
                for j in range(K):
                    if j == i:
                        continue
                    p = f(E, i, j) if i < j else 1.0 - f(E, j, i)
                    for b in range(B):
                        acc[b] += p * np.float64(pi[b, j])
                for b in range(B):
                    out[b, i] = acc[b]

    @njit(parallel=True, nogil=True)
    def entries(E, i, j, out):
        for n in prange(i.size):
            a, c = i[n], j[n]
            if a == c:
                out[n] = 0.5
            elif a < c:
                out[n] = f(E, a, c)
            else:
                out[n] = 1.0 - f(E, c, a)

    _PAIR_CACHE[key] = (apply, entries)
    return apply, entries


# ---- fused prox-step epilogue -----------------------------------------------------------------

@njit(**_PAR)
def fused_finish(lp, lr, g, a, b, c, out, po):
    """out = normalize(a lp + b lr + c g), po = exp(out) (po may have 0 rows); all (B, K) f64."""
    B, K = g.shape
    bad = 0
    for r in prange(B):
        m = -np.inf
        for j in range(K):
            z = 0.0
            if a != 0.0:
                z = a * lp[r, j]
            if b != 0.0:
                z += b * lr[r, j]
            if c != 0.0:
                z += c * g[r, j]
            out[r, j] = z
            if z > m or z != z:
                m = z
        if not (m < np.inf) or m == -np.inf:
            bad += 1                        # a prange reduction (a plain store would be lost)
            continue
        s = 0.0
        for j in range(K):
            s += math.exp(out[r, j] - m)
        ls = m + math.log(s)
        for j in range(K):
            out[r, j] -= ls
        if po.shape[0] == B:
            for j in range(K):
                po[r, j] = math.exp(out[r, j])
    return -5 if bad > 0 else 0
