"""Rewrite README.md's tables of index backends and corpus formats from the registries.

    python scripts/readme_tables.py          # rewrite README.md in place
    python scripts/readme_tables.py --check  # exit 1 if README.md differs (tests/test_extending.py does this)

A table is found by its header line and ends at the first blank line.
"""
from __future__ import annotations

import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def tables() -> list[str]:
    from posesearch.corpus.readers import formats_table
    from posesearch.index.registry import backends_table

    return [backends_table(), formats_table()]


def updated(text: str) -> str:
    for table in tables():
        header = table.split("\n", 1)[0]
        start = text.index(header)
        end = text.find("\n\n", start)
        text = text[:start] + table + text[(end if end >= 0 else len(text)):]
    return text


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print("README.md tables differ from the registries: run python scripts/readme_tables.py")
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
