"""GPU path (pytest-benchmark group "cuda..."): the numba-cuda kernels on device-resident arrays,
libnashmp's CUDA C kernels on the same buffers (when the library was built with CUDA), the dense
Nash-MP solve on the device beside the C solver, and the matrix-free operators (low-rank,
Bradley-Terry, embedding, packed: apply and fused prox step, numba-cuda and CUDA C, and an
operator solve beside the C backend).

Needs an NVIDIA GPU and numba-cuda (``pip install .[cuda]``); skipped everywhere else (the CUDA
simulator is not a GPU: it is skipped too). Run on a GPU machine::

    pytest bench/test_bench_cuda.py --benchmark-only --benchmark-group-by=group

Each timed call ends with ``cuda.synchronize()`` so the time covers the kernel, not the launch.
``extra_info["GB/s"]`` is the bytes a kernel must move (inputs read once, outputs written once)
over the median time, to compare with the device's memory bandwidth.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

if importlib.util.find_spec("numba_cuda") is None:
    pytest.skip("numba-cuda is not installed (pip install .[cuda])", allow_module_level=True)
if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("the CUDA simulator is not a GPU: nothing to time", allow_module_level=True)
from numba import cuda  # noqa: E402

if not cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import nashmp  # noqa: E402
from nashmp import _reference as ref  # noqa: E402

SIZES = ((1000, 1000), (100, 10 ** 5), (10 ** 5, 32))
DTYPES = (np.float64, np.float32)


def _timed(fn):
    def run():
        r = fn()
        cuda.synchronize()
        return r
    return run


def _gbs(benchmark, nbytes):
    med = benchmark.stats.stats.median if benchmark.stats else None
    if med:
        benchmark.extra_info["GB/s"] = round(nbytes / med / 1e9, 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("B,K", SIZES, ids=lambda v: str(v))
@pytest.mark.parametrize("kernel", ["logsumexp", "log_softmax", "softmax", "mirror_step"])
def test_cuda_kernel(benchmark, kernel, B, K, dtype):
    benchmark.group = f"cuda {kernel} B={B} K={K} {np.dtype(dtype).name}"
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((B, K)) * 3).astype(dtype)
    dx = cuda.to_device(x)
    if kernel == "mirror_step":
        lr = cuda.to_device(ref.log_softmax(rng.standard_normal((B, K))).astype(dtype))
        g = cuda.to_device(rng.random((B, K)).astype(dtype))
        fn = _timed(lambda: nashmp.mirror_step(dx, lr, g, 0.8, 0.2, 0.5))
        nbytes = 4 * x.nbytes
    else:
        fn = _timed(lambda: getattr(nashmp, kernel)(dx))
        nbytes = x.nbytes * (1 if kernel == "logsumexp" else 2)
    out = fn()                                              # correctness before timing
    want = getattr(ref, kernel)(x) if kernel != "mirror_step" else None
    if want is not None:
        np.testing.assert_allclose(out.copy_to_host(), want, rtol=2e-6, atol=2e-6)
    benchmark.extra_info["backend"] = "cuda (numba-cuda)"
    benchmark(fn)
    _gbs(benchmark, nbytes)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("B,K", ((64, 1000), (1, 4000)), ids=lambda v: str(v))
def test_cuda_preference_apply(benchmark, B, K, dtype):
    benchmark.group = f"cuda preference_apply B={B} K={K} {np.dtype(dtype).name}"
    rng = np.random.default_rng(1)
    P = rng.random((K, K)).astype(dtype)
    pi = ref.softmax(rng.standard_normal((B, K))).astype(dtype)
    dP, dpi = cuda.to_device(P), cuda.to_device(pi)
    fn = _timed(lambda: nashmp.preference_apply(dP, dpi))
    np.testing.assert_allclose(fn().copy_to_host(), ref.preference_apply(P, pi), rtol=1e-5)
    benchmark(fn)
    _gbs(benchmark, P.nbytes + 2 * pi.nbytes)


@pytest.mark.parametrize("K,d", ((4096, 32), (16384, 64)), ids=lambda v: str(v))
def test_cuda_embedding_apply(benchmark, K, d):
    from nashmp._cuda_kernels import embedding_apply
    benchmark.group = f"cuda embedding_apply K={K} d={d} B=8"
    rng = np.random.default_rng(2)
    E = cuda.to_device(rng.standard_normal((K, d)) / np.sqrt(d))
    A = rng.standard_normal((d, d))
    R = cuda.to_device(A - A.T)
    pi = cuda.to_device(ref.softmax(rng.standard_normal((8, K))))
    fn = _timed(lambda: embedding_apply(E, R, pi))
    fn()
    benchmark(fn)
    med = benchmark.stats.stats.median if benchmark.stats else None
    if med:
        benchmark.extra_info["pair evaluations/s"] = f"{K * K / med:.3g}"


@pytest.mark.parametrize("backend", ["cuda", "c"])
def test_cuda_solver_nash_mp(benchmark, backend):
    """100 Nash-MP iterations (tol < 0: no early stop) on 64 shared-P games, K = 500."""
    if backend not in nashmp.available_backends():
        pytest.skip(f"backend {backend!r} not available")
    benchmark.group = "cuda solve nash_mp B=64 K=500 100 iterations"
    rng = np.random.default_rng(3)
    A = rng.random((500, 500))
    P = (A + 1 - A.T) / 2
    init = ref.softmax(rng.standard_normal((64, 500)))
    fn = lambda: nashmp.solve(P, 0.05, init=init, tol=-1.0, max_iter=100,  # noqa: E731
                              check_every=100, backend=backend)
    benchmark(fn)
    benchmark.extra_info["backend"] = backend


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("B,K", SIZES, ids=lambda v: str(v))
def test_cuda_c_logsumexp(benchmark, B, K, dtype):
    """libnashmp's CUDA C log-sum-exp (warp or block per row) on the same device buffers."""
    try:
        from nashmp._backend import c_lib
        ffi, lib = c_lib()
    except ImportError:
        pytest.skip("the C extension is not built")
    if not lib.nashmp_cuda_available():
        pytest.skip("libnashmp was built without CUDA")
    benchmark.group = f"cuda logsumexp B={B} K={K} {np.dtype(dtype).name}"
    t = "double *" if dtype == np.float64 else "float *"
    fnc = lib.nashmp_cuda_logsumexp_f64 if dtype == np.float64 else lib.nashmp_cuda_logsumexp_f32
    x = (np.random.default_rng(0).standard_normal((B, K)) * 3).astype(dtype)
    dx, dout = cuda.to_device(x), cuda.device_array(B, dtype)
    px = ffi.cast(t, dx.device_ctypes_pointer.value)
    po = ffi.cast(t, dout.device_ctypes_pointer.value)

    def fn():
        st = fnc(px, B, K, K, po, ffi.NULL)
        cuda.synchronize()
        return st

    assert fn() == 0
    np.testing.assert_allclose(dout.copy_to_host(), ref.logsumexp(x), rtol=2e-6)
    benchmark.extra_info["backend"] = "libnashmp CUDA C"
    benchmark(fn)
    _gbs(benchmark, x.nbytes)


