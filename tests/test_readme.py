"""Every code block of README.md runs (issue 15): a README example that breaks fails this file.

How each fenced block is checked:

* ``bash``: the set-up blocks (a line with ``pip install``) must appear verbatim in ``.ci/run``, which runs
  them in a fresh virtual environment; their ``posesearch`` part (the demo) also runs here. Every other
  block runs line by line with ``bash -c`` in a fresh folder that holds ``examples/`` (and sits beside
  ``shared/data`` when the real data exist), each line exiting 0, in order (a block may use what its earlier
  lines wrote, never what another block wrote). A block that reads ``../shared/data`` is skipped with a reason
  when the data are absent. Placeholders (``[--json]``, ``...``, ``<FILE>``) are refused: every line must
  be a real command.
  A line that starts the service (``posesearch serve ...`` or ``posesearch demo --serve ...``) would run until
  stopped: it is started with ``--port 0`` appended (the documented port may be taken), must print the address
  it serves, answer ``GET /`` with the page and ``GET /v1/health``, and exit 0 on SIGTERM; the block is skipped
  with a reason when the ``serve`` extra (FastAPI) is not installed.
* ``python``: run as written with the same interpreter in such a folder; some blocks get their claims
  checked afterwards (the values their comments state).
* ``json``: parsed, then read as the format it documents (a pose file or a pose-sequence file) by the
  library's own readers.
* any other kind of block fails, so that a new one cannot go unchecked.

A block whose first comment is ``# needs the NAME extra`` runs only where that optional extra is installed
(:data:`EXTRA_MODULES`: the modules it brings) and is skipped with that reason elsewhere; CI's step for the
extra runs it (``.ci/steps/NAME.sh``).

Blocks that read the real data (the real-data tour ingests every dataset and builds two indexes; the
benchmark block runs ``bench --quick``: a few minutes each) are marked ``slow``; CI runs them too.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent
PLACEHOLDER = re.compile(r"\[--|\.\.\.|<[A-Za-z_]+>|\bPOSE_FILE\b")
LINE_TIMEOUT = 1800
#: ``# needs the NAME extra`` in a block: it runs only where the extra's modules import (EXTRA_MODULES)
EXTRA_MARK = re.compile(r"^#\s*needs the (\w+) extra\s*$", re.MULTILINE)
EXTRA_MODULES = {"video": ("cv2", "mediapipe")}


@dataclass
class Block:
    lang: str
    text: str
    line: int            # line number of the opening fence in README.md

    @property
    def id(self) -> str:
        first = next((ln for ln in self.text.splitlines() if ln.strip() and not ln.startswith("#")), "")
        return f"L{self.line}-{self.lang}-{re.sub(r'[^A-Za-z0-9]+', '_', first)[:40]}"

    @property
    def real_data(self) -> bool:
        """Reads ../shared/data: named in the block, or a benchmark run (it builds its corpus from there)."""
        return "../shared/data" in self.text or any(
            ln.startswith("posesearch bench") and "--index" not in ln for ln in command_lines(self.text))

    @property
    def extra(self) -> str | None:
        """The optional extra this block needs (``# needs the video extra``), or None."""
        m = EXTRA_MARK.search(self.text)
        return m.group(1) if m else None

    @property
    def setup(self) -> bool:
        return self.lang == "bash" and "pip install" in self.text


def readme_blocks(text: str) -> list[Block]:
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if m:
            start, body = i, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append(Block(m.group(1) or "(none)", "\n".join(body) + "\n", start + 1))
        i += 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def _params(kind=None):
    out = []
    for b in BLOCKS:
        if kind is not None and b.lang != kind:
            continue
        marks = [pytest.mark.slow] if b.real_data else []
        out.append(pytest.param(b, id=b.id, marks=marks))
    return out


def command_lines(block_text: str) -> list[str]:
    """The commands of a bash block: comments and blank lines dropped, one command per line."""
    out = []
    for raw in block_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        out.append(line)
    return out


def check_no_placeholder(line: str) -> None:
    code = line.split(" #")[0]
    m = PLACEHOLDER.search(code)
    assert m is None, f"README line has a placeholder {m.group(0)!r}, not a runnable command: {line}"


def skip_without_extra(block: Block) -> None:
    """Skip a block marked ``# needs the NAME extra`` when the extra's modules are not installed."""
    import importlib.util

    if block.extra is None:
        return
    assert block.extra in EXTRA_MODULES, f"README block at line {block.line} needs an unknown extra {block.extra!r}"
    missing = [m for m in EXTRA_MODULES[block.extra] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"README block at line {block.line} needs the {block.extra!r} extra "
                    f"(pip install -e \".[{block.extra}]\"); {', '.join(missing)} not installed")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COLUMNS")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"    # this environment's posesearch and python
    env["COLUMNS"] = "200"
    return env


def workdir(tmp_path: Path) -> Path:
    """A fresh folder like a checkout's root: examples/ inside, ../shared/data beside it when present."""
    work = tmp_path / "main"
    work.mkdir(parents=True)
    (work / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    if SHARED.exists():
        (tmp_path / "shared").symlink_to(SHARED.parent, target_is_directory=True)
    return work


def run_line(line: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**_env(), "TMPDIR": str(cwd.parent)}      # the demo's default temporary folder stays in tmp_path
    r = subprocess.run(["bash", "-c", f"set -o pipefail; {line}"], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=LINE_TIMEOUT)
    assert r.returncode == 0, (f"README line failed (exit {r.returncode}) in {cwd}:\n  {line}\n"
                               f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
    return r


SERVER_LINE = re.compile(r"^posesearch (serve\b|demo\b.*--serve\b)")


def run_server_line(line: str, cwd: Path) -> subprocess.CompletedProcess:
    """A README line that starts the service (see the module doc): started with ``--port 0``, checked, stopped."""
    from tests.serve_support import Server

    args = shlex.split(line.split(" #")[0])
    server = Server(args[1:], cwd=cwd, env={**_env(), "TMPDIR": str(cwd.parent)}, timeout=LINE_TIMEOUT)
    try:
        status, page = server.get("/")
        assert status == 200 and b"posesearch live" in page, f"README line {line}: / is not the page"
        status, health = server.get("/v1/health")
        assert status == 200 and health["status"] == "ok", health
    finally:
        code = server.stop()
    assert code == 0, f"README line exited {code} on SIGTERM: {line}\n{server.stderr[-3000:]}"
    return subprocess.CompletedProcess(args, code, server.url, server.stderr)


def run_bash_block(block: Block, cwd: Path) -> list[subprocess.CompletedProcess]:
    lines = command_lines(block.text)
    assert lines, f"README bash block at line {block.line} has no command"
    for line in lines:
        check_no_placeholder(line)
    return [run_server_line(line, cwd) if SERVER_LINE.match(line) else run_line(line, cwd) for line in lines]


# ----------------------------------------------------------------------------------------- bash

@pytest.mark.parametrize("block", _params("bash"))
def test_bash_block(block: Block, tmp_path):
    if block.setup:
        ci = (ROOT / ".ci" / "run").read_text()
        for line in command_lines(block.text):
            assert line in ci.splitlines() or f"run_readme_line '{line}'" in ci or line in ci, \
                f"README set-up command not run verbatim by .ci/run: {line}"
            # the posesearch part runs here too (pip installs are CI's job)
            parts = [p.strip() for p in line.split("&&")]
            rest = [p for p in parts if p.startswith("posesearch ")]
            for i, cmd in enumerate(rest):
                run_line(cmd, workdir(tmp_path / f"{block.line}-{i}"))
        return
    if block.real_data and not SHARED.exists():
        pytest.skip(f"README block at line {block.line} reads ../shared/data; not found at {SHARED}")
    skip_without_extra(block)
    if any(SERVER_LINE.match(ln) for ln in command_lines(block.text)):
        pytest.importorskip("fastapi", reason=f"README block at line {block.line} starts the service: needs the "
                                              "'serve' extra (pip install -e '.[serve]'; CI's serve step runs it)")
    results = run_bash_block(block, workdir(tmp_path))
    for line, r in zip(command_lines(block.text), results):
        if "--json" in shlex.split(line.split(" #")[0]):
            json.loads(r.stdout)                          # --json lines print one JSON document


def test_bash_block_failures_are_caught(tmp_path):
    """The harness fails on a failing line and on a placeholder (so a broken README block fails CI)."""
    work = workdir(tmp_path)
    with pytest.raises(AssertionError, match="README line failed"):
        run_bash_block(Block("bash", "posesearch query missing.h5 examples/pose.json\n", 0), work)
    with pytest.raises(AssertionError, match="placeholder"):
        run_bash_block(Block("bash", "posesearch info corpus.h5 [--json]\n", 0), work)
    with pytest.raises(AssertionError, match="placeholder"):
        run_bash_block(Block("bash", "posesearch query x.h5 POSE_FILE\n", 0), work)
    if importlib.util.find_spec("fastapi") is not None:   # a server line that does not start fails too
        with pytest.raises(AssertionError, match="printed no address"):
            run_bash_block(Block("bash", "posesearch serve missing.h5\n", 0), work)
    assert command_lines("# comment\n\nposesearch --help   # trailing comment\n") == [
        "posesearch --help   # trailing comment"]


# --------------------------------------------------------------------------------------- python

# checks appended to a python block (selected by a line the block contains): what its comments claim
PYTHON_CLAIMS = {
    'clips = index.search_sequence("examples/user.json"': """
assert clips, clips.reason
assert clips.best.clip_id == "cmu:002_05:yaw0" and clips.best.mirrored, clips.best
assert clips.best.start_time < 0.5 and abs(clips.best.end_time - 4.97) < 0.5, clips.best   # truth: 0-4.97 s
assert m.clip_ids[0][0] == "cmu:002_05:yaw45" and m.frames[0][0] == 400, (m.clip_ids[0], m.frames[0])
import os
assert os.path.isfile("indexes/sample.h5") and os.path.isfile("person.json")
assert 90 <= report.score <= 100 and report.mirrored, report.score
assert update.score is not None and final.score == ps.score_sequence(reference, user).score, final.score
""",
}


PY_WRITES = re.compile(r'(?:export_clip\([^,]+,|\.save\(|\.ingest\(|write_\w+\()\s*"([^"]+)"')


def test_python_block_keeps_the_tour_files():
    """A reader who follows the tour and then the Python block must not lose the files the tour made:
    the Python block once exported a one-frame COCO still over the tour's walk clip.json (issue 15)."""
    tour = {m.group(1) for b in BLOCKS if b.lang == "bash" and not b.setup
            for m in re.finditer(r"--out\s+(\S+)", b.text)}
    assert "clip.json" in tour
    seen = set()
    for b in (b for b in BLOCKS if b.lang == "python"):
        written = set(PY_WRITES.findall(b.text))
        seen |= written
        assert not written & tour, f"python block at line {b.line} overwrites {sorted(written & tour)} of the tour"
    assert {"mine.h5", "indexes/sample.h5"} <= seen, seen     # the pattern still finds the block's writes


@pytest.mark.parametrize("block", _params("python"))
def test_python_block(block: Block, tmp_path):
    if block.real_data and not SHARED.exists():
        pytest.skip(f"README block at line {block.line} reads ../shared/data; not found at {SHARED}")
    skip_without_extra(block)
    assert not PLACEHOLDER.search(re.sub(r"#.*", "", block.text)), f"placeholder in the python block at line {block.line}"
    code = block.text + "".join(v for k, v in PYTHON_CLAIMS.items() if k in block.text)
    work = workdir(tmp_path)
    (work / "readme_block.py").write_text(code)
    r = subprocess.run([sys.executable, "readme_block.py"], cwd=work, env=_env(), capture_output=True, text=True,
                       timeout=LINE_TIMEOUT)
    assert r.returncode == 0, f"README python block at line {block.line} failed:\n{r.stderr[-4000:]}"


# ----------------------------------------------------------------------------------------- json

@pytest.mark.parametrize("block", _params("json"))
def test_json_block(block: Block, tmp_path):
    import posesearch as ps

    doc = json.loads(block.text)        # a documented format must be valid JSON
    path = tmp_path / "block.json"
    path.write_text(block.text)
    if "frames" in doc:
        seq = ps.read_sequence(path)
        assert len(seq) == len(doc["frames"]) and seq.layout.name == doc.get("layout", seq.layout.name)
        if "times" in doc:
            assert list(seq.times) == pytest.approx(doc["times"])
    elif "keypoints" in doc:
        poses = ps.read_pose_file(path)
        assert len(poses) == 1 and poses.layout.name == doc.get("layout", poses.layout.name)
        missing = [i for i, k in enumerate(doc["keypoints"]) if k is None]
        assert all(poses.confidences[0][i] == 0 for i in missing)
    else:
        pytest.fail(f"README json block at line {block.line} is neither a pose file nor a sequence file")


# ---------------------------------------------------------------------------------- other blocks

def test_every_block_is_of_a_checked_kind():
    kinds = {b.lang for b in BLOCKS}
    # text: only the architecture picture, which tests/test_import_graph.py checks against its LAYERS
    assert kinds <= {"bash", "python", "json", "text"}, f"README has blocks no test runs: {sorted(kinds)}"
    assert sum(b.lang == "text" for b in BLOCKS) <= 1, "a second text block: nothing checks it"
    assert sum(b.setup for b in BLOCKS) == 2


# ----------------------------------------------------------------------------------- the examples

def test_examples_are_what_the_script_makes(tmp_path):
    """examples/ is reproducible from the bundled sample (scripts/make_examples.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "scripts" / "make_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for p in mod.make(tmp_path):
        assert p.read_bytes() == (ROOT / "examples" / p.name).read_bytes(), p.name


def test_extra_marked_blocks_skip_without_their_extra(monkeypatch):
    """A block marked ``# needs the video extra`` skips (never fails) where the extra is missing, and the
    README's video block carries the mark."""
    import importlib.util

    block = Block("bash", "# needs the video extra\nposesearch extract x.mp4 --out x.json\n", 0)
    assert block.extra == "video" and Block("bash", "posesearch --help\n", 0).extra is None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mediapipe" else real(name, *a))
    with pytest.raises(pytest.skip.Exception, match="needs the 'video' extra.*mediapipe not installed"):
        skip_without_extra(block)
    assert any(b.extra == "video" and "posesearch extract" in b.text for b in BLOCKS)
