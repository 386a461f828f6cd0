"""numba-cuda dense solver: the whole iteration loop of every exact method in one kernel launch,
one thread block per game (same contract as ``_numba_solvers.run`` / ``exploitability`` and
``nashmp_solve_dense_f64``; update order of ``csrc/src/solvers.c``).

Each block keeps its game's policy rows in global memory (``pi``, ``g``, ``h``, ``w`` scratch of
shape ``(B, K)``), does the products ``g = P pi`` with its threads striding over the rows of
``P`` and the normalizations with the shared-memory ``(max, sum)`` reduction of
``_cuda_kernels``; a game stops on its own (its exploitability check every ``check_every``
iterations), so finished games cost nothing while others iterate. Arrays may be host NumPy arrays
(copied in and out, for ``nashmp.solve(..., backend="cuda")``) or device arrays (used in place).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ._cuda_kernels import (_MAXT, _as_cuda, _ms_push, _red_max, _red_ms, _red_sum,
                            _simulator, is_device_array)

_INF = math.inf


def _tpb(k: int) -> int:
    if _simulator():
        return 4 if k <= 16 else 8
    return 32 if k <= 64 else (128 if k <= 2048 else 256)


@cuda.jit(device=True)
def _coef(method, beta, eta, t):
    """(a, b, c, s) of an update at iteration t (``nashmp._methods.coefficients``)."""
    if method == 0 or method == 3:
        a = 1.0 / (1.0 + eta * beta)
        return a, 1.0 - a, eta * a, 0.0
    if method == 1:
        e = 2.0 / (beta * (t + 2.0))
        s = e * beta
        return 1.0 - s, s, e, s
    if method == 6:
        return 1.0, 0.0, eta, 0.0
    return 1.0 - eta * beta, eta * beta, eta, 0.0


@cuda.jit(device=True)
def _bad_row(x, i, k, sm):
    """1.0 (every thread) when row i of x holds NaN or +inf."""
    bad = 0.0
    for j in range(cuda.threadIdx.x, k, cuda.blockDim.x):
        if not (x[i, j] < _INF):
            bad = 1.0
    return _red_max(bad, sm)


@cuda.jit(device=True)
def _exp_row(src, i, k, dst):
    for j in range(cuda.threadIdx.x, k, cuda.blockDim.x):
        dst[i, j] = math.exp(src[i, j])
    cuda.syncthreads()


@cuda.jit(device=True)
def _matvec(P, gi, pi, i, k, g):
    """g[i] = P[gi] pi[i] (rows strided over the threads)."""
    for y in range(cuda.threadIdx.x, k, cuda.blockDim.x):
        s = 0.0
        for j in range(k):
            s += np.float64(P[gi, y, j]) * pi[i, j]
        g[i, y] = s
    cuda.syncthreads()


@cuda.jit(device=True)
def _norm(a, l, b, lr, c, v, i, k, out, e, sm, ss):
    """out[i] = N(a l + b lr + c v) (zero coefficients: not read), e[i] = exp(out[i]);
    returns True (every thread) when z has NaN / +inf or is all -inf."""
    m = -_INF
    s = 0.0
    bad = False
    for j in range(cuda.threadIdx.x, k, cuda.blockDim.x):
        z = 0.0
        if a != 0.0:
            bad |= not (l[i, j] < _INF)
            z = a * l[i, j]
        if b != 0.0:
            bad |= not (lr[i, j] < _INF)
            z += b * lr[i, j]
        if c != 0.0:
            bad |= not (v[i, j] < _INF)
            z += c * v[i, j]
        out[i, j] = z
        m, s = _ms_push(m, s, z)
    if bad:
        m = math.nan
        s = math.nan
    m, s = _red_ms(m, s, sm, ss)
    if m != m or m == -_INF:
        return True
    lse = m + math.log(s)
    for j in range(cuda.threadIdx.x, k, cuda.blockDim.x):
        t = out[i, j] - lse
        out[i, j] = t
        e[i, j] = math.exp(t)
    cuda.syncthreads()
    return False


@cuda.jit(device=True)
def _expl_row(l, pi, g, lr, i, beta, k, sm, ss):
    """beta logsumexp(lr + g/beta) + beta KL(pi || ref) - 1/2 (beta == 0: max g - 1/2)."""
    if beta == 0.0:
        mx = -_INF
        for j in range(cuda.threadIdx.x, k, cuda.blockDim.x):
            if g[i, j] > mx:
                mx = g[i, j]
        return _red_max(mx, sm) - 0.5
    m = -_INF
    s = 0.0
    klv = 0.0
    for j in range(cuda.threadIdx.x, k, cuda.blockDim.x):
        m, s = _ms_push(m, s, lr[i, j] + g[i, j] / beta)
        if l[i, j] == -_INF:
            pass
        elif lr[i, j] == -_INF:
            klv += _INF
        else:
            klv += pi[i, j] * (l[i, j] - lr[i, j])
    m, s = _red_ms(m, s, sm, ss)
    klv = _red_sum(klv, sm)
    return beta * (m + math.log(s)) + beta * klv - 0.5


@cuda.jit
def _k_solve(P, lr, beta, eta, method, max_iter, check_every, tol, l, st, it, nq, ex, active,
             pi, g, h, w, flags):
    sm = cuda.shared.array(_MAXT, np.float64)
    ss = cuda.shared.array(_MAXT, np.float64)
    i = cuda.blockIdx.x
    t0 = cuda.threadIdx.x
    nt = cuda.blockDim.x
    K = l.shape[1]
    if active[i] == 0:
        return
    gi = 0 if P.shape[0] == 1 else i
    two = method == 0 or method == 5
    bi = beta[i]
    ei = eta[i]
    iters = it[i]                   # local copies: every thread reads before thread 0 writes
    queries = nq[i]
    bad = _bad_row(l, i, K, sm) + _bad_row(lr, i, K, sm)
    if method == 4 or method == 6:
        bad += _bad_row(st, i, K, sm)
    if bad != 0.0:
        if t0 == 0:
            flags[0] = 1
        return
    for step in range(max_iter):
        a, b, c, s = _coef(method, bi, ei, iters)
        if method == 1:             # nash_md: query mu = N((1-s) l + s l_ref)
            bad2 = _norm(a, l, b, lr, 0.0, l, i, K, h, pi, sm, ss)
            if not bad2:
                _matvec(P, gi, pi, i, K, g)
                bad2 = _norm(a, l, b, lr, c, g, i, K, l, pi, sm, ss)
        else:
            _exp_row(l, i, K, pi)
            _matvec(P, gi, pi, i, K, g)
            if two:
                bad2 = _norm(a, l, b, lr, c, g, i, K, h, pi, sm, ss)
                if not bad2:
                    _matvec(P, gi, pi, i, K, g)
                    bad2 = _norm(a, l, b, lr, c, g, i, K, l, pi, sm, ss)
            elif method == 4:       # omwu: 2 g_t - g_{t-1}
                for j in range(t0, K, nt):
                    w[i, j] = 2.0 * g[i, j] - st[i, j]
                    st[i, j] = g[i, j]
                cuda.syncthreads()
                bad2 = _norm(a, l, b, lr, c, w, i, K, l, pi, sm, ss)
            else:
                bad2 = _norm(a, l, b, lr, c, g, i, K, l, pi, sm, ss)
        if bad2:
            if t0 == 0:
                flags[0] = 1
                it[i] = iters
                nq[i] = queries
            return
        if method == 6:             # sppo: running log-sum of the iterates
            for j in range(t0, K, nt):
                x = st[i, j]
                y = l[i, j]
                mx = max(x, y)
                if mx > -_INF:
                    st[i, j] = mx + math.log1p(math.exp(min(x, y) - mx))
            cuda.syncthreads()
        iters += 1
        queries += 2 if two else 1
        if iters % check_every == 0 or step == max_iter - 1:
            if method == 6:         # reported iterate: the average policy (in h)
                bad2 = _norm(1.0, st, 0.0, lr, 0.0, st, i, K, h, pi, sm, ss)
                if bad2:
                    if t0 == 0:
                        flags[0] = 1
                        it[i] = iters
                        nq[i] = queries
                    return
                e = 0.0
                _matvec(P, gi, pi, i, K, g)
                e = _expl_row(h, pi, g, lr, i, bi, K, sm, ss)
            else:
                _exp_row(l, i, K, pi)
                _matvec(P, gi, pi, i, K, g)
                e = _expl_row(l, pi, g, lr, i, bi, K, sm, ss)
            if t0 == 0:
                ex[i] = e
            if tol >= 0.0 and e <= tol:
                if t0 == 0:
                    active[i] = 0
                break
    if t0 == 0:
        it[i] = iters
        nq[i] = queries


@cuda.jit
def _k_expl(P, l, lr, beta, out, pi, g):
    sm = cuda.shared.array(_MAXT, np.float64)
    ss = cuda.shared.array(_MAXT, np.float64)
    i = cuda.blockIdx.x
    K = l.shape[1]
    gi = 0 if P.shape[0] == 1 else i
    _exp_row(l, i, K, pi)
    _matvec(P, gi, pi, i, K, g)
    e = _expl_row(l, pi, g, lr, i, beta[i], K, sm, ss)
    if cuda.threadIdx.x == 0:
        out[i] = e


def _dev(a, dtype=None):
    if is_device_array(a):
        return _as_cuda(a), False
    return cuda.to_device(np.ascontiguousarray(a if dtype is None else a.astype(dtype))), True


def device_inputs(P, log_ref, beta, eta):
    """The solver's read-only inputs on the device, once per solve (``nashmp.solvers._Runner``)."""
    return (_dev(P)[0], _dev(log_ref, np.float64)[0], _dev(beta, np.float64)[0],
            _dev(eta, np.float64)[0])


