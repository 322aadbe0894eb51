"""Small multiples: a query beside its nearest corpus frames (:func:`plot_matches`), and the contact sheet
of a clip (:func:`plot_clip`).

The objects come in duck-typed (a :class:`~posesearch.index.matches.Matches`, a corpus with ``frames(ids)``,
a :class:`~posesearch.corpus.clip.Clip`), so this module sits just above the pose layer and ``Matches.plot``
and ``Clip.plot`` can call it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError, check_number
from ..poses.layouts import get_layout
from .draw import (REFERENCE_COLOR, check_png_path, draw_skeleton, limb_legend_handles, new_figure, pose_axes,
                   pose_box, save_png, source_frame, split_pose)

QUERY_EDGE = "#2b2b2b"
MIRROR_EDGE = "#ff7f0e"
#: the labels a match panel shows, first found first (plus ``view`` when present)
LABEL_KEYS = ("action", "label", "description", "category", "dataset")


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def match_label(labels: dict) -> str:
    """The one label line of a match panel, e.g. ``tennis_serve, view 45``."""
    main = next((str(labels[k]) for k in LABEL_KEYS if labels.get(k) not in (None, "")), "")
    view = labels.get("view")
    return ", ".join(x for x in (main, f"view {view}" if view not in (None, "") else "") if x)


def distance_text(d: float) -> str:
    """A distance for a panel title: 4 decimals (``0.0000`` for a match equal to the query), 3 digits above 10."""
    d = float(d)
    return f"{d:.3g}" if abs(d) >= 10 else f"{d:.4f}"


def _ghost(query_xy, query_present, query_layout, target_xy, target_present, mirrored: bool):
    """The query (in COCO-17, mirrored if the match was) fitted onto a match by Procrustes, or None."""
    from ..poses.mirror import mirror
    from ..poses.procrustes import procrustes_align

    lay = get_layout(query_layout)
    conf = query_present.astype(np.float64)
    kp, cf = lay.convert_to_coco(np.where(query_present[:, None], query_xy, 0.0), conf)
    if mirrored:
        kp, cf = mirror(kp, cf, "coco17")
    both = (cf > 0) & target_present & np.isfinite(kp).all(axis=1)
    if both.sum() < 3:
        return None
    try:
        res = procrustes_align(np.nan_to_num(target_xy), np.nan_to_num(kp), both.astype(np.float64))
    except InvalidPoseError:
        return None
    return np.concatenate([res.aligned, both[:, None].astype(np.float64)], axis=1)


def _wrap(text: str, fig) -> str:
    """``text`` broken into lines that fit the figure's width at a 10.5 pt title."""
    import textwrap

    return "\n".join(textwrap.wrap(text, max(20, int(fig.get_figwidth() * 11))))


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    """(rows, columns) for n panels, at most ``max_cols`` wide, rows as full as possible (8 -> 2 x 4)."""
    rows = int(math.ceil(n / max_cols))
    return rows, int(math.ceil(n / rows))


def _show_pose(ax, xy, present, layout, image=None, *, ghost=None, pad: float = 0.12, **kw) -> None:
    """One panel: the pose (over ``image`` when given, cropped around the pose) and a faint ``ghost`` pose."""
    box = pose_box([(xy, present)], pad=pad if image is None else 0.3)
    if image is not None:
        h, w = image.shape[:2]
        ax.imshow(image, zorder=0)
        if box is not None:
            x0, x1, y0, y1 = box
            box = (max(x0, 0), min(x1, w), max(y0, 0), min(y1, h))
        else:
            box = (0, w, 0, h)
    if ghost is not None:
        draw_skeleton(ax, ghost[:, :2], "coco17", ghost[:, 2], color=REFERENCE_COLOR, alpha=0.55, linewidth=1.6,
                      joint_size=0, zorder=1.5)
    draw_skeleton(ax, xy, layout, present.astype(np.float64), **kw)
    pose_axes(ax, box)


