"""How the offline assistant plays the probe game: it probes with the discovery prompts on which
its predicate's rate differed most between A and B (then with plain wrappings of them, once
those run out), and guesses by the likelihood of the hidden model's answers under each model's
rate on that prompt, as measured on the discovery texts.

Without a hypothesis (the control, which guesses the hypothesis arm's own rounds) it has nothing
to go on: it guesses by a seeded fair coin, with belief 0.5 (and, asked for a probe, gives the
discovery prompts in a seeded order)."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

# Wrappings that keep what a prompt asks: used only once the ranked prompts run out, so that a
# long game does not repeat a probe word for word.
VARIANTS = ("{p}", "{p} thanks .", "please , {p}")
PRIOR = 2.0  # pseudo-texts of the side's overall rate added to a prompt's own few texts
CLIP = 0.02  # no rate is taken as certain: one surprising answer must not decide a round


def coin(*key) -> bool:
    """A fair coin seeded by the key (stable across processes, unlike hash())."""
    return hashlib.sha256(":".join(map(str, key)).encode()).digest()[0] & 1 == 1


def ranked_probes(scores: np.ndarray, discovery: pd.DataFrame) -> list[tuple[str, float, float]]:
    """(prompt, rate under A, rate under B) for the discovery prompts that bring the difference
    out best: those where B's rate of B-like texts exceeds A's by at least half the largest such
    gap, largest first (a game asks the best prompts again, reworded, rather than going on to
    weak ones). `scores`: each discovery text's judge score (1 = B-like). A prompt's rates are
    shrunk towards the side's overall rate, as a prompt has only a few texts per side."""
    df = discovery.assign(score=scores)
    overall = df.groupby("side")["score"].mean()
    rows = []
    for (pid, prompt), g in df.groupby(["prompt_id", "prompt"], sort=True):
        rates = []
        for side in ("A", "B"):
            s = g.loc[g["side"] == side, "score"]
            rates.append((s.sum() + PRIOR * overall.get(side, 0.5)) / (len(s) + PRIOR))
        rows.append((rates[1] - rates[0], int(pid), prompt, rates[0], rates[1]))
    rows.sort(key=lambda r: (-r[0], r[1]))
    best = rows[0][0]
    strong = [r for r in rows if r[0] >= best / 2] if best > 0 else rows
    return [(prompt, a, b) for _, _, prompt, a, b in strong]


def probe_for(ranked: list[tuple[str, float, float]], index: int) -> tuple[str, float, float]:
    """The index-th probe of a hypothesis' games: the ranked prompts in order, then wrapped."""
    prompt, a, b = ranked[index % len(ranked)]
    variant = VARIANTS[(index // len(ranked)) % len(VARIANTS)]
    return variant.format(p=prompt), a, b


def belief_b(scores: list[float], rate_a: float, rate_b: float) -> float:
    """P(B answered | the answers' judge scores), from a fair prior and each answer scored
    independently at the prompt's rate under each model."""
    ra, rb = (min(1 - CLIP, max(CLIP, r)) for r in (rate_a, rate_b))
    llr = sum(s * math.log(rb / ra) + (1 - s) * math.log((1 - rb) / (1 - ra)) for s in scores)
    return 1 / (1 + math.exp(-llr))
