"""Proposing hypotheses from discovery-split texts only: a whole-corpus contrast and the most
B-skewed and A-skewed clusters, near-duplicates merged, then rounds of refinement on the
discovery texts the hypotheses misjudge."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from ..assistants.base import Assistant, Judge, Proposer
from ..llm import AssistantAnswerError
from ..progress import ProgressCallback, StageProgress
from ..hypotheses.stats import NOISE
from ..hypotheses.types import Hypothesis
from ..hypotheses.validation import heldout_texts, paired_heldout


def _words(text: str) -> set[str]:
    # Figures in parentheses differ between sources that state the same thing.
    return set(re.findall(r"[a-z]+", re.sub(r"\(.*?\)", "", text.lower())))


def _predicate_key(h: Hypothesis):
    p = h.predicate
    if not p:
        return None
    if p["type"] == "mentions":
        return ("mentions", frozenset(p["terms"]), p.get("favours"))
    if p["type"] == "matches":
        return ("matches", p["pattern"], p.get("favours"))
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


@dataclass(frozen=True)
class ProposalSettings:
    """How hypotheses are proposed from the discovery texts."""
    alpha: float = 0.05  # a cluster is mined when its discovery q-value is below this
    max_clusters: int = 3  # the most skewed clusters mined, each way
    per_source: int = 4  # hypotheses asked of each source (the corpus, a cluster, a round)
    max_total: int = 12
    rounds: int = 2  # rounds of refinement
    refine_texts: int = 240  # discovery texts judged for each round, paired by prompt
    seed: int = 0


def propose_hypotheses(assistant: Assistant, points: pd.DataFrame, clusters: pd.DataFrame,
                       settings: ProposalSettings = ProposalSettings(),
                       progress: Optional[ProgressCallback] = None) -> list[Hypothesis]:
    """points: one row per text with side, split, prompt_id, sample_idx, cluster_id, text;
    clusters: the table of `stages.cluster.cluster_tables` (its `disc_*` columns). Uses discovery
    texts only: a first proposal, then up to `settings.rounds` of refinement on the discovery
    texts the hypotheses misjudge."""
    disc = points[points["split"] == "discovery"]
    bar = StageProgress(progress, "propose", 1 + settings.rounds, unit="rounds")
    found = merge_duplicates(_first_proposal(assistant, disc, clusters, settings))
    found = found[:settings.max_total]
    bar.advance(1)
    sample = heldout_texts(disc, paired_heldout(disc, settings.refine_texts, settings.seed),
                           settings.seed)
    scores: dict[str, Optional[np.ndarray]] = {}  # a hypothesis is judged once for all rounds
    for r in range(1, settings.rounds + 1):
        if not found or len(found) >= settings.max_total or sample.empty:
            break
        judged = sample.assign(p_b=combined_belief(assistant, found, sample, scores))
        try:
            more = assistant.refine(found, judged, f"refine {r}", settings.per_source)
        except AssistantAnswerError:
            break  # refinement is a bonus: the first proposal stands
        new = merge_duplicates(found + more)[:settings.max_total]
        bar.advance(1)
        if len(new) == len(found):
            break  # nothing new: another round would ask the same
        found = new
    return found


def _first_proposal(assistant: Proposer, disc: pd.DataFrame, clusters: pd.DataFrame,
                    settings: ProposalSettings) -> list[Hypothesis]:
    """From the whole discovery corpus, then from the most B-skewed and A-skewed clusters."""
    a, b = disc[disc["side"] == "A"], disc[disc["side"] == "B"]

    def ask(texts_a: pd.DataFrame, texts_b: pd.DataFrame, source: str) -> list[Hypothesis]:
        return assistant.propose(texts_a["text"].tolist(), texts_b["text"].tolist(), source,
                                 settings.per_source, texts_a["prompt_id"].tolist(),
                                 texts_b["prompt_id"].tolist())

    found = ask(a, b, "corpus")
    # Which clusters to mine is decided by the discovery-only table: validation texts never
    # steer proposal. Noise (-1) is not a cluster and is never mined.
    tested = clusters[clusters["cluster_id"] != NOISE]
    significant = tested[tested["disc_q_value"] < settings.alpha]
    b_skewed = significant[significant["disc_log_odds"] > 0].sort_values("disc_log_odds",
                                                                        ascending=False)
    a_skewed = significant[significant["disc_log_odds"] < 0].sort_values("disc_log_odds")
    for row in b_skewed.head(settings.max_clusters).itertuples():
        # What marks the B texts of a B-heavy region, against everything A wrote.
        found += ask(a, b[b["cluster_id"] == row.cluster_id], f"cluster {row.cluster_id}")
    for row in a_skewed.head(settings.max_clusters).itertuples():
        found += ask(a[a["cluster_id"] == row.cluster_id], b, f"cluster {row.cluster_id}")
    return found


def combined_belief(assistant: Judge, hypotheses: list[Hypothesis], texts: pd.DataFrame,
                    scores: Optional[dict] = None) -> np.ndarray:
    """P(B wrote it) for each text (text, side, prompt_id; paired by prompt) from every
    hypothesis' judge scores together: a logistic regression fitted on these discovery texts
    (their labels are discovery data, never validation). `scores` keeps each hypothesis'
    scores by its text between calls; one the assistant fails to judge is left out."""
    from sklearn.linear_model import LogisticRegression

    scores = {} if scores is None else scores
    groups = [g["text"].tolist() for _, g in texts.groupby("prompt_id", sort=False)]
    order = np.concatenate([g.index.to_numpy() for _, g in texts.groupby("prompt_id", sort=False)])
    for h in hypotheses:
        if h.text not in scores:
            try:
                flat = np.concatenate(assistant.judge_groups(h, groups))
            except AssistantAnswerError:
                scores[h.text] = None
                continue
            column = np.empty(len(texts))
            column[texts.index.get_indexer(order)] = flat
            scores[h.text] = column
    columns = [scores[h.text] for h in hypotheses if scores[h.text] is not None]
    y = (texts["side"] == "B").to_numpy().astype(int)
    if not columns or len(set(y)) < 2:
        return np.full(len(texts), 0.5)
    x = np.column_stack(columns)
    return LogisticRegression(C=1.0, max_iter=1000).fit(x, y).predict_proba(x)[:, 1]
