"""Validation of games (preference matrices, references, beta) shared by solvers and metrics."""
from __future__ import annotations

import numpy as np

from . import _backend
from ._validation import as_float_array


def check_preference(P, *, antisymmetrize=False, atol=1e-6, name="P", exact=False):
    """``P`` as a float array (..., K, K) in [0, 1] with ``P + P^T = 1`` within ``atol``.

    ``antisymmetrize=True`` replaces P by ``(P + 1 - P^T) / 2`` instead of checking.
    Never modifies the input. ``exact=True`` also returns whether ``P + P^T = 1`` holds to
    rounding (within 4 ulps of 1 in P's precision), as for a P built from one triangle.
    """
    P = as_float_array(P, name, min_ndim=2)
    k = P.shape[-1]
    if P.shape[-2] != k:
        raise ValueError(f"{name} must be square on its last two axes (..., K, K), got {P.shape}")
    Q, (dev, lo, hi), qdev = _antisymmetrized(P) if antisymmetrize else (None, _deviation(P), None)
    if not np.isfinite([dev, lo, hi]).all():
        raise ValueError(f"{name} must not contain NaN or inf")
    if antisymmetrize:
        P = Q
    elif dev > atol:
        raise ValueError(f"{name} must satisfy P + P^T = 1 (antisymmetric preferences) within "
                         f"atol={atol}, max deviation is {dev:.3g}; pass antisymmetrize=True "
                         "to use (P + 1 - P^T) / 2")
    if lo < -atol or hi > 1 + atol:
        raise ValueError(f"{name} must have entries in [0, 1], got range [{lo:.3g}, {hi:.3g}]")
    if not exact:
        return P
    if antisymmetrize:
        dev = _deviation(P)[0] if qdev is None else qdev
    return P, dev <= 4 * np.finfo(P.dtype).eps


_TILE = 256


def _c_fast(P):
    """(ffi, lib, batch) when libnashmp can read P directly (C-contiguous float32/float64, the C
    extension built), else None"""
    if P.flags.c_contiguous and P.dtype.char in "fd" and P.size and _backend.is_available("c"):
        ffi, lib = _backend.c_lib()
        return ffi, lib, P.size // (P.shape[-1] ** 2)
    return None


def _antisymmetrized(P):
    """``((P + (1 - P^T)) / 2, (dev, min, max) of P, dev of the result or None)``: one pass of
    libnashmp (``nashmp_preference_antisymmetrize_*``) when it can read P, else NumPy (the
    result's dev is then left to the caller). The same matrix either way."""
    c = _c_fast(P)
    if c is not None:
        ffi, lib, batch = c
        k = P.shape[-1]
        out = np.empty(P.shape, P.dtype)
        chk = np.empty(4)
        t = "double[]" if P.dtype.char == "d" else "float[]"
        fn = lib.nashmp_preference_antisymmetrize_f64 if P.dtype.char == "d" else \
            lib.nashmp_preference_antisymmetrize_f32
        if fn(ffi.from_buffer(t, P), k * k if batch > 1 else 0, batch, k,
              ffi.from_buffer(t, out), ffi.from_buffer("double[]", chk)) == 0:
            return out, (float(chk[0]), float(chk[1]), float(chk[2])), float(chk[3])
    dev = _deviation(P)
    return ((P + (1 - np.swapaxes(P, -1, -2))) / 2).astype(P.dtype, copy=False), dev, None


def _deviation(P):
    """``(max |P + P^T - 1|, min P, max P)`` in one pass over P (no K x K temporaries): by
    libnashmp (``nashmp_preference_check_*``) for a C-contiguous float32/float64 P when the C
    extension is built (1 thread, K = 4000: 11 against 34 ms; K = 1000: 0.4 against 1.7 ms),
    else in cache-sized NumPy tile pairs. The same three numbers either way; NaN or inf
    anywhere makes a result NaN or inf."""
    k = P.shape[-1]
    c = _c_fast(P)
    if c is not None:
        ffi, lib, batch = c
        out = np.empty(3)
        fn = lib.nashmp_preference_check_f64 if P.dtype.char == "d" else \
            lib.nashmp_preference_check_f32
        st = fn(ffi.from_buffer("double[]" if P.dtype.char == "d" else "float[]", P),
                k * k if batch > 1 else 0, batch, k, ffi.from_buffer("double[]", out))
        if st == 0:
            return float(out[0]), float(out[1]), float(out[2])
    devs, los, his = [], [], []
    for i0 in range(0, k, _TILE):
        for j0 in range(i0, k, _TILE):
            a = P[..., i0:i0 + _TILE, j0:j0 + _TILE]
            b = P[..., j0:j0 + _TILE, i0:i0 + _TILE]
            t = a + np.swapaxes(b, -1, -2)
            t -= 1
            devs.append(np.abs(t).max())
            for blk in (a, b) if j0 != i0 else (a,):
                los.append(blk.min())
                his.append(blk.max())
    # np.max / np.min propagate NaN (Python's max / min would drop it)
    return float(np.max(devs)), float(np.min(los)), float(np.max(his))


