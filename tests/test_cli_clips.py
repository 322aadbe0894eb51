"""Listing a corpus's clips and exporting one as a sequence file (library + ``posesearch clips`` /
``posesearch export``), and ``query --top`` without ``--sequence`` (issue 15, items 3 and 5)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.corpus import Corpus, sample_corpus_path
from posesearch.corpus.clip import Clip
from posesearch.corpus.listing import close_clip_ids, parse_label_filter
from posesearch.errors import FileFormatError, InvalidArgumentError, UnknownNameError
from posesearch.sequence import read_sequence

runner = CliRunner()
SAMPLE = sample_corpus_path()
CMU = "cmu:002_01:yaw0"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(r) -> str:
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


def _pose(seed: int, t: int = 1):
    rng = np.random.default_rng(seed)
    base = np.stack([np.linspace(100, 200, 17), np.linspace(50, 400, 17)], axis=1)
    kp = base[None] + rng.normal(0, 3, (t, 17, 2))
    cf = np.full((t, 17), 0.9)
    cf[:, 3] = 0.0                                  # one joint missing everywhere
    return kp.astype(np.float32), cf.astype(np.float32)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Three clips: a 10 fps walk, a run with irregular frame times, a single image without fps."""
    d = tmp_path_factory.mktemp("clips")
    kp, cf = _pose(1, 5)
    walk = Clip("w:1", kp, cf, "coco17", fps=10.0, labels={"action": "walk", "view": "front"})
    kp, cf = _pose(2, 4)
    run_ = Clip("r:1", kp, cf, "coco17", fps=25.0, labels={"action": "run", "view": "front"},
                times=np.array([0.0, 0.04, 0.12, 0.2]))
    kp, cf = _pose(3, 1)
    img = Clip("img:7", kp, cf, "coco17", labels={"action": "stand"})
    path = d / "small.h5"
    Corpus.ingest(path, [walk, run_, img])
    return path


# ------------------------------------------------------------------------------------------ library
def test_listing_by_hand(small):
    with Corpus.open(small) as c:
        page = c.list_clips()
        assert [r.clip_id for r in page] == ["w:1", "r:1", "img:7"] and page.matched == page.total == 3
        w, r, i = page.rows
        assert (w.frames, w.fps, w.duration) == (5, 10.0, pytest.approx(0.5))          # 5 frames / 10 fps
        assert (r.frames, r.fps, r.duration) == (4, 25.0, pytest.approx(0.2 + 1 / 25))  # last - first + 1/fps
        assert (i.frames, i.fps, i.duration) == (1, None, 0.0)
        assert w.labels == {"action": "walk", "view": "front"} and i.labels == {"action": "stand"}
        assert [r.clip_id for r in c.list_clips(label="view=front")] == ["w:1", "r:1"]
        assert [r.clip_id for r in c.list_clips(label="run")] == ["r:1"]                  # a value under any key
        both = c.list_clips(label=["view=front", "action=walk"])
        assert [r.clip_id for r in both] == ["w:1"] and both.describe() == "1 clip of 3 match view=front and action=walk"
        p2 = c.list_clips(limit=1, offset=1)
        assert [r.clip_id for r in p2] == ["r:1"] and p2.matched == 3 and p2.more == 1
        assert p2.describe() == "3 clips; showing 2-2"
        none = c.list_clips(label="action=wlak")
        assert none.matched == 0 and not none.rows and "'walk'" in none.hint and "action has 3 values" in none.hint
        with pytest.raises(UnknownNameError, match="unknown clip label 'actoin'; expected one of: action, view"):
            c.list_clips(label="actoin=walk")
        for bad in ({"limit": -1}, {"limit": 1.5}, {"offset": -2}):
            with pytest.raises(InvalidArgumentError):
                c.list_clips(**bad)


def test_label_filter_parsing():
    assert parse_label_filter("a=b=c") == ("a", "b=c") and parse_label_filter(" walk ") == (None, "walk")
    for bad in ("", "  ", "=x"):
        with pytest.raises(InvalidArgumentError):
            parse_label_filter(bad)


def test_sample_corpus_listing():
    with Corpus.open(SAMPLE) as c:
        cmu = c.list_clips(label="dataset=cmu-mocap", limit=None)
        assert cmu.matched == 24 and len(cmu) == 24
        first = cmu.rows[0]
        info = c.clip_info(first.clip_id)
        assert first.frames == len(info) and first.fps == 30.0
        assert first.duration == pytest.approx(len(info) / 30.0)
        assert len(c.list_clips(label=["dataset=cmu-mocap", "view=45"], limit=None)) == 8


