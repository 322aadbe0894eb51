"""``pose_similarity``: the posenet-similarity API (npm ``posenet-similarity`` 0.4.8) on raw poses.

Poses are (K, 3) arrays of [x, y, confidence] or PoseNet-style dicts
``{"keypoints": [{"position": {"x", "y"}, "score", "part"}, ...]}``. Both are normalized with the Move
Mirror normalization (:mod:`posesearch.poses.normalize`) and compared with one strategy:

* ``weighted_distance`` (default): weights = pose1's confidences, optionally modified by
  ``custom_weight = {"mode": "multiply"|"replace"|"add", "scores": {part: value} | [value, ...]}``
  (dict keys are part names — ours or PoseNet's — list entries apply by keypoint index).
* ``cosine_distance`` / ``cosine_similarity``: custom weights do not apply (as in posenet-similarity).
* ``procrustes_distance``: rotation-only Procrustes (see :mod:`posesearch.poses.procrustes`) over the
  keypoints present in both poses; not in posenet-similarity.
* a callable ``f(vec1, vec2, weights_with_sum)`` receiving the two normalized 2K-vectors and the K
  weights followed by their sum, as posenet-similarity passes them.

Difference from posenet-similarity, by design: a keypoint with confidence 0 is *missing* and does not
move the bounding box or the norm (posenet-similarity uses it as a real point); and a pose that cannot be
normalized raises instead of returning NaN.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError, UnknownNameError
from ..registry import Registry
from .distances import cosine_distance, cosine_similarity, weighted_distance
from .layouts import Layout, get_layout
from .mirror import mirror
from .normalize import normalize_pose
from .pose import validate_pose
from .procrustes import procrustes_distance

STRATEGIES: Registry[Callable] = Registry("strategy", {
    "weighted_distance": lambda f, g, w: float(weighted_distance(f, g, w)),
    "cosine_distance": lambda f, g, w: float(cosine_distance(f, g)),
    "cosine_similarity": lambda f, g, w: float(cosine_similarity(f, g)),
    # on normalized vectors, weights > 0 mark the keypoints used (pose_similarity passes both poses' presence)
    "procrustes_distance": lambda f, g, w: float(procrustes_distance(
        f.reshape(-1, 2), g.reshape(-1, 2), (np.asarray(w) > 0).astype(np.float64))),
}, aliases={"weighted": "weighted_distance", "cosine": "cosine_distance"})
# (camelCase names, weightedDistance, resolve by the registry's normalization)
WEIGHT_MODES: Registry[str] = Registry("custom_weight.mode", ("multiply", "replace", "add"))


@dataclass
class PoseInput:
    """A raw pose after parsing: keypoints (K, 2), confidences (K,), part names (K,) or None."""

    keypoints: np.ndarray
    confidences: np.ndarray
    parts: list[str] | None


def _check_part_names(parts: list[str], name: str) -> None:
    """Part names are the truth: an unknown or repeated name is refused (never read by position)."""
    from .layouts import LAYOUTS

    known = set().union(*(set(lay.joints) | set(lay.source_names) for lay in LAYOUTS.values()))
    seen: dict[str, int] = {}
    for i, part in enumerate(parts):
        if part not in known:
            raise InvalidPoseError(f"{name}: keypoints[{i}].part {part!r} is not a joint of any layout")
        if part in seen:
            raise InvalidPoseError(f"{name}: keypoints[{i}].part {part!r} repeats keypoints[{seen[part]}]")
        seen[part] = i


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def parse_pose(pose, name: str = "pose") -> PoseInput:
    """Parse a (K, 3) array / nested list or a PoseNet-style dict into arrays; errors name ``name``."""
    if isinstance(pose, Mapping):
        kps = pose.get("keypoints")
        if kps is None:
            raise InvalidPoseError(f"{name}: expected a PoseNet-style object with 'keypoints', got keys {sorted(pose)}")
        if isinstance(kps, np.ndarray) or (isinstance(kps, Sequence) and kps and not isinstance(kps[0], Mapping)):
            kp, cf = validate_pose(kps, name=name)
            return PoseInput(kp, cf, None)
        if not isinstance(kps, Sequence) or isinstance(kps, (str, bytes)):
            raise InvalidPoseError(f"{name}: 'keypoints' must be a list, got {type(kps).__name__}")
        if len(kps) == 0:
            raise InvalidPoseError(f"{name}: 'keypoints' is empty")
        rows, parts = [], []
        for i, k in enumerate(kps):
            try:
                pos = k["position"]
                row = [pos["x"], pos["y"], k["score"]]
            except (KeyError, TypeError, ValueError, IndexError):
                row = None
            if row is None or not all(_is_real(v) for v in row):   # "0.9", True: refused, not coerced
                raise InvalidPoseError(
                    f"{name}: keypoints[{i}] must have position.x, position.y and a numeric score") from None
            rows.append([float(v) for v in row])
            parts.append(k.get("part"))
        kp, cf = validate_pose(rows, name=name)
        if not all(isinstance(p, str) for p in parts):
            if any(p is not None for p in parts):
                raise InvalidPoseError(f"{name}: keypoints[{next(i for i, p in enumerate(parts) if not isinstance(p, str))}]"
                                       ".part: expected a part name (name every part or none)")
            return PoseInput(kp, cf, None)
        _check_part_names(parts, name)
        return PoseInput(kp, cf, parts)
    if pose is None or isinstance(pose, (str, bytes, int, float, bool)):
        raise InvalidPoseError(f"{name}: expected a (K, 3) array or a PoseNet-style object, got {type(pose).__name__}")
    kp, cf = validate_pose(pose, name=name)
    return PoseInput(kp, cf, None)


def apply_custom_weight(weights: np.ndarray, custom_weight, parts: list[str] | None,
                        layout: Layout | None = None) -> np.ndarray:
    """Modify per-keypoint weights with a posenet-similarity ``customWeight`` option."""
    if custom_weight is None:
        return weights
    if not isinstance(custom_weight, Mapping):
        raise InvalidArgumentError(f"custom_weight: expected {{'mode': ..., 'scores': ...}}, got {custom_weight!r}")
    mode = WEIGHT_MODES.canonical(custom_weight.get("mode"))
    scores = custom_weight.get("scores")
    w = np.array(weights, dtype=np.float64)
    mods = np.full(len(w), np.nan)
    if isinstance(scores, Mapping):
        names: dict[str, int] = {}
        if layout is None and not parts:
            # a plain (K, 3) array: its joints are named by the one layout of K keypoints (17: coco17)
            from .layouts import layouts_for_count

            fits = layouts_for_count(len(w))
            if len(fits) != 1:
                raise InvalidArgumentError(
                    f"custom_weight.scores: keypoints named by name need the pose's layout; {len(w)} keypoints fit "
                    f"{', '.join(x.name for x in fits) or 'no layout'}: pass layout=NAME or PoseNet part names")
            layout = fits[0]
        if layout is not None and layout.num_keypoints == len(w):
            names.update({n: i for i, n in enumerate(layout.joints)})
            names.update({n: i for i, n in enumerate(layout.source_names)})
        if parts:
            names.update({n: i for i, n in enumerate(parts)})
        keypoints = Registry("keypoint", names)
        for key, val in scores.items():
            mods[keypoints.lookup(key)] = _number(val, f"custom_weight.scores[{key!r}]")
    elif isinstance(scores, Sequence) and not isinstance(scores, (str, bytes)):
        if len(scores) > len(w):
            raise InvalidArgumentError(f"custom_weight.scores: {len(scores)} values for {len(w)} keypoints")
        for i, val in enumerate(scores):
            if val is not None:
                mods[i] = _number(val, f"custom_weight.scores[{i}]")
    else:
        raise InvalidArgumentError(f"custom_weight.scores: expected a dict of part -> number or a list of numbers, got {scores!r}")
    have = ~np.isnan(mods)
    if mode == "multiply":
        w[have] *= mods[have]
    elif mode == "replace":
        w[have] = mods[have]
    else:
        w[have] += mods[have]
    return w


def _number(val, name):
    if isinstance(val, bool) or not isinstance(val, (int, float, np.integer, np.floating)) or not np.isfinite(val):
        raise InvalidArgumentError(f"{name}: expected a finite number, got {val!r}")
    return float(val)


def resolve_strategy(strategy) -> Callable:
    if callable(strategy):
        return strategy
    if not isinstance(strategy, str):
        raise UnknownNameError("strategy", strategy, STRATEGIES)
    return STRATEGIES.lookup(strategy)


def pose_vectors(pose, *, custom_weight=None, layout=None, name: str = "pose"):
    """(vector (2K,), weights (K,), parts) of a raw pose, as posenet-similarity's convertPoseToVectors."""
    p = parse_pose(pose, name)
    lay = get_layout(layout) if layout is not None else None
    vec = normalize_pose(p.keypoints, p.confidences, name=name)
    w = apply_custom_weight(p.confidences, custom_weight, p.parts, lay)
    return vec, w, p


