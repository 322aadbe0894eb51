"""`posesearch demo` runs on the bundled sample alone and its figures make sense."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app


def test_demo_json(tmp_path):
    r = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["exact_agrees"] is True
    assert res["corpus"]["frames"] > 10_000
    for q in res["queries"]:
        # a mirrored, jittered frame from the 45-degree view finds the same motion, via its mirror image
        src_motion = q["query"].split(":")[1]
        top = q["matches"][0]
        assert top["clip"].split(":")[1] == src_motion and top["mirrored"] is True
    s = res["scores"]
    assert s["itself"] >= 99
    assert s["degraded_user"] >= 90 and s["degraded_user_detail"]["mirrored"] is True
    assert s["different_motion"]["score"] < s["degraded_user"] - 20
    assert (tmp_path / "demo_score.png").stat().st_size > 10_000
    assert (tmp_path / "sample_vptree.h5").exists()


def test_demo_table(tmp_path):
    runner = CliRunner()
    res = json.loads(runner.invoke(app, ["demo", "--out", str(tmp_path / "j"), "--json", "--no-plot"]).stdout)
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "t"), "--no-plot"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert "identical to brute force" in r.stdout and "/ 100" in r.stdout
    lines = r.stdout.splitlines()
    for q in res["queries"]:       # on an 80-column terminal only the description may be cut, never a number
        for m in q["matches"]:
            cells = (f" {m['distance']:.4f} ", f" {m['frame']} ", f" {m['time']:.2f} ", f" {m['clip']} ")
            assert any(all(c in ln for c in cells) for ln in lines), (cells, r.stdout)


# --- where the demo writes, and that its text says what it did (issue 15) ---

def test_demo_writes_a_temporary_folder_by_default_not_the_current_one(tmp_path, monkeypatch):
    import tempfile

    work, tmp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    r = CliRunner().invoke(app, ["demo", "--json", "--no-plot"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert list(work.iterdir()) == []                      # was: ./posesearch-demo/
    out = Path(res["out_dir"])
    assert out.parent == tmp and out.name.startswith("posesearch-demo-")
    assert Path(res["index_path"]) == out / "sample_vptree.h5" and (out / "sample_vptree.h5").is_file()


def test_demo_out_onto_a_file_is_a_one_line_error(tmp_path):
    f = tmp_path / "taken"
    f.write_text("not a folder")
    for target in (f, f / "sub"):
        r = CliRunner().invoke(app, ["demo", "--out", str(target), "--no-plot"])
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --out ") and str(target) in lines[0], r.output
    assert f.read_text() == "not a folder"


def test_demo_names_the_query_frame_by_its_corpus_frame_number_and_says_where_the_match_is(tmp_path):
    """The demo said 'frame 394' (the row within the clip) of a query whose frame number is 788, and
    'another camera angle' where the query came from a clip that is itself indexed."""
    from posesearch.corpus import Corpus, sample_corpus_path

    runner = CliRunner()
    res = json.loads(runner.invoke(app, ["demo", "--out", str(tmp_path / "j"), "--json", "--no-plot"]).stdout)
    table = runner.invoke(app, ["demo", "--out", str(tmp_path / "t"), "--no-plot"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    text = table.stdout
    assert "another camera angle" not in text and "another angle" not in text
    with Corpus.open(sample_corpus_path()) as corpus:
        for q in res["queries"]:
            src, top = q["source"], q["matches"][0]
            info = corpus.clip_info(src["clip"])
            assert info.start <= src["id"] < info.stop
            assert src["frame"] == int(corpus.frame_numbers(src["id"], src["id"] + 1)[0])
            assert src["time"] == float(corpus.times(src["id"], src["id"] + 1)[0])
            assert f"{src['clip']} frame {src['frame']} ({src['time']:.2f} s)" in q["query"]
            assert q["query"] in text
            # the sentence under each table follows the data
            if top["id"] == src["id"]:
                assert q["best_is_source_frame"]
                assert f"best match: the source frame itself ({src['clip']} frame {src['frame']})" in text
            else:
                assert not q["best_is_source_frame"] and top["clip"] == src["clip"]
                side = "after" if top["time"] > src["time"] else "before"
                assert (f"best match: the source clip, frame {top['frame']}, {abs(top['time'] - src['time']):.2f} s "
                        f"{side} the source frame {src['frame']}") in text
            assert ("via its mirror image" in text) == any(m["matches"][0]["mirrored"] for m in res["queries"])
    # with seed 0 the first query is row 394 of cmu:002_05:yaw45: frame 788; its best match is frame 786
    q0 = res["queries"][0]
    assert (q0["source"]["clip"], q0["source"]["frame"], q0["matches"][0]["frame"]) == ("cmu:002_05:yaw45", 788, 786)
    u = res["scores"]["degraded_user_settings"]
    assert f"a user at {u['fps']:g} fps, jittered ({u['noise']:.0%} of body height), {u['delay']:g} s late, " \
           f"{u['slower'] - 1:.0%} slower, mirrored" in text
    assert res["query_settings"]["jitter_of_body_height"] == 0.01


def test_packaging_cannot_pick_up_a_stray_demo_folder(tmp_path):
    """pyproject's packages.find patterns: posesearch and its subpackages, not posesearch-demo/."""
    tomllib = pytest.importorskip("tomllib")   # Python >= 3.11
    from setuptools import find_namespace_packages

    root = Path(__file__).resolve().parents[1]
    include = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for d in ("posesearch/cli", "posesearch-demo", "posesearch_demo_out/x", "posesearchextra"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "__init__.py").write_text("")
    assert sorted(find_namespace_packages(str(tmp_path), include=include)) == ["posesearch", "posesearch.cli"]


def test_gitignore_covers_demo_and_tour_leftovers():
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    for leftover in ("posesearch-demo/sample_vptree.h5", "posesearch-demo-abc/x.png", "indexes/coco.h5",
                     "demo/sample_vptree.h5", "corpus.h5", "mine.h5", "clip.json", "score.png"):
        r = subprocess.run(["git", "check-ignore", "-q", leftover], cwd=root)
        assert r.returncode == 0, f"{leftover} is not ignored by .gitignore"
