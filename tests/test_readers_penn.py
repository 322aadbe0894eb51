"""The ``penn-action`` reader: synthetic .mat files (round trip, malformed input) and the real labels."""
from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import read_refused, shared_path
from posesearch.corpus.readers import penn_action as reader
from posesearch.errors import FileFormatError, InvalidArgumentError
from posesearch.poses.layouts import PENN13


def fields(T: int = 4, seed: int = 0, **over) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 480, (T, 13))
    y = rng.uniform(0, 360, (T, 13))
    d = dict(x=x, y=y, visibility=(rng.random((T, 13)) < 0.7).astype(np.uint8),
             bbox=np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], axis=1),
             dimensions=np.array([[360, 480, T]], dtype=np.uint16), nframes=np.array([[T]], dtype=np.uint8),
             action="tennis_serve", pose="front", train=np.array([[1]], dtype=np.int32))
    d.update(over)
    return {k: v for k, v in d.items() if v is not None}


def savemat(path: Path, d: dict) -> Path:
    scipy.io.savemat(str(path), d)
    return path


def test_round_trip(tmp_path):
    d = fields(T=5)
    clip = reader.read_clip(savemat(tmp_path / "0042.mat", d))
    assert clip.clip_id == "penn:0042" and clip.layout == "penn13" and clip.fps == 30.0
    assert clip.keypoints.shape == (5, 13, 2) and clip.keypoints.dtype == np.float32
    np.testing.assert_allclose(clip.keypoints[..., 0], d["x"], rtol=1e-6)
    np.testing.assert_allclose(clip.keypoints[..., 1], d["y"], rtol=1e-6)
    np.testing.assert_array_equal(clip.confidences, d["visibility"].astype(np.float32))  # invisible -> missing
    np.testing.assert_allclose(clip.frame_labels["bbox"], d["bbox"], rtol=1e-6)
    assert clip.labels == {"action": "tennis_serve", "view": "front", "split": "train", "clip": "0042",
                           "height": "360", "width": "480"}
    assert clip.source.endswith("0042.mat") and len(clip) == 5
    # the documented order is kept: index 1 is the layout's right_shoulder (documented l_shoulder)
    assert PENN13.joints[1] == "right_shoulder"


def test_invisible_confidence_option_and_test_split(tmp_path):
    d = fields(T=3, train=np.array([[-1]]))
    p = savemat(tmp_path / "0007.mat", d)
    [clip] = reader.read(p, invisible_confidence=0.25, fps=25)
    np.testing.assert_allclose(clip.confidences, np.where(d["visibility"] == 1, 1.0, 0.25))
    assert clip.labels["split"] == "test" and clip.fps == 25.0
    for bad in (-0.1, 1.5, "x", float("nan")):
        with pytest.raises(InvalidArgumentError, match="invisible_confidence"):
            list(reader.read(p, invisible_confidence=bad))
    with pytest.raises(InvalidArgumentError, match="fps"):
        list(reader.read(p, fps=0))


def test_integer_coordinates_and_nan_as_missing(tmp_path):
    # some real files store x/y as uint8/uint16
    d = fields(T=2)
    d["x"] = np.round(d["x"]).astype(np.uint16)
    d["y"] = np.round(d["y"]).astype(np.uint16)
    clip = reader.read_clip(savemat(tmp_path / "0001.mat", d))
    np.testing.assert_array_equal(clip.keypoints[..., 0], d["x"].astype(np.float32))
    d = fields(T=2, visibility=np.ones((2, 13), dtype=np.uint8))
    d["x"][1, 4] = np.nan
    clip = reader.read_clip(savemat(tmp_path / "0002.mat", d))
    assert clip.confidences[1, 4] == 0 and clip.confidences.sum() == 25


def test_bbox_row_count_mismatch_drops_bbox(tmp_path):
    d = fields(T=4)
    d["bbox"] = d["bbox"][:3]
    clip = reader.read_clip(savemat(tmp_path / "1154.mat", d))
    assert "bbox" not in clip.frame_labels and clip.labels["bbox"] == "dropped: 3 rows for 4 frames"


@pytest.mark.parametrize("change,expect", [
    (dict(x=None), "not a Penn Action label file: missing field 'x'"),
    (dict(visibility=None, train=None), "missing fields 'visibility', 'train'"),
    (dict(y=np.zeros((3, 13))), "field 'y' has 3 frames, field 'x' has 4"),
    (dict(visibility=np.ones((5, 13), dtype=np.uint8)), "field 'visibility' has 5 frames, field 'x' has 4"),
    (dict(nframes=np.array([[9]])), "field 'nframes' says 9 frames, field 'x' has 4"),
    (dict(dimensions=np.array([[360, 480, 7]])), "field 'dimensions' says 7 frames, field 'x' has 4"),
    (dict(x=np.zeros((4, 12))), "field 'x': expected a numeric (T, 13) array, got float64 array of shape (4, 12)"),
    (dict(x=np.zeros((0, 13)), y=np.zeros((0, 13)), visibility=np.zeros((0, 13)), nframes=None, dimensions=None,
          bbox=None), "field 'x' has no frames"),
    (dict(visibility=np.full((4, 13), 2, dtype=np.uint8)), "field 'visibility': expected 0 or 1, got 2 (frame 1, joint 1)"),
    (dict(train=np.array([[0]])), "field 'train': expected 1 or -1, got 0"),
    (dict(action=np.array([[1.5]])), "field 'action': expected a string"),
    (dict(pose=""), "field 'pose': expected a non-empty string"),
])
def test_malformed_fields(tmp_path, change, expect):
    d = fields(T=4)
    for k, v in change.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    p = savemat(tmp_path / "0003.mat", d)
    with pytest.raises(FileFormatError) as ei:
        reader.read_clip(p)
    msg = str(ei.value)
    assert str(p) in msg and expect in msg, msg


