"""Layer index and module type of a parameter, read from its canonical name alone:
`model.layers.3.mlp.up_proj.weight` is layer 3, mlp. Parameters outside the transformer blocks
(embeddings, output head, final norm) get layer -1."""
from __future__ import annotations

import re
from typing import Iterable, Optional

_NORM = r"norm|(^|\.)ln(_\w+)?(\.|$)"
_MLP = (r"mlp|ffn|feed_forward|expert|(^|\.)(c_)?fc\d*(\.|$)|gate_proj|up_proj|down_proj"
        r"|(^|\.)w[123](\.|$)")


def block_container(names: Iterable[str]) -> Optional[str]:
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


def layer_and_module(name: str, container: Optional[str]) -> tuple[int, str]:
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
    if re.search(_NORM, r):
        return "norm"
    if "attn" in r or "attention" in r:
        return "attention"
    if re.search(_MLP, r):
        return "mlp"
    return "other"


def _outer_type(name: str) -> str:
    n = name.lower()
    if re.search(r"lm_head|embed_out|(^|\.)output\.", n):
        return "head"
    if re.search(r"embed|wte|wpe|tok_|pos_", n):
        return "embedding"
    if re.search(_NORM, n):
        return "norm"
    return "other"
