"""The bag-of-words yardstick of how separable two models are at all, and how much of it the
validated hypotheses explain (`coverage`): classifiers fitted on discovery texts and scored on
every held-out text (or cross-validated with folds grouped by prompt), each AUC with a
prompt-bootstrap CI."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

BOW_TOKENS = r"(?u)\b\w+\b|[^\w\s]"  # words and single punctuation marks ("?" matters)


def _grouped_cv(make_model, x, y: np.ndarray, groups, seed: int, max_folds: int = 5):
    """Out-of-fold P(B) of `make_model()` fitted on x (a list of texts or a matrix), folds
    grouped by prompt so samples of one prompt never sit on both sides of a split; None when
    it cannot be fitted (one class, or fewer than two prompts)."""
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(groups)
    n_groups = len(set(groups.tolist()))
    if len(set(y.tolist())) < 2 or n_groups < 2:
        return None, 0
    take = (lambda idx: [x[i] for i in idx]) if isinstance(x, list) else (lambda idx: x[idx])
    folds = min(max_folds, n_groups)
    prob = np.zeros(len(y))
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y, groups):
        if len(set(y[train].tolist())) < 2:
            prob[test] = y[train].mean()
            continue
        model = make_model()
        try:
            model.fit(take(train), y[train])
            prob[test] = model.predict_proba(take(test))[:, 1]
        except ValueError:  # e.g. an empty vocabulary in this fold
            prob[test] = y[train].mean()
    return prob, folds


def _bow_model():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        CountVectorizer(token_pattern=BOW_TOKENS, ngram_range=(1, 2), min_df=2, lowercase=True),
        # The same L2 model as lbfgs' (the intercept unpenalised), solved by Newton-CG: lbfgs
        # crawls on raw counts of long answers (6x slower on 400 real ones: bench_baseline.py).
        LogisticRegression(C=1.0, solver="newton-cg", max_iter=2000))


def bow_baseline(texts: list[str], sides: list[str], groups: list, seed: int = 0,
                 max_folds: int = 5) -> dict:
    """Cross-validated logistic regression on word/punctuation counts telling A from B.

    Folds are grouped by prompt, so samples of one prompt never sit on both sides of a split.
    Returns out-of-fold accuracy and AUC with n; NaN (and a reason) when it cannot be fitted."""
    from sklearn.metrics import roc_auc_score

    y = np.array([1 if s == "B" else 0 for s in sides])
    prob, folds = _grouped_cv(_bow_model, list(texts), y, groups, seed, max_folds)
    if prob is None:
        return {"accuracy": math.nan, "auc": math.nan, "n": int(len(y)), "folds": 0,
                "note": "needs texts from both models and at least two prompts"}
    accuracy = float(((prob >= 0.5).astype(int) == y).mean())
    return {"accuracy": accuracy, "auc": float(roc_auc_score(y, prob)), "n": int(len(y)),
            "folds": folds}


def _auc_ci(prob: np.ndarray, y: np.ndarray, prompt_ids, seed: int, n_boot: int):
    from . import stats

    return stats.cluster_bootstrap_ci(prompt_ids, lambda i: stats.auc_score(prob[i], y[i]),
                                      n_boot, seed)


def bow_yardstick(train_texts: list[str], train_sides: list[str], texts: list[str],
                  sides: list[str], prompt_ids: list, seed: int = 0, n_boot: int = 1000) -> dict:
    """The bag-of-words yardstick: the same L2 logistic regression as `bow_baseline`, fitted
    on the discovery texts and scored on every validation text given (no folds: nothing it is
    scored on was fitted), with a prompt-bootstrap CI of its AUC. NaN (and a reason) when it
    cannot be fitted."""
    from sklearn.metrics import roc_auc_score

    from . import stats

    y_train = np.array([s == "B" for s in train_sides], dtype=int)
    y = np.array([s == "B" for s in sides], dtype=int)
    out = {"accuracy": math.nan, "auc": math.nan, "auc_ci_low": math.nan,
           "auc_ci_high": math.nan, "n": int(len(y)), "n_prompts": len(set(prompt_ids)),
           "fit": "discovery texts", "folds": 0}
    if len(set(y_train.tolist())) < 2 or len(set(y.tolist())) < 2:
        return {**out, "note": "needs texts from both models in both splits"}
    model = _bow_model()
    try:
        model.fit(list(train_texts), y_train)
    except ValueError:  # e.g. an empty vocabulary
        return {**out, "note": "the discovery texts have no words in common"}
    prob = model.predict_proba(list(texts))[:, 1]
    low, high = _auc_ci(prob, y, prompt_ids, seed, n_boot)
    return {**out, "accuracy": stats.balanced_accuracy(prob, y.astype(bool)),
            "auc": float(roc_auc_score(y, prob)), "auc_ci_low": low, "auc_ci_high": high,
            "prob": prob}


def coverage(scores: np.ndarray, texts: list[str], sides: list[str], prompt_ids: list,
             seed: int = 0, train: Optional[dict] = None, n_boot: int = 1000) -> dict:
    """How much of the two models' separability the validated hypotheses explain: a
    model-identity classifier over their judge scores (texts x hypotheses; logistic
    regression) against the bag-of-words yardstick, on the same held-out texts. With `train`
    ({scores, texts, sides} of the discovery texts: where the judge costs nothing, a
    predicate) both are fitted on discovery texts and scored on every held-out text given;
    without, both are cross-validated with folds grouped by prompt on the judged texts.
    share = (AUC of the hypotheses - 0.5) / (AUC of the yardstick - 0.5), unclipped (above 1:
    the hypotheses separate the models better than the words do), with prompt-bootstrap CIs
    of both AUCs and of the share: a low share says something the hypotheses do not name
    remains."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from . import stats

    out = {"accuracy": None, "auc": None, "auc_ci_low": None, "auc_ci_high": None,
           "baseline_accuracy": None, "baseline_auc": None, "baseline_auc_ci_low": None,
           "baseline_auc_ci_high": None, "share": None, "share_ci_low": None,
           "share_ci_high": None, "n_prompts": len(set(prompt_ids)), "n_texts": len(texts),
           "n_hypotheses": int(scores.shape[1]) if scores.ndim == 2 else 0,
           "fit": "discovery texts" if train is not None else "cross-validated by prompt"}
    if out["n_hypotheses"] == 0:
        return {**out, "note": "not applicable: no validated hypothesis"}
    y = np.array([1 if s == "B" else 0 for s in sides])
    x = np.nan_to_num(scores, nan=0.5)
    if train is not None:
        y_train = np.array([s == "B" for s in train["sides"]], dtype=int)
        prob = None
        if len(set(y_train.tolist())) == 2 and len(set(y.tolist())) == 2:
            model = LogisticRegression(max_iter=2000).fit(np.nan_to_num(train["scores"], nan=0.5),
                                                          y_train)
            prob = model.predict_proba(x)[:, 1]
        base_prob = bow_yardstick(train["texts"], train["sides"], texts, sides, prompt_ids,
                                  seed, 0).get("prob")
    else:
        prob, _ = _grouped_cv(lambda: LogisticRegression(max_iter=2000), x, y, prompt_ids, seed)
        base_prob, _ = _grouped_cv(_bow_model, list(texts), y, prompt_ids, seed)
    if prob is None or base_prob is None:
        return {**out, "note": "not applicable: needs texts of both models from two prompts"}
    auc, base_auc = float(roc_auc_score(y, prob)), float(roc_auc_score(y, base_prob))
    out.update(accuracy=float(((prob >= 0.5) == y).mean()), auc=auc,
               baseline_accuracy=float(((base_prob >= 0.5) == y).mean()), baseline_auc=base_auc)
    (out["auc_ci_low"], out["auc_ci_high"]) = _auc_ci(prob, y, prompt_ids, seed, n_boot)
    (out["baseline_auc_ci_low"], out["baseline_auc_ci_high"]) = _auc_ci(base_prob, y, prompt_ids,
                                                                        seed, n_boot)
    if base_auc <= 0.55:
        return {**out, "note": "not applicable: the baseline cannot tell the models apart"}
    out["share"] = (auc - 0.5) / (base_auc - 0.5)

    def share(i):
        b = stats.auc_score(base_prob[i], y[i])
        return (stats.auc_score(prob[i], y[i]) - 0.5) / (b - 0.5) if b > 0.55 else math.nan
    (out["share_ci_low"], out["share_ci_high"]) = stats.cluster_bootstrap_ci(
        prompt_ids, share, n_boot, seed)
    return out
