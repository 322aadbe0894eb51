"""Compiled Move Mirror normalization for large batches (same result as the numpy path, one pass a pose)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def normalize_one(kp, conf, out, min_present, big, small):  # pragma: no cover - compiled
    """Normalize one pose kp (K, 2) / conf (K,) into out (2K,); False (out zeroed) if it cannot be.

    The same arithmetic, in the same order, as the numpy path of :func:`..normalize.normalize_batch`:
    a running sum over keypoints of tx^2 + ty^2, then division by the norm (bit-identical float64). A pose whose
    extent lies outside [small, big] is first scaled by an exact power of two (as there)."""
    k = conf.shape[0]
    minx = np.inf
    miny = np.inf
    count = 0
    for j in range(k):
        x = kp[j, 0]
        y = kp[j, 1]
        if conf[j] > 0 and x == x and y == y:
            count += 1
            if x < minx:
                minx = x
            if y < miny:
                miny = y
    extent = 0.0
    for j in range(k):
        x = kp[j, 0]
        y = kp[j, 1]
        if conf[j] > 0 and x == x and y == y:
            extent = max(extent, x - minx, y - miny)
    factor = 1.0
    if extent > big or (0 < extent < small):
        factor = math.ldexp(1.0, -math.frexp(extent)[1])
    ss = 0.0
    for j in range(k):
        x = kp[j, 0]
        y = kp[j, 1]
        if conf[j] > 0 and x == x and y == y:
            tx = (x - minx) * factor
            ty = (y - miny) * factor
            ss += tx * tx + ty * ty
    norm = np.sqrt(ss)
    if not (count >= min_present and norm > 0 and np.isfinite(norm)):
        for j in range(2 * k):
            out[j] = 0
        return False
    maxx = 0.0
    maxy = 0.0
    for j in range(k):
        x = kp[j, 0]
        y = kp[j, 1]
        if conf[j] > 0 and x == x and y == y:
            tx = (x - minx) * factor / norm
            ty = (y - miny) * factor / norm
            out[2 * j] = tx
            out[2 * j + 1] = ty
            if tx > maxx:
                maxx = tx
            if ty > maxy:
                maxy = ty
    cx = maxx * 0.5
    cy = maxy * 0.5
    for j in range(k):
        x = kp[j, 0]
        y = kp[j, 1]
        if not (conf[j] > 0 and x == x and y == y):
            out[2 * j] = cx
            out[2 * j + 1] = cy
    return True


@njit(cache=True, parallel=True, nogil=True)
def normalize_into(kp, conf, out, valid, min_present, big, small):  # pragma: no cover - compiled
    for i in prange(conf.shape[0]):
        valid[i] = normalize_one(kp[i], conf[i], out[i], min_present, big, small)
