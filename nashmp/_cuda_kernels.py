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

Matrix-free operators (``nashmp.operators``)
    ``lowrank_*``, ``bradley_terry_*``, ``packed_*``, ``embedding_*``: ``*_apply`` (``g = P pi``)
    and ``*_mirror_step`` (``g`` into a float64 device buffer, then the mirror-step kernel in the
    same row pass writes ``exp`` of the result, the next query). ``operator_apply`` /
    ``operator_mirror_step`` are the entry points of the operator objects (``backend="cuda"``),
    whose data stays on the device between calls. Same algorithms as ``csrc/cuda/operators.cuh``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import config as _nb_config
from numba import cuda

__all__ = ["logsumexp", "log_softmax", "softmax", "kl", "span", "preference_apply",
           "mirror_step", "embedding_apply", "embedding_mirror_step", "lowrank_apply",
           "lowrank_mirror_step", "bradley_terry_apply", "bradley_terry_mirror_step",
           "packed_apply", "packed_mirror_step", "is_device_array", "to_device", "to_host",
           "device_info"]

_INF = math.inf
_MAXT = 256                       # shared-memory reduction arrays (max threads per block)
_EMB_TY, _EMB_TJ, _EMB_DC, _EMB_NG = 32, 16, 16, 4


def _simulator() -> bool:
    return bool(_nb_config.ENABLE_CUDASIM)


# Tiles of the Bradley-Terry and packed kernels: _OP_TY rows (threads) per block, _OP_TJ columns
# per shared tile, _OP_NG games per pass; _LR_CH rows per low-rank partial sum. The simulator
# gets small tiles so that small test shapes cross tile and chunk boundaries.
_OP_TYMAX = 128
_OP_TY, _OP_TJ, _OP_NG, _LR_CH = (8, 8, 2, 8) if _simulator() else (128, 32, 4, 4096)


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
def _k_mirror(lp, lr, g, a, b, c, out, po, want_po):
    """out = N(a lp + b lr + c g) per row (bad rows: NaN); want_po: also po = exp(out) (the
    policy an operator's prox step hands to the next query)."""
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
            if want_po:
                po[i, j] = math.nan
        return
    ls = math.log(s)
    for j in range(t, k, cuda.blockDim.x):
        z, bj = _z(a, lp, b, lr, c, g, i, j)
        v = (z - m) - ls
        out[i, j] = v
        if want_po:
            po[i, j] = math.exp(v)


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


# ---- matrix-free operators (nashmp.operators) ----------------------------------------------------
#
# Each writes g = P x for the rows of x (n, K) into g (n, K) (float64 for the prox step, the data
# type for apply), accumulating in float64; the prox step then runs _k_mirror on g (want_po=1).

@cuda.jit
def _k_lr_part(U, V, x, ch, part):
    """part[i, c] = (U^T x_i, V^T x_i, sum x_i) over the rows of chunk c (threads over the 2r+1
    columns: a row of U and V is read by consecutive threads)."""
    K, r = U.shape
    n = x.shape[0]
    c = cuda.blockIdx.x
    y0 = c * ch
    y1 = min(K, y0 + ch)
    for i in range(cuda.blockIdx.y, n, cuda.gridDim.y):
        for q in range(cuda.threadIdx.x, 2 * r + 1, cuda.blockDim.x):
            acc = 0.0
            for y in range(y0, y1):
                p = np.float64(x[i, y])
                if q < r:
                    acc += np.float64(U[y, q]) * p
                elif q < 2 * r:
                    acc += np.float64(V[y, q - r]) * p
                else:
                    acc += p
            part[i, c, q] = acc


@cuda.jit
def _k_lr_total(part, qt):
    """qt[i] = sum of the chunk partials of game i, in chunk order (no atomics: deterministic)."""
    n, nch, w = part.shape
    for i in range(cuda.blockIdx.x, n, cuda.gridDim.x):
        for q in range(cuda.threadIdx.x, w, cuda.blockDim.x):
            s = 0.0
            for c in range(nch):
                s += part[i, c, q]
            qt[i, q] = s


