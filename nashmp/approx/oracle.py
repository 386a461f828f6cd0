"""Sampled preference oracle: the judge is queried pair by pair, and every comparison is counted.

A query compares two actions ``y`` and ``y'`` in a context ``x`` and returns a Bernoulli draw of
``P_x(y ≻ y')`` (``outcomes="bernoulli"``, what a human or an LLM judge that answers "which is
better" gives) or the probability itself (``outcomes="probability"``, a judge that reports its
confidence). The preference behind the oracle can be

* a dense array ``P`` of shape ``(K, K)`` (shared) or ``(B, K, K)`` (one game per context),
  checked like :func:`nashmp.solve` checks it (``P + P^T = 1``, entries in [0, 1]);
* any object with an ``entries(i, j)`` method returning ``P(i ≻ j)`` at broadcast integer index
  arrays (a :mod:`nashmp.operators` operator, or :class:`nashmp.approx.EmbeddingPreference`);
  if ``entries`` takes a third argument it receives the context index ``x``; otherwise a batched
  operator's ``entries(i, j)`` must return ``batch_shape + pairs`` (the
  :class:`nashmp.operators.PreferenceOperator` protocol) and each pair's own game is picked;
  an ``apply(pi)`` method (``g(pi) = P pi``, batched) makes the
  exact exploitability available;
* a callable judge ``judge(y, y2)`` or ``judge(y, y2, x)`` vectorized over integer arrays,
  returning probabilities of the same shape (only sampled queries are possible then).

Rows of 2-D index arrays are contexts: ``compare(y, y2)`` with ``y`` of shape ``(B, n)`` asks
``n`` questions in each of ``B`` contexts (``x = b`` for row ``b``).

Examples
--------
>>> import numpy as np
>>> from nashmp.approx import SampledOracle
>>> P = np.array([[0.5, 0.9], [0.1, 0.5]])
>>> orc = SampledOracle(P, np.random.default_rng(0))
>>> o = orc.compare(np.zeros(10000, int), np.ones(10000, int))
>>> orc.n_queries, bool(abs(o.mean() - 0.9) < 0.02)
(10000, True)
"""
from __future__ import annotations

import inspect
import numbers

import numpy as np

__all__ = ["SampledOracle"]

_OUTCOMES = ("bernoulli", "probability")


def _accepts_three(fn) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n >= 3


