"""A mood among words that stand in one place: the group does not lean as a whole (the gloomy
words lean the other way), so its leaning words are chosen on half of the prompts and tested
on the other half (`chosen_on_halves`). Checked against a by-hand computation with scipy, and
in worlds built to break it: no difference at all, with prompts that each favour their own
words, where testing the chosen words on every text would find one most of the time."""
import random

import numpy as np
from scipy import stats as sps

from modeldiff_core.assistants.offline_candidates import Contrast, chosen_on_halves
from modeldiff_core.hypotheses.predicates import mentions

CHEERFUL = ["sunny", "lovely", "warm", "bright"]
GLOOMY = ["grey", "cold", "dull", "wet", "dark", "damp", "bleak", "pale"]
MOOD = CHEERFUL + GLOOMY
NOUNS = ["lamp", "chair", "table", "door"]


def _world(seed: int, n_prompts: int, per_prompt: int, lift: float, prompt_skew: float = 0.0,
           n_words: int = 2):
    """Each text: `n_words` adjectives of one place. B picks a cheerful one with probability `lift`,
    else any mood word; each prompt favours a few mood words of its own for both models
    (`prompt_skew`), so words differ a lot between prompts and not at all between models."""
    rng = random.Random(seed)
    texts, sides, units = [], [], []
    for p in range(n_prompts):
        own = rng.sample(MOOD, 3)
        for side in "AB":
            for _ in range(per_prompt):
                words = []
                for _ in range(n_words):
                    if side == "B" and rng.random() < lift:
                        words.append(rng.choice(CHEERFUL))
                    elif rng.random() < prompt_skew:
                        words.append(rng.choice(own))
                    else:
                        words.append(rng.choice(MOOD))
                texts.append(f"the {words[0]} {rng.choice(NOUNS)} was {words[1]} today . "
                             + " ".join(f"a {w} {rng.choice(NOUNS)} ." for w in words[2:]))
                sides.append(side)
                units.append(f"p{p}")
    order = np.argsort(np.array(sides) == "B", kind="stable")  # A's texts first, as Contrast
    return Contrast([texts[i] for i in order], np.array(sides, dtype=object)[order],
                    np.array(units, dtype=object)[order])


def _fires(contrast: Contrast) -> dict:
    return {w: np.array([mentions(t, [w]) for t in contrast.texts]) for w in MOOD}


def test_a_mood_among_words_of_one_place_is_chosen_on_one_half_and_holds_on_the_other():
    contrast = _world(0, n_prompts=40, per_prompt=8, lift=0.35)
    found = chosen_on_halves({tuple(MOOD): True}, contrast, _fires(contrast), 5, seed=0)
    by_way = {bool(set(c.terms) & set(CHEERFUL)): c for c in found}
    assert len(found) == 2 and set(by_way) == {True, False}  # one theme each way
    more, less = by_way[True], by_way[False]
    assert set(more.terms) <= set(CHEERFUL) and len(more.terms) >= 3 and more.split_p < 1e-3
    assert set(less.terms) <= set(GLOOMY) and less.split_p < 1e-3  # the other side of it
    assert more.split_way == 1 and less.split_way == -1 and more.place == tuple(MOOD)
    # Words grouped for occurring together, not for standing in one place: no place to keep.
    apart = chosen_on_halves({tuple(MOOD): False}, contrast, _fires(contrast), 5, seed=0)
    assert apart and not any(c.place for c in apart)


def test_too_few_prompts_to_halve_choose_nothing():
    contrast = _world(0, n_prompts=3, per_prompt=8, lift=0.35)
    assert chosen_on_halves({tuple(MOOD): True}, contrast, _fires(contrast), 5, seed=0) == []
    one = Contrast(contrast.texts, contrast.sides, np.array(["p0"] * len(contrast.texts), dtype=object))
    assert chosen_on_halves({tuple(MOOD): True}, one, _fires(one), 5, seed=0) == []


def _by_hand(contrast: Contrast, words: list[str], seed: int) -> dict:
    """The same procedure with scipy's one-sample t-test of per-prompt differences."""
    units = np.unique(contrast.units)
    first = np.random.default_rng(seed).permutation(len(units)) < len(units) // 2
    halves = [units[first], units[~first]]

    def diffs(fires, half):
        return np.array([fires[(contrast.units == u) & contrast.is_b].mean()
                         - fires[(contrast.units == u) & ~contrast.is_b].mean() for u in half])

    fires = _fires(contrast)
    out = {}
    for way in (1, -1):
        ps = {}
        for k in (0, 1):
            lean = {w: sps.ttest_1samp(diffs(fires[w], halves[k]), 0).statistic for w in words}
            terms = [w for w in words if way * lean[w] >= 1]
            if len(terms) < 2:
                continue
            union = np.logical_or.reduce([fires[w] for w in terms])
            alt = "greater" if way > 0 else "less"
            ps[frozenset(terms)] = sps.ttest_1samp(diffs(union, halves[1 - k]), 0,
                                                    alternative=alt).pvalue
        if ps:
            terms, p = min(ps.items(), key=lambda kv: kv[1])
            out[terms] = min(1.0, 2 * p)
    return out