@cuda.jit
def _k_lr_rows(U, V, qt, g):
    """g[i, y] = S/2 + u_y . (V^T x_i) - v_y . (U^T x_i), one thread per row y."""
    K, r = U.shape
    n = g.shape[0]
    y = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if y >= K:
        return
    for i in range(cuda.blockIdx.y, n, cuda.gridDim.y):
        s = 0.0
        for q in range(r):
            s += np.float64(U[y, q]) * qt[i, r + q] - np.float64(V[y, q]) * qt[i, q]
        g[i, y] = 0.5 * qt[i, 2 * r] + s


@cuda.jit
def _k_bt(sc, x, g):
    """g[i, y] = sum_j sigma(s_y - s_j) x[i, j]: tiles of the scores and of x in shared memory,
    one thread per row y, _OP_NG games per pass, nothing of size K x K."""
    ss = cuda.shared.array(_OP_TJ, np.float64)
    ps = cuda.shared.array((_OP_NG, _OP_TJ), np.float64)
    acc = cuda.local.array(_OP_NG, np.float64)
    n, K = g.shape
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    y = cuda.blockIdx.x * nt + t
    sy = np.float64(sc[y]) if y < K else 0.0
    for g0 in range(cuda.blockIdx.y * _OP_NG, n, cuda.gridDim.y * _OP_NG):
        for q in range(_OP_NG):
            acc[q] = 0.0
        for j0 in range(0, K, _OP_TJ):
            nj = min(_OP_TJ, K - j0)
            for e in range(t, _OP_TJ, nt):
                ss[e] = np.float64(sc[j0 + e]) if e < nj else 0.0
            for e in range(t, _OP_NG * _OP_TJ, nt):
                q = e // _OP_TJ
                jj = e - q * _OP_TJ
                ps[q, jj] = np.float64(x[g0 + q, j0 + jj]) if (g0 + q < n and jj < nj) else 0.0
            cuda.syncthreads()
            if y < K:
                for jj in range(nj):
                    sg = _sigmoid(sy - ss[jj])
                    for q in range(_OP_NG):
                        acc[q] += sg * ps[q, jj]
            cuda.syncthreads()
        if y < K:
            for q in range(_OP_NG):
                if g0 + q < n:
                    g[g0 + q, y] = acc[q]


@cuda.jit(device=True)
def _pk_index(i, j, K):
    """Position of P[i, j] (i < j) in the packed strict upper triangle (row by row)."""
    return i * K - i * (i + 1) // 2 + (j - i - 1)


