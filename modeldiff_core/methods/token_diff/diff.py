"""The token view of one text: per-token log-prob and rank under A and under B (LMdiff-style)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ...config import ModelDiffError
from ...models.loading import LoadedModel
from ...models.scoring import context_limit, encode_texts, iter_logits


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

    def to_dict(self) -> dict:
        """JSON-ready: per-token fields as lists, with the means."""
        return {"tokens": list(self.tokens), "logprob_a": self.logprob_a.tolist(),
                "logprob_b": self.logprob_b.tolist(), "rank_a": self.rank_a.tolist(),
                "rank_b": self.rank_b.tolist(), "top_a": list(self.top_a),
                "top_b": list(self.top_b), "notices": list(self.notices), "means": self.means()}

    @classmethod
    def from_dict(cls, d: dict) -> "TokenDiff":
        arrays = {k: np.asarray(d[k]) for k in ("logprob_a", "logprob_b", "rank_a", "rank_b")}
        return cls(list(d["tokens"]), top_a=list(d["top_a"]), top_b=list(d["top_b"]),
                   notices=list(d["notices"]), **arrays)

    def means(self) -> dict[str, float]:
        """Mean log-prob per token under A and under B, and their difference B − A."""
        return {"a": float(self.logprob_a.mean()), "b": float(self.logprob_b.mean()),
                "diff": float(self.diff.mean())}


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
