"""The truth bench's parameters: the only place their defaults live."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...params import Declared
from ...models.generation import GenerationSettings


@dataclass
class Params(Declared):
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    subtle: bool = False  # the modest truths too
    max_judge_prompts: int = 120  # held-out prompts an LLM judge scores per hypothesis
