"""Public log-space kernels: thin wrappers that validate once and hand raw buffers to a backend.

Every function works over the last axis (actions) with any leading batch dimensions, keeps the
input dtype (float32 or float64; integers become float64), accepts ``out=`` where it returns an
array, never modifies its inputs, and takes ``backend="auto" | "c" | "numba" | "numpy"``.
``out`` may share memory with any input: the element-wise kernels run in place when it is exactly
that input; any other overlap (and any overlap in ``preference_apply``) reads a copy of the input
(``_validation.unalias``).
"""
from __future__ import annotations

import numpy as np

from . import _backend
from ._validation import (as_float_array, as_rows, as_scalar, batch_shape_of, check_same_k,
                          common_dtype, prepare_out, unalias)

__all__ = ["logsumexp", "log_softmax", "softmax", "kl", "span", "preference_apply",
           "mirror_step"]

_NONFINITE = -5
_numba_mod = None


def _nb():
    global _numba_mod
    if _numba_mod is None:
        from . import _numba_kernels  # noqa: PLC0415  (imports numba: lazy)
        _numba_mod = _numba_kernels
    return _numba_mod


def _ref():
    from . import _reference  # noqa: PLC0415
    return _reference


_cuda_mod = None


def _cu():
    """The numba-cuda kernels (``backend="cuda"``), imported on first use."""
    global _cuda_mod
    if _cuda_mod is None:
        _backend.resolve("cuda")            # a clear error when numba-cuda / a device is missing
        from . import _cuda_kernels  # noqa: PLC0415
        _cuda_mod = _cuda_kernels
    return _cuda_mod


def _on_cuda(backend, *arrays) -> bool:
    """True when a call runs on the CUDA backend: ``backend="cuda"``, a device array
    (``__cuda_array_interface__``: CuPy, PyTorch, Numba) with ``backend="auto"``, or ``auto``
    resolved to ``"cuda"`` by ``NASHMP_BACKEND``. ``auto`` alone never picks CUDA."""
    if backend == "cuda":
        return True
    for a in arrays:
        if type(a) is not np.ndarray and (hasattr(a, "__cuda_array_interface__")
                                          or type(a).__name__ == "FakeCUDAArray"):
            if backend not in ("auto", None):
                raise ValueError(f"device arrays need backend='cuda' or 'auto', got "
                                 f"backend={backend!r}")
            return True
    return ((backend == "auto" or backend is None)
            and (_backend._resolved_auto or _backend.resolve("auto")) == "cuda")


_CFN = {}


def _cfn(lib, name, dtype):
    """The C function ``nashmp_<name>_f32|f64`` (looked up once)."""
    key = (name, dtype)
    fn = _CFN.get(key)
    if fn is None:
        fn = _CFN[key] = getattr(lib, "nashmp_" + name + _sfx(dtype))
    return fn


def _sfx(dtype) -> str:
    return "_f64" if dtype.char == "d" else "_f32"


def _ptr(ffi, a):
    """C pointer to the first element of ``a`` (no copy)."""
    if a is None:
        return ffi.NULL
    f64 = a.dtype.char == "d"
    if a.flags.c_contiguous:                # read-only buffers are accepted (never written)
        return ffi.from_buffer("double[]" if f64 else "float[]", a)
    return ffi.cast("double *" if f64 else "float *", a.__array_interface__["data"][0])


_EMPTY_Z = (", a coefficient times -inf must not give +inf or NaN, and every row of"
            " z = a*log_pi + b*log_ref + c*g needs an entry above -inf (a distribution)")


def _check(status: int, names: str, extra: str = "") -> None:
    if status == 0:
        return
    if status == _NONFINITE:
        raise ValueError(f"{names} must not contain NaN or +inf{extra}")
    ffi, lib = _backend.c_lib()
    raise RuntimeError(f"libnashmp returned {ffi.string(lib.nashmp_status_string(status)).decode()}"
                       f" ({status}); this is a bug in nashmp's validation")


