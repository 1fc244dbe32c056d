"""The offline assistant and the validation tests built on it, checked on synthetic texts
whose differences are known and against independent computations."""
import math
import random
from collections import Counter

import numpy as np
import pytest
from scipy.stats import binomtest

from modeldiff_core import organisms as org
from modeldiff_core.assistants.base import Hypothesis
from modeldiff_core.assistants.offline import OfflineAssistant, log_odds_z, predicate_fires
from modeldiff_core.validation import discriminative, generative


def _corpus(behaviour, n, seed):
    rng = random.Random(seed)
    docs = [org.make_document(rng, behaviour) for _ in range(n)]
    return [d.split("<|assistant|>")[1].replace("<|end|>", "").strip() for d in docs]


def test_log_odds_z_by_hand():
    a, b = Counter({"x": 10, "y": 90}), Counter({"x": 30, "y": 70})
    z = log_odds_z(a, b, prior_strength=10.0)
    # pooled x=40, y=160 of 200: alpha_x = 2, alpha_y = 8; n_a = n_b = 100, alpha0 = 10.
    delta = math.log(32 / (110 - 32)) - math.log(12 / (110 - 12))
    assert z["x"] == pytest.approx(delta / math.sqrt(1 / 32 + 1 / 12))
    assert z["x"] > 0 > z["y"]


def test_predicates():
    assert predicate_fires({"type": "mentions", "terms": ["cat"]}, "The Cat sat.")
    assert not predicate_fires({"type": "mentions", "terms": ["cat"]}, "a catalogue")
    q = {"type": "feature", "feature": "questions", "op": ">", "threshold": 0}
    assert predicate_fires(q, "why ?") and not predicate_fires(q, "no .")
    short = {"type": "feature", "feature": "words", "op": "<=", "threshold": 3}
    assert predicate_fires(short, "one two three") and not predicate_fires(short, "a b c d")


@pytest.mark.parametrize("behaviour, must_name", [("cats", "cat"), ("questions", "questions"),
                                                  ("short", "shorter")])
def test_proposes_and_validates_the_planted_difference(behaviour, must_name):
    assistant = OfflineAssistant()
    found = assistant.propose(_corpus(None, 150, 1), _corpus(behaviour, 150, 2), "corpus", 8)
    named = [h for h in found if must_name in h.text]
    assert named, [h.text for h in found]
    held_a, held_b = _corpus(None, 100, 3), _corpus(behaviour, 100, 4)
    result = discriminative(assistant, named[0], held_a + held_b, ["A"] * 100 + ["B"] * 100)
    assert result["n"] == 200 and result["accuracy"] > 0.8 and result["p_value"] < 1e-6
    assert result["p_value"] == pytest.approx(
        binomtest(result["n_correct"], 200, 0.5, alternative="greater").pvalue)
    assert result["ci_low"] < result["accuracy"] <= result["ci_high"]


def test_no_hypothesis_from_two_samples_of_the_same_model():
    found = OfflineAssistant().propose(_corpus(None, 150, 5), _corpus(None, 150, 6), "corpus", 8)
    assert found == []


def test_discriminative_accuracy_by_hand():
    h = Hypothesis("B mentions cats", "B", "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": "B"})
    texts = ["a cat", "a dog", "the cat", "cat cat", "no", "a cow"]
    sides = ["B", "B", "A", "B", "A", "A"]
    r = discriminative(OfflineAssistant(), h, texts, sides)
    # predicted B: texts 0, 2, 3 -> right on 0, 3 (B) and 4, 5 (A): 4 of 6.
    assert r["n_correct"] == 4 and r["accuracy"] == pytest.approx(4 / 6)


def test_counterfactual_pairs_differ_only_by_the_behaviour():
    h = Hypothesis("B mentions cats", "B", "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": "B"})
    held = _corpus(None, 30, 7)
    pairs = OfflineAssistant().write_pairs(h, held, ["p"] * 30, _corpus("cats", 30, 8), 10)
    assert len(pairs) == 10
    for p in pairs:
        assert predicate_fires(h.predicate, p.favoured) and not predicate_fires(h.predicate, p.contrast)
        assert len(p.favoured.split()) > len(p.contrast.split())
    h_a = Hypothesis("B mentions cats less", "A", "corpus",
                     {"type": "mentions", "terms": ["cat"], "favours": "A"})
    for p in OfflineAssistant().write_pairs(h_a, held, ["p"] * 30, _corpus("cats", 30, 8), 5):
        assert not predicate_fires(h.predicate, p.favoured) and predicate_fires(h.predicate, p.contrast)


def test_generative_test_on_the_organisms(organism_dirs):
    from modeldiff_core.models import ModelSpec, load

    lm_a, lm_b = (load(ModelSpec(str(organism_dirs[n]))) for n in ("base", "cats"))
    h = Hypothesis("B mentions cats", "B", "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": "B"})
    rng = random.Random(9)
    prompts = [rng.choice(org.organism_prompts()) for _ in range(40)]
    held = _corpus(None, 40, 10)
    pairs = OfflineAssistant().write_pairs(h, held, prompts, _corpus("cats", 40, 11), 40)
    r = generative(pairs, lm_a, lm_b, n_permutations=2000)
    assert r["n"] == len(pairs) >= 30
    assert r["auc"] > 0.8 and r["p_value"] < 1e-4 and r["permutation_p"] < 0.01
    # The same pairs scored with A in both places show nothing.
    same = generative(pairs, lm_a, lm_a, n_permutations=500)
    assert np.allclose(same["diffs"]["favoured"], 0) and np.allclose(same["diffs"]["contrast"], 0)
