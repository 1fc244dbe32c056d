"""The offline assistant's candidates: yes/no features of a text — a word (stop words too), a
content bigram, a group of words, a style feature above a threshold — each tested over prompts
on the discovery texts with FDR control over all of them, and the ones that pass gathered into
themes (words skewed the same way that occur together) and feature groups."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..hypotheses import stats
from . import word_groups
from ..hypotheses.chat_features import CHAT_FEATURES
from ..hypotheses.predicates import STOPWORDS, STYLE_FEATURES, mentions, words_and_bigrams

# Style features counted per text: "any" (> 0) is a natural threshold for them.
_COUNTED = ("questions", "exclamations", "digits", *CHAT_FEATURES)
# Words gathered into themes: the most frequent this many. Grouping compares every two words
# (memory and time grow with its square); long answers bring tens of thousands of words, and
# a word rarer than the first few thousand is too rare to shape a theme anyway.
_GROUP_WORDS = 3000
# Substitutes are grouped among the most frequent this many words, at these cosine distances
# of their contexts (the words of one mood stand where each other stand: 0.3-0.55 apart).
_ALIKE_WORDS = 1000
_ALIKE_CUTS = (0.5, 0.6, 0.7)
# A group is a theme candidate up to this many words; up to _WIDE, its leaning words are chosen
# on half of the prompts (`chosen_on_halves`: a mood's six adjectives among the eighteen that
# stand where they stand).
_THEME_WORDS = 10
_WIDE = 30
OWN_TEXTS_ALPHA = 0.05  # one-sided: a theme's word must lean its way on its own texts


@dataclass
class Contrast:
    """Both models' texts (A's first), who wrote each, and the unit each is tested over: its
    prompt, or (without prompts) the text itself, a two-proportion test in effect."""
    texts: list[str]
    sides: np.ndarray
    units: np.ndarray

    @classmethod
    def of(cls, texts_a: list[str], texts_b: list[str], prompts_a: Optional[list] = None,
           prompts_b: Optional[list] = None) -> "Contrast":
        texts = list(texts_a) + list(texts_b)
        sides = np.array(["A"] * len(texts_a) + ["B"] * len(texts_b), dtype=object)
        if prompts_a is None or prompts_b is None:
            units = np.arange(len(texts))
        else:
            units = np.array([f"p{u}" for u in list(prompts_a) + list(prompts_b)], dtype=object)
        return cls(texts, sides, units)

    @property
    def is_b(self) -> np.ndarray:
        return self.sides == "B"

    def test_many(self, fires: np.ndarray):
        """`stats.rate_difference_test` of each column of `fires` (texts x features)."""
        return stats.rate_difference_test(fires, self.sides, self.units)

    def within(self, mask: np.ndarray) -> "Contrast":
        """The same contrast over the texts `mask` selects."""
        return Contrast([t for t, m in zip(self.texts, mask) if m], self.sides[mask],
                        self.units[mask])

    def test(self, fires: np.ndarray) -> tuple[float, float, float]:
        """(effect, t, p) of one feature."""
        e, t, p, _ = self.test_many(fires[:, None])
        return float(e[0]), float(t[0]), float(p[0])


@dataclass
class Candidate:
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
    natural: bool = False  # a feature's natural threshold: any at all (counted), or the median
    looks: int = 1  # how many thresholds of its feature were tested
    # A theme whose words were chosen by their lean on half of the prompts: its p-value from the
    # other half (`chosen_on_halves`), which replaces the test on every text.
    split_p: Optional[float] = None
    split_way: int = 0  # ...the way it was chosen to lean (1: B more, -1: B less)
    place: tuple = ()  # ...and the words of one place it was chosen from, if it was


def find_candidates(contrast: Contrast, min_support: int, embed: Optional[Callable] = None,
                    cut_distances: tuple = ()
                    ) -> tuple[list[Candidate], dict[str, np.ndarray], dict[tuple, bool]]:
    """The candidates, which texts each content word (frequent enough to group) is in, and the
    label-blind word groups (wider ones too) for `chosen_on_halves`: words -> whether they
    stand in one place (substitutes) rather than occur together or sit close in meaning."""
    texts = contrast.texts
    docs = [words_and_bigrams(t) for t in texts]
    support = Counter(w for d in docs for w in d)
    # Support is counted over both models together, so which candidates are tested does not
    # depend on which model wrote what.
    least = min_support

    def common(fires: np.ndarray) -> bool:
        return least <= fires.sum() <= len(texts) - least

    out = []
    for term, n in sorted(support.items()):
        if least <= n <= len(texts) - least:
            kind = "stop" if term in STOPWORDS else "term"
            out.append(Candidate(kind, term, np.array([term in d for d in docs]), terms=(term,)))
    words = [w for w, n in sorted(support.items()) if n >= 2
             and " " not in w and w not in STOPWORDS]
    if len(words) > _GROUP_WORDS:  # the most frequent, still in alphabetical order
        words = sorted(sorted(words, key=lambda w: -support[w])[:_GROUP_WORDS])
    word_fires = {w: np.array([w in d for d in docs]) for w in words}
    themes, groups = _theme_candidates(texts, words, word_fires, embed, cut_distances)
    out += [c for c in themes if common(c.fires)]
    for name, fn in STYLE_FEATURES.items():
        values = np.array([fn(t) for t in texts])
        thresholds = set(np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9]).tolist())
        natural = 0.0 if name in _COUNTED else float(np.median(values))
        thresholds.add(natural)
        kept = [thr for thr in sorted(thresholds) if common(values > thr)]
        out += [Candidate("feature", name, values > thr, threshold=float(thr),
                          natural=thr == natural, looks=len(kept)) for thr in kept]
    return out, word_fires, groups


def _theme_candidates(texts: list[str], words: list[str], word_fires: dict[str, np.ndarray],
                      embed: Optional[Callable], cut_distances: tuple
                      ) -> tuple[list[Candidate], dict[tuple, bool]]:
    """Themes gather words too rare to pass alone: the theme is what is tested. Three groupings,
    each blind to who wrote what (`word_groups`): words that occur together, words that sit
    close in the embedder's space (sea, beach, harbour: each maybe too rare to co-occur often
    in a few hundred texts), and words that stand in the same places in the texts (the
    adjectives of one mood, which rarely share a text)."""
    x = np.column_stack([word_fires[w] for w in words]) if words else None
    groups = word_groups.used_together(x, word_groups.related_by_use(x))
    if embed is not None and len(words) > 2:
        groups += word_groups.close_groups(np.asarray(embed(words), dtype=float), cut_distances)
    # Substitutes, among the most frequent words (the clustering compares every two).
    frequent = sorted(range(len(words)), key=lambda i: -x[:, i].sum())[:_ALIKE_WORDS]
    alike = [[frequent[i] for i in g] for g in word_groups.alike_groups(
        texts, [words[i] for i in frequent], _ALIKE_CUTS, max_size=_WIDE)]
    one_place = {tuple(sorted(g)) for g in alike}
    groups = list(dict.fromkeys(tuple(sorted(g)) for g in groups + alike))
    out = []
    for group in (g for g in groups if len(g) <= _THEME_WORDS):
        fires = np.logical_or.reduce([word_fires[words[i]] for i in group])
        ranked = sorted(group, key=lambda i: -x[:, i].sum())
        out.append(Candidate("theme", words[ranked[0]], fires,
                             terms=tuple(words[i] for i in ranked)))
    return out, {tuple(words[i] for i in g): g in one_place for g in groups}


def chosen_on_halves(groups: dict[tuple, bool], contrast: Contrast,
                     word_fires: dict[str, np.ndarray], min_support: int, seed: int,
                     min_words: int = 3) -> list[Candidate]:
    """A label-blind group can mix words that lean both ways (a mood's adjectives stand where
    the gloomy ones stand), so the group does not lean as a whole and no one word passes alone.
    For each group of `min_words` or more and each way: the words that lean that way (t >= 1)
    on one half of the prompts become a theme, tested on the other half alone, one-sided (the
    choosing half fixed the way). Each half takes the choosing turn; the theme keeps the
    smaller p of the two times two (Bonferroni), a valid p-value whatever was chosen, since the
    half a theme is tested on took no part in choosing it. (A test on every text would count
    the choosing as evidence.) `groups`: words -> whether they stand in one place, which the
    theme remembers (`Candidate.place`) to be stated against the others of that place."""
    groups = {g: one_place for g, one_place in groups.items() if len(g) >= min_words}
    units = np.unique(contrast.units)
    if not groups or len(units) < 4:  # two units a half at least, to test anything
        return []
    words = sorted({w for g in groups for w in g})
    col = {w: i for i, w in enumerate(words)}
    x = np.column_stack([word_fires[w] for w in words])
    first = np.random.default_rng(seed).permutation(len(units)) < len(units) // 2
    halves = [np.isin(contrast.units, units[first]), np.isin(contrast.units, units[~first])]
    leans = [contrast.within(h).test_many(x[h])[1] for h in halves]
    options, of_group = [], []  # (terms by lean, way, half tested on); (group, way) of each
    for g in groups:
        for k in (0, 1):
            for way in (1, -1):
                terms = sorted((w for w in g if way * leans[k][col[w]] >= 1),
                               key=lambda w: -way * leans[k][col[w]])
                if len(terms) >= 2:
                    options.append((terms, way, 1 - k))
                    of_group.append((g, way))
    if not options:
        return []
    fires = np.column_stack([x[:, [col[w] for w in terms]].any(1) for terms, _, _ in options])
    p = np.ones(len(options))
    for k, h in enumerate(halves):
        on = [i for i, o in enumerate(options) if o[2] == k]
        if on:
            e, _, pk, _ = contrast.within(h).test_many(fires[h][:, on])
            # One-sided: the choosing half fixed the way.
            p[on] = np.where(np.sign(e) == [options[i][1] for i in on], pk / 2, 1.0)
    best: dict[tuple, int] = {}  # (group, way) -> its option with the smaller p
    for i, key in enumerate(of_group):
        if key not in best or p[i] < p[best[key]]:
            best[key] = i
    return _one_per_set(options, fires, p, best, groups, min_support)


def _one_per_set(options: list, fires: np.ndarray, p: np.ndarray, best: dict,
                 groups: dict[tuple, bool], min_support: int) -> list[Candidate]:
    """Each (group, way)'s better option as a candidate, one per set of words and way (groups
    overlap), its p times two (either half could have been the better one)."""
    out: dict[tuple, Candidate] = {}
    for (g, way), i in best.items():
        terms, f, p_two = options[i][0], fires[:, i], min(1.0, 2 * float(p[i]))
        key = (tuple(sorted(terms)), way)
        if min_support <= f.sum() <= len(f) - min_support and (
                key not in out or p_two < out[key].split_p):
            out[key] = Candidate("theme", terms[0], f, terms=tuple(terms), split_p=p_two,
                                 split_way=way, place=g if groups[g] else ())
    return list(out.values())


def passing(candidates: list[Candidate], contrast: Contrast, fdr: float
            ) -> tuple[list[Candidate], int]:
    """Every candidate tested (its figures set on it), Benjamini-Hochberg within each family:
    those under `fdr`, strongest first, and the number of units. No minimum effect: the
    held-out test decides what a modest difference is worth. Two families, fixed before any
    label is read: the style features (a few dozen thresholds) and the words, bigrams and
    word groups (thousands on long answers). One family for both would let the thousands of
    words bury a style habit the test plainly supports (a stock opener in 15% against 9% of
    answers: p = 6.5e-5, q = 0.14 among 4,925 candidates). Proposal is a screen either way:
    what it passes is tested again on held-out prompts, under the run's ledger."""
    effect, t, p, n_units = contrast.test_many(np.column_stack([c.fires for c in candidates]))
    split = [i for i, c in enumerate(candidates) if c.split_p is not None]
    # (The other half's test fixed a way: leaning the other way on every text, it holds nothing.)
    p[split] = [candidates[i].split_p if np.sign(effect[i]) == candidates[i].split_way else 1.0
                for i in split]
    q = np.empty(len(candidates))
    style = np.array([c.kind == "feature" for c in candidates])
    for family in (style, ~style):
        if family.any():
            q[family] = stats.benjamini_hochberg(p[family])
    kept = []
    for c, e, tt, pp, qq in zip(candidates, effect, t, p, q):
        c.effect, c.t, c.p, c.q = float(e), float(tt), float(pp), float(qq)
        if qq < fdr and e != 0:
            kept.append(c)
    kept.sort(key=lambda c: -abs(c.t))
    return kept, n_units


