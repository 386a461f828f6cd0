"""nashmp: Nash equilibria of preference games, fast (Nash Mirror Prox for NLHF).

Kernels in log space (``logsumexp``, ``log_softmax``, ``softmax``, ``kl``, ``span``,
``preference_apply``, ``mirror_step``) run on the C library (libnashmp), Numba or the NumPy
reference, chosen by ``backend=`` or the ``NASHMP_BACKEND`` environment variable.
"""
from __future__ import annotations

import os as _os

from ._backend import available_backends
from ._kernels import (kl, log_softmax, logsumexp, mirror_step, preference_apply, softmax,
                       span)
from .metrics import (best_response, duality_gap, exploitability, fixed_point_residual,
                      span_distance)
from .solvers import SolveResult, solve
from . import operators
from .operators import (BradleyTerry, Dense, Embedding, LowRankSkew, PackedDense, PairFunction,
                        PreferenceOperator, pair_function)

__all__ = [
    "__version__", "available_backends", "get_include", "get_cmake_dir", "get_library_dir",
    "set_num_threads", "get_num_threads",
    "logsumexp", "log_softmax", "softmax", "kl", "span", "preference_apply", "mirror_step",
    "solve", "SolveResult", "exploitability", "duality_gap", "best_response",
    "fixed_point_residual", "span_distance",
    "operators", "PreferenceOperator", "Dense", "PackedDense", "LowRankSkew", "Embedding",
    "BradleyTerry", "PairFunction", "pair_function",
]

_HERE = _os.path.dirname(_os.path.abspath(__file__))


def _c_version():
    from ._backend import c_lib
    ffi, lib = c_lib()
    return ffi.string(lib.nashmp_version_string()).decode()


try:
    __version__ = _c_version()
except ImportError:  # pragma: no cover - only in a source tree without a build
    __version__ = "0+unknown"


def get_include() -> str:
    """Folder holding ``nashmp/nashmp.h`` (for C/C++ code that links libnashmp)."""
    return _os.path.join(_HERE, "include")


def get_library_dir() -> str:
    """Folder holding the shared library ``libnashmp``."""
    return _os.path.join(_HERE, "lib")


def get_cmake_dir() -> str:
    """Folder holding ``nashmpConfig.cmake``: pass it as ``-Dnashmp_DIR=...``."""
    return _os.path.join(_HERE, "lib", "cmake", "nashmp")


def set_num_threads(n: int) -> None:
    """Threads used by the C kernels (OpenMP) and, if Numba is loaded, by Numba kernels.

    ``n <= 0`` restores the default (all cores).
    """
    import numbers
    import sys
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer, got {type(n).__name__}")
    if n > 4096:
        raise ValueError(f"n must be <= 4096 (or <= 0 for the default), got {n}")
    n = max(int(n), 0)
    from ._backend import c_lib
    try:
        _, lib = c_lib()
        lib.nashmp_set_num_threads(int(n))
    except ImportError:
        pass
    nb = sys.modules.get("numba")
    if nb is not None:
        cap = nb.config.NUMBA_NUM_THREADS        # numba cannot exceed its start-up pool
        nb.set_num_threads(min(int(n), cap) if n > 0 else cap)


def get_num_threads() -> int:
    """Threads the C kernels will use."""
    from ._backend import c_lib
    _, lib = c_lib()
    return int(lib.nashmp_get_num_threads())


def __getattr__(name):  # lazy submodule: ``nashmp.approx`` (imports Numba kernels on first use)
    if name == "approx":
        import importlib
        return importlib.import_module(".approx", __name__)
    raise AttributeError(f"module 'nashmp' has no attribute {name!r}")
