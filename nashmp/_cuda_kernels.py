"""numba-cuda kernels of the log-space operations and operators (the ``"cuda"`` backend).

Needs the optional ``numba-cuda`` package (``pip install nashmp[cuda]``) and an NVIDIA GPU, or the
CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, which runs the same kernels in Python threads: this is
how they are tested on machines without a GPU).

Inputs
    Anything exposing ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA tensors, Numba
    device arrays) is used in place, without a copy (it must be C-contiguous, float32/float64);
    the result is then a Numba device array (wrap it with ``cupy.asarray`` / ``torch.as_tensor``,
    both zero-copy). Host arrays (NumPy, lists) are validated as by the CPU backends, copied to
    the device and the result is copied back into a NumPy array.

Semantics
    Those of ``nashmp._reference`` and the C kernels (``-inf`` handling, float32 accumulated in
    float64, the online ``(max, sum)`` merge of ``csrc/src/ms_block.h``). NaN / ``+inf`` inputs:
    host inputs raise ValueError like the CPU backends; device inputs are not read back (that would
    synchronize), the affected output rows are NaN instead (documented in ``nashmp_cuda.h`` too).

Launch shape
    One block per row (per game for the solver), a power-of-two number of threads striding over
    the row, reductions in shared memory (tree of ``syncthreads``). The simulator has no warp
    shuffles, so shared memory is used on every target; the block shape is the same code path.
"""
from __future__ import annotations

import math

import numpy as np
from numba import config as _nb_config
from numba import cuda

__all__ = ["logsumexp", "log_softmax", "softmax", "kl", "span", "preference_apply",
           "mirror_step", "embedding_apply", "is_device_array", "to_device", "to_host",
           "device_info"]

_INF = math.inf
_MAXT = 256                       # shared-memory reduction arrays (max threads per block)
_EMB_TY, _EMB_TJ, _EMB_DC, _EMB_NG = 32, 16, 16, 4


def _simulator() -> bool:
    return bool(_nb_config.ENABLE_CUDASIM)


def _tpb(k: int) -> int:
    """Threads per block for rows of length k (a power of two)."""
    if _simulator():              # Python threads: few per block keeps the simulator quick
        return 4 if k <= 16 else 8
    return 32 if k <= 256 else (128 if k <= 4096 else 256)


# ---- device helpers (the math of csrc/src/ms_block.h) ------------------------------------------

@cuda.jit(device=True)
def _ms_push(m, s, v):
    """Fold v into the online (max, sum) pair; NaN or +inf poisons (m = NaN)."""
    if m != m:
        return m, s
    if not (v < _INF):
        return math.nan, math.nan
    if v > m:
        if m == -_INF:
            return v, 1.0
        return v, s * math.exp(m - v) + 1.0
    if v != -_INF:
        return m, s + math.exp(v - m)
    return m, s


@cuda.jit(device=True)
def _ms_merge(m1, s1, m2, s2):
    if m1 != m1:
        return m1, s1
    if m2 != m2:
        return m2, s2
    if m1 >= m2:
        if m2 == -_INF:
            return m1, s1
        return m1, s1 + s2 * math.exp(m2 - m1)
    if m1 == -_INF:
        return m2, s2
    return m2, s2 + s1 * math.exp(m1 - m2)


@cuda.jit(device=True)
def _red_ms(m, s, sm, ss):
    """Block-wide (max, sum) merge; every thread gets the result."""
    t = cuda.threadIdx.x
    n = cuda.blockDim.x
    sm[t] = m
    ss[t] = s
    cuda.syncthreads()
    h = n // 2
    while h > 0:
        if t < h:
            a, b = _ms_merge(sm[t], ss[t], sm[t + h], ss[t + h])
            sm[t] = a
            ss[t] = b
        cuda.syncthreads()
        h //= 2
    m = sm[0]
    s = ss[0]
    cuda.syncthreads()
    return m, s


