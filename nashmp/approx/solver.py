"""Approximate Nash-MP: prox steps fitted by stochastic gradient from sampled comparisons.

Each outer iteration of Nash-MP (ALGORITHMS.md §3, §5) takes two prox steps centred at the
anchor ``pi_k``, with targets

    log pi_tgt = a log pi_k + b log pi_ref + c g(sigma) - log Z,
    a = 1/(1+eta beta), b = eta beta a, c = eta a,

``sigma = pi_k`` for the half step and ``sigma = pi_{k+1/2}`` for the full step. Here ``g`` is never
evaluated: each prox step is *fitted* by ``n_inner`` stochastic-gradient steps, each on
``samples_per_step`` sampled triples ``(y, y', y'')`` and their judged outcomes, of

* the square loss (default), whose unrestricted minimizer is exactly the prox point:
  ``1/2 E[(Δlog pi_theta - a Δlog pi_k - b Δlog pi_ref - c (o(y, y'') - o(y', y'')))^2]`` with
  ``Δf = f(y) - f(y')``, ``y, y'`` i.i.d. from a full-support sampler (``pairs``) and
  ``y'' ~ sigma``. It is the loss of §5 divided by ``(1+eta beta)^2``; it only uses
  log-probability *differences*, so normalizers cancel and a step costs ``O(n d)`` whatever K.
  Two queries per triple.
* or REINFORCE with the 1/2 baseline (``loss="reinforce"``): ascent along
  ``E_{y~pi_theta, y'~sigma}[∇log pi_theta(y) (c (o(y, y') - 1/2) - a log(pi_theta/pi_k)(y)
  - b log(pi_theta/pi_ref)(y))]`` (the gradient of the prox objective; §5's form divided by
  ``1+eta beta``). One query per sample; needs normalized log-probabilities, ``O(K d)`` a step.

Baselines with the same machinery (one prox step per iteration): ``method="nash_md"``
(Munos et al.: ``sigma`` = the geometric mixture ``mu ∝ pi_t^{1-s} pi_ref^s``, schedule
``eta_t = 2/(beta (t+2))``) and ``method="omd"`` (online IPO / mirror descent on the regularized
game, ``sigma = pi_t``).

With ``exact=True`` the prox steps are computed in closed form from the exact ``g`` (tabular
policy, preference with exact ``g``): the iterates are those of :func:`nashmp.solve`.

Examples
--------
>>> import numpy as np
>>> from nashmp.approx import solve
>>> A = 3 * np.random.default_rng(1).standard_normal((5, 5))
>>> P = 1 / (1 + np.exp(A.T - A))               # P[i, j] = sigmoid(A_ij - A_ji): P + P^T = 1
>>> res = solve(P, beta=0.5, n_outer=8, n_inner=30, samples_per_step=64,
...             rng=np.random.default_rng(0))
>>> res.n_queries                     # 8 outer x 2 prox steps x 30 SGD steps x 64 triples x 2
61440
>>> bool(res.exploitability < res.history["exploitability"][0] / 5)
True
"""
from __future__ import annotations

import numbers
import time
import warnings

import numpy as np

from .._methods import coefficients
from .oracle import SampledOracle
from .policies import LogLinearPolicy, TabularPolicy, _LinearPolicy

__all__ = ["solve", "ApproxResult"]

METHODS = ("nash_mp", "nash_md", "omd")
_METHOD_ID = {"nash_mp": 0, "nash_md": 1, "omd": 2}
LOSSES = ("square", "reinforce")
PAIRS = ("uniform", "anchor")

_STATUS = {0: "completed n_outer outer iterations", 2: "stopped by the callback (StopIteration)"}


