"""The CUDA path, testable without a GPU.

- ``test_cuda_simulator_suite`` runs ``tests/cuda_sim/sim_cuda.py`` (every numba-cuda kernel x
  float32/float64 against the float64 reference, and the solver against the CPU solver) in a
  subprocess under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` must be set before numba loads).
- The C library's CUDA entry points: a CPU build answers NASHMP_ERR_UNSUPPORTED; a CUDA build
  answers the device query (0 devices accepted) and checks arguments the same way.
- Backend registry: ``auto`` never picks CUDA; without numba-cuda ``backend="cuda"`` is a clear
  error.
- ``@pytest.mark.cuda_device`` tests need a real NVIDIA GPU; elsewhere they are reported as
  skipped (never as passed). On a GPU machine: ``pytest -m cuda_device tests/test_cuda.py -ra``
  (see csrc/cuda/README.md).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import nashmp
from nashmp import _backend, _reference as ref

HERE = os.path.dirname(os.path.abspath(__file__))
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None


def _real_device() -> bool:
    if not HAS_NUMBA_CUDA or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


needs_device = pytest.mark.skipif(not _real_device(),
                                  reason="no CUDA device (or numba-cuda missing / simulator on): "
                                         "run `pytest -m cuda_device tests/test_cuda.py` on a GPU "
                                         "machine")


# ---- simulator -----------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed "
                                               "(pip install nashmp[cuda])")
def test_cuda_simulator_suite():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env.pop("NASHMP_BACKEND", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           "-o", "addopts=", os.path.join(HERE, "cuda_sim", "sim_cuda.py")]
    # cwd is not the repository root, so the installed nashmp is tested (not the source tree)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                          cwd=os.path.join(HERE, "cuda_sim"))
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
    print(tail)
    assert proc.returncode == 0, f"simulator suite failed:\n{tail}"
    assert " passed" in tail and " failed" not in tail and "skipped" not in tail, tail


# ---- C library entry points (stubs or the CUDA build) --------------------------------------

def _c():
    try:
        return _backend.c_lib()
    except ImportError:
        pytest.skip("the C extension is not built")


def test_c_cuda_entry_points_without_gpu():
    ffi, lib = _c()
    built = lib.nashmp_cuda_available()
    info = ffi.string(lib.nashmp_cuda_build_info()).decode()
    build = ffi.string(lib.nashmp_build_info()).decode()
    n = ffi.new("int *", 7)
    st = lib.nashmp_cuda_device_count(n)
    NULL = ffi.NULL
    # argument checks run first, in both builds
    assert lib.nashmp_cuda_logsumexp_f64(NULL, 2, 3, 3, NULL, NULL) == lib.NASHMP_ERR_NULL_POINTER
    assert lib.nashmp_cuda_device_count(NULL) == lib.NASHMP_ERR_NULL_POINTER
    assert lib.nashmp_cuda_packed_apply_f64(NULL, NULL, 3, 2, 3, NULL, 3, NULL) == \
        lib.NASHMP_ERR_NULL_POINTER
    if not built:
        assert info == "cuda=no" and "cuda=no" in build
        assert st == lib.NASHMP_ERR_UNSUPPORTED and n[0] == 0
        buf = ffi.new("double[16]")               # never dereferenced by a stub
        assert lib.nashmp_cuda_logsumexp_f64(buf, 2, 3, 3, buf + 8, NULL) == \
            lib.NASHMP_ERR_UNSUPPORTED
        for name in ("bradley_terry", "packed"):
            assert getattr(lib, f"nashmp_cuda_{name}_mirror_step_f64")(
                buf, buf, 3, buf, 3, NULL, 0, 1, 3, 0.5, 0.0, 1.0, buf + 8, 3, NULL, 0,
                NULL) == lib.NASHMP_ERR_UNSUPPORTED
        assert lib.nashmp_cuda_lowrank_apply_f64(buf, buf + 1, 2, 1, buf, 3, 1, 3, buf + 8, 3,
                                                 NULL) == lib.NASHMP_ERR_UNSUPPORTED
        assert lib.nashmp_cuda_solve_dense_f64(
            buf, 0, buf, 3, buf, buf, 1, 3, 0, 10, 1, 1e-8, buf, 3, NULL, 0,
            ffi.cast("int64_t *", buf), ffi.cast("int64_t *", buf), buf,
            ffi.cast("uint8_t *", buf), NULL) == lib.NASHMP_ERR_UNSUPPORTED
    else:
        assert info.startswith("cuda=yes") and "cuda=yes" in build
        assert (st == 0 and n[0] >= 1) or (st == lib.NASHMP_ERR_UNSUPPORTED and n[0] == 0)


# ---- registry --------------------------------------------------------------------------------

def test_auto_never_picks_cuda():
    assert _backend.resolve("auto") != "cuda"
    assert "cuda" in _backend.BACKENDS


@pytest.mark.skipif(HAS_NUMBA_CUDA, reason="numba-cuda is installed")
def test_cuda_without_numba_cuda_is_a_clear_error():
    assert not _backend.is_available("cuda")
    with pytest.raises(RuntimeError, match="numba-cuda"):
        nashmp.logsumexp(np.zeros(3), backend="cuda")
    with pytest.raises(RuntimeError, match="numba-cuda"):
        nashmp.solve(np.array([[0.5, 1.0], [0.0, 0.5]]), 0.1, backend="cuda")


# ---- real device (skipped without a GPU) -------------------------------------------------------

@pytest.mark.cuda_device
@needs_device
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_device_kernels_match_reference(dtype):
    from numba import cuda
    rng = np.random.default_rng(0)
    tol = 1e-13 if dtype == np.float64 else 2e-6
    for K in (1, 3, 41, 1271, 5000):
        x = (rng.standard_normal((7, K)) * 3).astype(dtype)
        for name in ("logsumexp", "log_softmax", "softmax", "span"):
            got = getattr(nashmp, name)(x, backend="cuda")
            np.testing.assert_allclose(got, getattr(ref, name)(x), rtol=tol, atol=tol)
        dx = cuda.to_device(x)                            # zero-copy device path
        np.testing.assert_allclose(nashmp.logsumexp(dx).copy_to_host(), ref.logsumexp(x),
                                   rtol=tol, atol=tol)
        P = rng.random((K, K)).astype(dtype)
        pi = ref.softmax(x).astype(dtype)
        np.testing.assert_allclose(nashmp.preference_apply(P, pi, backend="cuda"),
                                   ref.preference_apply(P, pi), rtol=tol * 10, atol=tol * 10)


@pytest.mark.cuda_device
@needs_device
def test_device_solver_matches_cpu():
    rng = np.random.default_rng(1)
    A = rng.random((4, 300, 300))
    P = (A + 1 - A.transpose(0, 2, 1)) / 2
    rc = nashmp.solve(P, 0.05, backend="c" if "c" in nashmp.available_backends() else "numpy",
                      tol=1e-9)
    rg = nashmp.solve(P, 0.05, backend="cuda", tol=1e-9)
    assert rg.success
    np.testing.assert_allclose(rg.log_policy, rc.log_policy, atol=1e-9)


@pytest.mark.cuda_device
@needs_device
def test_device_c_library_kernels():
    """libnashmp's CUDA C kernels on device memory (needs a CUDA build of libnashmp)."""
    from numba import cuda
    ffi, lib = _c()
    if not lib.nashmp_cuda_available():
        pytest.skip("libnashmp was built without CUDA (NASHMP_ENABLE_CUDA)")
    rng = np.random.default_rng(2)
    ptr = lambda d, t="double *": ffi.cast(t, d.device_ctypes_pointer.value)  # noqa: E731
    for K in (3, 41, 1271):
        x = rng.standard_normal((5, K)) * 3
        dx, dout = cuda.to_device(x), cuda.device_array(5)
        assert lib.nashmp_cuda_logsumexp_f64(ptr(dx), 5, K, K, ptr(dout), ffi.NULL) == 0
        cuda.synchronize()
        np.testing.assert_allclose(dout.copy_to_host(), ref.logsumexp(x), rtol=1e-13)
        dls = cuda.device_array((5, K))
        assert lib.nashmp_cuda_log_softmax_f64(ptr(dx), 5, K, K, ptr(dls), K, ffi.NULL) == 0
        cuda.synchronize()
        np.testing.assert_allclose(dls.copy_to_host(), ref.log_softmax(x), rtol=1e-13,
                                   atol=1e-13)
    K, d, B = 300, 16, 3
    E = rng.standard_normal((K, d)) / 4
    Am = rng.standard_normal((d, d))
    R = Am - Am.T
    pi = ref.softmax(rng.standard_normal((B, K)))
    dE, dR, dpi, dg = (cuda.to_device(E), cuda.to_device(R), cuda.to_device(pi),
                       cuda.device_array((B, K)))
    assert lib.nashmp_cuda_embedding_apply_f64(ptr(dE), ptr(dR), ptr(dpi), B, K, d, ptr(dg),
                                               ffi.NULL) == 0
    cuda.synchronize()
    Pd = 1 / (1 + np.exp(-(E @ R @ E.T)))
    np.testing.assert_allclose(dg.copy_to_host(), pi @ Pd.T, rtol=1e-12, atol=1e-12)


