"""The one orchestration used by the CLI and the dashboard: pair -> prompts -> generations ->
embeddings -> clusters and map -> result. Every stage reads what is stored before it computes,
so running the same configuration again resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pandas as pd

from .assistants.base import Assistant
from .assistants.llm import AssistantAnswerError
from .assistants.registry import AssistantSettings, make_assistant
from .config import ModelDiffError
from .hypotheses import stats
from .hypotheses.propose import propose_hypotheses
from .hypotheses.types import Hypothesis
from .hypotheses.validation import (
    discriminative,
    generative,
    heldout_texts,
    paired_heldout,
    spread_over_prompts,
)
from .models import organisms
from .models.loading import ModelCache
from .models.spec import ModelSpec, check_spec, ensure_built, fingerprint
from .progress import ProgressCallback, StageProgress
from .results import SIDES, build_result
from .stages.cluster import make_clusterer, top_terms, umap_project
from .stages.embed import Embedder, default_embedder, embed_texts
from .stages.generate import GenerationSettings, context_limit_of, generate_side
from .stages.prompts import PromptSet, assign_splits


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
    assistant: str = "offline"  # offline / anthropic / openai
    assistant_model: Optional[str] = None
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None
    alpha: float = 0.05
    max_judge_texts: int = 240  # held-out texts judged per hypothesis (paired A/B by prompt)
    n_pairs: int = 60  # generative pairs per hypothesis
    judge_mode: str = "score"  # score: each text scored; pairwise: "which of two is B's?"
    refine_rounds: int = 2  # rounds of refinement on the discovery texts hypotheses misjudge

    def assistant_settings(self) -> AssistantSettings:
        return AssistantSettings(self.assistant, self.assistant_model, self.assistant_base_url,
                                 self.assistant_key_file)

    def spec(self, side: str) -> ModelSpec:
        return self.spec_a if side == "A" else self.spec_b

    def run_settings(self) -> dict:
        # split_unit: the split hashes prompt groups (runs made before hashed prompts alone).
        return {"generation": self.generation.to_dict(),
                "validation_fraction": self.validation_fraction, "split_unit": "group"}

    def cluster_settings(self) -> dict:
        return {"method": self.cluster_method, "n_clusters": self.n_clusters,
                "min_cluster_size": self.min_cluster_size, "seed": self.generation.seed,
                "umap": {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean",
                         "normalised": True}}


def config_to_dict(config: RunConfig) -> dict:
    """JSON-able form of a config (job params); `config_from_dict` inverts it."""
    d = {k: getattr(config, k) for k in RunConfig.__dataclass_fields__
         if k not in ("spec_a", "spec_b", "prompt_set", "generation")}
    d.update(spec_a=config.spec_a.to_dict(), spec_b=config.spec_b.to_dict(),
             prompt_set={"name": config.prompt_set.name, "prompts": list(config.prompt_set.prompts),
                         "groups": None if config.prompt_set.groups is None
                         else list(config.prompt_set.groups)},
             generation=config.generation.to_dict())
    return d


def config_from_dict(d: dict) -> RunConfig:
    rest = {k: v for k, v in d.items() if k not in ("spec_a", "spec_b", "prompt_set", "generation")}
    groups = d["prompt_set"].get("groups")
    return RunConfig(ModelSpec.from_dict(d["spec_a"]), ModelSpec.from_dict(d["spec_b"]),
                     PromptSet(d["prompt_set"]["name"], tuple(d["prompt_set"]["prompts"]),
                               None if groups is None else tuple(groups)),
                     GenerationSettings(**d["generation"]), **rest)


def config_for_run(store, run_id: str, **overrides) -> RunConfig:
    """The configuration a stored run was made with (e.g. to add another assistant's hypotheses)."""
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id}")
    stored = store.prompts(run_id)
    settings, clusters = run["settings"], run["cluster_settings"] or {}
    config = RunConfig(ModelSpec.from_dict(run["spec_a"]), ModelSpec.from_dict(run["spec_b"]),
                       PromptSet(run["prompt_set"], tuple(stored["prompt"]),
                                 tuple(stored["prompt_group"])),
                       GenerationSettings(**settings["generation"]),
                       validation_fraction=settings["validation_fraction"],
                       cluster_method=clusters.get("method", "kmeans"),
                       n_clusters=clusters.get("n_clusters"),
                       min_cluster_size=clusters.get("min_cluster_size", 10))
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def run_id_for(config: RunConfig) -> str:
    """Same pair, prompts and generation settings -> same run id, which is what makes resume work."""
    payload = {"a": fingerprint(config.spec_a), "b": fingerprint(config.spec_b),
               "prompts": config.prompt_set.name, "settings": config.run_settings()}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return "run-" + digest[:12]


