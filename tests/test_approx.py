"""Approximate Nash-MP (nashmp.approx): the sampled oracle, the policies, the exact limit of the
solver (== nashmp.solve), convergence to a floor set by the per-step error, and bad input.

Small games (K <= 20) and fixed seeds; the whole file runs in well under a minute."""
import warnings

import numpy as np
import pytest

import nashmp
from nashmp.approx import (EmbeddingPreference, LogLinearPolicy, SampledOracle, TabularPolicy,
                           solve)


def random_game(K, seed, scale=2.0, B=None):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, K) if B is None else (B, K, K)) * scale
    S = (A - np.swapaxes(A, -1, -2)) / 2
    return 1 / (1 + np.exp(-S))


def kl(lp, lq):
    p = np.exp(lp)
    return float(np.sum(p * (lp - lq)))


def equilibrium(P, beta, ref=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = nashmp.solve(P, beta, ref=ref, tol=1e-15, max_iter=20000)
    return np.asarray(r.log_policy, dtype=np.float64)


# ---- exact prox steps: the iterates of nashmp.solve --------------------------------------------

@pytest.mark.parametrize("method", ["nash_mp", "nash_md", "omd"])
def test_exact_mode_equals_exact_solver_iterate_by_iterate(method):
    P = random_game(12, 3)
    beta = 0.2
    ref = np.random.default_rng(5).dirichlet(np.ones(12)) * 0.5 + 0.5 / 12
    iters = []
    res = solve(P, beta, ref=ref, method=method, exact=True, n_outer=6,
                callback=lambda r: iters.append(r.log_policy.copy()))
    for T in range(1, 7):
        s = nashmp.solve(P, beta, ref=ref, method=method, max_iter=T, tol=-1, backend="numpy")
        np.testing.assert_allclose(iters[T - 1], s.log_policy, rtol=0, atol=1e-12)
        if T == 6:
            assert res.n_queries == int(s.n_queries)
            np.testing.assert_allclose(res.exploitability, s.exploitability, rtol=1e-10,
                                       atol=1e-15)
    np.testing.assert_array_equal(res.log_policy, iters[-1])


def test_exact_mode_batched_games_and_history():
    P = random_game(7, 11, B=3)
    beta = np.array([0.1, 0.3, 1.0])
    res = solve(P, beta, exact=True, n_outer=8)
    s = nashmp.solve(P, beta, max_iter=8, tol=-1, history=True, check_every=1)
    np.testing.assert_allclose(res.log_policy, s.log_policy, atol=1e-12)
    np.testing.assert_allclose(res.history["exploitability"], s.history["exploitability"],
                               rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(res.n_queries_per_context, s.n_queries)
    assert res.history["exploitability"].shape == (9, 3)


# ---- sampled prox steps: linear rate down to a floor ------------------------------------------

def test_sampled_nash_mp_below_rate_plus_step_error_bound():
    """Bound checked (derivation):

    1. exact Nash-MP step T (eta <= 2): KL(pi*||T(pi_k)) <= rho KL(pi*||pi_k), rho = 1/(1+eta beta);
    2. the fitted iterate is log pi_{k+1} = log T(pi_k) + e_k; since both are normalized,
       max_y(log T - log pi_{k+1}) <= span(e_k) =: eps_k (recorded as history["step_error"]), so
       KL(pi*||pi_{k+1}) = KL(pi*||T(pi_k)) + E_pi*[log T - log pi_{k+1}] <= rho KL_k + eps_k;
       hence KL_T <= rho^T KL_0 + sum_j rho^(T-1-j) eps_j  (<= rho^T KL_0 + max eps/(1-rho));
    3. exploitability(pi) = beta KL(pi||pi*) + beta KL(pi*||BR(pi)) with
       KL(pi*||BR(pi)) <= span(g(pi)-g(pi*))^2/(8 beta^2) <= |pi-pi*|_1^2/(8 beta^2)
                       <= KL(pi*||pi)/(4 beta^2)  (Hoeffding's lemma, P in [0,1], Pinsker) and
       KL(pi||pi*) <= chi^2(pi||pi*) <= |pi-pi*|_1^2 / (2 min pi*) <= KL(pi*||pi) / min pi*, so
       exploitability(pi) <= (beta / min pi* + 1/(4 beta)) KL(pi*||pi).
    The test checks 2 at every iterate and 3 at the end, and that the bound has teeth (the
    final exploitability is far below the start: a linear phase happened)."""
    K, beta, eta = 8, 0.5, 2.0
    P = random_game(K, 7)
    lstar = equilibrium(P, beta)
    its = []
    res = solve(P, beta, eta=eta, n_outer=12, n_inner=30, samples_per_step=128, rng=42,
                step_error=True, callback=lambda r: its.append(r.log_policy.copy()))
    rho = 1.0 / (1.0 + eta * beta)
    eps = res.history["step_error"]
    l0 = np.full(K, -np.log(K))
    bound = kl(lstar, l0)
    for k, lk in enumerate(its):
        bound = rho * bound + eps[k]
        assert kl(lstar, lk) <= bound + 1e-12, (k, kl(lstar, lk), bound)
    ex_bound = (beta / np.exp(lstar).min() + 1 / (4 * beta)) * bound
    ex0 = res.history["exploitability"][0]
    assert res.exploitability <= ex_bound
    assert res.exploitability < ex0 / 8
    # the floor term alone (max eps / (1 - rho)) is what remains of the bound after many steps
    assert bound <= rho ** len(its) * kl(lstar, l0) + eps.max() / (1 - rho) + 1e-12


def _floor(n, seeds, **kw):
    P = random_game(10, 1)
    vals = [solve(P, 0.2, n_outer=12, n_inner=30, samples_per_step=n, rng=s,
                  **kw).history["exploitability"][-4:].mean() for s in seeds]
    return float(np.mean(vals))


def test_doubling_samples_lowers_the_floor():
    """Final floor (mean exploitability of the last 4 iterates, averaged over 6 seeds): the
    per-step error of the fitted prox step has variance ~ 1/samples, so doubling the samples
    must lower the floor (expected ratio ~ 1/2; asserted < 0.8)."""
    seeds = range(6)
    f1, f2 = _floor(48, seeds), _floor(96, seeds)
    start = solve(random_game(10, 1), 0.2, exact=True, n_outer=0).exploitability
    assert f2 < 0.8 * f1, (f1, f2)
    assert f1 < start / 2


def test_nash_mp_converges_with_probability_outcomes_and_reinforce():
    P = random_game(6, 2)
    ex0 = solve(P, 0.3, exact=True, n_outer=0).exploitability
    r = solve(P, 0.3, n_outer=10, n_inner=20, samples_per_step=64, outcomes="probability",
              rng=0)
    assert r.exploitability < ex0 / 10
    r2 = solve(P, 0.3, n_outer=10, n_inner=40, samples_per_step=64, loss="reinforce", rng=0)
    assert r2.exploitability < ex0 / 4
    assert r2.n_queries == 10 * 2 * 40 * 64                      # one query per sample
    r3 = solve(P, 0.3, n_outer=10, n_inner=20, samples_per_step=64, anchor_ema=0.7, rng=0,
               pairs="anchor")
    assert r3.exploitability < ex0 / 4


def test_loglinear_contextual_embedding_game_converges():
    rng = np.random.default_rng(0)
    B, K, d = 3, 20, 4
    E = rng.standard_normal((K, d)) + 0.8
    A = rng.standard_normal((B, d, d))
    pref = EmbeddingPreference(E, A - np.swapaxes(A, 1, 2))
    pol = LogLinearPolicy(E, np.zeros((B, d)))
    res = solve(pref, 0.2, policy=pol, n_outer=10, n_inner=20, samples_per_step=64, rng=1,
                step_error=True)
    err = res.history["step_error"]
    assert err.shape == (10, B) and np.isfinite(err).all() and (err >= 0).all()
    ex = res.history["exploitability"]
    assert ex.shape == (11, B)
    assert (ex[-1] < ex[0] / 3).all()
    assert res.n_queries == B * 10 * 2 * 20 * 64 * 2
    assert isinstance(res.policy, LogLinearPolicy) and res.policy.params.shape == (B, d)
    np.testing.assert_array_equal(pol.params, 0)                  # input untouched
    # the same game through the dense matrix gives the same exact exploitability
    ex_dense = nashmp.exploitability(pref.dense(), res.log_policy, 0.2)
    np.testing.assert_allclose(res.exploitability, ex_dense, rtol=1e-9)


def test_nash_md_and_omd_baselines_run_on_the_same_oracle():
    P = random_game(6, 4)
    orc = SampledOracle(P, np.random.default_rng(0))
    r1 = solve(orc, 0.3, method="nash_md", n_outer=6, n_inner=10, samples_per_step=16, rng=1)
    r2 = solve(orc, 0.3, method="omd", eta=1.0, n_outer=6, n_inner=10, samples_per_step=16,
               rng=1)
    assert r1.n_queries == r2.n_queries == 6 * 10 * 16 * 2
    assert orc.n_queries == 2 * r1.n_queries


# ---- oracle ------------------------------------------------------------------------------------

def test_oracle_counts_every_query():
    P = random_game(5, 0, B=3)
    orc = SampledOracle(P, np.random.default_rng(0))
    y = np.zeros((3, 7), int)
    orc.compare(y, y + 1)
    assert orc.n_queries == 21
    orc.compare(np.array([[0], [1], [2]]), np.array([1, 2, 3, 4]))       # broadcast (3, 4)
    assert orc.n_queries == 33
    pol = TabularPolicy(np.zeros((3, 5)))
    g = orc.estimate_g(np.zeros((3, 2), int), pol, 10)
    assert g.shape == (3, 2) and orc.n_queries == 33 + 60
    orc.probabilities(y, y, count=False)
    assert orc.n_queries == 93


def test_bernoulli_outcomes_have_the_right_mean():
    P = random_game(4, 1, B=2)
    orc = SampledOracle(P, np.random.default_rng(123))
    N = 40000
    y = np.zeros((2, N), int)
    o = orc.compare(y, y + 2)
    for b in range(2):
        p = P[b, 0, 2]
        assert set(np.unique(o[b])) <= {0.0, 1.0}
        assert abs(o[b].mean() - p) < 5 * np.sqrt(p * (1 - p) / N) + 1e-3
    orc_p = SampledOracle(P, np.random.default_rng(0), outcomes="probability")
    np.testing.assert_array_equal(orc_p.compare(y[:, :3], y[:, :3] + 1),
                                  np.repeat(P[:, 0, 1][:, None], 3, axis=1))


def test_oracle_estimate_g_is_unbiased():
    P = random_game(6, 3)
    pol = TabularPolicy(np.random.default_rng(1).standard_normal(6))
    orc = SampledOracle(P, np.random.default_rng(2), outcomes="probability")
    g = orc.estimate_g(np.arange(6), pol, 20000)
    exact = P @ np.exp(pol.log_probs_all())
    np.testing.assert_allclose(g, exact, atol=0.02)


def test_callable_judge_and_operator_with_entries():
    P = random_game(5, 9, B=2)
    seen = {}

    def judge(y, y2, x):
        seen["x"] = np.array(x)
        return P[x, y, y2]

    orc = SampledOracle(judge, np.random.default_rng(0), outcomes="probability")
    y = np.array([[0, 1], [2, 3]])
    np.testing.assert_array_equal(orc.compare(y, y + 1), P[[[0, 0], [1, 1]], y, y + 1])
    np.testing.assert_array_equal(seen["x"], [[0, 0], [1, 1]])
    assert not orc.can_evaluate_g

    class Op:                                    # duck-typed operator (like nashmp.operators)
        K = 5

        def entries(self, i, j):
            return P[0][i, j]

    o2 = SampledOracle(Op(), np.random.default_rng(0), outcomes="probability")
    np.testing.assert_array_equal(o2.compare(np.arange(5), np.zeros(5, int)), P[0][:, 0])
    # a judge-driven solve needs a policy (K unknown) and reports no exploitability
    r = solve(lambda a, b: P[0][a, b], 0.3, policy=TabularPolicy(np.zeros(5)), n_outer=2,
              n_inner=3, samples_per_step=8, rng=0)
    assert r.exploitability is None and r.n_queries == 2 * 2 * 3 * 8 * 2


# ---- policies ----------------------------------------------------------------------------------

def test_loglinear_log_prob_differences_need_no_enumeration():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((3, 17, 5))                    # per-context features
    for theta in (rng.standard_normal((3, 5)), rng.standard_normal(5)):   # per context, shared
        pol = LogLinearPolicy(F, theta)
        lp = pol.log_probs_all()
        y, y2 = rng.integers(0, 17, (3, 9)), rng.integers(0, 17, (3, 9))
        expect = np.take_along_axis(lp, y, 1) - np.take_along_axis(lp, y2, 1)
        np.testing.assert_allclose(pol.log_prob_diff(y, y2), expect, atol=1e-12)
        np.testing.assert_allclose(pol.log_prob(y), np.take_along_axis(lp, y, 1), atol=1e-12)
        np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0)
    assert LogLinearPolicy(F, rng.standard_normal(5)).shared
    # gradient of log pi: phi(y) - E_pi[phi], checked by finite differences
    pol = LogLinearPolicy(F[0], rng.standard_normal(5))
    y = np.array([3, 8])
    gr = pol.grad_log_prob(y)
    h = 1e-6
    for p in range(5):
        th = pol.params[0].copy()
        th[p] += h
        up = LogLinearPolicy(F[0], th).log_prob(y)
        th[p] -= 2 * h
        dn = LogLinearPolicy(F[0], th).log_prob(y)
        np.testing.assert_allclose(gr[:, p], (up - dn) / (2 * h), atol=1e-6)


@pytest.mark.parametrize("method", ["inverse_cdf", "gumbel"])
def test_sampling_matches_the_policy(method):
    logits = np.array([[0.0, 1.0, -2.0, 0.5, -40.0], [3.0, 0.0, 0.0, 0.0, 0.0]])
    pol = TabularPolicy(logits)
    N = 40000
    y = pol.sample(N, np.random.default_rng(7), method=method)
    p = np.exp(pol.log_probs_all())
    for b in range(2):
        freq = np.bincount(y[b], minlength=5) / N
        np.testing.assert_array_less(np.abs(freq - p[b]), 5 * np.sqrt(p[b] * (1 - p[b]) / N)
                                     + 1e-3)
    a = pol.sample(10, np.random.default_rng(3), method=method)
    np.testing.assert_array_equal(a, pol.sample(10, np.random.default_rng(3), method=method))


def test_embedding_preference_entries_apply_and_prototypes():
    rng = np.random.default_rng(1)
    C = rng.standard_normal((6, 3))
    A = rng.standard_normal((2, 3, 3))
    labels = rng.integers(0, 6, 15)
    proto = EmbeddingPreference(C, A - np.swapaxes(A, 1, 2), labels=labels)
    plain = EmbeddingPreference(C[labels], A - np.swapaxes(A, 1, 2))
    P = plain.dense()
    assert P.shape == (2, 15, 15)
    np.testing.assert_allclose(P + np.swapaxes(P, 1, 2), 1.0, atol=1e-15)
    pi = rng.dirichlet(np.ones(15), size=2)
    expect = np.einsum("bij,bj->bi", P, pi)
    np.testing.assert_allclose(plain.apply(pi, tile_elems=40), expect, atol=1e-14)
    np.testing.assert_allclose(proto.apply(pi), expect, atol=1e-14)
    i, j = rng.integers(0, 15, (2, 5)), rng.integers(0, 15, (2, 5))
    x = np.array([[0], [1]])
    np.testing.assert_allclose(proto.entries(i, j, x), P[x, i, j], atol=1e-15)


# ---- bad input ---------------------------------------------------------------------------------

def test_bad_input_raises_clear_errors():
    P = random_game(4, 0)
    with pytest.raises(ValueError, match="antisymmetric"):
        SampledOracle(np.full((4, 4), 0.7))
    with pytest.raises(TypeError, match="preference"):
        SampledOracle(42)
    with pytest.raises(ValueError, match="outcomes"):
        SampledOracle(P, outcomes="coin")
    with pytest.raises(TypeError, match="rng"):
        SampledOracle(P, rng=3)
    orc = SampledOracle(P, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"y must hold action indices in \[0, 4\)"):
        orc.compare(np.array([4]), np.array([0]))
    with pytest.raises(TypeError, match="y2 must hold integer"):
        orc.compare(np.array([0]), np.array([0.5]))
    with pytest.raises(ValueError, match="judge"):
        SampledOracle(lambda a, b: a * 0 + 2.0).compare(np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="logits must be finite"):
        TabularPolicy([0.0, np.nan])
    with pytest.raises(ValueError, match="theta must have 3"):
        LogLinearPolicy(np.zeros((5, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="features"):
        LogLinearPolicy(np.zeros(5))
    with pytest.raises(ValueError, match="n must be an integer"):
        TabularPolicy(np.zeros(3)).sample(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="method must be"):
        TabularPolicy(np.zeros(3)).sample(2, np.random.default_rng(0), method="magic")
    with pytest.raises(ValueError, match="R must be skew-symmetric"):
        EmbeddingPreference(np.zeros((4, 2)), np.eye(2))
    bad = [
        (dict(method="sppo"), ValueError, "method"),
        (dict(loss="l1"), ValueError, "loss"),
        (dict(pairs="all"), ValueError, "pairs"),
        (dict(n_inner=0), ValueError, "n_inner"),
        (dict(samples_per_step=2.5), ValueError, "samples_per_step"),
        (dict(lr=-1.0), ValueError, "lr"),
        (dict(anchor_ema=1.5), ValueError, "anchor_ema"),
        (dict(rng="seed"), TypeError, "rng"),
        (dict(eta=-1.0), ValueError, "eta"),
        (dict(method="omd", eta=10.0), ValueError, "eta \\* beta"),
        (dict(policy=TabularPolicy(np.zeros(5))), ValueError, "5 actions"),
        (dict(policy="tabular"), TypeError, "policy"),
        (dict(callback=3), TypeError, "callback"),
        (dict(ref=np.array([0.5, 0.5, 0.0, 0.0])), ValueError, "full support"),
    ]
    for kw, exc, msg in bad:
        with pytest.raises(exc, match=msg):
            solve(P, 0.3, **{**dict(n_outer=1, n_inner=1, samples_per_step=2), **kw})
    with pytest.raises(ValueError, match="beta"):
        solve(P, 0.0, n_outer=1)
    with pytest.raises(ValueError, match="exact=True needs a TabularPolicy"):
        solve(P, 0.3, policy=LogLinearPolicy(np.eye(4)), exact=True)
    with pytest.raises(ValueError, match="exact=True needs a preference"):
        solve(lambda a, b: P[a, b], 0.3, policy=TabularPolicy(np.zeros(4)), exact=True)
    with pytest.raises(ValueError, match="policy \\(or ref\\) is required"):
        solve(lambda a, b: P[a, b], 0.3)


def test_inputs_are_not_modified():
    P = random_game(5, 1)
    P0 = P.copy()
    logits = np.random.default_rng(0).standard_normal(5)
    l0 = logits.copy()
    pol = TabularPolicy(logits)
    solve(P, 0.3, policy=pol, n_outer=2, n_inner=3, samples_per_step=4, rng=0)
    np.testing.assert_array_equal(P, P0)
    np.testing.assert_array_equal(logits, l0)
    np.testing.assert_array_equal(pol.params[0], l0)


def test_oracle_and_solve_over_nashmp_operators():
    ops = pytest.importorskip("nashmp.operators")
    P = random_game(6, 5, B=2)
    dense_op = ops.Dense(P)
    orc = SampledOracle(dense_op, np.random.default_rng(0), outcomes="probability")
    y, y2 = np.array([[0, 1, 2], [3, 4, 5]]), np.array([[5, 4, 3], [2, 1, 0]])
    np.testing.assert_allclose(orc.compare(y, y2), P[[[0], [1]], y, y2])
    assert orc.n_queries == 6 and orc.can_evaluate_g
    r = solve(dense_op, 0.3, exact=True, n_outer=4)
    s = nashmp.solve(P, 0.3, max_iter=4, tol=-1)
    np.testing.assert_allclose(r.log_policy, s.log_policy, atol=1e-12)
    rng = np.random.default_rng(3)
    E = rng.standard_normal((15, 3))
    A = rng.standard_normal((3, 3))
    emb = ops.Embedding(E, A - A.T)
    res = solve(emb, 0.3, policy=LogLinearPolicy(E), n_outer=3, n_inner=5, samples_per_step=16,
                rng=0)
    mine = EmbeddingPreference(E, A - A.T)
    np.testing.assert_allclose(res.exploitability,
                               nashmp.exploitability(mine.dense(), res.log_policy, 0.3),
                               rtol=1e-9)


def test_loglinear_reinforce_shared_theta_and_growing_batches():
    rng = np.random.default_rng(4)
    B, K, d = 2, 15, 3
    E = rng.standard_normal((K, d)) + 0.8
    A = rng.standard_normal((B, d, d))
    pref = EmbeddingPreference(E, A - np.swapaxes(A, 1, 2))
    # REINFORCE with a per-context log-linear policy
    r = solve(pref, 0.3, policy=LogLinearPolicy(E, np.zeros((B, d))), loss="reinforce",
              n_outer=8, n_inner=30, samples_per_step=64, rng=0)
    ex0 = r.history["exploitability"][0]
    assert (r.exploitability < ex0 / 2).all()
    assert r.n_queries == B * 8 * 2 * 30 * 64
    # one parameter vector shared by the contexts (per-context features)
    F = np.stack([E, E[::-1]])
    rs = solve(pref, 0.3, policy=LogLinearPolicy(F, np.zeros(d)), n_outer=6, n_inner=10,
               samples_per_step=32, rng=0)
    assert rs.policy.shared and rs.policy.params.shape == (1, d)
    assert np.isfinite(rs.exploitability).all()
    # growing batches: outer iteration t uses ceil(8 * 1.5**t) triples
    rg = solve(pref, 0.3, policy=LogLinearPolicy(E, np.zeros((B, d))), n_outer=4, n_inner=2,
               samples_per_step=8, samples_growth=1.5, rng=0)
    assert rg.n_queries == B * 2 * 2 * 2 * (8 + 12 + 18 + 27)


def test_linear_link_embedding_is_the_low_rank_skew_game():
    rng = np.random.default_rng(2)
    E = rng.standard_normal((12, 4))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    A = rng.standard_normal((4, 4))
    R = (A - A.T) * 0.5 / np.linalg.norm(A - A.T, 2)
    pref = EmbeddingPreference(E, R, link="linear")
    P = pref.dense()
    np.testing.assert_allclose(P, 0.5 + E @ R @ E.T, atol=1e-15)
    assert P.min() >= 0 and P.max() <= 1
    pi = rng.dirichlet(np.ones(12))
    np.testing.assert_allclose(pref.apply(pi), P @ pi, atol=1e-15)
    np.testing.assert_allclose(pref.entries([0, 3], [5, 1]), P[[0, 3], [5, 1]], atol=1e-15)
    with pytest.raises(ValueError, match="link='linear' needs"):
        EmbeddingPreference(E * 2, R, link="linear")
    with pytest.raises(ValueError, match="link must be"):
        EmbeddingPreference(E, R, link="probit")


def test_approx_is_a_lazy_submodule():
    import subprocess
    import sys
    code = ("import sys, nashmp; assert 'nashmp.approx' not in sys.modules; "
            "s = nashmp.approx.solve; assert 'nashmp.approx' in sys.modules; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=str(__import__("pathlib").Path(nashmp.__file__).parent.parent))
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_batch_of_references_on_one_game_matches_exact_solver():
    P = random_game(6, 8)
    ref = np.random.default_rng(0).dirichlet(np.ones(6), size=3) + 0.05
    ref /= ref.sum(-1, keepdims=True)
    r = solve(P, 0.4, ref=ref, exact=True, n_outer=5)
    s = nashmp.solve(P, 0.4, ref=ref, max_iter=5, tol=-1)
    assert r.log_policy.shape == (3, 6)
    np.testing.assert_allclose(r.log_policy, s.log_policy, atol=1e-12)


@pytest.mark.parametrize("mod", ["nashmp.approx", "nashmp.approx.oracle",
                                 "nashmp.approx.policies", "nashmp.approx.preferences",
                                 "nashmp.approx.solver"])
def test_docstring_examples_run(mod):
    import doctest
    import importlib
    res = doctest.testmod(importlib.import_module(mod), optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