@pytest.mark.parametrize("suffix", [".json", ".npz"])
@pytest.mark.parametrize("clip_id", [CMU, "coco-val2017:ann:1"])
def test_export_round_trip_sample(tmp_path, suffix, clip_id):
    out = tmp_path / f"clip{suffix}"
    with Corpus.open(SAMPLE) as c:
        s = c.export_clip(clip_id, out)
        clip = c.clip(clip_id)
    seq = read_sequence(out)
    assert s.frames == len(seq) == len(clip) and seq.layout.name == "coco17"
    present = clip.confidences > 0
    assert np.array_equal(seq.confidences, clip.confidences.astype(np.float64))
    assert np.array_equal(seq.keypoints[present], clip.keypoints[present].astype(np.float64))
    assert np.allclose(seq.times, clip.times, rtol=0, atol=1e-12)
    assert seq.fps == clip.fps


def test_export_keeps_irregular_times_and_refuses_bad_targets(small, tmp_path):
    out = tmp_path / "run.json"
    with Corpus.open(small) as c:
        s = c.export_clip("r:1", out)
        assert s.times_written and s.fps == 25.0 and s.source_layout == "coco17"
        assert read_sequence(out).times.tolist() == [0.0, 0.04, 0.12, 0.2]
        with pytest.raises(FileFormatError, match="already exists; pass --overwrite"):
            c.export_clip("r:1", out)
        c.export_clip("w:1", out, overwrite=True)
        assert len(read_sequence(out)) == 5
        with pytest.raises(FileFormatError, match=r"unsupported file type '\.txt'"):
            c.export_clip("w:1", tmp_path / "w.txt")
        with pytest.raises(FileFormatError, match="is a folder"):
            (tmp_path / "d.json").mkdir()
            c.export_clip("w:1", tmp_path / "d.json")
        npy = c.export_clip("w:1", tmp_path / "w.npy")
        assert "give its frame rate when reading it (e.g. --fps 10)" in npy.note
    assert np.array_equal(read_sequence(tmp_path / "w.npy", fps=10).confidences, read_sequence(out).confidences)


def test_export_never_replaces_the_corpus(small, tmp_path):
    import shutil

    corpus = tmp_path / "corpus.npz"              # a corpus under a name the writer accepts
    shutil.copy(small, corpus)
    before = corpus.read_bytes()
    with Corpus.open(corpus) as c:
        with pytest.raises(InvalidArgumentError, match="is the input .* itself"):
            c.export_clip("w:1", corpus, overwrite=True)
    assert corpus.read_bytes() == before


def test_unknown_clip_id_names_close_ids(small):
    with Corpus.open(small) as c:
        with pytest.raises(InvalidArgumentError) as e:
            c.clip_sequence("w:2")
    msg = str(e.value)
    assert "\n" not in msg and "clip 'w:2' is not in corpus" in msg and "(3 clips)" in msg
    assert "close ids: w:1" in msg and "posesearch clips" in msg
    assert close_clip_ids(["cmu:002_01:yaw0", "cmu:002_01:yaw45", "coco:1"], "cmu:002_01:yaw4")[:2] == [
        "cmu:002_01:yaw45", "cmu:002_01:yaw0"]
    assert close_clip_ids(["a", "b"], "zzzzzz") == []


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_clips_table_and_paging():
    r = run("clips", SAMPLE, "--label", "dataset=cmu-mocap", "--limit", "5")
    assert r.exit_code == 0, r.output
    assert CMU in r.stdout and "duration s" in r.stdout
    assert "24 clips of 6,376 match dataset=cmu-mocap; showing 1-5" in r.stdout
    assert "19 more: --offset 5 for the next page" in r.stdout
    r = run("clips", SAMPLE, "-l", "dataset=cmu-mocap", "-l", "view=45", "--limit", "0")
    assert r.exit_code == 0 and "8 clips of 6,376 match dataset=cmu-mocap and view=45" in r.stdout
    assert "more:" not in r.stdout


def test_cli_clips_json(small):
    r = run("clips", small, "--json", "--label", "view=front")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["matched"] == 2 and d["total"] == 3 and d["shown"] == 2 and d["more"] == 0
    assert [c["clip_id"] for c in d["clips"]] == ["w:1", "r:1"]
    assert d["clips"][0] == {"clip_id": "w:1", "index": 0, "frames": 5, "duration": 0.5, "fps": 10.0,
                             "layout": "coco17", "labels": {"action": "walk", "view": "front"}}


def test_cli_clips_no_match_says_what_exists(small):
    r = run("clips", small, "--label", "action=wlak")
    assert r.exit_code == 0 and "0 clips of 3 match action=wlak (action has 3 values: 'walk'" in r.stdout


@pytest.mark.parametrize("args,words", [
    (["--limit", "-1"], "--limit: expected a whole number >= 0"),
    (["--offset", "-1"], "--offset: expected a whole number >= 0"),
    (["--label", "actoin=walk"], "unknown clip label 'actoin'"),
])
def test_cli_clips_errors(small, args, words):
    assert words in one_line_error(run("clips", small, *args))


