"""Log-space kernels on every available backend and dtype.

Three kinds of checks:
  * against the float64 NumPy reference (``nashmp._reference``) with the tolerance table of
    ``conftest.py``, and against independent values (SciPy, mpmath, closed forms);
  * edge cases documented in ``nashmp.h``: ``-inf`` entries, all ``-inf`` rows, K = 1;
  * the Python contract: ``out=``, in place, dtypes, shapes, broadcasting, bad input, inputs never
    modified, non-contiguous and read-only arrays.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import scipy.special as sps

import nashmp
from conftest import (AVAILABLE, EXACT_TOL, assert_dot_close, assert_log_close,
                      assert_prob_close, assert_result_type, assert_unchanged, frozen_copies,
                      lse_fsum, lse_mpmath, random_log_policy, random_logits, tol)

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)
KS = (1, 3, 41, 1271, 100_000)
BATCHES = ((), (5,), (2, 3))
ROW_KERNELS = ("logsumexp", "log_softmax", "softmax", "span")
ALL_KERNELS = ROW_KERNELS + ("kl", "preference_apply", "mirror_step")


def ref():
    """The float64 NumPy reference (imported lazily so validation tests run without it)."""
    from nashmp import _reference
    return _reference


def f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Argument builders shared by the generic tests
# --------------------------------------------------------------------------------------------
# Array arguments of each kernel, in call order, and the scalar arguments that follow.
ARRAY_ARGS = {
    "logsumexp": ("x",), "log_softmax": ("x",), "softmax": ("x",), "span": ("x",),
    "kl": ("logp", "logq"), "preference_apply": ("P", "pi"),
    "mirror_step": ("log_pi", "log_ref", "g"),
}
REDUCTIONS = ("logsumexp", "span", "kl")
MS_COEF = (0.4, 0.6, 0.8)


def make_inputs(name, rng, bshape, K, dtype, *, shared_P=True, ninf_frac=0.0):
    """Arrays (a list, ARRAY_ARGS order) for kernel ``name`` with batch shape ``bshape``."""
    shape = bshape + (K,)
    if name in ROW_KERNELS:
        return [random_logits(rng, shape, dtype, ninf_frac=ninf_frac)]
    if name == "kl":
        return [random_log_policy(rng, shape, dtype, ninf_frac=ninf_frac),
                random_log_policy(rng, shape, dtype)]
    if name == "preference_apply":
        Pshape = (K, K) if shared_P else bshape + (K, K)
        P = rng.random(Pshape).astype(dtype)
        pi = np.exp(random_log_policy(rng, shape, np.float64)).astype(dtype)
        return [P, pi]
    if name == "mirror_step":
        return [random_log_policy(rng, shape, dtype, ninf_frac=ninf_frac),
                random_log_policy(rng, shape, dtype),
                rng.random(shape).astype(dtype)]
    raise AssertionError(name)


def call(name, arrays, backend, **kw):
    fn = getattr(nashmp, name)
    if name == "mirror_step":
        return fn(*arrays, *MS_COEF, backend=backend, **kw)
    return fn(*arrays, backend=backend, **kw)


def out_shape(name, arrays):
    if name in ("logsumexp", "span"):
        return arrays[0].shape[:-1]
    if name == "kl":
        return np.broadcast_shapes(arrays[0].shape[:-1], arrays[1].shape[:-1])
    if name == "preference_apply":
        P, pi = arrays
        if P.ndim == 2:
            return pi.shape
        return np.broadcast_shapes(P.shape[:-2], pi.shape[:-1]) + pi.shape[-1:]
    if name == "mirror_step":
        return np.broadcast_shapes(*(a.shape[:-1] for a in arrays if a is not None)) + \
            arrays[0].shape[-1:]
    return arrays[0].shape


def check_reference(name, got, arrays, dtype, coef=MS_COEF):
    """Compare ``got`` with nashmp._reference evaluated in float64 on the same (widened) input."""
    R = ref()
    a64 = [f64(a) for a in arrays]
    if name == "logsumexp":
        assert_log_close(got, R.logsumexp(a64[0]), dtype, what="logsumexp vs reference")
    elif name == "span":
        assert_log_close(got, R.span(a64[0]), dtype, what="span vs reference")
    elif name == "log_softmax":
        lse = R.logsumexp(a64[0])[..., None]
        assert_log_close(got, R.log_softmax(a64[0]), dtype, scale=np.abs(lse),
                         what="log_softmax vs reference")
    elif name == "softmax":
        assert_prob_close(got, R.softmax(a64[0]), dtype, what="softmax vs reference")
    elif name == "kl":
        lp, lq = np.broadcast_arrays(*a64)
        p = np.exp(lp)
        scale = np.where(p > 0, p * (np.abs(np.where(np.isfinite(lp), lp, 0))
                                     + np.abs(np.where(np.isfinite(lq), lq, 0))), 0).sum(-1)
        assert_log_close(got, R.kl(*a64), dtype, scale=scale, what="kl vs reference")
    elif name == "preference_apply":
        P, pi = a64
        scale = np.abs(P) @ np.abs(pi)[..., None] if P.ndim > 2 else np.abs(pi) @ np.abs(P).T
        scale = np.squeeze(scale, -1) if P.ndim > 2 else scale
        assert_dot_close(got, R.preference_apply(P, pi), scale, dtype,
                         what="preference_apply vs reference")
    elif name == "mirror_step":
        lp, lr, g = a64
        a, b, c = coef
        terms = [np.abs(a * lp)] + ([np.abs(b * lr)] if b != 0 else []) + [np.abs(c * g)]
        z = sum(np.where(np.isfinite(t), t, 0) for t in terms)
        want = R.mirror_step(lp, lr, g, a, b, c)
        zz = (a * lp + (b * lr if b != 0 else 0) + c * g)
        lse = sps.logsumexp(zz, axis=-1, keepdims=True)
        assert_log_close(got, want, dtype, scale=np.maximum(z, np.abs(lse)),
                         what="mirror_step vs reference")
    else:
        raise AssertionError(name)


# --------------------------------------------------------------------------------------------
# 1. Every kernel x backend x dtype x K x batch shape against the reference
# --------------------------------------------------------------------------------------------
def _sizes(max_k=None):
    return [k for k in KS if max_k is None or k <= max_k]


@pytest.mark.parametrize("bshape", BATCHES, ids=lambda s: "b" + ("x".join(map(str, s)) or "none"))
@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("name", ("logsumexp", "log_softmax", "softmax", "span", "kl",
                                  "mirror_step"))
def test_matches_reference(name, K, bshape, backend, dtype, rng):
    arrays = make_inputs(name, rng, bshape, K, dtype)
    before = frozen_copies(*arrays)
    got = call(name, arrays, backend)
    assert_unchanged(before, arrays)
    assert_result_type(got, dtype, out_shape(name, arrays))
    check_reference(name, got, arrays, dtype)


@pytest.mark.parametrize("bshape", BATCHES, ids=lambda s: "b" + ("x".join(map(str, s)) or "none"))
@pytest.mark.parametrize("K", (1, 3, 41, 1271))
@pytest.mark.parametrize("shared", (True, False), ids=("sharedP", "perGameP"))
def test_preference_apply_matches_reference(shared, K, bshape, backend, dtype, rng):
    if not shared and K > 41 and bshape:
        pytest.skip("per-game 1271x1271 matrices: covered by the shared case (memory)")
    arrays = make_inputs("preference_apply", rng, bshape, K, dtype, shared_P=shared)
    before = frozen_copies(*arrays)
    got = call("preference_apply", arrays, backend)
    assert_unchanged(before, arrays)
    assert_result_type(got, dtype, bshape + (K,))
    check_reference("preference_apply", got, arrays, dtype)
    # independent: NumPy matmul in float64
    P, pi = (f64(a) for a in arrays)
    want = np.einsum("...ij,...j->...i", P, pi)
    scale = np.einsum("...ij,...j->...i", np.abs(P), np.abs(pi))
    assert_dot_close(got, want, scale, dtype, what="preference_apply vs einsum")


@pytest.mark.parametrize("K", (1, 7, 8, 9, 67, 130))
def test_preference_apply_same_bits_for_every_grouping(K, backend, dtype, rng):
    """One game, a P shared by 9 games (4 per pass, then single ones) and one P per game give
    the same value for every output (the kernels share the lane order; 64-row blocks of 4 rows
    and then single rows), bit for bit. Not NumPy: its matmul picks gemv or gemm by shape."""
    if backend == "numpy":
        pytest.skip("NumPy's matmul rounds differently for one and several vectors")
    P = rng.random((K, K)).astype(dtype)
    pi = rng.random((9, K)).astype(dtype)
    shared = nashmp.preference_apply(P, pi, backend=backend)
    own = nashmp.preference_apply(np.broadcast_to(P, (9, K, K)).copy(), pi, backend=backend)
    single = np.stack([nashmp.preference_apply(P, pi[i], backend=backend) for i in range(9)])
    np.testing.assert_array_equal(shared, single)
    np.testing.assert_array_equal(own, single)
    want = f64(pi) @ f64(P).T
    assert_dot_close(single, want, f64(np.abs(pi)) @ f64(np.abs(P)).T, dtype,
                     what="preference_apply vs float64 matmul")


def test_preference_apply_same_bits_beyond_cache(backend, rng):
    """256 games of 100 x 100 (20 MB of P: the C kernel takes its rows one at a time there, four
    at a time for one game) give the bits of each game alone."""
    if backend == "numpy":
        pytest.skip("NumPy's matmul rounds differently for one and several vectors")
    P = rng.random((256, 100, 100))
    pi = rng.random((256, 100))
    got = nashmp.preference_apply(P, pi, backend=backend)
    for i in (0, 1, 97, 255):
        np.testing.assert_array_equal(got[i], nashmp.preference_apply(P[i], pi[i],
                                                                       backend=backend))


@pytest.mark.parametrize("K", (3, 41, 1271))
@pytest.mark.parametrize("name", ("logsumexp", "log_softmax", "softmax", "kl", "mirror_step",
                                  "span"))
def test_matches_reference_with_neg_inf(name, K, backend, dtype, rng):
    """About a third of the entries -inf (logits / logp / log_pi), batch (2, 3)."""
    arrays = make_inputs(name, rng, (2, 3), K, dtype, ninf_frac=0.35)
    before = frozen_copies(*arrays)
    got = call(name, arrays, backend)
    assert_unchanged(before, arrays)
    if name == "span":   # mixed -inf / finite rows: +inf, all finite: max - min
        x = arrays[0]
        mixed = np.isinf(x).any(-1)
        assert (got[mixed] == np.inf).all()
        np.testing.assert_array_equal(got[~mixed], (x.max(-1) - x.min(-1))[~mixed])
        return
    check_reference(name, got, arrays, dtype)


@pytest.mark.parametrize("K", (3, 41, 1271, 100_000))
def test_independent_scipy(K, backend, dtype, rng):
    """SciPy (not nashmp) as the reference for logsumexp / log_softmax / softmax."""
    x = random_logits(rng, (4, K), dtype, scale=5.0)
    x64 = f64(x)
    lse = sps.logsumexp(x64, axis=-1)
    assert_log_close(nashmp.logsumexp(x, backend=backend), lse, dtype, what="lse vs scipy")
    assert_log_close(nashmp.log_softmax(x, backend=backend), sps.log_softmax(x64, axis=-1),
                     dtype, scale=np.abs(lse)[:, None], what="log_softmax vs scipy")
    assert_prob_close(nashmp.softmax(x, backend=backend), sps.softmax(x64, axis=-1), dtype,
                      what="softmax vs scipy")
    lp = sps.log_softmax(x64, axis=-1)
    lq = sps.log_softmax(f64(random_logits(rng, (4, K), dtype)), axis=-1)
    lp, lq = lp.astype(dtype), lq.astype(dtype)
    want = sps.rel_entr(np.exp(f64(lp)), np.exp(f64(lq))).sum(-1)   # p log(p/q)
    # rel_entr goes through exp/log, so it is itself only accurate to ~1e-15 relative per term
    assert_log_close(nashmp.kl(lp, lq, backend=backend), want, dtype,
                     rtol=max(tol(dtype), 1e-12), what="kl vs scipy rel_entr")


@pytest.mark.parametrize("K", (1, 3, 41, 1271, 100_000))
def test_span_exact(K, backend, dtype, rng):
    """max - min needs one rounding: exactly what NumPy computes in the same dtype."""
    x = random_logits(rng, (3, K), dtype, scale=100.0)
    got = nashmp.span(x, backend=backend)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, x.max(-1) - x.min(-1))


# --------------------------------------------------------------------------------------------
# 2. Accuracy bounds against mpmath / exactly rounded sums
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _accuracy_row(kind):
    r = np.random.default_rng(12345)
    if kind == "normal_1e5":
        return r.standard_normal(100_000)
    if kind == "wide_2e4":          # exp() of these spans ~600 orders of magnitude
        return r.uniform(-700.0, 700.0, 20_011)
    if kind == "increasing_3e4":    # the running max changes at every element
        return np.linspace(-30.0, 30.0, 30_001)
    if kind == "decreasing_4099":
        return np.linspace(40.0, -40.0, 4099)
    if kind == "large_offset":      # |lse| ~ 1e5: absolute error may scale with |lse|
        return 1e5 + r.standard_normal(1271)
    if kind == "large_negative":
        return -1e6 + 10 * r.standard_normal(41)
    if kind == "one_dominant":      # sum ~ 1 + tiny: log1p territory
        x = np.full(1000, -40.0)
        x[517] = 0.0
        return x
    if kind == "tiny_values":       # all exp() subnormal without max-subtraction
        return -745.0 + r.standard_normal(333)
    if kind == "with_neg_inf":
        x = r.standard_normal(1000) * 20
        x[::3] = -np.inf
        return x
    raise AssertionError(kind)


@functools.lru_cache(maxsize=None)
def _accuracy_mp(kind):
    return lse_mpmath(_accuracy_row(kind))


ACC_ROWS = ("normal_1e5", "wide_2e4", "increasing_3e4", "decreasing_4099", "large_offset",
            "large_negative", "one_dominant", "tiny_values", "with_neg_inf")


@pytest.mark.parametrize("kind", ACC_ROWS)
def test_logsumexp_f64_accuracy_vs_mpmath(kind, backend):
    x = _accuracy_row(kind)
    want = _accuracy_mp(kind)
    got = float(nashmp.logsumexp(x, backend=backend))
    err = abs(got - want)
    assert err <= EXACT_TOL[F64] * max(1.0, abs(want)), f"|lse - mp| = {err:.3g}, lse = {want}"
    # log_softmax inherits the bound (entries near 0 carry the lse error)
    ls = nashmp.log_softmax(x, backend=backend)
    j = int(np.argmax(x))
    assert abs(float(ls[j]) - (x[j] - want)) <= 2 * EXACT_TOL[F64] * max(1.0, abs(want))


def test_reference_logsumexp_mp_agrees_with_mpmath():
    """The reference's own mpmath helper against the one written here."""
    for kind in ("decreasing_4099", "large_offset", "with_neg_inf"):
        x = _accuracy_row(kind)
        assert abs(float(ref().logsumexp_mp(x)) - _accuracy_mp(kind)) <= 1e-15 * max(
            1.0, abs(_accuracy_mp(kind)))


