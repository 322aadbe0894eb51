"""``build`` and ``info`` trust nothing (issue 15: trust 1, 4, 7 and item 6): backend parameters are bounded,
backend_params must be a JSON object, a corpus is verified (checksum, attributes, every stored vector)
before it is indexed, approximate indexes carry their measured recall, and ``info`` never shows a
traceback or ``?``."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from index_testdata import coco_clips, corpus_fixtures, make_corpus
from posesearch.cli.app import app
from posesearch.corpus import Corpus
from posesearch.errors import ChecksumError, FileFormatError, InvalidArgumentError, PoseSearchError
from posesearch.index import Index
from posesearch.index.fileformat import read_index_file, write_index_file

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    text = (result.stderr if result.stderr_bytes is not None else result.output).strip()
    assert "Traceback" not in result.output and len(text.splitlines()) == 1, text
    return text


poses, corpus = corpus_fixtures(11, 400)


# --- trust 1: parameters bounded to what the libraries support ---------------------------------------------

@pytest.mark.parametrize("backend,params", [
    ("faiss", {"M": 1}), ("faiss", {"M": 100000}), ("faiss", {"M": 0}), ("faiss", {"ef_construction": 0}),
    ("faiss", {"ef_construction": 10**6}), ("faiss", {"ef_search": -1}), ("faiss", {"ef_search": 10**7}),
    ("faiss", {"nlist": 1 << 21}), ("faiss", {"nprobe": 1 << 21}), ("faiss", {"candidates": 1 << 21}),
    ("faiss", {"seed": 2**31}), ("faiss", {"seed": -1}), ("faiss", {"face_weight": True}), ("faiss", {"M": "32"}),
    ("faiss", {"face_weight": "0.5"}),
    ("faiss", {"M": True}), ("vptree", {"leaf_size": 0}), ("vptree", {"leaf_size": 1 << 21}),
    ("vptree", {"seed": 2**63}), ("vptree-pypi", {"max_frames": 10**9}),
])
def test_backend_parameters_out_of_bounds_are_refused(backend, params):
    vectors = np.eye(34, dtype=np.float32)[:8] + 0.1
    with pytest.raises(InvalidArgumentError, match=f"parameter {next(iter(params))}: expected"):
        Index.build(vectors, backend=backend, **params)


@pytest.mark.parametrize("args", [["--faiss-m", "1"], ["--faiss-m", "100000"], ["--ef-construction", "0"],
                                  ["--ef-search", "99999999"], ["--param", "seed=99999999999"]])
def test_build_cli_bounds_are_one_line_errors(tmp_path, corpus, args):
    text = one_line_error(run("build", corpus, "--backend", "faiss", "--out", tmp_path / "i.h5", *args))
    assert "expected an integer in [" in text
    assert not (tmp_path / "i.h5").exists()


def test_smallest_and_largest_faiss_m_build(poses):
    """The bounds are usable: M = 2 (the smallest FAISS's HNSW accepts) builds and answers."""
    from index_testdata import vectors_of

    v = vectors_of(*poses)
    idx = Index.build(v, backend="faiss", M=2, ef_construction=16)
    assert idx.search_vectors(v[:3], 5).ids.shape == (3, 5)


@pytest.mark.parametrize("stored", ["{not json", "[[[[[[[[", json.dumps([1, 2]), json.dumps("text"), "[" * 100000])
def test_non_json_backend_params_in_an_index_file(tmp_path, stored):
    path = Index.build(np.eye(34, dtype=np.float32)[:6] + 0.1, backend="vptree").save(tmp_path / "i.h5")
    attrs, arrays = read_index_file(path)
    attrs = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in attrs.items()
             if k not in ("format", "format_version", "checksum")}
    attrs["backend_params"] = stored
    write_index_file(path, attrs, arrays)          # a valid checksum over the damaged attribute
    with pytest.raises(FileFormatError, match="backend_params"):
        Index.load(path)
    text = one_line_error(run("info", path))
    assert "backend_params" in text
    one_line_error(run("query", path, tmp_path / "none.json"))