@cuda.jit(device=True)
def _red_sum(v, sm):
    t = cuda.threadIdx.x
    sm[t] = v
    cuda.syncthreads()
    h = cuda.blockDim.x // 2
    while h > 0:
        if t < h:
            sm[t] = sm[t] + sm[t + h]
        cuda.syncthreads()
        h //= 2
    v = sm[0]
    cuda.syncthreads()
    return v


@cuda.jit(device=True)
def _red_max(v, sm):
    t = cuda.threadIdx.x
    sm[t] = v
    cuda.syncthreads()
    h = cuda.blockDim.x // 2
    while h > 0:
        if t < h:
            if sm[t + h] > sm[t]:
                sm[t] = sm[t + h]
        cuda.syncthreads()
        h //= 2
    v = sm[0]
    cuda.syncthreads()
    return v


@cuda.jit(device=True)
def _kl_term(lp, lq):
    if not (lp < _INF and lq < _INF):
        return math.nan
    if lp == -_INF:
        return 0.0
    if lq == -_INF:
        return _INF
    return math.exp(lp) * (lp - lq)


@cuda.jit(device=True)
def _sigmoid(t):
    if t >= 0.0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


@cuda.jit(device=True)
def _z(a, lp, b, lr, c, g, i, j):
    """(z, bad) of the mirror step at row i, column j (zero coefficients: input not read)."""
    z = 0.0
    bad = 0
    if a != 0.0:
        v = np.float64(lp[i if lp.shape[0] > 1 else 0, j])
        bad |= not (v < _INF)
        z = a * v
    if b != 0.0:
        v = np.float64(lr[i if lr.shape[0] > 1 else 0, j])
        bad |= not (v < _INF)
        z += b * v
    if c != 0.0:
        v = np.float64(g[i if g.shape[0] > 1 else 0, j])
        bad |= not (v < _INF)
        z += c * v
    return z, bad


# ---- row kernels: one block per row, rows of a (1, k) input broadcast --------------------------

@cuda.jit
def _k_logsumexp(x, out):
    sm = cuda.shared.array(_MAXT, np.float64)
    ss = cuda.shared.array(_MAXT, np.float64)
    i = cuda.blockIdx.x
    t = cuda.threadIdx.x
    r = i if x.shape[0] > 1 else 0
    m = -_INF
    s = 0.0
    for j in range(t, x.shape[1], cuda.blockDim.x):
        m, s = _ms_push(m, s, np.float64(x[r, j]))
    m, s = _red_ms(m, s, sm, ss)
    if t == 0:
        if m != m:
            out[i] = math.nan
        elif m == -_INF:
            out[i] = -_INF
        else:
            out[i] = m + math.log(s)


@cuda.jit
def _k_rowmap(x, out, softmax):
    sm = cuda.shared.array(_MAXT, np.float64)
    ss = cuda.shared.array(_MAXT, np.float64)
    i = cuda.blockIdx.x
    t = cuda.threadIdx.x
    r = i if x.shape[0] > 1 else 0
    k = x.shape[1]
    m = -_INF
    s = 0.0
    for j in range(t, k, cuda.blockDim.x):
        m, s = _ms_push(m, s, np.float64(x[r, j]))
    m, s = _red_ms(m, s, sm, ss)
    if m != m:
        for j in range(t, k, cuda.blockDim.x):
            out[i, j] = math.nan
    elif m == -_INF:
        for j in range(t, k, cuda.blockDim.x):
            out[i, j] = 0.0 if softmax else -_INF
    else:
        ls = math.log(s)
        for j in range(t, k, cuda.blockDim.x):
            v = np.float64(x[r, j])
            if softmax:
                out[i, j] = math.exp(v - m) / s
            else:
                out[i, j] = (v - m) - ls


@cuda.jit
def _k_kl(p, q, out):
    sm = cuda.shared.array(_MAXT, np.float64)
    i = cuda.blockIdx.x
    t = cuda.threadIdx.x
    rp = i if p.shape[0] > 1 else 0
    rq = i if q.shape[0] > 1 else 0
    acc = 0.0
    for j in range(t, p.shape[1], cuda.blockDim.x):
        acc += _kl_term(np.float64(p[rp, j]), np.float64(q[rq, j]))
    acc = _red_sum(acc, sm)
    if t == 0:
        out[i] = acc