@pytest.mark.parametrize("kind", ("normal_1e5", "wide_f32", "increasing_3e4", "large_offset",
                                  "one_dominant", "tiny_f32", "with_neg_inf"))
def test_logsumexp_f32_accuracy(kind, backend):
    if kind == "wide_f32":
        x = np.random.default_rng(7).uniform(-80.0, 80.0, 100_000).astype(np.float32)
    elif kind == "tiny_f32":      # exp() underflows in float32 without max-subtraction
        x = (-200.0 + np.random.default_rng(8).standard_normal(5000)).astype(np.float32)
    else:
        x = _accuracy_row(kind).astype(np.float32)
    want = lse_fsum(x)
    got = nashmp.logsumexp(x, backend=backend)
    assert got.dtype == F32
    err = abs(float(got) - want)
    assert err <= EXACT_TOL[F32] * max(1.0, abs(want)), f"|lse - exact| = {err:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("batch", (1, 2))
def test_logsumexp_f32_long_row(batch, backend):
    """2e6 float32 entries: float32 accumulation would lose ~1e-4; the bound is 2e-6."""
    r = np.random.default_rng(99)
    x = (r.standard_normal((batch, 2_000_000)) * 2).astype(np.float32)
    got = nashmp.logsumexp(x, backend=backend)
    want = np.array([lse_fsum(row) for row in x])
    assert np.abs(f64(got) - want).max() <= EXACT_TOL[F32] * max(1.0, np.abs(want).max())
    # a row of equal values: sum = K exactly, lse = c + log K
    y = np.full(2_000_000, 0.25, np.float32)
    assert abs(float(nashmp.logsumexp(y, backend=backend)) - (0.25 + math.log(2e6))) <= \
        EXACT_TOL[F32] * (0.25 + math.log(2e6))
    sm = nashmp.softmax(x[0], backend=backend)
    assert abs(float(f64(sm).sum()) - 1.0) <= 1e-5
    ls = nashmp.log_softmax(x[0], backend=backend)
    assert ls.dtype == F32
    assert_log_close(ls, f64(x[0]) - want[0], F32, scale=abs(want[0]), rtol=EXACT_TOL[F32])


