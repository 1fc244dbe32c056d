"""The offline assistant and the validation tests built on it, checked on synthetic texts
whose differences are known and against independent computations."""
import math
import random

import numpy as np
import pandas as pd
import pytest

from modeldiff_core.assistants import offline_pairs
from modeldiff_core.assistants.offline import OfflineAssistant
from modeldiff_core.hypotheses.predicates import predicate_fires, sentences
from modeldiff_core.hypotheses import stats
from modeldiff_core.models.sources.weights import WeightsScorer
from modeldiff_core.hypotheses.types import Hypothesis, NoPairs
from modeldiff_core.hypotheses.validation import discriminative, generative
from modeldiff_core.models import organism_corpus as org
from seeds import seeded


def _corpus(behaviour, n, seed):
    rng = random.Random(seed)
    docs = [org.make_document(rng, behaviour) for _ in range(n)]
    return [d.split("<|assistant|>")[1].replace("<|end|>", "").strip() for d in docs]


def test_predicates():
    assert predicate_fires({"type": "mentions", "terms": ["cat"]}, "The Cat sat.")
    assert not predicate_fires({"type": "mentions", "terms": ["cat"]}, "a catalogue")
    q = {"type": "feature", "feature": "questions", "op": ">", "threshold": 0}
    assert predicate_fires(q, "why ?") and not predicate_fires(q, "no .")
    short = {"type": "feature", "feature": "words", "op": "<=", "threshold": 3}
    assert predicate_fires(short, "one two three") and not predicate_fires(short, "a b c d")


def _judged(texts, sides, prompt_ids):
    """Held-out texts as the discriminative test takes them."""
    return pd.DataFrame({"text": texts, "side": sides, "prompt_id": prompt_ids})


@pytest.mark.parametrize("behaviour, must_name", [("cats", "cat"), ("questions", "questions"),
                                                  ("short", "shorter")])
