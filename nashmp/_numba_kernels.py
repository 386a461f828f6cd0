"""Numba kernels of the log-space operations (the ``"numba"`` backend).

Every function takes already-validated 2-D arrays ``(batch, k)`` (float32 or float64, ``k >= 1``,
rows possibly non-contiguous, a row stride of 0 from ``np.broadcast_to`` allowed), writes into a
preallocated ``out`` and returns an ``int`` status with the codes of the C ABI
(``csrc/include/nashmp/nashmp.h``): 0 = OK, -5 = NaN or ``+inf`` in an input (``out`` is then
unspecified). ``out`` may be the same array as an input of the same shape (in place), except
in :func:`preference_apply`; it must not otherwise overlap an input (``nashmp._kernels`` passes
copies of the inputs that do).

The semantics are those of ``nashmp._reference`` and of the C kernels: ``-inf`` entries are
impossible actions, an all ``-inf`` row has ``logsumexp = -inf``, ``log_softmax = -inf``,
``softmax = 0``, ``span = 0``; ``kl`` terms with ``logp = -inf`` are 0 and ``logp > -inf`` with
``logq = -inf`` gives ``+inf``; in ``mirror_step`` a zero coefficient makes its term exactly 0 and
its input is not read, and a row of ``z`` with every entry ``-inf`` (no distribution) is reported
as -5, like the C kernel.

float32 data is accumulated in float64. Rows run in parallel (``prange``); every row is reduced
by one thread in a fixed order, so results do not depend on the thread count. No fastmath except
``reassoc``/``contract`` in the matrix-vector product and ``contract`` in :func:`exp` (never
``nnan``/``ninf``: ``-inf`` must keep its meaning).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = ["logsumexp", "log_softmax", "softmax", "kl", "span", "preference_apply",
           "mirror_step", "OK", "ERR_NONFINITE"]

OK = 0
ERR_NONFINITE = -5

_INF = np.inf
_NINF = -np.inf

_PAR = dict(cache=True, nogil=True, parallel=True)
_SER = dict(cache=True, nogil=True, inline="always")
# helpers called, not inlined at the IR level (LLVM inlines them): the parallel kernels' IR stays
# small, which keeps their compilation short
_CALL = dict(cache=True, nogil=True)


# ---- exp without a libm call ----------------------------------------------------------------------

@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64 (an LLVM bitcast: vectorizes, unlike a view)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, x):
    """The float64 whose bits are the int64 ``x``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238           # ln 2 with 21 trailing zero bits: n * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10       # ln 2 - _LN2_HI
_SHIFTER = 6755399441055744.0          # 1.5 * 2^52: x + _SHIFTER rounds x to an integer
_SHIFTER_BITS = 0x4338000000000000


# Not inline="always": Numba's IR-level inlining would drop the "contract" flag (LLVM inlines the
# call and keeps it: the polynomial then runs as FMAs, 0.76 against 1.39 ns per element).
@njit(cache=True, nogil=True, fastmath={"contract"})
def exp(x):
    """``exp(x)`` for float64 ``x`` in straight-line code (no libm call), so that the loops calling
    it vectorize: the design of the C kernels' exp (``csrc/src/exp_block.h``): ``x = n ln2 + r``
    with the shifter trick, ``e^r`` by its Taylor polynomial of degree 13 (truncation < 0.05 ulp),
    ``2^n`` as two powers of two built from exponent bits (subnormal results and overflow come out
    right). ``-inf`` gives 0, ``+inf`` gives ``+inf``, NaN gives NaN. Within 1 ulp of the correctly
    rounded value (tests/test_kernels.py measures it against ``np.exp``)."""
    xc = min(max(x, -1000.0), 1000.0)
    t = xc * _LOG2E + _SHIFTER
    nf = t - _SHIFTER
    r = (xc - nf * _LN2_HI) - nf * _LN2_LO
    p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
        1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
            1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
                1.0 / 479001600 + r * (1.0 / 6227020800)))))))))))))
    n = _bits(t) - _SHIFTER_BITS
    n1 = n >> 1
    e = (p * _from_bits((n1 + 1023) << 52)) * _from_bits((n - n1 + 1023) << 52)
    return x if x != x else e


