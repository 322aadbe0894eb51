"""Atomic file replacement and a writer lock.

A writer works on a temporary file in the target's folder (same file system, so ``os.replace`` is
atomic), fsyncs it, renames it over the target and fsyncs the folder. A process killed at any point
leaves either the old file or the new one, never a mixture. Temporaries are named
``.<name>.tmp-<pid>-<random>``; the next writer of the same target removes any it finds (it holds the
lock, so they cannot belong to a live writer).

The lock (``fcntl.flock`` on ``.<name>.lock`` beside the target, present only while a writer runs)
keeps two processes from appending to the same file at once, where the later rename would silently
drop the other's additions.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from ..errors import FileFormatError


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriterLock:
    """Exclusive, non-blocking lock on ``.<name>.lock`` beside ``target``.

    The lock file exists only while a writer holds it: :meth:`release` unlinks it before closing.
    After locking, :meth:`acquire` checks that the path still names the file it locked (a previous
    holder may have unlinked it in between) and retries on the new file otherwise. A killed holder
    leaves the file behind, but the kernel drops its lock, so the next writer proceeds (and removes it).
    """

    def __init__(self, target: Path):
        self.target = Path(target)
        self.path = self.target.parent / f".{self.target.name}.lock"
        self._fd: int | None = None

    def acquire(self) -> "WriterLock":
        import fcntl

        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise FileFormatError(self.target, "another process is writing this file (lock "
                                      f"{self.path.name} is held); wait for it to finish") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return self
            os.close(fd)  # we locked a lock file its previous holder had just removed: take the new one
        raise FileFormatError(self.target, f"could not take the writer lock {self.path.name}")  # pragma: no cover

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class AtomicFile:
    """A temporary file that replaces ``target`` on :meth:`commit` and disappears on :meth:`abort`.

    With ``copy_existing=True`` the temporary starts as a byte copy of the target (for appends).
    """

    def __init__(self, target: str | os.PathLike, *, copy_existing: bool = False):
        self.target = Path(target)
        folder = self.target.parent
        if not folder.is_dir():
            raise FileFormatError(self.target, f"folder {str(folder)!r} does not exist")
        self.lock = WriterLock(self.target).acquire()
        try:
            for stale in folder.glob(f".{self.target.name}.tmp-*"):
                try:
                    stale.unlink()
                except OSError:
                    pass
            self.tmp = folder / f".{self.target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
            if copy_existing:
                shutil.copyfile(self.target, self.tmp)
        except BaseException:
            self.lock.release()
            raise
        self.done = False

    def commit(self) -> None:
        """fsync the temporary, rename it over the target, fsync the folder, release the lock."""
        try:
            fsync_file(self.tmp)
            os.replace(self.tmp, self.target)
            _fsync_dir(self.target.parent)
        finally:
            self.done = True
            self.lock.release()

    def abort(self) -> None:
        """Delete the temporary (the target is untouched) and release the lock."""
        try:
            if self.tmp.exists():
                self.tmp.unlink()
        finally:
            self.done = True
            self.lock.release()