def test_infinite_coordinate(tmp_path):
    d = fields(T=2)
    d["y"][0, 3] = np.inf
    with pytest.raises(FileFormatError, match=r"0004.mat: fields 'x'/'y': infinite coordinate at frame 1, joint 4"):
        reader.read_clip(savemat(tmp_path / "0004.mat", d))


def test_foreign_truncated_empty_files(tmp_path):
    text = tmp_path / "notes.mat"
    text.write_text("this is not a MATLAB file\n" * 20)
    empty = tmp_path / "empty.mat"
    empty.write_bytes(b"")
    good = savemat(tmp_path / "good.mat", fields(T=30))
    cut = tmp_path / "cut.mat"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    for p in (text, empty, cut):
        with pytest.raises(FileFormatError) as ei:
            reader.read_clip(p)
        msg = str(ei.value)
        assert msg.startswith(str(p) + ": ") and "\n" not in msg, msg
    with pytest.raises(FileFormatError, match="missing.mat: no such file"):
        reader.read_clip(tmp_path / "missing.mat")


def test_folders(tmp_path):
    for n in ("0002", "0010", "0001"):
        savemat(tmp_path / f"{n}.mat", fields(T=2))
    (tmp_path / "README.txt").write_text("ignored")
    assert [c.clip_id for c in reader.read(tmp_path)] == ["penn:0001", "penn:0002", "penn:0010"]
    assert [c.clip_id for c in reader.read([tmp_path / "0010.mat", tmp_path / "0001.mat"])] == ["penn:0010", "penn:0001"]
    empty = tmp_path / "none"
    empty.mkdir()
    read_refused(reader, empty, "none: folder has no Penn Action label files")
    read_refused(reader, tmp_path / "nowhere", "nowhere: no such file or folder")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(T=st.integers(1, 40), seed=st.integers(0, 2**31), ic=st.sampled_from([0.0, 0.3, 1.0]))
def test_round_trip_property(tmp_path, T, seed, ic):
    d = fields(T=T, seed=seed)
    p = savemat(tmp_path / f"{seed}.mat", d)
    clip = reader.read_clip(p, invisible_confidence=ic)
    assert clip.keypoints.shape == (T, 13, 2)
    np.testing.assert_allclose(clip.keypoints, np.stack([d["x"], d["y"]], -1).astype(np.float32))
    np.testing.assert_allclose(clip.confidences, np.where(d["visibility"] == 1, 1.0, ic))


# ------------------------------------------------------------------------------------------- real data

@pytest.fixture(scope="module")
def penn_clips():
    return list(reader.read(shared_path("penn_action", "labels")))


def test_real_counts(penn_clips):
    clips = penn_clips
    assert len(clips) == 2326
    assert sum(len(c) for c in clips) == 163841
    split = collections.Counter(c.labels["split"] for c in clips)
    assert split == {"train": 1258, "test": 1068}
    assert len({c.labels["action"] for c in clips}) == 15
    assert {c.labels["view"] for c in clips} == {"front", "back", "left", "right"}
    assert len({c.clip_id for c in clips}) == 2326 and clips[0].clip_id == "penn:0001"
    lens = [len(c) for c in clips]
    assert min(lens) == 18 and max(lens) == 663
    # only the two documented clips lose their bbox
    assert sorted(c.labels["clip"] for c in clips if "bbox" not in c.frame_labels) == ["1154", "1865"]
    conf = np.concatenate([c.confidences.ravel() for c in clips])
    assert set(np.unique(conf)) <= {0.0, 1.0}
    assert 0.7 < conf.mean() < 0.85  # ~78% of joints visible


def test_real_left_right_reading(penn_clips):
    """In front-view clips the layout's right_shoulder (index 1) is image-left of left_shoulder (index 2)."""
    rs, ls = PENN13.index("right_shoulder"), PENN13.index("left_shoulder")
    frac = {}
    for view in ("front", "back"):
        kp = np.concatenate([c.keypoints for c in penn_clips if c.labels["view"] == view])
        cf = np.concatenate([c.confidences for c in penn_clips if c.labels["view"] == view])
        both = (cf[:, rs] > 0) & (cf[:, ls] > 0)
        frac[view] = float((kp[both, rs, 0] < kp[both, ls, 0]).mean())
    assert frac["front"] > 0.9  # facing the camera: the person's right on the image left
    assert frac["back"] < 0.3  # seen from behind: reversed