def test_parse_params_needs_a_mapping():
    from posesearch.index.backend import parse_params
    from posesearch.index.vptree import VPTreeParams

    with pytest.raises(InvalidArgumentError, match="expected a JSON object"):
        parse_params(VPTreeParams, "vptree", [1, 2])


# --- trust 4: build verifies the corpus ---------------------------------------------------------------------

def _tampered_corpus(path, poses, monkeypatch, how: str):
    """A corpus whose checksum is valid but whose stored vectors (or flags) are not its keypoints'."""
    from posesearch.corpus import writer

    real = writer.normalize_batch

    def bad(kp, cf, **kw):
        vec, valid = real(kp, cf, **kw)
        vec, valid = vec.copy(), valid.copy()
        if how == "nan":
            vec[3] = np.nan
        elif how == "huge":
            vec[3] *= 1e6
        elif how == "shifted":
            vec[3] += 0.25
        elif how == "valid-flipped":
            valid[3] = False
            vec[3] = 0
        elif how == "invalid-flagged-valid":
            kp[4] = 0          # not normalizable ...
            valid[4] = True    # ... but flagged valid, with a unit vector
            vec[4] = vec[5]
        return vec, valid

    monkeypatch.setattr(writer, "normalize_batch", bad)
    make_corpus(path, coco_clips(*poses))
    monkeypatch.setattr(writer, "normalize_batch", real)
    return path


@pytest.mark.parametrize("how", ["nan", "huge", "shifted", "valid-flipped", "invalid-flagged-valid"])
def test_build_refuses_a_corpus_with_bad_vectors(tmp_path, poses, monkeypatch, how):
    path = _tampered_corpus(tmp_path / "bad.h5", poses, monkeypatch, how)
    with Corpus.open(path) as c:
        with pytest.raises(ChecksumError, match="frame [34]"):
            c.verify()
    with pytest.raises(ChecksumError, match="damaged corpus: frame [34]"):
        Index.build(path, backend="exact")
    text = one_line_error(run("build", path, "--backend", "exact", "--out", tmp_path / "i.h5"))
    assert "re-ingest" in text and not (tmp_path / "i.h5").exists()
    one_line_error(run("info", path, "--verify"))


def test_nan_vectors_no_longer_give_wrong_neighbours(tmp_path, poses, monkeypatch):
    """Unverified, a NaN row made --backend exact answer wrongly; verified, the build is refused."""
    path = _tampered_corpus(tmp_path / "nan.h5", poses, monkeypatch, "nan")
    with pytest.raises(PoseSearchError):
        Index.build(path, backend="exact")
    Index.build(path, backend="exact", verify=False)   # the escape hatch still exists for the library


def test_build_refuses_a_corpus_failing_its_checksum(tmp_path, corpus):
    with h5py.File(corpus, "r+") as f:
        f["frames/time"][7] = 123.0
    text = one_line_error(run("build", corpus, "--backend", "vptree", "--out", tmp_path / "i.h5"))
    assert "checksum mismatch" in text
    one_line_error(run("info", corpus, "--verify"))


def test_build_checks_the_normalization_attribute(tmp_path, corpus):
    with h5py.File(corpus, "r+") as f:
        f.attrs["normalization"] = json.dumps({"method": "other", "fill_missing": "zero", "min_present": 3})
    with Corpus.open(corpus) as c:
        assert c.normalization == {"method": "other", "fill_missing": "zero", "min_present": 3}
    with pytest.raises(InvalidArgumentError, match="normalization"):
        Index.build(corpus, backend="exact", verify=False)
    one_line_error(run("build", corpus, "--backend", "exact", "--out", tmp_path / "i.h5"))


def test_good_corpus_verifies_and_builds(tmp_path, corpus):
    with Corpus.open(corpus) as c:
        assert c.verify()["valid"] == len(c) == 400
    assert run("build", corpus, "--backend", "exact", "--out", tmp_path / "i.h5").exit_code == 0


