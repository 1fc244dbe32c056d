"""Paths, defaults and the one error type the CLI and pages turn into a one-line reason."""
from __future__ import annotations

import os
import threading
from pathlib import Path

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


def cache_dir() -> Path:
    """Where runtime data lives (organisms, adapters, the default database)."""
    return Path(os.environ.get("MODELDIFF_CACHE", REPO_ROOT / "cache"))


def default_db_path() -> Path:
    return Path(os.environ.get("MODELDIFF_DB", cache_dir() / "modeldiff.duckdb"))
