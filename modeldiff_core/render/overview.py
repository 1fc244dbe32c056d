"""The runs at a glance, for the home page: each run with its headline figures. Light on
purpose: the first page a person sees imports nothing heavy."""
from __future__ import annotations

import pandas as pd


def runs_overview(store) -> pd.DataFrame:
    """One row per run, newest first: status, models, texts, clusters, validated hypotheses
    (of proposed) and the bag-of-words baseline's accuracy, once the run has a result."""
    rows = []
    for r in store.list_runs().itertuples():
        result = store.result(r.run_id) or {}
        hyps = result.get("hypotheses", [])
        base = result.get("baseline", {})
        rows.append({"run": r.run_id, "status": r.status, "model A": r.model_a,
                     "model B": r.model_b, "texts": r.n_texts, "clusters": r.n_clusters,
                     "validated hypotheses": f"{sum(h['validated'] for h in hyps)} / {len(hyps)}"
                     if result else "", "baseline accuracy": base.get("accuracy"),
                     "created": r.created_at})
    return pd.DataFrame(rows)
