"""Pictures a person can look at: skeletons drawn per limb, a query beside its matches, a clip's contact
sheet, a score report with the worst moments (matplotlib Agg, loaded on first use).

``draw_on_image`` (numpy only) draws a skeleton into an RGB image; ``plot_matches`` and ``plot_clip`` write
PNGs atomically (also as ``Matches.plot`` and ``Clip.plot``). The score report picture uses the same drawing
and lives with the score (``ScoreReport.plot``, :mod:`posesearch.sequence.plot`), one layer up.
"""
from __future__ import annotations

from .._lazy import lazy_getattr

_LAZY = {
    "LIMB_COLORS": "posesearch.pictures.draw",
    "draw_skeleton": "posesearch.pictures.draw",
    "draw_on_image": "posesearch.pictures.draw",
    "source_frame": "posesearch.pictures.draw",
    "set_video_frame_reader": "posesearch.pictures.draw",
    "matches_figure": "posesearch.pictures.sheets",
    "plot_matches": "posesearch.pictures.sheets",
    "clip_figure": "posesearch.pictures.sheets",
    "plot_clip": "posesearch.pictures.sheets",
}


__getattr__ = lazy_getattr("posesearch.pictures", _LAZY)


__all__ = list(_LAZY)
