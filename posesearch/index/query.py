"""Query preparation: raw poses -> normalized query vectors and per-keypoint weights.

Every index stores COCO-17 vectors normalized with Move Mirror's normalization
(:mod:`posesearch.poses.normalize`). A raw query goes through the same steps the corpus went through:

1. validate it in its own layout (:func:`posesearch.poses.pose.validate_batch`: shape, keypoint count,
   NaN coordinates -> missing, inf / bad confidences -> error);
2. map it to COCO-17 (:meth:`Layout.convert_to_coco`; joints the layout lacks become missing);
3. optionally mirror it (:func:`posesearch.poses.mirror.mirror` on the raw keypoints: normalized vectors
   cannot be mirrored in place, the normalization is not mirror-equivariant);
4. normalize it (:func:`posesearch.poses.normalize.normalize_batch`; fewer than two present keypoints ->
   error naming the pose).

The weighted metric's weights are the query's COCO-17 confidences (missing keypoints weigh 0). Cosine
queries ignore weights and are turned into unit vectors (cosine distance = L2 distance of unit vectors).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError
from ..poses.layouts import COCO17, Layout, get_layout
from ..poses.mirror import mirror as mirror_pose
from ..poses.normalize import normalize_batch
from ..poses.pose import validate_batch

DIM = 2 * COCO17.num_keypoints  # 34
FACE_JOINTS = slice(0, 5)       # COCO-17 nose, eyes, ears
FACE_DIMS = slice(0, 10)        # their x, y in a query / index vector


@dataclass
class PreparedQueries:
    """Normalized query vectors (B, 34) float64 and their weights (B, 17) float64 (query confidences)."""

    vectors: np.ndarray
    weights: np.ndarray


def _as_batch(values, single_ndim: int, error: type, what: str, name: str) -> tuple[np.ndarray, bool]:
    """``values`` as a float64 array (a copy) with a batch axis, and whether it was one item (``single_ndim``
    dimensions: a leading axis of 1 is added); non-numbers raise ``error`` naming ``name`` and ``what``."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise error(f"{name}: expected numeric {what}, got {type(values).__name__} ({e})") from None
    single = arr.ndim == single_ndim
    return (arr[None] if single else arr), single


def raw_to_coco(poses, layout: "str | Layout" = "coco17", confidences=None, *,
                name: str = "query") -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate raw poses and map them to COCO-17.

    ``poses``: (B, K, 3) / (K, 3) [x, y, confidence], or (B, K, 2) / (K, 2) with ``confidences``.
    Returns keypoints (B, 17, 2) (missing ones zeroed), confidences (B, 17), and whether the input was a
    single pose.
    """
    from ..poses.pose import _check_real

    lay = get_layout(layout)
    _check_real(poses, name, "keypoints")   # complex, boolean, "1.5": refused, never coerced
    if confidences is not None:
        _check_real(confidences, name, "confidences")
    arr, single = _as_batch(poses, 2, InvalidPoseError, "keypoints", name)
    if single and confidences is not None:
        confidences = np.asarray(confidences, dtype=np.float64)[None]
    if arr.ndim != 3:
        raise InvalidPoseError(f"{name}: expected a pose (K, 3) or a batch (B, K, 3), got shape {arr.shape}")
    if arr.shape[1] != lay.num_keypoints:
        raise InvalidPoseError(f"{name}: layout {lay.name} expects {lay.num_keypoints} keypoints, "
                               f"got {arr.shape[1]}")
    kp, cf = validate_batch(arr, confidences, num_keypoints=lay.num_keypoints, name=name)
    kp, cf = lay.convert_to_coco(kp, cf)
    kp = np.where(cf[..., None] > 0, kp, 0.0)
    return np.ascontiguousarray(kp, dtype=np.float64), np.ascontiguousarray(cf, dtype=np.float64), single


def prepare_coco(keypoints: np.ndarray, confidences: np.ndarray, *, mirrored: bool = False,
                 name: str = "query") -> PreparedQueries:
    """Normalize validated COCO-17 keypoints (B, 17, 2) / confidences (B, 17), optionally mirrored first."""
    kp, cf = keypoints, confidences
    if mirrored:
        kp, cf = mirror_pose(kp, cf, COCO17)
        kp = np.where(cf[..., None] > 0, kp, 0.0)
    vectors, _ = normalize_batch(kp, cf, on_invalid="raise", name=name)
    return PreparedQueries(vectors, np.asarray(cf, dtype=np.float64))


def prepare_raw(poses, layout: "str | Layout" = "coco17", confidences=None, *, mirror: bool = False,
                name: str = "query") -> tuple[PreparedQueries, PreparedQueries | None]:
    """Raw poses -> normalized COCO-17 queries (and those of their mirror images when ``mirror``).

    The result of :func:`raw_to_coco` then :func:`prepare_coco`, bit for bit, through one compiled pass
    (:mod:`.kernels.prepare`); input it cannot take as it is, or any pose it finds invalid, goes through
    those checked functions instead, which raise the error naming the problem.
    """
    lay = get_layout(layout)
    fast = _prepare_compiled(poses, lay, confidences, mirror)
    if fast is not None:
        return fast
    kp, cf, _ = raw_to_coco(poses, lay, confidences, name=name)
    return prepare_coco(kp, cf, name=name), (prepare_coco(kp, cf, mirrored=True, name=name) if mirror else None)


def embed_coco(keypoints: np.ndarray, confidences: np.ndarray, *, mirrored: bool = False,
               name: str = "query") -> PreparedQueries:
    """Metric ``view``: validated COCO-17 keypoints (B, 17, 2) / confidences (B, 17), optionally mirrored
    first, lifted to 3D, turned to face one way and embedded (:func:`posesearch.view.lift.embed`)."""
    from ..view.lift import embed

    kp, cf = keypoints, confidences
    if mirrored:
        kp, cf = mirror_pose(kp, cf, COCO17)
        kp = np.where(cf[..., None] > 0, kp, 0.0)
    return PreparedQueries(embed(kp, COCO17, cf, name=name), np.asarray(cf, dtype=np.float64))


def prepare_view(poses, layout: "str | Layout" = "coco17", confidences=None, *, mirror: bool = False,
                 name: str = "query") -> tuple[PreparedQueries, PreparedQueries | None]:
    """Raw poses -> the view-invariant query vectors of metric ``view`` (and those of their mirror images)."""
    kp, cf, _ = raw_to_coco(poses, layout, confidences, name=name)
    return embed_coco(kp, cf, name=name), (embed_coco(kp, cf, mirrored=True, name=name) if mirror else None)


def _prepare_compiled(poses, lay: Layout, confidences, mirror: bool):
    """The compiled path of :func:`prepare_raw`, or None when the checked path must run."""
    from ..poses.normalize import MIN_PRESENT
    from .kernels.prepare import prepare_queries

    try:
        arr = np.asarray(poses)
        conf = None if confidences is None else np.asarray(confidences)
    except (TypeError, ValueError):
        return None
    if arr.dtype.kind not in "iuf" or (conf is not None and conf.dtype.kind not in "iuf"):
        return None   # the checked path refuses (or, for None entries, reads) it
    arr = arr.astype(np.float64, copy=False)
    conf = None if conf is None else conf.astype(np.float64, copy=False)
    want = 3 if conf is None else 2
    if arr.ndim not in (2, 3) or arr.shape[-2:] != (lay.num_keypoints, want) or arr.size == 0:
        return None
    if conf is not None and conf.shape != arr.shape[:-1]:
        return None
    arr = np.ascontiguousarray(arr.reshape(-1, lay.num_keypoints, want))
    conf = np.zeros((1, 1)) if conf is None else np.ascontiguousarray(conf.reshape(arr.shape[:2]))
    to_coco, flip = _maps(lay)
    out = []
    for mirrored in ((False, True) if mirror else (False,)):
        v = np.empty((arr.shape[0], DIM))
        w = np.empty((arr.shape[0], COCO17.num_keypoints))
        if prepare_queries(arr, conf, confidences is not None, to_coco, flip, mirrored, MIN_PRESENT, v, w) >= 0:
            return None
        out.append(PreparedQueries(v, w))
    return out[0], (out[1] if mirror else None)


_MAPS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _maps(lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(source joint of each COCO-17 joint or -1, COCO-17's left/right flip permutation) as int64 arrays."""
    m = _MAPS.get(lay.name)
    if m is None:
        m = _MAPS[lay.name] = (np.asarray(lay.to_coco, dtype=np.int64), np.asarray(COCO17.flip, dtype=np.int64))
    return m


