"""What explains what: each validated hypothesis tested again within strata of each stronger
one. When B writes longer answers, "B uses the word 'with' more often" validates too — true,
and nothing but length. Held fixed on the length, it no longer differs: it is folded under
the length headline instead of standing as a finding of its own.

The conditional test, per pair (weaker h, stronger s), on the held-out texts both were judged
on: s's value is cut into strata (deciles of the feature it counts, or its distinct values
when few; a theme's texts without it, the one stratum); h's
score is centred on its mean within each stratum over both models' texts; the per-prompt
statistic is B's mean centred score minus A's, in h's direction, and its p-value is the
held-out tests' (`stats.prompt_level_p`). Where h differs only through s, the centred scores
of the two models agree within each stratum and the statistic is centred on zero."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats

N_STRATA = 10  # deciles of a counted feature: length's effect on word presence is smooth


def strata(values) -> np.ndarray:
    """Stratum of each text by a conditioning value: its distinct values when there are few
    (a yes/no predicate, a small count), else deciles of the pooled values."""
    v = np.asarray(values, dtype=float)
    distinct = np.unique(v[np.isfinite(v)])
    if len(distinct) <= N_STRATA:
        return np.searchsorted(distinct, v)
    edges = np.unique(np.quantile(v, np.linspace(0, 1, N_STRATA + 1)[1:-1]))
    return np.searchsorted(edges, v, side="right")


def condition_values(predicate, texts: list[str], scores) -> np.ndarray:
    """What a stronger hypothesis is held fixed by: the feature its predicate counts (the
    number of words, not "more than 57"), whether its predicate fires (its words
    mentioned, or mentioned at least as often as those it is against), or, with no predicate
    (an LLM's), its judge's scores."""
    from .predicates import STYLE_FEATURES, predicate_fires

    if not predicate:
        return np.asarray(scores, dtype=float)
    if predicate["type"] == "feature":
        return np.array([STYLE_FEATURES[predicate["feature"]](t) for t in texts], dtype=float)
    # A theme is held fixed at its absence: the texts that do not mention it (NaN: left out).
    # A topic takes room from the rest of an answer, so what differs only where B talks
    # about it ("less of everything else", the words of its own sentences) follows from it.
    return np.array([np.nan if predicate_fires(predicate, t) else 0.0 for t in texts])


def conditional_p(scores, given, sides, prompt_ids, seed: int = 0,
                  n_resamples: int = stats.RESAMPLES) -> dict:
    """Does `scores` (a hypothesis' "B-like" scores of texts) still separate B from A within
    strata of `given` (a stronger hypothesis' values on the same texts)? One-sided, in the B
    direction of `scores`; p from `stats.prompt_level_p` over prompts."""
    frame = pd.DataFrame({"y": np.asarray(scores, dtype=float),
                          "k": strata(given), "side": np.asarray(sides, dtype=object),
                          "prompt": np.asarray(prompt_ids)})
    frame = frame[np.isfinite(frame["y"]) & np.isfinite(np.asarray(given, dtype=float))]
    centred = frame["y"] - frame.groupby("k")["y"].transform("mean")
    rate_b, rate_a = stats.per_prompt_rates(centred.to_numpy(), frame["side"].to_numpy(),
                                            frame["prompt"].to_numpy())
    d = rate_b - rate_a
    return {"p_value": stats.prompt_level_p(d, n_resamples, seed),
            "effect": float(d.mean()) if len(d) else float("nan"), "n_prompts": int(len(d))}


def explain(findings: list[dict], alpha: float = 0.05, seed: int = 0) -> dict:
    """findings: the validated hypotheses, strongest held-out effect first, each {"id",
    "scores", "given" (its values to condition others on), "sides", "prompt_ids"} on the same
    texts in the same order. Returns id -> {"by": id of the first stronger headline that
    explains it (conditional p >= alpha), "p_value": that p} or {"by": None, "p_value": the
    largest conditional p over the stronger headlines}; the first finding is a headline."""
    out: dict = {}
    headlines: list[dict] = []
    for h in findings:
        largest = None
        for s in headlines:
            p = conditional_p(h["scores"], s["given"], h["sides"], h["prompt_ids"], seed)["p_value"]
            if not p < alpha:  # NaN (nothing left to compare) explains it too
                out[h["id"]] = {"by": s["id"], "p_value": p}
                break
            largest = p if largest is None else max(largest, p)
        else:
            headlines.append(h)
            out[h["id"]] = {"by": None, "p_value": largest}
    return out


def ordered_findings(hypotheses: list[dict]) -> list[dict]:
    """Result rows as a reader takes them: the validated headlines by held-out effect
    (`mean_score_diff`), each followed by what it explains (`explained_by`), then the rest
    by discriminative q."""
    def effect(h):
        return -((h["discriminative"] or {}).get("mean_score_diff") or 0.0)

    def q(h):
        value = (h["discriminative"] or {}).get("q_value")
        return 2.0 if value is None else value
    validated = [h for h in hypotheses if h["validated"]]
    out = []
    for head in sorted((h for h in validated if not h.get("explained_by")), key=effect):
        out.append(head)
        out += sorted((h for h in validated if h.get("explained_by") == head["id"]), key=effect)
    placed = {h["id"] for h in out}
    return out + sorted((h for h in hypotheses if h["id"] not in placed), key=q)
