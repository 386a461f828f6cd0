"""Eight-lane float64 vectors for Numba kernels: a Numba type held in an LLVM ``<8 x double>``
register, and the few operations the triangle product of ``_numba_solvers`` needs.

Numba's loop vectorizer cannot keep a block of accumulators in registers across a loop (a tuple
of floats is rebuilt lane by lane every iteration, an array stays in memory), so kernels that
need register blocking spell their vectors out with these intrinsics. LLVM lowers them to what
the machine has (one zmm register with AVX-512, two ymm with AVX2, four xmm with SSE2).

Loads take a C-contiguous array and an element index and read 8 consecutive elements (float32
widened to float64) without bounds checks: the caller keeps them inside the array. No fastmath:
``vfma``/``vfnma`` round once (``llvm.fma``), the rest are plain IEEE operations.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

__all__ = ["vzero", "vsplat", "vset", "vget", "vload", "vload2", "vstore", "vadd", "vmul",
           "vfma", "vfnma", "vkeep_gt", "vkeep_lt", "vhsum8"]

_L = 8
_VT = ir.VectorType(ir.DoubleType(), _L)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


class Vec8Type(types.Type):
    """Eight float64 lanes in one LLVM vector value."""

    def __init__(self):
        super().__init__(name="Vec8")


vec8 = Vec8Type()


@register_model(Vec8Type)
class _Vec8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VT)


def _splat(builder, s, vt=_VT):
    v = builder.insert_element(ir.Constant(vt, ir.Undefined), s, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined),
                                  ir.Constant(ir.VectorType(_I32, _L), [0] * _L))


def _index(context, builder, val, ty):
    return context.cast(builder, val, ty, types.intp)


def _load(context, builder, aty, data, idx):
    ety = context.get_value_type(aty.dtype)
    p = builder.bitcast(builder.gep(data, [idx]), ir.PointerType(ir.VectorType(ety, _L)))
    v = builder.load(p, align=aty.dtype.bitwidth // 8)
    return v if aty.dtype == types.float64 else builder.fpext(v, _VT)


def _float_array(arr, ndim):
    return (isinstance(arr, types.Array) and arr.ndim == ndim and arr.layout == "C" and
            arr.dtype in (types.float32, types.float64))


@intrinsic
def vzero(typingctx):
    """All lanes 0."""
    return vec8(), lambda context, builder, sig, args: ir.Constant(_VT, [0.0] * _L)


@intrinsic
def vsplat(typingctx, s):
    """All lanes s."""
    def codegen(context, builder, sig, args):
        return _splat(builder, context.cast(builder, args[0], sig.args[0], types.float64))
    return vec8(s), codegen


@intrinsic
def vset(typingctx, v, i, s):
    """v with lane i (0 <= i < 8) set to s."""
    def codegen(context, builder, sig, args):
        s = context.cast(builder, args[2], sig.args[2], types.float64)
        return builder.insert_element(args[0], s, _index(context, builder, args[1], sig.args[1]))
    return vec8(vec8, i, s), codegen


@intrinsic
def vget(typingctx, v, i):
    """Lane i (0 <= i < 8) of v."""
    def codegen(context, builder, sig, args):
        return builder.extract_element(args[0], _index(context, builder, args[1], sig.args[1]))
    return types.float64(vec8, i), codegen


@intrinsic
def vload(typingctx, arr, i):
    """arr[i:i + 8] of a C-contiguous 1-D float array, as float64."""
    if not _float_array(arr, 1):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        return _load(context, builder, sig.args[0], a.data,
                     _index(context, builder, args[1], sig.args[1]))
    return vec8(arr, i), codegen


@intrinsic
def vload2(typingctx, arr, r, c):
    """arr[r, c:c + 8] of a C-contiguous 2-D float array, as float64 (c + 8 may pass the end of
    row r: the lanes then come from row r + 1)."""
    if not _float_array(arr, 2):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        ncol = builder.extract_value(a.shape, 1)
        idx = builder.add(builder.mul(_index(context, builder, args[1], sig.args[1]), ncol),
                          _index(context, builder, args[2], sig.args[2]))
        return _load(context, builder, sig.args[0], a.data, idx)
    return vec8(arr, r, c), codegen


@intrinsic
def vstore(typingctx, arr, i, v):
    """arr[i:i + 8] = v for a C-contiguous 1-D float array (rounded to float32 for float32)."""
    if not (_float_array(arr, 1) and arr.mutable):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        p = builder.gep(a.data, [_index(context, builder, args[1], sig.args[1])])
        ety = context.get_value_type(sig.args[0].dtype)
        v = args[2]
        if sig.args[0].dtype != types.float64:
            v = builder.fptrunc(v, ir.VectorType(ety, _L))
        builder.store(v, builder.bitcast(p, ir.PointerType(ir.VectorType(ety, _L))),
                      align=sig.args[0].dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.void(arr, i, vec8), codegen


@intrinsic
def vadd(typingctx, a, b):
    """a + b."""
    return vec8(vec8, vec8), lambda context, builder, sig, args: builder.fadd(*args)


@intrinsic
def vmul(typingctx, a, b):
    """a * b."""
    return vec8(vec8, vec8), lambda context, builder, sig, args: builder.fmul(*args)


def _fma(builder, a, b, c):
    f = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VT, [_VT] * 3),
                                       "llvm.fma.v8f64")
    return builder.call(f, [a, b, c])


@intrinsic
def vfma(typingctx, a, b, c):
    """a * b + c, rounded once."""
    return vec8(vec8, vec8, vec8), lambda context, builder, sig, args: _fma(builder, *args)


@intrinsic
def vfnma(typingctx, a, b, c):
    """c - a * b, rounded once."""
    def codegen(context, builder, sig, args):
        return _fma(builder, builder.fneg(args[0]), args[1], args[2])
    return vec8(vec8, vec8, vec8), codegen


def _keep(pred):
    def typer(typingctx, v, n):
        def codegen(context, builder, sig, args):
            n = _splat(builder, _index(context, builder, args[1], sig.args[1]),
                       ir.VectorType(_I64, _L))
            lanes = ir.Constant(ir.VectorType(_I64, _L), list(range(_L)))
            return builder.select(builder.icmp_signed(pred, lanes, n), args[0],
                                  ir.Constant(_VT, [0.0] * _L))
        return vec8(vec8, n), codegen
    return typer


vkeep_gt = intrinsic(_keep(">"))
vkeep_gt.__doc__ = "v in the lanes whose index is > n, 0 in the others (a select: NaN dropped)."
vkeep_lt = intrinsic(_keep("<"))
vkeep_lt.__doc__ = "v in the lanes whose index is < n, 0 in the others (a select: NaN dropped)."


def _shuffle(builder, a, b, idx):
    return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(_I32, _L), idx))


@intrinsic
def vhsum8(typingctx, t0, t1, t2, t3, t4, t5, t6, t7):
    """The vector whose lane r is the sum of t_r's lanes (a transpose-add tree: lanes paired
    (0 + 1) + (2 + 3) + ((4 + 5) + (6 + 7)))."""
    def codegen(context, builder, sig, args):
        def tree(vs, lo, hi):
            return [builder.fadd(_shuffle(builder, vs[a], vs[a + 1], lo),
                                 _shuffle(builder, vs[a], vs[a + 1], hi))
                    for a in range(0, len(vs), 2)]
        s = tree(list(args), [0, 8, 2, 10, 4, 12, 6, 14], [1, 9, 3, 11, 5, 13, 7, 15])
        s = tree(s, [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15])
        return tree(s, [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15])[0]
    return vec8(*([vec8] * 8)), codegen