def _full_rows(d, B):
    """(B, K) view requirement: log_ref etc. must have B rows (the solver layer passes them so)."""
    if d.shape[0] != B:
        raise ValueError(f"expected {B} rows, got shape {d.shape}")
    return d


def run(P, log_ref, beta, eta, method, max_iter, check_every, tol, log_pi, state, it, nq, expl,
        active):
    """Same arguments and in-place updates as ``nashmp._numba_solvers.run``.

    ``P`` is ``(1, K, K)`` (shared) or ``(B, K, K)``; ``log_ref``, ``log_pi`` and ``state`` are
    ``(B, K)`` float64 (``state`` may be a dummy for methods without state); ``beta``, ``eta`` are
    ``(B,)`` float64; ``it``, ``nq`` int64, ``expl`` float64, ``active`` uint8, all ``(B,)``.
    Host arrays are copied to the device and the updated ones copied back. Raises ValueError
    when a non-finite value stopped a game (like the C solver's NASHMP_ERR_NONFINITE).
    """
    B, K = tuple(log_pi.shape)
    if B == 0 or max_iter == 0:
        return
    dP, _ = _dev(P)
    dlr, _ = _dev(log_ref, np.float64)
    dbeta, _ = _dev(beta, np.float64)
    deta, _ = _dev(eta, np.float64)
    outs = []
    dl, hl = _dev(log_pi)
    outs.append((log_pi, dl, hl))
    if state is not None and tuple(state.shape) == (B, K):
        dst, hs = _dev(state)
        outs.append((state, dst, hs))
    else:
        dst = cuda.device_array((1, 1), np.float64)
    dit, hi = _dev(it)
    dnq, hq = _dev(nq)
    dex, he = _dev(expl)
    dact, ha = _dev(active)
    outs += [(it, dit, hi), (nq, dnq, hq), (expl, dex, he), (active, dact, ha)]
    scratch = [cuda.device_array((B, K), np.float64) for _ in range(4)]
    flags = cuda.to_device(np.zeros(1, np.int32))
    _k_solve[B, _tpb(K)](dP, _full_rows(dlr, B), dbeta, deta, int(method), int(max_iter),
                         int(check_every), float(tol), dl, dst, dit, dnq, dex, dact, *scratch,
                         flags)
    for host, dev, copied in outs:
        if copied:
            host[...] = dev.copy_to_host().reshape(host.shape)
    if flags.copy_to_host()[0]:
        raise ValueError("P, ref and init must not contain NaN or inf")


def exploitability(P, log_pi, log_ref, beta, out):
    """Same contract as ``nashmp._numba_solvers.exploitability`` (``out`` filled in place)."""
    B, K = tuple(log_pi.shape)
    if B == 0:
        return
    dP, _ = _dev(P)
    dl, _ = _dev(log_pi, np.float64)
    dlr, _ = _dev(log_ref, np.float64)
    db, _ = _dev(beta, np.float64)
    dout, copied = _dev(out)
    pi = cuda.device_array((B, K), np.float64)
    g = cuda.device_array((B, K), np.float64)
    _k_expl[B, _tpb(K)](dP, dl, _full_rows(dlr, B), db, dout, pi, g)
    if copied:
        out[...] = dout.copy_to_host()
