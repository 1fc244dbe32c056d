"""B run with its delta scaled: the MLP's output y_B replaced by base(x) + alpha * delta(x) +
the error term (y_B - base(x) - delta(x)), which is y_B + (alpha - 1) * delta(x). alpha = 1
is B itself by construction, alpha = 0 is B without what its delta dictionary holds."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from .activations import mlp_of


@contextmanager
def delta_scaled(lm_b, layer: int, delta, alpha: float) -> Iterator[None]:
    """Inside the context, B's MLP at `layer` has its delta scaled by alpha (a forward hook,
    removed on leaving)."""
    import torch

    def hook(module, inputs, output):
        if alpha == 1:
            return output
        with torch.no_grad():
            change = delta(inputs[0].float()).to(output.dtype)
        return output + (alpha - 1) * change

    handle = mlp_of(lm_b, layer).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
