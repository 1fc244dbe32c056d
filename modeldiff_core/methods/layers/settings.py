"""The layer lens's parameters (`Params`, with how it measures: `LensSettings`; the only place
their defaults live; what it measures on is common.inputs.LensInputs). A scale is the factor on B's
change in W_A + scale (W_B - W_A): 0 is A, 1 is B."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence

from ...models.spec import ModelSpec
from ...params import Declared, nested, option
from ..common.scales import check_scales, parse_scales
from ...models.generation import GenerationSettings

DEFAULT_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)
# The CLI's JSON and the stored lens name a scaling row's scale "alpha", as earlier versions
# wrote it: lenses stored before still render, and readers of the JSON keep working.
SCALE_KEY = "alpha"


def _default_generation() -> GenerationSettings:
    return GenerationSettings(max_new_tokens=48)


@dataclass
class LensSettings(Declared):
    """How the lens measures. For a stored run, `generation` is replaced by the run's own."""
    scales: Sequence[float] = option(DEFAULT_SCALES, flags=("--scales", "--alphas"),
                                     parse=parse_scales, show="0,0.25,0.5,0.75,1",
                                     help="factors on B's change, W_A + scale (W_B - W_A); "
                                          "--alphas is the earlier spelling")
    window: int = option(1, bounds=(1, 10_000), help="consecutive layers scaled together")
    n_texts: int = option(200, flags=("--texts",), bounds=(1, 10_000_000),
                          help="a run's held-out texts for the activation view")
    n_evidence: int = 32  # evidence texts per hypothesis (a run's)
    n_generations: int = option(32, flags=("--generations",), bounds=(0, 100_000),
                                help="fresh generations per setting for behaviour rates")
    batch_size: int = 16  # texts per forward pass when scoring
    generation: GenerationSettings = field(default_factory=_default_generation)
    max_new_tokens: Optional[int] = None  # when given, replaces generation's

    def __post_init__(self):
        self.scales = tuple(float(s) for s in self.scales)

    def runner_settings(self):
        """How common.runner.SettingRunner measures each setting, for this lens."""
        from ..common.runner import RunnerSettings

        return RunnerSettings(self.generation_settings(), self.n_generations, self.batch_size)

    def generation_settings(self) -> GenerationSettings:
        """How fresh generations are sampled, with max_new_tokens applied."""
        if self.max_new_tokens is None:
            return self.generation
        return dataclasses.replace(self.generation, max_new_tokens=self.max_new_tokens)

    def check(self) -> list[float]:
        """Refuses settings the scaling view cannot run; returns the scales, sorted."""
        self.generation_settings().check()
        return check_scales(self.scales)




@dataclass
class Params(Declared):
    """The lens for a stored run (its texts, hypotheses and prompts), or for a bare pair."""
    # Jobs stored by earlier versions name the set "assistant" and hold the settings flat.
    RENAMED: ClassVar[dict] = {"assistant": "hypothesis_set"}
    run_id: Optional[str] = None
    spec_a: Optional[ModelSpec] = None  # without a run: the pair itself (weights, activations)
    spec_b: Optional[ModelSpec] = None
    hypothesis_set: str = "offline"  # which of the run's hypothesis sets (its assistant judges)
    settings: LensSettings = nested(LensSettings)
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None

    @classmethod
    def from_dict(cls, d: dict) -> "Params":
        d = dict(d)
        if "settings" not in d:
            scales = d.get("scales") if d.get("scales") is not None else d.get("alphas")
            flat = {"scales": scales, **{
                k: d.get(k) for k in ("window", "n_generations", "n_texts")}}
            d["settings"] = {k: v for k, v in flat.items() if v is not None}
        return super().from_dict(d)
