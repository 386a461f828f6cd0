"""Solvers: per-iteration cost of Nash-MP's fused loop (nashmp backends c and numba) beside the
plain NumPy (and PyTorch) loop, and time to exploitability 1e-8 for every method.

One benchmarked call runs ``n`` iterations (shown in the group name); divide by ``n``. The nashmp
call includes one exploitability check at its end (``python bench/run.py`` removes it by
differencing two iteration counts).
"""
import warnings

import numpy as np
import pytest
from _harness import (F64, NASHMP_BACKENDS, SOLVER_CASES, Unavailable, _c_reads_triangle,
                      _nashmp_iter_fn, numpy_nash_mp, random_preference, ref_exploitability,
                      torch_nash_mp)

import nashmp

# K = 4000: 12 iterations (24 products), the calls in which the C loop copies a large triangle
# into panel order (csrc/src/solvers.c, sv_drive_panels), as a solve of many iterations does
ITERS = {10: 2000, 100: 200, 1000: 20, 4000: 12}
BETA = 0.1


def _game(B, K, shared, pdtype):
    P = random_preference(1 if shared else B, K, np.random.default_rng(7), np.float64)
    P = P[0] if shared else P
    return P.astype(pdtype, copy=False)


_GAMES = {}


def game(case):
    name, B, K, shared, pdtype, _ = case
    key = (B, K, shared, np.dtype(pdtype).name)
    if key not in _GAMES:
        _GAMES.clear()
        _GAMES[key] = _game(B, K, shared, pdtype)
    return _GAMES[key]


@pytest.mark.parametrize("competitor", ["nashmp-" + b for b in NASHMP_BACKENDS]
                         + ["numpy-loop", "torch-loop"])
@pytest.mark.parametrize("case", SOLVER_CASES, ids=lambda c: c[0])
def test_nash_mp_iterations(benchmark, case, competitor):
    name, B, K, shared, pdtype, packed = case
    P = game(case)
    n = ITERS[K]
    m = 5
    ref = numpy_nash_mp(P.astype(np.float64), BETA, B=B)(m)
    tol = 1e-9 if np.dtype(pdtype) == F64 else 1e-6
    if competitor.startswith("nashmp-"):
        be = competitor[7:]
        if not nashmp._backend.is_available(be):
            pytest.skip(f"backend {be} unavailable")
        if packed and be != "c":
            pytest.skip("packed storage runs in the C loop only")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            betas = BETA if B == 1 else np.full(B, BETA)   # B games, even with a shared P
            got = nashmp.solve(nashmp.PackedDense.from_dense(P) if packed else P, betas,
                               max_iter=m, tol=-1.0, check_every=m, backend=be).log_policy
        step = _nashmp_iter_fn(P, BETA, be, B, packed=packed)
    else:
        try:
            step = (numpy_nash_mp if competitor == "numpy-loop" else torch_nash_mp)(P, BETA, B=B)
        except Unavailable as exc:
            pytest.skip(str(exc))
        got = step(m)
        tol = 1e-9 if np.dtype(pdtype) == F64 else 1e-3
    err = np.max(np.abs(np.asarray(got, np.float64).reshape(B, K) - ref))
    assert err <= tol, f"{competitor} differs from the NumPy Nash-MP loop by {err:.3g}"
    # nashmp's C loop may read the dense P through its upper triangle (the others read it all)
    tri = packed or (competitor == "nashmp-c" and _c_reads_triangle(P, B, shared))
    benchmark.group = (f"nash_mp {name} (B={B} K={K} P {np.dtype(pdtype).name}"
                       f"{' packed' if packed else ''}; {n} iterations)")
    benchmark.name = competitor
    benchmark.extra_info.update(iterations=n, B=B, K=K, shared_P=shared,
                                P_dtype=np.dtype(pdtype).name,
                                packed=packed, bytes_per_query=(1 if shared else B)
                                * (K * (K - 1) // 2 if tri else K * K)
                                * np.dtype(pdtype).itemsize)
    benchmark(step, n)


METHODS = ("nash_mp", "extragradient", "omwu", "mmd", "omd", "nash_md", "sppo", "prox_point")


@pytest.mark.parametrize("method", METHODS)
def test_time_to_target(benchmark, method):
    """Wall time of nashmp.solve to exploitability 1e-8 on 16 games with K=200, beta=0.1 (capped
    at 4000 queries per game: the test records whether the target was reached)."""
    from nashmp._methods import QUERIES_PER_ITER
    P = random_preference(16, 200, np.random.default_rng(11))
    cap = 40 if method == "prox_point" else 4000 // QUERIES_PER_ITER[method]

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nashmp.solve(P, BETA, method=method, tol=1e-8, max_iter=cap)
    r = run()
    ref = float(np.max(ref_exploitability(P, np.asarray(r.log_policy, np.float64), BETA)))
    if r.success:
        assert ref <= 1e-8 * 1.001 + 1e-13, f"reported success but exploitability is {ref:.3g}"
    benchmark.group = "time to exploitability 1e-8 (B=16, K=200, beta=0.1)"
    benchmark.name = method
    benchmark.extra_info.update(reached=bool(r.success), queries=int(np.max(r.n_queries)),
                                exploitability=ref, backend=r.backend)
    benchmark.pedantic(run, rounds=3, iterations=1)
