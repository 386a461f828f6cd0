"""Exact solvers of the beta-regularized preference game on dense preference matrices."""
from __future__ import annotations

import time
import warnings

import numpy as np

from . import _backend
from ._games import (as_beta, batch_of, check_preference, exploitability_resolution,
                     log_policy, warn_resolution)
from ._methods import DEFAULT_ETA, METHOD_ID, METHODS, QUERIES_PER_ITER
from .operators import PackedDense, PreferenceOperator, broadcast_games, is_operator

__all__ = ["solve", "SolveResult"]

_STATUS_MESSAGES = {
    0: "converged: exploitability <= tol in every game",
    1: "maximum number of iterations reached",
    2: "stopped by the callback (StopIteration)",
}


class SolveResult(dict):
    """Result of :func:`solve` (a dict with attribute access, like scipy's OptimizeResult).

    Attributes
    ----------
    log_policy : ndarray, shape (..., K)
        Last iterate (SPPO: the average iterate) in log space; ``x``/``policy`` is its exp.
    success : bool
        Every game reached ``exploitability <= tol``.
    converged : ndarray of bool, shape (...)
        Per game.
    status : int
        0 converged, 1 iteration limit, 2 stopped by the callback.
    message : str
    nit, n_queries : ndarray of int, shape (...)
        Iterations and preference queries spent per game (metric evaluations are not counted).
    exploitability : ndarray, shape (...)
    backend, method : str
    eta, beta : ndarray, shape (...)
    history : dict of ndarray or None
        Per check: ``n_queries`` and ``exploitability`` (n_checks, ...), ``time`` (n_checks,), and
        ``kl_star`` / ``kl_star_rev`` / ``span_star`` when ``pi_star`` was given.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__

    @property
    def policy(self):
        return np.exp(self["log_policy"])

    @property
    def x(self):
        return self.policy

    def __repr__(self):
        keys = ("method", "backend", "success", "status", "message", "nit", "n_queries",
                "exploitability")
        body = "\n".join(f"{k:>15}: {self.get(k)!r}" for k in keys)
        return f"SolveResult(\n{body}\n)"


# iteration limits: queries per game (up to 4 per iteration, and prox_point's inner solves)
# stay far inside int64, and the native loops take them as int64
MAX_ITER = 2 ** 53


def _real(v, name):
    """A real number (Python or NumPy, not bool), NaN excluded, as a float."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if np.isnan(v):
        raise ValueError(f"{name} must be a number, got nan")
    return v


def _eta_array(method, eta, beta):
    if eta is None:
        return np.vectorize(DEFAULT_ETA[method], otypes=[float])(beta)
    e = np.asarray(eta)
    if e.dtype.kind not in "iuf":
        raise TypeError(f"eta must be a real scalar or array, got dtype {e.dtype}")
    try:
        e = np.broadcast_to(e.astype(np.float64), beta.shape)
    except ValueError:
        raise ValueError(f"eta of shape {e.shape} does not broadcast to the batch "
                         f"{beta.shape}") from None
    if not np.isfinite(e).all() or (e <= 0).any():
        raise ValueError(f"eta must be finite and > 0, got {eta!r}")
    if method in ("omd", "omwu") and (e * beta > 1).any():
        raise ValueError(f"method={method!r} needs eta * beta <= 1")
    if method == "extragradient" and (e * beta >= 1).any():
        raise ValueError("method='extragradient' needs eta * beta < 1")
    if method == "nash_mp" and (e > 2).any():
        warnings.warn("Nash-MP's contraction guarantee covers eta <= 2 only", RuntimeWarning,
                      stacklevel=3)
    return e.astype(np.float64)


def _reads_upper(backend, k):
    """Whether the loop of ``backend`` reads an exact P (P + P^T = 1 to rounding) through its
    upper triangle: C (which keeps small K on the dense kernel itself), and Numba from
    ``UPPER_MIN_K``."""
    if backend == "c":
        return True
    if backend == "numba":
        from ._numba_solvers import UPPER_MIN_K
        return k >= UPPER_MIN_K
    return False