@cuda.jit
def _k_packed(Pu, x, g):
    """g[i, y] = pi_y/2 + sum_{j>y} P[y, j] x_j + sum_{j<y} (1 - P[j, y]) x_j from the packed
    upper triangle. One thread per row y, column tiles of _OP_TJ: P[y, j0:j0+TJ] (y < j, rows of
    the triangle) is staged in shared memory by consecutive threads reading consecutive values;
    P[j, y] (j < y) is read directly, consecutive y being consecutive values. Each value is read
    once for its row and once for its column: no atomics, deterministic sums."""
    pt = cuda.shared.array((_OP_TYMAX, _OP_TJ), np.float64)
    ps = cuda.shared.array((_OP_NG, _OP_TJ), np.float64)
    acc = cuda.local.array(_OP_NG, np.float64)
    n, K = g.shape
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    y0 = cuda.blockIdx.x * nt
    y = y0 + t
    for g0 in range(cuda.blockIdx.y * _OP_NG, n, cuda.gridDim.y * _OP_NG):
        for q in range(_OP_NG):
            acc[q] = 0.0
        for j0 in range(0, K, _OP_TJ):
            nj = min(_OP_TJ, K - j0)
            if j0 + nj - 1 > y0:                 # the tile holds some j > y: stage P[y, j]
                for e in range(t, nt * _OP_TJ, nt):
                    yy = e // _OP_TJ
                    jj = e - yy * _OP_TJ
                    yr = y0 + yy
                    j = j0 + jj
                    if j < K and yr < j:
                        pt[yy, jj] = np.float64(Pu[_pk_index(yr, j, K)])
            for e in range(t, _OP_NG * _OP_TJ, nt):
                q = e // _OP_TJ
                jj = e - q * _OP_TJ
                ps[q, jj] = np.float64(x[g0 + q, j0 + jj]) if (g0 + q < n and jj < nj) else 0.0
            cuda.syncthreads()
            if y < K:
                for jj in range(nj):
                    j = j0 + jj
                    if j > y:
                        p = pt[t, jj]
                    elif j == y:
                        p = 0.5
                    else:
                        p = 1.0 - np.float64(Pu[_pk_index(j, y, K)])
                    for q in range(_OP_NG):
                        acc[q] += p * ps[q, jj]
            cuda.syncthreads()
        if y < K:
            for q in range(_OP_NG):
                if g0 + q < n:
                    g[g0 + q, y] = acc[q]


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

    def rows(self, name, bshape, k, dtype=None):
        """(n_or_1, k) device rows of array ``name`` for the batch shape ``bshape`` (in ``dtype``,
        by default the call's)."""
        a = self.arrays[name]
        dt = self.dtype if dtype is None else np.dtype(dtype)
        nb = math.prod(bshape)
        sh = _sh(a)[:-1]
        if self.device:
            if a.dtype != dt:
                raise TypeError(f"device arrays must share one dtype ({name} is {a.dtype}, "
                                f"expected {dt})")
            if sh != bshape and math.prod(sh) != 1:
                raise ValueError(f"{name} of shape {a.shape}: device arrays must have the batch "
                                 f"shape {bshape} or a single row")
            return a.reshape(nb if sh == bshape else 1, k)
        h = np.asarray(a, dtype=dt)
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
    _launch_dense(dP, x, d_out)
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
    _k_mirror[n, _tpb(k)](lp, lr, gg, a, b, c, d_out, _dummy(), 0)
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
    return _op_apply("embedding", (("E", E), ("R", R)), pi, out)


def embedding_mirror_step(E, R, pi_g, log_pi, log_ref, a, b, c, out=None, pi_out=None):
    """Prox step ``normalize(a log_pi + b log_ref + c g(pi_g))`` of the embedding operator
    (``embedding_apply`` into a float64 device buffer, then the row epilogue); see
    :func:`lowrank_mirror_step` for the arguments."""
    return _op_step("embedding", (("E", E), ("R", R)), pi_g, log_pi, log_ref, a, b, c, out,
                    pi_out)


def lowrank_apply(U, V, pi, out=None):
    """Low-rank skew operator ``g = (1/2 + U V^T - V U^T) pi`` over the last axis.

    Parameters
    ----------
    U, V : array, shape (K, r)
    pi : array, shape (..., K)
    out : array, shape (..., K), optional

    Notes
    -----
    Three launches, ``O(K r)`` work per policy: chunk partials of ``(U^T pi, V^T pi, sum pi)``
    (threads over the ``2r + 1`` columns), their sum in chunk order (deterministic, no atomics),
    then ``g_y = sum(pi)/2 + u_y.(V^T pi) - v_y.(U^T pi)`` one thread per row. float64
    accumulation for both data types.
    """
    return _op_apply("lowrank", (("U", U), ("V", V)), pi, out)


def lowrank_mirror_step(U, V, pi_g, log_pi, log_ref, a, b, c, out=None, pi_out=None):
    """Prox step ``normalize(a log_pi + b log_ref + c g(pi_g))`` of the low-rank operator.

    Parameters
    ----------
    U, V : array, shape (K, r)
        Operator data (float32 or float64, one dtype).
    pi_g : array, shape (..., K)
        The policy queried. ``log_pi``, ``log_ref`` (may be None when ``b == 0``), shape (..., K).
    a, b, c : float
        Finite; a zero coefficient's term is not read.
    out, pi_out : array, shape (..., K), float64, optional
        ``out`` receives the step, ``pi_out`` its ``exp`` (the next query), in the same pass.

    Returns
    -------
    ``out`` (float64). Device inputs: ``pi_g``, ``log_pi``, ``log_ref`` must be float64 device
    arrays and rows that are not a distribution come back as NaN; host inputs raise ValueError.
    """
    return _op_step("lowrank", (("U", U), ("V", V)), pi_g, log_pi, log_ref, a, b, c, out,
                    pi_out)


