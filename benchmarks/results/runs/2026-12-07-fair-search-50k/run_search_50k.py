import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))   # benchmarks/
from posesearch_bench.context import BenchSettings
from posesearch_bench.runner import run_benchmarks
st = BenchSettings().replace(search_frames=50_000, numpy_queries=100, sweep_queries=200, coldstart="off")
res, status = run_benchmarks(st, Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/fair-mid"), only=("search",), data_dir=Path("/work/shared/data"))
print("status", status)
