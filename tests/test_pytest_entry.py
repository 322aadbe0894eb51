"""Plain `pytest` (the console script, not only `python -m pytest`) collects the whole suite from the repo root.

`python -m pytest` puts the current folder on sys.path, so `from tests.conftest import ...` worked there only;
the console script does not, and collection failed with `ModuleNotFoundError: No module named 'tests'`.
pyproject's `[tool.pytest.ini_options] pythonpath = ["."]` makes both entry points see the same paths.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pytest_executable() -> str:
    exe = Path(sys.executable).with_name("pytest")          # the console script of this very environment
    if exe.exists():
        return str(exe)
    found = shutil.which("pytest")
    if found is None:
        pytest.skip("no `pytest` console script next to the interpreter or on PATH")
    return found


def test_plain_pytest_collects_every_test_file():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}    # nothing borrowed from the caller
    r = subprocess.run([_pytest_executable(), "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "error" not in out.lower().split("collected")[-1], out[-3000:]
    assert "tests/test_pytest_entry.py::test_plain_pytest_collects_every_test_file" in r.stdout