@pytest.mark.cuda_device
@needs_device
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_device_operators_match_dense(dtype):
    """The matrix-free operators on the device (numba-cuda through op.apply / op.mirror_step and
    libnashmp's CUDA C when built with CUDA) against their dense float64 matrix."""
    from numba import cuda
    rng = np.random.default_rng(4)
    K, B = 1271, 5
    tol = 1e-12 if dtype == np.float64 else 2e-6
    U = rng.standard_normal((K, 8)) / (4 * np.sqrt(K))
    V = rng.standard_normal((K, 8)) / (4 * np.sqrt(K))
    A = rng.random((K, K))
    ops = [nashmp.LowRankSkew(U.astype(dtype), V.astype(dtype)),
           nashmp.BradleyTerry(rng.standard_normal(K).astype(dtype)),
           nashmp.PackedDense.from_dense(((A + 1 - A.T) / 2).astype(dtype))]
    pi = ref.softmax(rng.standard_normal((B, K)))
    lp = ref.log_softmax(rng.standard_normal((B, K)))
    lr = np.full(K, -np.log(K))
    ffi, lib = _c()
    with_c = bool(lib.nashmp_cuda_available())
    t = "double *" if dtype == np.float64 else "float *"
    ptr = lambda d, tt=t: ffi.cast(tt, d.device_ctypes_pointer.value)  # noqa: E731
    for op in ops:
        P = op.todense().astype(np.float64)
        g = op.apply(pi.astype(dtype), backend="cuda")
        np.testing.assert_allclose(g, pi.astype(dtype).astype(np.float64) @ P.T, rtol=tol,
                                   atol=tol)
        want = ref.mirror_step(lp, lr, pi @ P.T, 0.8, 0.2, 1.6)
        np.testing.assert_allclose(op.mirror_step(lp, lr, pi, 0.8, 0.2, 1.6, backend="cuda"),
                                   want, rtol=tol, atol=tol)
        if not with_c:
            continue
        sfx = "f64" if dtype == np.float64 else "f32"
        dpi, dout = cuda.to_device(pi.astype(dtype)), cuda.device_array((B, K), dtype)
        dpg, dlp, dlr = cuda.to_device(pi), cuda.to_device(lp), cuda.to_device(lr)
        dw, dpw = cuda.device_array((B, K)), cuda.device_array((B, K))
        step_tail = (ptr(dlp, "double *"), K, ptr(dlr, "double *"), 0, B, K, 0.8, 0.2, 1.6,
                     ptr(dw, "double *"), K, ptr(dpw, "double *"), K, ffi.NULL)
        if isinstance(op, nashmp.LowRankSkew):
            dU, dV = cuda.to_device(np.ascontiguousarray(op.U)), cuda.to_device(
                np.ascontiguousarray(op.V))
            st = getattr(lib, f"nashmp_cuda_lowrank_apply_{sfx}")(
                ptr(dU), ptr(dV), 8, 8, ptr(dpi), K, B, K, ptr(dout), K, ffi.NULL)
            st2 = getattr(lib, f"nashmp_cuda_lowrank_mirror_step_{sfx}")(
                ptr(dU), ptr(dV), 8, 8, ptr(dpg, "double *"), K, *step_tail)
        else:
            name = "bradley_terry" if isinstance(op, nashmp.BradleyTerry) else "packed"
            dd = cuda.to_device(op.scores if name == "bradley_terry" else op.packed)
            st = getattr(lib, f"nashmp_cuda_{name}_apply_{sfx}")(
                ptr(dd), ptr(dpi), K, B, K, ptr(dout), K, ffi.NULL)
            st2 = getattr(lib, f"nashmp_cuda_{name}_mirror_step_{sfx}")(
                ptr(dd), ptr(dpg, "double *"), K, *step_tail)
        assert st == 0 and st2 == 0
        cuda.synchronize()
        np.testing.assert_allclose(dout.copy_to_host(), g, rtol=tol, atol=tol)
        np.testing.assert_allclose(dw.copy_to_host(), want, rtol=tol, atol=tol)
        np.testing.assert_allclose(dpw.copy_to_host(), np.exp(want), rtol=tol, atol=tol)


