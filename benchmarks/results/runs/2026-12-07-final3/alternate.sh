#!/bin/bash
# bench_live of the session's start (BASE checkout, 25a3cbc) and of main, alternated, 1 and 2 numba threads:
#   bash benchmarks/results/runs/2026-12-07-final3/alternate.sh /work/wt-base /work/main ROUNDS > bench_live_alternating.txt
# (each line: code, threads, 1-min load, whole_pipeline median ms (wall), its CPU ms, live push median us)
BASE=$1; MAIN=$2; ROUNDS=${3:-3}
PY=$MAIN/.venv/bin/python
for i in $(seq "$ROUNDS"); do
  for who in base main; do
    dir=$BASE; [ "$who" = main ] && dir=$MAIN
    for th in 1 2; do
      NUMBA_NUM_THREADS=$th $PY "$dir/benchmarks/bench_live.py" --repeat 15 | $PY -c "
import json, sys
d = json.load(sys.stdin); w = d['whole_pipeline']
print('$who threads $th load', d['load_1min'], 'median', w['median_ms'], 'cpu', w['cpu_median_ms'], 'live', d['live']['median_us'], 'score', w['score'])"
    done
  done
done
