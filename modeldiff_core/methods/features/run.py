"""The feature lens on its params, for a stored run (saved with it). The settings, the run,
that both models have weights and the judge's key are checked before any model is loaded."""
from __future__ import annotations

from ...config import ModelDiffError
from ...models.loading import ModelCache
from ...progress import StagePlan
from ...models.spec import ModelSpec, check_spec, ensure_built, needs_weights
from .settings import Params

# In order, as its progress names them.
STAGES = StagePlan("feature dictionaries", "feature table", "feature scaling")


def _check_layer(spec_b: ModelSpec, layer) -> None:
    config = check_spec(spec_b) if layer is not None else None  # None: an organism not built
    n_layers = getattr(getattr(config, "text_config", None) or config, "num_hidden_layers", None)
    if n_layers and layer >= n_layers:
        raise ModelDiffError(f"the models have layers 0 to {n_layers - 1}, not {layer}")


def run(store, params: Params, ctx) -> dict:
    from ...assistants.registry import judge_for
    from .lens import feature_lens_for_run

    params.settings.check()
    run_row = store.get_run(params.run_id)
    if run_row is None:
        raise ModelDiffError(f"no run {params.run_id} in the database")
    specs = [ModelSpec.from_dict(run_row[f"spec_{side}"]) for side in "ab"]
    for spec in specs:
        needs_weights(spec, "the feature lens")
    _check_layer(specs[1], params.settings.layer)
    judge = judge_for(store, params.run_id, params.hypothesis_set, params.assistant_base_url,
                      params.assistant_key_file, api_key=ctx.api_key)
    for spec in specs:
        ensure_built(spec, ctx.progress)
    ctx.on_run_id(params.run_id)
    # Models of its own: the lens hooks B's MLP while it scales, which another job sharing
    # the cache must never see.
    result = feature_lens_for_run(store, params.run_id, ModelCache(), params.hypothesis_set,
                                  params.settings, judge=judge, progress=ctx.progress)
    store.save_method_result(params.run_id, "features", params.hypothesis_set, result,
                             params.settings.to_dict())
    return result
