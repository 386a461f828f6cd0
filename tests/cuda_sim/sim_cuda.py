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


def test_device_out_overlapping_inputs(dt):
    """out= sharing device memory with an input (in place, shifted rows, the policy of a product):
    each kernel writes a fresh device array and then copies it to out, so the values are those of
    separate arrays."""
    rng = np.random.default_rng(16)
    x = _logits(rng, (3, 9), dt)
    dx = cuda.to_device(x)
    assert nashmp.log_softmax(dx, out=dx, backend="cuda") is dx
    _close(dx.copy_to_host(), ref.log_softmax(x), dt, "device log_softmax in place")
    db = cuda.to_device(np.concatenate([x, x[:1]]))
    nashmp.softmax(db[:3], out=db[1:], backend="cuda")              # row r written to row r + 1
    _close(db.copy_to_host()[1:], ref.softmax(x), dt, "device softmax, out shifted by one row")
    P = rng.random((9, 9)).astype(dt)
    pi = ref.softmax(x).astype(dt)
    dpi = cuda.to_device(pi)
    nashmp.preference_apply(cuda.to_device(P), dpi, out=dpi, backend="cuda")
    _close(dpi.copy_to_host(), ref.preference_apply(P, pi), dt, "device preference_apply out=pi")


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


# ---- matrix-free operators (nashmp.operators, backend="cuda") -------------------------------
#
# Reference: the operator's dense float64 matrix (op.todense(), built entry by entry from the
# operator's data on the host, never by the kernels). K = 17 crosses the simulator's tiles (8 rows,
# 8 columns, 2 games per pass, low-rank chunks of 8); B = 3 crosses a game group.

OPS = ["lowrank", "bradley_terry", "packed", "embedding", "dense"]


def _operator(kind, dt, K, rng):
    U = rng.standard_normal((K, 2)) * 0.25
    V = rng.standard_normal((K, 2)) * 0.25
    if kind == "lowrank":
        return nashmp.LowRankSkew(U.astype(dt), V.astype(dt), check=False)
    if kind == "bradley_terry":
        return nashmp.BradleyTerry((rng.standard_normal(K) * 2).astype(dt))
    if kind == "embedding":
        A = rng.standard_normal((3, 3))
        return nashmp.Embedding((rng.standard_normal((K, 3)) / 2).astype(dt), (A - A.T).astype(dt))
    Pd = 1.0 / (1.0 + np.exp(-(U @ V.T - V @ U.T) * 4))          # a preference matrix
    if kind == "packed":
        return nashmp.PackedDense.from_dense(Pd.astype(dt))
    return nashmp.Dense(Pd.astype(dt))


@pytest.mark.parametrize("kind", OPS)
def test_operator_apply_and_mirror_step(kind, dt):
    rng = np.random.default_rng(OPS.index(kind))
    K, B = 17, 3
    op = _operator(kind, dt, K, rng)
    P = op.todense().astype(np.float64)
    np.testing.assert_allclose(P + P.T, 1.0, atol=1e-6)
    pi = ref.softmax(rng.standard_normal((B, K)) * 2).astype(dt)
    g = op.apply(pi, backend="cuda")
    assert g.dtype == dt and g.shape == (B, K)
    _close(g, pi.astype(np.float64) @ P.T, dt, f"{kind} apply")
    _close(op.apply(pi[1], backend="cuda"), pi[1].astype(np.float64) @ P.T, dt,
           f"{kind} apply, one policy")
    assert op.n_applications == 2 and op.n_queries == B + 1
    # fused prox step: -inf in log_pi and log_ref (legal: the rows keep finite entries)
    pg = ref.softmax(rng.standard_normal((B, K)))
    lp = _logp(rng, (B, K), F64)
    lp[0, 3] = -np.inf
    lr = _logp(rng, (K,), F64)
    lr[5] = -np.inf
    gd = pg @ P.T
    outs = []
    for a, b, c, lref in ((0.8, 0.2, 1.5, lr), (0.0, 0.0, 2.0, None)):   # (a, b) = 0: not read
        pw = np.full((B, K), np.nan)
        outs.append(op.mirror_step(lp, lref, pg, a, b, c, pi_out=pw, backend="cuda"))
        want = ref.mirror_step(lp if a else np.zeros((B, K)), lref, gd, a, b, c)
        _close(outs[-1], want, dt, f"{kind} mirror_step a={a} b={b}")
        _close(pw, np.exp(want), dt, f"{kind} pi_out")
    assert np.isneginf(outs[0][:, 5]).all() and np.isneginf(outs[0][0, 3])
    assert np.isfinite(outs[1]).all() and op.n_queries == B + 1 + 2 * B


