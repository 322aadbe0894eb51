"""`posesearch compare` and pose files: exit codes and one-line messages."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.errors import FileFormatError
from posesearch.poses.io import read_pose_file, write_pose_file
from tests.conftest import shared_path

runner = CliRunner()


@pytest.fixture
def pair(tmp_path):
    ex = json.loads(shared_path("parity", "posenet_similarity_cases.json").read_text())["example_pair_this_machine"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(ex["poseA"]))
    b.write_text(json.dumps(ex["poseB"]))
    return a, b, ex["results"]


def test_compare_strategies_match_parity(pair):
    a, b, res = pair
    r = runner.invoke(app, ["compare", str(a), str(b), "--json"])
    assert r.exit_code == 0, r.output
    assert abs(json.loads(r.stdout)["value"] - res["weightedDistance"]) < 1e-9
    r = runner.invoke(app, ["compare", str(a), str(b), "-s", "cosine_similarity"])
    assert r.exit_code == 0 and r.stdout.strip() == f"cosine_similarity: {res['cosineSimilarity']:.6f}"


def test_compare_mirror(tmp_path, rng):
    kp = rng.uniform(0, 300, (17, 2))
    from posesearch.poses.mirror import mirror

    mk, mc = mirror(kp, np.ones(17))
    write_pose_file(tmp_path / "a.json", kp, np.ones(17))
    np.save(tmp_path / "b.npy", np.c_[mk, mc])
    r = runner.invoke(app, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.npy"), "--mirror", "--json"])
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["mirrored"] is True and out["value"] < 1e-9


def test_pose_file_formats(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"layout": "coco17", "keypoints": [[1, 2, 0.5]] * 16 + [None]}))
    poses = read_pose_file(p)
    assert poses.layout.name == "coco17" and poses.confidences[0, -1] == 0 and poses.keypoints[0, 0].tolist() == [1, 2]
    q = tmp_path / "penn.npy"
    np.save(q, np.ones((13, 3)))
    assert read_pose_file(q).layout.name == "penn13"


@pytest.mark.parametrize("content, message", [
    ('{"keypoints": [[1, 2, 0.5]', "malformed JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"layout": "coco17", "keypoints": [[1, 2, 1]]}', "layout coco17: expected 17 keypoints, got 1"),
    ('{"keypoints": [[1, 2, 1]]}', "cannot infer a layout from 1 keypoints"),
    ('{"layout": "coco17", "keypoints": [[1, "x", 1]]}', "numeric"),
    ('{"fps": 30, "frames": []}', "pose-sequence file"),
    ('{"layout": "nope", "keypoints": [[1, 2, 1]]}', "unknown layout 'nope'"),
])
def test_bad_pose_files_give_one_line_errors(tmp_path, content, message):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(FileFormatError, match=message):
        read_pose_file(p)
    good = tmp_path / "good.json"
    write_pose_file(good, np.random.default_rng(0).uniform(0, 9, (17, 2)), np.ones(17))
    r = runner.invoke(app, ["compare", str(good), str(p)])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: {p}") and message.split("'")[0] in r.stderr
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1


def test_compare_cli_errors(tmp_path):
    good = tmp_path / "good.json"
    write_pose_file(good, np.random.default_rng(0).uniform(0, 9, (17, 2)), np.ones(17))
    r = runner.invoke(app, ["compare", str(good), str(tmp_path / "missing.json")])
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = runner.invoke(app, ["compare", str(good), str(good), "-s", "euclid"])
    assert r.exit_code == 2 and "unknown strategy 'euclid'" in r.stderr
    zero = tmp_path / "zero.npy"
    np.save(zero, np.zeros((17, 3)))
    r = runner.invoke(app, ["compare", str(good), str(zero)])
    assert r.exit_code == 2 and "0 present keypoint" in r.stderr
    flat = tmp_path / "flat.npy"
    np.save(flat, np.c_[np.ones((17, 2)), np.ones(17)])
    r = runner.invoke(app, ["compare", str(good), str(flat)])
    assert r.exit_code == 2 and "one point" in r.stderr
    nan = tmp_path / "nan.npy"
    arr = np.c_[np.ones((17, 2)), np.ones(17)]
    arr[0, 2] = np.nan
    np.save(nan, arr)
    r = runner.invoke(app, ["compare", str(good), str(nan)])
    assert r.exit_code == 2 and "NaN confidence" in r.stderr
    r = runner.invoke(app, ["compare", "--help"])
    assert r.exit_code == 0 and "--mirror" in r.stdout
