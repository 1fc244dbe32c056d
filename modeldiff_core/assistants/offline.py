"""The offline assistant: honest, simple statistics, no key needed.

Proposes from yes/no features of texts — words (stop words too), content bigrams and style
features (length, sentences, questions, exclamations, digits, repetition) above thresholds —
each tested over prompts on the discovery texts, with FDR control over all of them; words that
go together become one theme. Every hypothesis carries a JSON predicate, which is also how it judges texts and
how it edits held-out texts into counterfactual pairs for the generative test."""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..hypotheses import stats
from ..hypotheses.types import GeneratedPair, Hypothesis
from .base import Assistant

_TOKEN = re.compile(r"[a-z0-9']+|[?!.,;:]")
_SENTENCE = re.compile(r"[^.?!\n]+(?:[.?!]+|$)")
STOPWORDS = frozenset("""a an the and or but if of to in on at by for with from as is are was were be
been being it its this that these those i you he she we they me him her us them my your our their
do does did not no so very all any some there here then than too just also into out up down over
about after before again more most such only own same can will would should could what which who
whom when where why how i'm it's don't""".split())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _words_and_bigrams(text: str) -> set[str]:
    """The words a text contains (stop words too: how often a model says "so" or "very" is a
    style) and its content bigrams (no stop word in them); no punctuation."""
    words = [t for t in tokens(text) if t[0].isalnum()]
    bi = {f"{a} {b}" for a, b in zip(words, words[1:])
          if a not in STOPWORDS and b not in STOPWORDS}
    return set(words) | bi


def _repetition(text: str) -> float:
    words = [t for t in tokens(text) if t[0].isalnum()]
    grams = list(zip(words, words[1:], words[2:]))
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


STYLE_FEATURES: dict[str, Callable[[str], float]] = {
    "words": lambda t: float(sum(1 for x in tokens(t) if x[0].isalnum())),
    "sentences": lambda t: float(len(sentences(t))),
    "questions": lambda t: float(t.count("?")),
    "exclamations": lambda t: float(t.count("!")),
    "digits": lambda t: float(sum(c.isdigit() for c in t)),
    "repetition": _repetition,
}
# How a feature reads in a hypothesis: (B has more, B has less).
_FEATURE_WORDS = {
    "words": ("gives longer answers", "gives shorter answers"),
    "sentences": ("writes more sentences", "writes fewer sentences"),
    "questions": ("asks questions more often", "asks questions less often"),
    "exclamations": ("uses exclamations more often", "uses exclamations less often"),
    "digits": ("uses digits more often", "uses digits less often"),
    "repetition": ("repeats itself more", "repeats itself less"),
}


def _mentions(text: str, terms: list[str]) -> bool:
    low = " ".join(t for t in tokens(text) if t[0].isalnum())
    return any(re.search(rf"(?<![\w']){re.escape(term)}(?![\w'])", low) for term in terms)


def predicate_fires(predicate: dict, text: str) -> bool:
    """Does a text show what the predicate describes (for the model it names as favoured)?"""
    if predicate["type"] == "mentions":
        return _mentions(text, predicate["terms"])
    if predicate["type"] == "feature":
        value = STYLE_FEATURES[predicate["feature"]](text)
        return value > predicate["threshold"] if predicate["op"] == ">" else value <= predicate["threshold"]
    raise ValueError(f"unknown predicate type {predicate['type']!r}")


def _related_by_use(x: Optional[np.ndarray], min_lift: float = 3.0,
                    min_together: int = 3) -> Optional[np.ndarray]:
    """Words (columns of x, texts x words, 0/1) that share texts at least `min_lift` times as
    often as chance would, in `min_together` texts or more."""
    if x is None:
        return None
    x = x.astype(float)
    together = x.T @ x
    seen = np.diag(together).copy()
    lift = together * len(x) / np.maximum(np.outer(seen, seen), 1)
    return (lift >= min_lift) & (together >= min_together)


