"""The quantization study on its params: every level against the reference, resumed from the
levels stored."""
from __future__ import annotations

from .settings import Params


def run(store, params: Params, ctx) -> dict:
    from ..common.eval_sets import EvalSet, eval_set_for
    from .study import quant_study

    eval_set = eval_set_for(params.spec, params.prompts_file)
    if params.texts:  # an uploaded set replaces the texts; the multiple-choice set stays
        eval_set = EvalSet(params.eval_set or "upload", tuple(params.texts), eval_set.mc)
    return quant_study(store, params.spec, params.levels, params.reference, eval_set,
                       batch_size=params.batch_size, progress=ctx.progress)
