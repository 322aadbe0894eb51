"""Helpers of the service tests (tests/test_serve*.py, tests/test_readme.py): the sample index, and a real
``posesearch serve`` process on a free local port, stopped with SIGTERM."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE_CLIP = "cmu:002_05:yaw0"       # the reference of examples/user.json (its first 5 s)
SAMPLE_END = 5.0


def sample_index(folder: Path) -> Path:
    """An exact index (brute force: no build time) over the bundled sample corpus."""
    from posesearch.corpus import Corpus, sample_corpus_path
    from posesearch.index.index import Index

    with Corpus.open(sample_corpus_path()) as c:
        return Index.build(c, metric="weighted", backend="exact").save(folder / "sample_exact.h5")


def user_frames(doc: dict) -> tuple[list[list[list[float]]], list[float]]:
    """A pose-sequence document's frames as a client sends them (missing keypoints [0, 0, 0]) and times."""
    frames = [[k if k is not None else [0.0, 0.0, 0.0] for k in f] for f in doc["frames"]]
    times = doc.get("times") or [i / doc["fps"] for i in range(len(frames))]
    return frames, times


class Server:
    """``args`` (a posesearch command line that serves) run with ``--port 0``: :attr:`url` is the address it
    printed; :meth:`stop` sends SIGTERM and returns the exit status."""

    def __init__(self, args: list[str], cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
        cmd = [str(BIN / "posesearch"), *args, "--port", "0"]
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.url = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("serving on "):
                self.url = line.split()[2]
                break
        if self.url is None:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"{' '.join(cmd)} printed no address (exit {self.proc.returncode}):\n{out}\n{err}")

    def get(self, path: str, headers: dict | None = None):
        req = urllib.request.Request(self.url + path.lstrip("/"), headers=headers or {})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
            return r.status, (json.loads(body) if r.headers.get_content_type() == "application/json" else body)

    def stop(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.stderr = self.proc.stderr.read()
        return self.proc.returncode
