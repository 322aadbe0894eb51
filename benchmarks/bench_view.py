"""Scoring across camera angles on CMU mocap (issue 20): ``python -m posesearch_bench.views`` (from
``benchmarks/``), same options."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]    # measure this checkout's code

if __name__ == "__main__":
    from posesearch_bench.views import main

    sys.exit(main())
