"""Proposal uses discovery texts only, and the same claim from two sources is kept once."""
import random

import pandas as pd
import pytest

from modeldiff_core.assistants.base import Judge, Proposer
from modeldiff_core.assistants.offline import OfflineAssistant
from modeldiff_core.stages.propose import ProposalSettings, merge_duplicates, propose_hypotheses
from modeldiff_core.hypotheses.types import Hypothesis
from modeldiff_core.models import organism_corpus as org
from modeldiff_core.stages.cluster import cluster_tables


def _texts(behaviour, n, seed):
    rng = random.Random(seed)
    return [org.make_document(rng, behaviour).split("<|assistant|> ")[1].replace(" <|end|>", "")
            for _ in range(n)]


def _row(side, split, i, text, cluster_id=0, offset=0):
    # Four samples per prompt; validation prompts numbered apart from discovery ones.
    return {"side": side, "split": split, "prompt_id": offset + i // 4, "sample_idx": i % 4,
            "cluster_id": cluster_id, "text": text}


class _Watcher(OfflineAssistant):
    """The offline assistant, recording every text it is shown to propose, judge or refine."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def propose(self, texts_a, texts_b, *args, **kwargs):
        self.seen += list(texts_a) + list(texts_b)
        return super().propose(texts_a, texts_b, *args, **kwargs)

    def judge(self, hypothesis, texts):
        self.seen += list(texts)
        return super().judge(hypothesis, texts)


def test_validation_texts_never_reach_the_proposer():
    rows = []
    for side, beh in (("A", None), ("B", "questions")):
        for i, t in enumerate(_texts(beh, 120, 1 if side == "A" else 2)):
            rows.append(_row(side, "discovery", i, t))
    # Only the held-out B texts mention zebras: a proposer that peeked would say so.
    for i, t in enumerate(_texts(None, 120, 3)):
        rows.append(_row("B", "validation", i, t + " zebra zebra .", offset=100))
        rows.append(_row("A", "validation", i, t, offset=100))
    clusters = pd.DataFrame({"cluster_id": [0], "disc_q_value": [1.0], "disc_log_odds": [0.0]})
    watcher = _Watcher()
    found = propose_hypotheses(watcher, pd.DataFrame(rows), clusters)
    assert any("questions" in h.text for h in found)
    assert not any("zebra" in h.text for h in found)
    # Neither proposal nor refinement (which judges texts) ever saw a validation text.
    assert watcher.seen and not any("zebra" in t for t in watcher.seen)


def test_skewed_clusters_are_sources_and_duplicates_merge():
    rows = [_row("A", "discovery", i, t, 1) for i, t in enumerate(_texts(None, 100, 4))]
    rows += [_row("B", "discovery", i, t, 0) for i, t in enumerate(_texts("cats", 100, 5))]
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


class _Recorder(Proposer, Judge):
    """Records which sources proposal mines; proposes nothing (the two roles proposal uses)."""
    kind = "recorder"

    def __init__(self):
        self.sources = []

    def propose(self, texts_a, texts_b, source, max_hypotheses=5, prompts_a=None, prompts_b=None):
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


class _Refiner(_Recorder):
    """Proposes one hypothesis, then one more per refinement round; records what refine gets."""

    def __init__(self, new_each_round=True):
        super().__init__()
        self.refined, self.new_each_round = [], new_each_round

    def propose(self, texts_a, texts_b, source, max_hypotheses=5, prompts_a=None, prompts_b=None):
        return [Hypothesis("Model B mentions cat", "B", source,
                           {"type": "mentions", "terms": ["cat"], "favours": "B"})] \
            if source == "corpus" else []

    def judge(self, hypothesis, texts):
        return [1.0 if "cat" in t.split() else 0.0 for t in texts]

    def refine(self, hypotheses, judged, source, max_hypotheses=5):
        self.refined.append((len(hypotheses), judged))
        fruit = ["apples", "pears", "plums", "figs"][len(self.refined) if self.new_each_round else 0]
        text = f"Model B talks about {fruit}"
        return [Hypothesis(text, "B", source)]


@pytest.mark.parametrize("rounds", [0, 1, 3])
def test_refinement_rounds_are_bounded_and_see_discovery_texts_only(rounds):
    rows = [_row("A", "discovery", i, t) for i, t in enumerate(_texts(None, 80, 6))]
    rows += [_row("B", "discovery", i, t) for i, t in enumerate(_texts("cats", 80, 7))]
    rows += [_row(s, "validation", i, t, offset=100) for s in "AB"
             for i, t in enumerate(_texts(None, 40, 8))]
    pts = pd.DataFrame(rows)
    clusters = pd.DataFrame({"cluster_id": [0], "disc_q_value": [1.0], "disc_log_odds": [0.0]})
    refiner = _Refiner()
    found = propose_hypotheses(refiner, pts, clusters,
                               ProposalSettings(rounds=rounds, refine_texts=60))
    assert len(refiner.refined) == rounds and len(found) == 1 + rounds
    assert [h.source for h in found[1:]] == [f"refine {r}" for r in range(1, rounds + 1)]
    for _n_current, judged in refiner.refined:
        assert set(judged["split"]) == {"discovery"} and len(judged) == 60
        # Paired by prompt, with the hypotheses' combined belief: cat texts look like B's.
        assert (judged["side"].iloc[::2].to_numpy() != judged["side"].iloc[1::2].to_numpy()).all()
        cat = judged["text"].str.split().apply(lambda w: "cat" in w)
        assert judged.loc[cat, "p_b"].min() > 0.5 > judged.loc[~cat, "p_b"].max()
    # A round that adds nothing new ends the loop.
    same = _Refiner(new_each_round=False)
    propose_hypotheses(same, pts, clusters, ProposalSettings(rounds=3, refine_texts=60))
    assert len(same.refined) == 2
