"""Coverage: how much of the models' separability the validated hypotheses explain."""
import random

import numpy as np
import pytest

from modeldiff_core.hypotheses.yardstick import bow_baseline, coverage
from seeds import seeded


def _world(n_prompts=30, per_side=3, seed=None):
    """B's texts mention a marker word in 80% of texts; A's never."""
    seed = seeded(0) if seed is None else seed
    rng = random.Random(seed)
    words = ["tree", "river", "stone", "bread", "lamp", "road", "cloud", "chair"]
    texts, sides, prompts, marked = [], [], [], []
    for p in range(n_prompts):
        for side in "AB":
            for _ in range(per_side):
                body = " ".join(rng.choice(words) for _ in range(8))
                mark = side == "B" and rng.random() < 0.8
                texts.append(body + (" zebra" if mark else ""))
                sides.append(side)
                prompts.append(p)
                marked.append(mark)
    return texts, sides, prompts, np.array(marked, dtype=float)


def test_a_hypothesis_that_names_the_difference_covers_it():
    texts, sides, prompts, marked = _world()
    out = coverage(marked[:, None], texts, sides, prompts)
    base = bow_baseline(texts, sides, prompts)
    assert out["baseline_auc"] == pytest.approx(base["auc"])
    # 80% of B marked: AUC 0.9 in expectation. Over test seeds 0-19 this world's out-of-fold
    # AUC spread over 0.834-0.936 and the share over 0.878-1.0: the bounds leave that room.
    assert out["auc"] == pytest.approx(0.9, abs=0.08)
    assert out["share"] > 0.85 and out["n_prompts"] == 30 and out["n_hypotheses"] == 1


def test_an_irrelevant_hypothesis_covers_nothing():
    texts, sides, prompts, _ = _world(seed=seeded(1))
    noise = np.random.default_rng(seeded(0)).random((len(texts), 2))
    out = coverage(noise, texts, sides, prompts)
    assert out["baseline_auc"] > 0.8 and out["share"] < 0.3


def test_not_applicable_without_validated_hypotheses_or_separability():
    texts, sides, prompts, marked = _world()
    assert coverage(np.zeros((0, 0)), [], [], [])["note"].startswith("not applicable")
    same = [t.replace(" zebra", "") for t in texts]
    out = coverage(marked[:, None] * 0 + 0.5, same, sides, prompts)
    assert out["share"] is None and out["note"].startswith("not applicable")


def test_the_baseline_is_the_l2_logistic_regression_fitted_fold_by_fold():
    """Against an independent fit of the same model (lbfgs run to a tight tolerance, folds
    grouped by prompt as GroupKFold makes them), on texts of unequal lengths and counts."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    from modeldiff_core.hypotheses.yardstick import BOW_TOKENS

    rng = random.Random(seeded(3))
    words = ["tree", "river", "stone", "bread", "lamp", "road", "cloud", "chair", "zebra", "!"]
    texts, sides, prompts = [], [], []
    for p in range(40):
        for side in "AB":
            for _ in range(2):
                weights = [1] * 8 + ([3, 2] if side == "B" else [1, 1])
                texts.append(" ".join(rng.choices(words, weights, k=rng.randint(5, 120))))
                sides.append(side)
                prompts.append(p)
    base = bow_baseline(texts, sides, prompts, seed=4)
    y = np.array([s == "B" for s in sides], dtype=int)
    prob = np.zeros(len(y))
    for train, test in GroupKFold(5, shuffle=True, random_state=4).split(texts, y, prompts):
        vec = CountVectorizer(token_pattern=BOW_TOKENS, ngram_range=(1, 2), min_df=2)
        xtr = vec.fit_transform([texts[i] for i in train])
        model = LogisticRegression(C=1.0, tol=1e-10, max_iter=100_000).fit(xtr, y[train])
        prob[test] = model.predict_proba(vec.transform([texts[i] for i in test]))[:, 1]
    assert base["folds"] == 5 and base["n"] == len(texts)
    assert base["auc"] == pytest.approx(roc_auc_score(y, prob), abs=2e-3)
    assert base["accuracy"] == pytest.approx(((prob >= 0.5) == y).mean(), abs=2 / len(y))


def test_fitted_on_discovery_scored_on_every_held_out_text_with_intervals():
    """The predicate path: both classifiers fitted on discovery texts and scored on all
    validation texts; against an independent fit, the share unclipped, the CIs around it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    train_texts, train_sides, _, train_marked = _world(seed=seeded(5))
    texts, sides, prompts, marked = _world(n_prompts=60, seed=seeded(6))
    out = coverage(marked[:, None], texts, sides, prompts,
                   train={"scores": train_marked[:, None], "texts": train_texts,
                          "sides": train_sides})
    y = np.array([s == "B" for s in sides])
    direct = LogisticRegression(max_iter=2000).fit(train_marked[:, None],
                                                   [s == "B" for s in train_sides])
    assert out["fit"] == "discovery texts" and out["n_texts"] == len(texts)
    assert out["auc"] == pytest.approx(roc_auc_score(y, direct.predict_proba(marked[:, None])[:, 1]))
    assert out["auc_ci_low"] < out["auc"] < out["auc_ci_high"]
    assert out["baseline_auc_ci_low"] < out["baseline_auc"] < out["baseline_auc_ci_high"]
    assert out["share"] == pytest.approx((out["auc"] - 0.5) / (out["baseline_auc"] - 0.5))
    assert out["share_ci_low"] < out["share"] < out["share_ci_high"]


def test_a_hypothesis_that_beats_the_words_is_not_clipped():
    """The words separate the models well (a marker in 80% of B's texts); the hypothesis'
    judge sees every B text: the share is above 1 and says so, where it used to be clipped
    to 1."""
    from modeldiff_core.render.fmt import coverage_line

    texts, sides, prompts, _ = _world(seed=seeded(8))
    sees = np.array([s == "B" for s in sides], dtype=float)
    out = coverage(sees[:, None], texts, sides, prompts)
    assert out["share"] > 1 and "better than the words do" in coverage_line(out), out