def sharpen_themes(kept: list[Candidate], contrast: Contrast,
                   word_fires: dict[str, np.ndarray]) -> None:
    """A word group is found without labels; each passing theme keeps the words that lean the
    group's way, strongest first (in place)."""
    for c in kept:
        if c.kind != "theme":
            continue
        _, w_t, _, _ = contrast.test_many(np.column_stack([word_fires[w] for w in c.terms]))
        # (t >= 1: a word that leans only by chance would blur the theme.)
        lean = [(t, w) for w, t in zip(c.terms, w_t) if t * np.sign(c.effect) >= 1]
        lean.sort(key=lambda x: -abs(x[0]))
        c.terms = tuple(w for _, w in lean) or c.terms
        c.name = c.terms[0]


def hold_to_own_texts(terms: list[str], favours_b: bool, contrast: Contrast,
                      word_fires: Optional[dict] = None, min_support: int = 5) -> list[str]:
    """A theme keeps a word only if the word carries the theme's difference on its own: on the
    texts without the theme's first word (its name), it leans the theme's way at one-sided
    p < OWN_TEXTS_ALPHA. Co-occurrence alone kept words that ride along with the theme's
    sentences and that the other model uses as often elsewhere ("sail" in a cat theme, from
    the cat sentences' harbours); a lean of t >= 1 let one chance word in six through. A word
    in fewer than `min_support` texts without the name (the cat sentence's "purred") cannot be
    tested there and goes: it adds next to nothing to what the theme fires on. (`word_fires`:
    which texts each word is in, where already known.)"""
    if len(terms) < 2:
        return terms
    known = word_fires or {}

    def fires_of(word: str) -> np.ndarray:
        if word in known:
            return known[word]
        return np.array([mentions(t, [word]) for t in contrast.texts])

    name = fires_of(terms[0])
    without = contrast.within(~name)
    kept = [terms[0]]
    for w in terms[1:]:
        fires = fires_of(w)[~name]
        if fires.sum() < min_support:  # nothing to test it on: it is not held to anything
            continue
        _, t, p = without.test(fires)
        if t * (1 if favours_b else -1) > 0 and p < 2 * OWN_TEXTS_ALPHA:
            kept.append(w)
    return kept


