"""Atomic writes: a killed or failed ingest leaves the previous corpus intact and verifiable."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from posesearch.corpus import Clip, Corpus
from posesearch.files.atomic import AtomicFile
from posesearch.errors import FileFormatError, InvalidPoseError


def clips(rng, n, prefix="c", T=20):
    for i in range(n):
        yield Clip(f"{prefix}{i}", rng.uniform(0, 100, (T, 17, 2)), np.ones((T, 17)), "coco17", fps=30,
                   source="gen", labels={"i": str(i)})


def _base(tmp_path, rng):
    path = tmp_path / "c.h5"
    s = Corpus.ingest(path, clips(rng, 30))
    return path, s.checksum


SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from posesearch.corpus import Clip, Corpus
    from posesearch.corpus import writer
    writer.FLUSH_FRAMES = 2000          # write to the temporary file often
    rng = np.random.default_rng(0)
    def gen():
        for i in range(100000):
            yield Clip(f"new{i}", rng.uniform(0, 100, (100, 17, 2)), np.ones((100, 17)), "coco17", fps=30)
            if i % 20 == 0:
                print(i, flush=True)
                time.sleep(0.01)
    Corpus.ingest(sys.argv[1], gen(), append=True)
    print("finished", flush=True)
""")


def test_sigkill_midway_leaves_previous_corpus(tmp_path, rng):
    path, checksum = _base(tmp_path, rng)
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        tmp_seen = False
        for line in proc.stdout:
            assert line.strip() != "finished"
            temps = [p for p in tmp_path.iterdir() if "posesearch-tmp-" in p.name]
            if int(line) >= 200 and temps and temps[0].stat().st_size > path.stat().st_size:
                tmp_seen = True  # the append is midway: its temporary file holds new frames
                break
            assert time.time() < deadline, "ingest subprocess made no progress"
        assert tmp_seen
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    with Corpus.open(path) as c:
        assert len(c) == 600 and c.num_clips == 30 and c.checksum == checksum
        assert c.verify()["checksum"] == checksum
    # the dead writer's temporary is removed by the next writer; its lock died with it
    assert any("posesearch-tmp-" in p.name for p in tmp_path.iterdir())
    s = Corpus.append(path, clips(rng, 2, prefix="after"))
    assert s.total_clips == 32
    assert not any("posesearch-tmp-" in p.name for p in tmp_path.iterdir())
    with Corpus.open(path) as c:
        c.verify()


def test_exception_midway_leaves_previous_corpus(tmp_path, rng):
    path, checksum = _base(tmp_path, rng)

    def gen():
        yield from clips(rng, 5000, prefix="n")  # more than one flush
        yield Clip("broken", np.zeros((3, 13, 2)), np.ones((3, 13)), "coco17", source="broken.json")

    from posesearch.corpus import writer
    old = writer.FLUSH_FRAMES
    writer.FLUSH_FRAMES = 4096
    try:
        with pytest.raises(InvalidPoseError, match="'broken' \\(broken.json\\)"):
            Corpus.append(path, gen())
    finally:
        writer.FLUSH_FRAMES = old
    with Corpus.open(path) as c:
        assert c.num_clips == 30 and c.checksum == checksum
        c.verify()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]


def test_keyboard_interrupt_in_writer_discards(tmp_path, rng):
    path, checksum = _base(tmp_path, rng)
    with pytest.raises(KeyboardInterrupt):
        with Corpus.writer(path, append=True) as w:
            w.add_many(clips(rng, 3, prefix="k"))
            raise KeyboardInterrupt
    assert Corpus.info(path)["checksum"] == checksum


def test_second_writer_is_refused(tmp_path, rng):
    path, _ = _base(tmp_path, rng)
    with Corpus.writer(path, append=True) as w:
        w.add_many(clips(rng, 1, prefix="x"))
        assert (tmp_path / ".c.h5.lock").exists()
        with pytest.raises(FileFormatError, match="another process is writing"):
            Corpus.writer(path, append=True)
    assert not (tmp_path / ".c.h5.lock").exists()  # released and removed
    with Corpus.open(path) as c:
        assert c.num_clips == 31


def test_lock_retries_when_its_file_was_replaced(tmp_path, monkeypatch):
    """Opening the lock file just before its previous holder removed it must not count as holding it."""
    from posesearch.files import atomic

    class RacingOs:
        calls = 0

        def __getattr__(self, name):
            return getattr(os, name)

        def open(self, path, flags, mode=0o777):
            fd = os.open(path, flags, mode)
            if self.calls == 0:  # the previous holder unlinks it, a new writer creates a fresh one
                os.unlink(path)
                os.close(os.open(path, os.O_CREAT | os.O_RDWR))
            self.calls += 1
            return fd

    racing = RacingOs()
    monkeypatch.setattr(atomic, "os", racing)
    lock = atomic.WriterLock(tmp_path / "x.h5").acquire()
    assert racing.calls == 2  # the stale descriptor was dropped and the current file locked
    monkeypatch.undo()
    with pytest.raises(FileFormatError, match="another process is writing"):
        atomic.WriterLock(tmp_path / "x.h5").acquire()
    lock.release()
    assert not lock.path.exists()


def test_atomic_file_abort_and_commit(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    a = AtomicFile(target, copy_existing=True)
    assert a.tmp.read_bytes() == b"old"
    a.tmp.write_bytes(b"new")
    a.abort()
    assert target.read_bytes() == b"old" and not a.tmp.exists()
    a = AtomicFile(target)
    a.tmp.write_bytes(b"new")
    a.commit()
    assert target.read_bytes() == b"new" and not a.tmp.exists()


# --- one home for posesearch files (issue 16.2) ----------------------------------------------------------

def test_write_pose_file_goes_through_the_atomic_writer(tmp_path):
    """write_pose_file wrote with Path.write_text: a read-only file was silently replaced (as root) and a
    folder gave IsADirectoryError. Now it is an atomic write with the same refusals as every other file."""
    import numpy as np

    from posesearch.errors import FileFormatError
    from posesearch.poses.io import read_pose_file, write_pose_file

    kp, cf = np.arange(34, dtype=float).reshape(17, 2), np.ones(17)
    out = tmp_path / "pose.json"
    write_pose_file(out, kp, cf)
    assert np.allclose(read_pose_file(out).keypoints[0], kp)
    out.chmod(0o444)
    with pytest.raises(FileFormatError, match="is read-only"):
        write_pose_file(out, kp + 1, cf)
    assert np.allclose(read_pose_file(out).keypoints[0], kp)
    with pytest.raises(FileFormatError, match="is a folder, expected a file path"):
        write_pose_file(tmp_path, kp, cf)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pose.json"]     # no temporary left behind


def test_corpus_and_index_carry_the_same_version_stamp(tmp_path):
    """created_by came from two functions (posesearch.__version__ vs the installed distribution's metadata);
    now both files say ``posesearch <posesearch.__version__>``."""
    import numpy as np

    import posesearch as ps
    from posesearch.corpus import Corpus
    from posesearch.corpus.clip import Clip
    from posesearch.files import made_by

    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, (4, 17, 2))
    clip = Clip("c", kp, np.ones((4, 17)), "coco17", fps=10.0)
    corpus = Corpus.ingest(tmp_path / "c.h5", [clip])
    index = ps.Index.build(corpus.path, backend="exact").save(tmp_path / "i.h5")
    assert made_by() == f"posesearch {ps.__version__}"
    assert Corpus.info(corpus.path)["created_by"] == made_by() == ps.Index.metadata(index)["created_by"]