class ApproxResult(dict):
    """Result of :func:`solve` (a dict with attribute access).

    Attributes
    ----------
    policy : TabularPolicy or LogLinearPolicy
        The last iterate (a new object; the input policy is untouched).
    log_policy : ndarray, shape batch_shape + (K,)
        Its normalized log-probabilities (the K actions are enumerated once).
    n_queries : int
        Comparisons asked to the oracle during the solve, all contexts together
        (``exact=True``: evaluations of ``g``, one per context and prox step, as in
        :func:`nashmp.solve`).
    n_queries_per_context : ndarray of int, shape batch_shape
    exploitability : ndarray, shape batch_shape, or None
        Exact exploitability of the last iterate when the preference can evaluate ``g``
        (dense ``P`` or an ``apply`` method), else ``None``.
    nit : int
        Outer iterations done.
    history : dict of ndarray or None
        Per evaluation (start, every ``eval_every`` outer iterations, end): ``outer``,
        ``n_queries`` (total), ``exploitability`` (n_evals,) + batch_shape (NaN if not
        evaluable), ``time`` (seconds of solver work, evaluation excluded); per outer
        iteration: ``loss`` (mean fitted loss of its last inner step; REINFORCE: mean advantage)
        and, with ``step_error=True``, ``step_error`` (n_outer,) + batch_shape.
    status : int
        0 completed, 2 stopped by the callback.
    message, method, loss, exact, beta, eta
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__

    def __repr__(self):
        keys = ("method", "loss", "exact", "status", "message", "nit", "n_queries",
                "exploitability")
        body = "\n".join(f"{k:>22}: {self.get(k)!r}" for k in keys)
        return f"ApproxResult(\n{body}\n)"


def _kern():
    from . import _kernels  # noqa: PLC0415
    return _kernels


def _int(v, name, lo):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _as_rng(rng):
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an integer seed or None, got "
                    f"{type(rng).__name__}")


def _lse_rows(s):
    m = s.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True)))


def _normalize(s):
    return s - _lse_rows(s)


class _State:
    """Validated problem: rows of contexts ``B``, policies with parameters ``(BT, P)``."""


def _setup(preference, beta, policy, ref, method, eta, rng, outcomes):
    if isinstance(preference, SampledOracle):
        oracle = preference
    else:
        oracle = SampledOracle(preference, np.random.default_rng(rng.integers(0, 2 ** 63)),
                               outcomes=outcomes)
    # policy and K
    if policy is not None and not isinstance(policy, _LinearPolicy):
        raise TypeError(f"policy must be a TabularPolicy or LogLinearPolicy, got "
                        f"{type(policy).__name__}")
    K = oracle.K
    if policy is None:
        if isinstance(ref, _LinearPolicy):
            policy = ref.copy()
        else:
            if K is None:
                if ref is None:
                    raise ValueError("policy (or ref) is required when the preference does not "
                                     "tell K (a judge)")
                K = np.shape(ref)[-1]
            if ref is None:
                policy = TabularPolicy(np.zeros(K))
            else:
                policy = TabularPolicy.from_probs(ref)
    if K is not None and policy.K != K:
        raise ValueError(f"policy has {policy.K} actions, the preference has {K}")
    K = policy.K
    # batch: the preference's games and the policy's contexts must agree
    pb = oracle.batch_shape
    if pb and policy.batch_shape != pb:
        if policy.batch_shape == ():
            policy = policy.broadcast(pb[0])
        else:
            raise ValueError(f"policy has batch shape {policy.batch_shape}, the preference "
                             f"{pb}")
    bshape = policy.batch_shape
    B = policy.B
    # reference policy (same family; uniform by default)
    if ref is None:
        refp = policy.with_params(np.zeros_like(policy.params))
    elif isinstance(ref, _LinearPolicy):
        if type(ref) is not type(policy):
            raise TypeError(f"ref must be a {type(policy).__name__} like policy, got "
                            f"{type(ref).__name__}")
        if isinstance(policy, LogLinearPolicy) and not policy.same_features(ref):
            raise ValueError("ref must use the same features as policy")
        if ref.batch_shape != bshape:
            ref = ref.broadcast(B)
        if ref.params.shape != policy.params.shape:
            raise ValueError(f"ref parameters {ref.params.shape} do not match the policy's "
                             f"{policy.params.shape}")
        refp = ref
    else:
        if not isinstance(policy, TabularPolicy):
            raise TypeError("ref given as probabilities needs a TabularPolicy; pass a "
                            "LogLinearPolicy with the same features as ref instead")
        refp = TabularPolicy.from_probs(ref)
        if refp.K != K:
            raise ValueError(f"ref must have {K} actions, got {refp.K}")
        if refp.batch_shape != bshape and bshape == () and not pb:   # one game, B references
            policy = policy.broadcast(refp.B)
            bshape, B = policy.batch_shape, policy.B
        if refp.batch_shape != bshape:
            if refp.batch_shape != ():
                raise ValueError(f"ref has batch shape {refp.batch_shape}, the policy "
                                 f"{bshape}")
            refp = refp.broadcast(B)
    # beta, eta
    b = np.asarray(beta, dtype=np.float64) if not isinstance(beta, np.ndarray) else beta
    if b.dtype.kind not in "iuf":
        raise TypeError(f"beta must be a real scalar or array, got dtype {b.dtype}")
    b = b.astype(np.float64)
    try:
        b = np.broadcast_to(b, bshape)
    except ValueError:
        raise ValueError(f"beta of shape {b.shape} does not broadcast to the batch {bshape}") \
            from None
    if not np.isfinite(b).all() or (b <= 0).any():
        raise ValueError("beta must be finite and > 0")
    if method == "nash_mp":
        e = 2.0 if eta is None else eta
    elif method == "omd":
        e = b if eta is None else eta
    else:
        e = 1.0 if eta is None else eta                     # unused: eta_t = 2/(beta (t+2))
    e = np.asarray(e, dtype=np.float64)
    try:
        e = np.broadcast_to(e, bshape).astype(np.float64)
    except ValueError:
        raise ValueError(f"eta of shape {e.shape} does not broadcast to the batch {bshape}") \
            from None
    if not np.isfinite(e).all() or (e <= 0).any():
        raise ValueError(f"eta must be finite and > 0, got {eta!r}")
    if method == "omd" and (e * b > 1).any():
        raise ValueError("method='omd' needs eta * beta <= 1")
    if method == "nash_mp" and (e > 2).any():
        warnings.warn("Nash-MP's contraction guarantee covers eta <= 2 only", RuntimeWarning,
                      stacklevel=3)
    if policy.shared and (np.ptp(b) > 0 or np.ptp(e) > 0):
        raise ValueError("a policy whose parameters are shared by the contexts needs one beta "
                         "and one eta for all of them")
    st = _State()
    st.oracle, st.policy, st.ref, st.K, st.B, st.bshape = oracle, policy, refp, K, B, bshape
    st.beta = np.ascontiguousarray(b.reshape(B))
    st.eta = np.ascontiguousarray(e.reshape(B))
    return st


def _coef(st, mid, t):
    co = np.array([coefficients(mid, st.beta[i], st.eta[i], t) for i in range(st.B)])
    return (np.ascontiguousarray(co[:, j]) for j in range(4))


def _scores(policy, params):
    return np.ascontiguousarray(policy.with_params(params)._scores_all())


def _cdf(scores):
    B, K = scores.shape
    probs, cum, lse = np.empty((B, K)), np.empty((B, K)), np.empty(B)
    _kern().cdf_rows(scores, probs, cum, lse)
    return probs, cum, lse


def _draw(cum, n, rng):
    out = np.empty((cum.shape[0], n), np.int64)
    _kern().search_rows(cum, rng.random((cum.shape[0], n)), out)
    return out


def _rows(a, B):
    """(1, K) -> (B, K) view for per-context kernels."""
    return a if a.shape[0] == B else np.broadcast_to(a, (B,) + a.shape[1:])


class _Fitter:
    """Fits one prox step by SGD (square loss or REINFORCE) from sampled comparisons."""

    def __init__(self, st, *, n_inner, n, lr, loss, pairs, rng, average):
        self.st, self.n_inner, self.n, self.loss, self.pairs, self.rng = (st, n_inner, n, loss,
                                                                          pairs, rng)
        self.average = average
        self.lr_user = lr
        self.pol = st.policy
        self.tab = isinstance(self.pol, TabularPolicy)
        self.F = None if self.tab else self.pol.features
        self.nq = np.zeros(st.B, np.int64)
        self._uniform_curv = None
        self._uniform_lr = None

    def _curvature(self, probs):
        """Largest eigenvalue of Cov_p(phi) per context row (B,) for sampling distribution p."""
        if self.tab:
            return probs.max(axis=-1)                       # >= lambda_max(diag p - p p^T)
        F = np.broadcast_to(self.F, (self.st.B,) + self.F.shape[1:])
        mean = np.einsum("bk,bkd->bd", probs, F)
        second = np.matmul(np.swapaxes(F * probs[:, :, None], 1, 2), F)      # (B, d, d)
        cov = second - mean[:, :, None] * mean[:, None, :]
        return np.maximum(np.linalg.eigvalsh(cov)[:, -1], 1e-300)

    def _lr(self, probs_pairs):
        """Step size: given, or 0.5 / (largest curvature of the loss) per context."""
        B = self.st.B
        if self.lr_user is not None:
            return np.full(B, float(self.lr_user))
        if probs_pairs is self._uniform_curv and self._uniform_lr is not None:
            return self._uniform_lr
        lam = self._curvature(probs_pairs)
        h = 2.0 * lam if self.loss == "square" else lam     # square: E[Δφ Δφ^T] = 2 Cov
        lr = 0.5 / h
        if self.pol.shared:
            lr = np.full(B, lr.min())
        if probs_pairs is self._uniform_curv:
            self._uniform_lr = lr
        return lr

    def fit(self, theta0, center, sigma, a, b, c):
        """Parameters fitted to the target ``a log pi_center + b log pi_ref + c g(sigma)``,
        starting from ``theta0``. Returns ``(theta, last_loss (B,))``."""
        st, B, K, n, rng = self.st, self.st.B, self.st.K, self.n, self.rng
        th = np.array(theta0, dtype=np.float64, order="C")
        ps, cum_s, _ = _cdf(_scores(self.pol, sigma))                         # y'' ~ sigma
        if self.loss == "square":
            if self.pairs == "anchor":
                pp, cum_p, _ = _cdf(_scores(self.pol, center))
            else:
                cum_p = None
                pp = None
            if pp is None:
                if self._uniform_curv is None:
                    self._uniform_curv = np.full((B, K), 1.0 / K)
                pp = self._uniform_curv
            lr = self._lr(pp)
            w = np.ascontiguousarray(a[:, None] * center + b[:, None] * st.ref.params
                                     if center.shape[0] == B else
                                     a[0] * center + b[0] * st.ref.params)
            lossv = np.zeros(B)
            grad = None if self.tab else np.empty((B, self.pol.d))
            avg, n_avg, start = np.zeros_like(th), 0, self._avg_start()
            for it in range(self.n_inner):
                if cum_p is None:
                    y = rng.integers(0, K, (B, n))
                    y2 = rng.integers(0, K, (B, n))
                else:
                    y = _draw(cum_p, n, rng)
                    y2 = _draw(cum_p, n, rng)
                ypp = _draw(cum_s, n, rng)
                dout = st.oracle.compare(y, ypp) - st.oracle.compare(y2, ypp)
                self.nq += 2 * n
                if self.tab:
                    _kern().square_step_tabular(th, w, c, y, y2, dout, lr, lossv)
                else:
                    _kern().square_grad_loglinear(self.F, th, w, c, y, y2, dout, grad, lossv)
                    if th.shape[0] == 1:
                        th[0] -= lr[0] * grad.mean(axis=0)
                    else:
                        th -= lr[:, None] * grad
                if it >= start:
                    avg += th
                    n_avg += 1
            return (avg / n_avg if n_avg else th), lossv
        # REINFORCE
        pk, _, lse_k = _cdf(_scores(self.pol, center))
        _, _, lse_r = _cdf(_scores(self.pol, st.ref.params))
        lr = self._lr(pk)
        wk = np.ascontiguousarray(_rows(center, B) if self.tab else center)
        wr = np.ascontiguousarray(_rows(st.ref.params, B) if self.tab else st.ref.params)
        adv = np.zeros(B)
        grad = None if self.tab else np.empty((B, self.pol.d))
        avg, n_avg, start = np.zeros_like(th), 0, self._avg_start()
        for it in range(self.n_inner):
            probs, cum, lse = _cdf(_scores(self.pol, th))
            y = _draw(cum, n, rng)
            ypp = _draw(cum_s, n, rng)
            o = st.oracle.compare(y, ypp)
            self.nq += n
            if self.tab:
                _kern().reinforce_tabular(th, probs, lse, wk, lse_k, wr, lse_r, y, o, a, b, c,
                                          lr, adv)
            else:
                F = np.broadcast_to(self.F, (B,) + self.F.shape[1:])
                phibar = np.ascontiguousarray(np.einsum("bk,bkd->bd", probs, F))
                _kern().reinforce_grad_loglinear(self.F, th, lse, phibar, wk, lse_k, wr, lse_r,
                                                 y, o, a, b, c, grad, adv)
                if th.shape[0] == 1:
                    th[0] += lr[0] * grad.mean(axis=0)
                else:
                    th += lr[:, None] * grad
            if it >= start:
                avg += th
                n_avg += 1
        return (avg / n_avg if n_avg else th), adv

    def _avg_start(self):
        """First inner step of the tail average (the second half), or never."""
        return self.n_inner // 2 if self.average else self.n_inner


class _Exact:
    """Closed-form prox steps (tabular policy, exact g): the iterates of nashmp.solve."""

    def __init__(self, st):
        self.st = st
        self.nq = np.zeros(st.B, np.int64)
        self.lref = _normalize(np.asarray(st.ref.log_probs_all()).reshape(st.B, st.K))

    def g(self, params):
        return self.st.oracle.g(np.exp(_normalize(_rows(params, self.st.B))))

    def fit(self, theta0, center, sigma, a, b, c):
        self.nq += 1
        z = self.target(center, sigma, a, b, c)
        return z, np.zeros(self.st.B)

    def target(self, center, sigma, a, b, c):
        g = self.g(sigma)
        lc = _normalize(_rows(center, self.st.B))
        z = c[:, None] * g
        z = z + np.where(a[:, None] != 0, a[:, None] * lc, 0.0)
        z = z + np.where(b[:, None] != 0, b[:, None] * self.lref, 0.0)
        return _normalize(z)


def _exploitability(st, log_pi):
    """Exact exploitability per context (B,), or None when g cannot be evaluated."""
    o = st.oracle
    if not o.can_evaluate_g:
        return None
    lr = getattr(st, "lref", None)
    if lr is None:
        lr = st.lref = np.ascontiguousarray(
            _normalize(_rows(np.asarray(st.ref.log_probs_all()).reshape(-1, st.K), st.B)))
    lp = log_pi.reshape(st.B, st.K)
    if o.kind == "dense":
        from ..metrics import exploitability
        P = o._P[0] if o._P.shape[0] == 1 else o._P
        return np.asarray(exploitability(P, lp, st.beta, ref=np.exp(lr)), dtype=np.float64)
    from .._kernels import kl, logsumexp
    g = np.asarray(o.g(np.exp(lp)), dtype=np.float64).reshape(st.B, st.K)
    b = st.beta
    return b * logsumexp(lr + g / b[:, None]) + b * kl(lp, lr) - 0.5


def solve(preference, beta, *, policy=None, ref=None, method="nash_mp", eta=None, n_outer=20,
          n_inner=50, samples_per_step=64, samples_growth=1.0, lr=None, loss="square",
          pairs="uniform",
          average=True, anchor_ema=None, rng=None, outcomes="bernoulli", exact=False,
          eval_every=1,
          step_error=False, callback=None, history=True):
    """Approximate Nash-MP (or Nash-MD / online IPO) with sampled preference queries.

    Parameters
    ----------
    preference : array_like (K, K) or (B, K, K), operator with ``entries``, callable judge, or
        :class:`SampledOracle`
        Queried only through sampled comparisons (see :mod:`nashmp.approx.oracle`). Pass a
        ``SampledOracle`` to keep its counter and generator across calls.
    beta : float or array_like, shape batch_shape
        Regularization > 0.
    policy : TabularPolicy or LogLinearPolicy, optional
        Parameterization and starting point (copied, never modified). Default: tabular,
        starting at ``ref``. An unbatched policy is copied to every game of a batched preference.
    ref : policy of the same kind, or (tabular) probabilities (K,) / (B, K), optional
        Reference policy; uniform by default (zero parameters).
    method : {"nash_mp", "nash_md", "omd"}
        ``"nash_md"`` and ``"omd"`` (online IPO) are the one-step baselines of ALGORITHMS.md §4.
    eta : float or array_like, optional
        Step size: nash_mp 2, omd beta (``eta beta <= 1``); nash_md uses 2/(beta (t+2)).
    n_outer : int
        Outer iterations (nash_mp: two prox steps each; baselines: one).
    n_inner : int
        SGD steps per prox step.
    samples_per_step : int
        Sampled triples ``(y, y', y'')`` (square loss, 2 queries each) or pairs ``(y, y')``
        (REINFORCE, 1 query each) per SGD step and per context.
    samples_growth : float >= 1
        Geometric growth of ``samples_per_step`` across outer iterations (outer iteration ``t``
        uses ``ceil(samples_per_step * samples_growth**t)``): the per-step error then keeps
        shrinking, so the floor recedes (linear convergence per iteration at a geometrically
        growing cost per iteration). 1 keeps it constant.
    lr : float, optional
        SGD step size. Default: ``0.5 / lambda_max`` of the loss's curvature, per context,
        computed exactly from the sampling distribution (square loss: ``E[Δphi Δphi^T] =
        2 Cov_p(phi)``; REINFORCE: ``Cov_{pi_k}(phi)``; tabular: bounded by the largest
        probability).
    loss : {"square", "reinforce"}
    pairs : {"uniform", "anchor"}
        Sampler of ``y, y'`` in the square loss: uniform over the K actions (cost independent of
        K) or the anchor ``pi_k`` (one ``O(K d)`` pass per prox step).
    average : bool
        Return the average of the inner SGD iterates over the second half of the inner loop
        (tail averaging: the noise of constant-step SGD averages out) instead of the last one.
    anchor_ema : float in (0, 1], optional
        Anchor (prox centre) as an exponential moving average of the iterates:
        ``anchor <- anchor_ema * theta_{k+1} + (1 - anchor_ema) * anchor`` (parameters).
        ``None`` (or 1): the anchor is a frozen copy of ``pi_k`` (exact Nash-MP).
    rng : numpy.random.Generator or int, optional
        Seeds every sample (and the Bernoulli outcomes of an oracle built here).
    outcomes : {"bernoulli", "probability"}
        For an oracle built here.
    exact : bool
        Closed-form prox steps from the exact ``g`` (tabular policy; dense ``P`` or an operator
        with ``apply``); ``n_inner``/``samples_per_step``/``lr``/``loss`` are then unused.
    eval_every : int
        Exact exploitability every ``eval_every`` outer iterations (and at the start and end),
        when the preference allows it; 0 evaluates only at the end.
    step_error : bool
        Record ``history["step_error"]``: the span distance between each new iterate and the
        exact update of the method from the same state (two exact ``g`` evaluations per outer
        iteration, not counted as queries; needs exact ``g`` and no ``anchor_ema``).
    callback : callable, optional
        ``callback(intermediate_result)`` after every outer iteration; ``StopIteration`` stops.
    history : bool

    Returns
    -------
    ApproxResult

    Notes
    -----
    Each prox step starts from the latest iterate (warm start: the half step from ``pi_k``, the
    full step from ``pi_{k+1/2}``). Expected behaviour: linear convergence at the exact rate
    (``KL(pi*||pi_{k+1}) <= KL(pi*||pi_k)/(1+eta beta)``) down to a floor of order
    ``eps (1+eta beta)/(eta beta)`` where ``eps`` bounds the per-iteration error (the exact
    step followed by an error of span ``eps`` adds at most ``eps`` to the KL); ``eps`` shrinks
    like ``1/sqrt(samples)`` with constant step sizes.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not isinstance(pairs, str) or pairs not in PAIRS:
        raise ValueError(f"pairs must be one of {PAIRS}, got {pairs!r}")
    n_outer = _int(n_outer, "n_outer", 0)
    n_inner = _int(n_inner, "n_inner", 1)
    n = _int(samples_per_step, "samples_per_step", 1)
    if isinstance(samples_growth, bool) or not isinstance(samples_growth, numbers.Real) or \
            not (1.0 <= samples_growth < np.inf):
        raise ValueError(f"samples_growth must be a finite number >= 1, got {samples_growth!r}")
    eval_every = _int(eval_every, "eval_every", 0)
    if lr is not None:
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr) \
                or lr <= 0:
            raise ValueError(f"lr must be a finite number > 0 or None, got {lr!r}")
    if anchor_ema is not None:
        if isinstance(anchor_ema, bool) or not isinstance(anchor_ema, numbers.Real) or \
                not (0 < anchor_ema <= 1):
            raise ValueError(f"anchor_ema must be a number in (0, 1] or None, got {anchor_ema!r}")
        if anchor_ema == 1:
            anchor_ema = None
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    rng = _as_rng(rng)
    st = _setup(preference, beta, policy, ref, method, eta, rng, outcomes)
    if exact:
        if not isinstance(st.policy, TabularPolicy):
            raise ValueError("exact=True needs a TabularPolicy (a log-linear policy cannot in "
                             "general represent the exact prox point)")
        if not st.oracle.can_evaluate_g:
            raise ValueError("exact=True needs a preference that evaluates g exactly (a dense "
                             "array or an operator with apply())")
        fitter = _Exact(st)
    else:
        fitter = _Fitter(st, n_inner=n_inner, n=n, lr=lr, loss=loss, pairs=pairs, rng=rng,
                         average=bool(average))
    if step_error and (anchor_ema is not None or not st.oracle.can_evaluate_g):
        raise ValueError("step_error=True needs a preference with exact g and anchor_ema=None")
    exact_map = _Exact(st) if step_error else None
    mid = _METHOD_ID[method]
    pol = st.policy
    theta = np.array(pol.params, dtype=np.float64)
    if exact:                               # closed-form steps work on normalized log-policies
        theta = _normalize(_rows(theta, st.B)).copy()
    anchor = theta.copy()
    q0 = st.oracle.n_queries
    hist = {"outer": [], "n_queries": [], "exploitability": [], "time": []} if history else None
    losses, errs = [], []
    work = 0.0

    def current_policy():
        return pol.with_params(theta)

    def nq_total():
        return int(fitter.nq.sum()) if exact else st.oracle.n_queries - q0

    def evaluate(t):
        lp = np.asarray(current_policy().log_probs_all()).reshape(st.B, st.K)
        ex = _exploitability(st, lp)
        if hist is not None:
            hist["outer"].append(t)
            hist["n_queries"].append(nq_total())
            hist["exploitability"].append(np.full(st.B, np.nan) if ex is None else ex)
            hist["time"].append(work)
        return lp, ex

    lp, ex = evaluate(0) if (hist is not None and eval_every > 0) else (None, None)
    status = 0
    t_done = 0
    for t in range(n_outer):
        t0 = time.perf_counter()
        if not exact:
            fitter.n = int(np.ceil(n * samples_growth ** t - 1e-9))
        a, b, c, s = _coef(st, mid, t)
        if method == "nash_mp":
            half, _ = fitter.fit(theta, anchor, theta, a, b, c)
            new, lv = fitter.fit(half, anchor, half, a, b, c)
        elif method == "nash_md":
            if theta.shape[0] == 1 and st.B > 1:
                sigma = (1 - s[0]) * theta + s[0] * st.ref.params
            else:
                sigma = (1 - s[:, None]) * theta + s[:, None] * _rows(st.ref.params, st.B)
            new, lv = fitter.fit(theta, anchor, sigma, a, b, c)
        else:
            new, lv = fitter.fit(theta, anchor, theta, a, b, c)
        work += time.perf_counter() - t0
        if exact_map is not None:
            errs.append(_step_error(exact_map, method, pol, theta, new, a, b, c, s, st))
        theta = new
        anchor = theta.copy() if anchor_ema is None else \
            anchor_ema * theta + (1.0 - anchor_ema) * anchor
        losses.append(float(np.mean(lv)))
        t_done = t + 1
        if hist is not None and eval_every > 0 and (t_done % eval_every == 0 or t_done == n_outer):
            lp, ex = evaluate(t_done)
        if callback is not None:
            try:
                callback(_result(st, pol, theta, method, loss, exact, t_done, nq_total(),
                                 fitter, None, 1, "running"))
            except StopIteration:
                status = 2
                break
    if hist is None:
        ex = _exploitability(st, np.asarray(current_policy().log_probs_all()).reshape(st.B, st.K))
    elif not hist["outer"] or hist["outer"][-1] != t_done:
        lp, ex = evaluate(t_done)
    h = None
    if hist is not None:
        h = {k: np.array(v) for k, v in hist.items()}
        h["exploitability"] = h["exploitability"].reshape((-1,) + st.bshape)
        h["loss"] = np.array(losses)
        if step_error:
            h["step_error"] = np.array(errs).reshape((-1,) + st.bshape)
    res = _result(st, pol, theta, method, loss, exact, t_done, nq_total(), fitter, ex, status,
                  _STATUS[status], h)
    return res


