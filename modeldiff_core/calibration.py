"""Simulated worlds for the held-out tests, built to break them: does each test reject a true
null at its level, and find a planted effect?

Each scenario draws one synthetic world per repetition: 40 prompts with 3-4 texts per side
(or one, "one text per prompt") that differ from each other, the held-out budget the pipeline
judges (240 texts) and, by scenario, a B effect that varies by prompt with mean zero
(symmetric, or skewed), a judge whose scores drift from call to call, a judge that reads a cue
no hypothesis names ("style cue"), donor sentences drawn mostly from B, B a flatter or sharper
copy of A ("tempered"), a guesser who reads style alone, or B's texts longer with the same
per-token activations. The *new* tests run through the production code on that world (the
chat assistant's call packing over a stub provider with the placebo, the offline assistant's
pair writer with placebo words, the probe summary, the feature table); the *old* ones are the
tests this project used before, kept here only to be compared against: "old" the text-level
tests (exact binomial on accuracy, unpaired Mann-Whitney on pairs built from both models'
donors, Fisher's exact test on pooled counts, a probe arm against 1/2, a latent's largest
activation per text), "old-prompt" the judge's prompt-level test against zero (no placebo),
"old-paired" the old pairs under the paired test, "unmatched" the pair writer before placebo
words (the term against a word its donor model puts in the slot).

`run_calibration` returns rows {test, scenario, method, reps, fpr, se, power}: a null
scenario reports its false-positive rate at alpha (with its binomial standard error), a
planted one its power."""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pandas as pd

from .params import default_of
from .stages.settings import HypothesisSettings
from .assistants.offline import OfflineAssistant
from .hypotheses.predicates import predicate_fires, sentences
from .hypotheses import stats
from .hypotheses.types import Hypothesis
from .hypotheses.validation import (PLACEBO_TEXT, discriminative, generative, generative_stats,
                                    heldout_texts, paired_heldout, spread_over_prompts)

N_PROMPTS = 40
JUDGE_BATCH = 10  # what the chat assistant packs into one call
# The held-out budget the pipeline judges by default: one A and one B text of each prompt.
MAX_JUDGE_TEXTS = 2 * default_of(HypothesisSettings, "max_judge_prompts")
NULLS = {"discriminative": ["identical", "heterogeneous", "skewed", "judge drift", "style cue",
                            "one text per prompt"],
         "generative": ["identical", "heterogeneous", "donors 50% B", "donors 70% B",
                        "donors 90% B", "tempered 5% flatter", "tempered 10% flatter",
                        "tempered 5% sharper", "one text per prompt"],
         "cluster": ["identical", "heterogeneous"],
         "probe": ["identical", "style only"],
         "features": ["identical", "B 1.25x as long", "B 1.5x as long", "B 2x as long"]}
PLANTED = "planted"


