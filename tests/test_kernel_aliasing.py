"""``out=`` sharing memory with an input, and backend agreement on two edge inputs.

``out`` exactly an input (same pointer, shape and strides) runs in place for the element-wise
kernels; any other overlap, and any overlap in ``preference_apply`` (a matrix-vector product), must
give the value computed on separate arrays. Expected values are plain float64 NumPy formulas on
copies taken before the call (not nashmp code).
"""
from __future__ import annotations

import numpy as np
import pytest

import nashmp
from conftest import AVAILABLE, backend_params
from nashmp._validation import unalias

B, K = 5, 37            # B > 4: the numba shared-P product's 4-game blocks and its remainder
COEF = (0.4, 0.6, 0.8)
ARGS = {"logsumexp": ("x",), "span": ("x",), "log_softmax": ("x",), "softmax": ("x",),
        "kl": ("logp", "logq"), "preference_apply": ("P", "pi"),
        "mirror_step": ("log_pi", "log_ref", "g")}
REDUCTIONS = ("logsumexp", "span", "kl")


@pytest.fixture(params=backend_params() + [pytest.param("auto", id="auto")])
def be(request):
    return request.param


def _lse(z):
    m = z.max(-1, keepdims=True)
    return m + np.log(np.exp(z - m).sum(-1, keepdims=True))


def expected(name, args):
    """The kernel's value from float64 copies of its inputs."""
    a = [np.array(v, np.float64) for v in args]
    if name == "logsumexp":
        return _lse(a[0])[..., 0]
    if name == "span":
        return a[0].max(-1) - a[0].min(-1)
    if name == "log_softmax":
        return a[0] - _lse(a[0])
    if name == "softmax":
        return np.exp(a[0] - _lse(a[0]))
    if name == "kl":
        return (np.exp(a[0]) * (a[0] - a[1])).sum(-1)
    if name == "preference_apply":
        P, pi = a
        return np.einsum("...yj,...j->...y", P, pi)
    z = COEF[0] * a[0] + COEF[1] * a[1] + COEF[2] * a[2]
    return z - _lse(z)


def run(name, args, backend, out):
    fn = getattr(nashmp, name)
    extra = COEF if name == "mirror_step" else ()
    return fn(*args, *extra, out=out, backend=backend)


def check(got, want, dtype):
    r = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=r, atol=r)


def values(name, arg, shape, rng):
    """Valid values for input ``arg`` of kernel ``name`` (float64)."""
    if arg in ("P", "g"):
        return rng.random(shape)
    if arg == "pi":
        return rng.dirichlet(np.ones(shape[-1]), shape[:-1] or None).reshape(shape)
    x = rng.normal(size=shape) * 3
    return x if arg == "x" else x - _lse(x)          # log-probabilities


def out_shape(name, shape):
    return shape[:-1] if name in REDUCTIONS else shape


def inputs_with_view(name, i, bshape, dtype, rng, off):
    """The inputs of ``name``, input ``i`` a view of a flat buffer, and ``out`` the view of the
    same buffer starting ``off`` elements later (``off = 0``: ``out`` is input ``i`` itself)."""
    shape = bshape + (K,)
    shapes = [(K, K) if a == "P" else shape for a in ARGS[name]]
    args = [values(name, a, s, rng).astype(dtype) for a, s in zip(ARGS[name], shapes)]
    n_in = args[i].size
    oshape = out_shape(name, shape)
    buf = np.zeros(max(n_in, off + int(np.prod(oshape))), dtype)
    buf[:n_in] = args[i].ravel()
    args[i] = buf[:n_in].reshape(shapes[i])
    out = args[i] if off == 0 else buf[off:off + int(np.prod(oshape))].reshape(oshape)
    return args, out


ALIAS_CASES = [(n, i) for n in ARGS for i in range(len(ARGS[n]))]
# out one element after a reduction's input lies in row 0, already read: only the row shift
PARTIAL = [(n, i, s) for n, i in ALIAS_CASES for s in ("element", "row")
           if (n, i) != ("preference_apply", 0) and not (n in REDUCTIONS and s == "element")]
SAME_SHAPE = [(n, i) for n, i in ALIAS_CASES                # inputs shaped like out
              if n not in REDUCTIONS and (n, i) != ("preference_apply", 0)]


@pytest.mark.parametrize("name,i,shift", PARTIAL,
                         ids=[f"{n}-{ARGS[n][i]}-{s}" for n, i, s in PARTIAL])
