"""Shared fixtures and the per-dtype tolerance table for the kernel tests.

Backends are parametrized over ``("c", "numba", "numpy")``; those that
``nashmp.available_backends()`` does not list are reported as skipped (never as passed).
This file does not touch ``sys.path``: whichever ``nashmp`` Python imports is the one tested.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import nashmp

CPU_BACKENDS = ("c", "numba", "numpy")
AVAILABLE = tuple(b for b in nashmp.available_backends() if b != "cuda")
DTYPES = (np.float32, np.float64)


def backend_params():
    """``pytest.param`` per CPU backend, skipped when that backend is unavailable here.

    Usable with ``@pytest.mark.parametrize("backend", backend_params())`` (hypothesis tests cannot
    take function-scoped fixtures)."""
    return [pytest.param(b, id=b, marks=pytest.mark.skipif(
        b not in AVAILABLE, reason=f"backend {b!r} not available in this installation"))
        for b in CPU_BACKENDS]


@pytest.fixture(params=backend_params())
def backend(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng(request):
    """A generator seeded from the test id, so every test is reproducible on its own."""
    seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(request.node.name)) % (2**32)
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# Tolerance table.
#
#   "log"   log-domain values (logsumexp, log_softmax, kl, span, mirror_step):
#           |got - want| <= tol * max(1, |want|, scale)
#   "prob"  probabilities (softmax): absolute, |got - want| <= tol
#   "dot"   preference_apply: relative to sum_j |P[y, j]| |pi[j]| (the size of the sum, ~K)
#
# float64 results are compared with a float64 reference whose own error is of the same order,
# so the bound is a small multiple of what the kernel alone must achieve (1e-13). float32
# results are compared with the float64 reference evaluated on the (exactly widened) float32
# input: the kernels accumulate in float64, leaving mainly the final rounding (6e-8).
# --------------------------------------------------------------------------------------------
TOL = {
    np.dtype(np.float64): {"log": 2e-13, "prob": 1e-13, "dot": 1e-13},
    np.dtype(np.float32): {"log": 2e-6, "prob": 2e-6, "dot": 2e-6},
}
# Bounds against an (essentially) exact value, e.g. mpmath: what the kernel alone must achieve.
EXACT_TOL = {np.dtype(np.float64): 1e-13, np.dtype(np.float32): 2e-6}


def tol(dtype, kind="log"):
    return TOL[np.dtype(dtype)][kind]


def _nonfinite_equal(got, want, what):
    """Positions where ``want`` is not finite must match exactly (same inf, same sign)."""
    bad = ~np.isfinite(want)
    assert not np.isnan(got).any(), f"{what}: NaN in the result"
    if bad.any():
        np.testing.assert_array_equal(got[bad], want[bad], err_msg=f"{what}: non-finite entries")
    fin = ~bad
    assert np.isfinite(got[fin]).all(), f"{what}: non-finite result where the reference is finite"
    return fin


def assert_log_close(got, want, dtype, *, scale=None, rtol=None, what="result"):
    """``|got - want| <= rtol * max(1, |want|, scale)`` elementwise; infinities exactly equal."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    rtol = tol(dtype, "log") if rtol is None else rtol
    fin = _nonfinite_equal(got, want, what)
    s = np.maximum(1.0, np.abs(np.where(fin, want, 0.0)))
    if scale is not None:
        s = np.maximum(s, np.broadcast_to(np.asarray(scale, dtype=np.float64), s.shape))
    with np.errstate(invalid="ignore"):
        err = np.abs(np.where(fin, got - want, 0.0)) / s
    worst = float(err.max()) if err.size else 0.0
    assert worst <= rtol, f"{what}: scaled error {worst:.3g} > {rtol:.3g}"


def assert_prob_close(got, want, dtype, *, atol=None, what="result"):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.isfinite(got).all(), f"{what}: non-finite probabilities"
    assert (got >= 0).all(), f"{what}: negative probabilities"
    atol = tol(dtype, "prob") if atol is None else atol
    err = float(np.abs(got - want).max())
    assert err <= atol, f"{what}: absolute error {err:.3g} > {atol:.3g}"


def assert_dot_close(got, want, scale, dtype, *, what="result"):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.isfinite(got).all(), f"{what}: non-finite result"
    rtol = tol(dtype, "dot")
    err = float((np.abs(got - want) / np.maximum(1.0, scale)).max())
    assert err <= rtol, f"{what}: error relative to sum|P||pi| {err:.3g} > {rtol:.3g}"


def assert_result_type(res, dtype, shape):
    """Arrays for batched results, numpy scalars of ``dtype`` for shape ``()``."""
    if shape == ():
        assert isinstance(res, np.generic), f"expected a numpy scalar, got {type(res).__name__}"
    else:
        assert isinstance(res, np.ndarray), f"expected an ndarray, got {type(res).__name__}"
    assert res.dtype == np.dtype(dtype), f"dtype {res.dtype} != {np.dtype(dtype)}"
    assert np.shape(res) == shape, f"shape {np.shape(res)} != {shape}"


# --------------------------------------------------------------------------------------------
# Independent references (not nashmp code): mpmath and math.fsum.
# --------------------------------------------------------------------------------------------
def lse_mpmath(row, dps=40) -> float:
    """log(sum(exp(row))) in mpmath, rounded to float64 (-inf for an all -inf row)."""
    import mpmath
    with mpmath.workdps(dps):
        vals = [mpmath.exp(mpmath.mpf(float(v))) for v in np.asarray(row, np.float64).ravel()
                if v != -np.inf]
        if not vals:
            return -math.inf
        return float(mpmath.log(mpmath.fsum(vals)))


def lse_fsum(row) -> float:
    """log-sum-exp in float64 with an exactly rounded sum: relative error a few 1e-16 (plenty
    for checking float32 results)."""
    r = np.asarray(row, np.float64).ravel()
    m = r.max()
    if m == -np.inf:
        return -math.inf
    return float(m + math.log(math.fsum(np.exp(r - m))))


def random_logits(rng, shape, dtype, scale=3.0, ninf_frac=0.0):
    """Normal logits with standard deviation ``scale``; optionally a fraction of ``-inf``."""
    x = rng.standard_normal(shape) * scale
    if ninf_frac:
        x[rng.random(shape) < ninf_frac] = -np.inf
        # keep at least one finite entry per row so rows are proper distributions
        flat = x.reshape(-1, shape[-1])
        flat[:, 0] = np.where(np.isfinite(flat).any(axis=1), flat[:, 0], 0.0)
    return x.astype(dtype)


def random_log_policy(rng, shape, dtype, scale=2.0, ninf_frac=0.0):
    """Normalized log-probabilities (computed in float64 with SciPy, then cast)."""
    from scipy.special import log_softmax as sp_log_softmax
    x = random_logits(rng, shape, np.float64, scale, ninf_frac)
    return sp_log_softmax(x, axis=-1).astype(dtype)


def frozen_copies(*arrays):
    return [None if a is None else np.array(a, copy=True) for a in arrays]


def assert_unchanged(originals, arrays):
    for o, a in zip(originals, arrays):
        if o is None:
            continue
        np.testing.assert_array_equal(np.asarray(a), o, err_msg="an input was modified")
        assert np.asarray(a).dtype == o.dtype
