"""Every field of 293 score reports (the 60 s bench pair and a 10 s synthetic pair with 10 settings variants each, 60 random
Penn Action pairs and 60 degraded self-copies, every 7th pair with all 10 variants) as exact hex or array hashes, with
the posed sequences: run in two checkouts and compare the outputs (compare_reports.py).

    python check_full_reports.py CHECKOUT [quick] > out.json      (~1 min; Penn Action labels under /work/shared/data)"""
import sys, json, itertools, hashlib
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/benchmarks"]
import numpy as np
from pathlib import Path
from posesearch.corpus.readers import penn_action
from posesearch.errors import PoseSearchError
from posesearch.sequence.io import as_sequence
from posesearch.sequence.score import ScoreSettings, score_sequence
from posesearch.sequence.simulate import degrade, synthetic_motion
import posesearch
assert posesearch.__file__.startswith(sys.argv[1]), posesearch.__file__
quick = len(sys.argv) > 2
clips = list(itertools.islice(penn_action.read(Path("/work/shared/data/penn_action/labels")), 400))
rng = np.random.default_rng(1)
ref = synthetic_motion(60, 30, seed=1)
pairs = [(ref, degrade(ref, seed=2)), (synthetic_motion(10, 30, seed=3), degrade(synthetic_motion(10, 30, seed=3), seed=4))]
for _ in range(10 if quick else 60):
    i, j = (int(v) for v in rng.choice(len(clips), 2, replace=False))
    pairs.append((clips[i], clips[j])); pairs.append((clips[i], degrade(as_sequence(clips[i], name="u"), seed=j)))
variants = [ScoreSettings(), ScoreSettings(distance="pair-weighted"), ScoreSettings(align="nw"), ScoreSettings(align="diagonal"),
            ScoreSettings(smooth="one-euro"), ScoreSettings(smooth="none", interp="hold"), ScoreSettings(mirror="on"),
            ScoreSettings(mirror="off", moments_from="grid"), ScoreSettings(process_reference=False, interp="cubic"),
            ScoreSettings(missing_penalty=None, max_rotation=180)]
def h(a):
    a = np.ascontiguousarray(a)
    return hashlib.sha1(a.tobytes() + str(a.dtype).encode() + str(a.shape).encode()).hexdigest()
def fx(v):
    return None if v is None else float(v).hex()
out = []
for n, (a, b) in enumerate(pairs):
    for vi, st in enumerate(variants if n < 2 or n % 7 == 0 else variants[:1]):
        try:
            r = score_sequence(a, b, settings=st)
            al = r.alignment
            out.append([n, vi, fx(r.score), {k: fx(v) for k, v in r.joint_scores.items()},
                        h(r.moment_scores), h(r.moment_distances), h(r.moment_times), h(r.user_times), h(al.path),
                        fx(al.time_offset), fx(al.speed_ratio), fx(al.cost), fx(al.total_cost), al.method,
                        {k: fx(v) for k, v in r.mirror_costs.items()}, r.mirrored, fx(r.user_motion), fx(r.held_share),
                        {k: fx(v) for k, v in r.joint_coverage.items()}, r.summary(), json.dumps(r.to_dict(), sort_keys=True),
                        h(r.reference_poses.keypoints), h(r.reference_poses.confidences), h(r.reference_poses.times),
                        h(r.user_poses.keypoints), h(r.user_poses.confidences), h(r.user_poses.times),
                        r.reference_poses.fps, r.user_poses.fps, r.reference_poses.name, r.user_poses.name,
                        r.reference_poses.layout.name, r.view, r.assumed])
        except PoseSearchError as e:
            out.append([n, vi, str(e)])
print(json.dumps(out))
