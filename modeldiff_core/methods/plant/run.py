"""Planting on its params: the finetune's row (with `spec_b`); with `evaluate`, also
`scored`: the pipeline run on base vs finetune, scored against the planted truths."""
from __future__ import annotations

from .settings import Params


def run(store, params: Params, ctx) -> dict:
    from ..ground_truth.bench import evaluate_finetune
    from ..ground_truth.plant import plant

    row = plant(store, params.plant, cache=ctx.cache, progress=ctx.progress, api_key=ctx.api_key)
    if params.evaluate:
        row["scored"] = evaluate_finetune(store, params.plant.base, row["spec_b"], row["truths"],
                                          params.generation, cache=ctx.cache,
                                          embedder=ctx.embedder(), progress=ctx.progress)
        ctx.on_run_id(row["scored"]["run_id"])
    return row