def check_query_vectors(vectors, weights=None, *, weighted: bool,
                        name: str = "query vectors") -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Validate pre-normalized query vectors (B, 34) / (34,) and weights (B, 17) / (17,).

    For the weighted metric ``weights=None`` means uniform weights. Returns float64 arrays and whether
    the input was a single vector.
    """
    v, single = _as_batch(vectors, 1, InvalidArgumentError, "vectors", name)
    if v.ndim != 2 or v.shape[1] != DIM:
        raise InvalidArgumentError(f"{name}: expected shape (B, {DIM}) or ({DIM},) (normalized COCO-17 "
                                   f"vectors), got {v.shape}")
    if v.shape[0] == 0:
        raise InvalidArgumentError(f"{name}: empty (no queries)")
    if not np.isfinite(v).all():
        i = int(np.argwhere(~np.isfinite(v))[0][0])
        raise InvalidArgumentError(f"{name}: query {i} has a NaN or infinite value")
    norms = np.sqrt((v * v).sum(axis=1))
    if (norms == 0).any():
        raise InvalidArgumentError(f"{name}: query {int(np.argmin(norms))} is an all-zero vector")
    if not weighted:
        return v, None, single
    k = DIM // 2
    if weights is None:
        w = np.ones((v.shape[0], k))
    else:
        try:
            w = np.array(weights, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"weights: expected numbers ({e})") from None
        if w.ndim == 1:
            w = np.broadcast_to(w, (v.shape[0], w.shape[0])).copy()
        if w.shape != (v.shape[0], k):
            raise InvalidArgumentError(f"weights: expected shape ({v.shape[0]}, {k}), got {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise InvalidArgumentError("weights: expected finite non-negative per-keypoint weights")
    tot = w.sum(axis=1)
    if (tot <= 0).any():
        raise InvalidArgumentError(f"weights: query {int(np.argmin(tot))} has no keypoint with positive "
                                   "weight (the weighted metric needs at least one confident keypoint)")
    return v, w, single


def unit_rows(v: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Rows scaled to unit L2 length (computed in float64)."""
    v64 = np.asarray(v, dtype=np.float64)
    n = np.sqrt((v64 * v64).sum(axis=1, keepdims=True))
    return np.ascontiguousarray(v64 / n, dtype=dtype)
