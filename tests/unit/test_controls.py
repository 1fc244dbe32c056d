"""The controls that make "validated" mean "this hypothesis explains the difference": an LLM
judge must beat itself under a content-free placebo hypothesis, judged in the same calls."""
import json

import numpy as np
import pytest
import pandas as pd

from modeldiff_core.assistants.chat import ChatAssistant
from modeldiff_core.assistants.offline import OfflineAssistant
from modeldiff_core.hypotheses.types import Hypothesis
from modeldiff_core.hypotheses.validation import PLACEBO_TEXT, discriminative, heldout_texts, paired_heldout

WRONG = Hypothesis("Model B mentions zebras more often than Model A.")


class _LengthJudge:
    """A chat provider whose judge rewards length, whatever the hypothesis says, with noise of
    its own in every call; told a hypothesis about zebras, it also sees zebras."""

    class client:
        provider = "stub"

    def __init__(self, seed: int, reads_zebras: bool = True):
        self.rng, self.reads_zebras, self.calls = np.random.default_rng(seed), reads_zebras, []

    def complete_json(self, system, messages, check=None, **kwargs):
        data = json.loads(messages[0]["content"].split("INPUT (JSON):\n", 1)[1])
        self.calls.append(data)
        told = self.reads_zebras and "zebra" in data["hypothesis"]
        scores = []
        for t in data["texts"]:
            logit = 0.15 * (len(t.split()) - 12) + self.rng.normal(0, 0.5)
            if told and "zebra" in t:
                logit += 2.0
            scores.append(float(100 / (1 + np.exp(-logit))))
        return {"scores": scores}