def bradley_terry_apply(scores, pi, out=None):
    """Bradley-Terry operator ``g[..., y] = sum_j sigmoid(s_y - s_j) pi[..., j]``.

    Parameters
    ----------
    scores : array, shape (K,)
    pi : array, shape (..., K)
    out : array, shape (..., K), optional

    Notes
    -----
    Tiled: each block stages tiles of the scores and of ``pi`` (several games at once) in shared
    memory, one thread per row ``y`` accumulates in float64; ``O(K)`` memory.
    """
    return _op_apply("bradley_terry", (("scores", scores),), pi, out)


def bradley_terry_mirror_step(scores, pi_g, log_pi, log_ref, a, b, c, out=None, pi_out=None):
    """Prox step of the Bradley-Terry operator (see :func:`lowrank_mirror_step`)."""
    return _op_step("bradley_terry", (("scores", scores),), pi_g, log_pi, log_ref, a, b, c, out,
                    pi_out)


def packed_apply(packed, pi, out=None):
    """Packed half-matrix operator: ``packed`` holds the strict upper triangle of ``P`` row by row
    (``P[i, j]`` at ``i*K - i*(i+1)/2 + j - i - 1``), ``P[j, i] = 1 - P[i, j]``, ``P[i, i] = 1/2``.

    Parameters
    ----------
    packed : array, shape (K*(K-1)/2,)
        None when ``K == 1``.
    pi : array, shape (..., K)
    out : array, shape (..., K), optional
    """
    return _op_apply("packed", (("packed", packed),), pi, out)


def packed_mirror_step(packed, pi_g, log_pi, log_ref, a, b, c, out=None, pi_out=None):
    """Prox step of the packed operator (see :func:`lowrank_mirror_step`, :func:`packed_apply`)."""
    return _op_step("packed", (("packed", packed),), pi_g, log_pi, log_ref, a, b, c, out,
                    pi_out)


# ---- operator launches: device data, device rows x (n, K) -> g (n, K) ----------------------------

