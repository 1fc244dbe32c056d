"""Named hook points on a loaded model and a cache of what they saw, in TransformerLens's
naming: `blocks.{i}.hook_resid_post` is the residual stream after block i (the block's output
hidden state). Hooks are plain forward hooks, removed when the capture ends."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ...config import ModelDiffError
from ...models.loading import LoadedModel
from .tensors import transformer_blocks


def resid_post(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


def hook_points(lm: LoadedModel) -> dict[str, Any]:
    """Hook point name -> the module whose output it is, one per transformer block."""
    return {resid_post(i): block for i, block in enumerate(transformer_blocks(lm))}


@contextmanager
def capture(points: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A cache, hook point name -> that module's output hidden state in the last forward
    pass, filled while the context is open."""
    cache: dict[str, Any] = {}

    def hook_for(name):
        def hook(module, inputs, output):
            cache[name] = output[0] if isinstance(output, (tuple, list)) else output
        return hook
    handles = [module.register_forward_hook(hook_for(name)) for name, module in points.items()]
    try:
        yield cache
    finally:
        for h in handles:
            h.remove()


def run_with_cache(lm: LoadedModel, points: dict[str, Any], ids, mask) -> dict[str, Any]:
    """One forward pass on (ids, mask); every hook point's output as fp32."""
    import torch

    with capture(points) as cache, torch.inference_mode():
        lm.model(input_ids=ids.to(lm.input_device), attention_mask=mask.to(lm.input_device))
    if any(not hasattr(cache.get(name), "shape") for name in points):
        raise ModelDiffError(f"{lm.spec.label}: a transformer block did not report its output")
    return {name: cache[name].float() for name in points}
