"""Matrix-free preference operators: ``g(pi) = P pi`` when ``K`` is too large for a ``K x K``
matrix.

A :class:`PreferenceOperator` stands for a preference matrix ``P`` (``P[i, j] = P(y_i > y_j)``
in [0, 1], ``P + P^T = 1``) without storing it. Every solver (:func:`nashmp.solve`) and metric
(:mod:`nashmp.metrics`) accepts one wherever it accepts a dense ``P``.

Implementations (all float32 and float64; all antisymmetric by construction except
:class:`Dense`, whose matrix is checked):

=====================  ====================================================  ==========  =======
operator               ``P[i, j]``                                           ``g`` cost  memory
=====================  ====================================================  ==========  =======
:class:`Dense`         a given matrix, shared ``(K, K)`` or per game         ``K^2``     ``K^2``
:class:`PackedDense`   strict upper triangle stored, ``P[j, i] = 1-P[i, j]``  ``K^2``     ``K^2/2``
:class:`LowRankSkew`   ``1/2 + u_i.v_j - v_i.u_j``                           ``K r``     ``K r``
:class:`Embedding`     ``sigma(e_i^T R e_j)``, ``R`` skew-symmetric          ``K^2 d``   ``K d``
:class:`BradleyTerry`  ``sigma(s_i - s_j)``                                  ``K^2``     ``K``
:class:`PairFunction`  ``sigma(s(i, j))`` or ``s(i, j)`` for a Numba function ``K^2``     ``K d``
=====================  ====================================================  ==========  =======

The tiled operators (embedding, Bradley-Terry, pair functions) follow the flash-attention
pattern: column tiles are streamed and ``sigma(.) pi_j`` is accumulated in registers; nothing of
size ``K x K`` is ever allocated.

Query accounting: ``n_applications`` counts calls of :meth:`~PreferenceOperator.apply` and
:meth:`~PreferenceOperator.mirror_step`, ``n_queries`` the policies evaluated (one preference
query per policy, the paper's unit); :meth:`~PreferenceOperator.reset_counts` clears both.
"""
from __future__ import annotations

import copy
import numbers

import numpy as np

from . import _backend
from ._kernels import _check, _ptr as _cptr
from ._validation import as_float_array, as_scalar, prepare_out

__all__ = ["PreferenceOperator", "Dense", "PackedDense", "LowRankSkew", "Embedding",
           "BradleyTerry", "PairFunction", "pair_function", "as_operator", "is_operator"]

_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)
TODENSE_MAX_K = 8192
_NONFINITE = -5


def _nbo():
    from . import _numba_operators  # noqa: PLC0415  (imports numba: lazy)
    return _numba_operators


def _ck():
    from . import _cuda_kernels  # noqa: PLC0415  (imports numba-cuda: lazy)
    return _cuda_kernels


def _dtype_of(dtype):
    dt = np.dtype(dtype)
    if dt not in (_F64, _F32):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _cstatus(st, what):
    _check(st, what, " (and every prox-step row needs an entry above -inf)")


_FUSED_BAD = ("log_pi, log_ref and pi_for_g must not contain NaN or +inf, a coefficient times "
              "-inf must not give +inf, and every row of z needs an entry above -inf")


def _sigmoid(x):
    """Logistic function without overflow (float64)."""
    x = np.asarray(x, dtype=np.float64)
    t = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, t) / (1.0 + t)


def _finite_array(x, name, *, ndim=None, dtype=None):
    a = as_float_array(x, name)
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must not contain NaN or inf")
    return a


def is_operator(P) -> bool:
    """True for a :class:`PreferenceOperator`."""
    return isinstance(P, PreferenceOperator)


def as_operator(P, *, antisymmetrize=False):
    """``P`` itself if it is an operator, else :class:`Dense` ``(P)``."""
    return P if is_operator(P) else Dense(P, antisymmetrize=antisymmetrize)


def broadcast_games(batch_shape, bshape):
    """The flat index, in a batch of games ``batch_shape``, of the game each row of the broadcast
    batch ``bshape`` (flattened) uses."""
    m = int(np.prod(batch_shape, dtype=np.int64))
    return np.broadcast_to(np.arange(m).reshape(batch_shape), bshape).reshape(-1)


