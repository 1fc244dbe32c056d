"""What every embedder is: texts in, L2-normalised float32 vectors out, under a `name` that is
its fingerprint (model, runtime, precision, how long texts are read, the weights' digest) and
keys the cache in the store, so vectors of two embedders that differ in any of those never
mix."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional

import numpy as np


class Embedder(ABC):
    name: str
    # True when a text longer than the window is read whole (in chunks, or with no window);
    # False when it is embedded from its beginning.
    reads_whole: bool = False
    static: bool = False  # a table look-up per word piece (the fast mode), no transformer

    @property
    def label(self) -> str:
        """How the result names it to a researcher."""
        return getattr(self, "_label", None) or self.name

    @label.setter
    def label(self, value: str) -> None:
        self._label = value

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray: ...

    def window(self) -> Optional[int]:
        """How many tokens the model reads at once (its special tokens included); None when
        it reads any length."""
        return None

    def token_counts(self, texts: list[str]) -> list[int]:
        """Each text's length in the embedder's tokens, special tokens included (only asked
        of an embedder with a window)."""
        raise NotImplementedError
