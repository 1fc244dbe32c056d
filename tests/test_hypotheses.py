"""Proposal uses discovery texts only, and the same claim from two sources is kept once."""
import random

import pandas as pd

from modeldiff_core import organisms as org
from modeldiff_core.assistants.base import Hypothesis
from modeldiff_core.assistants.offline import OfflineAssistant
from modeldiff_core.hypotheses import merge_duplicates, propose_hypotheses


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
    clusters = pd.DataFrame({"cluster_id": [0], "q_value": [1.0], "log_odds": [0.0]})
    found = propose_hypotheses(OfflineAssistant(), pd.DataFrame(rows), clusters)
    assert any("questions" in h.text for h in found)
    assert not any("zebra" in h.text for h in found)


def test_skewed_clusters_are_sources_and_duplicates_merge():
    rows = [{"side": "A", "split": "discovery", "cluster_id": 1, "text": t} for t in _texts(None, 100, 4)]
    rows += [{"side": "B", "split": "discovery", "cluster_id": 0, "text": t} for t in _texts("cats", 100, 5)]
    clusters = pd.DataFrame({"cluster_id": [0, 1], "q_value": [1e-9, 1e-9], "log_odds": [3.0, -3.0]})
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
