"""Defects a new user found by following the README on a fresh clone (issue 15, "Front door and trust",
second round): worst moments above the average, the README's clip.json clash and one-frame references,
garbled or misleading messages, short sequence-search answers without a reason, usage errors as rich
boxes, the first-run compile notice. Each test fails without its fix."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.sequence import score_sequence
from posesearch.sequence.score import WORST_MOMENT_MARGIN
from posesearch.sequence.simulate import degrade, synthetic_motion

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
runner = CliRunner()


# --- 1. worst moments are below the overall score -------------------------------------------------

@pytest.fixture(scope="module")
def base_report():
    ref = synthetic_motion(3, 30, seed=4)          # 90 frames at 30 fps
    return score_sequence(ref, degrade(ref, seed=1))


def _with_scores(report, scores):
    scores = np.asarray(scores, float)
    return dataclasses.replace(report, moment_scores=scores, score=float(np.nanmean(scores)))


def test_worst_moments_never_at_or_above_the_average(base_report):
    """A flat performance (38 +- 2) has no worst moment; the old code listed three, one of them above
    the overall score (the user saw 43.2 listed against an overall 37.9)."""
    t = base_report.moment_times
    r = _with_scores(base_report, 38 + 2 * np.sin(2 * np.pi * t / 0.9))
    assert r.worst_moments() == []
    assert r.worst_moments_note().startswith("no moment stands out")
    assert "no moment stands out" in r.summary() and "worst moments:" not in r.summary()
    d = r.to_dict(path=False)
    assert d["worst_moments"] == [] and d["worst_moments_rule"]["below_score_by"] == WORST_MOMENT_MARGIN
    assert d["worst_moments_rule"]["note"].startswith("no moment stands out")


def test_only_a_real_dip_is_a_worst_moment(base_report):
    s = np.full(len(base_report.moment_times), 90.0)
    s[30:45] = 40.0                                     # 0.5 s at 40 (1.0-1.47 s)
    r = _with_scores(base_report, s)
    wm = r.worst_moments()
    assert len(wm) == 1                                 # not three: the rest is ordinary
    a, b, v = wm[0]
    assert (a, round(b, 3), v) == (1.0, 1.467, 40.0)
    assert all(v <= r.score - WORST_MOMENT_MARGIN for _, _, v in r.worst_moments(10))


def test_good_pair_has_no_worst_moment_in_cli_and_json():
    """examples/reference.json vs user.json scores 97.1: windows scoring 95-99 are not "worst"."""
    args = ["score", str(EXAMPLES / "reference.json"), str(EXAMPLES / "user.json")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "no moment stands out" in r.stdout and "worst moments (reference time)" not in r.stdout
    r = runner.invoke(app, args + ["--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["worst_moments"] == [] and d["worst_moments_rule"]["note"].startswith("no moment stands out")


def test_plot_legend_names_the_shaded_bands(base_report):
    from posesearch.sequence.plot import report_figure

    s = np.full(len(base_report.moment_times), 90.0)
    s[30:45] = 40.0
    fig = report_figure(_with_scores(base_report, s))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(lab.startswith("worst moments") for lab in labels), labels
    fig = report_figure(_with_scores(base_report, np.full(len(s), 90.0)))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert not any(lab.startswith("worst moments") for lab in labels)
    assert any(t.get_text().startswith("no moment stands out") for t in fig.axes[0].texts)


# --- 2. one-frame inputs to `score` name the file and say what to do instead ------------------------

def test_readme_python_block_writes_person_json_not_the_tours_clip_json():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'export_clip(page.rows[0].clip_id, "person.json"' in readme
    assert 'export_clip(page.rows[0].clip_id, "clip.json"' not in readme


def _one_frame_errors(r, who, spec):
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.stderr
    assert lines[0] == (f"error: {who} ({spec}): expected at least 2 frames, got 1 (a single pose: compare it "
                        "with `posesearch compare` or `query`)"), lines[0]


def test_score_of_an_exported_one_frame_clip_names_the_file(tmp_path, monkeypatch):
    from posesearch.corpus import Corpus, sample_corpus_path

    corpus = Corpus.open(sample_corpus_path())
    corpus.export_clip(corpus.list_clips(label="category=person", limit=1).rows[0].clip_id,
                       tmp_path / "person.json", overwrite=True)
    monkeypatch.chdir(tmp_path)
    user = str(EXAMPLES / "user.json")
    _one_frame_errors(runner.invoke(app, ["score", "person.json", user]), "reference", "person.json")
    _one_frame_errors(runner.invoke(app, ["score", user, "person.json"]), "user", "person.json")


def test_query_sequence_of_a_one_frame_file_names_it(tmp_path, monkeypatch, sample_index_file):
    from posesearch.corpus import Corpus, sample_corpus_path

    corpus = Corpus.open(sample_corpus_path())
    corpus.export_clip(corpus.list_clips(label="category=person", limit=1).rows[0].clip_id,
                       tmp_path / "person.json", overwrite=True)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["query", str(sample_index_file), "person.json", "--sequence"])
    assert _one_line_error(r) == ("error: sequence (person.json): expected at least 2 frames, got 1 (a single "
                                  "pose: query it without --sequence)")


def test_score_of_a_coco_annotation_names_file_and_id(tmp_path, monkeypatch):
    from posesearch.poses.layouts import COCO17_JOINTS

    kps = [v for k in range(17) for v in (100 + 5 * k, 50 + 9 * k, 2)]
    doc = {"images": [{"id": 7, "file_name": "000007.jpg"}],
           "annotations": [{"id": 11, "image_id": 7, "category_id": 1, "iscrowd": 0, "keypoints": kps}],
           "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17_JOINTS)}]}
    (tmp_path / "person_keypoints_mini.json").write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["score", "person_keypoints_mini.json:11", str(EXAMPLES / "user.json")])
    _one_frame_errors(r, "reference", "person_keypoints_mini.json:11")


# --- 3. messages say what they mean -------------------------------------------------------------------

def _one_line_error(r) -> str:
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.stderr
    return lines[0]


def test_info_of_a_json_file_is_not_garbled():
    msg = _one_line_error(runner.invoke(app, ["info", str(EXAMPLES / "pose.json")]))
    assert "posesearch posesearch" not in msg and "made by posesearch)" not in msg, msg
    assert msg.endswith("expected a posesearch corpus or index made by `posesearch ingest` or `posesearch build`)")


def test_text_with_a_huge_number_in_it_is_not_json_first(tmp_path):
    """README.md holds "1e400" in prose: it is not JSON, and that is what the user is told."""
    from posesearch.errors import FileFormatError
    from posesearch.safeio import parse_json

    with pytest.raises(FileFormatError, match="not valid JSON"):
        parse_json(b"# README\nnumbers like 1e400 are refused\n", tmp_path / "README.md")
    with pytest.raises(FileFormatError, match=r"number 1e400 \(5 characters\) is out of range"):
        parse_json(b'{"keypoints": [[1e400, 2, 1]]}', tmp_path / "pose.json")
    with pytest.raises(FileFormatError, match=r"\(5000 characters\) is out of range"):
        parse_json(b'{"a": ' + b"9" * 5000 + b"}", tmp_path / "big.json")   # past Python's int-digit limit
    msg = _one_line_error(runner.invoke(app, ["compare", str(EXAMPLES / "pose.json"), str(ROOT / "README.md")]))
    assert "README.md: not valid JSON" in msg and "out of range" not in msg, msg


def test_compare_names_the_second_file_not_pose2(tmp_path, monkeypatch):
    doc = json.loads((EXAMPLES / "pose.json").read_text())
    doc["keypoints"] = [None] * 16 + [[10, 10, 1]]
    (tmp_path / "one_joint.json").write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--mirror"]):
        msg = _one_line_error(runner.invoke(app, ["compare", str(EXAMPLES / "pose.json"), "one_joint.json", *extra]))
        assert msg.startswith("error: one_joint.json: ") and "pose2" not in msg, msg


# --- 4. fewer clips than --top: the answer says why ------------------------------------------------

@pytest.fixture(scope="module")
def sample_index_file(tmp_path_factory):
    from posesearch.corpus import sample_corpus_path

    out = tmp_path_factory.mktemp("idx") / "sample.h5"
    r = runner.invoke(app, ["build", str(sample_corpus_path()), "--backend", "exact", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_sequence_search_says_why_fewer_than_top():
    import posesearch as ps
    from posesearch.corpus import Corpus, sample_corpus_path

    with Corpus.open(sample_corpus_path()) as corpus:
        idx = ps.Index.build(corpus, backend="exact")
        res = idx.search_sequence(str(EXAMPLES / "user.json"), top=5)
        one = idx.search_sequence(str(EXAMPLES / "user.json"), top=1)
    assert 0 < len(res) < 5 and res.reason == ""
    assert res.why_fewer.startswith(f"only {len(res)} clips of the 5 asked for (top): "), res.why_fewer
    assert f"and {len(res)} of them had a time line covering at least 10% of those frames" in res.why_fewer
    assert res.to_dict()["why_fewer"] == res.why_fewer
    assert len(one) == 1 and one.why_fewer == "" and "why_fewer" not in one.to_dict()


def test_query_sequence_cli_says_why_fewer_than_top(sample_index_file):
    args = ["query", str(sample_index_file), str(EXAMPLES / "user.json"), "--sequence", "--top", "5"]
    r = runner.invoke(app, args + ["--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert 0 < len(d["clips"]) < 5 and d["why_fewer"].startswith(f"only {len(d['clips'])} clips of the 5"), d
    r = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert d["why_fewer"] in r.stdout, r.stdout


# --- 5. `bench --quick` leaves no untracked files -------------------------------------------------

def test_bench_quick_outputs_are_ignored_and_full_run_outputs_are_not():
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    bench = ROOT / "benchmarks" / "posesearch_bench"
    runner_src = (bench / "runner.py").read_text()
    plots_src = (bench / "plots.py").read_text()
    # the names the suite writes (runner.py: results{suffix}.json, summary{suffix}.md; plots.py: {name}{suffix}.png)
    assert 'f"results{suffix}.json"' in runner_src and 'f"summary{suffix}.md"' in runner_src
    assert 'suffix = "-quick" if settings.quick else ""' in runner_src and 'f"{name}{suffix}.png"' in plots_src
    plots = ["latency_vs_size", "build_vs_size", "recall_vs_latency"]
    assert all(f'("{p}", ' in plots_src for p in plots)
    quick = ["results-quick.json", "summary-quick.md"] + [f"{p}-quick.png" for p in plots]
    full = ["results.json", "summary.md"] + [f"{p}.png" for p in plots]

    def ignored(name):
        r = subprocess.run(["git", "check-ignore", "--no-index", "-q", f"benchmarks/results/{name}"], cwd=ROOT,
                           capture_output=True, text=True)
        if r.returncode == 128:
            pytest.skip(f"not a git checkout: {r.stderr.strip()}")
        return r.returncode == 0

    assert [n for n in quick if not ignored(n)] == []
    assert [n for n in full if ignored(n)] == []


# --- 6. usage errors are one line on stderr, exit status 2 (the console script, posesearch.cli.app.main) ---

def _main(capsys, *argv):
    from posesearch.cli.app import main

    with pytest.raises(SystemExit) as ex:
        main(list(argv))
    out, err = capsys.readouterr()
    return ex.value.code, out, err


@pytest.mark.parametrize("argv, line", [
    (["query", "X", "Y", "--kk", "3"],
     "error: no such option '--kk' (did you mean --k? posesearch query --help lists the options)"),
    (["quer"], "error: no such command 'quer' (did you mean query? the commands: compare, ingest, info, clips, "
               "export, build, query, score, reps, extract, bench, demo, serve)"),
    (["frobnicate"], "error: no such command 'frobnicate' (the commands: compare, ingest, info, clips, export, "
                     "build, query, score, reps, extract, bench, demo, serve)"),
    (["score", "a.json"], "error: missing argument 'USER' (posesearch score --help lists the options and arguments)"),
    (["--kk"], "error: no such option '--kk' (posesearch --help lists the options)"),
])
def test_usage_errors_are_one_line(capsys, argv, line):
    code, out, err = _main(capsys, *argv)
    assert code == 2 and out == "", (code, out)
    assert err.splitlines() == [line], err


def test_bad_option_value_is_one_line_naming_the_option(capsys):
    code, out, err = _main(capsys, "query", "X", "Y", "--top", "x")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: invalid value for '--top': "), err
    assert err.rstrip().endswith("(posesearch query --help lists the options and arguments)"), err


def test_help_and_normal_exit_statuses_unchanged(capsys):
    code, out, err = _main(capsys, "--help")
    assert code == 0 and "Usage: posesearch" in out and " query " in out
    code, out, err = _main(capsys, "score", "--help")
    assert code == 0 and "REFERENCE" in out
    code, out, err = _main(capsys)                      # no command: the help, status 2 (as before)
    assert code == 2 and "Usage: posesearch" in out
    code, out, err = _main(capsys, "compare", str(EXAMPLES / "pose.json"), str(EXAMPLES / "pose_b.json"))
    assert code == 0 and out.startswith("weighted_distance: ")
    code, out, err = _main(capsys, "info", str(EXAMPLES / "pose.json"))     # a user error: one line, 2
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ")


# --- 7. the first run says it compiles, and how long that takes ---------------------------------------

def test_numba_cache_subfolder_is_numbas_own():
    from numba.core.caching import _CacheLocator

    from posesearch import _cache

    for d in _cache.kernel_source_dirs():
        assert _cache.numba_cache_subfolder(d) == _CacheLocator.get_suitable_cache_subpath(str(d / "x.py"))
    names = {d.relative_to(ROOT / "posesearch").as_posix() for d in _cache.kernel_source_dirs()}
    assert "sequence" in names and len(names) >= 3, names


def test_kernel_cache_cold_until_every_kernel_folder_has_entries(tmp_path):
    from posesearch import _cache

    root = tmp_path / "numba"
    assert _cache.kernel_cache_cold(root)                       # missing
    root.mkdir()
    assert _cache.kernel_cache_cold(root)                       # empty
    subs = [root / _cache.numba_cache_subfolder(d) for d in _cache.kernel_source_dirs()]
    for s in subs:
        s.mkdir()
        (s / "kernel.f-10.py311.nbi").write_bytes(b"x")
    assert not _cache.kernel_cache_cold(root)
    (subs[-1] / "kernel.f-10.py311.nbi").unlink()               # one folder's kernels not compiled yet
    assert _cache.kernel_cache_cold(root)


def _stop_demo(*a, **k):
    from posesearch.errors import InvalidArgumentError

    raise InvalidArgumentError("stopped by the test before any work")


def test_demo_says_first_run_when_the_cache_is_cold(tmp_path, monkeypatch):
    import posesearch.demo

    monkeypatch.setattr(posesearch.demo, "run_demo", _stop_demo)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "empty-cache"))
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--no-plot"])
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines() == [
        f"first run: compiling kernels, about 1-2 minutes, once (cached in {tmp_path / 'empty-cache'})",
        "error: stopped by the test before any work"], r.stderr


def test_demo_says_nothing_when_the_cache_is_warm(tmp_path, monkeypatch):
    import posesearch.demo
    from posesearch import _cache

    monkeypatch.setattr(posesearch.demo, "run_demo", _stop_demo)
    root = tmp_path / "warm"
    for d in _cache.kernel_source_dirs():
        (root / _cache.numba_cache_subfolder(d)).mkdir(parents=True)
        (root / _cache.numba_cache_subfolder(d) / "k.nbi").write_bytes(b"x")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(root))
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--no-plot"])
    assert r.exit_code == 2 and r.stderr.splitlines() == ["error: stopped by the test before any work"], r.stderr


def test_readme_states_the_measured_first_compile():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "about 20 s once" not in readme
    assert "compiled by numba on first use (about 1–2 minutes once after installing" in readme


# --- 8. the folder holding a checkout named posesearch -------------------------------------------------

def test_readme_warns_about_running_python_beside_a_checkout_named_posesearch(tmp_path):
    import subprocess
    import sys

    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    setup = readme[readme.index("## Set-up"):readme.index("## A quick tour")]
    assert "not from the folder that holds it when the checkout is itself named `posesearch`" in setup
    assert "empty namespace package" in setup
    # the note is true of this install: beside a folder named posesearch, Python picks that folder first
    (tmp_path / "posesearch").mkdir()
    code = "import posesearch; print(hasattr(posesearch, 'Index'))"
    beside = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    inside = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "posesearch", capture_output=True,
                            text=True)
    assert inside.stdout.strip() == "True", inside.stderr
    if beside.stdout.strip() == "True":
        pytest.skip("this install is not shadowed by a folder named posesearch (not a finder-based editable "
                    "install); the README note is for those that are")
    assert beside.stdout.strip() == "False", beside.stderr