# Reduced-range exp ("exp_red" of csrc/src/exp_block.h, same constants): x = (256 k + j) ln2/256 + r,
# exp(x) = 2^k T_j (1 + p(r)) with T_j = 2^(j/256) from a table (one load per element, a gather in
# a vector loop) and a degree-4 polynomial: 8 multiply-adds against 17 for `exp`.
_EXPRED_TAB = np.array([np.float64(2.0 ** (j / 256)).view(np.int64) - (j << 44)
                        for j in range(256)], np.int64)      # bits(T_j) - (j << 44)
_EXPRED_INVL = float.fromhex("0x1.71547652b82fep+8")         # 256 / ln2
_EXPRED_L_HI = float.fromhex("0x1.62e42ff000000p-9")         # ln2 / 256, 29 significant bits
_EXPRED_L_LO = float.fromhex("-0x1.718432a1b0e26p-43")
_EXPRED_C4 = float.fromhex("0x1.555552100b369p-5")
_EXPRED_C3 = float.fromhex("0x1.5555571d835b8p-3")
_EXPRED_C2 = float.fromhex("0x1.000000000006ep-1")


@njit(cache=True, nogil=True, fastmath={"contract"})
def exp_red(x):
    """``exp(x)`` for ``x <= 709`` where the caller knows the argument is at most about 0 (a value
    minus its running max, a log-probability): within 1.05 ulp; results below ``e^-708``
    (``x < -708``, and ``-inf``) are 0, NaN gives NaN, ``x > 709.4`` is unspecified. The design
    and the constants of the C kernels' exp_red (``csrc/src/exp_block.h``); about 0.6 ns per
    element in a loop, against 0.8 for :func:`exp`."""
    t = x * _EXPRED_INVL + _SHIFTER             # low bits: n = round(x 256 / ln2)
    n = t - _SHIFTER
    r = (x - n * _EXPRED_L_HI) - n * _EXPRED_L_LO
    r2 = r * r
    p = r2 * (_EXPRED_C4 * r2 + (_EXPRED_C3 * r + _EXPRED_C2)) + r
    tb = _bits(t)
    s = _from_bits(_EXPRED_TAB[tb & 255] + (tb << 44))      # 2^k T_j: (k << 52) + (j << 44)
    p = s * p + s
    return 0.0 if x < -708.0 else p


# ---- row helpers (serial, inlined into the parallel kernels) -----------------------------------

@njit(**_CALL)
def _max4(v):
    """Max of the 1-D array ``v`` in four lanes, and whether it holds NaN (NaN never wins a
    comparison)."""
    k = v.shape[0]
    m0 = m1 = m2 = m3 = _NINF
    nan = False
    j = 0
    while j + 4 <= k:
        v0 = np.float64(v[j])
        v1 = np.float64(v[j + 1])
        v2 = np.float64(v[j + 2])
        v3 = np.float64(v[j + 3])
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
        nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3)
        j += 4
    while j < k:
        v0 = np.float64(v[j])
        m0 = v0 if v0 > m0 else m0
        nan |= v0 != v0
        j += 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return (m2 if m2 > m0 else m0), nan


# Exps go through a scratch row of at most _CH doubles (a loop of exps into a buffer
# vectorizes; the same exps summed as they come do not: 1000 x 1000, 1 thread: 1.5 against 5 ms).
_CH = 256


@njit(**_CALL)
def _buf(k):
    """A scratch row for the exps of a row of length ``k`` (one allocation per row: no shared
    per-thread buffer whose size a disk-cached constant would have to fix)."""
    return np.empty(min(k, _CH))


@njit(**_CALL)
def _sum4(buf, n, s):
    """``s`` (four lanes) plus ``buf[:n]`` summed in four lanes."""
    s0, s1, s2, s3 = s
    t = 0
    while t + 4 <= n:
        s0 += buf[t]
        s1 += buf[t + 1]
        s2 += buf[t + 2]
        s3 += buf[t + 3]
        t += 4
    while t < n:
        s0 += buf[t]
        t += 1
    return s0, s1, s2, s3


