"""The numba-cuda backend under the CUDA simulator, against the float64 NumPy reference and the CPU
solver. Run by ``tests/test_cuda.py::test_cuda_simulator_suite`` in a subprocess with
``NUMBA_ENABLE_CUDASIM=1`` (the variable must be set before numba is imported, and the main test
process has numba loaded already). The file name does not match ``test_*.py`` so the main run
does not collect it. By hand::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda_sim/sim_cuda.py

The simulator runs every thread of a block as a Python thread: shapes are small on purpose, yet
they exercise the strided row loops (k > threads per block), ``-inf`` entries, broadcast rows,
float32 and float64, device-array (zero-copy) and host (copy in / out) inputs.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":      # pragma: no cover - guard
    pytest.skip("run with NUMBA_ENABLE_CUDASIM=1 (see tests/test_cuda.py)",
                allow_module_level=True)
pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install nashmp[cuda])")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from numba import cuda  # noqa: E402

import nashmp  # noqa: E402
from nashmp import _cuda_kernels as ck  # noqa: E402
from nashmp import _reference as ref  # noqa: E402

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
TOL = {F64: 1e-13, F32: 2e-6}
SHAPES = [(3, 5), (2, 41)]           # 41 > threads per block: strided loops and tree merges
CPU = "c" if "c" in nashmp.available_backends() else "numpy"


@pytest.fixture(params=[F64, F32], ids=["f64", "f32"])
def dt(request):
    return request.param


def _close(got, want, dt, what):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    bad = ~np.isfinite(want)
    np.testing.assert_array_equal(got[bad], want[bad], err_msg=f"{what}: non-finite entries")
    err = np.abs(got[~bad] - want[~bad]) / np.maximum(1.0, np.abs(want[~bad]))
    assert err.size == 0 or err.max() <= TOL[dt], f"{what}: error {err.max():.3g} > {TOL[dt]}"


def _logits(rng, shape, dt, ninf=True):
    x = rng.standard_normal(shape) * 3.0
    if ninf:
        x[..., 1] = -np.inf
    return x.astype(dt)


def _logp(rng, shape, dt):
    return ref.log_softmax(rng.standard_normal(shape) * 2.0).astype(dt)


def test_backend_registered_and_auto_never_picks_it():
    assert "cuda" in nashmp.available_backends()
    assert nashmp._backend.resolve("cuda") == "cuda"
    assert nashmp._backend.resolve("auto") != "cuda"


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["logsumexp", "log_softmax", "softmax", "span"])
def test_row_kernels(name, shape, dt):
    rng = np.random.default_rng(sum(map(ord, name)) + shape[1])
    x = _logits(rng, shape, dt)
    got = getattr(nashmp, name)(x, backend="cuda")
    assert isinstance(got, np.ndarray) and got.dtype == dt
    _close(got, getattr(ref, name)(x), dt, name)


def test_all_ninf_rows_and_scalar(dt):
    x = np.full((2, 4), -np.inf, dt)
    x[1] = [0.0, 1.0, -np.inf, 2.0]
    assert nashmp.logsumexp(x, backend="cuda")[0] == -np.inf
    assert (nashmp.softmax(x, backend="cuda")[0] == 0).all()
    assert (nashmp.log_softmax(x, backend="cuda")[0] == -np.inf).all()
    assert nashmp.span(x, backend="cuda").tolist() == [0.0, np.inf]
    r = nashmp.logsumexp(np.log(np.array([0.25, 0.25, 0.5], dt)), backend="cuda")
    assert np.ndim(r) == 0 and abs(float(r)) < 10 * TOL[dt]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_kl(shape, dt):
    rng = np.random.default_rng(shape[1])
    p = _logp(rng, shape, dt)
    p[0, 2] = -np.inf                    # 0 log 0 = 0
    q = _logp(rng, shape[-1:], dt)       # one row broadcast over the batch
    _close(nashmp.kl(p, q, backend="cuda"), ref.kl(p, q), dt, "kl")
    q2 = np.array(np.broadcast_to(q, shape))
    q2[1, 3] = -np.inf                   # p > 0 where q = 0: +inf
    _close(nashmp.kl(p, q2, backend="cuda"), ref.kl(p, q2), dt, "kl inf")


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "batched"])
def test_preference_apply(shared, dt):
    rng = np.random.default_rng(3)
    B, K = 3, 19
    P = rng.random((K, K) if shared else (B, K, K)).astype(dt)
    pi = ref.softmax(rng.standard_normal((B, K))).astype(dt)
    _close(nashmp.preference_apply(P, pi, backend="cuda"), ref.preference_apply(P, pi), dt,
           "preference_apply")


def test_mirror_step(dt):
    rng = np.random.default_rng(4)
    B, K = 3, 23
    lp = _logp(rng, (B, K), dt)
    lr = _logp(rng, (K,), dt)
    g = rng.random((B, K)).astype(dt)
    a, b, c = 1 / 1.2, 0.2 / 1.2, 1 / 1.2
    _close(nashmp.mirror_step(lp, lr, g, a, b, c, backend="cuda"),
           ref.mirror_step(lp, lr, g, a, b, c), dt, "mirror_step")
    lr2 = np.array(np.broadcast_to(lr, (B, K)))
    lr2[:, 0] = -np.inf                  # b == 0: log_ref not read (also None)
    _close(nashmp.mirror_step(lp, lr2, g, 0.5, 0.0, 2.0, backend="cuda"),
           ref.mirror_step(lp, None, g, 0.5, 0.0, 2.0), dt, "mirror_step b=0")
    _close(nashmp.mirror_step(lp, None, g, 0.5, 0.0, 2.0, backend="cuda"),
           ref.mirror_step(lp, None, g, 0.5, 0.0, 2.0), dt, "mirror_step None")


def test_embedding_apply(dt):
    rng = np.random.default_rng(5)
    K, d, B = 37, 19, 5                  # K, d not multiples of the tiles (16); B > games/block
    E = rng.standard_normal((K, d)) / np.sqrt(d)
    A = rng.standard_normal((d, d))
    R = A - A.T
    pi = ref.softmax(rng.standard_normal((B, K)))
    E, R, pi = E.astype(dt), R.astype(dt), pi.astype(dt)
    Ef, Rf = E.astype(np.float64), R.astype(np.float64)
    Pd = 1.0 / (1.0 + np.exp(-(Ef @ Rf @ Ef.T)))          # dense reference, never formed on device
    np.testing.assert_allclose(Pd + Pd.T, 1.0, atol=1e-12)  # skew R: a preference matrix
    got = ck.embedding_apply(E, R, pi)
    assert got.dtype == dt and got.shape == (B, K)
    _close(got, pi.astype(np.float64) @ Pd.T, dt, "embedding_apply")


def test_device_arrays_zero_copy_and_out(dt):
    rng = np.random.default_rng(6)
    x = _logits(rng, (3, 9), dt)
    dx = cuda.to_device(x)
    r = nashmp.logsumexp(dx, backend="cuda")
    assert ck.is_device_array(r), type(r)
    _close(r.copy_to_host(), ref.logsumexp(x), dt, "device logsumexp")
    out = cuda.device_array((3, 9), dtype=dt)
    assert nashmp.log_softmax(dx, out=out, backend="cuda") is out
    _close(out.copy_to_host(), ref.log_softmax(x), dt, "device log_softmax out=")
    np.testing.assert_array_equal(dx.copy_to_host(), x)     # input unchanged
    P = rng.random((9, 9)).astype(dt)
    pi = ref.softmax(x).astype(dt)
    g = nashmp.preference_apply(cuda.to_device(P), cuda.to_device(pi), backend="cuda")
    _close(g.copy_to_host(), ref.preference_apply(P, pi), dt, "device preference_apply")
    with pytest.raises(TypeError, match="same side"):
        nashmp.kl(dx, x, backend="cuda")


def test_bad_input_host_arrays():
    x = np.array([[0.0, np.nan, 1.0]])
    for fn in (nashmp.logsumexp, nashmp.softmax, nashmp.span):
        with pytest.raises(ValueError, match="NaN"):
            fn(x, backend="cuda")
    with pytest.raises(ValueError, match="distribution"):
        nashmp.mirror_step(np.full(3, -np.inf), None, np.zeros(3), 1.0, 0.0, 1.0,
                           backend="cuda")
    with pytest.raises(TypeError):
        nashmp.logsumexp(np.array(["a"]), backend="cuda")


# ---- solver ---------------------------------------------------------------------------------

RPS = np.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
METHODS = ["nash_mp", "nash_md", "omd", "mmd", "omwu", "extragradient", "sppo"]


def _solve(backend, P, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return nashmp.solve(P, method=method, backend=backend, **kw)


@pytest.mark.parametrize("method", METHODS)
def test_solver_methods_match_cpu_on_rps(method):
    """Every method, fixed 12 iterations from a non-uniform start: same iterates, counts and
    exploitability as the CPU solver."""
    kw = dict(beta=0.0 if method == "sppo" else 0.4, init=[0.6, 0.3, 0.1], tol=-1.0,
              max_iter=12, check_every=5)
    rc = _solve(CPU, RPS, method, **kw)
    rg = _solve("cuda", RPS, method, **kw)
    assert rg.backend == "cuda"
    np.testing.assert_allclose(rg.log_policy, rc.log_policy, rtol=0, atol=1e-12)
    assert rg.nit == rc.nit == 12 and rg.n_queries == rc.n_queries
    np.testing.assert_allclose(rg.exploitability, rc.exploitability, rtol=0, atol=1e-12)


def test_solver_rps_converges_to_uniform():
    r = _solve("cuda", RPS, "nash_mp", beta=0.5, init=[0.7, 0.2, 0.1], tol=1e-10,
               check_every=2)
    assert r.success and r.exploitability <= 1e-10
    # SubOpt >= beta KL(pi*||pi) >= beta |pi - pi*|_1^2 / 2: |pi - 1/3| <= sqrt(2e-10 / beta)
    np.testing.assert_allclose(r.policy, 1 / 3, atol=3e-5)


def test_solver_random_games_match_cpu():
    rng = np.random.default_rng(11)
    A = rng.random((2, 7, 7))
    P = (A + 1 - A.transpose(0, 2, 1)) / 2
    rc = _solve(CPU, P, "nash_mp", beta=np.array([0.3, 0.7]), tol=1e-9, check_every=3)
    rg = _solve("cuda", P, "nash_mp", beta=np.array([0.3, 0.7]), tol=1e-9, check_every=3)
    assert rg.success and rc.success
    np.testing.assert_array_equal(rg.nit, rc.nit)          # each game stops on its own check
    np.testing.assert_allclose(rg.log_policy, rc.log_policy, rtol=0, atol=1e-12)
    # float32 P (iterates in float64): same as the CPU solver on the same float32 matrix
    P32 = P.astype(np.float32)
    rc = _solve(CPU, P32, "nash_mp", beta=0.3, tol=-1.0, max_iter=15, check_every=5)
    rg = _solve("cuda", P32, "nash_mp", beta=0.3, tol=-1.0, max_iter=15, check_every=5)
    assert rg.log_policy.dtype == np.float32
    np.testing.assert_allclose(rg.log_policy, rc.log_policy, rtol=0, atol=1e-6)
    # exploitability through the public metric on the cuda kernels
    e_c = nashmp.exploitability(P, rc.log_policy.astype(np.float64), 0.3, backend=CPU)
    e_g = nashmp.exploitability(P, rc.log_policy.astype(np.float64), 0.3, backend="cuda")
    np.testing.assert_allclose(e_g, e_c, rtol=0, atol=1e-12)


def test_solver_device_matrix():
    P = cuda.to_device(RPS)
    r = nashmp.solve(P, 0.5, init=[0.7, 0.2, 0.1], tol=1e-9, check_every=2, backend="cuda")
    assert r.success and r.backend == "cuda"