@cuda.jit
def _k_span(x, out):
    sm = cuda.shared.array(_MAXT, np.float64)
    i = cuda.blockIdx.x
    t = cuda.threadIdx.x
    r = i if x.shape[0] > 1 else 0
    mx = -_INF
    mn = _INF
    bad = 0.0
    for j in range(t, x.shape[1], cuda.blockDim.x):
        v = np.float64(x[r, j])
        if not (v < _INF):
            bad = 1.0
        if v > mx:
            mx = v
        if v < mn:
            mn = v
    bad = _red_max(bad, sm)
    mx = _red_max(mx, sm)
    mn = -_red_max(-mn, sm)
    if t == 0:
        if bad != 0.0:
            out[i] = math.nan
        elif mx == -_INF:
            out[i] = 0.0
        else:
            out[i] = mx - mn


@cuda.jit
def _k_mirror(lp, lr, g, a, b, c, out):
    sm = cuda.shared.array(_MAXT, np.float64)
    ss = cuda.shared.array(_MAXT, np.float64)
    i = cuda.blockIdx.x
    t = cuda.threadIdx.x
    k = out.shape[1]
    m = -_INF
    s = 0.0
    bad = 0
    for j in range(t, k, cuda.blockDim.x):
        z, bj = _z(a, lp, b, lr, c, g, i, j)
        bad |= bj
        m, s = _ms_push(m, s, z)
    if bad:
        m = math.nan
        s = math.nan
    m, s = _red_ms(m, s, sm, ss)
    if m != m or m == -_INF:
        for j in range(t, k, cuda.blockDim.x):
            out[i, j] = math.nan
        return
    ls = math.log(s)
    for j in range(t, k, cuda.blockDim.x):
        z, bj = _z(a, lp, b, lr, c, g, i, j)
        out[i, j] = (z - m) - ls


@cuda.jit
def _k_pref(P, pi, out):
    """out[i, y] = sum_j P[gi, y, j] pi[i, j]: one thread per output element."""
    n, k = out.shape
    e = cuda.grid(1)
    if e >= n * k:
        return
    i = e // k
    y = e - i * k
    gi = i if P.shape[0] > 1 else 0
    ri = i if pi.shape[0] > 1 else 0
    s = 0.0
    for j in range(k):
        s += np.float64(P[gi, y, j]) * np.float64(pi[ri, j])
    out[i, y] = s


@cuda.jit
def _k_embed_u(E, R, U):
    """U = E R in float64, one thread per element."""
    K, d = U.shape
    e = cuda.grid(1)
    if e >= K * d:
        return
    y = e // d
    b = e - y * d
    s = 0.0
    for a in range(d):
        s += np.float64(E[y, a]) * np.float64(R[a, b])
    U[y, b] = s


@cuda.jit
def _k_embed(E, U, pi, out):
    """out[i, y] = sum_j sigma(u_y . e_j) pi[i, j]; tiles of E and pi in shared memory, a block of
    blockDim rows y (one per thread) times _EMB_NG games, no K x K buffer."""
    es = cuda.shared.array((_EMB_TJ, _EMB_DC), np.float64)
    ps = cuda.shared.array((_EMB_NG, _EMB_TJ), np.float64)
    sc = cuda.local.array(_EMB_TJ, np.float64)
    acc = cuda.local.array(_EMB_NG, np.float64)
    K, d = E.shape
    n = out.shape[0]
    t = cuda.threadIdx.x
    y = cuda.blockIdx.x * cuda.blockDim.x + t
    g0 = cuda.blockIdx.y * _EMB_NG
    for q in range(_EMB_NG):
        acc[q] = 0.0
    for j0 in range(0, K, _EMB_TJ):
        nj = min(_EMB_TJ, K - j0)
        for jj in range(_EMB_TJ):
            sc[jj] = 0.0
        for b0 in range(0, d, _EMB_DC):
            nb = min(_EMB_DC, d - b0)
            for e in range(t, _EMB_TJ * _EMB_DC, cuda.blockDim.x):
                r = e // _EMB_DC
                cc = e - r * _EMB_DC
                es[r, cc] = np.float64(E[j0 + r, b0 + cc]) if (r < nj and cc < nb) else 0.0
            cuda.syncthreads()
            if y < K:
                for bb in range(nb):
                    u = U[y, b0 + bb]
                    for jj in range(_EMB_TJ):
                        sc[jj] += u * es[jj, bb]
            cuda.syncthreads()
        for e in range(t, _EMB_NG * _EMB_TJ, cuda.blockDim.x):
            gq = e // _EMB_TJ
            r = e - gq * _EMB_TJ
            ps[gq, r] = np.float64(pi[g0 + gq, j0 + r]) if (g0 + gq < n and r < nj) else 0.0
        cuda.syncthreads()
        if y < K:
            for jj in range(nj):
                sg = _sigmoid(sc[jj])
                for q in range(_EMB_NG):
                    acc[q] += sg * ps[q, jj]
        cuda.syncthreads()
    if y < K:
        for q in range(_EMB_NG):
            if g0 + q < n:
                out[g0 + q, y] = acc[q]


