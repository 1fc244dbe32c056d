"""The offline assistant: honest, simple statistics, no key needed.

Proposes from yes/no features of texts (`offline_candidates`: words, stop words too, content
bigrams, word groups and style features above thresholds), each tested over prompts on the
discovery texts, with FDR control over all of them; words that go together become one theme.
Every hypothesis carries a JSON predicate (`predicates`), which is also how it judges texts and
how it edits held-out texts into counterfactual pairs for the generative test (`offline_pairs`)
and how it probes and guesses in the probe game (`offline_probe`)."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..hypotheses import stats
from ..hypotheses.types import Hypothesis, NoPairs
from . import offline_pairs, offline_probe, word_groups
from .base import Assistant
from ..hypotheses.chat_features import CHAT_UNITS
from .offline_candidates import (
    Candidate,
    Contrast,
    chosen_on_halves,
    feature_groups,
    find_candidates,
    gather_themes,
    hold_to_own_texts,
    passing,
    sharpen_themes,
)
from ..hypotheses.predicates import (FEATURE_WORDS, STYLE_FEATURES, b_scores, mentions,
                                     predicate_fires)


class OfflineAssistant(Assistant):
    """Proposes by testing every candidate feature on the discovery texts with the prompt as
    the unit (`stats.rate_difference_test`), Benjamini-Hochberg over all candidates; words
    skewed to the same model that occur together are merged into one theme, and style
    features that fire on the same texts into one. No minimum effect is asked of the
    discovery estimate: a modest difference that the test supports goes to the held-out test,
    which decides. A sparse feature that fires in a fifth of one model's texts and almost
    never in the other's passes: nothing asks for an AUC."""
    kind = "offline"
    judge_is_free = True

    def __init__(self, fdr: float = 0.05, min_support: int = 5, max_theme_terms: int = 8,
                 embed: Optional[Callable] = None,
                 cut_distances: tuple = (0.5, 0.6, 0.7), seed: int = 0,
                 min_similarity: float = 0.4):
        if not 0 < fdr <= 1:
            raise ValueError("fdr must lie in (0, 1]")
        self.fdr, self.min_support = fdr, min_support
        self.max_theme_terms, self.seed = max_theme_terms, seed
        # embed(list of words) -> unit vectors: words that sit close join a theme too.
        self.embed, self.cut_distances = embed, cut_distances
        # Words whose contexts are this alike stand in for each other (gather_themes).
        self.min_similarity = min_similarity

    # ---------------------------------------------------------------- propose
    def propose(self, texts_a, texts_b, source, max_hypotheses=5, prompts_a=None, prompts_b=None):
        if not texts_a or not texts_b:
            return []
        contrast = Contrast.of(texts_a, texts_b, prompts_a, prompts_b)
        candidates, word_fires, groups = find_candidates(contrast, self.min_support, self.embed,
                                                         self.cut_distances)
        candidates += chosen_on_halves(groups, contrast, word_fires, self.min_support, self.seed)
        if not candidates:
            return []
        kept, n_units = passing(candidates, contrast, self.fdr)
        sharpen_themes(kept, contrast, word_fires)
        worded = [c for c in kept if c.kind != "feature"]
        alike = word_groups.substitutes(contrast.texts, sorted({w for c in worded for w in c.terms
                                                                if " " not in w}),
                                        self.min_similarity)
        themes = gather_themes(worded, contrast, word_fires, self.max_theme_terms, self.fdr, alike)
        found = [self._theme_hypothesis(g, contrast, source, n_units, word_fires) for g in themes]
        found += [self._feature_hypothesis(g, contrast, source, n_units)
                  for g in feature_groups([c for c in kept if c.kind == "feature"])]
        found.sort(key=lambda h: -h.evidence["strength"])
        return _distinct(found)[:max_hypotheses]

    def _theme_hypothesis(self, members: list[Candidate], contrast: Contrast, source: str,
                          n_units: int, word_fires: dict) -> Hypothesis:
        lead, is_b = members[0], contrast.is_b
        direction = "B" if lead.effect > 0 else "A"
        # The predicate fires on any of the theme's words; its bigrams are only evidence.
        terms = list(dict.fromkeys(w for m in members for w in m.terms if " " not in w))
        terms = hold_to_own_texts(terms[:self.max_theme_terms] or [lead.name],
                                  direction == "B", contrast, word_fires, self.min_support)
        predicate = {"type": "mentions", "terms": terms, "favours": direction}
        fires = np.array([mentions(t, terms) for t in contrast.texts])
        effect, t, p = contrast.test(fires)
        over = _in_their_place(members, terms, direction == "B", contrast, word_fires)
        if over:  # a choice between words of one place: the theme's against the others
            chosen = {**predicate, "over": over}
            fires_over = np.array([predicate_fires(chosen, x) for x in contrast.texts])
            e_over, t_over, p_over = contrast.test(fires_over)
            if abs(t_over) > abs(t) and np.sign(t_over) == np.sign(t):
                predicate, fires, effect, t, p = chosen, fires_over, e_over, t_over, p_over
        fa, fb = fires[~is_b].mean(), fires[is_b].mean()
        more = "more" if direction == "B" else "less"
        verb = "uses the word" if lead.kind == "stop" else "mentions"
        if len(terms) == 1:
            named = f'{verb} "{terms[0]}"'
        else:
            named = (f'uses the words "{terms[0]}" and the like ({_listed(terms)})'
                     if lead.kind == "stop"
                     else f'mentions "{terms[0]}" and related words ({_listed(terms)})')
        if "over" in predicate:
            named += (f" at least as often as the words used in their place "
                      f"({_listed(predicate['over'])}),")
        # The claim alone: its discovery rates are in the evidence, the held-out ones are shown
        # beside it once tested (what the reader should weigh), and the source has its field.
        text = f"Model B {named} {more} often than Model A."
        return Hypothesis(text, direction, source, predicate,
                          {"rate_a": float(fa), "rate_b": float(fb), "effect": effect, "t": t,
                           "p": p, "q": lead.q,
                           "theme": list(dict.fromkeys(w for m in members for w in m.terms)),
                           "strength": abs(t), "n_prompts": int(n_units),
                           "n_a": int((~is_b).sum()), "n_b": int(is_b.sum())})

    @staticmethod
    def _feature_hypothesis(group: list[Candidate], contrast: Contrast, source: str,
                            n_units: int) -> Hypothesis:
        lead, is_b, texts = group[0], contrast.is_b, contrast.texts
        name, thr = lead.name, lead.threshold
        direction = "B" if lead.effect > 0 else "A"
        # The predicate describes B: "value > t" when B has more, "value <= t" when less.
        predicate = {"type": "feature", "feature": name, "op": ">" if direction == "B" else "<=",
                     "threshold": thr, "favours": "B"}
        values = np.array([STYLE_FEATURES[name](t) for t in texts])
        fires = np.array([predicate_fires(predicate, t) for t in texts])
        fa, fb = fires[~is_b].mean(), fires[is_b].mean()
        phrase = FEATURE_WORDS[name][0 if direction == "B" else 1]
        text = f"Model B {phrase} than Model A{_threshold_clause(name, thr, direction)}."
        return Hypothesis(text, "B", source, predicate,
                          {"rate_a": float(fa), "rate_b": float(fb), "effect": lead.effect,
                           "median_a": float(np.median(values[~is_b])),
                           "median_b": float(np.median(values[is_b])), "t": lead.t,
                           "p": lead.p, "q": lead.q, "strength": abs(lead.t),
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
        return [h for h, e, qq in zip(found, effect, q) if qq < self.fdr and e > 0]

    # ------------------------------------------------------------------ judge
    def judge_needs_placebo(self, hypothesis):
        return False  # the judge is the hypothesis' own predicate

    def judge(self, hypothesis, texts):
        pred = hypothesis.predicate
        if pred is None:
            raise ValueError("the offline assistant judges only hypotheses with a predicate")
        return b_scores(pred, texts)

    # -------------------------------------------------------------- probe game
    def _ranked(self, hypothesis, ctx):
        key = ("ranked", hypothesis.text)
        if key not in ctx.memo:
            scores = np.array(self.judge(hypothesis, ctx.discovery["text"].tolist()))
            ctx.memo[key] = offline_probe.ranked_probes(scores, ctx.discovery)
        return ctx.memo[key]

    def write_probe(self, hypothesis, history, ctx):
        index = ctx.game * ctx.rounds + ctx.round
        if hypothesis is None:  # the control: the discovery prompts in a seeded order
            prompts = sorted(set(ctx.discovery["prompt"]))
            np.random.default_rng(ctx.seed).shuffle(prompts)
            return prompts[index % len(prompts)]
        probe, rate_a, rate_b = offline_probe.probe_for(self._ranked(hypothesis, ctx), index)
        ctx.memo[("rates", hypothesis.text, probe)] = (rate_a, rate_b)
        return probe

    def guess(self, hypothesis, history, probe, answers, ctx):
        if hypothesis is None:
            return ("B" if offline_probe.coin(ctx.seed, ctx.game, ctx.round, probe) else "A"), 0.5
        rates = ctx.memo[("rates", hypothesis.text, probe)]  # set by write_probe for this probe
        p_b = offline_probe.belief_b(self.judge(hypothesis, answers), *rates)
        if p_b == 0.5:
            return ("B" if offline_probe.coin(ctx.seed, ctx.game, ctx.round, probe) else "A"), 0.5
        return ("B" if p_b > 0.5 else "A"), max(p_b, 1 - p_b)

    # ---------------------------------------------------------- write pairs
    def write_pairs(self, hypothesis, texts, prompts, examples_a, examples_b, n):
        """Counterfactual edits of held-out texts, so the two texts of a pair differ only in
        what the hypothesis names (`offline_pairs`); NoPairs for a hypothesis without a
        predicate or a behaviour no one word carries."""
        if hypothesis.predicate is None:
            raise NoPairs("the offline assistant writes pairs only for a hypothesis with a predicate")
        return offline_pairs.write_pairs(hypothesis.predicate, texts, prompts, examples_a,
                                         examples_b, n, self.seed)


def _listed(words: list[str]) -> str:
    return ", ".join(words[:6]) + (", ..." if len(words) > 6 else "")


def _in_their_place(members: list[Candidate], terms: list[str], favours_b: bool,
                    contrast: Contrast, word_fires: dict) -> list[str]:
    """The words that stand where a chosen theme's words stand and lean the other way (a
    mood's gloomy adjectives): the words of one place its words were chosen from
    (`chosen_on_halves`), less the theme's words and any word that does not lean against it
    on the discovery texts. Empty for a theme chosen from no such place."""
    group = list(dict.fromkeys(w for m in members for w in m.place
                               if w not in terms and w in word_fires))
    if not group:
        return []
    _, t, _, _ = contrast.test_many(np.column_stack([word_fires[w] for w in group]))
    way = 1 if favours_b else -1
    return [w for w, lean in zip(group, t) if way * lean < 0]


def _threshold_clause(name: str, thr: float, direction: str) -> str:
    """Where the predicate draws its line, in the feature's own units: part of the claim (it is
    what the judge checks), unlike any rate. "Any" (a count above 0) goes without saying."""
    unit = CHAT_UNITS.get(name, name)
    if thr == 1 and unit.endswith("s") and " " not in unit:  # "one question", not "1 questions"
        one = unit[:-3] + "y" if unit.endswith("ies") else unit[:-1]
        return (f" (texts with more than one {one})" if direction == "B"
                else f" (texts with one {one} or none)")
    if name == "repetition":
        return (f" (texts whose repetition is above {thr:.3g})" if direction == "B"
                else f" (texts whose repetition is {thr:.3g} or less)")
    if thr == 0:
        return "" if direction == "B" else f" (texts with no {unit})"
    return (f" (texts with more than {thr:.3g} {unit})" if direction == "B"
            else f" (texts with {thr:.3g} {unit} or fewer)")


def _distinct(found: list[Hypothesis]) -> list[Hypothesis]:
    """A weaker theme that shares a word with a stronger one of the same direction is the same
    claim cut another way: dropped (`found` strongest first)."""
    kept_terms: dict[str, set] = {"A": set(), "B": set()}
    out = []
    for h in found:
        if h.predicate["type"] == "mentions":
            terms = set(h.predicate["terms"])
            if terms & kept_terms[h.direction]:
                continue
            kept_terms[h.direction] |= terms
        out.append(h)
    return out