def _reject_nonfinite(**arrays) -> None:
    """The numpy backend's equivalent of the kernels' NONFINITE status."""
    for name, a in arrays.items():
        if a is not None and (np.isnan(a).any() or np.isposinf(a).any()):
            raise ValueError(f"{name} must not contain NaN or +inf")


def _full(rows, ld, n):
    """Rows as a (n, k) array for the numba kernels (stride 0 when broadcast)."""
    return np.broadcast_to(rows, (n, rows.shape[1])) if ld == 0 and n > 1 else rows


def _finish(res, work, shape, out):
    if work is not res:
        res[...] = work
    return res[()] if shape == () and out is None else res


_FB_TYPES = {}          # dtype char -> cffi array type ("d": double[], "f": float[])


def _fast_c(backend, x, *others):
    """The cffi array type (``double[]`` / ``float[]``) when the call can skip the generic path:
    C backend and every array a non-empty C-contiguous float32/float64 ndarray of the same shape
    and dtype (the common case, told apart in a few attribute reads); else None. Such a call
    never goes to CUDA, so callers test this before ``_on_cuda``."""
    if type(x) is not np.ndarray or not x.flags.c_contiguous or not x.size or not x.ndim:
        return None
    if backend != "c" and _backend.resolve(backend) != "c":
        return None                      # (before c_lib: a build without the extension)
    if not _FB_TYPES:
        ffi = _backend.c_lib()[0]
        _FB_TYPES.update(d=ffi.typeof("double[]"), f=ffi.typeof("float[]"))
    dt = x.dtype
    t = _FB_TYPES.get(dt.char)
    if t is None:
        return None
    for o in others:
        if (type(o) is not np.ndarray or o.dtype is not dt or o.shape != x.shape
                or not o.flags.c_contiguous):
            return None
    return t


def _reduce(name, x, out, backend, numpy_fn):
    """Shared body of the row reductions (logsumexp, span)."""
    t = None if out is not None else _fast_c(backend, x)
    if t is not None:
        ffi, lib = _backend.c_lib()
        fb = ffi.from_buffer
        k = x.shape[-1]
        res = np.empty(x.shape[:-1], x.dtype)
        _check(_cfn(lib, name, x.dtype)(fb(t, x), res.size, k, k, fb(t, res)), "x")
        return res if res.ndim else res[()]
    if _on_cuda(backend, x):
        return getattr(_cu(), name)(x, out)
    x = as_float_array(x, "x")
    be = _backend.resolve(backend)
    bshape = x.shape[:-1]
    res, work = prepare_out(out, bshape, x.dtype)
    x, = unalias(work, x)
    if be == "numpy":
        _reject_nonfinite(x=x)
        work[...] = numpy_fn(np.ascontiguousarray(x))   # result independent of the layout
        return _finish(res, work, bshape, out)
    rows, ld = as_rows(x, bshape, x.dtype)
    n, k = work.size, x.shape[-1]
    if be == "c":
        ffi, lib = _backend.c_lib()
        st = _cfn(lib, name, x.dtype)(
            _ptr(ffi, rows), n, k, ld, _ptr(ffi, work))
    else:
        st = getattr(_nb(), name)(_full(rows, ld, n), work.reshape(n))
    _check(st, "x")
    return _finish(res, work, bshape, out)


