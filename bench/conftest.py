"""pytest-benchmark suite of nashmp (run: ``pytest bench/ --benchmark-only``; see README.md).

The environment is fixed here, before NumPy, nashmp, torch or jax load their thread runtimes:
``OMP_WAIT_POLICY=PASSIVE``, no ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE``, and every library
limited to ``NASHMP_BENCH_THREADS`` threads (default 1). The header of the run records it.
"""
import os
import sys

_THREADS = os.environ.get("NASHMP_BENCH_THREADS", "1")
_LATE = [m for m in ("numpy", "torch", "jax", "nashmp") if m in sys.modules]
_UNSET = {v: os.environ.pop(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
          if v in os.environ}
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _THREADS
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")
if _THREADS == "1" and "intra_op_parallelism_threads" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                               "=false intra_op_parallelism_threads=1").strip()

import pytest  # noqa: E402


def pytest_report_header(config):
    from nashmp._bench import busy_percent, machine_info, thread_info
    _set_threads()
    m = machine_info()
    lines = [f"nashmp bench: {m['cpu']}, {m['cores']} cores, caches {m['caches']}",
             f"threads per competitor: {_THREADS} (NASHMP_BENCH_THREADS); "
             f"machine busy now: {busy_percent()}%",
             f"thread info: {thread_info()}"]
    if _UNSET:
        lines.append(f"unset for this run: {_UNSET}")
    if _LATE:
        lines.append(f"WARNING: {_LATE} were imported before bench/conftest.py: the thread "
                     "environment may not apply; prefer `python bench/run.py`")
    return lines


_DONE = []


def _set_threads():
    if _DONE:
        return
    from nashmp._bench import _set_threads as st
    _DONE.append(st(int(_THREADS)))


@pytest.fixture(scope="session", autouse=True)
def _bench_threads():
    _set_threads()
    yield
