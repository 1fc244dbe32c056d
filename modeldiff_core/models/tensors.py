"""A model's parameters named as in the plain HF checkpoint ("canonical" names): peft's wrapper
prefixes and `.base_layer` are stripped, quantized weights are dequantized and put back in the
checkpoint's orientation (GPT-2's Conv1D keeps [in, out]), so A and B compare tensor by tensor
whatever wraps them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import ModelDiffError
from .loading import LoadedModel
from .names import block_container

_LORA_PARTS = ("lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B",
               "lora_magnitude_vector", "lora_dropout")


@dataclass
class NamedTensor:
    """One parameter of a model, named as in the plain checkpoint."""
    name: str
    param: Any  # torch.nn.Parameter
    module: Any  # the module that owns it (Linear, Conv1D, bitsandbytes layer, norm...)
    kind: str  # dense / int8 / 4bit
    lora: Any = None  # the peft LoraLayer wrapping `module`, when this is its weight


def root_model(model):
    """The transformers model inside a peft wrapper (with the LoRA layers injected)."""
    if type(model).__module__.startswith("peft") and hasattr(model, "get_base_model"):
        return model.get_base_model()
    return model


def is_peft(lm: LoadedModel) -> bool:
    return root_model(lm.model) is not lm.model


def _quant_kind(param) -> str:
    cls = type(param).__name__
    if cls == "Int8Params" and not param.dtype.is_floating_point:
        return "int8"
    if cls == "Params4bit":
        return "4bit"
    return "dense"


def model_tensors(lm: LoadedModel) -> list[NamedTensor]:
    """Every parameter once (tied ones under their first name), with peft's own skipped."""
    root = root_model(lm.model)
    lora_layers = {}
    try:
        from peft.tuners.lora import LoraLayer
        lora_layers = {_canonical(n): m for n, m in root.named_modules() if isinstance(m, LoraLayer)}
    except ImportError:  # pragma: no cover - peft is a requirement
        pass
    out, seen = [], set()
    for mod_name, module in root.named_modules():
        parts = mod_name.split(".")
        if any(p in _LORA_PARTS for p in parts) or "modules_to_save" in parts:
            continue
        for p_name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            if "original_module" in parts:
                raise ModelDiffError(f"{lm.spec.label}: adapters with modules_to_save are not "
                                     "supported by the layer lens")
            canon = _canonical(mod_name)
            lora = lora_layers.get(canon) if p_name == "weight" else None
            out.append(NamedTensor(f"{canon}.{p_name}" if canon else p_name, param, module,
                                   _quant_kind(param), lora))
    return out


def _canonical(module_name: str) -> str:
    parts = [p for p in module_name.split(".") if p != "base_layer"]
    return ".".join(parts)


def _conv1d_source(module) -> bool:
    """Is this (or was this, before bitsandbytes replaced it) a Conv1D, weight [in, out]?"""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover
        return False
    src = getattr(module, "source_cls", None)
    return isinstance(module, Conv1D) or (isinstance(src, type) and issubclass(src, Conv1D))


def tensor_shape(t: NamedTensor) -> tuple:
    """The tensor's shape in the checkpoint, without dequantizing anything."""
    if t.kind == "4bit":
        shape = tuple(t.param.quant_state.shape)
    else:
        shape = tuple(t.param.shape)
    if t.kind != "dense" and len(shape) == 2 and _conv1d_source(t.module):
        shape = shape[::-1]
    return shape


def base_value(t: NamedTensor):
    """The tensor as dense fp32, in the checkpoint's orientation (quantized ones dequantized)."""
    if t.kind == "int8":
        scb = getattr(t.param, "SCB", None)
        if scb is None:
            scb = getattr(getattr(t.module, "state", None), "SCB", None)
        if scb is None:
            raise ModelDiffError(f"cannot dequantize {t.name}: its 8-bit row scales are missing")
        w = t.param.data.float() * (scb.float().to(t.param.device)[:, None] / 127.0)
    elif t.kind == "4bit":
        import bitsandbytes.functional as bnbf
        w = bnbf.dequantize_4bit(t.param.data, t.param.quant_state).float()
    else:
        return t.param.detach().float()
    return w.T.contiguous() if _conv1d_source(t.module) and w.dim() == 2 else w


