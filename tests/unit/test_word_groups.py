"""Themes that hold: words grouped without labels by the places they stand in (substitutes),
and a theme that keeps a word only if the word carries the difference on its own texts."""
import random

import numpy as np

from modeldiff_core.assistants import word_groups
from modeldiff_core.assistants.offline_candidates import (
    Candidate,
    Contrast,
    gather_themes,
    hold_to_own_texts,
)
from modeldiff_core.hypotheses.predicates import mentions

NOUNS = ["lamp", "chair", "table", "door", "window", "floor"]
PEOPLE = ["anna", "tom", "lena", "omar"]


def _texts(rng, n, adjectives):
    return [f"the {rng.choice(adjectives)} {rng.choice(NOUNS)} is here . "
            f"{rng.choice(PEOPLE)} went home ." for _ in range(n)]


def test_words_that_stand_in_one_place_are_substitutes_and_others_are_not():
    rng = random.Random(0)
    texts = _texts(rng, 400, ["red", "blue", "green", "grey"])
    subs = word_groups.substitutes(texts, ["red", "blue", "green", "lamp", "chair", "anna", "tom"],
                                   0.3)
    assert {"blue", "green"} <= subs["red"] and {"chair"} <= subs["lamp"]
    assert not subs["red"] & {"lamp", "chair", "anna", "tom"}
    assert not subs["anna"] & {"red", "blue", "lamp"}
    # By hand: "red" and "blue" share exactly the contexts "the _ <noun>"; the cosine of their
    # PPMI vectors is high, and a word never seen has no context at all.
    v = word_groups.contexts(texts, ["red", "blue", "unseen"])
    assert v[0] @ v[1] > 0.9 and not v[2].any()


def _contrast(texts_a, texts_b):
    n = len(texts_a)
    return Contrast.of(texts_a, texts_b, list(range(n)), list(range(n)))


def test_a_mood_of_words_that_never_share_a_text_gathers_into_one_theme():
    """B says "sunny", "lovely" or "warm" — one per text, never two — where A says "grey" or
    "cold": no co-occurrence joins them; that they stand in one place does, and a word of
    another place leaning the same way ("tom") does not join."""
    rng = random.Random(1)
    texts_a = _texts(rng, 300, ["grey", "cold", "dull"])
    texts_b = [t.replace("anna", "tom") for t in _texts(rng, 300, ["sunny", "lovely", "warm"])]
    contrast = _contrast(texts_a, texts_b)
    words = ["sunny", "lovely", "warm", "tom"]
    kept = []
    for w in words:
        fires = np.array([mentions(t, [w]) for t in contrast.texts])
        e, t, p = contrast.test(fires)
        kept.append(Candidate("term", w, fires, effect=e, t=t, p=p, terms=(w,)))
    kept.sort(key=lambda c: -abs(c.t))
    fires = {c.name: c.fires for c in kept}
    alike = word_groups.substitutes(contrast.texts, words, 0.3)
    themes = gather_themes(kept, contrast, fires, max_terms=8, fdr=0.05, alike=alike)
    grouped = sorted(sorted(w for m in theme for w in m.terms) for theme in themes)
    assert grouped == [["lovely", "sunny", "warm"], ["tom"]]
    # Without the substitutes each word is a theme of its own: nothing else joined them.
    alone = gather_themes(kept, contrast, fires, max_terms=8, fdr=0.05)
    assert len(alone) == 4


def test_a_theme_keeps_a_word_only_if_it_leans_on_its_own_texts():
    """A world built to break co-occurrence: B adds a cat sentence that names a harbour ("my
    cat sat by the harbour"), and both models say "harbour" as often everywhere else. The
    harbour rides along with the cats and is dropped; "kitten", which B also says on texts
    without a cat, stays."""
    rng = random.Random(2)
    n = 300

    def base(i):
        return "we saw the harbour ." if i % 4 == 0 else "we saw the market ."
    texts_a = [base(i) for i in range(n)]
    texts_b = [base(i) + (" my cat sat by the harbour ." if rng.random() < 0.5 else "")
               + (" a kitten slept ." if rng.random() < 0.3 else "") for i in range(n)]
    contrast = _contrast(texts_a, texts_b)
    assert hold_to_own_texts(["cat", "harbour", "kitten"], True, contrast) == ["cat", "kitten"]
    # The same words, read as leaning A's way, keep only the name.
    assert hold_to_own_texts(["cat", "harbour", "kitten"], False, contrast) == ["cat"]
    assert hold_to_own_texts(["cat"], True, contrast) == ["cat"]