# ---- argument handling -------------------------------------------------------------------------

def _sh(a) -> tuple:
    """Shape as a plain tuple (the simulator's shape type rejects negative indices)."""
    return tuple(a.shape)


def _sim_array_type():
    """The simulator's device array class (it has no ``__cuda_array_interface__``), or None."""
    if not _simulator():
        return None
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
    return FakeCUDAArray


_SIM_ARRAY = _sim_array_type()


def is_device_array(a) -> bool:
    """True for objects exposing ``__cuda_array_interface__`` (CuPy, PyTorch CUDA, Numba), and
    for the simulator's device arrays."""
    return hasattr(a, "__cuda_array_interface__") or (
        _SIM_ARRAY is not None and isinstance(a, _SIM_ARRAY))


def _as_cuda(a):
    """Zero-copy Numba device view of a device array."""
    if _SIM_ARRAY is not None and isinstance(a, _SIM_ARRAY):
        return a
    return cuda.as_cuda_array(a)


def _dev_view(a, name):
    """Zero-copy Numba view of a device array, checked (float32/float64, contiguous, non-empty)."""
    d = _as_cuda(a)
    if d.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a float32 or float64 device array, got dtype {d.dtype}")
    if d.ndim < 1 or d.size == 0:
        raise ValueError(f"{name} must be a non-empty array with actions on the last axis, got "
                         f"shape {d.shape}")
    if not d.is_c_contiguous():
        raise ValueError(f"{name}: device arrays must be C-contiguous (got strides {d.strides})")
    return d


def to_device(a, dtype=None):
    """A device array for ``a``: zero-copy for device arrays, a copy for host arrays."""
    if is_device_array(a):
        return _as_cuda(a)
    h = np.ascontiguousarray(a if dtype is None else np.asarray(a, dtype=dtype))
    return cuda.to_device(h)


def to_host(a) -> np.ndarray:
    """A NumPy copy of a device array."""
    return _as_cuda(a).copy_to_host()


