"""Compiled query preparation: raw poses -> COCO-17 -> (mirror) -> normalized vectors, in one pass.

The same steps, with the same arithmetic in the same order, as the checked numpy path of
:mod:`posesearch.index.query` (``raw_to_coco`` then ``prepare_coco``), so the vectors are bit-identical;
a single query costs ~1 us here against ~60 us there. The kernel does not word errors: at the first
pose that the numpy path would reject (an infinite coordinate, a NaN or out-of-range confidence, too
few keypoints to normalize) it stops and returns that pose's index, and the caller runs the numpy
path, which raises the message naming the problem.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ...poses._normalize_kernel import normalize_one
from ...poses.normalize import safe_range
from ._common import JIT


_HI, _LO = safe_range(np.float64)     # pose extents normalized without a power-of-two rescale first


@njit(**JIT)
def prepare_queries(raw, conf, has_conf, to_coco, flip, mirrored, min_present, out_v, out_w):
    """Fill out_v (B, 2 C) / out_w (B, C) from raw (B, K, 2|3) poses (confidences in raw[..., 2], or in
    conf (B, K) when has_conf), C = len(to_coco) target joints, ``to_coco[i]`` the source joint of
    target joint i (-1: missing). ``mirrored``: mirror each pose first (x' = min x + max x - x over the
    present joints, then the joints permuted by ``flip``). Returns -1, or the index of the first pose the
    checked path must handle (invalid input or a pose that cannot be normalized)."""
    nb = raw.shape[0]
    kk = raw.shape[1]
    nc = to_coco.shape[0]
    kp = np.empty((nc, 2))
    cf = np.empty(nc)
    mk = np.empty((nc, 2))
    mc = np.empty(nc)
    for b in range(nb):
        for j in range(kk):
            c = conf[b, j] if has_conf else raw[b, j, 2]
            if np.isinf(raw[b, j, 0]) or np.isinf(raw[b, j, 1]) or not (c >= 0.0 and c <= 1.0):
                return b
        for i in range(nc):
            s = to_coco[i]
            c = 0.0
            x = 0.0
            y = 0.0
            if s >= 0:
                x = raw[b, s, 0]
                y = raw[b, s, 1]
                c = conf[b, s] if has_conf else raw[b, s, 2]
                if x != x or y != y:
                    c = 0.0
            if c > 0.0:
                kp[i, 0] = x
                kp[i, 1] = y
            else:
                kp[i, 0] = 0.0
                kp[i, 1] = 0.0
            cf[i] = c
        if mirrored:
            lo = np.inf
            hi = -np.inf
            for i in range(nc):
                if cf[i] > 0.0:
                    lo = min(lo, kp[i, 0])
                    hi = max(hi, kp[i, 0])
            centre = lo + hi if hi >= lo else 0.0
            for i in range(nc):
                f = flip[i]
                mc[i] = cf[f]
                if cf[f] > 0.0:
                    mk[i, 0] = centre - kp[f, 0]
                    mk[i, 1] = kp[f, 1]
                else:
                    mk[i, 0] = 0.0
                    mk[i, 1] = 0.0
            src_k = mk
            src_c = mc
        else:
            src_k = kp
            src_c = cf
        if not normalize_one(src_k, src_c, out_v[b], min_present, _HI, _LO):
            return b
        for i in range(nc):
            out_w[b, i] = src_c[i]
    return -1