class PreferenceOperator:
    """Protocol (and base class) of a preference operator ``g(pi) = P pi``.

    Attributes
    ----------
    K : int
        Number of actions.
    shape : tuple
        ``batch_shape + (K, K)``.
    dtype : numpy.dtype
        float32 or float64: the dtype of the stored data and of the computation.
    batch_shape : tuple
        ``()`` for one game shared by every policy of a batch; ``(B,)`` (any shape) for one game
        per batch element (:class:`Dense` only).
    n_applications, n_queries : int
        Calls of ``apply``/``mirror_step``, and policies evaluated (preference queries).

    Subclasses implement ``_apply(pi2d, backend)`` (``pi2d`` a C-contiguous ``(B, K)`` array of
    ``dtype``, returns ``(B, K)`` float64), ``entries``, ``check`` and may override
    ``_fused`` (one native call per prox step). The ``"cuda"`` backend needs ``_cuda_kind`` (the
    name of the operator's numba-cuda kernel in ``nashmp._cuda_kernels``) and ``_cuda_arrays()``
    (the host arrays that kernel takes); they are copied to the device once, on first use (an
    operator's data is not meant to change after construction).
    """

    backends = ("c", "numba", "numpy", "cuda")
    _native_c = False       # True: C apply and fused kernels that detect NaN/inf themselves
    _c_double_rows = False  # True: the C apply of a float32 operator takes float64 pi as it is
    _cuda_kind = None       # numba-cuda kernel of the operator (None: no CUDA backend)

    def __init__(self, K, dtype, batch_shape=()):
        self.K = int(K)
        self.dtype = _dtype_of(dtype)
        self.batch_shape = tuple(batch_shape)
        self.n_applications = 0
        self.n_queries = 0
        self._cuda_cache = None

    # -- protocol -----------------------------------------------------------------------------

    @property
    def shape(self):
        return self.batch_shape + (self.K, self.K)

    @property
    def ndim(self):
        return len(self.shape)

    def reset_counts(self):
        """Clear ``n_applications`` and ``n_queries``."""
        self.n_applications = 0
        self.n_queries = 0

    def _take(self, games, shape=None):
        """This operator restricted to its flat games ``games`` (index array, repeats allowed),
        as batch ``shape`` (default ``(len(games),)``): counters at 0, the data not re-checked.
        Only :class:`Dense` carries batch dims."""
        raise TypeError(f"a batched {type(self).__name__} (batch_shape {self.batch_shape}) cannot "
                        "be restricted to a subset of its games; only Dense operators carry batch "
                        "dims")

    def __repr__(self):
        return f"{type(self).__name__}(K={self.K}, dtype={self.dtype.name}" + \
            (f", batch_shape={self.batch_shape})" if self.batch_shape else ")")

    def _backend(self, backend):
        be = _backend.resolve(backend)
        if be == "cuda" and self._cuda_kind is None:
            raise RuntimeError(f"{type(self).__name__} has no CUDA kernel (backend='cuda'); use "
                               "backend='c', 'numba' or 'numpy'")
        return be

    def _cuda_arrays(self):  # pragma: no cover - abstract for operators with a CUDA kernel
        raise NotImplementedError

    def _cuda_data(self, rows):
        """The operator's arrays on the device (copied on first use, then reused), for ``rows``
        policies."""
        self._cuda_check_rows(rows)
        if self._cuda_cache is None:
            self._cuda_cache = _ck().operator_data(self._cuda_arrays())
        return self._cuda_cache

    def _cuda_check_rows(self, rows):
        """Raise ValueError when the CUDA kernel cannot serve ``rows`` policies (a batched
        operator: one game per policy or a shared game)."""

    def _rows(self, pi, name="pi", check=True, dtype=None):
        """pi (..., K) -> (bshape, (B, K) C-contiguous array of the operator's dtype, or of
        ``dtype``).

        ``check=False`` skips the NaN/inf scan (the C kernels report non-finite input
        themselves: one pass less over the data)."""
        pi = as_float_array(pi, name)
        if pi.shape[-1] != self.K:
            raise ValueError(f"{name} must have {self.K} actions on its last axis, got shape "
                             f"{pi.shape}")
        try:
            bshape = np.broadcast_shapes(self.batch_shape, pi.shape[:-1])
        except ValueError:
            raise ValueError(f"batch dimensions of the operator {self.batch_shape} and {name} "
                             f"{pi.shape[:-1]} do not broadcast") from None
        if check and not np.isfinite(pi).all():
            raise ValueError(f"{name} must not contain NaN or inf")
        rows = np.ascontiguousarray(np.broadcast_to(pi, bshape + (self.K,)).reshape(-1, self.K),
                                    dtype=self.dtype if dtype is None else dtype)
        return bshape, rows, pi.dtype

    def apply(self, pi, *, out=None, backend="auto"):
        """``g(pi) = P pi`` over the last axis (one preference query per policy).

        Parameters
        ----------
        pi : array_like, shape (..., K)
            Policies (probabilities). Computed in the operator's dtype (except the C kernel of
            a float32 ``LowRankSkew``, which reads a float64 ``pi`` as it is and returns
            float64 ``g``, as its fused steps do).
        out : ndarray, shape (..., K), optional
        backend : {"auto", "c", "numba", "numpy", "cuda"}
            ``"cuda"``: the operator's numba-cuda kernel (``pi`` copied to the device, ``g``
            back; the operator's data stays on the device between calls).

        Returns
        -------
        ndarray, shape (..., K)
            float32 when both the operator and ``pi`` are float32, else float64.
        """
        be = self._backend(backend)
        native = be == "c" and self._native_c
        f64_rows = native and self._c_double_rows and self.dtype == _F32 and \
            np.asarray(pi).dtype == _F64          # no conversion of pi to float32 and back
        bshape, rows, pdt = self._rows(pi, check=not native, dtype=_F64 if f64_rows else None)
        odt = _F32 if (self.dtype == _F32 and pdt == _F32) else _F64
        res, work = prepare_out(out, bshape + (self.K,), odt)
        g = (_ck().operator_apply(self._cuda_kind, self._cuda_data(rows.shape[0]), rows)
             if be == "cuda" else self._apply(rows, be))
        if not native and not np.isfinite(g).all():
            raise ValueError("the operator's data and pi must not contain NaN or inf")
        self.n_applications += 1
        self.n_queries += rows.shape[0]
        work[...] = g.reshape(work.shape)
        if work is not res:
            res[...] = work
        return res

    def __matmul__(self, pi):
        return self.apply(pi)

    def _apply(self, pi2d, backend):  # pragma: no cover - abstract
        raise NotImplementedError

    def entries(self, i, j):
        """``P[..., i, j]`` at integer index arrays ``i``, ``j`` (broadcast), float64.

        For a batched operator the batch dims come first: shape ``batch_shape + broadcast``.
        """
        i, j = self._index(i, j)
        return self._entries(i, j)

    def _index(self, i, j):
        i = np.asarray(i)
        j = np.asarray(j)
        for name, a in (("i", i), ("j", j)):
            if a.dtype.kind not in "iu":
                raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
            if a.size and (a.min() < 0 or a.max() >= self.K):
                raise IndexError(f"{name} must be in [0, {self.K}), got range "
                                 f"[{a.min()}, {a.max()}]")
        i, j = np.broadcast_arrays(i.astype(np.int64), j.astype(np.int64))
        return i, j

    def todense(self, *, max_K=TODENSE_MAX_K):
        """The represented matrix, shape ``batch_shape + (K, K)`` (small K only).

        Raises ValueError above ``max_K`` actions (the point of an operator is not to do this).
        """
        if self.K > max_K:
            raise ValueError(f"todense() of a K={self.K} operator would allocate a K x K matrix "
                             f"({self.K ** 2 * self.dtype.itemsize / 1e9:.3g} GB); the limit is "
                             f"max_K={max_K}")
        i, j = np.broadcast_arrays(np.arange(self.K)[:, None], np.arange(self.K)[None, :])
        return self._entries(i, j).astype(self.dtype)

    def check(self):
        """Cheap validity check (entries in [0, 1], finite data); returns ``self``.

        Antisymmetry holds by construction (except for :class:`Dense`, whose check verifies it).
        """
        return self

    # -- fused prox step ------------------------------------------------------------------------

    def mirror_step(self, log_pi, log_ref, pi_for_g, a, b, c, *, out=None, pi_out=None,
                    backend="auto"):
        """Fused prox step ``normalize(a log_pi + b log_ref + c g(pi_for_g))`` (one query).

        Parameters
        ----------
        log_pi, log_ref : array_like, shape (..., K)
            float64 log-policies (``log_ref`` may be None when ``b == 0``).
        pi_for_g : array_like, shape (..., K)
            The policy whose ``g`` enters the step (probabilities).
        a, b, c : float
            Finite coefficients; a zero coefficient makes its term exactly 0.
        out : ndarray of float64, shape (..., K), optional
        pi_out : ndarray of float64, shape (..., K), optional
            Receives ``exp(out)`` (the policy the next step queries), computed in the same pass.
        backend : {"auto", "c", "numba", "numpy", "cuda"}

        Returns
        -------
        ndarray of float64, shape (..., K)
            ``out``. The C backend does it in one native call per step for the tiled and low-rank
            operators (``nashmp_*_mirror_step_*``); the CUDA backend computes ``g`` into a float64
            device buffer and normalizes it (with ``exp`` into ``pi_out``) in a second kernel,
            with one copy in and out per call; otherwise ``apply`` then
            :func:`nashmp.mirror_step`.
        """
        a = as_scalar(a, "a")
        b = as_scalar(b, "b")
        c = as_scalar(c, "c")
        be = self._backend(backend)
        native = be == "c" and self._native_c      # the kernel reports NaN / +inf itself
        # the native fused kernels take pi in float64 (a float32 operator rounds it inside the
        # kernel where it multiplies): no round trip through the operator's dtype
        bshape, pg, _ = self._rows(pi_for_g, "pi_for_g", check=not native,
                                   dtype=np.float64 if native else None)
        pg = pg.astype(np.float64, copy=False)
        lp, lr = self._logs(log_pi, log_ref, a, b, bshape, check=not native)
        outs = self._step_outs(out, pi_out, bshape, pi_out is not None)
        if self._fused(be, pg, lp, lr, a, b, c, outs[1], outs[3]):
            raise ValueError(_FUSED_BAD)
        return self._step_done(pg.shape[0], outs)

    def _logs(self, log_pi, log_ref, a, b, bshape, check):
        """The (B, K) float64 rows of log_pi and log_ref (None when their coefficient is 0);
        check: reject NaN and +inf here (else the native kernel reports them)."""
        lp = self._vec(log_pi, "log_pi", bshape) if a != 0.0 else None
        lr = self._vec(log_ref, "log_ref", bshape) if b != 0.0 else None
        for name, v in (("log_pi", lp), ("log_ref", lr)):
            if check and v is not None and (np.isnan(v).any() or np.isposinf(v).any()):
                raise ValueError(f"{name} must not contain NaN or +inf")
        return lp, lr

    def _step_outs(self, out, pi_out, bshape, want_pi):
        """(res, w, pres, pw, works): the results of a prox step and the (B, K) C-contiguous
        arrays the kernels write (pw None unless want_pi)."""
        shape, n = bshape + (self.K,), int(np.prod(bshape, dtype=np.int64))
        res, work = prepare_out(out, shape, _F64)
        pres = pwork = pw = None
        if want_pi:
            pres, pwork = prepare_out(pi_out, shape, _F64, "pi_out")
            pw = pwork.reshape(n, self.K)
        return res, work.reshape(n, self.K), pres, pw, (work, pwork)

    def _step_done(self, B, outs, count=True):
        """Counts the query and copies the kernels' arrays into non-contiguous results."""
        res, _, pres, _, (work, pwork) = outs
        if count:
            self.n_applications += 1
            self.n_queries += B
        if work is not res:
            res[...] = work
        if pres is not None and pwork is not pres:
            pres[...] = pwork
        return res

    def _vec(self, x, name, bshape):
        x = as_float_array(x, name).astype(np.float64, copy=False)
        if x.shape[-1] != self.K:
            raise ValueError(f"{name} must have {self.K} actions on its last axis, got shape "
                             f"{x.shape}")
        try:
            return np.ascontiguousarray(np.broadcast_to(x, bshape + (self.K,)).reshape(-1, self.K))
        except ValueError:
            raise ValueError(f"{name} of shape {x.shape} does not broadcast to the batch "
                             f"{bshape}") from None

    def _fused(self, be, pg, lp, lr, a, b, c, w, pw):
        """Default fused step: g by ``_apply``, then the epilogue. Returns 0 or -5."""
        if be == "cuda":
            return _ck().operator_mirror_step(self._cuda_kind, self._cuda_data(pg.shape[0]), pg,
                                              lp, lr, a, b, c, w, pw)
        g = self._apply(pg.astype(self.dtype, copy=False), be)
        if not np.isfinite(g).all():
            return _NONFINITE
        return _finish(be, lp, lr, g, a, b, c, w, pw)


