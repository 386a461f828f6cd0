"""Numba kernels of approximate Nash-MP: sampling in log space, pair probabilities of the
embedding preference, and one stochastic-gradient step of the square loss or of REINFORCE over a
batch of samples (one compiled call per inner step, never a Python loop per sample).

Conventions (validated by the callers in :mod:`nashmp.approx`, never re-checked here):

* batches are rows ``b = 0..B-1`` (contexts); samples are ``(B, n)`` int64 action indices;
* ``scores`` are unnormalized log-probabilities ``(B, K)`` (``-inf`` = impossible action);
* log-linear features are ``F`` of shape ``(BF, K, d)`` with ``BF`` in ``{1, B}`` (shared or per
  context); parameters ``theta`` are ``(BT, d)`` with ``BT`` in ``{1, B}`` (``BT = 1``: one
  parameter vector shared by every context, its gradient averaged over contexts);
* per-context coefficients (``a``, ``b``, ``c``, ``lr``) are float64 arrays of shape ``(B,)``.

The per-sample kernels are serial (a step touches ``O(n d)`` numbers: thread start-up would cost
more). The ``O(K)`` kernels (``cdf_rows``, ``gumbel_rows``) and the pair kernel run their rows in
parallel (``prange``) above ``PARALLEL_MIN_WORK`` element operations; each row is reduced by one
thread in a fixed order, so results do not depend on the thread count. No fastmath: ``-inf``
keeps its meaning.
"""
from __future__ import annotations

import math
import types

import numpy as np
from numba import njit, prange

_PAR = dict(cache=True, nogil=True, parallel=True)
_SER = dict(cache=True, nogil=True)
_NINF = -np.inf

# splitmix64 constants (counter-based generator of the Gumbel noise)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0


@njit(**_SER, inline="always")
def _splitmix(x):
    z = x + _GOLD
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


# ---- sampling ------------------------------------------------------------------------------------

def _cdf_rows(scores, probs, cum, lse):
    """Per row: ``lse = logsumexp(scores)``, ``probs = exp(scores - lse)`` and the cumulative
    ``cum`` of the probabilities (last entry 1 up to rounding). Two passes, max first, so no
    ``exp`` overflows and every underflow is of a probability below 1e-308 of the largest."""
    B, K = scores.shape
    for b in prange(B):
        m = _NINF
        for k in range(K):
            if scores[b, k] > m:
                m = scores[b, k]
        s = 0.0
        for k in range(K):
            e = math.exp(scores[b, k] - m)      # exp(-inf) = 0
            probs[b, k] = e
            s += e
            cum[b, k] = s
        inv = 1.0 / s
        for k in range(K):
            probs[b, k] *= inv
            cum[b, k] *= inv
        lse[b] = m + math.log(s)


@njit(**_SER)
def search_rows(cum, u, out):
    """Inverse CDF: ``out[b, i]`` = first action whose cumulative probability exceeds ``u[b, i]``
    (``u`` in [0, 1)); rounding at the top end falls back to the last action with mass."""
    B, n = u.shape
    K = cum.shape[1]
    for b in prange(B):
        for i in range(n):
            t = u[b, i]
            lo, hi = 0, K - 1
            while lo < hi:
                mid = (lo + hi) >> 1
                if cum[b, mid] > t:
                    hi = mid
                else:
                    lo = mid + 1
            while lo > 0 and cum[b, lo - 1] >= cum[b, lo]:      # zero-mass action: step back
                lo -= 1
            out[b, i] = lo


def _gumbel_rows(scores, seed, out):
    """Gumbel-max: ``out[b, i] = argmax_k scores[b, k] + G[b, i, k]`` with ``G`` standard Gumbel
    noise from a counter-based splitmix64 stream keyed by ``(seed, b, i, k)``. ``O(n K)``."""
    B, K = scores.shape
    n = out.shape[1]
    for b in prange(B):
        for i in range(n):
            best = _NINF
            arg = 0
            base = np.uint64(seed) + np.uint64((b * n + i) * K)
            for k in range(K):
                s = scores[b, k]
                if s == _NINF:
                    continue
                h = _splitmix(base + np.uint64(k))
                u = (np.float64(h >> _S11) + 0.5) * _TWO_M53
                v = s - math.log(-math.log(u))
                if v > best:
                    best = v
                    arg = k
            out[b, i] = arg


