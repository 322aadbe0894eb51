"""Wording helpers shared by messages and the CLI (one place, so no message says "1 clips")."""
from __future__ import annotations


def plural(n: int | float, noun: str, plural_form: str | None = None, *, thousands: bool = True) -> str:
    """``n`` followed by ``noun`` in the right number: ``plural(1, "clip")`` -> "1 clip",
    ``plural(1234, "frame")`` -> "1,234 frames", ``plural(2, "match", "matches")`` -> "2 matches".

    ``plural_form`` defaults to ``noun + "s"``; ``thousands`` groups digits with commas."""
    number = f"{n:,}" if thousands else f"{n}"
    return f"{number} {noun if n == 1 else (plural_form or noun + 's')}"


def offset_text(offset: float) -> str:
    """How late someone was, in words: ``0.33 s late``, ``0.20 s early``, ``on time`` (an offset that
    rounds to 0.00 s is on time, never "-0.00 s"), ``n/a`` when unknown (NaN)."""
    if offset != offset:
        return "n/a"
    if abs(offset) < 0.005:
        return "on time"
    return f"{abs(offset):.2f} s {'late' if offset > 0 else 'early'}"
