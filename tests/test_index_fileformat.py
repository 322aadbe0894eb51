"""The index file: round trips, metadata, corruption, truncation, foreign files, versions, corpus checks."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import foreign_hdf5
from index_testdata import backend_settings, coco_clips, flip_byte, make_corpus, random_poses, random_weights, vectors_of
from posesearch.errors import ChecksumError, FileFormatError, InvalidArgumentError
from posesearch.index import Index
from posesearch.index.fileformat import FORMAT_VERSION, describe, read_index_attrs

ALL = backend_settings()   # every registered backend, with its TEST_PARAMS


@pytest.fixture(scope="module")
def poses():
    rng = np.random.default_rng(99)
    kp, cf = random_poses(rng, 600)
    return kp, cf, vectors_of(kp, cf)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory, poses):
    kp, cf, _ = poses
    return make_corpus(tmp_path_factory.mktemp("corpus") / "synth.h5", coco_clips(kp, cf))


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
@pytest.mark.parametrize("backend,params", ALL)
def test_save_load_search_identical(tmp_path, poses, backend, params, metric):
    _, _, v = poses
    rng = np.random.default_rng(5)
    q, w = v[rng.choice(len(v), 20)].astype(np.float64) + rng.normal(0, 0.01, (20, 34)), random_weights(rng, 20)
    idx = Index.build(v, metric=metric, backend=backend, **params)
    before = idx.search_vectors(q, 7, weights=w)
    path = idx.save(tmp_path / "i.h5")
    back = Index.load(path)
    after = back.search_vectors(q, 7, weights=w)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.distances, after.distances)
    assert back.backend_name == idx.backend_name and back.params == idx.params and back.metric == metric
    assert not [p for p in tmp_path.iterdir() if "posesearch-tmp-" in p.name]   # no temporaries left behind


def test_metadata_reads_attributes_only(tmp_path, corpus_file):
    idx = Index.build(corpus_file, metric="cosine", backend="vptree", leaf_size=32)
    path = idx.save(tmp_path / "m.h5")
    meta = Index.metadata(path)
    for key in ("format", "format_version", "backend", "backend_params", "metric", "normalization", "layout",
                "dimension", "count", "corpus_path", "corpus_checksum", "created_by", "created", "checksum"):
        assert key in meta, key
    assert meta["format"] == "posesearch-index" and meta["format_version"] == FORMAT_VERSION
    assert meta["backend"] == "vptree"
    assert meta["backend_params"] == {"leaf_size": 32, "seed": 0, "split_weights": "uniform", "face_free_tree": True}
    assert meta["count"] == 600 and meta["dimension"] == 34 and meta["layout"] == "coco17"
    assert meta["corpus_path"] == str(corpus_file.resolve())
    assert meta["normalization"]["method"] == "bbox-l2"
    assert meta["file_size"] == path.stat().st_size
    d = describe(path, verify=True)
    assert d["verified"]["datasets"] >= 3 and d["backend"] == "vptree"


@pytest.mark.parametrize("backend,params,dataset", [
    ("faiss", {"kind": "hnsw"}, "backend/hnsw_neighbors"),
    ("faiss", {"kind": "ivf", "nlist": 8}, "backend/faiss_index"),
    ("vptree", {}, "backend/shell_lo"),
    ("vptree", {}, "backend/perm"),
    ("vptree", {}, "backend/face_free_shell_lo"),
    ("exact", {}, "vectors"),
    ("vptree-pypi", {}, "backend/tree_bounds"),
])
def test_flipped_byte_is_a_checksum_error(tmp_path, poses, monkeypatch, backend, params, dataset):
    import faiss

    idx = Index.build(poses[2], metric="weighted", backend=backend, **params)
    path = idx.save(tmp_path / "c.h5")
    flip_byte(path, dataset)
    called = []
    monkeypatch.setattr(faiss, "deserialize_index", lambda *a: called.append(1))
    with pytest.raises(ChecksumError, match="checksum mismatch .* corrupted or was modified"):
        Index.load(path)
    assert not called            # verified before any byte reached FAISS
    Index.metadata(path)         # attributes are still readable


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02])
def test_truncated_file(tmp_path, poses, keep):
    path = Index.build(poses[2], backend="faiss", kind="hnsw").save(tmp_path / "t.h5")
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(FileFormatError, match="truncated"):
        Index.load(path)
    with pytest.raises(FileFormatError):
        Index.metadata(path)


def test_not_hdf5_and_empty(tmp_path):
    text, empty = tmp_path / "x.h5", tmp_path / "empty.h5"
    text.write_text("hello, not an index")
    empty.write_bytes(b"")
    for path, match in [(text, "not an HDF5 file"), (empty, "not an HDF5 file"),
                        (tmp_path / "missing.h5", "no such file"), (tmp_path, "is a folder")]:
        with pytest.raises(FileFormatError, match=match):
            Index.load(path)


def test_foreign_hdf5(tmp_path, corpus_file):
    p = foreign_hdf5(tmp_path / "foreign.h5")
    for read, path, match in [(Index.load, p, "not a posesearch index .*without a 'format' attribute"),
                              (Index.load, corpus_file, "its format is 'posesearch-corpus'.*posesearch build"),
                              (Index.metadata, corpus_file, "its format is 'posesearch-corpus'")]:
        with pytest.raises(FileFormatError, match=match):
            read(path)


@pytest.mark.parametrize("version,message", [
    (FORMAT_VERSION + 1, "newer than this posesearch reads.*upgrade posesearch"),
    (0, "older than this posesearch reads.*rebuild it")])
def test_other_format_version(tmp_path, poses, version, message):
    path = Index.build(poses[2], backend="exact").save(tmp_path / "v.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = version
    with pytest.raises(FileFormatError, match=message):
        Index.load(path)
    assert Index.metadata(path)["format_version"] == version   # metadata still describes it


def test_modified_attribute_is_detected(tmp_path, poses):
    path = Index.build(poses[2], backend="exact", metric="weighted").save(tmp_path / "a.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["metric"] = "cosine"
    with pytest.raises(ChecksumError):
        Index.load(path)


def test_corpus_checksum_is_enforced(tmp_path, poses, corpus_file):
    idx = Index.build(corpus_file, metric="weighted", backend="exact")
    path = idx.save(tmp_path / "k.h5")
    kp, cf, _ = poses
    other = make_corpus(tmp_path / "other.h5", coco_clips(kp[:300], cf[:300], prefix="other"))
    with pytest.raises(ChecksumError, match="does not match the one the index was built from"):
        Index.load(path, corpus=other)
    ok = Index.load(path, corpus=corpus_file)
    m = ok.search_vectors(poses[2][7].astype(np.float64), 2)
    assert m.clip_ids[0, 0] == "synth:7" and m.labels[0][0]["row"] == "7" and m.frames[0, 0] == 0
    assert Index.load(path).resolve_corpus_path() == corpus_file.resolve()
    bare = Index.build(poses[2], backend="exact").save(tmp_path / "bare.h5")
    with pytest.raises(InvalidArgumentError, match="built from bare vectors"):
        Index.load(bare, corpus=corpus_file)


def test_corpus_relative_path_survives_a_move(tmp_path, poses):
    kp, cf, _ = poses
    d1 = tmp_path / "proj"
    (d1 / "indexes").mkdir(parents=True)
    c = make_corpus(d1 / "c.h5", coco_clips(kp[:50], cf[:50]))
    Index.build(c, backend="exact").save(d1 / "indexes" / "c.h5")
    moved = tmp_path / "moved"
    d1.rename(moved)
    idx = Index.load(moved / "indexes" / "c.h5")
    assert idx.resolve_corpus_path() == moved / "c.h5"


def test_save_into_missing_folder(tmp_path, poses):
    """Index.save creates a missing folder like `posesearch build` (issue 15.2); a file in the way is an error."""
    idx = Index.build(poses[2][:20], backend="exact")
    path = idx.save(tmp_path / "nope" / "x.h5")
    assert len(Index.load(path)) == 20
    (tmp_path / "file").write_text("")
    with pytest.raises(FileFormatError, match="cannot create its folder"):
        idx.save(tmp_path / "file" / "x.h5")


def test_read_attrs_of_a_damaged_json_attribute(tmp_path, poses):
    path = Index.build(poses[2][:20], backend="exact").save(tmp_path / "j.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["backend_params"] = "{not json"
    with pytest.raises(FileFormatError, match="not valid JSON"):
        read_index_attrs(path)