# --------------------------------------------------------------------------------------------
# 3. Closed forms
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("c", (0.0, -3.5, 40.0, -1000.0))
def test_uniform_rows_closed_form(K, c, backend, dtype):
    x = np.full((2, K), c, dtype)
    cc = float(np.asarray(c, dtype))
    lse = nashmp.logsumexp(x, backend=backend)
    assert_log_close(lse, np.full(2, cc + math.log(K)), dtype, rtol=EXACT_TOL[dtype],
                     what="lse of a constant row")
    assert_log_close(nashmp.log_softmax(x, backend=backend), np.full((2, K), -math.log(K)),
                     dtype, scale=abs(cc) + math.log(K), rtol=EXACT_TOL[dtype],
                     what="log_softmax of a constant row")
    assert_prob_close(nashmp.softmax(x, backend=backend), np.full((2, K), 1.0 / K), dtype,
                      atol=EXACT_TOL[dtype] * max(1.0, abs(cc)) / K + EXACT_TOL[dtype] ** 2,
                      what="softmax of a constant row")
    np.testing.assert_array_equal(nashmp.span(x, backend=backend), np.zeros(2, dtype))
    u = np.full(K, -math.log(K), dtype)
    assert nashmp.kl(u, u, backend=backend) == 0.0


def test_k1_exact(backend, dtype, rng):
    x = random_logits(rng, (7, 1), dtype, scale=50.0)
    np.testing.assert_array_equal(nashmp.logsumexp(x, backend=backend), x[:, 0])
    np.testing.assert_array_equal(nashmp.log_softmax(x, backend=backend), np.zeros_like(x))
    assert_prob_close(nashmp.softmax(x, backend=backend), np.ones_like(x), dtype)
    np.testing.assert_array_equal(nashmp.span(x, backend=backend), np.zeros(7, dtype))
    g = rng.random((7, 1)).astype(dtype)
    np.testing.assert_array_equal(nashmp.mirror_step(x, x, g, 0.3, 0.7, 2.0, backend=backend),
                                  np.zeros_like(x))


def test_docstring_examples(backend):
    assert float(nashmp.logsumexp(np.log([0.25, 0.25, 0.5]), backend=backend)) == \
        pytest.approx(0.0, abs=1e-15)
    assert float(nashmp.span([1.0, 4.0, 2.5], backend=backend)) == 3.0
    assert np.exp(nashmp.log_softmax([0.0, 0.0], backend=backend)).tolist() == [0.5, 0.5]
    np.testing.assert_allclose(nashmp.softmax(np.log([1.0, 3.0]), backend=backend),
                               [0.25, 0.75], rtol=1e-15)
    assert float(nashmp.kl(np.log([0.5, 0.5]), np.log([0.25, 0.75]), backend=backend)) == \
        pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), rel=1e-14)
    P = np.array([[0.5, 1.0], [0.0, 0.5]])
    assert nashmp.preference_apply(P, [0.5, 0.5], backend=backend).tolist() == [0.75, 0.25]
    l = np.log([0.5, 0.5])
    np.testing.assert_allclose(
        np.exp(nashmp.mirror_step(l, l, np.array([1.0, 0.0]), 0.5, 0.5, 0.0, backend=backend)),
        [0.5, 0.5], rtol=1e-15)


