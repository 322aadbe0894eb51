"""Corpus file: round trips, slices, appends, labels, errors, version handling."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import foreign_hdf5, set_h5_attrs
from posesearch.corpus import Clip, ClipBatch, Corpus, upgrade
from posesearch.corpus import columns as col
from posesearch.corpus.store import FORMAT_VERSION, IngestSummary
from posesearch.errors import (ChecksumError, FileFormatError, InvalidArgumentError, PoseSearchError,
                               UnknownNameError)
from posesearch.poses.layouts import get_layout
from posesearch.poses.normalize import DEFAULT_NORMALIZATION, normalize_batch


def make_clip(rng, cid, T=5, layout="coco17", fps=30.0, source="src.json", labels=None, missing=0.2, **kw):
    K = get_layout(layout).num_keypoints
    kp = rng.uniform(0, 500, (T, K, 2))
    cf = rng.uniform(0.05, 1, (T, K))
    cf[rng.uniform(size=(T, K)) < missing] = 0
    return Clip(cid, kp, cf, layout, fps=fps, source=source, labels=labels or {}, **kw)


def expected_coco(clip):
    """What the corpus should store for a clip: COCO-17 float32, NaN + conf 0 where missing."""
    lay = get_layout(clip.layout)
    kp = np.asarray(clip.keypoints, dtype=np.float64).astype(np.float32)
    cf = np.asarray(clip.confidences, dtype=np.float64).astype(np.float32)
    miss = (cf <= 0) | np.isnan(kp).any(axis=-1)
    cf = np.where(miss, 0, cf).astype(np.float32)
    kp = np.where(miss[..., None], np.nan, kp).astype(np.float32)
    return lay.convert_to_coco(kp, cf)


def assert_clip_equal(got: Clip, clip: Clip):
    kp, cf = expected_coco(clip)
    np.testing.assert_array_equal(got.keypoints, kp)  # NaN positions must match too
    np.testing.assert_array_equal(got.confidences, cf)
    assert got.clip_id == clip.clip_id
    assert got.layout == "coco17"
    assert got.fps == clip.fps
    assert got.source == clip.source
    assert got.labels == {k: v for k, v in clip.labels.items() if v != ""}
    np.testing.assert_allclose(got.times, clip.frame_times())
    for k, v in clip.frame_labels.items():
        np.testing.assert_array_equal(got.frame_labels[k], v)


# --- tiny hand-checkable case ---------------------------------------------------------------------

def test_tiny_round_trip_by_hand(tmp_path):
    kp = np.zeros((2, 17, 2))
    cf = np.zeros((2, 17))
    kp[0, 5] = [10, 20]    # left shoulder
    kp[0, 6] = [30, 20]    # right shoulder
    kp[0, 11] = [10, 60]   # left hip
    cf[0, [5, 6, 11]] = [1.0, 0.5, 1.0]
    kp[1, 0] = [5, 5]      # frame 1: a single keypoint -> cannot be normalized
    cf[1, 0] = 1.0
    clip = Clip("a", kp, cf, "coco17", fps=10, source="hand.json", labels={"action": "wave"})
    s = Corpus.ingest(tmp_path / "c.h5", [clip])
    assert (s.frames_added, s.clips_added, s.invalid_frames, s.total_valid) == (2, 1, 1, 1)
    with Corpus.open(tmp_path / "c.h5") as c:
        assert len(c) == 2 and c.num_clips == 1 and c.num_valid == 1
        np.testing.assert_array_equal(c.valid, [True, False])
        v = c.vectors()
        # present joints: (0, 0), (20, 0), (0, 40) after translation; norm sqrt(400 + 1600)
        s = np.sqrt(2000.0)
        np.testing.assert_allclose(v[0, [10, 11, 12, 13, 22, 23]], [0, 0, 20 / s, 0, 0, 40 / s], rtol=1e-6)
        # missing joints sit at the centre of the normalized box
        np.testing.assert_allclose(v[0, [0, 1]], [10 / s, 20 / s], rtol=1e-6)
        np.testing.assert_array_equal(v[1], 0)
        assert np.isnan(c.keypoints()[0, 0]).all() and c.confidences()[0, 0] == 0
        fb = c.frames([1])
        assert fb.records()[0]["time"] == pytest.approx(0.1)
        assert fb.records()[0]["labels"] == {"action": "wave"}
        assert fb.records()[0]["keypoints"][0] == [5.0, 5.0, 1.0]
        assert fb.records()[0]["keypoints"][1] == [None, None, 0.0]


def test_attributes(tmp_path):
    Corpus.ingest(tmp_path / "c.h5", [make_clip(np.random.default_rng(1), "a", layout="penn13")])
    info = Corpus.info(tmp_path / "c.h5")
    assert info["format"] == "posesearch-corpus" and info["format_version"] == FORMAT_VERSION == 2
    assert info["layout"] == "coco17"
    assert info["normalization"] == DEFAULT_NORMALIZATION.to_dict()
    assert info["num_frames"] == 5 and info["num_clips"] == 1
    assert info["source_layouts"] == {"penn13": 1}
    assert info["created_by"].startswith("posesearch ")
    assert len(info["checksum"]) == 64
    with Corpus.open(tmp_path / "c.h5") as c:
        assert c.info()["checksum"] == info["checksum"] == c.checksum
        assert c.clip_info(0).layout == "penn13"


# --- property: any mix of clips round-trips -------------------------------------------------------

clip_specs = st.lists(
    st.tuples(st.integers(1, 6), st.sampled_from(["coco17", "body25", "penn13", "cmu19"]),
              st.sampled_from([None, 30.0, 12.5]), st.dictionaries(st.sampled_from(["action", "view", "split"]),
                                                                     st.text(min_size=0, max_size=6), max_size=3)),
    min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=clip_specs, seed=st.integers(0, 2 ** 16), split=st.integers(0, 8))
def test_round_trip_property(tmp_path_factory, specs, seed, split):
    rng = np.random.default_rng(seed)
    clips = [make_clip(rng, f"c{i}", T=T, layout=lay, fps=fps, labels=lab,
                       frame_labels={"n": rng.integers(0, 9, T)} if i % 2 else {})
             for i, (T, lay, fps, lab) in enumerate(specs)]
    path = tmp_path_factory.mktemp("prop") / "c.h5"
    split = min(split, len(clips))
    Corpus.ingest(path, clips[:split])
    Corpus.append(path, clips[split:])
    with Corpus.open(path) as c:
        assert len(c) == sum(len(x) for x in clips) and c.num_clips == len(clips)
        for clip in clips:
            assert_clip_equal(c.clip(clip.clip_id), clip)
        # vectors are normalize_batch of the stored keypoints
        vec, valid = normalize_batch(c.keypoints(), c.confidences(), on_invalid="mask")
        np.testing.assert_allclose(c.vectors(), vec.astype(np.float32), atol=1e-7)
        np.testing.assert_array_equal(c.valid, valid)
        infos = list(c)
        assert [i.clip_id for i in infos] == [x.clip_id for x in clips]
        assert infos[-1].stop == len(c)
        c.verify()


def test_clip_batch_equals_clips(tmp_path, rng):
    clips = [make_clip(rng, f"c{i}", T=int(rng.integers(1, 4)), fps=25.0, labels={"k": str(i)} if i % 2 else {})
             for i in range(20)]
    batch = ClipBatch.from_clips(clips)
    assert [c.clip_id for c in batch.clips()] == [c.clip_id for c in clips]
    a = Corpus.ingest(tmp_path / "a.h5", clips)
    b = Corpus.ingest(tmp_path / "b.h5", [batch])
    assert a.checksum == b.checksum  # identical content, identical checksum


# --- reading only what is asked ---------------------------------------------------------------------

class ReadSpy:
    """Records the rows each /frames/* dataset read covers."""

    def __init__(self, monkeypatch):
        self.rows: list[tuple[str, int]] = []
        orig = h5py.Dataset.__getitem__
        spy = self

        def getitem(ds, args):
            out = orig(ds, args)
            if ds.name.startswith("/frames/"):
                spy.rows.append((ds.name, int(np.shape(out)[0]) if np.ndim(out) else 1))
            return out

        monkeypatch.setattr(h5py.Dataset, "__getitem__", getitem)


def test_slices_and_clips_read_only_their_rows(tmp_path, rng, monkeypatch):
    clips = [make_clip(rng, f"c{i}", T=500) for i in range(20)]  # 10,000 frames
    Corpus.ingest(tmp_path / "c.h5", clips)
    with Corpus.open(tmp_path / "c.h5") as c:
        spy = ReadSpy(monkeypatch)
        got = c.clip("c7")
        assert len(got) == 500
        assert spy.rows and max(n for _, n in spy.rows) <= 500
        spy.rows.clear()
        v = c.vectors(4000, 4100)
        assert v.shape == (100, 34) and spy.rows == [("/frames/vectors", 100)]
        spy.rows.clear()
        ids = [9999, 3, 5000, 3]
        fb = c.frames(ids, vectors=True)
        # the pose arrays are read chunk by chunk: the 3 chunks the ids fall in, not the 10,000 rows
        for name in ("/frames/keypoints", "/frames/confidences", "/frames/vectors"):
            got_rows = [n for d, n in spy.rows if d == name]
            assert got_rows and sum(got_rows) <= 3 * col.FRAME_CHUNK < 10_000
        monkeypatch.undo()
        np.testing.assert_array_equal(fb.keypoints, c.keypoints()[ids])
        np.testing.assert_array_equal(fb.vectors, c.vectors()[ids])
        assert list(fb.clip_id) == ["c19", "c0", "c10", "c0"]
        assert list(fb.frame) == [499, 3, 0, 3]


def test_frames_matches_brute_force(tmp_path, rng):
    clips = [make_clip(rng, f"c{i}", T=int(rng.integers(1, 300)), labels={"a": str(i % 3)}) for i in range(40)]
    Corpus.ingest(tmp_path / "c.h5", clips)
    with Corpus.open(tmp_path / "c.h5") as c:
        n = len(c)
        ids = rng.integers(0, n, 300)
        fb = c.frames(ids)
        kp_all, cf_all, ci_all = c.keypoints(), c.confidences(), c.clip_indices()
        np.testing.assert_array_equal(fb.keypoints, kp_all[ids])
        np.testing.assert_array_equal(fb.confidences, cf_all[ids])
        np.testing.assert_array_equal(fb.clip_index, ci_all[ids])
        assert [r["labels"]["a"] for r in fb.records()] == [str(i % 3) for i in ci_all[ids]]
        assert len(c.frames([])) == 0
        with pytest.raises(InvalidArgumentError, match="out of range"):
            c.frames([n])


def test_frame_labels_mixed_kinds_and_new_keys(tmp_path, rng):
    a = make_clip(rng, "a", T=3, frame_labels={"image_id": np.array([7, 8, 9]), "frame": np.array([10, 12, 14])})
    b = make_clip(rng, "b", T=2, frame_labels={"tag": np.array(["x", "y"])})
    Corpus.ingest(tmp_path / "c.h5", [a])
    Corpus.append(tmp_path / "c.h5", [b])
    with Corpus.open(tmp_path / "c.h5") as c:
        ga = c.clip("a")
        np.testing.assert_array_equal(ga.frame_labels["frame"], [10, 12, 14])
        np.testing.assert_allclose(ga.times, a.frame_times())  # times follow Clip.frame_times()
        np.testing.assert_array_equal(ga.frame_labels["image_id"], [7, 8, 9])
        assert "tag" not in ga.frame_labels
        gb = c.clip("b")
        assert list(gb.frame_labels["tag"]) == ["x", "y"] and "image_id" not in gb.frame_labels
        recs = c.frames([0, 4]).records()
        assert recs[0]["labels"] == {"image_id": 7} and recs[1]["labels"] == {"tag": "y"}
        c.verify()
    with pytest.raises(InvalidArgumentError, match="frame label 'tag' holds numbers"):
        Corpus.append(tmp_path / "c.h5", [make_clip(rng, "d", T=1, frame_labels={"tag": np.array([1])})])


def test_multi_value_frame_labels(tmp_path, rng):
    box = rng.uniform(0, 100, (3, 4))
    a = make_clip(rng, "a", T=3, frame_labels={"bbox": box})
    b = make_clip(rng, "b", T=2)
    Corpus.ingest(tmp_path / "c.h5", [a, b])
    with Corpus.open(tmp_path / "c.h5") as c:
        np.testing.assert_array_equal(c.clip("a").frame_labels["bbox"], box)
        assert "bbox" not in c.clip("b").frame_labels
        recs = c.frames([1, 3]).records()
        assert recs[0]["labels"]["bbox"] == box[1].tolist() and "bbox" not in recs[1]["labels"]
        assert c.frame_labels("bbox").shape == (5, 4)
        c.verify()
    with pytest.raises(InvalidArgumentError, match=r"frame label 'bbox' has \(2,\) values per frame"):
        Corpus.append(tmp_path / "c.h5", [make_clip(rng, "d", T=1, frame_labels={"bbox": np.zeros((1, 2))})])
    with pytest.raises(InvalidArgumentError, match="one string per frame"):
        Corpus.append(tmp_path / "c.h5", [make_clip(rng, "e", T=1, frame_labels={"t": np.array([["a", "b"]])})])


# --- append / create / API --------------------------------------------------------------------------

def test_create_empty_then_append_instance(tmp_path, rng):
    c = Corpus.create(tmp_path / "c.h5")
    assert len(c) == 0 and c.num_clips == 0 and list(c) == []
    c.verify()
    s = c.append([make_clip(rng, "a"), make_clip(rng, "b", T=2)])
    assert isinstance(s, IngestSummary) and s.frames_added == 7 and not s.created
    assert len(c) == 7 and c.num_clips == 2  # the open corpus shows the new data
    s2 = c.append([make_clip(rng, "c", T=1)])
    assert s2.total_frames == 8 and c.checksum == s2.checksum
    assert c.verify()["blocks"] == 2
    c.close()
    with pytest.raises(FileFormatError, match="already exists"):
        Corpus.create(tmp_path / "c.h5")
    assert len(Corpus.create(tmp_path / "c.h5", overwrite=True)) == 0


def test_writer_context_and_progress(tmp_path, rng):
    seen = []
    with Corpus.writer(tmp_path / "c.h5", progress=lambda s: seen.append(s.clips_added)) as w:
        w.add(make_clip(rng, "a"))
        w.add(ClipBatch.from_clips([make_clip(rng, "b"), make_clip(rng, "c")]))
        assert not (tmp_path / "c.h5").exists()  # nothing visible before commit
    assert seen == [1, 3]
    assert w.summary.clips_added == 3 and (tmp_path / "c.h5").exists()


def test_append_nothing_leaves_file_unchanged(tmp_path, rng):
    Corpus.ingest(tmp_path / "c.h5", [make_clip(rng, "a")])
    before = (tmp_path / "c.h5").read_bytes()
    s = Corpus.append(tmp_path / "c.h5", [])
    assert s.frames_added == 0 and s.total_frames == 5
    assert (tmp_path / "c.h5").read_bytes() == before


def test_duplicates_and_empty_clips(tmp_path, rng):
    Corpus.ingest(tmp_path / "c.h5", [make_clip(rng, "a")])
    with pytest.raises(InvalidArgumentError, match="'a'.*already in the corpus"):
        Corpus.append(tmp_path / "c.h5", [make_clip(rng, "b"), make_clip(rng, "a")])
    with pytest.raises(InvalidArgumentError, match="given twice"):
        Corpus.append(tmp_path / "c.h5", [make_clip(rng, "b"), make_clip(rng, "b")])
    empty = Clip("e", np.zeros((0, 17, 2)), np.zeros((0, 17)), "coco17")
    s = Corpus.append(tmp_path / "c.h5", [make_clip(rng, "a"), make_clip(rng, "b"), empty], on_duplicate="skip")
    assert (s.clips_added, s.skipped_clips) == (1, 2)
    assert s.skipped_reasons == {"duplicate clip id": 1, "empty clip (no frames)": 1}
    with Corpus.open(tmp_path / "c.h5") as c:
        assert list(c.clip_ids()) == ["a", "b"]


def test_labels_survive_and_columns(tmp_path, rng):
    clips = [make_clip(rng, "a", labels={"action": "jump", "view": "front"}),
             make_clip(rng, "b", labels={"subject": "ünïcode ✓"})]
    Corpus.ingest(tmp_path / "c.h5", clips)
    with Corpus.open(tmp_path / "c.h5") as c:
        assert c.label_keys == ["action", "subject", "view"]
        assert list(c.clip_labels("action")) == ["jump", ""]
        assert c.clip("b").labels == {"subject": "ünïcode ✓"}
        assert c.clip_info("a").labels == {"action": "jump", "view": "front"}
        with pytest.raises(UnknownNameError):
            c.clip_labels("nope")
        with pytest.raises(InvalidArgumentError, match="not in corpus"):
            c.clip("zzz")
        with pytest.raises(InvalidArgumentError, match="out of range"):
            c.clip(2)
        assert c.clip(-1).clip_id == "b"


# --- bad clips: one-line errors naming clip and file, nothing lost -----------------------------------

@pytest.mark.parametrize("mutate, match", [
    (lambda c: setattr(c, "keypoints", c.keypoints[:, :13]), r"layout coco17 expects 17 keypoints, got 13"),
    (lambda c: setattr(c, "layout", "body25"), r"layout body25 expects 25 keypoints, got 17"),
    (lambda c: c.confidences.__setitem__((1, 3), np.nan), r"frame 1, keypoint 3 \(left_ear\): NaN confidence"),
    (lambda c: c.confidences.__setitem__((0, 2), 1.5), r"confidence must be in \[0, 1\], got 1.5"),
    (lambda c: c.keypoints.__setitem__((2, 4, 0), np.inf), r"frame 2, keypoint 4 \(right_ear\): infinite"),
    (lambda c: setattr(c, "layout", "nope"), r"unknown layout"),
    (lambda c: setattr(c, "fps", -3), r"fps must be positive"),
    (lambda c: setattr(c, "labels", {"a/b": "x"}), r"label name 'a/b' is not allowed"),
    (lambda c: setattr(c, "frame_labels", {"x": np.arange(2)}), r"frame label 'x' has shape \(2,\), expected \(5, ...\)"),
])
def test_bad_clip_errors_and_nothing_lost(tmp_path, rng, mutate, match):
    path = tmp_path / "c.h5"
    Corpus.ingest(path, [make_clip(rng, "good")])
    before = Corpus.info(path)["checksum"]
    good = [make_clip(rng, f"g{i}") for i in range(3)]
    bad = make_clip(rng, "bad", source="bad_file.json")
    mutate(bad)
    with pytest.raises(PoseSearchError, match=match) as e:
        Corpus.append(path, good + [bad])
    msg = str(e.value)
    assert "\n" not in msg
    if "unknown layout" not in msg:
        assert "'bad'" in msg and "bad_file.json" in msg
    with Corpus.open(path) as c:
        assert len(c) == 5 and c.checksum == before
        c.verify()
    assert [p.name for p in tmp_path.iterdir() if "posesearch-tmp-" in p.name] == []


def test_nan_coordinates_are_missing(tmp_path, rng):
    clip = make_clip(rng, "a", missing=0)
    clip.keypoints[0, 3] = np.nan
    Corpus.ingest(tmp_path / "c.h5", [clip])
    with Corpus.open(tmp_path / "c.h5") as c:
        assert c.confidences()[0, 3] == 0 and np.isnan(c.keypoints()[0, 3]).all()


def test_errors_are_pose_search_errors(tmp_path, rng):
    with pytest.raises(InvalidArgumentError, match="expected a Clip or ClipBatch"):
        Corpus.ingest(tmp_path / "c.h5", [np.zeros(3)])
    with pytest.raises(InvalidArgumentError, match="on_duplicate"):
        Corpus.writer(tmp_path / "c.h5", on_duplicate="maybe")
    with pytest.raises(FileFormatError, match="folder .* does not exist"):
        Corpus.ingest(tmp_path / "nope" / "c.h5", [make_clip(rng, "a")])


# --- integrity ---------------------------------------------------------------------------------------

def _corpus(tmp_path, rng, n=3):
    path = tmp_path / "c.h5"
    Corpus.ingest(path, [make_clip(rng, f"c{i}", T=50, labels={"a": "x"}) for i in range(n)])
    Corpus.append(path, [make_clip(rng, "late", T=10)])
    return path


@pytest.mark.parametrize("dataset, index", [
    ("frames/keypoints", (7, 3, 1)), ("frames/confidences", (60, 2)), ("frames/vectors", (155, 0)),
    ("frames/time", (3,)), ("clips/fps", (1,)), ("clips/clip_id/data", (1,)), ("clips/labels/a/data", (0,)),
])
def test_verify_detects_a_changed_value(tmp_path, rng, dataset, index):
    path = _corpus(tmp_path, rng)
    with Corpus.open(path) as c:
        c.verify()
    with h5py.File(path, "r+") as f:
        ds = f[dataset]
        a = ds[...]
        raw = a.view(np.uint8).reshape(a.shape + (-1,)) if a.dtype.itemsize > 1 else a.reshape(a.shape + (1,))
        raw[index + (0,)] ^= 1  # flip the lowest bit of one stored value
        ds[...] = a
    with Corpus.open(path) as c:  # opening only checks the structure
        with pytest.raises(ChecksumError, match="checksum mismatch") as e:
            c.verify()
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_verify_detects_a_flipped_byte_on_disk(tmp_path, rng):
    path = _corpus(tmp_path, rng)
    with h5py.File(path, "r") as f:
        info = f["frames/keypoints"].id.get_chunk_info(0)
        offset, size = info.byte_offset, info.size
    data = bytearray(path.read_bytes())
    data[offset + size // 2] ^= 0x10
    path.write_bytes(bytes(data))
    with Corpus.open(path) as c:
        with pytest.raises(FileFormatError) as e:  # ChecksumError, or a damaged compressed chunk
            c.verify()
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_verify_detects_tampered_attributes(tmp_path, rng):
    path = _corpus(tmp_path, rng)
    with h5py.File(path, "r+") as f:
        f.attrs["checksum"] = "0" * 64
    with Corpus.open(path) as c, pytest.raises(ChecksumError, match="checksum attribute"):
        c.verify()


def test_open_checks_structure(tmp_path, rng):
    path = _corpus(tmp_path, rng)
    set_h5_attrs(path, num_frames=3)
    with pytest.raises(FileFormatError, match="damaged corpus: /frames/keypoints has 160 rows"):
        Corpus.open(path)


# --- foreign, truncated, versions ---------------------------------------------------------------------

def test_foreign_and_broken_files(tmp_path, rng):
    p = foreign_hdf5(tmp_path / "foreign.h5")
    with pytest.raises(FileFormatError, match="not a posesearch corpus .*without a 'format' attribute"):
        Corpus.open(p)
    with h5py.File(p, "a") as f:
        f.attrs["format"] = "posesearch-index"
    with pytest.raises(FileFormatError, match="its format is 'posesearch-index'"):
        Corpus.info(p)
    t = tmp_path / "text.h5"
    t.write_text("hello")
    with pytest.raises(FileFormatError, match="not a readable HDF5 file"):
        Corpus.open(t)
    good = _corpus(tmp_path, rng)
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FileFormatError) as e:
        with Corpus.open(trunc) as c:
            c.verify()
    assert "trunc.h5" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(FileFormatError, match="no such file"):
        Corpus.open(tmp_path / "missing.h5")
    with pytest.raises(FileFormatError, match="not a posesearch corpus"):
        Corpus.append(p, [make_clip(rng, "a")])


def test_versions(tmp_path, rng):
    path = _corpus(tmp_path, rng)
    set_h5_attrs(path, format_version=FORMAT_VERSION + 1)
    newer = (rf"corpus format version {FORMAT_VERSION + 1} \(written by posesearch \S+\) is newer than this "
             rf"posesearch reads \(1 to {FORMAT_VERSION}\); upgrade")
    with pytest.raises(FileFormatError, match=newer):
        Corpus.open(path)
    with pytest.raises(FileFormatError, match="newer"):
        upgrade(path)
    set_h5_attrs(path, format_version=0)
    older = (rf"corpus format version 0 \(written by posesearch \S+\) is older than this posesearch reads "
             rf"\(1 to {FORMAT_VERSION}\); convert it with posesearch.corpus.upgrade")
    with pytest.raises(FileFormatError, match=older):
        Corpus.open(path)
    with pytest.raises(FileFormatError, match="no upgrade path from corpus format 0"):
        upgrade(path)
    set_h5_attrs(path, format_version=FORMAT_VERSION)
    assert upgrade(path) is False


def test_upgrade_mechanism_runs_registered_steps(tmp_path, rng, monkeypatch):
    from posesearch.corpus import fileformat

    path = _corpus(tmp_path, rng)
    set_h5_attrs(path, format_version=0)
    calls = []
    monkeypatch.setitem(fileformat._UPGRADES, 0, lambda f: calls.append(f.attrs["format_version"]))
    assert upgrade(path) is True and calls == [0]
    with Corpus.open(path) as c:
        assert c.info()["format_version"] == FORMAT_VERSION
        c.verify()


def test_closed_corpus(tmp_path, rng):
    c = Corpus.open(_corpus(tmp_path, rng))
    c.close()
    for use in (lambda: c.vectors(0, 3), lambda: len(c), lambda: c.checksum, lambda: c.clip(0), lambda: c.info()):
        with pytest.raises(FileFormatError, match="corpus is closed"):
            use()
    assert "closed" in repr(c)


def test_json_attrs_are_json(tmp_path, rng):
    path = _corpus(tmp_path, rng)
    with h5py.File(path, "r") as f:
        assert json.loads(f.attrs["normalization"]) == DEFAULT_NORMALIZATION.to_dict()
        assert json.loads(f.attrs["joints"])[0] == "nose"


def test_frame_numbers_and_times_columns(tmp_path):
    """Bulk accessors of the per-frame columns agree with the per-frame records."""
    import numpy as np

    from posesearch.corpus.clip import Clip
    from posesearch.corpus.store import Corpus

    rng = np.random.default_rng(4)
    clips = [Clip(clip_id=f"c{i}", keypoints=rng.uniform(0, 100, (5, 17, 2)).astype(np.float32),
                  confidences=np.ones((5, 17), np.float32), layout="coco17", fps=10.0 * (i + 1),
                  frame_labels={"frame": np.arange(5) + 3 * i}) for i in range(2)]
    path = tmp_path / "c.h5"
    Corpus.ingest(path, clips)
    with Corpus.open(path) as c:
        np.testing.assert_array_equal(c.frame_numbers(), [0, 1, 2, 3, 4, 3, 4, 5, 6, 7])
        np.testing.assert_allclose(c.times(), np.r_[np.arange(5) / 10.0, np.arange(5) / 20.0])  # index / fps
        np.testing.assert_array_equal(c.frame_numbers(6, 8), [4, 5])