def test_cli_clips_missing_corpus(tmp_path):
    assert "nope.h5" in one_line_error(run("clips", tmp_path / "nope.h5"))


def test_cli_clips_of_an_empty_corpus(tmp_path):
    empty = tmp_path / "empty.h5"
    Corpus.create(empty)
    r = run("clips", empty)
    assert r.exit_code == 0 and r.stdout.strip() == "0 clips"
    assert "has no clip labels" in one_line_error(run("clips", empty, "--label", "view=45"))


def test_cli_export_round_trip_and_errors(tmp_path):
    out = tmp_path / "c.json"
    r = run("export", SAMPLE, CMU, "--out", out)
    assert r.exit_code == 0, r.output
    assert f"wrote {out}: clip {CMU}, 86 frames, 2.87 s, 30 fps, layout coco17 (source layout cmu19)" in r.stdout
    r = run("export", SAMPLE, CMU, "--out", out, "--overwrite", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["frames"] == 86 and d["fps"] == 30.0 and d["layout"] == "coco17" and d["path"] == str(out)
    msg = one_line_error(run("export", SAMPLE, "cmu:002_01:yaw5", "--out", tmp_path / "x.json"))
    assert "clip 'cmu:002_01:yaw5' is not in corpus" in msg and "close ids: cmu:002_01:yaw45" in msg
    assert "already exists; pass --overwrite" in one_line_error(run("export", SAMPLE, CMU, "--out", out))
    # the exported file is what score reads: scoring the clip against itself gives 100
    r = run("score", out, out, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["score"] == pytest.approx(100.0, abs=1e-6)


# ---------------------------------------------------------------------------------- query --top
@pytest.fixture(scope="module")
def index_file(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("idx") / "small-exact.h5"
    r = run("build", small, "--backend", "exact", "--out", out)
    assert r.exit_code == 0, r.output
    return out


def test_query_top_without_sequence_is_an_error(index_file, tmp_path):
    kp, cf = _pose(5)
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps({"layout": "coco17", "keypoints": [[float(x), float(y), float(c)]
                                                                  for (x, y), c in zip(kp[0], cf[0])]}))
    ok = run("query", index_file, pose, "-k", "2")
    assert ok.exit_code == 0, ok.output
    msg = one_line_error(run("query", index_file, pose, "--top", "3"))
    assert "--top 3: only applies with --sequence" in msg and "-k" in msg
    msg = one_line_error(run("query", index_file, pose, "--fps", "10"))   # was silently ignored
    assert "--fps 10: only applies with --sequence" in msg


def test_unknown_corpus_clip_in_score_names_close_ids(tmp_path):
    """Every command that takes CORPUS.h5:CLIP_ID (score, query, compare) goes through Corpus.clip."""
    with Corpus.open(SAMPLE) as c:
        with pytest.raises(InvalidArgumentError, match="close ids: cmu:002_01:yaw45"):
            c.clip("cmu:002_01:yaw5")
    out = tmp_path / "u.json"
    assert run("export", SAMPLE, CMU, "--out", out).exit_code == 0
    msg = one_line_error(run("score", f"{SAMPLE}:cmu:002_01:yaw5", out))
    assert "clip 'cmu:002_01:yaw5' is not in corpus" in msg and "close ids: cmu:002_01:yaw45" in msg


@pytest.mark.parametrize("make,args,words", [
    (None, ["export", "{corpus}", "w:1", "--out", "{tmp}/x.txt"], "unsupported file type '.txt'"),
    (None, ["export", "{corpus}", "w:1", "--out", "{tmp}"], "is a folder"),
    (None, ["export", "{corpus}", "", "--out", "{tmp}/e.json"], "clip '' is not in corpus"),
    ("json", ["export", "{tmp}/not-a-corpus.json", "w:1", "--out", "{tmp}/x.json"], "not-a-corpus.json"),
    ("json", ["clips", "{tmp}/not-a-corpus.json"], "not-a-corpus.json"),
    (None, ["clips", "{corpus}", "--label", "="], "label '=': expected KEY=VALUE"),
    (None, ["clips", "{corpus}", "--limit", "x"], None),
])
def test_cli_clips_export_bad_inputs(small, tmp_path, make, args, words):
    if make == "json":
        (tmp_path / "not-a-corpus.json").write_text("{}")
    argv = [a.replace("{corpus}", str(small)).replace("{tmp}", str(tmp_path)) for a in args]
    r = run(*argv)
    assert r.exit_code == 2 and "Traceback" not in r.output
    if words is not None:
        assert words in one_line_error(r)