def check_run(config: RunConfig) -> None:
    """What can be checked before anything is built, loaded or generated: the settings, the
    prompts, both specs (files, adapters, configs) and that the answers fit each context."""
    config.generation.check()
    if not config.prompt_set.prompts:
        raise ModelDiffError("the prompt set is empty")
    for side in SIDES:
        spec = config.spec(side)
        check_context(spec, check_spec(spec), config.generation.max_new_tokens)


def check_context(spec: ModelSpec, model_config, max_new_tokens: int) -> None:
    """Refuse answers longer than the model can hold (the prompt needs a position too)."""
    limit = organisms.CONTEXT if model_config is None else context_limit_of(model_config)
    if limit is not None and max_new_tokens >= limit:
        raise ModelDiffError(f"max new tokens {max_new_tokens} does not fit {spec.label}: its "
                             f"context is {limit} positions, so at most {limit - 1}")


def load_pair(config: RunConfig, cache: ModelCache,
              progress: Optional[ProgressCallback] = None) -> None:
    """Build (organisms, with progress) and load both models before anything is stored, so a
    model that cannot load costs neither the other side's texts nor a run row."""
    for side in SIDES:
        ensure_built(config.spec(side), progress)
    cache.retain([config.spec_a, config.spec_b])
    for side in SIDES:
        cache.get(config.spec(side))


def prepare_run(store, config: RunConfig) -> str:
    """Create (or find) the run of a checked config whose models are built."""
    run_id = run_id_for(config)
    store.upsert_run(run_id, model_a=config.spec_a.label, model_b=config.spec_b.label,
                     spec_a=config.spec_a.to_dict(), spec_b=config.spec_b.to_dict(),
                     fingerprint_a=fingerprint(config.spec_a),
                     fingerprint_b=fingerprint(config.spec_b),
                     prompt_set=config.prompt_set.name, settings=config.run_settings())
    store.save_prompts(run_id, assign_splits(config.prompt_set.prompts, config.generation.seed,
                                             config.validation_fraction,
                                             config.prompt_set.groups))
    return run_id


def generate_run(store, run_id: str, config: RunConfig, cache: ModelCache,
                 progress: Optional[ProgressCallback] = None) -> None:
    prompts = store.prompts(run_id)
    cache.retain([config.spec_a, config.spec_b])
    for side in SIDES:
        lm = cache.get(config.spec(side))
        generate_side(store, run_id, side, lm, prompts, config.generation, progress)


DISCOVERY_COLUMNS = {"size_a": "disc_size_a", "size_b": "disc_size_b",
                     "log_odds": "disc_log_odds", "p_value": "disc_p_value",
                     "q_value": "disc_q_value"}


def cluster_tables(labels, sides, prompt_ids, splits, seed: int = 0) -> pd.DataFrame:
    """The cluster table over all texts (for the map; descriptive), joined with the same table
    over discovery texts only (`disc_*` columns): the one proposal reads, so that validation
    texts never steer which clusters are mined."""
    labels, splits = np.asarray(labels), np.asarray(splits)
    table = stats.cluster_table(labels, sides, prompt_ids, seed=seed)
    disc = splits == "discovery"
    part = stats.cluster_table(labels[disc], np.asarray(sides)[disc],
                               np.asarray(prompt_ids)[disc], seed=seed)
    part = part[["cluster_id", *DISCOVERY_COLUMNS]].rename(columns=DISCOVERY_COLUMNS)
    table = table.merge(part, on="cluster_id", how="left")
    for col in ("disc_size_a", "disc_size_b"):
        table[col] = table[col].fillna(0).astype(int)
    return table


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
    table = cluster_tables(labels, gens["side"].to_numpy(), gens["prompt_id"].to_numpy(),
                           gens["split"].to_numpy(), seed)
    terms = top_terms(gens["text"].tolist(), labels)
    table["top_terms"] = table["cluster_id"].map(terms).fillna("")
    points = gens[["side", "prompt_id", "sample_idx"]].assign(
        cluster_id=labels.astype(int), x=xy[:, 0], y=xy[:, 1])
    store.replace_clustering(run_id, points, table, config.cluster_settings())
    return table


