"""Compiled Move Mirror normalization for large batches (same result as the numpy path, one pass a pose)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def normalize_into(kp, conf, out, valid, min_present):  # pragma: no cover - compiled
    n, k = conf.shape
    for i in prange(n):
        minx = np.inf
        miny = np.inf
        count = 0
        for j in range(k):
            x = kp[i, j, 0]
            y = kp[i, j, 1]
            if conf[i, j] > 0 and x == x and y == y:
                count += 1
                if x < minx:
                    minx = x
                if y < miny:
                    miny = y
        ss = 0.0
        maxx = 0.0
        maxy = 0.0
        for j in range(k):
            x = kp[i, j, 0]
            y = kp[i, j, 1]
            if conf[i, j] > 0 and x == x and y == y:
                tx = x - minx
                ty = y - miny
                ss += tx * tx + ty * ty
                if tx > maxx:
                    maxx = tx
                if ty > maxy:
                    maxy = ty
        norm = np.sqrt(ss)
        ok = count >= min_present and norm > 0 and np.isfinite(norm)
        valid[i] = ok
        if not ok:
            for j in range(2 * k):
                out[i, j] = 0
            continue
        inv = 1.0 / norm
        cx = 0.5 * maxx * inv
        cy = 0.5 * maxy * inv
        for j in range(k):
            x = kp[i, j, 0]
            y = kp[i, j, 1]
            if conf[i, j] > 0 and x == x and y == y:
                out[i, 2 * j] = (x - minx) * inv
                out[i, 2 * j + 1] = (y - miny) * inv
            else:
                out[i, 2 * j] = cx
                out[i, 2 * j + 1] = cy
