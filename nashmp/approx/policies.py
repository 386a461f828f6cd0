"""Parameterized policies for approximate Nash-MP: tabular logits and log-linear contextual policies.

Both are *linear in their parameters*: the unnormalized log-probability is
``s_theta(x, y) = theta . phi(x, y)`` (tabular: ``phi(y) = e_y``, ``theta`` = the logits), and
``log pi_theta(y|x) = s_theta(x, y) - log Z_theta(x)``.

Log-probabilities of sampled actions without enumerating ``K``
---------------------------------------------------------------
The normalizer ``log Z_theta(x)`` needs all ``K`` actions (``O(K d)``), but it cancels in
differences: ``log pi_theta(y) - log pi_theta(y') = theta . (phi(y) - phi(y'))``, ``O(d)``
(:meth:`log_prob_diff`). The square loss of approximate Nash-MP only uses such differences, so
its inner stochastic-gradient steps cost ``O(n d)`` for ``n`` sampled pairs, whatever ``K``.
:meth:`log_prob`, :meth:`grad_log_prob` (``phi(y) - E_pi[phi]``), :meth:`sample` and
:meth:`log_probs_all` enumerate the ``K`` actions once per call (``O(K d)``, then ``O(log K)``
per sample for the inverse-CDF sampler).

Batches
-------
A policy has a batch of ``B`` contexts (``batch_shape == (B,)``) or none (``batch_shape == ()``,
a single game). Sampled actions, log-probabilities and so on have shape ``batch_shape + (n,)``.

Examples
--------
>>> import numpy as np
>>> from nashmp.approx import LogLinearPolicy
>>> phi = np.random.default_rng(0).standard_normal((1000, 4))      # K = 1000 actions, d = 4
>>> pol = LogLinearPolicy(phi, np.array([1.0, -0.5, 0.0, 2.0]))
>>> y = pol.sample(5, np.random.default_rng(1))
>>> y.shape
(5,)
>>> lp = pol.log_probs_all()
>>> bool(np.allclose(pol.log_prob_diff(y[:4], y[1:]), lp[y[:4]] - lp[y[1:]]))
True
"""
from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_float_array

__all__ = ["TabularPolicy", "LogLinearPolicy"]


def _kern():
    from . import _kernels  # noqa: PLC0415  (imports numba: lazy)
    return _kernels


def _finite_float64(x, name, ndims):
    a = as_float_array(x, name).astype(np.float64)     # always a private copy
    if a.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(str(n) for n in ndims)} dimensions, "
                         f"got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return a


def _as_actions(y, name, K, batch_shape):
    """Integer action indices ``y`` -> int64 array of shape ``batch_shape + (n,)``."""
    a = np.asarray(y)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer action indices, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= K):
        raise ValueError(f"{name} must hold action indices in [0, {K}), got range "
                         f"[{a.min()}, {a.max()}]")
    a = a.astype(np.int64)
    if batch_shape == ():
        if a.ndim != 1:
            raise ValueError(f"{name} must have shape (n,) for an unbatched policy, got {a.shape}")
        return a
    if a.ndim == 1:
        a = np.broadcast_to(a, batch_shape + a.shape)
    if a.ndim != 2 or a.shape[0] != batch_shape[0]:
        raise ValueError(f"{name} must have shape (n,) or {batch_shape + ('n',)}, got {a.shape}")
    return a


def _rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


