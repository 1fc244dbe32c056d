"""The token diff on its params: every token of the text under A and B (`diff.TokenDiff`, as
a dict). It answers while the caller waits: no job."""
from __future__ import annotations

from ...models.spec import ensure_built
from .settings import Params


def run(store, params: Params, ctx) -> dict:
    from .diff import token_diff

    for spec in (params.spec_a, params.spec_b):
        ensure_built(spec, ctx.progress)
    view = token_diff(ctx.cache.get(params.spec_a), ctx.cache.get(params.spec_b), params.text,
                      params.prompt, params.use_chat_template)
    return {"model_a": params.spec_a.label, "model_b": params.spec_b.label, **view.to_dict()}