def test_out_partially_overlapping_an_input(name, i, shift, be, dtype, rng):
    """``out`` starts 1 element (or 1 row) after input ``i``: writing it clobbers values of the
    input not yet read, unless the kernel reads a copy."""
    args, out = inputs_with_view(name, i, (B,), dtype, rng, 1 if shift == "element" else K)
    assert np.shares_memory(out, args[i]) and out.flags.c_contiguous
    want = expected(name, args)
    res = run(name, args, be, out)
    assert res is out
    check(out, want, dtype)


@pytest.mark.parametrize("bshape", ((), (B,)), ids=("single", "batched"))
@pytest.mark.parametrize("name,i", SAME_SHAPE, ids=[f"{n}-{ARGS[n][i]}" for n, i in SAME_SHAPE])
def test_out_is_an_input(name, i, bshape, be, dtype, rng):
    """``out`` exactly input ``i``: in place (``out`` returned, right values); for ``P pi``
    (every output reads all of ``pi``) through a copy of ``pi``."""
    args, out = inputs_with_view(name, i, bshape, dtype, rng, 0)
    assert out is args[i]
    want = expected(name, args)
    res = run(name, args, be, out)
    assert res is out
    check(out, want, dtype)


def test_out_is_an_input_in_place_without_copy(dtype, rng):
    """The identical view is handed to the kernel as is; any other overlap is copied."""
    x = rng.normal(size=(B, K)).astype(dtype)
    assert unalias(x, x)[0] is x
    assert unalias(x, x, in_place=False)[0] is not x
    buf = np.zeros(B * K + 1, dtype)
    x, out = buf[:B * K].reshape(B, K), buf[1:].reshape(B, K)
    got = unalias(out, x)[0]
    assert got is not x and not np.shares_memory(got, out)
    np.testing.assert_array_equal(got, x)
    other = np.zeros_like(x)
    assert unalias(other, x)[0] is x                # no overlap: no copy


@pytest.mark.parametrize("batched", (False, True), ids=("sharedP", "perGameP"))
def test_out_overlapping_P(batched, be, dtype, rng):
    """``preference_apply`` with ``out`` a row (block) of ``P`` read by later outputs."""
    P = rng.random((B, K, K) if batched else (K, K)).astype(dtype)
    pi = values("preference_apply", "pi", (B, K) if batched else (K,), rng).astype(dtype)
    flat = P.reshape(-1)
    out = flat[K:K + pi.size].reshape(pi.shape)     # starts at P's second row
    want = expected("preference_apply", (P, pi))
    assert nashmp.preference_apply(P, pi, out=out, backend=be) is out
    check(out, want, dtype)


# ---- the same edge input on every backend ------------------------------------------------------

def _each_backend(fn):
    res = {}
    for b in AVAILABLE:
        try:
            res[b] = fn(b)
        except Exception as e:                      # noqa: BLE001  (reported per backend below)
            res[b] = e
    return res


def test_preference_apply_float32_overflow_agrees():
    """A float64 sum beyond the float32 range is stored as inf (status OK) on every backend."""
    P = np.full((2, 2), 3e38, np.float32)
    pi = np.ones(2, np.float32)
    res = _each_backend(lambda b: nashmp.preference_apply(P, pi, backend=b))
    for b, r in res.items():
        assert isinstance(r, np.ndarray), f"{b}: {r!r}"
        assert r.dtype == np.float32 and np.isposinf(r).all(), f"{b}: {r}"


@pytest.mark.parametrize("which", ("log_pi", "log_ref", "g"))
def test_mirror_step_zero_coefficient_ignores_nan_agrees(which):
    """A coefficient exactly 0 makes its term 0 whatever its input holds (NaN included)."""
    arrs = {"log_pi": np.zeros(3), "log_ref": np.zeros(3), "g": np.ones(3)}
    arrs[which] = np.full(3, np.nan)
    coef = {"log_pi": 1.0, "log_ref": 1.0, "g": 1.0}
    coef[which] = 0.0
    res = _each_backend(lambda b: nashmp.mirror_step(
        arrs["log_pi"], arrs["log_ref"], arrs["g"], coef["log_pi"], coef["log_ref"], coef["g"],
        backend=b))
    for b, r in res.items():
        assert isinstance(r, np.ndarray), f"{b}: {r!r}"
        np.testing.assert_allclose(r, np.full(3, -np.log(3.0)), rtol=1e-15, err_msg=b)