@pytest.mark.cuda_device
@needs_device
def test_device_operator_solve_matches_cpu():
    rng = np.random.default_rng(5)
    op = nashmp.BradleyTerry(rng.standard_normal(3000))
    kw = dict(init=ref.softmax(rng.standard_normal((3, 3000))), tol=-1.0, max_iter=30,
              check_every=10)
    rc = nashmp.solve(op, 0.1, backend="c" if "c" in nashmp.available_backends() else "numpy",
                      **kw)
    rg = nashmp.solve(op, 0.1, backend="cuda", **kw)
    np.testing.assert_allclose(rg.log_policy, rc.log_policy, atol=1e-11)
    np.testing.assert_array_equal(rg.n_queries, rc.n_queries)


@pytest.mark.cuda_device
@needs_device
def test_device_foreign_arrays_zero_copy():
    """CuPy / PyTorch CUDA arrays go in without a copy (skipped when neither is installed)."""
    x = np.random.default_rng(3).standard_normal((4, 33))
    tried = 0
    if importlib.util.find_spec("cupy") is not None:
        import cupy
        tried += 1
        r = nashmp.log_softmax(cupy.asarray(x))
        np.testing.assert_allclose(cupy.asnumpy(cupy.asarray(r)), ref.log_softmax(x), rtol=1e-13,
                                   atol=1e-13)
    if importlib.util.find_spec("torch") is not None:
        import torch
        if torch.cuda.is_available():
            tried += 1
            r = nashmp.logsumexp(torch.as_tensor(x, device="cuda"))
            np.testing.assert_allclose(torch.as_tensor(r, device="cuda").cpu().numpy(),
                                       ref.logsumexp(x), rtol=1e-13)
    if not tried:
        pytest.skip("neither CuPy nor PyTorch with CUDA is installed")
