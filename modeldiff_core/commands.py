"""One function per kind of work — run, plant, truth-bench, quant, layers, probe, features — each taking its
parameters as one dataclass (whose `to_dict` is what a job stores and `from_dict` reads back).
The CLI and the dashboard's jobs are thin adapters onto these, so the two never rebuild the
same calls differently."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from .config import ModelDiffError
from .models.loading import ModelCache
from .models.spec import ModelSpec, ensure_built
from .progress import ProgressCallback
from .stages.generate import GenerationSettings


@dataclass
class Context:
    """What a command runs with, beside its parameters: the shared model cache, the embedder
    (made on first use), where progress goes, a session's API key (never stored), and who
    wants to know the run id as soon as it is known (a job's row)."""
    cache: ModelCache = field(default_factory=ModelCache)
    make_embedder: Optional[Callable] = None
    progress: Optional[ProgressCallback] = None
    api_key: Optional[str] = None
    on_run_id: Callable[[str], None] = lambda run_id: None
    model_keys: Optional[dict] = None  # endpoint models' keys by side ("A", "B"), never stored

    def embedder(self):
        from .stages.embed import default_embedder

        return self.make_embedder() if self.make_embedder else default_embedder()


# ------------------------------------------------------------------------------ run
def judge_plan(config) -> Optional[str]:
    """What the run's LLM judge will be asked and cost, said before anything starts (None for
    a free judge). A missing key is refused first: no estimate for a run that cannot start."""
    from .assistants.llm import KEY_VARS, read_key
    from .hypotheses.stage import judge_plan as plan

    if config.assistant in KEY_VARS:
        read_key(config.assistant, None, config.assistant_key_file)  # (the CLI has no session key)
    return plan(config)


def run(store, config, ctx: Context) -> dict:
    """The pipeline on a RunConfig; the run id is announced once the models' files exist."""
    from .pipeline import run_pipeline

    if ctx.model_keys:
        config.model_keys = ctx.model_keys
    return run_pipeline(store, config, cache=ctx.cache, embedder=ctx.embedder(),
                        progress=ctx.progress, api_key=ctx.api_key, on_run_id=ctx.on_run_id)


# -------------------------------------------------------------------------- plant
@dataclass
class PlantParams:
    plant: object  # a pipeline.PlantConfig
    evaluate: bool = False  # then the pipeline on base vs finetune, scored against the truths
    generation: GenerationSettings = field(default_factory=GenerationSettings)

    def to_dict(self) -> dict:
        from .methods.ground_truth.plant import plant_to_dict

        return {"plant": plant_to_dict(self.plant), "evaluate": self.evaluate,
                "generation": self.generation.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "PlantParams":
        from .methods.ground_truth.plant import plant_from_dict

        # Jobs stored before this field existed evaluated by default.
        return cls(plant_from_dict(d["plant"]), d.get("evaluate", True),
                   GenerationSettings(**d.get("generation", {})))


def plant(store, params: PlantParams, ctx: Context) -> dict:
    """The finetune's row (with `spec_b`); with `evaluate`, also `scored`: the pipeline run on
    base vs finetune, scored against the planted truths."""
    from .methods.ground_truth.bench import evaluate_finetune
    from .methods.ground_truth.plant import plant as plant_finetune

    row = plant_finetune(store, params.plant, cache=ctx.cache, progress=ctx.progress,
                         api_key=ctx.api_key)
    if params.evaluate:
        row["scored"] = evaluate_finetune(store, params.plant.base, row["spec_b"], row["truths"],
                                          params.generation, cache=ctx.cache,
                                          embedder=ctx.embedder(), progress=ctx.progress)
        ctx.on_run_id(row["scored"]["run_id"])
    return row


# -------------------------------------------------------------------- truth-bench
@dataclass
class BenchParams:
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    subtle: bool = False  # the modest truths too
    max_judge_prompts: int = 120

    def to_dict(self) -> dict:
        return {"generation": self.generation.to_dict(), "subtle": self.subtle,
                "max_judge_prompts": self.max_judge_prompts}

    @classmethod
    def from_dict(cls, d: dict) -> "BenchParams":
        return cls(GenerationSettings(**d.get("generation", {})), d.get("subtle", False),
                   d.get("max_judge_prompts", 120))


def truth_bench(store, params: BenchParams, ctx: Context) -> dict:
    from .methods.ground_truth.bench import truth_bench as bench
    from .methods.ground_truth.truths import BUILTIN_TRUTHS, SUBTLE_TRUTHS

    truths = [t.text for t in [*BUILTIN_TRUTHS, *(SUBTLE_TRUTHS if params.subtle else [])]]
    return bench(store, generation=params.generation, cache=ctx.cache, embedder=ctx.embedder(),
                 progress=ctx.progress, truths=truths, max_judge_prompts=params.max_judge_prompts)


# ---------------------------------------------------------------------------- quant
@dataclass
class QuantParams:
    spec: ModelSpec
    levels: list
    reference: str = "fp32"
    prompts_file: Optional[str] = None  # texts to score instead of the built-in ones
    texts: Optional[list] = None  # or the texts themselves (an upload), named `eval_set`
    eval_set: Optional[str] = None
    batch_size: int = 16

    def to_dict(self) -> dict:
        return {"spec": self.spec.to_dict(), "levels": list(self.levels),
                "reference": self.reference, "prompts_file": self.prompts_file,
                "texts": self.texts, "eval_set": self.eval_set, "batch_size": self.batch_size}

    @classmethod
    def from_dict(cls, d: dict) -> "QuantParams":
        return cls(ModelSpec.from_dict(d["spec"]), list(d["levels"]), d.get("reference", "fp32"),
                   d.get("prompts_file"), d.get("texts"), d.get("eval_set"),
                   d.get("batch_size", 16))


def quant(store, params: QuantParams, ctx: Context) -> dict:
    from .methods.quant.study import EvalSet, eval_set_for, quant_study

    eval_set = eval_set_for(params.spec, params.prompts_file)
    if params.texts:  # an uploaded set replaces the texts; the multiple-choice set stays
        eval_set = EvalSet(params.eval_set or "upload", tuple(params.texts), eval_set.mc)
    return quant_study(store, params.spec, params.levels, params.reference, eval_set,
                       batch_size=params.batch_size, progress=ctx.progress)


# --------------------------------------------------------------------------- layers
@dataclass
class LayersParams:
    run_id: Optional[str] = None  # a stored run: its texts, hypotheses and prompts
    spec_a: Optional[ModelSpec] = None  # without a run: the pair itself (weights, activations)
    spec_b: Optional[ModelSpec] = None
    hypothesis_set: str = "offline"  # which of the run's hypothesis sets (its assistant judges)
    scales: Optional[list] = None  # factors on B's change; None: the lens's default grid
    window: int = 1
    n_generations: int = 32
    n_texts: int = 200
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None

    def to_dict(self) -> dict:
        return {"run_id": self.run_id,
                "spec_a": None if self.spec_a is None else self.spec_a.to_dict(),
                "spec_b": None if self.spec_b is None else self.spec_b.to_dict(),
                "hypothesis_set": self.hypothesis_set, "scales": self.scales, "window": self.window,
                "n_generations": self.n_generations, "n_texts": self.n_texts,
                "assistant_base_url": self.assistant_base_url,
                "assistant_key_file": self.assistant_key_file}

    @classmethod
    def from_dict(cls, d: dict) -> "LayersParams":
        spec = lambda s: None if s is None else ModelSpec.from_dict(s)  # noqa: E731
        # Jobs stored by earlier versions name the scales "alphas" and the set "assistant".
        return cls(d.get("run_id"), spec(d.get("spec_a")), spec(d.get("spec_b")),
                   d.get("hypothesis_set", d.get("assistant", "offline")), d.get("scales", d.get("alphas")),
                   d.get("window", 1), d.get("n_generations", 32), d.get("n_texts", 200),
                   d.get("assistant_base_url"), d.get("assistant_key_file"))

    def lens_settings(self):
        from .methods.layers.settings import DEFAULT_SCALES, LensSettings

        return LensSettings(scales=self.scales if self.scales is not None else DEFAULT_SCALES,
                            window=self.window, n_texts=self.n_texts,
                            n_generations=self.n_generations)


def layers(store, params: LayersParams, ctx: Context) -> dict:
    """The layer lens: for a stored run (and saved with it), or for a bare pair."""
    from .assistants.registry import judge_for
    from .methods.layers.lens import layer_lens, layer_lens_for_run
    from .methods.layers.settings import LensInputs
    from .methods.quant.study import eval_set_for

    if params.run_id is None:
        if params.spec_a is None or params.spec_b is None:
            raise ModelDiffError("the layer lens needs a run or both models")
        for spec in (params.spec_a, params.spec_b):
            ensure_built(spec, ctx.progress)
        texts = list(eval_set_for(params.spec_a).texts)[:params.n_texts]
        return layer_lens(ctx.cache.get(params.spec_a), ctx.cache.get(params.spec_b),
                          LensInputs(texts), params.lens_settings(), progress=ctx.progress)
    run = store.get_run(params.run_id)
    if run is None:
        raise ModelDiffError(f"no run {params.run_id} in the database")
    ctx.on_run_id(params.run_id)
    stored = (ModelSpec.from_dict(run["spec_a"]), ModelSpec.from_dict(run["spec_b"]))
    if params.spec_a is not None and stored != (params.spec_a, params.spec_b):
        raise ModelDiffError(f"run {params.run_id} compares {stored[0].label} with "
                             f"{stored[1].label}, not the models given")
    judge = judge_for(store, params.run_id, params.hypothesis_set, params.assistant_base_url,
                      params.assistant_key_file, api_key=ctx.api_key)
    # Models of its own: the interventions rewrite weights in place while they run, which
    # another job sharing the cache must never see.
    result = layer_lens_for_run(store, params.run_id, ModelCache(), params.hypothesis_set,
                                params.lens_settings(), judge=judge, progress=ctx.progress)
    store.save_layer_lens(params.run_id, params.hypothesis_set, result)
    return result


# --------------------------------------------------------------------------- export
@dataclass
class ExportParams:
    run_id: str
    out_dir: str  # a folder: one file of answers per side is written there


def export(store, params: ExportParams, ctx: Context) -> dict:
    """A run's texts as two `outputs:` files (prompt, output, sample, model, group, id): what
    `run --model-a outputs:… --model-b outputs:…` reads back."""
    from .stages.export import export_run

    path_a, path_b = export_run(store, params.run_id, params.out_dir)
    return {"run_id": params.run_id, "A": str(path_a), "B": str(path_b)}


# ---------------------------------------------------------------------------- probe
@dataclass
class ProbeParams:
    run_id: str
    hypothesis_set: str = "offline"  # whose hypotheses; that set's assistant plays
    hypothesis_ids: Optional[list] = None  # None: the set's validated hypotheses
    settings: object = None  # a methods.probe.game.ProbeSettings (None: its defaults)
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None

    def __post_init__(self):
        from .methods.probe.game import ProbeSettings

        if self.settings is None:
            self.settings = ProbeSettings()

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "hypothesis_set": self.hypothesis_set,
                "hypothesis_ids": self.hypothesis_ids, "settings": self.settings.to_dict(),
                "assistant_base_url": self.assistant_base_url,
                "assistant_key_file": self.assistant_key_file}

    @classmethod
    def from_dict(cls, d: dict) -> "ProbeParams":
        from .methods.probe.game import ProbeSettings

        return cls(d["run_id"], d.get("hypothesis_set", "offline"), d.get("hypothesis_ids"),
                   ProbeSettings(**d.get("settings", {})), d.get("assistant_base_url"),
                   d.get("assistant_key_file"))


def probe(store, params: ProbeParams, ctx: Context) -> dict:
    """The probe game on a stored run's hypotheses. Everything cheap is checked first (the
    settings, the run, that both models can answer new prompts, the hypotheses, the assistant's
    key); then the models are loaded and the games played."""
    from .assistants.registry import AssistantSettings, make_assistant
    from .methods.probe.game import Players
    from .methods.probe.stage import chosen_hypotheses, probe_run
    from .pipeline import config_for_run, load_pair, make_sources

    params.settings.check()
    if store.get_run(params.run_id) is None:
        raise ModelDiffError(f"no run {params.run_id} in the database")
    config = config_for_run(store, params.run_id)
    sources = make_sources(config, ctx.cache, store, ctx.model_keys)
    lacking = [f"model {side}: {why}" for side, src in sorted(sources.items())
               if (why := src.lacks_answers())]
    if lacking:
        raise ModelDiffError("the probe game needs models that answer new prompts; "
                             + "; ".join(lacking))
    for source in sources.values():
        source.check(config.generation)
    chosen = chosen_hypotheses(store, params.run_id, params.hypothesis_set, params.hypothesis_ids)
    settings = AssistantSettings.for_set(params.hypothesis_set, params.assistant_base_url,
                                         params.assistant_key_file)
    bare = [h for h, p in zip(chosen["hypothesis_id"], chosen["predicate"]) if p is None]
    if settings.kind == "offline" and bare:
        raise ModelDiffError(f"the offline assistant plays only hypotheses with a predicate; "
                             f"{', '.join(bare)} has none")
    assistant = make_assistant(settings, store, params.run_id, config.generation.seed,
                               ctx.api_key)
    if settings.kind == "offline":  # it is shown no examples: their number must not key games
        params.settings = replace(params.settings, examples=0)
    ctx.on_run_id(params.run_id)
    load_pair(sources, ctx.cache, ctx.progress)
    return probe_run(store, params.run_id, params.hypothesis_set, chosen,
                     Players(assistant, sources, config.generation), params.settings, ctx.progress)


# ------------------------------------------------------------------------- features
@dataclass
class FeaturesParams:
    run_id: str
    hypothesis_set: str = "offline"  # whose validated hypotheses are linked and scaled
    settings: object = None  # a methods.features.lens.FeatureSettings (None: its defaults)
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None

    def __post_init__(self):
        from .methods.features.lens import FeatureSettings

        if self.settings is None:
            self.settings = FeatureSettings()

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "hypothesis_set": self.hypothesis_set,
                "settings": self.settings.to_dict(),
                "assistant_base_url": self.assistant_base_url,
                "assistant_key_file": self.assistant_key_file}

    @classmethod
    def from_dict(cls, d: dict) -> "FeaturesParams":
        from .methods.features.lens import FeatureSettings

        return cls(d["run_id"], d.get("hypothesis_set", "offline"),
                   FeatureSettings.from_dict(d.get("settings", {})),
                   d.get("assistant_base_url"), d.get("assistant_key_file"))