def _index_array(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer action indices, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


class SampledOracle:
    """Preference oracle answering sampled comparisons, with a query counter.

    Parameters
    ----------
    preference : array_like (K, K) or (B, K, K), object with ``entries``, or callable
        See the module docstring.
    rng : numpy.random.Generator, optional
        Source of the Bernoulli outcomes (a fresh unseeded generator if omitted).
    outcomes : {"bernoulli", "probability"}
    antisymmetrize : bool
        Dense ``P`` only: use ``(P + 1 - P^T) / 2`` instead of rejecting a non-antisymmetric P.

    Attributes
    ----------
    n_queries : int
        Comparisons answered so far (every pair counts once, in every context).
    K : int or None
        Number of actions, when the preference tells (``None`` for a plain judge).
    batch_shape : tuple
        ``(B,)`` for a batch of games, ``()`` when one game serves every context.
    kind : {"dense", "operator", "judge"}
    """

    def __init__(self, preference, rng=None, *, outcomes="bernoulli", antisymmetrize=False):
        if outcomes not in _OUTCOMES:
            raise ValueError(f"outcomes must be one of {_OUTCOMES}, got {outcomes!r}")
        if rng is None:
            rng = np.random.default_rng()
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.rng, self.outcomes, self.n_queries = rng, outcomes, 0
        self.preference = preference
        if isinstance(preference, (np.ndarray, list, tuple)):
            from .._games import check_preference
            P = check_preference(preference, antisymmetrize=antisymmetrize, name="preference")
            if P.ndim not in (2, 3):
                raise ValueError(f"preference must have shape (K, K) or (B, K, K), got {P.shape}")
            self.kind = "dense"
            self._P = np.ascontiguousarray(P.reshape((-1,) + P.shape[-2:]), dtype=np.float64)
            self.K = P.shape[-1]
            self.batch_shape = P.shape[:-2]
        elif callable(getattr(preference, "entries", None)):
            self.kind = "operator"
            self._fn = preference.entries
            self._with_x = _accepts_three(self._fn)
            K = getattr(preference, "K", None)
            self.K = None if K is None else int(K)
            self.batch_shape = tuple(getattr(preference, "batch_shape", ()))
        elif callable(preference):
            self.kind = "judge"
            self._fn = preference
            self._with_x = _accepts_three(preference)
            self.K = None
            self.batch_shape = ()
        else:
            raise TypeError("preference must be an array (K, K) or (B, K, K), an object with an "
                            "entries(i, j) method, or a callable judge(y, y2[, x]); got "
                            f"{type(preference).__name__}")

    # ---- exact evaluation (metrics only; never counted as queries) ---------------------------

    @property
    def can_evaluate_g(self) -> bool:
        """True when ``g(pi) = P pi`` can be computed exactly (dense ``P`` or an ``apply``)."""
        return self.kind == "dense" or callable(getattr(self.preference, "apply", None))

    def g(self, pi):
        """Exact ``g(pi) = P pi`` for policies ``pi`` (B, K) (metrics and exact prox steps)."""
        if self.kind == "dense":
            from .._kernels import preference_apply
            P = self._P[0] if self._P.shape[0] == 1 else self._P
            return preference_apply(P, pi)
        if not self.can_evaluate_g:
            raise ValueError("this preference cannot evaluate g(pi) exactly (a judge or an "
                             "operator without apply())")
        return np.asarray(self.preference.apply(pi), dtype=np.float64)

    # ---- queries -----------------------------------------------------------------------------

    def _contexts(self, shape, x):
        if x is not None:
            x = _index_array(x, "x")
            try:
                return np.broadcast_to(x, shape)
            except ValueError:
                raise ValueError(f"x of shape {x.shape} does not broadcast to the pairs' shape "
                                 f"{shape}") from None
        if len(shape) >= 2:
            return np.broadcast_to(np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1)),
                                   shape)
        return np.zeros(shape, np.int64)

    def probabilities(self, y, y2, x=None, *, count=True):
        """``P_x(y ≻ y2)`` at broadcast index arrays (counted as queries unless ``count=False``,
        which tests and metrics may use)."""
        y, y2 = _index_array(y, "y"), _index_array(y2, "y2")
        try:
            shape = np.broadcast_shapes(y.shape, y2.shape)
        except ValueError:
            raise ValueError(f"y {y.shape} and y2 {y2.shape} do not broadcast") from None
        y, y2 = np.broadcast_to(y, shape), np.broadcast_to(y2, shape)
        xx = self._contexts(shape, x)
        if self.K is not None and y.size:
            for nm, a in (("y", y), ("y2", y2)):
                if a.min() < 0 or a.max() >= self.K:
                    raise ValueError(f"{nm} must hold action indices in [0, {self.K}), got range "
                                     f"[{a.min()}, {a.max()}]")
        nb = self.batch_shape[0] if self.batch_shape else 1
        if self.batch_shape and xx.size and (xx.min() < 0 or xx.max() >= nb):
            raise ValueError(f"context indices must be in [0, {nb}) for this batch of {nb} "
                             f"games, got range [{xx.min()}, {xx.max()}]")
        if self.kind == "dense":
            P = self._P
            p = P[0][y, y2] if P.shape[0] == 1 else P[xx, y, y2]
        elif self.kind == "operator" and self.batch_shape and not self._with_x:
            # operator protocol: entries(i, j) of a batch of games has shape batch + pairs;
            # pick each pair's own game
            full = np.asarray(self._fn(y, y2), dtype=np.float64).reshape(nb, -1)
            p = full[xx.ravel(), np.arange(full.shape[1])].reshape(shape)
        else:
            p = self._fn(y, y2, xx) if self._with_x else self._fn(y, y2)
            p = np.asarray(p, dtype=np.float64)
            if p.shape != shape:
                try:
                    p = np.broadcast_to(p, shape)
                except ValueError:
                    raise ValueError(f"the judge returned shape {p.shape} for pairs of shape "
                                     f"{shape}") from None
            if not np.isfinite(p).all() or p.min(initial=0.0) < 0 or p.max(initial=0.0) > 1:
                raise ValueError("the judge must return finite probabilities in [0, 1]")
        if count:
            self.n_queries += int(np.prod(shape, dtype=np.int64))
        return np.array(p, dtype=np.float64)

    def compare(self, y, y2, x=None):
        """Answer the comparisons ``y`` vs ``y2`` (broadcast integer arrays; rows of 2-D arrays are
        contexts unless ``x`` gives them): 1.0 when ``y`` wins, 0.0 otherwise (Bernoulli of
        ``P_x(y ≻ y2)``), or the probability itself with ``outcomes="probability"``.
        Every pair is one query."""
        p = self.probabilities(y, y2, x)
        if self.outcomes == "probability":
            return p
        return (self.rng.random(p.shape) < p).astype(np.float64)

    def estimate_g(self, y, sigma, m, *, x=None):
        """Unbiased estimate ``ĝ(sigma)(y) = mean_{l<m} o(y, y''_l)``, ``y''_l ~ sigma``.

        Parameters
        ----------
        y : int array, shape (n,) or (B, n)
        sigma : policy (:class:`TabularPolicy` / :class:`LogLinearPolicy`) sampled for opponents
        m : int
            Opponents per action (``m`` queries per entry of ``y``).

        Returns
        -------
        ndarray, shape of ``y``
        """
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
            raise ValueError(f"m must be an integer >= 1, got {m!r}")
        y = _index_array(y, "y")
        opp = np.asarray(sigma.sample(y.shape[-1] * int(m), self.rng))
        opp = opp.reshape(y.shape + (int(m),))
        xx = None if x is None else np.asarray(x)[..., None]
        if xx is None and y.ndim == 2:
            xx = np.arange(y.shape[0])[:, None, None]
        return self.compare(y[..., None], opp, xx).mean(axis=-1)

    def __repr__(self):
        return (f"SampledOracle(kind={self.kind!r}, K={self.K}, batch_shape={self.batch_shape}, "
                f"outcomes={self.outcomes!r}, n_queries={self.n_queries})")
