"""numba kernel of :mod:`posesearch.sequence.resample` (rules documented there)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def resample_frames(times, keypoints, confidences, target, linear, max_gap, tolerance):
    """``hold`` (linear False) or ``linear`` resampling of every keypoint (T, K, 2) over the frames where its
    confidence (T, K) is > 0 onto ``target`` (M,) (both times strictly increasing): ``(keypoints (M, K, 2),
    confidences (M, K), whether Sequence would take them unchanged (:func:`_clean`))``, 0 where missing. Per
    target time the formulas of ``resample._interp_keypoint``, element by element (the last sample ``a`` at or
    before ``t + tolerance`` by a merge walk, which finds the index ``np.searchsorted(side="right")`` finds), so
    the same values."""
    T, K = confidences.shape
    M = target.shape[0]
    kp = np.zeros((M, K, 2))
    cf = np.zeros((M, K))
    idx = np.empty(T, np.int64)
    for k in range(K):
        n = 0
        for t in range(T):
            if confidences[t, k] > 0.0:
                idx[n] = t
                n += 1
        if n == 0:
            continue
        j = 0                                   # samples with time <= target + tolerance
        for i in range(M):
            v = target[i] + tolerance
            while j < n and times[idx[j]] <= v:
                j += 1
            if j == 0:
                continue
            a = idx[j - 1]
            ta = times[a]
            if abs(ta - target[i]) <= tolerance:
                kp[i, k, 0] = keypoints[a, k, 0]
                kp[i, k, 1] = keypoints[a, k, 1]
                cf[i, k] = confidences[a, k]
                continue
            if j >= n:
                continue
            b = idx[j]
            h = times[b] - ta
            if not h <= max_gap:
                continue
            if not linear:
                kp[i, k, 0] = keypoints[a, k, 0]
                kp[i, k, 1] = keypoints[a, k, 1]
                cf[i, k] = confidences[a, k]
                continue
            w = (target[i] - ta) / h
            cf[i, k] = (1.0 - w) * confidences[a, k] + w * confidences[b, k]
            kp[i, k, 0] = (1.0 - w) * keypoints[a, k, 0] + w * keypoints[b, k, 0]
            kp[i, k, 1] = (1.0 - w) * keypoints[a, k, 1] + w * keypoints[b, k, 1]
    return kp, cf, _clean(kp, cf)


@njit(cache=True, nogil=True)
def _clean(kp, cf):
    """Would :class:`~posesearch.sequence.sequence.Sequence` take these (M, K, 2) keypoints and (M, K) confidences
    as they are: finite points, +0.0 where the confidence is 0, confidences in [0, 1], some above 0."""
    seen = False
    for i in range(cf.shape[0]):
        for k in range(cf.shape[1]):
            c = cf[i, k]
            x, y = kp[i, k, 0], kp[i, k, 1]
            if not (0.0 <= c <= 1.0 and math.isfinite(x) and math.isfinite(y)):
                return False
            if c == 0.0 and (x != 0.0 or y != 0.0 or math.copysign(1.0, x) < 0.0 or math.copysign(1.0, y) < 0.0):
                return False        # construction would set a missing point to +0.0
            seen |= c > 0.0
    return seen
