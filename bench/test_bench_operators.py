"""Matrix-free operators: the embedding apply (nashmp C / Numba beside the same tiled computation
in NumPy, PyTorch CPU and jax.jit) and the low-rank apply / fused prox step, grouped by operator,
size and dtype. Every competitor's result is checked against a float64 reference first.

    pytest bench/test_bench_operators.py --benchmark-only
    python bench/bench_operators.py            # the standalone report (ratios, GB/s vs floor)
"""
import functools

import numpy as np
import pytest
from _harness import THREADS

import bench_operators as BO

EMB_CASES = [(K, 16, dt) for K in (2000, 20000) for dt in ("float32", "float64")]
EMB_COMPETITORS = ("nashmp-c", "nashmp-numba", "numpy-tiled", "torch-tiled", "jax-tiled")
LR_CASES = [(K, 16, dt) for K in (10 ** 5, 10 ** 6) for dt in ("float32", "float64")]


@functools.lru_cache(maxsize=2)
def _emb(K, d, dtype):
    E, R, pi = BO.embedding_case(K, d, np.dtype(dtype))
    return E, R, pi, BO.reference_g(E, R, pi)


def _emb_fn(competitor, E, R, pi):
    import nashmp
    if competitor.startswith("nashmp-"):
        op = nashmp.Embedding(E, R)
        be = competitor.split("-", 1)[1]
        return lambda: op.apply(pi, backend=be)
    maker = {"numpy-tiled": BO.numpy_tiled, "torch-tiled": BO.torch_tiled,
             "jax-tiled": BO.jax_tiled}[competitor]
    return maker(E, R, pi)


@pytest.mark.parametrize("competitor", EMB_COMPETITORS)
@pytest.mark.parametrize("case", EMB_CASES, ids=lambda c: f"K{c[0]}-d{c[1]}-{c[2]}")
def test_embedding_apply(benchmark, case, competitor):
    K, d, dtype = case
    if competitor == "nashmp-numba" and K > 5000:
        pytest.skip("the Numba kernel (scalar exp, no pair symmetry) takes seconds at this K")
    E, R, pi, ref = _emb(K, d, dtype)
    try:
        fn = _emb_fn(competitor, E, R, pi)
        out = np.asarray(fn(), dtype=np.float64)
    except ImportError as exc:
        pytest.skip(f"{competitor}: {exc}")
    from nashmp._bench import to_numpy
    out = np.asarray(to_numpy(out), dtype=np.float64)
    tol = 2e-5 if dtype == "float32" else 1e-10
    err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
    assert err <= tol, f"{competitor} wrong: relative error {err:.3g}"
    benchmark.group = f"embedding apply K={K} d={d} {dtype}"
    benchmark.name = competitor
    benchmark.extra_info.update(K=K, d=d, dtype=dtype, pairs=K * K, threads=THREADS,
                                competitor=competitor)
    benchmark(fn)


@functools.lru_cache(maxsize=2)
def _lowrank(K, r, dtype):
    import nashmp
    rng = np.random.default_rng(1)
    U = (rng.standard_normal((K, r)) * 0.1 / r).astype(dtype)
    V = (rng.standard_normal((K, r)) * 0.1 / r).astype(dtype)
    z = rng.standard_normal(K)
    lp = z - np.logaddexp.reduce(z)
    return nashmp.LowRankSkew(U, V), lp, np.full(K, -np.log(K))


@pytest.mark.parametrize("what", ("apply", "fused_step"))
@pytest.mark.parametrize("backend", ("c", "numba", "numpy"))
@pytest.mark.parametrize("case", LR_CASES, ids=lambda c: f"K{c[0]}-r{c[1]}-{c[2]}")
def test_lowrank(benchmark, case, backend, what):
    K, r, dtype = case
    op, lp, lr = _lowrank(K, r, dtype)
    pi = np.exp(lp)
    U, V = op.U.astype(np.float64), op.V.astype(np.float64)
    g = 0.5 * pi.sum() + U @ (V.T @ pi) - V @ (U.T @ pi)
    a, b, c = 1 / 1.2, 0.2 / 1.2, 2 / 1.2
    out, po = np.empty(K), np.empty(K)
    if what == "apply":
        fn = lambda: op.apply(pi, backend=backend)  # noqa: E731
        want = g
    else:
        fn = lambda: op.mirror_step(lp, lr, pi, a, b, c, out=out, pi_out=po,  # noqa: E731
                                    backend=backend)
        z = a * lp + b * lr + c * g
        want = z - np.logaddexp.reduce(z)
    np.testing.assert_allclose(fn(), want, atol=1e-9 if dtype == "float64" else 1e-6)
    it = np.dtype(dtype).itemsize
    benchmark.group = f"low-rank {what} K={K} r={r} {dtype}"
    benchmark.name = f"nashmp-{backend}"
    benchmark.extra_info.update(K=K, r=r, dtype=dtype, threads=THREADS,
                                bytes_read=4 * K * r * it + 3 * 8 * K)
    benchmark(fn)