def test_rock_paper_scissors_uniform_is_fixed(backend, dtype):
    """g(uniform) = 1/2 for an antisymmetric P, so a Nash-MP step from uniform stays uniform."""
    P = np.array([[.5, 1, 0], [0, .5, 1], [1, 0, .5]], dtype)
    u = np.full(3, 1 / 3, dtype)
    g = nashmp.preference_apply(P, u, backend=backend)
    assert_dot_close(g, np.full(3, 0.5), np.ones(3), dtype)
    lu = np.log(u)
    step = nashmp.mirror_step(lu, lu, g, 1 / 3, 2 / 3, 2 / 3, backend=backend)
    assert_log_close(step, np.full(3, -math.log(3)), dtype)


# --------------------------------------------------------------------------------------------
# 4. -inf entries (documented in nashmp.h)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("K", (1, 3, 41, 1271))
def test_all_neg_inf_rows(K, backend, dtype):
    x = np.full((2, 3, K), -np.inf, dtype)
    x[1, 2, 0] = 0.5    # one ordinary row in the batch must not be disturbed
    lse = nashmp.logsumexp(x, backend=backend)
    assert lse.dtype == dtype
    assert (lse[0] == -np.inf).all() and (lse[1, :2] == -np.inf).all()
    assert lse[1, 2] == np.asarray(0.5, dtype)
    ls = nashmp.log_softmax(x, backend=backend)
    assert (ls[0] == -np.inf).all() and (ls[1, :2] == -np.inf).all()
    assert ls[1, 2, 0] == 0.0 and (ls[1, 2, 1:] == -np.inf).all()
    sm = nashmp.softmax(x, backend=backend)
    assert (sm[0] == 0).all() and (sm[1, :2] == 0).all()
    assert sm[1, 2, 0] == pytest.approx(1.0, abs=tol(dtype, "prob")) and (sm[1, 2, 1:] == 0).all()
    sp = nashmp.span(x, backend=backend)
    assert (sp[0] == 0).all() and (sp[1, :2] == 0).all()
    assert sp[1, 2] == (0.0 if K == 1 else np.inf)
    # a single all -inf row (1-D) gives scalars
    row = np.full(K, -np.inf, dtype)
    assert nashmp.logsumexp(row, backend=backend) == -np.inf
    assert nashmp.span(row, backend=backend) == 0.0


def test_neg_inf_entries_are_ignored_by_logsumexp(backend, dtype, rng):
    """Appending -inf entries changes nothing (up to summation order)."""
    x = random_logits(rng, (4, 37), dtype)
    pad = np.full((4, 20), -np.inf, dtype)
    y = np.concatenate([pad[:, :7], x, pad], axis=-1)
    assert_log_close(nashmp.logsumexp(y, backend=backend), nashmp.logsumexp(x, backend=backend),
                     dtype)
    ly = nashmp.log_softmax(y, backend=backend)
    assert (ly[:, :7] == -np.inf).all() and (ly[:, 44:] == -np.inf).all()
    assert_log_close(ly[:, 7:44], nashmp.log_softmax(x, backend=backend), dtype)
    sy = nashmp.softmax(y, backend=backend)
    assert (sy[:, :7] == 0).all() and (sy[:, 44:] == 0).all()


def test_kl_neg_inf_terms_are_exactly_zero(backend, dtype):
    n = -np.inf
    # one finite logp entry at 0: KL = exp(0) * (0 - logq) = -logq exactly; every other term
    # has logp = -inf (with logq = -inf or finite) and must contribute exactly 0, not NaN.
    lq = np.array([n, -0.75, n, -1.25, n, n, -3.0, n, n], dtype)
    lp = np.array([n, -0.75, n, n, n, n, n, n, n], dtype)
    lp[1] = 0.0
    got = nashmp.kl(lp, lq, backend=backend)
    assert got == -lq[1], f"{got} != {-lq[1]}"
    # both -inf in the same place, longer rows: equal to the kl of the row without those entries
    rng = np.random.default_rng(3)
    for K in (5, 40, 1300):
        p = random_log_policy(rng, (K,), dtype)
        q = random_log_policy(rng, (K,), dtype)
        mask = rng.random(K) < 0.3
        mask[0] = False
        p2, q2 = p.copy(), q.copy()
        p2[mask] = n
        q2[mask] = n
        got = nashmp.kl(p2, q2, backend=backend)
        assert np.isfinite(got)
        want = nashmp.kl(p[~mask], q[~mask], backend=backend)
        assert_log_close(got, want, dtype, what="kl with shared -inf entries")
        # only logp -inf: also finite, and the terms vanish
        p3 = p.copy()
        p3[mask] = n
        want3 = np.sum(np.exp(f64(p3[~mask])) * (f64(p3[~mask]) - f64(q[~mask])))
        assert_log_close(nashmp.kl(p3, q, backend=backend), want3, dtype,
                         scale=np.abs(f64(q)).max())
    # all-(-inf) logp: exactly 0, whatever logq is
    assert nashmp.kl(np.full(6, n, dtype), np.full(6, n, dtype), backend=backend) == 0.0
    assert nashmp.kl(np.full(6, n, dtype), np.zeros(6, dtype), backend=backend) == 0.0


def test_kl_support_mismatch_is_plus_inf(backend, dtype):
    with np.errstate(divide="ignore"):
        lp = np.log(np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])).astype(dtype)
        lq = np.log(np.array([[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]])).astype(dtype)
    got = nashmp.kl(lp, lq, backend=backend)
    assert got[0] == np.inf
    assert abs(float(got[1])) <= tol(dtype)
    got = nashmp.kl(lq[0], lp[0], backend=backend)   # the other way round: also +inf
    assert got == np.inf
    # q has support where p has none: finite
    got = nashmp.kl(lp[0], np.log(np.array([0.25, 0.25, 0.5], dtype)), backend=backend)
    assert_log_close(got, math.log(2), dtype)


def test_mirror_step_zero_coefficient_kills_neg_inf(backend, dtype, rng):
    K = 11
    lp = random_log_policy(rng, (3, K), dtype)
    lr = random_log_policy(rng, (3, K), dtype)
    g = rng.random((3, K)).astype(dtype)
    lp_inf = lp.copy()
    lp_inf[:, ::2] = -np.inf
    lr_inf = lr.copy()
    lr_inf[:, 1::3] = -np.inf
    # a = 0: log_pi's -inf entries must not produce NaN (0 * -inf)
    got = nashmp.mirror_step(lp_inf, lr, g, 0.0, 0.5, 2.0, backend=backend)
    want = sps.log_softmax(0.5 * f64(lr) + 2.0 * f64(g), axis=-1)
    assert_log_close(got, want, dtype, scale=5)
    # b = 0: log_ref may hold -inf, or be None
    want = sps.log_softmax(0.7 * f64(lp) + 1.5 * f64(g), axis=-1)
    for ref_arg in (lr_inf, None):
        got = nashmp.mirror_step(lp, ref_arg, g, 0.7, 0.0, 1.5, backend=backend)
        assert_log_close(got, want, dtype, scale=5)
    # a > 0 keeps -inf entries impossible
    got = nashmp.mirror_step(lp_inf, lr, g, 0.5, 0.5, 1.0, backend=backend)
    assert (got[:, ::2] == -np.inf).all()
    assert np.isfinite(got[:, 1::2]).all()
    assert_log_close(sps.logsumexp(f64(got), axis=-1), np.zeros(3), dtype)