def _close_groups(vectors: np.ndarray, cuts: tuple, max_size: int = 10) -> list[list[int]]:
    """Groups of words that sit close in the embedder's space: average-linkage clustering on
    cosine distance, cut at several heights (a theme can be narrow or broad)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors, method="average", metric="cosine")
    groups = []
    for cut in cuts:
        labels = fcluster(tree, t=cut, criterion="distance")
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label).tolist()
            if 1 < len(members) <= max_size:
                groups.append(members)
    return groups


def _word_groups(x: Optional[np.ndarray], related: Optional[np.ndarray],
                 max_size: int = 10) -> list[list[int]]:
    """Groups of words (columns of x) in which each word is related to at least half of the
    others, the most frequent words seeding them. Both models' texts are pooled, so a group
    knows nothing of who wrote what and testing it keeps the proposal honest."""
    if x is None or related is None or x.shape[1] < 2:
        return []
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


def _compared(source: str) -> str:
    return "sampled texts" if source == "corpus" else f"the texts compared from {source}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


@dataclass
class _Candidate:
    """A yes/no feature of a text: a word (content or stop word), a content bigram, or a style
    feature above a threshold; `fires` over the A texts then the B texts."""
    kind: str  # term / stop / theme / feature
    name: str
    fires: np.ndarray
    threshold: Optional[float] = None
    terms: tuple = ()  # a theme's words (a word's: itself)
    effect: float = 0.0
    t: float = 0.0
    p: float = 1.0
    q: float = 1.0


# Style features counted per text: "any" (> 0) is a natural threshold for them.
_COUNTED = ("questions", "exclamations", "digits")


class OfflineAssistant(Assistant):
    """Proposes by testing every candidate feature on the discovery texts with the prompt as
    the unit (`stats.rate_difference_test`), Benjamini-Hochberg over all candidates, and a
    minimum effect as a difference of rates; words skewed to the same model that occur
    together are merged into one theme, and style features that fire on the same texts into
    one. A sparse feature that fires in a fifth of one model's texts and almost never in the
    other's passes: nothing asks for an AUC."""
    kind = "offline"

    def __init__(self, fdr: float = 0.05, min_rate_gap: float = 0.1, min_support: int = 5,
                 min_log_odds: float = 1.0, max_theme_terms: int = 8,
                 embed: Optional[Callable] = None,
                 cut_distances: tuple = (0.5, 0.6, 0.7), seed: int = 0):
        if not 0 < fdr <= 1:
            raise ValueError("fdr must lie in (0, 1]")
        if not 0 <= min_rate_gap < 1:
            raise ValueError("min_rate_gap must lie in [0, 1)")
        if not min_log_odds >= 0:
            raise ValueError("min_log_odds must be 0 or more")
        self.fdr, self.min_rate_gap, self.min_support = fdr, min_rate_gap, min_support
        self.min_log_odds = min_log_odds
        self.max_theme_terms, self.seed = max_theme_terms, seed
        # embed(list of words) -> unit vectors: words that sit close join a theme too.
        self.embed, self.cut_distances = embed, cut_distances

    # ---------------------------------------------------------------- propose
    def propose(self, texts_a, texts_b, source, max_hypotheses=5, prompts_a=None, prompts_b=None):
        if not texts_a or not texts_b:
            return []
        texts = list(texts_a) + list(texts_b)
        sides = np.array(["A"] * len(texts_a) + ["B"] * len(texts_b), dtype=object)
        # Without prompts every text is its own unit (a two-proportion test, in effect).
        if prompts_a is None or prompts_b is None:
            units = np.arange(len(texts))
        else:
            units = np.array([f"p{u}" for u in list(prompts_a) + list(prompts_b)], dtype=object)
        candidates, word_fires = self._candidates(texts, len(texts_a), len(texts_b))
        if not candidates:
            return []
        effect, t, p, n_units = stats.rate_difference_test(
            np.column_stack([c.fires for c in candidates]), sides, units)
        q = stats.benjamini_hochberg(p)
        kept = []
        n_a, n_b = len(texts_a), len(texts_b)
        for c, e, tt, pp, qq in zip(candidates, effect, t, p, q):
            c.effect, c.t, c.p, c.q = float(e), float(tt), float(pp), float(qq)
            if qq < self.fdr and self._large_enough(e, c.fires[n_a:].sum(), n_b,
                                                    c.fires[:n_a].sum(), n_a):
                kept.append(c)
        kept.sort(key=lambda c: -abs(c.t))
        for c in kept:
            if c.kind == "theme":
                # A word group is found without labels; the theme keeps the words that lean
                # the group's way, strongest first.
                w_effect, w_t, _, _ = stats.rate_difference_test(
                    np.column_stack([word_fires[w] for w in c.terms]), sides, units)
                # (t >= 1: a word that leans only by chance would blur the theme.)
                lean = [(t, w) for w, t in zip(c.terms, w_t) if t * np.sign(c.effect) >= 1]
                lean.sort(key=lambda x: -abs(x[0]))
                c.terms = tuple(w for _, w in lean) or c.terms
                c.name = c.terms[0]

        def test(fires: np.ndarray) -> tuple[float, float, float]:
            e, tt, pp, _ = stats.rate_difference_test(fires[:, None], sides, units)
            return float(e[0]), float(tt[0]), float(pp[0])

        is_b = sides == "B"
        found = [self._theme_hypothesis(g, texts, is_b, source, test, n_units)
                 for g in self._themes([c for c in kept if c.kind != "feature"], is_b, test,
                                       word_fires)]
        found += [self._feature_hypothesis(g, texts, is_b, source, n_units)
                  for g in self._feature_groups([c for c in kept if c.kind == "feature"])]
        found.sort(key=lambda h: -h.evidence["strength"])
        # A weaker theme that shares a word with a stronger one of the same direction is the
        # same claim cut another way.
        kept_terms: dict[str, set] = {"A": set(), "B": set()}
        out = []
        for h in found:
            if h.predicate["type"] == "mentions":
                terms = set(h.predicate["terms"])
                if terms & kept_terms[h.direction]:
                    continue
                kept_terms[h.direction] |= terms
            out.append(h)
        return out[:max_hypotheses]

    def _large_enough(self, effect: float, k_b: int, n_b: int, k_a: int, n_a: int) -> bool:
        """The minimum effect: a rate difference of `min_rate_gap`, or half of it when the
        odds differ `min_log_odds` or more (a sparse, specific feature: 9% against 0.5%)."""
        log_odds = (np.log((k_b + 0.5) / (n_b - k_b + 0.5))
                    - np.log((k_a + 0.5) / (n_a - k_a + 0.5)))
        if abs(effect) >= self.min_rate_gap:
            return True
        return abs(effect) >= self.min_rate_gap / 2 and abs(log_odds) >= self.min_log_odds \
            and np.sign(log_odds) == np.sign(effect)

    def _candidates(self, texts: list[str], n_a: int, n_b: int
                    ) -> tuple[list[_Candidate], dict[str, np.ndarray]]:
        """The candidates, and which texts each content word (frequent enough to group) is in."""
        docs = [_words_and_bigrams(t) for t in texts]
        support = Counter(w for d in docs for w in d)
        # Support is counted over both models together, so which candidates are tested does
        # not depend on which model wrote what; one that fires in fewer texts than the minimum
        # effect needs on the smaller side could never pass, and would only cost power.
        least = max(self.min_support, int(np.ceil(self.min_rate_gap / 2 * min(n_a, n_b))))
        out = []
        for term, n in sorted(support.items()):
            if n < least or n > len(texts) - least:
                continue
            fires = np.array([term in d for d in docs])
            kind = "stop" if term in STOPWORDS else "term"
            out.append(_Candidate(kind, term, fires, terms=(term,)))
        # Themes gather words too rare to pass alone: the theme is what is tested.
        # Two groupings, each blind to who wrote what: words that occur together, and words
        # that sit close in the embedder's space (sea, beach, harbour: each maybe too rare to
        # co-occur often in a few hundred texts).
        words = [w for w, n in sorted(support.items()) if n >= 2
                 and " " not in w and w not in STOPWORDS]
        word_fires = {w: np.array([w in d for d in docs]) for w in words}
        x = np.column_stack([word_fires[w] for w in words]) if words else None
        groups = _word_groups(x, _related_by_use(x))
        if self.embed is not None and len(words) > 2:
            groups += _close_groups(np.asarray(self.embed(words), dtype=float),
                                    self.cut_distances)
        for group in dict.fromkeys(tuple(sorted(g)) for g in groups):
            fires = np.logical_or.reduce([word_fires[words[i]] for i in group])
            if least <= fires.sum() <= len(texts) - least:
                ranked = sorted(group, key=lambda i: -x[:, i].sum())
                out.append(_Candidate("theme", words[ranked[0]], fires,
                                      terms=tuple(words[i] for i in ranked)))
        for name, fn in STYLE_FEATURES.items():
            values = np.array([fn(t) for t in texts])
            thresholds = set(np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9]).tolist())
            if name in _COUNTED:
                thresholds.add(0.0)
            for thr in sorted(thresholds):
                fires = values > thr
                if least <= fires.sum() <= len(texts) - least:
                    out.append(_Candidate("feature", name, fires, threshold=float(thr)))
        return out, word_fires

    def _themes(self, kept: list[_Candidate], is_b: np.ndarray, test,
                word_fires: dict) -> list[list[_Candidate]]:
        """Greedy, strongest first: a word joins a theme of the same direction and kind (stop
        words only with stop words) when it occurs with the theme's words (most of its texts
        on the favoured side carry the theme, or at least twice as often as the side's texts
        do) and the theme tested with it is no weaker than without it. A word group that
        cannot join whole is tried word by word; the words left over stay a theme of their
        own."""
        themes: list[tuple[list[_Candidate], np.ndarray, float]] = []

        def join(c: _Candidate) -> bool:
            fav = is_b if c.effect > 0 else ~is_b
            for k, (members, fires, t) in enumerate(themes):
                lead = members[0]
                if (lead.effect > 0) != (c.effect > 0) or (lead.kind == "stop") != (c.kind == "stop"):
                    continue
                words = {w for m in members for w in m.terms}
                if set(c.terms) <= words or (" " in c.name and words & set(c.name.split())):
                    members.append(c)  # the theme's own words (or a bigram of one) add nothing
                    return True
                if len(words) >= self.max_theme_terms:
                    continue
                own = c.fires & fav
                overlap = (own & fires).sum() / max(1, own.sum())
                base = (fires & fav).sum() / max(1, fav.sum())
                if not (overlap >= 0.8 or (overlap >= 0.2 and overlap >= 2 * base)):
                    continue
                union = fires | c.fires
                _, t_union, _ = test(union)
                if abs(t_union) >= abs(t) and np.sign(t_union) == np.sign(t):
                    themes[k] = (members + [c], union, t_union)
                    return True
            return False

        for c in kept:
            if join(c):
                continue
            if c.kind == "theme" and themes:
                rest = [w for w in c.terms if not join(_Candidate(
                    "term", w, word_fires[w], effect=c.effect, t=c.t, q=c.q, terms=(w,)))]
                if not rest:
                    continue
                if len(rest) < len(c.terms):
                    fires = np.logical_or.reduce([word_fires[w] for w in rest])
                    e, t, p = test(fires)
                    if e * np.sign(c.effect) < self.min_rate_gap:
                        continue
                    c = _Candidate("theme", rest[0], fires, effect=e, t=t, p=p, q=c.q,
                                   terms=tuple(rest))
            themes.append(([c], c.fires.copy(), c.t))
        return [members for members, _, _ in themes]

    def _theme_hypothesis(self, members, texts, is_b, source, test, n_units) -> Hypothesis:
        lead = members[0]
        direction = "B" if lead.effect > 0 else "A"
        # The predicate fires on any of the theme's words; its bigrams are only evidence.
        terms = list(dict.fromkeys(w for m in members for w in m.terms if " " not in w))
        terms = terms[:self.max_theme_terms] or [lead.name]
        fires = np.array([_mentions(t, terms) for t in texts])
        effect, t, p = test(fires)
        fa, fb = fires[~is_b].mean(), fires[is_b].mean()
        more = "more" if direction == "B" else "less"
        verb = "uses the word" if lead.kind == "stop" else "mentions"
        if len(terms) == 1:
            named = f'{verb} "{terms[0]}"'
        else:
            listed = ", ".join(terms[:6]) + (", ..." if len(terms) > 6 else "")
            named = (f'uses the words "{terms[0]}" and the like ({listed})' if lead.kind == "stop"
                     else f'mentions "{terms[0]}" and related words ({listed})')
        text = (f"Model B {named} {more} often than Model A "
                f"(in {_pct(fb)} vs {_pct(fa)} of {_compared(source)}).")
        return Hypothesis(text, direction, source,
                          {"type": "mentions", "terms": terms, "favours": direction},
                          {"rate_a": float(fa), "rate_b": float(fb), "effect": effect, "t": t,
                           "p": p, "q": lead.q,
                           "theme": list(dict.fromkeys(w for m in members for w in m.terms)),
                           "strength": abs(t), "n_prompts": int(n_units),
                           "n_a": int((~is_b).sum()), "n_b": int(is_b.sum())})

    @staticmethod
    def _feature_groups(kept: list[_Candidate]) -> list[list[_Candidate]]:
        """The best threshold of each style feature, then features that fire on the same texts
        in the same direction (words and sentences, for length) merged, the strongest leading."""
        best: dict[str, _Candidate] = {}
        for c in kept:  # strongest first
            best.setdefault(c.name, c)
        groups: list[list[_Candidate]] = []
        for c in best.values():
            for g in groups:
                lead = g[0]
                a, b = lead.fires, c.fires
                if (lead.effect > 0) == (c.effect > 0) and (a & b).sum() >= 0.5 * max(1, (a | b).sum()):
                    g.append(c)
                    break
            else:
                groups.append([c])
        return groups

    def _feature_hypothesis(self, group, texts, is_b, source, n_units) -> Hypothesis:
        lead = group[0]
        name, thr = lead.name, lead.threshold
        direction = "B" if lead.effect > 0 else "A"
        # The predicate describes B: "value > t" when B has more, "value <= t" when less.
        predicate = {"type": "feature", "feature": name, "op": ">" if direction == "B" else "<=",
                     "threshold": thr, "favours": "B"}
        values = np.array([STYLE_FEATURES[name](t) for t in texts])
        fires = np.array([predicate_fires(predicate, t) for t in texts])
        fa, fb = fires[~is_b].mean(), fires[is_b].mean()
        phrase = _FEATURE_WORDS[name][0 if direction == "B" else 1]
        text = (f"Model B {phrase} than Model A (median {np.median(values[is_b]):.3g} vs "
                f"{np.median(values[~is_b]):.3g} {name}; {_pct(fb)} vs {_pct(fa)} of "
                f"{_compared(source)} {'above' if direction == 'B' else 'at or below'} {thr:.3g}).")
        return Hypothesis(text, "B", source, predicate,
                          {"rate_a": float(fa), "rate_b": float(fb), "effect": lead.effect,
                           "t": lead.t, "p": lead.p, "q": lead.q, "strength": abs(lead.t),
                           "same_as": [c.name for c in group[1:]], "n_prompts": int(n_units),
                           "n_a": int((~is_b).sum()), "n_b": int(is_b.sum())})

    def refine(self, hypotheses, judged, source, max_hypotheses=5):
        """The contrast rerun within each region the hypotheses see alike (the default), keeping
        only what also holds, the same way round, over all the judged discovery texts: a region
        is selected by the hypotheses' own features, and inside it a word can change sides."""
        found = super().refine(hypotheses, judged, source, max_hypotheses)
        if not found:
            return []
        texts = judged["text"].tolist()
        scores = np.column_stack([self.judge(h, texts) for h in found])
        effect, _, p, _ = stats.rate_difference_test(scores, judged["side"].to_numpy(),
                                                     judged["prompt_id"].to_numpy())
        q = stats.benjamini_hochberg(p)
        return [h for h, e, qq in zip(found, effect, q)
                if qq < self.fdr and e >= self.min_rate_gap]

    # ------------------------------------------------------------------ judge
    def judge(self, hypothesis, texts):
        pred = hypothesis.predicate
        if pred is None:
            raise ValueError("the offline assistant judges only hypotheses with a predicate")
        fires_means_b = pred.get("favours", "B") == "B"
        return [1.0 if predicate_fires(pred, t) == fires_means_b else 0.0 for t in texts]

    # ---------------------------------------------------------- write pairs
    def write_pairs(self, hypothesis, texts, prompts, examples_a, examples_b, n):
        """Counterfactual edits of held-out texts, so the two texts of a pair differ only in
        what the hypothesis names. Behaviours that sentences carry (a term, a question mark)
        are edited in by insertion: from the text with those sentences removed, both versions
        get a donor sentence at the same place, and the two donors differ in one slot: the
        term against another word seen in that slot (or "?" / "!" against the sentence's own
        end). Donor sentences come only from the model the behaviour is *not* attributed to,
        each used once (a donor reused across prompts would tie their pairs together, and the
        test over prompts assumes they are independent). Length pairs cut the text after its
        first sentence."""
        pred = hypothesis.predicate
        if pred is None:
            return []
        rng = random.Random(self.seed)
        fav_b = pred.get("favours", "B") == "B"
        pool = examples_b if behaviour_side(pred) == "A" else examples_a
        donors = _Donors(pred, pool, list(examples_a) + list(examples_b), rng)
        pairs: list[GeneratedPair] = []
        for text, prompt in zip(texts, prompts):
            sents = sentences(text)
            if not sents:
                continue
            with_b, without_b = self._edit(pred, sents, donors, rng)
            if with_b is None or without_b is None or with_b == without_b:
                continue
            # The text that fits the predicate is the one B should like, if the hypothesis holds.
            favoured, contrast = (with_b, without_b) if fav_b else (without_b, with_b)
            pairs.append(GeneratedPair(favoured, contrast, prompt))
            if len(pairs) >= n:
                break
        return pairs

    @staticmethod
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
            base = [s for s in sents if not _carries(pred, s)]
            if not base:
                return None, None
            grown, matched = list(base), list(base)
            for _ in range(6):
                if _more_side_fires(pred, " ".join(grown)):
                    break
                donor = donors.next()
                if donor is None:
                    break
                at = rng.randrange(len(grown) + 1)
                grown.insert(at, donor[0])
                matched.insert(at, donor[1])
            if not _more_side_fires(pred, " ".join(grown)):
                return None, None
            more, less = " ".join(grown), " ".join(matched)
        fires_on_more = pred["type"] == "mentions" or pred.get("op") == ">"
        with_p, without_p = (more, less) if fires_on_more else (less, more)
        if not predicate_fires(pred, with_p) or predicate_fires(pred, without_p):
            return None, None
        return with_p, without_p


