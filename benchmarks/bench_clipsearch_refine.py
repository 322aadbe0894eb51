"""Sequence search's refine modes (always | auto | never) and segment modes side by side on real Penn Action.

Runs only the sequence-search part of ``posesearch bench`` (:mod:`posesearch_bench.seqsearch`: action
retrieval on random Penn test clips, self retrieval of degraded halves of train clips at user speeds 1.2x,
0.6x and 1.8x slower), prints its Markdown tables and writes the JSON (``--out``).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_clipsearch_refine.py \\
        [--queries 100] [--self 60] [--data ../shared/data] [--out benchmarks/results/clipsearch_refine.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    from posesearch_bench.context import BenchSettings, Context
    from posesearch_bench.report import _refine_table
    from posesearch_bench.seqsearch import run_search

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=100, help="Penn test clips (action retrieval)")
    ap.add_argument("--self", dest="self_", type=int, default=60, help="degraded train clips (self retrieval)")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    ctx = Context(BenchSettings(seqsearch_queries=a.queries, seqsearch_self=a.self_), out=Path("."), data_dir=a.data)
    t0 = time.time()
    res = run_search(ctx)
    res["wall_s"] = time.time() - t0
    res["load_avg_after"] = os.getloadavg()
    print("\n".join(_refine_table(res)))
    for task in ("action", "self"):
        r = res[task]
        print(f"{task}: ours (default) top-1 {r['ours_top1']:.3f}, vote (k=1 peer) top-1 {r['peer_top1']:.3f}, "
              f"ours median {r['ours_median_s']:.3f} s, peer median {r['peer_median_s']:.4f} s")
    print(f"wall {res['wall_s']:.0f} s, load average after {res['load_avg_after']}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1, default=float))
    return 1 if ctx.failures else 0


if __name__ == "__main__":
    sys.exit(main())