def test_mirror_step_empty_support_agrees_across_backends():
    """z all -inf (log_pi and log_ref with disjoint supports, a, b > 0) defines no distribution:
    documented in nashmp.h as NONFINITE; every backend raises the same ValueError."""
    lp = np.array([[-np.inf, 0.0, -np.inf], [0.0, -1.0, -2.0]])
    lr = np.array([[0.0, -np.inf, -np.inf], [0.0, -1.0, -2.0]])
    g = np.zeros((2, 3))
    outcomes = {}
    for b in AVAILABLE:
        before = frozen_copies(lp, lr)
        with pytest.raises(ValueError, match="entry above -inf"):
            nashmp.mirror_step(lp, lr, g, 0.5, 0.5, 1.0, backend=b)
        assert_unchanged(before, (lp, lr))


def test_preference_apply_zero_probabilities(backend, dtype, rng):
    P = rng.random((6, 6)).astype(dtype)
    pi = np.array([0, 0.5, 0, 0, 0.5, 0], dtype)
    got = nashmp.preference_apply(P, pi, backend=backend)
    assert_dot_close(got, 0.5 * f64(P[:, 1]) + 0.5 * f64(P[:, 4]), np.ones(6), dtype)


# --------------------------------------------------------------------------------------------
# 5. out= and in place
# --------------------------------------------------------------------------------------------
def _args_for(name, rng, dtype, bshape=(2, 3), K=7):
    return make_inputs(name, rng, bshape, K, dtype, shared_P=False)


@pytest.mark.parametrize("name", ALL_KERNELS)
def test_out_is_written_and_returned(name, backend, dtype, rng):
    arrays = _args_for(name, rng, dtype)
    before = frozen_copies(*arrays)
    expect = call(name, arrays, backend)
    shape = out_shape(name, arrays)
    out = np.full(shape, np.nan, dtype)
    res = call(name, arrays, backend, out=out)
    assert res is out
    np.testing.assert_array_equal(out, expect)
    assert_unchanged(before, arrays)


@pytest.mark.parametrize("name", ALL_KERNELS)
def test_out_non_contiguous(name, backend, dtype, rng):
    arrays = _args_for(name, rng, dtype)
    expect = call(name, arrays, backend)
    shape = out_shape(name, arrays)
    base = np.full(shape + (2,), 7.0, dtype)
    out = base[..., 1]
    assert not out.flags.c_contiguous
    res = call(name, arrays, backend, out=out)
    assert res is out
    np.testing.assert_array_equal(out, expect)
    assert (base[..., 0] == 7.0).all(), "out= wrote outside its view"
    # transposed (Fortran-ordered) out
    outT = np.empty(shape[::-1], dtype).T
    res = call(name, arrays, backend, out=outT)
    assert res is outT
    np.testing.assert_array_equal(outT, expect)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_out_zero_dim_for_single_row(name, backend, dtype, rng):
    """1-D input to a reduction: out= is a 0-d array; it is filled and returned (as NumPy ufuncs
    do with out=)."""
    arrays = make_inputs(name, rng, (), 9, dtype)
    expect = call(name, arrays, backend)
    out = np.array(np.nan, dtype)
    res = call(name, arrays, backend, out=out)
    assert out == expect
    assert res is out


@pytest.mark.parametrize("name", ALL_KERNELS)
def test_out_bad(name, backend, dtype, rng):
    arrays = _args_for(name, rng, dtype)
    before = frozen_copies(*arrays)
    shape = out_shape(name, arrays)
    with pytest.raises(ValueError, match="out"):
        call(name, arrays, backend, out=np.empty(shape + (1,), dtype))
    with pytest.raises(ValueError, match="out"):
        call(name, arrays, backend, out=np.empty((3,) + shape[1:], dtype))
    other = np.float64 if dtype == F32 else np.float32
    with pytest.raises(TypeError, match="out"):
        call(name, arrays, backend, out=np.empty(shape, other))
    with pytest.raises(TypeError, match="out"):
        call(name, arrays, backend, out=np.empty(shape, np.int64))
    with pytest.raises(TypeError, match="out"):
        call(name, arrays, backend, out=np.zeros(shape, dtype).tolist())
    ro = np.zeros(shape, dtype)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="out"):
        call(name, arrays, backend, out=ro)
    assert (ro == 0).all()
    assert_unchanged(before, arrays)


@pytest.mark.parametrize("name", ("log_softmax", "softmax"))
@pytest.mark.parametrize("layout", ("contiguous", "strided", "transposed"))
def test_in_place_row_maps(name, layout, backend, dtype, rng):
    base = random_logits(rng, (6, 30), dtype)
    if layout == "contiguous":
        x = base
    elif layout == "strided":
        x = base[:, ::2]
    else:
        x = np.asfortranarray(base)       # (6, 30), not C-contiguous
        assert not x.flags.c_contiguous
    x0 = x.copy()
    base0 = base.copy()
    expect = getattr(nashmp, name)(x0, backend=backend)
    res = getattr(nashmp, name)(x, out=x, backend=backend)
    assert res is x
    np.testing.assert_array_equal(x, expect)
    if layout == "strided":
        np.testing.assert_array_equal(base[:, 1::2], base0[:, 1::2])   # untouched columns


def test_in_place_mirror_step(backend, dtype, rng):
    lp = random_log_policy(rng, (4, 33), dtype)
    lr = random_log_policy(rng, (33,), dtype)
    g = rng.random((4, 33)).astype(dtype)
    lp0, lr0, g0 = lp.copy(), lr.copy(), g.copy()
    expect = nashmp.mirror_step(lp0, lr, g, 0.3, 0.7, 0.9, backend=backend)
    res = nashmp.mirror_step(lp, lr, g, 0.3, 0.7, 0.9, out=lp, backend=backend)
    assert res is lp
    np.testing.assert_array_equal(lp, expect)
    np.testing.assert_array_equal(lr, lr0)
    np.testing.assert_array_equal(g, g0)
    # two in-place steps == two out-of-place steps (Nash-MP style loop)
    cur = lp0.copy()
    for _ in range(2):
        nashmp.mirror_step(cur, lr, g, 0.5, 0.5, 1.0, out=cur, backend=backend)
    ref_cur = lp0
    for _ in range(2):
        ref_cur = nashmp.mirror_step(ref_cur, lr, g, 0.5, 0.5, 1.0, backend=backend)
    np.testing.assert_array_equal(cur, ref_cur)