def _texts_per_prompt(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(3, 5, N_PROMPTS)  # 3 or 4 texts per side


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ------------------------------------------------------------------ discriminative

class _StubJudge:
    """A provider for the chat assistant. Each text has a probability of "written by B" that
    any judge reads (its prompt's base rate and, in "style cue", a cue in B's texts that no
    hypothesis names), plus the hypothesis' behaviour, which the judge sees only when told the
    hypothesis (never under the placebo). Every call adds noise of its own to each text
    (U(-0.05, 0.05)) and, for a judge in a mood, one drift shared by the call."""

    class client:
        provider = "stub"

    def __init__(self, seen: dict[str, float], named: dict[str, float], drift_sd: float,
                 rng: np.random.Generator):
        self.seen, self.named, self.drift_sd, self.rng = seen, named, drift_sd, rng

    def complete_json(self, system, messages, check=None, **kwargs):
        data = json.loads(messages[0]["content"].split("INPUT (JSON):\n", 1)[1])
        told = data["hypothesis"] != PLACEBO_TEXT
        return {"scores": [100 * float(v) for v in self.scores(data["texts"], told)]}

    def scores(self, texts: list[str], told: bool) -> np.ndarray:
        drift = self.rng.normal(0, self.drift_sd) if self.drift_sd else 0.0
        p = np.array([self.seen[t] + (self.named[t] if told else 0.0) for t in texts])
        return np.clip(p + self.rng.uniform(-0.05, 0.05, len(texts)) + drift, 0, 1)


STYLE_CUE_SHIFT = 0.15  # "style cue": B's texts look this much likelier B's to any judge


def _named_effect(rng: np.random.Generator, scenario: str) -> np.ndarray:
    """Per prompt, how much likelier B's texts look than A's to a judge told the hypothesis
    (probability units, |e| <= 0.45 so nothing is clipped). Null scenarios have mean zero:
    "heterogeneous" symmetric, "skewed" a common small effect for B against a rare large one
    for A (a sign flip assumes symmetry, which this breaks)."""
    if scenario == "heterogeneous":
        return rng.uniform(-0.4, 0.4, N_PROMPTS)
    if scenario == "skewed":  # mean 0.9 * 0.05 - 0.1 * 0.45 = 0; a one-sided test's bad tail
        return np.where(rng.random(N_PROMPTS) < 0.1, -0.45, 0.05)
    if scenario == PLANTED:
        return rng.uniform(0.0, 0.1, N_PROMPTS)
    return np.zeros(N_PROMPTS)


def _discriminative_world(rng: np.random.Generator, scenario: str):
    m = np.ones(N_PROMPTS, int) if scenario == "one text per prompt" else _texts_per_prompt(rng)
    base = rng.uniform(0.3, 0.7, N_PROMPTS)  # some prompts look B-like for both models
    effect = _named_effect(rng, scenario)
    cue = STYLE_CUE_SHIFT if scenario == "style cue" else 0.0
    rows = []
    for p in range(N_PROMPTS):
        for k in range(m[p]):
            for side, sign in (("A", -1), ("B", 1)):
                seen = base[p] + rng.uniform(-0.05, 0.05) + (cue if side == "B" else 0.0) - cue / 2
                rows.append((side, p, k, f"t{p}.{k}.{side}", seen, sign * effect[p] / 2))
    val = pd.DataFrame(rows, columns=["side", "prompt_id", "sample_idx", "text", "seen", "named"])
    return val, (0.1 if scenario == "judge drift" else 0.0)


def _discriminative_rep(rng: np.random.Generator, scenario: str,
                        seed: int) -> tuple[float, float, float]:
    from .assistants.chat import ChatAssistant

    val, drift = _discriminative_world(rng, scenario)
    h = Hypothesis("Model B does the thing.")
    stub = _StubJudge(dict(zip(val["text"], val["seen"])), dict(zip(val["text"], val["named"])),
                      drift, rng)
    # New: the held-out budget as the pipeline uses it, its call packing, the test against
    # the placebo.
    judged = heldout_texts(val, paired_heldout(val, MAX_JUDGE_TEXTS, seed), seed)
    new = discriminative(ChatAssistant(stub, judge_batch=JUDGE_BATCH), h, judged, seed,
                         n_resamples=999, n_boot=0)
    # Old: texts sorted by side, flat batches of ten (so all-A or all-B calls), binomial.
    flat = val.sort_values(["side", "prompt_id", "sample_idx"])
    scores = np.concatenate([stub.scores(flat["text"].iloc[i:i + JUDGE_BATCH].tolist(), True)
                             for i in range(0, len(flat), JUDGE_BATCH)])
    correct = int(((scores > 0.5) == (flat["side"].to_numpy() == "B")).sum())
    # Old-prompt: the test before the placebo, the same scores' per-prompt B - A sign-flipped.
    rate_b, rate_a = stats.per_prompt_rates(np.asarray(new["scores"]), judged["side"].to_numpy(),
                                            judged["prompt_id"].to_numpy())
    old_prompt = stats.sign_flip_p(rate_b - rate_a, 999, seed)
    return stats.binomial_test_p(correct, len(flat)), old_prompt, new["p_value"]


# ---------------------------------------------------------------------- generative

TERM = "zebra"
COMMON = ["dog", "horse", "fox", "cow", "goat", "duck", "bird", "mouse", "lamp", "boat"]
RARE = ["yak", "newt", "lynx", "ibis", "gnu", "okapi", "tapir", "quail", "egret", "heron"]
VERBS = ["sat", "slept", "ran", "waited", "stood"]
# A's distribution over each slot: common nouns 80% of the noun slot, rare ones (zebra among
# them) 20%; verbs alike. B = A at a temperature in the "tempered" scenarios.
SLOTS = {"noun": {**{w: 0.8 / len(COMMON) for w in COMMON},
                  **{w: 0.2 / (len(RARE) + 1) for w in RARE + [TERM]}},
         "verb": {w: 1 / len(VERBS) for w in VERBS}}
TEMPERATURE = {"tempered 5% flatter": 1.05, "tempered 10% flatter": 1.10,
               "tempered 5% sharper": 1 / 1.05}


@dataclass
class _Words:
    """Log-probs of every word of the world under A and under B. Each sentence opens with a
    word of its writer's own (log p_B - log p_A: the writer's self-preference plus noise),
    then "the NOUN VERB ." with the noun and verb drawn from the writer's slot distribution.
    B's slots are A's at temperature T (log p_B = log p_A / T - log Z); a text is scored by
    summing over its words (a unigram model: what precedes a word does not change it)."""
    lp: dict  # side -> word -> log-prob
    counter: int = 0
    cdf: dict = field(default_factory=dict)  # (side, slot) -> (words, cumulative p)

    @classmethod
    def at(cls, temperature: float) -> "_Words":
        lp = {"A": {}, "B": {}}
        for dist in SLOTS.values():
            words, p = list(dist), np.array(list(dist.values()))
            tempered = p ** (1 / temperature)
            lp["A"].update(zip(words, np.log(p)))
            lp["B"].update(zip(words, np.log(tempered / tempered.sum())))
        return cls(lp)

    def draw(self, rng: np.random.Generator, side: str, slot: str) -> str:
        if (side, slot) not in self.cdf:
            words = list(SLOTS[slot])
            p = np.exp([self.lp[side][w] for w in words])
            self.cdf[side, slot] = (words, np.cumsum(p / p.sum()))
        words, cdf = self.cdf[side, slot]
        return words[min(int(np.searchsorted(cdf, rng.random())), len(words) - 1)]

    def make(self, rng: np.random.Generator, side: str, value: float,
             carry: Optional[bool] = None) -> str:
        self.counter += 1
        uid = f"w{self.counter}"
        self.lp["A"][uid], self.lp["B"][uid] = 0.0, value
        noun = self.draw(rng, side, "noun")
        if carry is not None:  # the donors scenarios set who carries zebras, by hand
            noun = TERM if carry else self.draw(rng, side, "noun").replace(TERM, COMMON[0])
        return f"{uid} the {noun} {self.draw(rng, side, 'verb')} ."


class _WorldScorer:
    """One model of the world as a scorer: summed word log-probs, plus B's effect of zebras on
    the prompt and scoring noise (N(0, 0.2) per text)."""

    def __init__(self, world: _Words, side: str, zebra: np.ndarray, rng: np.random.Generator):
        self.world, self.side, self.zebra, self.rng = world, side, zebra, rng

    def score(self, text: str, prompt: str) -> float:
        words = text.split()
        lp = self.world.lp[self.side]
        effect = self.zebra[int(prompt.split()[1])] * words.count(TERM) if self.side == "B" else 0
        return float(sum(lp.get(w, 0.0) for w in words) + effect + self.rng.normal(0, 0.2))

    def sum_logprobs(self, texts, prompts, use_chat_template: bool = True, end: bool = True):
        return np.array([self.score(t, q) for t, q in zip(texts, prompts)])


def _generative_world(rng: np.random.Generator, scenario: str):
    """Held-out texts (both sides, paired by prompt), each side's discovery texts and a scorer
    per side; the hypothesis "B mentions zebras" has no effect on likelihood in a null
    scenario (under tempering B does write zebras more often: a rare word's share grows)."""
    donors = scenario.startswith("donors")
    world = _Words.at(TEMPERATURE.get(scenario, 1.0))
    self_pref = 1.0 if donors else 0.0
    share_b = float(scenario.split()[1].rstrip("%")) / 100 if donors else 0.5
    carry_rate = {"A": 0.4 * (1 - share_b), "B": 0.4 * share_b}  # B's share of zebra donors
    zebra = {"identical": np.zeros(N_PROMPTS), "heterogeneous": rng.normal(0, 1.0, N_PROMPTS),
             PLANTED: rng.normal(0.5, 0.3, N_PROMPTS)}.get(scenario, np.zeros(N_PROMPTS))
    shift = rng.normal(0, 1.0, N_PROMPTS)  # prompts differ in how much B likes them overall

    def origin(side):
        return self_pref if side == "B" else -self_pref

    examples = {side: [" ".join(world.make(rng, side, origin(side) + rng.normal(0, 0.3),
                                           (rng.random() < carry_rate[side]) if donors else None)
                                for _ in range(4)) for _ in range(150)] for side in "AB"}
    rows = []
    m = np.ones(N_PROMPTS, int) if scenario == "one text per prompt" else _texts_per_prompt(rng)
    for p in range(N_PROMPTS):
        for k in range(m[p]):
            for side in "AB":
                sents = [world.make(rng, side, shift[p] / 4 + origin(side) + rng.normal(0, 0.3))
                         for _ in range(int(rng.integers(3, 6)))]
                rows.append((side, p, k, " ".join(sents), f"prompt {p}"))
    val = pd.DataFrame(rows, columns=["side", "prompt_id", "sample_idx", "text", "prompt"])
    return val, examples, {side: _WorldScorer(world, side, zebra, rng) for side in "AB"}


def _old_pairs(pred: dict, texts: list[str], prompts: list[str], donors_from: list[str],
               n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """The pair writer this project had: donors from both models' discovery texts, the
    contrast the text with the behaviour's sentences removed."""
    donors = [s for e in donors_from for s in sentences(e) if TERM in s]
    out = []
    for text, prompt in zip(texts, prompts):
        sents = sentences(text)
        less = " ".join(s for s in sents if TERM not in s) or None
        grown = list(sents)
        for _ in range(6):
            if predicate_fires(pred, " ".join(grown)) or not donors:
                break
            grown.insert(rng.randrange(len(grown) + 1), rng.choice(donors))
        more = " ".join(grown)
        if less is None or not predicate_fires(pred, more) or predicate_fires(pred, less):
            continue
        out.append((more, less, prompt))
        if len(out) >= n:
            break
    return out


def _generative_rep(rng: np.random.Generator, scenario: str, seed: int,
                    n_pairs: int = 60) -> tuple[float, float, float, float]:
    from .assistants import offline_pairs

    val, examples, scorers = _generative_world(rng, scenario)
    pred = {"type": "mentions", "terms": [TERM], "favours": "B"}
    h = Hypothesis(f'Model B mentions "{TERM}" more often.', "B", "corpus", pred)
    # New: the pipeline's held-out budget and layout, the offline pair writer with placebo
    # words of the term's frequency, the matched test.
    judged = heldout_texts(val, paired_heldout(val, MAX_JUDGE_TEXTS, seed), seed)
    held = spread_over_prompts(judged)
    texts, prompts = held["text"].tolist(), held["prompt"].tolist()
    pairs = OfflineAssistant(seed=seed).write_pairs(h, texts, prompts, examples["A"],
                                                    examples["B"], n_pairs)
    new = generative(pairs, scorers["A"], scorers["B"], seed=seed, n_resamples=999)
    # Unmatched: the writer before placebos (the term against a word its donor model puts in
    # that slot), whole texts, favoured against contrast, the same prompt-level test.
    unmatched = offline_pairs.write_pairs(pred, texts, prompts, examples["A"], examples["B"],
                                          n_pairs, seed, matched=False)
    p_unmatched = generative(unmatched, scorers["A"], scorers["B"], seed=seed,
                             n_resamples=999)["p_value"]
    # Old: all held-out texts shuffled, donors from both sides, unpaired Mann-Whitney.
    shuffled = val.sample(frac=1.0, random_state=seed)
    old = _old_pairs(pred, shuffled["text"].tolist(), shuffled["prompt"].tolist(),
                     examples["A"] + examples["B"], n_pairs, random.Random(seed))
    if not old:
        return math.nan, math.nan, p_unmatched, new["p_value"]
    score = {side: [scorers[side].score(t, q) for pair in old for t, q in
                    ((pair[0], pair[2]), (pair[1], pair[2]))] for side in "AB"}
    diff = np.array(score["B"]) - np.array(score["A"])
    old_fav, old_con = diff[0::2], diff[1::2]
    _, p_old = stats.auc_mann_whitney(old_fav, old_con)
    # The old pairs under the paired test: what is left is the donors' bias alone.
    p_old_paired = generative_stats(old_fav, old_con, [q for *_, q in old], seed,
                                    n_resamples=999)["p_value"]
    return p_old, p_old_paired, p_unmatched, new["p_value"]


# ------------------------------------------------------------------------- cluster

def _cluster_rep(rng: np.random.Generator, scenario: str, seed: int) -> tuple[float, float]:
    m = _texts_per_prompt(rng)
    base = rng.beta(2, 2, N_PROMPTS)  # how much of each prompt's texts fall in the cluster
    effect = {"identical": np.zeros(N_PROMPTS), "heterogeneous": rng.normal(0, 2.5, N_PROMPTS),
              PLANTED: rng.normal(1.0, 0.5, N_PROMPTS)}[scenario]
    logit = np.log(np.clip(base, 1e-3, 1 - 1e-3) / np.clip(1 - base, 1e-3, 1))
    labels, sides, prompts = [], [], []
    for p in range(N_PROMPTS):
        for side, sign in (("A", -1), ("B", 1)):
            inside = rng.random(m[p]) < _sigmoid(logit[p] + sign * effect[p] / 2)
            labels += inside.astype(int).tolist()
            sides += [side] * m[p]
            prompts += [p] * m[p]
    table = stats.cluster_table(labels, sides, prompts, n_resamples=999, seed=seed)
    row = table[table["cluster_id"] == 1]
    if row.empty:
        return 1.0, 1.0
    return float(row["fisher_p"].iloc[0]), float(row["p_value"].iloc[0])


# --------------------------------------------------------------------------- probe

PROBE_ROUNDS, PROBE_GAMES = 12, 3  # the CLI's default game
STYLE_CUE = 0.3  # share of rounds whose answers give B away by style alone, to either arm
HYPOTHESIS_CUE = 0.5  # planted: share of the other rounds where the hypothesis names what shows


def _probe_rep(rng: np.random.Generator, scenario: str, seed: int) -> tuple[float, float]:
    """One probe game of the CLI's size, through `summarise`. Each round's hidden model is a
    fair coin. "style only": in STYLE_CUE of the rounds B's answers carry a style cue that any
    guesser reads, with or without the hypothesis (a guesser shown labelled examples); in the
    rest each arm guesses by a coin of its own — both arms right 65% of the time, the
    hypothesis adding nothing. "planted": the hypothesis arm also reads the hypothesis'
    behaviour in HYPOTHESIS_CUE of the rounds without a cue. Old: the arm against 1/2; new:
    the arm against the control on the same rounds."""
    from .methods.probe.summary import summarise
    from .hypotheses.types import ProbeRound

    cue = STYLE_CUE if scenario != "identical" else 0.0
    told = HYPOTHESIS_CUE if scenario == PLANTED else 0.0
    arms: dict[str, list] = {"hypothesis": [], "control": []}
    for g in range(PROBE_GAMES):
        for r in range(PROBE_ROUNDS):
            hidden = "B" if rng.random() < 0.5 else "A"
            seen = rng.random() < cue  # the answers give it away, to both arms
            shown = rng.random() < told
            for arm, knows in (("hypothesis", shown), ("control", False)):
                right = seen or knows or rng.random() < 0.5
                guess = hidden if right else ("A" if hidden == "B" else "B")
                arms[arm].append(ProbeRound(g, r, f"probe {g}.{r}", hidden, [f"answer {g}.{r}"],
                                            guess, 0.5))
    (h,) = summarise([{"hypothesis_id": "h1", "text": "", "rounds": arms["hypothesis"],
                       "control_rounds": arms["control"]}], 0.05)
    return h["p_vs_chance"], h["p_value"]


# ------------------------------------------------------------------------ features

FEATURE_LATENTS = 5


def _features_rep(rng: np.random.Generator, scenario: str, seed: int) -> tuple[float, float]:
    """One feature table through `feature_table`: 40 prompts, two texts per side, sparse
    per-token activations alike for both models; "B 1.5x as long" etc.: B's texts that much
    longer; planted: latent 0 fires more on B's tokens. Old: a text's value is its largest
    activation; new: its mean per token. Returns latent 0's p-values."""
    from .methods.features.table import feature_table

    scale = float(scenario.split()[1].rstrip("x")) if scenario.startswith("B ") else 1.0
    rise = 0.3 if scenario == PLANTED else 0.0
    peak, mean, sides, prompts = [], [], [], []
    for p in range(N_PROMPTS):
        base = int(rng.integers(15, 40))
        for side in "AB":
            for _ in range(2):
                length = int(round(base * (scale if side == "B" else 1.0)))
                code = np.maximum(0, rng.normal(-1.0, 1.0, (length, FEATURE_LATENTS)))
                if side == "B":
                    code[:, 0] += rise * (code[:, 0] > 0)
                peak.append(code.max(0))
                mean.append(code.mean(0))
                sides.append(side)
                prompts.append(p)
    out = []
    for values in (peak, mean):
        table = feature_table(np.array(values), sides, prompts, seed=seed)
        out.append(float(table.loc[table["latent"] == 0, "p_value"].iloc[0]))
    return out[0], out[1]


REPS: dict[str, Callable] = {"discriminative": _discriminative_rep,
                             "generative": _generative_rep, "cluster": _cluster_rep,
                             "probe": _probe_rep, "features": _features_rep}
# The p-values each repetition returns, in order. "old-paired": the old generative pairs
# (donors from both models) under the new paired test, to show the donors' bias on its own.
METHODS = {"discriminative": ("old", "old-prompt", "new"),
           "generative": ("old", "old-paired", "unmatched", "new"),
           "cluster": ("old", "new"), "probe": ("old", "new"), "features": ("old", "new")}


def simulate(test: str, scenario: str, reps: int, seed: int = 0) -> np.ndarray:
    """(reps, methods) p-values, in the order of METHODS[test], on the same worlds."""
    rng = np.random.default_rng([seed, list(REPS).index(test), hash_scenario(scenario)])
    return np.array([REPS[test](rng, scenario, seed + r) for r in range(reps)], dtype=float)


def hash_scenario(scenario: str) -> int:
    return sum(ord(c) * (i + 1) for i, c in enumerate(scenario))


def rejection_rate(p: np.ndarray, alpha: float = 0.05) -> tuple[float, float, int]:
    """(rate of p < alpha, its binomial standard error, reps); a NaN p (no test possible)
    counts as no rejection."""
    reject = np.nan_to_num(p, nan=1.0) < alpha
    rate = float(reject.mean())
    return rate, math.sqrt(rate * (1 - rate) / len(p)), len(p)


SE_NEAR_BOUND = 0.004  # a null's rate near the level is measured to this standard error


def decided(p: np.ndarray, alpha: float) -> bool:
    """Whether a null's rejection rate settles its verdict: far from alpha (3 SE), or
    measured to SE_NEAR_BOUND."""
    rate, se, _ = rejection_rate(p, alpha)
    return se <= SE_NEAR_BOUND or abs(rate - alpha) > 3 * se


def run_calibration(reps: int = 1000, seed: int = 0, alpha: float = 0.05,
                    tests: Optional[list[str]] = None,
                    progress: Optional[Callable[[str], None]] = None,
                    max_reps: int = 0) -> list[dict]:
    """Rows {test, scenario, method, reps, fpr, se, power}. With `max_reps` > reps, a null
    scenario whose new test's rate is not yet decided (`decided`) gets more repetitions, in
    batches of `reps` on fresh worlds, up to max_reps."""
    rows = []
    for test in tests or list(REPS):
        new_col = METHODS[test].index("new")
        for scenario in [*NULLS[test], PLANTED]:
            if progress:
                progress(f"{test} / {scenario}")
            p = simulate(test, scenario, reps, seed)
            batch = 1
            while (scenario != PLANTED and len(p) + reps <= max_reps
                   and not decided(p[:, new_col], alpha)):
                if progress:
                    progress(f"{test} / {scenario}: {len(p)} repetitions, more to decide")
                p = np.vstack([p, simulate(test, scenario, reps, seed + 100_000 * batch)])
                batch += 1
            for col, method in enumerate(METHODS[test]):
                rate, se, n = rejection_rate(p[:, col], alpha)
                null = scenario != PLANTED
                rows.append({"test": test, "scenario": scenario, "method": method, "reps": n,
                             "fpr": rate if null else None, "se": se,
                             "power": None if null else rate})
    return rows
