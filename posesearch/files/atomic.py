"""Atomic file replacement and a writer lock: the one place posesearch writes files.

A writer works on a temporary file in the target's folder (same file system, so ``os.replace`` is
atomic), fsyncs it, renames it over the target and fsyncs the folder. A process killed at any point
leaves either the old file or the new one, never a mixture.

Temporary files are named ``.<name>.posesearch-tmp-<pid>`` (pid of the writing process). A writer
killed midway (SIGKILL, power loss) leaves its temporary behind, up to the size of the file; the next
writer of the same target removes every such temporary whose process is no longer running
(:func:`clean_stale_temps`; older releases named them ``.<name>.tmp-<pid>-<random>``, also removed).

Modes, links and paths:

* a new file gets ``0666 & ~umask`` (like ``touch``); a rewrite keeps the existing file's permission
  bits (and, when running as root, its owner and group); the temporary is private (0600) until it
  replaces the target;
* a read-only target (no write permission bit, e.g. 0444) is refused, never silently replaced;
* a symlinked target is written *through* the link: the file it points to is replaced atomically
  (its temporary lives beside it) and the link stays a link;
* a target that is a folder, or not a regular file (FIFO, device), is refused.

The lock (``fcntl.flock`` on ``.<name>.lock`` beside the (resolved) target, present only while a writer
runs) keeps two processes from writing the same file at once, where the later rename would silently
drop the other's additions: the second writer gets a one-line error.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from ..errors import FileFormatError, InvalidArgumentError

TMP_TAG = "posesearch-tmp"
_TMP_RE = re.compile(r"\.(?:posesearch-tmp-(\d+)|tmp-(\d+)-[0-9a-f]+)$")


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


def umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)   # pragma: no cover - no /proc: the classic read-and-restore
    os.umask(old)
    return old


def new_file_mode() -> int:
    """Permission bits of a newly created file: ``0666 & ~umask``."""
    return 0o666 & ~umask()


def tmp_path_for(target: Path, pid: int | None = None) -> Path:
    """The temporary file a writer of ``target`` (already resolved) uses."""
    return target.parent / f".{target.name}.{TMP_TAG}-{os.getpid() if pid is None else pid}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover
        return False
    return True


def clean_stale_temps(target: Path) -> list[Path]:
    """Remove temporaries of ``target`` left by killed writers (their process is gone, or it is this one);
    returns the paths removed. Called with the writer lock held."""
    removed = []
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:  # pragma: no cover
        return removed
    for e in entries:
        if not e.name.startswith(prefix):
            continue
        m = _TMP_RE.search(e.name[len(prefix) - 1:])
        if m is None or m.start() != 0:
            continue
        pid = int(m.group(1) or m.group(2))
        if pid != os.getpid() and _pid_alive(pid):
            continue
        try:
            os.unlink(e.path)
            removed.append(Path(e.path))
        except OSError:
            pass
    return removed


def check_writable_target(target: Path, shown: Path | None = None) -> int | None:
    """Refuse targets that must not be replaced; returns the existing file's permission bits (None if new)."""
    shown = target if shown is None else shown
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise FileFormatError(shown, f"cannot examine the output path ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise FileFormatError(shown, "is a folder, expected a file path")
    if not stat.S_ISREG(st.st_mode):
        raise FileFormatError(shown, "is not a regular file (a FIFO, device or socket); refusing to replace it")
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o222 or not os.access(target, os.W_OK):
        raise FileFormatError(shown, f"is read-only (mode {mode:04o}); refusing to replace it (make it writable, "
                                     "e.g. chmod u+w, or choose another output path)")
    return mode


def check_not_input(out: str | os.PathLike, inputs: Iterable[str | os.PathLike], *, what: str = "output") -> None:
    """Refuse an output path that is one of the inputs (same file, also through symlinks or hard links)."""
    for src in inputs:
        try:
            same = os.path.samefile(out, src)
        except (OSError, ValueError):
            continue
        if same:
            raise InvalidArgumentError(f"{what} {out}: is the input {src} itself; refusing to overwrite an input "
                                       "(choose another output path)")


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
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise FileFormatError(self.target, f"cannot write in its folder ({e.strerror or e}: "
                                                   f"{self.path.name})") from None
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
    ``target`` is the path as given; :attr:`real` is the file replaced (symlinks followed). The
    temporary ``tmp`` exists (empty, mode 0600) from construction on.
    """

    def __init__(self, target: str | os.PathLike, *, copy_existing: bool = False):
        self.target = Path(target)
        self.real = Path(os.path.realpath(self.target))
        folder = self.real.parent
        if not folder.is_dir():
            raise FileFormatError(self.target, f"folder {str(self.target.parent)!r} does not exist")
        self.mode = check_writable_target(self.real, self.target)
        self.lock = WriterLock(self.real).acquire()
        self.done = False
        try:
            self._owner = None
            if self.mode is not None:
                st = os.stat(self.real)
                self._owner = (st.st_uid, st.st_gid)
            clean_stale_temps(self.real)
            self.tmp = tmp_path_for(self.real)
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.close(fd)
            if copy_existing:
                shutil.copyfile(self.real, self.tmp)
        except OSError as e:   # no permission, disk full, ...: nothing was replaced
            self._discard()
            raise FileFormatError(self.target, f"cannot write its temporary file ({e.strerror or e})") from None
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        tmp = getattr(self, "tmp", None)
        try:
            if tmp is not None and tmp.exists():
                tmp.unlink()
        except OSError:  # pragma: no cover
            pass
        self.done = True
        self.lock.release()

    def commit(self) -> None:
        """fsync the temporary, give it the final mode, rename it over the target, fsync the folder, unlock."""
        try:
            fsync_file(self.tmp)
            os.chmod(self.tmp, new_file_mode() if self.mode is None else self.mode)
            if self._owner is not None and hasattr(os, "chown"):
                try:
                    st = os.stat(self.tmp)
                    if (st.st_uid, st.st_gid) != self._owner:
                        os.chown(self.tmp, *self._owner)
                        os.chmod(self.tmp, self.mode)   # chown may clear set-id bits
                except OSError:
                    pass   # not allowed (not root): the file is ours now, as with any editor's save
            os.replace(self.tmp, self.real)
            _fsync_dir(self.real.parent)
        except BaseException:
            try:
                if self.tmp.exists():
                    self.tmp.unlink()
            except OSError:  # pragma: no cover
                pass
            raise
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


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """``with atomic_target(path) as tmp:`` write the whole file at ``tmp``; on leaving the block without an
    exception it replaces ``path`` (:meth:`AtomicFile.commit`), on an exception the temporary file is removed."""
    out = AtomicFile(path)
    try:
        yield out.tmp
        out.commit()
    except BaseException:
        if not out.done:
            out.abort()
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file atomically through ``write(binary file object)`` (see the module doc for modes and links)."""
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        write(f)
    return Path(path)


def output_path(out: str | os.PathLike | None, default_name: str, *, overwrite: bool = False,
                inputs: Iterable[str | os.PathLike] = (), default_dir: str | os.PathLike | None = None,
                what: str = "--out") -> Path:
    """Where a command writes its output file, checked before any work.

    ``out`` None: ``default_dir/default_name`` (the folder is created). ``out`` an existing folder, or
    text ending in a path separator (``indexes/``): ``default_name`` inside it (that folder must exist);
    with ``default_name`` empty, a folder is refused. Refused: an existing file without ``overwrite``, a
    missing parent folder, a read-only or non-regular target, and an output that is one of ``inputs``.
    """
    if out is None:
        if default_dir is None or not default_name:
            raise InvalidArgumentError(f"{what}: an output file path is required")
        folder = Path(default_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / default_name
    else:
        text = os.fspath(out)
        if not text:
            raise InvalidArgumentError(f"{what}: expected a file path, got an empty string")
        looks_like_folder = text.endswith((os.sep, "/")) or (os.altsep is not None and text.endswith(os.altsep))
        if looks_like_folder or Path(text).is_dir():
            if not default_name:
                raise InvalidArgumentError(f"{what} {text}: is a folder, expected a file path "
                                           f"(e.g. {os.path.join(text, 'corpus.h5')})")
            if not Path(text).is_dir():
                raise InvalidArgumentError(f"{what} {text}: folder does not exist (create it first, or give a "
                                           "file path)")
            path = Path(text) / default_name
        else:
            path = Path(text)
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"{what} {path}: folder {str(path.parent)!r} does not exist")
    check_not_input(path, inputs, what=what)
    if os.path.lexists(path):
        if not overwrite:
            raise InvalidArgumentError(f"{what} {path}: already exists; pass --overwrite to replace it")
        check_writable_target(Path(os.path.realpath(path)), path)
    return path
