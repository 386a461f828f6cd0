"""Matrix-free preference operators (nashmp.operators): each operator equals the dense matrix it
represents (apply, entries, todense, fused prox step) on every backend and dtype; solves and
metrics on an operator equal those on its dense matrix; bad input errors; O(K d) memory."""
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import nashmp
from nashmp import operators as O
from nashmp._backend import available_backends

BACKENDS = [b for b in ("c", "numba", "numpy") if b in available_backends()]
DTYPES = (np.float64, np.float32)
TOL = {np.float64: 1e-12, np.float32: 3e-6}   # absolute, on g (entries in [0, 1], sum pi = 1)
KS = (1, 3, 41, 300)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


_PAIR = []


def _pair_s():
    """One jitted pair function for the whole file (each new function is a new compilation)."""
    if not _PAIR:
        import numba

        @numba.njit
        def s(ei, ej):
            return (ei[0] * ej[1] - ei[1] * ej[0]) * 1.5 + (ei[2] - ej[2])
        _PAIR.append(s)
    return _PAIR[0]


def _make(kind, K, dtype, seed=0):
    """(operator, independently built float64 dense matrix)."""
    rng = np.random.default_rng(seed + K)
    if kind == "embedding":
        d = 5
        E = rng.standard_normal((K, d)).astype(dtype)
        R = rng.standard_normal((d, d))
        R = (R - R.T).astype(dtype)
        Ef, Rf = E.astype(np.float64), R.astype(np.float64)
        return O.Embedding(E, R), _sig(Ef @ Rf @ Ef.T)
    if kind == "bradley_terry":
        s = rng.standard_normal(K).astype(dtype)
        sf = s.astype(np.float64)
        return O.BradleyTerry(s), _sig(sf[:, None] - sf[None, :])
    if kind == "lowrank":
        r = 3
        U = (0.2 * rng.standard_normal((K, r)) / np.sqrt(r)).astype(dtype)
        V = (0.2 * rng.standard_normal((K, r)) / np.sqrt(r)).astype(dtype)
        Uf, Vf = U.astype(np.float64), V.astype(np.float64)
        return O.LowRankSkew(U, V), 0.5 + Uf @ Vf.T - Vf @ Uf.T
    if kind == "packed":
        A = rng.standard_normal((K, K))
        P = _sig(A - A.T)
        P = (P + 1 - P.T) / 2
        return O.PackedDense.from_dense(P.astype(dtype)), P.astype(dtype).astype(np.float64)
    if kind == "dense":
        A = rng.standard_normal((K, K))
        P = _sig(A - A.T)
        return O.Dense(P.astype(dtype)), P.astype(dtype).astype(np.float64)
    if kind == "pair":
        E = rng.standard_normal((K, 4)).astype(dtype)
        Ef = E.astype(np.float64)
        S = 1.5 * (Ef[:, 0:1] * Ef[None, :, 1] - Ef[:, 1:2] * Ef[None, :, 0]) + \
            (Ef[:, 2:3] - Ef[None, :, 2])
        return O.PairFunction(_pair_s(), E=E, dtype=dtype), _sig(S)
    raise ValueError(kind)


KINDS = ("embedding", "bradley_terry", "lowrank", "packed", "dense", "pair")


def _policies(K, n=2, seed=1):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(K), n)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", KINDS)
def test_operator_equals_its_dense_matrix(kind, dtype):
    for K in KS if kind != "pair" else (1, 3, 41):
        op, D = _make(kind, K, dtype)
        assert op.shape == (K, K) and op.K == K and op.dtype == np.dtype(dtype)
        tol = TOL[dtype]
        np.testing.assert_allclose(op.todense(), D, atol=max(tol, 1e-7 if dtype == np.float32
                                                             else 1e-13), rtol=0)
        np.testing.assert_allclose(D + D.T, 1.0, atol=1e-6)
        rng = np.random.default_rng(K)
        i, j = rng.integers(0, K, (2, 7, 5))
        np.testing.assert_allclose(op.entries(i, j), D[i, j], atol=1e-6 if dtype == np.float32
                                   else 1e-13, rtol=0)
        pi = _policies(K)
        ref = pi @ D.T
        for be in BACKENDS:
            g = op.apply(pi.astype(dtype), backend=be)
            assert g.dtype == np.dtype(dtype) and g.shape == pi.shape
            np.testing.assert_allclose(g, ref, atol=tol, rtol=0, err_msg=f"{kind} {be} K={K}")
            g1 = op.apply(pi[0], backend=be)                       # 1-D policy, float64 out
            assert g1.shape == (K,) and g1.dtype == np.float64
            np.testing.assert_allclose(g1, ref[0], atol=tol, rtol=0)


