"""Sequence benchmarks (smoothing quality, per-step timings): ``python -m posesearch_bench.seqsteps`` (from
``benchmarks/``), same options."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]    # measure this checkout's code

if __name__ == "__main__":
    from posesearch_bench.seqsteps import main

    sys.exit(main())
