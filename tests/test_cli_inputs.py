"""Every command that takes a pose or a sequence reads every format ``ingest`` reads, and says what it
assumed (issue 15: "Silent guesses" and "Formats"). Tiny hand-made files in tmp_path."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from index_testdata import coco_clips, make_corpus, random_poses
from posesearch.corpus.clip import Clip
from posesearch.errors import InvalidArgumentError
from posesearch.inputs import read_input
from posesearch.poses.layouts import BODY25, COCO17, PENN13

runner = CliRunner()


def run(*args):
    return runner.invoke(app_(), [str(a) for a in args])


def app_():
    from posesearch.cli.app import app

    return app


@pytest.fixture(scope="module")
def poses():
    kp, cf = random_poses(np.random.default_rng(5), 120)
    return kp, np.where(cf > 0, 1.0, 0.0)   # as COCO visibility 2 / 0 reads


@pytest.fixture()
def index(tmp_path, poses):
    from posesearch.corpus.store import Corpus
    from posesearch.index.index import Index

    kp, cf = poses
    clips = coco_clips(kp[:60], cf[:60])
    clips.append(Clip("walk", kp[60:].astype(np.float32), cf[60:].astype(np.float32), "coco17", fps=30.0))
    corpus = make_corpus(tmp_path / "c.h5", clips)
    with Corpus.open(corpus) as c:
        idx = Index.build(c, metric="weighted", backend="exact")
    idx.save(tmp_path / "i.h5")
    return tmp_path / "i.h5"


def openpose_folder(path, kp, cf, persons=1):
    """OpenPose per-frame output of the COCO-17 poses kp/cf (one file per frame); person p shifted by 1000 p."""
    path.mkdir()
    to_body = [BODY25.joints.index(j) for j in COCO17.joints]
    for t in range(len(kp)):
        people = []
        for p in range(persons):
            a = np.zeros((25, 3))
            a[to_body, :2] = kp[t] + 1000 * p
            a[to_body, 2] = cf[t]
            people.append({"person_id": [-1], "pose_keypoints_2d": a.reshape(-1).tolist()})
        (path / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return path


def test_query_reads_an_openpose_folder(tmp_path, index, poses):
    kp, cf = poses
    d = openpose_folder(tmp_path / "op", kp[60:64], cf[60:64])
    r = run("query", index, d, "-k", "1", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["format"] == "openpose" and len(out["results"]) == 4
    assert [q["matches"][0]["id"] for q in out["results"]] == [60, 61, 62, 63]   # the same frames, found
    assert out["assumed"]["mirror"]["value"] == "off"


def test_score_reads_openpose_folders_and_says_the_fps_was_assumed(tmp_path, poses):
    kp, cf = poses
    ref = openpose_folder(tmp_path / "ref", kp[60:100], np.ones((40, 17)))
    usr = tmp_path / "user.json"
    frames = [[[float(x), float(y), 1.0] for x, y in f] for f in kp[60:100]]
    usr.write_text(json.dumps({"fps": 30, "layout": "coco17", "frames": frames}))
    r = run("score", ref, usr, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["score"] > 95
    assert out["assumed"]["reference fps"]["value"] == 30.0
    assert "OpenPose does not record" in out["assumed"]["reference fps"]["why"]
    assert set(out["assumed"]) == {"reference fps", "mirror", "distance"}
    r = run("score", ref, usr, "--ref-fps", "30", "--mirror", "off", "--distance", "procrustes", "--json")
    assert json.loads(r.stdout)["assumed"] == {}


def test_assumed_layout_in_every_output(tmp_path, index):
    pts = [[100.0 + 7 * i, 50.0 + 11 * i, 1.0] for i in range(13)]
    p = tmp_path / "penn.json"
    p.write_text(json.dumps({"keypoints": pts}))
    why = "no layout given; 13 keypoints fit only penn13"
    r = run("query", index, p, "-k", "2", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["assumed"]["layout"] == {"value": "penn13", "why": why}
    r = run("query", index, p, "-k", "2")
    assert r.exit_code == 0 and f"assumed: layout penn13 ({why})" in r.stderr
    r = run("query", index, p, "-k", "2", "--layout", "penn13", "--mirror", "--json")
    assert json.loads(r.stdout)["assumed"] == {}
    r = run("compare", p, p, "--json")
    assert json.loads(r.stdout)["assumed"]["a layout"]["value"] == "penn13"
    r = run("compare", p, p)
    assert r.exit_code == 0 and "a layout penn13" in r.stderr and "mirror off" in r.stderr
    assert r.stdout.startswith("weighted_distance: 0.000000")
    r = run("compare", p, p, "--layout", "coco17")
    assert r.exit_code == 2 and "layout coco17: expected 17 keypoints, got 13" in r.stderr


def test_coco_file_with_several_persons_needs_a_clip(tmp_path, index, poses):
    kp, cf = poses
    anns = []
    for i in (3, 4):
        flat = []
        for (x, y), c in zip(kp[i], cf[i]):
            flat += [float(x), float(y), 2] if c > 0 else [0, 0, 0]
        anns.append({"id": 100 + i, "image_id": 1, "category_id": 1, "keypoints": flat})
    p = tmp_path / "person_keypoints_mini.json"
    p.write_text(json.dumps({"annotations": anns}))
    r = run("query", index, p, "-k", "1")
    assert r.exit_code == 2 and "holds 2 clips" in r.stderr
    assert "coco-mini:ann:103, coco-mini:ann:104" in r.stderr and "--clip" in r.stderr
    r = run("query", index, p, "-k", "1", "--clip", "ann:104", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["results"][0]["matches"][0]["id"] == 4
    r = run("query", index, f"{p}:ann:103", "-k", "1", "--json")   # FILE:CLIP
    assert json.loads(r.stdout)["results"][0]["matches"][0]["id"] == 3
    r = run("query", index, p, "--clip", "ann:9")
    assert r.exit_code == 2 and "no clip 'ann:9'" in r.stderr


def test_openpose_folder_of_two_persons_lists_them(tmp_path, poses):
    kp, cf = poses
    d = openpose_folder(tmp_path / "two", kp[:3], cf[:3], persons=2)
    with pytest.raises(InvalidArgumentError, match="openpose:two:p0, openpose:two:p1"):
        read_input(d)
    got = read_input(d, clip="p1")
    assert got.clip_id == "openpose:two:p1" and len(got.sequence) == 3
    assert got.sequence.layout.name == "body25"


def test_unknown_format_lists_the_valid_ones(tmp_path, index):
    p = tmp_path / "x.json"
    p.write_text("{}")
    r = run("query", index, p, "--format", "mp4")
    assert r.exit_code == 2
    assert "unknown input format 'mp4'; expected one of: bvh, coco, corpus, image, openpose" in r.stderr


def test_penn_mat_reads_with_layout_and_fps_assumed(tmp_path):
    import scipy.io

    rng = np.random.default_rng(0)
    scipy.io.savemat(str(tmp_path / "0001.mat"), dict(
        x=rng.uniform(0, 400, (5, 13)), y=rng.uniform(0, 300, (5, 13)), visibility=np.ones((5, 13)),
        action="jump", pose="front", train=np.array([[1]])))
    got = read_input(tmp_path / "0001.mat")
    assert got.format == "penn-action" and got.sequence.layout.name == PENN13.name
    assert got.assumed["fps"]["value"] == 30.0
    assert read_input(tmp_path / "0001.mat", fps=25).assumed == {}
    with pytest.raises(Exception, match="this penn-action source is penn13, but coco17 was asked for"):
        read_input(tmp_path / "0001.mat", layout="coco17")


def test_ingest_sequence_accepts_layout(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"fps": 30, "frames": [[[1.0 + i, 2.0 * i, 1.0] for i in range(13)]] * 2}))
    r = run("ingest", p, "--format", "sequence", "--layout", "coco17", "--out", tmp_path / "c.h5")
    assert r.exit_code == 2 and "layout coco17 expects 17 keypoints per frame, the frames have 13" in r.stderr
    r = run("ingest", p, "--format", "sequence", "--layout", "penn13", "--out", tmp_path / "c.h5")
    assert r.exit_code == 0, r.output
    r = run("ingest", p, "--format", "coco", "--layout", "penn13", "--out", tmp_path / "d.h5")
    assert r.exit_code == 2 and "--layout does not apply to format 'coco'" in r.stderr


def test_compare_takes_one_frame_of_a_sequence(tmp_path, poses):
    kp, cf = poses
    seq = tmp_path / "s.json"
    seq.write_text(json.dumps({"fps": 30, "layout": "coco17",
                               "frames": [[[float(x), float(y), 1.0] for x, y in f] for f in kp[:3]]}))
    pose = tmp_path / "p.json"
    pose.write_text(json.dumps({"layout": "coco17", "keypoints": [[float(x), float(y), 1.0] for x, y in kp[1]]}))
    r = run("compare", seq, pose)
    assert r.exit_code == 2 and "holds 3 frames; choose one with --frame (0..2)" in r.stderr
    r = run("compare", seq, pose, "--frame", "1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["value"] == pytest.approx(0.0, abs=1e-9)


def test_ingest_says_which_frame_rate_it_assumed(tmp_path, poses):
    kp, cf = poses
    d = openpose_folder(tmp_path / "op", kp[:3], cf[:3])
    r = run("ingest", d, "--format", "openpose", "--out", tmp_path / "a.h5", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["assumed"]["fps"]["value"] == 30.0
    r = run("ingest", d, "--format", "openpose", "--out", tmp_path / "b.h5")
    assert "assumed: fps 30 (no frame rate given; OpenPose does not record the frame rate)" in r.stderr
    r = run("ingest", d, "--format", "openpose", "--fps", "25", "--out", tmp_path / "c.h5", "--json")
    assert json.loads(r.stdout)["assumed"] == {}