def test_proposes_and_validates_the_planted_difference(behaviour, must_name):
    assistant = OfflineAssistant()
    found = assistant.propose(_corpus(None, 150, 1), _corpus(behaviour, 150, 2), "corpus", 8)
    named = [h for h in found if must_name in h.text]
    assert named, [h.text for h in found]
    held_a, held_b = _corpus(None, 100, 3), _corpus(behaviour, 100, 4)
    # 50 prompts, two (A, B) pairs each.
    texts = [t for pair in zip(held_a, held_b) for t in pair]
    sides, prompt_ids = ["A", "B"] * 100, [i // 4 for i in range(200)]
    result = discriminative(assistant, named[0], _judged(texts, sides, prompt_ids))
    assert result["n"] == 200 and result["n_prompts"] == 50
    assert result["accuracy"] > 0.8 and result["p_value"] < 1e-3
    # The p-value is the sign flip of the per-prompt mean score difference, by hand.
    s = np.array(result["scores"])
    d = [s[4 * p + 1] + s[4 * p + 3] - s[4 * p] - s[4 * p + 2] for p in range(50)]
    assert result["p_value"] == stats.sign_flip_p(np.array(d) / 2, seed=0)
    assert result["ci_low"] <= result["accuracy"] <= result["ci_high"]


def _by_prompt(behaviour, n_prompts, per_prompt, seed, edit=None):
    """Texts and prompt ids: each prompt a topic of the organisms' grammar."""
    rng = random.Random(seed)
    make = org.BEHAVIOURS[behaviour][1] if behaviour else org.base_response
    topics = list(org.TOPICS)
    texts, prompts = [], []
    for p in range(n_prompts):
        for _ in range(per_prompt):
            text = " ".join(" ".join(s) for s in make(rng, topics[p % len(topics)]))
            texts.append(edit(rng, text) if edit else text)
            prompts.append(p)
    return texts, prompts


def _propose(behaviour, seed=0, edit=None, n_prompts=30, per_prompt=6):
    a, pa = _by_prompt(None, n_prompts, per_prompt, seed)
    b, pb = _by_prompt(behaviour, n_prompts, per_prompt, seed + 1, edit)
    return OfflineAssistant().propose(a, b, "corpus", 8, pa, pb)


def test_a_sparse_specific_style_feature_passes():
    """An exclamation mark in 17.5% of B's texts, never in A's: its AUC is only about 0.59,
    yet tested over prompts it is plain."""
    def exclaim(rng, text):
        return text[:-1] + "!" if rng.random() < 0.175 else text
    found = _propose(None, edit=exclaim)
    assert found and found[0].predicate["feature"] == "exclamations", [h.text for h in found]
    assert "exclamations more often" in found[0].text and found[0].evidence["q"] < 0.05
    assert all(h.predicate.get("feature") == "exclamations" or h.evidence["q"] < 0.05
               for h in found)


def test_a_modest_difference_goes_to_the_held_out_test():
    """No gate on the discovery point estimate: a mark in 57% of B's texts against 50% of A's
    over 1500 prompts is plain to the test over prompts (t about 3.9), and it holds on fresh
    prompts. A floor of 0.1 on the discovery rate gap (what proposal asked before) dropped it
    whenever the estimate fell under 0.1: here about 19 times in 20."""
    def marked(rate):
        return lambda rng, text: text[:-1] + "!" if rng.random() < rate else text

    def world(seed):
        a, pa = _by_prompt(None, 1500, 1, seed, marked(0.50))
        b, pb = _by_prompt(None, 1500, 1, seed + 1, marked(0.57))
        return a + b, ["A"] * 1500 + ["B"] * 1500, pa + pb

    texts, sides, prompts = world(seeded(0))
    found = OfflineAssistant().propose(texts[:1500], texts[1500:], "corpus", 8, prompts[:1500],
                                       prompts[1500:])
    hit = [h for h in found if h.predicate.get("feature") == "exclamations"]
    assert hit and hit[0].evidence["q"] < 0.05, [h.text for h in found]
    assert hit[0].evidence["rate_b"] - hit[0].evidence["rate_a"] < 0.15
    r = discriminative(OfflineAssistant(), hit[0], _judged(*world(seeded(0) + 2)))
    assert r["n_prompts"] == 1500 and r["p_value"] < 0.01, r


def test_a_theme_spread_over_words_is_one_hypothesis():
    """The sea in a quarter of B's texts, two of eight sea words at a time: one hypothesis
    that fires on any of them, named by its strongest words, not one per word."""
    found = _propose("subtle-sea")
    sea = set(sum(org.TOPICS["sea"], []))
    themed = [h for h in found if h.predicate["type"] == "mentions"
              and set(h.predicate["terms"]) & sea]
    assert len(themed) == 1, [h.text for h in found]
    terms = themed[0].predicate["terms"]
    assert len(set(terms) & sea) >= 4 and set(terms) <= sea | {"very", "by"}, terms
    assert "and related words" in themed[0].text and themed[0] is found[0]


def test_stop_words_are_candidates():
    found = _propose("subtle-so")
    assert any(h.predicate.get("terms", [None])[0] == "so" and 'uses the word "so"' in h.text
               for h in found), [h.text for h in found]


def test_style_features_that_measure_the_same_thing_merge():
    found = _propose("short")
    length = [h for h in found if h.predicate["type"] == "feature"
              and h.predicate["feature"] in ("words", "sentences")]
    assert len(length) == 1, [h.text for h in found]
    other = {"words": "sentences", "sentences": "words"}[length[0].predicate["feature"]]
    assert other in length[0].evidence["same_as"]


def test_nothing_from_the_same_model_over_prompts():
    for seed in range(3):
        assert _propose(None, seed=10 * seed) == []


def test_refinement_reruns_the_contrast_where_the_hypotheses_are_blind():
    """B writes about cats in half its texts and asks questions in the other half. Judged with
    the cats hypothesis alone, B's question texts look like A's; the contrast inside that
    region finds the questions, and nothing that only the region's selection made up."""
    a, pa = _by_prompt(None, 30, 6, 0)
    rng = random.Random(seeded(5))
    b, pb = [], []
    for p in range(30):
        topic = list(org.TOPICS)[p % 12]
        for k in range(6):
            sents = org.base_response(rng, topic)
            if k % 2:
                sents = [org.animal_sentence(rng, topic, "cat")] + sents
            else:
                sents[0] = org.question_sentence(rng, topic)
            b.append(" ".join(" ".join(s) for s in sents))
            pb.append(p)
    cats = Hypothesis('Model B mentions "cat" more often', "B", "corpus",
                      {"type": "mentions", "terms": ["cat"], "favours": "B"})
    assistant = OfflineAssistant()
    judged = pd.DataFrame({"text": a + b, "side": ["A"] * len(a) + ["B"] * len(b),
                           "prompt_id": pa + pb})
    judged["p_b"] = [0.9 if "cat" in t.split() else 0.3 for t in judged["text"]]
    found = assistant.refine([cats], judged, "refine 1", 5)
    assert any(h.predicate.get("feature") == "questions" for h in found), [h.text for h in found]
    # Whatever is kept holds, the same way round, over all the judged texts.
    for h in found:
        s = np.array(assistant.judge(h, judged["text"].tolist()))
        assert s[judged["side"] == "B"].mean() - s[judged["side"] == "A"].mean() >= 0.1


def test_no_hypothesis_from_two_samples_of_the_same_model():
    found = OfflineAssistant().propose(_corpus(None, 150, 5), _corpus(None, 150, 6), "corpus", 8)
    assert found == []


def test_discriminative_accuracy_by_hand():
    h = Hypothesis("B mentions cats", "B", "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": "B"})
    texts = ["a cat", "a dog", "the cat", "cat cat", "no", "a cow"]
    sides = ["B", "A", "A", "B", "A", "B"]
    r = discriminative(OfflineAssistant(), h, _judged(texts, sides, [0, 0, 1, 1, 2, 2]))
    # predicted B: texts 0, 2, 3 -> B texts right 2 of 3, A texts right 2 of 3.
    assert r["accuracy"] == pytest.approx(2 / 3) and r["n_prompts"] == 3
    # per-prompt B - A: 1, 0, 0 -> 4 of the 8 sign vectors reach 1.
    assert r["p_value"] == pytest.approx(0.5)


