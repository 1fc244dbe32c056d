"""Today's path before whole texts (kept for comparison, `--embedder torch`):
sentence-transformers on torch, a text longer than the model's window embedded from its
beginning."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..config import LOAD_LOCK, ModelDiffError
from .base import Embedder


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
