"""Parity with posenet-similarity 0.4.8: every numeric case in ../shared/data/parity, to 1e-9."""
from __future__ import annotations

import json

import numpy as np
import pytest

from posesearch.errors import PoseSearchError
from posesearch.poses.distances import cosine_distance, cosine_similarity, weighted_distance
from posesearch.poses.normalize import normalize_pose
from posesearch.poses.similarity import pose_similarity, pose_vectors
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def parity():
    return json.loads(shared_path("parity", "posenet_similarity_cases.json").read_text())


def _resolve(arg, mock):
    if isinstance(arg, str) and arg.startswith("mock["):
        return mock[int(arg[5:-1])]
    return arg


def test_pose_similarity_cases(parity):
    mock = parity["mock_pose_data"]
    cases = [c for c in parity["cases"] if c["function"] == "poseSimilarity"]
    assert len(cases) == 11
    for c in cases:
        opts = c["inputs"]["options"] or {}
        strategy = opts.get("strategy", "weightedDistance")
        if strategy.startswith("()"):
            strategy = lambda v1, v2, w: 1  # noqa: E731  the JS case passes `() => 1`
        got = pose_similarity(_resolve(c["inputs"]["pose1"], mock), _resolve(c["inputs"]["pose2"], mock),
                              strategy=strategy, custom_weight=opts.get("customWeight"))
        assert abs(got - c["observed_v0.4.8"]) < 1e-9, c["test"]


def test_vector_function_cases(parity):
    by_fn = {}
    for c in parity["cases"]:
        by_fn.setdefault(c["function"], []).append(c)
    (c,) = by_fn["cosineDistanceMatching"]
    assert abs(cosine_distance(c["inputs"]["v1"], c["inputs"]["v2"]) - c["observed_v0.4.8"]) < 1e-9
    (c,) = by_fn["cosineSimilarity"]
    assert abs(cosine_similarity(c["inputs"]["v1"], c["inputs"]["v2"]) - c["observed_v0.4.8"]) < 1e-9
    (c,) = by_fn["weightedDistanceMatching"]
    conf = c["inputs"]["confidences_with_sum_last"]
    assert abs(weighted_distance(c["inputs"]["v1"], c["inputs"]["v2"], conf[:-1]) - c["observed_v0.4.8"]) < 1e-9
    # posenet-similarity's two normalization steps, through posesearch's normalize_pose. Their L2 step
    # normalizes a vector already translated to the box corner: the pose (0, 0), (3, 4) is that vector
    # behind a keypoint at the corner (our normalization translates to the present keypoints' min x / y).
    (c,) = by_fn["L2Normalization"]
    got = normalize_pose(np.array([[0.0, 0.0]] + [c["inputs"]["vectorPoseXY"]]), np.ones(2))
    assert np.allclose(got, [0.0, 0.0] + c["observed_v0.4.8"], atol=1e-12)
    # scaleAndTranslate moves the pose's box corner to 0 and divides by max(x, y); that factor cancels in
    # the L2 step, so their output, L2-normalized, is what normalize_pose gives the input pose
    (c,) = by_fn["scaleAndTranslate"]
    pose = np.asarray(c["inputs"]["vectorPoseXY"], float).reshape(-1, 2)
    theirs = np.asarray(c["observed_v0.4.8"], float)
    assert theirs.reshape(-1, 2).min(axis=0).tolist() == [0.0, 0.0]
    assert np.allclose(normalize_pose(pose, np.ones(len(pose))), theirs / np.linalg.norm(theirs), atol=1e-12)


def test_convert_pose_to_vectors_cases(parity):
    """Our normalization and custom weights reproduce convertPoseToVectors' weights and (after L2) vectors."""
    mock = parity["mock_pose_data"]
    cases = [c for c in parity["cases"] if c["function"] == "convertPoseToVectors"]
    assert len(cases) == 7
    for c in cases:
        xy, (tx, ty, s), conf = c["observed_v0.4.8"]
        vec, w, p = pose_vectors(_resolve(c["inputs"]["pose"], mock), custom_weight=c["inputs"]["weightOption"])
        # their [x0, y0, x1, y1, ...] are the pose's raw coordinates; the weights (and their sum) as theirs
        assert np.allclose(p.keypoints.reshape(-1), xy, atol=0), c["test"]
        assert np.allclose(np.append(w, w.sum()), conf, atol=1e-12), c["test"]
        # the transform they return is (box corner / scaler, scaler): our vector is the pose moved to that
        # corner at unit length (their scaleAndTranslate + L2Normalization, checked above)
        corner = np.array([tx, ty]) * s
        assert corner.tolist() == p.keypoints.min(axis=0).tolist(), c["test"]
        assert np.allclose(vec.reshape(-1, 2) * np.linalg.norm(p.keypoints - corner) + corner, p.keypoints,
                           atol=1e-12), c["test"]


def test_example_pair(parity):
    ex = parity["example_pair_this_machine"]
    r = ex["results"]
    a, b = ex["poseA"], ex["poseB"]
    assert abs(pose_similarity(a, b, "cosineSimilarity") - r["cosineSimilarity"]) < 1e-9
    assert abs(pose_similarity(a, b, "cosineDistance") - r["cosineDistance"]) < 1e-9
    assert abs(pose_similarity(a, b, "weightedDistance") - r["weightedDistance"]) < 1e-9
    assert abs(pose_similarity(b, a, "weightedDistance") - r["weightedDistance_reversed_args"]) < 1e-9


def test_error_cases(parity):
    """Each posenet-similarity error case is a clear PoseSearchError naming the problem."""
    m0, m1 = parity["mock_pose_data"]
    one_kp = {"keypoints": [{"position": {"x": 0, "y": 3}, "part": "nose", "score": 0.002}]}
    for p1, p2, pattern in [({}, m1, "pose1.*keypoints"), (m0, {}, "pose2.*keypoints"),
                            ({"keypoints": []}, m1, "pose1.*empty"), (m0, {"keypoints": []}, "pose2.*empty"),
                            (m0, one_kp, "pose2: expected 3 keypoints")]:
        with pytest.raises(PoseSearchError, match=pattern):
            pose_similarity(p1, p2)
    for bad in ["badStrategy", 1, True, [1, 2]]:
        with pytest.raises(PoseSearchError, match="unknown strategy"):
            pose_similarity(m0, m1, strategy=bad)
    for bad in [{"scores": {"nose": 1}}, {"mode": "bad", "scores": {"nose": 1}}, {"mode": "multiply", "scores": 1},
                {"mode": "multiply", "scores": "{ nose: 1 }"}, {"mode": "multiply", "scores": True}, {},
                {"mode": "wrong"}, {"mode": "multiply"}]:
        with pytest.raises(PoseSearchError, match="custom_weight"):
            pose_similarity(m0, m1, custom_weight=bad)
    assert len(parity["error_cases"]) == 4
