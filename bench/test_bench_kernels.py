"""Kernels: nashmp (C, Numba) beside NumPy, SciPy, PyTorch CPU and jax.jit, grouped by kernel,
size and dtype. Every competitor's result is checked against the float64 reference first.

    pytest bench/test_bench_kernels.py --benchmark-only
    pytest bench/ --benchmark-only -k "logsumexp and 1000x1000"
"""
import numpy as np
import pytest
from _harness import COMPETITORS, KERNEL_CASES, annotate, case_id, checked


@pytest.mark.parametrize("competitor", COMPETITORS)
@pytest.mark.parametrize("case", KERNEL_CASES, ids=case_id)
def test_kernel(benchmark, case, competitor):
    fn = checked(case, competitor)
    annotate(benchmark, case, competitor)
    benchmark(fn)


OVERHEAD_CASES = [(k, 1, 10, "float64", True) for k in
                  ("logsumexp", "log_softmax", "softmax", "kl", "mirror_step", "preference_apply")]


@pytest.mark.parametrize("competitor", COMPETITORS + ("nashmp-auto",))
@pytest.mark.parametrize("case", OVERHEAD_CASES, ids=case_id)
def test_overhead_1x10(benchmark, case, competitor):
    """Per-call cost of the Python API on a 1x10 input (target for nashmp: <= 3 us)."""
    if competitor == "nashmp-auto":
        import nashmp
        from _harness import _inputs
        if case[0] != "logsumexp":
            pytest.skip("backend='auto' is measured on logsumexp only")
        x = _inputs(*case)[0]["x"]
        fn = lambda: nashmp.logsumexp(x)  # noqa: E731
        np.testing.assert_allclose(fn(), _inputs(*case)[1], rtol=1e-12)
    else:
        fn = checked(case, competitor)
    annotate(benchmark, case, competitor)
    benchmark.group = f"overhead 1x10 {case[0]}"
    benchmark(fn)
