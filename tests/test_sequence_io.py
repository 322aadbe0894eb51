"""Sequence type and pose-sequence files: construction, validation, round trips, one-line errors."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

from posesearch.errors import FileFormatError, InvalidArgumentError, InvalidPoseError, PoseSearchError
from posesearch.sequence import Sequence, as_sequence, read_sequence, write_sequence
from posesearch.sequence.sequence import sequence_from_clip


def _arr(t=5, k=17, seed=0):
    rng = np.random.default_rng(seed)
    a = np.concatenate([rng.uniform(0, 500, (t, k, 2)), np.ones((t, k, 1))], axis=-1)
    return a


# ------------------------------------------------------------------------------------------ Sequence
def test_from_arrays_defaults():
    s = Sequence.from_arrays(_arr(4), fps=20)
    assert s.keypoints.shape == (4, 17, 2) and s.confidences.shape == (4, 17)
    assert s.layout.name == "coco17" and s.fps == 20
    assert np.allclose(s.times, [0, 0.05, 0.1, 0.15])
    assert Sequence.from_arrays(_arr(3, 13), fps=30).layout.name == "penn13"
    # (T, K, 2) without confidences: every finite keypoint present, NaN = missing
    kp = _arr(3)[..., :2]
    kp[1, 4] = np.nan
    s = Sequence.from_arrays(kp, times=[0, 0.5, 0.7])
    assert s.confidences[1, 4] == 0 and s.keypoints[1, 4].tolist() == [0, 0] and s.confidences.sum() == 3 * 17 - 1
    assert s.fps is None and s.frame_interval == pytest.approx(0.35)


def test_nan_coordinate_is_missing_and_as_array_roundtrip():
    a = _arr(3)
    a[2, 0, :2] = np.nan
    s = Sequence.from_arrays(a, fps=10)
    assert s.confidences[2, 0] == 0
    back = s.as_array()
    assert np.isnan(back[2, 0, :2]).all() and back[2, 0, 2] == 0
    assert np.allclose(back[0], a[0])


@pytest.mark.parametrize("make, exc, words", [
    (lambda: Sequence.from_arrays(np.zeros((0, 17, 3)), fps=30), InvalidPoseError, "empty"),
    (lambda: Sequence.from_arrays(_arr(3), fps=0), InvalidArgumentError, "fps"),
    (lambda: Sequence.from_arrays(_arr(3), fps=-5), InvalidArgumentError, "fps"),
    (lambda: Sequence.from_arrays(_arr(3), fps=float("nan")), InvalidArgumentError, "fps"),
    (lambda: Sequence.from_arrays(np.where(np.arange(3)[:, None, None] == 1, np.nan, _arr(3)) * [1, 1, np.nan],
                                  fps=30), InvalidPoseError, "NaN confidence"),
    (lambda: Sequence.from_arrays(_arr(3) * [1, 1, 0], fps=30), InvalidPoseError, "all keypoints are missing"),
    (lambda: Sequence.from_arrays(_arr(3), times=[0, 0.1, 0.1]), InvalidArgumentError, "strictly increasing"),
    (lambda: Sequence.from_arrays(_arr(3), times=[0, 0.1]), InvalidArgumentError, "expected 3 frame times"),
    (lambda: Sequence.from_arrays(_arr(3, 13), layout="coco17", fps=30), InvalidPoseError, "expects 17 keypoints, got 13"),
    (lambda: Sequence.from_arrays(_arr(3)), InvalidArgumentError, "give fps or times"),
    (lambda: Sequence.from_arrays(np.zeros((3, 17)), fps=30), InvalidPoseError, "shape"),
])
def test_sequence_errors(make, exc, words):
    with pytest.raises(exc) as e:
        make()
    assert words in str(e.value) and "\n" not in str(e.value)


def test_nan_confidence_message_names_frame():
    a = _arr(3)
    a[1, 2, 2] = np.nan
    with pytest.raises(InvalidPoseError, match=r"NaN confidence at pose/keypoint \(1, 2\)"):
        Sequence.from_arrays(a, fps=30, name="user")


def test_require_frames_and_single_frame():
    s = Sequence.from_arrays(_arr(1))          # one frame needs no fps
    assert s.times.tolist() == [0.0]
    with pytest.raises(InvalidPoseError, match="expected at least 2 frames, got 1"):
        s.require_frames(2)


def test_to_coco_from_penn():
    a = _arr(2, 13)
    s = Sequence.from_arrays(a, fps=30).to_coco()
    assert s.layout.name == "coco17" and s.keypoints.shape == (2, 17, 2)
    # Penn has no nose/eyes/ears: missing, not invented
    assert (s.confidences[:, :5] == 0).all() and (s.keypoints[:, :5] == 0).all()
    # penn13 index 1 is the person's right shoulder (see the layout doc) -> COCO right_shoulder (6)
    assert np.allclose(s.keypoints[:, 6], a[:, 1, :2])


def test_mirrored_twice_is_identity_and_swaps_sides():
    s = Sequence.from_arrays(_arr(3), fps=30)
    m = s.mirrored()
    assert not np.allclose(m.keypoints, s.keypoints)
    assert np.allclose(m.mirrored().keypoints, s.keypoints)


def test_mirrored_flips_the_whole_sequence_about_one_axis():
    """x -> (min x + max x over every present keypoint of every frame) - x, left/right swapped; so a pose
    that moves right mirrors to one that moves left by as much, and smoothing commutes with it."""
    from posesearch.sequence.smooth import smooth

    a = np.zeros((2, 17, 3))
    a[:, :, 2] = 1.0
    a[0, :, 0] = np.arange(17) + 10.0          # x 10..26 in frame 0
    a[1, :, 0] = np.arange(17) + 30.0          # the same pose 20 to the right in frame 1
    a[:, :, 1] = 5.0
    s = Sequence.from_arrays(a, fps=30, layout="coco17")
    m = s.mirrored()
    flip = np.asarray(s.layout.flip)
    assert np.allclose(m.keypoints[:, :, 0], (10.0 + 46.0) - a[:, flip, 0])
    assert np.allclose(m.keypoints[1, :, 0] - m.keypoints[0, :, 0], -20.0)
    assert np.array_equal(m.keypoints[:, :, 1], a[:, :, 1])
    seq = Sequence.from_arrays(_arr(20) + np.linspace(0, 200, 20)[:, None, None] * [1, 0, 0], fps=30)
    for method in ("kalman", "one-euro"):
        a1 = smooth(seq.mirrored(), method).keypoints
        a2 = smooth(seq, method).mirrored().keypoints
        d = a1[..., 0] - a2[..., 0]                # the same up to where the axis sits
        assert np.allclose(d, d.flat[0]) and np.allclose(a1[..., 1], a2[..., 1])


def test_body_size_hand_case():
    a = np.zeros((2, 17, 3))
    a[:, 0] = [0, 0, 1]
    a[:, 1] = [3, 4, 1]
    a[1, 2] = [6, 8, 1]
    s = Sequence.from_arrays(a, fps=1)
    assert s.body_size() == pytest.approx((5 + 10) / 2)


def test_sequence_from_clip():
    from posesearch.corpus.clip import Clip

    c = Clip("x:1", _arr(4, 13).astype(np.float32)[..., :2], np.ones((4, 13), np.float32), "penn13", fps=30.0)
    s = sequence_from_clip(c)
    assert s.layout.name == "penn13" and len(s) == 4 and s.name == "x:1"
    assert as_sequence(c, name="reference").name == "reference"


# ---------------------------------------------------------------------------------------------- files
def test_json_roundtrip_with_missing_and_irregular_times(tmp_path):
    a = _arr(4)
    a[1, 3] = [np.nan, np.nan, 0]
    a[2, 5, 2] = 0.4
    s = Sequence.from_arrays(a, times=[0.0, 0.04, 0.1, 0.13], fps=30)
    p = tmp_path / "s.json"
    write_sequence(p, s)
    doc = json.loads(p.read_text())
    assert doc["frames"][1][3] is None and "times" in doc and doc["layout"] == "coco17"
    r = read_sequence(p)
    assert np.allclose(r.keypoints, s.keypoints) and np.allclose(r.confidences, s.confidences)
    assert np.allclose(r.times, s.times) and r.fps == 30
    assert not [f for f in os.listdir(tmp_path) if f != "s.json"]      # no temporaries left


def test_json_regular_times_not_written(tmp_path):
    s = Sequence.from_arrays(_arr(3), fps=25)
    write_sequence(tmp_path / "s.json", s)
    assert "times" not in json.loads((tmp_path / "s.json").read_text())


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_binary_roundtrip(tmp_path, suffix):
    s = Sequence.from_arrays(_arr(5, 13), fps=12.5)
    p = tmp_path / f"s{suffix}"
    write_sequence(p, s)
    r = read_sequence(p, fps=12.5 if suffix == ".npy" else None)
    assert r.layout.name == "penn13" and np.allclose(r.keypoints, s.keypoints) and r.fps == 12.5


def test_npz_keypoints_plus_confidences(tmp_path):
    p = tmp_path / "s.npz"
    a = _arr(3)
    np.savez(p, keypoints=a[..., :2], confidences=a[..., 2], fps=30, times=[0, 0.1, 0.3])
    r = read_sequence(p)
    assert np.allclose(r.times, [0, 0.1, 0.3]) and r.fps == 30


def test_fps_argument_overrides_and_layout_argument(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"fps": 30, "frames": _arr(3, 13).tolist()}))
    assert read_sequence(p, fps=10).times.tolist() == pytest.approx([0, 0.1, 0.2])
    assert read_sequence(p, layout="penn13").layout.name == "penn13"
    p.write_text(json.dumps({"fps": 30, "layout": "penn13", "frames": _arr(3, 13).tolist()}))
    with pytest.raises(FileFormatError, match="the file says penn13 but coco17"):
        read_sequence(p, layout="coco17")


def _frames(t=3, k=17):
    return _arr(t, k).tolist()


@pytest.mark.parametrize("doc, words", [
    ({"fps": 30, "layout": "coco17", "frames": _frames(12) + [_arr(1, 13)[0].tolist()]},
     "frames[12]: expected 17 keypoints, got 13"),
    ({"fps": 30, "frames": _frames(2) + [_arr(1, 13)[0].tolist()]}, "frames[2]: expected 17 keypoints, got 13"),
    ({"fps": 30, "layout": "coco17", "frames": _frames(2, 13)}, "frames[0]: expected 17 keypoints, got 13"),
    ({"fps": 30, "frames": []}, "frames: empty"),
    ({"fps": 0, "frames": _frames()}, "fps: expected a positive number"),
    ({"fps": -2, "frames": _frames()}, "fps"),
    ({"frames": _frames()}, "frame times unknown"),
    ({"fps": 30, "frames": _frames(), "times": [0, 1, 1]}, "strictly increasing"),
    ({"fps": 30, "frames": _frames(), "times": [0, 1]}, "expected 3 frame times"),
    ({"fps": 30, "frames": [[[1, 2, 3]] * 17] * 2}, "confidence must be in [0, 1], got 3"),
    ({"fps": 30, "frames": [[[1, 2, 0]] * 17] * 2}, "all keypoints are missing"),
    ({"fps": 30, "frames": [[[1, "a", 1]] * 17] * 2}, "frames[0][0][1]: expected a number"),
    ({"fps": 30, "frames": [[[1, 2, 1, 5]] * 17] * 2}, "frames[0][0]: expected [x, y, confidence] or null"),
    ({"fps": 30, "frames": [[None] * 17] * 2}, "all keypoints are missing"),
    ({"fps": 30, "layout": "nope", "frames": _frames()}, "unknown layout"),
    ({"layout": "coco17", "keypoints": _arr(1)[0].tolist()}, "single-pose file"),
    ({"fps": 30}, "missing field 'frames'"),
])
def test_json_errors(tmp_path, doc, words):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(PoseSearchError) as e:
        read_sequence(p)
    msg = str(e.value)
    assert words in msg and str(p) in msg and "\n" not in msg


def test_json_nan_literal_confidence(tmp_path):
    p = tmp_path / "nan.json"
    frames = _frames(2)
    text = json.dumps({"fps": 30, "frames": frames}).replace("1.0]", "NaN]", 1)
    p.write_text(text)
    with pytest.raises(FileFormatError, match=r"frames\[0\]\[0\]\[2\]: confidence is NaN"):
        read_sequence(p)


def test_json_nan_coordinates_are_missing_like_single_poses(tmp_path):
    """A NaN coordinate (what a NumPy export of a missing joint writes) is a missing keypoint, as it is in
    a single-pose file; an infinite one is an error."""
    from posesearch.poses.io import read_pose_file

    frames = _frames(3)
    text = json.dumps({"fps": 30, "layout": "coco17", "frames": frames})
    nan_text = text.replace("[" + ", ".join(str(v) for v in frames[1][4]) + "]", "[NaN, NaN, 0.8]", 1)
    assert nan_text != text
    p = tmp_path / "nan.json"
    p.write_text(nan_text)
    seq = read_sequence(p)
    assert seq.confidences[1, 4] == 0.0 and np.isfinite(seq.keypoints).all()
    assert np.count_nonzero(seq.confidences == 0.0) == 1
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps({"layout": "coco17", "keypoints": frames[1]}).replace(
        "[" + ", ".join(str(v) for v in frames[1][4]) + "]", "[NaN, NaN, 0.8]", 1))
    assert read_pose_file(pose).confidences[0, 4] == 0.0
    p.write_text(text.replace("[" + ", ".join(str(v) for v in frames[1][4]) + "]", "[Infinity, 2, 1]", 1))
    with pytest.raises(FileFormatError, match=r"frames\[1\]\[4\]: expected finite coordinates"):
        read_sequence(p)


@pytest.mark.parametrize("name, content, words", [
    ("x.json", "{not json", "not valid JSON"),
    ("x.json", "[1, 2]", "expected a JSON object"),
    ("x.txt", "hello", "unsupported file type"),
    ("x.npy", "garbage", "not a numeric .npy array"),
    ("x.npz", "garbage", "not a readable .npz file"),
])
def test_foreign_files(tmp_path, name, content, words):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(FileFormatError, match=words.replace(".", r"\.")):
        read_sequence(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        read_sequence(tmp_path / "nope.json")
    with pytest.raises(FileFormatError, match="is a folder"):
        read_sequence(tmp_path)


def test_npy_shape_and_npz_missing_key(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 17)))
    with pytest.raises(FileFormatError, match=r"shape \(T, K, 3\), got \(3, 17\)"):
        read_sequence(tmp_path / "a.npy", fps=30)
    np.savez(tmp_path / "b.npz", poses=np.zeros((3, 17, 3)))
    with pytest.raises(FileFormatError, match="missing array 'keypoints'"):
        read_sequence(tmp_path / "b.npz")
    np.save(tmp_path / "c.npy", np.zeros((0, 17, 3)))
    with pytest.raises(FileFormatError, match="empty"):
        read_sequence(tmp_path / "c.npy", fps=30)


@settings(max_examples=25, deadline=None)
@given(t=hst.integers(1, 6), k=hst.sampled_from([13, 17, 25]), seed=hst.integers(0, 10_000),
       suffix=hst.sampled_from([".json", ".npz"]))
def test_roundtrip_property(tmp_path_factory, t, k, seed, suffix):
    rng = np.random.default_rng(seed)
    a = np.concatenate([rng.uniform(-100, 100, (t, k, 2)), rng.choice([0.0, 0.3, 1.0], (t, k, 1))], axis=-1)
    a[0, 0, 2] = 1.0
    times = np.cumsum(rng.uniform(0.01, 0.2, t))
    s = Sequence.from_arrays(a, times=times)
    p = tmp_path_factory.mktemp("rt") / f"s{suffix}"
    write_sequence(p, s)
    r = read_sequence(p)
    assert np.allclose(r.keypoints, s.keypoints) and np.allclose(r.confidences, s.confidences)
    assert np.allclose(r.times, s.times) and r.layout == s.layout
