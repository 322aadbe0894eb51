"""`posesearch bench`: a tiny smoke run (JSON structure, outputs), and wrong answers make the run FAIL.

The suite is the development package ``benchmarks/posesearch_bench`` of the checkout (not part of the
library); ``posesearch bench --index FILE`` times one index with the library alone."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from tests.conftest import shared_path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))      # the benchmark suite, as `posesearch bench` finds it

from posesearch_bench.checks import check_answers, recall_at_k, true_distances  # noqa: E402
from posesearch_bench.context import BenchSettings  # noqa: E402
from posesearch_bench.runner import run_benchmarks  # noqa: E402

TINY = BenchSettings.quick_settings().replace(
    queries=12, cross_queries=10, numpy_queries=6, sweep_queries=6, hnsw_ef=(10, 40), ivf_nprobe=(1, 8), hnswlib_ef=(10,),
    sizes=(1500,), scaling_queries=6, scaling_metrics=("weighted",), scaling_contenders=("exact", "vptree"),
    search_frames=3000, pypi_frames=600, pypi_queries=4, pypi_max_scaling=0, quality_poses=150, penn_queries=0,
    view_clips=3, view_seconds=2.0, sequence_lengths=(5.0,), seqsearch_queries=0, coldstart="off")


def _link(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A small data folder of links into ../shared/data (COCO train left out: tests the skip path)."""
    root = tmp_path_factory.mktemp("data")
    penn = shared_path("penn_action", "labels")
    for f in sorted(penn.glob("*.mat"))[:8]:
        _link(f, root / "penn_action" / "labels" / f.name)
    _link(shared_path("coco", "person_keypoints_val2017.json"), root / "coco" / "person_keypoints_val2017.json")
    for f in sorted(shared_path("pose_classification_kit").glob("*_body.json"))[:4]:
        _link(f, root / "pose_classification_kit" / f.name)
    cmu = shared_path("cmu_mocap")
    for f in sorted((cmu / "bvh").glob("*.bvh"))[:3]:
        _link(f, root / "cmu_mocap" / "bvh" / f.name)
    _link(cmu / "cmu_index.csv", root / "cmu_mocap" / "cmu_index.csv")
    return root


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    res, status = run_benchmarks(TINY, out, data_dir=tiny_data, log=lambda m: None)
    return out, res, status