@njit(**_CALL)
def _row_sumexp(x, i, k, m, buf, dst=None):
    """``sum_j exp(x[i, j] - m)`` (``m`` finite; ``-inf`` entries give 0), the exps of
    :func:`exp` a chunk at a time into ``buf``, summed in four lanes; with ``dst``, the exps are
    also written to ``dst[i, :]``."""
    s = (0.0, 0.0, 0.0, 0.0)
    for c0 in range(0, k, _CH):
        n = min(_CH, k - c0)
        for t in range(n):
            buf[t] = exp(np.float64(x[i, c0 + t]) - m)
        s = _sum4(buf, n, s)
        if dst is not None:
            for t in range(n):
                dst[i, c0 + t] = buf[t]
    return (s[0] + s[1]) + (s[2] + s[3])


@njit(**_SER)
def _row_ms(x, i, k, buf):
    """``(m, s)`` of row ``i``: ``m`` = max, ``s = sum exp(x - m)``; the max first, then the exps.

    Returns ``(m, s, bad)``: ``m = -inf, s = 0`` for an all ``-inf`` row; ``bad`` (1) when the row
    holds NaN or ``+inf``.
    """
    m, nan = _max4(x[i])
    if nan or m == _INF:
        return m, 0.0, 1
    if m == _NINF:
        return _NINF, 0.0, 0
    return m, _row_sumexp(x, i, k, m, buf), 0


@njit(**_SER)
def _z_at(lp, lr, g, i, j, a, b, c):
    """``a*lp + b*lr + c*g`` at ``(i, j)`` in float64, zero-coefficient terms skipped (not read)."""
    z = 0.0
    if a != 0.0:
        z = a * np.float64(lp[i, j])
    if b != 0.0:
        z += b * np.float64(lr[i, j])
    if c != 0.0:
        z += c * np.float64(g[i, j])
    return z


@njit(**_SER)
def _in_bad(lp, lr, g, i, j, a, b, c):
    """1 when an input read at ``(i, j)`` (nonzero coefficient) is NaN or ``+inf``."""
    bad = 0
    if a != 0.0 and not (lp[i, j] < _INF):
        bad = 1
    if b != 0.0 and not (lr[i, j] < _INF):
        bad = 1
    if c != 0.0 and not (g[i, j] < _INF):
        bad = 1
    return bad


# ---- reductions ----------------------------------------------------------------------------------

@njit(**_PAR)
def logsumexp(x, out):
    """``out[i] = log(sum_j exp(x[i, j]))``; all ``-inf`` row -> ``-inf``. Returns a status."""
    n, k = x.shape
    bad = 0
    for i in prange(n):
        m, s, b = _row_ms(x, i, k, _buf(k))
        if b:
            bad += 1
            out[i] = np.nan
        elif m == _NINF:
            out[i] = _NINF
        else:
            out[i] = m + math.log(s)
    return ERR_NONFINITE if bad else OK


@njit(**_PAR)
def log_softmax(x, out):
    """``out[i, :] = x[i, :] - logsumexp(x[i, :])``; all ``-inf`` row -> all ``-inf``."""
    n, k = x.shape
    bad = 0
    for i in prange(n):
        m, s, b = _row_ms(x, i, k, _buf(k))
        if b:
            bad += 1
            for j in range(k):
                out[i, j] = np.nan
        elif m == _NINF:
            for j in range(k):
                out[i, j] = _NINF
        else:
            ls = math.log(s)
            for j in range(k):
                out[i, j] = (np.float64(x[i, j]) - m) - ls
    return ERR_NONFINITE if bad else OK


