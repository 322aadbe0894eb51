"""Small things a new user meets first (issue 15): counts in words, option names in messages, saving an
index into a folder that does not exist yet."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.errors import FileFormatError
from posesearch.text import plural

runner = CliRunner()


def test_plural():
    assert plural(1, "clip") == "1 clip"
    assert plural(0, "clip") == "0 clips"
    assert plural(2, "clip") == "2 clips"
    assert plural(1234, "frame") == "1,234 frames"
    assert plural(1234, "frame", thousands=False) == "1234 frames"
    assert plural(1, "match", "matches") == "1 match" and plural(3, "match", "matches") == "3 matches"


def _one_clip_corpus(tmp_path):
    d = tmp_path / "seqs"
    d.mkdir()
    frames = np.random.default_rng(3).uniform(0, 100, (1, 17, 3))
    frames[..., 2] = 1
    (d / "one.json").write_text(json.dumps({"fps": 30, "layout": "coco17", "frames": frames.tolist()}))
    return d, frames[0]


def test_messages_say_1_clip_and_1_frame_not_1_clips(tmp_path):
    d, pose = _one_clip_corpus(tmp_path)
    out = tmp_path / "c.h5"
    r = runner.invoke(app, ["ingest", str(d), "-f", "sequence", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "added 1 frame in 1 clip (0 invalid frames" in r.stdout, r.stdout
    assert "corpus: 1 frame (1 valid), 1 clip," in r.stdout, r.stdout
    assert "1 clips" not in r.stdout and "1 frames" not in r.stdout
    idx = tmp_path / "i.h5"
    r = runner.invoke(app, ["build", str(out), "--backend", "exact", "--out", str(idx)])
    assert r.exit_code == 0, r.output
    assert "1 of 1 frame in" in r.stdout and "1 frames" not in r.stdout, r.stdout
    q = tmp_path / "q.json"
    q.write_text(json.dumps({"layout": "coco17", "keypoints": pose.tolist()}))
    r = runner.invoke(app, ["query", str(idx), str(q), "-k", "1"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "1 nearest frame of q.json" in r.stdout and "1 nearest frames" not in r.stdout, r.stdout


@pytest.mark.parametrize("flag", ["-k", "--k"])
def test_k_errors_name_the_option_as_it_is_spelled(tmp_path, flag):
    """The option is `-k` (long alias `--k`); its errors say `-k:`, the spelling --help shows first."""
    d, pose = _one_clip_corpus(tmp_path)
    out, idx, q = tmp_path / "c.h5", tmp_path / "i.h5", tmp_path / "q.json"
    assert runner.invoke(app, ["ingest", str(d), "-f", "sequence", "-o", str(out)]).exit_code == 0
    assert runner.invoke(app, ["build", str(out), "--backend", "exact", "--out", str(idx)]).exit_code == 0
    q.write_text(json.dumps({"layout": "coco17", "keypoints": pose.tolist()}))
    for bad, expect in (("0", "-k: expected an integer >= 1, got 0"), ("5", "-k: expected 1 <= k <= 1")):
        r = runner.invoke(app, ["query", str(idx), str(q), flag, bad])
        assert r.exit_code == 2 and r.output.strip().splitlines() == [f"error: {r.output.strip()[7:]}"], r.output
        assert expect in r.output, r.output
    h = runner.invoke(app, ["query", "--help"], env={"COLUMNS": "200"})
    assert "-k" in h.stdout


def test_index_save_creates_the_missing_folder_like_the_cli(tmp_path):
    """README: index.save("indexes/coco.h5") failed when indexes/ did not exist (the CLI creates it)."""
    import posesearch as ps
    from posesearch.corpus import Corpus

    d, _ = _one_clip_corpus(tmp_path)
    assert runner.invoke(app, ["ingest", str(d), "-f", "sequence", "-o", str(tmp_path / "c.h5")]).exit_code == 0
    corpus = Corpus.open(tmp_path / "c.h5")
    index = ps.Index.build(corpus, backend="exact")
    target = tmp_path / "new" / "deeper" / "coco.h5"
    assert index.save(target) == target and target.is_file()
    assert len(ps.Index.load(target, corpus)) == 1
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileFormatError, match="cannot create its folder"):
        index.save(tmp_path / "afile" / "coco.h5")
    corpus.close()
