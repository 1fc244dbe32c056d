"""The truth bench's parameters: the only place their defaults live."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...params import Declared, default_of
from ...stages.settings import HypothesisSettings
from ...models.generation import GenerationSettings


@dataclass
class Params(Declared):
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    subtle: bool = False  # the modest truths too
    # held-out prompts an LLM judge scores per hypothesis (the run's default)
    max_judge_prompts: int = default_of(HypothesisSettings, "max_judge_prompts")
