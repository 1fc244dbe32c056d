"""The feature table: for each latent of a dictionary, how often and how strongly it fires on
A's texts and on B's texts (each text's value is the latent's mean activation per token, so a
longer text does not score higher), with a prompt-level test — per prompt, B's texts' mean
minus A's, sign-flipped over prompts — and Benjamini-Hochberg across the latents; a latent's
highest-activating texts with their tokens' activations, the tokens it promotes, and the
latents that best predict a hypothesis (AUC, chosen on half of the prompts and reported on the other half)."""
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


def text_values(dictionary, x, text_index: np.ndarray, n_texts: int, reduce: str = "mean",
                chunk: int = 8192) -> np.ndarray:
    """(texts, latents) for the first n_texts texts (rows of later texts are left out):
    `reduce="mean"`, each latent's mean activation per token of the text — what the table
    tests and the links rank, since it does not grow with the text's length; `"max"`, its
    largest activation over the text's tokens — which texts show a latent most strongly.
    Encoded in chunks of rows: the code of every token at once would not fit in memory."""
    import torch

    if reduce not in ("mean", "max"):
        raise ValueError(f"unknown reduce {reduce!r}; choose mean or max")
    keep = np.flatnonzero(text_index < n_texts)
    out = np.zeros((n_texts, dictionary.W_dec.shape[0]), dtype=np.float64 if reduce == "mean"
                   else np.float32)
    with torch.no_grad():
        for start in range(0, len(keep), chunk):
            rows = keep[start:start + chunk]
            code = dictionary.encode(x[rows]).numpy()
            (np.add if reduce == "mean" else np.maximum).at(out, text_index[rows], code)
    if reduce == "mean":
        out /= np.maximum(np.bincount(text_index[keep], minlength=n_texts), 1)[:, None]
    return out


def feature_table(values: np.ndarray, sides, prompt_ids, alpha: float = 0.05,
                  seed: int = 0) -> pd.DataFrame:
    """One row per latent, from `values` (texts x latents: per-token means, `text_values`):
    frequency (share of texts it fires on) and mean on A's and B's texts, the mean per-prompt
    difference (B - A) and its standardised size (t: mean over its standard error across
    prompts), its two-sided sign-flip p over prompts (beyond the resamples' resolution,
    Hoeffding's bound on the sign flip's tail: see `sign_flip_p_columns`), BH q, and
    `b_specific` (fires more on B's texts at q < alpha). Rows are ranked B-specific first,
    then by t: a latent that rises a little on every prompt ranks above one that rises a lot
    on a few, which tells the typical change apart from a few texts'. Prompts without texts
    of both sides are left out."""
    sides = np.asarray(sides)
    mean_b, mean_a = per_prompt_rates(values, sides, prompt_ids)
    diffs = mean_b - mean_a
    p_values = sign_flip_p_columns(diffs, resamples_for(values.shape[1], alpha), seed,
                                   tail_bound=True)
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


def hypothesis_links(values: np.ndarray, labels, n: int = 5, prompt_ids=None,
                     seed: int = 0) -> list[dict]:
    """The n latents whose per-text value best predicts the labels (the hypothesis holds of
    the text), by AUC. With `prompt_ids` the prompts are split in two halves by a seeded
    shuffle: the latents are chosen on one half's texts and their AUC reported on the other's
    (on pure noise the best of thousands of latents reaches a high AUC on the texts that chose
    it); without, both on all texts. Highest first; empty when either half's labels are all
    alike."""
    labels = np.asarray(labels, dtype=bool)
    choose = report = np.ones(len(labels), dtype=bool)
    if prompt_ids is not None:
        prompt_ids = np.asarray(prompt_ids)
        units = np.unique(prompt_ids)
        first = np.random.default_rng(seed).permutation(units)[:len(units) // 2]
        choose = np.isin(prompt_ids, first)
        report = ~choose
    if any(labels[m].all() or not labels[m].any() for m in (choose, report)):
        return []

    def aucs(mask, columns):
        return np.array([auc_score(values[mask, j], labels[mask]) for j in columns])
    order = np.argsort(-aucs(choose, range(values.shape[1])), kind="stable")[:n]
    chosen, reported = aucs(choose, order), aucs(report, order)
    return [{"latent": int(j), "auc": float(r), "auc_choosing": float(c),
             "n_texts": int(report.sum()), "n_positive": int(labels[report].sum())}
            for j, c, r in zip(order, chosen, reported)]
