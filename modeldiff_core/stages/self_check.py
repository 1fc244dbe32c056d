"""A run's own false-positive check: A's samples of each prompt split into two pseudo-models,
A1 (even sample indices) and A2 (odd), and the run's proposal and discriminative validation
repeated on A1 against A2. Both are one model, so whatever validates there is a false positive
of this run's own pipeline, on its own prompts, texts and settings: shown beside its results."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..assistants.base import Assistant
from ..llm import AssistantAnswerError
from ..progress import ProgressCallback, StageProgress
from ..hypotheses import stats
from .propose import ProposalSettings, propose_hypotheses
from ..hypotheses.validation import discriminative, heldout_texts, paired_heldout


def pseudo_models(points):
    """A's texts as two pseudo-models, side "A" for A1 and "B" for A2, each prompt's samples
    renumbered within its half; None when no prompt has two samples of A."""
    a = points[points["side"] == "A"].copy()
    if a.empty or a.groupby("prompt_id")["sample_idx"].nunique().max() < 2:
        return None
    a["side"] = np.where(a["sample_idx"] % 2 == 0, "A", "B")
    a["sample_idx"] = a["sample_idx"] // 2
    return a


def self_check(store, run_id: str, parts, assistant: Assistant,
               progress: Optional[ProgressCallback] = None) -> dict:
    """{validated, proposed, n_prompts} of A1 against A2 (stored per hypothesis set, reused
    while the set's settings are unchanged), or with `note` and Nones when A has fewer than
    two samples of any prompt. Validated counts hypotheses at BH q < alpha among those the
    self-check proposed; the generative test is not run (A1 and A2 are one model)."""
    from .cluster import cluster_tables
    from .hypotheses import Placebo, judge_budget, proposal_settings

    h_settings = parts.hypotheses  # a hypotheses.RunParts
    hypothesis_set = h_settings.assistant_settings().hypothesis_set
    settings = proposal_settings(parts)
    stored = store.self_check(run_id, hypothesis_set)
    if stored is not None and stored.get("settings") == settings:
        return {k: v for k, v in stored.items() if k != "settings"}
    seed = parts.generation.seed
    pseudo = pseudo_models(store.points(run_id))
    if pseudo is None:
        result = {"validated": None, "proposed": None, "n_prompts": 0,
                  "note": "not run: needs two samples or more of A per prompt"}
        store.save_self_check(run_id, hypothesis_set, {**result, "settings": settings})
        return result
    clusters = cluster_tables(pseudo["cluster_id"], pseudo["side"], pseudo["prompt_id"],
                              pseudo["split"], seed)
    found = propose_hypotheses(assistant, pseudo, clusters,
                               ProposalSettings(alpha=h_settings.alpha,
                                                rounds=h_settings.refine_rounds, seed=seed),
                               progress=progress)
    val = pseudo[pseudo["split"] == "validation"]
    judged = heldout_texts(val, paired_heldout(val, judge_budget(assistant, val, h_settings), seed),
                           seed)
    # The proposal, then one step per hypothesis: the bar ends full even when none was found.
    bar = StageProgress(progress, "self-check (A1 vs A2)", 1 + len(found), unit="steps")
    bar.advance(1)
    placebo, p_values = Placebo(assistant, judged, h_settings.judge_mode), []
    for h in found:
        try:
            r = discriminative(assistant, h, judged, seed, h_settings.judge_mode,
                               placebo_scores=placebo.scores(h))
            p_values.append(r["p_value"])
        except AssistantAnswerError:
            p_values.append(1.0)  # as in the run's ledger: a failed test counts as p = 1
        bar.advance(1)
    q = stats.benjamini_hochberg(np.nan_to_num(np.array(p_values, float), nan=1.0))
    result = {"validated": int((q < h_settings.alpha).sum()) if len(q) else 0,
              "proposed": len(found), "n_prompts": int(judged["prompt_id"].nunique()),
              "hypotheses": [h.text for h, qq in zip(found, q) if qq < h_settings.alpha]}
    store.save_self_check(run_id, hypothesis_set, {**result, "settings": settings})
    return result
