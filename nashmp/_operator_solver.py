"""The iteration loop of :func:`nashmp.solve` for matrix-free preference operators.

At large K one iteration costs milliseconds to seconds, so the loop runs in Python and each prox
step is one fused native call (``PreferenceOperator.mirror_step``: apply + normalize + exp). On
the C backend a :class:`~nashmp.operators.LowRankSkew` game carries the moments
``(V^T pi, U^T pi, sum pi)`` of each step's output into the step that queries it
(``LowRankSkew._mirror_step_q``): the factors are read once per query instead of twice, for the
methods whose queries are the previous step's outputs (Nash-MP, extragradient, OMD, MMD, SPPO).
The updates, coefficients (``_methods.coefficients``), query counting (``QUERIES_PER_ITER``),
check schedule (every ``check_every`` iterations and after the last) and result object are those
of the dense path, so ``solve(op)`` and ``solve(op.todense())`` give the same iterates.

``backend="cuda"`` runs every query on the device with the operator's numba-cuda kernels (its data
copied to the device once per operator; each prox step computes ``g`` into a float64 device
buffer and normalizes it with ``exp`` in a second kernel) while the loop state stays on the host:
one copy of the policies in and out per step, the same iterates and query counts as the CPU
backends.

A batched operator (:class:`~nashmp.operators.Dense` with batch dims, broadcast against the batch
of ``ref``, ``init``, ``beta`` and ``eta``) serves the loop's ``(B, K)`` rows through
:class:`_Games`: a step or check on a subset of the rows (games still running, or games sharing
coefficients) queries an operator over those rows' games only, so converged games cost nothing.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from ._games import as_beta, log_policy, warn_resolution
from ._methods import METHOD_ID, QUERIES_PER_ITER, TWO_STEP, coefficients
from .operators import broadcast_games


class _Games:
    """The operator for a subset ``rows`` (sorted, unique) of the loop's ``(B, K)`` rows.

    An unbatched operator is shared by every row: itself. A batched one maps row r to its game
    ``game[r]`` (its batch broadcast to the solve's, flattened): all rows are served by ``whole``
    (the operator itself when its batch is already ``(B,)``, else a ``(B,)`` restriction: a
    reshape of its data, or a copy when it is broadcast); a subset by a restriction to the rows'
    games, cached until the set of iterated rows changes (``retire``). Queries made by
    restrictions are added to the operator's counters (``sync``)."""

    def __init__(self, op, bshape):
        self.op, self.game, self.views, self.whole = op, None, {}, op
        if op.batch_shape:
            n = int(np.prod(op.batch_shape, dtype=np.int64))
            self.game = broadcast_games(op.batch_shape, bshape)
            if self.game.size != n:
                self.whole = op._take(self.game)
            elif len(op.batch_shape) != 1:
                self.whole = op._take(slice(None))

    def __call__(self, rows=None):
        if self.game is None or rows is None or rows.size == self.game.size:
            return self.whole
        key = rows.tobytes()
        if key not in self.views:
            self.views[key] = self.op._take(self.game[rows])
        return self.views[key]

    def sync(self):
        for v in (self.whole, *self.views.values()):
            if v is not self.op:
                self.op.n_applications += v.n_applications
                self.op.n_queries += v.n_queries
                v.reset_counts()

    def retire(self):
        self.sync()
        self.views.clear()


def _exploitability(op, l, lr, beta, backend, q=None):
    """Per row: beta lse(lr + g/beta) + beta KL(pi || ref) - 1/2 (beta = 0: max g - 1/2).
    q: the low-rank moments of exp(l) when carried (g from them: one pass over the factors)."""
    from ._kernels import kl, logsumexp
    if q is not None:
        g = op._g_from_moments(q)
        op.n_applications += 1
        op.n_queries += g.shape[0]
    else:
        g = op.apply(np.exp(l), backend=backend).astype(np.float64, copy=False)
    bcol = beta[:, None]
    safe = np.where(bcol > 0, bcol, 1.0)
    reg = beta * logsumexp(lr + g / safe, backend=backend) + beta * kl(l, lr, backend=backend)
    return np.where(beta > 0, reg, g.max(axis=-1)) - 0.5


class _OpLoop:
    """State of the operator loop: iterates l (B, K), their exp, per-method state."""

    def __init__(self, op, lr, l, beta, eta, method, backend, bshape):
        self.op, self.lr, self.l, self.beta, self.eta = op, lr, l, beta, eta
        self.games, self._idx = _Games(op, bshape), None
        self.mid, self.be = METHOD_ID[method], backend
        self.pi = np.exp(l)
        self.state = None
        self._spare = None        # (l, pi, half-step) buffers the next whole-batch step writes
        # carried low-rank moments of pi (valid where qok), for the methods that query outputs
        self.q = self.qok = None
        if (self.mid in TWO_STEP or self.mid in (2, 3, 6)) and hasattr(op, "_mirror_step_q") \
                and op._backend(backend) == "c":
            self.q = np.empty((l.shape[0], 2 * op.r + 1))
            self.qok = np.zeros(l.shape[0], bool)
        if self.mid == 4:                                  # omwu: previous g, g(pi_0) at start
            self.state = self.games().apply(self.pi, backend=backend).astype(np.float64)
            self.games.sync()
        elif self.mid == 6:                                # sppo: log of the summed iterates
            self.state = np.full(l.shape, -np.inf)

    def step(self, idx, it):
        """One iteration on the rows ``idx`` (games sharing coefficients are stepped together)."""
        if self._idx is None or not np.array_equal(idx, self._idx):
            self.games.retire()                    # games stopped: their restrictions go
            self._idx = idx
        co = np.array([coefficients(self.mid, self.beta[i], self.eta[i], it[i]) for i in idx])
        _, first, inv = np.unique(co, axis=0, return_index=True, return_inverse=True)
        for grp, f in enumerate(first):
            rows = idx[np.asarray(inv).reshape(-1) == grp]
            a, b, c, s = (float(v) for v in co[f])
            self._rows(rows, a, b, c, s)
        self.games.sync()

    def exploitability(self, rows=None):
        """Exploitability of the reported policies of ``rows`` (all when None)."""
        sel = slice(None) if rows is None else rows
        ex = _exploitability(self.games(rows), self.reported(rows), self.lr[sel], self.beta[sel],
                             self.be, q=None if rows is None else self.moments(rows))
        self.games.sync()
        return ex

    def _rows(self, rows, a, b, c, s):
        from ._kernels import mirror_step
        op, be, mid = self.games(rows), self.be, self.mid
        whole = rows.size == self.l.shape[0]
        l = self.l if whole else self.l[rows]
        lr = self.lr if whole else self.lr[rows]
        pi = self.pi if whole else self.pi[rows]
        # a whole-batch step writes into buffers kept from step to step and swaps them with the
        # iterates (no K-sized allocation, page faults and copy per step: at K = 1e7, 80 MB each)
        if whole:
            if self._spare is None:
                self._spare = tuple(np.empty_like(l) for _ in range(3))
            new, pnew, ph = self._spare
        else:
            new, pnew, ph = np.empty_like(l), np.empty_like(l), np.empty_like(l)
        if self.q is not None:                               # C low-rank: carried moments
            qin = self.q[rows] if self.qok[rows].all() else None
            qn = np.empty((rows.size, self.q.shape[1]))
            lrb = lr if b != 0.0 else None
            if mid in TWO_STEP:
                qh = np.empty_like(qn)
                op._mirror_step_q(l, lrb, pi, qin, a, b, c, new, ph, qh)
                op._mirror_step_q(l, lrb, ph, qh, a, b, c, new, pnew, qn)
            else:                                            # omd, mmd, sppo
                op._mirror_step_q(l, lrb, pi, qin, a, b, c, new, pnew, qn)
            self.q[rows] = qn
            self.qok[rows] = True
        elif mid in TWO_STEP:                                # nash_mp, extragradient
            op.mirror_step(l, lr, pi, a, b, c, out=new, pi_out=ph, backend=be)
            op.mirror_step(l, lr, ph, a, b, c, out=new, pi_out=pnew, backend=be)
        elif mid == 1:                                       # nash_md: query the mixture mu
            mu = mirror_step(l, lr, np.zeros_like(l), 1.0 - s, s, 0.0, backend=be)
            op.mirror_step(l, lr, np.exp(mu), a, b, c, out=new, pi_out=pnew, backend=be)
        elif mid == 4:                                       # omwu: optimistic 2 g - g_prev
            g = op.apply(pi, backend=be).astype(np.float64, copy=False)
            mirror_step(l, lr, 2.0 * g - self.state[rows], a, b, c, out=new, backend=be)
            np.exp(new, out=pnew)
            self.state[rows] = g
        else:                                                # omd, mmd, sppo
            op.mirror_step(l, lr if b != 0.0 else None, pi, a, b, c, out=new, pi_out=pnew,
                           backend=be)
        if mid == 6:
            self.state[rows] = np.logaddexp(self.state[rows], new)
        if whole:
            self._spare = (self.l, self.pi, ph)
            self.l, self.pi = new, pnew
        else:
            self.l[rows] = new
            self.pi[rows] = pnew

    def moments(self, rows):
        """The carried low-rank moments of the reported policies of ``rows``, or None."""
        if self.q is None or self.mid == 6 or not self.qok[rows].all():
            return None
        return self.q[rows]

    def reported(self, rows=None):
        from ._numpy_solvers import _normalize
        l = self.l if rows is None else self.l[rows]
        if self.mid != 6:
            return l
        st = self.state if rows is None else self.state[rows]
        run = np.isfinite(st).any(axis=-1)          # games not stepped yet report their l
        if run.all():
            return _normalize(st)
        rep = l.copy()
        rep[run] = _normalize(st[run])
        return rep


def solve_operator(op, beta, *, ref, method, eta, init, max_iter, tol, check_every, backend,
                   callback, history, progress, pi_star, inner_tol):
    """``nashmp.solve`` for a :class:`~nashmp.operators.PreferenceOperator` (arguments already
    checked by ``solve`` except the game)."""
    from . import solvers as S
    k = op.K
    lr = np.full(k, -np.log(k)) if ref is None else log_policy(ref, "ref", k, full_support=True)
    l0 = lr if init is None else log_policy(init, "init", k, full_support=False)
    try:
        bshape = np.broadcast_shapes(op.batch_shape, lr.shape[:-1], l0.shape[:-1],
                                     np.shape(beta))
    except ValueError:
        raise ValueError(f"batch dimensions do not broadcast: operator {op.batch_shape}, ref "
                         f"{lr.shape[:-1]}, init {l0.shape[:-1]}, beta {np.shape(beta)}") from None
    b = as_beta(beta, bshape, allow_zero=(method == "sppo"))
    warn_resolution(b, lr, tol, method, stacklevel=3)
    etas = S._eta_array(method, eta, b)
    if method == "prox_point":
        return S._prox_point(op, b, lr, l0, etas, bshape, k, max_iter=max_iter, tol=tol,
                             inner_tol=inner_tol,
                             check_every=check_every, backend=backend, callback=callback,
                             history=history, pi_star=pi_star)
    B = int(np.prod(bshape, dtype=np.int64))
    LR = np.ascontiguousarray(np.broadcast_to(lr, bshape + (k,)).reshape(B, k))
    l = np.array(np.broadcast_to(l0, bshape + (k,)).reshape(B, k), dtype=np.float64, order="C")
    beta_r = np.ascontiguousarray(b.reshape(B))
    eta_r = np.ascontiguousarray(etas.reshape(B))
    loop = _OpLoop(op, LR, l, beta_r, eta_r, method, backend, bshape)
    it = np.zeros(B, np.int64)
    nq = np.zeros(B, np.int64)
    qpi = QUERIES_PER_ITER[method]
    ex = loop.exploitability()
    active = np.ones(B, bool)
    if tol >= 0:
        active[ex <= tol] = False
    star = S._star(pi_star, bshape, k) if pi_star is not None else None
    hist = S._History(star) if history else None
    bar = S._progress_bar(progress, max_iter, method)
    t0 = time.perf_counter()
    if hist is not None:
        hist.record(nq, ex, loop.reported(), 0.0)
    status, done = 1, 0
    while done < max_iter and active.any():
        n = min(check_every, max_iter - done)
        idx = np.flatnonzero(active)
        for _ in range(n):
            loop.step(idx, it)
            it[idx] += 1
            nq[idx] += qpi
        done += n
        ex[idx] = loop.exploitability(idx)
        if tol >= 0:
            active[idx[ex[idx] <= tol]] = False
        if bar is not None:
            bar.update(n)
            bar.set_postfix(exploitability=f"{ex.max():.3g}")
        rep = loop.reported()
        if hist is not None:
            hist.record(nq, ex, rep, time.perf_counter() - t0)
        if callback is not None:
            try:
                callback(S._result(method, backend, rep, ex, it, nq, b, etas, tol, bshape, 1,
                                   None, op.dtype))
            except StopIteration:
                status = 2
                break
    loop.games.retire()
    if bar is not None:
        bar.close()
    conv = ex <= tol
    if status != 2:
        status = 0 if conv.all() else 1
    if status == 1 and tol >= 0:
        warnings.warn(f"nashmp.solve({method!r}) did not reach exploitability {tol:g} in "
                      f"{max_iter} iterations in {int((~conv).sum())} of {B} game(s)",
                      RuntimeWarning, stacklevel=3)
    return S._result(method, backend, loop.reported(), ex, it, nq, b, etas, tol, bshape, status,
                     hist, op.dtype)
