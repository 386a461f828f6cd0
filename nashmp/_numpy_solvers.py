"""NumPy reference of the dense solver loop (the specification the C and Numba loops follow).

Vectorized over the active games; one Python iteration per solver iteration.
"""
from __future__ import annotations

import numpy as np

from ._methods import TWO_STEP, coefficients


def _lse(z):
    m = np.max(z, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return (np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)) + m)


def _normalize(z):
    return z - _lse(z)


def _lin(a, l, b, lr, c, g):
    """a l + b lr + c g with zero coefficients contributing exactly 0."""
    z = c * g
    z = z + np.where(a != 0, a * np.where(a != 0, l, 0.0), 0.0)
    z = z + np.where(b != 0, b * np.where(b != 0, lr, 0.0), 0.0)
    return z


def apply(P, pi):
    """g = P pi per game; P is (1, K, K) shared or (B, K, K)."""
    if P.shape[0] == 1:
        return pi @ P[0].T
    return np.einsum("bij,bj->bi", P, pi)


def exploitability(P, log_pi, log_ref, beta):
    """Regularized exploitability per game (beta == 0: unregularized)."""
    pi = np.exp(log_pi)
    g = apply(P, pi)
    beta = np.asarray(beta, dtype=np.float64).reshape(-1, 1)
    safe = np.where(beta > 0, beta, 1.0)
    with np.errstate(invalid="ignore"):
        klr = np.sum(np.where(np.isneginf(log_pi), 0.0, pi * (log_pi - log_ref)), axis=-1)
    reg = beta[:, 0] * _lse(log_ref + g / safe)[:, 0] + beta[:, 0] * klr - 0.5
    return np.where(beta[:, 0] > 0, reg, g.max(axis=-1) - 0.5)


def run(P, log_ref, beta, eta, method, max_iter, check_every, tol,
        log_pi, state, it, nq, expl, active):
    """Same contract as ``nashmp_solve_dense_f64`` (arrays updated in place)."""
    B, K = log_pi.shape
    P = P.astype(np.float64)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        Pi = P if P.shape[0] == 1 else P[idx]
        l, lr = log_pi[idx], log_ref[idx]
        co = np.array([coefficients(method, beta[i], eta[i], it[i]) for i in idx])
        a, b, c, s = (co[:, j:j + 1] for j in range(4))
        if method in TWO_STEP:
            h = _normalize(_lin(a, l, b, lr, c, apply(Pi, np.exp(l))))
            new = _normalize(_lin(a, l, b, lr, c, apply(Pi, np.exp(h))))
        elif method == 1:    # nash_md: query the geometric mixture
            mu = _normalize(_lin(1 - s, l, s, lr, 0.0, 0.0))
            new = _normalize(_lin(a, l, b, lr, c, apply(Pi, np.exp(mu))))
        elif method == 4:    # omwu
            g = apply(Pi, np.exp(l))
            new = _normalize(_lin(a, l, b, lr, c, 2.0 * g - state[idx]))
            state[idx] = g
        else:
            new = _normalize(_lin(a, l, b, lr, c, apply(Pi, np.exp(l))))
        log_pi[idx] = new
        if method == 6:
            state[idx] = np.logaddexp(state[idx], new)
        it[idx] += 1
        nq[idx] += 2 if method in TWO_STEP else 1
        chk = idx[(it[idx] % check_every == 0) | (_ == max_iter - 1)]
        if chk.size:
            rep = _normalize(state[chk]) if method == 6 else log_pi[chk]
            e = exploitability(P if P.shape[0] == 1 else P[chk], rep, log_ref[chk], beta[chk])
            expl[chk] = e
            active[chk[e <= tol]] = 0