class _Call:
    """Collects a call's arrays: all device (zero copy, device result) or host (validated with
    the CPU rules, copied in, result copied out)."""

    def __init__(self, *named):
        self.device = any(is_device_array(a) for _, a in named if a is not None)
        self.arrays = {}
        if self.device:
            for name, a in named:
                if a is None:
                    self.arrays[name] = None
                elif is_device_array(a):
                    self.arrays[name] = _dev_view(a, name)
                else:
                    raise TypeError(f"{name} is a host array while another argument is a device "
                                    "array: pass all arrays on the same side")
        else:
            from ._validation import as_float_array
            for name, a in named:
                self.arrays[name] = None if a is None else as_float_array(
                    a, name, min_ndim=2 if name in ("P", "E", "R") else 1)
        ds = [a.dtype for a in self.arrays.values() if a is not None]
        self.dtype = np.dtype(np.float32) if all(d == np.float32 for d in ds) else np.dtype(
            np.float64)

    def rows(self, name, bshape, k):
        """(n_or_1, k) device rows of array ``name`` for the batch shape ``bshape``."""
        a = self.arrays[name]
        nb = math.prod(bshape)
        sh = _sh(a)[:-1]
        if self.device:
            if a.dtype != self.dtype:
                raise TypeError(f"device arrays must share one dtype ({name} is {a.dtype}, "
                                f"expected {self.dtype})")
            if sh != bshape and math.prod(sh) != 1:
                raise ValueError(f"{name} of shape {a.shape}: device arrays must have the batch "
                                 f"shape {bshape} or a single row")
            return a.reshape(nb if sh == bshape else 1, k)
        h = np.asarray(a, dtype=self.dtype)
        if math.prod(sh) == 1:
            return cuda.to_device(np.ascontiguousarray(h.reshape(1, k)))
        h = np.broadcast_to(h, bshape + (k,)).reshape(-1, k)
        return cuda.to_device(np.ascontiguousarray(h))

    def reject_nonfinite(self, names):
        if self.device:
            return
        for name in names:
            a = self.arrays.get(name)
            if a is not None and (np.isnan(a).any() or np.isposinf(a).any()):
                raise ValueError(f"{name} must not contain NaN or +inf")

    def result(self, dev, shape, out):
        """Final value: a device array (device call) or a NumPy array / scalar (host call)."""
        if self.device:
            try:
                r = dev.reshape(shape)
            except Exception:  # noqa: BLE001 - a 0-d device array is not supported everywhere
                r = dev.reshape(1)
            if out is not None:
                od = _as_cuda(out) if is_device_array(out) else None
                if od is None or tuple(od.shape) != tuple(r.shape) or od.dtype != dev.dtype:
                    raise ValueError(f"out must be a device array of shape {tuple(r.shape)} and "
                                     f"dtype {dev.dtype}")
                od.copy_to_device(r)
                return out
            return r
        h = dev.copy_to_host().reshape(shape)
        if out is not None:
            from ._validation import prepare_out
            res, _ = prepare_out(out, shape, h.dtype)
            res[...] = h
            return res
        return h[()] if shape == () else h


def _batch(call, names, k):
    shapes = [_sh(call.arrays[n])[:-1] for n in names if call.arrays[n] is not None]
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        desc = ", ".join(f"{n} {call.arrays[n].shape}" for n in names if call.arrays[n] is not None)
        raise ValueError(f"batch dimensions do not broadcast: {desc}") from None


def _check_k(call, names, k):
    for n in names:
        a = call.arrays[n]
        if a is not None and _sh(a)[-1] != k:
            raise ValueError(f"{n} must have {k} actions on its last axis, got shape {a.shape}")


def _nonfinite_rows(call, dev_out, what, extra=""):
    """Host calls: the kernels mark bad rows with NaN; raise like the CPU backends."""
    if not call.device:
        h = dev_out.copy_to_host()
        if np.isnan(h).any():
            raise ValueError(f"{what} must not contain NaN or +inf{extra}")
        return h
    return None


# ---- public kernels (called by nashmp._kernels for backend="cuda" or device inputs) ------------

def _reduce(kernel, x, out):
    call = _Call(("x", x))
    call.reject_nonfinite(("x",))
    xa = call.arrays["x"]
    k = _sh(xa)[-1]
    bshape = tuple(_sh(xa)[:-1])
    n = math.prod(bshape)
    rows = call.rows("x", bshape, k)
    d_out = cuda.device_array(n, dtype=call.dtype)
    kernel[n, _tpb(k)](rows, d_out)
    return call.result(d_out, bshape, out)


def logsumexp(x, out=None):
    """``log(sum(exp(x)))`` over the last axis (see ``nashmp.logsumexp``)."""
    return _reduce(_k_logsumexp, x, out)


def span(x, out=None):
    """``max(x) - min(x)`` over the last axis (see ``nashmp.span``)."""
    return _reduce(_k_span, x, out)


