"""Paths, defaults, the one error type the CLI and pages turn into a one-line reason, and the
one reader of the text files a user names (prompts, keys, ground truths)."""
from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Iterator, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"  # built-in prompt and text sets


# transformers builds a model under process-wide state (meta-device initialisation), so two
# threads loading at once (the dashboard's jobs) can corrupt each other's weights: one at a time.
LOAD_LOCK = threading.RLock()


class ModelDiffError(Exception):
    """Bad input or an unusable environment; the message is shown to the user as one line."""


def first_line(err: BaseException) -> str:
    """A library's exception as one line: its first, or its type when it says nothing."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def decode_text(data: bytes, name: str) -> str:
    """A user's file as text: UTF-8 (a byte-order mark is dropped) without NUL bytes; a bad
    byte is one line naming `name` and the line it is on."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ModelDiffError(f"{name} line {line}: not UTF-8 text ({err.reason}; a binary "
                             "file?)") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ModelDiffError(f"{name} line {line}: contains a NUL byte (a binary file?)")
    return text


def read_text_file(path: str | Path, what: str, max_bytes: Optional[int] = None) -> str:
    """The text of a file the user named (`what` says which, as in "prompt file"), or one line
    saying why not: missing, a folder, too large, unreadable (the system's reason), or a bad
    byte (its line)."""
    target = Path(path).expanduser()
    try:
        info = target.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ModelDiffError(f"{what} {path} is a folder, not a file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise ModelDiffError(f"{what} {path} is larger than {max_bytes // 2**20} MiB")
        data = target.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise ModelDiffError(f"{what} {path} does not exist") from None
    except OSError as err:
        raise ModelDiffError(f"cannot read {what} {path}: {err.strerror or first_line(err)}") \
            from None
    return decode_text(data, f"{what} {path}")


def cache_dir() -> Path:
    """Where runtime data lives (organisms, adapters, the default database)."""
    return Path(os.environ.get("MODELDIFF_CACHE", REPO_ROOT / "cache"))


def default_db_path() -> Path:
    return Path(os.environ.get("MODELDIFF_DB", cache_dir() / "modeldiff.duckdb"))


def json_lines(text: str, name: str, expected: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSONL text; a line that is not JSON,
    or not an object, is one line naming it (`expected` says what the line should hold)."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ModelDiffError(f"{name} line {lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise ModelDiffError(f"{name} line {lineno}: {expected}")
        yield lineno, obj
