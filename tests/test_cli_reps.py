"""`posesearch reps`: reps against a reference (text, JSON, plot, corpus clips and a reference segment),
the reference-free count, and one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.corpus import sample_corpus_path
from posesearch.sequence import write_sequence
from tests.test_reps import as_seq, hand_rep

runner = CliRunner()
SAMPLE = str(sample_corpus_path())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("reps")
    rep = hand_rep()
    rest = np.repeat(rep[:1], 15, axis=0)
    write_sequence(d / "rep.json", as_seq(rep, name="reference"))
    write_sequence(d / "user.json", as_seq(np.concatenate([rest, rep, rest, hand_rep(30, elbow=60), rest, rep])))
    write_sequence(d / "short.json", as_seq(hand_rep(12)))
    return d


def test_text_json_and_plot(files, tmp_path):
    r = runner.invoke(app, ["reps", str(files / "rep.json"), str(files / "user.json")])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("3 rep(s), 1 bad")
    assert "less bend than the reference midway through rep 2" in r.stdout
    png = tmp_path / "reps.png"
    r = runner.invoke(app, ["reps", str(files / "rep.json"), str(files / "user.json"), "--json", "--plot", str(png),
                            "--threshold", "99.9"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["count"] == 3 and d["threshold"] == 99.9 and d["plot"] == str(png)
    assert d["reps"][1]["bad"] and d["reps"][1]["angles"][0]["angle"] == "left_elbow"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tolerances_file(files, tmp_path):
    tol = tmp_path / "tol.json"
    tol.write_text(json.dumps({"exercise": "curl", "angle_tolerances": {"left_elbow": 40}}))
    r = runner.invoke(app, ["reps", str(files / "rep.json"), str(files / "user.json"), "--tolerances", str(tol),
                            "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["bad"] == [] and d["settings"]["exercise"] == "curl"
    tol.write_text(json.dumps({"angle_tolerances": {"elbow": 40}}))
    r = runner.invoke(app, ["reps", str(files / "rep.json"), str(files / "user.json"), "--tolerances", str(tol)])
    assert r.exit_code == 2 and "elbow" in r.output and "Traceback" not in r.output


def test_corpus_clip_and_reference_segment():
    clip = f"{SAMPLE}:cmu:002_05:yaw90"
    r = runner.invoke(app, ["reps", clip, clip, "--ref-start", "0.7", "--ref-end", "2.2", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["count"] >= 5 and d["reps"][0]["start"] == pytest.approx(0.73, abs=0.1)


def test_count_only(files):
    r = runner.invoke(app, ["reps", f"{SAMPLE}:cmu:002_01:yaw90", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["count"] == 2
    r = runner.invoke(app, ["reps", "--count-only", f"{SAMPLE}:cmu:005_02:yaw90"])
    assert r.exit_code == 0 and r.stdout.startswith("no periodic motion found")
    r = runner.invoke(app, ["reps", "--count-only", str(files / "rep.json"), str(files / "user.json")])
    assert r.exit_code == 2 and "--count-only takes one input" in r.output


def test_errors_are_one_line(files, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"layout": "coco17", "fps": 30.0, "frames": []}))
    cases = [
        (["reps", str(empty), str(files / "user.json")], "empty.json: frames: empty"),
        (["reps", str(files / "rep.json"), str(files / "short.json")], "is longer than the user"),
        (["reps", str(files / "rep.json"), str(tmp_path / "missing.json")], "missing.json"),
        (["reps", str(files / "rep.json"), str(files / "user.json"), "--ref-start", "0.5", "--ref-end", "0.51"],
         "expected at least 2 frames"),
        (["reps", str(files / "rep.json"), str(files / "user.json"), "--threshold", "200"], "threshold"),
        (["reps", str(files / "rep.json"), str(files / "user.json"), "--plot", str(tmp_path / "x.jpg")], ".png"),
    ]
    for args, msg in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.output and "Traceback" not in r.output, r.output
