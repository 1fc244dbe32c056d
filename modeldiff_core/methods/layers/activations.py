"""Activation differences: how far B's residual stream (each block's output) is from A's on
the same tokens. Needs one tokenizer: the texts must cut into the same ids for both."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ...config import ModelDiffError
from ...models.loading import LoadedModel
from ...progress import ProgressCallback, StageProgress
from ...models.scoring import encode_texts, right_padded
from ...models.hooks import hook_points, resid_post, run_with_cache


@dataclass
class ActivationDiffs:
    rows: list[dict]  # {layer, cosine, rel_l2}: means over all non-padding tokens
    notes: list[str] = field(default_factory=list)
    n_tokens: int = 0


def check_same_tokens(lm_a: LoadedModel, lm_b: LoadedModel, texts: list[str],
                      prompts: Optional[list[str]] = None,
                      use_chat_template: bool = True) -> list[list[int]]:
    """The texts' token ids (context + text, as scoring builds them, cut to the model's
    context), refusing when A's and B's tokenizers cut them differently."""
    seqs_a = encode_texts(lm_a, texts, prompts, use_chat_template)[0]
    seqs_b = encode_texts(lm_b, texts, prompts, use_chat_template)[0]
    for i, (sa, sb) in enumerate(zip(seqs_a, seqs_b)):
        if sa != sb:
            at = next((j for j, (x, y) in enumerate(zip(sa, sb)) if x != y), min(len(sa), len(sb)))
            raise ModelDiffError(f"models tokenize differently: text {i} ({texts[i][:40]!r}) "
                                 f"differs at token {at}; comparing activations needs a shared "
                                 "tokenizer")
    return seqs_a


def _add_batch(sums: np.ndarray, cache_a: dict, cache_b: dict, keep) -> None:
    """Adds one batch's per-token cosine distances (sums[0]) and relative L2 distances
    (sums[1]) per layer, over the kept (non-padding) tokens."""
    import torch

    for layer in range(sums.shape[1]):
        ha, hb = cache_a[resid_post(layer)].cpu()[keep], cache_b[resid_post(layer)].cpu()[keep]
        cos = torch.nn.functional.cosine_similarity(ha, hb, dim=-1, eps=1e-12)
        rel = (hb - ha).norm(dim=-1) / ha.norm(dim=-1).clamp_min(1e-12)
        sums[0, layer] += float((1 - cos).double().sum())
        sums[1, layer] += float(rel.double().sum())


def activation_diffs(lm_a: LoadedModel, lm_b: LoadedModel, texts: list[str],
                     prompts: Optional[list[str]] = None, batch_size: int = 16,
                     use_chat_template: bool = True,
                     progress: Optional[ProgressCallback] = None) -> ActivationDiffs:
    """Per layer: mean cosine distance (1 - cos) and mean relative L2 distance
    ||h_B - h_A|| / ||h_A|| of the blocks' output hidden states, over every non-padding token
    (the prompt's and the text's) of the texts."""
    if not texts:
        raise ModelDiffError("no texts to compare activations on")
    seqs = check_same_tokens(lm_a, lm_b, texts, prompts, use_chat_template)
    points_a, points_b = hook_points(lm_a), hook_points(lm_b)
    if len(points_a) != len(points_b):
        raise ModelDiffError(f"models differ in architecture: {len(points_a)} layers in A and "
                             f"{len(points_b)} in B")
    pad = lm_a.tokenizer.pad_token_id if lm_a.tokenizer.pad_token_id is not None else 0
    sums = np.zeros((2, len(points_a)))  # cosine distance, relative L2
    n_tokens = 0
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    batches = [order[b:b + batch_size] for b in range(0, len(order), batch_size)]
    bar = StageProgress(progress, "activations", len(batches), unit="batches")
    for idx in batches:
        # Right padding: every row starts at position 0, as the models were trained.
        ids, mask = right_padded(seqs, idx, pad)
        keep = mask.bool()
        n_tokens += int(keep.sum())
        _add_batch(sums, run_with_cache(lm_a, points_a, ids, mask),
                   run_with_cache(lm_b, points_b, ids, mask), keep)
        bar.advance(1)
    rows = [{"layer": layer, "cosine": float(max(0.0, sums[0, layer] / n_tokens)),
             "rel_l2": float(sums[1, layer] / n_tokens)} for layer in range(len(points_a))]
    notes = [f"model {side} runs {lm.spec.quant}-quantized: part of the activation difference "
             "is quantization error" for side, lm in (("A", lm_a), ("B", lm_b))
             if lm.spec.quant != "none"]
    return ActivationDiffs(rows, notes, n_tokens)