def _finish(be, lp, lr, g, a, b, c, w, pw):
    """The epilogue on every backend: w = normalize(a lp + b lr + c g), pw = exp(w)."""
    B, K = g.shape
    if be == "numba":
        z = np.zeros((1, 1))
        return _nbo().fused_finish(lp if lp is not None else z, lr if lr is not None else z,
                                   np.ascontiguousarray(g, dtype=np.float64), a, b, c, w,
                                   pw if pw is not None else np.zeros((0, 0)))
    from ._kernels import mirror_step
    try:
        mirror_step(lp if lp is not None else np.zeros((1, K)), lr, g, a, b, c, out=w,
                    backend=be)
    except ValueError:
        return _NONFINITE
    if pw is not None:
        np.exp(w, out=pw)
    return 0


# ---------------------------------------------------------------------------------------------
# dense
# ---------------------------------------------------------------------------------------------

class Dense(PreferenceOperator):
    """A dense preference matrix, shared ``(K, K)`` or one per game ``(..., K, K)``.

    The matrix is checked like the dense solvers check it (``P + P^T = 1``, entries in [0, 1];
    ``antisymmetrize=True`` uses ``(P + 1 - P^T)/2``). ``apply`` is
    :func:`nashmp.preference_apply`.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> op = nashmp.Dense(np.array([[.5, 1, 0], [0, .5, 1], [1, 0, .5]]))
    >>> op.apply(np.ones(3) / 3).round(6).tolist()
    [0.5, 0.5, 0.5]
    """

    _cuda_kind = "dense"

    def __init__(self, P, *, antisymmetrize=False, atol=1e-6):
        from ._games import check_preference
        P = check_preference(P, antisymmetrize=antisymmetrize, atol=atol)
        super().__init__(P.shape[-1], P.dtype, P.shape[:-2])
        self.P = P

    def _cuda_arrays(self):
        return (self.P.reshape(-1, self.K, self.K),)

    def _cuda_check_rows(self, rows):
        m = self.P[..., 0, 0].size
        if m not in (1, rows):
            raise ValueError(f"batch dimensions of the operator {self.batch_shape} and the "
                             f"policies ({rows} rows) do not match")

    def _apply(self, pi2d, backend):
        from ._kernels import preference_apply
        P = self.P.reshape((-1, self.K, self.K))
        g = preference_apply(P if P.shape[0] > 1 else P[0], pi2d, backend=backend)
        return np.asarray(g, dtype=np.float64).reshape(-1, self.K)

    def _per_row(self, pi):
        """This operator, or, when the policies ``pi`` broadcast against several matrices
        (batch dims other than the operator's), a copy holding one matrix per broadcast row
        (counters at 0): the row kernels and the CUDA operator take one matrix per row or one
        shared matrix."""
        m = int(np.prod(self.batch_shape, dtype=np.int64))
        try:
            bshape = np.broadcast_shapes(self.batch_shape, np.shape(pi)[:-1])
        except ValueError:
            return self                      # the base methods report it
        if m <= 1 or bshape == self.batch_shape:
            return self
        return self._take(broadcast_games(self.batch_shape, bshape), bshape)

    def _take(self, games, shape=None):
        op = copy.copy(self)
        P = self.P.reshape(-1, self.K, self.K)[games]
        op.P = P if shape is None else P.reshape(tuple(shape) + (self.K, self.K))
        op.batch_shape = op.P.shape[:-2]
        op._cuda_cache = None
        op.reset_counts()
        return op

    def _count(self, op):
        if op is not self:
            self.n_applications += op.n_applications
            self.n_queries += op.n_queries

    def mirror_step(self, log_pi, log_ref, pi_for_g, a, b, c, *, out=None, pi_out=None,
                    backend="auto"):
        op = self._per_row(pi_for_g)
        if op is not self:
            res = op.mirror_step(log_pi, log_ref, pi_for_g, a, b, c, out=out, pi_out=pi_out,
                                 backend=backend)
            self._count(op)
            return res
        return super().mirror_step(log_pi, log_ref, pi_for_g, a, b, c, out=out, pi_out=pi_out,
                                   backend=backend)

    def apply(self, pi, *, out=None, backend="auto"):
        from ._kernels import preference_apply
        be = self._backend(backend)
        if be == "cuda":                     # P stays on the device between calls
            op = self._per_row(pi)
            if op is not self:
                res = op.apply(pi, out=out, backend=be)
                self._count(op)
                return res
            return super().apply(pi, out=out, backend=be)
        pi = as_float_array(pi, "pi")
        if not np.isfinite(pi).all():
            raise ValueError("pi must not contain NaN or inf")
        g = preference_apply(self.P, pi, out=out, backend=be)
        self.n_applications += 1
        self.n_queries += int(np.prod(g.shape[:-1], dtype=np.int64))
        return g

    def _entries(self, i, j):
        return self.P[..., i, j].astype(np.float64)

    def todense(self, *, max_K=TODENSE_MAX_K):
        return self.P.copy()

    def check(self):
        from ._games import check_preference
        check_preference(self.P)
        return self