_WORD = re.compile(r"[A-Za-z0-9']+")
_END = re.compile(r"[.?!]+\s*$")


class _Donors:
    """(carrying, plain) sentence pairs made from distinct sentences of the donor pool that do
    not carry the behaviour, each by one edit in one slot. Terms go into a slot after a word
    that precedes the term in either model's texts (only that word is learnt from them, no
    text is copied), against another word the pool has after that same word, so neither
    version keeps the donor model's own choice there; "?" and "!" replace the sentence's end."""

    def __init__(self, pred: dict, pool: list[str], both: list[str], rng: random.Random):
        self.pred, self.rng = pred, rng
        plain = list(dict.fromkeys(s for e in pool for s in sentences(e) if not _carries(pred, s)))
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


def behaviour_side(pred: dict) -> str:
    """The model that shows more of what the predicate counts (mentions of the terms, marks,
    length): the side donor sentences must never come from."""
    if pred["type"] == "mentions":
        return pred.get("favours", "B")
    more_is_b = pred.get("op", ">") == ">"
    if pred.get("favours", "B") != "B":
        more_is_b = not more_is_b
    return "B" if more_is_b else "A"


def _carries(pred: dict, sentence: str) -> bool:
    """Does one sentence carry the thing the predicate counts (a term, a question mark...)?"""
    if pred["type"] == "mentions":
        return _mentions(sentence, pred["terms"])
    if pred["feature"] in ("words", "sentences", "repetition"):
        return True
    return STYLE_FEATURES[pred["feature"]](sentence) > 0


def _more_side_fires(pred: dict, text: str) -> bool:
    """Is the text on the 'more of it' side of the predicate (more mentions, more marks)?"""
    if pred["type"] == "mentions":
        return _mentions(text, pred["terms"])
    return STYLE_FEATURES[pred["feature"]](text) > pred["threshold"]