def features(store, params: FeaturesParams, ctx: Context) -> dict:
    """The feature lens on a stored run (saved with it). The settings, the run, that both
    models have weights and the judge's key are checked before any model is loaded."""
    from .assistants.registry import judge_for
    from .methods.features.lens import feature_lens_for_run
    from .models.spec import check_spec, needs_weights

    params.settings.check()
    run = store.get_run(params.run_id)
    if run is None:
        raise ModelDiffError(f"no run {params.run_id} in the database")
    specs = [ModelSpec.from_dict(run[f"spec_{side}"]) for side in "ab"]
    for spec in specs:
        needs_weights(spec, "the feature lens")
    layer = params.settings.layer
    config = check_spec(specs[1]) if layer is not None else None  # None: an organism not built
    n_layers = getattr(getattr(config, "text_config", None) or config, "num_hidden_layers", None)
    if n_layers and layer >= n_layers:
        raise ModelDiffError(f"the models have layers 0 to {n_layers - 1}, not {layer}")
    judge = judge_for(store, params.run_id, params.hypothesis_set, params.assistant_base_url,
                      params.assistant_key_file, api_key=ctx.api_key)
    for spec in specs:
        ensure_built(spec, ctx.progress)
    ctx.on_run_id(params.run_id)
    # Models of its own: the lens hooks B's MLP while it scales, which another job sharing
    # the cache must never see.
    result = feature_lens_for_run(store, params.run_id, ModelCache(), params.hypothesis_set,
                                  params.settings, judge=judge, progress=ctx.progress)
    store.save_feature_lens(params.run_id, params.hypothesis_set, result)
    return result


def _run_params(d: dict):
    from .pipeline import config_from_dict

    return config_from_dict(d)


# Job kind -> (its params read back from the stored dict, the command). A job stores the kind
# and `params.to_dict()`; resuming reads them back through this table.
KINDS = {"pipeline": (_run_params, run),
         "plant": (PlantParams.from_dict, plant),
         "truth-bench": (BenchParams.from_dict, truth_bench),
         "quant": (QuantParams.from_dict, quant),
         "layers": (LayersParams.from_dict, layers),
         "probe": (ProbeParams.from_dict, probe),
         "features": (FeaturesParams.from_dict, features)}
