"""Argument checks of nashmp.solve and the metrics at their edges: iteration limits near int64,
number types, prox_point with tol <= 0, log-policies that are not distributions, span_distance
inputs, set_num_threads out of range; the Numba and NumPy backends of a build without the C
extension."""
import warnings

import numpy as np
import pytest

import nashmp

SOLVER_BACKENDS = [b for b in ("c", "numba", "numpy") if b in nashmp.available_backends()]
RPS = np.array([[.5, 1, 0], [0, .5, 1], [1, 0, .5]])


def game(K, seed):
    A = np.random.default_rng(seed).standard_normal((K, K))
    return 1 / (1 + np.exp(-(A - A.T)))


@pytest.mark.parametrize("backend", SOLVER_BACKENDS)
@pytest.mark.parametrize("kwargs", [dict(max_iter=2 ** 53 + 1), dict(max_iter=2 ** 62),
                                    dict(max_iter=2 ** 63), dict(max_iter=np.uint64(2 ** 63 + 5)),
                                    dict(check_every=2 ** 63)])
def test_iteration_limits_beyond_2_53_rejected(backend, kwargs):
    """Limits that the native loops' int64 counters could not hold are rejected by name (they
    once ran 0 iterations, overflowed the query count, or failed in the C call)."""
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"{name} must be an integer in \\[.*2\\*\\*53\\]"):
        nashmp.solve(game(5, 1), 0.1, backend=backend, **kwargs)


@pytest.mark.parametrize("backend", SOLVER_BACKENDS)
def test_iteration_limit_2_53_runs_to_tol(backend):
    """max_iter = 2**53 is a limit like any other: the solve stops at tol, with the iterates
    and query count of a small limit."""
    P = game(6, 2)
    r = nashmp.solve(P, 0.1, max_iter=2 ** 53, backend=backend)
    want = nashmp.solve(P, 0.1, max_iter=10_000, backend=backend)
    assert r.success and r.nit == want.nit and r.n_queries == want.n_queries
    np.testing.assert_array_equal(r.log_policy, want.log_policy)


def test_numpy_number_types_accepted():
    """NumPy integers and floats are numbers like Python's (np.int64 tol was rejected)."""
    P = game(5, 3)
    want = nashmp.solve(P, 0.1, tol=0.0, max_iter=40, check_every=5)
    got = nashmp.solve(P, np.float32(0.1), tol=np.int64(0), max_iter=np.int64(40),
                       check_every=np.int32(5))
    assert got.nit == want.nit
    np.testing.assert_allclose(got.log_policy, want.log_policy, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(beta=0.1 + 0j), TypeError, "beta must be a real"),
    (dict(beta="0.1"), TypeError, "beta must be a real"),
    (dict(beta=[0.1, None]), TypeError, "beta must be a real"),
    (dict(eta=1 + 0j), TypeError, "eta must be a real"),
    (dict(eta="1"), TypeError, "eta must be a real"),
    (dict(eta=[1.0, 2.0]), ValueError, "eta of shape \\(2,\\) does not broadcast"),
    (dict(tol=np.nan), ValueError, "tol must be a number"),
    (dict(tol="1e-8"), TypeError, "tol must be a real"),
    (dict(tol=None), TypeError, "tol must be a real"),
    (dict(tol=True), TypeError, "tol must be a real"),
    (dict(max_iter=np.bool_(True)), ValueError, "max_iter"),
    (dict(method="prox_point", inner_tol=np.nan), ValueError, "inner_tol must be a number"),
    (dict(method="prox_point", inner_tol=-1e-3), ValueError, "inner_tol must be >= 0"),
    (dict(method="prox_point", inner_tol="x"), TypeError, "inner_tol must be a real"),
])
def test_bad_solver_arguments_named(kwargs, exc, match):
    kw = dict(beta=0.1)
    kw.update(kwargs)
    P = game(3, 4)
    P0 = P.copy()
    with pytest.raises(exc, match=match):
        nashmp.solve(P, kw.pop("beta"), **kw)
    np.testing.assert_array_equal(P, P0)


