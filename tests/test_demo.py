"""`posesearch demo` runs on the bundled sample alone and its figures make sense."""
from __future__ import annotations

import json

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