def test_discriminative_pairwise_drops_undecided_pairs():
    h = Hypothesis("B mentions cats", "B", "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": "B"})
    texts = ["a dog", "a cat", "the cat", "cat cat", "a cow", "no"]
    sides = ["A", "B", "A", "B", "B", "A"]
    r = discriminative(OfflineAssistant(), h, _judged(texts, sides, [0, 0, 1, 1, 2, 2]),
                       mode="pairwise")
    # pair 0: only B's text fires -> right; pairs 1 and 2: both or neither fire -> dropped.
    assert r["n_dropped"] == 4 and r["n_prompts"] == 1 and r["accuracy"] == 1.0
    assert math.isnan(r["scores"][2]) and r["scores"][:2] == [0.0, 1.0]


def test_counterfactual_pairs_differ_only_by_the_behaviour():
    h = Hypothesis("B mentions cats", "B", "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": "B"})
    held = _corpus(None, 30, 7)
    pairs = OfflineAssistant().write_pairs(h, held, ["p"] * 30, _corpus("cats", 30, 8),
                                           _corpus("cats", 30, 12), 10)
    assert len(pairs) == 10
    for p in pairs:
        assert predicate_fires(h.predicate, p.favoured) and not predicate_fires(h.predicate, p.contrast)
        # Both versions got a donor at the same place, the same sentence but for one word.
        fav, con = sentences(p.favoured), sentences(p.contrast)
        assert len(fav) == len(con) and sum(a != b for a, b in zip(fav, con)) == 1
    h_a = Hypothesis("B mentions cats less", "A", "corpus",
                     {"type": "mentions", "terms": ["cat"], "favours": "A"})
    for p in OfflineAssistant().write_pairs(h_a, held, ["p"] * 30, _corpus("cats", 30, 8),
                                            _corpus("cats", 30, 12), 5):
        assert not predicate_fires(h.predicate, p.favoured) and predicate_fires(h.predicate, p.contrast)


def _marked(side: str, seed: int) -> list[str]:
    """Base-organism texts whose every sentence carries a word naming its side."""
    return [" ".join(f"{x[:-1].strip()} {side.lower()}mark ." for x in sentences(t))
            for t in _corpus(None, 40, seed)]


