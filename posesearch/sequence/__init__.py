"""Pose sequences: files, smoothing, resampling, time alignment and 0-100 scoring against a reference.

    from posesearch.sequence import score_sequence
    report = score_sequence("reference.json", "user.npz")
    print(report.score, report.worst_joints(), report.summary())

Heavy parts (numba kernels, matplotlib) load lazily; ``import posesearch.sequence`` is cheap.
"""
from .sequence import Sequence, sequence_from_clip
from .io import as_sequence, read_sequence, write_sequence
from .score import CALIBRATION, Calibration, ScoreReport, ScoreSettings, score_sequence
from .stream import ScoreSession, StreamUpdate

__all__ = ["Sequence", "as_sequence", "sequence_from_clip", "read_sequence", "write_sequence",
           "score_sequence", "ScoreSettings", "ScoreReport", "Calibration", "CALIBRATION",
           "ScoreSession", "StreamUpdate"]
