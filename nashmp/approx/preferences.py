"""Embedding preference ``P_x(y ≻ y') = sigmoid(e_y^T R_x e_y')`` for sampled queries at large K.

With ``link="linear"``, ``P_x(y ≻ y') = 1/2 + e_y^T R_x e_y'`` (the low-rank skew preference;
checked to stay in [0, 1]): then ``g(pi) = 1/2 + E R_x E^T pi`` is linear in the embedding, the
regularized equilibrium is exactly log-linear in ``e_y``, and ``apply`` costs ``O(K d)``.

``R_x`` is skew-symmetric (``R^T = -R``), so ``P + P^T = 1`` holds exactly and the preference is
intransitive in general. Pairs are evaluated by a Numba kernel in ``O(d)`` each (``E R_x`` is
precomputed, ``O(B K d^2)`` once), so an oracle over ``K = 10^5`` actions never forms a
``K x K`` matrix. ``apply(pi)`` gives the exact ``g(pi) = P pi`` for metrics: in row tiles
(``O(K^2 d)`` time, ``O(tile K)`` memory), or in ``O(K + M^2 d)`` when the embeddings are ``M``
prototypes (``labels``), which is what makes exact exploitability affordable at ``K = 10^5``.

Examples
--------
>>> import numpy as np
>>> from nashmp.approx import EmbeddingPreference
>>> rng = np.random.default_rng(0)
>>> E = rng.standard_normal((50, 4)); A = rng.standard_normal((4, 4))
>>> pref = EmbeddingPreference(E, A - A.T)
>>> P = pref.dense()
>>> bool(np.allclose(P + P.T, 1))
True
>>> bool(np.allclose(pref.entries([1, 2], [3, 4]), P[[1, 2], [3, 4]]))
True
"""
from __future__ import annotations

import numpy as np

from .._validation import as_float_array

__all__ = ["EmbeddingPreference"]


def _sigmoid(s):
    """``1 / (1 + exp(-s))`` in place on a new array (exp overflow gives the exact limit 0)."""
    out = np.negative(s)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


