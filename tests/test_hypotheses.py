"""Proposal uses discovery texts only, and the same claim from two sources is kept once."""
import random

import pandas as pd
import pytest

from modeldiff_core import organisms as org
from modeldiff_core.assistants.base import Assistant, Hypothesis
from modeldiff_core.assistants.offline import OfflineAssistant
from modeldiff_core.hypotheses import merge_duplicates, propose_hypotheses
from modeldiff_core.pipeline import cluster_tables


def _texts(behaviour, n, seed):
    rng = random.Random(seed)
    return [org.make_document(rng, behaviour).split("<|assistant|> ")[1].replace(" <|end|>", "")
            for _ in range(n)]


def test_validation_texts_never_reach_the_proposer():
    rows = []
    for side, beh in (("A", None), ("B", "questions")):
        for i, t in enumerate(_texts(beh, 120, 1 if side == "A" else 2)):
            rows.append({"side": side, "split": "discovery", "cluster_id": 0, "text": t})
    # Only the held-out B texts mention zebras: a proposer that peeked would say so.
    for i, t in enumerate(_texts(None, 120, 3)):
        rows.append({"side": "B", "split": "validation", "cluster_id": 0, "text": t + " zebra zebra ."})
        rows.append({"side": "A", "split": "validation", "cluster_id": 0, "text": t})
    clusters = pd.DataFrame({"cluster_id": [0], "disc_q_value": [1.0], "disc_log_odds": [0.0]})
    found = propose_hypotheses(OfflineAssistant(), pd.DataFrame(rows), clusters)
    assert any("questions" in h.text for h in found)
    assert not any("zebra" in h.text for h in found)


def test_skewed_clusters_are_sources_and_duplicates_merge():
    rows = [{"side": "A", "split": "discovery", "cluster_id": 1, "text": t} for t in _texts(None, 100, 4)]
    rows += [{"side": "B", "split": "discovery", "cluster_id": 0, "text": t} for t in _texts("cats", 100, 5)]
    clusters = pd.DataFrame({"cluster_id": [0, 1], "disc_q_value": [1e-9, 1e-9],
                             "disc_log_odds": [3.0, -3.0]})
    found = propose_hypotheses(OfflineAssistant(), pd.DataFrame(rows), clusters)
    cat = [h for h in found if '"cat"' in h.text]
    assert len(cat) == 1 and "corpus" in cat[0].source and "cluster 0" in cat[0].source


def test_merge_rules():
    p = {"type": "mentions", "terms": ["cat"], "favours": "B"}
    a = Hypothesis("B mentions cat (10%)", "B", "corpus", p)
    b = Hypothesis("B mentions cat (30%)", "B", "cluster 2", dict(p, terms=["cat", "mouse"]))
    c = Hypothesis("B mentions cat less", "A", "cluster 3", dict(p, favours="A"))
    d = Hypothesis("Model B is more formal than Model A.", "B", "corpus")
    e = Hypothesis("Model B is more formal than Model A (see cluster 4).", "B", "cluster 4")
    kept = merge_duplicates([a, b, c, d, e])
    assert [h.text for h in kept] == [a.text, c.text, d.text]
    assert kept[0].source == "corpus, cluster 2" and kept[2].source == "corpus, cluster 4"


class _Recorder(Assistant):
    """Records which sources proposal mines; proposes nothing."""
    kind = "recorder"

    def __init__(self):
        self.sources = []

    def propose(self, texts_a, texts_b, source, max_hypotheses=5):
        self.sources.append(source)
        return []

    def judge(self, hypothesis, texts):
        return [0.5] * len(texts)

    def write_pairs(self, hypothesis, texts, prompts, examples_a, examples_b, n):
        return []


def _planted_points(planted_split: str):
    """40 prompts (20 discovery, 20 validation), 3 texts per side each. Cluster 2 holds B's
    texts of the `planted_split` prompts only; noise (-1) holds B's discovery texts' first
    sample. Everything else is cluster 0 or 1, alike for both sides."""
    rows = []
    for p in range(40):
        split = "discovery" if p < 20 else "validation"
        for side in "AB":
            for k in range(3):
                label = (p + k) % 2
                if side == "B" and split == planted_split and k > 0:
                    label = 2
                if side == "B" and split == "discovery" and k == 0:
                    label = -1
                rows.append({"side": side, "prompt_id": p, "sample_idx": k, "split": split,
                             "cluster_id": label, "text": f"text {side} {p} {k}"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("planted_split", ["discovery", "validation"])
def test_only_a_discovery_difference_is_mined(planted_split):
    pts = _planted_points(planted_split)
    table = cluster_tables(pts["cluster_id"], pts["side"], pts["prompt_id"], pts["split"])
    rec = _Recorder()
    propose_hypotheses(rec, pts, table)
    # The full table (all texts) sees cluster 2 either way; proposal must not.
    assert table.loc[table.cluster_id == 2, "q_value"].item() < 0.05
    assert ("cluster 2" in rec.sources) == (planted_split == "discovery")
    # Noise is counted but never tested or mined, however skewed.
    noise = table[table.cluster_id == -1].iloc[0]
    assert noise.size_b == 20 and pd.isna(noise.disc_q_value) and pd.isna(noise.q_value)
    assert "cluster -1" not in rec.sources
