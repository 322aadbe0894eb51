"""(runs/2026-12-07-seq30/check_full_reports.py plus the timing fit and joint coverage) Every field of 121 score reports (the 60 s synthetic pair, 60 random Penn Action pairs and 60 degraded self-copies), as
exact float hex: run in two checkouts and compare the outputs. python check_full_reports.py CHECKOUT > out.json"""
import sys, json, itertools
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/benchmarks"]
import numpy as np
from pathlib import Path
from posesearch.corpus.readers import penn_action
from posesearch.errors import PoseSearchError
from posesearch.sequence.io import as_sequence
from posesearch.sequence.score import ScoreSettings, score_sequence
from posesearch.sequence.simulate import degrade, synthetic_motion
from posesearch_bench.data import default_data_dir
clips = list(itertools.islice(penn_action.read(Path("/work/shared/data/penn_action/labels")), 400))
rng = np.random.default_rng(1)
out = []
ref = synthetic_motion(60, 30, seed=1)
pairs = [(ref, degrade(ref, seed=2))]
for _ in range(60):
    i, j = (int(v) for v in rng.choice(len(clips), 2, replace=False))
    pairs.append((clips[i], clips[j])); pairs.append((clips[i], degrade(as_sequence(clips[i], name="u"), seed=j)))
for a, b in pairs:
    try:
        r = score_sequence(a, b)
        out.append([r.score.hex(), {k: (None if v is None else v.hex()) for k, v in r.joint_scores.items()},
                    [float(x).hex() for x in r.moment_scores], [float(x).hex() for x in r.moment_distances],
                    r.alignment.path.tolist(), float(r.user_motion).hex(), r.held_share.hex(),
                    float(r.alignment.time_offset).hex(), float(r.alignment.speed_ratio).hex(),
                    {k: float(v).hex() for k, v in r.joint_coverage.items()}, r.mirrored, r.summary()])
    except PoseSearchError as e:
        out.append(str(e))
print(json.dumps(out))