# --------------------------------------------------------------------------------------------
# 6. Input layouts: non-contiguous, read-only, broadcasting, dtypes
# --------------------------------------------------------------------------------------------
def _layouts(a):
    """Equal-valued views of ``a`` with unusual memory layouts."""
    big = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    yield "strided", big[..., ::2]
    padded = np.empty(a.shape[:-1] + (a.shape[-1] + 3,), a.dtype)
    padded[..., :a.shape[-1]] = a
    yield "padded_rows", padded[..., :a.shape[-1]]      # row stride k + 3, no copy needed
    yield "reversed", np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    yield "fortran", np.asfortranarray(a)
    if a.ndim >= 2:
        yield "rows_reversed", np.ascontiguousarray(a[::-1])[::-1]
    ro = a.copy()
    ro.setflags(write=False)
    yield "readonly", ro


@pytest.mark.parametrize("name", ALL_KERNELS)
def test_layouts_give_same_result(name, backend, dtype, rng):
    arrays = _args_for(name, rng, dtype, bshape=(3, 4), K=13)
    expect = call(name, arrays, backend)
    for i in range(len(arrays)):
        for label, view in _layouts(arrays[i]):
            args = list(arrays)
            args[i] = view
            v0 = view.copy()
            got = call(name, args, backend)
            # c / numba copy unusual layouts to rows: bitwise equal; NumPy may sum in another order
            assert_log_close(got, expect, dtype, rtol=0 if backend != "numpy" else tol(dtype),
                             what=f"{name}: argument {i} {label}")
            np.testing.assert_array_equal(view, v0)


@pytest.mark.parametrize("name", ROW_KERNELS)
def test_transposed_input(name, backend, dtype, rng):
    y = random_logits(rng, (50, 6), dtype)   # K on the first axis
    x = y.T                                  # (6, 50) non-contiguous rows
    got = getattr(nashmp, name)(x, backend=backend)
    expect = getattr(nashmp, name)(np.ascontiguousarray(x), backend=backend)
    if backend != "numpy":
        np.testing.assert_array_equal(got, expect)
    check_reference(name, got, [x], dtype)


@pytest.mark.parametrize("name", ALL_KERNELS)
def test_user_broadcast_views(name, backend, dtype, rng):
    """Inputs that are themselves stride-0 views (np.broadcast_to) over the batch."""
    arrays = _args_for(name, rng, dtype, bshape=(1,), K=17)
    views = [np.broadcast_to(a, (6,) + a.shape[1:]) for a in arrays]
    got = call(name, views, backend)
    one = call(name, arrays, backend)
    np.testing.assert_array_equal(got, np.broadcast_to(one, got.shape))


@pytest.mark.skipif("c" not in AVAILABLE, reason="backend 'c' not available")
@pytest.mark.parametrize("K,batch", ((1_000_003, 1), (30_011, 16), (257, 5000)))
def test_c_thread_count_independent(K, batch, dtype, rng):
    """The C kernels split big rows (tiles) or big batches over threads: same results (to
    rounding) with 1 thread and with all of them."""
    x = random_logits(rng, (batch, K), dtype)
    lq = random_log_policy(rng, (K,), dtype)
    res = {}
    try:
        for nt in (1, 0):
            nashmp.set_num_threads(nt)
            res[nt] = [nashmp.logsumexp(x, backend="c"), nashmp.log_softmax(x, backend="c"),
                       nashmp.softmax(x, backend="c"), nashmp.span(x, backend="c"),
                       nashmp.kl(x, lq, backend="c"),
                       nashmp.mirror_step(x, lq, x, 0.3, 0.7, 0.1, backend="c")]
    finally:
        nashmp.set_num_threads(0)
    lse = f64(res[1][0])[:, None]
    for i, (one, many) in enumerate(zip(res[1], res[0])):
        if i == 2:
            assert_prob_close(many, one, dtype, what="softmax 1 vs all threads")
        else:
            assert_log_close(many, one, dtype, scale=np.abs(lse) if i in (1, 5) else None,
                             what=f"kernel {i}: 1 vs all threads")
    assert nashmp.get_num_threads() >= 1


def test_kl_broadcasting(backend, dtype, rng):
    K = 9
    lp = random_log_policy(rng, (2, 1, K), dtype)
    lq = random_log_policy(rng, (3, K), dtype)
    got = nashmp.kl(lp, lq, backend=backend)
    assert got.shape == (2, 3)
    check_reference("kl", got, [lp, lq], dtype)
    bp, bq = np.broadcast_arrays(lp, lq)
    np.testing.assert_array_equal(got, nashmp.kl(np.ascontiguousarray(bp),
                                                 np.ascontiguousarray(bq), backend=backend))
    # one row against a batch, both ways
    got = nashmp.kl(lp[0, 0], lq, backend=backend)
    assert got.shape == (3,)
    check_reference("kl", got, [lp[0, 0], lq], dtype)
    got = nashmp.kl(lq, lp[1, 0], backend=backend)
    assert got.shape == (3,)
    check_reference("kl", got, [lq, lp[1, 0]], dtype)
    with pytest.raises(ValueError):
        nashmp.kl(random_log_policy(rng, (4, K), dtype), lq, backend=backend)
    with pytest.raises(ValueError):
        nashmp.kl(lp, lq[:, :-1], backend=backend)


def test_mirror_step_broadcasting(backend, dtype, rng):
    K = 12
    lp = random_log_policy(rng, (4, K), dtype)
    lr = random_log_policy(rng, (K,), dtype)
    g = rng.random((2, 1, K)).astype(dtype)
    got = nashmp.mirror_step(lp, lr, g, *MS_COEF, backend=backend)
    assert got.shape == (2, 4, K)
    b = [np.ascontiguousarray(v) for v in np.broadcast_arrays(lp, lr, g)]
    np.testing.assert_array_equal(got, nashmp.mirror_step(*b, *MS_COEF, backend=backend))
    check_reference("mirror_step", got, b, dtype)
    # a (1, K) row broadcasts like a (K,) row
    got2 = nashmp.mirror_step(lp, lr[None], g, *MS_COEF, backend=backend)
    np.testing.assert_array_equal(got2, got)
    with pytest.raises(ValueError):
        nashmp.mirror_step(lp, lr, rng.random((3, K)).astype(dtype), *MS_COEF, backend=backend)


def test_preference_apply_broadcasting(backend, dtype, rng):
    K = 5
    P = rng.random((3, 1, K, K)).astype(dtype)
    pi = np.exp(random_log_policy(rng, (4, K), np.float64)).astype(dtype)
    got = nashmp.preference_apply(P, pi, backend=backend)
    assert got.shape == (3, 4, K)
    bP = np.broadcast_to(P, (3, 4, K, K))
    check_reference("preference_apply", got, [bP, np.broadcast_to(pi, (3, 4, K))], dtype)
    # one matrix per game and a single policy
    got = nashmp.preference_apply(P[:, 0], pi[0], backend=backend)
    assert got.shape == (3, K)
    check_reference("preference_apply", got, [P[:, 0], np.broadcast_to(pi[0], (3, K))], dtype)


