"""The offline assistant: honest, simple statistics, no key needed.

Proposes from contrastive n-gram log-odds with an informative Dirichlet prior (Monroe, Colaresi
& Quinn 2008) and from style features (length, sentences, questions, exclamations, digits,
repetition). Every hypothesis carries a JSON predicate, which is also how it judges texts and
how it edits held-out texts into counterfactual pairs for the generative test."""
from __future__ import annotations

import math
import random
import re
from collections import Counter
from typing import Callable, Optional

import numpy as np

from .base import Assistant, GeneratedPair, Hypothesis

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


def _terms(text: str) -> set[str]:
    """Content unigrams and bigrams a text contains (no stop words, no punctuation)."""
    words = [t for t in tokens(text) if t[0].isalnum()]
    uni = {w for w in words if w not in STOPWORDS and len(w) > 1}
    bi = {f"{a} {b}" for a, b in zip(words, words[1:])
          if a not in STOPWORDS and b not in STOPWORDS}
    return uni | bi


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


def log_odds_z(counts_a: Counter, counts_b: Counter, prior_strength: float = 500.0) -> dict[str, float]:
    """z-scores of the log-odds ratio B vs A per term, with an informative Dirichlet prior from
    the pooled counts (Monroe et al. 2008, eq. 16-22). Positive: more typical of B."""
    pooled = counts_a + counts_b
    total = sum(pooled.values())
    n_a, n_b = sum(counts_a.values()), sum(counts_b.values())
    out = {}
    for term, c in pooled.items():
        alpha = prior_strength * c / total
        ya, yb = counts_a.get(term, 0), counts_b.get(term, 0)
        delta = (math.log((yb + alpha) / (n_b + prior_strength - yb - alpha))
                 - math.log((ya + alpha) / (n_a + prior_strength - ya - alpha)))
        out[term] = delta / math.sqrt(1 / (yb + alpha) + 1 / (ya + alpha))
    return out


def _best_threshold(values_fav: np.ndarray, values_other: np.ndarray) -> float:
    """Threshold t for the rule "value > t means favoured", maximising balanced accuracy."""
    candidates = np.unique(np.concatenate([values_fav, values_other]))
    best, best_t = -1.0, float(candidates[0])
    for t in candidates:
        acc = ((values_fav > t).mean() + (values_other <= t).mean()) / 2
        if acc > best:
            best, best_t = acc, float(t)
    return best_t


def _compared(source: str) -> str:
    return "sampled texts" if source == "corpus" else f"the texts compared from {source}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


class OfflineAssistant(Assistant):
    kind = "offline"

    def __init__(self, z_min: float = 4.0, min_rate_gap: float = 0.1, min_auc_gap: float = 0.15,
                 feature_p_max: float = 1e-3, seed: int = 0):
        self.z_min, self.min_rate_gap = z_min, min_rate_gap
        self.min_auc_gap, self.feature_p_max, self.seed = min_auc_gap, feature_p_max, seed

    # ---------------------------------------------------------------- propose
    def propose(self, texts_a, texts_b, source, max_hypotheses=5):
        if not texts_a or not texts_b:
            return []
        found = self._term_hypotheses(texts_a, texts_b, source) + \
            self._feature_hypotheses(texts_a, texts_b, source)
        found.sort(key=lambda h: -abs(h.evidence["strength"]))
        return found[:max_hypotheses]

    def _term_hypotheses(self, texts_a, texts_b, source) -> list[Hypothesis]:
        docs_a, docs_b = [_terms(t) for t in texts_a], [_terms(t) for t in texts_b]
        df_a, df_b = Counter(), Counter()
        for d in docs_a:
            df_a.update(d)
        for d in docs_b:
            df_b.update(d)
        z = log_odds_z(df_a, df_b)
        rate = {t: (df_a.get(t, 0) / len(docs_a), df_b.get(t, 0) / len(docs_b)) for t in z}
        picked = [t for t in sorted(z, key=lambda t: -abs(z[t]))
                  if abs(z[t]) >= self.z_min and abs(rate[t][1] - rate[t][0]) >= self.min_rate_gap]
        # Terms that fire on nearly the same texts say one thing: merge them.
        groups: list[list[str]] = []
        for term in picked:
            hits = {i for i, d in enumerate(docs_a + docs_b) if term in d}
            for g in groups:
                g_hits = {i for i, d in enumerate(docs_a + docs_b) if g[0] in d}
                same_side = (z[g[0]] > 0) == (z[term] > 0)
                if same_side and len(hits & g_hits) / max(1, len(hits | g_hits)) >= 0.6:
                    g.append(term)
                    break
            else:
                groups.append([term])
        out = []
        for g in groups[:8]:
            lead = g[0]
            direction = "B" if z[lead] > 0 else "A"
            terms = [t for t in g if " " not in t][:3] or g[:1]
            fa = np.mean([_mentions(t, terms) for t in texts_a])
            fb = np.mean([_mentions(t, terms) for t in texts_b])
            quoted = " or ".join(f'"{t}"' for t in terms)
            more = "more" if direction == "B" else "less"
            text = (f"Model B mentions {quoted} {more} often than Model A "
                    f"(in {_pct(fb)} vs {_pct(fa)} of {_compared(source)}).")
            out.append(Hypothesis(text, direction, source,
                                  {"type": "mentions", "terms": terms, "favours": direction},
                                  {"rate_a": float(fa), "rate_b": float(fb), "z": float(z[lead]),
                                   "strength": float(z[lead]), "n_a": len(texts_a),
                                   "n_b": len(texts_b)}))
        return out

    def _feature_hypotheses(self, texts_a, texts_b, source) -> list[Hypothesis]:
        from scipy.stats import mannwhitneyu

        out = []
        for name, fn in STYLE_FEATURES.items():
            va = np.array([fn(t) for t in texts_a])
            vb = np.array([fn(t) for t in texts_b])
            if np.all(va == va[0]) and np.all(vb == va[0]):
                continue
            u, p = mannwhitneyu(vb, va, alternative="two-sided")
            auc = u / (len(va) * len(vb))
            if abs(auc - 0.5) < self.min_auc_gap or p > self.feature_p_max:
                continue
            direction = "B" if auc > 0.5 else "A"
            fav, other = (vb, va) if direction == "B" else (va, vb)
            t = _best_threshold(fav, other)
            # The predicate describes B: "value > t" when B has more, "value <= t" when less.
            predicate = {"type": "feature", "feature": name, "op": ">" if direction == "B" else "<=",
                         "threshold": t, "favours": "B"}
            fb = np.mean([predicate_fires(predicate, x) for x in texts_b])
            fa = np.mean([predicate_fires(predicate, x) for x in texts_a])
            phrase = _FEATURE_WORDS[name][0 if direction == "B" else 1]
            text = (f"Model B {phrase} than Model A (median {np.median(vb):.3g} vs "
                    f"{np.median(va):.3g} {name}; {_pct(fb)} vs {_pct(fa)} of "
                    f"{_compared(source)} {'above' if direction == 'B' else 'at or below'} {t:.3g}).")
            out.append(Hypothesis(text, "B", source, predicate,
                                  {"rate_a": float(fa), "rate_b": float(fb), "auc": float(auc),
                                   "p": float(p), "strength": float(abs(auc - 0.5) * 20),
                                   "n_a": len(texts_a), "n_b": len(texts_b)}))
        return out

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
