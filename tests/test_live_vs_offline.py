"""What the README and ScoreSession's docstring state about the live final score against the offline one.

The README said "the live final score equals the offline one exactly"; with the default settings it did not
(94.64 live against 96.01 offline in the report that found it). Why, measured here on six 5-s CMU segments of
the bundled sample degraded as a webcam user (10 fps, 2% jitter, 0.3 s late, 20% slower, mirrored):

* equal to 1e-9 when the inputs to the alignment are identical: smooth="none", band=None, and user frames with
  every joint (tests/test_sequence_stream.py property-tests this over rates, speeds, mirroring, gaps);
* default settings: live 2.2-2.8 points lower, because the live Kalman filter is causal and the offline one adds
  the RTS backward pass (and the offline DTW has a Sakoe-Chiba band);
* 10% of the user's joints missing: live 7.3-9.6 points lower, because a joint missing in a pushed frame stays
  missing on the grid frames around it, where offline resampling bridges gaps up to max_gap once it reappears.
"""
from __future__ import annotations

import numpy as np
import pytest

from posesearch.sequence.score import ScoreSettings, score_sequence
from posesearch.sequence.sequence import Sequence, sequence_from_clip
from posesearch.sequence.simulate import degrade
from posesearch.sequence.stream import ScoreSession

CASES = [(cid, seed) for cid in ("cmu:002_05:yaw0", "cmu:005_02:yaw45", "cmu:002_07:yaw0") for seed in (1, 2)]


@pytest.fixture(scope="module")
def segments():
    from posesearch.corpus import Corpus, sample_corpus_path

    with Corpus.open(sample_corpus_path()) as corpus:
        return {cid: sequence_from_clip(corpus.clip(cid)).slice(0, 150) for cid, _ in CASES}


def live_and_offline(ref, user, settings):
    off = score_sequence(ref, user, settings=settings).score
    session = ScoreSession(ref, settings)
    arr = np.nan_to_num(user.as_array())
    for i in range(len(user)):
        session.push(arr[i], user.times[i])
    return session.final_score, off


def drop_joints(user: Sequence, share: float, seed: int) -> Sequence:
    a = user.as_array().copy()
    a[np.random.default_rng(seed).random(a.shape[:2]) < share, 2] = 0.0
    return Sequence.from_arrays(a, layout=user.layout, times=user.times)


@pytest.mark.parametrize("cid,seed", CASES)
def test_live_final_score_against_offline_as_documented(segments, cid, seed):
    ref = segments[cid]
    user = degrade(ref, fps=10, seed=seed)
    # the exact condition: no smoothing, no band, every joint present in every pushed frame
    live, off = live_and_offline(ref, user, ScoreSettings(smooth="none", band=None))
    assert live == pytest.approx(off, abs=1e-9)
    # defaults: the causal Kalman filter live, Kalman + RTS offline (and the band): 2-3 points lower live
    live, off = live_and_offline(ref, user, ScoreSettings())
    assert 2.0 <= off - live <= 3.0, (live, off)
    # 10% of the user's joints missing, defaults: 5-10 points lower live (gaps not bridged live)
    live, off = live_and_offline(ref, drop_joints(user, 0.1, seed), ScoreSettings())
    assert 5.0 <= off - live <= 10.0, (live, off)


def _pushed_report(ref, arr, times, settings, layout=None):
    session = ScoreSession(ref, settings, layout=layout)
    for i in range(len(arr)):
        session.push(arr[i], times[i])
    return session, session.report()


@pytest.mark.parametrize("settings", [ScoreSettings(), ScoreSettings(smooth="one-euro", mirror="on"),
                                      ScoreSettings(align="nw", interp="cubic")], ids=["defaults", "one-euro", "nw"])
def test_session_report_equals_offline_of_the_same_frames(segments, settings, tmp_path):
    """ScoreSession.report() is the offline scorer on the frames pushed, whatever the settings: written to a
    sequence file and scored from that file, the same frames give the same report."""
    import json

    from posesearch.sequence.io import write_sequence

    ref = segments["cmu:002_05:yaw0"]
    user = drop_joints(degrade(ref, fps=10, seed=3), 0.1, 3)
    arr = user.as_array()
    arr[5, 3, :2] = np.nan                                    # a NaN coordinate pushed: a missing keypoint
    session, report = _pushed_report(ref, arr, user.times, settings)
    path = tmp_path / "user.json"
    write_sequence(path, session.user_sequence())
    off = score_sequence(ref, str(path), settings=settings)
    assert report.score == off.score
    assert json.dumps(report.to_dict(), sort_keys=True, default=str) == \
        json.dumps({**off.to_dict(), "assumed": report.to_dict()["assumed"]}, sort_keys=True, default=str)
    if settings.smooth == "kalman":   # unlike the causal running score, which ends 2-3 points lower here
        assert report.score - session.final_score > 1.0, (report.score, session.final_score)


def test_session_report_of_another_layout(segments):
    """Frames pushed in another layout are scored offline in that layout (joints it lacks left out on both
    sides), as score_sequence does with a file in that layout."""
    from posesearch.poses.layouts import get_layout

    ref = segments["cmu:005_02:yaw45"]
    user = degrade(ref, fps=10, seed=4)
    body25 = get_layout("body25")
    coco = np.nan_to_num(user.as_array())                       # (T, 17, 3)
    arr = np.zeros((len(coco), body25.num_keypoints, 3))
    for j, src in enumerate(body25.to_coco):                    # COCO joint j is BODY25 keypoint src
        if src >= 0:
            arr[:, src] = coco[:, j]
    assert (arr[..., 2] > 0).sum() == (coco[..., 2] > 0).sum()  # every COCO joint placed
    _, report = _pushed_report(ref, arr, user.times, ScoreSettings(), layout="body25")
    off = score_sequence(ref, Sequence.from_arrays(arr, layout="body25", times=user.times))
    assert report.score == off.score


def test_session_report_before_any_frame_is_a_one_line_error(segments):
    from posesearch.errors import PoseSearchError

    with pytest.raises(PoseSearchError, match="no user frame"):
        ScoreSession(segments["cmu:002_05:yaw0"]).report()
