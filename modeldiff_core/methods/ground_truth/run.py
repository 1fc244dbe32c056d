"""The truth bench on its params: each built-in truth planted in its own finetune of the base
organism (plus a null), the pipeline on each pair, recovery scored."""
from __future__ import annotations

from .settings import Params


def run(store, params: Params, ctx) -> dict:
    from .bench import truth_bench
    from .truths import BUILTIN_TRUTHS, SUBTLE_TRUTHS

    truths = [t.text for t in [*BUILTIN_TRUTHS, *(SUBTLE_TRUTHS if params.subtle else [])]]
    return truth_bench(store, generation=params.generation, cache=ctx.cache,
                       embedder=ctx.embedder(), progress=ctx.progress, truths=truths,
                       max_judge_prompts=params.max_judge_prompts)