def _step_error(ex, method, pol, theta, new, a, b, c, s, st):
    """Span distance per context between ``new`` and the exact update from ``theta``."""
    B = st.B
    lk = np.asarray(pol.with_params(theta).log_probs_all()).reshape(B, st.K)
    if method == "nash_mp":
        h = ex.target(lk, lk, a, b, c)
        tgt = ex.target(lk, h, a, b, c)
    elif method == "nash_md":
        mu = _normalize((1 - s[:, None]) * lk + s[:, None] * ex.lref)
        tgt = ex.target(lk, mu, a, b, c)
    else:
        tgt = ex.target(lk, lk, a, b, c)
    d = np.asarray(pol.with_params(new).log_probs_all()).reshape(B, st.K) - tgt
    return d.max(axis=-1) - d.min(axis=-1)


def _result(st, pol, theta, method, loss, exact, nit, nq, fitter, ex, status, message, hist=None):
    p = pol.with_params(theta)
    lp = np.asarray(p.log_probs_all())
    shape = (lambda v: v.reshape(st.bshape)[()] if st.bshape == () else v.reshape(st.bshape))
    return ApproxResult(
        policy=p, log_policy=lp, n_queries=int(nq),
        n_queries_per_context=shape(fitter.nq.copy()),
        exploitability=None if ex is None else shape(np.asarray(ex)),
        nit=nit, status=status, message=message, method=method,
        loss=None if exact else loss, exact=bool(exact),
        beta=shape(st.beta.copy()), eta=shape(st.eta.copy()), history=hist)
