"""What explains what (`hypotheses.explain`): a finding that is a consequence of a stronger one
is folded under it, one that differs beyond it stays a headline. Checked by hand on the
statistic, and on simulated worlds built to break it: word presence that follows length alone
(B's answers longer, continuously), and a topical shift whose other side ("less of everything
else") is nothing but the topic."""
import math

import numpy as np
import pandas as pd
import pytest

from modeldiff_core.hypotheses import stats
from modeldiff_core.hypotheses.explain import conditional_p, explain, strata
from seeds import seeded


def test_strata_by_hand():
    assert strata([0, 1, 1, 0]).tolist() == [0, 1, 1, 0]
    v = np.arange(100.0)
    k = strata(v)
    assert len(np.unique(k)) == 10 and np.all(np.diff(k) >= 0)
    assert np.bincount(k).tolist() == [10] * 10


def test_the_conditional_statistic_by_hand():
    """Centred on each stratum's mean over both models, then B minus A per prompt, averaged."""
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], float)
    given = np.array([0, 0, 1, 1, 0, 0, 1, 1], float)
    sides = np.array(["A", "B", "A", "B", "A", "B", "A", "B"], dtype=object)
    prompts = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    r = conditional_p(y, given, sides, prompts, n_resamples=999)
    frame = pd.DataFrame({"y": y, "k": given, "s": sides, "p": prompts})
    frame["c"] = frame["y"] - frame.groupby("k")["y"].transform("mean")
    per = frame.pivot_table(index="p", columns="s", values="c")
    assert r["effect"] == pytest.approx((per["B"] - per["A"]).mean())
    assert r["n_prompts"] == 4


def _length_world(rng, n_prompts, extra=0.0):
    """One answer a side per prompt; B's answers 1.6 times as long on average, each length
    drawn from a wide lognormal around a prompt's own size. The word "with" is in a text with
    probability 1 - exp(-words / 150): presence follows length alone. `extra`: B also uses it
    more at any length (its odds times e**extra)."""
    size = rng.lognormal(4.5, 0.4, n_prompts)
    rows = []
    for p in range(n_prompts):
        for side, scale in (("A", 1.0), ("B", 1.6)):
            words = max(5.0, size[p] * scale * rng.lognormal(0, 0.35))
            rate = 1 - math.exp(-words / 150)
            if side == "B" and extra:
                odds = rate / (1 - rate) * math.exp(extra)
                rate = odds / (1 + odds)
            rows.append((side, p, words, float(rng.random() < rate)))
    frame = pd.DataFrame(rows, columns=["side", "prompt", "words", "with"])
    return frame


def test_word_presence_that_follows_length_is_explained_by_it():
    """The world made to break a stratified test: length is continuous, and within a decile
    B's texts are still a little longer than A's. Unconditionally "with" validates almost
    always; held fixed on length, it is rejected at no more than the level."""
    rng = np.random.default_rng(seeded(5))
    reps, raw, conditional = 300, [], []
    for _ in range(reps):
        w = _length_world(rng, 300)
        rate_b, rate_a = stats.per_prompt_rates(w["with"], w["side"], w["prompt"])
        raw.append(stats.prompt_level_p(rate_b - rate_a, 999))
        conditional.append(conditional_p(w["with"], w["words"], w["side"], w["prompt"],
                                         n_resamples=999)["p_value"])
    raw, conditional = np.array(raw), np.array(conditional)
    assert (raw < 0.05).mean() > 0.8
    fpr = (conditional < 0.05).mean()
    assert fpr <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps), fpr


def test_a_difference_beyond_length_stays_a_finding():
    rng = np.random.default_rng(seeded(6))
    hits = [conditional_p(w["with"], w["words"], w["side"], w["prompt"],
                          n_resamples=999)["p_value"] < 0.05
            for w in (_length_world(rng, 200, extra=1.0) for _ in range(60))]
    assert np.mean(hits) >= 0.8


