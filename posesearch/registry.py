"""Names and numbers given by users, checked in one place.

:class:`Registry` is the table behind every name a user can type (metric, layout, backend, reader,
aligner, open ends, frame distance, smoother, interpolation): one normalization (case, spaces,
hyphens and underscores do not matter: ``Move_Mirror`` = ``move-mirror`` = ``movemirror``), one alias
table per kind, and one error, :class:`~posesearch.errors.UnknownNameError` ("unknown metric 'x';
expected one of: ...").

:func:`check_number` is the one check of a numeric parameter: a real number (not a bool, not a
string), finite, optionally an integer, within bounds; the error names the parameter, what was
expected and what was found.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Generic, Iterable, Mapping, TypeVar

from .errors import UnknownNameError, check_number  # noqa: F401  (check_number: the numeric twin of lookups)

T = TypeVar("T")


@dataclass(frozen=True)
class ParamOption:
    """A command-line flag made from declared parameters of one or several backends (or readers)."""

    name: str                     #: the field / keyword name
    flag: str                     #: "--leaf-size"
    type: type                    #: int | float | str | bool | list (comma-separated numbers)
    help: str                     #: "vptree: points per leaf (128)."
    owners: tuple[str, ...]       #: the backends (readers) that take it


def merge_options(entries: Iterable[tuple[str, str, type, str, "str | None"]]) -> list[ParamOption]:
    """One :class:`ParamOption` per flag from (owner, name, type, help, flag or None) entries: the flag is
    ``--name-with-hyphens`` unless given; owners sharing a flag share it, and its help names each
    (owners with the same help text once: "openpose, penn-action: frame rate (30)")."""
    merged: dict[str, dict[str, Any]] = {}
    for owner, name, typ, text, flag in entries:
        flag = flag or "--" + name.replace("_", "-")
        m = merged.setdefault(flag, {"name": name, "type": typ, "helps": {}, "owners": []})
        if m["name"] != name:
            raise TypeError(f"flag {flag} names two parameters: {m['name']} and {name} ({owner})")
        m["helps"].setdefault(text.rstrip("."), []).append(owner)
        m["owners"].append(owner)
    return [ParamOption(m["name"], flag, m["type"],
                        "; ".join(f"{', '.join(owners)}: {text}" for text, owners in m["helps"].items()) + ".",
                        tuple(m["owners"])) for flag, m in merged.items()]


def option(default: Any, help: str, *, flag: str | None = None) -> Any:
    """A field of a parameter dataclass (a backend's ``Params``, a reader's ``Options``) that is also a
    command-line flag (``posesearch build`` / ``posesearch ingest``): ``--name-with-hyphens`` (or
    ``flag``) with ``help``. Fields declared without it are still settable with ``--param`` /
    ``--option NAME=VALUE``."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag})


def params_options(params_types: Mapping[str, type]) -> list[ParamOption]:
    """The flags of ``{owner name: parameter dataclass}``: one per field declared with :func:`option`,
    typed by its annotation (bool, int, float, str, or one of them or None; anything else, e.g. a tuple
    of numbers, is a list flag taking comma-separated numbers); a field several owners share (``seed``)
    is one flag whose help names each."""
    return merge_options((owner, f.name, _flag_type(typing.get_type_hints(ptype)[f.name]), f.metadata["help"],
                          f.metadata.get("flag"))
                         for owner, ptype in params_types.items() for f in dataclasses.fields(ptype)
                         if "help" in f.metadata)


def _flag_type(annotation: Any) -> type:
    for t in (bool, int, float, str):
        if annotation is t or annotation == (t | None):
            return t
    return list


def normalize_name(name: object) -> str:
    """The form names are compared in: lower case without spaces, hyphens or underscores."""
    return "".join(ch for ch in str(name).strip().lower() if ch not in " -_")


class Registry(dict, Generic[T]):
    """A ``dict`` of canonical name -> entry, with aliases and the shared lookup.

    ``kind`` names what is looked up in errors ("metric"). ``entries``: a mapping of canonical name ->
    entry, or an iterable of names (each its own entry). ``aliases``: other name -> canonical name.
    ``descriptions``: canonical name -> one line, for :meth:`help`.
    """

    def __init__(self, kind: str, entries: "Mapping[str, T] | Iterable[str]",
                 aliases: Mapping[str, str] | None = None, descriptions: Mapping[str, str] | None = None):
        items = entries.items() if isinstance(entries, Mapping) else ((n, n) for n in entries)
        super().__init__(items)
        self.kind = kind
        self.aliases: dict[str, str] = {}
        self.descriptions: dict[str, str] = dict(descriptions or {})
        for alias, target in (aliases or {}).items():
            self.add_alias(alias, target)

    def add_alias(self, alias: str, target: str) -> None:
        if target not in self:
            raise KeyError(f"alias {alias!r} of {self.kind}: {target!r} is not registered")
        self.aliases[normalize_name(alias)] = target

    def register(self, name: str, entry: T, *, description: str = "", aliases: Iterable[str] = ()) -> T:
        """Add (or replace) an entry: what an extension calls."""
        self[name] = entry
        if description:
            self.descriptions[name] = description
        for alias in aliases:
            self.add_alias(alias, name)
        return entry

    def canonical(self, name: object) -> str:
        """The registered name ``name`` stands for; UnknownNameError listing the valid names otherwise."""
        if isinstance(name, str) and name in self:
            return name
        key = normalize_name(name)
        for canon in self:
            if normalize_name(canon) == key:
                return canon
        target = self.aliases.get(key)
        if target is not None and target in self:
            return target
        raise UnknownNameError(self.kind, name, self.names())

    def lookup(self, name: object) -> T:
        """The entry registered under ``name`` (or an alias of it)."""
        return self[self.canonical(name)]

    def names(self) -> list[str]:
        """The canonical names, in registration order."""
        return list(self)

    def aliases_of(self, name: str) -> list[str]:
        return sorted(a for a, t in self.aliases.items() if t == name)

    def help(self, *, default: str | None = None, describe: bool = False) -> str:
        """One line for a CLI option's help: the names joined by " | ", ``default`` marked, and with
        ``describe`` each name's description in parentheses."""
        parts = []
        for name in self:
            notes = [self.descriptions[name]] if describe and self.descriptions.get(name) else []
            if name == default:
                notes.insert(0, "default")
            parts.append(f"{name} ({'; '.join(notes)})" if notes else name)
        return " | ".join(parts)

    def table(self) -> list[tuple[str, str, list[str]]]:
        """(name, description, aliases) per entry, for help texts and README tables."""
        return [(n, self.descriptions.get(n, ""), self.aliases_of(n)) for n in self]
