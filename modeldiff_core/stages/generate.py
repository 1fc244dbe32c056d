"""The one loop that fills a side of a run with texts, whatever the source (local weights by HF
generate or vLLM, a file of answers, an endpoint): it skips what is stored, asks the source for
the rest, stores what comes back in small batches and reports progress. Sources only answer
(`models.sources.base.Source.answer_rows`), as inspect_ai's providers only generate.

Rows are keyed (run, side, prompt, sample); a row already stored is never asked for again, so
an interrupted run resumes where it stopped."""
from __future__ import annotations

import time
from typing import Optional

import pandas as pd

from ..models.sources.base import Batch, Request, Row
from ..progress import ProgressCallback, StageProgress

# Store rows this often: an interruption loses little work, and a database write per row would
# cost more than an endpoint's reply.
FLUSH_ROWS, FLUSH_SECONDS = 16, 2.0


class RowWriter:
    """Collects answered rows and stores them by count or by time; advances the bar after."""

    def __init__(self, store, run_id: str, side: str, bar: StageProgress):
        self.store, self.run_id, self.side, self.bar = store, run_id, side, bar
        self.pending: list[Row] = []
        self.seen: set[tuple[int, int]] = set()
        self.written = 0
        self._last = time.monotonic()

    def add(self, rows: list[Row]) -> None:
        new = [r for r in rows if (r[0], r[1]) not in self.seen]
        self.seen.update((r[0], r[1]) for r in new)
        self.pending += new
        if len(self.pending) >= FLUSH_ROWS or time.monotonic() - self._last >= FLUSH_SECONDS:
            self.flush()
        self.bar.advance(len(new))  # after storing: a cancel here loses nothing

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        self.store.save_generations(self.run_id, pd.DataFrame({
            "side": self.side, "prompt_id": [int(r[0]) for r in rows],
            "sample_idx": [int(r[1]) for r in rows], "text": [r[2] for r in rows],
            "n_tokens": [int(r[3]) for r in rows], "finish_reason": [r[4] for r in rows]}))
        self.written += len(rows)


def generate_side(store, run_id: str, side: str, source, prompts: pd.DataFrame, settings,
                  progress: Optional[ProgressCallback] = None) -> int:
    """Every row the source gives this side of the run and the store lacks; returns rows
    written. `prompts`: the run's (prompt_id, prompt, …); `settings`: its GenerationSettings."""
    wanted = source.wanted(store, run_id, side, prompts, settings)
    done = store.generation_keys(run_id, side)
    todo = [key for key in wanted if key not in done]
    bar = StageProgress(progress, source.label(side), len(wanted), unit="texts",
                        done=len(wanted) - len(todo))
    if not todo:
        return 0
    text_of = dict(zip(prompts["prompt_id"].astype(int), prompts["prompt"]))
    writer = RowWriter(store, run_id, side, bar)
    try:
        requests = [Request(pid, s, text_of[pid]) for pid, s in todo]
        source.answer_rows(Batch(run_id, side, requests, settings, store), writer.add)
    finally:
        writer.flush()  # stopped (an error, a cancel): what was answered is kept
    return writer.written