@pytest.mark.parametrize("kind", ("embedding", "bradley_terry", "lowrank", "packed"))
def test_sizes_not_multiple_of_tiles_and_batch(kind):
    """K around the tile (256) and vector widths; a batch with leading dims; out=."""
    for K in (255, 257, 513):
        op, D = _make(kind, K, np.float64)
        pi = _policies(K, 6).reshape(2, 3, K)
        ref = pi @ D.T
        for be in BACKENDS:
            out = np.empty_like(pi)
            r = op.apply(pi, out=out, backend=be)
            assert r is out
            np.testing.assert_allclose(out, ref, atol=1e-12, rtol=0)



@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("r", (3, 8, 16, 32, 40))
def test_lowrank_every_rank_path(r, dtype):
    """The C kernels have copies for ranks 8, 16 and 32 (compile-time rank) beside the generic
    one: apply and the fused step of each against NumPy float64, at a K with 8-row groups and a
    tail, over more than one 1024-row sub-block."""
    K = 2051
    rng = np.random.default_rng(r)
    U = (0.1 * rng.standard_normal((K, r)) / np.sqrt(r)).astype(dtype)
    V = (0.1 * rng.standard_normal((K, r)) / np.sqrt(r)).astype(dtype)
    op = O.LowRankSkew(U, V)
    Uf, Vf = U.astype(np.float64), V.astype(np.float64)
    pi = rng.dirichlet(np.ones(K), 2)
    g = 0.5 * pi.sum(-1, keepdims=True) + (pi @ Vf) @ Uf.T - (pi @ Uf) @ Vf.T
    lp = np.log(rng.dirichlet(np.ones(K), 2))
    lr = np.log(rng.dirichlet(np.ones(K)))
    a, b, c = 1 / 1.2, 0.2 / 1.2, 2 / 1.2
    z = a * lp + b * lr + c * g
    want = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
    for be in BACKENDS:
        got = op.apply(pi.astype(dtype), backend=be).astype(np.float64)
        np.testing.assert_allclose(got, g, atol=10 * TOL[dtype], rtol=0, err_msg=be)
        step = op.mirror_step(lp, lr, pi, a, b, c, backend=be)
        np.testing.assert_allclose(step, want, atol=50 * TOL[dtype], rtol=0, err_msg=be)


@pytest.mark.skipif("c" not in BACKENDS, reason="the C backend is not built")
def test_lowrank_float_operator_double_pi():
    """A float32 low-rank operator applied to float64 policies on C reads pi and writes g in
    double (no round trip through float32): float64 result within float32 accuracy of the
    float64 product with the same (float32) factors, into a given float64 out, pi unchanged;
    NaN in pi is still reported."""
    K, r = 2051, 16
    rng = np.random.default_rng(5)
    U = (0.1 * rng.standard_normal((K, r)) / np.sqrt(r)).astype(np.float32)
    V = (0.1 * rng.standard_normal((K, r)) / np.sqrt(r)).astype(np.float32)
    op = O.LowRankSkew(U, V)
    Uf, Vf = U.astype(np.float64), V.astype(np.float64)
    pi = rng.dirichlet(np.ones(K), (2, 3))
    keep = pi.copy()
    g = 0.5 * pi.sum(-1, keepdims=True) + (pi @ Vf) @ Uf.T - (pi @ Uf) @ Vf.T
    got = op.apply(pi, backend="c")
    assert got.dtype == np.float64 and got.shape == (2, 3, K)
    np.testing.assert_allclose(got, g, atol=10 * TOL[np.float32], rtol=0)
    out = np.empty((2, 3, K))
    assert op.apply(pi, out=out, backend="c") is out
    np.testing.assert_array_equal(out, got)
    np.testing.assert_array_equal(pi, keep)
    np.testing.assert_allclose(op.apply(pi[0, 0], backend="c"), g[0, 0], atol=10 * TOL[np.float32],
                               rtol=0)
    bad = pi[0].copy()
    bad[1, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        op.apply(bad, backend="c")

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", KINDS)
def test_fused_step_equals_apply_then_mirror_step(kind, dtype):
    K = 41
    op, D = _make(kind, K, dtype)
    rng = np.random.default_rng(3)
    lp = np.log(rng.dirichlet(np.ones(K), 3))
    lp[0, 5] = -np.inf                                    # impossible action
    lr = np.log(rng.dirichlet(np.ones(K)))
    pg = rng.dirichlet(np.ones(K), 3)
    a, b, c = 1 / 1.2, 0.2 / 1.2, 2 / 1.2
    for be in BACKENDS:
        g = op.apply(pg.astype(dtype), backend=be).astype(np.float64)
        want = nashmp.mirror_step(lp, np.broadcast_to(lr, lp.shape), g, a, b, c, backend="numpy")
        po = np.empty_like(lp)
        got = op.mirror_step(lp, lr, pg, a, b, c, pi_out=po, backend=be)
        fin = np.isfinite(want)
        np.testing.assert_array_equal(np.isfinite(got), fin)
        np.testing.assert_allclose(got[fin], want[fin], atol=50 * TOL[dtype], rtol=0)
        np.testing.assert_allclose(po, np.exp(got), atol=1e-15, rtol=1e-13)
        # a = 0: log_pi is not read (may be None); b = 0: log_ref may be None
        got0 = op.mirror_step(None, None, pg, 0.0, 0.0, 1.0, backend=be)
        np.testing.assert_allclose(got0, nashmp.log_softmax(g), atol=50 * TOL[dtype], rtol=0)


def test_query_accounting():
    op, _ = _make("lowrank", 10, np.float64)
    pi = _policies(10, 4)
    op.apply(pi)
    op.apply(pi[0])
    op.mirror_step(np.log(pi), np.log(pi[0]), pi, 0.5, 0.5, 1.0)
    assert op.n_applications == 3 and op.n_queries == 4 + 1 + 4
    op.reset_counts()
    assert op.n_applications == op.n_queries == 0


def test_dense_per_game_operator():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 7, 7))
    P = _sig(A - np.swapaxes(A, -1, -2))
    op = O.Dense(P)
    assert op.batch_shape == (3,) and op.shape == (3, 7, 7)
    pi = _policies(7, 3)
    np.testing.assert_allclose(op.apply(pi), np.einsum("bij,bj->bi", P, pi), atol=1e-14)
    np.testing.assert_allclose(op.entries(np.array([1]), np.array([2])), P[:, [1], [2]])


