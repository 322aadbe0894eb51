"""numba's compiled-kernel cache lives in a per-user folder, never inside the installed package (issue 15).

Writing it next to the sources (numba's default) left ``site-packages/posesearch/**/__pycache__`` behind after
``pip uninstall``, and that leftover folder shadowed a later editable install.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import posesearch

PKG = Path(posesearch.__file__).resolve().parent

# A batch large enough to take normalize_batch's compiled path (a numba kernel with cache=True).
SNIPPET = """
import numpy as np
import posesearch
from posesearch.poses.normalize import normalize_batch
from posesearch.poses.normalize import COMPILED_FROM
n = COMPILED_FROM + 1
kp = np.random.default_rng(0).random((n, 17, 2))
cf = np.ones((n, 17))
normalize_batch(kp, cf)
import numba
print(numba.config.CACHE_DIR)
"""


def _run(env_extra: dict[str, str], tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "POSESEARCH_CACHE_DIR")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", SNIPPET], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def _cache_files_in_package(since: float) -> list[Path]:
    return [p for p in PKG.rglob("*") if p.suffix in (".nbi", ".nbc") and p.stat().st_mtime >= since]


def test_kernels_cache_in_the_per_user_folder_not_the_package(tmp_path):
    start = time.time() - 1
    cache = tmp_path / "cache"
    used = _run({"POSESEARCH_CACHE_DIR": str(cache)}, tmp_path)
    assert Path(used) == cache / "numba"
    assert list((cache / "numba").rglob("*.nbi")), "numba wrote no cache entry to the per-user folder"
    assert _cache_files_in_package(start) == []


def test_numba_cache_dir_set_by_the_user_is_honoured(tmp_path):
    start = time.time() - 1
    mine = tmp_path / "mine"
    used = _run({"NUMBA_CACHE_DIR": str(mine), "POSESEARCH_CACHE_DIR": str(tmp_path / "other")}, tmp_path)
    assert Path(used) == mine
    assert list(mine.rglob("*.nbi"))
    assert not (tmp_path / "other").exists()
    assert _cache_files_in_package(start) == []


def test_numba_imported_first_is_redirected_too(tmp_path):
    snippet = "import numba\n" + SNIPPET
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["POSESEARCH_CACHE_DIR"] = str(tmp_path / "c")
    out = subprocess.run([sys.executable, "-c", snippet], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip().splitlines()[-1]) == tmp_path / "c" / "numba"
    assert list((tmp_path / "c" / "numba").rglob("*.nbi"))