@pytest.mark.slow
def test_tiny_run_structure(tiny_run):
    out, res, status = tiny_run
    assert status == 0, res["failures"]
    assert res["failures"] == []
    disk = json.loads((out / "results-quick.json").read_text())
    assert disk["format"] == "posesearch-bench" and disk["quick"] is True
    m = disk["machine"]
    assert m["cores"] >= 1 and m["cpu"] and m["ram_bytes"] > 0 and m["python"]
    for lib in ("numpy", "numba", "faiss-cpu", "hnswlib"):
        assert lib in m["versions"]
    assert disk["settings"]["k"] == 10 and disk["settings"]["queries"] == 12
    assert disk["data"]["skipped_sources"]["coco-train"]          # left out in quick mode
    assert disk["data"]["queries"] == 12
    s = disk["sections"]["search"]
    assert set(s["metrics"]) == {"weighted", "cosine"}
    assert set(s["metrics"]["weighted"]["variants"]) == {"real", "estimator", "uniform"}
    names = {r["name"] for r in s["metrics"]["weighted"]["variants"]["real"]["rows"]}
    assert {"exact", "vptree", "faiss-flat", "faiss-hnsw", "faiss-ivf", "numpy", "faiss-IndexFlatL2"} <= names
    for r in s["metrics"]["cosine"]["variants"]["any"]["rows"]:
        for key in ("median_ms", "p99_ms", "batch_qps", "recall@10", "check_ok", "speedup_median_vs_exact"):
            assert key in r, (r["name"], key)
        assert r["check_ok"]
        assert r["p99_ms"] >= r["median_ms"] > 0
        if r["claim"] == "exact":
            assert r["recall@10"] == 1.0
        # every index holds at least its float32 vectors (12 queries' corpus: 34 floats a row)
        assert r["index_bytes"] >= 4 * 34 * s["indexed_frames"], r["name"]
    assert [p["ef_search"] for p in s["sweeps"]["weighted"]["faiss-hnsw"]] == [10, 40]
    # the cross-dataset queries, beside the held-out ones: same contenders, checked, their own index
    c = s["cross"]
    assert c["queries"] == TINY.cross_queries and set(c["query_sources"]) == {"body25", "cmu-view"}
    assert c["indexed_frames"] == min(TINY.search_frames, disk["data"]["cross"]["indexed_frames"])
    assert set(c["metrics"]["weighted"]["variants"]) == {"real", "estimator", "uniform"}
    for var in ("real", "estimator", "uniform"):
        rows = c["metrics"]["weighted"]["variants"][var]["rows"]
        assert {r["name"] for r in rows} == names
        assert all(r["check_ok"] for r in rows) and _row_of(rows, "vptree")["recall@10"] == 1.0
    assert any(t["target"].startswith("headline") for t in disk["targets"])
    sc = disk["sections"]["scaling"]["metrics"]["weighted"]
    assert {(r["name"], r["size"]) for r in sc} == {("exact", 1500), ("vptree", 1500)}
    for r in sc:
        assert r["build_peak_extra_bytes"] >= 0 and r["check_ok"] and r["build_seconds"] >= 0
    ex = disk["sections"]["exactness"]["metrics"]["weighted"]["variants"]["real"]["rows"]
    assert {r["name"] for r in ex} == {"exact", "vptree", "vptree-pypi"}
    q = disk["sections"]["quality"]
    assert set(q["body25_loo"]["distances"]) == {"cosine", "weighted", "procrustes"}
    assert "skipped" in q["penn_scoring"]
    assert "yaw30" in q["cmu_views"]
    assert disk["sections"]["sequence"]["rows"][0]["seconds"] == 5.0
    assert {t["target"][:6] for t in disk["targets"]} >= {"vptree"}
    summary = (out / "summary-quick.md").read_text()
    assert "## Query latency" in summary and "## Targets" in summary and "**FAIL**" not in summary
    assert "Cross-dataset queries" in summary and "**Headline (cross-dataset queries" in summary
    for png in ("latency_vs_size-quick.png", "build_vs_size-quick.png", "recall_vs_latency-quick.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "cache" / ".gitignore").exists()


def test_cross_queries_tiny(tiny_data):
    """Cross-dataset queries: half BODY25, half CMU from random cameras, deterministic, normalized, weighted."""
    from posesearch.poses.normalize import normalize_batch
    from posesearch_bench.crossdata import cross_queries

    q = cross_queries(tiny_data, 20, seed=5)
    again = cross_queries(tiny_data, 20, seed=5)
    assert q.vectors.shape == (20, 34) and q.vectors.dtype == np.float64
    assert np.array_equal(q.vectors, again.vectors) and np.array_equal(q.weights["estimator"], again.weights["estimator"])
    assert not np.array_equal(q.vectors, cross_queries(tiny_data, 20, seed=6).vectors)
    assert sorted(q.source.tolist()) == ["body25"] * 10 + ["cmu-view"] * 10
    # the vectors are the corpus's normalization of the COCO-17 keypoints kept with them
    kp = np.nan_to_num(q.keypoints)
    v, ok = normalize_batch(kp, q.weights["real"], on_invalid="mask")
    assert ok.all() and np.allclose(v, q.vectors)
    present = q.weights["real"] > 0
    est = q.weights["estimator"]
    assert (est[present] >= 0.3).all() and (est[present] <= 1.0).all() and (est[~present] == 0).all()
    assert (q.weights["uniform"] == 1).all()
    cmu, body = q.source == "cmu-view", q.source == "body25"
    assert (present[cmu].sum(axis=1) == 12).all() and (q.weights["real"][cmu][present[cmu]] == 1).all()
    assert ((q.views[cmu, 0] >= 0) & (q.views[cmu, 0] < 360)).all()
    assert ((q.views[cmu, 1] >= -10) & (q.views[cmu, 1] <= 30)).all() and np.isnan(q.views[body]).all()
    # BODY25 queries keep OpenPose's own scores (not all 1)
    assert (q.weights["real"][body][present[body]] < 1).any()
    assert all(str(o).startswith("pck:") for o in q.origin[body]) and all(str(o).startswith("cmu:") for o in q.origin[cmu])


def test_cross_queries_without_data(tmp_path):
    from posesearch_bench.crossdata import cross_queries

    assert cross_queries(tmp_path, 10, seed=1) is None


@pytest.mark.slow
def test_cross_index_is_penn_and_coco(tiny_run):
    """The cross index holds every valid Penn + COCO frame of the corpus cache, and nothing else."""
    from posesearch.corpus.store import Corpus
    from posesearch_bench.crossdata import cross_index

    out, res, _ = tiny_run
    path = out / "cache" / "combined-quick.h5"
    vec, rows = cross_index(path)
    with Corpus.open(path) as c:
        ids = c.clip_ids()
        ci = np.asarray(c.clip_indices())
        valid = np.asarray(c.valid)
        allvec = np.asarray(c.vectors())
    prefixes = {str(ids[ci[r]]).split(":", 1)[0] for r in rows}
    assert prefixes and all(p == "penn" or p.startswith("coco-val") for p in prefixes)
    want = [r for r in range(len(ci)) if valid[r] and (str(ids[ci[r]]).startswith(("penn:", "coco-")))]
    assert rows.tolist() == want and np.array_equal(vec, allvec[rows])
    cross = res["data"]["cross"]
    assert cross["indexed_frames"] == len(rows) and cross["queries"] == TINY.cross_queries
    assert set(cross["query_sources"]) == {"body25", "cmu-view"}


def _row_of(rows, name):
    return next(r for r in rows if r["name"] == name)


def _shifted_knn(orig):
    """A wrong VP-tree: returns neighbours 2..k+1 (with their true distances) instead of 1..k."""
    def knn(self, queries, weights, k):
        ids, d = orig(self, queries, weights, k + 1)
        return ids[:, 1:], d[:, 1:]
    return knn


@pytest.mark.slow
def test_wrong_exact_answer_fails_the_run(tiny_data, tmp_path, monkeypatch):
    from posesearch.index.vptree import VPTreeBackend

    monkeypatch.setattr(VPTreeBackend, "knn", _shifted_knn(VPTreeBackend.knn))
    res, status = run_benchmarks(TINY, tmp_path, only=("search",), data_dir=tiny_data, log=lambda m: None)
    assert status == 1
    assert any("vptree" in f and "claims exact" in f for f in res["failures"])
    rows = res["sections"]["search"]["metrics"]["weighted"]["variants"]["real"]["rows"]
    assert not next(r for r in rows if r["name"] == "vptree")["check_ok"]
    assert next(r for r in rows if r["name"] == "exact")["check_ok"]
    assert "FAILED CHECKS" in (tmp_path / "summary-quick.md").read_text()


@pytest.mark.slow
def test_wrong_reported_distance_fails(tiny_data, tmp_path, monkeypatch):
    from posesearch.index.exact import ExactBackend

    orig = ExactBackend.knn

    def knn(self, queries, weights, k):   # right ids, distances off by 1e-6 relative
        ids, d = orig(self, queries, weights, k)
        return ids, d * (1 + 1e-6)
    monkeypatch.setattr(ExactBackend, "knn", knn)
    res, status = run_benchmarks(TINY, tmp_path, only=("search",), data_dir=tiny_data, log=lambda m: None)
    assert status == 1
    assert any("reported distance" in f for f in res["failures"])


@pytest.mark.slow
def test_approximate_below_stated_recall_fails(tiny_data, tmp_path, monkeypatch):
    from posesearch.index import faiss_backend
    from posesearch.index.kernels.exact import rescore

    def knn(self, queries, weights, k):   # k random rows, exact distances: a useless index
        rng = np.random.default_rng(0)
        cand = rng.integers(0, len(self.data), size=(len(queries), 4 * k))
        return rescore(self.data, queries, weights if self.metric == "weighted" else None, cand, k,
                       "weighted" if self.metric == "weighted" else "l2")
    monkeypatch.setattr(faiss_backend.FaissBackend, "knn", knn)
    res, status = run_benchmarks(TINY, tmp_path, only=("search",), data_dir=tiny_data, log=lambda m: None)
    assert status == 1
    assert any("below its stated" in f for f in res["failures"])


def test_no_data_skips_with_message(tmp_path):
    empty = tmp_path / "nodata"
    empty.mkdir()
    res, status = run_benchmarks(TINY, tmp_path / "out", only=("search", "scaling"), data_dir=empty,
                                 log=lambda m: None, plots=False)
    assert status == 0
    assert "no benchmark data" in res["skipped"]["search"] and "no benchmark data" in res["skipped"]["scaling"]
    assert "search" not in res["sections"]


def test_cli_rejects_bad_options(tmp_path):
    r = CliRunner().invoke(app, ["bench", "--only", "search,bogus", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "bogus" in r.output and "search" in r.output
    r = CliRunner().invoke(app, ["bench", "--sizes", "10k", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--sizes" in r.output


def test_check_answers_hand_case():
    data = np.array([[0.0] * 34, [1.0] * 34, [2.0] * 34], np.float32)
    q = np.zeros((1, 34))
    w = np.ones((1, 17))
    ref = true_distances(data, q, w, np.array([[0, 1]]), "weighted")
    assert ref.tolist() == [[0.0, 2.0]]            # |dx| + |dy| = 2 per joint, averaged
    ok = check_answers("t", "exact", 0, data, q, w, "weighted", 2, np.array([[0, 1]]), ref, ref)
    assert ok.ok and ok.recall == 1.0
    bad = check_answers("t", "exact", 0, data, q, w, "weighted", 2, np.array([[0, 2]]),
                        np.array([[0.0, 4.0]]), ref)
    assert not bad.ok and bad.recall == 0.5 and "claims exact" in bad.problems[0]
    # tie-aware recall: a different frame at the same k-th distance counts
    assert recall_at_k(np.array([[0.0, 2.0]]), np.array([[0, 5]]), np.array([[0.0, 2.0]]), 2) == 1.0
    assert recall_at_k(np.array([[0.0, 2.0]]), np.array([[0, 0]]), np.array([[0.0, 0.0]]), 2) == 0.5


def test_procrustes_nn_matches_library(rng):
    from posesearch_bench.quality import procrustes_nn
    from posesearch.poses.procrustes import procrustes_distance

    X = rng.normal(size=(30, 17, 2))
    P = rng.random((30, 17)) > 0.2
    Q = rng.normal(size=(5, 17, 2))
    QP = rng.random((5, 17)) > 0.2
    Xz, Qz = np.where(P[..., None], X, 0.0), np.where(QP[..., None], Q, 0.0)
    idx, dist = procrustes_nn(Xz, P, Qz, QP, False)
    for b in range(5):
        d = procrustes_distance(np.broadcast_to(Q[b], X.shape), X, conf_target=np.broadcast_to(QP[b], P.shape) * 1.0,
                                conf_source=P * 1.0)
        assert idx[b] == int(np.argmin(d))
        assert dist[b] == pytest.approx(d.min(), abs=1e-9)
    # a rotated, scaled, shifted copy is at distance 0; self is excluded when asked
    th = 0.7
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    Y = np.stack([X[3], 2.5 * X[3] @ R.T + 4.0])
    idx, dist = procrustes_nn(Y, np.ones((2, 17), bool), Y, np.ones((2, 17), bool), True)
    assert idx.tolist() == [1, 0] and dist.max() < 1e-6


def test_augment_is_deterministic_and_normalized(rng):
    from posesearch_bench.data import augment

    kp = rng.uniform(0, 100, size=(50, 17, 2)).astype(np.float32)
    cf = (rng.random((50, 17)) > 0.2).astype(np.float32)
    a, b = augment(kp, cf, 120, seed=3), augment(kp, cf, 120, seed=3)
    assert a.shape == (120, 34) and np.array_equal(a, b) and np.isfinite(a).all()
    assert not np.array_equal(a, augment(kp, cf, 120, seed=4))
    assert (a >= 0).all() and (a.reshape(120, 17, 2).max(axis=(1, 2)) <= 1.0 + 1e-6).all()


@pytest.mark.slow
def test_update_replaces_only_the_sections_run(tiny_data, tmp_path):
    st = TINY.replace(sizes=(800,))
    res, status = run_benchmarks(st, tmp_path, only=("sequence", "scaling"), data_dir=tiny_data,
                                 log=lambda m: None, plots=False)
    assert status == 0
    before = json.loads((tmp_path / "results-quick.json").read_text())
    res2, status2 = run_benchmarks(st.replace(sequence_lengths=(3.0,)), tmp_path, only=("sequence",),
                                   data_dir=tiny_data, log=lambda m: None, plots=False, update=True)
    after = json.loads((tmp_path / "results-quick.json").read_text())
    assert status2 == 0
    assert after["sections"]["scaling"] == before["sections"]["scaling"]      # kept
    assert after["sections"]["sequence"]["rows"][0]["seconds"] == 3.0         # replaced
    assert after["sections_updated"][0]["sections"] == ["sequence"]
    assert "partial" not in after


def test_sequence_timing_checks_its_answers():
    """A scorer that loses the speed change, the delay or the match fails the sequence section's check."""
    from types import SimpleNamespace

    from posesearch_bench.sequence import check_recovery

    good = SimpleNamespace(score=98.7, speed_ratio=0.835, time_offset=0.31)
    assert check_recovery(good, slower=1.2, delay=0.3) == []
    assert len(check_recovery(SimpleNamespace(score=60.0, speed_ratio=1.0, time_offset=0.0),
                              slower=1.2, delay=0.3)) == 3
    assert check_recovery(SimpleNamespace(score=float("nan"), speed_ratio=0.835, time_offset=0.3),
                          slower=1.2, delay=0.3)                   # NaN never passes


def test_sequence_search_benchmark_runs_and_reports(tiny_data, tmp_path):
    # 8 Penn Action clips (train and test among them): too few to check a rate, but every figure is made
    from posesearch_bench.context import Context
    from posesearch_bench.seqsearch import MIN_CHECKED, run_search

    st = TINY.replace(seqsearch_queries=3, seqsearch_self=2, quick=False)
    ctx = Context(st, tmp_path, data_dir=tiny_data, log=lambda m: None)
    out = run_search(ctx)
    assert out["train_clips"] >= 1 and out["indexed_frames"] > 0
    for task in ("action", "self"):
        r = out[task]
        assert 1 <= r["queries"] < MIN_CHECKED and r["checked"] is False
        assert 0.0 <= r["ours_top1"] <= 1.0 and 0.0 <= r["peer_top1"] <= 1.0 and r["ours_median_s"] > 0
    assert not ctx.failures
    assert run_search(Context(TINY, tmp_path, data_dir=tiny_data, log=lambda m: None)) == {
        "skipped": "seqsearch_queries = 0"}


def test_summary_tables_go_below_the_readme_marker(tmp_path):
    """The full run writes its tables into benchmarks/README.md below the marker (headings one level
    down), keeping the prose above it; a README without the marker is left alone."""
    from posesearch_bench.report import README_MARKER, sync_readme

    summary = "# posesearch benchmarks\n\nRun x.\n\n## Targets (issue 5)\n\n| a |\n\n### weighted\n\nrow\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nprose\n\n{README_MARKER}\n\nold tables\n")
    assert sync_readme(summary, readme)
    text = readme.read_text()
    assert text.startswith("# Benchmarks\n\nprose\n") and "old tables" not in text
    assert text.endswith(f"{README_MARKER}\n\n### Targets (issue 5)\n\n| a |\n\n#### weighted\n\nrow\n")
    other = tmp_path / "OTHER.md"
    other.write_text("no marker\n")
    assert not sync_readme(summary, other) and other.read_text() == "no marker\n"
    assert not sync_readme(summary, tmp_path / "missing.md")


# ------------------------------------------------------------------ verdict: answers apart from targets

def _fake_results(failures=(), met=(True, True, True, True, False, False, False, False, False)):
    return {"failures": list(failures), "skipped": {}, "skipped_peers": {},
            "targets": [{"target": f"target {i}", "measured": "x", "met": m, "where": "search"}
                        for i, m in enumerate(met)] + [{"target": "unmeasured", "measured": "–", "met": None,
                                                        "where": "search"}]}


def test_verdict_keeps_correct_answers_apart_from_missed_targets():
    """Issue 15: --quick said "all checks passed" above 4 of 9 targets "no". The verdict now says both,
    apart, and only a wrong answer (or --strict-targets) changes the exit status."""
    from posesearch_bench.main import EXIT_CHECK_FAILED, EXIT_OK, EXIT_TARGET_MISSED, verdict
    from posesearch_bench.report import write_summary

    res = _fake_results()
    status, lines = verdict(res)
    assert status == EXIT_OK == 0
    assert lines[0] == "answers: every answer checked and correct"
    assert lines[1].startswith("targets met: 4/9 (not met: target 4;")          # the unmeasured one not counted
    assert not any("all checks passed" in line for line in lines)
    assert verdict(res, strict_targets=True)[0] == EXIT_TARGET_MISSED == 3
    assert verdict(_fake_results(met=(True,) * 3), strict_targets=True) == (0, [
        "answers: every answer checked and correct", "targets met: 3/3"])
    bad = _fake_results(failures=["[search] vptree: claims exact, ..."])
    status, lines = verdict(bad, strict_targets=True)
    assert status == EXIT_CHECK_FAILED == 1                       # a wrong answer outranks a missed target
    assert lines[0] == "answers: FAILED: 1 check(s) failed:" and "targets met: 4/9" in lines[2]
    summary = write_summary(res)
    assert "every answer was checked and is correct" in summary and "Targets met: 4/9" in summary
    assert "all checks passed" not in summary


@pytest.mark.parametrize("failures, flags, status", [
    ((), [], 0), ((), ["--strict-targets"], 3), (("[search] wrong",), [], 1)])
def test_cli_exit_status_answers_and_targets(tmp_path, monkeypatch, failures, flags, status):
    import posesearch_bench.runner as runner

    def fake_run(settings, out, only, **kw):
        return _fake_results(failures), 1 if failures else 0
    monkeypatch.setattr(runner, "run_benchmarks", fake_run)
    r = CliRunner().invoke(app, ["bench", "--quick", "--out", str(tmp_path), *flags])
    assert r.exit_code == status, r.output
    assert "targets met: 4/9" in r.output
    assert ("every answer checked and correct" in r.output) == (not failures)
    assert "all checks passed" not in r.output


def test_missing_bench_extra_is_said_in_output_and_results(tmp_path, monkeypatch):
    """Without the `bench` extra (hnswlib) the peer is left out, and the run says so (log, results.json,
    summary, verdict) instead of skipping it silently."""
    from posesearch_bench.main import verdict

    monkeypatch.setitem(sys.modules, "hnswlib", None)               # `import hnswlib` raises ImportError
    empty = tmp_path / "nodata"
    empty.mkdir()
    log: list[str] = []
    res, status = run_benchmarks(TINY, tmp_path / "out", only=("search",), data_dir=empty, log=log.append,
                                 plots=False)
    assert status == 0
    why = res["skipped_peers"]["hnswlib"]
    assert "not installed" in why and "pip install -e '.[bench]'" in why and "search and scaling" in why
    assert any("skipped hnswlib" in m and "not installed" in m for m in log)
    disk = json.loads((tmp_path / "out" / "results-quick.json").read_text())
    assert disk["skipped_peers"] == res["skipped_peers"]
    assert f"- hnswlib: {why}" in (tmp_path / "out" / "summary-quick.md").read_text()
    assert f"skipped hnswlib: {why}" in verdict(res)[1]


# ------------------------------------------------------------------ the library stands alone

def test_package_ships_no_benchmark_code():
    """`pip install .` packages what [tool.setuptools.packages.find] finds: posesearch only, no benchmarks
    (before the move, posesearch.bench — 19 files — went into every wheel)."""
    tomllib = pytest.importorskip("tomllib")
    from setuptools import find_packages

    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    pkgs = find_packages(where=str(REPO), include=cfg.get("include", ("*",)), exclude=cfg.get("exclude", ()))
    assert "posesearch" in pkgs and "posesearch.cli" in pkgs
    assert not [p for p in pkgs if "bench" in p], pkgs
    lib = REPO / "posesearch"
    assert not (lib / "bench").exists()
    importers = [str(f.relative_to(REPO)) for f in lib.rglob("*.py")
                 if "import posesearch_bench" in f.read_text() or "from posesearch_bench" in f.read_text()]
    assert importers == []                  # cli/bench.py loads it by name, only when asked to


def _hide_suite(monkeypatch, tmp_path):
    """As installed from a wheel: no posesearch_bench importable, no benchmarks/ beside the package."""
    import posesearch.cli.bench as cb

    for name in [m for m in sys.modules if m == "posesearch_bench" or m.startswith("posesearch_bench.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"])
    monkeypatch.delenv(cb.BENCHMARKS_ENV, raising=False)
    monkeypatch.setattr(cb, "benchmarks_dirs", lambda: [tmp_path / "site-packages" / "benchmarks"])


def test_suite_absent_says_what_to_do(tmp_path, monkeypatch):
    _hide_suite(monkeypatch, tmp_path)
    r = CliRunner().invoke(app, ["bench", "--quick", "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the benchmark suite is not installed")
    for what in ("clone the repository", 'pip install -e ".[bench]"', "posesearch bench --quick",
                 "posesearch bench --index FILE"):
        assert what in lines[0], what
    assert not (tmp_path / "out").exists()


def test_suite_absent_under_env_folder(tmp_path, monkeypatch):
    import posesearch.cli.bench as cb

    monkeypatch.setenv(cb.BENCHMARKS_ENV, str(tmp_path))
    r = CliRunner().invoke(app, ["bench", "--quick", "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and f"{cb.BENCHMARKS_ENV}={tmp_path} holds no posesearch_bench/" in r.output


def test_suite_found_beside_the_package(tmp_path, monkeypatch):
    """From a checkout the suite is found in benchmarks/ beside posesearch/, even when not on sys.path."""
    import posesearch.cli.bench as cb

    _hide_suite(monkeypatch, tmp_path)
    monkeypatch.setattr(cb, "benchmarks_dirs", lambda: [REPO / "benchmarks"])
    mod = cb.load_benchmarks()
    assert Path(mod.__file__).resolve() == REPO / "benchmarks" / "posesearch_bench" / "__init__.py"


# ------------------------------------------------------------------ timing one index (works from a wheel)

@pytest.fixture
def small_index(tmp_path, rng):
    from posesearch.index import Index

    v = rng.normal(size=(300, 34))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    path = tmp_path / "small.h5"
    Index.build(v, metric="weighted", backend="exact").save(path)
    return path


def test_time_index_drawn_queries(small_index):
    from posesearch.index import Index
    from posesearch.index.timing import drawn_queries, time_index

    idx = Index.load(small_index)
    t = time_index(idx, k=5, count=40, warmup=2)
    assert (t.backend, t.metric, t.indexed_frames, t.k, t.queries) == ("exact", "weighted", 300, 5, 40)
    assert 0 < t.single_median_ms <= t.single_p99_ms and t.batch_queries_per_second > 0
    assert "drawn from the index" in t.query_source and "0.3" in t.weights
    v, w = drawn_queries(idx, 40, jitter=0.01, seed=1)
    v2, _ = drawn_queries(idx, 40, jitter=0.01, seed=1)
    assert np.array_equal(v, v2) and np.allclose(np.linalg.norm(v, axis=1), 1.0)
    assert ((w >= 0.3) & (w <= 1.0)).all() and w.shape == (40, 17)
    d = np.abs(v[:, None, :] - idx.data[None].astype(np.float64)).sum(-1).min(1)
    assert (d > 0).all() and (d < 0.5).all()                    # jittered, but near an indexed row
    v0, _ = drawn_queries(idx, 5, jitter=0.0, seed=1)
    assert np.abs(v0[:, None, :] - idx.data[None]).sum(-1).min(1).max() < 1e-6   # jitter 0: indexed rows


@pytest.mark.parametrize("kw, field", [({"k": 0}, "k:"), ({"k": 301}, "k:"), ({"count": 0}, "count:"),
                                       ({"count": 10**45}, "count: expected at most"),
                                       ({"jitter": -1.0}, "jitter:"), ({"jitter": float("nan")}, "jitter:")])
def test_time_index_rejects_bad_arguments(small_index, kw, field):
    from posesearch.errors import InvalidArgumentError
    from posesearch.index import Index
    from posesearch.index.timing import time_index

    with pytest.raises(InvalidArgumentError, match=field):
        time_index(Index.load(small_index), **kw)


def test_cli_bench_index_json_and_human(small_index, tmp_path, monkeypatch):
    """`posesearch bench --index` needs no benchmark suite (hidden here, as in a wheel)."""
    _hide_suite(monkeypatch, tmp_path)
    r = CliRunner().invoke(app, ["bench", "--index", str(small_index), "--count", "20", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["index"] == str(small_index) and d["queries"] == 20 and d["k"] == 10
    assert d["single_p99_ms"] >= d["single_median_ms"] > 0 and d["batch_queries_per_second"] > 0
    pose = np.concatenate([np.random.default_rng(2).uniform(0, 100, (3, 17, 2)), np.ones((3, 17, 1))], -1)
    np.save(tmp_path / "poses.npy", pose)                    # a (T, K, 3) sequence: 3 queries
    r = CliRunner().invoke(app, ["bench", "--index", str(small_index), "--queries", str(tmp_path / "poses.npy"),
                                 "-k", "3"])
    assert r.exit_code == 0, r.output
    assert "3 pose(s) from" in r.output and "median" in r.output and "queries/s" in r.output
    assert "weights: the poses' own confidences" in r.output


@pytest.mark.parametrize("args, needle", [
    (["--index", "{idx}", "--quick"], "--quick: applies to the benchmark suite"),
    (["--index", "{idx}", "--only", "search"], "--only: applies to the benchmark suite"),
    (["--index", "{idx}", "--queries", "{tmp}/none.json"], "none.json"),
    (["--index", "{idx}", "--queries", "{tmp}/p.npy", "--count", "5"], "--count: applies to queries drawn"),
    (["--index", "{tmp}/missing.h5"], "missing.h5"),
    (["-k", "5", "--quick"], "-k: applies to --index FILE only"),
    (["--queries", "many", "--quick"], "--queries: expected the number of held-out queries"),
])
def test_cli_bench_option_errors(small_index, tmp_path, args, needle):
    np.save(tmp_path / "p.npy", np.ones((17, 3)))
    args = [a.format(idx=small_index, tmp=tmp_path) for a in args]
    r = CliRunner().invoke(app, ["bench", *args, "--out", str(tmp_path / "out")] if "--index" not in args
                           else ["bench", *args])
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


# ------------------------------------------------------------------ scaling curves (bench_scaling.py)

def test_bench_scaling_tiny_run(tiny_data, tmp_path):
    """benchmarks/bench_scaling.py end to end at tiny sizes: one real-subset and one augmented size, both
    query sets answered and checked at every point, every figure of the table and plot recorded."""
    import bench_scaling

    out = tmp_path / "out"
    status = bench_scaling.main(["--quick", "--data", str(tiny_data), "--out", str(out), "--sizes", "1000,15000",
                                 "--queries", "6", "--max-size", "faiss-hnsw=1000"])
    assert status == 0
    res = json.loads((out / "scaling.json").read_text())
    assert res["failures"] == [] and res["data"]["query_sets"] == ["cross", "held-out"]
    assert res["data"]["real_frames"] < 15000          # the 15,000-frame corpus needs augmented poses
    got = {(r["name"], r["size"]) for r in res["rows"]}
    assert got == {("exact", 1000), ("exact", 15000), ("vptree", 1000), ("vptree", 15000), ("faiss-hnsw", 1000)}
    for r in res["rows"]:
        assert r["check_ok"] and set(r["query_sets"]) == {"cross", "held-out"}, r["name"]
        assert r["query_sets"]["cross"]["n"] == 6
        assert r["query_sets"]["held-out"]["n"] == res["data"]["held_out_queries"] >= 1   # Penn / COCO ones
        for qs in r["query_sets"].values():
            assert qs["p99_ms"] >= qs["median_ms"] > 0 and qs["recall@10"] >= 0.97
        assert r["raw_vectors_bytes"] == 34 * 4 * r["size"]
        assert r["index_bytes"] >= r["raw_vectors_bytes"]        # every index keeps at least its vectors
        assert r["peak_extra_with_queries_bytes"] >= r["build_peak_extra_bytes"] >= 0
        assert set(r["load_1min"]) == {"start", "after_build", "end"}
        assert r["origin"]["augmented"] == max(0, r["size"] - res["data"]["real_frames"])
    assert [t["met"] for t in res["targets"]] == [None, None, None]     # 10M not run: not measured, not met
    md = (out / "scaling.md").read_text()
    assert "| vptree | 15,000 |" in md and "not measured" in md and "faiss-hnsw above 1,000 frames" in md
    assert (out / "scaling.png").stat().st_size > 10_000


def test_bench_scaling_targets_at_10m():
    """The three issue-21 verdicts from a hand-made 10M row: build 250 s (met); memory: the build's extra
    2.5x the raw vectors but 3.5x with them (not met: both readings must hold); cross median 4 ms (met)."""
    import bench_scaling

    raw = 10_000_000 * 34 * 4
    row = {"name": "vptree", "size": 10_000_000, "build_seconds": 250.0, "first_query_seconds": 3.0,
           "raw_vectors_bytes": raw, "build_peak_extra_bytes": int(2.5 * raw),
           "peak_extra_with_queries_bytes": int(2.8 * raw), "load_1min": {"start": 1.0, "after_build": 2.0, "end": 2.0},
           "query_sets": {"cross": {"median_ms": 4.0, "p99_ms": 9.0, "n": 200}}}
    t = bench_scaling.targets([row])
    assert [x["met"] for x in t] == [True, False, True]
    assert "2.50x" in t[1]["measured"] and "3.50x" in t[1]["measured"] and "1.36 GB" in t[1]["target"]
    assert "p99 9.00 ms" in t[2]["measured"]
    row["build_peak_extra_bytes"] = int(1.5 * raw)
    row["query_sets"]["cross"]["median_ms"] = 6.0
    assert [x["met"] for x in bench_scaling.targets([row])] == [True, True, False]


def test_bench_vptree_profile_tiny_run(tiny_data, tmp_path):
    """benchmarks/bench_vptree_profile.py end to end at tiny sizes (a real subset and an augmented corpus):
    every answer checked against the exact backend (a wrong one fails the run), the search's counts
    consistent with the corpus (rows scanned at most the distinct rows, blocks at most the rows)."""
    import bench_vptree_profile

    out = tmp_path / "profile.json"
    assert bench_vptree_profile.main(["--quick", "--data", str(tiny_data), "--cache", str(tmp_path), "--sizes",
                                      "1000,15000", "--queries", "6", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [p["frames"] for p in res["points"]] == [1000, 15000]
    assert res["points"][1]["origin"]["augmented"] > 0
    for p in res["points"]:
        assert set(p["sets"]) == {"cross/real", "cross/estimator"} and p["scan_ns_per_row"] > 0
        for s in p["sets"].values():
            assert s["queries"] == 6 and s["cpu_p99_ms"] >= s["cpu_median_ms"] > 0
            assert 0 < s["rows_scanned_mean"] <= p["distinct_rows"] and 0 < s["rows_scanned_fraction"] <= 1
            assert 1 <= s["blocks_mean"] <= s["rows_scanned_mean"] and s["exact_mean"] >= 10
            assert s["batch_qps"] > 0