def test_operator_cuda_errors():
    rng = np.random.default_rng(9)
    op = _operator("lowrank", F64, 6, rng)
    with pytest.raises(ValueError, match="6 actions"):
        op.apply(np.ones(5) / 5, backend="cuda")
    with pytest.raises(ValueError, match="NaN"):
        op.apply(np.full(6, np.nan), backend="cuda")
    with pytest.raises(TypeError):
        op.apply(np.array(["a"] * 6), backend="cuda")
    pg = np.ones(6) / 6
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        op.mirror_step(np.full(6, np.inf), None, pg, 1.0, 0.0, 1.0, backend="cuda")
    with pytest.raises(ValueError, match="entry above -inf"):    # a row that is all -inf
        op.mirror_step(np.full(6, -np.inf), None, pg, 1.0, 0.0, 1.0, backend="cuda")
    with pytest.raises(RuntimeError, match="no CUDA kernel"):
        nashmp.PairFunction(lambda i, j: 0.1 * (j - i), K=4).apply(np.ones(4) / 4,
                                                                    backend="cuda")
    dense = nashmp.Dense(np.stack([RPS, RPS.T]))               # one game per policy
    pi2 = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    _close(dense.apply(pi2, backend="cuda"), np.einsum("bij,bj->bi", dense.P, pi2), F64,
           "batched Dense")
    # 3 x 2 policies, 2 games: one matrix per broadcast row, as on the CPU backends
    pi32 = np.broadcast_to(pi2, (3, 2, 3))
    g32 = np.einsum("bij,abj->abi", dense.P, pi32)
    _close(dense.apply(pi32, backend="cuda"), g32, F64, "Dense, policies broadcast")
    _close(dense.mirror_step(np.zeros((3, 2, 3)), None, pi32, 1.0, 0.0, 1.0, backend="cuda"),
           g32 - np.log(np.exp(g32).sum(axis=-1, keepdims=True)), F64,
           "Dense step, policies broadcast")
    with pytest.raises(ValueError, match="batch dimensions"):   # 4 policies, 2 games
        dense.apply(np.ones((4, 3)) / 3, backend="cuda")


@pytest.mark.parametrize("kind", ["lowrank", "bradley_terry", "packed"])
def test_operator_module_functions_device_and_host(kind, dt):
    """The module-level kernels: device arrays in place (device result), host arrays copied;
    bad shapes and dtypes are clear errors."""
    rng = np.random.default_rng(20 + OPS.index(kind))
    K, B = 11, 2
    op = _operator(kind, dt, K, rng)
    P = op.todense().astype(np.float64)
    data = ((op.U.copy(), op.V.copy()) if kind == "lowrank" else
            (op.scores,) if kind == "bradley_terry" else (op.packed,))
    apply_fn = getattr(ck, f"{kind}_apply")
    step_fn = getattr(ck, f"{kind}_mirror_step")
    pi = ref.softmax(rng.standard_normal((B, K))).astype(dt)
    d = [cuda.to_device(np.ascontiguousarray(a)) for a in data]
    g = apply_fn(*d, cuda.to_device(pi))
    assert ck.is_device_array(g)
    _close(g.copy_to_host(), pi.astype(np.float64) @ P.T, dt, f"{kind} device apply")
    _close(apply_fn(*data, pi), pi.astype(np.float64) @ P.T, dt, f"{kind} host apply")
    lp = _logp(rng, (B, K), F64)
    lr = _logp(rng, (K,), F64)
    pw = cuda.device_array((B, K))
    out = step_fn(*d, cuda.to_device(pi.astype(np.float64)), cuda.to_device(lp),
                  cuda.to_device(lr), 0.7, 0.3, 1.2, pi_out=pw)
    want = ref.mirror_step(lp, lr, pi.astype(np.float64) @ P.T, 0.7, 0.3, 1.2)
    _close(out.copy_to_host(), want, dt, f"{kind} device mirror_step")
    _close(pw.copy_to_host(), np.exp(want), dt, f"{kind} device pi_out")
    with pytest.raises(ValueError, match="actions|shape"):
        apply_fn(*data, pi[:, :-1])
    with pytest.raises(TypeError, match="same side"):
        apply_fn(*d, pi)
    with pytest.raises(TypeError, match="dtype"):
        step_fn(*d, cuda.to_device(pi.astype(np.float32)), cuda.to_device(lp),
                cuda.to_device(lr), 0.7, 0.3, 1.2)
    with pytest.raises(ValueError, match="distribution"):
        step_fn(*data, pi, np.full((B, K), -np.inf), None, 1.0, 0.0, 1.0)