@njit(**_PAR)
def softmax(x, out):
    """``out[i, :] = exp(log_softmax(x[i, :]))``; all ``-inf`` row -> all 0.

    Max first (no exp), then one exp per element stored in ``out`` and summed, then a scale: one
    exp per element instead of the two of an online pass (float32 output: the exp is rounded to
    float32 before the scale, two roundings in all, as in the C kernel). In place is fine (each
    element is read before it is written).
    """
    n, k = x.shape
    bad = 0
    for i in prange(n):
        m, nan = _max4(x[i])
        if nan or m == _INF:
            bad += 1
            for j in range(k):
                out[i, j] = np.nan
            continue
        if m == _NINF:
            for j in range(k):
                out[i, j] = 0.0
            continue
        inv = 1.0 / _row_sumexp(x, i, k, m, _buf(k), out)   # the exps in double, summed
        for j in range(k):
            out[i, j] = np.float64(out[i, j]) * inv
    return ERR_NONFINITE if bad else OK


@njit(**_PAR)
def kl(logp, logq, out):
    """``out[i] = sum_j exp(logp) (logp - logq)``; ``logp = -inf`` terms are 0, ``logq = -inf``
    (with ``logp > -inf``) gives ``+inf``."""
    n, k = logp.shape
    bad = 0
    for i in prange(n):
        buf = _buf(k)
        sm = (0.0, 0.0, 0.0, 0.0)
        rb = False
        for c0 in range(0, k, _CH):       # the terms a chunk at a time (selects: vectorizes)
            nc = min(_CH, k - c0)
            for t in range(nc):
                p = np.float64(logp[i, c0 + t])
                q = np.float64(logq[i, c0 + t])
                rb |= not (p < _INF and q < _INF)
                e = exp(p) * (p - q)
                e = _INF if q == _NINF else e
                buf[t] = 0.0 if p == _NINF else e
            sm = _sum4(buf, nc, sm)
        if rb:
            bad += 1
            out[i] = np.nan
        else:
            out[i] = (sm[0] + sm[1]) + (sm[2] + sm[3])
    return ERR_NONFINITE if bad else OK


@njit(**_PAR)
def span(x, out):
    """``out[i] = max_j x[i, j] - min_j x[i, j]``; all ``-inf`` -> 0, ``-inf`` mixed with finite
    entries -> ``+inf``."""
    n, k = x.shape
    bad = 0
    for i in prange(n):
        mx = _NINF
        mn = _INF
        nan = False
        for j in range(k):
            v = np.float64(x[i, j])
            mx = v if v > mx else mx
            mn = v if v < mn else mn
            nan |= v != v
        if nan or mx == _INF:
            bad += 1
            out[i] = np.nan
        elif mx == _NINF:
            out[i] = 0.0
        else:
            out[i] = mx - mn
    return ERR_NONFINITE if bad else OK


# ---- dense preference operator -------------------------------------------------------------------

_PA_TILE_BYTES = 128 * 1024     # rows of a shared P kept in cache while the games stream by
_PA_ROWS = 32                   # output rows per work item for per-game matrices


