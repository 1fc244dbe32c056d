"""The one orchestration used by the CLI and the dashboard: pair -> prompts -> generations ->
embeddings -> clusters and map -> result. Every stage reads what is stored before it computes,
so running the same configuration again resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from .assistants.registry import make_assistant
from .config import ModelDiffError
from .stages.self_check import self_check
from .stages.hypotheses import RunParts, hypotheses_run
from .models.loading import ModelCache
from .models.sources import Source, make_source
from .models.spec import ModelSpec, ensure_built, fingerprint
from .progress import ProgressCallback, StagePlan
from .results import SIDES, build_result
from .stages.cluster import cluster_run
from .embedders import EMBEDDERS, Embedder, make_embedder, suggestion
from .stages.embed import reading
from .stages.generate import generate_side
from .models.generation import GenerationSettings
from .stages.prompts import PromptSet, assign_splits, check_splittable
from .stages.settings import ClusterSettings, HypothesisSettings
from .store.runs import RunRecord


# The run's stages as its progress names them (a file of answers is imported, not generated).
RUN_STAGES = StagePlan(("generate A", "import A"), ("generate B", "import B"), "embed",
                       "cluster and map", "propose", "validate", "self-check")


@dataclass
class RunConfig:
    """A run: the pair, the prompts, and one part per stage that has settings of its own."""
    spec_a: ModelSpec
    spec_b: ModelSpec
    prompt_set: PromptSet
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    validation_fraction: float = 0.5
    clustering: ClusterSettings = field(default_factory=ClusterSettings)
    hypotheses: HypothesisSettings = field(default_factory=HypothesisSettings)
    notes: tuple = ()  # what the researcher should know about the pair (prompts left out)
    # A session's API keys for endpoint models, by side: used, never stored (not in to_dict).
    model_keys: Optional[dict] = field(default=None, repr=False, compare=False)

    def spec(self, side: str) -> ModelSpec:
        return self.spec_a if side == "A" else self.spec_b

    def run_settings(self) -> dict:
        # split_unit: the split hashes prompt groups (runs made before hashed prompts alone).
        return {"generation": self.generation.to_dict(),
                "validation_fraction": self.validation_fraction, "split_unit": "group"}

    def cluster_settings(self) -> dict:
        return self.clustering.stored(self.generation.seed)

    def parts(self) -> RunParts:
        """What the hypotheses stage and the self-check take of this configuration."""
        return RunParts(self.hypotheses, self.generation, self.cluster_settings())


# Job params stored before the run's configuration had parts held them flat, under these names.
_FLAT_CLUSTERING = {"cluster_method": "method", "n_clusters": "n_clusters",
                    "min_cluster_size": "min_cluster_size"}


def config_to_dict(config: RunConfig) -> dict:
    """JSON-able form of a config (job params); `config_from_dict` inverts it."""
    return {"spec_a": config.spec_a.to_dict(), "spec_b": config.spec_b.to_dict(),
            "prompt_set": {"name": config.prompt_set.name,
                           "prompts": list(config.prompt_set.prompts),
                           "groups": None if config.prompt_set.groups is None
                           else list(config.prompt_set.groups)},
            "generation": config.generation.to_dict(),
            "validation_fraction": config.validation_fraction,
            "clustering": config.clustering.to_dict(), "hypotheses": config.hypotheses.to_dict(),
            "notes": list(config.notes)}


def config_from_dict(d: dict) -> RunConfig:
    """A config from job params, those of earlier versions (flat settings) included."""
    clustering = d.get("clustering") or {new: d[old] for old, new in _FLAT_CLUSTERING.items()
                                         if old in d}
    hypotheses = d.get("hypotheses") or {k: d[k] for k in HypothesisSettings.__dataclass_fields__
                                         if k in d}
    groups = d["prompt_set"].get("groups")
    return RunConfig(ModelSpec.from_dict(d["spec_a"]), ModelSpec.from_dict(d["spec_b"]),
                     PromptSet(d["prompt_set"]["name"], tuple(d["prompt_set"]["prompts"]),
                               None if groups is None else tuple(groups)),
                     GenerationSettings(**d["generation"]),
                     d.get("validation_fraction", 0.5), ClusterSettings.from_dict(clustering),
                     HypothesisSettings.from_dict(hypotheses), tuple(d.get("notes", ())))


def config_for_run(store, run_id: str,
                   hypotheses: Optional[HypothesisSettings] = None) -> RunConfig:
    """The configuration a stored run was made with; `hypotheses`: how to propose and test
    anew (another assistant's hypotheses on the same texts)."""
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id}")
    stored = store.prompts(run_id)
    settings, clusters = run["settings"], run["cluster_settings"] or {}
    clustering = ClusterSettings.from_dict(clusters)
    if clustering.embedder not in EMBEDDERS:  # stored before embedders had names to choose
        clustering = replace(clustering, embedder="default")
    return RunConfig(ModelSpec.from_dict(run["spec_a"]), ModelSpec.from_dict(run["spec_b"]),
                     PromptSet(run["prompt_set"], tuple(stored["prompt"]),
                               tuple(stored["prompt_group"])),
                     GenerationSettings(**settings["generation"]),
                     settings["validation_fraction"], clustering,
                     hypotheses or HypothesisSettings())