@pytest.mark.parametrize("backend", SOLVER_BACKENDS)
@pytest.mark.parametrize("tol", [-1.0, 0.0])
def test_prox_point_tol_at_or_below_zero(backend, tol):
    """tol <= 0 (exactly max_iter outer steps) still solves each prox step to rounding, not to
    the inner iteration cap (3 steps once took 600 000 queries); tol < 0 warns nothing. The
    iterates are those of the same steps with an explicit strict inner tolerance."""
    P = game(6, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error" if tol < 0 else "ignore")
        r = nashmp.solve(P, 0.1, method="prox_point", tol=tol, max_iter=3, backend=backend)
    assert r.nit == 3 and r.n_queries < 3 * 2000
    s = nashmp.solve(P, 0.1, method="prox_point", tol=tol, max_iter=3, inner_tol=1e-13,
                     backend=backend)
    # exploitability ~ beta KL: inner tolerances near 1e-15 fix the iterates to ~1e-7
    np.testing.assert_allclose(r.log_policy, s.log_policy, rtol=0, atol=1e-6)


def test_prox_point_default_inner_tol_is_tol_over_10():
    """With tol well above rounding the inner tolerance stays tol / 10 (same queries as
    passing it)."""
    P = game(6, 6)
    a = nashmp.solve(P, 0.1, method="prox_point", tol=1e-6)
    b = nashmp.solve(P, 0.1, method="prox_point", tol=1e-6, inner_tol=1e-7)
    assert a.n_queries == b.n_queries and a.nit == b.nit


def _metric_calls(lp):
    return [lambda: nashmp.exploitability(RPS, lp, 0.1),
            lambda: nashmp.duality_gap(RPS, lp, 0.1),
            lambda: nashmp.best_response(RPS, lp, 0.1),
            lambda: nashmp.fixed_point_residual(RPS, lp, 0.1)]


@pytest.mark.parametrize("lp, match", [
    (np.full(3, -np.inf), "finite entry in every row"),
    (np.log(np.ones(3) / 3) - 3, "must be normalized"),
    (np.zeros(3) + 800, "must be normalized"),
    (np.log([[1 / 3] * 3, [0.5, 0.5, 0.01]]), "must be normalized"),
    (np.array([np.log(np.ones(3) / 3), [-np.inf] * 3]), "finite entry in every row"),
])
def test_metrics_reject_non_policies(lp, match):
    """A log_pi that is not a distribution (all -inf, shifted, a batch with one bad row) gets
    an error, not an impossible value (exploitability -0.5, a uniform best response)."""
    for call in _metric_calls(lp):
        with pytest.raises(ValueError, match=match):
            call()


def test_metrics_accept_rounded_policies():
    """Log-policies normalized to rounding pass: float32 storage, and an -inf action."""
    lp32 = nashmp.solve(RPS.astype(np.float32), 0.1).log_policy
    assert lp32.dtype == np.float32
    with np.errstate(divide="ignore"):
        lp = np.log(np.array([0.7, 0.3, 0.0]))
    lp_off = np.log(np.array([0.2, 0.3, 0.5])) + 1e-6
    for x in (lp32, lp, lp_off):
        for call in _metric_calls(x):
            assert np.all(np.isfinite(call()) | np.isinf(call()))
    want = 0.1 * np.log(np.exp(RPS @ np.exp(lp) / 0.1).mean()) + 0.1 * (
        0.7 * np.log(0.7 * 3) + 0.3 * np.log(0.3 * 3)) - 0.5
    assert abs(float(nashmp.exploitability(RPS, lp, 0.1)) - want) < 1e-12


@pytest.mark.parametrize("a, b, exc, match", [
    ([0.0, np.nan, 1.0], [0.0, 0.0, 0.0], ValueError, "log_p must not contain NaN"),
    ([0.0, 0.0, 0.0], [0.0, np.inf, 1.0], ValueError, "log_q must not contain NaN or \\+inf"),
    (np.zeros((2, 3)), np.zeros(1), ValueError, "log_q must have 3 actions"),
    (np.zeros(3), np.zeros(4), ValueError, "log_q must have 3 actions"),
    (np.zeros((2, 3)), np.zeros((3, 3)), ValueError, "batch dimensions do not broadcast"),
    ([0.0, "a", 1.0], [0.0, 0.0, 0.0], TypeError, "log_p"),
])
def test_span_distance_checks(a, b, exc, match):
    with pytest.raises(exc, match=match):
        nashmp.span_distance(a, b)


def test_span_distance_values():
    """Broadcast batch dims; -inf in both ignored, in one only +inf."""
    lp = np.log(np.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]]))
    lq = np.log(np.array([0.25, 0.25, 0.5]))
    want = [(lp[i] - lq).max() - (lp[i] - lq).min() for i in range(2)]
    np.testing.assert_allclose(nashmp.span_distance(lp, lq), want, rtol=0, atol=1e-15)
    a = np.array([0.0, -np.inf, -1.0])
    assert nashmp.span_distance(a, np.array([-0.5, -np.inf, -2.0])) == 0.5
    assert nashmp.span_distance(a, np.array([-0.5, -3.0, -2.0])) == np.inf


