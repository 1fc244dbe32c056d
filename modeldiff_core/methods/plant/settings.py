"""Planting's parameters: the finetune (`PlantConfig`, whose recipe and training settings hold
their own defaults), and whether to evaluate it."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...params import Declared
from ...models.generation import GenerationSettings
from ..ground_truth.plant import PlantConfig


@dataclass
class Params(Declared):
    plant: PlantConfig
    evaluate: bool = False  # then the pipeline on base vs finetune, scored against the truths
    generation: GenerationSettings = field(default_factory=GenerationSettings)

    @classmethod
    def from_dict(cls, d: dict) -> "Params":
        # Jobs stored before `evaluate` existed evaluated by default.
        return super().from_dict({"evaluate": True, **d})
