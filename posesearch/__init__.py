"""posesearch: find and score human poses.

Pose core (light imports): layouts, normalization, distances, mirror, Procrustes, ``pose_similarity``.
Heavier parts load on first use: ``Corpus`` (h5py), ``Index`` (numba, faiss), ``score_sequence``, ``extract``
(a video or image to poses: the ``video`` extra, whose OpenCV and mediapipe load only when it runs).
"""
from __future__ import annotations

from ._lazy import lazy_getattr

from ._cache import configure_numba_cache

# Before any kernel compiles: numba caches in a per-user folder, never inside the installed package.
configure_numba_cache()

from .errors import (ChecksumError, FileFormatError, InvalidArgumentError, InvalidPoseError,  # noqa: E402
                     PoseSearchError, UnknownNameError)
from .poses.distances import METRICS, cosine_distance, cosine_similarity, get_metric, weighted_distance
from .poses.layouts import LAYOUTS, Layout, get_layout
from .poses.mirror import mirror
from .poses.normalize import normalize_batch, normalize_pose
from .poses.procrustes import procrustes_align, procrustes_distance
from .poses.similarity import pose_similarity

from ._version import __version__  # noqa: E402  (one definition: posesearch/_version.py)

# name -> module for lazily imported public objects
_LAZY = {
    "Corpus": "posesearch.corpus.store",
    "Clip": "posesearch.corpus.clip",
    "Index": "posesearch.index.index",
    "Matches": "posesearch.index.matches",
    "BACKENDS": "posesearch.index.registry",
    "Sequence": "posesearch.sequence.sequence",
    "read_sequence": "posesearch.sequence.io",
    "score_sequence": "posesearch.sequence.score",
    "ScoreSettings": "posesearch.sequence.score",
    "ScoreReport": "posesearch.sequence.score",
    "ScoreSession": "posesearch.sequence.stream",
    "SequenceSearchSettings": "posesearch.clipsearch",
    "read_pose_file": "posesearch.poses.io",
    "read_input": "posesearch.inputs",
    "find_reps": "posesearch.sequence.reps",
    "count_reps": "posesearch.sequence.reps",
    "RepSettings": "posesearch.sequence.reps",
    "joint_angles": "posesearch.poses.angles",
    "lift": "posesearch.view.lift",
    "extract": "posesearch.video.extract",
}


__getattr__ = lazy_getattr("posesearch", _LAZY)


__all__ = [
    "ChecksumError", "FileFormatError", "InvalidArgumentError", "InvalidPoseError", "PoseSearchError",
    "UnknownNameError", "METRICS", "cosine_distance", "cosine_similarity", "get_metric", "weighted_distance",
    "LAYOUTS", "Layout", "get_layout", "mirror", "normalize_batch", "normalize_pose", "procrustes_align",
    "procrustes_distance", "pose_similarity", "__version__", *_LAZY,
]
