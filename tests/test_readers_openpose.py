"""Reader ``openpose``: OpenPose frame folders and the labelled BODY_25 set."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import shared_path
from posesearch.corpus import ClipBatch, Corpus
from posesearch.corpus.readers import iter_source, openpose
from posesearch.errors import FileFormatError, InvalidArgumentError


def person(seed, pid=None, n=75):
    rng = np.random.default_rng(seed)
    k = rng.uniform(1, 500, (25, 3))
    k[:, 2] = rng.uniform(0.1, 1, 25)
    k[3] = 0  # not detected
    out = {"pose_keypoints_2d": k.reshape(-1).tolist()[:n] + [0.0] * max(0, n - 75), "face_keypoints_2d": []}
    if pid is not None:
        out["person_id"] = [pid]
    return out


def frame_folder(tmp_path, frames, name="video"):
    d = tmp_path / name
    d.mkdir()
    for n, people in frames.items():
        (d / f"{name}_{n:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return d


def test_frame_folder(tmp_path):
    d = frame_folder(tmp_path, {0: [person(0), person(1)], 1: [person(2)], 5: [person(3), person(4)]})
    clips = list(openpose.read([d], fps=25))
    assert [c.clip_id for c in clips] == ["openpose:video:p0", "openpose:video:p1"]
    p0, p1 = clips
    assert p0.layout == "body25" and p0.keypoints.shape == (3, 25, 2) and p0.fps == 25
    np.testing.assert_array_equal(p0.frame_labels["frame"], [0, 1, 5])
    np.testing.assert_allclose(p0.times, [0, 0.04, 0.2])
    np.testing.assert_array_equal(p1.frame_labels["frame"], [0, 5])
    ref = np.array(person(2)["pose_keypoints_2d"]).reshape(25, 3)
    np.testing.assert_array_equal(p0.keypoints[1][ref[:, 2] > 0], ref[ref[:, 2] > 0, :2])
    np.testing.assert_array_equal(p0.confidences[1], ref[:, 2])
    assert np.isnan(p0.keypoints[1, 3]).all() and p0.confidences[1, 3] == 0
    assert p0.labels == {"folder": "video", "person": "0"}
    only = list(openpose.read([d], person=1))
    assert [c.clip_id for c in only] == ["openpose:video:p1"]
    # files given one by one group by folder the same way
    files = sorted(d.iterdir())
    assert [len(c) for c in openpose.read(files)] == [3, 2]


def test_tracked_person_ids(tmp_path):
    d = frame_folder(tmp_path, {3: [person(0, pid=7), person(1, pid=2)], 4: [person(2, pid=2), person(3, pid=7)]})
    clips = list(openpose.read([d]))
    assert [c.clip_id for c in clips] == ["openpose:video:p2", "openpose:video:p7"]
    ref = np.array(person(3)["pose_keypoints_2d"]).reshape(25, 3)
    np.testing.assert_array_equal(clips[1].confidences[1], ref[:, 2])


@pytest.mark.parametrize("people, match", [
    ([person(0, n=54)], r"people\[0\].pose_keypoints_2d: expected 75 numbers .* got 54 \(the COCO-18 model"),
    ([{"face_keypoints_2d": []}], r"people\[0\]: no 'pose_keypoints_2d'"),
    ([{"pose_keypoints_2d": [1.0] * 74 + [2.0]}], r"people\[0\] keypoint 24 \(right_heel\): confidence 2 is not in \[0, 1\]"),
    ([{"pose_keypoints_2d": ["x"] * 75}], r"expected numbers"),
    ("nobody", r"'people': expected a list"),
])
def test_bad_frames(tmp_path, people, match):
    d = frame_folder(tmp_path, {0: people})
    with pytest.raises(FileFormatError, match=match) as e:
        list(openpose.read([d]))
    assert "video_000000000000_keypoints.json" in str(e.value) and "\n" not in str(e.value)


def test_empty_and_foreign(tmp_path):
    d = frame_folder(tmp_path, {0: [], 1: []})
    with pytest.raises(FileFormatError, match="no people with pose keypoints in its 2 OpenPose frame file"):
        list(openpose.read([d]))
    (tmp_path / "none").mkdir()
    with pytest.raises(FileFormatError, match="folder has no OpenPose JSON files"):
        list(openpose.read([tmp_path / "none"]))
    f = tmp_path / "x.json"
    f.write_text('{"foo": 1}')
    with pytest.raises(FileFormatError, match="not OpenPose JSON"):
        list(openpose.read([f]))
    f.write_text('{"people": [')
    with pytest.raises(FileFormatError, match="truncated JSON"):
        list(openpose.read([f]))
    with pytest.raises(InvalidArgumentError, match="person"):
        list(openpose.read([d], person=-1))
    with pytest.raises(InvalidArgumentError, match="fps"):
        list(openpose.read([d], fps=0))


def labelled_set(tmp_path, entries, label="Tpose"):
    p = tmp_path / f"{label}_body.json"
    p.write_text(json.dumps({"info": {"label": label, "focus": "body"}, "data": entries}))
    return p


def test_labelled_set_flips_y(tmp_path):
    x = list(np.linspace(-0.5, 0.5, 25))
    y = list(np.linspace(0.5, -0.5, 25))  # y up: nose (0) on top
    a = [0.9] * 25
    a[24] = 0.0
    p = labelled_set(tmp_path, [{"x": x, "y": y, "a": a, "detection_accuracy": 20.5}] * 2)
    items = list(openpose.read_batches([p]))
    assert len(items) == 1 and isinstance(items[0], ClipBatch)
    clips = list(openpose.read([p]))
    assert [c.clip_id for c in clips] == ["pck:Tpose:0", "pck:Tpose:1"]
    c = clips[0]
    np.testing.assert_allclose(c.keypoints[0, :24, 1], -np.array(y[:24]))  # image convention: y down
    np.testing.assert_allclose(c.keypoints[0, :24, 0], x[:24])
    assert np.isnan(c.keypoints[0, 24]).all() and c.confidences[0, 24] == 0
    assert c.labels == {"label": "Tpose", "set": "Tpose_body"}
    assert c.frame_labels["detection_accuracy"].tolist() == [20.5]
    with pytest.raises(FileFormatError, match=r"data\[1\].x: expected 25 BODY_25 values, got 3"):
        list(openpose.read([labelled_set(tmp_path, [{"x": x, "y": y, "a": a}, {"x": [1, 2, 3], "y": y, "a": a}])]))
    with pytest.raises(FileFormatError, match=r"data\[0\]: missing 'a'"):
        list(openpose.read([labelled_set(tmp_path, [{"x": x, "y": y}])]))


def test_real_pose_classification_kit(tmp_path):
    folder = shared_path("pose_classification_kit")
    s = Corpus.ingest(tmp_path / "pck.h5", iter_source("openpose", [folder]))
    assert s.clips_added == 10681
    with Corpus.open(tmp_path / "pck.h5") as c:
        labels = c.clip_labels("label")
        assert len(set(labels)) == 20
        # after the flip a standing person's nose is above (smaller y than) the ankles in image terms
        stand = np.flatnonzero(labels == "Stand")
        kp, cf = c.keypoints()[stand], c.confidences()[stand]
        ok = (cf[:, 0] > 0) & (cf[:, 15] > 0)
        assert ok.sum() > 300 and (kp[ok, 0, 1] < kp[ok, 15, 1]).mean() > 0.99
        assert c.info()["source_layouts"] == {"body25": 10681}