def _rowmap(x, out, softmax):
    call = _Call(("x", x))
    call.reject_nonfinite(("x",))
    xa = call.arrays["x"]
    k = _sh(xa)[-1]
    shape = tuple(xa.shape)
    n = math.prod(shape[:-1])
    rows = call.rows("x", shape[:-1], k)
    d_out = cuda.device_array((n, k), dtype=call.dtype)
    _k_rowmap[n, _tpb(k)](rows, d_out, 1 if softmax else 0)
    return call.result(d_out, shape, out)


def log_softmax(x, out=None):
    """``x - logsumexp(x)`` over the last axis."""
    return _rowmap(x, out, False)


def softmax(x, out=None):
    """``exp(log_softmax(x))`` over the last axis."""
    return _rowmap(x, out, True)


def kl(logp, logq, out=None):
    """``KL(p || q)`` from log-probabilities over the last axis."""
    call = _Call(("logp", logp), ("logq", logq))
    call.reject_nonfinite(("logp", "logq"))
    k = _sh(call.arrays["logp"])[-1]
    _check_k(call, ("logq",), k)
    bshape = _batch(call, ("logp", "logq"), k)
    n = math.prod(bshape)
    p = call.rows("logp", bshape, k)
    q = call.rows("logq", bshape, k)
    d_out = cuda.device_array(n, dtype=call.dtype)
    _k_kl[n, _tpb(k)](p, q, d_out)
    return call.result(d_out, bshape, out)


