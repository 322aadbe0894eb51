"""PNG plot of a score report: the per-moment score on the reference time base, and the alignment path.

matplotlib (Agg backend) is imported only when a plot is made. Written atomically.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .score import WORST_MOMENT_MARGIN, ScoreReport


def plot_report(report: ScoreReport, path, *, title: str | None = None, dpi: int = 110) -> Path:
    """Write a two-panel PNG: top, moment scores over reference time (worst moments shaded and in the
    legend, or a note that none stands out; the overall score as a line); bottom, the alignment path (user time against reference time) with the
    fitted delay/speed line. Returns the path written (it must end in .png: the file is PNG)."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"plot {out}: the plot is a PNG image; expected a file name ending in .png, "
                                   f"got {out.suffix or 'no suffix'!r}")
    from ..files import atomic_write

    fig = report_figure(report, title=title, dpi=dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write(out, lambda f: f.write(buf.getvalue()))
    return out


def report_figure(report: ScoreReport, *, title: str | None = None, dpi: int = 110):
    """The matplotlib Figure that :func:`plot_report` writes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6.2), dpi=dpi)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.1, 1]})
    t = report.moment_times
    s = report.moment_scores
    ax1.plot(t, s, color="#1f77b4", lw=1.6, label="moment score")
    ax1.fill_between(t, 0, np.nan_to_num(s, nan=0.0), color="#1f77b4", alpha=0.12)
    ax1.axhline(report.score, color="#d62728", lw=1.0, ls="--", label=f"score {report.score:.1f}")
    worst = report.worst_moments()
    for j, (a, b, v) in enumerate(worst):
        ax1.axvspan(a, max(b, a + 1e-3), color="#ff7f0e", alpha=0.18,
                    label=f"worst moments ({WORST_MOMENT_MARGIN:g}+ points below the score)" if j == 0 else None)
    if not worst:
        ax1.text(0.01, 0.12, report.worst_moments_note(), transform=ax1.transAxes, fontsize=8, color="#444444")
    ax1.set_ylim(0, 102)
    ax1.set_ylabel("score (0-100)")
    ax1.legend(loc="lower right", fontsize=8)
    head = title or "pose sequence score"
    sub = f"{report.score:.1f}/100"
    if report.mirrored:
        sub += ", user mirrored"
    if np.isfinite(report.time_offset):
        sub += f", {report.time_offset:+.2f} s late"
    if np.isfinite(report.speed_ratio):
        sub += f", speed x{report.speed_ratio:.2f}"
    ax1.set_title(f"{head}: {sub}", fontsize=10)
    wj = report.worst_joints()
    if wj:
        ax1.text(0.01, 0.04, "worst joints: " + ", ".join(f"{k} {v:.0f}" for k, v in wj),
                 transform=ax1.transAxes, fontsize=8, color="#444444")
    pt = report.path_times()
    ax2.plot(pt[:, 0], pt[:, 1], color="#2ca02c", lw=1.4, label=f"alignment ({report.alignment.method})")
    if np.isfinite(report.speed_ratio) and np.isfinite(report.time_offset):
        x = np.array([t[0], t[-1]])
        y = report.user_times[0] + report.time_offset + (x - t[0]) / report.speed_ratio
        ax2.plot(x, y, color="#7f7f7f", lw=1.0, ls=":", label="fitted delay and speed")
    ax2.plot([t[0], t[-1]], [report.user_times[0], report.user_times[0] + t[-1] - t[0]], color="#bbbbbb", lw=0.8,
             label="in step")
    ax2.set_xlabel("reference time (s)")
    ax2.set_ylabel("user time (s)")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
