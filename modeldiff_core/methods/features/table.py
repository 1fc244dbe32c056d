"""The feature table: for each latent of a dictionary, how often and how strongly it fires on
A's texts and on B's texts (each text's value is the latent's largest activation over its
tokens), with a prompt-level test — per prompt, B's texts' mean minus A's, sign-flipped over
prompts — and Benjamini-Hochberg across the latents; and a latent's highest-activating texts."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...hypotheses.stats import benjamini_hochberg, per_prompt_rates, sign_flip_p


def text_values(dictionary, x, text_index: np.ndarray, n_texts: int) -> np.ndarray:
    """(texts, latents): each latent's largest activation over each text's tokens."""
    import torch

    with torch.no_grad():
        code = dictionary.encode(x).numpy()
    out = np.zeros((n_texts, code.shape[1]), dtype=np.float32)
    np.maximum.at(out, text_index, code)
    return out


def feature_table(values: np.ndarray, sides, prompt_ids, alpha: float = 0.05,
                  seed: int = 0) -> pd.DataFrame:
    """One row per latent: frequency and mean on A's and B's texts, the mean per-prompt
    difference (B - A), its two-sided sign-flip p over prompts, BH q, and `b_specific` (fires
    more on B's texts at q < alpha). Prompts without texts of both sides are left out."""
    sides = np.asarray(sides)
    mean_b, mean_a = per_prompt_rates(values, sides, prompt_ids)
    diffs = mean_b - mean_a
    p_values = np.array([sign_flip_p(diffs[:, j], seed=seed, alternative="two-sided")
                         for j in range(values.shape[1])])
    q = benjamini_hochberg(p_values)
    fires = values > 0
    table = pd.DataFrame({
        "latent": np.arange(values.shape[1]),
        "freq_a": fires[sides == "A"].mean(0), "freq_b": fires[sides == "B"].mean(0),
        "mean_a": values[sides == "A"].mean(0), "mean_b": values[sides == "B"].mean(0),
        "effect": diffs.mean(0), "p_value": p_values, "q_value": q, "n_prompts": len(diffs)})
    table["b_specific"] = (table["effect"] > 0) & (table["q_value"] < alpha)
    return table.sort_values(["b_specific", "effect"], ascending=False).reset_index(drop=True)


def top_texts(values: np.ndarray, texts: list[str], latent: int, n: int = 10) -> list[dict]:
    """The n texts on which the latent fires most, with that activation."""
    order = np.argsort(-values[:, latent], kind="stable")[:n]
    return [{"text": texts[i], "activation": float(values[i, latent])} for i in order]
