"""Float64 NumPy reference of the log-space kernels: the specification of every other backend.

All functions work over the last axis (actions) with any leading batch dimensions, convert their
inputs to float64 and return float64 arrays. They are also the ``"numpy"`` backend, so they are
written to be exact in log space (``exp`` is only taken of non-positive shifted values, never
followed by a ``log`` of something that may have underflowed) and to leak no floating-point
warnings.

Edge cases (the same as the C ABI, ``csrc/include/nashmp/nashmp.h``):

- ``-inf`` entries are impossible actions; a row of all ``-inf`` has ``logsumexp = -inf``,
  ``log_softmax = -inf`` everywhere and ``softmax = 0`` everywhere.
- ``kl``: terms with ``logp = -inf`` are exactly 0; ``logp > -inf`` with ``logq = -inf`` gives
  ``+inf``.
- ``span``: all ``-inf`` gives 0; ``-inf`` mixed with finite entries gives ``+inf``.
- ``mirror_step``: a term whose coefficient is exactly 0 contributes exactly 0, whatever its input
  holds (even ``-inf`` or NaN, or ``None``). A row whose ``z`` has no finite entry (all ``-inf``:
  no distribution) gives a row of NaN; the compiled kernels report it as NONFINITE.
- NaN / ``+inf`` inputs are rejected by the caller (validation layer); here they propagate as
  NaN / inf without warnings.

The ``*_mp`` helpers compute correctly rounded values of single rows with mpmath, for tests.
"""
from __future__ import annotations

import numpy as np

__all__ = ["logsumexp", "log_softmax", "softmax", "kl", "span", "preference_apply",
           "mirror_step", "logsumexp_mp", "log_softmax_mp", "kl_mp"]

_F64 = np.float64


def _f64(x):
    return np.asarray(x, dtype=_F64)


def _ms_keepdims(x):
    """Row max ``m`` (shifted to 0 where not finite) and ``log(sum(exp(x - m)))``, keepdims.

    ``x`` is float64 with ``x.shape[-1] >= 1``. Also returns the raw row max.
    """
    m = np.max(x, axis=-1, keepdims=True)
    # shift by the row max where it is finite; 0 otherwise (all -inf row: exp(-inf) = 0 -> -inf;
    # +inf / NaN rows propagate inf / NaN).
    ms = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.sum(np.exp(x - ms), axis=-1, keepdims=True)  # s >= 1 for a finite max
        return m, ms, np.log(s)


def _lse_keepdims(x):
    """logsumexp over the last axis with keepdims."""
    _, ms, ls = _ms_keepdims(x)
    return ls + ms


def logsumexp(x):
    """``log(sum(exp(x)))`` over the last axis; shape ``x.shape[:-1]``.

    A row of all ``-inf`` gives ``-inf``. Computed as ``m + log(sum(exp(x - m)))`` with ``m`` the
    row max, so nothing overflows and the sum is at least 1.
    """
    x = _f64(x)
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension (the action axis)")
    if x.shape[-1] == 0:
        raise ValueError("x must have at least one action")
    return _lse_keepdims(x)[..., 0]


def log_softmax(x):
    """``x - logsumexp(x)`` over the last axis; a row of all ``-inf`` stays all ``-inf``."""
    x = _f64(x)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("x must have at least one action on its last axis")
    m, ms, ls = _ms_keepdims(x)
    with np.errstate(invalid="ignore"):
        out = (x - ms) - ls                  # (x - m) first: exact for entries near the max
    # all -inf row: -inf - (-inf) is NaN; the answer is -inf everywhere.
    return np.where(np.isneginf(m), -np.inf, out)


def softmax(x):
    """``exp(log_softmax(x))`` over the last axis; a row of all ``-inf`` gives all zeros."""
    x = _f64(x)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("x must have at least one action on its last axis")
    m = np.max(x, axis=-1, keepdims=True)
    ms = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        e = np.exp(x - ms)                       # <= 1, max entry exactly 1
        s = np.sum(e, axis=-1, keepdims=True)
        out = e / s
    return np.where(np.isneginf(m), 0.0, out)


def kl(logp, logq):
    """``KL(p || q) = sum exp(logp) (logp - logq)`` over the last axis (leading dims broadcast).

    Rows are not renormalized. Terms with ``logp = -inf`` are exactly 0 (``0 log 0 = 0``), whatever
    ``logq`` holds; ``logp > -inf`` where ``logq = -inf`` makes the row ``+inf``.
    """
    lp = _f64(logp)
    lq = _f64(logq)
    if lp.ndim == 0 or lq.ndim == 0 or lp.shape[-1] != lq.shape[-1] or lp.shape[-1] == 0:
        raise ValueError(f"logp and logq must have the same (nonzero) number of actions, got "
                         f"shapes {lp.shape} and {lq.shape}")
    lp, lq = np.broadcast_arrays(lp, lq)
    p_ninf = np.isneginf(lp)
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.exp(lp) * (lp - lq)
    t = np.where(np.isneginf(lq), np.inf, t)      # p > 0 against q = 0
    t = np.where(p_ninf, 0.0, t)                  # p = 0: exactly 0
    return np.sum(t, axis=-1)


def span(x):
    """Span semi-norm ``max(x) - min(x)`` over the last axis.

    A row of all ``-inf`` gives 0 (a constant row); ``-inf`` mixed with finite entries gives
    ``+inf``.
    """
    x = _f64(x)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("x must have at least one action on its last axis")
    mx = np.max(x, axis=-1)
    mn = np.min(x, axis=-1)
    with np.errstate(invalid="ignore"):
        d = mx - mn
    return np.where(np.isneginf(mx), 0.0, d)