def test_set_num_threads_far_below_zero_is_the_default():
    """Any n <= 0 restores the default (n = -2**40 overflowed a C int)."""
    if "c" not in nashmp.available_backends():
        pytest.skip("C extension unavailable")
    prev = nashmp.get_num_threads()
    try:
        nashmp.set_num_threads(0)
        default = nashmp.get_num_threads()
        nashmp.set_num_threads(1)
        nashmp.set_num_threads(-2 ** 40)
        assert nashmp.get_num_threads() == default
    finally:
        nashmp.set_num_threads(prev)


@pytest.mark.parametrize("backend", SOLVER_BACKENDS)
def test_sppo_batch_with_a_game_solved_at_start(backend):
    """sppo reports the normalized running state of the games that stepped and the start of
    a game solved at iteration 0 (the uniform policy of an all-ties game: exploitability 0),
    each game as when solved alone (the solved game was reported as NaN)."""
    Pb = np.stack([np.full((4, 4), 0.5), game(4, 7)])
    kw = dict(method="sppo", max_iter=40, tol=1e-9, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = nashmp.solve(Pb, 0.1, **kw)
        alone = [nashmp.solve(P, 0.1, **kw) for P in Pb]
    assert r.nit.tolist() == [0, 40]
    for i in range(2):
        np.testing.assert_allclose(r.log_policy[i], alone[i].log_policy, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.log_policy[0], np.full(4, -np.log(4)), rtol=0, atol=1e-15)


@pytest.mark.parametrize("backend", ["numba", "numpy", "auto"])
def test_kernels_and_solve_without_the_c_extension(backend, monkeypatch):
    """Without the C extension (c_lib raising ImportError, as in a build that has none) the
    kernels, metrics and solvers run on Numba or NumPy: the kernels' C fast path used to ask
    for the extension before looking at the backend, so every call failed there."""
    import nashmp._backend as B
    import nashmp._kernels as Kn
    if backend == "numba" and not B.is_available("numba"):
        pytest.skip("numba unavailable")

    def no_c():
        raise ImportError("the nashmp C extension is not available (test)")
    monkeypatch.setattr(B, "c_lib", no_c)
    monkeypatch.setattr(B, "_available_cache", set())
    monkeypatch.setattr(B, "_resolved_auto", None)
    monkeypatch.setattr(Kn, "_FB_TYPES", {})
    assert not B.is_available("c") and B.resolve("auto") != "c"
    x = np.random.default_rng(2).standard_normal((3, 7))
    m = x.max(axis=1)
    np.testing.assert_allclose(nashmp.logsumexp(x, backend=backend),
                               m + np.log(np.exp(x - m[:, None]).sum(axis=1)), rtol=1e-14)
    P = game(6, 9)
    r = nashmp.solve(P, 0.1, method="prox_point", backend=backend)
    assert r.success and r.backend != "c"
    assert float(nashmp.exploitability(P, r.log_policy, 0.1, backend=backend)) <= 1e-8