def _launch_lowrank(U, V, x, g):
    K, r = _sh(U)
    n = _sh(x)[0]
    ch = max(_LR_CH, -(-K // 256))                    # at most 256 partials per game
    nch = -(-K // ch)
    part = cuda.device_array((n, nch, 2 * r + 1), np.float64)
    qt = cuda.device_array((n, 2 * r + 1), np.float64)
    ny = min(n, 65535)
    tq = 8 if _simulator() else min(256, 32 * -(-(2 * r + 1) // 32))
    _k_lr_part[(nch, ny), tq](U, V, x, ch, part)
    _k_lr_total[ny, tq](part, qt)
    tr = 8 if _simulator() else 256
    _k_lr_rows[(-(-K // tr), ny), tr](U, V, qt, g)


def _op_grid(K, n):
    return (-(-K // _OP_TY), min(-(-n // _OP_NG), 65535))


def _launch_bt(sc, x, g):
    _k_bt[_op_grid(_sh(g)[1], _sh(g)[0]), _OP_TY](sc, x, g)


def _launch_packed(Pu, x, g):
    _k_packed[_op_grid(_sh(g)[1], _sh(g)[0]), _OP_TY](Pu, x, g)


def _launch_embed(E, R, x, g):
    K, d = _sh(E)
    n = _sh(g)[0]
    U = cuda.device_array((K, d), dtype=np.float64)
    tpb = 128 if not _simulator() else 8
    _k_embed_u[(K * d + tpb - 1) // tpb, tpb](E, R, U)
    ty = _EMB_TY if not _simulator() else 8
    _k_embed[((K + ty - 1) // ty, (n + _EMB_NG - 1) // _EMB_NG), ty](E, U, x, g)


def _launch_dense(P, x, g):
    n, k = _sh(g)
    tpb = 128 if not _simulator() else 8
    _k_pref[(n * k + tpb - 1) // tpb, tpb](P, x, g)


_LAUNCH = {"lowrank": _launch_lowrank, "bradley_terry": _launch_bt, "packed": _launch_packed,
           "embedding": _launch_embed, "dense": _launch_dense}


def _dummy(dtype=np.float64):
    """A (1, 1) device array for an argument a kernel does not read."""
    return cuda.device_array((1, 1), dtype)


def _op_check(kind, arrs, K):
    """Shapes of an operator's data against K (the policies' last axis); returns K."""
    if kind == "lowrank":
        U, V = arrs
        if U.ndim != 2 or tuple(V.shape) != tuple(U.shape):
            raise ValueError(f"U and V must have the same shape (K, r), got {tuple(U.shape)} and "
                             f"{tuple(V.shape)}")
        want = _sh(U)[0]
    elif kind == "bradley_terry":
        if arrs[0].ndim != 1:
            raise ValueError(f"scores must have shape (K,), got {tuple(arrs[0].shape)}")
        want = _sh(arrs[0])[0]
    elif kind == "packed":
        Pu = arrs[0]
        if Pu is None:
            if K != 1:
                raise ValueError("packed may be None only for K = 1")
            return K
        if Pu.ndim != 1 or _sh(Pu)[0] != K * (K - 1) // 2:
            raise ValueError(f"packed must have shape (K*(K-1)/2,) = ({K * (K - 1) // 2},) for "
                             f"K = {K}, got {tuple(Pu.shape)}")
        want = K
    else:                                             # embedding
        E, R = arrs
        if E.ndim != 2 or R.ndim != 2:
            raise ValueError(f"E must be (K, d) and R (d, d), got {tuple(E.shape)} and "
                             f"{tuple(R.shape)}")
        d = _sh(E)[1]
        if _sh(R) != (d, d):
            raise ValueError(f"R must have shape ({d}, {d}) to match E {tuple(E.shape)}")
        want = _sh(E)[0]
    if want != K:
        raise ValueError(f"the policies must have {want} actions on their last axis, got {K}")
    return K


def _op_data(call, names, kind, K):
    """The operator's arrays on the device, in one dtype (device arrays: checked, in place)."""
    arrs = [call.arrays[nm] for nm in names]
    _op_check(kind, arrs, K)
    if kind == "packed" and arrs[0] is None:
        return (_dummy(call.dtype).reshape(1),), call.dtype
    if call.device:
        dt = arrs[0].dtype
        if any(a.dtype != dt for a in arrs):
            raise TypeError(f"{' and '.join(names)} must have the same dtype on the device")
        return tuple(arrs), np.dtype(dt)
    dt = np.dtype(np.float32) if all(a.dtype == np.float32 for a in arrs) else np.dtype(
        np.float64)
    return tuple(cuda.to_device(np.ascontiguousarray(a, dtype=dt)) for a in arrs), dt


def _op_apply(kind, named, pi, out):
    call = _Call(*named, ("pi", pi))
    names = tuple(nm for nm, _ in named)
    call.reject_nonfinite(names + ("pi",))
    pa = call.arrays["pi"]
    K = _sh(pa)[-1]
    data, ddt = _op_data(call, names, kind, K)
    if call.device and ddt != call.dtype:
        raise TypeError(f"{', '.join(names)} and pi must have the same dtype on the device")
    bshape = tuple(_sh(pa)[:-1])
    n = math.prod(bshape)
    x = call.rows("pi", bshape, K).reshape(n, K)
    d_out = cuda.device_array((n, K), dtype=call.dtype)
    _LAUNCH[kind](*data, x, d_out)
    if not call.device and not np.isfinite(d_out.copy_to_host()).all():
        raise ValueError(f"{', '.join(names)} and pi must not contain NaN or inf")
    return call.result(d_out, bshape + (K,), out)


def _op_step(kind, named, pi_g, log_pi, log_ref, a, b, c, out, pi_out):
    from ._validation import as_scalar
    a, b, c = as_scalar(a, "a"), as_scalar(b, "b"), as_scalar(c, "c")
    if log_ref is None and b != 0.0:
        raise ValueError("log_ref may be None only when b == 0")
    if log_pi is None and a != 0.0:
        raise ValueError("log_pi may be None only when a == 0")
    vec = ("pi_g", "log_pi", "log_ref")
    call = _Call(*named, ("pi_g", pi_g), ("log_pi", log_pi), ("log_ref", log_ref))
    names = tuple(nm for nm, _ in named)
    call.reject_nonfinite(names + vec)
    K = _sh(call.arrays["pi_g"])[-1]
    _check_k(call, vec, K)
    data, _ = _op_data(call, names, kind, K)
    bshape = _batch(call, vec, K)
    n = math.prod(bshape)
    f64 = np.float64
    x = call.rows("pi_g", bshape, K, f64)
    g = cuda.device_array((_sh(x)[0], K), f64)
    _LAUNCH[kind](*data, x, g)
    lp = call.rows("log_pi", bshape, K, f64) if a != 0.0 else _dummy()
    lr = call.rows("log_ref", bshape, K, f64) if b != 0.0 else _dummy()
    d_out = cuda.device_array((n, K), f64)
    d_po = cuda.device_array((n, K), f64) if pi_out is not None else _dummy()
    _k_mirror[n, _tpb(K)](lp, lr, g, a, b, c, d_out, d_po, 1 if pi_out is not None else 0)
    _nonfinite_rows(call, d_out, f"{', '.join(names)}, pi_g, log_pi and log_ref",
                    ", a coefficient times -inf must not give +inf or NaN, and every row of z "
                    "needs an entry above -inf (a distribution)")
    if pi_out is not None:
        call.result(d_po, bshape + (K,), pi_out)
    return call.result(d_out, bshape + (K,), out)


# ---- operator objects (nashmp.operators, backend="cuda"): device data cached by the operator ---

def operator_data(arrays):
    """Device copies of an operator's arrays (C-contiguous host arrays), made once per operator."""
    return tuple(cuda.to_device(np.ascontiguousarray(a)) for a in arrays)


def operator_apply(kind, data, pi2d):
    """``g = P pi`` on the device for host rows ``pi2d`` (B, K); returns float64 (B, K) host."""
    x = cuda.to_device(np.ascontiguousarray(pi2d))
    g = cuda.device_array(pi2d.shape, np.float64)
    _LAUNCH[kind](*data, x, g)
    return g.copy_to_host()


def operator_mirror_step(kind, data, pg, lp, lr, a, b, c, w, pw):
    """One fused prox step on the device for host float64 rows (``PreferenceOperator._fused``):
    fills ``w`` (B, K) and ``pw`` (B, K, or None). Returns 0, or -5 (NASHMP_ERR_NONFINITE) when a
    row is not a distribution or has NaN / +inf (``w`` is then left unspecified)."""
    B, K = pg.shape
    x = cuda.to_device(pg)
    g = cuda.device_array((B, K), np.float64)
    _LAUNCH[kind](*data, x, g)
    d_out = cuda.device_array((B, K), np.float64)
    d_po = cuda.device_array((B, K), np.float64) if pw is not None else _dummy()
    _k_mirror[B, _tpb(K)](cuda.to_device(lp) if lp is not None else _dummy(),
                          cuda.to_device(lr) if lr is not None else _dummy(), g, a, b, c,
                          d_out, d_po, 1 if pw is not None else 0)
    h = d_out.copy_to_host()
    if np.isnan(h).any():
        return -5
    w[...] = h
    if pw is not None:
        pw[...] = d_po.copy_to_host()
    return 0


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
