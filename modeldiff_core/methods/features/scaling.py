"""B run with its delta scaled: the MLP's output y_B replaced by base(x) + alpha * delta(x) +
the error term (y_B - base(x) - delta(x)), which is y_B + (alpha - 1) * delta(x). alpha = 1
is B itself by construction, alpha = 0 is B without what its delta dictionary holds. Also the
reconstructions alone, error term dropped ("no delta": base(x); "full": base(x) + delta(x))."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from ...models.hooks import mlp_of, mlp_out, replaced


def placed(dictionary, lm, layer: int):
    """The dictionary where the layer's MLP runs (a copy there when that is not the CPU, where
    dictionaries are fitted and kept); fp32 either way, as the hooks compute in fp32."""
    import copy

    device = next(mlp_of(lm, layer).parameters()).device
    if dictionary is None or device.type == "cpu":
        return dictionary
    return copy.deepcopy(dictionary).to(device)


def mlp_replaced(lm, layer: int, new_output: Callable):
    """A context inside which the layer's MLP output y becomes new_output(x, y), both in fp32
    (the hook point `blocks.{layer}.hook_mlp_out`)."""
    return replaced(lm, mlp_out(layer), new_output)


def latent_output(dictionary, x, latents: Optional[list[int]] = None):
    """The dictionary's output, or only the given latents' part of it (their code times their
    decoder rows, no bias): what scaling a chosen set of latents scales."""
    if latents is None:
        return dictionary(x)
    code = dictionary.encode(x)[..., latents]
    return code @ dictionary.W_dec[latents]


@contextmanager
def delta_scaled(lm_b, layer: int, delta, alpha: float,
                 latents: Optional[list[int]] = None) -> Iterator[None]:
    """Inside the context, B's MLP at `layer` has its delta (or only `latents` of it) scaled by
    alpha, the error term kept."""
    if alpha == 1:
        yield
        return
    delta = placed(delta, lm_b, layer)
    with mlp_replaced(lm_b, layer,
                      lambda x, y: y + (alpha - 1) * latent_output(delta, x, latents)):
        yield


@contextmanager
def reconstructed(lm, layer: int, base, delta=None) -> Iterator[None]:
    """Inside the context, the MLP's output is the dictionaries' reconstruction alone: base(x)
    (+ delta(x)), the error term dropped."""
    base, delta = placed(base, lm, layer), placed(delta, lm, layer)
    with mlp_replaced(lm, layer, lambda x, y: base(x) + (delta(x) if delta is not None else 0)):
        yield