def pose_similarity(pose1, pose2, strategy="weighted_distance", custom_weight=None, *, layout=None,
                    mirror_invariant: bool = False, names: tuple[str, str] = ("pose1", "pose2")):
    """Compare two raw poses (posenet-similarity's ``poseSimilarity``).

    Returns a float. With ``mirror_invariant=True`` returns ``(value, mirrored)``: the best of pose2
    and its mirror image (min for distances, max for similarity), and whether the mirror won; this
    needs the layout (given, or inferred as COCO-17 for 17 keypoints). ``names``: what messages call
    the two poses (e.g. their file names).
    """
    fn = resolve_strategy(strategy)
    n1, n2 = names
    v1, w1, p1 = pose_vectors(pose1, custom_weight=custom_weight, layout=layout, name=n1)
    p2 = parse_pose(pose2, n2)
    if len(p2.confidences) != len(p1.confidences):
        raise InvalidPoseError(f"{n2}: expected {len(p1.confidences)} keypoints like {n1}, got {len(p2.confidences)}")
    if p1.parts is not None and p2.parts is not None and p1.parts != p2.parts:   # match by name, not position
        if set(p1.parts) != set(p2.parts):
            diff = sorted(set(p1.parts) ^ set(p2.parts))
            raise InvalidPoseError(f"{n2}: its parts differ from {n1}'s ({', '.join(diff[:4])})")
        order = [p2.parts.index(q) for q in p1.parts]
        p2 = PoseInput(p2.keypoints[order], p2.confidences[order], list(p1.parts))
    v2 = normalize_pose(p2.keypoints, p2.confidences, name=n2)
    weights_with_sum = np.append(w1, w1.sum())

    def run(vec2, conf2):
        if fn is STRATEGIES["procrustes_distance"]:
            return fn(v1, vec2, (p1.confidences > 0) & (conf2 > 0))
        return fn(v1, vec2, w1) if fn in STRATEGIES.values() else fn(v1, vec2, weights_with_sum)

    value = run(v2, p2.confidences)
    if not mirror_invariant:
        return value
    from .layouts import layout_for_count

    lay = get_layout(layout) if layout is not None else layout_for_count(len(p2.confidences))
    mk, mc = mirror(p2.keypoints, p2.confidences, lay)
    mvalue = run(normalize_pose(mk, mc, name=f"{n2} (mirrored)"), mc)
    larger_is_better = strategy in ("cosine_similarity", "cosineSimilarity")
    better = mvalue > value if larger_is_better else mvalue < value
    return (mvalue, True) if better else (value, False)
