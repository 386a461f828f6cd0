"""Backend registry: which implementations exist and which one a call uses.

``backend="auto"`` picks, in order, the environment override ``NASHMP_BACKEND``, then ``"c"``
(libnashmp through the cffi extension), then ``"numba"``, then the ``"numpy"`` reference.
Heavy modules (numba, the extension) are imported on first use only.
"""
from __future__ import annotations

import importlib.util
import os

BACKENDS = ("c", "numba", "numpy", "cuda")
_CHOICES = ("auto",) + BACKENDS
ENV_VAR = "NASHMP_BACKEND"

_c_module = None
_c_error = None


def c_lib():
    """Return ``(ffi, lib)`` of the compiled extension, or raise ImportError."""
    global _c_module, _c_error
    if _c_module is None:
        if _c_error is not None:
            raise ImportError(_c_error)
        try:
            from . import _nashmp_cffi  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - only without a build
            _c_error = f"the nashmp C extension is not available ({exc}); reinstall with `pip install .`"
            raise ImportError(_c_error) from exc
        _c_module = _nashmp_cffi
    return _c_module.ffi, _c_module.lib


def is_available(name: str) -> bool:
    """True if backend ``name`` can run here (imports nothing heavy except the C extension)."""
    if name == "numpy":
        return True
    if name == "c":
        try:
            c_lib()
            return True
        except ImportError:
            return False
    if name == "numba":
        return importlib.util.find_spec("numba") is not None
    if name == "cuda":
        return _cuda_available()
    return False


_cuda_ok = None


def _cuda_available() -> bool:
    """numba-cuda is installed and sees a CUDA device, or runs its simulator
    (``NUMBA_ENABLE_CUDASIM=1``). Cached; imports numba.cuda only when numba-cuda is installed."""
    global _cuda_ok
    if _cuda_ok is None:
        _cuda_ok = False
        if importlib.util.find_spec("numba_cuda") is not None:
            try:
                from numba import config as nb_config  # noqa: PLC0415
                from numba import cuda  # noqa: PLC0415
                _cuda_ok = bool(nb_config.ENABLE_CUDASIM) or bool(cuda.is_available())
            except Exception:  # noqa: BLE001 - a broken driver means "not available"
                _cuda_ok = False
    return _cuda_ok


def available_backends() -> tuple:
    """The backends usable on this machine, in ``auto`` preference order."""
    return tuple(b for b in BACKENDS if is_available(b))


_resolved_auto = None


def resolve(backend) -> str:
    """Map a ``backend=`` argument to a concrete, available backend name.

    ``"auto"`` honours ``NASHMP_BACKEND`` (read on first use; call ``reset_auto()`` after
    changing it at run time).
    """
    global _resolved_auto
    if backend == "auto" or backend is None:
        if _resolved_auto is None:
            env = os.environ.get(ENV_VAR, "auto")
            if env != "auto":
                if env not in BACKENDS:
                    raise ValueError(f"{ENV_VAR} must be one of {_CHOICES}, got {env!r}")
                _resolved_auto = resolve(env)
            else:
                _resolved_auto = next(b for b in ("c", "numba", "numpy") if is_available(b))
        return _resolved_auto
    if backend in BACKENDS and backend in _available_cache:
        return backend
    if not isinstance(backend, str) or backend not in _CHOICES:
        raise ValueError(f"backend must be one of {_CHOICES}, got {backend!r}")
    if not is_available(backend):
        if backend == "cuda":
            why = ("numba-cuda is not installed (`pip install nashmp[cuda]`)"
                   if importlib.util.find_spec("numba_cuda") is None else
                   "numba-cuda found no CUDA device or driver (set NUMBA_ENABLE_CUDASIM=1 for "
                   "the simulator)")
            raise RuntimeError(f"backend='cuda' is not available: {why}")
        raise RuntimeError(f"backend={backend!r} is not available on this installation")
    _available_cache.add(backend)
    return backend


_available_cache = set()


def reset_auto() -> None:
    """Forget the cached ``auto`` choice (re-reads ``NASHMP_BACKEND`` on next use)."""
    global _resolved_auto
    _resolved_auto = None
