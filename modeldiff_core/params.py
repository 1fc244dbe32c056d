"""Parameters declared once, as dataclasses. A field's default and help live in its declaration
(`option(...)`); from it come what a job stores (`to_dict`), what is read back (`from_dict`,
which also reads the names earlier versions stored), the CLI flags (`add_options`,
`from_args`) and the page widgets' defaults (`default_of`)."""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Callable, Optional, Sequence

from .config import ModelDiffError

_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, *, flags: Sequence[str] = (), help: str = "",
           bounds: Optional[tuple] = None, parse: Optional[Callable[[str], Any]] = None,
           show: Optional[str] = None, factory: Any = _MISSING) -> Any:
    """A field that is also a CLI flag: `flags` (default: --the-field-name; later ones are
    earlier spellings), `bounds` (least, most) inclusive for numbers, `parse` for a typed text
    ("0,0.5,1"), `show` the default as typed on the command line."""
    meta = {"flags": tuple(flags), "help": help, "bounds": bounds, "parse": parse, "show": show}
    if factory is not _MISSING:
        return dataclasses.field(default_factory=factory, metadata={"option": meta})
    return dataclasses.field(default=default, metadata={"option": meta})


def nested(factory: Callable[[], Any]) -> Any:
    """A field holding settings of their own, whose options are offered flat on the CLI."""
    return dataclasses.field(default_factory=factory, metadata={"nested": True})


# ------------------------------------------------------------------------- to and from dicts
def to_dict(obj: Any) -> Any:
    """A dataclass as plain JSON-ready data; a value with its own `to_dict` (a ModelSpec, which
    leaves out fields added later) uses it."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        own = getattr(type(obj), "to_dict", None)
        if own is not None and not getattr(own, "generic", False):
            return obj.to_dict()
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(cls: type, d: dict) -> Any:
    """`cls` from stored data: unknown keys are ignored, missing ones take their defaults, names
    in `cls.RENAMED` (earlier spelling -> field) are read when the field's own is absent."""
    d = dict(d or {})
    for old, new in getattr(cls, "RENAMED", {}).items():
        if old in d and new not in d:
            d[new] = d.pop(old)
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _read(hints[f.name], d[f.name]) for f in dataclasses.fields(cls)
                  if f.init and f.name in d})


def _read(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is typing.Union and len(args) == 1:
        tp = args[0]
    own = getattr(tp, "from_dict", None)
    if isinstance(tp, type) and own is not None:
        return own(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if tp is tuple or typing.get_origin(tp) in (tuple, Sequence, typing.Sequence):
        return tuple(value)
    return value


class Declared:
    """A mixin giving a params dataclass its stored form both ways."""

    def to_dict(self) -> dict:
        return to_dict(self)
    to_dict.generic = True

    @classmethod
    def from_dict(cls, d: dict):
        return from_dict(cls, d)


def default_of(cls: type, name: str) -> Any:
    """A field's default, for a page widget (one place for every default)."""
    f = cls.__dataclass_fields__[name]
    return f.default_factory() if f.default is _MISSING else f.default


# ----------------------------------------------------------------------------------- the CLI
def _options(cls: type, prefix: str = ""):
    """(dest, field, its option metadata, its type) for every option of cls, nested included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("nested"):
            yield from _options(hints[f.name], f"{prefix}{f.name}.")
        elif "option" in f.metadata:
            yield prefix + f.name, f, f.metadata["option"], hints[f.name]


def _base_type(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) is typing.Union and len(args) == 1 else tp


def add_options(parser, cls: type) -> None:
    """cls's options as flags of parser; absent flags leave the field at its default."""
    for dest, f, meta, tp in _options(cls):
        flags = meta["flags"] or ("--" + f.name.replace("_", "-"),)
        default = f.default_factory() if f.default is _MISSING else f.default
        shown = meta["show"] if meta["show"] is not None else default
        help_ = meta["help"] + ("" if shown is None or shown is False else f" (default {shown})")
        base = _base_type(tp)
        if base is bool:
            parser.add_argument(*flags, dest=dest, action="store_true", default=None, help=help_)
        else:
            kind = base if base in (int, float) and meta["parse"] is None else str
            parser.add_argument(*flags, dest=dest, type=kind, default=None, help=help_,
                                metavar=flags[0].lstrip("-").replace("-", "_").upper())


def from_args(cls: type, args, **given) -> Any:
    """cls from parsed flags (and `given` fields the command fills itself); a number out of its
    bounds or a text its parser refuses is one line naming the flag."""
    flat: dict = {}
    for dest, f, meta, _ in _options(cls):
        value = getattr(args, dest, None)
        if value is None:
            continue
        flag = (meta["flags"] or ("--" + f.name.replace("_", "-"),))[0]
        if meta["parse"] is not None:
            try:
                value = meta["parse"](value)
            except ModelDiffError as err:  # "scales must be ..." reads "--scales must be ..."
                said = str(err)
                raise ModelDiffError(f"--{said}" if said.startswith(flag[2:] + " ")
                                     else f"{flag}: {said}") from None
        check_bounds(flag, value, meta["bounds"])
        flat[dest] = value
    return _build(cls, flat, "", given)


def _build(cls: type, flat: dict, prefix: str, given: dict) -> Any:
    values = dict(given)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if f.metadata.get("nested") and any(k.startswith(path + ".") for k in flat):
            values[f.name] = _build(hints[f.name], flat, path + ".", {})
        elif path in flat:
            values[f.name] = flat[path]
    return cls(**values)


def check_bounds(flag: str, value: Any, bounds: Optional[tuple]) -> None:
    if bounds is None:
        return
    least, most = bounds
    if not math.isfinite(value) or not least <= value <= most:
        raise ModelDiffError(f"{flag} must be a number from {least} to {most} (got {value})")
