"""Shared pieces of the pytest-benchmark suite.

The measurement machinery (interleaved rounds, machine floors, float64 references, competitors,
the NumPy Nash-MP loop) lives in ``nashmp._bench`` so that the installed ``nashmp bench`` command
and this suite run the same code; this module re-exports it and adds the pytest glue: inputs
cached per case, a correctness check before any timing, skips that say why.
"""
from __future__ import annotations

import functools
import os

import numpy as np
import pytest

from nashmp._bench import (BASELINES, F32, F64, KERNEL_SIZES, NASHMP_BACKENDS,  # noqa: F401
                           PREF_SIZES, SOLVER_CASES, Unavailable, _c_reads_triangle,
                           _nashmp_iter_fn, busy_percent, check_result, floor_time, interleaved,
                           kernel_bytes, kernel_competitor, kernel_inputs, kernel_reference,
                           machine_info, measure_floors, mem_label, numpy_nash_mp,
                           random_preference, ref_exploitability, thread_info, torch_nash_mp)

THREADS = int(os.environ.get("NASHMP_BENCH_THREADS", "1"))
COMPETITORS = tuple("nashmp-" + b for b in NASHMP_BACKENDS) + BASELINES

# the main rows: every kernel at the sizes of the report, both dtypes
MAIN_SIZES = ((1000, 1000), (1, 10 ** 6), (10 ** 5, 16), (10 ** 5, 32), (100, 10 ** 5))
KERNEL_CASES = [(k, B, K, dt, True)
                for k in ("logsumexp", "log_softmax", "softmax", "kl", "mirror_step")
                for (B, K) in MAIN_SIZES for dt in ("float64", "float32")]
KERNEL_CASES += [("preference_apply", B, K, dt, sh) for (B, K, sh) in PREF_SIZES
                 for dt in ("float64", "float32")]


def case_id(case):
    k, B, K, dt, sh = case
    return f"{k}-{B}x{K}-{dt}" + ("" if sh else "-ownP")


def group(case):
    k, B, K, dt, sh = case
    return f"{k} B={B} K={K} {dt}" + ("" if sh else " own P")


@functools.lru_cache(maxsize=4)
def _inputs(kernel, B, K, dtype, shared):
    inp = kernel_inputs(kernel, B, K, dtype, shared=shared)
    return inp, kernel_reference(kernel, inp)


def checked(case, competitor):
    """The competitor's zero-argument callable for ``case``, after checking its result against
    the float64 reference (skip if the library is missing, fail if the result is wrong)."""
    kernel, B, K, dtype, shared = case
    inp, ref = _inputs(kernel, B, K, dtype, shared)
    try:
        fn = kernel_competitor(competitor, kernel, inp)
        out = fn()
    except Unavailable as exc:
        pytest.skip(str(exc))
    except (ImportError, NotImplementedError) as exc:
        pytest.skip(f"{competitor}: {type(exc).__name__}: {exc}")
    ok, worst = check_result(kernel, out, ref, np.dtype(dtype))
    if not ok:
        pytest.fail(f"{competitor} gives a wrong {kernel} on {case_id(case)}: error "
                    f"{worst:.3g} x the tolerance")
    return fn


def annotate(benchmark, case, competitor):
    kernel, B, K, dtype, shared = case
    nbytes = kernel_bytes(kernel, B, K, np.dtype(dtype).itemsize, shared)
    benchmark.group = group(case)
    benchmark.name = competitor
    benchmark.extra_info.update(kernel=kernel, B=B, K=K, dtype=dtype, competitor=competitor,
                                bytes=nbytes, elements=B * K, mem=mem_label(nbytes),
                                threads=THREADS)