def lora_factors(t: NamedTensor) -> list[tuple[Any, Any]]:
    """The active adapters' change to this weight as (U, V) with delta = U @ V, in the
    checkpoint's orientation; [] when no LoRA adapts it."""
    if t.lora is None:
        return []
    layer = t.lora
    if getattr(layer, "merged", False):
        raise ModelDiffError(f"the adapter on {t.name} is merged into the base weights; load it "
                             "unmerged (ModelSpec.adapter) for the layer lens")
    if getattr(layer, "disable_adapters", False):
        return []
    out = []
    for name in layer.active_adapters:
        if name in getattr(layer, "lora_embedding_A", {}):
            raise ModelDiffError(f"LoRA on embeddings ({t.name}) is not supported by the layer lens")
        if name not in layer.lora_A:
            continue
        if name in getattr(layer, "lora_variant", {}) or layer.use_dora.get(name, False):
            raise ModelDiffError(f"{t.name}: only plain LoRA adapters are supported by the layer "
                                 "lens (this one is DoRA or another variant)")
        if layer.lora_bias.get(name, False):
            raise ModelDiffError(f"{t.name}: LoRA adapters with a bias are not supported by the "
                                 "layer lens")
        u = layer.lora_B[name].weight.detach().float() * float(layer.scaling[name])
        v = layer.lora_A[name].weight.detach().float()
        # lora_B @ lora_A is [out, in]; a Conv1D checkpoint stores [in, out].
        out.append((v.T, u.T) if _conv1d_source(t.module) else (u, v))
    return out


def effective_value(t: NamedTensor):
    """Dense fp32 base weight plus any active LoRA change: what the model computes with."""
    w = base_value(t)
    for u, v in lora_factors(t):
        w = w + (u @ v).to(w.device)
    return w


def tensors_equal(x, y) -> bool:
    import torch

    return x.shape == y.shape and bool(torch.equal(x, y))


def dense_weight(lm: LoadedModel, name: str):
    """One tensor of a model as dense fp32 in the checkpoint's orientation: dequantized if the
    model is quantized, with an active LoRA adapter's change added."""
    for t in model_tensors(lm):
        if t.name == name:
            return effective_value(t)
    raise ModelDiffError(f"{lm.spec.label} has no tensor {name}")


def _fmt_shape(shape: tuple) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def check_same_architecture(lm_a: LoadedModel, lm_b: LoadedModel
                            ) -> list[tuple[NamedTensor, NamedTensor]]:
    """Pair A's and B's tensors by canonical name; raise naming the first that differs."""
    ta, tb = model_tensors(lm_a), model_tensors(lm_b)
    by_b = {t.name: t for t in tb}
    names_a = {t.name for t in ta}
    pairs = []
    for a in ta:
        b = by_b.get(a.name)
        if b is None:
            raise ModelDiffError(f"models differ in architecture: {a.name} is in A but not in B")
        if tensor_shape(a) != tensor_shape(b):
            raise ModelDiffError(f"models differ in architecture: {a.name} is "
                                 f"{_fmt_shape(tensor_shape(a))} in A and "
                                 f"{_fmt_shape(tensor_shape(b))} in B")
        pairs.append((a, b))
    extra = [t.name for t in tb if t.name not in names_a]
    if extra:
        raise ModelDiffError(f"models differ in architecture: {extra[0]} is in B but not in A")
    return pairs


def transformer_blocks(lm: LoadedModel) -> list:
    """The model's transformer blocks, in order."""
    container = block_container(t.name for t in model_tensors(lm))
    if container is None:
        raise ModelDiffError(f"cannot find the transformer blocks of {lm.spec.label}: no "
                             "parameter name carries a layer index")
    return list(root_model(lm.model).get_submodule(container).children())
