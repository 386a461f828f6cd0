"""Exact metrics of the beta-regularized preference game, in log space.

All functions take the preference matrix ``P`` (shape (K, K) or (..., K, K), or a
:class:`nashmp.operators.PreferenceOperator`), log-policies
``log_pi`` (..., K) and ``beta``, with the reference ``ref`` (probabilities, default uniform).
"""
from __future__ import annotations

import numpy as np

from . import _backend
from ._games import as_beta, batch_of, check_preference, log_policy
from ._kernels import kl, logsumexp, preference_apply, span
from ._validation import as_float_array, batch_shape_of, check_same_k
from .operators import is_operator

__all__ = ["exploitability", "duality_gap", "best_response", "fixed_point_residual",
           "span_distance", "kl", "span"]


def _g(P, pi, backend):
    """g(pi) = P pi in float64, for a dense P or a PreferenceOperator."""
    if is_operator(P):
        return np.asarray(P.apply(pi, backend=backend), dtype=np.float64)
    return preference_apply(P.astype(np.float64), pi, backend=backend)


# a log-policy's logsumexp may differ from 0 by this much (rounding, float32 storage)
NORM_TOL = 1e-3


def _check_normalized(lp, name):
    """Every row of ``lp`` (no NaN or +inf) is a log-policy: logsumexp within NORM_TOL of 0."""
    lse = np.asarray(logsumexp(lp))
    if not np.isfinite(lse).all():
        raise ValueError(f"{name} must have a finite entry in every row (a policy), got a row "
                         "of -inf")
    bad = np.abs(lse) > NORM_TOL
    if bad.any():
        raise ValueError(f"{name} must be normalized (logsumexp over the last axis = 0, within "
                         f"{NORM_TOL:g}), got logsumexp {float(lse[bad].flat[0]):.6g}")


def _setup(P, log_pi, beta, ref, antisymmetrize, allow_zero=True):
    P = P if is_operator(P) else check_preference(P, antisymmetrize=antisymmetrize)
    k = P.shape[-1]
    lp = as_float_array(log_pi, "log_pi").astype(np.float64)
    if lp.shape[-1] != k:
        raise ValueError(f"log_pi must have {k} actions, got shape {lp.shape}")
    if np.isnan(lp).any() or np.isposinf(lp).any():
        raise ValueError("log_pi must not contain NaN or +inf")
    _check_normalized(lp, "log_pi")
    lr = (np.full(k, -np.log(k)) if ref is None else
          log_policy(ref, "ref", k, full_support=True))
    bshape = batch_of(P, k, (lp.shape[:-1], lr.shape[:-1], np.shape(beta)))
    b = as_beta(beta, bshape, allow_zero=allow_zero)
    return P, lp, lr, b, bshape, k


def exploitability(P, log_pi, beta, *, ref=None, antisymmetrize=False, backend="auto"):
    """Exploitability (suboptimality) ``max_pi' P_beta(pi' > pi) - 1/2`` of ``pi``, exactly.

    Parameters
    ----------
    P : array_like, shape (K, K) or (..., K, K)
    log_pi : array_like, shape (..., K)
    beta : float or array_like, shape (...)
        ``beta = 0`` gives the unregularized exploitability ``max_y g(pi)_y - 1/2``.
    ref : array_like, shape (K,) or (..., K), optional
        Reference policy (probabilities), uniform by default.

    Returns
    -------
    ndarray, shape (...)
        ``beta * logsumexp(log_ref + g(pi)/beta) + beta * KL(pi || ref) - 1/2 >= 0``,
        to a rounding error of up to about ``beta * 2.2e-16 * (2 + max |log ref|)`` (the two
        terms are beta times log-space sums; values that far below 0 are rounding): 2e-15 at
        beta = 1 and K = 1000, 2e-9 at beta = 1e6. ``nashmp.solve`` warns when its ``tol`` is
        below this bound.

    Notes
    -----
    The best response is closed form, ``BR(pi) ∝ ref * exp(g(pi) / beta)``; the identity
    ``SubOpt(pi) = beta KL(pi || pi*) + beta KL(pi* || BR(pi))`` holds.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> rps = np.array([[.5, 1, 0], [0, .5, 1], [1, 0, .5]])
    >>> abs(float(nashmp.exploitability(rps, np.log(np.ones(3) / 3), 0.1))) < 1e-12
    True
    """
    P, lp, lr, b, bshape, k = _setup(P, log_pi, beta, ref, antisymmetrize)
    g = _g(P, np.exp(lp), backend)
    safe = np.where(b > 0, b, 1.0)
    reg = b * logsumexp(lr + g / safe[..., None], backend=backend) + \
        b * kl(lp, lr, backend=backend)
    out = np.where(b > 0, reg, g.max(axis=-1)) - 0.5
    return out[()] if out.ndim == 0 else out


def duality_gap(P, log_pi, beta, **kw):
    """Duality gap ``2 * exploitability`` (the game is symmetric)."""
    return 2.0 * exploitability(P, log_pi, beta, **kw)


def best_response(P, log_pi, beta, *, ref=None, antisymmetrize=False, backend="auto"):
    """Log of the regularized best response ``BR(pi) ∝ ref * exp(g(pi)/beta)``, shape (..., K)."""
    from ._kernels import log_softmax
    P, lp, lr, b, bshape, k = _setup(P, log_pi, beta, ref, antisymmetrize, allow_zero=False)
    g = _g(P, np.exp(lp), backend)
    return log_softmax(lr + g / b[..., None], backend=backend)


def span_distance(log_p, log_q, *, backend="auto"):
    """``||log p - log q||_span``: span of the difference over the support both share.

    Positions where both are ``-inf`` are ignored; ``-inf`` in only one gives ``+inf``.
    ``log_p`` and ``log_q`` have the same number of actions (last axis); leading dims
    broadcast.
    """
    lp = as_float_array(log_p, "log_p").astype(np.float64)
    lq = as_float_array(log_q, "log_q").astype(np.float64)
    check_same_k(lp.shape[-1], lq, "log_q")
    batch_shape_of((("log_p", lp), ("log_q", lq)))
    for name, a in (("log_p", lp), ("log_q", lq)):
        if np.isnan(a).any() or np.isposinf(a).any():
            raise ValueError(f"{name} must not contain NaN or +inf")
    both = np.isneginf(lp) & np.isneginf(lq)
    with np.errstate(invalid="ignore"):
        d = np.where(both, np.nan, lp - lq)
    if np.isinf(d).any():
        fin = np.isinf(d).any(axis=-1)
    else:
        fin = np.zeros(d.shape[:-1], bool)
    hi = np.nanmax(np.where(np.isinf(d), np.nan, d), axis=-1, initial=-np.inf)
    lo = np.nanmin(np.where(np.isinf(d), np.nan, d), axis=-1, initial=np.inf)
    out = np.where(fin, np.inf, np.where(hi >= lo, hi - lo, 0.0))
    return out[()] if out.ndim == 0 else out


def fixed_point_residual(P, log_pi, beta, *, ref=None, antisymmetrize=False, backend="auto"):
    """``max_y |log pi - log BR(pi)|`` (0 exactly at the equilibrium), shape (...)."""
    br = best_response(P, log_pi, beta, ref=ref, antisymmetrize=antisymmetrize, backend=backend)
    lp = np.asarray(log_pi, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        d = np.abs(np.where(np.isneginf(lp) & np.isneginf(br), 0.0, lp - br))
    out = d.max(axis=-1)
    return out[()] if out.ndim == 0 else out
