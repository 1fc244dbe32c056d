"""The LLM judge's budget in prompts and what it will cost, said before a job starts: the
estimate counted against a by-hand count of the calls the chat assistant makes."""
import json

import pandas as pd
import pytest

from modeldiff_core.assistants import chat
from modeldiff_core.llm import PRICES, estimated_cost
from modeldiff_core.stages.hypotheses import judge_budget, judge_plan, paired_prompts
from modeldiff_core.hypotheses.types import Hypothesis
from modeldiff_core.hypotheses.validation import heldout_texts, paired_heldout
from modeldiff_core.stages.settings import HypothesisSettings


class _Counting:
    """A call path that counts the calls and characters the chat assistant sends, and answers
    each call in the shape asked for."""
    client = type("Client", (), {"provider": "anthropic"})()

    def __init__(self):
        self.calls, self.chars = 0, 0

    def complete_json(self, system, messages, max_tokens, temperature, run_id, purpose, check):
        self.calls += 1
        content = messages[0]["content"]
        self.chars += len(system) + len(content)
        payload = json.loads(content.split("INPUT (JSON):\n", 1)[1])
        if "items" in payload:
            return {"choices": [1] * len(payload["items"])}
        return {"scores": [50] * len(payload["texts"])}


def _val(n_prompts, samples, chars):
    rows = [(side, p, s, "x" * chars) for p in range(n_prompts) for s in range(samples)
            for side in "AB"]
    return pd.DataFrame(rows, columns=["side", "prompt_id", "sample_idx", "text"])


@pytest.mark.parametrize("mode", ["score", "pairwise"])
@pytest.mark.parametrize("chars", [80, 2000])
def test_the_estimate_counts_the_calls_the_judge_makes(mode, chars):
    val = _val(37, 3, chars)
    config = HypothesisSettings("anthropic", judge_mode=mode, max_judge_prompts=25)
    budget = judge_budget(_Paid(), val, config)
    assert budget == 50  # one pair from each of 25 prompts
    pairs = paired_heldout(val, budget, 0)
    assert pairs["prompt_id"].nunique() == 25 == len(pairs)
    judged = heldout_texts(val, pairs, 0)
    path = _Counting()
    a = chat.ChatAssistant(path)
    h = Hypothesis("Model B mentions cats more often than Model A.", "B", "corpus")
    if mode == "pairwise":
        texts = judged["text"].tolist()
        a.judge_pairs(h, [(texts[i], texts[i + 1]) for i in range(0, len(texts), 2)])
    else:
        a.judge_groups(h, [g["text"].tolist() for _, g in judged.groupby("prompt_id", sort=False)])
    e = chat.judge_estimate(25, chars, mode)
    assert e["calls"] == path.calls
    # Tokens in: the characters sent, at four a token, within a tenth.
    assert e["tokens_in"] == pytest.approx(path.chars / 4, rel=0.1)
    line = judge_plan(config, paired_prompts(val), chars)
    assert f"{path.calls} calls" in line and "25 held-out prompts" in line


def test_the_cost_is_the_list_price_and_a_free_judge_has_no_plan():
    tin, tout = 120_000, 4_000
    p_in, p_out = PRICES["gpt-4.1-mini"]
    assert estimated_cost("gpt-4.1-mini", tin, tout) == pytest.approx((tin * p_in + tout * p_out) / 1e6)
    assert judge_plan(HypothesisSettings()) is None
    paid = HypothesisSettings("openai", max_judge_prompts=40)
    line = judge_plan(paid)  # before any text exists: an upper bound on the whole budget
    e = chat.judge_estimate(40, chat.MAX_CHARS, "score")
    assert line.startswith("LLM judge (gpt-4.1-mini): up to 40 held-out prompts")
    assert f"${estimated_cost('gpt-4.1-mini', e['tokens_in'], e['tokens_out']):.2f}" in line
    # Fewer held-out prompts than the budget: the plan says what will really be judged.
    assert "12 held-out prompts" in judge_plan(paid, 12, 300)


class _Paid:
    judge_is_free = False
