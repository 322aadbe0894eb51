"""Run every benchmark: the same as ``posesearch bench`` from this checkout (same options).

    python benchmarks/run_all.py            # full run (tens of minutes), results in benchmarks/results/
    python benchmarks/run_all.py --quick    # about a minute
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]    # measure this checkout's posesearch, with its benchmarks

from posesearch.cli.app import app  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in args):
        args += ["--out", str(HERE / "results")]
    app(["bench", *args], prog_name="posesearch")
