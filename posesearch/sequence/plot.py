"""PNG picture of a score report: the per-moment score over reference time with the worst moments marked,
the user's skeleton over the reference's at each of those moments (the joints that differ most ringed in
red), and the alignment path (user time against reference time).

matplotlib (Agg backend) is imported only when a picture is made. Written atomically
(:func:`posesearch.pictures.draw.save_png`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidPoseError
from ..pictures.draw import (LIMB_COLORS, REFERENCE_COLOR, WORST_COLOR, check_png_path, draw_skeleton,
                             new_figure, pose_axes, pose_box, save_png)
from ..poses.layouts import COCO17_JOINTS
from ..text import offset_text

if TYPE_CHECKING:   # plot is loaded by ScoreReport.plot: it does not import the score module
    from .score import ScoreReport

LETTERS = "ABC"
MOMENT_COLOR = "#ff7f0e"


def plot_report(report: ScoreReport, path, *, title: str | None = None, dpi: int = 100) -> Path:
    """Write :func:`report_figure` as a PNG (the path must end in .png; checked before drawing)."""
    check_png_path(path)
    return save_png(report_figure(report, title=title, dpi=dpi), path)


def report_moments(report: ScoreReport, n: int = 3) -> tuple[list[tuple[float, float, float]], bool]:
    """The moments the picture shows: the worst moments when some stand out (True), else the lowest
    stretches of the same length (False), so a good performance still shows where it was weakest."""
    worst = report.worst_moments(n)
    if worst:
        return worst, True
    return report.worst_moments(n, margin=-np.inf), False


def moment_poses(report: ScoreReport, start: float, end: float):
    """At the lowest-scoring reference frame of [start, end]: (reference (17, 2), reference present,
    user fitted onto it by Procrustes (17, 2), user present, per-joint distance (17,) NaN where either
    is missing, reference frame index), in the report's unit coordinates; None without poses."""
    from ..poses.procrustes import procrustes_align

    ref, usr = report.reference_poses, report.user_poses
    if ref is None or usr is None:
        return None
    t = report.moment_times
    inside = np.flatnonzero((t >= start - 1e-9) & (t <= end + 1e-9))
    if len(inside) == 0:
        return None
    scores = np.where(np.isfinite(report.moment_scores[inside]), report.moment_scores[inside], np.inf)
    r = int(inside[int(np.argmin(scores))])
    path = report.alignment.path
    rows = np.flatnonzero(path[:, 0] == r)
    if len(rows) == 0:
        rows = [int(np.argmin(np.abs(path[:, 0] - r)))]
    u = int(np.median(path[rows, 1]).round())
    u = min(max(u, 0), len(usr) - 1)
    if report.mirrored:
        from ..poses.mirror import mirror

        ukp, ucf = mirror(usr.keypoints[u], usr.confidences[u], usr.layout)
    else:
        ukp, ucf = usr.keypoints[u], usr.confidences[u]
    rkp, rcf = ref.keypoints[r], ref.confidences[r]
    rp, up = rcf > 0, ucf > 0
    both = rp & up
    if both.sum() < 3:
        return None
    try:   # fit on every joint, then again without the far-off ones, so one wrong wrist does not tilt the body
        fitted = procrustes_align(rkp, ukp, both.astype(np.float64)).aligned
        err = np.linalg.norm(fitted - rkp, axis=1)
        inliers = both & (err <= 2 * np.median(err[both]) + 1e-12)
        if inliers.sum() >= 3:
            fitted = procrustes_align(rkp, ukp, inliers.astype(np.float64)).aligned
    except InvalidPoseError:
        return None
    err = np.where(both, np.linalg.norm(fitted - rkp, axis=1), np.nan)
    return rkp, rp, fitted, up, err, r


def _title(report: ScoreReport, title: str | None) -> str:
    parts = [f"{report.score:.1f}/100"]
    if not report.mirror_decided:
        parts.append("mirroring undecided")
    elif report.mirrored:
        parts.append("user mirrored")
    if np.isfinite(report.time_offset):
        parts.append(f"user {offset_text(report.time_offset)}")
    if np.isfinite(report.speed_ratio):
        parts.append(f"user at {report.speed_ratio:.2f}x the reference's speed")
    return f"{title or 'pose sequence score'}: " + ", ".join(parts)


