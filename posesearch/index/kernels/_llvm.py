"""LLVM intrinsics numba has no function for: two used by the HNSW walk, three by the VP-tree's integer
block filter.

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

``int_bound_block`` / ``int_bound_mask`` / ``lowest_bit``: the VP-tree's integer pre-filter of a block's
8-bit codes (the bound and its proof: :func:`._vpsearch.int_filter_setup`), written as LLVM vector IR
because numba's auto-vectorizer widens u8 arithmetic to int64 (4.4-6.7 ns a row for the integer loops
tried): per 64 rows and pair of coordinates, ``vpsubusb`` x 4 + ``vpor`` x 2 (the distances in code
units beyond one cell), ``vpunpck{l,h}bw`` (interleave the pair), ``vpmaddubsw`` (u8 distance x s8
weight, pairs summed, signed saturation) and ``vpaddusw`` (u16 accumulator, unsigned saturation), i.e.
64 rows an instruction; ~0.8 ns a row for 34 coordinates against ~2.6 for the float32 scan. They need
AVX-512BW: ``HAS_AVX512BW`` says whether the host (as numba compiles for it) has it; without it the
intrinsics compile to nothing and the search never calls them (the float32 scan does the work).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row", "shift_right", "int_bound_block", "int_bound_mask", "lowest_bit", "HAS_AVX512BW"]


def _host_has_avx512bw() -> bool:
    """True when numba compiles for this host (no CPU name / feature override) and it has AVX-512BW."""
    from numba.core import config

    if config.CPU_NAME not in (None, "", "host") or config.CPU_FEATURES:
        return False
    try:
        import llvmlite.binding as ll

        return bool(ll.get_host_cpu_features().get("avx512bw", False))
    except Exception:   # noqa: BLE001 - no feature list: take the portable path
        return False


HAS_AVX512BW = _host_has_avx512bw()


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


_I8, _I16, _I32, _I64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
_V64I8, _V32I16, _V64I16 = ir.VectorType(_I8, 64), ir.VectorType(_I16, 32), ir.VectorType(_I16, 64)
# vpunpcklbw / vpunpckhbw of two 64-byte vectors (interleave within each 128-bit lane): in the 32 u16
# lanes of vpmaddubsw's result, "lo" holds rows 16 L + 0..7 and "hi" rows 16 L + 8..15 (L = 0..3).
_UNPACK_LO = [x for lane in range(4) for i in range(8) for x in (16 * lane + i, 64 + 16 * lane + i)]
_UNPACK_HI = [x for lane in range(4) for i in range(8, 16) for x in (16 * lane + i, 64 + 16 * lane + i)]
# back to row order: row r is lane r // 16 of lo (r % 16 < 8) or of hi
_ROW_ORDER = [8 * (r // 16) + r % 16 if r % 16 < 8 else 32 + 8 * (r // 16) + r % 16 - 8 for r in range(64)]


def _splat(builder, val, vt):
    v = builder.insert_element(ir.Constant(vt, ir.Undefined), val, _I32(0))
    return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(_I32, vt.count),
                                                                                 [0] * vt.count))


def _data(context, builder, aryty, ary):
    return context.make_array(aryty)(context, builder, ary).data


def _is_c_array(a, dtype, ndim=1):
    return isinstance(a, types.Array) and a.ndim == ndim and a.layout == "C" and a.dtype == dtype


@intrinsic
def int_bound_block(typingctx, codes, base, offs, p0, p1, qp, qm, wts, acc, chunks, nch):
    """For the pairs of coordinates p0 <= p < p1 (t = 2p, 2p + 1) and the 64-row chunks chunks[:nch]:
    acc (u16) += per row, saturating, wts[t] (<= 127) x (sat(code - qp[t]) | sat(qm[t] - code)), the
    code of row r and coordinate t at ``codes[base + offs[t] + r]`` (the pair summed by vpmaddubsw
    first, saturating at 32767); pair 0 starts from 0 instead of acc. acc is kept in vpmaddubsw's lane
    order: read it through :func:`int_bound_mask`. Pairs outside, chunks inside: one stream of codes
    at a time. C-contiguous arrays: codes, qp, qm, wts uint8; offs, chunks int64; acc uint16."""
    if not (_is_c_array(codes, types.uint8) and _is_c_array(offs, types.int64) and _is_c_array(qp, types.uint8)
            and _is_c_array(qm, types.uint8) and _is_c_array(wts, types.uint8) and _is_c_array(acc, types.uint16)
            and _is_c_array(chunks, types.int64)
            and all(isinstance(x, types.Integer) for x in (base, p0, p1, nch))):
        return None
    sig = types.void(codes, base, offs, p0, p1, qp, qm, wts, acc, chunks, nch)

    def codegen(context, builder, signature, args):
        if not HAS_AVX512BW:          # never called then (see the module doc)
            return context.get_dummy_value()
        ta = signature.args
        cp, op, qpp, qmp, chp = (_data(context, builder, ta[i], args[i]) for i in (0, 2, 5, 6, 9))
        wp = builder.bitcast(_data(context, builder, ta[7], args[7]), _I16.as_pointer())
        ap = builder.bitcast(_data(context, builder, ta[8], args[8]), _V32I16.as_pointer())
        base_, p0_, p1_, nch_ = (context.cast(builder, args[i], ta[i], types.intp) for i in (1, 3, 4, 10))
        ity = base_.type
        mod = builder.module
        pmadd = cgutils.get_or_insert_function(mod, ir.FunctionType(_V32I16, [_V64I8, _V64I8]),
                                               "llvm.x86.avx512.pmaddubs.w.512")
        usub = cgutils.get_or_insert_function(mod, ir.FunctionType(_V64I8, [_V64I8, _V64I8]), "llvm.usub.sat.v64i8")
        uadd = cgutils.get_or_insert_function(mod, ir.FunctionType(_V32I16, [_V32I16, _V32I16]),
                                              "llvm.uadd.sat.v32i16")
        lo_mask = ir.Constant(ir.VectorType(_I32, 64), _UNPACK_LO)
        hi_mask = ir.Constant(ir.VectorType(_I32, 64), _UNPACK_HI)
        zero = ir.Constant(_V32I16, None)
        blk = builder.gep(cp, [base_])
        with cgutils.for_range_slice(builder, p0_, p1_, ity(1)) as (pair, _):
            t0 = builder.mul(pair, ity(2))
            t1 = builder.add(t0, ity(1))
            ptr0 = builder.gep(blk, [builder.load(builder.gep(op, [t0]))])
            ptr1 = builder.gep(blk, [builder.load(builder.gep(op, [t1]))])
            qv = [_splat(builder, builder.load(builder.gep(a, [t])), _V64I8)
                  for t in (t0, t1) for a in (qpp, qmp)]
            wv = builder.bitcast(_splat(builder, builder.load(builder.gep(wp, [pair])), _V32I16), _V64I8)
            first = builder.icmp_unsigned("==", pair, ity(0))
            with cgutils.for_range(builder, nch_) as cl:
                ch = builder.load(builder.gep(chp, [cl.index]))
                r = builder.mul(ch, ity(64))
                d = []
                for ptr, qpv, qmv in ((ptr0, qv[0], qv[1]), (ptr1, qv[2], qv[3])):
                    c = builder.load(builder.bitcast(builder.gep(ptr, [r]), _V64I8.as_pointer()), align=1)
                    d.append(builder.or_(builder.call(usub, [c, qpv]), builder.call(usub, [qmv, c])))
                i2 = builder.mul(ch, ity(2))
                for half, mask in ((0, lo_mask), (1, hi_mask)):
                    a = builder.gep(ap, [builder.add(i2, ity(half))])
                    old = builder.select(first, zero, builder.load(a, align=2))
                    s = builder.call(pmadd, [builder.shuffle_vector(d[0], d[1], mask), wv])
                    builder.store(builder.call(uadd, [old, s]), a, align=2)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def int_bound_mask(typingctx, acc, chunk, limit):
    """uint64 whose bit i says: row 64 chunk + i of :func:`int_bound_block`'s acc is <= limit (< 2^16)."""
    if not (_is_c_array(acc, types.uint16) and isinstance(chunk, types.Integer) and isinstance(limit, types.Integer)):
        return None
    sig = types.uint64(acc, chunk, limit)

    def codegen(context, builder, signature, args):
        if not HAS_AVX512BW:
            return ir.Constant(_I64, 0)
        ta = signature.args
        ap = builder.bitcast(_data(context, builder, ta[0], args[0]), _V32I16.as_pointer())
        c = context.cast(builder, args[1], ta[1], types.intp)
        i2 = builder.mul(c, c.type(2))
        lo = builder.load(builder.gep(ap, [i2]), align=2)
        hi = builder.load(builder.gep(ap, [builder.add(i2, c.type(1))]), align=2)
        rows = builder.shuffle_vector(lo, hi, ir.Constant(ir.VectorType(_I32, 64), _ROW_ORDER))
        lim = _splat(builder, builder.trunc(context.cast(builder, args[2], ta[2], types.int64), _I16), _V64I16)
        return builder.bitcast(builder.icmp_unsigned("<=", rows, lim), _I64)

    return sig, codegen


@intrinsic
def lowest_bit(typingctx, m):
    """Index of the lowest set bit of uint64 m != 0 (LLVM ``cttz``)."""
    if m != types.uint64:
        return None
    sig = types.int64(m)

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_I64, [_I64, ir.IntType(1)]),
                                            "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.IntType(1)(1)])

    return sig, codegen
