"""`posesearch ingest` and `posesearch info`: summaries, JSON, exit codes, one-line errors."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.cli import ingest as ingest_cli
from posesearch.corpus import Corpus
from tests.conftest import shared_path

runner = CliRunner()


def seq_files(tmp_path, n=2, T=5):
    rng = np.random.default_rng(1)
    d = tmp_path / "seqs"
    d.mkdir(exist_ok=True)
    for i in range(n):
        frames = rng.uniform(0, 100, (T, 17, 3))
        frames[..., 2] = 1
        (d / f"s{i}.json").write_text(json.dumps({"fps": 30, "layout": "coco17", "frames": frames.tolist()}))
    return d


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def error_line(r):
    text = (r.stderr if hasattr(r, "stderr") and r.stderr else r.output).strip()
    assert len(text.splitlines()) == 1, text
    assert text.startswith("error: ")
    return text


def test_ingest_append_info(tmp_path):
    d = seq_files(tmp_path)
    out = tmp_path / "c.h5"
    r = run("ingest", d, "-f", "sequence", "-o", out)
    assert r.exit_code == 0, r.output
    assert "created" in r.stdout and "added 10 frames in 2 clips" in r.stdout and "on disk" in r.stdout
    r = run("ingest", d, "-f", "sequence", "-o", out)
    assert r.exit_code == 2 and "already exists" in error_line(r)
    r = run("ingest", d, "-f", "sequence", "-o", out, "--append", "--prefix", "again", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert (s["frames_added"], s["clips_added"], s["total_frames"], s["created"]) == (10, 2, 20, False)
    assert s["format"] == "sequence"
    r = run("ingest", d, "-f", "sequence", "-o", out, "--append", "--json")
    assert r.exit_code == 2 and "already in the corpus" in error_line(r)
    r = run("ingest", d, "-f", "sequence", "-o", out, "--append", "--skip-duplicates", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["skipped_clips"] == 2
    r = run("info", out, "--json")
    assert r.exit_code == 0
    info = json.loads(r.stdout)
    assert info["format"] == "posesearch-corpus" and info["num_frames"] == 20 and info["num_clips"] == 4
    assert info["checksum"] == Corpus.info(out)["checksum"]
    r = run("info", out, "--verify")
    assert r.exit_code == 0 and "verified" in r.stdout and "posesearch-corpus" in r.stdout
    r = run("info", out, "--verify", "--json")
    assert json.loads(r.stdout)["verified"]["blocks"] == 2
    r = run("ingest", d, "-f", "sequence", "-o", out, "--overwrite", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total_frames"] == 10 and json.loads(r.stdout)["created"]
    r = run("ingest", d, "-f", "sequence", "-o", out, "--overwrite")
    assert r.exit_code == 0 and r.stdout.startswith(f"replaced {out}: added 10 frames")


def test_info_detects_corruption(tmp_path):
    out = tmp_path / "c.h5"
    assert run("ingest", seq_files(tmp_path), "-f", "sequence", "-o", out).exit_code == 0
    with h5py.File(out, "r+") as f:
        f["frames/keypoints"][0, 0, 0] += 1
    assert run("info", out).exit_code == 0  # attributes only
    r = run("info", out, "--verify")
    assert r.exit_code == 2 and "checksum mismatch" in error_line(r)


@pytest.mark.parametrize("args, match", [
    (["ingest", "{d}", "-f", "nope", "-o", "{o}"], "unknown format 'nope'"),
    (["ingest", "{d}", "-f", "coco", "-o", "{o}", "--views", "0,45"], "option --views does not apply to format 'coco'"),
    (["ingest", "{d}", "-f", "bvh", "-o", "{o}", "--views", "0,x"], "--views: expected comma-separated numbers"),
    (["ingest", "{d}", "-f", "sequence", "-o", "{o}", "-O", "nokey"], "--option: expected KEY=VALUE"),
    (["ingest", "{d}", "-f", "sequence", "-o", "{o}", "--append", "--overwrite"], "exclude each other"),
    (["ingest", "{d}/missing.json", "-f", "sequence", "-o", "{o}"], "missing.json: no such file"),
    (["ingest", "{d}", "-f", "coco", "-o", "{o}"], "not a COCO annotation file"),
    (["ingest", "{d}", "-f", "sequence", "-o", "{t}/no/dir/c.h5"], "does not exist"),
    (["info", "{t}/nothing.h5"], "no such file"),
    (["info", "{d}/s0.json"], "not a readable HDF5 file"),
    (["info", "{t}/foreign.h5"], "not a posesearch file"),
    (["info", "{t}/other.h5"], "unknown file format 'something-else'"),
])
def test_errors_one_line_exit_2(tmp_path, args, match):
    d = seq_files(tmp_path)
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = [1]
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    args = [a.format(d=d, o=tmp_path / "c.h5", t=tmp_path) for a in args]
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert match in error_line(r)
    assert not (tmp_path / "c.h5").exists()


def test_reader_options_pass_through(tmp_path):
    path = tmp_path / "person_keypoints_x.json"
    k = [0] * 51
    k[0:3], k[15:18] = [1, 2, 1], [5, 9, 2]
    path.write_text(json.dumps({"annotations": [{"id": 1, "image_id": 3, "keypoints": k}]}))
    r = run("ingest", path, "-f", "coco", "-o", tmp_path / "c.h5", "-O", "occluded=0.25", "--prefix", "p")
    assert r.exit_code == 0, r.output
    with Corpus.open(tmp_path / "c.h5") as c:
        assert c.clip("p:ann:1").confidences[0, 0] == 0.25


def test_info_dispatch_to_other_formats(tmp_path, monkeypatch):
    p = tmp_path / "idx.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "posesearch-test"
        f.attrs["count"] = 3
    monkeypatch.setitem(ingest_cli.INFO_DESCRIBERS, "posesearch-test", "posesearch.nonexistent_module:describe")
    r = run("info", p, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["count"] == 3  # generic: the attributes


def test_real_coco_val(tmp_path):
    src = shared_path("coco", "person_keypoints_val2017.json")
    r = run("ingest", src, "-f", "coco", "-o", tmp_path / "val.h5", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["clips_added"] == 6352 and s["frames_added"] == 6352 and s["size_bytes"] > 0


@pytest.mark.slow
def test_real_yolo_train(tmp_path):
    src = shared_path("coco", "train2017_yolo_kpts.npz")
    r = run("ingest", src, "-f", "yolo-npz", "-o", tmp_path / "train.h5", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["clips_added"] == 149813
    r = run("info", tmp_path / "train.h5", "--verify", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["num_frames"] == 149813