@pytest.mark.parametrize("name", ALL_KERNELS)
def test_mixed_dtypes_promote_to_float64(name, backend, rng):
    arrays = _args_for(name, rng, np.float32)
    if len(arrays) == 1:
        pytest.skip("single array argument")
    arrays[-1] = arrays[-1].astype(np.float64)
    got = call(name, arrays, backend)
    assert got.dtype == F64
    check_reference(name, got, arrays, F64)


@pytest.mark.parametrize("name", ALL_KERNELS)
@pytest.mark.parametrize("itype", (np.int64, np.int32, np.uint8))
def test_integer_input_becomes_float64(name, itype, backend, rng):
    arrays = _args_for(name, rng, np.float64, bshape=(3,), K=4)
    signed = np.dtype(itype).kind == "i" and name != "preference_apply"
    ints = [(np.round(a * 3) if signed else np.round(np.abs(a) * 3)).astype(itype)
            for a in arrays]
    got = call(name, ints, backend)
    assert got.dtype == F64
    check_reference(name, got, [a.astype(np.float64) for a in ints], F64)


def test_python_lists_and_scalars_types(backend):
    x = [1.0, 2.0, 3.0]
    r = nashmp.logsumexp(x, backend=backend)
    assert isinstance(r, np.float64)
    assert r == pytest.approx(math.log(math.exp(1) + math.exp(2) + math.exp(3)), rel=1e-15)
    r32 = nashmp.logsumexp(np.array(x, np.float32), backend=backend)
    assert isinstance(r32, np.float32)
    for name in ("span", "kl"):
        args = [x] if name == "span" else [x, x]
        r = getattr(nashmp, name)(*args, backend=backend)
        assert isinstance(r, np.float64) and not isinstance(r, np.ndarray)
    assert isinstance(nashmp.log_softmax(x, backend=backend), np.ndarray)
    assert isinstance(nashmp.softmax([[1, 2]], backend=backend), np.ndarray)


# --------------------------------------------------------------------------------------------
# 7. Bad input: a clear exception, no crash, inputs unchanged
# --------------------------------------------------------------------------------------------
def _replace(name, rng, i, value_fn, dtype=np.float64):
    arrays = _args_for(name, rng, dtype, bshape=(3,), K=5)
    arrays[i] = value_fn(arrays[i])
    return arrays


def _cases(names):
    return [(n, i, a) for n in names for i, a in enumerate(ARRAY_ARGS[n])]


@pytest.mark.parametrize("name,i,arg", _cases(ALL_KERNELS))
@pytest.mark.parametrize("bad", ("bool", "complex", "object", "float16", "str"))
def test_bad_dtype_is_type_error(name, i, arg, bad, backend, rng):
    conv = {"bool": lambda a: a > 0, "complex": lambda a: a.astype(complex),
            "object": lambda a: a.astype(object), "float16": lambda a: a.astype(np.float16),
            "str": lambda a: a.astype(str)}[bad]
    arrays = _replace(name, rng, i, conv)
    before = frozen_copies(*arrays)
    with pytest.raises(TypeError, match=arg):
        call(name, arrays, backend)
    assert_unchanged(before, arrays)