def test_threads_do_not_change_results_beyond_rounding():
    op, D = _make("embedding", 1100, np.float64)
    pi = _policies(1100, 1)
    prev = nashmp.get_num_threads()
    try:
        nashmp.set_num_threads(1)
        g1 = op.apply(pi, backend="c")
        nashmp.set_num_threads(2)
        g2 = op.apply(pi, backend="c")
    finally:
        nashmp.set_num_threads(prev)
    np.testing.assert_allclose(g1, g2, atol=1e-13, rtol=0)
    np.testing.assert_allclose(g1, pi @ D.T, atol=1e-12, rtol=0)


def test_inputs_not_modified():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((50, 4))
    R = rng.standard_normal((4, 4))
    R = R - R.T
    E0, R0 = E.copy(), R.copy()
    op = O.Embedding(E, R)
    pi = _policies(50, 2)
    pi.flags.writeable = False
    p0 = pi.copy()
    lp = np.log(pi)
    lp.flags.writeable = False
    for be in BACKENDS:
        op.apply(pi, backend=be)
        op.mirror_step(lp, lp, pi, 0.5, 0.5, 1.0, backend=be)
    np.testing.assert_array_equal(E, E0)
    np.testing.assert_array_equal(R, R0)
    np.testing.assert_array_equal(pi, p0)


# ---- solvers and metrics on operators ---------------------------------------------------------

METHODS = ("nash_mp", "nash_md", "omd", "mmd", "omwu", "extragradient", "sppo", "prox_point")


