"""numba kernel of :func:`posesearch.sequence.score._moments`."""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def joint_sums(r, err, w, use, tr):
    """Per reference frame and joint, the summed weighted errors and weights of the pairs ``use``d with a finite
    error: ``(sum w e (tr, K), sum w (tr, K))``, added in pair order from 0 as ``np.bincount`` adds (the pairs
    left out add nothing: the numpy form added +0.0 for them, which leaves these non-negative sums as they are)."""
    P, K = err.shape
    e_sum = np.zeros((tr, K))
    w_sum = np.zeros((tr, K))
    for p in range(P):
        if not use[p]:
            continue
        i = r[p]
        for k in range(K):
            e = err[p, k]
            if math.isfinite(e):
                e_sum[i, k] += e * w[p, k]
                w_sum[i, k] += w[p, k]
    return e_sum, w_sum
