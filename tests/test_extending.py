"""Extending posesearch: backends and readers come from their registries, and saying when a backend is
exact has one home (Backend.exact_for)."""
from __future__ import annotations

import pytest

from posesearch.corpus.readers import READERS, get_reader
from posesearch.index.backend import Backend
from posesearch.index.fileformat import build_recall
from posesearch.index.registry import BACKENDS


@pytest.mark.parametrize("name", list(BACKENDS))
def test_no_backend_has_the_old_exact_flag_or_property(name):
    cls = BACKENDS[name].load()
    assert issubclass(cls, Backend)
    assert "exact" not in vars(cls) and "is_exact" not in vars(cls) and not hasattr(BACKENDS[name], "exact")


@pytest.mark.parametrize("backend, metric, params, exact", [
    ("exact", "weighted", None, True), ("vptree", "cosine", {}, True),
    ("faiss", "weighted", None, False), ("faiss", "cosine", {"kind": "flat"}, True),
    ("faiss", "cosine", {"kind": "ivf"}, False),
    ("vptree-pypi", "weighted", None, False), ("vptree-pypi", "cosine", None, True),
])
def test_exact_for_is_the_one_answer(backend, metric, params, exact):
    cls = BACKENDS[backend].load()
    assert cls.exact_for(metric, params) is exact
    if params is not None:
        assert cls.exact_for(metric, cls.Params(**params)) is exact
    # the index file summary asks the same question: before, vptree-pypi + cosine (exact, so no recall
    # was measured at build) was reported as approximate and "not measured"
    attrs = {"backend": backend, "metric": metric, "backend_params": params or {}}
    assert build_recall(attrs) == ({"exact": True} if exact else {"exact": False, "measured": False})


# ------------------------------------------------------------------ a new backend: one class, one registry line
# (README "Adding an index backend" shows the same steps)
import dataclasses  # noqa: E402

import numpy as np  # noqa: E402

from posesearch.index.backend import option  # noqa: E402
from posesearch.index.registry import BackendSpec  # noqa: E402


@dataclasses.dataclass(frozen=True)
class ToyParams:
    chunk: int = option(4096, "rows compared per numpy step (4096).")


class ToyBackend(Backend):
    """Brute force in numpy: every frame's distance, then the k smallest (ties by smaller row)."""

    name = "toy"
    Params = ToyParams

    @classmethod
    def exact_for(cls, metric, params=None) -> bool:
        return True

    @classmethod
    def build(cls, data, metric, params, *, build_weights=None, progress=None):
        return cls(data, metric, params)

    def knn(self, queries, weights, k):
        x = self.data.astype(np.float64)
        rows, dists = [], []
        for b, q in enumerate(queries):
            if self.metric == "weighted":
                w = np.ones(x.shape[1] // 2) if weights is None else weights[b]
                e = np.abs(x - q)
                d = ((e[:, 0::2] + e[:, 1::2]) * w).sum(axis=1) / w.sum()
            else:
                d = np.sqrt(((x - q) ** 2).sum(axis=1))
            order = np.lexsort((np.arange(len(d)), d))[:k]
            rows.append(order)
            dists.append(d[order])
        return np.asarray(rows, np.int64), np.asarray(dists, np.float64)


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(BACKENDS, "toy", BackendSpec("toy", __name__, "ToyBackend", "numpy brute force (a test)"))
    yield


def test_a_registered_backend_is_everywhere(toy_registered, tmp_path):
    import typer
    from typer.testing import CliRunner

    from index_testdata import backend_settings, coco_clips, make_corpus, random_poses
    from posesearch.cli import index as index_cli
    from posesearch.index import Index

    # the backend test list (tests/index_testdata.backend_settings) and the exact settings include it
    assert ("toy", {}) in backend_settings() and ("toy", {}) in backend_settings(exact_for=("weighted", "cosine"))
    # the CLI: --backend help, its own flag, and a build + query through it
    app = typer.Typer()
    index_cli.register(app)
    runner = CliRunner()
    out = runner.invoke(app, ["build", "--help"], env={"COLUMNS": "200"}).output
    assert "toy (exact)" in out and "--chunk" in out and "toy: rows compared per numpy step" in out
    rng = np.random.default_rng(5)
    kp, cf = random_poses(rng, 300)
    corpus = make_corpus(tmp_path / "c.h5", coco_clips(kp, cf))
    res = runner.invoke(app, ["build", str(corpus), "--backend", "toy", "--chunk", "64", "-o", str(tmp_path / "i.h5"),
                              "--json"])
    assert res.exit_code == 0, res.output
    bad = runner.invoke(app, ["build", str(corpus), "--backend", "vptree", "--chunk", "64"])
    assert bad.exit_code == 2 and "option --chunk does not apply to backend 'vptree'" in bad.output
    # and it answers as the reference does
    idx = Index.load(tmp_path / "i.h5")
    assert idx.backend_name == "toy" and idx.params == {"chunk": 64} and idx.exact
    ref = Index.build(idx.data, metric="weighted", backend="exact")
    q = idx.data[:5].astype(np.float64) + 0.01
    got, want = idx.search_vectors(q, 7), ref.search_vectors(q, 7)
    np.testing.assert_allclose(got.distances, want.distances, rtol=0, atol=1e-12)


def test_backend_flags_come_from_the_params_dataclasses():
    import typer
    from typer.testing import CliRunner

    from posesearch.cli import index as index_cli

    app = typer.Typer()
    index_cli.register(app)
    out = CliRunner().invoke(app, ["build", "--help"], env={"COLUMNS": "200"}).output
    for spec in BACKENDS.values():
        for f in dataclasses.fields(spec.load().Params):
            if "help" in f.metadata:
                assert (f.metadata["flag"] or "--" + f.name.replace("_", "-")) in out, f.name
    assert "vptree: vantage point choice; faiss: IVF k-means." in out   # a shared field: one flag, both helps


@pytest.mark.parametrize("texts, want", [
    (["a=1", "b-c=[0, 45]", "d=true", "e=text", "f=1=2", "g="], {"a": 1, "b_c": [0, 45], "d": True, "e": "text",
                                                                "f": "1=2", "g": ""}),
    ([], {}), (None, {}),
])
def test_one_key_value_parser(texts, want):
    from posesearch.cli.options import parse_key_values

    assert parse_key_values(texts, "--option") == want


@pytest.mark.parametrize("text", ["novalue", "=5"])
def test_key_value_parser_refuses(text):
    from posesearch.cli.options import parse_key_values
    from posesearch.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=r"^--param: expected KEY=VALUE"):
        parse_key_values([text], "--param")