# ---------------------------------------------------------------------------------------------
# packed half matrix
# ---------------------------------------------------------------------------------------------

def _pk_off(i, K):
    return i * K - i * (i + 1) // 2


class PackedDense(PreferenceOperator):
    """Dense preferences stored as the strict upper triangle (half the bytes per query).

    Since ``P + P^T = 1``, ``P[i, j]`` for ``i < j`` determines ``P[j, i] = 1 - P[i, j]`` and
    ``P[i, i] = 1/2``. ``packed`` holds the ``K(K-1)/2`` values row by row:
    ``P[i, j]`` at ``i*K - i*(i+1)/2 + (j - i - 1)``. Build one with :meth:`from_dense`.
    One pass over the packed values per query: ``g_i += P[i, j] pi_j``, ``g_j += (1 - P[i, j])
    pi_i``.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> op = nashmp.PackedDense.from_dense(np.array([[.5, 1, 0], [0, .5, 1], [1, 0, .5]]))
    >>> op.packed.tolist(), op.apply([1.0, 0, 0]).tolist()
    ([1.0, 0.0, 1.0], [0.5, 0.0, 1.0])
    """

    _native_c = True

    def __init__(self, packed, K, *, dtype=None, check=True):
        if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 1:
            raise ValueError(f"K must be an integer >= 1, got {K!r}")
        K = int(K)
        if K == 1 and (packed is None or np.size(packed) == 0):
            pdt = getattr(packed, "dtype", None)
            Pu = np.zeros(0, dtype=_dtype_of(dtype or (pdt if pdt in (_F64, _F32) else _F64)))
        else:
            Pu = np.asarray(packed)
            if Pu.dtype.kind in "iu":
                Pu = Pu.astype(np.float64)
            if Pu.dtype not in (_F64, _F32):
                raise TypeError(f"packed must be float32 or float64, got dtype {Pu.dtype}")
            if Pu.ndim != 1 or Pu.size != K * (K - 1) // 2:
                raise ValueError(f"packed must be 1-D with K(K-1)/2 = {K * (K - 1) // 2} values, "
                                 f"got shape {Pu.shape}")
        Pu = np.ascontiguousarray(Pu, dtype=_dtype_of(dtype) if dtype is not None else Pu.dtype)
        super().__init__(K, Pu.dtype)
        self.packed = Pu
        if check:
            self.check()

    _cuda_kind = "packed"

    def _cuda_arrays(self):
        return (self.packed if self.packed.size else np.zeros(1, self.dtype),)

    @classmethod
    def from_dense(cls, P, *, dtype=None, atol=1e-6):
        """Pack a dense ``(K, K)`` preference matrix (checked: ``P + P^T = 1``)."""
        from ._games import check_preference
        P = check_preference(P, atol=atol)
        if P.ndim != 2:
            raise ValueError(f"P must be one (K, K) matrix, got shape {P.shape}")
        K = P.shape[0]
        Pu = np.empty(K * (K - 1) // 2, dtype=dtype or P.dtype)
        for i in range(K - 1):                     # row by row: no K^2 index arrays
            o = _pk_off(i, K)
            Pu[o:o + K - 1 - i] = P[i, i + 1:]
        return cls(Pu, K, check=False)

    def check(self):
        if self.packed.size:
            lo, hi = float(self.packed.min()), float(self.packed.max())
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise ValueError("packed must not contain NaN or inf")
            if lo < 0 or hi > 1:
                raise ValueError(f"packed entries must be in [0, 1], got range [{lo:.3g}, "
                                 f"{hi:.3g}]")
        return self

    def _entries(self, i, j):
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        idx = np.where(lo < hi, _pk_off(lo, self.K) + hi - lo - 1, 0)
        v = self.packed[idx].astype(np.float64) if self.packed.size else np.zeros(i.shape)
        return np.where(i == j, 0.5, np.where(i < j, v, 1.0 - v))

    def _apply(self, pi2d, backend):
        B, K = pi2d.shape
        if backend == "c":
            ffi, lib = _backend.c_lib()
            out = np.empty((B, K), self.dtype)
            fn = lib.nashmp_packed_apply_f64 if self.dtype == _F64 else lib.nashmp_packed_apply_f32
            _cstatus(fn(_cptr(ffi, self.packed) if self.packed.size else ffi.NULL,
                        _cptr(ffi, pi2d), K, B, K, _cptr(ffi, out), K), "packed and pi")
            return out.astype(np.float64, copy=False)
        out = np.empty((B, K))
        if backend == "numba":
            _nbo().packed_apply(self.packed if self.packed.size else np.zeros(1, self.dtype),
                                pi2d, out)
            return out
        x = pi2d.astype(np.float64)
        out[:] = 0.5 * x
        for i in range(K - 1):                        # NumPy reference: one stored row at a time
            o = _pk_off(i, K)
            row = self.packed[o:o + K - 1 - i].astype(np.float64)
            out[:, i] += x[:, i + 1:] @ row
            out[:, i + 1:] += np.outer(x[:, i], 1.0 - row)
        return out

    def _fused(self, be, pg, lp, lr, a, b, c, w, pw):
        if be != "c":
            return super()._fused(be, pg, lp, lr, a, b, c, w, pw)
        ffi, lib = _backend.c_lib()
        B, K = pg.shape
        fn = (lib.nashmp_packed_mirror_step_f64 if self.dtype == _F64
              else lib.nashmp_packed_mirror_step_f32)
        return fn(_cptr(ffi, self.packed) if self.packed.size else ffi.NULL, _cptr(ffi, pg), K,
                  _cptr(ffi, lp), K if lp is not None else 0, _cptr(ffi, lr),
                  K if lr is not None else 0, B, K, a, b, c, _cptr(ffi, w), K, _cptr(ffi, pw), K)


# ---------------------------------------------------------------------------------------------
# low rank
# ---------------------------------------------------------------------------------------------

class LowRankSkew(PreferenceOperator):
    """Low-rank skew preferences ``P = 1/2 + U V^T - V U^T`` (``O(K r)`` per query).

    Parameters
    ----------
    U, V : array_like, shape (K, r)
        Factors (float32 or float64; stored side by side in one ``(K, 2r)`` array).
    check : bool
        Run :meth:`check` (entries in [0, 1]) at construction.

    Notes
    -----
    ``g(pi) = sum(pi)/2 + U (V^T pi) - V (U^T pi)``: two streaming passes over the factors, the
    first for the moments ``(V^T pi, U^T pi, sum(pi))`` (:meth:`moments`). :meth:`mirror_step`
    takes the moments of the policy it queries (``moments=``) instead of the policy, and returns
    those of its new policy (``moments_out=``), so that a chain of prox steps reads the factors
    once per query (the C solve loop does this).
    Entries stay in [0, 1] iff ``|u_i.v_j - v_i.u_j| <= 1/2`` for all pairs. :meth:`check`
    certifies it with the bound ``|u_i.v_j - v_i.u_j| <= max_i |u_i| max_j |v_j| +
    max_i |v_i| max_j |u_j|`` (``O(K r)``); when the bound fails it computes the exact
    maximum for ``K <= 4096`` and raises otherwise (pass ``check=False`` to skip).

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> U = np.array([[0.25], [0.0]]); V = np.array([[0.0], [1.0]])
    >>> nashmp.LowRankSkew(U, V).todense().tolist()
    [[0.5, 0.75], [0.25, 0.5]]
    """

    _native_c = True
    _c_double_rows = True

    EXACT_CHECK_MAX_K = 4096

    def __init__(self, U, V, *, dtype=None, check=True):
        U = _finite_array(U, "U", ndim=2)
        V = _finite_array(V, "V", ndim=2)
        if U.shape != V.shape:
            raise ValueError(f"U and V must have the same shape (K, r), got {U.shape} and "
                             f"{V.shape}")
        dt = _dtype_of(dtype) if dtype is not None else (
            _F32 if U.dtype == _F32 and V.dtype == _F32 else _F64)
        K, r = U.shape
        super().__init__(K, dt)
        self.r = r
        self.W = np.empty((K, 2 * r), dt)
        self.W[:, :r] = U
        self.W[:, r:] = V
        if check:
            self.check()

    _cuda_kind = "lowrank"

    def _cuda_arrays(self):
        return (np.ascontiguousarray(self.U), np.ascontiguousarray(self.V))

    @property
    def U(self):
        return self.W[:, :self.r]

    @property
    def V(self):
        return self.W[:, self.r:]

    def check(self):
        nu = np.sqrt(np.einsum("ij,ij->i", self.U, self.U, dtype=np.float64))
        nv = np.sqrt(np.einsum("ij,ij->i", self.V, self.V, dtype=np.float64))
        bound = float(nu.max() * nv.max() + nv.max() * nu.max())
        if bound <= 0.5:
            return self
        if self.K > self.EXACT_CHECK_MAX_K:
            raise ValueError(f"LowRankSkew: cannot certify entries in [0, 1] at K={self.K}: the "
                             f"bound max|u| max|v| * 2 = {bound:.3g} exceeds 1/2; scale U, V down "
                             "or pass check=False")
        S = self.U.astype(np.float64) @ self.V.T.astype(np.float64)
        dev = float(np.abs(S - S.T).max())
        if dev > 0.5 + 1e-12:
            raise ValueError(f"LowRankSkew: entries of 1/2 + U V^T - V U^T leave [0, 1] "
                             f"(max |u_i.v_j - v_i.u_j| = {dev:.3g} > 1/2)")
        return self

    def _entries(self, i, j):
        U = self.U.astype(np.float64)
        V = self.V.astype(np.float64)
        return 0.5 + np.einsum("...k,...k->...", U[i], V[j]) - \
            np.einsum("...k,...k->...", V[i], U[j])

    def _apply(self, pi2d, backend):
        B, K = pi2d.shape
        if backend == "c":
            ffi, lib = _backend.c_lib()
            mixed = self.dtype == _F32 and pi2d.dtype == _F64   # float factors, double pi and g
            out = np.empty((B, K), _F64 if mixed else self.dtype)
            fn = lib.nashmp_lowrank_apply_f64 if self.dtype == _F64 else \
                lib.nashmp_lowrank_apply_f32d if mixed else lib.nashmp_lowrank_apply_f32
            Up = _cptr(ffi, self.W)
            Vp = (ffi.cast("double *", Up) + self.r) if self.dtype == _F64 else \
                (ffi.cast("float *", Up) + self.r)
            _cstatus(fn(Up, Vp, 2 * self.r, self.r, _cptr(ffi, pi2d), K, B, K,
                        _cptr(ffi, out), K), "U, V and pi")
            return out.astype(np.float64, copy=False)
        out = np.empty((B, K))
        if backend == "numba":
            _nbo().lowrank_apply(self.U, self.V, pi2d, out)
            return out
        U = self.U.astype(np.float64)
        V = self.V.astype(np.float64)
        x = pi2d.astype(np.float64)
        out[:] = 0.5 * x.sum(axis=1, keepdims=True) + (x @ V) @ U.T - (x @ U) @ V.T
        return out

    def _fused(self, be, pg, lp, lr, a, b, c, w, pw):
        if be != "c":
            return super()._fused(be, pg, lp, lr, a, b, c, w, pw)
        ffi, lib = _backend.c_lib()
        B, K = pg.shape
        f64 = self.dtype == _F64
        fn = lib.nashmp_lowrank_mirror_step_f64 if f64 else lib.nashmp_lowrank_mirror_step_f32
        Up = _cptr(ffi, self.W)
        Vp = ffi.cast("double *" if f64 else "float *", Up) + self.r
        return fn(Up, Vp, 2 * self.r, self.r, _cptr(ffi, pg), K, _cptr(ffi, lp),
                  K if lp is not None else 0, _cptr(ffi, lr), K if lr is not None else 0, B, K,
                  a, b, c, _cptr(ffi, w), K, _cptr(ffi, pw), K)

    _MOMENTS_ROWS = 1 << 16     # rows of the factors per block of moments() (float64 copy)

    def moments(self, pi):
        """Moments ``(V^T pi, U^T pi, sum(pi))`` of policies ``pi`` (..., K): float64 array of
        shape ``(..., 2r+1)``, in the layout :meth:`mirror_step` takes as ``moments``. Computed
        in float64 over blocks of rows (no float64 copy of the factors)."""
        pi = as_float_array(pi, "pi").astype(np.float64, copy=False)
        if pi.shape[-1] != self.K:
            raise ValueError(f"pi must have {self.K} actions on its last axis, got shape "
                             f"{pi.shape}")
        if not np.isfinite(pi).all():
            raise ValueError("pi must not contain NaN or inf")
        x = pi.reshape(-1, self.K)
        r, acc = self.r, np.zeros((x.shape[0], 2 * self.r))
        for i in range(0, self.K, self._MOMENTS_ROWS):
            blk = slice(i, i + self._MOMENTS_ROWS)
            acc += x[:, blk] @ self.W[blk].astype(np.float64)
        q = np.concatenate([acc[:, r:], acc[:, :r], x.sum(axis=1, keepdims=True)], axis=1)
        return q.reshape(pi.shape[:-1] + (2 * r + 1,))

    def _g_from_moments(self, q):
        """g = S/2 + U qv - V qu for moments q (B, 2r+1): float64 (B, K), one pass over the
        factors (the per-row dots in the operator's dtype, as the C kernel computes them)."""
        r = self.r
        coef = np.concatenate([q[:, :r], -q[:, r:2 * r]], axis=1).T.astype(self.dtype)
        g = (self.W @ coef).T.astype(np.float64)
        g += 0.5 * q[:, 2 * r:]
        return g

    def mirror_step(self, log_pi, log_ref, pi_for_g, a, b, c, *, out=None, pi_out=None,
                    backend="auto", moments=None, moments_out=None):
        """:meth:`PreferenceOperator.mirror_step`, with the low-rank moments.

        Parameters
        ----------
        moments : array_like, shape (..., 2r+1), optional
            The moments (:meth:`moments`) of the policy queried, used instead of ``pi_for_g``
            (which may then be None): the step skips the pass that computes them.
        moments_out : ndarray of float64, shape (..., 2r+1), optional
            Receives the moments of the new policy ``exp(out)``: the C backend accumulates them
            in the same pass over the factors (equal to :meth:`moments` of ``pi_out`` up to
            rounding); other backends compute them from it.
        """
        if moments is None and moments_out is None:
            if pi_for_g is None:
                raise ValueError("pi_for_g is required unless moments are given")
            return super().mirror_step(log_pi, log_ref, pi_for_g, a, b, c, out=out,
                                       pi_out=pi_out, backend=backend)
        a = as_scalar(a, "a")
        b = as_scalar(b, "b")
        c = as_scalar(c, "c")
        be = self._backend(backend)
        nq = 2 * self.r + 1
        shapes = []
        if moments is not None:
            moments = as_float_array(moments, "moments").astype(np.float64, copy=False)
            if moments.shape[-1] != nq:
                raise ValueError(f"moments must have 2r+1 = {nq} values on its last axis, got "
                                 f"shape {moments.shape}")
            shapes.append(moments.shape[:-1])
        elif pi_for_g is None:
            raise ValueError("pi_for_g is required unless moments are given")
        if pi_for_g is not None and moments is None:
            pi_for_g = as_float_array(pi_for_g, "pi_for_g")
            if pi_for_g.shape[-1] != self.K:
                raise ValueError(f"pi_for_g must have {self.K} actions on its last axis, got "
                                 f"shape {pi_for_g.shape}")
            shapes.append(pi_for_g.shape[:-1])
        for v in (log_pi if a != 0.0 else None, log_ref if b != 0.0 else None):
            if v is not None:
                shapes.append(np.shape(v)[:-1])
        try:
            bshape = np.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(f"batch dimensions do not broadcast: {shapes}") from None
        B = int(np.prod(bshape, dtype=np.int64))
        lp, lr = self._logs(log_pi, log_ref, a, b, bshape, check=be != "c")
        if moments is not None:
            qin = np.ascontiguousarray(np.broadcast_to(moments, bshape + (nq,)).reshape(B, nq))
            pg = None
        else:
            qin = None
            pg = np.ascontiguousarray(
                np.broadcast_to(pi_for_g, bshape + (self.K,)).reshape(B, self.K),
                dtype=np.float64)
        # pi_out is needed on the other backends to compute the new moments from
        outs = self._step_outs(out, pi_out, bshape,
                               pi_out is not None or (moments_out is not None and be != "c"))
        w, pw = outs[1], outs[3]
        qres = qwork = qo = None
        if moments_out is not None:
            qres, qwork = prepare_out(moments_out, bshape + (nq,), _F64, "moments_out")
            qo = qwork.reshape(B, nq)
        if be == "c":                                    # counts the query itself
            self._mirror_step_q(lp, lr, pg, qin, a, b, c, w, pw, qo)
            self._step_done(B, outs, count=False)
        else:
            if qin is not None:
                if not np.isfinite(qin).all():
                    raise ValueError("moments must not contain NaN or inf")
                g = self._g_from_moments(qin)
            else:
                if not np.isfinite(pg).all():
                    raise ValueError("pi_for_g must not contain NaN or inf")
                g = self._apply(pg.astype(self.dtype, copy=False), be)
            if _finish(be, lp, lr, g, a, b, c, w, pw):
                raise ValueError(_FUSED_BAD)
            if qo is not None:
                qo[...] = self.moments(pw)
            self._step_done(B, outs)
        if qres is not None and qwork is not qres:
            qres[...] = qwork
        return outs[0]

    def _mirror_step_q(self, lp, lr, pg, q_in, a, b, c, w, pw, q_out):
        """The C fused step with carried moments ``q = (V^T pi, U^T pi, sum pi)`` (``(B, 2r+1)``
        float64): from ``q_in`` (moments of ``pg``, which is then not read) when given, else from
        ``pg``; ``q_out`` receives the moments of ``pw = exp(w)``, so that chaining them reads the
        factors once per query (``nashmp_lowrank_mirror_step_q_*``). Internal to the operator
        solve loop: every array is a C-contiguous float64 ``(B, K)`` (or ``(B, 2r+1)``) array,
        ``lp``/``lr`` None when their coefficient is 0. Raises ValueError as ``mirror_step``."""
        ffi, lib = _backend.c_lib()
        B, K = w.shape
        nq = 2 * self.r + 1
        f64 = self.dtype == _F64
        fn = lib.nashmp_lowrank_mirror_step_q_f64 if f64 else \
            lib.nashmp_lowrank_mirror_step_q_f32
        Up = _cptr(ffi, self.W)
        Vp = ffi.cast("double *" if f64 else "float *", Up) + self.r
        st = fn(Up, Vp, 2 * self.r, self.r, _cptr(ffi, None if q_in is not None else pg), K,
                _cptr(ffi, q_in), nq, _cptr(ffi, lp), K if lp is not None else 0,
                _cptr(ffi, lr), K if lr is not None else 0, B, K, a, b, c, _cptr(ffi, w), K,
                _cptr(ffi, pw), K, _cptr(ffi, q_out), nq)
        if st == _NONFINITE:
            raise ValueError(_FUSED_BAD)
        _check(st, "the low-rank step's arguments")
        self.n_applications += 1
        self.n_queries += B


# ---------------------------------------------------------------------------------------------
# embeddings (tiled)
# ---------------------------------------------------------------------------------------------

class _Tiled(PreferenceOperator):
    """Shared machinery of the operators whose score is ``a_i . e_j`` (tiled kernels)."""

    _native_c = True

    def _scores_arrays(self):  # (A, E) float arrays of the operator's dtype, A = E Rs
        raise NotImplementedError

    def _entries(self, i, j):
        A, E = self._scores_arrays()
        s = np.einsum("...k,...k->...", A[i].astype(np.float64), E[j].astype(np.float64))
        return _sigmoid(s)

    def _apply(self, pi2d, backend):
        B, K = pi2d.shape
        if backend == "c":
            out = np.empty((B, K), self.dtype)
            _cstatus(self._c_apply(pi2d, out), "the embeddings and pi")
            return out.astype(np.float64, copy=False)
        A, E = self._scores_arrays()
        out = np.empty((B, K))
        if backend == "numba":
            _nbo().embedding_apply(A, E, pi2d, out)
            return out
        return _numpy_tiled(A, E, pi2d, out)


def _numpy_tiled(A, E, pi2d, out, tile_elems=1 << 22):
    """NumPy tiled reference: row tiles of S = A_t E^T (tile x K), sigma, times pi."""
    K = E.shape[0]
    A = A.astype(np.float64)
    E = E.astype(np.float64)
    x = pi2d.astype(np.float64)
    t = max(1, tile_elems // K)
    for i0 in range(0, K, t):
        S = A[i0:i0 + t] @ E.T
        out[:, i0:i0 + t] = x @ _sigmoid(S).T
    return out


class Embedding(_Tiled):
    """Embedding preferences ``P[i, j] = sigma(e_i^T R e_j)`` with ``R`` skew-symmetric.

    Parameters
    ----------
    E : array_like, shape (K, d)
        One embedding per action.
    R : array_like, shape (d, d)
        Skew-symmetric (``R + R^T = 0`` within ``atol`` times its largest entry; checked).
    link : {"logistic"}
        ``sigma(x) = 1 / (1 + exp(-x))``.
    dtype : float32 or float64, optional
        Defaults to float32 if both E and R are float32, else float64.

    Notes
    -----
    ``g(pi)_i = sum_j sigma(e_i^T R e_j) pi_j`` costs ``O(K^2 d)`` and ``O(K d)`` memory: the C
    kernel streams column tiles of ``E``, computes the scores of a 4-row x 8/16-column block in
    registers and accumulates ``sigma(s) pi_j`` into the rows and ``(1 - sigma(s)) pi_i`` into
    the columns (``P[j, i] = 1 - P[i, j]``), so each unordered pair costs one exp.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> E = np.array([[1.0, 0.0], [0.0, 1.0]]); R = np.array([[0.0, 2.0], [-2.0, 0.0]])
    >>> nashmp.Embedding(E, R).todense().round(4).tolist()
    [[0.5, 0.8808], [0.1192, 0.5]]
    """

    def __init__(self, E, R, *, link="logistic", dtype=None, atol=1e-6):
        if link != "logistic":
            raise ValueError(f"link must be 'logistic', got {link!r}")
        E = _finite_array(E, "E", ndim=2)
        R = _finite_array(R, "R", ndim=2)
        K, d = E.shape
        if R.shape != (d, d):
            raise ValueError(f"R must have shape ({d}, {d}) to match E of shape {E.shape}, got "
                             f"{R.shape}")
        Rf = R.astype(np.float64)
        dev = float(np.abs(Rf + Rf.T).max())
        scale = max(float(np.abs(Rf).max()), 1e-300)
        if dev > atol * scale and dev > 0:
            raise ValueError(f"R must be skew-symmetric (R + R^T = 0), max |R + R^T| = {dev:.3g}"
                             " (use (R - R.T) / 2)")
        dt = _dtype_of(dtype) if dtype is not None else (
            _F32 if E.dtype == _F32 and R.dtype == _F32 else _F64)
        super().__init__(K, dt)
        self.d = d
        self.link = link
        self.E = np.ascontiguousarray(E, dtype=dt)
        self.R = np.ascontiguousarray(0.5 * (Rf - Rf.T), dtype=dt)
        self._A = None

    _cuda_kind = "embedding"

    def _cuda_arrays(self):
        return (self.E, self.R)

    def _scores_arrays(self):
        if self._A is None:
            self._A = np.ascontiguousarray(self.E.astype(np.float64) @
                                           self.R.astype(np.float64), dtype=self.dtype)
        return self._A, self.E

    def check(self):
        if not (np.isfinite(self.E).all() and np.isfinite(self.R).all()):
            raise ValueError("E and R must be finite")
        return self

    def _c_apply(self, pi2d, out):
        ffi, lib = _backend.c_lib()
        B, K = pi2d.shape
        fn = lib.nashmp_embedding_apply_f64 if self.dtype == _F64 else \
            lib.nashmp_embedding_apply_f32
        return fn(_cptr(ffi, self.E), self.d, self.d, _cptr(ffi, self.R), 0, _cptr(ffi, pi2d), K,
                  B, K, _cptr(ffi, out), K)

    def _fused(self, be, pg, lp, lr, a, b, c, w, pw):
        if be != "c":
            return super()._fused(be, pg, lp, lr, a, b, c, w, pw)
        ffi, lib = _backend.c_lib()
        B, K = pg.shape
        fn = lib.nashmp_embedding_mirror_step_f64 if self.dtype == _F64 else \
            lib.nashmp_embedding_mirror_step_f32
        return fn(_cptr(ffi, self.E), self.d, self.d, _cptr(ffi, self.R), 0, _cptr(ffi, pg), K,
                  _cptr(ffi, lp), K if lp is not None else 0, _cptr(ffi, lr),
                  K if lr is not None else 0, B, K, a, b, c, _cptr(ffi, w), K, _cptr(ffi, pw), K)


class BradleyTerry(_Tiled):
    """Bradley-Terry preferences ``P[i, j] = sigma(s_i - s_j)`` from scores (transitive).

    ``O(K^2)`` per query in tiles, ``O(K)`` memory (the embedding kernel with
    ``e_i = (s_i, 1)``).

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> nashmp.BradleyTerry([0.0, np.log(3)]).todense().round(6).tolist()
    [[0.5, 0.25], [0.75, 0.5]]
    """

    def __init__(self, scores, *, dtype=None):
        s = _finite_array(scores, "scores", ndim=1)
        dt = _dtype_of(dtype) if dtype is not None else s.dtype
        super().__init__(s.size, dt)
        self.scores = np.ascontiguousarray(s, dtype=dt)
        self._AE = None

    _cuda_kind = "bradley_terry"

    def _cuda_arrays(self):
        return (self.scores,)

    def _scores_arrays(self):
        if self._AE is None:
            s = self.scores
            A = np.stack([-np.ones_like(s), s], axis=1)
            E = np.stack([s, np.ones_like(s)], axis=1)
            self._AE = (np.ascontiguousarray(A), np.ascontiguousarray(E))
        return self._AE

    def _entries(self, i, j):
        s = self.scores.astype(np.float64)
        return _sigmoid(s[i] - s[j])

    def _c_apply(self, pi2d, out):
        ffi, lib = _backend.c_lib()
        B, K = pi2d.shape
        fn = lib.nashmp_bradley_terry_apply_f64 if self.dtype == _F64 else \
            lib.nashmp_bradley_terry_apply_f32
        return fn(_cptr(ffi, self.scores), _cptr(ffi, pi2d), K, B, K, _cptr(ffi, out), K)

    def _fused(self, be, pg, lp, lr, a, b, c, w, pw):
        if be != "c":
            return super()._fused(be, pg, lp, lr, a, b, c, w, pw)
        ffi, lib = _backend.c_lib()
        B, K = pg.shape
        fn = lib.nashmp_bradley_terry_mirror_step_f64 if self.dtype == _F64 else \
            lib.nashmp_bradley_terry_mirror_step_f32
        return fn(_cptr(ffi, self.scores), _cptr(ffi, pg), K, _cptr(ffi, lp),
                  K if lp is not None else 0, _cptr(ffi, lr), K if lr is not None else 0, B, K,
                  a, b, c, _cptr(ffi, w), K, _cptr(ffi, pw), K)


# ---------------------------------------------------------------------------------------------
# user pair functions
# ---------------------------------------------------------------------------------------------

class PairFunction(PreferenceOperator):
    """A preference operator from a user's pair function, tiled by Numba.

    Parameters
    ----------
    s : callable
        ``s(i, j)`` (integer action indices) or, when ``E`` is given, ``s(e_i, e_j)`` (rows of
        ``E``), returning a float. A ``@numba.njit`` function is used as is; a plain Python
        function is compiled with ``numba.njit``.
    K : int, optional
        Number of actions (required without ``E``; ``len(E)`` otherwise).
    E : array_like, shape (K, d), optional
    link : {"logistic", "identity"}
        ``P[i, j] = sigma(s(i, j))`` (logistic; ``s`` should be skew, ``s(j, i) = -s(i, j)``) or
        ``P[i, j] = s(i, j)`` (identity; values in [0, 1]).
    dtype : float32 or float64
        dtype of ``E`` (the pair function itself computes in float64).

    Notes
    -----
    Antisymmetric by construction: ``s`` is only evaluated for ``i < j``; ``P[j, i] =
    1 - P[i, j]`` and ``P[i, i] = 1/2``. The kernel is a Numba ``prange`` over row tiles that
    calls ``s`` inline (no kernel to write); ``backend="c"`` runs it too (there is no C for user
    code), ``backend="numpy"`` calls ``s`` pair by pair from Python (small K only).
    ``backend="cuda"`` raises RuntimeError: ``s`` is compiled for the CPU (``numba.njit``), and
    there is no device version of a user's function.

    Examples
    --------
    >>> import numpy as np, nashmp
    >>> op = nashmp.PairFunction(lambda i, j: 0.1 * (j - i), K=3)
    >>> op.todense().round(4).tolist()[0]
    [0.5, 0.525, 0.5498]
    """

    backends = ("numba", "numpy")

    def __init__(self, s, K=None, *, E=None, link="logistic", dtype=np.float64):
        if link not in ("logistic", "identity"):
            raise ValueError(f"link must be 'logistic' or 'identity', got {link!r}")
        if not callable(s):
            raise TypeError("s must be callable (a numba.njit function of (i, j) or (e_i, e_j))")
        if E is not None:
            E = _finite_array(E, "E", ndim=2, dtype=_dtype_of(dtype))
            if K is not None and K != E.shape[0]:
                raise ValueError(f"K={K} does not match E of shape {E.shape}")
            K = E.shape[0]
        if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 1:
            raise ValueError(f"K must be an integer >= 1 (or pass E), got {K!r}")
        super().__init__(K, dtype)
        import numba
        if not hasattr(s, "py_func"):
            s = numba.njit(s)
        self.s = s
        self.E = np.ascontiguousarray(E) if E is not None else np.zeros((1, 1), self.dtype)
        self.use_E = E is not None
        self.link = link

    def _kernels(self):
        return _nbo().pair_kernel(self.s, self.use_E, self.link == "logistic")

    def _entries(self, i, j):
        out = np.empty(i.size)
        self._kernels()[1](self.E, np.ascontiguousarray(i.ravel()),
                           np.ascontiguousarray(j.ravel()), out)
        return out.reshape(i.shape)

    def check(self, n_samples=4096, seed=0):
        """Entries on a random sample of pairs are finite and in [0, 1]."""
        rng = np.random.default_rng(seed)
        i = rng.integers(0, self.K, n_samples)
        j = rng.integers(0, self.K, n_samples)
        v = self._entries(i, j)
        if not np.isfinite(v).all() or v.min() < 0 or v.max() > 1:
            raise ValueError("the pair function gives entries outside [0, 1] (or NaN)")
        return self

    def _apply(self, pi2d, backend):
        B, K = pi2d.shape
        out = np.empty((B, K))
        if backend == "numpy":
            f = self.s.py_func
            x = pi2d.astype(np.float64)
            for i in range(K):
                row = np.empty(K)
                for j in range(K):
                    if i == j:
                        row[j] = 0.5
                        continue
                    lo, hi = min(i, j), max(i, j)
                    v = float(f(self.E[lo], self.E[hi]) if self.use_E else f(lo, hi))
                    if self.link == "logistic":
                        v = float(_sigmoid(v))
                    row[j] = v if i < j else 1.0 - v
                out[:, i] = x @ row
            return out
        self._kernels()[0](self.E, pi2d, out)
        return out


def pair_function(K=None, *, E=None, link="logistic", dtype=np.float64):
    """Decorator: turn a pair function ``s(i, j)`` (or ``s(e_i, e_j)`` with ``E``) into a
    :class:`PairFunction` operator.

    Examples
    --------
    >>> import math, nashmp
    >>> @nashmp.pair_function(K=4)
    ... def game(i, j):
    ...     return math.sin(i - j)
    >>> game.K
    4
    """
    def deco(s):
        return PairFunction(s, K, E=E, link=link, dtype=dtype)
    return deco
