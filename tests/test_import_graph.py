"""The import graph of ``posesearch/`` stays acyclic and layered (issue 16).

Every module is parsed with :mod:`ast` (nothing is imported) and its imports are listed in two kinds:

* **module-level** imports run when the module is imported (also those in a module-level ``try`` or a
  class body); imports under ``if TYPE_CHECKING:`` never run and are ignored;
* **function-level** ("lazy") imports run when a function is called.

Rules:

1. No cycle among module-level imports.
2. Every module belongs to a layer of :data:`LAYERS`; an import, module-level or lazy, goes to the same
   layer or a lower one, never up. The one exception is :data:`ALLOWED_UPWARD` (each with its reason).
3. No cycle either when lazy imports are added (except through an allowed upward import): a lazy import
   hides a cycle from Python but not from a reader.
4. ``posesearch/`` does not import the benchmark code (``benchmarks/``, package ``posesearch_bench``);
   only ``posesearch bench`` loads it by name, at run time, when it is present.

The checker itself is tested on a tiny fake package in ``tmp_path`` (a planted cycle, an upward lazy
import, an unplaced module, a benchmark import): each fails, naming the modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "posesearch"

#: Layers, lowest first. A module belongs to the layer of its longest matching prefix (so
#: ``posesearch.sequence.score`` is in "score" while the rest of ``posesearch.sequence`` is in "sequence").
#:
#:   base      errors, text, name registry, files (open/check/atomic write), safe input reading
#:   poses     layouts, normalization, distances, mirror, Procrustes, pose files; view/ (camera geometry, 2D->3D lifting)
#:   pictures  skeleton drawing, match and clip pictures (duck-typed, so Matches.plot and Clip.plot call down)
#:   sequence  pose sequences: Sequence, sequence files, smoothing, resampling, alignment, frame distances
#:   video     video and image files -> Sequences (the optional video extra: decoding, pose model, cache, overlay)
#:   corpus    the corpus file, its readers (a reader may read sequence files: corpus is above sequence)
#:   index     nearest-pose search over a corpus (backends, kernels, index files, query preparation)
#:   shards    a sharded index: index files as shards of one, its manifest, fan-out and merge, Ray actors
#:   inputs    "any user input": pose, sequence or corpus clip, by path or object
#:   score     scoring a sequence against a reference (accepts any input), live sessions, plots
#:   search    clip search: a sequence's per-frame index hits aligned over time, then scored
#:   service   the HTTP / WebSocket service over the library (optional extra: FastAPI, uvicorn)
#:   app       the demo, the CLI and the package's front door (posesearch/__init__.py)
#:
#: i.e. poses -> corpus -> index -> search, and poses -> sequence -> ... -> score -> search.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("posesearch.errors", "posesearch.text", "posesearch._cache", "posesearch._lazy",
              "posesearch._version",
              "posesearch.registry", "posesearch.files", "posesearch.safeio")),
    ("poses", ("posesearch.poses", "posesearch.view")),
    ("pictures", ("posesearch.pictures",)),
    ("sequence", ("posesearch.sequence",)),
    ("video", ("posesearch.video",)),
    ("corpus", ("posesearch.corpus",)),
    ("index", ("posesearch.index",)),
    ("shards", ("posesearch.index.sharded", "posesearch.index.ray_shards")),
    ("inputs", ("posesearch.inputs",)),
    ("score", ("posesearch.sequence.score", "posesearch.sequence.stream", "posesearch.sequence.plot",
               "posesearch.sequence.reps", "posesearch.sequence.reps_plot", "posesearch.sequence.view",
               "posesearch.sequence.__init__")),
    ("search", ("posesearch.clipsearch",)),
    ("service", ("posesearch.service",)),
    ("app", ("posesearch.demo", "posesearch.cli", "posesearch.__init__")),
]

#: (importer, imported): lazy imports allowed to go up, and why.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("posesearch.index.index", "posesearch.clipsearch"):
        "Index.search_sequence, the README's entry point to clip search, delegates to it (a function-level "
        "import: clipsearch imports index at module level, so the reverse must stay lazy)",
    ("posesearch.index.index", "posesearch.index.sharded"):
        "Index.load opens a sharded index's manifest as one index (a ShardedIndex, which subclasses Index at "
        "module level, so the reverse import must stay lazy)",
}

#: top-level names of the benchmark code, which the library must not import
BENCHMARK_NAMES = ("benchmarks", "posesearch_bench")


# ----------------------------------------------------------------------------- the checker

def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ``package_dir``. A package's own name stands for its
    ``__init__.py`` (``posesearch.sequence``); :func:`layer_of` matches it as ``<name>.__init__``."""
    out = {}
    for p in sorted(package_dir.rglob("*.py")):
        parts = list(p.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str], set[str]]:
    """(module-level imports, function-level imports, every imported top-level name outside the package)
    of one module; imports are resolved to modules of ``modules`` (``from . import x`` names module x when
    x is a module, else the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top: set[str] = set()
    lazy: set[str] = set()
    external: set[str] = set()

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            external.update(a.name.split(".")[0] for a in node.names)
            return [a.name for a in node.names]
        if node.level:
            base = package.split(".")
            base = base[:len(base) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
            external.add(mod.split(".")[0])
        subs = [f"{mod}.{a.name}" for a in node.names]
        found = [s for s in subs if s in modules]
        return found if len(found) == len(subs) else found + [mod]

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for t in targets(child):
                    while t and t not in modules and "." in t:   # "import a.b.c" of a package: its module
                        t = t.rpartition(".")[0]
                    if t in modules and t != name:
                        (lazy if in_function else top).add(t)
            nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, in_function or nested)

    visit(tree, False)
    return top, lazy - top, external


def build_graph(package_dir: Path):
    """(modules, module-level graph, function-level graph, external names per module)."""
    modules = module_names(package_dir)
    top, lazy, ext = {}, {}, {}
    for name, path in modules.items():
        top[name], lazy[name], ext[name] = imports_of(name, path, modules)
    return modules, top, lazy, ext


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (each a cycle), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(out)


def layer_of(module: str, modules: dict[str, Path], layers) -> int | None:
    """Position in ``layers`` of the longest prefix matching ``module`` (None: not placed)."""
    key = module + ".__init__" if modules[module].name == "__init__.py" else module
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            if (key == p or key.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def check_package(package_dir: Path, layers, allowed_upward=None, benchmark_names=BENCHMARK_NAMES) -> list[str]:
    """Every rule broken by the package, one line each (empty: all kept)."""
    allowed_upward = allowed_upward or {}
    modules, top, lazy, ext = build_graph(package_dir)
    problems = []
    for cyc in find_cycles(top):
        problems.append("import cycle among module-level imports: " + " <-> ".join(cyc))
    layer = {m: layer_of(m, modules, layers) for m in modules}
    for m in sorted(modules):
        if layer[m] is None:
            problems.append(f"{m}: in no layer of LAYERS (add it where it belongs)")
    for kind, graph in (("module-level", top), ("function-level", lazy)):
        for m in sorted(graph):
            for t in sorted(graph[m]):
                if layer[m] is None or layer[t] is None or layer[t] <= layer[m]:
                    continue
                if kind == "function-level" and (m, t) in allowed_upward:
                    continue
                problems.append(f"{kind} import goes up the layers: {m} ({layers[layer[m]][0]}) imports "
                                f"{t} ({layers[layer[t]][0]})")
    both = {m: (top[m] | lazy[m]) - {t for (a, t) in allowed_upward if a == m} for m in modules}
    for cyc in find_cycles(both):
        if not any(set(cyc) <= set(c) for c in find_cycles(top)):
            problems.append("import cycle through function-level imports: " + " <-> ".join(cyc))
    for m in sorted(modules):
        bad = sorted(ext[m] & set(benchmark_names))
        if bad:
            problems.append(f"{m}: imports the benchmark code ({', '.join(bad)}); the library stands alone")
    for (a, t) in allowed_upward:
        if a in modules and t not in lazy.get(a, ()):
            problems.append(f"ALLOWED_UPWARD lists {a} -> {t}, which is no longer imported: remove the entry")
    return problems


# ----------------------------------------------------------------------------- the package

def test_posesearch_import_graph_is_acyclic_and_layered():
    problems = check_package(PACKAGE, LAYERS, ALLOWED_UPWARD)
    assert not problems, "\n".join(problems)


def test_index_does_not_import_sequence_or_clip_search_at_module_level():
    """Sequence search left index/ (issue 16.1): index/ imports neither sequence/ nor clip search at
    module level, and clip search reaches the index only through its public methods."""
    modules, top, lazy, _ = build_graph(PACKAGE)
    for m in modules:
        if m.startswith("posesearch.index"):
            assert not {t for t in top[m] | lazy[m] if t.startswith("posesearch.sequence")}, m
            assert "posesearch.clipsearch" not in top[m], m
    src = (PACKAGE / "clipsearch.py").read_text()
    assert "index._" not in src.replace("index.__", ""), "clip search uses a private Index member"


def test_readme_architecture_picture_shows_these_layers():
    """The README's picture (its one ``text`` block, under "## Architecture") names the layers of
    :data:`LAYERS`, top layer first, and every package it places exists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]
    picture = section.split("```text\n", 1)[1].split("```", 1)[0]
    names = [ln.split()[0] for ln in picture.splitlines() if ln.startswith("  ") and ln[2:3].isalpha()]
    assert names == [name for name, _ in reversed(LAYERS)]
    files = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    for word in picture.split():
        path = word.strip(",()")
        if "/" in path and path.strip("/"):     # a folder (cli/) or a file (sequence/score.py) of the package
            assert any(f"/{path}" in f"/{f}" for f in files), f"the README's picture names {path}: not found"