@pytest.mark.parametrize("name,i,arg", _cases(ALL_KERNELS))
@pytest.mark.parametrize("bad", (np.nan, np.inf))
def test_nan_and_plus_inf_are_value_errors(name, i, arg, bad, backend, dtype, rng):
    arrays = _args_for(name, rng, dtype, bshape=(3,), K=5)
    arrays[i] = arrays[i].copy()
    arrays[i].flat[arrays[i].size // 2 + 1] = bad
    before = frozen_copies(*arrays)
    with pytest.raises(ValueError, match=arg):
        call(name, arrays, backend)
    assert_unchanged(before, arrays)


@pytest.mark.parametrize("arg", ("P", "pi"))
def test_preference_apply_neg_inf_is_value_error(arg, backend, dtype, rng):
    """-inf is not a probability (nor a preference): every backend rejects it."""
    P, pi = _args_for("preference_apply", rng, dtype, bshape=(3,), K=5)
    (P if arg == "P" else pi)[1, 2] = -np.inf
    with pytest.raises(ValueError, match=arg):
        nashmp.preference_apply(P, pi, backend=backend)


@pytest.mark.parametrize("name,i,arg", _cases(ALL_KERNELS))
def test_nan_in_last_row_last_entry(name, i, arg, backend, rng):
    """Non-finite values in the scalar tail of a row (past the vector lanes) are caught too."""
    arrays = _args_for(name, rng, np.float64, bshape=(2,), K=37)
    arrays[i] = arrays[i].copy()
    arrays[i].flat[-1] = np.nan
    with pytest.raises(ValueError, match=arg):
        call(name, arrays, backend)


@pytest.mark.parametrize("name,i,arg", _cases(ALL_KERNELS))
def test_empty_is_value_error(name, i, arg, backend, rng):
    for shape_fn in (lambda s: s[:-1] + (0,), lambda s: (0,) + s[1:]):
        arrays = _args_for(name, rng, np.float64, bshape=(3,), K=5)
        arrays[i] = np.empty(shape_fn(arrays[i].shape))
        with pytest.raises(ValueError):
            call(name, arrays, backend)


@pytest.mark.parametrize("name,i,arg", _cases(ALL_KERNELS))
def test_zero_dim_is_value_error(name, i, arg, backend, rng):
    arrays = _args_for(name, rng, np.float64, bshape=(3,), K=5)
    arrays[i] = np.float64(0.5)
    with pytest.raises(ValueError, match=arg):
        call(name, arrays, backend)
    arrays[i] = 0.5
    with pytest.raises(ValueError, match=arg):
        call(name, arrays, backend)


@pytest.mark.parametrize("name", ALL_KERNELS)
@pytest.mark.parametrize("bad", ("cpu", "C", "", 3, "cuda "))
def test_bad_backend_name(name, bad, rng):
    arrays = _args_for(name, rng, np.float64)
    with pytest.raises(ValueError) as ei:
        call(name, arrays, bad)
    msg = str(ei.value)
    for choice in ("auto", "c", "numba", "numpy"):
        assert repr(choice) in msg


@pytest.mark.parametrize("name", ALL_KERNELS)
def test_unavailable_backends_raise(name, rng):
    arrays = _args_for(name, rng, np.float64)
    for b in ("c", "numba", "cuda"):
        if b not in AVAILABLE:
            with pytest.raises(RuntimeError, match=b):
                call(name, arrays, b)


def _reset_auto():
    from nashmp import _backend
    if hasattr(_backend, "reset_auto"):
        _backend.reset_auto()
    else:   # pragma: no cover - older _backend without the cache
        _backend._resolved_auto = None


def test_auto_and_env_override(monkeypatch, rng):
    x = random_logits(rng, (3, 10), np.float64)
    want = sps.logsumexp(x, axis=-1)
    _reset_auto()
    try:
        assert_log_close(nashmp.logsumexp(x), want, F64)
        assert_log_close(nashmp.logsumexp(x, backend=None), want, F64)
        monkeypatch.setenv("NASHMP_BACKEND", "numpy")
        _reset_auto()
        assert_log_close(nashmp.logsumexp(x), want, F64)
        monkeypatch.setenv("NASHMP_BACKEND", "fortran")
        _reset_auto()
        with pytest.raises(ValueError, match="NASHMP_BACKEND|backend"):
            nashmp.logsumexp(x)
    finally:
        _reset_auto()   # lazily re-read after monkeypatch restores the environment


@pytest.mark.parametrize("name", ALL_KERNELS)
def test_last_axis_mismatch(name, backend, rng):
    arrays = _args_for(name, rng, np.float64, bshape=(3,), K=5)
    if len(arrays) == 1:
        pytest.skip("single array argument")
    for i in range(1, len(arrays)):
        args = list(arrays)
        args[i] = args[i][..., :-1]
        with pytest.raises(ValueError):
            call(name, args, backend)


def test_preference_apply_shape_errors(backend, rng):
    pi = np.full((2, 4), 0.25)
    with pytest.raises(ValueError, match="P"):
        nashmp.preference_apply(np.ones((4, 5)), pi, backend=backend)
    with pytest.raises(ValueError, match="P"):
        nashmp.preference_apply(np.ones((5, 5)), pi, backend=backend)
    with pytest.raises(ValueError, match="P"):
        nashmp.preference_apply(np.ones(4), pi, backend=backend)
    with pytest.raises(ValueError):
        nashmp.preference_apply(np.ones((3, 4, 4)), pi, backend=backend)   # batch 3 vs 2


def test_mirror_step_scalar_arguments(backend, rng):
    lp = random_log_policy(rng, (2, 6), np.float64)
    lr = random_log_policy(rng, (2, 6), np.float64)
    g = rng.random((2, 6))
    before = frozen_copies(lp, lr, g)
    with pytest.raises(ValueError, match="log_ref"):
        nashmp.mirror_step(lp, None, g, 0.5, 0.5, 1.0, backend=backend)
    for pos, nm in enumerate("abc"):
        for bad in (np.nan, np.inf, -np.inf):
            coef = [0.5, 0.5, 1.0]
            coef[pos] = bad
            with pytest.raises(ValueError, match=nm):
                nashmp.mirror_step(lp, lr, g, *coef, backend=backend)
        for bad in ("0.5", None, True, [0.5], 1j):
            coef = [0.5, 0.5, 1.0]
            coef[pos] = bad
            with pytest.raises(TypeError, match=nm):
                nashmp.mirror_step(lp, lr, g, *coef, backend=backend)
    assert_unchanged(before, [lp, lr, g])
    # numpy / integer scalars are fine
    got = nashmp.mirror_step(lp, lr, g, np.float32(0.5), np.int64(0), 1, backend=backend)
    assert_log_close(got, sps.log_softmax(0.5 * lp + g, axis=-1), F64)


def test_huge_logits_no_overflow(backend, dtype):
    """Values near the float max: a naive exp() overflows, the online max does not."""
    big = 3e38 if dtype == F32 else 1.7e308
    x = np.array([[big, big * 0.5, -big], [-big, -big, -big]], dtype)
    lse = nashmp.logsumexp(x, backend=backend)
    assert lse[0] == x[0, 0]
    assert_log_close(lse[1], f64(x[1, 0]) + math.log(3), dtype)
    sm = nashmp.softmax(x, backend=backend)
    np.testing.assert_array_equal(sm[0], [1, 0, 0])
    assert np.isfinite(sm).all()


@pytest.mark.skipif("numba" not in AVAILABLE, reason="numba backend not available")
def test_numba_exp_red_bounds():
    """The Numba backend's reduced-range exp (the solver loop's exps of log-policies and of values
    minus their max) against mpmath, in ulps of the correctly rounded value: <= 1.05 on
    [-708, 0] and around 0 (the bound of the C kernels' exp_red); 0 below e^-708 and for -inf,
    NaN for NaN; its table holds 2^(j/256) correctly rounded."""
    from decimal import Decimal, localcontext

    import mpmath
    from numba import njit

    from nashmp._numba_kernels import _EXPRED_TAB, exp_red

    with localcontext() as ctx:
        ctx.prec = 40
        want_tab = [float(Decimal(2) ** (Decimal(j) / 256)) for j in range(256)]
    got_tab = (_EXPRED_TAB + (np.arange(256, dtype=np.int64) << 44)).view(np.float64)
    np.testing.assert_array_equal(got_tab, want_tab)

    @njit
    def apply(x, out):
        for j in range(x.shape[0]):
            out[j] = exp_red(x[j])

    rng = np.random.default_rng(12)
    x = np.concatenate([rng.uniform(-708.0, 0.0, 6000), rng.uniform(-5.0, 1e-12, 6000),
                        rng.uniform(-708.0, -700.0, 2000), -np.abs(rng.standard_normal(2000)),
                        [0.0, -0.0, -1e-300, -708.0, 1e-15]])
    got = np.empty_like(x)
    apply(x, got)
    with mpmath.workprec(120):
        want = [mpmath.exp(mpmath.mpf(float(v))) for v in x]
    ulp = max(abs(float((mpmath.mpf(float(g)) - w) / np.spacing(float(w))))
              for g, w in zip(got, want))
    assert ulp <= 1.05, f"max error {ulp:.3f} ulp"
    sp = np.array([-708.01, -709.0, -1e300, -np.inf, np.nan])
    out = np.empty_like(sp)
    apply(sp, out)
    np.testing.assert_array_equal(out[:4], 0.0)
    assert np.isnan(out[4])


@pytest.mark.skipif("numba" not in AVAILABLE, reason="numba backend not available")
def test_numba_exp_within_one_ulp():
    """The Numba backend's exp (straight-line code, so that its loops vectorize) against NumPy's,
    in units in the last place of the correctly rounded value: the whole double range, subnormal
    results, and the special values (-inf -> 0, +inf and overflow -> inf, NaN -> NaN)."""
    from numba import njit

    from nashmp._numba_kernels import exp as nexp

    @njit
    def apply(x, out):
        for j in range(x.shape[0]):
            out[j] = nexp(x[j])

    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-745.2, 709.8, 400_000), 3 * rng.standard_normal(200_000),
                        rng.uniform(-746.0, -700.0, 50_000), np.arange(-746, 711, 0.25),
                        [-np.inf, np.inf, np.nan, -1e300, 1e300, 0.0, -0.0, 5e-324, -745.13,
                         -745.14, 709.78, 709.79]])
    got = np.empty_like(x)
    apply(x, got)
    with np.errstate(over="ignore"):
        want = np.exp(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    fin = np.isfinite(want)
    ulp = np.abs(got[fin] - want[fin]) / np.spacing(want[fin])
    assert ulp.max() <= 1.0, f"max error {ulp.max():.3f} ulp at x = {x[fin][np.argmax(ulp)]!r}"
