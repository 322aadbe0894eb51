"""``posesearch build`` and ``posesearch query`` through typer's CliRunner: exit codes and messages."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from index_testdata import coco_clips, make_corpus, random_poses
from posesearch.cli.app import app
from posesearch.corpus.clip import Clip

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def err(result) -> str:
    return result.stderr if result.stderr_bytes is not None else result.output


@pytest.fixture(scope="module")
def poses():
    rng = np.random.default_rng(77)
    return random_poses(rng, 300)


@pytest.fixture()
def corpus(tmp_path, poses):
    kp, cf = poses
    clips = coco_clips(kp[:250], cf[:250])
    clips.append(Clip("walk", kp[250:].astype(np.float32), cf[250:].astype(np.float32), "coco17", fps=25.0,
                      labels={"action": "walk"}))
    return make_corpus(tmp_path / "c.h5", clips)


def pose_file(path, kp, cf):
    path.write_text(json.dumps({"layout": "coco17", "keypoints": [[float(x), float(y), float(c)]
                                                                   for (x, y), c in zip(kp, cf)]}))
    return path


def test_build_summary_and_default_output(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("build", corpus, "--backend", "exact")
    assert r.exit_code == 0, r.output
    assert "built indexes/c-exact-weighted.h5" in r.stdout and "300 frames" in r.stdout and "on disk" in r.stdout
    assert (tmp_path / "indexes" / "c-exact-weighted.h5").exists()
    r = run("build", corpus, "--backend", "exact")
    assert r.exit_code == 2 and "already exists; pass --overwrite" in err(r)
    assert run("build", corpus, "--backend", "exact", "--overwrite").exit_code == 0


def test_build_json_with_backend_options(tmp_path, corpus):
    out = tmp_path / "v.h5"
    r = run("build", corpus, "--backend", "vptree", "--metric", "cosine", "--leaf-size", "16", "--out", out, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["backend"] == "vptree" and d["metric"] == "cosine"
    assert d["params"] == {"leaf_size": 16, "seed": 0, "split_weights": "uniform", "face_free_tree": True}
    assert d["frames_indexed"] == 300 and d["size_bytes"] == out.stat().st_size and d["exact"] is True
    r = run("build", corpus, "--backend", "faiss", "--faiss-kind", "ivf", "--nlist", "4", "--out", tmp_path / "f.h5",
            "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["params"]["kind"] == "ivf"


@pytest.mark.parametrize("args,message", [
    (["--backend", "faiss", "--leaf-size", "8"], "option --leaf-size does not apply to backend 'faiss'"),
    (["--backend", "annoy"], "--backend: unknown backend 'annoy'"),
    (["--metric", "euclid"], "--metric: unknown metric 'euclid'"),
    (["--backend", "faiss", "--faiss-kind", "lsh"], "--faiss-kind: unknown faiss index kind 'lsh'"),
    (["--backend", "vptree", "--leaf-size", "0"], "leaf_size: expected an integer in [1, 1048576], got 0"),
    (["--backend", "vptree-pypi", "--max-frames", "10"], "exceed its max_frames"),
    (["--param", "nonsense"], "--param: expected KEY=VALUE"),
])
def test_build_errors(tmp_path, corpus, args, message):
    r = run("build", corpus, "--out", tmp_path / "x.h5", *args)
    assert r.exit_code == 2, r.output
    assert message in err(r) and err(r).count("\n") == 1 and "Traceback" not in r.output


def test_build_bad_corpus(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("nope")
    r = run("build", bad, "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "bad.h5" in err(r)
    r = run("build", tmp_path / "missing.h5", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "no such file" in err(r)


@pytest.fixture()
def built(tmp_path, corpus):
    out = tmp_path / "idx.h5"
    assert run("build", corpus, "--backend", "vptree", "--out", out).exit_code == 0
    return out


def test_query_table_and_json(tmp_path, built, poses):
    kp, cf = poses
    q = pose_file(tmp_path / "q.json", kp[260], cf[260])
    r = run("query", built, q, "-k", "3")
    assert r.exit_code == 0, r.output
    assert "walk" in r.stdout and "action=walk" in r.stdout and "0.000000" in r.stdout
    r = run("query", built, q, "-k", "3", "--json")
    d = json.loads(r.stdout)
    top = d["results"][0]["matches"][0]
    assert top["id"] == 260 and top["clip"] == "walk" and top["frame"] == 10 and top["time"] == pytest.approx(0.4)
    assert top["distance"] < 1e-6 and top["labels"] == {"action": "walk"} and d["k"] == 3


def test_query_mirror(tmp_path, built, poses):
    from posesearch.poses.mirror import mirror

    kp, cf = poses
    mk, mc = mirror(kp[7], cf[7], "coco17")
    q = pose_file(tmp_path / "m.json", mk, mc)
    r = run("query", built, q, "-k", "2", "--mirror", "--json")
    assert r.exit_code == 0, r.output
    top = json.loads(r.stdout)["results"][0]["matches"][0]
    assert top["id"] == 7 and top["mirrored"] is True and top["distance"] < 1e-6
    r = run("query", built, q, "-k", "2", "--mirror")
    assert "mirror" in r.stdout and "yes" in r.stdout


def test_query_sequence_file(tmp_path, built, poses):
    kp, cf = poses
    seq = np.concatenate([kp[250:254], cf[250:254, :, None]], axis=2)
    path = tmp_path / "s.npy"
    np.save(path, seq)
    r = run("query", built, path, "-k", "1", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)["results"]
    assert [q["matches"][0]["id"] for q in res] == [250, 251, 252, 253]
    r = run("query", built, path, "-k", "2")
    assert r.exit_code == 0 and "query" in r.stdout


def test_query_other_layout(tmp_path, built, poses):
    from posesearch.poses.layouts import BODY25

    kp, cf = poses
    body = np.zeros((25, 3))
    for coco_i, j in enumerate(BODY25.to_coco):
        if j >= 0:
            body[j] = [kp[3, coco_i, 0], kp[3, coco_i, 1], cf[3, coco_i]]
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"layout": "body25", "keypoints": body.tolist()}))
    r = run("query", built, path, "-k", "1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["results"][0]["matches"][0]["id"] == 3


@pytest.mark.parametrize("k,message", [("0", "-k: expected an integer >= 1, got 0"),
                                       ("301", "expected 1 <= k <= 300 (the number of indexed frames), got 301")])
def test_query_bad_k(tmp_path, built, poses, k, message):
    q = pose_file(tmp_path / "q.json", poses[0][0], poses[1][0])
    r = run("query", built, q, "-k", k)
    assert r.exit_code == 2 and message in err(r)


def test_query_bad_pose_files(tmp_path, built):
    p = tmp_path / "short.json"
    p.write_text(json.dumps({"layout": "coco17", "keypoints": [[1, 2, 1]] * 13}))
    r = run("query", built, p)
    assert r.exit_code == 2 and "expected 17 keypoints, got 13" in err(r)
    p = tmp_path / "nanconf.npy"
    a = np.ones((17, 3))
    a[:, :2] = np.arange(34).reshape(17, 2)
    a[2, 2] = np.nan
    np.save(p, a)
    r = run("query", built, p)
    assert r.exit_code == 2 and "NaN confidence" in err(r)
    p = tmp_path / "one.json"
    p.write_text(json.dumps({"layout": "coco17", "keypoints": [[1, 2, 1]] + [None] * 16}))
    r = run("query", built, p)
    assert r.exit_code == 2 and f"{p}: query: cannot normalize" in err(r)
    p = tmp_path / "seq.npy"
    a = np.random.default_rng(0).uniform(1, 100, (4, 17, 3))
    a[..., 2] = 1.0
    a[2] = 0.0
    np.save(p, a)
    r = run("query", built, p)
    assert r.exit_code == 2 and f"{p}: query (pose 2): cannot normalize" in err(r)
    r = run("query", built, tmp_path / "none.json")
    assert r.exit_code == 2 and "no such file" in err(r)


def test_query_bad_index_files(tmp_path, built, poses):
    q = pose_file(tmp_path / "q.json", poses[0][0], poses[1][0])
    data = built.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 2])
    r = run("query", trunc, q)
    assert r.exit_code == 2 and "truncated" in err(r)
    from index_testdata import flip_byte

    bad = tmp_path / "bad.h5"
    bad.write_bytes(data)
    flip_byte(bad, "backend/shell_hi")
    r = run("query", bad, q)
    assert r.exit_code == 2 and "checksum mismatch" in err(r)
    newer = tmp_path / "newer.h5"
    newer.write_bytes(data)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = 99
    r = run("query", newer, q)
    assert r.exit_code == 2 and "newer than this posesearch reads" in err(r)


def test_query_corpus_override_and_missing_corpus(tmp_path, built, poses, corpus):
    kp, cf = poses
    q = pose_file(tmp_path / "q.json", kp[5], cf[5])
    other = make_corpus(tmp_path / "other.h5", coco_clips(kp[:20], cf[:20], prefix="o"))
    r = run("query", built, q, "--corpus", other)
    assert r.exit_code == 2 and "does not match the one the index was built from" in err(r)
    r = run("query", built, q, "--corpus", corpus, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["results"][0]["matches"][0]["clip"] == "synth:5"
    corpus.rename(tmp_path / "elsewhere.h5")
    r = run("query", built, q, "-k", "2", "--json")
    assert r.exit_code == 0, r.output
    assert "not found; showing frame ids only" in err(r)
    top = json.loads(r.stdout)["results"][0]["matches"][0]
    assert top["id"] == 5 and "clip" not in top


def test_info_on_an_index(built):
    r = run("info", built, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["format"] == "posesearch-index" and d["backend"] == "vptree" and d["count"] == 300
    r = run("info", built, "--verify", "--json")
    assert r.exit_code == 0 and "verified" in json.loads(r.stdout)


def test_query_with_search_params(tmp_path, corpus, built, poses):
    kp, cf = poses
    q = pose_file(tmp_path / "q.json", kp[260], cf[260])
    out = tmp_path / "h.h5"
    assert run("build", corpus, "--backend", "faiss", "--out", out).exit_code == 0
    r = run("query", out, q, "-k", "3", "--ef-search", "300", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["results"][0]["matches"][0]["id"] == 260
    r = run("query", out, q, "--ef-search", "-4")
    assert r.exit_code == 2 and "ef_search: expected an integer in [0, 65536], got -4" in err(r)
    r = run("query", built, q, "--nprobe", "4")
    assert r.exit_code == 2 and "search parameter of backend 'vptree'" in err(r)
