"""nashmp.solve on a batched operator (Dense with batch dims): games that stop at different
iterations, per-game beta and eta, broadcasting against ref / beta, history and callbacks. Each
solve equals the dense-array solve of the same games and the solves of each game alone."""
import warnings

import numpy as np
import pytest

import nashmp
from nashmp._methods import DEFAULT_ETA, METHODS

BACKENDS = [b for b in ("c", "numba", "numpy") if b in nashmp.available_backends()]
K = 7


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """K = 7: one thread (a Numba kernel's thread start-up costs more than its work here)."""
    prev = nashmp.get_num_threads()
    nashmp.set_num_threads(1)
    yield
    nashmp.set_num_threads(prev)


def _game(seed, scale):
    """An intransitive game; scale 0 is the constant 1/2 game (uniform is its equilibrium)."""
    A = np.random.default_rng(seed).standard_normal((K, K)) * scale
    return 1.0 / (1.0 + np.exp(-(A - A.T) / 2))


def _games(*shape):
    """Games of very different difficulty: trivial (solved at iteration 0), easy, hard, ..."""
    n = int(np.prod(shape))
    return np.stack([_game(s, 1.5 * s) for s in range(n)]).reshape(shape + (K, K))


def _solve(P, beta, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return nashmp.solve(P, beta, **kw)


def _kw(method, backend, **extra):
    return dict(method=method, backend=backend, tol=1e-9, check_every=3,
                max_iter=12 if method == "prox_point" else 120, **extra)


def _policies_close(got, exp, nit, what):
    # the dense loops report NaN for an SPPO game never stepped in a batch whose other games
    # were (solvers._reported normalizes the all -inf sum of its iterates); the operator loop
    # reports the game's init, as a solve of that game alone does (checked in _check)
    skip = np.isnan(exp).all(axis=-1) & (nit == 0)
    np.testing.assert_allclose(got[~skip], exp[~skip], atol=1e-10, rtol=0, err_msg=what)
    assert np.isfinite(got).all(), what


def _assert_same(r, want, what):
    _policies_close(r.log_policy, want.log_policy, want.nit, what)
    np.testing.assert_allclose(r.exploitability, want.exploitability, atol=1e-10, rtol=0,
                               err_msg=what)
    assert np.array_equal(r.nit, want.nit), (what, r.nit, want.nit)
    assert np.array_equal(r.n_queries, want.n_queries), (what, r.n_queries, want.n_queries)
    assert np.array_equal(r.success, want.success) and r.status == want.status, what


def _check(Pb, beta, eta, method, backend, **extra):
    """Batched operator solve == dense-array solve == each game alone; returns the result."""
    kw = _kw(method, backend, **extra)
    op = nashmp.Dense(Pb)
    r = _solve(op, beta, eta=eta, **kw)
    _assert_same(r, _solve(Pb, beta, eta=eta, **kw), f"{method} {backend} vs dense")
    bshape = r.nit.shape
    Pf = np.broadcast_to(Pb, bshape + (K, K)).reshape(-1, K, K)
    betas = np.broadcast_to(beta, bshape).reshape(-1)
    etas = None if eta is None else np.broadcast_to(eta, bshape).reshape(-1)
    single_q = 0
    for i in range(Pf.shape[0]):
        opi = nashmp.Dense(Pf[i])
        ri = _solve(opi, betas[i], eta=None if etas is None else etas[i], **kw)
        single_q += opi.n_queries
        np.testing.assert_allclose(r.log_policy.reshape(-1, K)[i], ri.log_policy, atol=1e-10,
                                   rtol=0, err_msg=f"{method} {backend} game {i}")
        assert r.nit.reshape(-1)[i] == ri.nit and r.n_queries.reshape(-1)[i] == ri.n_queries
    if method != "prox_point":
        # a game that stopped costs no query: the batched operator did the single solves' work
        assert op.n_queries == single_q, (method, backend, op.n_queries, single_q)
    return r


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_games_stopping_apart(method, backend):
    """Trivial, easy and hard games in one batch: subsets of the rows are stepped."""
    r = _check(_games(3), 0.1, None, method, backend)
    assert r.nit[0] == 0 and len(set(r.nit.tolist())) > 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_per_game_beta_and_eta(method, backend):
    """Per-game beta (and eta): games stepped in groups of equal coefficients from the start."""
    beta = np.array([0.05, 0.3, 1.0])
    eta = None if method == "nash_md" else \
        np.array([DEFAULT_ETA[method](b) for b in beta]) * np.array([1.0, 0.8, 0.6])
    Pb = np.stack([_game(3, 2.0), _game(4, 2.5), _game(5, 3.0)])
    _check(Pb, beta, None, method, backend)
    _check(Pb, beta, eta, method, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ("nash_mp", "omd", "nash_md", "omwu", "sppo", "prox_point"))
def test_two_batch_axes_ref_rows_history_callback(method, backend):
    """Batch (2, 3) of games, a reference and an init per game, history and a callback."""
    Pb = _games(2, 3)
    rng = np.random.default_rng(1)
    ref = rng.dirichlet(np.ones(K), size=(2, 3))
    init = rng.dirichlet(np.ones(K), size=(2, 3))
    init[0, 0] = ref[0, 0]                    # the constant game's equilibrium: solved at start
    beta = np.array([[0.1], [0.4]])
    seen = {}
    for name, P in (("op", nashmp.Dense(Pb)), ("dense", Pb)):
        got = seen[name] = []
        r = _solve(P, beta, ref=ref, init=init, history=True,
                   callback=lambda res, got=got: got.append((res.nit.copy(), res.log_policy)),
                   **_kw(method, backend))
        seen[name + "_res"] = r
    r, rd = seen["op_res"], seen["dense_res"]
    _assert_same(r, rd, f"{method} {backend}")
    assert r.nit.shape == (2, 3) and len(set(r.nit.ravel().tolist())) > 1
    assert len(seen["op"]) == len(seen["dense"]) > 1
    for (n1, l1), (n2, l2) in zip(seen["op"], seen["dense"]):
        assert np.array_equal(n1, n2)
        _policies_close(l1, l2, n2, f"{method} {backend} callback")
    for key in ("n_queries", "exploitability"):
        np.testing.assert_allclose(r.history[key], rd.history[key], atol=1e-10, rtol=0)
    # a shared reference (K,) as well, against each game alone
    _check(Pb, beta, None, method, backend, ref=ref[0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ("nash_mp", "extragradient", "mmd", "omwu"))
def test_operator_batch_broadcast_against_beta(method, backend):
    """Operator batch (3,) against beta (2, 1) / (2, 3): each game serves several rows."""
    Pb = _games(3)
    _check(Pb, np.array([[0.1], [0.5]]), None, method, backend)
    _check(Pb, np.array([[0.05, 0.2, 0.3], [1.0, 0.1, 0.5]]), None, method, backend)


def test_stop_iteration_and_float32():
    """A callback stopping the solve keeps the games' last iterates; float32 games equal the
    float32 games solved alone."""
    Pb = _games(3)
    calls = []

    def cb(res):
        calls.append(res.nit.copy())
        if len(calls) == 2:
            raise StopIteration

    kw = dict(tol=1e-9, check_every=3, backend=BACKENDS[0])
    r = _solve(nashmp.Dense(Pb), 0.1, callback=cb, **kw)
    def stop_at_same(res):
        if res.nit.max() >= calls[-1].max():
            raise StopIteration

    rd = _solve(Pb, 0.1, callback=stop_at_same, **kw)
    assert r.status == 2 and np.array_equal(r.nit, calls[-1]) and np.array_equal(r.nit, rd.nit)
    np.testing.assert_allclose(r.log_policy, rd.log_policy, atol=1e-10, rtol=0)
    P32 = Pb.astype(np.float32)
    r32 = _solve(nashmp.Dense(P32), np.array([0.1, 0.2, 0.4]), tol=1e-5, check_every=2,
                 backend=BACKENDS[0])
    for i, b in enumerate((0.1, 0.2, 0.4)):
        ri = _solve(nashmp.Dense(P32[i]), b, tol=1e-5, check_every=2, backend=BACKENDS[0])
        np.testing.assert_allclose(r32.log_policy[i], ri.log_policy, atol=1e-6, rtol=0)
        assert r32.nit[i] == ri.nit


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pshape", [(2, 3), (2, 1), ()], ids=["2x3", "2x1", "one"])
def test_dense_mirror_step_policies_broadcast_against_the_matrices(backend, pshape):
    """Dense(P of shape (3, K, K)).mirror_step with policies of batch (2, 3), (2, 1) or () (they
    broadcast to (2, 3) or (3,)): each row steps with its own matrix, as the kernels' apply
    then mirror_step give (batch (2, 3) raised 'do not broadcast'); one query per row."""
    Pb = _games(3)
    K = Pb.shape[-1]
    rng = np.random.default_rng(8)
    pi = rng.dirichlet(np.ones(K), pshape)
    lr = np.log(rng.dirichlet(np.ones(K), pshape))
    op = nashmp.Dense(Pb)
    got = op.mirror_step(np.log(pi), lr, pi, 0.6, 0.3, 2.0, backend=backend)
    bshape = np.broadcast_shapes((3,), pshape)
    g = np.einsum("...ij,...j->...i", np.broadcast_to(Pb, bshape + (K, K)),
                  np.broadcast_to(pi, bshape + (K,)))
    z = 0.6 * np.log(pi) + 0.3 * lr + 2.0 * g
    want = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    assert got.shape == bshape + (K,)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert op.n_queries == int(np.prod(bshape))
