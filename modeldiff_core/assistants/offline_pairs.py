"""The offline assistant's pairs for the generative test: counterfactual edits of held-out
texts, so the two texts of a pair differ only in what a predicate names.

Behaviours that sentences carry (a term, a question mark) are edited in by insertion: from the
text with those sentences removed, both versions get a donor sentence at the same place, and
the two donors differ in one slot: the term against another word seen in that slot (or "?" /
"!" against the sentence's own end). Donor sentences come only from the model the behaviour is
*not* attributed to, each used once (a donor reused across prompts would tie their pairs
together, and the test over prompts assumes they are independent). Length pairs cut the text
after its first sentence."""
from __future__ import annotations

import random
import re
from collections import Counter
from typing import Optional

from ..hypotheses.types import GeneratedPair
from .predicates import (
    STOPWORDS,
    behaviour_side,
    carries,
    more_side_fires,
    predicate_fires,
    sentences,
)

_WORD = re.compile(r"[A-Za-z0-9']+")
_END = re.compile(r"[.?!]+\s*$")


def write_pairs(pred: dict, texts: list[str], prompts: list[str], examples_a: list[str],
                examples_b: list[str], n: int, seed: int) -> list[GeneratedPair]:
    """Up to `n` pairs edited from `texts` (with their `prompts`); donors come from the
    examples of the model the predicate's behaviour is not attributed to."""
    rng = random.Random(seed)
    fav_b = pred.get("favours", "B") == "B"
    pool = examples_b if behaviour_side(pred) == "A" else examples_a
    donors = _Donors(pred, pool, list(examples_a) + list(examples_b), rng)
    pairs: list[GeneratedPair] = []
    for text, prompt in zip(texts, prompts):
        sents = sentences(text)
        if not sents:
            continue
        with_b, without_b = _edit(pred, sents, donors, rng)
        if with_b is None or without_b is None or with_b == without_b:
            continue
        # The text that fits the predicate is the one B should like, if the hypothesis holds.
        favoured, contrast = (with_b, without_b) if fav_b else (without_b, with_b)
        pairs.append(GeneratedPair(favoured, contrast, prompt))
        if len(pairs) >= n:
            break
    return pairs


def _edit(pred: dict, sents: list[str], donors: "_Donors", rng: random.Random):
    """(version where the predicate fires, version where it does not), or Nones."""
    if pred["type"] == "feature" and pred["feature"] in ("words", "sentences"):
        if len(sents) < 2:
            return None, None
        more, less = " ".join(sents), sents[0]
    elif pred["type"] == "feature" and pred["feature"] == "repetition":
        unique = list(dict.fromkeys(sents))
        more, less = " ".join(unique + [unique[0]] * 2), " ".join(unique)
    else:
        more, less = _inserted(pred, sents, donors, rng)
        if more is None:
            return None, None
    fires_on_more = pred["type"] == "mentions" or pred.get("op") == ">"
    with_p, without_p = (more, less) if fires_on_more else (less, more)
    if not predicate_fires(pred, with_p) or predicate_fires(pred, without_p):
        return None, None
    return with_p, without_p


def _inserted(pred: dict, sents: list[str], donors: "_Donors", rng: random.Random):
    """The text without the sentences that carry the behaviour, with donor sentences put in
    until it shows the behaviour: (that text, its twin with the plain donors), or Nones."""
    base = [s for s in sents if not carries(pred, s)]
    if not base:
        return None, None
    grown, matched = list(base), list(base)
    for _ in range(6):
        if more_side_fires(pred, " ".join(grown)):
            break
        donor = donors.next()
        if donor is None:
            break
        at = rng.randrange(len(grown) + 1)
        grown.insert(at, donor[0])
        matched.insert(at, donor[1])
    if not more_side_fires(pred, " ".join(grown)):
        return None, None
    return " ".join(grown), " ".join(matched)


class _Donors:
    """(carrying, plain) sentence pairs made from distinct sentences of the donor pool that do
    not carry the behaviour, each by one edit in one slot. Terms go into a slot after a word
    that precedes the term in either model's texts (only that word is learnt from them, no
    text is copied), against another word the pool has after that same word, so neither
    version keeps the donor model's own choice there; "?" and "!" replace the sentence's end."""

    def __init__(self, pred: dict, pool: list[str], both: list[str], rng: random.Random):
        self.pred, self.rng = pred, rng
        plain = list(dict.fromkeys(s for e in pool for s in sentences(e) if not carries(pred, s)))
        rng.shuffle(plain)
        self.plain = plain
        self.terms = self._terms(pred)
        # The words the pool has between a left and a right neighbour, and the neighbours the
        # term has in either model's texts: a slot the term fits on both sides.
        self.between: dict[tuple[str, str], list[str]] = {}
        self.after: dict[str, list[str]] = {}
        for s in plain:
            words = [w.lower() for w in _WORD.findall(s)] + [""]
            for left, w, right in zip(words, words[1:], words[2:]):
                if w not in STOPWORDS and w not in self.terms:
                    self.between.setdefault((left, right), []).append(w)
                    self.after.setdefault(left, []).append(w)
        lefts, rights = Counter(), Counter()
        for text in both:
            words = [w.lower() for w in _WORD.findall(text)] + [""]
            for left, w, right in zip(words, words[1:], words[2:]):
                if w in self.terms:
                    lefts[left] += 1
                    rights[right] += 1
        self.lefts = {w for w, _ in lefts.most_common(8)}
        self.rights = {w for w, _ in rights.most_common(12)}

    @staticmethod
    def _terms(pred: dict) -> set[str]:
        if pred["type"] == "mentions":
            return {t for t in pred["terms"] if " " not in t}
        if pred.get("feature") == "digits":
            return {"2", "3", "10"}
        return set()

    def next(self) -> Optional[tuple[str, str]]:
        while self.plain:
            pair = self._edit(self.plain.pop())
            if pair is not None:
                return pair
        return None

    def _edit(self, sentence: str) -> Optional[tuple[str, str]]:
        feature = self.pred.get("feature")
        if feature in ("questions", "exclamations"):
            mark = "?" if feature == "questions" else "!"
            end = _END.search(sentence)
            return None if end is None else (sentence[:end.start()] + f" {mark}", sentence)
        if not self.terms:
            return None
        words = list(_WORD.finditer(sentence))
        low = [w.group().lower() for w in words] + [""]
        slots = [k for k in range(1, len(words))
                 if low[k - 1] in self.lefts and low[k + 1] in self.rights
                 and low[k] not in STOPWORDS]
        if not slots:
            return None
        k = self.rng.choice(slots)
        others = [w for w in self.between.get((low[k - 1], low[k + 1]), []) if w != low[k]] or \
            [w for w in self.after.get(low[k - 1], []) if w != low[k]]
        if not others:
            return None
        span = words[k].span()

        def put(word: str) -> str:
            return sentence[:span[0]] + word + sentence[span[1]:]
        return put(self.rng.choice(sorted(self.terms))), put(self.rng.choice(others))