def gather_themes(kept: list[Candidate], contrast: Contrast, word_fires: dict[str, np.ndarray],
                  max_terms: int, fdr: float, alike: Optional[dict] = None
                  ) -> list[list[Candidate]]:
    """Greedy, strongest first: a word joins a theme of the same direction and kind (stop
    words only with stop words) when it goes with the theme's words — occurs with them (most
    of its texts on the favoured side carry the theme, or at least twice as often as the
    side's texts do), or stands where at least half of them stand (`alike`: word -> its
    substitutes, found without labels; the words of one mood rarely share a text) — and the
    theme tested with it is no weaker than without it. A word group that cannot join whole is
    tried word by word; the words left over stay a theme of their own."""
    is_b = contrast.is_b
    alike = alike or {}
    themes: list[tuple[list[Candidate], np.ndarray, float]] = []

    def stands_with(c: Candidate, words: set) -> bool:
        return any(2 * len(alike.get(w, set()) & words) >= len(words) for w in c.terms)

    def join(c: Candidate) -> bool:
        fav = is_b if c.effect > 0 else ~is_b
        for k, (members, fires, t) in enumerate(themes):
            lead = members[0]
            if (lead.effect > 0) != (c.effect > 0) or (lead.kind == "stop") != (c.kind == "stop"):
                continue
            words = {w for m in members for w in m.terms}
            if set(c.terms) <= words or (" " in c.name and words & set(c.name.split())):
                members.append(c)  # the theme's own words (or a bigram of one) add nothing
                return True
            if len(words) >= max_terms:
                continue
            own = c.fires & fav
            overlap = (own & fires).sum() / max(1, own.sum())
            base = (fires & fav).sum() / max(1, fav.sum())
            if not (overlap >= 0.8 or (overlap >= 0.2 and overlap >= 2 * base)
                    or stands_with(c, words)):
                continue
            union = fires | c.fires
            _, t_union, _ = contrast.test(union)
            if abs(t_union) >= abs(t) and np.sign(t_union) == np.sign(t):
                themes[k] = (members + [c], union, t_union)
                return True
        return False

    for c in kept:
        if join(c):
            continue
        if c.kind == "theme" and themes:
            rest = [w for w in c.terms if not join(Candidate(
                "term", w, word_fires[w], effect=c.effect, t=c.t, q=c.q, terms=(w,)))]
            if not rest:
                continue
            if len(rest) < len(c.terms):
                fires = np.logical_or.reduce([word_fires[w] for w in rest])
                e, t, p = contrast.test(fires)
                if e * np.sign(c.effect) <= 0 or p >= fdr:  # what is left must still hold
                    continue
                c = Candidate("theme", rest[0], fires, effect=e, t=t, p=p, q=c.q, terms=tuple(rest),
                              place=c.place)
        themes.append(([c], c.fires.copy(), c.t))
    return [members for members, _, _ in themes]