@pytest.mark.parametrize("kind", ("embedding", "lowrank"))
@pytest.mark.parametrize("method", METHODS)
def test_solve_on_operator_equals_solve_on_dense(method, kind, monkeypatch):
    """Same iterates, iterations and query counts as the dense path, for every method (the C
    low-rank loop carrying the factor moments from step to step included)."""
    op, D = _make(kind, 40, np.float64, seed=5)
    kw = dict(max_iter=60 if method in ("nash_md", "sppo", "omd", "mmd") else 400, tol=1e-9,
              check_every=5)
    calls = []
    if kind == "lowrank":
        real = O.LowRankSkew._mirror_step_q

        def spy(self, lp, lr, pg, q_in, *args):
            calls.append(q_in is not None)
            return real(self, lp, lr, pg, q_in, *args)
        monkeypatch.setattr(O.LowRankSkew, "_mirror_step_q", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r_op = nashmp.solve(op, 0.1, method=method, **kw)
        r_d = nashmp.solve(D, 0.1, method=method, **kw)
    carried = kind == "lowrank" and "c" in BACKENDS
    if carried and method in ("nash_mp", "extragradient", "omd", "mmd", "sppo"):
        # every query went through the carried step; only the first started from pi itself
        assert len(calls) == int(r_op.n_queries) and calls[0] is False and all(calls[1:])
    elif carried and method == "prox_point":                # its inner solves (mmd steps)
        assert calls and calls[0] is False and any(calls)
    else:                                                   # mixtures / optimistic queries
        assert not calls
    np.testing.assert_allclose(r_op.log_policy, r_d.log_policy, atol=1e-11, rtol=0)
    assert np.array_equal(r_op.n_queries, r_d.n_queries)
    assert np.array_equal(r_op.nit, r_d.nit)
    assert r_op.success == r_d.success
    np.testing.assert_allclose(r_op.exploitability, r_d.exploitability, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaled_down_lowrank_solve(backend):
    """Scaled-down version of the K = 1e7 low-rank solve (bench): Nash-MP reaches
    exploitability 1e-6 and agrees with the dense solution."""
    rng = np.random.default_rng(7)
    K, r = 400, 16
    # rows: unit(noise + a common direction) (isotropic factors give a near-uniform pi*),
    # scaled so that |u_i.v_j - v_i.u_j| <= 0.45
    U = 0.5 * rng.standard_normal((K, r)) + np.eye(r)[0]
    V = 0.5 * rng.standard_normal((K, r)) + np.eye(r)[1]
    U *= math.sqrt(0.225) / np.linalg.norm(U, axis=1, keepdims=True)
    V *= math.sqrt(0.225) / np.linalg.norm(V, axis=1, keepdims=True)
    op = O.LowRankSkew(U, V)
    ex0 = float(nashmp.exploitability(op, np.full(K, -np.log(K)), 0.05))
    assert ex0 > 1e-3                                        # a game worth solving
    res = nashmp.solve(op, 0.05, tol=1e-6, backend=backend, check_every=5)
    assert res.success and res.exploitability <= 1e-6 and res.nit >= 10
    dense = nashmp.solve(op.todense(), 0.05, tol=1e-12, max_iter=100_000)
    # SubOpt(pi) = beta KL(pi || pi*) + beta KL(pi* || BR(pi)) >= beta KL(pi || pi*)
    assert float(nashmp.kl(res.log_policy, dense.log_policy)) <= float(res.exploitability) / 0.05 \
        * (1 + 1e-6) + 1e-12
    assert int(res.n_queries) == 2 * int(res.nit)
    ex = nashmp.exploitability(op, res.log_policy, 0.05, backend=backend)
    np.testing.assert_allclose(ex, res.exploitability, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_scaled_down_embedding_solve(dtype):
    """Scaled-down version of the K = 1e5 embedding solve: exploitability 1e-6, equal to the
    solve on the dense matrix."""
    rng = np.random.default_rng(11)
    K, d = 500, 16
    m = rng.standard_normal(d)
    E = (rng.standard_normal((K, d)) / np.sqrt(d) + m / np.linalg.norm(m)).astype(dtype)
    R = rng.standard_normal((d, d))
    R = (R - R.T).astype(dtype)
    op = O.Embedding(E, R)
    D = op.todense().astype(np.float64)
    assert float(nashmp.exploitability(op, np.full(K, -np.log(K)), 0.1)) > 1e-2
    res = nashmp.solve(op, 0.1, tol=1e-6, check_every=2)
    assert res.success and res.log_policy.dtype == np.dtype(dtype) and res.nit >= 10
    dense = nashmp.solve(D, 0.1, tol=1e-6, check_every=2)
    np.testing.assert_allclose(res.log_policy, dense.log_policy,
                               atol=1e-9 if dtype == np.float64 else 1e-4)
    assert int(res.n_queries) == int(dense.n_queries)


def test_batched_solve_and_metrics_on_operator():
    op, D = _make("bradley_terry", 30, np.float64)
    beta = np.array([0.05, 0.2, 1.0])
    res = nashmp.solve(op, beta, tol=1e-10)
    rd = nashmp.solve(D, beta, tol=1e-10)
    np.testing.assert_allclose(res.log_policy, rd.log_policy, atol=1e-10)
    assert np.array_equal(res.n_queries, rd.n_queries)
    # games that stop at different iterations (whole-batch steps, then subsets of rows), with
    # the C low-rank loop's carried moments and history, on every method that carries them
    opl, Dl = _make("lowrank", 40, np.float64, seed=2)
    for method in ("nash_mp", "omd", "extragradient"):
        kw = dict(method=method, tol=1e-9, max_iter=3000, check_every=3, history=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r_op, r_d = nashmp.solve(opl, beta, **kw), nashmp.solve(Dl, beta, **kw)
        assert len(set(r_op.nit.tolist())) > 1, method            # they did stop apart
        np.testing.assert_allclose(r_op.log_policy, r_d.log_policy, atol=1e-10, err_msg=method)
        assert np.array_equal(r_op.nit, r_d.nit)
        assert np.array_equal(r_op.n_queries, r_d.n_queries)
        np.testing.assert_allclose(r_op.history["exploitability"], r_d.history["exploitability"],
                                   atol=1e-11, err_msg=method)
    lp = np.log(_policies(30, 3))
    for fn in (nashmp.exploitability, nashmp.duality_gap, nashmp.best_response,
               nashmp.fixed_point_residual):
        for be in BACKENDS:
            np.testing.assert_allclose(fn(op, lp, beta, backend=be), fn(D, lp, beta), atol=1e-12,
                                       err_msg=f"{fn.__name__} {be}")
    # beta = 0: unregularized exploitability
    np.testing.assert_allclose(nashmp.exploitability(op, lp, 0.0),
                               nashmp.exploitability(D, lp, 0.0))


def test_solve_callback_history_on_operator():
    op, D = _make("lowrank", 50, np.float64)
    seen = []
    res = nashmp.solve(op, 0.1, history=True, callback=lambda r: seen.append(r.nit), tol=1e-10)
    assert res.history["exploitability"].shape[0] == len(seen) + 1
    assert res.history["exploitability"][-1] <= 1e-10

    def stop(r):
        raise StopIteration
    assert nashmp.solve(op, 0.1, callback=stop).status == 2


# ---- bad input ---------------------------------------------------------------------------------

def test_bad_inputs():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((20, 3))
    R = rng.standard_normal((3, 3))
    with pytest.raises(ValueError, match="skew"):
        O.Embedding(E, R)
    Rs = R - R.T
    with pytest.raises(ValueError, match="shape"):
        O.Embedding(E, Rs[:2, :2])
    with pytest.raises(ValueError, match="dimension"):
        O.Embedding(E[0], Rs)
    En = E.copy()
    En[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        O.Embedding(En, Rs)
    with pytest.raises(ValueError, match="link"):
        O.Embedding(E, Rs, link="probit")
    with pytest.raises(TypeError):
        O.Embedding(E.astype(complex), Rs)
    op = O.Embedding(E, Rs)
    with pytest.raises(ValueError, match="20 actions"):
        op.apply(np.ones(19) / 19)
    bad = np.ones(20) / 20
    bad[2] = np.nan
    for be in BACKENDS:
        with pytest.raises(ValueError, match="NaN"):
            op.apply(bad, backend=be)
        with pytest.raises(ValueError, match="NaN"):
            op.mirror_step(np.log(np.ones(20) / 20), None, bad, 1.0, 0.0, 1.0, backend=be)
        with pytest.raises(ValueError):   # all -inf row: no distribution
            op.mirror_step(np.full(20, -np.inf), None, np.ones(20) / 20, 1.0, 0.0, 0.0,
                           backend=be)
    with pytest.raises(ValueError, match="finite"):
        op.mirror_step(np.zeros(20), None, np.ones(20) / 20, np.nan, 0.0, 1.0)
    with pytest.raises(ValueError, match="broadcast"):
        op.mirror_step(np.zeros((3, 20)), None, np.ones((2, 20)) / 20, 1.0, 0.0, 1.0)
    with pytest.raises(IndexError):
        op.entries(np.array([0]), np.array([20]))
    with pytest.raises(TypeError):
        op.entries(np.array([0.5]), np.array([1]))
    # low rank: shapes, NaN, entries outside [0, 1]
    U = rng.standard_normal((20, 2))
    with pytest.raises(ValueError, match="same shape"):
        O.LowRankSkew(U, U[:, :1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        O.LowRankSkew(U, rng.standard_normal((20, 2)))
    Un = U.copy()
    Un[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        O.LowRankSkew(Un, U)
    big = O.LowRankSkew(np.ones((5000, 1)), np.ones((5000, 1)) * 2, check=False)
    with pytest.raises(ValueError, match="certify"):
        big.check()
    # packed: wrong length, entries outside [0, 1]
    with pytest.raises(ValueError, match="K\\(K-1\\)/2"):
        O.PackedDense(np.zeros(5), 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        O.PackedDense(np.array([0.5, 1.5, 0.2]), 3)
    # Bradley-Terry, pair functions, dense
    with pytest.raises(ValueError, match="NaN"):
        O.BradleyTerry([0.0, np.nan])
    with pytest.raises(ValueError, match="K must be"):
        O.PairFunction(lambda i, j: 0.0)
    with pytest.raises(ValueError, match="link"):
        O.PairFunction(lambda i, j: 0.0, K=3, link="tanh")
    with pytest.raises(ValueError, match="antisymmetric"):
        O.Dense(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        O.PairFunction(lambda i, j: 3.0, K=5, link="identity").check()
    # todense above the limit
    with pytest.raises(ValueError, match="max_K"):
        O.BradleyTerry(np.zeros(100)).todense(max_K=50)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_lowrank_step_carried_moments(dtype):
    """nashmp_lowrank_mirror_step_q_*: q_out equals the moments (V^T pi, U^T pi, sum pi) of the
    new policy computed in NumPy float64; the step from those moments equals the step from the
    policy; the output itself is the plain step's, bit for bit; the same bits on 1 and 2 threads;
    a sub-block of impossible actions, several chunks and a batch of 2 games."""
    if "c" not in BACKENDS:
        pytest.skip("no C backend")
    rng = np.random.default_rng(3)
    K, r, B = 40_000, 8, 2                              # 3 chunks of 16384 rows, 79 sub-blocks
    U = (0.3 * rng.standard_normal((K, r)) / np.sqrt(r)).astype(dtype)
    V = (0.3 * rng.standard_normal((K, r)) / np.sqrt(r)).astype(dtype)
    op = O.LowRankSkew(U, V, check=False)
    Uf, Vf = op.U.astype(np.float64), op.V.astype(np.float64)
    lp = rng.standard_normal((B, K)) - np.log(K)
    lp[0, 1024:2048] = -np.inf                          # whole sub-blocks without support
    lp[1, 5] = -np.inf
    lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
    lr = np.full((B, K), -np.log(K))
    pi = np.exp(lp)
    a, b, c = 0.7, 0.3, 1.9

    def moments(p):
        return np.concatenate([p @ Vf, p @ Uf, p.sum(axis=1, keepdims=True)], axis=1)

    def close(q, p):    # relative to the sums of |terms| (moments cancel)
        scale = np.concatenate([p @ np.abs(Vf), p @ np.abs(Uf), p.sum(axis=1, keepdims=True)],
                               axis=1)
        assert np.all(np.abs(q - moments(p)) <= rtol * scale)

    def step_q(pg, q_in, threads=None):
        w, pw, q = np.empty((B, K)), np.empty((B, K)), np.full((B, 2 * r + 1), 7.0)
        old = nashmp.get_num_threads()
        if threads:
            nashmp.set_num_threads(threads)
        try:
            op._mirror_step_q(lp, lr, pg, q_in, a, b, c, w, pw, q)
        finally:
            nashmp.set_num_threads(old)
        return w, pw, q

    w1, p1, q1 = step_q(pi, None)
    ref = op.mirror_step(lp, lr, pi, a, b, c)
    assert np.array_equal(w1, ref)                       # the output is the plain step's
    np.testing.assert_allclose(p1, np.exp(w1), rtol=1e-15, atol=0)
    assert np.all(p1[0, 1024:2048] == 0)
    rtol = 1e-12 if dtype == np.float64 else 1e-6       # f32: weights rounded to float
    close(q1, p1)
    # from the carried moments (pi_for_g unread) = from the policy they describe
    w2, p2, q2 = step_q(None, q1)
    ref2 = op.mirror_step(lp, lr, p1, a, b, c)
    np.testing.assert_allclose(w2, ref2, atol=1e-12 if dtype == np.float64 else 1e-6, rtol=0)
    close(q2, p2)
    # thread count: same bits
    for th in (1, 2):
        wt, pt, qt = step_q(None, q1, threads=th)
        assert np.array_equal(wt, w2) and np.array_equal(qt, q2)
    # a bad row: ValueError, and its moments are not written
    lp_bad = lp.copy()
    lp_bad[1, 7] = np.nan
    w, pw, q = np.empty((B, K)), np.empty((B, K)), np.full((B, 2 * r + 1), 7.0)
    with pytest.raises(ValueError, match="NaN"):
        op._mirror_step_q(lp_bad, lr, pi, None, a, b, c, w, pw, q)
    assert np.all(q[1] == 7.0)
    np.testing.assert_allclose(q[0], q1[0], rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_lowrank_public_moments(dtype, backend):
    """LowRankSkew.moments against the dense factors; mirror_step(moments=...) equals the step
    from the policy, moments_out equals moments(pi_out), on every backend; broadcasting and
    bad input."""
    rng = np.random.default_rng(4)
    K, r = 300, 4
    op, _ = _make("lowrank", K, dtype, seed=9)
    r = op.r
    Uf, Vf = op.U.astype(np.float64), op.V.astype(np.float64)
    lp = rng.standard_normal((2, K))
    lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
    lr = np.full(K, -np.log(K))
    pi = np.exp(lp)
    q = op.moments(pi)
    assert q.shape == (2, 2 * r + 1) and q.dtype == np.float64
    want = np.concatenate([pi @ Vf, pi @ Uf, pi.sum(axis=1, keepdims=True)], axis=1)
    np.testing.assert_allclose(q, want, rtol=0, atol=1e-15)
    tol = TOL[dtype]
    ref = op.mirror_step(lp, lr, pi, 0.6, 0.4, 2.0, backend=backend)
    po = np.empty((2, K))
    qo = np.empty((2, 2 * r + 1))
    got = op.mirror_step(lp, lr, None, 0.6, 0.4, 2.0, moments=q, pi_out=po, moments_out=qo,
                         backend=backend)
    np.testing.assert_allclose(got, ref, atol=2 * tol, rtol=0)
    np.testing.assert_allclose(po, np.exp(got), rtol=1e-14, atol=0)
    np.testing.assert_allclose(qo, op.moments(po), rtol=0, atol=1e-6 if dtype == np.float32
                               else 1e-14)
    # non-contiguous results
    o_nc, p_nc, q_nc = np.empty((K, 2)).T, np.empty((K, 2)).T, np.empty((2 * r + 1, 2)).T
    op.mirror_step(lp, lr, None, 0.6, 0.4, 2.0, moments=q, out=o_nc, pi_out=p_nc,
                   moments_out=q_nc, backend=backend)
    assert np.array_equal(o_nc, got) and np.array_equal(p_nc, po) and np.array_equal(q_nc, qo)
    # moments_out alone, from the policy; one game's moments broadcast over two log-policies
    qo2 = np.empty((2, 2 * r + 1))
    op.mirror_step(lp, lr, pi, 0.6, 0.4, 2.0, moments_out=qo2, backend=backend)
    np.testing.assert_allclose(qo2, qo, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-14)
    both = op.mirror_step(lp, lr, None, 0.6, 0.4, 2.0, moments=q[0], backend=backend)
    np.testing.assert_allclose(both[1], op.mirror_step(lp[1], lr, pi[0], 0.6, 0.4, 2.0,
                                                       backend=backend), atol=2 * tol, rtol=0)
    with pytest.raises(ValueError, match="2r\\+1"):
        op.mirror_step(lp, lr, None, 0.6, 0.4, 2.0, moments=q[:, :-1], backend=backend)
    with pytest.raises(ValueError, match="pi_for_g is required"):
        op.mirror_step(lp, lr, None, 0.6, 0.4, 2.0, backend=backend)
    with pytest.raises(ValueError, match="moments_out"):
        op.mirror_step(lp, lr, pi, 0.6, 0.4, 2.0, moments_out=np.empty((2, 3)), backend=backend)
    with pytest.raises(ValueError, match="NaN"):
        op.mirror_step(lp, lr, None, 0.6, 0.4, 2.0, moments=np.full_like(q, np.nan),
                       backend=backend)
    with pytest.raises(ValueError, match="NaN"):
        op.moments(np.full(K, np.nan))


def test_c_abi_bad_arguments():
    if "c" not in BACKENDS:
        pytest.skip("no C backend")
    from nashmp._backend import c_lib
    ffi, lib = c_lib()
    E = np.zeros((4, 2))
    R = np.zeros((2, 2))
    pi = np.full(4, 0.25)
    out = np.empty(4)
    p = lambda a: ffi.cast("double *", a.ctypes.data)  # noqa: E731
    N = ffi.cast("double *", 0)
    assert lib.nashmp_embedding_apply_f64(p(E), 2, 2, p(R), 0, p(pi), 4, 1, 4, p(out), 4) == 0
    assert lib.nashmp_embedding_apply_f64(N, 2, 2, p(R), 0, p(pi), 4, 1, 4, p(out), 4) == -1
    assert lib.nashmp_embedding_apply_f64(p(E), 2, 0, p(R), 0, p(pi), 4, 1, 4, p(out), 4) == -2
    assert lib.nashmp_embedding_apply_f64(p(E), 1, 2, p(R), 0, p(pi), 4, 1, 4, p(out), 4) == -4
    assert lib.nashmp_embedding_apply_f64(p(E), 2, 2, p(R), 7, p(pi), 4, 1, 4, p(out), 4) == -6
    assert lib.nashmp_embedding_apply_f64(p(E), 2, 2, p(R), 0, p(pi), 4, 1, 0, p(out), 4) == -2
    assert lib.nashmp_lowrank_apply_f64(p(E), p(E), 2, 0, p(pi), 4, 1, 4, p(out), 4) == -2
    assert lib.nashmp_lowrank_apply_f64(p(E), p(E), 1, 2, p(pi), 4, 1, 4, p(out), 4) == -4
    assert lib.nashmp_packed_apply_f64(N, p(pi), 4, 1, 4, p(out), 4) == -1
    assert lib.nashmp_bradley_terry_apply_f64(p(pi), p(pi), 4, -1, 4, p(out), 4) == -2
    assert lib.nashmp_bradley_terry_apply_f64(p(pi), p(pi), 4, 2 ** 62, 4, p(out), 4) == -3
    assert lib.nashmp_lowrank_mirror_step_f64(p(E), p(E), 2, 2, p(pi), 4, N, 0, N, 0, 1, 4,
                                              0.0, 0.0, float("inf"), p(out), 4, N, 0) == -6
    # carried moments: pi_g or q_in; rows of 2r+1 = 5
    q = np.zeros((2, 5))
    step_q = lib.nashmp_lowrank_mirror_step_q_f64
    assert step_q(p(E), p(E), 2, 2, N, 4, p(q), 5, N, 0, N, 0, 1, 4, 0.0, 0.0, 1.0, p(out), 4,
                  N, 0, p(q), 5) == 0
    assert step_q(p(E), p(E), 2, 2, N, 4, N, 5, N, 0, N, 0, 1, 4, 0.0, 0.0, 1.0, p(out), 4,
                  N, 0, N, 0) == -1
    out2 = np.empty((2, 4))
    assert step_q(p(E), p(E), 2, 2, p(pi), 0, N, 0, N, 0, N, 0, 2, 4, 0.0, 0.0, 1.0, p(out2),
                  4, N, 0, p(q), 4) == -4


# ---- memory: O(K d), never K x K ----------------------------------------------------------------

_MEM_SCRIPT = r"""
import json, sys, tracemalloc
import numpy as np, nashmp


def hwm():   # peak RSS of this address space (ru_maxrss keeps the parent's peak over exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))

K, d = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
E = (rng.standard_normal((K, d)) / np.sqrt(d)).astype(np.float32)
R = rng.standard_normal((d, d)); R = (R - R.T).astype(np.float32)
pi = np.full(K, 1.0 / K, np.float32)
op = nashmp.Embedding(E, R)
nashmp.Embedding(E[:512], R).apply(pi[:512], backend="c")     # warm-up (imports, first call)
rss0 = hwm()
tracemalloc.start()
g = op.apply(pi, backend="c")
cur, peak = tracemalloc.get_traced_memory()
rss1 = hwm()
print(json.dumps({"traced_peak": peak, "rss_growth": rss1 - rss0, "rss_peak": rss1,
                  "g_sum": float(g.astype(np.float64).sum()), "E_bytes": E.nbytes}))
"""


@pytest.mark.slow
def test_embedding_memory_is_O_Kd_at_K_200000():
    """One float32 apply at K = 200 000, d = 16 (K^2 float32 would be 160 GB): the traced
    (NumPy) peak and the process's peak RSS growth stay within a small multiple of K d."""
    if "c" not in BACKENDS:
        pytest.skip("no C backend")
    K, d = 200_000, 16
    # cwd outside the source tree: the child must import the installed package (C extension)
    out = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, str(K), str(d)], check=True,
                         capture_output=True, text=True, env=dict(os.environ), timeout=600,
                         cwd=os.path.dirname(os.path.dirname(nashmp.__file__)))
    m = json.loads(out.stdout.strip().splitlines()[-1])
    kk = K * K * 4
    assert m["traced_peak"] < 40 * K * d          # a few K-sized and K x d buffers
    assert m["rss_growth"] < 64 * K * d           # C scratch: A, E^T (K d), per-thread K doubles
    assert m["rss_peak"] < kk / 100
    # uniform pi: sum_i g_i = sum_ij P_ij / K = K / 2 (antisymmetry)
    assert abs(m["g_sum"] / K - 0.5) < 1e-4
