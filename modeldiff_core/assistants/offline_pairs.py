"""The offline assistant's pairs for the generative test: counterfactual edits of held-out
texts, so the versions of a pair differ only in one word.

Behaviours a term carries (a word, a digit) are edited in by insertion: from the text with the
sentences that carry the behaviour removed, every version gets the same donor sentence at the
same place, differing in one slot: the term, or one of a few *placebo* words matched to the
term on frequency in both models' texts (and on length). Under a B that is only a flatter or
sharper copy of A (a quantized model, another temperature) every word's B - A shift follows its
frequency, so a rare term would look "likelier under B" whatever the hypothesis; against words
of its own frequency it does not (`validation.generative`). Donor sentences come only from the
model the behaviour is *not* attributed to, each used once (a donor reused across prompts would
tie their pairs together, and the test over prompts assumes they are independent).

Behaviours no single word carries (question marks, length, repetition, markdown, openers) have
no frequency-matched edit: `write_pairs` raises NoPairs, and the stage stores the test as
skipped with that reason."""
from __future__ import annotations

import math
import random
import re
from collections import Counter
from typing import Optional

from ..hypotheses.types import GeneratedPair, NoPairs
from ..hypotheses.predicates import (STOPWORDS, behaviour_side, carries, more_side_fires,
                                     predicate_fires, sentences)

_WORD = re.compile(r"[A-Za-z0-9']+")
N_PLACEBOS = 6  # placebo words per pair: enough to read the slot's frequency-to-shift slope
NO_EDIT = ("no frequency-matched edit for this feature: only a behaviour one word carries can "
           "be swapped against words of its own frequency")


def term_edits(pred: dict) -> set[str]:
    """The words a pair can swap in for this predicate (empty: no edit for this feature)."""
    if pred["type"] == "mentions":
        return {t for t in pred["terms"] if " " not in t}
    if pred.get("feature") == "digits":
        return {"2", "3", "10"}
    return set()


def write_pairs(pred: dict, texts: list[str], prompts: list[str], examples_a: list[str],
                examples_b: list[str], n: int, seed: int, matched: bool = True) -> list[GeneratedPair]:
    """Up to `n` pairs edited from `texts` (with their `prompts`); donors come from the
    examples of the model the predicate's behaviour is not attributed to. Each pair carries
    its placebo versions (the term swapped for frequency-matched words). `matched=False`
    writes the design this project had — the term against a word the donor model puts in
    that slot, with no placebos — kept for the calibration benchmark's comparison only."""
    if pred["type"] == "matches":  # a pattern names no word to swap in or out
        raise NoPairs("no edit for a regular expression: give keywords instead for pairs "
                      "the models can score")
    if not term_edits(pred):
        raise NoPairs(NO_EDIT)
    rng = random.Random(seed)
    fav_b = pred.get("favours", "B") == "B"
    pool = examples_b if behaviour_side(pred) == "A" else examples_a
    donors = _Donors(pred, pool, list(examples_a) + list(examples_b), rng, matched)
    pairs: list[GeneratedPair] = []
    for text, prompt in zip(texts, prompts):
        carrier, others = _inserted(pred, sentences(text), donors, rng)
        if carrier is None:
            continue
        # The predicate fires on the version with the term (more mentions), or, for a
        # predicate on the 'less' side, on the versions without it.
        fires_on_carrier = pred["type"] == "mentions" or pred.get("op") == ">"
        if predicate_fires(pred, carrier) != fires_on_carrier or any(
                predicate_fires(pred, o) == fires_on_carrier for o in others):
            continue
        with_p, without_p = (carrier, others[0]) if fires_on_carrier else (others[0], carrier)
        # The text that fits the predicate is the one B should like, if the hypothesis holds.
        favoured, contrast = (with_p, without_p) if fav_b else (without_p, with_p)
        pairs.append(GeneratedPair(favoured, contrast, prompt,
                                   placebos=others if matched else [],
                                   carrier="favoured" if favoured == carrier else "contrast"))
        if len(pairs) >= n:
            break
    return pairs


def _inserted(pred: dict, sents: list[str], donors: "_Donors", rng: random.Random):
    """The text without the sentences that carry the behaviour, with a donor sentence put in
    until it shows the behaviour: (that text, its versions with the other words), or Nones."""
    base = [s for s in sents if not carries(pred, s)]
    if not base:
        return None, None
    grown, others = list(base), None
    for _ in range(6):
        if more_side_fires(pred, " ".join(grown)):
            break
        donor = donors.next()
        if donor is None:
            break
        at = rng.randrange(len(grown) + 1)
        grown.insert(at, donor[0])
        others = [list(o) for o in (others or [base] * len(donor[1]))]
        for o, plain in zip(others, donor[1]):
            o.insert(at, plain)
    if others is None or not more_side_fires(pred, " ".join(grown)):
        return None, None
    return " ".join(grown), [" ".join(o) for o in others]


