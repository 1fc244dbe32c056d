"""The kinds of work, each a function of (store, params, ctx): the run of the pipeline, a
researcher's own hypothesis tested on a run, export, and every analysis of `methods.registry`.
The CLI and the dashboard's jobs are thin adapters onto these, so the two never rebuild the
same calls differently. A job stores its kind and `params.to_dict()`; resuming reads them back
through `KINDS`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .context import Context
from .methods.registry import METHODS, method

__all__ = ["Context", "KINDS", "OLDER_KINDS", "judge_plan", "run", "export", "ExportParams"]


def judge_plan(config) -> Optional[str]:
    """What the run's LLM judge will be asked and cost, said before anything starts (None for
    a free judge). A missing key is refused first: no estimate for a run that cannot start."""
    from .llm import KEY_VARS, read_key
    from .stages.hypotheses import judge_plan as plan

    h = config.hypotheses
    if h.assistant in KEY_VARS:
        read_key(h.assistant, None, h.assistant_key_file)  # (the CLI has no session key)
    return plan(h)


def run(store, config, ctx: Context) -> dict:
    """The pipeline on a RunConfig; the run id is announced once the models' files exist."""
    from .pipeline import run_pipeline

    if ctx.model_keys:
        config.model_keys = ctx.model_keys
    return run_pipeline(store, config, cache=ctx.cache, embedder=ctx.embedder(config.clustering.embedder),
                        progress=ctx.progress, api_key=ctx.api_key, on_run_id=ctx.on_run_id)


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


def hypothesis(store, params, ctx: Context) -> dict:
    """A researcher's own hypothesis (`stages.own`): stored in its set, then the run is started
    again on its stored rows, so only its tests run and the ledger and result are made anew."""
    from .pipeline import config_for_run
    from .stages.own import check_own, own_hypothesis, set_settings

    params = check_own(store, params, ctx.api_key)
    hypothesis_id = store.add_hypothesis(params.run_id, params.hypothesis_set,
                                         own_hypothesis(params))
    config = config_for_run(store, params.run_id, set_settings(
        store, params.run_id, params.hypothesis_set, params.assistant_base_url))
    return {"hypothesis_id": hypothesis_id, "result": run(store, config, ctx)}


def _own_params(d: dict):
    from .stages.own import OwnParams

    return OwnParams.from_dict(d)


def _run_params(d: dict):
    from .pipeline import config_from_dict

    return config_from_dict(d)


def plan(kind: str):
    """The job kind's stages in order (a progress.StagePlan), or None: its stages unnumbered."""
    if kind in ("run", "hypothesis"):
        from .pipeline import RUN_STAGES

        return RUN_STAGES
    return getattr(method(kind).face.run, "STAGES", None)


# Job kind -> (its params read back from the stored dict, the command).
KINDS = {"run": (_run_params, run), "hypothesis": (_own_params, hypothesis),
         **{m.name: (m.read, m.run) for m in METHODS if m.job}}
# Kinds stored by earlier versions, and the kind each is now.
OLDER_KINDS = {"pipeline": "run"}
