"""Log-probabilities of given texts under a model, batched; the token-level view of one text
under two models.

Scoring pads on the right and builds batches by length: positions then start at 0 for every
row, which is what the model saw in training (left padding would shift absolute positions in
models like GPT-2 that do not derive them from the attention mask)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np

from .config import ModelDiffError
from .generate import context_limit_of, format_prompt
from .models import LoadedModel


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
                 batch_size: int = 16, use_chat_template: bool = True) -> np.ndarray:
    """log p(text, then end of text): the summed log-prob of each text's tokens and the stop
    (NaN for a text with nothing scored)."""
    per_token = token_logprobs(lm, texts, prompts, batch_size, use_chat_template, add_eos=True)
    return np.array([lp.sum() if len(lp) else np.nan for lp in per_token])


# ------------------------------------------------------------------ token view of one text

@dataclass
class TokenDiff:
    """One text's tokens under A and B: log-prob and rank (1 = the model's top choice) of the
    actual token, each model's own top prediction, and diff = log p_B - log p_A."""
    tokens: list[str]
    logprob_a: np.ndarray
    logprob_b: np.ndarray
    rank_a: np.ndarray
    rank_b: np.ndarray
    top_a: list[str]
    top_b: list[str]
    notices: list[str] = field(default_factory=list)

    @property
    def diff(self) -> np.ndarray:
        return self.logprob_b - self.logprob_a

    def table(self):
        import pandas as pd

        return pd.DataFrame({"position": range(len(self.tokens)), "token": self.tokens,
                             "logprob_a": self.logprob_a, "logprob_b": self.logprob_b,
                             "diff": self.diff, "rank_a": self.rank_a, "rank_b": self.rank_b,
                             "top_a": self.top_a, "top_b": self.top_b})

    def largest(self, n: int = 10, sign: int = 1):
        """The n tokens B favours most over A (sign=1) or A over B (sign=-1)."""
        t = self.table()
        t = t[t["diff"] * sign > 0]
        return t.reindex((t["diff"] * sign).sort_values(ascending=False).index).head(n)


def check_shared_tokenizer(lm_a: LoadedModel, lm_b: LoadedModel, text: str) -> None:
    """The token view compares the same tokens; different tokenizers cut text differently."""
    va, vb = lm_a.tokenizer.get_vocab(), lm_b.tokenizer.get_vocab()
    same = va == vb and (lm_a.tokenizer(text)["input_ids"] == lm_b.tokenizer(text)["input_ids"])
    if not same:
        raise ModelDiffError("the token view needs models that share a tokenizer; "
                             f"{lm_a.spec.label} and {lm_b.spec.label} split text differently")


def _token_details(lm: LoadedModel, seq: list[int], start: int):
    """Log-prob, rank and the model's own top token at each position from `start` on."""
    import torch

    (_, ids, logits), = list(iter_logits(lm, [seq], batch_size=1))
    logp = torch.log_softmax(logits[0, :-1], dim=-1).cpu()
    actual = ids[0, 1:]
    picked = logp.gather(-1, actual.unsqueeze(-1)).squeeze(-1)
    rank = (logp > picked.unsqueeze(-1)).sum(-1) + 1
    top = logp.argmax(-1)
    sl = slice(start - 1, len(seq) - 1)
    return (picked[sl].double().numpy(), rank[sl].numpy(),
            [lm.tokenizer.decode([t]) for t in top[sl].tolist()])


def token_diff(lm_a: LoadedModel, lm_b: LoadedModel, text: str, prompt: Optional[str] = None,
               use_chat_template: bool = True) -> TokenDiff:
    """Every token of `text` (after `prompt`, if given) under A and under B."""
    if not text.strip():
        raise ModelDiffError("the text is empty: type or pick a text to score")
    check_shared_tokenizer(lm_a, lm_b, text)
    limit = min(context_limit(lm_a), context_limit(lm_b))
    prompts = None if prompt is None else [prompt]
    (full,), _ = encode_texts(lm_a, [text], prompts, use_chat_template, max_length=10 ** 9)
    (seq,), (start,) = encode_texts(lm_a, [text], prompts, use_chat_template, limit, keep="start")
    notices = []
    if len(full) > limit:
        notices.append(f"the text is longer than the models' context ({limit} tokens with the "
                       f"prompt): only its first {len(seq) - start} of {len(full) - start} "
                       "tokens are shown")
    if len(seq) <= start:
        raise ModelDiffError("the prompt fills the models' whole context: nothing of the text "
                             "is left to score")
    lp_a, rank_a, top_a = _token_details(lm_a, seq, start)
    lp_b, rank_b, top_b = _token_details(lm_b, seq, start)
    tokens = [lm_a.tokenizer.decode([t]) for t in seq[start:]]
    return TokenDiff(tokens, lp_a, lp_b, rank_a, rank_b, top_a, top_b, notices)
