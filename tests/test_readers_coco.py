"""Reader ``coco``: COCO keypoint JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import shared_path
from posesearch.corpus import Corpus
from posesearch.corpus.readers import get_reader, iter_source
from posesearch.corpus.readers import coco
from posesearch.errors import FileFormatError, InvalidArgumentError, UnknownNameError
from posesearch.poses.layouts import COCO17_JOINTS


def ann(aid, image_id, kps, **kw):
    return {"id": aid, "image_id": image_id, "category_id": 1, "iscrowd": 0, "keypoints": kps, **kw}


def coco_file(tmp_path, anns, name="person_keypoints_mini.json", **extra):
    data = {"images": [{"id": 7, "file_name": "000007.jpg"}], "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17_JOINTS)}], **extra}
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def kps(**points):
    """51 numbers with the given joints set: name=(x, y, v)."""
    out = [0] * 51
    for name, (x, y, v) in points.items():
        i = COCO17_JOINTS.index(name)
        out[3 * i: 3 * i + 3] = [x, y, v]
    return out


def test_visibility_to_confidence_and_labels(tmp_path):
    p = coco_file(tmp_path, [
        ann(11, 7, kps(nose=(10, 20, 2), left_eye=(12, 18, 1))),
        ann(12, 7, kps()),  # nothing labelled: dropped
        ann(13, 8, kps(left_hip=(1.5, 2.5, 2), right_hip=(4, 2.5, 2))),
    ])
    clips = list(coco.read([p]))
    assert [c.clip_id for c in clips] == ["coco-mini:ann:11", "coco-mini:ann:13"]
    a = clips[0]
    assert a.layout == "coco17" and a.keypoints.shape == (1, 17, 2) and a.fps is None
    assert a.confidences[0, 0] == 1.0 and a.confidences[0, 1] == 0.5 and a.confidences[0, 2] == 0
    np.testing.assert_array_equal(a.keypoints[0, :2], [[10, 20], [12, 18]])
    assert np.isnan(a.keypoints[0, 2:]).all()
    assert a.labels == {"split": "mini", "image_id": "7", "annotation_id": "11", "category": "person",
                        "file_name": "000007.jpg"}
    assert "file_name" not in clips[1].labels  # image 8 is not listed
    other = list(coco.read([p], visible=0.9, occluded=0.3, prefix="x"))
    assert other[0].clip_id == "x:ann:11" and other[0].confidences[0, :2].tolist() == pytest.approx([0.9, 0.3])
    with pytest.raises(InvalidArgumentError, match="occluded"):
        list(coco.read([p], occluded=0))


def test_folder_and_registry(tmp_path):
    coco_file(tmp_path, [ann(1, 7, kps(nose=(1, 2, 2)))])
    assert [c.clip_id for c in get_reader("coco").read([tmp_path])] == ["coco-mini:ann:1"]
    batches = list(iter_source("coco", [tmp_path]))
    assert len(batches) == 1 and len(batches[0]) == 1
    with pytest.raises(UnknownNameError, match="unknown format 'cocoa'"):
        get_reader("cocoa")


@pytest.mark.parametrize("content, match", [
    ('{"annotations": [{"id": 1, "keypoints": [1, 2', "truncated JSON"),
    ('{"annotations": [}', "malformed JSON"),
    ("", "empty file"),
    ("[1, 2, 3]", "not a COCO annotation file"),
    ('{"annotations": [{"id": 1, "bbox": [1, 2, 3, 4]}]}', "no annotation has 'keypoints'"),
    ('{"annotations": [{"id": 5, "keypoints": [1, 2, 2, 3, 4, 2]}]}',
     r"annotation id 5: expected 17 keypoints \(51 numbers x, y, v\), got 6 numbers"),
    ('{"annotations": [{"id": 5, "keypoints": [' + ", ".join(["1"] * 50) + ', 3]}]}',
     r"annotation id 5: keypoint 16 \(right_ankle\) has visibility 3"),
    ('{"annotations": [{"id": 5, "keypoints": [NaN, 1, 2' + ", 0" * 48 + ']}]}',
     r"annotation id 5: keypoint 0 \(nose\) has a non-finite coordinate"),
    ('{"annotations": [{"id": 5, "keypoints": ["a", 1, 2' + ", 0" * 48 + ']}]}', "keypoints must be numbers"),
    ('{"annotations": [], "categories": [{"id": 1, "keypoints": ["a", "b"]}]}', "expected the 17 COCO keypoints"),
])
def test_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(FileFormatError, match=match) as e:
        list(coco.read([p]))
    assert str(e.value).startswith(str(p)) and "\n" not in str(e.value)


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        list(coco.read([tmp_path / "nope.json"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="folder has no COCO keypoint files"):
        list(coco.read([tmp_path / "empty"]))


def test_real_val2017_round_trip(tmp_path):
    path = shared_path("coco", "person_keypoints_val2017.json")
    data = json.loads(path.read_text())
    anns = [a for a in data["annotations"] if any(a["keypoints"][2::3])]
    clips = list(coco.read([path]))
    assert len(clips) == len(anns) == 6352
    # independent parse of a few persons
    by_id = {a["id"]: a for a in anns}
    for c in clips[::997]:
        a = by_id[int(c.labels["annotation_id"])]
        k = np.array(a["keypoints"], dtype=float).reshape(17, 3)
        present = k[:, 2] > 0
        np.testing.assert_array_equal(c.keypoints[0][present], k[present, :2])
        np.testing.assert_array_equal(c.confidences[0], np.select([k[:, 2] == 2, k[:, 2] == 1], [1.0, 0.5], 0.0))
        assert c.labels["image_id"] == str(a["image_id"])
    s = Corpus.ingest(tmp_path / "val.h5", iter_source("coco", [path]))
    assert s.clips_added == 6352 and s.frames_added == 6352
    with Corpus.open(tmp_path / "val.h5") as corpus:
        for c in clips[::501]:
            got = corpus.clip(c.clip_id)
            np.testing.assert_array_equal(got.keypoints, c.keypoints.astype(np.float32))
            np.testing.assert_array_equal(got.confidences, c.confidences.astype(np.float32))
            assert got.labels == c.labels
        # invalid frames are the persons with < 2 labelled keypoints (or all on one point)
        n_lab = np.array([(np.array(a["keypoints"][2::3]) > 0).sum() for a in anns])
        assert corpus.num_valid <= int((n_lab >= 2).sum()) and corpus.num_valid >= int((n_lab >= 3).sum())
