"""Where posesearch keeps its caches: a per-user folder, never inside the installed package.

numba's ``cache=True`` writes compiled kernels next to their source by default, i.e. into
``site-packages/posesearch/**/__pycache__``. Those files outlive ``pip uninstall`` and the leftover folder
then shadows a later editable install. So before any kernel is compiled, posesearch points numba at a
per-user folder:

* ``NUMBA_CACHE_DIR``, when the user set it, is honoured as it is;
* else ``POSESEARCH_CACHE_DIR``/numba, when set;
* else the platform's user cache folder (``platformdirs.user_cache_dir("posesearch")``, e.g.
  ``~/.cache/posesearch/numba`` on Linux) /numba.

numba keys each entry by the full path of its source file, so several installs never share an entry.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_root() -> Path:
    """The per-user posesearch cache folder (not created here)."""
    env = os.environ.get("POSESEARCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_cache_dir
    except ImportError:  # pragma: no cover - platformdirs is a dependency; keep a sane fallback
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "posesearch"
    return Path(user_cache_dir("posesearch", appauthor=False))


def numba_cache_dir() -> Path:
    """The folder numba caches compiled kernels in: ``NUMBA_CACHE_DIR`` if set, else ``cache_root()/numba``."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return cache_root() / "numba"


def configure_numba_cache() -> Path:
    """Point numba's on-disk cache at :func:`numba_cache_dir` (before or after numba was imported)."""
    path = numba_cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    config = sys.modules.get("numba.core.config")
    if config is not None and getattr(config, "CACHE_DIR", "") != str(path):
        # numba read its environment at import already: its cache locators read config.CACHE_DIR at each
        # compilation, so setting it here still applies to every kernel posesearch compiles from now on.
        config.CACHE_DIR = str(path)
    return path


def numba_cache_subfolder(source_dir: Path) -> str:
    """The folder numba keeps the kernels of ``source_dir``'s modules in, inside the cache folder: the
    folder's name and the SHA-1 of its absolute path (numba's ``_CacheLocator.get_suitable_cache_subpath``)."""
    import hashlib

    sub = os.path.abspath(str(source_dir))
    return f"{os.path.basename(sub)}_{hashlib.sha1(sub.encode()).hexdigest()}"


def kernel_source_dirs() -> list[Path]:
    """The package folders whose modules hold cached numba kernels (a ``cache=True`` outside ``backquotes``)."""
    import re

    pattern = re.compile(r"(?<!``)\bcache=True\b")
    pkg = Path(__file__).resolve().parent
    found = set()
    for path in pkg.rglob("*.py"):
        if "__pycache__" in path.parts or path.parent in found:
            continue
        try:
            if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
                found.add(path.parent)
        except OSError:
            continue
    return sorted(found)


def kernel_cache_cold(cache_dir: Path | None = None) -> bool:
    """True when this install's compiled kernels are not in the cache yet (the first run compiles them:
    a minute or two): some kernel folder of the package has no numba index file (``*.nbi``) in
    ``cache_dir`` (default :func:`numba_cache_dir`). A few file-system look-ups; compiles nothing."""
    root = Path(cache_dir) if cache_dir is not None else numba_cache_dir()
    if not root.is_dir():
        return True
    for src in kernel_source_dirs():
        sub = root / numba_cache_subfolder(src)
        if not sub.is_dir() or not any(sub.glob("*.nbi")):
            return True
    return False
