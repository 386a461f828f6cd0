"""Property tests (hypothesis): invariances and identities that hold for any input, on every
backend. The expected values come from the identity itself (or SciPy), never from the kernel
under test evaluated the same way."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nashmp
from conftest import assert_log_close, assert_prob_close, backend_params, tol

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
DTYPES = (np.float32, np.float64)
backends = pytest.mark.parametrize("backend", backend_params())
dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=("float32", "float64"))


@st.composite
def logits(draw, dtype, *, max_batch=2, max_k=64, lo=-60.0, hi=60.0, neg_inf=True,
           full_row=True):
    """A (batch..., K) array of finite logits in [lo, hi], with some -inf entries (each row keeps
    at least one finite entry when ``full_row``)."""
    bshape = draw(hnp.array_shapes(min_dims=0, max_dims=max_batch, min_side=1, max_side=4))
    k = draw(st.integers(1, max_k))
    shape = bshape + (k,)
    x = draw(hnp.arrays(np.float64, shape,
                        elements=st.floats(lo, hi, allow_nan=False, allow_infinity=False)))
    if neg_inf and draw(st.booleans()):
        mask = draw(hnp.arrays(np.bool_, shape))
        x = np.where(mask, -np.inf, x)
        if full_row:
            flat = x.reshape(-1, k)
            flat[:, -1] = np.where(np.isfinite(flat).any(axis=1), flat[:, -1], 0.0)
    return x.astype(dtype)


def normalized(x):
    """log_softmax in float64 via SciPy (independent of nashmp); all -inf rows stay -inf."""
    with np.errstate(invalid="ignore"):
        r = sps.log_softmax(np.asarray(x, np.float64), axis=-1)
    return np.where(np.isnan(r), -np.inf, r)


def row_scale(x):
    """max |finite entry| per row, keepdims: the size of the rounding errors of x - lse."""
    a = np.abs(np.where(np.isfinite(x), np.asarray(x, np.float64), 0.0))
    return a.max(axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------------------
@backends
@dtypes
@SETTINGS
@given(data=st.data())
def test_shift_invariance(backend, dtype, data):
    x = data.draw(logits(dtype))
    c = data.draw(st.floats(-100, 100, allow_nan=False))
    xc = (x.astype(np.float64) + c).astype(dtype)          # -inf stays -inf
    sc = row_scale(x) + abs(c) + np.log(x.shape[-1])
    ls = nashmp.log_softmax(x, backend=backend)
    lsc = nashmp.log_softmax(xc, backend=backend)
    if dtype == np.float64:
        assert_log_close(lsc, ls, dtype, scale=sc, rtol=4 * tol(dtype))
        lse = nashmp.logsumexp(x, backend=backend)
        assert_log_close(nashmp.logsumexp(xc, backend=backend),
                         np.asarray(lse, np.float64) + c, dtype, scale=sc[..., 0],
                         rtol=4 * tol(dtype))
    else:
        # float32 rounds each x + c, so the shifted row is a slightly different distribution:
        # compare both with SciPy in float64 on the exact inputs instead
        assert_log_close(lsc, normalized(xc), dtype, scale=sc)
        assert_log_close(ls, normalized(x), dtype, scale=sc)
    # span is shift-invariant up to the rounding of the shifted entries (+inf for mixed rows)
    assert_log_close(nashmp.span(xc, backend=backend), nashmp.span(x, backend=backend), dtype,
                     scale=sc[..., 0], rtol=4 * tol(dtype))


@backends
@dtypes
@SETTINGS
@given(data=st.data())
def test_permutation_equivariance(backend, dtype, data):
    x = data.draw(logits(dtype, max_batch=1))
    k = x.shape[-1]
    perm = np.array(data.draw(st.permutations(range(k))), dtype=np.intp)
    xp = x[..., perm]
    sc = row_scale(x) + np.log(k)
    assert_log_close(nashmp.logsumexp(xp, backend=backend), nashmp.logsumexp(x, backend=backend),
                     dtype, scale=sc[..., 0])
    assert_log_close(nashmp.log_softmax(xp, backend=backend),
                     nashmp.log_softmax(x, backend=backend)[..., perm], dtype, scale=sc)
    assert_prob_close(nashmp.softmax(xp, backend=backend),
                      nashmp.softmax(x, backend=backend)[..., perm], dtype)
    np.testing.assert_array_equal(nashmp.span(xp, backend=backend),
                                  nashmp.span(x, backend=backend))
    lq = normalized(data.draw(hnp.arrays(np.float64, (k,), elements=st.floats(-20, 20)))
                    ).astype(dtype)
    lp = normalized(x).astype(dtype)
    kl1 = nashmp.kl(lp[..., perm], lq[perm], backend=backend)
    kl0 = nashmp.kl(lp, lq, backend=backend)
    assert_log_close(kl1, kl0, dtype, scale=np.log(k) + row_scale(lp)[..., 0])
    g = np.linspace(0.0, 1.0, k).astype(dtype)
    ms1 = nashmp.mirror_step(lp[..., perm], lq[perm], g[perm], 0.5, 0.5, 1.0, backend=backend)
    ms0 = nashmp.mirror_step(lp, lq, g, 0.5, 0.5, 1.0, backend=backend)
    assert_log_close(ms1, ms0[..., perm], dtype, scale=row_scale(lp) + np.log(k) + 1)
    P = (np.add.outer(np.arange(k), 2 * np.arange(k)) % 7 / 6).astype(dtype)
    pi = np.exp(lp[(0,) * (lp.ndim - 1)]).astype(dtype)
    gp = nashmp.preference_apply(P[np.ix_(perm, perm)], pi[perm], backend=backend)
    g0 = nashmp.preference_apply(P, pi, backend=backend)
    np.testing.assert_allclose(gp, g0[perm], rtol=0, atol=tol(dtype, "dot") * k)


@backends
@dtypes
@SETTINGS
@given(data=st.data())
def test_batch_equals_loop_over_rows(backend, dtype, data):
    x = data.draw(logits(dtype, max_batch=2))
    assume(x.ndim >= 2)
    rows = x.reshape(-1, x.shape[-1])
    k = x.shape[-1]
    sc = row_scale(x) + np.log(k)
    for name in ("logsumexp", "span"):
        got = getattr(nashmp, name)(x, backend=backend)
        loop = np.array([getattr(nashmp, name)(r, backend=backend) for r in rows]).reshape(
            x.shape[:-1])
        assert_log_close(got, loop, dtype, scale=sc[..., 0], what=name)
    for name in ("log_softmax", "softmax"):
        got = getattr(nashmp, name)(x, backend=backend)
        loop = np.stack([getattr(nashmp, name)(r, backend=backend) for r in rows]).reshape(
            x.shape)
        if name == "softmax":
            assert_prob_close(got, loop, dtype, what=name)
        else:
            assert_log_close(got, loop, dtype, scale=sc, what=name)
    lp = normalized(x).astype(dtype)
    lq = normalized(np.where(np.isfinite(x), x, -70.0)[..., ::-1]).astype(dtype)  # full support
    got = nashmp.kl(lp, lq, backend=backend)
    loop = np.array([nashmp.kl(a, b, backend=backend) for a, b in
                     zip(lp.reshape(-1, k), lq.reshape(-1, k))]).reshape(x.shape[:-1])
    assert_log_close(got, loop, dtype, scale=2 * row_scale(x)[..., 0] + np.log(k))
    g = np.cos(np.arange(k)).astype(dtype) * np.ones(x.shape[:-1] + (1,), dtype)
    got = nashmp.mirror_step(lp, lq, g, 0.3, 0.7, 1.5, backend=backend)
    loop = np.stack([nashmp.mirror_step(a, b, c, 0.3, 0.7, 1.5, backend=backend) for a, b, c in
                     zip(lp.reshape(-1, k), lq.reshape(-1, k), g.reshape(-1, k))]).reshape(
                         x.shape)
    assert_log_close(got, loop, dtype, scale=sc + 2)


@backends
@dtypes
@SETTINGS
@given(data=st.data())
def test_kl_self_is_exactly_zero(backend, dtype, data):
    x = data.draw(logits(dtype, full_row=False))          # all -inf rows allowed here
    got = nashmp.kl(x, x, backend=backend)
    assert np.all(np.asarray(got) == 0.0), got
    lp = normalized(x).astype(dtype)
    assert np.all(np.asarray(nashmp.kl(lp, lp, backend=backend)) == 0.0)


@backends
@dtypes
@SETTINGS
@given(data=st.data())
def test_kl_nonnegative_for_normalized_inputs(backend, dtype, data):
    x = data.draw(logits(np.float64, neg_inf=True))
    k = x.shape[-1]
    y = data.draw(hnp.arrays(np.float64, (k,), elements=st.floats(-60, 60)))
    lp, lq = normalized(x).astype(dtype), normalized(y).astype(dtype)
    got = np.asarray(nashmp.kl(lp, lq, backend=backend), np.float64)
    # renormalization in the target dtype leaves sum(p) = 1 + O(k eps): slack accordingly
    slack = tol(dtype) * (np.abs(lq).max() + row_scale(lp)[..., 0] + np.log(k) + 1) * k
    assert np.all(got >= -slack), got
    assert np.isfinite(got).all()


@backends
@dtypes
@SETTINGS
@given(data=st.data(),
       eta=st.floats(0.01, 2.0), beta=st.floats(0.001, 10.0))
def test_mirror_step_is_normalized(backend, dtype, data, eta, beta):
    lp = normalized(data.draw(logits(np.float64))).astype(dtype)
    k = lp.shape[-1]
    lr = normalized(np.sin(np.arange(k) * 1.7) * 3).astype(dtype)
    g = data.draw(hnp.arrays(np.float64, lp.shape, elements=st.floats(0, 1))).astype(dtype)
    a, b, c = 1 / (1 + eta * beta), eta * beta / (1 + eta * beta), eta / (1 + eta * beta)
    out = nashmp.mirror_step(lp, lr, g, a, b, c, backend=backend)
    assert out.dtype == dtype and out.shape == lp.shape
    assert not np.isnan(out).any() and not (out == np.inf).any()
    lse = sps.logsumexp(out.astype(np.float64), axis=-1)
    assert np.abs(lse).max() <= 8 * tol(dtype) * (row_scale(lp).max() + np.log(k) + 1), lse
    np.testing.assert_array_equal(out == -np.inf, lp == -np.inf)
    # independent value: SciPy on the float64 z
    z = a * lp.astype(np.float64) + b * lr.astype(np.float64) + c * g.astype(np.float64)
    assert_log_close(out, normalized(z), dtype, scale=row_scale(z) + np.log(k))


@backends
@dtypes
@SETTINGS
@given(data=st.data())
def test_mirror_step_identity_coefficients_is_log_softmax(backend, dtype, data):
    x = data.draw(logits(dtype))
    k = x.shape[-1]
    junk = np.full(x.shape, -np.inf, dtype)                 # must be ignored: coefficient 0
    g = np.full(x.shape, 7.0, dtype)
    sc = row_scale(x) + np.log(k)
    want = nashmp.log_softmax(x, backend=backend)
    for ref_arg in (None, junk):
        got = nashmp.mirror_step(x, ref_arg, g, 1.0, 0.0, 0.0, backend=backend)
        assert_log_close(got, want, dtype, scale=sc)
    assert_log_close(want, normalized(x), dtype, scale=sc)


@backends
@dtypes
@SETTINGS
@given(data=st.data())
def test_softmax_is_exp_log_softmax_and_sums_to_one(backend, dtype, data):
    x = data.draw(logits(dtype))
    sm = nashmp.softmax(x, backend=backend)
    ls = nashmp.log_softmax(x, backend=backend)
    assert_prob_close(sm, np.exp(ls.astype(np.float64)), dtype)
    s = sm.astype(np.float64).sum(axis=-1)
    assert np.abs(s - 1).max() <= tol(dtype, "prob") * x.shape[-1] + 1e-15 * x.shape[-1]
    assert np.all(sm[x == -np.inf] == 0)
    assert np.all(ls[x == -np.inf] == -np.inf)


@backends
@dtypes
@SETTINGS
@given(data=st.data())
def test_logsumexp_bounds(backend, dtype, data):
    """max(x) <= lse(x) <= max(x) + log(K) (exact bounds, up to rounding)."""
    x = data.draw(logits(dtype, full_row=False))
    k = x.shape[-1]
    lse = np.asarray(nashmp.logsumexp(x, backend=backend), np.float64)
    m = x.max(axis=-1).astype(np.float64)
    allinf = m == -np.inf
    assert np.all(lse[allinf] == -np.inf)
    eps = tol(dtype) * np.maximum(1, np.abs(np.where(allinf, 0, m)))
    assert np.all((lse >= m - eps)[~allinf])
    assert np.all((lse <= m + np.log(k) + eps)[~allinf])
    assert_log_close(lse, sps.logsumexp(x.astype(np.float64), axis=-1), dtype,
                     scale=np.abs(np.where(allinf, 0, m)) + np.log(k))