def _score_panel(ax, report: ScoreReport, moments, stand_out: bool) -> None:
    t, s = report.moment_times, report.moment_scores
    ax.plot(t, s, color="#1f77b4", lw=1.6, label="score of each moment")
    ax.fill_between(t, 0, np.nan_to_num(s, nan=0.0), color="#1f77b4", alpha=0.10)
    ax.axhline(report.score, color="#555555", lw=1.0, ls="--", label=f"overall score {report.score:.1f}")
    what = "worst moments" if stand_out else "lowest moments"
    for j, (a, b, v) in enumerate(moments):
        ax.axvspan(a, max(b, a + 1e-3), color=MOMENT_COLOR, alpha=0.22, lw=0, label=what if j == 0 else None)
        ax.text((a + b) / 2, 101, LETTERS[j], ha="center", va="bottom", fontsize=10, fontweight="bold",
                color="#b35900")
    ax.set_ylim(0, 112)
    ax.set_yticks([0, 20, 40, 60, 80, 100])
    ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)
    ax.set_ylabel("score (0-100)")
    ax.set_xlabel("reference time (s)")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax.text(0.01, 1.02, report.worst_moments_note(), transform=ax.transAxes, fontsize=8, color="#444444")
    wj = report.worst_joints()
    if wj:
        ax.text(0.99, 0.04, "worst joints overall: " + ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in wj),
                transform=ax.transAxes, ha="right", fontsize=8, color="#333333",
                bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=2))


def _moment_panel(ax, report: ScoreReport, j: int, moment) -> None:
    a, b, v = moment
    got = moment_poses(report, a, b)
    ax.set_title(f"{LETTERS[j]}: {a:.2f}-{b:.2f} s, score {v:.0f}", fontsize=9, color="#b35900",
                 fontweight="bold")
    if got is None:
        pose_axes(ax, None)
        ax.text(0.5, 0.5, "no pose to show here", transform=ax.transAxes, ha="center", fontsize=8)
        return
    rkp, rp, ukp, up, err, _ = got
    finite = np.isfinite(err)
    order = np.argsort(np.where(finite, -err, np.inf))
    worst = [int(i) for i in order[:3] if finite[i]]
    draw_skeleton(ax, rkp, "coco17", rp.astype(float), color=REFERENCE_COLOR, linewidth=6.0, alpha=0.45,
                  joint_size=0, zorder=1)
    draw_skeleton(ax, ukp, "coco17", up.astype(float), linewidth=2.2, joint_size=12, highlight=worst, zorder=2)
    pose_axes(ax, pose_box([(rkp, rp), (ukp, up)], pad=0.08))
    ax.set_xlabel("most off: " + ", ".join(COCO17_JOINTS[i].replace("_", " ") for i in worst), fontsize=8)


def _alignment_panel(ax, report: ScoreReport) -> None:
    t = report.moment_times
    pt = report.path_times()
    ax.plot(pt[:, 0], pt[:, 1], color="#2ca02c", lw=1.4, label=f"alignment ({report.alignment.method})")
    if np.isfinite(report.speed_ratio) and np.isfinite(report.time_offset):
        x = np.array([t[0], t[-1]])
        y = report.user_times[0] + report.time_offset + (x - t[0]) / report.speed_ratio
        ax.plot(x, y, color="#222222", lw=1.3, ls=(0, (1.5, 2.5)), zorder=3,   # over the path it fits
                label="fitted delay and speed")
    ax.plot([t[0], t[-1]], [report.user_times[0], report.user_times[0] + t[-1] - t[0]], color="#bbbbbb", lw=0.8,
            label="in step with the reference")
    ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)
    ax.set_xlabel("reference time (s)")
    ax.set_ylabel("user time (s)")
    ax.legend(loc="upper left", fontsize=8)


def report_figure(report: ScoreReport, *, title: str | None = None, dpi: int = 100):
    """The matplotlib Figure that :func:`plot_report` writes: score over time (worst moments shaded and
    lettered), a panel per moment (reference grey and wide, user in limb colours, the three joints most
    off ringed red), and the alignment path."""
    from matplotlib.lines import Line2D

    moments, stand_out = report_moments(report)
    fig = new_figure(10, 9.4, dpi=dpi)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.93, bottom=0.06)
    gs = fig.add_gridspec(3, 3, height_ratios=[1.15, 1.55, 0.8], hspace=0.5, wspace=0.15)
    _score_panel(fig.add_subplot(gs[0, :]), report, moments, stand_out)
    slots = [1] if len(moments) == 1 else list(range(len(moments)))     # one moment: in the middle
    for j, slot in enumerate(slots):
        _moment_panel(fig.add_subplot(gs[1, slot]), report, j, moments[j])
    _alignment_panel(fig.add_subplot(gs[2, :]), report)
    handles = [Line2D([], [], color=REFERENCE_COLOR, lw=6, alpha=0.45, label="reference"),
               Line2D([], [], color=LIMB_COLORS["left_arm"], lw=2.2, label="user: left arm"),
               Line2D([], [], color=LIMB_COLORS["right_arm"], lw=2.2, label="right arm"),
               Line2D([], [], color=LIMB_COLORS["left_leg"], lw=2.2, label="left leg"),
               Line2D([], [], color=LIMB_COLORS["right_leg"], lw=2.2, label="right leg"),
               Line2D([], [], ls="", marker="o", ms=9, mfc="none", mec=WORST_COLOR, mew=2,
                      label="joints most off")]
    if moments:   # under the moment panels' captions
        below = gs[1, :].get_position(fig).y0
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, below - 0.03), ncol=len(handles),
                   fontsize=8, frameon=False)
    fig.suptitle(_title(report, title), fontsize=11)
    return fig
