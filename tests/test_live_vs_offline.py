"""What the README and ScoreSession's docstring state about the live final score against the offline one.

The README said "the live final score equals the offline one exactly"; with the default settings it did not
(94.64 live against 96.01 offline in the report that found it). Why, measured here on six 5-s CMU segments of
the bundled sample degraded as a webcam user (10 fps, 2% jitter, 0.3 s late, 20% slower, mirrored):

* equal to 1e-9 when the inputs to the alignment are identical: smooth="none", band=None, and user frames with
  every joint (tests/test_sequence_stream.py property-tests this over rates, speeds, mirroring, gaps);
* default settings: live 2.2-2.6 points lower, because the live Kalman filter is causal and the offline one adds
  the RTS backward pass (and the offline DTW has a Sakoe-Chiba band);
* 10% of the user's joints missing: live 5.6-9.5 points lower, because a joint missing in a pushed frame stays
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
