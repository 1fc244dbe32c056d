"""The truth bench: each ground truth planted in its own finetune, the pipeline on each pair,
recovery scored."""
from __future__ import annotations

from typing import Optional

from ...models.finetune import adapter_spec
from ...models.loading import ModelCache
from ...models.spec import ModelSpec
from ...pipeline import RunConfig, run_pipeline
from ...stages.settings import HypothesisSettings
from ...progress import ProgressCallback
from ...embedders import Embedder, make_embedder
from ...models.generation import GenerationSettings
from .plant import PlantConfig, plant
from .score import score_run
from .truths import BUILTIN_TRUTHS

ORGANISM_BASE = ModelSpec("organism:base")


def truth_bench(store, base: ModelSpec = ORGANISM_BASE,
                generation: Optional[GenerationSettings] = None,
                cache: Optional[ModelCache] = None, embedder: Optional[Embedder] = None,
                progress: Optional[ProgressCallback] = None,
                truths: Optional[list[str]] = None,
                max_judge_prompts: Optional[int] = None) -> dict:
    """The whole loop over the built-in ground truths: each planted in its own finetune of the
    base, plus a null finetune; pipeline on each pair; recovery scored by embedding matching."""
    import time

    from ...stages.prompts import builtin_prompt_set

    t0 = time.perf_counter()
    cache, embedder = cache or ModelCache(), embedder or make_embedder()
    prompts = builtin_prompt_set("organisms")
    generation = generation or GenerationSettings()
    truths = truths if truths is not None else [t.text for t in BUILTIN_TRUTHS]
    per_truth, runs, n_val, n_true = [], [], 0, 0
    null_fd = None
    for truth in [*truths, None]:
        ft = plant(store, PlantConfig(base, [truth] if truth else [], prompts=prompts.prompts),
                   cache=cache, progress=progress)
        config = RunConfig(base, adapter_spec(base, ft["adapter_path"]), prompts, generation,
                           hypotheses=HypothesisSettings(**({} if max_judge_prompts is None else {
                               "max_judge_prompts": max_judge_prompts})))
        result = run_pipeline(store, config, cache=cache, embedder=embedder, progress=progress)
        runs.append({"truth": truth, "finetune_id": ft["finetune_id"], "run_id": result["run_id"],
                     "n_validated": sum(h["validated"] for h in result["hypotheses"])})
        scored = score_run(store, result["run_id"], [truth] if truth else [], embedder=embedder)
        if truth is None:
            null_fd = scored["n_validated"]  # every validated hypothesis is a false discovery
            continue
        n_val += scored["n_validated"]
        n_true += scored["n_validated_true"]
        row = scored["per_truth"][0]
        per_truth.append({"truth": truth, "recovered": row["recovered"],
                          "best_hypothesis": row["best_hypothesis"], "score": row["score"],
                          "run_id": result["run_id"], "n_validated": scored["n_validated"]})
        cache.retain([base])  # one finetune at a time in memory
    recovered = sum(r["recovered"] for r in per_truth)
    return {"recall": recovered / len(per_truth) if per_truth else None,
            "precision": n_true / n_val if n_val else None,
            "null_false_discoveries": null_fd, "n_recovered": recovered,
            "n_truths": len(per_truth), "per_truth": per_truth, "runs": runs,
            "matcher": "embedding", "wall_seconds": round(time.perf_counter() - t0, 1)}


def evaluate_finetune(store, base: ModelSpec, spec_b: ModelSpec, truths: list[str],
                      generation: Optional[GenerationSettings] = None,
                      cache: Optional[ModelCache] = None, embedder: Optional[Embedder] = None,
                      progress: Optional[ProgressCallback] = None) -> dict:
    """Base vs its finetune through the pipeline, then the run scored against the truths."""
    from ...stages.prompts import builtin_prompt_set

    embedder = embedder or make_embedder()
    prompts = builtin_prompt_set("organisms" if base.is_organism else "chat")
    config = RunConfig(base, spec_b, prompts, generation or GenerationSettings())
    result = run_pipeline(store, config, cache=cache, embedder=embedder, progress=progress)
    return score_run(store, result["run_id"], truths, embedder=embedder)
