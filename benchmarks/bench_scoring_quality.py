"""Scoring quality on Penn Action: ``python -m posesearch.bench.scoring_quality``, same options."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # measure this checkout's code

if __name__ == "__main__":
    from posesearch.bench.scoring_quality import main

    sys.exit(main())
