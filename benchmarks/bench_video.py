"""Video benchmark (issue 17): pose-extraction speed, and what scoring a video costs over scoring keypoints.

Run in the environment of the ``video`` extra (mediapipe 0.10.21 needs numpy < 2), from a checkout:

    python benchmarks/bench_video.py [--media ../shared/data/media] [--repeats 3] [--out benchmarks/results/video.json]

Measured on ``pose_1.mp4`` (120 frames, 576x576, 30 fps) and ``pose.jpg`` (1000x667):

* decoding alone (OpenCV) and decoding + BlazePose full (``extract(..., cache=False)``): frames per second,
  and the model's start-up time;
* a cached extraction (file hash + cache read);
* scoring the clip against itself from keypoint files (``score_sequence`` on the extracted JSON files) vs from
  the videos, with a cold cache (the model runs on both videos) and a warm one (the cache answers).

Answers are checked: the cached poses equal the fresh ones, and every self-score is >= 99.
The cache lives in a temporary folder (``POSESEARCH_CACHE_DIR``), so the user's cache is untouched.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]    # measure this checkout's code


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run(media: Path, repeats: int) -> dict:
    import numpy as np

    from posesearch.inputs import read_input
    from posesearch.sequence.score import score_sequence
    from posesearch.video import extract
    from posesearch.video.decode import VideoReader
    from posesearch.video.model import MODEL_NAME, PoseModel, mediapipe_version

    clip, image = media / "pose_1.mp4", media / "pose.jpg"
    res: dict = {"clip": str(clip), "image": str(image), "model": MODEL_NAME, "mediapipe": mediapipe_version(),
                 "numpy": np.__version__, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                      "load_average_at_start": os.getloadavg()[0]},
                 "repeats": repeats, "checks": {}}

    def decode_only():
        with VideoReader(clip) as r:
            return sum(1 for _ in r.frames())

    t_dec, n = _median_time(decode_only, repeats)
    res["decode_only"] = {"frames": n, "seconds": round(t_dec, 4), "frames_per_second": round(n / t_dec, 1)}

    t_load, _ = _median_time(lambda: PoseModel(still=False).close(), repeats)
    res["model_start_seconds"] = round(t_load, 3)

    fresh = [extract(clip, cache=False) for _ in range(repeats)]
    per_run = [e.seconds for e in fresh]
    t_total, ex = _median_time(lambda: extract(clip, cache=False), 1)
    res["extract_video"] = {"frames": ex.frames, "frames_with_person": ex.frames_with_person,
                            "model_seconds_median": round(statistics.median(per_run), 3),
                            "frames_per_second": round(ex.frames / statistics.median(per_run), 1),
                            "wall_seconds_incl_start": round(t_total, 3)}
    t_img, img = _median_time(lambda: extract(image, cache=False), repeats)
    res["extract_image"] = {"wall_seconds_incl_start": round(t_img, 3), "model_seconds": round(img.seconds, 4)}

    extract(clip)                                       # fill the cache
    t_hit, hit = _median_time(lambda: extract(clip), repeats)
    res["extract_cached_seconds"] = round(t_hit, 4)
    same = bool(hit.cached and np.array_equal(hit.sequence.keypoints, fresh[0].sequence.keypoints))
    res["checks"]["cached_equals_fresh"] = same

    with tempfile.TemporaryDirectory() as tmp:
        ref_file, usr_file = Path(tmp) / "ref.json", Path(tmp) / "user.json"
        hit.write(ref_file)
        hit.write(usr_file)

        def score_files():
            return score_sequence(read_input(ref_file).sequence, read_input(usr_file).sequence).score

        def score_videos():
            return score_sequence(read_input(clip).sequence, read_input(clip).sequence).score

        score_files()                                   # compile the kernels first
        t_kp, s_kp = _median_time(score_files, repeats)
        t_warm, s_warm = _median_time(score_videos, repeats)
        cold_times, s_cold = [], None
        saved = os.environ["POSESEARCH_CACHE_DIR"]
        for _ in range(max(1, repeats - 1)):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["POSESEARCH_CACHE_DIR"] = cache
                t0 = time.perf_counter()
                s_cold = score_videos()
                cold_times.append(time.perf_counter() - t0)
        os.environ["POSESEARCH_CACHE_DIR"] = saved
    t_cold = statistics.median(cold_times)
    res["score_self"] = {"keypoint_files_seconds": round(t_kp, 4), "videos_warm_cache_seconds": round(t_warm, 4),
                         "videos_cold_cache_seconds": round(t_cold, 3),
                         "overhead_warm_x": round(t_warm / t_kp, 2), "overhead_cold_x": round(t_cold / t_kp, 1),
                         "scores": [round(s_kp, 3), round(s_warm, 3), round(s_cold, 3)]}
    res["checks"]["self_scores_at_least_99"] = all(s >= 99 for s in (s_kp, s_warm, s_cold))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=HERE.parent.parent / "shared" / "data" / "media")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "video.json")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["POSESEARCH_CACHE_DIR"] = cache
        res = run(a.media, a.repeats)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    e, s = res["extract_video"], res["score_self"]
    print(f"decode only: {res['decode_only']['frames_per_second']} frames/s; model start {res['model_start_seconds']} s")
    print(f"extraction (decode + BlazePose full): {e['frames_per_second']} frames/s over {e['frames']} frames "
          f"({e['frames_with_person']} with a person); image {res['extract_image']['wall_seconds_incl_start']} s "
          f"incl. start; cached {res['extract_cached_seconds'] * 1000:.1f} ms")
    print(f"score clip vs itself: keypoint files {s['keypoint_files_seconds'] * 1000:.1f} ms, videos warm cache "
          f"{s['videos_warm_cache_seconds'] * 1000:.1f} ms (x{s['overhead_warm_x']}), cold cache "
          f"{s['videos_cold_cache_seconds']:.2f} s (x{s['overhead_cold_x']})")
    ok = all(res["checks"].values())
    print("answers: " + ("every answer checked and correct" if ok else f"WRONG: {res['checks']}"))
    print(f"results in {a.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
