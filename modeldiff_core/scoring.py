"""Log-probabilities of given texts under a model, batched.

Scoring pads on the right and builds batches by length: positions then start at 0 for every
row, which is what the model saw in training (left padding would shift absolute positions in
models like GPT-2 that do not derive them from the attention mask)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .generate import format_prompt
from .models import LoadedModel


def _encode(lm: LoadedModel, text: str, prompt: Optional[str], use_chat_template: bool):
    """(context ids, target ids): the target is scored, the context only conditions it."""
    tok = lm.tokenizer
    if prompt is None:
        ids = tok(text, add_special_tokens=True)["input_ids"]
        # The first token has no context to be predicted from; BOS gives it one where it exists.
        if tok.bos_token_id is not None and (not ids or ids[0] != tok.bos_token_id):
            return [tok.bos_token_id], ids
        return ids[:1], ids[1:]
    chat = use_chat_template and bool(getattr(tok, "chat_template", None))
    context = tok(format_prompt(tok, prompt, use_chat_template),
                  add_special_tokens=not chat)["input_ids"]
    target = tok(" " + text if not text.startswith(" ") else text,
                 add_special_tokens=False)["input_ids"]
    return context, target


def token_logprobs(lm: LoadedModel, texts: list[str], prompts: Optional[list[str]] = None,
                   batch_size: int = 16, use_chat_template: bool = True,
                   max_length: Optional[int] = None) -> list[np.ndarray]:
    """Per-token log p(token | everything before it) of each text's tokens (float64 arrays)."""
    import torch

    pairs = [_encode(lm, t, None if prompts is None else prompts[i], use_chat_template)
             for i, t in enumerate(texts)]
    limit = max_length or getattr(lm.model.config, "n_positions", None) or getattr(
        lm.model.config, "max_position_embeddings", None) or 2048
    seqs, starts = [], []
    for context, target in pairs:
        ids = (context + target)[-limit:]  # over-long: keep the end, where the text is
        seqs.append(ids)
        starts.append(max(1, len(ids) - len(target)))
    out: list[Optional[np.ndarray]] = [None] * len(texts)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        width = max(len(seqs[i]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, :len(seqs[i])] = torch.tensor(seqs[i])
            mask[row, :len(seqs[i])] = 1
        with torch.inference_mode():
            logits = lm.model(input_ids=ids.to(lm.input_device),
                              attention_mask=mask.to(lm.input_device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        picked = logp.gather(-1, ids[:, 1:].to(logp.device).unsqueeze(-1)).squeeze(-1).cpu()
        for row, i in enumerate(idx):
            # picked[j] is log p(ids[j+1]); the text's tokens are ids[start:len].
            out[i] = picked[row, starts[i] - 1:len(seqs[i]) - 1].double().numpy()
    return out  # type: ignore[return-value]


def mean_logprobs(lm: LoadedModel, texts: list[str], prompts: Optional[list[str]] = None,
                  batch_size: int = 16, use_chat_template: bool = True) -> np.ndarray:
    """Mean per-token log-prob of each text (NaN for a text with no tokens)."""
    per_token = token_logprobs(lm, texts, prompts, batch_size, use_chat_template)
    return np.array([lp.mean() if len(lp) else np.nan for lp in per_token])