# ---- preference of sampled pairs -----------------------------------------------------------------

def _embedding_pairs(ER, E, ctx, y, y2, out, linear):
    """``out[i] = sigmoid(ER[ctx[i], y[i]] . E[y2[i]])`` where ``ER[r] = E @ R_r`` (precomputed),
    i.e. ``P(y > y2) = sigmoid(e_y^T R e_y2)`` (``linear``: ``1/2 + e_y^T R e_y2``); flat arrays
    of pairs, O(d) per pair."""
    n = y.shape[0]
    d = E.shape[1]
    for i in prange(n):
        r = ctx[i]
        s = 0.0
        for p in range(d):
            s += ER[r, y[i], p] * E[y2[i], p]
        if linear:
            out[i] = 0.5 + s
        elif s >= 0:
            out[i] = 1.0 / (1.0 + math.exp(-s))
        else:
            e = math.exp(s)
            out[i] = e / (1.0 + e)


# ---- square loss: one SGD step over a batch ------------------------------------------------------

@njit(**_SER)
def square_step_tabular(theta, w, c, y, y2, dout, lr, loss):
    """One SGD step on ``1/2 mean_i r_i^2`` for tabular logits, in place.

    ``r_i = (theta[y_i] - theta[y2_i]) - (w[y_i] - w[y2_i]) - c * dout_i`` with
    ``w = a log pi_anchor + b log pi_ref`` (unnormalized: the normalizers cancel in differences)
    and ``dout_i`` the outcome difference ``o(y_i, y''_i) - o(y2_i, y''_i)``. The gradient is
    computed at the current ``theta`` for the whole batch, then applied (sparse, O(n))."""
    B, n = y.shape
    for b in prange(B):
        r = np.empty(n)
        acc = 0.0
        for i in range(n):
            j, k = y[b, i], y2[b, i]
            ri = (theta[b, j] - theta[b, k]) - (w[b, j] - w[b, k]) - c[b] * dout[b, i]
            r[i] = ri
            acc += ri * ri
        loss[b] = 0.5 * acc / n
        step = lr[b] / n
        for i in range(n):
            theta[b, y[b, i]] -= step * r[i]
            theta[b, y2[b, i]] += step * r[i]


@njit(**_SER)
def square_grad_loglinear(F, theta, w, c, y, y2, dout, grad, loss):
    """Gradient (per context row, ``grad`` (B, d)) of ``1/2 mean_i r_i^2`` for a log-linear
    policy: ``r_i = (theta - w) . (phi(y_i) - phi(y2_i)) - c * dout_i``, ``w = a theta_anchor +
    b theta_ref``; ``log pi(y) - log pi(y')`` needs no normalizer, so the cost is O(n d)."""
    B, n = y.shape
    d = F.shape[2]
    BF = F.shape[0]
    BT = theta.shape[0]
    for b in prange(B):
        fb = 0 if BF == 1 else b
        tb = 0 if BT == 1 else b
        for p in range(d):
            grad[b, p] = 0.0
        acc = 0.0
        for i in range(n):
            j, k = y[b, i], y2[b, i]
            ri = 0.0
            for p in range(d):
                ri += (theta[tb, p] - w[tb, p]) * (F[fb, j, p] - F[fb, k, p])
            ri -= c[b] * dout[b, i]
            acc += ri * ri
            for p in range(d):
                grad[b, p] += ri * (F[fb, j, p] - F[fb, k, p])
        loss[b] = 0.5 * acc / n
        for p in range(d):
            grad[b, p] /= n


# ---- REINFORCE: one policy-gradient step over a batch --------------------------------------------

