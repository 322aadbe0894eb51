"""Writing files safely (issue 15, trust 5 and 6): modes, umask, read-only and symlinked targets, outputs
that are inputs, folders given as --out, temporary files of killed writers, concurrent writers."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from index_testdata import corpus_fixtures
from posesearch.cli.app import app
from posesearch.corpus import Clip, Corpus
from posesearch.files.atomic import AtomicFile, WriterLock, atomic_write, clean_stale_temps, output_path
from posesearch.errors import FileFormatError, InvalidArgumentError, PoseSearchError
from posesearch.index import Index
from posesearch.sequence.io import write_sequence

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def err(result) -> str:
    return result.stderr if result.stderr_bytes is not None else result.output


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    text = err(result).strip()
    assert "Traceback" not in result.output and len(text.splitlines()) == 1, text
    return text


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


poses, corpus = corpus_fixtures(5, 120)


def a_sequence():
    from posesearch.sequence import Sequence

    rng = np.random.default_rng(2)
    return Sequence.from_arrays(np.concatenate([rng.uniform(0, 100, (4, 17, 2)), np.ones((4, 17, 1))], axis=-1),
                                layout="coco17", fps=30.0)


def small_clips(prefix="x", n=2):
    rng = np.random.default_rng(1)
    return [Clip(f"{prefix}{i}", rng.uniform(0, 100, (5, 17, 2)), np.ones((5, 17)), "coco17", fps=30)
            for i in range(n)]


# --- modes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_follow_the_umask(tmp_path, mask, expected):
    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "a.bin", lambda f: f.write(b"x"))
        write_sequence(tmp_path / "s.json", a_sequence())
        Corpus.ingest(tmp_path / "c.h5", small_clips())
        Index.build(np.eye(34, dtype=np.float32)[:4] + 0.1, backend="exact").save(tmp_path / "i.h5")
    finally:
        os.umask(old)
    for name in ("a.bin", "s.json", "c.h5", "i.h5"):
        assert mode(tmp_path / name) == expected, name


@pytest.mark.parametrize("kept", [0o600, 0o640, 0o664])
def test_rewrite_keeps_the_existing_mode(tmp_path, kept, umask_022):
    path = tmp_path / "c.h5"
    Corpus.ingest(path, small_clips("a"))
    os.chmod(path, kept)
    Corpus.append(path, small_clips("b"))                       # append: rewrite from a copy
    assert mode(path) == kept
    Corpus.ingest(path, small_clips("c"), overwrite=True)       # overwrite: a new file in its place
    assert mode(path) == kept
    seq = tmp_path / "s.bin"
    atomic_write(seq, lambda f: f.write(b"1"))
    os.chmod(seq, kept)
    atomic_write(seq, lambda f: f.write(b"2"))
    assert mode(seq) == kept and seq.read_bytes() == b"2"


def test_temporary_is_private_while_written(tmp_path, umask_022):
    target = tmp_path / "f.bin"
    a = AtomicFile(target)
    assert mode(a.tmp) == 0o600      # a 0600 target's data never sit in a world-readable file
    a.tmp.write_bytes(b"new")
    a.commit()
    assert mode(target) == 0o644


def test_read_only_file_is_refused(tmp_path, corpus):
    os.chmod(corpus, 0o444)
    before = corpus.read_bytes()
    with pytest.raises(FileFormatError, match=r"read-only \(mode 0444\)"):
        Corpus.ingest(corpus, small_clips(), overwrite=True)
    with pytest.raises(FileFormatError, match="read-only"):
        Corpus.append(corpus, small_clips())
    with pytest.raises(FileFormatError, match="read-only"):
        atomic_write(corpus, lambda f: f.write(b"x"))
    assert corpus.read_bytes() == before and mode(corpus) == 0o444
    out = corpus.parent / "i.h5"
    assert run("build", corpus, "--backend", "exact", "--out", out).exit_code == 0
    os.chmod(out, 0o444)
    text = one_line_error(run("build", corpus, "--backend", "exact", "--out", out, "--overwrite"))
    assert "read-only" in text and str(out) in text


# --- symlinks -------------------------------------------------------------------------------------

def test_symlinked_output_is_written_through(tmp_path, corpus):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "i.h5"
    link = tmp_path / "link.h5"
    real.write_bytes(b"old")
    link.symlink_to(real)
    r = run("build", corpus, "--backend", "exact", "--out", link, "--overwrite")
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == str(real)      # the link stays a link
    assert Index.load(real).backend_name == "exact"                    # its target was replaced
    assert not [p for p in real_dir.iterdir() if p.name != "i.h5"]   # no temporaries or locks left
    # a sequence or plot file through a link too
    t = tmp_path / "t.bin"
    t.write_bytes(b"a")
    ln = tmp_path / "ln.bin"
    ln.symlink_to(t)
    atomic_write(ln, lambda f: f.write(b"b"))
    assert ln.is_symlink() and t.read_bytes() == b"b"


# --- outputs that are inputs -----------------------------------------------------------------------

def test_build_refuses_to_overwrite_its_corpus(tmp_path, corpus):
    before = corpus.read_bytes()
    text = one_line_error(run("build", corpus, "--backend", "exact", "--out", corpus, "--overwrite"))
    assert "is the input" in text
    link = tmp_path / "alias.h5"
    link.symlink_to(corpus)
    one_line_error(run("build", corpus, "--backend", "exact", "--out", link, "--overwrite"))
    hard = tmp_path / "hard.h5"
    os.link(corpus, hard)
    one_line_error(run("build", hard, "--backend", "exact", "--out", corpus, "--overwrite"))
    idx = Index.build(corpus, backend="exact")
    with pytest.raises(InvalidArgumentError, match="is the input"):
        idx.save(link)
    assert corpus.read_bytes() == before
    Corpus.open(corpus).verify()


def test_ingest_refuses_to_overwrite_a_source(tmp_path):
    src = tmp_path / "seq.json"
    frames = [[[float(10 + j + i), float(20 + 2 * j), 1.0] for j in range(17)] for i in range(6)]
    src.write_text(json.dumps({"layout": "coco17", "fps": 30, "frames": frames}))
    before = src.read_bytes()
    text = one_line_error(run("ingest", src, "--format", "sequence", "--out", src, "--overwrite"))
    assert "is the input" in text and src.read_bytes() == before
    link = tmp_path / "l.json"
    link.symlink_to(src)
    one_line_error(run("ingest", src, "--format", "sequence", "--out", link, "--overwrite"))
    assert src.read_bytes() == before
    assert run("ingest", src, "--format", "sequence", "--out", tmp_path / "ok.h5").exit_code == 0


# --- folders as --out ----------------------------------------------------------------------------------

def test_build_out_folder_writes_inside_it(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "idx").mkdir()
    r = run("build", corpus, "--backend", "exact", "--out", "idx/")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "idx" / "c-exact-weighted.h5").is_file()
    r = run("build", corpus, "--backend", "exact", "--metric", "cosine", "--out", "idx")   # existing folder
    assert r.exit_code == 0 and (tmp_path / "idx" / "c-exact-cosine.h5").is_file()
    text = one_line_error(run("build", corpus, "--backend", "exact", "--out", "missing/"))
    assert "folder does not exist" in text
    assert not (tmp_path / "missing").exists()


def test_ingest_out_folder_is_refused(tmp_path):
    src = tmp_path / "seq.json"
    frames = [[[float(10 + j), float(20 + 2 * j), 1.0] for j in range(17)]]
    src.write_text(json.dumps({"layout": "coco17", "fps": 30, "frames": frames}))
    (tmp_path / "out").mkdir()
    for out in ("out", "out/", "nothere/"):
        text = one_line_error(run("ingest", src, "--format", "sequence", "--out", tmp_path / out if out == "out"
                                  else str(tmp_path) + "/" + out))
        assert "folder" in text
    assert not (tmp_path / "nothere").exists()


def test_output_path_rules(tmp_path):
    (tmp_path / "d").mkdir()
    assert output_path(str(tmp_path / "d") + "/", "x.h5") == tmp_path / "d" / "x.h5"
    assert output_path(None, "x.h5", default_dir=tmp_path / "new") == tmp_path / "new" / "x.h5"
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidArgumentError, match="already exists; pass --overwrite"):
        output_path(tmp_path / "f", "x.h5")
    assert output_path(tmp_path / "f", "x.h5", overwrite=True) == tmp_path / "f"
    with pytest.raises(InvalidArgumentError, match="is a folder"):
        output_path(tmp_path / "d", "")


def test_plot_requires_png(tmp_path):
    from posesearch.sequence.plot import plot_report

    with pytest.raises(InvalidArgumentError, match=r"ending in \.png"):
        plot_report(None, tmp_path / "x.txt")   # refused before anything is drawn
    assert not (tmp_path / "x.txt").exists()


# --- temporaries of killed writers ---------------------------------------------------------------------------

def _dead_pid() -> int:
    """The pid of a process that has ended (and not been reused yet)."""
    for _ in range(20):
        p = subprocess.Popen([sys.executable, "-c", "pass"])
        p.wait()
        try:
            os.kill(p.pid, 0)
        except ProcessLookupError:
            return p.pid
    raise AssertionError("every finished pid was reused at once")  # pragma: no cover


def test_stale_temporaries_are_named_and_cleaned(tmp_path):
    target = tmp_path / "c.h5"
    Corpus.ingest(target, small_clips("a"))
    dead = _dead_pid()
    stale = [tmp_path / f".c.h5.posesearch-tmp-{dead}", tmp_path / f".c.h5.tmp-{dead}-0a1b2c3d"]   # new, old names
    live = tmp_path / ".c.h5.posesearch-tmp-1"                       # pid 1 is running
    other = tmp_path / ".d.h5.posesearch-tmp-999999"                # another target's: not ours to clean
    for p in stale + [live, other]:
        p.write_bytes(b"partial")
    a = AtomicFile(target, copy_existing=True)
    assert a.tmp.name == f".c.h5.posesearch-tmp-{os.getpid()}"
    a.abort()
    assert not any(p.exists() for p in stale)
    assert live.exists() and other.exists()
    assert clean_stale_temps(target) == []


def test_killed_append_leaves_a_recognisable_temporary_that_the_next_write_removes(tmp_path):
    path = tmp_path / "c.h5"
    Corpus.ingest(path, small_clips("a"))
    code = ("import os, sys; from posesearch.files.atomic import AtomicFile; "
            "a = AtomicFile(sys.argv[1], copy_existing=True); os._exit(9)")     # dies holding a full copy
    subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    temps = [p for p in tmp_path.iterdir() if ".posesearch-tmp-" in p.name]
    assert len(temps) == 1 and temps[0].stat().st_size == path.stat().st_size
    Corpus.append(path, small_clips("b"))
    assert not [p for p in tmp_path.iterdir() if ".posesearch-tmp-" in p.name or p.name.endswith(".lock")]


# --- concurrent writers ------------------------------------------------------------------------------------------

def test_concurrent_writers_of_an_index_or_sequence_are_locked_out(tmp_path, corpus):
    idx = Index.build(corpus, backend="exact")
    out = tmp_path / "i.h5"
    lock = WriterLock(out).acquire()
    try:
        with pytest.raises(FileFormatError, match="another process is writing"):
            idx.save(out)
        with pytest.raises(PoseSearchError, match="another process is writing"):
            atomic_write(out, lambda f: f.write(b"x"))
    finally:
        lock.release()
    seq = tmp_path / "s.npz"
    lock = WriterLock(seq).acquire()
    try:
        with pytest.raises(PoseSearchError, match="another process is writing"):
            write_sequence(seq, a_sequence())
    finally:
        lock.release()
    idx.save(out)
    assert Index.load(out).backend_name == "exact"


def test_special_targets_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileFormatError, match="not a regular file"):
        atomic_write(fifo, lambda f: f.write(b"x"))
    with pytest.raises(FileFormatError, match="is a folder"):
        atomic_write(tmp_path, lambda f: f.write(b"x"))


def test_opening_a_fifo_as_corpus_or_index_does_not_block(tmp_path):
    """One opener (posesearch.files.open_h5) for corpora, indexes and ``info``: special files are refused
    before HDF5 opens them (opening a FIFO for reading blocks until a writer comes)."""
    fifo = tmp_path / "c.h5"
    os.mkfifo(fifo)
    with pytest.raises(FileFormatError, match="not a regular file"):
        Corpus.open(fifo)
    with pytest.raises(FileFormatError, match="not a regular file"):
        Index.load(fifo)
    assert "not a regular file" in one_line_error(run("info", fifo))
    text = one_line_error(run("build", fifo, "--backend", "exact", "--out", tmp_path / "i.h5"))
    assert "not a regular file" in text


def test_disk_full_while_copying_is_a_one_line_error(tmp_path, monkeypatch):
    import shutil

    from posesearch.files import atomic

    target = tmp_path / "c.h5"
    Corpus.ingest(target, small_clips("a"))
    before = target.read_bytes()

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.shutil, "copyfile", full)
    with pytest.raises(FileFormatError, match="No space left on device"):
        Corpus.append(target, small_clips("b"))
    monkeypatch.setattr(atomic.shutil, "copyfile", shutil.copyfile)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]   # temporary and lock removed
