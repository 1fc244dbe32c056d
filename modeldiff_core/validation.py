"""Validation of differences on held-out texts. For now: the bag-of-words baseline, the
yardstick of how separable the two models are at all."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

BOW_TOKENS = r"(?u)\b\w+\b|[^\w\s]"  # words and single punctuation marks ("?" matters)


def bow_baseline(texts: list[str], sides: list[str], groups: list, seed: int = 0,
                 max_folds: int = 5) -> dict:
    """Cross-validated logistic regression on word/punctuation counts telling A from B.

    Folds are grouped by prompt, so samples of one prompt never sit on both sides of a split.
    Returns out-of-fold accuracy and AUC with n; NaN (and a reason) when it cannot be fitted."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline

    y = np.array([1 if s == "B" else 0 for s in sides])
    groups = np.asarray(groups)
    n_groups = len(set(groups.tolist()))
    if len(set(y.tolist())) < 2 or n_groups < 2:
        return {"accuracy": math.nan, "auc": math.nan, "n": int(len(y)), "folds": 0,
                "note": "needs texts from both models and at least two prompts"}
    folds = min(max_folds, n_groups)
    prob = np.zeros(len(y))
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(texts, y, groups):
        if len(set(y[train].tolist())) < 2:
            prob[test] = y[train].mean()
            continue
        model = make_pipeline(
            CountVectorizer(token_pattern=BOW_TOKENS, ngram_range=(1, 2), min_df=2, lowercase=True),
            LogisticRegression(C=1.0, max_iter=2000))
        try:
            model.fit([texts[i] for i in train], y[train])
            prob[test] = model.predict_proba([texts[i] for i in test])[:, 1]
        except ValueError:  # empty vocabulary in this fold
            prob[test] = y[train].mean()
    accuracy = float(((prob >= 0.5).astype(int) == y).mean())
    return {"accuracy": accuracy, "auc": float(roc_auc_score(y, prob)), "n": int(len(y)),
            "folds": folds}


def discriminative(assistant, hypothesis, texts: list[str], sides: list[str]) -> dict:
    """The assistant, given the hypothesis, scores held-out texts for "written by B".

    Accuracy (score > 0.5 means B) with an exact one-sided binomial test on the real n and a
    Wilson CI; AUC of the scores with a one-sided Mann-Whitney U p-value."""
    from . import stats

    scores = np.asarray(assistant.judge(hypothesis, texts), dtype=float)
    y = np.array([s == "B" for s in sides])
    n = int(len(y))
    correct = int(((scores > 0.5) == y).sum())
    low, high = stats.wilson_interval(correct, n)
    auc, auc_p = stats.auc_mann_whitney(scores[y], scores[~y])
    return {"accuracy": correct / n if n else math.nan, "ci_low": low, "ci_high": high,
            "p_value": stats.binomial_test_p(correct, n), "auc": auc, "auc_p_value": auc_p,
            "n": n, "n_correct": correct, "scores": scores.tolist()}


def generative(pairs, lm_a, lm_b, use_chat_template: bool = True, n_permutations: int = 10000,
               seed: int = 0) -> dict:
    """Each text of each pair is scored by mean token log-prob under A and under B; if the
    hypothesis holds, (B - A) is larger for the favoured texts than for their contrasts."""
    from . import stats
    from .scoring import mean_logprobs

    if not pairs:
        return {"auc": math.nan, "p_value": math.nan, "permutation_p": math.nan, "n": 0}
    texts = [p.favoured for p in pairs] + [p.contrast for p in pairs]
    prompts = [p.prompt for p in pairs] * 2
    use_prompts = all(p is not None for p in prompts)
    kwargs = {"prompts": prompts if use_prompts else None, "use_chat_template": use_chat_template}
    diff = mean_logprobs(lm_b, texts, **kwargs) - mean_logprobs(lm_a, texts, **kwargs)
    fav, con = diff[:len(pairs)], diff[len(pairs):]
    auc, p = stats.auc_mann_whitney(fav, con)
    return {"auc": auc, "p_value": p,
            "permutation_p": stats.permutation_p(fav, con, n_permutations, seed),
            "mean_diff_favoured": float(np.nanmean(fav)), "mean_diff_contrast": float(np.nanmean(con)),
            "n": len(pairs), "diffs": {"favoured": fav.tolist(), "contrast": con.tolist()}}


TEXT_KEY = ["side", "prompt_id", "sample_idx"]


def judged_texts(gens: pd.DataFrame, disc: Optional[dict]) -> Optional[pd.DataFrame]:
    """The texts of `gens` that a stored discriminative test judged, in the test's order, with
    their scores (columns side, prompt_id, sample_idx, score, text, prompt); None when the test
    stored no scores."""
    if not disc or not disc.get("keys") or len(disc.get("scores", [])) != len(disc["keys"]):
        return None
    scored = pd.DataFrame(disc["keys"], columns=TEXT_KEY).astype({"side": str, "prompt_id": int,
                                                                  "sample_idx": int})
    scored["score"] = [float(v) for v in disc["scores"]]
    texts = gens[TEXT_KEY + ["text", "prompt"]].astype({"prompt_id": int, "sample_idx": int})
    return scored.merge(texts, on=TEXT_KEY, how="inner")
