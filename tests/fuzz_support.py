"""Plumbing of the fuzz suite (tests/test_fuzz_*.py): the rule every case is held to, time limits, and the
case counter whose summary pytest prints at the end of a run (hook in tests/conftest.py).

The rule (issue 15, "Trust"): bad input gives a one-line PoseSearchError naming the file, field or argument
(in the CLI: ``error: ...`` on stderr, exit status 2); never a traceback, a hang, a crash, or nonsense
silently accepted. A case either must be refused (:func:`refused`, :func:`cli_refused`) or may be refused
or answered correctly (:func:`refused_or_correct`).
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import traceback

from posesearch.errors import PoseSearchError

COUNTS: collections.Counter = collections.Counter()     # area -> cases run
OUTCOMES: collections.Counter = collections.Counter()   # refused / answered

AREAS = {"readers": "file readers", "cli": "CLI commands", "api": "Python API", "files": "damaged HDF5 files"}


class Hang(BaseException):
    """Raised by the alarm of :func:`time_limit` (a BaseException, so no `except Exception` swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the block (blocking reads included) after ``seconds`` with :class:`Hang` (main thread only).
    A block stuck inside C code, where the alarm cannot interrupt it, ends the test run after 3 x ``seconds``
    with every thread's traceback (faulthandler): a hang fails loudly instead of waiting forever."""
    import faulthandler

    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(3 * seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def short(v, n: int = 120) -> str:
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def _check_message(msg: str, names) -> None:
    assert msg.strip(), "empty error message"
    assert "\n" not in msg.strip(), f"not a one-line message: {msg!r}"
    assert "Traceback" not in msg, f"a traceback in the message: {msg!r}"
    names = [str(n) for n in names if n is not None]
    if names:
        assert any(n in msg for n in names), f"the message names none of {names}: {msg!r}"


def _run(area: str, fn, seconds: float):
    COUNTS[area] += 1
    try:
        with time_limit(seconds):
            return True, fn()
    except PoseSearchError as e:
        return False, e
    except Hang as e:
        raise AssertionError(f"hang: {e}") from None
    except Exception as e:
        raise AssertionError(f"{type(e).__name__} instead of a one-line PoseSearchError: {e}\n"
                             f"{traceback.format_exc()}") from None


def refused(area: str, fn, *names, seconds: float = 20.0) -> str:
    """``fn()`` must raise a PoseSearchError with a one-line message containing one of ``names``
    (the file, field or argument; none given: any one-line message). Returns the message."""
    answered, out = _run(area, fn, seconds)
    assert not answered, f"accepted (returned {short(out)}), expected a one-line refusal naming one of {names}"
    _check_message(str(out), names)
    OUTCOMES["refused"] += 1
    return str(out)


def refused_or_correct(area: str, fn, check, *names, seconds: float = 20.0):
    """``fn()`` may refuse (as in :func:`refused`) or answer; an answer must pass ``check(answer)``
    (which asserts it is right). Returns the answer, or None when refused."""
    answered, out = _run(area, fn, seconds)
    if not answered:
        _check_message(str(out), names)
        OUTCOMES["refused"] += 1
        return None
    check(out)
    OUTCOMES["answered"] += 1
    return out


# ------------------------------------------------------------------------------------------------- CLI

def invoke(args, seconds: float = 60.0):
    """Run the CLI in process (typer's CliRunner); any exception other than a clean exit fails the case."""
    from typer.testing import CliRunner

    from posesearch.cli.app import app

    with time_limit(seconds):
        try:
            r = CliRunner().invoke(app, [str(a) for a in args])
        except Hang as e:
            raise AssertionError(f"hang: posesearch {' '.join(map(str, args))}: {e}") from None
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        tb = "".join(traceback.format_exception(type(r.exception), r.exception, r.exception.__traceback__))
        raise AssertionError(f"posesearch {' '.join(map(str, args))}: {type(r.exception).__name__} "
                             f"(exit {r.exit_code}) instead of a one-line error:\n{tb}")
    return r


def stderr_of(r) -> str:
    try:
        return r.stderr
    except ValueError:
        return r.output


def cli_refused(args, *names, seconds: float = 60.0) -> str:
    """``posesearch ARGS`` must exit with status 2 and one line ``error: ...`` on stderr naming one of
    ``names`` (or click's usage error for a malformed option, which names the option). Returns the line."""
    COUNTS["cli"] += 1
    r = invoke(args, seconds)
    err = stderr_of(r)
    assert r.exit_code == 2, (f"posesearch {' '.join(map(str, args))}: exit {r.exit_code}, expected 2 "
                              f"(stdout {short(r.stdout, 300)}; stderr {short(err, 300)})")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if lines and lines[0].startswith("Usage:"):           # click's own usage error (bad option value)
        text = " ".join(ln.strip(" │╭╮╰╯─") for ln in lines)
        assert "Traceback" not in err
        if names:
            assert any(str(n) in text for n in names), f"usage error names none of {names}: {err}"
        OUTCOMES["refused"] += 1
        return text
    assert len(lines) == 1 and lines[0].startswith("error: "), f"expected one 'error: ...' line, got {err!r}"
    _check_message(lines[0], names)
    OUTCOMES["refused"] += 1
    return lines[0]


def cli_ok(args, seconds: float = 60.0):
    COUNTS["cli"] += 1
    r = invoke(args, seconds)
    assert r.exit_code == 0, f"posesearch {' '.join(map(str, args))}: exit {r.exit_code}: {stderr_of(r)}"
    OUTCOMES["answered"] += 1
    return r


# --------------------------------------------------------------------------------------------- report

def summary(failed: int = 0) -> str:
    total = sum(COUNTS.values())
    parts = ", ".join(f"{COUNTS[a]:,} {AREAS.get(a, a)}" for a in sorted(COUNTS, key=lambda a: -COUNTS[a]))
    end = ("no traceback, hang, crash or silent acceptance" if not failed else
           f"{failed} fuzz test(s) FAILED (see above)")
    return (f"fuzz suite: {total:,} cases ({parts}); {OUTCOMES['refused']:,} refused with a one-line error, "
            f"{OUTCOMES['answered']:,} answered correctly; {end}")


def write_report() -> None:
    """Write the counts as JSON to $POSESEARCH_FUZZ_REPORT when set (for the README's figures)."""
    path = os.environ.get("POSESEARCH_FUZZ_REPORT")
    if path and COUNTS:
        with open(path, "w") as fh:
            json.dump({"cases": sum(COUNTS.values()), "by_area": dict(COUNTS), "outcomes": dict(OUTCOMES)}, fh)
