"""PNG plot of a score report, and lazy imports of the heavy parts."""
from __future__ import annotations

import subprocess
import sys

from posesearch.sequence import score_sequence
from posesearch.sequence.plot import plot_report
from posesearch.sequence.simulate import degrade, synthetic_motion


def test_plot_report_writes_png(tmp_path):
    ref = synthetic_motion(3, 30, seed=5)
    rep = score_sequence(ref, degrade(ref, seed=5))
    out = plot_report(rep, tmp_path / "score.png", title="test")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["score.png"]        # written atomically


def test_import_is_light():
    code = ("import sys, posesearch.sequence, posesearch.cli.score; "
            "print(any(m in sys.modules for m in ('matplotlib', 'numba', 'h5py')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
