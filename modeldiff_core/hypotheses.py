"""Proposing hypotheses from discovery-split texts only: a whole-corpus contrast and the most
B-skewed and A-skewed clusters; near-duplicates merged."""
from __future__ import annotations

import re

import pandas as pd

from .assistants.base import Assistant, Hypothesis
from .stats import NOISE


def _words(text: str) -> set[str]:
    # Figures in parentheses differ between sources that state the same thing.
    return set(re.findall(r"[a-z]+", re.sub(r"\(.*?\)", "", text.lower())))


def _predicate_key(h: Hypothesis):
    p = h.predicate
    if not p:
        return None
    if p["type"] == "mentions":
        return ("mentions", frozenset(p["terms"]), p.get("favours"))
    return ("feature", p["feature"], p["op"])


def same_claim(h1: Hypothesis, h2: Hypothesis, text_jaccard: float = 0.8) -> bool:
    k1, k2 = _predicate_key(h1), _predicate_key(h2)
    if k1 is not None and k2 is not None:
        if k1[0] == "mentions" and k2[0] == "mentions":
            return k1[2] == k2[2] and bool(k1[1] & k2[1])
        return k1 == k2
    w1, w2 = _words(h1.text), _words(h2.text)
    return len(w1 & w2) / max(1, len(w1 | w2)) >= text_jaccard


def merge_duplicates(hypotheses: list[Hypothesis]) -> list[Hypothesis]:
    """Keep the first of each group of hypotheses that make the same claim; the kept one lists
    every source that proposed it."""
    kept: list[Hypothesis] = []
    for h in hypotheses:
        twin = next((k for k in kept if same_claim(k, h)), None)
        if twin is None:
            kept.append(h)
        elif h.source not in twin.source.split(", "):
            twin.source = f"{twin.source}, {h.source}"
    return kept


def propose_hypotheses(assistant: Assistant, points: pd.DataFrame, clusters: pd.DataFrame,
                       alpha: float = 0.05, max_clusters: int = 3, per_source: int = 4,
                       max_total: int = 12) -> list[Hypothesis]:
    """points: one row per text with side, split, cluster_id, text; clusters: the table of
    `pipeline.cluster_tables` (its `disc_*` columns). Uses discovery texts only."""
    disc = points[points["split"] == "discovery"]
    a_all = disc.loc[disc["side"] == "A", "text"].tolist()
    b_all = disc.loc[disc["side"] == "B", "text"].tolist()
    found = assistant.propose(a_all, b_all, "corpus", per_source)
    # Which clusters to mine is decided by the discovery-only table: validation texts never
    # steer proposal. Noise (-1) is not a cluster and is never mined.
    tested = clusters[clusters["cluster_id"] != NOISE]
    significant = tested[tested["disc_q_value"] < alpha]
    b_skewed = significant[significant["disc_log_odds"] > 0].sort_values("disc_log_odds",
                                                                        ascending=False)
    a_skewed = significant[significant["disc_log_odds"] < 0].sort_values("disc_log_odds")
    for row in b_skewed.head(max_clusters).itertuples():
        in_b = disc[(disc["cluster_id"] == row.cluster_id) & (disc["side"] == "B")]["text"].tolist()
        # What marks the B texts of a B-heavy region, against everything A wrote.
        found += assistant.propose(a_all, in_b, f"cluster {row.cluster_id}", per_source)
    for row in a_skewed.head(max_clusters).itertuples():
        in_a = disc[(disc["cluster_id"] == row.cluster_id) & (disc["side"] == "A")]["text"].tolist()
        found += assistant.propose(in_a, b_all, f"cluster {row.cluster_id}", per_source)
    return merge_duplicates(found)[:max_total]
