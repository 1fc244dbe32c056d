"""The quantization study's parameters: the only place their defaults live."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ...models.spec import ModelSpec
from ...params import Declared, option


def _levels(text: str) -> list[str]:
    from .study import parse_levels

    return parse_levels(text)


@dataclass
class Params(Declared):
    spec: ModelSpec  # the model (the CLI's --model, --revision, --trust-remote-code)
    levels: list = option(factory=lambda: ["bf16", "8bit", "4bit"], parse=_levels,
                          show="bf16,8bit,4bit",
                          help="comma-separated, from fp32,bf16,fp16,8bit,4bit,int8-dynamic")
    reference: str = option("fp32", help="the level the others are compared to")
    prompts_file: Optional[str] = option(None, flags=("--prompts",), help="texts to score "
                                         "(JSONL prompt field or CSV prompt column)")
    texts: Optional[list] = None  # or the texts themselves (an upload), named `eval_set`
    eval_set: Optional[str] = None
    batch_size: int = option(16, bounds=(1, 100_000), help="texts per forward pass")
