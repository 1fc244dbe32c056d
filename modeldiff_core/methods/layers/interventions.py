"""Delta interventions: model A with B's change scaled, W_A + scale (W_B - W_A), on every
parameter or only those of chosen layers."""
from __future__ import annotations

import copy
import dataclasses
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

from ...config import LOAD_LOCK, ModelDiffError
from ...models.loading import LoadedModel
from ...models.spec import ModelSpec
from ...models.names import block_container, layer_and_module
from ...models.tensors import (base_value, check_same_architecture, effective_value, is_peft,
                               lora_factors, root_model, tensors_equal, transformer_blocks)


@dataclass
class _Swap:
    """One parameter of the working model that B changes: A's value (to restore it exactly)
    and B's (dense, fp32)."""
    layer: int
    param: Any
    original: Any
    target: Any


class DeltaScaling:
    """Model A with B's change scaled: W_A + scale (W_B - W_A), on every parameter or only
    those of chosen layers. `scaled(scale, layers)` sets the weights for one setting and
    restores them exactly on exit; nothing is copied per setting.

    Two ways, chosen automatically:
    - "lora": B is A plus a plain LoRA adapter (same base weights, bit for bit). The adapter's
      scaling is multiplied by the scale in the chosen layers and by 0 elsewhere; B's model is
      the one that runs (scale 0 everywhere is exactly A's computation).
    - "dense": A's own parameters are overwritten in place (only those B changes), from A's
      originals and B's dense weights. A quantized A (or one with an adapter) is first copied
      once into a dense fp32 model, which is then both the scale 0 reference and what runs.

    While a setting is active the model object is altered: do not use the same loaded model
    from another thread meanwhile."""

    def __init__(self, lm_a: LoadedModel, lm_b: LoadedModel, strategy: str = "auto"):
        if strategy not in ("auto", "lora", "dense"):
            raise ModelDiffError(f"unknown scaling strategy {strategy!r}: auto, lora or dense")
        if lm_a.tokenizer.get_vocab() != lm_b.tokenizer.get_vocab():
            raise ModelDiffError("delta scaling needs models that share a tokenizer; "
                                 f"{lm_a.spec.label} and {lm_b.spec.label} have different "
                                 "vocabularies")
        pairs = check_same_architecture(lm_a, lm_b)
        self.container = block_container(a.name for a, _ in pairs)
        self.fingerprints = (lm_a.fingerprint, lm_b.fingerprint)
        self.notes: list[str] = []
        self._active = False
        lora_ok = self._lora_applies(lm_a, lm_b, pairs)
        if strategy == "lora" and not lora_ok:
            raise ModelDiffError("the lora scaling strategy needs B = A + a LoRA adapter with "
                                 "A's exact base weights")
        self.strategy = "lora" if lora_ok and strategy != "dense" else "dense"
        if self.strategy == "lora":
            self._setup_lora(lm_b, pairs)
        else:
            self._setup_dense(lm_a, lm_b, pairs)
        self.n_layers = len(transformer_blocks(self.model))

    # ------------------------------------------------------------------ set-up
    def _layer(self, name: str) -> int:
        return layer_and_module(name, self.container)[0]

    @staticmethod
    def _lora_applies(lm_a, lm_b, pairs) -> bool:
        if not is_peft(lm_b) or is_peft(lm_a):
            return False
        if not any(b.lora is not None for _, b in pairs):
            return False
        for a, b in pairs:
            wa = base_value(a)
            if a.kind != b.kind or not tensors_equal(wa, base_value(b).to(wa.device)):
                return False
        return True

    def _setup_lora(self, lm_b: LoadedModel, pairs) -> None:
        self.model = lm_b
        self._lora: list[tuple[int, Any, str, float]] = []
        for _, b in pairs:
            lora_factors(b)  # refuses adapters that scaling cannot express
            if b.lora is None:
                continue
            for name in b.lora.active_adapters:
                if name in b.lora.lora_A:
                    self._lora.append((self._layer(b.name), b.lora, name,
                                       b.lora.scaling[name]))
        self.notes.append("B is A plus a LoRA adapter: settings scale the adapter per layer "
                          "(alpha = 0: adapter off there)")

    def _setup_dense(self, lm_a: LoadedModel, lm_b: LoadedModel, pairs) -> None:
        needs_copy = is_peft(lm_a) or any(a.kind != "dense" for a, _ in pairs)
        self.model = _dense_copy(lm_a, pairs) if needs_copy else lm_a
        if needs_copy:
            self.notes.append(f"model A ({lm_a.spec.label}) is quantized or carries an adapter: "
                              "interventions run on a dense fp32 copy of A, which is also the "
                              "alpha = 0 reference the gaps are measured from")
        if any(b.kind != "dense" for _, b in pairs):
            self.notes.append(f"model B ({lm_b.spec.label}) is quantized: its weights were "
                              "dequantized for the interventions")
        params = dict(root_model(self.model.model).named_parameters())
        self._swaps: list[_Swap] = []
        for a, b in pairs:
            p = params[a.name]
            target = effective_value(b).to(p.device)
            if tensors_equal(target.to(p.dtype), p.detach()):
                continue  # B does not change it: nothing to hold
            self._swaps.append(_Swap(self._layer(a.name), p, p.detach().clone(), target))

    # -------------------------------------------------------------- settings
    def _selected(self, layer: int, layers: Optional[set[int]]) -> bool:
        return layers is None or layer in layers

    @contextmanager
    def scaled(self, scale: float, layers: Optional[Iterable[int]] = None
               ) -> Iterator[LoadedModel]:
        """A model with W_A + scale (W_B - W_A) on `layers` (block indices; None: every
        parameter, embeddings and head included) and A's weights elsewhere."""
        if self._active:
            raise ModelDiffError("delta scaling settings cannot be nested")
        if not math.isfinite(scale):
            raise ModelDiffError(f"scale must be a finite number, not {scale}")
        chosen = None if layers is None else {int(i) for i in layers}
        if chosen is not None and not chosen <= set(range(self.n_layers)):
            raise ModelDiffError(f"layers {sorted(chosen)} out of range: the model has "
                                 f"{self.n_layers} layers (0-{self.n_layers - 1})")
        self._active = True
        try:
            self._apply(scale, chosen)
            yield self.model
        finally:
            self._restore()
            self._active = False

    def _apply(self, scale: float, chosen: Optional[set[int]]) -> None:
        import torch

        if self.strategy == "lora":
            for layer, module, name, factor in self._lora:
                module.scaling[name] = factor * (scale if self._selected(layer, chosen) else 0.0)
            return
        with torch.no_grad():
            for s in self._swaps:
                if not self._selected(s.layer, chosen) or scale == 0:
                    continue
                if scale == 1:  # exactly B, not A + (B - A) with its rounding
                    s.param.copy_(s.target.to(s.param.dtype))
                else:
                    a = s.original.float()
                    s.param.copy_((a + scale * (s.target - a)).to(s.param.dtype))

    def _restore(self) -> None:
        import torch

        if self.strategy == "lora":
            for _, module, name, factor in self._lora:
                module.scaling[name] = factor
            return
        with torch.no_grad():
            for s in self._swaps:
                s.param.copy_(s.original)


def _dense_copy(lm: LoadedModel, pairs) -> LoadedModel:
    """A plain fp32 model with `lm`'s effective weights (dequantized, adapter merged)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(root_model(lm.model).config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    with LOAD_LOCK:
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32,
                                                 trust_remote_code=lm.spec.trust_remote_code)
    params = dict(model.named_parameters())
    wanted = {a.name for a, _ in pairs}
    if set(params) != wanted:
        odd = sorted(set(params) ^ wanted)[0]
        raise ModelDiffError(f"cannot build a dense copy of {lm.spec.label} for the "
                             f"interventions: {odd} does not match")
    with torch.no_grad():
        for a, _ in pairs:
            params[a.name].copy_(effective_value(a))
    model = model.to(lm.input_device).eval()
    return dataclasses.replace(lm, model=model, spec=ModelSpec.from_dict(
        {**lm.spec.to_dict(), "quant": "none", "adapter": None, "dtype": "fp32"}))
