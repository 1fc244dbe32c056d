"""Log-probabilities of given texts under a model, batched: what the generative test, the
token diff, quantization metrics and the layer lens all read.

Scoring pads on the right and builds batches by length: positions then start at 0 for every
row, which is what the model saw in training (left padding would shift absolute positions in
models like GPT-2 that do not derive them from the attention mask)."""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from .loading import LoadedModel
from .generation import context_limit_of, format_prompt


def _encode(lm: LoadedModel, text: str, prompt: Optional[str], use_chat_template: bool,
            add_eos: bool = False):
    """(context ids, target ids): the target is scored, the context only conditions it. With
    `add_eos` the end-of-text token is part of the target: how likely the model is to stop."""
    tok = lm.tokenizer
    context, target = _encode_raw(lm, text, prompt, use_chat_template)
    if add_eos and tok.eos_token_id is not None:
        target = target + [tok.eos_token_id]
    return context, target


def _encode_raw(lm: LoadedModel, text: str, prompt: Optional[str], use_chat_template: bool):
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


def context_limit(lm: LoadedModel) -> int:
    return context_limit_of(lm.model) or 2048


def encode_texts(lm: LoadedModel, texts: list[str], prompts: Optional[list[str]] = None,
                 use_chat_template: bool = True, max_length: Optional[int] = None,
                 keep: str = "end", add_eos: bool = False) -> tuple[list[list[int]], list[int]]:
    """(token ids of context + text, index of the first text token) per text. An over-long
    sequence keeps its end (`keep="end"`, where a text is) or its start (`keep="start"`)."""
    limit = max_length or context_limit(lm)
    seqs, starts = [], []
    for i, text in enumerate(texts):
        context, target = _encode(lm, text, None if prompts is None else prompts[i],
                                  use_chat_template, add_eos)
        ids = context + target
        if len(ids) > limit:
            ids = ids[-limit:] if keep == "end" else ids[:limit]
        seqs.append(ids)
        starts.append(max(1, len(ids) - len(target)) if keep == "end" else min(len(context), len(ids)))
    return seqs, starts


def right_padded(seqs: list[list[int]], idx: list[int], pad: int):
    """(ids, attention mask) of the rows `idx` of `seqs`, padded on the right."""
    import torch

    width = max(len(seqs[i]) for i in idx)
    ids = torch.full((len(idx), width), pad, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        ids[row, :len(seqs[i])] = torch.tensor(seqs[i])
        mask[row, :len(seqs[i])] = 1
    return ids, mask


def iter_logits(lm: LoadedModel, seqs: list[list[int]], batch_size: int = 16
                ) -> Iterator[tuple[list[int], "object", "object"]]:
    """Yield (indices into seqs, input ids, float32 logits) per length-sorted, right-padded batch;
    logits[row, j] predicts ids[row, j + 1]."""
    import torch

    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        ids, mask = right_padded(seqs, idx, pad)
        with torch.inference_mode():
            logits = lm.model(input_ids=ids.to(lm.input_device),
                              attention_mask=mask.to(lm.input_device)).logits.float()
        yield idx, ids, logits


def token_logprobs(lm: LoadedModel, texts: list[str], prompts: Optional[list[str]] = None,
                   batch_size: int = 16, use_chat_template: bool = True,
                   max_length: Optional[int] = None, add_eos: bool = False) -> list[np.ndarray]:
    """Per-token log p(token | everything before it) of each text's tokens (float64 arrays);
    with `add_eos`, the end-of-text token's last."""
    import torch

    seqs, starts = encode_texts(lm, texts, prompts, use_chat_template, max_length,
                                add_eos=add_eos)
    out: list[Optional[np.ndarray]] = [None] * len(texts)
    for idx, ids, logits in iter_logits(lm, seqs, batch_size):
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


def sum_logprobs(lm: LoadedModel, texts: list[str], prompts: Optional[list[str]] = None,
                 batch_size: int = 16, use_chat_template: bool = True,
                 end: bool = True) -> np.ndarray:
    """log p(text, then end of text): the summed log-prob of each text's tokens and the stop
    (`end=False`: without the stop). NaN for a text with nothing scored."""
    per_token = token_logprobs(lm, texts, prompts, batch_size, use_chat_template, add_eos=end)
    return np.array([lp.sum() if len(lp) else np.nan for lp in per_token])
