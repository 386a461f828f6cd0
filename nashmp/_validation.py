"""Argument validation shared by every public entry point.

Python validates and normalizes once (dtype, shape, contiguity, ``out=``); kernels below receive
raw, well-formed buffers and never re-validate.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)
FLOAT_DTYPES = (_F64, _F32)


def as_float_array(x, name: str, *, min_ndim: int = 1) -> np.ndarray:
    """``x`` as an ndarray of float32/float64 (integers become float64), never copied if not needed.

    Raises TypeError for other dtypes and ValueError for empty arrays or too few dimensions.
    """
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    dt = a.dtype
    if dt not in FLOAT_DTYPES:
        if dt.kind in "iu":
            a = a.astype(np.float64)
        else:
            raise TypeError(f"{name} must be a float32 or float64 array (integers are converted "
                            f"to float64), got dtype {dt}")
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s) (actions on the last "
                         f"axis), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    return a


def common_dtype(*arrays) -> np.dtype:
    """float32 only if every array is float32, else float64."""
    for a in arrays:
        if a is not None and a.dtype.char != "f":
            return _F64
    return _F32


def as_rows(a: np.ndarray, batch_shape: tuple, dtype) -> tuple:
    """View ``a`` as rows ``(n, k)`` for a batch of shape ``batch_shape``.

    Returns ``(rows, ld)``: ``rows`` has unit stride along the last axis and ``ld`` is the distance
    between rows in elements (0 when one row is broadcast over the batch). Copies only when the
    layout cannot be expressed that way (other dtype, negative or irregular strides).
    """
    k = a.shape[-1]
    if a.dtype is not dtype and a.dtype != dtype:
        a = a.astype(dtype)
    if a.flags.c_contiguous and a.shape[:-1] == batch_shape:     # fast path
        r = a.reshape(-1, k)
        return r, (0 if r.shape[0] == 1 else k)
    if a.shape[:-1] != batch_shape:
        if math.prod(a.shape[:-1]) == 1:
            a = a.reshape(1, k)
        else:
            a = np.broadcast_to(a, batch_shape + (k,))
    r = a.reshape(-1, k)
    item = r.itemsize
    if r.strides[1] != item and k > 1 or r.strides[0] < 0 or r.strides[0] % item:
        r = np.ascontiguousarray(r)
    ld = 0 if r.shape[0] == 1 else r.strides[0] // item
    return r, ld


def check_same_k(k: int, a: np.ndarray, name: str) -> None:
    if a.shape[-1] != k:
        raise ValueError(f"{name} must have {k} actions on its last axis, got shape {a.shape}")


def batch_shape_of(name_arrays) -> tuple:
    """Broadcast the leading (batch) dims of several arrays; ValueError naming them if impossible."""
    shapes = [a.shape[:-1] for _, a in name_arrays]
    first = shapes[0]
    for sh in shapes:
        if sh != first:
            break
    else:
        return first                                               # fast path: all equal
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        desc = ", ".join(f"{n} {a.shape}" for n, a in name_arrays)
        raise ValueError(f"batch dimensions do not broadcast: {desc}") from None


def prepare_out(out, shape: tuple, dtype, name: str = "out"):
    """Validate ``out=``. Returns ``(result, work)``: ``work`` is C-contiguous and is copied into
    ``result`` afterwards when the two differ."""
    if out is None:
        r = np.empty(shape, dtype=dtype)
        return r, r
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    if out.flags.c_contiguous:
        return out, out
    return out, np.empty(shape, dtype=dtype)


def unalias(work, *inputs, in_place: bool = True) -> tuple:
    """The ``inputs`` of a kernel that writes ``work`` (from :func:`prepare_out`), each copied
    when ``work`` may share memory with it, so a kernel never reads what it has already written.

    With ``in_place``, an input that is exactly ``work`` (same data pointer, shape, strides and
    dtype) is kept: element-wise row kernels read each element before writing it. Kernels that
    read a whole input row for each output (``P pi``) pass ``in_place=False``. The overlap test
    is by address bounds (cheap; a needless copy at worst).
    """
    res = []
    for a in inputs:
        if (isinstance(a, np.ndarray) and np.may_share_memory(a, work)
                and not (in_place and a.shape == work.shape and a.dtype == work.dtype
                         and a.strides == work.strides
                         and a.__array_interface__["data"][0]
                         == work.__array_interface__["data"][0])):
            a = a.copy()
        res.append(a)
    return tuple(res)


def as_scalar(v, name: str, *, low=None, high=None, low_open=False, allow_zero=True) -> float:
    """A finite real scalar within optional bounds."""
    if type(v) is float and low is None and high is None and math.isfinite(v):
        return v                                                   # fast path
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f}")
    if low is not None and (f < low or (low_open and f == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name} must be {op} {low}, got {f}")
    if high is not None and f > high:
        raise ValueError(f"{name} must be <= {high}, got {f}")
    return f