class _LinearPolicy:
    """Common part: parameters ``(BT, P)``, rows of the batch, sampling from scores."""

    batch_shape: tuple
    K: int

    @property
    def B(self) -> int:
        """Number of contexts (1 for an unbatched policy)."""
        return self.batch_shape[0] if self.batch_shape else 1

    def _rows(self, a):
        """``batch_shape + rest`` -> ``(B,) + rest``."""
        return a.reshape((self.B,) + a.shape[len(self.batch_shape):])

    def _out(self, a):
        return a.reshape(self.batch_shape + a.shape[1:])

    def log_probs_all(self):
        """Normalized log-probabilities of every action, shape ``batch_shape + (K,)``
        (enumerates ``K``)."""
        s = self._scores_all()
        m = s.max(axis=-1, keepdims=True)
        return self._out(s - (m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True))))

    def log_prob(self, y):
        """``log pi(y|x)`` of actions ``y`` (shape ``(n,)`` or ``batch_shape + (n,)``), normalized
        (the normalizer enumerates ``K`` once)."""
        yy = self._rows(_as_actions(y, "y", self.K, self.batch_shape))
        s = self._scores_all()
        m = s.max(axis=-1, keepdims=True)
        lse = m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True))
        return self._out(np.take_along_axis(s, yy, axis=-1) - lse)

    def log_prob_diff(self, y, y2):
        """``log pi(y|x) - log pi(y2|x)`` without enumerating ``K`` (the normalizer cancels)."""
        yy = self._rows(_as_actions(y, "y", self.K, self.batch_shape))
        yy2 = self._rows(_as_actions(y2, "y2", self.K, self.batch_shape))
        if yy.shape != yy2.shape:
            raise ValueError(f"y and y2 must have the same shape, got {yy.shape} and {yy2.shape}")
        return self._out(self._scores(yy) - self._scores(yy2))

    def sample(self, n, rng, *, method="inverse_cdf"):
        """Draw ``n`` actions per context, shape ``batch_shape + (n,)`` (int64).

        ``method="inverse_cdf"`` (default): cumulative probabilities computed in log space (max
        subtracted first), ``O(K)`` per context then a binary search per sample;
        ``"gumbel"``: Gumbel-max ``argmax_y s(y) + G_y``, ``O(n K)``, noise from a counter-based
        stream seeded by ``rng``. Both are exact samplers of ``pi``.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        rng = _rng(rng)
        s = np.ascontiguousarray(self._scores_all())
        out = np.empty((self.B, int(n)), np.int64)
        if method == "inverse_cdf":
            probs, cum, lse = np.empty_like(s), np.empty_like(s), np.empty(self.B)
            _kern().cdf_rows(s, probs, cum, lse)
            _kern().search_rows(cum, rng.random((self.B, int(n))), out)
        elif method == "gumbel":
            _kern().gumbel_rows(s, np.uint64(rng.integers(0, 2 ** 63)), out)
        else:
            raise ValueError(f"method must be 'inverse_cdf' or 'gumbel', got {method!r}")
        return self._out(out)

    def grad_log_prob(self, y):
        """``d log pi(y|x) / d theta = phi(x, y) - E_pi[phi(x, .)]``, shape
        ``batch_shape + (n, n_params)`` (enumerates ``K`` for the expectation)."""
        yy = self._rows(_as_actions(y, "y", self.K, self.batch_shape))
        return self._out(self._grad_log_prob(yy))

    def copy(self):
        return self.with_params(self.params)


class TabularPolicy(_LinearPolicy):
    """Tabular softmax policy ``pi(y|x) ∝ exp(logits[x, y])``.

    Parameters
    ----------
    logits : array_like, shape (K,) or (B, K)
        Finite logits (full support); copied, never modified.

    Attributes
    ----------
    params : ndarray, shape (B, K)
        The logits (one row per context; ``B = 1`` when unbatched).
    """

    kind = "tabular"

    def __init__(self, logits):
        a = _finite_float64(logits, "logits", (1, 2))
        self.batch_shape = a.shape[:-1]
        self.K = a.shape[-1]
        self.params = np.ascontiguousarray(a.reshape(-1, self.K))
        self.shared = False

    @classmethod
    def from_probs(cls, p):
        """From probabilities (..., K) with full support."""
        a = as_float_array(p, "p").astype(np.float64)
        if not np.isfinite(a).all() or (a <= 0).any():
            raise ValueError("p must hold finite positive probabilities (full support)")
        return cls(np.log(a))

    def with_params(self, params):
        p = TabularPolicy.__new__(TabularPolicy)
        p.batch_shape, p.K, p.shared = self.batch_shape, self.K, False
        p.params = np.array(params, dtype=np.float64, order="C").reshape(self.B, self.K)
        return p

    def broadcast(self, B):
        """A copy with ``B`` contexts (each a copy of this policy's single row)."""
        if self.batch_shape == (B,):
            return self.copy()
        if self.B != 1:
            raise ValueError(f"policy has {self.B} contexts, cannot broadcast to {B}")
        return TabularPolicy(np.repeat(self.params, B, axis=0))

    def _scores_all(self):
        return self.params

    def _scores(self, yy):
        return np.take_along_axis(self.params, yy, axis=-1)

    def _grad_log_prob(self, yy):
        lp = np.asarray(self.log_probs_all()).reshape(self.B, self.K)
        g = -np.repeat(np.exp(lp)[:, None, :], yy.shape[1], axis=1)
        np.put_along_axis(g, yy[..., None], np.take_along_axis(g, yy[..., None], -1) + 1.0, -1)
        return g

    def __repr__(self):
        return f"TabularPolicy(K={self.K}, batch_shape={self.batch_shape})"


class LogLinearPolicy(_LinearPolicy):
    """Log-linear contextual policy ``pi_theta(y|x) ∝ exp(theta . phi(x, y))``.

    Parameters
    ----------
    features : array_like, shape (K, d) or (B, K, d)
        ``phi(x, y)``: shared by every context, or one table per context. Finite. Kept by
        reference when already a C-contiguous float64 array (it may be large; never modified).
    theta : array_like, shape (d,) or (B, d), optional
        Parameters (zeros, i.e. the uniform policy, by default). With per-context features
        ``(B, K, d)`` a ``(d,)`` theta is **one parameter vector shared by all contexts**
        (``shared = True``: contexts differ through their features); with shared features
        ``(K, d)`` a ``(B, d)`` theta gives ``B`` independent contexts.

    Attributes
    ----------
    params : ndarray, shape (BT, d)
        ``BT = 1`` when shared / unbatched, else ``B``.
    features : ndarray, shape (BF, K, d)
    """

    kind = "loglinear"

    def __init__(self, features, theta=None):
        F = as_float_array(features, "features")
        if F.ndim not in (2, 3):
            raise ValueError(f"features must have shape (K, d) or (B, K, d), got {F.shape}")
        if F.dtype != np.float64 or not F.flags.c_contiguous:
            F = np.ascontiguousarray(F, dtype=np.float64)
        if not np.isfinite(F).all():
            raise ValueError("features must be finite (no NaN or inf)")
        d = F.shape[-1]
        th = np.zeros(d) if theta is None else _finite_float64(theta, "theta", (1, 2))
        if th.shape[-1] != d:
            raise ValueError(f"theta must have {d} entries on its last axis (the feature "
                             f"dimension), got shape {th.shape}")
        if F.ndim == 3 and th.ndim == 2 and th.shape[0] != F.shape[0]:
            raise ValueError(f"theta {th.shape} and features {F.shape} disagree on the number "
                             "of contexts")
        self.K = F.shape[-2]
        self.d = d
        self.features = F if F.ndim == 3 else F.reshape((1,) + F.shape)
        if F.ndim == 3:
            self.batch_shape = (F.shape[0],)
        else:
            self.batch_shape = th.shape[:-1]
        self.shared = F.ndim == 3 and th.ndim == 1
        self.params = np.ascontiguousarray(th.reshape(-1, d))

    def with_params(self, params):
        p = LogLinearPolicy.__new__(LogLinearPolicy)
        p.K, p.d, p.features, p.batch_shape, p.shared = (self.K, self.d, self.features,
                                                         self.batch_shape, self.shared)
        p.params = np.array(params, dtype=np.float64, order="C").reshape(self.params.shape)
        return p

    def broadcast(self, B):
        """A copy with ``B`` contexts (per-context copies of the single parameter row)."""
        if self.batch_shape == (B,):
            return self.copy()
        if self.B != 1 or self.features.shape[0] != 1:
            raise ValueError(f"policy has {self.B} contexts, cannot broadcast to {B}")
        return LogLinearPolicy(self.features[0], np.repeat(self.params, B, axis=0))

    def same_features(self, other):
        return isinstance(other, LogLinearPolicy) and (
            other.features is self.features or (other.features.shape == self.features.shape
                                                 and np.array_equal(other.features,
                                                                    self.features)))

    def _scores_all(self):
        F, th = self.features, self.params
        if F.shape[0] == 1:
            return th @ F[0].T                                     # (BT, K)
        if th.shape[0] == 1:
            return F @ th[0]                                       # (B, K)
        return np.einsum("bkd,bd->bk", F, th)

    def _phi(self, yy):
        F = self.features
        if F.shape[0] == 1:
            return F[0][yy]                                        # (B, n, d)
        return F[np.arange(F.shape[0])[:, None], yy]

    def _scores(self, yy):
        th = self.params
        phi = self._phi(yy)
        return np.einsum("bnd,bd->bn", phi, np.broadcast_to(th, (yy.shape[0], self.d)))

    def _grad_log_prob(self, yy):
        lp = np.asarray(self.log_probs_all()).reshape(self.B, self.K)
        F = np.broadcast_to(self.features, (self.B, self.K, self.d))
        mean = np.einsum("bk,bkd->bd", np.exp(lp), F)
        return self._phi(yy) - mean[:, None, :]

    def __repr__(self):
        return (f"LogLinearPolicy(K={self.K}, d={self.d}, batch_shape={self.batch_shape}, "
                f"shared={self.shared})")