class EmbeddingPreference:
    """``P_x(i ≻ j) = sigmoid(e_i^T R_x e_j)`` with skew-symmetric ``R_x``.

    Parameters
    ----------
    embeddings : array_like, shape (K, d) or, with ``labels``, (M, d)
        Action embeddings ``e_y`` (with ``labels``: the ``M`` prototypes, ``e_y = C[labels[y]]``).
    R : array_like, shape (d, d) or (B, d, d)
        Skew-symmetric (checked, ``atol=1e-12`` relative to its scale); one per context or shared.
    labels : int array, shape (K,), optional
        Prototype of every action.
    link : {"logistic", "linear"}
        ``sigmoid(s)`` or ``1/2 + s`` (linear: ``max_y |e_y|^2 * |R_x|_2 <= 1/2`` is required, so
        that every probability is in [0, 1]).

    Attributes
    ----------
    K, d : int
    batch_shape : tuple
        ``(B,)`` when ``R`` has a context axis, else ``()``.
    """

    CACHE_BYTES = 256 << 20       # prototype matrices kept for apply() up to this size in total

    def __init__(self, embeddings, R, *, labels=None, link="logistic"):
        if link not in ("logistic", "linear"):
            raise ValueError(f"link must be 'logistic' or 'linear', got {link!r}")
        self.link = link
        C = as_float_array(embeddings, "embeddings", min_ndim=2).astype(np.float64)
        if C.ndim != 2:
            raise ValueError(f"embeddings must have shape (K, d), got {C.shape}")
        R = as_float_array(R, "R", min_ndim=2).astype(np.float64)
        if R.ndim not in (2, 3) or R.shape[-2:] != (C.shape[1], C.shape[1]):
            raise ValueError(f"R must have shape ({C.shape[1]}, {C.shape[1]}) or (B, "
                             f"{C.shape[1]}, {C.shape[1]}), got {R.shape}")
        if not (np.isfinite(C).all() and np.isfinite(R).all()):
            raise ValueError("embeddings and R must be finite")
        scale = max(1.0, float(np.abs(R).max()))
        if np.abs(R + np.swapaxes(R, -1, -2)).max() > 1e-12 * scale:
            raise ValueError("R must be skew-symmetric (R^T = -R)")
        self.batch_shape = R.shape[:-2]
        self._R = np.ascontiguousarray(R.reshape((-1,) + R.shape[-2:]))
        self.d = C.shape[1]
        if labels is not None:
            lab = np.asarray(labels)
            if lab.dtype.kind not in "iu" or lab.ndim != 1:
                raise TypeError("labels must be a 1-D integer array")
            if lab.size == 0 or lab.min() < 0 or lab.max() >= C.shape[0]:
                raise ValueError(f"labels must index the {C.shape[0]} prototypes")
            self.labels = lab.astype(np.int64)
            self.prototypes = C
            self.E = np.ascontiguousarray(C[self.labels])
        else:
            self.labels = None
            self.prototypes = None
            self.E = np.ascontiguousarray(C)
        self.K = self.E.shape[0]
        self._cache = {}
        if link == "linear":
            bound = float((self.E ** 2).sum(axis=1).max() * np.linalg.norm(self._R, 2,
                                                                        axis=(1, 2)).max())
            if bound > 0.5 + 1e-12:
                raise ValueError("link='linear' needs max_y |e_y|^2 * |R|_2 <= 1/2 so that "
                                 f"1/2 + e_y^T R e_y' is a probability; got {bound:.3g}")
        self._ER = np.ascontiguousarray(np.einsum("kp,bpq->bkq", self.E, self._R))

    def entries(self, i, j, x=None):
        """``P_x(i ≻ j)`` at broadcast integer arrays (``x``: context indices, 0 by default)."""
        i, j = np.asarray(i), np.asarray(j)
        x = np.zeros((), np.int64) if x is None else np.asarray(x)
        for nm, a in (("i", i), ("j", j), ("x", x)):
            if a.dtype.kind not in "iu":
                raise TypeError(f"{nm} must hold integer indices, got dtype {a.dtype}")
        shape = np.broadcast_shapes(i.shape, j.shape, x.shape)
        ii, jj, xx = (np.ascontiguousarray(np.broadcast_to(a, shape).astype(np.int64)).ravel()
                      for a in (i, j, x))
        if ii.size and (min(ii.min(), jj.min()) < 0 or max(ii.max(), jj.max()) >= self.K):
            raise ValueError(f"action indices must be in [0, {self.K})")
        nb = self._R.shape[0]
        if nb == 1:
            xx = np.zeros_like(xx)
        elif xx.size and (xx.min() < 0 or xx.max() >= nb):
            raise ValueError(f"context indices must be in [0, {nb})")
        out = np.empty(ii.size)
        from ._kernels import embedding_pairs
        embedding_pairs(self._ER, self.E, xx, ii, jj, out, self.link == "linear")
        return out.reshape(shape)

    def apply(self, pi, *, tile_elems=1 << 22):
        """Exact ``g(pi) = P pi`` for ``pi`` of shape (K,) or (B, K) (float64).

        Linear link: ``1/2 sum(pi) + E R (E^T pi)``, ``O(K d)``. Logistic link with prototypes:
        ``g_y = sum_m sigmoid(c_{l(y)}^T R c_m) w_m`` with ``w_m`` the mass of prototype ``m``,
        ``O(K + M^2 d)``; otherwise row tiles of ``tile_elems`` pair evaluations (never
        ``K x K``), ``O(K^2 d)``.
        """
        pi = as_float_array(pi, "pi").astype(np.float64)
        if pi.shape[-1] != self.K or pi.ndim > 2:
            raise ValueError(f"pi must have shape ({self.K},) or (B, {self.K}), got {pi.shape}")
        rows = pi.reshape(-1, self.K)
        nb = self._R.shape[0]
        if nb > 1 and rows.shape[0] not in (1, nb):
            raise ValueError(f"pi has {rows.shape[0]} rows, the preference has {nb} contexts")
        n = max(rows.shape[0], nb)
        out = np.empty((n, self.K))
        for b in range(n):
            p = rows[b if rows.shape[0] > 1 else 0]
            if self.link == "linear":
                out[b] = 0.5 * p.sum() + self._ER[b if nb > 1 else 0] @ (self.E.T @ p)
            elif self.labels is not None:
                w = np.bincount(self.labels, weights=p, minlength=self.prototypes.shape[0])
                out[b] = (self._proto_matrix(b if nb > 1 else 0) @ w)[self.labels]
            else:
                ER = self._ER[b if nb > 1 else 0]
                t = max(1, tile_elems // self.K)
                for i0 in range(0, self.K, t):
                    out[b, i0:i0 + t] = _sigmoid(ER[i0:i0 + t] @ self.E.T) @ p
        return out if n > 1 else out.reshape(pi.shape)

    def _proto_matrix(self, r):
        """``sigmoid(C R_r C^T)`` (M, M); kept when all contexts' matrices fit in
        ``CACHE_BYTES``."""
        S = self._cache.get(r)
        if S is None:
            C = self.prototypes
            S = _sigmoid(C @ self._R[r] @ C.T)
            if self._R.shape[0] * S.nbytes <= self.CACHE_BYTES:
                self._cache[r] = S
        return S

    def dense(self):
        """The full matrix, shape (K, K) or (B, K, K) (small K only: tests and examples)."""
        S = np.einsum("bkq,jq->bkj", self._ER, self.E)
        P = 0.5 + S if self.link == "linear" else _sigmoid(S.reshape(-1)).reshape(S.shape)
        return P[0] if self.batch_shape == () else P

    def __repr__(self):
        proto = "" if self.labels is None else f", prototypes={self.prototypes.shape[0]}"
        return (f"EmbeddingPreference(K={self.K}, d={self.d}, batch_shape={self.batch_shape}, "
                f"link={self.link!r}{proto})")
