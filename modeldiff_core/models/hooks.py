"""Named hook points on a loaded model, in TransformerLens's naming, and one way to read them
(`capture`, `run_with_cache`) or to rewrite one (`replaced`). The layer lens reads
`blocks.{i}.hook_resid_post` (the residual stream after block i); the feature lens reads
`blocks.{i}.hook_mlp_in` / `hook_mlp_out` (the MLP's input and output) and rewrites the MLP's
output. Hooks are plain forward hooks, removed when the context ends."""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..config import ModelDiffError
from .loading import LoadedModel
from .tensors import transformer_blocks

KINDS = ("hook_resid_post", "hook_mlp_in", "hook_mlp_out")


def resid_post(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


def mlp_in(layer: int) -> str:
    return f"blocks.{layer}.hook_mlp_in"


def mlp_out(layer: int) -> str:
    return f"blocks.{layer}.hook_mlp_out"


@dataclass(frozen=True)
class HookPoint:
    module: Any  # the torch module hooked
    reads: str  # "output" (what it returns) or "input" (its first input)


def mlp_of(lm: LoadedModel, layer: int):
    """The MLP module of block `layer` (GPT-2's and Llama's are both `.mlp`)."""
    blocks = transformer_blocks(lm)
    if not 0 <= layer < len(blocks):
        raise ModelDiffError(f"{lm.spec.label} has layers 0 to {len(blocks) - 1}, not {layer}")
    return blocks[layer].mlp


def hook_point(lm: LoadedModel, name: str) -> HookPoint:
    m = re.fullmatch(r"blocks\.(\d+)\.(hook_\w+)", name)
    if m is None or m.group(2) not in KINDS:
        raise ModelDiffError(f"no hook point {name!r}; names are blocks.N.{{{','.join(KINDS)}}}")
    layer, kind = int(m.group(1)), m.group(2)
    if kind == "hook_resid_post":
        blocks = transformer_blocks(lm)
        if layer >= len(blocks):
            raise ModelDiffError(f"{lm.spec.label} has layers 0 to {len(blocks) - 1}, not {layer}")
        return HookPoint(blocks[layer], "output")
    return HookPoint(mlp_of(lm, layer), "input" if kind == "hook_mlp_in" else "output")


def hook_points(lm: LoadedModel, kind: str = "hook_resid_post") -> dict[str, HookPoint]:
    """Hook point name -> its point, one per transformer block, for one kind of point."""
    return {f"blocks.{i}.{kind}": hook_point(lm, f"blocks.{i}.{kind}")
            for i in range(len(transformer_blocks(lm)))}


@contextmanager
def capture(points: dict[str, HookPoint]) -> Iterator[dict[str, Any]]:
    """A cache, hook point name -> what the point saw in the last forward pass (a hidden
    state), filled while the context is open."""
    cache: dict[str, Any] = {}

    def hook_for(name: str, reads: str):
        def hook(module, inputs, output):
            seen = inputs[0] if reads == "input" else output
            cache[name] = seen[0] if isinstance(seen, (tuple, list)) else seen
        return hook
    handles = [p.module.register_forward_hook(hook_for(name, p.reads))
               for name, p in points.items()]
    try:
        yield cache
    finally:
        for h in handles:
            h.remove()


def run_with_cache(lm: LoadedModel, points: dict[str, HookPoint], ids, mask) -> dict[str, Any]:
    """One forward pass on (ids, mask); every hook point's hidden state as fp32."""
    import torch

    with capture(points) as cache, torch.inference_mode():
        lm.model(input_ids=ids.to(lm.input_device), attention_mask=mask.to(lm.input_device))
    if any(not hasattr(cache.get(name), "shape") for name in points):
        raise ModelDiffError(f"{lm.spec.label}: a transformer block did not report its output")
    return {name: cache[name].float() for name in points}


@contextmanager
def replaced(lm: LoadedModel, name: str, new_output: Callable) -> Iterator[None]:
    """Inside the context, the output y of the point's module becomes new_output(x, y), x its
    input, both in fp32 (`blocks.3.hook_mlp_out`: block 3's MLP output)."""
    import torch

    point = hook_point(lm, name)
    if point.reads != "output":
        raise ModelDiffError(f"{name} is an input: only an output can be replaced")

    def hook(module, inputs, output):
        with torch.no_grad():
            return new_output(inputs[0].float(), output.float()).to(output.dtype)

    handle = point.module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