# --- trust 7: info on damaged attributes ---------------------------------------------------------------------

def test_info_on_damaged_attributes(tmp_path, corpus):
    bad_type = tmp_path / "t.h5"
    with h5py.File(bad_type, "w") as f:
        f.attrs["format"] = "posesearch-corpus"
        f.attrs["format_version"] = 1
        h5py.h5a.create(f.id, b"num_frames", h5py.h5t.UNIX_D32LE, h5py.h5s.create(h5py.h5s.SCALAR))
    assert "cannot read its attributes" in one_line_error(run("info", bad_type))
    with h5py.File(corpus, "r+") as f:
        f.attrs["num_frames"] = "abc"
        f.attrs["num_valid"] = "x"
    assert "num_frames" in one_line_error(run("info", corpus))
    with h5py.File(corpus, "r+") as f:
        f.attrs["num_frames"] = 400
        f.attrs["format_version"] = 1.5
    assert "format_version" in one_line_error(run("info", corpus))
    with pytest.raises(FileFormatError):
        Corpus.open(corpus)


# --- item 6: info of an index --------------------------------------------------------------------------------

def test_faiss_index_info_shows_search_settings_and_build_recall(tmp_path, corpus):
    out = tmp_path / "f.h5"
    assert run("build", corpus, "--backend", "faiss", "--out", out).exit_code == 0
    r = run("info", out, "--json")
    info = json.loads(r.stdout)
    assert info["search"]["ef_search"].startswith("auto: 128 for a query missing joints, 64")
    rec = info["recall"]
    assert rec["measured"] and rec["k"] == 10 and 0.5 < rec["recall"] <= 1.0 and rec["queries"] > 200
    human = run("info", out, "--verify")
    assert human.exit_code == 0
    assert "recall@10" in human.stdout and "search ef_search" in human.stdout
    assert "?" not in human.stdout and "dataset(s)" in human.stdout
    r = run("build", corpus, "--backend", "faiss", "--faiss-kind", "ivf", "--nprobe", "4", "--out", tmp_path / "v.h5")
    assert r.exit_code == 0, r.output
    info = json.loads(run("info", tmp_path / "v.h5", "--json").stdout)
    assert info["search"]["nprobe"].startswith("4 cells") and info["recall"]["measured"]
    assert run("build", corpus, "--backend", "vptree", "--out", tmp_path / "e.h5").exit_code == 0
    assert json.loads(run("info", tmp_path / "e.h5", "--json").stdout)["recall"] == {"exact": True}


def test_info_verify_of_a_corpus_names_what_was_checked(corpus):
    r = run("info", corpus, "--verify")
    assert r.exit_code == 0 and "?" not in r.stdout and "append block" in r.stdout
    assert "400 valid vectors re-derived from their keypoints" in " ".join(r.stdout.split())   # table wraps


def test_build_recall_counts_distinct_true_neighbours(poses):
    """A backend that returns the nearest row k times scores 1/k, not 1 (ids count, not distances)."""
    from index_testdata import vectors_of
    from posesearch.index.index import measure_build_recall

    v = vectors_of(*poses)
    idx = Index.build(v, backend="faiss", kind="flat", metric="cosine")
    assert measure_build_recall(idx)["build_recall_at_10"] == 1.0
    real = idx.backend.knn

    def repeat_first(q, w, k):
        rows, d = real(q, w, k)
        return np.repeat(rows[:, :1], k, axis=1), np.repeat(d[:, :1], k, axis=1)

    idx.backend.knn = repeat_first
    assert measure_build_recall(idx)["build_recall_at_10"] == pytest.approx(0.1)


