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

``int_bound_pass`` / ``int_box_mask`` / ``int_bound_mask`` / ``lowest_bit``: the VP-tree's
integer pre-filter of a block's 8-bit codes (the bound and its proof:
:func:`._vpsearch.int_filter_setup`), written as LLVM vector IR because numba's auto-vectorizer
widens u8 arithmetic to int64 (4.4-6.7 ns a row for the integer loops tried): per 64 rows and pair
of coordinates, ``vpsubusb`` x 4 + ``vpor`` x 2 (the distances in code units beyond one cell),
``vpunpck{l,h}bw`` (interleave the pair), ``vpmaddubsw`` (u8 distance x s8 weight, pairs summed,
signed saturation) and ``vpaddusw`` (u16 accumulator, unsigned saturation), i.e. 64 rows an
instruction; ~0.8 ns a row for 34 coordinates against ~2.6 for the float32 scan. A chunk's box
bound is the same sum over its smallest and largest codes. They need
AVX-512BW: ``HAS_AVX512BW`` says whether the host (as numba compiles for it) has it; without it the
intrinsics compile to nothing and the search never calls them (the float32 scan does the work).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row", "shift_right", "int_bound_pass", "int_box_mask", "int_bound_mask", "lowest_bit",
           "HAS_AVX512BW"]


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


_GROUP = 4   # chunks a pass of int_bound_pass carries in registers at once (8 zmm accumulators)


def _int_ops(builder):
    """The LLVM functions of the integer filter: vpmaddubsw, saturating u8 subtraction, saturating u16
    addition."""
    mod = builder.module
    return (cgutils.get_or_insert_function(mod, ir.FunctionType(_V32I16, [_V64I8, _V64I8]),
                                           "llvm.x86.avx512.pmaddubs.w.512"),
            cgutils.get_or_insert_function(mod, ir.FunctionType(_V64I8, [_V64I8, _V64I8]), "llvm.usub.sat.v64i8"),
            cgutils.get_or_insert_function(mod, ir.FunctionType(_V32I16, [_V32I16, _V32I16]), "llvm.uadd.sat.v32i16"))


def _pair_args(builder, qpp, qmp, wp, pair):
    """Coordinates t0, t1 of a pair and their broadcast query codes ((qp, qm) each) and weights."""
    t0 = builder.mul(pair, pair.type(2))
    t1 = builder.add(t0, pair.type(1))
    qv = [(_splat(builder, builder.load(builder.gep(qpp, [t])), _V64I8),
           _splat(builder, builder.load(builder.gep(qmp, [t])), _V64I8)) for t in (t0, t1)]
    wv = builder.bitcast(_splat(builder, builder.load(builder.gep(wp, [pair])), _V32I16), _V64I8)
    return (t0, t1), qv, wv


def _pair_sums(builder, ops, lows, highs, qv, wv, sums):
    """sums (2 accumulators, lane order) += the pair's weighted distances in code units beyond one cell,
    sat(low - qp) | sat(qm - high) for each coordinate of the pair (low = high = a row's code; a chunk's
    smallest and largest codes for its box)."""
    pmadd, usub, uadd = ops
    d = [builder.or_(builder.call(usub, [lo, qpv]), builder.call(usub, [qmv, hi]))
         for lo, hi, (qpv, qmv) in zip(lows, highs, qv)]
    out = []
    for h, mask in enumerate((_UNPACK_LO, _UNPACK_HI)):
        s = builder.call(pmadd, [builder.shuffle_vector(d[0], d[1], ir.Constant(ir.VectorType(_I32, 64), mask)), wv])
        out.append(builder.call(uadd, [sums[h], s]))
    return out


def _load64(builder, ptr, at):
    return builder.load(builder.bitcast(builder.gep(ptr, [at]), _V64I8.as_pointer()), align=1)


def _rows_le(builder, lo, hi, lim):
    """uint64 mask, bit r: item r of the 64 in lane order (lo, hi) is <= lim (a v64i16 splat)."""
    rows = builder.shuffle_vector(lo, hi, ir.Constant(ir.VectorType(_I32, 64), _ROW_ORDER))
    return builder.bitcast(builder.icmp_unsigned("<=", rows, lim), _I64)