def proposal_settings(config: RunConfig) -> dict:
    """What a hypothesis set depends on beyond the run's texts: change any of it and the
    stored set no longer describes what the run would now propose and test."""
    return {"clusters": config.cluster_settings(), "alpha": config.alpha,
            "refine_rounds": config.refine_rounds, "max_judge_texts": config.max_judge_texts,
            "n_pairs": config.n_pairs, "judge_mode": config.judge_mode}


def _settings_label(key: str, settings: dict, taken: list[str]) -> str:
    c = settings.get("clusters", {})
    label = (f"{key} [{c.get('method', 'kmeans')}, {c.get('n_clusters') or 'auto'} clusters, "
             f"{settings.get('refine_rounds')} refine rounds, "
             f"{settings.get('max_judge_texts')} judged texts]")
    n, out = 1, label
    while out in taken:
        n += 1
        out = f"{label} #{n}"
    return out


def set_aside_stale(store, run_id: str, key: str, settings: dict) -> Optional[str]:
    """A stored set proposed with other settings is kept under a label naming them, and the
    set's own name is freed for a new proposal; returns a note saying so (None: nothing)."""
    before = store.proposal_settings(run_id, key)
    if before is None or before == settings or store.hypotheses(run_id, key).empty:
        return None
    label = _settings_label(key, before, store.hypothesis_sets(run_id))
    store.set_aside_hypotheses(run_id, key, label)
    changed = ", ".join(k for k in settings if before.get(k) != settings[k])
    return (f"the stored hypotheses were made with other settings ({changed}); they are kept "
            f"as the set '{label}' and the hypotheses are proposed anew")


def hypotheses_run(store, run_id: str, config: RunConfig, assistant: Assistant,
                   cache: ModelCache, progress: Optional[ProgressCallback] = None) -> list[str]:
    """Propose from discovery texts (once per settings; stored), validate each hypothesis on
    validation texts (each test stored as it finishes), then Benjamini-Hochberg across the
    run's hypotheses. Returns notes for the researcher (a set put aside)."""
    key, seed = config.assistant_settings().hypothesis_set, config.generation.seed
    settings = proposal_settings(config)
    note = set_aside_stale(store, run_id, key, settings)
    stored = store.hypotheses(run_id, key)
    if stored.empty or store.proposal_settings(run_id, key) is None:
        # Sets stored before settings were recorded are taken as made with these.
        store.save_proposal_settings(run_id, key, settings)
    if stored.empty:
        found = propose_hypotheses(assistant, store.points(run_id), store.clusters(run_id),
                                   alpha=config.alpha, rounds=config.refine_rounds, seed=seed,
                                   progress=progress)
        store.save_hypotheses(run_id, key, found)
        stored = store.hypotheses(run_id, key)
    val = store.generations(run_id, split="validation")
    judged = heldout_for(store, run_id, val, config.max_judge_texts, seed)
    disc = store.generations(run_id, split="discovery")
    done = store.validations(run_id, key)
    done_keys = set(zip(done["hypothesis_id"], done["test"])) if not done.empty else set()
    finished = {h for h in stored["hypothesis_id"]
                if {(h, "discriminative"), (h, "generative")} <= done_keys}
    # Hypotheses validated before count as done, not as work: the rate is of work done now.
    bar = StageProgress(progress, "validate", len(stored), unit="hypotheses", done=len(finished))
    failed: list[str] = []
    for row in stored.itertuples():
        if row.hypothesis_id in finished:
            continue
        h = Hypothesis(row.text, row.direction, row.source, row.predicate, row.evidence)
        # A malformed assistant answer fails that one step: it is reported, nothing stored is
        # touched, and the same run started again retries just the missing steps.
        try:
            if (row.hypothesis_id, "discriminative") not in done_keys:
                r = discriminative(assistant, h, judged["text"].tolist(), judged["side"].tolist(),
                                   judged["prompt_id"].tolist(), seed, config.judge_mode)
                r["keys"] = judged[["side", "prompt_id", "sample_idx"]].values.tolist()
                store.save_validation(run_id, key, row.hypothesis_id, "discriminative", r)
        except AssistantAnswerError as err:
            failed.append(f"{row.hypothesis_id} discriminative: {err}")
        try:
            if (row.hypothesis_id, "generative") not in done_keys:
                _generative_step(store, run_id, key, row.hypothesis_id, h, assistant, judged,
                                 disc, config, cache)
        except AssistantAnswerError as err:
            failed.append(f"{row.hypothesis_id} generative: {err}")
        bar.advance(1)
    store.set_run_failures(run_id, key, failed)
    apply_bh(store, run_id, key, config.alpha)
    return [note] if note else []