# ---- matrix-free operators -----------------------------------------------------------------

def _operator_case(kind, K, dtype, rng):
    """(operator, device data of its numba-cuda kernel) for a benchmark case."""
    if kind == "lowrank":
        U = (rng.standard_normal((K, 16)) / (8 * np.sqrt(K))).astype(dtype)
        V = (rng.standard_normal((K, 16)) / (8 * np.sqrt(K))).astype(dtype)
        op = nashmp.LowRankSkew(U, V, check=False)
        return op, (cuda.to_device(U), cuda.to_device(V))
    if kind == "bradley_terry":
        s = rng.standard_normal(K).astype(dtype)
        return nashmp.BradleyTerry(s), (cuda.to_device(s),)
    if kind == "embedding":
        E = (rng.standard_normal((K, 32)) / np.sqrt(32)).astype(dtype)
        A = rng.standard_normal((32, 32))
        R = (A - A.T).astype(dtype)
        return nashmp.Embedding(E, R), (cuda.to_device(E), cuda.to_device(R))
    A = rng.random((K, K))
    op = nashmp.PackedDense.from_dense(((A + 1 - A.T) / 2).astype(dtype))
    return op, (cuda.to_device(op.packed),)


OPERATOR_CASES = (("lowrank", 10 ** 6), ("bradley_terry", 16384), ("embedding", 16384),
                  ("packed", 8192))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kind,K", OPERATOR_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("step", ["apply", "mirror_step"])