def _rowwise(name, x, out, backend, numpy_fn):
    """Shared body of the row maps (log_softmax, softmax)."""
    t = None if out is not None else _fast_c(backend, x)
    if t is not None:
        ffi, lib = _backend.c_lib()
        fb = ffi.from_buffer
        k = x.shape[-1]
        res = np.empty(x.shape, x.dtype)
        _check(_cfn(lib, name, x.dtype)(fb(t, x), x.size // k, k, k, fb(t, res), k), "x")
        return res
    if _on_cuda(backend, x):
        return getattr(_cu(), name)(x, out)
    x = as_float_array(x, "x")
    be = _backend.resolve(backend)
    res, work = prepare_out(out, x.shape, x.dtype)
    x, = unalias(work, x)                   # out is x: in place; other overlap: a copy of x
    if be == "numpy":
        _reject_nonfinite(x=x)
        work[...] = numpy_fn(np.ascontiguousarray(x))   # result independent of the layout
        return _finish(res, work, x.shape, out)
    k = x.shape[-1]
    rows, ld = as_rows(x, x.shape[:-1], x.dtype)
    w = work.reshape(-1, k)
    n = w.shape[0]
    if be == "c":
        ffi, lib = _backend.c_lib()
        st = _cfn(lib, name, x.dtype)(
            _ptr(ffi, rows), n, k, ld, _ptr(ffi, w), k)
    else:
        st = getattr(_nb(), name)(_full(rows, ld, n), w)
    _check(st, "x")
    return _finish(res, work, x.shape, out)


def logsumexp(x, *, out=None, backend="auto"):
    """Log-sum-exp over the last axis, in one pass.

    Parameters
    ----------
    x : array_like, shape (..., K)
        Logits; ``-inf`` entries are allowed (they contribute nothing).
    out : ndarray, shape (...), optional
        Where to write the result (same dtype as ``x``).
    backend : {"auto", "c", "numba", "numpy"}

    Returns
    -------
    ndarray, shape (...)
        ``log(sum(exp(x), axis=-1))``; a row of all ``-inf`` gives ``-inf``.

    Notes
    -----
    A running pair ``(m, s)`` with ``s = sum exp(x - m)`` is kept and merged associatively, so the
    input is read once. float32 input is accumulated in float64.

    Raises ValueError if ``x`` contains NaN or ``+inf``.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> float(nashmp.logsumexp(np.log([0.25, 0.25, 0.5])))
    0.0
    """
    return _reduce("logsumexp", x, out, backend, lambda a: _ref().logsumexp(a))


def span(x, *, out=None, backend="auto"):
    """Span semi-norm ``max(x) - min(x)`` over the last axis.

    Parameters
    ----------
    x : array_like, shape (..., K)
    out : ndarray, shape (...), optional
    backend : {"auto", "c", "numba", "numpy"}

    Returns
    -------
    ndarray, shape (...)
        A row of all ``-inf`` gives 0 (a constant row); ``-inf`` mixed with finite entries
        gives ``+inf``.

    Examples
    --------
    >>> import nashmp
    >>> float(nashmp.span([1.0, 4.0, 2.5]))
    3.0
    """
    return _reduce("span", x, out, backend, lambda a: _ref().span(a))


def log_softmax(x, *, out=None, backend="auto"):
    """``x - logsumexp(x)`` over the last axis.

    Parameters
    ----------
    x : array_like, shape (..., K)
    out : ndarray, shape (..., K), optional
        May be ``x`` itself (in place).
    backend : {"auto", "c", "numba", "numpy"}

    Returns
    -------
    ndarray, shape (..., K)
        Normalized log-probabilities; a row of all ``-inf`` stays all ``-inf``.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> np.exp(nashmp.log_softmax([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """
    return _rowwise("log_softmax", x, out, backend, lambda a: _ref().log_softmax(a))


def softmax(x, *, out=None, backend="auto"):
    """``exp(log_softmax(x))`` over the last axis.

    Parameters
    ----------
    x : array_like, shape (..., K)
    out : ndarray, shape (..., K), optional
    backend : {"auto", "c", "numba", "numpy"}

    Returns
    -------
    ndarray, shape (..., K)
        Probabilities; a row of all ``-inf`` gives all zeros.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> nashmp.softmax(np.log([1.0, 3.0])).round(12).tolist()
    [0.25, 0.75]
    """
    return _rowwise("softmax", x, out, backend, lambda a: _ref().softmax(a))


def kl(logp, logq, *, out=None, backend="auto"):
    """Kullback–Leibler divergence ``KL(p || q)`` from log-probabilities, fused.

    Parameters
    ----------
    logp, logq : array_like, shape (..., K)
        Log-probabilities (not renormalized); leading dims broadcast.
    out : ndarray, optional
    backend : {"auto", "c", "numba", "numpy"}

    Returns
    -------
    ndarray, shape (...)
        ``sum(exp(logp) * (logp - logq))``. Terms with ``logp = -inf`` are exactly 0
        (``0 log 0 = 0``); ``logp > -inf`` where ``logq = -inf`` gives ``+inf``.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> round(float(nashmp.kl(np.log([0.5, 0.5]), np.log([0.25, 0.75]))), 6)
    0.143841
    """
    t = None if out is not None else _fast_c(backend, logp, logq)
    if t is not None:
        ffi, lib = _backend.c_lib()
        fb = ffi.from_buffer
        k = logp.shape[-1]
        res = np.empty(logp.shape[:-1], logp.dtype)
        _check(_cfn(lib, "kl", logp.dtype)(fb(t, logp), k, fb(t, logq), k,
                                           res.size, k, fb(t, res)), "logp and logq")
        return res if res.ndim else res[()]
    if _on_cuda(backend, logp, logq):
        return _cu().kl(logp, logq, out)
    logp = as_float_array(logp, "logp")
    logq = as_float_array(logq, "logq")
    check_same_k(logp.shape[-1], logq, "logq")
    be = _backend.resolve(backend)
    dtype = common_dtype(logp, logq)
    bshape = batch_shape_of((("logp", logp), ("logq", logq)))
    res, work = prepare_out(out, bshape, dtype)
    logp, logq = unalias(work, logp, logq)
    if be == "numpy":
        _reject_nonfinite(logp=logp, logq=logq)
        work[...] = _ref().kl(logp, logq)
        return _finish(res, work, bshape, out)
    k = logp.shape[-1]
    p, ldp = as_rows(logp, bshape, dtype)
    q, ldq = as_rows(logq, bshape, dtype)
    n = work.size
    if be == "c":
        ffi, lib = _backend.c_lib()
        st = _cfn(lib, "kl", dtype)(
            _ptr(ffi, p), ldp, _ptr(ffi, q), ldq, n, k, _ptr(ffi, work))
    else:
        st = _nb().kl(_full(p, ldp, n), _full(q, ldq, n), work.reshape(n))
    _check(st, "logp and logq")
    return _finish(res, work, bshape, out)


def _check_apply(st):
    if st == _NONFINITE:          # any non-finite entry of P or pi, or overflow
        raise ValueError("P and pi must not contain NaN or inf")
    _check(st, "P and pi")


def preference_apply(P, pi, *, out=None, backend="auto"):
    """Dense preference operator ``g(pi) = P pi`` (one preference query per game).

    Parameters
    ----------
    P : array_like, shape (K, K) or (..., K, K)
        ``P[y, y'] = P(y beats y')``, shared by the batch or one matrix per game. No property of
        ``P`` is checked here (the solvers check antisymmetry).
    pi : array_like, shape (..., K)
        Policies (probabilities, not logs).
    out : ndarray, shape (..., K), optional
        May be ``pi`` or overlap it (``pi`` is then read from a copy).
    backend : {"auto", "c", "numba", "numpy"}

    Returns
    -------
    ndarray, shape (..., K)
        ``g[..., y] = sum_j P[..., y, j] pi[..., j]``; float32 accumulates in float64 (a sum
        beyond the float32 range gives ``inf``). Raises ValueError for NaN or inf in ``P`` or
        ``pi``, or a sum beyond the float64 range.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> P = np.array([[0.5, 1.0], [0.0, 0.5]])
    >>> nashmp.preference_apply(P, [0.5, 0.5]).tolist()
    [0.75, 0.25]
    """
    t = (None if out is not None or type(P) is not np.ndarray or P.ndim != 2
         else _fast_c(backend, pi))
    if t is not None and P.dtype is pi.dtype and P.shape == (pi.shape[-1],) * 2 \
            and P.flags.c_contiguous:                 # one shared P, rows of pi
        ffi, lib = _backend.c_lib()
        fb = ffi.from_buffer
        k = pi.shape[-1]
        res = np.empty(pi.shape, pi.dtype)
        _check_apply(_cfn(lib, "preference_apply", pi.dtype)(
            fb(t, P), 0, fb(t, pi), k, pi.size // k, k, fb(t, res), k))
        return res
    if _on_cuda(backend, P, pi):
        return _cu().preference_apply(P, pi, out)
    P = as_float_array(P, "P", min_ndim=2)
    pi = as_float_array(pi, "pi")
    k = pi.shape[-1]
    if P.shape[-2:] != (k, k):
        raise ValueError(f"P must have shape (..., {k}, {k}) to match pi of shape {pi.shape}, "
                         f"got {P.shape}")
    be = _backend.resolve(backend)
    dtype = common_dtype(P, pi)
    shared = P.size == k * k                # one matrix, maybe with unit batch dims
    try:
        bshape = np.broadcast_shapes(P.shape[:-2], pi.shape[:-1])
    except ValueError:
        raise ValueError(f"batch dimensions of P {P.shape[:-2]} and pi {pi.shape[:-1]} do "
                         "not broadcast") from None
    oshape = bshape + (k,)
    res, work = prepare_out(out, oshape, dtype)
    P, pi = unalias(work, P, pi, in_place=False)    # every output reads a whole row of pi
    if be == "numpy":
        _reject_nonfinite(P=P, pi=pi)
        with np.errstate(invalid="ignore"):
            r = _ref().preference_apply(np.ascontiguousarray(P), np.ascontiguousarray(pi))
        if not np.isfinite(r).all():
            raise ValueError("P and pi must not contain NaN or inf")
        with np.errstate(over="ignore"):        # beyond the float32 range: inf, as in C
            work[...] = r
        return _finish(res, work, oshape, out)
    Pm = P.astype(dtype, copy=False)
    if shared:
        Pm = np.ascontiguousarray(Pm.reshape(1, k, k))
        ldP = 0
    else:
        Pm = np.ascontiguousarray(np.broadcast_to(Pm, bshape + (k, k)).reshape(-1, k, k))
        ldP = k * k
    x, ldx = as_rows(pi, bshape, dtype)
    w = work.reshape(-1, k)
    n = w.shape[0]
    if be == "c":
        ffi, lib = _backend.c_lib()
        st = _cfn(lib, "preference_apply", dtype)(
            _ptr(ffi, Pm), ldP, _ptr(ffi, x), ldx, n, k, _ptr(ffi, w), k)
        _check_apply(st)
    else:
        # contiguous rows: one compiled specialization, so results do not depend on the layout
        _check_apply(_nb().preference_apply(Pm, np.ascontiguousarray(_full(x, ldx, n)), w))
    return _finish(res, work, oshape, out)


def mirror_step(log_pi, log_ref, g, a, b, c, *, out=None, backend="auto"):
    """Fused prox step in log space: ``normalize(a*log_pi + b*log_ref + c*g)``.

    Parameters
    ----------
    log_pi, log_ref, g : array_like, shape (..., K)
        Current log-policy, reference log-policy (may be None when ``b == 0``) and the preference
        operator output; leading dims broadcast.
    a, b, c : float
        Finite coefficients. A coefficient exactly 0 makes its term exactly 0 (even at ``-inf``).
    out : ndarray, shape (..., K), optional
        May be ``log_pi`` (in place).
    backend : {"auto", "c", "numba", "numpy"}

    Returns
    -------
    ndarray, shape (..., K)
        ``z - logsumexp(z)`` with ``z = a*log_pi + b*log_ref + c*g``.

    Notes
    -----
    Nash-MP uses ``a = 1/(1+eta*beta)``, ``b = eta*beta/(1+eta*beta)``, ``c = eta/(1+eta*beta)``.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> l = np.log([0.5, 0.5])
    >>> np.exp(nashmp.mirror_step(l, l, np.array([1.0, 0.0]), 0.5, 0.5, 0.0)).tolist()
    [0.5, 0.5]
    """
    t = (None if out is not None or log_ref is None or type(a) is not float
         or type(b) is not float or type(c) is not float
         else _fast_c(backend, log_pi, log_ref, g))
    if t is not None:       # plain float coefficients: the C kernel rejects non-finite ones
        ffi, lib = _backend.c_lib()
        fb = ffi.from_buffer
        k = log_pi.shape[-1]
        res = np.empty(log_pi.shape, log_pi.dtype)
        st = _cfn(lib, "mirror_step", log_pi.dtype)(
            fb(t, log_pi), k, fb(t, log_ref), k, fb(t, g), k,
            res.size // k, k, a, b, c, fb(t, res), k)
        if st == 0:
            return res
        a, b, c = as_scalar(a, "a"), as_scalar(b, "b"), as_scalar(c, "c")
        _check(st, "log_pi, log_ref and g", _EMPTY_Z)
    if _on_cuda(backend, log_pi, log_ref, g):
        return _cu().mirror_step(log_pi, log_ref, g, a, b, c, out)
    a = as_scalar(a, "a")
    b = as_scalar(b, "b")
    c = as_scalar(c, "c")
    log_pi = as_float_array(log_pi, "log_pi")
    k = log_pi.shape[-1]
    if log_ref is None:
        if b != 0.0:
            raise ValueError("log_ref may be None only when b == 0")
    else:
        log_ref = as_float_array(log_ref, "log_ref")
        check_same_k(k, log_ref, "log_ref")
    g = as_float_array(g, "g")
    check_same_k(k, g, "g")
    be = _backend.resolve(backend)
    named = [("log_pi", log_pi), ("g", g)] + ([("log_ref", log_ref)] if log_ref is not None else [])
    dtype = common_dtype(log_pi, log_ref, g)
    bshape = batch_shape_of(named)
    oshape = bshape + (k,)
    res, work = prepare_out(out, oshape, dtype)
    log_pi, log_ref, g = unalias(work, log_pi, log_ref, g)
    if be == "numpy":           # like the compiled kernels: a zero coefficient's input is not read
        _reject_nonfinite(**{name: v for name, v, coef in (("log_pi", log_pi, a),
                                                           ("log_ref", log_ref, b), ("g", g, c))
                             if coef != 0.0})
        z = _ref().mirror_step(log_pi, log_ref, g, a, b, c)
        _check(_NONFINITE if np.isnan(z).any() else 0, "log_pi, log_ref and g", _EMPTY_Z)
        work[...] = z
        return _finish(res, work, oshape, out)
    lp, ldp = as_rows(log_pi, bshape, dtype)
    gg, ldg = as_rows(g, bshape, dtype)
    lr, ldr = as_rows(log_ref, bshape, dtype) if log_ref is not None else (None, 0)
    w = work.reshape(-1, k)
    n = w.shape[0]
    if be == "c":
        ffi, lib = _backend.c_lib()
        st = _cfn(lib, "mirror_step", dtype)(
            _ptr(ffi, lp), ldp, _ptr(ffi, lr), ldr, _ptr(ffi, gg), ldg,
            n, k, a, b, c, _ptr(ffi, w), k)
    else:
        if lr is None:
            lr = np.zeros((1, k), dtype)
        st = _nb().mirror_step(_full(lp, ldp, n), _full(lr, ldr if lr.shape[0] > 1 else 0, n),
                               _full(gg, ldg, n), a, b, c, w)
    _check(st, "log_pi, log_ref and g", _EMPTY_Z)
    return _finish(res, work, oshape, out)
