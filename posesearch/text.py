"""Wording helpers shared by messages and the CLI (one place, so no message says "1 clips")."""
from __future__ import annotations


def plural(n: int | float, noun: str, plural_form: str | None = None, *, thousands: bool = True) -> str:
    """``n`` followed by ``noun`` in the right number: ``plural(1, "clip")`` -> "1 clip",
    ``plural(1234, "frame")`` -> "1,234 frames", ``plural(2, "match", "matches")`` -> "2 matches".

    ``plural_form`` defaults to ``noun + "s"``; ``thousands`` groups digits with commas."""
    number = f"{n:,}" if thousands else f"{n}"
    return f"{number} {noun if n == 1 else (plural_form or noun + 's')}"
