"""Sampling from a model with local weights: how (GenerationSettings, declared once for every
source), the prompt as the model sees it, and one batch of continuations by HF generate."""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Optional

from ..config import ModelDiffError
from .loading import LoadedModel


@dataclass(frozen=True)
class GenerationSettings:
    samples_per_prompt: int = 4
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 32
    seed: int = 0
    use_chat_template: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        if not all(math.isfinite(v) for v in (self.temperature, self.top_p)):
            raise ModelDiffError("temperature and top_p must be finite numbers")
        if not 0 <= self.seed < 2 ** 32:
            raise ModelDiffError(f"seed must be from 0 to {2 ** 32 - 1} (got {self.seed})")
        if self.samples_per_prompt < 1:
            raise ModelDiffError("samples per prompt must be at least 1")
        if self.max_new_tokens < 1:
            raise ModelDiffError("max new tokens must be at least 1")
        if self.temperature < 0:
            raise ModelDiffError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ModelDiffError("top_p must be in (0, 1]")
        if self.batch_size < 1:
            raise ModelDiffError("batch size must be at least 1")


def format_prompt(tokenizer, prompt: str, use_chat_template: bool) -> str:
    """The chat template when the tokenizer has one and the run asks for it; raw text otherwise."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                             add_generation_prompt=True, tokenize=False)
    return prompt


def context_limit_of(model_or_config) -> Optional[int]:
    cfg = getattr(model_or_config, "config", model_or_config)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def batch_seed(seed: int, side: str, first_key: tuple[int, int]) -> int:
    raw = f"{seed}:{side}:{first_key[0]}:{first_key[1]}".encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:4], "big")


def generate_batch(lm: LoadedModel, texts: list[str], settings: GenerationSettings,
                   seed: int, chat_formatted: bool) -> list[tuple[str, int, str]]:
    """Sample one continuation per formatted prompt: (text, new tokens, 'eos' or 'length')."""
    import torch

    tok, model = lm.tokenizer, lm.model
    limit = context_limit_of(model)
    max_len = None if limit is None else max(1, limit - settings.max_new_tokens)
    tok.truncation_side = "left"  # keep the end of an over-long prompt, where the question is
    enc = tok(texts, return_tensors="pt", padding=True, truncation=max_len is not None,
              max_length=max_len, add_special_tokens=not chat_formatted)
    enc = {k: v.to(lm.input_device) for k, v in enc.items()}
    eos_ids = tok.eos_token_id if tok.eos_token_id is not None else model.config.eos_token_id
    eos_set = set(eos_ids if isinstance(eos_ids, list) else [eos_ids]) - {None}
    torch.manual_seed(seed)
    do_sample = settings.temperature > 0
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=settings.max_new_tokens, do_sample=do_sample,
                             temperature=settings.temperature if do_sample else None,
                             top_p=settings.top_p if do_sample else None, top_k=None,
                             pad_token_id=tok.pad_token_id, eos_token_id=list(eos_set) or None)
    new = out[:, enc["input_ids"].shape[1]:].cpu()
    rows = []
    for seq in new.tolist():
        stop = next((i for i, t in enumerate(seq) if t in eos_set), None)
        kept = seq if stop is None else seq[:stop]
        text = tok.decode(kept, skip_special_tokens=True).strip()
        rows.append((text, len(kept), "length" if stop is None else "eos"))
    return rows


def hf_answers(lm: LoadedModel, batch, keep) -> None:
    """Every request of the batch (sources.base.Batch) by HF generate, in length-sorted batches
    (the least compute wasted on left padding), each handed to `keep` as it finishes. A CUDA
    out-of-memory error halves the batch and retries the same rows."""
    settings, side = batch.settings, batch.side
    prompts = {r.prompt_id: r.prompt for r in batch.requests}  # once per prompt, not per sample
    formatted = {pid: format_prompt(lm.tokenizer, p, settings.use_chat_template)
                 for pid, p in prompts.items()}
    chat = settings.use_chat_template and bool(getattr(lm.tokenizer, "chat_template", None))
    lengths = {pid: len(lm.tokenizer(f, add_special_tokens=not chat)["input_ids"])
               for pid, f in formatted.items()}
    todo = sorted(((r.prompt_id, r.sample_idx) for r in batch.requests),
                  key=lambda key: (lengths[key[0]], key))
    batch_size, i = settings.batch_size, 0
    while i < len(todo):
        keys = todo[i:i + batch_size]
        try:
            rows = generate_batch(lm, [formatted[pid] for pid, _ in keys], settings,
                                  batch_seed(settings.seed, side, keys[0]), chat)
        except RuntimeError as err:
            if not is_oom(err) or batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)  # halve and retry the same rows
            free_cuda()
            continue
        keep([(pid, s, *row) for (pid, s), row in zip(keys, rows)])
        i += len(keys)


def is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
