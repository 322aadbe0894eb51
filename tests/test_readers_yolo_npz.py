"""Reader ``yolo-npz``: COCO persons as normalized YOLO arrays."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_path
from posesearch.corpus import ClipBatch, Corpus
from posesearch.corpus.readers import iter_source, yolo_npz
from posesearch.errors import FileFormatError, InvalidArgumentError


def npz(tmp_path, name="train2017_yolo_kpts.npz", n=4, **override):
    rng = np.random.default_rng(3)
    arrays = {"kpts_norm": rng.uniform(0, 1, (n, 17, 2)).astype(np.float32),
              "vis": rng.integers(0, 3, (n, 17)).astype(np.uint8),
              "image_id": np.arange(100, 100 + n), "bbox_cxcywh_norm": rng.uniform(0, 1, (n, 4))}
    arrays["vis"][1] = 0  # person 1 has no labelled keypoint: dropped
    arrays.update(override)
    p = tmp_path / name
    np.savez(p, **arrays)
    return p, arrays


def test_small_file(tmp_path):
    p, a = npz(tmp_path)
    clips = list(yolo_npz.read([p]))
    assert [c.clip_id for c in clips] == ["coco-train2017:p:0", "coco-train2017:p:2", "coco-train2017:p:3"]
    c = clips[1]
    v = a["vis"][2]
    np.testing.assert_array_equal(c.confidences[0], np.select([v == 2, v == 1], [1.0, 0.5], 0.0))
    np.testing.assert_array_equal(c.keypoints[0][v > 0], a["kpts_norm"][2][v > 0])
    assert np.isnan(c.keypoints[0][v == 0]).all()
    assert c.labels == {"split": "train2017", "image_id": "102", "row": "2"}
    wide = list(yolo_npz.read([p], aspect=1.5))[1]
    np.testing.assert_allclose(wide.keypoints[0][v > 0, 0], a["kpts_norm"][2][v > 0, 0] * 1.5, rtol=1e-6)


def test_batches(tmp_path):
    p, _ = npz(tmp_path, n=10)
    batches = list(yolo_npz.read_batches([p], batch_size=4))
    assert all(isinstance(b, ClipBatch) for b in batches) and [len(b) for b in batches] == [4, 4, 1]
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        list(yolo_npz.read_batches([p], batch_size=0))
    with pytest.raises(InvalidArgumentError, match="aspect"):
        list(yolo_npz.read_batches([p], aspect=-1))


@pytest.mark.parametrize("override, match", [
    ({"kpts_norm": np.zeros((4, 13, 2))}, r"kpts_norm: expected \(N, 17, 2\) COCO keypoints, got 13 keypoints"),
    ({"vis": np.zeros((4, 16))}, r"vis: expected shape \(4, 17\)"),
    ({"image_id": np.arange(3)}, r"image_id: expected shape \(4,\)"),
    ({"vis": np.full((4, 17), 3)}, r"vis\[0, 0\] \(nose\) is 3"),
    ({"kpts_norm": np.full((4, 17, 2), np.nan), "vis": np.full((4, 17), 2)}, r"kpts_norm\[0, 0\] \(nose\) is not finite"),
    ({"kpts_norm": np.zeros((0, 17, 2)), "vis": np.zeros((0, 17)), "image_id": np.zeros(0)}, "no persons"),
])
def test_bad_arrays(tmp_path, override, match):
    p, _ = npz(tmp_path, **override)
    with pytest.raises(FileFormatError, match=match) as e:
        list(yolo_npz.read([p]))
    assert str(e.value).startswith(str(p))


def test_foreign_and_truncated(tmp_path):
    p = tmp_path / "other.npz"
    np.savez(p, x=np.arange(3))
    with pytest.raises(FileFormatError, match="missing array\\(s\\) kpts_norm, vis, image_id \\(found x\\)"):
        list(yolo_npz.read([p]))
    good, _ = npz(tmp_path)
    t = tmp_path / "trunc.npz"
    t.write_bytes(good.read_bytes()[:200])
    with pytest.raises(FileFormatError, match="not a readable .npz file"):
        list(yolo_npz.read([t]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="folder has no .npz files"):
        list(yolo_npz.read([tmp_path / "empty"]))


@pytest.mark.slow
def test_real_train_file(tmp_path):
    path = shared_path("coco", "train2017_yolo_kpts.npz")
    z = np.load(path)
    n = len(z["image_id"])
    assert n == 149813
    s = Corpus.ingest(tmp_path / "train.h5", iter_source("yolo-npz", [path]))
    assert s.clips_added == s.frames_added == int((z["vis"] > 0).any(axis=1).sum())
    with Corpus.open(tmp_path / "train.h5") as c:
        rows = np.random.default_rng(0).integers(0, n, 50)
        fb = c.frames(rows)  # every person kept, so frame row == file row
        vis = z["vis"][rows]
        kp = np.where((vis > 0)[..., None], z["kpts_norm"][rows], np.nan)
        np.testing.assert_array_equal(fb.keypoints, kp)
        assert [r["labels"]["image_id"] for r in fb.records()] == [str(i) for i in z["image_id"][rows]]
        assert c.verify()["frames"] == n