# ------------------------------------------------------------------------------------------ readers
@pytest.mark.parametrize("fmt", list(__import__("posesearch.corpus.readers", fromlist=["READERS"]).READERS))
def test_every_registered_reader_follows_the_protocol(fmt):
    import inspect

    from posesearch.corpus.readers import Reader, get_reader

    mod = get_reader(fmt)
    assert isinstance(mod, Reader) and mod.FORMAT == fmt and mod.DESCRIPTION
    for fn in (mod.read, getattr(mod, "read_batches", mod.read)):
        params = list(inspect.signature(fn).parameters.values())
        assert params[0].name == "paths" and all(p.kind == p.KEYWORD_ONLY for p in params[1:]), fmt


def test_readme_tables_are_generated_from_the_registries():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "scripts" / "readme_tables.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    from posesearch.corpus.readers import formats_table
    from posesearch.index.registry import backends_table

    readme = (root / "README.md").read_text(encoding="utf-8")
    assert backends_table() in readme and formats_table() in readme


def test_a_registered_backend_gets_a_readme_row(toy_registered):
    from posesearch.index.registry import backends_table

    assert "| `toy` | yes | numpy brute force (a test) |" in backends_table().split("\n")


def test_reader_flags_come_from_the_readers(monkeypatch):
    import sys
    import types

    import typer
    from typer.testing import CliRunner

    from posesearch.cli import ingest as ingest_cli
    from posesearch.corpus.readers import READERS, get_reader

    toy = types.ModuleType("toy_reader")

    @dataclasses.dataclass(frozen=True)
    class Options:
        stride: int = option(1, "keep every n-th frame")
        fps: float = 30.0

    def read(paths, *, stride: int = Options.stride, fps: float = Options.fps):
        return iter(())

    toy.FORMAT, toy.DESCRIPTION, toy.Options, toy.read = "toy", "a test reader", Options, read
    monkeypatch.setitem(sys.modules, "toy_reader", toy)
    monkeypatch.setitem(READERS, "toy", "toy_reader")
    app = typer.Typer()
    ingest_cli.register(app)
    out = CliRunner().invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"}).output
    assert f"| {list(READERS)[-2]} | toy." in out and "toy: keep every n-th frame." in out and "--stride" in out
    for fmt in READERS:
        for f in dataclasses.fields(get_reader(fmt).Options):
            if "help" in f.metadata:
                assert "--" + f.name.replace("_", "-") in out, (fmt, f.name)
    assert "--skip-tpose" not in out and "--batch-size" not in out     # fields without option(): -O only


@pytest.mark.parametrize("fmt", list(READERS))
def test_reader_options_dataclass_is_its_signature(fmt):
    """A reader's Options dataclass is the one home of its options: read (and read_batches) take exactly
    its fields as keyword-only parameters, with its defaults (read may leave out batching-only ones)."""
    import inspect

    mod = get_reader(fmt)
    fields = {f.name: f.default for f in dataclasses.fields(mod.Options)}
    for fn in (getattr(mod, "read_batches", None), mod.read):
        if fn is None:
            continue
        params = {n: p.default for n, p in inspect.signature(fn).parameters.items() if p.kind == p.KEYWORD_ONLY}
        assert params.items() <= fields.items(), (fmt, fn.__name__, params, fields)
        if fn.__name__ == "read_batches" or not hasattr(mod, "read_batches"):
            assert params == fields, (fmt, fn.__name__)


def test_listing_backends_and_readers_for_the_cli_stays_light():
    """The CLI builds its flags from every backend and reader at start; that must not load numba, FAISS,
    h5py or the Index (posesearch --help took 0.6 s before the flags were generated, and 1.1 s when the
    backends' numba kernels and the index package came along)."""
    import subprocess
    import sys

    code = ("import sys, posesearch.cli.app; "
            "print(sorted(m for m in ('numba', 'faiss', 'h5py', 'posesearch.index.index') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
