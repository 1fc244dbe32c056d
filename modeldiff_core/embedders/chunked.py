"""A transformer sentence embedder that reads whole texts: a text longer than the model's
window is cut into overlapping chunks of one length, each embedded as sentence-transformers
would embed a text that fits (mean of its token states), and the chunk vectors are averaged,
weighted by their token counts, then L2-normalised. A text that fits is one chunk, so its vector
is the usual one.

Chunks of every text in a call are batched together, longest first, so a batch pads little."""
from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from .base import Embedder
from .runtimes import RUNTIMES, Runtime


@lru_cache(maxsize=None)
def weights_digest(path: str) -> str:
    """A digest of what decides a model's vectors: its weights, tokenizer and settings."""
    h = hashlib.sha256()
    folder = Path(path)
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in (".json", ".txt", ".safetensors", ".bin", ".model"):
            h.update(str(f.relative_to(folder)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def chunk_spans(n: int, content: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) of the chunks of an n-token text: one when it fits; else the fewest chunks
    of at most `content` tokens that overlap by at least `overlap`, all of one length (the
    shortest that does it: no token is read more often than the overlap needs) and spread
    evenly from the first token to the last."""
    if n <= content:
        return [(0, n)]
    k = math.ceil((n - overlap) / (content - overlap))
    length = math.ceil((n + (k - 1) * overlap) / k)
    return [(s, s + length) for s in (round(i * (n - length) / (k - 1)) for i in range(k))]


@dataclass(frozen=True)
class Chunking:
    """How texts are cut and batched. `chunk`: tokens read at once (None: the model's window);
    `overlap`: the least overlap of two chunks; `batch_tokens`: tokens per batch, pads
    included; `bucket`: batch widths are rounded up to a multiple of it, so the runtime
    prepares kernels for fewer shapes (measured faster on real answers, though the pads are
    computed too)."""
    chunk: Optional[int] = None
    overlap: int = 16
    batch_tokens: int = 2048
    bucket: int = 16


class ChunkedEmbedder(Embedder):
    def __init__(self, path: str, model_name: str, runtime: str = "torch",
                 precision: str = "fp32", device: Optional[str] = None,
                 chunking: Chunking = Chunking()):
        self.path, self.model_name = path, model_name
        self.runtime_kind, self.precision, self.device = runtime, precision, device
        self.overlap, self.batch_tokens = chunking.overlap, chunking.batch_tokens
        self.bucket, chunk = chunking.bucket, chunking.chunk
        self._lock = threading.Lock()  # jobs in two threads share one embedder
        config = json.loads((Path(path) / "sentence_bert_config.json").read_text()) \
            if (Path(path) / "sentence_bert_config.json").exists() else {}
        self._window = int(chunk or config.get("max_seq_length", 256))
        self.digest = weights_digest(path)
        self.name = (f"{model_name}/{runtime}-{precision}/whole{self._window}o{self.overlap}/"
                     f"{self.digest}")
        self.label = f"{model_name} ({runtime} {precision}, whole texts)"
        self._runtime: Optional[Runtime] = None
        self._tokenizer = None

    def runtime(self) -> Runtime:
        """Made on first use (loading, or converting once per machine)."""
        if self._runtime is None:
            kind = RUNTIMES[self.runtime_kind]
            self._runtime = (kind(self.path, self.precision, self.device)
                             if self.runtime_kind == "torch"
                             else kind(self.path, self.digest, self.precision))
        return self._runtime

    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.path)
        return self._tokenizer

    def window(self) -> Optional[int]:
        return self._window

    reads_whole = True

    def token_counts(self, texts: list[str]) -> list[int]:
        with self._lock:  # the tokenizer is shared with embed, maybe in another job's thread
            return [len(ids) + 2 for ids in self._ids(texts)]

    def _ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer()(texts, add_special_tokens=False, truncation=False,
                                verbose=False)["input_ids"]

    def chunks(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Every text's chunks as token ids with [CLS] and [SEP], and which text each is of."""
        tok = self.tokenizer()
        cls, sep = tok.cls_token_id, tok.sep_token_id
        content = self._window - 2
        pieces, owner = [], []
        for i, ids in enumerate(self._ids(texts)):
            for s, e in chunk_spans(len(ids), content, self.overlap):
                pieces.append([cls, *ids[s:e], sep])
                owner.append(i)
        return pieces, np.asarray(owner, dtype=np.int64)

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            pieces, owner = self.chunks(texts)
            vecs = self._pooled(pieces)
        lengths = np.asarray([len(p) for p in pieces], dtype=np.float64)
        out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float64)
        np.add.at(out, owner, vecs * lengths[:, None])
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)

    def _pooled(self, pieces: list[list[int]]) -> np.ndarray:
        """Each chunk's mean token state (float64), batched longest first within a token
        budget."""
        order = sorted(range(len(pieces)), key=lambda i: -len(pieces[i]))
        batches, rows = [], []
        start = 0
        while start < len(order):
            width = -(-len(pieces[order[start]]) // self.bucket) * self.bucket
            batch = order[start:start + max(1, self.batch_tokens // width)]
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(batch):
                ids[row, :len(pieces[i])] = pieces[i]
                mask[row, :len(pieces[i])] = 1
            batches.append((ids, mask))
            rows.extend(batch)
            start += len(batch)
        if not batches:
            return np.zeros((0, 0))
        out = np.empty((len(pieces), 0))
        for at, means in zip(np.cumsum([0, *(len(b[0]) for b in batches)]),
                             self.runtime().means(batches)):
            if out.shape[1] == 0:
                out = np.zeros((len(pieces), means.shape[1]))
            out[rows[at:at + len(means)]] = means
        return out
