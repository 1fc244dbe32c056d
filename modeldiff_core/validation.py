"""Validation of differences on held-out texts. For now: the bag-of-words baseline, the
yardstick of how separable the two models are at all."""
from __future__ import annotations

import math

import numpy as np

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