def preference_apply(P, pi):
    """``g = P pi`` per game: ``g[..., y] = sum_j P[..., y, j] pi[..., j]``.

    ``P`` is ``(K, K)`` (shared by the batch) or ``(..., K, K)`` (one matrix per game, leading dims
    broadcast against those of ``pi``); ``pi`` is ``(..., K)``.
    """
    P = _f64(P)
    pi = _f64(pi)
    if P.ndim < 2 or pi.ndim < 1 or P.shape[-2:] != (pi.shape[-1], pi.shape[-1]):
        raise ValueError(f"P must have shape (..., K, K) matching pi of shape (..., K); got "
                         f"{P.shape} and {pi.shape}")
    with np.errstate(invalid="ignore", over="ignore"):
        if P.ndim == 2:
            return pi @ P.T                               # one GEMM for a shared matrix
        return np.matmul(P, pi[..., None])[..., 0]


def mirror_step(log_pi, log_ref, g, a, b, c):
    """Fused prox step ``z - logsumexp(z)`` with ``z = a*log_pi + b*log_ref + c*g``.

    A term whose coefficient is exactly 0 contributes exactly 0 (its input may be ``-inf``, NaN or
    ``None``). Leading dims of the inputs broadcast. A row of ``z`` with no entry above ``-inf``
    defines no distribution and gives a row of NaN (the compiled kernels return NONFINITE).
    """
    a, b, c = float(a), float(b), float(c)
    terms = []
    for coef, arr, name in ((a, log_pi, "log_pi"), (b, log_ref, "log_ref"), (c, g, "g")):
        if coef == 0.0:
            continue
        if arr is None:
            raise ValueError(f"{name} may be None only when its coefficient is 0")
        terms.append((coef, _f64(arr)))
    shapes = [np.shape(v) for v in (log_pi, log_ref, g) if v is not None]
    if any(len(s) == 0 for s in shapes):
        raise ValueError("log_pi, log_ref and g must have an action axis")
    shape = np.broadcast_shapes(*shapes)
    if shape[-1] == 0:
        raise ValueError("log_pi, log_ref and g must have at least one action")
    z = np.zeros(shape, dtype=_F64)
    with np.errstate(invalid="ignore", over="ignore"):
        for coef, arr in terms:
            z = z + coef * arr                      # same order as the C kernel: a, then b, then c
        m, ms, ls = _ms_keepdims(z)
        ok = np.isfinite(m)
        out = (z - ms) - ls
    # no distribution (all -inf), or NaN / +inf in z: NaN row
    return np.where(ok, out, np.nan)


# ---- high-precision references for tests (mpmath, imported lazily) ------------------------------

def _mp():
    import mpmath  # noqa: PLC0415  (test-only dependency)
    return mpmath


def logsumexp_mp(x_row, prec: int = 256) -> float:
    """Correctly rounded ``logsumexp`` of one 1-D row (float), computed with mpmath.

    ``-inf`` entries contribute nothing; an all ``-inf`` row gives ``-inf``. NaN gives NaN and
    ``+inf`` gives ``+inf``.
    """
    mpmath = _mp()
    x = np.asarray(x_row, dtype=_F64).ravel()
    if x.size == 0:
        raise ValueError("x_row must not be empty")
    if np.isnan(x).any():
        return float("nan")
    if np.isposinf(x).any():
        return float("inf")
    fin = x[np.isfinite(x)]
    if fin.size == 0:
        return float("-inf")
    with mpmath.workprec(prec):
        m = mpmath.mpf(float(fin.max()))
        s = mpmath.fsum(mpmath.exp(mpmath.mpf(float(v)) - m) for v in fin)
        r = m + mpmath.log(s)
        return float(r)


def log_softmax_mp(x_row, prec: int = 256) -> np.ndarray:
    """Correctly rounded ``log_softmax`` of one 1-D row (float64 array), with mpmath."""
    mpmath = _mp()
    x = np.asarray(x_row, dtype=_F64).ravel()
    fin = x[np.isfinite(x)]
    if np.isnan(x).any() or np.isposinf(x).any():
        return np.full(x.shape, np.nan)
    if fin.size == 0:
        return np.full(x.shape, -np.inf)
    with mpmath.workprec(prec):
        m = mpmath.mpf(float(fin.max()))
        lse = m + mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v)) - m) for v in fin))
        return np.array([float(mpmath.mpf(float(v)) - lse) if np.isfinite(v) else -np.inf
                         for v in x], dtype=_F64)


def kl_mp(logp_row, logq_row, prec: int = 256) -> float:
    """Correctly rounded ``KL(p || q)`` of one pair of 1-D log-probability rows, with mpmath."""
    mpmath = _mp()
    lp = np.asarray(logp_row, dtype=_F64).ravel()
    lq = np.asarray(logq_row, dtype=_F64).ravel()
    if lp.shape != lq.shape:
        raise ValueError("logp_row and logq_row must have the same length")
    if np.isnan(lp).any() or np.isnan(lq).any():
        return float("nan")
    with mpmath.workprec(prec):
        terms = []
        for p, q in zip(lp.tolist(), lq.tolist()):
            if p == -np.inf:
                continue
            if q == -np.inf:
                return float("inf")
            P, Q = mpmath.mpf(p), mpmath.mpf(q)
            terms.append(mpmath.exp(P) * (P - Q))
        return float(mpmath.fsum(terms)) if terms else 0.0
