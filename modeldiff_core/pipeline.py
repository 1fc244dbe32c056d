"""The one orchestration used by the CLI and the dashboard: pair -> prompts -> generations ->
embeddings -> clusters and map -> result. Every stage reads what is stored before it computes,
so running the same configuration again resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional

import pandas as pd

from . import stats
from .cluster import make_clusterer, top_terms, umap_project
from .config import ModelDiffError
from .embed import Embedder, default_embedder, embed_texts
from .generate import GenerationSettings, generate_side
from .models import ModelCache, ModelSpec, check_spec, fingerprint
from .progress import ProgressCallback
from .prompts import PromptSet, assign_splits
from .validation import bow_baseline

SIDES = ("A", "B")


@dataclass
class RunConfig:
    spec_a: ModelSpec
    spec_b: ModelSpec
    prompt_set: PromptSet
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    validation_fraction: float = 0.5
    cluster_method: str = "kmeans"
    n_clusters: Optional[int] = None
    min_cluster_size: int = 10

    def spec(self, side: str) -> ModelSpec:
        return self.spec_a if side == "A" else self.spec_b

    def run_settings(self) -> dict:
        return {"generation": self.generation.to_dict(),
                "validation_fraction": self.validation_fraction}

    def cluster_settings(self) -> dict:
        return {"method": self.cluster_method, "n_clusters": self.n_clusters,
                "min_cluster_size": self.min_cluster_size, "seed": self.generation.seed,
                "umap": {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean",
                         "normalised": True}}


def run_id_for(config: RunConfig) -> str:
    """Same pair, prompts and generation settings -> same run id, which is what makes resume work."""
    payload = {"a": fingerprint(config.spec_a), "b": fingerprint(config.spec_b),
               "prompts": config.prompt_set.name, "settings": config.run_settings()}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return "run-" + digest[:12]


def prepare_run(store, config: RunConfig) -> str:
    """Check everything that can be checked before work starts; create (or find) the run."""
    config.generation.check()
    if not config.prompt_set.prompts:
        raise ModelDiffError("the prompt set is empty")
    for side in SIDES:
        check_spec(config.spec(side))
    run_id = run_id_for(config)
    store.upsert_run(run_id, model_a=config.spec_a.label, model_b=config.spec_b.label,
                     spec_a=config.spec_a.to_dict(), spec_b=config.spec_b.to_dict(),
                     fingerprint_a=fingerprint(config.spec_a),
                     fingerprint_b=fingerprint(config.spec_b),
                     prompt_set=config.prompt_set.name, settings=config.run_settings())
    store.save_prompts(run_id, assign_splits(config.prompt_set.prompts, config.generation.seed,
                                             config.validation_fraction))
    return run_id


def generate_run(store, run_id: str, config: RunConfig, cache: ModelCache,
                 progress: Optional[ProgressCallback] = None) -> None:
    prompts = store.prompts(run_id)
    cache.retain([config.spec_a, config.spec_b])
    for side in SIDES:
        lm = cache.get(config.spec(side))
        generate_side(store, run_id, side, lm, prompts, config.generation, progress)


def cluster_run(store, run_id: str, config: RunConfig, embedder: Embedder,
                progress: Optional[ProgressCallback] = None) -> pd.DataFrame:
    """Embed all texts of both sides, cluster them together, map them; store and return clusters."""
    gens = store.generations(run_id)
    if gens.empty:
        raise ModelDiffError(f"run {run_id} has no generations yet")
    x = embed_texts(store, embedder, gens["text"].tolist(), progress=progress)
    seed = config.generation.seed
    labels = make_clusterer(config.cluster_method, config.n_clusters, config.min_cluster_size,
                            seed).fit_predict(x)
    xy = umap_project(x, seed=seed)
    table = stats.cluster_table(labels, gens["side"].to_numpy())
    terms = top_terms(gens["text"].tolist(), labels)
    table["top_terms"] = table["cluster_id"].map(terms).fillna("")
    points = gens[["side", "prompt_id", "sample_idx"]].assign(
        cluster_id=labels.astype(int), x=xy[:, 0], y=xy[:, 1])
    store.replace_clustering(run_id, points, table, config.cluster_settings())
    return table


def build_result(store, run_id: str) -> dict:
    """The result document of the CLI contract, from what is stored."""
    run = store.get_run(run_id)
    gens = store.generations(run_id)
    clusters = store.clusters(run_id)
    val = gens[gens["split"] == "validation"]
    base = bow_baseline(val["text"].tolist(), val["side"].tolist(), val["prompt_id"].tolist(),
                        seed=(run["settings"] or {}).get("generation", {}).get("seed", 0))
    cluster_rows = [
        {"cluster_id": int(r.cluster_id), "size_a": int(r.size_a), "size_b": int(r.size_b),
         "share_b": float(r.share_b), "log_odds": float(r.log_odds), "ci_low": float(r.ci_low),
         "ci_high": float(r.ci_high), "p_value": float(r.p_value), "q_value": float(r.q_value),
         "top_terms": r.top_terms}
        for r in clusters.itertuples()]
    return {"run_id": run_id, "model_a": run["model_a"], "model_b": run["model_b"],
            "n_texts": {s: int((gens["side"] == s).sum()) for s in SIDES},
            "baseline": base, "clusters": cluster_rows, "hypotheses": []}


def run_pipeline(store, config: RunConfig, cache: Optional[ModelCache] = None,
                 embedder: Optional[Embedder] = None,
                 progress: Optional[ProgressCallback] = None) -> dict:
    cache = cache or ModelCache()
    embedder = embedder or default_embedder()
    run_id = prepare_run(store, config)
    try:
        store.set_run_status(run_id, "generating")
        generate_run(store, run_id, config, cache, progress)
        store.set_run_status(run_id, "clustering")
        cluster_run(store, run_id, config, embedder, progress)
        result = build_result(store, run_id)
    except BaseException:
        store.set_run_status(run_id, "interrupted")
        raise
    store.save_result(run_id, result)
    store.set_run_status(run_id, "done")
    return result