def test_packed_k1_and_module_embedding_step():
    op = nashmp.PackedDense(np.zeros(0), 1)
    np.testing.assert_array_equal(op.apply(np.ones((2, 1)), backend="cuda"), 0.5)
    np.testing.assert_array_equal(ck.packed_apply(None, np.ones((2, 1))), 0.5)
    rng = np.random.default_rng(31)
    emb = _operator("embedding", F64, 9, rng)
    P = emb.todense()
    pi = ref.softmax(rng.standard_normal(9))
    lp = _logp(rng, (9,), F64)
    _close(ck.embedding_mirror_step(emb.E, emb.R, pi, lp, None, 0.5, 0.0, 2.0),
           ref.mirror_step(lp, None, pi @ P.T, 0.5, 0.0, 2.0), F64, "embedding_mirror_step")


# ---- operator solver: solve(op, backend="cuda") == solve(op, backend="c") --------------------

OP_METHODS = METHODS + ["prox_point"]


@pytest.mark.parametrize("method", OP_METHODS)
def test_operator_solve_matches_cpu(method):
    """Every method (each on another operator kind, all kinds covered): same iterates, iteration
    and query counts and exploitability as the CPU operator solve, two games."""
    i = OP_METHODS.index(method)
    kind = OPS[i % len(OPS)]
    rng = np.random.default_rng(40 + i)
    K = 5
    op = _operator(kind, F64, K, rng)
    init = ref.softmax(rng.standard_normal((2, K)))
    if method == "prox_point":
        kw = dict(beta=np.array([0.3, 0.6]), tol=1e-3, inner_tol=1e-3, max_iter=2,
                  check_every=2)
    else:
        kw = dict(beta=0.0 if method == "sppo" else np.array([0.3, 0.6]), tol=-1.0, max_iter=4,
                  check_every=2)
    rc = _solve(CPU, op, method, init=init, **kw)
    rg = _solve("cuda", op, method, init=init, **kw)
    assert rg.backend == "cuda"
    np.testing.assert_allclose(rg.log_policy, rc.log_policy, rtol=0, atol=1e-11)
    np.testing.assert_array_equal(rg.nit, rc.nit)
    np.testing.assert_array_equal(rg.n_queries, rc.n_queries)
    np.testing.assert_allclose(rg.exploitability, rc.exploitability, rtol=0, atol=1e-11)
    assert (rg.nit > 0).all()


def test_operator_solve_float32_and_dense_reference():
    """float32 operator data on the device; and the cuda operator solve against the dense solver
    on the operator's own matrix (an independent path: one kernel launch per solve)."""
    rng = np.random.default_rng(50)
    op = _operator("packed", F32, 6, rng)
    kw = dict(beta=0.4, tol=-1.0, max_iter=4, check_every=2)
    rc = _solve(CPU, op, "nash_mp", **kw)
    rg = _solve("cuda", op, "nash_mp", **kw)
    assert rg.log_policy.dtype == np.float32
    np.testing.assert_allclose(rg.log_policy, rc.log_policy, rtol=0, atol=2e-6)
    rd = _solve(CPU, op.todense().astype(np.float64), "nash_mp", **kw)
    np.testing.assert_allclose(rg.log_policy, rd.log_policy, rtol=0, atol=2e-6)
