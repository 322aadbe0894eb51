"""Small things a new user meets first (issue 15): counts in words, option names in messages, saving an
index into a folder that does not exist yet."""
from __future__ import annotations

import json
from pathlib import Path

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


# --- sequence search that finds nothing says why (README: clips.best.clip_id on COCO val) ---

@pytest.fixture(scope="module")
def still_and_motion_corpora(tmp_path_factory):
    """Two small corpora cut from the bundled sample: 300 COCO persons (one frame each), and the same plus
    one CMU clip."""
    from posesearch.corpus import Corpus, sample_corpus_path

    d = tmp_path_factory.mktemp("seqsearch")
    with Corpus.open(sample_corpus_path()) as sample:
        ids = [str(c) for c in sample.clip_ids()]
        coco = [sample.clip(c) for c in [c for c in ids if c.startswith("coco")][:300]]
        motion = sample.clip("cmu:002_05:yaw0")
    Corpus.ingest(d / "stills.h5", coco)
    Corpus.ingest(d / "mixed.h5", coco + [motion])
    return d / "stills.h5", d / "mixed.h5", motion


def test_sequence_search_on_still_images_says_why_nothing_matched(still_and_motion_corpora, tmp_path):
    import posesearch as ps
    from posesearch.corpus import Corpus
    from posesearch.clipsearch import NoClipMatchedError
    from posesearch.sequence.sequence import sequence_from_clip

    stills, _, motion = still_and_motion_corpora
    user = sequence_from_clip(motion).slice(0, 60)
    with Corpus.open(stills) as corpus:
        res = ps.Index.build(corpus, backend="exact").search_sequence(user, top=3)
    assert not res and res.clips == []
    assert "every clip of the corpus is a single frame" in res.reason
    with pytest.raises(NoClipMatchedError, match="no clip matched the sequence: every clip of the corpus is a "
                                                 "single frame"):
        res.best                                            # was None: `res.best.clip_id` an AttributeError
    assert res.to_dict()["reason"] == res.reason
    # the CLI says the same
    from posesearch.sequence.io import write_sequence

    seq_file = tmp_path / "user.json"
    write_sequence(seq_file, user)
    idx = tmp_path / "i.h5"
    assert runner.invoke(app, ["build", str(stills), "--backend", "exact", "--out", str(idx)]).exit_code == 0
    r = runner.invoke(app, ["query", str(idx), str(seq_file), "--sequence"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert "no clip matched: every clip of the corpus is a single frame" in r.stdout, r.stdout


def test_sequence_search_without_enough_coverage_says_why(still_and_motion_corpora):
    import posesearch as ps
    from posesearch.corpus import Corpus
    from posesearch.sequence.sequence import sequence_from_clip

    _, mixed, motion = still_and_motion_corpora
    user = sequence_from_clip(motion)
    with Corpus.open(mixed) as corpus:
        idx = ps.Index.build(corpus, backend="exact")
        found = idx.search_sequence(user.slice(0, 60), top=3)
        assert found and found.best.clip_id == "cmu:002_05:yaw0" and found.reason == ""
        # a user who plays the clip backwards: hits everywhere, but not in order on one time line
        backwards = user.slice(0, 120)
        backwards = backwards.replace(keypoints=backwards.keypoints[::-1], confidences=backwards.confidences[::-1])
        res = idx.search_sequence(backwards, top=3, min_coverage=1.0)
    assert not res
    assert res.reason.startswith("no clip had at least 100% of the 120 queried frames (120) on one time line"), \
        res.reason


def test_custom_weight_by_name_on_a_plain_array():
    """README's pose core: pose_similarity(a, b, custom_weight={"scores": {"leftWrist": 2}}) with (17, 3)
    arrays failed with "unknown keypoint 'leftWrist'; known: " (no names without a layout); 17 keypoints fit
    only coco17, whose joint and PoseNet names now apply."""
    import posesearch as ps
    from posesearch.errors import InvalidArgumentError

    rng = np.random.default_rng(5)
    a, b = rng.uniform(0, 100, (2, 17, 3))
    a[:, 2] = b[:, 2] = 1.0
    plain = ps.pose_similarity(a, b)
    by_posenet = ps.pose_similarity(a, b, custom_weight={"mode": "multiply", "scores": {"leftWrist": 2}})
    by_coco = ps.pose_similarity(a, b, custom_weight={"mode": "multiply", "scores": {"left_wrist": 2}})
    by_index = ps.pose_similarity(a, b, custom_weight={"mode": "multiply", "scores": [None] * 9 + [2]})
    assert by_posenet == by_coco == by_index != plain
    with pytest.raises(InvalidArgumentError, match="unknown keypoint 'wrist'"):
        ps.pose_similarity(a, b, custom_weight={"mode": "multiply", "scores": {"wrist": 2}})


def test_an_index_of_the_bundled_sample_finds_it_after_a_reinstall(tmp_path):
    """The demo's index remembers the sample corpus inside site-packages; after `pip install .` then
    `pip install -e .` that path is gone. The index finds this installation's sample by its checksum (and
    only a corpus with that checksum), so `posesearch query` still shows clips and frames."""
    import posesearch as ps
    from posesearch.corpus import Corpus, sample_corpus_path

    idx_file = tmp_path / "sample.h5"
    with Corpus.open(sample_corpus_path()) as corpus:
        ps.Index.build(corpus, backend="exact").save(idx_file)
    idx = ps.Index.load(idx_file)
    idx.attrs.update(corpus_path=str(tmp_path / "gone" / "sample_corpus.h5"), corpus_relpath="gone/sample_corpus.h5")
    assert idx.resolve_corpus_path() == Path(sample_corpus_path())
    idx.attrs["corpus_checksum"] = "0" * 64                 # another corpus: not found, not guessed
    assert idx.resolve_corpus_path() is None
