"""Exact solvers against independent references: closed-form games, a Newton solve of the
fixed point written here, the exploitability identity and the Nash-MP contraction theorem."""
import warnings

import numpy as np
import pytest

import nashmp
from nashmp._reference import kl as ref_kl
from nashmp._reference import log_softmax as ref_log_softmax

SOLVER_BACKENDS = [b for b in ("c", "numba", "numpy") if b in nashmp.available_backends()]
CONVERGENT = ["nash_mp", "extragradient", "mmd", "omd", "omwu", "prox_point"]


def random_game(K, seed, scale=2.0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, K)) * scale
    S = (A - A.T) / 2
    return 1 / (1 + np.exp(-S))


def cyclic_game(K):
    """Generalized rock-paper-scissors: i beats the next (K-1)/2 actions (K odd)."""
    P = np.full((K, K), 0.5)
    for i in range(K):
        for d in range(1, (K - 1) // 2 + 1):
            P[i, (i + d) % K] = 1.0
            P[(i + d) % K, i] = 0.0
    return P


def newton_equilibrium(P, beta, log_ref, iters=100):
    """Independent solve of log pi = normalize(log_ref + P pi / beta) by damped Newton in
    log space (dense Jacobian), started from a long damped fixed-point iteration."""
    u = log_ref.copy()
    for _ in range(200):                       # damped Picard warm start
        u = 0.5 * u + 0.5 * ref_log_softmax(log_ref + P @ np.exp(u) / beta)
        u = ref_log_softmax(u)
    K = len(u)
    for _ in range(iters):
        pi = np.exp(u)
        s = log_ref + P @ pi / beta
        q = np.exp(ref_log_softmax(s))
        F = u - ref_log_softmax(s)
        if np.abs(F).max() < 1e-15:
            break
        J = np.eye(K) - (np.eye(K) - np.outer(np.ones(K), q)) @ (P * pi[None, :] / beta)
        # F is invariant to adding a constant to u: pin the constant with sum(pi) = 1
        J = np.vstack([J, pi])
        d = np.linalg.lstsq(J, np.concatenate([F, [pi.sum() - 1]]), rcond=None)[0]
        u = ref_log_softmax(u - d)
    return u


def solve_quiet(*a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return nashmp.solve(*a, **k)


@pytest.fixture(params=SOLVER_BACKENDS)
def backend(request):
    return request.param


@pytest.mark.parametrize("K", [3, 5, 9])
@pytest.mark.parametrize("method", CONVERGENT)
def test_cyclic_games_have_uniform_equilibrium(K, method, backend):
    P = cyclic_game(K)
    r = solve_quiet(P, 0.2, method=method, backend=backend, tol=1e-11, max_iter=20_000)
    assert r.success, (method, r.exploitability)
    np.testing.assert_allclose(r.policy, np.full(K, 1 / K), atol=1e-5)
    assert r.backend == backend and r.method == method


@pytest.mark.parametrize("beta", [0.05, 0.3])
def test_nash_mp_matches_newton_equilibrium(beta, backend):
    P = random_game(30, seed=1)
    lr = np.log(np.random.default_rng(2).dirichlet(np.ones(30) * 3))
    u_star = newton_equilibrium(P, beta, lr)
    res_star = nashmp.fixed_point_residual(P, u_star, beta, ref=np.exp(lr))
    assert res_star < 1e-12                                  # the independent solve is exact
    # Exploitability is quadratic in the error of the policy, so a tolerance on it cannot pin
    # the policy to 1e-9; run a fixed number of iterations instead (tol < 0 never stops): by the
    # theorem KL(pi*||pi_k) <= (1 + 2 beta)^-k KL(pi*||pi_0), far below rounding after 1500.
    r = nashmp.solve(P, beta, ref=np.exp(lr), backend=backend, tol=-1.0, max_iter=1500)
    assert r.nit == 1500 and not r.success
    np.testing.assert_allclose(r.log_policy, u_star, atol=1e-12)
    assert nashmp.fixed_point_residual(P, r.log_policy, beta, ref=np.exp(lr)) < 1e-12
    assert abs(r.exploitability) < 1e-14


def test_all_convergent_methods_agree(backend):
    P = random_game(12, seed=3)
    beta = 0.5
    sols = {m: solve_quiet(P, beta, method=m, backend=backend, tol=-1.0, max_iter=3000)
            for m in CONVERGENT if m != "prox_point"}
    for m, r in sols.items():
        np.testing.assert_allclose(r.policy, sols["nash_mp"].policy, atol=1e-13, err_msg=m)
    # prox_point stops on exploitability 1e-12: policy error ~ sqrt(2 * 1e-12 / beta) = 2e-6
    pp = solve_quiet(P, beta, method="prox_point", backend=backend, tol=1e-12, max_iter=200)
    assert pp.success
    np.testing.assert_allclose(pp.policy, sols["nash_mp"].policy, atol=1e-5)
    md = solve_quiet(P, beta, method="nash_md", backend=backend, tol=1e-7, max_iter=100_000)
    np.testing.assert_allclose(md.policy, sols["nash_mp"].policy, atol=1e-3)


def test_exploitability_identity():
    """SubOpt(pi) = beta KL(pi || pi*) + beta KL(pi* || BR(pi)) for arbitrary pi."""
    P = random_game(20, seed=4)
    beta = 0.2
    lr = np.log(np.full(20, 1 / 20))
    u_star = newton_equilibrium(P, beta, lr)
    rng = np.random.default_rng(5)
    for _ in range(5):
        lp = np.log(rng.dirichlet(np.ones(20) * 0.5))
        br = nashmp.best_response(P, lp, beta)
        lhs = nashmp.exploitability(P, lp, beta)
        rhs = beta * ref_kl(lp, u_star) + beta * ref_kl(u_star, br)
        assert lhs > 0
        np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-14)
        assert nashmp.duality_gap(P, lp, beta) == pytest.approx(2 * lhs)
    assert abs(nashmp.exploitability(P, u_star, beta)) < 1e-13


def test_unregularized_exploitability():
    P = cyclic_game(3)
    assert nashmp.exploitability(P, np.log([1.0, 1e-300, 1e-300]), 0.0) == pytest.approx(0.5)
    assert nashmp.exploitability(P, np.log(np.ones(3) / 3), 0.0) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("eta", [0.5, 1.0, 2.0])
def test_nash_mp_contraction_theorem(eta, backend):
    """Every step: KL(pi* || pi_{k+1}) <= KL(pi* || pi_k) / (1 + eta beta)."""
    rng = np.random.default_rng(int(eta * 10))
    for trial in range(3):
        K = 15
        P = random_game(K, seed=10 + trial, scale=4.0)
        beta = [0.05, 0.2, 1.0][trial]
        ref = rng.dirichlet(np.ones(K))
        u_star = newton_equilibrium(P, beta, np.log(ref))
        pi = rng.dirichlet(np.ones(K) * 0.3)
        prev = ref_kl(u_star, np.log(pi))
        for _ in range(25):
            r = nashmp.solve(P, beta, ref=ref, init=pi, eta=eta, max_iter=1, tol=-1.0,
                             backend=backend)
            cur = ref_kl(u_star, r.log_policy)
            assert cur <= prev / (1 + eta * beta) * (1 + 1e-9) + 1e-14
            pi, prev = r.policy, cur


def test_extragradient_iterates_equal_nash_mp(backend):
    P = random_game(10, seed=6)
    beta, eta = 0.3, 1.5
    a = nashmp.solve(P, beta, eta=eta, max_iter=7, tol=-1, backend=backend)
    b = nashmp.solve(P, beta, method="extragradient", eta=eta / (1 + eta * beta), max_iter=7,
                     tol=-1, backend=backend)
    np.testing.assert_allclose(a.log_policy, b.log_policy, atol=1e-13)
    assert a.n_queries == b.n_queries == 14


@pytest.mark.parametrize("method", ["nash_mp", "nash_md", "omd", "mmd", "omwu", "extragradient",
                                    "sppo"])
def test_backends_agree_with_numpy_reference(method):
    P = random_game(17, seed=7)
    kw = dict(method=method, max_iter=23, tol=-1.0, check_every=5)
    ref = nashmp.solve(P, 0.1, backend="numpy", **kw)
    for be in SOLVER_BACKENDS:
        r = nashmp.solve(P, 0.1, backend=be, **kw)
        np.testing.assert_allclose(r.log_policy, ref.log_policy, atol=1e-12, err_msg=be)
        np.testing.assert_allclose(r.exploitability, ref.exploitability, atol=1e-13)
        assert r.nit == 23 and r.n_queries == ref.n_queries


def test_query_counts():
    P = cyclic_game(3)
    for m, q in [("nash_mp", 2), ("extragradient", 2), ("omd", 1), ("nash_md", 1), ("sppo", 1)]:
        r = nashmp.solve(P, 0.1, method=m, max_iter=10, tol=-1)
        assert r.n_queries == 10 * q and r.nit == 10


def test_batch_equals_loop_and_converged_games_freeze(backend):
    Ps = np.stack([random_game(8, seed=s) for s in range(4)])
    betas = np.array([0.05, 0.5, 1.0, 0.2])
    rb = nashmp.solve(Ps, betas, backend=backend, tol=1e-10)
    assert rb.log_policy.shape == (4, 8) and rb.nit.shape == (4,)
    assert len(set(rb.nit.tolist())) > 1                  # games stop independently
    for i in range(4):
        ri = nashmp.solve(Ps[i], betas[i], backend=backend, tol=1e-10)
        np.testing.assert_allclose(rb.log_policy[i], ri.log_policy, atol=1e-14)
        assert rb.nit[i] == ri.nit and rb.n_queries[i] == ri.n_queries
    # shared P with per-game beta and ref
    refs = np.random.default_rng(0).dirichlet(np.ones(8), size=3)
    rs = nashmp.solve(Ps[0], np.array([0.1, 0.2, 0.3]), ref=refs, backend=backend, tol=1e-10)
    for i in range(3):
        ri = nashmp.solve(Ps[0], [0.1, 0.2, 0.3][i], ref=refs[i], backend=backend, tol=1e-10)
        np.testing.assert_allclose(rs.log_policy[i], ri.log_policy, atol=1e-14)


def test_float32_storage_agrees_with_float64(backend):
    P = random_game(40, seed=8)
    r64 = nashmp.solve(P, 0.1, backend=backend, tol=1e-9)
    r32 = nashmp.solve(P.astype(np.float32), 0.1, backend=backend, tol=1e-9)
    assert r32.log_policy.dtype == np.float32 and r64.log_policy.dtype == np.float64
    # P rounded to float32 moves pi* by O(1e-7 / beta)
    np.testing.assert_allclose(r32.policy, r64.policy, rtol=5e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["nash_mp", "nash_md", "omd", "mmd", "omwu", "extragradient",
                                    "sppo", "prox_point"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_packed_storage_equals_dense(method, dtype):
    """A PackedDense P (upper triangle, half the bytes) gives the dense solve's iterates, checks,
    query counts and batch semantics (the native packed loop on C, the operator loop elsewhere);
    its own query counter advances by the queries spent."""
    P = random_game(23, seed=4).astype(dtype)
    op = nashmp.PackedDense.from_dense(P)
    betas = np.array([0.1, 0.4])
    init = np.random.default_rng(2).dirichlet(np.ones(23), size=2)
    # float32: a tolerance above the exploitability's rounding floor (the operator loop rounds
    # pi to float32 before a query, the dense loop does not)
    kw = dict(method=method, init=init, max_iter=25 if method == "prox_point" else 60,
              tol=1e-9 if dtype == np.float64 else 1e-6, check_every=4)
    for be in SOLVER_BACKENDS:
        rd = solve_quiet(P, betas, backend=be, **kw)
        q0 = op.n_queries
        rp = solve_quiet(op, betas, backend=be, **kw)
        assert rp.log_policy.dtype == np.dtype(dtype)
        np.testing.assert_allclose(rp.log_policy, rd.log_policy, rtol=0,
                                   atol=1e-11 if dtype == np.float64 else 2e-5, err_msg=be)
        if dtype == np.float64 or method != "prox_point":   # f32 inner tolerances may differ
            assert np.array_equal(rp.n_queries, rd.n_queries) and np.array_equal(rp.nit, rd.nit)
        assert op.n_queries - q0 >= int(rp.n_queries.sum())


def test_packed_storage_reaches_newton_equilibrium():
    """Independent reference: the Newton fixed point of the dense matrix."""
    P = random_game(30, seed=11)
    lr = np.full(30, -np.log(30))
    star = newton_equilibrium(P, 0.2, lr)
    res = nashmp.solve(nashmp.PackedDense.from_dense(P), 0.2, max_iter=400, tol=-1)
    np.testing.assert_allclose(res.log_policy, star, atol=1e-10)
    assert res.backend == ("c" if "c" in SOLVER_BACKENDS else res.backend)


@pytest.mark.skipif("c" not in SOLVER_BACKENDS, reason="the C backend is not built")
@pytest.mark.parametrize("K, dtype", [(300, np.float64), (128, np.float32)], ids=["f64", "f32"])
def test_dense_p_read_through_upper_triangle(K, dtype, monkeypatch):
    """A dense P with P + P^T = 1 to rounding is solved on C and Numba through its upper triangle
    (half the bytes per query): same iterates as the NumPy loop over the whole matrix, for a shared
    P and for one P per game; a P off by more than rounding (within the validation tolerance) is
    read whole."""
    stores = []
    init_runner = nashmp.solvers._Runner.__init__

    def spy(self, *a, **kw):
        init_runner(self, *a, **kw)
        stores.append((self.backend, self.store))
    monkeypatch.setattr(nashmp.solvers._Runner, "__init__", spy)
    P = random_game(K, seed=21).astype(dtype)
    P2 = np.stack([P, random_game(K, seed=22).astype(dtype)])
    init = np.random.default_rng(3).dirichlet(np.ones(K), size=2)
    tol = 1e-11 if dtype == np.float64 else 1e-5
    tri = [b for b in ("c", "numba") if b in SOLVER_BACKENDS]
    for game, method in ((P, "nash_mp"), (P2, "nash_mp"), (P2, "omwu")):
        kw = dict(method=method, init=init, max_iter=30, tol=-1, check_every=10)
        rn = solve_quiet(game, np.array([0.05, 0.2]), backend="numpy", **kw)
        for be in tri:
            r = solve_quiet(game, np.array([0.05, 0.2]), backend=be, **kw)
            np.testing.assert_allclose(r.log_policy, rn.log_policy, rtol=0, atol=tol)
            np.testing.assert_allclose(r.exploitability, rn.exploitability, rtol=1e-9, atol=tol)
    from nashmp._numba_solvers import UPPER_MIN_K
    want = [(b, "upper" if b == "c" or K >= UPPER_MIN_K else "dense") for b in tri]
    assert stores == ([("numpy", "dense")] + want) * 3
    off = P.copy()
    off[1, 0] += 6 * np.finfo(dtype).eps              # valid (atol = 1e-6), not exact
    for be in tri:
        solve_quiet(off, 0.1, max_iter=2, backend=be)
        assert stores[-1] == (be, "dense")


@pytest.mark.skipif("numba" not in SOLVER_BACKENDS, reason="numba unavailable")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_numba_upper_triangle_product(dtype):
    """The Numba loop's triangle product equals P x (float64 NumPy) for every K mod 8 (blocks of
    8 rows against chunks of 8 columns), with NaN below the diagonal (loaded in the diagonal
    blocks and the last chunks, never used), also in rows padded to a multiple of 8 (the aligned
    copy of the solver), NaN in the padding."""
    from nashmp._numba_solvers import _matvec_upper
    for K in (*range(1, 26), 39, 64, 100, 301, 1003):
        P = random_game(K, seed=K).astype(dtype)
        x = np.random.default_rng(K).dirichlet(np.ones(K))
        want = P.astype(np.float64) @ x
        Pn = P.copy()
        Pn[np.tril_indices(K)] = np.nan                    # only the strict upper part is used
        Pw = np.full((K, -(-K // 8) * 8), np.nan, dtype)
        Pw[:, :K] = Pn
        for A in (Pn, Pw):
            y = np.full(K, np.nan)
            _matvec_upper(A, x, y)
            np.testing.assert_allclose(y, want, rtol=0, atol=4 * K * np.finfo(dtype).eps)


@pytest.mark.skipif("numba" not in SOLVER_BACKENDS, reason="numba unavailable")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_numba_panel_order_product(dtype):
    """The panel order of the Numba triangle product: the copy (SRC_COPY) fills exactly the
    size panel_offsets gives, and the products from it (SRC_W), for panels of 8 to 512 columns
    and every row chunk of row_chunks, have the bits of the products from P (SRC_P) and equal
    P x, with NaN below the diagonal."""
    from nashmp import _numba_solvers as S
    for K in (1, 7, 8, 9, 17, 31, 64, 101, 257):
        P = random_game(K, seed=K).astype(dtype)
        x = np.random.default_rng(K).dirichlet(np.ones(K))
        want = P.astype(np.float64) @ x
        P[np.tril_indices(K)] = np.nan
        for bd in (np.array([0, K]), S.row_chunks(K)):
            wofs = S.panel_offsets(K, bd)
            for pw in (8, 24, 512):
                W = np.full(int(wofs[-1]) + 64, -7.0, dtype)
                st = np.empty(K // 8 * 64 + 64)
                for c in range(len(bd) - 1):
                    S._tri_rows(P, np.zeros(K), np.empty(K), bd[c], bd[c + 1], S.SRC_COPY, W,
                                wofs[c], st[bd[c] * 8:], pw)
                assert np.all(W[wofs[-1]:] == -7.0) and not np.any(W[:wofs[-1]] == -7.0)
                y = np.zeros(K)
                for c in range(len(bd) - 1):
                    yw, yp = np.full(K, np.nan), np.full(K, np.nan)
                    S._tri_rows(P, x, yw, bd[c], bd[c + 1], S.SRC_W, W, wofs[c],
                                st[bd[c] * 8:], pw)
                    S._tri_rows(P, x, yp, bd[c], bd[c + 1], S.SRC_P, W[:0], 0, st[:0], 0)
                    assert np.array_equal(yw[bd[c]:], yp[bd[c]:])
                    y[bd[c]:] += yw[bd[c]:]
                np.testing.assert_allclose(y, want, rtol=0, atol=4 * K * np.finfo(dtype).eps)


@pytest.mark.skipif("numba" not in SOLVER_BACKENDS, reason="numba unavailable")
def test_numba_panel_copy_same_bits(monkeypatch):
    """A shared exact P whose triangle has PANEL_MIN_BYTES or more (lowered here) runs the panel
    arithmetic; calls of PANEL_MIN_ITERS iterations or more read a panel-order copy, calls of
    one iteration read P: the same bits, and the NumPy loop's iterates within rounding."""
    from nashmp import _numba_solvers as S
    monkeypatch.setattr(S, "PANEL_MIN_BYTES", 1 << 16)
    copies = []
    real_copy = S.panel_copy

    def spy(*a):
        copies.append(a[1].size)
        return real_copy(*a)
    monkeypatch.setattr(S, "panel_copy", spy)
    P = random_game(1100, seed=35)                   # 3 panels of 512 columns, K % 8 = 4
    kw = dict(max_iter=13, tol=-1, backend="numba")
    r1 = solve_quiet(P, 0.05, **kw)
    assert copies == [S.panel_offsets(1100, S.row_chunks(1100))[-1]]
    r2 = solve_quiet(P, 0.05, history=True, check_every=1, **kw)
    assert len(copies) == 1
    assert np.array_equal(r1.log_policy, r2.log_policy)
    assert np.array_equal(r1.exploitability, r2.exploitability)
    rn = solve_quiet(P, 0.05, max_iter=13, tol=-1, backend="numpy")
    np.testing.assert_allclose(r1.log_policy, rn.log_policy, rtol=0, atol=1e-12)


@pytest.mark.skipif("c" not in SOLVER_BACKENDS, reason="C extension unavailable")
def test_c_split_solve_keeps_panel_copy(monkeypatch):
    """A solve split into native calls (a history: one call per check) passes one libnashmp
    workspace to all of them, which keeps the panel-order copy the first call of 24 queries makes
    (K = 2053: a 16.8 MB triangle) for the later calls: the bits of the solve in one call, and of
    calls too short for any copy. (csrc/tests/test_solvers.c checks that the kept copy is what
    the later calls read.)"""
    seen = []
    real = nashmp.solvers._Runner._c_workspace

    def spy(self, ffi, lib):
        ws = real(self, ffi, lib)
        seen.append(int(ffi.cast("uintptr_t", ws)))
        return ws
    monkeypatch.setattr(nashmp.solvers._Runner, "_c_workspace", spy)
    P = random_game(2053, seed=36)
    kw = dict(max_iter=36, tol=-1, backend="c")
    r1 = solve_quiet(P, 0.05, **kw)                                   # one call, one copy
    seen.clear()
    r2 = solve_quiet(P, 0.05, history=True, check_every=12, **kw)     # a copy, kept: 3 calls
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0] != 0
    r3 = solve_quiet(P, 0.05, history=True, check_every=1, **kw)      # 2 queries a call: none
    for r in (r2, r3):
        assert np.array_equal(r1.log_policy, r.log_policy)
        assert np.array_equal(r1.exploitability, r.exploitability)
    assert r1.exploitability < 0.5 * r2.history["exploitability"][0]


@pytest.mark.skipif("numba" not in SOLVER_BACKENDS, reason="numba unavailable")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_numba_aligned_copy_same_bits(dtype, monkeypatch):
    """A shared exact P of at most 1 MiB is copied, for calls of 4 iterations or more, into rows
    that start on 64-byte boundaries; calls of one iteration (check_every=1 with a history) read P
    itself: the same bits (which also holds the half-step policy, exps over their sum, to one
    iteration), and the NumPy loop's iterates within rounding."""
    made = []
    numba_p = nashmp.solvers._Runner._numba_P

    def spy(self, n):
        out = numba_p(self, n)
        made.append(out is not self.P)
        return out
    monkeypatch.setattr(nashmp.solvers._Runner, "_numba_P", spy)
    P = random_game(101, seed=33).astype(dtype)
    for method in ("nash_mp", "nash_md", "omwu"):
        made.clear()
        kw = dict(method=method, max_iter=13, tol=-1, backend="numba")
        r1 = solve_quiet(P, 0.05, **kw)
        assert made == [True]
        r2 = solve_quiet(P, 0.05, history=True, check_every=1, **kw)
        assert not any(made[1:]) and len(made) == 14
        assert np.array_equal(r1.log_policy, r2.log_policy)
        assert np.array_equal(r1.exploitability, r2.exploitability)
        rn = solve_quiet(P, 0.05, method=method, max_iter=13, tol=-1, backend="numpy")
        np.testing.assert_allclose(r1.log_policy, rn.log_policy, rtol=0,
                                   atol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.skipif("numba" not in SOLVER_BACKENDS, reason="numba unavailable")
@pytest.mark.parametrize("exact", [True, False], ids=["upper", "dense"])
def test_numba_row_parallel_products(exact, monkeypatch):
    """Fewer games than threads at K >= ROW_MIN_K: the Numba loop runs one game after another
    with row-parallel products (the triangle in fixed row chunks): the same bits with 1 and 2
    threads, from P and from its panel-order copy, the serial loop's and the NumPy loop's iterates
    within rounding, and nashmp.solve takes that path."""
    import numba
    from nashmp import _numba_solvers as S
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one Numba thread")
    K = S.ROW_MIN_K + 13
    P = random_game(K, seed=31)
    if not exact:
        P[3, 5] += 1e-9                              # valid, not exact: read whole
    lr = np.log(np.random.default_rng(4).dirichlet(np.ones(K)))[None]
    beta, eta = np.array([0.05]), np.array([2.0])
    bd = S.row_chunks(K)
    assert bd[0] == 0 and bd[-1] == K and np.all(np.diff(bd) >= 0) and np.all(bd[:-1] % 8 == 0)

    def go(rows, nt):
        l = lr.copy()
        it, nq = np.zeros(1, np.int64), np.zeros(1, np.int64)
        ex, act = np.zeros(1), np.ones(1, np.uint8)
        prev = numba.get_num_threads()
        numba.set_num_threads(nt)
        try:
            args = (P[None], lr, beta, eta, 0, 6, 3, -1.0, l, np.zeros((1, 1)), it, nq, ex, act,
                    exact)
            if rows:
                S.run_rows(*args, np.empty((S.ROW_CHUNKS - 1, K)), bd, pan)
            else:
                S.run(*args)
        finally:
            numba.set_num_threads(prev)
        assert it[0] == 6 and nq[0] == 12
        return l, ex
    pan = (np.empty(0), np.empty(0, np.int64), np.empty(0))
    l1, e1 = go(True, 1)
    l2, e2 = go(True, 2)
    assert np.array_equal(l1, l2) and np.array_equal(e1, e2)
    if exact:                                        # from a panel-order copy: the same bits
        wofs = S.panel_offsets(K, bd)
        W = np.empty(int(wofs[-1]))
        S.panel_copy(P, W, wofs, bd)
        pan = (W, wofs, np.empty(K // 8 * 64 + 64))
        for nt in (1, 2):
            lw, ew = go(True, nt)
            assert np.array_equal(l1, lw) and np.array_equal(e1, ew)
    ls, es = go(False, 2)
    np.testing.assert_allclose(l1, ls, rtol=0, atol=1e-12)
    np.testing.assert_allclose(e1, es, rtol=0, atol=1e-12)
    used = []
    rr = nashmp.solvers._Runner._run_rows

    def spy(self, *a):
        used.append(self.K)
        return rr(self, *a)
    monkeypatch.setattr(nashmp.solvers._Runner, "_run_rows", spy)
    prev = nashmp.get_num_threads()
    try:
        nashmp.set_num_threads(2)
        r = solve_quiet(P, 0.05, max_iter=6, tol=-1, backend="numba")
    finally:
        nashmp.set_num_threads(prev)
    assert used == [K]
    rn = solve_quiet(P, 0.05, max_iter=6, tol=-1, backend="numpy")
    np.testing.assert_allclose(r.log_policy, rn.log_policy, rtol=0, atol=1e-12)


@pytest.mark.skipif("c" not in SOLVER_BACKENDS, reason="the C backend is not built")
def test_dense_upper_triangle_same_bits_with_1_and_2_threads():
    """K >= 384: one game's triangle products are split over threads in fixed row chunks, so the
    iterates do not depend on the thread count (and stay the NumPy loop's within rounding)."""
    P = random_game(400, seed=23)
    prev = nashmp.get_num_threads()
    try:
        nashmp.set_num_threads(1)
        r1 = solve_quiet(P, 0.05, max_iter=12, tol=-1, backend="c")
        nashmp.set_num_threads(2)
        r2 = solve_quiet(P, 0.05, max_iter=12, tol=-1, backend="c")
    finally:
        nashmp.set_num_threads(prev)
    assert np.array_equal(r1.log_policy, r2.log_policy)
    assert np.array_equal(r1.exploitability, r2.exploitability)
    rn = solve_quiet(P, 0.05, max_iter=12, tol=-1, backend="numpy")
    np.testing.assert_allclose(r1.log_policy, rn.log_policy, rtol=0, atol=1e-12)



@pytest.mark.skipif("c" not in SOLVER_BACKENDS, reason="the C backend is not built")
def test_large_triangle_panel_copy_same_bits():
    """Triangles over 16 MiB are copied into panel order for calls of >= 24 products (one
    nashmp.solve call here); calls of one iteration (check_every=1 with a history) read P itself:
    the same bits, and the NumPy loop's iterates within rounding."""
    P = random_game(2053, seed=29)
    kw = dict(max_iter=13, tol=-1, backend="c")
    r1 = solve_quiet(P, 0.05, **kw)
    r2 = solve_quiet(P, 0.05, history=True, check_every=1, **kw)
    assert np.array_equal(r1.log_policy, r2.log_policy)
    assert np.array_equal(r1.exploitability, r2.exploitability)
    rn = solve_quiet(P, 0.05, max_iter=13, tol=-1, backend="numpy")
    np.testing.assert_allclose(r1.log_policy, rn.log_policy, rtol=0, atol=1e-12)


def test_history_and_callback():
    P = random_game(10, seed=9)
    u_star = newton_equilibrium(P, 0.2, np.full(10, -np.log(10)))
    seen = []
    r = nashmp.solve(P, 0.2, history=True, pi_star=np.exp(u_star), check_every=5, tol=1e-10,
                     callback=lambda res: seen.append(float(res.exploitability)))
    h = r.history
    n = len(h["time"])
    assert n == len(seen) + 1
    assert h["exploitability"].shape == (n,) and h["kl_star"].shape == (n,)
    assert np.all(np.diff(h["kl_star"]) <= 0)            # monotone by the theorem
    assert np.all(np.diff(h["n_queries"]) == 10)
    assert h["span_star"][-1] < h["span_star"][0]

    def stop(res):
        raise StopIteration
    r2 = nashmp.solve(P, 0.2, callback=stop, check_every=3)
    assert r2.status == 2 and not r2.success and r2.nit == 3


def test_prox_point_counts_inner_queries():
    P = random_game(6, seed=11)
    r = nashmp.solve(P, 0.5, method="prox_point", tol=1e-10)
    assert r.success and r.n_queries > 2 * r.nit


def test_non_convergence_warns():
    P = random_game(10, seed=12)
    with pytest.warns(RuntimeWarning, match="did not reach"):
        r = nashmp.solve(P, 0.01, method="mmd", max_iter=5)
    assert not r.success and r.status == 1 and "maximum" in r.message


@pytest.mark.parametrize("beta", [1e3, 1e6, 1e9, 1e12])
@pytest.mark.parametrize("backend", SOLVER_BACKENDS)
def test_exploitability_rounding_within_stated_resolution(beta, backend):
    # uniform play in a cyclic game is the equilibrium for every beta: exploitability exactly 0,
    # computed with an error that grows like beta (the documented bound)
    from nashmp._games import exploitability_resolution
    K = 5
    lr = np.full(K, -np.log(K))
    e = float(nashmp.exploitability(cyclic_game(K), lr, beta, backend=backend))
    bound = exploitability_resolution(beta, lr)
    assert abs(e) <= bound
    assert bound == pytest.approx(beta * 2.220446049250313e-16 * (2 + np.log(K)))


@pytest.mark.filterwarnings("ignore:.*did not reach")
@pytest.mark.parametrize("beta", [1e12, 1e300])
def test_tol_below_exploitability_resolution_warns(beta):
    rps = cyclic_game(3)
    with pytest.warns(RuntimeWarning, match="resolution of the exploitability"):
        nashmp.solve(rps, beta, max_iter=3)
    op = nashmp.LowRankSkew(np.eye(3, 1), np.ones((3, 1)) / 3)
    with pytest.warns(RuntimeWarning, match="resolution of the exploitability"):
        nashmp.solve(op, beta, max_iter=3)
    with warnings.catch_warnings():           # tol < 0 (no stopping test): no warning
        warnings.simplefilter("error")
        nashmp.solve(rps, beta, max_iter=3, tol=-1)


def test_ordinary_beta_does_not_warn_about_resolution():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = nashmp.solve(random_game(20, seed=3), 10.0, tol=1e-10)
    assert r.success


def test_eta_above_two_warns():
    with pytest.warns(RuntimeWarning, match="eta <= 2"):
        nashmp.solve(cyclic_game(3), 0.1, eta=8.0, max_iter=3, tol=-1)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(method="adam"), ValueError, "method must be one of"),
    (dict(eta=-1.0), ValueError, "eta"),
    (dict(eta=np.nan), ValueError, "eta"),
    (dict(method="omd", eta=20.0), ValueError, "eta \\* beta"),
    (dict(max_iter=-1), ValueError, "max_iter"),
    (dict(check_every=0), ValueError, "check_every"),
    (dict(ref=[0.5, 0.5, 0.0]), ValueError, "full support"),
    (dict(ref=[0.5, 0.5]), ValueError, "ref"),
    (dict(init=[np.nan, 0.5, 0.5]), ValueError, "init"),
    (dict(callback=3), TypeError, "callback"),
    (dict(backend="gpu"), ValueError, "backend"),
])
def test_bad_arguments(kwargs, exc, match):
    P = cyclic_game(3)
    P0 = P.copy()
    with pytest.raises(exc, match=match):
        nashmp.solve(P, 0.1, **kwargs)
    np.testing.assert_array_equal(P, P0)


def test_bad_games():
    P = cyclic_game(3)
    with pytest.raises(ValueError, match="P \\+ P\\^T = 1"):
        nashmp.solve(P + 0.1, 0.1)
    with pytest.raises(ValueError, match="beta must be > 0"):
        nashmp.solve(P, 0.0)
    with pytest.raises(ValueError, match="beta must be finite"):
        nashmp.solve(P, np.nan)
    bad = P.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nashmp.solve(bad, 0.1)
    with pytest.raises(ValueError, match="square"):
        nashmp.solve(np.full((3, 4), 0.5), 0.1)
    with pytest.raises(TypeError, match="float32 or float64"):
        nashmp.solve(P.astype(np.complex128), 0.1)
    asym = np.array([[0.5, 0.8], [0.4, 0.5]])
    r = nashmp.solve(asym, 0.1, antisymmetrize=True)
    assert r.success
    assert asym[0, 1] == 0.8                                 # input untouched
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        nashmp.solve(np.array([[0.5, 1.5], [-0.5, 0.5]]), 0.1)


def _naive_check(P):
    """max |P[i, j] + P[j, i] - 1| (in P's dtype), min, max, element by element"""
    t = np.abs((P + np.swapaxes(P, -1, -2)) - P.dtype.type(1))
    return float(t.max()), float(P.min()), float(P.max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 2, 3, 4, 5, 7, 127, 128, 129, 131, 257, 300])
@pytest.mark.parametrize("batch", [(), (3,)])
def test_preference_check_matches_elementwise_reference(K, dtype, batch):
    # the one-pass check (libnashmp for a C-contiguous P, NumPy tiles otherwise) against the
    # element-wise formula, on perturbed games whose extremes sit in every region: 4 x 4 blocks,
    # the strip they leave (K % 4 != 0), upper and lower tiles, other games of the batch
    from nashmp._games import _deviation
    rng = np.random.default_rng(K)
    A = rng.random(batch + (K, K))
    P = np.triu(A, 1)
    P = P + np.tril(1 - np.swapaxes(P, -1, -2), -1) + 0.5 * np.eye(K)
    P = (P + rng.normal(0.0, 1e-7, P.shape)).astype(dtype)
    if K > 2:
        P[..., K - 1, 0] = 1.25
        P[..., 1, K - 2] = -0.25
        P[(0,) * len(batch) + (K // 2, K // 3)] = 1.5
    ref = _naive_check(P)
    assert _deviation(P) == ref                          # C-contiguous: libnashmp when built
    assert _deviation(np.asfortranarray(P)) == ref       # the NumPy tiles


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 3, 4, 6, 128, 131, 300])
@pytest.mark.parametrize("batch", [(), (2,)])
def test_antisymmetrize_matches_elementwise_formula(K, dtype, batch):
    # (P + (1 - P^T)) / 2 in one pass (libnashmp for a C-contiguous P), the same matrix as the
    # element-wise NumPy formula, with the check of P and the result's own deviation
    from nashmp._games import _antisymmetrized, _deviation
    rng = np.random.default_rng(K + 7)
    P = rng.random(batch + (K, K)).astype(dtype)
    P0 = P.copy()
    Q, chk, qdev = _antisymmetrized(P)
    want = ((P + (1 - np.swapaxes(P, -1, -2))) / 2).astype(dtype)
    np.testing.assert_array_equal(Q, want)
    assert Q.dtype == dtype
    assert chk == _naive_check(P)
    assert qdev is None or qdev == _naive_check(want)[0]
    Qn, chkn, _ = _antisymmetrized(np.asfortranarray(P))       # the NumPy path
    np.testing.assert_array_equal(Qn, want)
    assert chkn == chk
    np.testing.assert_array_equal(P, P0)                      # input untouched
    assert _deviation(Q)[0] <= 4 * np.finfo(dtype).eps


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0), (129, 129), (2, 129), (129, 2), (65, 43)])
def test_preference_check_reports_nonfinite(value, where):
    from nashmp._games import _deviation
    P = np.full((130, 130), 0.5)
    P[where] = value
    for Q in (P, np.asfortranarray(P), P.astype(np.float32)):
        assert not np.isfinite(_deviation(Q)).all()
    with pytest.raises(ValueError, match="NaN or inf"):
        nashmp.solve(P, 0.1)


def test_sppo_accepts_beta_zero():
    r = solve_quiet(cyclic_game(3), 0.0, method="sppo", max_iter=200)
    np.testing.assert_allclose(r.policy, np.ones(3) / 3, atol=1e-2)


@pytest.mark.parametrize("backend", SOLVER_BACKENDS)
def test_prox_point_inner_solves_only_running_games(backend, monkeypatch):
    """A batched prox_point solves the prox steps of the games still running only (a converged
    game stops costing work): with games converging after 0, 10 and 11 steps, the inner solves
    take 2 games 10 times, then 1; each game as solved alone."""
    from nashmp import solvers as S
    Pb = np.stack([np.full((6, 6), 0.5), random_game(6, 1, 1.0), random_game(6, 2, 3.0)])
    sizes = []
    real = S.solve

    def spy(P, beta, **kw):
        if kw.get("method") == "nash_mp":
            sizes.append(np.size(beta))
        return real(P, beta, **kw)
    monkeypatch.setattr(S, "solve", spy)
    r = nashmp.solve(Pb, 0.1, method="prox_point", backend=backend)
    got = list(sizes)
    assert r.success
    alone = [real(P, 0.1, method="prox_point", backend=backend) for P in Pb]
    assert r.nit.tolist() == [a.nit for a in alone]
    assert r.n_queries.tolist() == [a.n_queries for a in alone]
    last = max(r.nit)
    assert got == [int((r.nit > s).sum()) for s in range(last)]
    assert got[0] == 2 and got[-1] == 1
    for i in range(3):
        np.testing.assert_allclose(r.log_policy[i], alone[i].log_policy, rtol=0, atol=1e-12)
