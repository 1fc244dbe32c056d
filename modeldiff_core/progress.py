"""One progress interface for every long stage: the CLI draws it on stderr, jobs store it."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional, TextIO


@dataclass(frozen=True)
class ProgressEvent:
    stage: str
    done: int
    total: int
    rate: float  # items per second since the stage started
    unit: str = "items"
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


class Cancelled(Exception):
    """Raised from a progress callback to stop a stage between two stored batches."""


class StageProgress:
    """Tracks one stage and reports (done, total, rate) to a callback."""

    def __init__(self, callback: Optional[ProgressCallback], stage: str, total: int,
                 unit: str = "items", done: int = 0):
        self.callback, self.stage, self.total, self.unit = callback, stage, total, unit
        self.done = done
        self._start_done = done
        self._t0 = time.perf_counter()
        self.report()

    def advance(self, n: int = 1, message: str = "") -> None:
        self.done += n
        self.report(message)

    def report(self, message: str = "") -> None:
        if self.callback is None:
            return
        elapsed = time.perf_counter() - self._t0
        rate = (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0
        self.callback(ProgressEvent(self.stage, self.done, self.total, rate, self.unit, message))


class TextProgressBar:
    """A progress bar on a terminal stream (stderr by default); one line per stage."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30):
        self.stream, self.width = stream, width
        self._stage: Optional[str] = None

    def __call__(self, ev: ProgressEvent) -> None:
        if self._stage is not None and ev.stage != self._stage:
            self.stream.write("\n")
        self._stage = ev.stage
        frac = ev.done / ev.total if ev.total else 1.0
        filled = int(round(self.width * min(frac, 1.0)))
        bar = "#" * filled + "-" * (self.width - filled)
        extra = f" {ev.message}" if ev.message else ""
        self.stream.write(f"\r{ev.stage:<12} [{bar}] {ev.done}/{ev.total} "
                          f"{ev.rate:6.1f} {ev.unit}/s{extra}")
        if ev.total and ev.done >= ev.total:
            self.stream.write("\n")
            self._stage = None
        self.stream.flush()