def heldout_for(store, run_id: str, val: pd.DataFrame, max_texts: int, seed: int) -> pd.DataFrame:
    """The run's held-out texts paired by prompt: chosen once per budget and stored, so every
    hypothesis, and every later look at the run, is judged on the same texts."""
    pairs = store.heldout(run_id, max_texts)
    if pairs.empty:
        pairs = paired_heldout(val, max_texts, seed)
        store.save_heldout(run_id, max_texts, pairs)
    return heldout_texts(val, pairs, seed)


def _generative_step(store, run_id, key, hypothesis_id, h, assistant, judged, disc, config,
                     cache) -> None:
    seed = config.generation.seed
    held = spread_over_prompts(judged)
    pairs = assistant.write_pairs(h, held["text"].tolist(), held["prompt"].tolist(),
                                  disc.loc[disc["side"] == "A", "text"].tolist(),
                                  disc.loc[disc["side"] == "B", "text"].tolist(), config.n_pairs)
    lm_a, lm_b = cache.get(config.spec_a), cache.get(config.spec_b)
    r = generative(pairs, lm_a, lm_b, use_chat_template=config.generation.use_chat_template,
                   seed=seed)
    r["pairs"] = [{"favoured": p.favoured, "contrast": p.contrast, "prompt": p.prompt}
                  for p in pairs]
    store.save_validation(run_id, key, hypothesis_id, "generative", r)


def apply_bh(store, run_id: str, key: str, alpha: float) -> pd.DataFrame:
    """q-values across all of the run's hypotheses, per test; validated = discriminative q < alpha."""
    val = store.validations(run_id, key)
    if val.empty:
        return val
    for test in ("discriminative", "generative"):
        part = val[val["test"] == test]
        q = stats.benjamini_hochberg(part["p_value"].astype(float).to_numpy())
        val.loc[part.index, "q_value"] = q
    val["validated"] = (val["test"] == "discriminative") & (val["q_value"] < alpha)
    store.set_q_values(run_id, key, val[["hypothesis_id", "test", "q_value", "validated"]], alpha)
    return val


def run_pipeline(store, config: RunConfig, cache: Optional[ModelCache] = None,
                 embedder: Optional[Embedder] = None,
                 progress: Optional[ProgressCallback] = None, api_key: Optional[str] = None,
                 on_run_id: Optional[Callable[[str], None]] = None) -> dict:
    """The whole pipeline; `api_key` (a session's key) is used, never stored; `on_run_id` hears
    the run id as soon as it exists (a job's row), before any text is generated."""
    cache = cache or ModelCache()
    embedder = embedder or default_embedder()
    check_run(config)
    settings = config.assistant_settings()
    make_assistant(settings, store, api_key=api_key)  # a missing key fails here, before any work
    load_pair(config, cache, progress)
    run_id = prepare_run(store, config)
    if on_run_id is not None:
        on_run_id(run_id)
    assistant = make_assistant(settings, store, run_id, config.generation.seed, api_key,
                               embedder.embed)
    try:
        store.set_run_status(run_id, "generating")
        generate_run(store, run_id, config, cache, progress)
        store.set_run_status(run_id, "clustering")
        cluster_run(store, run_id, config, embedder, progress)
        store.set_run_status(run_id, "hypotheses")
        notes = hypotheses_run(store, run_id, config, assistant, cache, progress)
        result = build_result(store, run_id, settings.hypothesis_set)
        result["notes"] = notes
    except BaseException:
        store.set_run_status(run_id, "interrupted")
        raise
    store.save_result(run_id, result)
    store.set_run_status(run_id, "done")
    return result


# ----------------------------------------------------------------- ground truth


