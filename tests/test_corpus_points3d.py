"""Corpus format 2: the /frames/points3d column (3D joints of references, issue 20), and version 1 files.

A clip's 3D joints go in and come out (COCO-17, NaN for joints its layout lacks); 2D-only clips read back
without them; the checksum covers them (a changed 3D value fails verify); a version-1 file (no column)
still opens and verifies, gains the column when appended to or upgraded, and keeps its checksum.
"""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from posesearch.corpus import Clip, Corpus, upgrade
from posesearch.corpus.fileformat import FORMAT_VERSION
from posesearch.errors import ChecksumError, FileFormatError, InvalidPoseError
from posesearch.poses.layouts import get_layout


def clip3d(rng, cid: str, n: int = 12, layout: str = "cmu19", with3d: bool = True) -> Clip:
    lay = get_layout(layout)
    kp = rng.uniform(0, 100, (n, lay.num_keypoints, 2)).astype(np.float32)
    p3 = rng.normal(0, 1, (n, lay.num_keypoints, 3)).astype(np.float32) if with3d else None
    return Clip(cid, kp, np.ones((n, lay.num_keypoints), np.float32), layout, fps=30.0, points3d=p3)


def as_version_1(path) -> None:
    """What a posesearch of format 1 wrote: no points3d column."""
    with h5py.File(path, "r+") as f:
        del f["frames/points3d"]
        f.attrs["format_version"] = 1


def test_points3d_round_trip_in_coco(tmp_path, rng):
    a, b = clip3d(rng, "a"), clip3d(rng, "b", layout="coco17", with3d=False)
    p = tmp_path / "c.h5"
    Corpus.ingest(p, [a, b])
    with Corpus.open(p) as c:
        assert c.info()["format_version"] == FORMAT_VERSION == 2
        got = c.clip("a")
        idx = np.asarray(get_layout("cmu19").to_coco)
        np.testing.assert_array_equal(got.points3d[:, idx >= 0], a.points3d[:, idx[idx >= 0]])
        assert np.isnan(got.points3d[:, idx < 0]).all()     # COCO joints cmu19 has not: missing
        assert c.clip("b").points3d is None
        c.verify()


def test_checksum_covers_points3d(tmp_path, rng):
    p = tmp_path / "c.h5"
    Corpus.ingest(p, [clip3d(rng, "a")])
    with h5py.File(p, "r+") as f:
        f["frames/points3d"][3, 5, 0] += 1.0
    with Corpus.open(p) as c, pytest.raises(ChecksumError):
        c.verify()


def test_bad_points3d_is_refused_naming_the_clip(tmp_path, rng):
    bad = clip3d(rng, "x")
    bad.points3d = bad.points3d[:, :4]
    with pytest.raises(InvalidPoseError, match=r"clip 'x'.*points3d: expected shape \(12, 19, 3\)"):
        Corpus.ingest(tmp_path / "c.h5", [bad])
    bad = clip3d(rng, "y")
    bad.points3d[0, 0, 0] = np.inf
    with pytest.raises(InvalidPoseError, match="clip 'y'.*points3d: expected finite coordinates"):
        Corpus.ingest(tmp_path / "d.h5", [bad])


def test_version_1_files_open_append_and_upgrade(tmp_path, rng):
    p = tmp_path / "old.h5"
    Corpus.ingest(p, [clip3d(rng, "a", layout="coco17", with3d=False), clip3d(rng, "b", layout="coco17", with3d=False)])
    as_version_1(p)
    with Corpus.open(p) as c:                               # read as it is
        assert c.info()["format_version"] == 1 and c.clip("a").points3d is None
        checksum = c.info()["checksum"]
        c.verify()
    q = tmp_path / "old2.h5"
    q.write_bytes(p.read_bytes())
    assert upgrade(p) is True and upgrade(p) is False
    with Corpus.open(p) as c:
        assert c.info()["format_version"] == 2 and c.info()["checksum"] == checksum
        assert c.clip("b").points3d is None
        c.verify()
    Corpus.append(q, [clip3d(rng, "c")])                     # appending upgrades the copy first
    with Corpus.open(q) as c:
        assert c.info()["format_version"] == 2 and c.num_clips == 3
        assert c.clip("a").points3d is None and c.clip("c").points3d.shape == (12, 17, 3)
        c.verify()


def test_damaged_points3d_column_is_one_line(tmp_path, rng):
    p = tmp_path / "c.h5"
    Corpus.ingest(p, [clip3d(rng, "a")])
    with h5py.File(p, "r+") as f:
        f["frames/points3d"].resize(5, axis=0)
    with pytest.raises(FileFormatError, match=r"damaged corpus: /frames/points3d has shape \(5, 17, 3\), expected "
                                              r"\(12, 17, 3\)"):
        Corpus.open(p)


def test_bvh_ingest_stores_3d_and_scoring_fits_the_camera(tmp_path):
    from conftest import shared_path
    from posesearch.corpus.readers import bvh
    from posesearch.sequence.score import score_sequence

    p = tmp_path / "cmu.h5"
    Corpus.ingest(p, bvh.read(shared_path("cmu_mocap", "bvh", "005_01.bvh"), views=[0, 90], every=2))
    r = score_sequence(f"{p}:cmu:005_01:yaw0", f"{p}:cmu:005_01:yaw90")
    assert r.view["mode"] == "3d-fit" and abs(r.view["camera"]["yaw"] - 90) <= 1 and r.score > 99