def test_cuda_operator(benchmark, step, kind, K, dtype):
    """numba-cuda operator kernels on device arrays, B = 8 policies: ``g = P pi`` and the fused
    prox step (g into a float64 buffer, then normalize + exp); checked against the C backend."""
    from nashmp import _cuda_kernels as ck
    B = 8
    benchmark.group = f"cuda operator {kind} {step} K={K} B={B} {np.dtype(dtype).name}"
    rng = np.random.default_rng(4)
    op, data = _operator_case(kind, K, dtype, rng)
    pi = ref.softmax(rng.standard_normal((B, K)))
    if step == "apply":
        dpi = cuda.to_device(pi.astype(dtype))
        fn = _timed(lambda: getattr(ck, f"{kind}_apply")(*data, dpi))
        want = op.apply(pi.astype(dtype), backend="c")
    else:
        lp = ref.log_softmax(rng.standard_normal((B, K)))
        lr = np.full(K, -np.log(K))
        dpi, dlp, dlr, dpo = (cuda.to_device(pi), cuda.to_device(lp), cuda.to_device(lr),
                              cuda.device_array((B, K)))
        fn = _timed(lambda: getattr(ck, f"{kind}_mirror_step")(*data, dpi, dlp, dlr, 0.8, 0.2,
                                                                1.6, pi_out=dpo))
        want = op.mirror_step(lp, lr, pi, 0.8, 0.2, 1.6, backend="c")
    np.testing.assert_allclose(fn().copy_to_host(), want, rtol=1e-5, atol=1e-6)
    benchmark.extra_info["backend"] = "cuda (numba-cuda)"
    benchmark(fn)
    med = benchmark.stats.stats.median if benchmark.stats else None
    if med:
        if kind == "lowrank":
            _gbs(benchmark, 2 * sum(d.nbytes for d in data) * B)
        else:
            benchmark.extra_info["pair evaluations/s"] = f"{B * K * K / med:.3g}"


@pytest.mark.parametrize("backend", ["cuda", "c"])
def test_cuda_operator_solve(benchmark, backend):
    """20 Nash-MP iterations of a K = 10^5 Bradley-Terry operator, 4 games (the Python operator
    loop: one fused step per half-step, policies copied to the device and back for CUDA)."""
    if backend not in nashmp.available_backends():
        pytest.skip(f"backend {backend!r} not available")
    benchmark.group = "cuda operator solve nash_mp bradley_terry K=1e5 B=4 20 iterations"
    rng = np.random.default_rng(5)
    op = nashmp.BradleyTerry(rng.standard_normal(10 ** 5))
    init = ref.softmax(rng.standard_normal((4, 10 ** 5)))
    fn = lambda: nashmp.solve(op, 0.05, init=init, tol=-1.0, max_iter=20,  # noqa: E731
                              check_every=20, backend=backend)
    benchmark(fn)
    benchmark.extra_info["backend"] = backend


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kind,K", (("lowrank", 10 ** 6), ("bradley_terry", 16384),
                                    ("packed", 8192)), ids=lambda v: str(v))
def test_cuda_c_operator_apply(benchmark, kind, K, dtype):
    """libnashmp's CUDA C operator kernels (nashmp_cuda_{lowrank,bradley_terry,packed}_apply_*)
    on device buffers, B = 8."""
    try:
        from nashmp._backend import c_lib
        ffi, lib = c_lib()
    except ImportError:
        pytest.skip("the C extension is not built")
    if not lib.nashmp_cuda_available():
        pytest.skip("libnashmp was built without CUDA")
    B = 8
    benchmark.group = f"cuda operator {kind} apply K={K} B={B} {np.dtype(dtype).name}"
    sfx = "f64" if dtype == np.float64 else "f32"
    t = "double *" if dtype == np.float64 else "float *"
    rng = np.random.default_rng(4)
    op, data = _operator_case(kind, K, dtype, rng)
    pi = ref.softmax(rng.standard_normal((B, K))).astype(dtype)
    dpi, dout = cuda.to_device(pi), cuda.device_array((B, K), dtype)
    p = lambda d: ffi.cast(t, d.device_ctypes_pointer.value)  # noqa: E731
    fnc = getattr(lib, f"nashmp_cuda_{kind}_apply_{sfx}")
    if kind == "lowrank":
        args = (p(data[0]), p(data[1]), 16, 16, p(dpi), K, B, K, p(dout), K, ffi.NULL)
    else:
        args = (p(data[0]), p(dpi), K, B, K, p(dout), K, ffi.NULL)

    def fn():
        st = fnc(*args)
        cuda.synchronize()
        return st

    assert fn() == 0
    np.testing.assert_allclose(dout.copy_to_host(), op.apply(pi, backend="c"), rtol=1e-5,
                               atol=1e-6)
    benchmark.extra_info["backend"] = "libnashmp CUDA C"
    benchmark(fn)