def _world(seed: int, zebras_in_b: float = 0.0, n_prompts: int = 60) -> pd.DataFrame:
    """Held-out texts, two per side per prompt: B's are three words longer (a cue no
    hypothesis names); a share of B's texts mention zebras."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_prompts):
        for k in range(2):
            n = int(rng.integers(8, 16))
            rows.append(("A", p, k, " ".join(["word"] * n) + f" p{p}a{k}"))
            extra = "zebra runs far" if rng.random() < zebras_in_b else "and so on"
            rows.append(("B", p, k, " ".join(["word"] * n) + f" {extra} p{p}b{k}"))
    val = pd.DataFrame(rows, columns=["side", "prompt_id", "sample_idx", "text"])
    return heldout_texts(val, paired_heldout(val, len(val), seed), seed)


def test_a_judge_that_rewards_length_validates_a_wrong_hypothesis_only_without_the_placebo():
    rejected_old, rejected_new = 0, 0
    for seed in range(20):
        judge = _LengthJudge(seed)
        r = discriminative(ChatAssistant(judge, judge_batch=10), WRONG, _world(seed), seed,
                           n_resamples=999, n_boot=100)
        assert r["control"] == "placebo" and r["placebo"]["auc"] > 0.65
        assert abs(r["added_auc"]) < 0.1  # the hypothesis adds nothing to the judge alone
        rejected_old += r["p_vs_chance"] < 0.05
        rejected_new += r["p_value"] < 0.05
    # Against chance, the length cue "validates" the wrong hypothesis every time; against the
    # placebo it is rejected at about its level (P(> 4 of 20) = 0.016 at 5%).
    assert rejected_old == 20 and rejected_new <= 4, (rejected_old, rejected_new)


def test_the_placebo_is_judged_in_the_same_calls_and_a_true_hypothesis_beats_it():
    judge = _LengthJudge(0)
    judged = _world(0, zebras_in_b=0.5)
    r = discriminative(ChatAssistant(judge, judge_batch=10), WRONG, judged, 0, n_boot=100)
    told = [c["texts"] for c in judge.calls if c["hypothesis"] == WRONG.text]
    placebo = [c["texts"] for c in judge.calls if c["hypothesis"] == PLACEBO_TEXT]
    assert told == placebo and len(told) == 30  # 240 texts: two prompts (8) a call
    # Zebras are in half of B's texts and the judge told about them sees them.
    assert r["p_value"] < 0.001 and r["added_auc"] > 0.05 and r["added_auc_ci_low"] > 0
    assert len(r["placebo_scores"]) == len(r["scores"]) == len(judged)
    # Handed the placebo's scores (as the stage does, once for all hypotheses), no new call.
    before = len(judge.calls)
    again = discriminative(ChatAssistant(judge, judge_batch=10), WRONG, judged, 0, n_boot=100,
                           placebo_scores=r["placebo_scores"])
    assert len(judge.calls) == before + 30 and again["placebo"]["auc"] == r["placebo"]["auc"]


def test_a_predicate_judge_has_no_placebo():
    h = Hypothesis('Model B mentions "zebra".', "B", "corpus",
                   {"type": "mentions", "terms": ["zebra"], "favours": "B"})
    r = discriminative(OfflineAssistant(), h, _world(1, zebras_in_b=0.5), n_boot=0)
    assert r["control"].startswith("none") and "placebo" not in r
    assert r["p_value"] == r["p_vs_chance"] < 0.001


# ------------------------------------------------------------------ one ledger per run

def _tested_set(store, name: str, p_values: list[float]) -> None:
    store.save_hypotheses("run", name, [Hypothesis(f"{name} {i}") for i in range(len(p_values))])
    for i, p in enumerate(p_values):
        store.save_validation("run", name, f"h{i + 1}", "discriminative", {"p_value": p, "n": 10})


def test_a_second_hypothesis_set_on_the_same_run_shares_the_ledger(tmp_path):
    from scipy.stats import false_discovery_control

    from modeldiff_core.stages.hypotheses import apply_ledger
    from modeldiff_core.store import Store

    first = [0.004, 0.3, 0.6]
    with Store(tmp_path / "ledger.duckdb") as st:
        _tested_set(st, "offline", first)
        assert apply_ledger(st, "run", 0.05) == []
        assert st.validations("run", "offline")["validated"].tolist() == [True, False, False]
        # A second set (another assistant) tested on the same held-out texts: nine nulls and
        # one hypothesis never tested (its judge failed), which counts as p = 1.
        second = [0.2, 0.5, 0.7, 0.9, 0.35, 0.45, 0.8, 0.65, 0.55]
        _tested_set(st, "anthropic", second + [0.5])
        st._q("DELETE FROM validations WHERE hypothesis_set = 'anthropic' AND hypothesis_id = 'h10'")
        notes = apply_ledger(st, "run", 0.05)
        q = st.validations("run", "offline")["q_value"].to_numpy()
        both = st.validations("run", "anthropic")
    # One Benjamini-Hochberg family of 13 (scipy's, independently), not two of 3 and 10.
    expected = false_discovery_control(first + second + [1.0])
    assert np.allclose(q, expected[:3]) and np.allclose(both["q_value"], expected[3:12])
    assert q[0] > 0.05  # 0.004 * 13 = 0.052: the earlier verdict is withdrawn, and said so
    assert len(notes) == 1 and "h1 of the set 'offline' is no longer validated" in notes[0]
    assert "13 hypotheses" in notes[0]


# ------------------------------------------------------- the held-out tests' p-value

def test_bootstrap_t_matches_a_direct_computation_and_holds_on_skewed_nulls():
    from modeldiff_core.hypotheses import stats

    rng = np.random.default_rng(3)
    d = rng.normal(0.1, 1.0, 15)
    # Directly, resample by resample, with the same draws.
    draws = np.random.default_rng(7).integers(0, 15, size=(999, 15))
    t = d.mean() / (d.std(ddof=1) / np.sqrt(15))
    t_star = [(d[i].mean() - d.mean()) / (d[i].std(ddof=1) / np.sqrt(15)) for i in draws]
    assert stats.bootstrap_t_p(d, 999, 7) == pytest.approx((1 + sum(x >= t for x in t_star)) / 1000)
    # Mean zero but skewed against the one-sided test (common small B effects, a rare large
    # A one): the sign flip alone rejects too often; the larger of the two p-values does not.
    reject_flip = reject_both = 0
    for r in range(400):
        e = np.where(rng.random(40) < 0.1, -0.45, 0.05) + rng.normal(0, 0.04, 40)
        reject_flip += stats.sign_flip_p(e, 999, r) < 0.05
        reject_both += stats.prompt_level_p(e, 999, r) < 0.05
    assert reject_flip / 400 > 0.07 and reject_both / 400 < 0.05, (reject_flip, reject_both)
    # Symmetric nulls keep the sign flip's exactness (the max is never below it).
    e = rng.normal(0, 1, 12)
    assert stats.prompt_level_p(e, 999, 1) >= stats.sign_flip_p(e, 999, 1)