def log_policy(p, name, k, *, full_support):
    """Probabilities (..., K) -> normalized float64 log-probabilities."""
    p = as_float_array(p, name)
    if p.shape[-1] != k:
        raise ValueError(f"{name} must have {k} actions on its last axis, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must hold finite non-negative probabilities")
    tot = p.sum(axis=-1, keepdims=True, dtype=np.float64)
    if (tot <= 0).any():
        raise ValueError(f"{name} must have positive total mass in every row")
    if full_support and (p <= 0).any():
        raise ValueError(f"{name} must have full support (every probability > 0)")
    with np.errstate(divide="ignore"):
        return np.log(p.astype(np.float64)) - np.log(tot)


def batch_of(P, k, batch_shapes):
    """Common batch shape of P's leading dims and the other arguments' batch shapes."""
    try:
        return np.broadcast_shapes(P.shape[:-2], *batch_shapes)
    except ValueError:
        raise ValueError(f"batch dimensions do not broadcast: P {P.shape[:-2]}, "
                         f"others {batch_shapes}") from None


def as_beta(beta, bshape, *, allow_zero):
    b = np.asarray(beta)
    if b.dtype.kind not in "iuf":
        raise TypeError(f"beta must be a real scalar or array, got dtype {b.dtype}")
    b = b.astype(np.float64)
    if not np.isfinite(b).all():
        raise ValueError("beta must be finite")
    if allow_zero:
        if (b < 0).any():
            raise ValueError("beta must be >= 0")
    elif (b <= 0).any():
        raise ValueError("beta must be > 0 (beta = 0 is allowed only for method='sppo' and in "
                         "exploitability)")
    try:
        return np.broadcast_to(b, bshape)
    except ValueError:
        raise ValueError(f"beta of shape {b.shape} does not broadcast to the batch {bshape}") \
            from None


def exploitability_resolution(beta, log_ref):
    """Bound on the float64 rounding error of the regularized exploitability:
    ``max(beta) * eps * (2 + max |log ref|)``. Its terms are beta times log-space quantities of
    order ``|log ref|`` (``logsumexp(log_ref + g/beta)``, ``KL(pi || ref)``) whose difference is
    the exploitability, so at large beta the rounding of those terms, not the game, sets it."""
    b = np.asarray(beta, dtype=np.float64)
    lr = np.asarray(log_ref, dtype=np.float64)
    fin = np.abs(lr[np.isfinite(lr)])
    return (float(b.max()) if b.size else 0.0) * float(np.finfo(np.float64).eps) * \
        (2.0 + (float(fin.max()) if fin.size else 0.0))


def warn_resolution(beta, log_ref, tol, method, stacklevel):
    """Warn when ``tol`` is below ``exploitability_resolution``: the stopping test would compare
    rounding noise (at beta = 1e12 a solve never stops; at 1e300 it stops at once on a negative
    exploitability)."""
    if tol < 0 or not np.size(beta) or float(np.max(beta)) * 1.7e-13 <= tol:
        return              # 1.7e-13 > eps * (2 + 745): no finite log ref reaches tol then
    r = exploitability_resolution(beta, log_ref)
    if r > tol:
        import warnings
        warnings.warn(f"nashmp.solve({method!r}): tol = {tol:g} is below the float64 resolution "
                      f"of the exploitability at beta = {float(np.max(beta)):g} (rounding error "
                      f"up to about {r:.1g}, that is beta * 2.2e-16 * (2 + max |log ref|)): the "
                      "stopping test compares rounding noise", RuntimeWarning,
                      stacklevel=stacklevel + 1)
