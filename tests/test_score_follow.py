"""Scoring is not fooled by a user who holds still while the reference moves on (issue: a 5 s user
"covered" a 15 s reference at speed x6.3 and scored 82.8), and it reports speed and mirroring only
when the data say so. Constructed truth: synthetic motions, their degraded copies, parts of them and
a left/right symmetric motion."""
from __future__ import annotations

import math

import numpy as np
import pytest

from posesearch.poses.layouts import COCO17
from posesearch.sequence import ScoreSettings, Sequence, score_sequence
from posesearch.sequence.align import dtw_path
from posesearch.sequence.framedist import Band, DistanceMatrix
from posesearch.sequence.score import MIN_SPEED_CONFIDENCE, held_pairs
from posesearch.sequence.simulate import degrade, synthetic_motion
from posesearch.sequence.stream import ScoreSession


@pytest.fixture(scope="module")
def ref():
    return synthetic_motion(12, 30, seed=7)


def _score(ref, user, **kw):
    return score_sequence(ref, user, settings=ScoreSettings(**kw))


def test_hold_limit_in_dtw_by_hand():
    """Zero distances, 2 user x 5 reference frames, both ends closed: the plain DTW path is free; with
    the hold limit 2, some user frame must stand for 3 reference frames, and the third costs the
    missing cost (1.0) exactly. With 4 reference frames each user frame holds 2: still free."""
    zeros = lambda tr: DistanceMatrix(np.zeros((2, tr)), Band.full(2, tr))  # noqa: E731
    assert dtw_path(zeros(5), open_ends="none", max_hold=0)[0] == 0.0
    total, path = dtw_path(zeros(5), open_ends="none", missing_cost=1.0, max_hold=2)
    assert total == 1.0 and held_pairs(path).sum() == 1
    assert dtw_path(zeros(4), open_ends="none", missing_cost=1.0, max_hold=2)[0] == 0.0


def test_held_pairs_by_hand():
    path = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [3, 1], [4, 1], [5, 1], [6, 2]])
    assert held_pairs(path).tolist() == [False, False, True, True, False, False, True, False]


def test_a_third_of_the_reference_scores_clearly_lower(ref):
    full = _score(ref, degrade(ref, fps=30, noise=0.01, delay=0.0, slower=1.0, mirror=False, seed=1))
    third = _score(ref, degrade(ref.slice(0, len(ref) // 3), fps=30, noise=0.01, delay=0.0, slower=1.0,
                                mirror=False, seed=1))
    assert full.score >= 90
    assert third.score <= full.score - 35, (third.score, full.score)
    # the skipped two thirds are not read as a 3x faster user: no made-up speed
    assert math.isnan(third.speed_ratio) and third.speed_confidence < MIN_SPEED_CONFIDENCE


@pytest.mark.parametrize("speed", [0.6, 0.8, 1.25, 1.6])
def test_speed_changes_within_the_limit_still_score_high(ref, speed):
    user = degrade(ref, fps=30, noise=0.01, delay=0.2, slower=1 / speed, mirror=False, seed=2)
    r = _score(ref, user)
    assert r.score >= 85, (speed, r.score)
    assert r.speed_ratio == pytest.approx(speed, rel=0.1) and r.speed_confidence >= 0.8


def test_static_user_gets_no_speed(ref):
    rng = np.random.default_rng(3)
    still = np.repeat(ref.as_array()[:1], 150, axis=0)
    still[..., :2] += rng.normal(0, 1.0, still[..., :2].shape)      # 1 px of tracker jitter
    r = _score(ref, Sequence.from_arrays(still, layout=ref.layout, fps=30))
    assert math.isnan(r.speed_ratio) and r.speed_confidence < 0.2 and r.user_motion < 0.2
    assert "speed x" not in r.summary() and r.to_dict()["speed_ratio"] is None


def _symmetric(seq: Sequence) -> Sequence:
    """Each frame made left/right symmetric about the hips' mid-line: the right joints mirror the left ones."""
    a = seq.as_array().copy()
    cx = 0.5 * (a[:, 11, 0] + a[:, 12, 0])
    flip = np.asarray(COCO17.flip)
    for k in range(17):
        j = flip[k]
        if j == k:
            a[:, k, 0] = cx
        elif COCO17.joints[k].startswith("left"):
            a[:, j, 0] = 2 * cx - a[:, k, 0]
            a[:, j, 1] = a[:, k, 1]
    return Sequence.from_arrays(a, layout=seq.layout, times=seq.times)


def test_mirroring_is_reported_only_when_clear(ref):
    sym = _symmetric(ref)
    r = _score(sym, degrade(sym, fps=30, noise=0.01, delay=0.0, slower=1.0, mirror=False, seed=4))
    assert not r.mirror_decided and r.to_dict()["mirror_decided"] is False
    assert "mirrored" not in r.summary().splitlines()[0].replace("mirroring undecided", "")
    m = _score(ref, degrade(ref, fps=30, noise=0.01, delay=0.0, slower=1.0, mirror=True, seed=4))
    assert m.mirrored and m.mirror_decided and "(user mirrored)" in m.summary()


def test_live_final_score_equals_offline_with_holds(ref):
    """The live DTW counts holds as the offline one does: equal under the documented exact conditions
    (no smoothing, no band, every joint), on a user whose path holds frames."""
    part = degrade(ref.slice(0, len(ref) // 2), fps=30, noise=0.01, delay=0.0, slower=1.0, mirror=False, seed=5)
    st = ScoreSettings(smooth="none", band=None)
    off = score_sequence(ref, part, settings=st)
    assert off.held_share > 0.05
    session = ScoreSession(ref, st)
    arr = part.as_array()
    for i in range(len(part)):
        session.push(arr[i], part.times[i])
    assert session.final_score == pytest.approx(off.score, abs=1e-9)