def _topic_world(rng, n_prompts, friend_b=0.3):
    """B writes about the sea in 40% of its answers, A in 5%; "friend" comes up in 30% of the
    answers that are not about the sea, on both sides (`friend_b` for B's), never in the sea
    ones: B says "friend" less, and it is nothing but the sea."""
    rows = []
    for p in range(n_prompts):
        for side, sea_rate, friend in (("A", 0.05, 0.3), ("B", 0.4, friend_b)):
            sea = rng.random() < sea_rate
            rows.append((side, p, float(sea), float(not sea and rng.random() < friend)))
    return pd.DataFrame(rows, columns=["side", "prompt", "sea", "friend"])


def test_the_other_side_of_a_topical_shift_is_folded_under_it():
    rng = np.random.default_rng(seeded(7))
    verdicts = []
    for _ in range(40):
        w = _topic_world(rng, 300)
        sides, prompts = w["side"].to_numpy(), w["prompt"].to_numpy()
        found = [{"id": "sea", "scores": w["sea"].to_numpy(), "given": w["sea"].to_numpy(),
                  "sides": sides, "prompt_ids": prompts},
                 # "B mentions friend less": its B-like score is 1 where friend is absent
                 {"id": "friend", "scores": 1 - w["friend"].to_numpy(),
                  "given": w["friend"].to_numpy(), "sides": sides, "prompt_ids": prompts}]
        out = explain(found, seed=0)
        assert out["sea"]["by"] is None
        verdicts.append(out["friend"]["by"])
    assert verdicts.count("sea") >= 36, verdicts
    # ...and when B also avoids "friend" off the sea, it stays a finding of its own.
    kept = 0
    for _ in range(20):
        w = _topic_world(rng, 300, friend_b=0.15)
        sides, prompts = w["side"].to_numpy(), w["prompt"].to_numpy()
        out = explain([{"id": "sea", "scores": w["sea"].to_numpy(), "given": w["sea"].to_numpy(),
                        "sides": sides, "prompt_ids": prompts},
                       {"id": "friend", "scores": 1 - w["friend"].to_numpy(),
                        "given": w["friend"].to_numpy(), "sides": sides, "prompt_ids": prompts}])
        kept += out["friend"]["by"] is None
    assert kept >= 16


def _own_words_world(rng, n_prompts, question_b=0.1):
    """A topic with sentences of its own: B writes about the sea in 40% of its answers, A in
    5% (A's are answers to sea prompts), and B's sea sentences say "all day" half of the time,
    where every other answer says "all" in 10%. Questions come in 10% of every answer
    (`question_b` for B's, whatever the topic)."""
    rows = []
    for p in range(n_prompts):
        for side, sea_rate in (("A", 0.05), ("B", 0.4)):
            sea = rng.random() < sea_rate
            says_all = rng.random() < (0.5 if sea and side == "B" else 0.1)
            asks = rng.random() < (question_b if side == "B" else 0.1)
            rows.append((side, p, float(sea), float(says_all), float(asks)))
    return pd.DataFrame(rows, columns=["side", "prompt", "sea", "all", "asks"])


def test_a_topic_is_held_fixed_at_its_absence():
    """The words of a topic's own sentences differ even among the texts that mention it (B's
    sea sentences are not A's sea answers). Held fixed at the topic's absence — the texts that
    do not mention it, as a theme headline is (`condition_values`) — they no longer differ and
    are folded under it, at no more than alpha's rate; a behaviour that has nothing to do with
    the topic (B asks more questions everywhere) stays a finding of its own."""
    from modeldiff_core.hypotheses.explain import condition_values

    given = condition_values({"type": "mentions", "terms": ["sea"], "favours": "B"},
                             ["by the sea .", "in town .", "the sea !"], None)
    assert np.isnan(given[0]) and given[1] == 0 and np.isnan(given[2])
    rng = np.random.default_rng(seeded(8))
    by_absence, kept = [], 0
    for _ in range(40):
        w = _own_words_world(rng, 300, question_b=0.3)
        absent = np.where(w["sea"] > 0, np.nan, 0.0)
        args = (w["side"].to_numpy(), w["prompt"].to_numpy())
        by_absence.append(conditional_p(w["all"], absent, *args, n_resamples=999)["p_value"])
        kept += conditional_p(w["asks"], absent, *args, n_resamples=999)["p_value"] < 0.05
    assert np.mean(np.array(by_absence) < 0.05) <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 40)
    assert kept >= 32