class _Donors:
    """(carrying, [other versions]) sentences made from distinct sentences of the donor pool
    that do not carry the behaviour, each by one edit in one slot: a slot after a word that
    precedes the term in either model's texts, before one that follows it there (only those
    neighbours are learnt from them, no text is copied). The other versions put placebo words
    there: words found between the term's neighbours, nearest the term in frequency over both
    models' texts (log scale) and in length, N_PLACEBOS drawn per slot from the 3 x N_PLACEBOS
    nearest. Unmatched (the old design): one word the pool itself has in that slot."""

    def __init__(self, pred: dict, pool: list[str], both: list[str], rng: random.Random,
                 matched: bool = True):
        self.pred, self.rng, self.matched = pred, rng, matched
        plain = list(dict.fromkeys(s for e in pool for s in sentences(e) if not carries(pred, s)))
        rng.shuffle(plain)
        self.plain = plain
        self.terms = term_edits(pred)
        self.between: dict[tuple[str, str], list[str]] = {}
        self.after: dict[str, list[str]] = {}
        for s in plain:
            words = [w.lower() for w in _WORD.findall(s)] + [""]
            for left, w, right in zip(words, words[1:], words[2:]):
                if w not in STOPWORDS and w not in self.terms:
                    self.between.setdefault((left, right), []).append(w)
                    self.after.setdefault(left, []).append(w)
        lefts, rights, counts = Counter(), Counter(), Counter()
        texts = [[w.lower() for w in _WORD.findall(t)] + [""] for t in both]
        for words in texts:
            counts.update(words)
            for left, w, right in zip(words, words[1:], words[2:]):
                if w in self.terms:
                    lefts[left] += 1
                    rights[right] += 1
        self.lefts = {w for w, _ in lefts.most_common(8)}
        self.rights = {w for w, _ in rights.most_common(12)}
        # Placebo candidates fill the term's slot in either model's texts: between one of its
        # left and one of its right neighbours (a noun's slot takes nouns), or failing enough
        # of those, after a left one.
        fits = {(w, right in self.rights) for words in texts
                for left, w, right in zip(words, words[1:], words[2:])
                if left in self.lefts and w and w not in STOPWORDS and w not in self.terms
                and not carries(pred, w)}
        both_sides = {w for w, right_fits in fits if right_fits}
        followers = both_sides if len(both_sides) >= 2 * N_PLACEBOS else {w for w, _ in fits}
        self.near = {t: _nearest(t, followers, counts) for t in sorted(self.terms)}

    def next(self) -> Optional[tuple[str, list[str]]]:
        while self.plain:
            pair = self._edit(self.plain.pop())
            if pair is not None:
                return pair
        return None

    def _edit(self, sentence: str) -> Optional[tuple[str, list[str]]]:
        words = list(_WORD.finditer(sentence))
        low = [w.group().lower() for w in words] + [""]
        slots = [k for k in range(1, len(words))
                 if low[k - 1] in self.lefts and low[k + 1] in self.rights
                 and low[k] not in STOPWORDS]
        if not slots:
            return None
        k = self.rng.choice(slots)
        span = words[k].span()

        def put(word: str) -> str:
            return sentence[:span[0]] + word + sentence[span[1]:]
        term = self.rng.choice(sorted(self.terms))
        if self.matched:
            near = [w for w in self.near[term] if w != low[k]]
            if len(near) < 2:
                return None
            others = self.rng.sample(near, min(N_PLACEBOS, len(near)))
        else:
            slot = [w for w in self.between.get((low[k - 1], low[k + 1]), []) if w != low[k]] or \
                [w for w in self.after.get(low[k - 1], []) if w != low[k]]
            if not slot:
                return None
            others = [self.rng.choice(slot)]
        return put(term), [put(w) for w in others]


def _nearest(term: str, candidates: set[str], counts: Counter) -> list[str]:
    """The 3 x N_PLACEBOS candidates nearest the term in log frequency (+ 0.1 per letter of
    length apart), ties broken by the word."""
    f = math.log1p(counts[term])

    def distance(w: str) -> tuple[float, str]:
        return abs(math.log1p(counts[w]) - f) + 0.1 * abs(len(w) - len(term)), w
    return sorted(candidates, key=distance)[:3 * N_PLACEBOS]
