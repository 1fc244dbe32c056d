"""The layer lens on its params: for a stored run (and saved with it), or for a bare pair."""
from __future__ import annotations

from ...config import ModelDiffError
from ...models.loading import ModelCache
from ...progress import StagePlan
from ...models.spec import ModelSpec, ensure_built
from ..common.inputs import LensInputs
from .settings import Params

# In order, as its progress names them.
STAGES = StagePlan("weight deltas", "activations", "layer scaling")


def run(store, params: Params, ctx) -> dict:
    from ...assistants.registry import judge_for
    from ..common.eval_sets import eval_set_for
    from .lens import layer_lens, layer_lens_for_run

    if params.run_id is None:
        if params.spec_a is None or params.spec_b is None:
            raise ModelDiffError("the layer lens needs a run or both models")
        for spec in (params.spec_a, params.spec_b):
            ensure_built(spec, ctx.progress)
        texts = list(eval_set_for(params.spec_a).texts)[:params.settings.n_texts]
        return layer_lens(ctx.cache.get(params.spec_a), ctx.cache.get(params.spec_b),
                          LensInputs(texts), params.settings, progress=ctx.progress)
    run_row = store.get_run(params.run_id)
    if run_row is None:
        raise ModelDiffError(f"no run {params.run_id} in the database")
    ctx.on_run_id(params.run_id)
    stored = (ModelSpec.from_dict(run_row["spec_a"]), ModelSpec.from_dict(run_row["spec_b"]))
    if params.spec_a is not None and stored != (params.spec_a, params.spec_b):
        raise ModelDiffError(f"run {params.run_id} compares {stored[0].label} with "
                             f"{stored[1].label}, not the models given")
    judge = judge_for(store, params.run_id, params.hypothesis_set, params.assistant_base_url,
                      params.assistant_key_file, api_key=ctx.api_key)
    # Models of its own: the interventions rewrite weights in place while they run, which
    # another job sharing the cache must never see.
    result = layer_lens_for_run(store, params.run_id, ModelCache(), params.hypothesis_set,
                                params.settings, judge=judge, progress=ctx.progress)
    store.save_method_result(params.run_id, "layers", params.hypothesis_set, result,
                             params.settings.to_dict())
    return result
