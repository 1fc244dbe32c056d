"""The fast mode: a static embedder distilled locally from the transformer (the model2vec
method, written here: model2vec's distill extra pins an older transformers). Every word piece of
the vocabulary is embedded once, alone, by the transformer; a text's vector is then the
weighted mean of its word pieces' vectors, so it reads whole texts at the speed of a tokenizer
and a table look-up, with no window. Word order and context are lost: the README's table says
what that costs in separability.

The table is made once per machine (seconds) and kept under the cache folder by the weights'
digest; nothing is downloaded."""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ..config import LOAD_LOCK
from .base import Embedder
from .chunked import ChunkedEmbedder, Chunking, weights_digest
from .runtimes import graph_folder

# Weight of a word piece of frequency rank r (the vocabulary's order stands for frequency, as
# in model2vec): a / (a + p(r)) with p Zipf's law; frequent pieces ("the", ",") weigh little.
SIF = 1e-4


def distill(source: ChunkedEmbedder, batch: int = 2048) -> np.ndarray:
    """(vocabulary + 1, width) float32: each word piece embedded as the text "[CLS] piece
    [SEP]", mean-pooled as the transformer embeds any text, then weighted by its Zipf rank; the
    last row is the empty text's vector."""
    tok = source.tokenizer()
    vocab = len(tok)
    pieces = [[tok.cls_token_id, i, tok.sep_token_id] for i in range(vocab)]
    pieces.append([tok.cls_token_id, tok.sep_token_id])  # the last row: the empty text
    table = np.concatenate([source._pooled(pieces[i:i + batch])
                            for i in range(0, len(pieces), batch)])
    table -= table.mean(axis=0)  # the direction every piece shares says nothing about a text
    rank = np.arange(1, vocab + 1, dtype=np.float64)
    p = (1 / rank) / (1 / rank).sum()
    table[:vocab] *= (SIF / (SIF + p))[:, None]
    return table.astype(np.float32)


class StaticEmbedder(Embedder):
    reads_whole = static = True

    def __init__(self, path: str, model_name: str, device: Optional[str] = None):
        self.path, self.model_name = path, model_name
        # Exact (fp32) and unpadded: each word piece is three tokens.
        self.source = ChunkedEmbedder(path, model_name, "torch", "fp32", device,
                                      Chunking(batch_tokens=8192, bucket=1))
        self.name = f"{model_name}/static-sif/{weights_digest(path)}"
        self.label = f"{model_name} distilled to a static table (fast mode)"
        self._table: Optional[np.ndarray] = None

    def table(self) -> np.ndarray:
        if self._table is None:
            file = graph_folder(weights_digest(self.path)) / "static-sif.npy"
            with LOAD_LOCK:
                if not file.exists():
                    file.parent.mkdir(parents=True, exist_ok=True)
                    tmp = file.with_suffix(f".{os.getpid()}.tmp.npy")
                    np.save(tmp, distill(self.source))
                    os.replace(tmp, file)
            self._table = np.load(file)
        return self._table

    def tokenizer(self):
        return self.source.tokenizer()

    def embed(self, texts: list[str]) -> np.ndarray:
        table = self.table()
        with self.source._lock:  # one tokenizer, shared by jobs in two threads
            ids = self.source._ids(texts)
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        for i, row in enumerate(ids):
            out[i] = table[row].mean(axis=0) if row else table[-1]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
