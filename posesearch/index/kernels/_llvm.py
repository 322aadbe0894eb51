"""Two LLVM intrinsics numba has no function for, used by the HNSW walk.

``prefetch_row(a, i)``: a software prefetch of row ``i`` of a 2-D array, or of item ``i`` of a 1-D
array (LLVM ``llvm.prefetch``).

numba has no prefetch of its own. The HNSW walk is bound by memory latency (each node it scores is a
random row); asking for all of a node's neighbours before scoring the first one overlaps those
misses, as hnswlib and FAISS do with ``_mm_prefetch`` (~1.2x on 312k real frames). A prefetch is a
hint: it never faults and never changes a result. Callers pass only in-range rows all the same.

``shift_right(a, pos, top)``: ``a[pos + 1:top + 1] = a[pos:top]`` for a 1-D array (LLVM
``llvm.memmove``). numba copies an overlapping slice assignment through a temporary array; the walk's
sorted candidate pool makes room for an insertion this way several times per expanded node (as a
plain loop the walk is ~10% slower). The caller keeps 0 <= pos <= top < len(a).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row", "shift_right"]


@intrinsic
def prefetch_row(typingctx, arr, idx):
    """Prefetch the cache line of ``arr[idx, 0]`` (2-D) or ``arr[idx]`` (1-D) for reading, high temporal
    locality."""
    if not isinstance(arr, types.Array) or arr.ndim not in (1, 2) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary, ind = args
        a = context.make_array(aryty)(context, builder, ary)
        ind = context.cast(builder, ind, idxty, types.intp)
        zero = context.get_constant(types.intp, 0)
        at = [ind, zero] if aryty.ndim == 2 else [ind]
        ptr = cgutils.get_item_pointer2(context, builder, a.data, cgutils.unpack_tuple(builder, a.shape),
                                        cgutils.unpack_tuple(builder, a.strides), aryty.layout, at,
                                        wraparound=False, boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])   # read, keep in all levels, data
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def shift_right(typingctx, arr, pos, top):
    """``arr[pos + 1:top + 1] = arr[pos:top]`` by one memmove (1-D C-contiguous ``arr``; the caller keeps
    ``0 <= pos <= top < len(arr)``)."""
    if (not isinstance(arr, types.Array) or arr.ndim != 1 or arr.layout != "C"
            or not isinstance(pos, types.Integer) or not isinstance(top, types.Integer)):
        return None
    sig = types.void(arr, pos, top)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary, p, t = args
        a = context.make_array(aryty)(context, builder, ary)
        p = context.cast(builder, p, signature.args[1], types.intp)
        t = context.cast(builder, t, signature.args[2], types.intp)
        shape, strides = cgutils.unpack_tuple(builder, a.shape), cgutils.unpack_tuple(builder, a.strides)
        src = cgutils.get_item_pointer2(context, builder, a.data, shape, strides, aryty.layout, [p],
                                        wraparound=False, boundscheck=False)
        dst = cgutils.get_item_pointer2(context, builder, a.data, shape, strides, aryty.layout,
                                        [builder.add(p, context.get_constant(types.intp, 1))],
                                        wraparound=False, boundscheck=False)
        itemsize = context.get_abi_sizeof(context.get_data_type(aryty.dtype))
        cgutils.raw_memmove(builder, dst, src, builder.sub(t, p), itemsize)
        return context.get_dummy_value()

    return sig, codegen
