"""The chat-style features of the offline assistant: each feature on small handwritten texts
(the tricky negatives too), a planted style difference found and validated on a synthetic chat
corpus with prompts as the unit, nothing on a null corpus, and a smoke run on real answers."""
import json
import random
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeldiff_core.hypotheses.chat_features import CHAT_FEATURES, CHAT_UNITS, CHAT_WORDS
from modeldiff_core.assistants.offline import OfflineAssistant
from modeldiff_core.assistants.offline_candidates import Contrast, find_candidates
from modeldiff_core.hypotheses.predicates import FEATURE_WORDS, STYLE_FEATURES, predicate_fires
from modeldiff_core.hypotheses.validation import discriminative, side_rates
from seeds import seeded

ALPACA = Path(__file__).resolve().parents[3] / "shared" / "data" / "alpacaeval"


def fires(feature: str, text: str, threshold: float = 0) -> bool:
    return predicate_fires({"type": "feature", "feature": feature, "op": ">",
                            "threshold": threshold, "favours": "B"}, text)


# (feature, texts it fires on, texts it must not fire on)
CASES = [
    ("bold", ["This is **important** to know.", "**Note:** keep it dry.",
              "1. **Water** the plants"],
     ["2 * 3 * 4 = 24", "a**2 + b**2 = c**2", "Use `**kwargs**` here.", "** not bold **",
      "```\nprint('**x**')\n```", "plain text"]),
    ("headings", ["# Title\nSome text.", "Intro\n\n## Steps\n1. Go", "   ### Indented"],
     ["#hashtag trends", "```python\n# a comment\nx = 1\n```", "Written in C# today.",
      "Item #3 is here"]),
    ("bullets", ["- one\n- two", "Intro:\n* first\n* second", "\u2022 item", "  + nested"],
     ["well - this is a dash", "---", "* * *", "A - B - C", "-5 degrees"]),
    ("numbered", ["1. First\n2. Second", "Steps:\n 1) open\n 2) close"],
     ["2019. The year was good", "3.5 is a number", "It costs 10. Then more.",
      "1.Nospace"]),
    ("code_blocks", ["```python\nx = 1\n```", "Run:\n~~~\nls\n~~~", "```\ncut off inside"],
     ["Use `x = 1` inline.", "Three ticks `` ` `` here", "no code"]),
    ("tables", ["| a | b |\n|---|---|\n| 1 | 2 |", "a | b\n--- | ---\n1 | 2",
                "| Name | Age |\n| :--- | ---: |\n| Ann | 3 |"],
     ["| a | b |\n| 1 | 2 |", "x | y\n---", "Title\n---\ntext", "a|b"]),
    ("opener", ["Sure! Here is a plan.", "Certainly, here it is.", "Of course. First,",
                "Great question! It depends.", "**Absolutely!** Let's go.",
                "I\u2019d be happy to help."],
     ["Surely not.", "I am sure it works.", "The answer is, of course, 4.",
      "Here is a plan. Sure, it is long.", "Certainty is rare."]),
    ("apologies", ["I'm sorry, but no.", "I\u2019m sorry for the delay.",
                   "I apologize for the confusion.", "My apologies."],
     ["The sorry state of affairs.", "I am not sorry.", "No apology needed."]),
    ("refusals", ["I can't help with that.", "I cannot provide instructions for this.",
                  "As an AI, I have no opinions.", "I'm unable to assist with that request."],
     ["I cannot stress this enough.", "You can't help but smile.", "AI is a field.",
      "I can help with that."]),
    ("hedges", ["It might rain.", "Generally, yes.", "It depends on the soil.",
                "I think so."],
     ["It will rain.", "A mighty oak.", "The general said so.", "Think about it."]),
    ("emoji", ["Great job \U0001F389", "Done \u2705", "Star \u2b50", "\u2714\ufe0f ok"],
     ["caf\u00e9 \u2013 na\u00efve", "Chinese \u4e2d\u6587", "arrows -> <-", ":)"]),
    ("second_person", ["You can do it.", "Keep your receipt.", "You\u2019re right."],
     ["Youth is fleeting.", "We can do it.", "A new layout today."]),
]


@pytest.mark.parametrize("feature, positives, negatives", CASES, ids=[c[0] for c in CASES])
def test_each_feature_on_handwritten_texts(feature, positives, negatives):
    for text in positives:
        assert fires(feature, text), (feature, text)
    for text in negatives:
        assert not fires(feature, text), (feature, text)


