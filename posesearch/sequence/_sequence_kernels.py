"""numba kernels of :mod:`posesearch.sequence.sequence`."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def mirror_frames(keypoints, confidences, flip, axis_sum):
    """Keypoints (T, K, 2) and confidences (T, K) mirrored: joint k takes joint ``flip[k]``'s confidence and
    point ``(axis_sum - x, y)``, or (0, 0) where that confidence is 0. In one pass, the arithmetic of
    :func:`posesearch.poses.mirror.mirror` followed by zeroing the missing points (the same bits)."""
    T, K = confidences.shape
    kp = np.empty((T, K, 2))
    cf = np.empty((T, K))
    for t in range(T):
        for k in range(K):
            s = flip[k]
            c = confidences[t, s]
            cf[t, k] = c
            if c > 0.0:
                kp[t, k, 0] = axis_sum - keypoints[t, s, 0]
                kp[t, k, 1] = keypoints[t, s, 1]
            else:
                kp[t, k, 0] = 0.0
                kp[t, k, 1] = 0.0
    return kp, cf
