"""Run every benchmark: a thin wrapper around ``posesearch bench`` (same options).

    python benchmarks/run_all.py            # full run (tens of minutes), results in benchmarks/results/
    python benchmarks/run_all.py --quick    # about a minute
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posesearch.cli.app import app  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in args):
        args += ["--out", str(ROOT / "benchmarks" / "results")]
    app(["bench", *args], prog_name="posesearch")