def test_every_feature_has_a_case_words_and_a_unit():
    assert {c[0] for c in CASES} == set(CHAT_FEATURES)
    for name in CHAT_FEATURES:
        assert STYLE_FEATURES[name] is CHAT_FEATURES[name]
        assert FEATURE_WORDS[name] == CHAT_WORDS[name] and name in CHAT_UNITS


def test_counts_and_rates():
    text = ("Sure! You might like this.\n\n## Plan\n- **one**\n- **two**\n1. a\n2. b\n3. c\n\n"
            "```python\nx = 1  # - not a list\n```\n| a | b |\n|---|---|\n| 1 | 2 |\n"
            "Perhaps your garden \U0001F33B needs it.")
    counts = {name: fn(text) for name, fn in CHAT_FEATURES.items()}
    assert counts["headings"] == 1 and counts["bold"] == 2 and counts["bullets"] == 2
    assert counts["numbered"] == 3 and counts["code_blocks"] == 1 and counts["tables"] == 1
    assert counts["opener"] == 1 and counts["emoji"] == 1
    assert counts["apologies"] == counts["refusals"] == 0
    # Rates per 100 words of prose (the code block is left out).
    prose_words = len(re.findall(r"[a-z0-9']+", re.sub(r"```.*?```", "", text, flags=re.S).lower()))
    assert counts["hedges"] == pytest.approx(200 / prose_words)  # might, perhaps
    assert counts["second_person"] == pytest.approx(200 / prose_words)  # you, your
    # A threshold above "any": more than two bold phrases.
    assert fires("bold", text, 1) and not fires("bold", text, 2)


# ------------------------------------------------------------- a synthetic chat corpus
TOPICS = {
    "garden": ["soil", "seed", "rose", "compost", "hedge", "water", "spade", "bulb"],
    "travel": ["train", "ticket", "hotel", "map", "luggage", "border", "flight", "route"],
    "cooking": ["onion", "oven", "pan", "salt", "recipe", "sauce", "flour", "knife"],
    "money": ["budget", "saving", "loan", "interest", "account", "tax", "income", "rent"],
    "health": ["sleep", "exercise", "diet", "doctor", "stress", "vitamin", "walk", "heart"],
    "study": ["exam", "notes", "lecture", "essay", "library", "deadline", "tutor", "course"],
}
VERBS = ["helps", "changes", "needs", "improves", "affects", "follows", "supports", "shapes"]
ADJS = ["simple", "useful", "careful", "steady", "common", "clear", "small", "regular"]
OPENERS = ["Sure!", "Certainly.", "Of course!"]


def _sentence(rng, words):
    a, b = rng.sample(words, 2)
    return (f"The {rng.choice(ADJS)} {a} {rng.choice(VERBS)} the {b} "
            f"in a {rng.choice(ADJS)} way{rng.choice(['.', '.', ', as a rule.'])}")


def chat_answer(rng: random.Random, topic: str, style: dict) -> str:
    """A 150-400 word answer: paragraphs and a list, with each planted habit at its rate."""
    words = TOPICS[topic]
    paras = [" ".join(_sentence(rng, words) for _ in range(rng.randint(3, 6)))
             for _ in range(rng.randint(2, 4))]
    items = [_sentence(rng, words) for _ in range(rng.randint(3, 6))]
    if rng.random() < style.get("bold", 0.1):
        k = rng.randrange(len(items))
        head, rest = items[k].split(" ", 3)[:3], items[k].split(" ", 3)[3]
        items[k] = f"**{' '.join(head)}** {rest}"
    marks = ["- "] * len(items) if rng.random() < 0.5 else [f"{i + 1}. " for i in range(len(items))]
    parts = [paras[0], "\n".join(m + it for m, it in zip(marks, items)), *paras[1:]]
    if rng.random() < 0.3:  # maths both models write, never bold
        parts.append(f"For {rng.randint(2, 9)} * {rng.randint(2, 9)} plots, "
                     f"add 2**{rng.randint(2, 5)} seeds.")
    text = "\n\n".join(parts)
    if rng.random() < style.get("opener", 0.05):
        text = f"{rng.choice(OPENERS)} {text}"
    if rng.random() < style.get("emoji", 0.02):
        text += " \U0001F331"
    return text


def chat_corpus(style: dict, n_prompts: int, per_prompt: int, seed: int):
    rng = random.Random(seed)
    topics = list(TOPICS)
    texts, prompts = [], []
    for p in range(n_prompts):
        for _ in range(per_prompt):
            texts.append(chat_answer(rng, topics[p % len(topics)], style))
            prompts.append(p)
    return texts, prompts


