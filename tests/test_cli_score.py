"""`posesearch score`: output, JSON, plot, corpus references, and one-line errors with exit status 2."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.sequence import write_sequence
from posesearch.sequence.simulate import degrade, synthetic_motion

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("score")
    ref = synthetic_motion(3, 30, seed=4)
    user = degrade(ref, seed=1)
    write_sequence(d / "ref.json", ref)
    write_sequence(d / "user.npz", user)
    np.save(d / "user.npy", user.as_array())
    return d, ref, user


def _ok(args):
    r = runner.invoke(app, ["score", *map(str, args)])
    assert r.exit_code == 0, r.output
    return r


def test_table_output(files):
    d, _, _ = files
    r = _ok([d / "ref.json", d / "user.npz"])
    assert "score" in r.stdout and "/ 100" in r.stdout and "worst joints" in r.stdout
    assert "mirrored" in r.stdout and "yes" in r.stdout


def test_json_output_and_options(files):
    d, _, _ = files
    r = _ok([d / "ref.json", d / "user.npy", "--user-fps", "10", "--json", "--smooth", "one-euro",
             "--interp", "cubic", "--align", "nw", "--mirror", "auto"])
    out = json.loads(r.stdout)
    assert out["score"] >= 85 and out["mirrored"] is True
    assert out["settings"]["smooth"] == "one-euro" and out["settings"]["interp"] == "cubic"
    assert out["alignment"]["method"] == "nw" and out["user"].endswith("user.npy")
    off = json.loads(_ok([d / "ref.json", d / "user.npz", "--json", "--mirror", "off"]).stdout)
    assert off["mirrored"] is False and off["score"] < out["score"]
    assert out["settings"]["moments_from"] == "samples"
    grid = json.loads(_ok([d / "ref.json", d / "user.npy", "--user-fps", "10", "--json", "--moments-from",
                           "grid"]).stdout)
    assert grid["settings"]["moments_from"] == "grid"


def test_offset_text():
    from posesearch.cli.score import _offset_text

    assert _offset_text(-0.0004) == "0.00 s (on time)" and _offset_text(0.0) == "0.00 s (on time)"
    assert _offset_text(0.31) == "+0.31 s (user late)" and _offset_text(-0.2) == "-0.20 s (user early)"
    assert _offset_text(float("nan")) == "n/a"


def test_plot_written(files, tmp_path):
    d, _, _ = files
    png = tmp_path / "out.png"
    r = _ok([d / "ref.json", d / "user.npz", "--plot", png])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "plot written" in r.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_reference_from_a_corpus(files, tmp_path):
    from posesearch.corpus import Corpus
    from posesearch.corpus.clip import Clip

    d, ref, _ = files
    clip = Clip("synthetic:1", ref.keypoints.astype(np.float32), ref.confidences.astype(np.float32), "coco17",
                fps=30.0)
    Corpus.ingest(tmp_path / "c.h5", [clip])
    r = _ok([f"{tmp_path / 'c.h5'}:synthetic:1", d / "user.npz", "--json"])
    assert json.loads(r.stdout)["score"] >= 85
    r = runner.invoke(app, ["score", f"{tmp_path / 'c.h5'}:nope:7", str(d / "user.npz")])
    assert r.exit_code == 2 and "nope:7" in r.stderr and "Traceback" not in r.output
    r = runner.invoke(app, ["score", f"{tmp_path / 'missing.h5'}:x", str(d / "user.npz")])
    assert r.exit_code == 2 and "no such corpus file" in r.stderr


def _bad(d, name, doc):
    p = d / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def _frames(t, k=17, c=1.0):
    rng = np.random.default_rng(t)
    return [[[float(x), float(y), c] for x, y in rng.uniform(0, 300, (k, 2))] for _ in range(t)]


@pytest.mark.parametrize("name, doc, extra, words", [
    ("missing.json", None, [], "no such file"),
    ("empty.json", {"fps": 30, "frames": []}, [], "frames: empty"),
    ("one.json", {"fps": 30, "frames": _frames(1)}, [], "expected at least 2 frames, got 1"),
    ("allmissing.json", {"fps": 30, "frames": _frames(4, c=0.0)}, [], "all keypoints are missing"),
    ("layout.json", {"fps": 30, "layout": "coco17", "frames": _frames(4, 13)}, [], "expected 17 keypoints, got 13"),
    ("fps0.json", {"fps": 0, "frames": _frames(4)}, [], "fps: expected a positive number"),
    ("ok.json", {"fps": 30, "frames": _frames(4)}, ["--user-fps", "-1"], "--user-fps"),
    ("nan.json", '{"fps": 30, "frames": [[[1, 2, NaN]' + ", [1, 2, 1]" * 16 + "]]}", [], "confidence is NaN"),
    ("notjson.json", "{oops", [], "not valid JSON"),
    ("pose.json", {"layout": "coco17", "keypoints": _frames(1)[0]}, [], "single-pose file"),
    ("ok2.json", {"fps": 30, "frames": _frames(4)}, ["--align", "hmm"], "--align: unknown alignment method"),
    ("ok3.json", {"fps": 30, "frames": _frames(4)}, ["--smooth", "median"], "--smooth: unknown smoother"),
    ("ok4.json", {"fps": 30, "frames": _frames(4)}, ["--moments-from", "all"], "--moments-from: unknown moments_from 'all'"),
    ("nofps.json", {"frames": _frames(4)}, [], "frame times unknown: the file has no 'fps' or 'times'; "
                                               "give its frame rate with --user-fps (e.g. --user-fps 30)"),
])
def test_bad_input_is_one_line_exit_2(files, tmp_path, name, doc, extra, words):
    d, _, _ = files
    p = tmp_path / name if doc is None else _bad(tmp_path, name, doc)
    r = runner.invoke(app, ["score", str(d / "ref.json"), str(p), *extra])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err and "Traceback" not in r.output


def test_mismatched_layouts_between_files_are_converted(files, tmp_path):
    """A penn13 user against a coco17 reference is scored on the joints both layouts have."""
    d, ref, _ = files
    from posesearch.poses.layouts import PENN13

    idx = [PENN13.to_coco[c] for c in range(17)]
    arr = np.zeros((len(ref), 13, 3))
    for c, p in enumerate(idx):
        if p >= 0:
            arr[:, p, :2] = ref.keypoints[:, c]
            arr[:, p, 2] = 1.0
    arr[:, 0, :2] = ref.keypoints[:, 0]
    arr[:, 0, 2] = 1.0
    np.save(tmp_path / "penn.npy", arr)
    r = _ok([d / "ref.json", tmp_path / "penn.npy", "--user-fps", "30", "--json"])
    out = json.loads(r.stdout)
    assert out["joint_scores"]["nose"] is None and out["score"] > 80


def test_help_lists_score():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "score" in r.stdout