def test_faiss_build_progress_moves(monkeypatch, poses):
    from index_testdata import vectors_of
    from posesearch.index import faiss_backend

    monkeypatch.setattr(faiss_backend, "HNSW_PROGRESS_POLL", 0.002)
    v = np.concatenate([vectors_of(*poses)] * 10)
    v = v + np.random.default_rng(0).normal(0, 0.01, v.shape).astype(np.float32)
    seen: list[tuple[int, int]] = []
    Index.build(v, backend="faiss", ef_construction=400, progress=lambda d, t: seen.append((d, t)),
                measure_recall=False)
    n = len(v)
    assert seen[0] == (0, n) and seen[-1] == (n, n)
    assert any(0 < d < n for d, _ in seen), seen      # it moved between 0% and 100%
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_append_to_a_corpus_with_damaged_attributes(tmp_path, corpus, poses):
    import os

    with h5py.File(corpus, "r+") as f:
        f.attrs["source_layouts"] = "{not json"
    before = corpus.read_bytes()
    with pytest.raises(FileFormatError, match="damaged corpus"):
        Corpus.append(corpus, coco_clips(*poses, prefix="more"))
    assert corpus.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.h5"]     # its temporary and lock were removed


def test_build_reports_the_measured_recall(tmp_path, corpus):
    r = run("build", corpus, "--backend", "faiss", "--faiss-kind", "ivf", "--nlist", "4", "--out", tmp_path / "a.h5",
            "--json")
    summary = json.loads(r.stdout)
    assert 0.5 < summary["build_recall_at_10"] <= 1.0 and summary["build_recall_queries"] > 200
    r = run("build", corpus, "--backend", "faiss", "--faiss-kind", "ivf", "--nlist", "4", "--out", tmp_path / "b.h5")
    assert r.exit_code == 0 and "recall@10 " in r.stdout
    r = run("build", corpus, "--backend", "exact", "--out", tmp_path / "e.h5", "--json")
    assert "build_recall_at_10" not in json.loads(r.stdout)      # exact: nothing to measure


def test_info_of_an_index_without_measured_recall_says_so(tmp_path, poses):
    from index_testdata import vectors_of

    path = Index.build(vectors_of(*poses), backend="faiss", measure_recall=False).save(tmp_path / "old.h5")
    info = json.loads(run("info", path, "--json").stdout)
    assert info["recall"] == {"exact": False, "measured": False}
    r = run("info", path)
    assert "not measured" in r.stdout and "?" not in r.stdout


def test_attribute_name_that_is_not_text(tmp_path, corpus, poses):
    """A flipped bit in an attribute name (found by a byte-flip fuzz run) made `info` sort bytes with str."""
    from index_testdata import vectors_of

    index = Index.build(vectors_of(*poses), backend="exact").save(tmp_path / "i.h5")
    for path in (corpus, index):
        with h5py.File(path, "r+") as f:
            h5py.h5a.create(f.id, b"corpus_pa\xf4h", h5py.h5t.STD_I64LE, h5py.h5s.create(h5py.h5s.SCALAR))
        assert "not text" in one_line_error(run("info", path))
    with pytest.raises(FileFormatError, match="not text"):
        Index.metadata(index)
    with pytest.raises(FileFormatError, match="not text"):
        Corpus.info(corpus)


def test_append_to_a_corpus_with_a_damaged_chunk(tmp_path, corpus, poses):
    """A byte-flip run made 81 of 120 appends to damaged corpora end in an h5py OSError traceback."""
    import os

    with h5py.File(corpus, "r") as f:
        ds = f["frames/keypoints"]
        info = ds.id.get_chunk_info(ds.id.get_num_chunks() - 1)   # the partly filled chunk an append extends
    with open(corpus, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(b"\xff" * 8)
    before = corpus.read_bytes()
    with pytest.raises(FileFormatError, match="cannot append: the corpus's existing data are damaged"):
        Corpus.append(corpus, coco_clips(*poses, prefix="more"))
    src = tmp_path / "seq.json"
    frames = [[[float(10 + j), float(20 + 2 * j), 1.0] for j in range(17)]] * 3
    src.write_text(json.dumps({"layout": "coco17", "fps": 30, "frames": frames}))
    text = one_line_error(run("ingest", src, "--format", "sequence", "--out", corpus, "--append"))
    assert "info --verify" in text
    assert corpus.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.h5", "seq.json"]