def test_the_p_value_is_the_other_halfs_one_sided_test_times_two_as_scipy_computes_it():
    contrast = _world(3, n_prompts=24, per_prompt=5, lift=0.2)
    found = chosen_on_halves({tuple(MOOD): True}, contrast, _fires(contrast), 5, seed=7)
    expected = _by_hand(contrast, MOOD, seed=7)
    assert found and {frozenset(c.terms) for c in found} == set(expected)
    for c in found:
        assert np.isclose(c.split_p, expected[frozenset(c.terms)], rtol=1e-9, atol=1e-12)


def test_with_no_difference_the_chosen_words_pass_no_more_often_than_alpha():
    """Prompts that each favour their own words make every word swing from prompt to prompt:
    words chosen for their lean and then tested on the same texts pass far more often than
    5% (checked here, so the world can tell), while the other half's test stays at 5%."""
    alpha, worlds = 0.05, 300
    passed = naive = tried = 0
    for seed in range(worlds):
        contrast = _world(100 + seed, n_prompts=20, per_prompt=3, lift=0.0, prompt_skew=0.6)
        fires = _fires(contrast)
        for c in chosen_on_halves({tuple(MOOD): True}, contrast, fires, 5, seed=seed):
            tried += 1
            passed += c.split_p < alpha
            union = np.logical_or.reduce([fires[w] for w in c.terms])
            naive += contrast.test(union)[2] < alpha  # the choosing half counted as evidence
    assert tried > worlds  # both ways, most worlds
    rate, se = passed / tried, np.sqrt(alpha * (1 - alpha) / tried)
    assert rate <= alpha + 2 * se, (passed, tried)
    assert naive / tried > 2 * alpha, (naive, tried)


def test_a_mood_is_stated_as_its_words_at_least_as_often_as_the_words_used_in_their_place():
    """A mood pervading a text (four adjectives each): the mood's words against the others of
    their place tell the models apart on fresh texts of the same world better than "mentions
    any of the mood's words", which most of A's texts do too."""
    from modeldiff_core.assistants.offline import OfflineAssistant
    from modeldiff_core.hypotheses.predicates import predicate_fires

    def split(contrast):
        a, b = ~contrast.is_b, contrast.is_b
        return ([t for t, m in zip(contrast.texts, a) if m], [t for t, m in zip(contrast.texts, b) if m],
                list(contrast.units[a]), list(contrast.units[b]))

    texts_a, texts_b, units_a, units_b = split(_world(0, n_prompts=40, per_prompt=8, lift=0.35,
                                                      n_words=4))
    found = OfflineAssistant().propose(texts_a, texts_b, "corpus", 5, units_a, units_b)
    first = found[0].predicate
    assert first["favours"] == "B" and set(first["terms"]) <= set(CHEERFUL)
    assert first["over"] and set(first["over"]) <= set(GLOOMY)
    assert "at least as often as the words used in their place" in found[0].text

    fresh = _world(1, n_prompts=40, per_prompt=8, lift=0.35, n_words=4)

    def accuracy(pred):
        fires = np.array([predicate_fires(pred, t) for t in fresh.texts])
        return (fires[fresh.is_b].mean() + 1 - fires[~fresh.is_b].mean()) / 2

    plain = {k: v for k, v in first.items() if k != "over"}
    assert accuracy(first) > accuracy(plain) + 0.03


def test_words_rather_than_others_count_every_mention():
    from modeldiff_core.hypotheses.predicates import count_mentions, predicate_fires

    pred = {"type": "mentions", "terms": ["warm", "sunny"], "over": ["cold"], "favours": "B"}
    assert count_mentions("the warm sunny day, warm again", ["warm", "sunny"]) == 3
    assert count_mentions("warmer and lukewarm", ["warm"]) == 0  # whole words only
    assert predicate_fires(pred, "a warm day and a sunny one , cold night")
    assert predicate_fires(pred, "a warm day , a cold night")  # as often
    assert not predicate_fires(pred, "a warm day , a cold and cold night")
    assert not predicate_fires(pred, "a cold day") and not predicate_fires(pred, "a day")
    assert predicate_fires({**pred, "over": []}, "a warm day , cold cold")  # plain mentions