@intrinsic
def int_bound_pass(typingctx, codes, base, offs, p0, p1, qp, qm, wts, acc, chunks, nch, limit, first):
    """For the 64-row chunks chunks[:nch] and the pairs of coordinates p0 <= p < p1 (t = 2p, 2p + 1):
    acc (u16) += per row, saturating, wts[t] (<= 127) x (sat(code - qp[t]) | sat(qm[t] - code)), the
    code of row r and coordinate t at ``codes[base + offs[t] + r]`` (the pair summed by vpmaddubsw
    first, saturating at 32767); ``first`` != 0: start from 0 instead of acc. acc is kept in
    vpmaddubsw's lane order: read it through :func:`int_bound_mask`. Then the chunks with a row whose
    sum is <= ``limit`` (0 <= limit <= 65535) are moved to the front of ``chunks`` (in order) and their
    number is returned.

    Chunks outside, pairs inside, ``_GROUP`` chunks at a time: their accumulators stay in registers over
    every pair (a zmm store takes two cycles on znver4), and each pair's query codes and weights are
    broadcast once per group. C-contiguous arrays: codes, qp, qm, wts uint8; offs, chunks int64; acc
    uint16."""
    if not (_is_c_array(codes, types.uint8) and _is_c_array(offs, types.int64) and _is_c_array(qp, types.uint8)
            and _is_c_array(qm, types.uint8) and _is_c_array(wts, types.uint8) and _is_c_array(acc, types.uint16)
            and _is_c_array(chunks, types.int64)
            and all(isinstance(x, types.Integer) for x in (base, p0, p1, nch, limit))
            and isinstance(first, (types.Integer, types.Boolean))):
        return None
    sig = types.int64(codes, base, offs, p0, p1, qp, qm, wts, acc, chunks, nch, limit, first)

    def codegen(context, builder, signature, args):
        if not HAS_AVX512BW:          # never called then (see the module doc)
            return ir.Constant(_I64, 0)
        ta = signature.args
        cp, op, qpp, qmp, chp = (_data(context, builder, ta[i], args[i]) for i in (0, 2, 5, 6, 9))
        wp = builder.bitcast(_data(context, builder, ta[7], args[7]), _I16.as_pointer())
        ap = builder.bitcast(_data(context, builder, ta[8], args[8]), _V32I16.as_pointer())
        base_, p0_, p1_, nch_ = (context.cast(builder, args[i], ta[i], types.intp) for i in (1, 3, 4, 10))
        lim = _splat(builder, builder.trunc(context.cast(builder, args[11], ta[11], types.int64), _I16), _V32I16)
        first_ = context.cast(builder, args[12], ta[12], types.boolean)
        ity = base_.type
        ops = _int_ops(builder)
        zero = ir.Constant(_V32I16, None)
        blk = builder.gep(cp, [base_])
        live = cgutils.alloca_once_value(builder, ity(0))
        sums = [[cgutils.alloca_once(builder, _V32I16) for _ in range(2)] for _ in range(_GROUP)]
        last = builder.sub(nch_, ity(1))
        with cgutils.for_range_slice(builder, ity(0), nch_, ity(_GROUP)) as (g0, _):
            # the group's chunks (past the end: the last chunk again, computed twice, reported once)
            idx = [builder.add(g0, ity(g)) for g in range(_GROUP)]
            chs = [builder.load(builder.gep(chp, [builder.select(builder.icmp_signed("<", i, nch_), i, last)]))
                   for i in idx]
            rows = [builder.mul(ch, ity(64)) for ch in chs]
            accp = [[builder.gep(ap, [builder.add(builder.mul(ch, ity(2)), ity(h))]) for h in range(2)] for ch in chs]
            for g in range(_GROUP):
                for h in range(2):
                    builder.store(builder.select(first_, zero, builder.load(accp[g][h], align=2)), sums[g][h])
            with cgutils.for_range_slice(builder, p0_, p1_, ity(1)) as (pair, _):
                ts, qv, wv = _pair_args(builder, qpp, qmp, wp, pair)
                ptrs = [builder.gep(blk, [builder.load(builder.gep(op, [t]))]) for t in ts]
                for g in range(_GROUP):
                    c = [_load64(builder, ptr, rows[g]) for ptr in ptrs]
                    new = _pair_sums(builder, ops, c, c, qv, wv, [builder.load(x) for x in sums[g]])
                    for x, v in zip(sums[g], new):
                        builder.store(v, x)
            for g in range(_GROUP):
                v = [builder.load(x) for x in sums[g]]
                for h in range(2):
                    builder.store(v[h], accp[g][h], align=2)
                hit = builder.or_(*(builder.bitcast(builder.icmp_unsigned("<=", x, lim), _I32) for x in v))
                keep = builder.and_(builder.icmp_unsigned("!=", hit, _I32(0)), builder.icmp_signed("<", idx[g], nch_))
                with builder.if_then(keep):
                    n = builder.load(live)
                    builder.store(chs[g], builder.gep(chp, [n]))
                    builder.store(builder.add(n, ity(1)), live)
        return builder.load(live)

    return sig, codegen