@njit(**_SER)
def reinforce_tabular(theta, probs, lse, wk, lse_k, wr, lse_r, y, o, a, b_, c, lr, adv):
    """One ascent step of REINFORCE with the 1/2 baseline for tabular logits, in place.

    ``A_i = c (o_i - 1/2) - a log(pi/pi_anchor)(y_i) - b log(pi/pi_ref)(y_i)``, ``y_i ~ pi``;
    ``grad = mean_i A_i (e_{y_i} - pi)`` (``probs`` = pi, ``lse`` its normalizer; ``wk``/``wr``
    unnormalized anchor/reference logits with normalizers ``lse_k``/``lse_r``). ``adv`` gets
    ``mean_i A_i``."""
    B, n = y.shape
    K = theta.shape[1]
    for b in prange(B):
        A = np.empty(n)
        m = 0.0
        for i in range(n):
            j = y[b, i]
            lp = theta[b, j] - lse[b]
            A[i] = (c[b] * (o[b, i] - 0.5) - a[b] * (lp - (wk[b, j] - lse_k[b]))
                    - b_[b] * (lp - (wr[b, j] - lse_r[b])))
            m += A[i]
        m /= n
        adv[b] = m
        step = lr[b] / n
        for k in range(K):
            theta[b, k] -= lr[b] * m * probs[b, k]
        for i in range(n):
            theta[b, y[b, i]] += step * A[i]


@njit(**_SER)
def reinforce_grad_loglinear(F, theta, lse, phibar, wk, lse_k, wr, lse_r, y, o, a, b_, c, grad,
                             adv):
    """REINFORCE ascent direction for a log-linear policy, per context row (``grad`` (B, d)):
    ``mean_i A_i (phi(y_i) - E_pi[phi])`` with ``A_i`` as in :func:`reinforce_tabular` and
    ``log pi(y) = theta . phi(y) - lse``."""
    B, n = y.shape
    d = F.shape[2]
    BF = F.shape[0]
    BT = theta.shape[0]
    for b in prange(B):
        fb = 0 if BF == 1 else b
        tb = 0 if BT == 1 else b
        for p in range(d):
            grad[b, p] = 0.0
        m = 0.0
        for i in range(n):
            j = y[b, i]
            s = 0.0
            sk = 0.0
            sr = 0.0
            for p in range(d):
                f = F[fb, j, p]
                s += theta[tb, p] * f
                sk += wk[tb, p] * f
                sr += wr[tb, p] * f
            lp = s - lse[b]
            Ai = (c[b] * (o[b, i] - 0.5) - a[b] * (lp - (sk - lse_k[b]))
                  - b_[b] * (lp - (sr - lse_r[b])))
            m += Ai
            for p in range(d):
                grad[b, p] += Ai * (F[fb, j, p] - phibar[b, p])
        adv[b] = m / n
        for p in range(d):
            grad[b, p] /= n


# ---- serial and parallel variants of the O(K) / large-n kernels ----------------------------------

def _variants(f):
    """``(serial, parallel)`` dispatchers of ``f`` (distinct qualnames: distinct cache entries)."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_serial", f.__defaults__,
                           f.__closure__)
    g.__qualname__ = f.__qualname__ + "_serial"
    g.__doc__ = f.__doc__
    return njit(**_SER)(g), njit(**_PAR)(f)


# below this many element operations, starting threads costs more than it saves
PARALLEL_MIN_WORK = 1 << 17

_cdf = _variants(_cdf_rows)
_gumbel = _variants(_gumbel_rows)
_pairs = _variants(_embedding_pairs)


def cdf_rows(scores, probs, cum, lse):
    return _cdf[scores.shape[0] > 1 and scores.size >= PARALLEL_MIN_WORK](scores, probs, cum, lse)


def gumbel_rows(scores, seed, out):
    return _gumbel[scores.shape[0] > 1 and scores.size * out.shape[1] >= PARALLEL_MIN_WORK](
        scores, seed, out)


def embedding_pairs(ER, E, ctx, y, y2, out, linear=False):
    return _pairs[y.shape[0] * E.shape[1] >= PARALLEL_MIN_WORK](ER, E, ctx, y, y2, out,
                                                                bool(linear))