@njit(cache=True, nogil=True, parallel=True, fastmath={"reassoc", "contract"})
def preference_apply(P, pi, out):
    """``out[i, y] = sum_j P[gi, y, j] pi[i, j]`` with ``gi = 0`` (shared, ``P.shape[0] == 1``)
    or ``gi = i``; accumulated in float64. Returns -5 if a float64 sum is not finite (NaN / inf
    in the inputs, or overflow), like the C kernel; a finite sum beyond the float32 range is
    stored as ``inf`` with status 0. ``out`` must not share memory with ``P`` or ``pi``."""
    n, k = pi.shape
    G = P.shape[0]
    bad = 0
    if n == 0 or k == 0:
        return OK
    if G == 1 and n > 1:
        # shared P: items = (tile of yt rows of P) x (block of 4 games), tile-major, so each thread
        # sweeps the games with a P tile in cache and reads each P row once per 4 games.
        yt = max(1, _PA_TILE_BYTES // (k * P.itemsize))
        nyt = (k + yt - 1) // yt
        ngb = (n + 3) // 4
        for it in prange(nyt * ngb):
            t = it // ngb
            g0 = (it % ngb) * 4
            y0 = t * yt
            y1 = min(y0 + yt, k)
            if g0 + 4 <= n:
                for y in range(y0, y1):
                    s0 = 0.0
                    s1 = 0.0
                    s2 = 0.0
                    s3 = 0.0
                    for j in range(k):
                        pv = np.float64(P[0, y, j])
                        s0 += pv * np.float64(pi[g0, j])
                        s1 += pv * np.float64(pi[g0 + 1, j])
                        s2 += pv * np.float64(pi[g0 + 2, j])
                        s3 += pv * np.float64(pi[g0 + 3, j])
                    out[g0, y] = s0
                    out[g0 + 1, y] = s1
                    out[g0 + 2, y] = s2
                    out[g0 + 3, y] = s3
                    if not (abs(s0) < _INF and abs(s1) < _INF and abs(s2) < _INF
                            and abs(s3) < _INF):
                        bad += 1
            else:
                for gg in range(g0, n):
                    for y in range(y0, y1):
                        s = 0.0
                        for j in range(k):
                            s += np.float64(P[0, y, j]) * np.float64(pi[gg, j])
                        out[gg, y] = s
                        if not (abs(s) < _INF):
                            bad += 1
    else:
        # one matrix per game (or a single game): items = (game, block of output rows)
        nyb = (k + _PA_ROWS - 1) // _PA_ROWS
        for it in prange(n * nyb):
            i = it // nyb
            y0 = (it % nyb) * _PA_ROWS
            y1 = min(y0 + _PA_ROWS, k)
            gi = 0 if G == 1 else i
            for y in range(y0, y1):
                s = 0.0
                for j in range(k):
                    s += np.float64(P[gi, y, j]) * np.float64(pi[i, j])
                out[i, y] = s
                if not (abs(s) < _INF):
                    bad += 1
    return ERR_NONFINITE if bad else OK


# ---- fused mirror-prox step ----------------------------------------------------------------------

@njit(**_PAR)
def mirror_step(log_pi, log_ref, g, a, b, c, out):
    """``z = a*log_pi + b*log_ref + c*g``, ``out = z - logsumexp(z)`` row by row.

    Terms with a zero coefficient are not read (their array may hold anything of the right shape,
    e.g. a broadcast row of zeros). Pass 1 forms ``z`` in float64 and takes its max; pass 2
    forms it again and sums ``exp(z - max)`` (a chunk of exps at a time, vectorized); pass 3
    forms it a third time (so float32 output is rounded once) and writes ``z - logsumexp(z)``;
    in place with any input is fine. Returns -5 for NaN / ``+inf`` in an input that is read,
    NaN / ``+inf`` in ``z`` (e.g. ``-inf`` times a negative coefficient), or a row whose ``z`` is
    all ``-inf`` (no distribution), like the C kernel.
    """
    n, k = log_pi.shape
    a = np.float64(a)
    b = np.float64(b)
    c = np.float64(c)
    bad = 0
    for i in prange(n):
        rb = 0
        m = _NINF
        nan = False
        for j in range(k):
            rb |= _in_bad(log_pi, log_ref, g, i, j, a, b, c)
            z = _z_at(log_pi, log_ref, g, i, j, a, b, c)
            m = z if z > m else m
            nan |= z != z
        if rb or nan or not (m < _INF) or m == _NINF:
            bad += 1
            for j in range(k):
                out[i, j] = np.nan
            continue
        buf = _buf(k)
        sm = (0.0, 0.0, 0.0, 0.0)
        for c0 in range(0, k, _CH):
            nc = min(_CH, k - c0)
            for t in range(nc):
                buf[t] = exp(_z_at(log_pi, log_ref, g, i, c0 + t, a, b, c) - m)
            sm = _sum4(buf, nc, sm)
        ls = math.log((sm[0] + sm[1]) + (sm[2] + sm[3]))
        for j in range(k):
            out[i, j] = (_z_at(log_pi, log_ref, g, i, j, a, b, c) - m) - ls
    return ERR_NONFINITE if bad else OK
