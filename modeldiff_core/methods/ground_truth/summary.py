"""What the stored truth scores add up to — recall over the planted truths, precision of the
validated hypotheses, false discoveries on null finetunes — and which finished runs can be
scored at all (model B is one of our finetunes)."""
from __future__ import annotations

from typing import Optional

import pandas as pd

from ...models.spec import ModelSpec
from .plant import truths_of


def summarise_scores(scores: pd.DataFrame) -> dict:
    """`scores`: `Store.truth_scores()`. Runs with planted truths count towards recall and
    precision; runs of a null finetune (no truth planted) count their validated hypotheses as
    false discoveries. per_truth rows carry their run_id and matcher."""
    quirks = [r for r in scores.itertuples() if len(r.truths) > 0]
    nulls = [r for r in scores.itertuples() if len(r.truths) == 0]
    per_truth = [dict(p, run_id=r.run_id, matcher=r.matcher)
                 for r in quirks for p in r.result["per_truth"]]
    n_val = sum(r.result["n_validated"] for r in quirks)
    n_true = sum(r.result["n_validated_true"] for r in quirks)
    return {"n_truths": len(per_truth), "n_recovered": sum(p["recovered"] for p in per_truth),
            "n_validated": n_val, "n_validated_true": n_true,
            "precision": n_true / n_val if n_val else None,
            "n_null_runs": len(nulls),
            "null_false_discoveries": (sum(r.result["n_validated"] for r in nulls)
                                       if nulls else None),
            "null_runs": [{"run_id": r.run_id, "n_validated": r.result["n_validated"]}
                          for r in nulls],
            "per_truth": per_truth}


def scorable_runs(store) -> dict[str, list[str]]:
    """run_id -> the truths planted in its model B, for each finished run whose model B is one of
    our finetunes (an empty list: a null finetune)."""
    out = {}
    for run_id in store.list_runs()["run_id"]:
        run = store.get_run(run_id)
        truths: Optional[list[str]] = (truths_of(ModelSpec.from_dict(run["spec_b"]))
                                       if run["spec_b"] else None)
        if truths is not None and store.result(run_id) is not None:
            out[run_id] = truths
    return out
