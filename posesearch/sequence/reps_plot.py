"""PNG timeline of a :class:`~posesearch.sequence.reps.RepReport`: the user's frame-by-frame match to the
reference, each rep shaded (green: ok, red: bad by its score, orange: bad by its form only - an angle
beyond tolerance -, grey hatched: partial) with its number and score.
matplotlib (Agg) is imported only when a plot is made; the file is written atomically."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .reps import CountReport, RepReport


def check_png(path) -> Path:
    """``path`` as a Path if it names a .png file, else a one-line error."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"plot {out}: the plot is a PNG image; expected a file name ending in .png, "
                                   f"got {out.suffix or 'no suffix'!r}")
    return out


def _save(fig, out: Path) -> Path:
    from ..files import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write(out, lambda f: f.write(buf.getvalue()))
    return out


def plot_reps(report: "RepReport | CountReport", path, *, title: str | None = None, dpi: int = 90) -> Path:
    """Write the timeline PNG of ``report`` (reps found against a reference, or a reference-free count)."""
    out = check_png(path)
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), dpi=dpi)
    ax = fig.add_subplot(111)
    if isinstance(report, CountReport):
        if len(report.signal):
            ax.plot(report.times, report.signal, color="0.3", lw=1, label="main movement (1st principal component)")
        for t in report.peak_times:
            ax.axvline(t, color="tab:green", lw=1)
        for t in report.partial_times:
            ax.axvline(t, color="0.6", ls="--", lw=1)
        ax.set_title(title or report.summary(), fontsize=9, loc="left")
        ax.set_xlabel("user time (s)")
        ax.legend(fontsize=7, loc="upper right")
    else:
        t = report.user_times
        m = np.where(np.isfinite(report.match), report.match, np.nan)
        ax.plot(t, m, color="0.3", lw=1, label="distance to the nearest reference frame")
        top = float(np.nanmax(m)) if np.isfinite(m).any() else 1.0
        ax.set_ylim(0, max(top, report.settings.max_distance) * 1.25)
        for r in report.reps:
            color = "0.6" if r.partial else ("tab:green" if not r.bad else
                                             "tab:red" if "score" in r.flags else "tab:orange")
            ax.axvspan(r.start, r.end, color=color, alpha=0.25, hatch="//" if r.partial else None, lw=0)
            label = f"{r.index}\npartial" if r.partial else f"{r.index}\n{r.score:.0f}" + (
                f" ✗ {'+'.join(r.flags)}" if r.bad else "")
            ax.text(0.5 * (r.start + r.end), ax.get_ylim()[1] * 0.97, label, ha="center", va="top", fontsize=7,
                    color=color if r.bad else "black")
        ax.axhline(report.settings.max_distance, color="tab:blue", ls=":", lw=1, label="max_distance (a rep)")
        ax.set_xlabel("user time (s)")
        ax.set_ylabel("frame distance")
        bad = [r for r in report.bad if not r.partial]
        head = (f"{report.count} reps, {len(bad)} bad (score: below {report.threshold:g}; form: an angle beyond "
                f"tolerance), {report.partial_count} partial")
        said = [r.feedback[0] for r in bad[:2] if r.feedback]
        ax.set_title(title or "\n".join([head] + said), fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out)
