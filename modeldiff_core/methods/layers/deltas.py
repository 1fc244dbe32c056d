"""Weight deltas: ||W_B - W_A|| / ||W_A|| per layer and module type (attention, mlp, norm),
a LoRA B measured from its low-rank factors without merging them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from ...models.loading import LoadedModel
from ...progress import ProgressCallback, StageProgress
from ...models.names import block_container, layer_and_module
from ...models.tensors import (NamedTensor, base_value, check_same_architecture, lora_factors, tensors_equal)


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


def _delta_sq_norms(a: NamedTensor, b: NamedTensor) -> tuple[float, float, bool]:
    """(||W_B - W_A||^2, ||W_A||^2, whether the low-rank shortcut was used) for one tensor."""
    wa0 = base_value(a)
    wb0 = base_value(b).to(wa0.device)
    fa, fb = lora_factors(a), lora_factors(b)
    wa = wa0
    for u, v in fa:
        wa = wa + u @ v
    ref = float(wa.double().pow(2).sum())
    if tensors_equal(wa0, wb0):
        # Same base weights: the difference is the adapters' low-rank change alone.
        factors = [(u, v, 1.0) for u, v in fb] + [(u.to(wb0.device), v, -1.0) for u, v in fa]
        return _lowrank_sq_norm(factors), ref, bool(factors)
    wb = wb0
    for u, v in fb:
        wb = wb + (u @ v).to(wb.device)
    return float((wb - wa).double().pow(2).sum()), ref, False


def _describe_quant(lm: LoadedModel, side: str, tensors: list[NamedTensor]) -> list[str]:
    kinds = sorted({t.kind for t in tensors} - {"dense"})
    if not kinds:
        return []
    how = {"int8": "int8 x row scale / 127", "4bit": "bitsandbytes dequantize_4bit"}
    return [f"model {side} ({lm.spec.label}) is quantized: its weights were dequantized for the "
            f"comparison ({', '.join(how[k] for k in kinds)})"]


def weight_deltas(lm_a: LoadedModel, lm_b: LoadedModel,
                  progress: Optional[ProgressCallback] = None) -> WeightDeltas:
    """||W_B - W_A||_F / ||W_A||_F per (layer, module type), over all of the group's parameters
    (weights and biases) taken together. A LoRA B is measured from its factors."""
    pairs = check_same_architecture(lm_a, lm_b)
    container = block_container(a.name for a, _ in pairs)
    sums: dict[tuple[int, str], list[float]] = {}
    bar = StageProgress(progress, "weight deltas", len(pairs), unit="tensors")
    used_lowrank = False
    for a, b in pairs:
        diff_sq, ref_sq, lowrank = _delta_sq_norms(a, b)
        used_lowrank |= lowrank
        acc = sums.setdefault(layer_and_module(a.name, container), [0.0, 0.0])
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