def chosen_threshold(options: list[Candidate]) -> Candidate:
    """Of one feature's passing thresholds (strongest first), the natural one — any at all for
    a count, the median otherwise — unless another beats it by more than having looked at
    several can explain: its p-value times the number of thresholds tested (Bonferroni) still
    under the natural one's. The largest |t| alone would follow noise ("bold > 10" over
    "bold > 0", which then replicates worse)."""
    best = options[0]
    natural = next((c for c in options if c.natural), None)
    if natural is None or best is natural or best.p * best.looks < natural.p:
        return best
    return natural


def feature_groups(kept: list[Candidate]) -> list[list[Candidate]]:
    """The chosen threshold of each style feature (`chosen_threshold`), then features that
    fire on the same texts in the same direction (words and sentences, for length) merged,
    the strongest leading."""
    by_name: dict[str, list[Candidate]] = {}
    for c in kept:  # strongest first
        by_name.setdefault(c.name, []).append(c)
    best = {name: chosen_threshold(options) for name, options in by_name.items()}
    groups: list[list[Candidate]] = []
    for c in sorted(best.values(), key=lambda c: -abs(c.t)):
        for g in groups:
            lead = g[0]
            a, b = lead.fires, c.fires
            if (lead.effect > 0) == (c.effect > 0) and (a & b).sum() >= 0.5 * max(1, (a | b).sum()):
                g.append(c)
                break
        else:
            groups.append([c])
    return groups