class _Runner:
    """Runs iterations of one method on a backend, state kept in C-contiguous arrays."""

    def __init__(self, backend, P, lr, beta, eta, method_id, B, K, store="dense"):
        self.backend, self.method_id, self.store = backend, method_id, store
        if store not in ("dense", "upper") and backend != "c" or \
                store == "upper" and backend not in ("c", "numba"):
            raise ValueError(f"{store} storage runs on the C backend only")
        self.P = P if backend != "numpy" else P.astype(np.float64)
        self.lr, self.beta, self.eta = lr, beta, eta
        self.B, self.K = B, K
        self.ldP = 0 if P.shape[0] == 1 else P[0].size
        self._rows = None                 # numba row-parallel scratch (_run_rows)
        self._aligned = None              # numba: the aligned copy of P (_numba_P)
        self._ws = None                   # c: the libnashmp workspace (_c_workspace)
        if backend == "cuda":           # read-only inputs stay on the device for the whole solve
            from ._cuda_solvers import device_inputs
            self.P, self.lr, self.beta, self.eta = device_inputs(P, lr, beta, eta)

    def run(self, n, check_every, tol, l, state, it, nq, ex, active):
        if self.backend == "c":
            ffi, lib = _backend.c_lib()
            d = ffi.cast("double *", 0)
            dp = lambda a: ffi.cast("double *", a.ctypes.data)  # noqa: E731
            i64 = lambda a: ffi.cast("int64_t *", a.ctypes.data)  # noqa: E731
            f32 = self.P.dtype == np.float32
            fn = getattr(lib, f"nashmp_solve_{self.store}_"
                              f"{'f32' if f32 else 'f64'}_ws")
            Pp = ffi.cast("float *" if f32 else "double *", self.P.ctypes.data)
            st = fn(Pp, self.ldP, dp(self.lr), self.K, dp(self.beta), dp(self.eta), self.B,
                    self.K, self.method_id, n, check_every, tol, dp(l), self.K,
                    dp(state) if state is not None else d, self.K, i64(it), i64(nq), dp(ex),
                    ffi.cast("uint8_t *", active.ctypes.data), self._c_workspace(ffi, lib))
            if st != 0:
                msg = ffi.string(lib.nashmp_status_string(st)).decode()
                if st == -5:
                    raise ValueError("P, ref and init must not contain NaN or inf")
                raise RuntimeError(f"libnashmp solver returned {msg}")
            return
        if self.backend == "numba":
            from ._numba_solvers import ROW_MIN_K, run
            import numba
            if self.K >= ROW_MIN_K and (self.B < numba.get_num_threads() or self._panel_order()):
                self._run_rows(n, check_every, tol, l, state, it, nq, ex, active)
                return
        elif self.backend == "cuda":
            from ._cuda_solvers import run
        else:
            from ._numpy_solvers import run
        st = state if state is not None else np.zeros((1, 1))
        extra = (self.store == "upper",) if self.backend == "numba" else ()
        P = self._numba_P(n) if self.backend == "numba" else self.P
        run(P, self.lr, self.beta, self.eta, self.method_id, n, check_every, tol,
            l, st, it, nq, ex, active, *extra)

    def _c_workspace(self, ffi, lib):
        """The C loop's workspace for this solve (freed with the runner): it keeps the
        panel-order copy of a large triangle from the first call that makes it to the end of
        the solve, so that a solve split into calls (checks, callbacks, progress) copies once,
        as the Numba loop does."""
        if self._ws is None:
            p = ffi.new("nashmp_workspace **")
            if lib.nashmp_workspace_create(p) != 0:
                raise MemoryError("libnashmp could not allocate a solver workspace")
            self._ws = ffi.gc(p[0], lib.nashmp_workspace_destroy)
        return self._ws

    def _numba_P(self, n):
        """The P of the Numba loop: for a shared exact P (read through its triangle) of at most
        1 MiB and calls of 4 iterations or more, a copy whose rows start on 64-byte boundaries
        (row length padded to a multiple of 8 elements), made once per solve: no vector load
        then splits a cache line (K = 100: 681 -> 559 ns per product). Same arithmetic, same
        bits."""
        if self._aligned is None and self.store == "upper" and self.P.shape[0] == 1 and n >= 4:
            K, kp, size = self.K, -(-self.K // 8) * 8, self.P.dtype.itemsize
            nbytes = K * kp * size
            if nbytes <= 1 << 20:
                raw = np.empty(nbytes + 64, np.uint8)
                off = -raw.ctypes.data % 64
                a = raw[off:off + nbytes].view(self.P.dtype).reshape(1, K, kp)
                a[0, :, :K] = self.P[0]
                a[0, :, K:] = 0
                self._aligned = a
        return self.P if self._aligned is None else self._aligned

    def _panel_order(self):
        """Whether the Numba loop's products run the panel-order arithmetic: a shared exact P
        whose triangle has PANEL_MIN_BYTES or more (then always, copy or not: the bits depend on
        K only)."""
        from ._numba_solvers import PANEL_MIN_BYTES
        K = self.K
        return (self.store == "upper" and self.P.shape[0] == 1 and
                K * (K - 1) // 2 * self.P.dtype.itemsize >= PANEL_MIN_BYTES)

    def _run_rows(self, n, check_every, tol, l, state, it, nq, ex, active):
        """Numba, fewer games than threads or a triangle in panel order: one game after another,
        row-parallel products."""
        from . import _numba_solvers as S
        K = self.K
        if self._rows is None:
            self._rows = [np.empty((S.ROW_CHUNKS - 1, K)), S.row_chunks(K),
                          (np.empty(0, self.P.dtype), np.empty(0, np.int64), np.empty(0))]
        buf, bd, pan = self._rows
        if (not pan[0].size and self._panel_order() and n >= S.PANEL_MIN_ITERS and
                K * (K - 1) // 2 * self.P.dtype.itemsize <= S.PANEL_MAX_BYTES):
            wofs = S.panel_offsets(K, bd)
            try:
                W = np.empty(int(wofs[-1]), self.P.dtype)
            except MemoryError:          # no room for the copy: the products read P
                W = None
            if W is not None:
                S.panel_copy(self.P[0], W, wofs, bd)
                pan = self._rows[2] = (W, wofs, np.empty(K // 8 * 64 + 64))
        st = state if state is not None else np.zeros((1, 1))
        S.run_rows(self.P, self.lr, self.beta, self.eta, self.method_id, n, check_every, tol,
                   l, st, it, nq, ex, active, self.store == "upper", buf, bd, pan)

    def exploitability(self, l):
        out = np.empty(self.B)
        if self.backend == "c":
            ffi, lib = _backend.c_lib()
            f32 = self.P.dtype == np.float32
            fn = getattr(lib, f"nashmp_exploitability_{self.store}_"
                              f"{'f32' if f32 else 'f64'}")
            dp = lambda a: ffi.cast("double *", a.ctypes.data)  # noqa: E731
            Pp = ffi.cast("float *" if f32 else "double *", self.P.ctypes.data)
            st = fn(Pp, self.ldP, dp(l), self.K, dp(self.lr), self.K, dp(self.beta), self.B,
                    self.K, dp(out))
            if st != 0:
                raise RuntimeError(f"libnashmp exploitability returned status {st}")
        elif self.backend == "numba":
            from ._numba_solvers import exploitability
            exploitability(self.P, l, self.lr, self.beta, out, self.store == "upper")
        elif self.backend == "cuda":
            from ._cuda_solvers import exploitability
            exploitability(self.P, l, self.lr, self.beta, out)
        else:
            from ._numpy_solvers import exploitability
            out[:] = exploitability(self.P, l, self.lr, self.beta)
        return out


def solve(P, beta, *, ref=None, method="nash_mp", eta=None, init=None, max_iter=10_000,
          tol=1e-8, check_every=10, backend="auto", callback=None, history=False,
          progress=False, pi_star=None, antisymmetrize=False, inner_tol=None):
    """Solve the beta-regularized preference game(s) ``P`` by an iterative method.

    Parameters
    ----------
    P : array_like, shape (K, K) or (..., K, K)
        ``P[y, y'] = P(y beats y')`` in [0, 1] with ``P + P^T = 1`` (checked; see
        ``antisymmetrize``). float32 ``P`` is kept in float32 (half the bytes per query) while
        the iterates stay in float64; the returned ``log_policy`` has the dtype of ``P``.
        Or a matrix-free :class:`nashmp.operators.PreferenceOperator` (low-rank, embedding,
        Bradley-Terry, packed, pair function...): the loop then runs in Python with one fused
        native prox step per half-step, same updates and query counts. A
        :class:`~nashmp.operators.PackedDense` (``P`` stored as its upper triangle: half the
        bytes per query) runs in the native loop of a dense ``P`` on the C backend.
        On the C backend a dense ``P`` with ``P + P^T = 1`` to 4 ulps is read through its upper
        triangle too (``nashmp_solve_upper_*``: K >= 64 float64, >= 16 float32; not for one
        ``P`` shared by several games), which changes the result in the last bits only; the
        Numba loop reads such a ``P`` through its triangle as well (K >= 40). A triangle of
        more than 16 MiB (K > 2048 float64, > 2896 float32) shared by all games is copied
        into the order the products read it, once per solve (by the first native call of 24
        queries or more in C, of 12 iterations or more in Numba) and kept until the solve
        returns: memory of the triangle's size (at most 2 GiB; without the copy when it cannot
        be allocated), the same result. ``P`` must not change during the solve (a callback
        that modifies it in place is not seen). With fewer games than Numba threads at
        K >= 1024, the Numba loop runs the games one after another, each product over all
        threads.
    beta : float or array_like, shape (...)
        Regularization, > 0 (per game if an array). ``method="sppo"`` accepts 0.
    ref : array_like, shape (K,) or (..., K), optional
        Reference policy (probabilities, full support); uniform by default.
    method : {"nash_mp", "nash_md", "omd", "mmd", "omwu", "extragradient", "sppo", "prox_point"}
    eta : float or array_like, optional
        Step size. Defaults: nash_mp 2; extragradient 2/(1+2 beta) (the linearization of
        Nash-MP with eta = 2: same iterates); omd and mmd beta; omwu min(0.5, 1/beta);
        sppo 0.1; prox_point 1/beta; nash_md uses its schedule 2/(beta (t+2)).
    init : array_like, shape (K,) or (..., K), optional
        Starting policy (probabilities); ``ref`` by default.
    max_iter : int
        Iteration limit per game (prox_point: outer iterations), at most ``2**53``.
    tol : float
        Stop a game when its exploitability is <= tol (checked every ``check_every``
        iterations); a converged game stops costing work and its result is final. A negative
        tol never stops early: exactly ``max_iter`` iterations, without a warning. The
        exploitability is exact up to a rounding error growing like
        ``beta * 2.2e-16 * (2 + max |log ref|)``; a ``tol`` below that (very large beta) gets a
        RuntimeWarning, since the test would compare rounding noise.
    check_every : int
    backend : {"auto", "c", "numba", "numpy"}
    callback : callable, optional
        ``callback(intermediate_result)`` at every check; raising StopIteration stops.
    history : bool
        Record per-check metrics (see ``SolveResult.history``).
    progress : bool
        Show a tqdm progress bar (needs ``tqdm``).
    pi_star : array_like, shape (..., K), optional
        Known equilibrium (probabilities) for the KL and span columns of the history.
    antisymmetrize : bool
        Use ``(P + 1 - P^T)/2`` instead of rejecting a non-antisymmetric ``P``.
    inner_tol : float, optional
        prox_point only: exploitability tolerance (>= 0) of the inner Nash-MP solves; by
        default ``tol / 10``, and at least 4 times the inner exploitability's rounding error
        (so with ``tol <= 0`` each prox step is still solved, to rounding).

    Returns
    -------
    SolveResult

    Notes
    -----
    Nash-MP (Tiapkin et al., 2025), with ``a = 1/(1+eta beta)``, ``b = eta beta a``,
    ``c = eta a``::

        log pi_{k+1/2} = N(a log pi_k + b log ref + c g(pi_k))
        log pi_{k+1}   = N(a log pi_k + b log ref + c g(pi_{k+1/2}))

    with ``g(pi) = P pi`` (one preference query) and ``N(z) = z - logsumexp(z)``. For
    ``eta <= 2``, ``KL(pi*||pi_{k+1}) <= KL(pi*||pi_k) / (1 + eta beta)``.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> rps = np.array([[.5, 1, 0], [0, .5, 1], [1, 0, .5]])
    >>> res = nashmp.solve(rps, beta=0.1)
    >>> bool(res.success), res.policy.round(6).tolist()
    (True, [0.333333, 0.333333, 0.333333])
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    for name, v, lo in (("max_iter", max_iter, 0), ("check_every", check_every, 1)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or \
                not lo <= v <= MAX_ITER:
            raise ValueError(f"{name} must be an integer in [{lo}, 2**53], got {v!r}")
    tol = _real(tol, "tol")
    if inner_tol is not None:
        inner_tol = _real(inner_tol, "inner_tol")
        if inner_tol < 0:
            raise ValueError(f"inner_tol must be >= 0, got {inner_tol!r}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    be = _backend.resolve(backend)
    if not isinstance(P, np.ndarray) and (hasattr(P, "__cuda_array_interface__")
                                          or type(P).__name__ == "FakeCUDAArray"):
        # device P (CuPy, PyTorch, Numba): checked on a host copy, solved on the device
        from ._cuda_kernels import to_host
        P = to_host(P)
        be = _backend.resolve("cuda") if backend in ("auto", None) else be
    # packed dense storage runs in the native loop like a dense P (half the bytes per query)
    packed = isinstance(P, PackedDense) and be == "c" and method != "prox_point"
    if isinstance(P, PreferenceOperator) and not packed:   # matrix-free: Python loop, fused steps
        from ._operator_solver import solve_operator
        return solve_operator(P, beta, ref=ref, method=method, eta=eta, init=init,
                              max_iter=max_iter, tol=tol, check_every=check_every, backend=be,
                              callback=callback, history=history, progress=progress,
                              pi_star=pi_star, inner_tol=inner_tol)
    op = P if packed else None
    # a dense P that is antisymmetric to rounding is read through its upper triangle (C, Numba)
    P, exact = (P, False) if packed else check_preference(P, antisymmetrize=antisymmetrize,
                                                          exact=True)
    k = P.shape[-1]
    lr = (np.full(k, -np.log(k)) if ref is None else log_policy(ref, "ref", k, full_support=True))
    l0 = lr if init is None else log_policy(init, "init", k, full_support=False)
    bshape = batch_of(P, k, (lr.shape[:-1], l0.shape[:-1], np.shape(beta)))
    b = as_beta(beta, bshape, allow_zero=(method == "sppo"))
    warn_resolution(b, lr, tol, method, stacklevel=2)
    etas = _eta_array(method, eta, b)
    if method == "prox_point":
        return _prox_point(P, b, lr, l0, etas, bshape, k, max_iter=max_iter, tol=tol,
                           inner_tol=inner_tol,
                           check_every=check_every, backend=be, callback=callback,
                           history=history, pi_star=pi_star)
    B = int(np.prod(bshape, dtype=np.int64))
    if packed:                        # one shared triangle (a 1-element buffer when k = 1)
        Pm = (op.packed if op.packed.size else np.zeros(1, op.dtype)).reshape(1, -1)
    else:
        shared = P.ndim == 2 or P[..., 0, 0].size == 1
        Pm = np.ascontiguousarray(P.reshape(1, k, k) if shared
                                  else np.broadcast_to(P, bshape + (k, k)).reshape(B, k, k))
    runner = _Runner(be, Pm, np.ascontiguousarray(np.broadcast_to(lr, bshape + (k,)).reshape(B, k)),
                     np.ascontiguousarray(b.reshape(B)), np.ascontiguousarray(etas.reshape(B)),
                     METHOD_ID[method], B, k,
                     store="packed" if packed else "upper" if exact and _reads_upper(be, k)
                     else "dense")
    l = np.array(np.broadcast_to(l0, bshape + (k,)).reshape(B, k), dtype=np.float64, order="C")
    state = None
    if method == "omwu":
        state = np.empty((B, k))
        pi0 = np.exp(l)
        state[:] = (op.apply(pi0, backend="c") if packed else
                    (pi0 @ Pm[0].T) if shared else np.einsum("bij,bj->bi", Pm, pi0))
    elif method == "sppo":
        state = np.full((B, k), -np.inf)
    it = np.zeros(B, np.int64)
    nq = np.zeros(B, np.int64)
    ex = runner.exploitability(l if method != "sppo" else l)
    active = np.ones(B, np.uint8)
    if tol >= 0:
        active[ex <= tol] = 0
    star = _star(pi_star, bshape, k) if pi_star is not None else None
    hist = _History(star) if history else None
    chunked = history or callback is not None or progress
    bar = _progress_bar(progress, max_iter, method)
    t0 = time.perf_counter()
    if hist is not None:
        hist.record(nq, ex, l, 0.0)
    status = 1
    done = 0
    while done < max_iter and active.any():
        n = min(check_every if chunked else max_iter, max_iter - done)
        runner.run(n, check_every, float(tol), l, state, it, nq, ex, active)
        done += n
        if bar is not None:
            bar.update(n)
            bar.set_postfix(exploitability=f"{ex.max():.3g}")
        rep = _reported(method, l, state)
        if hist is not None:
            hist.record(nq, ex, rep, time.perf_counter() - t0)
        if callback is not None:
            try:
                callback(_result(method, be, rep, ex, it, nq, b, etas, tol, bshape, 1, None,
                                 Pm.dtype))
            except StopIteration:
                status = 2
                break
    if bar is not None:
        bar.close()
    conv = ex <= tol
    if status != 2:
        status = 0 if conv.all() else 1
    if status == 1 and tol >= 0:          # tol < 0 asks for exactly max_iter iterations
        warnings.warn(f"nashmp.solve({method!r}) did not reach exploitability {tol:g} in "
                      f"{max_iter} iterations in {int((~conv).sum())} of {B} game(s)",
                      RuntimeWarning, stacklevel=2)
    if packed:
        op.n_queries += int(nq.sum())
    return _result(method, be, _reported(method, l, state), ex, it, nq, b, etas, tol, bshape,
                   status, hist, Pm.dtype)


def _reported(method, l, state):
    if method != "sppo":
        return l
    from ._numpy_solvers import _normalize
    stepped = np.isfinite(state).any(axis=-1)       # a game that never stepped reports l
    if stepped.all():
        return _normalize(state)
    out = np.array(l, dtype=np.float64)
    out[stepped] = _normalize(state[stepped])
    return out


def _star(pi_star, bshape, k):
    ls = log_policy(pi_star, "pi_star", k, full_support=False)
    return np.broadcast_to(ls, bshape + (k,)).reshape(-1, k)


class _History:
    def __init__(self, star):
        self.star = star
        self.rows = []

    def record(self, nq, ex, l, t):
        from ._kernels import kl
        from .metrics import span_distance
        row = {"n_queries": nq.copy(), "exploitability": ex.copy(), "time": t}
        if self.star is not None:
            row["kl_star"] = kl(self.star, l)
            row["kl_star_rev"] = kl(l, self.star)
            row["span_star"] = span_distance(l, self.star)
        self.rows.append(row)

    def arrays(self, bshape):
        out = {}
        for key in self.rows[0]:
            v = np.array([r[key] for r in self.rows])
            out[key] = v if key == "time" else v.reshape((len(self.rows),) + bshape)
        return out


def _progress_bar(progress, total, method):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("progress=True needs tqdm: pip install tqdm") from None
    return tqdm(total=total, desc=method, unit="it")


def _result(method, be, l, ex, it, nq, b, etas, tol, bshape, status, hist, dtype):
    conv = ex <= tol
    shape = lambda a: a.reshape(bshape)[()] if bshape == () else a.reshape(bshape)  # noqa: E731
    return SolveResult(
        log_policy=l.reshape(bshape + (l.shape[-1],)).astype(dtype if dtype == np.float32
                                                            else np.float64),
        success=bool(conv.all()), converged=shape(conv), status=status,
        message=_STATUS_MESSAGES[status], nit=shape(it.copy()), n_queries=shape(nq.copy()),
        exploitability=shape(ex.copy()), backend=be, method=method, beta=shape(np.array(b)),
        eta=shape(np.array(etas)), history=hist.arrays(bshape) if hist is not None else None)


def _games_of(P, bshape, idx):
    """The preference game(s) of the flat games ``idx`` of the batch ``bshape``: ``P`` itself
    when it is shared (or every game is taken), else its matrices for those games (an array, or
    a restricted copy of a batched Dense operator)."""
    B = int(np.prod(bshape, dtype=np.int64))
    own = P.batch_shape if is_operator(P) else P.shape[:-2]
    m = int(np.prod(own, dtype=np.int64))
    if m <= 1 or idx.size == B:
        return P
    games = broadcast_games(own, bshape)[idx]
    if is_operator(P):
        return P._take(games)
    k = P.shape[-1]
    return P.reshape(-1, k, k)[games]


def _prox_point(P, b, lr, l0, etas, bshape, k, *, max_iter, tol, inner_tol, check_every,
                backend, callback, history, pi_star):
    """Proximal point: each outer step solves the game with coefficient beta + 1/eta and
    reference ``N((l_k + eta beta l_ref) / (1 + eta beta))`` by Nash-MP (warm-started)."""
    from .metrics import exploitability as expl_fn
    B = int(np.prod(bshape, dtype=np.int64))
    l = np.array(np.broadcast_to(l0, bshape + (k,)), dtype=np.float64)
    lrb = np.broadcast_to(lr, bshape + (k,))
    eb = etas * b
    beta_in = b + 1.0 / etas
    nq = np.zeros(bshape, np.int64)
    it = np.zeros(bshape, np.int64)
    ex = np.asarray(expl_fn(P, l, b, ref=np.exp(lrb), backend=backend))
    star = _star(pi_star, bshape, k) if pi_star is not None else None
    hist = _History(star) if history else None
    t0 = time.perf_counter()
    if hist is not None:
        hist.record(nq.reshape(-1), ex.reshape(-1), l.reshape(B, k), 0.0)
    status = 1
    for _ in range(max_iter):
        act = ex > tol
        if not act.any():
            break
        z = (l + eb[..., None] * lrb) / (1.0 + eb[..., None])
        lz = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
        ref_in = np.exp(lz)
        # by default tol / 10, and never below 4x the inner exploitability's rounding error
        # (a stricter test could compare noise; with tol < 0 the outer loop still runs exactly
        # max_iter steps, each prox step solved to rounding)
        itol = inner_tol if inner_tol is not None else max(
            tol / 10, 4.0 * exploitability_resolution(beta_in, lz))
        idx = np.flatnonzero(act.reshape(-1))        # only the games still running
        Pin = _games_of(P, bshape, idx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            inner = solve(Pin, beta_in.reshape(-1)[idx], ref=ref_in.reshape(B, k)[idx],
                          init=np.exp(l.reshape(B, k)[idx]), method="nash_mp", tol=itol,
                          check_every=check_every, backend=backend, max_iter=100_000)
        if Pin is not P and is_operator(P):         # queries of a restriction: P's
            P.n_applications += Pin.n_applications
            P.n_queries += Pin.n_queries
        l = l.copy()
        l.reshape(B, k)[idx] = np.asarray(inner.log_policy, dtype=np.float64).reshape(-1, k)
        nq = nq.copy()
        nq.reshape(-1)[idx] += np.asarray(inner.n_queries).reshape(-1)
        it = it + act
        ex = np.asarray(expl_fn(P, l, b, ref=np.exp(lrb), backend=backend))
        if hist is not None:
            hist.record(nq.reshape(-1), ex.reshape(-1), l.reshape(B, k), time.perf_counter() - t0)
        if callback is not None:
            try:
                callback(_result("prox_point", backend, l.reshape(B, k), ex.reshape(-1),
                                 it.reshape(-1), nq.reshape(-1), b, etas, tol, bshape, 1, None,
                                 np.float64))
            except StopIteration:
                status = 2
                break
    conv = ex <= tol
    if status != 2:
        status = 0 if conv.all() else 1
    if status == 1 and tol >= 0:          # tol < 0 asks for exactly max_iter steps
        warnings.warn(f"nashmp.solve('prox_point') did not reach exploitability {tol:g} in "
                      f"{max_iter} outer iterations", RuntimeWarning, stacklevel=3)
    return _result("prox_point", backend, l.reshape(B, k), ex.reshape(-1), it.reshape(-1),
                   nq.reshape(-1), b, etas, tol, bshape, status, hist, P.dtype)
