"""One progress interface for every long stage: the CLI draws it on stderr, jobs store it."""
from __future__ import annotations

import sys
import threading
import time
import weakref
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


class StagePlan:
    """A job's stages in order, each named by the prefixes its progress events start with. A
    stage reads "3/7 embed"; work before the first (building, loading) reads "preparing: ...";
    an earlier stage's events inside a later one (the self-check's own proposal) read as part
    of the later one, so the number never goes back."""

    def __init__(self, *stages):
        self.stages = [s if isinstance(s, tuple) else (s,) for s in stages]

    def place(self, stage: str, at: int) -> tuple[int, str]:
        """(the stage's number, its label) for an event's stage, `at` the number reached."""
        n = len(self.stages)
        found = next((i for i, names in enumerate(self.stages, 1)
                      if any(stage.startswith(name) for name in names)), None)
        if found is None and at == 0:
            return 0, f"preparing: {stage}"
        if found is None or found < at:
            return at, f"{at}/{n} {self.stages[at - 1][0]} · {stage}"
        return found, f"{found}/{n} {stage}"


class StageProgress:
    """Tracks one stage and reports (done, total, rate) to a callback."""

    def __init__(self, callback: Optional[ProgressCallback], stage: str, total: int,
                 unit: str = "items", done: int = 0, message: str = ""):
        self.callback, self.stage, self.total, self.unit = callback, stage, total, unit
        self.done = done
        self._start_done = done
        self._t0 = time.perf_counter()
        self.report(message)

    def advance(self, n: int = 1, message: str = "") -> None:
        self.done += n
        self.report(message)

    def report(self, message: str = "") -> None:
        if self.callback is None:
            return
        elapsed = time.perf_counter() - self._t0
        rate = (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0
        self.callback(ProgressEvent(self.stage, self.done, self.total, rate, self.unit, message))


class ProgressBar:
    """Progress on stderr: a tqdm bar per stage (count, rate, ETA) on a terminal; on anything
    else (a log file, a pipe) plain lines, one when a stage starts and ends and at most one
    every `every` seconds between, so a log reads as sentences, not carriage-return soup.
    Off a terminal a heartbeat keeps that promise through work that reports nothing (fitting a
    map, a stage's last step): a line at least every `every` seconds until `stop`."""

    def __init__(self, stream: TextIO = sys.stderr, every: float = 30.0,
                 terminal: Optional[bool] = None):
        self.stream, self.every = stream, every
        self.terminal = stream.isatty() if terminal is None else terminal
        self._stage: Optional[str] = None
        self._bar = None
        self._last = 0.0
        self._t0 = 0.0
        self._event: Optional[ProgressEvent] = None  # the last one heard, for the heartbeat
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._beating = False

    def __call__(self, ev: ProgressEvent) -> None:
        with self._lock:
            self._event = ev
            self._show(ev)
        if not self.terminal and not self._beating and self.every > 0:
            self._beating = True
            _LIVE.add(self)
            threading.Thread(target=self._heartbeat, daemon=True, name="progress").start()

    def _heartbeat(self) -> None:
        while not self._stopped.wait(min(1.0, self.every)):
            with self._lock:
                ev = self._event
                if ev is None or time.perf_counter() - self._last < self.every:
                    continue
                if self._stage is not None:
                    self._line(ev, f"still working, {time.perf_counter() - self._t0:.0f} s "
                                   "into this stage")
                else:
                    self._last = time.perf_counter()
                    self.stream.write(f"still working after {ev.stage}\n")
                    self.stream.flush()

    def stop(self) -> None:
        """End the heartbeat (the command is over)."""
        self._stopped.set()
        _LIVE.discard(self)

    def _show(self, ev: ProgressEvent) -> None:
        if ev.stage != self._stage:
            self.close()
            self._stage, self._t0, self._last = ev.stage, time.perf_counter(), 0.0
            if self.terminal:
                from tqdm import tqdm
                self._bar = tqdm(total=ev.total or None, desc=ev.stage, unit=f" {ev.unit}",
                                 file=self.stream, leave=True, dynamic_ncols=True,
                                 initial=ev.done)
            elif not (ev.total and ev.done >= ev.total):
                self._line(ev, "started")
                return
        if self._bar is not None:
            self._bar.n = ev.done
            if ev.message:
                self._bar.set_postfix_str(ev.message, refresh=False)
            self._bar.refresh()
        elif ev.total and ev.done >= ev.total:
            self._line(ev, f"done in {time.perf_counter() - self._t0:.0f} s")
        elif time.perf_counter() - self._last >= self.every:
            self._line(ev, _eta(ev))
        if ev.total and ev.done >= ev.total:
            self.close()

    def _line(self, ev: ProgressEvent, note: str) -> None:
        # Called with the lock held (from __call__ or the heartbeat).
        self._last = time.perf_counter()
        extra = f", {ev.message}" if ev.message else ""
        self.stream.write(f"{ev.stage}: {ev.done}/{ev.total} {ev.unit}{extra} ({note})\n")
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._stage = None


_LIVE: "weakref.WeakSet[ProgressBar]" = weakref.WeakSet()


def stop_heartbeats() -> None:
    """Every bar's heartbeat ends: called when a CLI command returns."""
    for bar in list(_LIVE):
        bar.stop()


def _eta(ev: ProgressEvent) -> str:
    if ev.rate <= 0 or not ev.total:
        return f"{ev.rate:.1f} {ev.unit}/s"
    return f"{ev.rate:.1f} {ev.unit}/s, about {(ev.total - ev.done) / ev.rate:.0f} s left"
