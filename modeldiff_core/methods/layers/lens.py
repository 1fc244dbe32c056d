"""The layer lens: which transformer layers carry the difference between two models of one
architecture (a finetune, an adapter, a quantization).

Three views, from cheap to causal:
- weight deltas: ||W_B - W_A|| / ||W_A|| per layer and module type (attention, mlp, norm);
- activation differences: how far B's residual stream (each block's output) is from A's on the
  same tokens;
- delta scaling: A's weights plus alpha times B's change, on every layer or one window of
  layers, and how much of a validated hypothesis' effect (evidence log-prob gap, behaviour
  rate in fresh generations) that restores.

Parameters are named as in the plain HF checkpoint ("canonical" names): peft's wrapper prefixes
and `.base_layer` are stripped, quantized weights are dequantized and put back in the
checkpoint's orientation (GPT-2's Conv1D keeps [in, out]), so A and B compare tensor by tensor
whatever wraps them. Parameters outside the transformer blocks (embeddings, output head, final
norm) are reported with layer -1.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from ...config import LOAD_LOCK, ModelDiffError
from ...hypotheses.types import Hypothesis
from ...hypotheses.validation import TEXT_KEY, heldout_texts, judged_texts, paired_heldout
from ...models.loading import LoadedModel
from ...models.spec import ModelSpec
from ...progress import ProgressCallback, StageProgress
from ...stages.generate import GenerationSettings, format_prompt, generate_batch
from ...stages.scoring import encode_texts, right_padded

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
# Below this mean log-prob gap (nats/token) B's full change has no effect worth attributing.
MIN_GAP = 1e-3
# Below this change in behaviour rate (with every layer scaled) the rate says nothing on layers.
MIN_RATE_CHANGE = 0.05
_LORA_PARTS = ("lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B",
               "lora_magnitude_vector", "lora_dropout")


# ------------------------------------------------------------------ canonical tensors

@dataclass
class _Tensor:
    """One parameter of a model, named as in the plain checkpoint."""
    name: str
    param: Any  # torch.nn.Parameter
    module: Any  # the module that owns it (Linear, Conv1D, bitsandbytes layer, norm...)
    kind: str  # dense / int8 / 4bit
    lora: Any = None  # the peft LoraLayer wrapping `module`, when this is its weight


def _root(model):
    """The transformers model inside a peft wrapper (with the LoRA layers injected)."""
    if type(model).__module__.startswith("peft") and hasattr(model, "get_base_model"):
        return model.get_base_model()
    return model


def _is_peft(lm: LoadedModel) -> bool:
    return _root(lm.model) is not lm.model


def _quant_kind(param) -> str:
    cls = type(param).__name__
    if cls == "Int8Params" and not param.dtype.is_floating_point:
        return "int8"
    if cls == "Params4bit":
        return "4bit"
    return "dense"


def _tensors(lm: LoadedModel) -> list[_Tensor]:
    """Every parameter once (tied ones under their first name), with peft's own skipped."""
    root = _root(lm.model)
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
            out.append(_Tensor(f"{canon}.{p_name}" if canon else p_name, param, module,
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


def _shape(t: _Tensor) -> tuple:
    """The tensor's shape in the checkpoint, without dequantizing anything."""
    if t.kind == "4bit":
        shape = tuple(t.param.quant_state.shape)
    else:
        shape = tuple(t.param.shape)
    if t.kind != "dense" and len(shape) == 2 and _conv1d_source(t.module):
        shape = shape[::-1]
    return shape


def _base_value(t: _Tensor):
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


def _lora_factors(t: _Tensor) -> list[tuple[Any, Any]]:
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


def _effective(t: _Tensor):
    """Dense fp32 base weight plus any active LoRA change: what the model computes with."""
    w = _base_value(t)
    for u, v in _lora_factors(t):
        w = w + (u @ v).to(w.device)
    return w


def dense_weight(lm: LoadedModel, name: str):
    """One tensor of a model as dense fp32 in the checkpoint's orientation: dequantized if the
    model is quantized, with an active LoRA adapter's change added."""
    for t in _tensors(lm):
        if t.name == name:
            return _effective(t)
    raise ModelDiffError(f"{lm.spec.label} has no tensor {name}")


def _fmt_shape(shape: tuple) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def check_same_architecture(lm_a: LoadedModel, lm_b: LoadedModel
                            ) -> list[tuple[_Tensor, _Tensor]]:
    """Pair A's and B's tensors by canonical name; raise naming the first that differs."""
    ta, tb = _tensors(lm_a), _tensors(lm_b)
    by_b = {t.name: t for t in tb}
    names_a = {t.name for t in ta}
    pairs = []
    for a in ta:
        b = by_b.get(a.name)
        if b is None:
            raise ModelDiffError(f"models differ in architecture: {a.name} is in A but not in B")
        if _shape(a) != _shape(b):
            raise ModelDiffError(f"models differ in architecture: {a.name} is "
                                 f"{_fmt_shape(_shape(a))} in A and {_fmt_shape(_shape(b))} in B")
        pairs.append((a, b))
    extra = [t.name for t in tb if t.name not in names_a]
    if extra:
        raise ModelDiffError(f"models differ in architecture: {extra[0]} is in B but not in A")
    return pairs


# --------------------------------------------------------------------- layer indices

def _block_container(names: Iterable[str]) -> Optional[str]:
    """The module list holding the transformer blocks: the path before the first integer
    component that has the most distinct indices (`transformer.h`, `model.layers`...)."""
    indices: dict[str, set[int]] = {}
    for name in names:
        parts = name.split(".")
        for i, p in enumerate(parts):
            if p.isdigit():
                indices.setdefault(".".join(parts[:i]), set()).add(int(p))
                break
    if not indices:
        return None
    return max(indices, key=lambda k: len(indices[k]))  # first of the largest on ties


def _layer_and_module(name: str, container: Optional[str]) -> tuple[int, str]:
    prefix = container + "." if container else None
    if prefix and name.startswith(prefix):
        index, _, rest = name[len(prefix):].partition(".")
        if index.isdigit():
            return int(index), _module_type(rest)
    return -1, _outer_type(name)


def _module_type(rest: str) -> str:
    """attention / mlp / norm / other from a parameter's path inside its block."""
    r = rest.lower()
    # Norms first: "post_attention_layernorm" is a norm, not attention.
    if re.search(r"norm|(^|\.)ln(_\w+)?(\.|$)", r):
        return "norm"
    if "attn" in r or "attention" in r:
        return "attention"
    if re.search(r"mlp|ffn|feed_forward|expert|(^|\.)(c_)?fc\d*(\.|$)|gate_proj|up_proj|down_proj"
                 r"|(^|\.)w[123](\.|$)", r):
        return "mlp"
    return "other"


def _outer_type(name: str) -> str:
    n = name.lower()
    if re.search(r"lm_head|embed_out|(^|\.)output\.", n):
        return "head"
    if re.search(r"embed|wte|wpe|tok_|pos_", n):
        return "embedding"
    if re.search(r"norm|(^|\.)ln(_\w+)?(\.|$)", n):
        return "norm"
    return "other"


def _blocks(lm: LoadedModel) -> list:
    root = _root(lm.model)
    container = _block_container(t.name for t in _tensors(lm))
    if container is None:
        raise ModelDiffError(f"cannot find the transformer blocks of {lm.spec.label}: no "
                             "parameter name carries a layer index")
    return list(root.get_submodule(container).children())


def _describe_quant(lm: LoadedModel, side: str, tensors: list[_Tensor]) -> list[str]:
    kinds = sorted({t.kind for t in tensors} - {"dense"})
    if not kinds:
        return []
    how = {"int8": "int8 x row scale / 127", "4bit": "bitsandbytes dequantize_4bit"}
    return [f"model {side} ({lm.spec.label}) is quantized: its weights were dequantized for the "
            f"comparison ({', '.join(how[k] for k in kinds)})"]


# ---------------------------------------------------------------------- weight deltas

@dataclass
class WeightDeltas:
    rows: list[dict]  # {layer, module, rel_norm}; layer -1: outside the blocks
    notes: list[str] = field(default_factory=list)
    n_layers: int = 0


def _lowrank_sq_norm(factors: list[tuple[Any, Any, float]]) -> float:
    """||sum_i sign_i U_i V_i||_F^2 from the factors alone: with U = [s_i U_i], V = [V_i]
    stacked along the rank, ||UV||^2 = trace((U^T U)(V V^T)), an r x r computation."""
    import torch

    if not factors:
        return 0.0
    u = torch.cat([sign * uu.double() for uu, _, sign in factors], dim=1)
    v = torch.cat([vv.double().to(u.device) for _, vv, _ in factors], dim=0)
    return float(((u.T @ u) * (v @ v.T)).sum().clamp_min(0))


def _delta_sq_norms(a: _Tensor, b: _Tensor) -> tuple[float, float, bool]:
    """(||W_B - W_A||^2, ||W_A||^2, whether the low-rank shortcut was used) for one tensor."""
    wa0 = _base_value(a)
    wb0 = _base_value(b).to(wa0.device)
    fa, fb = _lora_factors(a), _lora_factors(b)
    wa = wa0
    for u, v in fa:
        wa = wa + u @ v
    ref = float(wa.double().pow(2).sum())
    if _equal(wa0, wb0):
        # Same base weights: the difference is the adapters' low-rank change alone.
        factors = [(u, v, 1.0) for u, v in fb] + [(u.to(wb0.device), v, -1.0) for u, v in fa]
        return _lowrank_sq_norm(factors), ref, bool(factors)
    wb = wb0
    for u, v in fb:
        wb = wb + (u @ v).to(wb.device)
    return float((wb - wa).double().pow(2).sum()), ref, False


def _equal(x, y) -> bool:
    import torch

    return x.shape == y.shape and bool(torch.equal(x, y))


def weight_deltas(lm_a: LoadedModel, lm_b: LoadedModel,
                  progress: Optional[ProgressCallback] = None) -> WeightDeltas:
    """||W_B - W_A||_F / ||W_A||_F per (layer, module type), over all of the group's parameters
    (weights and biases) taken together. A LoRA B is measured from its factors."""
    pairs = check_same_architecture(lm_a, lm_b)
    container = _block_container(a.name for a, _ in pairs)
    sums: dict[tuple[int, str], list[float]] = {}
    bar = StageProgress(progress, "weight deltas", len(pairs), unit="tensors")
    used_lowrank = False
    for a, b in pairs:
        diff_sq, ref_sq, lowrank = _delta_sq_norms(a, b)
        used_lowrank |= lowrank
        acc = sums.setdefault(_layer_and_module(a.name, container), [0.0, 0.0])
        acc[0] += diff_sq
        acc[1] += ref_sq
        bar.advance(1)
    # A group that is all zeros in A has no relative change: None (JSON null), not infinity.
    rows = [{"layer": layer, "module": module,
             "rel_norm": math.sqrt(d) / math.sqrt(r) if r > 0 else (0.0 if d == 0 else None)}
            for (layer, module), (d, r) in sorted(sums.items())]
    notes = _describe_quant(lm_a, "A", [a for a, _ in pairs]) + \
        _describe_quant(lm_b, "B", [b for _, b in pairs])
    if used_lowrank:
        notes.append("LoRA deltas were computed from the adapters' low-rank factors "
                     "(scaling x B.A), without merging weights")
    notes.append("layer -1 holds the parameters outside the transformer blocks (embeddings, "
                 "output head, final norm)")
    n_layers = len({r["layer"] for r in rows if r["layer"] >= 0})
    return WeightDeltas(rows, notes, n_layers)


# ------------------------------------------------------------------ activation diffs

@dataclass
class ActivationDiffs:
    rows: list[dict]  # {layer, cosine, rel_l2}: means over all non-padding tokens
    notes: list[str] = field(default_factory=list)
    n_tokens: int = 0


def _encode_all(lm: LoadedModel, texts: list[str], prompts: Optional[list[str]],
                use_chat_template: bool) -> list[list[int]]:
    """Token ids (context + text, as scoring builds them) cut to the model's context."""
    return encode_texts(lm, texts, prompts, use_chat_template)[0]


def check_same_tokens(lm_a: LoadedModel, lm_b: LoadedModel, texts: list[str],
                      prompts: Optional[list[str]] = None,
                      use_chat_template: bool = True) -> list[list[int]]:
    """The texts' token ids, refusing when A's and B's tokenizers cut them differently."""
    seqs_a = _encode_all(lm_a, texts, prompts, use_chat_template)
    seqs_b = _encode_all(lm_b, texts, prompts, use_chat_template)
    for i, (sa, sb) in enumerate(zip(seqs_a, seqs_b)):
        if sa != sb:
            at = next((j for j, (x, y) in enumerate(zip(sa, sb)) if x != y), min(len(sa), len(sb)))
            raise ModelDiffError(f"models tokenize differently: text {i} ({texts[i][:40]!r}) "
                                 f"differs at token {at}; comparing activations needs a shared "
                                 "tokenizer")
    return seqs_a


@contextmanager
def _capture(blocks: list) -> Iterator[list]:
    """Each block's output hidden state of the last forward pass, via forward hooks."""
    seen: list = [None] * len(blocks)

    def hook_for(i):
        def hook(module, inputs, output):
            seen[i] = output[0] if isinstance(output, (tuple, list)) else output
        return hook
    handles = [b.register_forward_hook(hook_for(i)) for i, b in enumerate(blocks)]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def _block_outputs(lm: LoadedModel, blocks: list, ids, mask) -> list:
    import torch

    with _capture(blocks) as seen, torch.inference_mode():
        lm.model(input_ids=ids.to(lm.input_device), attention_mask=mask.to(lm.input_device))
    if any(h is None or not hasattr(h, "shape") for h in seen):
        raise ModelDiffError(f"{lm.spec.label}: a transformer block did not report its output")
    return [h.float() for h in seen]


def activation_diffs(lm_a: LoadedModel, lm_b: LoadedModel, texts: list[str],
                     prompts: Optional[list[str]] = None, batch_size: int = 16,
                     use_chat_template: bool = True,
                     progress: Optional[ProgressCallback] = None) -> ActivationDiffs:
    """Per layer: mean cosine distance (1 - cos) and mean relative L2 distance
    ||h_B - h_A|| / ||h_A|| of the blocks' output hidden states, over every non-padding token
    (the prompt's and the text's) of the texts."""
    import torch

    if not texts:
        raise ModelDiffError("no texts to compare activations on")
    seqs = check_same_tokens(lm_a, lm_b, texts, prompts, use_chat_template)
    blocks_a, blocks_b = _blocks(lm_a), _blocks(lm_b)
    if len(blocks_a) != len(blocks_b):
        raise ModelDiffError(f"models differ in architecture: {len(blocks_a)} layers in A and "
                             f"{len(blocks_b)} in B")
    pad = lm_a.tokenizer.pad_token_id if lm_a.tokenizer.pad_token_id is not None else 0
    cos_sum = np.zeros(len(blocks_a))
    rel_sum = np.zeros(len(blocks_a))
    n_tokens = 0
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    batches = [order[b:b + batch_size] for b in range(0, len(order), batch_size)]
    bar = StageProgress(progress, "activations", len(batches), unit="batches")
    for idx in batches:
        # Right padding: every row starts at position 0, as the models were trained.
        ids, mask = right_padded(seqs, idx, pad)
        hs_a = _block_outputs(lm_a, blocks_a, ids, mask)
        hs_b = _block_outputs(lm_b, blocks_b, ids, mask)
        keep = mask.bool()
        n_tokens += int(keep.sum())
        for layer, (ha, hb) in enumerate(zip(hs_a, hs_b)):
            ha, hb = ha.cpu()[keep], hb.cpu()[keep]
            cos = torch.nn.functional.cosine_similarity(ha, hb, dim=-1, eps=1e-12)
            rel = (hb - ha).norm(dim=-1) / ha.norm(dim=-1).clamp_min(1e-12)
            cos_sum[layer] += float((1 - cos).double().sum())
            rel_sum[layer] += float(rel.double().sum())
        bar.advance(1)
    rows = [{"layer": layer, "cosine": float(max(0.0, cos_sum[layer] / n_tokens)),
             "rel_l2": float(rel_sum[layer] / n_tokens)} for layer in range(len(blocks_a))]
    notes = []
    for side, lm in (("A", lm_a), ("B", lm_b)):
        if lm.spec.quant != "none":
            notes.append(f"model {side} runs {lm.spec.quant}-quantized: part of the activation "
                         "difference is quantization error")
    return ActivationDiffs(rows, notes, n_tokens)


# --------------------------------------------------------------- delta interventions

@dataclass
class _Swap:
    """One parameter of the working model that B changes: A's value (to restore it exactly)
    and B's (dense, fp32)."""
    layer: int
    param: Any
    original: Any
    target: Any


class DeltaScaling:
    """Model A with B's change scaled by alpha: W_A + alpha (W_B - W_A), on every parameter or
    only those of chosen layers. `scaled(alpha, layers)` sets the weights for one setting and
    restores them exactly on exit; nothing is copied per setting.

    Two ways, chosen automatically:
    - "lora": B is A plus a plain LoRA adapter (same base weights, bit for bit). The adapter's
      scaling is multiplied by alpha in the chosen layers and by 0 elsewhere; B's model is the
      one that runs (alpha = 0 everywhere is exactly A's computation).
    - "dense": A's own parameters are overwritten in place (only those B changes), from A's
      originals and B's dense weights. A quantized A (or one with an adapter) is first copied
      once into a dense fp32 model, which is then both the alpha = 0 reference and what runs.

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
        self.container = _block_container(a.name for a, _ in pairs)
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
        self.n_layers = len(_blocks(self.model))

    # ------------------------------------------------------------------ set-up
    def _layer(self, name: str) -> int:
        return _layer_and_module(name, self.container)[0]

    @staticmethod
    def _lora_applies(lm_a, lm_b, pairs) -> bool:
        if not _is_peft(lm_b) or _is_peft(lm_a):
            return False
        if not any(b.lora is not None for _, b in pairs):
            return False
        for a, b in pairs:
            wa = _base_value(a)
            if a.kind != b.kind or not _equal(wa, _base_value(b).to(wa.device)):
                return False
        return True

    def _setup_lora(self, lm_b: LoadedModel, pairs) -> None:
        self.model = lm_b
        self._lora: list[tuple[int, Any, str, float]] = []
        for _, b in pairs:
            _lora_factors(b)  # refuses adapters that scaling cannot express
            if b.lora is None:
                continue
            for name in b.lora.active_adapters:
                if name in b.lora.lora_A:
                    self._lora.append((self._layer(b.name), b.lora, name,
                                       b.lora.scaling[name]))
        self.notes.append("B is A plus a LoRA adapter: settings scale the adapter per layer "
                          "(alpha = 0: adapter off there)")

    def _setup_dense(self, lm_a: LoadedModel, lm_b: LoadedModel, pairs) -> None:
        needs_copy = _is_peft(lm_a) or any(a.kind != "dense" for a, _ in pairs)
        self.model = _dense_copy(lm_a, pairs) if needs_copy else lm_a
        if needs_copy:
            self.notes.append(f"model A ({lm_a.spec.label}) is quantized or carries an adapter: "
                              "interventions run on a dense fp32 copy of A, which is also the "
                              "alpha = 0 reference the gaps are measured from")
        if any(b.kind != "dense" for _, b in pairs):
            self.notes.append(f"model B ({lm_b.spec.label}) is quantized: its weights were "
                              "dequantized for the interventions")
        params = dict(_root(self.model.model).named_parameters())
        self._swaps: list[_Swap] = []
        for a, b in pairs:
            p = params[a.name]
            target = _effective(b).to(p.device)
            if _equal(target.to(p.dtype), p.detach()):
                continue  # B does not change it: nothing to hold
            self._swaps.append(_Swap(self._layer(a.name), p, p.detach().clone(), target))

    # -------------------------------------------------------------- settings
    def _selected(self, layer: int, layers: Optional[set[int]]) -> bool:
        return layers is None or layer in layers

    @contextmanager
    def scaled(self, alpha: float, layers: Optional[Iterable[int]] = None
               ) -> Iterator[LoadedModel]:
        """A model with W_A + alpha (W_B - W_A) on `layers` (block indices; None: every
        parameter, embeddings and head included) and A's weights elsewhere."""
        if self._active:
            raise ModelDiffError("delta scaling settings cannot be nested")
        if not math.isfinite(alpha):
            raise ModelDiffError(f"alpha must be a finite number, not {alpha}")
        chosen = None if layers is None else {int(i) for i in layers}
        if chosen is not None and not chosen <= set(range(self.n_layers)):
            raise ModelDiffError(f"layers {sorted(chosen)} out of range: the model has "
                                 f"{self.n_layers} layers (0-{self.n_layers - 1})")
        self._active = True
        try:
            self._apply(alpha, chosen)
            yield self.model
        finally:
            self._restore()
            self._active = False

    def _apply(self, alpha: float, chosen: Optional[set[int]]) -> None:
        import torch

        if self.strategy == "lora":
            for layer, module, name, scale in self._lora:
                module.scaling[name] = scale * (alpha if self._selected(layer, chosen) else 0.0)
            return
        with torch.no_grad():
            for s in self._swaps:
                if not self._selected(s.layer, chosen) or alpha == 0:
                    continue
                if alpha == 1:  # exactly B, not A + (B - A) with its rounding
                    s.param.copy_(s.target.to(s.param.dtype))
                else:
                    a = s.original.float()
                    s.param.copy_((a + alpha * (s.target - a)).to(s.param.dtype))

    def _restore(self) -> None:
        import torch

        if self.strategy == "lora":
            for _, module, name, scale in self._lora:
                module.scaling[name] = scale
            return
        with torch.no_grad():
            for s in self._swaps:
                s.param.copy_(s.original)


def _dense_copy(lm: LoadedModel, pairs) -> LoadedModel:
    """A plain fp32 model with `lm`'s effective weights (dequantized, adapter merged)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(_root(lm.model).config)
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
            params[a.name].copy_(_effective(a))
    model = model.to(lm.input_device).eval()
    return dataclasses.replace(lm, model=model, spec=ModelSpec.from_dict(
        {**lm.spec.to_dict(), "quant": "none", "adapter": None, "dtype": "fp32"}))


# ------------------------------------------------------------------ scaling curves

def _hypothesis(h: dict) -> Hypothesis:
    return Hypothesis(h.get("text", ""), h.get("direction", "B"), h.get("source", "corpus"),
                      h.get("predicate"), h.get("evidence") or {})


def _behaviour_rate(h: dict, texts: list[str], judge: Optional[Callable]) -> Optional[float]:
    """Share of texts showing the hypothesis: its offline predicate fires, or else the judge
    scores the text above 0.5 (written by B); None when neither can say."""
    from ...assistants.offline import predicate_fires

    if not texts:
        return None
    if h.get("predicate"):
        return float(np.mean([predicate_fires(h["predicate"], t) for t in texts]))
    if judge is not None:
        scores = np.asarray(judge(_hypothesis(h), texts), dtype=float)
        return float(np.mean(scores > 0.5))
    return None


def _windows(n_layers: int, window: int) -> list[tuple[Any, Optional[list[int]]]]:
    if not 1 <= window <= n_layers:
        raise ModelDiffError(f"window must be between 1 and the number of layers ({n_layers})")
    return [(first, list(range(first, first + window)))
            for first in range(n_layers - window + 1)] + [("all", None)]


def parse_alphas(text: str) -> list[float]:
    """'0, 0.5, 1' -> [0.0, 0.5, 1.0] (typed by a researcher on the CLI or the page)."""
    try:
        alphas = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ModelDiffError(f"alphas must be comma-separated numbers, got {text!r}") from None
    return _check_alphas(alphas)


def _check_alphas(alphas: Sequence[float]) -> list[float]:
    out = [float(a) for a in alphas]
    if not out or not all(math.isfinite(a) for a in out):
        raise ModelDiffError("alphas must be a non-empty list of finite numbers")
    return sorted(set(out))


class _SettingRunner:
    """Scores the evidence and samples fresh generations under one intervention setting."""

    def __init__(self, scaler: DeltaScaling, hypotheses: list[dict], evidence: dict,
                 prompts: list[str], n_generations: int, settings: GenerationSettings,
                 batch_size: int):
        self.scaler, self.settings, self.batch_size = scaler, settings, batch_size
        self.texts, self.text_prompts, self.spans = [], [], {}
        for h in hypotheses:
            texts, tprompts = evidence.get(h["hypothesis_id"], ([], None))
            start = len(self.texts)
            self.texts += list(texts)
            self.text_prompts += list(tprompts) if tprompts is not None else [None] * len(texts)
            self.spans[h["hypothesis_id"]] = slice(start, len(self.texts))
        cycle = [prompts[i % len(prompts)] for i in range(n_generations)] if prompts else []
        tok = scaler.model.tokenizer
        self.chat = settings.use_chat_template and bool(getattr(tok, "chat_template", None))
        self.formatted = [format_prompt(tok, p, settings.use_chat_template) for p in cycle]
        # Everything a setting's outcome depends on besides (alpha, layers): its storage key.
        raw = json.dumps([*scaler.fingerprints, scaler.strategy, self.texts,
                          self.text_prompts, self.formatted, dataclasses.asdict(settings)])
        self.digest = hashlib.sha256(raw.encode()).hexdigest()[:16]

    def stored_run(self, saved, alpha: float, layers: Optional[list[int]]
                   ) -> tuple[np.ndarray, list[str]]:
        """run(), answered from `saved` (store.layer_setting / save_layer_setting) when this
        exact setting was measured before: an interrupted lens resumes where it stopped."""
        if saved is None:
            return self.run(alpha, layers)
        key = f"{self.digest}:{alpha!r}:{layers}"
        hit = saved.layer_setting(key)
        if hit is not None:
            return np.asarray(hit[0], dtype=float), hit[1]
        lp, texts = self.run(alpha, layers)
        saved.save_layer_setting(key, lp.tolist(), texts)
        return lp, texts

    def run(self, alpha: float, layers: Optional[list[int]], generate: bool = True
            ) -> tuple[np.ndarray, list[str]]:
        with self.scaler.scaled(alpha, layers) as lm:
            return self._logprobs(lm), self._generate(lm) if generate else []

    def _logprobs(self, lm: LoadedModel) -> np.ndarray:
        from ...stages.scoring import mean_logprobs

        if not self.texts:
            return np.array([])
        # Texts without a prompt are scored on their own; with one, as its continuation.
        out = np.full(len(self.texts), np.nan)
        with_p = [i for i, p in enumerate(self.text_prompts) if p is not None]
        without = [i for i, p in enumerate(self.text_prompts) if p is None]
        for group, prompts in ((with_p, [self.text_prompts[i] for i in with_p]), (without, None)):
            if group:
                out[group] = mean_logprobs(lm, [self.texts[i] for i in group], prompts,
                                           self.batch_size, self.settings.use_chat_template)
        return out

    def _generate(self, lm: LoadedModel) -> list[str]:
        texts, size = [], self.settings.batch_size
        for b in range(0, len(self.formatted), size):
            # The same seed per batch in every setting: settings differ only by their weights.
            rows = generate_batch(lm, self.formatted[b:b + size], self.settings,
                                  self.settings.seed + b, self.chat)
            texts += [r[0] for r in rows]
        return texts


def scaling_curves(lm_a: LoadedModel, lm_b: LoadedModel, hypotheses: list[dict],
                   evidence: dict[str, tuple[list[str], Optional[list[str]]]],
                   prompts: list[str], alphas: Sequence[float] = DEFAULT_ALPHAS,
                   window: int = 1, n_generations: int = 32,
                   settings: Optional[GenerationSettings] = None,
                   judge: Optional[Callable] = None, batch_size: int = 16,
                   progress: Optional[ProgressCallback] = None,
                   scaler: Optional[DeltaScaling] = None, saved=None) -> list[dict]:
    """For each hypothesis, each window of layers (and "all") and each alpha: the mean
    evidence log-prob gap to A and the behaviour rate in fresh generations. `saved` (a Store)
    keeps each setting's outcome as it finishes, and answers settings measured before.

    hypotheses: dicts with hypothesis_id (plus text, direction, predicate: `validated_hypotheses`);
    evidence: hypothesis_id -> (texts, their prompts or None); prompts: what fresh generations
    answer (n_generations of them, cycled; sampled with the same seed in every setting)."""
    settings = settings or GenerationSettings(max_new_tokens=48)
    settings.check()
    alphas = _check_alphas(alphas)
    if any("hypothesis_id" not in h for h in hypotheses):
        raise ModelDiffError("each hypothesis needs a hypothesis_id (see validated_hypotheses)")
    scaler = scaler or DeltaScaling(lm_a, lm_b)
    positions = _windows(scaler.n_layers, window)
    runner = _SettingRunner(scaler, hypotheses, evidence, prompts, n_generations, settings,
                            batch_size)
    todo = [(pos, layers, alpha) for pos, layers in positions for alpha in alphas if alpha != 0]
    bar = StageProgress(progress, "layer scaling", len(todo) + 1, unit="settings")
    # alpha = 0 is A itself whatever the layers: one setting serves every window.
    base_lp, base_texts = runner.stored_run(saved, 0.0, None)
    bar.advance(1)
    results = {(pos, 0.0): (base_lp, base_texts) for pos, _ in positions}
    for pos, layers, alpha in todo:
        results[(pos, alpha)] = runner.stored_run(saved, alpha, layers)
        bar.advance(1)
    rows = []
    for h in hypotheses:
        span = runner.spans[h["hypothesis_id"]]
        for pos, _ in positions:
            for alpha in alphas:
                lp, texts = results[(pos, alpha)]
                gap = lp[span] - base_lp[span]
                rows.append({"hypothesis_id": h["hypothesis_id"], "layer": pos, "alpha": alpha,
                             "logprob_gap": float(np.nanmean(gap)) if np.isfinite(gap).any()
                             else None,
                             "predicate_rate": _behaviour_rate(h, texts, judge)})
    return rows


# ---------------------------------------------------------------------- restoration

def _row(curves: list[dict], hid: str, layer: Any, alpha: float) -> Optional[dict]:
    for r in curves:
        if r["hypothesis_id"] == hid and r["layer"] == layer and r["alpha"] == alpha:
            return r
    return None


def _fraction(part: Optional[float], whole: Optional[float], floor: float) -> Optional[float]:
    if part is None or whole is None or abs(whole) < floor:
        return None
    return float(part / whole)


def restoration(curves: list[dict], window: int = 1) -> list[dict]:
    """Per hypothesis and window of layers: the share of B's whole effect that scaling only
    that window to alpha = 1 restores. Log-prob: gap(window, 1) / gap(all, 1); behaviour
    rate: (rate(window, 1) - rate(all, 0)) / (rate(all, 1) - rate(all, 0)). None where B's
    whole effect is too small to divide by (or alpha = 1 was not among the settings)."""
    out = []
    for hid in dict.fromkeys(r["hypothesis_id"] for r in curves):
        full, base = _row(curves, hid, "all", 1.0), _row(curves, hid, "all", 0.0)
        if full is None:
            continue
        r0 = base["predicate_rate"] if base else None
        rate_change = None if full["predicate_rate"] is None or r0 is None \
            else full["predicate_rate"] - r0
        layers = sorted({r["layer"] for r in curves
                         if r["hypothesis_id"] == hid and r["layer"] != "all"})
        for layer in layers:
            one = _row(curves, hid, layer, 1.0)
            if one is None:
                continue
            rate_part = None if one["predicate_rate"] is None or r0 is None \
                else one["predicate_rate"] - r0
            out.append({"hypothesis_id": hid, "layer": layer,
                        "layers": list(range(layer, layer + window)),
                        "logprob_fraction": _fraction(one["logprob_gap"], full["logprob_gap"],
                                                      MIN_GAP),
                        "predicate_fraction": _fraction(rate_part, rate_change, MIN_RATE_CHANGE)})
    return out


def _layers_text(layers: list[int]) -> str:
    if len(layers) == 1:
        return f"layer {layers[0]}"
    if layers == list(range(layers[0], layers[-1] + 1)):
        return f"layers {layers[0]}\u2013{layers[-1]}"
    return "layers " + ", ".join(str(i) for i in layers[:-1]) + f" and {layers[-1]}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def conclusion(hypothesis_id: str, curves: list[dict], rows: list[dict], window: int = 1,
               together: Optional[dict] = None) -> str:
    """One plain paragraph on where a hypothesis' effect sits, from its restoration rows."""
    full, base = _row(curves, hypothesis_id, "all", 1.0), _row(curves, hypothesis_id, "all", 0.0)
    mine = [r for r in rows if r["hypothesis_id"] == hypothesis_id and isinstance(r["layer"], int)]
    if full is None:
        return f"{hypothesis_id}: no setting at alpha = 1, so nothing can be attributed to layers."
    span = lambda first: _layers_text(list(range(first, first + window)))  # noqa: E731
    parts = []
    lp = [r for r in mine if r["logprob_fraction"] is not None]
    if not lp:
        gap = full["logprob_gap"]
        shown = "no evidence texts" if gap is None else f"a log-prob gap of {gap:+.4f}"
        parts.append(f"B's whole change gives {hypothesis_id} {shown} on its evidence: too "
                     "small to attribute to layers")
    else:
        best = max(lp, key=lambda r: r["logprob_fraction"])
        f = best["logprob_fraction"]
        if f >= 0.5:
            most = "Practically all" if f >= 0.95 else "Most"
            parts.append(f"{most} of {hypothesis_id}'s effect ({_pct(f)} of the log-prob gap) "
                         f"comes from {span(best['layer'])} alone")
        elif f >= 0.25:
            parts.append(f"{span(best['layer']).capitalize()} carries the largest share of "
                         f"{hypothesis_id}'s effect ({_pct(f)} of the log-prob gap), but no "
                         "single window restores most of it")
        else:
            parts.append(f"{hypothesis_id}'s effect is distributed: no single "
                         f"{'layer' if window == 1 else 'window'} restores more than "
                         f"{_pct(max(f, 0.0))} of the log-prob gap")
        if together and together.get("logprob_fraction") is not None:
            parts.append(f"{_layers_text(together['layers'])} together restore "
                         f"{_pct(together['logprob_fraction'])}")
        total = sum(r["logprob_fraction"] for r in lp)
        if window == 1 and len(lp) > 1 and abs(total - 1) > 0.25:
            how = "overlap rather than add up" if total > 1 else "need each other"
            parts.append(f"the single layers' shares sum to {_pct(total)}: their effects {how}")
    pr = [r for r in mine if r["predicate_fraction"] is not None]
    r0 = base["predicate_rate"] if base else None
    r1 = full["predicate_rate"]
    if pr:
        best = max(pr, key=lambda r: r["predicate_fraction"])
        f, rates = best["predicate_fraction"], f"from {_pct(r0)} under A to {_pct(r1)} under B"
        if f >= 0.5:
            parts.append(f"the behaviour rate ({rates}) is {_pct(f)} restored by "
                         f"{span(best['layer'])} alone")
        else:
            # The log-prob gap can sit in one layer while the behaviour needs several.
            parts.append(f"no single {'layer' if window == 1 else 'window'} restores much of the "
                         f"behaviour rate ({rates}): at most {_pct(max(f, 0.0))}, by "
                         f"{span(best['layer'])}, so in generations the effect is spread out")
    elif r0 is not None and r1 is not None:
        parts.append(f"the behaviour rate barely moves with B's whole change ({_pct(r0)} to "
                     f"{_pct(r1)}), so it says nothing about layers")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def top_layers_together(scaler: DeltaScaling, curves: list[dict], rows: list[dict],
                        hypotheses: list[dict], evidence: dict, prompts: list[str],
                        n_generations: int, settings: GenerationSettings,
                        judge: Optional[Callable], window: int = 1, k: int = 2,
                        batch_size: int = 16) -> dict[str, dict]:
    """For each hypothesis, the restoration of its k best single windows scaled together
    (alpha = 1): whether the layers that matter most alone also account for the whole."""
    if window != 1 or scaler.n_layers <= k:
        return {}
    out: dict[str, dict] = {}
    runner = _SettingRunner(scaler, hypotheses, evidence, prompts, n_generations, settings,
                            batch_size)
    cache: dict[tuple, tuple] = {}
    base_lp = None
    for h in hypotheses:
        hid = h["hypothesis_id"]
        mine = [r for r in rows if r["hypothesis_id"] == hid and r["logprob_fraction"] is not None]
        if len(mine) < k:
            continue
        layers = sorted(r["layer"] for r in sorted(mine, key=lambda r: -r["logprob_fraction"])[:k])
        if tuple(layers) not in cache:
            cache[tuple(layers)] = runner.run(1.0, layers)
        if base_lp is None:  # A's behaviour rate is in the curves already: log-probs only
            base_lp, _ = runner.run(0.0, None, generate=False)
        lp, texts = cache[tuple(layers)]
        span = runner.spans[hid]
        gap = float(np.nanmean(lp[span] - base_lp[span]))
        full, base = _row(curves, hid, "all", 1.0), _row(curves, hid, "all", 0.0)
        rate = _behaviour_rate(h, texts, judge)
        rate_part = None if rate is None or base["predicate_rate"] is None \
            else rate - base["predicate_rate"]
        rate_change = None if full["predicate_rate"] is None or base["predicate_rate"] is None \
            else full["predicate_rate"] - base["predicate_rate"]
        out[hid] = {"hypothesis_id": hid, "layer": "together", "layers": layers,
                    "logprob_fraction": _fraction(gap, full["logprob_gap"], MIN_GAP),
                    "predicate_fraction": _fraction(rate_part, rate_change, MIN_RATE_CHANGE)}
    return out


# ------------------------------------------------------------------- from a stored run

def validated_hypotheses(store, run_id: str, key: str = "offline") -> list[dict]:
    """The run's hypotheses whose discriminative test passed (after Benjamini-Hochberg), as
    dicts: hypothesis_id, text, direction, source, predicate, evidence."""
    val = store.validations(run_id, key)
    if val.empty:
        return []
    passed = {r.hypothesis_id for r in val.itertuples()
              if r.test == "discriminative" and r.validated is not None
              and r.validated == r.validated and bool(r.validated)}
    hyps = store.hypotheses(run_id, key)
    return [{"hypothesis_id": r.hypothesis_id, "text": r.text, "direction": r.direction,
             "source": r.source, "predicate": r.predicate, "evidence": r.evidence}
            for r in hyps.itertuples() if r.hypothesis_id in passed]


def evidence_texts(store, run_id: str, key: str, hypothesis_id: str, n: int = 32
                   ) -> tuple[list[str], list[str]]:
    """(texts, prompts): validation texts of the side the hypothesis favours that the stored
    discriminative test scored most typical of it; failing that, those its predicate fires on.
    Empty when neither is available."""
    from ...assistants.offline import predicate_fires

    hyps = store.hypotheses(run_id, key)
    match = hyps[hyps["hypothesis_id"] == hypothesis_id]
    if match.empty:
        raise ModelDiffError(f"run {run_id} has no hypothesis {hypothesis_id} ({key})")
    h = match.iloc[0]
    side = h["direction"] if h["direction"] in ("A", "B") else "B"
    gens = store.generations(run_id, split="validation")
    gens = gens[gens["side"] == side]
    val = store.validations(run_id, key)
    disc = val[(val["hypothesis_id"] == hypothesis_id) & (val["test"] == "discriminative")]
    scored = judged_texts(gens, disc.iloc[0]["result"] if not disc.empty else None)
    if scored is not None and not scored.empty:
        # Scores say "written by B": the most A-like texts are the lowest.
        scored = scored.assign(order=scored["score"] * (-1.0 if side == "B" else 1.0))
        top = scored.sort_values(["order", *TEXT_KEY]).head(n)
        return top["text"].tolist(), top["prompt"].tolist()
    pred = h["predicate"]
    if pred:
        fires_means_side = pred.get("favours", "B") == side
        hits = gens[[predicate_fires(pred, t) == fires_means_side for t in gens["text"]]]
        return hits["text"].tolist()[:n], hits["prompt"].tolist()[:n]
    return [], []


# ------------------------------------------------------------------------ the lens

def layer_lens(lm_a: LoadedModel, lm_b: LoadedModel, texts: list[str],
               prompts: Optional[list[str]] = None, hypotheses: Sequence[dict] = (),
               evidence: Optional[dict] = None, alphas: Sequence[float] = DEFAULT_ALPHAS,
               window: int = 1, *, text_prompts: Optional[list[str]] = None,
               n_generations: int = 32, settings: Optional[GenerationSettings] = None,
               judge: Optional[Callable] = None, batch_size: int = 16,
               progress: Optional[ProgressCallback] = None, saved=None) -> dict:
    """All three views for one pair, as plain data (the CLI's JSON):
    {weight_delta: [{layer, module, rel_norm}], activation_diff: [{layer, cosine, rel_l2}],
     scaling: [{hypothesis_id, layer, alpha, logprob_gap, predicate_rate}],
     restoration: [{hypothesis_id, layer, layers, logprob_fraction, predicate_fraction}],
     conclusions: {hypothesis_id: text}, notes: [...], n_layers}.

    texts (with text_prompts, optional) feed the activation view; prompts are what fresh
    generations answer in the scaling view; evidence maps hypothesis_id -> (texts, prompts)."""
    settings = settings or GenerationSettings(max_new_tokens=48)
    hypotheses = list(hypotheses)
    evidence = evidence or {}
    wd = weight_deltas(lm_a, lm_b, progress)
    notes = list(wd.notes)
    act_rows: list[dict] = []
    if texts:
        ad = activation_diffs(lm_a, lm_b, texts, text_prompts, batch_size,
                              settings.use_chat_template, progress)
        act_rows, notes = ad.rows, notes + ad.notes
    else:
        notes.append("no texts given: the activation view needs some")
    out = {"weight_delta": wd.rows, "activation_diff": act_rows, "scaling": [],
           "restoration": [], "conclusions": {}, "notes": notes, "n_layers": wd.n_layers}
    if not hypotheses:
        notes.append("no validated hypotheses in this run: the delta-scaling view needs at "
                     "least one")
        return out
    if 1.0 not in _check_alphas(alphas):
        notes.append("alpha = 1 is not among the alphas: restoration fractions need it")
    missing = [h["hypothesis_id"] for h in hypotheses if not evidence.get(h["hypothesis_id"],
                                                                          ([], None))[0]]
    if missing:
        notes.append(f"no evidence texts for {', '.join(missing)}: their log-prob gaps are empty")
    if n_generations > 0 and not prompts:
        notes.append("no prompts for fresh generations: behaviour rates are empty")
    scaler = DeltaScaling(lm_a, lm_b)
    notes += scaler.notes
    curves = scaling_curves(lm_a, lm_b, hypotheses, evidence, prompts or [], alphas, window,
                            n_generations if prompts else 0, settings, judge, batch_size,
                            progress, scaler, saved)
    rows = restoration(curves, window)
    together = top_layers_together(scaler, curves, rows, hypotheses, evidence, prompts or [],
                                   n_generations if prompts else 0, settings, judge, window,
                                   batch_size=batch_size)
    out.update(scaling=curves, restoration=rows + list(together.values()),
               conclusions={h["hypothesis_id"]: conclusion(h["hypothesis_id"], curves, rows,
                                                           window, together.get(h["hypothesis_id"]))
                            for h in hypotheses})
    return out


def layer_lens_for_run(store, run_id: str, cache, key: str = "offline",
                       alphas: Sequence[float] = DEFAULT_ALPHAS, window: int = 1,
                       n_texts: int = 200, n_evidence: int = 32, n_generations: int = 32,
                       max_new_tokens: Optional[int] = None, judge: Optional[Callable] = None,
                       progress: Optional[ProgressCallback] = None) -> dict:
    """The layer lens for a stored run: its two models (from the cache), a capped sample of its
    validation texts, its validated hypotheses with their evidence, and its validation prompts
    for fresh generations (sampled with the run's generation settings)."""
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id}")
    spec_a, spec_b = ModelSpec.from_dict(run["spec_a"]), ModelSpec.from_dict(run["spec_b"])
    gen = (run["settings"] or {}).get("generation", {})
    settings = GenerationSettings(**{k: v for k, v in gen.items()
                                     if k in GenerationSettings.__dataclass_fields__})
    if max_new_tokens is not None:
        settings = dataclasses.replace(settings, max_new_tokens=max_new_tokens)
    val = store.generations(run_id, split="validation")
    if val.empty:
        raise ModelDiffError(f"run {run_id} has no validation texts yet: generate first")
    sample = heldout_texts(val, paired_heldout(val, n_texts, settings.seed), settings.seed)
    hyps = validated_hypotheses(store, run_id, key)
    evidence = {h["hypothesis_id"]: evidence_texts(store, run_id, key, h["hypothesis_id"],
                                                   n_evidence) for h in hyps}
    prompts = store.prompts(run_id)
    gen_prompts = prompts[prompts["split"] == "validation"]["prompt"].tolist()
    lm_a, lm_b = cache.get(spec_a), cache.get(spec_b)
    out = layer_lens(lm_a, lm_b, sample["text"].tolist(), gen_prompts, hyps, evidence, alphas,
                     window, text_prompts=sample["prompt"].tolist(), n_generations=n_generations,
                     settings=settings, judge=judge, progress=progress, saved=store)
    out.update(run_id=run_id, assistant=key)
    return out
