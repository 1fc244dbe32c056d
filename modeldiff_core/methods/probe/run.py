"""The probe game on a stored run's hypotheses. Everything cheap is checked first (the
settings, the run, that both models can answer new prompts, the hypotheses, the assistant's
key); then the models are loaded and the games played."""
from __future__ import annotations

from dataclasses import replace

from ...config import ModelDiffError
from .settings import Params


def _sources(store, params: Params, ctx):
    from ...pipeline import config_for_run, make_sources

    config = config_for_run(store, params.run_id)
    sources = make_sources(config, ctx.cache, store, ctx.model_keys)
    lacking = [f"model {side}: {why}" for side, src in sorted(sources.items())
               if (why := src.lacks_answers())]
    if lacking:
        raise ModelDiffError("the probe game needs models that answer new prompts; "
                             + "; ".join(lacking))
    for source in sources.values():
        source.check(config.generation)
    return config, sources


def run(store, params: Params, ctx) -> dict:
    from ...assistants.registry import AssistantSettings, make_assistant
    from ...pipeline import load_pair
    from .game import Players
    from .stage import chosen_hypotheses, probe_run

    params.settings.check()
    if store.get_run(params.run_id) is None:
        raise ModelDiffError(f"no run {params.run_id} in the database")
    config, sources = _sources(store, params, ctx)
    chosen = chosen_hypotheses(store, params.run_id, params.hypothesis_set, params.hypothesis_ids)
    settings = AssistantSettings.for_set(params.hypothesis_set, params.assistant_base_url,
                                         params.assistant_key_file)
    bare = [h for h, p in zip(chosen["hypothesis_id"], chosen["predicate"]) if p is None]
    if settings.kind == "offline" and bare:
        raise ModelDiffError(f"the offline assistant plays only hypotheses with a predicate; "
                             f"{', '.join(bare)} has none")
    assistant = make_assistant(settings, store, params.run_id, config.generation.seed,
                               ctx.api_key)
    probe_settings = params.settings
    if settings.kind == "offline":  # it is shown no examples: their number must not key games
        probe_settings = replace(probe_settings, examples=0)
    ctx.on_run_id(params.run_id)
    load_pair(sources, ctx.cache, ctx.progress)
    return probe_run(store, params.run_id, params.hypothesis_set, chosen,
                     Players(assistant, sources, config.generation), probe_settings, ctx.progress)
