"""Mirroring: an x-flip plus the layout's left/right swap.

``mirror`` flips x about the centre of the present keypoints' horizontal extent, so the mirrored pose
stays where it was in the image: x' = (min x + max x) - x. The joint order is then permuted with the
layout's flip permutation, so that the mirrored person's left wrist is stored as ``left_wrist``.
mirror(mirror(p)) == p. Mirror raw keypoints, then normalize: Move Mirror's bbox-corner L2
normalization is not mirror-equivariant (the norm is taken from the min-x corner), so normalized
vectors cannot be mirrored in place.
"""
from __future__ import annotations

import numpy as np

from .layouts import Layout, get_layout


def mirror(keypoints: np.ndarray, confidences: np.ndarray | None = None, layout: "str | Layout" = "coco17",
           *, axis_sum: float | None = None):
    """Mirror (K, 2|3) or (N, K, 2|3) keypoints; returns the same shapes (and mirrored confidences if given).

    A (…, K, 3) array carries confidences in its last column; missing keypoints (confidence 0 or NaN
    coordinates) neither move the flip centre nor get moved meaningfully. Each pose flips about its own
    centre (x -> min x + max x - x over its present keypoints); ``axis_sum`` given, every pose flips
    as x -> axis_sum - x (one axis for a whole sequence).
    """
    lay = get_layout(layout)
    kp = np.array(keypoints, dtype=np.float64)
    if kp.shape[-2] != lay.num_keypoints:
        from ..errors import InvalidPoseError

        raise InvalidPoseError(f"mirror: layout {lay.name} expects {lay.num_keypoints} keypoints, got {kp.shape[-2]}")
    if confidences is not None:
        conf = np.asarray(confidences, dtype=np.float64)
    elif kp.shape[-1] == 3:
        conf = kp[..., 2]
    else:
        conf = np.ones(kp.shape[:-1])
    x = kp[..., 0]
    if axis_sum is None:
        present = (conf > 0) & ~np.isnan(x)
        lo = np.where(present, x, np.inf).min(axis=-1, keepdims=True)
        hi = np.where(present, x, -np.inf).max(axis=-1, keepdims=True)
        any_present = present.any(axis=-1, keepdims=True)
        axis_sum = np.where(any_present, np.where(any_present, lo, 0.0) + np.where(any_present, hi, 0.0), 0.0)
    kp[..., 0] = axis_sum - x
    perm = np.asarray(lay.flip)
    kp = kp[..., perm, :]
    if confidences is not None:
        return kp, conf[..., perm]
    return kp
