"""``python -m posesearch_bench [options]`` (from ``benchmarks/``, or with ``PYTHONPATH=benchmarks``): the
same as ``posesearch bench [options]`` from a checkout."""
import sys

from posesearch.cli.app import app

if __name__ == "__main__":
    app(["bench", *sys.argv[1:]], prog_name="posesearch")