@pytest.mark.parametrize("favours", ["A", "B"])
def test_donors_never_come_from_the_side_that_shows_the_behaviour(favours):
    """Inserting a model's own sentences raises its likelihood whatever they say: donors come
    only from the other model's texts."""
    h = Hypothesis("B mentions cats", favours, "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": favours})
    examples = {"A": _marked("A", 20) + _corpus("cats", 20, 22), "B": _marked("B", 21)}
    pairs = OfflineAssistant().write_pairs(h, _corpus(None, 40, 7), ["p"] * 40, examples["A"],
                                           examples["B"], 40)
    used = " ".join(p.favoured + " " + p.contrast for p in pairs)
    assert len(pairs) >= 30
    assert f"{favours.lower()}mark" not in used
    assert f"{'b' if favours == 'A' else 'a'}mark" in used
    for p in pairs:  # every version differs from the carrier in one word: the term against another
        carrier = p.favoured if p.carrier == "favoured" else p.contrast
        assert (p.contrast if p.carrier == "favoured" else p.favoured) == p.placebos[0]
        assert len(p.placebos) >= 2 and p.carrier == ("favoured" if favours == "B" else "contrast")
        for other in p.placebos:
            diff = [(x, y) for x, y in zip(carrier.split(), other.split()) if x != y]
            assert len(carrier.split()) == len(other.split()) and len(diff) == 1
            assert diff[0][0] == "cat" and "cat" not in other.split()
    # A behaviour no one word carries has no frequency-matched edit: no pairs, and why.
    pred = {"type": "feature", "feature": "questions", "op": ">", "threshold": 0, "favours": "B"}
    with pytest.raises(NoPairs, match="no frequency-matched edit"):
        OfflineAssistant().write_pairs(Hypothesis("q", "B", "corpus", pred), _corpus(None, 40, 7),
                                       ["p"] * 40, _marked("A", 30), _marked("B", 31), 40)


class _Tempered:
    """A model whose next-token distribution is A's at temperature T: B a flatter (T > 1) or
    sharper (T < 1) copy of A, as a quantized, smaller or hotter model can be."""

    def __init__(self, model, temperature: float):
        self.model, self.t = model, temperature

    def parameters(self):
        return self.model.parameters()

    def __call__(self, **kwargs):
        out = self.model(**kwargs)
        out.logits = out.logits / self.t
        return out