def run_id_for(config: RunConfig) -> str:
    """Same pair, prompts and generation settings -> same run id, which is what makes resume work."""
    payload = {"a": fingerprint(config.spec_a), "b": fingerprint(config.spec_b),
               "prompts": config.prompt_set.name, "settings": config.run_settings()}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return "run-" + digest[:12]


def make_sources(config: RunConfig, cache: ModelCache, store=None,
                 api_keys: Optional[dict] = None) -> dict[str, Source]:
    """side -> where its texts come from; `api_keys`: a session's endpoint keys by side."""
    return {side: make_source(config.spec(side), cache, store, (api_keys or {}).get(side))
            for side in SIDES}


def check_run(config: RunConfig, sources: Optional[dict] = None) -> None:
    """What can be checked before anything is built, loaded or generated: the settings, the
    prompts and both sources (files, adapters, configs, keys, servers; that the answers fit
    each context)."""
    config.generation.check()
    if not config.prompt_set.prompts:
        raise ModelDiffError("the prompt set is empty")
    check_splittable(config.prompt_set, "the prompt set has")
    sources = sources or make_sources(config, ModelCache(), api_keys=config.model_keys)
    for side in SIDES:
        sources[side].check(config.generation)


def load_pair(sources: dict, cache: ModelCache,
              progress: Optional[ProgressCallback] = None) -> None:
    """Build (organisms, with progress) and load both models before anything is stored, so a
    model that cannot load costs neither the other side's texts nor a run row."""
    weights = [s.spec for s in sources.values() if s.spec.has_weights]
    for spec in weights:  # built first, with progress: retain's fingerprints need the files
        ensure_built(spec, progress)
    cache.retain(weights)
    for side in SIDES:
        sources[side].prepare(progress)


def prepare_run(store, config: RunConfig) -> str:
    """Create (or find) the run of a checked config whose models are built."""
    run_id = run_id_for(config)
    store.upsert_run(run_id, RunRecord(
        model_a=config.spec_a.label, model_b=config.spec_b.label,
        spec_a=config.spec_a.to_dict(), spec_b=config.spec_b.to_dict(),
        fingerprint_a=fingerprint(config.spec_a), fingerprint_b=fingerprint(config.spec_b),
        prompt_set=config.prompt_set.name, settings=config.run_settings()))
    store.save_prompts(run_id, assign_splits(config.prompt_set.prompts, config.generation.seed,
                                             config.validation_fraction,
                                             config.prompt_set.groups))
    return run_id


def generate_run(store, run_id: str, config: RunConfig, sources: dict,
                 progress: Optional[ProgressCallback] = None) -> None:
    """Both sides' texts, through the one loop every source shares (stored rows skipped)."""
    prompts = store.prompts(run_id)
    for side in SIDES:
        generate_side(store, run_id, side, sources[side], prompts, config.generation, progress)


def run_pipeline(store, config: RunConfig, cache: Optional[ModelCache] = None,
                 embedder: Optional[Embedder] = None,
                 progress: Optional[ProgressCallback] = None, api_key: Optional[str] = None,
                 on_run_id: Optional[Callable[[str], None]] = None) -> dict:
    """The whole pipeline; `api_key` (a session's key) is used, never stored; `on_run_id` hears
    the run id as soon as it exists (a job's row), before any text is generated."""
    cache = cache or ModelCache()
    embedder = embedder or make_embedder(config.clustering.embedder)
    sources = make_sources(config, cache, store, config.model_keys)
    check_run(config, sources)
    settings = config.hypotheses.assistant_settings()
    make_assistant(settings, store, api_key=api_key)  # a missing key fails here, before any work
    load_pair(sources, cache, progress)
    run_id = prepare_run(store, config)
    if on_run_id is not None:
        on_run_id(run_id)
    assistant = make_assistant(settings, store, run_id, config.generation.seed, api_key,
                               embedder.embed)
    try:
        store.set_run_status(run_id, "generating")
        generate_run(store, run_id, config, sources, progress)
        store.set_run_status(run_id, "clustering")
        cluster_run(store, run_id, config.clustering, config.generation.seed, embedder,
                    progress)
        read = reading(embedder, store.generations(run_id)["text"].tolist())
        store.set_run_status(run_id, "hypotheses")
        parts = config.parts()
        notes = [*config.notes, *hypotheses_run(store, run_id, parts, assistant, sources,
                                                progress)]
        self_check(store, run_id, parts, assistant, progress)  # stored; read by build_result
        result = build_result(store, run_id, settings.hypothesis_set)
        result["embedding"] = read.to_dict()
        if read.n_long:  # long answers: read whole, or (the torch path) their beginnings only
            notes.append(read.note())
        hint = suggestion(embedder, read.n_texts)
        if hint:
            notes.append(hint)
        result["notes"] = notes
    except BaseException:
        store.set_run_status(run_id, "interrupted")
        raise
    store.save_result(run_id, result)
    store.set_run_status(run_id, "done")
    return result