def matches_figure(query, frames, distances, mirrored, *, query_layout=None, query_confidences=None,
                   query_name: str = "query", metric: str = "", images=None, title: str | None = None,
                   max_cols: int = 6, dpi: int = 100):
    """The Figure: the query, then one panel per match titled with its rank, distance, clip, frame, time
    and label; mirrored matches framed in orange and marked "mirrored". Behind each match, the query
    fitted onto it by Procrustes in grey, to compare shapes at a glance.

    query: (J, 2|3) pose; frames: corpus frames (``keypoints`` (k, 17, 2) COCO-17, ``confidences``,
    ``clip_id``, ``frame``, ``time``, ``labels``: a :class:`~posesearch.corpus.records.FrameBatch`);
    distances, mirrored: (k,); images: per match an (H, W, 3) picture to draw on, or None."""
    qxy, qpres, qlay = split_pose(query, query_confidences, query_layout, name=query_name)
    k = len(distances)
    rows, cols = _grid(k + 1, max_cols)
    fig = new_figure(max(2.05 * cols, 4.5), 2.95 * rows + 0.7, dpi=dpi)
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    _show_pose(axes[0], qxy, qpres, qlay)
    axes[0].set_title(f"query\n{_cut(query_name, 26)}", fontsize=8.5, fontweight="bold")
    for s in axes[0].spines.values():
        s.set_color(QUERY_EDGE)
        s.set_linewidth(1.6)
    images = images if images is not None else [None] * k
    for j in range(k):
        ax = axes[j + 1]
        mxy = np.asarray(frames.keypoints[j], dtype=np.float64)
        mpres = np.isfinite(mxy).all(axis=1) & (np.asarray(frames.confidences[j]) > 0)
        ghost = _ghost(qxy, qpres, qlay, mxy, mpres, bool(mirrored[j])) if images[j] is None else None
        _show_pose(ax, mxy, mpres, "coco17", images[j], ghost=ghost)
        mir = bool(mirrored[j])
        ax.set_title(f"#{j + 1}  d = {distance_text(distances[j])}{'  mirrored' if mir else ''}\n"
                     f"{_cut(str(frames.clip_id[j]), 26)}", fontsize=8,
                     color=MIRROR_EDGE if mir else "black")
        when = f"frame {int(frames.frame[j])}, {float(frames.time[j]):.2f} s"
        lab = match_label(frames.labels[j])
        ax.set_xlabel(when + ("\n" + _cut(lab, 30) if lab else ""), fontsize=7.5, color="#333333")
        if mir:
            for s in ax.spines.values():
                s.set_color(MIRROR_EDGE)
                s.set_linewidth(1.8)
                s.set_linestyle("--")
    for ax in axes[k + 1:]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D

    handles = limb_legend_handles() + [Line2D([], [], color=REFERENCE_COLOR, lw=1.6, label="query fitted onto match")]
    if np.any(mirrored):
        handles.append(Line2D([], [], color=MIRROR_EDGE, lw=1.8, ls="--", label="mirrored match"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7.5, frameon=False)
    head = title or f"{k} nearest corpus frames of {query_name}"
    fig.suptitle(_wrap(head + (f" ({metric} distance)" if metric else ""), fig), fontsize=10.5)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return fig


def plot_matches(matches, path, query, corpus, *, query_index: int = 0, layout=None, confidences=None,
                 query_name: str = "query", title: str | None = None, backgrounds: bool = True) -> Path:
    """Write a PNG of query ``query_index`` beside its matches (see :func:`matches_figure`). ``query``: that
    query's (J, 2|3) pose (or all queries, (B, J, 2|3)); ``corpus``: the corpus the index was built from
    (its frames give the match skeletons). With ``backgrounds``, a match whose source image or video is on
    disk is drawn over that picture (:func:`~posesearch.pictures.draw.source_frame`)."""
    check_png_path(path)
    q = np.asarray(query, dtype=np.float64)
    cf = None if confidences is None else np.asarray(confidences, dtype=np.float64)
    if q.ndim == 3:
        check_number("query_index", query_index, integer=True, low=0, high=len(q) - 1)
        q = q[query_index]
        cf = None if cf is None else cf[query_index]
    if corpus is None:
        raise InvalidArgumentError("plot: the match skeletons come from the corpus; none is attached "
                                   "(pass --corpus PATH, or Index.load(path, corpus))")
    row = matches[query_index]
    ids = row.ids[0]
    frames = corpus.frames(ids)
    images = None
    if backgrounds:
        images = [source_frame(str(frames.source[j]), int(frames.frame[j]), frames.labels[j]) for j in range(len(ids))]
    fig = matches_figure(q, frames, row.distances[0], row.mirrored[0], query_layout=layout, query_confidences=cf,
                         query_name=query_name, metric=matches.metric, images=images, title=title)
    return save_png(fig, path)


def sheet_frames(n_frames: int, present_counts: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` frame indices spread evenly over the frames that hold a pose (first and last kept)."""
    have = np.flatnonzero(present_counts > 0)
    if len(have) <= count:
        return have
    pick = np.unique(np.round(np.linspace(0, len(have) - 1, count)).astype(int))
    return have[pick]


def clip_figure(clip, *, frames: int = 12, title: str | None = None, max_cols: int = 6, dpi: int = 100,
                backgrounds: bool = True):
    """The contact sheet Figure of a clip: ``frames`` poses spread evenly over it, all at one scale (each
    panel centred on its pose), titled with the frame number and time."""
    check_number("frames", frames, integer=True, low=1, high=60)
    lay = get_layout(clip.layout)
    kp = np.asarray(clip.keypoints, dtype=np.float64)
    cf = np.asarray(clip.confidences, dtype=np.float64)
    present = np.isfinite(kp).all(axis=2) & (cf > 0)
    chosen = sheet_frames(len(kp), present.sum(axis=1), frames)
    if len(chosen) == 0:
        raise InvalidPoseError(f"clip {clip.clip_id}: no frame holds a pose to draw")
    times = clip.frame_times()
    numbers = np.asarray(clip.frame_labels.get("frame", np.arange(len(kp))))
    # one scale for the sheet: the largest pose extent of the chosen frames
    boxes = {int(i): pose_box([(kp[i], present[i])], pad=0.0) for i in chosen}
    half = max(b[1] - b[0] for b in boxes.values()) / 2 * 1.2
    n = len(kp)
    rows, cols = _grid(len(chosen), max_cols)
    fig = new_figure(max(1.9 * cols, 4.5), 2.35 * rows + 0.6, dpi=dpi)
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax, i in zip(axes, chosen):
        image = source_frame(clip.source, int(numbers[i]), clip.labels) if backgrounds else None
        if image is not None:
            _show_pose(ax, kp[i], present[i], lay, image, linewidth=2.0, joint_size=10)
        else:
            draw_skeleton(ax, kp[i], lay, present[i].astype(np.float64), linewidth=2.0, joint_size=10)
            b = boxes[int(i)]
            cx, cy = (b[0] + b[1]) / 2, (b[2] + b[3]) / 2
            pose_axes(ax, (cx - half, cx + half, cy - half, cy + half))
        ax.set_title(f"frame {int(numbers[i])}" + (f", {float(times[i]):.2f} s" if n > 1 else ""), fontsize=8)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    fps = f", {clip.fps:g} fps" if clip.fps else ""
    lab = match_label(dict(clip.labels))
    head = title or f"{clip.clip_id}: {n} frame{'s' if n != 1 else ''}{fps}" + (f" ({_cut(lab, 50)})" if lab else "")
    if len(chosen) < n:
        head += f"; {len(chosen)} shown"
    fig.suptitle(_wrap(head, fig), fontsize=10.5)
    fig.legend(handles=limb_legend_handles(), loc="lower center", ncol=4, fontsize=7.5, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return fig


def plot_clip(clip, path, *, frames: int = 12, title: str | None = None, backgrounds: bool = True) -> Path:
    """Write the contact sheet of ``clip`` (:func:`clip_figure`) as a PNG."""
    check_png_path(path)
    return save_png(clip_figure(clip, frames=frames, title=title, backgrounds=backgrounds), path)