# ----------------------------------------------------------------------------- the checker, on fakes

def _fake(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "fake"
    for rel, text in {"__init__.py": "", **files}.items():
        p = pkg / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return pkg


FAKE_LAYERS = [("low", ("fake.low",)), ("high", ("fake.high", "fake.__init__"))]


def test_checker_passes_a_clean_package(tmp_path):
    pkg = _fake(tmp_path, {
        "low/__init__.py": "",
        "low/a.py": "import os\nfrom . import b\n",
        "low/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..high import c\n",
        "high/__init__.py": "",
        "high/c.py": "from ..low.a import x\n\ndef f():\n    from ..low import b\n",
    })
    assert check_package(pkg, FAKE_LAYERS) == []


def test_checker_fails_on_a_planted_module_level_cycle(tmp_path):
    pkg = _fake(tmp_path, {"low/__init__.py": "", "low/a.py": "from .b import y\n", "low/b.py": "from . import a\n"})
    problems = check_package(pkg, FAKE_LAYERS)
    assert problems == ["import cycle among module-level imports: fake.low.a <-> fake.low.b"]


def test_checker_fails_on_a_cycle_hidden_in_a_function(tmp_path):
    pkg = _fake(tmp_path, {"low/__init__.py": "", "low/a.py": "from .b import y\n",
                           "low/b.py": "def f():\n    from .a import x\n"})
    assert check_package(pkg, FAKE_LAYERS) == [
        "import cycle through function-level imports: fake.low.a <-> fake.low.b"]


def test_checker_fails_on_an_upward_import_unless_allowed(tmp_path):
    pkg = _fake(tmp_path, {"low/__init__.py": "", "low/a.py": "def f():\n    from ..high import c\n",
                           "high/__init__.py": "", "high/c.py": "import fake.low.a\n"})
    assert check_package(pkg, FAKE_LAYERS) == [
        "function-level import goes up the layers: fake.low.a (low) imports fake.high.c (high)",
        "import cycle through function-level imports: fake.high.c <-> fake.low.a"]
    assert check_package(pkg, FAKE_LAYERS, {("fake.low.a", "fake.high.c"): "why"}) == []
    (pkg / "low" / "a.py").write_text("from ..high import c\n")     # module-level: never allowed
    problems = check_package(pkg, FAKE_LAYERS, {("fake.low.a", "fake.high.c"): "why"})
    assert "import cycle among module-level imports: fake.high.c <-> fake.low.a" in problems
    assert "module-level import goes up the layers: fake.low.a (low) imports fake.high.c (high)" in problems


def test_checker_fails_on_an_unplaced_module_and_on_benchmark_imports(tmp_path):
    pkg = _fake(tmp_path, {"low/__init__.py": "", "low/a.py": "def f():\n    import posesearch_bench.runner\n",
                           "elsewhere.py": "from benchmarks import x\n"})
    assert check_package(pkg, FAKE_LAYERS) == [
        "fake.elsewhere: in no layer of LAYERS (add it where it belongs)",
        "fake.elsewhere: imports the benchmark code (benchmarks); the library stands alone",
        "fake.low.a: imports the benchmark code (posesearch_bench); the library stands alone"]


def test_checker_reports_a_stale_allowance(tmp_path):
    pkg = _fake(tmp_path, {"low/__init__.py": "", "low/a.py": "", "high/__init__.py": ""})
    assert check_package(pkg, FAKE_LAYERS, {("fake.low.a", "fake.high"): "why"}) == [
        "ALLOWED_UPWARD lists fake.low.a -> fake.high, which is no longer imported: remove the entry"]


@pytest.mark.parametrize("layer", [name for name, _ in LAYERS])
def test_every_layer_holds_a_module(layer):
    """A layer named here exists in the package (a renamed module is not silently unchecked)."""
    modules = module_names(PACKAGE)
    prefixes = dict(LAYERS)[layer]
    assert any(layer_of(m, modules, LAYERS) == [n for n, _ in LAYERS].index(layer) for m in modules), prefixes