PLANTED = [("bold", {"bold": 0.1}, {"bold": 0.6}, "uses markdown bold more often"),
           ("opener", {"opener": 0.35}, {"opener": 0.05}, "opens with a stock phrase"),
           ("emoji", {}, {"emoji": 0.3}, "uses emoji more often")]


@pytest.mark.parametrize("feature, style_a, style_b, words", PLANTED, ids=[p[0] for p in PLANTED])
def test_a_planted_style_difference_is_proposed_and_validated(feature, style_a, style_b, words):
    a, pa = chat_corpus(style_a, 40, 3, seed=1)
    b, pb = chat_corpus(style_b, 40, 3, seed=2)
    assistant = OfflineAssistant()
    found = assistant.propose(a, b, "corpus", 8, pa, pb)
    named = [h for h in found if h.predicate.get("feature") == feature]
    assert named and named[0] is found[0], [h.text for h in found]
    h = named[0]
    assert words in h.text and h.evidence["q"] < 0.05, h.text
    # The claim carries no discovery figure (the reader weighs held-out ones); the evidence
    # does: the share of each model's texts its predicate fires on — those that show the
    # habit ("any"), or for a habit B shows less, those that do not.
    assert "%" not in h.text and "sampled" not in h.text, h.text
    shows = h.predicate["op"] == ">"
    shown_a = np.mean([(CHAT_FEATURES[feature](t) > 0) == shows for t in a])
    shown_b = np.mean([(CHAT_FEATURES[feature](t) > 0) == shows for t in b])
    assert h.predicate["threshold"] == 0  # "any", its natural threshold
    assert h.evidence["rate_a"] == pytest.approx(shown_a)
    assert h.evidence["rate_b"] == pytest.approx(shown_b)
    # Held out: 40 new prompts, one answer each side; the hypothesis tells them apart.
    ha, _ = chat_corpus(style_a, 40, 1, seed=3)
    hb, _ = chat_corpus(style_b, 40, 1, seed=4)
    judged = pd.DataFrame({"text": [t for pair in zip(ha, hb) for t in pair],
                           "side": ["A", "B"] * 40, "prompt_id": [i // 2 for i in range(80)]})
    r = discriminative(assistant, h, judged)
    assert r["n_prompts"] == 40 and r["accuracy"] > 0.6 and r["p_value"] < 0.01, r
    # The held-out rates shown beside the claim: one text a side per prompt, so each side's
    # rate is the plain share of its texts the predicate fires on.
    fires = np.array([predicate_fires(h.predicate, t) for t in judged["text"]])
    rates = side_rates(fires, judged["side"], judged["prompt_id"])
    assert rates["rate_b"] == pytest.approx(fires[1::2].mean())
    assert rates["rate_a"] == pytest.approx(fires[0::2].mean())
    assert rates["rate_b_ci_low"] <= rates["rate_b"] <= rates["rate_b_ci_high"]


def test_nothing_from_the_same_chat_style_on_both_sides():
    """The same style on both sides: proposal is a screen at FDR 0.05 per family, so it may
    pass noise now and then (here, over three worlds, at most one hypothesis); nothing it
    passes holds on fresh prompts."""
    style = {"bold": 0.3, "opener": 0.2, "emoji": 0.1}
    proposed = []
    for seed in range(3):
        a, pa = chat_corpus(style, 40, 3, seed=10 * seed)
        b, pb = chat_corpus(style, 40, 3, seed=10 * seed + 1)
        found = OfflineAssistant().propose(a, b, "corpus", 8, pa, pb)
        ha, _ = chat_corpus(style, 40, 1, seed=10 * seed + 2)
        hb, _ = chat_corpus(style, 40, 1, seed=10 * seed + 3)
        judged = pd.DataFrame({"text": [t for pair in zip(ha, hb) for t in pair],
                               "side": ["A", "B"] * 40, "prompt_id": [i // 2 for i in range(80)]})
        for h in found:
            assert discriminative(OfflineAssistant(), h, judged)["p_value"] > 0.05, h.text
        proposed += [h.text for h in found]
    assert len(proposed) <= 1, proposed


def test_length_on_long_answers():
    """Answers of a few hundred words: B's are longer by a paragraph, found as length."""
    a, pa = chat_corpus({}, 40, 3, seed=5)
    b, pb = chat_corpus({}, 40, 3, seed=6)
    rng = random.Random(seeded(7))
    b = [t + "\n\n" + " ".join(_sentence(rng, TOPICS["garden"]) for _ in range(8)) for t in b]
    assert min(len(t.split()) for t in b) > 150
    found = OfflineAssistant().propose(a, b, "corpus", 8, pa, pb)
    length = [h for h in found if h.predicate.get("feature") in ("words", "sentences")]
    assert length and ("longer answers" in length[0].text
                       or "more sentences" in length[0].text), [h.text for h in found]


# ------------------------------------------------------------------ real answers
def _alpaca(name: str, n: int) -> list[dict]:
    with open(ALPACA / f"{name}.jsonl") as f:
        return [json.loads(line) for line in f][:n]


@pytest.mark.skipif(not ALPACA.exists(), reason="../shared/data/alpacaeval is absent")
def test_real_answers_run_in_reasonable_time():
    """200 real answers a side: it runs, quickly, and the chat features are among the tested
    candidates. What it finds is not asserted: nothing may be tuned to these data."""
    rows_a, rows_b = _alpaca("qwen15_7b", 200), _alpaca("qwen15_72b", 200)
    assert [r["prompt"] for r in rows_a] == [r["prompt"] for r in rows_b]
    a, b = [r["output"] for r in rows_a], [r["output"] for r in rows_b]
    units = list(range(200))
    start = time.perf_counter()
    found = OfflineAssistant().propose(a, b, "corpus", 8, units, units)
    assert time.perf_counter() - start < 60
    for h in found:
        assert h.predicate["type"] in ("mentions", "feature") and h.evidence["q"] < 0.05
        assert len(OfflineAssistant().judge(h, a[:5])) == 5
    candidates, _, _ = find_candidates(Contrast.of(a, b, units, units), 5)
    tested = {c.name for c in candidates if c.kind == "feature"}
    assert len(tested & set(CHAT_FEATURES)) >= 4, tested


def _bold_world(rng, n_prompts, rate_a, rate_b, more_a=0.35, more_b=0.35):
    """One answer a side per prompt: bold in `rate` of a model's answers, and where there is
    bold, a geometric number of bold phrases (`more`: its parameter; lower, more phrases)."""
    texts, sides, prompts = [], [], []
    for p in range(n_prompts):
        for side, rate, more in (("A", rate_a, more_a), ("B", rate_b, more_b)):
            k = int(rng.random() < rate) * int(rng.geometric(more))
            words = " ".join(f"word{rng.integers(40)}" for _ in range(12))
            texts.append(words + " " + " ".join("**key point**" for _ in range(k)) + " end.")
            sides.append(side)
            prompts.append(p)
    return texts, sides, prompts


def _bold_thresholds(world):
    from modeldiff_core.assistants.offline_candidates import Contrast, passing

    texts, sides, prompts = world
    contrast = Contrast(texts, np.array(sides, dtype=object), np.array(prompts))
    candidates, _, _ = find_candidates(contrast, 5)
    return passing([c for c in candidates if c.name == "bold"], contrast, 0.05)[0]


def test_a_count_feature_keeps_its_natural_threshold_unless_another_wins_by_the_looks():
    """Of a style feature's passing thresholds the natural one ("any" for a count) is kept
    unless another's p-value times the thresholds tested is still under the natural one's
    (checked by hand on every world). Bold in 55% of B's answers against 35% of A's, as many
    phrases where there is bold: "any bold" nearly always. B with more phrases too: a higher
    threshold may win, but only past the Bonferroni margin."""
    from modeldiff_core.assistants.offline_candidates import chosen_threshold

    rng = np.random.default_rng(seeded(21))
    picks = {"presence": [], "count": []}
    for world, args in (("presence", (0.35, 0.55)), ("count", (0.4, 0.5, 0.2, 0.14))):
        for _ in range(30):
            kept = _bold_thresholds(_bold_world(rng, 200, *args))
            if not kept:
                continue
            pick, natural = chosen_threshold(kept), next((c for c in kept if c.natural), None)
            if natural is None or kept[0] is natural:
                assert pick is kept[0]
            else:
                assert (pick is kept[0]) == (kept[0].p * kept[0].looks < natural.p)
            assert pick.natural == (pick.threshold == 0)
            picks[world].append((pick.threshold, kept[0].threshold))
    presence = np.array(picks["presence"])
    assert len(presence) >= 20 and (presence[:, 0] == 0).mean() >= 0.9, presence
    count = np.array(picks["count"])
    assert (count[:, 1] != 0).sum() >= 5  # the largest |t| away from "any"...
    assert ((count[:, 0] == 0) & (count[:, 1] != 0)).sum() >= 1  # ...not always followed