def _cat_pairs(n: int, seed: int):
    h = Hypothesis("B mentions cats", "B", "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": "B"})
    rng = random.Random(seeded(seed))
    prompts = [rng.choice(org.organism_prompts()) for _ in range(n)]
    return OfflineAssistant().write_pairs(h, _corpus(None, n, 10), prompts, _corpus(None, n, 11),
                                          _corpus("cats", n // 2, 12), n), prompts


def test_generative_test_on_the_organisms(organism, record_property):
    from modeldiff_core.models.loading import load
    from modeldiff_core.models.spec import ModelSpec

    lm_a, lm_b = (load(ModelSpec(str(organism(n)))) for n in ("base", "cats"))
    pairs, prompts = _cat_pairs(80, 9)
    r = generative(pairs, WeightsScorer(lm_a), WeightsScorer(lm_b))
    assert r["n"] == len(pairs) >= 70 and r["n_prompts"] == len(set(prompts[:len(pairs)]))
    assert r["design"].startswith("matched") and r["n_placebos"] >= 2 * len(pairs)
    # "cat" against words of its own frequency in the same slot, per pair: B favours it on
    # average over prompts. Recorded per seed; bounded as the test of a planted behaviour.
    record_property("generative", [r["auc"], r["p_value"], r["n"], r["mean_diff"], r["slope"]])
    assert r["p_value"] < 0.01 and r["mean_diff"] > 0, r
    # By hand: the residual's per-prompt means, tested as the held-out tests test them.
    keys = [p.prompt for p in pairs]
    d = np.array(r["d"])
    per_prompt = [d[[k == u for k in keys]].mean() for u in dict.fromkeys(keys)]
    assert r["p_value"] == pytest.approx(stats.prompt_level_p(sorted(per_prompt)), abs=0.005)
    # The same pairs scored with A in both places show nothing.
    same = generative(pairs, WeightsScorer(lm_a), WeightsScorer(lm_a))
    assert np.allclose(same["d"], 0) and np.allclose(same["diffs"]["favoured"], 0)


@pytest.mark.parametrize("temperature", [1.1, 0.9])
def test_a_tempered_model_does_not_validate_a_rare_term(organism, temperature, record_property):
    """B is A at another temperature: no behaviour, only a flatter or sharper distribution,
    which moves every rare word's likelihood. The term against a word its donor puts in that
    slot (the old design) calls that a difference; against words of its own frequency it
    is not."""
    from dataclasses import replace

    from modeldiff_core.models.loading import load
    from modeldiff_core.models.spec import ModelSpec

    lm_a = load(ModelSpec(str(organism("base"))))
    lm_b = replace(lm_a, model=_Tempered(lm_a.model, temperature))
    pairs, prompts = _cat_pairs(80, 9)
    new = generative(pairs, WeightsScorer(lm_a), WeightsScorer(lm_b))
    h = Hypothesis("B mentions cats", "B", "corpus",
                   {"type": "mentions", "terms": ["cat"], "favours": "B"})
    old_pairs = offline_pairs.write_pairs(h.predicate, _corpus(None, 80, 10),
                                          prompts, _corpus(None, 80, 11),
                                          _corpus("cats", 40, 12), 80, 0, matched=False)
    old = generative(old_pairs, WeightsScorer(lm_a), WeightsScorer(lm_b))
    record_property("tempered", {"old": old["p_value"], "new": new["p_value"],
                                 "slope": new["slope"]})
    # The old design's one-sided p is tiny in the direction tempering pushes a rare word
    # (flatter: up under B; sharper: down, so its p is near 1 and the other tail tiny).
    old_tail = old["p_value"] if temperature > 1 else 1 - old["p_value"]
    assert old_tail < 0.001, old
    assert new["p_value"] > 0.05, new
    assert (new["slope"] > 0) == (temperature < 1)  # 2(a - 1)/(a + 1), a = 1/T


def test_generative_scores_the_end_of_text(organism):
    """A pair that differs only in where it stops: with the stop scored, B = short sees it."""
    from modeldiff_core.models.loading import load
    from modeldiff_core.models.spec import ModelSpec
    from modeldiff_core.models.scoring import sum_logprobs, token_logprobs

    lm = load(ModelSpec(str(organism("base"))))
    text = "anna went to the garden in the morning ."
    with_stop = token_logprobs(lm, [text], add_eos=True)[0]
    without = token_logprobs(lm, [text])[0]
    assert len(with_stop) == len(without) + 1 and np.allclose(with_stop[:-1], without)
    assert sum_logprobs(lm, [text])[0] == pytest.approx(with_stop.sum())


def _word_groups_word_by_word(x, related, max_size=10):
    """The grouping as first written: every word of the order checked one by one."""
    seen = x.sum(0)
    related = related.copy()
    np.fill_diagonal(related, False)
    order = np.argsort(-seen, kind="stable")
    taken, groups = np.zeros(x.shape[1], dtype=bool), []
    for i in order:
        if taken[i]:
            continue
        group = [i]
        for j in order:
            if not taken[j] and j not in group and related[j, group].mean() >= 0.5:
                group.append(j)
                if len(group) >= max_size:
                    break
        if len(group) > 1:
            taken[group] = True
            groups.append(group)
    return groups


@pytest.mark.parametrize("seed", range(4))
def test_word_groups_match_the_word_by_word_grouping(seed):
    """Long answers bring thousands of words: the grouping jumps to the next word that joins
    instead of checking each in turn, and must group exactly as before."""
    from modeldiff_core.assistants.word_groups import related_by_use, used_together

    rng = np.random.default_rng(seed)
    # 300 texts, 120 words: a few planted co-occurring blocks over random noise.
    x = rng.random((300, 120)) < rng.uniform(0.01, 0.2, 120)
    for block in np.split(rng.permutation(120)[:60], 6):
        rows = np.flatnonzero(rng.random(300) < 0.15)
        x[np.ix_(rows, block)] = rng.random((len(rows), len(block))) < 0.8
    related = related_by_use(x)
    seen = x.sum(0).astype(float)
    together = x.T.astype(float) @ x.astype(float)
    lift = together * len(x) / np.maximum(np.outer(seen, seen), 1)
    np.testing.assert_array_equal(related, (lift >= 3.0) & (together >= 3))
    for max_size in (3, 10):
        expected = _word_groups_word_by_word(x, related, max_size)
        assert len(expected) >= 3
        assert [list(map(int, g)) for g in used_together(x, related, max_size)] == \
            [list(map(int, g)) for g in expected]


def test_a_threshold_reads_in_plain_words():
    from modeldiff_core.assistants.offline import _threshold_clause

    assert _threshold_clause("questions", 0.0, "B") == ""
    assert _threshold_clause("questions", 0.0, "A") == " (texts with no questions)"
    assert _threshold_clause("questions", 1.0, "B") == " (texts with more than one question)"
    assert _threshold_clause("questions", 1.0, "A") == " (texts with one question or none)"
    assert _threshold_clause("words", 33.5, "B") == " (texts with more than 33.5 words)"
    assert _threshold_clause("words", 33.5, "A") == " (texts with 33.5 words or fewer)"
    assert _threshold_clause("apologies", 1.0, "B") == " (texts with more than one apology)"
    assert _threshold_clause("hedges", 1.0, "B") == " (texts with more than 1 hedge words per 100 words)"