@intrinsic
def int_box_mask(typingctx, boxes, base, nch, group, offs, npad, dim, npair, qp, qm, wts, limit):
    """uint64 whose bit i says: chunk 64 group + i (< 64 group + 64; bits at or past ``nch`` are
    meaningless) has a box bound <= ``limit``. The box bound of a chunk is :func:`int_bound_pass`'s sum
    over every pair, with each coordinate's distance taken from the chunk's smallest code (for
    sat(lo - qp)) and largest code (for sat(qm - hi)): never above the sum of any of its rows, so a chunk
    whose box bound exceeds the limit has no row within it. The smallest codes of coordinate t at
    ``boxes[base + i nch + chunk]``, the largest at ``boxes[base + (D + i) nch + chunk]``, i = offs[t] //
    npad the coordinate (offs as for int_bound_pass, D = ``dim``); 64 bytes are read from each, so
    ``boxes`` must extend 64 bytes past the last block's."""
    if not (_is_c_array(boxes, types.uint8) and _is_c_array(offs, types.int64) and _is_c_array(qp, types.uint8)
            and _is_c_array(qm, types.uint8) and _is_c_array(wts, types.uint8)
            and all(isinstance(x, types.Integer) for x in (base, nch, group, npad, dim, npair, limit))):
        return None
    sig = types.uint64(boxes, base, nch, group, offs, npad, dim, npair, qp, qm, wts, limit)

    def codegen(context, builder, signature, args):
        if not HAS_AVX512BW:
            return ir.Constant(_I64, 0)
        ta = signature.args
        bp, op, qpp, qmp = (_data(context, builder, ta[i], args[i]) for i in (0, 4, 8, 9))
        wp = builder.bitcast(_data(context, builder, ta[10], args[10]), _I16.as_pointer())
        base_, nch_, g_, npad_, dd, npair_ = (context.cast(builder, args[i], ta[i], types.intp)
                                              for i in (1, 2, 3, 5, 6, 7))
        ity = base_.type
        lim = _splat(builder, builder.trunc(context.cast(builder, args[11], ta[11], types.int64), _I16), _V64I16)
        ops = _int_ops(builder)
        blk = builder.gep(bp, [builder.add(base_, builder.mul(g_, ity(64)))])
        sums = [cgutils.alloca_once_value(builder, ir.Constant(_V32I16, None)) for _ in range(2)]
        with cgutils.for_range(builder, npair_) as loop:
            ts, qv, wv = _pair_args(builder, qpp, qmp, wp, loop.index)
            coord = [builder.sdiv(builder.load(builder.gep(op, [t])), npad_) for t in ts]
            lows = [_load64(builder, blk, builder.mul(i, nch_)) for i in coord]
            highs = [_load64(builder, blk, builder.mul(builder.add(dd, i), nch_)) for i in coord]
            new = _pair_sums(builder, ops, lows, highs, qv, wv, [builder.load(x) for x in sums])
            for x, v in zip(sums, new):
                builder.store(v, x)
        return _rows_le(builder, builder.load(sums[0]), builder.load(sums[1]), lim)

    return sig, codegen


@intrinsic
def int_bound_mask(typingctx, acc, chunk, limit):
    """uint64 whose bit i says: row 64 chunk + i of :func:`int_bound_pass`'s acc is <= limit (< 2^16)."""
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
        lim = _splat(builder, builder.trunc(context.cast(builder, args[2], ta[2], types.int64), _I16), _V64I16)
        return _rows_le(builder, lo, hi, lim)

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


@intrinsic
def fetch_add(typingctx, arr, idx, val):
    """Atomically ``old = arr[idx]; arr[idx] += val; return old`` for a 1-D C-contiguous int64 array
    (LLVM ``atomicrmw add``, sequentially consistent): threads of a parallel loop take work items from a
    shared counter. The caller keeps ``0 <= idx < len(arr)``."""
    if not (_is_c_array(arr, types.int64) and isinstance(idx, types.Integer) and isinstance(val, types.Integer)):
        return None
    sig = types.int64(arr, idx, val)

    def codegen(context, builder, signature, args):
        ta = signature.args
        p = _data(context, builder, ta[0], args[0])
        i = context.cast(builder, args[1], ta[1], types.intp)
        v = context.cast(builder, args[2], ta[2], types.int64)
        return builder.atomic_rmw("add", builder.gep(p, [i]), v, "seq_cst")

    return sig, codegen
