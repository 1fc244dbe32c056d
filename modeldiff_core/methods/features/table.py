"""The feature table: for each latent of a dictionary, how often and how strongly it fires on
A's texts and on B's texts (each text's value is the latent's largest activation over its
tokens), with a prompt-level test — per prompt, B's texts' mean minus A's, sign-flipped over
prompts — and Benjamini-Hochberg across the latents; a latent's highest-activating texts with
their tokens' activations, the tokens it promotes, and the latents that best predict a
hypothesis (AUC)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...hypotheses.stats import (auc_score, benjamini_hochberg, per_prompt_rates,
                                 sign_flip_p_columns)

MAX_RESAMPLES = 200_000


def resamples_for(n_tests: int, alpha: float) -> int:
    """Sign-flip resamples enough that one test at the smallest attainable p passes BH on its
    own (1 / (R + 1) <= alpha / (2 m)), at least 9,999, at most MAX_RESAMPLES."""
    return int(min(max(9999, math.ceil(2 * n_tests / alpha)), MAX_RESAMPLES))


def text_values(dictionary, x, text_index: np.ndarray, n_texts: int,
                chunk: int = 8192) -> np.ndarray:
    """(texts, latents): each latent's largest activation over each text's tokens, for the
    first n_texts texts (rows of later texts are left out). Encoded in chunks of rows: the
    code of every token at once would not fit in memory."""
    import torch

    keep = np.flatnonzero(text_index < n_texts)
    out = np.zeros((n_texts, dictionary.W_dec.shape[0]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(keep), chunk):
            rows = keep[start:start + chunk]
            np.maximum.at(out, text_index[rows], dictionary.encode(x[rows]).numpy())
    return out


def feature_table(values: np.ndarray, sides, prompt_ids, alpha: float = 0.05,
                  seed: int = 0) -> pd.DataFrame:
    """One row per latent: frequency and mean on A's and B's texts, the mean per-prompt
    difference (B - A) and its standardised size (t: mean over its standard error across
    prompts), its two-sided sign-flip p over prompts, BH q, and `b_specific` (fires more on B's
    texts at q < alpha). Rows are ranked B-specific first, then by t: a latent that rises a
    little on every prompt ranks above one that rises a lot on a few, which tells the typical
    change apart from a few texts'. Prompts without texts of both sides are left out."""
    sides = np.asarray(sides)
    mean_b, mean_a = per_prompt_rates(values, sides, prompt_ids)
    diffs = mean_b - mean_a
    p_values = sign_flip_p_columns(diffs, resamples_for(values.shape[1], alpha), seed)
    q = benjamini_hochberg(p_values)
    fires = values > 0
    sd = diffs.std(0, ddof=1) if len(diffs) > 1 else np.full(values.shape[1], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(sd > 0, diffs.mean(0) / (sd / np.sqrt(len(diffs))), 0.0)
    table = pd.DataFrame({
        "latent": np.arange(values.shape[1]),
        "freq_a": fires[sides == "A"].mean(0), "freq_b": fires[sides == "B"].mean(0),
        "mean_a": values[sides == "A"].mean(0), "mean_b": values[sides == "B"].mean(0),
        "effect": diffs.mean(0), "t": t, "p_value": p_values, "q_value": q,
        "n_prompts": len(diffs)})
    table["b_specific"] = (table["effect"] > 0) & (table["q_value"] < alpha)
    return table.sort_values(["b_specific", "t"], ascending=False).reset_index(drop=True)


def top_texts(values: np.ndarray, texts: list[str], latent: int, n: int = 10) -> list[dict]:
    """The n texts on which the latent fires most, with that activation and the text's index."""
    order = np.argsort(-values[:, latent], kind="stable")[:n]
    return [{"index": int(i), "text": texts[i], "activation": float(values[i, latent])}
            for i in order]


def token_activations(dictionary, acts, text_index: int, latent: int, tokenizer
                      ) -> list[tuple[str, float]]:
    """(token as text, the latent's activation) for each token of one text, in order: what
    the page highlights."""
    import torch

    rows = np.flatnonzero(acts.text == text_index)
    rows = rows[np.argsort(acts.pos[rows], kind="stable")]
    with torch.no_grad():
        code = dictionary.encode(acts.x[rows])[:, latent].numpy()
    return list(zip(token_pieces(tokenizer, [int(i) for i in acts.ids[rows]]),
                    (float(a) for a in code)))


def token_pieces(tokenizer, ids: list[int]) -> list[str]:
    """Each token's share of the decoded text, spaces included (a word-level tokenizer's
    tokens decode without the spaces the whole text has between them)."""
    pieces, before = [], ""
    for n in range(1, len(ids) + 1):
        now = tokenizer.decode(ids[:n])
        pieces.append(now[len(before):] if now.startswith(before)
                      else tokenizer.decode(ids[n - 1:n]))
        before = now
    return pieces


def promoted_tokens(unembedding, dictionary, latent: int, tokenizer, n: int = 8) -> list[str]:
    """The tokens whose logits the latent's decoder direction raises most through the
    unembedding (the direct path, final norm left out)."""
    import torch

    with torch.no_grad():
        logits = unembedding.float() @ dictionary.W_dec[latent].to(unembedding.device).float()
    return [tokenizer.decode([int(i)]) for i in torch.topk(logits, n).indices.cpu()]


def hypothesis_links(values: np.ndarray, labels, n: int = 5) -> list[dict]:
    """The n latents whose per-text value best predicts the labels (the hypothesis holds of
    the text), by AUC, highest first; empty when the labels are all alike."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return []
    aucs = np.array([auc_score(values[:, j], labels) for j in range(values.shape[1])])
    order = np.argsort(-aucs, kind="stable")[:n]
    return [{"latent": int(j), "auc": float(aucs[j]), "n_texts": int(len(labels)),
             "n_positive": int(labels.sum())} for j in order]