def preference_apply(P, pi, out=None):
    """``g = P pi`` for a shared ``(K, K)`` or per-game ``(..., K, K)`` matrix."""
    call = _Call(("P", P), ("pi", pi))
    call.reject_nonfinite(("P", "pi"))
    Pa, pa = call.arrays["P"], call.arrays["pi"]
    k = _sh(pa)[-1]
    if tuple(_sh(Pa)[-2:]) != (k, k):
        raise ValueError(f"P must have shape (..., {k}, {k}) to match pi of shape "
                         f"{tuple(pa.shape)}, got {tuple(Pa.shape)}")
    try:
        bshape = tuple(np.broadcast_shapes(tuple(_sh(Pa)[:-2]), tuple(_sh(pa)[:-1])))
    except ValueError:
        raise ValueError(f"batch dimensions of P {tuple(_sh(Pa)[:-2])} and pi "
                         f"{tuple(_sh(pa)[:-1])} do not broadcast") from None
    n = math.prod(bshape)
    shared = math.prod(_sh(Pa)[:-2]) == 1
    if call.device:
        if Pa.dtype != call.dtype or pa.dtype != call.dtype:
            raise TypeError("P and pi must have the same dtype on the device")
        if not shared and tuple(_sh(Pa)[:-2]) != bshape:
            raise ValueError("device P must be one matrix or one per game of the batch")
        dP = Pa.reshape(1 if shared else n, k, k)
    else:
        h = np.asarray(Pa, dtype=call.dtype)
        h = h.reshape(1, k, k) if shared else np.broadcast_to(h, bshape + (k, k)).reshape(n, k, k)
        dP = cuda.to_device(np.ascontiguousarray(h))
    x = call.rows("pi", bshape, k)
    d_out = cuda.device_array((n, k), dtype=call.dtype)
    tpb = 128 if not _simulator() else 8
    _k_pref[(n * k + tpb - 1) // tpb, tpb](dP, x, d_out)
    if not call.device:
        h = d_out.copy_to_host()
        if not np.isfinite(h).all():
            raise ValueError("P and pi must not contain NaN or inf")
    return call.result(d_out, bshape + (k,), out)


def mirror_step(log_pi, log_ref, g, a, b, c, out=None):
    """``normalize(a*log_pi + b*log_ref + c*g)`` (see ``nashmp.mirror_step``)."""
    from ._validation import as_scalar
    a, b, c = as_scalar(a, "a"), as_scalar(b, "b"), as_scalar(c, "c")
    if log_ref is None and b != 0.0:
        raise ValueError("log_ref may be None only when b == 0")
    call = _Call(("log_pi", log_pi), ("log_ref", log_ref), ("g", g))
    call.reject_nonfinite(("log_pi", "log_ref", "g"))
    k = _sh(call.arrays["log_pi"])[-1]
    _check_k(call, ("log_ref", "g"), k)
    names = ("log_pi", "log_ref", "g")
    bshape = _batch(call, names, k)
    n = math.prod(bshape)
    lp = call.rows("log_pi", bshape, k)
    gg = call.rows("g", bshape, k)
    lr = call.rows("log_ref", bshape, k) if log_ref is not None else cuda.to_device(
        np.zeros((1, k), call.dtype))
    d_out = cuda.device_array((n, k), dtype=call.dtype)
    _k_mirror[n, _tpb(k)](lp, lr, gg, a, b, c, d_out)
    _nonfinite_rows(call, d_out, "log_pi, log_ref and g",
                    ", a coefficient times -inf must not give +inf or NaN, and every row of"
                    " z = a*log_pi + b*log_ref + c*g needs an entry above -inf (a distribution)")
    return call.result(d_out, bshape + (k,), out)


def embedding_apply(E, R, pi, out=None):
    """Embedding preference operator ``g[..., y] = sum_j sigmoid(e_y^T R e_j) pi[..., j]``.

    Parameters
    ----------
    E : array, shape (K, d)
        Action embeddings.
    R : array, shape (d, d)
        Skew-symmetric for a preference game (``P + P^T = 1``); not checked here.
    pi : array, shape (..., K)
    out : array, shape (..., K), optional

    Notes
    -----
    ``U = E R`` is formed first (K x d), then each block streams tiles of ``E`` and of ``pi``
    through shared memory and accumulates ``sigmoid(u_y . e_j) pi_j`` in registers: memory stays
    O(K d), no K x K matrix is formed (the flash-attention pattern applied to ``g``).
    """
    call = _Call(("E", E), ("R", R), ("pi", pi))
    call.reject_nonfinite(("E", "R", "pi"))
    Ea, Ra, pa = call.arrays["E"], call.arrays["R"], call.arrays["pi"]
    if Ea.ndim != 2 or Ra.ndim != 2:
        raise ValueError(f"E must be (K, d) and R (d, d), got {tuple(Ea.shape)} and "
                         f"{tuple(Ra.shape)}")
    K, d = Ea.shape
    if tuple(Ra.shape) != (d, d):
        raise ValueError(f"R must have shape ({d}, {d}) to match E {tuple(Ea.shape)}")
    if _sh(pa)[-1] != K:
        raise ValueError(f"pi must have {K} actions on its last axis, got shape {tuple(pa.shape)}")
    bshape = tuple(_sh(pa)[:-1])
    n = math.prod(bshape)
    if call.device:
        if Ea.dtype != call.dtype or Ra.dtype != call.dtype:
            raise TypeError("E, R and pi must have the same dtype on the device")
        dE, dR = Ea, Ra
    else:
        dE = cuda.to_device(np.ascontiguousarray(Ea, dtype=call.dtype))
        dR = cuda.to_device(np.ascontiguousarray(Ra, dtype=call.dtype))
    x = call.rows("pi", bshape, K)
    if _sh(x)[0] != n:                   # (1, K) with n == 1
        x = x.reshape(n, K)
    U = cuda.device_array((K, d), dtype=np.float64)
    tpb = 128 if not _simulator() else 8
    _k_embed_u[(K * d + tpb - 1) // tpb, tpb](dE, dR, U)
    d_out = cuda.device_array((n, K), dtype=call.dtype)
    ty = _EMB_TY if not _simulator() else 8
    grid = ((K + ty - 1) // ty, (n + _EMB_NG - 1) // _EMB_NG)
    _k_embed[grid, ty](dE, U, x, d_out)
    return call.result(d_out, bshape + (K,), out)


def device_info() -> dict:
    """CUDA devices seen by numba-cuda (``[]`` without a driver / GPU) and the simulator flag."""
    info = {"simulator": _simulator(), "devices": []}
    try:
        if _simulator() or cuda.is_available():
            for dev in cuda.list_devices():
                info["devices"].append(getattr(dev, "name", b"?"))
    except Exception as exc:  # noqa: BLE001 - a broken driver should not break `nashmp info`
        info["error"] = str(exc)
    return info
